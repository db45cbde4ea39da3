//! [`RedisBroker`]: the nodes of a cluster talk through Redis pub/sub and register their
//! connections, groups and names in Redis keys that expire with the node (the layout is in
//! the [`broker`](super) module docs).
//!
//! One task per node owns the Redis connections: with one Redis, a multiplexed connection for
//! commands and a RESP2 pub/sub connection; with a Redis Cluster ([`RedisOptions::cluster`]),
//! one RESP3 cluster connection for both, its pushed messages arriving on a channel. The hub talks to it through two channels: registry changes (unbounded, in
//! order, small) and messages to publish (bounded by [`RedisOptions::max_pending`]: a full
//! queue drops and counts instead of making a fan-out wait). The task keeps a mirror of the
//! local registry, built from the changes, so that after a reconnection it can subscribe and
//! register everything again without asking the hub (and without racing it).
//!
//! Queries and name claims ([`Broker::claim`]) do not go through the task: they run on a clone
//! of the command connection and answer the caller directly. A claim is then stored in the hub,
//! whose `Named` change reaches the task, which indexes the name and refreshes the claim with
//! every heartbeat; its `Unnamed` change releases the claim.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use redis::aio::{ConnectionLike, MultiplexedConnection, PubSubSink, PubSubStream};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, PushInfo, PushKind, RedisFuture, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use wskit::Message;

use super::envelope;
use super::{
    Broker, BrokerError, BrokerFuture, Change, ConnectionSummary, Node, NodeId, Snapshot, Target,
};
use crate::id::ConnectionId;

/// Settings of a [`RedisBroker`]. A by-value builder; every setting states its default.
///
/// # Example
/// ```
/// use std::time::Duration;
/// let options = wskit_hub::broker::RedisOptions::default()
///     .prefix("chat")
///     .node_ttl(Duration::from_secs(30))
///     .reconnect_backoff(Duration::from_millis(200), Duration::from_secs(10));
/// ```
#[derive(Debug, Clone)]
pub struct RedisOptions {
    prefix: String,
    node_ttl: Duration,
    reconnect_min: Duration,
    reconnect_max: Duration,
    connect_timeout: Duration,
    response_timeout: Duration,
    max_pending: usize,
    cluster: bool,
}

/// A [`Broker`] over Redis pub/sub (feature `redis`). Cheap to clone; clones share the node.
///
/// # Example
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use wskit_hub::broker::{RedisBroker, RedisOptions};
///
/// let hub = wskit_hub::Hub::new();
/// let broker = RedisBroker::connect("redis://127.0.0.1:6379", RedisOptions::default()).await?;
/// hub.set_broker(broker.clone())?;
/// // ... serve; then, after `hub.shutdown(..)`, remove this node's entries at once:
/// broker.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBroker {
    shared: Arc<Shared>,
}

struct Shared {
    client: Backend,
    /// The URL without its password, for logs.
    shown: String,
    node: NodeId,
    options: RedisOptions,
    keys: Keys,
    attached: OnceLock<Node>,
    ops: mpsc::UnboundedSender<Op>,
    outbound: mpsc::Sender<Outbound>,
    receivers: Mutex<Option<Receivers>>,
    /// The command connection while Redis is reachable, for queries.
    conn: Mutex<Option<Commands>>,
}

/// Where the Redis is: one server, or a cluster.
enum Backend {
    Single(Client),
    Cluster(String),
}

/// A command connection to one Redis, or to a Redis Cluster (each command routed to the shard
/// of its slot).
#[derive(Clone)]
enum Commands {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// How the node subscribes.
enum Subscriber {
    Single(PubSubSink),
    Cluster(ClusterConnection),
}

/// Where published messages arrive.
enum Incoming {
    Single(PubSubStream),
    Cluster(mpsc::UnboundedReceiver<PushInfo>),
}

type Receivers = (mpsc::UnboundedReceiver<Op>, mpsc::Receiver<Outbound>);

enum Op {
    Change(Change),
    /// Answered once the changes sent before it are written (or Redis is found down).
    Flush(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

struct Outbound {
    channel: String,
    payload: Bytes,
}

/// The names of the keys and channels (see the module docs of `broker`).
struct Keys {
    prefix: String,
    node: String,
}

/// The Redis connections while connected.
struct Link {
    conn: Commands,
    subscriber: Subscriber,
    incoming: Incoming,
}

/// The local registry as the task knows it.
#[derive(Default)]
struct Mirror {
    conns: HashMap<ConnectionId, String>,
    services: HashMap<String, usize>,
    groups: HashMap<String, HashSet<ConnectionId>>,
    names: HashMap<String, ConnectionId>,
}

/// A subscription change a registry change calls for.
enum Subscription {
    Subscribe(String),
    Unsubscribe(String),
}

/// Publishes and change batches taken at once.
const BATCH: usize = 256;
/// Ids per `SADD` when registering everything again.
const CHUNK: usize = 1000;

type Fallible<T> = Result<T, String>;

/// Claims a name (`KEYS[1]`, `P:name:{name}`) for a holder (`ARGV[1]`, `NODE/ID`) for
/// `ARGV[2]` ms: sets it if free, refreshes it if the holder has it already; 1 when the holder
/// has it now, 0 when another does. One script, so that check and set are one atomic step.
const CLAIM: &str = r"
local held = redis.call('GET', KEYS[1])
if not held then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
if held == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
return 0
";

/// Deletes a name (`KEYS[1]`) only if the holder (`ARGV[1]`) still has it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
";

// ===== impl RedisOptions =====

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "wskit".to_owned(),
            node_ttl: Duration::from_secs(15),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
            max_pending: 4096,
            cluster: false,
        }
    }
}

impl RedisOptions {
    /// The prefix of every key and channel, so that several clusters can share one Redis.
    /// Default: `wskit`.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a node's entries outlive its last heartbeat (the heartbeat runs every third
    /// of it): a crashed node's connections, groups and names disappear from the cluster
    /// within this time. Default: 15 s (at least 30 ms).
    #[must_use]
    pub fn node_ttl(mut self, ttl: Duration) -> Self {
        self.node_ttl = ttl.max(Duration::from_millis(30));
        self
    }

