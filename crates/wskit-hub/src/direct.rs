//! Direct writes for broadcasts: the TCP transport of [`Hub::serve`](crate::Hub::serve)
//! connections, whose write side the fan-out may use while the connection's task is parked.
//!
//! A broadcast to N connections used to cost N task wake-ups: queue the frame, wake the
//! driver, let the runtime poll it, and only then write. When a connection's driver is parked
//! with nothing queued and nothing half written, [`Connection::try_send_encoded`] now writes
//! the shared frame into the socket itself (one `send`, no wake-up), and falls back to the
//! queue when the socket does not take the whole frame at once. The queue's lock decides who
//! may write: the driver marks itself parked under it, and clears the mark under it before it
//! writes again, so the two never write at the same time.
//!
//! [`Connection::try_send_encoded`]: crate::Connection::try_send_encoded

use std::io;
use std::os::fd::{AsRawFd as _, BorrowedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The write side of a [`DirectTcp`], held by the connection's queue: it keeps the socket
/// open, and caches its descriptor so that a direct write touches no other memory. A
/// broadcast to many connections is bound by cache misses on each connection's state: going
/// through tokio's `try_write` instead (three pointers away) kept the fan-out's user-space
/// share of the server's CPU at 18 %, the cached descriptor brings it to 8 % (perf, 1,000
/// connections, 20-byte messages; scripts/perf.py's broadcast scenarios).
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    fd: RawFd,
    _keep_open: Arc<OwnedWriteHalf>,
}

impl Writer {
    /// Writes what the socket takes of `buf` now, without waiting.
    #[allow(unsafe_code)]
    pub(crate) fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: `fd` is the descriptor of the socket that `_keep_open` owns (read off it in
        // `DirectTcp::writer`), and `_keep_open` lives as long as `self`, so the descriptor
        // stays open and is not reused for the borrow's (this call's) duration.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        // Never block (the socket is non-blocking anyway); a reset peer is an error, not SIGPIPE.
        socket2::SockRef::from(&fd).send_with_flags(buf, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
    }
}

/// A TCP stream whose write side can be shared: reads go through tokio's read half as
/// before; writes through a shared write half, by the driver or (while it is parked) by the
/// fan-out.
#[derive(Debug)]
pub(crate) struct DirectTcp {
    read: OwnedReadHalf,
    write: Arc<OwnedWriteHalf>,
}

impl DirectTcp {
    pub(crate) fn new(stream: TcpStream) -> Self {
        let (read, write) = stream.into_split();
        Self {
            read,
            write: Arc::new(write),
        }
    }

    /// The shared write side.
    pub(crate) fn writer(&self) -> Writer {
        Writer {
            fd: self.stream().as_raw_fd(),
            _keep_open: Arc::clone(&self.write),
        }
    }

    fn stream(&self) -> &TcpStream {
        (*self.write).as_ref()
    }
}

impl AsyncRead for DirectTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for DirectTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let stream = self.stream();
        loop {
            std::task::ready!(stream.poll_write_ready(cx))?;
            // `try_write` clears the readiness on `WouldBlock`, so the loop waits next time.
            match stream.try_write(buf) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let stream = self.stream();
        loop {
            std::task::ready!(stream.poll_write_ready(cx))?;
            match stream.try_write_vectored(bufs) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = socket2::SockRef::from(self.stream()).shutdown(std::net::Shutdown::Write);
        // Shutting down a socket the peer already reset is not an error worth reporting.
        Poll::Ready(match result {
            Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        })
    }
}
