//! Fuzz target `failover_frame`: see `failover_model::wire::fuzzing::failover_frame`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = failover_model::wire::fuzzing::failover_frame(data) {
        panic!("oracle violated: {e}");
    }
});
