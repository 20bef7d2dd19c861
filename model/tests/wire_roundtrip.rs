//! Property tests: every failover message and option, and the client adapter, survive
//! value -> bytes -> value. The strategies generate exactly what the wire can represent
//! (24-bit xids, DUIDs of 3..=130 octets, IA_TA without T1/T2, resources matching their IA,
//! unknown options with codes nobody interprets).

use failover_model::dhcp::client::{
    ClientMsgKind, ClientReply, ClientRequest, DhcpStatus, GrantedLease, IaReply, IaRequest,
    ReplyKind, RequestedLease,
};
use failover_model::dhcp::options::{DomainName, NtpServer, OptionValue};
use failover_model::failover::message::{
    BindingMessage, BindingPayload, ClientData, ConnectOptions, DisconnectOptions, DnsRemovalInfo,
    IaData, LeaseData, LeaseOptions, Message, MessageBody, NoOptions, PrefixData, RawOption,
    ReconfigureData, RelayData, ServerFlags, StateOptions, Status, StatusCode,
};
use failover_model::failover::state::ALL_STATES;
use failover_model::leases::binding::BindingStatus;
use failover_model::resource::{Duid, IaKind, Resource};
use failover_model::time::Time;
use failover_model::wire::{
    decode_client_packet, decode_message, decode_server_reply, encode_client_reply,
    encode_client_request, encode_frame, encode_message, unwrap_relay_repl, wrap_relay_forw,
    FrameDecoder, RelayHop, ReplyContext,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use std::net::Ipv6Addr;

// ---- leaves -------------------------------------------------------------------------------

fn time() -> impl Strategy<Value = Time> {
    any::<u32>().prop_map(Time)
}

fn duid() -> impl Strategy<Value = Duid> {
    vec(any::<u8>(), 3..=130).prop_map(Duid)
}

fn text() -> impl Strategy<Value = String> {
    vec(proptest::sample::select(vec!['a', 'Z', '0', ' ', '-', 'é', '✓', '\u{10348}']), 0..12)
        .prop_map(|cs| cs.into_iter().collect())
}

fn status() -> impl Strategy<Value = Status> {
    (any::<u16>(), text()).prop_map(|(c, m)| Status { code: StatusCode(c), message: m })
}

fn bytes(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), min..=max)
}

fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

/// Codes no container interprets and the validator treats as opaque (above RFC 8156's 134).
fn unknown() -> impl Strategy<Value = Vec<RawOption>> {
    vec((135u16..=u16::MAX, bytes(0, 8)).prop_map(|(code, data)| RawOption { code, data }), 0..3)
}

fn binding_status() -> impl Strategy<Value = BindingStatus> {
    (1u8..=8).prop_map(|c| BindingStatus::from_code(c).unwrap_or(BindingStatus::Active))
}

// ---- failover options ---------------------------------------------------------------------

fn dns_removal() -> impl Strategy<Value = DnsRemovalInfo> {
    (option::of(bytes(0, 10)), option::of(bytes(0, 10)), option::of(any::<u16>()), unknown())
        .prop_map(|(host_name, zone_name, flags, unknown)| DnsRemovalInfo {
            host_name,
            zone_name,
            flags,
            unknown,
        })
}

fn lease_options() -> impl Strategy<Value = LeaseOptions> {
    (
        (option::of(binding_status()), option::of(time()), option::of(time()), option::of(time())),
        (option::of(time()), option::of(time()), option::of(any::<u32>()), option::of(time())),
        (option::of(bytes(1, 10)), option::of(dns_removal()), option::of(status()), unknown()),
    )
        .prop_map(|((bs, st, se, pl), (et, pls, clt, raw), (fqdn, dns, status, unknown))| {
            LeaseOptions {
                binding_status: bs,
                start_time_of_state: st,
                state_expiration_time: se,
                partner_lifetime: pl,
                expiration_time: et,
                partner_lifetime_sent: pls,
                clt_time: clt,
                partner_raw_clt_time: raw,
                client_fqdn: fqdn,
                dns_removal_info: dns,
                status,
                unknown,
            }
        })
}

