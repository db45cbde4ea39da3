//! Helpers for the `wskit serve` tests: the built binary as a child process on a free port,
//! WebSocket clients that speak the JSON protocol, and a small HTTP/1.1 client.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the helpers"
)]
#![allow(unreachable_pub, reason = "a module of each test crate")]

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wskit::{MaybeTlsStream, Message, WebSocket};

/// The longest any one step may take before the test calls it hung.
pub const LIMIT: Duration = Duration::from_secs(10);

pub const WSKIT: &str = env!("CARGO_BIN_EXE_wskit");

/// Every variable `wskit serve` reads, removed from the children's environment so that the
/// developer's own settings do not leak into the tests.
pub const VARIABLES: &[&str] = &[
    "WSKIT_CONFIG",
    "WSKIT_LISTEN",
    "WSKIT_TLS_CERT",
    "WSKIT_TLS_KEY",
    "WSKIT_API_KEY",
    "WSKIT_ALLOWED_ORIGINS",
    "WSKIT_MAX_MESSAGE_SIZE",
    "WSKIT_MAX_QUEUED_BYTES",
    "WSKIT_BACKPRESSURE",
    "WSKIT_HEARTBEAT_INTERVAL",
    "WSKIT_HEARTBEAT_TIMEOUT",
    "WSKIT_IDLE_TIMEOUT",
    "WSKIT_HANDSHAKE_TIMEOUT",
    "WSKIT_DRAIN_TIMEOUT",
    "WSKIT_REDIS",
    "WSKIT_REDIS_CLUSTER",
    "WSKIT_REDIS_PREFIX",
    "WSKIT_REDIS_NODE_TTL",
    "WSKIT_REST_TIMEOUT",
    "WSKIT_DEMO",
    "WSKIT_NO_DEMO",
    "WSKIT_MAX_GROUPS_PER_CONNECTION",
    "WSKIT_MAX_CONNECTIONS",
    "WSKIT_MAX_CONNECTIONS_PER_IP",
    "WSKIT_BODY_TIMEOUT",
    "WSKIT_MESSAGE_RATE",
    "WSKIT_PRESENCE_RATE",
    "WSKIT_TOKEN_SECRET",
    "WSKIT_TOKEN_PUBLIC_KEY",
    "WSKIT_AUTH_TIMEOUT",
    "WSKIT_ALLOW_ANONYMOUS",
];

/// `wskit serve ARGS` with a clean environment.
pub fn serve_command(args: &[&str]) -> Command {
    let mut command = Command::new(WSKIT);
    command.arg("serve").args(args).env("RUST_BACKTRACE", "0");
    for var in VARIABLES {
        command.env_remove(var);
    }
    command
}

/// A `wskit serve` child process, killed on drop.
pub struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    pub addr: SocketAddr,
    /// The start-up line.
    pub line: String,
}

impl Server {
    /// Starts `wskit serve --listen 127.0.0.1:0 ARGS` and reads the address from the start-up
    /// line.
    pub fn start(args: &[&str]) -> Self {
        let mut command = serve_command(&["--listen", "127.0.0.1:0"]);
        command.args(args);
        Self::spawn(command)
    }

    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start wskit serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the start-up line");
        let addr = start_up_addr(&line);
        Self {
            child,
            stdout,
            addr,
            line,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit; returns the status and the rest of stdout.
    pub fn terminate(self) -> (ExitStatus, String) {
        self.signal("TERM");
        self.wait()
    }

    /// Sends a signal (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the exit; returns the status and the rest of stdout.
    pub fn wait(mut self) -> (ExitStatus, String) {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).expect("read stdout");
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for wskit serve") {
                return (status, rest);
            }
            assert!(Instant::now() < deadline, "wskit serve did not exit");
            // stdout has closed: the process is exiting; this only waits for the reaper.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("timed out")
}

/// A client of `/ws` that has read its welcome.
pub struct Client {
    pub ws: WebSocket<MaybeTlsStream>,
    pub id: String,
}

impl Client {
    pub async fn connect(server: &Server) -> Self {
        Self::connect_url(&server.url("/ws")).await
    }

    pub async fn connect_url(url: &str) -> Self {
        let (ws, _) = within(wskit::connect(url)).await.expect("connect to /ws");
        Self::welcome(ws).await
    }

    pub async fn welcome(ws: WebSocket<MaybeTlsStream>) -> Self {
        let mut client = Self {
            ws,
            id: String::new(),
        };
        let welcome = client.recv().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        client.id = welcome["id"].as_str().expect("an id").to_owned();
        client
    }

    pub async fn send(&mut self, value: Value) {
        within(self.ws.send(Message::text(value.to_string())))
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, text: &str) {
        within(self.ws.send(Message::text(text.to_owned())))
            .await
            .expect("send");
    }

    /// The next JSON message.
    pub async fn recv(&mut self) -> Value {
        let text = within(self.ws.recv_text()).await.expect("a text message");
        serde_json::from_str(text.as_str()).expect("JSON from the server")
    }

    /// Sends `value` and returns the next message (the answer when `value` has a `ref`).
    pub async fn call(&mut self, value: Value) -> Value {
        self.send(value).await;
        self.recv().await
    }

    /// The close code the server sends, reading past other messages.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match within(self.ws.recv()).await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The close code and reason the server sends.
    pub async fn close_frame(&mut self) -> Option<(u16, String)> {
        loop {
            match within(self.ws.recv()).await {
                Some(Ok(Message::Close(frame))) => {
                    return frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{e}: not JSON: {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }
}

/// One HTTP/1.1 request over a fresh connection.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> Response {
    within(async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        if let Some(key) = key {
            request.push_str(&format!("Authorization: Bearer {key}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() || method == "POST" {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        let raw = String::from_utf8(raw).expect("a UTF-8 response");
        let (head, body) = raw.split_once("\r\n\r\n").expect("a response head");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        Response {
            status,
            head: head.to_owned(),
            body: body.to_owned(),
        }
    })
    .await
}

/// A fresh directory for files a test writes.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wskit-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// The address in `wskit serve`'s start-up line (`wskit serve: listening on http://ADDR ...`).
pub fn start_up_addr(line: &str) -> SocketAddr {
    line.split("://")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected start-up line {line:?}"))
}
