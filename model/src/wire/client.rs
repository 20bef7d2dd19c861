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
//! dhcproto keeps options sorted by code, so an encoded message lists its options by code:
//! CLIENTID, SERVERID, IA_NA, IA_TA, PREFERENCE, ELAPSED_TIME, STATUS_CODE, RAPID_COMMIT,
//! IA_PD; IAs of one kind keep their order. Decoding accepts any order and keeps wire order.

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

// ------------------------------------------------------------------------------------------
// The relay envelope (our own codec)
// ------------------------------------------------------------------------------------------

/// Parses one relay envelope; returns the hop and the OPTION_RELAY_MSG content.
fn parse_relay(bytes: &[u8], forward: bool) -> Result<(RelayHop, &[u8]), WireError> {
    if bytes.len() < RELAY_HEADER_LEN {
        return Err(WireError::Truncated { needed: RELAY_HEADER_LEN, available: bytes.len() });
    }
    let mut r = Reader::new(bytes);
    let _msg_type = r.u8()?;
    let hop_count = r.u8()?;
    if hop_count > HOP_COUNT_LIMIT {
        return Err(WireError::TooManyHops {
            hops: usize::from(hop_count),
            limit: usize::from(HOP_COUNT_LIMIT),
        });
    }
    let link_address = r.ipv6()?;
    let peer_address = r.ipv6()?;
    let mut budget = MAX_OPTIONS;
    let tlvs = split_options(r.rest(), &mut budget)?;
    let mut relay_msg: Option<&[u8]> = None;
    let mut interface_id: Option<Vec<u8>> = None;
    let mut ero: Option<Vec<u16>> = None;
    let mut others = Vec::new();
    for t in tlvs {
        match t.code {
            code::RELAY_MSG => {
                if relay_msg.is_some() {
                    return Err(WireError::Duplicate(t.code));
                }
                relay_msg = Some(t.data);
                continue;
            }
            _ => validate_option(t, 0, &mut budget)?,
        }
        match t.code {
            code::INTERFACE_ID => once(&mut interface_id, t.code, t.data.to_vec())?,
            code::ERO => once(
                &mut ero,
                t.code,
                t.data
                    .chunks_exact(2)
                    .filter_map(|c| <[u8; 2]>::try_from(c).ok())
                    .map(u16::from_be_bytes)
                    .collect(),
            )?,
            _ => others.push(RawOption { code: t.code, data: t.data.to_vec() }),
        }
    }
    let inner = relay_msg.ok_or(WireError::Missing { code: code::RELAY_MSG, within: 0 })?;
    let echo = if forward {
        let wanted = ero.unwrap_or_default();
        others.into_iter().filter(|o| wanted.contains(&o.code)).collect()
    } else {
        if let Some(codes) = ero {
            let mut data = Vec::with_capacity(codes.len() * 2);
            for c in codes {
                data.extend_from_slice(&c.to_be_bytes());
            }
            others.insert(0, RawOption { code: code::ERO, data });
        }
        others
    };
    Ok((RelayHop { hop_count, link_address, peer_address, interface_id, echo }, inner))
}

/// Peels every envelope of type `relay_type`, outermost first.
fn unwrap_envelopes(bytes: &[u8], relay_type: u8) -> Result<(&[u8], Vec<RelayHop>), WireError> {
    let mut cur = bytes;
    let mut hops = Vec::new();
    while cur.first() == Some(&relay_type) {
        if hops.len() >= MAX_RELAY_DEPTH {
            return Err(WireError::TooManyHops { hops: hops.len() + 1, limit: MAX_RELAY_DEPTH });
        }
        let (hop, inner) = parse_relay(cur, relay_type == MSG_RELAY_FORW)?;
        hops.push(hop);
        cur = inner;
    }
    Ok((cur, hops))
}

