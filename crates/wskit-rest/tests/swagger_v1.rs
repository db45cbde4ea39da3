//! SwaggerSocket v1 over loopback sockets, byte for byte: the Go side is played by a raw
//! WebSocket sending and expecting the exact bytes the Go code (go-openapi/swaggersocket:
//! `handshake.go`, `socketserver.go`, `socketclient.go`, `socketresponse.go`, with `net/http`'s
//! `Request.Write`) puts on the wire, including cases a real Go peer cannot be made to send
//! (malformed and oversize messages). The Go library itself runs against wskit in
//! `tests/swaggersocket/run.sh`.

mod common;

use std::time::Duration;

use common::{GUARD, api, echo, text, ws_pair};
use tokio::time::timeout;
use tower::ServiceExt;
use wskit::{Message, WebSocket};
use wskit_rest::{Body, Config, Error, RestConnection, swagger};

/// What Go's `json.Encoder` writes for the client's metadata `{"agent":"a1"}`.
const GO_META: &str = "{\"Type\":\"ClientHandshakeMetaData\",\"Meta\":{\"agent\":\"a1\"}}\n";
/// What Go's `json.Encoder` writes for the server's answer.
const GO_CONNECTION_ID: &str = "{\"Type\":\"ServerHandshakeConnectionID\",\"ConnectionID\":\"1b4e28ba-2fa1-4d2c-883f-0016d3cca427\"}\n";
/// What Go's `json.Encoder` writes for the acknowledgement.
const GO_ACK: &str = "{\"Type\":\"ClientHandshakeAckFrame\"}\n";

/// `Request.Write` of `GET http://localhost/echo/1` with a correlation id.
const GO_GET: &str = "GET /echo/1 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Go-http-client/1.1\r\n\
                      X-Correlation-Id: 7f3c\r\n\r\n";
/// `Request.Write` of a POST with a 27-byte body.
const GO_POST: &str = "POST /count HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Go-http-client/1.1\r\n\
                       Content-Length: 27\r\nContent-Type: application/json\r\nX-Correlation-Id: 8\r\n\r\n\
                       {\"name\":\"rex\",\"tag\":\"dog\"}\n";

async fn next_text<S>(ws: &mut WebSocket<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match timeout(GUARD, ws.recv()).await.unwrap().unwrap().unwrap() {
            Message::Text(text) => return text.as_str().to_owned(),
            Message::Binary(_) => panic!("SwaggerSocket v1 sends text messages"),
            _ => {}
        }
    }
}

/// Our server (serving `api("server")`) and a raw Go-like client after the handshake.
async fn our_server_and_go_client(
    config: Config,
) -> (RestConnection, WebSocket<wskit::MaybeTlsStream>) {
    let (mut server_ws, mut raw) = ws_pair(&[]).await;
    let server = tokio::spawn(async move {
        let meta =
            swagger::server_handshake(&mut server_ws, "1b4e28ba-2fa1-4d2c-883f-0016d3cca427")
                .await
                .unwrap();
        assert_eq!(meta, serde_json::json!({"agent": "a1"}));
        RestConnection::builder()
            .config(config)
            .serve(api("server"))
            .swagger(server_ws)
    });
    raw.send(Message::text(GO_META)).await.unwrap();
    assert_eq!(next_text(&mut raw).await, GO_CONNECTION_ID);
    raw.send(Message::text(GO_ACK)).await.unwrap();
    (timeout(GUARD, server).await.unwrap().unwrap(), raw)
}

/// Our client and a raw Go-like server after the handshake.
async fn our_client_and_go_server(
    config: Config,
) -> (RestConnection, WebSocket<tokio::net::TcpStream>) {
    let (mut raw, mut client_ws) = ws_pair(&[]).await;
    let client = tokio::spawn(async move {
        let id = swagger::client_handshake(&mut client_ws, &serde_json::json!({"agent": "a1"}))
            .await
            .unwrap();
        assert_eq!(id, "1b4e28ba-2fa1-4d2c-883f-0016d3cca427");
        RestConnection::builder().config(config).swagger(client_ws)
    });
    assert_eq!(next_text(&mut raw).await, GO_META);
    raw.send(Message::text(GO_CONNECTION_ID)).await.unwrap();
    assert_eq!(next_text(&mut raw).await, GO_ACK);
    (timeout(GUARD, client).await.unwrap().unwrap(), raw)
}

