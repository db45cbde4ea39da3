//! WebSocket services on paths, with a registry of connections, names, groups, broadcast, an
//! event stream, heartbeats, backpressure, metrics and graceful shutdown, on top of
//! [`wskit`].
//!
//! This is what users of Kitura-WebSocket (services on paths, `WebSocketClient` handles),
//! Ballerina's WebSocket connector (broadcast, stored connections, groups),
//! SwaggerSocket (the server event stream, keep-alive) and nim `ws` (a handler that owns its
//! socket) come for.
//!
//! # Layout
//!
//! - [`Hub`]: registers services on paths, hosts them ([`Hub::serve`], [`Hub::serve_tls`],
//!   [`Hub::accept`] for any transport), fans out ([`Hub::broadcast`],
//!   [`Hub::send_to_group`], [`Hub::send_to_name`]), streams [`HubEvent`]s, shuts down
//!   gracefully.
//! - [`Service`]: a method per event (open, text, binary, ping, pong, close, error, idle);
//!   [`Hub::route_fn`] for a closure that owns the connection and loops on an [`Inbox`].
//! - [`Connection`]: the handle of one connection (id, send, ping, close, hang-up, state,
//!   subprotocol, upgrade request, typed state).
//! - [`broker`]: the [`broker::Broker`] seam to run many nodes as one (Redis with the feature
//!   `redis`); [`Hub::cluster_send`], [`Hub::cluster_groups`] and the other cluster-wide calls.
//! - [`ServiceOptions`]: origin allow-list, authentication hook, subprotocols, headers, limits,
//!   [`Backpressure`], heartbeat, idle timeout.
//!
//! # Example
//! ```no_run
//! use wskit_hub::{Connection, Hub, Service, ServiceOptions};
//!
//! struct Room;
//!
//! impl Service for Room {
//!     async fn on_open(&self, conn: &Connection) {
//!         if let Some(hub) = conn.hub() {
//!             hub.join("lobby", conn);
//!         }
//!     }
//!     async fn on_text(&self, conn: &Connection, text: wskit::Utf8Bytes) {
//!         if let Some(hub) = conn.hub() {
//!             hub.send_to_group("lobby", wskit::Message::Text(text));
//!         }
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), wskit_hub::Error> {
//!     let hub = Hub::new();
//!     hub.register("/chat", Room, ServiceOptions::default())?;
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//!     hub.serve(listener).await
//! }
//! ```
//!
//! # Hosting inside axum
//!
//! With the feature `axum`, [`Hub::upgrade`] answers an upgrade extracted by
//! `wskit::axum::WebSocketUpgrade` with the service registered on the request's path, and
//! [`Hub::router`] makes an `axum::Router` with a route for each registered path, to merge
//! into an application.
//!
//! # Feature flags
//!
//! - `axum` (off by default): hosting inside an axum 0.8 application.
//! - `redis` (off by default): [`broker::RedisBroker`], scale-out across nodes through Redis
//!   pub/sub.
//!
//! # Cancel safety
//!
//! [`Connection::send`] queues the message before it returns `Ok`; dropping it while it waits
//! for room (under [`Backpressure::Wait`]) sends nothing. [`EventStream::recv`] is cancel safe.
//! Dropping [`Hub::cluster_send`] or [`Hub::cluster_close`] before it resolves may or may not
//! deliver the message (it is sent by then or not at all, never twice); the cluster queries
//! (`cluster_groups` and the others) are read-only and cancel safe.
// Without a feature, the items it gates do not exist: their links lead to the feature list.
#![doc = ""]
#![cfg_attr(not(feature = "axum"), doc = "[`Hub::upgrade`]: crate#feature-flags")]
#![cfg_attr(not(feature = "axum"), doc = "[`Hub::router`]: crate#feature-flags")]
#![cfg_attr(
    not(feature = "redis"),
    doc = "[`broker::RedisBroker`]: crate#feature-flags"
)]
#![deny(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
mod axum;
pub mod broker;
mod connection;
mod direct;
mod driver;
mod error;
mod event;
mod fanout;
mod hub;
mod id;
mod metrics;
mod options;
mod registry;
mod request;
mod service;
mod task;
#[cfg(target_os = "linux")]
mod uring;

pub use connection::{Connection, ReadyState};
pub use error::{Error, SendError};
pub use event::{EventStream, HubEvent};
pub use hub::{Delivery, Hub, HubOptions, ShutdownReport, join_path};
pub use id::ConnectionId;
pub use metrics::Stats;
pub use options::{Admission, AuthFuture, Backpressure, Rejection, ServiceOptions};
pub use request::UpgradeRequest;
pub use service::{Idle, Inbox, Service};
