//! Routing timers (RFC 8156 §6.6, §8.3.2, §8.6.2, §8.9, §7.5.4) and operator commands (§8.4,
//! §8.8.2, §5.3.10, §7.2 (10)).

use super::{standing, Endpoint};
use crate::failover::state::EndpointState;
use crate::io::{Command, Event, Timer};
use crate::sink::Sink;
use crate::time::Time;

impl Endpoint {
    /// [`crate::io::Input::Timeout`]: fires every due timer, earliest deadline first and, at
    /// equal deadlines, in [`Timer`] order; each at most once per call, and each exactly as
    /// [`crate::io::Input::Timer`] would (its step settled before the next is chosen, since a
    /// firing may arm or cancel others). The contract is in [`crate::io`].
    pub(super) fn on_timeout(&mut self, now: Time, sink: &mut Sink) {
        let mut fired: Vec<Timer> = Vec::new();
        while let Some(t) = sink.next_due(now, &fired) {
            fired.push(t);
            self.on_timer(now, t, sink);
            self.settle_step(now, sink);
        }
    }

    pub(super) fn on_timer(&mut self, now: Time, t: Timer, sink: &mut Sink) {
        // A timer fires only when armed and due; anything else is stale and ignored.
        if !sink.fire(t, now) {
            return;
        }
        match t {
            Timer::Startup => {
                if self.machine.state() == EndpointState::Startup {
                    // §8.3.2 step 6 (and the commissioning option of step 1).
                    let to = self.machine.startup_timeout_target(&self.config);
                    self.transition(now, to, sink);
                }
            }
            Timer::Keepalive => {
                if !self.conn.is_down() {
                    sink.partner_rejected("keepalive expired");
                    self.drop_connection(now, sink);
                }
            }
            Timer::Contact => self.conn.on_contact_timer(now, &self.updates, sink),
            Timer::RecoverWait => {
                if self.machine.state() == EndpointState::RecoverWait {
                    self.transition(now, EndpointState::RecoverDone, sink);
                    self.evaluate_partner_state(now, sink);
                } else if self.machine.end_storage_hold_if_due(&self.config, now) {
                    // The hold after a storage loss, reached outside RECOVER-WAIT, is over.
                    self.persist_record(now, sink);
                }
            }
            Timer::AutoPartnerDown => {
                if self.machine.state() == EndpointState::CommunicationsInterrupted {
                    self.transition(now, EndpointState::PartnerDown, sink);
                }
            }
            Timer::Reconnect => self.conn.on_reconnect_timer(&self.config, sink),
            Timer::Expiry => {
                // Lease expiry (§7.2 (8)) and, in PARTNER-DOWN, the MCLT-delayed transition (4).
                let st = standing(&self.config, &self.machine);
                self.leases.expire(now, &st, sink);
                self.flush_updates(now, sink);
            }
            Timer::UpdateScan => {
                self.updates.release_held();
                self.flush_updates(now, sink);
                if self.comms_ok() {
                    sink.set_timer(Timer::UpdateScan, now.plus(self.config.update_scan_interval));
                }
            }
            Timer::Heartbeat => {
                self.persist_record(now, sink);
                if self.config.heartbeat_interval > 0 {
                    sink.set_timer(Timer::Heartbeat, now.plus(self.config.heartbeat_interval));
                }
            }
            Timer::RecoverStall => {
                if self.machine.state() == EndpointState::Recover
                    && self.updates.requesting()
                    && !self.conn.is_down()
                {
                    sink.partner_rejected("no progress in RECOVER");
                    self.drop_connection(now, sink);
                }
            }
        }
    }

    pub(super) fn on_command(&mut self, now: Time, c: Command, sink: &mut Sink) {
        match c {
            Command::PartnerDown => {
                use EndpointState::*;
                let state = self.machine.state();
                // §8.8.2, §8.9.2, §8.11.2: from NORMAL, COMM-INT or RESOLUTION-INT.
                if matches!(state, Normal | CommunicationsInterrupted | ResolutionInterrupted) {
                    self.transition(now, PartnerDown, sink);
                } else if state != PartnerDown {
                    sink.event(Event::CommandRefused {
                        command: Command::PartnerDown,
                        state,
                        reason: "PARTNER-DOWN is entered only from NORMAL, COMMUNICATIONS-INTERRUPTED or RESOLUTION-INTERRUPTED (§8.8.2, §8.9.2, §8.11.2)".into(),
                    });
                }
            }
            Command::Shutdown => {
                self.conn.shut_down(now, &self.updates, sink);
                if !self.conn.is_down() {
                    self.drop_connection(now, sink);
                }
                self.persist_record(now, sink);
            }
            Command::ResetAbandoned(r) => match self.leases.reset_abandoned(now, &r, sink) {
                Ok(()) => self.flush_updates(now, sink),
                Err(reason) => sink.event(Event::CommandRefused {
                    command: Command::ResetAbandoned(r),
                    state: self.machine.state(),
                    reason,
                }),
            },
        }
    }
}
