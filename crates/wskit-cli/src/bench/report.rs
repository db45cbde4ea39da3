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
        writeln!(
            out,
            "echo {}: {} connections x {} in flight x {} B {kind}, {:.2} s after {:.2} s warm-up, \
             {} generator thread(s)",
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
