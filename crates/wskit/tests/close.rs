//! The closing handshake over loopback: initiated by either side, refused codes, a peer that
//! never answers, a dropped connection, and protocol violations closed with their code.

mod support;

use std::time::Duration;

use support::{Raw, accept_raw, client_frame, listen, within, ws_url};
use tokio::net::TcpListener;
use tokio::time::Instant;
use wskit::proto::{Error as UsageError, ProtocolError};
use wskit::{CloseCode, CloseFrame, Config, Error, Message, ReadyState, Server, WebSocket};

/// Accepts one connection with `server`.
async fn accept_one(listener: &TcpListener, server: &Server) -> WebSocket<tokio::net::TcpStream> {
    let (stream, _) = listener.accept().await.expect("accept");
    server.accept(stream).await.expect("server handshake").0
}

#[tokio::test]
async fn client_initiates() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener, &Server::default()).await;
        let close = ws
            .recv()
            .await
            .expect("the client's close")
            .expect("no error");
        let end = ws.recv().await;
        (close, end.is_none(), ws.ready_state())
    });
    let (mut ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");
    within(ws.close(CloseCode::from(4000), "bye"))
        .await
        .expect("close");

    let (close, ended, server_state) = within(server).await.expect("server task");
    assert_eq!(
        close,
        Message::Close(Some(CloseFrame::new(CloseCode::from(4000), "bye")))
    );
    assert!(
        ended,
        "the server's recv must end with None after the close"
    );
    assert_eq!(server_state, ReadyState::Closed);

    let peer = ws
        .peer_close()
        .expect("the server answered with a close frame");
    assert_eq!(peer.code, CloseCode::from(4000));
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert!(within(ws.recv()).await.is_none());
}

#[tokio::test]
async fn server_initiates() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener, &Server::default()).await;
        ws.close(CloseCode::GOING_AWAY, "restarting")
            .await
            .expect("close");
        let peer = ws.peer_close().cloned();
        (peer, ws.recv().await.is_none(), ws.ready_state())
    });
    let (mut ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");
    let close = within(ws.recv())
        .await
        .expect("the server's close")
        .expect("no error");
    assert_eq!(
        close,
        Message::Close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "restarting")))
    );
    assert_eq!(
        ws.ready_state(),
        ReadyState::Closing,
        "the transport is still open"
    );
    assert!(within(ws.recv()).await.is_none());
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert_eq!(ws.peer_close().map(|f| f.code), Some(CloseCode::GOING_AWAY));

    let (peer, ended, state) = within(server).await.expect("server task");
    assert_eq!(
        peer.map(|f| f.code),
        Some(CloseCode::GOING_AWAY),
        "the client echoes the code"
    );
    assert!(ended);
    assert_eq!(state, ReadyState::Closed);
}

#[tokio::test]
async fn codes_that_may_not_be_sent_are_usage_errors() {
    let (listener, addr) = listen().await;
    let echo = support::spawn_echo(listener, Server::default());
    let (mut ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");

    for code in [1005, 1006, 1015, 999, 2000, 5000] {
        let err = within(ws.close(CloseCode::from(code), ""))
            .await
            .expect_err("refused");
        assert!(
            matches!(err, Error::Usage(UsageError::InvalidCloseCode(c)) if c == code),
            "{code}: {err:?}"
        );
    }
    let long = "x".repeat(124);
    let err = within(ws.close(CloseCode::NORMAL, &long))
        .await
        .expect_err("reason too long");
    assert!(matches!(err, Error::Usage(_)), "{err:?}");

    // Nothing was sent: the connection is still open and usable.
    assert_eq!(ws.ready_state(), ReadyState::Open);
    within(ws.send(Message::text("still here")))
        .await
        .expect("send");
    assert_eq!(within(ws.recv_text()).await.expect("echo"), "still here");
    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
    let report = within(echo).await.expect("echo task");
    assert_eq!(
        report.received.len(),
        2,
        "one text and one close: {:?}",
        report.received
    );
}

#[tokio::test]
async fn no_send_after_close() {
    let (listener, addr) = listen().await;
    let echo = support::spawn_echo(listener, Server::default());
    let (mut ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");
    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
    let err = within(ws.send(Message::text("too late")))
        .await
        .expect_err("closed");
    assert!(matches!(err, Error::Closed), "{err:?}");
    let report = within(echo).await.expect("echo task");
    assert!(
        report.received.iter().all(Message::is_close),
        "{:?}",
        report.received
    );
}

#[tokio::test(start_paused = true)]
async fn server_close_times_out_when_the_peer_never_answers() {
    let timeout = Duration::from_millis(200);
    let (listener, addr) = listen().await;
    // A client that reads everything and never answers.
    let peer = tokio::spawn(async move {
        let mut raw = Raw::connect_ws(addr).await;
        let frame = raw.read_frame().await;
        let rest = raw.read_to_end().await;
        (frame, rest)
    });
    let server = Server::default().config(Config::default().close_timeout(timeout));
    let mut ws = within(accept_one(&listener, &server)).await;

    let start = Instant::now();
    let err = within(ws.close(CloseCode::from(4000), "bye"))
        .await
        .expect_err("no answer");
    let elapsed = start.elapsed();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(
        elapsed >= timeout,
        "gave up after {elapsed:?}, before the close timeout"
    );
    assert!(elapsed < timeout * 2, "gave up after {elapsed:?}");
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert!(ws.peer_close().is_none());
    drop(ws);

    let (frame, rest) = within(peer).await.expect("peer task");
    let frame = frame.expect("our close frame");
    assert_eq!(frame.close_code(), Some(4000));
    assert_eq!(&frame.payload[2..], b"bye");
    assert!(rest.is_empty(), "nothing after the close frame: {rest:?}");
}

#[tokio::test(start_paused = true)]
async fn client_close_times_out_when_the_server_never_answers() {
    let timeout = Duration::from_millis(200);
    let (listener, addr) = listen().await;
    // A server that completes the handshake, then reads everything and never answers.
    let peer = tokio::spawn(async move {
        let mut raw = accept_raw(&listener, "", &[]).await;
        let frame = raw.read_frame().await;
        raw.read_to_end().await;
        frame
    });
    let client = wskit::Client::new(ws_url(addr)).config(Config::default().close_timeout(timeout));
    let (mut ws, _) = within(client.connect()).await.expect("connect");

    let start = Instant::now();
    let err = within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect_err("no answer");
    let elapsed = start.elapsed();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(
        elapsed >= timeout && elapsed < timeout * 2,
        "gave up after {elapsed:?}"
    );
    drop(ws);

    let frame = within(peer)
        .await
        .expect("peer task")
        .expect("the client's close frame");
    assert!(frame.masked, "client frames are masked");
    assert_eq!(frame.close_code(), Some(1000));
}

#[tokio::test]
async fn client_hangup_is_an_abnormal_close_for_the_server() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener, &Server::default()).await;
        let first = ws.recv().await;
        let second = ws.recv().await;
        (first, second)
    });
    let (ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");
    ws.hangup();
    let (first, second) = within(server).await.expect("server task");
    assert!(
        matches!(first, Some(Err(Error::AbnormalClose))),
        "{first:?}"
    );
    assert!(second.is_none(), "{second:?}");
}

