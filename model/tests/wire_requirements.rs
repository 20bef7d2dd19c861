//! RFC 8156 wire-format MUSTs checked on the octets the endpoints really send.
//!
//! Each test drives the two-endpoint harness (`common`) through a scenario, encodes every
//! message an endpoint sent to its partner with `encode_message`, and reads the option tree
//! back from the bytes with the small TLV walker below (independent of the decoder), so a rule
//! is checked where the partner would see it. `specs/requirements.toml` names these tests.

mod common;

use common::{Client, Pair, Side};
use failover_model::dhcp::client::{ClientMsgKind, IaRequest, RequestedLease};
use failover_model::failover::message::{
    BindingMessage, BindingPayload, ClientData, IaData, LeaseData, LeaseOptions, PrefixData,
    StatusCode,
};
use failover_model::wire::{decode_message, encode_message};
use failover_model::{
    BindingStatus, Command, EndpointState as St, IaKind, Input, Message, MessageBody, Resource,
    Role, Time,
};
use std::collections::BTreeMap;

// ---- option codes (RFC 8415 §21, RFC 5007, RFC 6607, RFC 8156 §5.5) ----------------------

const CLIENTID: u16 = 1;
const IA_NA: u16 = 3;
const IA_TA: u16 = 4;
const IAADDR: u16 = 5;
const AUTH: u16 = 11;
const STATUS_CODE: u16 = 13;
const IA_PD: u16 = 25;
const IAPREFIX: u16 = 26;
const CLIENT_DATA: u16 = 45;
const CLT_TIME: u16 = 46;
const VSS: u16 = 68;
const LQ_BASE_TIME: u16 = 100;
const F_BINDING_STATUS: u16 = 114;
const F_CONNECT_FLAGS: u16 = 115;
const F_DNS_REMOVAL_INFO: u16 = 116;
const F_EXPIRATION_TIME: u16 = 120;
const F_MAX_UNACKED_BNDUPD: u16 = 121;
const F_MCLT: u16 = 122;
const F_PARTNER_LIFETIME: u16 = 123;
const F_PARTNER_LIFETIME_SENT: u16 = 124;
const F_PARTNER_DOWN_TIME: u16 = 125;
const F_PARTNER_RAW_CLT_TIME: u16 = 126;
const F_PROTOCOL_VERSION: u16 = 127;
const F_KEEPALIVE_TIME: u16 = 128;
const F_RELATIONSHIP_NAME: u16 = 130;
const F_SERVER_FLAGS: u16 = 131;
const F_SERVER_STATE: u16 = 132;
const F_START_TIME_OF_STATE: u16 = 133;
const F_STATE_EXPIRATION_TIME: u16 = 134;

/// The §5.5 times that are absolute (§5.5.4, .7, .8, .9, .10, .17, .18).
const ABSOLUTE: &[u16] = &[
    F_EXPIRATION_TIME,
    F_PARTNER_LIFETIME,
    F_PARTNER_LIFETIME_SENT,
    F_PARTNER_DOWN_TIME,
    F_PARTNER_RAW_CLT_TIME,
    F_START_TIME_OF_STATE,
    F_STATE_EXPIRATION_TIME,
];

/// The §7.4 "starred" times: present if and only if the binding-status has a timeout.
const STARRED: &[u16] = &[F_STATE_EXPIRATION_TIME, F_PARTNER_LIFETIME, F_EXPIRATION_TIME];

// ---- a TLV walker over the octets (RFC 8415 §21.1) ---------------------------------------

/// One option: code, data, and its sub-options when it is a container we know.
#[derive(Clone, Debug)]
struct Opt {
    code: u16,
    data: Vec<u8>,
    subs: Vec<Opt>,
}

/// Where the sub-options of a container start (its fixed part precedes them).
fn fixed_part(code: u16) -> Option<usize> {
    match code {
        CLIENT_DATA | F_DNS_REMOVAL_INFO => Some(0),
        IA_NA | IA_PD => Some(12),
        IA_TA => Some(4),
        IAADDR => Some(24),
        IAPREFIX => Some(25),
        _ => None,
    }
}

fn parse(mut b: &[u8]) -> Vec<Opt> {
    let mut out = Vec::new();
    while !b.is_empty() {
        assert!(b.len() >= 4, "truncated option header");
        let code = u16::from_be_bytes([b[0], b[1]]);
        let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
        let data = b[4..4 + len].to_vec();
        let subs = fixed_part(code).map_or_else(Vec::new, |f| parse(&data[f..]));
        out.push(Opt { code, data, subs });
        b = &b[4 + len..];
    }
    out
}

/// A sent message as the partner receives it: (msg-type, xid, sent-time, options).
fn octets(m: &Message) -> (u8, u32, u32, Vec<Opt>) {
    let bytes = encode_message(m).expect("every message the core sends encodes");
    let xid = u32::from_be_bytes([0, bytes[1], bytes[2], bytes[3]]);
    let sent = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    (bytes[0], xid, sent, parse(&bytes[8..]))
}

fn all(opts: &[Opt], code: u16) -> Vec<&Opt> {
    opts.iter().filter(|o| o.code == code).collect()
}

fn one(opts: &[Opt], code: u16) -> &Opt {
    let found = all(opts, code);
    assert_eq!(found.len(), 1, "exactly one option {code} in {opts:?}");
    found[0]
}

