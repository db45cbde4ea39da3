//! `recv_text` and `recv_binary`: the expected kind is returned, pings and pongs are skipped,
//! and the other kind is an error naming the mismatch.

mod support;

use support::{listen, within, ws_url};
use wskit::{CloseCode, Error, MaybeTlsStream, Message, WebSocket};

/// Connects to a server that sends `messages` (then waits for the client's close).
async fn receive(messages: Vec<Message>) -> WebSocket<MaybeTlsStream> {
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut ws = wskit::accept(stream).await.expect("handshake");
        for msg in messages {
            ws.send(msg).await.expect("send");
        }
        while ws.recv().await.is_some() {}
    });
    within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect")
        .0
}

#[tokio::test]
async fn recv_text_names_a_binary_mismatch() {
    let mut ws = receive(vec![Message::binary(vec![1, 2, 3]), Message::text("after")]).await;
    let err = within(ws.recv_text())
        .await
        .expect_err("a binary message came");
    assert!(
        matches!(err, Error::Unexpected("binary", "text")),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "expected a text message, got a binary message"
    );
    // The mismatch consumed the binary message; the connection goes on.
    assert_eq!(
        within(ws.recv_text()).await.expect("the next message"),
        "after"
    );
    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
}

#[tokio::test]
async fn recv_binary_names_a_text_mismatch() {
    let mut ws = receive(vec![Message::text("words"), Message::binary(vec![9])]).await;
    let err = within(ws.recv_binary())
        .await
        .expect_err("a text message came");
    assert!(
        matches!(err, Error::Unexpected("text", "binary")),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "expected a binary message, got a text message"
    );
    assert_eq!(
        &within(ws.recv_binary()).await.expect("the next message")[..],
        [9]
    );
    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
}

#[tokio::test]
async fn typed_receives_skip_pings_and_pongs() {
    let mut ws = receive(vec![
        Message::Ping("p1".into()),
        Message::Pong("p2".into()),
        Message::text("text"),
        Message::Ping("p3".into()),
        Message::binary(vec![4, 2]),
    ])
    .await;
    assert_eq!(within(ws.recv_text()).await.expect("text"), "text");
    assert_eq!(&within(ws.recv_binary()).await.expect("binary")[..], [4, 2]);
    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
}

#[tokio::test]
async fn typed_receive_of_a_close_is_closed() {
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut ws = wskit::accept(stream).await.expect("handshake");
        ws.close(CloseCode::NORMAL, "done").await.expect("close");
    });
    let (mut ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");
    let err = within(ws.recv_text()).await.expect_err("closed");
    assert!(matches!(err, Error::Closed), "{err:?}");
    let err = within(ws.recv_binary()).await.expect_err("closed");
    assert!(matches!(err, Error::Closed), "{err:?}");
}
