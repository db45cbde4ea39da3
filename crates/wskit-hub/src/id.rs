//! Connection ids.

use std::fmt;
use std::sync::Arc;

/// The id of a connection: 32 hex digits, random (128 bits), so ids from different servers
/// and restarts do not collide. Cheap to clone.
///
/// # Example
/// ```
/// let id = wskit_hub::ConnectionId::random();
/// assert_eq!(id.as_str().len(), 32);
/// assert_eq!(wskit_hub::ConnectionId::from(id.as_str()), id);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(Arc<str>);

impl ConnectionId {
    /// A new random id.
    #[must_use]
    pub fn random() -> Self {
        Self(format!("{:032x}", rand::random::<u128>()).into())
    }

    /// The id as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ConnectionId {
    fn from(id: &str) -> Self {
        Self(id.into())
    }
}

impl From<String> for ConnectionId {
    fn from(id: String) -> Self {
        Self(id.into())
    }
}

impl std::borrow::Borrow<str> for ConnectionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionId({})", self.0)
    }
}
