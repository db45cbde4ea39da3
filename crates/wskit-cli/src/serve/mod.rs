//! `wskit serve`: the real-time messaging server.
//!
//! One listener (default `127.0.0.1:8080`, `https`/`wss` with `--tls-cert`) serves one axum
//! router: the chat page on `/`, the JSON messaging protocol on `/ws` and an echo on `/echo`
//! (both services of a [`wskit_hub::Hub`]), the HTTP API for backends under `/api`,
//! `/metrics` and `/healthz`.
//!
//! # Layout
//!
//! - [`config`]: flags, `WSKIT_*` variables, the TOML file, defaults.
//! - [`protocol`]: the `/ws` protocol as a pure function (parse, command, reply).
//! - [`ws`]: the hub services that run it.
//! - [`api`]: the HTTP API, stats, metrics and health.
//! - [`page`]: the embedded web page.
//! - [`rest`]: REST over WebSocket (`/rest`, the `/api/rest` gateway) and the mounting of
//!   the petstore demo (`demo`, with `--demo`).
//!
//! With `--redis`, the hub gets a [`RedisBroker`]: the hub's fan-outs then reach every node,
//! and the API and `/ws` use the hub's `cluster_*` calls for sends and listings.
//!
//! Connections are served here, one task each, with hyper's HTTP/1.1 server rather than
//! `axum::serve`, so that the handshake timeout covers TLS and the request head, and shutdown
//! is ours: on SIGINT or SIGTERM the hub closes every WebSocket with 1001 and drains
//! (`/healthz` answers 503 meanwhile), then the listener closes.

use std::cell::Cell;
use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_service::Service as _;
use wskit_hub::broker::{RedisBroker, RedisOptions};
use wskit_hub::{Backpressure, Hub, HubOptions, ServiceOptions};

pub(crate) use config::ServeArgs;
use config::{Config, Policy};

mod api;
mod auth;
mod config;
#[cfg(feature = "demo")]
mod demo;
mod limits;
mod origin;
mod page;
mod protocol;
mod rate;
mod rest;
mod ws;

/// Runs `wskit serve` until SIGINT or SIGTERM.
pub(crate) fn main(args: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(args)?;
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    config.check_exposure()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(run(config))
}

