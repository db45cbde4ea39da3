//! The JSON protocol of `/ws` (described for users in `docs/protocol.md`).
//!
//! Handling a client message is a pure function of the text and a [`Rooms`]: [`handle`]
//! parses it into a [`Command`], runs the command against the rooms (the hub in the server,
//! a fake in the tests below) and returns the reply for the sender, if any. Deliveries to
//! other clients go through [`Rooms::publish`] and [`Rooms::send`], already serialized.

use serde::Serialize;
use serde_json::{Map, Value};

/// Longest group name, in bytes.
const MAX_GROUP_LEN: usize = 128;
/// Longest connection name, in characters.
const MAX_NAME_LEN: usize = 64;
/// Most members a `presence` answer lists; a larger group's answer says `"more": true` and
/// gives the `count`.
pub(crate) const MAX_PRESENCE: usize = 1000;

/// What a client asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    /// Become a member of `group` (creating it).
    Join { group: String },
    /// Stop being a member of `group`.
    Leave { group: String },
    /// Deliver `data` to every member of `group` (the sender included).
    Publish { group: String, data: Value },
    /// Deliver `data` to one connection, by id or name.
    Send { to: String, data: Value },
    /// Take `name` (replacing the sender's previous name).
    Name { name: String },
    /// List the members of `group`.
    Presence { group: String },
    /// Present a connection token (the first message when the upgrade carried none, or a
    /// fresh token before the current one expires).
    Auth { token: String },
}

/// A parsed client message: the command and the client's `ref`, echoed in the answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    pub(crate) reference: Option<Value>,
    pub(crate) command: Command,
}

/// The stable error codes of `error` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Code {
    /// The text is not JSON, or not a JSON object.
    BadJson,
    /// `type` names no command.
    UnknownType,
    /// A field the command needs is absent.
    MissingField,
    /// A field has the wrong type or an invalid value.
    InvalidField,
    /// No connection has that id or name.
    NotFound,
    /// Another connection has that name.
    NameTaken,
    /// The sender is not a member of the group (publish, leave).
    NotMember,
    /// The recipient's outgoing queue is full; the message was dropped.
    QueueFull,
    /// Binary messages are not part of the protocol.
    Unsupported,
    /// The target is not on this node, or a name cannot be claimed, while the other nodes
    /// cannot be reached (Redis is down).
    Unavailable,
    /// The connection is already a member of as many groups as the server allows
    /// (`max_groups_per_connection`).
    TooManyGroups,
    /// The connection has not presented a valid token yet (the connection is then closed with
    /// 4001), or a fresh token names another user.
    Unauthorized,
    /// The token does not allow this (join or presence of a group outside its `join`
    /// patterns, publish outside `publish`, `send` without `send`, `name` with tokens on).
    Forbidden,
    /// The connection sends faster than its rate allows (`message_rate`, `presence_rate`);
    /// the message was not handled. A client that keeps going is closed with 1008.
    RateLimited,
}

/// A refusal: the code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: Code,
    pub(crate) message: String,
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Outgoing {
    /// The first message on each connection.
    Welcome { id: String },
    /// A command with a `ref` succeeded.
    Ack {
        #[serde(rename = "ref")]
        reference: Value,
    },
    /// A command failed, or a message could not be understood.
    Error {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Value>,
        code: Code,
        message: String,
    },
    /// A delivery: from a group (`group` set) or to this connection (`group` null); `from`
    /// is null when the HTTP API sent it.
    Message {
        group: Option<String>,
        from: Option<String>,
        data: Value,
    },
    /// The answer to `presence`.
    Presence {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Value>,
        group: String,
        members: Vec<Member>,
        /// The group's size, when it has more members than listed.
        #[serde(skip_serializing_if = "Option::is_none")]
        count: Option<usize>,
        /// The group has more members than listed ([`MAX_PRESENCE`]).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        more: bool,
    },
}

/// A member of a group, as `presence` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
}

