//! The envelope: what one node publishes for the others (the wire format is described in the
//! [`broker`](super) module docs).

use bytes::{BufMut as _, Bytes, BytesMut};
use wskit::{Message, Utf8Bytes};

use super::{NodeId, Target};

/// The version of the envelope format written by this build.
pub(crate) const VERSION: u8 = 0x01;

/// RFC 6455 opcodes, reused for the payload kind.
const TEXT: u8 = 0x01;
const BINARY: u8 = 0x02;
const CLOSE: u8 = 0x08;

const SERVICE: u8 = 0x00;
const ALL: u8 = 0x01;
const GROUP: u8 = 0x02;
const CONNECTION: u8 = 0x03;

/// Fixed header: version, opcode, origin (16), target kind, target length (2).
const HEADER_LEN: usize = 1 + 1 + 16 + 1 + 2;

/// A decoded envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub(crate) origin: NodeId,
    pub(crate) target: Target,
    pub(crate) message: Message,
}

/// Why an envelope could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EnvelopeError {
    #[error("envelope shorter than its header ({0} bytes)")]
    Short(usize),
    #[error("envelope version {0} is not supported (this build reads version 1)")]
    Version(u8),
    #[error("unknown opcode {0:#04x} in envelope")]
    Opcode(u8),
    #[error("unknown target kind {0:#04x} in envelope")]
    TargetKind(u8),
    #[error("envelope target is not UTF-8 or longer than the envelope")]
    Target,
    #[error("text payload of envelope is not UTF-8")]
    Utf8,
}

/// Encodes `message` for `target`, from `origin`. Control messages (ping, pong, close) are not
/// carried: `None`.
pub(crate) fn encode(origin: NodeId, target: &Target, message: &Message) -> Option<Bytes> {
    let close;
    let (opcode, payload) = match message {
        Message::Text(text) => (TEXT, &text.as_bytes()[..]),
        Message::Binary(data) => (BINARY, &data[..]),
        // A close to a connection closes it, with its code and reason; to a group, it removes
        // the group (its members stay connected).
        Message::Close(frame) if matches!(target, Target::Connection(_) | Target::Group(_)) => {
            let (code, reason) = frame.as_ref().map_or((1000, &[][..]), |f| {
                (u16::from(f.code), &f.reason.as_bytes()[..])
            });
            close = [&code.to_be_bytes()[..], reason].concat();
            (CLOSE, &close[..])
        }
        _ => return None,
    };
    let (kind, name) = match target {
        Target::Service(path) => (SERVICE, path.as_str()),
        Target::All => (ALL, ""),
        Target::Group(group) => (GROUP, group.as_str()),
        Target::Connection(id) => (CONNECTION, id.as_str()),
    };
    // Paths, groups and ids are far below 64 KiB; a longer one is not sent.
    let name_len = u16::try_from(name.len()).ok()?;
    let mut out = BytesMut::with_capacity(HEADER_LEN + name.len() + payload.len());
    out.put_u8(VERSION);
    out.put_u8(opcode);
    out.put_u128(origin.0);
    out.put_u8(kind);
    out.put_u16(name_len);
    out.put_slice(name.as_bytes());
    out.put_slice(payload);
    Some(out.freeze())
}

