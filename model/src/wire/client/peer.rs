//! The client side (tests, demo clients): encoding requests, decoding replies.

use super::*;
use crate::dhcp::options::OptionValue;

/// Encodes a client request (as a client would send it) with transaction id `xid`: CLIENTID,
/// SERVERID, the IAs with their IAADDR / IAPREFIX hints (T1 = T2 = 0), ELAPSED_TIME 0
/// (RFC 8415 §21.9: MUST be sent), RAPID_COMMIT and the ORO if `req.oro` is not empty. `tag`, `link_address` and `unicast` are
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
    if !req.oro.is_empty() {
        size += 4 + 2 * req.oro.len();
        if size > MAX_UDP_MESSAGE_SIZE {
            return Err(WireError::TooLarge { size, limit: MAX_UDP_MESSAGE_SIZE });
        }
        opts.push(DhcpOption::ORO(d6::ORO {
            opts: req.oro.iter().map(|&c| d6::OptionCode::from(c)).collect(),
        }));
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
    let mut options: Vec<OptionValue> = Vec::new();
    for (t, opt) in &typed {
        let c = t.code;
        if let Some(v) = decode_option_value(c, t.data)? {
            if options.iter().any(|w| w.code() == c) {
                return Err(WireError::Duplicate(c));
            }
            options.push(v);
            continue;
        }
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
        options,
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
