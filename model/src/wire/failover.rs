//! The partner link: RFC 5460 §5.1 framing, the RFC 8156 §5.2 message header, and every
//! failover message (§5.3, plus STARTTLS from RFC 7653) and option (§5.5 and the reused
//! options of §7.4/§7.6).
//!
//! # Octets
//!
//! ```text
//! frame   = message-size (u16, counts what follows) message          RFC 5460 §5.1
//! message = msg-type (u8) | transaction-id (u24) | sent-time (u32) | options   RFC 8156 §5.2
//! ```
//!
//! # Decoding
//!
//! [`decode_message`] checks the size ([`MAX_MESSAGE_SIZE`]), runs the TLV validator
//! ([`super::tlv::validate_options`]) over the whole option tree, and only then interprets
//! options. Options may come in any order. A singleton option that appears twice in one
//! container is an error ([`WireError::Duplicate`]); an option the container does not interpret
//! is kept in its `unknown` list, in arrival order. The exception is the BNDUPD/BNDREPLY
//! payload: the first CLIENT_DATA or stand-alone IAPREFIX is the payload and any further one is
//! kept in `unknown` so that the receiver can reject the message (§7.5.3).
//!
//! # Encoding: canonical order
//!
//! [`encode_message`] writes each container's interpreted options in this order, then its
//! `unknown` options in their stored order (and validates its own output before returning):
//!
//! | Container | Order |
//! |---|---|
//! | BNDUPD, BNDREPLY | CLIENT_DATA or IAPREFIX, STATUS_CODE |
//! | CLIENT_DATA (45) | CLIENTID, LQ_BASE_TIME, VSS, F_RECONFIGURE_DATA, LQ_RELAY_DATA, IA_* (in order), STATUS_CODE |
//! | IA_NA / IA_TA / IA_PD | IAADDR or IAPREFIX (in order), STATUS_CODE |
//! | IAADDR / IAPREFIX | (stand-alone IAPREFIX: VSS, LQ_BASE_TIME), STATUS_CODE, F_BINDING_STATUS, F_START_TIME_OF_STATE, F_STATE_EXPIRATION_TIME, F_PARTNER_LIFETIME, F_EXPIRATION_TIME, F_PARTNER_LIFETIME_SENT, CLT_TIME, F_PARTNER_RAW_CLT_TIME, CLIENT_FQDN, F_DNS_REMOVAL_INFO |
//! | F_DNS_REMOVAL_INFO | F_DNS_HOST_NAME, F_DNS_ZONE_NAME, F_DNS_FLAGS |
//! | CONNECT, CONNECTREPLY | F_PROTOCOL_VERSION, F_MCLT, F_KEEPALIVE_TIME, F_MAX_UNACKED_BNDUPD, F_RELATIONSHIP_NAME, F_CONNECT_FLAGS, STATUS_CODE |
//! | STATE | F_SERVER_STATE, F_SERVER_FLAGS, F_START_TIME_OF_STATE, F_PARTNER_DOWN_TIME |
//! | DISCONNECT, STARTTLS | STATUS_CODE |
//!
//! This is the order in which §6.1.1, §6.3, §7.4 and §7.6 list the options. An `unknown`
//! option whose code the container interprets is refused ([`WireError::BadValue`]): it would
//! not decode back into `unknown`.
//!
//! # Readings
//!
//! - IA_TA has no T1/T2 on the wire (RFC 8415 §21.5), although RFC 8156 §7.4 lists T1/T2 for
//!   every IA (digest §11.3 item 12): an IA_TA is encoded only with `t1 = t2 = 0` and decodes
//!   with both 0.
//! - STARTTLS (23) and its answer REPLY (7) are DHCPv6 messages of RFC 7653 §6.2.2 and
//!   RFC 8415 §7.3, not failover messages of RFC 8156 §5.3: they are sent with the 4-octet
//!   DHCPv6 header (msg-type, transaction-id, options: no sent-time). On receipt both the
//!   4-octet and the 8-octet framing are accepted (see [`decode_message`]). A received type 7 is
//!   [`MessageBody::StartTlsReply`]; docs/design.md ("STARTTLS") has the reading.
//! - An IAADDR inside an IA_PD, or an IAPREFIX inside an IA_NA / IA_TA, is an error.

use super::error::WireError;
use super::tlv::{self, code, put_option, Reader, Tlv, MAX_MESSAGE_SIZE, MAX_OPTIONS};
use crate::failover::message::{
    msg_type, BindingMessage, BindingPayload, ClientData, ConnectOptions, DisconnectOptions,
    DnsRemovalInfo, IaData, LeaseData, LeaseOptions, Message, MessageBody, NoOptions, PrefixData,
    RawOption, ReconfigureData, RelayData, ServerFlags, StateOptions, Status, StatusCode, XID_MAX,
};
use crate::failover::state::EndpointState;
use crate::leases::binding::BindingStatus;
use crate::resource::{Duid, IaKind, Resource};
use crate::time::Time;
use std::net::Ipv6Addr;

/// The fixed §5.2 header: msg-type, 24-bit transaction-id, 32-bit sent-time.
pub const HEADER_LEN: usize = 8;

/// The RFC 5460 §5.1 message-size prefix.
pub const FRAME_PREFIX_LEN: usize = 2;

/// The DHCPv6 header (RFC 8415 §8): msg-type and 24-bit transaction-id. STARTTLS and REPLY
/// are sent with it.
pub const DHCP_HEADER_LEN: usize = 4;

// ------------------------------------------------------------------------------------------
// Encoding
// ------------------------------------------------------------------------------------------

