//! The fuzz corpus on stable Rust: every committed seed in `fuzz/seeds/<target>/` (and a few
//! deterministic mutations of each) goes through the same `wskit_proto::fuzzing` function as
//! the cargo-fuzz target of that name, so CI exercises the corpus without nightly.
//!
//! The seeds are generated here. After changing the generator or an input format in
//! `src/fuzzing.rs`, regenerate them with
//! `WSKIT_REGEN_SEEDS=1 cargo test -p wskit-proto --test fuzz_seeds` and commit the files.
//! Files in the seed folders that the generator does not make (crashes found by fuzzing, say)
//! are run too.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Buf;
use wskit_proto::deflate::DeflateParams;
use wskit_proto::frame::FrameHeader;
use wskit_proto::fuzzing::{
    self, CLIENT_NONCE, PROTOCOLS, READ_CLOSE_FIRST, READ_DEFLATE, READ_NO_CONTEXT_TAKEOVER,
    READ_SMALL_LIMITS, SMALL_MAX_MESSAGE,
};
use wskit_proto::handshake::client::ClientHandshake;
use wskit_proto::handshake::server::rejection_response;
use wskit_proto::handshake::{MAX_HEADERS, accept_key};
use wskit_proto::mask::apply_mask;
use wskit_proto::{Config, Connection, DeflateConfig, Message};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 6] = [
    ("parse_frame_header", fuzzing::parse_frame_header),
    ("read_message_client", fuzzing::read_message_client),
    ("read_message_server", fuzzing::read_message_server),
    ("unmask", fuzzing::unmask),
    ("handshake", fuzzing::handshake),
    ("inflate", fuzzing::inflate),
];

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target)
}

fn committed_seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = seeds_dir(target);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries.map(|entry| entry.unwrap().path()).collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let data = fs::read(&path).unwrap();
            (path, data)
        })
        .collect()
}

#[test]
fn every_committed_seed_passes() {
    for (target, run) in TARGETS {
        let seeds = committed_seeds(target);
        assert!(!seeds.is_empty(), "no seeds for {target}");
        for (path, data) in seeds {
            eprintln!("{}", path.display());
            run(&data);
        }
    }
}

#[test]
fn mutated_seeds_pass() {
    for (target, run) in TARGETS {
        for (i, (path, data)) in committed_seeds(target).into_iter().enumerate() {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ i as u64);
            for round in 0..32 {
                let mutant = mutate(&data, &mut rng);
                eprintln!("{} mutant {round}: {mutant:02x?}", path.display());
                run(&mutant);
            }
        }
    }
}

#[test]
fn generated_seeds_pass_and_are_committed() {
    let regenerate = std::env::var_os("WSKIT_REGEN_SEEDS").is_some();
    let mut total = 0;
    for (target, name, data) in generate() {
        let run = TARGETS.iter().find(|(t, _)| *t == target).unwrap().1;
        eprintln!("{target}/{name}");
        run(&data);
        let path = seeds_dir(target).join(name);
        if regenerate {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &data).unwrap();
        } else {
            assert!(
                path.exists(),
                "{} is missing: run WSKIT_REGEN_SEEDS=1 cargo test -p wskit-proto --test fuzz_seeds",
                path.display()
            );
        }
        total += data.len();
    }
    assert!(total < 200_000, "the corpus grew to {total} bytes");
}

// ===== mutations =====

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

fn mutate(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = data.to_vec();
    for _ in 0..1 + rng.below(3) {
        let len = out.len();
        match rng.below(5) {
            0 if len > 0 => out[rng.below(len)] ^= 1 << rng.below(8),
            1 if len > 0 => {
                let interesting = [0x00, 0x01, 0x7d, 0x7e, 0x7f, 0x80, 0xc0, 0xff];
                out[rng.below(len)] = interesting[rng.below(interesting.len())];
            }
            2 => out.truncate(rng.below(len + 1)),
            3 if len > 0 => {
                let start = rng.below(len);
                let end = start + rng.below(len - start + 1).min(64);
                let piece = out[start..end].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, piece);
            }
            _ => {
                let at = rng.below(len + 1);
                let byte = rng.below(256) as u8;
                out.insert(at, byte);
            }
        }
    }
    out
}

// ===== the generator =====

const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

