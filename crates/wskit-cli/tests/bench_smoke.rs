//! A smoke run of `wskit bench echo` against `wskit echo`: one second, four connections. It checks
//! that the harness works end to end, not how fast anything is.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

/// The server process, killed when the test ends, whether it passes or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn bench_echo_reports_throughput_latency_and_server_cpu() {
    let wskit = env!("CARGO_BIN_EXE_wskit");
    let mut server = Server(
        Command::new(wskit)
            .args(["echo", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting wskit echo"),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("reading the server's first line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    let pid = server.0.id().to_string();

    let output = Command::new(wskit)
        .args(["bench", "echo", "--url", &url])
        .args(["--duration", "1s", "--warmup", "0.2s"])
        .args(["--connections", "4", "--in-flight", "2", "--size", "20"])
        .args(["--json", "--server-pid", &pid])
        .output()
        .expect("running wskit bench echo");
    assert!(
        output.status.success(),
        "wskit bench echo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");

    assert_eq!(report["scenario"], "echo");
    assert_eq!(report["connections"], 4);
    assert!(report["messages"].as_u64().unwrap() > 0, "{report}");
    assert!(report["messages_per_second"].as_f64().unwrap() > 0.0);
    assert!(
        report["messages_per_server_cpu_second"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert!(report["server_peak_rss_bytes"].as_u64().unwrap() > 0);
    let latency = &report["latency_us"];
    for field in ["p50", "p99", "p99_9", "max", "mean"] {
        assert!(latency[field].as_f64().unwrap() > 0.0, "{field}: {report}");
    }
    assert!(latency["p50"].as_f64() <= latency["p99"].as_f64());
    assert!(latency["p99"].as_f64() <= latency["max"].as_f64());
}
