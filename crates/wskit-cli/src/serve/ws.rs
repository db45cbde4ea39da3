//! The WebSocket services: `/ws` runs the JSON protocol of the [`protocol`] module on
//! the hub's registry; `/echo` echoes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use wskit::{CloseCode, Message, Utf8Bytes};
use wskit_hub::{Connection, Hub, SendError, Service};

use super::auth::{Identity, TokenError, Tokens};
use super::protocol::{self, Code, Command, Member, Outgoing, Request, Rooms};
use super::rate::{Rates, Verdict};

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
    settings: Settings,
}

/// The quotas of `/ws` connections.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Most groups one connection may be in.
    pub(crate) max_groups: usize,
    /// Messages a second one connection may send.
    pub(crate) message_rate: usize,
    /// `presence` requests a second one connection may send.
    pub(crate) presence_rate: usize,
    /// The keys of connection tokens, when clients must present one.
    pub(crate) tokens: Option<Arc<Tokens>>,
    /// Time a connection admitted without a token has to send one.
    pub(crate) auth_timeout: Duration,
}

impl Messaging {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            names: Mutex::default(),
            settings,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_groups: 128,
            message_rate: 100,
            presence_rate: 5,
            tokens: None,
            auth_timeout: Duration::from_secs(10),
        }
    }
}

impl Service for Messaging {
    async fn on_open(&self, conn: &Connection) {
        let welcome = Outgoing::Welcome {
            id: conn.id().to_string(),
        };
        let _ = conn.send_text(welcome.to_json()).await;
        if self.settings.tokens.is_some() {
            match conn.get::<Identity>() {
                Some(identity) => signed_in(conn, &identity),
                None => arm(conn, self.settings.auth_timeout, |conn| {
                    conn.get::<Identity>()
                        .is_none()
                        .then_some((AUTH_REQUIRED, "authentication required: no token in time"))
                }),
            }
        }
    }

    async fn on_text(&self, conn: &Connection, text: Utf8Bytes) {
        let Some(hub) = conn.hub() else {
            return;
        };
        let rooms = HubRooms {
            hub: &hub,
            conn,
            names: &self.names,
            settings: &self.settings,
        };
        let me = conn.id().as_str();
        let now = Instant::now();
        let verdict =
            conn.with(|rates: &mut Rates| rates.messages.take(self.settings.message_rate, now));
        if self.refused(conn, verdict, None, "messages").await {
            return;
        }
        let request = match protocol::parse(text.as_str()) {
            Ok(request) => request,
            Err((reference, failure)) => {
                let _ = conn
                    .send_text(protocol::failed(reference, failure).to_json())
                    .await;
                return;
            }
        };
        if let Some(tokens) = &self.settings.tokens {
            if let Some((reply, close)) = authorize(conn, tokens, &request) {
                if let Some(reply) = reply {
                    let _ = conn.send_text(reply.to_json()).await;
                }
                if let Some((code, reason)) = close {
                    conn.close(CloseCode::from(code), &reason);
                }
                return;
            }
        }
        if matches!(request.command, Command::Presence { .. }) {
            let verdict = conn
                .with(|rates: &mut Rates| rates.presence.take(self.settings.presence_rate, now));
            let reference = request.reference.clone();
            if self
                .refused(conn, verdict, reference, "presence requests")
                .await
            {
                return;
            }
        }
        let reply = if hub.has_broker() {
            cluster(&rooms, request).await
        } else {
            protocol::handle_request(&rooms, me, request)
        };
        if let Some(reply) = reply {
            let _ = conn.send_text(reply.to_json()).await;
        }
    }

    async fn on_binary(&self, conn: &Connection, _data: Bytes) {
        let _ = conn.send_text(protocol::binary_refused().to_json()).await;
    }
}

/// Close code of a connection without a valid token: none in time, a bad one, or a message
/// before it.
const AUTH_REQUIRED: u16 = 4001;
/// Close code of a connection whose token expired without a fresh one.
const TOKEN_EXPIRED: u16 = 4002;

/// The answer to a request that goes no further, and the close that follows it.
type Stop = (Option<Outgoing>, Option<(u16, String)>);

