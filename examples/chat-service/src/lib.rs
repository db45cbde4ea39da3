//! What it shows: a chat [`Service`] on top of `wskit-hub`, where rooms are hub groups and
//! nicknames are stored connections, so the hub does all the bookkeeping (a connection that
//! goes away leaves its rooms and frees its name, however it ends).
//!
//! Run with: cargo run -p example-chat (standalone) or cargo run -p example-axum-chat (inside
//! an axum app). This crate is the part both share; it has no `main`.
//!
//! # Protocol
//!
//! One command or chat line per text message; every reply is one text message. Lines from the
//! server start with `* ` (information), `! ` (an error in what you asked), `[room] ` (a room
//! message) or `[pm` (a private message).
//!
//! | you send | what happens |
//! |---|---|
//! | `/nick NAME` | stores your connection under `NAME` (`! name NAME is taken` when another open connection has it) |
//! | `/join ROOM` | joins `ROOM` (a hub group), creating it |
//! | `/leave ROOM` | leaves `ROOM` (the group goes away with its last member) |
//! | `/msg NAME TEXT` | sends `[pm] you: TEXT` to `NAME` |
//! | `/rooms` | `* rooms: a (2), b (1)`: every room with its size |
//! | `/help` | the list of commands |
//! | anything else | `[room] you: TEXT` to every room you are in (you get it too) |
//!
//! Names and rooms are 1 to 32 characters out of letters, digits, `-`, `_` and `.`.
//!
//! # Example
//! ```no_run
//! # async fn run() -> Result<(), wskit_hub::Error> {
//! let hub = wskit_hub::Hub::new();
//! example_chat_service::register(&hub)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! hub.serve(listener).await
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use wskit::{CloseCode, Message, Utf8Bytes};
use wskit_hub::{Connection, Hub, SendError, Service, ServiceOptions};

/// The path the chat service is registered on by [`register`].
pub const PATH: &str = "/chat";

/// The list of commands, as `/help` answers it.
pub const HELP: &str = "* commands: /nick NAME, /join ROOM, /leave ROOM, /msg NAME TEXT, /rooms, \
                        /help; any other line goes to every room you are in";

/// The longest name or room name, in characters.
pub const MAX_NAME_LEN: usize = 32;

/// Registers [`Chat`] on [`PATH`] with the default options (any origin may connect: fine on
/// 127.0.0.1; a public server lists its origins with [`ServiceOptions::origins`]).
///
/// # Errors
/// [`wskit_hub::Error::PathTaken`] when something is registered on [`PATH`] already.
pub fn register(hub: &Hub) -> Result<(), wskit_hub::Error> {
    hub.register(PATH, Chat::new(), ServiceOptions::default())
}

/// The chat service: parses each text message as a command or a chat line (see the crate
/// docs) and answers on the same connection.
#[derive(Debug, Default)]
pub struct Chat {
    /// Makes "is this name free? then take it" one step, so that two connections asking for
    /// the same name at once cannot both get it (the hub's `store` replaces silently).
    naming: Mutex<()>,
}

/// The nickname of a connection, kept in its typed state.
#[derive(Debug, Clone)]
struct Nick(String);

