//! `wskit echo`: the echo server used by the Autobahn TestSuite and the interop tests.

use std::io::Write as _;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use wskit::{Config, DeflateConfig, Server};

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
    let server = Arc::new(
        Server::default().config(
            Config::default()
                .deflate(deflate)
                .max_message_size(args.max_message_size)
                .max_frame_size(args.max_message_size),
        ),
    );
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let server = server.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let result = match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => echo(&server, stream).await,
                    Err(err) => Err(wskit::Error::Tls(err.to_string())),
                },
                None => echo(&server, stream).await,
            };
            if let Err(err) = result {
                tracing::debug!(%peer, %err, "connection ended with an error");
            }
        });
    }
}

async fn echo<S>(server: &Server, stream: S) -> Result<(), wskit::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut ws, _request) = server.accept(stream).await?;
    while let Some(msg) = ws.recv().await {
        let msg = msg?;
        if msg.is_text() || msg.is_binary() {
            ws.send(msg).await?;
        }
    }
    Ok(())
}
