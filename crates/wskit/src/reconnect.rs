//! A client that stays connected: it reconnects with exponential backoff after a failed
//! connect, a dropped connection or a missed heartbeat, and queues messages sent while it is
//! not connected (tower's `reconnect`, with an async API).
//!
//! The design (one background task, the queue, delivery) is documented on
//! [`ReconnectingClient`].
//!
//! # Example
//! ```no_run
//! # async fn run() -> Result<(), wskit::Error> {
//! use std::time::Duration;
//! use wskit::{Backoff, Client, CloseCode, Event, Message, ReconnectingClient};
//!
//! let (client, mut events) = ReconnectingClient::builder(Client::new("ws://127.0.0.1:9001/"))
//!     .backoff(Backoff::default().max_delay(Duration::from_secs(10)))
//!     .heartbeat(Duration::from_secs(20), Duration::from_secs(5))
//!     .on_connect(|ws| Box::pin(async move { ws.send(Message::text("subscribe")).await }))
//!     .spawn();
//! tokio::spawn(async move {
//!     while let Some(event) = events.recv().await {
//!         println!("{event:?}");
//!     }
//! });
//! client.send(Message::text("hello")).await?; // queued until connected
//! let reply = client.recv().await?;
//! client.close(CloseCode::NORMAL, "done").await?;
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_sink::Sink;
use proto::{CloseCode, CloseFrame, Message};
use rand::Rng;
use tokio::sync::{Notify, broadcast, mpsc, oneshot};
use tokio::time::Instant;

use crate::client::Client;
use crate::error::Error;
use crate::heartbeat::{Beat, Heartbeat};
use crate::stream::MaybeTlsStream;
use crate::websocket::{ReadyState, WebSocket};

/// The future an [on-connect hook](ReconnectBuilder::on_connect) returns.
pub type OnConnectFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>>;

/// How long to wait before each reconnection attempt, and when to give up.
///
/// The attempt after `n - 1` failed ones (`n` counting from 1) waits a random delay in
/// `[0, min(max_delay, initial_delay × factorⁿ⁻¹)]` ("full jitter", so that clients dropped
/// together do not come back together), or exactly that ceiling with jitter off. The count
/// starts again after every successful connection.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use wskit::Backoff;
///
/// let backoff = Backoff::default()
///     .initial_delay(Duration::from_millis(50))
///     .max_delay(Duration::from_secs(5))
///     .max_attempts(10);
/// assert_eq!(backoff.ceiling(1), Duration::from_millis(50));
/// assert_eq!(backoff.ceiling(3), Duration::from_millis(200));
/// assert_eq!(backoff.ceiling(20), Duration::from_secs(5));
/// assert!(backoff.delay(3) <= Duration::from_millis(200));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    initial_delay: Duration,
    factor: f64,
    max_delay: Duration,
    jitter: bool,
    max_attempts: Option<u32>,
    give_up_after: Option<Duration>,
}

/// What happened to a [`ReconnectingClient`]'s connection.
///
/// # Example
/// ```no_run
/// # async fn run(mut events: wskit::Events) {
/// use wskit::Event;
///
/// while let Some(event) = events.recv().await {
///     match event {
///         Event::Connected => println!("connected"),
///         Event::Disconnected { reason } => println!("disconnected: {reason:?}"),
///         Event::ConnectFailed { attempt, error } => println!("attempt {attempt}: {error}"),
///         Event::Retrying { attempt, delay } => println!("retry {attempt} in {delay:?}"),
///         Event::GaveUp => println!("gave up"),
///         _ => {}
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A connection is open and the on-connect hook has run; queued messages go out next.
    Connected,
    /// The open connection ended. Unless the reason is [`DisconnectReason::Requested`],
    /// [`Retrying`](Self::Retrying) (or [`GaveUp`](Self::GaveUp)) follows.
    Disconnected {
        /// Why it ended.
        reason: DisconnectReason,
    },
    /// A connection attempt failed (TCP, TLS, proxy, handshake or the on-connect hook).
    ConnectFailed {
        /// The attempt: 0 for the first connect, then as in [`Retrying`](Self::Retrying).
        attempt: u32,
        /// What went wrong.
        error: Arc<Error>,
    },
    /// The next connection attempt starts after `delay`.
    Retrying {
        /// The attempt, counting from 1 since the last connection (or the first connect).
        attempt: u32,
        /// How long the client waits before it.
        delay: Duration,
    },
    /// The [`Backoff`] limit was reached (or the URL is invalid): the client stopped for
    /// good. `send` and `recv` now fail with [`Error::GaveUp`]. Always the last event.
    GaveUp,
}

/// Why a connection of a [`ReconnectingClient`] ended.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server closed the connection with this close frame (`None`: a close frame
    /// without a code).
    PeerClosed(Option<CloseFrame>),
    /// Reading or writing failed, or the server dropped the connection without a close
    /// frame ([`Error::AbnormalClose`]).
    Failed(Arc<Error>),
    /// No pong came within the heartbeat's timeout ([`ReconnectBuilder::heartbeat`]); the
    /// connection was dropped.
    PongMissed,
    /// [`ReconnectingClient::close`] was called or the client was dropped; no reconnection
    /// follows.
    Requested,
}

