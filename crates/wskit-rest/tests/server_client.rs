//! `RestServer` and `RestClient` over loopback: handshake metadata and ids, lookups, events,
//! calls both ways, reconnection mid-request, both protocols.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{GUARD, api, echo};
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast};
use tokio::time::timeout;
use tower::ServiceExt;
use wskit::{Backoff, Message};
use wskit_rest::{
    Body, Config, ConnectionEvent, Error, PROTOCOL, RestClient, RestConnection, RestServer,
};

async fn start(server: &RestServer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/rest", listener.local_addr().unwrap());
    let server = server.clone();
    tokio::spawn(async move { server.serve(listener).await });
    url
}

async fn received(events: &mut broadcast::Receiver<ConnectionEvent>) -> String {
    match timeout(GUARD, events.recv()).await.unwrap().unwrap() {
        ConnectionEvent::Received { id } => id,
        other => panic!("expected Received, got {other:?}"),
    }
}

fn fast_backoff() -> Backoff {
    Backoff::default()
        .initial_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(100))
}

async fn both_ways(swagger: bool) {
    let server = RestServer::new(RestConnection::builder().serve(api("server")));
    let mut events = server.events();
    let url = start(&server).await;
    let mut builder = RestClient::builder(wskit::Client::new(url))
        .rest(RestConnection::builder().serve(api("client")))
        .metadata(serde_json::json!({"agent": "a1", "site": 7}));
    if swagger {
        builder = builder.swagger();
    }
    let client = builder.spawn();
    let id = received(&mut events).await;
    assert_eq!(
        server.metadata(&id),
        Some(serde_json::json!({"agent": "a1", "site": 7}))
    );
    assert_eq!(server.ids(), vec![id.clone()]);
    let found = server.find(|meta| meta["agent"] == "a1");
    assert_eq!(found.len(), 1);
    assert!(server.find(|meta| meta["agent"] == "b2").is_empty());
    let conn = server.connection(&id).unwrap();
    assert_eq!(
        conn.protocol(),
        if swagger { "swaggersocket" } else { PROTOCOL }
    );

    // The client calls the server, the server calls the client.
    assert_eq!(echo(client.connection(), 3).await, "server:3");
    assert_eq!(echo(&conn, 4).await, "client:4");
    assert_eq!(client.connection_id().as_deref(), Some(id.as_str()));

    client.close().await;
    match timeout(GUARD, events.recv()).await.unwrap().unwrap() {
        ConnectionEvent::Closed { id: closed, .. } => assert_eq!(closed, id),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(server.connection(&id).is_none());
}

#[tokio::test]
async fn our_protocol_registers_finds_and_calls_both_ways() {
    both_ways(false).await;
}

#[tokio::test]
async fn swaggersocket_registers_finds_and_calls_both_ways() {
    both_ways(true).await;
}

#[tokio::test]
async fn our_protocol_fails_in_flight_requests_on_a_drop_and_waits_for_the_reconnect() {
    reconnect_mid_request(false).await;
}

#[tokio::test]
async fn swaggersocket_fails_in_flight_requests_on_a_drop_and_waits_for_the_reconnect() {
    reconnect_mid_request(true).await;
}

async fn reconnect_mid_request(swagger: bool) {
    let started = Arc::new(Notify::new());
    let app = Router::new()
        .route(
            "/wait",
            get({
                let started = started.clone();
                move || async move {
                    started.notify_one();
                    std::future::pending::<&'static str>().await
                }
            }),
        )
        .merge(api("server"));
    let server = RestServer::new(RestConnection::builder().serve(app));
    let mut events = server.events();
    let url = start(&server).await;
    let mut builder = RestClient::builder(wskit::Client::new(url)).backoff(fast_backoff());
    if swagger {
        builder = builder.swagger();
    }
    let client = builder.spawn();
    let first = received(&mut events).await;

    let request = http::Request::get("/wait").body(Body::empty()).unwrap();
    let call = tokio::spawn(client.clone().oneshot(request));
    timeout(GUARD, started.notified()).await.unwrap();
    server.connection(&first).unwrap().close();
    let result = timeout(GUARD, call).await.unwrap().unwrap();
    assert!(
        matches!(result, Err(Error::ConnectionClosed(_))),
        "{result:?}"
    );

    // Made while the client is (or is about to be) reconnecting: it waits, then succeeds.
    let request = tokio::spawn({
        let client = client.clone();
        async move { echo(client.connection(), 9).await }
    });
    let second = loop {
        match timeout(GUARD, events.recv()).await.unwrap().unwrap() {
            ConnectionEvent::Received { id } => break id,
            ConnectionEvent::Closed { .. } => {}
            other => panic!("{other:?}"),
        }
    };
    assert_ne!(first, second);
    assert_eq!(timeout(GUARD, request).await.unwrap().unwrap(), "server:9");
    assert_eq!(client.connection_id(), Some(second));
    client.close().await;
}

#[tokio::test]
async fn a_request_while_the_server_is_unreachable_fails_at_its_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/rest", listener.local_addr().unwrap());
    drop(listener);
    let client = RestClient::builder(wskit::Client::new(url))
        .backoff(fast_backoff())
        .rest(
            RestConnection::builder()
                .config(Config::default().request_timeout(Duration::from_millis(300))),
        )
        .spawn();
    let request = http::Request::get("/echo/1").body(Body::empty()).unwrap();
    let result = timeout(GUARD, client.clone().oneshot(request))
        .await
        .unwrap();
    assert!(matches!(result, Err(Error::Timeout(_))), "{result:?}");
    assert!(!client.is_connected());
    client.close().await;
}

