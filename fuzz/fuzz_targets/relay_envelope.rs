//! Fuzz target `relay_envelope`: see `failover_model::wire::fuzzing::relay_envelope`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = failover_model::wire::fuzzing::relay_envelope(data) {
        panic!("oracle violated: {e}");
    }
});
