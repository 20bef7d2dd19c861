//! Lazy updates (RFC 8156 §4.3, §7.4-§7.7): which binding changes go to the partner and when
//! (§7.4, MAX_UNACKED_BNDUPD §6.1.1), the outstanding BNDUPDs and their acks (§7.7), the
//! partner's UPDREQ / UPDREQALL and our UPDDONE (§5.3.5-§5.3.7), our own request, and the
//! proportional rebalancing of delegable prefixes (§4.2.2). Receiving a BNDUPD, with conflict
//! resolution (§7.5), is in [`crate::failover::bndupd`].

use crate::failover::bndupd::{
    bndupd, client_data, prefix_data, receive_client, receive_prefix, reply_outcomes, whole_reject,
};
use crate::failover::connection::{Connection, OpenXids};
use crate::failover::message::{
    BindingMessage, BindingPayload, MessageBody, NoOptions, StatusCode,
};
use crate::failover::state::{EndpointState, Role};
use crate::io::{Event, Timer};
use crate::leases::allocation::{Leases, Standing};
use crate::leases::binding::{pending_free_resolves_to, Binding, BindingStatus};
use crate::resource::Resource;
use crate::sink::Sink;
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The most prefixes one rebalancing pass hands off or takes back (§4.2.2 leaves the policy
/// to the implementation; a bound keeps one step's work and one burst of BNDUPDs small).
pub const MAX_REBALANCE_PER_PASS: u64 = 1024;

/// One binding carried in an outstanding BNDUPD.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Sent {
    pub(crate) resource: Resource,
    /// The binding's version when the update was built (§7.7 caveat, digest §6.7).
    pub(crate) version: u32,
    /// A proportional take-back (stand-alone IAPREFIX with FREE, §4.2.2).
    pub(crate) takeback: bool,
}

/// The update exchanges with the partner. Everything here lives as long as the connection
/// (`Updates::reset` when comms fail).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Updates {
    /// Outstanding BNDUPDs by transaction id.
    unacked: BTreeMap<u32, Vec<Sent>>,
    in_flight: BTreeSet<Resource>,
    /// Flagged after a rejection while already flagged: wait for the next scan (§7.5.4).
    held: BTreeSet<Resource>,
    /// Prefixes to take back from the secondary (§4.2.2), not yet sent.
    takeback: BTreeSet<Resource>,
    /// Answering the partner's UPDREQ (false) or UPDREQALL (true) with this xid.
    serving: Option<(u32, bool)>,
    /// The updates that request asked for: each resource pending when it arrived (every
    /// binding for UPDREQALL) with its version then. UPDDONE waits for these alone (§5.3.5,
    /// §5.3.7), so changes made afterwards cannot starve it; they are sent first.
    requested_updates: BTreeMap<Resource, u32>,
    /// Our outstanding UPDREQ (false) / UPDREQALL (true).
    requested: Option<(u32, bool)>,
}

impl OpenXids for Updates {
    fn is_open(&self, x: u32) -> bool {
        self.unacked.contains_key(&x)
            || self.requested.is_some_and(|(r, _)| r == x)
            || self.serving.is_some_and(|(s, _)| s == x)
    }

    fn open_count(&self) -> usize {
        self.unacked.len()
    }
}

impl Updates {
    // ------------------------------------------------------------ reading

    /// BNDUPDs sent and not yet answered.
    pub(crate) fn unacked_count(&self) -> usize {
        self.unacked.len()
    }

    /// The resources carried by outstanding BNDUPDs.
    pub(crate) fn in_flight(&self) -> &BTreeSet<Resource> {
        &self.in_flight
    }

    /// Whether our UPDREQ / UPDREQALL is outstanding.
    pub(crate) fn requesting(&self) -> bool {
        self.requested.is_some()
    }