/// A subscription to a [`ReconnectingClient`]'s [`Event`]s.
///
/// It holds up to 256 events not yet received; a subscriber that falls further behind
/// loses the oldest, counted by [`missed`](Self::missed).
///
/// # Example
/// ```no_run
/// # async fn run(mut events: wskit::Events) {
/// while let Some(event) = events.recv().await {
///     println!("{event:?}");
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Events {
    rx: broadcast::Receiver<Event>,
    missed: u64,
}

/// Settings of a [`ReconnectingClient`]; a by-value builder from
/// [`ReconnectingClient::builder`].
///
/// # Example
/// ```no_run
/// # async fn run() {
/// use std::time::Duration;
/// use wskit::{Backoff, Client, ReconnectingClient};
///
/// let (client, events) = ReconnectingClient::builder(Client::new("ws://127.0.0.1:9001/"))
///     .backoff(Backoff::default().give_up_after(Duration::from_secs(300)))
///     .max_queued_messages(100)
///     .spawn();
/// # }
/// ```
#[must_use = "call spawn to start the client"]
pub struct ReconnectBuilder {
    client: Client,
    backoff: Backoff,
    heartbeat: Option<(Duration, Duration)>,
    app_data: Bytes,
    on_control: Option<ControlHook>,
    on_ping: Option<PingHook>,
    max_queued_messages: usize,
    max_queued_bytes: usize,
    receive_buffer: usize,
    on_connect: Option<OnConnect>,
}

/// What [`ReconnectBuilder::on_control`] calls with every ping and pong received.
type ControlHook = Arc<dyn Fn(&Message) + Send + Sync>;

/// What [`ReconnectBuilder::ping_handler`] calls with every ping: the pong to send, if any.
type PingHook = Arc<dyn Fn(&Bytes) -> Option<Bytes> + Send + Sync>;

/// A WebSocket client that reconnects by itself, built with [`ReconnectingClient::builder`].
///
/// # Design
///
/// [`ReconnectBuilder::spawn`] starts a background task that owns the connection; the
/// [`ReconnectingClient`] handle talks to it:
///
/// - **Outgoing**: [`send`](ReconnectingClient::send) and
///   [`try_send`](ReconnectingClient::try_send) push onto one bounded, ordered queue shared with
///   the task (a mutex never held across an `.await`, and a `Notify` each way). While connected,
///   the task moves queued messages into the connection as fast as the transport takes them;
///   while disconnected or connecting they wait there and are sent, in order, once the next
///   connection is open and the [on-connect hook](ReconnectBuilder::on_connect) has run (a
///   browser's WebSocket refuses sends before `open`; websocket-driver queues them, as we do).
///   When the queue is full, `send` waits for room while connected (backpressure) and fails
///   with [`Error::QueueFull`] while not: a message is never dropped silently.
/// - **Incoming**: text and binary messages go through a bounded channel to
///   [`recv`](ReconnectingClient::recv), across reconnections. Pings are answered by the
///   connection, pongs feed the heartbeat, and a close from the server is reported as
///   [`DisconnectReason::PeerClosed`]. While the channel is full the task stops reading the
///   socket (backpressure to the server); with a heartbeat on, a stall longer than the pong
///   timeout then counts as a missed pong.
/// - **Events**: [`Event`]s go to every [`Events`] subscriber (a broadcast channel).
/// - **Commands**: [`close`](ReconnectingClient::close) asks the task to send what is queued,
///   close the connection and stop. Dropping the handle closes with 1001 (going away).
///
/// The task's life, by the events it emits:
///
/// ```text
/// connect --ok--> Connected --lost--> Disconnected --> Retrying --> connect ...
///    |                |
///    |                +--close()--> Disconnected { Requested }   (stops)
///    +--failed--> ConnectFailed --> Retrying --> connect ...
///
/// instead of a Retrying over the Backoff limits, or after an invalid URL: GaveUp (stops)
/// ```
///
/// # Delivery
///
/// Messages are sent at most once, in the order queued. A message is taken off the queue when
/// it is handed to a connection; if that connection then drops, the message may or may not
/// have reached the server, and it is not sent again. Applications that need every message
/// delivered acknowledge them at their level and resend from the on-connect hook.
///
/// # Sharing
/// All methods take `&self`, so the handle can be shared (in an `Arc`) between a sending and
/// a receiving task. Dropping it closes the connection (1001) and stops the background task.
///
/// # Cancel safety
/// [`recv`](Self::recv) is cancel safe. [`send`](Self::send) is too: when its future is
/// dropped, the message was either queued or dropped with it.
///
/// # Example
/// ```no_run
/// # async fn run() -> Result<(), wskit::Error> {
/// use wskit::{Client, CloseCode, Message, ReconnectingClient};
///
/// let (client, _events) = ReconnectingClient::builder(Client::new("ws://127.0.0.1:9001/")).spawn();
/// client.send(Message::text("hello")).await?;
/// println!("{:?}", client.recv().await?);
/// client.close(CloseCode::NORMAL, "").await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ReconnectingClient {
    shared: Arc<Shared>,
    incoming: tokio::sync::Mutex<mpsc::Receiver<Message>>,
    commands: mpsc::Sender<CloseRequest>,
}