fn resource_for(kind: IaKind) -> BoxedStrategy<Resource> {
    match kind {
        IaKind::Na | IaKind::Ta => ipv6().prop_map(Resource::Address).boxed(),
        IaKind::Pd => (ipv6(), 0u8..=128).prop_map(|(p, l)| Resource::Prefix(p, l)).boxed(),
    }
}

fn lease_data(kind: IaKind) -> impl Strategy<Value = LeaseData> {
    (resource_for(kind), any::<u32>(), any::<u32>(), lease_options()).prop_map(
        |(resource, p, v, options)| LeaseData {
            resource,
            preferred_lifetime: p,
            valid_lifetime: v,
            options,
        },
    )
}

fn ia_kind() -> impl Strategy<Value = IaKind> {
    prop_oneof![Just(IaKind::Na), Just(IaKind::Ta), Just(IaKind::Pd)]
}

fn ia_data() -> impl Strategy<Value = IaData> {
    ia_kind().prop_flat_map(|kind| {
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            vec(lease_data(kind), 0..3),
            option::of(status()),
            unknown(),
        )
            .prop_map(move |(iaid, t1, t2, leases, status, unknown)| {
                let (t1, t2) = if kind == IaKind::Ta { (0, 0) } else { (t1, t2) };
                IaData { kind, iaid, t1, t2, leases, status, unknown }
            })
    })
}

fn client_data() -> impl Strategy<Value = ClientData> {
    (
        (duid(), option::of(time()), option::of(bytes(1, 8))),
        option::of(
            (time(), bytes(0, 16))
                .prop_map(|(t, key)| ReconfigureData { reconfigure_time: t, key }),
        ),
        option::of(
            (ipv6(), bytes(0, 40)).prop_map(|(peer_address, relay_message)| RelayData {
                peer_address,
                relay_message,
            }),
        ),
        (vec(ia_data(), 0..3), option::of(status()), unknown()),
    )
        .prop_map(
            |((client_id, lq_base_time, vss), reconfigure, relay_data, (ias, status, unknown))| {
                ClientData {
                    client_id,
                    lq_base_time,
                    vss,
                    reconfigure,
                    relay_data,
                    ias,
                    status,
                    unknown,
                }
            },
        )
}

fn prefix_data() -> impl Strategy<Value = PrefixData> {
    (lease_data(IaKind::Pd), option::of(time()), option::of(bytes(1, 8)))
        .prop_map(|(lease, lq_base_time, vss)| PrefixData { lease, lq_base_time, vss })
}

fn binding_message() -> impl Strategy<Value = BindingMessage> {
    let payload = option::of(prop_oneof![
        client_data().prop_map(BindingPayload::Client),
        prefix_data().prop_map(BindingPayload::Prefix),
    ]);
    (payload, option::of(status()), unknown())
        .prop_map(|(payload, status, unknown)| BindingMessage { payload, status, unknown })
}

fn connect() -> impl Strategy<Value = ConnectOptions> {
    (
        (
            option::of((any::<u16>(), any::<u16>())),
            option::of(any::<u32>()),
            option::of(any::<u32>()),
        ),
        (option::of(any::<u32>()), option::of(text()), option::of(any::<u16>())),
        (option::of(status()), unknown()),
    )
        .prop_map(|((v, mclt, ka), (mu, name, flags), (status, unknown))| ConnectOptions {
            protocol_version: v,
            mclt,
            keepalive_time: ka,
            max_unacked_bndupd: mu,
            relationship_name: name,
            connect_flags: flags,
            status,
            unknown,
        })
}

