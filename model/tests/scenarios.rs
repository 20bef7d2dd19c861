//! End-to-end scenarios on two endpoints with a virtual clock: what clients hold through
//! normal service, crashes, partitions, partner-down, storage loss and prefix hand-offs.

mod common;

use common::*;
use failover_model::dhcp::client::{
    ClientMsgKind, DhcpStatus, ReplyKind, RequestedLease, SilenceReason,
};
use failover_model::failover::message::{BindingPayload, MessageBody};
use failover_model::io::{Command, Input, Output};
use failover_model::{
    BindingStatus, EndpointState as St, Event, IaKind, Rejection, Resource, Role, Time,
};

fn normal_pair() -> Pair {
    let mut pair = Pair::default_pair();
    pair.advance(10);
    assert_eq!(pair.state(Side::P), St::Normal, "primary reaches NORMAL");
    assert_eq!(pair.state(Side::S), St::Normal, "secondary reaches NORMAL");
    pair
}

fn odd(r: Resource) -> bool {
    r.primary_half() == Some(true)
}

/// A fresh pair goes STARTUP → RECOVER → RECOVER-WAIT → RECOVER-DONE → NORMAL (§8.3.2, §8.5,
/// §8.6, §8.7), and the secondary asks for its share of prefixes (§8.8, §4.2.2).
#[test]
fn fresh_pair_reaches_normal_and_balances_prefixes() {
    let pair = normal_pair();
    let backup = pair.s.ep().bindings().filter(|b| b.status == BindingStatus::FreeBackup).count();
    assert_eq!(backup, 8, "half of 16 delegable prefixes handed to the secondary");
    let on_p = pair.p.ep().bindings().filter(|b| b.status == BindingStatus::FreeBackup).count();
    assert_eq!(on_p, 8);
    assert!(pair.p.ep().comms_ok() && pair.s.ep().comms_ok());
}

/// Normal service and lazy update (§4.3, §4.4.1): the primary answers first with the MCLT,
/// the secondary learns the binding, and the renewal gets the full lifetime.
#[test]
fn normal_service_and_lazy_update() {
    let mut pair = normal_pair();
    let mut c = Client::new(1, IaKind::Na);
    let (r, valid) = c.obtain(&mut pair, Side::P).expect("lease from the primary");
    assert!(odd(r), "primary allocates from the odd half (§4.2.1)");
    assert_eq!(valid, 60, "first lease is held to the MCLT");
    // The secondary got the BNDUPD and acked it.
    let on_s = pair.s.ep().binding(&r).expect("secondary knows the lease");
    assert_eq!(on_s.status, BindingStatus::Active);
    let on_p = pair.p.ep().binding(&r).expect("primary record");
    assert!(!on_p.pending, "ack cleared the update flag");
    assert!(on_p.acked_partner_lifetime > pair.now.plus(600), "partner acked the partner lifetime");
    // The secondary in NORMAL is renew-responsive: it ignores a SOLICIT.
    let mut other = Client::new(2, IaKind::Na);
    assert!(other.obtain(&mut pair, Side::S).is_none());
    // Renew at T1: now the full desired lifetime.
    pair.advance(30);
    let (r2, valid2) = c.renew(&mut pair, Side::P).expect("renewal");
    assert_eq!(r2, r);
    assert_eq!(valid2, 600);
    // The durable image holds exactly the live bindings.
    assert_eq!(pair.p.image.bindings.get(&r), pair.p.ep().binding(&r));
    // Prefix delegation from the primary too.
    let mut cpe = Client::new(3, IaKind::Pd);
    let (p, _) = cpe.obtain(&mut pair, Side::P).expect("prefix");
    assert!(matches!(p, Resource::Prefix(_, 52)));
    assert_eq!(pair.p.ep().binding(&p).map(|b| b.status), Some(BindingStatus::Active));
}

