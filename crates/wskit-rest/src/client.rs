//! [`RestClient`]: a REST connection that reconnects by itself.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use wskit::{Backoff, CloseCode, Event, Events, Message, ReconnectingClient};

use crate::body::Body;
use crate::connection::{Builder, Out, PROTOCOL, Protocol, RestConnection};
use crate::error::{BoxError, Error};
use crate::handler::BoxFuture;
use crate::mux::Mux;
use crate::swagger::{self, Swagger};

/// A REST connection over a [`wskit::ReconnectingClient`]: it runs the handshake (metadata
/// in, connection id out) on every connection, serves its service to the server, and is a
/// `tower::Service` sending requests to the server.
///
/// A request made while the client is reconnecting waits (in the reconnecting client's send
/// queue) for the next connection, up to its [request
/// timeout](crate::Config::request_timeout). Requests in flight when the connection drops fail
/// at once with [`Error::ConnectionClosed`]: whether the server handled them is unknown.
///
/// The background tasks run until [`close`](Self::close) or until the client gives up
/// ([`Backoff`] limits).
///
/// # Example
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower::ServiceExt;
/// use wskit_rest::{Body, RestClient};
///
/// let client = RestClient::builder(wskit::Client::new("ws://127.0.0.1:9001/rest"))
///     .metadata(serde_json::json!({"agent": "a1"}))
///     .spawn();
/// let request = http::Request::get("/pets").body(Body::empty())?;
/// let response = client.clone().oneshot(request).await?;
/// println!("{} via connection {:?}", response.status(), client.connection_id());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RestClient {
    connection: RestConnection,
    shared: Arc<Shared>,
}

/// Settings of a [`RestClient`], a by-value builder from [`RestClient::builder`].
///
/// # Example
/// ```no_run
/// # async fn run() {
/// use std::time::Duration;
///
/// let client = wskit_rest::RestClient::builder(wskit::Client::new("ws://127.0.0.1:9001/rest"))
///     .backoff(wskit::Backoff::default().max_delay(Duration::from_secs(5)))
///     .heartbeat(Duration::from_secs(20), Duration::from_secs(10))
///     .swagger()
///     .spawn();
/// # }
/// ```
#[must_use = "call spawn to start the client"]
pub struct RestClientBuilder {
    client: wskit::Client,
    rest: Builder,
    meta: serde_json::Value,
    backoff: Backoff,
    heartbeat: Option<(Duration, Duration)>,
    multiplexed: bool,
}

#[derive(Debug)]
struct Shared {
    socket: Arc<ReconnectingClient>,
    connection_id: Arc<Mutex<Option<String>>>,
    events: Mutex<Events>,
}

// ===== impl RestClient =====

impl RestClient {
    /// Settings for a client connecting with `client` (URL, headers, TLS, proxy, limits).
    /// Default: our protocol ([`PROTOCOL`]), metadata `null`, [`Backoff::default`], no
    /// heartbeat, serving nothing.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run() {
    /// let client = wskit_rest::RestClient::builder(wskit::Client::new("ws://127.0.0.1:9001/")).spawn();
    /// # }
    /// ```
    pub fn builder(client: wskit::Client) -> RestClientBuilder {
        RestClientBuilder {
            client,
            rest: RestConnection::builder(),
            meta: serde_json::Value::Null,
            backoff: Backoff::default(),
            heartbeat: None,
            multiplexed: true,
        }
    }

    /// The connection, a `tower::Service` (as is the client itself).
    ///
    /// # Example
    /// ```no_run
    /// # fn run(client: wskit_rest::RestClient) {
    /// let conn = client.connection().clone();
    /// # }
    /// ```
    #[must_use]
    pub fn connection(&self) -> &RestConnection {
        &self.connection
    }

    /// The id the server assigned to the current connection (`None` while not connected).
    ///
    /// # Example
    /// ```no_run
    /// # fn run(client: wskit_rest::RestClient) {
    /// println!("{:?}", client.connection_id());
    /// # }
    /// ```
    #[must_use]
    pub fn connection_id(&self) -> Option<String> {
        lock(&self.shared.connection_id).clone()
    }

    /// Whether a connection is open (and its handshake done) right now.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(client: wskit_rest::RestClient) {
    /// println!("online: {}", client.is_connected());
    /// # }
    /// ```
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.shared.socket.is_connected()
    }

    /// A new subscription to the reconnecting client's [`Event`]s.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(client: wskit_rest::RestClient) {
    /// let mut events = client.events();
    /// while let Some(event) = events.recv().await {
    ///     println!("{event:?}");
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn events(&self) -> Events {
        lock(&self.shared.events).resubscribe()
    }

    /// Closes the connection (1000), stops reconnecting and fails requests in flight.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(client: wskit_rest::RestClient) {
    /// client.close().await;
    /// # }
    /// ```
    pub async fn close(&self) {
        let _ = self.shared.socket.close(CloseCode::NORMAL, "").await;
        self.connection.close();
    }
}

impl fmt::Debug for RestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestClient")
            .field("connection", &self.connection)
            .field("connection_id", &self.connection_id())
            .finish()
    }
}

impl<B> tower::Service<Request<B>> for RestClient
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
        self.connection.send_request(request.map(Body::new))
    }
}

