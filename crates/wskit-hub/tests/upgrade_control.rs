//! Upgrade control: origin allow-list (403 before the upgrade), the authentication hook
//! (reject with a status and headers, or admit with identity and headers), extra headers.

mod common;

use common::*;
use wskit::Message;
use wskit_hub::{Admission, Connection, Hub, Rejection, Service, ServiceOptions};

#[derive(Clone, Debug, PartialEq)]
struct User(String);

/// Greets the authenticated user by name.
struct Greeter;

impl Service for Greeter {
    async fn on_open(&self, conn: &Connection) {
        let user = conn.get::<User>().map_or("anonymous".to_owned(), |u| u.0);
        let _ = conn.send_text(format!("hello {user}")).await;
    }
}

fn options() -> ServiceOptions {
    ServiceOptions::default()
        .origins(["https://app.example"])
        .header("X-Service", "greeter")
        .authenticate(|req| async move {
            match req.header("authorization") {
                Some("Bearer alice-token") => Ok(Admission::new()
                    .header("X-User", "alice")
                    .insert(User("alice".into()))),
                Some(_) => Err(Rejection::new(403, "token refused")),
                None => Err(Rejection::new(401, "missing token")
                    .header("WWW-Authenticate", "Bearer realm=\"chat\"")),
            }
        })
}

#[tokio::test]
async fn a_foreign_origin_is_refused_with_403_before_the_upgrade() {
    let hub = Hub::new();
    hub.register("/chat", Greeter, options()).unwrap();
    let addr = serve(&hub).await;
    let auth = "Authorization: Bearer alice-token\r\n";
    for origin in ["Origin: https://evil.example\r\n", ""] {
        let response = within(Raw::request(addr, "/chat", &format!("{origin}{auth}"))).await;
        assert_eq!(response.status, 403, "{origin:?}: {response:?}");
        assert_eq!(response.body, "origin not allowed");
    }
    assert_eq!(hub.stats().connections_rejected, 2);
    assert_eq!(hub.stats().connections_accepted, 0);
}

#[tokio::test]
async fn the_auth_hook_rejects_with_its_status_and_headers() {
    let hub = Hub::new();
    hub.register("/chat", Greeter, options()).unwrap();
    let addr = serve(&hub).await;
    let origin = "Origin: https://app.example\r\n";
    let response = within(Raw::request(addr, "/chat", origin)).await;
    assert_eq!(response.status, 401);
    assert_eq!(response.body, "missing token");
    assert_eq!(
        response.header("www-authenticate"),
        Some("Bearer realm=\"chat\"")
    );
    let bad = format!("{origin}Authorization: Bearer mallory\r\n");
    assert_eq!(within(Raw::request(addr, "/chat", &bad)).await.status, 403);
    // Our own client reports the status.
    let err = wskit::Client::new(format!("ws://{addr}/chat"))
        .header("Origin", "https://app.example")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(401));
}

#[tokio::test]
async fn an_admitted_client_carries_its_identity_and_gets_the_headers() {
    let hub = Hub::new();
    hub.register("/chat", Greeter, options()).unwrap();
    let addr = serve(&hub).await;
    let extra = "Origin: https://app.example\r\nAuthorization: Bearer alice-token\r\n";
    let (mut raw, head) = Raw::connect_ws_to(addr, "/chat", extra).await;
    assert!(head.contains("X-Service: greeter\r\n"), "{head}");
    assert!(head.contains("X-User: alice\r\n"), "{head}");
    let frame = within(raw.read_frame()).await.unwrap();
    assert_eq!(frame.payload, b"hello alice");

    let (mut ws, _) = within(
        wskit::Client::new(format!("ws://{addr}/chat"))
            .header("Origin", "https://app.example")
            .header("Authorization", "Bearer alice-token")
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(text(&mut ws).await, "hello alice");
    ws.send(Message::text("x")).await.unwrap();
}
