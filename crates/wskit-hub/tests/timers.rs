//! Heartbeats and idle timeouts, on tokio's paused clock: a peer that stops answering pings is
//! dropped within interval + timeout; one that answers stays; an idle connection is closed.

mod common;

use std::time::Duration;

use common::*;
use tokio::time::Instant;
use wskit::Message;
use wskit_hub::{Connection, Hub, HubEvent, Idle, Service, ServiceOptions};

struct Quiet;

impl Service for Quiet {}

/// Keeps idle connections open once, then lets them close.
struct Patient;

impl Service for Patient {
    async fn on_idle(&self, conn: &Connection) -> Idle {
        let first = conn.get::<bool>().is_none();
        conn.insert(true);
        if first { Idle::KeepOpen } else { Idle::Close }
    }
}

/// The bound of a step on the paused clock (virtual time): far beyond the timers under test.
const VIRTUAL_LIMIT: Duration = Duration::from_secs(3600);

async fn closed(events: &mut wskit_hub::EventStream) -> (u16, String) {
    loop {
        let event = tokio::time::timeout(VIRTUAL_LIMIT, events.recv()).await;
        if let HubEvent::Closed { code, reason, .. } = event.expect("hung").unwrap() {
            return (code.into(), reason);
        }
    }
}

const INTERVAL: Duration = Duration::from_secs(20);
const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_answering_pings_is_dropped() {
    let hub = Hub::new();
    hub.register(
        "/a",
        Quiet,
        ServiceOptions::default().heartbeat(INTERVAL, TIMEOUT),
    )
    .unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();
    // A raw peer that completes the handshake, then never reads nor answers (half-open).
    let (mut raw, _) = Raw::connect_ws_to(addr, "/a", "").await;
    let start = Instant::now();
    let (code, reason) = closed(&mut events).await;
    let elapsed = start.elapsed();
    assert_eq!(code, 1006);
    assert!(reason.contains("heartbeat"), "{reason}");
    assert!(
        elapsed >= INTERVAL + TIMEOUT && elapsed < INTERVAL + TIMEOUT + Duration::from_secs(1),
        "dropped after {elapsed:?}"
    );
    // The peer got one ping, then the connection ended without a close frame.
    let ping = raw.read_frame().await.expect("a ping");
    assert_eq!(ping.opcode, 0x9);
    assert!(raw.read_frame().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_answers_pings_stays_connected() {
    let hub = Hub::new();
    hub.register(
        "/a",
        Quiet,
        ServiceOptions::default().heartbeat(INTERVAL, TIMEOUT),
    )
    .unwrap();
    let addr = serve(&hub).await;
    let mut ws = client(addr, "/a").await;
    let mut pings = 0;
    // The wskit client answers each ping as it receives it.
    while pings < 5 {
        match ws.recv().await.expect("the connection stays").unwrap() {
            Message::Ping(_) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(hub.connection_count(), 1);
    ws.close(wskit::CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_closed_after_the_service_lets_it() {
    let timeout = Duration::from_secs(60);
    let hub = Hub::new();
    hub.register(
        "/a",
        Patient,
        ServiceOptions::default().idle_timeout(timeout),
    )
    .unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();
    let mut ws = client(addr, "/a").await;
    let start = Instant::now();
    // Activity restarts the timer.
    tokio::time::sleep(Duration::from_secs(50)).await;
    ws.send(Message::text("still here")).await.unwrap();
    let close = loop {
        match tokio::time::timeout(VIRTUAL_LIMIT, ws.recv())
            .await
            .expect("hung")
        {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    let elapsed = start.elapsed();
    assert_eq!(close, Some(1000));
    // 50 s, then two idle periods (the first one kept open by the service).
    assert!(
        elapsed >= Duration::from_secs(170) && elapsed < Duration::from_secs(171),
        "closed after {elapsed:?}"
    );
    assert_eq!(closed(&mut events).await, (1000, "idle timeout".into()));
}
