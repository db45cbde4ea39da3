//! `wskit bench`: load generators that measure a WebSocket server from the outside.
//!
//! The client side is raw tokio TCP, not the wskit client: the upgrade request is fixed, every
//! frame is masked once with a fixed key and its bytes are reused, and the server's frames go
//! through a header-only parser that skips payloads in place. So the generator costs little and
//! the server is the bottleneck, whichever implementation it is.
//!
//! # Layout
//!
//! - [`echo`]: `wskit bench echo`, the closed-loop echo scenario.
//! - [`broadcast`]: `wskit bench broadcast`, one publisher, N receivers, time to the last one.
//! - [`idle`]: `wskit bench idle`, N idle upgraded connections and the server's RSS for them.
//! - [`connect`]: `wskit bench connect`, opening handshakes per second.
//! - [`progress`]: the progress bar of the longer runs.
//! - [`channel`]: subscribing under the messaging protocols, sequenced publishing, and the
//!   subscribers' check that every message arrives once and in order.
//! - [`http`]: the HTTP/1.1 client that publishes through servers' HTTP APIs.
//! - [`pusher`]: the Pusher protocol (Sockudo, soketi) and its signed HTTP API.
//! - [`socketio`]: Socket.IO 4 over Engine.IO 4 (WebSocket transport only).
//! - [`wire`]: the upgrade, the precomputed frames and the minimal frame parser.
//! - [`deflate`]: `--deflate`: the offer, the compressed frame and the sampled inflation.
//! - [`server`]: the server's CPU time and peak RSS, read from `/proc/PID/*`.
//! - [`report`]: the figures, printed for people or as one JSON object.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

mod broadcast;
mod channel;
mod connect;
mod deflate;
mod echo;
mod http;
mod idle;
mod progress;
mod pusher;
mod report;
mod server;
mod socketio;
mod wire;

/// Options of `wskit bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    scenario: Scenario,
    /// Print the result as one JSON object on stdout instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Generator threads (1 runs every connection on the current thread).
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// N connections each keep K messages of S bytes in flight; reports messages/s, latency and,
    /// given the server's pid, messages per server CPU-second.
    Echo(echo::EchoArgs),
    /// N clients receive every message one of them publishes; reports the time until the last
    /// delivery and deliveries per server CPU-second.
    Broadcast(broadcast::BroadcastArgs),
    /// Opens N upgraded connections and holds them; reports the server's RSS per connection.
    Idle(idle::IdleArgs),
    /// Opens, upgrades and drops connections back to back; reports handshakes per second.
    Connect(connect::ConnectArgs),
}

/// Runs a benchmark scenario on its own runtime and prints its report.
pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = crate::runtime(args.threads)?;
    match args.scenario {
        Scenario::Echo(echo_args) => {
            let report = runtime.block_on(echo::run(echo_args, args.threads.max(1)))?;
            report.print(args.json)
        }
        Scenario::Broadcast(broadcast_args) => runtime
            .block_on(broadcast::run(broadcast_args))?
            .print(args.json),
        Scenario::Idle(idle_args) => runtime.block_on(idle::run(idle_args))?.print(args.json),
        Scenario::Connect(connect_args) => runtime
            .block_on(connect::run(connect_args))?
            .print(args.json),
    }
}

/// What the server under test speaks on top of WebSocket (`--protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Protocol {
    /// Nothing: a plain echo or broadcast server (the servers in `perf/`, `wskit echo`). For
    /// broadcast, every data message a client sends goes to every client.
    Raw,
    /// `wskit serve`'s JSON protocol on `/ws` (docs/protocol.md): the server greets each
    /// connection with a `welcome`; broadcast joins a group and publishes to it.
    Serve,
    /// The Pusher protocol (Sockudo, soketi) on `/app/KEY` (the path when the URL has none):
    /// broadcast subscribes to a public channel and publishes through the HTTP API, signed
    /// with `--app-secret`.
    Pusher,
    /// Socket.IO 4 over Engine.IO 4, WebSocket transport only, on `/socket.io/` (the path when
    /// the URL has none): broadcast joins a room with `join` and publishes with `publish`
    /// (perf/servers/socketio-server.js).
    #[value(name = "socketio")]
    SocketIo,
}

impl Protocol {
    /// The name in reports (as on the command line).
    fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Serve => "serve",
            Self::Pusher => "pusher",
            Self::SocketIo => "socketio",
        }
    }

    /// What kind of server speaks it, for error messages.
    fn description(self) -> &'static str {
        match self {
            Self::Raw => "raw broadcast",
            Self::Serve => "`wskit serve`",
            Self::Pusher => "Pusher-protocol",
            Self::SocketIo => "Socket.IO 4",
        }
    }

    /// `url` with the protocol's usual path when it has none (only `/`).
    fn url(self, url: &str, app: &pusher::PusherApp) -> String {
        let path = match self {
            Self::Raw | Self::Serve => return url.to_owned(),
            Self::Pusher => app.path(),
            Self::SocketIo => socketio::PATH.to_owned(),
        };
        let scheme_end = url.find("://").map_or(0, |at| at + 3);
        match url[scheme_end..].find(['/', '?']) {
            Some(at) if &url[scheme_end + at..] != "/" => url.to_owned(),
            Some(at) => format!("{}{path}", &url[..scheme_end + at]),
            None => format!("{url}{path}"),
        }
    }
}

/// Parses a duration such as `5s`, `0.2s`, `500ms`, `1m` or `3` (seconds), for clap.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit_seconds) = if let Some(number) = text.strip_suffix("ms") {
        (number, 1e-3)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 5s, 0.2s or 500ms)"))?;
    Duration::try_from_secs_f64(value * unit_seconds)
        .map_err(|_| format!("`{text}` is not a non-negative duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messaging_protocols_get_their_path_when_the_url_has_none() {
        let app = pusher::PusherApp {
            app_id: "1".into(),
            app_key: "key".into(),
            app_secret: "secret".into(),
        };
        let pusher_path = "/app/key?protocol=7&client=wskit-bench&version=1.0";
        for url in ["ws://127.0.0.1:6001", "ws://127.0.0.1:6001/"] {
            assert_eq!(
                Protocol::Pusher.url(url, &app),
                format!("ws://127.0.0.1:6001{pusher_path}")
            );
            assert_eq!(
                Protocol::SocketIo.url(url, &app),
                "ws://127.0.0.1:6001/socket.io/?EIO=4&transport=websocket"
            );
        }
        let explicit = "ws://127.0.0.1:6001/app/other";
        assert_eq!(Protocol::Pusher.url(explicit, &app), explicit);
        assert_eq!(Protocol::Serve.url("ws://h:1", &app), "ws://h:1");
    }

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("0.2s"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