/// The registry as the protocol sees it, from one connection's point of view.
pub(crate) trait Rooms {
    /// Adds the sender to `group`, unless it is in as many groups as it may be
    /// ([`Code::TooManyGroups`]).
    fn join(&self, group: &str) -> Result<(), Code>;
    /// Removes the sender from `group`; false if it was not a member.
    fn leave(&self, group: &str) -> bool;
    /// Whether the sender is a member of `group`.
    fn is_member(&self, group: &str) -> bool;
    /// Queues `text` for every member of `group`.
    fn publish(&self, group: &str, text: String);
    /// Queues `text` for the connection with this id or name.
    fn send(&self, to: &str, text: String) -> Result<(), Code>;
    /// Gives the sender `name`, unless another connection has it ([`Code::NameTaken`]).
    fn claim_name(&self, name: &str) -> Result<(), Code>;
    /// At most [`MAX_PRESENCE`] members of `group`, and how many it has.
    fn presence(&self, group: &str) -> (Vec<Member>, usize);
}

// ===== impl Outgoing =====

impl Outgoing {
    /// The message as JSON text.
    pub(crate) fn to_json(&self) -> String {
        // These types serialize to JSON without fail: maps have string keys and the values
        // are already JSON; the fallback is for the impossible.
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"serialization failed"}"#.to_owned()
        })
    }

    fn error(reference: Option<Value>, failure: Failure) -> Self {
        Self::Error {
            reference,
            code: failure.code,
            message: failure.message,
        }
    }
}

