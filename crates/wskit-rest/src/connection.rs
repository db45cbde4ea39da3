//! [`RestConnection`]: HTTP over one WebSocket, in either or both directions.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use wskit::{Beat, CloseCode, Heartbeat, Message, WebSocket};

use crate::body::Body;
use crate::config::Config;
use crate::control::Control;
use crate::error::{BoxError, Error};
use crate::handler::{BoxFuture, Handler};
use crate::mux::Mux;
use crate::swagger::Swagger;

/// The subprotocol that selects our multiplexed protocol (`docs/rest-protocol.md`). A
/// connection without it speaks SwaggerSocket v1.
pub const PROTOCOL: &str = "wskit-rest.v1";

/// One WebSocket connection carrying HTTP requests and responses: it serves the service given
/// to [`Builder::serve`] to the peer, and it is itself a `tower::Service` that sends requests
/// to the peer and returns its responses.
///
/// It is a cheap handle (clone it freely); a background task owns the WebSocket. The
/// connection stays open while that task runs, whether or not handles exist; end it with
/// [`close`](Self::close).
///
/// # Example: serve an axum router on an accepted WebSocket
/// ```no_run
/// # async fn run(ws: wskit::WebSocket<tokio::net::TcpStream>) {
/// use axum::{Router, routing::get};
///
/// let app = Router::new().route("/hello", get(|| async { "hi" }));
/// let conn = wskit_rest::RestConnection::builder().serve(app).multiplexed(ws);
/// let reason = conn.closed().await;
/// # }
/// ```
///
/// # Example: call the peer's API
/// ```no_run
/// # async fn run(conn: wskit_rest::RestConnection) -> Result<(), wskit_rest::Error> {
/// use http_body_util::BodyExt;
/// use tower::ServiceExt;
///
/// let request = http::Request::get("/pets/1").body(wskit_rest::Body::empty()).unwrap();
/// let response = conn.oneshot(request).await?;
/// let body = response.into_body().collect().await.unwrap().to_bytes();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RestConnection {
    protocol: Arc<dyn Protocol>,
}

/// Settings of a [`RestConnection`]: the service to serve, limits, heartbeat; a by-value
/// builder from [`RestConnection::builder`].
///
/// # Example
/// ```no_run
/// # async fn run(ws: wskit::WebSocket<tokio::net::TcpStream>) {
/// use std::time::Duration;
///
/// let conn = wskit_rest::RestConnection::builder()
///     .config(wskit_rest::Config::default().request_timeout(Duration::from_secs(5)))
///     .heartbeat(Duration::from_secs(20), Duration::from_secs(10))
///     .negotiated(ws);
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "finish with swagger, multiplexed or negotiated"]
pub struct Builder {
    config: Config,
    handler: Option<Handler>,
    control: Control,
}

// ===== impl RestConnection =====

impl RestConnection {
    /// Settings for a new connection.
    ///
    /// # Example
    /// ```
    /// let builder = wskit_rest::RestConnection::builder();
    /// ```
    pub fn builder() -> Builder {
        Builder {
            config: Config::default(),
            handler: None,
            control: Control::default(),
        }
    }

    /// Closes the WebSocket (code 1000). Requests in flight fail with
    /// [`Error::ConnectionClosed`].
    ///
    /// # Example
    /// ```no_run
    /// # fn run(conn: wskit_rest::RestConnection) {
    /// conn.close();
    /// # }
    /// ```
    pub fn close(&self) {
        self.close_with(CloseCode::NORMAL, "");
    }

    /// Closes the WebSocket with `code` and `reason` (for example 1001 when a server shuts
    /// down). Requests in flight fail with [`Error::ConnectionClosed`].
    ///
    /// # Example
    /// ```no_run
    /// # fn run(conn: wskit_rest::RestConnection) {
    /// conn.close_with(wskit::CloseCode::GOING_AWAY, "server shutting down");
    /// # }
    /// ```
    pub fn close_with(&self, code: CloseCode, reason: &str) {
        let _ = self
            .protocol
            .core()
            .out
            .send(Out::Close(code, reason.to_owned()));
    }

