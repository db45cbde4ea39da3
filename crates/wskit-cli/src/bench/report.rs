//! The figures of a run: printed as a short table, or as one JSON object with `--json`.

use std::io::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The result of `wskit bench echo`. Field names are the JSON keys; scripts rely on them.
#[derive(Debug, Serialize)]
pub(super) struct EchoReport {
    pub(super) scenario: &'static str,
    pub(super) url: String,
    pub(super) connections: usize,
    pub(super) in_flight: usize,
    /// Payload bytes per message.
    pub(super) size: usize,
    pub(super) text: bool,
    /// `--deflate`: what was offered (`no-takeover` or `takeover`); absent without it.
    pub(super) deflate: Option<&'static str>,
    /// `--deflate`: the compressed payload bytes of each message sent.
    pub(super) compressed_size: Option<usize>,
    pub(super) threads: usize,
    pub(super) warmup_seconds: f64,
    /// The measured window, after the warm-up.
    pub(super) duration_seconds: f64,
    /// Echoes received in the measured window.
    pub(super) messages: u64,
    pub(super) messages_per_second: f64,
    /// Echoed payload bytes received per second, in 10^6 bytes.
    pub(super) megabytes_per_second: f64,
    /// Round-trip latency, from queueing a message to parsing its echo.
    pub(super) latency_us: Latency,
    pub(super) server_pid: Option<u32>,
    /// Server CPU time (user + system) over the measured window.
    pub(super) server_cpu_seconds: Option<f64>,
    /// The fair figure on a shared machine; absent when the server used no measurable CPU.
    pub(super) messages_per_server_cpu_second: Option<f64>,
    /// `VmHWM`: the server's peak RSS since it started, not over the window alone.
    pub(super) server_peak_rss_bytes: Option<u64>,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Serialize)]
pub(super) struct Latency {
    pub(super) p50: f64,
    pub(super) p99: f64,
    pub(super) p99_9: f64,
    pub(super) max: f64,
    pub(super) mean: f64,
    /// How many round trips the percentiles are computed from.
    pub(super) samples: u64,
}

// ===== impl EchoReport =====

impl EchoReport {
    /// Prints the report on stdout: JSON, or a few lines for people.
    pub(super) fn print(&self, json: bool) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        if json {
            serde_json::to_writer(&mut out, self)?;
            writeln!(out)?;
            return Ok(out.flush()?);
        }
        let kind = if self.text { "text" } else { "binary" };
        let deflate = match (self.deflate, self.compressed_size) {
            (Some(mode), Some(size)) => format!(" (deflate {mode}: {size} B compressed)"),
            _ => String::new(),
        };
        writeln!(
            out,
            "echo {}: {} connections x {} in flight x {} B {kind}{deflate}, {:.2} s after \
             {:.2} s warm-up, {} generator thread(s)",
            self.url,
            self.connections,
            self.in_flight,
            self.size,
            self.duration_seconds,
            self.warmup_seconds,
            self.threads,
        )?;
        writeln!(
            out,
            "  throughput  {:.0} msg/s, {:.2} MB/s ({} messages)",
            self.messages_per_second, self.megabytes_per_second, self.messages,
        )?;
        let latency = &self.latency_us;
        writeln!(
            out,
            "  latency     p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
            latency.p50, latency.p99, latency.p99_9, latency.max,
        )?;
        if let Some(pid) = self.server_pid {
            let cpu = self.server_cpu_seconds.unwrap_or_default();
            let per_cpu = self
                .messages_per_server_cpu_second
                .map_or_else(|| "n/a".to_owned(), |rate| format!("{rate:.0}"));
            write!(
                out,
                "  server      pid {pid}: {cpu:.2} CPU-s, {per_cpu} messages per server CPU-second"
            )?;
            if let Some(rss) = self.server_peak_rss_bytes {
                write!(
                    out,
                    ", peak RSS {:.1} MiB (since start)",
                    rss as f64 / f64::from(1 << 20)
                )?;
            }
            writeln!(out)?;
        }
        Ok(out.flush()?)
    }
}

// ===== impl Latency =====

