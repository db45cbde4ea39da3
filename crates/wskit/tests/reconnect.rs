//! `ReconnectingClient` over loopback: a server that stops and comes back on the same port,
//! a server that closes, one that stops answering pings, one that never comes up; the queue,
//! the events, the on-connect hook, giving up, and close.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use support::{accept_raw, listen, within, ws_url};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use wskit::{
    Backoff, Client, CloseCode, CloseFrame, DisconnectReason, Error, Event, Events, Message,
    ReconnectingClient, Server,
};

/// What the test servers saw: a new connection (numbered from 1), or a message on one.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Connection(usize),
    Message(usize, Message),
}

/// An echo server on every connection `listener` accepts, numbering them from `first`.
/// Aborting the returned task drops the listener and every connection (no close frame).
fn spawn_echo_server(
    listener: TcpListener,
    first: usize,
    seen: mpsc::UnboundedSender<Seen>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        for n in first.. {
            let (stream, _) = listener.accept().await.expect("accept");
            let seen = seen.clone();
            let _ = seen.send(Seen::Connection(n));
            connections.spawn(async move {
                let (mut ws, _) = Server::default()
                    .accept(stream)
                    .await
                    .expect("server handshake");
                while let Some(Ok(msg)) = ws.recv().await {
                    let _ = seen.send(Seen::Message(n, msg.clone()));
                    if msg.is_text() || msg.is_binary() {
                        ws.send(msg).await.expect("echo");
                    }
                }
            });
        }
    })
}

/// A 127.0.0.1 address nothing listens on.
async fn refusing_addr() -> SocketAddr {
    let (listener, addr) = listen().await;
    drop(listener);
    addr
}

/// Quick retries for tests.
fn fast() -> Backoff {
    Backoff::default()
        .initial_delay(Duration::from_millis(5))
        .max_delay(Duration::from_millis(20))
}

async fn next_event(events: &mut Events) -> Event {
    within(events.recv()).await.expect("an event")
}

/// Receives events until `Connected`, returning those before it.
async fn until_connected(events: &mut Events) -> Vec<Event> {
    let mut before = Vec::new();
    loop {
        match next_event(events).await {
            Event::Connected => return before,
            event => before.push(event),
        }
    }
}

async fn recv_text(client: &ReconnectingClient) -> String {
    match within(client.recv()).await.expect("a message") {
        Message::Text(text) => text.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn text(n: usize, s: &str) -> Seen {
    Seen::Message(n, Message::text(s))
}

#[tokio::test]
async fn messages_queued_while_the_server_is_down_arrive_once_in_order_after_it_restarts() {
    let (listener, addr) = listen().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let server = spawn_echo_server(listener, 1, seen_tx.clone());
    let hooks = Arc::new(AtomicU32::new(0));
    let hook_count = hooks.clone();
    let (client, mut events) = ReconnectingClient::builder(Client::new(ws_url(addr)))
        .backoff(fast())
        .on_connect(move |ws| {
            let n = hook_count.fetch_add(1, Ordering::SeqCst) + 1;
            Box::pin(async move { ws.send(Message::text(format!("hello {n}"))).await })
        })
        .spawn();

    assert!(matches!(next_event(&mut events).await, Event::Connected));
    within(client.send(Message::text("one")))
        .await
        .expect("send");
    assert_eq!(recv_text(&client).await, "hello 1");
    assert_eq!(recv_text(&client).await, "one");

    // Stop the server: the listener and the connection go away without a close frame.
    server.abort();
    let _ = server.await;
    match next_event(&mut events).await {
        Event::Disconnected {
            reason: DisconnectReason::Failed(_),
        } => {}
        other => panic!("expected Disconnected(Failed), got {other:?}"),
    }
    assert!(!client.is_connected());
    for i in 0..5 {
        client
            .try_send(Message::text(format!("queued {i}")))
            .expect("queued while down");
    }
    assert_eq!(client.queued(), 5);
    // Let it fail at least once against the closed port before the server comes back.
    loop {
        if let Event::ConnectFailed { attempt, .. } = next_event(&mut events).await {
            assert!(attempt >= 1);
            break;
        }
    }

    let listener = TcpListener::bind(addr).await.expect("rebind the same port");
    let _server = spawn_echo_server(listener, 2, seen_tx);
    let between = until_connected(&mut events).await;
    assert!(
        between
            .iter()
            .all(|event| matches!(event, Event::Retrying { .. } | Event::ConnectFailed { .. }))
    );

    // The hook's message comes first, then the queue in order.
    assert_eq!(recv_text(&client).await, "hello 2");
    for i in 0..5 {
        assert_eq!(recv_text(&client).await, format!("queued {i}"));
    }
    assert_eq!(
        hooks.load(Ordering::SeqCst),
        2,
        "the hook runs on every connect"
    );
    within(client.close(CloseCode::NORMAL, "done"))
        .await
        .expect("close");

    let mut got = Vec::new();
    while let Some(seen) = within(seen.recv()).await {
        let closing = matches!(seen, Seen::Message(2, Message::Close(_)));
        got.push(seen);
        if closing {
            break;
        }
    }
    let mut expected = vec![
        Seen::Connection(1),
        text(1, "hello 1"),
        text(1, "one"),
        Seen::Connection(2),
        text(2, "hello 2"),
    ];
    expected.extend((0..5).map(|i| text(2, &format!("queued {i}"))));
    expected.push(Seen::Message(
        2,
        Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "done"))),
    ));
    assert_eq!(got, expected, "every message once, in order");
}