fn u32_of(o: &Opt) -> u32 {
    assert_eq!(o.data.len(), 4, "option {} is 4 octets", o.code);
    u32::from_be_bytes([o.data[0], o.data[1], o.data[2], o.data[3]])
}

fn has(opts: &[Opt], code: u16) -> bool {
    opts.iter().any(|o| o.code == code)
}

/// Every option anywhere in the tree.
fn walk<'a>(opts: &'a [Opt], f: &mut impl FnMut(&'a Opt)) {
    for o in opts {
        f(o);
        walk(&o.subs, f);
    }
}

/// The leases (IAADDR / IAPREFIX) of a CLIENT_DATA, with their IA's code.
fn leases(cd: &Opt) -> Vec<(u16, &Opt)> {
    let mut v = Vec::new();
    for ia in cd.subs.iter().filter(|o| matches!(o.code, IA_NA | IA_TA | IA_PD)) {
        for l in ia.subs.iter().filter(|o| matches!(o.code, IAADDR | IAPREFIX)) {
            v.push((ia.code, l));
        }
    }
    v
}

fn status_of(lease: &Opt) -> BindingStatus {
    let b = one(&lease.subs, F_BINDING_STATUS);
    assert_eq!(b.data.len(), 1);
    BindingStatus::from_code(b.data[0]).expect("a defined binding-status")
}

fn sent(pair: &Pair, side: Side) -> Vec<(u8, u32, u32, Vec<Opt>)> {
    pair.node(side).sent.iter().map(octets).collect()
}

/// Messages of one type that a side sent.
fn sent_of(pair: &Pair, side: Side, ty: u8) -> Vec<(u32, u32, Vec<Opt>)> {
    sent(pair, side).into_iter().filter(|m| m.0 == ty).map(|(_, x, t, o)| (x, t, o)).collect()
}

const BNDUPD: u8 = 24;
const BNDREPLY: u8 = 25;
const CONNECT: u8 = 31;
const CONNECTREPLY: u8 = 32;
const STATE: u8 = 34;

/// 2023-11-14T22:13:20Z as RFC 8156 §3 absolute time: far from any duration, so an interval
/// written where an absolute time belongs cannot pass for one.
fn start_time() -> u32 {
    Time::from_unix(1_700_000_000).0
}

fn normal_pair_at(now: u32) -> Pair {
    let mut pair =
        Pair::new(common::test_config(Role::Primary), common::test_config(Role::Secondary), now);
    pair.advance(10);
    assert_eq!((pair.state(Side::P), pair.state(Side::S)), (St::Normal, St::Normal));
    pair
}

/// A SOLICIT then REQUEST for one client with an IA_NA (iaid 1) and an IA_PD (iaid 2).
fn obtain_two_ias(pair: &mut Pair, side: Side, client: &Client) -> Vec<Resource> {
    let ias = |leases: &[Resource]| {
        [(IaKind::Na, 1), (IaKind::Pd, 2)]
            .iter()
            .map(|(kind, iaid)| IaRequest {
                kind: *kind,
                iaid: *iaid,
                leases: leases
                    .iter()
                    .filter(|r| r.is_prefix() == (*kind == IaKind::Pd))
                    .map(|r| RequestedLease {
                        resource: *r,
                        preferred_lifetime: 0,
                        valid_lifetime: 0,
                    })
                    .collect(),
            })
            .collect::<Vec<_>>()
    };
    let mut req = client.req(ClientMsgKind::Solicit, None, false);
    req.ias = ias(&[]);
    let adv = pair.ask(side, req).expect("advertise");
    let offered: Vec<Resource> =
        adv.ias.iter().flat_map(|ia| ia.leases.iter().map(|l| l.resource)).collect();
    assert_eq!(offered.len(), 2, "{adv:?}");
    let mut req = client.req(ClientMsgKind::Request, Some(pair.server_duid(side)), false);
    req.ias = ias(&offered);
    let reply = pair.ask(side, req).expect("reply");
    let granted: Vec<Resource> = reply
        .ias
        .iter()
        .flat_map(|ia| ia.leases.iter().filter(|l| l.valid_lifetime > 0).map(|l| l.resource))
        .collect();
    assert_eq!(granted.len(), 2, "{reply:?}");
    granted
}

/// A full scenario: leases of every kind granted, renewed, released and expired in NORMAL,
/// a partition during which the secondary serves, reintegration, and the prefix hand-off.
/// Returns the pair and the clients.
fn busy_pair() -> (Pair, Vec<Client>) {
    let mut pair = normal_pair_at(start_time());
    let mut clients: Vec<Client> = (1..=3).map(|i| Client::new(i, IaKind::Na)).collect();
    clients.push(Client::new(4, IaKind::Pd));
    for c in &mut clients {
        c.obtain(&mut pair, Side::P).expect("lease from the primary");
    }
    pair.advance(20);
    for c in &mut clients {
        c.renew(&mut pair, Side::P).expect("renewed");
    }
    let both = Client::new(6, IaKind::Na);
    obtain_two_ias(&mut pair, Side::P, &both);
    clients[0].release(&mut pair, Side::P);
    pair.partition();
    pair.advance(11);
    for c in &mut clients[1..3] {
        c.rebind(&mut pair, Side::S).expect("the secondary renews in COMMUNICATIONS-INTERRUPTED");
    }
    pair.heal();
    pair.advance(10);
    assert_eq!((pair.state(Side::P), pair.state(Side::S)), (St::Normal, St::Normal));
    // Client 3 goes silent: its lease expires (and is updated as EXPIRED).
    pair.advance(700);
    (pair, clients)
}

