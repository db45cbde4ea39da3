//! The server side of the opening handshake (RFC 6455 §4.2).

use std::fmt::Write as _;

use base64::Engine;

use super::{HandshakeError, Header, Headers, MAX_HEADERS, accept_key};
use crate::deflate::{DeflateConfig, DeflateParams};

/// An HTTP request head, as parsed from the first bytes of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method (`GET` for a WebSocket upgrade).
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// The minor HTTP version (1 for HTTP/1.1).
    pub version: u8,
    /// The header fields.
    pub headers: Headers,
}

impl Request {
    /// Parses a request head from the start of `buf`.
    ///
    /// Returns `Ok(None)` while the head is incomplete, else the request and the number of
    /// bytes it took; bytes after it (the first frames, if the client did not wait) belong to
    /// the WebSocket connection.
    ///
    /// # Errors
    /// [`HandshakeError::Malformed`] or [`HandshakeError::HeadersTooLarge`].
    ///
    /// # Example
    /// ```
    /// use wskit_proto::handshake::server::Request;
    /// let (req, len) = Request::parse(b"GET /chat HTTP/1.1\r\nHost: a\r\n\r\nrest").unwrap().unwrap();
    /// assert_eq!(req.target, "/chat");
    /// assert_eq!(len, 31);
    /// ```
    pub fn parse(buf: &[u8]) -> Result<Option<(Self, usize)>, HandshakeError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Partial) => Ok(None),
            Ok(httparse::Status::Complete(len)) => Ok(Some((
                Self {
                    method: req.method.unwrap_or_default().to_owned(),
                    target: req.path.unwrap_or_default().to_owned(),
                    version: req.version.unwrap_or_default(),
                    headers: Headers::from_httparse(req.headers),
                },
                len,
            ))),
            Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::HeadersTooLarge),
            Err(e) => Err(HandshakeError::Malformed(e.to_string())),
        }
    }

    /// The path part of the target (before `?`). An absolute-form target
    /// (`GET ws://host/chat HTTP/1.1`, which a server must accept: RFC 9112 §3.2.2) gives its
    /// path: `/chat`, or `/` when it has none.
    ///
    /// # Example
    /// ```
    /// use wskit_proto::handshake::server::Request;
    /// let (req, _) = Request::parse(b"GET ws://example.com/chat?room=1 HTTP/1.1\r\n\r\n")
    ///     .unwrap()
    ///     .unwrap();
    /// assert_eq!((req.path(), req.query()), ("/chat", Some("room=1")));
    /// assert_eq!(req.origin_form(), "/chat?room=1");
    /// ```
    #[must_use]
    pub fn path(&self) -> &str {
        let path = self.relative().split('?').next().unwrap_or_default();
        if path.is_empty() && self.relative().len() != self.target.len() {
            "/"
        } else {
            path
        }
    }

    /// The query part of the target (after `?`), if any.
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        self.relative().split_once('?').map(|(_, q)| q)
    }

    /// The target in origin form (path and query): an absolute-form target without its
    /// scheme and authority; any other target as it is.
    #[must_use]
    pub fn origin_form(&self) -> std::borrow::Cow<'_, str> {
        let relative = self.relative();
        if relative.len() != self.target.len() && !relative.starts_with('/') {
            format!("/{relative}").into()
        } else {
            relative.into()
        }
    }

    /// The target without the scheme and authority of an absolute form (`scheme://authority`,
    /// RFC 3986 §3), and without a fragment.
    fn relative(&self) -> &str {
        let target = self.target.split('#').next().unwrap_or_default();
        let Some((scheme, rest)) = target.split_once("://") else {
            return target;
        };
        let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !is_scheme {
            return target;
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        &rest[end..]
    }

    /// Whether this request asks for a WebSocket upgrade at all (`Upgrade: websocket`), as
    /// opposed to a plain HTTP request.
    #[must_use]
    pub fn is_upgrade(&self) -> bool {
        self.headers.has_token("upgrade", "websocket")
    }
}

/// What the server accepts: subprotocols, extensions and extra response headers.
///
/// # Example
/// ```
/// use wskit_proto::handshake::server::{AcceptConfig, Request};
/// let raw = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
///             Sec-WebSocket-Protocol: chat, superchat\r\n\r\n";
/// let (req, _) = Request::parse(raw).unwrap().unwrap();
/// let accepted = AcceptConfig::default().protocols(["superchat"]).accept(&req).unwrap();
/// assert_eq!(accepted.protocol.as_deref(), Some("superchat"));
/// assert!(accepted.response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct AcceptConfig {
    protocols: Vec<String>,
    extra_headers: Vec<(String, String)>,
    deflate: Option<DeflateConfig>,
}

