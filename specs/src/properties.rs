//! The properties, named after the digest's §10 ids (`rfc8156.md`), each citing RFC 8156.
//!
//! Every property is one row of [`TABLE`]: its name, the RFC section it checks, its kind
//! (`always` or `sometimes`) and its check, one function over either
//! - the world ([`Over::World`]): state invariants (S1, S3, S16, L1, L5, D1) and the
//!   `sometimes` coverage goals; or
//! - the record of one step ([`Over::Step`], a [`Step`]: the world before, the action, every
//!   input fed to a server with its outputs in order, the world after). The model evaluates
//!   every step property on every step and keeps a failed verdict as a sticky bit of
//!   [`crate::world::Ghost::violations`] (bit `k` for row `k`); the property reads the bit,
//!   so the counterexample ends at the step that broke it. Some step properties read the core's
//!   reference executor's own checks (`failover_model::exec::Check`, reported in
//!   [`crate::step::Fed::violations`]: S5, S5b, S6, S17, S19, S20, S21, S24, S32, I1), which
//!   the core's tests and the replay of runtime traces perform too.
//!
//! Adding a property is adding its function and its row. The environment
//! ([`crate::model`]) never reads this module; the [`stateright::Model`] implementation
//! ([`crate::spec`]) reads the table.

use crate::goals;
use crate::model::{own_free, partner_free, Action, ClientOp, FailoverModel};
use crate::step::{grants, told, Fed, Grant, Step};
use crate::world::{fault, idx, Client, World};
use failover_model::dhcp::client::{ClientMsgKind, ClientReply, ClientRequest};
use failover_model::exec::Check;
use failover_model::failover::message::MessageBody;
use failover_model::leases::binding::BindingStatus;
use failover_model::{Duid, Endpoint, EndpointState, Input, Role, Time, Timer};
use stateright::Property;
use std::collections::BTreeMap;

/// Property names, for the requirements map, the tests and the command line.
pub mod name {
    /// S1.
    pub const S1: &str = "S1 no duplicate allocation";
    /// S2.
    pub const S2: &str = "S2 MCLT bound at grant";
    /// S3.
    pub const S3: &str = "S3 partner durably knows the acked lifetime";
    /// S4.
    pub const S4: &str = "S4 client expiry covered by partner's durable knowledge";
    /// S5.
    pub const S5: &str = "S5 BNDREPLY only after the update is durable";
    /// S5b.
    pub const S5B: &str = "S5b REPLY only after the grant is durable";
    /// I1.
    pub const I1: &str = "I1 the endpoint's invariants hold after every step";
    /// S7.
    pub const S7: &str = "S7 no reuse for another client without ack outside PARTNER-DOWN";
    /// S8.
    pub const S8: &str = "S8 PARTNER-DOWN reuse waits the MCLT";
    /// S9.
    pub const S9: &str = "S9 PARTNER-DOWN partner-pool wait";
    /// S10.
    pub const S10: &str = "S10 pool ownership outside PARTNER-DOWN";
    /// S13.
    pub const S13: &str = "S13 unresponsive states stay silent";
    /// S14.
    pub const S14: &str = "S14 NORMAL secondary is renew-responsive and never allocates";
    /// S15.
    pub const S15: &str = "S15 RECOVER-DONE never allocates";
    /// S16.
    pub const S16: &str = "S16 flow control: unacked BNDUPDs within MAX_UNACKED_BNDUPD";
    /// S17.
    pub const S17: &str = "S17 state transitions are persisted";
    /// S17b.
    pub const S17B: &str = "S17b every state change is sent in a STATE while comms are OK";
    /// S21.
    pub const S21: &str = "S21 PARTNER-DOWN ignores STATE with STARTUP flag";
    /// S22.
    pub const S22: &str = "S22 PARTNER_DOWN_TIME in STATE exactly in PARTNER-DOWN";
    /// S23.
    pub const S23: &str = "S23 RECOVER-WAIT holds until the time of failure + MCLT";
    /// S25.
    pub const S25: &str = "S25 UPDREQALL after a storage loss";
    /// S24.
    pub const S24: &str = "S24 POTENTIAL-CONFLICT is left only by UPDDONE";
    /// S24b.
    pub const S24B: &str = "S24b reconnect goes through POTENTIAL-CONFLICT";
    /// S28.
    pub const S28: &str = "S28 no CONNECT accepted with a time skew over 5 s";
    /// S30.
    pub const S30: &str = "S30 new leases are at least 30 s";
    /// S31.
    pub const S31: &str = "S31 an announced EXPIRED or RELEASED lease is not re-granted";
    /// L9.
    pub const L9: &str = "L9 lease stability: renewals by the granting server succeed";
    /// L9b.
    pub const L9B: &str = "L9b renewals succeed whichever server granted the lease";
    /// S6.
    pub const S6: &str = "S6 every BNDUPD gets its BNDREPLY";
    /// S18.
    pub const S18: &str = "S18 MCLT agreement in CONNECTREPLY";
    /// S19.
    pub const S19: &str = "S19 connection roles";
    /// S20.
    pub const S20: &str = "S20 STARTUP signalling in STATE";
    /// S13b.
    pub const S13B: &str = "S13b responsive states answer every client";
    /// S32.
    pub const S32: &str = "S32 a settled live lease is never given to another client by an update";
    /// L1.
    pub const L1: &str = "L1 reintegration to NORMAL within K after faults stop";
    /// L2.
    pub const L2: &str = "L2 a quiet connection leaves no BNDUPD unanswered";
    /// L5.
    pub const L5: &str = "L5 after heal and restart, NORMAL from the end of every run";
    /// L6.
    pub const L6: &str = "L6 a disconnected primary always has a connection attempt ahead";
    /// L7.
    pub const L7: &str = "L7 a silent partner is declared down within the keepalive time";
    /// L8.
    pub const L8: &str = "L8 auto-partner-down follows COMMUNICATIONS-INTERRUPTED";
    /// D1.
    pub const D1: &str = "D1 no deadlock while connected";
}

