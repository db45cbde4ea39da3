//! Frame headers (RFC 6455 §5.2): parsing and encoding.

use bytes::BufMut;

use crate::error::ProtocolError;

/// The longest possible frame header: 2 bytes, an 8-byte length and a 4-byte mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// A parsed frame header.
///
/// # Example
/// ```
/// use wskit_proto::frame::FrameHeader;
/// let header = FrameHeader::parse(&[0x81, 0x05, b'H']).unwrap().unwrap();
/// assert!(header.0.fin);
/// assert_eq!(header.0.payload_len, 5);
/// assert_eq!(header.1, 2); // header length
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The FIN bit: this is the last frame of a message.
    pub fin: bool,
    /// RSV1 (used by permessage-deflate to mark a compressed message).
    pub rsv1: bool,
    /// RSV2 (no extension of ours uses it).
    pub rsv2: bool,
    /// RSV3 (no extension of ours uses it).
    pub rsv3: bool,
    /// The raw 4-bit opcode (validated by the connection, not here).
    pub opcode: u8,
    /// The masking key, when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// The declared payload length.
    pub payload_len: u64,
}

impl FrameHeader {
    /// The header at the start of `buf` as soon as its length field is complete, before its
    /// masking key may have come: a masked header gets an all-zero key in place of its own.
    /// `Ok(None)` before the length field is complete. Only for validating a header early.
    pub(crate) fn peek(buf: &[u8]) -> Result<Option<Self>, ProtocolError> {
        let Some(&b1) = buf.get(1) else {
            return Ok(None);
        };
        let length_field = match b1 & 0x7f {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        let Some(head) = buf.get(..length_field) else {
            return Ok(None);
        };
        let mut padded = [0; 14];
        padded[..length_field].copy_from_slice(head);
        Ok(Self::parse(&padded)?.map(|(header, _)| header))
    }

    /// Parses a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds only part of a header (nothing is consumed), or the
    /// header and its length in bytes.
    ///
    /// # Errors
    /// [`ProtocolError::InvalidPayloadLength`] when a 64-bit length has its top bit set.
    pub fn parse(buf: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut pos) = match b1 & 0x7f {
            126 => {
                let Some(bytes) = buf.get(2..4) else {
                    return Ok(None);
                };
                (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 4)
            }
            127 => {
                let Some(bytes) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut raw = [0; 8];
                raw.copy_from_slice(bytes);
                let len = u64::from_be_bytes(raw);
                if len >> 63 != 0 {
                    return Err(ProtocolError::InvalidPayloadLength);
                }
                (len, 10)
            }
            len => (u64::from(len), 2),
        };
        let mask = if masked {
            let Some(bytes) = buf.get(pos..pos + 4) else {
                return Ok(None);
            };
            pos += 4;
            Some([bytes[0], bytes[1], bytes[2], bytes[3]])
        } else {
            None
        };
        Ok(Some((
            Self {
                fin: b0 & 0x80 != 0,
                rsv1: b0 & 0x40 != 0,
                rsv2: b0 & 0x20 != 0,
                rsv3: b0 & 0x10 != 0,
                opcode: b0 & 0x0f,
                mask,
                payload_len,
            },
            pos,
        )))
    }

    /// The encoded length of this header.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xffff => 4,
            _ => 10,
        };
        len + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Appends the encoded header to `out`, using the shortest length encoding.
    pub fn encode(&self, out: &mut impl BufMut) {
        let b0 = u8::from(self.fin) << 7
            | u8::from(self.rsv1) << 6
            | u8::from(self.rsv2) << 5
            | u8::from(self.rsv3) << 4
            | (self.opcode & 0x0f);
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        out.put_u8(b0);
        match self.payload_len {
            // The match arms bound each length, so the casts cannot truncate.
            len @ 0..=125 => out.put_u8(mask_bit | len as u8),
            len @ 126..=0xffff => {
                out.put_u8(mask_bit | 126);
                out.put_u16(len as u16);
            }
            len => {
                out.put_u8(mask_bit | 127);
                out.put_u64(len);
            }
        }
        if let Some(key) = self.mask {
            out.put_slice(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(header: FrameHeader) {
        let mut out = Vec::new();
        header.encode(&mut out);
        assert_eq!(out.len(), header.encoded_len());
        let (parsed, len) = FrameHeader::parse(&out).unwrap().unwrap();
        assert_eq!(parsed, header);
        assert_eq!(len, out.len());
        for cut in 0..out.len() {
            assert_eq!(
                FrameHeader::parse(&out[..cut]).unwrap(),
                None,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_length_encoding_roundtrips() {
        for len in [0, 1, 125, 126, 127, 0xffff, 0x1_0000, u64::MAX >> 1] {
            for mask in [None, Some([9, 8, 7, 6])] {
                roundtrip(FrameHeader {
                    fin: len % 2 == 0,
                    rsv1: true,
                    rsv2: false,
                    rsv3: true,
                    opcode: 0x2,
                    mask,
                    payload_len: len,
                });
            }
        }
    }

    #[test]
    fn top_bit_of_64_bit_length_is_rejected() {
        let buf = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            FrameHeader::parse(&buf),
            Err(ProtocolError::InvalidPayloadLength)
        );
    }
}