/// Serves until a signal, then shuts down gracefully and prints the report.
async fn run(config: Config) -> anyhow::Result<()> {
    // The recorder goes in first: the hub registers its counters with the recorder installed
    // when it is created.
    let metrics = metrics_recorder()?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let hub = Hub::with_options(
        HubOptions::default()
            .handshake_timeout(config.handshake_timeout)
            .io_uring(config.io_uring),
    );
    let tokens = auth::Tokens::load(
        config.token_secret.as_deref(),
        config.token_public_key.as_deref(),
    )?
    .map(Arc::new);
    let gate = auth::Gate {
        connections: limits::Connections::new(
            config.max_connections,
            config.max_connections_per_ip,
        ),
        same_origin: config.allowed_origins.is_empty(),
        tokens: tokens.clone(),
        token_later: true,
    };
    let echo_gate = auth::Gate {
        token_later: false,
        ..gate.clone()
    };
    let options = service_options(&config);
    let echo_options = options.clone().authenticate(move |request| {
        let admitted = echo_gate.admit(&request);
        async move { admitted }
    });
    let options = options.authenticate(move |request| {
        let admitted = gate.admit(&request);
        async move { admitted }
    });
    let settings = ws::Settings {
        max_groups: config.max_groups_per_connection,
        message_rate: config.message_rate,
        presence_rate: config.presence_rate,
        tokens,
        auth_timeout: config.auth_timeout,
    };
    hub.register(ws::WS_PATH, ws::Messaging::new(settings), options.clone())?;
    hub.register(ws::ECHO_PATH, ws::Echo, echo_options)?;
    let broker = match &config.redis {
        Some(url) => {
            let options = RedisOptions::default()
                .cluster(config.redis_cluster)
                .prefix(config.redis_prefix.clone())
                .node_ttl(config.redis_node_ttl);
            let broker = RedisBroker::connect(url, options).await.with_context(|| {
                format!(
                    "--redis {}: cannot use Redis (start it, or run without --redis)",
                    config::redacted(url)
                )
            })?;
            hub.set_broker(broker.clone())?;
            Some(broker)
        }
        None => None,
    };
    let state = api::AppState {
        hub: hub.clone(),
        api_key: config.api_key.as_deref().map(Arc::from),
        allowed_origins: config.allowed_origins.clone().into(),
        metrics,
        started: Instant::now(),
    };
    let api = api::router(state.clone());
    let (rest, rest_routes) = rest::Rest::router(&state, api.clone(), &rest_settings(&config));
    let app = Router::new()
        .merge(page::router())
        .merge(api)
        .merge(rest_routes)
        .merge(hub.router())
        .layer(axum::extract::DefaultBodyLimit::max(
            config.max_message_size.max(64 * 1024),
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits::BodyLimits {
                timeout: config.body_timeout,
                max_bytes: config.max_message_size.max(64 * 1024),
            },
            limits::read_body,
        ));

    let listener = config.listen.bind().await?;
    let addr = listener.local_addr()?;
    let app = if config.api_key.is_none() {
        app.layer(axum::middleware::from_fn_with_state(
            origin::LoopbackHosts::new(addr, &config.allowed_origins),
            origin::require_loopback_host,
        ))
    } else {
        app
    };
    #[cfg(unix)]
    let descriptors = limits::raise_fd_limit();
    // Before the start-up line: a signal that comes right after it must find the handlers.
    let mut signals = Signals::new()?;
    let (http, ws) = if tls.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "wskit serve: listening on {http}://{addr} (open it in a browser; WebSocket \
             endpoint {ws}://{addr}/ws)"
        )?;
        if let (Some(broker), Some(url)) = (&broker, &config.redis) {
            writeln!(
                stdout,
                "wskit serve: node {} of the cluster on {} {} (prefix {})",
                broker.node(),
                if config.redis_cluster {
                    "the Redis Cluster of"
                } else {
                    "Redis"
                },
                config::redacted(url),
                config.redis_prefix
            )?;
        }
        #[cfg(unix)]
        match descriptors {
            Ok((before, soft, hard)) => writeln!(
                stdout,
                "wskit serve: open files: soft limit {soft} (was {before}), hard limit {hard}; \
                 WebSocket connections: at most {} in all, {} per IP address",
                config.max_connections, config.max_connections_per_ip
            )?,
            Err(err) => writeln!(
                stdout,
                "wskit serve: open files: cannot read or raise the limit: {err}"
            )?,
        }
        if config.api_key.is_none() {
            writeln!(
                stdout,
                "wskit serve: no API key: the HTTP API under /api is open to local processes"
            )?;
        }
        stdout.flush()?;
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(accept_loop(
        listener,
        tls,
        app,
        stop_rx,
        config.handshake_timeout,
    ));
    let signal = signals.recv().await;
    tracing::info!(signal, "shutting down");
    let (report, ()) = tokio::join!(
        hub.shutdown(config.drain_timeout),
        rest.shutdown(config.drain_timeout)
    );
    if let Some(broker) = &broker {
        // Leaves the cluster at once instead of when the node's keys expire.
        if tokio::time::timeout(Duration::from_secs(5), broker.close())
            .await
            .is_err()
        {
            tracing::warn!("Redis did not answer in time; this node's keys will expire");
        }
    }
    let _ = stop_tx.send(true);
    // HTTP requests in flight get a moment to finish; idle keep-alive connections close now.
    if tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after shutdown; leaving them");
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "wskit serve: shut down on {signal}: {} connections closed cleanly, {} dropped after \
         the drain timeout",
        report.clean, report.forced
    )?;
    stdout.flush()?;
    Ok(())
}

