//! The client side of the idle-memory tests (`crates/*/tests/idle_memory.rs`): blocking std
//! I/O on a thread of its own, which allocates nothing per connection, so that a heap profiler
//! in the server's process counts only the server's bytes.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::{KEY, upgrade_request};

/// Connections opened before the count starts, so that what is allocated once (driver pages,
/// queues, first tables) falls into the baseline.
const WARM: usize = 8;

/// A thread that opens idle connections in two steps and holds them until [`finish`].
///
/// [`finish`]: Self::finish
#[derive(Debug)]
pub struct IdleClients {
    warm: Option<oneshot::Receiver<()>>,
    counted: SyncSender<()>,
    opened: Option<oneshot::Receiver<()>>,
    done: SyncSender<()>,
    thread: JoinHandle<()>,
}

impl IdleClients {
    /// Starts the thread: it opens a few connections with `open`, then, once told by
    /// [`open_counted`](Self::open_counted), `count` more.
    pub fn spawn(addr: SocketAddr, count: usize, open: fn(SocketAddr) -> TcpStream) -> Self {
        let (warm_tx, warm) = oneshot::channel();
        let (counted, counted_rx) = sync_channel(1);
        let (opened_tx, opened) = oneshot::channel();
        let (done, done_rx) = sync_channel::<()>(1);
        let thread = std::thread::spawn(move || {
            let mut streams = Vec::with_capacity(count + WARM);
            for _ in 0..WARM {
                streams.push(open(addr));
            }
            warm_tx.send(()).expect("the server waits");
            counted_rx.recv().expect("the baseline");
            for _ in 0..count {
                streams.push(open(addr));
            }
            opened_tx.send(()).expect("the server waits");
            let _ = done_rx.recv();
            drop(streams);
        });
        Self {
            warm: Some(warm),
            counted,
            opened: Some(opened),
            done,
            thread,
        }
    }

    /// Waits until the first connections are open: take the baseline then.
    pub async fn warmed(&mut self) {
        let warm = self.warm.take().expect("warmed once");
        warm.await.expect("the client warms up");
    }

    /// Has the counted connections opened, and waits until they are.
    pub async fn open_counted(&mut self) {
        self.counted.send(()).expect("the client waits");
        let opened = self.opened.take().expect("opened once");
        opened.await.expect("the client opens its connections");
    }

    /// Closes every connection and ends the thread.
    pub fn finish(self) {
        let _ = self.done.send(());
        self.thread.join().expect("the client thread");
    }
}

/// Opens a blocking connection to `addr` and upgrades it (the response head is read and must
/// be a 101); what the server sends after the head is left to the caller.
pub fn upgrade_blocking(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(upgrade_request(KEY, "").as_bytes())
        .expect("send the request");
    let mut head = [0; 1024];
    let mut len = 0;
    while !head[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut head[len..]).expect("read the response");
        assert!(n > 0, "the server closed during the handshake");
        len += n;
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "), "not upgraded");
    stream
}
