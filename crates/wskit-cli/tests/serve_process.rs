//! `wskit serve` as a process: the loopback rule, configuration precedence and errors,
//! graceful shutdown on SIGTERM, and TLS.

mod support;

use std::process::Output;

use serde_json::json;
use support::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn run(mut command: std::process::Command) -> Output {
    command.stdin(std::process::Stdio::null());
    command.output().expect("run wskit serve")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_public_address_without_an_api_key_is_refused_with_the_flag_named() {
    let output = run(serve_command(&["--listen", "0.0.0.0:0"]));
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without an API key")
            && stderr.contains("--api-key"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing was served");
}

#[test]
fn a_public_address_with_an_api_key_starts() {
    let mut command = serve_command(&["--listen", "0.0.0.0:0"]);
    command.env("WSKIT_API_KEY", "k");
    command.env("WSKIT_ALLOW_ANONYMOUS", "true");
    let server = Server::spawn(command);
    assert!(
        server
            .line
            .starts_with("wskit serve: listening on http://0.0.0.0:")
    );
    assert!(server.line.contains("WebSocket endpoint ws://0.0.0.0:"));
}

#[test]
fn flags_beat_variables_beat_the_file_beat_defaults() {
    let dir = temp_dir("precedence");
    let file = dir.join("wskit.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:7001\"\nheartbeat_interval = \"5s\"\nmax_message_size = \"2KiB\"\n\
         drain_timeout = \"3s\"\nallowed_origins = [\"https://file.example\"]\n",
    )
    .unwrap();
    let mut command = serve_command(&[
        "--config",
        file.to_str().unwrap(),
        "--max-message-size",
        "4096",
        "--print-config",
    ]);
    command
        .env("WSKIT_HEARTBEAT_INTERVAL", "7s")
        .env("WSKIT_MAX_MESSAGE_SIZE", "9999")
        .env("WSKIT_API_KEY", "hidden-key");
    let output = run(command);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let printed = text(&output.stdout);
    for line in [
        "listen = \"127.0.0.1:7001\"", // file
        "heartbeat_interval = \"7s\"", // env over file
        "max_message_size = 4096",     // flag over env and file
        "drain_timeout = \"3s\"",      // file
        "heartbeat_timeout = \"10s\"", // default
        "backpressure = \"close\"",    // default
        "# api_key is set but not shown: give it with WSKIT_API_KEY, --api-key or an api_key \
         line here",
        "allowed_origins = [\"https://file.example\"]",
    ] {
        assert!(
            printed.lines().any(|l| l == line),
            "{line:?} not in\n{printed}"
        );
    }
    assert!(!printed.contains("hidden-key"));
}

#[test]
fn a_bad_config_file_is_an_error_naming_the_file_and_the_field() {
    let dir = temp_dir("bad-config");
    let file = dir.join("x.toml");
    std::fs::write(&file, "heartbeat_interval = \"abc\"\n").unwrap();
    let output = run(serve_command(&["--config", file.to_str().unwrap()]));
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    let expected = format!(
        "config file {}: field heartbeat_interval: invalid duration \"abc\"",
        file.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");

    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nheartbeat = \"5s\"\n").unwrap();
    let stderr = text(&run(serve_command(&["--config", file.to_str().unwrap()])).stderr);
    assert!(stderr.contains("unknown field \"heartbeat\""), "{stderr}");

    let missing = run(serve_command(&["--config", "/nonexistent/wskit.toml"]));
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("config file /nonexistent/wskit.toml"));

    // A bad flag or variable is clap's error, naming the flag.
    let mut command = serve_command(&[]);
    command.env("WSKIT_DRAIN_TIMEOUT", "soon");
    let stderr = text(&run(command).stderr);
    assert!(
        stderr.contains("--drain-timeout") && stderr.contains("soon"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sigterm_closes_clients_with_1001_and_exits_cleanly() {
    let server = Server::start(&[]);
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    a.call(json!({"type":"join","group":"g","ref":1})).await;
    let readers = [
        tokio::spawn(async move { a.close_code().await }),
        tokio::spawn(async move { b.close_code().await }),
    ];
    let (status, rest) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    for reader in readers {
        assert_eq!(within(reader).await.unwrap(), Some(1001));
    }
    assert!(status.success(), "{status:?}");
    assert!(
        rest.contains("shut down on SIGTERM: 2 connections closed cleanly, 0 dropped"),
        "{rest}"
    );
}

#[tokio::test]
async fn health_is_503_while_draining_and_a_silent_client_is_dropped_after_the_drain_timeout() {
    let server = Server::start(&["--drain-timeout", "2s"]);
    let mut polite = Client::connect(&server).await;
    // A client that completes the upgrade, then never reads nor answers the close.
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // Without an API key the server answers only requests for its own address.
    let upgrade = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    silent.write_all(upgrade.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        within(silent.read_exact(&mut byte)).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    // Both are registered once the polite one is answered after the silent one joined.
    let addr = server.addr;
    within(async {
        while http(addr, "GET", "/api/stats", None, None).await.json()["connections"] != 2 {}
    })
    .await;

    server.signal("TERM");
    assert_eq!(polite.close_code().await, Some(1001));
    // The silent client holds the drain open: meanwhile health says 503.
    let health = http(addr, "GET", "/healthz", None, None).await;
    assert_eq!(health.status, 503, "{health:?}");
    let (status, rest) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        rest.contains("1 connections closed cleanly, 1 dropped after the drain timeout"),
        "{rest}"
    );
}

#[tokio::test]
async fn a_client_that_sends_no_request_head_is_dropped_after_the_handshake_timeout() {
    let server = Server::start(&["--handshake-timeout", "200ms"]);
    let mut idle = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The server gives up on the unfinished head: the stream ends (perhaps after a 408).
    let mut rest = Vec::new();
    within(idle.read_to_end(&mut rest)).await.unwrap();
    // And so does a connection that never sends a byte.
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    within(silent.read_to_end(&mut rest)).await.unwrap();
}

#[tokio::test]
async fn tls_serves_wss() {
    let dir = temp_dir("tls");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let server = Server::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(
        server.line.contains("https://") && server.line.contains("wss://"),
        "{}",
        server.line
    );
    let url = format!("wss://localhost:{}/ws", server.addr.port());
    let (ws, _) = within(
        wskit::Client::new(url)
            .add_root_certificate(certified.cert.der().clone())
            .connect(),
    )
    .await
    .expect("a wss connection");
    let mut client = Client::welcome(ws).await;
    assert_eq!(
        client
            .call(json!({"type":"join","group":"g","ref":1}))
            .await,
        json!({"type":"ack","ref":1})
    );
}
