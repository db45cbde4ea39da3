//! Frames of our protocol: one per binary WebSocket message, a 6-byte header then a payload.
//!
//! ```text
//! 0        1        2                          6
//! +--------+--------+--------------------------+----------------------+
//! | type   | flags  | stream id (u32, big end.) | payload ...          |
//! +--------+--------+--------------------------+----------------------+
//! ```

use bytes::{BufMut, Bytes, BytesMut};

/// The length of the fixed header.
pub(crate) const HEADER_LEN: usize = 6;

/// The flag on HEADERS or DATA ending the sender's half of the stream.
pub(crate) const END_STREAM: u8 = 0x01;

/// How many body bytes a sender may send on a new stream before the receiver grants more.
pub(crate) const INITIAL_WINDOW: u32 = 0x1_0000;

/// The type of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An HTTP/1.1 head: request line or status line, headers, blank line.
    Headers = 0x01,
    /// Body bytes.
    Data = 0x02,
    /// A u32 more body bytes the receiver may take on the stream.
    WindowUpdate = 0x03,
    /// Ends the stream abnormally: a u32 code, then a UTF-8 reason.
    Reset = 0x04,
}

/// Reset codes (the values of HTTP/2's, RFC 9113 §7).
pub(crate) mod code {
    /// The stream is done; stop sending its body (sent after a complete early response).
    pub(crate) const NO_ERROR: u32 = 0x0;
    /// The peer broke the protocol on this stream (or, on stream 0, the connection).
    pub(crate) const PROTOCOL_ERROR: u32 = 0x1;
    /// This end failed (a body that errored).
    pub(crate) const INTERNAL_ERROR: u32 = 0x2;
    /// The peer sent more than its window allowed.
    pub(crate) const FLOW_CONTROL_ERROR: u32 = 0x3;
    /// A frame for a stream that is not open.
    pub(crate) const STREAM_CLOSED: u32 = 0x5;
    /// The stream was refused before any processing (too many open streams).
    pub(crate) const REFUSED_STREAM: u32 = 0x7;
    /// The caller gave up (dropped the request, timed out, dropped the response body).
    pub(crate) const CANCEL: u32 = 0x8;
    /// A body was larger than this end accepts.
    pub(crate) const BODY_TOO_LARGE: u32 = 0x100;
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) kind: Kind,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
    pub(crate) payload: Bytes,
}

impl Frame {
    /// Decodes a binary message. The error names the problem.
    pub(crate) fn decode(mut message: Bytes) -> Result<Self, String> {
        if message.len() < HEADER_LEN {
            return Err(format!(
                "a frame of {} bytes is shorter than the {HEADER_LEN}-byte header",
                message.len()
            ));
        }
        let header = message.split_to(HEADER_LEN);
        let kind = match header[0] {
            0x01 => Kind::Headers,
            0x02 => Kind::Data,
            0x03 => Kind::WindowUpdate,
            0x04 => Kind::Reset,
            other => return Err(format!("unknown frame type 0x{other:02x}")),
        };
        let stream = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
        if stream == 0 && kind != Kind::Reset {
            return Err(format!("a {kind:?} frame on stream 0"));
        }
        Ok(Self {
            kind,
            flags: header[1],
            stream,
            payload: message,
        })
    }

    /// Whether END_STREAM is set.
    pub(crate) fn is_end(&self) -> bool {
        self.flags & END_STREAM != 0
    }
}

/// Encodes a frame.
pub(crate) fn encode(kind: Kind, flags: u8, stream: u32, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER_LEN + payload.len());
    out.put_u8(kind as u8);
    out.put_u8(flags);
    out.put_u32(stream);
    out.put_slice(payload);
    out.freeze()
}

/// Encodes a RESET frame.
pub(crate) fn reset(stream: u32, code: u32, reason: &str) -> Bytes {
    let mut payload = Vec::with_capacity(4 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    encode(Kind::Reset, 0, stream, &payload)
}

/// Encodes a WINDOW_UPDATE frame.
pub(crate) fn window_update(stream: u32, increment: u32) -> Bytes {
    encode(Kind::WindowUpdate, 0, stream, &increment.to_be_bytes())
}

/// The u32 at the start of a WINDOW_UPDATE or RESET payload.
pub(crate) fn read_u32(payload: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(payload.get(..4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_bad_ones_are_named() {
        let wire = encode(Kind::Data, END_STREAM, 7, b"abc");
        assert_eq!(&wire[..], &[0x02, 0x01, 0, 0, 0, 7, b'a', b'b', b'c']);
        let frame = Frame::decode(wire).unwrap();
        assert_eq!(
            (frame.kind, frame.stream, frame.is_end()),
            (Kind::Data, 7, true)
        );
        assert_eq!(frame.payload, "abc");
        assert!(
            Frame::decode(Bytes::from_static(b"\x02\x00"))
                .unwrap_err()
                .contains("shorter")
        );
        assert!(
            Frame::decode(Bytes::from_static(b"\x09\x00\0\0\0\x01"))
                .unwrap_err()
                .contains("0x09")
        );
        assert!(
            Frame::decode(Bytes::from_static(b"\x02\x00\0\0\0\0"))
                .unwrap_err()
                .contains("stream 0")
        );
        assert_eq!(
            read_u32(&reset(1, code::CANCEL, "x")[HEADER_LEN..]),
            Some(code::CANCEL)
        );
    }
}
