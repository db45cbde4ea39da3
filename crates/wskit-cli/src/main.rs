//! The `wskit` command: the messaging server (`serve`), an echo server, a client and a load
//! generator.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

mod bench;
mod connect;
mod echo;
mod serve;

/// jemalloc rather than glibc's malloc: tokio allocates every task and every socket's
/// registration aligned to 128 bytes, and glibc pays for each such block with a fragment it
/// cannot reuse, where jemalloc's size classes are aligned already. An idle connection of
/// `wskit echo` costs about 1,000 bytes of RSS with glibc, about 730 with jemalloc.
#[cfg(unix)]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// wskit: a fast, conformant WebSocket toolkit.
#[derive(Debug, Parser)]
#[command(name = "wskit", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the real-time messaging server: chat page, JSON protocol on /ws, HTTP API, metrics.
    Serve(Box<serve::ServeArgs>),
    /// Run a WebSocket echo server: every text and binary message comes back, on any path.
    Echo(EchoArgs),
    /// Connect to a WebSocket server: stdin lines go out as text, messages received are printed.
    Connect(connect::ConnectArgs),
    /// Load a WebSocket server and measure it (raw TCP client; see `wskit bench echo --help`).
    Bench(bench::BenchArgs),
}

/// Options of `wskit echo`.
#[derive(Debug, Args)]
struct EchoArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:9001", env = "WSKIT_LISTEN")]
    listen: SocketAddr,
    /// PEM certificate chain: serve wss:// (requires --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Decline permessage-deflate offers.
    #[arg(long)]
    no_deflate: bool,
    /// Largest message accepted, in bytes (larger closes with 1009).
    #[arg(long, default_value_t = 64 << 20)]
    max_message_size: usize,
    /// Worker threads (1 runs everything on the current thread).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Send every text and binary message to every connection (the sender included) instead
    /// of echoing it, through wskit-hub's registry (one frame encoding per message): the server
    /// of `wskit bench broadcast --protocol raw`. Not with TLS.
    #[arg(long, conflicts_with = "tls_cert")]
    broadcast: bool,
    /// With --broadcast: write each message into the sockets one `send` at a time, not as an
    /// io_uring batch (the default where the kernel allows it).
    #[arg(long, requires = "broadcast")]
    no_io_uring: bool,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::main(&args),
        Command::Echo(args) => runtime(args.threads)?.block_on(echo::run(args)),
        Command::Bench(args) => bench::run(args),
        Command::Connect(args) => connect::main(args),
    }
}

/// A tokio runtime: the current thread for `threads <= 1`, else that many workers.
pub(crate) fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .context("starting the tokio runtime")
}
