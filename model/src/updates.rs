//! Lazy updates (RFC 8156 §4.3): building and sending BNDUPDs (§7.4), receiving them with
//! conflict resolution (§7.5), acks (§7.6, §7.7), UPDREQ / UPDREQALL / UPDDONE (§5.3.5-§5.3.7)
//! and proportional rebalancing of delegable prefixes (§4.2.2).

use crate::endpoint::{Endpoint, Sent, MAX_REBALANCE_PER_PASS};
use crate::failover::conflict::{resolve, Resolution, UpdateTimes};
use crate::failover::message::{
    BindingMessage, BindingPayload, ClientData, IaData, LeaseData, LeaseOptions, MessageBody,
    NoOptions, PrefixData, Status, StatusCode,
};
use crate::failover::state::{EndpointState, Role};
use crate::io::{Event, Output, Timer};
use crate::leases::binding::{pending_free_resolves_to, Binding, BindingStatus};
use crate::resource::{ClientKey, Duid, IaKind, Resource};
use crate::time::Time;
use std::collections::{BTreeMap, BTreeSet};

impl Endpoint {
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
    fn may_send_updates(&self) -> bool {
        use EndpointState::*;
        self.comms_ok()
            && (self.serving.is_some()
                || matches!(self.state, Normal | ConflictDone)
                || matches!(self.state, PartnerDown | CommunicationsInterrupted)
                    && matches!(self.partner.state, Some(Recover | RecoverWait | RecoverDone)))
    }

