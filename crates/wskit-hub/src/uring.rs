//! A broadcast's direct writes submitted together: one `io_uring_enter` for a batch of
//! sockets instead of one `send` system call each (Linux).
//!
//! The fan-out (`fanout.rs`, `direct.rs`) writes a shared frame into every idle connection's
//! socket. Each of those writes is a `send` system call; here they go to the kernel as a batch
//! of `IORING_OP_SEND` entries on a per-thread ring, flagged `MSG_DONTWAIT`: each is tried
//! once, inline, during the submission, and a socket that cannot take the frame completes at
//! once with `EAGAIN` rather than waiting (io_uring then never arms a poll or hands the send to
//! a worker). So when `submit_and_wait` returns, every send of the batch has completed, exactly
//! as if each had been a non-blocking `send`.
//!
//! What it is worth, measured with `wskit echo --broadcast` and `--no-io-uring` in one run
//! (docs/performance.md): at 1,000 receivers about 1.15× the deliveries per server CPU-second,
//! level at 100. Two settings matter, each about 10 % there: the ring runs its completion work
//! only when this thread asks for completions (`DEFER_TASKRUN`, with `SINGLE_ISSUER`: the ring
//! is this thread's alone), and a batch holds 1,024 sends, so that a broadcast to 1,000 is one
//! submission (at 256, four submissions cost the difference).
//!
//! Chosen at run time: a thread's first batch creates its ring (about 100 KiB of ring memory),
//! and where the kernel refuses io_uring (too old, `kernel.io_uring_disabled`, a seccomp
//! filter) that thread sends one socket at a time, as without it.
//! [`HubOptions::io_uring`](crate::HubOptions::io_uring) turns it off.

use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;

use io_uring::{IoUring, opcode, types};

/// Sends per submission: the ring's size. Larger batches are sent in several submissions.
const ENTRIES: u32 = 1024;

thread_local! {
    /// This thread's ring: `None` until its first batch, then `Some(None)` where io_uring is
    /// not to be had.
    static RING: RefCell<Option<Option<IoUring>>> = const { RefCell::new(None) };
}

/// Sends `frame` on each of `fds` without waiting, in as few system calls as the ring allows:
/// `results[i]` is what a non-blocking `send` on `fds[i]` would have returned (the bytes the
/// socket took, or the error, `WouldBlock` for a full socket buffer). Returns false when
/// io_uring is not available on this thread: the caller sends itself.
///
/// # Safety
/// Every descriptor of `fds` must be an open socket that stays open, and is written by no one
/// else, until this returns (the fan-out holds each connection's queue lock; see `direct.rs`).
#[allow(unsafe_code)]
pub(crate) unsafe fn send_all(
    fds: &[RawFd],
    frame: &[u8],
    results: &mut Vec<io::Result<usize>>,
) -> bool {
    results.clear();
    RING.with_borrow_mut(|slot| {
        let Some(ring) = slot.get_or_insert_with(new_ring) else {
            return false;
        };
        let mut failed = None;
        for chunk in fds.chunks(ENTRIES as usize) {
            // SAFETY: the caller keeps the descriptors open and unwritten by others until we
            // return; `frame` is borrowed for the whole call, and `submit_chunk` reaps every
            // completion of the chunk before it returns.
            if let Err(err) = unsafe { submit_chunk(ring, chunk, frame, results) } {
                failed = Some(err);
                break;
            }
        }
        if let Some(err) = failed {
            // `io_uring_enter` failed. The ring is dropped (with any entries the kernel never
            // took) and this thread sends on its own from now on. The sends not made are
            // reported as a full socket would be (the caller queues the frame); those whose
            // outcome is unknown stay `Unknown`.
            tracing::warn!(%err, "io_uring submission failed; sending one socket at a time");
            *slot = Some(None);
            let done = results.len();
            results.extend((done..fds.len()).map(|_| Err(io::ErrorKind::WouldBlock.into())));
        }
        true
    })
}

/// A ring for this thread, or `None` where the kernel refuses one. Without `DEFER_TASKRUN`
/// (before Linux 6.1) the ring is a plain one.
fn new_ring() -> Option<IoUring> {
    let ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(ENTRIES)
        .or_else(|_| IoUring::new(ENTRIES));
    match ring {
        Ok(ring) => Some(ring),
        Err(err) => {
            tracing::debug!(%err, "io_uring unavailable; broadcasts send one socket at a time");
            None
        }
    }
}