// ---- §7.4: the content of a BNDUPD ----------------------------------------------------------

/// §7.2, §7.4: every BNDUPD that the endpoints send carries exactly one CLIENT_DATA or one
/// stand-alone IAPREFIX; a CLIENT_DATA has CLIENTID, LQ_BASE_TIME and at least one IA, each IA
/// has at least one IAADDR / IAPREFIX, every lease has BINDING_STATUS and START_TIME_OF_STATE;
/// a stand-alone IAPREFIX has LQ_BASE_TIME, BINDING_STATUS, START_TIME_OF_STATE and its prefix
/// with its length; no VSS (this server supports no VPNs, RFC 6607 not supported); and the
/// starred times appear if and only if the status has a timeout (ACTIVE, the only one here).
#[test]
fn bndupd_carries_every_mandatory_option_and_starred_times_only_with_a_timeout() {
    let (pair, _) = busy_pair();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for side in [Side::P, Side::S] {
        for (_, _, opts) in sent_of(&pair, side, BNDUPD) {
            let payloads: Vec<&Opt> =
                opts.iter().filter(|o| matches!(o.code, CLIENT_DATA | IAPREFIX)).collect();
            assert_eq!(payloads.len(), 1, "§7.5.3: one CLIENT_DATA or one IAPREFIX: {opts:?}");
            let p = payloads[0];
            let mut lease_opts: Vec<(BindingStatus, &Opt)> = Vec::new();
            if p.code == CLIENT_DATA {
                *seen.entry("client-data").or_default() += 1;
                let id = one(&p.subs, CLIENTID);
                assert!(id.data.len() >= 3, "a DUID");
                u32_of(one(&p.subs, LQ_BASE_TIME));
                assert!(!has(&p.subs, VSS), "§7.4: no OPTION_VSS for the default VPN");
                assert!(
                    p.subs.iter().any(|o| matches!(o.code, IA_NA | IA_TA | IA_PD)),
                    "§7.4: at least one IA"
                );
                for ia in p.subs.iter().filter(|o| matches!(o.code, IA_NA | IA_TA | IA_PD)) {
                    let want = if ia.code == IA_PD { IAPREFIX } else { IAADDR };
                    assert!(!all(&ia.subs, want).is_empty(), "§7.4: IAADDR / IAPREFIX in {ia:?}");
                }
                for (_, l) in leases(p) {
                    lease_opts.push((status_of(l), l));
                }
            } else {
                *seen.entry("iaprefix").or_default() += 1;
                assert!(p.data[8] <= 128 && p.data[8] > 0, "§7.6: prefix with its length");
                u32_of(one(&p.subs, LQ_BASE_TIME));
                assert!(!has(&p.subs, VSS), "§7.4: no OPTION_VSS for the default VPN");
                lease_opts.push((status_of(p), p));
            }
            for (status, l) in lease_opts {
                *seen.entry(status.name()).or_default() += 1;
                u32_of(one(&l.subs, F_START_TIME_OF_STATE));
                let timeout = status == BindingStatus::Active;
                for c in STARRED {
                    assert_eq!(
                        has(&l.subs, *c),
                        timeout,
                        "§7.4: option {c} present iff {status:?} has a timeout: {l:?}"
                    );
                }
            }
        }
    }
    // The scenario exercised every shape the rule speaks of.
    for k in ["client-data", "iaprefix", "ACTIVE", "RELEASED", "EXPIRED", "FREE-BACKUP"] {
        assert!(seen.get(k).is_some_and(|n| *n > 0), "no {k} update was sent: {seen:?}");
    }
}

/// §7.2 ACTIVE: client identification data MUST appear: an ACTIVE lease is only ever sent
/// inside a CLIENT_DATA whose CLIENTID is the DUID of the client that holds it.
#[test]
fn active_leases_are_sent_with_their_client() {
    let (pair, clients) = busy_pair();
    let holder: BTreeMap<Resource, Vec<u8>> = pair
        .p
        .ep()
        .bindings()
        .chain(pair.s.ep().bindings())
        .filter_map(|b| b.client.as_ref().map(|k| (b.resource, k.duid.0.clone())))
        .collect();
    let mut active = 0;
    for side in [Side::P, Side::S] {
        for (_, _, opts) in sent_of(&pair, side, BNDUPD) {
            if let Some(p) = opts.iter().find(|o| o.code == IAPREFIX) {
                assert_ne!(status_of(p), BindingStatus::Active, "§7.2: ACTIVE without a client");
            }
            for cd in all(&opts, CLIENT_DATA) {
                let id = &one(&cd.subs, CLIENTID).data;
                for (_, l) in leases(cd) {
                    if status_of(l) == BindingStatus::Active {
                        active += 1;
                        let known = clients.iter().any(|c| c.duid.0 == *id);
                        assert!(known || id.ends_with(&[6]), "a client of the scenario");
                        let r = lease_resource(l);
                        assert_eq!(holder.get(&r), Some(id), "{r} is sent with its holder");
                    }
                }
            }
        }
    }
    assert!(active > 5, "{active}");
}

