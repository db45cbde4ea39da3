//! The connection registry: every open connection, the connections of each service, names
//! and groups. One lock guards it all; no `.await` happens while it is held.
//!
//! Each entry remembers its names and groups, so that when a connection ends, however it ends,
//! removing it removes it from everywhere in time proportional to its own memberships.
//!
//! With a [`Broker`] set, each change is reported to it under the lock, so that the broker
//! sees them in the order they happened.

use std::collections::HashMap;
use std::sync::Arc;

use wskit::Message;

use crate::broker::{Broker, Change, Target};
use crate::connection::Connection;
use crate::id::ConnectionId;

/// The connections of a service or a group, by id: the handles themselves, so that a
/// broadcast walks them without looking each id up again (a profile of `wskit serve`'s group
/// fan-out had 5 % of the server's time in those lookups).
pub(crate) type Members = HashMap<ConnectionId, Connection>;

#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) conns: HashMap<ConnectionId, Entry>,
    pub(crate) services: HashMap<Arc<str>, Members>,
    pub(crate) names: HashMap<String, ConnectionId>,
    pub(crate) groups: HashMap<String, Members>,
    /// The bus to the other nodes, if any (see [`crate::broker`]).
    pub(crate) broker: Option<Arc<dyn Broker>>,
}

pub(crate) struct Entry {
    pub(crate) conn: Connection,
    pub(crate) names: Vec<String>,
    pub(crate) groups: Vec<String>,
}

impl Registry {
    /// Hands `msg` to the broker for the other nodes (no-op without one).
    pub(crate) fn publish(&self, target: impl FnOnce() -> Target, msg: &Message) {
        if let Some(broker) = &self.broker {
            broker.publish(&target(), msg);
        }
    }

    /// Reports a change to the broker (no-op without one; `change` is only built with one).
    fn changed(&self, change: impl FnOnce() -> Change) {
        if let Some(broker) = &self.broker {
            broker.changed(change());
        }
    }

    pub(crate) fn insert(&mut self, conn: Connection) {
        let id = conn.id().clone();
        self.changed(|| Change::Opened {
            id: id.clone(),
            path: conn.path().to_owned(),
        });
        self.services
            .entry(Arc::clone(&conn.shared.route.path))
            .or_default()
            .insert(id.clone(), conn.clone());
        self.conns.insert(
            id,
            Entry {
                conn,
                names: Vec::new(),
                groups: Vec::new(),
            },
        );
    }

    /// Removes a connection from everywhere.
    pub(crate) fn remove(&mut self, id: &ConnectionId) -> Option<Entry> {
        let entry = self.conns.remove(id)?;
        if let Some(members) = self.services.get_mut(&entry.conn.shared.route.path) {
            members.remove(id);
            if members.is_empty() {
                self.services.remove(&entry.conn.shared.route.path);
            }
        }
        for name in &entry.names {
            if self.names.get(name) == Some(id) {
                self.names.remove(name);
                self.changed(|| Change::Unnamed {
                    name: name.clone(),
                    id: id.clone(),
                });
            }
        }
        for group in &entry.groups {
            self.leave_group(group, id);
        }
        self.changed(|| Change::Closed {
            id: id.clone(),
            path: entry.conn.path().to_owned(),
        });
        Some(entry)
    }

    /// Stores `id` under `name`, replacing the connection stored there before.
    pub(crate) fn store(&mut self, name: &str, id: &ConnectionId) -> bool {
        let Some(entry) = self.conns.get_mut(id) else {
            return false;
        };
        if !entry.names.iter().any(|n| n == name) {
            entry.names.push(name.to_owned());
        }
        self.changed(|| Change::Named {
            name: name.to_owned(),
            id: id.clone(),
        });
        if let Some(previous) = self.names.insert(name.to_owned(), id.clone()) {
            if &previous != id {
                if let Some(prev) = self.conns.get_mut(&previous) {
                    prev.names.retain(|n| n != name);
                }
            }
        }
        true
    }

    pub(crate) fn remove_name(&mut self, name: &str) -> bool {
        let Some(id) = self.names.remove(name) else {
            return false;
        };
        if let Some(entry) = self.conns.get_mut(&id) {
            entry.names.retain(|n| n != name);
        }
        self.changed(|| Change::Unnamed {
            name: name.to_owned(),
            id,
        });
        true
    }

    pub(crate) fn join(&mut self, group: &str, id: &ConnectionId) -> bool {
        let Some(entry) = self.conns.get_mut(id) else {
            return false;
        };
        let added = self
            .groups
            .entry(group.to_owned())
            .or_default()
            .insert(id.clone(), entry.conn.clone())
            .is_none();
        if added {
            entry.groups.push(group.to_owned());
            self.changed(|| Change::Joined {
                group: group.to_owned(),
                id: id.clone(),
            });
        }
        added
    }

    pub(crate) fn leave(&mut self, group: &str, id: &ConnectionId) -> bool {
        if let Some(entry) = self.conns.get_mut(id) {
            entry.groups.retain(|g| g != group);
        }
        self.leave_group(group, id)
    }

    fn leave_group(&mut self, group: &str, id: &ConnectionId) -> bool {
        let Some(members) = self.groups.get_mut(group) else {
            return false;
        };
        let removed = members.remove(id).is_some();
        if members.is_empty() {
            self.groups.remove(group);
        }
        if removed {
            self.changed(|| Change::Left {
                group: group.to_owned(),
                id: id.clone(),
            });
        }
        removed
    }

    /// Removes a whole group; its connections stay open. Returns how many were in it.
    pub(crate) fn remove_group(&mut self, group: &str) -> Option<usize> {
        let members = self.groups.remove(group)?;
        for id in members.keys() {
            if let Some(entry) = self.conns.get_mut(id) {
                entry.groups.retain(|g| g != group);
            }
            self.changed(|| Change::Left {
                group: group.to_owned(),
                id: id.clone(),
            });
        }
        Some(members.len())
    }

    /// The connections of the service on `path`.
    pub(crate) fn service(&self, path: &str) -> impl Iterator<Item = &Connection> {
        self.services
            .get(path)
            .into_iter()
            .flat_map(Members::values)
    }

    /// The connections in `group`.
    pub(crate) fn group(&self, group: &str) -> impl Iterator<Item = &Connection> {
        self.groups.get(group).into_iter().flat_map(Members::values)
    }

    /// Finds a connection by id, or else by name.
    pub(crate) fn find(&self, id_or_name: &str) -> Option<&Connection> {
        self.conns
            .get(id_or_name)
            .or_else(|| self.conns.get(self.names.get(id_or_name)?))
            .map(|entry| &entry.conn)
    }
}
