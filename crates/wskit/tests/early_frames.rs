//! Frames that arrive in the same read as the handshake (the peer did not wait for the
//! response) are kept and delivered, on both sides.

mod support;

use support::{
    KEY, Raw, accept_raw, client_frame, listen, server_frame, upgrade_request, within, ws_url,
};
use wskit::{Client, Config, Message};

#[tokio::test]
async fn server_keeps_frames_sent_with_the_request() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut ws = wskit::accept(stream).await.expect("handshake");
        let first = ws.recv().await.expect("a message").expect("no error");
        let second = ws.recv().await.expect("a message").expect("no error");
        (first, second)
    });

    // Request, a text frame and a binary frame in one write.
    let mut bytes = upgrade_request(KEY, "").into_bytes();
    bytes.extend(client_frame(0x1, b"early bird"));
    bytes.extend(client_frame(0x2, &[1, 2, 3]));
    let mut raw = Raw::connect(addr).await;
    raw.write(&bytes).await;

    let head = within(raw.read_head()).await.expect("a response");
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let (first, second) = within(server).await.expect("server task");
    assert_eq!(first, Message::text("early bird"));
    assert_eq!(second, Message::binary(vec![1, 2, 3]));
}

#[tokio::test]
async fn client_keeps_frames_sent_with_the_response() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        // The 101 response and a text frame in one write.
        let mut raw = accept_raw(&listener, "", &server_frame(0x1, b"welcome")).await;
        raw.read_to_end().await;
    });

    let client = Client::new(ws_url(addr)).config(Config::default().deflate(None));
    let (mut ws, _) = within(client.connect()).await.expect("connect");
    let msg = within(ws.recv())
        .await
        .expect("a message")
        .expect("no error");
    assert_eq!(msg, Message::text("welcome"));
    ws.hangup();
    within(server).await.expect("server task");
}