fn lease_resource(l: &Opt) -> Resource {
    let d = &l.data;
    if l.code == IAADDR {
        let a: [u8; 16] = d[..16].try_into().unwrap_or_default();
        Resource::Address(a.into())
    } else {
        let a: [u8; 16] = d[9..25].try_into().unwrap_or_default();
        Resource::Prefix(a.into(), d[8])
    }
}

/// §7.4: all information about one client binding is in a single CLIENT_DATA: a client holding
/// an address (IA_NA) and a prefix (IA_PD) is sent as one CLIENT_DATA with both IAs.
#[test]
fn one_client_data_holds_all_of_a_clients_bindings() {
    let mut pair = normal_pair_at(start_time());
    let client = Client::new(9, IaKind::Na);
    let granted = obtain_two_ias(&mut pair, Side::P, &client);
    let last = sent_of(&pair, Side::P, BNDUPD)
        .into_iter()
        .rev()
        .find(|(_, _, o)| {
            all(o, CLIENT_DATA).iter().any(|cd| one(&cd.subs, CLIENTID).data == client.duid.0)
        })
        .expect("a BNDUPD for the client");
    let cds = all(&last.2, CLIENT_DATA);
    assert_eq!(cds.len(), 1);
    let mut sent: Vec<Resource> = leases(cds[0]).iter().map(|(_, l)| lease_resource(l)).collect();
    sent.sort();
    let mut want = granted.clone();
    want.sort();
    assert_eq!(sent, want, "both IAs in the one CLIENT_DATA");
    let ias: Vec<u16> =
        cds[0].subs.iter().map(|o| o.code).filter(|c| *c == IA_NA || *c == IA_PD).collect();
    assert_eq!(ias.len(), 2, "{ias:?}");
}

// ---- §5.5: absolute times --------------------------------------------------------------------

/// §5.5.4, §5.5.7-§5.5.10, §5.5.17, §5.5.18: every absolute-time option the endpoints send is
/// seconds since 2000-01-01 UTC: within the scenario's window of the clock (never a duration,
/// which would be under a few thousand here), and exact where the value is known: the
/// START_TIME_OF_STATE and STATE_EXPIRATION_TIME of a grant are the grant time and the grant
/// time plus the valid lifetime. CLT_TIME (46, RFC 5007) is the one relative time, and it is
/// small. (The stored 0 means "never" for EXPIRATION_TIME before any ack, §7.3; allowed there.)
#[test]
fn times_on_the_wire_are_absolute() {
    let start = start_time();
    let (pair, _) = busy_pair();
    let end = pair.now.0 + 2 * 600 + 60;
    let mut checked: BTreeMap<u16, usize> = BTreeMap::new();
    for side in [Side::P, Side::S] {
        for (_, _, sent_time, opts) in sent(&pair, side) {
            assert!((start..=end).contains(&sent_time), "§5.2 sent-time is absolute");
            walk(&opts, &mut |o| {
                if ABSOLUTE.contains(&o.code) {
                    let v = u32_of(o);
                    let zero_ok = o.code == F_EXPIRATION_TIME || o.code == F_PARTNER_LIFETIME_SENT;
                    assert!(
                        (start - 86_400..=end).contains(&v) || (zero_ok && v == 0),
                        "option {} = {v} is not an absolute time near t{start}..t{end}",
                        o.code
                    );
                    *checked.entry(o.code).or_default() += 1;
                }
                if o.code == CLT_TIME {
                    assert!(u32_of(o) < 2_000, "CLT_TIME is relative");
                }
            });
        }
    }
    for c in [
        F_EXPIRATION_TIME,
        F_PARTNER_LIFETIME,
        F_PARTNER_LIFETIME_SENT,
        F_PARTNER_RAW_CLT_TIME,
        F_START_TIME_OF_STATE,
        F_STATE_EXPIRATION_TIME,
    ] {
        assert!(checked.get(&c).is_some_and(|n| *n > 0), "option {c} never sent: {checked:?}");
    }
    // Exact values for a grant.
    let mut pair = normal_pair_at(start);
    let mut c = Client::new(1, IaKind::Na);
    pair.advance(5);
    let granted_at = pair.now.0;
    let (r, valid) = c.obtain(&mut pair, Side::P).expect("lease");
    let (_, _, opts) = sent_of(&pair, Side::P, BNDUPD)
        .into_iter()
        .rev()
        .find(|(_, _, o)| all(o, CLIENT_DATA).iter().any(|cd| !leases(cd).is_empty()))
        .expect("the grant's BNDUPD");
    let cd = one(&opts, CLIENT_DATA);
    let (_, l) = leases(cd).into_iter().find(|(_, l)| lease_resource(l) == r).expect("lease");
    assert_eq!(u32_of(one(&cd.subs, LQ_BASE_TIME)), granted_at);
    assert_eq!(u32_of(one(&l.subs, F_START_TIME_OF_STATE)), granted_at);
    assert_eq!(u32_of(one(&l.subs, F_STATE_EXPIRATION_TIME)), granted_at + valid);
    assert!(u32_of(one(&l.subs, F_PARTNER_LIFETIME)) >= granted_at + valid);
}

