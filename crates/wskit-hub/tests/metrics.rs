//! The hub's counters through the `metrics` facade (one test: it installs the global
//! recorder).

mod common;

use common::*;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use wskit::{CloseCode, Message};
use wskit_hub::{Hub, Service, ServiceOptions};

/// A metric's name, labels and value.
type Metric = (String, Vec<(String, String)>, DebugValue);

struct Echo;

impl Service for Echo {
    async fn on_text(&self, conn: &wskit_hub::Connection, text: wskit::Utf8Bytes) {
        let _ = conn.send_text(text).await;
    }
}

#[tokio::test]
async fn counters_reach_the_metrics_recorder_and_stats() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let hub = Hub::new();
    hub.register("/echo", Echo, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();
    assert_eq!(within(Raw::request(addr, "/missing", "")).await.status, 404);
    let mut ws = client(addr, "/echo").await;
    ws.send(Message::text("one")).await.unwrap();
    ws.send(Message::text("two!")).await.unwrap();
    assert_eq!(text(&mut ws).await, "one");
    assert_eq!(text(&mut ws).await, "two!");
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    loop {
        if let wskit_hub::HubEvent::Closed { .. } = within(events.recv()).await.unwrap() {
            break;
        }
    }

    // A broadcast (to nobody now) records its delivery time.
    let _ = hub.broadcast("/echo", Message::text("to all"));

    let stats = hub.stats();
    assert_eq!(stats.connections_accepted, 1);
    assert_eq!(stats.connections_open, 0);
    assert_eq!(stats.connections_rejected, 1);
    assert_eq!((stats.messages_received, stats.bytes_received), (2, 7));
    assert_eq!(stats.messages_sent, 2);

    let snapshot = snapshotter.snapshot().into_vec();
    // Every series has a description and a unit (an exporter's HELP line).
    for (key, unit, description, _) in &snapshot {
        assert!(
            description.as_ref().is_some_and(|d| !d.is_empty()) && unit.is_some(),
            "{} has no description or unit",
            key.key().name()
        );
    }
    let metrics: Vec<Metric> = snapshot
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (key.name().to_owned(), labels, value)
        })
        .collect();
    let find = |name: &str, labels: &[(&str, &str)]| {
        metrics
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, v)| v)
            .unwrap_or_else(|| panic!("no metric {name} {labels:?} in {metrics:?}"))
    };
    assert_eq!(
        find("wskit_connections_accepted_total", &[]),
        &DebugValue::Counter(1)
    );
    assert_eq!(
        find("wskit_messages_received_total", &[]),
        &DebugValue::Counter(2)
    );
    assert_eq!(
        find("wskit_bytes_received_total", &[]),
        &DebugValue::Counter(7)
    );
    assert_eq!(
        find("wskit_messages_sent_total", &[]),
        &DebugValue::Counter(2)
    );
    assert_eq!(
        find("wskit_closes_total", &[("code", "1000")]),
        &DebugValue::Counter(1)
    );
    assert_eq!(
        find(
            "wskit_connections_rejected_total",
            &[("reason", "not_found")]
        ),
        &DebugValue::Counter(1)
    );
    assert!(matches!(
        find("wskit_connections_open", &[]),
        DebugValue::Gauge(g) if g.into_inner() == 0.0
    ));
    assert!(matches!(
        find("wskit_delivery_duration_seconds", &[]),
        DebugValue::Histogram(samples) if samples.len() == 1
    ));
}
