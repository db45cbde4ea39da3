//! Fuzzing entry points. Not a stable API: compiled only with the `fuzzing` feature.
//!
//! Each function takes arbitrary bytes, drives the real code of this crate and panics only
//! when an invariant is broken. The cargo-fuzz targets in `fuzz/fuzz_targets/` call them, and
//! so does `tests/fuzz_seeds.rs`, which runs the committed seeds (`fuzz/seeds/<target>/`) on
//! stable Rust: this crate dev-depends on itself with the feature on, so plain `cargo test`
//! builds this module.
//!
//! # Input formats
//!
//! The seeds are written in these formats, so a change here must regenerate them
//! (`WSKIT_REGEN_SEEDS=1 cargo test -p wskit-proto --test fuzz_seeds`).
//!
//! - [`parse_frame_header`], [`handshake`]: the bytes as they would arrive on the wire.
//! - [`read_message_server`], [`read_message_client`]: `[options, split_seed, wire @ ..]`,
//!   with `options` as in [`READ_DEFLATE`] and the other `READ_*` bits.
//! - [`unmask`]: `[key; 4], [offset; 8] (little endian), shift, data @ ..`.
//! - [`inflate`]: `[params, limit, split_seed, records @ ..]`, each record
//!   `[flags, len, payload; len]` becoming one masked frame (see [`inflate`]).

use bytes::{Buf, BytesMut};

use crate::close::CloseFrame;
use crate::config::Config;
use crate::connection::Connection;
use crate::deflate::{DeflateConfig, DeflateParams};
use crate::error::{Error, ProtocolError};
use crate::frame::{FrameHeader, MAX_HEADER_LEN};
use crate::handshake::client::ClientHandshake;
use crate::handshake::server::{AcceptConfig, Accepted, Request, rejection_response};
use crate::mask::{apply_mask, apply_mask_bytewise};
use crate::message::Message;
use crate::role::Role;

/// `read_message_*` option bit: permessage-deflate is negotiated (both windows 15 bits).
pub const READ_DEFLATE: u8 = 0x01;
/// `read_message_*` option bit: with [`READ_DEFLATE`], both sides use no context takeover.
pub const READ_NO_CONTEXT_TAKEOVER: u8 = 0x02;
/// `read_message_*` option bit: small limits ([`SMALL_MAX_FRAME`], [`SMALL_MAX_MESSAGE`],
/// a fragment charge of 16 bytes) instead of the defaults.
pub const READ_SMALL_LIMITS: u8 = 0x04;
/// `read_message_*` option bit: our end sends a close frame before reading (state
/// `CloseSent`).
pub const READ_CLOSE_FIRST: u8 = 0x08;

/// The frame size limit under [`READ_SMALL_LIMITS`].
pub const SMALL_MAX_FRAME: usize = 1000;
/// The message size limit under [`READ_SMALL_LIMITS`]: below the frame size limit, so that a
/// single frame can exceed it too.
pub const SMALL_MAX_MESSAGE: usize = 700;

/// The masking key [`inflate`] masks its frames with.
pub const INFLATE_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The nonce of the client whose `parse_response` [`handshake`] fuzzes, so that seeds can
/// carry a matching `Sec-WebSocket-Accept`.
pub const CLIENT_NONCE: [u8; 16] = *b"wskit-fuzz-nonce";

/// The subprotocols the fuzzed client offers and the fuzzed server speaks.
pub const PROTOCOLS: [&str; 2] = ["chat", "superchat"];

// ===== parse_frame_header =====