/// §5.5.9, §5.5.17, §6.3: the STATE of a server in PARTNER-DOWN carries PARTNER_DOWN_TIME and
/// START_TIME_OF_STATE as the absolute time it entered PARTNER-DOWN.
#[test]
fn partner_down_time_and_start_of_state_are_absolute() {
    let mut pair = normal_pair_at(start_time());
    pair.crash(Side::P, false, false);
    pair.advance(11);
    pair.advance(7);
    let entered = pair.now.0;
    pair.command(Side::S, Command::PartnerDown);
    assert_eq!(pair.state(Side::S), St::PartnerDown);
    pair.advance(30);
    pair.start(Side::P);
    pair.advance(3);
    let pd_states: Vec<Vec<Opt>> = sent_of(&pair, Side::S, STATE)
        .into_iter()
        .map(|(_, _, o)| o)
        .filter(|o| one(o, F_SERVER_STATE).data == [4])
        .collect();
    assert!(!pd_states.is_empty(), "the secondary told the primary it is in PARTNER-DOWN");
    for o in &pd_states {
        assert_eq!(u32_of(one(o, F_PARTNER_DOWN_TIME)), entered);
        assert_eq!(u32_of(one(o, F_START_TIME_OF_STATE)), entered);
    }
}

/// §5.5.8, §7.6: PARTNER_LIFETIME_SENT in a BNDREPLY is the PARTNER_LIFETIME of the BNDUPD it
/// answers, octet for octet, for every lease of every reply in the scenario, and also for a
/// partner lifetime far from anything this server would compute.
#[test]
fn partner_lifetime_sent_echoes_the_partner_lifetime_exactly() {
    let (pair, _) = busy_pair();
    let mut echoed = 0;
    for (from, to) in [(Side::P, Side::S), (Side::S, Side::P)] {
        // xids are unique among outstanding messages; the last update with that xid before
        // the reply is the one answered (the walk is in send order on each side).
        let updates: BTreeMap<u32, Vec<Opt>> =
            sent_of(&pair, from, BNDUPD).into_iter().map(|(x, _, o)| (x, o)).collect();
        for (xid, _, reply) in sent_of(&pair, to, BNDREPLY) {
            let Some(update) = updates.get(&xid) else { continue };
            let pl: BTreeMap<Resource, Vec<u8>> = lease_opts_of(update)
                .into_iter()
                .filter_map(|(r, l)| {
                    all(&l.subs, F_PARTNER_LIFETIME).first().map(|o| (r, o.data.clone()))
                })
                .collect();
            for (r, l) in lease_opts_of(&reply) {
                match pl.get(&r) {
                    Some(sent) => {
                        assert_eq!(&one(&l.subs, F_PARTNER_LIFETIME_SENT).data, sent, "{r}");
                        echoed += 1;
                    }
                    None => assert!(!has(&l.subs, F_PARTNER_LIFETIME_SENT)),
                }
            }
        }
    }
    assert!(echoed >= 5, "{echoed}");

    // A crafted update with an odd partner lifetime.
    let mut pair = normal_pair_at(start_time());
    let odd = Time(pair.now.0 + 12_345);
    let r = Resource::Address("2001:db8:1::101".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST));
    let update = client_update(&pair, r, Some(odd));
    let reply = inject_bndupd(&mut pair, Side::S, update);
    let opts = reply.expect("a BNDREPLY");
    let (_, l) = lease_opts_of(&opts).into_iter().find(|(x, _)| *x == r).expect("the lease");
    assert_eq!(u32_of(one(&l.subs, F_PARTNER_LIFETIME_SENT)), odd.0);
    assert!(!has(&l.subs, STATUS_CODE), "accepted: {l:?}");
}

/// The leases of a BNDUPD / BNDREPLY by resource.
fn lease_opts_of(opts: &[Opt]) -> Vec<(Resource, Opt)> {
    let mut v = Vec::new();
    for o in opts {
        match o.code {
            CLIENT_DATA => {
                for (_, l) in leases(o) {
                    v.push((lease_resource(l), l.clone()));
                }
            }
            IAPREFIX => v.push((lease_resource(o), o.clone())),
            _ => {}
        }
    }
    v
}

/// An ACTIVE lease of `r` for a fresh client, as the primary would send it now.
fn client_update(pair: &Pair, r: Resource, partner_lifetime: Option<Time>) -> BindingMessage {
    let now = pair.now;
    let kind = if r.is_prefix() { IaKind::Pd } else { IaKind::Na };
    BindingMessage {
        payload: Some(BindingPayload::Client(ClientData {
            client_id: failover_model::Duid::new(vec![0, 3, 0, 1, 0xbb, 0x77]),
            lq_base_time: Some(now),
            vss: None,
            reconfigure: None,
            relay_data: None,
            ias: vec![IaData {
                kind,
                iaid: 77,
                t1: 30,
                t2: 48,
                leases: vec![LeaseData {
                    resource: r,
                    preferred_lifetime: 60,
                    valid_lifetime: 60,
                    options: LeaseOptions {
                        binding_status: Some(BindingStatus::Active),
                        start_time_of_state: Some(now),
                        state_expiration_time: Some(now.plus(60)),
                        partner_lifetime,
                        expiration_time: Some(Time::ZERO),
                        clt_time: Some(0),
                        ..LeaseOptions::default()
                    },
                }],
                status: None,
                unknown: vec![],
            }],
            status: None,
            unknown: vec![],
        })),
        status: None,
        unknown: vec![],
    }
}