/// Primary crash: the secondary goes to COMMUNICATIONS-INTERRUPTED, renews every client's
/// same lease within the MCLT rule, then after operator partner-down serves new clients and
/// re-allocates the primary's leases only after the wait; the primary restarts through
/// RECOVER to NORMAL and no client changes address.
#[test]
fn primary_crash_partner_down_and_recovery() {
    let mut pair = normal_pair();
    let mut a = Client::new(1, IaKind::Na);
    let mut b = Client::new(2, IaKind::Na);
    let mut pd = Client::new(3, IaKind::Pd);
    let (ra, _) = a.obtain(&mut pair, Side::P).expect("a");
    let (rb, _) = b.obtain(&mut pair, Side::P).expect("b");
    let (rp, _) = pd.obtain(&mut pair, Side::P).expect("prefix");
    pair.advance(30);
    a.renew(&mut pair, Side::P).expect("a renews");
    b.renew(&mut pair, Side::P).expect("b renews");
    pd.renew(&mut pair, Side::P).expect("pd renews");

    // The primary dies without a trace on the wire; the secondary notices by keepalive.
    pair.crash(Side::P, false, false);
    pair.advance(11);
    assert_eq!(pair.state(Side::S), St::CommunicationsInterrupted);

    // Clients rebind to the secondary and keep their leases, MCLT-bounded (§8.9.1).
    for (c, r) in [(&mut a, ra), (&mut b, rb), (&mut pd, rp)] {
        let (got, valid) = c.rebind(&mut pair, Side::S).expect("secondary answers in COMM-INT");
        assert_eq!(got, r, "same lease");
        let acked = pair.s.ep().binding(&r).map_or(Time::ZERO, |b| b.acked_partner_lifetime);
        assert!(pair.now.plus(valid) <= acked.max(pair.now).plus(60), "MCLT bound at grant (S2)");
    }
    // A new client gets an even address from the secondary's own half (§4.2.1).
    let mut n = Client::new(4, IaKind::Na);
    let (rn, _) = n.obtain(&mut pair, Side::S).expect("new client in COMM-INT");
    assert!(!odd(rn));

    // Operator: the primary is down (§8.9.2).
    pair.command(Side::S, Command::PartnerDown);
    assert_eq!(pair.state(Side::S), St::PartnerDown);
    // In PARTNER-DOWN there is no MCLT limit (§8.4.1).
    let (_, valid) = n.renew(&mut pair, Side::S).expect("renew in PD");
    assert_eq!(valid, 600);
    let pd_entry = pair.s.ep().partner_down_since().expect("in PD");

    // Client b goes away; its address must not go to anyone else before the wait
    // (§4.2.2.1): MCLT beyond the latest of the expiry times and the PD entry.
    let b_rec = pair.s.ep().binding(&rb).cloned().expect("b's record");
    let wait_until = failover_model::leases::mclt::partner_down_free_time(&b_rec, pd_entry, 60);
    b.lease = None;
    // Until then, the primary's half is never used for new clients.
    let mut fresh = Vec::new();
    for id in 10..14 {
        let mut c = Client::new(id, IaKind::Na);
        if let Some((r, _)) = c.obtain(&mut pair, Side::S) {
            assert!(!odd(r), "PD never takes the partner's address half (§4.2.1)");
            assert_ne!(r, rb);
        }
        fresh.push(c);
    }
    // Time passes; the clients still present keep renewing at T1.
    let target = wait_until.plus(61);
    while pair.now < target {
        pair.advance(25);
        for c in [&mut a, &mut pd, &mut n] {
            c.renew(&mut pair, Side::S).expect("renewal in PD");
        }
    }
    let rec = pair.s.ep().binding(&rb).expect("record");
    assert!(
        matches!(rec.status, BindingStatus::Free | BindingStatus::Expired),
        "b's lease ran out: {:?}",
        rec.status
    );

    // The primary comes back with its storage: STARTUP sees the partner in PD since after it
    // stopped → RECOVER (§8.3.2 step 5) → UPDREQ → RECOVER-WAIT → RECOVER-DONE → NORMAL.
    a.renew(&mut pair, Side::S).expect("a keeps renewing");
    pd.renew(&mut pair, Side::S).expect("pd keeps renewing");
    pair.start(Side::P);
    pair.advance(6);
    assert_eq!(pair.state(Side::P), St::RecoverWait, "primary recovered the partner's updates");
    pair.advance(61);
    assert_eq!(pair.state(Side::P), St::Normal);
    assert_eq!(pair.state(Side::S), St::Normal);
    // Every client still holds the same lease, and both servers agree on it.
    for (c, r) in [(&a, ra), (&pd, rp), (&n, rn)] {
        assert_eq!(c.holds(pair.now), Some(r));
        let on_p = pair.p.ep().binding(&r).expect("primary knows");
        assert_eq!(on_p.status, BindingStatus::Active);
        assert_eq!(on_p.client.as_ref().map(|k| &k.duid), Some(&c.duid));
    }
    let all: Vec<&Client> = [&a, &b, &pd, &n].into_iter().chain(fresh.iter()).collect();
    assert_no_duplicates(&all, pair.now);
}

/// A partition with clients reaching both: both serve new clients from their own pools only,
/// no resource is held twice, and they reintegrate to NORMAL (§8.9).
#[test]
fn partition_both_serve_own_pools_then_reintegrate() {
    let mut pair = normal_pair();
    let mut a = Client::new(1, IaKind::Na);
    let (ra, _) = a.obtain(&mut pair, Side::P).expect("a");
    pair.partition();
    pair.advance(11);
    assert_eq!(pair.state(Side::P), St::CommunicationsInterrupted);
    assert_eq!(pair.state(Side::S), St::CommunicationsInterrupted);
    let mut clients = vec![a.clone()];
    for id in 2..8 {
        let side = if id % 2 == 0 { Side::P } else { Side::S };
        let mut c = Client::new(id, IaKind::Na);
        let (r, _) = c.obtain(&mut pair, side).expect("served during the partition");
        assert_eq!(odd(r), side == Side::P, "own half only");
        clients.push(c);
    }
    let mut pfx = Client::new(20, IaKind::Pd);
    let (rp, _) = pfx.obtain(&mut pair, Side::S).expect("secondary delegates from FREE-BACKUP");
    assert_eq!(pair.p.ep().binding(&rp).map(|b| b.status), Some(BindingStatus::FreeBackup));
    clients.push(pfx);
    // a renews at the secondary, MCLT-bounded.
    let (r, _) = clients[0].rebind(&mut pair, Side::S).expect("rebind");
    assert_eq!(r, ra);
    let refs: Vec<&Client> = clients.iter().collect();
    assert_no_duplicates(&refs, pair.now);
    pair.heal();
    pair.advance(10);
    assert_eq!(pair.state(Side::P), St::Normal);
    assert_eq!(pair.state(Side::S), St::Normal);
    // Both now know every lease.
    for c in &clients {
        let r = c.holds(pair.now).expect("still held");
        for side in [Side::P, Side::S] {
            let b = pair.node(side).ep().binding(&r).expect("known to both");
            assert_eq!(b.status, BindingStatus::Active, "{side:?} {r}");
        }
    }
}

