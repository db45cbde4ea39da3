//! The hub's services mounted inside an axum application, next to plain HTTP routes.

mod common;

use std::net::SocketAddr;

use common::*;
use wskit::Message;
use wskit_hub::{Connection, Hub, Service, ServiceOptions};

struct Echo;

impl Service for Echo {
    async fn on_open(&self, conn: &Connection) {
        if let Some(hub) = conn.hub() {
            hub.join("everyone", conn);
        }
    }
    async fn on_text(&self, conn: &Connection, text: wskit::Utf8Bytes) {
        let _ = conn.send_text(text).await;
    }
}

async fn app(hub: &Hub) -> SocketAddr {
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .merge(hub.router());
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

#[tokio::test]
async fn services_run_inside_an_axum_app_with_the_same_registry() {
    let hub = Hub::new();
    hub.register("/echo", Echo, ServiceOptions::default().protocols(["v1"]))
        .unwrap();
    let addr = app(&hub).await;

    let (mut ws, negotiated) = within(
        wskit::Client::new(format!("ws://{addr}/echo?x=1"))
            .protocols(["v1"])
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(negotiated.protocol.as_deref(), Some("v1"));
    ws.send(Message::text("through axum")).await.unwrap();
    assert_eq!(text(&mut ws).await, "through axum");

    let conn = hub.connections(Some("/echo")).pop().expect("registered");
    assert_eq!(conn.request().query(), Some("x=1"));
    assert!(conn.request().peer_addr().is_some());
    assert_eq!(
        hub.send_to_group("everyone", Message::text("fan-out"))
            .delivered,
        1
    );
    assert_eq!(text(&mut ws).await, "fan-out");

    // Plain HTTP still works on the same server.
    let mut raw = Raw::connect(addr).await;
    raw.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let response = within(raw.read_response()).await;
    assert_eq!((response.status, response.body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn origin_and_auth_rejections_apply_inside_axum() {
    let hub = Hub::new();
    let options = ServiceOptions::default()
        .origins(["https://app.example"])
        .authenticate(|req| async move {
            if req.query_param("token") == Some("good") {
                Ok(wskit_hub::Admission::new().header("X-Welcome", "yes"))
            } else {
                Err(wskit_hub::Rejection::new(401, "bad token")
                    .header("WWW-Authenticate", "Bearer"))
            }
        });
    hub.register("/echo", Echo, options).unwrap();
    let addr = app(&hub).await;

    let evil = within(Raw::request(
        addr,
        "/echo?token=good",
        "Origin: https://evil.example\r\n",
    ))
    .await;
    assert_eq!(evil.status, 403);
    let origin = "Origin: https://app.example\r\n";
    let unauth = within(Raw::request(addr, "/echo?token=bad", origin)).await;
    assert_eq!((unauth.status, unauth.body.as_str()), (401, "bad token"));
    assert_eq!(unauth.header("www-authenticate"), Some("Bearer"));
    let (_raw, head) = Raw::connect_ws_to(addr, "/echo?token=good", origin).await;
    assert!(
        head.to_ascii_lowercase().contains("x-welcome: yes"),
        "{head}"
    );
    assert_eq!(hub.stats().connections_rejected, 2);
}
