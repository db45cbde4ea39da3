//! The connection registry: every open connection, the connections of each service, names
//! and groups. One lock guards it all; no `.await` happens while it is held.
//!
//! The names and groups of each connection are remembered, so that when a connection ends,
//! however it ends, removing it removes it from everywhere in time proportional to its own
//! memberships.
//!
//! Every open connection has a slot in the table of all connections and in its service's,
//! so these are sets of handles found by the id inside them ([`ById`]): a pointer per slot,
//! not an id beside a handle beside its memberships (72 bytes a slot before; hash tables keep
//! an eighth or more of their slots free, and double when full). Memberships have a table of
//! their own, with the connections that have any.
//!
//! With a [`Broker`] set, each change is reported to it under the lock, so that the broker
//! sees them in the order they happened.

use std::borrow::Borrow;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use wskit::Message;

use crate::broker::{Broker, Change, Target};
use crate::connection::Connection;
use crate::id::ConnectionId;

/// The connections of a service or a group: the handles themselves, so that a broadcast walks
/// them without looking each id up again (a profile of `wskit serve`'s group fan-out had 5 % of
/// the server's time in those lookups).
pub(crate) type Members = HashSet<ById>;

/// A connection's handle, hashed and compared by its id, and found by it (as a `&str`).
#[derive(Clone)]
pub(crate) struct ById(pub(crate) Connection);

#[derive(Default)]
pub(crate) struct Registry {
    /// Every open connection.
    conns: Members,
    pub(crate) services: HashMap<Arc<str>, Members>,
    pub(crate) names: HashMap<String, ConnectionId>,
    pub(crate) groups: HashMap<String, Members>,
    /// The names and groups of the connections that have any.
    memberships: HashMap<ConnectionId, Memberships>,
    /// The bus to the other nodes, if any (see [`crate::broker`]).
    pub(crate) broker: Option<Arc<dyn Broker>>,
}

/// A connection's names and groups.
#[derive(Debug, Clone, Default)]
pub(crate) struct Memberships {
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
            .insert(ById(conn.clone()));
        self.conns.insert(ById(conn));
    }

    /// Removes a connection from everywhere.
    pub(crate) fn remove(&mut self, id: &ConnectionId) -> Option<Connection> {
        let ById(conn) = self.conns.take(id.as_str())?;
        let path = &conn.shared.route.path;
        if let Some(members) = self.services.get_mut(path) {
            members.remove(id.as_str());
            if members.is_empty() {
                self.services.remove(path);
            }
        }
        let entry = self.memberships.remove(id).unwrap_or_default();
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
            path: conn.path().to_owned(),
        });
        Some(conn)
    }

    /// The connection with this id.
    pub(crate) fn get(&self, id: &str) -> Option<&Connection> {
        self.conns.get(id).map(|member| &member.0)
    }

    /// Every open connection.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Connection> {
        self.conns.iter().map(|member| &member.0)
    }

    /// How many connections are open.
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    /// The names and groups of the connection with this id (none if it is not open).
    pub(crate) fn memberships(&self, id: &ConnectionId) -> Memberships {
        self.memberships.get(id).cloned().unwrap_or_default()
    }

    /// How many groups the connection with this id is a member of.
    pub(crate) fn joined_count(&self, id: &ConnectionId) -> usize {
        self.memberships
            .get(id)
            .map_or(0, |entry| entry.groups.len())
    }

    /// The first name of the connection with this id.
    pub(crate) fn name_of(&self, id: &ConnectionId) -> Option<String> {
        self.memberships.get(id)?.names.first().cloned()
    }

    /// The first `limit` connections by id after `after`, and whether more follow: one pass
    /// keeping `limit + 1` of them.
    pub(crate) fn connections_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<Connection>, bool) {
        let ids = self.conns.iter().map(|member| (member.0.id().as_str(), ()));
        let (page, more) = page_after(ids, after, limit);
        let page = page
            .into_iter()
            .filter_map(|(id, ())| self.get(id).cloned())
            .collect();
        (page, more)
    }

    /// The first `limit` groups by name after `after`, with their sizes, and whether more
    /// follow: one pass over the groups keeping `limit + 1` of them, whatever their number.
    pub(crate) fn groups_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<(String, usize)>, bool) {
        let sizes = self
            .groups
            .iter()
            .map(|(name, members)| (name.as_str(), members.len()));
        let (page, more) = page_after(sizes, after, limit);
        let page = page
            .into_iter()
            .map(|(name, size)| (name.to_owned(), size))
            .collect();
        (page, more)
    }

    /// Up to `limit` members of `group` with their first names, and how many it has.
    pub(crate) fn members_named(
        &self,
        group: &str,
        limit: usize,
    ) -> (Vec<(ConnectionId, Option<String>)>, usize) {
        let Some(members) = self.groups.get(group) else {
            return (Vec::new(), 0);
        };
        let listed = members
            .iter()
            .take(limit)
            .map(|member| {
                let id = member.0.id();
                (id.clone(), self.name_of(id))
            })
            .collect();
        (listed, members.len())
    }

    /// Stores `id` under `name`, replacing the connection stored there before.
    pub(crate) fn store(&mut self, name: &str, id: &ConnectionId) -> bool {
        if !self.conns.contains(id.as_str()) {
            return false;
        }
        let entry = self.memberships.entry(id.clone()).or_default();
        if !entry.names.iter().any(|n| n == name) {
            entry.names.push(name.to_owned());
        }
        self.changed(|| Change::Named {
            name: name.to_owned(),
            id: id.clone(),
        });
        if let Some(previous) = self.names.insert(name.to_owned(), id.clone()) {
            if &previous != id {
                self.forget(&previous, |entry| entry.names.retain(|n| n != name));
            }
        }
        true
    }

    /// Updates the memberships of `id`, dropping its entry once it has none.
    fn forget(&mut self, id: &ConnectionId, update: impl FnOnce(&mut Memberships)) {
        if let Some(entry) = self.memberships.get_mut(id) {
            update(entry);
            if entry.names.is_empty() && entry.groups.is_empty() {
                self.memberships.remove(id);
            }
        }
    }

    pub(crate) fn remove_name(&mut self, name: &str) -> bool {
        let Some(id) = self.names.remove(name) else {
            return false;
        };
        self.forget(&id, |entry| entry.names.retain(|n| n != name));
        self.changed(|| Change::Unnamed {
            name: name.to_owned(),
            id,
        });
        true
    }

    #[allow(
        clippy::mutable_key_type,
        reason = "a `ById` hashes its connection's id, which never changes"
    )]
    pub(crate) fn join(&mut self, group: &str, id: &ConnectionId) -> bool {
        let Some(member) = self.conns.get(id.as_str()) else {
            return false;
        };
        let added = match self.groups.get_mut(group) {
            Some(members) => members.insert(member.clone()),
            None => {
                let mut members = Members::default();
                members.insert(member.clone());
                self.groups.insert(group.to_owned(), members);
                true
            }
        };
        if added {
            let entry = self.memberships.entry(id.clone()).or_default();
            entry.groups.push(group.to_owned());
            self.changed(|| Change::Joined {
                group: group.to_owned(),
                id: id.clone(),
            });
        }
        added
    }

    pub(crate) fn leave(&mut self, group: &str, id: &ConnectionId) -> bool {
        self.forget(id, |entry| entry.groups.retain(|g| g != group));
        self.leave_group(group, id)
    }

    fn leave_group(&mut self, group: &str, id: &ConnectionId) -> bool {
        let Some(members) = self.groups.get_mut(group) else {
            return false;
        };
        let removed = members.remove(id.as_str());
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
    #[allow(
        clippy::mutable_key_type,
        reason = "a `ById` hashes its connection's id, which never changes"
    )]
    pub(crate) fn remove_group(&mut self, group: &str) -> Option<usize> {
        let members = self.groups.remove(group)?;
        for member in &members {
            let id = member.0.id();
            self.forget(id, |entry| entry.groups.retain(|g| g != group));
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
            .flatten()
            .map(|member| &member.0)
    }

    /// The connections in `group`.
    pub(crate) fn group(&self, group: &str) -> impl Iterator<Item = &Connection> {
        self.groups
            .get(group)
            .into_iter()
            .flatten()
            .map(|member| &member.0)
    }

    /// Finds a connection by id, or else by name.
    pub(crate) fn find(&self, id_or_name: &str) -> Option<&Connection> {
        self.get(id_or_name)
            .or_else(|| self.get(self.names.get(id_or_name)?.as_str()))
    }
}