/// Delivers a BNDUPD (through the codec) to `side` and returns its BNDREPLY's options.
fn inject_bndupd(pair: &mut Pair, side: Side, b: BindingMessage) -> Option<Vec<Opt>> {
    let m = Message { xid: 0x00ab_cdef, sent_time: pair.now, body: MessageBody::BndUpd(b) };
    inject_bytes(pair, side, &encode_message(&m).expect("encodes"))
}

/// Decodes `bytes` as the receiving endpoint's driver would and returns the BNDREPLY's options.
fn inject_bytes(pair: &mut Pair, side: Side, bytes: &[u8]) -> Option<Vec<Opt>> {
    let m = decode_message(bytes).expect("decodes");
    let xid = m.xid;
    let before = pair.node(side).sent.len();
    pair.input(side, Input::Partner(m));
    let reply = pair.node(side).sent[before..]
        .iter()
        .find(|m| matches!(m.body, MessageBody::BndReply(_)) && m.xid == xid)
        .map(octets)
        .map(|(_, _, _, o)| o);
    pair.drive();
    reply
}

// ---- §7.5.3, §7.6: receiving a BNDUPD, the BNDREPLY's content --------------------------------

/// §7.6: every BNDREPLY carries a CLIENT_DATA when the BNDUPD did (with the client's
/// CLIENTID and the same leases) and a stand-alone IAPREFIX (with the prefix and its length)
/// when the BNDUPD did.
#[test]
fn bndreply_mirrors_the_bndupd_payload() {
    let (pair, _) = busy_pair();
    let mut kinds: BTreeMap<u16, usize> = BTreeMap::new();
    for (from, to) in [(Side::P, Side::S), (Side::S, Side::P)] {
        let updates: BTreeMap<u32, Vec<Opt>> =
            sent_of(&pair, from, BNDUPD).into_iter().map(|(x, _, o)| (x, o)).collect();
        for (xid, _, reply) in sent_of(&pair, to, BNDREPLY) {
            let update = updates.get(&xid).expect("a reply answers an update");
            let up = update.iter().find(|o| matches!(o.code, CLIENT_DATA | IAPREFIX)).unwrap();
            let payloads: Vec<&Opt> =
                reply.iter().filter(|o| matches!(o.code, CLIENT_DATA | IAPREFIX)).collect();
            assert_eq!(payloads.len(), 1, "§7.5.3: a single CLIENT_DATA or IAPREFIX");
            let back = payloads[0];
            assert_eq!(back.code, up.code, "§7.6: the same kind of payload");
            *kinds.entry(back.code).or_default() += 1;
            if back.code == CLIENT_DATA {
                assert_eq!(one(&back.subs, CLIENTID).data, one(&up.subs, CLIENTID).data);
            } else {
                // prefix-length (octet 8) and prefix (9..25) of RFC 8415 §21.22.
                assert_eq!(back.data[8..25], up.data[8..25], "§7.6: the prefix with its length");
            }
            let mut a: Vec<Resource> = lease_opts_of(&reply).into_iter().map(|x| x.0).collect();
            let mut b: Vec<Resource> = lease_opts_of(update).into_iter().map(|x| x.0).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b, "§7.6: the reply names the leases of the update");
        }
    }
    assert!(
        kinds.get(&CLIENT_DATA).is_some_and(|n| *n > 0)
            && kinds.get(&IAPREFIX).is_some_and(|n| *n > 0),
        "{kinds:?}"
    );
}

/// §7.5.3: a BNDUPD MUST contain a single CLIENT_DATA or a single IAPREFIX. One with neither,
/// with two CLIENT_DATA, or with a CLIENT_DATA and an IAPREFIX (octets written by hand) is
/// rejected as a whole with MissingBindingInformation, and none of its leases is stored.
#[test]
fn bndupd_without_or_with_two_payloads_is_rejected() {
    let mut pair = normal_pair_at(start_time());
    let a = Resource::Address("2001:db8:1::101".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST));
    let b = Resource::Address("2001:db8:1::103".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST));
    let payload = |pair: &Pair, r: Resource| {
        let m = Message {
            xid: 1,
            sent_time: pair.now,
            body: MessageBody::BndUpd(client_update(pair, r, Some(pair.now.plus(60)))),
        };
        let bytes = encode_message(&m).expect("encodes");
        bytes[8..].to_vec() // the one CLIENT_DATA option
    };
    let prefix = {
        let p = PrefixData {
            lease: LeaseData {
                resource: Resource::Prefix(
                    "2001:db8:100:f000::".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST),
                    52,
                ),
                preferred_lifetime: 0,
                valid_lifetime: 0,
                options: LeaseOptions {
                    binding_status: Some(BindingStatus::FreeBackup),
                    start_time_of_state: Some(pair.now),
                    ..LeaseOptions::default()
                },
            },
            lq_base_time: Some(pair.now),
            vss: None,
        };
        let m = Message {
            xid: 1,
            sent_time: pair.now,
            body: MessageBody::BndUpd(BindingMessage {
                payload: Some(BindingPayload::Prefix(p)),
                status: None,
                unknown: vec![],
            }),
        };
        encode_message(&m).expect("encodes")[8..].to_vec()
    };
    let header = |pair: &Pair, xid: u8| {
        let mut h = vec![BNDUPD, 0, 0x10, xid];
        h.extend_from_slice(&pair.now.0.to_be_bytes());
        h
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no payload", header(&pair, 1)),
        ("two CLIENT_DATA", [header(&pair, 2), payload(&pair, a), payload(&pair, b)].concat()),
        (
            "CLIENT_DATA and IAPREFIX",
            [header(&pair, 3), payload(&pair, b), prefix.clone()].concat(),
        ),
    ];
    for (what, bytes) in cases {
        let reply = inject_bytes(&mut pair, Side::S, &bytes).expect("a BNDREPLY");
        let st = one(&reply, STATUS_CODE);
        assert_eq!(
            u16::from_be_bytes([st.data[0], st.data[1]]),
            StatusCode::MISSING_BINDING_INFORMATION.0,
            "{what}: {reply:?}"
        );
        for r in [a, b] {
            assert!(
                pair.s.ep().binding(&r).is_none_or(|x| x.status != BindingStatus::Active),
                "{what}: {r} was stored"
            );
        }
    }
    // The control: the same CLIENT_DATA alone is accepted.
    let alone = [header(&pair, 4), payload(&pair, a)].concat();
    let reply = inject_bytes(&mut pair, Side::S, &alone).expect("a BNDREPLY");
    assert!(!has(&reply, STATUS_CODE), "{reply:?}");
    assert_eq!(pair.s.ep().binding(&a).map(|x| x.status), Some(BindingStatus::Active));
}