fn build_relay(msg_type: u8, hop: &RelayHop, inner: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(RELAY_HEADER_LEN + 8 + inner.len());
    out.push(msg_type);
    out.push(hop.hop_count);
    out.extend_from_slice(&hop.link_address.octets());
    out.extend_from_slice(&hop.peer_address.octets());
    if let Some(id) = &hop.interface_id {
        put_option(&mut out, code::INTERFACE_ID, id)?;
    }
    for o in &hop.echo {
        if o.code == code::RELAY_MSG || o.code == code::INTERFACE_ID {
            return Err(WireError::BadValue {
                code: o.code,
                reason: "echoed option duplicates an envelope option",
            });
        }
        put_option(&mut out, o.code, &o.data)?;
    }
    put_option(&mut out, code::RELAY_MSG, inner)?;
    if out.len() > MAX_UDP_MESSAGE_SIZE {
        return Err(WireError::TooLarge { size: out.len(), limit: MAX_UDP_MESSAGE_SIZE });
    }
    Ok(out)
}

/// Wraps a message in a RELAY-FORW (RFC 8415 §9.1), as a relay agent would (test clients,
/// the runtime's demo clients). The inner message is carried in OPTION_RELAY_MSG, after
/// INTERFACE_ID if given.
pub fn wrap_relay_forw(
    inner: &[u8],
    hop_count: u8,
    link: Ipv6Addr,
    peer: Ipv6Addr,
    interface_id: Option<&[u8]>,
) -> Result<Vec<u8>, WireError> {
    if hop_count > HOP_COUNT_LIMIT {
        return Err(WireError::TooManyHops {
            hops: usize::from(hop_count),
            limit: usize::from(HOP_COUNT_LIMIT),
        });
    }
    let hop = RelayHop {
        hop_count,
        link_address: link,
        peer_address: peer,
        interface_id: interface_id.map(<[u8]>::to_vec),
        echo: Vec::new(),
    };
    build_relay(MSG_RELAY_FORW, &hop, inner)
}

/// Peels every RELAY-REPL envelope (RFC 8415 §9.2) off a server's answer: the innermost
/// message and the hops, outermost first.
pub fn unwrap_relay_repl(bytes: &[u8]) -> Result<(Vec<u8>, Vec<RelayHop>), WireError> {
    if bytes.len() > MAX_UDP_MESSAGE_SIZE {
        return Err(WireError::TooLarge { size: bytes.len(), limit: MAX_UDP_MESSAGE_SIZE });
    }
    if bytes.first() != Some(&MSG_RELAY_REPL) {
        return Err(WireError::UnexpectedMessageType(bytes.first().copied().unwrap_or(0)));
    }
    let (inner, hops) = unwrap_envelopes(bytes, MSG_RELAY_REPL)?;
    Ok((inner.to_vec(), hops))
}

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

// ------------------------------------------------------------------------------------------
// Decoding client packets
// ------------------------------------------------------------------------------------------

fn kind_of(t: u8) -> Option<ClientMsgKind> {
    Some(match t {
        1 => ClientMsgKind::Solicit,
        3 => ClientMsgKind::Request,
        4 => ClientMsgKind::Confirm,
        5 => ClientMsgKind::Renew,
        6 => ClientMsgKind::Rebind,
        8 => ClientMsgKind::Release,
        9 => ClientMsgKind::Decline,
        11 => ClientMsgKind::InformationRequest,
        _ => return None,
    })
}

fn msg_type_of(k: ClientMsgKind) -> MessageType {
    match k {
        ClientMsgKind::Solicit => MessageType::Solicit,
        ClientMsgKind::Request => MessageType::Request,
        ClientMsgKind::Confirm => MessageType::Confirm,
        ClientMsgKind::Renew => MessageType::Renew,
        ClientMsgKind::Rebind => MessageType::Rebind,
        ClientMsgKind::Release => MessageType::Release,
        ClientMsgKind::Decline => MessageType::Decline,
        ClientMsgKind::InformationRequest => MessageType::InformationRequest,
    }
}