// ===== impl ById =====

impl Hash for ById {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As the `&str` it is looked up by (`Borrow`'s contract).
        self.0.id().as_str().hash(state);
    }
}

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.id() == other.0.id()
    }
}

impl Eq for ById {}

impl Borrow<str> for ById {
    fn borrow(&self) -> &str {
        self.0.id().as_str()
    }
}

/// The `limit` entries of `keyed` with the smallest keys after `after`, in key order, and
/// whether more follow: one pass that keeps `limit + 1` entries, however many there are. Keys
/// are unique (ids, group names).
fn page_after<'a, T: Ord>(
    keyed: impl Iterator<Item = (&'a str, T)>,
    after: Option<&str>,
    limit: usize,
) -> (Vec<(&'a str, T)>, bool) {
    let mut smallest = BinaryHeap::with_capacity(limit + 2);
    for (key, value) in keyed {
        if after.is_some_and(|after| key <= after) {
            continue;
        }
        smallest.push((key, value));
        if smallest.len() > limit + 1 {
            smallest.pop();
        }
    }
    let mut page = smallest.into_sorted_vec();
    let more = page.len() > limit;
    page.truncate(limit);
    (page, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every open connection has a slot in two tables (all connections, its service's): one
    /// pointer each (72 and 24 bytes before).
    #[test]
    fn a_connection_takes_a_pointer_per_table() {
        assert_eq!(size_of::<ById>(), size_of::<usize>());
    }

    #[test]
    fn a_page_holds_the_smallest_keys_after_the_cursor_in_order() {
        let keyed = || {
            ["d", "a", "e", "c", "b"]
                .into_iter()
                .map(|key| (key, key.len()))
        };
        assert_eq!(
            page_after(keyed(), Some("b"), 2),
            (vec![("c", 1), ("d", 1)], true)
        );
        assert_eq!(
            page_after(keyed(), Some("b"), 3),
            (vec![("c", 1), ("d", 1), ("e", 1)], false)
        );
        assert_eq!(page_after(keyed(), None, 1), (vec![("a", 1)], true));
        assert_eq!(page_after(keyed(), Some("e"), 10), (vec![], false));
    }
}