/// Encodes a failover message: the 8-octet §5.2 header, then the options in canonical order.
/// No length prefix (see [`encode_frame`]).
///
/// Errors: an xid above 24 bits, a value that cannot be represented (an IA_TA with T1/T2, a
/// resource of the wrong kind for its IA, a DUID outside 3..=130 octets, an `unknown` option
/// with an interpreted code, ...), or a message above [`MAX_MESSAGE_SIZE`].
pub fn encode_message(msg: &Message) -> Result<Vec<u8>, WireError> {
    if msg.xid > XID_MAX {
        return Err(WireError::BadValue { code: 0, reason: "transaction-id exceeds 24 bits" });
    }
    let mut out = Vec::with_capacity(64);
    out.push(msg.body.msg_type());
    out.extend_from_slice(&msg.xid.to_be_bytes()[1..]);
    // STARTTLS and REPLY: the 4-octet DHCPv6 header (no sent-time).
    let header = if msg.body.has_sent_time() {
        out.extend_from_slice(&msg.sent_time.0.to_be_bytes());
        HEADER_LEN
    } else {
        DHCP_HEADER_LEN
    };
    encode_body(&msg.body, &mut out)?;
    if out.len() > MAX_MESSAGE_SIZE {
        return Err(WireError::TooLarge { size: out.len(), limit: MAX_MESSAGE_SIZE });
    }
    // Never emit what we would refuse to read.
    tlv::validate(out.get(header..).unwrap_or_default())?;
    Ok(out)
}

/// Encodes a message with its RFC 5460 §5.1 2-octet message-size prefix.
pub fn encode_frame(msg: &Message) -> Result<Vec<u8>, WireError> {
    let body = encode_message(msg)?;
    let len = u16::try_from(body.len())
        .map_err(|_| WireError::TooLarge { size: body.len(), limit: MAX_MESSAGE_SIZE })?;
    let mut out = Vec::with_capacity(body.len() + FRAME_PREFIX_LEN);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

fn encode_body(body: &MessageBody, out: &mut Vec<u8>) -> Result<(), WireError> {
    match body {
        MessageBody::BndUpd(b) | MessageBody::BndReply(b) => enc_binding_message(b, out),
        MessageBody::PoolReq(n)
        | MessageBody::PoolResp(n)
        | MessageBody::UpdReq(n)
        | MessageBody::UpdReqAll(n)
        | MessageBody::UpdDone(n)
        | MessageBody::Contact(n) => enc_unknown(&n.unknown, &[], out),
        MessageBody::Connect(c) | MessageBody::ConnectReply(c) => enc_connect(c, out),
        MessageBody::Disconnect(d) | MessageBody::StartTls(d) | MessageBody::StartTlsReply(d) => {
            if let Some(s) = &d.status {
                enc_status(s, out)?;
            }
            enc_unknown(&d.unknown, &[code::STATUS_CODE], out)
        }
        MessageBody::State(s) => enc_state(s, out),
    }
}

/// Refuses `unknown` options whose code the container interprets, then appends them.
fn enc_unknown(
    unknown: &[RawOption],
    interpreted: &[u16],
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    for raw in unknown {
        if interpreted.contains(&raw.code) {
            return Err(WireError::BadValue {
                code: raw.code,
                reason: "an unknown option uses a code this container interprets",
            });
        }
        put_option(out, raw.code, &raw.data)?;
    }
    Ok(())
}

fn enc_u32(c: u16, v: u32, out: &mut Vec<u8>) -> Result<(), WireError> {
    put_option(out, c, &v.to_be_bytes())
}

fn enc_time(c: u16, t: Option<Time>, out: &mut Vec<u8>) -> Result<(), WireError> {
    match t {
        Some(t) => enc_u32(c, t.0, out),
        None => Ok(()),
    }
}

fn enc_status(s: &Status, out: &mut Vec<u8>) -> Result<(), WireError> {
    let mut data = Vec::with_capacity(2 + s.message.len());
    data.extend_from_slice(&s.code.0.to_be_bytes());
    data.extend_from_slice(s.message.as_bytes());
    put_option(out, code::STATUS_CODE, &data)
}

fn enc_duid(c: u16, d: &Duid, out: &mut Vec<u8>) -> Result<(), WireError> {
    if !(tlv::DUID_MIN_LEN..=tlv::DUID_MAX_LEN).contains(&d.0.len()) {
        return Err(WireError::BadValue {
            code: c,
            reason: "a DUID is 3..=130 octets (RFC 8415 §11.1)",
        });
    }
    put_option(out, c, &d.0)
}

const BINDING_MSG_CODES: &[u16] = &[code::STATUS_CODE];

fn enc_binding_message(b: &BindingMessage, out: &mut Vec<u8>) -> Result<(), WireError> {
    match &b.payload {
        Some(BindingPayload::Client(cd)) => {
            put_option(out, code::CLIENT_DATA, &enc_client_data(cd)?)?
        }
        Some(BindingPayload::Prefix(p)) => {
            put_option(out, code::IAPREFIX, &enc_standalone_prefix(p)?)?
        }
        None => {
            // Without a payload, a CLIENT_DATA / IAPREFIX in `unknown` would decode as the
            // payload.
            if let Some(raw) =
                b.unknown.iter().find(|r| r.code == code::CLIENT_DATA || r.code == code::IAPREFIX)
            {
                return Err(WireError::BadValue {
                    code: raw.code,
                    reason: "an extra binding payload in `unknown` needs a payload",
                });
            }
        }
    }
    if let Some(s) = &b.status {
        enc_status(s, out)?;
    }
    enc_unknown(&b.unknown, BINDING_MSG_CODES, out)
}

const CLIENT_DATA_CODES: &[u16] = &[
    code::CLIENTID,
    code::LQ_BASE_TIME,
    code::VSS,
    code::F_RECONFIGURE_DATA,
    code::LQ_RELAY_DATA,
    code::IA_NA,
    code::IA_TA,
    code::IA_PD,
    code::STATUS_CODE,
];

fn enc_client_data(cd: &ClientData) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    enc_duid(code::CLIENTID, &cd.client_id, &mut out)?;
    enc_time(code::LQ_BASE_TIME, cd.lq_base_time, &mut out)?;
    if let Some(v) = &cd.vss {
        put_option(&mut out, code::VSS, v)?;
    }
    if let Some(r) = &cd.reconfigure {
        let mut d = r.reconfigure_time.0.to_be_bytes().to_vec();
        d.extend_from_slice(&r.key);
        put_option(&mut out, code::F_RECONFIGURE_DATA, &d)?;
    }
    if let Some(r) = &cd.relay_data {
        let mut d = r.peer_address.octets().to_vec();
        d.extend_from_slice(&r.relay_message);
        put_option(&mut out, code::LQ_RELAY_DATA, &d)?;
    }
    for ia in &cd.ias {
        let (c, data) = enc_ia(ia)?;
        put_option(&mut out, c, &data)?;
    }
    if let Some(s) = &cd.status {
        enc_status(s, &mut out)?;
    }
    enc_unknown(&cd.unknown, CLIENT_DATA_CODES, &mut out)?;
    Ok(out)
}