    /// The wait before reconnecting after Redis went away: `min` at first, doubling up to
    /// `max`. Default: 100 ms to 5 s.
    #[must_use]
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min.max(Duration::from_millis(1));
        self.reconnect_max = max.max(self.reconnect_min);
        self
    }

    /// How long connecting to Redis may take. Default: 5 s.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long Redis may take to answer a command before the connection is considered lost.
    /// Default: 5 s.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Whether the URL is a node of a Redis Cluster (7.0 or later). Then the other nodes of
    /// the cluster are discovered from it, messages go through sharded pub/sub (`SPUBLISH`,
    /// `SSUBSCRIBE`: each channel lives on the shard of its slot, so that pub/sub traffic
    /// spreads over the shards instead of reaching every one), and the keys of one wskit node
    /// share a hash slot (`{P:node:ID}...`). Default: off (one Redis, plain pub/sub).
    #[must_use]
    pub fn cluster(mut self, cluster: bool) -> Self {
        self.cluster = cluster;
        self
    }

    /// How many messages may wait to be published; more are dropped and counted as publish
    /// failures (a fan-out never waits for Redis). Default: 4096.
    #[must_use]
    pub fn max_pending(mut self, messages: usize) -> Self {
        self.max_pending = messages.max(1);
        self
    }
}

// ===== impl RedisBroker =====

