//! The WebSocket stream: a [`proto::Connection`] driven over an async transport.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;
use futures_sink::Sink;
use proto::{CloseCode, CloseFrame, Connection, Message, Role, State, Utf8Bytes};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;

use crate::config::{Config, IoSettings};
use crate::error::Error;
use crate::read_pool;

/// The connection state, as browsers name it.
///
/// A [`WebSocket`] exists only once its opening handshake has succeeded, so
/// [`WebSocket::ready_state`] starts at `Open` and never returns `Connecting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(alias = "readyState")]
#[doc(alias = "ready-state")]
pub enum ReadyState {
    /// The opening handshake is under way. Never returned by [`WebSocket::ready_state`]: the
    /// state is here so that the four match the browser's `readyState`.
    Connecting,
    /// Messages flow both ways.
    Open,
    /// A close frame was sent or received; the transport is not closed yet.
    Closing,
    /// The connection is closed.
    Closed,
}

/// A WebSocket connection over any `AsyncRead + AsyncWrite` transport.
///
/// Receive with [`recv`](Self::recv) (or as a [`Stream`]), send with [`send`](Self::send) (or
/// as a [`Sink`]). Pings are answered automatically. Use [`split`](Self::split) to read and
/// write from different tasks.
///
/// # Cancel safety
/// `recv` is cancel safe: a message is never lost when its future is dropped. `send` queues the
/// message before it waits, so a dropped `send` still sends it at the next write.
///
/// # Memory
/// An idle connection holds this struct and nothing else of its own: no read buffer (it goes
/// back to a per-thread pool when the transport has no more bytes, and comes from it again
/// when bytes arrive), no
/// write buffer, and its settings are shared with the [`Config`] it was made from. What only
/// some connections need (a subprotocol, the close timer) is boxed on demand.
///
/// # Example
/// ```no_run
/// # async fn run() -> Result<(), wskit::Error> {
/// let (mut ws, _) = wskit::connect("ws://127.0.0.1:9001/").await?;
/// ws.send(wskit::Message::text("hello")).await?;
/// while let Some(msg) = ws.recv().await {
///     println!("{:?}", msg?);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct WebSocket<S> {
    io: S,
    conn: Connection,
    read_buf: BytesMut,
    /// Shared with the `Config` (and so with every connection of a server).
    settings: Arc<IoSettings>,
    /// The subprotocol and the close timer: allocated only when one is needed.
    cold: Option<Box<Cold>>,
    /// The size of the last frame read in more than one piece (at most [`MAX_READ_HINT`]), so
    /// that the next read asks for a whole such frame at once: one `read` per 16 KiB message
    /// instead of two or three with the default read size.
    read_hint: u32,
    read_eof: bool,
    shut_down: bool,
    finished: bool,
}