const IA_CODES: &[u16] = &[code::IAADDR, code::IAPREFIX, code::STATUS_CODE];

fn ia_code(kind: IaKind) -> u16 {
    match kind {
        IaKind::Na => code::IA_NA,
        IaKind::Ta => code::IA_TA,
        IaKind::Pd => code::IA_PD,
    }
}

fn enc_ia(ia: &IaData) -> Result<(u16, Vec<u8>), WireError> {
    let c = ia_code(ia.kind);
    let mut out = ia.iaid.to_be_bytes().to_vec();
    if ia.kind == IaKind::Ta {
        if ia.t1 != 0 || ia.t2 != 0 {
            return Err(WireError::BadValue { code: c, reason: "IA_TA has no T1/T2 on the wire" });
        }
    } else {
        out.extend_from_slice(&ia.t1.to_be_bytes());
        out.extend_from_slice(&ia.t2.to_be_bytes());
    }
    for lease in &ia.leases {
        let (lc, data) = enc_lease(ia.kind, lease, None)?;
        put_option(&mut out, lc, &data)?;
    }
    if let Some(s) = &ia.status {
        enc_status(s, &mut out)?;
    }
    enc_unknown(&ia.unknown, IA_CODES, &mut out)?;
    Ok((c, out))
}

const LEASE_CODES: &[u16] = &[
    code::STATUS_CODE,
    code::F_BINDING_STATUS,
    code::F_START_TIME_OF_STATE,
    code::F_STATE_EXPIRATION_TIME,
    code::F_PARTNER_LIFETIME,
    code::F_EXPIRATION_TIME,
    code::F_PARTNER_LIFETIME_SENT,
    code::CLT_TIME,
    code::F_PARTNER_RAW_CLT_TIME,
    code::CLIENT_FQDN,
    code::F_DNS_REMOVAL_INFO,
];

const STANDALONE_PREFIX_CODES: &[u16] = &[
    code::VSS,
    code::LQ_BASE_TIME,
    code::STATUS_CODE,
    code::F_BINDING_STATUS,
    code::F_START_TIME_OF_STATE,
    code::F_STATE_EXPIRATION_TIME,
    code::F_PARTNER_LIFETIME,
    code::F_EXPIRATION_TIME,
    code::F_PARTNER_LIFETIME_SENT,
    code::CLT_TIME,
    code::F_PARTNER_RAW_CLT_TIME,
    code::CLIENT_FQDN,
    code::F_DNS_REMOVAL_INFO,
];

/// Extra sub-options of a stand-alone IAPREFIX (§7.4 case B).
struct Standalone<'a> {
    vss: Option<&'a [u8]>,
    lq_base_time: Option<Time>,
}

/// Encodes an IAADDR (IA_NA / IA_TA) or IAPREFIX (IA_PD, or stand-alone when `extra` is set).
fn enc_lease(
    kind: IaKind,
    lease: &LeaseData,
    extra: Option<Standalone<'_>>,
) -> Result<(u16, Vec<u8>), WireError> {
    let mut out = Vec::new();
    let c = match (kind, lease.resource) {
        (IaKind::Na | IaKind::Ta, Resource::Address(a)) => {
            out.extend_from_slice(&a.octets());
            out.extend_from_slice(&lease.preferred_lifetime.to_be_bytes());
            out.extend_from_slice(&lease.valid_lifetime.to_be_bytes());
            code::IAADDR
        }
        (IaKind::Pd, Resource::Prefix(p, len)) => {
            if len > 128 {
                return Err(WireError::BadValue {
                    code: code::IAPREFIX,
                    reason: "prefix-length above 128",
                });
            }
            out.extend_from_slice(&lease.preferred_lifetime.to_be_bytes());
            out.extend_from_slice(&lease.valid_lifetime.to_be_bytes());
            out.push(len);
            out.extend_from_slice(&p.octets());
            code::IAPREFIX
        }
        (IaKind::Pd, Resource::Address(_)) => {
            return Err(WireError::BadValue {
                code: code::IA_PD,
                reason: "an address inside an IA_PD",
            })
        }
        (_, Resource::Prefix(..)) => {
            return Err(WireError::BadValue {
                code: ia_code(kind),
                reason: "a prefix inside an IA_NA / IA_TA",
            })
        }
    };
    let standalone = extra.is_some();
    if let Some(x) = extra {
        if let Some(v) = x.vss {
            put_option(&mut out, code::VSS, v)?;
        }
        enc_time(code::LQ_BASE_TIME, x.lq_base_time, &mut out)?;
    }
    let o = &lease.options;
    if let Some(s) = &o.status {
        enc_status(s, &mut out)?;
    }
    if let Some(b) = o.binding_status {
        put_option(&mut out, code::F_BINDING_STATUS, &[b.code()])?;
    }
    enc_time(code::F_START_TIME_OF_STATE, o.start_time_of_state, &mut out)?;
    enc_time(code::F_STATE_EXPIRATION_TIME, o.state_expiration_time, &mut out)?;
    enc_time(code::F_PARTNER_LIFETIME, o.partner_lifetime, &mut out)?;
    enc_time(code::F_EXPIRATION_TIME, o.expiration_time, &mut out)?;
    enc_time(code::F_PARTNER_LIFETIME_SENT, o.partner_lifetime_sent, &mut out)?;
    if let Some(t) = o.clt_time {
        enc_u32(code::CLT_TIME, t, &mut out)?;
    }
    enc_time(code::F_PARTNER_RAW_CLT_TIME, o.partner_raw_clt_time, &mut out)?;
    if let Some(f) = &o.client_fqdn {
        put_option(&mut out, code::CLIENT_FQDN, f)?;
    }
    if let Some(d) = &o.dns_removal_info {
        put_option(&mut out, code::F_DNS_REMOVAL_INFO, &enc_dns_removal(d)?)?;
    }
    let interpreted = if standalone { STANDALONE_PREFIX_CODES } else { LEASE_CODES };
    enc_unknown(&o.unknown, interpreted, &mut out)?;
    Ok((c, out))
}

