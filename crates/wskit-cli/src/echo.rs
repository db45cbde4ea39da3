//! `wskit echo`: the echo server used by the Autobahn TestSuite and the interop tests.

use std::future::poll_fn;
use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use wskit::{Config, DeflateConfig, Message, Server, WebSocket};
use wskit_hub::{Connection, Hub, HubOptions, Service, ServiceOptions};

use crate::EchoArgs;

/// Runs the echo server until the process is stopped.
pub(crate) async fn run(args: EchoArgs) -> anyhow::Result<()> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tokio_rustls::TlsAcceptor::from(
            wskit::tls::server_config_from_pem(cert, key)?,
        )),
        _ => None,
    };
    let listener = args.listen.bind().await?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {scheme}://{addr}")?;
        stdout.flush()?;
    }
    let deflate = (!args.no_deflate).then(DeflateConfig::default);
    let config = Config::default()
        .deflate(deflate)
        .max_message_size(args.max_message_size)
        .max_frame_size(args.max_message_size);
    if args.broadcast {
        return broadcast(listener, config, !args.no_io_uring).await;
    }
    let server = Arc::new(Server::default().config(config));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(ConnectionTask::new(
            server.clone(),
            tls.clone(),
            stream,
            peer,
        ));
    }
}

/// One connection's task: the opening handshake (TLS first if configured), then echo until
/// the connection ends.
///
/// Every idle connection holds this future in a tokio task allocation (rounded up to a multiple
/// of 128 bytes, with about 100 bytes of tokio's own), so it is a state machine written out
/// rather than an `async fn`, whose arguments and locals would keep their places: once upgraded
/// it is its `WebSocket` and a flag (see the test). The handshake is a boxed future of its own,
/// freed when done; a TLS connection is served to its end inside it.
#[allow(
    clippy::large_enum_variant,
    reason = "the large variant is the connection's life; boxing it would add an allocation"
)]
enum ConnectionTask {
    Handshake(Pin<Box<dyn Future<Output = Option<WebSocket<TcpStream>>> + Send>>),
    Echo {
        ws: WebSocket<TcpStream>,
        /// A message is queued and not yet flushed.
        queued: bool,
    },
    Done,
}

impl ConnectionTask {
    fn new(
        server: Arc<Server>,
        tls: Option<tokio_rustls::TlsAcceptor>,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Self {
        Self::Handshake(Box::pin(handshake(server, tls, stream, peer)))
    }
}

impl Future for ConnectionTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            match this {
                Self::Handshake(handshake) => match ready!(handshake.as_mut().poll(cx)) {
                    Some(ws) => *this = Self::Echo { ws, queued: false },
                    None => *this = Self::Done,
                },
                Self::Echo { ws, queued } => {
                    if let Err(err) = ready!(poll_echo(ws, queued, cx)) {
                        let peer = ws.get_ref().peer_addr().ok();
                        tracing::debug!(?peer, %err, "connection ended with an error");
                    }
                    *this = Self::Done;
                }
                Self::Done => return Poll::Ready(()),
            }
        }
    }
}

/// The opening handshake of a plain connection; a TLS connection is served to its end here.
async fn handshake(
    server: Arc<Server>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<WebSocket<TcpStream>> {
    if let Some(acceptor) = tls {
        serve_tls(&server, acceptor, stream, peer).await;
        return None;
    }
    match server.accept(stream).await {
        Ok((ws, _)) => Some(ws),
        Err(err) => {
            tracing::debug!(%peer, %err, "handshake failed");
            None
        }
    }
}

/// The TLS handshake, the WebSocket handshake, then echo.
async fn serve_tls(
    server: &Server,
    acceptor: tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let result = match acceptor.accept(stream).await {
        Ok(stream) => match server.accept(stream).await {
            Ok((mut ws, _)) => {
                let mut queued = false;
                poll_fn(|cx| poll_echo(&mut ws, &mut queued, cx)).await
            }
            Err(err) => Err(err),
        },
        Err(err) => Err(wskit::Error::Tls(err.to_string())),
    };
    if let Err(err) = result {
        tracing::debug!(%peer, %err, "connection ended with an error");
    }
}

/// Echoes every data message until the connection ends. `queued` tells that a message waits
/// to be flushed; it is flushed before the next is received.
fn poll_echo<S>(
    ws: &mut WebSocket<S>,
    queued: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Result<(), wskit::Error>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        if *queued {
            ready!(ws.poll_flush_outbox(cx))?;
            *queued = false;
        }
        let Some(msg) = ready!(ws.poll_recv(cx)) else {
            return Poll::Ready(Ok(()));
        };
        let msg = msg?;
        if msg.is_text() || msg.is_binary() {
            ws.queue(msg)?;
            *queued = true;
        }
    }
}

/// `--broadcast`: a hub whose only service, on every path, sends each data message to all.
async fn broadcast(listener: TcpListener, config: Config, io_uring: bool) -> anyhow::Result<()> {
    let hub = Hub::with_options(HubOptions::default().io_uring(io_uring));
    hub.register("/", FanOut, ServiceOptions::default().config(config))?;
    hub.serve(listener).await?;
    Ok(())
}

/// The service of `--broadcast`.
#[derive(Debug)]
struct FanOut;

impl Service for FanOut {
    async fn on_text(&self, conn: &Connection, text: wskit::Utf8Bytes) {
        if let Some(hub) = conn.hub() {
            let _ = hub.broadcast_all(Message::Text(text));
        }
    }

    async fn on_binary(&self, conn: &Connection, data: bytes::Bytes) {
        if let Some(hub) = conn.hub() {
            let _ = hub.broadcast_all(Message::Binary(data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle connection costs its task: this future plus about 100 bytes of tokio's, rounded
    /// up to a multiple of 128 (the task is cache-line aligned), plus tokio's 256-byte socket
    /// registration. Once upgraded the future is the `WebSocket` and a flag; at 256 bytes the
    /// task takes three cache lines (384 bytes) where the `async fn` it replaces took seven.
    #[tokio::test]
    async fn a_connection_task_is_its_websocket_and_a_flag() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let peer = stream.local_addr().unwrap();
        let task = ConnectionTask::new(Arc::new(Server::default()), None, stream, peer);
        let size = size_of_val(&task);
        let socket = size_of::<WebSocket<TcpStream>>();
        assert!(
            size <= socket + 8,
            "the connection task is {size} bytes, the WebSocket {socket}"
        );
        assert!(size <= 256, "the connection task is {size} bytes");
    }
}
