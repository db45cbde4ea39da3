//! permessage-deflate: a 16 KiB JSON-like text sent by a client `Connection` (compressed and
//! masked) and read by a server `Connection` (unmasked and inflated), with and without
//! context takeover. Four different texts take turns, so that with context takeover a message
//! is never compressed against an identical one still in the 32 KiB window.

use bytes::{Buf, BytesMut};
use criterion::{Criterion, Throughput, criterion_main};
use wskit_proto::{Config, Connection, DeflateParams, Message};

/// About 16 KiB of JSON records that resemble each other, as real traffic does.
fn json(seed: u32) -> String {
    let mut out = String::from("[");
    let mut i = seed * 1000;
    while out.len() < (16 << 10) - 200 {
        out.push_str(&format!(
            r#"{{"id":{i},"user":"user-{}","score":{},"tags":["alpha","beta"],"active":{}}},"#,
            i * 7919 % 997,
            i * 31 % 1000,
            i % 3 == 0
        ));
        i += 1;
    }
    out.push_str("{}]");
    out
}

fn deflate(c: &mut Criterion) {
    let texts: Vec<String> = (0..4).map(json).collect();
    let mut group = c.benchmark_group("deflate_roundtrip_16KiB");
    group.throughput(Throughput::Bytes(texts[0].len() as u64));
    for (name, nct) in [("context_takeover", false), ("no_context_takeover", true)] {
        let params = DeflateParams {
            server_no_context_takeover: nct,
            client_no_context_takeover: nct,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let mut client = Connection::client(Config::default(), Some(params), 42);
        let mut server = Connection::server(Config::default(), Some(params));
        let mut wire = BytesMut::new();
        let mut turn = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                let text = &texts[turn % texts.len()];
                turn += 1;
                client.send(Message::text(text.as_str())).unwrap();
                let out = client.outbox();
                while out.has_remaining() {
                    let chunk = out.chunk();
                    wire.extend_from_slice(chunk);
                    let n = chunk.len();
                    out.advance(n);
                }
                let msg = server.read(&mut wire).unwrap().unwrap();
                assert_eq!(msg.as_payload().len(), text.len());
            });
        });
    }
    group.finish();
}

/// The benchmark group. `criterion_group!` defines an undocumented `pub fn benches`.
#[allow(missing_docs, unreachable_pub)]
mod group {
    criterion::criterion_group!(benches, super::deflate);
}

criterion_main!(group::benches);
