//! `/metrics` of `wskit serve`: every series has its HELP and TYPE, the build and process series
//! are there, the latency histograms fill, and Prometheus's own checker (`promtool check
//! metrics`, Debian's `prometheus` package, installed by scripts/test.sh) finds nothing.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::json;

mod support;
use support::{Client, Server, http};

/// The page after a connection opened (a handshake), a broadcast (a delivery) and a close.
async fn scrape_after_traffic() -> String {
    let server = Server::start(&[]);
    let mut client = Client::connect(&server).await;
    let joined = client
        .call(json!({"type": "join", "group": "room", "ref": 1}))
        .await;
    assert_eq!(joined["type"], "ack", "{joined}");
    let sent = http(
        server.addr,
        "POST",
        "/api/broadcast",
        None,
        Some(r#"{"data": "hello"}"#),
    )
    .await;
    assert_eq!(sent.status, 200, "{sent:?}");
    let got = client.recv().await;
    assert_eq!(got["data"], "hello", "{got}");
    let metrics = http(server.addr, "GET", "/metrics", None, None).await;
    assert_eq!(metrics.status, 200, "{metrics:?}");
    metrics.body
}

#[tokio::test]
async fn every_series_is_described_and_promtool_is_satisfied() {
    let page = scrape_after_traffic().await;

    // Every family that has samples has a HELP and a TYPE line.
    let mut described = BTreeSet::new();
    let mut typed = BTreeSet::new();
    let mut sampled = BTreeSet::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            described.insert(rest.split(' ').next().unwrap_or_default().to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.insert(rest.split(' ').next().unwrap_or_default().to_owned());
        } else if !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    let base = name.strip_suffix(suffix)?;
                    typed.contains(base).then_some(base)
                })
                .unwrap_or(name);
            sampled.insert(family.to_owned());
        }
    }
    for family in &sampled {
        assert!(described.contains(family), "no HELP for {family}:\n{page}");
        assert!(typed.contains(family), "no TYPE for {family}:\n{page}");
    }
    for family in [
        "wskit_build_info",
        "wskit_connections_open",
        "wskit_connections_accepted_total",
        "wskit_handshake_duration_seconds",
        "wskit_delivery_duration_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(sampled.contains(family), "{family} is missing:\n{page}");
    }
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        page.contains(&format!("wskit_build_info{{version=\"{version}\"}} 1")),
        "{page}"
    );
    assert!(
        page.contains("# TYPE wskit_handshake_duration_seconds histogram")
            && page.contains("wskit_handshake_duration_seconds_count 1"),
        "one handshake, counted in a histogram:\n{page}"
    );
    assert!(
        page.contains("# TYPE wskit_delivery_duration_seconds histogram")
            && page.contains("wskit_delivery_duration_seconds_bucket{le=\"+Inf\"}"),
        "the broadcast's delivery, in a histogram:\n{page}"
    );

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool (Debian's prometheus package; scripts/test.sh installs it)");
    promtool
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(page.as_bytes())
        .expect("write the page to promtool");
    let checked = promtool.wait_with_output().expect("wait for promtool");
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}\n{page}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
