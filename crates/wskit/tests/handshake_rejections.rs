//! The opening handshake over loopback: invalid requests get the right HTTP status, an
//! application can reject, and subprotocols and extra headers are negotiated both ways.

mod support;

use std::net::SocketAddr;

use support::{
    HttpResponse, KEY, Raw, accept_raw, listen, spawn_echo, upgrade_request, within, ws_url,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use wskit::proto::handshake::HandshakeError;
use wskit::{Client, CloseCode, Config, Decision, Error, Server};

/// Accepts one connection with `server` and returns how its handshake ended.
fn spawn_accept(listener: TcpListener, server: Server) -> JoinHandle<Result<(), Error>> {
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        server.accept(stream).await.map(drop)
    })
}

/// Sends `request` to a server task running `Server::accept` with `server`, and returns the
/// raw response with the server's error.
async fn reject(server: Server, request: &str) -> (HttpResponse, Error) {
    let (listener, addr) = listen().await;
    let task = spawn_accept(listener, server);
    let mut raw = Raw::connect(addr).await;
    raw.write(request.as_bytes()).await;
    let response = within(raw.read_response()).await;
    let err = within(task)
        .await
        .expect("server task")
        .expect_err("the handshake must fail");
    (response, err)
}

fn assert_plain_body(response: &HttpResponse, needle: &str) {
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8"),
        "{response:?}"
    );
    assert!(
        response.body.contains(needle),
        "body {:?} should mention {needle:?}",
        response.body
    );
    assert!(
        response.body.len() < 200,
        "the body should be short: {:?}",
        response.body
    );
    assert_eq!(response.header("connection"), Some("close"));
}

#[tokio::test]
async fn wrong_version_is_426_with_the_supported_version() {
    let request =
        upgrade_request(KEY, "").replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8");
    let (response, err) = reject(Server::default(), &request).await;
    assert_eq!(response.status_line, "HTTP/1.1 426 Upgrade Required");
    assert_eq!(response.header("sec-websocket-version"), Some("13"));
    assert_plain_body(&response, "Sec-WebSocket-Version");
    assert!(
        matches!(err, Error::Handshake(HandshakeError::UnsupportedVersion)),
        "{err:?}"
    );
}

