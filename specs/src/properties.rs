//! The properties, named after the digest's §10 ids (`rfc8156.md`), each citing RFC 8156.
//!
//! Two kinds of invariant appear here:
//! - *state invariants* read the world directly (S1, S3, L1);
//! - *step invariants* are checked while a step's outputs are carried out (the only place
//!   where "before" and "after" and the order of outputs are visible) and leave a sticky bit in
//!   [`crate::world::Ghost::violations`]; the property reads the bit. The counterexample ends
//!   at the step that set it. Those that need only the endpoint, its image and the step (S5,
//!   S5b, S6, S17, S19, S20, S21, S24, S32, I1) are the core's reference executor's
//!   (`failover_model::exec`, mapped by [`crate::model::violation_flag`]), so the core's tests
//!   and the replay of runtime traces check them too; the model's driver adds those that
//!   need the world (the clients' ledger, the partner, the ghost variables).

use crate::model::FailoverModel;
use crate::world::{fault, World};
use failover_model::{EndpointState, Role};
use stateright::Property;
use std::collections::BTreeMap;

/// Bits of [`crate::world::Ghost::violations`], one per step invariant.
pub mod flag {
    /// S2: a grant outside PARTNER-DOWN beyond max(acked partner lifetime, now) + MCLT.
    pub const S2: u32 = 1 << 0;
    /// S4: a grant outside PARTNER-DOWN beyond what the partner durably knows + MCLT.
    pub const S4: u32 = 1 << 1;
    /// S5: a BNDREPLY acked a binding not yet durable.
    pub const S5: u32 = 1 << 2;
    /// S7: a lease went to a different client outside PARTNER-DOWN without being free.
    pub const S7: u32 = 1 << 3;
    /// S8: a lease held at PARTNER-DOWN entry went to another client before the wait.
    pub const S8: u32 = 1 << 4;
    /// S9: the partner's pool was used in PARTNER-DOWN too early (addresses: at all).
    pub const S9: u32 = 1 << 5;
    /// S10: a new lease outside PARTNER-DOWN from outside the server's own pool.
    pub const S10: u32 = 1 << 6;
    /// S13: a client reply in STARTUP, RECOVER, RECOVER-WAIT or POTENTIAL-CONFLICT.
    pub const S13: u32 = 1 << 7;
    /// S14: a NORMAL secondary answered a message not addressed to it, or allocated.
    pub const S14: u32 = 1 << 8;
    /// S15: RECOVER-DONE allocated a new lease or answered a message not addressed to it.
    pub const S15: u32 = 1 << 9;
    /// S17: a state change not on stable storage at the end of the step.
    pub const S17: u32 = 1 << 10;
    /// S21: PARTNER-DOWN changed state on a STATE carrying the STARTUP flag.
    pub const S21: u32 = 1 << 11;
    /// S23: left RECOVER-WAIT for RECOVER-DONE before the time it went down + MCLT.
    pub const S23: u32 = 1 << 21;
    /// S25: sent UPDREQ (not UPDREQALL) in RECOVER after losing its stable storage, while its
    /// partner has a record of communicating with it.
    pub const S25: u32 = 1 << 22;
    /// S24: left POTENTIAL-CONFLICT other than by UPDDONE (or comms failure), or to the
    /// wrong state for the role.
    pub const S24: u32 = 1 << 12;
    /// S24b: went from PARTNER-DOWN or COMMUNICATIONS-INTERRUPTED to NORMAL with a partner
    /// state that requires POTENTIAL-CONFLICT.
    pub const S24B: u32 = 1 << 13;
    /// S30: a new lease shorter than 30 s.
    pub const S30: u32 = 1 << 14;
    /// L9: a RENEW to the granting, responsive server for a lease it holds ACTIVE for that
    /// client was not renewed.
    pub const L9: u32 = 1 << 15;
    /// S6: a delivered BNDUPD was not answered by a BNDREPLY with its transaction id.
    pub const S6: u32 = 1 << 16;
    /// S18: an accepting CONNECTREPLY carried an MCLT other than the primary's.
    pub const S18: u32 = 1 << 17;
    /// S19: the secondary sent CONNECT, or the primary sent CONNECTREPLY.
    pub const S19: u32 = 1 << 18;
    /// S20: a STATE sent in STARTUP without the STARTUP flag or with STARTUP as the
    /// recorded state, or a STATE sent outside STARTUP with the flag.
    pub const S20: u32 = 1 << 19;
    /// S13b: a responsive state left a client request unanswered.
    pub const S13B: u32 = 1 << 20;
    /// S32: a partner's BNDUPD took a lease from the client that held it, unexpired, in the
    /// receiver's own settled (not pending) record.
    pub const S32: u32 = 1 << 23;
    /// S5b: a REPLY granted a lease not yet on stable storage (the executor's `GrantDurable`).
    pub const S5B: u32 = 1 << 24;
    /// I1: the endpoint's own invariants (`Endpoint::check_invariants`) broke in a step.
    pub const I1: u32 = 1 << 25;
}

