//! The tour gets the same answers over plain HTTP and over both WebSocket protocols.

use example_petstore::{router, tour};
use http_body_util::Full;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use wskit_rest::{RestClient, RestConnection, RestServer};

#[tokio::test]
async fn http_and_both_websocket_protocols_give_the_same_answers() {
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", http.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(http, router()).await });
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let over_http = tour(client, &base).await.unwrap();
    assert_eq!(
        over_http[0],
        "POST /pets -> 201 Created {\"id\":1,\"name\":\"Rex\",\"tag\":\"dog\"}"
    );
    assert!(
        over_http.last().unwrap().contains("\"Petstore\""),
        "{over_http:?}"
    );

    for swagger in [false, true] {
        let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/rest", ws.local_addr().unwrap());
        let server = RestServer::new(RestConnection::builder().serve(router()));
        tokio::spawn(async move { server.serve(ws).await });
        let mut builder = RestClient::builder(wskit::Client::new(url));
        if swagger {
            builder = builder.swagger();
        }
        let client = builder.spawn();
        let over_ws = tour(client.clone(), &base).await.unwrap();
        assert_eq!(over_ws, over_http, "swagger: {swagger}");
        client.close().await;
    }
}
