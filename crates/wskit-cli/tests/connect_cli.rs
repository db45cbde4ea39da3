//! `wskit connect` end to end: the built binary against `wskit echo` (plain and TLS) and against
//! small raw servers that refuse the upgrade or close first; stdin in, stdout and stderr out,
//! exit status checked.

use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The longest any one `wskit connect` run may take before the test calls it hung.
const LIMIT: Duration = Duration::from_secs(20);

const WSKIT: &str = env!("CARGO_BIN_EXE_wskit");

/// A `wskit echo` child process, killed on drop.
struct EchoServer {
    child: Child,
    /// The URL it printed, e.g. `ws://127.0.0.1:40123`.
    url: String,
}

impl EchoServer {
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(WSKIT)
            .args(["echo", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start wskit echo");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("read the first line of wskit echo");
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        Self { child, url }
    }

    fn port(&self) -> u16 {
        let port = self.url.rsplit(':').next().expect("a port");
        port.parse().expect("a numeric port")
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a `wskit connect` run ended.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `wskit connect ARGS`, writing `stdin` to it; with `None`, stdin stays open until the
/// process has exited. Kills it and fails the test after [`LIMIT`].
fn connect(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(WSKIT)
        .arg("connect")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wskit connect");
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let mut input = child.stdin.take().expect("piped stdin");
    let held = match stdin {
        Some(text) => {
            input.write_all(text.as_bytes()).expect("write stdin");
            drop(input);
            None
        }
        None => Some(input),
    };
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "wskit connect {args:?} hung; stderr: {}",
                stderr.join().expect("stderr reader")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(held);
    Run {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Reads a pipe to the end on its own thread (so neither pipe can fill up and block the child).
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A one-connection raw TCP server: reads the request head, then hands the socket and the
/// head to `respond`.
fn raw_server(respond: impl FnOnce(TcpStream, &str) + Send + 'static) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("ws://{}/", listener.local_addr().expect("local_addr"));
    let task = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).expect("read the request") == 0 {
                return;
            }
            head.push(byte[0]);
        }
        respond(stream, &String::from_utf8_lossy(&head));
    });
    (url, task)
}

/// A fresh directory under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("wskit-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// Writes a self-signed certificate for `localhost` and its key as PEM; returns their paths.
fn self_signed(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("generate a certificate");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("write cert.pem");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("write key.pem");
    (cert, key)
}

#[test]
fn lines_are_echoed_and_end_of_input_closes_cleanly() {
    let server = EchoServer::start(&[]);
    let run = connect(&[&server.url], Some("hello\nwörld\n"));
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.stdout, "hello\nwörld\n", "{run:?}");
}

#[test]
fn the_options_are_accepted() {
    let server = EchoServer::start(&[]);
    let run = connect(
        &[
            &server.url,
            "--header",
            "Authorization: Bearer secret",
            "--protocol",
            "chat.v1",
            "--origin",
            "http://localhost",
            "--ping-interval",
            "0.05",
            "--no-deflate",
        ],
        Some("one\ntwo\n"),
    );
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.stdout, "one\ntwo\n", "{run:?}");
}

#[test]
fn a_refused_handshake_exits_2_naming_the_status() {
    let (url, server) = raw_server(|mut stream, _head| {
        let _ = stream
            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    let run = connect(&[&url], Some("never sent\n"));
    server.join().expect("server thread");
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert!(run.stderr.contains("403 Forbidden"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
}

#[test]
fn a_close_from_the_server_is_reported_with_its_code() {
    let (url, server) = raw_server(|mut stream, head| {
        let key = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .expect("a Sec-WebSocket-Key");
        let accept = wskit::proto::handshake::accept_key(key.as_bytes());
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        stream.write_all(response.as_bytes()).expect("write 101");
        // A text message, then close 1011 "boom" (0x03f3).
        stream.write_all(b"\x81\x02hi").expect("write text");
        stream
            .write_all(b"\x88\x06\x03\xf3boom")
            .expect("write close");
        // Wait for the client's close frame, then close the TCP connection first.
        let mut buf = [0u8; 64];
        let _ = stream.read(&mut buf);
    });
    // stdin stays open: the server's close alone ends the run.
    let run = connect(&[&url], None);
    server.join().expect("server thread");
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(run.stdout, "hi\n", "{run:?}");
    assert!(run.stderr.contains("closed: 1011 boom"), "{run:?}");
}

#[test]
fn insecure_accepts_a_self_signed_certificate_with_a_warning() {
    let dir = temp_dir("connect-insecure");
    let (cert, key) = self_signed(&dir);
    let server = EchoServer::start(&[
        "--tls-cert",
        cert.to_str().expect("UTF-8 path"),
        "--tls-key",
        key.to_str().expect("UTF-8 path"),
    ]);
    assert!(server.url.starts_with("wss://"), "{}", server.url);

    let run = connect(&[&server.url, "--insecure"], Some("over tls\n"));
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.stdout, "over tls\n", "{run:?}");
    assert!(run.stderr.contains("warning: --insecure"), "{run:?}");

    // Without --insecure the unknown certificate is refused...
    let run = connect(&[&server.url], Some("refused\n"));
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");

    // ...unless it is trusted with --ca-file (and the name matches).
    let url = format!("wss://localhost:{}/", server.port());
    let run = connect(
        &[&url, "--ca-file", cert.to_str().expect("UTF-8 path")],
        Some("trusted\n"),
    );
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.stdout, "trusted\n", "{run:?}");
    assert!(!run.stderr.contains("warning"), "{run:?}");

    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