/// Decodes a packet received from a client or relay agent (RFC 8415 §8, §9).
///
/// `tag` is the runtime's routing tag; `unicast` says whether the datagram was sent to a
/// unicast address. [`ClientRequest::unicast`] is true only for a unicast message *without*
/// a relay (RFC 8415 §16, §18.4: relays always unicast to the server).
/// [`ClientRequest::link_address`] is the innermost relay's link-address unless it is `::`.
pub fn decode_client_packet(
    bytes: &[u8],
    tag: u64,
    unicast: bool,
) -> Result<ClientPacket, WireError> {
    if bytes.len() > MAX_UDP_MESSAGE_SIZE {
        return Err(WireError::TooLarge { size: bytes.len(), limit: MAX_UDP_MESSAGE_SIZE });
    }
    let (inner, relays) = unwrap_envelopes(bytes, MSG_RELAY_FORW)?;
    if inner.len() < CLIENT_HEADER_LEN {
        return Err(WireError::Truncated { needed: CLIENT_HEADER_LEN, available: inner.len() });
    }
    let mut r = Reader::new(inner);
    let ty = r.u8()?;
    let xid = r.array::<3>()?;
    let kind = kind_of(ty).ok_or(WireError::UnexpectedMessageType(ty))?;
    let area = r.rest();
    let typed = typed_options(area, 0)?;
    let mut client_id = None;
    let mut server_id = None;
    let mut rapid: Option<()> = None;
    let mut oro: Option<Vec<u16>> = None;
    let mut ias = Vec::new();
    for (t, opt) in &typed {
        let c = t.code;
        let Some(opt) = opt.clone() else { continue };
        match opt {
            DhcpOption::ClientId(v) => once(&mut client_id, c, Duid(v))?,
            DhcpOption::ServerId(v) => once(&mut server_id, c, Duid(v))?,
            DhcpOption::RapidCommit => once(&mut rapid, c, ())?,
            DhcpOption::ORO(o) => {
                once(&mut oro, c, o.opts.iter().map(|&x| u16::from(x)).collect())?
            }
            DhcpOption::IANA(ia) => ias.push(dec_ia_request(IaKind::Na, ia.id, t)?),
            DhcpOption::IATA(ia) => ias.push(dec_ia_request(IaKind::Ta, ia.id, t)?),
            DhcpOption::IAPD(ia) => ias.push(dec_ia_request(IaKind::Pd, ia.id, t)?),
            _ => {}
        }
    }
    let link_address = relays.last().map(|h| h.link_address).filter(|a| !a.is_unspecified());
    let request = ClientRequest {
        tag,
        kind,
        client_id,
        server_id,
        rapid_commit: rapid.is_some(),
        ias,
        link_address,
        unicast: unicast && relays.is_empty(),
    };
    let context = ReplyContext { xid, msg_type: ty, relays, oro: oro.unwrap_or_default() };
    Ok(ClientPacket { request, context })
}

/// The address or prefix (with its preferred and valid lifetimes) of an IAADDR / IAPREFIX
/// inside an IA of `kind` (option code `ia_code`), `None` for any other option. An address in an
/// IA_PD, a prefix in an IA_NA / IA_TA and a prefix length above 128 are errors.
fn ia_lease(
    kind: IaKind,
    ia_code: u16,
    sub: &DhcpOption,
) -> Result<Option<(Resource, u32, u32)>, WireError> {
    match (kind, sub) {
        (IaKind::Na | IaKind::Ta, DhcpOption::IAAddr(a)) => {
            Ok(Some((Resource::Address(a.addr), a.preferred_life, a.valid_life)))
        }
        (IaKind::Pd, DhcpOption::IAPrefix(p)) => {
            if p.prefix_len > 128 {
                return Err(WireError::BadValue {
                    code: code::IAPREFIX,
                    reason: "prefix-length above 128",
                });
            }
            Ok(Some((
                Resource::Prefix(p.prefix_ip, p.prefix_len),
                p.preferred_lifetime,
                p.valid_lifetime,
            )))
        }
        (IaKind::Pd, DhcpOption::IAAddr(_)) => {
            Err(WireError::BadValue { code: code::IA_PD, reason: "an address inside an IA_PD" })
        }
        (_, DhcpOption::IAPrefix(_)) => {
            Err(WireError::BadValue { code: ia_code, reason: "a prefix inside an IA_NA / IA_TA" })
        }
        _ => Ok(None),
    }
}

fn dec_ia_request(kind: IaKind, iaid: u32, t: &Tlv<'_>) -> Result<IaRequest, WireError> {
    let mut leases = Vec::new();
    for (_, sub) in typed_options(ia_inner(t, kind), 1)? {
        let Some(sub) = sub else { continue };
        if let Some((resource, preferred_lifetime, valid_lifetime)) = ia_lease(kind, t.code, &sub)?
        {
            leases.push(RequestedLease { resource, preferred_lifetime, valid_lifetime });
        }
    }
    Ok(IaRequest { kind, iaid, leases })
}

