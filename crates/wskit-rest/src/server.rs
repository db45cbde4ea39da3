//! [`RestServer`]: accepts REST connections, keeps them by id and metadata, reports events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use wskit::WebSocket;

use crate::connection::{Builder, PROTOCOL, RestConnection};
use crate::error::Error;
use crate::swagger;

/// What happened to a connection of a [`RestServer`] (SwaggerSocket's `ConnectionEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// A connection finished its handshake and was registered.
    Received {
        /// Its id.
        id: String,
    },
    /// A connection was closed (by either side, with a close frame) and unregistered.
    Closed {
        /// Its id.
        id: String,
        /// Why it ended.
        reason: String,
    },
    /// A connection failed (I/O or protocol error, missed heartbeat, failed handshake) and
    /// was unregistered.
    Failed {
        /// Its id (assigned before the handshake, so a failed handshake has one too).
        id: String,
        /// What went wrong.
        reason: String,
    },
}

/// The server side of REST over WebSocket: it accepts WebSockets (offering [`PROTOCOL`],
/// falling back to SwaggerSocket v1), runs the handshake (storing the client's metadata and
/// assigning a connection id), serves the [`Builder`]'s service on each connection, keeps
/// the connections by id and metadata so the server can call the clients' APIs, and reports
/// [`ConnectionEvent`]s. Heartbeats come from [`Builder::heartbeat`].
///
/// # Example
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use wskit_rest::{ConnectionEvent, RestConnection, RestServer};
///
/// let server = RestServer::new(RestConnection::builder().serve(axum::Router::new()));
/// let mut events = server.events();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// tokio::spawn({
///     let server = server.clone();
///     async move { server.serve(listener).await }
/// });
/// while let Ok(event) = events.recv().await {
///     if let ConnectionEvent::Received { id } = event {
///         println!("{id}: {:?}", server.metadata(&id));
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RestServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    builder: Builder,
    ws: wskit::Server,
    handshake_timeout: Duration,
    connections: Mutex<HashMap<String, Entry>>,
    events: broadcast::Sender<ConnectionEvent>,
}

#[derive(Debug, Clone)]
struct Entry {
    meta: serde_json::Value,
    connection: RestConnection,
}

impl RestServer {
    /// A server making each connection with `builder` (service, limits, heartbeat).
    ///
    /// # Example
    /// ```
    /// let server = wskit_rest::RestServer::new(wskit_rest::RestConnection::builder());
    /// ```
    #[must_use]
    pub fn new(builder: Builder) -> Self {
        Self {
            inner: Arc::new(Inner {
                builder,
                ws: wskit::Server::default().protocols([PROTOCOL]),
                handshake_timeout: Duration::from_secs(10),
                connections: Mutex::new(HashMap::new()),
                events: broadcast::channel(1024).0,
            }),
        }
    }

    /// The WebSocket settings (limits, headers). [`PROTOCOL`] is offered in addition to the
    /// subprotocols set here. Default: `wskit::Server::default()`.
    ///
    /// # Example
    /// ```
    /// let server = wskit_rest::RestServer::new(wskit_rest::RestConnection::builder())
    ///     .websocket(wskit::Server::default().config(wskit::Config::default()));
    /// ```
    #[must_use]
    pub fn websocket(self, server: wskit::Server) -> Self {
        self.rebuild(|inner| inner.ws = server.protocols([PROTOCOL]))
    }

    /// How long the client has to finish the 3-way handshake. Default: 10 s.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// let server = wskit_rest::RestServer::new(wskit_rest::RestConnection::builder())
    ///     .handshake_timeout(Duration::from_secs(3));
    /// ```
    #[must_use]
    pub fn handshake_timeout(self, timeout: Duration) -> Self {
        self.rebuild(|inner| inner.handshake_timeout = timeout)
    }