fn enc_standalone_prefix(p: &PrefixData) -> Result<Vec<u8>, WireError> {
    let extra = Standalone { vss: p.vss.as_deref(), lq_base_time: p.lq_base_time };
    enc_lease(IaKind::Pd, &p.lease, Some(extra)).map(|(_, d)| d)
}

const DNS_REMOVAL_CODES: &[u16] =
    &[code::F_DNS_HOST_NAME, code::F_DNS_ZONE_NAME, code::F_DNS_FLAGS];

fn enc_dns_removal(d: &DnsRemovalInfo) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    if let Some(h) = &d.host_name {
        put_option(&mut out, code::F_DNS_HOST_NAME, h)?;
    }
    if let Some(z) = &d.zone_name {
        put_option(&mut out, code::F_DNS_ZONE_NAME, z)?;
    }
    if let Some(f) = d.flags {
        put_option(&mut out, code::F_DNS_FLAGS, &f.to_be_bytes())?;
    }
    enc_unknown(&d.unknown, DNS_REMOVAL_CODES, &mut out)?;
    Ok(out)
}

const CONNECT_CODES: &[u16] = &[
    code::F_PROTOCOL_VERSION,
    code::F_MCLT,
    code::F_KEEPALIVE_TIME,
    code::F_MAX_UNACKED_BNDUPD,
    code::F_RELATIONSHIP_NAME,
    code::F_CONNECT_FLAGS,
    code::STATUS_CODE,
];

fn enc_connect(c: &ConnectOptions, out: &mut Vec<u8>) -> Result<(), WireError> {
    if let Some((major, minor)) = c.protocol_version {
        let mut d = major.to_be_bytes().to_vec();
        d.extend_from_slice(&minor.to_be_bytes());
        put_option(out, code::F_PROTOCOL_VERSION, &d)?;
    }
    if let Some(v) = c.mclt {
        enc_u32(code::F_MCLT, v, out)?;
    }
    if let Some(v) = c.keepalive_time {
        enc_u32(code::F_KEEPALIVE_TIME, v, out)?;
    }
    if let Some(v) = c.max_unacked_bndupd {
        enc_u32(code::F_MAX_UNACKED_BNDUPD, v, out)?;
    }
    if let Some(n) = &c.relationship_name {
        put_option(out, code::F_RELATIONSHIP_NAME, n.as_bytes())?;
    }
    if let Some(f) = c.connect_flags {
        put_option(out, code::F_CONNECT_FLAGS, &f.to_be_bytes())?;
    }
    if let Some(s) = &c.status {
        enc_status(s, out)?;
    }
    enc_unknown(&c.unknown, CONNECT_CODES, out)
}

const STATE_CODES: &[u16] = &[
    code::F_SERVER_STATE,
    code::F_SERVER_FLAGS,
    code::F_START_TIME_OF_STATE,
    code::F_PARTNER_DOWN_TIME,
];

fn enc_state(s: &StateOptions, out: &mut Vec<u8>) -> Result<(), WireError> {
    if let Some(st) = s.server_state {
        put_option(out, code::F_SERVER_STATE, &[st.code()])?;
    }
    if let Some(f) = s.flags {
        put_option(out, code::F_SERVER_FLAGS, &[f.to_byte()])?;
    }
    enc_time(code::F_START_TIME_OF_STATE, s.start_time_of_state, out)?;
    enc_time(code::F_PARTNER_DOWN_TIME, s.partner_down_time, out)?;
    enc_unknown(&s.unknown, STATE_CODES, out)
}

// ------------------------------------------------------------------------------------------
// Decoding
// ------------------------------------------------------------------------------------------