#[tokio::test]
async fn a_broken_handshake_is_reported_as_a_failed_connection() {
    let server = RestServer::new(RestConnection::builder());
    let mut events = server.events();
    let url = start(&server).await;
    let (mut ws, _) = wskit::connect(&url).await.unwrap();
    ws.send(Message::text("{\"Type\":\"Hello\"}"))
        .await
        .unwrap();
    match timeout(GUARD, events.recv()).await.unwrap().unwrap() {
        ConnectionEvent::Failed { reason, .. } => {
            assert!(reason.contains("ClientHandshakeMetaData"), "{reason}")
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(server.ids().is_empty());
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_reported_failed() {
    let server = RestServer::new(
        RestConnection::builder().heartbeat(Duration::from_millis(100), Duration::from_millis(200)),
    );
    let mut events = server.events();
    let url = start(&server).await;
    let (mut ws, _) = wskit::connect(&url).await.unwrap();
    wskit_rest::swagger::client_handshake(&mut ws, &serde_json::json!("quiet"))
        .await
        .unwrap();
    let id = received(&mut events).await;
    // `ws` is never read again, so the pings it receives are never answered.
    match timeout(GUARD, events.recv()).await.unwrap().unwrap() {
        ConnectionEvent::Failed { id: failed, reason } => {
            assert_eq!(failed, id);
            assert!(reason.contains("pong"), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    drop(ws);
}

#[tokio::test]
async fn each_connection_gets_the_api_attached_on_its_received_event() {
    for swagger in [false, true] {
        // No service for all: each connection gets its own when it is received, chosen from
        // its metadata (the seed's `conn.Serve(ctx, handler)` on `ConnectionReceived`).
        let server = RestServer::new(RestConnection::builder());
        let mut events = server.events();
        let url = start(&server).await;
        let attach = tokio::spawn({
            let server = server.clone();
            async move {
                for _ in 0..2 {
                    let id = received(&mut events).await;
                    let meta = server.metadata(&id).unwrap();
                    let name = meta["name"].as_str().unwrap().to_owned();
                    let conn = server.connection(&id).unwrap();
                    let app = Router::new().route(
                        "/whoami",
                        get(move || async move { format!("{name} {id}") }),
                    );
                    conn.serve(app);
                }
            }
        });
        let mut clients = Vec::new();
        for name in ["alice", "bob"] {
            let mut builder = RestClient::builder(wskit::Client::new(url.clone()))
                .metadata(serde_json::json!({ "name": name }));
            if swagger {
                builder = builder.swagger();
            }
            clients.push(builder.spawn());
        }
        timeout(GUARD, attach).await.unwrap().unwrap();
        for (client, name) in clients.iter().zip(["alice", "bob"]) {
            let request = http::Request::get("/whoami").body(Body::empty()).unwrap();
            let response = timeout(GUARD, client.clone().oneshot(request))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(response.status(), 200, "swagger: {swagger}");
            let id = client.connection_id().unwrap();
            assert_eq!(
                common::text(response.into_body()).await,
                format!("{name} {id}")
            );
        }
        for client in clients {
            client.close().await;
        }
    }
}

#[tokio::test]
async fn heartbeats_carry_app_data_and_pings_and_pongs_reach_their_handlers() {
    let (pings_tx, mut pings) = tokio::sync::mpsc::unbounded_channel();
    let (pongs_tx, mut pongs) = tokio::sync::mpsc::unbounded_channel();
    let builder = RestConnection::builder()
        .heartbeat(Duration::from_millis(50), GUARD)
        .app_data("server-1")
        .unwrap()
        .ping_handler(move |data| {
            let _ = pings_tx.send(data);
            Some(bytes::Bytes::from_static(b"server's own pong"))
        })
        .pong_handler(move |data| {
            let _ = pongs_tx.send(data);
        });
    assert!(
        RestConnection::builder()
            .app_data(vec![b'x'; wskit::MAX_APP_DATA + 1])
            .is_err()
    );
    let server = RestServer::new(builder);
    let url = start(&server).await;
    let (mut ws, _) = wskit::Client::new(url).connect().await.unwrap();
    wskit_rest::swagger::client_handshake(&mut ws, &serde_json::Value::Null)
        .await
        .unwrap();
    // The server's heartbeat ping carries the app data; our WebSocket answers it, and the
    // pong reaches the server's pong handler.
    let ping = match timeout(GUARD, ws.recv()).await.unwrap().unwrap().unwrap() {
        Message::Ping(data) => data,
        other => panic!("expected a ping, got {other:?}"),
    };
    assert!(ping.starts_with(b"server-1"), "{ping:?}");
    assert_eq!(ping.len(), "server-1".len() + 8);
    let pong = timeout(GUARD, pongs.recv()).await.unwrap().unwrap();
    assert_eq!(pong, ping);
    // A ping from the client reaches the ping handler, which answers it in place of the
    // default pong.
    ws.send(Message::Ping(bytes::Bytes::from_static(b"hello")))
        .await
        .unwrap();
    assert_eq!(
        &timeout(GUARD, pings.recv()).await.unwrap().unwrap()[..],
        b"hello"
    );
    loop {
        match timeout(GUARD, ws.recv()).await.unwrap().unwrap().unwrap() {
            Message::Pong(data) if &data[..] == b"server's own pong" => break,
            Message::Pong(data) if &data[..] == b"hello" => panic!("the default pong was sent"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected the pong, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_rest_clients_heartbeat_carries_app_data_and_its_handlers_see_pings_and_pongs() {
    let (pings_tx, mut pings) = tokio::sync::mpsc::unbounded_channel();
    let (pongs_tx, mut pongs) = tokio::sync::mpsc::unbounded_channel();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/rest", listener.local_addr().unwrap());
    let rest = RestConnection::builder()
        .app_data("client-1")
        .unwrap()
        .ping_handler(move |data| {
            let _ = pings_tx.send(data);
            Some(bytes::Bytes::from_static(b"client's own pong"))
        })
        .pong_handler(move |data| {
            let _ = pongs_tx.send(data);
        });
    let client = RestClient::builder(wskit::Client::new(url))
        .rest(rest)
        .heartbeat(Duration::from_millis(50), GUARD)
        .swagger()
        .spawn();
    let (stream, _) = timeout(GUARD, listener.accept()).await.unwrap().unwrap();
    let (mut ws, _) = wskit::Server::default().accept(stream).await.unwrap();
    wskit_rest::swagger::server_handshake(&mut ws, "id-1")
        .await
        .unwrap();
    let ping = match timeout(GUARD, ws.recv()).await.unwrap().unwrap().unwrap() {
        Message::Ping(data) => data,
        other => panic!("expected a ping, got {other:?}"),
    };
    assert!(ping.starts_with(b"client-1"), "{ping:?}");
    assert_eq!(timeout(GUARD, pongs.recv()).await.unwrap().unwrap(), ping);
    ws.send(Message::Ping(bytes::Bytes::from_static(b"hi")))
        .await
        .unwrap();
    assert_eq!(
        &timeout(GUARD, pings.recv()).await.unwrap().unwrap()[..],
        b"hi"
    );
    // The handler's pong, not the default one with the ping's data.
    loop {
        match timeout(GUARD, ws.recv()).await.unwrap().unwrap().unwrap() {
            Message::Pong(data) if &data[..] == b"client's own pong" => break,
            Message::Pong(data) if &data[..] == b"hi" => panic!("the default pong was sent"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected the pong, got {other:?}"),
        }
    }
    client.close().await;
}

#[tokio::test]
async fn a_rest_client_attaches_its_api_after_it_started() {
    let server = RestServer::new(RestConnection::builder());
    let mut events = server.events();
    let url = start(&server).await;
    let client = RestClient::builder(wskit::Client::new(url))
        .swagger()
        .spawn();
    // The seed's `wsClient.Connection().Serve(ctx, handler)`.
    client.connection().serve(api("late"));
    let id = received(&mut events).await;
    let conn = server.connection(&id).unwrap();
    assert_eq!(echo(&conn, 5).await, "late:5");
    client.close().await;
}
