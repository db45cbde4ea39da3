//! Two `wskit serve` processes on one real Redis (started by the test on a free loopback
//! port): `/ws` and the HTTP API across nodes, names and groups resolved across nodes, and a
//! Redis outage (local delivery goes on, the loss counter moves, delivery across nodes resumes
//! after Redis comes back, without restarting the nodes).

mod support;

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};
use support::*;
use wskit_support::redis_server::{RedisCluster, RedisServer};

/// Polls for what has no event (Redis registrations, reconnections), up to this long.
const EVENTUALLY: Duration = Duration::from_secs(20);

fn node(redis: &RedisServer) -> Server {
    Server::start(&["--redis", &redis.url(), "--heartbeat-interval", "off"])
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `GET /api/groups` as `{name: size}`, and whether it is partial.
async fn groups(server: &Server) -> (Value, bool) {
    let response = http(server.addr, "GET", "/api/groups", None, None).await;
    assert_eq!(response.status, 200, "{response:?}");
    let body = response.json();
    let sizes: serde_json::Map<String, Value> = body["groups"]
        .as_array()
        .expect("a list of groups")
        .iter()
        .map(|g| (g["name"].as_str().unwrap().to_owned(), g["size"].clone()))
        .collect();
    (Value::Object(sizes), body["partial"] == true)
}

async fn stats(server: &Server) -> Value {
    http(server.addr, "GET", "/api/stats", None, None)
        .await
        .json()
}

async fn post(server: &Server, path: &str, body: Value) -> Response {
    http(server.addr, "POST", path, None, Some(&body.to_string())).await
}

#[tokio::test]
async fn ws_and_the_api_work_across_two_nodes() {
    let redis = RedisServer::start();
    let a = node(&redis);
    let b = node(&redis);
    assert!(a.line.contains("listening on"), "{}", a.line);

    let mut on_b = Client::connect(&b).await;
    let ack = on_b
        .call(json!({"type": "join", "group": "room", "ref": 1}))
        .await;
    assert_eq!(ack, json!({"type": "ack", "ref": 1}));
    let ack = on_b
        .call(json!({"type": "name", "name": "bob", "ref": 2}))
        .await;
    assert_eq!(ack, json!({"type": "ack", "ref": 2}));
    let mut on_a = Client::connect(&a).await;
    let ack = on_a
        .call(json!({"type": "join", "group": "room", "ref": 1}))
        .await;
    assert_eq!(ack["type"], "ack");
    // The acks of `join` come once every node lists the membership.
    assert_eq!(groups(&a).await, (json!({"room": 2}), false));

    // /ws publish on A reaches the member on B.
    on_a.send(json!({"type": "publish", "group": "room", "data": "hi", "ref": 3}))
        .await;
    let expected = json!({"type": "message", "group": "room", "from": on_a.id, "data": "hi"});
    assert_eq!(on_a.recv().await, expected);
    assert_eq!(on_a.recv().await, json!({"type": "ack", "ref": 3}));
    assert_eq!(on_b.recv().await, expected);

    // The HTTP API of A: to the group, to a name held on B, to an id on B.
    let response = post(&a, "/api/groups/room/messages", json!({"data": 1})).await;
    assert_eq!(response.status, 200, "{response:?}");
    let delivery = json!({"type": "message", "group": "room", "from": null, "data": 1});
    assert_eq!(on_a.recv().await, delivery);
    assert_eq!(on_b.recv().await, delivery);
    let response = post(
        &a,
        "/api/connections/bob/messages",
        json!({"data": "to bob"}),
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    let direct = json!({"type": "message", "group": null, "from": null, "data": "to bob"});
    assert_eq!(on_b.recv().await, direct);
    let path = format!("/api/connections/{}/messages", on_b.id);
    assert_eq!(post(&a, &path, json!({"data": "to bob"})).await.status, 200);
    assert_eq!(on_b.recv().await, direct);
    let response = post(&a, "/api/connections/nobody/messages", json!({"data": 0})).await;
    assert_eq!(response.status, 404, "{response:?}");

    // Broadcast from B reaches A's client.
    assert_eq!(
        post(&b, "/api/broadcast", json!({"data": "all"}))
            .await
            .status,
        200
    );
    let all = json!({"type": "message", "group": null, "from": null, "data": "all"});
    assert_eq!(on_a.recv().await, all);
    assert_eq!(on_b.recv().await, all);

    // /ws send to a name on another node; names and presence resolve across nodes.
    let answer = on_a
        .call(json!({"type": "send", "to": "bob", "data": "psst", "ref": 4}))
        .await;
    assert_eq!(answer, json!({"type": "ack", "ref": 4}));
    assert_eq!(
        on_b.recv().await,
        json!({"type": "message", "group": null, "from": on_a.id, "data": "psst"})
    );
    let answer = on_a
        .call(json!({"type": "name", "name": "bob", "ref": 5}))
        .await;
    assert_eq!(answer["code"], "name_taken", "{answer}");
    let answer = on_a
        .call(json!({"type": "presence", "group": "room", "ref": 6}))
        .await;
    let mut members = vec![
        json!({"id": on_a.id, "name": null}),
        json!({"id": on_b.id, "name": "bob"}),
    ];
    members.sort_by_key(|m| m["id"].as_str().unwrap().to_owned());
    assert_eq!(
        answer,
        json!({"type": "presence", "ref": 6, "group": "room", "members": members})
    );
    let answer = on_a
        .call(json!({"type": "send", "to": "nobody", "data": 0, "ref": 7}))
        .await;
    assert_eq!(answer["code"], "not_found", "{answer}");

    let stats = stats(&b).await;
    assert_eq!(stats["cluster"], true, "{stats}");
    assert!(
        stats["broker_messages_received"].as_u64().unwrap() >= 4,
        "{stats}"
    );

    // A group removed through B's API is gone on every node; its members stay connected.
    let response = http(b.addr, "DELETE", "/api/groups/room", None, None).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.json(), json!({"group": "room", "removed": 2}));
    eventually("the group is gone on A too", || async {
        groups(&a).await == (json!({}), false)
    })
    .await;
    let answer = on_a
        .call(json!({"type": "publish", "group": "room", "data": 0, "ref": 8}))
        .await;
    assert_eq!(answer["code"], "not_member", "{answer}");

    // Listings and closes across nodes.
    let listing = http(a.addr, "GET", "/api/connections", None, None)
        .await
        .json();
    let connections = listing["connections"].as_array().expect("a list");
    assert_eq!(connections.len(), 2, "{listing}");
    let bob = json!({"id": on_b.id, "path": "/ws", "name": "bob", "groups": []});
    assert!(connections.contains(&bob), "{listing}");
    let body = r#"{"code": 4001, "reason": "moved"}"#;
    let response = http(a.addr, "DELETE", "/api/connections/bob", None, Some(body)).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.json()["closing"], "bob");
    assert_eq!(on_b.close_frame().await, Some((4001, "moved".to_owned())));
}

