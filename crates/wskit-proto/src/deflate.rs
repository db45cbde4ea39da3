//! permessage-deflate (RFC 7692): negotiation and the per-connection codec.
//!
//! Negotiation never fails a handshake over an offer we can refuse: a server skips offers it
//! cannot parse and answers the first one it can honour, or none. One request zlib cannot
//! meet is a compression window of 8 bits (raw deflate needs at least 9); we still honour it,
//! by sending every message uncompressed, which RFC 7692 §6 allows per message.

use std::fmt;

use flate2::{Decompress, FlushDecompress, Status};
use zlib_rs::{Deflate as Compress, DeflateFlush};

use crate::error::ProtocolError;
use crate::role::Role;

/// The extension token.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The four octets a sync flush ends with, stripped from each compressed message (§7.2.1).
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What a server accepts and a client offers.
///
/// # Example
/// ```
/// use wskit_proto::DeflateConfig;
/// let config = DeflateConfig::default()
///     .server_no_context_takeover(true)
///     .client_no_context_takeover(true)
///     .level(1);
/// assert_eq!(
///     config.offer(),
///     "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: u8,
    client_max_window_bits: u8,
    level: u32,
    threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            level: 1,
            threshold: 0,
        }
    }
}

impl DeflateConfig {
    /// Asks that the server reset its compression context after each message (less memory
    /// kept between messages, worse compression). Default: false.
    ///
    /// Memory: a side that resets its context holds no zlib state between messages (each
    /// message borrows a compressor or decompressor from a small per-thread pool); a side that
    /// keeps it holds its state, allocated on the first message, for the connection's life:
    /// with zlib-rs and 15-bit windows, about 250 KiB for a compressor at level 1 and 40 KiB for
    /// a decompressor (measured: 296 KB of server RSS per idle connection). A server
    /// that sets both `*_no_context_takeover` holds none for idle connections.
    #[must_use]
    pub fn server_no_context_takeover(mut self, on: bool) -> Self {
        self.server_no_context_takeover = on;
        self
    }

    /// Asks that the client reset its compression context after each message (on a server,
    /// agreed even when the client did not offer it, RFC 7692 §7.1.1.1). Default: false.
    ///
    /// Memory: see [`server_no_context_takeover`](Self::server_no_context_takeover); this is
    /// what lets the server drop its decompressor between messages.
    #[must_use]
    pub fn client_no_context_takeover(mut self, on: bool) -> Self {
        self.client_no_context_takeover = on;
        self
    }

    /// The largest LZ77 window (8–15 bits) the server may use. Default: 15.
    #[must_use]
    pub fn server_max_window_bits(mut self, bits: u8) -> Self {
        self.server_max_window_bits = bits.clamp(8, 15);
        self
    }

    /// The largest LZ77 window (8–15 bits) the client may use. Default: 15.
    #[must_use]
    pub fn client_max_window_bits(mut self, bits: u8) -> Self {
        self.client_max_window_bits = bits.clamp(8, 15);
        self
    }

    /// The zlib compression level, 0–9. Default: 1 (fast).
    #[must_use]
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// Messages shorter than this are sent uncompressed. Default: 0 (compress everything).
    #[must_use]
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// The `Sec-WebSocket-Extensions` value a client sends.
    ///
    /// Unless `client_no_context_takeover` is set, a second, fallback offer follows the first
    /// with `client_no_context_takeover` added: a server that insists on it (RFC 7692 lets a
    /// server skip offers without it) can still agree to compression, while any other server
    /// takes the first offer and lets us keep our compression context.
    #[must_use]
    pub fn offer(&self) -> String {
        let first = self.single_offer(self.client_no_context_takeover);
        if self.client_no_context_takeover {
            first
        } else {
            format!("{first}, {}", self.single_offer(true))
        }
    }

    fn single_offer(&self, client_no_context_takeover: bool) -> String {
        let mut offer = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            offer.push_str("; server_no_context_takeover");
        }
        if client_no_context_takeover {
            offer.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            offer.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        offer.push_str("; client_max_window_bits");
        if self.client_max_window_bits < 15 {
            offer.push_str(&format!("={}", self.client_max_window_bits));
        }
        offer
    }

