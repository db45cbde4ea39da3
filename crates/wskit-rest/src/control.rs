//! What a connection does with pings and pongs: the heartbeat, SwaggerSocket's `AppData`,
//! `PingHdlr` and `PongHdlr`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wskit::Heartbeat;

/// A function called with the application data of a pong.
pub(crate) type ControlHandler = Arc<dyn Fn(Bytes) + Send + Sync>;

/// A function called with the application data of a ping: the data of the pong to answer
/// with, if any.
pub(crate) type PingHandler = Arc<dyn Fn(Bytes) -> Option<Bytes> + Send + Sync>;

/// The heartbeat and the ping and pong handlers of a connection.
#[derive(Clone, Default)]
pub(crate) struct Control {
    /// Ping every `.0`, give up when a pong takes longer than `.1`.
    pub(crate) heartbeat: Option<(Duration, Duration)>,
    /// At the start of every heartbeat ping; at most [`wskit::MAX_APP_DATA`] bytes.
    pub(crate) app_data: Bytes,
    /// Answers pings in place of the WebSocket layer's automatic pong.
    pub(crate) ping: Option<PingHandler>,
    pub(crate) pong: Option<ControlHandler>,
}

impl Control {
    /// The heartbeat to run, if any.
    pub(crate) fn heartbeat(&self) -> Option<Heartbeat> {
        let (every, timeout) = self.heartbeat?;
        let heartbeat = Heartbeat::new(every).timeout(timeout);
        // `app_data` was checked against the limit when it was set.
        Some(match heartbeat.app_data(self.app_data.clone()) {
            Ok(heartbeat) => heartbeat,
            Err(_) => Heartbeat::new(every).timeout(timeout),
        })
    }

    /// A ping came with `payload`: the data of the pong to send, when a ping handler is set
    /// (without one, the WebSocket layer has answered it already).
    pub(crate) fn on_ping(&self, payload: Bytes) -> Option<Bytes> {
        self.ping.as_ref().and_then(|handler| handler(payload))
    }

    /// A pong came with `payload`.
    pub(crate) fn on_pong(&self, payload: Bytes) {
        if let Some(handler) = &self.pong {
            handler(payload);
        }
    }
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("heartbeat", &self.heartbeat)
            .field("app_data", &self.app_data)
            .field("ping_handler", &self.ping.is_some())
            .field("pong_handler", &self.pong.is_some())
            .finish()
    }
}
