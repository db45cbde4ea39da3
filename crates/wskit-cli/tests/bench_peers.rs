//! `wskit bench --protocol pusher` and `--protocol socketio` against small in-test servers that
//! speak each protocol as Sockudo, soketi and a Socket.IO 4 server do (the real ones run in
//! `scripts/perf.py --smoke-servers`): the generator subscribes, publishes (the Pusher way:
//! through the signed HTTP API), answers the protocol's pings, and fails when a subscriber gets a
//! message twice.

use std::process::Command;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac as _};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use wskit::Message;

/// Which protocol the fake server speaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Pusher,
    SocketIo,
}

/// How faithfully the fake server delivers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Every message once to every subscriber, in order.
    Faithful,
    /// The third message twice to the first subscriber.
    RepeatThird,
}

/// The fake server's shared state: one sender per subscriber, and what it saw.
#[derive(Default)]
struct Hub {
    subscribers: Vec<mpsc::UnboundedSender<String>>,
    published: u64,
    pongs: u64,
}

type Shared = Arc<Mutex<Hub>>;

const APP_KEY: &str = "app-key";
const APP_SECRET: &str = "app-secret";

/// Starts the fake server on its own runtime thread; returns its URL and its state.
fn start(flavor: Flavor, delivery: Delivery) -> (String, Shared) {
    let hub = Shared::default();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let state = hub.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding");
            let addr = listener.local_addr().expect("an address");
            ready_tx.send(addr).expect("the test waits");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, flavor, delivery, state.clone()));
            }
        });
    });
    let addr = ready_rx.recv().expect("the server starts");
    (format!("ws://{addr}"), hub)
}

