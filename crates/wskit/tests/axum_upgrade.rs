//! WebSocket endpoints in an axum app (`wskit::axum::WebSocketUpgrade`, feature `axum`),
//! served by `axum::serve` over loopback TCP: echo through `wskit::connect`, negotiation,
//! the request info the handler sees, rejections, and plain HTTP served on as before.

mod support;

use std::net::SocketAddr;

use axum::Router;
use axum::response::Response;
use axum::routing::get;
use http::StatusCode;
use support::http1::{Http1, UPGRADE_NO_KEY};
use support::{KEY, listen, within};
use tokio::net::TcpStream;
use wskit::axum::WebSocketUpgrade;
use wskit::{Client, CloseCode, Message, Server};

/// `/ws`: echo, speaking `chat.v2`; `/info`: sends what the handler saw, then closes;
/// `/plain`: echo with permessage-deflate off; `/health`: plain text.
fn app() -> Router {
    Router::new()
        .route("/ws", get(echo))
        .route("/info", get(info))
        .route("/plain", get(plain))
        .route("/health", get(|| async { "ok" }))
}

async fn serve() -> SocketAddr {
    let (listener, addr) = listen().await;
    let service = app().into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    addr
}

async fn echo(ws: WebSocketUpgrade) -> Response {
    ws.protocols(["chat.v2"])
        .header("X-Served-By", "wskit-axum")
        .on_upgrade(echo_loop)
}

async fn plain(ws: WebSocketUpgrade) -> Response {
    ws.server(Server::default().config(wskit::Config::default().deflate(None)))
        .on_upgrade(echo_loop)
}

async fn echo_loop(mut ws: wskit::upgrade::UpgradedWebSocket) {
    // The first message says what the server side negotiated.
    let state = format!(
        "compressed={} protocol={:?}",
        ws.is_compressed(),
        ws.protocol()
    );
    if ws.send(Message::text(state)).await.is_err() {
        return;
    }
    while let Some(Ok(msg)) = ws.recv().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            break;
        }
    }
}

async fn info(ws: WebSocketUpgrade) -> Response {
    let seen = format!(
        "path={} query={:?} agent={:?} offered={:?} peer={:?}",
        ws.path(),
        ws.query(),
        ws.headers().get("user-agent").and_then(|v| v.to_str().ok()),
        ws.offered_protocols().collect::<Vec<_>>(),
        ws.peer_addr(),
    );
    ws.on_upgrade(move |mut ws| async move {
        let _ = ws.send(Message::text(seen)).await;
        let _ = ws.close(CloseCode::NORMAL, "").await;
    })
}

async fn recv_text<S>(ws: &mut wskit::WebSocket<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    within(ws.recv_text())
        .await
        .expect("a text message")
        .to_string()
}

#[tokio::test]
async fn echoes_text_and_binary_with_deflate_and_subprotocol() {
    let addr = serve().await;
    let (mut ws, negotiated) = within(
        Client::new(format!("ws://{addr}/ws"))
            .protocols(["chat.v1", "chat.v2"])
            .connect(),
    )
    .await
    .expect("connect");
    assert_eq!(negotiated.protocol.as_deref(), Some("chat.v2"));
    assert!(negotiated.deflate.is_some(), "permessage-deflate agreed");
    assert!(ws.is_compressed());
    assert_eq!(negotiated.headers.get("x-served-by"), Some("wskit-axum"));
    assert_eq!(
        recv_text(&mut ws).await,
        r#"compressed=true protocol=Some("chat.v2")"#
    );

    let text = "hello through axum ".repeat(50);
    let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    for msg in [Message::text(text), Message::binary(binary)] {
        within(ws.send(msg.clone())).await.expect("send");
        let echoed = within(ws.recv())
            .await
            .expect("an echo")
            .expect("a message");
        assert_eq!(echoed, msg);
    }
    within(ws.close(CloseCode::NORMAL, "done"))
        .await
        .expect("close");
}

#[tokio::test]
async fn handler_settings_decline_deflate() {
    let addr = serve().await;
    let (mut ws, negotiated) = within(wskit::connect(&format!("ws://{addr}/plain")))
        .await
        .expect("connect");
    assert!(negotiated.deflate.is_none());
    assert_eq!(recv_text(&mut ws).await, "compressed=false protocol=None");
    within(ws.send(Message::text("still echoed")))
        .await
        .expect("send");
    assert_eq!(recv_text(&mut ws).await, "still echoed");
}

#[tokio::test]
async fn handler_sees_path_query_headers_and_peer() {
    let addr = serve().await;
    let stream = within(TcpStream::connect(addr)).await.expect("connect");
    let local = stream.local_addr().expect("local_addr");
    let (mut ws, _) = within(
        Client::new(format!("ws://{addr}/info?room=7"))
            .protocols(["a", "b"])
            .header("User-Agent", "axum-test")
            .connect_on(stream),
    )
    .await
    .expect("handshake");
    assert_eq!(
        recv_text(&mut ws).await,
        format!(
            r#"path=/info query=Some("room=7") agent=Some("axum-test") offered=["a", "b"] peer=Some({local})"#
        )
    );
}

#[tokio::test]
async fn plain_get_is_rejected_and_http_goes_on() {
    let addr = serve().await;
    let mut http = Http1::connect(addr).await;

    let plain = http.get("/ws", &[]).await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST);
    assert!(plain.body.contains("Upgrade"), "{}", plain.body);

    let health = http.get("/health", &[]).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body, "ok");

    let mut no_key = Http1::connect(addr).await;
    let reply = no_key.get("/ws", &UPGRADE_NO_KEY).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains("Sec-WebSocket-Key"), "{}", reply.body);

    let mut wrong_version = Http1::connect(addr).await;
    let reply = wrong_version
        .get(
            "/ws",
            &[
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-key", KEY),
                ("sec-websocket-version", "8"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(reply.headers["sec-websocket-version"], "13");

    let mut after = Http1::connect(addr).await;
    assert_eq!(after.get("/health", &[]).await.body, "ok");
}
