//! Attacks on `wskit serve`, each reproduced against the built binary on loopback with the
//! defence in place: the tests assert the counts and codes the server answers with (never
//! timings), and each is bounded in time.

mod support;

use std::net::SocketAddr;

use serde_json::json;
use support::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A WebSocket upgrade request for `path` with `extra` header lines (each ending in `\r\n`).
fn upgrade(addr: SocketAddr, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Sends `request` as it is and returns the response head (status line and headers).
async fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    within(async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        // The server may answer (431) before it has read everything: a failed write is fine.
        let _ = stream.write_all(request).await;
        let mut head = Vec::new();
        let mut byte = [0; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        (status, head)
    })
    .await
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// The value of the refusal counter for `reason` in `/metrics`.
async fn refused(addr: SocketAddr, reason: &str) -> u64 {
    let metrics = http(addr, "GET", "/metrics", None, None).await;
    let prefix = format!("wskit_serve_refused_total{{reason=\"{reason}\"}} ");
    metrics
        .body
        .lines()
        .find_map(|line| line.strip_prefix(&prefix)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn one_connection_cannot_join_more_groups_than_allowed() {
    let server = Server::start(&["--max-groups-per-connection", "5"]);
    let mut client = Client::connect(&server).await;
    for n in 0..5 {
        let ack = client
            .call(json!({"type":"join","group":format!("g{n}"),"ref":n}))
            .await;
        assert_eq!(ack, json!({"type":"ack","ref":n}));
    }
    // Joining a group it is in again is no new membership.
    let again = client
        .call(json!({"type":"join","group":"g0","ref":"a"}))
        .await;
    assert_eq!(again, json!({"type":"ack","ref":"a"}));
    for n in 5..50 {
        let refusal = client
            .call(json!({"type":"join","group":format!("g{n}"),"ref":n}))
            .await;
        assert_eq!(refusal["code"], "too_many_groups", "{refusal}");
        assert_eq!(refusal["ref"], n);
    }
    let stats = http(server.addr, "GET", "/api/stats", None, None).await;
    assert_eq!(stats.json()["groups"], 5);
    assert_eq!(refused(server.addr, "max_groups_per_connection").await, 45);
    // After a leave there is room for one more.
    client
        .call(json!({"type":"leave","group":"g1","ref":"l"}))
        .await;
    let ack = client
        .call(json!({"type":"join","group":"new","ref":"n"}))
        .await;
    assert_eq!(ack, json!({"type":"ack","ref":"n"}));
}

#[tokio::test]
async fn connections_beyond_the_caps_get_503_while_health_and_api_answer() {
    let server = Server::start(&["--max-connections-per-ip", "3"]);
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(&server).await);
    }
    for _ in 0..5 {
        let (status, head) = raw(server.addr, upgrade(server.addr, "/ws", "").as_bytes()).await;
        assert_eq!(status, 503, "{head}");
        assert_eq!(header(&head, "retry-after"), Some("5"), "{head}");
    }
    let (status, _) = raw(server.addr, upgrade(server.addr, "/echo", "").as_bytes()).await;
    assert_eq!(status, 503);
    assert_eq!(
        http(server.addr, "GET", "/healthz", None, None)
            .await
            .status,
        200
    );
    let stats = http(server.addr, "GET", "/api/stats", None, None).await;
    assert_eq!(stats.json()["connections"], 3);
    let sent = http(
        server.addr,
        "POST",
        "/api/broadcast",
        None,
        Some(r#"{"data":1}"#),
    )
    .await;
    assert_eq!(sent.json()["delivered"], 3);
    assert_eq!(refused(server.addr, "max_connections_per_ip").await, 6);

    // A closed connection frees its place (once the server has seen the close).
    let mut first = clients.remove(0);
    within(first.ws.close(wskit::CloseCode::NORMAL, "bye"))
        .await
        .expect("close");
    drop(first);
    let admitted = within(async {
        loop {
            let (status, _) = raw(server.addr, upgrade(server.addr, "/ws", "").as_bytes()).await;
            if status == 101 {
                return status;
            }
            assert_eq!(status, 503);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(admitted, 101);
}

#[tokio::test]
async fn the_total_connection_cap_answers_503() {
    let server = Server::start(&["--max-connections", "2"]);
    let _a = Client::connect(&server).await;
    let _b = Client::connect(&server).await;
    let (status, head) = raw(server.addr, upgrade(server.addr, "/ws", "").as_bytes()).await;
    assert_eq!(status, 503, "{head}");
    assert!(header(&head, "retry-after").is_some(), "{head}");
    assert_eq!(refused(server.addr, "max_connections").await, 1);
}

#[tokio::test]
async fn request_heads_over_16_kib_get_431_on_every_path() {
    let server = Server::start(&[]);
    let big = format!("X-Filler: {}\r\n", "a".repeat(20 * 1024));
    for path in ["/", "/api/stats", "/healthz", "/api/groups"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n{big}\r\n", server.addr);
        let (status, head) = raw(server.addr, request.as_bytes()).await;
        assert_eq!(status, 431, "{path}: {head}");
    }
    let (status, head) = raw(server.addr, upgrade(server.addr, "/ws", &big).as_bytes()).await;
    assert_eq!(status, 431, "{head}");
    // A head of 10 KiB is fine.
    let fine = format!("X-Filler: {}\r\n", "a".repeat(10 * 1024));
    let (status, head) = raw(server.addr, upgrade(server.addr, "/ws", &fine).as_bytes()).await;
    assert_eq!(status, 101, "{head}");
}

#[tokio::test]
async fn a_body_that_never_arrives_gets_408() {
    let server = Server::start(&["--body-timeout", "300ms"]);
    let request = format!(
        "POST /api/broadcast HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"data\":",
        server.addr
    );
    let (status, head) = raw(server.addr, request.as_bytes()).await;
    assert_eq!(status, 408, "{head}");
    assert_eq!(refused(server.addr, "body_timeout").await, 1);
}

#[tokio::test]
async fn without_a_key_other_hosts_sites_and_content_types_are_refused() {
    let server = Server::start(&[]);
    let addr = server.addr;
    let port = addr.port();
    let post = |host: String, extra: &str| {
        let body = r#"{"data":"x"}"#;
        format!(
            "POST /api/broadcast HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let json = "Content-Type: application/json\r\n";
    // DNS rebinding: the page's own host name, resolved to 127.0.0.1.
    let rebound = format!("rebound.example:{port}");
    let (status, _) = raw(addr, post(rebound.clone(), json).as_bytes()).await;
    assert_eq!(status, 403);
    let (status, _) = raw(addr, upgrade_with_host(&rebound).as_bytes()).await;
    assert_eq!(status, 403);
    let page = format!("GET / HTTP/1.1\r\nHost: {rebound}\r\n\r\n");
    assert_eq!(raw(addr, page.as_bytes()).await.0, 403);
    // Health probes may name any host.
    let health = format!("GET /healthz HTTP/1.1\r\nHost: {rebound}\r\n\r\n");
    assert_eq!(raw(addr, health.as_bytes()).await.0, 200);
    assert_eq!(refused(addr, "host").await, 3);

    // Cross-site request forgery: a page of another site posting to the API.
    let cross = format!("{json}Origin: http://evil.example\r\n");
    let (status, _) = raw(addr, post(addr.to_string(), &cross).as_bytes()).await;
    assert_eq!(status, 403);
    for simple in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let extra = if simple.is_empty() {
            String::new()
        } else {
            format!("Content-Type: {simple}\r\n")
        };
        let (status, _) = raw(addr, post(addr.to_string(), &extra).as_bytes()).await;
        assert_eq!(status, 415, "{simple:?}");
    }
    assert_eq!(refused(addr, "cross_origin").await, 1);
    assert_eq!(refused(addr, "content_type").await, 3);
    // This server's own page, and `localhost`, are fine.
    let own = format!("{json}Origin: http://{addr}\r\n");
    assert_eq!(
        raw(addr, post(addr.to_string(), &own).as_bytes()).await.0,
        200
    );
    let charset = "Content-Type: application/json; charset=utf-8\r\n";
    let local = format!("localhost:{port}");
    assert_eq!(raw(addr, post(local, charset).as_bytes()).await.0, 200);

    fn upgrade_with_host(host: &str) -> String {
        format!(
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    }
}

#[tokio::test]
async fn ws_admits_only_same_origin_pages_unless_others_are_listed() {
    let server = Server::start(&[]);
    let addr = server.addr;
    let evil = "Origin: http://evil.example\r\n";
    assert_eq!(
        raw(addr, upgrade(addr, "/ws", evil).as_bytes()).await.0,
        403
    );
    assert_eq!(
        raw(addr, upgrade(addr, "/echo", evil).as_bytes()).await.0,
        403
    );
    let own = format!("Origin: http://{addr}\r\n");
    assert_eq!(
        raw(addr, upgrade(addr, "/ws", &own).as_bytes()).await.0,
        101
    );
    // Not a browser: no Origin.
    assert_eq!(raw(addr, upgrade(addr, "/ws", "").as_bytes()).await.0, 101);
    assert_eq!(refused(addr, "origin").await, 2);

    let listed = Server::start(&["--allowed-origins", "http://evil.example"]);
    let addr = listed.addr;
    assert_eq!(
        raw(addr, upgrade(addr, "/ws", evil).as_bytes()).await.0,
        101
    );
    let other = "Origin: http://other.example\r\n";
    assert_eq!(
        raw(addr, upgrade(addr, "/ws", other).as_bytes()).await.0,
        403
    );
}

#[tokio::test]
async fn the_bearer_scheme_is_read_in_any_case_and_a_blank_key_is_refused() {
    let server = Server::start(&["--api-key", "k3y"]);
    let addr = server.addr;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let request = format!(
            "GET /api/groups HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {scheme} k3y\r\n\r\n"
        );
        assert_eq!(raw(addr, request.as_bytes()).await.0, 200, "{scheme}");
    }
    let wrong =
        format!("GET /api/groups HTTP/1.1\r\nHost: {addr}\r\nAuthorization: bearer no\r\n\r\n");
    assert_eq!(raw(addr, wrong.as_bytes()).await.0, 401);

    let output = serve_command(&["--listen", "127.0.0.1:0", "--api-key", "   "])
        .output()
        .expect("run wskit serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("api_key is blank"), "{stderr}");
}

#[tokio::test]
async fn the_open_files_limit_is_raised_and_reported() {
    // Started with a soft limit below the hard one.
    let mut command = std::process::Command::new("sh");
    command
        .args([
            "-c",
            "ulimit -Sn 256 && exec \"$0\" serve --listen 127.0.0.1:0",
            WSKIT,
        ])
        .env("RUST_BACKTRACE", "0");
    for var in VARIABLES {
        command.env_remove(var);
    }
    let server = Server::spawn(command);
    let (_, rest) = server.terminate();
    assert!(rest.contains("(was 256)"), "{rest}");
    let line = rest
        .lines()
        .find(|line| line.contains("open files"))
        .unwrap_or_else(|| panic!("no open-files line in {rest:?}"));
    let soft: u64 = number_after(line, "soft limit ");
    let hard: u64 = number_after(line, "hard limit ");
    assert_eq!(soft, hard, "{line}");

    fn number_after(line: &str, label: &str) -> u64 {
        line.split(label)
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in {line:?}"))
    }
}

#[tokio::test]
async fn a_flooding_client_gets_rate_limited_then_closed_with_1008() {
    let server = Server::start(&["--message-rate", "10", "--presence-rate", "2"]);
    let mut client = Client::connect(&server).await;
    // The bucket is full at the start: ten pass, the rest of a quick burst is refused.
    for n in 0..15 {
        client
            .send(json!({"type":"join","group":"g","ref":n}))
            .await;
    }
    let mut acks = 0;
    let mut limited = 0;
    for _ in 0..15 {
        let reply = client.recv().await;
        match reply["type"].as_str() {
            Some("ack") => acks += 1,
            _ => {
                assert_eq!(reply["code"], "rate_limited", "{reply}");
                limited += 1;
            }
        }
    }
    assert!((10..15).contains(&acks), "{acks} acks");
    assert_eq!(acks + limited, 15);
    // Going on regardless: closed for policy violation.
    for n in 0..100 {
        if within(client.ws.send(wskit::Message::text(
            json!({"type":"publish","group":"g","data":n}).to_string(),
        )))
        .await
        .is_err()
        {
            break;
        }
    }
    assert_eq!(client.close_code().await, Some(1008));
    assert!(refused(server.addr, "rate_limited").await >= 10);
    assert_eq!(refused(server.addr, "rate_closed").await, 1);

    // presence has a bucket of its own, smaller.
    let mut other = Client::connect(&server).await;
    for n in 0..4 {
        other
            .send(json!({"type":"presence","group":"g","ref":n}))
            .await;
    }
    let mut answers = 0;
    for n in 0..4 {
        let reply = other.recv().await;
        assert_eq!(reply["ref"], n, "{reply}");
        if reply["type"] == "presence" {
            answers += 1;
        } else {
            assert_eq!(reply["code"], "rate_limited", "{reply}");
        }
    }
    assert!((2..4).contains(&answers), "{answers} presence answers");
}

#[tokio::test]
async fn group_and_connection_listings_come_in_bounded_pages() {
    let server = Server::start(&[]);
    let mut client = Client::connect(&server).await;
    for n in 0..5 {
        client
            .call(json!({"type":"join","group":format!("g{n}"),"ref":n}))
            .await;
    }
    let first = http(server.addr, "GET", "/api/groups?limit=2", None, None).await;
    assert_eq!(
        first.json(),
        json!({"groups":[{"name":"g0","size":1},{"name":"g1","size":1}],"next":"g1"})
    );
    let second = http(
        server.addr,
        "GET",
        "/api/groups?limit=2&after=g1",
        None,
        None,
    )
    .await;
    assert_eq!(second.json()["next"], "g3");
    let last = http(
        server.addr,
        "GET",
        "/api/groups?limit=2&after=g3",
        None,
        None,
    )
    .await;
    assert_eq!(last.json(), json!({"groups":[{"name":"g4","size":1}]}));
    let _others = [
        Client::connect(&server).await,
        Client::connect(&server).await,
    ];
    let mut ids = Vec::new();
    let mut after = String::new();
    loop {
        let path = format!("/api/connections?limit=2&after={after}");
        let page = http(server.addr, "GET", &path, None, None).await.json();
        let listed = page["connections"].as_array().unwrap();
        assert!(listed.len() <= 2, "{page}");
        ids.extend(listed.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => after = next.to_owned(),
            None => break,
        }
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!((ids.len(), sorted), (3, ids));
    let refused = http(server.addr, "GET", "/api/groups?limit=100000", None, None).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["code"], "bad_query");
}
