//! `wskit bench broadcast`: N clients, one publishes, the server delivers to all of them.
//!
//! One message is in flight at a time: connection 0 publishes, every connection (the publisher
//! included) counts the delivery, and when the last one has arrived the next message goes out.
//! Each round's time is the time until the last delivery.
//!
//! Two protocols, since a broadcast server needs one:
//! - `raw`: every text or binary message a client sends goes to every client (the servers in
//!   `perf/`).
//! - `serve`: `wskit serve`'s JSON protocol on `/ws` (docs/protocol.md): each client reads its
//!   `welcome`, joins a group and waits for the `ack`; the publisher sends `publish` to it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use clap::Args;
use hdrhistogram::Histogram;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::progress::{Progress, per_cpu_second};
use super::report::{BroadcastReport, Latency};
use super::server::ServerProbe;
use super::wire::{EchoParser, Target, masked, masked_frame, read_messages};
use super::{Protocol, parse_duration};

/// Options of `wskit bench broadcast`.
#[derive(Debug, Args)]
pub(super) struct BroadcastArgs {
    /// The server to load (`ws://` only; `ws://HOST:PORT/ws` for `wskit serve`).
    #[arg(long, default_value = "ws://127.0.0.1:9001/")]
    url: String,
    /// The server's broadcast protocol.
    #[arg(long, value_enum, default_value_t = Protocol::Raw)]
    protocol: Protocol,
    /// Clients, all receiving every message.
    #[arg(long, short = 'c', default_value_t = 100)]
    connections: usize,
    /// Payload bytes per published message.
    #[arg(long, short = 's', default_value_t = 20)]
    size: usize,
    /// How long to measure, after the warm-up.
    #[arg(long, short = 'd', default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// How long to run before measuring.
    #[arg(long, short = 'w', default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// The server's pid: report deliveries per server CPU-second.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Longest wait for a round's deliveries before the run fails as stuck.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    round_timeout: Duration,
}

/// The group the clients join under `--protocol serve`.
const GROUP: &str = "bench";