// ===== impl Backoff =====

impl Backoff {
    /// The default policy: 100 ms, doubling, at most 30 s, full jitter, never giving up.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The ceiling of the first delay. Default: 100 ms.
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// What each ceiling is multiplied by for the next attempt; values below 1 (and NaN)
    /// count as 1. Default: 2.
    #[must_use]
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = if factor >= 1.0 { factor } else { 1.0 };
        self
    }

    /// The largest ceiling. Default: 30 s.
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Whether each delay is random in `[0, ceiling]` (full jitter) rather than the ceiling
    /// itself. Default: on.
    #[must_use]
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Gives up after this many reconnection attempts in a row have failed (0: never
    /// reconnect). Default: no limit.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Gives up rather than start an attempt later than this after the connection was lost
    /// (or the first connect began). Default: no limit.
    #[must_use]
    pub fn give_up_after(mut self, limit: Duration) -> Self {
        self.give_up_after = Some(limit);
        self
    }

    /// The largest delay before attempt `attempt` (counting from 1):
    /// `min(max_delay, initial_delay × factor^(attempt − 1))`.
    #[must_use]
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial_delay.as_secs_f64() * self.factor.powi(exponent);
        // Also catches an infinite product.
        if secs < self.max_delay.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            self.max_delay
        }
    }

    /// The delay before attempt `attempt` (counting from 1): random in
    /// `[0, ceiling(attempt)]` with jitter, else the ceiling.
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, &mut rand::rng())
    }

    /// [`delay`](Self::delay) with the randomness from `rng`.
    fn delay_with<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let ceiling = self.ceiling(attempt);
        if !self.jitter {
            return ceiling;
        }
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=nanos))
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(100),
            factor: 2.0,
            max_delay: Duration::from_secs(30),
            jitter: true,
            max_attempts: None,
            give_up_after: None,
        }
    }
}

// ===== impl Events =====

impl Events {
    /// The next event; `None` once the client has stopped (after
    /// [`Disconnected { reason: Requested }`](DisconnectReason::Requested) or
    /// [`GaveUp`](Event::GaveUp)) and every event was received.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            match self.rx.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(n)) => self.missed += n,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// How many events this subscriber lost by falling more than 256 behind.
    #[must_use]
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// A second subscription, receiving the events from now on.
    #[must_use]
    pub fn resubscribe(&self) -> Self {
        Self {
            rx: self.rx.resubscribe(),
            missed: 0,
        }
    }
}

// ===== impl ReconnectBuilder =====

