//! `wskit bench echo`: N connections, each keeping K messages of S bytes in flight.
//!
//! The loop is closed: each connection sends K messages, then one more for every echo it
//! receives, so the offered load adapts to the server. All connections are upgraded before the
//! clock starts; then the run warms up for W and measures for D. Only echoes received in the
//! measured window count, and the server's CPU time is read at its two ends.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use clap::Args;
use hdrhistogram::Histogram;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;
use wskit::proto::frame::FrameHeader;

use super::deflate::{DeflateMode, compressed_frame, compressible_payload, inflate};
use super::parse_duration;
use super::progress::{Progress, measured_window, per_cpu_second};
use super::report::{EchoReport, Latency};
use super::server::ServerProbe;
use super::wire::{EchoParser, Target, masked_frame};

/// Options of `wskit bench echo`.
#[derive(Debug, Args)]
pub(super) struct EchoArgs {
    /// The server to load (`ws://` only).
    #[arg(long, default_value = "ws://127.0.0.1:9001/")]
    url: String,
    /// Connections, all upgraded before the clock starts.
    #[arg(long, short = 'c', default_value_t = 100)]
    connections: usize,
    /// Messages each connection keeps in flight.
    #[arg(long, short = 'k', default_value_t = 1)]
    in_flight: usize,
    /// Payload bytes per message.
    #[arg(long, short = 's', default_value_t = 20)]
    size: usize,
    /// Send text frames instead of binary ones (the server then validates UTF-8).
    #[arg(long)]
    text: bool,
    /// How long to measure, after the warm-up (e.g. 5s, 500ms).
    #[arg(long, short = 'd', default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// How long to run before measuring.
    #[arg(long, short = 'w', default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// The server's pid: report its CPU time, messages per server CPU-second and peak RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Offer permessage-deflate (fail if the server declines) and send a compressed JSON-like
    /// message; `takeover` lets the server keep its context between messages.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "no-takeover")]
    deflate: Option<DeflateMode>,
}

/// Runs the scenario and gathers its report.
pub(super) async fn run(args: EchoArgs, threads: usize) -> anyhow::Result<EchoReport> {
    ensure!(args.connections > 0, "--connections must be at least 1");
    ensure!(args.in_flight > 0, "--in-flight must be at least 1");
    ensure!(!args.duration.is_zero(), "--duration must be positive");
    let probe = args.server_pid.map(ServerProbe::new).transpose()?;
    let mut target = Target::resolve(&args.url).await?;
    if let Some(mode) = args.deflate {
        target.offer_extensions(&mode.config().offer());
    }

    // One upgrade at a time: a burst of SYNs could overflow the server's accept backlog.
    let mut streams = Vec::with_capacity(args.connections);
    let mut client_window_bits = 15;
    for index in 0..args.connections {
        let upgraded = target
            .upgrade()
            .await
            .with_context(|| format!("opening connection {index}"))?;
        if let Some(mode) = args.deflate {
            let params = mode
                .accept(upgraded.extensions.as_deref())
                .with_context(|| format!("connection {index}"))?;
            client_window_bits = client_window_bits.min(params.client_max_window_bits);
        }
        streams.push((upgraded.stream, upgraded.leftover));
    }

    let (frame, payload) = match args.deflate {
        Some(_) => {
            let payload = compressible_payload(args.size);
            let frame = compressed_frame(args.text, &payload, client_window_bits);
            (frame, Some(payload))
        }
        None => (masked_frame(args.text, args.size), None),
    };
    let compressed_size = payload.as_ref().map(|_| {
        // The frame is header + compressed payload; the header's length says where it starts.
        FrameHeader::parse(&frame)
            .ok()
            .flatten()
            .map_or(0, |(header, _)| header.payload_len as usize)
    });
    let plan = Arc::new(Plan {
        frame_len: frame.len(),
        frames: frame.repeat(args.in_flight),
        in_flight: args.in_flight,
        size: args.size,
        payload,
    });
    let shared = Arc::new(Shared {
        // 1 ns to 60 s at 3 significant digits; slower round trips are clamped to 60 s.
        latency_ns: Mutex::new(
            Histogram::new_with_bounds(1, 60_000_000_000, 3).context("creating the histogram")?,
        ),
        received: Arc::new(AtomicU64::new(0)),
    });
    let start = Instant::now();
    let window = Window {
        measure_from: start + args.warmup,
        end: start + args.warmup + args.duration,
    };
    let mut tasks = JoinSet::new();
    for (stream, leftover) in streams {
        tasks.spawn(drive(
            stream,
            leftover,
            plan.clone(),
            window,
            shared.clone(),
        ));
    }

    let progress = Progress::timed(
        start,
        window.measure_from,
        window.end,
        &shared.received,
        "msg",
    );
    let server_cpu_seconds = measured_window(
        probe.as_ref(),
        window.measure_from,
        window.end,
        progress.as_ref(),
    )
    .await?;

    let mut messages = 0;
    while let Some(joined) = tasks.join_next().await {
        messages += joined.context("a connection task panicked")??;
    }
    let duration = args.duration.as_secs_f64();
    let histogram = shared
        .latency_ns
        .lock()
        .map_err(|_| anyhow::anyhow!("a connection task panicked while recording"))?;
    Ok(EchoReport {
        scenario: "echo",
        url: args.url,
        connections: args.connections,
        in_flight: args.in_flight,
        size: args.size,
        text: args.text,
        deflate: args.deflate.map(DeflateMode::name),
        compressed_size,
        threads,
        warmup_seconds: args.warmup.as_secs_f64(),
        duration_seconds: duration,
        messages,
        messages_per_second: messages as f64 / duration,
        megabytes_per_second: (messages as f64 * args.size as f64) / duration / 1e6,
        latency_us: Latency::from_nanos(&histogram),
        server_pid: probe.as_ref().map(ServerProbe::pid),
        server_cpu_seconds,
        messages_per_server_cpu_second: per_cpu_second(messages, server_cpu_seconds),
        server_peak_rss_bytes: probe
            .as_ref()
            .map(ServerProbe::peak_rss_bytes)
            .transpose()?,
    })
}