/// A partition during which the secondary is (wrongly) put in PARTNER-DOWN: on reconnect both
/// go to POTENTIAL-CONFLICT, exchange updates, and resolve to NORMAL through CONFLICT-DONE
/// (§8.4.2, §8.10, §8.12).
#[test]
fn partition_after_partner_down_resolves_through_potential_conflict() {
    let mut pair = normal_pair();
    let mut a = Client::new(1, IaKind::Na);
    a.obtain(&mut pair, Side::P).expect("a");
    pair.partition();
    pair.advance(11);
    pair.command(Side::S, Command::PartnerDown);
    assert_eq!(pair.state(Side::S), St::PartnerDown);
    let mut b = Client::new(2, IaKind::Na);
    let mut c = Client::new(3, IaKind::Na);
    b.obtain(&mut pair, Side::S).expect("secondary serves");
    c.obtain(&mut pair, Side::P).expect("primary serves");
    pair.heal();
    pair.advance(3);
    let saw_pc = |n: &Node| {
        n.events.iter().any(|e| {
            matches!(e, failover_model::Event::StateChanged { to: St::PotentialConflict, .. })
        })
    };
    assert!(saw_pc(&pair.p) && saw_pc(&pair.s), "both went through POTENTIAL-CONFLICT");
    assert!(pair
        .p
        .events
        .iter()
        .any(|e| matches!(e, failover_model::Event::StateChanged { to: St::ConflictDone, .. })));
    pair.advance(5);
    assert_eq!(pair.state(Side::P), St::Normal);
    assert_eq!(pair.state(Side::S), St::Normal);
    for cl in [&a, &b, &c] {
        let r = cl.holds(pair.now).expect("held");
        for side in [Side::P, Side::S] {
            assert_eq!(
                pair.node(side).ep().binding(&r).map(|b| b.status),
                Some(BindingStatus::Active)
            );
        }
    }
    assert_no_duplicates(&[&a, &b, &c], pair.now);
}

/// Total storage loss on the secondary: it restarts empty, learns from the primary's C flag
/// that it lost its storage and asks for everything with UPDREQALL (§8.5.2).
#[test]
fn storage_loss_recovered_with_updreqall() {
    let mut pair = normal_pair();
    let mut cs: Vec<Client> = (1..5).map(|i| Client::new(i, IaKind::Na)).collect();
    for c in &mut cs {
        c.obtain(&mut pair, Side::P).expect("lease");
    }
    pair.crash(Side::S, true, true);
    assert_eq!(pair.state(Side::P), St::CommunicationsInterrupted);
    pair.start(Side::S);
    pair.advance(3);
    assert!(
        pair.p.sent.is_empty()
            || pair
                .s
                .sent
                .iter()
                .any(|m| matches!(m.body, failover_model::MessageBody::UpdReqAll(_))),
        "the secondary sent UPDREQALL"
    );
    assert_eq!(pair.state(Side::S), St::RecoverWait);
    for c in &cs {
        let r = c.holds(pair.now).expect("held");
        assert_eq!(
            pair.s.ep().binding(&r).map(|b| b.status),
            Some(BindingStatus::Active),
            "relearned {r}"
        );
    }
    let backup = pair
        .s
        .ep()
        .bindings()
        .filter(|b| b.status == BindingStatus::FreeBackup && b.resource.is_prefix())
        .count();
    assert_eq!(backup, 8, "relearned its prefix share");
    // It lost its storage, so it waits the longest lifetime it hands out (600 s), not only the
    // MCLT: leases it granted in PARTNER-DOWN are known to nobody else (see `transition`).
    pair.advance(61);
    assert_eq!(pair.state(Side::S), St::RecoverWait);
    pair.advance(540);
    assert_eq!(pair.state(Side::S), St::Normal);
    assert_eq!(pair.state(Side::P), St::Normal);
}

/// Prefix hand-off to the secondary by POOLREQ and take-back when the share shrinks (§4.2.2),
/// refused for a prefix the secondary has delegated.
#[test]
fn prefix_handoff_and_takeback() {
    let mut pair = normal_pair();
    let mut cpe = Client::new(1, IaKind::Pd);
    // In NORMAL only the primary delegates; put the secondary in PD-free COMM-INT to use one.
    pair.partition();
    pair.advance(11);
    let (rp, _) = cpe.obtain(&mut pair, Side::S).expect("secondary delegates its own prefix");
    assert_eq!(pair.s.ep().binding(&rp).map(|b| b.status), Some(BindingStatus::Active));
    pair.heal();
    pair.advance(10);
    assert_eq!(pair.state(Side::P), St::Normal);
    // The operator shrinks the secondary's share to 0: the primary restarts with the new
    // configuration and takes back what the secondary has not delegated.
    pair.p.config.secondary_prefix_share = 0;
    pair.crash(Side::P, false, true);
    pair.start(Side::P);
    pair.advance(10);
    assert_eq!(pair.state(Side::P), St::Normal);
    assert_eq!(pair.state(Side::S), St::Normal);
    let backup_on_s =
        pair.s.ep().bindings().filter(|b| b.status == BindingStatus::FreeBackup).count();
    assert_eq!(backup_on_s, 0, "every free prefix taken back");
    assert_eq!(pair.p.ep().bindings().filter(|b| b.status == BindingStatus::FreeBackup).count(), 0);
    assert_eq!(
        pair.s.ep().binding(&rp).map(|b| b.status),
        Some(BindingStatus::Active),
        "the delegated one stays"
    );
    assert!(pair.s.events.iter().all(
        |e| !matches!(e, failover_model::Event::UpdateRejected { resource, .. } if *resource != rp)
    ));
    assert!(cpe.holds(pair.now).is_some());
}

