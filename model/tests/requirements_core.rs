//! RFC 8156 MUSTs about the endpoint's behaviour (not the octets) that no model property
//! inspects: CONTACT when idle, transaction-ids, reconnecting after a rejection, dropping a
//! connection that serves no relationship, the prefix hand-off and take-back (§4.2.2), the
//! time stamps of §7.1, and partner-raw-clt-time (§7.3). `specs/requirements.toml` names them.

mod common;

use common::{Client, Pair, Side};
use failover_model::dhcp::client::{ClientMsgKind, RequestedLease};
use failover_model::failover::message::{
    BindingMessage, BindingPayload, ClientData, IaData, LeaseData, LeaseOptions, PrefixData,
    StatusCode, XID_MAX,
};
use failover_model::{
    BindingStatus, EndpointState as St, Event, IaKind, Input, Message, MessageBody, Output,
    Resource, Role, Time,
};
use std::collections::BTreeSet;

fn normal_pair() -> Pair {
    let mut pair = Pair::default_pair();
    pair.advance(10);
    assert_eq!((pair.state(Side::P), pair.state(Side::S)), (St::Normal, St::Normal));
    pair
}

fn is(m: &Message, name: &str) -> bool {
    m.body.name() == name
}

/// §5.3.12, §6.6: CONTACT is sent periodically when no other traffic flows: over 100 idle
/// seconds each side sends only CONTACTs, never more than FO_SEND_TIME apart (the partner's
/// keepalive divided by FO_CONTACT_PER_KEEPALIVE_TIME), and comms stay OK.
#[test]
fn contact_is_sent_periodically_on_an_idle_link() {
    let mut pair = normal_pair();
    pair.advance(5);
    for side in [Side::P, Side::S] {
        let partner = pair.node(side.other()).config.clone();
        let send_time = (partner.keepalive_time / partner.contacts_per_keepalive).max(1);
        let before = pair.node(side).sent.len();
        let last_before = pair.node(side).sent.last().map(|m| m.sent_time).expect("sent");
        let from = pair.now;
        pair.advance(100);
        let idle = &pair.node(side).sent[before..];
        assert!(idle.iter().all(|m| is(m, "CONTACT")), "{side:?}: {idle:?}");
        assert!(idle.len() as u32 >= 100 / send_time, "{side:?}: {} CONTACTs", idle.len());
        let mut prev = last_before;
        for m in idle {
            assert!(m.sent_time.since(prev) <= send_time, "{side:?}: gap before {}", m.sent_time);
            prev = m.sent_time;
        }
        assert!(pair.now.since(prev) <= send_time);
        assert!(from < pair.now);
    }
    assert_eq!((pair.state(Side::P), pair.state(Side::S)), (St::Normal, St::Normal));
    assert!(pair.p.ep().comms_ok() && pair.s.ep().comms_ok());
}

/// A rapid-commit SOLICIT handled without delivering anything the server sends.
fn solicit_undelivered(pair: &mut Pair, side: Side, c: &Client, tag: u64) {
    let mut req = c.req(ClientMsgKind::Solicit, None, false);
    req.rapid_commit = true;
    req.tag = tag;
    pair.input(side, Input::Client(req));
}

/// §5.4: the initiator sets the transaction-id, and it is unique among all the messages
/// outstanding to the partner: with many BNDUPDs in flight at once (none answered yet) every
/// xid is distinct and within 24 bits, and each BNDREPLY carries the xid of the BNDUPD it
/// answers.
#[test]
fn transaction_ids_are_unique_among_outstanding_messages() {
    let mut pair = normal_pair();
    let clients: Vec<Client> = (1..=12).map(|i| Client::new(i, IaKind::Na)).collect();
    for (i, c) in clients.iter().enumerate() {
        solicit_undelivered(&mut pair, Side::P, c, 1000 + i as u64);
    }
    let in_flight: Vec<u32> = pair.to_s.iter().filter(|m| is(m, "BNDUPD")).map(|m| m.xid).collect();
    assert!(in_flight.len() >= 2, "several updates outstanding at once: {in_flight:?}");
    let distinct: BTreeSet<u32> = in_flight.iter().copied().collect();
    assert_eq!(distinct.len(), in_flight.len(), "xids of outstanding BNDUPDs: {in_flight:?}");
    assert!(in_flight.iter().all(|x| *x <= XID_MAX));
    let p_before = pair.p.sent.len();
    let s_before = pair.s.sent.len();
    pair.advance(30);
    // Every answer echoes a request's xid; every request got one.
    let updates: Vec<u32> = pair.p.sent.iter().filter(|m| is(m, "BNDUPD")).map(|m| m.xid).collect();
    let replies: Vec<u32> =
        pair.s.sent[s_before..].iter().filter(|m| is(m, "BNDREPLY")).map(|m| m.xid).collect();
    assert!(replies.iter().all(|x| updates.contains(x)), "{replies:?} answer {updates:?}");
    let sent_later: BTreeSet<u32> =
        pair.p.sent[p_before..].iter().filter(|m| is(m, "BNDUPD")).map(|m| m.xid).collect();
    for x in in_flight.iter().chain(&sent_later) {
        assert!(replies.contains(x), "BNDUPD {x} was answered");
    }
    // Later updates are not confused with earlier ones still awaiting an answer: every
    // client's lease is ACTIVE on the secondary.
    for b in pair.p.ep().bindings().filter(|b| b.status == BindingStatus::Active) {
        assert_eq!(pair.s.ep().binding(&b.resource).map(|x| x.status), Some(BindingStatus::Active));
        assert!(!b.pending);
    }
}

