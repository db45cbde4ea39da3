//! What an idle hub connection holds on the heap: its task, tokio's socket registration, its
//! shared state (`Connection`, with the upgrade request it keeps for services) and its share of
//! the registry's tables. This is what `wskit echo --broadcast` (the hub on [`Hub::serve`]) and
//! `wskit serve` (a greeting and a heartbeat on each connection, the hub inside axum) pay per
//! connection, which `wskit bench idle` weighs from the outside.
//!
//! Live heap blocks and bytes are counted by `dhat` as the global allocator, on a current-thread
//! runtime. This file holds one test, so that nothing else allocates in the process while it
//! counts. `DHAT_HEAP=serve` (or `greeted`, `axum`) writes `dhat-heap.json` instead of
//! checking: its "at t-end" figures are the idle connections' blocks by allocation site
//! (dhat's viewer, or any JSON reader, shows them).

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use wskit_hub::{Connection, Hub, Service, ServiceOptions};
use wskit_support::client_frame;
use wskit_support::idle::{IdleClients, upgrade_blocking};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Connections counted.
const CONNECTIONS: usize = 200;

/// A service that does nothing: the connection's own cost, not a service's.
struct Quiet;

impl Service for Quiet {}

/// A service that greets each connection, as `wskit serve`'s `/ws` does.
struct Greeter;

impl Service for Greeter {
    async fn on_open(&self, conn: &Connection) {
        let welcome = format!(r#"{{"type":"welcome","id":"{}"}}"#, conn.id());
        let _ = conn.send_text(welcome).await;
    }
}

/// How the hub is hosted, and what runs on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hosting {
    /// [`Hub::serve`], a service that does nothing, default options: `wskit echo --broadcast`.
    Serve,
    /// [`Hub::serve`], a greeting and a heartbeat every 30 s: what `wskit serve`'s `/ws`
    /// connections hold.
    ServeGreeted,
    /// [`Hub::router`] in `axum::serve` (whose connections keep their stream in a box of their
    /// own, and so take no direct writes).
    #[cfg_attr(
        not(feature = "axum"),
        allow(dead_code, reason = "axum hosting needs the feature")
    )]
    Axum,
}

/// Live heap blocks and bytes per idle connection.
#[derive(Debug)]
struct PerConnection {
    blocks: f64,
    bytes: f64,
}

#[test]
fn an_idle_hub_connection_holds_little() {
    let profile = std::env::var("DHAT_HEAP").ok();
    let _profiler = if profile.is_some() {
        dhat::Profiler::new_heap()
    } else {
        dhat::Profiler::builder().testing().build()
    };
    if let Some(hosting) = profile {
        let hosting = match hosting.as_str() {
            "axum" => Hosting::Axum,
            "greeted" => Hosting::ServeGreeted,
            _ => Hosting::Serve,
        };
        eprintln!("{hosting:?}: {:?}", measure(hosting, true));
        return;
    }

    // Measured (x86_64, tokio 1.54, release build): 4 blocks, 1,199 bytes: the task (512),
    // the `Connection` (288), tokio's socket registration (256), the upgrade request (121)
    // and the registry's share. Before: 13 blocks, 2,650 bytes (the request as a
    // `HeaderMap`: 750 bytes in 8 blocks; a 1,024-byte task; a queue of events; the id in a
    // block of its own; 72- and 24-byte registry slots).
    let served = measure(Hosting::Serve, false);
    eprintln!("Hub::serve: {served:?}");
    assert!(served.blocks < 4.05, "Hub::serve: {served:?}");
    assert!(served.bytes < 1_225.0, "Hub::serve: {served:?}");

    // Measured: 6 blocks, 1,399 bytes: the heartbeat's timer (112) and the out-of-line part
    // of the driver that holds it (88) come in; the greeting's queue buffer is given back.
    let greeted = measure(Hosting::ServeGreeted, false);
    eprintln!("Hub::serve, greeted: {greeted:?}");
    assert!(greeted.blocks < 6.05, "greeted: {greeted:?}");
    assert!(greeted.bytes < 1_425.0, "greeted: {greeted:?}");

    // Measured: 5 blocks, 1,263 bytes (axum's server keeps the stream in a box of its own);
    // before, 11 blocks and 19,495 bytes (the map of headers taken from hyper kept hyper's
    // 16 KiB read buffer).
    #[cfg(feature = "axum")]
    {
        let axum = measure(Hosting::Axum, false);
        eprintln!("axum: {axum:?}");
        assert!(axum.blocks < 5.05, "axum: {axum:?}");
        assert!(axum.bytes < 1_300.0, "axum: {axum:?}");
    }
}

/// Opens idle connections to a fresh hub hosted as `hosting` and counts what each holds.
/// `leak`: leave the runtime and the hub alive, for the profiler's final report.
fn measure(hosting: Hosting, leak: bool) -> PerConnection {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let hub = Hub::new();
    let registered = if hosting == Hosting::ServeGreeted {
        let options =
            ServiceOptions::default().heartbeat(Duration::from_secs(30), Duration::from_secs(10));
        hub.register("/", Greeter, options)
    } else {
        hub.register("/", Quiet, ServiceOptions::default())
    };
    registered.expect("a service");

    let mut clients = IdleClients::spawn(addr, CONNECTIONS, open_idle);

    let (before, after) = runtime.block_on(async {
        let serve = async {
            match hosting {
                Hosting::Serve | Hosting::ServeGreeted => hub.serve(listener).await,
                #[cfg(feature = "axum")]
                Hosting::Axum => {
                    let app = hub.router::<()>();
                    let app = app.into_make_service_with_connect_info::<SocketAddr>();
                    axum::serve(listener, app).await.map_err(Into::into)
                }
                #[cfg(not(feature = "axum"))]
                Hosting::Axum => unreachable!("axum hosting needs the feature"),
            }
        };
        let count = async {
            clients.warmed().await;
            let before = dhat::HeapStats::get();
            // The client has its pong on every connection: each connection's task wrote it in
            // the poll that then found nothing more to do, and this single-threaded runtime
            // ran those polls to their end before this one.
            clients.open_counted().await;
            (before, dhat::HeapStats::get())
        };
        tokio::select! {
            served = serve => panic!("the hub stopped serving: {served:?}"),
            counted = count => counted,
        }
    });
    assert_eq!(hub.connection_count(), CONNECTIONS + 8);
    if leak {
        std::mem::forget((runtime, hub));
    }
    clients.finish();

    PerConnection {
        blocks: (after.curr_blocks - before.curr_blocks) as f64 / CONNECTIONS as f64,
        bytes: (after.curr_bytes - before.curr_bytes) as f64 / CONNECTIONS as f64,
    }
}

/// Opens a connection, upgrades it, and sends a ping whose pong proves the server task has
/// gone idle (any greeting comes before it).
fn open_idle(addr: SocketAddr) -> std::net::TcpStream {
    let mut stream = upgrade_blocking(addr);
    stream
        .write_all(&client_frame(0x9, b""))
        .expect("send a ping");
    let mut received = Vec::new();
    while !received.ends_with(&[0x8a, 0x00]) {
        let mut chunk = [0; 256];
        let n = stream.read(&mut chunk).expect("read the pong");
        assert!(n > 0, "the server closed before the pong");
        received.extend_from_slice(&chunk[..n]);
    }
    stream
}
