//! Helpers of the hub's integration tests: a hub served on a loopback port, clients.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use tokio::net::TcpStream;
use wskit::{MaybeTlsStream, Message, WebSocket};
use wskit_hub::Hub;
pub use wskit_support::*;

/// Serves `hub` on a loopback port chosen by the system.
pub async fn serve(hub: &Hub) -> SocketAddr {
    let (listener, addr) = listen().await;
    let hub = hub.clone();
    tokio::spawn(async move { hub.serve(listener).await });
    addr
}

/// A wskit client connected to `path`.
pub async fn client(addr: SocketAddr, path: &str) -> WebSocket<MaybeTlsStream<TcpStream>> {
    let (ws, _) = within(wskit::connect(&format!("ws://{addr}{path}")))
        .await
        .expect("client handshake");
    ws
}

/// The next text message (skipping pings and pongs), within the test limit.
pub async fn text(ws: &mut WebSocket<MaybeTlsStream<TcpStream>>) -> String {
    within(ws.recv_text())
        .await
        .expect("a text message")
        .as_str()
        .to_owned()
}

/// Receives until the connection ends; returns the close code the server sent, if any.
pub async fn close_code(ws: &mut WebSocket<MaybeTlsStream<TcpStream>>) -> Option<u16> {
    loop {
        match within(ws.recv()).await {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}
