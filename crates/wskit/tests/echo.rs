//! Messages make the round trip through a real server over loopback TCP: every kind and size,
//! with and without permessage-deflate, through `recv`/`send`, `Stream`/`Sink` and `split`.

mod support;

use futures_util::{SinkExt, StreamExt};
use support::{listen, spawn_echo, within, ws_url};
use wskit::{Client, CloseCode, Config, Message, Server};

const MIB: usize = 1 << 20;

/// Pseudo-random bytes (a xorshift generator): hard to compress, deterministic.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn messages() -> Vec<Message> {
    let text: String = "The quick brown fox jumps over the lazy dog. ∂ ✓ 🦀\n"
        .chars()
        .cycle()
        .take(MIB)
        .collect();
    vec![
        Message::text("hello"),
        Message::binary(vec![0u8, 1, 2, 0xfe, 0xff]),
        Message::text(""),
        Message::binary(Vec::new()),
        Message::binary(noise(MIB)),
        Message::text(text),
    ]
}

/// Sends every message of [`messages`] through an echo server and checks each echo; returns
/// whether the client and the server each see permessage-deflate in use.
async fn round_trip(client: Config, server: Config) -> (bool, bool) {
    let (listener, addr) = listen().await;
    let echo = spawn_echo(listener, Server::default().config(server));
    let (mut ws, negotiated) = within(Client::new(ws_url(addr)).config(client).connect())
        .await
        .expect("connect");
    assert_eq!(ws.is_compressed(), negotiated.deflate.is_some());
    let client_compressed = ws.is_compressed();

    for msg in messages() {
        within(ws.send(msg.clone())).await.expect("send");
        let echoed = within(ws.recv())
            .await
            .expect("an echo")
            .expect("a message");
        assert!(
            echoed == msg,
            "echo differs (len {} vs {})",
            echoed.as_payload().len(),
            msg.as_payload().len()
        );
    }
    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");

    let report = within(echo).await.expect("echo task");
    assert!(report.error.is_none(), "server error: {:?}", report.error);
    let data: Vec<_> = report
        .received
        .iter()
        .filter(|m| !m.is_close())
        .cloned()
        .collect();
    assert!(data == messages(), "the server received other messages");
    (client_compressed, report.compressed)
}

#[tokio::test]
async fn echo_every_kind_and_size_with_deflate() {
    let both_on = Config::default();
    assert_eq!(round_trip(both_on.clone(), both_on).await, (true, true));
}

#[tokio::test]
async fn echo_without_deflate_on_the_server() {
    let off = Config::default().deflate(None);
    assert_eq!(round_trip(Config::default(), off).await, (false, false));
}

#[tokio::test]
async fn echo_without_deflate_on_the_client() {
    let off = Config::default().deflate(None);
    assert_eq!(round_trip(off, Config::default()).await, (false, false));
}

#[tokio::test]
async fn convenience_accept_and_connect() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut ws = wskit::accept(stream).await.expect("accept handshake");
        let msg = ws.recv().await.expect("a message").expect("no error");
        ws.send(msg).await.expect("echo");
        // Default settings on both sides: permessage-deflate is in use.
        assert!(ws.is_compressed());
        assert!(matches!(ws.recv().await, Some(Ok(Message::Close(_)))));
        assert!(ws.recv().await.is_none());
    });
    let (mut ws, negotiated) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");
    assert!(ws.is_compressed());
    assert!(negotiated.deflate.is_some());
    assert_eq!(ws.protocol(), None);
    ws.send(Message::text("ping?")).await.expect("send");
    assert_eq!(within(ws.recv_text()).await.expect("echo"), "ping?");
    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
    within(server).await.expect("server task");
}

#[tokio::test]
async fn ping_is_answered_with_the_same_payload() {
    let (listener, addr) = listen().await;
    let echo = spawn_echo(listener, Server::default());
    let (mut ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");

    within(ws.ping(&b"are you there?"[..])).await.expect("ping");
    let pong = within(ws.recv()).await.expect("a pong").expect("no error");
    assert_eq!(
        pong,
        Message::Pong(bytes::Bytes::from_static(b"are you there?"))
    );

    within(ws.ping(Vec::new())).await.expect("empty ping");
    let pong = within(ws.recv()).await.expect("a pong").expect("no error");
    assert_eq!(pong, Message::Pong(bytes::Bytes::new()));

    // A ping payload over 125 bytes is refused locally.
    assert!(matches!(
        ws.ping(vec![0u8; 126]).await,
        Err(wskit::Error::Usage(_))
    ));

    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
    let report = within(echo).await.expect("echo task");
    // The server's recv returned the pings it answered.
    assert_eq!(
        report.received[..2],
        [
            Message::Ping(bytes::Bytes::from_static(b"are you there?")),
            Message::Ping(bytes::Bytes::new())
        ]
    );
}

#[tokio::test]
async fn stream_and_sink() {
    let (listener, addr) = listen().await;
    let echo = spawn_echo(listener, Server::default());
    let (mut ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");

    // Queue three messages, then flush them at once.
    for i in 0..3 {
        within(ws.feed(Message::text(format!("fed {i}"))))
            .await
            .expect("feed");
    }
    SinkExt::send(&mut ws, Message::text("sent"))
        .await
        .expect("sink send");
    let mut got = Vec::new();
    for _ in 0..4 {
        let msg = within(StreamExt::next(&mut ws))
            .await
            .expect("a message")
            .expect("no error");
        got.push(msg);
    }
    assert_eq!(
        got,
        ["fed 0", "fed 1", "fed 2", "sent"]
            .map(Message::text)
            .to_vec()
    );

    // `Sink::close` sends a normal close; the stream then yields the echo and ends.
    within(SinkExt::close(&mut ws)).await.expect("sink close");
    let close = within(StreamExt::next(&mut ws))
        .await
        .expect("the echoed close");
    assert!(
        matches!(&close, Ok(Message::Close(Some(f))) if f.code == CloseCode::NORMAL),
        "{close:?}"
    );
    assert!(within(StreamExt::next(&mut ws)).await.is_none());
    assert!(within(echo).await.expect("echo task").error.is_none());
}

#[tokio::test]
async fn split_halves_from_two_tasks() {
    const N: usize = 100;
    let (listener, addr) = listen().await;
    let echo = spawn_echo(listener, Server::default());
    let (ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");
    let (mut sink, mut stream) = ws.split();

    let writer = tokio::spawn(async move {
        for i in 0..N {
            let msg = if i % 2 == 0 {
                Message::text(format!("message {i}"))
            } else {
                Message::binary(i.to_be_bytes().to_vec())
            };
            sink.send(msg).await.expect("send");
        }
        sink.close().await.expect("close");
    });
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(msg) = stream.next().await {
            got.push(msg.expect("no error"));
        }
        got
    });

    within(writer).await.expect("writer task");
    let got = within(reader).await.expect("reader task");
    assert_eq!(got.len(), N + 1, "N echoes and the close: {got:?}");
    for (i, msg) in got[..N].iter().enumerate() {
        let expected = if i % 2 == 0 {
            Message::text(format!("message {i}"))
        } else {
            Message::binary(i.to_be_bytes().to_vec())
        };
        assert_eq!(msg, &expected);
    }
    assert!(got[N].is_close());
    let report = within(echo).await.expect("echo task");
    assert_eq!(report.received.len(), N + 1);
    assert!(report.error.is_none());
}