impl RedisBroker {
    /// A broker for the Redis at `url` (`redis://[:password@]host:port[/db]`, or `rediss://`
    /// for TLS, which trusts the system's roots, or those of the PEM file that `SSL_CERT_FILE`
    /// names), checked with a `PING` now, so that a wrong address is reported at start-up.
    /// Later losses are retried.
    ///
    /// # Errors
    /// [`BrokerError::Backend`] for an invalid URL, [`BrokerError::Unavailable`] when Redis
    /// does not answer.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, BrokerError> {
        let broker = Self::new(url, options)?;
        let shared = &broker.shared;
        let mut conn = command_connection(shared)
            .await
            .map_err(|err| unavailable(shared, &err))?;
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|err| unavailable(shared, &err.to_string()))?;
        tracing::debug!(redis = %shared.shown, %pong, "Redis answers");
        // Queries work from now on; the node's task replaces it when it has subscribed.
        *lock(&shared.conn) = Some(conn);
        Ok(broker)
    }

    /// A broker for the Redis at `url`, without connecting yet (the node connects when the
    /// broker is set on a hub, and retries until Redis answers).
    ///
    /// # Errors
    /// [`BrokerError::Backend`] for an invalid URL.
    pub fn new(url: &str, options: RedisOptions) -> Result<Self, BrokerError> {
        let invalid =
            |err: redis::RedisError| BrokerError::Backend(format!("invalid Redis URL: {err}"));
        let client = if options.cluster {
            // Checks the URL now; the client is built on each connection, with its own
            // channel for the messages the cluster pushes.
            ClusterClient::new(vec![url]).map_err(invalid)?;
            Backend::Cluster(url.to_owned())
        } else {
            Backend::Single(Client::open(url).map_err(invalid)?)
        };
        let node = NodeId::random();
        let (ops, ops_rx) = mpsc::unbounded_channel();
        let (outbound, outbound_rx) = mpsc::channel(options.max_pending);
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                shown: hide_password(url),
                node,
                keys: Keys {
                    prefix: options.prefix.clone(),
                    node: node.to_string(),
                },
                options,
                attached: OnceLock::new(),
                ops,
                outbound,
                receivers: Mutex::new(Some((ops_rx, outbound_rx))),
                conn: Mutex::new(None),
            }),
        })
    }

    /// This node's id.
    #[must_use]
    pub fn node(&self) -> NodeId {
        self.shared.node
    }

    /// Whether the node is connected to Redis now.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        lock(&self.shared.conn).is_some()
    }

    /// Leaves the cluster: once the changes already made are written, removes this node's
    /// keys from Redis and stops the node's task. Call it after
    /// [`Hub::shutdown`](crate::Hub::shutdown); later fan-outs stay local.
    pub async fn close(&self) {
        if self.shared.attached.get().is_none() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        if self.shared.ops.send(Op::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Waits until the registry changes made so far are written to Redis: then the other
    /// nodes list them, and this node receives the messages of the groups joined.
    async fn flush_changes(&self) -> Result<(), BrokerError> {
        if self.shared.attached.get().is_none() {
            return Ok(());
        }
        // Not connected: the changes will be registered on reconnection; nothing to wait for.
        self.connection()?;
        let (tx, rx) = oneshot::channel();
        if self.shared.ops.send(Op::Flush(tx)).is_err() {
            return Err(BrokerError::Unavailable("the broker was closed".into()));
        }
        rx.await
            .map_err(|_| BrokerError::Unavailable("the broker was closed".into()))
    }

    /// A clone of the command connection, or `Unavailable`.
    fn connection(&self) -> Result<Commands, BrokerError> {
        lock(&self.shared.conn).clone().ok_or_else(|| {
            BrokerError::Unavailable(format!(
                "not connected to Redis at {} (reconnecting)",
                self.shared.shown
            ))
        })
    }

    /// The other live nodes; forgets dead ones.
    async fn others(&self, conn: &mut Commands) -> Result<Vec<String>, BrokerError> {
        let keys = &self.shared.keys;
        let nodes: Vec<String> = redis::cmd("SMEMBERS")
            .arg(keys.nodes())
            .query_async(conn)
            .await
            .map_err(backend)?;
        if nodes.is_empty() {
            return Ok(nodes);
        }
        let alive: Vec<(bool,)> = per_node(conn, &nodes, |node| {
            let mut pipe = redis::pipe();
            pipe.cmd("EXISTS").arg(keys.alive(node));
            pipe
        })
        .await?;
        let mut live = Vec::new();
        let mut dead = Vec::new();
        for (node, (alive,)) in nodes.into_iter().zip(alive) {
            if !alive {
                dead.push(node);
            } else if node != keys.node {
                live.push(node);
            }
        }
        if !dead.is_empty() {
            let _: Result<(), _> = redis::cmd("SREM")
                .arg(keys.nodes())
                .arg(&dead)
                .query_async(conn)
                .await;
        }
        Ok(live)
    }
}

impl Broker for RedisBroker {
    fn attach(&self, node: Node, snapshot: Snapshot) -> Result<(), BrokerError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            BrokerError::Backend("a RedisBroker must be set from within a tokio runtime".into())
        })?;
        let receivers = lock(&self.shared.receivers)
            .take()
            .ok_or(BrokerError::AlreadySet)?;
        let mut mirror = Mirror::default();
        for (id, path) in snapshot.connections {
            let _ = mirror.apply(&self.shared.keys, &Change::Opened { id, path });
        }
        for (group, id) in snapshot.groups {
            let _ = mirror.apply(&self.shared.keys, &Change::Joined { group, id });
        }
        for (name, id) in snapshot.names {
            let _ = mirror.apply(&self.shared.keys, &Change::Named { name, id });
        }
        let _ = self.shared.attached.set(node.clone());
        runtime.spawn(run(Arc::clone(&self.shared), node, receivers, mirror));
        Ok(())
    }

    fn changed(&self, change: Change) {
        // The task only ends with the broker (or `close`): then there is nothing to tell.
        let _ = self.shared.ops.send(Op::Change(change));
    }

    fn publish(&self, target: &Target, msg: &Message) {
        let Some(node) = self.shared.attached.get() else {
            return;
        };
        let keys = &self.shared.keys;
        let channel = match target {
            Target::Service(path) => keys.service_channel(path),
            Target::All => keys.all_channel(),
            Target::Group(group) => keys.group_channel(group),
            // Direct messages are routed by `send`, to the node that holds the connection.
            Target::Connection(_) => return,
        };
        let Some(payload) = envelope::encode(self.shared.node, target, msg) else {
            return;
        };
        if self
            .shared
            .outbound
            .try_send(Outbound { channel, payload })
            .is_err()
        {
            node.record_publish_failures(1);
        }
    }

    fn send<'a>(&'a self, id_or_name: &'a str, msg: &'a Message) -> BrokerFuture<'a, bool> {
        Box::pin(async move {
            let mut conn = self.connection()?;
            let nodes = self.others(&mut conn).await?;
            if nodes.is_empty() {
                return Ok(false);
            }
            let keys = &self.shared.keys;
            let has_id: Vec<(bool,)> = per_node(&conn, &nodes, |node| {
                let mut pipe = redis::pipe();
                pipe.cmd("HEXISTS").arg(keys.conns(node)).arg(id_or_name);
                pipe
            })
            .await?;
            // An id first, then a name (as `Hub::connection` looks them up); a name through
            // its claim, the one truth about who holds it.
            let by_id = nodes
                .iter()
                .zip(&has_id)
                .find(|(_, (has,))| *has)
                .map(|(node, _)| (node.clone(), id_or_name.to_owned()));
            let found = match by_id {
                Some(found) => Some(found),
                None => {
                    let holder: Option<String> = redis::cmd("GET")
                        .arg(keys.name(id_or_name))
                        .query_async(&mut conn)
                        .await
                        .map_err(backend)?;
                    holder
                        .as_deref()
                        .and_then(|holder| holder.split_once('/'))
                        .filter(|(node, _)| *node != keys.node)
                        .map(|(node, id)| (node.to_owned(), id.to_owned()))
                }
            };
            let Some((node, id)) = found else {
                return Ok(false);
            };
            let Some(payload) = envelope::encode(self.shared.node, &Target::Connection(id), msg)
            else {
                return Ok(false);
            };
            let receivers: i64 = redis::cmd(self.shared.publish_command())
                .arg(keys.node_channel(&node))
                .arg(&payload[..])
                .query_async(&mut conn)
                .await
                .map_err(backend)?;
            Ok(receivers > 0)
        })
    }

    fn groups(&self) -> BrokerFuture<'_, Vec<(String, usize)>> {
        Box::pin(async move {
            let mut conn = self.connection()?;
            let nodes = self.others(&mut conn).await?;
            if nodes.is_empty() {
                return Ok(Vec::new());
            }
            let keys = &self.shared.keys;
            let lists: Vec<(Vec<String>,)> = per_node(&conn, &nodes, |node| {
                let mut pipe = redis::pipe();
                pipe.cmd("SMEMBERS").arg(keys.groups(node));
                pipe
            })
            .await?;
            let lists: Vec<Vec<String>> = lists.into_iter().map(|(groups,)| groups).collect();
            // One pipeline per node (its keys share a slot), for the nodes with groups.
            let with_groups: Vec<(String, Vec<String>)> = nodes
                .into_iter()
                .zip(lists)
                .filter(|(_, groups)| !groups.is_empty())
                .collect();
            let queries = with_groups.iter().map(|(node, groups)| {
                let mut conn = conn.clone();
                let mut pipe = redis::pipe();
                for group in groups {
                    pipe.cmd("SCARD").arg(keys.group(node, group));
                }
                async move { pipe.query_async::<Vec<usize>>(&mut conn).await }
            });
            let sizes = futures_util::future::try_join_all(queries)
                .await
                .map_err(backend)?;
            let mut total: HashMap<String, usize> = HashMap::new();
            for ((_, groups), sizes) in with_groups.into_iter().zip(sizes) {
                for (group, size) in groups.into_iter().zip(sizes) {
                    if size > 0 {
                        *total.entry(group).or_default() += size;
                    }
                }
            }
            Ok(total.into_iter().collect())
        })
    }

    fn members<'a>(&'a self, group: &'a str) -> BrokerFuture<'a, Vec<ConnectionId>> {
        Box::pin(async move {
            let mut conn = self.connection()?;
            let nodes = self.others(&mut conn).await?;
            if nodes.is_empty() {
                return Ok(Vec::new());
            }
            let lists: Vec<(Vec<String>,)> = per_node(&conn, &nodes, |node| {
                let mut pipe = redis::pipe();
                pipe.cmd("SMEMBERS")
                    .arg(self.shared.keys.group(node, group));
                pipe
            })
            .await?;
            Ok(lists
                .into_iter()
                .flat_map(|(ids,)| ids)
                .map(ConnectionId::from)
                .collect())
        })
    }

    fn flush(&self) -> BrokerFuture<'_, ()> {
        Box::pin(self.flush_changes())
    }

    fn connections(&self) -> BrokerFuture<'_, Vec<ConnectionSummary>> {
        Box::pin(async move {
            let mut conn = self.connection()?;
            let nodes = self.others(&mut conn).await?;
            if nodes.is_empty() {
                return Ok(Vec::new());
            }
            let keys = &self.shared.keys;
            type PerNode = (
                HashMap<String, String>,
                HashMap<String, String>,
                Vec<String>,
            );
            let found: Vec<PerNode> = per_node(&conn, &nodes, |node| {
                let mut pipe = redis::pipe();
                pipe.cmd("HGETALL").arg(keys.conns(node));
                pipe.cmd("HGETALL").arg(keys.names(node));
                pipe.cmd("SMEMBERS").arg(keys.groups(node));
                pipe
            })
            .await?;
            let mut summaries: HashMap<String, ConnectionSummary> = HashMap::new();
            let mut pairs = Vec::new();
            let mut listed = Vec::new();
            for (node, (conns, names, groups)) in nodes.iter().zip(found) {
                for (id, path) in conns {
                    summaries.insert(id.clone(), ConnectionSummary::new(id.into(), path));
                }
                listed.extend(
                    names
                        .into_iter()
                        .map(|(name, id)| (node.as_str(), name, id)),
                );
                pairs.extend(groups.into_iter().map(|group| (node, group)));
            }
            let held = holders(&mut conn, keys, &listed).await?;
            for ((_, name, id), held) in listed.into_iter().zip(held) {
                if let Some(summary) = summaries.get_mut(&id).filter(|_| held) {
                    summary.names.push(name);
                }
            }
            if !pairs.is_empty() {
                let queries = pairs.iter().map(|(node, group)| {
                    let mut conn = conn.clone();
                    let mut pipe = redis::pipe();
                    pipe.cmd("SMEMBERS").arg(keys.group(node, group));
                    async move { pipe.query_async::<(Vec<String>,)>(&mut conn).await }
                });
                let members = futures_util::future::try_join_all(queries)
                    .await
                    .map_err(backend)?;
                for ((_, group), (ids,)) in pairs.iter().zip(members) {
                    for id in ids {
                        if let Some(summary) = summaries.get_mut(&id) {
                            summary.groups.push(group.clone());
                        }
                    }
                }
            }
            Ok(summaries.into_values().collect())
        })
    }

    fn names(&self) -> BrokerFuture<'_, Vec<(String, ConnectionId)>> {
        Box::pin(async move {
            let mut conn = self.connection()?;
            let nodes = self.others(&mut conn).await?;
            if nodes.is_empty() {
                return Ok(Vec::new());
            }
            let maps: Vec<(HashMap<String, String>,)> = per_node(&conn, &nodes, |node| {
                let mut pipe = redis::pipe();
                pipe.cmd("HGETALL").arg(self.shared.keys.names(node));
                pipe
            })
            .await?;
            let listed: Vec<(&str, String, String)> = nodes
                .iter()
                .zip(maps)
                .flat_map(|(node, (names,))| {
                    names
                        .into_iter()
                        .map(move |(name, id)| (node.as_str(), name, id))
                })
                .collect();
            let held = holders(&mut conn, &self.shared.keys, &listed).await?;
            Ok(listed
                .into_iter()
                .zip(held)
                .filter(|(_, held)| *held)
                .map(|((_, name, id), _)| (name, ConnectionId::from(id)))
                .collect())
        })
    }

    fn claim<'a>(&'a self, name: &'a str, id: &'a ConnectionId) -> BrokerFuture<'a, bool> {
        Box::pin(async move {
            let mut conn = self.connection()?;
            let keys = &self.shared.keys;
            let held: i64 = claim_cmd(keys, name, id, ttl_ms(&self.shared))
                .query_async(&mut conn)
                .await
                .map_err(backend)?;
            Ok(held == 1)
        })
    }

    fn release<'a>(&'a self, name: &'a str, id: &'a ConnectionId) -> BrokerFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.connection()?;
            release_cmd(&self.shared.keys, name, id)
                .query_async::<()>(&mut conn)
                .await
                .map_err(backend)
        })
    }
}

