//! The tour gets the same answers over plain HTTP and over both WebSocket protocols, from one
//! axum app on one port.

use example_petstore::{app, router, tour};
use http_body_util::Full;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use wskit_rest::{RestClient, RestConnection, RestServer};

#[tokio::test]
async fn http_and_both_websocket_protocols_give_the_same_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Each tour adds pets: give each transport a fresh store by a fresh app.
    let fresh = || RestServer::new(RestConnection::builder().serve(router()));
    tokio::spawn(axum::serve(listener, app(fresh())).into_future());
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let over_http = tour(client, &format!("http://{addr}")).await.unwrap();
    assert_eq!(
        over_http[0],
        "POST /pets -> 201 Created {\"id\":1,\"name\":\"Rex\",\"tag\":\"dog\"}"
    );
    assert!(
        over_http.last().unwrap().contains("\"Petstore\""),
        "{over_http:?}"
    );

    for swagger in [false, true] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/rest", listener.local_addr().unwrap());
        tokio::spawn(axum::serve(listener, app(fresh())).into_future());
        let mut builder = RestClient::builder(wskit::Client::new(url));
        if swagger {
            builder = builder.swagger();
        }
        let client = builder.spawn();
        let over_ws = tour(client.clone(), "http://petstore").await.unwrap();
        assert_eq!(over_ws, over_http, "swagger: {swagger}");
        client.close().await;
    }
}