    /// Checks the update invariants (§6.1.1 S16; bookkeeping; nothing outstanding without
    /// comms).
    pub(crate) fn check(&self, max_unacked: u32, comms_ok: bool) -> Result<(), String> {
        if self.unacked.len() > max_unacked.max(1) as usize {
            return Err(format!(
                "{} unacked BNDUPDs > MAX_UNACKED_BNDUPD {}",
                self.unacked.len(),
                max_unacked
            ));
        }
        let carried: BTreeSet<Resource> =
            self.unacked.values().flatten().map(|s| s.resource).collect();
        if carried != self.in_flight {
            return Err("in-flight set differs from the outstanding BNDUPDs".into());
        }
        if !comms_ok
            && (self.serving.is_some() || self.requested.is_some() || !self.unacked.is_empty())
        {
            return Err("update exchange outstanding without comms".into());
        }
        Ok(())
    }

    // ------------------------------------------------------------ lifecycle

    /// Comms failed: every exchange is over (what was not acked stays flagged).
    pub(crate) fn reset(&mut self) {
        self.unacked.clear();
        self.in_flight.clear();
        self.takeback.clear();
        self.serving = None;
        self.requested_updates.clear();
        self.requested = None;
    }

    /// The periodic scan (§7.5.4): held changes may go again.
    pub(crate) fn release_held(&mut self) {
        self.held.clear();
    }

    /// Entering POTENTIAL-CONFLICT forgets an earlier request (§8.10).
    pub(crate) fn forget_request(&mut self) {
        self.requested = None;
    }

    /// Sends UPDREQALL (`all`) or UPDREQ (§5.3.5, §5.3.6) and remembers it.
    pub(crate) fn request(&mut self, now: Time, all: bool, conn: &mut Connection, sink: &mut Sink) {
        let body = if all {
            MessageBody::UpdReqAll(NoOptions::default())
        } else {
            MessageBody::UpdReq(NoOptions::default())
        };
        let xid = conn.send_new(now, body, self, sink);
        self.requested = Some((xid, all));
    }

    // ------------------------------------------------------------ sending

    /// Whether BNDUPDs may go to the partner now: comms OK and either the state exchanges
    /// updates freely (NORMAL, CONFLICT-DONE), or the partner asked for them (UPDREQ/ALL), or
    /// this server serves clients (PARTNER-DOWN, COMMUNICATIONS-INTERRUPTED) while the partner
    /// is recovering (RECOVER, RECOVER-WAIT, RECOVER-DONE).
    ///
    /// The last is our reading of lazy update (§4.3, "as time permits"): a server in
    /// PARTNER-DOWN may allocate the recovering partner's prefixes (§8.4.1) after its UPDDONE.
    /// Held back until its own NORMAL, those updates queued behind its STATE(NORMAL), on which
    /// the partner enters NORMAL and allocates from its pool at once: the same prefix went to
    /// two clients (found by the model checker, `deep` with `max_faults=1`).
    fn may_send(&self, state: EndpointState, conn: &Connection) -> bool {
        use EndpointState::*;
        conn.is_ok()
            && (self.serving.is_some()
                || matches!(state, Normal | ConflictDone)
                || matches!(state, PartnerDown | CommunicationsInterrupted)
                    && matches!(conn.partner().state, Some(Recover | RecoverWait | RecoverDone)))
    }

