//! What it shows: a chat server on `wskit-hub`: the service of `example-chat-service` on
//! `/chat`, where rooms are hub groups and names are stored connections, served standalone,
//! with a graceful shutdown on Ctrl-C.
//!
//! Run with: cargo run -p example-chat
//!
//! Then connect with `cargo run -p wskit-cli -- connect ws://127.0.0.1:9001/chat` and type
//! `/nick alice`, `/join rust`, `hello` (or see the start-up line for a browser console).
//! `--listen ADDR` (or `CHAT_LISTEN=ADDR`) picks another address; `RUST_LOG` the log level.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use wskit_hub::Hub;

/// A chat server: /nick, /join, /leave, /msg, /rooms over WebSocket.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on (examples stay on the loopback interface by default).
    #[arg(long, default_value = "127.0.0.1:9001", env = "CHAT_LISTEN")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "example_chat=info,example_chat_service=info".into()),
        )
        .init();
    let args = Args::parse();

    let hub = Hub::new();
    example_chat_service::register(&hub).unwrap();
    let listener = tokio::net::TcpListener::bind(args.listen).await.unwrap();
    let url = format!(
        "ws://{}{}",
        listener.local_addr().unwrap(),
        example_chat_service::PATH
    );
    println!("chat on {url}; Ctrl-C stops it");
    println!("  terminal: cargo run -p wskit-cli -- connect {url}");
    println!(
        "  browser console: ws = new WebSocket('{url}'); \
         ws.onmessage = e => console.log(e.data); ws.send('/nick alice')"
    );

    let server = tokio::spawn({
        let hub = hub.clone();
        async move { hub.serve(listener).await }
    });
    tokio::signal::ctrl_c().await.unwrap();
    println!(
        "shutting down: closing {} connection(s)",
        hub.connection_count()
    );
    // Stops accepting, sends 1001 to everyone, waits up to 5 s for the closing handshakes.
    let report = hub.shutdown(Duration::from_secs(5)).await;
    println!(
        "shutdown: {} closed cleanly, {} dropped after the deadline",
        report.clean, report.forced
    );
    server.await.unwrap().unwrap();
}