fn generate() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let mut add = |target: &'static str, name: &str, data: Vec<u8>| {
        seeds.push((target, name.to_owned(), data));
    };
    for (name, data) in frame_header_seeds() {
        add("parse_frame_header", &name, data);
    }
    for (name, data) in read_seeds(true) {
        add("read_message_server", &name, data);
    }
    for (name, data) in read_seeds(false) {
        add("read_message_client", &name, data);
    }
    for (name, data) in unmask_seeds() {
        add("unmask", &name, data);
    }
    for (name, data) in handshake_seeds() {
        add("handshake", &name, data);
    }
    for (name, data) in inflate_seeds() {
        add("inflate", &name, data);
    }
    seeds
}

/// One frame with the shortest length encoding; `b0` is FIN, RSV and opcode.
fn frame(b0: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        rsv2: b0 & 0x20 != 0,
        rsv3: b0 & 0x10 != 0,
        opcode: b0 & 0x0f,
        mask,
        payload_len: payload.len() as u64,
    };
    let mut out = Vec::new();
    header.encode(&mut out);
    masked_payload(out, mask, payload)
}

/// One frame whose length is encoded in 64 bits whatever it is.
fn frame_64(b0: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![b0, 127 | if mask.is_some() { 0x80 } else { 0 }];
    out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    masked_payload(out, mask, payload)
}

fn masked_payload(mut out: Vec<u8>, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

fn frame_header_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (len, enc) in [(5u64, "7bit"), (300, "16bit"), (70_000, "64bit")] {
        for (mask, m) in [(None, "unmasked"), (Some(KEY), "masked")] {
            let header = FrameHeader {
                fin: true,
                rsv1: false,
                rsv2: false,
                rsv3: false,
                opcode: 0x2,
                mask,
                payload_len: len,
            };
            let mut out = Vec::new();
            header.encode(&mut out);
            seeds.push((format!("binary-{enc}-{m}"), out));
        }
    }
    seeds.push(("text-hello".into(), frame(0x81, None, b"Hello")));
    seeds.push(("ping-masked".into(), frame(0x89, Some(KEY), b"")));
    seeds.push(("close-rsv-all".into(), vec![0xf8, 0x82, 1, 2, 3, 4]));
    seeds.push(("partial-16bit".into(), vec![0x82, 0x7e, 0x01]));
    seeds.push(("partial-mask".into(), vec![0x82, 0xfe, 0x01, 0x00, 0xaa]));
    seeds.push((
        "64bit-top-bit".into(),
        vec![0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1],
    ));
    seeds.push(("64bit-nonminimal".into(), frame_64(0x82, None, b"abc")));
    seeds
}

/// A compressed message as `sender` encodes it: (opcode with RSV1, raw compressed payload)
/// for each message, compressed in order on one connection.
fn compressed(params: DeflateParams, messages: &[Message]) -> Vec<(u8, Vec<u8>)> {
    let mut server = Connection::server(Config::default(), Some(params));
    messages
        .iter()
        .map(|msg| {
            server.send(msg.clone()).unwrap();
            let out = server.outbox();
            let wire = out.copy_to_bytes(out.remaining());
            let (header, len) = FrameHeader::parse(&wire).unwrap().unwrap();
            assert!(header.rsv1);
            (header.opcode, wire[len..].to_vec())
        })
        .collect()
}

fn params(nct: bool, client_bits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: nct,
        client_no_context_takeover: nct,
        server_max_window_bits: 15,
        client_max_window_bits: client_bits,
    }
}

