//! REST over WebSocket: serve any HTTP API (any `tower::Service`, such as an axum `Router`) on
//! either end of a WebSocket connection, and use the connection itself as an HTTP client.
//!
//! Two wire formats:
//!
//! - [`swagger`]: SwaggerSocket v1 (go-openapi/swaggersocket), for talking to its Go peers:
//!   a 3-way JSON handshake, then HTTP/1.1 messages in text messages matched by
//!   `X-Correlation-Id`.
//! - Our protocol, selected by the subprotocol [`PROTOCOL`]: binary frames with a small fixed
//!   header, many requests in flight in both directions, streamed bodies with flow control,
//!   cancellation and limits. See [`protocol`].
//!
//! # Layout
//!
//! - [`RestConnection`]: one connection; it serves what [`Builder::serve`] was given (or what
//!   [`RestConnection::serve`] attaches to it later) and is a `tower::Service` that sends
//!   requests to the peer. [`Builder`] also sets the heartbeat, its application data and the
//!   ping and pong handlers.
//! - [`Config`]: limits and timeouts. [`Body`]: the streamed body both directions use.
//! - [`RestServer`]: accepts connections, runs the handshake (client metadata in, connection
//!   id out), finds connections by id or metadata, reports [`ConnectionEvent`]s.
//! - [`RestClient`]: a connection over [`wskit::ReconnectingClient`] that reconnects by itself.
//! - [`swagger`]: the SwaggerSocket handshake and message types, and where the Go library's
//!   names (`KeepAlive`, `PingHdlr`, `PongHdlr`, `AppData`, `EventStream`, `conn.Serve`) are
//!   here.
//! - [`Error`]: everything that can go wrong with a request.
//!
//! # Example
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tower::ServiceExt;
//!
//! let client = wskit::Client::new("ws://127.0.0.1:9001/api").protocols([wskit_rest::PROTOCOL]);
//! let (ws, _) = client.connect().await?;
//! let conn = wskit_rest::RestConnection::builder().negotiated(ws);
//! let request = http::Request::get("/pets").body(wskit_rest::Body::empty())?;
//! let response = conn.oneshot(request).await?;
//! println!("{}", response.status());
//! # Ok(()) }
//! ```
//!
//! # Cancel safety
//!
//! Dropping a request's future cancels it: our protocol resets the stream (the peer's handler
//! is dropped); SwaggerSocket v1 has no cancellation, so its late response is discarded.
//!
//! # Feature flags
//!
//! - `axum` (off by default): [`RestServer::upgrade`], accepting REST connections on a route
//!   of an axum 0.8 application.
// Without the `axum` feature, `RestServer::upgrade` does not exist: its link leads here.
#![doc = ""]
#![cfg_attr(
    not(feature = "axum"),
    doc = "[`RestServer::upgrade`]: crate#feature-flags"
)]
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
mod axum;
mod body;
mod client;
mod config;
mod connection;
mod control;
mod error;
mod handler;
mod http1;
mod mux;
mod server;
pub mod swagger;

/// The `wskit-rest.v1` protocol: its framing and why (`docs/rest-protocol.md`, linked into this
/// crate's directory so that the published crate carries it).
#[doc = include_str!("../rest-protocol.md")]
pub mod protocol {}

pub use body::Body;
pub use client::{RestClient, RestClientBuilder};
pub use config::{Config, RequestTimeout};
pub use connection::{Builder, PROTOCOL, RestConnection};
pub use error::{BoxError, Error};
pub use server::{ConnectionEvent, RestServer};