/// §6.1: after its CONNECT is rejected by a CONNECTREPLY with a status code (or by a
/// DISCONNECT) the primary SHOULD back off but MUST continue to attempt to connect
/// periodically. The primary endpoint alone, driven by hand: each CONNECT is answered with a
/// rejecting CONNECTREPLY, and each time the Reconnect timer is armed, fires, and yields a new
/// connection attempt and CONNECT; likewise after a DISCONNECT.
#[test]
fn primary_keeps_connecting_after_a_rejection() {
    let config = common::test_config(Role::Primary);
    let mut now = Time(100_000);
    let (mut ep, out) = failover_model::Endpoint::new(config, now);
    assert!(out.contains(&Output::Connect));
    let mut attempts = 0;
    for round in 0..6 {
        let out = ep.handle(now, Input::ConnectionUp);
        let connect = out
            .iter()
            .find_map(|o| match o {
                Output::Send(m) if is(m, "CONNECT") => Some(m.clone()),
                _ => None,
            })
            .expect("a CONNECT on the new connection");
        attempts += 1;
        let refusal = if round % 2 == 0 {
            MessageBody::ConnectReply(failover_model::failover::message::ConnectOptions {
                status: Some(failover_model::failover::message::Status::new(
                    StatusCode::CONFIGURATION_CONFLICT,
                    "no",
                )),
                ..Default::default()
            })
        } else {
            MessageBody::Disconnect(failover_model::failover::message::DisconnectOptions::default())
        };
        let out = ep.handle(
            now,
            Input::Partner(Message { xid: connect.xid, sent_time: now, body: refusal }),
        );
        assert!(out.contains(&Output::Disconnect), "{out:?}");
        let out = ep.handle(now, Input::ConnectionDown);
        assert!(!out.contains(&Output::Connect));
        let at = *ep.timers().get(&failover_model::Timer::Reconnect).expect("a reconnect is armed");
        assert!(at > now);
        now = at;
        let out = ep.handle(now, Input::Timer(failover_model::Timer::Reconnect));
        assert!(out.contains(&Output::Connect), "round {round}: {out:?}");
    }
    assert_eq!(attempts, 6);
}

/// §6.1: a server with no secondary relationship with the connecting server MUST drop the
/// connection: a primary that receives a CONNECT closes the connection (the runtime refuses a
/// peer that is not the configured partner before the core sees it).
#[test]
fn a_connect_to_a_server_that_is_not_its_secondary_is_dropped() {
    let mut pair = normal_pair();
    let connect = pair.p.sent.iter().find(|m| is(m, "CONNECT")).cloned().expect("a CONNECT");
    let connect = Message { sent_time: pair.now, ..connect };
    let out = pair.input(Side::P, Input::Partner(connect));
    assert!(out.contains(&Output::Disconnect), "{out:?}");
    assert!(!pair.p.ep().comms_ok());
}

/// The prefixes the primary handed to the secondary (stand-alone IAPREFIX FREE-BACKUP BNDUPDs).
fn handed_off(pair: &Pair) -> BTreeSet<Resource> {
    pair.p
        .sent
        .iter()
        .filter_map(|m| match &m.body {
            MessageBody::BndUpd(BindingMessage {
                payload: Some(BindingPayload::Prefix(p)),
                ..
            }) if p.lease.options.binding_status == Some(BindingStatus::FreeBackup) => {
                Some(p.lease.resource)
            }
            _ => None,
        })
        .collect()
}