    /// Server side: picks the first offer in `header_values` (the request's
    /// `Sec-WebSocket-Extensions` values) that can be honoured, and returns the response value
    /// and the agreed parameters. `None` declines permessage-deflate.
    #[must_use]
    pub fn accept_offers<'a>(
        &self,
        header_values: impl IntoIterator<Item = &'a str>,
    ) -> Option<(String, DeflateParams)> {
        header_values
            .into_iter()
            .flat_map(|value| value.split(','))
            .filter_map(|ext| Params::parse(ext).ok())
            .filter(|params| params.name == EXTENSION_NAME)
            .find_map(|offer| self.accept_offer(&offer))
    }

    fn accept_offer(&self, offer: &Params<'_>) -> Option<(String, DeflateParams)> {
        let mut agreed = DeflateParams {
            server_no_context_takeover: self.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover,
            server_max_window_bits: self.server_max_window_bits,
            client_max_window_bits: 15,
        };
        let mut client_bits_offered = None;
        for (key, value) in &offer.params {
            match (*key, value) {
                ("server_no_context_takeover", None) => agreed.server_no_context_takeover = true,
                ("client_no_context_takeover", None) => agreed.client_no_context_takeover = true,
                ("server_max_window_bits", Some(v)) => {
                    let bits = parse_bits(v)?;
                    agreed.server_max_window_bits = agreed.server_max_window_bits.min(bits);
                }
                ("client_max_window_bits", None) => client_bits_offered = Some(15),
                ("client_max_window_bits", Some(v)) => client_bits_offered = Some(parse_bits(v)?),
                _ => return None,
            }
        }
        let mut response = String::from(EXTENSION_NAME);
        if agreed.server_no_context_takeover {
            response.push_str("; server_no_context_takeover");
        }
        if agreed.client_no_context_takeover {
            response.push_str("; client_no_context_takeover");
        }
        if agreed.server_max_window_bits < 15 {
            let bits = agreed.server_max_window_bits;
            response.push_str(&format!("; server_max_window_bits={bits}"));
        }
        if let Some(offered) = client_bits_offered {
            agreed.client_max_window_bits = offered.min(self.client_max_window_bits);
            if agreed.client_max_window_bits < 15 {
                let bits = agreed.client_max_window_bits;
                response.push_str(&format!("; client_max_window_bits={bits}"));
            }
        }
        Some((response, agreed))
    }

    /// Client side: validates the server's response to our [`offer`](Self::offer).
    ///
    /// # Errors
    /// A message naming the problem when the response is not a valid answer to our offer (an
    /// unknown or repeated parameter, a bad value, a window larger than we asked for).
    pub fn accept_response(&self, value: &str) -> Result<DeflateParams, String> {
        let mut exts = value.split(',');
        let first = exts.next().unwrap_or_default();
        if exts.next().is_some() {
            return Err("more than one extension in the response".into());
        }
        let response = Params::parse(first)?;
        if response.name != EXTENSION_NAME {
            return Err(format!("unexpected extension {:?}", response.name));
        }
        let mut agreed = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: self.client_no_context_takeover,
            server_max_window_bits: 15,
            client_max_window_bits: self.client_max_window_bits,
        };
        for (key, value) in &response.params {
            match (*key, value) {
                ("server_no_context_takeover", None) => agreed.server_no_context_takeover = true,
                ("client_no_context_takeover", None) => agreed.client_no_context_takeover = true,
                ("server_max_window_bits", Some(v)) => {
                    let bits = parse_bits(v).ok_or("bad server_max_window_bits")?;
                    if bits > self.server_max_window_bits {
                        return Err("server_max_window_bits larger than offered".into());
                    }
                    agreed.server_max_window_bits = bits;
                }
                ("client_max_window_bits", Some(v)) => {
                    let bits = parse_bits(v).ok_or("bad client_max_window_bits")?;
                    if bits > self.client_max_window_bits {
                        return Err("client_max_window_bits larger than offered".into());
                    }
                    agreed.client_max_window_bits = bits;
                }
                _ => return Err(format!("unexpected parameter {key:?}")),
            }
        }
        if self.server_no_context_takeover && !agreed.server_no_context_takeover {
            return Err("server_no_context_takeover was requested but not agreed".into());
        }
        Ok(agreed)
    }

    pub(crate) fn compression_level(&self) -> u32 {
        self.level
    }

    pub(crate) fn compression_threshold(&self) -> usize {
        self.threshold
    }
}

/// The parameters both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window, in bits.
    pub server_max_window_bits: u8,
    /// The client's LZ77 window, in bits.
    pub client_max_window_bits: u8,
}

/// One extension from a `Sec-WebSocket-Extensions` list: a name and its parameters.
#[derive(Debug)]
struct Params<'a> {
    name: &'a str,
    params: Vec<(&'a str, Option<&'a str>)>,
}

