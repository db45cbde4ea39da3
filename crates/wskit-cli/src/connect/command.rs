//! The commands of the interactive mode of `wskit connect`: a typed line that starts with `/`.
//!
//! - `/ping [DATA]` sends a ping (DATA as its payload, at most 125 bytes); the pong is shown
//!   with its round-trip time.
//! - `/close [CODE [REASON]]` starts the closing handshake with that code (default 1000).
//! - `/help` lists these.
//! - `//TEXT` sends `/TEXT`: a leading `//` stands for one `/`.
//!
//! Any other line goes out as a message, as typed.

use bytes::Bytes;
use wskit::CloseCode;

/// What a typed line asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Command {
    /// Send this line as a message.
    Send(String),
    /// Send a ping with this payload.
    Ping(Bytes),
    /// Start the closing handshake.
    Close(CloseCode, String),
    /// Show this text (help, or why the command was refused); send nothing.
    Show(String),
}

/// Reads one typed line.
pub(super) fn parse(line: &str) -> Command {
    if let Some(rest) = line.strip_prefix("//") {
        return Command::Send(format!("/{rest}"));
    }
    let Some(command) = line.strip_prefix('/') else {
        return Command::Send(line.to_owned());
    };
    let (name, args) = command
        .split_once(char::is_whitespace)
        .map_or((command, ""), |(name, args)| (name, args.trim()));
    match name {
        "ping" => {
            if args.len() > MAX_CONTROL_PAYLOAD {
                return Command::Show(format!(
                    "/ping: the data is {} bytes; a ping carries at most {MAX_CONTROL_PAYLOAD}",
                    args.len()
                ));
            }
            Command::Ping(Bytes::copy_from_slice(args.as_bytes()))
        }
        "close" => close(args),
        "help" => Command::Show(HELP.to_owned()),
        _ => Command::Show(format!("unknown command /{name}. {HELP}")),
    }
}

/// `/close [CODE [REASON]]`.
fn close(args: &str) -> Command {
    if args.is_empty() {
        return Command::Close(CloseCode::NORMAL, String::new());
    }
    let (code, reason) = args
        .split_once(char::is_whitespace)
        .map_or((args, ""), |(code, reason)| (code, reason.trim()));
    let Some(code) = code.parse::<u16>().ok().map(CloseCode::from) else {
        return Command::Show(format!(
            "/close: {code:?} is not a close code (1000, 1001, 3000-4999, ...)"
        ));
    };
    if !code.is_sendable() {
        return Command::Show(format!(
            "/close: {code} may not be sent (use 1000-1003, 1007-1014 or 3000-4999)"
        ));
    }
    // The close payload is 2 bytes of code and at most 123 of reason.
    if reason.len() > MAX_CONTROL_PAYLOAD - 2 {
        return Command::Show(format!(
            "/close: the reason is {} bytes; it may have at most {}",
            reason.len(),
            MAX_CONTROL_PAYLOAD - 2
        ));
    }
    Command::Close(code, reason.to_owned())
}

/// The payload limit of control frames (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

const HELP: &str = "Commands: /ping [DATA], /close [CODE [REASON]], /help; \
                    start a line with // to send one beginning with /.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_commands_and_escapes() {
        assert_eq!(parse("hello"), Command::Send("hello".into()));
        assert_eq!(parse("//etc"), Command::Send("/etc".into()));
        assert_eq!(parse("/ping"), Command::Ping(Bytes::new()));
        assert_eq!(
            parse("/ping abc"),
            Command::Ping(Bytes::from_static(b"abc"))
        );
        assert_eq!(
            parse("/close"),
            Command::Close(CloseCode::NORMAL, String::new())
        );
        assert_eq!(
            parse("/close 4000 see you later"),
            Command::Close(CloseCode::from(4000), "see you later".into())
        );
        assert!(matches!(parse("/close 1006"), Command::Show(s) if s.contains("may not be sent")));
        assert!(matches!(parse("/close abc"), Command::Show(s) if s.contains("not a close code")));
        let long = format!("/close 1000 {}", "x".repeat(124));
        assert!(matches!(parse(&long), Command::Show(s) if s.contains("at most 123")));
        assert!(matches!(parse("/quit"), Command::Show(s) if s.starts_with("unknown command")));
        assert!(matches!(parse("/help"), Command::Show(s) if s.contains("/ping")));
    }
}