/// §4.2.2: once the primary has sent the FREE-BACKUP BNDUPD of a prefix, it MUST NOT delegate
/// it (outside PARTNER-DOWN): clients served by the primary, in NORMAL and during a partition,
/// never get a handed-off prefix, and the primary runs out when its own share is used up.
#[test]
fn the_primary_never_delegates_a_prefix_it_handed_off() {
    let mut pair = normal_pair();
    let gone = handed_off(&pair);
    assert_eq!(gone.len(), 8, "half of the 16 prefixes: {gone:?}");
    let mut got = BTreeSet::new();
    for i in 1..=6 {
        let mut c = Client::new(i, IaKind::Pd);
        let (r, _) = c.obtain(&mut pair, Side::P).expect("a prefix from the primary");
        got.insert(r);
    }
    pair.partition();
    pair.advance(11);
    assert_eq!(pair.state(Side::P), St::CommunicationsInterrupted);
    for i in 7..=12 {
        let mut c = Client::new(i, IaKind::Pd);
        if let Some((r, _)) = c.obtain(&mut pair, Side::P) {
            got.insert(r);
        }
    }
    assert_eq!(got.len(), 8, "the primary's own share only: {got:?}");
    assert!(got.is_disjoint(&gone), "{:?}", got.intersection(&gone).collect::<Vec<_>>());
}

/// §4.2.2: the secondary MUST reject the primary's take-back (a stand-alone IAPREFIX FREE) of
/// a prefix it has already delegated to a client; the take-back of one it has not delegated is
/// accepted.
#[test]
fn the_secondary_rejects_the_takeback_of_a_delegated_prefix() {
    let mut pair = normal_pair();
    let mut cpe = Client::new(1, IaKind::Pd);
    pair.partition();
    pair.advance(11);
    let (delegated, _) = cpe.obtain(&mut pair, Side::S).expect("the secondary delegates");
    pair.heal();
    pair.advance(10);
    assert_eq!(pair.state(Side::S), St::Normal);
    let spare = pair
        .s
        .ep()
        .bindings()
        .find(|b| b.status == BindingStatus::FreeBackup && b.resource.is_prefix())
        .map(|b| b.resource)
        .expect("an undelegated FREE-BACKUP prefix");
    let takeback = |pair: &Pair, r: Resource, xid: u32| Message {
        xid,
        sent_time: pair.now,
        body: MessageBody::BndUpd(BindingMessage {
            payload: Some(BindingPayload::Prefix(PrefixData {
                lease: LeaseData {
                    resource: r,
                    preferred_lifetime: 0,
                    valid_lifetime: 0,
                    options: LeaseOptions {
                        binding_status: Some(BindingStatus::Free),
                        start_time_of_state: Some(pair.now),
                        ..LeaseOptions::default()
                    },
                },
                lq_base_time: Some(pair.now),
                vss: None,
            })),
            status: None,
            unknown: vec![],
        }),
    };
    let verdict = |pair: &mut Pair, r: Resource, xid: u32| {
        let m = takeback(pair, r, xid);
        let out = pair.input(Side::S, Input::Partner(m));
        pair.drive();
        out.iter()
            .find_map(|o| match o {
                Output::Send(Message { xid: x, body: MessageBody::BndReply(b), .. })
                    if *x == xid =>
                {
                    match &b.payload {
                        Some(BindingPayload::Prefix(p)) => {
                            Some(p.lease.options.status.as_ref().map(|s| s.code))
                        }
                        _ => None,
                    }
                }
                _ => None,
            })
            .expect("a BNDREPLY with the prefix")
    };
    assert_eq!(verdict(&mut pair, delegated, 0x4242), Some(StatusCode::ADDRESS_IN_USE));
    assert_eq!(pair.s.ep().binding(&delegated).map(|b| b.status), Some(BindingStatus::Active));
    assert!(cpe.renew(&mut pair, Side::S).is_some() || cpe.holds(pair.now).is_some());
    // The control: an undelegated one is taken back.
    assert_eq!(verdict(&mut pair, spare, 0x4243), None);
    assert_eq!(pair.s.ep().binding(&spare).map(|b| b.status), Some(BindingStatus::Free));
}

