//! The settings of `wskit serve`: flags, `WSKIT_*` environment variables, a TOML file and
//! defaults, in that order of precedence (a flag beats its variable, which beats the file,
//! which beats the default).
//!
//! Flags and variables are read by clap (each flag's `env`); the file is read here, key by
//! key, so that a bad value is reported with the file and the field it is in:
//! `config file x.toml: field heartbeat_interval: invalid duration "abc"`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;

use crate::listen::ListenAddr;

/// Options of `wskit serve`.
#[derive(Debug, Default, Args)]
#[command(after_long_help = AFTER_HELP)]
pub(crate) struct ServeArgs {
    /// TOML configuration file. Its keys are the long flags with `_` for `-` (listen, api_key,
    /// heartbeat_interval, ...); flags and WSKIT_* variables override it. Default: none.
    #[arg(long, env = "WSKIT_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Address to listen on: IP:PORT, HOST:PORT (localhost:8080) or :PORT (every IPv4
    /// interface); port 0 picks a free port (the start-up line prints the address bound).
    /// Default: 127.0.0.1:8080.
    #[arg(long, env = "WSKIT_LISTEN", value_name = "ADDR", value_parser = parse_addr)]
    listen: Option<ListenAddr>,

    /// PEM certificate chain: serve https:// and wss:// (needs --tls-key). Default: none
    /// (plain http:// and ws://).
    #[arg(long, env = "WSKIT_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert. Default: none.
    #[arg(long, env = "WSKIT_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,

    /// Key that backends present to the HTTP API as `Authorization: Bearer KEY`. Required to
    /// listen on an address other than loopback. Default: none, and then the API is open to
    /// local processes only (loopback).
    #[arg(
        long,
        env = "WSKIT_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    api_key: Option<String>,

    /// Origins allowed to open /ws and /echo, comma-separated (`https://app.example.com`);
    /// `*` allows any. Other origins get 403. Default: any origin (but /rest admits a browser
    /// origin only when it is listed here).
    #[arg(
        long,
        env = "WSKIT_ALLOWED_ORIGINS",
        value_name = "ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Option<Vec<String>>,

    /// Largest WebSocket message accepted (bytes, or with a unit: 64KiB, 1MiB); a larger one
    /// closes the connection with 1009. Default: 64KiB.
    #[arg(long, env = "WSKIT_MAX_MESSAGE_SIZE", value_name = "SIZE", value_parser = parse_size)]
    max_message_size: Option<usize>,

    /// Bytes that may wait in one connection's outgoing queue before --backpressure applies.
    /// Default: 1MiB.
    #[arg(long, env = "WSKIT_MAX_QUEUED_BYTES", value_name = "SIZE", value_parser = parse_size)]
    max_queued_bytes: Option<usize>,

    /// What happens to a client that reads too slowly for its queue: `close` it (code 1008),
    /// `drop` the messages it cannot take, or `wait` (only its own replies wait; fan-outs
    /// drop). Default: close.
    #[arg(long, env = "WSKIT_BACKPRESSURE", value_name = "POLICY", value_parser = parse_policy)]
    backpressure: Option<Policy>,

    /// Ping each client this often (30s, 1m; `off` disables heartbeats). Default: 30s.
    #[arg(long, env = "WSKIT_HEARTBEAT_INTERVAL", value_name = "DURATION", value_parser = parse_toggle)]
    heartbeat_interval: Option<Toggle>,

    /// Drop a client whose pong has not come this long after a heartbeat ping. Default: 10s.
    #[arg(long, env = "WSKIT_HEARTBEAT_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    heartbeat_timeout: Option<Duration>,

    /// Close a connection (1000) that sent nothing, not even a pong, for this long; `off`
    /// disables it. Default: off.
    #[arg(long, env = "WSKIT_IDLE_TIMEOUT", value_name = "DURATION", value_parser = parse_toggle)]
    idle_timeout: Option<Toggle>,

    /// How long `/api/rest/{id}/...` waits for the agent's response head before answering 504
    /// (a request over /rest waits as long for the other end). Default: 30s.
    #[arg(long, env = "WSKIT_REST_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    rest_timeout: Option<Duration>,

    /// Mount the petstore demo: /demo/petstore over HTTP, /demo/petstore/rest over WebSocket
    /// (behind the API key when one is set; at most 1,000 pets, then 507; bodies up to 4 KiB,
    /// then 413). WSKIT_DEMO takes 1/true/yes; `demo = true` in the config file. Default: not
    /// mounted.
    #[arg(long, env = "WSKIT_DEMO", value_parser = clap::builder::BoolishValueParser::new(), overrides_with = "no_demo")]
    demo: bool,

    /// Do not mount the petstore demo: the default, kept for the command lines that asked for
    /// it when the demo was on by default. Of --demo and --no-demo, the later one wins.
    #[arg(long, env = "WSKIT_NO_DEMO", value_parser = clap::builder::BoolishValueParser::new(), overrides_with = "demo", hide = true)]
    no_demo: bool,

    /// Time a client has for the TLS handshake and for sending its request head (upgrade or
    /// HTTP). Default: 10s.
    #[arg(long, env = "WSKIT_HANDSHAKE_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    handshake_timeout: Option<Duration>,

    /// On SIGINT or SIGTERM, time clients have to answer the 1001 close before they are
    /// dropped. Default: 10s.
    #[arg(long, env = "WSKIT_DRAIN_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    drain_timeout: Option<Duration>,

