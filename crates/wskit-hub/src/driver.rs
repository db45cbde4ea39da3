//! The task that drives one connection: it moves queued messages into the socket, reads
//! messages and hands them to the service one at a time, and runs the heartbeat and idle
//! timers. One task per connection, no protocol decisions here (they are in `wskit-proto`).
//!
//! Order of work in each poll: hang-up; outgoing queue into the socket (as much as the write
//! batch takes, then one vectored write); the running handler; the next event (read-ahead of
//! at most one message while a handler runs, so that its pongs and heartbeats are seen);
//! timers.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};
use wskit::{CloseCode, Message, WebSocket};

use crate::connection::{Connection, Outgoing, ReadyState};
use crate::direct::Writer;
use crate::hub::HubInner;
use crate::options::ServiceOptions;
use crate::service::{Event, Handler, Idle};

/// Encoded bytes the driver puts in the socket's buffer before it writes them out: small
/// messages queued together leave in one system call.
const WRITE_BATCH: usize = 64 * 1024;

/// How a connection ended.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) code: CloseCode,
    pub(crate) reason: Box<str>,
    /// Whether the closing handshake completed (a close frame came from the peer).
    pub(crate) clean: bool,
}

/// The heartbeat of a connection; its interval and timeout are the service's.
struct Heart {
    next_ping: Pin<Box<Sleep>>,
    /// The deadline of the heartbeat ping in flight, whose payload is `counter`.
    awaiting: Option<Pin<Box<Sleep>>>,
    counter: u64,
}

/// What only some connections need: timers, pings of [`Connection::ping`], events queued
/// behind the next one. Every idle connection holds its driver, so these are allocated when
/// first needed (the timers when the service has them).
#[derive(Default)]
struct Extra {
    heart: Option<Heart>,
    /// Fires when nothing arrived for the service's idle timeout.
    idle: Option<Pin<Box<Sleep>>>,
    /// Pings sent for [`Connection::ping`], waiting for their pongs.
    pings: Vec<(Bytes, Instant, oneshot::Sender<Duration>)>,
    /// Events behind [`Driver::next`]: an error or an idle tick behind a message read ahead.
    queued: VecDeque<Event>,
}

/// A timer that fired.
enum Timer {
    /// The heartbeat's ping went unanswered.
    PongOverdue,
    /// Time for a heartbeat ping: this one, or none while the last one is unanswered.
    Ping(Option<Bytes>),
    /// The idle timeout.
    Idle,
}

pub(crate) struct Driver<S> {
    ws: WebSocket<S>,
    conn: Connection,
    hub: Arc<HubInner>,
    handler: Option<Handler>,
    /// The next event for the handler. Messages are read only while no event waits, so this
    /// is the one place most events wait in; the rare ones behind it are in `extra`.
    next: Option<Event>,
    extra: Option<Box<Extra>>,
    /// The socket has finished (closed or failed).
    finished: bool,
    outcome: Option<Outcome>,
    our_close: Option<(CloseCode, Box<str>)>,
    /// The socket takes direct writes (its `Writer` is in the queue).
    direct: bool,
    /// This driver set the queue's `parked` mark and has not cleared it yet.
    parked: bool,
}

