//! What it shows: a `ReconnectingClient` that stays connected to an echo server: it sends a
//! numbered message every second (queued while the server is down, sent in order once it is
//! back), re-subscribes from the on-connect hook, prints every event and every echo, keeps
//! a heartbeat, and closes on Ctrl-C. Stop and restart the server to watch it reconnect.
//!
//! Run with: cargo run -p wskit --example reconnect -- ws://127.0.0.1:9001/
//!
//! (`cargo run -p wskit-cli -- echo` or any echo server will do for the other end.)

use std::time::Duration;

use wskit::{Backoff, Client, CloseCode, Event, Message, ReconnectingClient};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".to_owned());

    let (client, mut events) = ReconnectingClient::builder(Client::new(url))
        .backoff(
            Backoff::default()
                .initial_delay(Duration::from_millis(200))
                .max_delay(Duration::from_secs(5)),
        )
        .heartbeat(Duration::from_secs(5), Duration::from_secs(3))
        .max_queued_messages(100)
        .on_connect(|ws| {
            Box::pin(async move { ws.send(Message::text(r#"{"subscribe":"ticks"}"#)).await })
        })
        .spawn();

    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                Event::ConnectFailed { attempt, error } => {
                    tracing::warn!(attempt, %error, "connect failed");
                }
                event => tracing::info!(?event),
            }
        }
    });

    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                n += 1;
                match client.try_send(Message::text(format!("tick {n}"))) {
                    Ok(()) => {}
                    Err(wskit::Error::QueueFull) => tracing::warn!(n, "offline, queue full: tick dropped"),
                    Err(err) => return Err(err.into()),
                }
                if !client.is_connected() {
                    tracing::info!(queued = client.queued(), "waiting for the server");
                }
            }
            msg = client.recv() => println!("echo: {:?}", msg?),
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    client.close(CloseCode::NORMAL, "bye").await?;
    Ok(())
}
