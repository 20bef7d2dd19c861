//! Fuzz target `client_decoder`: see `failover_model::wire::fuzzing::client_decoder`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = failover_model::wire::fuzzing::client_decoder(data) {
        panic!("oracle violated: {e}");
    }
});