/// Decodes one failover message (without the frame prefix). The whole option tree is
/// validated before anything is interpreted.
///
/// STARTTLS (23) and REPLY (7) are accepted in both framings: the 4-octet DHCPv6 header of
/// RFC 7653 / RFC 8415 (what we send; `sent_time` is then 0) and the 8-octet failover header
/// (what failoverd sent before, and what a reader of RFC 8156 §5.2 alone may send). When the
/// octets after the 4-octet header form a valid option area, that reading is taken unless the
/// 8-octet reading is also valid and interprets more of them (only STATUS_CODE is interpreted:
/// a sent-time whose octets happen to look like an option header must not hide a status code).
pub fn decode_message(bytes: &[u8]) -> Result<Message, WireError> {
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(WireError::TooLarge { size: bytes.len(), limit: MAX_MESSAGE_SIZE });
    }
    let ty = bytes.first().copied().unwrap_or_default();
    if matches!(ty, msg_type::STARTTLS | msg_type::REPLY) {
        return decode_dhcp_message(ty, bytes);
    }
    if bytes.len() < HEADER_LEN {
        return Err(WireError::Truncated { needed: HEADER_LEN, available: bytes.len() });
    }
    let mut r = Reader::new(bytes);
    let [ty, x0, x1, x2] = r.array::<4>()?;
    let sent_time = Time(r.u32()?);
    let xid = u32::from_be_bytes([0, x0, x1, x2]);
    let opts = r.rest();
    let mut budget = MAX_OPTIONS;
    tlv::validate_options(opts, 0, &mut budget)?;
    let mut budget = MAX_OPTIONS;
    let top = tlv::split_options(opts, &mut budget)?;
    let body = match ty {
        msg_type::BNDUPD => MessageBody::BndUpd(dec_binding_message(&top)?),
        msg_type::BNDREPLY => MessageBody::BndReply(dec_binding_message(&top)?),
        msg_type::POOLREQ => MessageBody::PoolReq(dec_no_options(&top)),
        msg_type::POOLRESP => MessageBody::PoolResp(dec_no_options(&top)),
        msg_type::UPDREQ => MessageBody::UpdReq(dec_no_options(&top)),
        msg_type::UPDREQALL => MessageBody::UpdReqAll(dec_no_options(&top)),
        msg_type::UPDDONE => MessageBody::UpdDone(dec_no_options(&top)),
        msg_type::CONNECT => MessageBody::Connect(dec_connect(&top)?),
        msg_type::CONNECTREPLY => MessageBody::ConnectReply(dec_connect(&top)?),
        msg_type::DISCONNECT => MessageBody::Disconnect(dec_disconnect(&top)?),
        msg_type::STATE => MessageBody::State(dec_state(&top)?),
        msg_type::CONTACT => MessageBody::Contact(dec_no_options(&top)),
        other => return Err(WireError::UnknownMessageType(other)),
    };
    Ok(Message { xid, sent_time, body })
}

/// STARTTLS or REPLY in either framing (see [`decode_message`]).
fn decode_dhcp_message(ty: u8, bytes: &[u8]) -> Result<Message, WireError> {
    if bytes.len() < DHCP_HEADER_LEN {
        return Err(WireError::Truncated { needed: DHCP_HEADER_LEN, available: bytes.len() });
    }
    let mut r = Reader::new(bytes);
    let [_, x0, x1, x2] = r.array::<4>()?;
    let xid = u32::from_be_bytes([0, x0, x1, x2]);
    let parse = |opts: &[u8]| -> Result<DisconnectOptions, WireError> {
        let mut budget = MAX_OPTIONS;
        tlv::validate_options(opts, 0, &mut budget)?;
        let mut budget = MAX_OPTIONS;
        dec_disconnect(&tlv::split_options(opts, &mut budget)?)
    };
    let short = parse(bytes.get(DHCP_HEADER_LEN..).unwrap_or_default());
    let long = bytes.get(DHCP_HEADER_LEN..HEADER_LEN).and_then(|t| {
        let t: [u8; 4] = t.try_into().ok()?;
        let opts = parse(bytes.get(HEADER_LEN..).unwrap_or_default()).ok()?;
        Some((Time(u32::from_be_bytes(t)), opts))
    });
    let (sent_time, opts) = match (short, long) {
        (Ok(s), Some((t, l))) if l.status.is_some() && s.status.is_none() => (t, l),
        (Ok(s), _) => (Time(0), s),
        (Err(_), Some((t, l))) => (t, l),
        (Err(e), None) => return Err(e),
    };
    let body = if ty == msg_type::STARTTLS {
        MessageBody::StartTls(opts)
    } else {
        MessageBody::StartTlsReply(opts)
    };
    Ok(Message { xid, sent_time, body })
}

/// Rewrites the sent-time of an encoded frame (2-octet message-size, then the message) to `t`,
/// just before it is written (RFC 8156 §7.1: set as close to the actual transmission as
/// possible). Returns false, leaving the frame alone, when it holds no sent-time: a frame too
/// short for the 8-octet header, or STARTTLS / REPLY (4-octet header).
pub fn restamp(frame: &mut [u8], t: Time) -> bool {
    let Some(&ty) = frame.get(FRAME_PREFIX_LEN) else { return false };
    if matches!(ty, msg_type::STARTTLS | msg_type::REPLY) {
        return false;
    }
    let at = FRAME_PREFIX_LEN + DHCP_HEADER_LEN;
    match frame.get_mut(at..at + 4) {
        Some(field) => {
            field.copy_from_slice(&t.0.to_be_bytes());
            true
        }
        None => false,
    }
}

fn raw(t: &Tlv<'_>) -> RawOption {
    RawOption { code: t.code, data: t.data.to_vec() }
}

/// Stores a singleton option, refusing a second one.
fn once<T>(slot: &mut Option<T>, c: u16, v: T) -> Result<(), WireError> {
    if slot.is_some() {
        return Err(WireError::Duplicate(c));
    }
    *slot = Some(v);
    Ok(())
}

fn sub_options(data: &[u8]) -> Result<Vec<Tlv<'_>>, WireError> {
    let mut budget = MAX_OPTIONS;
    tlv::split_options(data, &mut budget)
}

fn u32_of(t: &Tlv<'_>) -> Result<u32, WireError> {
    let bytes: [u8; 4] = t.data.try_into().map_err(|_| WireError::BadOptionLength {
        code: t.code,
        len: t.data.len(),
        expected: "fixed size",
    })?;
    Ok(u32::from_be_bytes(bytes))
}

fn u16_of(t: &Tlv<'_>) -> Result<u16, WireError> {
    let bytes: [u8; 2] = t.data.try_into().map_err(|_| WireError::BadOptionLength {
        code: t.code,
        len: t.data.len(),
        expected: "fixed size",
    })?;
    Ok(u16::from_be_bytes(bytes))
}

fn u8_of(t: &Tlv<'_>) -> Result<u8, WireError> {
    match t.data {
        [b] => Ok(*b),
        _ => Err(WireError::BadOptionLength {
            code: t.code,
            len: t.data.len(),
            expected: "fixed size",
        }),
    }
}

