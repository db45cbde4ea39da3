//! `Client::origin` sets the `Origin` header of the upgrade request, replacing an earlier one.

mod support;

use support::{listen, within, ws_url};
use wskit::{Client, Decision, Server};

#[tokio::test]
async fn origin_is_sent_once() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let (_ws, request) = Server::default()
            .accept_with(stream, |_| Decision::Accept(Vec::new()))
            .await
            .expect("server handshake");
        request
            .headers
            .all("origin")
            .map(str::to_owned)
            .collect::<Vec<_>>()
    });
    let client = Client::new(ws_url(addr))
        .header("Origin", "https://old.example")
        .origin("https://app.example");
    let (_ws, _) = within(client.connect()).await.expect("connect");
    let origins = within(server).await.expect("server task");
    assert_eq!(origins, vec!["https://app.example".to_owned()]);
}
