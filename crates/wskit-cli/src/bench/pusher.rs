//! The Pusher Channels protocol (version 7), as Sockudo and soketi speak it: what the generator
//! sends to subscribe, how it reads the server's events, and the HTTP API it publishes through.
//!
//! A client connects to `/app/{key}?protocol=7`, reads `pusher:connection_established`, sends
//! `{"event":"pusher:subscribe","data":{"channel":C}}` and waits for
//! `pusher_internal:subscription_succeeded`. A publisher posts
//! `{"name":E,"channels":[C],"data":STRING}` to `/apps/{id}/events` ([`events_request`]),
//! signed with the app's
//! secret: HMAC-SHA256 over `POST\n{path}\n{query}`, where the query holds `auth_key`,
//! `auth_timestamp`, `auth_version=1.0` and the hex MD5 of the body, sorted by name.

use anyhow::{Context as _, bail};
use clap::Args;
use hmac::{Hmac, Mac as _};
use md5::{Digest as _, Md5};
use serde::Deserialize;
use sha2::Sha256;

/// The app the generator connects to and publishes for (`--app-id`, `--app-key`,
/// `--app-secret`); the defaults are the default app of soketi and Sockudo.
#[derive(Debug, Clone, Args)]
pub(super) struct PusherApp {
    /// The Pusher app's id (`--protocol pusher`).
    #[arg(long, default_value = "app-id")]
    pub(super) app_id: String,
    /// The Pusher app's key (`--protocol pusher`).
    #[arg(long, default_value = "app-key")]
    pub(super) app_key: String,
    /// The Pusher app's secret, which signs the HTTP API's requests (`--protocol pusher`).
    #[arg(long, default_value = "app-secret")]
    pub(super) app_secret: String,
}

impl PusherApp {
    /// The WebSocket path of the app.
    pub(super) fn path(&self) -> String {
        format!(
            "/app/{}?protocol=7&client=wskit-bench&version=1.0",
            self.app_key
        )
    }
}

/// What a server's message means to the generator.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Event {
    /// `pusher:connection_established`.
    Established,
    /// `pusher_internal:subscription_succeeded` for a channel.
    Subscribed(String),
    /// An event on a channel, with its data when that is a string.
    Channel {
        /// The event's name.
        event: String,
        /// The channel it came on.
        channel: String,
        /// Its data, when a string (as the HTTP API sends it).
        data: Option<String>,
    },
    /// `pusher:ping`: the server wants a `pusher:pong`.
    Ping,
    /// Anything else without a channel (`pusher:pong`, ...).
    Other,
}

/// The message that subscribes to a public `channel`.
pub(super) fn subscribe(channel: &str) -> String {
    serde_json::json!({"event": "pusher:subscribe", "data": {"channel": channel}}).to_string()
}

/// The answer to a `pusher:ping`.
pub(super) const PONG: &str = r#"{"event":"pusher:pong","data":{}}"#;

/// Reads one message from the server.
///
/// # Errors
/// A message that is not a Pusher event, or `pusher:error` (with the server's reason).
pub(super) fn parse(message: &[u8]) -> anyhow::Result<Event> {
    #[derive(Deserialize)]
    struct Message {
        event: String,
        #[serde(default)]
        channel: Option<String>,
        #[serde(default)]
        data: Option<serde_json::Value>,
    }
    let message: Message = serde_json::from_slice(message).with_context(|| {
        format!(
            "not a Pusher event: {}",
            String::from_utf8_lossy(&message[..message.len().min(200)])
        )
    })?;
    let data = match message.data {
        Some(serde_json::Value::String(data)) => Some(data),
        Some(other) => Some(other.to_string()),
        None => None,
    };
    Ok(match (message.event.as_str(), message.channel) {
        ("pusher:error", _) => bail!("the server sent pusher:error {}", data.unwrap_or_default()),
        ("pusher:connection_established", _) => Event::Established,
        ("pusher:ping", _) => Event::Ping,
        ("pusher_internal:subscription_succeeded", Some(channel)) => Event::Subscribed(channel),
        (_, Some(channel)) => Event::Channel {
            event: message.event,
            channel,
            data,
        },
        (_, None) => Event::Other,
    })
}

