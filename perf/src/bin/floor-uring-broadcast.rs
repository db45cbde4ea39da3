//! The broadcast floor of `floor-epoll-broadcast` on an io_uring ring: a message's sends to
//! every connection go to the kernel together, in one `io_uring_enter`, where a readiness loop
//! makes one `send` system call per delivery. The workload where batching submissions has the
//! most to save (docs/performance.md has what it measured).
//!
//! Linux only; exits with a message where the kernel (or a seccomp filter) refuses io_uring.

#[cfg(target_os = "linux")]
fn main() {
    wskit_perf_peers::uring::main("floor-uring-broadcast", ring::run);
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("floor-uring-broadcast: io_uring is Linux only");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
mod ring {
    use std::collections::VecDeque;
    use std::io;
    use std::net::TcpListener;
    use std::os::fd::{AsRawFd as _, RawFd};
    use std::rc::Rc;

    use io_uring::{IoUring, cqueue, opcode, squeue, types};
    use wskit_perf_peers::{floor, uring};

    /// One connection. `rbuf` grows only while no receive is in flight; the buffer being sent
    /// is the front of `queue`, which keeps it alive, and the slot is freed only when neither
    /// operation is in flight.
    struct Conn {
        fd: RawFd,
        rbuf: Vec<u8>,
        filled: usize,
        upgraded: bool,
        /// Buffers to send, shared with every connection they go to, and how much of the front
        /// one is sent.
        queue: VecDeque<Rc<[u8]>>,
        sent: usize,
        ops: uring::InFlight,
    }

    pub(super) fn run() -> io::Result<()> {
        let listener = TcpListener::bind(wskit_perf_peers::listen_addr())?;
        let mut ring = uring::ring()?;
        println!("listening on ws://{}", listener.local_addr()?);
        let mut conns = uring::Slots::default();
        push(&mut ring, &uring::accept(listener.as_raw_fd()))?;
        let mut completions = Vec::new();
        let mut frames = Vec::new();
        loop {
            uring::wait(&ring)?;
            completions.extend(
                ring.completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            for (data, result, flags) in completions.drain(..) {
                if data == uring::ACCEPT {
                    if !cqueue::more(flags) {
                        push(&mut ring, &uring::accept(listener.as_raw_fd()))?;
                    }
                    if result >= 0 {
                        let slot = conns.insert(Conn::new(result));
                        let conn = conns.get(slot);
                        push(&mut ring, &receive(conn, slot))?;
                    }
                    continue;
                }
                let (slot, send) = uring::operation(data);
                let conn = conns.get(slot);
                if send {
                    on_sent(conn, result);
                    if let Some(op) = next_send(conn, slot) {
                        push(&mut ring, &op)?;
                    }
                } else {
                    on_received(conn, result, &mut frames);
                    if let Some(op) = next_send(conn, slot) {
                        push(&mut ring, &op)?;
                    }
                    if !conn.ops.done {
                        push(&mut ring, &receive(conn, slot))?;
                    }
                    if !frames.is_empty() {
                        fan_out(&mut ring, &mut conns, Rc::from(&frames[..]))?;
                        frames.clear();
                    }
                }
                let conn = conns.get(slot);
                if conn.ops.settle(conn.fd) {
                    conns.remove(slot);
                }
            }
        }
    }

    /// Queues `frames` on every upgraded connection, and starts the sends of the idle ones.
    fn fan_out(
        ring: &mut IoUring,
        conns: &mut uring::Slots<Conn>,
        frames: Rc<[u8]>,
    ) -> io::Result<()> {
        for (slot, conn) in conns.iter_mut() {
            if !conn.upgraded || conn.ops.done {
                continue;
            }
            conn.queue.push_back(frames.clone());
            if let Some(op) = next_send(conn, slot) {
                push(ring, &op)?;
            }
        }
        Ok(())
    }

    /// Queues `entry`.
    fn push(ring: &mut IoUring, entry: &squeue::Entry) -> io::Result<()> {
        // SAFETY: every entry points into a `Conn`'s receive buffer or into the front of its
        // queue, which stay put until the completion arrives (see `Conn`).
        unsafe { uring::push(ring, entry) }
    }

    impl Conn {
        fn new(fd: RawFd) -> Self {
            uring::set_nodelay(fd);
            Self {
                fd,
                rbuf: vec![0; 4096],
                filled: 0,
                upgraded: false,
                queue: VecDeque::new(),
                sent: 0,
                ops: uring::InFlight::default(),
            }
        }
    }

    fn receive(conn: &mut Conn, slot: usize) -> squeue::Entry {
        if conn.filled == conn.rbuf.len() {
            conn.rbuf.resize(conn.rbuf.len() * 2, 0);
        }
        conn.ops.recv = true;
        let spare = &mut conn.rbuf[conn.filled..];
        opcode::Recv::new(types::Fd(conn.fd), spare.as_mut_ptr(), spare.len() as u32)
            .build()
            .user_data(uring::user_data(slot, false))
    }

    /// Bytes arrived: the handshake's response goes on this connection's queue, the frames
    /// to broadcast into `frames`.
    fn on_received(conn: &mut Conn, result: i32, frames: &mut Vec<u8>) {
        conn.ops.recv = false;
        let Ok(n @ 1..) = usize::try_from(result) else {
            conn.ops.done = true;
            return;
        };
        conn.filled += n;
        let mut start = 0;
        if !conn.upgraded {
            let Some((response, len)) = floor::handshake(&conn.rbuf[..conn.filled]) else {
                return;
            };
            conn.queue.push_back(Rc::from(response));
            conn.upgraded = true;
            start = len;
        }
        let echoed = floor::echo(&mut conn.rbuf[start..conn.filled], frames);
        let consumed = start + echoed.consumed;
        conn.rbuf.copy_within(consumed..conn.filled, 0);
        conn.filled -= consumed;
        if let Some(close) = echoed.close {
            // The echoed close frame is this connection's alone.
            conn.queue.push_back(Rc::from(&frames[close..]));
            frames.truncate(close);
            conn.ops.done = true;
        }
    }

    fn on_sent(conn: &mut Conn, result: i32) {
        conn.ops.send = false;
        let Ok(n @ 1..) = usize::try_from(result) else {
            conn.ops.done = true;
            conn.queue.clear();
            conn.sent = 0;
            return;
        };
        conn.sent += n;
        if conn
            .queue
            .front()
            .is_some_and(|front| conn.sent == front.len())
        {
            conn.queue.pop_front();
            conn.sent = 0;
        }
    }

    /// The send to start now, when none is in flight: the rest of the front buffer.
    fn next_send(conn: &mut Conn, slot: usize) -> Option<squeue::Entry> {
        if conn.ops.send {
            return None;
        }
        let rest = &conn.queue.front()?[conn.sent..];
        conn.ops.send = true;
        Some(
            opcode::Send::new(types::Fd(conn.fd), rest.as_ptr(), rest.len() as u32)
                .build()
                .user_data(uring::user_data(slot, true)),
        )
    }
}