impl<'a> Params<'a> {
    fn parse(ext: &'a str) -> Result<Self, String> {
        let mut parts = ext.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        if name.is_empty() {
            return Err("empty extension name".into());
        }
        let mut params: Vec<(&str, Option<&str>)> = Vec::new();
        for part in parts {
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
                None => (part, None),
            };
            if params.iter().any(|(k, _)| *k == key) {
                return Err(format!("parameter {key:?} repeated"));
            }
            params.push((key, value));
        }
        Ok(Self { name, params })
    }
}

fn parse_bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// The compressor and decompressor of one connection.
///
/// # Memory
///
/// zlib state is large (with zlib-rs and a 15-bit window, about 250 KiB resident for a
/// compressor at level 1, 300 KiB at other levels, and about 40 KiB for a decompressor,
/// whatever the window size), so a codec holds none while idle where the negotiated
/// parameters allow it:
///
/// - A direction without context takeover (`*_no_context_takeover` for that side) starts every
///   message from an empty window, so nothing needs to survive between messages: the state is
///   taken from a small per-thread pool when a message starts and goes back, reset, when it
///   ends. An idle connection then holds no zlib state in that direction, and a thread keeps at
///   most [`POOL_CAPACITY`] compressors and as many decompressors however many connections it
///   serves.
/// - A direction with context takeover must keep its window from one message to the next
///   (RFC 7692 §7.2.1), so its state is allocated on the first message and kept for the
///   connection's life.
///
/// A connection that never sends or receives a compressed message holds no zlib state either way.
pub(crate) struct DeflateCodec {
    /// Our compressor, kept between messages only with context takeover. Boxed, as the
    /// decompressor: flate2 keeps about 150 bytes inline, which every idle codec would hold.
    compress: Option<Box<Compress>>,
    /// The peer's decompressor: kept between messages only with context takeover, and held
    /// during a fragmented message either way.
    decompress: Option<Box<Decompress>>,
    /// Our window; `None` means we never compress (a window of 8 bits was required).
    own_window_bits: Option<u8>,
    own_no_context_takeover: bool,
    peer_no_context_takeover: bool,
    /// The peer's DEFLATE stream ended (a block with BFINAL set) and nothing followed yet.
    peer_stream_ended: bool,
    level: u32,
    threshold: usize,
}

impl fmt::Debug for DeflateCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeflateCodec")
            .field("own_window_bits", &self.own_window_bits)
            .field("own_no_context_takeover", &self.own_no_context_takeover)
            .field("peer_no_context_takeover", &self.peer_no_context_takeover)
            .field("holds_state", &self.holds_state())
            .finish_non_exhaustive()
    }
}

impl DeflateCodec {
    pub(crate) fn new(params: DeflateParams, role: Role, config: &DeflateConfig) -> Self {
        let (own_bits, own_nct, peer_nct) = match role {
            Role::Server => (
                params.server_max_window_bits,
                params.server_no_context_takeover,
                params.client_no_context_takeover,
            ),
            Role::Client => (
                params.client_max_window_bits,
                params.client_no_context_takeover,
                params.server_no_context_takeover,
            ),
        };
        Self {
            compress: None,
            decompress: None,
            own_window_bits: (own_bits >= 9).then_some(own_bits),
            own_no_context_takeover: own_nct,
            peer_no_context_takeover: peer_nct,
            peer_stream_ended: false,
            level: config.compression_level(),
            threshold: config.compression_threshold(),
        }
    }

    /// Whether a message of `len` bytes should be compressed.
    pub(crate) fn should_compress(&self, len: usize) -> bool {
        self.own_window_bits.is_some() && len >= self.threshold
    }

    /// Whether this codec holds zlib state (a compressor or a decompressor) right now.
    pub(crate) fn holds_state(&self) -> bool {
        self.compress.is_some() || self.decompress.is_some()
    }

