//! Per-service settings: upgrade control (origins, authentication, subprotocols, headers),
//! limits, backpressure, heartbeats and idle timeouts.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use wskit::{CloseCode, Config, Server};

use crate::request::UpgradeRequest;

/// What happens when a connection's outgoing queue is full (the client reads more slowly than
/// the server sends).
///
/// Fan-out operations ([`Hub::broadcast`](crate::Hub::broadcast), group and name pushes) never
/// wait on one connection, so that a slow consumer never slows the others: under `Wait` they
/// drop the message for the full connection and count it, as under `Drop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backpressure {
    /// [`Connection::send`](crate::Connection::send) waits until there is room.
    Wait,
    /// The message is dropped, counted in the metrics, and the sender gets
    /// [`SendError::Full`](crate::SendError::Full).
    Drop,
    /// The connection is closed with this code (1008 policy violation, or 1013 try again
    /// later) after the messages already queued.
    Close(CloseCode),
}

/// The decision of an authentication hook that lets the client in: extra `101` response
/// headers and typed state to attach to the connection (the user's identity, say).
///
/// # Example
/// ```
/// #[derive(Clone)]
/// struct User(String);
/// let admission = wskit_hub::Admission::new()
///     .header("X-User", "alice")
///     .insert(User("alice".into()));
/// ```
#[derive(Debug, Default)]
pub struct Admission {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) state: http::Extensions,
}

impl Admission {
    /// Lets the client in with nothing attached.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a header to the `101` response.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Attaches typed state to the connection (read it with
    /// [`Connection::get`](crate::Connection::get)).
    #[must_use]
    pub fn insert<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }
}

/// A refused upgrade: the HTTP status, a plain-text body and extra headers
/// (`WWW-Authenticate`, say). No upgrade takes place.
///
/// # Example
/// ```
/// let rejection = wskit_hub::Rejection::new(401, "missing token")
///     .header("WWW-Authenticate", "Bearer");
/// assert_eq!(rejection.status(), 401);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Rejection {
    /// A rejection with `status` and `body`.
    #[must_use]
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a header to the response.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body.
    #[must_use]
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// The future an authentication hook returns.
pub type AuthFuture = Pin<Box<dyn Future<Output = Result<Admission, Rejection>> + Send>>;

/// An authentication hook: sees the upgrade request, lets the client in (attaching identity)
/// or rejects it with a status.
pub(crate) type AuthHook = Arc<dyn Fn(Arc<UpgradeRequest>) -> AuthFuture + Send + Sync>;

/// The settings of one service. A by-value builder; every setting states its default.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use wskit_hub::{Backpressure, Rejection, ServiceOptions};
/// let options = ServiceOptions::default()
///     .origins(["https://example.com"])
///     .protocols(["chat.v1"])
///     .heartbeat(Duration::from_secs(20), Duration::from_secs(10))
///     .idle_timeout(Duration::from_secs(300))
///     .backpressure(Backpressure::Close(wskit::CloseCode::POLICY_VIOLATION))
///     .authenticate(|req| async move {
///         match req.header("authorization") {
///             Some("Bearer secret") => Ok(wskit_hub::Admission::new()),
///             _ => Err(Rejection::new(401, "bad token")),
///         }
///     });
/// ```
#[derive(Clone)]
pub struct ServiceOptions {
    pub(crate) origins: Option<Vec<String>>,
    pub(crate) auth: Option<AuthHook>,
    /// Subprotocols, extra `101` headers and connection limits, as the handshake uses them.
    pub(crate) server: Server,
    pub(crate) backpressure: Backpressure,
    pub(crate) max_queued: usize,
    pub(crate) heartbeat: Option<(Duration, Duration)>,
    pub(crate) idle_timeout: Option<Duration>,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            origins: None,
            auth: None,
            server: Server::default(),
            backpressure: Backpressure::Wait,
            max_queued: 1 << 20,
            heartbeat: None,
            idle_timeout: None,
        }
    }
}

impl ServiceOptions {
    /// The origins allowed to connect (`scheme://host[:port]`, compared without case); a
    /// request with another `Origin` header, or none, is refused with 403 before the upgrade.
    /// This defends against cross-site WebSocket hijacking. `"*"` allows any.
    /// Default: any origin, and requests without one.
    #[must_use]
    pub fn origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// An authentication hook run before the upgrade. Default: none (everyone is let in).
    #[must_use]
    pub fn authenticate<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Arc<UpgradeRequest>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Admission, Rejection>> + Send + 'static,
    {
        self.auth = Some(Arc::new(move |req| Box::pin(hook(req))));
        self
    }

    /// The subprotocols the service speaks, in order of preference; the first the client
    /// offers is selected. Default: none.
    #[doc(alias = "accept-protocols")]
    #[must_use]
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.server = self.server.protocols(protocols);
        self
    }

    /// Adds a header to every `101` response of the service. Default: none.
    #[doc(alias = "additional-headers")]
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.server = self.server.header(name, value);
        self
    }

    /// The connection limits and timeouts (max message size, closes with 1009 beyond it;
    /// handshake and close timeouts; permessage-deflate). Default: [`Config::default`].
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.server = self.server.config(config);
        self
    }

    /// What happens when a connection's outgoing queue is full. Default:
    /// [`Backpressure::Wait`].
    #[must_use]
    pub fn backpressure(mut self, policy: Backpressure) -> Self {
        self.backpressure = policy;
        self
    }

    /// The bound of each connection's outgoing queue, in payload bytes (one message is always
    /// taken into an empty queue, whatever its size). Default: 1 MiB.
    #[must_use]
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued = bytes.max(1);
        self
    }

    /// Pings every `interval` and hangs up a connection whose pong does not come within
    /// `timeout` (a half-open TCP connection is detected within `interval + timeout`).
    /// Default: off.
    #[doc(alias = "KeepAlive")]
    #[doc(alias = "setupPings")]
    #[must_use]
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.heartbeat = Some((interval, timeout));
        self
    }

    /// Closes a connection that received nothing for this long (after
    /// [`Service::on_idle`](crate::Service::on_idle) lets it). Default: off.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Whether `origin` may connect.
    pub(crate) fn origin_allowed(&self, origin: Option<&str>) -> bool {
        let Some(allowed) = &self.origins else {
            return true;
        };
        if allowed.iter().any(|a| a == "*") {
            return true;
        }
        origin.is_some_and(|origin| {
            let origin = origin.trim_end_matches('/');
            allowed
                .iter()
                .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
        })
    }
}

impl fmt::Debug for ServiceOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceOptions")
            .field("origins", &self.origins)
            .field("auth", &self.auth.is_some())
            .field("server", &self.server)
            .field("backpressure", &self.backpressure)
            .field("max_queued", &self.max_queued)
            .field("heartbeat", &self.heartbeat)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_allow_list() {
        let any = ServiceOptions::default();
        assert!(any.origin_allowed(None));
        let list =
            ServiceOptions::default().origins(["https://a.example", "http://b.example:8080/"]);
        assert!(list.origin_allowed(Some("https://A.example")));
        assert!(list.origin_allowed(Some("http://b.example:8080")));
        assert!(!list.origin_allowed(Some("https://evil.example")));
        assert!(!list.origin_allowed(Some("https://a.example.evil.com")));
        assert!(!list.origin_allowed(None));
        let star = ServiceOptions::default().origins(["*"]);
        assert!(star.origin_allowed(Some("https://x")));
    }
}