    /// Sends flagged bindings, one BNDUPD per client (all its IAs, §7.4) or per client-less
    /// prefix, as long as fewer than the partner's MAX_UNACKED_BNDUPD are outstanding
    /// (§6.1.1). Completes a served UPDREQ/UPDREQALL with UPDDONE once everything is acked.
    pub(crate) fn flush(
        &mut self,
        now: Time,
        state: EndpointState,
        conn: &mut Connection,
        leases: &mut Leases,
        sink: &mut Sink,
    ) {
        if !self.may_send(state, conn) {
            return;
        }
        let limit = conn.partner().max_unacked.max(1) as usize;
        // Take-backs first: they are few and rebalancing waits on them.
        while self.unacked.len() < limit {
            let Some(r) = self.takeback.iter().find(|r| !self.in_flight.contains(r)).copied()
            else {
                break;
            };
            self.takeback.remove(&r);
            let Some(b) = leases.get(&r).filter(|b| b.status == BindingStatus::FreeBackup).cloned()
            else {
                continue;
            };
            let mut free = b.clone();
            free.status = BindingStatus::Free;
            free.start_time_of_state = now;
            let payload = BindingPayload::Prefix(prefix_data(&free, now));
            let xid = conn.send_new(now, bndupd(payload), self, sink);
            self.in_flight.insert(r);
            self.unacked
                .insert(xid, vec![Sent { resource: r, version: b.version, takeback: true }]);
        }
        // Bindings whose client has another update outstanding wait for its answer (skipped in
        // this pass only; they stay flagged).
        let mut skipped: BTreeSet<Resource> = BTreeSet::new();
        while self.unacked.len() < limit {
            let ready = |r: &Resource| {
                !self.in_flight.contains(r) && !skipped.contains(r) && !self.held.contains(r)
            };
            // What the partner's UPDREQ/UPDREQALL asked for goes first (§5.3.5).
            let requested = self
                .requested_updates
                .keys()
                .find(|r| ready(r) && leases.get(r).is_some_and(|b| b.pending))
                .copied();
            let next = requested.or_else(|| leases.db().pending().find(|r| ready(r)).copied());
            let Some(r) = next else { break };
            let Some(b) = leases.get(&r).cloned() else { break };
            match (&b.client, r) {
                (Some(key), _) => {
                    let duid = key.duid.clone();
                    let group: Vec<Binding> = leases.db().of_duid(&duid).cloned().collect();
                    if group.iter().any(|g| self.in_flight.contains(&g.resource)) {
                        skipped.insert(r);
                        continue;
                    }
                    let payload = BindingPayload::Client(client_data(&duid, &group, now));
                    let xid = conn.send_new(now, bndupd(payload), self, sink);
                    let sent: Vec<Sent> = group
                        .iter()
                        .map(|g| Sent { resource: g.resource, version: g.version, takeback: false })
                        .collect();
                    for s in &sent {
                        self.in_flight.insert(s.resource);
                    }
                    leases.announce(
                        group
                            .iter()
                            .filter(|g| {
                                matches!(g.status, BindingStatus::Expired | BindingStatus::Released)
                            })
                            .map(|g| g.resource),
                    );
                    self.unacked.insert(xid, sent);
                }
                (None, Resource::Prefix(..)) => {
                    let payload = BindingPayload::Prefix(prefix_data(&b, now));
                    let xid = conn.send_new(now, bndupd(payload), self, sink);
                    self.in_flight.insert(r);
                    self.unacked.insert(
                        xid,
                        vec![Sent { resource: r, version: b.version, takeback: false }],
                    );
                }
                (None, Resource::Address(_)) => {
                    // An address no client ever held: nothing the partner needs (untouched
                    // addresses are implicitly available by their half). Clear the flag.
                    leases.set_pending_quietly(&r, false);
                }
            }
        }
        self.maybe_upddone(now, leases, sink);
    }

    /// §5.3.7: UPDDONE once every update the request asked for has been sent and answered.
    /// An entry leaves `requested_updates` when a BNDREPLY answers a version at least as new
    /// as the one the request found, or when nothing is left to send for it (the partner's own
    /// newer update superseded it, or it needs no update). Changes made after the request are
    /// not waited for: under a steady load of new leases the backlog may never empty, and the
    /// recovering partner would wait in RECOVER for ever; they follow as lazy updates, which
    /// `may_send` keeps flowing while the partner recovers.
    fn maybe_upddone(&mut self, now: Time, leases: &Leases, sink: &mut Sink) {
        let Some((xid, _)) = self.serving else { return };
        // The requested updates go out in key order, so the done ones gather at the front:
        // clearing from there keeps a request for a million bindings linear overall.
        while let Some((&r, _)) = self.requested_updates.first_key_value() {
            let open = self.in_flight.contains(&r)
                || leases.get(&r).is_some_and(|b| b.pending && !self.held.contains(&r));
            if open {
                break;
            }
            self.requested_updates.remove(&r);
        }
        if self.requested_updates.is_empty() {
            self.serving = None;
            sink.send(now, xid, MessageBody::UpdDone(NoOptions::default()));
        }
    }

    // ------------------------------------------------------------ receiving

