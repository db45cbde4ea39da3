//! `wskit bench idle`: open and upgrade N connections, hold them, and weigh the server.
//!
//! The server's `VmRSS` is read before the first connection and after the hold, so the
//! difference over N is the user-space memory an idle, upgraded connection costs (kernel
//! socket buffers are not in RSS). Start the server fresh for a clean baseline.
//!
//! `--deflate` offers permessage-deflate (and fails if a connection goes without it), to weigh
//! idle compressed connections; `--messages N` has each connection echo N messages first, so
//! that the weight includes whatever the server keeps after a message (compression state, with
//! context takeover).
//!
//! A connection counts as lost when the server has closed it by the end of the hold. Under
//! `--protocol raw` (the default) an idle connection must also stay silent, so anything the
//! server wrote counts as lost; under the messaging protocols (`serve`, `pusher`, `socketio`),
//! each connection first completes the protocol's connect steps (and, with `--subscribe`, joins
//! one channel), the server's later data and control frames are read and dropped, and only a
//! close frame, the end of the stream or a reset counts.

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use clap::Args;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::channel;
use super::deflate::{DeflateMode, compressed_frame, compressible_payload};
use super::progress::{Progress, wait_until};
use super::pusher::PusherApp;
use super::report::IdleReport;
use super::server::ServerProbe;
use super::wire::{Target, masked_frame, read_messages, skip_frames};
use super::{Protocol, parse_duration};

/// Options of `wskit bench idle`.
#[derive(Debug, Args)]
pub(super) struct IdleArgs {
    /// The server to load (`ws://` only; `ws://HOST:PORT/ws` for `wskit serve`).
    #[arg(long, default_value = "ws://127.0.0.1:9001/")]
    url: String,
    /// What the server speaks: `raw`, nothing (anything it writes counts as a lost
    /// connection); `serve`, `pusher`, `socketio`: each connection completes the protocol's
    /// connect steps, and what the server sends afterwards is read and dropped.
    #[arg(long, value_enum, default_value_t = Protocol::Raw)]
    protocol: Protocol,
    /// Connections to open and hold (raise `ulimit -n` above this, for both processes).
    #[arg(long, short = 'c', default_value_t = 10_000)]
    connections: usize,
    /// Upgrades under way at once while opening.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// How long to hold the connections before weighing the server.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    hold: Duration,
    /// The server's pid: report its RSS per connection.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Offer permessage-deflate (fail if the server declines); `takeover` lets the server keep
    /// its compression context between messages.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "no-takeover")]
    deflate: Option<DeflateMode>,
    /// Messages each connection sends, and waits to see echoed, before the hold (an echo
    /// server is assumed).
    #[arg(long, default_value_t = 0)]
    messages: usize,
    /// Payload bytes of those messages (JSON-like text with --deflate).
    #[arg(long, short = 's', default_value_t = 1024)]
    size: usize,
    /// Subscribe each connection to one channel (group, room) and wait for the server to
    /// confirm, before the hold (`serve`, `pusher`, `socketio`).
    #[arg(long)]
    subscribe: bool,
    #[command(flatten)]
    pusher: PusherApp,
}

