//! Errors of the protocol layer.
//!
//! [`ProtocolError`] is what the **peer** did wrong; each variant names the RFC rule and maps
//! to the close code the connection sends before it closes ([`ProtocolError::close_code`]).
//! [`Error`] adds what the **user** of this crate did wrong.

use crate::close::CloseCode;

/// A violation of RFC 6455 or RFC 7692 by the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A reserved bit (RSV1–3) was set that no negotiated extension defines (§5.2).
    #[error("reserved bits set that no extension defines")]
    ReservedBitsSet,
    /// A reserved opcode was used (§5.2).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A client sent a frame without a mask (§5.1).
    #[error("client frame is not masked")]
    UnmaskedFrameFromClient,
    /// A server sent a masked frame (§5.1).
    #[error("server frame is masked")]
    MaskedFrameFromServer,
    /// A 64-bit payload length had its most significant bit set (§5.2).
    #[error("64-bit payload length has its top bit set")]
    InvalidPayloadLength,
    /// A control frame had FIN clear (§5.5).
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A control frame carried more than 125 bytes (§5.5).
    #[error("control frame payload of {0} bytes exceeds 125")]
    ControlFrameTooLarge(u64),
    /// A continuation frame arrived with no message to continue (§5.4).
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new data frame arrived while a fragmented message was incomplete (§5.4).
    #[error("new data frame while a fragmented message is incomplete")]
    ExpectedContinuation,
    /// A text message (or a close reason) was not valid UTF-8 (§8.1).
    #[error("invalid UTF-8 in a text message or close reason")]
    InvalidUtf8,
    /// A close frame had a one-byte payload (§5.5.1).
    #[error("close frame payload of one byte")]
    InvalidClosePayload,
    /// A close frame carried a code that may not be sent (§7.4).
    #[error("close code {0} may not be sent on the wire")]
    InvalidCloseCode(u16),
    /// A frame exceeded the configured maximum frame size.
    #[error("frame of {size} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The declared size.
        size: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message exceeded the configured maximum message size (counted decompressed).
    #[error("message exceeds the limit of {max} bytes")]
    MessageTooLarge {
        /// The configured limit.
        max: usize,
    },
    /// A control frame or a continuation frame had RSV1 set (RFC 7692 §6.1).
    #[error("RSV1 set on a control or continuation frame")]
    CompressedControlOrContinuation,
    /// A compressed message could not be inflated (RFC 7692 §7.2.2).
    #[error("compressed message could not be inflated: {0}")]
    InvalidCompressedData(String),
    /// Data arrived after the peer's close frame.
    #[error("frame after the close frame")]
    FrameAfterClose,
}

impl ProtocolError {
    /// The close code sent to the peer for this violation.
    ///
    /// # Example
    /// ```
    /// use wskit_proto::{CloseCode, ProtocolError};
    /// assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode::INVALID_PAYLOAD);
    /// ```
    #[must_use]
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 | Self::InvalidCompressedData(_) => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooLarge { .. } | Self::MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// An error of the protocol layer: the peer's violation, or a misuse by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke the protocol; a close frame with [`ProtocolError::close_code`] has been
    /// queued and the connection is closed.
    #[error("protocol violation by the peer: {0}")]
    Protocol(#[from] ProtocolError),
    /// The connection is closed; nothing more can be sent or received.
    #[error("the connection is closed")]
    Closed,
    /// A close frame was already sent; only the peer's close can follow.
    #[error("a close frame was already sent")]
    Closing,
    /// The caller tried to send a close code that may not go on the wire (1005, 1006, 1015,
    /// or outside 1000–4999 ranges in use).
    #[error("close code {0} may not be sent")]
    InvalidCloseCode(u16),
    /// The caller tried to send a control frame payload over 125 bytes (a close reason over
    /// 123 bytes).
    #[error("control frame payload of {0} bytes exceeds 125")]
    ControlPayloadTooLarge(usize),
}