impl ReconnectBuilder {
    /// When to retry and when to give up. Default: [`Backoff::default`].
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sends a ping every `interval` and drops the connection (then reconnects) when its pong
    /// does not come within `timeout`, using [`Heartbeat`]. Default: off.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.heartbeat = Some((interval, timeout));
        self
    }

    /// Application data at the start of every heartbeat ping ([`Heartbeat::app_data`]).
    /// Default: none.
    ///
    /// # Errors
    /// [`Error::Usage`] when it is longer than [`MAX_APP_DATA`](crate::MAX_APP_DATA).
    pub fn heartbeat_app_data(mut self, data: impl Into<Bytes>) -> Result<Self, Error> {
        let data = data.into();
        // Checked here, so each connection's heartbeat takes it without an error.
        Heartbeat::new(Duration::from_secs(1)).app_data(data.clone())?;
        self.app_data = data;
        Ok(self)
    }

    /// Calls `hook` with every ping and pong received (pings are answered by the connection
    /// either way; pongs also count for the heartbeat). It runs on the client's task: it must
    /// not block. Default: none.
    pub fn on_control(mut self, hook: impl Fn(&Message) + Send + Sync + 'static) -> Self {
        self.on_control = Some(Arc::new(hook));
        self
    }

    /// Answers every ping with what `handler` returns, in place of the automatic pong with the
    /// ping's own data (SwaggerSocket's `PingHdlr`): `Some(data)` sends a pong with `data`,
    /// `None` sends none. RFC 6455 §5.5.2 requires every ping to be answered, so `None` is for
    /// peers that expect it. It runs on the client's task: it must not block. Default: none
    /// (every ping is answered with its own data).
    #[doc(alias = "PingHdlr")]
    pub fn ping_handler(
        mut self,
        handler: impl Fn(&Bytes) -> Option<Bytes> + Send + Sync + 'static,
    ) -> Self {
        self.on_ping = Some(Arc::new(handler));
        self
    }

    /// How many messages the send queue holds. Default: 1024.
    pub fn max_queued_messages(mut self, messages: usize) -> Self {
        self.max_queued_messages = messages.max(1);
        self
    }

    /// How many payload bytes the send queue holds; a single message larger than this is
    /// still queued when the queue is empty. Default: 16 MiB.
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued_bytes = bytes;
        self
    }

    /// How many received messages wait for [`ReconnectingClient::recv`] before the client
    /// stops reading the socket. Default: 256.
    pub fn receive_buffer(mut self, messages: usize) -> Self {
        self.receive_buffer = messages.max(1);
        self
    }

    /// Runs `hook` on every fresh connection, before [`Event::Connected`] and before queued
    /// messages are sent: re-subscribe, re-authenticate. Messages it receives are its own.
    /// An error from it counts as a failed connect (the connection is dropped and retried).
    /// It runs without a deadline: wrap what it awaits from the server in
    /// `tokio::time::timeout`. Default: none.
    ///
    /// # Example
    /// ```no_run
    /// use wskit::{Client, Message, ReconnectingClient};
    ///
    /// # async fn run() {
    /// let (client, _events) = ReconnectingClient::builder(Client::new("ws://127.0.0.1:9001/"))
    ///     .on_connect(|ws| {
    ///         Box::pin(async move {
    ///             ws.send(Message::text(r#"{"auth":"token"}"#)).await?;
    ///             let _welcome = ws.recv_text().await?;
    ///             Ok(())
    ///         })
    ///     })
    ///     .spawn();
    /// # }
    /// ```
    pub fn on_connect<F>(mut self, hook: F) -> Self
    where
        F: for<'a> FnMut(&'a mut WebSocket<MaybeTlsStream>) -> OnConnectFuture<'a> + Send + 'static,
    {
        self.on_connect = Some(Box::new(hook));
        self
    }

    /// Starts the background task, which connects at once; returns the handle and the first
    /// subscription to its events.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn(self) -> (ReconnectingClient, Events) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                status: Status::Connecting,
            }),
            queued: Notify::new(),
            room: Notify::new(),
            max_messages: self.max_queued_messages,
            max_bytes: self.max_queued_bytes,
        });
        let (incoming_tx, incoming_rx) = mpsc::channel(self.receive_buffer);
        let (commands_tx, commands_rx) = mpsc::channel(1);
        let (events_tx, events_rx) = broadcast::channel(EVENT_CAPACITY);
        let task = Task {
            client: self.client,
            backoff: self.backoff,
            heartbeat: self.heartbeat,
            app_data: self.app_data,
            on_control: self.on_control,
            on_ping: self.on_ping,
            hook: self.on_connect,
            commands: commands_rx,
            link: Link {
                shared: shared.clone(),
                incoming: incoming_tx,
                events: events_tx,
            },
        };
        tokio::spawn(task.run());
        let client = ReconnectingClient {
            shared,
            incoming: tokio::sync::Mutex::new(incoming_rx),
            commands: commands_tx,
        };
        let events = Events {
            rx: events_rx,
            missed: 0,
        };
        (client, events)
    }
}

impl fmt::Debug for ReconnectBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconnectBuilder")
            .field("client", &self.client)
            .field("backoff", &self.backoff)
            .field("heartbeat", &self.heartbeat)
            .field("app_data", &self.app_data)
            .field("on_control", &self.on_control.is_some())
            .field("ping_handler", &self.on_ping.is_some())
            .field("max_queued_messages", &self.max_queued_messages)
            .field("max_queued_bytes", &self.max_queued_bytes)
            .field("receive_buffer", &self.receive_buffer)
            .field("on_connect", &self.on_connect.is_some())
            .finish()
    }
}

// ===== impl ReconnectingClient =====

impl ReconnectingClient {
    /// Settings for a reconnecting client that connects with `client` (URL, headers, TLS,
    /// proxy, limits).
    ///
    /// # Example
    /// ```no_run
    /// # async fn run() {
    /// let client = wskit::Client::new("wss://example.com/feed").origin("https://example.com");
    /// let (client, events) = wskit::ReconnectingClient::builder(client).spawn();
    /// # }
    /// ```
    pub fn builder(client: Client) -> ReconnectBuilder {
        ReconnectBuilder {
            client,
            backoff: Backoff::default(),
            heartbeat: None,
            app_data: Bytes::new(),
            on_control: None,
            on_ping: None,
            max_queued_messages: 1024,
            max_queued_bytes: 16 << 20,
            receive_buffer: 256,
            on_connect: None,
        }
    }

    /// Queues `msg` for sending, in order with the messages queued before it.
    ///
    /// While connected, waits for room in the queue if it is full. While connecting or
    /// disconnected, the message waits in the queue for the next connection, and a full queue
    /// is an error.
    ///
    /// # Errors
    /// [`Error::QueueFull`] while not connected and the queue is full; [`Error::Closed`] after
    /// [`close`](Self::close); [`Error::GaveUp`] after the client gave up;
    /// [`Error::Usage`] for a ping or pong payload over 125 bytes; [`Error::Unexpected`] for a
    /// close message (use [`close`](Self::close)).
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(client: &wskit::ReconnectingClient) -> Result<(), wskit::Error> {
    /// match client.send(wskit::Message::text("tick")).await {
    ///     Err(wskit::Error::QueueFull) => println!("offline and the queue is full: dropped"),
    ///     other => other?,
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn send(&self, msg: Message) -> Result<(), Error> {
        check(&msg)?;
        let mut msg = msg;
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            // Registered before the check, so a pop between the check and the await wakes us.
            room.as_mut().enable();
            match self.shared.push(msg, true)? {
                None => return Ok(()),
                Some(back) => msg = back,
            }
            room.await;
        }
    }

