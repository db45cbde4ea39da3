//! Counters of the hub, kept as atomics (read by [`Hub::stats`](crate::Hub::stats)) and
//! reported through the `metrics` facade, so that any exporter (Prometheus, say) sees them.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `wskit_connections_open` | gauge | |
//! | `wskit_connections_accepted_total` | counter | |
//! | `wskit_connections_rejected_total` | counter | `reason` |
//! | `wskit_messages_received_total`, `wskit_bytes_received_total` | counter | |
//! | `wskit_messages_sent_total`, `wskit_bytes_sent_total` | counter | |
//! | `wskit_closes_total` | counter | `code` |
//! | `wskit_backpressure_drops_total` | counter | |
//! | `wskit_broker_publish_failures_total` | counter | |
//! | `wskit_broker_reconnects_total` | counter | |
//! | `wskit_broker_messages_received_total` | counter | |
//! | `wskit_broker_connected` | gauge (0 or 1) | |
//! | `wskit_delivery_duration_seconds` | histogram | |
//!
//! Each has a description and a unit (see [`describe`]), which an exporter shows as the
//! metric's `HELP` line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use metrics::{Counter, Gauge, Unit};
use wskit::CloseCode;

/// The name of the delivery latency histogram (see [`delivered`]).
const DELIVERY: &str = "wskit_delivery_duration_seconds";

/// Describes every metric of the hub (description and unit) to the recorder installed now.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        "wskit_connections_open",
        Unit::Count,
        "WebSocket connections open now."
    );
    describe_counter!(
        "wskit_connections_accepted_total",
        Unit::Count,
        "WebSocket connections accepted (upgraded) since the start."
    );
    describe_counter!(
        "wskit_connections_rejected_total",
        Unit::Count,
        "Upgrade requests refused, by reason (not_found, not_upgrade, origin, auth, \
         bad_request, timeout)."
    );
    describe_counter!(
        "wskit_messages_received_total",
        Unit::Count,
        "Text and binary messages received from clients."
    );
    describe_counter!(
        "wskit_bytes_received_total",
        Unit::Bytes,
        "Payload bytes of the text and binary messages received from clients."
    );
    describe_counter!(
        "wskit_messages_sent_total",
        Unit::Count,
        "Text and binary messages written to clients."
    );
    describe_counter!(
        "wskit_bytes_sent_total",
        Unit::Bytes,
        "Payload bytes of the text and binary messages written to clients."
    );
    describe_counter!(
        "wskit_closes_total",
        Unit::Count,
        "Connections ended, by close code (1006: ended without a close frame)."
    );
    describe_counter!(
        "wskit_backpressure_drops_total",
        Unit::Count,
        "Messages dropped because a client's outgoing queue was full."
    );
    describe_counter!(
        "wskit_broker_publish_failures_total",
        Unit::Count,
        "Messages that could not be published to the other nodes (broker down or its queue \
         full)."
    );
    describe_counter!(
        "wskit_broker_reconnects_total",
        Unit::Count,
        "Reconnections of the broker after a loss."
    );
    describe_counter!(
        "wskit_broker_messages_received_total",
        Unit::Count,
        "Messages received from other nodes through the broker."
    );
    describe_gauge!(
        "wskit_broker_connected",
        Unit::Count,
        "1 while the broker is connected, 0 while it is down."
    );
    describe_histogram!(
        DELIVERY,
        Unit::Seconds,
        "Time to hand a broadcast or group message to every local recipient (written into \
         its socket or queued for it)."
    );
}

/// Records the delivery latency of a fan-out that began at `started`.
pub(crate) fn delivered(started: Instant) {
    metrics::histogram!(DELIVERY).record(started.elapsed().as_secs_f64());
}

/// A snapshot of the hub's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections open now.
    pub connections_open: u64,
    /// Connections accepted since the start.
    pub connections_accepted: u64,
    /// Upgrades rejected (unknown path, origin, authentication, bad request).
    pub connections_rejected: u64,
    /// Text and binary messages received.
    pub messages_received: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Text and binary messages sent.
    pub messages_sent: u64,
    /// Bytes of those messages sent.
    pub bytes_sent: u64,
    /// Messages dropped by backpressure.
    pub dropped: u64,
    /// Messages that could not be published to the other nodes (the broker was down or its
    /// queue full); see [`broker`](crate::broker).
    pub broker_publish_failures: u64,
    /// Reconnections of the broker after a loss.
    pub broker_reconnects: u64,
    /// Messages received from other nodes through the broker.
    pub broker_messages_received: u64,
}

