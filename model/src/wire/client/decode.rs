//! Decoding client packets into a [`ClientRequest`].

use super::*;

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

pub(super) fn msg_type_of(k: ClientMsgKind) -> MessageType {
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
        oro: oro.clone().unwrap_or_default(),
    };
    let context = ReplyContext { xid, msg_type: ty, relays, oro: oro.unwrap_or_default() };
    Ok(ClientPacket { request, context })
}

/// The address or prefix (with its preferred and valid lifetimes) of an IAADDR / IAPREFIX
/// inside an IA of `kind` (option code `ia_code`), `None` for any other option. An address in an
/// IA_PD, a prefix in an IA_NA / IA_TA and a prefix length above 128 are errors.
pub(super) fn ia_lease(
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