/// Runs the scenario and gathers its report.
pub(super) async fn run(args: IdleArgs) -> anyhow::Result<IdleReport> {
    ensure!(args.connections > 0, "--connections must be at least 1");
    ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    ensure!(
        args.messages == 0 || args.protocol == Protocol::Raw,
        "--messages needs an echo server (--protocol raw)"
    );
    ensure!(
        !args.subscribe || args.protocol != Protocol::Raw,
        "--subscribe needs a messaging protocol (--protocol serve, pusher or socketio)"
    );
    let probe = args.server_pid.map(ServerProbe::new).transpose()?;
    let mut target = Target::resolve(&args.protocol.url(&args.url, &args.pusher)).await?;
    if let Some(mode) = args.deflate {
        target.offer_extensions(&mode.config().offer());
    }
    let target = Arc::new(target);
    // Every message is the same frame: a client may compress each one on its own.
    let frame: Arc<[u8]> = match args.deflate {
        Some(_) => compressed_frame(true, &compressible_payload(args.size), 15),
        None => masked_frame(true, args.size),
    }
    .into();
    let rss_before = probe.as_ref().map(ServerProbe::rss_bytes).transpose()?;

    let started = Instant::now();
    let opened = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let progress = Progress::counting(args.connections as u64, &opened, "connections");
    let mut openers = JoinSet::new();
    for _ in 0..args.concurrency.min(args.connections) {
        let (target, opened, next) = (target.clone(), opened.clone(), next.clone());
        let (total, deflate, messages, frame) =
            (args.connections, args.deflate, args.messages, frame.clone());
        let (protocol, subscribe) = (args.protocol, args.subscribe);
        openers.spawn(async move {
            let mut streams = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= total {
                    return anyhow::Ok(streams);
                }
                let mut upgraded = target
                    .upgrade()
                    .await
                    .with_context(|| format!("opening connection {index}"))?;
                if let Some(mode) = deflate {
                    let params = mode
                        .accept(upgraded.extensions.as_deref())
                        .with_context(|| format!("connection {index}"))?;
                    // The frame was compressed with a 15-bit window.
                    anyhow::ensure!(
                        params.client_max_window_bits == 15,
                        "connection {index}: the server limits the client's window to {} bits",
                        params.client_max_window_bits
                    );
                }
                if messages > 0 {
                    for _ in 0..messages {
                        upgraded.stream.write_all(&frame).await?;
                    }
                    read_messages(&mut upgraded.stream, &mut upgraded.leftover, messages)
                        .await
                        .with_context(|| format!("echoes on connection {index}"))?;
                }
                channel::set_up(
                    protocol,
                    &mut upgraded.stream,
                    &mut upgraded.leftover,
                    subscribe,
                )
                .await
                .with_context(|| format!("setting up connection {index}"))?;
                streams.push((upgraded.stream, upgraded.leftover));
                opened.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let mut streams: Vec<(TcpStream, Vec<u8>)> = Vec::with_capacity(args.connections);
    loop {
        tokio::select! {
            joined = openers.join_next() => match joined {
                Some(joined) => streams.extend(joined.context("an opener panicked")??),
                None => break,
            },
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                if let Some(progress) = &progress {
                    progress.tick();
                }
            }
        }
    }
    if let Some(progress) = &progress {
        progress.finish();
    }
    let open_seconds = started.elapsed().as_secs_f64();

    wait_until(Instant::now() + args.hold, None).await;
    let rss_after = probe.as_ref().map(ServerProbe::rss_bytes).transpose()?;
    let connections_lost = streams
        .iter_mut()
        .map(|(stream, leftover)| match args.protocol {
            Protocol::Raw => !leftover.is_empty() || is_closed(stream),
            Protocol::Serve | Protocol::Pusher | Protocol::SocketIo => is_lost(stream, leftover),
        })
        .filter(|&lost| lost)
        .count();
    Ok(IdleReport {
        scenario: "idle",
        url: args.url,
        protocol: args.protocol.name(),
        subscribed: args.subscribe,
        connections: args.connections,
        open_seconds,
        hold_seconds: args.hold.as_secs_f64(),
        connections_lost,
        deflate: args.deflate.map(DeflateMode::name),
        messages_per_connection: args.messages,
        server_pid: probe.as_ref().map(ServerProbe::pid),
        server_rss_before_bytes: rss_before,
        server_rss_after_bytes: rss_after,
        server_rss_per_connection_bytes: rss_before
            .zip(rss_after)
            .map(|(before, after)| (after as f64 - before as f64) / args.connections as f64),
    })
}

/// Whether the server has closed (or written to) a connection that should be idle.
fn is_closed(stream: &TcpStream) -> bool {
    let mut byte = [0; 1];
    !matches!(stream.try_read(&mut byte), Err(err) if err.kind() == ErrorKind::WouldBlock)
}

/// Whether the server has closed a connection, reading and dropping the frames it sent
/// (`buf` holds bytes read before; a partial frame at the end is left there).
fn is_lost(stream: &TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0; 4096];
    loop {
        match skip_frames(buf) {
            Ok(Some(consumed)) => {
                buf.drain(..consumed);
            }
            // A close frame, or one that is not the server's to send.
            Ok(None) | Err(_) => return true,
        }
        match stream.try_read(&mut chunk) {
            Ok(0) => return true,
            Ok(read) => buf.extend_from_slice(&chunk[..read]),
            Err(err) if err.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}
