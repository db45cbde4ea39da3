//! UTF-8 validation of a 64 KiB text: the streaming `Utf8Validator` fed in one piece and in
//! 1 KiB pieces (cut inside code points), against `std::str::from_utf8`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_main};
use wskit_proto::utf8::Utf8Validator;

/// 64 KiB of mixed ASCII, two-, three- and four-byte code points.
fn text() -> Vec<u8> {
    let sample = "Hello, world! κόσμε, € 20, 𝄞 music; plain ASCII makes up most of it. ";
    let mut text = sample.repeat((64 << 10) / sample.len() + 1);
    let mut end = 64 << 10;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.into_bytes()
}

fn utf8(c: &mut Criterion) {
    let text = text();
    let mut group = c.benchmark_group("utf8_64KiB");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("validator_whole", |b| {
        b.iter(|| {
            let mut v = Utf8Validator::default();
            v.feed(black_box(&text)).unwrap();
            v.finish().unwrap();
        });
    });
    group.bench_function("validator_1KiB_pieces", |b| {
        b.iter(|| {
            let mut v = Utf8Validator::default();
            for piece in black_box(&text).chunks(1024) {
                v.feed(piece).unwrap();
            }
            v.finish().unwrap();
        });
    });
    group.bench_function("std_from_utf8", |b| {
        b.iter(|| std::str::from_utf8(black_box(&text)).unwrap().len());
    });
    group.finish();
}

/// The benchmark group. `criterion_group!` defines an undocumented `pub fn benches`.
#[allow(missing_docs, unreachable_pub)]
mod group {
    criterion::criterion_group!(benches, super::utf8);
}

criterion_main!(group::benches);