    /// UPDREQ / UPDREQALL from the partner (§5.3.5, §5.3.6). The caller flushes.
    pub(crate) fn on_updreq(&mut self, xid: u32, all: bool, leases: &mut Leases) {
        if all {
            // Send every binding; v4-12 §5.17: clear every "partner is up to date" mark.
            let everything: Vec<Resource> = leases.db().iter().map(|b| b.resource).collect();
            for r in everything {
                leases.set_pending_quietly(&r, true);
            }
        }
        if all {
            self.held.clear();
        }
        let db = leases.db();
        self.requested_updates = db
            .pending()
            .filter_map(|r| db.get(r).map(|b| (*r, b.version)))
            .chain(self.in_flight.iter().filter_map(|r| db.get(r).map(|b| (*r, b.version))))
            .collect();
        self.serving = Some((xid, all));
    }

    /// UPDDONE (§5.3.7): `Some(all)` if it completes our UPDREQ (false) / UPDREQALL (true).
    pub(crate) fn on_upddone(&mut self, xid: u32, sink: &mut Sink) -> Option<bool> {
        if self.requested.map(|(x, _)| x) != Some(xid) {
            sink.partner_rejected("UPDDONE for no request");
            return None;
        }
        let (_, all) = self.requested.take().unwrap_or_default();
        Some(all)
    }