/// What a property's check reads.
#[derive(Clone, Copy)]
pub enum Over {
    /// The world: a state invariant, or a `sometimes` goal.
    World(fn(&FailoverModel, &World) -> bool),
    /// The record of one step (only for `always`): its verdict is kept as a sticky bit.
    Step(fn(&FailoverModel, &Step<'_>) -> bool),
}

/// `always` (a safety property, or liveness bounded by a deadline) or `sometimes` (a
/// coverage goal: an example must exist). `eventually` is not used: it is unsound on the
/// cycles timers create (MODELCHECK.md §1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Holds in every reachable world / step.
    Always,
    /// Holds in some reachable world.
    Sometimes,
}

/// One property: a row of [`TABLE`].
#[derive(Clone, Copy)]
pub struct Spec {
    /// Its name (the `properties::name` constant for the `always` ones).
    pub name: &'static str,
    /// The RFC 8156 section(s) it checks (another RFC is named).
    pub rfc: &'static str,
    /// `always` or `sometimes`.
    pub kind: Kind,
    /// Its check.
    pub check: Over,
}

const fn world(
    name: &'static str,
    rfc: &'static str,
    f: fn(&FailoverModel, &World) -> bool,
) -> Spec {
    Spec { name, rfc, kind: Kind::Always, check: Over::World(f) }
}

const fn step(
    name: &'static str,
    rfc: &'static str,
    f: fn(&FailoverModel, &Step<'_>) -> bool,
) -> Spec {
    Spec { name, rfc, kind: Kind::Always, check: Over::Step(f) }
}

const fn goal(
    name: &'static str,
    rfc: &'static str,
    f: fn(&FailoverModel, &World) -> bool,
) -> Spec {
    Spec { name, rfc, kind: Kind::Sometimes, check: Over::World(f) }
}

/// Every property of the model, in the order the checker reports them. A step property's
/// verdict is bit `k` of [`crate::world::Ghost::violations`], `k` its index here.
pub const TABLE: &[Spec] = &[
    world(name::S1, "RFC 7031 §7 req. 4, 7, 8; §4.4", s1),
    step(name::S2, "§3, §4.4, §8.8.1, §8.9.1, §8.11.1", s2),
    world(name::S3, "§4.4.1, §7.5.2, §7.3", s3),
    step(name::S4, "§4.4", s4),
    step(name::S5, "§7.5.2, §4.4.1", s5),
    step(name::S5B, "§4.4 (the driving contract, failover_model::io)", s5b),
    step(name::S6, "§7.5.3, §7.6", s6),
    step(name::S7, "§4.2.2.1, §7.2 (4)", s7),
    step(name::S8, "§4.2.2.1, §8.4.1", s8),
    step(name::S9, "§4.2.1, §4.2.2, §8.4.1", s9),
    step(name::S10, "§4.2.1.1, §8.9.1", s10),
    step(name::S13, "§8.3.1, §8.5.1, §8.6.1, §8.10.1", s13),
    step(name::S13B, "§8.4.1, §8.9.1, §8.11.1", s13b),
    step(name::S14, "§3, §8.8.1", s14),
    step(name::S15, "§8.7.1", s15),
    world(name::S16, "§6.1.2, §6.1.3, §7.5.1", s16),
    step(name::S17, "§8.1", s17),
    step(name::S18, "§6.1.2, §6.1.3", s18),
    step(name::S19, "§6.1", s19),
    step(name::S20, "§8.3.1, §5.5.16", s20),
    step(name::S21, "§8.4.2", s21),
    step(name::S23, "§8.6.2", s23),
    step(name::S24, "§8.10.2", s24),
    step(name::S25, "§8.5.2", s25),
    step(name::S32, "§7.5.4, Figure 4", s32),
    step(name::S24B, "§8.4.2, §8.9.2", s24b),
    step(name::S30, "§1", s30),
    step(name::L9, "RFC 7031 §7 req. 4", l9),
    step(name::I1, "the core's invariants (Endpoint::check_invariants)", i1),
    world(name::L1, "§8 (digest L1, bounded)", l1),
    world(name::L5, "§8.5-§8.7 (digest L1, L5)", l5),
    world(name::D1, "§8 (digest D1)", d1),
    step(name::S17B, "§6.3, §8.1", s17b),
    step(name::S22, "§6.3, §5.5.9", s22),
    step(name::S28, "§6.1.2, §7.5.1", s28),
    step(name::S31, "§4.2.2.1", s31),
    step(name::L9B, "§8.9.1, §8.11.1, §8.4.1", l9b),
    step(name::L2, "§7.5.3 (digest L2, bounded)", l2),
    step(name::L6, "§6.1 (digest L6, bounded)", l6),
    step(name::L7, "§6.6 (digest L7, bounded)", l7),
    step(name::L8, "§8.9 (digest L8, bounded)", l8),
    goal("both NORMAL", "§8.7", both_normal),
    goal("a client holds a lease", "RFC 8415 §18", client_holds),
    goal("two clients hold leases", "RFC 8415 §18", two_clients_hold),
    goal("lease granted in COMMUNICATIONS-INTERRUPTED", "§8.9.1", renewed_in_comm_int),
    goal("lease granted in PARTNER-DOWN", "§8.4.1", granted_in_pd),
    goal("both servers serve while apart", "§8.9.1, §4.2", both_serve_while_apart),
    goal("a prefix and an address held", "§4.2.1, §4.2.2", prefix_and_address_held),
    goal("L1 window reached (non-vacuity)", "§8 (digest L1)", l1_window),
    goal("L5 exercised: a run ends outside NORMAL", "§8 (digest L5)", l5_exercised),
    goal("reach primary STARTUP", "§8.3", r_p_startup),
    goal("reach primary NORMAL", "§8.7", r_p_normal),
    goal("reach primary COMMUNICATIONS-INTERRUPTED", "§8.9", r_p_commint),
    goal("reach primary PARTNER-DOWN", "§8.4", r_p_pd),
    goal("reach primary POTENTIAL-CONFLICT", "§8.10", r_p_pc),
    goal("reach primary RECOVER", "§8.5", r_p_recover),
    goal("reach primary RECOVER-WAIT", "§8.6", r_p_rwait),
    goal("reach primary RECOVER-DONE", "§8.7", r_p_rdone),
    goal("reach primary RESOLUTION-INTERRUPTED", "§8.11", r_p_resint),
    goal("reach primary CONFLICT-DONE", "§8.12", r_p_cdone),
    goal("reach secondary STARTUP", "§8.3", r_s_startup),
    goal("reach secondary NORMAL", "§8.7", r_s_normal),
    goal("reach secondary COMMUNICATIONS-INTERRUPTED", "§8.9", r_s_commint),
    goal("reach secondary PARTNER-DOWN", "§8.4", r_s_pd),
    goal("reach secondary POTENTIAL-CONFLICT", "§8.10", r_s_pc),
    goal("reach secondary RECOVER", "§8.5", r_s_recover),
    goal("reach secondary RECOVER-WAIT", "§8.6", r_s_rwait),
    goal("reach secondary RECOVER-DONE", "§8.7", r_s_rdone),
    goal("reach secondary RESOLUTION-INTERRUPTED", "§8.11", r_s_resint),
    goal("NORMAL again after a connection break", "§8 (digest L1)", back_after_break),
    goal("NORMAL again after a partition", "§8 (digest L1)", back_after_partition),
    goal("NORMAL again after a crash", "§8 (digest L1)", back_after_crash),
    goal("NORMAL again after a storage loss", "§8 (digest L1)", back_after_storage_loss),
    goal("NORMAL again after PARTNER-DOWN", "§8 (digest L1)", back_after_pd),
    goal(goals::name::SKIP, "§4.2.1, §4.2.2.1", goals::skip),
    goal(goals::name::SKIP_WAITING, "§4.2.2.1, RFC 8415 §18.3.8", goals::skip_waiting),
    goal(goals::name::BREAK_UPDATE, "§7.5.3, §4.2.2.1", goals::break_update),
    goal(goals::name::CROSSED, "§7.5.4", goals::crossed),
    goal(goals::name::TWO_FAULTS, "§8 (digest L1)", goals::two_faults),
];

const _: () = assert!(TABLE.len() <= 128, "Ghost::violations has 128 bits");

/// The stateright properties of [`TABLE`], in its order.
#[must_use]
pub fn all() -> Vec<Property<FailoverModel>> {
    TABLE
        .iter()
        .enumerate()
        .map(|(k, p)| match (p.kind, p.check) {
            (Kind::Always, Over::World(f)) => Property::always(p.name, f),
            (Kind::Sometimes, Over::World(f)) => Property::sometimes(p.name, f),
            (Kind::Always, Over::Step(_)) => Property::always(p.name, STEP_VERDICT[k]),
            (Kind::Sometimes, Over::Step(_)) => {
                panic!("{}: a step property is an `always`", p.name)
            }
        })
        .collect()
}

/// The verdicts of every step property on `step`: bit `k` set when row `k` fails.
#[must_use]
pub fn judge(m: &FailoverModel, step: &Step<'_>) -> u128 {
    let mut failed = 0;
    for (k, p) in TABLE.iter().enumerate() {
        if let Over::Step(f) = p.check {
            if !f(m, step) {
                failed |= 1 << k;
            }
        }
    }
    failed
}

/// Row `K`'s sticky bit is clear.
fn no_violation<const K: usize>(_: &FailoverModel, w: &World) -> bool {
    w.ghost.violations & (1 << K) == 0
}

macro_rules! verdict_readers {
    ($($k:literal)*) => {
        /// The reader of each row's sticky bit (stateright wants a function per property).
        const STEP_VERDICT: [fn(&FailoverModel, &World) -> bool; 128] = [$(no_violation::<$k>),*];
    };
}

verdict_readers! {0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92 93 94 95 96 97 98 99 100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116 117 118 119 120 121 122 123 124 125 126 127}

// ------------------------------------------------------------------------------------------
// Step properties on the core's reference executor's checks.

/// Whether no input of the step failed the executor's check `check`.
fn executor_ok(s: &Step<'_>, check: Check) -> bool {
    !s.fed.iter().any(|f| f.failed(check))
}

/// S5 (§7.5.2, §4.4.1): a BNDREPLY accepts only bindings already durable.
fn s5(_: &FailoverModel, s: &Step<'_>) -> bool {
    executor_ok(s, Check::AckDurable)
}

/// S5b (the driving contract): a REPLY grants only leases already durable.
fn s5b(_: &FailoverModel, s: &Step<'_>) -> bool {
    executor_ok(s, Check::GrantDurable)
}

/// S6 (§7.5.3, §7.6): a delivered BNDUPD is answered by a BNDREPLY with its xid.
fn s6(_: &FailoverModel, s: &Step<'_>) -> bool {
    executor_ok(s, Check::UpdateAnswered)
}

/// S17 (§8.1): a state change is on stable storage by the end of its step.
fn s17(_: &FailoverModel, s: &Step<'_>) -> bool {
    executor_ok(s, Check::TransitionDurable)
}

/// S19 (§6.1): only the primary sends CONNECT, only the secondary CONNECTREPLY.
fn s19(_: &FailoverModel, s: &Step<'_>) -> bool {
    executor_ok(s, Check::ConnectionRoles)
}

/// S20 (§8.3.1, §5.5.16): STARTUP signalling in STATE.
fn s20(_: &FailoverModel, s: &Step<'_>) -> bool {
    executor_ok(s, Check::StartupSignalling)
}

/// S21 (§8.4.2): PARTNER-DOWN takes no transition on a STATE with the STARTUP flag.
fn s21(_: &FailoverModel, s: &Step<'_>) -> bool {
    executor_ok(s, Check::PartnerDownIgnoresStartup)
}

/// S24 (§8.10.2): POTENTIAL-CONFLICT is left only on UPDDONE (or a comms failure), to the
/// state the role requires.
fn s24(_: &FailoverModel, s: &Step<'_>) -> bool {
    executor_ok(s, Check::PotentialConflictExit)
}

/// S32 (§7.5.4, Figure 4, causal reading): a partner's BNDUPD does not take a settled live
/// lease from its client.
fn s32(_: &FailoverModel, s: &Step<'_>) -> bool {
    executor_ok(s, Check::SettledLeaseKept)
}

/// I1: the endpoint's own invariants hold after every step (and any executor check without a
/// property of its own).
fn i1(_: &FailoverModel, s: &Step<'_>) -> bool {
    const NAMED: [Check; 9] = [
        Check::AckDurable,
        Check::GrantDurable,
        Check::UpdateAnswered,
        Check::TransitionDurable,
        Check::ConnectionRoles,
        Check::StartupSignalling,
        Check::PartnerDownIgnoresStartup,
        Check::PotentialConflictExit,
        Check::SettledLeaseKept,
    ];
    s.fed.iter().all(|f| f.violations.iter().all(|v| NAMED.contains(&v.check)))
}

// ------------------------------------------------------------------------------------------
// Step properties on the partner protocol.

/// S18 (§6.1.2): an accepting CONNECTREPLY echoes the primary's MCLT.
fn s18(m: &FailoverModel, s: &Step<'_>) -> bool {
    !s.fed.iter().flat_map(Fed::sent).any(|msg| match &msg.body {
        MessageBody::ConnectReply(o) => {
            o.status.as_ref().is_none_or(|st| st.code.0 == 0) && o.mclt != Some(m.configs[0].mclt)
        }
        _ => false,
    })
}

/// S25 (§8.5.2): after losing its stable storage, a server whose partner has a record of
/// communicating with it asks for everything (UPDREQALL), never UPDREQ, until such a request
/// has completed. The digest scopes this to RECOVER; we hold every path to it,
/// POTENTIAL-CONFLICT included (docs/design.md: the RFC's PC path would leave the
/// acknowledged bindings missing).
fn s25(_: &FailoverModel, s: &Step<'_>) -> bool {
    !s.fed
        .iter()
        .any(|f| f.needs_updreqall && f.sent().any(|m| matches!(m.body, MessageBody::UpdReq(_))))
}

/// S23 (§8.6.2): RECOVER-WAIT is left for RECOVER-DONE no earlier than the time the server
/// went down plus the MCLT (a server that never ran failover may go at once).
fn s23(m: &FailoverModel, s: &Step<'_>) -> bool {
    !s.fed.iter().any(|f| {
        f.transition() == Some((EndpointState::RecoverWait, EndpointState::RecoverDone))
            && f.ran_failover
            && f.down_at.is_some_and(|down| s.before.now < down.plus(m.timing.mclt))
    })
}

/// S24b (§8.4.2, §8.9.2): PARTNER-DOWN → NORMAL only with the partner in RECOVER-DONE;
/// COMMUNICATIONS-INTERRUPTED → NORMAL only with it in NORMAL, COMMUNICATIONS-INTERRUPTED or
/// RECOVER-DONE — as told by the STATE that caused the move, as the partner actually is, or as
/// last heard on this connection (the §8.7 interlock moves on a later input).
fn s24b(_: &FailoverModel, s: &Step<'_>) -> bool {
    use EndpointState as E;
    s.fed.iter().all(|f| {
        let Some((pre, E::Normal)) = f.transition() else { return true };
        let allowed = |st: E| match pre {
            E::PartnerDown => st == E::RecoverDone,
            E::CommunicationsInterrupted => {
                matches!(st, E::Normal | E::CommunicationsInterrupted | E::RecoverDone)
            }
            _ => true,
        };
        let (startup, state) = f.input.as_ref().map_or((false, None), told);
        let told = state.filter(|_| !startup).is_some_and(allowed);
        told || f.partner_state.is_some_and(allowed) || f.heard_after.is_some_and(allowed)
    })
}

/// S17b (§6.3, §8.1): whenever a server's state changes while its communications are OK,
/// the new state goes to the partner in a STATE message in the same step: the last STATE the
/// step sends carries it.
fn s17b(_: &FailoverModel, s: &Step<'_>) -> bool {
    s.fed.iter().all(|f| {
        let Some((_, post)) = f.transition() else { return true };
        if !f.comms_ok_after {
            return true;
        }
        let last_state = f
            .sent()
            .filter_map(|m| match &m.body {
                MessageBody::State(st) => Some(st),
                _ => None,
            })
            .last();
        last_state.is_some_and(|st| st.server_state == Some(post))
    })
}

/// S22 (§6.3, §5.5.9): a STATE carries the mandatory SERVER_STATE, SERVER_FLAGS and
/// START_TIME_OF_STATE, and carries PARTNER_DOWN_TIME exactly when its sender is in
/// PARTNER-DOWN (the state it reports, unless it is in STARTUP, S20).
fn s22(_: &FailoverModel, s: &Step<'_>) -> bool {
    s.fed.iter().flat_map(Fed::sent).all(|m| {
        let MessageBody::State(st) = &m.body else { return true };
        let startup = st.flags.is_some_and(|f| f.startup);
        let in_pd = !startup && st.server_state == Some(EndpointState::PartnerDown);
        st.server_state.is_some()
            && st.flags.is_some()
            && st.start_time_of_state.is_some()
            && st.partner_down_time.is_some() == in_pd
    })
}

/// S28 (§6.1.2, §7.5.1): the secondary accepts no CONNECT whose sent time is more than 5 s
/// away from its own clock.
fn s28(_: &FailoverModel, s: &Step<'_>) -> bool {
    s.fed.iter().all(|f| {
        let Some(m) = f.message() else { return true };
        if !matches!(m.body, MessageBody::Connect(_)) {
            return true;
        }
        let skew = i64::from(f.now.0) - i64::from(m.sent_time.0);
        skew.unsigned_abs() <= u64::from(failover_model::time::SKEW_TOLERANCE)
            || !f.sent().any(|r| match &r.body {
                MessageBody::ConnectReply(o) => o.status.as_ref().is_none_or(|st| st.code.0 == 0),
                _ => false,
            })
    })
}

/// L2 (§7.5.3; digest L2, bounded): a connection with nothing on it leaves no BNDUPD
/// unanswered: whenever, after a step, both servers are up with communications OK, the
/// connection flows and nothing is in flight in either direction, neither server counts a
/// BNDUPD as sent and unanswered (it would wait for its BNDREPLY for ever).
fn l2(_: &FailoverModel, s: &Step<'_>) -> bool {
    let w = s.after;
    let (Some(p), Some(q)) = (&w.servers[0].live, &w.servers[1].live) else { return true };
    let quiet = w.link.flowing()
        && w.link.fifo.iter().all(std::collections::VecDeque::is_empty)
        && p.comms_ok()
        && q.comms_ok();
    !quiet || (p.unacked_count() == 0 && q.unacked_count() == 0)
}

/// L6 (§6.1; digest L6, bounded): a primary that is up and holds no connection always has a
/// connection attempt ahead: one outstanding, or its reconnect timer armed.
fn l6(_: &FailoverModel, s: &Step<'_>) -> bool {
    let w = s.after;
    let Some(p) = &w.servers[0].live else { return true };
    w.link.open[0] || w.link.connect_pending || p.timers().contains_key(&Timer::Reconnect)
}

/// L7 (§6.6; digest L7, bounded): a server that holds a connection has its keepalive timer
/// armed no later than the keepalive time from now, and when that timer fires its
/// communications are no longer OK (the partner is declared unreachable). Time never passes
/// a due timer, so a partner silent for the keepalive time is always noticed.
fn l7(m: &FailoverModel, s: &Step<'_>) -> bool {
    let w = s.after;
    let armed = (0..2).all(|i| {
        let Some(ep) = &w.servers[i].live else { return true };
        if !w.link.open[i] || !ep.comms_ok() {
            return true;
        }
        let now = w.now.plus(m.offsets[i]);
        ep.timers()
            .get(&Timer::Keepalive)
            .is_some_and(|&d| d <= now.plus(m.configs[i].keepalive_time))
    });
    let fired = s
        .fed
        .iter()
        .all(|f| !matches!(f.input, Some(Input::Timer(Timer::Keepalive))) || !f.comms_ok_after);
    armed && fired
}

/// L8 (§8.9; digest L8, bounded): with auto-partner-down configured, a server in
/// COMMUNICATIONS-INTERRUPTED has its auto-partner-down timer armed no later than the
/// configured delay from now, and when it fires there the server enters PARTNER-DOWN.
fn l8(m: &FailoverModel, s: &Step<'_>) -> bool {
    let w = s.after;
    let armed = (0..2).all(|i| {
        let (Some(ep), Some(delay)) = (&w.servers[i].live, m.configs[i].auto_partner_down) else {
            return true;
        };
        let now = w.now.plus(m.offsets[i]);
        ep.state() != EndpointState::CommunicationsInterrupted
            || ep.timers().get(&Timer::AutoPartnerDown).is_some_and(|&d| d <= now.plus(delay))
    });
    let fired = s.fed.iter().all(|f| {
        !matches!(f.input, Some(Input::Timer(Timer::AutoPartnerDown)))
            || f.state_before != Some(EndpointState::CommunicationsInterrupted)
            || f.state_after == Some(EndpointState::PartnerDown)
    });
    armed && fired
}

// ------------------------------------------------------------------------------------------
// Step properties on what a server answers its clients.

/// A client action as the client-facing properties read it: who asked whom, what the server
/// was before, what it answered.
struct Asked<'a> {
    server: Role,
    op: ClientOp,
    /// The server's endpoint before the action.
    pre: &'a Endpoint,
    pre_state: EndpointState,
    /// The server's local time.
    local: Time,
    /// The client's DUID.
    duid: Duid,
    /// What the client believed it held before the action.
    ledger: &'a Client,
    /// Each request with its replies, in order.
    exchanges: Vec<(&'a ClientRequest, Vec<&'a ClientReply>)>,
    /// The leases the REPLYs carry, in order.
    granted: Vec<Grant>,
}

impl<'a> Asked<'a> {
    fn of(m: &FailoverModel, s: &Step<'a>) -> Option<Self> {
        let Some(&Action::Client { client, server, op, .. }) = s.action else { return None };
        let i = idx(server);
        let pre = s.before.servers[i].live.as_ref()?;
        let exchanges: Vec<_> =
            s.fed.iter().filter_map(|f| Some((f.request()?, f.replies().collect()))).collect();
        let granted = grants(s.fed.iter().flat_map(Fed::replies));
        Some(Asked {
            server,
            op,
            pre,
            pre_state: pre.state(),
            local: s.before.now.plus(m.offsets[i]),
            duid: FailoverModel::client_duid(client),
            ledger: &s.before.clients[usize::from(client)],
            exchanges,
            granted,
        })
    }

