//! Which end of the connection we are.

/// Which end of the connection we are: the client masks its frames, the server must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that sent the opening handshake.
    Client,
    /// The end that accepted it.
    Server,
}
