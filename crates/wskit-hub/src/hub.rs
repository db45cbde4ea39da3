//! The hub: services on paths, the registry of connections, fan-out, the event stream,
//! hosting (standalone, TLS, or any accepted transport) and graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use wskit::proto::EncodedMessage;
use wskit::{CloseCode, Message, Server, WebSocket};

use crate::broker::Target;
use crate::connection::{Connection, Queue, ReadyState, Shared};
use crate::driver::{Driver, Outcome};
use crate::error::{Error, SendError};
use crate::event::{EventStream, HubEvent};
use crate::fanout::fan_out;
use crate::id::ConnectionId;
use crate::metrics::{Metrics, Stats};
use crate::options::{Admission, ServiceOptions};
use crate::registry::Registry;
use crate::request::UpgradeRequest;
use crate::service::{DynService, Event, FnService, Inbox, Service};
use crate::task::{Accept, Run};

/// The hub: WebSocket services registered on paths, every open connection, names, groups,
/// broadcast, an event stream and metrics. Cheap to clone (an `Arc`); clones share everything.
///
/// # Example
/// ```no_run
/// use wskit_hub::{Connection, Hub, Service, ServiceOptions};
///
/// struct Chat;
///
/// impl Service for Chat {
///     async fn on_text(&self, conn: &Connection, text: wskit::Utf8Bytes) {
///         if let Some(hub) = conn.hub() {
///             hub.broadcast("/chat", wskit::Message::Text(text));
///         }
///     }
/// }
///
/// # async fn run() -> Result<(), wskit_hub::Error> {
/// let hub = Hub::new();
/// hub.register("/chat", Chat, ServiceOptions::default())?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// hub.serve(listener).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

pub(crate) struct HubInner {
    routes: RwLock<HashMap<String, Arc<Route>>>,
    pub(crate) registry: RwLock<Registry>,
    events: broadcast::Sender<HubEvent>,
    pub(crate) metrics: Metrics,
    pub(crate) options: HubOptions,
    shutdown: CancellationToken,
    /// Notified each time a connection ends.
    drained: Notify,
    clean_closes: AtomicU64,
    forced_closes: AtomicU64,
    /// Connections whose clean-up (counters, events, `on_close`) has not finished yet; the
    /// drain waits on this, not on the registry, which a connection leaves first.
    live: AtomicUsize,
}

/// Counts a connection as live from registration until its clean-up has finished (or its
/// task was dropped), and wakes the drain when it ends.
pub(crate) struct Live(Arc<HubInner>);

impl Live {
    fn enter(inner: &Arc<HubInner>) -> Self {
        inner.live.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(inner))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
        self.0.drained.notify_waiters();
    }
}

/// A service with its settings.
pub(crate) struct Route {
    /// The hub the route belongs to (its connections reach it through here).
    pub(crate) hub: Weak<HubInner>,
    pub(crate) path: Arc<str>,
    pub(crate) service: Arc<dyn DynService>,
    pub(crate) options: ServiceOptions,
    pub(crate) server: Server,
}

/// Settings of the hub itself (those of each service are in [`ServiceOptions`]).
///
/// # Example
/// ```
/// use std::time::Duration;
/// let hub = wskit_hub::Hub::with_options(
///     wskit_hub::HubOptions::default().handshake_timeout(Duration::from_secs(5)),
/// );
/// ```
#[derive(Debug, Clone)]
pub struct HubOptions {
    handshake_timeout: Duration,
    max_handshake_size: usize,
    event_capacity: usize,
    pub(crate) io_uring: bool,
}

impl Default for HubOptions {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            max_handshake_size: 16 * 1024,
            event_capacity: 1024,
            io_uring: true,
        }
    }
}

impl HubOptions {
    /// How long a client has to complete the TLS and WebSocket handshakes. Default: 10 s.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The largest request head taken before routing (over it: 431). Default: 16 KiB.
    #[must_use]
    pub fn max_handshake_size(mut self, bytes: usize) -> Self {
        self.max_handshake_size = bytes;
        self
    }

    /// How many events the event stream keeps for a slow reader before it reports
    /// [`HubEvent::Lagged`]. Default: 1024.
    #[must_use]
    pub fn event_capacity(mut self, events: usize) -> Self {
        self.event_capacity = events.max(1);
        self
    }

