//! Test helpers shared by the wskit crates: loopback listeners, a raw byte-level WebSocket
//! peer and frame builders (mini-redis `tests/server.rs` style). Not published.
#![allow(missing_docs, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub mod idle;
pub mod redis_server;

/// The upper bound of any single step of a test. Never waited for: a step that takes this
/// long has hung.
pub const LIMIT: Duration = Duration::from_secs(5);

/// A `Sec-WebSocket-Key` (the example of RFC 6455 §1.3).
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Runs `fut`, failing the test if it has not finished within [`LIMIT`].
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut)
        .await
        .expect("test step hung (did not finish within the limit)")
}

/// A listener on 127.0.0.1 with a port chosen by the system.
pub async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    (listener, addr)
}

/// `ws://127.0.0.1:PORT/`.
pub fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}

/// An upgrade request for `/` with `key`, without extensions, plus `extra` header lines
/// (each ending in `\r\n`).
pub fn upgrade_request(key: &str, extra: &str) -> String {
    upgrade_request_for("/", key, extra)
}

/// An upgrade request for `target` with `key`, without extensions, plus `extra` header lines
/// (each ending in `\r\n`).
pub fn upgrade_request_for(target: &str, key: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// The masking key of the raw client's frames.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame header followed by `payload`, masked with [`MASK`] when `masked`.
pub fn frame(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![u8::from(fin) << 7 | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => out.push(mask_bit | len as u8),
        len @ 126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A final, masked frame as a client sends it.
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, opcode, payload, true)
}

/// A final, unmasked frame as a server sends it.
pub fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, opcode, payload, false)
}

/// A frame as read off the wire, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// The FIN bit.
    pub fin: bool,
    /// The opcode.
    pub opcode: u8,
    /// Whether the frame was masked.
    pub masked: bool,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// The code of a close frame, if it has one.
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, 0x8, "not a close frame: {self:?}");
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// A TCP stream with a read buffer, for speaking WebSocket (or not) byte by byte.
#[derive(Debug)]
pub struct Raw {
    /// The socket.
    pub stream: TcpStream,
    /// Bytes read but not yet consumed.
    pub buf: Vec<u8>,
}

impl Raw {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::new(TcpStream::connect(addr).await.expect("connect"))
    }

    /// Connects to `addr` and completes a WebSocket handshake as a client (no extensions).
    pub async fn connect_ws(addr: SocketAddr) -> Self {
        let mut raw = Self::connect(addr).await;
        raw.write(upgrade_request(KEY, "").as_bytes()).await;
        let head = raw.read_head().await.expect("a response head");
        assert!(
            head.starts_with("HTTP/1.1 101 "),
            "expected 101 Switching Protocols, got:\n{head}"
        );
        raw
    }

    /// Connects to `addr` and completes a WebSocket handshake for `target` with `extra` header
    /// lines; returns the response head (the `101` is checked).
    pub async fn connect_ws_to(addr: SocketAddr, target: &str, extra: &str) -> (Self, String) {
        let mut raw = Self::connect(addr).await;
        raw.write(upgrade_request_for(target, KEY, extra).as_bytes())
            .await;
        let head = raw.read_head().await.expect("a response head");
        assert!(
            head.starts_with("HTTP/1.1 101 "),
            "expected 101 Switching Protocols, got:\n{head}"
        );
        (raw, head)
    }

    /// Sends a request for `target` with `extra` header lines and reads the response.
    pub async fn request(addr: SocketAddr, target: &str, extra: &str) -> HttpResponse {
        let mut raw = Self::connect(addr).await;
        raw.write(upgrade_request_for(target, KEY, extra).as_bytes())
            .await;
        raw.read_response().await
    }

    /// Writes all of `bytes`.
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads more bytes; false at end of stream (or on a reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Reads an HTTP message head (up to and including the blank line); `None` if the stream
    /// ends first.
    pub async fn read_head(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return Some(String::from_utf8(head).expect("the head is UTF-8"));
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// Reads exactly `n` bytes; `None` if the stream ends first.
    pub async fn read_exact(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    /// Reads an HTTP response: head, then a body of `Content-Length` bytes.
    pub async fn read_response(&mut self) -> HttpResponse {
        let head = self.read_head().await.expect("an HTTP response head");
        let mut response = HttpResponse::parse_head(&head);
        let len = response
            .header("content-length")
            .map_or(0, |v| v.parse().expect("a numeric Content-Length"));
        let body = self.read_exact(len).await.expect("the whole body");
        response.body = String::from_utf8(body).expect("a UTF-8 body");
        response
    }

    /// Reads one frame; `None` at end of stream.
    pub async fn read_frame(&mut self) -> Option<RawFrame> {
        let head = self.read_exact(2).await?;
        let fin = head[0] & 0x80 != 0;
        let opcode = head[0] & 0x0f;
        let masked = head[1] & 0x80 != 0;
        let len = match head[1] & 0x7f {
            126 => u16::from_be_bytes(self.read_exact(2).await?.try_into().ok()?) as usize,
            127 => u64::from_be_bytes(self.read_exact(8).await?.try_into().ok()?) as usize,
            len => usize::from(len),
        };
        let mask = if masked {
            Some(self.read_exact(4).await?)
        } else {
            None
        };
        let mut payload = self.read_exact(len).await?;
        if let Some(mask) = mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        Some(RawFrame {
            fin,
            opcode,
            masked,
            payload,
        })
    }

    /// Reads until the peer closes the connection, returning what came.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status line, without the line end.
    pub status_line: String,
    /// The status code.
    pub status: u16,
    /// The header fields, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl HttpResponse {
    fn parse_head(head: &str) -> Self {
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_owned();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP status line: {status_line:?}"));
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (name, value) = l.split_once(':').expect("a header line");
                (name.trim().to_owned(), value.trim().to_owned())
            })
            .collect();
        Self {
            status_line,
            status,
            headers,
            body: String::new(),
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
