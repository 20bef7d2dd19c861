//! Routing what comes from the partner (RFC 8156 §5, §6): each message in the connection
//! phase that allows it goes to the sub-machine it concerns; comms going down (§8.1) and the
//! partner's STATE (§6.3, §8.3.2 step 5), which reach every sub-machine, are orchestrated here.

use super::{standing, Endpoint};
use crate::failover::connection::{ConnPhase, Refused};
use crate::failover::message::{ConnectOptions, Message, MessageBody, NoOptions, StateOptions};
use crate::failover::state::{self, EndpointState, Role};
use crate::io::{Event, Timer};
use crate::sink::Sink;
use crate::time::Time;

impl Endpoint {
    /// Closes the transport and takes the comms-failed path.
    pub(super) fn drop_connection(&mut self, now: Time, sink: &mut Sink) {
        sink.disconnect();
        self.comms_down(now, sink);
    }

    /// Comms are no longer OK (§8.1): TCP closed, keepalive expired, DISCONNECT, skew.
    pub(super) fn comms_down(&mut self, now: Time, sink: &mut Sink) {
        self.updates.reset();
        let was_ok = self.conn.go_down();
        sink.cancel_timer(Timer::Keepalive);
        sink.cancel_timer(Timer::Contact);
        sink.cancel_timer(Timer::RecoverStall);
        sink.cancel_timer(Timer::UpdateScan);
        if was_ok {
            sink.event(Event::Comms(false));
            self.machine.note_failure(now);
            if self.machine.state() != EndpointState::Startup {
                match state::on_comms_failed(self.machine.state()) {
                    Some(next) => self.transition(now, next, sink),
                    None => self.persist_record(now, sink),
                }
            }
        }
        self.conn.arm_reconnect(now, &self.config, sink);
    }

    /// A refusal by the connection's checks: drop the link if it says so.
    fn refused(&mut self, now: Time, r: Refused, sink: &mut Sink) {
        if r == Refused::Drop {
            self.drop_connection(now, sink);
        }
    }

    /// Our STATE to the partner (§6.3).
    pub(super) fn send_state(&mut self, now: Time, sink: &mut Sink) {
        let opts = self.machine.state_options(self.conn.partner().flags.startup);
        self.conn.send_state(now, opts, &self.updates, sink);
    }

    pub(super) fn on_partner_message(&mut self, now: Time, msg: Message, sink: &mut Sink) {
        if let Err(r) = self.conn.admit(now, &msg, &self.config, sink) {
            return self.refused(now, r, sink);
        }
        let xid = msg.xid;
        let st = standing(&self.config, &self.machine);
        match (self.conn.phase(), msg.body) {
            (ConnPhase::AwaitConnect, MessageBody::Connect(o)) => {
                self.on_connect(now, xid, &o, sink)
            }
            (ConnPhase::AwaitConnectReply, MessageBody::ConnectReply(o)) => {
                let reply =
                    self.conn.on_connect_reply(now, xid, &o, &self.config, &self.updates, sink);
                match reply {
                    Ok(()) => self.send_state(now, sink),
                    Err(r) => self.refused(now, r, sink),
                }
            }
            (ConnPhase::AwaitState | ConnPhase::Ok, MessageBody::State(o)) => {
                self.on_state(now, &o, sink)
            }
            (ConnPhase::Ok, MessageBody::BndUpd(b)) => {
                self.updates.on_bndupd(now, xid, b, &st, &mut self.conn, &mut self.leases, sink)
            }
            (ConnPhase::Ok, MessageBody::BndReply(b)) => {
                self.updates.on_bndreply(now, xid, &b, &st, &mut self.conn, &mut self.leases, sink);
                // The §8.7 interlock: NORMAL waited for the updates to be acknowledged.
                if let Some(p) = self.conn.partner().state {
                    if super::transition::interlocked(self.machine.state(), p) {
                        self.evaluate_partner_state(now, sink);
                    }
                }
            }
            (ConnPhase::Ok, MessageBody::UpdReq(_)) => self.on_updreq(now, xid, false, sink),
            (ConnPhase::Ok, MessageBody::UpdReqAll(_)) => self.on_updreq(now, xid, true, sink),
            (ConnPhase::Ok, MessageBody::UpdDone(_)) => {
                if let Some(all) = self.updates.on_upddone(xid, sink) {
                    self.on_updates_received(now, all, sink);
                }
            }
            (ConnPhase::Ok, MessageBody::PoolReq(_)) if self.config.role == Role::Primary => {
                sink.send(now, xid, MessageBody::PoolResp(NoOptions::default()));
                self.updates.rebalance(now, &st, &mut self.conn, &mut self.leases, sink);
            }
            (ConnPhase::Ok, MessageBody::PoolResp(_)) if self.config.role == Role::Secondary => {
                self.conn.on_poolresp(xid, sink);
            }
            (_, MessageBody::Contact(_)) => {}
            (ConnPhase::AwaitConnect, MessageBody::StartTls(_)) => {
                self.conn.refuse_starttls(now, xid, sink);
                self.drop_connection(now, sink);
            }
            (_, MessageBody::Disconnect(o)) => {
                self.conn.on_disconnect(o, &self.config, sink);
                self.drop_connection(now, sink);
            }
            (_, body) => {
                self.conn.refuse_unexpected(now, &body, &self.updates, sink);
                self.drop_connection(now, sink);
            }
        }
    }

