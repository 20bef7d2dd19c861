//! DHCPv6 client messages (RFC 8415 §8) and the relay envelope (RFC 8415 §9), to and from the
//! core's [`ClientRequest`] / [`ClientReply`].
//!
//! # Decoding a client packet
//!
//! 1. The size is checked against [`MAX_UDP_MESSAGE_SIZE`].
//! 2. **Our own relay envelope codec** peels every RELAY-FORW (12) layer: the 34-octet header,
//!    the options validated by the strict TLV validator, exactly one OPTION_RELAY_MSG (9),
//!    at most one INTERFACE_ID (18) and ERO (43, RFC 4994), hop-count at most
//!    [`HOP_COUNT_LIMIT`] and at most [`MAX_RELAY_DEPTH`] layers. dhcproto never sees a relay
//!    message: it decodes the content of OPTION_RELAY_MSG as another relay header and loses the
//!    client message.
//! 3. The client message's option tree is validated ([`super::tlv`]) before dhcproto sees it.
//! 4. dhcproto types **one option at a time**, in wire order: only the options the adapter acts
//!    on (CLIENTID, SERVERID, IA_NA, IA_TA, IA_PD, IAADDR, IAPREFIX, ORO, PREFERENCE,
//!    STATUS_CODE, RAPID_COMMIT), each from a buffer holding exactly that option (a container
//!    only with its fixed part; its sub-options are typed the same way), and each must consume
//!    all of it. So dhcproto's silent stop at a malformed option, its length-ignoring
//!    fixed-size decoders, its panicking decoders (STATUS_CODE, VENDOR_CLASS, VENDOR_OPTS) and
//!    its sorting of options by code can neither crash, shorten nor reorder what we return.
//! 5. The adapter maps the typed options to a [`ClientRequest`]; options the server does not act
//!    on are ignored (RFC 8415 §16 lets servers ignore unrecognised options).
//!
//! # Encoding a reply
//!
//! The ADVERTISE / REPLY is built with dhcproto (`Message::new_with_id`, never `Message::new`,
//! which draws a random transaction id) after our own size and value checks (dhcproto truncates
//! lengths with `as u16` and can overflow), encoded, re-validated by our validator, and wrapped
//! in one RELAY-REPL per relay hop by our envelope codec (RFC 8415 §19.3: hop-count,
//! link-address and peer-address copied, INTERFACE_ID echoed, plus any option the relay listed
//! in an ERO).
//!
//! The configuration options a reply carries ([`crate::dhcp::options::OptionValue`]: 23, 24,
//! 31, 32, 56, 82, 83) are written by our own checked codec (`options.rs`) and handed to
//! dhcproto as opaque options; the reply's decoder reads them back with our decoder.
//!
//! dhcproto keeps options sorted by code, so an encoded message lists its options by code:
//! CLIENTID, SERVERID, IA_NA, IA_TA, PREFERENCE, ELAPSED_TIME, STATUS_CODE, RAPID_COMMIT,
//! DNS_SERVERS, DOMAIN_LIST, IA_PD, SNTP_SERVERS, INFORMATION_REFRESH_TIME, NTP_SERVER,
//! SOL_MAX_RT, INF_MAX_RT; IAs of one kind keep their order. Decoding accepts any order and
//! keeps wire order.

use super::error::WireError;
use super::tlv::{
    self, code, put_option, split_options, validate_option, Reader, Tlv, HOP_COUNT_LIMIT,
    MAX_OPTIONS, MAX_RELAY_DEPTH, MAX_UDP_MESSAGE_SIZE,
};
use crate::dhcp::client::{
    ClientMsgKind, ClientReply, ClientRequest, DhcpStatus, GrantedLease, IaReply, IaRequest,
    ReplyKind, RequestedLease,
};
use crate::failover::message::RawOption;
use crate::resource::{Duid, IaKind, Resource};
use dhcproto::v6::{self as d6, DhcpOption, DhcpOptions, MessageType};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use serde::{Deserialize, Serialize};
use std::net::Ipv6Addr;

/// RELAY-FORW (RFC 8415 §7.3).
pub const MSG_RELAY_FORW: u8 = 12;
/// RELAY-REPL (RFC 8415 §7.3).
pub const MSG_RELAY_REPL: u8 = 13;
/// msg-type, hop-count, link-address, peer-address (RFC 8415 §9).
pub const RELAY_HEADER_LEN: usize = 34;
/// msg-type and transaction-id (RFC 8415 §8).
pub const CLIENT_HEADER_LEN: usize = 4;