#[tokio::test]
async fn a_redis_outage_keeps_local_delivery_and_delivery_across_nodes_resumes() {
    let mut redis = RedisServer::start();
    let a = node(&redis);
    let b = node(&redis);
    let mut a1 = Client::connect(&a).await;
    let mut a2 = Client::connect(&a).await;
    let mut b1 = Client::connect(&b).await;
    for client in [&mut a1, &mut a2, &mut b1] {
        let ack = client
            .call(json!({"type": "join", "group": "g", "ref": 0}))
            .await;
        assert_eq!(ack["type"], "ack");
    }
    eventually("A lists the three members", || async {
        groups(&a).await == (json!({"g": 3}), false)
    })
    .await;

    redis.kill();
    // Local delivery goes on: A's two members get what is sent to the group on A.
    let response = post(&a, "/api/groups/g/messages", json!({"data": "during"})).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.json()["delivered"], 2);
    for client in [&mut a1, &mut a2] {
        assert_eq!(client.recv().await["data"], "during");
    }
    eventually("the failed publish is counted", || async {
        stats(&a).await["broker_publish_failures"].as_u64() >= Some(1)
    })
    .await;
    eventually("A reports its listing as partial", || async {
        groups(&a).await == (json!({"g": 2}), true)
    })
    .await;
    let metrics = http(a.addr, "GET", "/metrics", None, None).await.body;
    assert!(
        metrics.contains("wskit_broker_publish_failures_total"),
        "{metrics}"
    );

    // Redis comes back (empty): the nodes reconnect and register again by themselves.
    redis.restart();
    eventually("both nodes reconnect", || async {
        stats(&a).await["broker_reconnects"].as_u64() >= Some(1)
            && stats(&b).await["broker_reconnects"].as_u64() >= Some(1)
    })
    .await;
    eventually("A lists B's member again", || async {
        groups(&a).await == (json!({"g": 3}), false)
    })
    .await;
    let response = post(&a, "/api/groups/g/messages", json!({"data": "after"})).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(
        b1.recv().await["data"],
        "after",
        "B's member missed only what was sent during the outage"
    );
}

