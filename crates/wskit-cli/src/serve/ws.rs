//! The WebSocket services: `/ws` runs the JSON protocol of the [`protocol`] module on
//! the hub's registry; `/echo` echoes.

use std::sync::Mutex;

use bytes::Bytes;
use wskit::{Message, Utf8Bytes};
use wskit_hub::{Connection, Hub, SendError, Service};

use super::protocol::{self, Code, Member, Outgoing, Rooms};

/// The path of the messaging service.
pub(crate) const WS_PATH: &str = "/ws";
/// The path of the echo service.
pub(crate) const ECHO_PATH: &str = "/echo";

/// The messaging service of `/ws`.
#[derive(Debug, Default)]
pub(crate) struct Messaging {
    /// Held while a name is checked and stored, so that two connections claiming the same
    /// name at once cannot both get it (`Hub::store` replaces the holder).
    names: Mutex<()>,
}

impl Service for Messaging {
    async fn on_open(&self, conn: &Connection) {
        let welcome = Outgoing::Welcome {
            id: conn.id().to_string(),
        };
        let _ = conn.send_text(welcome.to_json()).await;
    }

    async fn on_text(&self, conn: &Connection, text: Utf8Bytes) {
        let Some(hub) = conn.hub() else {
            return;
        };
        let rooms = HubRooms {
            hub: &hub,
            conn,
            names: &self.names,
        };
        if let Some(reply) = protocol::handle(&rooms, conn.id().as_str(), text.as_str()) {
            let _ = conn.send_text(reply.to_json()).await;
        }
    }

    async fn on_binary(&self, conn: &Connection, _data: Bytes) {
        let _ = conn.send_text(protocol::binary_refused().to_json()).await;
    }
}

/// The echo service of `/echo`.
#[derive(Debug, Default)]
pub(crate) struct Echo;

impl Service for Echo {
    async fn on_text(&self, conn: &Connection, text: Utf8Bytes) {
        let _ = conn.send(Message::Text(text)).await;
    }

    async fn on_binary(&self, conn: &Connection, data: Bytes) {
        let _ = conn.send(Message::Binary(data)).await;
    }
}

/// The hub seen from one connection.
struct HubRooms<'a> {
    hub: &'a Hub,
    conn: &'a Connection,
    names: &'a Mutex<()>,
}

impl Rooms for HubRooms<'_> {
    fn join(&self, group: &str) {
        self.hub.join(group, self.conn);
    }

    fn leave(&self, group: &str) -> bool {
        self.hub.leave(group, self.conn)
    }

    fn is_member(&self, group: &str) -> bool {
        self.hub.memberships(self.conn).0.iter().any(|g| g == group)
    }

    fn publish(&self, group: &str, text: String) {
        self.hub.send_to_group(group, Message::text(text));
    }

    fn send(&self, to: &str, text: String) -> Result<(), Code> {
        match self.hub.send_to(to, Message::text(text)) {
            Ok(()) => Ok(()),
            Err(SendError::Full) => Err(Code::QueueFull),
            Err(_) => Err(Code::NotFound),
        }
    }

    fn claim_name(&self, name: &str) -> Result<(), Code> {
        // Nothing in the critical section can leave it half done; a poisoned lock is fine.
        let _claiming = self
            .names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match self.hub.named(name) {
            Some(holder) if holder == *self.conn => return Ok(()),
            Some(_) => return Err(Code::NameTaken),
            None => {}
        }
        for previous in self.hub.memberships(self.conn).1 {
            self.hub.remove_name(&previous);
        }
        self.hub.store(name, self.conn);
        Ok(())
    }

    fn presence(&self, group: &str) -> Vec<Member> {
        let mut members: Vec<Member> = self
            .hub
            .members(group)
            .into_iter()
            .filter_map(|id| self.hub.connection(id.as_str()))
            .map(|conn| Member {
                id: conn.id().to_string(),
                name: self.hub.memberships(&conn).1.into_iter().next(),
            })
            .collect();
        members.sort_by(|a, b| a.id.cmp(&b.id));
        members
    }
}