    /// Waits until the connection has ended, and returns why.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(conn: wskit_rest::RestConnection) {
    /// println!("closed: {}", conn.closed().await);
    /// # }
    /// ```
    pub async fn closed(&self) -> Arc<str> {
        let mut rx = self.protocol.core().closed.subscribe();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                return Arc::from("the connection task ended");
            }
        }
    }

    /// Whether the connection has ended.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(conn: wskit_rest::RestConnection) {
    /// assert!(!conn.is_closed());
    /// # }
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.protocol.core().closed.borrow().is_some()
    }

    /// Which protocol the connection speaks: [`PROTOCOL`] or `"swaggersocket"`.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(conn: wskit_rest::RestConnection) {
    /// println!("{}", conn.protocol());
    /// # }
    /// ```
    #[must_use]
    pub fn protocol(&self) -> &'static str {
        self.protocol.name()
    }

    /// Whether the connection ended by failing (an I/O or protocol error, a missed heartbeat)
    /// rather than by a close from either side.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(conn: wskit_rest::RestConnection) {
    /// conn.closed().await;
    /// println!("failed: {}", conn.is_failed());
    /// # }
    /// ```
    #[must_use]
    pub fn is_failed(&self) -> bool {
        self.protocol.core().failed.load(Ordering::Acquire)
    }

    /// Serves `service` to the peer on this connection from now on, in place of the
    /// [`Builder::serve`] one: SwaggerSocket's `conn.Serve(ctx, handler)`, to attach an API to
    /// one connection, typically when its [`ConnectionEvent::Received`](crate::ConnectionEvent::Received)
    /// comes. Requests already being handled finish with the service they started with;
    /// requests that came before get the builder's service (without one, `501 Not
    /// Implemented`). A service error becomes a `500 Internal Server Error`.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(server: wskit_rest::RestServer) {
    /// use wskit_rest::ConnectionEvent;
    ///
    /// let mut events = server.events();
    /// while let Ok(event) = events.recv().await {
    ///     if let ConnectionEvent::Received { id } = event {
    ///         if let Some(conn) = server.connection(&id) {
    ///             // An API of its own for each connection, chosen from its metadata.
    ///             let app = axum::Router::new().route("/whoami", axum::routing::get(move || async move { id }));
    ///             conn.serve(app);
    ///         }
    ///     }
    /// }
    /// # }
    /// ```
    pub fn serve<S, B>(&self, service: S)
    where
        S: tower::Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.protocol.core().set_handler(Handler::new(service));
    }

    pub(crate) fn from_protocol(protocol: Arc<dyn Protocol>) -> Self {
        Self { protocol }
    }

    pub(crate) fn send_request(
        &self,
        request: Request<Body>,
    ) -> BoxFuture<Result<Response<Body>, Error>> {
        self.protocol.clone().request(request)
    }
}

impl fmt::Debug for RestConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestConnection")
            .field("protocol", &self.protocol.name())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<B> tower::Service<Request<B>> for RestConnection
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Error;
    type Future = BoxFuture<Result<Response<Body>, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.send_request(request.map(Body::new))
    }
}

// ===== impl Builder =====

