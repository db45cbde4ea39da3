//! Errors of the tokio layer.

use std::io;

use proto::ProtocolError;
use proto::handshake::HandshakeError;

/// An error of a WebSocket connection or handshake.
#[doc(alias = "WebSocketError")]
#[doc(alias = "PROTOCOL-ERROR")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed. Retry the connection if the cause is transient.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The peer broke the protocol; the connection sent the matching close code and closed.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The opening handshake failed; on the client, a rejection carries the HTTP status.
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// TLS failed (certificate, configuration or handshake).
    #[error("TLS error: {0}")]
    Tls(String),
    /// The URL is not a valid `ws://` or `wss://` URL.
    #[error("invalid URL: {0}")]
    Url(String),
    /// A connect, handshake or close deadline passed.
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// The peer closed the transport without a close frame (reported as code 1006).
    #[error("connection closed without a close frame")]
    AbnormalClose,
    /// The connection is closed; nothing more can be sent.
    #[error("the connection is closed")]
    Closed,
    /// A message of the wrong kind: a typed receive got the other kind, or a
    /// [`ReconnectingClient`](crate::ReconnectingClient) was handed a close message (use its
    /// `close` method instead): (what came, what was expected).
    #[error("expected a {1} message, got a {0} message")]
    Unexpected(&'static str, &'static str),
    /// The HTTP proxy answered `CONNECT` with a non-2xx status (407: credentials missing or
    /// wrong; 403: the target is not allowed). Check the proxy setting.
    #[error("the proxy refused the tunnel: {status} {reason}")]
    ProxyRefused {
        /// The status code the proxy answered with.
        status: u16,
        /// The reason phrase that came with it.
        reason: String,
    },
    /// The HTTP proxy did not answer `CONNECT` with an HTTP response (it closed the connection
    /// or sent something else). Check that the proxy URL names an HTTP proxy.
    #[error("proxy error: {0}")]
    Proxy(String),
    /// The send queue of a [`ReconnectingClient`](crate::ReconnectingClient) is full while it
    /// is not connected; the message was not queued. Retry once it reconnects
    /// ([`Event::Connected`](crate::Event::Connected)), drop the message, or raise the limits
    /// ([`ReconnectBuilder::max_queued_messages`](crate::ReconnectBuilder::max_queued_messages),
    /// [`ReconnectBuilder::max_queued_bytes`](crate::ReconnectBuilder::max_queued_bytes)).
    #[error("the send queue is full while disconnected; the message was not queued")]
    QueueFull,
    /// A [`ReconnectingClient`](crate::ReconnectingClient) stopped reconnecting: its
    /// [`Backoff`](crate::Backoff) limit was reached or its URL is invalid. Messages still
    /// queued were dropped. Build a new client to try again.
    #[error("gave up reconnecting")]
    GaveUp,
    /// The caller broke a rule of the API (a close code that may not be sent, a control
    /// payload over 125 bytes, a send after close).
    #[error("invalid use: {0}")]
    Usage(proto::Error),
}

impl Error {
    /// The HTTP status of a handshake the server rejected, if that is what happened.
    #[must_use]
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Handshake(HandshakeError::UnexpectedStatus { status, .. }) => Some(*status),
            _ => None,
        }
    }
}

impl From<proto::Error> for Error {
    fn from(err: proto::Error) -> Self {
        match err {
            proto::Error::Protocol(e) => Self::Protocol(e),
            proto::Error::Closed => Self::Closed,
            other => Self::Usage(other),
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::Io(e) => e,
            Error::Timeout(_) => Self::new(io::ErrorKind::TimedOut, err),
            Error::AbnormalClose => Self::new(io::ErrorKind::UnexpectedEof, err),
            other => Self::other(other),
        }
    }
}
