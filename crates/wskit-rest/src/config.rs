//! Limits and timeouts of a REST connection.

use std::time::Duration;

/// Limits and timeouts of a [`RestConnection`](crate::RestConnection), a by-value builder.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use wskit_rest::Config;
///
/// let config = Config::default()
///     .request_timeout(Duration::from_secs(5))
///     .max_body_size(1 << 20);
/// assert_eq!(config.timeout(), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) request_timeout: Duration,
    pub(crate) max_head_size: usize,
    pub(crate) max_body_size: usize,
    pub(crate) initial_window: u32,
    pub(crate) max_frame_payload: usize,
    pub(crate) max_streams: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            max_head_size: 16 << 10,
            max_body_size: 16 << 20,
            initial_window: 256 << 10,
            max_frame_payload: 16 << 10,
            max_streams: 1024,
        }
    }
}

impl Config {
    /// How long a request made through the connection waits for the response head, including
    /// time spent waiting for a reconnection. The request is cancelled when it passes. A
    /// [`RequestTimeout`] extension on a request overrides it. Default: 30 s.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The largest request or response head (request or status line and headers) accepted from
    /// the peer. A larger request head is answered with `431 Request Header Fields Too Large`.
    /// Default: 16 KiB.
    #[must_use]
    pub fn max_head_size(mut self, bytes: usize) -> Self {
        self.max_head_size = bytes;
        self
    }

    /// The largest body accepted from the peer, and the largest body buffered to send over
    /// SwaggerSocket v1 (which has no streaming). A larger request body is answered with
    /// `413 Content Too Large`; a larger response body fails the request with
    /// [`Error::BodyTooLarge`](crate::Error::BodyTooLarge). Default: 16 MiB.
    #[must_use]
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// Our protocol: how many body bytes of one stream the peer may send before we grant more
    /// (the flow-control window, per stream and direction). Default: 256 KiB.
    #[must_use]
    pub fn initial_window(mut self, bytes: u32) -> Self {
        self.initial_window = bytes.max(1);
        self
    }

    /// Our protocol: the largest body payload we put in one DATA frame. Default: 16 KiB.
    #[must_use]
    pub fn max_frame_payload(mut self, bytes: usize) -> Self {
        self.max_frame_payload = bytes.max(1);
        self
    }

    /// Our protocol: how many streams the peer may have open at once; more are refused
    /// (RESET `REFUSED`). Default: 1024.
    #[must_use]
    pub fn max_streams(mut self, streams: usize) -> Self {
        self.max_streams = streams;
        self
    }

    /// The request timeout set with [`request_timeout`](Self::request_timeout).
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.request_timeout
    }
}

/// A request extension that overrides [`Config::request_timeout`] for one request.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use wskit_rest::{Body, RequestTimeout};
///
/// let request = http::Request::get("/slow-report")
///     .extension(RequestTimeout(Duration::from_secs(120)))
///     .body(Body::empty())
///     .unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout(pub Duration);
