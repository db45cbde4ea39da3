//! What it shows: a WebSocket echo endpoint mounted in an axum app next to plain HTTP routes,
//! with `wskit::axum::WebSocketUpgrade` (subprotocol choice, the peer address, the query).
//!
//! Run with: cargo run -p wskit --example axum_echo --features axum
//!
//! Then `cargo run -p wskit-cli -- connect ws://127.0.0.1:3000/ws?name=me` (or any WebSocket
//! client) and type; `curl http://127.0.0.1:3000/` answers over plain HTTP.

use std::net::SocketAddr;

use axum::Router;
use axum::response::Response;
use axum::routing::get;
use wskit::Message;
use wskit::axum::WebSocketUpgrade;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "axum_echo=info,wskit=debug".into()),
        )
        .init();

    let app = Router::new()
        .route("/", get(|| async { "WebSocket echo at /ws\n" }))
        .route("/ws", get(echo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    tracing::info!("listening on ws://{}/ws", listener.local_addr()?);
    // `ConnectInfo` gives the handler the peer address (`ws.peer_addr()`).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// Echoes text and binary messages; greets first with the client's name from the query.
async fn echo(ws: WebSocketUpgrade) -> Response {
    let name = ws
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("name=")))
        .unwrap_or("stranger")
        .to_owned();
    let peer = ws.peer_addr();
    ws.protocols(["echo.v1"]).on_upgrade(move |mut ws| async move {
        tracing::info!(?peer, protocol = ?ws.protocol(), compressed = ws.is_compressed(), "connected");
        if ws.send(Message::text(format!("hello, {name}"))).await.is_err() {
            return;
        }
        while let Some(msg) = ws.recv().await {
            match msg {
                Ok(msg) if msg.is_text() || msg.is_binary() => {
                    if let Err(err) = ws.send(msg).await {
                        tracing::info!(%err, "send failed");
                        break;
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::info!(%err, "connection ended");
                    break;
                }
            }
        }
        tracing::info!(?peer, "disconnected");
    })
}