#[tokio::test]
async fn the_events_run_connected_disconnected_retrying_connected() {
    let (listener, addr) = listen().await;
    // The first connection is closed by the server (1012, service restart); the second stays.
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut ws = wskit::accept(stream).await.expect("server handshake");
        ws.close(CloseCode::from(1012), "restarting")
            .await
            .expect("close");
        let (stream, _) = listener.accept().await.expect("accept again");
        let mut ws = wskit::accept(stream).await.expect("server handshake");
        ws.recv().await
    });
    let (client, mut events) = ReconnectingClient::builder(Client::new(ws_url(addr)))
        .backoff(fast())
        .spawn();

    assert!(matches!(next_event(&mut events).await, Event::Connected));
    match next_event(&mut events).await {
        Event::Disconnected {
            reason: DisconnectReason::PeerClosed(Some(frame)),
        } => assert_eq!(frame, CloseFrame::new(CloseCode::from(1012), "restarting")),
        other => panic!("expected Disconnected(PeerClosed), got {other:?}"),
    }
    match next_event(&mut events).await {
        Event::Retrying { attempt, delay } => {
            assert_eq!(attempt, 1);
            assert!(delay <= Duration::from_millis(5));
        }
        other => panic!("expected Retrying, got {other:?}"),
    }
    assert!(until_connected(&mut events).await.is_empty());
    within(client.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
    let last = within(server).await.expect("server task");
    assert!(matches!(last, Some(Ok(Message::Close(_)))), "{last:?}");
}

