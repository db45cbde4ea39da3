//! The queue of encoded bytes waiting to be written.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Payloads at least this long are queued by reference instead of being copied next to their
/// header; shorter ones are copied so that many small frames leave in one contiguous write.
pub(crate) const COPY_THRESHOLD: usize = 2048;

/// Encoded frames waiting to be written: a list of shared chunks followed by a contiguous
/// tail that small frames are appended to. It is a [`Buf`], so the I/O layer can hand it to a
/// vectored write.
#[derive(Debug, Default)]
pub struct Outbox {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
}

impl Outbox {
    /// The contiguous tail, to append small frames to. Call [`Outbox::commit`] after writing.
    pub(crate) fn tail(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Accounts for bytes appended to the tail by the caller.
    pub(crate) fn commit(&mut self, added: usize) {
        self.len += added;
    }

    /// Queues shared bytes without copying them.
    pub(crate) fn push_shared(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.len += bytes.len();
        self.chunks.push_back(bytes);
    }

    /// Whether nothing is waiting to be written.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Frees the tail's memory when nothing is waiting (for idle connections).
    pub fn shrink(&mut self) {
        if self.len == 0 {
            self.tail = BytesMut::new();
            self.chunks = VecDeque::new();
        }
    }
}

impl Buf for Outbox {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        match self.chunks.front() {
            Some(chunk) => chunk,
            None => &self.tail,
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.len, "advance past the end of the outbox");
        self.len -= cnt;
        while cnt > 0 {
            match self.chunks.front_mut() {
                Some(front) if front.len() <= cnt => {
                    cnt -= front.len();
                    self.chunks.pop_front();
                }
                Some(front) => {
                    front.advance(cnt);
                    cnt = 0;
                }
                None => {
                    self.tail.advance(cnt);
                    cnt = 0;
                }
            }
        }
        if self.len == 0 {
            self.tail.clear();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for chunk in self.chunks.iter().map(|c| &c[..]).chain([&self.tail[..]]) {
            if n == dst.len() {
                break;
            }
            if !chunk.is_empty() {
                dst[n] = IoSlice::new(chunk);
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;

    #[test]
    fn keeps_order_across_shared_and_copied_bytes() {
        let mut out = Outbox::default();
        out.tail().put_slice(b"ab");
        out.commit(2);
        out.push_shared(Bytes::from_static(b"cd"));
        out.tail().put_slice(b"ef");
        out.commit(2);
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(out.chunks_vectored(&mut slices), 3);
        let mut all = Vec::new();
        while out.has_remaining() {
            let chunk = out.chunk()[..1].to_vec();
            all.extend(chunk);
            out.advance(1);
        }
        assert_eq!(all, b"abcdef");
        assert!(out.is_empty());
    }
}
