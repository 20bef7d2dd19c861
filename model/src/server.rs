//! The server side of DHCPv6 (RFC 8415 §18.3) as pure decisions on abstract client requests,
//! under the failover rules: responsiveness by state (RFC 8156 §8), pool ownership (§4.2),
//! the MCLT (§4.4) and re-allocation waits (§4.2.2.1).

use crate::dhcp::client::{
    ClientMsgKind, ClientReply, ClientRequest, DhcpStatus, GrantedLease, IaReply, ReplyKind,
    RequestedLease, SilenceReason,
};
use crate::endpoint::Endpoint;
use crate::failover::state::{self, EndpointState, Responsiveness, Role};
use crate::io::{Event, Output};
use crate::leases::binding::{Binding, BindingStatus};
use crate::resource::{ClientKey, Duid, IaKind, Resource};
use crate::time::Time;
use std::net::Ipv6Addr;

impl Endpoint {
    /// One client request.
    pub(crate) fn on_client(&mut self, now: Time, req: ClientRequest, out: &mut Vec<Output>) {
        if let Err(reason) = self.screen(&req) {
            out.push(Output::Silence { tag: req.tag, reason });
            return;
        }
        let mut reply = self.reply_to(&req, ReplyKind::Reply);
        if req.unicast {
            // RFC 8415 §18.4: we never send the Server Unicast option, so a unicast REQUEST,
            // RENEW, RELEASE or DECLINE (the others were screened out, §16) is answered with
            // UseMulticast and otherwise ignored.
            reply.status = Some(DhcpStatus::UseMulticast);
            out.push(Output::Reply(reply));
            return;
        }
        let Some(duid) = req.client_id.clone() else {
            // Only INFORMATION-REQUEST gets here without a client id (screened).
            out.push(Output::Reply(reply));
            return;
        };
        match req.kind {
            ClientMsgKind::Solicit => self.on_solicit(now, &req, &duid, reply, out),
            ClientMsgKind::Request => self.on_request(now, &req, &duid, reply, out),
            ClientMsgKind::Renew | ClientMsgKind::Rebind => {
                self.on_renew(now, &req, &duid, reply, out)
            }
            ClientMsgKind::Release => {
                self.on_release(now, &req, &duid, reply, BindingStatus::Released, out)
            }
            ClientMsgKind::Decline => {
                self.on_release(now, &req, &duid, reply, BindingStatus::Abandoned, out)
            }
            ClientMsgKind::Confirm => self.on_confirm(&req, reply, out),
            ClientMsgKind::InformationRequest => out.push(Output::Reply(reply)),
        }
    }

    /// RFC 8415 §16 validity and RFC 8156 responsiveness (§3, §8.x.1).
    fn screen(&self, req: &ClientRequest) -> Result<(), SilenceReason> {
        use ClientMsgKind::*;
        if self.shut_down {
            return Err(SilenceReason::Unresponsive);
        }
        let resp = state::responsiveness(self.state, self.config.role);
        if resp == Responsiveness::Unresponsive {
            return Err(SilenceReason::Unresponsive);
        }
        let valid = match req.kind {
            Solicit | Rebind | Confirm => req.client_id.is_some() && req.server_id.is_none(),
            Request | Renew | Release | Decline => {
                req.client_id.is_some() && req.server_id.is_some()
            }
            InformationRequest => true,
        };
        if !valid || req.client_id.as_ref().is_some_and(|d| d.0.is_empty()) {
            return Err(SilenceReason::Invalid);
        }
        if req.unicast && matches!(req.kind, Solicit | Rebind | Confirm | InformationRequest) {
            // RFC 8415 §16: discarded when received at a unicast address (relays aside).
            return Err(SilenceReason::Unicast);
        }
        let ours = &self.config.server_duid;
        if req.server_id.as_ref().is_some_and(|s| s != ours) {
            return Err(SilenceReason::OtherServer);
        }
        if resp == Responsiveness::RenewResponsive && req.server_id.as_ref() != Some(ours) {
            return Err(SilenceReason::NotAddressedToUs);
        }
        Ok(())
    }

    fn reply_to(&self, req: &ClientRequest, kind: ReplyKind) -> ClientReply {
        ClientReply {
            tag: req.tag,
            kind,
            client_id: req.client_id.clone(),
            server_id: self.config.server_duid.clone(),
            rapid_commit: false,
            status: None,
            ias: Vec::new(),
            preference: None,
        }
    }

