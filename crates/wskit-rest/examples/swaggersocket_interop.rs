//! SwaggerSocket v1 against the Go library itself (go-openapi/swaggersocket), in four
//! directions, driven by `tests/swaggersocket/run.sh`:
//!
//! 1. a Go client calls a wskit [`RestServer`]'s API;
//! 2. a wskit [`RestClient`] calls a Go server's API;
//! 3. a Go agent connected to `wskit serve`'s `/rest` answers through `/api/rest/{id}/...`;
//! 4. a Go server calls the API a wskit agent ([`RestClient`] serving a router) serves.
//!
//! Usage: `swaggersocket_interop GO_PEER WSKIT_BIN`, where `GO_PEER` is the program built from
//! `tests/swaggersocket/peer/main.go`. Prints `ok NAME` or `FAIL NAME: REASON` per check, then
//! `swaggersocket interop: N passed, M failed`; exits 1 when a check failed. Every wait is
//! bounded; every process started is killed at the end.
//!
//! The Go side runs its own checks against wskit's API in directions 1 and 4 and prints them in
//! the same form; they are counted here.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{any, get, post};
use bytes::Bytes;
use http_body_util::{BodyExt, Channel};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tower::ServiceExt;
use wskit_rest::{Body, Config, ConnectionEvent, Error, RestClient, RestConnection, RestServer};

/// The non-ASCII text both sides send (the Go peer has the same).
const NON_ASCII: &str = "héllo wörld ✓ 日本語 🦀";
/// How long any one step may take on a loaded machine.
const STEP: Duration = Duration::from_secs(30);
/// How long wskit waits for a response the Go side may have lost (also `--rest-timeout`).
const LOST: Duration = Duration::from_secs(5);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(go), Some(wskit)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: swaggersocket_interop GO_PEER WSKIT_BIN");
        std::process::exit(2);
    };
    let mut tally = Tally::default();
    let directions: [(&str, Result<(), BoxError>); 4] = [
        (
            "go client -> wskit server",
            go_client_to_wskit_server(&mut tally, go).await,
        ),
        (
            "wskit client -> go server",
            wskit_client_to_go_server(&mut tally, go).await,
        ),
        (
            "go agent behind wskit serve /api/rest",
            go_agent_behind_the_gateway(&mut tally, go, wskit).await,
        ),
        (
            "go server -> wskit agent",
            go_server_calls_a_wskit_agent(&mut tally, go).await,
        ),
    ];
    for (direction, result) in directions {
        if let Err(error) = result {
            tally.record(direction, "the run", Err(error.to_string()));
        }
    }
    println!(
        "swaggersocket interop: {} passed, {} failed",
        tally.passed, tally.failed
    );
    std::process::exit(i32::from(tally.failed > 0));
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    fn record(&mut self, direction: &str, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.passed += 1;
                println!("ok   [{direction}] {name}");
            }
            Err(reason) => {
                self.failed += 1;
                println!("FAIL [{direction}] {name}: {reason}");
            }
        }
    }

    /// Counts the Go peer's own check lines until "checks done".
    async fn go_checks(&mut self, direction: &str, peer: &mut Process) -> Result<(), BoxError> {
        loop {
            let line = peer.line().await?;
            if line == "checks done" {
                return Ok(());
            }
            if let Some(name) = line.strip_prefix("ok ") {
                self.record(direction, &format!("(go) {name}"), Ok(()));
            } else if let Some(rest) = line.strip_prefix("FAIL ") {
                let (name, reason) = rest.split_once(": ").unwrap_or((rest, ""));
                self.record(direction, &format!("(go) {name}"), Err(reason.to_owned()));
            }
        }
    }
}

