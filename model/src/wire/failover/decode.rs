//! Decoding failover messages: validate the whole option tree, then interpret (see the module
//! above).

use super::*;

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
