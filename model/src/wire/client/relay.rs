//! The relay envelope (RFC 8415 §9, §19.3): our own codec for RELAY-FORW and RELAY-REPL.

use super::*;

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
pub(super) fn unwrap_envelopes(
    bytes: &[u8],
    relay_type: u8,
) -> Result<(&[u8], Vec<RelayHop>), WireError> {
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

pub(super) fn build_relay(
    msg_type: u8,
    hop: &RelayHop,
    inner: &[u8],
) -> Result<Vec<u8>, WireError> {
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