/// Runs the scenario and gathers its report.
pub(super) async fn run(args: BroadcastArgs) -> anyhow::Result<BroadcastReport> {
    ensure!(args.connections > 0, "--connections must be at least 1");
    ensure!(!args.duration.is_zero(), "--duration must be positive");
    let probe = args.server_pid.map(ServerProbe::new).transpose()?;
    let target = Target::resolve(&args.url).await?;

    let mut streams = Vec::with_capacity(args.connections);
    for index in 0..args.connections {
        let (stream, leftover) = target
            .connect()
            .await
            .with_context(|| format!("opening connection {index}"))?;
        streams.push(setup(args.protocol, stream, leftover).await?);
    }
    let publish = match args.protocol {
        Protocol::Raw => masked_frame(false, args.size),
        Protocol::Serve => {
            let data = "x".repeat(args.size);
            let json = format!(r#"{{"type":"publish","group":"{GROUP}","data":"{data}"}}"#);
            masked(0x1, json.as_bytes())
        }
    };

    let delivered = Arc::new(AtomicU64::new(0));
    let round_done = Arc::new(Notify::new());
    let failure = Arc::new(Mutex::new(None));
    let mut readers = JoinSet::new();
    let mut publisher = None;
    // The other write halves stay open until the end: dropping one shuts its connection down.
    let mut idle_writers = Vec::with_capacity(args.connections);
    let target_per_round = args.connections as u64;
    for (index, (stream, leftover)) in streams.into_iter().enumerate() {
        let (read, write) = stream.into_split();
        if index == 0 {
            publisher = Some(write);
        } else {
            idle_writers.push(write);
        }
        let (delivered, round_done, failure) =
            (delivered.clone(), round_done.clone(), failure.clone());
        readers.spawn(async move {
            if let Err(err) =
                count_deliveries(read, leftover, &delivered, &round_done, target_per_round).await
            {
                if let Ok(mut failure) = failure.lock() {
                    failure.get_or_insert(err);
                }
                round_done.notify_one();
            }
        });
    }
    let mut publisher = publisher.context("no connection to publish on")?;

    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .context("creating the histogram")?;
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let end = measure_from + args.duration;
    let progress = Progress::timed(start, measure_from, end, &delivered, "deliveries");
    let mut last_tick = start;
    let mut cpu_before = None;
    let mut rounds = 0u64;
    let mut expected = 0u64;
    loop {
        let now = Instant::now();
        if cpu_before.is_none() && now >= measure_from {
            cpu_before = probe.as_ref().map(ServerProbe::cpu_seconds).transpose()?;
        }
        if now >= end {
            break;
        }
        if let Some(progress) = &progress {
            if now - last_tick >= Duration::from_millis(250) {
                progress.tick();
                last_tick = now;
            }
        }
        publisher.write_all(&publish).await.context("publishing")?;
        expected += target_per_round;
        let sent = Instant::now();
        let round_deadline = sent + args.round_timeout;
        while delivered.load(Ordering::Acquire) < expected {
            if let Some(err) = failure.lock().ok().and_then(|mut failure| failure.take()) {
                return Err(err);
            }
            if tokio::time::timeout_at(round_deadline, round_done.notified())
                .await
                .is_err()
            {
                bail!(
                    "only {} of {} deliveries arrived within {:?} (is this a {} broadcast \
                     server?)",
                    delivered.load(Ordering::Acquire) + target_per_round - expected,
                    target_per_round,
                    args.round_timeout,
                    match args.protocol {
                        Protocol::Raw => "raw",
                        Protocol::Serve => "`wskit serve`",
                    }
                );
            }
        }
        let finished = Instant::now();
        if sent >= measure_from && finished <= end {
            rounds += 1;
            histogram
                .saturating_record(u64::try_from((finished - sent).as_nanos()).unwrap_or(u64::MAX));
        }
    }
    let cpu_after = probe.as_ref().map(ServerProbe::cpu_seconds).transpose()?;
    if let Some(progress) = &progress {
        progress.finish();
    }
    readers.abort_all();
    drop(idle_writers);

    let duration = args.duration.as_secs_f64();
    let deliveries = rounds * target_per_round;
    let server_cpu_seconds = cpu_before
        .zip(cpu_after)
        .map(|(before, after)| after - before);
    Ok(BroadcastReport {
        scenario: "broadcast",
        url: args.url,
        protocol: args.protocol.name(),
        connections: args.connections,
        size: args.size,
        warmup_seconds: args.warmup.as_secs_f64(),
        duration_seconds: duration,
        rounds,
        deliveries,
        deliveries_per_second: deliveries as f64 / duration,
        last_delivery_us: Latency::from_nanos(&histogram),
        server_pid: probe.as_ref().map(ServerProbe::pid),
        server_cpu_seconds,
        deliveries_per_server_cpu_second: per_cpu_second(deliveries, server_cpu_seconds),
        server_peak_rss_bytes: probe
            .as_ref()
            .map(ServerProbe::peak_rss_bytes)
            .transpose()?,
    })
}

/// Brings a fresh connection to where it receives broadcasts: nothing to do for `raw`; for
/// `serve`, read the welcome, join the group and wait for the acknowledgement.
async fn setup(
    protocol: Protocol,
    mut stream: TcpStream,
    mut leftover: Vec<u8>,
) -> anyhow::Result<(TcpStream, Vec<u8>)> {
    if protocol == Protocol::Serve {
        let welcome = read_messages(&mut stream, &mut leftover, 1).await?;
        ensure!(
            welcome[0].starts_with(br#"{"type":"welcome""#),
            "expected a welcome, got {}",
            String::from_utf8_lossy(&welcome[0])
        );
        let join = format!(r#"{{"type":"join","group":"{GROUP}","ref":1}}"#);
        stream.write_all(&masked(0x1, join.as_bytes())).await?;
        let ack = read_messages(&mut stream, &mut leftover, 1).await?;
        ensure!(
            ack[0].starts_with(br#"{"type":"ack""#),
            "expected the join's ack, got {}",
            String::from_utf8_lossy(&ack[0])
        );
    }
    Ok((stream, leftover))
}

/// Counts the messages arriving on one connection; wakes the publisher when a round may be
/// complete (every `per_round`-th delivery overall).
async fn count_deliveries(
    read: tokio::net::tcp::OwnedReadHalf,
    mut buf: Vec<u8>,
    delivered: &AtomicU64,
    round_done: &Notify,
    per_round: u64,
) -> anyhow::Result<()> {
    let mut parser = EchoParser::any_length();
    let mut filled = buf.len();
    buf.resize(filled.max(64 * 1024), 0);
    loop {
        let (consumed, messages) = parser.feed(&buf[..filled])?;
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        if messages > 0 {
            let before = delivered.fetch_add(messages as u64, Ordering::AcqRel);
            let after = before + messages as u64;
            if after / per_round != before / per_round {
                round_done.notify_one();
            }
        }
        read.readable().await?;
        match read.try_read(&mut buf[filled..]) {
            Ok(0) => bail!("the server closed a connection"),
            Ok(read) => filled += read,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err).context("reading from the server"),
        }
    }
}
