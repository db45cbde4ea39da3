//! What it shows: the chat service of `example-chat` mounted inside an axum app, next to plain
//! HTTP routes: `GET /` serves a page with a chat client in plain JavaScript, `GET /healthz`
//! answers `ok`, and `hub.router()` adds `GET /chat` (the WebSocket upgrade) to the app. The
//! hub's registry, groups and graceful shutdown work as in the standalone server.
//!
//! Run with: cargo run -p example-axum-chat
//!
//! Then open http://127.0.0.1:3000/ in two browser tabs, or connect from a terminal with
//! `cargo run -p wskit-cli -- connect ws://127.0.0.1:3000/chat`. `--listen ADDR` (or
//! `CHAT_LISTEN=ADDR`) picks another address; `RUST_LOG` the log level.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use clap::Parser;
use wskit_hub::Hub;

/// The chat of `example-chat` inside an axum app, with a browser client on `/`.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on (examples stay on the loopback interface by default).
    #[arg(long, default_value = "127.0.0.1:3000", env = "CHAT_LISTEN")]
    listen: SocketAddr,
}

/// The browser client: connects to `/chat` on the page's own host.
const PAGE: &str = include_str!("index.html");

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "example_axum_chat=info,example_chat_service=info".into()),
        )
        .init();
    let args = Args::parse();

    let hub = Hub::new();
    example_chat_service::register(&hub).unwrap();
    // `hub.router()` has a route for each path registered so far: register first.
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/healthz", get(|| async { "ok" }))
        .merge(hub.router());

    let listener = tokio::net::TcpListener::bind(args.listen).await.unwrap();
    let addr = listener.local_addr().unwrap();
    println!("chat page on http://{addr}/ (WebSocket at ws://{addr}/chat); Ctrl-C stops it");

    // On Ctrl-C, axum stops accepting and finishes its HTTP requests; the WebSocket
    // connections were handed over to the hub at the upgrade, so the hub closes those.
    let stop = hub.clone();
    axum::serve(
        listener,
        // `ConnectInfo` gives the hub each client's address (`conn.request().peer_addr()`).
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        tokio::signal::ctrl_c().await.unwrap();
        println!(
            "shutting down: closing {} connection(s)",
            stop.connection_count()
        );
    })
    .await
    .unwrap();
    let report = hub.shutdown(Duration::from_secs(5)).await;
    println!(
        "shutdown: {} closed cleanly, {} dropped after the deadline",
        report.clean, report.forced
    );
}