/// A child process whose stdout is read line by line; killed when dropped.
struct Process {
    /// Held so that dropping the `Process` kills the child.
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Process {
    fn spawn(program: &str, args: &[&str]) -> Result<Self, BoxError> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("cannot start {program}: {error}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        Ok(Self {
            _child: child,
            lines: BufReader::new(stdout).lines(),
        })
    }

    async fn line(&mut self) -> Result<String, BoxError> {
        match timeout(STEP, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => Err("the process ended".into()),
            Ok(Err(error)) => Err(error.into()),
            Err(_) => Err("no output line in time".into()),
        }
    }

    /// Reads lines until one starts with `prefix`; returns the rest of it.
    async fn until(&mut self, prefix: &str) -> Result<String, BoxError> {
        loop {
            let line = self.line().await?;
            if let Some(rest) = line.strip_prefix(prefix) {
                return Ok(rest.to_owned());
            }
        }
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The API wskit serves to Go callers, the same routes as the Go peer's.
fn api(hang: mpsc::Sender<()>) -> Router {
    Router::new()
        .route("/doc", get(|| async { "d".repeat(300) }))
        .route("/text", get(|| async { NON_ASCII }))
        .route(
            "/big",
            get(|uri: http::Uri| async move {
                let n = uri
                    .query()
                    .and_then(|q| q.strip_prefix("n="))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                pattern(n)
            }),
        )
        .route(
            "/echo",
            post(|headers: HeaderMap, body: Bytes| async move {
                let mut out = HeaderMap::new();
                if let Some(kind) = headers.get("content-type") {
                    out.insert("content-type", kind.clone());
                }
                out.insert("x-body-length", body.len().into());
                (out, body)
            }),
        )
        .route(
            "/stream",
            get(|| async {
                let (mut tx, body) = Channel::<Bytes, std::convert::Infallible>::new(1);
                tokio::spawn(async move {
                    for part in ["one ", "two ", "three"] {
                        if tx
                            .send_data(Bytes::from_static(part.as_bytes()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                });
                axum::body::Body::new(body)
            }),
        )
        .route(
            "/teapot",
            get(|| async {
                let mut headers = HeaderMap::new();
                headers.insert("x-peer", "wskit".parse().expect("a header value"));
                headers.append("x-multi", "a".parse().expect("a header value"));
                headers.append("x-multi", "b".parse().expect("a header value"));
                (StatusCode::IM_A_TEAPOT, headers, "short and stout")
            }),
        )
        .route(
            "/headers",
            any(|method: Method, headers: HeaderMap| async move {
                let custom = headers
                    .get("x-custom")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default();
                format!("{method} {custom}")
            }),
        )
        .route(
            "/hang",
            get(move || {
                let hang = hang.clone();
                async move {
                    let _ = hang.send(()).await;
                    std::future::pending::<&'static str>().await
                }
            }),
        )
}

// ===== direction 1 =====

async fn go_client_to_wskit_server(tally: &mut Tally, go: &str) -> Result<(), BoxError> {
    const DIRECTION: &str = "go client -> wskit server";
    let (hang, _hung) = mpsc::channel(1);
    let server = RestServer::new(RestConnection::builder().serve(api(hang)));
    let mut events = server.events();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let serving = tokio::spawn({
        let server = server.clone();
        async move { server.serve(listener).await }
    });
    let mut peer = Process::spawn(go, &["client", &format!("ws://{addr}/")])?;
    tally.go_checks(DIRECTION, &mut peer).await?;
    peer.until("leaving mid-request").await?;
    // The Go client is gone with a request in flight: the connection ends, reported.
    let ended = timeout(STEP, async {
        loop {
            match events.recv().await {
                Ok(ConnectionEvent::Closed { .. } | ConnectionEvent::Failed { .. }) => {
                    return Ok(());
                }
                Ok(_) => {}
                Err(error) => return Err(error.to_string()),
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err("no Closed or Failed event".into()));
    tally.record(
        DIRECTION,
        "the Go client leaving mid-request ends its connection",
        ended,
    );
    serving.abort();
    Ok(())
}

// ===== directions 2 and 3: wskit calls Go =====

/// A request of the checks: method, path, an `X-Custom` header, a body.
#[derive(Clone)]
struct Call {
    method: &'static str,
    path: String,
    custom: Option<&'static str>,
    body: Vec<u8>,
}

/// A response: status, headers, body.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn call(method: &'static str, path: &str) -> Call {
    Call {
        method,
        path: path.to_owned(),
        custom: None,
        body: Vec::new(),
    }
}

fn expect<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

/// The checks wskit runs against the Go peer's API; `send` carries a call over one route
/// (a [`RestClient`] or the gateway). `is_lost`: the answer to a request whose response the
/// Go side lost (a timeout). `dies` checks the answer when the Go side exits mid-request.
async fn caller_checks<F, Fut>(
    tally: &mut Tally,
    direction: &str,
    send: F,
    is_lost: impl Fn(&Result<Reply, String>) -> bool,
    dies: impl AsyncFnOnce(Result<Reply, String>) -> Result<(), String>,
) where
    F: Fn(Call) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Reply, String>> + Send + 'static,
{
    let head = send(call("HEAD", "/doc")).await.and_then(|reply| {
        expect("status", reply.status, 200)?;
        expect(
            "content-length",
            reply
                .headers
                .get("content-length")
                .map(|v| v.as_bytes().to_vec()),
            Some(b"300".to_vec()),
        )?;
        expect("body length", reply.body.len(), 0)
    });
    tally.record(direction, "HEAD gets the length of GET and no body", head);

    let text = send(call("GET", "/text")).await.and_then(|reply| {
        expect(
            "body",
            String::from_utf8_lossy(&reply.body),
            NON_ASCII.into(),
        )
    });
    tally.record(direction, "non-ASCII text from Go", text);

    // The Go library's server loop starts reading the next message as soon as a handler
    // starts, which discards what gorilla/websocket has not buffered yet of the request: a Go
    // handler reads only the first kilobyte or so of a larger body. So: the Go side saw the
    // whole Content-Length, read an exact prefix of the body, and wskit got that prefix back.
    for n in [512, 4096, 65_536] {
        let mut echo = call("POST", "/echo");
        echo.body = pattern(n);
        let mut name = format!("a {n}-byte request body from wskit, echoed");
        let result = send(echo).await.and_then(|reply| {
            let number = |name: &str| {
                reply
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<usize>().ok())
            };
            expect(
                "Content-Length the Go side saw",
                number("x-content-length"),
                Some(n),
            )?;
            let read = number("x-body-length").ok_or("no X-Body-Length")?;
            if read < n {
                name = format!("{name} (the Go server read only {read} bytes of it: its bug)");
            }
            if read == 0 || read > n || reply.body != pattern(n)[..read] {
                return Err(format!(
                    "the Go handler read {read} bytes, {} came back, not a prefix of the body",
                    reply.body.len()
                ));
            }
            if n <= 512 && read < n {
                return Err(format!("only {read} bytes of {n} arrived"));
            }
            Ok(())
        });
        tally.record(direction, &name, result);
    }

    let mut echo = call("POST", "/echo");
    echo.body = NON_ASCII.as_bytes().to_vec();
    let result = send(echo).await.and_then(|reply| {
        expect(
            "body",
            String::from_utf8_lossy(&reply.body),
            NON_ASCII.into(),
        )
    });
    tally.record(direction, "non-ASCII request body echoed", result);

    let stream = send(call("GET", "/stream")).await.and_then(|reply| {
        expect(
            "body",
            String::from_utf8_lossy(&reply.body),
            "one two three".into(),
        )
    });
    tally.record(direction, "a streamed (flushed, chunked) response", stream);

    let teapot = send(call("GET", "/teapot")).await.and_then(|reply| {
        expect("status", reply.status, 418)?;
        expect(
            "x-peer",
            reply.headers.get("x-peer").map(|v| v.as_bytes().to_vec()),
            Some(b"go".to_vec()),
        )?;
        let multi: Vec<&[u8]> = reply
            .headers
            .get_all("x-multi")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        expect("x-multi", multi, vec![&b"a"[..], b"b"])?;
        expect(
            "body",
            String::from_utf8_lossy(&reply.body),
            "short and stout".into(),
        )
    });
    tally.record(direction, "418 with headers", teapot);

    let mut headers = call("PUT", "/headers");
    headers.custom = Some("v1");
    let result = send(headers).await.and_then(|reply| {
        expect(
            "body",
            String::from_utf8_lossy(&reply.body),
            "PUT v1".into(),
        )
    });
    tally.record(direction, "request headers reach the Go handler", result);

    // The Go library's server takes the writer of a response when it reads the request, and
    // taking the next one closes the previous: of requests in flight at once, only those
    // whose handler finished before the next request came get an answer. So: every answer
    // matches its request, at least one comes, and the others fail with a timeout, not a
    // hang or someone else's response.
    let calls: Vec<_> = (0..8)
        .map(|n| tokio::spawn(send(call("GET", &format!("/slow?n={n}")))))
        .collect();
    let mut answered = 0;
    let mut concurrent = Ok(());
    for (n, task) in calls.into_iter().enumerate() {
        let result = match task.await {
            Ok(result) if is_lost(&result) => Ok(()),
            Ok(Ok(reply)) => {
                answered += 1;
                expect(
                    "body",
                    String::from_utf8_lossy(&reply.body),
                    n.to_string().into(),
                )
            }
            Ok(Err(error)) => Err(error),
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = result {
            concurrent = Err(format!("request {n}: {error}"));
            break;
        }
    }
    if concurrent.is_ok() && answered == 0 {
        concurrent = Err("no request got an answer".into());
    }
    tally.record(
        direction,
        &format!(
            "8 requests in flight at once: {answered} answered by the Go server, the rest timed out"
        ),
        concurrent,
    );

    let died = match timeout(STEP, send(call("GET", "/die"))).await {
        Ok(result) => dies(result).await,
        Err(_) => Err("no answer: the request hangs".into()),
    };
    tally.record(
        direction,
        "the Go side exiting mid-request fails the request",
        died,
    );
}

async fn wskit_client_to_go_server(tally: &mut Tally, go: &str) -> Result<(), BoxError> {
    const DIRECTION: &str = "wskit client -> go server";
    let mut peer = Process::spawn(go, &["server"])?;
    let url = peer.until("listening on ").await?;
    let client = RestClient::builder(wskit::Client::new(url))
        .rest(RestConnection::builder().config(Config::default().request_timeout(LOST)))
        .swagger()
        .spawn();
    let send = {
        let client = client.clone();
        move |call: Call| {
            let client = client.clone();
            async move {
                let mut request = http::Request::builder().method(call.method).uri(&call.path);
                if let Some(custom) = call.custom {
                    request = request.header("x-custom", custom);
                }
                let request = request
                    .body(Body::from(call.body))
                    .map_err(|e| e.to_string())?;
                let response = client.oneshot(request).await.map_err(|e| match e {
                    Error::Timeout(_) => format!("timeout: {e}"),
                    e => e.to_string(),
                })?;
                let (parts, body) = response.into_parts();
                let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
                Ok(Reply {
                    status: parts.status.as_u16(),
                    headers: parts.headers,
                    body: body.to_vec(),
                })
            }
        }
    };
    let is_lost = |result: &Result<Reply, String>| matches!(result, Err(reason) if reason.starts_with("timeout"));
    caller_checks(
        tally,
        DIRECTION,
        send,
        is_lost,
        async |result| match result {
            Err(reason) if reason.contains("closed") || reason.contains("dropped") => Ok(()),
            Err(reason) => Err(format!("an unclear error: {reason}")),
            Ok(reply) => Err(format!("a response: {}", reply.status)),
        },
    )
    .await;
    client.close().await;
    Ok(())
}

async fn go_agent_behind_the_gateway(
    tally: &mut Tally,
    go: &str,
    wskit: &str,
) -> Result<(), BoxError> {
    const DIRECTION: &str = "go agent behind wskit serve /api/rest";
    let mut serve = Process::spawn(
        wskit,
        &["serve", "--listen", "127.0.0.1:0", "--rest-timeout", "5s"],
    )?;
    let line = serve.until("wskit serve: listening on http://").await?;
    let addr: SocketAddr = line
        .split(' ')
        .next()
        .and_then(|addr| addr.parse().ok())
        .ok_or_else(|| format!("no address in {line:?}"))?;
    let mut agent = Process::spawn(go, &["agent", &format!("ws://{addr}/rest")])?;
    let id = agent.until("agent connected ").await?;
    // The agent's handshake ends with its acknowledgement, which the server registers a
    // moment later: wait until the gateway lists it.
    let listed = timeout(STEP, async {
        loop {
            if let Ok(list) = http(addr, call("GET", "/api/rest")).await {
                if String::from_utf8_lossy(&list.body).contains(&id) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if listed.is_err() {
        return Err(format!("the Go agent {id} is not listed by /api/rest").into());
    }
    let send = move |mut call: Call| {
        call.path = format!("/api/rest/{id}{}", call.path);
        http(addr, call)
    };
    let is_lost =
        |result: &Result<Reply, String>| matches!(result, Ok(reply) if reply.status == 504);
    caller_checks(
        tally,
        DIRECTION,
        send,
        is_lost,
        async |result| match result {
            Ok(reply) if reply.status == 502 => Ok(()),
            Ok(reply) => Err(format!(
                "status {}: {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            )),
            Err(reason) => Err(reason),
        },
    )
    .await;
    Ok(())
}

/// One HTTP/1.0 request (the body delimited by the end of the connection) to `wskit serve`.
async fn http(addr: SocketAddr, call: Call) -> Result<Reply, String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let mut request = format!(
            "{} {} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n",
            call.method,
            call.path,
            call.body.len()
        );
        if let Some(custom) = call.custom {
            request.push_str(&format!("X-Custom: {custom}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await?;
        stream.write_all(&call.body).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = timeout(STEP, exchange)
        .await
        .map_err(|_| "no answer in time".to_owned())?
        .map_err(|e| e.to_string())?;
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(len)) = response.parse(&raw) else {
        return Err(format!(
            "not an HTTP response: {:?}",
            String::from_utf8_lossy(&raw)
        ));
    };
    let mut map = HeaderMap::new();
    for header in response.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(header.name.as_bytes()),
            http::HeaderValue::from_bytes(header.value),
        ) {
            map.append(name, value);
        }
    }
    Ok(Reply {
        status: response.code.unwrap_or_default(),
        headers: map,
        body: raw[len..].to_vec(),
    })
}

// ===== direction 4 =====

async fn go_server_calls_a_wskit_agent(tally: &mut Tally, go: &str) -> Result<(), BoxError> {
    const DIRECTION: &str = "go server -> wskit agent";
    let mut peer = Process::spawn(go, &["server"])?;
    let url = peer.until("listening on ").await?;
    let (hang, _hung) = mpsc::channel(1);
    let agent = RestClient::builder(wskit::Client::new(url))
        .rest(RestConnection::builder().serve(api(hang)))
        .metadata(serde_json::json!({"checks": true}))
        .swagger()
        .spawn();
    let mut events = agent.events();
    tally.go_checks(DIRECTION, &mut peer).await?;
    peer.until("leaving mid-request").await?;
    // The Go server is gone with a request to the agent in flight: the agent sees it.
    let dropped = timeout(STEP, async {
        loop {
            match events.recv().await {
                Some(wskit::Event::Disconnected { .. }) => return Ok(()),
                Some(_) => {}
                None => return Err("the agent's events ended".to_owned()),
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err("no Disconnected event".into()));
    tally.record(
        DIRECTION,
        "the Go server leaving mid-request drops the agent's connection",
        dropped,
    );
    agent.close().await;
    Ok(())
}
