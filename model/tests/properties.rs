//! Property tests: no input sequence makes an endpoint panic or break its own invariants, and
//! random environments (crashes, partitions, partner-down under assumption A1, clients) never
//! give one resource to two clients.

mod common;

use common::*;
use failover_model::dhcp::client::{ClientMsgKind, ClientRequest, IaRequest, RequestedLease};
use failover_model::failover::message::{
    BindingMessage, BindingPayload, ClientData, ConnectOptions, DisconnectOptions, IaData,
    LeaseData, LeaseOptions, Message, MessageBody, NoOptions, PrefixData, ServerFlags,
    StateOptions, Status, StatusCode,
};
use failover_model::failover::state::{mclt_applies, ALL_STATES};
use failover_model::io::Command;
use failover_model::leases::binding::BindingStatus;
use failover_model::{
    Duid, Endpoint, EndpointState, IaKind, Input, Output, Resource, Role, Time, Timer,
};
use proptest::prelude::*;
use std::net::Ipv6Addr;

fn resource(i: u8) -> Resource {
    match i % 8 {
        6 => Resource::Address(Ipv6Addr::new(
            0x2001,
            0xdb8,
            1,
            0,
            0,
            0,
            0,
            0x101 + 2 * u16::from(i % 3),
        )),
        7 => Resource::Prefix(
            Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0x8000 + (u16::from(i % 4) << 12), 0, 0, 0, 0),
            52,
        ),
        0 => {
            Resource::Address(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100 + u16::from(i % 4)))
        }
        1 => Resource::Address(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10a)),
        2 => Resource::Prefix(
            Ipv6Addr::new(0x2001, 0xdb8, 0x100, u16::from(i % 3) << 12, 0, 0, 0, 0),
            52,
        ),
        3 => Resource::Address(Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 1)),
        4 => Resource::Prefix(Ipv6Addr::UNSPECIFIED, 52),
        _ => Resource::Address(Ipv6Addr::UNSPECIFIED),
    }
}

fn status(i: u8) -> BindingStatus {
    BindingStatus::from_code(i % 9).unwrap_or(BindingStatus::Active)
}

fn kind(i: u8) -> IaKind {
    [IaKind::Na, IaKind::Pd, IaKind::Ta][usize::from(i % 3)]
}

fn duid(i: u8) -> Duid {
    Duid::new(vec![0, 3, 0, 1, i])
}

prop_compose! {
    fn lease_options()(st in any::<u8>(), t in prop::array::uniform6(any::<u16>()), raw in any::<u8>(), wellformed in prop::bool::weighted(0.8)) -> LeaseOptions {
        // Mostly well-formed (status and start time present, no status code), so that
        // updates get accepted and the interesting paths run.
        let mask = if wellformed { (raw | 0b11) & 0b0111_1111 } else { raw };
        let time = |k: usize| Time(100_000 + u32::from(t[k]) % 2000);
        LeaseOptions {
            binding_status: (mask & 1 != 0).then(|| status(st)),
            start_time_of_state: (mask & 2 != 0).then(|| time(0)),
            state_expiration_time: (mask & 4 != 0).then(|| time(1)),
            partner_lifetime: (mask & 8 != 0).then(|| time(2)),
            expiration_time: (mask & 16 != 0).then(|| time(3)),
            partner_lifetime_sent: (mask & 32 != 0).then(|| time(4)),
            clt_time: (mask & 64 != 0).then_some(u32::from(t[5] % 600)),
            status: (mask & 128 != 0).then(|| Status::new(StatusCode(u16::from(st % 23)), "x")),
            ..LeaseOptions::default()
        }
    }
}

prop_compose! {
    fn lease_data()(r in any::<u8>(), pl in 0u32..700, vl in 0u32..700, options in lease_options()) -> LeaseData {
        LeaseData { resource: resource(r), preferred_lifetime: pl, valid_lifetime: vl, options }
    }
}

