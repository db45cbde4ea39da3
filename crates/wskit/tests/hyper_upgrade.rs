//! WebSocket endpoints inside a hyper 1 server (`wskit::upgrade`, feature `hyper`), over
//! loopback TCP: echo through `wskit::connect`, negotiation, rejections, and plain HTTP
//! served on as before.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use support::http1::{Http1, UPGRADE_NO_KEY};
use support::{listen, within};
use tokio::sync::mpsc;
use wskit::{Client, Config, Decision, Message, Server};

/// What the server saw of one WebSocket connection.
#[derive(Debug)]
struct Seen {
    compressed: bool,
    protocol: Option<String>,
    /// The WebSocket took the TCP stream back from hyper.
    over_tcp: bool,
}

/// Serves `/ws` (upgrade with `server`, then echo), `/guarded` (upgrade only with
/// `?token=secret`) and `/health` (plain text) with hyper's HTTP/1.1 server; reports each
/// WebSocket connection on the returned channel.
async fn serve(server: Server) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let (listener, addr) = listen().await;
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let server = server.clone();
            let seen = seen_tx.clone();
            let service = service_fn(move |req| route(req, server.clone(), seen.clone()));
            tokio::spawn(
                http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades(),
            );
        }
    });
    (addr, seen_rx)
}

async fn route(
    mut req: http::Request<Incoming>,
    server: Server,
    seen: mpsc::UnboundedSender<Seen>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let result = match req.uri().path() {
        "/ws" => wskit::upgrade::upgrade(&mut req, &server),
        "/guarded" => wskit::upgrade::upgrade_with(&mut req, &server, |head| {
            if head.query() == Some("token=secret") {
                Decision::Accept(vec![("X-Guard".into(), "passed".into())])
            } else {
                Decision::Reject {
                    status: 403,
                    body: "bad token".into(),
                    headers: vec![("X-Guard".into(), "failed".into())],
                }
            }
        }),
        "/health" => return Ok(http::Response::new(Full::from("ok"))),
        _ => {
            let mut response = http::Response::new(Full::from("not found"));
            *response.status_mut() = StatusCode::NOT_FOUND;
            return Ok(response);
        }
    };
    Ok(match result {
        Ok((response, pending)) => {
            tokio::spawn(echo(pending, seen));
            response
        }
        Err(rejection) => rejection.into(),
    })
}

async fn echo(pending: wskit::upgrade::PendingUpgrade, seen: mpsc::UnboundedSender<Seen>) {
    let mut ws = pending.await.expect("the upgrade completes");
    let _ = seen.send(Seen {
        compressed: ws.is_compressed(),
        protocol: ws.protocol().map(str::to_owned),
        over_tcp: matches!(ws.get_ref(), wskit::upgrade::UpgradedIo::Tcp(_)),
    });
    while let Some(Ok(msg)) = ws.recv().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            break;
        }
    }
}

/// Sends a text and a binary message and checks both come back, then closes.
async fn assert_echoes<S>(ws: &mut wskit::WebSocket<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let text = "hello through hyper ".repeat(50);
    let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    for msg in [Message::text(text), Message::binary(binary)] {
        within(ws.send(msg.clone())).await.expect("send");
        let echoed = within(ws.recv())
            .await
            .expect("an echo")
            .expect("a message");
        assert_eq!(echoed, msg);
    }
    within(ws.close(wskit::CloseCode::NORMAL, "done"))
        .await
        .expect("close");
}

#[tokio::test]
async fn echoes_text_and_binary_with_deflate_and_subprotocol() {
    let server = Server::default()
        .protocols(["chat.v2"])
        .header("X-Served-By", "wskit-hyper");
    let (addr, mut seen) = serve(server).await;

    let (mut ws, negotiated) = within(
        Client::new(format!("ws://{addr}/ws"))
            .protocols(["chat.v1", "chat.v2"])
            .connect(),
    )
    .await
    .expect("connect");
    assert_eq!(negotiated.protocol.as_deref(), Some("chat.v2"));
    assert!(negotiated.deflate.is_some(), "permessage-deflate agreed");
    assert!(ws.is_compressed());
    assert_eq!(negotiated.headers.get("x-served-by"), Some("wskit-hyper"));

    let server_side = within(seen.recv()).await.expect("a connection report");
    assert!(server_side.compressed);
    assert_eq!(server_side.protocol.as_deref(), Some("chat.v2"));
    assert!(server_side.over_tcp, "hyper's TcpStream is used directly");

    assert_echoes(&mut ws).await;
}

