//! Two hubs on a real Redis Cluster (three shards started by the test) with sharded pub/sub
//! (`RedisOptions::cluster`): fan-outs, names, listings and a burst across nodes; a shard that
//! crashes and comes back.

mod common;

use std::time::Duration;

use common::*;
use wskit::Message;
use wskit_hub::broker::{RedisBroker, RedisOptions};
use wskit_hub::{Connection, Hub, HubEvent, Service, ServiceOptions};
use wskit_support::redis_server::RedisCluster;

struct Quiet;

impl Service for Quiet {}

async fn node(url: &str) -> (Hub, std::net::SocketAddr) {
    let hub = Hub::new();
    hub.register("/chat", Quiet, ServiceOptions::default())
        .unwrap();
    let options = RedisOptions::default()
        .cluster(true)
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200));
    let broker = RedisBroker::connect(url, options).await.unwrap();
    hub.set_broker(broker).unwrap();
    let addr = serve(&hub).await;
    (hub, addr)
}

async fn connect(
    hub: &Hub,
    addr: std::net::SocketAddr,
) -> (
    wskit::WebSocket<wskit::MaybeTlsStream<tokio::net::TcpStream>>,
    Connection,
) {
    let mut events = hub.events();
    let ws = client(addr, "/chat").await;
    loop {
        if let HubEvent::Received { id, .. } = within(events.recv()).await.unwrap() {
            return (ws, hub.connection(id.as_str()).unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_pub_sub_carries_fan_outs_names_and_listings_across_nodes() {
    let cluster = RedisCluster::start(3);
    let (a, a_addr) = node(&cluster.url()).await;
    let (b, b_addr) = node(&cluster.url()).await;
    let (mut on_a, conn_a) = connect(&a, a_addr).await;
    let (mut on_b, conn_b) = connect(&b, b_addr).await;
    // Groups whose channels land on different shards.
    let groups = ["room-1", "room-2", "room-3", "room-4"];
    for group in groups {
        a.join(group, &conn_a);
        b.join(group, &conn_b);
    }
    assert!(b.store("bob", &conn_b));
    b.cluster_flush().await.unwrap();
    a.cluster_flush().await.unwrap();

    let listed = a.cluster_groups().await.unwrap();
    let expected: Vec<(String, usize)> = groups.iter().map(|g| ((*g).to_owned(), 2)).collect();
    assert_eq!(listed, expected);
    for group in groups {
        a.send_to_group(group, Message::text(format!("to {group}")));
        assert_eq!(text(&mut on_a).await, format!("to {group}"));
        assert_eq!(text(&mut on_b).await, format!("to {group}"));
    }
    b.broadcast("/chat", Message::text("to /chat"));
    assert_eq!(text(&mut on_a).await, "to /chat");
    assert_eq!(text(&mut on_b).await, "to /chat");
    a.cluster_send("bob", Message::text("hi bob"))
        .await
        .unwrap();
    assert_eq!(text(&mut on_b).await, "hi bob");
    let names = a.cluster_names().await.unwrap();
    assert_eq!(names, [("bob".to_owned(), conn_b.id().clone())]);
    assert_eq!(a.cluster_connections().await.unwrap().len(), 2);

    const MESSAGES: usize = 1000;
    let started = std::time::Instant::now();
    for i in 0..MESSAGES {
        a.send_to_group("room-1", Message::text(i.to_string()));
    }
    for i in 0..MESSAGES {
        assert_eq!(text(&mut on_b).await, i.to_string());
    }
    let elapsed = started.elapsed();
    println!(
        "{MESSAGES} group messages across nodes through a 3-shard Redis Cluster in {elapsed:?}"
    );
    for i in 0..MESSAGES {
        assert_eq!(text(&mut on_a).await, i.to_string());
    }
    assert_eq!(a.stats().broker_publish_failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_shard_crashes_and_comes_back_every_group_crosses_again() {
    let mut cluster = RedisCluster::start(3);
    let (a, a_addr) = node(&cluster.url()).await;
    let (b, b_addr) = node(&cluster.url()).await;
    let (mut on_a, conn_a) = connect(&a, a_addr).await;
    let (mut on_b, conn_b) = connect(&b, b_addr).await;
    // B's client is read by a task, so that the test can wait on a channel with a timeout.
    let (tx, mut from_b) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(text) = on_b.recv_text().await {
            if tx.send(text.as_str().to_owned()).is_err() {
                break;
            }
        }
    });
    let groups = ["room-1", "room-2", "room-3", "room-4", "room-5", "room-6"];
    for group in groups {
        a.join(group, &conn_a);
        b.join(group, &conn_b);
    }
    b.cluster_flush().await.unwrap();

    // The second shard dies: local delivery goes on for every group.
    cluster.kill(1);
    for group in groups {
        let delivery = a.send_to_group(group, Message::text(format!("local {group}")));
        assert_eq!(delivery.delivered, 1);
        assert_eq!(text(&mut on_a).await, format!("local {group}"));
    }

    // It comes back: every group crosses again. Nothing signals when the nodes have
    // subscribed again, so probe each group until a probe gets through.
    cluster.restart(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for group in groups {
        let mut probe = 0;
        loop {
            probe += 1;
            a.send_to_group(group, Message::text(format!("{group} {probe}")));
            assert_eq!(text(&mut on_a).await, format!("{group} {probe}"));
            // A probe of this group gets through (an earlier one may arrive late: any will
            // do); late probes of the groups before are skipped.
            let crossed = tokio::time::timeout(Duration::from_millis(200), async {
                while let Some(text) = from_b.recv().await {
                    if text.starts_with(&format!("{group} ")) {
                        return true;
                    }
                }
                false
            })
            .await;
            if crossed == Ok(true) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{group} does not cross after the shard came back"
            );
        }
    }
}
