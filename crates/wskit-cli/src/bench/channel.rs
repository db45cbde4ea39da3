//! Subscribing to one channel and checking what arrives on it, for the messaging protocols
//! (`serve`, `pusher`, `socketio`): each connection is brought to where it receives the
//! channel's messages, every published message carries its sequence number, and each
//! subscriber checks that it gets every one, once, in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, bail, ensure};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Mutex, Notify};
use wskit::proto::frame::FrameHeader;

use super::Protocol;
use super::http::HttpApi;
use super::pusher::{self, PusherApp};
use super::socketio;
use super::wire::{masked, read_messages};

/// The channel (group, room) every connection subscribes to.
pub(super) const CHANNEL: &str = "bench";

/// The name of the published event (Pusher's event name).
const EVENT: &str = "bench";

/// Digits of the sequence number at the start of every published message's data.
const SEQUENCE_DIGITS: usize = 10;

/// Largest message a subscriber reads before failing the run.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// What a server's message is, once the protocol's envelope is read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Delivery {
    /// A published message, with the sequence number its data starts with.
    Message(u64),
    /// The server wants this answer (a protocol-level ping).
    Reply(&'static str),
    /// Nothing the generator acts on.
    Other,
}

/// Completes the protocol's connection steps on a fresh upgraded connection and, when
/// `subscribe`, subscribes it to [`CHANNEL`] and waits for the server to confirm.
pub(super) async fn set_up(
    protocol: Protocol,
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    subscribe: bool,
) -> anyhow::Result<()> {
    match protocol {
        Protocol::Raw => {}
        Protocol::Serve => {
            let welcome = read_messages(stream, buf, 1).await?;
            ensure!(
                welcome[0].starts_with(br#"{"type":"welcome""#),
                "expected a welcome, got {}",
                String::from_utf8_lossy(&welcome[0])
            );
            if subscribe {
                let join = format!(r#"{{"type":"join","group":"{CHANNEL}","ref":1}}"#);
                stream.write_all(&masked(0x1, join.as_bytes())).await?;
                let ack = read_messages(stream, buf, 1).await?;
                ensure!(
                    ack[0].starts_with(br#"{"type":"ack""#),
                    "expected the join's ack, got {}",
                    String::from_utf8_lossy(&ack[0])
                );
            }
        }
        Protocol::Pusher => {
            let first = read_messages(stream, buf, 1).await?;
            ensure!(
                pusher::parse(&first[0])? == pusher::Event::Established,
                "expected pusher:connection_established, got {}",
                String::from_utf8_lossy(&first[0])
            );
            if subscribe {
                let message = pusher::subscribe(CHANNEL);
                stream.write_all(&masked(0x1, message.as_bytes())).await?;
                loop {
                    let next = read_messages(stream, buf, 1).await?;
                    match pusher::parse(&next[0])? {
                        pusher::Event::Subscribed(channel) if channel == CHANNEL => break,
                        pusher::Event::Ping => {
                            stream
                                .write_all(&masked(0x1, pusher::PONG.as_bytes()))
                                .await?;
                        }
                        _ => {}
                    }
                }
            }
        }
        Protocol::SocketIo => {
            let open = read_messages(stream, buf, 1).await?;
            ensure!(
                socketio::parse(&open[0])? == socketio::Packet::Open,
                "expected the Engine.IO open packet, got {}",
                String::from_utf8_lossy(&open[0])
            );
            stream
                .write_all(&masked(0x1, socketio::CONNECT.as_bytes()))
                .await?;
            socketio_until(stream, buf, &socketio::Packet::Connected).await?;
            if subscribe {
                let join = socketio::join(CHANNEL);
                stream.write_all(&masked(0x1, join.as_bytes())).await?;
                socketio_until(stream, buf, &socketio::Packet::Joined).await?;
            }
        }
    }
    Ok(())
}

/// Reads Socket.IO packets, answering pings, until `wanted` comes.
async fn socketio_until(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    wanted: &socketio::Packet,
) -> anyhow::Result<()> {
    loop {
        let next = read_messages(stream, buf, 1).await?;
        match socketio::parse(&next[0])? {
            packet if packet == *wanted => return Ok(()),
            socketio::Packet::Ping => {
                stream
                    .write_all(&masked(0x1, socketio::PONG.as_bytes()))
                    .await?;
            }
            _ => {}
        }
    }
}

/// The data of message `sequence`: its number in [`SEQUENCE_DIGITS`] digits, then `x` up to
/// `size` bytes.
pub(super) fn sequenced(sequence: u64, size: usize) -> String {
    let mut data = format!("{sequence:0SEQUENCE_DIGITS$}");
    data.extend(std::iter::repeat_n('x', size.saturating_sub(data.len())));
    data
}

/// The sequence number at the start of a message's data.
fn sequence_of(data: &str) -> Option<u64> {
    data.get(..SEQUENCE_DIGITS)?.parse().ok()
}

/// Reads one message of the server's.
///
/// # Errors
/// What the protocol's parser refuses, or a message on the channel without a sequence number.
pub(super) fn classify(protocol: Protocol, message: &[u8]) -> anyhow::Result<Delivery> {
    let data = match protocol {
        Protocol::Raw => return Ok(Delivery::Other),
        Protocol::Serve => {
            let value: serde_json::Value = serde_json::from_slice(message).with_context(|| {
                format!("not a JSON message: {}", String::from_utf8_lossy(message))
            })?;
            match value.get("type").and_then(serde_json::Value::as_str) {
                Some("message") => value
                    .get("data")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned),
                Some("error") => bail!("the server sent an error: {value}"),
                _ => return Ok(Delivery::Other),
            }
        }
        Protocol::Pusher => match pusher::parse(message)? {
            pusher::Event::Channel {
                event,
                channel,
                data,
            } if event == EVENT && channel == CHANNEL => data,
            pusher::Event::Ping => return Ok(Delivery::Reply(pusher::PONG)),
            _ => return Ok(Delivery::Other),
        },
        Protocol::SocketIo => match socketio::parse(message)? {
            socketio::Packet::Event { name, data } if name == "message" => data,
            socketio::Packet::Ping => return Ok(Delivery::Reply(socketio::PONG)),
            _ => return Ok(Delivery::Other),
        },
    };
    data.as_deref()
        .and_then(sequence_of)
        .map(Delivery::Message)
        .with_context(|| {
            format!(
                "a message without a sequence number: {}",
                String::from_utf8_lossy(&message[..message.len().min(200)])
            )
        })
}

/// Where messages are published (`--publish`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Via {
    /// On the first subscriber's WebSocket (`serve`: `publish`; `socketio`: emit `publish`).
    Websocket,
    /// Through the server's HTTP API, on a connection of its own (`serve`:
    /// `POST /api/groups/{group}/messages`; `pusher`: `POST /apps/{id}/events`, signed;
    /// `socketio`: `POST /rooms/{room}/messages` of perf/servers/socketio-server.js).
    Http,
}

impl Via {
    /// How `protocol` publishes unless told: Pusher through its HTTP API (its clients can only
    /// send client events, which need private channels and an app that enables them), the
    /// others on the WebSocket.
    pub(super) fn default_for(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Pusher => Self::Http,
            _ => Self::Websocket,
        }
    }
}

