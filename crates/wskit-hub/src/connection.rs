//! The connection handle: what services and the registry hold of one WebSocket connection.
//!
//! A [`Connection`] is an `Arc` around the state shared with the connection's driver task.
//! Sends go into a queue bounded in bytes, and the driver moves them into the socket as fast
//! as the peer reads; a broadcast to an idle plain-TCP connection is written into its socket
//! at once instead (see `direct.rs`). When the queue is full, the service's
//! [`Backpressure`] policy decides: wait for room, drop the message, or close the connection.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::sync::{Notify, oneshot};
use wskit::proto::EncodedMessage;
use wskit::{CloseCode, CloseFrame, Message};

use crate::direct::Writer;
use crate::error::SendError;
use crate::hub::{Hub, Route};
use crate::id::ConnectionId;
use crate::options::Backpressure;
use crate::request::UpgradeRequest;

/// The state of a connection, as browsers name it.
///
/// A [`Connection`] is handed out (to a service, by the registry, in events) only once its
/// opening handshake has succeeded, so [`Connection::ready_state`] starts at `Open` and never
/// returns `Connecting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[doc(alias = "readyState")]
#[doc(alias = "ready-state")]
pub enum ReadyState {
    /// The opening handshake is under way. Never returned by [`Connection::ready_state`]: the
    /// state is here so that the four match the browser's `readyState`.
    Connecting,
    /// Messages flow both ways.
    Open,
    /// A close frame was sent or received, or a hang-up was requested.
    Closing,
    /// The connection has ended.
    Closed,
}

/// A handle to one WebSocket connection: cheap to clone, usable from any task.
///
/// It sends text, binary and pings, closes with a code and reason or hangs up without a close
/// frame, and tells the connection's id, state, subprotocol and upgrade request. Typed state
/// for the application rides along ([`insert`](Self::insert), [`get`](Self::get)).
///
/// # Example
/// ```no_run
/// # async fn run(conn: wskit_hub::Connection) -> Result<(), wskit_hub::SendError> {
/// conn.send_text("welcome").await?;
/// conn.insert(String::from("alice"));
/// let name: Option<String> = conn.get();
/// conn.close(wskit::CloseCode::NORMAL, "bye");
/// # Ok(()) }
/// ```
#[doc(alias = "WebSocketClient")]
#[derive(Clone)]
pub struct Connection {
    pub(crate) shared: Arc<Shared>,
}

/// State shared by a connection's handles and its driver. Every open connection has one, so
/// what is the same for all the connections of a service stays in the service's [`Route`]
/// (path, backpressure policy and bound, the service itself, the hub).
pub(crate) struct Shared {
    pub(crate) id: ConnectionId,
    pub(crate) route: Arc<Route>,
    pub(crate) request: UpgradeRequest,
    pub(crate) protocol: Option<Box<str>>,
    pub(crate) compressed: bool,
    pub(crate) state: AtomicU8,
    pub(crate) queue: Mutex<Queue>,
    /// Wakes the driver when something is queued.
    pub(crate) waker: AtomicWaker,
    /// Wakes senders waiting for room in the queue, when the driver has freed some, and every
    /// waiter ([`Connection::closed`] and those senders) when the connection has ended.
    pub(crate) changed: Notify,
    pub(crate) hangup: AtomicBool,
    pub(crate) data: Mutex<http::Extensions>,
}

/// The outgoing queue.
#[derive(Default)]
pub(crate) struct Queue {
    pub(crate) items: VecDeque<Outgoing>,
    /// Payload bytes of the data messages in `items`.
    pub(crate) bytes: usize,
    /// No more sends are taken (a close was queued, or the connection ended).
    pub(crate) closed: bool,
    /// The socket, for direct writes (plain TCP connections without compression; see
    /// `direct.rs`): here only while the driver that owns the socket lives.
    pub(crate) writer: Option<Writer>,
    /// The driver is parked with nothing queued and nothing half written, so whoever holds
    /// this lock may write a whole frame to `writer`. Cleared by the driver, under this lock,
    /// before it writes again.
    pub(crate) parked: bool,
}

