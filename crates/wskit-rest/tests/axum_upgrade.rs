//! `RestServer::upgrade` on an axum route: one app answers plain HTTP and REST over WebSocket.

mod common;

use axum::routing::get;
use common::{GUARD, api, echo};
use tokio::net::TcpListener;
use tokio::time::timeout;
use wskit::axum::WebSocketUpgrade;
use wskit_rest::{ConnectionEvent, PROTOCOL, RestClient, RestConnection, RestServer};

#[tokio::test]
async fn an_axum_route_accepts_both_protocols() {
    let server = RestServer::new(RestConnection::builder().serve(api("server")));
    let mut events = server.events();
    let upgrade = {
        let server = server.clone();
        move |ws: WebSocketUpgrade| async move { server.upgrade(ws) }
    };
    let app = api("http").route("/rest", get(upgrade));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/rest", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());

    for swagger in [false, true] {
        let mut builder = RestClient::builder(wskit::Client::new(&url));
        if swagger {
            builder = builder.swagger();
        }
        let client = builder.spawn();
        assert_eq!(echo(client.connection(), 5).await, "server:5");
        let id = match timeout(GUARD, events.recv()).await.unwrap().unwrap() {
            ConnectionEvent::Received { id } => id,
            other => panic!("{other:?}"),
        };
        let expected = if swagger { "swaggersocket" } else { PROTOCOL };
        assert_eq!(server.connection(&id).unwrap().protocol(), expected);
        client.close().await;
        match timeout(GUARD, events.recv()).await.unwrap().unwrap() {
            ConnectionEvent::Closed { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}