impl<S> Driver<S>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    pub(crate) fn new(
        ws: WebSocket<S>,
        conn: Connection,
        hub: Arc<HubInner>,
        options: &ServiceOptions,
    ) -> Self {
        let heart = options.heartbeat.map(|(interval, _)| Heart {
            next_ping: Box::pin(tokio::time::sleep(interval)),
            awaiting: None,
            counter: 0,
        });
        let idle = options
            .idle_timeout
            .map(|timeout| Box::pin(tokio::time::sleep(timeout)));
        let extra = (heart.is_some() || idle.is_some()).then(|| {
            Box::new(Extra {
                heart,
                idle,
                ..Extra::default()
            })
        });
        // Plain TCP without compression: broadcasts may write straight into the socket while
        // this driver sleeps (see `direct.rs`). Compressed connections may need frames of
        // their own.
        let writer = if ws.is_compressed() {
            None
        } else {
            Writer::of(ws.get_ref())
        };
        let direct = writer.is_some();
        conn.lock_queue().writer = writer;
        Self {
            ws,
            conn,
            hub,
            handler: None,
            next: Some(Event::Open),
            extra,
            finished: false,
            outcome: None,
            our_close: None,
            direct,
            parked: false,
        }
    }

    /// Drives the connection until the socket has finished and the last handler returned;
    /// then tells how it ended (once: do not poll it again after that).
    pub(crate) fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        ready!(self.poll_drive(cx));
        self.release_queue();
        // Pings waiting for a pong fail: their senders drop here.
        if let Some(extra) = &mut self.extra {
            extra.pings.clear();
        }
        if let Some(frame) = self.ws.peer_close() {
            // A completed closing handshake: report who started it with what.
            let (code, reason) = match self.our_close.take() {
                Some(ours) => ours,
                None => (frame.code, frame.reason.as_str().into()),
            };
            return Poll::Ready(Outcome {
                code,
                reason,
                clean: true,
            });
        }
        Poll::Ready(
            self.outcome
                .take()
                .unwrap_or_else(|| match self.our_close.take() {
                    Some((code, reason)) => Outcome {
                        code,
                        reason,
                        clean: false,
                    },
                    None => abnormal("connection closed without a close frame"),
                }),
        )
    }

    /// Drops the driver, and with it the socket; returns what the clean-up needs.
    pub(crate) fn into_parts(self) -> (Connection, Arc<HubInner>) {
        (self.conn.clone(), Arc::clone(&self.hub))
    }

    /// Takes no more sends and ends direct writes.
    fn release_queue(&self) {
        let mut queue = self.conn.lock_queue();
        queue.closed = true;
        queue.parked = false;
        queue.writer = None;
    }

    /// Before the task sleeps: allows direct writes (see [`crate::direct`]) when nothing is
    /// queued or half written and the connection is open. Something queued later wakes the
    /// task as usual, and no direct write goes past it.
    fn park(&mut self) {
        let can_park = self.direct
            && !self.finished
            && self.our_close.is_none()
            && self.ws.buffered() == 0
            && self.ws.ready_state() == wskit::ReadyState::Open;
        if can_park {
            let mut queue = self.conn.lock_queue();
            queue.parked = queue.items.is_empty() && queue.writer.is_some();
            // Broadcasts go straight into the socket of a parked driver, so the queue only
            // carries the service's own sends (a greeting, replies): an idle connection gives
            // its buffer back rather than keep it for good. (Connections without direct writes
            // get every broadcast through the queue and keep theirs.)
            if queue.parked && queue.items.capacity() > 0 {
                queue.items = VecDeque::new();
            }
            self.parked = queue.parked;
        }
    }

    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // From here on this task writes: no direct writes until it parks again. (Connections
        // without direct writes never park, so they skip the lock.)
        if self.parked {
            self.conn.lock_queue().parked = false;
            self.parked = false;
        }
        loop {
            if self.conn.shared.hangup.load(Ordering::Acquire) {
                self.cut(cx);
                self.record(abnormal("hung up"));
                self.finished = true;
                self.next = None;
                if let Some(extra) = &mut self.extra {
                    extra.queued.clear();
                }
                // A running handler is dropped with the socket.
                return Poll::Ready(());
            }
            self.conn.shared.waker.register(cx.waker());
            if let Err(err) = self.pump(cx) {
                self.fail(err);
            }

            if let Some(handler) = self.handler.as_mut() {
                if let Poll::Ready(result) = handler.as_mut().poll(cx) {
                    self.handler = None;
                    match result {
                        Err(()) => {
                            tracing::warn!(id = %self.conn.id(), "service handler panicked");
                            self.conn
                                .close(CloseCode::INTERNAL_ERROR, "internal error in the service");
                        }
                        Ok(Some(Idle::Close)) => self.conn.close(CloseCode::NORMAL, "idle timeout"),
                        Ok(Some(Idle::KeepOpen) | None) => {}
                    }
                    continue;
                }
            }
            if self.handler.is_none() {
                if let Some(event) = self.pop_event() {
                    let conn = self.conn.clone();
                    let service = Arc::clone(&self.conn.shared.route.service);
                    self.handler = Some(service.dispatch(conn, event));
                    continue;
                }
            }
            // Read while nothing waits for the handler (so at most one message is read ahead).
            if !self.finished && !self.has_events() {
                match self.ws.poll_recv(cx) {
                    Poll::Ready(Some(Ok(msg))) => {
                        self.received(msg);
                        continue;
                    }
                    Poll::Ready(Some(Err(err))) => {
                        self.fail(err);
                        continue;
                    }
                    Poll::Ready(None) => {
                        self.finished = true;
                        continue;
                    }
                    Poll::Pending => {}
                }
            }
            if self.finished && self.handler.is_none() && !self.has_events() {
                return Poll::Ready(());
            }
            if !self.finished && self.poll_timers(cx) {
                continue;
            }
            self.park();
            return Poll::Pending;
        }
    }

    /// The end of a hang-up. For [`Connection::close_now`], puts its close frame (behind the
    /// rest of a frame a direct write started) into the socket's buffer, unless `pump` already
    /// did, and writes what the socket takes now, without waiting.
    fn cut(&mut self, cx: &mut Context<'_>) {
        let items = std::mem::take(&mut self.conn.lock_queue().items);
        for item in items {
            match item {
                Outgoing::Rest(bytes) => self.ws.queue_raw(bytes),
                Outgoing::Drop(frame) => self.start_drop(&frame),
                _ => {}
            }
        }
        if self.our_close.is_some() {
            let _ = self.ws.poll_flush_outbox(cx);
        }
    }

    /// Queues the close frame of [`Connection::close_now`] and records the outcome it gives.
    fn start_drop(&mut self, frame: &wskit::CloseFrame) {
        // `close_now` made the code and reason sendable: this cannot fail.
        let _ = self.ws.start_close(frame.code, frame.reason.as_str());
        let reason: Box<str> = frame.reason.as_str().into();
        self.our_close = Some((frame.code, reason.clone()));
        self.record(Outcome {
            code: frame.code,
            reason,
            clean: false,
        });
    }

    /// Moves queued messages into the socket and writes them out.
    fn pump(&mut self, cx: &mut Context<'_>) -> Result<(), wskit::Error> {
        if self.finished {
            return Ok(());
        }
        loop {
            let mut freed = 0;
            let mut sent = (0, 0);
            while self.ws.buffered() < WRITE_BATCH {
                let item = {
                    let mut queue = self.conn.lock_queue();
                    let Some(item) = queue.items.pop_front() else {
                        break;
                    };
                    let cost = item.cost();
                    queue.bytes -= cost;
                    freed += cost;
                    item
                };
                if let Some(len) = self.write(item) {
                    sent.0 += 1;
                    sent.1 += len as u64;
                }
            }
            // Counted once per batch: the counters are shared by every connection's task.
            self.hub.metrics.sent(sent.0, sent.1);
            if freed > 0 {
                self.conn.shared.changed.notify_waiters();
            }
            if self.ws.buffered() == 0 {
                return Ok(());
            }
            match self.ws.poll_flush_outbox(cx) {
                Poll::Ready(Ok(())) => {
                    if self.conn.lock_queue().items.is_empty() {
                        return Ok(());
                    }
                }
                Poll::Ready(Err(err)) => return Err(err),
                Poll::Pending => return Ok(()),
            }
        }
    }

    /// Puts one queued item into the socket's buffer; the payload size of a data message put
    /// there, for the counters.
    fn write(&mut self, item: Outgoing) -> Option<usize> {
        // Sends after our close frame fail in the socket; the queue refuses them before that,
        // so errors here only concern messages raced with a close from the peer.
        let result = match item {
            Outgoing::Message(msg) => {
                let len = msg.as_payload().len();
                self.ws.queue(msg).map(|()| Some(len))
            }
            Outgoing::Encoded(msg) => {
                let len = msg.frame().len();
                self.ws.queue_encoded(&msg).map(|()| Some(len))
            }
            Outgoing::Rest(bytes) => {
                self.ws.queue_raw(bytes);
                Ok(None)
            }
            Outgoing::Ping(payload, waiter) => {
                if let Some(waiter) = waiter {
                    let extra = self.extra.get_or_insert_with(Box::default);
                    extra.pings.push((payload.clone(), Instant::now(), waiter));
                }
                self.ws.queue(Message::Ping(payload)).map(|()| None)
            }
            Outgoing::Drop(frame) => {
                // The connection ends at the next turn of `poll_drive`, which sees the hang-up
                // flag `close_now` set after it queued the frame.
                self.start_drop(&frame);
                Ok(None)
            }
            Outgoing::Close(frame) => {
                self.our_close = Some((frame.code, frame.reason.as_str().into()));
                self.ws
                    .start_close(frame.code, frame.reason.as_str())
                    .map(|()| None)
            }
        };
        result.unwrap_or_else(|err| {
            tracing::debug!(id = %self.conn.id(), %err, "queued item not sent");
            None
        })
    }

    /// Handles a message from the peer.
    fn received(&mut self, msg: Message) {
        let timeout = self.conn.shared.route.options.idle_timeout;
        if let (Some(idle), Some(timeout)) = (
            self.extra.as_mut().and_then(|extra| extra.idle.as_mut()),
            timeout,
        ) {
            idle.as_mut().reset(Instant::now() + timeout);
        }
        match msg {
            Message::Text(text) => {
                self.hub.metrics.received(text.len());
                self.push_event(Event::Text(text));
            }
            Message::Binary(data) => {
                self.hub.metrics.received(data.len());
                self.push_event(Event::Binary(data));
            }
            Message::Ping(payload) => self.push_event(Event::Ping(payload)),
            Message::Pong(payload) => {
                self.pong(&payload);
                self.push_event(Event::Pong(payload));
            }
            Message::Close(frame) => {
                if frame.is_none() {
                    self.record(Outcome {
                        code: CloseCode::NO_STATUS,
                        reason: "".into(),
                        clean: true,
                    });
                }
                // The socket answers the close; the connection ends on the next receive.
                self.conn.set_state(ReadyState::Closing);
                self.conn.lock_queue().closed = true;
            }
        }
    }

    /// Matches a pong to the heartbeat and to waiting pings.
    fn pong(&mut self, payload: &Bytes) {
        let Some(extra) = &mut self.extra else {
            return;
        };
        if let Some(heart) = &mut extra.heart {
            if heart.awaiting.is_some() && payload[..] == heart.counter.to_be_bytes() {
                heart.awaiting = None;
            }
        }
        if let Some(i) = extra.pings.iter().position(|(p, _, _)| p == payload) {
            let (_, sent, waiter) = extra.pings.swap_remove(i);
            let _ = waiter.send(sent.elapsed());
        }
    }

    /// Queues an event for the handler, behind those already waiting.
    fn push_event(&mut self, event: Event) {
        match &mut self.extra {
            Some(extra) if !extra.queued.is_empty() => extra.queued.push_back(event),
            _ if self.next.is_none() => self.next = Some(event),
            extra => extra
                .get_or_insert_with(Box::default)
                .queued
                .push_back(event),
        }
    }

    /// The first event waiting for the handler. (`next` is only filled while nothing is
    /// queued behind it, so it always comes first.)
    fn pop_event(&mut self) -> Option<Event> {
        self.next
            .take()
            .or_else(|| self.extra.as_mut()?.queued.pop_front())
    }

    fn has_events(&self) -> bool {
        self.next.is_some()
            || self
                .extra
                .as_ref()
                .is_some_and(|extra| !extra.queued.is_empty())
    }

    /// Records a failure of the socket and queues `on_error`.
    fn fail(&mut self, err: wskit::Error) {
        let outcome = match &err {
            wskit::Error::Protocol(e) => Outcome {
                code: e.close_code(),
                reason: e.to_string().into(),
                clean: false,
            },
            other => abnormal(&other.to_string()),
        };
        self.record(outcome);
        self.hub.event_failed(&self.conn, &err);
        self.conn.set_state(ReadyState::Closing);
        self.conn.lock_queue().closed = true;
        if matches!(
            err,
            wskit::Error::Io(_) | wskit::Error::AbnormalClose | wskit::Error::Timeout(_)
        ) {
            self.finished = true;
        }
        self.push_event(Event::Error(err));
    }

    fn record(&mut self, outcome: Outcome) {
        if self.outcome.is_none() {
            self.outcome = Some(outcome);
        }
    }

    /// Polls the heartbeat and idle timers; true when one fired.
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> bool {
        let options = &self.conn.shared.route.options;
        let Some(timer) = self
            .extra
            .as_mut()
            .and_then(|extra| extra.poll_timers(cx, options))
        else {
            return false;
        };
        match timer {
            Timer::PongOverdue => {
                tracing::debug!(id = %self.conn.id(), "no pong within the heartbeat timeout");
                self.record(abnormal("heartbeat timeout: no pong from the peer"));
                self.conn.hangup();
            }
            Timer::Ping(payload) => {
                if let Some(payload) = payload {
                    if let Err(err) = self.ws.queue(Message::Ping(payload)) {
                        tracing::debug!(id = %self.conn.id(), %err, "heartbeat ping not sent");
                    }
                }
            }
            Timer::Idle => {
                if !self.conn.is_open() {
                    return false;
                }
                self.push_event(Event::Idle);
            }
        }
        true
    }
}