#[tokio::test]
async fn gives_up_after_the_configured_attempts() {
    let addr = refusing_addr().await;
    let (client, mut events) = ReconnectingClient::builder(Client::new(ws_url(addr)))
        .backoff(fast().max_attempts(3))
        .spawn();

    let mut retries = Vec::new();
    let mut failures = Vec::new();
    loop {
        match next_event(&mut events).await {
            Event::ConnectFailed { attempt, .. } => failures.push(attempt),
            Event::Retrying { attempt, .. } => retries.push(attempt),
            Event::GaveUp => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(failures, [0, 1, 2, 3]);
    assert_eq!(retries, [1, 2, 3]);
    assert!(
        within(events.recv()).await.is_none(),
        "GaveUp is the last event"
    );
    assert!(matches!(
        client.send(Message::text("late")).await,
        Err(Error::GaveUp)
    ));
    assert!(matches!(
        client.try_send(Message::text("late")),
        Err(Error::GaveUp)
    ));
    assert!(matches!(within(client.recv()).await, Err(Error::GaveUp)));
}

#[tokio::test]
async fn gives_up_after_the_configured_time() {
    let addr = refusing_addr().await;
    let limit = Duration::from_millis(100);
    let start = tokio::time::Instant::now();
    let (client, mut events) = ReconnectingClient::builder(Client::new(ws_url(addr)))
        .backoff(
            Backoff::default()
                .initial_delay(Duration::from_millis(10))
                .jitter(false)
                .give_up_after(limit),
        )
        .spawn();
    let mut delays = Vec::new();
    loop {
        match next_event(&mut events).await {
            Event::Retrying { delay, .. } => delays.push(delay),
            Event::GaveUp => break,
            _ => {}
        }
    }
    // 10 + 20 + 40 ms fit in 100 ms; the next wait of 80 would not.
    assert!(delays.len() <= 3, "{delays:?}");
    assert!(start.elapsed() <= limit + Duration::from_secs(1));
    assert!(matches!(
        client.send(Message::text("x")).await,
        Err(Error::GaveUp)
    ));
}

#[tokio::test]
async fn a_full_queue_is_an_error_while_disconnected() {
    let addr = refusing_addr().await;
    // Retries an hour apart: the client stays disconnected.
    let slow = Backoff::default()
        .initial_delay(Duration::from_secs(3600))
        .jitter(false);
    let (client, mut events) = ReconnectingClient::builder(Client::new(ws_url(addr)))
        .backoff(slow.clone())
        .max_queued_messages(2)
        .spawn();
    client.try_send(Message::text("a")).expect("room for a");
    within(client.send(Message::text("b")))
        .await
        .expect("room for b");
    assert!(matches!(
        client.try_send(Message::text("c")),
        Err(Error::QueueFull)
    ));
    assert!(matches!(
        within(client.send(Message::text("c"))).await,
        Err(Error::QueueFull)
    ));
    assert_eq!(client.queued(), 2);
    // A close message goes through `close`, not the queue.
    assert!(matches!(
        client.try_send(Message::Close(None)),
        Err(Error::Unexpected("close", _))
    ));

    within(client.close(CloseCode::NORMAL, ""))
        .await
        .expect("close while disconnected");
    let mut last = None;
    while let Some(event) = within(events.recv()).await {
        last = Some(event);
    }
    assert!(matches!(
        last,
        Some(Event::Disconnected {
            reason: DisconnectReason::Requested
        })
    ));
    assert!(matches!(
        client.try_send(Message::text("d")),
        Err(Error::Closed)
    ));

    // The byte bound.
    let (client, _events) = ReconnectingClient::builder(Client::new(ws_url(addr)))
        .backoff(slow)
        .max_queued_bytes(10)
        .spawn();
    client
        .try_send(Message::binary(vec![0; 6]))
        .expect("6 bytes");
    assert!(matches!(
        client.try_send(Message::binary(vec![0; 6])),
        Err(Error::QueueFull)
    ));
    client
        .try_send(Message::binary(vec![0; 4]))
        .expect("4 more");
}

#[tokio::test]
async fn a_missed_heartbeat_reconnects() {
    let (listener, addr) = listen().await;
    // Completes every handshake, then never reads nor answers; keeps the sockets open.
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(accept_raw(&listener, "", b"").await);
        }
        std::future::pending::<()>().await;
        drop(held);
    });
    let (client, mut events) = ReconnectingClient::builder(Client::new(ws_url(addr)))
        .backoff(fast())
        .heartbeat(Duration::from_millis(20), Duration::from_millis(100))
        .spawn();

    assert!(matches!(next_event(&mut events).await, Event::Connected));
    assert!(matches!(
        next_event(&mut events).await,
        Event::Disconnected {
            reason: DisconnectReason::PongMissed
        }
    ));
    assert!(matches!(
        next_event(&mut events).await,
        Event::Retrying { attempt: 1, .. }
    ));
    until_connected(&mut events).await;
    server.abort();
    drop(client);
}

