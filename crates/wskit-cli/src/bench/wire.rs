//! The generator's side of the wire: a hand-written upgrade (RFC 6455 §4.1), frames masked once
//! and reused (§5.3), and a parser that counts the server's messages without keeping them (§5.2).

use std::net::SocketAddr;

use anyhow::{Context as _, bail, ensure};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use wskit::proto::frame::FrameHeader;
use wskit::proto::mask::apply_mask;

/// The masking key of every frame the generator sends (the one in RFC 6455 §5.7). Clients should
/// pick a fresh key per frame; a load generator reuses one so a frame's bytes are built once.
const MASK_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The `Sec-WebSocket-Key` of every upgrade, and the accept value it calls for (RFC 6455 §1.3).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// Largest upgrade response the generator reads before giving up.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// A `ws://` URL, resolved once; [`Target::connect`] opens upgraded connections to it.
#[derive(Debug, Clone)]
pub(super) struct Target {
    addr: SocketAddr,
    authority: String,
    request: Vec<u8>,
}

/// An upgraded connection: the stream, any bytes the server sent after its response head, and
/// the response's `Sec-WebSocket-Extensions` value.
#[derive(Debug)]
pub(super) struct Upgraded {
    pub(super) stream: TcpStream,
    pub(super) leftover: Vec<u8>,
    pub(super) extensions: Option<String>,
}

impl Target {
    /// Resolves `url` (`ws://host[:port][/path]`; `wss://` is not supported).
    pub(super) async fn resolve(url: &str) -> anyhow::Result<Self> {
        let Some(rest) = url.strip_prefix("ws://") else {
            bail!("`{url}`: the generator speaks ws:// only");
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) if rest[at..].starts_with('/') => (&rest[..at], rest[at..].to_owned()),
            Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
            None => (rest, "/".to_owned()),
        };
        ensure!(!authority.is_empty(), "`{url}` has no host");
        // `[::1]` has colons but no port; `[::1]:9001` and `localhost:9001` have one.
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
        let lookup = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = tokio::net::lookup_host(&lookup)
            .await
            .with_context(|| format!("resolving {lookup}"))?
            .next()
            .with_context(|| format!("{lookup} resolves to no address"))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        Ok(Self {
            addr,
            authority: authority.to_owned(),
            request: request.into_bytes(),
        })
    }

    /// The server's address.
    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL's `host[:port]`, as the `Host` header carries it.
    pub(super) fn authority(&self) -> &str {
        &self.authority
    }

    /// Adds `Sec-WebSocket-Extensions: {offer}` to every upgrade request.
    pub(super) fn offer_extensions(&mut self, offer: &str) {
        // The request ends with the blank line; the header goes before it.
        self.request.truncate(self.request.len() - 2);
        self.request
            .extend_from_slice(format!("Sec-WebSocket-Extensions: {offer}\r\n\r\n").as_bytes());
    }

    /// Opens a TCP connection and upgrades it; returns the stream and any bytes the server sent
    /// after its response head.
    pub(super) async fn connect(&self) -> anyhow::Result<(TcpStream, Vec<u8>)> {
        let upgraded = self.upgrade().await?;
        Ok((upgraded.stream, upgraded.leftover))
    }

    /// Opens a TCP connection and upgrades it.
    pub(super) async fn upgrade(&self) -> anyhow::Result<Upgraded> {
        let mut stream = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        stream.write_all(&self.request).await?;
        let mut buf = Vec::with_capacity(512);
        let head_len = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            ensure!(
                buf.len() < MAX_RESPONSE_HEAD,
                "the upgrade response head exceeds {MAX_RESPONSE_HEAD} bytes"
            );
            let read = stream.read_buf(&mut buf).await?;
            ensure!(
                read != 0,
                "the server closed the connection during the upgrade"
            );
        };
        let extensions = check_upgrade_response(&buf[..head_len])?;
        Ok(Upgraded {
            stream,
            leftover: buf.split_off(head_len),
            extensions,
        })
    }
}

/// One masked frame holding a whole message of `size` bytes.
pub(super) fn masked_frame(text: bool, size: usize) -> Vec<u8> {
    // ASCII, so the payload is valid as text too. `i % 26` fits in a u8.
    let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    masked(if text { 0x1 } else { 0x2 }, &payload)
}

/// One masked, final frame with `opcode` and `payload`.
pub(super) fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    masked_with(opcode, false, payload)
}

