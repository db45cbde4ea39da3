//! Two hubs on one real Redis (started by the test on a free loopback port): fan-outs, names
//! and ids across nodes, atomic name claims, cluster-wide queries, a crashed node's entries
//! expiring, and a Redis outage (local delivery goes on, counters move, cross-node delivery
//! resumes).

mod common;

use std::future::Future;
use std::time::Duration;

use common::*;
use tokio::net::TcpStream;
use wskit::{MaybeTlsStream, Message, WebSocket};
use wskit_hub::broker::{BrokerError, RedisBroker, RedisOptions};
use wskit_hub::{Connection, Hub, HubEvent, SendError, Service, ServiceOptions};
use wskit_support::redis_server::RedisServer;

/// Polls for what Redis has no event for (a key registered or expired), up to this long.
const EVENTUALLY: Duration = Duration::from_secs(15);

struct Quiet;

impl Service for Quiet {}

type Client = WebSocket<MaybeTlsStream<TcpStream>>;

/// A hub with `/chat`, served on a loopback port, connected to Redis.
struct Node {
    hub: Hub,
    broker: RedisBroker,
    addr: std::net::SocketAddr,
}

async fn node(redis: &RedisServer, options: RedisOptions) -> Node {
    let hub = Hub::new();
    hub.register("/chat", Quiet, ServiceOptions::default())
        .unwrap();
    let broker = RedisBroker::connect(&redis.url(), options).await.unwrap();
    hub.set_broker(broker.clone()).unwrap();
    let addr = serve(&hub).await;
    Node { hub, broker, addr }
}

fn fast() -> RedisOptions {
    RedisOptions::default().reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
}

/// A client of `/chat` on `node` and its connection on the hub.
async fn connect(node: &Node) -> (Client, Connection) {
    connect_to(&node.hub, node.addr).await
}

async fn connect_to(hub: &Hub, addr: std::net::SocketAddr) -> (Client, Connection) {
    let mut events = hub.events();
    let ws = client(addr, "/chat").await;
    loop {
        if let HubEvent::Received { id, .. } = within(events.recv()).await.unwrap() {
            return (ws, hub.connection(id.as_str()).unwrap());
        }
    }
}