/// [`FrameHeader::parse`] never panics; a parsed header re-encodes and parses back to itself,
/// every shorter prefix is incomplete, and an incomplete or failed parse is justified.
pub fn parse_frame_header(data: &[u8]) {
    match FrameHeader::parse(data) {
        Ok(Some((header, len))) => {
            assert!(len <= data.len() && len <= MAX_HEADER_LEN, "length {len}");
            assert!(matches!(len, 2 | 4 | 6 | 8 | 10 | 14), "length {len}");
            assert_eq!(header.mask.is_some(), data[1] & 0x80 != 0);
            assert_eq!(header.payload_len >> 63, 0);
            assert_eq!(FrameHeader::parse(&data[..len]), Ok(Some((header, len))));
            for cut in 0..len {
                assert_eq!(FrameHeader::parse(&data[..cut]), Ok(None), "cut at {cut}");
            }
            let mut encoded = Vec::new();
            header.encode(&mut encoded);
            assert_eq!(encoded.len(), header.encoded_len());
            assert!(
                encoded.len() <= len,
                "the shortest encoding is never longer"
            );
            assert_eq!(encoded[0], data[0]);
            assert_eq!(
                FrameHeader::parse(&encoded),
                Ok(Some((header, encoded.len())))
            );
        }
        Ok(None) => assert!(data.len() < MAX_HEADER_LEN, "a whole header was not parsed"),
        Err(err) => {
            assert_eq!(err, ProtocolError::InvalidPayloadLength);
            assert!(data.len() >= 10 && data[1] & 0x7f == 127 && data[2] & 0x80 != 0);
        }
    }
}

// ===== read_message_* =====

/// A server [`Connection`] reads `wire` from `[options, split_seed, wire @ ..]` (masked
/// frames are valid; `options` holds `READ_*` bits):
///
/// - it never panics, and each message respects the limits (text is UTF-8, data no larger
///   than the message size limit, control payloads at most 125 bytes, close codes sendable);
/// - the wire fed in one piece, one byte at a time and in pieces cut by `split_seed` gives
///   the same messages, the same end (more bytes needed with the same bytes left over, a
///   close, or the same error) and the same outbox;
/// - the outbox is valid for the peer: a pong for each ping, the echo of a close, and a close
///   with the error's code after a violation, nothing else.
pub fn read_message_server(data: &[u8]) {
    read_message(Role::Server, data);
}

/// As [`read_message_server`], for a client [`Connection`] (unmasked frames are valid).
pub fn read_message_client(data: &[u8]) {
    read_message(Role::Client, data);
}

/// The `read_message_*` targets for `role`.
fn read_message(role: Role, data: &[u8]) {
    let [options, split_seed, wire @ ..] = data else {
        return;
    };
    let deflate = (options & READ_DEFLATE != 0).then(|| {
        let nct = options & READ_NO_CONTEXT_TAKEOVER != 0;
        DeflateParams {
            server_no_context_takeover: nct,
            client_no_context_takeover: nct,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    });
    let config = if options & READ_SMALL_LIMITS != 0 {
        Config::default()
            .max_frame_size(SMALL_MAX_FRAME)
            .max_message_size(SMALL_MAX_MESSAGE)
            .fragment_charge(16)
    } else {
        Config::default()
    };
    let setup = Setup {
        role,
        config,
        deflate,
        close_first: options & READ_CLOSE_FIRST != 0,
    };
    check_deliveries(&setup, wire, *split_seed);
}

/// How the connection under test is made.
struct Setup {
    role: Role,
    config: Config,
    deflate: Option<DeflateParams>,
    close_first: bool,
}

impl Setup {
    fn connection(&self) -> Connection {
        let mut conn = match self.role {
            Role::Client => Connection::client(self.config.clone(), self.deflate, 0x5eed),
            Role::Server => Connection::server(self.config.clone(), self.deflate),
        };
        if self.close_first {
            conn.close(None)
                .expect("a new connection can send a close frame");
        }
        conn
    }

    /// The other end, to check what the connection under test sent.
    fn peer(&self) -> Connection {
        match self.role {
            Role::Client => Connection::server(Config::default(), self.deflate),
            Role::Server => Connection::client(Config::default(), self.deflate, 0),
        }
    }
}

/// Everything a delivery produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    messages: Vec<Message>,
    end: End,
    outbox: Vec<u8>,
}

/// How a delivery ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// All bytes were fed and more are needed; these were left in the read buffer.
    NeedMore(Vec<u8>),
    /// A close frame was read.
    Closed,
    /// The peer broke the protocol.
    Failed(Error),
}

