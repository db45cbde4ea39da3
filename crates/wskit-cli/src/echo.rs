//! `wskit echo`: the echo server used by the Autobahn TestSuite and the interop tests.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use wskit::{Config, DeflateConfig, Message, Server};
use wskit_hub::{Connection, Hub, Service, ServiceOptions};

use crate::EchoArgs;

/// Runs the echo server until the process is stopped.
pub(crate) async fn run(args: EchoArgs) -> anyhow::Result<()> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tokio_rustls::TlsAcceptor::from(
            wskit::tls::server_config_from_pem(cert, key)?,
        )),
        _ => None,
    };
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
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
        return broadcast(listener, config).await;
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
        tokio::spawn(serve_connection(server.clone(), tls.clone(), stream, peer));
    }
}

/// One connection's task: TLS if configured, the handshake, then echo until it ends.
///
/// Every idle connection holds this future, so it is kept small: the TLS handshake future
/// (about 13 KiB inline) and the WebSocket handshake are boxed for their duration only, and
/// an idle plain connection holds little more than its `WebSocket` (see the test).
async fn serve_connection(
    server: Arc<Server>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let result = match tls {
        Some(acceptor) => {
            Box::pin(async move {
                match acceptor.accept(stream).await {
                    Ok(stream) => echo(&server, stream).await,
                    Err(err) => Err(wskit::Error::Tls(err.to_string())),
                }
            })
            .await
        }
        None => echo(&server, stream).await,
    };
    if let Err(err) = result {
        tracing::debug!(%peer, %err, "connection ended with an error");
    }
}

/// `--broadcast`: a hub whose only service, on every path, sends each data message to all.
async fn broadcast(listener: TcpListener, config: Config) -> anyhow::Result<()> {
    let hub = Hub::new();
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

async fn echo<S>(server: &Server, stream: S) -> Result<(), wskit::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Boxed: the handshake's state is freed once it is done, not kept for the connection's life.
    let (mut ws, _) = Box::pin(server.accept(stream)).await?;
    while let Some(msg) = ws.recv().await {
        let msg = msg?;
        if msg.is_text() || msg.is_binary() {
            // `queue` takes the message at once, so no message is held across the await.
            ws.queue(msg)?;
            ws.flush().await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Idle memory per connection is mostly this future: keep it near the `WebSocket` itself.
    #[tokio::test]
    async fn a_connection_task_stays_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let peer = stream.local_addr().unwrap();
        let task = serve_connection(Arc::new(Server::default()), None, stream, peer);
        let size = size_of_val(&task);
        let socket = size_of::<wskit::WebSocket<TcpStream>>();
        assert!(
            size <= socket + 512,
            "the connection task is {size} bytes, the WebSocket {socket}"
        );
    }
}
