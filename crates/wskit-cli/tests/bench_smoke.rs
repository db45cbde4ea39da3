//! Smoke runs of `wskit bench` against `wskit echo` and `wskit serve`: about a second each, a
//! few connections. They check that the harness works end to end, not how fast anything is.

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

/// Starts `wskit ARGS` and reads the address from its first line (`... listening on URL ...`);
/// returns the server, its `ws://` URL and its pid.
fn start(args: &[&str]) -> (Server, String, String) {
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_wskit"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the server"),
    );
    let mut stdout = BufReader::new(server.0.stdout.take().expect("stdout is piped"));
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .expect("reading the server's first line");
    // Keep reading what else it prints, so that it never writes to a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let (_, rest) = line
        .split_once("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    let url = rest.split_whitespace().next().unwrap_or_default();
    let url = url.replacen("http://", "ws://", 1);
    let pid = server.0.id().to_string();
    (server, url, pid)
}

/// Runs `wskit bench ARGS --json` and parses its report.
fn bench(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_wskit"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .expect("running wskit bench");
    assert!(
        output.status.success(),
        "wskit bench {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

#[test]
fn bench_broadcast_reaches_every_member_of_a_wskit_serve_group() {
    // The benchmark's publisher sends as fast as the round trip allows: above the default
    // per-connection rate, which this test does not measure.
    let (_server, url, pid) = start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--message-rate",
        "1000000",
    ]);
    let url = format!("{}/ws", url.trim_end_matches('/'));
    let report = bench(&[
        "broadcast",
        "--protocol",
        "serve",
        "--url",
        &url,
        "--connections",
        "5",
        "--duration",
        "1s",
        "--warmup",
        "0.2s",
        "--server-pid",
        &pid,
    ]);
    assert_eq!(report["scenario"], "broadcast");
    assert_eq!(report["protocol"], "serve");
    let rounds = report["rounds"].as_u64().unwrap();
    assert!(rounds > 0, "{report}");
    assert_eq!(report["deliveries"].as_u64().unwrap(), rounds * 5);
    assert!(report["last_delivery_us"]["p50"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_broadcast_raw_reaches_every_connection_of_wskit_echo_broadcast() {
    let (_server, url, pid) = start(&["echo", "--broadcast", "--listen", "127.0.0.1:0"]);
    let report = bench(&[
        "broadcast",
        "--url",
        &url,
        "--connections",
        "5",
        "--duration",
        "1s",
        "--warmup",
        "0.2s",
        "--server-pid",
        &pid,
    ]);
    assert_eq!(report["protocol"], "raw");
    let rounds = report["rounds"].as_u64().unwrap();
    assert!(rounds > 0, "{report}");
    assert_eq!(report["deliveries"].as_u64().unwrap(), rounds * 5);
}

#[test]
fn bench_broadcast_says_so_when_the_server_does_not_broadcast() {
    let (_server, url, _pid) = start(&["echo", "--listen", "127.0.0.1:0"]);
    let output = Command::new(env!("CARGO_BIN_EXE_wskit"))
        .args(["bench", "broadcast", "--url", &url, "--connections", "3"])
        .args([
            "--duration",
            "1s",
            "--warmup",
            "0s",
            "--round-timeout",
            "0.3s",
        ])
        .output()
        .expect("running wskit bench");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("only 1 of 3 deliveries"), "{stderr}");
}

#[test]
fn bench_idle_weighs_the_server_per_connection() {
    let (_server, url, pid) = start(&["echo", "--listen", "127.0.0.1:0"]);
    let report = bench(&[
        "idle",
        "--url",
        &url,
        "--connections",
        "50",
        "--hold",
        "0.1s",
        "--server-pid",
        &pid,
    ]);
    assert_eq!(report["scenario"], "idle");
    assert_eq!(report["connections"], 50);
    assert_eq!(report["connections_lost"], 0, "{report}");
    assert!(report["server_rss_after_bytes"].as_u64().unwrap() > 0);
    assert!(
        report["server_rss_per_connection_bytes"].is_number(),
        "{report}"
    );
}

#[test]
fn bench_idle_protocol_serve_drops_the_welcome_of_wskit_serve() {
    let (_server, url, pid) = start(&["serve", "--listen", "127.0.0.1:0"]);
    let url = format!("{}/ws", url.trim_end_matches('/'));
    let idle = |protocol: &str| {
        bench(&[
            "idle",
            "--protocol",
            protocol,
            "--url",
            &url,
            "--connections",
            "20",
            "--hold",
            "0.3s",
            "--server-pid",
            &pid,
        ])
    };
    let report = idle("serve");
    assert_eq!(report["protocol"], "serve");
    assert_eq!(report["connections_lost"], 0, "{report}");
    assert!(
        report["server_rss_per_connection_bytes"].is_number(),
        "{report}"
    );
    // Without it, every welcome looks like a server that spoke when it should not have.
    let report = idle("raw");
    assert_eq!(report["protocol"], "raw");
    assert_eq!(report["connections_lost"], 20, "{report}");
}

#[test]
fn bench_idle_protocol_serve_counts_closed_connections_as_lost() {
    let (_server, url, _pid) =
        start(&["serve", "--listen", "127.0.0.1:0", "--idle-timeout", "0.2s"]);
    let url = format!("{}/ws", url.trim_end_matches('/'));
    let report = bench(&[
        "idle",
        "--protocol",
        "serve",
        "--url",
        &url,
        "--connections",
        "5",
        "--hold",
        "1s",
    ]);
    assert_eq!(report["connections_lost"], 5, "{report}");
}

#[test]
fn bench_connect_counts_handshakes() {
    let (_server, url, pid) = start(&["echo", "--listen", "127.0.0.1:0"]);
    let report = bench(&[
        "connect",
        "--url",
        &url,
        "--concurrency",
        "2",
        "--duration",
        "0.5s",
        "--warmup",
        "0.1s",
        "--server-pid",
        &pid,
    ]);
    assert_eq!(report["scenario"], "connect");
    assert!(report["handshakes"].as_u64().unwrap() > 0, "{report}");
    assert!(report["handshake_us"]["p99"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_echo_reports_throughput_latency_and_server_cpu() {
    let (_server, url, pid) = start(&["echo", "--listen", "127.0.0.1:0"]);
    let report = bench(&[
        "echo",
        "--url",
        &url,
        "--duration",
        "1s",
        "--warmup",
        "0.2s",
        "--connections",
        "4",
        "--in-flight",
        "2",
        "--size",
        "20",
        "--server-pid",
        &pid,
    ]);

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

#[test]
fn bench_echo_deflate_sends_and_checks_compressed_messages() {
    let (_server, url, pid) = start(&["echo", "--listen", "127.0.0.1:0"]);
    for mode in ["no-takeover", "takeover"] {
        let report = bench(&[
            "echo",
            "--url",
            &url,
            "--duration",
            "0.5s",
            "--warmup",
            "0.1s",
            "--connections",
            "3",
            "--in-flight",
            "2",
            "--size",
            "1024",
            "--text",
            "--deflate",
            mode,
            "--server-pid",
            &pid,
        ]);
        assert_eq!(report["deflate"], mode);
        assert!(report["messages"].as_u64().unwrap() > 0, "{report}");
        // JSON-like text compresses well: the generator sends far fewer bytes than 1 KiB.
        let compressed = report["compressed_size"].as_u64().unwrap();
        assert!(compressed > 0 && compressed < 512, "{report}");
    }
}

#[test]
fn bench_deflate_fails_clearly_when_the_server_declines() {
    let (_server, url, _pid) = start(&["echo", "--no-deflate", "--listen", "127.0.0.1:0"]);
    for scenario in ["echo", "idle"] {
        let output = Command::new(env!("CARGO_BIN_EXE_wskit"))
            .args(["bench", scenario, "--url", &url, "--connections", "1"])
            .arg("--deflate")
            .output()
            .expect("running wskit bench");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("did not accept permessage-deflate"),
            "{scenario}: {stderr}"
        );
    }
}

#[test]
fn bench_idle_deflate_weighs_compressed_connections_after_a_message() {
    let (_server, url, pid) = start(&["echo", "--listen", "127.0.0.1:0"]);
    let report = bench(&[
        "idle",
        "--url",
        &url,
        "--connections",
        "20",
        "--hold",
        "0.1s",
        "--deflate",
        "--messages",
        "2",
        "--server-pid",
        &pid,
    ]);
    assert_eq!(report["deflate"], "no-takeover");
    assert_eq!(report["messages_per_connection"], 2);
    assert_eq!(report["connections_lost"], 0, "{report}");
    assert!(
        report["server_rss_per_connection_bytes"].is_number(),
        "{report}"
    );
}