    /// §6.1.2: the secondary's checks on CONNECT; on acceptance it adopts the primary's MCLT
    /// (and remembers it), answers, and sends its STATE.
    fn on_connect(&mut self, now: Time, xid: u32, o: &ConnectOptions, sink: &mut Sink) {
        let mclt = match self.conn.check_connect(now, xid, o, &self.config, sink) {
            Ok(mclt) => mclt,
            Err(r) => return self.refused(now, r, sink),
        };
        if self.machine.adopt_mclt(mclt) {
            self.persist_record(now, sink);
        }
        self.conn.accept_connect(now, xid, o, mclt, &self.config, sink);
        self.send_state(now, sink);
    }

    /// UPDREQ / UPDREQALL from the partner (§5.3.5, §5.3.6).
    fn on_updreq(&mut self, now: Time, xid: u32, all: bool, sink: &mut Sink) {
        self.updates.on_updreq(xid, all, &mut self.leases);
        self.flush_updates(now, sink);
    }

    /// UPDDONE answered our request (§5.3.7, §8.5.2, §8.10.2).
    fn on_updates_received(&mut self, now: Time, all: bool, sink: &mut Sink) {
        self.machine.note_updates_received(all);
        match (self.machine.state(), self.config.role) {
            (EndpointState::Recover, _) => {
                self.transition(now, EndpointState::RecoverWait, sink);
            }
            (EndpointState::PotentialConflict, Role::Primary) => {
                self.transition(now, EndpointState::ConflictDone, sink);
            }
            (EndpointState::PotentialConflict, Role::Secondary) => {
                self.transition(now, EndpointState::Normal, sink);
            }
            _ => {}
        }
        self.evaluate_partner_state(now, sink);
    }

    /// The partner's STATE (§6.3): learned, recorded (§6.4); comms become OK on the first
    /// (§6.1); STARTUP resolves (§8.3.2 step 5); the transition table is re-evaluated.
    fn on_state(&mut self, now: Time, o: &StateOptions, sink: &mut Sink) {
        let newly_ok = match self.conn.on_state(now, o, sink) {
            Ok(newly_ok) => newly_ok,
            Err(r) => return self.refused(now, r, sink),
        };
        let flags = o.flags.unwrap_or_default();
        // §6.4: record the partner's state (SHOULD).
        self.machine.note_partner_state(self.conn.partner(), flags.communicated);
        if newly_ok {
            self.machine.note_communicated();
            sink.event(Event::Comms(true));
            sink.set_timer(Timer::UpdateScan, now.plus(self.config.update_scan_interval));
        }
        self.persist_record(now, sink);
        if self.machine.state() == EndpointState::Startup {
            // §8.3.2 step 5. A partner itself in STARTUP reports its recorded state, which says
            // nothing about where it is now: the PD exception needs its real state.
            let trusted = !flags.startup || self.trusts_startup_state();
            let current = self.machine.startup_target(self.conn.partner(), trusted);
            self.transition(now, current, sink);
        }
        if newly_ok || self.conn.partner().flags.startup {
            // Let the partner know we saw its STARTUP flag (A flag), and where we are.
            if flags.startup {
                self.send_state(now, sink);
            }
        }
        self.evaluate_partner_state(now, sink);
        // Whatever the state: `flush_updates` decides whether updates may go now.
        self.flush_updates(now, sink);
    }
}
