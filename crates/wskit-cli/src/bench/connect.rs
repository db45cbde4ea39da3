//! `wskit bench connect`: opening handshakes per second.
//!
//! C workers each loop: TCP connect, upgrade request, check the `101` response, then drop the
//! connection with a reset (`SO_LINGER` 0), so neither side is left with thousands of sockets
//! in TIME_WAIT and the run can go on for as long as asked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use clap::Args;
use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::parse_duration;
use super::progress::{Progress, measured_window, per_cpu_second};
use super::report::{ConnectReport, Latency};
use super::server::ServerProbe;
use super::wire::Target;

/// Options of `wskit bench connect`.
#[derive(Debug, Args)]
pub(super) struct ConnectArgs {
    /// The server to load (`ws://` only).
    #[arg(long, default_value = "ws://127.0.0.1:9001/")]
    url: String,
    /// Handshakes under way at once.
    #[arg(long, short = 'c', default_value_t = 16)]
    concurrency: usize,
    /// How long to measure, after the warm-up.
    #[arg(long, short = 'd', default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// How long to run before measuring.
    #[arg(long, short = 'w', default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// The server's pid: report handshakes per server CPU-second.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// Runs the scenario and gathers its report.
pub(super) async fn run(args: ConnectArgs) -> anyhow::Result<ConnectReport> {
    ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    ensure!(!args.duration.is_zero(), "--duration must be positive");
    let probe = args.server_pid.map(ServerProbe::new).transpose()?;
    let target = Arc::new(Target::resolve(&args.url).await?);
    let shared = Arc::new(Shared {
        latency_ns: Mutex::new(
            Histogram::new_with_bounds(1, 60_000_000_000, 3).context("creating the histogram")?,
        ),
        done: Arc::new(AtomicU64::new(0)),
    });
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let end = measure_from + args.duration;
    let mut workers = JoinSet::new();
    for _ in 0..args.concurrency {
        workers.spawn(worker(target.clone(), shared.clone(), measure_from, end));
    }
    let progress = Progress::timed(start, measure_from, end, &shared.done, "handshakes");
    let server_cpu_seconds =
        measured_window(probe.as_ref(), measure_from, end, progress.as_ref()).await?;
    let mut handshakes = 0;
    while let Some(joined) = workers.join_next().await {
        handshakes += joined.context("a worker panicked")??;
    }
    let duration = args.duration.as_secs_f64();
    let histogram = shared
        .latency_ns
        .lock()
        .map_err(|_| anyhow::anyhow!("a worker panicked while recording"))?;
    Ok(ConnectReport {
        scenario: "connect",
        url: args.url,
        concurrency: args.concurrency,
        warmup_seconds: args.warmup.as_secs_f64(),
        duration_seconds: duration,
        handshakes,
        handshakes_per_second: handshakes as f64 / duration,
        handshake_us: Latency::from_nanos(&histogram),
        server_pid: probe.as_ref().map(ServerProbe::pid),
        server_cpu_seconds,
        handshakes_per_server_cpu_second: per_cpu_second(handshakes, server_cpu_seconds),
    })
}

#[derive(Debug)]
struct Shared {
    latency_ns: Mutex<Histogram<u64>>,
    done: Arc<AtomicU64>,
}

/// One worker: handshakes back to back until `end`; returns those completed in the window.
async fn worker(
    target: Arc<Target>,
    shared: Arc<Shared>,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<u64> {
    let mut samples = Vec::with_capacity(256);
    let mut measured = 0;
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        let (stream, _) = target.connect().await?;
        let now = Instant::now();
        // A reset instead of a FIN: no TIME_WAIT left behind on either side.
        stream.set_zero_linger()?;
        drop(stream);
        shared.done.fetch_add(1, Ordering::Relaxed);
        if measure_from <= started && now < end {
            measured += 1;
            samples.push(u64::try_from((now - started).as_nanos()).unwrap_or(u64::MAX));
        }
    }
    let mut histogram = shared
        .latency_ns
        .lock()
        .map_err(|_| anyhow::anyhow!("a worker panicked while recording"))?;
    for sample in samples {
        histogram.saturating_record(sample);
    }
    Ok(measured)
}