#[test]
fn an_unreachable_redis_stops_the_start_with_an_error_naming_it() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port();
    let url = format!("redis://:secret@127.0.0.1:{port}");
    let output = serve_command(&["--listen", "127.0.0.1:0", "--redis", &url])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot reach Redis at redis://:***@127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("secret"),
        "the password is hidden: {stderr}"
    );
    let output = serve_command(&["--redis", "localhost:6379"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("redis: invalid URL \"localhost:6379\""),
        "{stderr}"
    );
}

#[tokio::test]
async fn nodes_on_a_redis_cluster_use_sharded_pub_sub() {
    let cluster = RedisCluster::start(3);
    let url = cluster.url();
    let args = [
        "--redis",
        &url,
        "--redis-cluster",
        "--heartbeat-interval",
        "off",
    ];
    let a = Server::start(&args);
    let b = Server::start(&args);
    let mut on_a = Client::connect(&a).await;
    let mut on_b = Client::connect(&b).await;
    for group in ["north", "south", "east", "west"] {
        for client in [&mut on_a, &mut on_b] {
            let ack = client
                .call(json!({"type": "join", "group": group, "ref": 1}))
                .await;
            assert_eq!(ack["type"], "ack", "{ack}");
        }
    }
    let expected = json!({"east": 2, "north": 2, "south": 2, "west": 2});
    assert_eq!(groups(&a).await, (expected, false));
    for group in ["north", "south", "east", "west"] {
        let path = format!("/api/groups/{group}/messages");
        assert_eq!(post(&a, &path, json!({"data": group})).await.status, 200);
        assert_eq!(on_b.recv().await["data"], group);
        assert_eq!(on_a.recv().await["data"], group);
    }
    let answer = on_b
        .call(json!({"type": "publish", "group": "north", "data": "from b", "ref": 2}))
        .await;
    assert_eq!(answer["data"], "from b");
    assert_eq!(on_a.recv().await["data"], "from b");

    assert_eq!(on_b.recv().await, json!({"type": "ack", "ref": 2}));

    // Names are claimed in their own keys (each in its own slot) and resolve across nodes.
    for (i, name) in ["zed", "yan", "xia"].into_iter().enumerate() {
        let answer = on_a
            .call(json!({"type": "name", "name": name, "ref": i}))
            .await;
        assert_eq!(answer, json!({"type": "ack", "ref": i}));
        let answer = on_b
            .call(json!({"type": "name", "name": name, "ref": i}))
            .await;
        assert_eq!(answer["code"], "name_taken", "{answer}");
        let answer = on_b
            .call(json!({"type": "send", "to": name, "data": i, "ref": "s"}))
            .await;
        assert_eq!(answer, json!({"type": "ack", "ref": "s"}));
        assert_eq!(on_a.recv().await["data"], i);
    }
    let listing = http(b.addr, "GET", "/api/connections", None, None)
        .await
        .json();
    let names: Vec<&Value> = listing["connections"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| &c["name"])
        .collect();
    assert!(names.contains(&&json!("xia")), "{listing}");
}

#[tokio::test]
async fn two_clients_on_two_nodes_claiming_one_name_get_one_ack_and_one_refusal() {
    let mut redis = RedisServer::start();
    let a = node(&redis);
    let b = node(&redis);
    let mut on_a = Client::connect(&a).await;
    let mut on_b = Client::connect(&b).await;
    for round in 0..10 {
        let name = format!("name-{round}");
        // Both claims leave before either answer comes back.
        let claim = json!({"type": "name", "name": name, "ref": round});
        on_a.send(claim.clone()).await;
        on_b.send(claim).await;
        let answers = [on_a.recv().await, on_b.recv().await];
        let acks = answers.iter().filter(|a| a["type"] == "ack").count();
        let taken = answers
            .iter()
            .filter(|a| a["type"] == "error" && a["code"] == "name_taken")
            .count();
        assert_eq!((acks, taken), (1, 1), "round {round}: {answers:?}");
        assert!(answers.iter().all(|a| a["ref"] == round), "{answers:?}");
        // The holder is the same from both nodes: a send by name from either reaches it.
        let (holder, other) = if answers[0]["type"] == "ack" {
            (&mut on_a, &mut on_b)
        } else {
            (&mut on_b, &mut on_a)
        };
        let answer = other
            .call(json!({"type": "send", "to": name, "data": round, "ref": "s"}))
            .await;
        assert_eq!(answer, json!({"type": "ack", "ref": "s"}));
        assert_eq!(holder.recv().await["data"], round);
    }

    // While Redis is down no name is granted: the node cannot know who else has it.
    redis.kill();
    let answer = on_a
        .call(json!({"type": "name", "name": "later", "ref": "x"}))
        .await;
    assert_eq!(answer["code"], "unavailable", "{answer}");
    assert_eq!(answer["ref"], "x", "{answer}");
}