/// Property names, for the requirements map and the command line.
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
    /// S21.
    pub const S21: &str = "S21 PARTNER-DOWN ignores STATE with STARTUP flag";
    /// S23.
    pub const S23: &str = "S23 RECOVER-WAIT holds until the time of failure + MCLT";
    /// S25.
    pub const S25: &str = "S25 UPDREQALL after a storage loss";
    /// S24.
    pub const S24: &str = "S24 POTENTIAL-CONFLICT is left only by UPDDONE";
    /// S24b.
    pub const S24B: &str = "S24b reconnect goes through POTENTIAL-CONFLICT";
    /// S30.
    pub const S30: &str = "S30 new leases are at least 30 s";
    /// L9.
    pub const L9: &str = "L9 lease stability: renewals by the granting server succeed";
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
    /// L5.
    pub const L5: &str = "L5 after heal and restart, NORMAL from the end of every run";
    /// D1.
    pub const D1: &str = "D1 no deadlock while connected";
}

/// The step-invariant bit of each flag-backed property.
pub const FLAG_PROPERTIES: [(&str, u32); 26] = [
    (name::S32, flag::S32),
    (name::S23, flag::S23),
    (name::S25, flag::S25),
    (name::S6, flag::S6),
    (name::S18, flag::S18),
    (name::S19, flag::S19),
    (name::S20, flag::S20),
    (name::S13B, flag::S13B),
    (name::S2, flag::S2),
    (name::S4, flag::S4),
    (name::S5, flag::S5),
    (name::S7, flag::S7),
    (name::S8, flag::S8),
    (name::S9, flag::S9),
    (name::S10, flag::S10),
    (name::S13, flag::S13),
    (name::S14, flag::S14),
    (name::S15, flag::S15),
    (name::S17, flag::S17),
    (name::S21, flag::S21),
    (name::S24, flag::S24),
    (name::S24B, flag::S24B),
    (name::S30, flag::S30),
    (name::L9, flag::L9),
    (name::S5B, flag::S5B),
    (name::I1, flag::I1),
];

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

macro_rules! flag_property {
    ($($fname:ident => $bit:expr;)*) => {
        $(
            fn $fname(_: &FailoverModel, w: &World) -> bool {
                w.ghost.violations & $bit == 0
            }
        )*
    };
}

flag_property! {
    p_s2 => flag::S2;
    p_s4 => flag::S4;
    p_s5 => flag::S5;
    p_s7 => flag::S7;
    p_s8 => flag::S8;
    p_s9 => flag::S9;
    p_s10 => flag::S10;
    p_s13 => flag::S13;
    p_s14 => flag::S14;
    p_s15 => flag::S15;
    p_s17 => flag::S17;
    p_s21 => flag::S21;
    p_s24 => flag::S24;
    p_s24b => flag::S24B;
    p_s30 => flag::S30;
    p_l9 => flag::L9;
    p_s6 => flag::S6;
    p_s18 => flag::S18;
    p_s19 => flag::S19;
    p_s20 => flag::S20;
    p_s13b => flag::S13B;
    p_s23 => flag::S23;
    p_s25 => flag::S25;
    p_s32 => flag::S32;
    p_s5b => flag::S5B;
    p_i1 => flag::I1;
}

macro_rules! reach {
    ($($fname:ident, $label:literal, $role:expr, $state:expr;)*) => {
        $(
            fn $fname(_: &FailoverModel, w: &World) -> bool {
                w.state_of($role) == Some($state)
            }
        )*
        /// `sometimes`: every endpoint state is reached by every role the RFC allows in it
        /// (§8; the secondary never enters CONFLICT-DONE, §8.12).
        fn reach_properties() -> Vec<Property<FailoverModel>> {
            vec![$(Property::sometimes($label, $fname)),*]
        }
    };
}

