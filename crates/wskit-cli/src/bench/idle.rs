//! `wskit bench idle`: open and upgrade N connections, hold them, and weigh the server.
//!
//! The server's `VmRSS` is read before the first connection and after the hold, so the
//! difference over N is the user-space memory an idle, upgraded connection costs (kernel
//! socket buffers are not in RSS). Start the server fresh for a clean baseline.

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use clap::Args;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::parse_duration;
use super::progress::{Progress, wait_until};
use super::report::IdleReport;
use super::server::ServerProbe;
use super::wire::Target;

/// Options of `wskit bench idle`.
#[derive(Debug, Args)]
pub(super) struct IdleArgs {
    /// The server to load (`ws://` only).
    #[arg(long, default_value = "ws://127.0.0.1:9001/")]
    url: String,
    /// Connections to open and hold (raise `ulimit -n` above this, for both processes).
    #[arg(long, short = 'c', default_value_t = 10_000)]
    connections: usize,
    /// Upgrades under way at once while opening.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// How long to hold the connections before weighing the server.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    hold: Duration,
    /// The server's pid: report its RSS per connection.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// Runs the scenario and gathers its report.
pub(super) async fn run(args: IdleArgs) -> anyhow::Result<IdleReport> {
    ensure!(args.connections > 0, "--connections must be at least 1");
    ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let probe = args.server_pid.map(ServerProbe::new).transpose()?;
    let target = Arc::new(Target::resolve(&args.url).await?);
    let rss_before = probe.as_ref().map(ServerProbe::rss_bytes).transpose()?;

    let started = Instant::now();
    let opened = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let progress = Progress::counting(args.connections as u64, &opened, "connections");
    let mut openers = JoinSet::new();
    for _ in 0..args.concurrency.min(args.connections) {
        let (target, opened, next) = (target.clone(), opened.clone(), next.clone());
        let total = args.connections;
        openers.spawn(async move {
            let mut streams = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= total {
                    return anyhow::Ok(streams);
                }
                let (stream, _) = target
                    .connect()
                    .await
                    .with_context(|| format!("opening connection {index}"))?;
                streams.push(stream);
                opened.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let mut streams: Vec<TcpStream> = Vec::with_capacity(args.connections);
    loop {
        tokio::select! {
            joined = openers.join_next() => match joined {
                Some(joined) => streams.extend(joined.context("an opener panicked")??),
                None => break,
            },
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                if let Some(progress) = &progress {
                    progress.tick();
                }
            }
        }
    }
    if let Some(progress) = &progress {
        progress.finish();
    }
    let open_seconds = started.elapsed().as_secs_f64();

    wait_until(Instant::now() + args.hold, None).await;
    let rss_after = probe.as_ref().map(ServerProbe::rss_bytes).transpose()?;
    let connections_lost = streams.iter().filter(|stream| is_closed(stream)).count();
    Ok(IdleReport {
        scenario: "idle",
        url: args.url,
        connections: args.connections,
        open_seconds,
        hold_seconds: args.hold.as_secs_f64(),
        connections_lost,
        server_pid: probe.as_ref().map(ServerProbe::pid),
        server_rss_before_bytes: rss_before,
        server_rss_after_bytes: rss_after,
        server_rss_per_connection_bytes: rss_before
            .zip(rss_after)
            .map(|(before, after)| (after as f64 - before as f64) / args.connections as f64),
    })
}

/// Whether the server has closed (or written to) a connection that should be idle.
fn is_closed(stream: &TcpStream) -> bool {
    let mut byte = [0; 1];
    !matches!(stream.try_read(&mut byte), Err(err) if err.kind() == ErrorKind::WouldBlock)
}