/// Feeds `wire` in pieces of one, `usize::MAX` (all at once) and seeded random lengths, and
/// checks that the outcomes agree and that the outbox is valid.
fn check_deliveries(setup: &Setup, wire: &[u8], split_seed: u8) {
    let whole = deliver(setup, wire, || usize::MAX);
    check_outbox(setup, &whole);
    let bytewise = deliver(setup, wire, || 1);
    assert_eq!(bytewise, whole, "byte-at-a-time delivery differs");
    let mut rng = Rng(u64::from(split_seed) << 32 | wire.len() as u64);
    let most = 1 + usize::from(split_seed & 0x3f) * 4;
    let split = deliver(setup, wire, || 1 + rng.below(most));
    assert_eq!(split, whole, "split delivery (seed {split_seed}) differs");
}

fn deliver(setup: &Setup, wire: &[u8], mut next_len: impl FnMut() -> usize) -> Outcome {
    let mut conn = setup.connection();
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    let mut fed = 0;
    let max_frame = setup.config.max_frame_size_limit().max(125);
    let end = 'feed: loop {
        loop {
            match conn.read(&mut buf) {
                Ok(Some(msg)) => {
                    check_message(setup, &msg);
                    let close = msg.is_close();
                    messages.push(msg);
                    if close {
                        assert!(conn.is_closed(), "closed after reading a close frame");
                        break 'feed End::Closed;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
                    assert!(conn.is_closed(), "closed after a violation");
                    break 'feed End::Failed(err);
                }
            }
        }
        assert!(conn.bytes_wanted(&buf) <= max_frame + MAX_HEADER_LEN);
        if fed == wire.len() {
            break End::NeedMore(buf.to_vec());
        }
        let len = next_len().clamp(1, wire.len() - fed);
        buf.extend_from_slice(&wire[fed..fed + len]);
        fed += len;
    };
    if !matches!(end, End::NeedMore(_)) {
        let mut more = BytesMut::from(&[0x81, 0x00][..]);
        assert_eq!(conn.read(&mut more), Err(Error::Closed));
    }
    let out = conn.outbox();
    let outbox = out.copy_to_bytes(out.remaining()).to_vec();
    Outcome {
        messages,
        end,
        outbox,
    }
}

fn check_message(setup: &Setup, msg: &Message) {
    let max = setup.config.max_message_size_limit();
    match msg {
        Message::Text(text) => {
            assert!(
                std::str::from_utf8(text.as_bytes()).is_ok(),
                "text is UTF-8"
            );
            assert!(text.len() <= max, "text of {} bytes over {max}", text.len());
        }
        Message::Binary(data) => assert!(data.len() <= max, "{} bytes over {max}", data.len()),
        Message::Ping(data) | Message::Pong(data) => assert!(data.len() <= 125),
        Message::Close(Some(frame)) => {
            assert!(frame.code.is_sendable(), "{:?}", frame.code);
            assert!(frame.reason.len() <= CloseFrame::MAX_REASON_LEN);
        }
        Message::Close(None) => {}
    }
}

/// The peer reads exactly the replies the messages and the end call for.
fn check_outbox(setup: &Setup, outcome: &Outcome) {
    let mut expected = Vec::new();
    if setup.close_first {
        // Our close went first; no pong, echo or error close may follow it.
        expected.push(Message::Close(None));
    } else {
        for msg in &outcome.messages {
            match msg {
                Message::Ping(data) => expected.push(Message::Pong(data.clone())),
                Message::Close(frame) => expected.push(Message::Close(
                    frame.as_ref().map(|f| CloseFrame::new(f.code, "")),
                )),
                _ => {}
            }
        }
        if let End::Failed(Error::Protocol(err)) = &outcome.end {
            let frame = CloseFrame::new(err.close_code(), "");
            expected.push(Message::Close(Some(frame)));
        }
    }
    let mut peer = setup.peer();
    let mut buf = BytesMut::from(&outcome.outbox[..]);
    let mut got = Vec::new();
    loop {
        match peer.read(&mut buf) {
            Ok(Some(msg)) => {
                let close = msg.is_close();
                got.push(msg);
                if close {
                    break;
                }
            }
            Ok(None) => break,
            Err(err) => panic!("the peer rejects what we sent: {err}"),
        }
    }
    assert!(
        buf.is_empty(),
        "bytes after our close or a partial frame: {buf:?}"
    );
    assert_eq!(got, expected);
}

