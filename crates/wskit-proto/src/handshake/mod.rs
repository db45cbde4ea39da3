//! The opening handshake (RFC 6455 §4), both roles.
//!
//! [`server`] parses and validates an upgrade request and builds the `101` response or a
//! rejection with the right status; [`client`] builds the request and validates the
//! response. Neither does I/O: they take and return bytes.

pub mod client;
pub mod server;

use base64::Engine;
use sha1::{Digest, Sha1};

/// The GUID appended to the key before hashing (§1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The most header lines a handshake may carry.
pub const MAX_HEADERS: usize = 64;

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`.
///
/// # Example
/// ```
/// // The example from RFC 6455 §1.3.
/// let accept = wskit_proto::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
#[must_use]
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// A header field of a handshake message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name, as received.
    pub name: String,
    /// The value; bytes that are not UTF-8 are replaced.
    pub value: String,
}

/// Header fields with case-insensitive look-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// The first value of `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Whether any value of `name`, as a comma-separated list, holds `token`
    /// (case-insensitive).
    #[must_use]
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.0
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .flat_map(|h| h.value.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The comma-separated list items of every value of `name`, trimmed.
    pub fn list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.all(name)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    fn from_httparse(headers: &[httparse::Header<'_>]) -> Self {
        Self(
            headers
                .iter()
                .map(|h| Header {
                    name: h.name.to_owned(),
                    value: String::from_utf8_lossy(h.value).into_owned(),
                })
                .collect(),
        )
    }
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The bytes are not a valid HTTP/1.1 message head.
    #[error("malformed HTTP message: {0}")]
    Malformed(String),
    /// The message head has more header lines than [`MAX_HEADERS`] or more bytes than the
    /// configured limit.
    #[error("request header fields too large")]
    HeadersTooLarge,
    /// The request method is not GET (§4.1).
    #[error("method must be GET")]
    MethodNotGet,
    /// The request is not HTTP/1.1 or later.
    #[error("HTTP/1.1 or later is required")]
    HttpVersion,
    /// The `Host` header is missing.
    #[error("missing Host header")]
    MissingHost,
    /// `Upgrade: websocket` is missing.
    #[error("missing or invalid Upgrade header (expected websocket)")]
    MissingUpgrade,
    /// `Connection: Upgrade` is missing.
    #[error("missing or invalid Connection header (expected Upgrade)")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Version` is not 13.
    #[error("unsupported Sec-WebSocket-Version (expected 13)")]
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is missing or not 16 bytes in base64.
    #[error("missing or invalid Sec-WebSocket-Key")]
    InvalidKey,
    /// The server answered with a status other than 101.
    #[error("server answered {status} {reason}")]
    UnexpectedStatus {
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// `Sec-WebSocket-Accept` does not match our key.
    #[error("Sec-WebSocket-Accept does not match the key")]
    AcceptMismatch,
    /// The server chose a subprotocol we did not offer.
    #[error("server chose subprotocol {0:?}, which was not offered")]
    UnexpectedProtocol(String),
    /// The server's `Sec-WebSocket-Extensions` is not a valid answer to our offer.
    #[error("invalid extension in response: {0}")]
    InvalidExtension(String),
}

impl HandshakeError {
    /// The HTTP status a server answers this error with.
    ///
    /// # Example
    /// ```
    /// use wskit_proto::handshake::HandshakeError;
    /// assert_eq!(HandshakeError::UnsupportedVersion.status(), 426);
    /// ```
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::HeadersTooLarge => 431,
            Self::MethodNotGet => 405,
            Self::UnsupportedVersion => 426,
            _ => 400,
        }
    }
}
