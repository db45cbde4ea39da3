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