// ------------------------------------------------------------------------------------------
// Encoding replies
// ------------------------------------------------------------------------------------------

fn d6_status(s: DhcpStatus) -> DhcpOption {
    DhcpOption::StatusCode(d6::StatusCode {
        status: d6::Status::from(s.code()),
        msg: s.name().to_string(),
    })
}

fn check_duid(c: u16, d: &Duid) -> Result<(), WireError> {
    if (tlv::DUID_MIN_LEN..=tlv::DUID_MAX_LEN).contains(&d.0.len()) {
        Ok(())
    } else {
        Err(WireError::BadValue { code: c, reason: "a DUID is 3..=130 octets (RFC 8415 §11.1)" })
    }
}

/// dhcproto's `DhcpOptions::insert` keeps options sorted by code but puts a new option
/// *before* the options of the same code already there (so inserting in order reverses
/// same-code options), and its `FromIterator` uses an unstable sort. Inserting in reverse
/// order gives: sorted by code, same-code options in `opts` order (pinned by a regression
/// test in `gaps.rs`).
fn in_order(opts: Vec<DhcpOption>) -> DhcpOptions {
    let mut out = DhcpOptions::new();
    for o in opts.into_iter().rev() {
        out.insert(o);
    }
    out
}

/// One lease as a dhcproto option, after our own checks. `size` accumulates its octets.
fn d6_lease(
    kind: IaKind,
    resource: Resource,
    pref: u32,
    valid: u32,
) -> Result<(DhcpOption, usize), WireError> {
    match (kind, resource) {
        (IaKind::Na | IaKind::Ta, Resource::Address(addr)) => Ok((
            DhcpOption::IAAddr(d6::IAAddr {
                addr,
                preferred_life: pref,
                valid_life: valid,
                opts: DhcpOptions::new(),
            }),
            4 + 24,
        )),
        (IaKind::Pd, Resource::Prefix(prefix_ip, prefix_len)) => {
            if prefix_len > 128 {
                return Err(WireError::BadValue {
                    code: code::IAPREFIX,
                    reason: "prefix-length above 128",
                });
            }
            Ok((
                DhcpOption::IAPrefix(d6::IAPrefix {
                    preferred_lifetime: pref,
                    valid_lifetime: valid,
                    prefix_len,
                    prefix_ip,
                    opts: DhcpOptions::new(),
                }),
                4 + 25,
            ))
        }
        (IaKind::Pd, Resource::Address(_)) => {
            Err(WireError::BadValue { code: code::IA_PD, reason: "an address inside an IA_PD" })
        }
        (_, Resource::Prefix(..)) => Err(WireError::BadValue {
            code: code::IA_NA,
            reason: "a prefix inside an IA_NA / IA_TA",
        }),
    }
}

/// Builds a dhcproto IA option after checking that its encoded size fits a 16-bit length.
fn d6_ia(
    kind: IaKind,
    iaid: u32,
    t1: u32,
    t2: u32,
    leases: impl Iterator<Item = (Resource, u32, u32)>,
    status: Option<DhcpStatus>,
) -> Result<(DhcpOption, usize), WireError> {
    let mut opts = Vec::new();
    let mut size: usize = if kind == IaKind::Ta { 4 } else { 12 };
    for (res, pref, valid) in leases {
        let (o, n) = d6_lease(kind, res, pref, valid)?;
        size = size.saturating_add(n);
        if size > usize::from(u16::MAX) {
            return Err(WireError::TooLarge { size, limit: usize::from(u16::MAX) });
        }
        opts.push(o);
    }
    if let Some(s) = status {
        size = size.saturating_add(6 + s.name().len());
        opts.push(d6_status(s));
    }
    let opts = in_order(opts);
    if size > usize::from(u16::MAX) {
        return Err(WireError::TooLarge { size, limit: usize::from(u16::MAX) });
    }
    let opt = match kind {
        IaKind::Na => DhcpOption::IANA(d6::IANA { id: iaid, t1, t2, opts }),
        IaKind::Pd => DhcpOption::IAPD(d6::IAPD { id: iaid, t1, t2, opts }),
        IaKind::Ta => {
            if t1 != 0 || t2 != 0 {
                return Err(WireError::BadValue {
                    code: code::IA_TA,
                    reason: "IA_TA has no T1/T2 on the wire",
                });
            }
            DhcpOption::IATA(d6::IATA { id: iaid, opts })
        }
    };
    Ok((opt, size + 4))
}

