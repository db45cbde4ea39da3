//! REST over WebSocket in `wskit serve`, through the built binary: serve's API called over
//! `/rest` with both protocols, agents answering through `/api/rest/{id}/...`, the access rule,
//! and the petstore demo (`--demo`: off by default, behind the key, bounded bodies).

mod support;

use axum::Router;
use axum::http::{HeaderMap, Uri};
use axum::routing::{get, post};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use support::*;
use tokio::sync::mpsc;
use tower::ServiceExt as _;
use wskit_rest::{Body, RestClient, RestConnection};

const KEY: &str = "s3cret-key";

/// A client of `/rest` speaking our protocol or (`swagger`) SwaggerSocket v1, serving `api`,
/// with `metadata` in its handshake and the key when given.
fn rest_client(
    server: &Server,
    swagger: bool,
    key: Option<&str>,
    metadata: Value,
    api: Option<Router>,
) -> RestClient {
    let mut ws = wskit::Client::new(server.url("/rest"));
    if let Some(key) = key {
        ws = ws.header("Authorization", format!("Bearer {key}"));
    }
    let mut builder = RestClient::builder(ws).metadata(metadata);
    if let Some(api) = api {
        builder = builder.rest(RestConnection::builder().serve(api));
    }
    if swagger {
        builder = builder.swagger();
    }
    builder.spawn()
}

/// Sends one request over `client`; returns the status and the body as text.
async fn call(client: &RestClient, method: &str, path: &str, body: &str) -> (u16, String) {
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("a request");
    let response = within(client.clone().oneshot(request))
        .await
        .expect("a response over /rest");
    let status = response.status().as_u16();
    let body = within(response.into_body().collect())
        .await
        .expect("the body")
        .to_bytes();
    (status, String::from_utf8(body.to_vec()).expect("UTF-8"))
}

/// The agent's API: `/echo` answers the method, raw path and query, content type and body;
/// `/hang` reports that it was called, then never answers.
fn agent_api(called: mpsc::Sender<()>) -> Router {
    Router::new()
        .route(
            "/echo/{*rest}",
            post(|uri: Uri, headers: HeaderMap, body: String| async move {
                json!({
                    "uri": uri.path_and_query().map(ToString::to_string),
                    "content_type": headers.get("content-type").and_then(|v| v.to_str().ok()),
                    "authorization": headers.get("authorization").is_some(),
                    "body": body,
                })
                .to_string()
            }),
        )
        .route(
            "/hang",
            get(move || {
                let called = called.clone();
                async move {
                    let _ = called.send(()).await;
                    std::future::pending::<&'static str>().await
                }
            }),
        )
}

/// Waits until `client` is connected (a request went through) and returns its connection id.
async fn connected(client: &RestClient) -> String {
    let (status, _) = call(client, "GET", "/api/groups", "").await;
    assert_eq!(status, 200);
    client.connection_id().expect("a connection id")
}

#[tokio::test]
async fn the_api_over_rest_with_both_protocols_reaches_ws_clients() {
    let server = Server::start(&[]);
    let mut ws = Client::connect(&server).await;
    for swagger in [false, true] {
        let client = rest_client(&server, swagger, None, Value::Null, None);
        let (status, body) = call(&client, "GET", "/api/groups", "").await;
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"groups":[]}"#),
            "swagger: {swagger}"
        );
        let (status, body) = call(
            &client,
            "POST",
            "/api/broadcast",
            &json!({"data": {"swagger": swagger}}).to_string(),
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"delivered":1,"dropped":0}"#),
            "swagger: {swagger}"
        );
        assert_eq!(
            ws.recv().await,
            json!({"type":"message","group":null,"from":null,"data":{"swagger":swagger}})
        );
        let (status, body) = call(&client, "POST", "/api/broadcast", "not json").await;
        assert_eq!(status, 400, "{body}");
        // The API's body limit (64 KiB by default) holds over /rest as over HTTP.
        let big = json!({"data": "x".repeat(100_000)}).to_string();
        let (status, _) = call(&client, "POST", "/api/broadcast", &big).await;
        assert_eq!(status, 413, "swagger: {swagger}");
        client.close().await;
    }
}

