//! Broadcasts written straight into an idle connection's socket (`Hub::serve` over plain
//! TCP): whole frames, in order with everything else the connection sends, also when the
//! socket takes only part of a frame; and the socket still closes with its connection.

mod common;

use bytes::Bytes;
use common::*;
use wskit::Message;
use wskit_hub::{Hub, HubOptions, Service, ServiceOptions};

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
    through_full_sockets(Hub::new(), 1, 8_000).await;
}

/// The same with several connections, whose direct writes go to the kernel as one batch
/// through io_uring (on by default), while their drivers run on another thread and take
/// their queues' locks now and then (so the fan-out meets locks it cannot take).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_direct_writes_arrive_whole_and_in_order_on_every_connection() {
    through_full_sockets(Hub::new(), 8, 3_000).await;
}

/// The differential half of the test above: without io_uring, the same deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_io_uring_every_connection_gets_the_same() {
    let hub = Hub::with_options(HubOptions::default().io_uring(false));
    through_full_sockets(hub, 8, 3_000).await;
}

/// `clients` connections that read nothing until the end get `messages` broadcasts and sends
/// of varied sizes (several MB each, more than loopback socket buffers hold, so direct writes
/// meet full sockets and hand the rest to the queues); then each must have every message, in
/// order.
async fn through_full_sockets(hub: Hub, clients: usize, messages: u32) {
    let options = ServiceOptions::default().max_queued_bytes(64 << 20);
    hub.register("/a", Quiet, options).unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();
    let mut raws = Vec::new();
    for _ in 0..clients {
        raws.push(Raw::connect_ws_to(addr, "/a", "").await.0);
        within(events.recv()).await.unwrap();
    }
    let conns = hub.connections(None);
    assert_eq!(conns.len(), clients);

    for seq in 0..messages {
        let msg = Message::Binary(payload(seq));
        // The first half only broadcasts, all written directly until the sockets are full;
        // the second half mixes in sends through the queues.
        if seq >= messages / 2 && seq % 3 == 0 {
            for conn in &conns {
                conn.try_send(msg.clone()).unwrap();
            }
        } else {
            let delivery = hub.broadcast("/a", msg);
            assert_eq!((delivery.delivered, delivery.dropped), (clients, 0));
        }
        if seq >= messages / 2 && seq % 16 == 0 {
            // Let the drivers write what is queued and park again, so that the next
            // broadcasts are written directly.
            tokio::task::yield_now().await;
        }
    }

    for (i, raw) in raws.iter_mut().enumerate() {
        for seq in 0..messages {
            let frame = within(raw.read_frame()).await.expect("a frame");
            assert_eq!(frame.opcode, 0x2);
            assert_eq!(
                frame.payload,
                payload(seq).to_vec(),
                "client {i}, message {seq}"
            );
        }
    }
    let stats = hub.stats();
    assert_eq!(stats.messages_sent, u64::from(messages) * clients as u64);
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

/// Several tasks broadcast at once, on a runtime of four threads, to the same connections
/// (some of which read slowly, so their sockets fill): every fan-out holds some connections'
/// locks while it tries others', and none may wait on another. Each connection gets every
/// message of every broadcaster, each broadcaster's in its order. (Three broadcasters on four
/// threads: were they to deadlock, the fourth thread would still fire `within`'s timeout.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_broadcasts_neither_deadlock_nor_reorder() {
    const BROADCASTERS: u32 = 3;
    const MESSAGES: u32 = 1_500;
    const CLIENTS: usize = 12;
    let hub = Hub::new();
    let options = ServiceOptions::default().max_queued_bytes(256 << 20);
    hub.register("/a", Quiet, options).unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();
    let mut raws = Vec::new();
    for _ in 0..CLIENTS {
        raws.push(Raw::connect_ws_to(addr, "/a", "").await.0);
        within(events.recv()).await.unwrap();
    }
    let broadcasters: Vec<_> = (0..BROADCASTERS)
        .map(|b| {
            let hub = hub.clone();
            tokio::spawn(async move {
                for seq in 0..MESSAGES {
                    // A broadcaster's messages: its number, then a payload of `payload(seq)`.
                    let mut data = vec![b as u8];
                    data.extend_from_slice(&payload(seq));
                    let delivery = hub.broadcast("/a", Message::Binary(data.into()));
                    assert_eq!((delivery.delivered, delivery.dropped), (CLIENTS, 0));
                    if seq % 64 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    // Half of the clients read while the broadcasts go on, the others only afterwards.
    let read_all = |mut raw: Raw| async move {
        let mut next = [0u32; BROADCASTERS as usize];
        for _ in 0..BROADCASTERS * MESSAGES {
            let frame = within(raw.read_frame()).await.expect("a frame");
            let b = usize::from(frame.payload[0]);
            assert_eq!(frame.payload[1..], payload(next[b])[..], "broadcaster {b}");
            next[b] += 1;
        }
        assert_eq!(next, [MESSAGES; BROADCASTERS as usize]);
    };
    let mut raws = raws.into_iter();
    let readers: Vec<_> = raws
        .by_ref()
        .take(CLIENTS / 2)
        .map(|raw| tokio::spawn(read_all(raw)))
        .collect();
    for broadcaster in broadcasters {
        within(broadcaster).await.unwrap();
    }
    for raw in raws {
        read_all(raw).await;
    }
    for reader in readers {
        within(reader).await.unwrap();
    }
}
