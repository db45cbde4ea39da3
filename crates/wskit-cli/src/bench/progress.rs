//! A progress bar on stderr for the longer runs, shown only when stderr is a terminal.

use std::cell::Cell;
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::server::ServerProbe;
use tokio::time::Instant;

/// A bar over a timed run (warm-up, then measuring) with the live rate of a counter, or over a
/// count (connections opened) when made with [`Progress::counting`].
#[derive(Debug)]
pub(super) struct Progress {
    bar: ProgressBar,
    mode: Mode,
    counter: Arc<AtomicU64>,
    unit: &'static str,
    last: Cell<(Instant, u64)>,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Timed {
        start: Instant,
        measure_from: Instant,
    },
    Counting,
}

impl Progress {
    /// A bar from `start` to `end`, naming the phase before `measure_from` "warm-up"; `None`
    /// when stderr is not a terminal.
    pub(super) fn timed(
        start: Instant,
        measure_from: Instant,
        end: Instant,
        counter: &Arc<AtomicU64>,
        unit: &'static str,
    ) -> Option<Self> {
        let total = u64::try_from((end - start).as_millis()).unwrap_or(u64::MAX);
        Self::new(
            total,
            Mode::Timed {
                start,
                measure_from,
            },
            counter,
            unit,
        )
    }

    /// A bar that fills as `counter` goes to `total`; `None` when stderr is not a terminal.
    pub(super) fn counting(
        total: u64,
        counter: &Arc<AtomicU64>,
        unit: &'static str,
    ) -> Option<Self> {
        Self::new(total, Mode::Counting, counter, unit)
    }

    fn new(length: u64, mode: Mode, counter: &Arc<AtomicU64>, unit: &'static str) -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::new(length);
        bar.set_style(
            // The template is a constant, checked by the tests.
            ProgressStyle::with_template(PROGRESS_TEMPLATE)
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(Self {
            bar,
            mode,
            counter: counter.clone(),
            unit,
            last: Cell::new((Instant::now(), counter.load(Ordering::Relaxed))),
        })
    }

    /// Updates the position and the rate shown.
    pub(super) fn tick(&self) {
        let now = Instant::now();
        let count = self.counter.load(Ordering::Relaxed);
        let (then, before) = self.last.replace((now, count));
        let seconds = (now - then).as_secs_f64();
        let rate = if seconds > 0.0 {
            count.saturating_sub(before) as f64 / seconds
        } else {
            0.0
        };
        match self.mode {
            Mode::Timed {
                start,
                measure_from,
            } => {
                let phase = if now < measure_from {
                    "warm-up"
                } else {
                    "measuring"
                };
                self.bar
                    .set_message(format!("{phase}: {rate:.0} {}/s", self.unit));
                self.bar
                    .set_position(u64::try_from((now - start).as_millis()).unwrap_or(u64::MAX));
            }
            Mode::Counting => {
                self.bar
                    .set_message(format!("{count} {} ({rate:.0}/s)", self.unit));
                self.bar.set_position(count);
            }
        }
    }

    /// Removes the bar.
    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Sleeps until `deadline`, ticking the progress bar (if any) four times a second.
pub(super) async fn wait_until(deadline: Instant, progress: Option<&Progress>) {
    let Some(progress) = progress else {
        tokio::time::sleep_until(deadline).await;
        return;
    };
    loop {
        let next = deadline.min(Instant::now() + Duration::from_millis(250));
        tokio::time::sleep_until(next).await;
        progress.tick();
        if next >= deadline {
            return;
        }
    }
}

const PROGRESS_TEMPLATE: &str = "{spinner} [{bar:30}] {elapsed:>3} {msg}";

/// Runs the measured window: waits until `measure_from`, samples the server's CPU time, waits
/// until `end`, samples it again and finishes the progress bar. Returns the server CPU seconds
/// spent in the window (`None` without a probe).
pub(super) async fn measured_window(
    probe: Option<&ServerProbe>,
    measure_from: Instant,
    end: Instant,
    progress: Option<&Progress>,
) -> anyhow::Result<Option<f64>> {
    wait_until(measure_from, progress).await;
    let before = probe.map(ServerProbe::cpu_seconds).transpose()?;
    wait_until(end, progress).await;
    let after = probe.map(ServerProbe::cpu_seconds).transpose()?;
    if let Some(progress) = progress {
        progress.finish();
    }
    Ok(before.zip(after).map(|(before, after)| after - before))
}

/// `count` per server CPU-second, when the CPU time is known and not zero.
pub(super) fn per_cpu_second(count: u64, server_cpu_seconds: Option<f64>) -> Option<f64> {
    server_cpu_seconds
        .filter(|&cpu| cpu > 0.0)
        .map(|cpu| count as f64 / cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_template_is_valid() {
        assert!(ProgressStyle::with_template(PROGRESS_TEMPLATE).is_ok());
    }
}
