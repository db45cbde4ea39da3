//! Services on paths: events in order, routing (404, unregister, base + upgrade path), closure
//! routes, connection handles (id, state, subprotocol, request, typed state, close, hang-up),
//! limits, and a panicking handler.

mod common;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::*;
use tokio::sync::mpsc;
use wskit::{CloseCode, Message, Utf8Bytes};
use wskit_hub::{Connection, Hub, ReadyState, Service, ServiceOptions, join_path};

/// Records every event it sees, in order, and answers some messages.
struct Recorder {
    tx: mpsc::UnboundedSender<String>,
}

impl Service for Recorder {
    async fn on_open(&self, conn: &Connection) {
        let _ = self.tx.send(format!("open {}", conn.path()));
    }
    async fn on_text(&self, conn: &Connection, text: Utf8Bytes) {
        let _ = self.tx.send(format!("text {}", text.as_str()));
        match text.as_str() {
            "close" => conn.close(CloseCode::from(4000), "asked to"),
            "hangup" => conn.hangup(),
            "panic" => panic!("a handler bug"),
            "whoami" => {
                let reply = format!(
                    "{} {:?} {} {:?} {:?}",
                    conn.id(),
                    conn.protocol(),
                    conn.version(),
                    conn.request().query_param("room"),
                    conn.request().header("x-client"),
                );
                conn.send_text(reply).await.unwrap();
            }
            _ => conn.send_text(text).await.unwrap(),
        }
    }
    async fn on_binary(&self, conn: &Connection, data: Bytes) {
        let _ = self.tx.send(format!("binary {}", data.len()));
        conn.send_binary(data).await.unwrap();
    }
    async fn on_ping(&self, _conn: &Connection, payload: Bytes) {
        let _ = self
            .tx
            .send(format!("ping {}", String::from_utf8_lossy(&payload)));
    }
    async fn on_pong(&self, _conn: &Connection, payload: Bytes) {
        let _ = self
            .tx
            .send(format!("pong {}", String::from_utf8_lossy(&payload)));
    }
    async fn on_close(&self, conn: &Connection, code: CloseCode, reason: &str) {
        assert_eq!(conn.ready_state(), ReadyState::Closed);
        assert!(conn.send_text("too late").await.is_err());
        let _ = self.tx.send(format!("close {code} {reason}"));
    }
    async fn on_error(&self, _conn: &Connection, error: &wskit::Error) {
        let _ = self.tx.send(format!("error {error}"));
    }
}

fn recorder() -> (Recorder, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Recorder { tx }, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    within(rx.recv()).await.expect("an event")
}

