//! The io_uring floor: the bare echo of `floor-epoll-echo` on a completion ring instead of
//! tokio's epoll reactor, on one thread. Every receive and send of a readiness batch goes to
//! the kernel in one `io_uring_enter`, which is the most an io_uring backend could save over
//! epoll at one message in flight per connection (docs/performance.md has what it measured).
//!
//! `--multishot` receives the io_uring way servers are advised to (one multishot receive per
//! connection, filled from a ring of provided buffers, so that no receive is re-armed per
//! message and no buffer is held per idle connection); without it, a receive is submitted per
//! message into the connection's own buffer, like a readiness loop reads.
//!
//! Linux only; exits with a message where the kernel (or a seccomp filter) refuses io_uring.

#[cfg(target_os = "linux")]
fn main() {
    wskit_perf_peers::uring::main("floor-uring-echo", ring::run);
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("floor-uring-echo: io_uring is Linux only");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
mod ring {
    use std::io;
    use std::net::TcpListener;
    use std::os::fd::{AsRawFd as _, RawFd};

    use io_uring::types::BufRingEntry;
    use io_uring::{IoUring, cqueue, opcode, squeue, types};
    use wskit_perf_peers::{floor, uring};

    /// One connection. Its buffers stay where they are while the kernel holds a pointer into
    /// them: `rbuf` grows only when no receive is in flight, `sending` changes only when no
    /// send is, and the slot is freed only when neither is.
    struct Conn {
        fd: RawFd,
        rbuf: Vec<u8>,
        filled: usize,
        upgraded: bool,
        /// Echoes produced while a send was in flight.
        out: Vec<u8>,
        sending: Vec<u8>,
        sent: usize,
        ops: uring::InFlight,
    }

    /// The provided buffers of `--multishot`: `COUNT` buffers of `SIZE` bytes, handed to the
    /// kernel through a registered ring of their addresses.
    struct Provided {
        ring: *mut BufRingEntry,
        buffers: Vec<u8>,
        tail: u16,
    }

    impl Provided {
        const COUNT: u16 = 1024;
        const SIZE: usize = 16 * 1024 + 64;
        const GROUP: u16 = 0;

        fn register(ring: &IoUring) -> io::Result<Self> {
            let bytes = usize::from(Self::COUNT) * size_of::<BufRingEntry>();
            // SAFETY: an anonymous private mapping (page-aligned, as the kernel wants the ring);
            // the result is checked.
            let map = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    bytes,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if map == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let mut provided = Self {
                ring: map.cast(),
                buffers: vec![0; usize::from(Self::COUNT) * Self::SIZE],
                tail: 0,
            };
            // SAFETY: the ring is `COUNT` zeroed entries, mapped above and never unmapped.
            unsafe {
                ring.submitter().register_buf_ring_with_flags(
                    map as u64,
                    Self::COUNT,
                    Self::GROUP,
                    0,
                )?;
            }
            for bid in 0..Self::COUNT {
                provided.give_back(bid);
            }
            Ok(provided)
        }

        fn buffer(&mut self, bid: u16) -> &mut [u8] {
            let start = usize::from(bid) * Self::SIZE;
            &mut self.buffers[start..start + Self::SIZE]
        }

        /// Hands buffer `bid` to the kernel again.
        fn give_back(&mut self, bid: u16) {
            let addr = self.buffer(bid).as_mut_ptr() as u64;
            let index = usize::from(self.tail & (Self::COUNT - 1));
            // SAFETY: `index` is inside the ring; the kernel reads an entry only once the tail
            // has moved past it, which the release store below does after the entry is written.
            unsafe {
                let entry = &mut *self.ring.add(index);
                entry.set_addr(addr);
                entry.set_len(Self::SIZE as u32);
                entry.set_bid(bid);
                self.tail = self.tail.wrapping_add(1);
                let tail = BufRingEntry::tail(self.ring).cast_mut();
                std::sync::atomic::AtomicU16::from_ptr(tail)
                    .store(self.tail, std::sync::atomic::Ordering::Release);
            }
        }
    }

    pub(super) fn run() -> io::Result<()> {
        let multishot = std::env::args().any(|arg| arg == "--multishot");
        let listener = TcpListener::bind(wskit_perf_peers::listen_addr_with(&["--multishot"]))?;
        let mut ring = uring::ring()?;
        let mut provided = if multishot {
            Some(Provided::register(&ring)?)
        } else {
            None
        };
        println!("listening on ws://{}", listener.local_addr()?);
        let mut conns = uring::Slots::default();
        push(&mut ring, &uring::accept(listener.as_raw_fd()))?;
        let mut completions = Vec::new();
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
                        let slot = conns.insert(Conn::new(result, multishot));
                        let conn = conns.get(slot);
                        push(&mut ring, &receive(conn, slot, multishot))?;
                    }
                    continue;
                }
                let (slot, send) = uring::operation(data);
                let conn = conns.get(slot);
                if send {
                    on_sent(conn, result);
                } else if let Some(provided) = provided.as_mut() {
                    on_provided(conn, result, flags, provided);
                } else {
                    conn.ops.recv = false;
                    on_received(conn, result, None);
                }
                if let Some(op) = next_send(conn, slot) {
                    push(&mut ring, &op)?;
                }
                let rearm = multishot || !conn.ops.send;
                if !conn.ops.done && !conn.ops.recv && rearm {
                    push(&mut ring, &receive(conn, slot, multishot))?;
                }
                if conn.ops.settle(conn.fd) {
                    conns.remove(slot);
                }
            }
        }
    }

    /// Queues `entry`.
    fn push(ring: &mut IoUring, entry: &squeue::Entry) -> io::Result<()> {
        // SAFETY: every entry points into a `Conn` buffer that stays put until its completion
        // arrives (see `Conn`), or into `Provided`'s, which live as long as the process.
        unsafe { uring::push(ring, entry) }
    }

    impl Conn {
        fn new(fd: RawFd, multishot: bool) -> Self {
            uring::set_nodelay(fd);
            Self {
                fd,
                rbuf: if multishot {
                    Vec::new()
                } else {
                    vec![0; 16 * 1024 + 64]
                },
                filled: 0,
                upgraded: false,
                out: Vec::new(),
                sending: Vec::new(),
                sent: 0,
                ops: uring::InFlight::default(),
            }
        }
    }

    fn receive(conn: &mut Conn, slot: usize, multishot: bool) -> squeue::Entry {
        if multishot {
            conn.ops.recv = true;
            return opcode::RecvMulti::new(types::Fd(conn.fd), Provided::GROUP)
                .build()
                .user_data(uring::user_data(slot, false));
        }
        if conn.filled == conn.rbuf.len() {
            conn.rbuf.resize(conn.rbuf.len() * 2, 0);
        }
        conn.ops.recv = true;
        let spare = &mut conn.rbuf[conn.filled..];
        opcode::Recv::new(types::Fd(conn.fd), spare.as_mut_ptr(), spare.len() as u32)
            .build()
            .user_data(uring::user_data(slot, false))
    }

    /// A multishot receive's completion: the bytes are in a provided buffer, which goes back to
    /// the kernel once its bytes are echoed or kept.
    fn on_provided(conn: &mut Conn, result: i32, flags: u32, provided: &mut Provided) {
        conn.ops.recv = cqueue::more(flags);
        let Some(bid) = cqueue::buffer_select(flags) else {
            // No buffer: the receive ended (EOF, an error, or no buffer was free: ENOBUFS,
            // after which it is armed again).
            if result != -libc::ENOBUFS {
                conn.ops.done = true;
            }
            return;
        };
        let n = usize::try_from(result).unwrap_or(0);
        on_received(conn, result, Some(&mut provided.buffer(bid)[..n]));
        provided.give_back(bid);
    }

    /// `result` bytes arrived: in `conn.rbuf` after what it held, or in `provided`.
    fn on_received(conn: &mut Conn, result: i32, provided: Option<&mut [u8]>) {
        let Ok(n @ 1..) = usize::try_from(result) else {
            conn.ops.done = true;
            return;
        };
        if let Some(bytes) = provided {
            if conn.filled == 0 && conn.upgraded {
                // The common case: whole frames in one buffer, echoed from it.
                let echoed = floor::echo(bytes, &mut conn.out);
                conn.ops.done |= echoed.close.is_some();
                keep(conn, &bytes[echoed.consumed..]);
                return;
            }
            keep(conn, bytes);
        } else {
            conn.filled += n;
        }
        let mut start = 0;
        if !conn.upgraded {
            let Some((response, len)) = floor::handshake(&conn.rbuf[..conn.filled]) else {
                return;
            };
            conn.out.extend_from_slice(&response);
            conn.upgraded = true;
            start = len;
        }
        let echoed = floor::echo(&mut conn.rbuf[start..conn.filled], &mut conn.out);
        let consumed = start + echoed.consumed;
        conn.rbuf.copy_within(consumed..conn.filled, 0);
        conn.filled -= consumed;
        conn.ops.done |= echoed.close.is_some();
    }

    /// Appends `bytes` to what `conn.rbuf` holds.
    fn keep(conn: &mut Conn, bytes: &[u8]) {
        if conn.rbuf.len() < conn.filled + bytes.len() {
            conn.rbuf.resize(conn.filled + bytes.len(), 0);
        }
        conn.rbuf[conn.filled..conn.filled + bytes.len()].copy_from_slice(bytes);
        conn.filled += bytes.len();
    }

    fn on_sent(conn: &mut Conn, result: i32) {
        conn.ops.send = false;
        match usize::try_from(result) {
            Ok(n @ 1..) => conn.sent += n,
            _ => {
                conn.ops.done = true;
                conn.sending.clear();
                conn.out.clear();
            }
        }
        if conn.sent == conn.sending.len() {
            conn.sending.clear();
            conn.sent = 0;
        }
    }

    /// The send to start now: the rest of a partly sent buffer, or what was echoed since.
    fn next_send(conn: &mut Conn, slot: usize) -> Option<squeue::Entry> {
        if conn.ops.send {
            return None;
        }
        if conn.sending.is_empty() {
            std::mem::swap(&mut conn.sending, &mut conn.out);
        }
        let rest = &conn.sending[conn.sent..];
        if rest.is_empty() {
            return None;
        }
        conn.ops.send = true;
        Some(
            opcode::Send::new(types::Fd(conn.fd), rest.as_ptr(), rest.len() as u32)
                .build()
                .user_data(uring::user_data(slot, true)),
        )
    }
}