// ===== unmask =====

/// [`apply_mask`] equals [`apply_mask_bytewise`] for the data, key, offset and alignment
/// taken from the input; masking in two pieces equals masking at once; masking twice
/// restores the data.
pub fn unmask(data: &[u8]) {
    let mut input = Input(data);
    let key = input.array::<4>();
    let offset = u64::from_le_bytes(input.array::<8>());
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let shift = usize::from(input.byte() & 7);
    let payload = input.rest();

    // Start the payload `shift` bytes into the allocation, to vary its alignment.
    let mut fast = vec![0; shift + payload.len()];
    fast[shift..].copy_from_slice(payload);
    let fast = &mut fast[shift..];
    let mut reference = payload.to_vec();
    apply_mask(fast, key, offset);
    apply_mask_bytewise(&mut reference, key, offset);
    assert_eq!(
        &*fast,
        &reference[..],
        "key {key:?} offset {offset} shift {shift}"
    );

    let cut = offset % (payload.len() + 1);
    let mut pieces = payload.to_vec();
    let (head, tail) = pieces.split_at_mut(cut);
    apply_mask(head, key, offset);
    apply_mask(tail, key, offset.wrapping_add(cut));
    assert_eq!(pieces, reference, "masked in pieces cut at {cut}");

    apply_mask(fast, key, offset);
    assert_eq!(&*fast, payload, "masking is its own inverse");
}

// ===== handshake =====

/// The opening handshake never panics on arbitrary bytes, and what it produces is valid:
///
/// - as a request, [`Request::parse`] and [`AcceptConfig::accept`] (two configurations):
///   an accepted request's response is accepted by a client with the request's key, and a
///   rejection is a well-formed response with the error's status;
/// - as a response, [`ClientHandshake::parse_response`] for a client with [`CLIENT_NONCE`]
///   (with and without subprotocols and permessage-deflate);
/// - as settings: a client and a server configured from the input complete the handshake,
///   agree on the subprotocol and permessage-deflate, and exchange compressed messages.
pub fn handshake(data: &[u8]) {
    handshake_server(data);
    handshake_client(data);
    handshake_round_trip(data);
}

fn handshake_server(data: &[u8]) {
    let Ok(Some((req, len))) = Request::parse(data) else {
        return;
    };
    assert!(len <= data.len());
    assert_eq!(Request::parse(&data[..len]), Ok(Some((req.clone(), len))));
    let configs = [
        AcceptConfig::default(),
        AcceptConfig::default()
            .protocols(PROTOCOLS)
            .deflate(Some(DeflateConfig::default())),
    ];
    for config in configs {
        match config.accept(&req) {
            Ok(accepted) => check_accepted(&req, &accepted),
            Err(err) => {
                let status = err.status();
                let response = rejection_response(status, &err.to_string(), &[]);
                let mut headers = [httparse::EMPTY_HEADER; 16];
                let mut parsed = httparse::Response::new(&mut headers);
                let head = parsed.parse(&response).expect("a rejection parses");
                assert!(head.is_complete());
                assert_eq!(parsed.code, Some(status));
            }
        }
    }
}

/// A client that sent `req` accepts the server's response.
fn check_accepted(req: &Request, accepted: &Accepted) {
    use base64::Engine as _;
    let key = req.headers.get("sec-websocket-key").unwrap_or_default();
    let nonce = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .ok()
        .and_then(|nonce| <[u8; 16]>::try_from(nonce).ok())
        .expect("an accepted key is 16 bytes in base64");
    let client = ClientHandshake::new("fuzz", req.target.as_str(), nonce)
        .protocols(req.headers.list("sec-websocket-protocol"))
        .deflate(Some(DeflateConfig::default()));
    let (negotiated, len) = client
        .parse_response(&accepted.response)
        .expect("the client accepts the response")
        .expect("the response is complete");
    assert_eq!(len, accepted.response.len());
    assert_eq!(negotiated.protocol, accepted.protocol);
    assert_eq!(negotiated.deflate, accepted.deflate);
}