/// Release and expiry go back to the owner's pool only after the partner's ack (§7.2 (4)).
#[test]
fn release_frees_after_ack() {
    let mut pair = normal_pair();
    let mut a = Client::new(1, IaKind::Na);
    let (r, _) = a.obtain(&mut pair, Side::P).expect("a");
    a.release(&mut pair, Side::P).expect("release answered");
    assert_eq!(pair.p.ep().binding(&r).map(|b| b.status), Some(BindingStatus::Free));
    assert_eq!(pair.s.ep().binding(&r).map(|b| b.status), Some(BindingStatus::Free));
    // Expiry: a lease nobody renews expires and is freed the same way.
    let mut b = Client::new(2, IaKind::Na);
    let (rb, v) = b.obtain(&mut pair, Side::P).expect("b");
    pair.advance(v + 1);
    assert_eq!(pair.p.ep().binding(&rb).map(|b| b.status), Some(BindingStatus::Free));
    let _ = Role::Primary;
}

/// Regression (found by `no_duplicate_allocation_under_a1`): the secondary crashes, the
/// primary is rightly put in PARTNER-DOWN and grants a full-length lease, then loses its
/// storage. Nobody else knows that lease, so recovery must not end after one MCLT.
#[test]
fn storage_loss_after_partner_down_waits_the_lease_time() {
    let mut pair = normal_pair();
    pair.crash(Side::S, false, false);
    pair.advance(11);
    pair.command(Side::P, Command::PartnerDown);
    let mut c1 = Client::new(2, IaKind::Na);
    let (r, valid) = c1.obtain(&mut pair, Side::P).expect("served in PD");
    assert_eq!(valid, 600);
    pair.crash(Side::P, true, false);
    pair.start(Side::P);
    pair.advance(26);
    pair.start(Side::S);
    pair.advance(34);
    assert_eq!(pair.state(Side::P), St::RecoverWait, "still waiting after one MCLT");
    let mut c0 = Client::new(1, IaKind::Na);
    assert!(c0.obtain(&mut pair, Side::P).is_none(), "unresponsive while waiting");
    pair.advance(600);
    assert_eq!(pair.state(Side::P), St::Normal);
    let (r0, _) = c0.obtain(&mut pair, Side::P).expect("served after the wait");
    assert!(c1.holds(pair.now).is_none() || r0 != r);
}

/// Regression (seed c352… of `no_duplicate_allocation_under_a1`): as above, but the primary
/// crashes again (storage kept) while it serves RECOVER-WAIT's long hold, and the secondary has
/// meanwhile been put in PARTNER-DOWN. On restart §8.3.2 step 5 compares the partner's PD start
/// with the primary's last operating time; taken literally that gives POTENTIAL-CONFLICT, and
/// conflict resolution ended in NORMAL without the hold. A server whose PREVIOUS-STATE is
/// RECOVER or RECOVER-WAIT goes back to RECOVER (docs/design.md) and waits again.
#[test]
fn crash_during_recover_wait_keeps_the_hold() {
    let mut pair = normal_pair();
    pair.crash(Side::S, false, false);
    pair.command(Side::P, Command::PartnerDown);
    let mut c1 = Client::new(2, IaKind::Pd);
    let (r, valid) = c1.obtain(&mut pair, Side::P).expect("served in PD");
    assert_eq!(valid, 600);
    pair.start(Side::S);
    pair.drive();
    // The primary loses its storage before it could tell the secondary.
    pair.crash(Side::P, true, false);
    pair.advance(5);
    pair.command(Side::S, Command::PartnerDown);
    pair.start(Side::P);
    pair.drive();
    assert_eq!(pair.state(Side::P), St::RecoverWait);
    pair.crash(Side::P, false, false);
    pair.advance(10);
    pair.start(Side::P);
    pair.drive();
    assert!(
        matches!(pair.state(Side::P), St::Recover | St::RecoverWait),
        "back to recovery, not {:?}",
        pair.state(Side::P)
    );
    let mut c0 = Client::new(5, IaKind::Pd);
    assert!(c0.obtain(&mut pair, Side::P).is_none(), "unresponsive while waiting");
    pair.advance(700);
    assert_eq!(pair.state(Side::P), St::Normal);
    let (r0, _) = c0.obtain(&mut pair, Side::P).expect("served after the wait");
    assert!(c1.holds(pair.now).is_none() || r0 != r);
}

/// The primary, in PARTNER-DOWN during a partition, grants a full-length lease; the partition
/// heals and both go to POTENTIAL-CONFLICT; the connection breaks before the primary sent its
/// update (both RESOLUTION-INTERRUPTED); the primary loses its storage. Restarted, it meets the
/// secondary in RESOLUTION-INTERRUPTED and goes RECOVER → POTENTIAL-CONFLICT → CONFLICT-DONE →
/// NORMAL (§8.5.2) without RECOVER-WAIT: nobody knows the lease any more, so new leases are held
/// back until every lease granted before the loss has run out (`Endpoint::allocation_held`).
#[test]
fn storage_loss_in_resolution_interrupted_holds_new_leases() {
    let mut pair = normal_pair();
    pair.partition();
    pair.advance(40);
    assert_eq!(pair.state(Side::P), St::CommunicationsInterrupted);
    pair.command(Side::P, Command::PartnerDown);
    let mut c1 = Client::new(2, IaKind::Na);
    let (r1, valid) = c1.obtain(&mut pair, Side::P).expect("served in PD");
    assert_eq!(valid, 600);
    pair.heal();
    // Connect by hand and deliver one message at a time until both are in POTENTIAL-CONFLICT.
    pair.connected = true;
    pair.input(Side::S, Input::ConnectionUp);
    pair.input(Side::P, Input::ConnectionUp);
    while !(pair.state(Side::P) == St::PotentialConflict
        && pair.state(Side::S) == St::PotentialConflict)
    {
        if let Some(m) = pair.to_s.pop_front() {
            pair.input(Side::S, Input::Partner(m));
        } else if let Some(m) = pair.to_p.pop_front() {
            pair.input(Side::P, Input::Partner(m));
        } else {
            panic!("settled before both reached POTENTIAL-CONFLICT");
        }
    }
    pair.partition();
    pair.advance(40);
    assert_eq!(pair.state(Side::P), St::ResolutionInterrupted);
    pair.crash(Side::P, true, false);
    pair.heal();
    pair.start(Side::P);
    pair.advance(20);
    assert_eq!(pair.state(Side::P), St::Normal, "conflict resolution, no RECOVER-WAIT");
    assert!(pair.node(Side::P).ep().allocation_held());
    let mut c2 = Client::new(3, IaKind::Na);
    assert!(c2.obtain(&mut pair, Side::P).is_none(), "no new lease during the hold");
    pair.advance(600);
    assert!(!pair.node(Side::P).ep().allocation_held());
    let (r2, _) = c2.obtain(&mut pair, Side::P).expect("served after the hold");
    assert!(c1.holds(pair.now).is_none() || r2 != r1);
}

