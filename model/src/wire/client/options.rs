//! The configuration options ([`OptionValue`]) on the wire.
//!
//! Our own octets for every option, checked before they are written: addresses lists (23 DNS
//! servers, RFC 3646 §3; 31 SNTP servers, RFC 4075 §4) are 16 octets per address, domain names
//! (24 search list, RFC 3646 §4; 56's FQDN sub-option, RFC 5908 §4.3) are uncompressed
//! (RFC 8415 §10, RFC 1035 §3.1) and must pass [`DomainName::check`], the NTP server (56) is
//! its RFC 5908 §4 sub-options, the times (32, 82, 83) are 4 octets.
//!
//! dhcproto carries them in the message as [`DhcpOption::Unknown`] with our octets: its own
//! domain search list encoder writes the names through one DNS encoder, which compresses a
//! suffix shared by two names (forbidden by RFC 8415 §10), it has no SNTP, SOL_MAX_RT or
//! INF_MAX_RT variant, and it truncates lengths with `as u16`. Decoding
//! ([`decode_option_value`]) is ours as well, over options the validator has checked.

use super::*;
use crate::dhcp::options::{DomainName, NtpServer, OptionName, OptionValue};
use dhcproto::v6::UnknownOption;

fn put_name(out: &mut Vec<u8>, code: u16, n: &DomainName) -> Result<(), WireError> {
    n.check().map_err(|reason| WireError::BadValue { code, reason })?;
    for label in n.labels() {
        // `check` bounds a label to 63 octets.
        out.push(u8::try_from(label.len()).unwrap_or(0));
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Ok(())
}

fn put_addrs(out: &mut Vec<u8>, addrs: &[Ipv6Addr]) {
    for a in addrs {
        out.extend_from_slice(&a.octets());
    }
}

/// The option's data (without code and length), after checking every value.
///
/// # Errors
/// An empty list, a name that fails [`DomainName::check`], a multicast address where a unicast
/// one belongs (or the reverse, in 56), or data over the 16-bit option length.
pub fn option_data(v: &OptionValue) -> Result<Vec<u8>, WireError> {
    let code = v.code();
    let empty = || WireError::BadValue { code, reason: "an empty list is not sent" };
    let mut out = Vec::new();
    match v {
        OptionValue::DnsServers(list) | OptionValue::SntpServers(list) => {
            if list.is_empty() {
                return Err(empty());
            }
            if list.iter().any(Ipv6Addr::is_multicast) {
                return Err(WireError::BadValue { code, reason: "a server address is multicast" });
            }
            put_addrs(&mut out, list);
        }
        OptionValue::DomainSearch(names) => {
            if names.is_empty() {
                return Err(empty());
            }
            for n in names {
                put_name(&mut out, code, n)?;
            }
        }
        OptionValue::NtpServers(list) => {
            if list.is_empty() {
                return Err(empty());
            }
            for s in list {
                let mut data = Vec::new();
                match s {
                    NtpServer::Address(a) | NtpServer::Multicast(a) => {
                        if a.is_multicast() != matches!(s, NtpServer::Multicast(_)) {
                            return Err(WireError::BadValue {
                                code,
                                reason: "NTP sub-option 1 is unicast, 2 multicast (RFC 5908 §4)",
                            });
                        }
                        data.extend_from_slice(&a.octets());
                    }
                    NtpServer::Fqdn(n) => put_name(&mut data, code, n)?,
                }
                put_option(&mut out, s.suboption(), &data)?;
            }
        }
        OptionValue::InformationRefreshTime(t)
        | OptionValue::SolMaxRt(t)
        | OptionValue::InfMaxRt(t) => {
            out.extend_from_slice(&t.to_be_bytes());
        }
    }
    if out.len() > usize::from(u16::MAX) {
        return Err(WireError::TooLarge { size: out.len(), limit: usize::from(u16::MAX) });
    }
    Ok(out)
}

/// The option for dhcproto (our octets, see the module documentation) and its encoded size.
pub(super) fn d6_option(v: &OptionValue) -> Result<(DhcpOption, usize), WireError> {
    let data = option_data(v)?;
    let size = 4 + data.len();
    Ok((DhcpOption::Unknown(UnknownOption::new(v.code().into(), data)), size))
}

fn name_of(code: u16, labels: &[&[u8]]) -> Result<DomainName, WireError> {
    let mut s = String::new();
    for l in labels {
        let l = std::str::from_utf8(l)
            .map_err(|_| WireError::BadValue { code, reason: "a domain name is not ASCII" })?;
        if !s.is_empty() {
            s.push('.');
        }
        s.push_str(l);
    }
    let n = DomainName::new(s);
    n.check().map_err(|reason| WireError::BadValue { code, reason })?;
    Ok(n)
}

fn addrs(code: u16, data: &[u8]) -> Result<Vec<Ipv6Addr>, WireError> {
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return Err(WireError::BadOptionLength {
            code,
            len: data.len(),
            expected: "a non-empty multiple of 16",
        });
    }
    Ok(data
        .chunks_exact(16)
        .map(|c| Ipv6Addr::from(<[u8; 16]>::try_from(c).unwrap_or([0; 16])))
        .collect())
}