/// One connection: the Pusher HTTP API when it starts with `POST`, else a WebSocket.
async fn serve(stream: TcpStream, flavor: Flavor, delivery: Delivery, hub: Shared) {
    let mut first = [0; 4];
    if stream.peek(&mut first).await.is_ok() && &first == b"POST" {
        http_api(stream, flavor, delivery, hub).await;
        return;
    }
    let Ok(mut ws) = wskit::accept(stream).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let greeting = match flavor {
        Flavor::Pusher => {
            r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.1\",\"activity_timeout\":120}"}"#
        }
        Flavor::SocketIo => {
            r#"0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        }
    };
    if ws.send(Message::text(greeting)).await.is_err() {
        return;
    }
    let mut tx = Some(tx);
    loop {
        tokio::select! {
            incoming = ws.recv() => {
                let Some(Ok(Message::Text(text))) = incoming else { return };
                for reply in on_message(flavor, delivery, text.as_str(), &mut tx, &hub) {
                    if ws.send(Message::text(reply)).await.is_err() {
                        return;
                    }
                }
            }
            Some(out) = rx.recv() => {
                if ws.send(Message::text(out)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// What the fake answers to a client's message (subscribing hands the subscriber's sender
/// to the hub).
fn on_message(
    flavor: Flavor,
    delivery: Delivery,
    text: &str,
    tx: &mut Option<mpsc::UnboundedSender<String>>,
    hub: &Shared,
) -> Vec<String> {
    match flavor {
        Flavor::Pusher => {
            let message: serde_json::Value = serde_json::from_str(text).expect("JSON");
            match message["event"].as_str() {
                Some("pusher:subscribe") => {
                    let channel = message["data"]["channel"].as_str().expect("a channel");
                    hub.lock().unwrap().subscribers.extend(tx.take());
                    // A ping right after, which the generator must answer.
                    vec![
                        serde_json::json!({"event": "pusher_internal:subscription_succeeded",
                                           "channel": channel, "data": "{}"})
                        .to_string(),
                        r#"{"event":"pusher:ping","data":{}}"#.to_owned(),
                    ]
                }
                Some("pusher:pong") => {
                    hub.lock().unwrap().pongs += 1;
                    vec![]
                }
                _ => vec![],
            }
        }
        Flavor::SocketIo => match text {
            "40" => vec![r#"40{"sid":"n"}"#.to_owned(), "2".to_owned()],
            "3" => {
                hub.lock().unwrap().pongs += 1;
                vec![]
            }
            _ if text.starts_with("421") => {
                let args: Vec<String> = serde_json::from_str(&text[3..]).expect("an array");
                assert_eq!(args[0], "join");
                hub.lock().unwrap().subscribers.extend(tx.take());
                vec![r#"431["ok"]"#.to_owned()]
            }
            _ if text.starts_with("42[") => {
                let args: Vec<String> = serde_json::from_str(&text[2..]).expect("an array");
                assert_eq!(args[0], "publish");
                let event = format!("42{}", serde_json::json!(["message", args[2]]));
                fan_out(hub, &event, delivery);
                vec![]
            }
            _ => vec![],
        },
    }
}

/// Sends `event` to every subscriber (the third one twice to the first, if so told).
fn fan_out(hub: &Shared, event: &str, delivery: Delivery) {
    let mut hub = hub.lock().unwrap();
    hub.published += 1;
    let repeat = delivery == Delivery::RepeatThird && hub.published == 3;
    for (index, subscriber) in hub.subscribers.iter().enumerate() {
        let _ = subscriber.send(event.to_owned());
        if repeat && index == 0 {
            let _ = subscriber.send(event.to_owned());
        }
    }
}

/// The HTTP API: Pusher's checks each request's signature; the Socket.IO server's takes
/// `POST /rooms/ROOM/messages`. Both fan the event out and answer `{}`, and close the
/// connection after every second request, as a server may (soketi after each).
async fn http_api(mut stream: TcpStream, flavor: Flavor, delivery: Delivery, hub: Shared) {
    let mut buf = Vec::new();
    for request in 1.. {
        let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            if matches!(stream.read_buf(&mut buf).await, Ok(0) | Err(_)) {
                return;
            }
            continue;
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).expect("a UTF-8 head");
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .expect("a Content-Length")
            .parse()
            .expect("a number");
        while buf.len() < head_end + 4 + length {
            if matches!(stream.read_buf(&mut buf).await, Ok(0) | Err(_)) {
                return;
            }
        }
        let body = buf[head_end + 4..head_end + 4 + length].to_vec();
        buf.drain(..head_end + 4 + length);
        let target = head.split(' ').nth(1).expect("a request target");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("a JSON body");
        let status = match flavor {
            Flavor::Pusher => {
                let (path, query) = target.split_once('?').expect("a query");
                if signed_properly(path, query, &body) {
                    let event = serde_json::json!({
                        "event": json["name"], "channel": json["channels"][0], "data": json["data"],
                    });
                    fan_out(&hub, &event.to_string(), delivery);
                    "200 OK"
                } else {
                    "401 Unauthorized"
                }
            }
            Flavor::SocketIo if target == "/rooms/bench/messages" => {
                let event = format!("42{}", serde_json::json!(["message", json["data"]]));
                fan_out(&hub, &event, delivery);
                "200 OK"
            }
            Flavor::SocketIo => "404 Not Found",
        };
        let close = request % 2 == 0;
        let connection = if close { "Connection: close\r\n" } else { "" };
        let response = format!("HTTP/1.1 {status}\r\n{connection}Content-Length: 2\r\n\r\n{{}}");
        if stream.write_all(response.as_bytes()).await.is_err() || close {
            return;
        }
    }
}

/// Whether a request carries the right `body_md5` and `auth_signature` for [`APP_SECRET`].
fn signed_properly(path: &str, query: &str, body: &[u8]) -> bool {
    let Some((unsigned, signature)) = query.split_once("&auth_signature=") else {
        return false;
    };
    let body_md5: String = Md5::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(format!("POST\n{path}\n{unsigned}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    unsigned.contains(&format!("auth_key={APP_KEY}&"))
        && unsigned.contains(&format!("body_md5={body_md5}"))
        && signature == expected
}

/// Runs `wskit bench ARGS --json`; returns whether it succeeded, its stdout and its stderr.
fn bench(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_wskit"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .expect("running wskit bench");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn broadcast(url: &str, protocol: &str) -> (bool, String, String) {
    broadcast_via(url, protocol, &[])
}

fn broadcast_via(url: &str, protocol: &str, extra: &[&str]) -> (bool, String, String) {
    bench(
        &[
            &[
                "broadcast",
                "--protocol",
                protocol,
                "--url",
                url,
                "--connections",
                "4",
                "--duration",
                "0.5s",
                "--warmup",
                "0.1s",
                "--round-timeout",
                "5s",
            ],
            extra,
        ]
        .concat(),
    )
}

fn assert_every_message_arrived(stdout: &str, stderr: &str, hub: &Shared, protocol: &str) {
    let report: serde_json::Value =
        serde_json::from_str(stdout).unwrap_or_else(|_| panic!("a JSON report; stderr: {stderr}"));
    assert_eq!(report["protocol"], protocol);
    let rounds = report["rounds"].as_u64().unwrap();
    assert!(rounds > 0, "no message went round: {report}");
    assert_eq!(report["deliveries"].as_u64().unwrap(), rounds * 4);
    let hub = hub.lock().unwrap();
    assert_eq!(hub.subscribers.len(), 4);
    assert!(
        hub.published >= rounds,
        "{} published, {rounds} rounds",
        hub.published
    );
    assert_eq!(hub.pongs, 4, "every subscriber answers the server's ping");
}

#[test]
fn bench_broadcast_pusher_publishes_through_the_signed_http_api() {
    let (url, hub) = start(Flavor::Pusher, Delivery::Faithful);
    let (ok, stdout, stderr) = broadcast(&url, "pusher");
    assert!(ok, "wskit bench failed: {stderr}");
    assert_every_message_arrived(&stdout, &stderr, &hub, "pusher");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["publish"], "http");
}

#[test]
fn bench_broadcast_socketio_joins_a_room_and_publishes_over_the_websocket() {
    let (url, hub) = start(Flavor::SocketIo, Delivery::Faithful);
    let (ok, stdout, stderr) = broadcast(&url, "socketio");
    assert!(ok, "wskit bench failed: {stderr}");
    assert_every_message_arrived(&stdout, &stderr, &hub, "socketio");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["publish"], "websocket");
}

#[test]
fn bench_broadcast_socketio_can_publish_through_the_servers_http_api() {
    let (url, hub) = start(Flavor::SocketIo, Delivery::Faithful);
    let (ok, stdout, stderr) = broadcast_via(&url, "socketio", &["--publish", "http"]);
    assert!(ok, "wskit bench failed: {stderr}");
    assert_every_message_arrived(&stdout, &stderr, &hub, "socketio");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["publish"], "http");
}

#[test]
fn bench_broadcast_pusher_refuses_to_publish_over_the_websocket() {
    let (url, _hub) = start(Flavor::Pusher, Delivery::Faithful);
    let (ok, _, stderr) = broadcast_via(&url, "pusher", &["--publish", "websocket"]);
    assert!(!ok);
    assert!(stderr.contains("through the HTTP API only"), "{stderr}");
}

#[test]
fn bench_broadcast_fails_when_a_subscriber_gets_a_message_twice() {
    for (flavor, protocol) in [(Flavor::Pusher, "pusher"), (Flavor::SocketIo, "socketio")] {
        let (url, _hub) = start(flavor, Delivery::RepeatThird);
        let (ok, _, stderr) = broadcast(&url, protocol);
        assert!(!ok, "{protocol}: a repeated message went unnoticed");
        assert!(
            stderr.contains("got message 2 where 3 was due"),
            "{protocol}: {stderr}"
        );
    }
}

#[test]
fn bench_idle_subscribes_every_connection() {
    for (flavor, protocol) in [(Flavor::Pusher, "pusher"), (Flavor::SocketIo, "socketio")] {
        let (url, hub) = start(flavor, Delivery::Faithful);
        let (ok, stdout, stderr) = bench(&[
            "idle",
            "--protocol",
            protocol,
            "--url",
            &url,
            "--connections",
            "6",
            "--hold",
            "0.1s",
            "--subscribe",
        ]);
        assert!(ok, "{protocol}: wskit bench failed: {stderr}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["subscribed"], true);
        assert_eq!(report["connections_lost"], 0, "{protocol}: {report}");
        assert_eq!(hub.lock().unwrap().subscribers.len(), 6, "{protocol}");
    }
}
