//! Read buffers of idle connections, kept per thread for the next connection that has bytes
//! to read.
//!
//! A connection frees its read buffer whenever the transport has no more bytes (so an idle
//! connection holds none), which in an echo or request/response exchange is after every
//! message. Allocating a fresh 8 KiB buffer each time costs more in `malloc` than parsing a
//! small message; taking one from this pool costs a `Vec::pop`.
//!
//! Only a buffer no message still refers to is kept (a payload split off it and still held
//! by the application keeps the allocation alive; such a buffer is dropped instead), and only
//! [`POOLED_BUFFERS`] of at most [`MAX_POOLED_CAPACITY`] bytes per thread, so the pool holds at
//! most 512 KiB per thread, usually [`POOLED_BUFFERS`] × 8 KiB.

use std::cell::RefCell;

use bytes::BytesMut;

/// A buffer for reading: one from the pool, or an empty one (allocated on first reserve).
pub(crate) fn take() -> BytesMut {
    POOL.with(|pool| pool.borrow_mut().pop())
        .unwrap_or_default()
}

/// Returns an empty buffer to the pool, if no message refers to it, it is not too large and
/// the pool has room; otherwise drops it.
pub(crate) fn give(mut buf: BytesMut) {
    debug_assert!(buf.is_empty(), "only empty buffers are pooled");
    // Asking for more than the buffer's capacity reclaims the whole allocation when nothing
    // else refers to it, and fails when a payload split off it is still held (or nothing was
    // ever read into it: rare, and dropping it is harmless).
    let whole = buf.try_reclaim(buf.capacity() + 1);
    if !whole || !(MIN_POOLED_CAPACITY..=MAX_POOLED_CAPACITY).contains(&buf.capacity()) {
        return;
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOLED_BUFFERS {
            pool.push(buf);
        }
    });
}

thread_local! {
    static POOL: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// Buffers kept per thread.
const POOLED_BUFFERS: usize = 8;

/// Larger buffers (read for large frames) are freed rather than kept.
const MAX_POOLED_CAPACITY: usize = 64 * 1024;

/// Smaller buffers (the handshake's) are freed rather than kept.
const MIN_POOLED_CAPACITY: usize = 4 * 1024;

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;

    #[test]
    fn a_buffer_comes_back_with_its_allocation() {
        let buf = used_buffer(8192);
        let start = buf.as_ptr().wrapping_sub(b"a message".len());
        give(buf);
        let again = take();
        assert_eq!(again.as_ptr(), start);
        assert!(again.capacity() >= 8192);
    }

    #[test]
    fn a_buffer_whose_payload_is_still_held_is_not_kept() {
        let mut buf = BytesMut::with_capacity(8192);
        buf.put_slice(b"a message");
        let message = buf.split().freeze();
        give(buf);
        assert_eq!(take().capacity(), 0);
        assert_eq!(&message[..], b"a message");
    }

    /// A read buffer after a message was read and dropped.
    fn used_buffer(capacity: usize) -> BytesMut {
        let mut buf = BytesMut::with_capacity(capacity);
        buf.put_slice(b"a message");
        drop(buf.split().freeze());
        buf
    }

    #[test]
    fn at_most_a_few_buffers_of_a_bounded_size_are_kept() {
        give(used_buffer(MAX_POOLED_CAPACITY * 2));
        give(used_buffer(1024));
        assert_eq!(take().capacity(), 0);
        for _ in 0..POOLED_BUFFERS + 4 {
            give(used_buffer(8192));
        }
        let kept = std::iter::from_fn(|| Some(take()))
            .take_while(|buf| buf.capacity() > 0)
            .count();
        assert_eq!(kept, POOLED_BUFFERS);
    }
}