/// Encodes a dhcproto message after the size pre-check, then re-validates the octets.
fn finish(msg: &d6::Message, size: usize) -> Result<Vec<u8>, WireError> {
    if size > MAX_UDP_MESSAGE_SIZE {
        return Err(WireError::TooLarge { size, limit: MAX_UDP_MESSAGE_SIZE });
    }
    let mut out = Vec::with_capacity(size);
    let mut e = Encoder::new(&mut out);
    msg.encode(&mut e).map_err(dhcproto_err)?;
    tlv::validate(out.get(CLIENT_HEADER_LEN..).unwrap_or_default())?;
    Ok(out)
}

/// Encodes the core's reply as ADVERTISE or REPLY, wrapped in one RELAY-REPL per relay hop of
/// `ctx` (innermost relay innermost).
pub fn encode_client_reply(reply: &ClientReply, ctx: &ReplyContext) -> Result<Vec<u8>, WireError> {
    let mt = match reply.kind {
        ReplyKind::Advertise => MessageType::Advertise,
        ReplyKind::Reply => MessageType::Reply,
    };
    let mut msg = d6::Message::new_with_id(mt, ctx.xid);
    let mut size = CLIENT_HEADER_LEN;
    let mut opts = Vec::new();
    if let Some(c) = &reply.client_id {
        check_duid(code::CLIENTID, c)?;
        size += 4 + c.0.len();
        opts.push(DhcpOption::ClientId(c.0.clone()));
    }
    check_duid(code::SERVERID, &reply.server_id)?;
    size += 4 + reply.server_id.0.len();
    opts.push(DhcpOption::ServerId(reply.server_id.0.clone()));
    for ia in &reply.ias {
        let leases = ia.leases.iter().map(|l| (l.resource, l.preferred_lifetime, l.valid_lifetime));
        let (o, n) = d6_ia(ia.kind, ia.iaid, ia.t1, ia.t2, leases, ia.status)?;
        size = size.saturating_add(n);
        if size > MAX_UDP_MESSAGE_SIZE {
            return Err(WireError::TooLarge { size, limit: MAX_UDP_MESSAGE_SIZE });
        }
        opts.push(o);
    }
    if let Some(p) = reply.preference {
        size += 5;
        opts.push(DhcpOption::Preference(p));
    }
    if let Some(s) = reply.status {
        size += 6 + s.name().len();
        opts.push(d6_status(s));
    }
    if reply.rapid_commit {
        size += 4;
        opts.push(DhcpOption::RapidCommit);
    }
    msg.set_opts(in_order(opts));
    let mut out = finish(&msg, size)?;
    for hop in ctx.relays.iter().rev() {
        out = build_relay(MSG_RELAY_REPL, hop, &out)?;
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------
// Client side (tests, demo clients)
// ------------------------------------------------------------------------------------------

/// Encodes a client request (as a client would send it) with transaction id `xid`: CLIENTID,
/// SERVERID, the IAs with their IAADDR / IAPREFIX hints (T1 = T2 = 0), ELAPSED_TIME 0
/// (RFC 8415 §21.9: MUST be sent) and RAPID_COMMIT. `tag`, `link_address` and `unicast` are
/// not on the wire.
pub fn encode_client_request(req: &ClientRequest, xid: [u8; 3]) -> Result<Vec<u8>, WireError> {
    let mut msg = d6::Message::new_with_id(msg_type_of(req.kind), xid);
    let mut size = CLIENT_HEADER_LEN + 6;
    let mut opts = Vec::new();
    if let Some(c) = &req.client_id {
        check_duid(code::CLIENTID, c)?;
        size += 4 + c.0.len();
        opts.push(DhcpOption::ClientId(c.0.clone()));
    }
    if let Some(s) = &req.server_id {
        check_duid(code::SERVERID, s)?;
        size += 4 + s.0.len();
        opts.push(DhcpOption::ServerId(s.0.clone()));
    }
    for ia in &req.ias {
        let leases = ia.leases.iter().map(|l| (l.resource, l.preferred_lifetime, l.valid_lifetime));
        let (o, n) = d6_ia(ia.kind, ia.iaid, 0, 0, leases, None)?;
        size = size.saturating_add(n);
        if size > MAX_UDP_MESSAGE_SIZE {
            return Err(WireError::TooLarge { size, limit: MAX_UDP_MESSAGE_SIZE });
        }
        opts.push(o);
    }
    opts.push(DhcpOption::ElapsedTime(0));
    if req.rapid_commit {
        size += 4;
        opts.push(DhcpOption::RapidCommit);
    }
    msg.set_opts(in_order(opts));
    finish(&msg, size)
}

/// Decodes a server's ADVERTISE or REPLY (not relayed: peel RELAY-REPL envelopes with
/// [`unwrap_relay_repl`] first). Returns the reply (with `tag` 0) and the transaction id.
pub fn decode_server_reply(bytes: &[u8]) -> Result<(ClientReply, [u8; 3]), WireError> {
    if bytes.len() > MAX_UDP_MESSAGE_SIZE {
        return Err(WireError::TooLarge { size: bytes.len(), limit: MAX_UDP_MESSAGE_SIZE });
    }
    if bytes.len() < CLIENT_HEADER_LEN {
        return Err(WireError::Truncated { needed: CLIENT_HEADER_LEN, available: bytes.len() });
    }
    let mut r = Reader::new(bytes);
    let ty = r.u8()?;
    let xid = r.array::<3>()?;
    let kind = match ty {
        2 => ReplyKind::Advertise,
        7 => ReplyKind::Reply,
        other => return Err(WireError::UnexpectedMessageType(other)),
    };
    let area = r.rest();
    let typed = typed_options(area, 0)?;
    let mut client_id = None;
    let mut server_id = None;
    let mut rapid: Option<()> = None;
    let mut status = None;
    let mut preference = None;
    let mut ias = Vec::new();
    for (t, opt) in &typed {
        let c = t.code;
        let Some(opt) = opt.clone() else { continue };
        match opt {
            DhcpOption::ClientId(v) => once(&mut client_id, c, Duid(v))?,
            DhcpOption::ServerId(v) => once(&mut server_id, c, Duid(v))?,
            DhcpOption::RapidCommit => once(&mut rapid, c, ())?,
            DhcpOption::Preference(p) => once(&mut preference, c, p)?,
            DhcpOption::StatusCode(s) => once(&mut status, c, dhcp_status(&s)?)?,
            DhcpOption::IANA(ia) => ias.push(dec_ia_reply(IaKind::Na, ia.id, ia.t1, ia.t2, t)?),
            DhcpOption::IATA(ia) => ias.push(dec_ia_reply(IaKind::Ta, ia.id, 0, 0, t)?),
            DhcpOption::IAPD(ia) => ias.push(dec_ia_reply(IaKind::Pd, ia.id, ia.t1, ia.t2, t)?),
            _ => {}
        }
    }
    let server_id = server_id.ok_or(WireError::Missing { code: code::SERVERID, within: 0 })?;
    let reply = ClientReply {
        tag: 0,
        kind,
        client_id,
        server_id,
        rapid_commit: rapid.is_some(),
        status,
        ias,
        preference,
    };
    Ok((reply, xid))
}

fn dhcp_status(s: &d6::StatusCode) -> Result<DhcpStatus, WireError> {
    DhcpStatus::from_code(u16::from(s.status)).ok_or(WireError::BadValue {
        code: code::STATUS_CODE,
        reason: "status code outside RFC 8415 §21.13's 0..=6",
    })
}

fn dec_ia_reply(
    kind: IaKind,
    iaid: u32,
    t1: u32,
    t2: u32,
    t: &Tlv<'_>,
) -> Result<IaReply, WireError> {
    let mut leases = Vec::new();
    let mut status = None;
    for (st, sub) in typed_options(ia_inner(t, kind), 1)? {
        let c = st.code;
        let Some(sub) = sub else { continue };
        if let Some((resource, preferred_lifetime, valid_lifetime)) = ia_lease(kind, t.code, &sub)?
        {
            leases.push(GrantedLease { resource, preferred_lifetime, valid_lifetime });
        } else if let DhcpOption::StatusCode(s) = sub {
            once(&mut status, c, dhcp_status(&s)?)?;
        }
    }
    Ok(IaReply { kind, iaid, t1, t2, leases, status })
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