#[tokio::test]
async fn agents_are_listed_and_answer_through_the_gateway() {
    let server = Server::start(&[]);
    let (called, _calls) = mpsc::channel(1);
    for swagger in [false, true] {
        let meta = json!({"agent": "a1", "swagger": swagger});
        let agent = rest_client(
            &server,
            swagger,
            None,
            meta.clone(),
            Some(agent_api(called.clone())),
        );
        let id = connected(&agent).await;
        let list = http(server.addr, "GET", "/api/rest", None, None).await;
        assert_eq!(list.status, 200, "{list:?}");
        let protocol = if swagger {
            "swaggersocket"
        } else {
            wskit_rest::PROTOCOL
        };
        // (The previous round's agent may still be on its way out.)
        let listed = list.json()["agents"]
            .as_array()
            .expect("a list of agents")
            .iter()
            .find(|agent| agent["id"] == id.as_str())
            .cloned();
        assert_eq!(
            listed,
            Some(json!({"id": id, "protocol": protocol, "metadata": meta}))
        );

        let path = format!("/api/rest/{id}/echo/a%2Fb/c?x=1&y=two");
        let answer = http(server.addr, "POST", &path, None, Some(r#"{"n":1}"#)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(
            serde_json::from_str::<Value>(&answer.body).expect("JSON from the agent"),
            json!({
                "uri": "/echo/a%2Fb/c?x=1&y=two",
                "content_type": "application/json",
                "authorization": false,
                "body": r#"{"n":1}"#,
            })
        );
        // A path the agent does not serve: its own 404, passed on.
        let missing = http(
            server.addr,
            "GET",
            &format!("/api/rest/{id}/nope"),
            None,
            None,
        )
        .await;
        assert_eq!(missing.status, 404);
        agent.close().await;
    }
}

#[tokio::test]
async fn unknown_agents_are_404_and_a_dropped_agent_is_502() {
    let server = Server::start(&[]);
    let unknown = http(server.addr, "GET", "/api/rest/no-such-id/x", None, None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["code"], "not_found");

    let (called, mut calls) = mpsc::channel(1);
    let agent = rest_client(
        &server,
        false,
        None,
        json!({"agent": "dropping"}),
        Some(agent_api(called)),
    );
    let id = connected(&agent).await;
    let addr = server.addr;
    let pending = tokio::spawn(async move {
        http(addr, "GET", &format!("/api/rest/{id}/hang"), None, None).await
    });
    within(calls.recv()).await.expect("the agent was called");
    agent.close().await;
    let answer = within(pending).await.expect("the request task");
    assert_eq!(answer.status, 502, "{answer:?}");
    assert_eq!(answer.json()["code"], "agent_failed");
}

#[tokio::test]
async fn a_silent_agent_is_504_after_the_rest_timeout() {
    let server = Server::start(&["--rest-timeout", "300ms"]);
    // (Whether the agent saw the request before the timeout depends on the machine's load.)
    let (called, _calls) = mpsc::channel(1);
    let agent = rest_client(&server, true, None, Value::Null, Some(agent_api(called)));
    let id = connected(&agent).await;
    let answer = http(
        server.addr,
        "GET",
        &format!("/api/rest/{id}/hang"),
        None,
        None,
    )
    .await;
    assert_eq!(answer.status, 504, "{answer:?}");
    assert_eq!(answer.json()["code"], "agent_timeout");
    agent.close().await;
}

#[tokio::test]
async fn with_a_key_rest_and_the_gateway_need_it() {
    let server = Server::start(&["--api-key", KEY]);
    // No key: 401 before any upgrade, for /rest and for /api/rest.
    for path in ["/rest", "/api/rest", "/api/rest/x/y"] {
        let refused = http(server.addr, "GET", path, None, None).await;
        assert_eq!(refused.status, 401, "{path}: {refused:?}");
        assert_eq!(refused.json()["code"], "unauthorized");
        let wrong = http(server.addr, "GET", path, Some("wrong"), None).await;
        assert_eq!(wrong.status, 401, "{path}: {wrong:?}");
    }
    let error = within(wskit::connect(&server.url("/rest")))
        .await
        .expect_err("no upgrade without the key");
    assert!(error.to_string().contains("401"), "{error}");

    // With the key: the connection's requests reach the API without repeating it.
    let client = rest_client(&server, false, Some(KEY), Value::Null, None);
    let (status, body) = call(&client, "GET", "/api/connections", "").await;
    assert_eq!((status, body.as_str()), (200, r#"{"connections":[]}"#));
    let list = http(server.addr, "GET", "/api/rest", Some(KEY), None).await;
    assert_eq!(
        list.json()["agents"][0]["id"],
        json!(client.connection_id())
    );
    client.close().await;
}

#[cfg(feature = "demo")]
#[tokio::test]
async fn the_petstore_demo_answers_the_same_over_http_and_over_websocket() {
    let server = Server::start(&["--demo"]);
    let added = http(
        server.addr,
        "POST",
        "/demo/petstore/pets",
        None,
        Some(r#"{"name":"Rex","tag":"dog"}"#),
    )
    .await;
    assert_eq!(added.status, 201, "{added:?}");
    assert_eq!(added.json(), json!({"id":1,"name":"Rex","tag":"dog"}));
    let openapi = http(
        server.addr,
        "GET",
        "/demo/petstore/openapi.json",
        None,
        None,
    )
    .await;
    assert_eq!(openapi.json()["info"]["title"], "Petstore");

    for swagger in [false, true] {
        let mut builder =
            RestClient::builder(wskit::Client::new(server.url("/demo/petstore/rest")));
        if swagger {
            builder = builder.swagger();
        }
        let client = builder.spawn();
        // One store behind both: what HTTP added, WebSocket reads, and the answers match.
        for path in [
            "/pets",
            "/pets?limit=0",
            "/pets/1",
            "/pets/99",
            "/openapi.json",
        ] {
            let over_http = http(
                server.addr,
                "GET",
                &format!("/demo/petstore{path}"),
                None,
                None,
            )
            .await;
            let over_ws = call(&client, "GET", path, "").await;
            assert_eq!(
                over_ws,
                (over_http.status, over_http.body),
                "{path}, swagger: {swagger}"
            );
        }
        let (status, body) = call(&client, "POST", "/pets", r#"{"name":"Tom","tag":null}"#).await;
        assert_eq!(status, 201, "{body}");
        let id = serde_json::from_str::<Value>(&body).expect("a pet")["id"].clone();
        let read = http(
            server.addr,
            "GET",
            &format!("/demo/petstore/pets/{id}"),
            None,
            None,
        )
        .await;
        assert_eq!(read.body, body);
        client.close().await;
    }
}

/// Asserts that `server` has no demo: 404 on its paths over HTTP and for the upgrade.
async fn assert_no_demo(server: &Server) {
    for path in [
        "/demo/petstore/pets",
        "/demo/petstore/openapi.json",
        "/demo/petstore/rest",
    ] {
        let response = http(server.addr, "GET", path, None, None).await;
        assert_eq!(response.status, 404, "{path}: {response:?}");
    }
    let error = within(wskit::connect(&server.url("/demo/petstore/rest")))
        .await
        .expect_err("no demo to upgrade to");
    assert!(error.to_string().contains("404"), "{error}");
}

#[tokio::test]
async fn the_demo_is_off_by_default_and_no_demo_is_still_accepted() {
    assert_no_demo(&Server::start(&[])).await;
    assert_no_demo(&Server::start(&["--no-demo"])).await;
    assert_no_demo(&Server::spawn({
        let mut command = serve_command(&["--listen", "127.0.0.1:0"]);
        command.env("WSKIT_NO_DEMO", "1");
        command
    }))
    .await;
}

#[cfg(feature = "demo")]
#[tokio::test]
async fn the_demo_needs_the_api_key_when_one_is_set() {
    let server = Server::start(&["--demo", "--api-key", KEY]);
    let pet = Some(r#"{"name":"Rex","tag":"dog"}"#);
    for (method, path, body) in [
        ("GET", "/demo/petstore/pets", None),
        ("POST", "/demo/petstore/pets", pet),
        ("GET", "/demo/petstore/openapi.json", None),
        ("GET", "/demo/petstore/rest", None),
    ] {
        let response = http(server.addr, method, path, None, body).await;
        assert_eq!(response.status, 401, "{method} {path}: {response:?}");
        let response = http(server.addr, method, path, Some("wrong"), body).await;
        assert_eq!(response.status, 401, "{method} {path}: {response:?}");
    }
    let error = within(wskit::connect(&server.url("/demo/petstore/rest")))
        .await
        .expect_err("no demo upgrade without the key");
    assert!(error.to_string().contains("401"), "{error}");

    let added = http(server.addr, "POST", "/demo/petstore/pets", Some(KEY), pet).await;
    assert_eq!(added.status, 201, "{added:?}");
    let ws = wskit::Client::new(server.url("/demo/petstore/rest"))
        .header("Authorization", format!("Bearer {KEY}"));
    let client = RestClient::builder(ws).spawn();
    let (status, body) = call(&client, "GET", "/pets/1", "").await;
    assert_eq!((status, body), (200, added.body));
    client.close().await;
}

#[cfg(feature = "demo")]
#[tokio::test]
async fn the_demo_refuses_large_bodies_with_413() {
    let server = Server::start(&["--demo"]);
    let name = "x".repeat(5_000);
    let body = json!({ "name": name }).to_string();
    // Over the WebSocket (the same router as over HTTP, where the server could close before
    // reading the whole body, and the client see a reset instead of the answer).
    let client = RestClient::builder(wskit::Client::new(server.url("/demo/petstore/rest"))).spawn();
    let (status, _) = call(&client, "POST", "/pets", &body).await;
    assert_eq!(status, 413);
    let (status, body) = call(&client, "GET", "/pets", "").await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    client.close().await;
}

#[tokio::test]
async fn browser_origins_need_allowed_origins() {
    let server = Server::start(&["--allowed-origins", "https://ok.example"]);
    let url = server.url("/rest");
    let refused = within(
        wskit::Client::new(&url)
            .origin("https://evil.example")
            .connect(),
    )
    .await
    .expect_err("an unlisted origin may not open /rest");
    assert!(refused.to_string().contains("403"), "{refused}");
    let (ws, _) = within(
        wskit::Client::new(&url)
            .origin("https://ok.example")
            .connect(),
    )
    .await
    .expect("a listed origin opens /rest");
    drop(ws);
    // The default (any origin for /ws) does not open /rest to pages.
    let default = Server::start(&[]);
    let refused = within(
        wskit::Client::new(default.url("/rest"))
            .origin("http://127.0.0.1:1")
            .connect(),
    )
    .await
    .expect_err("no origin is listed by default");
    assert!(refused.to_string().contains("403"), "{refused}");
}

#[tokio::test]
async fn shutdown_closes_rest_connections() {
    let server = Server::start(&[]);
    let client = wskit::Client::new(server.url("/rest")).protocols([wskit_rest::PROTOCOL]);
    let (mut ws, _) = within(client.connect()).await.expect("open /rest");
    let id = within(wskit_rest::swagger::client_handshake(&mut ws, &Value::Null))
        .await
        .expect("the REST handshake");
    let conn = RestConnection::builder().negotiated(ws);
    // A request answered: the server has registered the connection (after the handshake's ack).
    let request = axum::http::Request::get("/healthz")
        .body(Body::empty())
        .expect("a request");
    let response = within(conn.clone().oneshot(request))
        .await
        .expect("a response");
    assert_eq!(response.status(), 200);
    let list = http(server.addr, "GET", "/api/rest", None, None).await;
    assert_eq!(list.json()["agents"][0]["id"], id);
    // The connection's task must run to answer the close: signal, await, then reap.
    server.signal("TERM");
    let reason = within(conn.closed()).await;
    assert!(
        reason.contains("peer closed") && reason.contains("1001"),
        "{reason}"
    );
    let (status, _) = server.wait();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn head_and_204_through_the_gateway_end_at_the_head_with_both_protocols() {
    let server = Server::start(&[]);
    let document = "d".repeat(300);
    let api = Router::new()
        .route("/doc", get(move || async move { document }))
        .route(
            "/gone",
            axum::routing::delete(|| async { axum::http::StatusCode::NO_CONTENT }),
        );
    for swagger in [false, true] {
        let agent = rest_client(&server, swagger, None, Value::Null, Some(api.clone()));
        let id = connected(&agent).await;
        let head = http(
            server.addr,
            "HEAD",
            &format!("/api/rest/{id}/doc"),
            None,
            None,
        )
        .await;
        assert_eq!(head.status, 200, "swagger: {swagger}: {head:?}");
        assert_eq!(head.header("content-length"), Some("300"), "{head:?}");
        assert_eq!(head.body, "", "{head:?}");
        let gone = http(
            server.addr,
            "DELETE",
            &format!("/api/rest/{id}/gone"),
            None,
            None,
        )
        .await;
        assert_eq!(gone.status, 204, "swagger: {swagger}: {gone:?}");
        assert_eq!(gone.body, "");
        // The connection goes on serving.
        let get = http(
            server.addr,
            "GET",
            &format!("/api/rest/{id}/doc"),
            None,
            None,
        )
        .await;
        assert_eq!(get.body.len(), 300, "swagger: {swagger}");
        agent.close().await;
    }
}