/// Checks a request of a connection under token authentication: an `auth` (answered here),
/// or a command the token must allow. Returns the answer (and close) when the command goes no
/// further.
fn authorize(conn: &Connection, tokens: &Tokens, request: &Request) -> Option<Stop> {
    let reference = request.reference.clone();
    let current = conn.get::<Identity>();
    if let Command::Auth { token } = &request.command {
        return Some(match (tokens.verify(token), current) {
            (Ok(fresh), Some(current)) if fresh.sub != current.sub => (
                Some(protocol::refusal(
                    reference,
                    Code::Unauthorized,
                    "the fresh token is for another user",
                )),
                None,
            ),
            (Ok(fresh), current) => {
                conn.insert(fresh.clone());
                if current.is_none() {
                    signed_in(conn, &fresh);
                } else {
                    arm_expiry(conn, &fresh);
                }
                (reference.map(|reference| Outgoing::Ack { reference }), None)
            }
            (Err(err), Some(_)) => (
                Some(protocol::refusal(
                    reference,
                    Code::Unauthorized,
                    err.to_string(),
                )),
                None,
            ),
            (Err(err), None) => {
                let code = if err == TokenError::Expired {
                    TOKEN_EXPIRED
                } else {
                    AUTH_REQUIRED
                };
                metrics::counter!("wskit_serve_refused_total", "reason" => "token").increment(1);
                let reason = truncated(&err.to_string());
                (
                    Some(protocol::refusal(
                        reference,
                        Code::Unauthorized,
                        err.to_string(),
                    )),
                    Some((code, reason)),
                )
            }
        });
    }
    let Some(identity) = current else {
        return Some((
            Some(protocol::refusal(
                reference,
                Code::Unauthorized,
                "send {\"type\":\"auth\",\"token\":JWT} first",
            )),
            Some((AUTH_REQUIRED, "authentication required".to_owned())),
        ));
    };
    let refusal = match &request.command {
        Command::Join { group } | Command::Presence { group } if !identity.may_join(group) => {
            format!("the token does not allow the group {group:?}")
        }
        Command::Publish { group, .. } if !identity.may_publish(group) => {
            format!("the token does not allow publishing to {group:?}")
        }
        Command::Send { .. } if !identity.send => {
            "the token does not allow messages to other connections".to_owned()
        }
        Command::Name { .. } => "the name comes from the token (its \"name\" claim)".to_owned(),
        _ => return None,
    };
    metrics::counter!("wskit_serve_refused_total", "reason" => "forbidden").increment(1);
    Some((
        Some(protocol::refusal(reference, Code::Forbidden, refusal)),
        None,
    ))
}

/// A close reason of at most 123 bytes (RFC 6455 5.5: a control frame's payload is at most
/// 125 bytes, two of them the code).
fn truncated(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

/// A connection has its first valid token: its name, and the close at its expiry.
fn signed_in(conn: &Connection, identity: &Identity) {
    if let (Some(name), Some(hub)) = (&identity.name, conn.hub()) {
        // A name another connection holds stays with it.
        let _ = hub.try_store(name, conn);
    }
    arm_expiry(conn, identity);
}

/// Closes `conn` with 4002 when `identity`'s token expires, unless a fresh one came since.
fn arm_expiry(conn: &Connection, identity: &Identity) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let left = Duration::from_secs(identity.exp.saturating_sub(now));
    arm(conn, left, |conn| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        conn.get::<Identity>()
            .is_some_and(|identity| identity.exp <= now)
            .then_some((TOKEN_EXPIRED, "token expired"))
    });
}

/// Runs `check` on the connection after `delay`, closing it with the code and reason it
/// returns. One timer per connection: arming another cancels the one before.
fn arm(
    conn: &Connection,
    delay: Duration,
    check: impl FnOnce(&Connection) -> Option<(u16, &'static str)> + Send + 'static,
) {
    let Some(hub) = conn.hub() else {
        return;
    };
    // The task holds the connection's id, not the connection: a closed connection's state
    // (its timer among it) is freed at once, which cancels the task.
    let id = conn.id().clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        if let Some(conn) = hub.connection(id.as_str()) {
            if let Some((code, reason)) = check(&conn) {
                metrics::counter!("wskit_serve_refused_total", "reason" => "token_timer")
                    .increment(1);
                conn.close(CloseCode::from(code), reason);
            }
        }
    });
    conn.insert(Timer(Arc::new(AbortOnDrop(task.abort_handle()))));
}

