//! A plain HTTP/1.1 client (hyper's) for the tests of WebSocket endpoints mounted in hyper and
//! axum apps: several requests over one keep-alive connection.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::within;

/// A response, its body read whole.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: http::StatusCode,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body, as text.
    pub body: String,
}

/// One HTTP/1.1 connection.
#[derive(Debug)]
pub struct Http1 {
    sender: SendRequest<Empty<Bytes>>,
}

impl Http1 {
    /// Connects to `addr`; the connection task runs until the server closes it.
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = within(TcpStream::connect(addr)).await.expect("connect");
        let (sender, conn) = within(hyper::client::conn::http1::handshake(TokioIo::new(stream)))
            .await
            .expect("HTTP/1.1 client handshake");
        tokio::spawn(conn);
        Self { sender }
    }

    /// Sends `GET path` with `headers` (and `Host`) and reads the response.
    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = http::Request::get(path).header("host", "127.0.0.1");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Empty::new()).expect("a valid request");
        within(self.sender.ready()).await.expect("connection ready");
        let response = within(self.sender.send_request(req))
            .await
            .expect("a response");
        let (parts, body) = response.into_parts();
        let body = within(body.collect()).await.expect("the body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

/// The headers of a WebSocket upgrade request, but for `Sec-WebSocket-Key`.
pub const UPGRADE_NO_KEY: [(&str, &str); 3] = [
    ("upgrade", "websocket"),
    ("connection", "Upgrade"),
    ("sec-websocket-version", "13"),
];