    /// Queues `msg` without waiting: like [`send`](Self::send), but a full queue is an error
    /// even while connected.
    ///
    /// # Errors
    /// [`Error::QueueFull`] when the queue is full, and the other errors of
    /// [`send`](Self::send).
    ///
    /// # Example
    /// ```no_run
    /// # fn run(client: &wskit::ReconnectingClient) -> Result<(), wskit::Error> {
    /// client.try_send(wskit::Message::text("position 12,40"))?;
    /// # Ok(()) }
    /// ```
    pub fn try_send(&self, msg: Message) -> Result<(), Error> {
        check(&msg)?;
        match self.shared.push(msg, false)? {
            None => Ok(()),
            Some(_) => Err(Error::QueueFull),
        }
    }

    /// Receives the next text or binary message, from whichever connection it came.
    ///
    /// # Errors
    /// Once every message received was returned: [`Error::Closed`] after
    /// [`close`](Self::close), [`Error::GaveUp`] after the client gave up.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(client: &wskit::ReconnectingClient) {
    /// while let Ok(msg) = client.recv().await {
    ///     println!("{msg:?}");
    /// }
    /// # }
    /// ```
    pub async fn recv(&self) -> Result<Message, Error> {
        let mut incoming = self.incoming.lock().await;
        match incoming.recv().await {
            Some(msg) => Ok(msg),
            None => Err(self.shared.lock().status.end_error()),
        }
    }

    /// Sends what is queued (if connected), closes the connection with `code` and `reason`,
    /// and stops reconnecting. When not connected, queued messages are dropped. Returns once
    /// the background task has stopped.
    ///
    /// # Errors
    /// As [`WebSocket::close`], for the connection open at the time. Closing a client that
    /// already stopped succeeds.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(client: wskit::ReconnectingClient) -> Result<(), wskit::Error> {
    /// client.close(wskit::CloseCode::NORMAL, "bye").await?;
    /// # Ok(()) }
    /// ```
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let (done, result) = oneshot::channel();
        let request = CloseRequest {
            frame: CloseFrame::new(code, reason),
            done: Some(done),
        };
        if self.commands.send(request).await.is_err() {
            return Ok(());
        }
        result.await.unwrap_or(Ok(()))
    }

    /// Whether a connection is open right now.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(client: &wskit::ReconnectingClient) {
    /// println!("online: {}", client.is_connected());
    /// # }
    /// ```
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.shared.lock().status == Status::Connected
    }

    /// How many messages wait in the send queue.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(client: &wskit::ReconnectingClient) {
    /// println!("{} messages wait for a connection", client.queued());
    /// # }
    /// ```
    #[must_use]
    pub fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }
}

// ===== private: the queue shared by the handle and the task =====

type OnConnect = Box<
    dyn for<'a> FnMut(&'a mut WebSocket<MaybeTlsStream>) -> OnConnectFuture<'a> + Send + 'static,
>;

/// The send queue and status, shared by the handle and the task.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the task: a message was queued.
    queued: Notify,
    /// Wakes waiting senders: a message left the queue, or the status changed.
    room: Notify,
    max_messages: usize,
    max_bytes: usize,
}

#[derive(Debug)]
struct State {
    queue: VecDeque<Message>,
    /// The payload bytes in `queue`.
    bytes: usize,
    status: Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Connecting,
    Connected,
    /// `close` was called (or the handle dropped): no more sends.
    Closed,
    GaveUp,
}