impl AcceptConfig {
    /// The subprotocols we speak. The first one the client offers (in the client's order of
    /// preference) is chosen; with none in common, no subprotocol is selected. Default: none.
    #[must_use]
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a header to the `101` response.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_headers.push((name.into(), value.into()));
        self
    }

    /// permessage-deflate: `None` declines every offer. Default: `None`.
    #[must_use]
    pub fn deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }

    /// Validates `req` and builds the `101 Switching Protocols` response.
    ///
    /// # Errors
    /// A [`HandshakeError`] whose [`status`](HandshakeError::status) and message make the
    /// rejection response ([`rejection_response`]).
    pub fn accept(&self, req: &Request) -> Result<Accepted, HandshakeError> {
        if req.method != "GET" {
            return Err(HandshakeError::MethodNotGet);
        }
        if req.version < 1 {
            return Err(HandshakeError::HttpVersion);
        }
        if req.headers.get("host").is_none() {
            return Err(HandshakeError::MissingHost);
        }
        if !req.is_upgrade() {
            return Err(HandshakeError::MissingUpgrade);
        }
        if !req.headers.has_token("connection", "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        if req.headers.get("sec-websocket-version").map(str::trim) != Some("13") {
            return Err(HandshakeError::UnsupportedVersion);
        }
        let key = req
            .headers
            .get("sec-websocket-key")
            .map(str::trim)
            .filter(|key| {
                base64::engine::general_purpose::STANDARD
                    .decode(key)
                    .is_ok_and(|k| k.len() == 16)
            })
            .ok_or(HandshakeError::InvalidKey)?;

        let protocol = req
            .headers
            .list("sec-websocket-protocol")
            .find(|offered| self.protocols.iter().any(|p| p == offered))
            .map(str::to_owned);
        let deflate = self
            .deflate
            .as_ref()
            .and_then(|d| d.accept_offers(req.headers.all("sec-websocket-extensions")));

        let mut response = String::with_capacity(160);
        response.push_str(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
        );
        let _ = write!(
            response,
            "Sec-WebSocket-Accept: {}\r\n",
            accept_key(key.as_bytes())
        );
        if let Some(protocol) = &protocol {
            let _ = write!(response, "Sec-WebSocket-Protocol: {protocol}\r\n");
        }
        if let Some((value, _)) = &deflate {
            let _ = write!(response, "Sec-WebSocket-Extensions: {value}\r\n");
        }
        for (name, value) in &self.extra_headers {
            let _ = write!(response, "{name}: {value}\r\n");
        }
        response.push_str("\r\n");
        Ok(Accepted {
            response: response.into_bytes(),
            protocol,
            deflate: deflate.map(|(_, params)| params),
        })
    }
}

/// A validated upgrade: the response to send, and what was negotiated.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The complete `101` response head.
    pub response: Vec<u8>,
    /// The selected subprotocol.
    pub protocol: Option<String>,
    /// The agreed permessage-deflate parameters.
    pub deflate: Option<DeflateParams>,
}

impl Accepted {
    /// The header fields of [`response`](Self::response), in order, without the status line.
    ///
    /// For an HTTP server library that writes the `101` itself (hyper, say): it sends these
    /// fields (`Upgrade`, `Connection`, `Sec-WebSocket-Accept`, the negotiated subprotocol and
    /// extension, the extra headers) with its own status line.
    ///
    /// # Example
    /// ```
    /// use wskit_proto::handshake::server::{AcceptConfig, Request};
    /// let raw = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    /// let (req, _) = Request::parse(raw).unwrap().unwrap();
    /// let headers = AcceptConfig::default().accept(&req).unwrap().headers();
    /// assert_eq!(headers.get("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    /// assert_eq!(headers.get("upgrade"), Some("websocket"));
    /// ```
    #[must_use]
    pub fn headers(&self) -> Headers {
        // `response` is the head `AcceptConfig::accept` wrote: a status line, then one
        // `Name: value` line per field, then an empty line.
        let head = String::from_utf8_lossy(&self.response);
        Headers(
            head.split("\r\n")
                .skip(1)
                .take_while(|line| !line.is_empty())
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| Header {
                    name: name.trim().to_owned(),
                    value: value.trim().to_owned(),
                })
                .collect(),
        )
    }
}

