//! Per-connection rates: token buckets, one for every message and one for `presence`.
//!
//! A bucket holds up to `rate` tokens and gains `rate` a second; each message takes one. A
//! message that finds the bucket empty is refused (`rate_limited`), and a connection that
//! goes on sending a further second's worth of refused messages is closed (1008).

use std::time::Instant;

/// A token bucket of `rate` a second, as deep as `rate`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bucket {
    tokens: f64,
    /// When `tokens` was last brought up to date; `None` before the first message (full).
    last: Option<Instant>,
    /// Messages refused since the last one let through.
    refused: u32,
    /// The connection was told to close: nothing more is answered.
    closing: bool,
}

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Handle it.
    Pass,
    /// Refuse it with `rate_limited`.
    Refuse,
    /// Refuse it and close the connection with 1008.
    Close,
    /// Drop it without an answer: the connection is closing.
    Ignore,
}

// ===== impl Bucket =====

impl Bucket {
    /// Takes a token for a message at `now`, with the bucket's `rate` (messages a second).
    pub(crate) fn take(&mut self, rate: usize, now: Instant) -> Verdict {
        #[allow(clippy::cast_precision_loss, reason = "rates are far below 2^52")]
        let rate = rate as f64;
        self.tokens = match self.last {
            None => rate,
            Some(last) => (self.tokens + now.duration_since(last).as_secs_f64() * rate).min(rate),
        };
        self.last = Some(now);
        if self.tokens >= 1.0 && !self.closing {
            self.tokens -= 1.0;
            self.refused = 0;
            return Verdict::Pass;
        }
        self.refused = self.refused.saturating_add(1);
        if self.closing {
            Verdict::Ignore
        } else if f64::from(self.refused) > rate {
            self.closing = true;
            Verdict::Close
        } else {
            Verdict::Refuse
        }
    }
}

/// A connection's buckets.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rates {
    pub(crate) messages: Bucket,
    pub(crate) presence: Bucket,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_then_refusals_then_the_close_and_refill() {
        let start = Instant::now();
        let mut bucket = Bucket::default();
        for _ in 0..10 {
            assert_eq!(bucket.take(10, start), Verdict::Pass);
        }
        for _ in 0..10 {
            assert_eq!(bucket.take(10, start), Verdict::Refuse);
        }
        assert_eq!(bucket.take(10, start), Verdict::Close);
        assert_eq!(bucket.take(10, start), Verdict::Ignore);
        let mut bucket = Bucket::default();
        for _ in 0..11 {
            bucket.take(10, start);
        }
        // A tenth of a second later there is one token again.
        let later = start + Duration::from_millis(100);
        assert_eq!(bucket.take(10, later), Verdict::Pass);
        assert_eq!(bucket.take(10, later), Verdict::Refuse);
        // Full after a second, never fuller.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..10 {
            assert_eq!(bucket.take(10, much_later), Verdict::Pass);
        }
        assert_eq!(bucket.take(10, much_later), Verdict::Refuse);
    }
}
