//! Scale-out across nodes: the [`Broker`] seam between the hub and a message bus.
//!
//! A hub on its own is one node: [`Hub::broadcast`], [`Hub::send_to_group`] and the other
//! fan-outs reach the connections of this process. With a broker set
//! ([`Hub::set_broker`]), the same calls also hand the message to the broker, once per
//! fan-out (never once per recipient), and every other node fans it out to its own
//! connections. Without a broker, nothing of this module runs: the hub checks one `Option`.
//!
//! | hub call | local | through the broker |
//! |---|---|---|
//! | [`Hub::broadcast`] | connections of the path | every node's connections of the path |
//! | [`Hub::broadcast_all`] | every connection | every node's connections |
//! | [`Hub::send_to_group`] | local members | every node's members |
//! | [`Hub::cluster_send`] (async) | the connection, if here | the node holding the id or name |
//! | [`Hub::cluster_try_store`] (async) | refused if held here | refused if held on any node (one atomic claim) |
//! | [`Hub::cluster_close`] (async) | the connection, if here | the node holding the id or name |
//! | [`Hub::cluster_remove_group`] (async) | the group's local members | every node's members |
//! | [`Hub::cluster_groups`], [`Hub::cluster_members`], [`Hub::cluster_names`], [`Hub::cluster_connections`] (async) | this node | every live node |
//!
//! [`Hub::cluster_flush`] waits until the joins, leaves and names made so far are visible to
//! every node (and this node receives the groups it joined).
//!
//! The [`Delivery`] a fan-out returns counts the local connections only; other nodes deliver
//! on their own. Queries merge this node's registry (always current) with what the other nodes
//! registered in the broker.
//!
//! # The seam
//!
//! A [`Broker`] gets, in order, every change of the local registry ([`Change`]: connections
//! opened and closed, groups joined and left, names stored and removed), so that it can keep
//! a cluster-wide view, and the messages to publish ([`Broker::publish`], which never waits).
//! It hands the messages of other nodes to [`Node::deliver`], which fans them out locally and
//! publishes nothing. The in-process default is no broker at all; [`InProcess`] is the same
//! behaviour as a value, for code that wants a `Broker` either way.
//!
//! # Redis (feature `redis`)
//!
//! [`RedisBroker`] uses Redis pub/sub for messages and Redis keys for the cluster-wide view.
//! Keys and channels start with a prefix (`wskit` by default, [`RedisOptions::prefix`]):
//!
//! | channel | carries | subscribed by |
//! |---|---|---|
//! | `P:svc:{path}` | broadcasts to a service path | nodes with a connection on the path |
//! | `P:all` | broadcasts to every connection | every node |
//! | `P:group:{group}` | pushes to a group | nodes with a member of the group |
//! | `P:node:{node}` | pushes to one connection (by id or name) | that node |
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P:nodes` | set | node ids (a node without its alive key is dead and is removed) |
//! | `{P:node:ID}` | string, expiring | the node's alive key |
//! | `{P:node:ID}:conns` | hash, expiring | the node's connection ids and their service paths |
//! | `{P:node:ID}:groups` | set, expiring | the node's groups with a member |
//! | `{P:node:ID}:group:{group}` | set, expiring | the node's members of a group |
//! | `{P:node:ID}:names` | hash, expiring | the node's index of its names and the ids they point to (for listings) |
//! | `P:name:{name}` | string, expiring | the claim of a name: `NODE/ID`, the node and connection holding it |
//!
//! The braces are a hash tag: a node's keys share one slot of a Redis Cluster. A name's claim
//! is one key of its own (read and written with single-key commands, so that it may live on
//! any shard), and the one truth about who holds the name: a send to a name goes to the node
//! of its claim, and listings ([`Hub::cluster_names`], [`Hub::cluster_connections`]) show a
//! node's index entry only while the claim points to it.
//!
//! ## Names
//!
//! [`Hub::cluster_try_store`] claims a name with one Lua script that sets the claim if it is
//! free (`SET ... PX node_ttl`), refreshes it if the connection holds it already, and refuses
//! otherwise: of several nodes claiming a free name in the same instant, exactly one gets it.
//! While Redis is down it fails with [`BrokerError::Unavailable`] rather than grant a name
//! another node may hold. The heartbeat refreshes the node's claims with the same script (and
//! sets them again after Redis lost them); a name another connection holds meanwhile stays
//! that connection's, and this node removes it from its registry ([`Node::lost_name`]). A claim is deleted, only if the connection still holds it (a
//! compare-and-delete script), when the name is removed or its connection closes, and when
//! the node leaves with [`RedisBroker::close`]; a node that crashes loses its claims with
//! its other keys, after `node_ttl`. [`Hub::store`] keeps its meaning: it replaces the
//! holder, on every node (it sets the claim whoever held it).
//!
//! Every key of a node expires after [`RedisOptions::node_ttl`] (default 15 s) unless the
//! node's heartbeat (every third of it) refreshes it: a node that crashes leaves no ghosts
//! once its keys expire, and a node shut down with [`RedisBroker::close`] removes them at
//! once. A node subscribes to a group's channel when its first local member joins, before it
//! registers the membership, so that a node listed as having members receives the group's
//! messages; it unsubscribes when the last one leaves.
//!
//! ## Redis Cluster: sharded pub/sub
//!
//! With [`RedisOptions::cluster`], the URL is any node of a Redis Cluster (7.0 or later, RESP3):
//! the other shards are discovered, channels are published with `SPUBLISH` and subscribed with
//! `SSUBSCRIBE`, so that each channel's traffic goes through the shard that owns its slot
//! instead of being copied to every shard (which plain pub/sub does in a cluster). A node's
//! keys are read and written in one pipeline per node (one slot); queries ask the nodes
//! concurrently. Messages of one channel keep their order; messages of different channels
//! (a group and a broadcast, say) may be reordered, since they go through different shards.
//!
//! ## Envelope (version 1)
//!
//! Each published message is one binary envelope, all integers big-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | version: `0x01` |
//! | 1 | 1 | opcode: `0x01` text, `0x02` binary, `0x08` close (to a connection: the payload is a 2-byte code and the reason, as in RFC 6455 §5.5.1; to a group: the group is removed, its members stay connected) |
//! | 2 | 16 | origin node id (a node skips its own publishes) |
//! | 18 | 1 | target kind: `0x00` service path, `0x01` all, `0x02` group, `0x03` connection id |
//! | 19 | 2 | target length `L` |
//! | 21 | `L` | target (UTF-8: the path, the group, the connection id; empty for all) |
//! | 21 + `L` | rest | payload (UTF-8 for text, checked on receipt) |
//!
//! An envelope that cannot be read (another version, a bad target, text that is not UTF-8) is
//! logged and dropped; it never reaches a client.
//!
//! ## When Redis goes away
//!
//! Local delivery goes on as if there were no broker. The node reconnects with exponential
//! backoff ([`RedisOptions::reconnect_backoff`], 100 ms doubling up to 5 s), then subscribes
//! again and registers its connections, groups and names again. Messages that could not be
//! published meanwhile are dropped and counted ([`Stats::broker_publish_failures`]), as are
//! reconnections ([`Stats::broker_reconnects`]) and messages received from other nodes
//! ([`Stats::broker_messages_received`]); the `metrics` facade reports them as
//! `wskit_broker_publish_failures_total`, `wskit_broker_reconnects_total`,
//! `wskit_broker_messages_received_total` and the gauge `wskit_broker_connected`. Cluster-wide
//! queries fail with [`BrokerError::Unavailable`] until Redis is back.
//!
//! [`Delivery`]: crate::Delivery
//! [`Stats::broker_publish_failures`]: crate::Stats::broker_publish_failures
//! [`Stats::broker_reconnects`]: crate::Stats::broker_reconnects
//! [`Stats::broker_messages_received`]: crate::Stats::broker_messages_received
// Without the `redis` feature, its items do not exist: their links lead to the feature list.
#![cfg_attr(not(feature = "redis"), doc = "[`RedisBroker`]: crate#feature-flags")]
#![cfg_attr(
    not(feature = "redis"),
    doc = "[`RedisBroker::close`]: crate#feature-flags"
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = "[`RedisOptions::prefix`]: crate#feature-flags"
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = "[`RedisOptions::node_ttl`]: crate#feature-flags"
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = "[`RedisOptions::cluster`]: crate#feature-flags"
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = "[`RedisOptions::reconnect_backoff`]: crate#feature-flags"
)]

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use wskit::proto::EncodedMessage;
use wskit::{CloseCode, CloseFrame, Message};

use crate::connection::Connection;
use crate::error::SendError;
use crate::fanout::fan_out;
use crate::hub::{Delivery, Hub, HubInner};
use crate::id::ConnectionId;
use crate::registry::Registry;

#[cfg(feature = "redis")]
mod envelope;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "redis")]
pub use self::redis::{RedisBroker, RedisOptions};

/// The future of a broker's query.
pub type BrokerFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BrokerError>> + Send + 'a>>;

/// A message bus between the nodes of a cluster. See the [module docs](self).
///
/// Implementations must never block or wait in [`attach`](Self::attach),
/// [`publish`](Self::publish) or [`changed`](Self::changed), nor call the hub from them: the
/// hub calls them while it holds its registry lock, so that the broker sees changes in the
/// order they happened (hand the work to a task, as `RedisBroker` does).
///
/// # Example
/// A broker that logs what a real one would send to other nodes:
/// ```
/// use wskit::Message;
/// use wskit_hub::ConnectionId;
/// use wskit_hub::broker::{Broker, BrokerError, BrokerFuture, Change, Node, Snapshot, Target};
///
/// #[derive(Debug)]
/// struct Log;
///
/// impl Broker for Log {
///     fn attach(&self, _node: Node, snapshot: Snapshot) -> Result<(), BrokerError> {
///         println!("{} connections open", snapshot.connections.len());
///         Ok(())
///     }
///     fn changed(&self, change: Change) {
///         println!("{change:?}");
///     }
///     fn publish(&self, target: &Target, msg: &Message) {
///         println!("to {target:?}: {} bytes", msg.as_payload().len());
///     }
///     fn send<'a>(&'a self, _to: &'a str, _msg: &'a Message) -> BrokerFuture<'a, bool> {
///         Box::pin(async { Ok(false) })
///     }
///     fn groups(&self) -> BrokerFuture<'_, Vec<(String, usize)>> {
///         Box::pin(async { Ok(Vec::new()) })
///     }
///     fn members<'a>(&'a self, _group: &'a str) -> BrokerFuture<'a, Vec<ConnectionId>> {
///         Box::pin(async { Ok(Vec::new()) })
///     }
///     fn names(&self) -> BrokerFuture<'_, Vec<(String, ConnectionId)>> {
///         Box::pin(async { Ok(Vec::new()) })
///     }
/// }
///
/// let hub = wskit_hub::Hub::new();
/// hub.set_broker(Log).unwrap();
/// hub.broadcast("/chat", Message::text("hi")); // prints: to Service("/chat"): 2 bytes
/// ```
pub trait Broker: Send + Sync + fmt::Debug + 'static {
    /// Called once, by [`Hub::set_broker`], with a handle to deliver messages from other nodes
    /// and the local registry at that moment (every later change comes through
    /// [`changed`](Self::changed)).
    ///
    /// # Errors
    /// When the broker cannot start (no tokio runtime, say).
    fn attach(&self, node: Node, snapshot: Snapshot) -> Result<(), BrokerError>;

    /// A change of the local registry.
    fn changed(&self, change: Change);

    /// Publishes `msg` for the other nodes; never waits (a message that cannot be published
    /// is dropped and counted with [`Node::record_publish_failures`]).
    fn publish(&self, target: &Target, msg: &Message);

    /// Delivers `msg` to the connection with this id or name on another node; `Ok(false)`
    /// when no other node has it.
    fn send<'a>(&'a self, id_or_name: &'a str, msg: &'a Message) -> BrokerFuture<'a, bool>;

    /// The other nodes' groups with their sizes.
    fn groups(&self) -> BrokerFuture<'_, Vec<(String, usize)>>;

    /// The other nodes' members of `group`.
    fn members<'a>(&'a self, group: &'a str) -> BrokerFuture<'a, Vec<ConnectionId>>;

    /// The other nodes' names and the ids they point to.
    fn names(&self) -> BrokerFuture<'_, Vec<(String, ConnectionId)>>;

    /// Waits until every change reported so far is visible to the other nodes (and, for a
    /// group joined, until this node receives the group's messages from them). Default: at
    /// once.
    fn flush(&self) -> BrokerFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    /// The other nodes' connections, with their paths, names and groups. Default: none.
    fn connections(&self) -> BrokerFuture<'_, Vec<ConnectionSummary>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Claims `name` for the local connection `id` on every node at once, atomically:
    /// `Ok(true)` when `id` holds it now (it was free, or `id` held it already), `Ok(false)`
    /// when another connection, on any node, holds it. Of several nodes claiming one free
    /// name in the same instant, exactly one gets it. Default: `Ok(true)` (no other node).
    fn claim<'a>(&'a self, _name: &'a str, _id: &'a ConnectionId) -> BrokerFuture<'a, bool> {
        Box::pin(async { Ok(true) })
    }

    /// Gives up a claim of [`claim`](Self::claim) if `id` still holds `name` (a claim that
    /// ended up not stored locally). Default: nothing to do.
    fn release<'a>(&'a self, _name: &'a str, _id: &'a ConnectionId) -> BrokerFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// A connection as cluster-wide listings show it ([`Hub::cluster_connections`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct ConnectionSummary {
    /// The connection's id.
    pub id: ConnectionId,
    /// The path of its service.
    pub path: String,
    /// Its names.
    pub names: Vec<String>,
    /// Its groups.
    pub groups: Vec<String>,
}