/// The primary crashed (its storage kept) and is back, in RECOVER-WAIT, with the secondary put in
/// PARTNER-DOWN by the operator.
fn primary_back_in_recover_wait() -> Pair {
    let mut pair = normal_pair();
    pair.crash(Side::P, false, true);
    pair.command(Side::S, Command::PartnerDown);
    pair.advance(5);
    pair.start(Side::P);
    pair.advance(1);
    assert_eq!(pair.state(Side::P), St::RecoverWait);
    assert_eq!(pair.state(Side::S), St::PartnerDown);
    pair
}

/// A server in PARTNER-DOWN keeps its partner informed while the partner recovers: a lease it
/// grants while the partner is in RECOVER-WAIT goes out as a BNDUPD at once. Held back until
/// its own NORMAL, the update queued behind its STATE(NORMAL), on which the partner enters NORMAL
/// and may allocate the same prefix first (found by the model checker, `deep`).
#[test]
fn partner_down_updates_a_recovering_partner_at_once() {
    let mut pair = primary_back_in_recover_wait();
    assert_eq!(pair.state(Side::S), St::PartnerDown);
    let mut c = Client::new(7, IaKind::Pd);
    let (r, _) = c.obtain(&mut pair, Side::S).expect("served in PARTNER-DOWN");
    let p_knows = pair.node(Side::P).ep().binding(&r).is_some_and(|b| b.client.is_some());
    assert!(p_knows, "the recovering primary learned {r:?} before leaving RECOVER-WAIT");
}

/// §8.7 interlock when the partner reached RECOVER-DONE while apart (§8.6.2: the RECOVER-WAIT
/// timer runs while communications are down): a prefix the secondary delegated in
/// PARTNER-DOWN after the primary's update request is known to the primary before the primary
/// enters NORMAL. Sent after the secondary's STATE(NORMAL), the update arrived after the primary
/// had entered NORMAL and could allocate the same prefix (found by the random walks, seeds 5227
/// and 1000190 of `failover-check walk --config walk`).
#[test]
fn partner_down_updates_a_recover_done_partner_before_normal() {
    let mut pair = primary_back_in_recover_wait();
    // Apart now; the primary's RECOVER-WAIT timer moves it to RECOVER-DONE on its own.
    pair.partition();
    let mut waited = 0;
    while pair.state(Side::P) != St::RecoverDone {
        pair.advance(60);
        waited += 60;
        assert!(waited < 10 * 86_400, "RECOVER-WAIT never ended: {:?}", pair.state(Side::P));
    }
    assert_eq!(pair.state(Side::S), St::PartnerDown);
    let mut c = Client::new(7, IaKind::Pd);
    let (r, _) = c.obtain(&mut pair, Side::S).expect("served in PARTNER-DOWN");
    // Back together, one delivery or timer at a time, until the primary is in NORMAL.
    pair.heal();
    for _ in 0..100_000 {
        if pair.state(Side::P) == St::Normal {
            let p_knows = pair.node(Side::P).ep().binding(&r).is_some_and(|b| b.client.is_some());
            assert!(p_knows, "the primary entered NORMAL before it learned of {r:?}");
            return;
        }
        if !pair.step() {
            let next = [Side::P, Side::S]
                .into_iter()
                .filter_map(|side| pair.node(side).ep().next_deadline().map(|at| (at, side)))
                .min()
                .expect("a timer is armed");
            pair.now = pair.now.max(next.0);
            pair.input(next.1, Input::Timeout);
        }
    }
    panic!("the primary never reached NORMAL: {:?}", pair.state(Side::P));
}

/// RFC 8415 §16: a SOLICIT (likewise CONFIRM, REBIND, INFORMATION-REQUEST) that reached a
/// unicast address without a relay is discarded; the same SOLICIT by multicast is answered.
/// §18.4: a unicast REQUEST is answered with UseMulticast and grants nothing.
#[test]
fn unicast_solicit_discarded_unicast_request_told_to_use_multicast() {
    let mut pair = normal_pair();
    let c = Client::new(9, IaKind::Na);
    for kind in [
        ClientMsgKind::Solicit,
        ClientMsgKind::Rebind,
        ClientMsgKind::Confirm,
        ClientMsgKind::InformationRequest,
    ] {
        let mut sol = c.req(kind, None, false);
        sol.unicast = true;
        sol.tag = 1_000_000;
        let out = pair.input(Side::P, Input::Client(sol));
        assert!(
            out.iter().any(|o| matches!(
                o,
                Output::Silence { tag: 1_000_000, reason: SilenceReason::Unicast }
            )),
            "{kind:?} by unicast: {out:?}"
        );
        assert!(!out.iter().any(|o| matches!(o, Output::Reply(_))), "{out:?}");
        pair.drive();
    }
    let sol = c.req(ClientMsgKind::Solicit, None, false);
    let adv = pair.ask(Side::P, sol).expect("multicast SOLICIT answered");
    assert_eq!(adv.kind, ReplyKind::Advertise);
    let mut req = c.req(ClientMsgKind::Request, Some(pair.server_duid(Side::P)), false);
    req.ias[0].leases = adv.ias[0]
        .leases
        .iter()
        .map(|l| RequestedLease { resource: l.resource, preferred_lifetime: 0, valid_lifetime: 0 })
        .collect();
    req.unicast = true;
    let reply = pair.ask(Side::P, req).expect("unicast REQUEST answered");
    assert_eq!(reply.status, Some(DhcpStatus::UseMulticast));
    assert!(reply.ias.is_empty(), "nothing granted: {reply:?}");
}

