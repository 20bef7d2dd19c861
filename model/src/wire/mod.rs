//! Octet codecs: the partner link (RFC 5460 §5.1 framing, RFC 8156 §5 messages and options)
//! and DHCPv6 client messages (RFC 8415), each behind a strict TLV validator.
//!
//! This module is pure (no I/O) and is the only place in the project that names dhcproto; no
//! dhcproto type appears in its public API. Every decoder runs [`tlv`]'s validator over the
//! whole option tree before it interprets anything, and never panics on any input.
//!
//! - [`failover`]: [`encode_message`], [`decode_message`], [`encode_frame`], [`FrameDecoder`].
//! - [`client`]: [`decode_client_packet`], [`encode_client_reply`] (with our own RELAY-FORW /
//!   RELAY-REPL envelope codec), and client-side helpers for tests and demo clients.
//! - [`tlv`]: the validator, the limits ([`MAX_MESSAGE_SIZE`], [`MAX_NESTING_DEPTH`],
//!   [`MAX_OPTIONS`], [`HOP_COUNT_LIMIT`]) and the option codes.
//!
//! See `docs/wire.md` for the canonical option order, unknown options, and the dhcproto 0.15.0
//! traps and how each is avoided.

pub mod client;
mod error;
pub mod failover;
pub mod fuzzing;
pub mod tlv;

#[cfg(test)]
mod gaps;

pub use client::{
    decode_client_packet, decode_server_reply, encode_client_reply, encode_client_request,
    unwrap_relay_repl, wrap_relay_forw, ClientPacket, RelayHop, ReplyContext,
};
pub use error::WireError;
pub use failover::{decode_message, encode_frame, encode_message, FrameDecoder};
pub use tlv::{HOP_COUNT_LIMIT, MAX_MESSAGE_SIZE, MAX_NESTING_DEPTH, MAX_OPTIONS};