    /// Redis to run several nodes as one (`redis://[:PASSWORD@]HOST:PORT[/DB]`, or
    /// `rediss://` for Redis over TLS, verified against the system's roots or SSL_CERT_FILE):
    /// broadcast, group pushes, sends to ids and names, and GET /api/groups then work across
    /// every node on the same Redis (pub/sub; memberships and names in keys that expire with
    /// the node).
    /// The server does not start if Redis does not answer; later losses are retried while
    /// local delivery goes on. Default: none (everything in process).
    #[arg(long, env = "WSKIT_REDIS", value_name = "URL", hide_env_values = true)]
    redis: Option<String>,

    /// The --redis URL is a node of a Redis Cluster (7.0 or later): the other shards are
    /// discovered, and messages go through sharded pub/sub (SPUBLISH/SSUBSCRIBE), each channel
    /// through the shard of its slot. `--redis-cluster` alone means true. Default: false.
    #[arg(
        long,
        env = "WSKIT_REDIS_CLUSTER",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    redis_cluster: Option<bool>,

    /// Broadcasts write into idle connections' sockets through io_uring, many per system call,
    /// where the kernel allows it (Linux; elsewhere, or where io_uring is refused, one `send`
    /// per socket). `--io-uring false` turns it off. Default: true.
    #[arg(
        long,
        env = "WSKIT_IO_URING",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    io_uring: Option<bool>,

    /// Prefix of the Redis keys and channels, so that several clusters can share one Redis.
    /// Default: wskit.
    #[arg(long, env = "WSKIT_REDIS_PREFIX", value_name = "PREFIX")]
    redis_prefix: Option<String>,

    /// How long a node's connections, groups and names outlive its last heartbeat in Redis
    /// (a node that crashes disappears from the cluster within this time). Default: 15s.
    #[arg(long, env = "WSKIT_REDIS_NODE_TTL", value_name = "DURATION", value_parser = parse_duration)]
    redis_node_ttl: Option<Duration>,

    // ----- security: limits, origins and client authentication -----
    /// Most groups one /ws connection may be in at once; a `join` beyond it gets the error
    /// `too_many_groups`. Default: 128.
    #[arg(long, env = "WSKIT_MAX_GROUPS_PER_CONNECTION", value_name = "N", value_parser = parse_count)]
    max_groups_per_connection: Option<usize>,

    /// Most WebSocket connections (/ws, /echo) open at once; beyond it an upgrade is answered
    /// 503 with `Retry-After` (the API and /healthz keep working). Default: 10000.
    #[arg(long, env = "WSKIT_MAX_CONNECTIONS", value_name = "N", value_parser = parse_count)]
    max_connections: Option<usize>,

    /// Most WebSocket connections open at once from one IP address; beyond it, 503 with
    /// `Retry-After`. Default: 100.
    #[arg(long, env = "WSKIT_MAX_CONNECTIONS_PER_IP", value_name = "N", value_parser = parse_count)]
    max_connections_per_ip: Option<usize>,

    /// Time a client has to send a request body, from the end of its head; a body still
    /// incomplete then is answered 408. Default: 10s.
    #[arg(long, env = "WSKIT_BODY_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    body_timeout: Option<Duration>,

    /// Messages per second one /ws connection may send (a bucket of as many, refilled at this
    /// rate); beyond it a message gets the error `rate_limited`, and a connection that sends
    /// another second's worth anyway is closed with 1008. Default: 100.
    #[arg(long, env = "WSKIT_MESSAGE_RATE", value_name = "N", value_parser = parse_count)]
    message_rate: Option<usize>,

    /// `presence` requests per second one /ws connection may send (each lists a whole
    /// group); beyond it, as --message-rate. Default: 5.
    #[arg(long, env = "WSKIT_PRESENCE_RATE", value_name = "N", value_parser = parse_count)]
    presence_rate: Option<usize>,

    /// Secret of the HS256 JWT connection tokens /ws and /echo clients must present (as the
    /// `token` query parameter, or /ws's first message `{"type":"auth","token":...}`).
    /// Default: none.
    #[arg(
        long,
        env = "WSKIT_TOKEN_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    token_secret: Option<String>,

    /// PEM public key (RSA or EC P-256) verifying RS256 or ES256 connection tokens, in place
    /// of (or as well as) --token-secret. Default: none.
    #[arg(long, env = "WSKIT_TOKEN_PUBLIC_KEY", value_name = "FILE")]
    token_public_key: Option<PathBuf>,

    /// Time a /ws client admitted without a token has to send its `auth` message before it is
    /// closed with 4001. Default: 10s.
    #[arg(long, env = "WSKIT_AUTH_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    auth_timeout: Option<Duration>,

    /// Let anyone connect to /ws and /echo without a token while listening beyond loopback
    /// (refused at start-up otherwise). Default: false.
    #[arg(long, env = "WSKIT_ALLOW_ANONYMOUS", value_parser = clap::builder::BoolishValueParser::new())]
    allow_anonymous: bool,

    /// Print the effective configuration as a TOML config file and exit (secrets, the API key
    /// and a Redis password, are left out with a comment saying so).
    #[arg(long)]
    pub(crate) print_config: bool,
}

const AFTER_HELP: &str = "\
Precedence: flags, then WSKIT_* environment variables, then the --config file, then defaults.