fn state() -> impl Strategy<Value = StateOptions> {
    (
        option::of(proptest::sample::select(ALL_STATES.to_vec())),
        option::of(
            (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(s, a, c)| ServerFlags {
                startup: s,
                ack_startup: a,
                communicated: c,
            }),
        ),
        option::of(time()),
        option::of(time()),
        unknown(),
    )
        .prop_map(|(server_state, flags, st, pd, unknown)| StateOptions {
            server_state,
            flags,
            start_time_of_state: st,
            partner_down_time: pd,
            unknown,
        })
}

fn disconnect() -> impl Strategy<Value = DisconnectOptions> {
    (option::of(status()), unknown())
        .prop_map(|(status, unknown)| DisconnectOptions { status, unknown })
}

fn no_options() -> impl Strategy<Value = NoOptions> {
    unknown().prop_map(|unknown| NoOptions { unknown })
}

fn body() -> impl Strategy<Value = MessageBody> {
    prop_oneof![
        binding_message().prop_map(MessageBody::BndUpd),
        binding_message().prop_map(MessageBody::BndReply),
        no_options().prop_map(MessageBody::PoolReq),
        no_options().prop_map(MessageBody::PoolResp),
        no_options().prop_map(MessageBody::UpdReq),
        no_options().prop_map(MessageBody::UpdReqAll),
        no_options().prop_map(MessageBody::UpdDone),
        connect().prop_map(MessageBody::Connect),
        connect().prop_map(MessageBody::ConnectReply),
        disconnect().prop_map(MessageBody::Disconnect),
        state().prop_map(MessageBody::State),
        no_options().prop_map(MessageBody::Contact),
        disconnect().prop_map(MessageBody::StartTls),
        disconnect().prop_map(MessageBody::StartTlsReply),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (0u32..=0x00ff_ffff, time(), body()).prop_map(|(xid, sent_time, body)| Message {
        xid,
        // STARTTLS and REPLY have no sent-time on the wire (4-octet header).
        sent_time: if body.has_sent_time() { sent_time } else { Time(0) },
        body,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn failover_message_roundtrip(m in message()) {
        let bytes = encode_message(&m);
        prop_assert!(bytes.is_ok(), "{:?}", bytes);
        let bytes = bytes.unwrap_or_default();
        prop_assert_eq!(decode_message(&bytes), Ok(m.clone()));
        // Encoding is canonical: decode then encode gives the same octets.
        prop_assert_eq!(encode_message(&m), Ok(bytes));
    }

    #[test]
    fn frames_survive_any_split(ms in vec(message(), 1..4), cut in vec(any::<prop::sample::Index>(), 0..6)) {
        let mut stream = Vec::new();
        for m in &ms {
            let f = encode_frame(m);
            prop_assert!(f.is_ok());
            stream.extend(f.unwrap_or_default());
        }
        let mut cuts: Vec<usize> = cut.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.push(0);
        cuts.push(stream.len());
        cuts.sort_unstable();
        let mut fd = FrameDecoder::new();
        let mut got = Vec::new();
        for w in cuts.windows(2) {
            fd.push(stream.get(w[0]..w[1]).unwrap_or_default());
            while let Some(m) = fd.next_message().map_err(|e| TestCaseError::fail(e.to_string()))? {
                got.push(m);
            }
        }
        prop_assert_eq!(got, ms);
        prop_assert_eq!(fd.buffered(), 0);
    }

    #[test]
    fn xid_above_24_bits_is_refused(xid in 0x0100_0000u32.., b in body()) {
        let m = Message { xid, sent_time: Time(0), body: b };
        prop_assert!(encode_message(&m).is_err());
    }
}

// ---- client adapter -----------------------------------------------------------------------

fn client_kind() -> impl Strategy<Value = ClientMsgKind> {
    proptest::sample::select(vec![
        ClientMsgKind::Solicit,
        ClientMsgKind::Request,
        ClientMsgKind::Confirm,
        ClientMsgKind::Renew,
        ClientMsgKind::Rebind,
        ClientMsgKind::Release,
        ClientMsgKind::Decline,
        ClientMsgKind::InformationRequest,
    ])
}

fn ia_request() -> impl Strategy<Value = IaRequest> {
    ia_kind().prop_flat_map(|kind| {
        let lease =
            (resource_for(kind), any::<u32>(), any::<u32>()).prop_map(|(resource, p, v)| {
                RequestedLease { resource, preferred_lifetime: p, valid_lifetime: v }
            });
        (any::<u32>(), vec(lease, 0..3)).prop_map(move |(iaid, leases)| IaRequest {
            kind,
            iaid,
            leases,
        })
    })
}

fn client_request() -> impl Strategy<Value = ClientRequest> {
    (
        any::<u64>(),
        client_kind(),
        option::of(duid()),
        option::of(duid()),
        any::<bool>(),
        vec(ia_request(), 0..4),
        any::<bool>(),
        vec(any::<u16>(), 0..6),
    )
        .prop_map(|(tag, kind, client_id, server_id, rapid_commit, ias, unicast, oro)| {
            ClientRequest {
                tag,
                kind,
                client_id,
                server_id,
                rapid_commit,
                ias,
                link_address: None,
                unicast,
                oro,
            }
        })
}

fn dhcp_status() -> impl Strategy<Value = DhcpStatus> {
    (0u16..=6).prop_map(|c| DhcpStatus::from_code(c).unwrap_or(DhcpStatus::Success))
}

fn ia_reply() -> impl Strategy<Value = IaReply> {
    ia_kind().prop_flat_map(|kind| {
        let lease =
            (resource_for(kind), any::<u32>(), any::<u32>()).prop_map(|(resource, p, v)| {
                GrantedLease { resource, preferred_lifetime: p, valid_lifetime: v }
            });
        (any::<u32>(), any::<u32>(), any::<u32>(), vec(lease, 0..3), option::of(dhcp_status()))
            .prop_map(move |(iaid, t1, t2, leases, status)| {
                let (t1, t2) = if kind == IaKind::Ta { (0, 0) } else { (t1, t2) };
                IaReply { kind, iaid, t1, t2, leases, status }
            })
    })
}

fn client_reply() -> impl Strategy<Value = ClientReply> {
    (
        prop_oneof![Just(ReplyKind::Advertise), Just(ReplyKind::Reply)],
        option::of(duid()),
        duid(),
        any::<bool>(),
        option::of(dhcp_status()),
        vec(ia_reply(), 0..4),
        option::of(any::<u8>()),
        option_values(),
    )
        .prop_map(
            |(kind, client_id, server_id, rapid_commit, status, ias, preference, options)| {
                ClientReply {
                    tag: 0,
                    kind,
                    client_id,
                    server_id,
                    rapid_commit,
                    status,
                    ias,
                    preference,
                    options,
                }
            },
        )
}

fn unicast() -> impl Strategy<Value = Ipv6Addr> {
    ipv6().prop_filter("unicast", |a| !a.is_multicast())
}

fn domain_name() -> impl Strategy<Value = DomainName> {
    vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", 1..4).prop_map(|l| DomainName::new(l.join(".")))
}

fn ntp_server() -> impl Strategy<Value = NtpServer> {
    prop_oneof![
        unicast().prop_map(NtpServer::Address),
        any::<u128>().prop_map(|x| NtpServer::Multicast(Ipv6Addr::from(x | (0xff << 120)))),
        domain_name().prop_map(NtpServer::Fqdn),
    ]
}

/// Any subset of the configuration options, each valid, in code order (as the core selects
/// them and dhcproto sorts them).
fn option_values() -> impl Strategy<Value = Vec<OptionValue>> {
    (
        option::of(vec(unicast(), 1..4).prop_map(OptionValue::DnsServers)),
        option::of(vec(domain_name(), 1..4).prop_map(OptionValue::DomainSearch)),
        option::of(vec(unicast(), 1..4).prop_map(OptionValue::SntpServers)),
        option::of(any::<u32>().prop_map(OptionValue::InformationRefreshTime)),
        option::of(vec(ntp_server(), 1..4).prop_map(OptionValue::NtpServers)),
        option::of(any::<u32>().prop_map(OptionValue::SolMaxRt)),
        option::of(any::<u32>().prop_map(OptionValue::InfMaxRt)),
    )
        .prop_map(|(a, b, c, d, e, f, g)| [a, b, c, d, e, f, g].into_iter().flatten().collect())
}

fn relay_hop() -> impl Strategy<Value = RelayHop> {
    (0u8..=32, ipv6(), ipv6(), option::of(bytes(0, 8)), unknown()).prop_map(
        |(hop_count, l, p, interface_id, echo)| RelayHop {
            hop_count,
            link_address: l,
            peer_address: p,
            interface_id,
            echo,
        },
    )
}

/// dhcproto keeps options sorted by code: IAs come back grouped by kind (NA, TA, PD), each
/// kind in its original order.
fn by_kind<T: Clone>(ias: &[T], kind: impl Fn(&T) -> IaKind) -> Vec<T> {
    let mut v = ias.to_vec();
    v.sort_by_key(|ia| kind(ia));
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn client_request_roundtrip_direct(req in client_request(), xid in any::<[u8; 3]>()) {
        let bytes = encode_client_request(&req, xid);
        prop_assert!(bytes.is_ok(), "{:?}", bytes);
        let p = decode_client_packet(&bytes.unwrap_or_default(), req.tag, req.unicast);
        let expected = ClientRequest { ias: by_kind(&req.ias, |i| i.kind), ..req };
        prop_assert_eq!(p.as_ref().map(|p| &p.request), Ok(&expected));
        prop_assert_eq!(p.map(|p| (p.context.xid, p.context.relays)), Ok((xid, vec![])));
    }

    #[test]
    fn client_request_roundtrip_relayed(
        req in client_request(),
        xid in any::<[u8; 3]>(),
        hops in vec((ipv6(), ipv6(), option::of(bytes(0, 8))), 1..4),
    ) {
        let mut bytes = encode_client_request(&req, xid).unwrap_or_default();
        for (i, (link, peer, ifid)) in hops.iter().enumerate() {
            let w = wrap_relay_forw(&bytes, u8::try_from(i).unwrap_or(0), *link, *peer, ifid.as_deref());
            prop_assert!(w.is_ok());
            bytes = w.unwrap_or_default();
        }
        let p = decode_client_packet(&bytes, req.tag, true);
        let innermost = hops.first().map(|h| h.0).filter(|a| !a.is_unspecified());
        let expected = ClientRequest { ias: by_kind(&req.ias, |i| i.kind), link_address: innermost, unicast: false, ..req };
        prop_assert_eq!(p.as_ref().map(|p| &p.request), Ok(&expected));
        let relays = p.map(|p| p.context.relays).unwrap_or_default();
        prop_assert_eq!(relays.len(), hops.len());
        for (r, (link, peer, ifid)) in relays.iter().rev().zip(&hops) {
            prop_assert_eq!((r.link_address, r.peer_address, &r.interface_id), (*link, *peer, ifid));
        }
    }

    #[test]
    fn client_reply_roundtrip(reply in client_reply(), xid in any::<[u8; 3]>(), relays in vec(relay_hop(), 0..3)) {
        let ctx = ReplyContext { xid, msg_type: 3, relays: relays.clone(), oro: vec![] };
        let bytes = encode_client_reply(&reply, &ctx);
        prop_assert!(bytes.is_ok(), "{:?}", bytes);
        let bytes = bytes.unwrap_or_default();
        let inner = if relays.is_empty() {
            bytes
        } else {
            let u = unwrap_relay_repl(&bytes);
            prop_assert_eq!(u.as_ref().map(|u| &u.1), Ok(&relays));
            u.map(|u| u.0).unwrap_or_default()
        };
        let expected = ClientReply { ias: by_kind(&reply.ias, |i| i.kind), ..reply };
        prop_assert_eq!(decode_server_reply(&inner), Ok((expected, xid)));
    }
}