    fn on_solicit(
        &mut self,
        now: Time,
        req: &ClientRequest,
        duid: &Duid,
        mut reply: ClientReply,
        out: &mut Vec<Output>,
    ) {
        // RFC 8415 §18.3.1: Rapid Commit answers a SOLICIT with a committed REPLY.
        let commit = req.rapid_commit && self.config.rapid_commit;
        reply.kind = if commit { ReplyKind::Reply } else { ReplyKind::Advertise };
        reply.rapid_commit = commit;
        if !commit {
            reply.preference = self.config.preference;
        }
        for ia in &req.ias {
            let key = ClientKey { duid: duid.clone(), kind: ia.kind, iaid: ia.iaid };
            let pick =
                if ia.kind == IaKind::Ta { None } else { self.select(now, &key, &ia.leases) };
            let ia_reply = match pick {
                Some(r) => {
                    let lease = if commit {
                        self.grant(now, &key, r, out)
                    } else {
                        self.offer(now, &key, r)
                    };
                    ia_with(ia.kind, ia.iaid, vec![lease])
                }
                None => ia_status(ia.kind, ia.iaid, no_avail(ia.kind)),
            };
            reply.ias.push(ia_reply);
        }
        out.push(Output::Reply(reply));
        if commit {
            self.flush_updates(now, out);
        }
    }

    fn on_request(
        &mut self,
        now: Time,
        req: &ClientRequest,
        duid: &Duid,
        mut reply: ClientReply,
        out: &mut Vec<Output>,
    ) {
        for ia in &req.ias {
            let key = ClientKey { duid: duid.clone(), kind: ia.kind, iaid: ia.iaid };
            if ia.kind == IaKind::Ta {
                reply.ias.push(ia_status(ia.kind, ia.iaid, no_avail(ia.kind)));
                continue;
            }
            // The client's own leases first (a repeated REQUEST, or its previous lease).
            let own: Vec<Resource> = self
                .db
                .of_client(&key)
                .filter(|b| self.usable_for(now, b, &key))
                .map(|b| b.resource)
                .collect();
            let picks = if own.is_empty() {
                self.select(now, &key, &ia.leases).into_iter().collect()
            } else {
                own
            };
            if picks.is_empty() {
                reply.ias.push(ia_status(ia.kind, ia.iaid, no_avail(ia.kind)));
                continue;
            }
            let leases = picks.into_iter().map(|r| self.grant(now, &key, r, out)).collect();
            reply.ias.push(ia_with(ia.kind, ia.iaid, leases));
        }
        out.push(Output::Reply(reply));
        self.flush_updates(now, out);
    }

    fn on_renew(
        &mut self,
        now: Time,
        req: &ClientRequest,
        duid: &Duid,
        mut reply: ClientReply,
        out: &mut Vec<Output>,
    ) {
        // Not held back by `allocation_held`: taking on a client's own lease that we have no
        // record of gives nothing new away (after a storage loss that is exactly what we lost).
        let allocating = state::may_allocate(self.state, self.config.role);
        for ia in &req.ias {
            let key = ClientKey { duid: duid.clone(), kind: ia.kind, iaid: ia.iaid };
            if ia.kind == IaKind::Ta {
                reply.ias.push(ia_status(ia.kind, ia.iaid, DhcpStatus::NoBinding));
                continue;
            }
            let mut named: Vec<Resource> =
                ia.leases.iter().map(|l| l.resource).filter(|r| !is_unspecified(r)).collect();
            if named.is_empty() && self.state == EndpointState::RecoverDone {
                // RFC 8156 §8.7.1: in RECOVER-DONE only a lease that appears in the RENEW may
                // change. An IA that names none is answered with its leases as they stand
                // (remaining lifetimes), none of them extended.
                let leases: Vec<GrantedLease> = self
                    .db
                    .of_client(&key)
                    .filter(|b| b.status == BindingStatus::Active && b.client_expiry > now)
                    .map(|b| remaining(b, now))
                    .collect();
                reply.ias.push(if leases.is_empty() {
                    ia_status(ia.kind, ia.iaid, DhcpStatus::NoBinding)
                } else {
                    ia_with(ia.kind, ia.iaid, leases)
                });
                continue;
            }
            if named.is_empty() {
                // RFC 8415 §18.3.4: an IA with no addresses: renew what we have for it.
                named = self
                    .db
                    .of_client(&key)
                    .filter(|b| b.status == BindingStatus::Active)
                    .map(|b| b.resource)
                    .collect();
            }
            let mut leases = Vec::new();
            let mut granted = 0usize;
            for r in named {
                let kind_ok = matches!(
                    (ia.kind, r),
                    (IaKind::Na, Resource::Address(_)) | (IaKind::Pd, Resource::Prefix(..))
                );
                let ok = kind_ok
                    && match self.db.get(&r) {
                        Some(b) => b.client.as_ref() == Some(&key) && self.usable_for(now, b, &key),
                        // A lease we have no record of, in our pools: most likely granted by the
                        // partner with its update still on the way (lazy update, §4.3). RFC 8415
                        // §18.3.4/§18.3.5 let a server take it on; failover keeps it to the MCLT
                        // (nothing acked). Only where new leases may be given (§8.7.1, §8.8.1).
                        None => allocating && self.pools.contains(&r),
                    };
                if ok {
                    leases.push(self.grant(now, &key, r, out));
                    granted += 1;
                } else {
                    // RFC 8415 §18.3.4: not appropriate any more: lifetimes 0.
                    leases.push(GrantedLease {
                        resource: r,
                        preferred_lifetime: 0,
                        valid_lifetime: 0,
                    });
                }
            }
            let mut ia_reply = ia_with(ia.kind, ia.iaid, leases);
            if granted == 0 {
                ia_reply.status = Some(DhcpStatus::NoBinding);
            }
            reply.ias.push(ia_reply);
        }
        out.push(Output::Reply(reply));
        self.flush_updates(now, out);
    }

