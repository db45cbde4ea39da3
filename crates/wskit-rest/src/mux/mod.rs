//! Our multiplexed protocol (`wskit-rest.v1`); see `docs/rest-protocol.md`.

mod engine;
mod frame;

pub(crate) use engine::Mux;
