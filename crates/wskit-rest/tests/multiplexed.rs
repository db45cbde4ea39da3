//! Our protocol over loopback sockets: many requests both ways, streamed bodies with flow
//! control, cancellation, timeouts, limits, malformed frames, a dropped connection.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use common::{GUARD, api, echo, text, ws_pair};
use http_body_util::{BodyExt, Channel};
use tokio::sync::oneshot;
use tokio::time::timeout;
use tower::ServiceExt;
use wskit::Message;
use wskit_rest::{Body, Builder, Config, Error, PROTOCOL, RestConnection};

async fn pair(server: Builder, client: Builder) -> (RestConnection, RestConnection) {
    let (server_ws, client_ws) = ws_pair(&[PROTOCOL]).await;
    assert_eq!(server_ws.protocol(), Some(PROTOCOL));
    (server.negotiated(server_ws), client.negotiated(client_ws))
}

fn serving(name: &'static str) -> Builder {
    RestConnection::builder().serve(api(name))
}

#[tokio::test]
async fn a_hundred_requests_in_flight_each_way_at_once_match_their_responses() {
    let (server, client) = pair(serving("server"), serving("client")).await;
    assert_eq!(server.protocol(), PROTOCOL);
    let mut tasks = Vec::new();
    for n in 0..100 {
        let (server, client) = (server.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            assert_eq!(echo(&client, n).await, format!("server:{n}"));
            assert_eq!(echo(&server, n).await, format!("client:{n}"));
        }));
    }
    timeout(GUARD, async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_body_larger_than_every_buffer_streams_both_ways() {
    let (_server, client) = pair(serving("server"), RestConnection::builder()).await;
    // 8 MiB through a window of 256 KiB, echoed back while it is still being sent.
    let (mut tx, body) = Channel::<Bytes, std::convert::Infallible>::new(2);
    let sender = tokio::spawn(async move {
        for i in 0..128_u32 {
            let chunk = Bytes::from(vec![(i % 251) as u8; 64 << 10]);
            tx.send_data(chunk).await.unwrap();
        }
    });
    let request = http::Request::post("/stream").body(body).unwrap();
    let response = timeout(GUARD, client.clone().oneshot(request))
        .await
        .unwrap()
        .unwrap();
    let mut body = response.into_body();
    let mut total = 0_usize;
    let mut expected = 0_u8;
    let mut in_chunk = 0_usize;
    timeout(GUARD, async {
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            for &byte in data.iter() {
                assert_eq!(byte, expected, "byte {total}");
                total += 1;
                in_chunk += 1;
                if in_chunk == 64 << 10 {
                    in_chunk = 0;
                    expected = ((total / (64 << 10)) % 251) as u8;
                }
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(total, 8 << 20);
    sender.await.unwrap();
}

/// An endless body of 16 KiB chunks that counts how many bytes the sender has taken.
struct Endless(Arc<AtomicUsize>);

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.0.fetch_add(16 << 10, Ordering::SeqCst);
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(vec![
            b'x';
            16 << 10
        ])))))
    }
}

#[tokio::test]
async fn a_slow_reader_stops_the_sender_at_the_window() {
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = produced.clone();
    let app = Router::new().route(
        "/endless",
        get(move || async move { axum::body::Body::new(Endless(counter.clone())) }),
    );
    let config = Config::default().initial_window(256 << 10);
    let (_server, client) = pair(
        RestConnection::builder().config(config.clone()).serve(app),
        RestConnection::builder().config(config),
    )
    .await;
    let request = http::Request::get("/endless").body(Body::empty()).unwrap();
    let response = timeout(GUARD, client.clone().oneshot(request))
        .await
        .unwrap()
        .unwrap();
    let mut body = response.into_body();
    // Read 1 MiB, then stop reading.
    let mut read = 0;
    while read < 1 << 20 {
        read += body
            .frame()
            .await
            .unwrap()
            .unwrap()
            .into_data()
            .unwrap()
            .len();
    }
    // Give the sender time to run ahead if flow control did not hold it back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ahead = produced.load(Ordering::SeqCst) - read;
    // The window, the grant batch and one chunk buffered in the sender at most.
    assert!(
        ahead <= (256 + 64 + 32) << 10,
        "the sender ran {ahead} bytes ahead"
    );
    // Dropping the body cancels the stream: the server stops producing.
    drop(body);
    let before = produced.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(produced.load(Ordering::SeqCst) - before <= 16 << 10);
}