/// What every connection sends: `in_flight` copies of one masked frame, back to back, so any
/// run of up to `in_flight` frames (starting at any offset in the first) is one slice.
#[derive(Debug)]
struct Plan {
    frames: Vec<u8>,
    frame_len: usize,
    in_flight: usize,
    size: usize,
    /// With `--deflate`: the uncompressed payload, which sampled echoes must inflate to.
    payload: Option<Vec<u8>>,
}

/// What the connections share: the latency histogram and a live count for the progress bar.
#[derive(Debug)]
struct Shared {
    latency_ns: Mutex<Histogram<u64>>,
    received: Arc<AtomicU64>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    measure_from: Instant,
    end: Instant,
}

/// Latency samples a connection keeps before taking the histogram's lock.
const SAMPLE_BATCH: usize = 256;

/// Drives one upgraded connection until the window ends; returns its echoes in the window.
///
/// One task does both directions with `ready` + `try_read`/`try_write`, so a connection is one
/// future and one readiness registration, and a full send buffer never stops it reading.
async fn drive(
    stream: TcpStream,
    leftover: Vec<u8>,
    plan: Arc<Plan>,
    window: Window,
    shared: Arc<Shared>,
) -> anyhow::Result<u64> {
    let mut buf = vec![0; (plan.in_flight * plan.frame_len).clamp(4096, 64 * 1024)];
    let mut filled = 0;
    ensure!(
        leftover.is_empty(),
        "the server sent frames before the generator did"
    );
    let mut parser = match plan.payload {
        Some(_) => EchoParser::compressed(),
        None => EchoParser::new(plan.size),
    };
    // Send times of the messages in flight, oldest first: echoes come back in order.
    let mut sent_at = VecDeque::with_capacity(plan.in_flight);
    let mut samples = Vec::with_capacity(SAMPLE_BATCH);
    let mut measured = 0;
    // Bytes queued but not written yet, and the write position within the frame.
    let mut unwritten = plan.frames.len();
    let mut offset = 0;
    let now = Instant::now();
    sent_at.extend(std::iter::repeat_n(now, plan.in_flight));
    let deadline = tokio::time::sleep_until(window.end);
    tokio::pin!(deadline);

    loop {
        while unwritten > 0 {
            // `unwritten <= frames.len() - offset`: at most the rest of the current frame
            // and `in_flight - 1` whole ones are queued.
            match stream.try_write(&plan.frames[offset..offset + unwritten]) {
                Ok(written) => {
                    unwritten -= written;
                    offset = (offset + written) % plan.frame_len;
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) => return Err(err).context("writing to the server"),
            }
        }
        let interest = if unwritten > 0 {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let ready = tokio::select! {
            biased;
            () = &mut deadline => break,
            ready = stream.ready(interest) => ready?,
        };
        if !ready.is_readable() {
            continue;
        }
        match stream.try_read(&mut buf[filled..]) {
            Ok(0) => anyhow::bail!("the server closed the connection"),
            Ok(read) => filled += read,
            Err(err) if err.kind() == ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err).context("reading from the server"),
        }
        let (consumed, echoes) = parser.feed(&buf[..filled])?;
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        if let (Some(sample), Some(payload)) = (parser.take_sample(), &plan.payload) {
            ensure!(
                inflate(&sample, plan.size)? == *payload,
                "the server's first compressed echo does not inflate to the message sent"
            );
        }
        if echoes == 0 {
            continue;
        }
        let now = Instant::now();
        let counted = window.measure_from <= now && now < window.end;
        for _ in 0..echoes {
            let sent = sent_at
                .pop_front()
                .context("the server sent more messages than it was sent")?;
            if counted {
                // Saturates after 584 years.
                samples.push(u64::try_from((now - sent).as_nanos()).unwrap_or(u64::MAX));
                if samples.len() == SAMPLE_BATCH {
                    record(&shared, &mut samples)?;
                }
            }
            sent_at.push_back(now);
        }
        if counted {
            measured += echoes as u64;
        }
        unwritten += echoes * plan.frame_len;
        shared.received.fetch_add(echoes as u64, Ordering::Relaxed);
    }
    record(&shared, &mut samples)?;
    Ok(measured)
}

/// Moves a connection's latency samples into the shared histogram.
fn record(shared: &Shared, samples: &mut Vec<u64>) -> anyhow::Result<()> {
    let mut histogram = shared
        .latency_ns
        .lock()
        .map_err(|_| anyhow::anyhow!("a connection task panicked while recording"))?;
    for sample in samples.drain(..) {
        histogram.saturating_record(sample);
    }
    Ok(())
}
