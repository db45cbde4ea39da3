//! The HTTP side of `wskit serve` through the built binary: every API route, the bearer key,
//! the open stats, metrics, health and the page.

mod support;

use serde_json::json;
use support::*;

const KEY: &str = "s3cret-key";

#[tokio::test]
async fn broadcast_reaches_every_ws_client_and_no_echo_client() {
    let server = Server::start(&[]);
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    let (mut echo, _) = within(wskit::connect(&server.url("/echo"))).await.unwrap();
    let response = http(
        server.addr,
        "POST",
        "/api/broadcast",
        None,
        Some(r#"{"data":{"n":1}}"#),
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.json(), json!({"delivered":2,"dropped":0}));
    let delivery = json!({"type":"message","group":null,"from":null,"data":{"n":1}});
    assert_eq!(a.recv().await, delivery);
    assert_eq!(b.recv().await, delivery);
    // The echo client got nothing: its next message is its own echo.
    echo.send(wskit::Message::text("mine")).await.unwrap();
    assert_eq!(within(echo.recv_text()).await.unwrap().as_str(), "mine");

    for bad in ["", "not json", "[1]", r#"{"date":1}"#] {
        let response = http(server.addr, "POST", "/api/broadcast", None, Some(bad)).await;
        assert_eq!(response.status, 400, "{bad:?}: {response:?}");
        assert_eq!(response.json()["code"], "bad_body");
    }
}

#[tokio::test]
async fn group_messages_list_and_delete() {
    let server = Server::start(&[]);
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    a.call(json!({"type":"join","group":"red","ref":1})).await;
    a.call(json!({"type":"join","group":"blue","ref":2})).await;
    b.call(json!({"type":"join","group":"blue","ref":3})).await;

    let groups = http(server.addr, "GET", "/api/groups", None, None).await;
    assert_eq!(groups.status, 200);
    assert_eq!(groups.header("content-type"), Some("application/json"));
    assert_eq!(
        groups.json(),
        json!({"groups":[{"name":"blue","size":2},{"name":"red","size":1}]})
    );

    let sent = http(
        server.addr,
        "POST",
        "/api/groups/blue/messages",
        None,
        Some(r#"{"data":"to blue"}"#),
    )
    .await;
    assert_eq!(sent.json(), json!({"delivered":2,"dropped":0}));
    let delivery = json!({"type":"message","group":"blue","from":null,"data":"to blue"});
    assert_eq!(a.recv().await, delivery);
    assert_eq!(b.recv().await, delivery);
    let missing = http(
        server.addr,
        "POST",
        "/api/groups/green/messages",
        None,
        Some(r#"{"data":1}"#),
    )
    .await;
    assert_eq!(
        (missing.status, missing.json()["code"].clone()),
        (404, json!("not_found"))
    );
    let bad = http(
        server.addr,
        "POST",
        "/api/groups/blue/messages",
        None,
        Some("{}"),
    )
    .await;
    assert_eq!(bad.status, 400);

    let deleted = http(server.addr, "DELETE", "/api/groups/blue", None, None).await;
    assert_eq!(deleted.json(), json!({"group":"blue","removed":2}));
    let again = http(server.addr, "DELETE", "/api/groups/blue", None, None).await;
    assert_eq!(again.status, 404);
    let groups = http(server.addr, "GET", "/api/groups", None, None).await;
    assert_eq!(groups.json(), json!({"groups":[{"name":"red","size":1}]}));
    // The members stay connected, out of the group.
    let not_member = b
        .call(json!({"type":"publish","group":"blue","data":1,"ref":9}))
        .await;
    assert_eq!(not_member["code"], "not_member");
}

#[tokio::test]
async fn connection_messages_list_and_close() {
    let server = Server::start(&[]);
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    a.call(json!({"type":"name","name":"ann","ref":1})).await;
    a.call(json!({"type":"join","group":"z","ref":2})).await;
    a.call(json!({"type":"join","group":"y","ref":3})).await;

    let list = http(server.addr, "GET", "/api/connections", None, None).await;
    let mut expected = vec![
        json!({"id":a.id,"path":"/ws","name":"ann","groups":["y","z"]}),
        json!({"id":b.id,"path":"/ws","name":null,"groups":[]}),
    ];
    expected.sort_by(|x, y| x["id"].as_str().cmp(&y["id"].as_str()));
    assert_eq!(list.json(), json!({ "connections": expected }));

    let by_name = http(
        server.addr,
        "POST",
        "/api/connections/ann/messages",
        None,
        Some(r#"{"data":"hi ann"}"#),
    )
    .await;
    assert_eq!(by_name.json(), json!({"delivered":1,"dropped":0}));
    assert_eq!(
        a.recv().await,
        json!({"type":"message","group":null,"from":null,"data":"hi ann"})
    );
    let path = format!("/api/connections/{}/messages", b.id);
    http(server.addr, "POST", &path, None, Some(r#"{"data":2}"#)).await;
    assert_eq!(b.recv().await["data"], 2);
    let missing = http(
        server.addr,
        "POST",
        "/api/connections/nobody/messages",
        None,
        Some(r#"{"data":1}"#),
    )
    .await;
    assert_eq!(missing.status, 404);

    let bad_code = http(
        server.addr,
        "DELETE",
        &format!("/api/connections/{}", a.id),
        None,
        Some(r#"{"code":1006}"#),
    )
    .await;
    assert_eq!(bad_code.status, 400);
    let closed = http(
        server.addr,
        "DELETE",
        &format!("/api/connections/{}", a.id),
        None,
        Some(r#"{"code":4001,"reason":"kicked"}"#),
    )
    .await;
    assert_eq!(closed.status, 200, "{closed:?}");
    assert_eq!(a.close_frame().await, Some((4001, "kicked".to_owned())));
    let plain = http(
        server.addr,
        "DELETE",
        &format!("/api/connections/{}", b.id),
        None,
        None,
    )
    .await;
    assert_eq!(plain.status, 200);
    assert_eq!(b.close_code().await, Some(1000));
    let missing = http(server.addr, "DELETE", "/api/connections/nobody", None, None).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn the_api_key_guards_the_api_but_not_stats_health_metrics_or_the_page() {
    let server = Server::start(&["--api-key", KEY]);
    assert!(!server.line.is_empty());
    let routes = [
        ("GET", "/api/groups", None),
        ("GET", "/api/connections", None),
        ("POST", "/api/broadcast", Some(r#"{"data":1}"#)),
        ("POST", "/api/groups/g/messages", Some(r#"{"data":1}"#)),
        ("DELETE", "/api/groups/g", None),
        ("POST", "/api/connections/x/messages", Some(r#"{"data":1}"#)),
        ("DELETE", "/api/connections/x", None),
    ];
    for (method, path, body) in routes {
        let without = http(server.addr, method, path, None, body).await;
        assert_eq!(without.status, 401, "{method} {path}: {without:?}");
        assert_eq!(without.json()["code"], "unauthorized");
        assert_eq!(without.header("www-authenticate"), Some("Bearer"));
        let wrong = http(server.addr, method, path, Some("nope"), body).await;
        assert_eq!(wrong.status, 401, "{method} {path}");
        let with = http(server.addr, method, path, Some(KEY), body).await;
        assert!(
            with.status == 200 || with.status == 404,
            "{method} {path}: {with:?}"
        );
    }
    assert_eq!(
        http(server.addr, "GET", "/api/groups", Some(KEY), None)
            .await
            .status,
        200
    );
    for open in [
        "/api/stats",
        "/healthz",
        "/metrics",
        "/",
        "/app.js",
        "/style.css",
    ] {
        assert_eq!(
            http(server.addr, "GET", open, None, None).await.status,
            200,
            "{open}"
        );
    }
}

#[tokio::test]
async fn stats_metrics_health_and_the_page() {
    let server = Server::start(&[]);
    let mut a = Client::connect(&server).await;
    a.call(json!({"type":"join","group":"g","ref":1})).await;
    let stats = http(server.addr, "GET", "/api/stats", None, None)
        .await
        .json();
    assert_eq!(stats["connections"], 1);
    assert_eq!(stats["groups"], 1);
    assert_eq!(stats["messages_received"], 1);
    assert!(stats["messages_sent"].as_u64().unwrap() >= 1);

    let metrics = http(server.addr, "GET", "/metrics", None, None).await;
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        metrics.body.contains("wskit_connections_open 1"),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains("wskit_messages_received_total 1"),
        "{}",
        metrics.body
    );

    let health = http(server.addr, "GET", "/healthz", None, None).await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));

    let page = http(server.addr, "GET", "/", None, None).await;
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains("<script src=\"/app.js\">"));
    let script = http(server.addr, "GET", "/app.js", None, None).await;
    assert!(script.body.contains("/api/stats") && script.body.contains("/ws"));

    let unknown = http(server.addr, "GET", "/nothing-here", None, None).await;
    assert_eq!(unknown.status, 404);
    let wrong_method = http(server.addr, "GET", "/api/broadcast", None, None).await;
    assert_eq!(wrong_method.status, 405);
}
