//! Frame headers and message assembly: `FrameHeader::parse` for each length encoding (bytes
//! per second are header bytes), and a server `Connection::read` of masked messages (unmasking,
//! UTF-8 checking, and the assembly of a message from 16 fragments), in payload bytes per
//! second.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_main};
use wskit_proto::frame::FrameHeader;
use wskit_proto::mask::apply_mask;
use wskit_proto::{Config, Connection};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One masked frame; `b0` holds FIN and the opcode.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: b0 & 0x0f,
        mask: Some(KEY),
        payload_len: payload.len() as u64,
    };
    let mut out = Vec::new();
    header.encode(&mut out);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], KEY, 0);
    out
}

fn parse_header(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_header");
    for (name, len) in [("7bit", 100usize), ("16bit", 1000), ("64bit", 100_000)] {
        let mut header = frame(0x82, &vec![0; len]);
        header.truncate(FrameHeader::parse(&header).unwrap().unwrap().1);
        group.throughput(Throughput::Bytes(header.len() as u64));
        group.bench_function(name, |b| b.iter(|| FrameHeader::parse(black_box(&header))));
    }
    group.finish();
}

fn read_message(c: &mut Criterion) {
    let mut group = c.benchmark_group("server_read");
    let text = "the quick brown fox, κόσμε ".repeat(16 << 10);
    let text = &text.as_bytes()[..16 << 10];
    let fragments: Vec<u8> = (0..16)
        .flat_map(|i| {
            let b0 = match i {
                0 => 0x02,
                15 => 0x80,
                _ => 0x00,
            };
            frame(b0, &vec![7; 1024])
        })
        .collect();
    let cases = [
        ("binary", 20, frame(0x82, &[7; 20])),
        ("binary", 16 << 10, frame(0x82, &vec![7; 16 << 10])),
        ("text", 16 << 10, frame(0x81, text)),
        ("assembly_16_fragments", 16 << 10, fragments),
    ];
    for (name, size, wire) in cases {
        let mut server = Connection::server(Config::default(), None);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new(name, size), |b| {
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                |mut buf| server.read(&mut buf).unwrap().unwrap(),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

/// The benchmark group. `criterion_group!` defines an undocumented `pub fn benches`.
#[allow(missing_docs, unreachable_pub)]
mod group {
    criterion::criterion_group!(benches, super::parse_header, super::read_message);
}

criterion_main!(group::benches);
