//! The timer contract (`failover_model::io`, *Timers*): the endpoint's timer map is the one
//! source of truth, `next_deadline()` says when to wake it, and `Input::Timeout` fires every due
//! timer by deadline, then `Timer` order, each at most once, re-checking after each.

mod common;

use common::{test_config, Client, Pair, Side};
use failover_model::{
    Config, DurableImage, DurableWrite, Endpoint, EndpointState, IaKind, Input, Output, Role,
    StateRecord, Time, Timer,
};

fn recorded(state: EndpointState) -> DurableImage {
    DurableImage {
        state: Some(StateRecord {
            state,
            start_time_of_state: Time(500),
            partner_state: Some(EndpointState::Normal),
            partner_state_start: Time(400),
            partner_down_time: Time(0),
            last_operating_time: Time(900),
            time_of_failure: Time(0),
            mclt: 3600,
            communicated: true,
            partner_communicated: true,
            recovering_all: false,
        }),
        bindings: Default::default(),
    }
}

/// What `Input::Timeout` must do, spelled out with the checker's one-timer hook: pick the due
/// timer with the earliest (deadline, timer) not yet fired in this step, fire it with
/// `Input::Timer`, look again.
fn fire_one_by_one(ep: &mut Endpoint, now: Time) -> (Vec<Timer>, Vec<Output>) {
    let mut fired = Vec::new();
    let mut out = Vec::new();
    while let Some(t) = ep
        .timers()
        .iter()
        .filter(|(t, at)| **at <= now && !fired.contains(*t))
        .min_by_key(|(t, at)| (**at, **t))
        .map(|(t, _)| *t)
    {
        fired.push(t);
        out.extend(ep.handle(now, Input::Timer(t)));
    }
    (fired, out)
}

#[test]
fn next_deadline_is_the_earliest_armed_timer() {
    let now = Time(1000);
    let (ep, out) =
        Endpoint::restore(Config::example(Role::Secondary), &recorded(EndpointState::Normal), now);
    let earliest = ep.timers().values().min().copied();
    assert!(earliest.is_some(), "STARTUP is timed");
    assert_eq!(ep.next_deadline(), earliest);
    assert!(out.iter().all(|o| matches!(o, Output::Event(_))), "no timer outputs: {out:?}");
}

/// Nothing due: a timeout is a no-op (a driver that wakes early does no harm).
#[test]
fn a_timeout_with_nothing_due_changes_nothing() {
    let now = Time(1000);
    let (mut ep, _) =
        Endpoint::restore(Config::example(Role::Primary), &recorded(EndpointState::Normal), now);
    let before = ep.clone();
    let at = ep.next_deadline().expect("a deadline");
    assert!(ep.handle(at.minus(1), Input::Timeout).is_empty());
    assert_eq!(ep, before);
    assert_eq!(ep.next_deadline(), Some(at));
}

/// Two timers due at the same deadline fire in `Timer` order: STARTUP (§8.3.2 step 6: NORMAL
/// recorded → COMMUNICATIONS-INTERRUPTED) before the heartbeat, so the heartbeat records the new
/// state. The other way round, the first record written would still say NORMAL.
#[test]
fn equal_deadlines_fire_in_timer_order() {
    let now = Time(1000);
    let mut cfg = Config::example(Role::Secondary);
    cfg.startup_time = 30;
    cfg.heartbeat_interval = 30;
    let (mut ep, _) = Endpoint::restore(cfg, &recorded(EndpointState::Normal), now);
    assert_eq!(ep.timers().get(&Timer::Startup), ep.timers().get(&Timer::Heartbeat));
    let out = ep.handle(now.plus(30), Input::Timeout);
    let states: Vec<EndpointState> = out
        .iter()
        .filter_map(|o| match o {
            Output::Persist(DurableWrite::State(r)) => Some(r.state),
            _ => None,
        })
        .collect();
    assert!(states.len() >= 2, "the transition and the heartbeat are both written: {states:?}");
    assert!(states.iter().all(|s| *s == EndpointState::CommunicationsInterrupted), "{states:?}");
    assert_eq!(ep.state(), EndpointState::CommunicationsInterrupted);
    // Both fired: the heartbeat is re-armed one interval later, STARTUP is gone.
    assert_eq!(ep.timers().get(&Timer::Heartbeat), Some(&now.plus(60)));
    assert!(!ep.timers().contains_key(&Timer::Startup));
}

/// One timeout is exactly the due timers fired one by one through `Input::Timer` in the
/// documented order, re-checking after each: same outputs, same endpoint. Checked on both
/// servers of a pair that was in NORMAL with a client lease, then cut off and left alone far
/// past every deadline (keepalive, contact, update scan, heartbeat, expiry all due at once).
#[test]
fn a_timeout_is_the_due_timers_fired_in_order() {
    let mut pair = Pair::default_pair();
    pair.advance(10);
    pair.drive();
    assert_eq!(pair.state(Side::P), EndpointState::Normal);
    let mut c = Client::new(1, IaKind::Na);
    c.obtain(&mut pair, Side::P).expect("a lease");
    pair.partition();
    let late = pair.now.plus(5_000);
    for side in [Side::P, Side::S] {
        let ep = pair.node(side).ep().clone();
        let due = ep.timers().values().filter(|at| **at <= late).count();
        assert!(due >= 3, "{side:?}: several timers due at once ({:?})", ep.timers());
        let mut by_timeout = ep.clone();
        let out = by_timeout.handle(late, Input::Timeout);
        let mut one_by_one = ep.clone();
        let (fired, expected) = fire_one_by_one(&mut one_by_one, late);
        assert!(fired.len() >= 3, "{side:?}: fired {fired:?}");
        assert_eq!(out, expected, "{side:?}");
        assert_eq!(by_timeout, one_by_one, "{side:?}");
        // Each timer fired at most once: whatever is still due was re-armed by this step.
        for (t, at) in by_timeout.timers() {
            assert!(*at > late || fired.contains(t), "{side:?}: {t:?} due and never fired");
        }
    }
}

/// A timer cancelled by one that fires before it in the same timeout does not fire: the
/// keepalive expiring (§6.6) drops the connection, which disarms the update scan.
#[test]
fn a_timer_cancelled_by_an_earlier_one_does_not_fire() {
    let mut cfg_p = test_config(Role::Primary);
    // The scan falls due after the keepalive, both before the timeout.
    cfg_p.update_scan_interval = 1_000;
    let mut pair = Pair::new(cfg_p, test_config(Role::Secondary), 100_000);
    pair.advance(10);
    pair.drive();
    assert_eq!(pair.state(Side::P), EndpointState::Normal);
    pair.partition();
    let ep = pair.node(Side::P).ep().clone();
    let keepalive = *ep.timers().get(&Timer::Keepalive).expect("keepalive armed");
    let scan = *ep.timers().get(&Timer::UpdateScan).expect("update scan armed");
    assert!(keepalive < scan);
    let mut by_timeout = ep.clone();
    by_timeout.handle(scan, Input::Timeout);
    assert!(!by_timeout.comms_ok());
    assert!(!by_timeout.timers().contains_key(&Timer::UpdateScan), "cancelled, not re-armed");
    let (fired, _) = fire_one_by_one(&mut ep.clone(), scan);
    assert!(fired.contains(&Timer::Keepalive) && !fired.contains(&Timer::UpdateScan), "{fired:?}");
}
