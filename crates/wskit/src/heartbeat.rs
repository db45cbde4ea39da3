//! Pings answered by pongs: a one-shot [`WebSocket::ping_and_wait`] that resolves with the
//! round-trip time, and a [`Heartbeat`] timer for a `tokio::select!` loop the caller owns.
//!
//! RFC 6455 §5.5.3: a pong answers a ping with the same payload ("Application data"); a pong
//! may also come unsolicited, and a peer that gets several pings in a row may answer only the
//! last. Both helpers therefore match a pong to its ping by payload and ignore other pongs.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use proto::Message;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::error::Error;
use crate::websocket::WebSocket;

/// The most application data a [`Heartbeat`] ping carries: 125 bytes of control payload less
/// the 8-byte sequence number that tells its pong apart.
pub const MAX_APP_DATA: usize = 125 - 8;

// ===== impl WebSocket (ping and wait) =====

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Sends a ping with `payload` and waits for the pong with the same payload, for at most
    /// `timeout`; returns the round-trip time.
    ///
    /// Every other message received meanwhile (text, binary, pings, unmatched pongs, the
    /// peer's close) is pushed onto `received`, in order, so nothing is lost: the caller owns
    /// that buffer and still has it when this returns an error.
    ///
    /// # Cancel safety
    /// Cancel safe like [`recv`](Self::recv): messages read before the cancellation are in
    /// `received`; the ping may have been sent already.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no matching pong came within `timeout`; [`Error::Closed`] when
    /// the connection closed first (the peer's close is the last entry of `received`);
    /// [`Error::Usage`] for a payload over 125 bytes; and the errors of
    /// [`recv`](Self::recv).
    ///
    /// # Example
    /// ```no_run
    /// # async fn run() -> Result<(), wskit::Error> {
    /// use std::time::Duration;
    ///
    /// let (mut ws, _) = wskit::connect("ws://127.0.0.1:9001/").await?;
    /// let mut received = Vec::new();
    /// let rtt = ws
    ///     .ping_and_wait("are you there?", Duration::from_secs(5), &mut received)
    ///     .await?;
    /// println!("pong after {rtt:?}; {} messages came meanwhile", received.len());
    /// # Ok(()) }
    /// ```
    pub async fn ping_and_wait(
        &mut self,
        payload: impl Into<Bytes>,
        timeout: Duration,
        received: &mut Vec<Message>,
    ) -> Result<Duration, Error> {
        let payload = payload.into();
        let start = Instant::now();
        let wait = async {
            self.ping(payload.clone()).await?;
            loop {
                match self.recv().await.ok_or(Error::Closed)?? {
                    Message::Pong(data) if data == payload => return Ok(start.elapsed()),
                    other => received.push(other),
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| Error::Timeout("pong"))?
    }
}

// ===== Heartbeat =====

/// A keep-alive timer: tells the caller when to send a ping, matches the pongs, and reports
/// when a pong did not come in time (nim `setupPings`, SwaggerSocket KeepAlive).
///
/// It does no I/O and does not own the connection, so it fits the `tokio::select!` loop that
/// already reads the socket: await [`tick`](Self::tick) in one branch and send the ping it
/// yields; pass every pong received to [`pong`](Self::pong). One ping is outstanding at a time:
/// the next goes out `interval` after the previous one, once its pong has come. Each ping
/// carries the application data followed by a big-endian 8-byte sequence number, so a stale
/// or unsolicited pong is never taken for the answer.
///
/// # Cancel safety
/// [`tick`](Self::tick) is cancel safe: its state changes only when it returns.
///
/// # Example
/// ```no_run
/// # async fn run() -> Result<(), wskit::Error> {
/// use std::time::Duration;
/// use wskit::{Beat, CloseCode, Heartbeat, Message};
///
/// let (mut ws, _) = wskit::connect("ws://127.0.0.1:9001/").await?;
/// let mut heartbeat = Heartbeat::new(Duration::from_secs(30)).timeout(Duration::from_secs(10));
/// loop {
///     tokio::select! {
///         msg = ws.recv() => match msg {
///             Some(Ok(Message::Pong(data))) => {
///                 if let Some(rtt) = heartbeat.pong(&data) {
///                     println!("rtt {rtt:?}");
///                 }
///             }
///             Some(Ok(msg)) => println!("{msg:?}"),
///             Some(Err(err)) => return Err(err),
///             None => return Ok(()),
///         },
///         beat = heartbeat.tick() => match beat {
///             Beat::Ping(payload) => ws.ping(payload).await?,
///             Beat::Missed => {
///                 ws.close(CloseCode::GOING_AWAY, "no pong").await?;
///                 return Err(wskit::Error::Timeout("pong"));
///             }
///         },
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    app_data: Bytes,
    sequence: u64,
    /// The ping waiting for its pong: its payload and when it was sent.
    outstanding: Option<(Bytes, Instant)>,
    /// When `tick` next returns: the next ping, or the pong deadline while one is outstanding.
    deadline: Instant,
    missed: bool,
    rtt: Option<Duration>,
}