impl Latency {
    /// Percentiles of a histogram of nanoseconds, converted to microseconds.
    pub(super) fn from_nanos(histogram: &Histogram<u64>) -> Self {
        let us = |nanos: u64| nanos as f64 / 1e3;
        Self {
            p50: us(histogram.value_at_quantile(0.50)),
            p99: us(histogram.value_at_quantile(0.99)),
            p99_9: us(histogram.value_at_quantile(0.999)),
            max: us(histogram.max()),
            mean: histogram.mean() / 1e3,
            samples: histogram.len(),
        }
    }
}

/// The result of `wskit bench broadcast`.
#[derive(Debug, Serialize)]
pub(super) struct BroadcastReport {
    pub(super) scenario: &'static str,
    pub(super) url: String,
    /// `raw` (every message goes to everyone), `serve` (`wskit serve`'s JSON groups),
    /// `pusher` or `socketio`.
    pub(super) protocol: &'static str,
    /// How messages were published: `websocket` (by a subscriber) or `http` (the server's
    /// HTTP API).
    pub(super) publish: &'static str,
    pub(super) connections: usize,
    /// Payload bytes of each published message (the `data` string for `serve`).
    pub(super) size: usize,
    pub(super) warmup_seconds: f64,
    pub(super) duration_seconds: f64,
    /// Publishes whose last delivery came in the measured window.
    pub(super) rounds: u64,
    /// `rounds × connections`: every client, the publisher included, receives each message.
    pub(super) deliveries: u64,
    pub(super) deliveries_per_second: f64,
    /// Time from publishing to the last of its deliveries.
    pub(super) last_delivery_us: Latency,
    pub(super) server_pid: Option<u32>,
    pub(super) server_cpu_seconds: Option<f64>,
    pub(super) deliveries_per_server_cpu_second: Option<f64>,
    pub(super) server_peak_rss_bytes: Option<u64>,
}

/// The result of `wskit bench idle`.
#[derive(Debug, Serialize)]
pub(super) struct IdleReport {
    pub(super) scenario: &'static str,
    pub(super) url: String,
    /// `--protocol`: `raw`, `serve`, `pusher` or `socketio`.
    pub(super) protocol: &'static str,
    /// Whether each connection subscribed to a channel (`--subscribe`).
    pub(super) subscribed: bool,
    pub(super) connections: usize,
    /// Time to open and upgrade them all.
    pub(super) open_seconds: f64,
    pub(super) hold_seconds: f64,
    /// Connections the server had closed by the end of the hold (should be 0).
    pub(super) connections_lost: usize,
    /// `--deflate`: what was offered (`no-takeover` or `takeover`); absent without it.
    pub(super) deflate: Option<&'static str>,
    /// Messages each connection had echoed before the hold.
    pub(super) messages_per_connection: usize,
    pub(super) server_pid: Option<u32>,
    /// `VmRSS` before the first connection and after the hold.
    pub(super) server_rss_before_bytes: Option<u64>,
    pub(super) server_rss_after_bytes: Option<u64>,
    /// `(after - before) / connections`: user-space memory per idle connection (kernel socket
    /// buffers are not in RSS).
    pub(super) server_rss_per_connection_bytes: Option<f64>,
}

/// The result of `wskit bench connect`.
#[derive(Debug, Serialize)]
pub(super) struct ConnectReport {
    pub(super) scenario: &'static str,
    pub(super) url: String,
    /// Handshakes under way at once.
    pub(super) concurrency: usize,
    pub(super) warmup_seconds: f64,
    pub(super) duration_seconds: f64,
    /// Upgrades completed in the measured window.
    pub(super) handshakes: u64,
    pub(super) handshakes_per_second: f64,
    /// From starting the TCP connect to checking the `101` response.
    pub(super) handshake_us: Latency,
    pub(super) server_pid: Option<u32>,
    pub(super) server_cpu_seconds: Option<f64>,
    pub(super) handshakes_per_server_cpu_second: Option<f64>,
}

// ===== impl BroadcastReport =====

