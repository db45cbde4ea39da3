//! The axum 0.8 extractor of WebSocket upgrades (feature `axum`).
//!
//! [`WebSocketUpgrade`] is axum's own `extract::ws::WebSocketUpgrade`, giving a
//! [`wskit::WebSocket`](crate::WebSocket): the request is validated as by
//! [`accept`](crate::accept), the handler picks the [`Server`] settings, and
//! [`on_upgrade`](WebSocketUpgrade::on_upgrade) answers `101` and runs the callback on the
//! connection. Serve the app with `axum::serve`, which turns upgrades on.
//!
//! # Example
//! ```no_run
//! use axum::{Router, response::Response, routing::get};
//! use wskit::axum::WebSocketUpgrade;
//!
//! async fn echo(ws: WebSocketUpgrade) -> Response {
//!     ws.on_upgrade(|mut ws| async move {
//!         while let Some(Ok(msg)) = ws.recv().await {
//!             if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new().route("/ws", get(echo));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use std::future::Future;
use std::net::SocketAddr;

use ::axum::body::Body;
use ::axum::extract::{ConnectInfo, FromRequestParts};
use ::axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use futures_util::future::Either;
use http::request::Parts;
use http::{HeaderMap, Uri};
use hyper::upgrade::OnUpgrade;
use proto::handshake::server::{AcceptConfig, Request};

use super::{
    PendingUpgrade, UpgradeRejection, UpgradedWebSocket, handshake_request_from_parts,
    switching_protocols, take_on_upgrade,
};
use crate::config::Config;
use crate::server::Server;

/// Extractor of a WebSocket upgrade request, answered with
/// [`on_upgrade`](Self::on_upgrade).
///
/// Extraction fails with an [`UpgradeRejection`] (`400`, `405` or `426`) when the request is
/// not a valid WebSocket upgrade over HTTP/1.1.
///
/// # Example
/// ```no_run
/// use axum::response::Response;
/// use wskit::axum::WebSocketUpgrade;
///
/// async fn chat(ws: WebSocketUpgrade) -> Response {
///     let room = ws.query().unwrap_or("lobby").to_owned();
///     let peer = ws.peer_addr();
///     ws.protocols(["chat.v2", "chat.v1"])
///         .config(wskit::Config::default().max_message_size(1 << 20))
///         .on_upgrade(move |mut ws| async move {
///             let _ = ws.send(wskit::Message::text(format!("{peer:?} joined {room}"))).await;
///         })
/// }
/// ```
#[derive(Debug)]
pub struct WebSocketUpgrade {
    request: Request,
    uri: Uri,
    headers: HeaderMap,
    peer: Option<SocketAddr>,
    on_upgrade: OnUpgrade,
    server: Server,
}

impl WebSocketUpgrade {
    /// Accepts with these settings (subprotocols, extra headers, [`Config`]), replacing
    /// those set so far. Default: [`Server::default`].
    ///
    /// # Example
    /// ```no_run
    /// # fn run(ws: wskit::axum::WebSocketUpgrade) {
    /// let ws = ws.server(wskit::Server::default().protocols(["chat"]).header("X-Node", "a"));
    /// # }
    /// ```
    #[must_use]
    pub fn server(mut self, server: Server) -> Self {
        self.server = server;
        self
    }

