//! The client side of the opening handshake (RFC 6455 §4.1).

use std::fmt::Write as _;

use base64::Engine;

use super::{HandshakeError, Headers, MAX_HEADERS, accept_key};
use crate::deflate::{DeflateConfig, DeflateParams};

/// The client's opening request, and what it needs to check the response.
///
/// # Example
/// ```
/// use wskit_proto::handshake::client::ClientHandshake;
/// let hs = ClientHandshake::new("example.com", "/chat", [7; 16]).protocols(["chat"]);
/// let request = String::from_utf8(hs.request()).unwrap();
/// assert!(request.starts_with("GET /chat HTTP/1.1\r\nHost: example.com\r\n"));
/// assert!(request.contains("Sec-WebSocket-Protocol: chat\r\n"));
/// ```
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    host: String,
    target: String,
    key: String,
    protocols: Vec<String>,
    headers: Vec<(String, String)>,
    deflate: Option<DeflateConfig>,
}

impl ClientHandshake {
    /// A handshake for `target` (path and query) on `host` (the `Host` header value, with the
    /// port when it is not the default). `nonce` must be random.
    #[must_use]
    pub fn new(host: impl Into<String>, target: impl Into<String>, nonce: [u8; 16]) -> Self {
        Self {
            host: host.into(),
            target: target.into(),
            key: base64::engine::general_purpose::STANDARD.encode(nonce),
            protocols: Vec::new(),
            headers: Vec::new(),
            deflate: None,
        }
    }

    /// Subprotocols to offer, most preferred first.
    #[must_use]
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a header to the request (`Authorization`, `Origin`, ...).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Offers permessage-deflate with these settings.
    #[must_use]
    pub fn deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }

    /// The request bytes.
    #[must_use]
    pub fn request(&self) -> Vec<u8> {
        let mut req = String::with_capacity(256);
        let _ = write!(
            req,
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n",
            self.target, self.host, self.key
        );
        if !self.protocols.is_empty() {
            let _ = write!(
                req,
                "Sec-WebSocket-Protocol: {}\r\n",
                self.protocols.join(", ")
            );
        }
        if let Some(deflate) = &self.deflate {
            let _ = write!(req, "Sec-WebSocket-Extensions: {}\r\n", deflate.offer());
        }
        for (name, value) in &self.headers {
            let _ = write!(req, "{name}: {value}\r\n");
        }
        req.push_str("\r\n");
        req.into_bytes()
    }

    /// Parses and validates the response head at the start of `buf`.
    ///
    /// Returns `Ok(None)` while the head is incomplete, else what was negotiated and the
    /// number of bytes the head took (bytes after it are the first frames).
    ///
    /// # Errors
    /// A [`HandshakeError`] naming what is wrong with the response.
    pub fn parse_response(
        &self,
        buf: &[u8],
    ) -> Result<Option<(Negotiated, usize)>, HandshakeError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let len = match resp.parse(buf) {
            Ok(httparse::Status::Partial) => return Ok(None),
            Ok(httparse::Status::Complete(len)) => len,
            Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::HeadersTooLarge),
            Err(e) => return Err(HandshakeError::Malformed(e.to_string())),
        };
        let status = resp.code.unwrap_or_default();
        let headers = Headers::from_httparse(resp.headers);
        if status != 101 {
            return Err(HandshakeError::UnexpectedStatus {
                status,
                reason: resp.reason.unwrap_or_default().to_owned(),
            });
        }
        if !headers.has_token("upgrade", "websocket") {
            return Err(HandshakeError::MissingUpgrade);
        }
        if !headers.has_token("connection", "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        if headers.get("sec-websocket-accept").map(str::trim)
            != Some(accept_key(self.key.as_bytes()).as_str())
        {
            return Err(HandshakeError::AcceptMismatch);
        }
        let protocol = match headers.get("sec-websocket-protocol").map(str::trim) {
            None => None,
            Some(p) if self.protocols.iter().any(|o| o == p) => Some(p.to_owned()),
            Some(p) => return Err(HandshakeError::UnexpectedProtocol(p.to_owned())),
        };
        let extensions: Vec<&str> = headers.list("sec-websocket-extensions").collect();
        let deflate = match (extensions.is_empty(), &self.deflate) {
            (true, _) => None,
            (false, None) => {
                return Err(HandshakeError::InvalidExtension(
                    "an extension we did not offer".into(),
                ));
            }
            (false, Some(config)) => Some(
                config
                    .accept_response(&extensions.join(","))
                    .map_err(HandshakeError::InvalidExtension)?,
            ),
        };
        Ok(Some((
            Negotiated {
                protocol,
                deflate,
                headers,
            },
            len,
        )))
    }
}

/// What the server agreed to.
#[derive(Debug, Clone)]
pub struct Negotiated {
    /// The subprotocol the server selected.
    pub protocol: Option<String>,
    /// The agreed permessage-deflate parameters.
    pub deflate: Option<DeflateParams>,
    /// The response's headers.
    pub headers: Headers,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::server::{AcceptConfig, Request};

    #[test]
    fn client_and_server_agree() {
        let hs = ClientHandshake::new("h:1", "/p?q", [1; 16])
            .protocols(["a", "b"])
            .deflate(Some(DeflateConfig::default()));
        let req_bytes = hs.request();
        let (req, _) = Request::parse(&req_bytes).unwrap().unwrap();
        let accepted = AcceptConfig::default()
            .protocols(["b"])
            .deflate(Some(DeflateConfig::default()))
            .accept(&req)
            .unwrap();
        let mut wire = accepted.response.clone();
        wire.extend_from_slice(b"\x81\x00");
        let (negotiated, len) = hs.parse_response(&wire).unwrap().unwrap();
        assert_eq!(len, accepted.response.len());
        assert_eq!(negotiated.protocol.as_deref(), Some("b"));
        assert_eq!(negotiated.deflate, accepted.deflate);
    }

    #[test]
    fn rejects_bad_responses() {
        let hs = ClientHandshake::new("h", "/", [1; 16]).protocols(["a"]);
        let good = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
            accept_key(
                base64::engine::general_purpose::STANDARD
                    .encode([1u8; 16])
                    .as_bytes()
            )
        );
        let ok = format!("{good}\r\n");
        assert!(hs.parse_response(ok.as_bytes()).unwrap().is_some());
        let cases = [
            "HTTP/1.1 403 Forbidden\r\n\r\n".to_owned(),
            ok.replace("Sec-WebSocket-Accept: ", "Sec-WebSocket-Accept: x"),
            format!("{good}Sec-WebSocket-Protocol: zzz\r\n\r\n"),
            format!("{good}Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"),
        ];
        for raw in cases {
            assert!(hs.parse_response(raw.as_bytes()).is_err(), "{raw}");
        }
    }
}