#[tokio::test]
async fn missing_key_is_400() {
    let request = upgrade_request(KEY, "").replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), "");
    let (response, err) = reject(Server::default(), &request).await;
    assert_eq!(response.status_line, "HTTP/1.1 400 Bad Request");
    assert_plain_body(&response, "Sec-WebSocket-Key");
    assert!(
        matches!(err, Error::Handshake(HandshakeError::InvalidKey)),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_key_is_400() {
    // Valid base64, but 8 bytes instead of 16.
    let (response, err) = reject(Server::default(), &upgrade_request("AAAAAAAAAAA=", "")).await;
    assert_eq!(response.status, 400);
    assert_plain_body(&response, "Sec-WebSocket-Key");
    assert!(
        matches!(err, Error::Handshake(HandshakeError::InvalidKey)),
        "{err:?}"
    );
}

#[tokio::test]
async fn missing_upgrade_is_400() {
    let request = upgrade_request(KEY, "").replace("Upgrade: websocket\r\n", "");
    let (response, err) = reject(Server::default(), &request).await;
    assert_eq!(response.status_line, "HTTP/1.1 400 Bad Request");
    assert_plain_body(&response, "Upgrade");
    assert!(
        matches!(err, Error::Handshake(HandshakeError::MissingUpgrade)),
        "{err:?}"
    );
}

#[tokio::test]
async fn post_is_405() {
    let request = upgrade_request(KEY, "").replacen("GET", "POST", 1);
    let (response, err) = reject(Server::default(), &request).await;
    assert_eq!(response.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_plain_body(&response, "GET");
    assert!(
        matches!(err, Error::Handshake(HandshakeError::MethodNotGet)),
        "{err:?}"
    );
}

#[tokio::test]
async fn oversized_head_is_431() {
    let server = Server::default().config(Config::default().max_handshake_size(1024));
    let request = upgrade_request(KEY, &format!("X-Padding: {}\r\n", "p".repeat(2000)));
    let (response, err) = reject(server, &request).await;
    assert_eq!(
        response.status_line,
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert_plain_body(&response, "too large");
    assert!(
        matches!(err, Error::Handshake(HandshakeError::HeadersTooLarge)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_head_within_the_limit_is_accepted() {
    // The same padding as above, under a limit that fits it: the 431 is about the size.
    let server = Server::default().config(Config::default().max_handshake_size(4096));
    let (listener, addr) = listen().await;
    let task = spawn_accept(listener, server);
    let mut raw = Raw::connect(addr).await;
    let request = upgrade_request(KEY, &format!("X-Padding: {}\r\n", "p".repeat(2000)));
    raw.write(request.as_bytes()).await;
    let head = within(raw.read_head()).await.expect("a response");
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    within(task).await.expect("server task").expect("accepted");
}

#[tokio::test]
async fn application_rejection_is_sent_as_is() {
    let (listener, addr) = listen().await;
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        Server::default()
            .accept_with(stream, |req| {
                assert_eq!(req.path(), "/");
                Decision::Reject {
                    status: 403,
                    body: "go away".into(),
                    headers: vec![("WWW-Authenticate".into(), "Bearer".into())],
                }
            })
            .await
            .map(drop)
    });
    let mut raw = Raw::connect(addr).await;
    raw.write(upgrade_request(KEY, "").as_bytes()).await;
    let response = within(raw.read_response()).await;
    assert_eq!(response.status_line, "HTTP/1.1 403 Forbidden");
    assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    assert_eq!(response.body, "go away");
    let err = within(task)
        .await
        .expect("server task")
        .expect_err("rejected");
    assert!(
        matches!(
            &err,
            Error::Handshake(HandshakeError::UnexpectedStatus { status: 403, .. })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn client_sees_the_rejection_status() {
    let (listener, addr) = listen().await;
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let result = Server::default()
            .accept_with(stream, |req| {
                if req.headers.get("authorization") == Some("Bearer secret") {
                    Decision::Accept(Vec::new())
                } else {
                    Decision::Reject {
                        status: 403,
                        body: "forbidden".into(),
                        headers: Vec::new(),
                    }
                }
            })
            .await;
        result.map(drop)
    });
    let err = within(
        Client::new(ws_url(addr))
            .header("Authorization", "Bearer wrong")
            .connect(),
    )
    .await
    .expect_err("the server rejects");
    assert_eq!(err.http_status(), Some(403), "{err:?}");
    assert!(within(task).await.expect("server task").is_err());
}

#[tokio::test]
async fn accept_with_can_accept_and_add_headers() {
    let (listener, addr) = listen().await;
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let (_ws, request) = Server::default()
            .accept_with(stream, |req| {
                let user = req
                    .headers
                    .get("authorization")
                    .unwrap_or_default()
                    .to_owned();
                Decision::Accept(vec![("X-User".into(), user)])
            })
            .await
            .expect("accepted");
        request.target
    });
    let (_ws, negotiated) = within(
        Client::new(format!("ws://{addr}/chat?room=1"))
            .header("Authorization", "Bearer secret")
            .connect(),
    )
    .await
    .expect("connect");
    assert_eq!(negotiated.headers.get("x-user"), Some("Bearer secret"));
    assert_eq!(within(task).await.expect("server task"), "/chat?room=1");
}

#[tokio::test]
async fn subprotocol_is_selected() {
    let (listener, addr) = listen().await;
    let echo = spawn_echo(
        listener,
        Server::default().protocols(["chat.v2", "chat.v1"]),
    );
    let (mut ws, negotiated) = within(
        Client::new(ws_url(addr))
            .protocols(["chat.v1", "chat.v0"])
            .connect(),
    )
    .await
    .expect("connect");
    assert_eq!(ws.protocol(), Some("chat.v1"));
    assert_eq!(negotiated.protocol.as_deref(), Some("chat.v1"));
    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
    let report = within(echo).await.expect("echo task");
    assert_eq!(report.protocol.as_deref(), Some("chat.v1"));
}

#[tokio::test]
async fn no_common_subprotocol_selects_none() {
    let (listener, addr) = listen().await;
    let echo = spawn_echo(listener, Server::default().protocols(["chat.v2"]));
    let (mut ws, _) = within(Client::new(ws_url(addr)).protocols(["mqtt"]).connect())
        .await
        .expect("connect");
    assert_eq!(ws.protocol(), None);
    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
    assert_eq!(within(echo).await.expect("echo task").protocol, None);
}

/// A hand-written server: reads the request, answers `101` with a valid
/// `Sec-WebSocket-Accept` and a `Sec-WebSocket-Protocol: {protocol}`.
async fn crafted_server(protocol: &str) -> (SocketAddr, JoinHandle<()>) {
    let (listener, addr) = listen().await;
    let protocol = protocol.to_owned();
    let task = tokio::spawn(async move {
        let header = format!(
            "Sec-WebSocket-Protocol: {protocol}
"
        );
        let mut raw = accept_raw(&listener, &header, &[]).await;
        // Hold the connection until the client is done with it.
        raw.read_to_end().await;
    });
    (addr, task)
}

#[tokio::test]
async fn crafted_server_choosing_an_offered_protocol_is_accepted() {
    // The control for the next test: the crafted response is otherwise valid.
    let (addr, task) = crafted_server("chat").await;
    let (ws, _) = within(Client::new(ws_url(addr)).protocols(["chat"]).connect())
        .await
        .expect("connect");
    assert_eq!(ws.protocol(), Some("chat"));
    ws.hangup();
    within(task).await.expect("server task");
}

#[tokio::test]
async fn server_choosing_a_protocol_not_offered_fails_the_client() {
    let (addr, task) = crafted_server("superchat").await;
    let err = within(Client::new(ws_url(addr)).protocols(["chat"]).connect())
        .await
        .expect_err("the client must refuse");
    assert!(
        matches!(&err, Error::Handshake(HandshakeError::UnexpectedProtocol(p)) if p == "superchat"),
        "{err:?}"
    );
    assert_eq!(err.http_status(), None);
    within(task).await.expect("server task");
}

#[tokio::test]
async fn extra_response_headers_reach_the_client() {
    let (listener, addr) = listen().await;
    let echo = spawn_echo(
        listener,
        Server::default()
            .header("X-Served-By", "wskit")
            .header("Set-Cookie", "session=1"),
    );
    let (mut ws, negotiated) = within(wskit::connect(&ws_url(addr)))
        .await
        .expect("connect");
    assert_eq!(negotiated.headers.get("x-served-by"), Some("wskit"));
    assert_eq!(negotiated.headers.get("set-cookie"), Some("session=1"));
    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
    within(echo).await.expect("echo task");
}