    /// Accepts connections from `listener` until it fails, each in its own task.
    ///
    /// # Errors
    /// When accepting a TCP connection fails.
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, _) = listener.accept().await?;
            // Requests and responses are small writes answered at once: no Nagle delay.
            let _ = stream.set_nodelay(true);
            let server = self.clone();
            tokio::spawn(async move {
                if let Err(error) = server.accept(stream).await {
                    tracing::debug!(%error, "wskit-rest: a connection failed to open");
                }
            });
        }
    }

    /// Runs the WebSocket handshake on `stream`, then [`accept_websocket`](Self::accept_websocket).
    ///
    /// # Errors
    /// As [`accept_websocket`](Self::accept_websocket), and [`Error::WebSocket`] when the
    /// WebSocket handshake fails.
    pub async fn accept<S>(&self, stream: S) -> Result<(String, RestConnection), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (ws, _) = self.inner.ws.accept(stream).await?;
        self.accept_websocket(ws).await
    }

    /// Runs the 3-way handshake on an open WebSocket (from `accept`, or a hyper or axum
    /// upgrade), registers the connection and reports [`ConnectionEvent::Received`]; returns
    /// its id and the connection. It speaks [`PROTOCOL`] when the WebSocket handshake
    /// selected it, SwaggerSocket v1 otherwise.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the client breaks the handshake, [`Error::Timeout`] when it
    /// does not finish in time; both are also reported as [`ConnectionEvent::Failed`].
    pub async fn accept_websocket<S>(
        &self,
        mut ws: WebSocket<S>,
    ) -> Result<(String, RestConnection), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let id = swagger::new_connection_id();
        let timeout = self.inner.handshake_timeout;
        let meta =
            match tokio::time::timeout(timeout, swagger::server_handshake(&mut ws, &id)).await {
                Ok(Ok(meta)) => meta,
                Ok(Err(error)) => return Err(self.fail(&id, error)),
                Err(_) => return Err(self.fail(&id, Error::Timeout(timeout))),
            };
        let connection = self.inner.builder.clone().negotiated(ws);
        self.lock().insert(
            id.clone(),
            Entry {
                meta,
                connection: connection.clone(),
            },
        );
        let _ = self
            .inner
            .events
            .send(ConnectionEvent::Received { id: id.clone() });
        let server = self.clone();
        let watched = connection.clone();
        let watched_id = id.clone();
        tokio::spawn(async move {
            let reason = watched.closed().await.to_string();
            server.lock().remove(&watched_id);
            let id = watched_id;
            let event = if watched.is_failed() {
                ConnectionEvent::Failed { id, reason }
            } else {
                ConnectionEvent::Closed { id, reason }
            };
            let _ = server.inner.events.send(event);
        });
        Ok((id, connection))
    }

    /// The connection with this id, to call the client's API through it.
    ///
    /// # Example
    /// ```
    /// # let server = wskit_rest::RestServer::new(wskit_rest::RestConnection::builder());
    /// assert!(server.connection("no-such-id").is_none());
    /// ```
    #[must_use]
    pub fn connection(&self, id: &str) -> Option<RestConnection> {
        self.lock().get(id).map(|entry| entry.connection.clone())
    }

    /// The metadata the client sent in its handshake.
    ///
    /// # Example
    /// ```
    /// # let server = wskit_rest::RestServer::new(wskit_rest::RestConnection::builder());
    /// assert!(server.metadata("no-such-id").is_none());
    /// ```
    #[must_use]
    pub fn metadata(&self, id: &str) -> Option<serde_json::Value> {
        self.lock().get(id).map(|entry| entry.meta.clone())
    }

    /// The ids and connections whose metadata satisfies `matches`.
    ///
    /// # Example
    /// ```
    /// # let server = wskit_rest::RestServer::new(wskit_rest::RestConnection::builder());
    /// let agents = server.find(|meta| meta["agent"] == "a1");
    /// assert!(agents.is_empty());
    /// ```
    pub fn find(
        &self,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<(String, RestConnection)> {
        self.lock()
            .iter()
            .filter(|(_, entry)| matches(&entry.meta))
            .map(|(id, entry)| (id.clone(), entry.connection.clone()))
            .collect()
    }

    /// The ids of the open connections.
    ///
    /// # Example
    /// ```
    /// # let server = wskit_rest::RestServer::new(wskit_rest::RestConnection::builder());
    /// assert!(server.ids().is_empty());
    /// ```
    #[must_use]
    pub fn ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// A subscription to the [`ConnectionEvent`]s from now on. It holds up to 1024 events
    /// not yet received; a subscriber further behind gets `RecvError::Lagged`.
    ///
    /// # Example
    /// ```
    /// # let server = wskit_rest::RestServer::new(wskit_rest::RestConnection::builder());
    /// let events = server.events();
    /// ```
    #[must_use]
    pub fn events(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.inner.events.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // The map stays consistent whatever panicked while holding the lock.
        self.inner
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn fail(&self, id: &str, error: Error) -> Error {
        let _ = self.inner.events.send(ConnectionEvent::Failed {
            id: id.to_owned(),
            reason: error.to_string(),
        });
        error
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Inner {
            builder: self.inner.builder.clone(),
            ws: self.inner.ws.clone(),
            handshake_timeout: self.inner.handshake_timeout,
            connections: Mutex::new(HashMap::new()),
            events: self.inner.events.clone(),
        };
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }
}
