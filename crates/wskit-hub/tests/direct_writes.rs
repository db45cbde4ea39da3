//! Broadcasts written straight into an idle connection's socket (`Hub::serve` over plain
//! TCP): whole frames, in order with everything else the connection sends, also when the
//! socket takes only part of a frame; and the socket still closes with its connection.

mod common;

use bytes::Bytes;
use common::*;
use wskit::Message;
use wskit_hub::{Hub, Service, ServiceOptions};

struct Quiet;

impl Service for Quiet {}

/// A payload of a size that varies with `seq` (so that frames end at every offset of the
/// socket buffer), starting with `seq` and filled with a pattern of it.
fn payload(seq: u32) -> Bytes {
    let size = 4 + (seq as usize * 7919) % 6000;
    let mut data = vec![(seq % 251) as u8; size];
    data[..4].copy_from_slice(&seq.to_be_bytes());
    data.into()
}

#[tokio::test]
async fn broadcasts_and_sends_arrive_whole_and_in_order_through_a_full_socket() {
    const MESSAGES: u32 = 8_000;
    let hub = Hub::new();
    let options = ServiceOptions::default().max_queued_bytes(64 << 20);
    hub.register("/a", Quiet, options).unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();
    // A client that reads nothing until the end: about 24 MB, more than loopback socket
    // buffers hold, so direct writes meet a full socket and hand the rest to the queue.
    let (mut raw, _) = Raw::connect_ws_to(addr, "/a", "").await;
    within(events.recv()).await.unwrap();
    let conn = hub.connections(None).pop().unwrap();

    for seq in 0..MESSAGES {
        let msg = Message::Binary(payload(seq));
        // The first half only broadcasts, all written directly until the socket is full; the
        // second half mixes in sends through the queue.
        if seq >= MESSAGES / 2 && seq % 3 == 0 {
            conn.try_send(msg).unwrap();
        } else {
            let delivery = hub.broadcast("/a", msg);
            assert_eq!((delivery.delivered, delivery.dropped), (1, 0));
        }
        if seq >= MESSAGES / 2 && seq % 16 == 0 {
            // Let the driver write what is queued and park again, so that the next
            // broadcasts are written directly.
            tokio::task::yield_now().await;
        }
    }

    for seq in 0..MESSAGES {
        let frame = within(raw.read_frame()).await.expect("a frame");
        assert_eq!(frame.opcode, 0x2);
        assert_eq!(frame.payload, payload(seq).to_vec(), "message {seq}");
    }
    let stats = hub.stats();
    assert_eq!(stats.messages_sent, u64::from(MESSAGES));
}

#[tokio::test]
async fn a_hung_up_connection_closes_its_socket_while_handles_remain() {
    let hub = Hub::new();
    hub.register("/a", Quiet, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();
    let (mut raw, _) = Raw::connect_ws_to(addr, "/a", "").await;
    within(events.recv()).await.unwrap();
    let conn = hub.connections(None).pop().unwrap();
    // A broadcast written directly, then a hang-up: the socket closes although `conn` (and
    // so its queue) lives on.
    assert_eq!(hub.broadcast_all(Message::text("first")).delivered, 1);
    assert_eq!(within(raw.read_frame()).await.unwrap().payload, b"first");
    conn.hangup();
    assert!(
        within(raw.read_to_end()).await.is_empty(),
        "no close frame, just the end of the stream"
    );
    assert_eq!(hub.broadcast_all(Message::text("late")).delivered, 0);
    assert_eq!(
        conn.try_send(Message::text("late")),
        Err(wskit_hub::SendError::Closed)
    );
}
