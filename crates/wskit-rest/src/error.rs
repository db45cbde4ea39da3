//! The error of this crate.

use std::sync::Arc;
use std::time::Duration;

/// The boxed error at tower boundaries (a service's or a body's error).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request over a connection, or a connection's handshake, failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The WebSocket failed (I/O, protocol, handshake). Reconnect if the cause is transient.
    #[error("WebSocket error: {0}")]
    WebSocket(Arc<wskit::Error>),
    /// The connection closed (or dropped) before the exchange finished: the request may or may
    /// not have been handled by the peer. Retry only idempotent requests.
    #[error("the connection closed before the exchange finished: {0}")]
    ConnectionClosed(Arc<str>),
    /// No response head came within the request timeout; the request was cancelled.
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// The peer cancelled the stream (our protocol's RESET), with its reason.
    #[error("the peer reset the stream (code {code}): {reason}")]
    Reset {
        /// The reset code (see `docs/rest-protocol.md`).
        code: u32,
        /// The peer's explanation.
        reason: Arc<str>,
    },
    /// The peer sent something that breaks the protocol (a malformed HTTP head, frame or
    /// handshake message). The message names the problem.
    #[error("malformed message from the peer: {0}")]
    Malformed(Arc<str>),
    /// The request cannot be sent as it is (e.g. a non-UTF-8 body over SwaggerSocket v1,
    /// whose messages are text); the message says why.
    #[error("invalid request: {0}")]
    InvalidRequest(Arc<str>),
    /// A body is larger than the limit configured for it.
    #[error("the body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Reading the body handed to us failed with this error.
    #[error("reading the body failed: {0}")]
    Body(Arc<str>),
}

impl Error {
    pub(crate) fn closed(reason: impl Into<Arc<str>>) -> Self {
        Self::ConnectionClosed(reason.into())
    }

    pub(crate) fn malformed(reason: impl Into<Arc<str>>) -> Self {
        Self::Malformed(reason.into())
    }

    pub(crate) fn invalid(reason: impl Into<Arc<str>>) -> Self {
        Self::InvalidRequest(reason.into())
    }
}

impl From<wskit::Error> for Error {
    fn from(error: wskit::Error) -> Self {
        Self::WebSocket(Arc::new(error))
    }
}
