//! The `wskit` command: the messaging server (`serve`), an echo server, a client and a load
//! generator.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::listen::ListenAddr;

mod bench;
mod connect;
mod echo;
mod listen;
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
#[command(name = "wskit", version, about, after_help = AFTER_HELP)]
struct Cli {
    /// Format of the log lines on stderr: `text` (coloured on a terminal only) or `json` (one
    /// object a line). RUST_LOG picks what is logged (default: warn; `info` adds a line for
    /// each connection opened and closed by `wskit serve`).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = LogFormat::Text,
        env = "WSKIT_LOG_FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines, in colour on a terminal.
    Text,
    /// One JSON object a line.
    Json,
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
    /// Address to listen on: IP:PORT, HOST:PORT or :PORT (every IPv4 interface); port 0 picks
    /// a free port (the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:9001", env = "WSKIT_ECHO_LISTEN")]
    listen: ListenAddr,
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

const AFTER_HELP: &str = "\
Exit status: 0 on success, 1 on an error (printed as `error: ...` with its causes), 2 on a \
usage error; `wskit connect --help` lists its own.";

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging(cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => serve::main(&args),
        Command::Echo(args) => runtime(args.threads).and_then(|rt| rt.block_on(echo::run(args))),
        Command::Bench(args) => bench::run(args),
        Command::Connect(args) => connect::main(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` is the error and its causes on one line; never the backtrace that
            // `anyhow`'s `Debug` would add under RUST_BACKTRACE=1.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Log lines on stderr: RUST_LOG's filter (default `warn`), in `format`, with colours only
/// when stderr is a terminal (so that none end up in files and journals).
fn logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
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
