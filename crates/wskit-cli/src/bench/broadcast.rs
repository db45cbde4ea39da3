//! `wskit bench broadcast`: N clients, one publishes, the server delivers to all of them.
//!
//! One message is in flight at a time: connection 0 publishes, every connection (the publisher
//! included) counts the delivery, and when the last one has arrived the next message goes out.
//! Each round's time is the time until the last delivery.
//!
//! A broadcast server needs a protocol:
//! - `raw`: every text or binary message a client sends goes to every client (the servers in
//!   `perf/`). Deliveries are counted, not read.
//! - `serve`: `wskit serve`'s JSON protocol on `/ws` (docs/protocol.md): each client reads its
//!   `welcome`, joins a group and waits for the `ack`; the publisher sends `publish` to it, or
//!   (`--publish http`) posts to `/api/groups/{group}/messages`.
//! - `pusher`: the Pusher protocol (Sockudo, soketi): each client subscribes to a public
//!   channel; messages are published through the server's HTTP API, on a connection of its own.
//! - `socketio`: Socket.IO 4 (perf/servers/socketio-server.js): each client joins a room; the
//!   publisher emits `publish` to it, or (`--publish http`) posts to the server's
//!   `/rooms/{room}/messages`.
//!
//! Under every protocol but `raw`, each message carries its sequence number and every
//! subscriber checks that it gets each one, once and in order ([`channel`]).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use clap::Args;
use hdrhistogram::Histogram;
use tokio::io::AsyncWriteExt as _;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::channel::{self, Publisher, Tally, Via};
use super::progress::{Progress, per_cpu_second};
use super::pusher::PusherApp;
use super::report::{BroadcastReport, Latency};
use super::server::ServerProbe;
use super::wire::{EchoParser, Target, masked_frame};
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
    /// Where to publish: on the first subscriber's WebSocket, or through the server's HTTP API
    /// (default: `http` for `pusher`, `websocket` otherwise).
    #[arg(long, value_enum)]
    publish: Option<Via>,
    #[command(flatten)]
    pusher: PusherApp,
}