fn utf8_of(c: u16, data: &[u8]) -> Result<String, WireError> {
    String::from_utf8(data.to_vec())
        .map_err(|_| WireError::BadValue { code: c, reason: "text is not UTF-8" })
}

fn dec_status(t: &Tlv<'_>) -> Result<Status, WireError> {
    let mut r = Reader::new(t.data);
    let c = r.u16().map_err(|_| WireError::BadOptionLength {
        code: t.code,
        len: t.data.len(),
        expected: "shorter than the fixed part",
    })?;
    Ok(Status { code: StatusCode(c), message: utf8_of(t.code, r.rest())? })
}

fn dec_no_options(top: &[Tlv<'_>]) -> NoOptions {
    NoOptions { unknown: top.iter().map(raw).collect() }
}

fn dec_binding_message(top: &[Tlv<'_>]) -> Result<BindingMessage, WireError> {
    let mut m = BindingMessage { payload: None, status: None, unknown: Vec::new() };
    for t in top {
        match t.code {
            code::CLIENT_DATA if m.payload.is_none() => {
                m.payload = Some(BindingPayload::Client(dec_client_data(t.data)?));
            }
            code::IAPREFIX if m.payload.is_none() => {
                m.payload = Some(BindingPayload::Prefix(dec_standalone_prefix(t.data)?));
            }
            code::STATUS_CODE => once(&mut m.status, t.code, dec_status(t)?)?,
            _ => m.unknown.push(raw(t)),
        }
    }
    Ok(m)
}

fn dec_client_data(data: &[u8]) -> Result<ClientData, WireError> {
    let mut client_id = None;
    let mut cd = ClientData {
        client_id: Duid::default(),
        lq_base_time: None,
        vss: None,
        reconfigure: None,
        relay_data: None,
        ias: Vec::new(),
        status: None,
        unknown: Vec::new(),
    };
    for t in sub_options(data)? {
        match t.code {
            code::CLIENTID => once(&mut client_id, t.code, Duid(t.data.to_vec()))?,
            code::LQ_BASE_TIME => once(&mut cd.lq_base_time, t.code, Time(u32_of(&t)?))?,
            code::VSS => once(&mut cd.vss, t.code, t.data.to_vec())?,
            code::F_RECONFIGURE_DATA => {
                let mut r = Reader::new(t.data);
                let time = Time(r.u32()?);
                once(
                    &mut cd.reconfigure,
                    t.code,
                    ReconfigureData { reconfigure_time: time, key: r.rest().to_vec() },
                )?;
            }
            code::LQ_RELAY_DATA => {
                let mut r = Reader::new(t.data);
                let peer = r.ipv6()?;
                once(
                    &mut cd.relay_data,
                    t.code,
                    RelayData { peer_address: peer, relay_message: r.rest().to_vec() },
                )?;
            }
            code::IA_NA => cd.ias.push(dec_ia(IaKind::Na, t.data)?),
            code::IA_TA => cd.ias.push(dec_ia(IaKind::Ta, t.data)?),
            code::IA_PD => cd.ias.push(dec_ia(IaKind::Pd, t.data)?),
            code::STATUS_CODE => once(&mut cd.status, t.code, dec_status(&t)?)?,
            _ => cd.unknown.push(raw(&t)),
        }
    }
    cd.client_id =
        client_id.ok_or(WireError::Missing { code: code::CLIENTID, within: code::CLIENT_DATA })?;
    Ok(cd)
}

fn dec_ia(kind: IaKind, data: &[u8]) -> Result<IaData, WireError> {
    let mut r = Reader::new(data);
    let iaid = r.u32()?;
    let (t1, t2) = if kind == IaKind::Ta { (0, 0) } else { (r.u32()?, r.u32()?) };
    let mut ia =
        IaData { kind, iaid, t1, t2, leases: Vec::new(), status: None, unknown: Vec::new() };
    let c = ia_code(kind);
    for t in sub_options(r.rest())? {
        match (t.code, kind) {
            (code::IAADDR, IaKind::Na | IaKind::Ta) | (code::IAPREFIX, IaKind::Pd) => {
                ia.leases.push(dec_lease(&t, false)?.0);
            }
            (code::IAADDR, IaKind::Pd) => {
                return Err(WireError::BadValue { code: c, reason: "an address inside an IA_PD" })
            }
            (code::IAPREFIX, _) => {
                return Err(WireError::BadValue {
                    code: c,
                    reason: "a prefix inside an IA_NA / IA_TA",
                })
            }
            (code::STATUS_CODE, _) => once(&mut ia.status, t.code, dec_status(&t)?)?,
            _ => ia.unknown.push(raw(&t)),
        }
    }
    Ok(ia)
}

/// A decoded lease, with the stand-alone IAPREFIX's VSS and LQ_BASE_TIME.
type DecodedLease = (LeaseData, Option<Vec<u8>>, Option<Time>);

/// Decodes an IAADDR or IAPREFIX; `standalone` interprets VSS and LQ_BASE_TIME too.
fn dec_lease(t: &Tlv<'_>, standalone: bool) -> Result<DecodedLease, WireError> {
    let mut r = Reader::new(t.data);
    let (resource, preferred_lifetime, valid_lifetime) = if t.code == code::IAADDR {
        let a = r.ipv6()?;
        (Resource::Address(a), r.u32()?, r.u32()?)
    } else {
        let pref = r.u32()?;
        let valid = r.u32()?;
        let len = r.u8()?;
        if len > 128 {
            return Err(WireError::BadValue { code: t.code, reason: "prefix-length above 128" });
        }
        let p: Ipv6Addr = r.ipv6()?;
        (Resource::Prefix(p, len), pref, valid)
    };
    let mut o = LeaseOptions::default();
    let mut vss = None;
    let mut base = None;
    for s in sub_options(r.rest())? {
        match s.code {
            code::VSS if standalone => once(&mut vss, s.code, s.data.to_vec())?,
            code::LQ_BASE_TIME if standalone => once(&mut base, s.code, Time(u32_of(&s)?))?,
            code::STATUS_CODE => once(&mut o.status, s.code, dec_status(&s)?)?,
            code::F_BINDING_STATUS => {
                let b = BindingStatus::from_code(u8_of(&s)?).ok_or(WireError::BadValue {
                    code: s.code,
                    reason: "reserved or unknown binding-status",
                })?;
                once(&mut o.binding_status, s.code, b)?;
            }
            code::F_START_TIME_OF_STATE => {
                once(&mut o.start_time_of_state, s.code, Time(u32_of(&s)?))?
            }
            code::F_STATE_EXPIRATION_TIME => {
                once(&mut o.state_expiration_time, s.code, Time(u32_of(&s)?))?
            }
            code::F_PARTNER_LIFETIME => once(&mut o.partner_lifetime, s.code, Time(u32_of(&s)?))?,
            code::F_EXPIRATION_TIME => once(&mut o.expiration_time, s.code, Time(u32_of(&s)?))?,
            code::F_PARTNER_LIFETIME_SENT => {
                once(&mut o.partner_lifetime_sent, s.code, Time(u32_of(&s)?))?
            }
            code::CLT_TIME => once(&mut o.clt_time, s.code, u32_of(&s)?)?,
            code::F_PARTNER_RAW_CLT_TIME => {
                once(&mut o.partner_raw_clt_time, s.code, Time(u32_of(&s)?))?
            }
            code::CLIENT_FQDN => once(&mut o.client_fqdn, s.code, s.data.to_vec())?,
            code::F_DNS_REMOVAL_INFO => {
                once(&mut o.dns_removal_info, s.code, dec_dns_removal(s.data)?)?
            }
            _ => o.unknown.push(raw(&s)),
        }
    }
    Ok((LeaseData { resource, preferred_lifetime, valid_lifetime, options: o }, vss, base))
}

fn dec_standalone_prefix(data: &[u8]) -> Result<PrefixData, WireError> {
    let (lease, vss, lq_base_time) = dec_lease(&Tlv { code: code::IAPREFIX, data }, true)?;
    Ok(PrefixData { lease, lq_base_time, vss })
}

fn dec_dns_removal(data: &[u8]) -> Result<DnsRemovalInfo, WireError> {
    let mut d = DnsRemovalInfo::default();
    for t in sub_options(data)? {
        match t.code {
            code::F_DNS_HOST_NAME => once(&mut d.host_name, t.code, t.data.to_vec())?,
            code::F_DNS_ZONE_NAME => once(&mut d.zone_name, t.code, t.data.to_vec())?,
            code::F_DNS_FLAGS => once(&mut d.flags, t.code, u16_of(&t)?)?,
            _ => d.unknown.push(raw(&t)),
        }
    }
    Ok(d)
}

fn dec_connect(top: &[Tlv<'_>]) -> Result<ConnectOptions, WireError> {
    let mut c = ConnectOptions::default();
    for t in top {
        match t.code {
            code::F_PROTOCOL_VERSION => {
                let v = u32_of(t)?;
                let major = u16::try_from(v >> 16).unwrap_or(u16::MAX);
                let minor = u16::try_from(v & 0xffff).unwrap_or(u16::MAX);
                once(&mut c.protocol_version, t.code, (major, minor))?;
            }
            code::F_MCLT => once(&mut c.mclt, t.code, u32_of(t)?)?,
            code::F_KEEPALIVE_TIME => once(&mut c.keepalive_time, t.code, u32_of(t)?)?,
            code::F_MAX_UNACKED_BNDUPD => once(&mut c.max_unacked_bndupd, t.code, u32_of(t)?)?,
            code::F_RELATIONSHIP_NAME => {
                once(&mut c.relationship_name, t.code, utf8_of(t.code, t.data)?)?
            }
            code::F_CONNECT_FLAGS => once(&mut c.connect_flags, t.code, u16_of(t)?)?,
            code::STATUS_CODE => once(&mut c.status, t.code, dec_status(t)?)?,
            _ => c.unknown.push(raw(t)),
        }
    }
    Ok(c)
}

fn dec_disconnect(top: &[Tlv<'_>]) -> Result<DisconnectOptions, WireError> {
    let mut d = DisconnectOptions::default();
    for t in top {
        match t.code {
            code::STATUS_CODE => once(&mut d.status, t.code, dec_status(t)?)?,
            _ => d.unknown.push(raw(t)),
        }
    }
    Ok(d)
}

fn dec_state(top: &[Tlv<'_>]) -> Result<StateOptions, WireError> {
    let mut s = StateOptions {
        server_state: None,
        flags: None,
        start_time_of_state: None,
        partner_down_time: None,
        unknown: Vec::new(),
    };
    for t in top {
        match t.code {
            code::F_SERVER_STATE => {
                let st = EndpointState::from_code(u8_of(t)?).ok_or(WireError::BadValue {
                    code: t.code,
                    reason: "reserved or unknown server state",
                })?;
                once(&mut s.server_state, t.code, st)?;
            }
            code::F_SERVER_FLAGS => {
                let f = ServerFlags::from_byte(u8_of(t)?).ok_or(WireError::BadValue {
                    code: t.code,
                    reason: "a must-be-zero flag bit is set",
                })?;
                once(&mut s.flags, t.code, f)?;
            }
            code::F_START_TIME_OF_STATE => {
                once(&mut s.start_time_of_state, t.code, Time(u32_of(t)?))?
            }
            code::F_PARTNER_DOWN_TIME => once(&mut s.partner_down_time, t.code, Time(u32_of(t)?))?,
            _ => s.unknown.push(raw(t)),
        }
    }
    Ok(s)
}

// ------------------------------------------------------------------------------------------
// Framing
// ------------------------------------------------------------------------------------------

/// Reassembles RFC 5460 §5.1 frames from a TCP byte stream.
///
/// Push whatever the socket delivered, then call [`FrameDecoder::next_frame`] (or
/// [`FrameDecoder::next_message`]) until it returns `Ok(None)`. Errors are sticky: after a
/// zero-length or over-limit frame the stream cannot be resynchronised, every later call
/// returns the same error, and the connection should be dropped.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    limit: usize,
    error: Option<WireError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder accepting frames up to [`MAX_MESSAGE_SIZE`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_limit(MAX_MESSAGE_SIZE)
    }

    /// A decoder accepting frames up to `limit` octets (at most [`MAX_MESSAGE_SIZE`]).
    #[must_use]
    pub fn with_limit(limit: usize) -> Self {
        FrameDecoder { buf: Vec::new(), start: 0, limit: limit.min(MAX_MESSAGE_SIZE), error: None }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Octets received but not yet returned as frames.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// The next complete frame's message bytes (without the 2-octet prefix), `Ok(None)` if
    /// more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let pending = self.buf.get(self.start..).unwrap_or_default();
        let Some((prefix, rest)) = pending.split_first_chunk::<FRAME_PREFIX_LEN>() else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes(*prefix));
        let err = if len == 0 {
            Some(WireError::EmptyFrame)
        } else if len > self.limit {
            Some(WireError::TooLarge { size: len, limit: self.limit })
        } else {
            None
        };
        if let Some(e) = err {
            self.error = Some(e.clone());
            return Err(e);
        }
        let Some(frame) = rest.get(..len) else {
            return Ok(None);
        };
        let frame = frame.to_vec();
        self.start = self.start.saturating_add(FRAME_PREFIX_LEN + len);
        if self.start >= self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(frame))
    }

    /// The next complete frame, decoded. A frame that does not decode is an error (the frame
    /// is consumed; framing is still intact, so the caller may continue or disconnect).
    pub fn next_message(&mut self) -> Result<Option<Message>, WireError> {
        match self.next_frame()? {
            Some(bytes) => decode_message(&bytes).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(unknown: Vec<RawOption>) -> Message {
        Message { xid: 5, sent_time: Time(9), body: MessageBody::Contact(NoOptions { unknown }) }
    }

    #[test]
    fn unknown_options_with_interpreted_codes_are_refused() {
        let m = Message {
            xid: 1,
            sent_time: Time(1),
            body: MessageBody::Connect(ConnectOptions {
                unknown: vec![RawOption { code: code::F_MCLT, data: vec![0, 0, 0, 1] }],
                ..ConnectOptions::default()
            }),
        };
        assert!(matches!(encode_message(&m), Err(WireError::BadValue { code: 122, .. })));
        // The same code is fine where nobody interprets it.
        let m = contact(vec![RawOption { code: code::F_MCLT, data: vec![0, 0, 0, 1] }]);
        assert_eq!(encode_message(&m).and_then(|b| decode_message(&b)), Ok(m));
        // An unknown option of a known code must still have its shape.
        let m = contact(vec![RawOption { code: code::F_MCLT, data: vec![0, 1] }]);
        assert!(matches!(encode_message(&m), Err(WireError::BadOptionLength { code: 122, .. })));
    }

    #[test]
    fn ia_ta_with_t1_or_resource_of_wrong_kind_is_refused() {
        let ia = IaData {
            kind: IaKind::Ta,
            iaid: 1,
            t1: 5,
            t2: 0,
            leases: vec![],
            status: None,
            unknown: vec![],
        };
        assert!(matches!(enc_ia(&ia), Err(WireError::BadValue { code: 4, .. })));
        let ia = IaData {
            kind: IaKind::Pd,
            t1: 0,
            leases: vec![LeaseData {
                resource: Resource::Address(Ipv6Addr::LOCALHOST),
                preferred_lifetime: 0,
                valid_lifetime: 0,
                options: LeaseOptions::default(),
            }],
            ..ia
        };
        assert!(matches!(enc_ia(&ia), Err(WireError::BadValue { code: 25, .. })));
    }

    #[test]
    fn restamp_rewrites_only_the_sent_time() {
        let mut f = encode_frame(&contact(vec![])).unwrap_or_default();
        assert!(restamp(&mut f, Time(0x0102_0304)));
        let back = decode_message(f.get(FRAME_PREFIX_LEN..).unwrap_or_default());
        assert_eq!(back, Ok(Message { sent_time: Time(0x0102_0304), ..contact(vec![]) }));
        // STARTTLS / REPLY have no sent-time; short frames are left alone.
        let mut s = encode_frame(&crate::failover::secure::starttls_request(9)).unwrap_or_default();
        let before = s.clone();
        assert!(!restamp(&mut s, Time(1)));
        assert_eq!(s, before);
        assert!(!restamp(&mut [0, 3, 24, 0, 0], Time(1)));
        assert!(!restamp(&mut [], Time(1)));
    }

    #[test]
    fn frame_decoder_compacts_and_reports_buffered() {
        let one = encode_frame(&contact(vec![])).unwrap_or_default();
        let mut fd = FrameDecoder::new();
        for _ in 0..100 {
            fd.push(&one);
            fd.push(one.get(..3).unwrap_or_default());
            assert!(matches!(fd.next_message(), Ok(Some(_))));
            assert_eq!(fd.next_frame(), Ok(None));
            fd.push(one.get(3..).unwrap_or_default());
            assert!(matches!(fd.next_message(), Ok(Some(_))));
            assert_eq!(fd.buffered(), 0);
        }
        // A frame that does not decode is consumed; the next one still decodes.
        let mut fd = FrameDecoder::new();
        fd.push(&[0, 8, 99, 0, 0, 0, 0, 0, 0, 0]);
        fd.push(&one);
        assert_eq!(fd.next_message(), Err(WireError::UnknownMessageType(99)));
        assert_eq!(fd.next_message(), Ok(Some(contact(vec![]))));
    }
}
