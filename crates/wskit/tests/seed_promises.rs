//! What users of other WebSocket libraries rely on, on a bare `WebSocket`: Kitura's
//! `drop(reason, description)` (`close_now`), nim `ws`'s `setupPings(seconds)`
//! (`setup_pings`), and the browser's `readyState` as far as a connection can be in it.

mod support;

use std::time::Duration;

use support::{Raw, listen, within, ws_url};
use tokio::net::TcpListener;
use wskit::{CloseCode, Message, ReadyState, Server, WebSocket};

/// Accepts one connection with the default server.
async fn accept_one(listener: &TcpListener) -> WebSocket<tokio::net::TcpStream> {
    let (stream, _) = listener.accept().await.expect("accept");
    Server::default()
        .accept(stream)
        .await
        .expect("server handshake")
        .0
}

#[tokio::test]
async fn close_now_sends_the_close_frame_and_cuts_without_waiting_for_the_peer() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let ws = accept_one(&listener).await;
        assert_eq!(ws.ready_state(), ReadyState::Open);
        // Returns at once: the raw client below never answers the close.
        within(ws.close_now(CloseCode::from(4001), "go away"))
            .await
            .expect("close_now");
    });
    let mut raw = Raw::connect_ws(addr).await;
    within(server).await.expect("server task");
    let close = within(raw.read_frame()).await.expect("a close frame");
    assert_eq!(close.close_code(), Some(4001));
    assert_eq!(&close.payload[2..], b"go away");
    // Then the end of the stream, though no close frame was sent back.
    assert_eq!(within(raw.read_to_end()).await, Vec::<u8>::new());
}

#[tokio::test]
async fn close_now_refuses_a_code_that_may_not_be_sent_and_still_cuts() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let ws = accept_one(&listener).await;
        within(ws.close_now(CloseCode::from(1006), "")).await
    });
    let mut raw = Raw::connect_ws(addr).await;
    let result = within(server).await.expect("server task");
    assert!(matches!(result, Err(wskit::Error::Usage(_))), "{result:?}");
    // No close frame: the stream just ends.
    assert_eq!(within(raw.read_to_end()).await, Vec::<u8>::new());
}

#[tokio::test]
async fn setup_pings_pings_every_interval_while_the_connection_is_received_from() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener).await;
        let mut pings = 0;
        // Three pings, then the client's close; pings are answered automatically.
        while let Some(msg) = ws.recv().await {
            match msg.expect("no error") {
                Message::Ping(payload) => {
                    assert!(payload.is_empty());
                    pings += 1;
                }
                Message::Close(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        pings
    });
    let (mut ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");
    assert_eq!(ws.ready_state(), ReadyState::Open);
    ws.setup_pings(Duration::from_millis(50));
    let start = tokio::time::Instant::now();
    let mut pongs = 0;
    while pongs < 3 {
        match within(ws.recv()).await.expect("open").expect("no error") {
            Message::Pong(payload) => {
                assert!(payload.is_empty());
                pongs += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    // A zero interval stops them. One ping may have left while the third pong was on its
    // way (on a slow machine); its pong comes late. No other.
    ws.setup_pings(Duration::ZERO);
    let mut late = 0;
    while let Ok(msg) = tokio::time::timeout(Duration::from_millis(300), ws.recv()).await {
        match msg {
            Some(Ok(Message::Pong(_))) => late += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        late <= 1,
        "pings went on after they were stopped: {late} late pongs"
    );
    within(ws.close(CloseCode::NORMAL, "done"))
        .await
        .expect("close");
    // The server saw exactly the pings whose pongs came.
    assert_eq!(within(server).await.expect("server task"), 3 + late);
}
