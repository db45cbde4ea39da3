//! What the peer servers share: the `--listen ADDR` flag, the line that announces the bound
//! address (the same one `wskit echo` prints, so `scripts/perf.py` reads every server alike),
//! and the single-threaded runtime.

use std::net::SocketAddr;

use tokio::net::TcpListener;

/// The address given with `--listen ADDR` (default `127.0.0.1:0`, any free port).
///
/// # Panics
/// On an unknown flag or an address that does not parse: these are command-line tools.
#[must_use]
pub fn listen_addr() -> SocketAddr {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:0".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => addr = args.next().expect("--listen needs an address"),
            other => panic!("unknown argument `{other}` (usage: --listen ADDR)"),
        }
    }
    addr.parse().expect("--listen takes IP:PORT")
}

/// Binds `--listen` and prints `listening on ws://ADDR` with the port actually bound.
///
/// # Panics
/// When the address cannot be bound.
pub async fn bind() -> TcpListener {
    let listener = TcpListener::bind(listen_addr())
        .await
        .expect("binding --listen");
    let addr = listener
        .local_addr()
        .expect("a bound socket has an address");
    println!("listening on ws://{addr}");
    listener
}

/// A current-thread runtime with I/O (and timers, which some stacks need), like `wskit echo`
/// runs with `--threads 1`.
///
/// # Panics
/// When the runtime cannot be built.
#[must_use]
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building the runtime")
}
