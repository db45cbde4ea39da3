//! The 3-way handshake of SwaggerSocket v1.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use wskit::{Message, WebSocket};

use crate::error::Error;

const META_DATA: &str = "ClientHandshakeMetaData";
const CONNECTION_ID: &str = "ServerHandshakeConnectionID";
const ACK: &str = "ClientHandshakeAckFrame";

/// The client's first message: its metadata, stored by the server.
///
/// # Example
/// ```
/// use wskit_rest::swagger::ClientHandshakeMetaData;
///
/// let message = ClientHandshakeMetaData::new(serde_json::json!({"agent": "a1"}));
/// assert_eq!(
///     message.to_wire(),
///     "{\"Type\":\"ClientHandshakeMetaData\",\"Meta\":{\"agent\":\"a1\"}}\n"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientHandshakeMetaData {
    /// Always `ClientHandshakeMetaData`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Any JSON value (Go's `interface{}`); `null` when the client has none.
    #[serde(rename = "Meta", default)]
    pub meta: serde_json::Value,
}

/// The server's answer: the id it assigned to the connection.
///
/// # Example
/// ```
/// use wskit_rest::swagger::ServerHandshakeConnectionId;
///
/// let message = ServerHandshakeConnectionId::new("1b4e28ba-2fa1-4d2c-883f-0016d3cca427");
/// assert_eq!(
///     message.to_wire(),
///     "{\"Type\":\"ServerHandshakeConnectionID\",\
///       \"ConnectionID\":\"1b4e28ba-2fa1-4d2c-883f-0016d3cca427\"}\n"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerHandshakeConnectionId {
    /// Always `ServerHandshakeConnectionID`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The connection id (a UUID in Go's server).
    #[serde(rename = "ConnectionID")]
    pub connection_id: String,
}

/// The client's acknowledgement, ending the handshake.
///
/// # Example
/// ```
/// use wskit_rest::swagger::ClientHandshakeAck;
///
/// assert_eq!(ClientHandshakeAck::new().to_wire(), "{\"Type\":\"ClientHandshakeAckFrame\"}\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientHandshakeAck {
    /// Always `ClientHandshakeAckFrame`.
    #[serde(rename = "Type")]
    pub kind: String,
}

/// Runs the client's side of the handshake on a fresh WebSocket: sends `meta`, returns the
/// connection id the server assigned.
///
/// # Errors
/// [`Error::Malformed`] when the server answers with something else, [`Error::WebSocket`] or
/// [`Error::ConnectionClosed`] when the connection fails first.
///
/// # Example
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut ws, _) = wskit::connect("ws://127.0.0.1:9001/").await?;
/// let id = wskit_rest::swagger::client_handshake(&mut ws, &serde_json::json!("agent-1")).await?;
/// let conn = wskit_rest::RestConnection::builder().swagger(ws);
/// # Ok(()) }
/// ```
pub async fn client_handshake<S>(
    ws: &mut WebSocket<S>,
    meta: &serde_json::Value,
) -> Result<String, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let hello = ClientHandshakeMetaData::new(meta.clone());
    ws.send(Message::text(hello.to_wire())).await?;
    let answer: ServerHandshakeConnectionId = read_json(ws, "ServerHandshakeConnectionID").await?;
    if answer.kind != CONNECTION_ID {
        return Err(Error::malformed(format!(
            "handshake: expected {CONNECTION_ID}, got Type {:?}",
            answer.kind
        )));
    }
    ws.send(Message::text(ClientHandshakeAck::new().to_wire()))
        .await?;
    Ok(answer.connection_id)
}