impl Status {
    /// The error of a send or receive after the task stopped.
    fn end_error(self) -> Error {
        match self {
            Self::GaveUp => Error::GaveUp,
            Self::Connecting | Self::Connected | Self::Closed => Error::Closed,
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves the queue consistent (every critical section
        // is a few field updates), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `msg`; gives it back when the queue is full, connected and `wait` is set.
    fn push(&self, msg: Message, wait: bool) -> Result<Option<Message>, Error> {
        let mut state = self.lock();
        match state.status {
            Status::Closed | Status::GaveUp => return Err(state.status.end_error()),
            Status::Connecting | Status::Connected => {}
        }
        let len = msg.as_payload().len();
        let fits = state.queue.is_empty()
            || (state.queue.len() < self.max_messages
                && state.bytes.saturating_add(len) <= self.max_bytes);
        if !fits {
            return if wait && state.status == Status::Connected {
                Ok(Some(msg))
            } else {
                Err(Error::QueueFull)
            };
        }
        state.bytes += len;
        state.queue.push_back(msg);
        drop(state);
        self.queued.notify_one();
        Ok(None)
    }

    /// Takes the oldest queued message.
    fn pop(&self) -> Option<Message> {
        let mut state = self.lock();
        let msg = state.queue.pop_front()?;
        state.bytes -= msg.as_payload().len();
        drop(state);
        self.room.notify_waiters();
        Some(msg)
    }

    /// Puts back a message [`pop`](Self::pop) took, at the front.
    fn unpop(&self, msg: Message) {
        let mut state = self.lock();
        state.bytes += msg.as_payload().len();
        state.queue.push_front(msg);
    }

    fn is_empty(&self) -> bool {
        self.lock().queue.is_empty()
    }

    fn set_status(&self, status: Status) {
        let mut state = self.lock();
        state.status = status;
        if status == Status::GaveUp {
            state.queue.clear();
            state.bytes = 0;
        }
        drop(state);
        // Senders waiting for room re-check: while not connected, a full queue is an error.
        self.room.notify_waiters();
    }
}

/// Refuses messages that could never be sent.
fn check(msg: &Message) -> Result<(), Error> {
    match msg {
        Message::Close(_) => Err(Error::Unexpected("close", "text, binary, ping or pong")),
        Message::Ping(data) | Message::Pong(data) if data.len() > 125 => Err(Error::Usage(
            proto::Error::ControlPayloadTooLarge(data.len()),
        )),
        _ => Ok(()),
    }
}

// ===== private: the background task =====

/// A request to close, from [`ReconnectingClient::close`] (`done` set) or from dropping it.
#[derive(Debug)]
struct CloseRequest {
    frame: CloseFrame,
    done: Option<oneshot::Sender<Result<(), Error>>>,
}

impl CloseRequest {
    /// What the task does when the handle is gone.
    fn going_away() -> Self {
        Self {
            frame: CloseFrame::new(CloseCode::GOING_AWAY, ""),
            done: None,
        }
    }

    fn reply(self, result: Result<(), Error>) {
        if let Some(done) = self.done {
            let _ = done.send(result);
        }
    }
}

/// The task's ends of the channels to the handle.
#[derive(Debug)]
struct Link {
    shared: Arc<Shared>,
    incoming: mpsc::Sender<Message>,
    events: broadcast::Sender<Event>,
}

impl Link {
    fn emit(&self, event: Event) {
        tracing::debug!(?event, "reconnecting client");
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }
}

/// The background task: owns the settings and, while connected, the connection.
struct Task {
    client: Client,
    backoff: Backoff,
    heartbeat: Option<(Duration, Duration)>,
    app_data: Bytes,
    on_control: Option<ControlHook>,
    on_ping: Option<PingHook>,
    hook: Option<OnConnect>,
    commands: mpsc::Receiver<CloseRequest>,
    link: Link,
}

/// The heartbeat and control-frame settings [`serve`] uses.
struct Control<'a> {
    heartbeat: Option<(Duration, Duration)>,
    app_data: &'a Bytes,
    hook: Option<&'a ControlHook>,
    /// Answers pings in place of the automatic pong.
    on_ping: Option<&'a PingHook>,
}

/// How serving one connection ended.
enum Ended {
    /// The connection was lost: reconnect.
    Lost(DisconnectReason),
    /// A close was requested and done: stop.
    Closed,
}

/// One step of a connected client.
enum Step {
    Received(Message),
    Failed(Error),
    /// The connection ended cleanly (`recv` returned `None`).
    Finished,
}

impl Task {
    async fn run(self) {
        let Self {
            client,
            backoff,
            heartbeat,
            app_data,
            on_control,
            on_ping,
            mut hook,
            mut commands,
            link,
        } = self;
        // Reconnection attempts since the last connection (0: the first connect).
        let mut attempt: u32 = 0;
        let mut down_since = Instant::now();
        loop {
            link.shared.set_status(Status::Connecting);
            let opened = tokio::select! {
                opened = open(&client, &mut hook) => opened,
                request = commands.recv() => {
                    let request = request.unwrap_or_else(CloseRequest::going_away);
                    stop(&link, request, Ok(()));
                    return;
                }
            };
            match opened {
                Ok(ws) => {
                    attempt = 0;
                    link.shared.set_status(Status::Connected);
                    link.emit(Event::Connected);
                    let control = Control {
                        heartbeat,
                        app_data: &app_data,
                        hook: on_control.as_ref(),
                        on_ping: on_ping.as_ref(),
                    };
                    match serve(ws, control, &link, &mut commands).await {
                        Ended::Lost(reason) => {
                            link.shared.set_status(Status::Connecting);
                            link.emit(Event::Disconnected { reason });
                            down_since = Instant::now();
                        }
                        Ended::Closed => return,
                    }
                }
                Err(error) => {
                    let fatal = matches!(error, Error::Url(_));
                    link.emit(Event::ConnectFailed {
                        attempt,
                        error: Arc::new(error),
                    });
                    if fatal {
                        give_up(&link);
                        return;
                    }
                }
            }

            attempt = attempt.saturating_add(1);
            let delay = backoff.delay(attempt);
            let over_attempts = backoff.max_attempts.is_some_and(|max| attempt > max);
            let over_time = backoff
                .give_up_after
                .is_some_and(|limit| down_since.elapsed() + delay > limit);
            if over_attempts || over_time {
                give_up(&link);
                return;
            }
            link.emit(Event::Retrying { attempt, delay });
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                request = commands.recv() => {
                    let request = request.unwrap_or_else(CloseRequest::going_away);
                    stop(&link, request, Ok(()));
                    return;
                }
            }
        }
    }
}

/// Connects and runs the on-connect hook.
async fn open(
    client: &Client,
    hook: &mut Option<OnConnect>,
) -> Result<WebSocket<MaybeTlsStream>, Error> {
    let (mut ws, _) = client.connect().await?;
    if let Some(hook) = hook {
        hook(&mut ws).await?;
    }
    Ok(ws)
}

/// Serves one connection: sends the queue, forwards what comes, keeps the heartbeat, until
/// the connection is lost or a close is requested.
async fn serve(
    mut ws: WebSocket<MaybeTlsStream>,
    control: Control<'_>,
    link: &Link,
    commands: &mut mpsc::Receiver<CloseRequest>,
) -> Ended {
    let mut heartbeat = control.heartbeat.map(|(interval, timeout)| {
        let heartbeat = Heartbeat::new(interval).timeout(timeout);
        // The data was checked by `heartbeat_app_data`.
        heartbeat
            .app_data(control.app_data.clone())
            .unwrap_or_else(|_| Heartbeat::new(interval).timeout(timeout))
    });
    let mut peer_close = None;
    if control.on_ping.is_some() {
        ws.set_auto_pong(false);
    }
    loop {
        tokio::select! {
            step = poll_fn(|cx| poll_step(&mut ws, &link.shared, cx)) => match step {
                Step::Received(msg) => match msg {
                    Message::Text(_) | Message::Binary(_) => {
                        // Wait for room in the receive buffer, but stay responsive to close.
                        tokio::select! {
                            // An error means the handle is gone; its close request follows.
                            _ = link.incoming.send(msg) => {}
                            request = commands.recv() => {
                                return close(ws, link, request).await;
                            }
                        }
                    }
                    Message::Pong(data) => {
                        if let Some(heartbeat) = &mut heartbeat {
                            heartbeat.pong(&data);
                        }
                        if let Some(hook) = control.hook {
                            hook(&Message::Pong(data));
                        }
                    }
                    // Answered by the connection, or by the ping handler.
                    Message::Ping(data) => {
                        let pong = control.on_ping.and_then(|handler| handler(&data));
                        if let Some(pong) = pong {
                            if let Err(err) = Pin::new(&mut ws).start_send(Message::Pong(pong)) {
                                return Ended::Lost(DisconnectReason::Failed(Arc::new(err)));
                            }
                        }
                        if let Some(hook) = control.hook {
                            hook(&Message::Ping(data));
                        }
                    }
                    // The connection answers it; `recv` ends once the server closes TCP.
                    Message::Close(frame) => peer_close = Some(frame),
                },
                Step::Failed(err) => {
                    return Ended::Lost(DisconnectReason::Failed(Arc::new(err)));
                }
                Step::Finished => {
                    let frame = peer_close.flatten().or_else(|| ws.peer_close().cloned());
                    return Ended::Lost(DisconnectReason::PeerClosed(frame));
                }
            },
            () = link.shared.queued.notified() => {}
            beat = tick(&mut heartbeat) => match beat {
                // After the server's close frame, only the end of the connection is awaited.
                Beat::Ping(_) if ws.ready_state() != ReadyState::Open => {}
                Beat::Ping(payload) => {
                    if let Err(err) = Pin::new(&mut ws).start_send(Message::Ping(payload)) {
                        return Ended::Lost(DisconnectReason::Failed(Arc::new(err)));
                    }
                }
                // The peer or the path is gone: drop the connection without a close.
                Beat::Missed => return Ended::Lost(DisconnectReason::PongMissed),
            },
            request = commands.recv() => return close(ws, link, request).await,
        }
    }
}

/// Moves queued messages into the connection while its write buffer has room, writes, and
/// reads the next message.
fn poll_step(
    ws: &mut WebSocket<MaybeTlsStream>,
    shared: &Shared,
    cx: &mut Context<'_>,
) -> Poll<Step> {
    while ws.ready_state() == ReadyState::Open && !shared.is_empty() {
        match Pin::new(&mut *ws).poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(err)) => return Poll::Ready(Step::Failed(err)),
            Poll::Pending => break,
        }
        let Some(msg) = shared.pop() else { break };
        if let Err(err) = Pin::new(&mut *ws).start_send(msg.clone()) {
            // Messages were checked when queued, so only the state can refuse them: keep
            // this one for the next connection.
            shared.unpop(msg);
            return Poll::Ready(Step::Failed(err));
        }
    }
    if let Poll::Ready(Err(err)) = Pin::new(&mut *ws).poll_flush(cx) {
        return Poll::Ready(Step::Failed(err));
    }
    ws.poll_recv(cx).map(|msg| match msg {
        Some(Ok(msg)) => Step::Received(msg),
        Some(Err(err)) => Step::Failed(err),
        None => Step::Finished,
    })
}