/// Runs the scenario and gathers its report.
pub(super) async fn run(args: BroadcastArgs) -> anyhow::Result<BroadcastReport> {
    ensure!(args.connections > 0, "--connections must be at least 1");
    ensure!(!args.duration.is_zero(), "--duration must be positive");
    ensure!(
        protocol_publishes(args.protocol, args.publish),
        "--protocol raw publishes on the WebSocket only"
    );
    let probe = args.server_pid.map(ServerProbe::new).transpose()?;
    let protocol = args.protocol;
    let target = Target::resolve(&protocol.url(&args.url, &args.pusher)).await?;

    let mut streams = Vec::with_capacity(args.connections);
    for index in 0..args.connections {
        let (mut stream, mut leftover) = target
            .connect()
            .await
            .with_context(|| format!("opening connection {index}"))?;
        channel::set_up(protocol, &mut stream, &mut leftover, true)
            .await
            .with_context(|| format!("subscribing connection {index}"))?;
        streams.push((stream, leftover));
    }

    let tally = Arc::new(Tally::default());
    let failure = Arc::new(Mutex::new(None));
    let mut readers = JoinSet::new();
    let mut first_writer = None;
    // The write halves stay open until the end: dropping one shuts its connection down.
    let mut writers = Vec::with_capacity(args.connections);
    let per_round = args.connections as u64;
    for (index, (stream, leftover)) in streams.into_iter().enumerate() {
        let (read, write) = stream.into_split();
        let write = Arc::new(tokio::sync::Mutex::new(write));
        first_writer.get_or_insert_with(|| write.clone());
        writers.push(write.clone());
        let (tally, failure) = (tally.clone(), failure.clone());
        readers.spawn(async move {
            let outcome = match protocol {
                Protocol::Raw => count_deliveries(read, leftover, &tally, per_round).await,
                _ => {
                    channel::check_deliveries(
                        protocol,
                        index,
                        read,
                        write,
                        leftover,
                        tally.clone(),
                        per_round,
                    )
                    .await
                }
            };
            if let Err(err) = outcome {
                if let Ok(mut failure) = failure.lock() {
                    failure.get_or_insert(err);
                }
                tally.round_done.notify_one();
            }
        });
    }
    let first_writer = first_writer.context("no connection to publish on")?;
    let mut publisher = match protocol {
        Protocol::Raw => Publish::Raw(first_writer, masked_frame(false, args.size)),
        _ => Publish::Sequenced(
            Publisher::new(
                protocol,
                args.publish.unwrap_or(Via::default_for(protocol)),
                first_writer,
                target.addr(),
                target.authority(),
                &args.pusher,
            )
            .await?,
        ),
    };

    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .context("creating the histogram")?;
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let end = measure_from + args.duration;
    let progress = Progress::timed(start, measure_from, end, &tally.delivered, "deliveries");
    let mut last_tick = start;
    let mut cpu_before = None;
    let mut rounds = 0u64;
    let mut expected = 0u64;
    for sequence in 0.. {
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
        let sent = Instant::now();
        publisher
            .send(protocol, sequence, args.size)
            .await
            .context("publishing")?;
        expected += per_round;
        let round_deadline = sent + args.round_timeout;
        while tally.delivered.load(Ordering::Acquire) < expected {
            if let Some(err) = failure.lock().ok().and_then(|mut failure| failure.take()) {
                return Err(err);
            }
            if tokio::time::timeout_at(round_deadline, tally.round_done.notified())
                .await
                .is_err()
            {
                bail!(
                    "only {} of {} deliveries arrived within {:?} (is this a {} server?)",
                    tally.delivered.load(Ordering::Acquire) + per_round - expected,
                    per_round,
                    args.round_timeout,
                    protocol.description()
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
    drop(writers);

    let duration = args.duration.as_secs_f64();
    let deliveries = rounds * per_round;
    let server_cpu_seconds = cpu_before
        .zip(cpu_after)
        .map(|(before, after)| after - before);
    Ok(BroadcastReport {
        scenario: "broadcast",
        url: args.url,
        protocol: protocol.name(),
        publish: publisher.name(),
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

/// Whether `protocol` can publish via `via` as far as the arguments show.
fn protocol_publishes(protocol: Protocol, via: Option<Via>) -> bool {
    protocol != Protocol::Raw || via.is_none_or(|via| via == Via::Websocket)
}

/// How the run publishes: a fixed frame on a raw broadcast server, or sequenced messages in
/// the server's protocol.
enum Publish {
    Raw(Arc<tokio::sync::Mutex<OwnedWriteHalf>>, Vec<u8>),
    Sequenced(Publisher),
}

impl Publish {
    /// Publishes message `sequence`.
    async fn send(&mut self, protocol: Protocol, sequence: u64, size: usize) -> anyhow::Result<()> {
        match self {
            Self::Raw(write, frame) => Ok(write.lock().await.write_all(frame).await?),
            Self::Sequenced(publisher) => publisher.publish(protocol, sequence, size).await,
        }
    }

    /// How messages are published, for the report.
    fn name(&self) -> &'static str {
        match self {
            Self::Sequenced(Publisher::Http(..)) => "http",
            _ => "websocket",
        }
    }
}

/// Counts the messages arriving on one connection; wakes the publisher when a round may be
/// complete (every `per_round`-th delivery overall).
async fn count_deliveries(
    read: tokio::net::tcp::OwnedReadHalf,
    mut buf: Vec<u8>,
    tally: &Tally,
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
            let before = tally.delivered.fetch_add(messages as u64, Ordering::AcqRel);
            let after = before + messages as u64;
            if after / per_round != before / per_round {
                tally.round_done.notify_one();
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