impl Builder {
    /// Limits and timeouts. Default: [`Config::default`].
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Serves `service` (an axum `Router`, any `tower::Service` of HTTP requests) to the peer.
    /// Without one, requests from the peer get `501 Not Implemented`. A service error becomes
    /// a `500 Internal Server Error`.
    ///
    /// # Example
    /// ```
    /// let app = axum::Router::new();
    /// let builder = wskit_rest::RestConnection::builder().serve(app);
    /// ```
    pub fn serve<S, B>(mut self, service: S) -> Self
    where
        S: tower::Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.handler = Some(Handler::new(service));
        self
    }

    /// Pings the peer every `interval` and drops the connection when a pong takes longer than
    /// `timeout`. Default: off.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.control.heartbeat = Some((interval, timeout));
        self
    }

    /// Application data carried by every heartbeat ping (SwaggerSocket's `AppData`), at the
    /// start of the ping's payload, before the 8-byte sequence number the heartbeat matches
    /// pongs with. Default: none.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when it is longer than [`wskit::MAX_APP_DATA`] bytes (a ping
    /// carries at most 125).
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    ///
    /// let builder = wskit_rest::RestConnection::builder()
    ///     .heartbeat(Duration::from_secs(5), Duration::from_secs(10))
    ///     .app_data("agent-7")?;
    /// # Ok::<(), wskit_rest::Error>(())
    /// ```
    pub fn app_data(mut self, data: impl Into<Bytes>) -> Result<Self, Error> {
        let data = data.into();
        if data.len() > wskit::MAX_APP_DATA {
            return Err(Error::invalid(format!(
                "heartbeat application data of {} bytes: at most {} fit in a ping",
                data.len(),
                wskit::MAX_APP_DATA
            )));
        }
        self.control.app_data = data;
        Ok(self)
    }

    /// Answers every ping from the peer with `handler`, in place of the default reply, a pong
    /// with the ping's own data (SwaggerSocket's `PingHdlr`): it gets the ping's application
    /// data and returns the data of the pong to send, or `None` to send none (RFC 6455 §5.5.2
    /// requires every ping to be answered, so `None` is only for peers that expect it). The
    /// handler runs on the connection's task, so it must not block. Default: none, every ping
    /// is answered with its own data.
    ///
    /// # Example
    /// ```
    /// let builder = wskit_rest::RestConnection::builder().ping_handler(|data| {
    ///     println!("ping {data:?}");
    ///     Some(data) // the default reply
    /// });
    /// ```
    #[doc(alias = "PingHdlr")]
    pub fn ping_handler(
        mut self,
        handler: impl Fn(Bytes) -> Option<Bytes> + Send + Sync + 'static,
    ) -> Self {
        self.control.ping = Some(Arc::new(handler));
        self
    }

    /// Calls `handler` with the application data of every pong from the peer (SwaggerSocket's
    /// `PongHdlr`), answers to the heartbeat's pings included (they still count for the
    /// heartbeat). Runs on the connection's task: it must not block. Default: none.
    ///
    /// # Example
    /// ```
    /// let builder = wskit_rest::RestConnection::builder()
    ///     .pong_handler(|data| println!("pong {data:?}"));
    /// ```
    pub fn pong_handler(mut self, handler: impl Fn(Bytes) + Send + Sync + 'static) -> Self {
        self.control.pong = Some(Arc::new(handler));
        self
    }

    /// Speaks SwaggerSocket v1 on `ws`, whose 3-way handshake is done (see
    /// [`swagger::client_handshake`](crate::swagger::client_handshake) and
    /// [`swagger::server_handshake`](crate::swagger::server_handshake)). Spawns the task that
    /// owns `ws`; call inside a tokio runtime.
    pub fn swagger<S>(self, ws: WebSocket<S>) -> RestConnection
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (core, rx) = self.core();
        let protocol: Arc<dyn Protocol> = Arc::new(Swagger::new(core));
        spawn_driver(ws, rx, protocol.clone(), self.control);
        RestConnection::from_protocol(protocol)
    }

    /// Speaks our multiplexed protocol ([`PROTOCOL`]) on `ws`. Spawns the task that owns `ws`;
    /// call inside a tokio runtime.
    pub fn multiplexed<S>(self, ws: WebSocket<S>) -> RestConnection
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let client = ws.role() == wskit::proto::Role::Client;
        let (core, rx) = self.core();
        let protocol: Arc<dyn Protocol> = Arc::new(Mux::new(core, client));
        spawn_driver(ws, rx, protocol.clone(), self.control);
        RestConnection::from_protocol(protocol)
    }

    /// [`multiplexed`](Self::multiplexed) when the handshake selected [`PROTOCOL`], otherwise
    /// [`swagger`](Self::swagger).
    pub fn negotiated<S>(self, ws: WebSocket<S>) -> RestConnection
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        if ws.protocol() == Some(PROTOCOL) {
            self.multiplexed(ws)
        } else {
            self.swagger(ws)
        }
    }

    /// The heartbeat, app data and ping and pong handlers.
    pub(crate) fn control(&self) -> &Control {
        &self.control
    }

    pub(crate) fn core(&self) -> (Core, mpsc::UnboundedReceiver<Out>) {
        let (out, rx) = mpsc::unbounded_channel();
        let (closed, _) = watch::channel(None);
        let core = Core {
            out,
            config: self.config.clone(),
            handler: RwLock::new(self.handler.clone().unwrap_or_else(Handler::none)),
            closed,
            failed: AtomicBool::new(false),
        };
        (core, rx)
    }
}

// ===== private: what both protocols share =====

/// What goes to the task owning the WebSocket.
#[derive(Debug)]
pub(crate) enum Out {
    Message(Message),
    Close(CloseCode, String),
}

/// The state both protocol engines share.
#[derive(Debug)]
pub(crate) struct Core {
    /// To the task owning the WebSocket. Unbounded: what goes in is bounded by the protocols
    /// (one response per request, body bytes by the flow-control windows).
    pub(crate) out: mpsc::UnboundedSender<Out>,
    pub(crate) config: Config,
    /// The service served to the peer; [`RestConnection::serve`] replaces it.
    handler: RwLock<Handler>,
    /// `Some(reason)` once the connection ended.
    pub(crate) closed: watch::Sender<Option<Arc<str>>>,
    /// Whether it ended by failing (I/O error, missed heartbeat) rather than by a close.
    pub(crate) failed: AtomicBool,
}

impl Core {
    pub(crate) fn send(&self, message: Message) -> Result<(), Error> {
        if let Some(reason) = self.closed.borrow().clone() {
            return Err(Error::ConnectionClosed(reason));
        }
        self.out
            .send(Out::Message(message))
            .map_err(|_| Error::closed("the connection task ended"))
    }

