//! A state transition (RFC 8156 §8.1) as the router runs it: the record keeping
//! ([`crate::failover::machine::Machine::record_transition`]), our STATE to the partner, the
//! exit actions of the state left and the entry actions of the state entered; and the
//! comm-OK re-evaluation against the partner's state, with the update requests of RECOVER
//! (§8.5.2) and POTENTIAL-CONFLICT (§8.10).

use super::Endpoint;
use crate::failover::state::{self, EndpointState, Role};
use crate::io::Timer;
use crate::sink::Sink;
use crate::time::Time;

impl Endpoint {
    /// Moves to `to` (§8.1): persist the new state, the partner's state and the time; send
    /// STATE if the partner can hear it; then the exit actions of the old state and the entry
    /// actions of the new one.
    pub(super) fn transition(&mut self, now: Time, to: EndpointState, sink: &mut Sink) {
        let Some(from) =
            self.machine.record_transition(now, to, &self.config, self.conn.partner(), sink)
        else {
            return;
        };
        if self.conn.hears_state() {
            self.send_state(now, sink);
        }
        self.exit_actions(now, from, sink);
        self.entry_actions(now, to, sink);
    }

    /// What leaving `from` undoes.
    fn exit_actions(&mut self, now: Time, from: EndpointState, sink: &mut Sink) {
        if from == EndpointState::PartnerDown {
            self.leases.free_acked_after_partner_down(now, sink);
        }
        if from == EndpointState::CommunicationsInterrupted {
            sink.cancel_timer(Timer::AutoPartnerDown);
        }
        if from == EndpointState::Startup {
            sink.cancel_timer(Timer::Startup);
        }
        if from == EndpointState::Recover {
            sink.cancel_timer(Timer::RecoverStall);
        }
    }

    /// What entering `to` starts.
    fn entry_actions(&mut self, now: Time, to: EndpointState, sink: &mut Sink) {
        match to {
            EndpointState::CommunicationsInterrupted => {
                // §8.8.2 SHOULD raise an alarm when comms fail; entering COMM-INT with comms up
                // (RECOVER-DONE seeing a recovering partner, §8.7.2) is routine.
                if !self.comms_ok() {
                    sink.alarm("entered COMMUNICATIONS-INTERRUPTED: the partner is unreachable");
                }
                if let Some(secs) = self.config.auto_partner_down {
                    sink.set_timer(Timer::AutoPartnerDown, now.plus(secs));
                }
            }
            EndpointState::ResolutionInterrupted => {
                sink.alarm("entered RESOLUTION-INTERRUPTED: conflict resolution was interrupted");
            }
            EndpointState::PotentialConflict => {
                self.updates.forget_request();
                self.maybe_request_conflict_updates(now, sink);
            }
            EndpointState::Recover => self.maybe_request_recovery(now, sink),
            EndpointState::RecoverWait => {
                let at = self.machine.recover_wait_end(&self.config, self.conn.partner(), now);
                sink.set_timer(Timer::RecoverWait, at);
            }
            EndpointState::Normal => {
                self.flush_updates(now, sink);
                if self.config.role == Role::Secondary && self.comms_ok() {
                    // §8.8: after flushing its unacked updates, the secondary asks for its
                    // share of the delegable prefixes (§4.2.2).
                    self.conn.send_poolreq(now, &self.updates, sink);
                }
            }
            EndpointState::ConflictDone => self.flush_updates(now, sink),
            _ => {}
        }
    }

    /// Applies the comm-OK transition table for the partner's current state (§8.1: re-evaluated
    /// whenever one of the inputs changes).
    pub(super) fn evaluate_partner_state(&mut self, now: Time, sink: &mut Sink) {
        if !self.comms_ok() || self.conn.partner().flags.startup && !self.trusts_startup_state() {
            return;
        }
        for _ in 0..4 {
            let Some(p) = self.conn.partner().state else { return };
            let current = self.machine.state();
            let Some(mut next) = state::on_partner_state(current, self.config.role, p) else {
                break;
            };
            #[cfg(feature = "mutations")]
            if self.mutated(crate::mutation::Mutation::SkipPotentialConflict)
                && next == EndpointState::PotentialConflict
                && matches!(
                    current,
                    EndpointState::PartnerDown | EndpointState::CommunicationsInterrupted
                )
            {
                next = EndpointState::Normal;
            }
            if next == EndpointState::Normal && current == EndpointState::Normal {
                next = current;
            }
            if next == EndpointState::Normal
                && self.awaits_recover_done_interlock(current, p, now, sink)
            {
                // The BNDREPLY that settles the last update in flight comes back here.
                break;
            }
            self.transition(now, next, sink);
        }
        // Comms-OK actions that depend on the partner's state.
        match self.machine.state() {
            EndpointState::Recover => self.maybe_request_recovery(now, sink),
            EndpointState::PotentialConflict => self.maybe_request_conflict_updates(now, sink),
            _ => {}
        }
    }