    fn on_release(
        &mut self,
        now: Time,
        req: &ClientRequest,
        duid: &Duid,
        mut reply: ClientReply,
        to: BindingStatus,
        out: &mut Vec<Output>,
    ) {
        for ia in &req.ias {
            let key = ClientKey { duid: duid.clone(), kind: ia.kind, iaid: ia.iaid };
            let mut done = 0usize;
            for l in &ia.leases {
                let Some(b) = self.db.get(&l.resource) else { continue };
                if b.client.as_ref() != Some(&key) || b.status != BindingStatus::Active {
                    continue;
                }
                let mut b = b.clone();
                // §7.2 (3) RELEASED / (9) ABANDONED; the client identity is kept (SHOULD/MAY).
                b.set_status(to, now);
                b.cltt = now;
                b.state_expiration_time = None;
                b.client_expiry = b.client_expiry.min(now);
                self.store(b, out);
                done += 1;
            }
            if done == 0 {
                reply.ias.push(ia_status(ia.kind, ia.iaid, DhcpStatus::NoBinding));
            }
        }
        reply.status = Some(DhcpStatus::Success);
        out.push(Output::Reply(reply));
        self.flush_updates(now, out);
    }

    fn on_confirm(&mut self, req: &ClientRequest, mut reply: ClientReply, out: &mut Vec<Output>) {
        let addrs: Vec<&RequestedLease> = req
            .ias
            .iter()
            .filter(|ia| ia.kind != IaKind::Pd)
            .flat_map(|ia| &ia.leases)
            .filter(|l| matches!(l.resource, Resource::Address(_)))
            .collect();
        if addrs.is_empty() {
            // RFC 8415 §18.3.3: no addresses, no reply.
            out.push(Output::Silence { tag: req.tag, reason: SilenceReason::NothingToSay });
            return;
        }
        let on_link = addrs.iter().all(|l| self.pools.contains(&l.resource));
        reply.status = Some(if on_link { DhcpStatus::Success } else { DhcpStatus::NotOnLink });
        out.push(Output::Reply(reply));
    }

    // ---------------------------------------------------------------- selection

    /// Chooses a resource for a new lease (or the client's previous one): the client's own
    /// record, then its hint, then the pool (untouched space first, then the longest-free
    /// record), following the pool rules of the current state.
    fn select(&mut self, now: Time, key: &ClientKey, hints: &[RequestedLease]) -> Option<Resource> {
        let prefix = key.kind == IaKind::Pd;
        let own = self
            .db
            .of_client(key)
            .find(|b| b.resource.is_prefix() == prefix && self.usable_for(now, b, key));
        if let Some(b) = own {
            return Some(b.resource);
        }
        if !self.gives_new_leases() {
            return None;
        }
        for h in hints {
            if h.resource.is_prefix() != prefix
                || is_unspecified(&h.resource)
                || !self.pools.contains(&h.resource)
            {
                continue;
            }
            let usable = match self.db.get(&h.resource) {
                Some(b) => self.usable_for(now, b, key),
                None => self.untouched_usable(now, &h.resource),
            };
            if usable {
                return Some(h.resource);
            }
        }
        self.allocate(now, prefix)
    }