/// `EVAL CLAIM`: claims `name` for this node's connection `id` (see [`CLAIM`]).
fn claim_cmd(keys: &Keys, name: &str, id: &ConnectionId, ttl: u64) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(CLAIM)
        .arg(1)
        .arg(keys.name(name))
        .arg(holder(&keys.node, id.as_str()))
        .arg(ttl);
    cmd
}

/// `EVAL RELEASE`: deletes the claim of `name` if this node's `id` holds it.
fn release_cmd(keys: &Keys, name: &str, id: &ConnectionId) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(RELEASE)
        .arg(1)
        .arg(keys.name(name))
        .arg(holder(&keys.node, id.as_str()));
    cmd
}

/// Whether each `(node, name, id)` a node's index lists is the holder of the name's claim
/// (the claim keys are the truth; an index entry may lag behind or outlive it).
async fn holders(
    conn: &mut Commands,
    keys: &Keys,
    listed: &[(&str, String, String)],
) -> Result<Vec<bool>, BrokerError> {
    if listed.is_empty() {
        return Ok(Vec::new());
    }
    let gets = listed
        .iter()
        .map(|(_, name, _)| {
            let mut cmd = redis::cmd("GET");
            cmd.arg(keys.name(name));
            cmd
        })
        .collect();
    let values: Vec<Option<String>> = each_key(conn, gets).await.map_err(backend)?;
    Ok(listed
        .iter()
        .zip(values)
        .map(|((node, _, id), value)| value.is_some_and(|v| v == holder(node, id)))
        .collect())
}

/// Runs commands on keys that may live in different slots: one pipeline to one Redis; to a
/// cluster, each command on its own (a cluster pipeline must stay in one slot), concurrently.
async fn each_key<T: redis::FromRedisValue>(
    conn: &mut Commands,
    cmds: Vec<Cmd>,
) -> redis::RedisResult<Vec<T>> {
    match conn {
        Commands::Single(_) => {
            if cmds.is_empty() {
                return Ok(Vec::new());
            }
            let mut pipe = redis::pipe();
            for cmd in cmds {
                pipe.add_command(cmd);
            }
            pipe.query_async(conn).await
        }
        Commands::Cluster(_) => {
            let queries = cmds.into_iter().map(|cmd| {
                let mut conn = conn.clone();
                async move { cmd.query_async::<T>(&mut conn).await }
            });
            futures_util::future::try_join_all(queries).await
        }
    }
}

impl fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBroker")
            .field("redis", &self.shared.shown)
            .field("node", &self.shared.node)
            .field("prefix", &self.shared.options.prefix)
            .field("connected", &self.is_connected())
            .finish()
    }
}

// ===== the node's task =====