    /// The subprotocols we speak; the first the client offers is selected. Default: none.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(ws: wskit::axum::WebSocketUpgrade) {
    /// let ws = ws.protocols(["chat.v2", "chat.v1"]);
    /// # }
    /// ```
    #[must_use]
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.server = self.server.protocols(protocols);
        self
    }

    /// Limits and timeouts of the connection, and whether permessage-deflate is accepted.
    /// Default: [`Config::default`].
    ///
    /// # Example
    /// ```no_run
    /// # fn run(ws: wskit::axum::WebSocketUpgrade) {
    /// let ws = ws.config(wskit::Config::default().deflate(None));
    /// # }
    /// ```
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.server = self.server.config(config);
        self
    }

    /// Adds a header to the `101` response.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(ws: wskit::axum::WebSocketUpgrade) {
    /// let ws = ws.header("X-Room", "lobby");
    /// # }
    /// ```
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.server = self.server.header(name, value);
        self
    }

    /// The request URI, as the handler sees it (a nested router has removed its prefix).
    ///
    /// # Example
    /// ```no_run
    /// # fn run(ws: &wskit::axum::WebSocketUpgrade) {
    /// println!("upgrade on {}", ws.uri());
    /// # }
    /// ```
    #[must_use]
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The path of the request URI.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(ws: &wskit::axum::WebSocketUpgrade) {
    /// let room = ws.path().trim_start_matches("/rooms/");
    /// # }
    /// ```
    #[must_use]
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The query of the request URI, if any.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(ws: &wskit::axum::WebSocketUpgrade) {
    /// let token = ws.query().and_then(|q| q.strip_prefix("token="));
    /// # }
    /// ```
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The request headers.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(ws: &wskit::axum::WebSocketUpgrade) {
    /// let origin = ws.headers().get("origin");
    /// # }
    /// ```
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The subprotocols the client offers, in its order of preference.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(ws: &wskit::axum::WebSocketUpgrade) {
    /// let wants_v2 = ws.offered_protocols().any(|p| p == "chat.v2");
    /// # }
    /// ```
    pub fn offered_protocols(&self) -> impl Iterator<Item = &str> {
        self.request.headers.list("sec-websocket-protocol")
    }

    /// The client's address, when the app is served with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(ws: &wskit::axum::WebSocketUpgrade) {
    /// if let Some(addr) = ws.peer_addr() {
    ///     println!("upgrade from {addr}");
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The request head as the handshake sees it.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(ws: &wskit::axum::WebSocketUpgrade) {
    /// let key = ws.request().headers.get("sec-websocket-key");
    /// # }
    /// ```
    #[must_use]
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Answers `101 Switching Protocols` and, once axum has handed over the connection, runs
    /// `callback` on the [`WebSocket`](crate::WebSocket) in a task of its own.
    ///
    /// An upgrade that fails after the response (the client left) is logged at debug level
    /// and `callback` does not run. If a header added with [`header`](Self::header) is not
    /// valid HTTP, the answer is a `500` instead.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(ws: wskit::axum::WebSocketUpgrade) -> axum::response::Response {
    /// ws.on_upgrade(|mut ws| async move {
    ///     let _ = ws.send(wskit::Message::text("hello")).await;
    /// })
    /// # }
    /// ```
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(UpgradedWebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let accepted = match self.server.accept_config().accept(&self.request) {
            Ok(accepted) => accepted,
            Err(err) => return UpgradeRejection::from(err).into_response::<Body>(),
        };
        let response = match switching_protocols::<Body>(&accepted) {
            Ok(response) => response,
            Err(rejection) => return rejection.into_response::<Body>(),
        };
        let config = self.server.connection_config().clone();
        let pending = PendingUpgrade::new(self.on_upgrade, config, accepted);
        // A combinator rather than an `async` block: the task holds the pending upgrade, then
        // the callback's future in its place (an `async` block would keep room for both, and
        // the callback, for the connection's whole life).
        tokio::spawn(pending.then(|upgraded| match upgraded {
            Ok(ws) => Either::Left(callback(ws)),
            Err(err) => {
                tracing::debug!(%err, "WebSocket upgrade failed");
                Either::Right(std::future::ready(()))
            }
        }));
        response
    }
}

impl<S> FromRequestParts<S> for WebSocketUpgrade
where
    S: Send + Sync,
{
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let request = handshake_request_from_parts(parts)?;
        // Validation only: the handler's settings are not known yet and cannot make a valid
        // request invalid; `on_upgrade` negotiates with them.
        AcceptConfig::default().accept(&request)?;
        let on_upgrade = take_on_upgrade(&mut parts.extensions)?;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr);
        Ok(Self {
            request,
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
            peer,
            on_upgrade,
            server: Server::default(),
        })
    }
}

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        Self::into_response::<Body>(self)
    }
}