/// One address per half, no delegable prefixes, one update in flight at a time: the model
/// checker's world, where the pool has nothing to skip.
fn one_address_per_half_pair() -> Pair {
    let cfg = |role| {
        let mut c = test_config(role);
        c.address_pools = vec![failover_model::config::AddressPool {
            first: "2001:db8:1::1".parse().expect("address"),
            last: "2001:db8:1::2".parse().expect("address"),
        }];
        c.prefix_pools = Vec::new();
        c.max_unacked_bndupd = 1;
        c
    };
    let mut pair = Pair::new(cfg(Role::Primary), cfg(Role::Secondary), 100_000);
    pair.advance(10);
    assert_eq!((pair.state(Side::P), pair.state(Side::S)), (St::Normal, St::Normal));
    pair
}

/// Moves the clock to `at` (no timer falls due on the way) without delivering anything.
fn set_clock(pair: &mut Pair, at: Time) {
    let before = pair.now;
    pair.advance(at.0.saturating_sub(before.0).saturating_sub(1));
    pair.now = at;
}

/// A connection reset: both sides see the transport close, whatever was in flight is lost.
fn reset_connection(pair: &mut Pair) {
    pair.connected = false;
    pair.to_p.clear();
    pair.to_s.clear();
    pair.input(Side::P, Input::ConnectionDown);
    pair.input(Side::S, Input::ConnectionDown);
}

/// The model checker's shrunk S1 trace (`tiny --set client_ops=3 --set clients=2`, and
/// `partition --set client_ops=3` with a partition instead of the reset): client C's lease L
/// runs out; the secondary's BNDUPD(EXPIRED) reaches the primary, which acks it and so frees L;
/// the connection resets before the BNDREPLY gets back. In COMMUNICATIONS-INTERRUPTED C asks the
/// secondary again, and the primary gives its FREE L to a new client D. §4.2.2.1 / §8.8.1: once
/// a BNDUPD about the EXPIRED lease was sent, it may not go back to the same client.
#[test]
fn regression_expired_lease_back_to_its_client_after_a_reset() {
    let mut pair = one_address_per_half_pair();
    let mut c = Client::new(1, IaKind::Na);
    let (l, _) = c.obtain(&mut pair, Side::P).expect("C gets the primary's address");
    assert!(odd(l));
    let end = pair.s.ep().binding(&l).expect("replicated").client_expiry;
    set_clock(&mut pair, end);
    // The secondary's expiry fires first; its BNDUPD(EXPIRED) reaches the primary.
    pair.input(Side::S, Input::Timer(failover_model::Timer::Expiry));
    let upd = pair.to_p.pop_front().expect("BNDUPD(EXPIRED) on its way");
    pair.input(Side::P, Input::Partner(upd));
    assert!(
        pair.p.ep().binding(&l).is_some_and(|b| b.status == BindingStatus::Free),
        "the primary's ack freed L"
    );
    // The BNDREPLY is lost with the connection.
    reset_connection(&mut pair);
    assert_eq!(pair.state(Side::S), St::CommunicationsInterrupted);
    // C comes back to the secondary; D is new at the primary.
    c.lease = None;
    let got = c.obtain(&mut pair, Side::S);
    assert_ne!(got.map(|g| g.0), Some(l), "the secondary gave the announced EXPIRED L back to C");
    let mut d = Client::new(2, IaKind::Na);
    let (ld, _) = d.obtain(&mut pair, Side::P).expect("D gets an address from the primary");
    assert_eq!(ld, l, "the primary reuses its FREE L");
    assert_no_duplicates(&[&c, &d], pair.now);
}