/// One relay agent's envelope (RFC 8415 §9.1), as needed to build the matching RELAY-REPL.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RelayHop {
    /// hop-count.
    pub hop_count: u8,
    /// link-address.
    pub link_address: Ipv6Addr,
    /// peer-address.
    pub peer_address: Ipv6Addr,
    /// OPTION_INTERFACE_ID (18), echoed in the RELAY-REPL (RFC 8415 §19.3).
    pub interface_id: Option<Vec<u8>>,
    /// Other options to echo: in a RELAY-FORW, those the relay named in an ERO (43,
    /// RFC 4994); in a RELAY-REPL, every option other than RELAY_MSG and INTERFACE_ID.
    pub echo: Vec<RawOption>,
}

/// What the server needs to answer a client packet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplyContext {
    /// The client's transaction id.
    pub xid: [u8; 3],
    /// The client message type (RFC 8415 §7.3).
    pub msg_type: u8,
    /// The relay chain, outermost first (empty for a direct message).
    pub relays: Vec<RelayHop>,
    /// The client's OPTION_ORO codes, in order (empty if none).
    pub oro: Vec<u16>,
}

/// A decoded client packet: the core's request and the context to answer it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientPacket {
    /// The request for the core.
    pub request: ClientRequest,
    /// The context for [`encode_client_reply`].
    pub context: ReplyContext,
}

mod decode;
mod encode;
mod options;
mod peer;
mod relay;

pub use self::decode::decode_client_packet;
use self::decode::{ia_lease, msg_type_of};
pub use self::encode::encode_client_reply;
use self::encode::{check_duid, d6_ia, finish, in_order};
pub use self::options::{decode_option_value, option_data};
pub use self::peer::{decode_server_reply, encode_client_request};
use self::relay::{build_relay, unwrap_envelopes};
pub use self::relay::{unwrap_relay_repl, wrap_relay_forw};

// ------------------------------------------------------------------------------------------
// dhcproto, one option at a time
// ------------------------------------------------------------------------------------------

fn once<T>(slot: &mut Option<T>, c: u16, v: T) -> Result<(), WireError> {
    if slot.is_some() {
        return Err(WireError::Duplicate(c));
    }
    *slot = Some(v);
    Ok(())
}

fn dhcproto_err(e: impl std::fmt::Display) -> WireError {
    WireError::Dhcproto(e.to_string())
}

/// The options the adapter acts on: only these are handed to dhcproto. Everything else
/// (vendor options, user classes, ...) stays opaque after the validator's structural check, so
/// dhcproto's decoders for them (some of which panic or mis-read lengths) never run.
const TYPED_CODES: &[u16] = &[
    code::CLIENTID,
    code::SERVERID,
    code::IA_NA,
    code::IA_TA,
    code::IAADDR,
    code::ORO,
    code::PREFERENCE,
    code::STATUS_CODE,
    code::RAPID_COMMIT,
    code::IA_PD,
    code::IAPREFIX,
];

/// The fixed part of the containers the adapter types (RFC 8415 §21.4-§21.6, §21.21-§21.22).
fn container_header(c: u16) -> Option<usize> {
    match c {
        code::IA_NA | code::IA_PD => Some(12),
        code::IA_TA => Some(4),
        code::IAADDR => Some(24),
        code::IAPREFIX => Some(25),
        _ => None,
    }
}

/// Validates `area`, then has dhcproto type each option the adapter acts on, in wire order,
/// **one option at a time**: dhcproto gets a buffer holding exactly that option and must
/// consume all of it. A container is handed over as its fixed part only (its sub-options are
/// typed by the caller, again one at a time), so dhcproto never runs its option-area loop
/// (which stops silently at a bad option and sorts by code) on anything. Options the adapter
/// does not act on come back as `None`.
fn typed_options(
    area: &[u8],
    depth: usize,
) -> Result<Vec<(Tlv<'_>, Option<DhcpOption>)>, WireError> {
    let mut budget = MAX_OPTIONS;
    tlv::validate_options(area, depth, &mut budget)?;
    let mut budget = MAX_OPTIONS;
    let tlvs = split_options(area, &mut budget)?;
    let mut out = Vec::with_capacity(tlvs.len());
    for t in tlvs {
        if !TYPED_CODES.contains(&t.code) {
            out.push((t, None));
            continue;
        }
        let data = match container_header(t.code) {
            Some(n) => t.data.get(..n).ok_or(WireError::BadOptionLength {
                code: t.code,
                len: t.data.len(),
                expected: "shorter than the container's fixed part",
            })?,
            None => t.data,
        };
        let mut one = Vec::with_capacity(4 + data.len());
        put_option(&mut one, t.code, data)?;
        let mut dec = Decoder::new(&one);
        let opt = DhcpOption::decode(&mut dec).map_err(dhcproto_err)?;
        let left = dec.buffer().len();
        if left != 0 {
            return Err(WireError::Shortened {
                code: t.code,
                expected: one.len(),
                decoded: one.len() - left.min(one.len()),
            });
        }
        out.push((t, Some(opt)));
    }
    Ok(out)
}