fn handshake_client(data: &[u8]) {
    let clients = [
        ClientHandshake::new("example.com", "/chat", CLIENT_NONCE),
        ClientHandshake::new("example.com", "/chat", CLIENT_NONCE)
            .protocols(PROTOCOLS)
            .deflate(Some(DeflateConfig::default())),
    ];
    for (i, client) in clients.iter().enumerate() {
        let Ok(Some((negotiated, len))) = client.parse_response(data) else {
            continue;
        };
        assert!(len <= data.len());
        if i == 0 {
            assert_eq!(negotiated.protocol, None);
            assert_eq!(negotiated.deflate, None);
        }
        if let Some(protocol) = &negotiated.protocol {
            assert!(PROTOCOLS.contains(&protocol.as_str()), "{protocol:?}");
        }
        if let Some(params) = negotiated.deflate {
            assert!((8..=15).contains(&params.server_max_window_bits));
            assert!((8..=15).contains(&params.client_max_window_bits));
        }
    }
}

const HOST_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789.-:";
const TARGET_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/?=&%._~-";
const TOKEN_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789.-_";

fn handshake_round_trip(data: &[u8]) {
    let mut input = Input(data);
    let nonce = input.array::<16>();
    let flags = input.byte();
    let host = input.token(HOST_CHARS, 24);
    let target = format!("/{}", input.token(TARGET_CHARS, 32));
    let offered: Vec<String> = (0..flags & 3)
        .map(|_| input.token(TOKEN_CHARS, 8))
        .collect();
    let pick = input.byte();
    let mut spoken: Vec<String> = offered
        .iter()
        .enumerate()
        .filter(|(i, _)| pick & (1 << i) != 0)
        .map(|(_, p)| p.clone())
        .collect();
    spoken.push("other".into());
    let client_deflate = (flags & 4 != 0).then(|| input.deflate_config());
    let server_deflate = (flags & 8 != 0).then(|| input.deflate_config());

    let client = ClientHandshake::new(host.as_str(), target.as_str(), nonce)
        .protocols(offered.iter().cloned())
        .deflate(client_deflate.clone());
    let request = client.request();
    let (req, len) = Request::parse(&request)
        .expect("our request parses")
        .expect("our request is complete");
    assert_eq!(len, request.len());
    assert_eq!(req.target, target);
    assert_eq!(req.headers.get("host"), Some(host.as_str()));
    let server = AcceptConfig::default()
        .protocols(spoken.iter().cloned())
        .deflate(server_deflate.clone());
    let accepted = server.accept(&req).expect("our request is accepted");

    let mut wire = accepted.response.clone();
    wire.extend_from_slice(b"\x81\x00");
    let (negotiated, len) = client
        .parse_response(&wire)
        .expect("the server's response is valid")
        .expect("the server's response is complete");
    assert_eq!(len, accepted.response.len());
    let expected = offered
        .iter()
        .find(|p| !p.is_empty() && spoken.contains(p))
        .cloned();
    assert_eq!(accepted.protocol, expected);
    assert_eq!(negotiated.protocol, expected);
    assert_eq!(negotiated.deflate, accepted.deflate);
    assert_eq!(
        accepted.deflate.is_some(),
        client_deflate.is_some() && server_deflate.is_some()
    );

    // Messages whose repeats lie far apart go both ways with the agreed parameters.
    let mut rng = Rng(u64::from(input.byte()) | 1);
    let chunk: String = (0..700)
        .map(|_| char::from(TARGET_CHARS[rng.below(TARGET_CHARS.len())]))
        .collect();
    let text = chunk.repeat(3);
    let client_config = Config::default().deflate(client_deflate);
    let server_config = Config::default().deflate(server_deflate);
    let mut client_conn = Connection::client(client_config, negotiated.deflate, 1);
    let mut server_conn = Connection::server(server_config, accepted.deflate);
    for _ in 0..2 {
        client_conn
            .send(Message::text(text.as_str()))
            .expect("send");
        server_conn
            .send(Message::text(text.as_str()))
            .expect("send");
        transfer(&mut client_conn, &mut server_conn, &text);
        transfer(&mut server_conn, &mut client_conn, &text);
    }
}