    fn own_duid(&self) -> &Duid {
        &self.pre.config().server_duid
    }

    /// STARTUP, RECOVER, RECOVER-WAIT and POTENTIAL-CONFLICT answer no client (§8.3.1,
    /// §8.5.1, §8.6.1, §8.10.1).
    fn unresponsive(&self) -> bool {
        matches!(
            self.pre_state,
            EndpointState::Startup
                | EndpointState::Recover
                | EndpointState::RecoverWait
                | EndpointState::PotentialConflict
        )
    }

    /// COMMUNICATIONS-INTERRUPTED, PARTNER-DOWN and RESOLUTION-INTERRUPTED answer every
    /// request that does not name the other server (§8.4.1, §8.9.1, §8.11.1).
    fn must_answer(&self) -> bool {
        matches!(
            self.pre_state,
            EndpointState::CommunicationsInterrupted
                | EndpointState::PartnerDown
                | EndpointState::ResolutionInterrupted
        )
    }

    fn in_pd(&self) -> bool {
        self.pre_state == EndpointState::PartnerDown
    }

    /// The grants that give a lease (valid lifetime > 0).
    fn giving(&self) -> impl Iterator<Item = &Grant> {
        self.granted.iter().filter(|g| g.valid > 0)
    }

    /// The grants that are new allocations: not an extension of a lease the server had for
    /// this client, nor of one the client believed it held.
    fn new_allocations(&self) -> impl Iterator<Item = &Grant> {
        self.giving().filter(|g| {
            let same_client = self.pre.binding(&g.resource).is_some_and(|b| {
                b.client.as_ref().is_some_and(|k| k.duid == self.duid)
                    && matches!(
                        b.status,
                        BindingStatus::Active | BindingStatus::Expired | BindingStatus::Released
                    )
            });
            let already_held = self.ledger.leases.iter().any(|h| h.resource == g.resource);
            !same_client && !already_held
        })
    }