/// Runs the node: connects (and reconnects with backoff), writes registry changes, publishes,
/// delivers what other nodes publish, and beats, until the broker is dropped or closed.
async fn run(shared: Arc<Shared>, node: Node, receivers: Receivers, mut mirror: Mirror) {
    let (mut ops, mut outbound) = receivers;
    let options = &shared.options;
    let keys = &shared.keys;
    let mut link: Option<Link> = None;
    let mut backoff = options.reconnect_min;
    let mut retry_at = Instant::now();
    let mut connected_once = false;
    // Flushes asked while not connected: answered after the next connection attempt, which
    // registers everything (or finds Redis down).
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let mut heartbeat = tokio::time::interval(options.node_ttl / 3);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        tokio::select! {
            op = ops.recv() => {
                let Some(op) = op else { break };
                let mut changes = Vec::new();
                let mut flushes = Vec::new();
                let mut close = None;
                let mut next = Some(op);
                // Takes what is queued, up to a batch; a flush ends the batch, so that it is
                // answered once the changes before it are written.
                while let Some(op) = next.take() {
                    match op {
                        Op::Change(change) => changes.push(change),
                        Op::Flush(done) => {
                            flushes.push(done);
                            break;
                        }
                        Op::Close(done) => {
                            close = Some(done);
                            break;
                        }
                    }
                    if changes.len() < BATCH {
                        next = ops.try_recv().ok();
                    }
                }
                let subscriptions: Vec<Subscription> =
                    changes.iter().filter_map(|c| mirror.apply(keys, c)).collect();
                if let Some(l) = link.as_mut() {
                    if let Err(err) = write_changes(l, &shared, &mirror, &changes, subscriptions).await {
                        lost(&shared, &node, &mut link, &err);
                        retry_at = Instant::now() + options.reconnect_min;
                    }
                }
                if link.is_some() {
                    for done in flushes {
                        let _ = done.send(());
                    }
                } else {
                    waiting.extend(flushes);
                }
                if let Some(done) = close {
                    if let Some(l) = link.as_mut() {
                        if let Err(err) = leave(l, &shared, &mirror).await {
                            tracing::warn!(%err, "could not remove this node's keys from Redis");
                        }
                    }
                    *lock(&shared.conn) = None;
                    node.record_connected(false);
                    let _ = done.send(());
                    break;
                }
            }
            out = outbound.recv() => {
                let Some(out) = out else { break };
                let mut batch = vec![out];
                while batch.len() < BATCH {
                    match outbound.try_recv() {
                        Ok(out) => batch.push(out),
                        Err(_) => break,
                    }
                }
                let count = batch.len() as u64;
                match link.as_mut() {
                    None => node.record_publish_failures(count),
                    Some(l) => {
                        if let Err(err) = publish_batch(&mut l.conn, &batch).await {
                            node.record_publish_failures(count);
                            lost(&shared, &node, &mut link, &err.to_string());
                            retry_at = Instant::now() + options.reconnect_min;
                        }
                    }
                }
            }
            msg = next_message(&mut link) => match msg {
                Some((channel, payload)) => receive(&shared, &node, &channel, &payload),
                None => {
                    lost(&shared, &node, &mut link, "the subscription connection closed");
                    retry_at = Instant::now() + options.reconnect_min;
                }
            },
            _ = heartbeat.tick() => {
                if !node.is_alive() {
                    // The hub is gone (every handle dropped): leave the cluster now rather
                    // than when the keys expire, and stop.
                    if let Some(l) = link.as_mut() {
                        let _ = leave(l, &shared, &mirror).await;
                    }
                    *lock(&shared.conn) = None;
                    break;
                }
                if let Some(l) = link.as_mut() {
                    if let Err(err) = beat(l, &shared, &mirror).await {
                        lost(&shared, &node, &mut link, &err);
                        retry_at = Instant::now() + options.reconnect_min;
                    }
                }
            }
            () = tokio::time::sleep_until(retry_at), if link.is_none() => {
                let established = establish(&shared, &mirror).await;
                for done in waiting.drain(..) {
                    let _ = done.send(());
                }
                match established {
                    Ok(established) => {
                        *lock(&shared.conn) = Some(established.conn.clone());
                        link = Some(established);
                        backoff = options.reconnect_min;
                        node.record_connected(true);
                        if connected_once {
                            node.record_reconnect();
                            tracing::info!(redis = %shared.shown, "reconnected to Redis");
                        }
                        connected_once = true;
                    }
                    Err(err) => {
                        tracing::warn!(
                            redis = %shared.shown, %err, retry_in = ?backoff,
                            "cannot reach Redis; local delivery goes on"
                        );
                        retry_at = Instant::now() + backoff;
                        backoff = (backoff * 2).min(options.reconnect_max);
                    }
                }
            }
        }
    }
    tracing::debug!(node = %shared.node, "Redis broker task ended");
}

/// The channel and payload of the next message published by a node; pending while
/// disconnected, `None` when the connection is lost.
async fn next_message(link: &mut Option<Link>) -> Option<(String, Bytes)> {
    let Some(link) = link else {
        return std::future::pending().await;
    };
    let msg = match &mut link.incoming {
        Incoming::Single(stream) => stream.next().await?,
        Incoming::Cluster(pushes) => loop {
            let push = pushes.recv().await?;
            if push.kind == PushKind::Disconnection {
                return None;
            }
            // Subscription confirmations and the like are not messages.
            if let Some(msg) = redis::Msg::from_push_info(push) {
                break msg;
            }
        },
    };
    Some((
        msg.get_channel_name().to_owned(),
        Bytes::copy_from_slice(msg.get_payload_bytes()),
    ))
}

/// Publishes a batch: one pipeline to one Redis; to a cluster, one pipeline per channel, to
/// the shard of the channel. Either way, the messages of one channel keep their order.
async fn publish_batch(conn: &mut Commands, batch: &[Outbound]) -> redis::RedisResult<()> {
    match conn {
        Commands::Single(_) => {
            let mut pipe = redis::pipe();
            for out in batch {
                pipe.cmd("PUBLISH")
                    .arg(&out.channel)
                    .arg(&out.payload[..])
                    .ignore();
            }
            pipe.query_async::<()>(conn).await
        }
        Commands::Cluster(_) => {
            // One pipeline per channel (a channel is one slot), in the order of the batch;
            // channels on different shards go concurrently.
            let mut channels: Vec<(&str, Pipeline)> = Vec::new();
            for out in batch {
                let index = match channels.iter().position(|(c, _)| *c == out.channel) {
                    Some(index) => index,
                    None => {
                        channels.push((&out.channel, redis::pipe()));
                        channels.len() - 1
                    }
                };
                channels[index]
                    .1
                    .cmd("SPUBLISH")
                    .arg(&out.channel)
                    .arg(&out.payload[..])
                    .ignore();
            }
            let publishes = channels.into_iter().map(|(_, pipe)| {
                let mut conn = conn.clone();
                async move { pipe.query_async::<()>(&mut conn).await }
            });
            futures_util::future::try_join_all(publishes)
                .await
                .map(drop)
        }
    }
}

/// Runs the pipeline `pipe(node)` for each node, concurrently (in a cluster, each node's keys
/// share a slot, so that each pipeline goes to one shard).
async fn per_node<T: redis::FromRedisValue>(
    conn: &Commands,
    nodes: &[String],
    pipe: impl Fn(&str) -> Pipeline,
) -> Result<Vec<T>, BrokerError> {
    let queries = nodes.iter().map(|node| {
        let mut conn = conn.clone();
        let pipe = pipe(node);
        async move { pipe.query_async::<T>(&mut conn).await }
    });
    futures_util::future::try_join_all(queries)
        .await
        .map_err(backend)
}