// ---- §6.1.1, §6.1.2, §6.3, §6.6: CONNECT, CONNECTREPLY, STATE ------------------------------

/// §6.1.1, §6.6, §5.5.14: the primary's CONNECT carries PROTOCOL_VERSION, MCLT, KEEPALIVE_TIME,
/// MAX_UNACKED_BNDUPD, RELATIONSHIP_NAME (UTF-8, not NUL-terminated) and CONNECT_FLAGS; the
/// secondary's accepting CONNECTREPLY carries PROTOCOL_VERSION, the same MCLT, KEEPALIVE_TIME,
/// MAX_UNACKED_BNDUPD and CONNECT_FLAGS.
#[test]
fn connect_and_connectreply_carry_their_options() {
    let mut p = common::test_config(Role::Primary);
    let mut s = common::test_config(Role::Secondary);
    p.relationship = "dhcp-east/1".into();
    s.relationship = p.relationship.clone();
    p.keepalive_time = 12;
    s.keepalive_time = 14;
    let mut pair = Pair::new(p, s, start_time());
    pair.advance(10);
    assert_eq!(pair.state(Side::P), St::Normal);
    let connects = sent_of(&pair, Side::P, CONNECT);
    assert!(!connects.is_empty());
    for (_, _, o) in &connects {
        assert_eq!(u32_of(one(o, F_PROTOCOL_VERSION)), 0x0001_0000, "§6.1.1: version 1.0");
        assert_eq!(u32_of(one(o, F_MCLT)), 60);
        assert_eq!(u32_of(one(o, F_KEEPALIVE_TIME)), 12, "§6.6: our FO_KEEPALIVE_TIME");
        assert!(u32_of(one(o, F_MAX_UNACKED_BNDUPD)) > 0);
        assert_eq!(one(o, F_RELATIONSHIP_NAME).data, b"dhcp-east/1", "§5.5.14: no NUL");
        assert_eq!(one(o, F_CONNECT_FLAGS).data.len(), 2);
    }
    let replies = sent_of(&pair, Side::S, CONNECTREPLY);
    assert!(!replies.is_empty());
    for (_, _, o) in &replies {
        assert!(!has(o, STATUS_CODE), "accepting");
        assert_eq!(u32_of(one(o, F_PROTOCOL_VERSION)), 0x0001_0000);
        assert_eq!(u32_of(one(o, F_MCLT)), 60, "§6.1.2: equal to the CONNECT's");
        assert_eq!(u32_of(one(o, F_KEEPALIVE_TIME)), 14, "§6.6: its FO_KEEPALIVE_TIME");
        assert!(u32_of(one(o, F_MAX_UNACKED_BNDUPD)) > 0);
        assert_eq!(one(o, F_CONNECT_FLAGS).data.len(), 2);
    }
}

/// §6.6 says FO_KEEPALIVE_TIME MUST be sent "on every CONNECT or CONNECTREPLY message"; the
/// CONNECTREPLY that rejects a CONNECT (§6.1.2, here for a relationship-name mismatch) carries
/// only the OPTION_STATUS_CODE.
#[test]
fn rejecting_connectreply_carries_keepalive_time() {
    let mut s = common::test_config(Role::Secondary);
    s.relationship = "another".into();
    let mut pair = Pair::new(common::test_config(Role::Primary), s, start_time());
    pair.advance(3);
    let replies = sent_of(&pair, Side::S, CONNECTREPLY);
    assert!(replies.iter().all(|(_, _, o)| has(o, STATUS_CODE)), "rejections");
    assert!(!replies.is_empty());
    for (_, _, o) in &replies {
        assert!(has(o, F_KEEPALIVE_TIME), "§6.6: {o:?}");
    }
}