/// Decodes one option of the validated message `code`/`data` into an [`OptionValue`], `None` if
/// it is not one of [`OptionName::ALL`].
///
/// # Errors
/// Malformed data: a length that does not fit, a name that is not a host name, an unknown or
/// malformed NTP sub-option.
pub fn decode_option_value(code: u16, data: &[u8]) -> Result<Option<OptionValue>, WireError> {
    let Some(name) = OptionName::ALL.into_iter().find(|n| n.code() == code) else {
        return Ok(None);
    };
    let u32_of =
        || -> Result<u32, WireError> {
            <[u8; 4]>::try_from(data).map(u32::from_be_bytes).map_err(|_| {
                WireError::BadOptionLength { code, len: data.len(), expected: "fixed size" }
            })
        };
    let bad = |reason| WireError::BadValue { code, reason };
    Ok(Some(match name {
        OptionName::DnsServers => OptionValue::DnsServers(addrs(code, data)?),
        OptionName::SntpServers => OptionValue::SntpServers(addrs(code, data)?),
        OptionName::DomainSearch => {
            let mut names = Vec::new();
            let mut rest = data;
            while !rest.is_empty() {
                let (labels, next) = tlv::split_name(rest).map_err(bad)?;
                names.push(name_of(code, &labels)?);
                rest = next;
            }
            if names.is_empty() {
                return Err(bad("an empty domain search list"));
            }
            OptionValue::DomainSearch(names)
        }
        OptionName::NtpServers => {
            let mut budget = MAX_OPTIONS;
            let mut list = Vec::new();
            for sub in split_options(data, &mut budget)? {
                let addr = || {
                    <[u8; 16]>::try_from(sub.data)
                        .map(Ipv6Addr::from)
                        .map_err(|_| bad("an NTP address sub-option is not 16 octets"))
                };
                list.push(match sub.code {
                    1 => NtpServer::Address(addr()?),
                    2 => NtpServer::Multicast(addr()?),
                    3 => match tlv::split_name(sub.data).map_err(bad)? {
                        (labels, []) => NtpServer::Fqdn(name_of(code, &labels)?),
                        _ => return Err(bad("octets after the NTP server's FQDN")),
                    },
                    _ => return Err(bad("an unknown NTP sub-option (RFC 5908 §4)")),
                });
            }
            if list.is_empty() {
                return Err(bad("an NTP server option without sub-options"));
            }
            OptionValue::NtpServers(list)
        }
        OptionName::InformationRefreshTime => OptionValue::InformationRefreshTime(u32_of()?),
        OptionName::SolMaxRt => OptionValue::SolMaxRt(u32_of()?),
        OptionName::InfMaxRt => OptionValue::InfMaxRt(u32_of()?),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::client::ClientReply;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
    }

    fn n(s: &str) -> DomainName {
        DomainName::new(s)
    }

    pub(crate) fn every_option() -> Vec<OptionValue> {
        vec![
            OptionValue::DnsServers(vec![a("2001:db8::53"), a("2001:db8::54")]),
            OptionValue::DomainSearch(vec![n("example.org"), n("corp.example.org")]),
            OptionValue::SntpServers(vec![a("2001:db8::123")]),
            OptionValue::InformationRefreshTime(86_400),
            OptionValue::NtpServers(vec![
                NtpServer::Address(a("2001:db8::123")),
                NtpServer::Multicast(a("ff05::101")),
                NtpServer::Fqdn(n("ntp.example.org")),
            ]),
            OptionValue::SolMaxRt(3600),
            OptionValue::InfMaxRt(7200),
        ]
    }

    /// The octets of each option, written out by hand from the RFCs.
    #[test]
    fn known_octets() {
        let data = |v| option_data(&v).unwrap_or_default();
        let dns = data(OptionValue::DnsServers(vec![a("2001:db8::53")]));
        assert_eq!(dns, a("2001:db8::53").octets().to_vec());
        // RFC 3646 §4 / RFC 1035 §3.1: no compression of the shared "example.org" suffix.
        let search = data(OptionValue::DomainSearch(vec![n("example.org"), n("a.example.org.")]));
        assert_eq!(search, b"\x07example\x03org\x00\x01a\x07example\x03org\x00".to_vec());
        let ntp = data(OptionValue::NtpServers(vec![
            NtpServer::Multicast(a("ff05::101")),
            NtpServer::Fqdn(n("ntp.example")),
        ]));
        let mut want = vec![0, 2, 0, 16];
        want.extend_from_slice(&a("ff05::101").octets());
        want.extend_from_slice(&[0, 3, 0, 13]);
        want.extend_from_slice(b"\x03ntp\x07example\x00");
        assert_eq!(ntp, want);
        assert_eq!(data(OptionValue::SolMaxRt(3600)), vec![0, 0, 0x0e, 0x10]);
    }

    #[test]
    fn every_option_round_trips_and_passes_the_validator() {
        for v in every_option() {
            let data = option_data(&v).unwrap_or_default();
            let mut one = Vec::new();
            assert_eq!(put_option(&mut one, v.code(), &data), Ok(()));
            assert_eq!(tlv::validate(&one), Ok(()), "{v:?}");
            assert_eq!(decode_option_value(v.code(), &data), Ok(Some(v.clone())));
        }
    }

    #[test]
    fn the_codec_refuses_what_validation_refuses() {
        for v in [
            OptionValue::DnsServers(vec![]),
            OptionValue::DnsServers(vec![a("ff02::1")]),
            OptionValue::DomainSearch(vec![n("bad..name")]),
            OptionValue::DomainSearch(vec![n(&"x".repeat(64))]),
            OptionValue::NtpServers(vec![NtpServer::Address(a("ff05::101"))]),
            OptionValue::NtpServers(vec![NtpServer::Multicast(a("2001:db8::1"))]),
            OptionValue::NtpServers(vec![NtpServer::Fqdn(n("ntp_1.example"))]),
        ] {
            assert!(matches!(option_data(&v), Err(WireError::BadValue { .. })), "{v:?}");
        }
    }

    #[test]
    fn malformed_names_are_refused_by_validator_and_decoder() {
        for data in [
            &b"\x07example\x03org"[..],  // no root label
            &b"\x07example\xc0\x0c"[..], // a compression pointer
            &b"\x09example"[..],         // a label past the end
            &b"\x03a_b\x00"[..],         // not a host name (decoder only)
        ] {
            assert!(decode_option_value(24, data).is_err(), "{data:?}");
        }
        let mut v = Vec::new();
        let _ = put_option(&mut v, 24, b"\x07example\xc0\x0c");
        assert!(tlv::validate(&v).is_err());
        let mut v = Vec::new();
        let _ = put_option(&mut v, 56, &[0, 1, 0, 4, 1, 2, 3, 4]);
        assert!(tlv::validate(&v).is_err());
        let long: Vec<u8> = std::iter::repeat_n(
            b"\x3faaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".as_slice(),
            5,
        )
        .flatten()
        .copied()
        .chain([0])
        .collect();
        assert!(tlv::split_name(&long).is_err());
    }

    /// A REPLY carrying every option, decoded back by our decoder and by dhcproto's full
    /// message decoder (an independent reading of the same octets).
    #[test]
    fn a_reply_with_every_option_round_trips() {
        let reply = ClientReply {
            tag: 0,
            kind: ReplyKind::Reply,
            client_id: Some(Duid::new([0, 3, 0, 1, 2, 0, 0, 0, 0, 1])),
            server_id: Duid::new([0, 2, 0, 0, 9, 0xbf, 1]),
            rapid_commit: false,
            status: None,
            ias: vec![],
            preference: None,
            options: every_option(),
        };
        let ctx = ReplyContext { xid: [1, 2, 3], msg_type: 11, relays: vec![], oro: vec![] };
        let bytes = encode_client_reply(&reply, &ctx).unwrap_or_default();
        assert_eq!(decode_server_reply(&bytes), Ok((reply, [1, 2, 3])));
        let msg = d6::Message::decode(&mut Decoder::new(&bytes));
        let Ok(msg) = msg else { panic!("{msg:?}") };
        let got: Vec<&DhcpOption> = msg.opts().iter().collect();
        assert!(got
            .contains(&&DhcpOption::DomainNameServers(vec![a("2001:db8::53"), a("2001:db8::54")])));
        // dhcproto does not type 32 when decoding: its octets, then.
        assert!(got.contains(&&DhcpOption::Unknown(UnknownOption::new(
            d6::OptionCode::from(32),
            86_400u32.to_be_bytes().to_vec()
        ))));
        let names: Vec<String> = got
            .iter()
            .find_map(|o| match o {
                DhcpOption::DomainSearchList(v) => {
                    Some(v.iter().map(ToString::to_string).collect())
                }
                _ => None,
            })
            .unwrap_or_default();
        assert_eq!(names, vec!["example.org.", "corp.example.org."]);
        let ntp = got.iter().find_map(|o| match o {
            DhcpOption::NtpServer(v) => Some(v.clone()),
            _ => None,
        });
        assert_eq!(ntp.map(|v| v.len()), Some(3), "dhcproto reads the three RFC 5908 sub-options");
    }
}
