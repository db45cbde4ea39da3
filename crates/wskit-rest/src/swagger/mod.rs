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

mod engine;
mod handshake;

pub(crate) use engine::Swagger;
pub use handshake::{
    ClientHandshakeAck, ClientHandshakeMetaData, ServerHandshakeConnectionId, client_handshake,
    new_connection_id, server_handshake,
};

/// The header whose value a response echoes from its request.
pub const CORRELATION_HEADER: &str = "X-Correlation-Id";
