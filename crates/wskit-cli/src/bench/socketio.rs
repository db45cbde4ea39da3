//! Socket.IO 4 over Engine.IO 4, WebSocket transport only (no long-polling first), as the
//! generator speaks it to a server with rooms (perf/servers/socketio-server.js).
//!
//! A client connects to `/socket.io/?EIO=4&transport=websocket` and reads the Engine.IO open
//! packet (`0{...}`); it connects to the main namespace with `40` and reads `40{...}`; it joins
//! a room by emitting `join` with an acknowledgement (`421["join",ROOM]`, answered `431[...]`).
//! A publisher emits `publish` (`42["publish",ROOM,DATA]`); the server emits `message` to the
//! room, the publisher included (`42["message",DATA]`). The server pings with `2` and
//! expects `3` back.

use anyhow::{Context as _, bail};

/// The WebSocket path of a Socket.IO 4 server.
pub(super) const PATH: &str = "/socket.io/?EIO=4&transport=websocket";

/// Connects to the main namespace.
pub(super) const CONNECT: &str = "40";

/// The answer to the server's ping.
pub(super) const PONG: &str = "3";

/// The acknowledgement id of the `join` the generator sends.
const JOIN_ACK: u64 = 1;

/// What a server's message means to the generator.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Packet {
    /// The Engine.IO open packet.
    Open,
    /// The namespace's connect packet (`40{...}`).
    Connected,
    /// The acknowledgement of the `join`.
    Joined,
    /// An event with its first argument, when that is a string.
    Event {
        /// The event's name.
        name: String,
        /// Its first argument, when a string.
        data: Option<String>,
    },
    /// An Engine.IO ping: the server wants a pong.
    Ping,
    /// Anything else (an acknowledgement of something else, a noop).
    Other,
}

/// Emits `join` for `room`, asking for an acknowledgement.
pub(super) fn join(room: &str) -> String {
    format!("42{JOIN_ACK}{}", serde_json::json!(["join", room]))
}

/// Emits `publish` of `data` to `room`.
pub(super) fn publish(room: &str, data: &str) -> String {
    format!("42{}", serde_json::json!(["publish", room, data]))
}

/// Reads one message from the server.
///
/// # Errors
/// A message that is not Engine.IO text, an Engine.IO close, a namespace disconnect or
/// connect error (with the server's reason), or an event that is not a JSON array.
pub(super) fn parse(message: &[u8]) -> anyhow::Result<Packet> {
    let text = std::str::from_utf8(message).context("an Engine.IO packet that is not UTF-8")?;
    let shown = || text.chars().take(200).collect::<String>();
    let Some(engine_type) = text.chars().next() else {
        bail!("an empty Engine.IO packet");
    };
    let rest = &text[1..];
    match engine_type {
        '0' => return Ok(Packet::Open),
        '1' => bail!("the server closed the Engine.IO session"),
        '2' => return Ok(Packet::Ping),
        '3' | '6' => return Ok(Packet::Other),
        '4' => {}
        _ => bail!("not an Engine.IO packet: {}", shown()),
    }
    // A Socket.IO packet: type, optional `/namespace,`, optional ack id, optional JSON.
    let Some(socket_type) = rest.chars().next() else {
        bail!("an empty Socket.IO packet");
    };
    let mut body = &rest[1..];
    if body.starts_with('/') {
        body = body.split_once(',').map_or("", |(_, after)| after);
    }
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    let ack_id = body[..digits].parse::<u64>().ok();
    let payload = &body[digits..];
    match socket_type {
        '0' => Ok(Packet::Connected),
        '1' => bail!("the server disconnected the namespace"),
        '4' => bail!("the server refused the namespace: {payload}"),
        '2' => {
            let mut args: Vec<serde_json::Value> = serde_json::from_str(payload)
                .with_context(|| format!("an event that is not a JSON array: {}", shown()))?;
            let name = match args.first() {
                Some(serde_json::Value::String(name)) => name.clone(),
                _ => bail!("an event without a name: {}", shown()),
            };
            let data = match args.get_mut(1).map(serde_json::Value::take) {
                Some(serde_json::Value::String(data)) => Some(data),
                _ => None,
            };
            Ok(Packet::Event { name, data })
        }
        '3' if ack_id == Some(JOIN_ACK) => Ok(Packet::Joined),
        _ => Ok(Packet::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_packets_of_a_connection() {
        let open = br#"0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#;
        assert_eq!(parse(open).unwrap(), Packet::Open);
        assert_eq!(parse(br#"40{"sid":"b"}"#).unwrap(), Packet::Connected);
        assert_eq!(parse(br#"431["ok"]"#).unwrap(), Packet::Joined);
        assert_eq!(parse(b"432[]").unwrap(), Packet::Other);
        assert_eq!(parse(b"2").unwrap(), Packet::Ping);
        assert_eq!(
            parse(br#"42["message","0000000003xx"]"#).unwrap(),
            Packet::Event {
                name: "message".into(),
                data: Some("0000000003xx".into()),
            }
        );
        // A namespace and an ack id before the arguments.
        assert_eq!(
            parse(br#"42/chat,17["message",{"a":1}]"#).unwrap(),
            Packet::Event {
                name: "message".into(),
                data: None,
            }
        );
    }

    #[test]
    fn refuses_closes_errors_and_garbage() {
        let refused = parse(br#"44{"message":"Invalid namespace"}"#).unwrap_err();
        assert!(
            refused.to_string().contains("Invalid namespace"),
            "{refused}"
        );
        assert!(parse(b"41").is_err());
        assert!(parse(b"1").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"{\"event\":\"x\"}").is_err());
        assert!(parse(b"42not json").is_err());
        assert!(parse(b"42[1,2]").is_err());
        assert!(parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn builds_the_generators_packets() {
        assert_eq!(join("bench"), r#"421["join","bench"]"#);
        assert_eq!(
            publish("bench", "0000000001x"),
            r#"42["publish","bench","0000000001x"]"#
        );
    }
}
