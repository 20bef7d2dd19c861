//! Replays the committed fuzz seed corpus (`fuzz/corpus/<target>/`) through the same code the
//! cargo-fuzz targets run (`failover_model::wire::fuzzing`), on stable Rust, so CI exercises
//! the fuzz harnesses without nightly or libFuzzer. Inputs found by fuzzing can be dropped in
//! the corpus directories and are replayed here too.
//!
//! The seeds are valid messages, so this test also checks that each decodes.

use failover_model::wire::fuzzing;
use failover_model::wire::{
    decode_client_packet, decode_server_reply, unwrap_relay_repl, FrameDecoder,
};
use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fuzz")
        .join("corpus")
        .join(target);
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() {
            let name =
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((name, bytes));
        }
    }
    out.sort();
    assert!(out.len() >= 3, "{target}: expected a seed corpus in {}", dir.display());
    out
}

#[test]
fn failover_frame_corpus() {
    for (name, bytes) in corpus("failover_frame") {
        assert_eq!(fuzzing::failover_frame(&bytes), Ok(()), "{name}");
        let mut fd = FrameDecoder::new();
        fd.push(&bytes);
        let mut n = 0;
        loop {
            match fd.next_message() {
                Ok(Some(_)) => n += 1,
                Ok(None) => break,
                Err(e) => panic!("{name}: {e}"),
            }
        }
        assert!(n >= 1 && fd.buffered() == 0, "{name}: {n} frames, {} octets left", fd.buffered());
    }
}

#[test]
fn relay_envelope_corpus() {
    for (name, bytes) in corpus("relay_envelope") {
        assert_eq!(fuzzing::relay_envelope(&bytes), Ok(()), "{name}");
        let ok = decode_client_packet(&bytes, 0, true).is_ok() || unwrap_relay_repl(&bytes).is_ok();
        assert!(ok, "{name}: seed does not decode");
    }
}

#[test]
fn client_decoder_corpus() {
    for (name, bytes) in corpus("client_decoder") {
        assert_eq!(fuzzing::client_decoder(&bytes), Ok(()), "{name}");
        let ok =
            decode_client_packet(&bytes, 0, false).is_ok() || decode_server_reply(&bytes).is_ok();
        assert!(ok, "{name}: seed does not decode");
    }
}
