//! `wskit_proto::fuzzing::unmask`: see that function for the input format and the invariants.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wskit_proto::fuzzing::unmask(data));