    /// Whether a broadcast writes into idle connections' sockets through io_uring, many in one
    /// system call, where the kernel allows it (Linux; each thread falls back to one `send`
    /// per socket where io_uring is refused). Default: true. With false, every direct write is
    /// its own `send`. Either way a connection gets the same bytes in the same order; only the
    /// number of system calls differs (about 1.15× deliveries per server CPU-second at 1,000
    /// receivers, level at 100: docs/performance.md).
    ///
    /// # Example
    /// ```
    /// let hub = wskit_hub::Hub::with_options(wskit_hub::HubOptions::default().io_uring(false));
    /// ```
    #[must_use]
    pub fn io_uring(mut self, enabled: bool) -> Self {
        self.io_uring = enabled;
        self
    }
}

/// How many connections a fan-out reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Connections the message was queued for.
    pub delivered: usize,
    /// Connections whose queue was full (dropped by backpressure, or closed under
    /// [`Backpressure::Close`](crate::Backpressure::Close)).
    pub dropped: usize,
}

/// What [`Hub::shutdown`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Connections that completed the closing handshake within the drain deadline.
    pub clean: u64,
    /// Connections dropped without it (deadline passed, or they failed).
    pub forced: u64,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

// ===== impl Hub =====

impl Hub {
    /// A hub with the default settings and no services.
    #[must_use]
    pub fn new() -> Self {
        Self::with_options(HubOptions::default())
    }

    /// A hub with `options`.
    #[must_use]
    pub fn with_options(options: HubOptions) -> Self {
        let (events, _) = broadcast::channel(options.event_capacity);
        Self {
            inner: Arc::new(HubInner {
                routes: RwLock::default(),
                registry: RwLock::default(),
                events,
                metrics: Metrics::new(),
                options,
                shutdown: CancellationToken::new(),
                drained: Notify::new(),
                clean_closes: AtomicU64::new(0),
                forced_closes: AtomicU64::new(0),
                live: AtomicUsize::new(0),
            }),
        }
    }

    pub(crate) fn from_inner(inner: Arc<HubInner>) -> Self {
        Self { inner }
    }

    #[cfg(feature = "axum")]
    pub(crate) fn inner(&self) -> &HubInner {
        &self.inner
    }

    pub(crate) fn inner_arc(&self) -> &Arc<HubInner> {
        &self.inner
    }

    // ----- services -----

    /// Registers `service` on `path` (`/chat`). Use [`join_path`] for a base path plus an
    /// upgrade path (`/test` + `/websocket`). An upgrade to a path with no service is answered
    /// with 404.
    ///
    /// # Errors
    /// [`Error::PathTaken`] when a service is registered there already, [`Error::InvalidPath`]
    /// when `path` does not start with `/`.
    pub fn register<S: Service>(
        &self,
        path: &str,
        service: S,
        options: ServiceOptions,
    ) -> Result<(), Error> {
        self.add_route(path, Arc::new(service), options)
    }