fn read_seeds(server: bool) -> Vec<(String, Vec<u8>)> {
    // The server reads masked frames, the client unmasked ones.
    let key = server.then_some(KEY);
    let f = |b0: u8, payload: &[u8]| frame(b0, key, payload);
    let concat = |frames: &[Vec<u8>]| frames.concat();
    let text: &[u8] = "κόσμε, world".as_bytes();
    let euro = "€".as_bytes();
    let big = "0123456789abcdef".repeat(20);

    let mut wires: Vec<(&str, u8, Vec<u8>)> = vec![
        ("text", 0, f(0x81, b"Hello")),
        ("text-utf8", 0, f(0x81, text)),
        ("binary-empty", 0, f(0x82, b"")),
        ("binary-16bit", 0, f(0x82, big.as_bytes())),
        (
            "binary-64bit-nonminimal",
            0,
            frame_64(0x82, key, big.as_bytes()),
        ),
        ("ping", 0, f(0x89, b"ping!")),
        ("pong", 0, f(0x8a, b"pong")),
        ("close-empty", 0, f(0x88, b"")),
        ("close-1000", 0, f(0x88, &[0x03, 0xe8])),
        ("close-4000-reason", 0, f(0x88, b"\x0f\xa0bye now")),
        ("close-one-byte", 0, f(0x88, &[0x03])),
        ("close-1005", 0, f(0x88, &[0x03, 0xed])),
        ("close-bad-utf8", 0, f(0x88, b"\x03\xe8\xff")),
        (
            "fragmented-with-ping",
            0,
            concat(&[
                f(0x01, "κό".as_bytes()),
                f(0x89, b"ping!"),
                f(0x00, "σμ".as_bytes()),
                f(0x80, "ε".as_bytes()),
            ]),
        ),
        (
            "code-point-split",
            0,
            concat(&[
                f(0x01, &euro[..1]),
                f(0x00, &euro[1..2]),
                f(0x80, &euro[2..]),
            ]),
        ),
        (
            "fragmented-binary",
            0,
            concat(&[f(0x02, b"ab"), f(0x00, b""), f(0x80, b"cd")]),
        ),
        ("invalid-utf8", 0, f(0x81, b"abc\xffdef")),
        ("truncated-code-point", 0, f(0x81, b"abc\xe2\x82")),
        (
            "invalid-utf8-in-fragment",
            0,
            concat(&[f(0x01, b"valid "), f(0x00, b"\xce\xba\xff")]),
        ),
        ("reserved-opcode", 0, f(0x83, b"")),
        ("rsv2", 0, f(0xa1, b"x")),
        ("rsv1-without-deflate", 0, f(0xc1, b"x")),
        (
            "wrong-masking",
            0,
            frame(0x81, (!server).then_some(KEY), b"x"),
        ),
        ("fragmented-ping", 0, f(0x09, b"")),
        ("ping-too-long", 0, f(0x89, &[0; 126])),
        ("continuation-first", 0, f(0x80, b"x")),
        (
            "expected-continuation",
            0,
            concat(&[f(0x01, b"a"), f(0x81, b"b")]),
        ),
        ("partial-frame", 0, f(0x81, b"Hello, world")[..9].to_vec()),
        (
            "several-messages",
            0,
            concat(&[
                f(0x81, b"one"),
                f(0x82, &[1, 2, 3]),
                f(0x89, b""),
                f(0x8a, b"x"),
                f(0x88, &[0x03, 0xe8]),
                f(0x81, b"after close"),
            ]),
        ),
        (
            "small-limits-frame-too-large",
            READ_SMALL_LIMITS,
            f(0x82, &[7; 1100]),
        ),
        (
            "small-limits-message-at-limit",
            READ_SMALL_LIMITS,
            f(0x82, &[7; SMALL_MAX_MESSAGE]),
        ),
        (
            "small-limits-message-over-limit",
            READ_SMALL_LIMITS,
            f(0x81, &[b'a'; SMALL_MAX_MESSAGE + 1]),
        ),
        (
            "small-limits-message-too-large",
            READ_SMALL_LIMITS,
            concat(&[
                f(0x02, &[1; 500]),
                f(0x00, &[2; 500]),
                f(0x00, &[3; 500]),
                f(0x00, &[4; 500]),
                f(0x80, &[5; 500]),
            ]),
        ),
        (
            "small-limits-tiny-fragments",
            READ_SMALL_LIMITS,
            concat(
                &(0..130)
                    .map(|i| f(if i == 0 { 0x02 } else { 0x00 }, b""))
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "close-first",
            READ_CLOSE_FIRST,
            concat(&[f(0x89, b"late ping"), f(0x81, b"in flight"), f(0x88, b"")]),
        ),
        ("close-first-violation", READ_CLOSE_FIRST, f(0x83, b"")),
    ];

    // Compressed messages, as the other end sends them.
    let messages = [
        Message::text("compress me, compress me, compress me"),
        Message::binary(vec![0u8; 1000]),
        Message::text(""),
    ];
    for nct in [false, true] {
        let options = READ_DEFLATE | if nct { READ_NO_CONTEXT_TAKEOVER } else { 0 };
        let frames: Vec<Vec<u8>> = compressed(params(nct, 15), &messages)
            .into_iter()
            .map(|(opcode, payload)| f(0xc0 | opcode, &payload))
            .collect();
        let name = if nct {
            "deflate-no-context-takeover"
        } else {
            "deflate"
        };
        wires.push((name, options, concat(&frames)));
    }
    let (opcode, payload) = compressed(params(false, 15), &messages[..1]).remove(0);
    let (a, rest) = payload.split_at(payload.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    wires.push((
        "deflate-fragmented-with-ping",
        READ_DEFLATE,
        concat(&[f(0x40 | opcode, a), f(0x00, b), f(0x89, b"p"), f(0x80, c)]),
    ));
    wires.push((
        "deflate-mixed-uncompressed",
        READ_DEFLATE,
        concat(&[f(0x81, b"plain"), f(0xc0 | opcode, &payload)]),
    ));
    wires.push(("deflate-invalid-data", READ_DEFLATE, f(0xc2, &[0xff; 8])));
    wires.push((
        "deflate-rsv1-on-continuation",
        READ_DEFLATE,
        concat(&[f(0x42, &payload[..2]), f(0xc0, &payload[2..])]),
    ));
    // RFC 7692 §7.2.3.4: "Hello" in a BFINAL block, with and without the empty-block octet,
    // then sync-flushed ones on the same (context takeover) stream.
    let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    let sync = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    wires.push((
        "deflate-bfinal",
        READ_DEFLATE,
        concat(&[
            f(0xc1, &bfinal),
            f(0xc1, &sync),
            f(0xc1, &bfinal[..7]),
            f(0x41, &sync[..3]),
            f(0x80, &sync[3..]),
        ]),
    ));
    let bomb = compressed(params(false, 15), &[Message::binary(vec![0u8; 100_000])]).remove(0);
    wires.push((
        "deflate-bomb-small-limits",
        READ_DEFLATE | READ_SMALL_LIMITS,
        f(0xc0 | bomb.0, &bomb.1),
    ));

    wires
        .into_iter()
        .enumerate()
        .map(|(i, (name, options, wire))| {
            // Vary the split seed from seed to seed; 0 cuts into single bytes.
            let mut data = vec![options, (i as u8).wrapping_mul(37)];
            data.extend(wire);
            (name.to_owned(), data)
        })
        .collect()
}

fn unmask_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (len, offset, shift) in [
        (0usize, 0u64, 0u8),
        (1, 1, 1),
        (7, 2, 3),
        (8, 3, 0),
        (9, 0, 5),
        (31, 5, 7),
        (64, 0, 0),
        (1000, 6, 2),
        (40, u64::MAX, 0),
    ] {
        let mut data = KEY.to_vec();
        data.extend_from_slice(&offset.to_le_bytes());
        data.push(shift);
        data.extend((0..len).map(|i| (i * 7 + 3) as u8));
        let offset = if offset == u64::MAX {
            "max".into()
        } else {
            offset.to_string()
        };
        seeds.push((format!("len-{len}-offset-{offset}-shift-{shift}"), data));
    }
    seeds
}

fn handshake_seeds() -> Vec<(String, Vec<u8>)> {
    let client = ClientHandshake::new("example.com", "/chat", CLIENT_NONCE)
        .protocols(PROTOCOLS)
        .deflate(Some(DeflateConfig::default()))
        .header("Origin", "https://example.com");
    let accept = accept_key(
        base64_encode(&CLIENT_NONCE).as_bytes(), // the key the client sent
    );
    let switching = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
    );
    let mut many_headers = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..=MAX_HEADERS {
        many_headers.push_str(&format!("X-{i}: {i}\r\n"));
    }
    many_headers.push_str("\r\n");
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("request-client", client.request()),
        (
            "request-rfc6455",
            b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n".to_vec(),
        ),
        (
            "request-browser",
            b"GET /socket?room=1 HTTP/1.1\r\nHost: localhost:9001\r\nConnection: keep-alive, Upgrade\r\nPragma: no-cache\r\nUser-Agent: Mozilla/5.0\r\nUpgrade: websocket\r\nOrigin: http://localhost:9001\r\nSec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n\x81\x85\x01\x02\x03\x04".to_vec(),
        ),
        (
            "request-offers",
            b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=10; client_max_window_bits=\"9\"; server_no_context_takeover\r\nSec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\nSec-WebSocket-Protocol: x, superchat\r\n\r\n".to_vec(),
        ),
        (
            "request-post",
            b"POST /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".to_vec(),
        ),
        (
            "request-version-8",
            b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n".to_vec(),
        ),
        (
            "request-http10-no-key",
            b"GET / HTTP/1.0\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_vec(),
        ),
        ("request-too-many-headers", many_headers.into_bytes()),
        ("request-partial", client.request()[..40].to_vec()),
        ("not-http", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec()),
        ("response-plain", format!("{switching}\r\n").into_bytes()),
        (
            "response-negotiated",
            format!("{switching}Sec-WebSocket-Protocol: superchat\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=10\r\n\r\n")
                .into_bytes()
                .into_iter()
                .chain([0x81, 0x00])
                .collect(),
        ),
        (
            "response-bad-extension",
            format!("{switching}Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=16\r\n\r\n").into_bytes(),
        ),
        (
            "response-bad-accept",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n".to_vec(),
        ),
        ("response-rejection", rejection_response(426, "unsupported version", &[])),
        // Settings for the round trip: nonce, flags (2 protocols, both sides deflate), host,
        // target, protocols, which the server speaks, deflate settings, message seed.
        (
            "settings-everything",
            [
                &[7u8; 16][..],
                &[0x0e, 4, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 2, 20, 21, 3, 30, 31, 32, 0x02, 0x01, 0x53, 0xe7, 0x25, 0x99, 0x2a],
            ]
            .concat(),
        ),
        (
            "settings-small-windows",
            [&[1u8; 16][..], &[0x0c, 1, 0, 0, 0x00, 0x00, 0x00, 0x00, 0x07]].concat(),
        ),
    ];
    seeds
        .into_iter()
        .map(|(name, data)| (name.to_owned(), data))
        .collect()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn inflate_seeds() -> Vec<(String, Vec<u8>)> {
    /// Records for frames of a message: the first carries `first` (opcode and RSV1).
    fn message_records(first: u8, payload: &[u8], chunk: usize) -> Vec<u8> {
        let chunks: Vec<&[u8]> = if payload.is_empty() {
            vec![&[]]
        } else {
            payload.chunks(chunk.min(255)).collect()
        };
        let mut out = Vec::new();
        for (i, piece) in chunks.iter().enumerate() {
            let mut flags = if i == 0 { first } else { 0x00 };
            if i + 1 == chunks.len() {
                flags |= 0x80;
            }
            out.push(flags);
            out.push(piece.len() as u8);
            out.extend_from_slice(piece);
        }
        out
    }
    let json =
        r#"{"id":1,"type":"update","payload":{"name":"wskit","tags":["a","b","c"]}}"#.repeat(8);
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut add =
        |name, params_byte: u8, limit: u8, nct: bool, bits: u8, messages: &[Message], chunk| {
            let mut data = vec![params_byte, limit, 0x25];
            for (opcode, payload) in compressed(params(nct, bits), messages) {
                data.extend(message_records(0x40 | opcode, &payload, chunk));
            }
            seeds.push((name, data));
        };
    let text = Message::text(json.as_str());
    add(
        "text",
        0x0e,
        0xff,
        false,
        15,
        std::slice::from_ref(&text),
        255,
    );
    add(
        "text-fragmented",
        0x0e,
        0xff,
        false,
        15,
        std::slice::from_ref(&text),
        40,
    );
    add(
        "context-takeover",
        0x0e,
        0xff,
        false,
        15,
        &[text.clone(), text.clone()],
        255,
    );
    add(
        "no-context-takeover",
        0x0f,
        0xff,
        true,
        15,
        &[text.clone(), text.clone()],
        255,
    );
    add(
        "window-9",
        0x02,
        0xff,
        false,
        9,
        std::slice::from_ref(&text),
        255,
    );
    add(
        "empty-message",
        0x0e,
        0xff,
        false,
        15,
        &[Message::binary(Vec::new())],
        255,
    );
    add(
        "bomb",
        0x0e,
        0x10,
        false,
        15,
        &[Message::binary(vec![0u8; 1 << 20])],
        255,
    );
    add(
        "limit-zero",
        0x0e,
        0x00,
        false,
        15,
        &[Message::text("x")],
        255,
    );
    let mut wire = vec![0x0e, 0xff, 0x00];
    wire.extend([0xc2, 4, 0xff, 0xff, 0xff, 0xff]); // not deflate data
    seeds.push(("invalid", wire));
    let mut wire = vec![0x0e, 0xff, 0x09];
    wire.extend([0xc1, 8, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]); // BFINAL "Hello"
    wire.extend([0xc1, 7, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]); // without the octet
    wire.extend([0xc1, 7, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]); // sync-flushed
    seeds.push(("bfinal", wire));
    let mut wire = vec![0x0e, 0xff, 0x07];
    wire.extend([0x81, 5]);
    wire.extend_from_slice(b"plain");
    wire.extend([0xc1, 7, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]); // "Hello"
    wire.extend([0x89, 1, b'p']);
    seeds.push(("mixed", wire));
    // Stored (level 0) blocks, made by hand: BFINAL=0, BTYPE=00, LEN, NLEN, data.
    let mut wire = vec![
        0x0e, 0xff, 0x01, 0x42, 8, 0x00, 0x03, 0x00, 0xfc, 0xff, b'a', b'b', b'c',
    ];
    wire.extend([0x80, 0]);
    seeds.push(("stored-block", wire));
    seeds
        .into_iter()
        .map(|(name, data)| (name.to_owned(), data))
        .collect()
}