/// Decodes an envelope; never panics on any input.
pub(crate) fn decode(bytes: &Bytes) -> Result<Envelope, EnvelopeError> {
    if bytes.len() < HEADER_LEN {
        return Err(EnvelopeError::Short(bytes.len()));
    }
    if bytes[0] != VERSION {
        return Err(EnvelopeError::Version(bytes[0]));
    }
    let opcode = bytes[1];
    let mut origin = [0; 16];
    origin.copy_from_slice(&bytes[2..18]);
    let kind = bytes[18];
    let name_len = usize::from(u16::from_be_bytes([bytes[19], bytes[20]]));
    let name_end = HEADER_LEN + name_len;
    let name = bytes
        .get(HEADER_LEN..name_end)
        .and_then(|name| std::str::from_utf8(name).ok())
        .ok_or(EnvelopeError::Target)?
        .to_owned();
    let target = match kind {
        SERVICE => Target::Service(name),
        ALL => Target::All,
        GROUP => Target::Group(name),
        CONNECTION => Target::Connection(name),
        other => return Err(EnvelopeError::TargetKind(other)),
    };
    let payload = bytes.slice(name_end..);
    let message = match opcode {
        TEXT => Message::Text(Utf8Bytes::try_from(payload).map_err(|_| EnvelopeError::Utf8)?),
        BINARY => Message::Binary(payload),
        CLOSE if payload.len() >= 2 => {
            let code = wskit::CloseCode::from(u16::from_be_bytes([payload[0], payload[1]]));
            let reason =
                Utf8Bytes::try_from(payload.slice(2..)).map_err(|_| EnvelopeError::Utf8)?;
            Message::Close(Some(wskit::CloseFrame::new(code, reason)))
        }
        other => return Err(EnvelopeError::Opcode(other)),
    };
    Ok(Envelope {
        origin: NodeId(u128::from_be_bytes(origin)),
        target,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_target_and_opcode() {
        let origin = NodeId(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let targets = [
            Target::Service("/ws".into()),
            Target::All,
            Target::Group("lobby ü".into()),
            Target::Connection("5f0c9e1d2b7a4c3e8f9a0b1c2d3e4f50".into()),
        ];
        for target in targets {
            for message in [Message::text("héllo"), Message::binary(vec![0, 1, 2, 255])] {
                let bytes = encode(origin, &target, &message).unwrap();
                let envelope = decode(&bytes).unwrap();
                assert_eq!(envelope.origin, origin);
                assert_eq!(envelope.target, target);
                assert_eq!(envelope.message, message);
            }
        }
        assert_eq!(
            encode(origin, &Target::All, &Message::Ping(Bytes::new())),
            None
        );
        let to = Target::Connection("5f0c".into());
        let close = Message::Close(Some(wskit::CloseFrame::new(
            wskit::CloseCode::from(4000),
            "bye é",
        )));
        let bytes = encode(origin, &to, &close).unwrap();
        assert_eq!(decode(&bytes).unwrap().message, close);
        let plain = encode(origin, &to, &Message::Close(None)).unwrap();
        assert_eq!(
            decode(&plain).unwrap().message,
            Message::Close(Some(wskit::CloseFrame::new(wskit::CloseCode::NORMAL, "")))
        );
        assert_eq!(encode(origin, &Target::All, &close), None);
        let dissolve = encode(origin, &Target::Group("g".into()), &Message::Close(None)).unwrap();
        assert!(decode(&dissolve).unwrap().message.is_close());
    }

    #[test]
    fn layout_is_as_documented() {
        let bytes = encode(NodeId(1), &Target::Group("g".into()), &Message::text("hi")).unwrap();
        let mut expected = vec![0x01, 0x01];
        expected.extend_from_slice(&1u128.to_be_bytes());
        expected.extend_from_slice(&[0x02, 0x00, 0x01, b'g', b'h', b'i']);
        assert_eq!(&bytes[..], &expected[..]);
    }

    #[test]
    fn bad_input_is_an_error_never_a_panic() {
        let good = encode(NodeId(7), &Target::Group("g".into()), &Message::text("x")).unwrap();
        for len in 0..good.len() {
            let cut = good.slice(..len);
            // Cut inside the header or the target: an error; after it: a shorter payload.
            if len < HEADER_LEN + 1 {
                assert!(decode(&cut).is_err(), "{len}");
            }
        }
        let mut bad = good.to_vec();
        bad[0] = 9;
        assert_eq!(decode(&bad.into()), Err(EnvelopeError::Version(9)));
        let mut bad = good.to_vec();
        bad[1] = 0x09;
        assert_eq!(decode(&bad.into()), Err(EnvelopeError::Opcode(9)));
        let mut bad = good.to_vec();
        bad[18] = 0x7f;
        assert_eq!(decode(&bad.into()), Err(EnvelopeError::TargetKind(0x7f)));
        let mut bad = good.to_vec();
        *bad.last_mut().unwrap() = 0xff;
        assert_eq!(decode(&bad.into()), Err(EnvelopeError::Utf8));
        let mut bad = good.to_vec();
        bad[19] = 0xff;
        assert_eq!(decode(&bad.into()), Err(EnvelopeError::Target));
    }
}