/// Moves what `from` queued to `to`, which must read exactly `text`.
fn transfer(from: &mut Connection, to: &mut Connection, text: &str) {
    let out = from.outbox();
    let mut buf = BytesMut::from(&out.copy_to_bytes(out.remaining())[..]);
    let got = to.read(&mut buf).expect("a valid message");
    assert_eq!(got, Some(Message::text(text)));
    assert!(buf.is_empty());
}

// ===== inflate =====

/// A server [`Connection`] with permessage-deflate reads frames of arbitrary compressed data.
///
/// Input: `[params, limit, split_seed, records @ ..]`. `params` bit 0 is the client's
/// `no_context_takeover` and bits 1–3 its window (8 + value bits); the message size limit is
/// `limit * 64` bytes. Each record `[flags, len, payload; len]` is a frame masked with
/// [`INFLATE_MASK`]: `flags` bit 7 is FIN, bit 6 RSV1 (compressed) and bits 0–3 the opcode;
/// a short last record takes what is left.
///
/// Besides never panicking, every message respects the limit, and all the checks of the
/// `read_message_*` targets hold (the same outcome however the bytes are split).
pub fn inflate(data: &[u8]) {
    let [params, limit, split_seed, records @ ..] = data else {
        return;
    };
    let mut records = records;
    let deflate = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: params & 1 != 0,
        server_max_window_bits: 15,
        client_max_window_bits: 8 + ((params >> 1) & 7),
    };
    let mut wire = Vec::new();
    while let [flags, len, rest @ ..] = records {
        let (payload, next) = rest.split_at(usize::from(*len).min(rest.len()));
        let header = FrameHeader {
            fin: flags & 0x80 != 0,
            rsv1: flags & 0x40 != 0,
            rsv2: false,
            rsv3: false,
            opcode: flags & 0x0f,
            mask: Some(INFLATE_MASK),
            payload_len: payload.len() as u64,
        };
        header.encode(&mut wire);
        let start = wire.len();
        wire.extend_from_slice(payload);
        apply_mask(&mut wire[start..], INFLATE_MASK, 0);
        records = next;
    }
    let setup = Setup {
        role: Role::Server,
        config: Config::default().max_message_size(usize::from(*limit) * 64),
        deflate: Some(deflate),
        close_first: false,
    };
    check_deliveries(&setup, &wire, *split_seed);
}

// ===== helpers =====

/// Reads fuzz input front to back; past the end every byte is zero.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0 {
            [first, rest @ ..] => {
                self.0 = rest;
                *first
            }
            [] => 0,
        }
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.byte())
    }

    fn rest(&mut self) -> &[u8] {
        std::mem::take(&mut self.0)
    }

    /// Up to `max` characters of `chars`.
    fn token(&mut self, chars: &[u8], max: u8) -> String {
        let len = self.byte() % (max + 1);
        (0..len)
            .map(|_| char::from(chars[usize::from(self.byte()) % chars.len()]))
            .collect()
    }

    fn deflate_config(&mut self) -> DeflateConfig {
        let (bits, other) = (self.byte(), self.byte());
        DeflateConfig::default()
            .server_no_context_takeover(bits & 1 != 0)
            .client_no_context_takeover(bits & 2 != 0)
            .server_max_window_bits(8 + ((bits >> 2) & 7))
            .client_max_window_bits(8 + ((bits >> 5) & 7))
            .level(u32::from(other % 10))
            .threshold(usize::from(other >> 4) * 200)
    }
}

/// xorshift64*: cheap, deterministic choices from a seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 33) as usize % n.max(1)
    }
}