    /// Whether the server holds `r` ACTIVE and unexpired for this client.
    fn knows_active(&self, r: &failover_model::Resource) -> bool {
        self.pre.binding(r).is_some_and(|b| {
            b.status == BindingStatus::Active
                && b.client.as_ref().is_some_and(|k| k.duid == self.duid)
                && b.client_expiry > self.local
        })
    }

    fn renewed(&self, r: &failover_model::Resource) -> bool {
        self.giving().any(|g| g.resource == *r)
    }
}

/// Runs `check` on the client action of the step, if it is one.
fn on_client(m: &FailoverModel, s: &Step<'_>, check: impl FnOnce(&Asked<'_>) -> bool) -> bool {
    Asked::of(m, s).is_none_or(|a| check(&a))
}

/// S2 (§4.4, §8.8.1, §8.9.1, §8.11.1): outside PARTNER-DOWN, a grant's expiry is at most
/// max(the partner lifetime the partner acked before the step, now) + MCLT.
fn s2(m: &FailoverModel, s: &Step<'_>) -> bool {
    on_client(m, s, |a| {
        a.in_pd()
            || a.giving().all(|g| {
                let acked =
                    a.pre.binding(&g.resource).map_or(Time::ZERO, |b| b.acked_partner_lifetime);
                a.local.plus(g.valid) <= acked.max(a.local).plus(m.timing.mclt)
            })
    })
}