    /// Compresses one whole message into `out` (appended), without the sync-flush tail.
    pub(crate) fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let bits = self.own_window_bits.unwrap_or(15);
        if self.own_no_context_takeover {
            let mut c = pool::take_compressor(bits, self.level);
            deflate_message(&mut c, payload, out);
            pool::give_compressor(bits, self.level, c);
            return;
        }
        let level = self.level;
        let c = self
            .compress
            .get_or_insert_with(|| new_compressor(bits, level));
        deflate_message(c, payload, out);
    }

    /// The settings under which a message compressed on its own, by a fresh compressor, is
    /// exactly what this connection would send: `(window bits, level)` when our side resets
    /// its context after every message (`*_no_context_takeover` for our role), else `None`
    /// (with context takeover, the peer's window would hold data our compressor never saw).
    pub(crate) fn shared_settings(&self) -> Option<(u8, u32)> {
        let bits = self.own_window_bits?;
        self.own_no_context_takeover.then_some((bits, self.level))
    }

    /// Compresses one message with a fresh compressor of `bits` and `level` (see
    /// [`shared_settings`](Self::shared_settings)).
    pub(crate) fn compress_alone(payload: &[u8], bits: u8, level: u32) -> Vec<u8> {
        let mut c = pool::take_compressor(bits, level);
        let mut out = Vec::with_capacity(payload.len() / 2 + 16);
        deflate_message(&mut c, payload, &mut out);
        pool::give_compressor(bits, level, c);
        out
    }

    /// Inflates `input` (part of a compressed message) and appends to `out`, failing when `out`
    /// would grow beyond `limit` bytes. `last` marks the end of the message.
    pub(crate) fn decompress(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        let no_context_takeover = self.peer_no_context_takeover;
        // Always a 15-bit window: it inflates a stream made with any smaller one (zlib-rs
        // allocates the full window whatever the size), and every pooled decompressor is alike.
        let d = self.decompress.get_or_insert_with(|| {
            if no_context_takeover {
                pool::take_decompressor()
            } else {
                Box::new(Decompress::new_with_window_bits(false, 15))
            }
        });
        inflate_into(d, input, out, limit, &mut self.peer_stream_ended)?;
        if last {
            // A message whose stream ended with its last bit (a BFINAL block without the empty
            // block octet of RFC 7692 §7.2.3.4) is complete: in the new stream the tail would
            // open a stored block that the next message could not close.
            if !self.peer_stream_ended {
                inflate_into(d, &SYNC_TAIL, out, limit, &mut self.peer_stream_ended)?;
            }
            self.peer_stream_ended = false;
            if no_context_takeover {
                if let Some(d) = self.decompress.take() {
                    pool::give_decompressor(d);
                }
            }
        }
        Ok(())
    }
}

/// Most compressors, and most decompressors, a thread keeps for connections without context
/// takeover. A single-threaded server handles one message at a time, so it uses one of each;
/// the rest covers decompressors held by fragmented messages still arriving.
pub(crate) const POOL_CAPACITY: usize = 4;

/// The per-thread pool of zlib state for directions without context takeover.
///
/// Everything in it is reset, so a state taken from it is as good as a new one. When the
/// thread's pool is gone (the thread is exiting) or full, states are simply created or dropped.
mod pool {
    use std::cell::RefCell;

    use flate2::Decompress;

    use super::{Compress, POOL_CAPACITY, new_compressor};

    #[derive(Default)]
    struct Pool {
        /// Compressors, each with the `(window bits, level)` it was made with.
        compressors: Vec<((u8, u32), Box<Compress>)>,
        /// Decompressors, all with a 15-bit window.
        #[allow(
            clippy::vec_box,
            reason = "codecs hold them boxed; they move in and out without being copied"
        )]
        decompressors: Vec<Box<Decompress>>,
    }

    thread_local! {
        static POOL: RefCell<Pool> = RefCell::default();
    }

    /// A reset compressor for `bits` and `level`, from the pool or new.
    pub(super) fn take_compressor(bits: u8, level: u32) -> Box<Compress> {
        let pooled = POOL
            .try_with(|pool| {
                let mut pool = pool.borrow_mut();
                let at = pool
                    .compressors
                    .iter()
                    .rposition(|(made_with, _)| *made_with == (bits, level))?;
                Some(pool.compressors.swap_remove(at).1)
            })
            .ok()
            .flatten();
        pooled.unwrap_or_else(|| new_compressor(bits, level))
    }

    /// Resets `c` and keeps it for the next message, unless the pool is full.
    pub(super) fn give_compressor(bits: u8, level: u32, mut c: Box<Compress>) {
        c.reset();
        let _ = POOL.try_with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.compressors.len() == POOL_CAPACITY {
                // The oldest goes: the pool follows the settings in use now.
                pool.compressors.remove(0);
            }
            pool.compressors.push(((bits, level), c));
        });
    }

    /// A reset decompressor with a 15-bit window, from the pool or new.
    pub(super) fn take_decompressor() -> Box<Decompress> {
        POOL.try_with(|pool| pool.borrow_mut().decompressors.pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| Box::new(Decompress::new_with_window_bits(false, 15)))
    }

    /// Resets `d` and keeps it for the next message, unless the pool is full.
    pub(super) fn give_decompressor(mut d: Box<Decompress>) {
        d.reset(false);
        let _ = POOL.try_with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.decompressors.len() < POOL_CAPACITY {
                pool.decompressors.push(d);
            }
        });
    }

    /// How many compressors and decompressors this thread's pool holds (for tests).
    #[cfg(test)]
    pub(super) fn sizes() -> (usize, usize) {
        POOL.with(|pool| {
            let pool = pool.borrow();
            (pool.compressors.len(), pool.decompressors.len())
        })
    }
}