#[tokio::test]
async fn close_sends_the_queue_then_stops_reconnecting() {
    let (listener, addr) = listen().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let _server = spawn_echo_server(listener, 1, seen_tx);
    let (client, mut events) = ReconnectingClient::builder(Client::new(ws_url(addr)))
        .backoff(fast())
        .spawn();
    assert!(matches!(next_event(&mut events).await, Event::Connected));

    client.try_send(Message::text("last")).expect("queued");
    within(client.close(CloseCode::from(4000), "bye"))
        .await
        .expect("close");

    assert!(matches!(
        next_event(&mut events).await,
        Event::Disconnected {
            reason: DisconnectReason::Requested
        }
    ));
    assert!(
        within(events.recv()).await.is_none(),
        "no reconnection after close"
    );
    assert_eq!(within(seen.recv()).await, Some(Seen::Connection(1)));
    assert_eq!(within(seen.recv()).await, Some(text(1, "last")));
    assert_eq!(
        within(seen.recv()).await,
        Some(Seen::Message(
            1,
            Message::Close(Some(CloseFrame::new(CloseCode::from(4000), "bye")))
        ))
    );
    // The echo of "last" may have come before the close; then the end.
    loop {
        match within(client.recv()).await {
            Ok(msg) => assert_eq!(msg, Message::text("last")),
            Err(err) => {
                assert!(matches!(err, Error::Closed), "got {err:?}");
                break;
            }
        }
    }
    assert!(matches!(
        client.send(Message::text("after")).await,
        Err(Error::Closed)
    ));
    assert!(within(client.close(CloseCode::NORMAL, "")).await.is_ok());
}

#[tokio::test]
async fn a_failing_on_connect_hook_counts_as_a_failed_connect() {
    let (listener, addr) = listen().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let _server = spawn_echo_server(listener, 1, seen_tx);
    let calls = Arc::new(AtomicU32::new(0));
    let hook_calls = calls.clone();
    let (client, mut events) = ReconnectingClient::builder(Client::new(ws_url(addr)))
        .backoff(fast())
        .on_connect(move |_ws| {
            let first = hook_calls.fetch_add(1, Ordering::SeqCst) == 0;
            Box::pin(async move {
                if first {
                    Err(Error::Timeout("subscription"))
                } else {
                    Ok(())
                }
            })
        })
        .spawn();

    match next_event(&mut events).await {
        Event::ConnectFailed { attempt: 0, error } => {
            assert!(
                matches!(*error, Error::Timeout("subscription")),
                "{error:?}"
            );
        }
        other => panic!("expected ConnectFailed, got {other:?}"),
    }
    assert!(matches!(
        next_event(&mut events).await,
        Event::Retrying { attempt: 1, .. }
    ));
    assert!(until_connected(&mut events).await.is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(within(seen.recv()).await, Some(Seen::Connection(1)));
    assert_eq!(within(seen.recv()).await, Some(Seen::Connection(2)));
    within(client.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
}

#[tokio::test]
async fn dropping_the_client_closes_with_going_away() {
    let (listener, addr) = listen().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let _server = spawn_echo_server(listener, 1, seen_tx);
    let (client, mut events) = ReconnectingClient::builder(Client::new(ws_url(addr)))
        .backoff(fast())
        .spawn();
    assert!(matches!(next_event(&mut events).await, Event::Connected));
    drop(client);

    assert!(matches!(
        next_event(&mut events).await,
        Event::Disconnected {
            reason: DisconnectReason::Requested
        }
    ));
    assert!(within(events.recv()).await.is_none());
    assert_eq!(within(seen.recv()).await, Some(Seen::Connection(1)));
    assert_eq!(
        within(seen.recv()).await,
        Some(Seen::Message(
            1,
            Message::Close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "")))
        ))
    );
}
