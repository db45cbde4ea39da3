//! Helpers shared by the integration tests: loopback listeners, an echo server task, a raw
//! byte-level client and frame codecs (mini-redis `tests/server.rs` style).
//!
//! Each test file compiles this module on its own and uses part of it.
#![allow(dead_code, unreachable_pub)]

pub mod http1;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use wskit::proto::handshake::accept_key;
use wskit::{Error, Message, Server};

pub use wskit_support::*;

/// What an echo server saw on its one connection.
#[derive(Debug)]
pub struct EchoReport {
    /// Whether permessage-deflate was negotiated, as the server sees it.
    pub compressed: bool,
    /// The subprotocol, as the server sees it.
    pub protocol: Option<String>,
    /// Every message received, control messages included.
    pub received: Vec<Message>,
    /// The error that ended the connection, if any.
    pub error: Option<Error>,
}

/// Accepts one connection with `server` and echoes text and binary messages until the
/// connection ends.
pub fn spawn_echo(listener: TcpListener, server: Server) -> JoinHandle<EchoReport> {
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let (mut ws, _) = server.accept(stream).await.expect("server handshake");
        let mut report = EchoReport {
            compressed: ws.is_compressed(),
            protocol: ws.protocol().map(str::to_owned),
            received: Vec::new(),
            error: None,
        };
        while let Some(msg) = ws.recv().await {
            match msg {
                Ok(msg) => {
                    report.received.push(msg.clone());
                    if msg.is_text() || msg.is_binary() {
                        ws.send(msg).await.expect("echo");
                    }
                }
                Err(err) => {
                    report.error = Some(err);
                    break;
                }
            }
        }
        report
    })
}

/// A hand-written server side: accepts one connection, reads the upgrade request and answers
/// `101` with a valid `Sec-WebSocket-Accept`, the `extra_headers` lines (each ending in `\r\n`)
/// and then `early` bytes in the same write.
pub async fn accept_raw(listener: &TcpListener, extra_headers: &str, early: &[u8]) -> Raw {
    let (stream, _) = listener.accept().await.expect("accept");
    let mut raw = Raw::new(stream);
    let head = raw.read_head().await.expect("a request");
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a key");
    let mut bytes = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra_headers}\r\n",
        accept_key(key.trim().as_bytes())
    )
    .into_bytes();
    bytes.extend_from_slice(early);
    raw.write(&bytes).await;
    raw
}