/// The zlib `memLevel` of compressors at level 1. zlib-rs's level 1 (`deflate_quick`) writes
/// fixed-code blocks straight to its pending buffer and never uses the symbol buffer, whose
/// sizes both follow `memLevel` (4 × and 3 × `2^(memLevel + 6)` bytes): at 4 instead of zlib's
/// default 8, a compressor allocates about 260 KiB instead of 365 KiB, and each reset clears
/// 3 KiB of symbol buffer instead of 48 KiB (that buffer is always resident: measured, 45 KB
/// less RSS per connection with context takeover), for the same output. Other levels keep 8,
/// as their dynamic-code blocks end when the symbol buffer fills.
const QUICK_MEM_LEVEL: i32 = 4;

/// A raw-deflate compressor with a window of `bits` at `level` (0–9).
fn new_compressor(bits: u8, level: u32) -> Box<Compress> {
    let level = i32::try_from(level.min(9)).unwrap_or(1);
    Box::new(Compress::new_with_config(zlib_rs::DeflateConfig {
        level,
        // Negative: raw deflate, no zlib header.
        window_bits: -i32::from(bits.clamp(9, 15)),
        mem_level: if level == 1 { QUICK_MEM_LEVEL } else { 8 },
        ..zlib_rs::DeflateConfig::default()
    }))
}

/// Compresses one whole message into `out` (appended) with a sync flush, then drops the
/// sync-flush tail (RFC 7692 §7.2.1).
fn deflate_message(c: &mut Compress, payload: &[u8], out: &mut Vec<u8>) {
    let start_len = out.len();
    let mut consumed = 0;
    loop {
        let filled = out.len();
        // zlib-rs writes into initialised bytes only (no `unsafe` here); the zeroing is small
        // next to the compression.
        out.resize(filled + payload.len() / 2 + 64, 0);
        let (before_in, before_out) = (c.total_in(), c.total_out());
        // Compression with room in the output cannot fail for valid parameters.
        let _ = c.compress(
            &payload[consumed..],
            &mut out[filled..],
            DeflateFlush::SyncFlush,
        );
        let written = usize::try_from(c.total_out() - before_out).unwrap_or(0);
        consumed += usize::try_from(c.total_in() - before_in).unwrap_or(payload.len());
        let output_full = filled + written == out.len();
        out.truncate(filled + written);
        if consumed >= payload.len() && !output_full {
            break;
        }
        if written == 0 && consumed >= payload.len() {
            break;
        }
    }
    if out.len() >= start_len + 4 && out.ends_with(&SYNC_TAIL) {
        out.truncate(out.len() - 4);
    }
    if out.len() == start_len {
        // Nothing new to flush (an empty message): an empty stored block (§7.2.3.6).
        out.push(0x00);
    }
}