/// Reports through a oneshot when the handler's future is dropped.
struct DropSignal(Option<oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

fn waiting_app(
    started: tokio::sync::mpsc::Sender<()>,
    dropped: Arc<std::sync::Mutex<Option<oneshot::Sender<()>>>>,
) -> Router {
    Router::new().route(
        "/wait",
        get(move || {
            let started = started.clone();
            let signal = DropSignal(dropped.lock().unwrap().take());
            async move {
                let _signal = signal;
                started.send(()).await.unwrap();
                std::future::pending::<&'static str>().await
            }
        }),
    )
}

#[tokio::test]
async fn dropping_the_request_future_cancels_the_handler() {
    let (started_tx, mut started) = tokio::sync::mpsc::channel(1);
    let (dropped_tx, dropped) = oneshot::channel();
    let app = waiting_app(
        started_tx,
        Arc::new(std::sync::Mutex::new(Some(dropped_tx))),
    );
    let (_server, client) = pair(
        RestConnection::builder().serve(app),
        RestConnection::builder(),
    )
    .await;
    let request = http::Request::get("/wait").body(Body::empty()).unwrap();
    let call = tokio::spawn(client.clone().oneshot(request));
    timeout(GUARD, started.recv()).await.unwrap().unwrap();
    call.abort();
    timeout(GUARD, dropped).await.unwrap().unwrap();
    // The connection still works.
    assert_eq!(echo_status(&client, "/wait-not-found").await, 404);
}

async fn echo_status(conn: &RestConnection, path: &str) -> u16 {
    let request = http::Request::get(path).body(Body::empty()).unwrap();
    let response = timeout(GUARD, conn.clone().oneshot(request))
        .await
        .unwrap()
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn a_request_times_out_and_its_handler_is_cancelled() {
    let (started_tx, mut started) = tokio::sync::mpsc::channel(1);
    let (dropped_tx, dropped) = oneshot::channel();
    let app = waiting_app(
        started_tx,
        Arc::new(std::sync::Mutex::new(Some(dropped_tx))),
    );
    let (_server, client) = pair(
        RestConnection::builder().serve(app),
        RestConnection::builder()
            .config(Config::default().request_timeout(Duration::from_millis(300))),
    )
    .await;
    let request = http::Request::get("/wait").body(Body::empty()).unwrap();
    let result = timeout(GUARD, client.clone().oneshot(request))
        .await
        .unwrap();
    assert!(
        matches!(result, Err(Error::Timeout(t)) if t == Duration::from_millis(300)),
        "{result:?}"
    );
    timeout(GUARD, started.recv()).await.unwrap().unwrap();
    timeout(GUARD, dropped).await.unwrap().unwrap();
}

#[tokio::test]
async fn oversize_heads_and_bodies_get_431_and_413() {
    let config = Config::default()
        .max_head_size(1024)
        .max_body_size(64 << 10);
    let (_server, client) = pair(
        RestConnection::builder()
            .config(config)
            .serve(api("server")),
        RestConnection::builder(),
    )
    .await;
    let big_header = "v".repeat(2000);
    let request = http::Request::get("/echo/1")
        .header("x-big", big_header)
        .body(Body::empty())
        .unwrap();
    let response = timeout(GUARD, client.clone().oneshot(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 431);
    assert!(
        text(response.into_body())
            .await
            .contains("larger than 1024 bytes")
    );

    // Declared too large: refused before the handler runs.
    let request = http::Request::post("/count")
        .header("content-length", "100000")
        .body(Body::from(vec![0_u8; 100_000]))
        .unwrap();
    let response = timeout(GUARD, client.clone().oneshot(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 413);

    // Streamed without a length: refused when it passes the limit.
    let (mut tx, body) = Channel::<Bytes, std::convert::Infallible>::new(2);
    tokio::spawn(async move {
        for _ in 0..64 {
            if tx
                .send_data(Bytes::from(vec![0_u8; 16 << 10]))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let request = http::Request::post("/stream").body(body).unwrap();
    let response = timeout(GUARD, client.clone().oneshot(request))
        .await
        .unwrap();
    match response {
        Ok(response) => {
            // The echo started before the limit was hit: the body then fails.
            assert!(response.status() == 413 || response.into_body().collect().await.is_err());
        }
        Err(error) => panic!("{error}"),
    }
    // Within the limits all is well.
    assert_eq!(echo(&client, 5).await, "server:5");
}

trait IntoPayload {
    fn into_payload(self) -> Bytes;
}

impl IntoPayload for Message {
    fn into_payload(self) -> Bytes {
        match self {
            Self::Text(text) => text.into_bytes(),
            Self::Binary(data) => data,
            other => panic!("expected a data message, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn malformed_frames_are_answered_with_an_error_not_a_panic() {
    let (server_ws, mut raw) = ws_pair(&[PROTOCOL]).await;
    let _server = RestConnection::builder()
        .serve(api("server"))
        .multiplexed(server_ws);
    let expect_reset = |message: Message, stream: u32, words: &'static str| {
        let data = message.into_payload();
        assert_eq!(data[0], 0x04, "a RESET frame: {data:?}");
        assert_eq!(u32::from_be_bytes(data[2..6].try_into().unwrap()), stream);
        let reason = String::from_utf8_lossy(&data[10..]).into_owned();
        assert!(reason.contains(words), "{reason}");
    };
    let next = async |raw: &mut wskit::WebSocket<_>| -> Message {
        timeout(GUARD, raw.recv()).await.unwrap().unwrap().unwrap()
    };

    raw.send(Message::binary(&b"\x02\x00"[..])).await.unwrap();
    expect_reset(next(&mut raw).await, 0, "shorter than");
    raw.send(Message::binary(&b"\x7f\x00\x00\x00\x00\x01"[..]))
        .await
        .unwrap();
    expect_reset(next(&mut raw).await, 0, "unknown frame type 0x7f");
    raw.send(Message::text("GET / HTTP/1.1\r\n\r\n"))
        .await
        .unwrap();
    expect_reset(next(&mut raw).await, 0, "text message");
    raw.send(Message::binary(&b"\x02\x00\x00\x00\x00\x09data"[..]))
        .await
        .unwrap();
    expect_reset(next(&mut raw).await, 9, "not open");

    // A broken head gets a 400 response on its stream.
    raw.send(Message::binary(
        &b"\x01\x01\x00\x00\x00\x01NOT HTTP\r\n\r\n"[..],
    ))
    .await
    .unwrap();
    let head = next(&mut raw).await.into_payload();
    assert_eq!(&head[..6], b"\x01\x00\x00\x00\x00\x01");
    assert!(
        head[6..].starts_with(b"HTTP/1.1 400 Bad Request\r\n"),
        "{head:?}"
    );

    // And the connection still serves a good request.
    raw.send(Message::binary(
        &b"\x01\x01\x00\x00\x00\x03GET /echo/7 HTTP/1.1\r\nHost: x\r\n\r\n"[..],
    ))
    .await
    .unwrap();
    loop {
        let frame = next(&mut raw).await.into_payload();
        if frame[0] == 0x01 && frame[5] == 3 {
            assert!(frame[6..].starts_with(b"HTTP/1.1 200 OK\r\n"));
            break;
        }
    }
}

#[tokio::test]
async fn requests_in_flight_fail_when_the_connection_drops() {
    let (started_tx, mut started) = tokio::sync::mpsc::channel(1);
    let app = waiting_app(started_tx, Arc::new(std::sync::Mutex::new(None)));
    let (server, client) = pair(
        RestConnection::builder().serve(app),
        RestConnection::builder(),
    )
    .await;
    let request = http::Request::get("/wait").body(Body::empty()).unwrap();
    let call = tokio::spawn(client.clone().oneshot(request));
    timeout(GUARD, started.recv()).await.unwrap().unwrap();
    server.close();
    let result = timeout(GUARD, call).await.unwrap().unwrap();
    assert!(
        matches!(result, Err(Error::ConnectionClosed(_))),
        "{result:?}"
    );
    timeout(GUARD, client.closed()).await.unwrap();
    let request = http::Request::get("/echo/1").body(Body::empty()).unwrap();
    assert!(matches!(
        client.clone().oneshot(request).await,
        Err(Error::ConnectionClosed(_))
    ));
}

#[tokio::test]
async fn a_panicking_handler_gets_a_500_and_the_connection_goes_on() {
    let (_server, client) = pair(serving("server"), RestConnection::builder()).await;
    assert_eq!(echo_status(&client, "/panic").await, 500);
    assert_eq!(echo(&client, 2).await, "server:2");
}

#[tokio::test]
async fn a_connection_without_a_service_answers_501() {
    let (_server, client) = pair(RestConnection::builder(), serving("client")).await;
    assert_eq!(echo_status(&client, "/echo/1").await, 501);
}

#[tokio::test]
async fn a_request_timeout_extension_overrides_the_configured_one() {
    let (_server, client) = pair(serving("server"), RestConnection::builder()).await;
    let request = http::Request::get("/pending")
        .extension(wskit_rest::RequestTimeout(Duration::from_millis(200)))
        .body(Body::empty())
        .unwrap();
    let result = timeout(GUARD, client.clone().oneshot(request))
        .await
        .unwrap();
    assert!(
        matches!(result, Err(Error::Timeout(t)) if t == Duration::from_millis(200)),
        "{result:?}"
    );
}

#[tokio::test]
async fn the_websocket_server_streams_a_large_body_through_the_clients_api() {
    let (server, _client) = pair(RestConnection::builder(), serving("client")).await;
    let (mut tx, body) = Channel::<Bytes, std::convert::Infallible>::new(2);
    tokio::spawn(async move {
        for _ in 0..64 {
            tx.send_data(Bytes::from(vec![7_u8; 64 << 10]))
                .await
                .unwrap();
        }
    });
    let request = http::Request::post("/stream").body(body).unwrap();
    let response = timeout(GUARD, server.clone().oneshot(request))
        .await
        .unwrap()
        .unwrap();
    let body = timeout(GUARD, response.into_body().collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert_eq!(body.len(), 4 << 20);
    assert!(body.iter().all(|&b| b == 7));
}

/// A service that answers every request with the status in its path (`/{code}`) and a body,
/// whatever the method: the engine, not the service, must keep bodies off responses that
/// have none.
fn careless_statuses() -> Builder {
    RestConnection::builder().serve(tower::service_fn(
        |request: http::Request<Body>| async move {
            let code: u16 = request.uri().path()[1..].parse().unwrap_or(200);
            let mut response = http::Response::new(Body::from("eleven byte"));
            *response.status_mut() = http::StatusCode::from_u16(code).unwrap();
            Ok::<_, std::convert::Infallible>(response)
        },
    ))
}

#[tokio::test]
async fn head_204_and_304_responses_carry_no_body_and_end_with_their_headers() {
    let (server_ws, mut raw) = ws_pair(&[PROTOCOL]).await;
    let _server = careless_statuses().multiplexed(server_ws);
    let cases = [
        ("HEAD /200", 1_u32, "HTTP/1.1 200 OK\r\n", Some("11")),
        ("GET /204", 3, "HTTP/1.1 204 No Content\r\n", None),
        ("GET /304", 5, "HTTP/1.1 304 Not Modified\r\n", None),
        ("GET /200", 7, "HTTP/1.1 200 OK\r\n", None),
    ];
    for (line, stream, status, length) in cases {
        let mut frame = vec![0x01, 0x01];
        frame.extend_from_slice(&stream.to_be_bytes());
        frame.extend_from_slice(line.as_bytes());
        frame.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        raw.send(Message::binary(frame)).await.unwrap();
        let head = timeout(GUARD, raw.recv()).await.unwrap().unwrap().unwrap();
        let head = head.into_payload();
        assert_eq!(head[0], 0x01, "HEADERS: {head:?}");
        assert_eq!(&head[2..6], stream.to_be_bytes());
        assert!(head[6..].starts_with(status.as_bytes()), "{head:?}");
        let text = String::from_utf8_lossy(&head[6..]).to_ascii_lowercase();
        if stream == 7 {
            // A response with a body: HEADERS, then DATA.
            assert_eq!(head[1], 0x00);
            continue;
        }
        assert_eq!(head[1], 0x01, "END_STREAM on the HEADERS of {line:?}");
        match length {
            Some(length) => assert!(text.contains(&format!("content-length: {length}\r\n"))),
            None if stream == 3 => assert!(!text.contains("content-length"), "{text}"),
            None => {}
        }
    }
}

#[tokio::test]
async fn our_requester_ends_a_head_response_at_its_headers_even_if_data_follows() {
    let (mut raw, client_ws) = ws_pair(&[PROTOCOL]).await;
    let client = RestConnection::builder().multiplexed(client_ws);
    let request = http::Request::head("/x").body(Body::empty()).unwrap();
    let call = tokio::spawn(client.clone().oneshot(request));
    let sent = timeout(GUARD, raw.recv()).await.unwrap().unwrap().unwrap();
    let sent = sent.into_payload();
    assert_eq!(&sent[..6], b"\x01\x01\x00\x00\x00\x01");
    assert!(sent[6..].starts_with(b"HEAD /x HTTP/1.1\r\n"));
    // A peer that announces a body and sends it: the response still ends at its head.
    raw.send(Message::binary(
        &b"\x01\x00\x00\x00\x00\x01HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"[..],
    ))
    .await
    .unwrap();
    let response = timeout(GUARD, call).await.unwrap().unwrap().unwrap();
    assert_eq!(response.headers()["content-length"], "5");
    assert_eq!(text(response.into_body()).await, "");
    // And it tells the peer to stop: RESET NO_ERROR.
    let reset = timeout(GUARD, raw.recv()).await.unwrap().unwrap().unwrap();
    let reset = reset.into_payload();
    assert_eq!(&reset[..10], b"\x04\x00\x00\x00\x00\x01\x00\x00\x00\x00");
    // Through a real pair, HEAD gets the length a GET would and no body.
    let (_server, client) = pair(careless_statuses(), RestConnection::builder()).await;
    let request = http::Request::head("/200").body(Body::empty()).unwrap();
    let response = timeout(GUARD, client.oneshot(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.headers()["content-length"], "11");
    assert_eq!(text(response.into_body()).await, "");
}
