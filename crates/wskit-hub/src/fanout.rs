//! A broadcast's deliveries: one shared frame for many connections, written straight into
//! the sockets of those whose drivers are idle (`direct.rs`), queued for the others.
//!
//! With io_uring (Linux, [`HubOptions::io_uring`](crate::HubOptions::io_uring), on by
//! default) the direct writes of up to 1,024 connections go to the kernel together, in one
//! system call (`uring.rs`). To write a batch, the fan-out holds the queue locks of all its
//! connections at once; it only ever *tries* to take a lock while it holds others, and a
//! connection whose lock is taken (its driver is writing, or another fan-out holds it) gets
//! its delivery after the batch, the ordinary way. So no two threads ever wait on each other.

use std::io;
use std::sync::{MutexGuard, Weak};

use wskit::proto::EncodedMessage;

use crate::connection::{Connection, Queue};
use crate::error::SendError;
use crate::hub::{Delivery, HubInner};

/// Connections written in one batch at most (the ring's size, `uring.rs`).
const BATCH: usize = 1024;

/// Sends `encoded` to each of `conns` without waiting; `io_uring` batches the direct writes.
/// Records the time it took as the delivery latency.
pub(crate) fn fan_out<'a>(
    conns: impl Iterator<Item = &'a Connection>,
    encoded: &EncodedMessage,
    io_uring: bool,
) -> Delivery {
    let started = std::time::Instant::now();
    let delivery = deliver(conns, encoded, io_uring);
    crate::metrics::delivered(started);
    delivery
}

fn deliver<'a>(
    conns: impl Iterator<Item = &'a Connection>,
    encoded: &EncodedMessage,
    io_uring: bool,
) -> Delivery {
    let mut tally = Tally::default();
    if !io_uring || cfg!(not(target_os = "linux")) {
        for conn in conns {
            tally.add(conn, conn.send_encoded_now(encoded));
        }
        return tally.finish(encoded);
    }
    let mut batch = Batch::default();
    let mut contended = Vec::new();
    for conn in conns {
        let Some(queue) = conn.try_lock_queue() else {
            contended.push(conn);
            continue;
        };
        if let Some(fd) = queue.direct_writer().map(|writer| writer.fd()) {
            batch.conns.push((conn, queue));
            batch.fds.push(fd);
            if batch.conns.len() == BATCH {
                batch.send(encoded, &mut tally);
            }
        } else {
            tally.add(conn, conn.finish_send(queue, encoded, None));
        }
    }
    batch.send(encoded, &mut tally);
    // Holding no lock now, these may wait for theirs.
    for conn in contended {
        tally.add(conn, conn.send_encoded_now(encoded));
    }
    tally.finish(encoded)
}

/// Connections whose sockets take the frame directly, each with its queue's lock held, and
/// their sockets' descriptors (`fds[i]` is `conns[i]`'s).
#[derive(Default)]
struct Batch<'a> {
    conns: Vec<(&'a Connection, MutexGuard<'a, Queue>)>,
    fds: Vec<std::os::fd::RawFd>,
    results: Vec<io::Result<usize>>,
}

impl Batch<'_> {
    /// Writes the frame into every socket of the batch, then ends each delivery (the rest of a
    /// partial write, or the whole frame for a full socket, is queued) and lets the locks go.
    fn send(&mut self, encoded: &EncodedMessage, tally: &mut Tally) {
        if self.conns.is_empty() {
            return;
        }
        let frame = encoded.frame();
        let one_by_one = self.conns.len() == 1 || !batch_send(&self.fds, frame, &mut self.results);
        self.fds.clear();
        let mut results = self.results.drain(..);
        for (conn, queue) in self.conns.drain(..) {
            let sent = if one_by_one {
                queue.direct_writer().map(|writer| writer.try_send(frame))
            } else {
                results.next()
            };
            tally.add(conn, conn.finish_send(queue, encoded, sent));
        }
    }
}

/// Sends `frame` on every one of `fds` through io_uring, with a result per descriptor; false
/// where this thread has no ring.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn batch_send(
    fds: &[std::os::fd::RawFd],
    frame: &[u8],
    results: &mut Vec<io::Result<usize>>,
) -> bool {
    // SAFETY: each descriptor is a connection's socket, taken from the `Writer` in its queue
    // while the batch holds that queue's lock: the driver that owns the socket cannot drop it
    // or write to it until the lock is released, after this call (see `direct.rs`).
    unsafe { crate::uring::send_all(fds, frame, results) }
}

#[cfg(not(target_os = "linux"))]
fn batch_send(_: &[std::os::fd::RawFd], _: &[u8], _: &mut Vec<io::Result<usize>>) -> bool {
    false
}

/// What a fan-out did, counted as it goes.
#[derive(Default)]
struct Tally {
    delivery: Delivery,
    direct: u64,
    hub: Option<Weak<HubInner>>,
}

impl Tally {
    fn add(&mut self, conn: &Connection, result: Result<bool, SendError>) {
        match result {
            Ok(written) => {
                self.delivery.delivered += 1;
                if written {
                    self.direct += 1;
                    self.hub
                        .get_or_insert_with(|| conn.shared.route.hub.clone());
                }
            }
            Err(_) => self.delivery.dropped += 1,
        }
    }

    /// Direct writes skip the drivers, which count what they write: they are counted here,
    /// once per fan-out.
    fn finish(self, encoded: &EncodedMessage) -> Delivery {
        if let Some(hub) = self.hub.and_then(|hub| hub.upgrade()) {
            hub.metrics
                .sent(self.direct, self.direct * encoded.frame().len() as u64);
        }
        self.delivery
    }
}
