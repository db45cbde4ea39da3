//! Frame opcodes (RFC 6455 §5.2).

/// The opcode of a frame.
///
/// # Example
/// ```
/// use wskit_proto::OpCode;
/// assert_eq!(OpCode::from_u8(0x1), Some(OpCode::Text));
/// assert_eq!(OpCode::from_u8(0x3), None); // reserved
/// assert!(OpCode::Ping.is_control());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// A continuation of a fragmented message (`0x0`).
    Continuation,
    /// The first frame of a text message (`0x1`).
    Text,
    /// The first frame of a binary message (`0x2`).
    Binary,
    /// A close frame (`0x8`).
    Close,
    /// A ping (`0x9`).
    Ping,
    /// A pong (`0xA`).
    Pong,
}

impl OpCode {
    /// Decodes the 4-bit opcode; `None` for the reserved values `0x3..=0x7` and `0xB..=0xF`.
    #[must_use]
    pub fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    #[must_use]
    pub fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Whether this is a control frame (close, ping, pong).
    #[must_use]
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}