impl BroadcastReport {
    /// Prints the report on stdout: JSON, or a few lines for people.
    pub(super) fn print(&self, json: bool) -> anyhow::Result<()> {
        emit(self, json, |out| {
            writeln!(
                out,
                "broadcast {} ({}, published over {}): {} connections, {} B per message, \
                 {:.2} s after {:.2} s warm-up",
                self.url,
                self.protocol,
                self.publish,
                self.connections,
                self.size,
                self.duration_seconds,
                self.warmup_seconds,
            )?;
            writeln!(
                out,
                "  throughput  {:.0} deliveries/s ({} rounds, {} deliveries)",
                self.deliveries_per_second, self.rounds, self.deliveries,
            )?;
            let latency = &self.last_delivery_us;
            writeln!(
                out,
                "  last delivery p50 {:.1} us, p99 {:.1} us, max {:.1} us",
                latency.p50, latency.p99, latency.max,
            )?;
            server_line(
                out,
                self.server_pid,
                self.server_cpu_seconds,
                self.deliveries_per_server_cpu_second,
                "deliveries",
                self.server_peak_rss_bytes,
            )
        })
    }
}

// ===== impl IdleReport =====

impl IdleReport {
    /// Prints the report on stdout: JSON, or a few lines for people.
    pub(super) fn print(&self, json: bool) -> anyhow::Result<()> {
        emit(self, json, |out| {
            writeln!(
                out,
                "idle {} ({}{}): {} connections{} opened in {:.2} s, held {:.2} s, {} lost",
                self.url,
                self.protocol,
                if self.subscribed { ", subscribed" } else { "" },
                self.connections,
                match self.deflate {
                    Some(mode) => format!(
                        " (deflate {mode}, {} messages each)",
                        self.messages_per_connection
                    ),
                    None => String::new(),
                },
                self.open_seconds,
                self.hold_seconds,
                self.connections_lost,
            )?;
            if let (Some(pid), Some(before), Some(after), Some(per)) = (
                self.server_pid,
                self.server_rss_before_bytes,
                self.server_rss_after_bytes,
                self.server_rss_per_connection_bytes,
            ) {
                writeln!(
                    out,
                    "  server      pid {pid}: RSS {:.1} MiB -> {:.1} MiB, {per:.0} B per connection",
                    before as f64 / f64::from(1 << 20),
                    after as f64 / f64::from(1 << 20),
                )?;
            }
            Ok(())
        })
    }
}

// ===== impl ConnectReport =====

impl ConnectReport {
    /// Prints the report on stdout: JSON, or a few lines for people.
    pub(super) fn print(&self, json: bool) -> anyhow::Result<()> {
        emit(self, json, |out| {
            writeln!(
                out,
                "connect {}: {} at once, {:.2} s after {:.2} s warm-up",
                self.url, self.concurrency, self.duration_seconds, self.warmup_seconds,
            )?;
            writeln!(
                out,
                "  throughput  {:.0} handshakes/s ({} handshakes)",
                self.handshakes_per_second, self.handshakes,
            )?;
            let latency = &self.handshake_us;
            writeln!(
                out,
                "  handshake   p50 {:.1} us, p99 {:.1} us, max {:.1} us",
                latency.p50, latency.p99, latency.max,
            )?;
            server_line(
                out,
                self.server_pid,
                self.server_cpu_seconds,
                self.handshakes_per_server_cpu_second,
                "handshakes",
                None,
            )
        })
    }
}

/// Writes `report` as one JSON line, or runs `lines` to write it for people.
fn emit<T: Serialize>(
    report: &T,
    json: bool,
    lines: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, report)?;
        writeln!(out)?;
    } else {
        lines(&mut out)?;
    }
    Ok(out.flush()?)
}

/// The `server` line: CPU time, the per-CPU-second figure and, if known, the peak RSS.
fn server_line(
    out: &mut dyn std::io::Write,
    pid: Option<u32>,
    cpu: Option<f64>,
    per_cpu: Option<f64>,
    unit: &str,
    peak_rss: Option<u64>,
) -> std::io::Result<()> {
    let Some(pid) = pid else {
        return Ok(());
    };
    let cpu = cpu.unwrap_or_default();
    let per_cpu = per_cpu.map_or_else(|| "n/a".to_owned(), |rate| format!("{rate:.0}"));
    write!(
        out,
        "  server      pid {pid}: {cpu:.2} CPU-s, {per_cpu} {unit} per server CPU-second"
    )?;
    if let Some(rss) = peak_rss {
        write!(
            out,
            ", peak RSS {:.1} MiB (since start)",
            rss as f64 / f64::from(1 << 20)
        )?;
    }
    writeln!(out)
}
