//! SwaggerSocket v1, the wire format of go-openapi/swaggersocket.
//!
//! After the WebSocket opens, the client and server exchange three JSON text messages (each
//! written by Go's `json.Encoder`, so followed by a newline):
//!
//! ```text
//! client -> server  {"Type":"ClientHandshakeMetaData","Meta":<any JSON>}
//! server -> client  {"Type":"ServerHandshakeConnectionID","ConnectionID":"<uuid>"}
//! client -> server  {"Type":"ClientHandshakeAckFrame"}
//! ```
//!
//! Then either side sends HTTP/1.1 requests and responses as text messages: request or status
//! line, headers, body delimited by `Content-Length` or chunked. A Go server flushing a response
//! starts a new WebSocket message, so one response may span several messages (and an empty
//! message marks a flush); the reader joins them. A request carries an `X-Correlation-Id`
//! header that its response echoes, which is how responses find their requests.
//!
//! Text messages must be UTF-8, so this format carries only UTF-8 bodies; sending another body
//! fails with [`Error::InvalidRequest`](crate::Error::InvalidRequest). Bodies are buffered whole
//! (up to [`Config::max_body_size`](crate::Config::max_body_size)).

//!
//! Responses that have no body end with their head, whatever their `Content-Length` says: the
//! answer to a `HEAD` request (which carries the `Content-Length` a `GET` would get, as Go's
//! server sends it), and every `1xx`, `204 No Content` and `304 Not Modified`.
//!
//! # Coming from the Go library
//!
//! What its README names, and where it is here:
//!
//! | go-openapi/swaggersocket | wskit-rest |
//! |---|---|
//! | `NewWebSocketServer(SocketServerOpts)` | [`RestServer::new`](crate::RestServer::new) with a [`Builder`](crate::Builder), then [`RestServer::serve`](crate::RestServer::serve) |
//! | `NewWebSocketClient(SocketClientOpts)`, `WithMetaData`, `Connect` | [`RestClient::builder`](crate::RestClient::builder), [`metadata`](crate::RestClientBuilder::metadata), [`swagger`](crate::RestClientBuilder::swagger), [`spawn`](crate::RestClientBuilder::spawn) |
//! | `KeepAlive` | [`Builder::heartbeat`](crate::Builder::heartbeat), [`RestClientBuilder::heartbeat`](crate::RestClientBuilder::heartbeat) (the client reconnects with backoff, as Go's does) |
//! | `PingHdlr` | [`Builder::ping_handler`](crate::Builder::ping_handler) |
//! | `PongHdlr` | [`Builder::pong_handler`](crate::Builder::pong_handler) |
//! | `AppData` | [`Builder::app_data`](crate::Builder::app_data) |
//! | `EventStream()`, `ConnectionEvent` | [`RestServer::events`](crate::RestServer::events), [`ConnectionEvent`](crate::ConnectionEvent) |
//! | `ConnectionReceived`, `ConnectionClosed`, `ConnectionFailure` | [`ConnectionEvent::Received`](crate::ConnectionEvent::Received), [`Closed`](crate::ConnectionEvent::Closed), [`Failed`](crate::ConnectionEvent::Failed) |
//! | `ConnectionFromID`, `MetaData`, `ConnectionFromMetaData`, `ActiveConnections` | [`RestServer::connection`](crate::RestServer::connection), [`metadata`](crate::RestServer::metadata), [`find`](crate::RestServer::find), [`ids`](crate::RestServer::ids) |
//! | `conn.Serve(ctx, handler)` on `ConnectionReceived` | [`RestConnection::serve`](crate::RestConnection::serve) |
//! | `wsClient.Connection().Serve(ctx, handler)` | [`Builder::serve`](crate::Builder::serve) given to [`RestClientBuilder::rest`](crate::RestClientBuilder::rest), or [`RestConnection::serve`](crate::RestConnection::serve) on [`RestClient::connection`](crate::RestClient::connection) |
//! | `SocketConnection` as an `http.RoundTripper` | [`RestConnection`](crate::RestConnection) and [`RestClient`](crate::RestClient) as a `tower::Service` |
//! | `wsClient.Connection().ID()` | [`RestClient::connection_id`](crate::RestClient::connection_id) |
//!
//! As with `PingHdlr`, a ping handler replaces the default reply (a pong with the ping's own
//! data): it returns the data of the pong to send, or `None` for none. One difference: a Go
//! client must set `X-Correlation-Id` itself, while wskit sets it.

mod engine;
mod handshake;

pub(crate) use engine::Swagger;
pub use handshake::{
    ClientHandshakeAck, ClientHandshakeMetaData, ServerHandshakeConnectionId, client_handshake,
    new_connection_id, server_handshake,
};

/// The header whose value a response echoes from its request.
pub const CORRELATION_HEADER: &str = "X-Correlation-Id";
