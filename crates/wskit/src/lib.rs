//! Fast, conformant WebSocket (RFC 6455) client and server for tokio, with
//! permessage-deflate (RFC 7692) and TLS through rustls.
//!
//! The protocol lives in the sans-IO crate [`proto`] (`wskit-proto`); this crate drives it
//! over any `AsyncRead + AsyncWrite` transport.
//!
//! # Layout
//!
//! - [`WebSocket`]: a connection after the handshake: `recv`/`send`, `Stream` + `Sink`.
//! - [`connect`] and [`Client`]: the client side (`ws://`, `wss://`).
//! - [`accept`] and [`Server`]: the server side, over any accepted transport.
//! - [`Config`]: limits and timeouts, each with a default.
//! - [`WebSocket::ping_and_wait`] and [`Heartbeat`]: pings answered by pongs, keep-alive.
//! - [`tls`]: rustls configurations.
//!
//! # Example: an echo server
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), wskit::Error> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         tokio::spawn(async move {
//!             let mut ws = wskit::accept(stream).await?;
//!             while let Some(msg) = ws.recv().await {
//!                 let msg = msg?;
//!                 if msg.is_text() || msg.is_binary() {
//!                     ws.send(msg).await?;
//!                 }
//!             }
//!             Ok::<_, wskit::Error>(())
//!         });
//!     }
//! }
//! ```
//!
//! # Cancel safety
//!
//! [`WebSocket::recv`] is cancel safe, so it can sit in a `tokio::select!` loop; so are
//! [`Heartbeat::tick`] and [`WebSocket::ping_and_wait`].
//!
//! # Feature flags
//!
//! None is on by default.
//!
//! - `hyper`: the module `upgrade`, accepting WebSocket upgrades inside a hyper 1 HTTP/1.1
//!   server (`hyper::upgrade::on`).
//! - `axum`: `axum::WebSocketUpgrade`, the same as an axum 0.8 extractor. Implies `hyper`.

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod config;
mod error;
mod heartbeat;
mod proxy;
mod read_pool;
mod reconnect;
mod server;
mod stream;
pub mod tls;
#[cfg(feature = "hyper")]
pub mod upgrade;
#[cfg(feature = "axum")]
pub use upgrade::axum;
mod websocket;

pub use client::{Client, WsUrl, connect};
pub use config::Config;
pub use error::Error;
pub use heartbeat::{Beat, Heartbeat, MAX_APP_DATA};
pub use proto;
pub use proto::handshake::client::Negotiated;
pub use proto::handshake::server::Request;
pub use proto::{CloseCode, CloseFrame, DeflateConfig, EncodedMessage, Message, Utf8Bytes};
pub use proxy::NoProxy;
pub use reconnect::{
    Backoff, DisconnectReason, Event, Events, OnConnectFuture, ReconnectBuilder, ReconnectingClient,
};
pub use server::{Decision, Server, accept, read_request, reject};
pub use stream::MaybeTlsStream;
pub use websocket::{ReadyState, WebSocket};