/// The model checker's S1 trace with a crash (`pd-crash --set client_ops=3`): both servers
/// expire L; the primary acks the secondary's EXPIRED (L FREE) and gives L to a new client D in
/// NORMAL, then crashes before that update leaves. The secondary, put in PARTNER-DOWN, then
/// reads the BNDREPLY for its EXPIRED (so nothing is pending any more; in PARTNER-DOWN the ack
/// does not free it) and must not give L back to C: a BNDUPD about it was sent.
#[test]
fn regression_expired_lease_back_to_its_client_in_partner_down() {
    let mut pair = one_address_per_half_pair();
    let mut c = Client::new(1, IaKind::Na);
    let (l, _) = c.obtain(&mut pair, Side::P).expect("C gets the primary's address");
    let end = pair.s.ep().binding(&l).expect("replicated").client_expiry;
    set_clock(&mut pair, end);
    pair.input(Side::S, Input::Timer(failover_model::Timer::Expiry));
    pair.input(Side::P, Input::Timer(failover_model::Timer::Expiry));
    // The primary reads the secondary's EXPIRED (agreement: accepted, L FREE) and answers.
    let upd = pair.to_p.pop_front().expect("secondary's BNDUPD(EXPIRED)");
    pair.input(Side::P, Input::Partner(upd));
    assert!(pair.p.ep().binding(&l).is_some_and(|b| b.status.is_available()));
    // D, new, gets L from the primary in NORMAL; its update waits behind the primary's own
    // unacked BNDUPD(EXPIRED) (one update in flight), and the primary crashes.
    let mut d = Client::new(2, IaKind::Na);
    let adv = {
        let mut req = d.req(ClientMsgKind::Solicit, None, false);
        req.tag = 900;
        pair.input(Side::P, Input::Client(req));
        pair.p.replies.iter().rev().find(|r| r.tag == 900).cloned().expect("advertise")
    };
    let offered = adv.ias[0].leases.first().expect("offer").resource;
    assert_eq!(offered, l);
    let mut req = d.req(ClientMsgKind::Request, Some(pair.server_duid(Side::P)), false);
    req.tag = 901;
    req.ias[0].leases =
        vec![RequestedLease { resource: l, preferred_lifetime: 0, valid_lifetime: 0 }];
    pair.input(Side::P, Input::Client(req));
    let reply = pair.p.replies.iter().rev().find(|r| r.tag == 901).cloned().expect("reply");
    d.accept(&pair, Side::P, &reply).expect("D holds L");
    // The primary dies; what it had written to the socket still arrives, then the FIN.
    pair.p.ep = None;
    pair.to_p.clear();
    let d_update_left = pair.to_s.iter().any(|m| match &m.body {
        MessageBody::BndUpd(u) => {
            matches!(&u.payload, Some(BindingPayload::Client(cd)) if cd.client_id == d.duid)
        }
        _ => false,
    });
    assert!(!d_update_left, "D's update is still queued on the primary when it dies");
    // The operator, correctly, declares the primary down; the secondary then reads the rest.
    pair.input(Side::S, Input::Command(Command::PartnerDown));
    assert_eq!(pair.state(Side::S), St::PartnerDown);
    while let Some(m) = pair.to_s.pop_front() {
        pair.input(Side::S, Input::Partner(m));
    }
    pair.connected = false;
    pair.to_p.clear();
    pair.input(Side::S, Input::ConnectionDown);
    let rec = pair.s.ep().binding(&l).expect("record");
    assert_eq!(rec.status, BindingStatus::Expired, "PARTNER-DOWN waits before freeing L");
    assert!(!rec.pending, "the BNDREPLY acked the secondary's EXPIRED");
    // C comes back to the secondary.
    c.lease = None;
    let got = c.obtain(&mut pair, Side::S);
    assert_ne!(got.map(|g| g.0), Some(l), "the secondary gave L back to C while D holds it");
    assert_no_duplicates(&[&c, &d], pair.now);
}

/// §8.3.1: a STATE sent in STARTUP carries the previously recorded state with the STARTUP
/// flag: a primary that crashed in NORMAL says NORMAL (not COMMUNICATIONS-INTERRUPTED, the
/// value §8.3.2 step 2 gives PREVIOUS-STATE).
#[test]
fn startup_state_carries_the_recorded_state() {
    let mut pair = normal_pair();
    pair.crash(Side::P, false, true);
    pair.advance(3);
    pair.p.sent.clear();
    pair.start(Side::P);
    pair.drive();
    let first = pair
        .p
        .sent
        .iter()
        .find_map(|m| match &m.body {
            MessageBody::State(o) => Some(o.clone()),
            _ => None,
        })
        .expect("the restarted primary sends STATE");
    assert!(first.flags.is_some_and(|f| f.startup), "STARTUP flag set");
    assert_eq!(first.server_state, Some(St::Normal), "the recorded state, before step 2");
}

/// §8.7.1: in RECOVER-DONE a server changes only the leases that appear in the RENEW. A RENEW
/// whose IA names no address is answered with the IA's leases as they stand, none extended
/// (elsewhere such a RENEW renews every lease of the IA, RFC 8415 §18.3.4).
#[test]
fn recover_done_changes_only_the_leases_named_in_a_renew() {
    let mut pair = normal_pair();
    let mut c = Client::new(1, IaKind::Na);
    let (l, _) = c.obtain(&mut pair, Side::P).expect("lease");
    pair.advance(30);
    c.renew(&mut pair, Side::P).expect("full lease");
    // The primary restarts and recovers; the link fails during RECOVER-WAIT, so RECOVER-DONE
    // (entered when the timer fires, even without comms, §8.6.2) lasts.
    pair.crash(Side::P, false, true);
    pair.advance(2);
    pair.command(Side::S, Command::PartnerDown);
    pair.advance(2);
    pair.start(Side::P);
    pair.advance(8);
    assert_eq!(pair.state(Side::P), St::RecoverWait);
    pair.partition();
    pair.advance(70);
    assert_eq!(pair.state(Side::P), St::RecoverDone);
    let before = pair.p.ep().binding(&l).cloned().expect("record");
    // A RENEW whose IA lists no address.
    let mut req = c.req(ClientMsgKind::Renew, Some(pair.server_duid(Side::P)), false);
    req.ias[0].leases.clear();
    let reply = pair.ask(Side::P, req).expect("renew-responsive");
    let ia = &reply.ias[0];
    let lease = ia.leases.first().expect("the IA's lease, as it stands");
    assert_eq!(lease.resource, l);
    assert_eq!(
        lease.valid_lifetime,
        before.client_expiry.since(pair.now),
        "remaining lifetime, not extended"
    );
    let after = pair.p.ep().binding(&l).cloned().expect("record");
    assert_eq!(after.client_expiry, before.client_expiry, "the lease was not changed");
    assert_eq!(after.version, before.version);
    // Naming it renews it (§8.7.1 MAY).
    let (r, valid) = c.renew(&mut pair, Side::P).expect("named lease renewed");
    assert_eq!(r, l);
    assert!(pair.now.plus(valid) >= before.client_expiry);
}