fn lost(shared: &Shared, node: &Node, link: &mut Option<Link>, err: &str) {
    if link.take().is_some() {
        tracing::warn!(redis = %shared.shown, %err, "lost Redis; reconnecting");
    }
    *lock(&shared.conn) = None;
    node.record_connected(false);
}

/// Delivers a message published by another node.
fn receive(shared: &Shared, node: &Node, channel: &str, payload: &Bytes) {
    match envelope::decode(payload) {
        Ok(envelope) if envelope.origin == shared.node => {}
        Ok(envelope) => {
            node.record_received();
            node.deliver(&envelope.target, &envelope.message);
        }
        Err(err) => tracing::warn!(
            channel,
            %err,
            "dropped a message from Redis that is not a wskit envelope"
        ),
    }
}

async fn command_connection(shared: &Shared) -> Fallible<Commands> {
    let options = &shared.options;
    match &shared.client {
        Backend::Single(client) => {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(options.connect_timeout))
                .set_response_timeout(Some(options.response_timeout));
            client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map(Commands::Single)
                .map_err(|err| err.to_string())
        }
        Backend::Cluster(url) => {
            let (conn, _pushes) = cluster_connection(url, options).await?;
            Ok(Commands::Cluster(conn))
        }
    }
}

/// A cluster connection speaking RESP3, with the channel of the messages it is pushed.
async fn cluster_connection(
    url: &str,
    options: &RedisOptions,
) -> Fallible<(ClusterConnection, mpsc::UnboundedReceiver<PushInfo>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = ClusterClientBuilder::new(vec![url])
        .use_protocol(redis::ProtocolVersion::RESP3)
        .push_sender(tx)
        .connection_timeout(options.connect_timeout)
        .response_timeout(options.response_timeout)
        // Our own loop reconnects with backoff; a command fails fast instead.
        .retries(1)
        .build()
        .map_err(|err| err.to_string())?;
    let conn = tokio::time::timeout(options.connect_timeout, client.get_async_connection())
        .await
        .map_err(|_| "connecting timed out".to_owned())?
        .map_err(|err| err.to_string())?;
    Ok((conn, rx))
}

/// Connects, subscribes to every channel the node needs and registers the node's
/// connections, groups and names again (replacing what Redis held for it).
async fn establish(shared: &Shared, mirror: &Mirror) -> Fallible<Link> {
    let mut link = match &shared.client {
        Backend::Single(client) => {
            let Commands::Single(conn) = command_connection(shared).await? else {
                unreachable!("a single Redis gives a single connection");
            };
            let pubsub =
                tokio::time::timeout(shared.options.connect_timeout, client.get_async_pubsub())
                    .await
                    .map_err(|_| "connecting timed out".to_owned())?
                    .map_err(|err| err.to_string())?;
            let (sink, stream) = pubsub.split();
            Link {
                conn: Commands::Single(conn),
                subscriber: Subscriber::Single(sink),
                incoming: Incoming::Single(stream),
            }
        }
        Backend::Cluster(url) => {
            let (conn, pushes) = cluster_connection(url, &shared.options).await?;
            Link {
                conn: Commands::Cluster(conn.clone()),
                subscriber: Subscriber::Cluster(conn),
                incoming: Incoming::Cluster(pushes),
            }
        }
    };
    let keys = &shared.keys;
    let mut channels = vec![keys.node_channel(&keys.node), keys.all_channel()];
    channels.extend(
        mirror
            .services
            .keys()
            .map(|path| keys.service_channel(path)),
    );
    channels.extend(mirror.groups.keys().map(|group| keys.group_channel(group)));
    for channel in channels {
        subscription(
            &mut link.subscriber,
            shared,
            Subscription::Subscribe(channel),
        )
        .await?;
    }
    register(&mut link.conn, shared, mirror).await?;
    Ok(link)
}

async fn subscription(
    subscriber: &mut Subscriber,
    shared: &Shared,
    change: Subscription,
) -> Fallible<()> {
    let request = async {
        match (subscriber, change) {
            (Subscriber::Single(sink), Subscription::Subscribe(channel)) => {
                sink.subscribe(channel).await
            }
            (Subscriber::Single(sink), Subscription::Unsubscribe(channel)) => {
                sink.unsubscribe(channel).await
            }
            (Subscriber::Cluster(conn), Subscription::Subscribe(channel)) => {
                conn.ssubscribe(channel).await
            }
            (Subscriber::Cluster(conn), Subscription::Unsubscribe(channel)) => {
                conn.sunsubscribe(channel).await
            }
        }
    };
    tokio::time::timeout(shared.options.response_timeout, request)
        .await
        .map_err(|_| "Redis did not answer a SUBSCRIBE in time".to_owned())?
        .map_err(|err| err.to_string())
}

/// Replaces whatever Redis holds for this node with the mirror.
async fn register(conn: &mut Commands, shared: &Shared, mirror: &Mirror) -> Fallible<()> {
    let keys = &shared.keys;
    let node = &keys.node;
    let old_groups: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys.groups(node))
        .query_async(conn)
        .await
        .map_err(|err| err.to_string())?;
    let mut pipe = redis::pipe();
    for group in &old_groups {
        pipe.cmd("DEL").arg(keys.group(node, group)).ignore();
    }
    pipe.cmd("DEL")
        .arg(keys.conns(node))
        .arg(keys.groups(node))
        .arg(keys.names(node))
        .ignore();
    let conns: Vec<(&str, &str)> = mirror
        .conns
        .iter()
        .map(|(id, path)| (id.as_str(), path.as_str()))
        .collect();
    for chunk in conns.chunks(CHUNK) {
        pipe.cmd("HSET").arg(keys.conns(node)).arg(chunk).ignore();
    }
    for (group, members) in &mirror.groups {
        let ids: Vec<&str> = members.iter().map(ConnectionId::as_str).collect();
        for chunk in ids.chunks(CHUNK) {
            pipe.cmd("SADD")
                .arg(keys.group(node, group))
                .arg(chunk)
                .ignore();
        }
        pipe.cmd("SADD").arg(keys.groups(node)).arg(group).ignore();
    }
    for (name, id) in &mirror.names {
        pipe.cmd("HSET")
            .arg(keys.names(node))
            .arg(name)
            .arg(id.as_str())
            .ignore();
    }
    add_heartbeat(&mut pipe, shared, mirror);
    pipe.query_async::<()>(conn)
        .await
        .map_err(|err| err.to_string())?;
    refresh_names(conn, shared, mirror).await?;
    list_node(conn, shared).await
}

