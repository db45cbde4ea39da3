//! The generator's HTTP/1.1 client for servers' HTTP APIs (`wskit bench broadcast --publish
//! http`): one request at a time on a kept-alive connection, `Content-Length` bodies only.

use anyhow::{Context as _, bail, ensure};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// An HTTP/1.1 connection to a server's HTTP API, posting one request at a time and waiting for
/// each answer. It is kept alive unless the server answers `Connection: close` (as soketi
/// does), in which case the next request opens a new one.
#[derive(Debug)]
pub(super) struct HttpApi {
    addr: std::net::SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    host: String,
}

/// Largest response the publisher reads (head and body) before giving up.
const MAX_RESPONSE: usize = 64 * 1024;

impl HttpApi {
    /// Connects to the server at `addr` (`host` goes in the `Host` header).
    pub(super) async fn connect(addr: std::net::SocketAddr, host: &str) -> anyhow::Result<Self> {
        let mut api = Self {
            addr,
            stream: None,
            buf: Vec::with_capacity(1024),
            host: host.to_owned(),
        };
        api.stream().await?;
        Ok(api)
    }

    /// The open connection, opened anew if the server closed the last one.
    async fn stream(&mut self) -> anyhow::Result<&mut TcpStream> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr)
                .await
                .with_context(|| format!("connecting to the HTTP API at {}", self.addr))?;
            stream.set_nodelay(true)?;
            self.buf.clear();
            self.stream = Some(stream);
        }
        self.stream
            .as_mut()
            .context("the HTTP API's connection is open")
    }

    /// Posts the JSON `body` to `target` (path and query) and waits for the server's 200.
    pub(super) async fn post(&mut self, target: &str, body: &str) -> anyhow::Result<()> {
        let request = format!(
            "POST {target} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream().await?.write_all(request.as_bytes()).await?;
        let (status, response) = self.read_response().await?;
        ensure!(
            status == 200,
            "the HTTP API answered {status}: {}",
            String::from_utf8_lossy(&response)
        );
        Ok(())
    }

    /// Reads one response with a `Content-Length` body; returns its status and body.
    async fn read_response(&mut self) -> anyhow::Result<(u16, Vec<u8>)> {
        loop {
            if let Some(head) = parse_response_head(&self.buf)? {
                if self.buf.len() >= head.len + head.body_len {
                    let body = self.buf[head.len..head.len + head.body_len].to_vec();
                    self.buf.drain(..head.len + head.body_len);
                    if head.close {
                        self.stream = None;
                    }
                    return Ok((head.status, body));
                }
            }
            ensure!(
                self.buf.len() < MAX_RESPONSE,
                "the HTTP API's response exceeds {MAX_RESPONSE} bytes"
            );
            let stream = self.stream.as_mut().context("no connection to read from")?;
            let read = stream.read_buf(&mut self.buf).await?;
            ensure!(read != 0, "the HTTP API closed the connection");
        }
    }
}

/// What the generator reads of a response's head.
#[derive(Debug, PartialEq, Eq)]
struct ResponseHead {
    status: u16,
    /// Bytes of the head, the blank line included.
    len: usize,
    /// `Content-Length` (0 without one).
    body_len: usize,
    /// `Connection: close`: the server closes the connection after this response.
    close: bool,
}

/// The head of the response at the start of `buf`, or `None` while it is incomplete.
///
/// # Errors
/// A head that is not HTTP/1.1, or a chunked body (only `Content-Length` is read).
fn parse_response_head(buf: &[u8]) -> anyhow::Result<Option<ResponseHead>> {
    let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..at]).context("the HTTP API's head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .with_context(|| format!("not an HTTP/1.1 status line: {status_line:?}"))?;
    let mut body_len = None;
    let mut close = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            body_len = Some(
                value
                    .trim()
                    .parse::<usize>()
                    .context("a bad Content-Length")?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            bail!(
                "the HTTP API sent a {} body; the generator reads Content-Length only",
                value.trim()
            );
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.trim().eq_ignore_ascii_case("close");
        }
    }
    let body_len = body_len.unwrap_or(0);
    ensure!(
        body_len <= MAX_RESPONSE,
        "the HTTP API's response exceeds {MAX_RESPONSE} bytes"
    );
    Ok(Some(ResponseHead {
        status,
        len: at + 4,
        body_len,
        close,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_response_heads_with_a_content_length() {
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1";
        let head = ResponseHead {
            status: 200,
            len: 38,
            body_len: 2,
            close: false,
        };
        assert_eq!(parse_response_head(response).unwrap(), Some(head));
        let closing =
            b"HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let head = parse_response_head(closing).unwrap().unwrap();
        assert_eq!((head.status, head.body_len, head.close), (401, 0, true));
        assert_eq!(parse_response_head(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(parse_response_head(chunked).is_err());
        assert!(parse_response_head(b"SSH-2.0\r\n\r\n").is_err());
    }
}
