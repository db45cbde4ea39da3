//! Hosting: `wss://` through `Hub::serve_tls`, any transport through `Hub::accept`, the
//! handshake timeout, and broadcasts compressed once with permessage-deflate.

mod common;

use std::time::Duration;

use common::*;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use wskit::{DeflateConfig, Message};
use wskit_hub::{Hub, HubEvent, HubOptions, Service, ServiceOptions};

struct Echo;

impl Service for Echo {
    async fn on_text(&self, conn: &wskit_hub::Connection, text: wskit::Utf8Bytes) {
        let _ = conn.send_text(text).await;
    }
}

#[tokio::test]
async fn serve_tls_accepts_wss() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let cert = certified.cert.der().clone();
    let tls = wskit::tls::server_config(vec![cert.clone()], key).unwrap();

    let hub = Hub::new();
    hub.register("/secure", Echo, ServiceOptions::default())
        .unwrap();
    let (listener, addr) = listen().await;
    let serving = hub.clone();
    tokio::spawn(async move { serving.serve_tls(listener, tls).await });

    let url = format!("wss://localhost:{}/secure", addr.port());
    let (mut ws, _) = within(wskit::Client::new(url).add_root_certificate(cert).connect())
        .await
        .unwrap();
    ws.send(Message::text("over tls")).await.unwrap();
    assert_eq!(within(ws.recv_text()).await.unwrap().as_str(), "over tls");
    // A client speaking plain ws:// to the TLS port fails, and the hub goes on.
    assert!(
        within(wskit::connect(&format!("ws://{addr}/secure")))
            .await
            .is_err()
    );
    ws.send(Message::text("still")).await.unwrap();
    assert_eq!(within(ws.recv_text()).await.unwrap().as_str(), "still");
}

#[tokio::test]
async fn accept_serves_any_transport() {
    let hub = Hub::new();
    hub.register("/mem", Echo, ServiceOptions::default())
        .unwrap();
    let (server_end, client_end) = tokio::io::duplex(64 * 1024);
    let serving = hub.clone();
    let task = tokio::spawn(async move { serving.accept(server_end, None).await });
    let (mut ws, _) = within(wskit::Client::new("ws://localhost/mem").connect_on(client_end))
        .await
        .unwrap();
    ws.send(Message::text("in memory")).await.unwrap();
    assert_eq!(within(ws.recv_text()).await.unwrap().as_str(), "in memory");
    let conn = hub.connections(Some("/mem")).pop().unwrap();
    assert_eq!(conn.request().peer_addr(), None);
    ws.close(wskit::CloseCode::NORMAL, "").await.unwrap();
    within(task).await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_finishes_the_handshake_is_dropped() {
    let hub = Hub::with_options(HubOptions::default().handshake_timeout(Duration::from_secs(3)));
    hub.register("/a", Echo, ServiceOptions::default()).unwrap();
    let (server_end, mut client_end) = tokio::io::duplex(1024);
    let start = tokio::time::Instant::now();
    let result = hub.accept(server_end, None).await;
    assert!(matches!(
        result,
        Err(wskit_hub::Error::WebSocket(wskit::Error::Timeout(_)))
    ));
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!(hub.stats().connections_rejected, 1);
    // The transport was dropped: the client end reads end of stream.
    let mut buf = [0u8; 16];
    let n = tokio::io::AsyncReadExt::read(&mut client_end, &mut buf)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn broadcasts_to_compressed_connections_decode_everywhere() {
    let hub = Hub::new();
    let deflate = DeflateConfig::default().server_no_context_takeover(true);
    let options = ServiceOptions::default().config(wskit::Config::default().deflate(Some(deflate)));
    hub.register("/z", Echo, options).unwrap();
    let addr = serve(&hub).await;
    let mut events = hub.events();
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(client(addr, "/z").await);
        assert!(matches!(
            within(events.recv()).await,
            Some(HubEvent::Received { .. })
        ));
    }
    let text = "the same words for everyone ".repeat(200);
    for round in 0..3 {
        let msg = format!("{round} {text}");
        assert_eq!(
            hub.broadcast("/z", Message::text(msg.as_str())).delivered,
            3
        );
        for ws in &mut clients {
            // Interleave a message of the connection's own to check contexts stay in step.
            ws.send(Message::text("own")).await.unwrap();
            assert_eq!(within(ws.recv_text()).await.unwrap().as_str(), msg);
            assert_eq!(within(ws.recv_text()).await.unwrap().as_str(), "own");
        }
    }
    assert!(
        hub.connections(None)
            .iter()
            .all(|c| c.extensions() == ["permessage-deflate"])
    );
}