/// One masked, final frame with `opcode` and `payload`, RSV1 set when `compressed`.
pub(super) fn masked_with(opcode: u8, compressed: bool, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        fin: true,
        rsv1: compressed,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: Some(MASK_KEY),
        payload_len: payload.len() as u64,
    };
    let mut frame = Vec::with_capacity(header.encoded_len() + payload.len());
    header.encode(&mut frame);
    let payload_start = frame.len();
    frame.extend_from_slice(payload);
    apply_mask(&mut frame[payload_start..], MASK_KEY, 0);
    frame
}

/// Reads whole messages from a connection until `count` have come, for set-up steps whose
/// answers the generator looks at (`wskit serve`'s welcome and acknowledgements). `buf` holds
/// bytes already read; what follows the last message is left in it.
pub(super) async fn read_messages(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    count: usize,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut messages = Vec::with_capacity(count);
    let mut message = Vec::new();
    while messages.len() < count {
        let Some((header, header_len)) = FrameHeader::parse(buf)? else {
            ensure!(
                stream.read_buf(buf).await? != 0,
                "the server closed the connection"
            );
            continue;
        };
        // Set-up messages are small; a server sending gigabytes here is broken.
        let payload_len = usize::try_from(header.payload_len)?;
        if buf.len() < header_len + payload_len {
            ensure!(
                stream.read_buf(buf).await? != 0,
                "the server closed the connection"
            );
            continue;
        }
        ensure!(header.opcode != 0x8, "the server sent a close frame");
        if header.opcode <= 0x2 {
            message.extend_from_slice(&buf[header_len..header_len + payload_len]);
            if header.fin {
                messages.push(std::mem::take(&mut message));
            }
        }
        buf.drain(..header_len + payload_len);
    }
    Ok(messages)
}

/// Skips the complete frames at the start of `buf`, data and control alike, whatever their
/// payload (`wskit bench idle --protocol serve` drops the server's welcome this way). Returns
/// the number of bytes they take, or `None` at a close frame (which is not skipped).
///
/// # Errors
/// A masked frame (RFC 6455 §5.1: a server never masks), or a header that does not parse.
pub(super) fn skip_frames(buf: &[u8]) -> anyhow::Result<Option<usize>> {
    let mut pos = 0;
    while let Some((header, header_len)) = FrameHeader::parse(&buf[pos..])? {
        ensure!(header.mask.is_none(), "the server sent a masked frame");
        if header.opcode == 0x8 {
            return Ok(None);
        }
        // Past the end of `buf` (or of usize): the frame is not complete yet.
        let end = usize::try_from(header.payload_len)
            .ok()
            .and_then(|len| (pos + header_len).checked_add(len))
            .filter(|&end| end <= buf.len());
        match end {
            Some(end) => pos = end,
            None => break,
        }
    }
    Ok(Some(pos))
}

/// Counts the complete messages in the server's byte stream, skipping payloads where they lie.
/// [`EchoParser::new`] checks each message's length; [`EchoParser::any_length`] does not;
/// [`EchoParser::compressed`] checks that every message is compressed and keeps the first one's
/// payload as a sample to inflate.
///
/// Only a partial frame header is ever left for the caller to keep (at most 13 bytes), so the
/// read buffer stays small whatever the message size.
#[derive(Debug)]
pub(super) struct EchoParser {
    expected_len: Option<u64>,
    /// Payload bytes of the current frame not yet seen.
    remaining: u64,
    /// What the current frame is, while its payload is being skipped.
    current: Option<FrameKind>,
    /// Payload bytes of the data frames of the message so far.
    message_len: u64,
    /// Every data message must be compressed (RSV1 on its first frame).
    compressed: bool,
    /// The payload of the first data message, while it arrives.
    capture: Option<Vec<u8>>,
    /// The payload of the first data message, once complete and until taken.
    sample: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    Data,
    FinalData,
    Control,
}

impl EchoParser {
    /// A parser expecting every message to be `expected_len` bytes long.
    pub(super) fn new(expected_len: usize) -> Self {
        Self {
            expected_len: Some(expected_len as u64),
            ..Self::any_length()
        }
    }

    /// A parser that counts messages of any length.
    pub(super) fn any_length() -> Self {
        Self {
            expected_len: None,
            remaining: 0,
            current: None,
            message_len: 0,
            compressed: false,
            capture: None,
            sample: None,
        }
    }

    /// A parser for permessage-deflate echoes: every data message must be compressed; the
    /// compressed payload of the first one is kept for [`take_sample`](Self::take_sample).
    pub(super) fn compressed() -> Self {
        Self {
            compressed: true,
            capture: Some(Vec::new()),
            ..Self::any_length()
        }
    }

    /// The compressed payload of the first data message, once it is complete (once only).
    pub(super) fn take_sample(&mut self) -> Option<Vec<u8>> {
        self.sample.take()
    }

