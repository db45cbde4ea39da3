//! Running `wskit serve` and `wskit echo` as an operator does: errors without backtraces,
//! `--print-config` output used as a config file, listen addresses as `:PORT` and host names,
//! each subcommand's own environment variables, and the log lines (`--log-format`, no colours
//! in a pipe, one line per connection opened and closed).

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;

use serde_json::Value;
use wskit::MaybeTlsStream;

mod support;
use support::{Client, LIMIT, Server, WSKIT, serve_command, start_up_addr, temp_dir};

fn run(mut command: Command) -> Output {
    command.output().expect("run wskit")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn errors_are_one_line_with_their_causes_even_with_rust_backtrace() {
    let mut command = serve_command(&["--config", "/nonexistent/wskit.toml"]);
    command
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1");
    let output = run(command);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: config file /nonexistent/wskit.toml: ")
            && stderr.contains("No such file or directory"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "no backtrace: {stderr}");
    assert!(!stderr.to_lowercase().contains("backtrace"), "{stderr}");
}

#[test]
fn print_config_output_is_a_config_file_that_gives_the_same_settings() {
    let mut command = serve_command(&[
        "--print-config",
        "--heartbeat-interval",
        "25s",
        "--redis",
        "redis://:hunter2@127.0.0.1:6379/1",
    ]);
    command.env("WSKIT_API_KEY", "s3cret-key");
    let output = run(command);
    assert!(output.status.success(), "{output:?}");
    let printed = text(&output.stdout);
    assert!(
        !printed.contains("s3cret-key") && !printed.contains("hunter2"),
        "secrets are left out: {printed}"
    );
    assert!(
        !printed.contains("(hidden)") && !printed.contains("***"),
        "no placeholder that would become a value: {printed}"
    );
    assert!(
        printed.contains("# api_key is set but not shown")
            && printed.contains("# the Redis password is not shown")
            && printed.contains("redis = \"redis://127.0.0.1:6379/1\""),
        "{printed}"
    );

    // Read back as a config file, it gives the same settings (less the secrets).
    let dir = temp_dir("print-config");
    let file = dir.join("wskit.toml");
    std::fs::write(&file, &printed).expect("write the config file");
    let again = run(serve_command(&[
        "--config",
        file.to_str().expect("a UTF-8 path"),
        "--print-config",
    ]));
    assert!(again.status.success(), "{again:?}");
    let reprinted = text(&again.stdout);
    let without_comments = |s: &str| {
        s.lines()
            .filter(|line| !line.starts_with('#'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        without_comments(&reprinted),
        without_comments(&printed),
        "{reprinted}"
    );
    assert!(
        reprinted.contains("heartbeat_interval = \"25s\""),
        "{reprinted}"
    );
}

#[test]
fn listen_takes_a_bare_port_and_host_names() {
    let output = run(serve_command(&["--listen", ":8080", "--print-config"]));
    assert!(output.status.success(), "{output:?}");
    assert!(
        text(&output.stdout).contains("listen = \"0.0.0.0:8080\""),
        "{output:?}"
    );
    // Every interface needs the API key, as 0.0.0.0 does.
    let output = run(serve_command(&["--listen", ":0"]));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        text(&output.stderr).contains("refusing to listen on 0.0.0.0:0 without an API key"),
        "{output:?}"
    );

    let server = Server::spawn(serve_command(&["--listen", "localhost:0"]));
    assert!(server.addr.ip().is_loopback(), "{}", server.line);

    let output = run(serve_command(&["--listen", "local host:80"]));
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        text(&output.stderr).contains("expected IP:PORT, HOST:PORT or :PORT"),
        "{output:?}"
    );
}

#[test]
fn echo_reads_its_own_variable_and_not_serves() {
    let mut command = Command::new(WSKIT);
    command
        .arg("echo")
        .env("WSKIT_LISTEN", "not an address")
        .env("WSKIT_ECHO_LISTEN", "localhost:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start wskit echo");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("read the start-up line");
    let _ = child.kill();
    let output = child.wait_with_output().expect("wait for wskit echo");
    assert!(
        line.starts_with("listening on ws://127.0.0.1:")
            || line.starts_with("listening on ws://[::1]:"),
        "{line:?} {}",
        text(&output.stderr)
    );
}

/// A `wskit serve` child process with RUST_LOG=info and its stderr piped, killed on drop.
struct LoggedServer {
    child: Child,
    /// Kept open: the server writes more lines after the first.
    _stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
    /// Its stderr lines as they come.
    lines: mpsc::Receiver<String>,
}

impl LoggedServer {
    fn start(args: &[&str]) -> Self {
        let mut command = serve_command(&["--listen", "127.0.0.1:0"]);
        command
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("WSKIT_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start wskit serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the start-up line");
        let addr = start_up_addr(&line);
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            _stdout: stdout,
            addr,
            lines,
        }
    }

    /// The next stderr line that contains `needle`.
    fn line_with(&self, needle: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(LIMIT)
                .unwrap_or_else(|_| panic!("no log line with {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The local address of a client's plain TCP connection.
fn local_addr(client: &Client) -> SocketAddr {
    match client.ws.get_ref() {
        MaybeTlsStream::Plain(tcp) => tcp.local_addr().expect("local addr"),
        MaybeTlsStream::Tls(_) => panic!("a plain connection"),
    }
}

#[tokio::test]
async fn json_logs_have_a_line_per_connection_opened_and_closed() {
    let server = LoggedServer::start(&["--log-format", "json"]);
    let mut client = Client::connect_url(&format!("ws://{}/ws", server.addr)).await;
    let id = client.id.clone();
    let local = local_addr(&client);
    client
        .ws
        .close(wskit::CloseCode::from(4000), "bye")
        .await
        .expect("close");

    let opened: Value =
        serde_json::from_str(&server.line_with("connection opened")).expect("a JSON log line");
    assert_eq!(opened["level"], "INFO", "{opened}");
    assert_eq!(opened["fields"]["id"], id.as_str(), "{opened}");
    assert_eq!(opened["fields"]["path"], "/ws", "{opened}");
    assert_eq!(opened["fields"]["peer"], local.to_string(), "{opened}");

    let closed: Value =
        serde_json::from_str(&server.line_with("connection closed")).expect("a JSON log line");
    assert_eq!(closed["fields"]["id"], id.as_str(), "{closed}");
    assert_eq!(closed["fields"]["peer"], local.to_string(), "{closed}");
    assert_eq!(closed["fields"]["path"], "/ws", "{closed}");
    assert_eq!(closed["fields"]["code"], 4000, "{closed}");
}

#[tokio::test]
async fn text_logs_in_a_pipe_have_no_colours() {
    let server = LoggedServer::start(&[]);
    let client = Client::connect_url(&format!("ws://{}/ws", server.addr)).await;
    let local = local_addr(&client);
    // Gone without a close frame: 1006.
    drop(client);
    let opened = server.line_with("connection opened");
    assert!(!opened.contains('\x1b'), "{opened:?}");
    assert!(
        opened.contains(" INFO ")
            && opened.contains("path=\"/ws\"")
            && opened.contains(&format!("peer={local}")),
        "{opened:?}"
    );
    let closed = server.line_with("connection closed");
    assert!(
        !closed.contains('\x1b') && closed.contains("code=1006"),
        "{closed:?}"
    );
}