#[tokio::test]
async fn frames_sent_with_the_request_are_not_lost_when_the_stream_is_taken_back() {
    let (addr, mut seen) = serve(Server::default()).await;
    let mut raw = wskit_support::Raw::connect(addr).await;
    // The request and two frames in one write: hyper reads some of the frames with the head,
    // and hands them over with the stream.
    let mut bytes =
        wskit_support::upgrade_request_for("/ws", "dGhlIHNhbXBsZSBub25jZQ==", "").into_bytes();
    bytes.extend(wskit_support::client_frame(0x1, b"early one"));
    bytes.extend(wskit_support::client_frame(0x2, b"early two"));
    raw.write(&bytes).await;
    let head = within(raw.read_head()).await.expect("a response");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(within(seen.recv()).await.expect("a report").over_tcp);
    for expected in [&b"early one"[..], b"early two"] {
        let frame = within(raw.read_frame()).await.expect("an echo");
        assert_eq!(frame.payload, expected);
    }
}

#[tokio::test]
async fn server_config_reaches_the_connection() {
    // Compression off on the server side: the offer is declined, and the connection's limit
    // comes from the same `Config`.
    let server = Server::default().config(Config::default().deflate(None).max_message_size(1024));
    let (addr, mut seen) = serve(server).await;

    let (mut ws, negotiated) = within(wskit::connect(&format!("ws://{addr}/ws")))
        .await
        .expect("connect");
    assert!(negotiated.deflate.is_none());
    assert_eq!(negotiated.protocol, None);
    let server_side = within(seen.recv()).await.expect("a connection report");
    assert!(!server_side.compressed);
    assert_eq!(server_side.protocol, None);

    within(ws.send(Message::binary(vec![7u8; 2048])))
        .await
        .expect("send");
    // The server closes with 1009 (message too big) instead of echoing.
    if let Some(Ok(msg)) = within(ws.recv()).await {
        assert!(msg.is_close(), "expected a close, got {msg:?}");
    }
    let closed = ws.peer_close().map(|c| c.code);
    assert_eq!(closed, Some(wskit::CloseCode::MESSAGE_TOO_BIG));
}

#[tokio::test]
async fn plain_get_is_rejected_and_http_goes_on() {
    let (addr, _seen) = serve(Server::default()).await;
    let mut http = Http1::connect(addr).await;

    let plain = http.get("/ws", &[]).await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST);
    assert!(plain.body.contains("Upgrade"), "{}", plain.body);
    assert_eq!(plain.headers["content-type"], "text/plain; charset=utf-8");

    // The same connection serves the next request.
    let health = http.get("/health", &[]).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body, "ok");

    let mut no_key = Http1::connect(addr).await;
    let reply = no_key.get("/ws", &UPGRADE_NO_KEY).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains("Sec-WebSocket-Key"), "{}", reply.body);

    let mut wrong_version = Http1::connect(addr).await;
    let reply = wrong_version
        .get(
            "/ws",
            &[
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-key", support::KEY),
                ("sec-websocket-version", "8"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(reply.headers["sec-websocket-version"], "13");

    let mut after = Http1::connect(addr).await;
    assert_eq!(after.get("/health", &[]).await.body, "ok");
}

#[tokio::test]
async fn decide_accepts_or_rejects_with_headers() {
    let (addr, _seen) = serve(Server::default()).await;

    let err = within(wskit::connect(&format!("ws://{addr}/guarded?token=wrong")))
        .await
        .expect_err("rejected");
    assert_eq!(err.http_status(), Some(403));

    let (mut ws, negotiated) = within(wskit::connect(&format!("ws://{addr}/guarded?token=secret")))
        .await
        .expect("accepted");
    assert_eq!(negotiated.headers.get("x-guard"), Some("passed"));
    assert_echoes(&mut ws).await;

    let mut http = Http1::connect(addr).await;
    let reply = http
        .get(
            "/guarded",
            &[
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-key", support::KEY),
                ("sec-websocket-version", "13"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.body, "bad token");
    assert_eq!(reply.headers["x-guard"], "failed");
}