impl Queue {
    /// The socket, when a fan-out may write a whole frame into it now: the driver is parked
    /// with nothing queued and nothing half written (see `direct.rs`).
    pub(crate) fn direct_writer(&self) -> Option<&Writer> {
        if self.parked && self.items.is_empty() && !self.closed {
            self.writer.as_ref()
        } else {
            None
        }
    }
}

/// One thing for the driver to do.
pub(crate) enum Outgoing {
    Message(Message),
    Encoded(EncodedMessage),
    /// The rest of a frame whose start a direct write put in the socket: it goes out before
    /// anything else.
    Rest(Bytes),
    Ping(Bytes, Option<oneshot::Sender<Duration>>),
    Close(CloseFrame),
    /// [`Connection::close_now`]: this close frame, then the end of the connection without
    /// waiting for the peer's. Always last in the queue, behind at most a [`Self::Rest`].
    Drop(CloseFrame),
}

impl Outgoing {
    /// What the item counts against the queue's bound: payload bytes of data messages.
    pub(crate) fn cost(&self) -> usize {
        match self {
            Self::Message(msg) => msg.as_payload().len(),
            Self::Encoded(msg) => msg.frame().len(),
            Self::Rest(bytes) => bytes.len(),
            Self::Ping(..) | Self::Close(_) | Self::Drop(_) => 0,
        }
    }
}