/// S4 (§4.4): outside PARTNER-DOWN, a grant's expiry is at most max(the expiration time the
/// partner has on stable storage, now) + MCLT (while neither server lost its storage).
fn s4(m: &FailoverModel, s: &Step<'_>) -> bool {
    on_client(m, s, |a| {
        if a.in_pd() || s.before.ghost.storage_lost.iter().any(|&x| x) {
            return true;
        }
        let partner = &s.before.servers[1 - idx(a.server)].image;
        a.giving().all(|g| {
            let known = partner.bindings.get(&g.resource).map_or(Time::ZERO, |b| b.expiration_time);
            a.local.plus(g.valid) <= known.max(a.local).plus(m.timing.mclt)
        })
    })
}

/// S7 (§4.2.2.1, §7.2 (4)): outside PARTNER-DOWN, a resource last bound to another client
/// goes to a new client only once it is free.
fn s7(m: &FailoverModel, s: &Step<'_>) -> bool {
    on_client(m, s, |a| {
        a.in_pd()
            || a.new_allocations().all(|g| {
                !a.pre
                    .binding(&g.resource)
                    .is_some_and(|b| b.client.is_some() && !b.status.is_available())
            })
    })
}

/// S8 (§4.2.2.1, §8.4.1): in PARTNER-DOWN, a lease held at PD entry goes to another client
/// only after MCLT + the latest of its client expiry, partner lifetime, acked partner
/// lifetime, expiration time and the PD entry.
fn s8(m: &FailoverModel, s: &Step<'_>) -> bool {
    on_client(m, s, |a| {
        let watch = s.before.ghost.pd_watch[idx(a.server)].iter().flatten();
        !a.in_pd()
            || !a.new_allocations().any(|g| {
                watch.clone().any(|pw| {
                    pw.resource == g.resource
                        && pw.holder.as_ref().is_some_and(|h| *h != a.duid.0)
                        && a.local < pw.wait_until
                })
            })
    })
}