impl ConnectionSummary {
    /// A connection with no name and no group.
    #[must_use]
    pub fn new(id: ConnectionId, path: String) -> Self {
        Self {
            id,
            path,
            names: Vec::new(),
            groups: Vec::new(),
        }
    }
}

/// What a fan-out addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// Every connection of the service on this path.
    Service(String),
    /// Every connection.
    All,
    /// Every member of this group.
    Group(String),
    /// The connection with this id.
    Connection(String),
}

/// A change of the local registry, as a [`Broker`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A connection opened on a service path.
    Opened {
        /// The connection.
        id: ConnectionId,
        /// The service's path.
        path: String,
    },
    /// A connection ended (its groups and names were removed just before, with their own
    /// changes).
    Closed {
        /// The connection.
        id: ConnectionId,
        /// The service's path.
        path: String,
    },
    /// A connection joined a group.
    Joined {
        /// The group.
        group: String,
        /// The connection.
        id: ConnectionId,
    },
    /// A connection left a group.
    Left {
        /// The group.
        group: String,
        /// The connection.
        id: ConnectionId,
    },
    /// A name now points to a connection (replacing what it pointed to).
    Named {
        /// The name.
        name: String,
        /// The connection.
        id: ConnectionId,
    },
    /// A name was removed.
    Unnamed {
        /// The name.
        name: String,
        /// The connection it pointed to.
        id: ConnectionId,
    },
}