/// §7.1: the sender stamps sent-time at transmission and the receiver judges skew by its own
/// time of reception. The core is told the time of each step: every message a step sends
/// carries that step's time, and a received message is compared with the receiving step's
/// time (6 s apart is skew and drops the link, 5 s is not). How close the driver's step time is
/// to the socket write and read is the runtime's part and is not measured here.
#[test]
fn sent_time_is_the_time_of_sending_and_skew_the_time_of_reception() {
    let mut pair = normal_pair();
    for i in 1..=5u8 {
        pair.now = pair.now.plus(u32::from(i));
        let c = Client::new(i, IaKind::Na);
        let mut req = c.req(ClientMsgKind::Solicit, None, false);
        req.rapid_commit = true;
        req.tag = u64::from(i);
        let out = pair.input(Side::P, Input::Client(req));
        let sends: Vec<&Message> = out
            .iter()
            .filter_map(|o| if let Output::Send(m) = o { Some(m) } else { None })
            .collect();
        assert!(!sends.is_empty());
        assert!(sends.iter().all(|m| m.sent_time == pair.now), "{sends:?} at {}", pair.now);
        pair.drive();
    }
    let contact = |t: Time| Message {
        xid: 77,
        sent_time: t,
        body: MessageBody::Contact(failover_model::failover::message::NoOptions::default()),
    };
    let out = pair.input(Side::S, Input::Partner(contact(pair.now.minus(5))));
    assert!(!out.contains(&Output::Disconnect), "5 s is within tolerance: {out:?}");
    let out = pair.input(Side::S, Input::Partner(contact(pair.now.minus(6))));
    assert!(out.contains(&Output::Event(Event::Skew(6))), "{out:?}");
    assert!(out.contains(&Output::Disconnect));
}

