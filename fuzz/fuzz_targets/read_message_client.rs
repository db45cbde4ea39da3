//! `wskit_proto::fuzzing::read_message_client`: see that function for the input format and the invariants.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wskit_proto::fuzzing::read_message_client(data));
