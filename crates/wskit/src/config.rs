//! Settings of a connection: protocol limits and I/O timeouts.

use std::sync::Arc;
use std::time::Duration;

use proto::DeflateConfig;

/// Limits and timeouts shared by clients and servers. A by-value builder.
///
/// Cloning is cheap and allocates nothing: the settings are shared, so the connections of a
/// server hold pointers to its settings rather than copies of them.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use wskit::Config;
/// let config = Config::default()
///     .max_message_size(1 << 20)
///     .close_timeout(Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub(crate) proto: proto::Config,
    pub(crate) io: Arc<IoSettings>,
}

/// The I/O layer's settings of a [`Config`], shared by every connection made with it.
#[derive(Debug, Clone)]
pub(crate) struct IoSettings {
    pub(crate) close_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_handshake_size: usize,
    pub(crate) write_buffer_size: usize,
    pub(crate) read_buffer_size: usize,
}

impl Default for IoSettings {
    fn default() -> Self {
        Self {
            close_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            max_handshake_size: 16 * 1024,
            write_buffer_size: 128 * 1024,
            read_buffer_size: 8 * 1024,
        }
    }
}

impl Config {
    /// The largest message accepted (counted decompressed); larger closes with 1009.
    /// Default: 64 MiB.
    #[doc(alias = "max-length")]
    #[doc(alias = "max_length")]
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.proto = self.proto.max_message_size(bytes);
        self
    }

    /// The largest frame accepted; larger closes with 1009. Default: 16 MiB.
    #[must_use]
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.proto = self.proto.max_frame_size(bytes);
        self
    }

    /// permessage-deflate settings: what a server accepts, what a client offers; `None` turns
    /// compression off. Default: on.
    #[must_use]
    pub fn deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.proto = self.proto.deflate(deflate);
        self
    }

    /// How long to wait for the peer's close frame (or, on a client, for the server to close
    /// the TCP connection) after ours, before dropping the connection. Default: 5 s.
    #[must_use]
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.io).close_timeout = timeout;
        self
    }

    /// How long the opening handshake may take. Default: 10 s.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.io).handshake_timeout = timeout;
        self
    }

    /// The largest handshake request or response head, in bytes; a larger request is answered
    /// with 431. Default: 16 KiB.
    #[must_use]
    pub fn max_handshake_size(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.io).max_handshake_size = bytes;
        self
    }

    /// How many bytes may wait in the outgoing buffer before `send` waits for the transport
    /// (backpressure). Default: 128 KiB.
    #[must_use]
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.io).write_buffer_size = bytes;
        self
    }

    /// How many bytes each read asks the transport for, at the least. Default: 8 KiB.
    #[must_use]
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.io).read_buffer_size = bytes.max(64);
        self
    }

    /// The protocol-level settings.
    #[must_use]
    pub fn protocol(&self) -> &proto::Config {
        &self.proto
    }
}