/// S9 (§4.2.1, §4.2.2, §8.4.1): in PARTNER-DOWN a server never allocates an address of its
/// partner's half, and allocates a prefix of its partner's free pool only from PD entry +
/// MCLT on — one FREE(-BACKUP) for the partner at PD entry, or, for the secondary, an
/// untouched prefix (no record at all: untouched delegable prefixes are the primary's FREE,
/// `failover_model::leases::pool`) — and only once its own free prefixes are all gone.
fn s9(m: &FailoverModel, s: &Step<'_>) -> bool {
    on_client(m, s, |a| {
        if !a.in_pd() {
            return true;
        }
        let i = idx(a.server);
        let watch = s.before.ghost.pd_watch[i].iter().flatten();
        let entered = s.before.ghost.pd_entered[i];
        a.new_allocations().all(|g| {
            let r = g.resource;
            let waited = watch
                .clone()
                .all(|pw| pw.resource != r || pw.holder.is_some() || a.local >= pw.wait_until);
            let partner_half = r.primary_half().is_some_and(|p| p != (a.server == Role::Primary));
            let untouched_partner_prefix =
                r.is_prefix() && a.server == Role::Secondary && a.pre.binding(&r).is_none();
            let untouched_ok = !untouched_partner_prefix
                || entered.is_some_and(|t| a.local >= t.plus(m.timing.mclt));
            let partner_prefix = untouched_partner_prefix
                || (r.is_prefix()
                    && a.pre.binding(&r).is_some_and(|b| b.status == partner_free(a.server)));
            waited && !partner_half && untouched_ok && !(partner_prefix && own_prefix_left(m, a))
        })
    })
}

/// Whether the server still has a prefix of its own free pool (§4.2.2: FREE-BACKUP records
/// for the secondary; FREE records and untouched prefixes for the primary).
fn own_prefix_left(m: &FailoverModel, a: &Asked<'_>) -> bool {
    let own = own_free(a.server);
    let mut records = 0u128;
    for b in a.pre.bindings().filter(|b| b.resource.is_prefix()) {
        if b.status == own {
            return true;
        }
        records += 1;
    }
    let total: u128 = m.configs[idx(a.server)]
        .prefix_pools
        .iter()
        .map(|p| 1u128 << (p.delegated_len - p.prefix_len))
        .sum();
    a.server == Role::Primary && total > records
}

/// S10 (§4.2.1.1, §8.9.1): outside PARTNER-DOWN, new leases come from the server's own half
/// (addresses) or its own free prefixes.
fn s10(m: &FailoverModel, s: &Step<'_>) -> bool {
    on_client(m, s, |a| {
        a.in_pd()
            || a.new_allocations().all(|g| {
                let own_half =
                    g.resource.primary_half().is_none_or(|p| p == (a.server == Role::Primary));
                let own = a.pre.binding(&g.resource).is_none_or(|b| b.status == own_free(a.server));
                own_half && own
            })
    })
}

/// S13 (§8.3.1, §8.5.1, §8.6.1, §8.10.1): no client reply in STARTUP, RECOVER, RECOVER-WAIT
/// or POTENTIAL-CONFLICT.
fn s13(m: &FailoverModel, s: &Step<'_>) -> bool {
    on_client(m, s, |a| !a.unresponsive() || a.exchanges.iter().all(|(_, r)| r.is_empty()))
}

/// S13b (§8.4.1, §8.9.1, §8.11.1): COMMUNICATIONS-INTERRUPTED, PARTNER-DOWN and
/// RESOLUTION-INTERRUPTED answer every client request that does not name another server.
fn s13b(m: &FailoverModel, s: &Step<'_>) -> bool {
    on_client(m, s, |a| {
        !a.must_answer()
            || a.exchanges.iter().all(|(req, replies)| {
                let names_other = req.server_id.as_ref().is_some_and(|d| d != a.own_duid());
                names_other || !replies.is_empty()
            })
    })
}

/// Whether a renew-only server (a NORMAL secondary, RECOVER-DONE) answered a request that did
/// not name it, or allocated.
fn beyond_renewals(a: &Asked<'_>) -> bool {
    let answered_other = a
        .exchanges
        .iter()
        .any(|(req, replies)| !replies.is_empty() && req.server_id.as_ref() != Some(a.own_duid()));
    answered_other || a.new_allocations().next().is_some()
}

/// S14 (§3, §8.8.1): a NORMAL secondary answers only messages naming it and never allocates.
fn s14(m: &FailoverModel, s: &Step<'_>) -> bool {
    on_client(m, s, |a| {
        !(a.pre_state == EndpointState::Normal && a.server == Role::Secondary && beyond_renewals(a))
    })
}

/// S15 (§8.7.1): RECOVER-DONE never allocates and answers only messages naming it.
fn s15(m: &FailoverModel, s: &Step<'_>) -> bool {
    on_client(m, s, |a| a.pre_state != EndpointState::RecoverDone || !beyond_renewals(a))
}

