//! What users of other WebSocket libraries rely on, through the hub: Kitura's
//! `drop(reason, description)` (`Connection::close_now`), Ballerina's absolute-form upgrade
//! request (`GET ws://host/path HTTP/1.1`) routed by its path, and the browser's
//! `readyState` as far as a connection can be in it.

mod common;

use common::*;
use tokio::sync::mpsc;
use wskit::{CloseCode, Utf8Bytes};
use wskit_hub::{Connection, Hub, ReadyState, Service, ServiceOptions, join_path};

/// Records what it sees; `drop` makes it call `close_now`.
struct Recorder {
    tx: mpsc::UnboundedSender<String>,
}

impl Service for Recorder {
    async fn on_open(&self, conn: &Connection) {
        let request = conn.request();
        let _ = self.tx.send(format!(
            "open {} {} {:?} {:?}",
            conn.path(),
            request.path(),
            request.query_param("x"),
            conn.ready_state()
        ));
    }
    async fn on_text(&self, conn: &Connection, text: Utf8Bytes) {
        if text.as_str() == "drop" {
            conn.send_text("discarded, or not").await.unwrap();
            conn.close_now(CloseCode::from(4001), "go away");
            let _ = self.tx.send(format!("dropped {:?}", conn.ready_state()));
            assert!(conn.send_text("too late").await.is_err());
        } else {
            conn.send_text(text).await.unwrap();
        }
    }
    async fn on_close(&self, _conn: &Connection, code: CloseCode, reason: &str) {
        let _ = self.tx.send(format!("close {code} {reason}"));
    }
}

fn recorder() -> (Recorder, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Recorder { tx }, rx)
}

async fn next(events: &mut mpsc::UnboundedReceiver<String>) -> String {
    within(events.recv()).await.expect("an event")
}

#[tokio::test]
async fn close_now_sends_the_close_frame_and_cuts_without_waiting_for_the_peer() {
    let hub = Hub::new();
    let (service, mut events) = recorder();
    hub.register("/chat", service, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let (mut raw, _) = Raw::connect_ws_to(addr, "/chat", "").await;
    assert_eq!(next(&mut events).await, "open /chat /chat None Open");
    raw.write(&client_frame(0x1, b"drop")).await;
    assert_eq!(next(&mut events).await, "dropped Closing");
    // The close frame, maybe behind the message queued just before (which close_now
    // discards unless the connection's task already wrote it).
    let mut frame = within(raw.read_frame()).await.expect("a frame");
    if frame.opcode == 0x1 {
        assert_eq!(frame.payload, b"discarded, or not");
        frame = within(raw.read_frame()).await.expect("a close frame");
    }
    assert_eq!(frame.close_code(), Some(4001));
    assert_eq!(&frame.payload[2..], b"go away");
    // Then the end of the stream, though the raw client never answered the close.
    assert_eq!(within(raw.read_to_end()).await, Vec::<u8>::new());
    assert_eq!(next(&mut events).await, "close 4001 go away");
    assert_eq!(hub.connection_count(), 0);
}

#[tokio::test]
async fn an_absolute_form_upgrade_request_is_routed_by_its_path() {
    let hub = Hub::new();
    let (service, mut events) = recorder();
    // Ballerina: base path /test, upgrade path /websocket.
    hub.register(
        &join_path("/test", "/websocket"),
        service,
        ServiceOptions::default(),
    )
    .unwrap();
    let addr = serve(&hub).await;
    let (mut raw, head) = Raw::connect_ws_to(
        addr,
        "ws://websocket.example.com/test/websocket?x=1",
        "Origin: http://example.com\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert_eq!(
        next(&mut events).await,
        "open /test/websocket /test/websocket Some(\"1\") Open"
    );
    raw.write(&client_frame(0x1, b"hello")).await;
    let echo = within(raw.read_frame()).await.expect("the echo");
    assert_eq!((echo.opcode, &echo.payload[..]), (0x1, &b"hello"[..]));

    // The absolute form of a path with no service is refused like any other.
    let response = within(Raw::request(addr, "ws://websocket.example.com/nope", "")).await;
    assert_eq!(response.status, 404);
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn an_absolute_form_upgrade_request_is_routed_by_its_path_inside_axum() {
    let hub = Hub::new();
    let (service, mut events) = recorder();
    hub.register("/test/websocket", service, ServiceOptions::default())
        .unwrap();
    let app = axum::Router::new().merge(hub.router());
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    let (_raw, head) =
        Raw::connect_ws_to(addr, "ws://websocket.example.com/test/websocket?x=2", "").await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert_eq!(
        next(&mut events).await,
        "open /test/websocket /test/websocket Some(\"2\") Open"
    );
}

#[tokio::test]
async fn a_connection_is_never_seen_connecting() {
    let hub = Hub::new();
    let (service, mut events) = recorder();
    hub.register("/chat", service, ServiceOptions::default())
        .unwrap();
    let addr = serve(&hub).await;
    let mut hub_events = hub.events();
    let _ws = client(addr, "/chat").await;
    // The event that announces it and the handle the registry gives already say Open.
    assert!(matches!(
        within(hub_events.recv()).await,
        Some(wskit_hub::HubEvent::Received { .. })
    ));
    let conn = hub.connections(Some("/chat")).pop().expect("registered");
    assert_eq!(conn.ready_state(), ReadyState::Open);
    assert_eq!(next(&mut events).await, "open /chat /chat None Open");
}
