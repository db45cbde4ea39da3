//! Direct writes for broadcasts: the fan-out writes a shared frame into an idle
//! connection's socket itself.
//!
//! A broadcast to N connections used to cost N task wake-ups: queue the frame, wake the
//! driver, let the runtime poll it, and only then write. When a connection's driver is parked
//! with nothing queued and nothing half written, the fan-out now writes the frame into the
//! socket (one `send`, no wake-up), and hands what the socket did not take to the queue. The
//! queue's lock decides who may write: the driver marks itself parked under it, and clears
//! the mark under it before it writes again, so the two never write at the same time.
//!
//! Only plain TCP connections without compression qualify: from [`Hub::serve`] (a
//! `TcpStream`) or from hyper and axum (an [`UpgradedIo::Tcp`]). TLS needs the stream's
//! encryption state, compression may need a frame of the connection's own.
//!
//! [`Hub::serve`]: crate::Hub::serve
//! [`UpgradedIo::Tcp`]: wskit::upgrade::UpgradedIo::Tcp

use std::any::Any;
use std::io;
use std::os::fd::{AsRawFd as _, BorrowedFd, RawFd};

use tokio::net::TcpStream;

/// The descriptor of a connection's socket, in the connection's queue while its driver
/// lives.
///
/// It is only a number: the driver owns the socket, puts the `Writer` in the queue when it
/// starts, and takes it out under the queue's lock before the socket can be dropped
/// (`Driver`'s `Drop`, which runs before its fields are dropped). Whoever holds the lock and
/// finds a `Writer` there may therefore write to the descriptor.
///
/// Why not tokio's `try_write` through a shared write half: a broadcast to many connections
/// is bound by cache misses on each connection's state, and the socket is three pointers
/// away there. Through tokio, the fan-out's user-space share of the server's CPU stayed at
/// 18 %; with the descriptor next to the queue's lock it is 8 % (perf, 1,000 connections,
/// 20-byte messages, scripts/perf.py's broadcast scenario).
#[derive(Debug)]
pub(crate) struct Writer {
    fd: RawFd,
}

impl Writer {
    /// The writer of `io` when it is a plain TCP stream. Call it only from the driver that
    /// owns `io` (see the type's docs).
    pub(crate) fn of(io: &dyn Any) -> Option<Self> {
        let tcp = io
            .downcast_ref::<TcpStream>()
            .or_else(|| upgraded_tcp(io))?;
        Some(Self {
            fd: tcp.as_raw_fd(),
        })
    }

    /// The descriptor, for a batch of writes (`fanout.rs`), under the same rule as
    /// [`try_send`](Self::try_send): only while the queue's lock is held.
    pub(crate) fn fd(&self) -> RawFd {
        self.fd
    }

    /// Writes what the socket takes of `buf` now, without waiting. Call it only with the
    /// queue's lock held (see the type's docs).
    #[allow(unsafe_code)]
    pub(crate) fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: the `Writer` is in the connection's queue, whose lock the caller holds, so
        // the driver that owns the socket has not reached the point where it drops it: it
        // takes the `Writer` out under this lock first. The descriptor is open and still the
        // socket's for the borrow's duration (this call).
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        // Never block (the socket is non-blocking anyway); a reset peer is an error, not
        // SIGPIPE.
        socket2::SockRef::from(&fd).send_with_flags(buf, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
    }
}

/// Whether a direct write failed in a way that leaves the stream unusable: its outcome is not
/// known (see `uring.rs`), so some of the frame may be in the socket.
pub(crate) fn outcome_unknown(err: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        crate::uring::Unknown::is(err)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = err;
        false
    }
}

#[cfg(feature = "axum")]
fn upgraded_tcp(io: &dyn Any) -> Option<&TcpStream> {
    match io.downcast_ref::<wskit::upgrade::UpgradedIo>()? {
        wskit::upgrade::UpgradedIo::Tcp(tcp) => Some(tcp),
        wskit::upgrade::UpgradedIo::Hyper(_) => None,
    }
}

#[cfg(not(feature = "axum"))]
fn upgraded_tcp(_io: &dyn Any) -> Option<&TcpStream> {
    None
}