// ===== impl Extra =====

impl Extra {
    /// Polls the heartbeat and idle timers (set up from `options`): the first that fired, if
    /// any.
    fn poll_timers(&mut self, cx: &mut Context<'_>, options: &ServiceOptions) -> Option<Timer> {
        if let (Some(heart), Some((interval, timeout))) = (&mut self.heart, options.heartbeat) {
            if let Some(deadline) = &mut heart.awaiting {
                if deadline.as_mut().poll(cx).is_ready() {
                    return Some(Timer::PongOverdue);
                }
            }
            if heart.next_ping.as_mut().poll(cx).is_ready() {
                let now = Instant::now();
                heart.next_ping.as_mut().reset(now + interval);
                if heart.awaiting.is_some() {
                    return Some(Timer::Ping(None));
                }
                heart.counter += 1;
                heart.awaiting = Some(Box::pin(tokio::time::sleep_until(now + timeout)));
                let payload = Bytes::copy_from_slice(&heart.counter.to_be_bytes());
                return Some(Timer::Ping(Some(payload)));
            }
        }
        if let (Some(idle), Some(timeout)) = (&mut self.idle, options.idle_timeout) {
            if idle.as_mut().poll(cx).is_ready() {
                idle.as_mut().reset(Instant::now() + timeout);
                return Some(Timer::Idle);
            }
        }
        None
    }
}

impl<S> Drop for Driver<S> {
    fn drop(&mut self) {
        // Before the socket (a field) is dropped, and also for a task dropped mid-way (runtime
        // shutdown, a panic): no direct write may reach its descriptor from now on.
        let mut queue = self.conn.lock_queue();
        queue.closed = true;
        queue.parked = false;
        queue.writer = None;
    }
}

fn abnormal(reason: &str) -> Outcome {
    Outcome {
        code: CloseCode::ABNORMAL,
        reason: reason.into(),
        clean: false,
    }
}