/// What few connections need, or need only while closing.
#[derive(Debug, Default)]
struct Cold {
    protocol: Option<String>,
    close_deadline: Option<Pin<Box<Sleep>>>,
    /// [`WebSocket::setup_pings`]: the interval and the time of the next ping.
    pings: Option<(Duration, Pin<Box<Sleep>>)>,
}

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Wraps a transport whose opening handshake is already done.
    ///
    /// `read_buf` holds bytes already read past the handshake (frames the peer sent without
    /// waiting); they are processed first.
    pub fn from_parts(
        io: S,
        conn: Connection,
        read_buf: BytesMut,
        config: Config,
        protocol: Option<String>,
    ) -> Self {
        Self {
            io,
            conn,
            read_buf,
            settings: config.io,
            cold: protocol.map(|protocol| {
                Box::new(Cold {
                    protocol: Some(protocol),
                    ..Cold::default()
                })
            }),
            read_hint: 0,
            read_eof: false,
            shut_down: false,
            finished: false,
        }
    }

    /// Receives the next message: text, binary, ping, pong, or the peer's close.
    ///
    /// Returns `None` once the connection is closed and the transport shut down.
    #[doc(alias = "receivePacket")]
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Receives the next text message, skipping pings and pongs.
    ///
    /// # Errors
    /// [`Error::Unexpected`] when a binary message comes instead, [`Error::Closed`] on a close,
    /// and the errors of [`recv`](Self::recv).
    #[doc(alias = "receiveStrPacket")]
    pub async fn recv_text(&mut self) -> Result<Utf8Bytes, Error> {
        loop {
            match self.recv().await.ok_or(Error::Closed)?? {
                Message::Text(text) => return Ok(text),
                Message::Ping(_) | Message::Pong(_) => {}
                Message::Binary(_) => return Err(Error::Unexpected("binary", "text")),
                Message::Close(_) => return Err(Error::Closed),
            }
        }
    }

    /// Receives the next binary message, skipping pings and pongs.
    ///
    /// # Errors
    /// [`Error::Unexpected`] when a text message comes instead, [`Error::Closed`] on a close,
    /// and the errors of [`recv`](Self::recv).
    #[doc(alias = "receiveBinaryPacket")]
    pub async fn recv_binary(&mut self) -> Result<Bytes, Error> {
        loop {
            match self.recv().await.ok_or(Error::Closed)?? {
                Message::Binary(data) => return Ok(data),
                Message::Ping(_) | Message::Pong(_) => {}
                Message::Text(_) => return Err(Error::Unexpected("text", "binary")),
                Message::Close(_) => return Err(Error::Closed),
            }
        }
    }

    /// Sends a message and waits until it is written to the transport.
    ///
    /// # Errors
    /// [`Error::Closed`] after a close, [`Error::Io`] when the transport fails.
    pub async fn send(&mut self, msg: Message) -> Result<(), Error> {
        self.conn.send(msg)?;
        self.flush().await
    }

    /// Queues a message without waiting for the transport, unless the outgoing buffer is over
    /// [`Config::write_buffer_size`]; [`flush`](Self::flush) writes it out. Queue several
    /// messages and flush once to write them with one system call.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn feed(&mut self, msg: Message) -> Result<(), Error> {
        self.conn.send(msg)?;
        if self.conn.outbox().remaining() >= self.settings.write_buffer_size {
            self.flush().await?;
        }
        Ok(())
    }

    /// Queues a message encoded once for many connections ([`proto::EncodedMessage`]).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn send_encoded(&mut self, msg: &proto::EncodedMessage) -> Result<(), Error> {
        self.conn.send_encoded(msg)?;
        self.flush().await
    }

    /// Writes out everything queued.
    ///
    /// # Errors
    /// [`Error::Io`] when the transport fails.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_write_outbox(cx)).await
    }

    /// Sends a ping with `payload` (at most 125 bytes).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    #[doc(alias = "send-ping")]
    pub async fn ping(&mut self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.send(Message::Ping(payload.into())).await
    }

    /// Closes the connection: sends a close frame with `code` and `reason`, waits for the
    /// peer's close (discarding messages that arrive meanwhile) up to the close timeout, and
    /// shuts the transport down.
    ///
    /// # Errors
    /// [`Error::Usage`] for a code that may not be sent (1005, 1006, 1015, …) or a reason over
    /// 123 bytes; [`Error::Timeout`] when the peer did not answer in time.
    #[doc(alias = "close-connection")]
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if self.conn.state() == State::Open {
            self.conn
                .close(Some(CloseFrame::new(code, reason)))
                .map_err(Error::from)?;
        }
        let _ = self.flush().await;
        while let Some(msg) = self.recv().await {
            if let Err(err) = msg {
                return match err {
                    Error::Timeout(_) => Err(err),
                    _ => Ok(()),
                };
            }
        }
        Ok(())
    }

    /// Closes the connection forcefully: sends a close frame with `code` and `reason`, as far
    /// as the transport takes it without waiting, and drops the connection at once, without
    /// waiting for the peer's close frame (Kitura's `drop(reason:description:)`).
    /// [`hangup`](Self::hangup) drops it without a close frame.
    ///
    /// # Errors
    /// [`Error::Usage`] for a code that may not be sent (1005, 1006, 1015, …) or a reason over
    /// 123 bytes; the connection is dropped all the same, without a close frame.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(ws: wskit::WebSocket<tokio::net::TcpStream>) -> Result<(), wskit::Error> {
    /// ws.close_now(wskit::CloseCode::POLICY_VIOLATION, "too many requests").await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "drop")]
    pub async fn close_now(mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.start_close(code, reason)?;
        poll_fn(|cx| {
            // One attempt each: what the transport does not take now is dropped with it.
            if let Poll::Ready(Ok(())) = self.poll_write_outbox(cx) {
                let _ = Pin::new(&mut self.io).poll_shutdown(cx);
            }
            Poll::Ready(())
        })
        .await;
        Ok(())
    }

    /// Sends a ping every `interval` for as long as the connection is open and received from
    /// (nim `setupPings`): no task of its own, the pings go out from [`recv`](Self::recv),
    /// the [`Stream`] or [`poll_recv`](Self::poll_recv) while they wait for messages, which
    /// any connection does to see its peer's. The pongs come back as messages. A zero
    /// interval stops them. To close a connection whose pongs stop coming, use a
    /// [`Heartbeat`](crate::Heartbeat) instead.
    ///
    /// # Panics
    /// Outside a tokio runtime with the timer enabled (as [`tokio::time::sleep`]).
    ///
    /// # Example
    /// ```no_run
    /// # async fn run() -> Result<(), wskit::Error> {
    /// let (mut ws, _) = wskit::connect("ws://127.0.0.1:9001/ws").await?;
    /// ws.setup_pings(std::time::Duration::from_secs(30));
    /// while let Some(msg) = ws.recv().await {
    ///     println!("{:?}", msg?);
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "setupPings")]
    pub fn setup_pings(&mut self, interval: Duration) {
        if interval.is_zero() {
            if let Some(cold) = &mut self.cold {
                cold.pings = None;
            }
            return;
        }
        let timer = Box::pin(tokio::time::sleep(interval));
        self.cold.get_or_insert_with(Box::default).pings = Some((interval, timer));
    }

    /// Queues the ping of [`setup_pings`](Self::setup_pings) when its time has come; true when
    /// one was queued. Otherwise the timer wakes the task when it is due.
    fn poll_pings(&mut self, cx: &mut Context<'_>) -> bool {
        let Some((interval, timer)) = self.cold.as_mut().and_then(|cold| cold.pings.as_mut())
        else {
            return false;
        };
        if timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        let next = tokio::time::Instant::now() + *interval;
        timer.as_mut().reset(next);
        self.conn.state() == State::Open && self.conn.send(Message::Ping(Bytes::new())).is_ok()
    }

    /// Queues a message without writing it: the next [`flush`](Self::flush),
    /// [`poll_flush_outbox`](Self::poll_flush_outbox) or receive writes it. Never waits;
    /// check [`buffered`](Self::buffered) to bound what is queued.
    ///
    /// # Errors
    /// [`Error::Closed`] after a close, [`Error::Usage`] for an invalid control payload.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(mut ws: wskit::WebSocket<tokio::net::TcpStream>) -> Result<(), wskit::Error> {
    /// ws.queue(wskit::Message::text("one"))?;
    /// ws.queue(wskit::Message::text("two"))?;
    /// ws.flush().await?; // one write for both
    /// # Ok(()) }
    /// ```
    pub fn queue(&mut self, msg: Message) -> Result<(), Error> {
        self.conn.send(msg).map_err(Error::from)
    }

    /// Queues a message encoded once for many connections, without writing it; see
    /// [`queue`](Self::queue).
    ///
    /// # Errors
    /// As [`queue`](Self::queue).
    pub fn queue_encoded(&mut self, msg: &proto::EncodedMessage) -> Result<(), Error> {
        self.conn.send_encoded(msg).map_err(Error::from)
    }

    /// Queues bytes to be written as they are, without writing them: the rest of a frame
    /// whose start was written into the transport by other means (wskit-hub writes
    /// broadcasts straight into idle sockets). Anything but the exact rest of such a frame
    /// corrupts the stream.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(mut ws: wskit::WebSocket<tokio::net::TcpStream>) -> Result<(), wskit::Error> {
    /// // The first 2 bytes of the frame `81 02 68 69` ("hi") went out elsewhere.
    /// ws.queue_raw(bytes::Bytes::from_static(&[0x68, 0x69]));
    /// ws.flush().await?;
    /// # Ok(()) }
    /// ```
    pub fn queue_raw(&mut self, bytes: Bytes) {
        self.conn.send_raw(bytes);
    }

    /// Starts the closing handshake without waiting: queues a close frame with `code` and
    /// `reason`. Keep receiving ([`recv`](Self::recv) or [`poll_recv`](Self::poll_recv)) until
    /// it returns `None` to finish the handshake; the close timeout applies. Does nothing when a
    /// close frame was already sent or received.
    ///
    /// # Errors
    /// [`Error::Usage`] for a code that may not be sent or a reason over 123 bytes.
    pub fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if self.conn.state() == State::Open {
            self.conn
                .close(Some(CloseFrame::new(code, reason)))
                .map_err(Error::from)?;
        }
        Ok(())
    }

    /// How many encoded bytes are queued and not yet written to the transport.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.conn.buffered()
    }

    /// Writes out what is queued and flushes the transport, as far as it takes it now.
    ///
    /// # Errors
    /// [`Error::Io`] when the transport fails.
    pub fn poll_flush_outbox(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_write_outbox(cx)
    }

    /// Drops the connection without a close frame (the peer sees code 1006).
    /// [`close_now`](Self::close_now) sends a close frame first.
    pub fn hangup(self) {
        drop(self);
    }

    /// Whether a ping from the peer is answered with a pong as soon as it is read (default:
    /// on). Off, pings still come out of [`recv`](Self::recv) and the application answers
    /// them itself with `send(Message::Pong(..))`, as a custom ping handler does
    /// (SwaggerSocket's `PingHdlr`); RFC 6455 §5.5.2 requires every ping to be answered.
    #[doc(alias = "PingHdlr")]
    pub fn set_auto_pong(&mut self, on: bool) {
        self.conn.set_auto_pong(on);
    }

    /// The subprotocol selected in the handshake.
    #[must_use]
    pub fn protocol(&self) -> Option<&str> {
        self.cold.as_ref()?.protocol.as_deref()
    }

    /// Whether permessage-deflate was negotiated.
    #[must_use]
    pub fn is_compressed(&self) -> bool {
        self.conn.is_compressed()
    }

    /// The protocol version: always 13.
    #[must_use]
    pub fn version(&self) -> u8 {
        13
    }

    /// Whether this is the client or the server end.
    #[must_use]
    pub fn role(&self) -> Role {
        self.conn.role()
    }

    /// The connection state: `Open`, then `Closing` once a close frame was sent or received,
    /// then `Closed`. Never [`ReadyState::Connecting`]: the handshake is done.
    #[must_use]
    #[doc(alias = "readyState")]
    #[doc(alias = "ready-state")]
    pub fn ready_state(&self) -> ReadyState {
        match (self.finished, self.conn.state()) {
            (true, _) => ReadyState::Closed,
            (false, State::Open) => ReadyState::Open,
            (false, _) => ReadyState::Closing,
        }
    }

    /// The peer's close frame, once received.
    #[must_use]
    pub fn peer_close(&self) -> Option<&CloseFrame> {
        self.conn.peer_close()
    }

    /// The transport.
    #[must_use]
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The transport, mutably. Writing to it directly corrupts the stream.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// Splits into a receiving half and a sending half, for use from two tasks.
    pub fn split(
        self,
    ) -> (
        futures_util::stream::SplitSink<Self, Message>,
        futures_util::stream::SplitStream<Self>,
    )
    where
        S: Send,
    {
        futures_util::StreamExt::split(self)
    }

    /// Polls for the next message; see [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        loop {
            if self.finished {
                return Poll::Ready(None);
            }
            if self.conn.is_closed() {
                ready!(self.poll_finish(cx));
                return Poll::Ready(None);
            }
            match self.conn.read(&mut self.read_buf) {
                Ok(Some(msg)) => {
                    if !self.conn.outbox().is_empty() {
                        // Answer pings (and the close) at once, as far as the transport takes it.
                        if let Poll::Ready(Err(err)) = self.poll_write_outbox(cx) {
                            self.finished = true;
                            return Poll::Ready(Some(Err(err)));
                        }
                    }
                    return Poll::Ready(Some(Ok(msg)));
                }
                Ok(None) => {}
                Err(err) => {
                    // Send the close frame the violation queued (1002, 1007, 1009, ...) at
                    // once, as far as the transport takes it: the caller may drop the
                    // connection on this error without polling it again.
                    if !self.conn.outbox().is_empty() {
                        let _ = self.poll_write_outbox(cx);
                    }
                    return Poll::Ready(Some(Err(err.into())));
                }
            }
            if !self.conn.outbox().is_empty() {
                if let Poll::Ready(Err(err)) = self.poll_write_outbox(cx) {
                    self.finished = true;
                    return Poll::Ready(Some(Err(err)));
                }
            }
            if self.read_eof {
                self.finished = true;
                return Poll::Ready(Some(Err(Error::AbnormalClose)));
            }
            match self.poll_read_more(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => {
                    self.finished = true;
                    return Poll::Ready(Some(Err(err.into())));
                }
                Poll::Pending => {
                    if self.conn.state() == State::CloseSent && self.poll_close_deadline(cx) {
                        // The peer never answered our close: drop the connection.
                        let _ = Pin::new(&mut self.io).poll_shutdown(cx);
                        self.finished = true;
                        return Poll::Ready(Some(Err(Error::Timeout("closing handshake"))));
                    }
                    if self.poll_pings(cx) {
                        continue; // the loop writes the ping
                    }
                    if self.read_buf.is_empty() && self.read_buf.capacity() > 0 {
                        // An idle connection keeps no read buffer: it goes back to the pool.
                        read_pool::give(std::mem::take(&mut self.read_buf));
                        self.conn.shrink();
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Reads more bytes into the read buffer; sets `read_eof` at end of stream.
    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let wanted = self.conn.bytes_wanted(&self.read_buf);
        if wanted > 0 {
            self.read_hint = u32::try_from((self.read_buf.len() + wanted).min(MAX_READ_HINT))
                .unwrap_or(u32::MAX);
        }
        let chunk = wanted
            .max(self.read_hint as usize)
            .clamp(self.settings.read_buffer_size, 1 << 20);
        if self.read_buf.capacity() == 0 {
            self.read_buf = read_pool::take();
        }
        if self.read_buf.capacity() - self.read_buf.len() < chunk / 2 {
            self.read_buf.reserve(chunk);
        }
        let n = ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut self.io),
            cx,
            &mut self.read_buf
        ))?;
        if n == 0 {
            self.read_eof = true;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes the outbox and flushes the transport.
    fn poll_write_outbox(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while !self.conn.outbox().is_empty() {
            let outbox = self.conn.outbox();
            let n = if outbox.chunk().len() == outbox.remaining() {
                // One piece (the common case: one message, or one shared broadcast frame): a
                // plain write, which on a socket is `send`, skips `writev`'s extra work in the
                // kernel (about 7 % of a broadcast server's time).
                let n = ready!(Pin::new(&mut self.io).poll_write(cx, outbox.chunk()))?;
                outbox.advance(n);
                n
            } else {
                ready!(tokio_util::io::poll_write_buf(
                    Pin::new(&mut self.io),
                    cx,
                    outbox
                ))?
            };
            if n == 0 {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into()));
            }
        }
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    /// After the closing handshake: flush, let the server close first (client), shut down.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if ready!(self.poll_write_outbox(cx)).is_err() {
            self.finished = true;
            return Poll::Ready(());
        }
        if self.conn.role() == Role::Client {
            // RFC 6455 §7.1.1: the server closes the TCP connection first.
            while !self.read_eof {
                self.read_buf.clear();
                match self.poll_read_more(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => self.read_eof = true,
                    Poll::Pending if self.poll_close_deadline(cx) => self.read_eof = true,
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
        if !self.shut_down {
            let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
            self.shut_down = true;
        }
        self.finished = true;
        Poll::Ready(())
    }

    /// Whether the close deadline has passed (starting it on first call).
    fn poll_close_deadline(&mut self, cx: &mut Context<'_>) -> bool {
        let timeout = self.settings.close_timeout;
        let deadline = self
            .cold
            .get_or_insert_with(Box::default)
            .close_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        deadline.as_mut().poll(cx).is_ready()
    }

    /// The close timeout in effect.
    #[must_use]
    pub fn close_timeout(&self) -> Duration {
        self.settings.close_timeout
    }
}

impl<S> Stream for WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<S> Sink<Message> for WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.conn.outbox().remaining() >= this.settings.write_buffer_size {
            ready!(this.poll_write_outbox(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, msg: Message) -> Result<(), Error> {
        self.get_mut().conn.send(msg).map_err(Error::from)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_write_outbox(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.conn.state() == State::Open {
            this.conn
                .close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
                .map_err(Error::from)?;
        }
        this.poll_write_outbox(cx)
    }
}

/// The largest read size [`WebSocket::poll_recv`] learns from the frames it sees; bigger
/// frames take several reads, as before.
const MAX_READ_HINT: usize = 64 * 1024;

/// Reads with the deadline of a future: used by the handshakes.
pub(crate) async fn with_timeout<T>(
    what: &'static str,
    timeout: Duration,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| Error::Timeout(what))?
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncWriteExt as _, DuplexStream, ReadBuf};

    use super::*;

    /// A transport that counts the reads that returned bytes.
    struct CountingReads {
        inner: DuplexStream,
        reads: Arc<AtomicUsize>,
    }

    impl AsyncRead for CountingReads {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let before = buf.filled().len();
            ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
            if buf.filled().len() > before {
                self.reads.fetch_add(1, Ordering::Relaxed);
            }
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for CountingReads {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    /// Every idle connection holds its `WebSocket` inside a task allocation that tokio rounds
    /// up to a multiple of 128 bytes (`wskit echo`'s task is this and a flag: 384 bytes with
    /// tokio's header). It was 424 bytes with copies of the settings and an inline
    /// `Connection` of 272; grow it only with a reason.
    #[test]
    fn a_websocket_over_tcp_is_small() {
        let size = size_of::<WebSocket<tokio::net::TcpStream>>();
        assert!(size <= 248, "WebSocket<TcpStream> is {size} bytes");
    }

    #[tokio::test]
    async fn after_one_large_frame_the_next_is_read_in_one_go() {
        let (server_end, mut client_end) = tokio::io::duplex(1 << 20);
        let reads = Arc::new(AtomicUsize::new(0));
        let transport = CountingReads {
            inner: server_end,
            reads: reads.clone(),
        };
        let mut ws = WebSocket::from_parts(
            transport,
            Connection::server(proto::Config::default(), None),
            BytesMut::new(),
            Config::default(),
            None,
        );
        let payload = vec![7; 16 * 1024];
        let frame = wskit_support::client_frame(0x2, &payload);

        client_end.write_all(&frame).await.unwrap();
        let first = ws.recv().await.unwrap().unwrap();
        assert_eq!(first.as_payload().len(), payload.len());
        // The default read size (8 KiB) takes more than one read for the first frame.
        assert!(reads.load(Ordering::Relaxed) > 1);

        reads.store(0, Ordering::Relaxed);
        client_end.write_all(&frame).await.unwrap();
        let second = ws.recv().await.unwrap().unwrap();
        assert_eq!(second.as_payload().len(), payload.len());
        assert_eq!(reads.load(Ordering::Relaxed), 1);
    }
}
