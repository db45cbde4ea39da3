//! The transport of an upgraded connection: the TCP stream itself when hyper served one, so
//! that reads and writes skip hyper's boxed I/O, or hyper's `Upgraded` otherwise.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The transport of an [`UpgradedWebSocket`](super::UpgradedWebSocket).
///
/// When hyper served the connection over a plain [`TcpStream`] (`TokioIo<TcpStream>`, as
/// `axum::serve` and `hyper::server::conn::http1` with `TokioIo::new(stream)` do), the
/// WebSocket takes the stream back from hyper and uses it directly; anything else (TLS,
/// HTTP/2, other transports) stays behind hyper's [`Upgraded`].
///
/// # Example
/// ```no_run
/// # fn run(ws: wskit::upgrade::UpgradedWebSocket) {
/// if let wskit::upgrade::UpgradedIo::Tcp(tcp) = ws.get_ref() {
///     println!("peer: {:?}", tcp.peer_addr());
/// }
/// # }
/// ```
#[derive(Debug)]
pub enum UpgradedIo {
    /// The TCP stream hyper served, taken back from it.
    Tcp(TcpStream),
    /// Any other transport, through hyper.
    Hyper(TokioIo<Upgraded>),
}

impl UpgradedIo {
    /// Takes the TCP stream back from hyper when it is one, with the bytes hyper read past
    /// the request (frames a client sent without waiting for the `101`).
    pub(crate) fn from_upgraded(upgraded: Upgraded) -> (Self, Bytes) {
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => (Self::Tcp(parts.io.into_inner()), parts.read_buf),
            Err(upgraded) => (Self::Hyper(TokioIo::new(upgraded)), Bytes::new()),
        }
    }
}

impl AsyncRead for UpgradedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_read(cx, buf),
            Self::Hyper(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpgradedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_write(cx, buf),
            Self::Hyper(io) => Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Self::Hyper(io) => Pin::new(io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(io) => io.is_write_vectored(),
            Self::Hyper(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_flush(cx),
            Self::Hyper(io) => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_shutdown(cx),
            Self::Hyper(io) => Pin::new(io).poll_shutdown(cx),
        }
    }
}