/// The local registry when a broker is attached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// Open connections and their service paths.
    pub connections: Vec<(ConnectionId, String)>,
    /// Group memberships.
    pub groups: Vec<(String, ConnectionId)>,
    /// Names and the connections they point to.
    pub names: Vec<(String, ConnectionId)>,
}

/// The id of a node: random, 128 bits, shown as 32 hex digits.
///
/// # Example
/// ```
/// let node = wskit_hub::broker::NodeId::random();
/// assert_eq!(node.to_string().len(), 32);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u128);

/// Why a cluster-wide operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The broker is not connected (Redis is down or unreachable); it keeps reconnecting.
    /// Local delivery goes on; retry the query later.
    #[error("the broker is unavailable: {0}")]
    Unavailable(String),
    /// The broker answered with an error, or its settings are invalid (a bad URL, say).
    #[error("broker error: {0}")]
    Backend(String),
    /// A broker is already set on this hub.
    #[error("a broker is already set on this hub")]
    AlreadySet,
}

/// The handle a [`Broker`] gets to deliver other nodes' messages on this node and to count
/// what happens. Holds the hub weakly: it does not keep the hub alive.
#[derive(Clone)]
pub struct Node {
    inner: Weak<HubInner>,
}

/// The in-process broker: publishes nothing and knows no other node. Setting it is the same
/// as setting no broker, at the cost of a call per fan-out.
///
/// # Example
/// ```
/// let hub = wskit_hub::Hub::new();
/// hub.set_broker(wskit_hub::broker::InProcess).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct InProcess;

