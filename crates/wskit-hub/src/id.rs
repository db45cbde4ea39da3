//! Connection ids.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The id of a connection: 32 hex digits, random (128 bits), so ids from different servers
/// and restarts do not collide. Cheap to clone.
///
/// An id made by [`random`](Self::random), or any other 32 lowercase hex digits, is kept in
/// place (every open connection has one: no allocation of its own); any other text is shared.
///
/// # Example
/// ```
/// let id = wskit_hub::ConnectionId::random();
/// assert_eq!(id.as_str().len(), 32);
/// assert_eq!(wskit_hub::ConnectionId::from(id.as_str()), id);
/// ```
#[derive(Clone)]
pub struct ConnectionId(Repr);

#[derive(Clone)]
enum Repr {
    /// 32 lowercase hex digits (ASCII).
    Hex([u8; 32]),
    Text(Arc<str>),
}

// ===== impl ConnectionId =====

impl ConnectionId {
    /// A new random id.
    #[must_use]
    pub fn random() -> Self {
        let mut hex = [0; 32];
        let value = rand::random::<u128>();
        for (i, digit) in hex.iter_mut().enumerate() {
            // One nibble, from the most significant: `& 0xf` fits in a u8.
            let nibble = ((value >> (124 - 4 * i)) & 0xf) as u8;
            *digit = b"0123456789abcdef"[usize::from(nibble)];
        }
        Self(Repr::Hex(hex))
    }

    /// The id as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Hex digits are ASCII, so this never falls back.
            Repr::Hex(hex) => std::str::from_utf8(hex).unwrap_or_default(),
            Repr::Text(text) => text,
        }
    }
}

impl From<&str> for ConnectionId {
    fn from(id: &str) -> Self {
        let hex = <[u8; 32]>::try_from(id.as_bytes())
            .ok()
            .filter(|hex| hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        Self(match hex {
            Some(hex) => Repr::Hex(hex),
            None => Repr::Text(id.into()),
        })
    }
}

impl From<String> for ConnectionId {
    fn from(id: String) -> Self {
        Self::from(id.as_str())
    }
}

impl std::borrow::Borrow<str> for ConnectionId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

// Compared, ordered and hashed as the text, whatever the representation (and as `Borrow<str>`
// requires).
impl PartialEq for ConnectionId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ConnectionId {}

impl PartialOrd for ConnectionId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ConnectionId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for ConnectionId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn random_ids_are_32_lowercase_hex_digits_kept_in_place() {
        let id = ConnectionId::random();
        assert_eq!(id.as_str().len(), 32);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(id.as_str(), id.as_str().to_ascii_lowercase());
        assert!(matches!(id.0, Repr::Hex(_)));
        assert_ne!(id, ConnectionId::random());
        // Every digit position varies.
        let ids: Vec<_> = (0..64).map(|_| ConnectionId::random()).collect();
        for i in 0..32 {
            let digits: HashSet<u8> = ids.iter().map(|id| id.as_str().as_bytes()[i]).collect();
            assert!(digits.len() > 1, "digit {i} never changes");
        }
    }

    #[test]
    fn ids_from_text_equal_and_hash_as_their_text() {
        let hex = "0123456789abcdef0123456789abcdef";
        let from_hex = ConnectionId::from(hex);
        assert!(matches!(from_hex.0, Repr::Hex(_)));
        assert_eq!(from_hex.to_string(), hex);
        for other in ["a", "0123456789ABCDEF0123456789ABCDEF", "é", ""] {
            let id = ConnectionId::from(other);
            assert!(matches!(id.0, Repr::Text(_)), "{other}");
            assert_eq!(id.as_str(), other);
        }
        let set: HashSet<ConnectionId> = [from_hex.clone(), ConnectionId::from("a")].into();
        assert!(set.contains(hex) && set.contains("a") && !set.contains("b"));
        assert!(ConnectionId::from("a") < ConnectionId::from("b"));
        assert_eq!(format!("{from_hex:?}"), format!("ConnectionId({hex})"));
    }

    /// Every open connection holds its id, and the hub's tables copies of it.
    #[test]
    fn an_id_is_small() {
        assert!(
            size_of::<ConnectionId>() <= 40,
            "{}",
            size_of::<ConnectionId>()
        );
    }
}