prop_compose! {
    fn binding_message()(c in any::<u8>(), k in any::<u8>(), leases in prop::collection::vec(lease_data(), 0..3),
                         base in prop_oneof![9 => (0u32..3000).prop_map(Some), 1 => Just(None)], prefix in any::<bool>(), top in any::<bool>()) -> BindingMessage {
        let payload = if prefix {
            leases.first().map(|l| BindingPayload::Prefix(PrefixData { lease: l.clone(), lq_base_time: base.map(|b| Time(99_000 + b)), vss: None }))
        } else {
            Some(BindingPayload::Client(ClientData {
                client_id: duid(c % 4),
                lq_base_time: base.map(|b| Time(99_000 + b)),
                vss: None,
                reconfigure: None,
                relay_data: None,
                ias: vec![IaData { kind: kind(k), iaid: u32::from(k % 2), t1: 10, t2: 20, leases, status: None, unknown: vec![] }],
                status: None,
                unknown: vec![],
            }))
        };
        BindingMessage { payload, status: top.then(|| Status::new(StatusCode(19), "no")), unknown: vec![] }
    }
}

fn message_body() -> impl Strategy<Value = MessageBody> {
    prop_oneof![
        binding_message().prop_map(MessageBody::BndUpd),
        binding_message().prop_map(MessageBody::BndReply),
        Just(MessageBody::PoolReq(NoOptions::default())),
        Just(MessageBody::PoolResp(NoOptions::default())),
        Just(MessageBody::UpdReq(NoOptions::default())),
        Just(MessageBody::UpdReqAll(NoOptions::default())),
        Just(MessageBody::UpdDone(NoOptions::default())),
        Just(MessageBody::Contact(NoOptions::default())),
        Just(MessageBody::Disconnect(DisconnectOptions::default())),
        (any::<u8>(), prop::option::of(0u32..4000), any::<bool>()).prop_map(|(v, m, f)| {
            MessageBody::Connect(ConnectOptions {
                protocol_version: Some((u16::from(v % 3), 0)),
                mclt: m,
                keepalive_time: Some(u32::from(v)),
                max_unacked_bndupd: Some(u32::from(v % 5)),
                connect_flags: Some(u16::from(f)),
                ..ConnectOptions::default()
            })
        }),
        (any::<u8>(), prop::option::of(0u32..4000)).prop_map(|(v, m)| MessageBody::ConnectReply(
            ConnectOptions {
                protocol_version: Some((u16::from(v % 3), 0)),
                mclt: m,
                keepalive_time: Some(u32::from(v)),
                max_unacked_bndupd: Some(u32::from(v % 5)),
                connect_flags: Some(1),
                status: (v > 200).then(|| Status::new(StatusCode(22), "skew")),
                ..ConnectOptions::default()
            }
        )),
        (0usize..10, any::<u8>(), 0u32..3000).prop_map(|(s, f, t)| MessageBody::State(
            StateOptions {
                server_state: Some(ALL_STATES[s]),
                flags: ServerFlags::from_byte(f & 7),
                start_time_of_state: Some(Time(98_000 + t)),
                partner_down_time: (ALL_STATES[s] == EndpointState::PartnerDown)
                    .then_some(Time(98_000 + t)),
                unknown: vec![],
            }
        )),
    ]
}

fn client_request() -> impl Strategy<Value = ClientRequest> {
    (
        0u8..8,
        prop::option::of(0u8..4),
        0u8..3,
        prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..3)), 0..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(k, c, srv, ias, rc, uni)| ClientRequest {
            tag: 0,
            kind: [
                ClientMsgKind::Solicit,
                ClientMsgKind::Request,
                ClientMsgKind::Confirm,
                ClientMsgKind::Renew,
                ClientMsgKind::Rebind,
                ClientMsgKind::Release,
                ClientMsgKind::Decline,
                ClientMsgKind::InformationRequest,
            ][usize::from(k)],
            client_id: c.map(duid),
            server_id: match srv {
                0 => None,
                1 => Some(Duid::new(vec![0, 2, 0, 0, 0x09, 0xbf, 1])),
                _ => Some(Duid::new(vec![0, 2, 0, 0, 0x09, 0xbf, 2])),
            },
            rapid_commit: rc,
            ias: ias
                .into_iter()
                .map(|(k, rs)| IaRequest {
                    kind: kind(k),
                    iaid: u32::from(k % 2),
                    leases: rs
                        .into_iter()
                        .map(|r| RequestedLease {
                            resource: resource(r),
                            preferred_lifetime: 0,
                            valid_lifetime: 0,
                        })
                        .collect(),
                })
                .collect(),
            link_address: None,
            unicast: uni && k % 5 == 0,
            oro: Vec::new(),
        })
}