// ===== impl Hub =====

impl Hub {
    /// Connects this hub to other nodes through `broker` (see [`broker`](crate::broker)).
    /// Set it before serving, once.
    ///
    /// # Errors
    /// [`BrokerError::AlreadySet`] when a broker is set already, else what
    /// [`Broker::attach`] returns.
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let hub = wskit_hub::Hub::new();
    /// hub.set_broker(wskit_hub::broker::InProcess).unwrap();
    /// assert!(hub.set_broker(wskit_hub::broker::InProcess).is_err());
    /// # }
    /// ```
    pub fn set_broker<B: Broker>(&self, broker: B) -> Result<(), BrokerError> {
        let inner = self.inner_arc();
        let mut registry = crate::hub::write(&inner.registry);
        if registry.broker.is_some() {
            return Err(BrokerError::AlreadySet);
        }
        let broker: Arc<dyn Broker> = Arc::new(broker);
        // Under the registry lock: every change after the snapshot reaches the broker.
        broker.attach(
            Node {
                inner: Arc::downgrade(inner),
            },
            snapshot(&registry),
        )?;
        registry.broker = Some(broker);
        Ok(())
    }

    /// Whether a broker is set.
    #[must_use]
    pub fn has_broker(&self) -> bool {
        self.broker().is_some()
    }