use EndpointState as E;
reach! {
    r_p_startup, "reach primary STARTUP", Role::Primary, E::Startup;
    r_p_normal, "reach primary NORMAL", Role::Primary, E::Normal;
    r_p_commint, "reach primary COMMUNICATIONS-INTERRUPTED", Role::Primary, E::CommunicationsInterrupted;
    r_p_pd, "reach primary PARTNER-DOWN", Role::Primary, E::PartnerDown;
    r_p_pc, "reach primary POTENTIAL-CONFLICT", Role::Primary, E::PotentialConflict;
    r_p_recover, "reach primary RECOVER", Role::Primary, E::Recover;
    r_p_rwait, "reach primary RECOVER-WAIT", Role::Primary, E::RecoverWait;
    r_p_rdone, "reach primary RECOVER-DONE", Role::Primary, E::RecoverDone;
    r_p_resint, "reach primary RESOLUTION-INTERRUPTED", Role::Primary, E::ResolutionInterrupted;
    r_p_cdone, "reach primary CONFLICT-DONE", Role::Primary, E::ConflictDone;
    r_s_startup, "reach secondary STARTUP", Role::Secondary, E::Startup;
    r_s_normal, "reach secondary NORMAL", Role::Secondary, E::Normal;
    r_s_commint, "reach secondary COMMUNICATIONS-INTERRUPTED", Role::Secondary, E::CommunicationsInterrupted;
    r_s_pd, "reach secondary PARTNER-DOWN", Role::Secondary, E::PartnerDown;
    r_s_pc, "reach secondary POTENTIAL-CONFLICT", Role::Secondary, E::PotentialConflict;
    r_s_recover, "reach secondary RECOVER", Role::Secondary, E::Recover;
    r_s_rwait, "reach secondary RECOVER-WAIT", Role::Secondary, E::RecoverWait;
    r_s_rdone, "reach secondary RECOVER-DONE", Role::Secondary, E::RecoverDone;
    r_s_resint, "reach secondary RESOLUTION-INTERRUPTED", Role::Secondary, E::ResolutionInterrupted;
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
    ($($fname:ident, $label:literal, $bit:expr;)*) => {
        $(
            /// `sometimes` (L1, §8): after this kind of fault, both servers are back in NORMAL
            /// with the network whole.
            fn $fname(_: &FailoverModel, w: &World) -> bool {
                w.ghost.faults_seen & $bit != 0 && !w.link.partitioned && w.both_in(E::Normal)
            }
        )*
        fn reintegration_properties() -> Vec<Property<FailoverModel>> {
            vec![$(Property::sometimes($label, $fname)),*]
        }
    };
}

reintegration! {
    back_after_break, "NORMAL again after a connection break", fault::BREAK;
    back_after_partition, "NORMAL again after a partition", fault::PARTITION;
    back_after_crash, "NORMAL again after a crash", fault::CRASH;
    back_after_storage_loss, "NORMAL again after a storage loss", fault::STORAGE_LOSS;
    back_after_pd, "NORMAL again after PARTNER-DOWN", fault::PD_COMMAND;
}

/// Every property of the model, in a fixed order.
#[must_use]
pub fn all() -> Vec<Property<FailoverModel>> {
    let mut v = vec![
        Property::always(name::S1, s1),
        Property::always(name::S2, p_s2),
        Property::always(name::S3, s3),
        Property::always(name::S4, p_s4),
        Property::always(name::S5, p_s5),
        Property::always(name::S5B, p_s5b),
        Property::always(name::S6, p_s6),
        Property::always(name::S7, p_s7),
        Property::always(name::S8, p_s8),
        Property::always(name::S9, p_s9),
        Property::always(name::S10, p_s10),
        Property::always(name::S13, p_s13),
        Property::always(name::S13B, p_s13b),
        Property::always(name::S14, p_s14),
        Property::always(name::S15, p_s15),
        Property::always(name::S16, s16),
        Property::always(name::S17, p_s17),
        Property::always(name::S18, p_s18),
        Property::always(name::S19, p_s19),
        Property::always(name::S20, p_s20),
        Property::always(name::S21, p_s21),
        Property::always(name::S23, p_s23),
        Property::always(name::S24, p_s24),
        Property::always(name::S25, p_s25),
        Property::always(name::S32, p_s32),
        Property::always(name::S24B, p_s24b),
        Property::always(name::S30, p_s30),
        Property::always(name::L9, p_l9),
        Property::always(name::I1, p_i1),
        Property::always(name::L1, l1),
        Property::always(name::L5, l5),
        Property::always(name::D1, d1),
        Property::sometimes("both NORMAL", both_normal),
        Property::sometimes("a client holds a lease", client_holds),
        Property::sometimes("two clients hold leases", two_clients_hold),
        Property::sometimes("lease granted in COMMUNICATIONS-INTERRUPTED", renewed_in_comm_int),
        Property::sometimes("lease granted in PARTNER-DOWN", granted_in_pd),
        Property::sometimes("both servers serve while apart", both_serve_while_apart),
        Property::sometimes("a prefix and an address held", prefix_and_address_held),
        Property::sometimes("L1 window reached (non-vacuity)", l1_window),
        Property::sometimes("L5 exercised: a run ends outside NORMAL", l5_exercised),
    ];
    v.extend(reach_properties());
    v.extend(reintegration_properties());
    v
}
