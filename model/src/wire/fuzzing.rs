//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs`), here so that the corpus replay
//! test (`model/tests/fuzz_corpus_replay.rs`) runs exactly the same code on stable Rust.
//!
//! Each function feeds arbitrary bytes to the decoders. A decoder may accept or refuse them;
//! it must not panic. Where a decoder accepts, the function also checks an oracle (re-encoding
//! works and decodes back to the same value) and returns `Err` with a description if it does
//! not hold; the fuzz target turns that into a crash.

use super::client::{
    decode_client_packet, decode_server_reply, encode_client_reply, encode_client_request,
    unwrap_relay_repl,
};
use super::failover::{decode_message, encode_message, FrameDecoder};
use crate::dhcp::client::{ClientReply, ReplyKind};
use crate::resource::Duid;

/// `failover_frame`: the bytes as a TCP stream (pushed in two pieces, split by the first
/// octet) through [`FrameDecoder`], and as one message through [`decode_message`]. Every
/// decoded message must re-encode and decode back to itself.
pub fn failover_frame(data: &[u8]) -> Result<(), String> {
    let split = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let (a, b) = data.split_at(split);
    let mut fd = FrameDecoder::new();
    fd.push(a);
    let mut frames = 0usize;
    loop {
        match fd.next_message() {
            Ok(Some(m)) => check_failover(&m)?,
            Ok(None) if frames == 0 => {
                frames = 1;
                fd.push(b);
            }
            Ok(None) => break,
            // A frame that does not decode is consumed; framing errors are sticky.
            Err(super::WireError::EmptyFrame | super::WireError::TooLarge { .. }) => break,
            Err(_) => {}
        }
    }
    if let Ok(m) = decode_message(data) {
        check_failover(&m)?;
    }
    Ok(())
}

fn check_failover(m: &crate::failover::message::Message) -> Result<(), String> {
    let bytes =
        encode_message(m).map_err(|e| format!("decoded message does not re-encode: {e}: {m:?}"))?;
    match decode_message(&bytes) {
        Ok(back) if &back == m => Ok(()),
        // STARTTLS and REPLY are accepted in two framings that overlap (failover.rs
        // `decode_message`): a value read from the 8-octet framing re-encodes in the 4-octet
        // one, without its sent-time, and an option area can read differently. The type and
        // the transaction-id must survive.
        Ok(back)
            if !m.body.has_sent_time()
                && back.body.msg_type() == m.body.msg_type()
                && back.xid == m.xid =>
        {
            Ok(())
        }
        other => Err(format!("re-encoded message decodes differently: {other:?} vs {m:?}")),
    }
}

/// `relay_envelope`: the bytes as a (possibly relayed) client packet and as a RELAY-REPL.
/// An accepted packet must be answerable: a reply to it encodes (through the same relay
/// chain) and unwraps back to the same hops.
pub fn relay_envelope(data: &[u8]) -> Result<(), String> {
    if let Ok(p) = decode_client_packet(data, 0, true) {
        let reply = ClientReply {
            tag: 0,
            kind: ReplyKind::Reply,
            client_id: p.request.client_id.clone(),
            server_id: Duid::new([0, 3, 0, 1, 2, 0, 0, 0, 0, 1]),
            rapid_commit: false,
            status: None,
            ias: Vec::new(),
            preference: None,
            options: Vec::new(),
        };
        if let Ok(out) = encode_client_reply(&reply, &p.context) {
            if !p.context.relays.is_empty() {
                let (_, hops) = unwrap_relay_repl(&out)
                    .map_err(|e| format!("our RELAY-REPL does not unwrap: {e}"))?;
                if hops != p.context.relays {
                    return Err(format!("relay hops changed: {hops:?} vs {:?}", p.context.relays));
                }
            }
        }
    }
    let _ = unwrap_relay_repl(data);
    Ok(())
}

/// `client_decoder`: the bytes as a direct client message and as a server reply. An accepted
/// request re-encodes (client helper) and decodes to the same request (IAs grouped by kind).
pub fn client_decoder(data: &[u8]) -> Result<(), String> {
    if let Ok(p) = decode_client_packet(data, 7, false) {
        if p.context.relays.is_empty() {
            let bytes = match encode_client_request(&p.request, p.context.xid) {
                Ok(b) => b,
                // The helper adds ELAPSED_TIME: a request at the size limit may not fit.
                Err(super::WireError::TooLarge { .. }) => return Ok(()),
                Err(e) => return Err(format!("decoded request does not re-encode: {e}")),
            };
            let back = decode_client_packet(&bytes, 7, false)
                .map_err(|e| format!("re-encoded request: {e}"))?;
            let mut expected = p.request.ias.clone();
            expected.sort_by_key(|ia| ia.kind);
            if back.request.ias != expected || back.request.client_id != p.request.client_id {
                return Err(format!("request changed: {:?} vs {:?}", back.request, p.request));
            }
        }
    }
    let _ = decode_server_reply(data);
    Ok(())
}