/// Claims this node's names again, refreshing their expiry (or setting them when Redis lost
/// them). A name another connection holds now stays that connection's: this node removes it
/// from its registry, so that every node follows the claim.
async fn refresh_names(conn: &mut Commands, shared: &Shared, mirror: &Mirror) -> Fallible<()> {
    let keys = &shared.keys;
    let ttl = ttl_ms(shared);
    let names: Vec<(&String, &ConnectionId)> = mirror.names.iter().collect();
    let claims = names
        .iter()
        .map(|(name, id)| claim_cmd(keys, name, id, ttl))
        .collect();
    let held: Vec<i64> = each_key(conn, claims)
        .await
        .map_err(|err| err.to_string())?;
    for ((name, id), held) in names.into_iter().zip(held) {
        if held != 1 {
            tracing::warn!(
                name = name.as_str(), %id,
                "another connection holds this name now; removing it here"
            );
            if let Some(node) = shared.attached.get() {
                node.lost_name(name, id);
            }
        }
    }
    Ok(())
}

/// Lists this node in `P:nodes` (a key of another slot than the node's own keys).
async fn list_node(conn: &mut Commands, shared: &Shared) -> Fallible<()> {
    redis::cmd("SADD")
        .arg(shared.keys.nodes())
        .arg(&shared.keys.node)
        .query_async::<()>(conn)
        .await
        .map_err(|err| err.to_string())
}

/// Refreshes the expiry of every key of this node, and checks that the subscription
/// connection still answers (a half-open connection would otherwise lose messages silently).
async fn beat(link: &mut Link, shared: &Shared, mirror: &Mirror) -> Fallible<()> {
    let mut pipe = redis::pipe();
    add_heartbeat(&mut pipe, shared, mirror);
    pipe.query_async::<()>(&mut link.conn)
        .await
        .map_err(|err| err.to_string())?;
    refresh_names(&mut link.conn, shared, mirror).await?;
    list_node(&mut link.conn, shared).await?;
    // In a cluster, subscriptions ride on the command connection checked above.
    if let Subscriber::Single(sink) = &mut link.subscriber {
        tokio::time::timeout(shared.options.response_timeout, sink.ping::<Value>())
            .await
            .map_err(|_| "the subscription connection did not answer PING in time".to_owned())?
            .map_err(|err| err.to_string())?;
    }
    Ok(())
}

fn add_heartbeat(pipe: &mut Pipeline, shared: &Shared, mirror: &Mirror) {
    let keys = &shared.keys;
    let node = &keys.node;
    let ttl = ttl_ms(shared);
    pipe.cmd("SET")
        .arg(keys.alive(node))
        .arg(1)
        .arg("PX")
        .arg(ttl)
        .ignore();
    for key in [keys.conns(node), keys.groups(node), keys.names(node)] {
        pipe.cmd("PEXPIRE").arg(key).arg(ttl).ignore();
    }
    for group in mirror.groups.keys() {
        pipe.cmd("PEXPIRE")
            .arg(keys.group(node, group))
            .arg(ttl)
            .ignore();
    }
}

/// Writes a batch of registry changes: subscriptions first (so that a node listed as having
/// members of a group already receives the group's messages), then the keys.
async fn write_changes(
    link: &mut Link,
    shared: &Shared,
    mirror: &Mirror,
    changes: &[Change],
    subscriptions: Vec<Subscription>,
) -> Fallible<()> {
    for change in subscriptions {
        subscription(&mut link.subscriber, shared, change).await?;
    }
    let keys = &shared.keys;
    let node = &keys.node;
    let ttl = ttl_ms(shared);
    let mut pipe = redis::pipe();
    // Claims live in their own keys (other slots): written after the node's pipeline, in order.
    let mut claims = Vec::new();
    for change in changes {
        match change {
            Change::Opened { id, path } => {
                pipe.cmd("HSET")
                    .arg(keys.conns(node))
                    .arg(id.as_str())
                    .arg(path)
                    .ignore();
                pipe.cmd("PEXPIRE").arg(keys.conns(node)).arg(ttl).ignore();
            }
            Change::Closed { id, .. } => {
                pipe.cmd("HDEL")
                    .arg(keys.conns(node))
                    .arg(id.as_str())
                    .ignore();
            }
            Change::Joined { group, id } => {
                pipe.cmd("SADD")
                    .arg(keys.group(node, group))
                    .arg(id.as_str())
                    .ignore();
                pipe.cmd("PEXPIRE")
                    .arg(keys.group(node, group))
                    .arg(ttl)
                    .ignore();
                pipe.cmd("SADD").arg(keys.groups(node)).arg(group).ignore();
                pipe.cmd("PEXPIRE").arg(keys.groups(node)).arg(ttl).ignore();
            }
            Change::Left { group, id } => {
                pipe.cmd("SREM")
                    .arg(keys.group(node, group))
                    .arg(id.as_str())
                    .ignore();
                if !mirror.groups.contains_key(group) {
                    pipe.cmd("SREM").arg(keys.groups(node)).arg(group).ignore();
                }
            }
            Change::Named { name, id } => {
                pipe.cmd("HSET")
                    .arg(keys.names(node))
                    .arg(name)
                    .arg(id.as_str())
                    .ignore();
                pipe.cmd("PEXPIRE").arg(keys.names(node)).arg(ttl).ignore();
                // `Hub::store` replaces, on every node (a claim by `cluster_try_store` was
                // set already: this only refreshes it).
                let mut set = redis::cmd("SET");
                set.arg(keys.name(name))
                    .arg(holder(node, id.as_str()))
                    .arg("PX")
                    .arg(ttl);
                claims.push(set);
            }
            Change::Unnamed { name, id } => {
                if !mirror.names.contains_key(name) {
                    pipe.cmd("HDEL").arg(keys.names(node)).arg(name).ignore();
                }
                claims.push(release_cmd(keys, name, id));
            }
        }
    }
    // Redis refuses an empty pipeline.
    if !pipe.is_empty() {
        pipe.query_async::<()>(&mut link.conn)
            .await
            .map_err(|err| err.to_string())?;
    }
    each_key::<Value>(&mut link.conn, claims)
        .await
        .map(drop)
        .map_err(|err| err.to_string())
}

/// Removes every key of this node.
async fn leave(link: &mut Link, shared: &Shared, mirror: &Mirror) -> Fallible<()> {
    let keys = &shared.keys;
    let node = &keys.node;
    let mut pipe = redis::pipe();
    for group in mirror.groups.keys() {
        pipe.cmd("DEL").arg(keys.group(node, group)).ignore();
    }
    pipe.cmd("DEL")
        .arg(keys.alive(node))
        .arg(keys.conns(node))
        .arg(keys.groups(node))
        .arg(keys.names(node))
        .ignore();
    pipe.query_async::<()>(&mut link.conn)
        .await
        .map_err(|err| err.to_string())?;
    let releases = mirror
        .names
        .iter()
        .map(|(name, id)| release_cmd(keys, name, id))
        .collect();
    each_key::<Value>(&mut link.conn, releases)
        .await
        .map_err(|err| err.to_string())?;
    redis::cmd("SREM")
        .arg(keys.nodes())
        .arg(node)
        .query_async::<()>(&mut link.conn)
        .await
        .map_err(|err| err.to_string())
}