    /// Consumes what it can of `buf`; returns the number of bytes consumed and of messages
    /// completed. The bytes not consumed are a partial header to present again with more.
    pub(super) fn feed(&mut self, buf: &[u8]) -> anyhow::Result<(usize, usize)> {
        let mut pos = 0;
        let mut messages = 0;
        loop {
            if let Some(kind) = self.current {
                // `take` is at most `buf.len() - pos`, so it fits in a usize.
                let take = self.remaining.min((buf.len() - pos) as u64);
                if let (Some(capture), FrameKind::Data | FrameKind::FinalData) =
                    (&mut self.capture, kind)
                {
                    capture.extend_from_slice(&buf[pos..pos + take as usize]);
                }
                self.remaining -= take;
                pos += take as usize;
                if self.remaining > 0 {
                    return Ok((pos, messages));
                }
                self.current = None;
                if kind == FrameKind::FinalData {
                    if let Some(expected) = self.expected_len {
                        ensure!(
                            self.message_len == expected,
                            "an echo of {expected} bytes came back as {}",
                            self.message_len
                        );
                    }
                    self.message_len = 0;
                    messages += 1;
                    if self.capture.is_some() {
                        self.sample = self.capture.take();
                    }
                }
            }
            let Some((header, header_len)) = FrameHeader::parse(&buf[pos..])? else {
                return Ok((pos, messages));
            };
            ensure!(header.mask.is_none(), "the server sent a masked frame");
            if !self.compressed {
                ensure!(
                    !header.rsv1,
                    "the server sent a compressed frame (none was negotiated)"
                );
            } else if matches!(header.opcode, 0x1 | 0x2) {
                ensure!(
                    header.rsv1,
                    "the server sent an uncompressed message (the deflate scenarios expect \
                     every message compressed)"
                );
            } else {
                ensure!(
                    !header.rsv1,
                    "the server set RSV1 on a frame with opcode {:#x} (RFC 7692 §6.1)",
                    header.opcode
                );
            }
            self.current = Some(match header.opcode {
                0x0..=0x2 => {
                    self.message_len += header.payload_len;
                    if header.fin {
                        FrameKind::FinalData
                    } else {
                        FrameKind::Data
                    }
                }
                0x8 => bail!("the server sent a close frame"),
                0x9 | 0xa => FrameKind::Control,
                other => bail!("the server sent a frame with opcode {other:#x}"),
            });
            self.remaining = header.payload_len;
            pos += header_len;
        }
    }
}