#[tokio::test]
async fn server_hangup_is_an_abnormal_close_for_the_client() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        accept_one(&listener, &Server::default()).await.hangup();
    });
    let (mut ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");
    within(server).await.expect("server task");
    let first = within(ws.recv()).await;
    assert!(
        matches!(first, Some(Err(Error::AbnormalClose))),
        "{first:?}"
    );
    assert!(ws.peer_close().is_none());
    assert!(within(ws.recv()).await.is_none());
}

/// A raw client sends `frame`; returns what the server's first `recv` gave (the server drops
/// the connection right after) and every frame the raw client then reads.
async fn violate(
    server: Server,
    frame: Vec<u8>,
) -> (Option<Result<Message, Error>>, Vec<support::RawFrame>) {
    let (listener, addr) = listen().await;
    let task = tokio::spawn(async move {
        let mut ws = accept_one(&listener, &server).await;
        ws.recv().await
    });
    let mut raw = within(Raw::connect_ws(addr)).await;
    raw.write(&frame).await;
    let result = within(task).await.expect("server task");
    let mut frames = Vec::new();
    while let Some(frame) = within(raw.read_frame()).await {
        frames.push(frame);
    }
    (result, frames)
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let (result, frames) = violate(Server::default(), client_frame(0x1, b"caf\xc3\x28")).await;
    assert!(
        matches!(
            result,
            Some(Err(Error::Protocol(ProtocolError::InvalidUtf8)))
        ),
        "{result:?}"
    );
    assert_eq!(frames.len(), 1, "exactly one close frame: {frames:?}");
    assert_eq!(frames[0].close_code(), Some(1007));
}

#[tokio::test]
async fn oversized_message_closes_with_1009() {
    let server = Server::default().config(Config::default().max_message_size(1024));
    let (result, frames) = violate(server, client_frame(0x2, &[7u8; 2000])).await;
    assert!(
        matches!(
            result,
            Some(Err(Error::Protocol(ProtocolError::MessageTooLarge {
                max: 1024
            })))
        ),
        "{result:?}"
    );
    assert_eq!(frames.len(), 1, "exactly one close frame: {frames:?}");
    assert_eq!(frames[0].close_code(), Some(1009));
}

#[tokio::test]
async fn recv_after_a_protocol_error_ends() {
    let (listener, addr) = listen().await;
    let task = tokio::spawn(async move {
        let mut ws = accept_one(&listener, &Server::default()).await;
        let first = ws.recv().await;
        let second = ws.recv().await;
        (first, second, ws.ready_state())
    });
    let mut raw = within(Raw::connect_ws(addr)).await;
    // An unmasked frame from a client is a protocol error (1002).
    raw.write(&support::server_frame(0x1, b"unmasked")).await;
    let frame = within(raw.read_frame()).await.expect("a close frame");
    assert_eq!(frame.close_code(), Some(1002));
    assert!(
        within(raw.read_frame()).await.is_none(),
        "then the server closes the transport"
    );
    let (first, second, state) = within(task).await.expect("server task");
    assert!(
        matches!(
            first,
            Some(Err(Error::Protocol(ProtocolError::UnmaskedFrameFromClient)))
        ),
        "{first:?}"
    );
    assert!(second.is_none(), "{second:?}");
    assert_eq!(state, ReadyState::Closed);
}