    /// A BNDUPD from the partner (§7.5): resolve and store, then answer with BNDREPLY after
    /// the writes (§7.5.2), then our own version of what we rejected (§7.5.4).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_bndupd(
        &mut self,
        now: Time,
        xid: u32,
        m: BindingMessage,
        st: &Standing,
        conn: &mut Connection,
        leases: &mut Leases,
        sink: &mut Sink,
    ) {
        if st.state == EndpointState::Recover && st.config.recover_stall_time > 0 {
            sink.set_timer(Timer::RecoverStall, now.plus(st.config.recover_stall_time));
        }
        let reply = match m.payload {
            None => whole_reject(
                None,
                StatusCode::MISSING_BINDING_INFORMATION,
                "no CLIENT_DATA or IAPREFIX",
            ),
            Some(_)
                if !m.unknown.is_empty()
                    && m.unknown.iter().any(|o| o.code == 45 || o.code == 26) =>
            {
                whole_reject(
                    None,
                    StatusCode::MISSING_BINDING_INFORMATION,
                    "more than one binding option",
                )
            }
            Some(BindingPayload::Client(cd)) => {
                receive_client(now, cd, st, leases, &mut self.held, sink)
            }
            Some(BindingPayload::Prefix(pd)) => receive_prefix(now, pd, st, leases, sink),
        };
        let (reply, rejected) = reply;
        let body = MessageBody::BndReply(reply);
        #[cfg(feature = "mutations")]
        if st.mutated(crate::mutation::Mutation::AckBeforePersist) {
            // The seeded bug: the ack goes out before the writes that precede it.
            sink.send_before_persists(now, xid, body);
            self.flag_rejected(rejected, leases, sink);
            self.flush(now, st.state, conn, leases, sink);
            return;
        }
        // §7.5.4: flag what we rejected (persisted with the rest of this step's writes).
        self.flag_rejected(rejected, leases, sink);
        // §7.5.2: every write of this step is persisted above; only now the BNDREPLY, and
        // after it our own version of anything we rejected (§7.5.4 "after the BNDREPLY").
        sink.send(now, xid, body);
        self.flush(now, st.state, conn, leases, sink);
    }

    /// §7.5.4: a lease we rejected as outdated gets our flag; if the flag was clear our version
    /// goes at once (after the BNDREPLY), otherwise it waits for the next scan.
    fn flag_rejected(&mut self, rejected: Vec<Resource>, leases: &mut Leases, sink: &mut Sink) {
        for r in rejected {
            if let Some(b) = leases.get(&r) {
                let mut b = b.clone();
                if b.pending {
                    self.held.insert(r);
                } else {
                    b.mark_changed();
                    leases.store(b, sink);
                }
            }
        }
    }

    /// A BNDREPLY (§7.7), matched to the BNDUPD it answers by xid.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_bndreply(
        &mut self,
        now: Time,
        xid: u32,
        m: &BindingMessage,
        st: &Standing,
        conn: &mut Connection,
        leases: &mut Leases,
        sink: &mut Sink,
    ) {
        let Some(sent) = self.unacked.remove(&xid) else {
            sink.partner_rejected(format!("BNDREPLY for unknown xid {xid}"));
            return;
        };
        for s in &sent {
            self.in_flight.remove(&s.resource);
            if self.requested_updates.get(&s.resource).is_some_and(|v| s.version >= *v) {
                // This answer covers what the partner's request asked for (accepted, or
                // rejected because the partner has newer information, §7.5.4).
                self.requested_updates.remove(&s.resource);
            }
        }
        let outcomes = reply_outcomes(m);
        for s in sent {
            let Some(&(accepted, code, pl_sent)) = outcomes.get(&s.resource) else {
                // Not answered: it stays flagged and goes again.
                continue;
            };
            let Some(b) = leases.get(&s.resource) else { continue };
            let mut b = b.clone();
            if !accepted {
                sink.event(Event::UpdateRejectedByPartner { resource: s.resource, code });
                // §7.5.4: the partner believes it has newer information and will send it. Our
                // change stays flagged but waits for the next scan, so two servers that
                // disagree exchange at most one update per scan interval.
                self.held.insert(s.resource);
                continue;
            }
            if s.takeback {
                // §4.2.2: the take-back took effect; the prefix is the primary's again.
                if b.status == BindingStatus::FreeBackup {
                    b.status = BindingStatus::Free;
                    b.start_time_of_state = now;
                    b.version = b.version.wrapping_add(1);
                    leases.store(b, sink);
                }
                continue;
            }
            // §7.7: acked partner lifetime from PARTNER_LIFETIME_SENT (max rule).
            if let Some(pl) = pl_sent {
                b.acked_partner_lifetime = b.acked_partner_lifetime.max(pl);
            }
            if b.version == s.version {
                // §7.7 says `partner_lifetime := 0` here; that zero is the RFC's "nothing
                // pending" marker, which the flag and version replace (digest §11.3 item 7).
                // The value is kept: the PARTNER-DOWN wait of §4.2.2.1 must cover the last
                // partner lifetime sent (found by the model checker, S8).
                b.pending = false;
                if b.status.awaits_ack_to_free() && st.ack_may_free(&b, now) {
                    // §7.2 (4)-(6): EXPIRED/RELEASED/RESET → PENDING-FREE → FREE/FREE-BACKUP.
                    // The partner made the same move when it acked (see `receive_lease`).
                    b.status = pending_free_resolves_to(&s.resource);
                    b.start_time_of_state = now;
                    b.version = b.version.wrapping_add(1);
                }
            }
            leases.store(b, sink);
        }
        self.flush(now, st.state, conn, leases, sink);
        self.maybe_upddone(now, leases, sink);
    }

    /// §4.2.2: the primary moves delegable prefixes towards the configured share for the
    /// secondary, with a threshold against churn: FREE → FREE-BACKUP by BNDUPD (the prefix is
    /// the secondary's once the BNDUPD is sent), and FREE-BACKUP → FREE by a take-back BNDUPD
    /// that the secondary may refuse.
    pub(crate) fn rebalance(
        &mut self,
        now: Time,
        st: &Standing,
        conn: &mut Connection,
        leases: &mut Leases,
        sink: &mut Sink,
    ) {
        if st.role() != Role::Primary || !conn.is_ok() {
            return;
        }
        let db = leases.db();
        let backup = db.available_count(BindingStatus::FreeBackup, true) as u64;
        let free =
            db.available_count(BindingStatus::Free, true) as u64 + leases.untouched_prefixes();
        let total = backup + free;
        let target = total * u64::from(st.config.secondary_prefix_share) / 100;
        let threshold = u64::from(st.config.rebalance_threshold);
        if backup + threshold < target {
            let n = (target - backup).min(MAX_REBALANCE_PER_PASS);
            leases.hand_off_prefixes(now, n, sink);
        } else if backup > target + threshold {
            let n = (backup - target).min(MAX_REBALANCE_PER_PASS) as usize;
            let picks: Vec<Resource> = db
                .available(BindingStatus::FreeBackup, true)
                .map(|b| b.resource)
                .filter(|r| !self.in_flight.contains(r))
                .take(n)
                .collect();
            self.takeback.extend(picks);
        }
        self.flush(now, st.state, conn, leases, sink);
    }
}