/// Submits one send of `frame` per descriptor of `fds` (at most `ENTRIES`), waits for all of
/// their completions, and appends their results to `results` in the order of `fds`.
///
/// An `Err` means the kernel took none of the sends (nothing is appended, nothing was
/// written). Should the wait fail after it took them, which the kernel does not do with
/// inline sends, the sends whose completion could not be read are reported as [`Unknown`].
///
/// # Safety
/// As [`send_all`].
#[allow(unsafe_code)]
unsafe fn submit_chunk(
    ring: &mut IoUring,
    fds: &[RawFd],
    frame: &[u8],
    results: &mut Vec<io::Result<usize>>,
) -> io::Result<()> {
    // `frame` may exceed what one send entry can name; a longer one is sent in part, as a
    // `send` of it could be too, and the caller queues the rest.
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    {
        let mut queue = ring.submission();
        for (i, &fd) in fds.iter().enumerate() {
            let entry = opcode::Send::new(types::Fd(fd), frame.as_ptr(), len)
                .flags(libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
                .build()
                .user_data(i as u64);
            // SAFETY: the descriptor and `frame` stay valid until the completion is reaped,
            // below, before this function returns (the caller's guarantee for the descriptor).
            // The queue has room: it holds `ENTRIES` and is empty between chunks.
            unsafe { queue.push(&entry) }
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
    }
    let base = results.len();
    results.extend(fds.iter().map(|_| Err(Unknown.into())));
    let mut reaped = 0;
    let mut failures = 0;
    while reaped < fds.len() {
        if let Err(err) = ring.submit_and_wait(fds.len() - reaped) {
            let taken = ring.submission().is_empty();
            let retry = err.kind() == io::ErrorKind::Interrupted
                || matches!(err.raw_os_error(), Some(libc::EAGAIN | libc::EBUSY));
            failures += 1;
            if !taken && (!retry || failures > 3) {
                results.truncate(base);
                return Err(err);
            }
            if taken && !retry {
                reap(ring, &mut results[base..]);
                return Err(err);
            }
        }
        reaped += reap(ring, &mut results[base..]);
    }
    Ok(())
}

/// Moves the completions the ring holds into `results` (by index); returns how many.
fn reap(ring: &mut IoUring, results: &mut [io::Result<usize>]) -> usize {
    let mut reaped = 0;
    for cqe in ring.completion() {
        let result = cqe.result();
        results[cqe.user_data() as usize] = match usize::try_from(result) {
            Ok(sent) => Ok(sent),
            Err(_) => Err(io::Error::from_raw_os_error(-result)),
        };
        reaped += 1;
    }
    reaped
}

/// The error of a send whose outcome is unknown: the kernel took it, but its completion could
/// not be read. Some of the frame may be in the socket, so the stream cannot go on.
#[derive(Debug)]
pub(crate) struct Unknown;

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("io_uring send with an unknown outcome")
    }
}

impl std::error::Error for Unknown {}

impl From<Unknown> for io::Error {
    fn from(unknown: Unknown) -> Self {
        Self::other(unknown)
    }
}

impl Unknown {
    /// Whether `err` is an [`Unknown`] outcome.
    pub(crate) fn is(err: &io::Error) -> bool {
        err.get_ref().is_some_and(|inner| inner.is::<Self>())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::os::fd::AsRawFd as _;
    use std::os::unix::net::UnixStream;

    use super::*;

    /// The differential test of `send_all`: what it reports for each socket is what a
    /// non-blocking `send` would have, byte for byte, including a full socket and a closed
    /// peer.
    #[test]
    #[allow(unsafe_code)]
    fn a_batch_sends_what_one_send_per_socket_would() {
        let pairs: Vec<(UnixStream, UnixStream)> =
            (0..300).map(|_| UnixStream::pair().unwrap()).collect();
        for (ours, _) in &pairs {
            ours.set_nonblocking(true).unwrap();
        }
        // Socket 7's buffer is full; socket 9's peer is gone.
        let full = &pairs[7].0;
        while socket2::SockRef::from(full).send(&[0; 4096]).is_ok() {}
        pairs[9].1.shutdown(std::net::Shutdown::Both).unwrap();

        let frame: Vec<u8> = (0..=255).collect();
        let fds: Vec<RawFd> = pairs.iter().map(|(ours, _)| ours.as_raw_fd()).collect();
        let mut results = Vec::new();
        // SAFETY: the sockets outlive the call and nothing else writes them meanwhile.
        let batched = unsafe { send_all(&fds, &frame, &mut results) };
        if !batched {
            // io_uring is refused here: the fallback is the caller's, and this test has
            // nothing to compare. (CI's machine allows io_uring; `io_uring_is_used` checks.)
            assert!(results.is_empty());
            return;
        }
        assert_eq!(results.len(), pairs.len());
        for (i, ((_, theirs), result)) in pairs.iter().zip(&results).enumerate() {
            match i {
                7 => assert_eq!(
                    result.as_ref().unwrap_err().kind(),
                    io::ErrorKind::WouldBlock
                ),
                9 => assert_eq!(
                    result.as_ref().unwrap_err().kind(),
                    io::ErrorKind::BrokenPipe,
                    "a closed peer is EPIPE, without SIGPIPE"
                ),
                _ => {
                    assert_eq!(*result.as_ref().unwrap(), frame.len(), "socket {i}");
                    let mut got = vec![0; frame.len()];
                    (&*theirs).read_exact(&mut got).unwrap();
                    assert_eq!(got, frame, "socket {i}");
                }
            }
        }
    }

    /// The kernels this project runs on (CI included) allow io_uring: a test run that silently
    /// fell back would not test the batch at all.
    #[test]
    fn io_uring_is_used() {
        assert!(
            new_ring().is_some(),
            "io_uring_setup failed: broadcasts would send one socket at a time"
        );
    }
}
