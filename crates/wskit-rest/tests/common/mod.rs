//! Loopback pairs of connections for the tests.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a part of the helpers"
)]

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request};
use axum::routing::{any, get, post};
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::net::{TcpListener, TcpStream};
use wskit::{MaybeTlsStream, WebSocket};
use wskit_rest::{Body, RestConnection};

/// A hang guard for whole tests on a loaded machine.
pub const GUARD: Duration = Duration::from_secs(60);

/// A WebSocket pair over 127.0.0.1: (server side, client side), offering `protocols`.
pub async fn ws_pair(protocols: &[&str]) -> (WebSocket<TcpStream>, WebSocket<MaybeTlsStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = wskit::Server::default().protocols(protocols.iter().copied());
    let accept = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        server.accept(stream).await.unwrap().0
    });
    let client =
        wskit::Client::new(format!("ws://{addr}/rest")).protocols(protocols.iter().copied());
    let (client_ws, _) = client.connect().await.unwrap();
    (accept.await.unwrap(), client_ws)
}

/// The API both ends serve in tests.
pub fn api(name: &'static str) -> Router {
    Router::new()
        .route(
            "/echo/{n}",
            get(move |Path(n): Path<u64>| async move { format!("{name}:{n}") }),
        )
        .route(
            "/stream",
            post(|request: Request| async move { axum::body::Body::new(request.into_body()) }),
        )
        .route(
            "/count",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/panic",
            get(|| async { panic!("a handler bug") as &'static str }),
        )
        .route("/pending", any(std::future::pending::<&'static str>))
}

/// Sends `GET /echo/{n}` and returns the body text.
pub async fn echo(conn: &RestConnection, n: u64) -> String {
    use tower::ServiceExt;
    let request = http::Request::get(format!("/echo/{n}"))
        .body(Body::empty())
        .unwrap();
    let response = conn.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    text(response.into_body()).await
}

/// Reads a whole body as text.
pub async fn text(body: Body) -> String {
    let bytes = body.collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}