    /// Whether `b` may go to `key` now.
    pub(crate) fn usable_for(&self, now: Time, b: &Binding, key: &ClientKey) -> bool {
        if b.client.as_ref() == Some(key) {
            match b.status {
                BindingStatus::Active => return true,
                // §4.2.2.1, §8.8.1: an EXPIRED or RELEASED lease may go back to the same client
                // only while its change is ours and no BNDUPD about it has been sent. Once one
                // has, the partner may have freed it on its ack and given it to another client,
                // even if the connection broke before the BNDREPLY came back or the BNDREPLY
                // came and the lease waits in PARTNER-DOWN (found by the model checker with a
                // third client operation, S1; docs/design.md).
                BindingStatus::Expired | BindingStatus::Released => {
                    #[cfg(feature = "mutations")]
                    if self.mutated(crate::mutation::Mutation::ReuseAnnouncedLease) {
                        return !self.in_flight.contains(&b.resource);
                    }
                    return b.pending && !self.announced.contains(&b.resource);
                }
                _ => {}
            }
        }
        self.allocatable(now, b)
    }

    /// §4.2: whether a recorded, available binding may be given to a new client by this
    /// endpoint in its current state.
    fn allocatable(&self, now: Time, b: &Binding) -> bool {
        if !self.gives_new_leases() || !b.status.is_available() {
            return false;
        }
        if self.partner_pool_mutation() {
            return true;
        }
        let mine = self.own_free_status();
        match b.resource {
            Resource::Address(_) => {
                // §4.2.1: only our own half, in every state (a MUST NOT in PARTNER-DOWN too:
                // digest §11.3 item 4).
                b.status == mine
                    && b.resource.primary_half() == Some(self.config.role == Role::Primary)
            }
            Resource::Prefix(..) => b.status == mine || self.partner_prefix_pool_open(now),
        }
    }

    /// Whether this endpoint may give a new client a lease now: its state allocates (§8) and
    /// no hold after a possible storage loss is in force (`allocation_held`).
    fn gives_new_leases(&self) -> bool {
        state::may_allocate(self.state, self.config.role) && !self.allocation_held()
    }

    /// Whether an untouched (unrecorded) resource may be given to a new client.
    fn untouched_usable(&self, now: Time, r: &Resource) -> bool {
        if !self.gives_new_leases() {
            return false;
        }
        if self.partner_pool_mutation() {
            return true;
        }
        match r {
            Resource::Address(_) => r.primary_half() == Some(self.config.role == Role::Primary),
            // Untouched delegable prefixes are the primary's (FREE, §4.2.2).
            Resource::Prefix(..) => {
                self.config.role == Role::Primary || self.partner_prefix_pool_open(now)
            }
        }
    }

    fn own_free_status(&self) -> BindingStatus {
        match self.config.role {
            Role::Primary => BindingStatus::Free,
            Role::Secondary => BindingStatus::FreeBackup,
        }
    }

    /// §4.2.2, §8.4.1: in PARTNER-DOWN, the partner's delegable prefixes become usable at
    /// PD entry + MCLT, and only once our own pool is exhausted.
    fn partner_prefix_pool_open(&self, now: Time) -> bool {
        if self.state != EndpointState::PartnerDown {
            return false;
        }
        if now
            < crate::leases::mclt::partner_pool_usable_from(
                self.record.partner_down_time,
                self.mclt(),
            )
        {
            return false;
        }
        match self.config.role {
            Role::Primary => {
                self.pools.untouched_prefixes(&self.db) == 0
                    && self.db.available_count(BindingStatus::Free, true) == 0
            }
            Role::Secondary => self.db.available_count(BindingStatus::FreeBackup, true) == 0,
        }
    }

    fn partner_pool_mutation(&self) -> bool {
        #[cfg(feature = "mutations")]
        if self.mutated(crate::mutation::Mutation::AllocateFromPartnerPool) {
            return true;
        }
        false
    }

