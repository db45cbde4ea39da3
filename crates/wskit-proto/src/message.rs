//! Messages as zero-copy byte types.

use std::fmt;

use bytes::Bytes;

use crate::close::CloseFrame;

/// Bytes that are known to be valid UTF-8: the payload of a text message.
///
/// Cloning is cheap (a reference count), and converting from the received frame costs no copy.
///
/// # Example
/// ```
/// use wskit_proto::Utf8Bytes;
/// let text = Utf8Bytes::from("hello");
/// assert_eq!(text.as_str(), "hello");
/// assert_eq!(Utf8Bytes::try_from(bytes::Bytes::from_static(b"\xff")).is_err(), true);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// An empty string.
    #[must_use]
    pub const fn new() -> Self {
        Self(Bytes::new())
    }

    /// A string from a `&'static str`, without allocating.
    #[must_use]
    pub const fn from_static(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }

    /// Wraps bytes that the caller has already validated.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        Self(bytes)
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // The bytes were validated on construction; validation again is cheap (SIMD) and keeps
        // this crate free of `unsafe` outside the mask module.
        simdutf8::basic::from_utf8(&self.0).unwrap_or_default()
    }

    /// The underlying bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The underlying bytes, by value.
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Self(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = simdutf8::basic::Utf8Error;

    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        simdutf8::basic::from_utf8(&bytes)?;
        Ok(Self(bytes))
    }
}

impl std::ops::Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WebSocket message, or a control frame the application may want to see.
///
/// # Example
/// ```
/// use wskit_proto::Message;
/// let msg = Message::text("hi");
/// assert!(msg.is_text());
/// assert_eq!(msg.as_payload(), b"hi");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8).
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping. The connection answers it with a pong by itself.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame, with its code and reason if it had one.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::Binary(data.into())
    }

    /// Whether this is a text message.
    #[must_use]
    pub fn is_text(&self) -> bool {
        matches!(self, Self::Text(_))
    }

    /// Whether this is a binary message.
    #[must_use]
    pub fn is_binary(&self) -> bool {
        matches!(self, Self::Binary(_))
    }

    /// Whether this is a close frame.
    #[must_use]
    pub fn is_close(&self) -> bool {
        matches!(self, Self::Close(_))
    }

    /// The payload bytes (for a close frame: the reason).
    #[must_use]
    pub fn as_payload(&self) -> &[u8] {
        match self {
            Self::Text(text) => text.as_bytes(),
            Self::Binary(data) | Self::Ping(data) | Self::Pong(data) => data,
            Self::Close(Some(frame)) => frame.reason.as_bytes(),
            Self::Close(None) => &[],
        }
    }
}