/// §7.3: partner-raw-clt-time "remains exactly as it was received by this server and MUST NOT
/// be adjusted in any way": the secondary keeps the primary's client-last-transaction-time as
/// received (LQ_BASE_TIME minus CLT_TIME of the BNDUPD, RFC 5007), even when the primary's base
/// time is 3 s off the secondary's clock, and sends it back unchanged, much later, as
/// F_PARTNER_RAW_CLT_TIME.
#[test]
fn partner_raw_clt_time_is_kept_exactly_as_received() {
    let mut pair = normal_pair();
    let r = Resource::Address(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x101));
    let duid = failover_model::Duid::new(vec![0, 3, 0, 1, 0xcc, 1]);
    let base = pair.now.minus(3);
    let raw = base.minus(7);
    let m = Message {
        xid: 0x0abc,
        sent_time: pair.now,
        body: MessageBody::BndUpd(BindingMessage {
            payload: Some(BindingPayload::Client(ClientData {
                client_id: duid.clone(),
                lq_base_time: Some(base),
                vss: None,
                reconfigure: None,
                relay_data: None,
                ias: vec![IaData {
                    kind: IaKind::Na,
                    iaid: 1,
                    t1: 150,
                    t2: 240,
                    leases: vec![LeaseData {
                        resource: r,
                        preferred_lifetime: 300,
                        valid_lifetime: 600,
                        options: LeaseOptions {
                            binding_status: Some(BindingStatus::Active),
                            start_time_of_state: Some(raw),
                            state_expiration_time: Some(raw.plus(600)),
                            partner_lifetime: Some(raw.plus(660)),
                            expiration_time: Some(Time::ZERO),
                            clt_time: Some(7),
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
        }),
    };
    pair.input(Side::S, Input::Partner(m));
    pair.drive();
    let on_s = pair.s.ep().binding(&r).expect("stored").clone();
    assert_eq!(on_s.status, BindingStatus::Active);
    assert_eq!(on_s.partner_raw_clt_time, raw, "base {base} minus CLT_TIME 7, not now - 7");
    // Much later the client rebinds with the secondary during a partition; its BNDUPD carries
    // the partner-raw-clt-time unchanged.
    pair.advance(200);
    pair.partition();
    pair.advance(11);
    let mut c =
        Client { duid, kind: IaKind::Na, iaid: 1, lease: Some((r, raw.plus(600), Side::P)) };
    let mut req = c.req(ClientMsgKind::Rebind, None, true);
    req.ias[0].leases =
        vec![RequestedLease { resource: r, preferred_lifetime: 0, valid_lifetime: 0 }];
    let reply = pair.ask(Side::S, req).expect("a reply");
    assert!(c.accept(&pair, Side::S, &reply).is_some(), "{reply:?}");
    pair.heal();
    pair.advance(10);
    let carried: Vec<Time> = pair
        .s
        .sent
        .iter()
        .filter_map(|m| match &m.body {
            MessageBody::BndUpd(BindingMessage {
                payload: Some(BindingPayload::Client(cd)),
                ..
            }) => Some(cd),
            _ => None,
        })
        .flat_map(|cd| cd.ias.iter().flat_map(|ia| ia.leases.iter()))
        .filter(|l| l.resource == r)
        .filter_map(|l| l.options.partner_raw_clt_time)
        .collect();
    assert!(!carried.is_empty(), "the secondary sent its update");
    assert!(carried.iter().all(|t| *t == raw), "{carried:?} vs {raw}");
}

/// §5.4: an answer carries its request's xid. A CONNECTREPLY whose xid is not the CONNECT's
/// answers nothing: the primary drops the link instead of going on with the handshake.
#[test]
fn connectreply_must_answer_the_connect() {
    let mut pair = Pair::default_pair();
    // The primary asked to connect at start; bring the transport up by hand.
    pair.connected = true;
    pair.input(Side::S, Input::ConnectionUp);
    pair.input(Side::P, Input::ConnectionUp);
    let connect = pair.to_s.pop_front().expect("CONNECT");
    assert!(is(&connect, "CONNECT"));
    pair.input(Side::S, Input::Partner(connect.clone()));
    let mut reply = pair.to_p.pop_front().expect("CONNECTREPLY");
    assert!(is(&reply, "CONNECTREPLY"));
    assert_eq!(reply.xid, connect.xid, "the secondary echoes the CONNECT's xid");
    reply.xid = (connect.xid + 1) & XID_MAX;
    let outs = pair.input(Side::P, Input::Partner(reply));
    assert!(outs.iter().any(|o| matches!(o, Output::Disconnect)), "{outs:?}");
    assert!(!outs.iter().any(|o| matches!(o, Output::Send(m) if is(m, "STATE"))));
}

/// §5.4: a POOLRESP that answers no POOLREQ of the secondary's is reported, not taken as the
/// answer; the one with the POOLREQ's xid closes it.
#[test]
fn poolresp_must_answer_the_poolreq() {
    let mut pair = normal_pair();
    let poolreq = pair.s.sent.iter().rev().find(|m| is(m, "POOLREQ")).expect("POOLREQ").xid;
    let stray = Message {
        xid: (poolreq + 7) & XID_MAX,
        sent_time: pair.now,
        body: MessageBody::PoolResp(Default::default()),
    };
    let outs = pair.input(Side::S, Input::Partner(stray));
    assert!(
        outs.iter().any(|o| matches!(o, Output::Event(Event::PartnerRejected { reason })
            if reason.contains("POOLRESP"))),
        "{outs:?}"
    );
    assert_eq!(pair.state(Side::S), St::Normal, "nothing else changes");
}

/// §6.1 back-off: a CONNECTREPLY with a status and a DISCONNECT with a reason (or none) each
/// double the primary's reconnection delay from the interval, up to the cap; a DISCONNECT
/// saying ServerShuttingDown (a planned shutdown, §5.3.10) is no rejection and leaves the delay
/// alone.
#[test]
fn every_rejection_backs_off_but_a_planned_shutdown_does_not() {
    use failover_model::endpoint::{reconnect_delay, REJECTED_RECONNECT_MAX_DELAY};
    use failover_model::failover::message::{ConnectOptions, DisconnectOptions, Status};
    let config = common::test_config(Role::Primary);
    let interval = config.reconnect_interval;
    let mut now = Time(100_000);
    let (mut ep, _) = failover_model::Endpoint::new(config, now);
    let status = |c: StatusCode| Some(Status::new(c, "why"));
    let refusals = [
        MessageBody::ConnectReply(ConnectOptions {
            status: status(StatusCode::CONFIGURATION_CONFLICT),
            ..Default::default()
        }),
        MessageBody::Disconnect(DisconnectOptions {
            status: status(StatusCode::UNSPEC_FAIL),
            ..Default::default()
        }),
        MessageBody::Disconnect(DisconnectOptions::default()),
        MessageBody::ConnectReply(ConnectOptions {
            status: status(StatusCode::EXCESSIVE_TIME_SKEW),
            ..Default::default()
        }),
        MessageBody::Disconnect(DisconnectOptions {
            status: status(StatusCode::SERVER_SHUTTING_DOWN),
            ..Default::default()
        }),
        MessageBody::Disconnect(DisconnectOptions::default()),
        MessageBody::Disconnect(DisconnectOptions::default()),
        MessageBody::Disconnect(DisconnectOptions::default()),
        MessageBody::Disconnect(DisconnectOptions::default()),
    ];
    // The consecutive rejections after each refusal (the shutdown counts none).
    let streak = [1, 2, 3, 4, 4, 5, 6, 7, 8];
    for (body, n) in refusals.into_iter().zip(streak) {
        let out = ep.handle(now, Input::ConnectionUp);
        let xid = out
            .iter()
            .find_map(|o| match o {
                Output::Send(m) if is(m, "CONNECT") => Some(m.xid),
                _ => None,
            })
            .expect("a CONNECT");
        let planned = matches!(&body, MessageBody::Disconnect(d)
            if d.status.as_ref().is_some_and(|s| s.code == StatusCode::SERVER_SHUTTING_DOWN));
        let out = ep.handle(now, Input::Partner(Message { xid, sent_time: now, body }));
        let rejected =
            out.iter().any(|o| matches!(o, Output::Event(Event::ConnectionRejected { .. })));
        assert_eq!(rejected, !planned, "{out:?}");
        let at = *ep.timers().get(&failover_model::Timer::Reconnect).expect("a reconnect");
        let want = reconnect_delay(interval, n);
        assert_eq!(at.since(now), want, "after {n} rejection(s)");
        assert_eq!(want, (interval << n.min(6)).min(REJECTED_RECONNECT_MAX_DELAY));
        now = at;
        let out = ep.handle(now, Input::Timer(failover_model::Timer::Reconnect));
        assert!(out.contains(&Output::Connect), "the primary MUST keep trying");
    }
    // The cap: never beyond 300 s, never below a longer configured interval.
    assert_eq!(reconnect_delay(5, 6), 300);
    assert_eq!(reconnect_delay(1, 100), 64);
    assert_eq!(reconnect_delay(600, 3), 600);
    assert_eq!(reconnect_delay(7, 0), 7);
}

/// `reset-abandoned` (§7.2 transition (10)) changes an ABANDONED lease only: for an ACTIVE
/// lease, a resource with no record and one outside every pool the core refuses with a reason
/// and changes nothing.
#[test]
fn reset_abandoned_refuses_what_it_cannot_reset() {
    use failover_model::Command;
    let refused = |out: &[Output]| {
        out.iter().find_map(|o| match o {
            Output::Event(Event::CommandRefused { reason, .. }) => Some(reason.clone()),
            _ => None,
        })
    };
    let mut pair = normal_pair();
    let mut c = Client::new(1, IaKind::Na);
    let (active, _) = c.obtain(&mut pair, Side::P).expect("a lease");
    let outside = Resource::Address("2001:db8:9::1".parse().expect("address"));
    let untouched = Resource::Address("2001:db8:1::10e".parse().expect("address"));
    assert!(pair.p.ep().binding(&untouched).is_none(), "precondition: no record");
    assert!(pair.p.ep().serves(&untouched) && !pair.p.ep().serves(&outside));
    for (r, why) in [(active, "is ACTIVE"), (outside, "in no pool"), (untouched, "no lease record")]
    {
        let before = pair.p.ep().binding(&r).cloned();
        let out = pair.input(Side::P, Input::Command(Command::ResetAbandoned(r)));
        let reason = refused(&out).unwrap_or_else(|| panic!("{r}: not refused: {out:?}"));
        assert!(reason.contains(why), "{r}: {reason}");
        assert_eq!(pair.p.ep().binding(&r).cloned(), before, "{r} changed");
        assert!(!out.iter().any(|o| matches!(o, Output::Persist(_))), "{r}: wrote {out:?}");
    }
    // An ABANDONED lease (an ACTIVE record without a client is set aside at restore) is reset.
    let mut image = failover_model::DurableImage::default();
    let a = Resource::Address("2001:db8:1::101".parse().expect("address"));
    image.bindings.insert(a, failover_model::Binding::free(a, BindingStatus::Active, Time(10)));
    let (mut ep, _) =
        failover_model::Endpoint::restore(common::test_config(Role::Primary), &image, Time(1000));
    assert_eq!(ep.binding(&a).map(|b| b.status), Some(BindingStatus::Abandoned));
    let out = ep.handle(Time(1001), Input::Command(Command::ResetAbandoned(a)));
    assert_eq!(refused(&out), None, "{out:?}");
    assert_ne!(ep.binding(&a).map(|b| b.status), Some(BindingStatus::Abandoned));
}