    /// A new resource from the pool.
    fn allocate(&mut self, now: Time, prefix: bool) -> Option<Resource> {
        let primary = self.config.role == Role::Primary;
        let mine = self.own_free_status();
        if prefix {
            if primary {
                if let Some(r) = self.pools.next_untouched_prefix(&self.db) {
                    return Some(r);
                }
            }
            if let Some(b) = self.db.available(mine, true).next() {
                return Some(b.resource);
            }
            if self.partner_prefix_pool_open(now) || self.partner_pool_mutation() {
                let theirs = if primary { BindingStatus::FreeBackup } else { BindingStatus::Free };
                if let Some(b) = self.db.available(theirs, true).next() {
                    return Some(b.resource);
                }
                if !primary {
                    return self.pools.next_untouched_prefix(&self.db);
                }
            }
            None
        } else {
            if let Some(r) = self.pools.next_untouched_address(&self.db, primary) {
                return Some(r);
            }
            let half = Some(primary);
            if let Some(b) =
                self.db.available(mine, false).find(|b| b.resource.primary_half() == half)
            {
                return Some(b.resource);
            }
            if self.partner_pool_mutation() {
                return self.pools.next_untouched_address(&self.db, !primary);
            }
            None
        }
    }

    // ---------------------------------------------------------------- grants

    /// Whether the MCLT bounds grants now (§4.4: everywhere but PARTNER-DOWN).
    fn mclt_bounds_grants(&self) -> bool {
        #[cfg(feature = "mutations")]
        if self.mutated(crate::mutation::Mutation::IgnoreMcltInCommInt)
            && self.state == EndpointState::CommunicationsInterrupted
        {
            return false;
        }
        state::mclt_applies(self.state)
    }

    fn lifetimes_for(&self, now: Time, r: &Resource) -> (u32, u32, u32) {
        let l = if r.is_prefix() {
            self.config.prefix_lifetimes
        } else {
            self.config.address_lifetimes
        };
        let acked = self.db.get(r).map_or(Time::ZERO, |b| b.acked_partner_lifetime);
        let valid = crate::leases::mclt::client_lifetime(
            l.valid,
            acked,
            now,
            self.mclt(),
            self.mclt_bounds_grants(),
        );
        (l.preferred.min(valid), valid, l.valid)
    }

    /// What an ADVERTISE offers (nothing recorded).
    fn offer(&self, now: Time, _key: &ClientKey, r: Resource) -> GrantedLease {
        let (preferred, valid, _) = self.lifetimes_for(now, &r);
        GrantedLease { resource: r, preferred_lifetime: preferred, valid_lifetime: valid }
    }

    /// Commits a lease to a client: the binding becomes (or stays) ACTIVE with lifetimes under
    /// the MCLT, the change is flagged for the partner (lazy update, §4.3) and written to
    /// stable storage before the reply that follows it.
    fn grant(
        &mut self,
        now: Time,
        key: &ClientKey,
        r: Resource,
        out: &mut Vec<Output>,
    ) -> GrantedLease {
        let (preferred, valid, desired) = self.lifetimes_for(now, &r);
        let mut b =
            self.db.get(&r).cloned().unwrap_or_else(|| Binding::free(r, BindingStatus::Free, now));
        b.grant(key, now, preferred, valid, desired);
        self.store(b, out);
        out.push(Output::Event(Event::LeaseGranted { resource: r, valid_lifetime: valid }));
        GrantedLease { resource: r, preferred_lifetime: preferred, valid_lifetime: valid }
    }
}

fn ia_with(kind: IaKind, iaid: u32, leases: Vec<GrantedLease>) -> IaReply {
    let pref = leases.iter().map(|l| l.preferred_lifetime).filter(|p| *p > 0).min().unwrap_or(0);
    IaReply { kind, iaid, t1: pref / 2, t2: pref.saturating_mul(4) / 5, leases, status: None }
}

/// A lease as it stands: what is left of its lifetimes, nothing extended.
fn remaining(b: &Binding, now: Time) -> GrantedLease {
    let valid = b.client_expiry.since(now);
    let preferred = b.cltt.plus(b.preferred_lifetime).since(now);
    GrantedLease {
        resource: b.resource,
        preferred_lifetime: preferred.min(valid),
        valid_lifetime: valid,
    }
}

fn ia_status(kind: IaKind, iaid: u32, status: DhcpStatus) -> IaReply {
    IaReply { kind, iaid, t1: 0, t2: 0, leases: Vec::new(), status: Some(status) }
}

fn no_avail(kind: IaKind) -> DhcpStatus {
    match kind {
        IaKind::Pd => DhcpStatus::NoPrefixAvail,
        IaKind::Na | IaKind::Ta => DhcpStatus::NoAddrsAvail,
    }
}

fn is_unspecified(r: &Resource) -> bool {
    match r {
        Resource::Address(a) | Resource::Prefix(a, _) => *a == Ipv6Addr::UNSPECIFIED,
    }
}