// ===== impl RestClientBuilder =====

impl RestClientBuilder {
    /// The service to serve to the server, the limits, the heartbeat's application data and
    /// the ping and pong handlers ([`Builder::serve`], [`Builder::config`],
    /// [`Builder::app_data`], [`Builder::ping_handler`], [`Builder::pong_handler`]), as for
    /// every connection this client makes. Its heartbeat interval is not used (see
    /// [`heartbeat`](Self::heartbeat)).
    pub fn rest(mut self, rest: Builder) -> Self {
        self.rest = rest;
        self
    }

    /// The metadata sent in each handshake, stored by the server. Default: `null`.
    pub fn metadata(mut self, meta: serde_json::Value) -> Self {
        self.meta = meta;
        self
    }

    /// The reconnection policy. Default: [`Backoff::default`].
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Pings every `interval`; a pong later than `timeout` drops the connection and
    /// reconnects. Default: off.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.heartbeat = Some((interval, timeout));
        self
    }

    /// Speaks SwaggerSocket v1 instead of our protocol (for a Go SwaggerSocket server).
    pub fn swagger(mut self) -> Self {
        self.multiplexed = false;
        self
    }

    /// Starts the client: it connects in the background. Call inside a tokio runtime.
    pub fn spawn(self) -> RestClient {
        let multiplexed = self.multiplexed;
        let mut client = self.client;
        if multiplexed {
            client = client.protocols([PROTOCOL]);
        }
        let (core, mut rx) = self.rest.core();
        let protocol: Arc<dyn Protocol> = if multiplexed {
            Arc::new(Mux::new(core, true))
        } else {
            Arc::new(Swagger::new(core))
        };
        let connection_id = Arc::new(Mutex::new(None));
        let slot = connection_id.clone();
        let meta = self.meta;
        let mut reconnect = ReconnectingClient::builder(client)
            .backoff(self.backoff)
            .on_connect(move |ws| {
                let meta = meta.clone();
                let slot = slot.clone();
                Box::pin(async move {
                    if multiplexed && ws.protocol() != Some(PROTOCOL) {
                        return Err(wskit::Error::Io(io::Error::other(format!(
                            "the server did not select the subprotocol {PROTOCOL}"
                        ))));
                    }
                    let id = swagger::client_handshake(ws, &meta)
                        .await
                        .map_err(|error| wskit::Error::Io(io::Error::other(error.to_string())))?;
                    *lock(&slot) = Some(id);
                    Ok(())
                })
            });
        if let Some((interval, timeout)) = self.heartbeat {
            reconnect = reconnect.heartbeat(interval, timeout);
        }
        let control = self.rest.control().clone();
        if !control.app_data.is_empty() {
            reconnect = reconnect
                .heartbeat_app_data(control.app_data.clone())
                // `Builder::app_data` admitted it only within the same limit.
                .expect("app data within wskit::MAX_APP_DATA");
        }
        if let Some(ping) = control.ping.clone() {
            reconnect = reconnect.ping_handler(move |data| ping(data.clone()));
        }
        if control.pong.is_some() {
            reconnect = reconnect.on_control(move |message| {
                if let Message::Pong(data) = message {
                    control.on_pong(data.clone());
                }
            });
        }
        let (socket, events) = reconnect.spawn();
        let socket = Arc::new(socket);

        // Engine -> socket.
        let writer = socket.clone();
        tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                match out {
                    Out::Message(message) => match writer.send(message).await {
                        Ok(()) => {}
                        Err(wskit::Error::QueueFull) => {
                            tracing::debug!("wskit-rest: send queue full while offline; dropped");
                        }
                        Err(_) => break,
                    },
                    Out::Close(code, reason) => {
                        let _ = writer.close(code, &reason).await;
                        break;
                    }
                }
            }
        });
        // Socket -> engine.
        let reader = socket.clone();
        let engine = protocol.clone();
        tokio::spawn(async move {
            loop {
                match reader.recv().await {
                    Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                        engine.clone().on_message(message);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        engine.core().failed.store(
                            matches!(error, wskit::Error::GaveUp),
                            std::sync::atomic::Ordering::Release,
                        );
                        engine.on_close(format!("the client stopped: {error}").into());
                        break;
                    }
                }
            }
        });
        // Connection drops fail what is in flight.
        let mut watch = events.resubscribe();
        let engine = protocol.clone();
        let slot = connection_id.clone();
        tokio::spawn(async move {
            while let Some(event) = watch.recv().await {
                if let Event::Disconnected { reason } = event {
                    *lock(&slot) = None;
                    engine.fail_all(format!("the connection dropped: {reason:?}").into());
                }
            }
        });

        RestClient {
            connection: RestConnection::from_protocol(protocol),
            shared: Arc::new(Shared {
                socket,
                connection_id,
                events: Mutex::new(events),
            }),
        }
    }
}

impl fmt::Debug for RestClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestClientBuilder")
            .field("client", &self.client)
            .field("meta", &self.meta)
            .field("backoff", &self.backoff)
            .field("heartbeat", &self.heartbeat)
            .field("multiplexed", &self.multiplexed)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The values behind these locks stay valid whatever panicked while holding them.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
