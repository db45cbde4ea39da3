//! The registry over real sockets: broadcast to a service, stored names, groups, cleanup after
//! an abrupt disconnect, and the event stream.

mod common;

use common::*;
use wskit::{CloseCode, Message};
use wskit_hub::{Connection, Hub, HubEvent, SendError, Service, ServiceOptions};

/// Answers nothing; the tests drive the hub directly.
struct Quiet;

impl Service for Quiet {}

/// Waits for `n` Received events and returns the connections' ids, in order.
async fn opened(events: &mut wskit_hub::EventStream, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    while ids.len() < n {
        if let HubEvent::Received { id, .. } = within(events.recv()).await.unwrap() {
            ids.push(id.to_string());
        }
    }
    ids
}

async fn closed(events: &mut wskit_hub::EventStream) -> (String, u16) {
    loop {
        if let HubEvent::Closed { id, code, .. } = within(events.recv()).await.unwrap() {
            return (id.to_string(), code.into());
        }
    }
}

fn conn(hub: &Hub, id: &str) -> Connection {
    hub.connection(id).expect("an open connection")
}

#[tokio::test]
async fn broadcast_reaches_every_connection_of_the_service_and_no_other() {
    let hub = Hub::new();
    hub.register("/a", Quiet, ServiceOptions::default())
        .unwrap();
    hub.register("/b", Quiet, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();
    let mut a1 = client(addr, "/a").await;
    let mut a2 = client(addr, "/a").await;
    let mut b = client(addr, "/b").await;
    opened(&mut events, 3).await;

    let delivery = hub.broadcast("/a", Message::text("to a"));
    assert_eq!((delivery.delivered, delivery.dropped), (2, 0));
    assert_eq!(text(&mut a1).await, "to a");
    assert_eq!(text(&mut a2).await, "to a");
    assert_eq!(hub.broadcast_all(Message::text("to all")).delivered, 3);
    assert_eq!(
        text(&mut b).await,
        "to all",
        "b got only the second message"
    );
    assert_eq!(text(&mut a1).await, "to all");
    assert_eq!(hub.broadcast("/nobody", Message::text("x")).delivered, 0);
    // Control messages are not broadcast.
    assert_eq!(
        hub.broadcast_all(Message::Ping(Default::default()))
            .delivered,
        0
    );
}

#[tokio::test]
async fn stored_names_push_replace_and_remove() {
    let hub = Hub::new();
    hub.register("/a", Quiet, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();
    let mut first = client(addr, "/a").await;
    let mut second = client(addr, "/a").await;
    let ids = opened(&mut events, 2).await;

    assert!(hub.store("alice", &conn(&hub, &ids[0])));
    hub.send_to_name("alice", Message::text("hello alice"))
        .unwrap();
    assert_eq!(text(&mut first).await, "hello alice");
    // The same name again replaces the first connection.
    assert!(hub.store("alice", &conn(&hub, &ids[1])));
    hub.send_to_name("alice", Message::text("hello again"))
        .unwrap();
    assert_eq!(text(&mut second).await, "hello again");
    assert_eq!(
        hub.memberships(&conn(&hub, &ids[0])).1,
        Vec::<String>::new()
    );
    assert_eq!(hub.named("alice").unwrap().id().as_str(), ids[1]);
    // By id too.
    hub.send_to(&ids[0], Message::text("by id")).unwrap();
    assert_eq!(text(&mut first).await, "by id");
    hub.send_to("alice", Message::text("by name")).unwrap();
    assert_eq!(text(&mut second).await, "by name");

    // try_store does not take a name held by another open connection.
    assert!(!hub.try_store("alice", &conn(&hub, &ids[0])));
    assert!(
        hub.try_store("alice", &conn(&hub, &ids[1])),
        "the holder keeps it"
    );
    assert!(hub.try_store("carol", &conn(&hub, &ids[0])));
    assert_eq!(hub.named("carol").unwrap().id().as_str(), ids[0]);

    assert!(hub.remove_name("alice"));
    assert!(!hub.remove_name("alice"));
    assert_eq!(
        hub.send_to_name("alice", Message::text("gone")),
        Err(SendError::NotFound)
    );
    assert_eq!(
        hub.send_to("nobody", Message::text("x")),
        Err(SendError::NotFound)
    );
    assert_eq!(hub.names().len(), 1);
}

#[tokio::test]
async fn groups_add_push_remove_and_delete() {
    let hub = Hub::new();
    hub.register("/a", Quiet, ServiceOptions::default())
        .unwrap();
    hub.register("/b", Quiet, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();
    let mut x = client(addr, "/a").await;
    let mut y = client(addr, "/b").await;
    let mut z = client(addr, "/a").await;
    let ids = opened(&mut events, 3).await;

    // Groups span services.
    assert!(hub.join("room", &conn(&hub, &ids[0])));
    assert!(hub.join("room", &conn(&hub, &ids[1])));
    assert!(!hub.join("room", &conn(&hub, &ids[1])), "already a member");
    assert!(hub.join("other", &conn(&hub, &ids[2])));
    assert_eq!(hub.groups(), vec![("other".into(), 1), ("room".into(), 2)]);

    assert_eq!(
        hub.send_to_group("room", Message::text("to room"))
            .delivered,
        2
    );
    assert_eq!(text(&mut x).await, "to room");
    assert_eq!(text(&mut y).await, "to room");

    assert!(hub.leave("room", &conn(&hub, &ids[0])));
    assert!(!hub.leave("room", &conn(&hub, &ids[0])));
    assert_eq!(
        hub.send_to_group("room", Message::text("second")).delivered,
        1
    );
    assert_eq!(text(&mut y).await, "second");

    assert_eq!(hub.remove_group("room"), Some(1));
    assert_eq!(hub.remove_group("room"), None);
    assert_eq!(
        hub.send_to_group("room", Message::text("nobody")).delivered,
        0
    );
    assert_eq!(hub.groups(), vec![("other".into(), 1)]);
    // Removing a group leaves its connections open.
    hub.send_to(&ids[1], Message::text("still open")).unwrap();
    assert_eq!(text(&mut y).await, "still open");
    hub.send_to_group("other", Message::text("z"))
        .delivered
        .eq(&1)
        .then_some(())
        .unwrap();
    assert_eq!(text(&mut z).await, "z");
    // x got nothing after it left: the next thing it sees is this.
    hub.send_to(&ids[0], Message::text("x only")).unwrap();
    assert_eq!(text(&mut x).await, "x only");
}

#[tokio::test]
async fn names_and_groups_are_cleaned_up_after_an_abrupt_disconnect() {
    let hub = Hub::new();
    hub.register("/a", Quiet, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();
    let (raw, _) = Raw::connect_ws_to(addr, "/a", "").await;
    let mut stays = client(addr, "/a").await;
    let ids = opened(&mut events, 2).await;
    let gone = conn(&hub, &ids[0]);
    hub.store("bob", &gone);
    hub.join("room", &gone);
    hub.join("room", &conn(&hub, &ids[1]));
    hub.join("solo", &gone);

    drop(raw); // no close frame: the TCP connection just goes away
    assert_eq!(closed(&mut events).await, (ids[0].clone(), 1006));
    assert!(hub.named("bob").is_none());
    assert_eq!(hub.members("room").len(), 1);
    assert_eq!(
        hub.groups(),
        vec![("room".into(), 1)],
        "empty groups go away"
    );
    assert!(hub.connection(&ids[0]).is_none());
    assert_eq!(gone.ready_state(), wskit_hub::ReadyState::Closed);
    assert_eq!(gone.try_send(Message::text("x")), Err(SendError::Closed));
    assert_eq!(
        hub.send_to_group("room", Message::text("left")).delivered,
        1
    );
    assert_eq!(text(&mut stays).await, "left");
    assert_eq!(hub.stats().connections_open, 1);
}

#[tokio::test]
async fn the_event_stream_reports_received_closed_and_failed() {
    let hub = Hub::new();
    hub.register("/a", Quiet, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();

    let mut ws = client(addr, "/a").await;
    let id = opened(&mut events, 1).await.remove(0);
    ws.close(CloseCode::GOING_AWAY, "bye").await.unwrap();
    match within(events.recv()).await.unwrap() {
        HubEvent::Closed {
            id: closed,
            code,
            reason,
        } => {
            assert_eq!(closed.as_str(), id);
            assert_eq!((u16::from(code), reason.as_str()), (1001, "bye"));
        }
        other => panic!("expected Closed, got {other:?}"),
    }

    // A protocol violation: an unmasked frame from a client.
    let (mut raw, _) = Raw::connect_ws_to(addr, "/a", "").await;
    let id = opened(&mut events, 1).await.remove(0);
    raw.write(&server_frame(0x1, b"unmasked")).await;
    match within(events.recv()).await.unwrap() {
        HubEvent::Failed { id: failed, error } => {
            assert_eq!(failed.as_str(), id);
            assert!(error.contains("mask"), "{error}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(closed(&mut events).await, (id, 1002));
    let frame = within(raw.read_frame()).await.expect("a close frame");
    assert_eq!(frame.close_code(), Some(1002));
}

#[tokio::test]
async fn a_slow_event_reader_lags_instead_of_blocking_connections() {
    let hub = Hub::with_options(wskit_hub::HubOptions::default().event_capacity(2));
    hub.register("/a", Quiet, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let mut never_read = hub.events();
    let mut watcher = hub.events();
    for _ in 0..5 {
        let mut ws = client(addr, "/a").await;
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        // Each connection ends; the unread stream does not hold anything up.
        loop {
            if let HubEvent::Closed { .. } = within(watcher.recv()).await.unwrap() {
                break;
            }
        }
    }
    assert!(matches!(
        within(never_read.recv()).await,
        Some(HubEvent::Lagged { missed: 8 })
    ));
}