/// The heartbeat's next beat; never, without a heartbeat.
async fn tick(heartbeat: &mut Option<Heartbeat>) -> Beat {
    match heartbeat {
        Some(heartbeat) => heartbeat.tick().await,
        None => std::future::pending().await,
    }
}

/// Sends the queue, closes the connection as requested and stops.
async fn close(
    mut ws: WebSocket<MaybeTlsStream>,
    link: &Link,
    request: Option<CloseRequest>,
) -> Ended {
    let request = request.unwrap_or_else(CloseRequest::going_away);
    // New sends now fail with `Closed`; what is queued still goes out.
    link.shared.set_status(Status::Closed);
    let result = async {
        while ws.ready_state() == ReadyState::Open {
            let Some(msg) = link.shared.pop() else { break };
            ws.feed(msg).await?;
        }
        ws.close(request.frame.code, &request.frame.reason).await
    }
    .await;
    stop(link, request, result);
    Ended::Closed
}

/// Stops for good after a close request.
fn stop(link: &Link, request: CloseRequest, result: Result<(), Error>) {
    link.shared.set_status(Status::Closed);
    link.emit(Event::Disconnected {
        reason: DisconnectReason::Requested,
    });
    request.reply(result);
}

/// Stops for good: the backoff limit was reached.
fn give_up(link: &Link) {
    link.shared.set_status(Status::GaveUp);
    link.emit(Event::GaveUp);
}

