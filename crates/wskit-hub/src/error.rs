//! Errors of the hub.

/// Why a message could not be queued for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is closing or closed; nothing more can be sent.
    #[error("the connection is closed")]
    Closed,
    /// The outgoing queue is full and the backpressure policy dropped the message.
    #[error("the outgoing queue is full: the message was dropped")]
    Full,
    /// No connection has that id or name.
    #[error("no such connection")]
    NotFound,
    /// The connection is not on this node, and the broker to the other nodes cannot be
    /// reached (see [`Hub::cluster_send`](crate::Hub::cluster_send)); retry later.
    #[error("the connection is not on this node and the broker is unavailable")]
    Unavailable,
}

/// An error of the hub's server side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listener or a connection's transport failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A WebSocket error (handshake, protocol).
    #[error(transparent)]
    WebSocket(#[from] wskit::Error),
    /// A service is already registered on that path.
    #[error("a service is already registered on {0}")]
    PathTaken(String),
    /// The path does not start with `/`.
    #[error("invalid path {0:?}: it must start with '/'")]
    InvalidPath(String),
}