    /// The service to call for the next request from the peer.
    pub(crate) fn handler(&self) -> Handler {
        // A panic while holding the lock cannot leave a half-written `Handler`.
        self.handler
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_handler(&self, handler: Handler) {
        *self.handler.write().unwrap_or_else(PoisonError::into_inner) = handler;
    }

    pub(crate) fn closed_reason(&self) -> Option<Arc<str>> {
        self.closed.borrow().clone()
    }
}

/// A protocol engine: turns messages from the peer into calls of the handler and responses for
/// waiting requests, and requests into messages.
pub(crate) trait Protocol: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn core(&self) -> &Core;
    /// Sends `request` to the peer and waits for its response.
    fn request(self: Arc<Self>, request: Request<Body>)
    -> BoxFuture<Result<Response<Body>, Error>>;
    /// A text or binary message from the peer.
    fn on_message(self: Arc<Self>, message: Message);
    /// The WebSocket dropped: fail everything in flight (a reconnecting client goes on).
    fn fail_all(&self, reason: Arc<str>);
    /// The connection ended for good: no more requests.
    fn on_close(&self, reason: Arc<str>) {
        self.core().closed.send_replace(Some(reason.clone()));
        self.fail_all(reason);
    }
}

/// Spawns the task that owns `ws`: it feeds received messages to `protocol`, sends what comes
/// through `rx`, runs the heartbeat, and reports the end.
pub(crate) fn spawn_driver<S>(
    mut ws: WebSocket<S>,
    mut rx: mpsc::UnboundedReceiver<Out>,
    protocol: Arc<dyn Protocol>,
    control: Control,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut heartbeat = control.heartbeat();
        if control.ping.is_some() {
            ws.set_auto_pong(false);
        }
        let mut failed = true;
        let reason: Arc<str> = loop {
            tokio::select! {
                received = ws.recv() => match received {
                    Some(Ok(Message::Pong(payload))) => {
                        if let Some(heartbeat) = &mut heartbeat {
                            heartbeat.pong(&payload);
                        }
                        control.on_pong(payload);
                    }
                    Some(Ok(Message::Ping(payload))) => {
                        if let Some(pong) = control.on_ping(payload) {
                            if let Err(error) = ws.send(Message::Pong(pong)).await {
                                break Arc::from(format!("sending a pong failed: {error}"));
                            }
                        }
                    }
                    Some(Ok(message)) if message.is_text() || message.is_binary() => {
                        protocol.clone().on_message(message);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => break Arc::from(format!("the WebSocket failed: {error}")),
                    None => {
                        failed = false;
                        break Arc::from(match ws.peer_close() {
                        Some(frame) => format!("the peer closed the WebSocket ({frame:?})"),
                        None => "the peer closed the WebSocket".to_owned(),
                    })
                    }
                },
                out = rx.recv() => match out {
                    Some(Out::Message(message)) => {
                        // Queue what else is waiting too, and write it all with one flush.
                        let mut close = None;
                        let mut result = ws.feed(message).await;
                        while result.is_ok() {
                            match rx.try_recv() {
                                Ok(Out::Message(message)) => result = ws.feed(message).await,
                                Ok(Out::Close(code, reason)) => {
                                    close = Some((code, reason));
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        if let Err(error) = result.and(ws.flush().await) {
                            break Arc::from(format!("sending failed: {error}"));
                        }
                        if let Some((code, reason)) = close {
                            let _ = ws.close(code, &reason).await;
                            failed = false;
                            break Arc::from("closed by this end");
                        }
                    }
                    Some(Out::Close(code, reason)) => {
                        let _ = ws.close(code, &reason).await;
                        failed = false;
                        break Arc::from("closed by this end");
                    }
                    None => break Arc::from("the connection was dropped"),
                },
                beat = tick(&mut heartbeat) => match beat {
                    Beat::Ping(payload) => {
                        if let Err(error) = ws.ping(payload).await {
                            break Arc::from(format!("sending a ping failed: {error}"));
                        }
                    }
                    Beat::Missed => break Arc::from("no pong within the heartbeat timeout"),
                },
            }
        };
        tracing::debug!(%reason, failed, "REST connection ended");
        protocol.core().failed.store(failed, Ordering::Release);
        protocol.on_close(reason);
    });
}

async fn tick(heartbeat: &mut Option<Heartbeat>) -> Beat {
    match heartbeat {
        Some(heartbeat) => heartbeat.tick().await,
        None => std::future::pending().await,
    }
}