fn ia_inner<'a>(t: &Tlv<'a>, kind: IaKind) -> &'a [u8] {
    let header = if kind == IaKind::Ta { 4 } else { 12 };
    t.data.get(header..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUID: [u8; 10] = [0, 3, 0, 1, 2, 0, 0, 0, 0, 1];

    fn solicit() -> Vec<u8> {
        let mut v = vec![1, 0, 0, 9];
        let _ = put_option(&mut v, code::CLIENTID, &DUID);
        v
    }

    #[test]
    fn ero_requested_relay_options_are_echoed() {
        // RFC 4994: the relay asks (ERO) for REMOTE_ID (37) to be echoed, not SUBSCRIBER_ID (38).
        let mut relay = vec![MSG_RELAY_FORW, 0];
        relay.extend_from_slice(&[0; 32]);
        let _ = put_option(&mut relay, code::ERO, &37u16.to_be_bytes());
        let _ = put_option(&mut relay, 37, &[0, 0, 0, 9, 1]);
        let _ = put_option(&mut relay, 38, b"sub");
        let _ = put_option(&mut relay, code::RELAY_MSG, &solicit());
        let p = decode_client_packet(&relay, 0, false);
        let Ok(p) = p else { panic!("{p:?}") };
        assert_eq!(p.context.relays.len(), 1);
        assert_eq!(
            p.context.relays[0].echo,
            vec![RawOption { code: 37, data: vec![0, 0, 0, 9, 1] }]
        );
        let reply = ClientReply {
            tag: 0,
            kind: ReplyKind::Reply,
            client_id: Some(Duid::new(DUID)),
            server_id: Duid::new(DUID),
            rapid_commit: false,
            status: None,
            ias: vec![],
            preference: None,
            options: vec![],
        };
        let out = encode_client_reply(&reply, &p.context).unwrap_or_default();
        let mut budget = MAX_OPTIONS;
        let codes: Vec<u16> =
            split_options(out.get(RELAY_HEADER_LEN..).unwrap_or_default(), &mut budget)
                .unwrap_or_default()
                .iter()
                .map(|t| t.code)
                .collect();
        assert_eq!(codes, vec![37, code::RELAY_MSG]);
    }

    #[test]
    fn oversized_replies_are_refused_before_dhcproto_sees_them() {
        // 3000 addresses make an IA_NA of 84 012 octets: dhcproto would truncate its length.
        let leases = (0..3000u32)
            .map(|i| GrantedLease {
                resource: Resource::Address(Ipv6Addr::from(u128::from(i))),
                preferred_lifetime: 1,
                valid_lifetime: 2,
            })
            .collect();
        let reply = ClientReply {
            tag: 0,
            kind: ReplyKind::Reply,
            client_id: None,
            server_id: Duid::new(DUID),
            rapid_commit: false,
            status: None,
            ias: vec![IaReply { kind: IaKind::Na, iaid: 1, t1: 0, t2: 0, leases, status: None }],
            preference: None,
            options: vec![],
        };
        let ctx = ReplyContext { xid: [0; 3], msg_type: 1, relays: vec![], oro: vec![] };
        assert!(matches!(encode_client_reply(&reply, &ctx), Err(WireError::TooLarge { .. })));
        // A DUID outside 3..=130 octets is refused too.
        let reply = ClientReply { ias: vec![], server_id: Duid::new([1]), ..reply };
        assert!(matches!(
            encode_client_reply(&reply, &ctx),
            Err(WireError::BadValue { code: 2, .. })
        ));
    }

    #[test]
    fn unicast_only_without_relay() {
        let p = decode_client_packet(&solicit(), 0, true);
        assert_eq!(p.map(|p| p.request.unicast), Ok(true));
        let relayed =
            wrap_relay_forw(&solicit(), 0, Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, None)
                .unwrap_or_default();
        let p = decode_client_packet(&relayed, 0, true);
        assert_eq!(
            p.map(|p| (p.request.unicast, p.request.link_address)),
            Ok((false, Some(Ipv6Addr::LOCALHOST)))
        );
    }
}
