//! `wskit_proto::fuzzing::parse_frame_header`: see that function for the input format and the invariants.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wskit_proto::fuzzing::parse_frame_header(data));