/// What [`Heartbeat::tick`] asks the caller to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beat {
    /// Send a ping with this payload ([`WebSocket::ping`]).
    Ping(Bytes),
    /// The pong for the last ping did not come within the timeout: the peer or the path is
    /// gone. Close (or drop) the connection and reconnect if wanted. Returned once; `tick`
    /// then never returns again.
    Missed,
}

impl Heartbeat {
    /// A heartbeat sending a ping every `interval`, the first one `interval` from now.
    /// The pong timeout defaults to `interval`.
    #[must_use]
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            timeout: interval,
            app_data: Bytes::new(),
            sequence: 0,
            outstanding: None,
            deadline: Instant::now() + interval,
            missed: false,
            rtt: None,
        }
    }

    /// How long to wait for each pong before [`Beat::Missed`]. Default: the interval.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Application data at the start of every ping payload (SwaggerSocket `AppData`), at most
    /// [`MAX_APP_DATA`] bytes. Default: none.
    ///
    /// # Errors
    /// [`Error::Usage`] when it is longer than [`MAX_APP_DATA`].
    pub fn app_data(mut self, data: impl Into<Bytes>) -> Result<Self, Error> {
        let data = data.into();
        if data.len() > MAX_APP_DATA {
            return Err(Error::Usage(proto::Error::ControlPayloadTooLarge(
                data.len() + 8,
            )));
        }
        self.app_data = data;
        Ok(self)
    }

    /// Waits until the next thing to do: send a ping, or give up on a missing pong.
    pub async fn tick(&mut self) -> Beat {
        if self.missed {
            return std::future::pending().await;
        }
        tokio::time::sleep_until(self.deadline).await;
        let now = Instant::now();
        if self.outstanding.is_some() {
            self.missed = true;
            return Beat::Missed;
        }
        self.sequence += 1;
        let mut payload = BytesMut::with_capacity(self.app_data.len() + 8);
        payload.put_slice(&self.app_data);
        payload.put_u64(self.sequence);
        let payload = payload.freeze();
        self.outstanding = Some((payload.clone(), now));
        self.deadline = now + self.timeout;
        Beat::Ping(payload)
    }

    /// Records a pong received; returns the round-trip time when it answers the outstanding
    /// ping, `None` for any other pong (unsolicited, or answering an older ping).
    pub fn pong(&mut self, payload: &[u8]) -> Option<Duration> {
        let (expected, sent) = self.outstanding.as_ref()?;
        if expected.as_ref() != payload {
            return None;
        }
        let sent = *sent;
        let rtt = sent.elapsed();
        self.outstanding = None;
        self.rtt = Some(rtt);
        self.deadline = (sent + self.interval).max(Instant::now());
        Some(rtt)
    }

    /// The round-trip time of the last answered ping.
    #[must_use]
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// Whether a ping is waiting for its pong.
    #[must_use]
    pub fn is_waiting(&self) -> bool {
        self.outstanding.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pings_every_interval_while_pongs_come() {
        let mut heartbeat = Heartbeat::new(Duration::from_secs(10))
            .timeout(Duration::from_secs(3))
            .app_data("app")
            .expect("short app data");
        let start = Instant::now();
        for sequence in 1..=3u64 {
            let Beat::Ping(payload) = heartbeat.tick().await else {
                panic!("expected a ping");
            };
            assert_eq!(start.elapsed(), Duration::from_secs(10 * sequence));
            assert_eq!(&payload[..3], b"app");
            assert_eq!(&payload[3..], sequence.to_be_bytes());
            assert!(heartbeat.is_waiting());
            assert_eq!(heartbeat.pong(b"unsolicited"), None);
            tokio::time::advance(Duration::from_secs(1)).await;
            assert_eq!(heartbeat.pong(&payload), Some(Duration::from_secs(1)));
            assert_eq!(heartbeat.pong(&payload), None, "a pong counts once");
        }
        assert_eq!(heartbeat.rtt(), Some(Duration::from_secs(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_pong_is_reported_once_after_the_timeout() {
        let mut heartbeat = Heartbeat::new(Duration::from_secs(10)).timeout(Duration::from_secs(3));
        let start = Instant::now();
        assert!(matches!(heartbeat.tick().await, Beat::Ping(_)));
        assert_eq!(heartbeat.tick().await, Beat::Missed);
        assert_eq!(start.elapsed(), Duration::from_secs(13));
        let again = tokio::time::timeout(Duration::from_secs(3600), heartbeat.tick()).await;
        assert!(again.is_err(), "Missed is returned only once");
    }

    #[test]
    fn app_data_is_bounded() {
        let heartbeat = Heartbeat::new(Duration::from_secs(1));
        assert!(heartbeat.app_data(vec![0u8; MAX_APP_DATA + 1]).is_err());
    }
}