/// How a run publishes: over a subscriber's WebSocket, or through the server's HTTP API.
#[derive(Debug)]
pub(super) enum Publisher {
    /// Writes the protocol's publish message on this connection (a subscriber's).
    WebSocket(Arc<Mutex<OwnedWriteHalf>>),
    /// Posts to the server's HTTP API (the app signs Pusher's requests).
    Http(HttpApi, PusherApp),
}

impl Publisher {
    /// Publishes message `sequence` of `size` bytes of data to [`CHANNEL`].
    pub(super) async fn publish(
        &mut self,
        protocol: Protocol,
        sequence: u64,
        size: usize,
    ) -> anyhow::Result<()> {
        let data = sequenced(sequence, size);
        match self {
            Self::Http(api, app) => {
                let (target, body) = match protocol {
                    Protocol::Pusher => pusher::events_request(app, CHANNEL, EVENT, &data),
                    Protocol::Serve => (
                        format!("/api/groups/{CHANNEL}/messages"),
                        serde_json::json!({ "data": data }).to_string(),
                    ),
                    Protocol::SocketIo => (
                        format!("/rooms/{CHANNEL}/messages"),
                        serde_json::json!({ "data": data }).to_string(),
                    ),
                    Protocol::Raw => bail!("--protocol raw has no HTTP API"),
                };
                api.post(&target, &body).await
            }
            Self::WebSocket(write) => {
                let text = match protocol {
                    Protocol::Serve => serde_json::json!({
                        "type": "publish", "group": CHANNEL, "data": data,
                    })
                    .to_string(),
                    Protocol::SocketIo => socketio::publish(CHANNEL, &data),
                    Protocol::Raw | Protocol::Pusher => {
                        bail!("--protocol {} publishes otherwise", protocol.name())
                    }
                };
                let frame = masked(0x1, text.as_bytes());
                write.lock().await.write_all(&frame).await?;
                Ok(())
            }
        }
    }