/// One parsed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command<'a> {
    Nick(&'a str),
    Join(&'a str),
    Leave(&'a str),
    Msg(&'a str, &'a str),
    Rooms,
    Help,
    Say(&'a str),
    /// A command used the wrong way: the reply.
    Invalid(&'static str),
    Unknown(&'a str),
}

// ===== impl Chat =====

impl Chat {
    /// A chat service.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs one command; returns the reply for the sender, if any.
    fn handle(&self, hub: &Hub, conn: &Connection, line: &str) -> Option<String> {
        match parse(line) {
            Command::Nick(name) => Some(self.nick(hub, conn, name)),
            Command::Join(room) => Some(if hub.join(room, conn) {
                let size = hub.members(room).len();
                format!("* joined {room} ({size} in the room)")
            } else {
                format!("! you are in {room} already")
            }),
            Command::Leave(room) => Some(if hub.leave(room, conn) {
                format!("* left {room}")
            } else {
                format!("! you are not in {room}")
            }),
            Command::Msg(to, text) => {
                let from = display_name(conn);
                let reply =
                    match hub.send_to_name(to, Message::text(format!("[pm] {from}: {text}"))) {
                        Ok(()) => format!("[pm to {to}] {text}"),
                        Err(SendError::Full) => format!("! {to} is not reading: message dropped"),
                        Err(_) => format!("! no one is called {to}"),
                    };
                Some(reply)
            }
            Command::Rooms => {
                let rooms = hub.groups();
                if rooms.is_empty() {
                    return Some("* no rooms yet: /join ROOM makes one".to_owned());
                }
                let list: Vec<_> = rooms
                    .iter()
                    .map(|(room, size)| format!("{room} ({size})"))
                    .collect();
                Some(format!("* rooms: {}", list.join(", ")))
            }
            Command::Help => Some(HELP.to_owned()),
            Command::Say(text) if text.trim().is_empty() => None,
            Command::Say(text) => {
                let (rooms, _names) = hub.memberships(conn);
                if rooms.is_empty() {
                    return Some("! you are in no room: /join ROOM first".to_owned());
                }
                let from = display_name(conn);
                for room in rooms {
                    // Encoded once per room, whatever its size; never waits on a slow member.
                    hub.send_to_group(&room, Message::text(format!("[{room}] {from}: {text}")));
                }
                None
            }
            Command::Invalid(usage) => Some(format!("! usage: {usage}")),
            Command::Unknown(command) => Some(format!("! unknown command {command}: try /help")),
        }
    }

    /// Takes `name` for `conn` unless another open connection has it; frees the old name.
    fn nick(&self, hub: &Hub, conn: &Connection, name: &str) -> String {
        // No `.await` while this is held; a panic cannot leave `()` inconsistent.
        let _naming = self.naming.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(holder) = hub.named(name) {
            if holder == *conn {
                return format!("* you are {name} already");
            }
            // A holder that is closing is about to lose the name anyway.
            if holder.is_open() {
                return format!("! name {name} is taken");
            }
        }
        if !hub.store(name, conn) {
            return "! your connection is closing".to_owned();
        }
        if let Some(Nick(old)) = conn.insert(Nick(name.to_owned())) {
            if hub.named(&old).is_some_and(|holder| holder == *conn) {
                hub.remove_name(&old);
            }
        }
        format!("* you are {name}")
    }
}

impl Service for Chat {
    async fn on_open(&self, conn: &Connection) {
        tracing::info!(id = %conn.id(), peer = ?conn.request().peer_addr(), "connected");
        let welcome = format!("* welcome, {}. {}", display_name(conn), &HELP[2..]);
        let _ = conn.send_text(welcome).await;
    }

    async fn on_text(&self, conn: &Connection, text: Utf8Bytes) {
        let Some(hub) = conn.hub() else {
            return;
        };
        let line = text.as_str().trim_end_matches(['\r', '\n']);
        if let Some(reply) = self.handle(&hub, conn, line) {
            // Waits for room in the sender's own queue (the default backpressure): a client
            // that sends commands without reading the replies slows only itself down.
            let _ = conn.send_text(reply).await;
        }
    }

    async fn on_binary(&self, conn: &Connection, _data: Bytes) {
        conn.close(CloseCode::UNSUPPORTED_DATA, "this chat speaks text only");
    }

    async fn on_close(&self, conn: &Connection, code: CloseCode, reason: &str) {
        // The hub has already removed the connection from its rooms and freed its name.
        tracing::info!(id = %conn.id(), name = %display_name(conn), %code, reason, "disconnected");
    }
}

/// The name shown for `conn`: its nickname, else `guest-` and the start of its id.
fn display_name(conn: &Connection) -> String {
    match conn.get::<Nick>() {
        Some(Nick(name)) => name,
        // Ids are 32 ASCII hex digits, so the slice is in bounds and on a character boundary.
        None => format!("guest-{}", &conn.id().as_str()[..6]),
    }
}

/// Parses one line (without its line ending).
fn parse(line: &str) -> Command<'_> {
    let Some(command) = line.strip_prefix('/') else {
        return Command::Say(line);
    };
    let (verb, rest) = command.split_once(' ').unwrap_or((command, ""));
    let rest = rest.trim();
    match verb {
        "nick" => match single_name(rest) {
            Some(name) => Command::Nick(name),
            None => Command::Invalid("/nick NAME (1-32 of a-z A-Z 0-9 - _ .)"),
        },
        "join" => match single_name(rest) {
            Some(room) => Command::Join(room),
            None => Command::Invalid("/join ROOM (1-32 of a-z A-Z 0-9 - _ .)"),
        },
        "leave" => match single_name(rest) {
            Some(room) => Command::Leave(room),
            None => Command::Invalid("/leave ROOM"),
        },
        "msg" => match rest.split_once(' ') {
            Some((to, text)) if is_name(to) && !text.trim().is_empty() => {
                Command::Msg(to, text.trim())
            }
            _ => Command::Invalid("/msg NAME TEXT"),
        },
        "rooms" if rest.is_empty() => Command::Rooms,
        "help" => Command::Help,
        "rooms" => Command::Invalid("/rooms"),
        _ => Command::Unknown(line.split(' ').next().unwrap_or(line)),
    }
}

/// `rest` when it is exactly one valid name.
fn single_name(rest: &str) -> Option<&str> {
    is_name(rest).then_some(rest)
}

fn is_name(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_chat_lines() {
        assert_eq!(parse("/nick alice"), Command::Nick("alice"));
        assert_eq!(parse("/nick  alice "), Command::Nick("alice"));
        assert_eq!(parse("/join rust-lang"), Command::Join("rust-lang"));
        assert_eq!(parse("/leave rust-lang"), Command::Leave("rust-lang"));
        assert_eq!(parse("/msg bob hi there"), Command::Msg("bob", "hi there"));
        assert_eq!(parse("/rooms"), Command::Rooms);
        assert_eq!(parse("/help"), Command::Help);
        assert_eq!(parse("hello /nick"), Command::Say("hello /nick"));
        assert_eq!(parse(""), Command::Say(""));
        assert_eq!(parse("/dance now"), Command::Unknown("/dance"));
        assert!(matches!(parse("/nick"), Command::Invalid(_)));
        assert!(matches!(parse("/nick two words"), Command::Invalid(_)));
        assert!(matches!(parse("/join a/b"), Command::Invalid(_)));
        assert!(matches!(parse("/msg bob"), Command::Invalid(_)));
        assert!(matches!(parse("/msg bob   "), Command::Invalid(_)));
        assert!(matches!(
            parse(&format!("/nick {}", "x".repeat(33))),
            Command::Invalid(_)
        ));
        assert_eq!(
            parse(&format!("/nick {}", "é".repeat(32))),
            Command::Nick(&"é".repeat(32))
        );
    }
}
