//! Masking: the word-at-a-time `apply_mask` against the byte loop `apply_mask_bytewise`.
//!
//! `cargo bench -p wskit-proto --bench mask`; compare the throughput of the two ids of each
//! size.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use wskit_proto::mask::{apply_mask, apply_mask_bytewise};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn mask(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for size in [16usize, 1 << 10, 64 << 10, 1 << 20] {
        let mut buf: Vec<u8> = (0..size).map(|i| i as u8).collect();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("apply_mask", size), |b| {
            b.iter(|| apply_mask(black_box(&mut buf), black_box(KEY), black_box(1)));
        });
        group.bench_function(BenchmarkId::new("apply_mask_bytewise", size), |b| {
            b.iter(|| apply_mask_bytewise(black_box(&mut buf), black_box(KEY), black_box(1)));
        });
    }
    group.finish();
}

/// The benchmark group. `criterion_group!` defines an undocumented `pub fn benches`.
#[allow(missing_docs, unreachable_pub)]
mod group {
    criterion::criterion_group!(benches, super::mask);
}

criterion_main!(group::benches);