/// The value of `name` in an HTTP/1.1 head, case-insensitively.
fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let head = message.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn our_server_speaks_the_handshake_and_answers_go_requests_byte_for_byte() {
    let (_server, mut raw) = our_server_and_go_client(Config::default()).await;
    raw.send(Message::text(GO_GET)).await.unwrap();
    let response = next_text(&mut raw).await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert_eq!(header(&response, "X-Correlation-Id"), Some("7f3c"));
    assert_eq!(header(&response, "Content-Length"), Some("8"));
    assert!(response.ends_with("\r\n\r\nserver:1"), "{response}");

    raw.send(Message::text(GO_POST)).await.unwrap();
    let response = next_text(&mut raw).await;
    assert_eq!(header(&response, "X-Correlation-Id"), Some("8"));
    assert!(response.ends_with("\r\n\r\n27"), "{response}");
}

#[tokio::test]
async fn our_client_joins_a_go_servers_flushed_chunked_response() {
    let (client, mut raw) = our_client_and_go_server(Config::default()).await;
    let request = http::Request::post("http://agent/count")
        .body(Body::from("{\"a\":1}"))
        .unwrap();
    let call = tokio::spawn(client.clone().oneshot(request));
    let sent = next_text(&mut raw).await;
    assert!(sent.starts_with("POST /count HTTP/1.1\r\n"), "{sent}");
    assert_eq!(header(&sent, "Host"), Some("agent"));
    assert_eq!(header(&sent, "Content-Length"), Some("7"));
    assert!(sent.ends_with("\r\n\r\n{\"a\":1}"), "{sent}");
    let id = header(&sent, "X-Correlation-Id").unwrap().to_owned();

    // As socketresponse.go writes a handler that writes "hello", flushes, flushes again with
    // nothing buffered, writes " world" and returns: one message per flush.
    raw.send(Message::text(format!(
        "HTTP/1.1 200 OK\r\nX-Correlation-Id: {id}\r\nDate: Wed, 25 Nov 2026 07:00:00 GMT\r\n\
         Content-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    )))
    .await
    .unwrap();
    raw.send(Message::text("")).await.unwrap();
    raw.send(Message::text("6\r\n world\r\n0\r\n\r\n"))
        .await
        .unwrap();
    let response = timeout(GUARD, call).await.unwrap().unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(text(response.into_body()).await, "hello world");
}

#[tokio::test]
async fn responses_out_of_order_find_their_requests_by_correlation_id() {
    let (client, mut raw) = our_client_and_go_server(Config::default()).await;
    let first = tokio::spawn(echo_owned(client.clone(), 1));
    let one = next_text(&mut raw).await;
    let second = tokio::spawn(echo_owned(client.clone(), 2));
    let two = next_text(&mut raw).await;
    for (request, body) in [(two, "second"), (one, "first")] {
        let id = header(&request, "X-Correlation-Id").unwrap();
        raw.send(Message::text(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Correlation-Id: {id}\r\n\r\n{body}",
            body.len()
        )))
        .await
        .unwrap();
    }
    assert_eq!(timeout(GUARD, first).await.unwrap().unwrap(), "first");
    assert_eq!(timeout(GUARD, second).await.unwrap().unwrap(), "second");
}

async fn echo_owned(conn: RestConnection, n: u64) -> String {
    let request = http::Request::get(format!("/echo/{n}"))
        .body(Body::empty())
        .unwrap();
    text(conn.oneshot(request).await.unwrap().into_body()).await
}

#[tokio::test]
async fn a_hundred_concurrent_requests_each_way_on_one_connection() {
    let (mut server_ws, mut client_ws) = ws_pair(&[]).await;
    let accept = tokio::spawn(async move {
        let meta = swagger::server_handshake(&mut server_ws, &swagger::new_connection_id())
            .await
            .unwrap();
        assert_eq!(meta, serde_json::Value::Null);
        RestConnection::builder()
            .serve(api("server"))
            .swagger(server_ws)
    });
    swagger::client_handshake(&mut client_ws, &serde_json::Value::Null)
        .await
        .unwrap();
    let client = RestConnection::builder()
        .serve(api("client"))
        .swagger(client_ws);
    let server = accept.await.unwrap();
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
async fn malformed_and_oversize_requests_are_answered_with_an_error_status() {
    let config = Config::default().max_head_size(512).max_body_size(1024);
    let (_server, mut raw) = our_server_and_go_client(config).await;

    raw.send(Message::text("NOT HTTP AT ALL\r\n\r\n"))
        .await
        .unwrap();
    let response = next_text(&mut raw).await;
    assert!(
        response.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{response}"
    );

    raw.send(Message::text(format!(
        "POST /count HTTP/1.1\r\nHost: x\r\nX-Correlation-Id: big\r\nContent-Length: 5000\r\n\r\n{}",
        "a".repeat(5000)
    )))
    .await
    .unwrap();
    let response = next_text(&mut raw).await;
    assert!(
        response.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{response}"
    );
    assert_eq!(header(&response, "X-Correlation-Id"), Some("big"));

    raw.send(Message::text(format!(
        "GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "b".repeat(600)
    )))
    .await
    .unwrap();
    let response = next_text(&mut raw).await;
    assert!(
        response.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{response}"
    );

    // The connection still serves.
    raw.send(Message::text(GO_GET)).await.unwrap();
    assert!(next_text(&mut raw).await.ends_with("server:1"));
}

#[tokio::test]
async fn a_malformed_response_fails_its_request_with_a_clear_error() {
    let (client, mut raw) = our_client_and_go_server(Config::default()).await;
    let call = tokio::spawn(echo_result(client.clone()));
    let sent = next_text(&mut raw).await;
    let id = header(&sent, "X-Correlation-Id").unwrap();
    raw.send(Message::text(format!(
        "HTTP/1.1 200 OK\r\nX-Correlation-Id: {id}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    )))
    .await
    .unwrap();
    let result = timeout(GUARD, call).await.unwrap().unwrap();
    assert!(
        matches!(&result, Err(Error::Malformed(reason)) if reason.contains("hexadecimal")),
        "{result:?}"
    );
}

async fn echo_result(conn: RestConnection) -> Result<http::Response<Body>, Error> {
    let request = http::Request::get("/echo/1").body(Body::empty()).unwrap();
    conn.oneshot(request).await
}

#[tokio::test]
async fn non_utf8_bodies_cannot_travel_in_text_messages() {
    let (client, _raw) = our_client_and_go_server(Config::default()).await;
    let request = http::Request::post("/count")
        .body(Body::from(vec![0xff, 0xfe]))
        .unwrap();
    let result = client.oneshot(request).await;
    assert!(
        matches!(&result, Err(Error::InvalidRequest(reason)) if reason.contains("UTF-8")),
        "{result:?}"
    );
}

#[tokio::test]
async fn timeouts_and_a_dropped_connection_fail_requests_instead_of_hanging() {
    let config = Config::default().request_timeout(Duration::from_millis(200));
    let (client, mut raw) = our_client_and_go_server(config).await;
    let result = timeout(GUARD, echo_result(client.clone())).await.unwrap();
    assert!(matches!(result, Err(Error::Timeout(_))), "{result:?}");
    next_text(&mut raw).await;

    let (client, mut raw) = our_client_and_go_server(Config::default()).await;
    let call = tokio::spawn(echo_result(client.clone()));
    next_text(&mut raw).await;
    drop(raw);
    let result = timeout(GUARD, call).await.unwrap().unwrap();
    assert!(
        matches!(result, Err(Error::ConnectionClosed(_))),
        "{result:?}"
    );
}

/// Sends `method path` over `conn` with no body.
async fn bare(conn: &RestConnection, method: &str, path: &str) -> http::Response<Body> {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    timeout(GUARD, conn.clone().oneshot(request))
        .await
        .expect("the response came")
        .unwrap()
}

#[tokio::test]
async fn responses_without_a_body_end_with_their_head_whatever_their_content_length() {
    let (client, mut raw) = our_client_and_go_server(Config::default()).await;
    // As socketresponse.go answers HEAD: the Content-Length of the GET, no body. Then a 304
    // with the length of the cached representation, a 204, and a GET that must still parse.
    let cases = [
        ("HEAD", "200 OK", "Content-Length: 11\r\n"),
        ("GET", "304 Not Modified", "Content-Length: 5\r\n"),
        ("DELETE", "204 No Content", ""),
        ("GET", "200 OK", "Content-Length: 3\r\n"),
    ];
    for (method, status, length) in cases {
        let call = tokio::spawn({
            let client = client.clone();
            async move { bare(&client, method, "/x").await }
        });
        let sent = next_text(&mut raw).await;
        assert!(
            sent.starts_with(&format!("{method} /x HTTP/1.1\r\n")),
            "{sent}"
        );
        let id = header(&sent, "X-Correlation-Id").unwrap();
        let body = if method == "GET" && status == "200 OK" {
            "abc"
        } else {
            ""
        };
        raw.send(Message::text(format!(
            "HTTP/1.1 {status}\r\n{length}X-Correlation-Id: {id}\r\n\r\n{body}"
        )))
        .await
        .unwrap();
        let response = timeout(GUARD, call).await.unwrap().unwrap();
        assert_eq!(&status[..3], response.status().as_str());
        if !length.is_empty() {
            assert_eq!(
                response.headers()["content-length"],
                length.trim_end()["Content-Length: ".len()..]
            );
        }
        assert_eq!(text(response.into_body()).await, body, "{method} {status}");
    }
}

#[tokio::test]
async fn our_server_answers_head_with_the_length_of_get_and_no_body() {
    let (_server, mut raw) = our_server_and_go_client(Config::default()).await;
    raw.send(Message::text(GO_GET.replacen("GET", "HEAD", 1)))
        .await
        .unwrap();
    let response = next_text(&mut raw).await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert_eq!(header(&response, "Content-Length"), Some("8"));
    assert!(response.ends_with("\r\n\r\n"), "{response}");
    // The next message is the next response, not the rest of this one.
    raw.send(Message::text(GO_GET)).await.unwrap();
    assert!(next_text(&mut raw).await.ends_with("\r\n\r\nserver:1"));
}

#[tokio::test]
async fn our_server_sends_no_body_with_204_and_304_and_no_length_with_204() {
    let (mut server_ws, mut raw) = ws_pair(&[]).await;
    let statuses = axum::Router::new().route(
        "/status/{code}",
        axum::routing::get(
            |axum::extract::Path(code): axum::extract::Path<u16>| async move {
                (
                    http::StatusCode::from_u16(code).unwrap(),
                    "a body the status forbids",
                )
            },
        ),
    );
    let server = tokio::spawn(async move {
        swagger::server_handshake(&mut server_ws, "id")
            .await
            .unwrap();
        RestConnection::builder().serve(statuses).swagger(server_ws)
    });
    raw.send(Message::text(GO_META)).await.unwrap();
    next_text(&mut raw).await;
    raw.send(Message::text(GO_ACK)).await.unwrap();
    let _server = timeout(GUARD, server).await.unwrap().unwrap();
    for code in ["204", "304"] {
        raw.send(Message::text(format!(
            "GET /status/{code} HTTP/1.1\r\nHost: x\r\nX-Correlation-Id: {code}\r\n\r\n"
        )))
        .await
        .unwrap();
        let response = next_text(&mut raw).await;
        assert!(
            response.starts_with(&format!("HTTP/1.1 {code} ")),
            "{response}"
        );
        assert_eq!(header(&response, "X-Correlation-Id"), Some(code));
        // A 304 may keep the handler's Content-Length (the size of the representation).
        if code == "204" {
            assert_eq!(header(&response, "Content-Length"), None, "{response}");
        }
        assert_eq!(header(&response, "Transfer-Encoding"), None, "{response}");
        assert!(response.ends_with("\r\n\r\n"), "{response}");
    }
}
