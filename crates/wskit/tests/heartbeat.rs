//! Pings answered by pongs over loopback: `ping_and_wait` and `Heartbeat` against a peer that
//! answers (our echo server) and a raw TCP peer that completes the handshake, then goes silent.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::{LIMIT, Raw, listen, spawn_echo, within, ws_url};
use tokio::task::JoinHandle;
use wskit::{Beat, CloseCode, Error, Heartbeat, Message, Server, proto};

/// A peer that accepts one WebSocket handshake byte by byte, then reads everything and never
/// answers: no pong, no close. Yields the bytes it read after the handshake.
async fn spawn_silent_peer() -> (SocketAddr, JoinHandle<Vec<u8>>) {
    let (listener, addr) = listen().await;
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut raw = Raw::new(stream);
        let head = raw.read_head().await.expect("an upgrade request");
        let key = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .expect("a Sec-WebSocket-Key");
        let accept = proto::handshake::accept_key(key.as_bytes());
        raw.write(
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
        raw.read_to_end().await
    });
    (addr, task)
}

#[tokio::test]
async fn ping_and_wait_returns_the_rtt_and_keeps_other_messages() {
    let (listener, addr) = listen().await;
    let server = spawn_echo(listener, Server::default());
    let (mut ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");

    within(ws.send(Message::text("before the ping")))
        .await
        .expect("send");
    let mut received = Vec::new();
    let rtt = ws
        .ping_and_wait("probe", LIMIT, &mut received)
        .await
        .expect("a pong");
    assert!(rtt < LIMIT);
    // The echo of the text came before the pong and is kept, not dropped.
    assert_eq!(received, vec![Message::text("before the ping")]);

    // A second ping on the same connection matches its own pong.
    received.clear();
    ws.ping_and_wait(vec![1u8, 2, 3], LIMIT, &mut received)
        .await
        .expect("a second pong");
    assert!(received.is_empty());

    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
    let report = within(server).await.expect("server task");
    assert!(report.received.contains(&Message::Ping("probe".into())));
}

#[tokio::test]
async fn ping_and_wait_times_out_when_the_peer_never_answers() {
    let (addr, peer) = spawn_silent_peer().await;
    let (mut ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");

    let timeout = Duration::from_millis(200);
    let start = std::time::Instant::now();
    let mut received = Vec::new();
    let err = within(ws.ping_and_wait("anyone?", timeout, &mut received))
        .await
        .expect_err("no pong comes");
    assert!(matches!(err, Error::Timeout("pong")), "got {err:?}");
    assert!(start.elapsed() >= timeout);
    assert!(received.is_empty());

    ws.hangup();
    let bytes = within(peer).await.expect("peer task");
    // The peer got the (masked) ping: FIN + opcode 0x9, then the masked length 7.
    assert_eq!(&bytes[..2], &[0x89, 0x80 | 7]);
}

#[tokio::test]
async fn heartbeat_measures_rtt_against_a_peer_that_answers() {
    let (listener, addr) = listen().await;
    let server = spawn_echo(listener, Server::default());
    let (mut ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");

    let mut heartbeat = Heartbeat::new(Duration::from_millis(20)).timeout(LIMIT);
    let mut answered = 0;
    within(async {
        while answered < 3 {
            tokio::select! {
                msg = ws.recv() => match msg.expect("open").expect("no error") {
                    Message::Pong(data) => {
                        if heartbeat.pong(&data).is_some() {
                            answered += 1;
                        }
                    }
                    other => panic!("unexpected {other:?}"),
                },
                beat = heartbeat.tick() => match beat {
                    Beat::Ping(payload) => ws.ping(payload).await.expect("ping"),
                    Beat::Missed => panic!("the echo server answers every ping"),
                },
            }
        }
    })
    .await;
    assert!(heartbeat.rtt().is_some());

    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
    let report = within(server).await.expect("server task");
    let pings = report
        .received
        .iter()
        .filter(|msg| matches!(msg, Message::Ping(_)))
        .count();
    assert_eq!(pings, 3);
}

#[tokio::test]
async fn heartbeat_reports_a_missed_pong_from_a_silent_peer() {
    let (addr, _peer) = spawn_silent_peer().await;
    let (mut ws, _) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");

    let mut heartbeat =
        Heartbeat::new(Duration::from_millis(20)).timeout(Duration::from_millis(100));
    let mut pings = 0;
    within(async {
        loop {
            tokio::select! {
                msg = ws.recv() => panic!("the silent peer sent {msg:?}"),
                beat = heartbeat.tick() => match beat {
                    Beat::Ping(payload) => {
                        pings += 1;
                        ws.ping(payload).await.expect("ping");
                    }
                    Beat::Missed => break,
                },
            }
        }
    })
    .await;
    assert_eq!(pings, 1, "one ping is outstanding at a time");
    assert!(heartbeat.is_waiting());
}