/// Installs the Prometheus recorder and describes the series of `wskit serve` itself
/// (`wskit_build_info`, the handshake latency, the `process_*` series); the hub describes its
/// own when it is created.
///
/// The recorder keeps histogram samples until they are folded into their buckets, at each
/// scrape and by the upkeep task started here, so that memory stays bounded when nothing
/// scrapes.
fn metrics_recorder() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        .context("latency buckets")?
        .install_recorder()
        .context("installing the Prometheus metrics recorder")?;
    metrics::describe_gauge!(
        "wskit_build_info",
        "Always 1; its labels tell the version of wskit serving."
    );
    metrics::gauge!("wskit_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    metrics::describe_histogram!(
        HANDSHAKE,
        metrics::Unit::Seconds,
        "Time from accepting a connection (TLS included) to the 101 answer of its WebSocket \
         upgrade; from the request head for an upgrade on a kept-alive connection."
    );
    PROCESS_METRICS.describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(METRICS_UPKEEP);
        loop {
            interval.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// Reads the `process_*` series (CPU time, memory, file descriptors, threads) for a scrape.
pub(crate) fn collect_process_metrics() {
    PROCESS_METRICS.collect();
}

/// The settings of `/ws` and `/echo`.
fn service_options(config: &Config) -> ServiceOptions {
    let mut options = ServiceOptions::default()
        .config(
            wskit::Config::default()
                .max_message_size(config.max_message_size)
                .max_frame_size(config.max_message_size),
        )
        .max_queued_bytes(config.max_queued_bytes)
        .backpressure(match config.backpressure {
            Policy::Close => Backpressure::Close(wskit::CloseCode::POLICY_VIOLATION),
            Policy::Drop => Backpressure::Drop,
            Policy::Wait => Backpressure::Wait,
        });
    if !config.allowed_origins.is_empty() {
        options = options.origins(config.allowed_origins.iter().cloned());
    }
    if let Some(interval) = config.heartbeat_interval {
        options = options.heartbeat(interval, config.heartbeat_timeout);
    }
    if let Some(timeout) = config.idle_timeout {
        options = options.idle_timeout(timeout);
    }
    options
}

/// The settings of `/rest`, `/api/rest` and the demo.
fn rest_settings(config: &Config) -> rest::Settings {
    rest::Settings {
        timeout: config.rest_timeout,
        heartbeat: config
            .heartbeat_interval
            .map(|interval| (interval, config.heartbeat_timeout)),
        handshake_timeout: config.handshake_timeout,
        demo: config.demo,
        origins: config.allowed_origins.clone(),
        max_body: config.max_message_size.max(64 * 1024),
    }
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let config = wskit::tls::server_config_from_pem(cert, key)?;
    let mut config = (*config).clone();
    // WebSocket upgrades need HTTP/1.1, the only version served here.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections until `stop`, then waits for the HTTP connections to finish.
async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    mut stop: watch::Receiver<bool>,
    handshake_timeout: Duration,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            peer,
            Instant::now(),
            tls.clone(),
            app.clone(),
            stop.clone(),
            handshake_timeout,
        ));
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Serves one TCP connection: TLS if configured, then HTTP/1.1 with upgrades.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    accepted: Instant,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    stop: watch::Receiver<bool>,
    handshake_timeout: Duration,
) {
    match tls {
        None => http(stream, peer, accepted, app, stop, handshake_timeout).await,
        Some(acceptor) => {
            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    http(stream, peer, accepted, app, stop, handshake_timeout).await;
                }
                Ok(Err(err)) => tracing::debug!(%peer, %err, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

async fn http<S>(
    stream: S,
    peer: SocketAddr,
    accepted: Instant,
    app: Router,
    mut stop: watch::Receiver<bool>,
    handshake_timeout: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The first request's handshake counts from the accept; later ones from their head.
    let accepted = Cell::new(Some(accepted));
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let started = accepted.take().unwrap_or_else(Instant::now);
        // What `into_make_service_with_connect_info` would add: the hub records the peer.
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        async move {
            let response = app.call(request).await.unwrap_or_else(|e| match e {});
            if response.status() == hyper::StatusCode::SWITCHING_PROTOCOLS {
                metrics::histogram!(HANDSHAKE).record(started.elapsed().as_secs_f64());
            }
            Ok::<_, Infallible>(response)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(handshake_timeout)
        // A request head over this gets 431 (hyper answers it); an upgraded connection keeps
        // at most this much of the read buffer.
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%peer, %err, "HTTP connection ended with an error");
    }
}

/// The reader of the `process_*` series.
static PROCESS_METRICS: LazyLock<metrics_process::Collector> =
    LazyLock::new(metrics_process::Collector::default);

/// The handshake latency histogram.
const HANDSHAKE: &str = "wskit_handshake_duration_seconds";

/// Bucket bounds of the latency histograms, in seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// How often histogram samples are folded into their buckets between scrapes.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);
/// The largest request head accepted, on every path.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// SIGINT and SIGTERM, registered at once.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt()).context("handling SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("handling SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The name of the first signal received.
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