/// How many events an [`Events`] subscriber may fall behind.
const EVENT_CAPACITY: usize = 256;

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn ceilings_grow_by_the_factor_up_to_the_maximum() {
        let backoff = Backoff::default();
        let ceilings: Vec<_> = (1..=11).map(|n| backoff.ceiling(n)).collect();
        let ms = |ms| Duration::from_millis(ms);
        assert_eq!(
            ceilings,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1600),
                ms(3200),
                ms(6400),
                ms(12_800),
                ms(25_600),
                ms(30_000),
                ms(30_000)
            ]
        );
        assert_eq!(backoff.ceiling(u32::MAX), ms(30_000), "no overflow");
        assert_eq!(Backoff::default().factor(0.5).ceiling(5), ms(100));
        assert_eq!(Backoff::default().factor(f64::NAN).ceiling(5), ms(100));
        let no_jitter = Backoff::default().jitter(false);
        assert_eq!(no_jitter.delay(3), ms(400));
    }

    #[test]
    fn jittered_delays_are_within_their_ceiling_and_repeat_with_the_seed() {
        let backoff = Backoff::default();
        let delays = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (1..=12)
                .map(|n| backoff.delay_with(n, &mut rng))
                .collect::<Vec<_>>()
        };
        let first = delays(7);
        assert_eq!(first, delays(7), "the same seed gives the same sequence");
        assert_ne!(first, delays(8));
        for (n, delay) in (1..).zip(&first) {
            assert!(*delay <= backoff.ceiling(n), "attempt {n}: {delay:?}");
        }
        // Full jitter spreads over the whole range: over many draws, some fall in the lower
        // and some in the upper half of the ceiling.
        let mut rng = StdRng::seed_from_u64(1);
        let ceiling = backoff.ceiling(4);
        let draws: Vec<_> = (0..100).map(|_| backoff.delay_with(4, &mut rng)).collect();
        assert!(draws.iter().any(|d| *d < ceiling / 2));
        assert!(draws.iter().any(|d| *d > ceiling / 2));
    }

    #[test]
    fn the_queue_is_bounded_by_messages_and_bytes() {
        let shared = Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                status: Status::Connecting,
            }),
            queued: Notify::new(),
            room: Notify::new(),
            max_messages: 3,
            max_bytes: 10,
        };
        // One message always fits into an empty queue, however large.
        assert!(matches!(
            shared.push(Message::binary(vec![0; 50]), true),
            Ok(None)
        ));
        assert!(matches!(
            shared.push(Message::text("x"), true),
            Err(Error::QueueFull)
        ));
        assert!(shared.pop().is_some());
        for text in ["aaaa", "bbbb"] {
            assert!(matches!(shared.push(Message::text(text), false), Ok(None)));
        }
        // 8 + 4 bytes is over 10.
        assert!(matches!(
            shared.push(Message::text("cccc"), false),
            Err(Error::QueueFull)
        ));
        assert!(matches!(shared.push(Message::text("cc"), false), Ok(None)));
        // 3 messages.
        assert!(matches!(
            shared.push(Message::text(""), false),
            Err(Error::QueueFull)
        ));
        // Connected, a waiting sender gets its message back instead of an error.
        shared.set_status(Status::Connected);
        assert!(matches!(shared.push(Message::text(""), true), Ok(Some(_))));
        shared.set_status(Status::GaveUp);
        assert!(matches!(
            shared.push(Message::text(""), true),
            Err(Error::GaveUp)
        ));
        assert_eq!(shared.lock().bytes, 0);
    }
}