/// §6.3: every STATE carries SERVER_STATE (in STARTUP the previously recorded state, never
/// STARTUP itself), SERVER_FLAGS and START_TIME_OF_STATE, and PARTNER_DOWN_TIME exactly when
/// the state is PARTNER-DOWN.
#[test]
fn state_messages_carry_server_state_flags_and_start_time() {
    let (mut pair, _) = busy_pair();
    // Add PARTNER-DOWN and a restart in STARTUP to the history.
    pair.crash(Side::P, false, false);
    pair.advance(11);
    pair.command(Side::S, Command::PartnerDown);
    pair.advance(5);
    pair.start(Side::P);
    pair.advance(80);
    let mut states: BTreeMap<u8, usize> = BTreeMap::new();
    for side in [Side::P, Side::S] {
        for (_, _, o) in sent_of(&pair, side, STATE) {
            let st = one(&o, F_SERVER_STATE);
            assert_eq!(st.data.len(), 1);
            let state = St::from_code(st.data[0]).expect("a defined state");
            assert_ne!(state, St::Startup, "§6.3: STARTUP is never sent");
            *states.entry(st.data[0]).or_default() += 1;
            assert_eq!(one(&o, F_SERVER_FLAGS).data.len(), 1);
            u32_of(one(&o, F_START_TIME_OF_STATE));
            assert_eq!(has(&o, F_PARTNER_DOWN_TIME), state == St::PartnerDown, "{o:?}");
        }
    }
    assert!(states.len() >= 3, "several states were announced: {states:?}");
}

// ---- §10: no RFC 3315 authentication on the partner link -------------------------------------

/// §10: RFC 3315 authentication MUST NOT be used to secure failover messages: no message the
/// endpoints send carries OPTION_AUTH (11) anywhere in its option tree.
#[test]
fn no_rfc3315_authentication_option_is_ever_sent() {
    let (pair, _) = busy_pair();
    let mut n = 0;
    for side in [Side::P, Side::S] {
        for (_, _, _, opts) in sent(&pair, side) {
            walk(&opts, &mut |o| assert_ne!(o.code, AUTH, "OPTION_AUTH on the partner link"));
            n += 1;
        }
    }
    assert!(n > 50, "{n}");
}

// ---- §7.4: CLT_TIME ------------------------------------------------------------------------

/// §7.4: OPTION_CLT_TIME is the time the server last interacted with the client (sent
/// relative to LQ_BASE_TIME, RFC 5007 §4.1.2.2): after a renewal it names the renewal, and
/// when the lease later expires without further contact the EXPIRED update still names the
/// renewal, not the expiry.
#[test]
fn clt_time_is_the_last_interaction_with_the_client() {
    let mut pair = normal_pair_at(start_time());
    let mut c = Client::new(1, IaKind::Na);
    let (r, _) = c.obtain(&mut pair, Side::P).expect("lease");
    pair.advance(25);
    let renewed_at = pair.now.0;
    let (_, valid) = c.renew(&mut pair, Side::P).expect("renewed");
    pair.advance(valid + 30);
    assert_eq!(pair.p.ep().binding(&r).map(|b| b.status), Some(BindingStatus::Free));
    let mut by_status: BTreeMap<BindingStatus, u32> = BTreeMap::new();
    for (_, _, o) in sent_of(&pair, Side::P, BNDUPD) {
        for cd in all(&o, CLIENT_DATA) {
            let base = u32_of(one(&cd.subs, LQ_BASE_TIME));
            for (_, l) in leases(cd) {
                if lease_resource(l) != r {
                    continue;
                }
                if let Some(clt) = all(&l.subs, CLT_TIME).first() {
                    by_status.insert(status_of(l), base - u32_of(clt));
                }
            }
        }
    }
    assert_eq!(by_status.get(&BindingStatus::Active), Some(&renewed_at), "{by_status:?}");
    assert_eq!(
        by_status.get(&BindingStatus::Expired),
        Some(&renewed_at),
        "the EXPIRED update names the last interaction, not the expiry: {by_status:?}"
    );
}

/// §5.5.13: the reconfigure-time of F_RECONFIGURE_DATA is carried as the absolute time it was
/// given (the core keeps no reconfigure keys, so only the codec handles it): a value far from
/// any duration goes through encode and decode unchanged, in the first 4 octets.
#[test]
fn reconfigure_time_is_carried_as_absolute_time() {
    let t = Time(start_time() + 17);
    let mut b = client_update(
        &normal_pair_at(start_time()),
        Resource::Address(std::net::Ipv6Addr::LOCALHOST),
        None,
    );
    if let Some(BindingPayload::Client(cd)) = &mut b.payload {
        cd.reconfigure = Some(failover_model::failover::message::ReconfigureData {
            reconfigure_time: t,
            key: vec![1, 2, 3, 4],
        });
    }
    let m = Message { xid: 9, sent_time: t, body: MessageBody::BndUpd(b) };
    let (_, _, _, o) = octets(&m);
    let rc = one(&one(&o, CLIENT_DATA).subs, 129);
    assert_eq!(rc.data[..4], t.0.to_be_bytes());
    assert_eq!(rc.data[4..], [1, 2, 3, 4]);
    assert_eq!(decode_message(&encode_message(&m).unwrap_or_default()), Ok(m));
}