    /// The publisher of `protocol` via `via`: the HTTP API at `addr` (`host` in its `Host`
    /// header), or the WebSocket `write`.
    ///
    /// # Errors
    /// Pusher over the WebSocket, raw through HTTP, or an HTTP API that does not answer.
    pub(super) async fn new(
        protocol: Protocol,
        via: Via,
        write: Arc<Mutex<OwnedWriteHalf>>,
        addr: std::net::SocketAddr,
        host: &str,
        app: &PusherApp,
    ) -> anyhow::Result<Self> {
        Ok(match (via, protocol) {
            (Via::Http, Protocol::Raw) => bail!("--protocol raw has no HTTP API"),
            (Via::Websocket, Protocol::Pusher) => bail!(
                "--protocol pusher publishes through the HTTP API only (Pusher clients send \
                 client events, which need private channels and an app that enables them)"
            ),
            (Via::Http, _) => Self::Http(HttpApi::connect(addr, host).await?, app.clone()),
            (Via::Websocket, _) => Self::WebSocket(write),
        })
    }
}

/// Shared by the subscribers of a run: deliveries so far, and the wake-up of the publisher.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Messages delivered so far, over every subscriber (shared with the progress bar).
    pub(super) delivered: Arc<AtomicU64>,
    /// Notified when a round may be complete.
    pub(super) round_done: Notify,
}

