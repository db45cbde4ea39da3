//! `wss://` over loopback: a rustls server with a self-signed certificate for `localhost`,
//! trusted by the client as an extra root, and refused without it.

mod support;

use std::net::SocketAddr;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use support::{listen, within};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use wskit::{Client, CloseCode, Error, Message};

/// A self-signed certificate for `localhost` and its key.
fn self_signed() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("generate a certificate");
    let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
    (certified.cert.der().clone(), key.into())
}

/// A TLS echo server for one connection; yields how the TLS handshake ended.
async fn spawn_tls_echo(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> (SocketAddr, JoinHandle<Result<(), String>>) {
    let config = wskit::tls::server_config(vec![cert], key).expect("server config");
    let acceptor = TlsAcceptor::from(config);
    let (listener, addr) = listen().await;
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let tls = acceptor.accept(stream).await.map_err(|e| e.to_string())?;
        let mut ws = wskit::accept(tls).await.map_err(|e| e.to_string())?;
        while let Some(msg) = ws.recv().await {
            let msg = msg.map_err(|e| e.to_string())?;
            if msg.is_text() || msg.is_binary() {
                ws.send(msg).await.map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    });
    (addr, task)
}

#[tokio::test]
async fn echo_over_tls_with_a_custom_root() {
    let (cert, key) = self_signed();
    let (addr, server) = spawn_tls_echo(cert.clone(), key).await;

    let client =
        Client::new(format!("wss://localhost:{}/", addr.port())).add_root_certificate(cert);
    let (mut ws, _) = within(client.connect()).await.expect("connect over TLS");
    assert!(matches!(ws.get_ref(), wskit::MaybeTlsStream::Tls(_)));

    within(ws.send(Message::text("secret")))
        .await
        .expect("send");
    assert_eq!(within(ws.recv_text()).await.expect("echo"), "secret");
    within(ws.send(Message::binary(vec![0u8; 100_000])))
        .await
        .expect("send");
    assert_eq!(within(ws.recv_binary()).await.expect("echo").len(), 100_000);
    within(ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close");
    assert!(within(ws.recv()).await.is_none());

    within(server)
        .await
        .expect("server task")
        .expect("server side");
}

#[tokio::test]
async fn unknown_root_is_a_tls_error() {
    let (cert, key) = self_signed();
    let (addr, server) = spawn_tls_echo(cert, key).await;

    let err = within(Client::new(format!("wss://localhost:{}/", addr.port())).connect())
        .await
        .expect_err("the certificate is not trusted");
    assert!(matches!(&err, Error::Tls(_)), "{err:?}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    // The server saw the TLS handshake fail too.
    assert!(within(server).await.expect("server task").is_err());
}

#[tokio::test]
async fn certificate_for_another_name_is_a_tls_error() {
    // Trusted, but issued for `localhost` while the client asks for 127.0.0.1.
    let (cert, key) = self_signed();
    let (addr, server) = spawn_tls_echo(cert.clone(), key).await;

    let err = within(
        Client::new(format!("wss://{addr}/"))
            .add_root_certificate(cert)
            .connect(),
    )
    .await
    .expect_err("the name does not match");
    assert!(matches!(&err, Error::Tls(_)), "{err:?}");
    assert!(within(server).await.expect("server task").is_err());
}