/// Inflates `input` into `out`, failing when `out` would grow beyond `limit` bytes.
///
/// RFC 7692 §7.2.1 lets the peer end its DEFLATE stream with a BFINAL block; what follows (the
/// rest of the message and the next messages) is then a new stream, so the inflater is reset
/// rather than left finished, which would turn every later message into an empty one.
/// `ended` tells whether the stream ended with no input consumed since.
fn inflate_into(
    d: &mut Decompress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    ended: &mut bool,
) -> Result<(), ProtocolError> {
    loop {
        let room = limit.saturating_add(1).saturating_sub(out.len());
        if room == 0 {
            return Err(ProtocolError::MessageTooLarge { max: limit });
        }
        if out.capacity() == out.len() {
            // Grow by doubling, never past the limit (plus one byte to detect overflow).
            out.reserve_exact(out.len().max(4096).min(room));
        }
        let (before_in, before_out) = (d.total_in(), d.total_out());
        let status = d
            .decompress_vec(input, out, FlushDecompress::Sync)
            .map_err(|e| ProtocolError::InvalidCompressedData(e.to_string()))?;
        if out.len() > limit {
            return Err(ProtocolError::MessageTooLarge { max: limit });
        }
        let used =
            usize::try_from(d.total_in() - before_in).map_or(input.len(), |n| n.min(input.len()));
        input = &input[used..];
        let progressed = used > 0 || d.total_out() != before_out;
        if used > 0 {
            *ended = false;
        }
        if status == Status::StreamEnd {
            d.reset(false);
            *ended = true;
            if input.is_empty() || !progressed {
                return Ok(());
            }
            continue;
        }
        let output_full = out.len() == out.capacity();
        if (input.is_empty() && !output_full) || !progressed {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_accepts_first_valid_offer() {
        let config = DeflateConfig::default();
        let (response, params) = config
            .accept_offers([
                "permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=10; client_max_window_bits",
            ])
            .unwrap();
        assert_eq!(response, "permessage-deflate; server_max_window_bits=10");
        assert_eq!(params.server_max_window_bits, 10);
    }

    #[test]
    fn server_declines_only_bad_offers() {
        let config = DeflateConfig::default();
        assert!(
            config
                .accept_offers(["permessage-deflate; server_max_window_bits=7"])
                .is_none()
        );
        assert!(
            config
                .accept_offers(["permessage-deflate; server_max_window_bits"])
                .is_none()
        );
        assert!(config.accept_offers(["x-webkit-deflate-frame"]).is_none());
        assert!(
            config
                .accept_offers([
                    "permessage-deflate; client_no_context_takeover; client_no_context_takeover"
                ])
                .is_none()
        );
        let (response, _) = config
            .accept_offers(["permessage-deflate; client_max_window_bits=\"10\""])
            .unwrap();
        assert_eq!(response, "permessage-deflate; client_max_window_bits=10");
    }

    #[test]
    fn client_offers_a_fallback_without_context_takeover() {
        let config = DeflateConfig::default();
        let offer = config.offer();
        assert_eq!(
            offer,
            "permessage-deflate; client_max_window_bits, \
             permessage-deflate; client_no_context_takeover; client_max_window_bits"
        );
        // A server that takes the first offer keeps context takeover for the client.
        let (_, params) = config.accept_offers([offer.as_str()]).unwrap();
        assert!(!params.client_no_context_takeover);
        // A response to the second offer is a valid answer too.
        let params = config
            .accept_response(
                "permessage-deflate; client_no_context_takeover; client_max_window_bits=9",
            )
            .unwrap();
        assert!(params.client_no_context_takeover);
    }

    #[test]
    fn client_validates_response() {
        let config = DeflateConfig::default();
        let params = config
            .accept_response(
                "permessage-deflate; server_no_context_takeover; client_max_window_bits=9",
            )
            .unwrap();
        assert!(params.server_no_context_takeover);
        assert_eq!(params.client_max_window_bits, 9);
        assert!(config.accept_response("permessage-deflate; bogus").is_err());
        assert!(
            config
                .accept_response("permessage-deflate, permessage-deflate")
                .is_err()
        );
        let small = DeflateConfig::default().server_max_window_bits(10);
        assert!(
            small
                .accept_response("permessage-deflate; server_max_window_bits=12")
                .is_err()
        );
    }

    #[test]
    fn roundtrip_with_and_without_context_takeover() {
        for nct in [false, true] {
            let params = DeflateParams {
                server_no_context_takeover: nct,
                client_no_context_takeover: nct,
                server_max_window_bits: 15,
                client_max_window_bits: 10,
            };
            let config = DeflateConfig::default();
            let mut server = DeflateCodec::new(params, Role::Server, &config);
            let mut client = DeflateCodec::new(params, Role::Client, &config);
            for msg in [&b"hello hello hello"[..], b"", &[7u8; 100_000]] {
                let mut wire = Vec::new();
                server.compress(msg, &mut wire);
                let mut plain = Vec::new();
                client.decompress(&wire, true, &mut plain, 1 << 20).unwrap();
                assert_eq!(plain, msg);
            }
        }
    }

    fn params(no_context_takeover: bool) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: no_context_takeover,
            client_no_context_takeover: no_context_takeover,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }

    /// JSON-like text that differs from one message to the next.
    fn json_message(i: usize) -> Vec<u8> {
        let mut msg = String::new();
        for j in 0..(i % 40) {
            msg.push_str(&format!(
                r#"{{"id":{i},"item":{j},"name":"user-{}","active":true}},"#,
                (i * 7 + j) % 13
            ));
        }
        msg.into_bytes()
    }

    #[test]
    fn no_state_is_held_between_messages_without_context_takeover() {
        let config = DeflateConfig::default();
        let mut server = DeflateCodec::new(params(true), Role::Server, &config);
        let mut client = DeflateCodec::new(params(true), Role::Client, &config);
        assert!(!server.holds_state() && !client.holds_state());
        for i in 0..300 {
            let msg = json_message(i);
            let mut wire = Vec::new();
            server.compress(&msg, &mut wire);
            // Each message is compressed as if by a fresh compressor: pooled state is reset.
            assert_eq!(
                wire,
                DeflateCodec::compress_alone(&msg, 15, 1),
                "message {i}"
            );
            let mut plain = Vec::new();
            client.decompress(&wire, true, &mut plain, 1 << 20).unwrap();
            assert_eq!(plain, msg, "message {i}");
            assert!(!server.holds_state(), "compressor kept after message {i}");
            assert!(!client.holds_state(), "decompressor kept after message {i}");
        }
        // One of each was enough for all 300 messages.
        assert_eq!(pool::sizes(), (1, 1));
    }

    /// Every idle compressed connection holds its codec: keep it to a few words.
    #[test]
    fn an_idle_codec_is_small() {
        let size = size_of::<DeflateCodec>();
        assert!(size <= 48, "DeflateCodec is {size} bytes");
    }

    #[test]
    fn state_persists_with_context_takeover() {
        let config = DeflateConfig::default();
        let mut server = DeflateCodec::new(params(false), Role::Server, &config);
        let mut client = DeflateCodec::new(params(false), Role::Client, &config);
        assert!(!server.holds_state() && !client.holds_state());
        let mut sizes = Vec::new();
        for i in 0..300 {
            // Every third message repeats the one before, which the shared window makes tiny.
            let msg = json_message(if i % 3 == 2 { i - 1 } else { i });
            let mut wire = Vec::new();
            server.compress(&msg, &mut wire);
            let mut plain = Vec::new();
            client.decompress(&wire, true, &mut plain, 1 << 20).unwrap();
            assert_eq!(plain, msg, "message {i}");
            assert!(server.holds_state() && client.holds_state());
            sizes.push((msg.len(), wire.len()));
        }
        let (len, repeated) = sizes[38];
        let (_, alone) = sizes[37];
        assert!(
            len > 1000 && repeated * 3 < alone,
            "{len}: {repeated} vs {alone}"
        );
        assert_eq!(pool::sizes(), (0, 0));
    }

    #[test]
    fn interleaved_fragmented_messages_use_their_own_decompressors() {
        let config = DeflateConfig::default();
        let mut sender = DeflateCodec::new(params(true), Role::Server, &config);
        let mut a = DeflateCodec::new(params(true), Role::Client, &config);
        let mut b = DeflateCodec::new(params(true), Role::Client, &config);
        for i in 0..50 {
            let (first, second) = (json_message(i + 10), json_message(i + 20));
            let (mut wire_a, mut wire_b) = (Vec::new(), Vec::new());
            sender.compress(&first, &mut wire_a);
            sender.compress(&second, &mut wire_b);
            let (mut plain_a, mut plain_b) = (Vec::new(), Vec::new());
            let half = wire_a.len() / 2;
            a.decompress(&wire_a[..half], false, &mut plain_a, 1 << 20)
                .unwrap();
            assert!(
                a.holds_state(),
                "a message under way keeps its decompressor"
            );
            b.decompress(&wire_b, true, &mut plain_b, 1 << 20).unwrap();
            a.decompress(&wire_a[half..], true, &mut plain_a, 1 << 20)
                .unwrap();
            assert_eq!((plain_a, plain_b), (first, second), "message {i}");
            assert!(!a.holds_state() && !b.holds_state());
        }
        let (_, decompressors) = pool::sizes();
        assert_eq!(decompressors, 2);
    }

    #[test]
    fn the_pool_stays_bounded() {
        let config = DeflateConfig::default();
        // More settings than the pool holds: the oldest compressors make way.
        for bits in 9..=15 {
            let params = DeflateParams {
                server_max_window_bits: bits,
                ..params(true)
            };
            let mut server = DeflateCodec::new(params, Role::Server, &config);
            let mut client = DeflateCodec::new(params, Role::Client, &config);
            let mut wire = Vec::new();
            server.compress(&json_message(39), &mut wire);
            let mut plain = Vec::new();
            client.decompress(&wire, true, &mut plain, 1 << 20).unwrap();
            assert_eq!(plain, json_message(39));
        }
        assert_eq!(pool::sizes(), (POOL_CAPACITY, 1));
        // Many messages under way at once: the pool keeps only POOL_CAPACITY afterwards.
        let mut sender = DeflateCodec::new(params(true), Role::Server, &config);
        let mut wire = Vec::new();
        sender.compress(&json_message(39), &mut wire);
        let mut receivers: Vec<_> = (0..10)
            .map(|_| DeflateCodec::new(params(true), Role::Client, &config))
            .collect();
        let mut outputs = vec![Vec::new(); 10];
        for (codec, out) in receivers.iter_mut().zip(&mut outputs) {
            codec.decompress(&wire[..5], false, out, 1 << 20).unwrap();
        }
        for (codec, out) in receivers.iter_mut().zip(&mut outputs) {
            codec.decompress(&wire[5..], true, out, 1 << 20).unwrap();
            assert_eq!(*out, json_message(39));
        }
        assert_eq!(pool::sizes().1, POOL_CAPACITY);
    }

    #[test]
    fn every_level_round_trips_incompressible_and_repetitive_data() {
        // Incompressible bytes make the output outgrow its first reservation.
        let mut state = 0x2545_f491_u32;
        let noise: Vec<u8> = (0..200_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state.to_le_bytes()[0]
            })
            .collect();
        let text: Vec<u8> = (0..500).flat_map(json_message).collect();
        for level in [0, 1, 2, 6, 9] {
            let config = DeflateConfig::default().level(level);
            for nct in [false, true] {
                let mut server = DeflateCodec::new(params(nct), Role::Server, &config);
                let mut client = DeflateCodec::new(params(nct), Role::Client, &config);
                for msg in [&noise, &text, &noise] {
                    let mut wire = Vec::new();
                    server.compress(msg, &mut wire);
                    if msg == &text && level > 0 {
                        assert!(wire.len() * 4 < msg.len(), "level {level}: {}", wire.len());
                    }
                    let mut plain = Vec::new();
                    client.decompress(&wire, true, &mut plain, 1 << 20).unwrap();
                    assert!(plain == *msg, "level {level}, nct {nct}");
                }
            }
        }
    }

    #[test]
    fn a_bfinal_block_starts_a_new_stream() {
        // RFC 7692 §7.2.3.4 allows a message flushed with a BFINAL block. The inflater used to
        // stay finished after it, so with context takeover every later message was empty.
        let params = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let mut client = DeflateCodec::new(params, Role::Client, &DeflateConfig::default());
        let bfinal_with_octet = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]; // §7.2.3.4
        let bfinal_alone = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]; // a Z_FINISH stream
        let sync_flushed = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]; // §7.2.3.1
        for payload in [
            &bfinal_with_octet[..],
            &sync_flushed,
            &bfinal_alone,
            &sync_flushed,
            &bfinal_alone,
            &bfinal_with_octet,
            &sync_flushed,
        ] {
            let mut plain = Vec::new();
            client.decompress(payload, true, &mut plain, 1000).unwrap();
            assert_eq!(plain, b"Hello", "{payload:02x?}");
        }
        // The stream may also end in a frame before the last one of the message.
        let mut plain = Vec::new();
        client
            .decompress(&bfinal_alone, false, &mut plain, 1000)
            .unwrap();
        client.decompress(&[], true, &mut plain, 1000).unwrap();
        client
            .decompress(&sync_flushed, true, &mut plain, 1000)
            .unwrap();
        assert_eq!(plain, b"HelloHello");
    }

    #[test]
    fn inflate_stops_at_the_limit() {
        let params = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let config = DeflateConfig::default();
        let mut server = DeflateCodec::new(params, Role::Server, &config);
        let mut client = DeflateCodec::new(params, Role::Client, &config);
        let mut wire = Vec::new();
        server.compress(&[0u8; 1 << 20], &mut wire);
        let mut plain = Vec::new();
        let err = client
            .decompress(&wire, true, &mut plain, 1000)
            .unwrap_err();
        assert_eq!(err, ProtocolError::MessageTooLarge { max: 1000 });
        assert!(plain.capacity() < 10_000);
    }
}
