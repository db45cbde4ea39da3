//! The deterministic client–server pair and frame builders.

use bytes::{Buf, BytesMut};

use crate::deflate::DeflateParams;
use crate::frame::FrameHeader;
use crate::mask::apply_mask;
use crate::{Config, Connection, Error, Message};

/// A client and a server joined by in-memory buffers.
pub(super) struct Pair {
    pub(super) client: Connection,
    pub(super) server: Connection,
}

impl Pair {
    pub(super) fn new(config: Config, deflate: Option<DeflateParams>) -> Self {
        Self {
            client: Connection::client(config.clone(), deflate, 0x1234),
            server: Connection::server(config, deflate),
        }
    }

    /// Moves everything the client queued to the server, returning the server's messages.
    pub(super) fn deliver_to_server(&mut self) -> Vec<Message> {
        let out = self.client.outbox();
        let wire = out.copy_to_bytes(out.remaining());
        read_all(&mut self.server, &wire).unwrap()
    }

    /// Moves everything the server queued to the client, returning the client's messages.
    pub(super) fn deliver_to_client(&mut self) -> Vec<Message> {
        let out = self.server.outbox();
        let wire = out.copy_to_bytes(out.remaining());
        read_all(&mut self.client, &wire).unwrap()
    }
}

/// Feeds `wire` to `conn` and collects every message.
pub(super) fn read_all(conn: &mut Connection, wire: &[u8]) -> Result<Vec<Message>, Error> {
    let mut buf = BytesMut::from(wire);
    let mut msgs = Vec::new();
    while let Some(msg) = conn.read(&mut buf)? {
        let close = msg.is_close();
        msgs.push(msg);
        if close {
            break;
        }
    }
    Ok(msgs)
}

/// One frame: `b0` is the first byte (FIN, RSV and opcode), masked with `mask` if given.
pub(super) fn frame(b0: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        rsv2: b0 & 0x20 != 0,
        rsv3: b0 & 0x10 != 0,
        opcode: b0 & 0x0f,
        mask,
        payload_len: payload.len() as u64,
    };
    let mut out = Vec::new();
    header.encode(&mut out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

/// The code of the close frame a connection queued, if its outbox ends with one.
pub(super) fn sent_close_code(conn: &mut Connection) -> Option<u16> {
    let out = conn.outbox();
    let wire = out.copy_to_bytes(out.remaining());
    let (header, len) = FrameHeader::parse(&wire).ok()??;
    (header.opcode == 0x8 && wire.len() >= len + 2)
        .then(|| u16::from_be_bytes([wire[len], wire[len + 1]]))
}
