//! The broadcast floor of `floor-epoll-broadcast` on an io_uring ring: a message's sends to
//! every connection go to the kernel together, in one `io_uring_enter`, where a readiness loop
//! makes one `send` system call per delivery. The workload where batching submissions has the
//! most to save (docs/performance.md has what it measured).
//!
//! Linux only; exits with a message where the kernel (or a seccomp filter) refuses io_uring.

#[cfg(target_os = "linux")]
fn main() {
    if let Err(err) = ring::run() {
        eprintln!("floor-uring-broadcast: {err}");
        std::process::exit(1);
    }
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

    /// The user data of the multishot accept; a connection's is its slot times two, plus one
    /// for a send.
    const ACCEPT: u64 = u64::MAX;

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
        recv_pending: bool,
        send_pending: bool,
        done: bool,
        shut: bool,
    }

    pub(super) fn run() -> io::Result<()> {
        let listener = TcpListener::bind(wskit_perf_peers::listen_addr())?;
        let mut ring = uring::ring()?;
        println!("listening on ws://{}", listener.local_addr()?);
        let mut conns: Vec<Option<Conn>> = Vec::new();
        let mut free: Vec<usize> = Vec::new();
        push(&mut ring, &accept(listener.as_raw_fd()))?;
        let mut completions = Vec::new();
        let mut frames = Vec::new();
        loop {
            uring::wait(&ring)?;
            completions.extend(
                ring.completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            for (data, result, flags) in completions.drain(..) {
                if data == ACCEPT {
                    if !cqueue::more(flags) {
                        push(&mut ring, &accept(listener.as_raw_fd()))?;
                    }
                    if result >= 0 {
                        uring::set_nodelay(result);
                        let slot = open(&mut conns, &mut free, result);
                        let conn = conns[slot].as_mut().expect("just opened");
                        push(&mut ring, &receive(conn, slot))?;
                    }
                    continue;
                }
                let slot = (data >> 1) as usize;
                let conn = conns[slot]
                    .as_mut()
                    .expect("a slot with an operation in flight");
                if data & 1 == 1 {
                    on_sent(conn, result);
                    if let Some(op) = next_send(conn, slot) {
                        push(&mut ring, &op)?;
                    }
                } else {
                    on_received(conn, result, &mut frames);
                    if let Some(op) = next_send(conn, slot) {
                        push(&mut ring, &op)?;
                    }
                    if !conn.done {
                        push(&mut ring, &receive(conn, slot))?;
                    }
                    if !frames.is_empty() {
                        fan_out(&mut ring, &mut conns, Rc::from(&frames[..]))?;
                        frames.clear();
                    }
                }
                let conn = conns[slot].as_mut().expect("still open");
                if conn.done && conn.recv_pending && !conn.shut {
                    uring::shutdown(conn.fd);
                    conn.shut = true;
                }
                if conn.done && !conn.recv_pending && !conn.send_pending {
                    uring::close(conn.fd);
                    conns[slot] = None;
                    free.push(slot);
                }
            }
        }
    }

    /// Queues `frames` on every upgraded connection, and starts the sends of the idle ones.
    fn fan_out(ring: &mut IoUring, conns: &mut [Option<Conn>], frames: Rc<[u8]>) -> io::Result<()> {
        for (slot, conn) in conns.iter_mut().enumerate() {
            let Some(conn) = conn.as_mut().filter(|c| c.upgraded && !c.done) else {
                continue;
            };
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

    fn accept(fd: RawFd) -> squeue::Entry {
        opcode::AcceptMulti::new(types::Fd(fd))
            .build()
            .user_data(ACCEPT)
    }

    fn open(conns: &mut Vec<Option<Conn>>, free: &mut Vec<usize>, fd: RawFd) -> usize {
        let conn = Conn {
            fd,
            rbuf: vec![0; 4096],
            filled: 0,
            upgraded: false,
            queue: VecDeque::new(),
            sent: 0,
            recv_pending: false,
            send_pending: false,
            done: false,
            shut: false,
        };
        if let Some(slot) = free.pop() {
            conns[slot] = Some(conn);
            slot
        } else {
            conns.push(Some(conn));
            conns.len() - 1
        }
    }

    fn receive(conn: &mut Conn, slot: usize) -> squeue::Entry {
        if conn.filled == conn.rbuf.len() {
            conn.rbuf.resize(conn.rbuf.len() * 2, 0);
        }
        conn.recv_pending = true;
        let spare = &mut conn.rbuf[conn.filled..];
        opcode::Recv::new(types::Fd(conn.fd), spare.as_mut_ptr(), spare.len() as u32)
            .build()
            .user_data((slot as u64) << 1)
    }

    /// Bytes arrived: the handshake's response goes on this connection's queue, the frames
    /// to broadcast into `frames`.
    fn on_received(conn: &mut Conn, result: i32, frames: &mut Vec<u8>) {
        conn.recv_pending = false;
        let Ok(n @ 1..) = usize::try_from(result) else {
            conn.done = true;
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
            conn.done = true;
        }
    }

    fn on_sent(conn: &mut Conn, result: i32) {
        conn.send_pending = false;
        let Ok(n @ 1..) = usize::try_from(result) else {
            conn.done = true;
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
        if conn.send_pending {
            return None;
        }
        let rest = &conn.queue.front()?[conn.sent..];
        conn.send_pending = true;
        Some(
            opcode::Send::new(types::Fd(conn.fd), rest.as_ptr(), rest.len() as u32)
                .build()
                .user_data(((slot as u64) << 1) | 1),
        )
    }
}