/// S30 (§1): new leases are at least 30 s.
fn s30(m: &FailoverModel, s: &Step<'_>) -> bool {
    on_client(m, s, |a| a.new_allocations().all(|g| g.valid >= 30))
}

/// The message on the wire, if it is one.
fn body(w: &crate::world::Wire) -> Option<&MessageBody> {
    match w {
        crate::world::Wire::Msg(m) => Some(&m.body),
        crate::world::Wire::Fin => None,
    }
}

/// Whether `body` is a BNDUPD (`update`) or BNDREPLY (`!update`) that carries `r` as
/// EXPIRED or RELEASED.
fn announces(body: &MessageBody, update: bool, r: &failover_model::Resource) -> bool {
    use failover_model::failover::message::BindingPayload;
    let bm = match body {
        MessageBody::BndUpd(bm) if update => bm,
        MessageBody::BndReply(bm) if !update => bm,
        _ => return false,
    };
    let leases: Vec<_> = match &bm.payload {
        Some(BindingPayload::Client(cd)) => cd.ias.iter().flat_map(|ia| &ia.leases).collect(),
        Some(BindingPayload::Prefix(pd)) => vec![&pd.lease],
        None => Vec::new(),
    };
    leases.iter().any(|l| {
        l.resource == *r
            && matches!(
                l.options.binding_status,
                Some(BindingStatus::Expired | BindingStatus::Released)
            )
    })
}

/// S31 (§4.2.2.1, §8.8.1): outside PARTNER-DOWN, an EXPIRED or RELEASED lease goes back to
/// its previous client only while no BNDUPD about it has been sent: not when the partner has
/// acknowledged the change (the "update partner" flag is clear), nor while a BNDUPD carrying
/// it as EXPIRED or RELEASED, or the BNDREPLY answering one, is on the connection. (Another
/// client: S7.)
fn s31(m: &FailoverModel, s: &Step<'_>) -> bool {
    on_client(m, s, |a| {
        let i = idx(a.server);
        let link = &s.before.link;
        let on_link = |r: &failover_model::Resource| {
            link.fifo[1 - i].iter().filter_map(body).any(|b| announces(b, true, r))
                || link.fifo[i].iter().filter_map(body).any(|b| announces(b, false, r))
        };
        a.in_pd()
            || a.giving().all(|g| {
                let Some(b) = a.pre.binding(&g.resource) else { return true };
                let regrant = matches!(b.status, BindingStatus::Expired | BindingStatus::Released)
                    && b.client.as_ref().is_some_and(|k| k.duid == a.duid);
                !regrant || (b.pending && !on_link(&g.resource))
            })
    })
}

/// L9 (RFC 7031 §7 req. 4): a RENEW to the granting server, in a state that answers it, for
/// a lease that server holds ACTIVE for this client, renews it.
fn l9(m: &FailoverModel, s: &Step<'_>) -> bool {
    on_client(m, s, |a| {
        let granter = a.ledger.leases.first().map(|h| h.granted_by);
        if a.op != ClientOp::Renew || granter != Some(a.server) || a.unresponsive() {
            return true;
        }
        a.ledger
            .leases
            .iter()
            .filter(|h| h.valid_until > s.before.now && a.knows_active(&h.resource))
            .all(|h| a.renewed(&h.resource))
    })
}

/// L9b (§8.9.1, §8.11.1, §8.4.1): in COMMUNICATIONS-INTERRUPTED, RESOLUTION-INTERRUPTED and
/// PARTNER-DOWN a server allows continued renewal of a client's current lease whichever
/// server gave it out: a REBIND (or a RENEW naming it) for a lease it holds ACTIVE and
/// unexpired for that client renews it.
fn l9b(m: &FailoverModel, s: &Step<'_>) -> bool {
    on_client(m, s, |a| {
        if !a.must_answer() {
            return true;
        }
        let asks = a.exchanges.iter().any(|(req, _)| match req.kind {
            ClientMsgKind::Rebind => true,
            ClientMsgKind::Renew => req.server_id.as_ref() == Some(a.own_duid()),
            _ => false,
        });
        !asks
            || a.ledger
                .leases
                .iter()
                .filter(|h| h.valid_until > s.before.now && a.knows_active(&h.resource))
                .all(|h| a.renewed(&h.resource))
    })
}

// ------------------------------------------------------------------------------------------
// State properties.

/// S1 (RFC 7031 §7 req. 4, 7, 8; the aim of RFC 8156 §4.4): no resource is believed held,
/// unexpired, by two clients at once.
fn s1(_: &FailoverModel, w: &World) -> bool {
    let mut seen = BTreeMap::new();
    for (c, client) in w.clients.iter().enumerate() {
        for h in client.valid_at(w.now) {
            if let Some(other) = seen.insert(h.resource, c) {
                if other != c {
                    return false;
                }
            }
        }
    }
    true
}

/// S3 (§4.4.1, §7.5.2, §7.3): every acknowledged partner lifetime of a server is at most the
/// expiration time its partner has on stable storage (as long as neither lost its storage).
fn s3(_: &FailoverModel, w: &World) -> bool {
    if w.ghost.storage_lost[0] || w.ghost.storage_lost[1] {
        return true;
    }
    for x in 0..2 {
        let y = 1 - x;
        let acked: Vec<_> = match &w.servers[x].live {
            Some(ep) => ep.bindings().map(|b| (b.resource, b.acked_partner_lifetime)).collect(),
            None => w.servers[x]
                .image
                .bindings
                .values()
                .map(|b| (b.resource, b.acked_partner_lifetime))
                .collect(),
        };
        for (r, apl) in acked {
            if apl.is_zero() {
                continue;
            }
            let known = w.servers[y].image.bindings.get(&r).map(|b| b.expiration_time);
            if known.is_none_or(|e| apl > e) {
                return false;
            }
        }
    }
    true
}

/// L1 (digest §10.3, bounded): once the environment is stable (both servers up, no
/// partition, no fault, no command, no delayed message or connection) for `K` seconds, both
/// servers are in NORMAL. `eventually` is unsound on the cycles timers create
/// (MODELCHECK.md §1.2), so this is an `always` with a deadline.
fn l1(m: &FailoverModel, w: &World) -> bool {
    match w.ghost.stable_since {
        Some(t0) if m.liveness_k > 0 && w.now >= t0.plus(m.liveness_k) => {
            w.both_in(EndpointState::Normal)
        }
        _ => true,
    }
}

