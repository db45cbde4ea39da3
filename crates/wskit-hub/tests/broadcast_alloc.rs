//! One message to 10,000 connections: the frame is encoded once, so the allocations of one
//! [`Hub::broadcast`] do not grow with the number of recipients.
//!
//! The hub runs over in-memory transports (`tokio::io::duplex`, [`Hub::accept`]) on a
//! current-thread runtime, so that 10,000 connections are cheap and every allocation of the
//! hub and its connections happens on the test's thread, where a counting global allocator
//! sees it. The counter is per thread, so tests running in parallel do not disturb it.
//!
//! The count covers the `broadcast` call itself: encoding, the registry walk and queueing on
//! each connection. After it, each connection's driver task writes the shared frame out;
//! that phase is measured too (the clients are raw pipes that allocate nothing): printed for
//! plain frames, and with permessage-deflate it counts the compressions (each makes its own
//! output buffer): one for every recipient with context takeover, one in all without.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use wskit::{DeflateConfig, Message};
use wskit_hub::{Connection, Hub, Service, ServiceOptions};
use wskit_support::{KEY, upgrade_request_for, within};

// ----- a counting allocator -----

/// The system allocator, counting allocations (not frees) made by each thread.
struct Counting;

thread_local! {
    // `const` and without `Drop`: using it never allocates, so the allocator may touch it.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: during thread teardown the slot may be gone; those allocations don't matter.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

/// Allocations made by this thread so far.
fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees are ours; the counting touches only a thread-local `Cell` and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract (non-zero size); forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
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

// ----- the hub and its clients -----

const PATH: &str = "/fan";
const TEXT: &str = "one message for everyone";

/// Greets each connection, which tells its client that the hub has registered it.
struct Greeter;

impl Service for Greeter {
    async fn on_open(&self, conn: &Connection) {
        let _ = conn.send_text("registered").await;
    }
}

/// The greeting as an uncompressed server frame: FIN + text, length 10.
const GREETING: &[u8] = b"\x81\x0aregistered";

/// How the connections compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deflate {
    Off,
    /// permessage-deflate with the server's context kept between messages (the default).
    ContextTakeover,
    /// permessage-deflate, `server_no_context_takeover`: each message compressed on its own.
    NoContextTakeover,
}

/// A hub with `n` connections over in-memory pipes, each greeted. The clients are raw pipes:
/// they send a fixed upgrade request and read raw frames, so that they cost (and allocate)
/// next to nothing, and the count sees the hub's side only.
async fn hub_with_clients(n: usize, mode: Deflate) -> (Hub, Vec<DuplexStream>) {
    let hub = Hub::new();
    let mut options = ServiceOptions::default();
    if mode == Deflate::NoContextTakeover {
        let deflate = DeflateConfig::default().server_no_context_takeover(true);
        options = options.config(wskit::Config::default().deflate(Some(deflate)));
    }
    hub.register(PATH, Greeter, options).unwrap();
    let deflate = mode != Deflate::Off;
    let extra = if deflate {
        "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    } else {
        ""
    };
    let request = upgrade_request_for(PATH, KEY, extra);
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut client, server_end) = tokio::io::duplex(4096);
        let server = hub.clone();
        tokio::spawn(async move { server.accept(server_end, None).await });
        client.write_all(request.as_bytes()).await.unwrap();
        // The 101 response, then the greeting (sent once the hub has registered the
        // connection; compressed under permessage-deflate).
        let mut buf = [0u8; 512];
        let mut len = 0;
        let head_len = loop {
            let read = within(client.read(&mut buf[len..])).await.unwrap();
            assert!(read > 0, "the hub hung up during the handshake");
            len += read;
            if let Some(head_len) = greeted(&buf[..len]) {
                break head_len;
            }
        };
        let head = std::str::from_utf8(&buf[..head_len]).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert_eq!(head.contains("permessage-deflate"), deflate, "{head}");
        if !deflate {
            assert_eq!(&buf[head_len..len], GREETING);
        }
        clients.push(client);
    }
    assert_eq!(hub.connection_count(), n);
    (hub, clients)
}

/// When `received` holds a response head and one whole short frame: the head's length.
fn greeted(received: &[u8]) -> Option<usize> {
    let head_len = received.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let frame = &received[head_len..];
    (frame.len() >= 2 && frame.len() == 2 + usize::from(frame[1])).then_some(head_len)
}

