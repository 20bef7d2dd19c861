//! Encoding ADVERTISE / REPLY from a [`ClientReply`].

use super::*;

fn d6_status(s: DhcpStatus) -> DhcpOption {
    DhcpOption::StatusCode(d6::StatusCode {
        status: d6::Status::from(s.code()),
        msg: s.name().to_string(),
    })
}

pub(super) fn check_duid(c: u16, d: &Duid) -> Result<(), WireError> {
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
pub(super) fn in_order(opts: Vec<DhcpOption>) -> DhcpOptions {
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
pub(super) fn d6_ia(
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
pub(super) fn finish(msg: &d6::Message, size: usize) -> Result<Vec<u8>, WireError> {
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
    for (i, v) in reply.options.iter().enumerate() {
        if reply.options[..i].iter().any(|w| w.code() == v.code()) {
            return Err(WireError::Duplicate(v.code()));
        }
        let (o, n) = super::options::d6_option(v)?;
        size = size.saturating_add(n);
        if size > MAX_UDP_MESSAGE_SIZE {
            return Err(WireError::TooLarge { size, limit: MAX_UDP_MESSAGE_SIZE });
        }
        opts.push(o);
    }
    msg.set_opts(in_order(opts));
    let mut out = finish(&msg, size)?;
    for hop in ctx.relays.iter().rev() {
        out = build_relay(MSG_RELAY_REPL, hop, &out)?;
    }
    Ok(out)
}