    /// Registers a closure route (the nim `ws` style): for each connection, `handler` gets the
    /// connection's handle and an [`Inbox`] of its messages, and owns it until it returns;
    /// then the connection is closed with 1000 (1011 if it panicked).
    ///
    /// # Errors
    /// As [`register`](Self::register).
    ///
    /// # Example
    /// ```
    /// let hub = wskit_hub::Hub::new();
    /// hub.route_fn("/echo", Default::default(), |conn, mut inbox| async move {
    ///     while let Some(msg) = inbox.recv().await {
    ///         if conn.send(msg).await.is_err() {
    ///             break;
    ///         }
    ///     }
    /// })
    /// .unwrap();
    /// ```
    pub fn route_fn<F, Fut>(
        &self,
        path: &str,
        options: ServiceOptions,
        handler: F,
    ) -> Result<(), Error>
    where
        F: Fn(Connection, Inbox) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.add_route(path, Arc::new(FnService { handler }), options)
    }

    fn add_route(
        &self,
        path: &str,
        service: Arc<dyn DynService>,
        options: ServiceOptions,
    ) -> Result<(), Error> {
        if !path.starts_with('/') {
            return Err(Error::InvalidPath(path.to_owned()));
        }
        let server = options.server.clone();
        let mut routes = write(&self.inner.routes);
        if routes.contains_key(path) {
            return Err(Error::PathTaken(path.to_owned()));
        }
        let route = Route {
            hub: Arc::downgrade(&self.inner),
            path: path.into(),
            service,
            options,
            server,
        };
        routes.insert(path.to_owned(), Arc::new(route));
        Ok(())
    }

    /// Unregisters the service on `path`: new upgrades there get 404; its open connections
    /// stay open. Returns whether a service was there.
    pub fn unregister(&self, path: &str) -> bool {
        write(&self.inner.routes).remove(path).is_some()
    }

    /// The paths with a service.
    #[must_use]
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<_> = read(&self.inner.routes).keys().cloned().collect();
        paths.sort();
        paths
    }

    pub(crate) fn route(&self, path: &str) -> Option<Arc<Route>> {
        read(&self.inner.routes).get(path).cloned()
    }

    // ----- connections -----

    /// The connection with this id, or else stored under this name.
    #[must_use]
    pub fn connection(&self, id_or_name: &str) -> Option<Connection> {
        read(&self.inner.registry).find(id_or_name).cloned()
    }

    /// Every open connection (of `path` when given).
    #[must_use]
    pub fn connections(&self, path: Option<&str>) -> Vec<Connection> {
        let registry = read(&self.inner.registry);
        match path {
            None => registry.all().cloned().collect(),
            Some(path) => registry.service(path).cloned().collect(),
        }
    }

    /// How many connections are open.
    #[must_use]
    pub fn connection_count(&self) -> usize {
        read(&self.inner.registry).len()
    }

    /// Sends `msg` to every connection of the service on `path` (Ballerina's
    /// `broadcastText`). The frame is encoded once and its bytes shared by every recipient;
    /// with permessage-deflate, connections that compress each message on its own
    /// (`DeflateConfig::server_no_context_takeover(true)` in the service's config) share one
    /// compressed frame too, while the others compress it each. Never waits: a connection
    /// whose queue is full gets its backpressure policy. With a [broker](crate::broker), the
    /// other nodes' connections of `path` get it too (the [`Delivery`] counts this node's).
    #[doc(alias = "broadcastText")]
    pub fn broadcast(&self, path: &str, msg: Message) -> Delivery {
        let Some(encoded) = EncodedMessage::new(&msg) else {
            return Delivery::default();
        };
        let registry = read(&self.inner.registry);
        registry.publish(|| Target::Service(path.to_owned()), &msg);
        fan_out(
            registry.service(path),
            &encoded,
            self.inner.options.io_uring,
        )
    }

    /// Sends `msg` to every open connection of every service (of every node, with a
    /// [broker](crate::broker)).
    pub fn broadcast_all(&self, msg: Message) -> Delivery {
        let Some(encoded) = EncodedMessage::new(&msg) else {
            return Delivery::default();
        };
        let registry = read(&self.inner.registry);
        registry.publish(|| Target::All, &msg);
        fan_out(registry.all(), &encoded, self.inner.options.io_uring)
    }

    /// Sends `msg` to one connection of this node, by id or stored name, without waiting
    /// ([`cluster_send`](Self::cluster_send) also reaches other nodes).
    ///
    /// # Errors
    /// [`SendError::NotFound`] when no connection has that id or name, else as
    /// [`Connection::try_send`].
    pub fn send_to(&self, id_or_name: &str, msg: Message) -> Result<(), SendError> {
        let conn = self.connection(id_or_name).ok_or(SendError::NotFound)?;
        conn.try_send(msg)
    }

    // ----- names -----

    /// Stores `conn` under `name`, replacing the connection stored there before (Ballerina's
    /// `storeConnection`). The name goes away when the connection ends. Returns false when
    /// `conn` is no longer open. With a broker, it replaces the holder on every node too; to
    /// refuse a name held on any node, use [`cluster_try_store`](Self::cluster_try_store).
    #[doc(alias = "storeConnection")]
    pub fn store(&self, name: &str, conn: &Connection) -> bool {
        write(&self.inner.registry).store(name, conn.id())
    }

    /// Stores `conn` under `name` unless another open connection holds it already; returns
    /// whether `conn` holds the name now. Check and store happen under one lock, so two
    /// connections of this node racing for a name cannot both get it (across nodes:
    /// [`cluster_try_store`](Self::cluster_try_store)).
    pub fn try_store(&self, name: &str, conn: &Connection) -> bool {
        let mut registry = write(&self.inner.registry);
        match registry.names.get(name) {
            Some(holder) if holder != conn.id() => false,
            _ => registry.store(name, conn.id()),
        }
    }

    /// The connection stored under `name`.
    #[must_use]
    pub fn named(&self, name: &str) -> Option<Connection> {
        let registry = read(&self.inner.registry);
        let id = registry.names.get(name)?;
        registry.get(id.as_str()).cloned()
    }

    /// Sends `msg` to the connection stored under `name` (Ballerina's
    /// `pushTextToConnection`), without waiting.
    ///
    /// # Errors
    /// [`SendError::NotFound`] when nothing is stored under `name`, else as
    /// [`Connection::try_send`].
    #[doc(alias = "pushTextToConnection")]
    pub fn send_to_name(&self, name: &str, msg: Message) -> Result<(), SendError> {
        self.named(name).ok_or(SendError::NotFound)?.try_send(msg)
    }

    /// Removes `name` from the store (Ballerina's `removeStoredConnection`); the connection
    /// stays open. Returns whether the name was there.
    #[doc(alias = "removeStoredConnection")]
    pub fn remove_name(&self, name: &str) -> bool {
        write(&self.inner.registry).remove_name(name)
    }

    /// The names and the id they point to.
    #[must_use]
    pub fn names(&self) -> Vec<(String, ConnectionId)> {
        let registry = read(&self.inner.registry);
        registry
            .names
            .iter()
            .map(|(name, id)| (name.clone(), id.clone()))
            .collect()
    }

    // ----- groups -----

    /// Adds `conn` to `group` (Ballerina's `addConnectionToGroup`). Returns whether it was
    /// added (false if already a member or no longer open).
    #[doc(alias = "addConnectionToGroup")]
    pub fn join(&self, group: &str, conn: &Connection) -> bool {
        write(&self.inner.registry).join(group, conn.id())
    }

    /// Removes `conn` from `group` (Ballerina's `removeConnectionFromGroup`). Returns whether
    /// it was a member.
    #[doc(alias = "removeConnectionFromGroup")]
    pub fn leave(&self, group: &str, conn: &Connection) -> bool {
        write(&self.inner.registry).leave(group, conn.id())
    }

    /// Sends `msg` to every member of `group` (Ballerina's `pushTextToGroup`), encoded once.
    /// With a [broker](crate::broker), the members on other nodes get it too (one publish,
    /// whatever their number; the [`Delivery`] counts this node's).
    #[doc(alias = "pushTextToGroup")]
    pub fn send_to_group(&self, group: &str, msg: Message) -> Delivery {
        let Some(encoded) = EncodedMessage::new(&msg) else {
            return Delivery::default();
        };
        let registry = read(&self.inner.registry);
        registry.publish(|| Target::Group(group.to_owned()), &msg);
        fan_out(registry.group(group), &encoded, self.inner.options.io_uring)
    }

    /// Removes a whole group (Ballerina's `removeConnectionGroup`); its connections stay open.
    /// Returns how many members it had, or `None` if there was no such group.
    #[doc(alias = "removeConnectionGroup")]
    pub fn remove_group(&self, group: &str) -> Option<usize> {
        write(&self.inner.registry).remove_group(group)
    }

    /// The ids of the members of `group`.
    #[must_use]
    pub fn members(&self, group: &str) -> Vec<ConnectionId> {
        read(&self.inner.registry)
            .groups
            .get(group)
            .map(|members| members.iter().map(|member| member.0.id().clone()).collect())
            .unwrap_or_default()
    }

    /// Every group with its size. Groups go away with their last member.
    #[must_use]
    pub fn groups(&self) -> Vec<(String, usize)> {
        let mut groups: Vec<_> = read(&self.inner.registry)
            .groups
            .iter()
            .map(|(name, members)| (name.clone(), members.len()))
            .collect();
        groups.sort();
        groups
    }

    /// Up to `limit` members of `group`, each with its first name, and how many members the
    /// group has: one look at the registry, in time proportional to `limit` at most.
    #[must_use]
    pub fn members_named(
        &self,
        group: &str,
        limit: usize,
    ) -> (Vec<(ConnectionId, Option<String>)>, usize) {
        read(&self.inner.registry).members_named(group, limit)
    }

    /// The first `limit` open connections by id after `after` (from the first with `None`),
    /// and whether more follow; memory in proportion to `limit`, whatever their number.
    #[must_use]
    pub fn connections_page(&self, after: Option<&str>, limit: usize) -> (Vec<Connection>, bool) {
        read(&self.inner.registry).connections_page(after, limit)
    }

    /// The first `limit` groups by name after `after` (from the first with `None`), with
    /// their sizes, and whether more follow; memory in proportion to `limit`, whatever the
    /// number of groups.
    #[must_use]
    pub fn groups_page(&self, after: Option<&str>, limit: usize) -> (Vec<(String, usize)>, bool) {
        read(&self.inner.registry).groups_page(after, limit)
    }

    /// How many groups exist, without listing them.
    #[must_use]
    pub fn group_count(&self) -> usize {
        read(&self.inner.registry).groups.len()
    }

    /// Whether `conn` is a member of `group`, in time independent of how many groups either
    /// has.
    #[must_use]
    pub fn is_member(&self, group: &str, conn: &Connection) -> bool {
        read(&self.inner.registry)
            .groups
            .get(group)
            .is_some_and(|members| members.contains(conn.id().as_str()))
    }

    /// How many groups `conn` is a member of, without listing them.
    #[must_use]
    pub fn joined_count(&self, conn: &Connection) -> usize {
        read(&self.inner.registry).joined_count(conn.id())
    }

    /// The first name stored for `conn`, if any, without listing its groups.
    #[must_use]
    pub fn name_of(&self, conn: &Connection) -> Option<String> {
        read(&self.inner.registry).name_of(conn.id())
    }

    /// The groups and names of a connection.
    #[must_use]
    pub fn memberships(&self, conn: &Connection) -> (Vec<String>, Vec<String>) {
        let memberships = read(&self.inner.registry).memberships(conn.id());
        (memberships.groups, memberships.names)
    }

    // ----- events and metrics -----

    /// A stream of connection events: received, closed (with the code), failed. Each call
    /// starts a new reader that sees events from now on; a slow reader never blocks the
    /// connections (it gets [`HubEvent::Lagged`] instead).
    #[doc(alias = "EventStream")]
    #[must_use]
    pub fn events(&self) -> EventStream {
        EventStream {
            rx: self.inner.events.subscribe(),
        }
    }

    /// A snapshot of the counters (also reported through the `metrics` facade).
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.inner.metrics.snapshot()
    }

    // ----- hosting -----

    /// Accepts connections from `listener` until [`shutdown`](Self::shutdown), each in its own
    /// task.
    ///
    /// # Errors
    /// Never returns an error for one failed connection (it is logged); only when the
    /// listener cannot be used.
    pub async fn serve(&self, listener: TcpListener) -> Result<(), Error> {
        self.serve_with(listener, |stream| async move { Ok(stream) })
            .await
    }

    /// Accepts `wss://` connections from `listener`: the TLS handshake, then the WebSocket
    /// one, both within the handshake timeout.
    ///
    /// # Errors
    /// As [`serve`](Self::serve).
    pub async fn serve_tls(
        &self,
        listener: TcpListener,
        tls: Arc<tokio_rustls::rustls::ServerConfig>,
    ) -> Result<(), Error> {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        self.serve_with(listener, move |stream| {
            let acceptor = acceptor.clone();
            async move { acceptor.accept(stream).await }
        })
        .await
    }

    async fn serve_with<F, Fut, S>(&self, listener: TcpListener, wrap: F) -> Result<(), Error>
    where
        F: Fn(tokio::net::TcpStream) -> Fut,
        Fut: Future<Output = std::io::Result<S>> + Send + 'static,
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        loop {
            let accepted = tokio::select! {
                () = self.inner.shutdown.cancelled() => return Ok(()),
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let hub = self.clone();
            let wrapped = wrap(stream);
            let timeout = self.inner.options.handshake_timeout;
            // The TLS and WebSocket handshakes are one boxed future, gone once they are done:
            // the task then holds the connection only.
            tokio::spawn(Accept::new(Box::pin(async move {
                let stream = match tokio::time::timeout(timeout, wrapped).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(err)) => {
                        tracing::debug!(%peer, %err, "TLS handshake failed");
                        return Err(err.into());
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return Err(wskit::Error::Timeout("TLS handshake").into());
                    }
                };
                hub.handshake(stream, Some(peer))
                    .await
                    .inspect_err(|err| tracing::debug!(%peer, %err, "connection not accepted"))
            })));
        }
    }

    /// Serves one accepted transport: reads the upgrade request, routes it by path (404),
    /// checks the origin (403) and the authentication hook, upgrades, and runs the connection
    /// until it ends. Use it to host the hub on any transport.
    ///
    /// # Errors
    /// When the upgrade was refused or failed (the client has been answered).
    pub fn accept<S>(
        &self,
        stream: S,
        peer: Option<SocketAddr>,
    ) -> impl Future<Output = Result<(), Error>> + Send + use<S>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // Boxed: the handshake's state (the request being read, the answer; kilobytes) is
        // needed during the handshake only, while this future lives as long as the connection.
        Accept::new(Box::pin(self.clone().handshake(stream, peer)))
    }

    /// Reads the upgrade request, routes, admits and upgrades, within the handshake timeout;
    /// then registers the connection.
    async fn handshake<S>(self, stream: S, peer: Option<SocketAddr>) -> Result<Run<S>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (ws, route, request, state) = self.upgrade_stream(stream, peer).await?;
        Ok(self.run(ws, &route, request, state))
    }

    /// Reads the upgrade request, routes, admits and upgrades, within the handshake timeout.
    async fn upgrade_stream<S>(
        &self,
        mut stream: S,
        peer: Option<SocketAddr>,
    ) -> Result<(WebSocket<S>, Arc<Route>, UpgradeRequest, http::Extensions), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let timeout = self.inner.options.handshake_timeout;
        let limits =
            wskit::Config::default().max_handshake_size(self.inner.options.max_handshake_size);
        let upgraded = tokio::time::timeout(timeout, async {
            let (request, buf) = match wskit::read_request(&mut stream, &limits).await {
                Ok(read) => read,
                Err(err) => {
                    self.inner.metrics.rejected("bad_request");
                    return Err(err);
                }
            };
            let Some(route) = self.route(request.path()) else {
                self.inner.metrics.rejected("not_found");
                return Err(wskit::reject(
                    &mut stream,
                    404,
                    "no WebSocket service on this path",
                    &[],
                )
                .await);
            };
            if !request.is_upgrade() {
                self.inner.metrics.rejected("not_upgrade");
                let headers = [
                    ("Upgrade".to_owned(), "websocket".to_owned()),
                    ("Sec-WebSocket-Version".to_owned(), "13".to_owned()),
                ];
                return Err(wskit::reject(
                    &mut stream,
                    426,
                    "this path takes WebSocket upgrades only",
                    &headers,
                )
                .await);
            }
            let info = Arc::new(UpgradeRequest::from_wskit(&request, peer));
            let admission = match self.admit(&route, &info).await {
                Ok(admission) => admission,
                Err((reason, rejection)) => {
                    self.inner.metrics.rejected(reason);
                    return Err(wskit::reject(
                        &mut stream,
                        rejection.status,
                        &rejection.body,
                        &rejection.headers,
                    )
                    .await);
                }
            };
            match route
                .server
                .accept_request(stream, &request, buf, &admission.headers)
                .await
            {
                Ok(ws) => Ok((ws, route, info, admission)),
                Err(err) => {
                    self.inner.metrics.rejected("bad_request");
                    Err(err)
                }
            }
        })
        .await;
        let (ws, route, info, admission) = match upgraded {
            Ok(Ok(upgraded)) => upgraded,
            Ok(Err(err)) => return Err(err.into()),
            Err(_) => {
                self.inner.metrics.rejected("timeout");
                return Err(wskit::Error::Timeout("handshake").into());
            }
        };
        let request = Arc::try_unwrap(info).unwrap_or_else(|info| (*info).clone());
        Ok((ws, route, request, admission.state))
    }

    /// Checks the origin and runs the authentication hook.
    pub(crate) async fn admit(
        &self,
        route: &Route,
        request: &Arc<UpgradeRequest>,
    ) -> Result<Admission, (&'static str, crate::Rejection)> {
        if !route.options.origin_allowed(request.origin()) {
            return Err(("origin", crate::Rejection::new(403, "origin not allowed")));
        }
        match &route.options.auth {
            Some(auth) => auth(Arc::clone(request)).await.map_err(|r| ("auth", r)),
            None => Ok(Admission::new()),
        }
    }

    /// Runs an upgraded connection of `route` until it ends.
    ///
    /// The connection is registered at once; the future drives it. Every idle connection
    /// holds this future, so it holds the driver once and little else (see `task.rs`).
    pub(crate) fn run<S>(
        &self,
        ws: WebSocket<S>,
        route: &Arc<Route>,
        request: UpgradeRequest,
        state: http::Extensions,
    ) -> Run<S>
    where
        S: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        let conn = Connection {
            shared: Arc::new(Shared {
                id: ConnectionId::random(),
                route: Arc::clone(route),
                request,
                protocol: ws.protocol().map(Box::from),
                compressed: ws.is_compressed(),
                state: 0.into(),
                queue: std::sync::Mutex::new(Queue::default()),
                waker: Default::default(),
                changed: Notify::new(),
                hangup: false.into(),
                data: std::sync::Mutex::new(state),
            }),
        };
        // Open before anyone can see it: a `Connection` is never `Connecting`.
        conn.set_state(ReadyState::Open);
        let live = Live::enter(&self.inner);
        write(&self.inner.registry).insert(conn.clone());
        self.inner.metrics.opened();
        tracing::info!(
            id = %conn.id(),
            peer = %Peer(conn.request().peer_addr()),
            path = conn.path(),
            "connection opened"
        );
        let _ = self.inner.events.send(HubEvent::Received {
            id: conn.id().clone(),
            path: route.path.to_string(),
        });
        if self.inner.shutdown.is_cancelled() {
            conn.close(CloseCode::GOING_AWAY, "server shutting down");
        }
        let driver = Driver::new(ws, conn, Arc::clone(&self.inner), &route.options);
        Run::new(driver, live)
    }

    /// Cleans up after a connection: registry, counters, events, then `on_close`.
    pub(crate) async fn finish(&self, conn: &Connection, outcome: Outcome) {
        // Out of the registry first: whoever sees `Closed` sees no name or group left.
        write(&self.inner.registry).remove(conn.id());
        conn.set_state(ReadyState::Closed);
        self.inner.metrics.closed(outcome.code);
        tracing::info!(
            id = %conn.id(),
            peer = %Peer(conn.request().peer_addr()),
            path = conn.path(),
            code = u16::from(outcome.code),
            reason = &*outcome.reason,
            clean = outcome.clean,
            "connection closed"
        );
        if self.inner.shutdown.is_cancelled() {
            let counter = if outcome.clean {
                &self.inner.clean_closes
            } else {
                &self.inner.forced_closes
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self.inner.events.send(HubEvent::Closed {
            id: conn.id().clone(),
            code: outcome.code,
            reason: outcome.reason.to_string(),
        });
        let service = Arc::clone(&conn.shared.route.service);
        let on_close = service.dispatch(
            conn.clone(),
            Event::Close(outcome.code, outcome.reason.into()),
        );
        if on_close.await.is_err() {
            tracing::warn!(id = %conn.id(), "on_close handler panicked");
        }
        conn.shared.changed.notify_waiters();
    }

    // ----- shutdown -----

    /// Shuts down gracefully: stops accepting, sends 1001 to every connection, waits up to
    /// `drain` for the closing handshakes, then drops the rest without a close frame. Returns
    /// how many closed cleanly and how many were dropped.
    pub async fn shutdown(&self, drain: Duration) -> ShutdownReport {
        self.inner.shutdown.cancel();
        for conn in self.connections(None) {
            conn.close(CloseCode::GOING_AWAY, "server shutting down");
        }
        let deadline = tokio::time::Instant::now() + drain;
        if !self.wait_drained(Some(deadline)).await {
            for conn in self.connections(None) {
                conn.hangup();
            }
            self.wait_drained(None).await;
        }
        ShutdownReport {
            clean: self.inner.clean_closes.load(Ordering::Relaxed),
            forced: self.inner.forced_closes.load(Ordering::Relaxed),
        }
    }

    /// Whether [`shutdown`](Self::shutdown) has begun.
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// A future that resolves when [`shutdown`](Self::shutdown) begins.
    pub async fn shutting_down(&self) {
        self.inner.shutdown.cancelled().await;
    }

    /// Waits until no connection is left; false if `deadline` passed first.
    async fn wait_drained(&self, deadline: Option<tokio::time::Instant>) -> bool {
        loop {
            let drained = self.inner.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.inner.live.load(Ordering::SeqCst) == 0 {
                return true;
            }
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, drained).await.is_err() {
                        return self.inner.live.load(Ordering::SeqCst) == 0;
                    }
                }
                None => drained.await,
            }
        }
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("paths", &self.paths())
            .field("connections", &self.connection_count())
            .finish_non_exhaustive()
    }
}

