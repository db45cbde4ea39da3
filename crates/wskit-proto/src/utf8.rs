//! Incremental UTF-8 validation across fragments.
//!
//! A text message may be split into frames at any byte, even inside a code point, and a
//! conformant endpoint must fail the connection as soon as the bytes received so far cannot
//! start valid UTF-8 (RFC 6455 §8.1), not only at the end of the message. [`Utf8Validator`]
//! keeps the (at most three) bytes of an incomplete code point between calls and validates
//! everything else with `simdutf8`.

use simdutf8::compat::from_utf8;

/// A streaming UTF-8 validator.
///
/// # Example
/// ```
/// use wskit_proto::utf8::Utf8Validator;
/// let euro = "€".as_bytes(); // three bytes
/// let mut v = Utf8Validator::default();
/// assert!(v.feed(&euro[..1]).is_ok()); // a valid prefix so far
/// assert!(v.feed(&euro[1..]).is_ok());
/// assert!(v.finish().is_ok());
/// assert!(Utf8Validator::default().feed(&[0xff]).is_err()); // fails at once
/// ```
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: u8,
}

/// The bytes fed so far are not the start of valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// Validates the next piece of the message.
    ///
    /// # Errors
    /// [`InvalidUtf8`] as soon as the input cannot be part of valid UTF-8.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), InvalidUtf8> {
        while self.partial_len > 0 {
            let Some((&byte, rest)) = input.split_first() else {
                return Ok(());
            };
            input = rest;
            self.partial[usize::from(self.partial_len)] = byte;
            self.partial_len += 1;
            match from_utf8(&self.partial[..usize::from(self.partial_len)]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                Err(_) if self.partial_len == 4 => return Err(InvalidUtf8),
                Err(_) => {}
            }
        }
        match from_utf8(input) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                // An incomplete code point at the end: keep it for the next piece.
                let tail = &input[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8; // at most 3
                Ok(())
            }
        }
    }

    /// Ends the message.
    ///
    /// # Errors
    /// [`InvalidUtf8`] when the message ends inside a code point.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.partial_len == 0;
        self.partial_len = 0;
        if complete { Ok(()) } else { Err(InvalidUtf8) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate_split(bytes: &[u8]) -> Vec<bool> {
        // For every split point, feed two pieces; collect whether the whole was accepted.
        (0..=bytes.len())
            .map(|cut| {
                let mut v = Utf8Validator::default();
                v.feed(&bytes[..cut]).is_ok() && v.feed(&bytes[cut..]).is_ok() && v.finish().is_ok()
            })
            .collect()
    }

    #[test]
    fn every_split_of_valid_text_is_valid() {
        let text = "κόσμε € 𝄞 a\u{10FFFF}";
        assert!(validate_split(text.as_bytes()).iter().all(|&ok| ok));
    }

    #[test]
    fn byte_by_byte_agrees_with_std() {
        let samples: [&[u8]; 6] = [
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xf4\x90\x80\x80",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"hello\xf0\x9f\x98",
            "fine ✓".as_bytes(),
        ];
        for sample in samples {
            let mut v = Utf8Validator::default();
            let streamed = sample.iter().all(|b| v.feed(&[*b]).is_ok()) && v.finish().is_ok();
            assert_eq!(streamed, std::str::from_utf8(sample).is_ok(), "{sample:?}");
        }
    }

    #[test]
    fn fails_fast_on_the_first_bad_byte() {
        let mut v = Utf8Validator::default();
        assert!(v.feed(b"ok so far \xce").is_ok());
        assert_eq!(v.feed(b"\x41 and more"), Err(InvalidUtf8));
        // A surrogate is rejected at its second byte, before the message ends.
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(b"\xed\xa0"), Err(InvalidUtf8));
    }
}
