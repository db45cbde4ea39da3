//! `Hub::broadcast` of one short text message to N = 100 / 1,000 / 10,000 connections over
//! in-memory pipes (`tokio::io::duplex`, `Hub::accept`) on a current-thread runtime.
//!
//! Two measurements per N:
//! - `broadcast/call/N`: the `hub.broadcast` call alone (encode once, walk the registry, queue
//!   the shared frame on each connection, wake its driver);
//! - `broadcast/delivered/N`: until every client has read the frame (adds the drivers' writes
//!   and the clients' reads).
//!
//! Alongside, it prints the allocations of one broadcast, counted by a global allocator: in the
//! call (a constant, whatever N) and in the delivery (per recipient).
//!
//! Run with: cargo bench -p wskit-hub --bench broadcast

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::runtime::Runtime;
use wskit::Message;
use wskit_hub::{Connection, Hub, Service, ServiceOptions};

// ----- a counting allocator -----

/// The system allocator, counting allocations (the bench runs on one thread).
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees are ours; the counting is one atomic add and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract (non-zero size); forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`, with `layout`; the
        // caller upholds the rest of `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

// ----- the hub and its clients -----

const PATH: &str = "/fan";
const TEXT: &str = "one message for everyone";
const REQUEST: &str = "GET /fan HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
                       Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                       Sec-WebSocket-Version: 13\r\n\r\n";
/// The greeting, as an uncompressed server frame (no extension is offered).
const GREETING: &[u8] = b"\x81\x0aregistered";

/// Greets each connection, which tells its client that the hub has registered it.
struct Greeter;

impl Service for Greeter {
    async fn on_open(&self, conn: &Connection) {
        let _ = conn.send_text("registered").await;
    }
}

/// A hub with `n` connections whose clients are raw pipes (they allocate nothing to read).
async fn hub_with_clients(n: usize) -> (Hub, Vec<DuplexStream>) {
    let hub = Hub::new();
    hub.register(PATH, Greeter, ServiceOptions::default())
        .unwrap();
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut client, server_end) = tokio::io::duplex(4096);
        let server = hub.clone();
        tokio::spawn(async move { server.accept(server_end, None).await });
        client.write_all(REQUEST.as_bytes()).await.unwrap();
        let mut buf = [0u8; 512];
        let mut len = 0;
        while !buf[..len].ends_with(GREETING) {
            let read = client.read(&mut buf[len..]).await.unwrap();
            assert!(read > 0, "the hub hung up during the handshake");
            len += read;
        }
        clients.push(client);
    }
    assert_eq!(hub.connection_count(), n);
    (hub, clients)
}

/// Every client reads the broadcast frame.
async fn receive_all(clients: &mut [DuplexStream]) {
    let mut frame = [0u8; 2 + TEXT.len()];
    for pipe in clients {
        pipe.read_exact(&mut frame).await.unwrap();
        debug_assert_eq!(&frame[2..], TEXT.as_bytes());
    }
}

/// One broadcast and its delivery; the allocations of each.
fn count_one(rt: &Runtime, hub: &Hub, clients: &mut [DuplexStream]) -> (u64, u64) {
    rt.block_on(async {
        let msg = Message::text(TEXT);
        let before = allocations();
        let delivery = hub.broadcast(PATH, msg);
        let sent = allocations();
        receive_all(clients).await;
        assert_eq!(delivery.delivered, clients.len());
        (sent - before, allocations() - sent)
    })
}

fn broadcast(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("broadcast");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in [100, 1_000, 10_000] {
        let (hub, mut clients) = rt.block_on(hub_with_clients(n));
        // Warm-up: the first message to a connection sizes its queues.
        count_one(&rt, &hub, &mut clients);
        let (in_call, in_delivery) = count_one(&rt, &hub, &mut clients);
        println!(
            "broadcast to {n}: {in_call} allocations in hub.broadcast, {in_delivery} in the \
             delivery ({:.2} per recipient)",
            in_delivery as f64 / n as f64
        );

        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("call", n), |b| {
            // Only the call is timed; each iteration's delivery is drained outside the clock,
            // so queues never build up.
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let msg = Message::text(TEXT);
                        let start = Instant::now();
                        black_box(hub.broadcast(PATH, msg));
                        timed += start.elapsed();
                        receive_all(&mut clients).await;
                    }
                    timed
                })
            });
        });
        group.bench_function(BenchmarkId::new("delivered", n), |b| {
            b.iter(|| {
                rt.block_on(async {
                    black_box(hub.broadcast(PATH, Message::text(TEXT)));
                    receive_all(&mut clients).await;
                });
            });
        });

        drop(clients);
        rt.block_on(hub.shutdown(Duration::from_secs(5)));
    }
    group.finish();
}

/// The benchmark group. `criterion_group!` defines an undocumented `pub fn benches`.
#[allow(missing_docs, unreachable_pub)]
mod group {
    criterion::criterion_group!(benches, super::broadcast);
}

criterion_main!(group::benches);