fn input() -> impl Strategy<Value = (u32, Input)> {
    let timers = [
        Timer::Startup,
        Timer::Keepalive,
        Timer::Contact,
        Timer::RecoverWait,
        Timer::AutoPartnerDown,
        Timer::Reconnect,
        Timer::Expiry,
        Timer::UpdateScan,
        Timer::Heartbeat,
        Timer::RecoverStall,
    ];
    let inp = prop_oneof![
        3 => client_request().prop_map(Input::Client),
        4 => (message_body(), 0u32..0x100_0000, prop_oneof![9 => 0u8..4, 1 => 0u8..12]).prop_map(|(body, xid, skew)| {
            // sent_time is filled in relative to `now` by the runner (skew 0..11 s).
            Input::Partner(Message { xid, sent_time: Time(u32::from(skew)), body })
        }),
        1 => Just(Input::ConnectionUp),
        1 => Just(Input::ConnectionDown),
        1 => Just(Input::PartnerMalformed { reason: "garbage".into() }),
        2 => (0usize..10).prop_map(move |i| Input::Timer(timers[i])),
        1 => prop_oneof![Just(Command::PartnerDown), Just(Command::Shutdown), any::<u8>().prop_map(|r| Command::ResetAbandoned(resource(r)))].prop_map(Input::Command),
    ];
    (0u32..40, inp)
}

/// An endpoint to fuzz: fresh (0), in NORMAL with leases (1), in COMMUNICATIONS-INTERRUPTED
/// (2) or in PARTNER-DOWN (3), reached through the harness.
fn prelude(role: Role, kind: u8) -> (Endpoint, Time) {
    if kind == 0 {
        let mut cfg = test_config(role);
        cfg.auto_partner_down = Some(30);
        let now = Time(100_000);
        return (Endpoint::new(cfg, now).0, now);
    }
    let mut pair = Pair::default_pair();
    pair.advance(10);
    let mut a = Client::new(1, IaKind::Na);
    let mut b = Client::new(2, IaKind::Pd);
    a.obtain(&mut pair, Side::P);
    b.obtain(&mut pair, Side::P);
    if kind >= 2 {
        pair.partition();
        pair.advance(11);
        let mut c = Client::new(3, IaKind::Na);
        c.obtain(&mut pair, Side::S);
    }
    if kind == 3 {
        let s = if role == Role::Primary { Side::P } else { Side::S };
        pair.command(s, Command::PartnerDown);
    }
    let side = if role == Role::Primary { Side::P } else { Side::S };
    (pair.node(side).ep().clone(), pair.now)
}