/// Reads one subscriber's messages: checks each is the next in sequence, answers the
/// protocol's pings, and counts deliveries (waking the publisher at every `per_round`-th).
///
/// # Errors
/// A message out of sequence (lost, repeated or reordered), a close, or a protocol error.
pub(super) async fn check_deliveries(
    protocol: Protocol,
    index: usize,
    mut read: OwnedReadHalf,
    write: Arc<Mutex<OwnedWriteHalf>>,
    mut buf: Vec<u8>,
    tally: Arc<Tally>,
    per_round: u64,
) -> anyhow::Result<()> {
    let mut next = 0u64;
    let mut message = Vec::new();
    loop {
        let mut pos = 0;
        while let Some((header, header_len)) = FrameHeader::parse(&buf[pos..])? {
            ensure!(header.mask.is_none(), "the server sent a masked frame");
            let len = usize::try_from(header.payload_len)
                .ok()
                .filter(|&len| len <= MAX_MESSAGE - message.len())
                .with_context(|| format!("a message over {MAX_MESSAGE} bytes"))?;
            if buf.len() - pos < header_len + len {
                break;
            }
            let payload = &buf[pos + header_len..pos + header_len + len];
            pos += header_len + len;
            match header.opcode {
                0x8 => bail!("the server closed subscriber {index}'s connection"),
                0x9 => {
                    let pong = masked(0xA, payload);
                    write.lock().await.write_all(&pong).await?;
                    continue;
                }
                0xA => continue,
                0x0..=0x2 => message.extend_from_slice(payload),
                other => bail!("the server sent a frame with opcode {other:#x}"),
            }
            if !header.fin {
                continue;
            }
            match classify(protocol, &message).with_context(|| format!("subscriber {index}"))? {
                Delivery::Message(sequence) => {
                    ensure!(
                        sequence == next,
                        "subscriber {index} got message {sequence} where {next} was due \
                         (lost, repeated or out of order)"
                    );
                    next += 1;
                    let before = tally.delivered.fetch_add(1, Ordering::AcqRel);
                    if (before + 1) % per_round == 0 {
                        tally.round_done.notify_one();
                    }
                }
                Delivery::Reply(reply) => {
                    let frame = masked(0x1, reply.as_bytes());
                    write.lock().await.write_all(&frame).await?;
                }
                Delivery::Other => {}
            }
            message.clear();
        }
        buf.drain(..pos);
        ensure!(
            read.read_buf(&mut buf).await? != 0,
            "the server closed subscriber {index}'s connection"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_lead_the_data() {
        assert_eq!(sequenced(7, 20), "0000000007xxxxxxxxxx");
        assert_eq!(sequenced(12, 4), "0000000012");
        assert_eq!(sequence_of(&sequenced(123_456, 64)), Some(123_456));
        assert_eq!(sequence_of("12x"), None);
        assert_eq!(sequence_of("abcdefghijkl"), None);
    }

    #[test]
    fn classifies_each_protocols_deliveries() {
        let serve = br#"{"type":"message","group":"bench","from":"a","data":"0000000004x"}"#;
        assert_eq!(
            classify(Protocol::Serve, serve).unwrap(),
            Delivery::Message(4)
        );
        let ack = br#"{"type":"ack","ref":1}"#;
        assert_eq!(classify(Protocol::Serve, ack).unwrap(), Delivery::Other);

        let pusher = br#"{"event":"bench","channel":"bench","data":"0000000009"}"#;
        assert_eq!(
            classify(Protocol::Pusher, pusher).unwrap(),
            Delivery::Message(9)
        );
        let ping = br#"{"event":"pusher:ping","data":{}}"#;
        assert_eq!(
            classify(Protocol::Pusher, ping).unwrap(),
            Delivery::Reply(pusher::PONG)
        );
        let elsewhere = br#"{"event":"bench","channel":"other","data":"0000000009"}"#;
        assert_eq!(
            classify(Protocol::Pusher, elsewhere).unwrap(),
            Delivery::Other
        );

        let socketio = br#"42["message","0000000002xxx"]"#;
        assert_eq!(
            classify(Protocol::SocketIo, socketio).unwrap(),
            Delivery::Message(2)
        );
        assert_eq!(
            classify(Protocol::SocketIo, b"2").unwrap(),
            Delivery::Reply(socketio::PONG)
        );
    }

    #[test]
    fn refuses_messages_without_a_sequence_number() {
        let serve = br#"{"type":"message","group":"bench","data":{"text":"hi"}}"#;
        assert!(classify(Protocol::Serve, serve).is_err());
        let pusher = br#"{"event":"bench","channel":"bench","data":"hello"}"#;
        assert!(classify(Protocol::Pusher, pusher).is_err());
        assert!(classify(Protocol::SocketIo, br#"42["message"]"#).is_err());
        assert!(classify(Protocol::Serve, br#"{"type":"error","code":"x"}"#).is_err());
    }
}
