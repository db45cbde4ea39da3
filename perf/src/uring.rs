//! What the io_uring floor servers share (Linux only).

use std::io;
use std::os::fd::RawFd;

use io_uring::{IoUring, squeue};

/// A ring with the flags that suit one thread (the kernel runs completions' work when the thread
/// asks for completions), or a plain one on kernels without them.
///
/// # Errors
/// When the kernel (or a seccomp filter) refuses io_uring.
pub fn ring() -> io::Result<IoUring> {
    let entries = 4096;
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(entries)
        .or_else(|_| IoUring::new(entries))
        .map_err(|err| io::Error::new(err.kind(), format!("io_uring_setup: {err}")))
}

/// Queues `entry`, submitting what is queued first when the submission queue is full.
///
/// # Safety
/// Every buffer `entry` points into must stay where it is, alive, until its completion arrives.
///
/// # Errors
/// When a submission fails.
pub unsafe fn push(ring: &mut IoUring, entry: &squeue::Entry) -> io::Result<()> {
    loop {
        // SAFETY: the caller keeps the entry's buffers in place until it completes.
        if unsafe { ring.submission().push(entry) }.is_ok() {
            return Ok(());
        }
        ring.submit()?;
    }
}

/// Waits for at least one completion (submitting what is queued); a signal is not an error.
///
/// # Errors
/// When `io_uring_enter` fails.
pub fn wait(ring: &IoUring) -> io::Result<()> {
    match ring.submit_and_wait(1) {
        Err(err) if err.raw_os_error() != Some(libc::EINTR) => Err(err),
        _ => Ok(()),
    }
}

/// Turns Nagle's algorithm off on an accepted socket, like the other servers do.
pub fn set_nodelay(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: `fd` is a socket, and the option value lives across the call.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&raw const one).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Closes a descriptor no operation is in flight on.
pub fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` and nothing uses it after this.
    unsafe { libc::close(fd) };
}

/// Shuts a socket down both ways, which ends the receives armed on it.
pub fn shutdown(fd: RawFd) {
    // SAFETY: `fd` is an open socket.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}

/// The user data of the multishot accept; a connection's operations carry its slot (see
/// [`user_data`]).
pub const ACCEPT: u64 = u64::MAX;

/// A multishot accept on the listening socket `fd`.
#[must_use]
pub fn accept(fd: RawFd) -> squeue::Entry {
    io_uring::opcode::AcceptMulti::new(io_uring::types::Fd(fd))
        .build()
        .user_data(ACCEPT)
}

/// The user data of an operation of the connection in `slot`: its slot times two, plus one for
/// a send.
#[must_use]
pub fn user_data(slot: usize, send: bool) -> u64 {
    ((slot as u64) << 1) | u64::from(send)
}

/// The slot and the kind (true: a send) of an operation, from its user data.
#[must_use]
pub fn operation(user_data: u64) -> (usize, bool) {
    ((user_data >> 1) as usize, user_data & 1 == 1)
}

/// The connections of a floor server, each in a slot that its operations name (a slot is
/// reused only once its connection is gone, with no operation in flight).
#[derive(Debug)]
pub struct Slots<T> {
    items: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slots<T> {
    /// Puts `item` in a free slot and returns the slot.
    pub fn insert(&mut self, item: T) -> usize {
        if let Some(slot) = self.free.pop() {
            self.items[slot] = Some(item);
            slot
        } else {
            self.items.push(Some(item));
            self.items.len() - 1
        }
    }

    /// The item in `slot`.
    ///
    /// # Panics
    /// When the slot is empty: a completion for a connection that is gone is a bug.
    pub fn get(&mut self, slot: usize) -> &mut T {
        self.items[slot]
            .as_mut()
            .expect("a slot with an operation in flight")
    }

    /// Empties `slot`.
    pub fn remove(&mut self, slot: usize) {
        self.items[slot] = None;
        self.free.push(slot);
    }

    /// Every item, with its slot.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut T)> {
        self.items
            .iter_mut()
            .enumerate()
            .filter_map(|(slot, item)| Some((slot, item.as_mut()?)))
    }
}

/// Where a connection's operations stand, to know when its slot may be freed.
#[derive(Debug, Default)]
pub struct InFlight {
    /// A receive is armed.
    pub recv: bool,
    /// A send is in flight.
    pub send: bool,
    /// The peer closed, a close frame came, or an operation failed: no more receives.
    pub done: bool,
    /// `shutdown` was called to end an armed receive.
    shut: bool,
}

impl InFlight {
    /// For a connection that is done: ends its armed receive (a shutdown makes it complete),
    /// and once nothing is in flight, closes `fd` and returns true (its slot may go).
    pub fn settle(&mut self, fd: RawFd) -> bool {
        if !self.done {
            return false;
        }
        if self.recv && !self.shut {
            shutdown(fd);
            self.shut = true;
        }
        if self.recv || self.send {
            return false;
        }
        close(fd);
        true
    }
}

/// The `main` of a floor server: runs `run`, and exits with `name`'s message on an error.
pub fn main(name: &str, run: fn() -> io::Result<()>) {
    if let Err(err) = run() {
        eprintln!("{name}: {err}");
        std::process::exit(1);
    }
}