fn run_endpoint(role: Role, start: u8, steps: Vec<(u32, Input)>) -> Result<(), TestCaseError> {
    let (mut ep, mut now) = prelude(role, start);
    for (i, (dt, mut input)) in steps.into_iter().enumerate() {
        now = now.plus(dt);
        if let Input::Partner(m) = &mut input {
            m.sent_time = now.minus(m.sent_time.0);
        }
        if let Input::Client(r) = &mut input {
            r.tag = i as u64 + 1;
        }
        let before = ep.clone();
        let out = ep.handle(now, input.clone());
        if let Err(e) = ep.check_invariants() {
            return Err(TestCaseError::fail(format!("step {i} {input:?}: {e}")));
        }
        // S5: a BNDREPLY never precedes a durable write of the same step.
        if let Some(ack) = out
            .iter()
            .position(|o| matches!(o, Output::Send(Message { body: MessageBody::BndReply(_), .. })))
        {
            prop_assert!(
                !out[ack..].iter().any(|o| matches!(o, Output::Persist(_))),
                "BNDREPLY before its update was persisted"
            );
        }
        for o in &out {
            match o {
                Output::Reply(r) => {
                    let Input::Client(req) = &input else {
                        return Err(TestCaseError::fail("reply without a request"));
                    };
                    prop_assert_eq!(r.tag, req.tag);
                    // S13: unresponsive states stay silent.
                    prop_assert!(
                        failover_model::failover::state::responsiveness(before.state(), role)
                            != failover_model::Responsiveness::Unresponsive
                    );
                    // S2: the MCLT bound at grant outside PARTNER-DOWN.
                    if mclt_applies(before.state()) {
                        for l in r.ias.iter().flat_map(|ia| &ia.leases) {
                            let acked = before
                                .binding(&l.resource)
                                .map_or(Time::ZERO, |b| b.acked_partner_lifetime);
                            prop_assert!(
                                now.plus(l.valid_lifetime) <= acked.max(now).plus(before.mclt()),
                                "MCLT bound broken for {}",
                                l.resource
                            );
                        }
                    }
                }
                Output::Silence { tag, .. } => {
                    let Input::Client(req) = &input else {
                        return Err(TestCaseError::fail("silence without a request"));
                    };
                    prop_assert_eq!(*tag, req.tag);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn primary_never_panics_or_breaks_invariants(start in 0u8..4, steps in prop::collection::vec(input(), 1..60)) {
        run_endpoint(Role::Primary, start, steps)?;
    }

    #[test]
    fn secondary_never_panics_or_breaks_invariants(start in 0u8..4, steps in prop::collection::vec(input(), 1..60)) {
        run_endpoint(Role::Secondary, start, steps)?;
    }
}

/// Environment actions for the pair.
#[derive(Clone, Copy, Debug)]
enum Env {
    Obtain(u8, bool),
    Renew(u8),
    Rebind(u8, bool),
    Release(u8),
    Advance(u32),
    Crash(bool, bool, bool),
    Restart(bool),
    Partition,
    Heal,
    PartnerDown(bool),
}

fn env() -> impl Strategy<Value = Env> {
    prop_oneof![
        4 => (0u8..6, any::<bool>()).prop_map(|(c, s)| Env::Obtain(c, s)),
        3 => (0u8..6).prop_map(Env::Renew),
        2 => (0u8..6, any::<bool>()).prop_map(|(c, s)| Env::Rebind(c, s)),
        1 => (0u8..6).prop_map(Env::Release),
        4 => (1u32..45).prop_map(Env::Advance),
        1 => (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(s, l, v)| Env::Crash(s, l, v)),
        2 => any::<bool>().prop_map(Env::Restart),
        1 => Just(Env::Partition),
        1 => Just(Env::Heal),
        1 => any::<bool>().prop_map(Env::PartnerDown),
    ]
}

/// The number of cases: `default` in CI, or `PROPTEST_CASES` for a longer search.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn side(b: bool) -> Side {
    if b {
        Side::S
    } else {
        Side::P
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(192), ..ProptestConfig::default() })]

    /// S1 under assumption A1: the operator declares PARTNER-DOWN only when the partner is
    /// really down (crashed), and a server whose partner is in PARTNER-DOWN restarts only
    /// when it can reach it (digest §10.1 A1, §11.3 item 16). And under A2: storage is lost by
    /// one server at a time; a second loss before the first server has recovered (reached
    /// RECOVER-DONE) would erase every record of a lease, which no protocol can survive.
    #[test]
    fn no_duplicate_allocation_under_a1(actions in prop::collection::vec(env(), 1..80)) {
        run_env(&actions, false)?;
    }
}

/// The environment of `no_duplicate_allocation_under_a1`: plays `actions` on a fresh pair and
/// checks S1 after every action and L9 on every renewal. `trace` prints each step's states.
fn run_env(actions: &[Env], trace: bool) -> Result<(), TestCaseError> {
    let mut pair = Pair::default_pair();
    pair.advance(10);
    // Which servers lost their storage and have not recovered yet.
    let mut lost = [false, false];
    let idx = |s: Side| usize::from(s == Side::S);
    // Storage generation per server, and the generation each client's lease comes from.
    let mut storage_epoch = [0u32, 0u32];
    let mut epoch = [0u32; 6];
    let mut clients: Vec<Client> = (0..6)
        .map(|i| Client::new(i + 1, if i % 3 == 2 { IaKind::Pd } else { IaKind::Na }))
        .collect();
    for &a in actions {
        let before: Vec<_> = clients.iter().map(|c| c.lease).collect();
        match a {
            Env::Obtain(c, s) => {
                let cl = &mut clients[usize::from(c)];
                if cl.holds(pair.now).is_none() && pair.node(side(s)).ep.is_some() {
                    cl.obtain(&mut pair, side(s));
                }
            }
            Env::Renew(c) => {
                let i = usize::from(c);
                let cl = &mut clients[i];
                if let Some((r, _, by)) = cl.lease.filter(|(_, e, _)| *e > pair.now) {
                    if pair.node(by).ep.is_some() {
                        let reply = cl.renew_raw(&mut pair, by);
                        // L9 lease stability (7031 §7 req 4): a server that answers the
                        // renewal of a valid lease it granted (and has not lost its storage
                        // since) gives the same resource, never another one or NoBinding.
                        if let Some(reply) = &reply {
                            if epoch[i] == storage_epoch[idx(by)] {
                                let ia = reply.ias.iter().find(|ia| ia.iaid == cl.iaid);
                                let same = ia.is_some_and(|ia| {
                                    ia.status.is_none()
                                        && ia
                                            .leases
                                            .iter()
                                            .any(|l| l.resource == r && l.valid_lifetime > 0)
                                });
                                prop_assert!(same, "renewal of valid {r} answered with {reply:?}");
                            }
                            cl.accept(&pair, by, reply);
                        }
                    }
                }
            }
            Env::Rebind(c, s) => {
                let cl = &mut clients[usize::from(c)];
                if cl.holds(pair.now).is_some() && pair.node(side(s)).ep.is_some() {
                    cl.rebind(&mut pair, side(s));
                }
            }
            Env::Release(c) => {
                let cl = &mut clients[usize::from(c)];
                if let Some((_, _, by)) = cl.lease.filter(|(_, e, _)| *e > pair.now) {
                    if pair.node(by).ep.is_some() {
                        cl.release(&mut pair, by);
                    }
                }
            }
            Env::Advance(secs) => {
                // Clients renew at T1 on the way (a real client would).
                let mut left = secs;
                while left > 0 {
                    let step = left.min(10);
                    pair.advance(step);
                    left -= step;
                    for cl in clients.iter_mut() {
                        if let Some((_, e, by)) = cl.lease.filter(|(_, e, _)| *e > pair.now) {
                            if e.since(pair.now) < 30 {
                                if pair.node(by).ep.is_some() {
                                    cl.renew(&mut pair, by);
                                } else {
                                    let other = by.other();
                                    if pair.node(other).ep.is_some() {
                                        cl.rebind(&mut pair, other);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Env::Crash(s, lose, visible) => {
                let lose = lose && !lost[idx(side(s).other())];
                if pair.node(side(s)).ep.is_some() {
                    pair.crash(side(s), lose, visible);
                    lost[idx(side(s))] |= lose;
                    if lose {
                        storage_epoch[idx(side(s))] += 1;
                    }
                }
            }
            Env::Restart(s) => {
                let partner_pd = pair
                    .node(side(s).other())
                    .ep
                    .as_ref()
                    .is_some_and(|e| e.state() == EndpointState::PartnerDown);
                if pair.node(side(s)).ep.is_none() && (!partner_pd || pair.link_ok) {
                    pair.start(side(s));
                    pair.drive();
                }
            }
            Env::Partition => pair.partition(),
            Env::Heal => {
                pair.heal();
                pair.drive();
            }
            Env::PartnerDown(s) => {
                // A1: only when the partner is really down.
                if pair.node(side(s)).ep.is_some() && pair.node(side(s).other()).ep.is_none() {
                    pair.command(side(s), Command::PartnerDown);
                }
            }
        }
        for (i, c) in clients.iter().enumerate() {
            if c.lease != before[i] {
                if let Some((_, _, by)) = c.lease {
                    epoch[i] = storage_epoch[idx(by)];
                }
            }
        }
        for sd in [Side::P, Side::S] {
            let recovered = pair.node(sd).ep.as_ref().is_some_and(|e| {
                !matches!(
                    e.state(),
                    EndpointState::Startup | EndpointState::Recover | EndpointState::RecoverWait
                )
            });
            if recovered {
                lost[idx(sd)] = false;
            }
        }
        if trace {
            trace_step(&pair, &a, &clients);
        }
        let refs: Vec<&Client> = clients.iter().collect();
        assert_no_duplicates(&refs, pair.now);
    }
    Ok(())
}

/// The shrunk cases the property found, replayed by name (`cargo test --test properties
/// regression_ -- --nocapture` with `TRACE=1` to see each step).
#[test]
fn regression_crash_in_recover_wait_skipped_the_hold() {
    use Env::*;
    let a = [
        Crash(true, false, false),
        PartnerDown(false),
        Obtain(5, false),
        Restart(true),
        Crash(false, true, false),
        Advance(5),
        PartnerDown(true),
        Restart(false),
        Crash(false, false, false),
        Advance(10),
        Restart(false),
        Obtain(2, false),
    ];
    run_env(&a, false).unwrap();
}

#[test]
fn regression_renewal_after_rebind_in_partner_down() {
    use Env::*;
    let a = [
        Partition,
        Advance(10),
        Obtain(1, true),
        Crash(true, false, false),
        PartnerDown(false),
        Advance(36),
        Advance(18),
        Heal,
        Restart(true),
        Advance(6),
        Renew(1),
    ];
    run_env(&a, std::env::var_os("TRACE").is_some()).unwrap();
}

thread_local! {
    static TRACED: std::cell::Cell<[(usize, usize); 2]> = const { std::cell::Cell::new([(0, 0); 2]) };
}

fn trace_step(pair: &Pair, a: &Env, clients: &[Client]) {
    eprintln!("== {a:?} (t={:?})", pair.now);
    let mut seen = TRACED.with(std::cell::Cell::get);
    for (k, sd) in [Side::P, Side::S].into_iter().enumerate() {
        let n = pair.node(sd);
        for e in n.events.iter().skip(seen[k].0) {
            eprintln!("  {sd:?} event {e:?}");
        }
        for m in n.sent.iter().skip(seen[k].1) {
            let text = format!("{:?}", m.body);
            if !text.starts_with("Contact") && !text.contains("FreeBackup") {
                eprintln!("  {sd:?} sent {}", &text[..text.len().min(600)]);
            }
        }
        seen[k] = (n.events.len(), n.sent.len());
    }
    TRACED.with(|c| c.set(seen));
    for sd in [Side::P, Side::S] {
        match &pair.node(sd).ep {
            Some(ep) => {
                eprintln!("  {sd:?}: {:?} partner {:?}", ep.state(), ep.record().partner_state);
                for b in ep.bindings().filter(|b| b.client.is_some()) {
                    eprintln!(
                        "    {:?} {:?} iaid {:?} expiry {:?} partner_lifetime {:?} pending {}",
                        b.resource,
                        b.status,
                        b.client.as_ref().map(|c| c.iaid),
                        b.client_expiry,
                        b.partner_lifetime,
                        b.pending
                    );
                }
            }
            None => eprintln!("  {sd:?}: down"),
        }
    }
    for (i, c) in clients.iter().enumerate() {
        if let Some(l) = c.lease {
            eprintln!("  client {i}: {l:?}");
        }
    }
}

/// An output with every time it carries moved by `delta` seconds (client replies carry
/// lifetimes, events durations: they stay).
fn translated_output(o: &Output, delta: i64) -> Output {
    let mut o = o.clone();
    match &mut o {
        Output::Send(m) => m.translate(delta),
        Output::Persist(failover_model::io::DurableWrite::Binding(b)) => b.translate(delta),
        Output::Persist(failover_model::io::DurableWrite::State(r)) => r.translate(delta),
        _ => {}
    }
    o
}

/// Time-translation equivariance of the core (`Endpoint::translate`, the ground of the model
/// checker's time canonicalisation, docs/model.md *Time translation*): from any endpoint of
/// the fuzzing preludes, for any input sequence (partner messages with arbitrary times
/// included), handling the translated input at the translated time on the translated endpoint
/// gives the translated endpoint and the translated outputs, step after step.
fn run_translated(
    role: Role,
    start: u8,
    delta: i64,
    steps: Vec<(u32, Input)>,
) -> Result<(), TestCaseError> {
    let (mut ep, mut now) = prelude(role, start);
    let mut moved = ep.clone();
    moved.translate(delta);
    for (i, (dt, mut input)) in steps.into_iter().enumerate() {
        now = now.plus(dt);
        if let Input::Partner(m) = &mut input {
            m.sent_time = now.minus(m.sent_time.0);
        }
        let mut moved_input = input.clone();
        if let Input::Partner(m) = &mut moved_input {
            m.translate(delta);
        }
        let out = ep.handle(now, input.clone());
        let moved_out = moved.handle(now.translated(delta), moved_input);
        let expected: Vec<Output> = out.iter().map(|o| translated_output(o, delta)).collect();
        prop_assert_eq!(&moved_out, &expected, "step {} {:?}: outputs differ", i, input);
        let mut expected_ep = ep.clone();
        expected_ep.translate(delta);
        prop_assert!(moved == expected_ep, "step {} {:?}: endpoints differ", i, input);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(128), ..ProptestConfig::default() })]

    #[test]
    fn handling_commutes_with_time_translation(
        primary in any::<bool>(),
        start in 0u8..4,
        delta in prop_oneof![-90_000i64..-1, 1i64..1_000_000],
        steps in prop::collection::vec(input(), 1..60),
    ) {
        let role = if primary { Role::Primary } else { Role::Secondary };
        run_translated(role, start, delta, steps)?;
    }
}