/// Joins a base path and an upgrade path, as Ballerina's `@http:BasePath("/test")` with
/// `@ws:WebSocketUpgradePath("/websocket")` serves `/test/websocket`.
///
/// # Example
/// ```
/// assert_eq!(wskit_hub::join_path("/test", "/websocket"), "/test/websocket");
/// assert_eq!(wskit_hub::join_path("/test/", "websocket"), "/test/websocket");
/// assert_eq!(wskit_hub::join_path("", ""), "/");
/// ```
#[doc(alias = "WebSocketUpgradePath")]
#[doc(alias = "BasePath")]
#[must_use]
pub fn join_path(base: &str, upgrade: &str) -> String {
    let base = base.trim_end_matches('/');
    let upgrade = upgrade.trim_start_matches('/');
    let joined = format!("{base}/{upgrade}");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
}

// Every critical section of these locks is a few map updates that cannot panic halfway in a
// way that breaks the maps' invariants, so a poisoned lock is used as is.
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl HubInner {
    /// Reports a failed connection on the event stream.
    pub(crate) fn event_failed(&self, conn: &Connection, err: &wskit::Error) {
        let _ = self.events.send(HubEvent::Failed {
            id: conn.id().clone(),
            error: err.to_string(),
        });
    }
}

/// A peer address in log lines: the address, or `-` when unknown.
struct Peer(Option<SocketAddr>);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Quiet;

    impl Service for Quiet {}

    /// Every idle connection holds its task's future: the handshake's state must not stay in
    /// it (it is boxed), nor the arguments of `run` next to the driver that took them over,
    /// and the driver keeps what only some connections need out of line.
    #[tokio::test]
    async fn a_connection_task_holds_the_driver_and_little_else() {
        let hub = Hub::new();
        hub.register("/x", Quiet, ServiceOptions::default())
            .unwrap();
        let route = hub.route("/x").unwrap();
        let (listener, addr) = wskit_support::listen().await;
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let accept = hub.accept(stream, None);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let ws = WebSocket::from_parts(
            stream,
            wskit::proto::Connection::server(wskit::proto::Config::default(), None),
            bytes::BytesMut::new(),
            wskit::Config::default(),
            None,
        );
        let driver = size_of::<Driver<tokio::net::TcpStream>>();
        let run = hub.run(
            ws,
            &route,
            UpgradeRequest::new("/x", http::HeaderMap::new(), None),
            http::Extensions::new(),
        );
        let (run, accept) = (size_of_val(&run), size_of_val(&accept));
        // Measured (release build): driver 376, run 384, accept 384 bytes; a debug build
        // takes 8 more. Before (release): driver 528, and as `async` blocks run 704, accept
        // 736, in a task of 1,024 bytes.
        assert!(run <= driver + 8, "run: {run}, driver: {driver}");
        assert!(accept <= run, "accept: {accept}, run: {run}");
        // Tokio adds 96 bytes to the future (header, scheduler, task id, trailer) and rounds
        // the task up to a multiple of 128 (x86_64): up to 416 bytes, the task of a
        // `Hub::serve` connection is 512.
        assert!(accept <= 416, "accept: {accept}");
    }
}