fn ttl_ms(shared: &Shared) -> u64 {
    u64::try_from(shared.options.node_ttl.as_millis()).unwrap_or(u64::MAX)
}

// ===== impl Shared =====

impl Shared {
    /// `PUBLISH`, or `SPUBLISH` on a cluster.
    fn publish_command(&self) -> &'static str {
        match self.client {
            Backend::Single(_) => "PUBLISH",
            Backend::Cluster(_) => "SPUBLISH",
        }
    }
}

// ===== impl Commands =====

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(cmd, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

// ===== impl Mirror =====

impl Mirror {
    /// Applies a change; returns the subscription change it calls for.
    fn apply(&mut self, keys: &Keys, change: &Change) -> Option<Subscription> {
        match change {
            Change::Opened { id, path } => {
                self.conns.insert(id.clone(), path.clone());
                let count = self.services.entry(path.clone()).or_default();
                *count += 1;
                (*count == 1).then(|| Subscription::Subscribe(keys.service_channel(path)))
            }
            Change::Closed { id, path } => {
                self.conns.remove(id);
                let count = self.services.get_mut(path)?;
                *count = count.saturating_sub(1);
                if *count > 0 {
                    return None;
                }
                self.services.remove(path);
                Some(Subscription::Unsubscribe(keys.service_channel(path)))
            }
            Change::Joined { group, id } => {
                let members = self.groups.entry(group.clone()).or_default();
                (members.insert(id.clone()) && members.len() == 1)
                    .then(|| Subscription::Subscribe(keys.group_channel(group)))
            }
            Change::Left { group, id } => {
                let members = self.groups.get_mut(group)?;
                members.remove(id);
                if !members.is_empty() {
                    return None;
                }
                self.groups.remove(group);
                Some(Subscription::Unsubscribe(keys.group_channel(group)))
            }
            Change::Named { name, id } => {
                self.names.insert(name.clone(), id.clone());
                None
            }
            Change::Unnamed { name, id } => {
                if self.names.get(name) == Some(id) {
                    self.names.remove(name);
                }
                None
            }
        }
    }
}

// ===== impl Keys =====

impl Keys {
    fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    // A node's keys share the hash tag `{P:node:ID}`, hence one slot of a Redis Cluster, so
    // that a pipeline of them goes to one shard.

    fn alive(&self, node: &str) -> String {
        format!("{{{}:node:{node}}}", self.prefix)
    }

    fn conns(&self, node: &str) -> String {
        format!("{{{}:node:{node}}}:conns", self.prefix)
    }

    fn groups(&self, node: &str) -> String {
        format!("{{{}:node:{node}}}:groups", self.prefix)
    }

    fn group(&self, node: &str, group: &str) -> String {
        format!("{{{}:node:{node}}}:group:{group}", self.prefix)
    }

    fn names(&self, node: &str) -> String {
        format!("{{{}:node:{node}}}:names", self.prefix)
    }

    /// The claim of a name: who holds it, cluster-wide (its own slot in a Redis Cluster).
    fn name(&self, name: &str) -> String {
        format!("{}:name:{name}", self.prefix)
    }

    fn service_channel(&self, path: &str) -> String {
        format!("{}:svc:{path}", self.prefix)
    }

    fn all_channel(&self) -> String {
        format!("{}:all", self.prefix)
    }

    fn group_channel(&self, group: &str) -> String {
        format!("{}:group:{group}", self.prefix)
    }

    fn node_channel(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }
}

/// The value of a name's claim: `NODE/ID`.
fn holder(node: &str, id: &str) -> String {
    format!("{node}/{id}")
}

fn backend(err: redis::RedisError) -> BrokerError {
    if err.is_io_error() || err.is_connection_dropped() || err.is_timeout() {
        BrokerError::Unavailable(err.to_string())
    } else {
        BrokerError::Backend(err.to_string())
    }
}

fn unavailable(shared: &Shared, err: &str) -> BrokerError {
    BrokerError::Unavailable(format!("cannot reach Redis at {}: {err}", shared.shown))
}

/// `redis://user:secret@host` shown as `redis://user:***@host`.
fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

// A panic while holding these locks cannot leave an `Option` half written.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            hide_password("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(
            hide_password("redis://:hunter2@10.0.0.1:6379/0"),
            "redis://:***@10.0.0.1:6379/0"
        );
        assert_eq!(
            hide_password("redis://app:hunter2@host"),
            "redis://app:***@host"
        );
    }

    #[test]
    fn the_mirror_subscribes_on_the_first_member_and_unsubscribes_after_the_last() {
        let keys = Keys {
            prefix: "p".into(),
            node: "n".into(),
        };
        let mut mirror = Mirror::default();
        let a = ConnectionId::from("a");
        let b = ConnectionId::from("b");
        let join = |id: &ConnectionId| Change::Joined {
            group: "g".into(),
            id: id.clone(),
        };
        let left = |id: &ConnectionId| Change::Left {
            group: "g".into(),
            id: id.clone(),
        };
        assert!(
            matches!(mirror.apply(&keys, &join(&a)), Some(Subscription::Subscribe(c)) if c == "p:group:g")
        );
        assert!(mirror.apply(&keys, &join(&b)).is_none());
        assert!(mirror.apply(&keys, &join(&b)).is_none(), "joining twice");
        assert!(mirror.apply(&keys, &left(&a)).is_none());
        assert!(
            matches!(mirror.apply(&keys, &left(&b)), Some(Subscription::Unsubscribe(c)) if c == "p:group:g")
        );
        assert!(mirror.apply(&keys, &left(&b)).is_none(), "leaving twice");
        let opened = Change::Opened {
            id: a.clone(),
            path: "/ws".into(),
        };
        assert!(
            matches!(mirror.apply(&keys, &opened), Some(Subscription::Subscribe(c)) if c == "p:svc:/ws")
        );
        let closed = Change::Closed {
            id: a,
            path: "/ws".into(),
        };
        assert!(matches!(
            mirror.apply(&keys, &closed),
            Some(Subscription::Unsubscribe(_))
        ));
        assert!(mirror.conns.is_empty() && mirror.services.is_empty());
    }
}