/// Checks the status line and `Sec-WebSocket-Accept` of an upgrade response head; returns its
/// `Sec-WebSocket-Extensions` value, if any (several headers joined with `, `).
fn check_upgrade_response(head: &[u8]) -> anyhow::Result<Option<String>> {
    let head = std::str::from_utf8(head).context("the upgrade response is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    ensure!(
        status.starts_with("HTTP/1.1 101"),
        "the server refused the upgrade: {status}"
    );
    let mut accepted = false;
    let mut extensions: Option<String> = None;
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("sec-websocket-accept") {
            accepted |= value == ACCEPT;
        } else if name.eq_ignore_ascii_case("sec-websocket-extensions") {
            match &mut extensions {
                Some(joined) => {
                    joined.push_str(", ");
                    joined.push_str(value);
                }
                None => extensions = Some(value.to_owned()),
            }
        }
    }
    ensure!(
        accepted,
        "the upgrade response lacks the right Sec-WebSocket-Accept"
    );
    Ok(extensions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        wskit_support::frame(fin, opcode, payload, false)
    }

    #[test]
    fn masked_frame_unmasks_to_the_payload() {
        let frame = masked_frame(false, 300);
        let (header, header_len) = FrameHeader::parse(&frame).unwrap().unwrap();
        assert_eq!(header.opcode, 0x2);
        assert_eq!(header.payload_len, 300);
        let mut payload = frame[header_len..].to_vec();
        apply_mask(&mut payload, header.mask.unwrap(), 0);
        assert!(payload.starts_with(b"abcdefghijklmnopqrstuvwxyzab"));
    }

    #[test]
    fn parser_counts_messages_fed_a_byte_at_a_time() {
        let mut stream = server_frame(0x2, true, &[7; 200]);
        stream.extend(server_frame(0x9, true, b"ping"));
        stream.extend(server_frame(0x1, false, &[b'x'; 150]));
        stream.extend(server_frame(0x0, true, &[b'x'; 50]));
        let mut parser = EchoParser::new(200);
        let mut pending = Vec::new();
        let mut messages = 0;
        for &byte in &stream {
            pending.push(byte);
            let (consumed, completed) = parser.feed(&pending).unwrap();
            pending.drain(..consumed);
            assert!(pending.len() < 14);
            messages += completed;
        }
        assert_eq!(messages, 2);
        assert!(pending.is_empty());
    }

    #[test]
    fn skip_frames_skips_whole_frames_and_stops_at_a_close() {
        let welcome = server_frame(0x1, true, br#"{"type":"welcome","id":"1"}"#);
        let mut stream = welcome.clone();
        stream.extend(server_frame(0x9, true, b"ping"));
        assert_eq!(skip_frames(&stream).unwrap(), Some(stream.len()));
        // A partial frame is left for later, at any cut.
        for cut in 0..welcome.len() {
            assert_eq!(
                skip_frames(&welcome[..cut]).unwrap(),
                Some(0),
                "cut at {cut}"
            );
        }
        let mut closed = welcome;
        closed.extend(server_frame(0x8, true, &[0x03, 0xe9]));
        assert_eq!(skip_frames(&closed).unwrap(), None);
        assert!(skip_frames(&masked_frame(true, 3)).is_err());
    }

    #[test]
    fn parser_rejects_wrong_lengths_masks_and_close() {
        assert!(
            EchoParser::new(5)
                .feed(&server_frame(0x2, true, b"four"))
                .is_err()
        );
        assert!(
            EchoParser::new(0)
                .feed(&server_frame(0x8, true, b""))
                .is_err()
        );
        assert!(EchoParser::new(20).feed(&masked_frame(false, 20)).is_err());
    }

    fn compressed_frame(opcode: u8, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
        let mut frame = server_frame(opcode, fin, payload);
        frame[0] |= u8::from(rsv1) << 6;
        frame
    }

    #[test]
    fn compressed_parser_checks_rsv1_and_keeps_the_first_message() {
        let mut stream = compressed_frame(0x1, false, true, b"first ");
        stream.extend(compressed_frame(0x9, true, false, b"ping"));
        stream.extend(compressed_frame(0x0, true, false, b"half"));
        stream.extend(compressed_frame(0x1, true, true, b"second"));
        let mut parser = EchoParser::compressed();
        let mut pending = Vec::new();
        let mut messages = 0;
        let mut samples = Vec::new();
        for &byte in &stream {
            pending.push(byte);
            let (consumed, completed) = parser.feed(&pending).unwrap();
            pending.drain(..consumed);
            messages += completed;
            samples.extend(parser.take_sample());
        }
        assert_eq!(messages, 2);
        assert_eq!(samples, [b"first half".to_vec()]);
        assert!(
            EchoParser::compressed()
                .feed(&server_frame(0x2, true, b"plain"))
                .is_err()
        );
        assert!(
            EchoParser::compressed()
                .feed(&compressed_frame(0x9, true, true, b"ping"))
                .is_err()
        );
        assert!(
            EchoParser::any_length()
                .feed(&compressed_frame(0x2, true, true, b"x"))
                .is_err()
        );
    }

    #[test]
    fn upgrade_response_needs_101_and_the_accept_value() {
        let good =
            format!("HTTP/1.1 101 Switching Protocols\r\nsec-websocket-accept: {ACCEPT}\r\n\r\n");
        assert_eq!(check_upgrade_response(good.as_bytes()).unwrap(), None);
        let deflate = format!(
            "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        assert_eq!(
            check_upgrade_response(deflate.as_bytes())
                .unwrap()
                .as_deref(),
            Some("permessage-deflate")
        );
        assert!(check_upgrade_response(b"HTTP/1.1 400 Bad Request\r\n\r\n").is_err());
        let wrong = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: nope\r\n\r\n";
        assert!(check_upgrade_response(wrong.as_bytes()).is_err());
    }

    #[tokio::test]
    async fn targets_resolve_with_default_port_and_path() {
        let target = Target::resolve("ws://127.0.0.1").await.unwrap();
        assert_eq!(target.addr, "127.0.0.1:80".parse().unwrap());
        assert!(
            target
                .request
                .starts_with(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        );
        let target = Target::resolve("ws://127.0.0.1:9001/chat?room=1")
            .await
            .unwrap();
        assert_eq!(target.addr, "127.0.0.1:9001".parse().unwrap());
        assert!(target.request.starts_with(b"GET /chat?room=1 HTTP/1.1\r\n"));
        let target = Target::resolve("ws://127.0.0.1:9001?x").await.unwrap();
        assert!(target.request.starts_with(b"GET /?x HTTP/1.1\r\n"));
        assert!(Target::resolve("wss://127.0.0.1/").await.is_err());
        assert!(Target::resolve("ws:///").await.is_err());
    }
}