/// The query string of a signed HTTP API request: `auth_key`, `auth_timestamp`,
/// `auth_version`, `body_md5` in that (sorted) order, then `auth_signature`.
pub(super) fn signed_query(
    app: &PusherApp,
    method: &str,
    path: &str,
    timestamp: u64,
    body: &[u8],
) -> String {
    let body_md5 = hex(&Md5::digest(body));
    let query = format!(
        "auth_key={}&auth_timestamp={timestamp}&auth_version=1.0&body_md5={body_md5}",
        app.app_key
    );
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(app.app_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(format!("{method}\n{path}\n{query}").as_bytes());
    let signature = hex(&mac.finalize().into_bytes());
    format!("{query}&auth_signature={signature}")
}

/// The request target and body that publish `event` with `data` to `channel`, signed now.
pub(super) fn events_request(
    app: &PusherApp,
    channel: &str,
    event: &str,
    data: &str,
) -> (String, String) {
    let body = serde_json::json!({"name": event, "channels": [channel], "data": data}).to_string();
    let path = format!("/apps/{}/events", app.app_id);
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let query = signed_query(app, "POST", &path, timestamp, body.as_bytes());
    (format!("{path}?{query}"), body)
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: &str, key: &str, secret: &str) -> PusherApp {
        PusherApp {
            app_id: id.to_owned(),
            app_key: key.to_owned(),
            app_secret: secret.to_owned(),
        }
    }

    #[test]
    fn signs_as_the_pusher_documentation_example() {
        // The worked example of Pusher's HTTP API reference ("Authentication").
        let app = app("3", "278d425bdf160c739803", "7ad3773142a6692b25b8");
        let body = r#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        let query = signed_query(
            &app,
            "POST",
            "/apps/3/events",
            1_353_088_179,
            body.as_bytes(),
        );
        assert_eq!(
            query,
            "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0\
             &body_md5=ec365a775a4cd0599faeb73354201b6f\
             &auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
        );
    }

    #[test]
    fn reads_the_events_of_a_subscription() {
        let established = br#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":30}"}"#;
        assert_eq!(parse(established).unwrap(), Event::Established);
        let subscribed =
            br#"{"event":"pusher_internal:subscription_succeeded","channel":"bench","data":"{}"}"#;
        assert_eq!(
            parse(subscribed).unwrap(),
            Event::Subscribed("bench".into())
        );
        // Keys in another order, as some servers write them.
        let event = br#"{"data":"0000000007xx","channel":"bench","event":"bench"}"#;
        assert_eq!(
            parse(event).unwrap(),
            Event::Channel {
                event: "bench".into(),
                channel: "bench".into(),
                data: Some("0000000007xx".into()),
            }
        );
        assert_eq!(
            parse(br#"{"event":"pusher:ping","data":{}}"#).unwrap(),
            Event::Ping
        );
        assert_eq!(parse(br#"{"event":"pusher:pong"}"#).unwrap(), Event::Other);
    }

    #[test]
    fn refuses_errors_and_what_is_not_an_event() {
        let error = br#"{"event":"pusher:error","data":{"message":"Over quota","code":4004}}"#;
        let message = parse(error).unwrap_err().to_string();
        assert!(message.contains("Over quota"), "{message}");
        assert!(parse(b"2").is_err());
        assert!(parse(br#"{"channel":"bench"}"#).is_err());
    }

    #[test]
    fn subscribes_to_a_public_channel() {
        let message: serde_json::Value = serde_json::from_str(&subscribe("bench")).unwrap();
        assert_eq!(
            message,
            serde_json::json!({"event": "pusher:subscribe", "data": {"channel": "bench"}})
        );
        assert_eq!(
            app("1", "k", "s").path(),
            "/app/k?protocol=7&client=wskit-bench&version=1.0"
        );
    }
}
