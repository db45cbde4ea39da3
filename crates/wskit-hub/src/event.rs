//! The hub's event stream: connections received, closed and failed (SwaggerSocket's
//! `EventStream`).

use tokio::sync::broadcast;
use wskit::CloseCode;

use crate::id::ConnectionId;

/// An event of the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HubEvent {
    /// A connection was accepted on `path`.
    #[doc(alias = "ConnectionReceived")]
    Received {
        /// The connection's id.
        id: ConnectionId,
        /// The service's path.
        path: String,
    },
    /// A connection ended with `code` (1006 when it ended without a close frame).
    #[doc(alias = "ConnectionClosed")]
    Closed {
        /// The connection's id.
        id: ConnectionId,
        /// The close code.
        code: CloseCode,
        /// The close reason.
        reason: String,
    },
    /// A connection failed (protocol violation, oversized message, I/O error); `Closed`
    /// follows.
    #[doc(alias = "ConnectionFailure")]
    Failed {
        /// The connection's id.
        id: ConnectionId,
        /// What went wrong.
        error: String,
    },
    /// This reader fell behind and missed `missed` events (the stream never slows the
    /// connections down; a slow reader loses the oldest events instead).
    Lagged {
        /// How many events were missed.
        missed: u64,
    },
}

/// A stream of [`HubEvent`]s from [`Hub::events`](crate::Hub::events).
///
/// # Example
/// ```no_run
/// # async fn run(hub: wskit_hub::Hub) {
/// let mut events = hub.events();
/// while let Some(event) = events.recv().await {
///     println!("{event:?}");
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct EventStream {
    pub(crate) rx: broadcast::Receiver<HubEvent>,
}

impl EventStream {
    /// The next event; `None` once the hub is gone.
    pub async fn recv(&mut self) -> Option<HubEvent> {
        match self.rx.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some(HubEvent::Lagged { missed }),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}