Endpoints: / (chat page), /ws (JSON messaging, docs/protocol.md), /echo, /api/* (HTTP API for \
backends, bearer key), /api/stats (open, read-only), /metrics (Prometheus), /healthz.

REST over WebSocket: /rest (wskit-rest.v1 or SwaggerSocket v1; same key or loopback rule as \
/api) lets a client call the HTTP API over the connection, and an agent serve its own API, \
reached through /api/rest/{id}/PATH (GET /api/rest lists the agents). Demo (--demo): the \
petstore at /demo/petstore (HTTP, /demo/petstore/openapi.json) and /demo/petstore/rest \
(WebSocket).

Example config file:
    listen = \"0.0.0.0:8080\"
    api_key = \"change-me\"
    allowed_origins = [\"https://chat.example.com\"]
    heartbeat_interval = \"25s\"
    max_message_size = \"128KiB\"
    redis = \"redis://127.0.0.1:6379\"

Several nodes: start each with the same --redis URL (and its own --listen); see README.md and \
docs/protocol.md (\"Several nodes\").";

/// What happens to a client that reads too slowly (see `--backpressure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Close it with 1008.
    Close,
    /// Drop what does not fit.
    Drop,
    /// Replies to the client itself wait; fan-outs drop.
    Wait,
}

/// A duration that may be switched off (`off` or `0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Toggle(Option<Duration>);

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) listen: ListenAddr,
    /// Certificate chain and key files.
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) api_key: Option<String>,
    /// Empty: any origin.
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) max_message_size: usize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) backpressure: Policy,
    pub(crate) heartbeat_interval: Option<Duration>,
    pub(crate) heartbeat_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    /// `/api/rest` forwarding: time for the agent's response head.
    pub(crate) rest_timeout: Duration,
    /// Mount the petstore demo under `/demo/petstore`.
    pub(crate) demo: bool,
    pub(crate) handshake_timeout: Duration,
    pub(crate) drain_timeout: Duration,
    /// The Redis URL, to run as one node of a cluster.
    pub(crate) redis: Option<String>,
    pub(crate) redis_cluster: bool,
    /// Broadcasts batch their direct writes through io_uring.
    pub(crate) io_uring: bool,
    pub(crate) redis_prefix: String,
    pub(crate) redis_node_ttl: Duration,
    // ----- security -----
    pub(crate) max_groups_per_connection: usize,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_ip: usize,
    pub(crate) body_timeout: Duration,
    pub(crate) message_rate: usize,
    pub(crate) presence_rate: usize,
    pub(crate) token_secret: Option<String>,
    pub(crate) token_public_key: Option<PathBuf>,
    pub(crate) auth_timeout: Duration,
    pub(crate) allow_anonymous: bool,
}

// ===== impl Config =====

impl Config {
    /// Merges the flags and variables (`args`) over the file they name over the defaults.
    pub(crate) fn load(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => Layer::default(),
        };
        Self::merge(args.layer(), file)
    }

    fn merge(first: Layer, second: Layer) -> anyhow::Result<Self> {
        let layer = first.or(second);
        let defaults = Self::default();
        let tls = match (layer.tls_cert, layer.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => bail!("tls_cert is set but tls_key is not: give both (--tls-key)"),
            (None, Some(_)) => bail!("tls_key is set but tls_cert is not: give both (--tls-cert)"),
        };
        if layer.demo == Some(true) && !cfg!(feature = "demo") {
            bail!("demo: this wskit was built without the `demo` feature");
        }
        if let Some(url) = &layer.redis {
            if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                bail!(
                    "redis: invalid URL {:?} (expected redis://HOST:PORT, or rediss://HOST:PORT \
                     for Redis over TLS, such as redis://127.0.0.1:6379)",
                    redacted(url)
                );
            }
        }
        if layer.redis_cluster == Some(true) && layer.redis.is_none() {
            bail!(
                "redis_cluster is set but redis is not: give the URL of a cluster node (--redis)"
            );
        }
        if layer.redis_prefix.as_deref() == Some("") {
            bail!("redis_prefix is empty: give a prefix, or leave it unset (default wskit)");
        }
        if layer
            .api_key
            .as_deref()
            .is_some_and(|key| key.trim().is_empty())
        {
            bail!("api_key is blank: give a key, or leave it unset");
        }
        if layer
            .token_secret
            .as_deref()
            .is_some_and(|secret| secret.trim().is_empty())
        {
            bail!("token_secret is blank: give a secret, or leave it unset");
        }
        let allowed_origins = layer
            .allowed_origins
            .unwrap_or_default()
            .into_iter()
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        Ok(Self {
            listen: layer.listen.unwrap_or(defaults.listen),
            tls,
            api_key: layer.api_key,
            allowed_origins,
            max_message_size: layer.max_message_size.unwrap_or(defaults.max_message_size),
            max_queued_bytes: layer.max_queued_bytes.unwrap_or(defaults.max_queued_bytes),
            backpressure: layer.backpressure.unwrap_or(defaults.backpressure),
            heartbeat_interval: layer
                .heartbeat_interval
                .map_or(defaults.heartbeat_interval, |t| t.0),
            heartbeat_timeout: layer
                .heartbeat_timeout
                .unwrap_or(defaults.heartbeat_timeout),
            idle_timeout: layer.idle_timeout.map_or(defaults.idle_timeout, |t| t.0),
            rest_timeout: layer.rest_timeout.unwrap_or(defaults.rest_timeout),
            demo: layer.demo.unwrap_or(defaults.demo),
            handshake_timeout: layer
                .handshake_timeout
                .unwrap_or(defaults.handshake_timeout),
            drain_timeout: layer.drain_timeout.unwrap_or(defaults.drain_timeout),
            redis: layer.redis,
            redis_cluster: layer.redis_cluster.unwrap_or(defaults.redis_cluster),
            io_uring: layer.io_uring.unwrap_or(defaults.io_uring),
            redis_prefix: layer.redis_prefix.unwrap_or(defaults.redis_prefix),
            redis_node_ttl: layer.redis_node_ttl.unwrap_or(defaults.redis_node_ttl),
            max_groups_per_connection: layer
                .max_groups_per_connection
                .unwrap_or(defaults.max_groups_per_connection),
            max_connections: layer.max_connections.unwrap_or(defaults.max_connections),
            max_connections_per_ip: layer
                .max_connections_per_ip
                .unwrap_or(defaults.max_connections_per_ip),
            body_timeout: layer.body_timeout.unwrap_or(defaults.body_timeout),
            message_rate: layer.message_rate.unwrap_or(defaults.message_rate),
            presence_rate: layer.presence_rate.unwrap_or(defaults.presence_rate),
            token_secret: layer.token_secret,
            token_public_key: layer.token_public_key,
            auth_timeout: layer.auth_timeout.unwrap_or(defaults.auth_timeout),
            allow_anonymous: layer.allow_anonymous.unwrap_or(defaults.allow_anonymous),
        })
    }

    /// Refuses a non-loopback listen address without an API key: the HTTP API would let
    /// anyone on the network publish and disconnect clients.
    pub(crate) fn check_exposure(&self) -> anyhow::Result<()> {
        let loopback = self.listen.is_loopback()?;
        if self.api_key.is_none() && !loopback {
            bail!(
                "refusing to listen on {} without an API key: the HTTP API (/api) would be open \
                 to the network. Set one with --api-key KEY (or WSKIT_API_KEY, or api_key in \
                 the config file), or listen on a loopback address such as 127.0.0.1:{}",
                self.listen,
                self.listen.port()
            );
        }
        if !self.client_auth() && !self.allow_anonymous && !loopback {
            bail!(
                "refusing to listen on {} without client authentication: anyone on the network \
                 could join and read every group. Set --token-secret SECRET (or \
                 --token-public-key FILE) so that clients present a token, or say \
                 --allow-anonymous, or listen on a loopback address such as 127.0.0.1:{}",
                self.listen,
                self.listen.port()
            );
        }
        Ok(())
    }

    /// Whether /ws and /echo clients must present a token.
    pub(crate) fn client_auth(&self) -> bool {
        self.token_secret.is_some() || self.token_public_key.is_some()
    }

    /// The configuration as a TOML file that gives it back, except for the secrets (the API
    /// key, the Redis password), which are left out with a comment saying so.
    pub(crate) fn to_toml(&self) -> String {
        let mut out = String::new();
        let toggle = |d: Option<Duration>| d.map_or_else(|| "off".to_owned(), fmt_duration);
        // Writing to a String cannot fail.
        let _ = writeln!(out, "listen = \"{}\"", self.listen);
        if let Some((cert, key)) = &self.tls {
            let _ = writeln!(out, "tls_cert = {:?}", cert.display().to_string());
            let _ = writeln!(out, "tls_key = {:?}", key.display().to_string());
        }
        if self.api_key.is_some() {
            // A placeholder would become the key if this output were used as a file.
            let _ = writeln!(
                out,
                "# api_key is set but not shown: give it with WSKIT_API_KEY, --api-key or an \
                 api_key line here"
            );
        }
        let _ = writeln!(out, "allowed_origins = {:?}", self.allowed_origins);
        let _ = writeln!(out, "max_message_size = {}", self.max_message_size);
        let _ = writeln!(out, "max_queued_bytes = {}", self.max_queued_bytes);
        let _ = writeln!(out, "backpressure = \"{}\"", self.backpressure.name());
        let _ = writeln!(
            out,
            "heartbeat_interval = \"{}\"",
            toggle(self.heartbeat_interval)
        );
        let timeout = fmt_duration(self.heartbeat_timeout);
        let _ = writeln!(out, "heartbeat_timeout = \"{timeout}\"");
        let _ = writeln!(out, "idle_timeout = \"{}\"", toggle(self.idle_timeout));
        let rest = fmt_duration(self.rest_timeout);
        let _ = writeln!(out, "rest_timeout = \"{rest}\"");
        let _ = writeln!(out, "demo = {}", self.demo);
        let handshake = fmt_duration(self.handshake_timeout);
        let _ = writeln!(out, "handshake_timeout = \"{handshake}\"");
        let _ = writeln!(
            out,
            "drain_timeout = \"{}\"",
            fmt_duration(self.drain_timeout)
        );
        if let Some(url) = &self.redis {
            let (url, had_password) = without_password(url);
            if had_password {
                let _ = writeln!(
                    out,
                    "# the Redis password is not shown: give the full URL with WSKIT_REDIS, \
                     --redis or here"
                );
            }
            let _ = writeln!(out, "redis = {url:?}");
        }
        let _ = writeln!(out, "redis_cluster = {}", self.redis_cluster);
        let _ = writeln!(out, "io_uring = {}", self.io_uring);
        let _ = writeln!(out, "redis_prefix = {:?}", self.redis_prefix);
        let ttl = fmt_duration(self.redis_node_ttl);
        let _ = writeln!(out, "redis_node_ttl = \"{ttl}\"");
        let _ = writeln!(
            out,
            "max_groups_per_connection = {}",
            self.max_groups_per_connection
        );
        let _ = writeln!(out, "max_connections = {}", self.max_connections);
        let _ = writeln!(
            out,
            "max_connections_per_ip = {}",
            self.max_connections_per_ip
        );
        let body = fmt_duration(self.body_timeout);
        let _ = writeln!(out, "body_timeout = \"{body}\"");
        let _ = writeln!(out, "message_rate = {}", self.message_rate);
        let _ = writeln!(out, "presence_rate = {}", self.presence_rate);
        if self.token_secret.is_some() {
            let _ = writeln!(
                out,
                "# token_secret is set but not shown: give it with WSKIT_TOKEN_SECRET, \
                 --token-secret or a token_secret line here"
            );
        }
        if let Some(key) = &self.token_public_key {
            let _ = writeln!(out, "token_public_key = {:?}", key.display().to_string());
        }
        let auth = fmt_duration(self.auth_timeout);
        let _ = writeln!(out, "auth_timeout = \"{auth}\"");
        let _ = writeln!(out, "allow_anonymous = {}", self.allow_anonymous);
        out
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)).into(),
            tls: None,
            api_key: None,
            allowed_origins: Vec::new(),
            max_message_size: 64 * 1024,
            max_queued_bytes: 1024 * 1024,
            backpressure: Policy::Close,
            heartbeat_interval: Some(Duration::from_secs(30)),
            heartbeat_timeout: Duration::from_secs(10),
            idle_timeout: None,
            rest_timeout: Duration::from_secs(30),
            demo: false,
            handshake_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            redis: None,
            redis_cluster: false,
            io_uring: true,
            redis_prefix: "wskit".to_owned(),
            redis_node_ttl: Duration::from_secs(15),
            max_groups_per_connection: 128,
            max_connections: 10_000,
            max_connections_per_ip: 100,
            body_timeout: Duration::from_secs(10),
            message_rate: 100,
            presence_rate: 5,
            token_secret: None,
            token_public_key: None,
            auth_timeout: Duration::from_secs(10),
            allow_anonymous: false,
        }
    }
}

// ===== impl Policy =====

impl Policy {
    fn name(self) -> &'static str {
        match self {
            Self::Close => "close",
            Self::Drop => "drop",
            Self::Wait => "wait",
        }
    }
}

/// One source of settings, each unset or set.
#[derive(Debug, Default)]
struct Layer {
    listen: Option<ListenAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    api_key: Option<String>,
    allowed_origins: Option<Vec<String>>,
    max_message_size: Option<usize>,
    max_queued_bytes: Option<usize>,
    backpressure: Option<Policy>,
    heartbeat_interval: Option<Toggle>,
    heartbeat_timeout: Option<Duration>,
    idle_timeout: Option<Toggle>,
    rest_timeout: Option<Duration>,
    handshake_timeout: Option<Duration>,
    demo: Option<bool>,
    drain_timeout: Option<Duration>,
    redis: Option<String>,
    redis_cluster: Option<bool>,
    io_uring: Option<bool>,
    redis_prefix: Option<String>,
    redis_node_ttl: Option<Duration>,
    max_groups_per_connection: Option<usize>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    body_timeout: Option<Duration>,
    message_rate: Option<usize>,
    presence_rate: Option<usize>,
    token_secret: Option<String>,
    token_public_key: Option<PathBuf>,
    auth_timeout: Option<Duration>,
    allow_anonymous: Option<bool>,
}

impl Layer {
    /// Each setting of `self`, or else of `other`.
    fn or(self, other: Self) -> Self {
        Self {
            listen: self.listen.or(other.listen),
            tls_cert: self.tls_cert.or(other.tls_cert),
            tls_key: self.tls_key.or(other.tls_key),
            api_key: self.api_key.or(other.api_key),
            allowed_origins: self.allowed_origins.or(other.allowed_origins),
            max_message_size: self.max_message_size.or(other.max_message_size),
            max_queued_bytes: self.max_queued_bytes.or(other.max_queued_bytes),
            backpressure: self.backpressure.or(other.backpressure),
            heartbeat_interval: self.heartbeat_interval.or(other.heartbeat_interval),
            heartbeat_timeout: self.heartbeat_timeout.or(other.heartbeat_timeout),
            idle_timeout: self.idle_timeout.or(other.idle_timeout),
            rest_timeout: self.rest_timeout.or(other.rest_timeout),
            demo: self.demo.or(other.demo),
            handshake_timeout: self.handshake_timeout.or(other.handshake_timeout),
            drain_timeout: self.drain_timeout.or(other.drain_timeout),
            redis: self.redis.or(other.redis),
            redis_cluster: self.redis_cluster.or(other.redis_cluster),
            io_uring: self.io_uring.or(other.io_uring),
            redis_prefix: self.redis_prefix.or(other.redis_prefix),
            redis_node_ttl: self.redis_node_ttl.or(other.redis_node_ttl),
            max_groups_per_connection: self
                .max_groups_per_connection
                .or(other.max_groups_per_connection),
            max_connections: self.max_connections.or(other.max_connections),
            max_connections_per_ip: self.max_connections_per_ip.or(other.max_connections_per_ip),
            body_timeout: self.body_timeout.or(other.body_timeout),
            message_rate: self.message_rate.or(other.message_rate),
            presence_rate: self.presence_rate.or(other.presence_rate),
            token_secret: self.token_secret.or(other.token_secret),
            token_public_key: self.token_public_key.or(other.token_public_key),
            auth_timeout: self.auth_timeout.or(other.auth_timeout),
            allow_anonymous: self.allow_anonymous.or(other.allow_anonymous),
        }
    }
}

impl ServeArgs {
    fn layer(&self) -> Layer {
        Layer {
            listen: self.listen.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            api_key: self.api_key.clone(),
            allowed_origins: self.allowed_origins.clone(),
            max_message_size: self.max_message_size,
            max_queued_bytes: self.max_queued_bytes,
            backpressure: self.backpressure,
            heartbeat_interval: self.heartbeat_interval,
            heartbeat_timeout: self.heartbeat_timeout,
            idle_timeout: self.idle_timeout,
            rest_timeout: self.rest_timeout,
            demo: if self.no_demo {
                Some(false)
            } else {
                self.demo.then_some(true)
            },
            handshake_timeout: self.handshake_timeout,
            drain_timeout: self.drain_timeout,
            redis: self.redis.clone(),
            redis_cluster: self.redis_cluster,
            io_uring: self.io_uring,
            redis_prefix: self.redis_prefix.clone(),
            redis_node_ttl: self.redis_node_ttl,
            max_groups_per_connection: self.max_groups_per_connection,
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            body_timeout: self.body_timeout,
            message_rate: self.message_rate,
            presence_rate: self.presence_rate,
            token_secret: self.token_secret.clone(),
            token_public_key: self.token_public_key.clone(),
            auth_timeout: self.auth_timeout,
            allow_anonymous: self.allow_anonymous.then_some(true),
        }
    }
}

/// The keys a configuration file may hold.
const FIELDS: &[&str] = &[
    "listen",
    "tls_cert",
    "tls_key",
    "api_key",
    "allowed_origins",
    "max_message_size",
    "max_queued_bytes",
    "backpressure",
    "heartbeat_interval",
    "heartbeat_timeout",
    "idle_timeout",
    "rest_timeout",
    "demo",
    "handshake_timeout",
    "drain_timeout",
    "redis",
    "redis_cluster",
    "io_uring",
    "redis_prefix",
    "redis_node_ttl",
    "max_groups_per_connection",
    "max_connections",
    "max_connections_per_ip",
    "body_timeout",
    "message_rate",
    "presence_rate",
    "token_secret",
    "token_public_key",
    "auth_timeout",
    "allow_anonymous",
];

/// Reads a configuration file; every error names the file, and the field when there is one.
fn read_file(path: &Path) -> anyhow::Result<Layer> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("config file {shown}"))?;
    let table: toml::Table = text.parse().map_err(|err: toml::de::Error| {
        anyhow!("config file {shown}: {}", err.to_string().trim_end())
    })?;
    let mut layer = Layer::default();
    for (key, value) in &table {
        let at = |err: String| anyhow!("config file {shown}: field {key}: {err}");
        let text = || string(value).map_err(at);
        match key.as_str() {
            "listen" => layer.listen = Some(parse_addr(text()?).map_err(at)?),
            "tls_cert" => layer.tls_cert = Some(text()?.into()),
            "tls_key" => layer.tls_key = Some(text()?.into()),
            "api_key" => layer.api_key = Some(text()?.to_owned()),
            "allowed_origins" => layer.allowed_origins = Some(origins(value).map_err(at)?),
            "max_message_size" => layer.max_message_size = Some(size(value).map_err(at)?),
            "max_queued_bytes" => layer.max_queued_bytes = Some(size(value).map_err(at)?),
            "backpressure" => layer.backpressure = Some(parse_policy(text()?).map_err(at)?),
            "heartbeat_interval" => {
                layer.heartbeat_interval = Some(parse_toggle(text()?).map_err(at)?);
            }
            "heartbeat_timeout" => {
                layer.heartbeat_timeout = Some(parse_duration(text()?).map_err(at)?);
            }
            "idle_timeout" => layer.idle_timeout = Some(parse_toggle(text()?).map_err(at)?),
            "rest_timeout" => layer.rest_timeout = Some(parse_duration(text()?).map_err(at)?),
            "demo" => layer.demo = Some(boolean(value).map_err(at)?),
            "handshake_timeout" => {
                layer.handshake_timeout = Some(parse_duration(text()?).map_err(at)?);
            }
            "drain_timeout" => layer.drain_timeout = Some(parse_duration(text()?).map_err(at)?),
            "redis" => layer.redis = Some(text()?.to_owned()),
            "redis_cluster" => {
                layer.redis_cluster = Some(value.as_bool().ok_or_else(|| {
                    at(format!(
                        "expected true or false, found {}",
                        value.type_str()
                    ))
                })?);
            }
            "io_uring" => {
                layer.io_uring = Some(value.as_bool().ok_or_else(|| {
                    at(format!(
                        "expected true or false, found {}",
                        value.type_str()
                    ))
                })?);
            }
            "redis_prefix" => layer.redis_prefix = Some(text()?.to_owned()),
            "redis_node_ttl" => {
                layer.redis_node_ttl = Some(parse_duration(text()?).map_err(at)?);
            }
            "max_groups_per_connection" => {
                layer.max_groups_per_connection = Some(count(value).map_err(at)?);
            }
            "max_connections" => layer.max_connections = Some(count(value).map_err(at)?),
            "max_connections_per_ip" => {
                layer.max_connections_per_ip = Some(count(value).map_err(at)?);
            }
            "body_timeout" => layer.body_timeout = Some(parse_duration(text()?).map_err(at)?),
            "message_rate" => layer.message_rate = Some(count(value).map_err(at)?),
            "presence_rate" => layer.presence_rate = Some(count(value).map_err(at)?),
            "token_secret" => layer.token_secret = Some(text()?.to_owned()),
            "token_public_key" => layer.token_public_key = Some(text()?.into()),
            "auth_timeout" => layer.auth_timeout = Some(parse_duration(text()?).map_err(at)?),
            "allow_anonymous" => layer.allow_anonymous = Some(boolean(value).map_err(at)?),
            other => bail!(
                "config file {shown}: unknown field {other:?} (known fields: {})",
                FIELDS.join(", ")
            ),
        }
    }
    Ok(layer)
}

fn string(value: &toml::Value) -> Result<&str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("expected a string, found {}", value.type_str()))
}

fn boolean(value: &toml::Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("expected true or false, found {}", value.type_str()))
}

fn size(value: &toml::Value) -> Result<usize, String> {
    match value {
        toml::Value::Integer(n) => {
            usize::try_from(*n).map_err(|_| format!("invalid size {n}: it must be positive"))
        }
        toml::Value::String(s) => parse_size(s),
        other => Err(format!(
            "expected a size (1024 or \"64KiB\"), found {}",
            other.type_str()
        )),
    }
}

fn origins(value: &toml::Value) -> Result<Vec<String>, String> {
    match value {
        toml::Value::String(s) => Ok(s.split(',').map(str::to_owned).collect()),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| string(item).map(str::to_owned))
            .collect(),
        other => Err(format!(
            "expected a list of origins, found {}",
            other.type_str()
        )),
    }
}

/// A positive count, as an integer or a string.
fn count(value: &toml::Value) -> Result<usize, String> {
    match value {
        toml::Value::Integer(n) => usize::try_from(*n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("invalid count {n}: it must be above 0")),
        toml::Value::String(s) => parse_count(s),
        other => Err(format!("expected a count, found {}", other.type_str())),
    }
}

/// A positive count: `128`.
fn parse_count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err(format!("invalid count {s:?}: it must be above 0")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("invalid count {s:?} (expected a whole number)")),
    }
}

fn parse_addr(s: &str) -> Result<ListenAddr, String> {
    s.parse()
}

/// A duration such as `30s`, `1m 30s`, `250ms`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|_| format!("invalid duration {s:?} (expected a number and a unit: 30s, 5m)"))
}

/// A duration, or `off` (also `0`).
fn parse_toggle(s: &str) -> Result<Toggle, String> {
    match s.trim() {
        "off" | "0" => Ok(Toggle(None)),
        _ => parse_duration(s).map(|d| Toggle((!d.is_zero()).then_some(d))),
    }
}

/// Bytes, plain or with a unit: `65536`, `64KiB`, `64k`, `1MiB`, `1M`.
fn parse_size(s: &str) -> Result<usize, String> {
    let invalid = || format!("invalid size {s:?} (expected bytes, or with a unit: 64KiB, 1MiB)");
    let trimmed = s.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let n: usize = digits.parse().map_err(|_| invalid())?;
    let scale: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(invalid()),
    };
    match n.checked_mul(scale) {
        Some(0) => Err(format!("invalid size {s:?}: it must be above 0")),
        Some(bytes) => Ok(bytes),
        None => Err(invalid()),
    }
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    match s.trim() {
        "close" => Ok(Policy::Close),
        "drop" => Ok(Policy::Drop),
        "wait" => Ok(Policy::Wait),
        _ => Err(format!(
            "invalid backpressure policy {s:?} (expected close, drop or wait)"
        )),
    }
}

/// A URL with its password replaced by `***`, for messages and `--print-config`.
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

/// A URL without its password, and whether it had one, for `--print-config`.
fn without_password(url: &str) -> (String, bool) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), false);
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            let at = if user.is_empty() { "" } else { "@" };
            (format!("{scheme}://{user}{at}{host}"), true)
        }
        _ => (url.to_owned(), false),
    }
}

fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> anyhow::Result<Layer> {
        let dir = std::env::temp_dir().join(format!("wskit-config-{}", rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.toml");
        std::fs::write(&path, text).unwrap();
        let layer = read_file(&path);
        let _ = std::fs::remove_dir_all(&dir);
        layer
    }

    fn rand_suffix() -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        format!(
            "{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    #[test]
    fn defaults_without_anything() {
        let config = Config::merge(Layer::default(), Layer::default()).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        config.check_exposure().unwrap();
    }

    #[test]
    #[cfg(feature = "demo")]
    fn rest_timeout_and_demo() {
        let config = Config::merge(Layer::default(), Layer::default()).unwrap();
        assert_eq!(config.rest_timeout, Duration::from_secs(30));
        assert!(!config.demo);
        let from_file = file("rest_timeout = \"2s\"\ndemo = true").unwrap();
        let config = Config::merge(Layer::default(), from_file).unwrap();
        assert_eq!(config.rest_timeout, Duration::from_secs(2));
        assert!(config.demo);
        assert!(config.to_toml().contains("demo = true\n"));
        let from_file = file("demo = false").unwrap();
        assert!(!Config::merge(Layer::default(), from_file).unwrap().demo);
        let err = file("demo = \"no\"").err().unwrap().to_string();
        assert!(
            err.contains("field demo: expected true or false, found string"),
            "{err}"
        );
    }

    #[test]
    fn the_first_layer_wins_field_by_field() {
        let flags = Layer {
            listen: Some(parse_addr("127.0.0.1:1").unwrap()),
            ..Layer::default()
        };
        let from_file = file(
            "listen = \"127.0.0.1:2\"\nheartbeat_interval = \"off\"\nmax_message_size = \"1MiB\"\n\
             allowed_origins = [\"https://a.example\"]\nbackpressure = \"drop\"",
        )
        .unwrap();
        let config = Config::merge(flags, from_file).unwrap();
        assert_eq!(config.listen.port(), 1);
        assert_eq!(config.heartbeat_interval, None);
        assert_eq!(config.max_message_size, 1 << 20);
        assert_eq!(config.allowed_origins, ["https://a.example"]);
        assert_eq!(config.backpressure, Policy::Drop);
    }

    #[test]
    fn file_errors_name_the_file_and_the_field() {
        let err = file("heartbeat_interval = \"abc\"")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("config file ")
                && err.contains("x.toml: field heartbeat_interval: invalid duration \"abc\""),
            "{err}"
        );
        let err = file("max_message_size = -3").err().unwrap().to_string();
        assert!(
            err.contains("field max_message_size: invalid size -3"),
            "{err}"
        );
        let err = file("listen = 8080").err().unwrap().to_string();
        assert!(
            err.contains("field listen: expected a string, found integer"),
            "{err}"
        );
        let err = file("lisen = \"x\"").err().unwrap().to_string();
        assert!(err.contains("unknown field \"lisen\""), "{err}");
        let err = file("listen = ").err().unwrap().to_string();
        assert!(err.starts_with("config file "), "{err}");
    }

    #[test]
    fn sizes_durations_and_toggles() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("2m"), Ok(2 << 20));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_toggle("off"), Ok(Toggle(None)));
        assert_eq!(parse_toggle("0s"), Ok(Toggle(None)));
        assert_eq!(parse_toggle("5s"), Ok(Toggle(Some(Duration::from_secs(5)))));
    }

    #[test]
    fn io_uring_is_on_unless_turned_off() {
        assert!(
            Config::merge(Layer::default(), Layer::default())
                .unwrap()
                .io_uring
        );
        let off = file("io_uring = false").unwrap();
        let config = Config::merge(Layer::default(), off).unwrap();
        assert!(!config.io_uring);
        assert!(config.to_toml().contains("io_uring = false"));
        let err = file("io_uring = 0").err().unwrap().to_string();
        assert!(
            err.contains("field io_uring: expected true or false"),
            "{err}"
        );
    }

    #[test]
    fn redis_settings() {
        let from_file = file(
            "redis = \"redis://:secret@127.0.0.1:6379/2\"\nredis_prefix = \"chat\"\n\
             redis_node_ttl = \"5s\"",
        )
        .unwrap();
        let config = Config::merge(Layer::default(), from_file).unwrap();
        assert_eq!(
            config.redis.as_deref(),
            Some("redis://:secret@127.0.0.1:6379/2")
        );
        assert_eq!(config.redis_prefix, "chat");
        assert_eq!(config.redis_node_ttl, Duration::from_secs(5));
        let shown = config.to_toml();
        assert!(
            shown.contains("redis = \"redis://127.0.0.1:6379/2\"")
                && shown.contains("# the Redis password is not shown")
                && !shown.contains("secret"),
            "{shown}"
        );
        let flags = Layer {
            redis: Some("redis://10.0.0.1:6379".into()),
            ..Layer::default()
        };
        let from_file = file("redis = \"redis://127.0.0.1:6379\"").unwrap();
        let config = Config::merge(flags, from_file).unwrap();
        assert_eq!(config.redis.as_deref(), Some("redis://10.0.0.1:6379"));
        let bad = Layer {
            redis: Some("http://u:pw@127.0.0.1:6379".into()),
            ..Layer::default()
        };
        let err = Config::merge(bad, Layer::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("redis: invalid URL") && !err.contains("pw"),
            "{err}"
        );
        let cluster = file("redis = \"redis://127.0.0.1:7000\"\nredis_cluster = true").unwrap();
        assert!(
            Config::merge(Layer::default(), cluster)
                .unwrap()
                .redis_cluster
        );
        let err = file("redis_cluster = \"yes\"").err().unwrap().to_string();
        assert!(
            err.contains("field redis_cluster: expected true or false"),
            "{err}"
        );
        let alone = Layer {
            redis_cluster: Some(true),
            ..Layer::default()
        };
        let err = Config::merge(alone, Layer::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("redis_cluster is set but redis is not"),
            "{err}"
        );
        let err = file("redis_node_ttl = \"soon\"").err().unwrap().to_string();
        assert!(
            err.contains("field redis_node_ttl: invalid duration"),
            "{err}"
        );
        assert_eq!(Config::default().redis, None);
    }

    #[test]
    fn tls_files_go_together_and_exposure_needs_a_key() {
        let half = Layer {
            tls_cert: Some("c.pem".into()),
            ..Layer::default()
        };
        assert!(Config::merge(half, Layer::default()).is_err());
        let open = Layer {
            listen: Some(parse_addr("0.0.0.0:8080").unwrap()),
            ..Layer::default()
        };
        let err = Config::merge(open, Layer::default())
            .unwrap()
            .check_exposure()
            .unwrap_err()
            .to_string();
        assert!(err.contains("--api-key"), "{err}");
    }
}