/// S16 (§6.1.2, §6.1.3, §7.5.1): flow control. The BNDUPDs a server has sent on the current
/// connection and not yet seen answered (in flight towards the partner, or answered with the
/// BNDREPLY still in flight back: the partner answers each BNDUPD as it reads it, S6) never
/// exceed the partner's MAX_UNACKED_BNDUPD.
fn s16(m: &FailoverModel, w: &World) -> bool {
    use failover_model::MessageBody;
    let count = |fifo: usize, upd: bool| {
        w.link.fifo[fifo]
            .iter()
            .filter(|x| match x {
                crate::world::Wire::Msg(msg) => match msg.body {
                    MessageBody::BndUpd(_) => upd,
                    MessageBody::BndReply(_) => !upd,
                    _ => false,
                },
                crate::world::Wire::Fin => false,
            })
            .count()
    };
    (0..2).all(|x| {
        let y = 1 - x;
        let unacked = count(y, true) + count(x, false);
        unacked <= m.configs[y].max_unacked_bndupd as usize
    })
}

/// L5 (digest §10.3, and L1 without a horizon): at the end of every bounded run (nothing in
/// flight or due, time at the horizon), if the environment turns stable — the partition
/// heals, crashed servers restart, nothing else happens — the protocol alone brings both
/// servers to NORMAL within `K` seconds (`FailoverModel::settle`, one canonical schedule: a
/// witness that NORMAL is reachable). Every state in RECOVER, RECOVER-WAIT or RECOVER-DONE at
/// the end of a run thereby finishes its recovery.
fn l5(m: &FailoverModel, w: &World) -> bool {
    m.liveness_k == 0 || !m.at_end(w) || m.settle(w).is_some()
}

/// D1 (digest §10.3): no reachable state where both servers are up, believe they are
/// connected, nothing is in flight, no timer is armed and they are not both in NORMAL
/// (nothing could ever change that).
fn d1(_: &FailoverModel, w: &World) -> bool {
    let (Some(p), Some(s)) = (&w.servers[0].live, &w.servers[1].live) else { return true };
    let idle = w.link.flowing()
        && w.link.fifo.iter().all(std::collections::VecDeque::is_empty)
        && p.timers().is_empty()
        && s.timers().is_empty();
    !idle || w.both_in(EndpointState::Normal)
}

// ------------------------------------------------------------------------------------------
// Coverage goals (`sometimes`).

macro_rules! reach {
    ($($fname:ident, $role:expr, $state:expr;)*) => {
        $(
            fn $fname(_: &FailoverModel, w: &World) -> bool {
                w.state_of($role) == Some($state)
            }
        )*
    };
}

use EndpointState as E;
reach! {
    r_p_startup, Role::Primary, E::Startup;
    r_p_normal, Role::Primary, E::Normal;
    r_p_commint, Role::Primary, E::CommunicationsInterrupted;
    r_p_pd, Role::Primary, E::PartnerDown;
    r_p_pc, Role::Primary, E::PotentialConflict;
    r_p_recover, Role::Primary, E::Recover;
    r_p_rwait, Role::Primary, E::RecoverWait;
    r_p_rdone, Role::Primary, E::RecoverDone;
    r_p_resint, Role::Primary, E::ResolutionInterrupted;
    r_p_cdone, Role::Primary, E::ConflictDone;
    r_s_startup, Role::Secondary, E::Startup;
    r_s_normal, Role::Secondary, E::Normal;
    r_s_commint, Role::Secondary, E::CommunicationsInterrupted;
    r_s_pd, Role::Secondary, E::PartnerDown;
    r_s_pc, Role::Secondary, E::PotentialConflict;
    r_s_recover, Role::Secondary, E::Recover;
    r_s_rwait, Role::Secondary, E::RecoverWait;
    r_s_rdone, Role::Secondary, E::RecoverDone;
    r_s_resint, Role::Secondary, E::ResolutionInterrupted;
}

fn both_normal(_: &FailoverModel, w: &World) -> bool {
    w.both_in(E::Normal)
}

fn client_holds(_: &FailoverModel, w: &World) -> bool {
    w.clients.iter().any(|c| c.valid_at(w.now).next().is_some())
}

fn two_clients_hold(_: &FailoverModel, w: &World) -> bool {
    w.clients.iter().filter(|c| c.valid_at(w.now).next().is_some()).count() >= 2
}

fn renewed_in_comm_int(_: &FailoverModel, w: &World) -> bool {
    w.clients
        .iter()
        .any(|c| c.valid_at(w.now).any(|h| h.state_at_grant == E::CommunicationsInterrupted))
}

/// Both servers serve while they cannot talk: valid leases granted by the primary and by the
/// secondary, each in COMMUNICATIONS-INTERRUPTED (§8.8.1, §4.2: each from its own pool).
fn both_serve_while_apart(_: &FailoverModel, w: &World) -> bool {
    let by = |role: Role| {
        w.clients.iter().any(|c| {
            c.valid_at(w.now)
                .any(|h| h.granted_by == role && h.state_at_grant == E::CommunicationsInterrupted)
        })
    };
    by(Role::Primary) && by(Role::Secondary)
}

/// A client holds a delegated prefix and a client holds an address (the two pools in use).
fn prefix_and_address_held(_: &FailoverModel, w: &World) -> bool {
    let held = |prefix: bool| {
        w.clients.iter().any(|c| c.valid_at(w.now).any(|h| h.resource.is_prefix() == prefix))
    };
    held(true) && held(false)
}

fn granted_in_pd(_: &FailoverModel, w: &World) -> bool {
    w.clients.iter().any(|c| c.valid_at(w.now).any(|h| h.state_at_grant == E::PartnerDown))
}

fn l5_exercised(m: &FailoverModel, w: &World) -> bool {
    m.at_end(w) && !w.both_in(E::Normal)
}

fn l1_window(m: &FailoverModel, w: &World) -> bool {
    matches!(w.ghost.stable_since, Some(t0) if m.liveness_k > 0 && w.now >= t0.plus(m.liveness_k))
}

macro_rules! reintegration {
    ($($fname:ident, $bit:expr;)*) => {
        $(
            /// `sometimes` (L1, §8): after this kind of fault, both servers are back in NORMAL
            /// with the network whole.
            fn $fname(_: &FailoverModel, w: &World) -> bool {
                w.ghost.faults_seen & $bit != 0 && !w.link.partitioned && w.both_in(E::Normal)
            }
        )*
    };
}

reintegration! {
    back_after_break, fault::BREAK;
    back_after_partition, fault::PARTITION;
    back_after_crash, fault::CRASH;
    back_after_storage_loss, fault::STORAGE_LOSS;
    back_after_pd, fault::PD_COMMAND;
}
