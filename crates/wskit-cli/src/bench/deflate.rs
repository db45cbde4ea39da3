//! `--deflate`: permessage-deflate (RFC 7692) on the generator's side, cheaply.
//!
//! The generator compresses its message once, with a fresh raw-deflate stream, and sends the same
//! masked frame every time: a client may always start each message from an empty window (context
//! takeover is a permission, not a duty, §7.2.1), so one frame is valid for every message
//! whatever was agreed. It never inflates the server's echoes in the measured loop (that would
//! make the generator the bottleneck): it checks their framing (RSV1 on the first frame of each
//! message) and inflates one sample per connection, the first echo, to prove the server's
//! compression right.

use anyhow::{Context as _, bail, ensure};
use clap::ValueEnum;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use wskit::proto::{DeflateConfig, DeflateParams};

use super::wire::masked_with;

/// The four octets a sync flush ends with, stripped from every compressed message (§7.2.1).
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What `--deflate` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum DeflateMode {
    /// `server_no_context_takeover; client_no_context_takeover`: every message is compressed on
    /// its own, both ways, so a server need keep no compression state between messages.
    NoTakeover,
    /// No `*_no_context_takeover`: the server may keep its window from message to message
    /// (better compression, state held for the connection's life).
    Takeover,
}

impl DeflateMode {
    /// The name on the command line and in reports.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::NoTakeover => "no-takeover",
            Self::Takeover => "takeover",
        }
    }

    /// The offer, as wskit's client makes it.
    pub(super) fn config(self) -> DeflateConfig {
        let reset = self == Self::NoTakeover;
        DeflateConfig::default()
            .server_no_context_takeover(reset)
            .client_no_context_takeover(reset)
    }

    /// Validates the server's `Sec-WebSocket-Extensions` response to [`config`](Self::config)'s
    /// offer; fails when permessage-deflate was not accepted.
    pub(super) fn accept(self, response: Option<&str>) -> anyhow::Result<DeflateParams> {
        let Some(value) = response else {
            bail!("the server did not accept permessage-deflate (no Sec-WebSocket-Extensions)");
        };
        let params = self.config().accept_response(value).map_err(|problem| {
            anyhow::anyhow!("the server's permessage-deflate response {value:?}: {problem}")
        })?;
        ensure!(
            params.client_max_window_bits >= 9,
            "the server asks for a client window of {} bits; zlib needs at least 9",
            params.client_max_window_bits
        );
        Ok(params)
    }
}

/// `size` bytes of JSON-like ASCII text: records that repeat their keys but not all their values,
/// so they compress as real application messages do (about 5:1 at level 1).
pub(super) fn compressible_payload(size: usize) -> Vec<u8> {
    let mut text = String::with_capacity(size + 128);
    let mut seq = 0_u64;
    while text.len() < size {
        text.push_str(&format!(
            r#"{{"seq":{seq},"user":"user-{}","room":"lobby-{}","text":"message number {seq}","ok":true}},"#,
            seq * 7 % 31,
            seq % 5,
        ));
        seq += 1;
    }
    text.truncate(size);
    text.into_bytes()
}

/// One masked, final frame with RSV1 set holding `payload` compressed with a fresh raw-deflate
/// stream of `window_bits`, at zlib's default level, without the sync-flush tail.
pub(super) fn compressed_frame(text: bool, payload: &[u8], window_bits: u8) -> Vec<u8> {
    let mut compress =
        Compress::new_with_window_bits(Compression::default(), false, window_bits.clamp(9, 15));
    let mut out = Vec::with_capacity(payload.len() + 64);
    loop {
        out.reserve(payload.len() / 2 + 64);
        let consumed = usize::try_from(compress.total_in()).unwrap_or(payload.len());
        // Compressing into a Vec with spare capacity cannot fail for valid parameters.
        let _ = compress.compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync);
        let consumed = usize::try_from(compress.total_in()).unwrap_or(payload.len());
        if consumed >= payload.len() && out.len() < out.capacity() {
            break;
        }
    }
    if out.ends_with(&SYNC_TAIL) {
        out.truncate(out.len() - SYNC_TAIL.len());
    }
    if out.is_empty() {
        // An empty message: one empty stored block (§7.2.3.6).
        out.push(0x00);
    }
    masked_with(if text { 0x1 } else { 0x2 }, true, &out)
}

/// Inflates one compressed message (the payloads of its frames, concatenated) with a fresh
/// window, refusing to produce more than `limit` bytes.
pub(super) fn inflate(compressed: &[u8], limit: usize) -> anyhow::Result<Vec<u8>> {
    let mut decompress = Decompress::new(false);
    let mut input = compressed.to_vec();
    input.extend_from_slice(&SYNC_TAIL);
    let mut out = Vec::with_capacity(limit.min(1 << 20) + 1);
    loop {
        let consumed = usize::try_from(decompress.total_in()).unwrap_or(input.len());
        let before = decompress.total_out();
        decompress
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
            .context("the server's compressed echo does not inflate")?;
        ensure!(
            out.len() <= limit,
            "the server's compressed echo inflates to more than {limit} bytes"
        );
        let consumed = usize::try_from(decompress.total_in()).unwrap_or(input.len());
        let output_full = out.len() == out.capacity();
        if (consumed >= input.len() && !output_full) || decompress.total_out() == before {
            return Ok(out);
        }
        out.reserve(out.len().max(4096));
    }
}

#[cfg(test)]
mod tests {
    use wskit::proto::frame::FrameHeader;
    use wskit::proto::mask::apply_mask;

    use super::*;

    #[test]
    fn payloads_are_ascii_of_the_size_asked() {
        for size in [0, 1, 20, 1024, 16_384] {
            let payload = compressible_payload(size);
            assert_eq!(payload.len(), size);
            assert!(payload.is_ascii());
        }
    }

    #[test]
    fn a_compressed_frame_inflates_to_its_payload() {
        for size in [0, 20, 1024, 65_536] {
            let payload = compressible_payload(size);
            let frame = compressed_frame(true, &payload, 15);
            let (header, header_len) = FrameHeader::parse(&frame).unwrap().unwrap();
            assert!(header.rsv1 && header.fin);
            assert_eq!(header.opcode, 0x1);
            let mut body = frame[header_len..].to_vec();
            apply_mask(&mut body, header.mask.unwrap(), 0);
            if size >= 1024 {
                assert!(
                    body.len() * 3 < size,
                    "{size} bytes compress to {}",
                    body.len()
                );
            }
            assert_eq!(inflate(&body, size).unwrap(), payload);
            assert!(size == 0 || inflate(&body, size - 1).is_err());
        }
    }

    #[test]
    fn responses_without_deflate_are_refused() {
        let mode = DeflateMode::NoTakeover;
        assert!(mode.accept(None).is_err());
        assert!(mode.accept(Some("x-webkit-deflate-frame")).is_err());
        // The server must agree to reset its own context when asked to.
        assert!(mode.accept(Some("permessage-deflate")).is_err());
        let params = mode
            .accept(Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            ))
            .unwrap();
        assert!(params.server_no_context_takeover);
        assert!(
            DeflateMode::Takeover
                .accept(Some("permessage-deflate"))
                .is_ok()
        );
        assert!(
            DeflateMode::Takeover
                .accept(Some("permessage-deflate; client_max_window_bits=8"))
                .is_err()
        );
    }
}