#[tokio::test]
async fn events_arrive_in_order_and_the_close_code_is_reported() {
    let hub = Hub::new();
    let (service, mut events) = recorder();
    hub.register("/chat", service, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;

    let mut ws = client(addr, "/chat").await;
    assert_eq!(next(&mut events).await, "open /chat");
    for i in 0..20 {
        ws.queue(Message::text(format!("m{i}"))).unwrap();
    }
    ws.flush().await.unwrap();
    for i in 0..20 {
        assert_eq!(text(&mut ws).await, format!("m{i}"));
        assert_eq!(next(&mut events).await, format!("text m{i}"));
    }
    ws.send(Message::binary(vec![7u8; 3000])).await.unwrap();
    assert_eq!(within(ws.recv_binary()).await.unwrap().len(), 3000);
    assert_eq!(next(&mut events).await, "binary 3000");
    ws.ping("hello").await.unwrap();
    assert_eq!(next(&mut events).await, "ping hello");
    ws.send(Message::Pong(Bytes::from_static(b"unasked")))
        .await
        .unwrap();
    assert_eq!(next(&mut events).await, "pong unasked");
    ws.close(CloseCode::from(4001), "client done")
        .await
        .unwrap();
    assert_eq!(next(&mut events).await, "close 4001 client done");
    assert_eq!(hub.connection_count(), 0);
}

#[tokio::test]
async fn an_unknown_path_is_404_before_any_upgrade_and_unregister_works_at_run_time() {
    let hub = Hub::new();
    let (service, _events) = recorder();
    hub.register("/a", service, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;

    let response = within(Raw::request(addr, "/nope", "")).await;
    assert_eq!(response.status, 404, "{response:?}");
    assert_eq!(hub.stats().connections_rejected, 1);

    let mut ws = client(addr, "/a").await;
    assert!(hub.unregister("/a"));
    assert!(!hub.unregister("/a"));
    assert_eq!(within(Raw::request(addr, "/a", "")).await.status, 404);
    // The connection that was open stays open.
    ws.send(Message::text("still here")).await.unwrap();
    assert_eq!(text(&mut ws).await, "still here");
    assert_eq!(hub.paths(), Vec::<String>::new());
}

#[tokio::test]
async fn a_plain_get_on_a_service_path_is_426() {
    let hub = Hub::new();
    hub.register("/a", recorder().0, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let mut raw = Raw::connect(addr).await;
    raw.write(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let response = within(raw.read_response()).await;
    assert_eq!(response.status, 426);
    assert_eq!(response.header("sec-websocket-version"), Some("13"));
}

#[tokio::test]
async fn registration_rejects_taken_and_invalid_paths_and_joins_base_paths() {
    let hub = Hub::new();
    let path = join_path("/test", "/websocket");
    hub.register(&path, recorder().0, ServiceOptions::default())
        .unwrap();
    assert!(matches!(
        hub.register(&path, recorder().0, ServiceOptions::default()),
        Err(wskit_hub::Error::PathTaken(_))
    ));
    assert!(matches!(
        hub.register("relative", recorder().0, ServiceOptions::default()),
        Err(wskit_hub::Error::InvalidPath(_))
    ));
    let addr = serve(&hub).await;
    let mut ws = client(addr, "/test/websocket").await;
    ws.send(Message::text("x")).await.unwrap();
    assert_eq!(text(&mut ws).await, "x");
}

#[tokio::test]
async fn handles_tell_id_protocol_version_request_and_keep_typed_state() {
    let hub = Hub::new();
    let (service, mut events) = recorder();
    hub.register(
        "/chat",
        service,
        ServiceOptions::default().protocols(["chat.v2", "chat.v1"]),
    )
    .unwrap();
    let addr = serve(&hub).await;
    let client_a = wskit::Client::new(format!("ws://{addr}/chat?room=blue"))
        .protocols(["chat.v1"])
        .header("X-Client", "tests");
    let (mut a, negotiated) = within(client_a.connect()).await.unwrap();
    assert_eq!(negotiated.protocol.as_deref(), Some("chat.v1"));
    let mut b = client(addr, "/chat").await;
    next(&mut events).await;
    next(&mut events).await;

    a.send(Message::text("whoami")).await.unwrap();
    let reply = text(&mut a).await;
    let id_a = reply.split(' ').next().unwrap().to_owned();
    assert_eq!(
        &reply[id_a.len()..],
        r#" Some("chat.v1") 13 Some("blue") Some("tests")"#
    );
    b.send(Message::text("whoami")).await.unwrap();
    let id_b = text(&mut b).await.split(' ').next().unwrap().to_owned();
    assert_ne!(id_a, id_b, "ids are unique");
    assert_eq!(id_a.len(), 32);

    let conn = hub.connection(&id_a).expect("found by id");
    assert_eq!(conn.ready_state(), ReadyState::Open);
    assert_eq!(conn.protocol(), Some("chat.v1"));
    assert!(conn.request().peer_addr().unwrap().ip().is_loopback());
    assert_eq!(conn.extensions(), &["permessage-deflate"]);
    assert_eq!(conn.insert(41u32), None);
    conn.with(|n: &mut u32| *n += 1);
    assert_eq!(conn.get::<u32>(), Some(42));
    assert_eq!(conn.remove::<u32>(), Some(42));
    assert_eq!(conn.get::<u32>(), None);
    assert_eq!(hub.connections(Some("/chat")).len(), 2);
    assert_eq!(hub.connections(Some("/other")).len(), 0);
}

#[tokio::test]
async fn close_from_the_service_sends_the_code_and_reason() {
    let hub = Hub::new();
    let (service, mut events) = recorder();
    hub.register("/chat", service, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let mut ws = client(addr, "/chat").await;
    ws.send(Message::text("close")).await.unwrap();
    let frame = loop {
        match within(ws.recv()).await.expect("a message").unwrap() {
            Message::Close(frame) => break frame.expect("a close frame with a code"),
            _ => continue,
        }
    };
    assert_eq!(
        (u16::from(frame.code), frame.reason.as_str()),
        (4000, "asked to")
    );
    assert!(within(ws.recv()).await.is_none());
    assert_eq!(next(&mut events).await, "open /chat");
    assert_eq!(next(&mut events).await, "text close");
    assert_eq!(next(&mut events).await, "close 4000 asked to");
}

#[tokio::test]
async fn hangup_drops_the_connection_without_a_close_frame() {
    let hub = Hub::new();
    let (service, mut events) = recorder();
    hub.register("/chat", service, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let (mut raw, _) = Raw::connect_ws_to(addr, "/chat", "").await;
    raw.write(&client_frame(0x1, b"hangup")).await;
    // The stream ends with no close frame at all.
    assert_eq!(within(raw.read_to_end()).await, Vec::<u8>::new());
    assert_eq!(next(&mut events).await, "open /chat");
    assert_eq!(next(&mut events).await, "text hangup");
    assert_eq!(next(&mut events).await, "close 1006 hung up");
}

#[tokio::test]
async fn a_panicking_handler_closes_only_its_own_connection_with_1011() {
    let hub = Hub::new();
    let (service, _events) = recorder();
    hub.register("/chat", service, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let mut healthy = client(addr, "/chat").await;
    let mut victim = client(addr, "/chat").await;
    victim.send(Message::text("panic")).await.unwrap();
    assert_eq!(close_code(&mut victim).await, Some(1011));
    healthy.send(Message::text("alive")).await.unwrap();
    assert_eq!(text(&mut healthy).await, "alive");
}

#[tokio::test]
async fn a_message_over_the_limit_closes_with_1009_and_reports_an_error() {
    let hub = Hub::new();
    let (service, mut events) = recorder();
    let options = ServiceOptions::default().config(wskit::Config::default().max_message_size(1000));
    hub.register("/chat", service, options).unwrap();
    let addr = serve(&hub).await;
    let mut hub_events = hub.events();
    let mut ws = client(addr, "/chat").await;
    ws.send(Message::binary(vec![0u8; 1001])).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1009));
    assert_eq!(next(&mut events).await, "open /chat");
    assert!(next(&mut events).await.starts_with("error "));
    assert!(next(&mut events).await.starts_with("close 1009 "));
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(within(hub_events.recv()).await.unwrap());
    }
    assert!(
        matches!(seen[0], wskit_hub::HubEvent::Received { .. }),
        "{seen:?}"
    );
    assert!(
        matches!(seen[1], wskit_hub::HubEvent::Failed { .. }),
        "{seen:?}"
    );
    assert!(
        matches!(seen[2], wskit_hub::HubEvent::Closed { code, .. } if u16::from(code) == 1009),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_closure_route_owns_its_connection() {
    let hub = Hub::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    hub.route_fn("/ws", ServiceOptions::default(), move |conn, mut inbox| {
        let record = Arc::clone(&record);
        async move {
            conn.send_text("Welcome to simple echo server")
                .await
                .unwrap();
            while let Some(msg) = inbox.recv().await {
                if msg.as_payload() == b"bye" {
                    break;
                }
                record.lock().unwrap().push(msg.clone());
                conn.send(msg).await.unwrap();
            }
        }
    })
    .unwrap();
    let addr = serve(&hub).await;
    let mut ws = client(addr, "/ws").await;
    assert_eq!(text(&mut ws).await, "Welcome to simple echo server");
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(text(&mut ws).await, "hi");
    ws.send(Message::binary(&b"\x01\x02"[..])).await.unwrap();
    assert_eq!(within(ws.recv_binary()).await.unwrap(), &b"\x01\x02"[..]);
    // When the handler returns, the connection is closed with 1000.
    ws.send(Message::text("bye")).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1000));
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_panicking_closure_route_closes_with_1011() {
    let hub = Hub::new();
    hub.route_fn(
        "/ws",
        ServiceOptions::default(),
        |_conn, mut inbox| async move {
            let _ = inbox.recv().await;
            panic!("a handler bug");
        },
    )
    .unwrap();
    let addr = serve(&hub).await;
    let mut ws = client(addr, "/ws").await;
    ws.send(Message::text("boom")).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1011));
}

#[tokio::test]
async fn ping_from_the_server_resolves_with_the_round_trip_time() {
    let hub = Hub::new();
    let (service, mut events) = recorder();
    hub.register("/chat", service, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let mut ws = client(addr, "/chat").await;
    next(&mut events).await;
    let conn = hub.connections(None).pop().unwrap();
    // The client answers pings while it receives.
    let reader = tokio::spawn(async move { while ws.recv().await.is_some() {} });
    let rtt = within(conn.ping("are you there?")).await.expect("a pong");
    assert!(rtt < LIMIT);
    assert_eq!(next(&mut events).await, "pong are you there?");
    conn.close(CloseCode::NORMAL, "");
    within(conn.closed()).await;
    assert_eq!(conn.ready_state(), ReadyState::Closed);
    assert!(conn.ping("late").await.is_err());
    within(reader).await.unwrap();
}