/// An HTTP error response with a short plain-text body, for a rejected upgrade.
///
/// A `426` carries `Sec-WebSocket-Version: 13` (RFC 6455 §4.4).
///
/// # Example
/// ```
/// use wskit_proto::handshake::server::rejection_response;
/// let response = rejection_response(426, "unsupported version", &[]);
/// let text = String::from_utf8(response).unwrap();
/// assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
/// assert!(text.contains("Sec-WebSocket-Version: 13\r\n"));
/// ```
#[must_use]
pub fn rejection_response(status: u16, body: &str, headers: &[(String, String)]) -> Vec<u8> {
    let mut response = String::with_capacity(128 + body.len());
    let _ = write!(response, "HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    if status == 426 {
        response.push_str("Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n");
    }
    for (name, value) in headers {
        let _ = write!(response, "{name}: {value}\r\n");
    }
    let _ = write!(
        response,
        "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    response.into_bytes()
}

/// The standard reason phrase of the statuses a WebSocket server answers with.
#[must_use]
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn parse(raw: &str) -> Request {
        Request::parse(raw.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn accepts_case_insensitive_tokens() {
        let req = parse(VALID);
        assert_eq!(req.path(), "/chat");
        assert_eq!(req.query(), Some("x=1"));
        let accepted = AcceptConfig::default().accept(&req).unwrap();
        let text = String::from_utf8(accepted.response).unwrap();
        assert!(
            text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{text}"
        );
    }

    #[test]
    fn an_absolute_form_target_gives_its_path_and_query() {
        let cases = [
            ("ws://websocket.example.com/", "/", None, "/"),
            (
                "ws://h/test/websocket?a=1",
                "/test/websocket",
                Some("a=1"),
                "/test/websocket?a=1",
            ),
            ("wss://h:8443/x", "/x", None, "/x"),
            ("http://h", "/", None, "/"),
            ("ws://h?a=1", "/", Some("a=1"), "/?a=1"),
            ("/plain?a=1", "/plain", Some("a=1"), "/plain?a=1"),
            (
                "/r?to=http://h/x",
                "/r",
                Some("to=http://h/x"),
                "/r?to=http://h/x",
            ),
        ];
        for (target, path, query, origin_form) in cases {
            let req = parse(&VALID.replace("/chat?x=1", target));
            assert_eq!(req.target, target);
            assert_eq!(
                (req.path(), req.query(), &*req.origin_form()),
                (path, query, origin_form),
                "{target}"
            );
            assert!(AcceptConfig::default().accept(&req).is_ok(), "{target}");
        }
    }

    #[test]
    fn rejects_with_the_right_status() {
        let cases = [
            (VALID.replace("Version: 13", "Version: 8"), 426),
            (VALID.replace("dGhlIHNhbXBsZSBub25jZQ==", "short"), 400),
            (VALID.replace("Upgrade: WebSocket\r\n", ""), 400),
            (VALID.replace("keep-alive, Upgrade", "keep-alive"), 400),
            (VALID.replace("GET", "POST"), 405),
            (VALID.replace("Host: server.example.com\r\n", ""), 400),
        ];
        for (raw, status) in cases {
            let err = AcceptConfig::default().accept(&parse(&raw)).unwrap_err();
            assert_eq!(err.status(), status, "{raw}");
        }
    }

    #[test]
    fn partial_request_consumes_nothing() {
        assert_eq!(Request::parse(&VALID.as_bytes()[..40]).unwrap(), None);
        assert!(Request::parse(b"\x16\x03\x01 not http\r\n\r\n").is_err());
    }

    #[test]
    fn negotiates_deflate_and_extra_headers() {
        let raw = VALID.replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
        );
        let accepted = AcceptConfig::default()
            .deflate(Some(DeflateConfig::default()))
            .header("X-Served-By", "wskit")
            .accept(&parse(&raw))
            .unwrap();
        let text = String::from_utf8(accepted.response).unwrap();
        assert!(
            text.contains("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
            "{text}"
        );
        assert!(text.contains("X-Served-By: wskit\r\n"));
        assert!(accepted.deflate.is_some());
    }

    #[test]
    fn accepted_headers_read_back_the_response() {
        let raw = VALID.replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        );
        let accepted = AcceptConfig::default()
            .protocols(["chat"])
            .deflate(Some(DeflateConfig::default()))
            .header("X-Served-By", "wskit")
            .accept(&parse(&raw))
            .unwrap();
        let names: Vec<_> = accepted.headers().0.into_iter().map(|h| h.name).collect();
        assert_eq!(
            names,
            [
                "Upgrade",
                "Connection",
                "Sec-WebSocket-Accept",
                "Sec-WebSocket-Protocol",
                "Sec-WebSocket-Extensions",
                "X-Served-By"
            ]
        );
        let headers = accepted.headers();
        assert_eq!(headers.get("sec-websocket-protocol"), Some("chat"));
        assert_eq!(
            headers.get("sec-websocket-extensions"),
            Some("permessage-deflate")
        );
        assert_eq!(headers.get("x-served-by"), Some("wskit"));
    }
}
