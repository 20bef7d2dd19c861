//! Encoding failover messages in canonical option order (see the module above).

use super::*;

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

pub(super) fn ia_code(kind: IaKind) -> u16 {
    match kind {
        IaKind::Na => code::IA_NA,
        IaKind::Ta => code::IA_TA,
        IaKind::Pd => code::IA_PD,
    }
}

pub(super) fn enc_ia(ia: &IaData) -> Result<(u16, Vec<u8>), WireError> {
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
