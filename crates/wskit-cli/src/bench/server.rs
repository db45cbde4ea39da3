//! What the server under test spends, read from `/proc/PID/stat` and `/proc/PID/status`
//! (Linux only; see proc_pid_stat(5) and proc_pid_status(5)).

use std::process::Command;

use anyhow::{Context as _, ensure};

/// The server process, whose CPU time and peak RSS the report includes.
#[derive(Debug)]
pub(super) struct ServerProbe {
    pid: u32,
    ticks_per_second: f64,
}

impl ServerProbe {
    /// Checks that `pid` can be read and learns the clock tick rate (`getconf CLK_TCK`).
    pub(super) fn new(pid: u32) -> anyhow::Result<Self> {
        let probe = Self {
            pid,
            ticks_per_second: clock_ticks_per_second(),
        };
        probe
            .cpu_seconds()
            .with_context(|| format!("reading the CPU time of server process {pid}"))?;
        Ok(probe)
    }

    /// The pid given to [`ServerProbe::new`].
    pub(super) fn pid(&self) -> u32 {
        self.pid
    }

    /// User plus system CPU time of every thread of the server so far, in seconds (10 ms
    /// resolution at the usual 100 ticks per second).
    pub(super) fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let path = format!("/proc/{}/stat", self.pid);
        let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let ticks = parse_cpu_ticks(&stat).with_context(|| format!("parsing {path}"))?;
        Ok(ticks as f64 / self.ticks_per_second)
    }

    /// The server's resident set size now (`VmRSS`) in bytes.
    pub(super) fn rss_bytes(&self) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let kib = parse_status_kib(&status, "VmRSS").with_context(|| format!("parsing {path}"))?;
        Ok(kib * 1024)
    }

    /// The server's peak resident set size (`VmHWM`) in bytes: the peak since the process
    /// started, not over the measured window.
    pub(super) fn peak_rss_bytes(&self) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let kib = parse_status_kib(&status, "VmHWM").with_context(|| format!("parsing {path}"))?;
        Ok(kib * 1024)
    }
}

/// `utime + stime` in clock ticks from the text of `/proc/PID/stat`.
fn parse_cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    // Field 2, the command name, is in parentheses and may hold spaces and parentheses itself;
    // the fields after its last `)` start with field 3 (state), so utime (14) and stime (15)
    // are the 12th and 13th of them.
    let (_, after_name) = stat
        .rsplit_once(')')
        .context("no `)` after the command name")?;
    let mut fields = after_name.split_whitespace().skip(11);
    let mut next_ticks = |name: &str| -> anyhow::Result<u64> {
        fields
            .next()
            .with_context(|| format!("no {name} field"))?
            .parse()
            .with_context(|| format!("{name} is not a number"))
    };
    let utime = next_ticks("utime")?;
    let stime = next_ticks("stime")?;
    Ok(utime + stime)
}

/// A `Name:   1234 kB` line of `/proc/PID/status`, in KiB.
fn parse_status_kib(status: &str, name: &str) -> anyhow::Result<u64> {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .with_context(|| format!("no {name} line"))?;
    let mut words = line.split_whitespace();
    let value = words.next().with_context(|| format!("{name} is empty"))?;
    ensure!(words.next() == Some("kB"), "{name} is not in kB");
    value
        .parse()
        .with_context(|| format!("{name} is not a number"))
}

/// Clock ticks per second for `/proc/PID/stat`, from `getconf CLK_TCK`; 100 (the value on
/// every mainstream Linux architecture) when that fails.
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok()?.trim().parse().ok())
        .filter(|&ticks: &f64| ticks > 0.0)
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_survive_odd_command_names() {
        let stat = "4242 (my (odd) srv) S 1 4242 4242 0 -1 4194560 167 0 0 0 31 9 0 0 20 0 1 0 \
                    123 4567 89 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat).unwrap(), 40);
        assert!(parse_cpu_ticks("4242 (srv) S 1 2").is_err());
    }

    #[test]
    fn status_lines_parse_in_kib() {
        let status = "Name:\twskit\nVmPeak:\t  20000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t 4000 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM").unwrap(), 5120);
        assert!(parse_status_kib(status, "VmSwap").is_err());
    }

    #[test]
    fn probing_this_process_works() {
        let probe = ServerProbe::new(std::process::id()).unwrap();
        assert!(probe.cpu_seconds().unwrap() >= 0.0);
        assert!(probe.peak_rss_bytes().unwrap() > 0);
        assert!(probe.rss_bytes().unwrap() > 0);
    }
}