/// Runs the server's side of the handshake on a freshly accepted WebSocket: reads the
/// client's metadata, sends `connection_id`, waits for the acknowledgement, returns the
/// metadata.
///
/// # Errors
/// [`Error::Malformed`] when the client sends something else, [`Error::WebSocket`] or
/// [`Error::ConnectionClosed`] when the connection fails first.
///
/// # Example
/// ```no_run
/// # async fn run(mut ws: wskit::WebSocket<tokio::net::TcpStream>) -> Result<(), wskit_rest::Error> {
/// use wskit_rest::swagger;
///
/// let id = swagger::new_connection_id();
/// let meta = swagger::server_handshake(&mut ws, &id).await?;
/// println!("{id}: {meta}");
/// # Ok(()) }
/// ```
pub async fn server_handshake<S>(
    ws: &mut WebSocket<S>,
    connection_id: &str,
) -> Result<serde_json::Value, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let hello: ClientHandshakeMetaData = read_json(ws, META_DATA).await?;
    if hello.kind != META_DATA {
        return Err(Error::malformed(format!(
            "handshake: expected {META_DATA}, got Type {:?}",
            hello.kind
        )));
    }
    let answer = ServerHandshakeConnectionId::new(connection_id);
    ws.send(Message::text(answer.to_wire())).await?;
    let ack: ClientHandshakeAck = read_json(ws, ACK).await?;
    if ack.kind != ACK {
        return Err(Error::malformed(format!(
            "handshake: expected {ACK}, got Type {:?}",
            ack.kind
        )));
    }
    Ok(hello.meta)
}

/// A new random connection id: a version 4 UUID in its usual text form, as Go's server makes.
///
/// # Example
/// ```
/// let id = wskit_rest::swagger::new_connection_id();
/// assert_eq!(id.len(), 36);
/// assert_eq!(&id[14..15], "4");
/// ```
#[must_use]
pub fn new_connection_id() -> String {
    let mut bytes = [0_u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

// ===== impl ClientHandshakeMetaData =====

impl ClientHandshakeMetaData {
    /// The message carrying `meta`.
    #[must_use]
    pub fn new(meta: serde_json::Value) -> Self {
        Self {
            kind: META_DATA.to_owned(),
            meta,
        }
    }

    /// The text message as Go's `json.Encoder` writes it (compact, newline-terminated).
    #[must_use]
    pub fn to_wire(&self) -> String {
        to_wire(self)
    }
}

// ===== impl ServerHandshakeConnectionId =====

impl ServerHandshakeConnectionId {
    /// The message carrying `connection_id`.
    #[must_use]
    pub fn new(connection_id: &str) -> Self {
        Self {
            kind: CONNECTION_ID.to_owned(),
            connection_id: connection_id.to_owned(),
        }
    }

    /// The text message as Go's `json.Encoder` writes it (compact, newline-terminated).
    #[must_use]
    pub fn to_wire(&self) -> String {
        to_wire(self)
    }
}

// ===== impl ClientHandshakeAck =====

impl ClientHandshakeAck {
    /// The acknowledgement.
    #[must_use]
    pub fn new() -> Self {
        Self {
            kind: ACK.to_owned(),
        }
    }

    /// The text message as Go's `json.Encoder` writes it (compact, newline-terminated).
    #[must_use]
    pub fn to_wire(&self) -> String {
        to_wire(self)
    }
}

impl Default for ClientHandshakeAck {
    fn default() -> Self {
        Self::new()
    }
}

// ===== private =====

fn to_wire<T: Serialize>(message: &T) -> String {
    // Serializing these structs cannot fail: string keys, JSON values.
    let mut text = serde_json::to_string(message).unwrap_or_default();
    text.push('\n');
    text
}

/// Reads the next data message and decodes it as the JSON `what`.
async fn read_json<S, T>(ws: &mut WebSocket<S>, what: &str) -> Result<T, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: for<'de> Deserialize<'de>,
{
    loop {
        let message = match ws.recv().await {
            Some(message) => message?,
            None => {
                return Err(Error::closed(format!(
                    "the peer closed the WebSocket during the handshake, before {what}"
                )));
            }
        };
        if message.is_text() || message.is_binary() {
            return serde_json::from_slice(message.as_payload()).map_err(|error| {
                Error::malformed(format!("handshake: expected {what} as JSON: {error}"))
            });
        }
    }
}