/// §5.3.5, §5.3.7: UPDDONE answers the updates that were requested, not every change the
/// partner makes afterwards. The primary restarts while the secondary, in PARTNER-DOWN, keeps
/// granting a new lease for every message that crosses the link, faster than one update at a
/// time can replicate them: the primary still reaches RECOVER-WAIT after the backlog it asked
/// for (it used to wait for a moment with nothing pending at all, which this load never gives).
#[test]
fn upddone_comes_under_load_faster_than_replication() {
    let cfg = |role| {
        let mut c = test_config(role);
        c.address_pools = vec![failover_model::config::AddressPool {
            first: "2001:db8:1::100".parse().expect("address"),
            last: "2001:db8:1::2ff".parse().expect("address"),
        }];
        c.max_unacked_bndupd = 1;
        c.rapid_commit = true;
        c
    };
    let mut pair = Pair::new(cfg(Role::Primary), cfg(Role::Secondary), 100_000);
    pair.advance(10);
    assert_eq!((pair.state(Side::P), pair.state(Side::S)), (St::Normal, St::Normal));
    pair.crash(Side::P, false, true);
    pair.command(Side::S, Command::PartnerDown);
    assert_eq!(pair.state(Side::S), St::PartnerDown);
    let mut next_id = 1u8;
    let mut grant = |pair: &mut Pair| {
        let c = Client::new(next_id, IaKind::Na);
        next_id += 1;
        let mut req = c.req(ClientMsgKind::Solicit, None, false);
        req.rapid_commit = true;
        let reply = pair.ask_undelivered(Side::S, req).expect("PARTNER-DOWN answers");
        assert!(reply.ias[0].leases.iter().any(|l| l.valid_lifetime > 0), "a new lease");
    };
    for _ in 0..5 {
        grant(&mut pair);
    }
    pair.advance(2);
    pair.start(Side::P);
    let mut steps = 0;
    while pair.state(Side::P) != St::RecoverWait && steps < 60 {
        assert!(pair.step(), "something is always in flight");
        steps += 1;
        grant(&mut pair);
    }
    assert_eq!(pair.state(Side::P), St::RecoverWait, "UPDDONE after {steps} deliveries");
    let backlog = pair.s.ep().status_report(pair.now).pending_updates;
    assert!(backlog > 0, "the load outran replication (backlog {backlog})");
}

/// The primary's retry delays announced with each connection rejection (§6.1 back-off).
fn retry_delays(pair: &Pair) -> Vec<Option<u32>> {
    pair.p
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ConnectionRejected { retry_in, .. } => Some(*retry_in),
            _ => None,
        })
        .collect()
}

/// A secondary whose clock is 10 s ahead rejects every CONNECT for time skew (§6.1.2, and the
/// primary sees the skew on the CONNECTREPLY). §6.1: after a rejection the primary SHOULD
/// reduce the frequency of its attempts: over a simulated minute at a 2 s interval it tries a
/// handful of times (the delay doubles with each rejection), not once per interval (~30).
#[test]
fn skewed_secondary_rejections_back_the_primary_off() {
    let (p, s) = (test_config(Role::Primary), test_config(Role::Secondary));
    assert_eq!(p.reconnect_interval, 2);
    let mut pair = Pair::new_skewed(p, s, 100_000, 10);
    pair.advance(60);
    assert!(!pair.p.ep().comms_ok(), "a skewed pair never has comms OK");
    let attempts = pair.p.connects;
    assert!(attempts <= 6, "{attempts} connection attempts in 60 s (back-off: about log2(60/2))");
    assert!(attempts >= 3, "the primary MUST keep trying (§6.1): {attempts} attempts");
    // Each rejection was a time skew, and each doubled the delay from the interval.
    assert!(pair.p.events.iter().all(|e| !matches!(
        e,
        Event::ConnectionRejected { rejection, .. } if *rejection != Rejection::TimeSkew
    )));
    let delays = retry_delays(&pair);
    assert_eq!(delays[..4], [Some(4), Some(8), Some(16), Some(32)], "{delays:?}");
    // The secondary counted its rejections too (it does not connect: no retry delay).
    assert!(pair.s.events.iter().any(|e| matches!(
        e,
        Event::ConnectionRejected { rejection: Rejection::TimeSkew, retry_in: None, .. }
    )));
    // The delay stops growing at the cap (64 × 2 s here, under the 300 s bound) and the primary
    // keeps trying.
    pair.advance(1_000);
    let delays = retry_delays(&pair);
    assert_eq!(delays.iter().copied().max().flatten(), Some(128), "{delays:?}");
    assert_eq!(delays.last().copied().flatten(), Some(128));
}

/// The back-off lasts only while rejections follow each other: once the clock is fixed and
/// comms reach OK, the next rejection waits twice the interval again, not the grown delay.
#[test]
fn connection_backoff_resets_once_comms_are_ok() {
    let mut pair =
        Pair::new_skewed(test_config(Role::Primary), test_config(Role::Secondary), 100_000, 10);
    pair.advance(60);
    let before = retry_delays(&pair);
    assert!(before.last().copied().flatten() >= Some(32), "{before:?}");
    // NTP fixes the secondary's clock: the next attempt (within the grown delay) succeeds.
    pair.s.ahead = 0;
    for _ in 0..40 {
        pair.advance(5);
        if pair.p.ep().comms_ok() && pair.s.ep().comms_ok() {
            break;
        }
    }
    assert!(pair.p.ep().comms_ok(), "no connection once the clocks agree");
    // The clock jumps again: the first rejection backs off from the interval again.
    let seen = retry_delays(&pair).len();
    pair.s.ahead = 10;
    pair.advance(30);
    let after = retry_delays(&pair);
    assert!(after.len() > seen, "the new skew was not noticed");
    assert_eq!(after[seen], Some(4), "back-off not reset by comms OK: {after:?}");
}
