//! The sans-IO core of wskit: RFC 6455 (WebSocket, version 13) and RFC 7692
//! (permessage-deflate), with no sockets, no async runtime and no clock.
//!
//! Bytes go in, messages and bytes come out. The tokio crate `wskit` drives this core over
//! real transports; anything else (another runtime, a fuzzer, a simulation) can drive it too.
//!
//! # Layout
//!
//! - [`handshake`]: the opening handshake, [`server`](handshake::server) and
//!   [`client`](handshake::client) sides.
//! - [`Connection`]: the state machine after the handshake: frames in, [`Message`]s out,
//!   pongs and close replies queued in its [`Outbox`].
//! - [`frame`], [`mask`], [`utf8`], [`OpCode`], [`CloseCode`]: the pieces it is made of.
//! - [`DeflateConfig`]: permessage-deflate negotiation and settings.
//! - [`Config`]: limits, each with a default.
//!
//! # Example
//!
//! ```
//! use bytes::{Buf, BytesMut};
//! use wskit_proto::{CloseCode, CloseFrame, Config, Connection, Message};
//!
//! let mut client = Connection::client(Config::default(), None, 42);
//! let mut server = Connection::server(Config::default(), None);
//!
//! client.send(Message::binary(vec![1, 2, 3])).unwrap();
//! client.close(Some(CloseFrame::new(CloseCode::NORMAL, "done"))).unwrap();
//!
//! let mut wire = BytesMut::new();
//! let out = client.outbox();
//! wire.extend_from_slice(&out.copy_to_bytes(out.remaining()));
//! assert_eq!(server.read(&mut wire).unwrap(), Some(Message::binary(vec![1, 2, 3])));
//! assert!(matches!(server.read(&mut wire).unwrap(), Some(Message::Close(Some(_)))));
//! assert!(server.is_closed()); // and its outbox holds the echoed close frame
//! ```

#![deny(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod close;
pub mod config;
pub mod connection;
pub mod deflate;
pub mod error;
pub mod frame;
// Fuzzing entry points, behind the `fuzzing` feature (the fuzz crate and this crate's own
// tests turn it on); not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod opcode;
mod outbox;
pub mod role;
pub mod utf8;

#[cfg(test)]
mod tests;

pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use connection::{Connection, EncodedMessage, State};
pub use deflate::{DeflateConfig, DeflateParams};
pub use error::{Error, ProtocolError};
pub use message::{Message, Utf8Bytes};
pub use opcode::OpCode;
pub use outbox::Outbox;
pub use role::Role;
