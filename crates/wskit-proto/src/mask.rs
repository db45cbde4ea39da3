//! Payload masking (RFC 6455 §5.3).
//!
//! Masking XORs every payload byte with one byte of a 4-byte key, cycling through the key. The
//! fast path works on 8 bytes at a time with the key widened to a `u64`; it is safe code, and
//! the compiler vectorises the loop (see `benches/mask.rs` for the comparison with a plain byte
//! loop).

/// XORs `buf` with `key`, starting at position `offset` of the key cycle.
///
/// `offset` is the number of payload bytes already masked before `buf`, so a payload can be
/// (un)masked in pieces as it arrives. Masking is its own inverse.
///
/// # Example
/// ```
/// let mut data = *b"Hello";
/// wskit_proto::mask::apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// wskit_proto::mask::apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(&data, b"Hello");
/// ```
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    if buf.len() < 32 {
        // Below this the byte loop is faster (benches/mask.rs).
        return apply_mask_bytewise(buf, key, offset);
    }
    let key = rotate_key(key, offset);
    let mut chunks = buf.chunks_exact_mut(8);
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    for chunk in &mut chunks {
        // The chunk is exactly 8 bytes long, so the conversion cannot fail.
        let word = u64::from_ne_bytes(<[u8; 8]>::try_from(&*chunk).unwrap_or([0; 8])) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

/// The reference implementation: one byte at a time. Kept for tests and benchmarks.
pub fn apply_mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in buf.iter_mut().enumerate() {
        // Wrapping: only `offset` modulo 4 matters, and any `offset` is allowed.
        *byte ^= key[i.wrapping_add(offset) & 3];
    }
}

/// Rotates the key so that index 0 lines up with payload position `offset`.
fn rotate_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    let mut k = key;
    k.rotate_left(offset & 3);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_matches_bytewise_for_every_length_offset_and_alignment() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let source: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for start in 0..8 {
            for len in 0..(source.len() - start) {
                for offset in 0..4 {
                    let mut a = source[start..start + len].to_vec();
                    let mut b = a.clone();
                    apply_mask(&mut a, key, offset);
                    apply_mask_bytewise(&mut b, key, offset);
                    assert_eq!(a, b, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn bytewise_accepts_any_offset() {
        // Found by the `unmask` fuzz target: `i + offset` overflowed (a panic in debug builds)
        // for an offset near `usize::MAX`.
        let key = [1, 2, 3, 4];
        for offset in [usize::MAX, usize::MAX - 1, usize::MAX - 2, usize::MAX - 3] {
            let mut a = [0u8; 9];
            let mut b = a;
            apply_mask(&mut a, key, offset);
            apply_mask_bytewise(&mut b, key, offset);
            assert_eq!(a, b, "offset {offset}");
        }
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..100).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut pieces = data;
        let (a, b) = pieces.split_at_mut(37);
        apply_mask(a, key, 0);
        apply_mask(b, key, 37);
        assert_eq!(whole, pieces);
    }
}