    /// §8.7 "an interlocked transition": a server that kept serving (PARTNER-DOWN or
    /// COMMUNICATIONS-INTERRUPTED) and sees its partner in RECOVER-DONE enters NORMAL only
    /// once every update it owes the partner is acknowledged. The partner enters NORMAL on our
    /// STATE(NORMAL) and allocates from its own pool at once (§8.7.2, §8.8); an update still
    /// queued behind that STATE (a prefix of the partner's we delegated in PARTNER-DOWN,
    /// §8.4.1) would arrive too late. This matters when the partner reached RECOVER-DONE while
    /// apart (§8.6.2: the RECOVER-WAIT timer runs while communications are down), after the
    /// update request that would otherwise have carried those bindings (found by the random
    /// walks: seeds 5227 and 1000190 of `failover-check walk --config walk`).
    pub(super) fn awaits_recover_done_interlock(
        &mut self,
        current: EndpointState,
        partner: EndpointState,
        now: Time,
        sink: &mut Sink,
    ) -> bool {
        if !interlocked(current, partner) {
            return false;
        }
        // Everything that may go now goes ahead of our STATE(NORMAL); NORMAL waits while any
        // of it is unacknowledged. What cannot go now (an update the partner rejected, held to
        // the next scan, §7.5.4) does not hold NORMAL back: the partner's record won.
        self.flush_updates(now, sink);
        self.updates.unacked_count() > 0
    }

    /// Whether a STATE with the STARTUP flag is taken as the partner's real state (only the
    /// seeded bug `TrustStartupState` does, §8.4.2).
    pub(super) fn trusts_startup_state(&self) -> bool {
        #[cfg(feature = "mutations")]
        if self.mutated(crate::mutation::Mutation::TrustStartupState) {
            return true;
        }
        false
    }

    /// §8.5.2: in RECOVER with comms OK and the partner not in POTENTIAL-CONFLICT,
    /// RESOLUTION-INTERRUPTED or CONFLICT-DONE, ask for updates: UPDREQALL if this server has
    /// no record of having talked to its partner while the partner has (our reading: the
    /// partner's C flag, digest §4.6), else UPDREQ.
    fn maybe_request_recovery(&mut self, now: Time, sink: &mut Sink) {
        use EndpointState::*;
        if self.machine.state() != Recover || !self.comms_ok() || self.updates.requesting() {
            return;
        }
        if self.conn.partner().flags.startup && !self.trusts_startup_state() {
            return;
        }
        if matches!(
            self.conn.partner().state,
            None | Some(PotentialConflict | ResolutionInterrupted | ConflictDone)
        ) {
            return;
        }
        self.request_updates(now, sink);
        if self.config.recover_stall_time > 0 {
            sink.set_timer(Timer::RecoverStall, now.plus(self.config.recover_stall_time));
        }
    }

    /// §8.10: the primary sends UPDREQ on entering POTENTIAL-CONFLICT; the secondary waits
    /// until it sees the primary in CONFLICT-DONE, then sends UPDREQ (§8.10.2).
    fn maybe_request_conflict_updates(&mut self, now: Time, sink: &mut Sink) {
        if self.machine.state() != EndpointState::PotentialConflict
            || !self.comms_ok()
            || self.updates.requesting()
        {
            return;
        }
        let go = match self.config.role {
            Role::Primary => true,
            Role::Secondary => self.conn.partner().state == Some(EndpointState::ConflictDone),
        };
        if go {
            self.request_updates(now, sink);
        }
    }

    /// Sends UPDREQALL when the machine needs everything, else UPDREQ (§8.5.2), remembering
    /// across a crash that everything is needed.
    ///
    /// Also from POTENTIAL-CONFLICT (§8.10.2 names UPDREQ only): a server that lost its
    /// storage and meets its partner in POTENTIAL-CONFLICT, RESOLUTION-INTERRUPTED or
    /// CONFLICT-DONE goes RECOVER → POTENTIAL-CONFLICT (§8.5.2) and never sends the UPDREQALL
    /// of RECOVER; an UPDREQ there returns only the partner's unacknowledged updates, so the
    /// bindings it had acknowledged before the loss would stay missing and, in a later
    /// COMMUNICATIONS-INTERRUPTED, its own leases would look free (found by the model checker,
    /// property S25, configuration `storage`; docs/design.md).
    fn request_updates(&mut self, now: Time, sink: &mut Sink) {
        let all = self.machine.needs_everything(self.conn.partner());
        self.updates.request(now, all, &mut self.conn, sink);
        if all && self.machine.note_needs_everything() {
            // Remember across a crash that recovery needs everything (§8.5.2).
            self.persist_record(now, sink);
        }
    }
}

/// Whether a move to NORMAL from `own` with the partner in `partner` is the §8.7 interlock
/// (see `Endpoint::awaits_recover_done_interlock`).
pub(super) fn interlocked(own: EndpointState, partner: EndpointState) -> bool {
    matches!(own, EndpointState::PartnerDown | EndpointState::CommunicationsInterrupted)
        && partner == EndpointState::RecoverDone
}