#[derive(Debug)]
pub(crate) struct Metrics {
    open: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    dropped: AtomicU64,
    broker_failed: AtomicU64,
    broker_reconnects: AtomicU64,
    broker_received: AtomicU64,
    m_open: Gauge,
    m_accepted: Counter,
    m_messages_in: Counter,
    m_bytes_in: Counter,
    m_messages_out: Counter,
    m_bytes_out: Counter,
    m_dropped: Counter,
    m_broker_failed: Counter,
    m_broker_reconnects: Counter,
    m_broker_received: Counter,
    m_broker_connected: Gauge,
}

impl Metrics {
    /// Registers the metrics with the recorder installed now.
    pub(crate) fn new() -> Self {
        describe();
        Self {
            open: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            messages_in: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            broker_failed: AtomicU64::new(0),
            broker_reconnects: AtomicU64::new(0),
            broker_received: AtomicU64::new(0),
            m_open: metrics::gauge!("wskit_connections_open"),
            m_accepted: metrics::counter!("wskit_connections_accepted_total"),
            m_messages_in: metrics::counter!("wskit_messages_received_total"),
            m_bytes_in: metrics::counter!("wskit_bytes_received_total"),
            m_messages_out: metrics::counter!("wskit_messages_sent_total"),
            m_bytes_out: metrics::counter!("wskit_bytes_sent_total"),
            m_dropped: metrics::counter!("wskit_backpressure_drops_total"),
            m_broker_failed: metrics::counter!("wskit_broker_publish_failures_total"),
            m_broker_reconnects: metrics::counter!("wskit_broker_reconnects_total"),
            m_broker_received: metrics::counter!("wskit_broker_messages_received_total"),
            m_broker_connected: metrics::gauge!("wskit_broker_connected"),
        }
    }

    pub(crate) fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.m_open.increment(1.0);
        self.m_accepted.increment(1);
    }

    pub(crate) fn closed(&self, code: CloseCode) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.m_open.decrement(1.0);
        metrics::counter!("wskit_closes_total", "code" => u16::from(code).to_string()).increment(1);
    }

    pub(crate) fn rejected(&self, reason: &'static str) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("wskit_connections_rejected_total", "reason" => reason).increment(1);
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        self.m_messages_in.increment(1);
        self.m_bytes_in.increment(bytes as u64);
    }

    /// Counts `messages` data messages of `bytes` payload bytes in all, sent together (the
    /// driver counts each batch it writes once, not each message).
    pub(crate) fn sent(&self, messages: u64, bytes: u64) {
        if messages == 0 {
            return;
        }
        self.messages_out.fetch_add(messages, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        self.m_messages_out.increment(messages);
        self.m_bytes_out.increment(bytes);
    }

    pub(crate) fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.m_dropped.increment(1);
    }

    pub(crate) fn broker_publish_failures(&self, n: u64) {
        self.broker_failed.fetch_add(n, Ordering::Relaxed);
        self.m_broker_failed.increment(n);
    }

    pub(crate) fn broker_reconnect(&self) {
        self.broker_reconnects.fetch_add(1, Ordering::Relaxed);
        self.m_broker_reconnects.increment(1);
    }

    pub(crate) fn broker_received(&self) {
        self.broker_received.fetch_add(1, Ordering::Relaxed);
        self.m_broker_received.increment(1);
    }

    pub(crate) fn broker_connected(&self, connected: bool) {
        self.m_broker_connected
            .set(if connected { 1.0 } else { 0.0 });
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            connections_open: self.open.load(Ordering::Relaxed),
            connections_accepted: self.accepted.load(Ordering::Relaxed),
            connections_rejected: self.rejected.load(Ordering::Relaxed),
            messages_received: self.messages_in.load(Ordering::Relaxed),
            bytes_received: self.bytes_in.load(Ordering::Relaxed),
            messages_sent: self.messages_out.load(Ordering::Relaxed),
            bytes_sent: self.bytes_out.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            broker_publish_failures: self.broker_failed.load(Ordering::Relaxed),
            broker_reconnects: self.broker_reconnects.load(Ordering::Relaxed),
            broker_messages_received: self.broker_received.load(Ordering::Relaxed),
        }
    }
}