    /// Sends `msg` to the connection with this id or name, on this node or (through the
    /// broker) on another one, without waiting for room in its queue.
    ///
    /// # Errors
    /// [`SendError::NotFound`] when no node has it, [`SendError::Unavailable`] when it is not
    /// here and the broker cannot be reached, else as [`Connection::try_send`] for a local
    /// connection.
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use wskit_hub::{Hub, SendError};
    /// let hub = Hub::new();
    /// let sent = hub.cluster_send("bob", wskit::Message::text("hi")).await;
    /// assert_eq!(sent, Err(SendError::NotFound), "no node has a connection named bob");
    /// # }
    /// ```
    ///
    /// [`Connection::try_send`]: crate::Connection::try_send
    pub async fn cluster_send(&self, id_or_name: &str, msg: Message) -> Result<(), SendError> {
        match self.send_to(id_or_name, msg.clone()) {
            Err(SendError::NotFound) => {}
            local => return local,
        }
        let Some(broker) = self.broker() else {
            return Err(SendError::NotFound);
        };
        match broker.send(id_or_name, &msg).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SendError::NotFound),
            Err(err) => {
                tracing::debug!(%err, "cluster send failed");
                Err(SendError::Unavailable)
            }
        }
    }

    /// Stores `conn` under `name` unless another connection holds it, on this node or (through
    /// the broker) on any other: the cluster-wide [`try_store`](Self::try_store). Returns
    /// whether `conn` holds the name now. The claim is atomic across the nodes: of several
    /// connections claiming one free name at once, on any nodes, exactly one gets it. The name
    /// is given up when the connection ends or the name is removed, and when its node
    /// disappears without clean-up, once the node's entries expire. Without a broker, this is
    /// [`try_store`](Self::try_store).
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] when the broker cannot be reached: then nothing is stored
    /// (granting the name could make a duplicate).
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(hub: wskit_hub::Hub, conn: wskit_hub::Connection) {
    /// match hub.cluster_try_store("alice", &conn).await {
    ///     Ok(true) => println!("{} is alice on every node", conn.id()),
    ///     Ok(false) => println!("another connection is alice"),
    ///     Err(err) => println!("cannot check the other nodes now: {err}"),
    /// }
    /// # }
    /// ```
    pub async fn cluster_try_store(
        &self,
        name: &str,
        conn: &Connection,
    ) -> Result<bool, BrokerError> {
        let Some(broker) = self.broker() else {
            return Ok(self.try_store(name, conn));
        };
        if self
            .named(name)
            .is_some_and(|holder| holder.id() != conn.id())
        {
            return Ok(false);
        }
        if !broker.claim(name, conn.id()).await? {
            return Ok(false);
        }
        if self.try_store(name, conn) {
            return Ok(true);
        }
        // Closed meanwhile (or stored locally for another connection by `store`): give the
        // claim back rather than leave it until it expires.
        if let Err(err) = broker.release(name, conn.id()).await {
            tracing::debug!(%err, name, "could not release a claim not stored");
        }
        Ok(false)
    }

    /// Every group of every node, with its size (summed over the nodes), sorted by name.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] when the broker cannot be reached ([`groups`](Self::groups)
    /// still answers for this node).
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let hub = wskit_hub::Hub::new();
    /// // Without a broker: this node's groups, members and names.
    /// assert!(hub.cluster_groups().await.unwrap().is_empty());
    /// assert!(hub.cluster_members("lobby").await.unwrap().is_empty());
    /// assert!(hub.cluster_names().await.unwrap().is_empty());
    /// # }
    /// ```
    pub async fn cluster_groups(&self) -> Result<Vec<(String, usize)>, BrokerError> {
        let mut sizes: BTreeMap<String, usize> = self.groups().into_iter().collect();
        if let Some(broker) = self.broker() {
            for (group, size) in broker.groups().await? {
                *sizes.entry(group).or_default() += size;
            }
        }
        Ok(sizes.into_iter().collect())
    }

    /// The ids of the members of `group` on every node.
    ///
    /// # Errors
    /// As [`cluster_groups`](Self::cluster_groups).
    pub async fn cluster_members(&self, group: &str) -> Result<Vec<ConnectionId>, BrokerError> {
        let mut members = self.members(group);
        if let Some(broker) = self.broker() {
            members.extend(broker.members(group).await?);
        }
        members.sort();
        members.dedup();
        Ok(members)
    }

    /// The names of every node and the ids they point to, sorted by name.
    ///
    /// # Errors
    /// As [`cluster_groups`](Self::cluster_groups).
    pub async fn cluster_names(&self) -> Result<Vec<(String, ConnectionId)>, BrokerError> {
        let mut names = self.names();
        if let Some(broker) = self.broker() {
            names.extend(broker.names().await?);
        }
        names.sort();
        Ok(names)
    }

    /// Waits until the joins, leaves and names made so far on this node are registered with
    /// the broker: then every node lists them, and messages published to the groups joined on
    /// any node reach this node. At once without a broker.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] when the broker is not connected (the changes are
    /// registered when it reconnects).
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(hub: wskit_hub::Hub, conn: wskit_hub::Connection) {
    /// hub.join("lobby", &conn);
    /// // From here, a message to "lobby" from any node reaches `conn`.
    /// let _ = hub.cluster_flush().await;
    /// # }
    /// ```
    pub async fn cluster_flush(&self) -> Result<(), BrokerError> {
        match self.broker() {
            Some(broker) => broker.flush().await,
            None => Ok(()),
        }
    }

    /// Every connection of every node, with its path, names and groups, sorted by id.
    ///
    /// # Errors
    /// As [`cluster_groups`](Self::cluster_groups).
    pub async fn cluster_connections(&self) -> Result<Vec<ConnectionSummary>, BrokerError> {
        let mut all: Vec<ConnectionSummary> = self
            .connections(None)
            .iter()
            .map(|conn| {
                let (groups, names) = self.memberships(conn);
                ConnectionSummary {
                    id: conn.id().clone(),
                    path: conn.path().to_owned(),
                    names,
                    groups,
                }
            })
            .collect();
        if let Some(broker) = self.broker() {
            all.extend(broker.connections().await?);
        }
        for summary in &mut all {
            summary.names.sort();
            summary.groups.sort();
        }
        all.sort();
        Ok(all)
    }

    /// Closes the connection with this id or name, on this node or (through the broker) on
    /// another one, with `code` and `reason` (see [`Connection::close`]).
    ///
    /// # Errors
    /// As [`cluster_send`](Self::cluster_send).
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let hub = wskit_hub::Hub::new();
    /// let closed = hub.cluster_close("bob", wskit::CloseCode::NORMAL, "bye").await;
    /// assert_eq!(closed, Err(wskit_hub::SendError::NotFound));
    /// # }
    /// ```
    ///
    /// [`Connection::close`]: crate::Connection::close
    pub async fn cluster_close(
        &self,
        id_or_name: &str,
        code: CloseCode,
        reason: &str,
    ) -> Result<(), SendError> {
        if let Some(conn) = self.connection(id_or_name) {
            conn.close(code, reason);
            return Ok(());
        }
        let Some(broker) = self.broker() else {
            return Err(SendError::NotFound);
        };
        let reason = truncate(reason, CloseFrame::MAX_REASON_LEN);
        let msg = Message::Close(Some(CloseFrame::new(code, reason.to_owned())));
        match broker.send(id_or_name, &msg).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SendError::NotFound),
            Err(err) => {
                tracing::debug!(%err, "cluster close failed");
                Err(SendError::Unavailable)
            }
        }
    }

    /// Removes `group` on every node (its members stay connected). Returns how many members
    /// it had on all the nodes, or `None` if it had none.
    ///
    /// # Errors
    /// As [`cluster_groups`](Self::cluster_groups): then nothing is removed.
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let hub = wskit_hub::Hub::new();
    /// assert_eq!(hub.cluster_remove_group("lobby").await.unwrap(), None);
    /// # }
    /// ```
    pub async fn cluster_remove_group(&self, group: &str) -> Result<Option<usize>, BrokerError> {
        let members = self.cluster_members(group).await?.len();
        let local = self.remove_group(group);
        if let Some(broker) = self.broker() {
            // Through the publish queue: after the messages already sent to the group.
            broker.publish(&Target::Group(group.to_owned()), &Message::Close(None));
        }
        Ok((members > 0).then_some(members.max(local.unwrap_or_default())))
    }

    fn broker(&self) -> Option<Arc<dyn Broker>> {
        crate::hub::read(&self.inner_arc().registry).broker.clone()
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn snapshot(registry: &Registry) -> Snapshot {
    Snapshot {
        connections: registry
            .all()
            .map(|conn| (conn.id().clone(), conn.path().to_owned()))
            .collect(),
        groups: registry
            .groups
            .iter()
            .flat_map(|(group, members)| {
                members
                    .iter()
                    .map(move |member| (group.clone(), member.0.id().clone()))
            })
            .collect(),
        names: registry
            .names
            .iter()
            .map(|(name, id)| (name.clone(), id.clone()))
            .collect(),
    }
}

// ===== impl Node =====

impl Node {
    /// Delivers a message from another node to the local connections `target` addresses,
    /// without publishing it again. Returns how many connections it reached (none once the
    /// hub is gone). A close message to a connection closes it with its code and reason; to a
    /// group, it removes the group (its members stay connected).
    pub fn deliver(&self, target: &Target, msg: &Message) -> Delivery {
        let Some(inner) = self.inner.upgrade() else {
            return Delivery::default();
        };
        if let (Target::Group(group), Message::Close(_)) = (target, msg) {
            let removed = crate::hub::write(&inner.registry).remove_group(group);
            return Delivery {
                delivered: removed.unwrap_or_default(),
                dropped: 0,
            };
        }
        let registry = crate::hub::read(&inner.registry);
        if let Target::Connection(id) = target {
            let mut delivery = Delivery::default();
            if let Message::Close(frame) = msg {
                if let Some(conn) = registry.get(id.as_str()) {
                    match frame {
                        Some(frame) => conn.close(frame.code, frame.reason.as_str()),
                        None => conn.close(CloseCode::NORMAL, ""),
                    }
                    delivery.delivered = 1;
                }
                return delivery;
            }
            match registry.get(id.as_str()) {
                Some(conn) if conn.try_send(msg.clone()).is_ok() => delivery.delivered = 1,
                Some(_) => delivery.dropped = 1,
                None => {}
            }
            return delivery;
        }
        let Some(encoded) = EncodedMessage::new(msg) else {
            return Delivery::default();
        };
        let io_uring = inner.options.io_uring;
        match target {
            Target::Service(path) => fan_out(registry.service(path), &encoded, io_uring),
            Target::All => fan_out(registry.all(), &encoded, io_uring),
            Target::Group(group) => fan_out(registry.group(group), &encoded, io_uring),
            Target::Connection(_) => Delivery::default(),
        }
    }

    /// Removes `name` from this node's registry if it still points to `id`: the cluster gave
    /// the name to another connection (another node claimed it while this one could not
    /// reach the bus, say), and this node follows. Returns whether it was removed.
    pub fn lost_name(&self, name: &str, id: &ConnectionId) -> bool {
        let Some(inner) = self.inner.upgrade() else {
            return false;
        };
        let mut registry = crate::hub::write(&inner.registry);
        if registry.names.get(name) != Some(id) {
            return false;
        }
        registry.remove_name(name)
    }

    /// Whether the hub is still there.
    #[must_use]
    pub fn is_alive(&self) -> bool {
        self.inner.strong_count() > 0
    }

    /// Counts `n` messages that could not be published.
    pub fn record_publish_failures(&self, n: u64) {
        if let Some(inner) = self.inner.upgrade() {
            inner.metrics.broker_publish_failures(n);
        }
    }

    /// Counts a reconnection to the bus after a loss.
    pub fn record_reconnect(&self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.metrics.broker_reconnect();
        }
    }

    /// Counts a message received from another node.
    pub fn record_received(&self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.metrics.broker_received();
        }
    }

    /// Records whether the bus is connected (the gauge `wskit_broker_connected`).
    pub fn record_connected(&self, connected: bool) {
        if let Some(inner) = self.inner.upgrade() {
            inner.metrics.broker_connected(connected);
        }
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("alive", &self.is_alive())
            .finish()
    }
}

// ===== impl NodeId =====

impl NodeId {
    /// A new random node id.
    #[must_use]
    pub fn random() -> Self {
        Self(rand::random())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

// ===== impl InProcess =====

impl Broker for InProcess {
    fn attach(&self, _node: Node, _snapshot: Snapshot) -> Result<(), BrokerError> {
        Ok(())
    }

    fn changed(&self, _change: Change) {}

    fn publish(&self, _target: &Target, _msg: &Message) {}

    fn send<'a>(&'a self, _id_or_name: &'a str, _msg: &'a Message) -> BrokerFuture<'a, bool> {
        Box::pin(async { Ok(false) })
    }

    fn groups(&self) -> BrokerFuture<'_, Vec<(String, usize)>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn members<'a>(&'a self, _group: &'a str) -> BrokerFuture<'a, Vec<ConnectionId>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn names(&self) -> BrokerFuture<'_, Vec<(String, ConnectionId)>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}