/// Polls `check` until it holds, failing after [`EVENTUALLY`].
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
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn has_member(hub: &Hub, group: &str, conn: &Connection) -> bool {
    hub.cluster_members(group)
        .await
        .is_ok_and(|members| members.contains(conn.id()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_outs_reach_the_connections_of_another_node() {
    let redis = RedisServer::start();
    let a = node(&redis, fast()).await;
    let b = node(&redis, fast()).await;
    let (mut on_a, conn_a) = connect(&a).await;
    let (mut on_b, conn_b) = connect(&b).await;
    a.hub.join("room", &conn_a);
    b.hub.join("room", &conn_b);
    // Once B's changes are flushed, A lists the member and B receives the group.
    b.hub.cluster_flush().await.unwrap();
    assert!(has_member(&a.hub, "room", &conn_b).await);

    // A group push from A: one local delivery, and B fans it out to its member.
    let delivery = a.hub.send_to_group("room", Message::text("to the room"));
    assert_eq!(
        delivery.delivered, 1,
        "the Delivery counts local connections"
    );
    assert_eq!(text(&mut on_a).await, "to the room");
    assert_eq!(text(&mut on_b).await, "to the room");

    // Binary messages cross as they are.
    b.hub
        .send_to_group("room", Message::binary(vec![0, 159, 255]));
    for ws in [&mut on_a, &mut on_b] {
        match within(ws.recv()).await {
            Some(Ok(Message::Binary(data))) => assert_eq!(&data[..], &[0, 159, 255]),
            other => panic!("expected the binary message, got {other:?}"),
        }
    }

    // Broadcasts to the service, and to everything.
    a.hub.broadcast("/chat", Message::text("to /chat"));
    assert_eq!(text(&mut on_b).await, "to /chat");
    assert_eq!(text(&mut on_a).await, "to /chat");
    b.hub.broadcast_all(Message::text("to all"));
    assert_eq!(text(&mut on_a).await, "to all");
    assert_eq!(text(&mut on_b).await, "to all");
    // A node does not receive its own publishes a second time.
    a.hub.send_to_group("room", Message::text("once"));
    assert_eq!(text(&mut on_a).await, "once");
    assert_eq!(text(&mut on_b).await, "once");
    b.hub
        .send_to(conn_b.id().as_str(), Message::text("marker"))
        .unwrap();
    assert_eq!(text(&mut on_b).await, "marker");
    a.hub
        .send_to(conn_a.id().as_str(), Message::text("marker"))
        .unwrap();
    assert_eq!(
        text(&mut on_a).await,
        "marker",
        "no duplicate before the marker"
    );

    // Cluster-wide queries merge the nodes.
    assert_eq!(
        a.hub.cluster_groups().await.unwrap(),
        [("room".to_owned(), 2)]
    );
    assert_eq!(a.hub.groups(), [("room".to_owned(), 1)], "local view");
    let mut expected = vec![conn_a.id().clone(), conn_b.id().clone()];
    expected.sort();
    assert_eq!(b.hub.cluster_members("room").await.unwrap(), expected);

    // Leaving on B: A stops listing it, and B stops receiving the group.
    b.hub.leave("room", &conn_b);
    eventually("A no longer lists B's member", || async {
        !has_member(&a.hub, "room", &conn_b).await
    })
    .await;
    assert_eq!(
        a.hub.cluster_groups().await.unwrap(),
        [("room".to_owned(), 1)]
    );
    a.hub.send_to_group("room", Message::text("only a"));
    assert_eq!(text(&mut on_a).await, "only a");
    a.hub
        .send_to(conn_b.id().as_str(), Message::text("x"))
        .unwrap_err();
    a.hub
        .cluster_send(conn_b.id().as_str(), Message::text("direct"))
        .await
        .unwrap();
    assert_eq!(
        text(&mut on_b).await,
        "direct",
        "B got nothing of the group after leaving"
    );

    let stats = b.hub.stats();
    assert!(stats.broker_messages_received >= 4, "{stats:?}");
    assert_eq!(stats.broker_publish_failures, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_to_a_name_or_an_id_held_on_another_node() {
    let redis = RedisServer::start();
    let a = node(&redis, fast()).await;
    let b = node(&redis, fast()).await;
    let (mut on_b, conn_b) = connect(&b).await;
    assert!(b.hub.store("bob", &conn_b));
    eventually("A sees the name bob", || async {
        a.hub
            .cluster_names()
            .await
            .is_ok_and(|names| names.contains(&("bob".to_owned(), conn_b.id().clone())))
    })
    .await;

    assert_eq!(
        a.hub.send_to_name("bob", Message::text("x")),
        Err(SendError::NotFound),
        "the synchronous send stays local"
    );
    a.hub
        .cluster_send("bob", Message::text("hi bob"))
        .await
        .unwrap();
    assert_eq!(text(&mut on_b).await, "hi bob");
    a.hub
        .cluster_send(conn_b.id().as_str(), Message::text("by id"))
        .await
        .unwrap();
    assert_eq!(text(&mut on_b).await, "by id");
    assert_eq!(
        a.hub.cluster_send("nobody", Message::text("x")).await,
        Err(SendError::NotFound)
    );

    // Listings show B's connection with its path, name and groups.
    b.hub.join("room", &conn_b);
    eventually("A lists B's connection with its name and group", || async {
        a.hub.cluster_connections().await.is_ok_and(|all| {
            all.len() == 1
                && all[0].id == *conn_b.id()
                && all[0].path == "/chat"
                && all[0].names == ["bob"]
                && all[0].groups == ["room"]
        })
    })
    .await;

    // A closes it by name; the name goes away with the connection, on every node.
    a.hub
        .cluster_close("bob", wskit::CloseCode::from(4000), "bye from A")
        .await
        .unwrap();
    assert_eq!(close_code(&mut on_b).await, Some(4000));
    eventually("the name is gone everywhere", || async {
        a.hub
            .cluster_names()
            .await
            .is_ok_and(|names| names.is_empty())
    })
    .await;
    assert_eq!(
        a.hub.cluster_send("bob", Message::text("x")).await,
        Err(SendError::NotFound)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_node_leaves_no_ghosts_and_a_closed_one_leaves_at_once() {
    let redis = RedisServer::start();
    let ttl = Duration::from_millis(900);
    let a = node(&redis, fast().node_ttl(ttl)).await;

    // Node B runs on its own runtime, so that the test can make it vanish without any
    // clean-up, as a crash would.
    let url = redis.url();
    let (runtime, b_addr, b_hub) = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (addr, hub) = runtime.block_on(async {
            let hub = Hub::new();
            hub.register("/chat", Quiet, ServiceOptions::default())
                .unwrap();
            let options = RedisOptions::default().node_ttl(ttl);
            let broker = RedisBroker::connect(&url, options).await.unwrap();
            hub.set_broker(broker).unwrap();
            (serve(&hub).await, hub)
        });
        (runtime, addr, hub)
    })
    .join()
    .unwrap();
    let (_on_b, conn_b) = connect_to(&b_hub, b_addr).await;
    b_hub.join("room", &conn_b);
    assert!(b_hub.store("ghost", &conn_b));
    eventually("A sees B's member", || has_member(&a.hub, "room", &conn_b)).await;
    let (_on_a, conn_a) = connect(&a).await;
    eventually("A sees B's name", || async {
        a.hub.cluster_names().await.is_ok_and(|n| n.len() == 1)
    })
    .await;
    assert!(
        !a.hub.cluster_try_store("ghost", &conn_a).await.unwrap(),
        "B holds the name"
    );

    runtime.shutdown_background();
    eventually("B's member and name expire", || async {
        a.hub.cluster_groups().await.is_ok_and(|g| g.is_empty())
            && a.hub.cluster_names().await.is_ok_and(|n| n.is_empty())
    })
    .await;
    assert_eq!(
        a.hub.cluster_send("ghost", Message::text("x")).await,
        Err(SendError::NotFound)
    );
    assert!(
        a.hub.cluster_try_store("ghost", &conn_a).await.unwrap(),
        "the vanished node's claim expired with its other keys"
    );
    assert_eq!(a.hub.named("ghost").as_ref(), Some(&conn_a));

    // A node closed cleanly is gone as soon as `close` returns.
    let c = node(&redis, fast().node_ttl(Duration::from_secs(60))).await;
    let (_on_c, conn_c) = connect(&c).await;
    c.hub.join("lobby", &conn_c);
    eventually("A sees C's member", || has_member(&a.hub, "lobby", &conn_c)).await;
    c.broker.close().await;
    assert!(!c.broker.is_connected());
    assert_eq!(a.hub.cluster_groups().await.unwrap(), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_keeps_local_delivery_and_cross_node_delivery_resumes() {
    let mut redis = RedisServer::start();
    let a = node(&redis, fast()).await;
    let b = node(&redis, fast()).await;
    let (mut a1, conn_a1) = connect(&a).await;
    let (mut a2, conn_a2) = connect(&a).await;
    let (mut b1, conn_b1) = connect(&b).await;
    for conn in [&conn_a1, &conn_a2] {
        a.hub.join("g", conn);
    }
    b.hub.join("g", &conn_b1);
    assert!(b.hub.store("bee", &conn_b1));
    eventually("A sees B's member", || has_member(&a.hub, "g", &conn_b1)).await;
    a.hub.send_to_group("g", Message::text("before"));
    for ws in [&mut a1, &mut a2, &mut b1] {
        assert_eq!(text(ws).await, "before");
    }

    redis.kill();
    eventually("both nodes notice", || async {
        !a.broker.is_connected() && !b.broker.is_connected()
    })
    .await;
    assert!(
        a.hub.cluster_groups().await.is_err(),
        "queries report the outage"
    );
    assert_eq!(
        a.hub.cluster_send("bee", Message::text("x")).await,
        Err(SendError::Unavailable)
    );
    assert!(
        matches!(
            a.hub.cluster_try_store("bee", &conn_a1).await,
            Err(BrokerError::Unavailable(_))
        ),
        "no name is granted while the other nodes cannot be asked"
    );
    assert!(a.hub.named("bee").is_none());

    // Local delivery goes on; what could not cross is counted.
    let failures_before = a.hub.stats().broker_publish_failures;
    let delivery = a.hub.send_to_group("g", Message::text("during"));
    assert_eq!(delivery.delivered, 2);
    assert_eq!(text(&mut a1).await, "during");
    assert_eq!(text(&mut a2).await, "during");
    eventually("the failed publish is counted", || async {
        a.hub.stats().broker_publish_failures > failures_before
    })
    .await;

    // Redis comes back empty: both nodes reconnect, subscribe and register again.
    redis.restart();
    eventually("both nodes reconnect", || async {
        a.hub.stats().broker_reconnects >= 1 && b.hub.stats().broker_reconnects >= 1
    })
    .await;
    eventually("B's member is registered again", || {
        has_member(&a.hub, "g", &conn_b1)
    })
    .await;
    a.hub.send_to_group("g", Message::text("after"));
    assert_eq!(
        text(&mut b1).await,
        "after",
        "B's member missed only what was sent during the outage"
    );
    eventually("the name is registered again", || async {
        a.hub.cluster_names().await.is_ok_and(|n| n.len() == 1)
    })
    .await;
    a.hub
        .cluster_send("bee", Message::text("named"))
        .await
        .unwrap();
    assert_eq!(text(&mut b1).await, "named");
    assert!(
        !a.hub.cluster_try_store("bee", &conn_a1).await.unwrap(),
        "B claimed its name again when Redis came back"
    );
    let stats = a.hub.stats();
    assert!(
        stats.broker_reconnects >= 1 && stats.broker_publish_failures >= 1,
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_crosses_in_order_without_loss() {
    const MESSAGES: usize = 2000;
    let redis = RedisServer::start();
    let a = node(&redis, fast()).await;
    let b = node(&redis, fast()).await;
    let (mut on_b, conn_b) = connect(&b).await;
    b.hub.join("burst", &conn_b);
    eventually("A sees B's member", || has_member(&a.hub, "burst", &conn_b)).await;

    let started = std::time::Instant::now();
    for i in 0..MESSAGES {
        a.hub.send_to_group("burst", Message::text(i.to_string()));
    }
    for i in 0..MESSAGES {
        assert_eq!(text(&mut on_b).await, i.to_string());
    }
    let elapsed = started.elapsed();
    println!(
        "{MESSAGES} group messages from node A to a member on node B in {elapsed:?} ({:.0}/s)",
        MESSAGES as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(a.hub.stats().broker_publish_failures, 0);
    assert_eq!(b.hub.stats().broker_messages_received, MESSAGES as u64);

    // Sends to one connection on another node look it up first: a few round trips each.
    const SENDS: usize = 200;
    let id = conn_b.id().as_str();
    let started = std::time::Instant::now();
    for i in 0..SENDS {
        a.hub
            .cluster_send(id, Message::text(format!("direct {i}")))
            .await
            .unwrap();
    }
    for i in 0..SENDS {
        assert_eq!(text(&mut on_b).await, format!("direct {i}"));
    }
    let elapsed = started.elapsed();
    println!(
        "{SENDS} sends by id from node A to node B in {elapsed:?} ({:.0}/s)",
        SENDS as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_hub_takes_its_node_out_of_the_cluster() {
    let redis = RedisServer::start();
    let hub = Hub::new();
    let options = fast().node_ttl(Duration::from_millis(600));
    let broker = RedisBroker::connect(&redis.url(), options).await.unwrap();
    hub.set_broker(broker.clone()).unwrap();
    eventually("the node connects", || async { broker.is_connected() }).await;
    drop(hub);
    eventually("the node's task notices and stops", || async {
        !broker.is_connected()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_claimed_on_two_nodes_at_once_goes_to_exactly_one_connection() {
    const PER_NODE: usize = 25;
    const ROUNDS: usize = 4;
    let redis = RedisServer::start();
    let a = node(&redis, fast()).await;
    let b = node(&redis, fast()).await;
    let mut clients = Vec::new();
    let mut claimants = Vec::new();
    for _ in 0..PER_NODE {
        for n in [&a, &b] {
            let (ws, conn) = connect(n).await;
            clients.push(ws);
            claimants.push((n.hub.clone(), conn));
        }
    }
    for round in 0..ROUNDS {
        let name = format!("name-{round}");
        // 50 claims, 25 from each node, released together.
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(claimants.len()));
        let claims: Vec<_> = claimants
            .iter()
            .map(|(hub, conn)| {
                let (hub, conn, name, start) =
                    (hub.clone(), conn.clone(), name.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    let held = hub.cluster_try_store(&name, &conn).await.unwrap();
                    held.then_some(conn)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for claim in claims {
            winners.extend(within(claim).await.unwrap());
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let winner = winners[0].id().clone();
        // Every node agrees on the holder, and a send by name from either node reaches it.
        a.hub.cluster_flush().await.unwrap();
        b.hub.cluster_flush().await.unwrap();
        for hub in [&a.hub, &b.hub] {
            let holders: Vec<(String, wskit_hub::ConnectionId)> = hub
                .cluster_names()
                .await
                .unwrap()
                .into_iter()
                .filter(|(n, _)| *n == name)
                .collect();
            assert_eq!(holders, [(name.clone(), winner.clone())], "round {round}");
        }
        let on_a = a.hub.named(&name).is_some();
        let on_b = b.hub.named(&name).is_some();
        assert!(on_a != on_b, "stored on exactly one node");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_released_on_one_node_can_be_claimed_on_another() {
    let redis = RedisServer::start();
    let a = node(&redis, fast()).await;
    let b = node(&redis, fast()).await;
    let (on_b, conn_b) = connect(&b).await;
    let (_on_a, conn_a) = connect(&a).await;
    assert!(b.hub.cluster_try_store("carol", &conn_b).await.unwrap());
    assert!(
        b.hub.cluster_try_store("carol", &conn_b).await.unwrap(),
        "claiming a name held already is fine"
    );
    assert!(!a.hub.cluster_try_store("carol", &conn_a).await.unwrap());
    assert!(
        a.hub.named("carol").is_none(),
        "a refused claim stores nothing"
    );

    // Released when its connection ends.
    let mut events = b.hub.events();
    drop(on_b);
    loop {
        if let HubEvent::Closed { id, .. } = within(events.recv()).await.unwrap() {
            if id == *conn_b.id() {
                break;
            }
        }
    }
    b.hub.cluster_flush().await.unwrap();
    assert!(a.hub.cluster_try_store("carol", &conn_a).await.unwrap());

    // Released when the name is removed; then B's connection can have it.
    let (_on_b, conn_b) = connect(&b).await;
    assert!(!b.hub.cluster_try_store("carol", &conn_b).await.unwrap());
    assert!(a.hub.remove_name("carol"));
    a.hub.cluster_flush().await.unwrap();
    assert!(b.hub.cluster_try_store("carol", &conn_b).await.unwrap());
    b.hub.cluster_flush().await.unwrap();
    assert_eq!(
        a.hub.cluster_names().await.unwrap(),
        [("carol".to_owned(), conn_b.id().clone())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_claim_was_taken_drops_the_name_at_its_next_heartbeat() {
    let redis = RedisServer::start();
    let a = node(&redis, fast().node_ttl(Duration::from_millis(300))).await;
    let (_on_a, conn_a) = connect(&a).await;
    assert!(a.hub.cluster_try_store("dana", &conn_a).await.unwrap());
    a.hub.cluster_flush().await.unwrap();

    // As when another node claimed the name while this one could not reach Redis.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let other = format!("{:032x}/{:032x}", 1, 2);
    redis::cmd("SET")
        .arg("wskit:name:dana")
        .arg(&other)
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    eventually("A drops the name it lost", || async {
        a.hub.named("dana").is_none()
    })
    .await;
    assert!(a.hub.cluster_names().await.unwrap().is_empty());
    let holder: String = redis::cmd("GET")
        .arg("wskit:name:dana")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(holder, other, "the claim stays the other connection's");
}
