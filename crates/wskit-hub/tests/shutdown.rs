//! Graceful shutdown: stop accepting, 1001 to everyone, drain, drop the rest, report.

mod common;

use std::time::Duration;

use common::*;
use wskit_hub::{Hub, Service, ServiceOptions};

struct Quiet;

impl Service for Quiet {}

#[tokio::test]
async fn shutdown_closes_with_1001_drains_and_drops_the_rest() {
    let hub = Hub::new();
    hub.register("/a", Quiet, ServiceOptions::default())
        .unwrap();
    let (listener, addr) = listen().await;
    let server = {
        let hub = hub.clone();
        tokio::spawn(async move { hub.serve(listener).await })
    };
    let mut events = hub.events();
    let mut readers = Vec::new();
    for _ in 0..2 {
        let mut ws = client(addr, "/a").await;
        readers.push(tokio::spawn(async move { close_code(&mut ws).await }));
    }
    // A peer that never reads, so never answers the close.
    let (mut silent, _) = Raw::connect_ws_to(addr, "/a", "").await;
    for _ in 0..3 {
        within(events.recv()).await.unwrap();
    }

    let report = within(hub.shutdown(Duration::from_secs(2))).await;
    assert_eq!((report.clean, report.forced), (2, 1));
    assert!(hub.is_shutting_down());
    assert_eq!(hub.connection_count(), 0);
    for reader in readers {
        assert_eq!(within(reader).await.unwrap(), Some(1001));
    }
    // The silent peer got the close frame, then the connection was dropped.
    assert_eq!(
        within(silent.read_frame()).await.unwrap().close_code(),
        Some(1001)
    );
    assert!(within(silent.read_frame()).await.is_none());
    // The accept loop has stopped.
    within(server).await.unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
