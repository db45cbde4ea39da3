//! Backpressure with a client that stops reading: each policy (wait, drop, close), and a slow
//! consumer never slows the others.

mod common;

use bytes::Bytes;
use common::*;
use wskit::{CloseCode, Message};
use wskit_hub::{Backpressure, Connection, Hub, SendError, Service, ServiceOptions};

struct Quiet;

impl Service for Quiet {}

const SIZE: usize = 16 * 1024;
/// Far more than loopback socket buffers and the queue can hold together.
const MAX_MESSAGES: u32 = 20_000;

fn payload(seq: u32) -> Bytes {
    let mut data = vec![0u8; SIZE];
    data[..4].copy_from_slice(&seq.to_be_bytes());
    data.into()
}

fn seq(frame: &RawFrame) -> u32 {
    u32::from_be_bytes(frame.payload[..4].try_into().unwrap())
}

/// A hub with one service under `policy` (64 KiB queues), a raw client that does not read,
/// and the server side of its connection.
async fn setup(policy: Backpressure) -> (Hub, Raw, Connection) {
    let hub = Hub::new();
    let options = ServiceOptions::default()
        .backpressure(policy)
        .max_queued_bytes(64 * 1024);
    hub.register("/a", Quiet, options).unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();
    let (raw, _) = Raw::connect_ws_to(addr, "/a", "").await;
    within(events.recv()).await.unwrap();
    let conn = hub.connections(None).pop().unwrap();
    (hub, raw, conn)
}

/// Sends until the queue refuses; returns how many were taken and the refusal.
async fn fill(conn: &Connection) -> (u32, SendError) {
    for seq in 0..MAX_MESSAGES {
        if let Err(err) = conn.try_send(Message::Binary(payload(seq))) {
            return (seq, err);
        }
        // Let the driver move the queue into the socket until the socket is full too.
        tokio::task::yield_now().await;
    }
    panic!("{MAX_MESSAGES} messages of {SIZE} bytes were all taken by a client that never reads");
}

#[tokio::test]
async fn drop_policy_drops_and_counts_and_loses_nothing_it_took() {
    let (hub, mut raw, conn) = setup(Backpressure::Drop).await;
    let (taken, err) = fill(&conn).await;
    assert_eq!(err, SendError::Full);
    assert!(
        taken > 4,
        "the socket took some before the queue filled: {taken}"
    );
    assert_eq!(hub.stats().dropped, 1);
    assert!(conn.queued_bytes() <= 64 * 1024);
    // The client reads again: everything taken arrives, in order.
    for expected in 0..taken {
        let frame = within(raw.read_frame()).await.unwrap();
        assert_eq!(seq(&frame), expected);
    }
    // The connection is still open and takes messages again.
    conn.try_send(Message::text("after")).unwrap();
    assert_eq!(within(raw.read_frame()).await.unwrap().payload, b"after");
}

#[tokio::test]
async fn close_policy_closes_the_slow_connection_with_its_code() {
    let (hub, mut raw, conn) = setup(Backpressure::Close(CloseCode::POLICY_VIOLATION)).await;
    let mut events = hub.events();
    let (taken, err) = fill(&conn).await;
    assert_eq!(err, SendError::Closed);
    assert_eq!(conn.try_send(Message::text("x")), Err(SendError::Closed));
    for expected in 0..taken {
        assert_eq!(seq(&within(raw.read_frame()).await.unwrap()), expected);
    }
    let close = within(raw.read_frame()).await.unwrap();
    assert_eq!(close.close_code(), Some(1008));
    raw.write(&client_frame(0x8, &close.payload)).await;
    loop {
        if let wskit_hub::HubEvent::Closed { code, .. } = within(events.recv()).await.unwrap() {
            assert_eq!(u16::from(code), 1008);
            break;
        }
    }
    assert_eq!(hub.stats().dropped, 1);
}

#[tokio::test]
async fn wait_policy_makes_send_wait_until_the_client_reads() {
    let (_hub, mut raw, conn) = setup(Backpressure::Wait).await;
    let (taken, err) = fill(&conn).await;
    assert_eq!(err, SendError::Full, "try_send never waits");
    // `taken` was refused by try_send; send it again, waiting this time.
    let sender = conn.clone();
    let waiting = tokio::spawn(async move { sender.send(Message::Binary(payload(taken))).await });
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(
        !waiting.is_finished(),
        "send must wait while the queue is full"
    );
    for expected in 0..=taken {
        assert_eq!(seq(&within(raw.read_frame()).await.unwrap()), expected);
    }
    within(waiting).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_send_waiting_for_room_fails_when_the_connection_ends() {
    let (_hub, _raw, conn) = setup(Backpressure::Wait).await;
    let (taken, _) = fill(&conn).await;
    let sender = conn.clone();
    let waiting = tokio::spawn(async move { sender.send(Message::Binary(payload(taken))).await });
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!waiting.is_finished(), "send waits while the queue is full");
    conn.hangup();
    assert_eq!(within(waiting).await.unwrap(), Err(SendError::Closed));
}

#[tokio::test]
async fn a_slow_consumer_never_slows_the_others() {
    let hub = Hub::new();
    let options = ServiceOptions::default().max_queued_bytes(64 * 1024);
    hub.register("/a", Quiet, options).unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();
    let (_slow, _) = Raw::connect_ws_to(addr, "/a", "").await;
    let mut fast = client(addr, "/a").await;
    for _ in 0..2 {
        within(events.recv()).await.unwrap();
    }
    let count = 2_000;
    let mut full = 0;
    for seq in 0..count {
        let delivery = hub.broadcast("/a", Message::Binary(payload(seq)));
        full += delivery.dropped;
        let got = within(fast.recv_binary()).await.unwrap();
        assert_eq!(u32::from_be_bytes(got[..4].try_into().unwrap()), seq);
    }
    assert!(full > 0, "the slow client's queue filled");
    assert_eq!(hub.stats().dropped, full as u64);
}