/// A close frame for `code` and `reason`: a code that may not be sent (1005, 1006, 1015, below
/// 1000) becomes 1000, the reason is cut to 123 bytes at a character boundary.
fn sendable(code: CloseCode, reason: &str) -> CloseFrame {
    let code = if code.is_sendable() {
        code
    } else {
        CloseCode::NORMAL
    };
    let mut end = reason.len().min(CloseFrame::MAX_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame::new(code, &reason[..end])
}

const CONNECTING: u8 = 0;
const OPEN: u8 = 1;
const CLOSING: u8 = 2;
const CLOSED: u8 = 3;

// ===== impl Connection =====

impl Connection {
    /// The connection's id: unique, stable for the connection's life.
    #[must_use]
    pub fn id(&self) -> &ConnectionId {
        &self.shared.id
    }

    /// The path of the service the connection belongs to.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.shared.route.path
    }

    /// The upgrade request: path, query, headers and peer address.
    #[must_use]
    pub fn request(&self) -> &UpgradeRequest {
        &self.shared.request
    }

    /// The subprotocol selected in the handshake.
    #[must_use]
    pub fn protocol(&self) -> Option<&str> {
        self.shared.protocol.as_deref()
    }

    /// The negotiated extensions: `["permessage-deflate"]` or none.
    #[must_use]
    pub fn extensions(&self) -> &'static [&'static str] {
        if self.shared.compressed {
            &["permessage-deflate"]
        } else {
            &[]
        }
    }

    /// The protocol version: always 13 (RFC 6455).
    #[must_use]
    pub fn version(&self) -> u8 {
        13
    }

    /// The connection's state: `Open`, then `Closing` once a close was sent, received or
    /// asked for, then `Closed`. Never [`ReadyState::Connecting`]: the handshake is done.
    #[must_use]
    #[doc(alias = "readyState")]
    #[doc(alias = "ready-state")]
    pub fn ready_state(&self) -> ReadyState {
        match self.shared.state.load(Ordering::Acquire) {
            CONNECTING => ReadyState::Connecting,
            OPEN => ReadyState::Open,
            CLOSING => ReadyState::Closing,
            _ => ReadyState::Closed,
        }
    }

    /// Whether the connection is open.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.ready_state() == ReadyState::Open
    }

    /// The hub the connection belongs to, while it runs.
    #[must_use]
    pub fn hub(&self) -> Option<Hub> {
        self.shared.route.hub.upgrade().map(Hub::from_inner)
    }

    /// Sends a text message, waiting for room under [`Backpressure::Wait`].
    ///
    /// # Errors
    /// As [`send`](Self::send).
    #[doc(alias = "pushText")]
    #[doc(alias = "pusText")]
    #[doc(alias = "send-text")]
    pub async fn send_text(&self, text: impl Into<wskit::Utf8Bytes>) -> Result<(), SendError> {
        self.send(Message::Text(text.into())).await
    }

    /// Sends a binary message, waiting for room under [`Backpressure::Wait`].
    ///
    /// # Errors
    /// As [`send`](Self::send).
    #[doc(alias = "send-binary")]
    pub async fn send_binary(&self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.send(Message::Binary(data.into())).await
    }

    /// Queues a message for the connection. When the outgoing queue is full, the service's
    /// [`Backpressure`] policy applies: `Wait` waits for room, `Drop` drops the message and
    /// returns [`SendError::Full`], `Close` closes the connection and returns
    /// [`SendError::Closed`]. Returns once the message is queued, not when it is written.
    ///
    /// # Errors
    /// [`SendError::Closed`] when the connection is closing or closed, [`SendError::Full`] as
    /// above.
    pub async fn send(&self, msg: Message) -> Result<(), SendError> {
        // The common case takes no waiter registration: only a full queue (under `Wait`) does,
        // and it retries once registered, so room freed in between is not missed.
        let mut item = match self.push(Outgoing::Message(msg), Overflow::Policy) {
            Ok(()) => return Ok(()),
            Err((SendError::Full, Some(back))) => back,
            Err((err, _)) => return Err(err),
        };
        loop {
            let room = self.shared.changed.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.push(item, Overflow::Policy) {
                Ok(()) => return Ok(()),
                Err((SendError::Full, Some(back))) => {
                    item = back;
                    room.await;
                }
                Err((err, _)) => return Err(err),
            }
        }
    }

    /// Queues a message without waiting. A full queue is [`SendError::Full`] (counted as a
    /// drop) under `Wait` and `Drop`; under `Close` the connection is closed.
    ///
    /// # Errors
    /// [`SendError::Closed`] or [`SendError::Full`].
    pub fn try_send(&self, msg: Message) -> Result<(), SendError> {
        self.push(Outgoing::Message(msg), Overflow::NoWait)
            .map_err(|(err, _)| err)
    }

    /// Queues a frame encoded once for many connections (see [`Hub::broadcast`]); a full queue
    /// is handled as by [`try_send`](Self::try_send).
    ///
    /// # Errors
    /// As [`try_send`](Self::try_send).
    pub fn try_send_encoded(&self, msg: &EncodedMessage) -> Result<(), SendError> {
        self.send_encoded_now(msg).map(drop)
    }

    /// As [`try_send_encoded`](Self::try_send_encoded); true when the frame went straight
    /// into the socket (the driver was parked with nothing queued), false when it was queued.
    pub(crate) fn send_encoded_now(&self, msg: &EncodedMessage) -> Result<bool, SendError> {
        let queue = self.lock_queue();
        let sent = queue
            .direct_writer()
            .map(|writer| writer.try_send(msg.frame()));
        self.finish_send(queue, msg, sent)
    }

    /// Ends a delivery of `msg`, under the queue's lock: `sent` is what a direct write of its
    /// frame into the socket returned (`None`: there was none, so the frame is queued). True
    /// when the frame, or its start, went into the socket.
    pub(crate) fn finish_send(
        &self,
        mut queue: MutexGuard<'_, Queue>,
        msg: &EncodedMessage,
        sent: Option<std::io::Result<usize>>,
    ) -> Result<bool, SendError> {
        let frame = msg.frame();
        match sent {
            Some(Ok(n)) if n == frame.len() => return Ok(true),
            Some(Ok(n)) => {
                // The socket took part of the frame: the rest goes first, by the driver, which
                // writes again from here on.
                queue.parked = false;
                let rest = frame.slice(n..);
                queue.bytes += rest.len();
                queue.items.push_back(Outgoing::Rest(rest));
                drop(queue);
                self.shared.waker.wake();
                return Ok(true);
            }
            Some(Err(err)) if crate::direct::outcome_unknown(&err) => {
                // Part of the frame may be in the socket: the stream cannot go on.
                tracing::warn!(id = %self.id(), %err, "dropping the connection");
                drop(queue);
                self.hangup();
                return Err(SendError::Closed);
            }
            // Full socket buffer, or an error the driver will meet on its own write: queue it
            // as usual.
            Some(Err(_)) => queue.parked = false,
            None => {}
        }
        // Under the same lock: one acquisition per queued delivery.
        self.push_locked(queue, Outgoing::Encoded(msg.clone()), Overflow::NoWait)
            .map(|()| false)
            .map_err(|(err, _)| err)
    }

    /// Sends a ping with `payload` (at most 125 bytes, longer is cut) and returns a future for
    /// the round-trip time, resolved when the matching pong arrives.
    ///
    /// # Errors
    /// [`SendError::Closed`] when the connection is closing or closes before the pong.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(conn: wskit_hub::Connection) -> Result<(), wskit_hub::SendError> {
    /// let rtt = conn.ping("are you there?").await?;
    /// println!("round trip: {rtt:?}");
    /// # Ok(()) }
    /// ```
    #[doc(alias = "send-ping")]
    pub async fn ping(&self, payload: impl Into<Bytes>) -> Result<Duration, SendError> {
        let mut payload: Bytes = payload.into();
        payload.truncate(125);
        let (tx, rx) = oneshot::channel();
        self.push(Outgoing::Ping(payload, Some(tx)), Overflow::NoWait)
            .map_err(|(err, _)| err)?;
        rx.await.map_err(|_| SendError::Closed)
    }

    /// Closes the connection: messages already queued are sent, then a close frame with `code`
    /// and `reason` (cut to 123 bytes at a character boundary); the connection ends when the
    /// peer answers or the close timeout passes. Later sends fail with [`SendError::Closed`].
    /// Codes that may not be sent (1005, 1006, 1015, below 1000) are replaced by 1000.
    #[doc(alias = "close-connection")]
    pub fn close(&self, code: CloseCode, reason: &str) {
        let _ = self.push(Outgoing::Close(sendable(code, reason)), Overflow::NoWait);
    }

    /// Closes the connection forcefully: sends a close frame with `code` and `reason` (as
    /// [`close`](Self::close) takes them), then drops the connection at once, without waiting
    /// for the peer's close frame (Kitura's `drop(reason:description:)`). Messages still
    /// queued are discarded; the close frame goes out as far as the socket takes it without
    /// waiting. `on_close` reports `code` and `reason`.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(conn: wskit_hub::Connection) {
    /// conn.close_now(wskit::CloseCode::POLICY_VIOLATION, "too many requests");
    /// # }
    /// ```
    #[doc(alias = "drop")]
    pub fn close_now(&self, code: CloseCode, reason: &str) {
        let frame = sendable(code, reason);
        let mut queue = self.lock_queue();
        // The rest of a frame a direct write started must go first, or the stream breaks.
        let rest = match queue.items.front() {
            Some(Outgoing::Rest(_)) => queue.items.pop_front(),
            _ => None,
        };
        queue.items.clear();
        queue.bytes = rest.as_ref().map_or(0, Outgoing::cost);
        queue.items.extend(rest);
        queue.items.push_back(Outgoing::Drop(frame));
        queue.closed = true;
        drop(queue);
        // The driver takes the frame out of the queue when it sees the flag.
        self.shared.hangup.store(true, Ordering::Release);
        self.set_state(ReadyState::Closing);
        // Senders waiting for room find the queue closed.
        self.shared.changed.notify_waiters();
        self.shared.waker.wake();
    }

    /// Drops the connection at once, without a close frame (the peer sees code 1006).
    /// Queued messages are discarded. [`close_now`](Self::close_now) sends a close frame
    /// first.
    pub fn hangup(&self) {
        self.shared.hangup.store(true, Ordering::Release);
        self.lock_queue().closed = true;
        self.set_state(ReadyState::Closing);
        self.shared.waker.wake();
    }

    /// Waits until the connection has ended.
    pub async fn closed(&self) {
        loop {
            let ended = self.shared.changed.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.ready_state() == ReadyState::Closed {
                return;
            }
            ended.await;
        }
    }

    /// How many payload bytes wait in the outgoing queue.
    #[must_use]
    pub fn queued_bytes(&self) -> usize {
        self.lock_queue().bytes
    }

    /// Stores typed state for the application, replacing a value of the same type.
    pub fn insert<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        self.lock_data().insert(value)
    }

    /// A copy of the typed state of type `T`, if any.
    #[must_use]
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.lock_data().get::<T>().cloned()
    }

    /// Runs `f` on the typed state of type `T` (inserting `T::default()` first if absent).
    pub fn with<T, R>(&self, f: impl FnOnce(&mut T) -> R) -> R
    where
        T: Clone + Default + Send + Sync + 'static,
    {
        let mut data = self.lock_data();
        f(data.get_or_insert_default::<T>())
    }

    /// Removes and returns the typed state of type `T`.
    pub fn remove<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.lock_data().remove::<T>()
    }

    /// Queues `item`, applying the backpressure policy on overflow. On `Full` under `Wait`,
    /// the item is handed back so that the caller can wait and retry.
    fn push(
        &self,
        item: Outgoing,
        overflow: Overflow,
    ) -> Result<(), (SendError, Option<Outgoing>)> {
        self.push_locked(self.lock_queue(), item, overflow)
    }

    /// [`push`](Self::push) with the queue's lock already held.
    fn push_locked(
        &self,
        mut queue: MutexGuard<'_, Queue>,
        item: Outgoing,
        overflow: Overflow,
    ) -> Result<(), (SendError, Option<Outgoing>)> {
        let cost = item.cost();
        if queue.closed {
            return Err((SendError::Closed, None));
        }
        let options = &self.shared.route.options;
        let full = cost > 0 && queue.bytes > 0 && queue.bytes + cost > options.max_queued;
        if full {
            let wait = overflow == Overflow::Policy && options.backpressure == Backpressure::Wait;
            if !wait {
                self.count_drop();
            }
            return match options.backpressure {
                Backpressure::Close(code) => {
                    queue.closed = true;
                    queue.items.push_back(Outgoing::Close(CloseFrame::new(
                        code,
                        "outgoing queue full: the client reads too slowly",
                    )));
                    drop(queue);
                    self.set_state(ReadyState::Closing);
                    self.shared.waker.wake();
                    Err((SendError::Closed, None))
                }
                Backpressure::Wait if wait => Err((SendError::Full, Some(item))),
                Backpressure::Wait | Backpressure::Drop => Err((SendError::Full, None)),
            };
        }
        if let Outgoing::Close(_) = item {
            queue.closed = true;
            self.set_state(ReadyState::Closing);
        }
        queue.bytes += cost;
        queue.items.push_back(item);
        drop(queue);
        self.shared.waker.wake();
        Ok(())
    }

    fn count_drop(&self) {
        if let Some(hub) = self.shared.route.hub.upgrade() {
            hub.metrics.dropped();
        }
    }

    pub(crate) fn set_state(&self, state: ReadyState) {
        let value = match state {
            ReadyState::Connecting => CONNECTING,
            ReadyState::Open => OPEN,
            ReadyState::Closing => CLOSING,
            ReadyState::Closed => CLOSED,
        };
        // States only move forward.
        self.shared.state.fetch_max(value, Ordering::AcqRel);
    }

    pub(crate) fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue inconsistent (every critical
        // section is a few field updates), so a poisoned lock is used as is.
        self.shared
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The queue's lock if no one holds it now (the batched fan-out holds many at once, so it
    /// never waits for one; see `fanout.rs`).
    pub(crate) fn try_lock_queue(&self) -> Option<MutexGuard<'_, Queue>> {
        match self.shared.queue.try_lock() {
            Ok(queue) => Some(queue),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    fn lock_data(&self) -> MutexGuard<'_, http::Extensions> {
        self.shared
            .data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether a send may wait for room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Policy,
    NoWait,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.shared.id)
            .field("path", &self.path())
            .field("state", &self.ready_state())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Connection {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for Connection {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every open connection has one, in an `Arc` (16 bytes more): what all the connections
    /// of a service share stays in its route, the request is kept as text, one `Notify` serves
    /// every waiter, the id is in place.
    #[test]
    fn the_shared_state_of_a_connection_is_small() {
        // Measured: 272 bytes with the id in place (before: 400, with the request as a
        // `HeaderMap` and the id in an allocation of its own).
        assert!(size_of::<Shared>() <= 272, "{}", size_of::<Shared>());
    }
}