    /// Sends flagged bindings, one BNDUPD per client (all its IAs, §7.4) or per client-less
    /// prefix, as long as fewer than the partner's MAX_UNACKED_BNDUPD are outstanding
    /// (§6.1.1). Completes a served UPDREQ/UPDREQALL with UPDDONE once everything is acked.
    pub(crate) fn flush_updates(&mut self, now: Time, out: &mut Vec<Output>) {
        if !self.may_send_updates() {
            return;
        }
        let limit = self.partner.max_unacked.max(1) as usize;
        // Take-backs first: they are few and rebalancing waits on them.
        while self.unacked.len() < limit {
            let Some(r) = self.takeback.iter().find(|r| !self.in_flight.contains(r)).copied()
            else {
                break;
            };
            self.takeback.remove(&r);
            let Some(b) =
                self.db.get(&r).filter(|b| b.status == BindingStatus::FreeBackup).cloned()
            else {
                continue;
            };
            let mut free = b.clone();
            free.status = BindingStatus::Free;
            free.start_time_of_state = now;
            let payload = BindingPayload::Prefix(prefix_data(&free, now));
            let xid = self.send_new(now, bndupd(payload), out);
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
                .find(|r| ready(r) && self.db.get(r).is_some_and(|b| b.pending))
                .copied();
            let next = requested.or_else(|| self.db.pending().find(|r| ready(r)).copied());
            let Some(r) = next else { break };
            let Some(b) = self.db.get(&r).cloned() else { break };
            match (&b.client, r) {
                (Some(key), _) => {
                    let duid = key.duid.clone();
                    let group: Vec<Binding> = self.db.of_duid(&duid).cloned().collect();
                    if group.iter().any(|g| self.in_flight.contains(&g.resource)) {
                        skipped.insert(r);
                        continue;
                    }
                    let payload = BindingPayload::Client(client_data(&duid, &group, now));
                    let xid = self.send_new(now, bndupd(payload), out);
                    let sent: Vec<Sent> = group
                        .iter()
                        .map(|g| Sent { resource: g.resource, version: g.version, takeback: false })
                        .collect();
                    for s in &sent {
                        self.in_flight.insert(s.resource);
                    }
                    self.announced.extend(
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
                    let xid = self.send_new(now, bndupd(payload), out);
                    self.in_flight.insert(r);
                    self.unacked.insert(
                        xid,
                        vec![Sent { resource: r, version: b.version, takeback: false }],
                    );
                }
                (None, Resource::Address(_)) => {
                    // An address no client ever held: nothing the partner needs (untouched
                    // addresses are implicitly available by their half). Clear the flag.
                    let mut b = b;
                    b.pending = false;
                    self.db.put(b);
                }
            }
        }
        self.maybe_upddone(now, out);
    }

    /// §5.3.7: UPDDONE once every update the request asked for has been sent and answered.
    /// An entry leaves [`Endpoint::requested_updates`] when a BNDREPLY answers a version at
    /// least as new as the one the request found, or when nothing is left to send for it (the
    /// partner's own newer update superseded it, or it needs no update). Changes made after
    /// the request are not waited for: under a steady load of new leases the backlog may never
    /// empty, and the recovering partner would wait in RECOVER for ever; they follow as lazy
    /// updates, which `may_send_updates` keeps flowing while the partner recovers.
    fn maybe_upddone(&mut self, now: Time, out: &mut Vec<Output>) {
        let Some((xid, _)) = self.serving else { return };
        // The requested updates go out in key order, so the done ones gather at the front:
        // clearing from there keeps a request for a million bindings linear overall.
        while let Some((&r, _)) = self.requested_updates.first_key_value() {
            let open = self.in_flight.contains(&r)
                || self.db.get(&r).is_some_and(|b| b.pending && !self.held.contains(&r));
            if open {
                break;
            }
            self.requested_updates.remove(&r);
        }
        if self.requested_updates.is_empty() {
            self.serving = None;
            self.send_with(now, xid, MessageBody::UpdDone(NoOptions::default()), out);
        }
    }

    /// Whether an ack (sent or received) may free an EXPIRED/RELEASED/RESET lease now.
    ///
    /// Reading (found by the model checker, S8): in PARTNER-DOWN the partner that acks is one
    /// that is recovering, and its ack says nothing about leases it granted before it failed;
    /// §4.2.2.1 makes a lease wait MCLT beyond the latest lifetime anyone may have promised
    /// before it goes to another client. So in PARTNER-DOWN an ack frees a lease no earlier than
    /// that time; the PARTNER-DOWN expiry processing frees it then, or leaving PARTNER-DOWN
    /// does (`Endpoint::transition`).
    pub(crate) fn ack_may_free(&self, b: &Binding, now: Time) -> bool {
        self.state != EndpointState::PartnerDown
            || self.pd_free_time(b, self.record.partner_down_time, self.mclt()) <= now
    }

    /// On leaving PARTNER-DOWN: EXPIRED/RELEASED/RESET leases whose update the partner has
    /// acked (no change pending) take the §7.2 (4) transition the ack would have made.
    pub(crate) fn free_acked_after_partner_down(&mut self, now: Time, out: &mut Vec<Output>) {
        let acked: Vec<Resource> =
            self.db.awaiting_free().filter(|b| !b.pending).map(|b| b.resource).collect();
        for r in acked {
            if let Some(b) = self.db.get(&r) {
                let mut b = b.clone();
                b.status = pending_free_resolves_to(&r);
                b.start_time_of_state = now;
                b.version = b.version.wrapping_add(1);
                self.store(b, out);
            }
        }
    }

    /// UPDREQ / UPDREQALL from the partner (§5.3.5, §5.3.6).
    pub(crate) fn on_updreq(&mut self, now: Time, xid: u32, all: bool, out: &mut Vec<Output>) {
        if all {
            // Send every binding; v4-12 §5.17: clear every "partner is up to date" mark.
            let everything: Vec<Resource> = self.db.iter().map(|b| b.resource).collect();
            for r in everything {
                if let Some(b) = self.db.get(&r).filter(|b| !b.pending) {
                    let mut b = b.clone();
                    b.pending = true;
                    self.db.put(b);
                }
            }
        }
        if all {
            self.held.clear();
        }
        self.requested_updates = self
            .db
            .pending()
            .filter_map(|r| self.db.get(r).map(|b| (*r, b.version)))
            .chain(self.in_flight.iter().filter_map(|r| self.db.get(r).map(|b| (*r, b.version))))
            .collect();
        self.serving = Some((xid, all));
        self.flush_updates(now, out);
    }

    /// UPDDONE (§5.3.7, §8.5.2, §8.10.2).
    pub(crate) fn on_upddone(&mut self, now: Time, xid: u32, out: &mut Vec<Output>) {
        if self.requested.map(|(x, _)| x) != Some(xid) {
            out.push(Output::Event(Event::PartnerRejected {
                reason: "UPDDONE for no request".into(),
            }));
            return;
        }
        let (_, all) = self.requested.take().unwrap_or_default();
        if all {
            // Everything the partner knows is now ours: a later request needs only updates.
            self.communicated_at_start = true;
        }
        self.recovered_all = all;
        match (self.state, self.config.role) {
            (EndpointState::Recover, _) => {
                self.transition(now, EndpointState::RecoverWait, out);
            }
            (EndpointState::PotentialConflict, Role::Primary) => {
                self.transition(now, EndpointState::ConflictDone, out);
            }
            (EndpointState::PotentialConflict, Role::Secondary) => {
                self.transition(now, EndpointState::Normal, out);
            }
            _ => {}
        }
        self.evaluate_partner_state(now, out);
    }

    /// A BNDUPD from the partner (§7.5).
    pub(crate) fn on_bndupd(
        &mut self,
        now: Time,
        xid: u32,
        m: BindingMessage,
        out: &mut Vec<Output>,
    ) {
        if self.state == EndpointState::Recover && self.config.recover_stall_time > 0 {
            self.set_timer(Timer::RecoverStall, now.plus(self.config.recover_stall_time), out);
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
            Some(BindingPayload::Client(cd)) => self.receive_client(now, cd, out),
            Some(BindingPayload::Prefix(pd)) => self.receive_prefix(now, pd, out),
        };
        let (reply, rejected) = reply;
        let body = MessageBody::BndReply(reply);
        #[cfg(feature = "mutations")]
        if self.mutated(crate::mutation::Mutation::AckBeforePersist) {
            // The seeded bug: the ack goes out before the writes that precede it.
            let first_persist =
                out.iter().position(|o| matches!(o, Output::Persist(_))).unwrap_or(out.len());
            let msg = crate::failover::message::Message {
                xid: xid & crate::failover::message::XID_MAX,
                sent_time: now,
                body,
            };
            out.insert(first_persist, Output::Send(msg));
            self.sent_in_step = true;
            self.flag_rejected(rejected, out);
            self.flush_updates(now, out);
            return;
        }
        // §7.5.4: flag what we rejected (persisted with the rest of this step's writes).
        self.flag_rejected(rejected, out);
        // §7.5.2: every write of this step is persisted above; only now the BNDREPLY, and
        // after it our own version of anything we rejected (§7.5.4 "after the BNDREPLY").
        self.send_with(now, xid, body, out);
        self.flush_updates(now, out);
    }

    /// §7.5.4: a lease we rejected as outdated gets our flag; if the flag was clear our version
    /// goes at once (after the BNDREPLY), otherwise it waits for the next scan.
    fn flag_rejected(&mut self, rejected: Vec<Resource>, out: &mut Vec<Output>) {
        for r in rejected {
            if let Some(b) = self.db.get(&r) {
                let mut b = b.clone();
                if b.pending {
                    self.held.insert(r);
                } else {
                    b.mark_changed();
                    self.store(b, out);
                }
            }
        }
    }

    fn receive_client(
        &mut self,
        now: Time,
        cd: ClientData,
        out: &mut Vec<Output>,
    ) -> (BindingMessage, Vec<Resource>) {
        let mirror = |cd: &ClientData| ClientData {
            client_id: cd.client_id.clone(),
            lq_base_time: None,
            vss: cd.vss.clone(),
            reconfigure: None,
            relay_data: None,
            ias: Vec::new(),
            status: None,
            unknown: Vec::new(),
        };
        let Some(base) = cd.lq_base_time else {
            return whole_reject(
                Some(mirror(&cd)),
                StatusCode::MISSING_BINDING_INFORMATION,
                "no LQ_BASE_TIME",
            );
        };
        if cd.client_id.0.is_empty() || cd.ias.is_empty() {
            return whole_reject(
                Some(mirror(&cd)),
                StatusCode::MISSING_BINDING_INFORMATION,
                "no CLIENTID or IA",
            );
        }
        if cd.vss.is_some() {
            return whole_reject(
                Some(mirror(&cd)),
                StatusCode::CONFIGURATION_CONFLICT,
                "VPNs are not served here",
            );
        }
        // §7.5.4: a lease this endpoint does not serve rejects the whole option.
        if cd.ias.iter().flat_map(|ia| &ia.leases).any(|l| !self.pools.contains(&l.resource)) {
            return whole_reject(
                Some(mirror(&cd)),
                StatusCode::CONFIGURATION_CONFLICT,
                "lease not served by this endpoint",
            );
        }
        let mut reply = mirror(&cd);
        let mut rejected = Vec::new();
        let dns = cd
            .ias
            .iter()
            .flat_map(|ia| &ia.leases)
            .any(|l| l.options.client_fqdn.is_some() || l.options.dns_removal_info.is_some());
        if dns {
            // §9: a server that does no DNS updates SHOULD warn when it receives DDNS data.
            out.push(Output::Event(Event::Alarm(
                "the partner sent DNS update information; this server does no DNS updates (RFC 8156 §9)"
                    .into(),
            )));
        }
        for ia in &cd.ias {
            let mut ia_reply = IaData {
                kind: ia.kind,
                iaid: ia.iaid,
                t1: ia.t1,
                t2: ia.t2,
                leases: Vec::new(),
                status: None,
                unknown: Vec::new(),
            };
            let key = ClientKey { duid: cd.client_id.clone(), kind: ia.kind, iaid: ia.iaid };
            for lease in &ia.leases {
                let verdict = self.receive_lease(now, base, &key, ia, lease, out);
                if let Err(code) = verdict {
                    out.push(Output::Event(Event::UpdateRejected {
                        resource: lease.resource,
                        code: code.0,
                    }));
                    if code == StatusCode::OUTDATED_BINDING_INFORMATION
                        || code == StatusCode::ADDRESS_IN_USE
                    {
                        rejected.push(lease.resource);
                    }
                }
                ia_reply.leases.push(reply_lease(lease, verdict.err()));
            }
            reply.ias.push(ia_reply);
        }
        (
            BindingMessage {
                payload: Some(BindingPayload::Client(reply)),
                status: None,
                unknown: Vec::new(),
            },
            rejected,
        )
    }

    /// One lease of a CLIENT_DATA: check, resolve, store. `Err` carries the rejection code.
    fn receive_lease(
        &mut self,
        now: Time,
        base: Time,
        key: &ClientKey,
        ia: &IaData,
        lease: &LeaseData,
        out: &mut Vec<Output>,
    ) -> Result<(), StatusCode> {
        let o = &lease.options;
        let (Some(status), Some(start)) = (o.binding_status, o.start_time_of_state) else {
            return Err(StatusCode::MISSING_BINDING_INFORMATION);
        };
        let kind_ok = matches!(
            (ia.kind, lease.resource),
            (IaKind::Na | IaKind::Ta, Resource::Address(_)) | (IaKind::Pd, Resource::Prefix(..))
        );
        if !kind_ok {
            return Err(StatusCode::CONFIGURATION_CONFLICT);
        }
        if status == BindingStatus::Active
            && o.state_expiration_time.is_none()
            && lease.valid_lifetime == 0
        {
            return Err(StatusCode::MISSING_BINDING_INFORMATION);
        }
        let clt = o.clt_time.map(|c| base.minus(c));
        let times = UpdateTimes { status, clt, start_time_of_state: start };
        let existing = self.db.get(&lease.resource);
        if let Resolution::Reject(code) =
            resolve(existing, &times, Some(key), self.config.role, now)
        {
            return Err(code);
        }
        let same_holder = existing
            .is_some_and(|e| e.status == BindingStatus::Active && e.client.as_ref() == Some(key));
        let mut b =
            existing.cloned().unwrap_or_else(|| Binding::free(lease.resource, status, start));
        b.status = if status == BindingStatus::PendingFree {
            pending_free_resolves_to(&lease.resource)
        } else {
            status
        };
        b.client = Some(key.clone());
        b.preferred_lifetime = lease.preferred_lifetime;
        b.valid_lifetime = lease.valid_lifetime;
        b.t1 = ia.t1;
        b.t2 = ia.t2;
        b.start_time_of_state = start;
        b.state_expiration_time = o.state_expiration_time;
        let granted_at = clt.unwrap_or(start);
        let expiry =
            o.state_expiration_time.unwrap_or_else(|| granted_at.plus(lease.valid_lifetime));
        // Whether our own record gives the same client a longer lease than the update: both
        // servers granted it (a REBIND in PARTNER-DOWN taking over the partner's lease, then
        // the partner's older update arriving in POTENTIAL-CONFLICT).
        let ours_longer = same_holder
            && b.status == BindingStatus::Active
            && existing.is_some_and(|e| e.client_expiry > expiry);
        if b.status == BindingStatus::Active && same_holder {
            // The same client's lease as granted by both servers: it may hold the longer one,
            // so the record never shortens, nor does the end of its state (time(1) of a later
            // EXPIRED is judged against it; found by the pair property test).
            b.client_expiry = b.client_expiry.max(expiry);
            if let Some(e) = existing {
                b.start_time_of_state = b.start_time_of_state.max(e.start_time_of_state);
                b.state_expiration_time = match (e.state_expiration_time, o.state_expiration_time) {
                    (Some(a), Some(c)) => Some(a.max(c)),
                    (a, c) => a.or(c),
                };
            }
        } else if b.status == BindingStatus::Active {
            b.client_expiry = expiry;
        } else {
            b.client_expiry = b.client_expiry.max(if status == BindingStatus::Expired {
                expiry.min(now)
            } else {
                Time::ZERO
            });
        }
        // §7.5.5 (max rule on both sides, digest §11.3 item 5).
        if let Some(pl) = o.partner_lifetime {
            b.expiration_time = b.expiration_time.max(pl);
        }
        if let Some(c) = clt {
            b.partner_raw_clt_time = c;
        }
        if let Some(raw) = o.partner_raw_clt_time {
            if raw > b.cltt {
                b.cltt = raw;
            }
        }
        if let Some(e) = o.expiration_time {
            if e > b.partner_lifetime {
                b.partner_lifetime = e;
            }
        }
        if b.status.awaits_ack_to_free() && self.ack_may_free(&b, now) {
            // §7.2 (4)-(6): our ack moves the lease to PENDING-FREE and at once to FREE or
            // FREE-BACKUP on the sender's side; the acking side applies the same resolution when
            // it persists the update, so both records agree without a further BNDUPD (the RFC
            // is silent on the receiver's record; a follow-up FREE would tie within ±5 s with
            // the status it replaces and be rejected, §7.5.1).
            b.status = pending_free_resolves_to(&lease.resource);
            b.start_time_of_state = now;
            b.state_expiration_time = None;
        }
        // The partner's newer information supersedes our own pending change, unless ours is
        // the longer lease of the same client: the partner must still learn it.
        b.pending = ours_longer && existing.is_some_and(|e| e.pending);
        b.version = b.version.wrapping_add(1);
        self.held.remove(&lease.resource);
        self.store(b, out);
        Ok(())
    }

    /// A stand-alone IAPREFIX (§7.4 case B): the proportional hand-off (FREE-BACKUP) or
    /// take-back (FREE) of a delegable prefix (§4.2.2).
    fn receive_prefix(
        &mut self,
        now: Time,
        pd: PrefixData,
        out: &mut Vec<Output>,
    ) -> (BindingMessage, Vec<Resource>) {
        let lease = &pd.lease;
        let o = &lease.options;
        let verdict = (|| {
            if pd.lq_base_time.is_none() {
                return Err(StatusCode::MISSING_BINDING_INFORMATION);
            }
            if pd.vss.is_some()
                || !lease.resource.is_prefix()
                || !self.pools.contains(&lease.resource)
            {
                return Err(StatusCode::CONFIGURATION_CONFLICT);
            }
            let (Some(status), Some(start)) = (o.binding_status, o.start_time_of_state) else {
                return Err(StatusCode::MISSING_BINDING_INFORMATION);
            };
            // §7.4 case B is for a prefix owned by no client: ACTIVE, EXPIRED and RELEASED name
            // a client, so without one the update lacks the information to process it.
            if matches!(
                status,
                BindingStatus::Active | BindingStatus::Expired | BindingStatus::Released
            ) {
                return Err(StatusCode::MISSING_BINDING_INFORMATION);
            }
            let existing = self.db.get(&lease.resource);
            // §4.2.2: the secondary MUST reject a take-back of a prefix it has delegated.
            if self.config.role == Role::Secondary
                && status == BindingStatus::Free
                && existing.is_some_and(|b| !b.status.is_available())
            {
                return Err(StatusCode::ADDRESS_IN_USE);
            }
            let times = UpdateTimes { status, clt: None, start_time_of_state: start };
            if let Resolution::Reject(code) = resolve(existing, &times, None, self.config.role, now)
            {
                return Err(code);
            }
            let mut b =
                existing.cloned().unwrap_or_else(|| Binding::free(lease.resource, status, start));
            b.status =
                if status == BindingStatus::PendingFree { BindingStatus::Free } else { status };
            b.start_time_of_state = start;
            b.state_expiration_time = o.state_expiration_time;
            if let Some(pl) = o.partner_lifetime {
                b.expiration_time = b.expiration_time.max(pl);
            }
            b.pending = false;
            b.version = b.version.wrapping_add(1);
            self.store(b, out);
            Ok(())
        })();
        if let Err(code) = verdict {
            out.push(Output::Event(Event::UpdateRejected {
                resource: lease.resource,
                code: code.0,
            }));
        }
        let reply = PrefixData {
            lease: reply_lease(lease, verdict.err()),
            lq_base_time: None,
            vss: pd.vss.clone(),
        };
        let rejected = match verdict {
            Err(StatusCode::OUTDATED_BINDING_INFORMATION) => vec![lease.resource],
            _ => Vec::new(),
        };
        (
            BindingMessage {
                payload: Some(BindingPayload::Prefix(reply)),
                status: None,
                unknown: Vec::new(),
            },
            rejected,
        )
    }

    /// A BNDREPLY (§7.7), matched to the BNDUPD it answers by xid.
    pub(crate) fn on_bndreply(
        &mut self,
        now: Time,
        xid: u32,
        m: BindingMessage,
        out: &mut Vec<Output>,
    ) {
        let Some(sent) = self.unacked.remove(&xid) else {
            out.push(Output::Event(Event::PartnerRejected {
                reason: format!("BNDREPLY for unknown xid {xid}"),
            }));
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
        let outcomes = reply_outcomes(&m);
        for s in sent {
            let Some(&(accepted, code, pl_sent)) = outcomes.get(&s.resource) else {
                // Not answered: it stays flagged and goes again.
                continue;
            };
            let Some(b) = self.db.get(&s.resource) else { continue };
            let mut b = b.clone();
            if !accepted {
                out.push(Output::Event(Event::UpdateRejectedByPartner {
                    resource: s.resource,
                    code,
                }));
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
                    self.store(b, out);
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
                if b.status.awaits_ack_to_free() && self.ack_may_free(&b, now) {
                    // §7.2 (4)-(6): EXPIRED/RELEASED/RESET → PENDING-FREE → FREE/FREE-BACKUP.
                    // The partner made the same move when it acked (see `receive_lease`).
                    b.status = pending_free_resolves_to(&s.resource);
                    b.start_time_of_state = now;
                    b.version = b.version.wrapping_add(1);
                }
            }
            self.store(b, out);
        }
        self.flush_updates(now, out);
        self.maybe_upddone(now, out);
    }

    /// §4.2.2: the primary moves delegable prefixes towards the configured share for the
    /// secondary, with a threshold against churn: FREE → FREE-BACKUP by BNDUPD (the prefix is
    /// the secondary's once the BNDUPD is sent), and FREE-BACKUP → FREE by a take-back BNDUPD
    /// that the secondary may refuse.
    pub(crate) fn rebalance(&mut self, now: Time, out: &mut Vec<Output>) {
        if self.config.role != Role::Primary || !self.comms_ok() {
            return;
        }
        let backup = self.db.available_count(BindingStatus::FreeBackup, true) as u64;
        let free = self.db.available_count(BindingStatus::Free, true) as u64
            + self.pools.untouched_prefixes(&self.db);
        let total = backup + free;
        let target = total * u64::from(self.config.secondary_prefix_share) / 100;
        let threshold = u64::from(self.config.rebalance_threshold);
        if backup + threshold < target {
            let n = (target - backup).min(MAX_REBALANCE_PER_PASS);
            for _ in 0..n {
                let pick = self.pools.next_untouched_prefix(&self.db).or_else(|| {
                    self.db.available(BindingStatus::Free, true).map(|b| b.resource).next()
                });
                let Some(r) = pick else { break };
                let mut b = self
                    .db
                    .get(&r)
                    .cloned()
                    .unwrap_or_else(|| Binding::free(r, BindingStatus::Free, now));
                b.set_status(BindingStatus::FreeBackup, now);
                b.client = None;
                self.store(b, out);
            }
        } else if backup > target + threshold {
            let n = (backup - target).min(MAX_REBALANCE_PER_PASS) as usize;
            let picks: Vec<Resource> = self
                .db
                .available(BindingStatus::FreeBackup, true)
                .map(|b| b.resource)
                .filter(|r| !self.in_flight.contains(r))
                .take(n)
                .collect();
            self.takeback.extend(picks);
        }
        self.flush_updates(now, out);
    }
}

fn bndupd(payload: BindingPayload) -> MessageBody {
    MessageBody::BndUpd(BindingMessage {
        payload: Some(payload),
        status: None,
        unknown: Vec::new(),
    })
}

fn whole_reject(
    client: Option<ClientData>,
    code: StatusCode,
    why: &str,
) -> (BindingMessage, Vec<Resource>) {
    (
        BindingMessage {
            payload: client.map(BindingPayload::Client),
            status: Some(Status::new(code, why)),
            unknown: Vec::new(),
        },
        Vec::new(),
    )
}

/// §7.6: the BNDREPLY mirror of one lease.
fn reply_lease(lease: &LeaseData, reject: Option<StatusCode>) -> LeaseData {
    LeaseData {
        resource: lease.resource,
        preferred_lifetime: lease.preferred_lifetime,
        valid_lifetime: lease.valid_lifetime,
        options: LeaseOptions {
            binding_status: lease.options.binding_status,
            state_expiration_time: lease.options.state_expiration_time,
            partner_lifetime_sent: lease.options.partner_lifetime,
            status: reject.map(|c| Status::new(c, "rejected")),
            ..LeaseOptions::default()
        },
    }
}

/// Per-resource outcome of a BNDREPLY: (accepted, code, PARTNER_LIFETIME_SENT). A status at
/// an outer level rejects everything beneath it (§7.6).
fn reply_outcomes(m: &BindingMessage) -> BTreeMap<Resource, (bool, u16, Option<Time>)> {
    let mut map = BTreeMap::new();
    let err = |s: &Option<Status>| s.as_ref().map(|s| s.code).filter(|c| *c != StatusCode::SUCCESS);
    let top = err(&m.status);
    match &m.payload {
        Some(BindingPayload::Client(cd)) => {
            let outer = top.or(err(&cd.status));
            for ia in &cd.ias {
                let ia_err = outer.or(err(&ia.status));
                for l in &ia.leases {
                    let code = ia_err.or(err(&l.options.status));
                    map.insert(
                        l.resource,
                        (code.is_none(), code.map_or(0, |c| c.0), l.options.partner_lifetime_sent),
                    );
                }
            }
        }
        Some(BindingPayload::Prefix(pd)) => {
            let code = top.or(err(&pd.lease.options.status));
            map.insert(
                pd.lease.resource,
                (code.is_none(), code.map_or(0, |c| c.0), pd.lease.options.partner_lifetime_sent),
            );
        }
        None => {}
    }
    map
}

/// §7.4 per-lease options.
fn lease_options(b: &Binding, now: Time) -> LeaseOptions {
    let timed = b.status == BindingStatus::Active;
    LeaseOptions {
        binding_status: Some(b.status),
        start_time_of_state: Some(b.start_time_of_state),
        state_expiration_time: timed.then_some(b.state_expiration_time.unwrap_or(b.client_expiry)),
        partner_lifetime: timed
            .then_some(b.partner_lifetime.max(b.acked_partner_lifetime).max(b.client_expiry)),
        expiration_time: timed.then_some(b.expiration_time),
        clt_time: (!b.cltt.is_zero()).then(|| now.since(b.cltt)),
        partner_raw_clt_time: (!b.partner_raw_clt_time.is_zero()).then_some(b.partner_raw_clt_time),
        ..LeaseOptions::default()
    }
}

/// §7.4 case A: one CLIENT_DATA with every binding of the client.
fn client_data(duid: &Duid, group: &[Binding], now: Time) -> ClientData {
    let mut ias: BTreeMap<(IaKind, u32), IaData> = BTreeMap::new();
    for b in group {
        let Some(key) = &b.client else { continue };
        let ia = ias.entry((key.kind, key.iaid)).or_insert_with(|| IaData {
            kind: key.kind,
            iaid: key.iaid,
            t1: b.t1,
            t2: b.t2,
            leases: Vec::new(),
            status: None,
            unknown: Vec::new(),
        });
        ia.leases.push(LeaseData {
            resource: b.resource,
            preferred_lifetime: b.preferred_lifetime,
            valid_lifetime: b.valid_lifetime,
            options: lease_options(b, now),
        });
    }
    ClientData {
        client_id: duid.clone(),
        lq_base_time: Some(now),
        vss: None,
        reconfigure: None,
        relay_data: None,
        ias: ias.into_values().collect(),
        status: None,
        unknown: Vec::new(),
    }
}

/// §7.4 case B: a stand-alone IAPREFIX for a delegable prefix owned by no client.
fn prefix_data(b: &Binding, now: Time) -> PrefixData {
    PrefixData {
        lease: LeaseData {
            resource: b.resource,
            preferred_lifetime: 0,
            valid_lifetime: 0,
            options: LeaseOptions {
                binding_status: Some(b.status),
                start_time_of_state: Some(b.start_time_of_state),
                ..LeaseOptions::default()
            },
        },
        lq_base_time: Some(now),
        vss: None,
    }
}