/// A connection's pending timer, cancelled when dropped (replaced or with the connection).
#[derive(Clone)]
struct Timer(#[allow(dead_code, reason = "held for its drop")] Arc<AbortOnDrop>);

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Messaging {
    /// Answers a message its rate refuses (true), closing a connection that keeps going.
    async fn refused(
        &self,
        conn: &Connection,
        verdict: Verdict,
        reference: Option<serde_json::Value>,
        what: &str,
    ) -> bool {
        match verdict {
            Verdict::Pass => false,
            Verdict::Ignore => true,
            Verdict::Refuse => {
                metrics::counter!("wskit_serve_refused_total", "reason" => "rate_limited")
                    .increment(1);
                let _ = conn
                    .send_text(protocol::rate_limited(reference, what).to_json())
                    .await;
                true
            }
            Verdict::Close => {
                metrics::counter!("wskit_serve_refused_total", "reason" => "rate_closed")
                    .increment(1);
                conn.close(CloseCode::POLICY_VIOLATION, "rate limit exceeded");
                true
            }
        }
    }
}

/// Handles a request on a node of a cluster (`--redis`): `send` to a connection that is not
/// here, `name` and `presence` go through the hub's cluster-wide calls; the rest is local.
async fn cluster(rooms: &HubRooms<'_>, request: Request) -> Option<Outgoing> {
    let (hub, conn) = (rooms.hub, rooms.conn);
    let me = conn.id().as_str();
    let Request { reference, command } = request;
    match command {
        Command::Send { to, data } if hub.connection(&to).is_none() => {
            let text = Message::text(protocol::direct_text(me, data));
            let outcome = match hub.cluster_send(&to, text).await {
                Ok(()) => Ok(()),
                Err(SendError::Full) => Err(Code::QueueFull),
                Err(SendError::Unavailable) => Err(Code::Unavailable),
                Err(_) => Err(Code::NotFound),
            };
            protocol::send_reply(reference, &to, outcome)
        }
        Command::Name { name } => {
            // Claimed atomically across the nodes (a Redis key per name): of two clients on
            // two nodes claiming one name at once, one gets it. While Redis is down no name is
            // granted, since this node cannot know whether another holds it.
            match hub.cluster_try_store(&name, conn).await {
                Ok(true) => {}
                Ok(false) => return Some(protocol::name_taken(reference, &name)),
                Err(err) => {
                    tracing::debug!(%err, name, "cannot claim a name across the nodes");
                    return Some(protocol::name_unavailable(reference, &name));
                }
            }
            for previous in hub.memberships(conn).1 {
                if previous != name {
                    hub.remove_name(&previous);
                }
            }
            let _ = hub.cluster_flush().await;
            reference.map(|reference| Outgoing::Ack { reference })
        }
        Command::Presence { group } => {
            match (hub.cluster_members(&group).await, hub.cluster_names().await) {
                (Ok(ids), Ok(names)) => {
                    let mut named: HashMap<String, String> = HashMap::new();
                    for (name, id) in names {
                        named.entry(id.to_string()).or_insert(name);
                    }
                    let members = ids
                        .into_iter()
                        .map(|id| Member {
                            name: named.get(id.as_str()).cloned(),
                            id: id.to_string(),
                        })
                        .collect();
                    Some(protocol::presence_reply(reference, group, members))
                }
                // Redis is down: this node's members.
                _ => {
                    let command = Command::Presence { group };
                    protocol::handle_request(rooms, me, Request { reference, command })
                }
            }
        }
        command @ (Command::Join { .. } | Command::Leave { .. }) => {
            let reply = protocol::handle_request(rooms, me, Request { reference, command });
            // The ack comes once every node lists the membership and this node receives the
            // group's messages from the others (at once if Redis is down: the membership is
            // registered when it comes back).
            let _ = hub.cluster_flush().await;
            reply
        }
        command => protocol::handle_request(rooms, me, Request { reference, command }),
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
    settings: &'a Settings,
}

impl Rooms for HubRooms<'_> {
    fn join(&self, group: &str) -> Result<(), Code> {
        // A connection's messages are handled one at a time: nothing joins for it between the
        // count and the join.
        if self.hub.joined_count(self.conn) >= self.settings.max_groups
            && !self.hub.is_member(group, self.conn)
        {
            metrics::counter!("wskit_serve_refused_total", "reason" => "max_groups_per_connection")
                .increment(1);
            return Err(Code::TooManyGroups);
        }
        self.hub.join(group, self.conn);
        Ok(())
    }

    fn leave(&self, group: &str) -> bool {
        self.hub.leave(group, self.conn)
    }

    fn is_member(&self, group: &str) -> bool {
        self.hub.is_member(group, self.conn)
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

    fn presence(&self, group: &str) -> (Vec<Member>, usize) {
        let (listed, total) = self.hub.members_named(group, protocol::MAX_PRESENCE);
        let members = listed
            .into_iter()
            .map(|(id, name)| Member {
                id: id.to_string(),
                name,
            })
            .collect();
        (members, total)
    }
}