/// Every client reads one frame as raw bytes from its pipe, checking that it is `TEXT`
/// (uncompressed) or one compressed text frame.
async fn receive_all(clients: &mut [DuplexStream], compressed: bool) {
    let mut frame = [0u8; 128];
    for pipe in clients {
        within(pipe.read_exact(&mut frame[..2]))
            .await
            .expect("frame head");
        let len = usize::from(frame[1]);
        assert!(len < 126, "a short frame");
        within(pipe.read_exact(&mut frame[2..2 + len]))
            .await
            .expect("payload");
        if compressed {
            assert_eq!(frame[0], 0xC1, "FIN, RSV1, text");
        } else {
            assert_eq!(frame[0], 0x81, "FIN, text");
            assert_eq!(&frame[2..2 + len], TEXT.as_bytes());
        }
    }
}

/// What one broadcast to `n` connections allocates.
#[derive(Debug)]
struct Measure {
    /// During `hub.broadcast` itself.
    broadcast: u64,
    /// From its return until every client has read the frame (the drivers' work).
    delivery: u64,
}

async fn measure(n: usize, mode: Deflate) -> Measure {
    let deflate = mode != Deflate::Off;
    let (hub, mut clients) = hub_with_clients(n, mode).await;
    // Warm-up: the first message to a connection sizes its queues; every client reads it.
    let warm = hub.broadcast(PATH, Message::text(TEXT));
    assert_eq!((warm.delivered, warm.dropped), (n, 0));
    receive_all(&mut clients, deflate).await;

    let msg = Message::text(TEXT);
    let before = allocations();
    let delivery = hub.broadcast(PATH, msg);
    let after_broadcast = allocations();
    assert_eq!((delivery.delivered, delivery.dropped), (n, 0));
    receive_all(&mut clients, deflate).await;
    let after_delivery = allocations();
    Measure {
        broadcast: after_broadcast - before,
        delivery: after_delivery - after_broadcast,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn allocations_per_broadcast_do_not_grow_with_the_number_of_recipients() {
    let mut counts = Vec::new();
    for n in [100, 1_000, 10_000] {
        let m = measure(n, Deflate::Off).await;
        println!(
            "N = {n:>6}: {} allocations in broadcast, {} in delivery ({:.2} per recipient)",
            m.broadcast,
            m.delivery,
            m.delivery as f64 / n as f64
        );
        counts.push(m.broadcast);
    }
    // The frame is encoded once and shared: a small constant, whatever the audience (the
    // README quotes this bound).
    assert!(counts.iter().all(|&c| c == counts[0]), "{counts:?}");
    assert!(counts[0] <= 4, "{counts:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn with_permessage_deflate_broadcast_still_encodes_once_but_delivery_compresses_each() {
    // Compression is per connection (each has its own deflate context), so the shared frame
    // cannot be used: the driver compresses the payload again for every recipient, each
    // compression into a buffer of its own. The `broadcast` call itself is unchanged.
    let small = measure(10, Deflate::ContextTakeover).await;
    let large = measure(100, Deflate::ContextTakeover).await;
    println!("deflate: N = 10: {small:?}; N = 100: {large:?}");
    assert_eq!(small.broadcast, large.broadcast);
    let plain = (
        measure(10, Deflate::Off).await,
        measure(100, Deflate::Off).await,
    );
    // At least one more allocation per extra recipient than plain frames take: a compression
    // each.
    assert!(
        large.delivery - small.delivery >= 90 + (plain.1.delivery - plain.0.delivery),
        "{small:?} {large:?} {plain:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn without_context_takeover_one_compressed_frame_serves_every_recipient() {
    // Connections that compress each message on its own share the compressed frame of the
    // encoded message: it is compressed once, whatever the number of recipients. Delivery to
    // 100 allocates no more than to 10 beyond what plain frames take; a compression per
    // recipient would be 90 more.
    let small = measure(10, Deflate::NoContextTakeover).await;
    let large = measure(100, Deflate::NoContextTakeover).await;
    let plain = (
        measure(10, Deflate::Off).await,
        measure(100, Deflate::Off).await,
    );
    println!("no context takeover: N = 10: {small:?}; N = 100: {large:?}; plain: {plain:?}");
    assert_eq!(small.broadcast, large.broadcast);
    assert_eq!(
        large.delivery - small.delivery,
        plain.1.delivery - plain.0.delivery,
        "{small:?} {large:?} {plain:?}"
    );
}