impl Failure {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Handles one text message from connection `me`: parses it, runs it against `rooms`, and
/// returns the reply for the sender (an ack only when the message had a `ref`). The server
/// parses first itself (to apply its rates), then calls [`handle_request`].
#[cfg(test)]
pub(crate) fn handle(rooms: &impl Rooms, me: &str, text: &str) -> Option<Outgoing> {
    match parse(text) {
        Ok(request) => handle_request(rooms, me, request),
        Err((reference, failure)) => Some(Outgoing::error(reference, failure)),
    }
}

/// Handles a parsed client message (see [`handle`]).
pub(crate) fn handle_request(rooms: &impl Rooms, me: &str, request: Request) -> Option<Outgoing> {
    let Request { reference, command } = request;
    match run(rooms, me, command) {
        Ok(Some(Outgoing::Presence {
            group,
            members,
            count,
            more,
            ..
        })) => Some(Outgoing::Presence {
            reference,
            group,
            members,
            count,
            more,
        }),
        Ok(Some(other)) => Some(other),
        Ok(None) => reference.map(|reference| Outgoing::Ack { reference }),
        Err(failure) => Some(Outgoing::error(reference, failure)),
    }
}

/// A refusal for `reference` with `code`.
pub(crate) fn refusal(
    reference: Option<Value>,
    code: Code,
    message: impl Into<String>,
) -> Outgoing {
    Outgoing::error(reference, Failure::new(code, message))
}

/// The reply to a message [`parse`] refused.
pub(crate) fn failed(reference: Option<Value>, failure: Failure) -> Outgoing {
    Outgoing::error(reference, failure)
}

/// The text a `send` from `me` delivers.
pub(crate) fn direct_text(me: &str, data: Value) -> String {
    Outgoing::Message {
        group: None,
        from: Some(me.to_owned()),
        data,
    }
    .to_json()
}

/// The reply to a `send` to `to` that ended with `outcome` (an ack only with a `ref`).
pub(crate) fn send_reply(
    reference: Option<Value>,
    to: &str,
    outcome: Result<(), Code>,
) -> Option<Outgoing> {
    match outcome {
        Ok(()) => reference.map(|reference| Outgoing::Ack { reference }),
        Err(code) => Some(Outgoing::error(reference, send_failure(to, code))),
    }
}

/// The reply to a `name` that another connection (on any node) holds.
pub(crate) fn name_taken(reference: Option<Value>, name: &str) -> Outgoing {
    Outgoing::error(reference, name_taken_failure(name))
}

/// The reply to a `name` while the other nodes cannot be reached (`--redis`, Redis down).
pub(crate) fn name_unavailable(reference: Option<Value>, name: &str) -> Outgoing {
    Outgoing::error(
        reference,
        Failure::new(
            Code::Unavailable,
            format!(
                "cannot check that no other node has the name {name:?}: the other nodes \
                 cannot be reached now; retry later"
            ),
        ),
    )
}

/// The answer to a `presence`.
pub(crate) fn presence_reply(
    reference: Option<Value>,
    group: String,
    mut members: Vec<Member>,
) -> Outgoing {
    let total = members.len();
    members.truncate(MAX_PRESENCE);
    members.sort_by(|a, b| a.id.cmp(&b.id));
    presence(reference, group, members, total)
}

fn presence(
    reference: Option<Value>,
    group: String,
    members: Vec<Member>,
    total: usize,
) -> Outgoing {
    let more = total > members.len();
    Outgoing::Presence {
        reference,
        group,
        members,
        count: more.then_some(total),
        more,
    }
}

/// The reply to a binary message.
pub(crate) fn binary_refused() -> Outgoing {
    Outgoing::error(
        None,
        Failure::new(
            Code::Unsupported,
            "binary messages are not supported: send JSON text",
        ),
    )
}

/// Parses a client message. On failure, returns the `ref` if one could be read.
pub(crate) fn parse(text: &str) -> Result<Request, (Option<Value>, Failure)> {
    let value: Value = serde_json::from_str(text).map_err(|err| {
        (
            None,
            Failure::new(Code::BadJson, format!("invalid JSON: {err}")),
        )
    })?;
    let Value::Object(mut fields) = value else {
        return Err((
            None,
            Failure::new(Code::BadJson, "expected a JSON object with a \"type\""),
        ));
    };
    let reference = fields.remove("ref");
    let command = command(&mut fields).map_err(|failure| (reference.clone(), failure))?;
    Ok(Request { reference, command })
}

fn command(fields: &mut Map<String, Value>) -> Result<Command, Failure> {
    let kind = match fields.remove("type") {
        Some(Value::String(kind)) => kind,
        Some(_) => {
            return Err(Failure::new(
                Code::InvalidField,
                "\"type\" must be a string",
            ));
        }
        None => return Err(Failure::new(Code::MissingField, "missing field \"type\"")),
    };
    Ok(match kind.as_str() {
        "join" => Command::Join {
            group: group(fields)?,
        },
        "leave" => Command::Leave {
            group: group(fields)?,
        },
        "publish" => Command::Publish {
            group: group(fields)?,
            data: data(fields)?,
        },
        "send" => Command::Send {
            to: string(fields, "to")?,
            data: data(fields)?,
        },
        "name" => Command::Name {
            name: name(fields)?,
        },
        "presence" => Command::Presence {
            group: group(fields)?,
        },
        "auth" => Command::Auth {
            token: string(fields, "token")?,
        },
        other => {
            return Err(Failure::new(
                Code::UnknownType,
                format!(
                    "unknown type {other:?} (expected join, leave, publish, send, name, presence or auth)"
                ),
            ));
        }
    })
}

fn string(fields: &mut Map<String, Value>, key: &str) -> Result<String, Failure> {
    match fields.remove(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(Failure::new(
            Code::InvalidField,
            format!("{key:?} must be a non-empty string"),
        )),
        None => Err(Failure::new(
            Code::MissingField,
            format!("missing field {key:?}"),
        )),
    }
}

fn group(fields: &mut Map<String, Value>) -> Result<String, Failure> {
    let group = string(fields, "group")?;
    if group.len() > MAX_GROUP_LEN {
        return Err(Failure::new(
            Code::InvalidField,
            format!("\"group\" is longer than {MAX_GROUP_LEN} bytes"),
        ));
    }
    Ok(group)
}

fn name(fields: &mut Map<String, Value>) -> Result<String, Failure> {
    let name = string(fields, "name")?;
    if name.chars().count() > MAX_NAME_LEN {
        return Err(Failure::new(
            Code::InvalidField,
            format!("\"name\" is longer than {MAX_NAME_LEN} characters"),
        ));
    }
    if looks_like_id(&name) {
        // `send` looks ids up before names: such a name could hide a connection.
        return Err(Failure::new(
            Code::InvalidField,
            "\"name\" may not look like a connection id (32 hexadecimal digits)",
        ));
    }
    Ok(name)
}

fn data(fields: &mut Map<String, Value>) -> Result<Value, Failure> {
    fields
        .remove("data")
        .ok_or_else(|| Failure::new(Code::MissingField, "missing field \"data\""))
}

fn looks_like_id(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Runs a command; `Ok(Some)` is a reply other than an ack.
fn run(rooms: &impl Rooms, me: &str, command: Command) -> Result<Option<Outgoing>, Failure> {
    match command {
        Command::Join { group } => rooms
            .join(&group)
            .map_err(|code| join_failure(&group, code))?,
        Command::Leave { group } => {
            if !rooms.leave(&group) {
                return Err(not_member(&group));
            }
        }
        Command::Publish { group, data } => {
            if !rooms.is_member(&group) {
                return Err(not_member(&group));
            }
            let delivery = Outgoing::Message {
                group: Some(group.clone()),
                from: Some(me.to_owned()),
                data,
            };
            rooms.publish(&group, delivery.to_json());
        }
        Command::Send { to, data } => {
            rooms
                .send(&to, direct_text(me, data))
                .map_err(|code| send_failure(&to, code))?;
        }
        Command::Name { name } => {
            rooms
                .claim_name(&name)
                .map_err(|_| name_taken_failure(&name))?;
        }
        // Tokens are checked by the server before the command gets here; without client
        // authentication there is nothing to check.
        Command::Auth { .. } => {}
        Command::Presence { group } => {
            let (mut members, total) = rooms.presence(&group);
            members.sort_by(|a, b| a.id.cmp(&b.id));
            return Ok(Some(presence(None, group, members, total)));
        }
    }
    Ok(None)
}

fn send_failure(to: &str, code: Code) -> Failure {
    match code {
        Code::QueueFull => Failure::new(
            code,
            format!("{to:?} reads too slowly: the message was dropped"),
        ),
        Code::Unavailable => Failure::new(
            code,
            format!("{to:?} is not on this node and the other nodes cannot be reached now"),
        ),
        _ => Failure::new(
            Code::NotFound,
            format!("no connection with id or name {to:?}"),
        ),
    }
}

fn join_failure(group: &str, code: Code) -> Failure {
    Failure::new(
        code,
        format!(
            "cannot join {group:?}: this connection is in as many groups as the server allows; \
             leave one first"
        ),
    )
}

/// The reply to a message refused by the connection's rate.
pub(crate) fn rate_limited(reference: Option<Value>, what: &str) -> Outgoing {
    Outgoing::error(
        reference,
        Failure::new(
            Code::RateLimited,
            format!("too many {what}: slow down (the connection is closed if it goes on)"),
        ),
    )
}

fn name_taken_failure(name: &str) -> Failure {
    Failure::new(
        Code::NameTaken,
        format!("the name {name:?} is taken by another connection"),
    )
}

fn not_member(group: &str) -> Failure {
    Failure::new(
        Code::NotMember,
        format!("not a member of {group:?}: join it first"),
    )
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::json;

    use super::*;

    /// One connection ("me") among a few, with groups, names and a log of deliveries.
    #[derive(Default)]
    struct Fake {
        groups: RefCell<BTreeMap<String, BTreeSet<String>>>,
        names: RefCell<BTreeMap<String, String>>,
        delivered: RefCell<Vec<(String, Value)>>,
    }

    const ME: &str = "me";

    impl Rooms for Fake {
        fn join(&self, group: &str) -> Result<(), Code> {
            let mut groups = self.groups.borrow_mut();
            let joined = groups.values().filter(|m| m.contains(ME)).count();
            if joined >= 3 && !groups.get(group).is_some_and(|m| m.contains(ME)) {
                return Err(Code::TooManyGroups);
            }
            groups
                .entry(group.to_owned())
                .or_default()
                .insert(ME.to_owned());
            Ok(())
        }
        fn leave(&self, group: &str) -> bool {
            self.groups
                .borrow_mut()
                .get_mut(group)
                .is_some_and(|m| m.remove(ME))
        }
        fn is_member(&self, group: &str) -> bool {
            self.groups
                .borrow()
                .get(group)
                .is_some_and(|m| m.contains(ME))
        }
        fn publish(&self, group: &str, text: String) {
            let value = serde_json::from_str(&text).unwrap();
            self.delivered
                .borrow_mut()
                .push((format!("group {group}"), value));
        }
        fn send(&self, to: &str, text: String) -> Result<(), Code> {
            let id = match to {
                "other" | "slow" => to.to_owned(),
                name => self
                    .names
                    .borrow()
                    .get(name)
                    .cloned()
                    .ok_or(Code::NotFound)?,
            };
            if id == "slow" {
                return Err(Code::QueueFull);
            }
            let value = serde_json::from_str(&text).unwrap();
            self.delivered.borrow_mut().push((id, value));
            Ok(())
        }
        fn claim_name(&self, name: &str) -> Result<(), Code> {
            let mut names = self.names.borrow_mut();
            match names.get(name) {
                Some(holder) if holder != ME => Err(Code::NameTaken),
                _ => {
                    names.retain(|_, id| id != ME);
                    names.insert(name.to_owned(), ME.to_owned());
                    Ok(())
                }
            }
        }
        fn presence(&self, group: &str) -> (Vec<Member>, usize) {
            let names = self.names.borrow();
            let groups = self.groups.borrow();
            let members = groups.get(group).into_iter().flatten();
            let total = members.clone().count();
            let listed = members
                .take(MAX_PRESENCE)
                .map(|id| Member {
                    id: id.clone(),
                    name: names
                        .iter()
                        .find(|(_, holder)| *holder == id)
                        .map(|(n, _)| n.clone()),
                })
                .collect();
            (listed, total)
        }
    }

    fn reply(rooms: &Fake, text: &str) -> Value {
        match handle(rooms, ME, text) {
            Some(out) => serde_json::from_str(&out.to_json()).unwrap(),
            None => Value::Null,
        }
    }

    fn code(rooms: &Fake, text: &str) -> (String, Value) {
        let reply = reply(rooms, text);
        assert_eq!(reply["type"], "error", "{reply}");
        (
            reply["code"].as_str().unwrap().to_owned(),
            reply["ref"].clone(),
        )
    }

    #[test]
    fn join_publish_leave_with_and_without_ref() {
        let rooms = Fake::default();
        assert_eq!(reply(&rooms, r#"{"type":"join","group":"g"}"#), Value::Null);
        assert_eq!(
            reply(&rooms, r#"{"type":"join","group":"g","ref":1}"#),
            json!({"type":"ack","ref":1})
        );
        assert_eq!(
            reply(
                &rooms,
                r#"{"type":"publish","group":"g","data":{"x":[1]},"ref":"p"}"#
            ),
            json!({"type":"ack","ref":"p"})
        );
        assert_eq!(
            rooms.delivered.borrow()[0],
            (
                "group g".to_owned(),
                json!({"type":"message","group":"g","from":"me","data":{"x":[1]}})
            )
        );
        assert_eq!(
            reply(&rooms, r#"{"type":"leave","group":"g","ref":2}"#),
            json!({"type":"ack","ref":2})
        );
        assert_eq!(
            code(&rooms, r#"{"type":"leave","group":"g","ref":3}"#),
            ("not_member".to_owned(), json!(3))
        );
        assert_eq!(
            code(&rooms, r#"{"type":"publish","group":"g","data":1}"#),
            ("not_member".to_owned(), Value::Null)
        );
    }

    #[test]
    fn a_large_group_s_presence_lists_a_bounded_number_and_the_count() {
        let rooms = Fake::default();
        let everyone: BTreeSet<String> = (0..MAX_PRESENCE + 5).map(|n| format!("{n:05}")).collect();
        rooms.groups.borrow_mut().insert("big".to_owned(), everyone);
        let answer = reply(&rooms, r#"{"type":"presence","group":"big","ref":1}"#);
        assert_eq!(answer["members"].as_array().unwrap().len(), MAX_PRESENCE);
        assert_eq!(answer["count"], MAX_PRESENCE + 5);
        assert_eq!(answer["more"], true);
        assert_eq!(answer["ref"], 1);
        // A small group's answer has neither.
        rooms.join("small").unwrap();
        let answer = reply(&rooms, r#"{"type":"presence","group":"small"}"#);
        assert!(
            answer.get("more").is_none() && answer.get("count").is_none(),
            "{answer}"
        );
    }

    #[test]
    fn a_join_beyond_the_cap_is_refused_with_its_code() {
        let rooms = Fake::default();
        for group in ["a", "b", "c"] {
            let join = format!(r#"{{"type":"join","group":"{group}"}}"#);
            assert_eq!(reply(&rooms, &join), Value::Null);
        }
        // Joining a group it is already in is not a new membership.
        assert_eq!(reply(&rooms, r#"{"type":"join","group":"a"}"#), Value::Null);
        assert_eq!(
            code(&rooms, r#"{"type":"join","group":"d","ref":4}"#),
            ("too_many_groups".to_owned(), json!(4))
        );
    }

    #[test]
    fn send_by_id_or_name() {
        let rooms = Fake::default();
        assert_eq!(
            reply(
                &rooms,
                r#"{"type":"send","to":"other","data":null,"ref":1}"#
            ),
            json!({"type":"ack","ref":1})
        );
        assert_eq!(
            rooms.delivered.borrow()[0].1,
            json!({"type":"message","group":null,"from":"me","data":null})
        );
        assert_eq!(
            code(&rooms, r#"{"type":"send","to":"nobody","data":1}"#).0,
            "not_found"
        );
        assert_eq!(
            code(&rooms, r#"{"type":"send","to":"slow","data":1}"#).0,
            "queue_full"
        );
        reply(&rooms, r#"{"type":"name","name":"alice"}"#);
        assert!(handle(&rooms, ME, r#"{"type":"send","to":"alice","data":2}"#).is_none());
        assert_eq!(rooms.delivered.borrow()[1].0, "me");
    }

    #[test]
    fn names_are_unique_and_validated() {
        let rooms = Fake::default();
        rooms
            .names
            .borrow_mut()
            .insert("bob".into(), "other".into());
        assert_eq!(
            reply(&rooms, r#"{"type":"name","name":"alice","ref":1}"#),
            json!({"type":"ack","ref":1})
        );
        assert_eq!(
            code(&rooms, r#"{"type":"name","name":"bob","ref":2}"#),
            ("name_taken".to_owned(), json!(2))
        );
        let id_like = format!(r#"{{"type":"name","name":"{}"}}"#, "ab".repeat(16));
        assert_eq!(code(&rooms, &id_like).0, "invalid_field");
        let long = format!(r#"{{"type":"name","name":"{}"}}"#, "n".repeat(65));
        assert_eq!(code(&rooms, &long).0, "invalid_field");
    }

    #[test]
    fn presence_lists_members_with_names_and_carries_the_ref() {
        let rooms = Fake::default();
        reply(&rooms, r#"{"type":"name","name":"alice"}"#);
        reply(&rooms, r#"{"type":"join","group":"g"}"#);
        assert_eq!(
            reply(&rooms, r#"{"type":"presence","group":"g","ref":"r"}"#),
            json!({"type":"presence","ref":"r","group":"g","members":[{"id":"me","name":"alice"}]})
        );
        assert_eq!(
            reply(&rooms, r#"{"type":"presence","group":"empty"}"#),
            json!({"type":"presence","group":"empty","members":[]})
        );
    }

    #[test]
    fn every_malformed_message_gets_an_error_with_a_stable_code() {
        let rooms = Fake::default();
        assert_eq!(code(&rooms, "not json").0, "bad_json");
        assert_eq!(code(&rooms, "[1,2]").0, "bad_json");
        assert_eq!(
            code(&rooms, r#"{"ref":7}"#),
            ("missing_field".to_owned(), json!(7))
        );
        assert_eq!(code(&rooms, r#"{"type":3}"#).0, "invalid_field");
        assert_eq!(
            code(&rooms, r#"{"type":"dance","ref":"d"}"#),
            ("unknown_type".to_owned(), json!("d"))
        );
        assert_eq!(code(&rooms, r#"{"type":"join"}"#).0, "missing_field");
        assert_eq!(
            code(&rooms, r#"{"type":"join","group":""}"#).0,
            "invalid_field"
        );
        assert_eq!(
            code(&rooms, r#"{"type":"join","group":5}"#).0,
            "invalid_field"
        );
        let long = format!(r#"{{"type":"join","group":"{}"}}"#, "g".repeat(129));
        assert_eq!(code(&rooms, &long).0, "invalid_field");
        assert_eq!(
            code(&rooms, r#"{"type":"publish","group":"g"}"#).0,
            "missing_field"
        );
        assert_eq!(
            code(&rooms, r#"{"type":"send","data":1}"#).0,
            "missing_field"
        );
        assert_eq!(code(&rooms, r#"{"type":"name"}"#).0, "missing_field");
        assert_eq!(code(&rooms, r#"{"type":"presence"}"#).0, "missing_field");
        let binary: Value = serde_json::from_str(&binary_refused().to_json()).unwrap();
        assert_eq!(binary["code"], "unsupported");
    }

    #[test]
    fn codes_serialize_as_their_wire_names() {
        for (code, wire) in [
            (Code::BadJson, "bad_json"),
            (Code::UnknownType, "unknown_type"),
            (Code::MissingField, "missing_field"),
            (Code::InvalidField, "invalid_field"),
            (Code::NotFound, "not_found"),
            (Code::NameTaken, "name_taken"),
            (Code::NotMember, "not_member"),
            (Code::QueueFull, "queue_full"),
            (Code::Unsupported, "unsupported"),
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), wire);
        }
    }

    #[test]
    fn welcome_shape() {
        let welcome = Outgoing::Welcome { id: "abc".into() };
        assert_eq!(welcome.to_json(), r#"{"type":"welcome","id":"abc"}"#);
    }
}
