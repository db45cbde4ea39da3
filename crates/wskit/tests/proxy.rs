//! Connecting through an HTTP proxy: a `CONNECT` tunnel (with `Proxy-Authorization: Basic`)
//! in front of an echo server (ws and wss), a proxy that refuses with 407 or hangs up, and
//! `NO_PROXY` matching.

mod support;

use std::net::SocketAddr;

use rustls_pki_types::PrivatePkcs8KeyDer;
use support::{Raw, listen, spawn_echo, within, ws_url};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use wskit::{Client, CloseCode, Error, Message, NoProxy, Server};

/// A one-connection HTTP proxy: reads the `CONNECT` head and answers `status`. On 200 it
/// connects to the target the request line names and relays bytes both ways until either
/// side closes. Yields the request head it read.
async fn spawn_proxy(status: &'static str) -> (SocketAddr, JoinHandle<String>) {
    let (listener, addr) = listen().await;
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut client = Raw::new(stream);
        let head = client.read_head().await.expect("a CONNECT request");
        let target = head
            .strip_prefix("CONNECT ")
            .and_then(|rest| rest.split(' ').next())
            .expect("a CONNECT request line")
            .to_owned();
        client
            .write(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
            .await;
        if status.starts_with("200") {
            assert!(
                client.buf.is_empty(),
                "the client waits for the proxy's answer"
            );
            let mut upstream = tokio::net::TcpStream::connect(target)
                .await
                .expect("connect to the target");
            let _ = tokio::io::copy_bidirectional(&mut client.stream, &mut upstream).await;
        }
        head
    });
    (addr, task)
}

#[tokio::test]
async fn connects_through_a_connect_proxy_with_basic_credentials() {
    let (listener, target) = listen().await;
    let echo = spawn_echo(listener, Server::default());
    let (proxy, proxy_task) = spawn_proxy("200 Connection established").await;

    let client = Client::new(ws_url(target)).proxy(format!("http://al%40ce:open%20sesame@{proxy}"));
    let (mut ws, _) = within(client.connect())
        .await
        .expect("connect via the proxy");
    within(ws.send(Message::text("through the tunnel")))
        .await
        .expect("send");
    let echoed = within(ws.recv_text()).await.expect("the echo");
    assert_eq!(echoed, "through the tunnel");
    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");

    let report = within(echo).await.expect("echo task");
    assert_eq!(report.received[0], Message::text("through the tunnel"));
    assert!(matches!(report.received[1], Message::Close(_)));
    let head = within(proxy_task).await.expect("proxy task");
    let mut lines = head.lines();
    assert_eq!(
        lines.next(),
        Some(format!("CONNECT {target} HTTP/1.1").as_str())
    );
    assert!(head.contains(&format!("\r\nHost: {target}\r\n")), "{head}");
    // base64("al@ce:open sesame")
    assert!(
        head.contains("\r\nProxy-Authorization: Basic YWxAY2U6b3BlbiBzZXNhbWU=\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn wss_runs_tls_through_the_tunnel() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("generate a certificate");
    let cert = certified.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
    let config = wskit::tls::server_config(vec![cert.clone()], key.into()).expect("server config");
    let (listener, target) = listen().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let tls = TlsAcceptor::from(config)
            .accept(stream)
            .await
            .expect("TLS handshake");
        let mut ws = wskit::accept(tls).await.expect("server handshake");
        let msg = ws.recv().await.expect("a message").expect("no error");
        ws.send(msg).await.expect("echo");
        while ws.recv().await.is_some() {}
    });
    let (proxy, proxy_task) = spawn_proxy("200 Connection established").await;

    let url = format!("wss://localhost:{}/", target.port());
    let client = Client::new(url)
        .add_root_certificate(cert)
        .proxy(format!("http://{proxy}"));
    let (mut ws, _) = within(client.connect()).await.expect("wss via the proxy");
    assert!(matches!(ws.get_ref(), wskit::MaybeTlsStream::Tls(_)));
    within(ws.send(Message::text("sealed")))
        .await
        .expect("send");
    assert_eq!(within(ws.recv_text()).await.expect("the echo"), "sealed");
    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
    within(server).await.expect("server task");
    let head = within(proxy_task).await.expect("proxy task");
    assert!(
        head.starts_with(&format!("CONNECT localhost:{} HTTP/1.1\r\n", target.port())),
        "{head}"
    );
}

#[tokio::test]
async fn a_proxy_without_credentials_sends_no_authorization() {
    let (listener, target) = listen().await;
    let _echo = spawn_echo(listener, Server::default());
    let (proxy, proxy_task) = spawn_proxy("200 OK").await;

    let client = Client::new(ws_url(target)).proxy(proxy.to_string());
    let (ws, _) = within(client.connect())
        .await
        .expect("connect via the proxy");
    ws.hangup();
    let head = within(proxy_task).await.expect("proxy task");
    assert!(
        !head.to_ascii_lowercase().contains("proxy-authorization"),
        "{head}"
    );
}

#[tokio::test]
async fn a_407_from_the_proxy_is_an_error_naming_the_status() {
    let (proxy, proxy_task) = spawn_proxy("407 Proxy Authentication Required").await;
    let client = Client::new("ws://127.0.0.1:9/").proxy(format!("http://{proxy}"));
    let err = within(client.connect())
        .await
        .expect_err("the proxy refuses");
    match &err {
        Error::ProxyRefused { status, reason } => {
            assert_eq!(*status, 407);
            assert_eq!(reason, "Proxy Authentication Required");
        }
        other => panic!("expected ProxyRefused, got {other:?}"),
    }
    assert!(err.to_string().contains("407"), "{err}");
    within(proxy_task).await.expect("proxy task");
}

#[tokio::test]
async fn a_proxy_that_hangs_up_is_a_proxy_error() {
    let (listener, proxy) = listen().await;
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut raw = Raw::new(stream);
        raw.read_head().await.expect("a CONNECT request");
    });
    let err = within(
        Client::new("ws://127.0.0.1:9/")
            .proxy(proxy.to_string())
            .connect(),
    )
    .await
    .expect_err("no answer");
    assert!(matches!(err, Error::Proxy(_)), "got {err:?}");
    within(task).await.expect("proxy task");
}

#[test]
fn no_proxy_matches_hosts_and_their_subdomains() {
    let no_proxy = NoProxy::parse(" localhost,.corp.example ,*.svc, 10.1.2.3,[::1],");
    for host in [
        "localhost",
        "LOCALHOST",
        "corp.example",
        "git.corp.example",
        "a.b.corp.example",
        "api.svc",
        "10.1.2.3",
        "::1",
        "[::1]",
    ] {
        assert!(no_proxy.matches(host), "{host} should match");
    }
    for host in [
        "example.com",
        "notcorp.example",
        "corp.example.com",
        "10.1.2.30",
        "svc2",
    ] {
        assert!(!no_proxy.matches(host), "{host} should not match");
    }
    assert!(NoProxy::parse("*").matches("anything.at.all"));
    assert!(!NoProxy::parse("").matches("localhost"));
}
