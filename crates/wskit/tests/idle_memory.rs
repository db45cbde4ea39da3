//! An idle, upgraded connection holds no heap memory of its own: no read buffer, no write
//! buffer, no copy of its settings. What is left per connection is its task (here a boxed
//! future, so its size is known exactly) and tokio's per-socket registration.
//!
//! Live heap blocks and bytes are counted by `dhat` as the global allocator. This file holds
//! one test, so that nothing else allocates in the process while it counts.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use wskit::{Message, Server};
use wskit_support::client_frame;
use wskit_support::idle::{IdleClients, upgrade_blocking};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Connections counted.
const CONNECTIONS: usize = 200;

/// What tokio allocates per connection besides the future: the task's header and trailer (a
/// boxed future's task takes one 128-byte cache line on x86_64) and the socket's registration
/// with the I/O driver (`ScheduledIo`, two cache lines), 384 bytes with tokio 1.54.
const TOKIO_PER_CONNECTION: usize = 384;

#[test]
fn an_idle_connection_holds_only_its_task_and_socket_registration() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = Arc::new(Server::default());

    let mut clients = IdleClients::spawn(addr, CONNECTIONS, open_idle);

    let task_size = std::cell::Cell::new(0);
    let (before, after) = runtime.block_on(async {
        let task_size = &task_size;
        let accept = async {
            loop {
                let (stream, _) = listener.accept().await.expect("accept");
                let server = server.clone();
                let task = Box::pin(async move {
                    let (mut ws, _) = server.accept(stream).await.expect("handshake");
                    while let Some(Ok(msg)) = ws.recv().await {
                        if let Message::Text(_) | Message::Binary(_) = msg {
                            if ws.send(msg).await.is_err() {
                                break;
                            }
                        }
                    }
                });
                task_size.set(size_of_val(&*task));
                tokio::spawn(task);
            }
        };
        let count = async {
            clients.warmed().await;
            let before = dhat::HeapStats::get();
            // The client has its pong on every connection: each server task wrote it in the
            // same poll that then found no more bytes and released its buffers, and this
            // single-threaded runtime ran those polls to their end before this one.
            clients.open_counted().await;
            (before, dhat::HeapStats::get())
        };
        tokio::select! {
            () = accept => unreachable!("the accept loop never ends"),
            counted = count => counted,
        }
    });
    clients.finish();

    let blocks = (after.curr_blocks - before.curr_blocks) as f64 / CONNECTIONS as f64;
    let bytes = (after.curr_bytes - before.curr_bytes) as f64 / CONNECTIONS as f64;
    let task = task_size.get();
    // Three blocks: tokio's task, the boxed future, the socket registration. A read buffer,
    // a write buffer or any other allocation held while idle would add one.
    assert!(
        blocks < 3.05,
        "{blocks:.2} live heap blocks per idle connection ({bytes:.0} bytes)"
    );
    assert!(
        bytes <= (task + TOKIO_PER_CONNECTION) as f64 + 8.0,
        "{bytes:.0} live heap bytes per idle connection, with a {task}-byte future"
    );
}

/// Opens a connection, upgrades it, and sends a ping whose pong proves the server task has
/// gone idle.
fn open_idle(addr: SocketAddr) -> std::net::TcpStream {
    let mut stream = upgrade_blocking(addr);
    stream
        .write_all(&client_frame(0x9, b""))
        .expect("send a ping");
    let mut pong = [0; 2];
    stream.read_exact(&mut pong).expect("read the pong");
    assert_eq!(pong, [0x8a, 0x00], "a pong");
    stream
}
