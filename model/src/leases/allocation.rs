//! The leases one endpoint owns (RFC 8156 §4.2, §7.2): the pools, the binding database and
//! what has been announced to the partner, with the allocation rules: which resource a client
//! may get now (§4.2.1 addresses, §4.2.2 delegable prefixes, §4.2.2.1 re-allocation waits),
//! with which lifetimes (§4.4 MCLT), and the expiry transitions (§7.2 (8), and (4) in
//! PARTNER-DOWN).
//!
//! The rules depend on where the endpoint stands: `Standing` carries that (its state, role,
//! MCLT and PARTNER-DOWN entry) from the endpoint state machine.

use crate::config::Config;
use crate::dhcp::client::{GrantedLease, RequestedLease};
use crate::failover::state::{self, EndpointState, Role};
use crate::io::Event;
use crate::leases::binding::{pending_free_resolves_to, Binding, BindingStatus};
use crate::leases::db::BindingDb;
use crate::leases::pool::Pools;
use crate::resource::{ClientKey, IaKind, Resource};
use crate::sink::Sink;
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;

/// Where the endpoint stands, as far as the lease rules are concerned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Standing<'a> {
    /// The configuration (role, lifetimes, seeded bugs).
    pub(crate) config: &'a Config,
    /// The live endpoint state.
    pub(crate) state: EndpointState,
    /// The MCLT in force.
    pub(crate) mclt: u32,
    /// When PARTNER-DOWN was entered (zero outside it).
    pub(crate) partner_down_time: Time,
    /// New leases are held back after a possible storage loss (`Endpoint::allocation_held`).
    pub(crate) allocation_held: bool,
}

impl Standing<'_> {
    /// The role.
    pub(crate) fn role(&self) -> Role {
        self.config.role
    }

    /// Whether the seeded bug `m` is on.
    #[cfg(feature = "mutations")]
    pub(crate) fn mutated(&self, m: crate::mutation::Mutation) -> bool {
        self.config.mutation == Some(m)
    }

    fn pd_wait_mutated(&self) -> bool {
        #[cfg(feature = "mutations")]
        if self.mutated(crate::mutation::Mutation::ReallocateWithoutPdWait) {
            return true;
        }
        false
    }

    fn partner_prefix_wait_mutated(&self) -> bool {
        #[cfg(feature = "mutations")]
        if self.mutated(crate::mutation::Mutation::PartnerPrefixesWithoutPdWait) {
            return true;
        }
        false
    }

    fn partner_pool_mutation(&self) -> bool {
        #[cfg(feature = "mutations")]
        if self.mutated(crate::mutation::Mutation::AllocateFromPartnerPool) {
            return true;
        }
        false
    }

    /// When a lease waiting in PARTNER-DOWN becomes free (§4.2.2.1).
    pub(crate) fn pd_free_time(&self, b: &Binding) -> Time {
        if self.pd_wait_mutated() {
            return b.start_time_of_state;
        }
        crate::leases::mclt::partner_down_free_time(b, self.partner_down_time, self.mclt)
    }

    /// Whether an ack (sent or received) may free an EXPIRED/RELEASED/RESET lease now.
    ///
    /// Reading (found by the model checker, S8): in PARTNER-DOWN the partner that acks is one
    /// that is recovering, and its ack says nothing about leases it granted before it failed;
    /// §4.2.2.1 makes a lease wait MCLT beyond the latest lifetime anyone may have promised
    /// before it goes to another client. So in PARTNER-DOWN an ack frees a lease no earlier than
    /// that time; the PARTNER-DOWN expiry processing frees it then, or leaving PARTNER-DOWN
    /// does (`Leases::free_acked_after_partner_down`).
    pub(crate) fn ack_may_free(&self, b: &Binding, now: Time) -> bool {
        self.state != EndpointState::PartnerDown || self.pd_free_time(b) <= now
    }

    /// Whether this endpoint may give a new client a lease now: its state allocates (§8) and
    /// no hold after a possible storage loss is in force (`allocation_held`).
    fn gives_new_leases(&self) -> bool {
        state::may_allocate(self.state, self.config.role) && !self.allocation_held
    }

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

    fn own_free_status(&self) -> BindingStatus {
        match self.config.role {
            Role::Primary => BindingStatus::Free,
            Role::Secondary => BindingStatus::FreeBackup,
        }
    }
}

/// The pools, the binding records and what the partner has heard of them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Leases {
    pools: Pools,
    db: BindingDb,
    /// EXPIRED or RELEASED leases whose state has gone (or, after a restart, may have gone) to
    /// the partner in a BNDUPD: they no longer go back to their client before they are FREE
    /// (§4.2.2.1, §8.8.1 "cannot be allocated to the same client again if a BNDUPD message was
    /// sent"). Kept across connection breaks; a restore counts every such lease in.
    announced: BTreeSet<Resource>,
}

impl Leases {
    /// The leases restored from the bindings in storage. Returns the resources whose records
    /// were repaired ([`sanitize`]).
    pub(crate) fn restore(
        config: &Config,
        bindings: BTreeMap<Resource, Binding>,
    ) -> (Leases, Vec<Resource>) {
        let (db, repaired) = sanitize(bindings);
        // Whether the update of an EXPIRED or RELEASED lease left before the crash is unknown:
        // assume it did (the same client may not have it back until it is FREE).
        let announced = db
            .iter()
            .filter(|b| matches!(b.status, BindingStatus::Expired | BindingStatus::Released))
            .map(|b| b.resource)
            .collect();
        (Leases { pools: Pools::new(config), db, announced }, repaired)
    }

    /// Replaces every time `t` by `f(t)` (`Endpoint::map_times`).
    pub(crate) fn map_times(&mut self, f: &impl Fn(Time) -> Time) {
        self.db.map_times(f);
    }

    /// The binding records.
    pub(crate) fn db(&self) -> &BindingDb {
        &self.db
    }

    /// Gives every binding whose client `rename` maps to another client that one instead,
    /// rebuilding the indexes (see [`crate::Endpoint::rename_clients`]).
    pub(crate) fn rename_clients(&mut self, rename: &dyn Fn(&ClientKey) -> Option<ClientKey>) {
        if !self.db.iter().any(|b| b.client.as_ref().and_then(rename).is_some()) {
            return;
        }
        let records: Vec<Binding> = self
            .db
            .iter()
            .map(|b| {
                let mut b = b.clone();
                if let Some(to) = b.client.as_ref().and_then(rename) {
                    b.client = Some(to);
                }
                b
            })
            .collect();
        self.db = BindingDb::from_records(records);
    }

    /// The binding for `r`, if any.
    pub(crate) fn get(&self, r: &Resource) -> Option<&Binding> {
        self.db.get(r)
    }

    /// Whether `r` is in one of this server's pools.
    pub(crate) fn serves(&self, r: &Resource) -> bool {
        self.pools.contains(r)
    }

    /// Delegable prefixes no record names yet.
    pub(crate) fn untouched_prefixes(&self) -> u64 {
        self.pools.untouched_prefixes(&self.db)
    }

    /// Stores a binding and emits its durable write.
    pub(crate) fn store(&mut self, b: Binding, sink: &mut Sink) {
        if !matches!(b.status, BindingStatus::Expired | BindingStatus::Released) {
            self.announced.remove(&b.resource);
        }
        sink.persist_binding(&b);
        self.db.put(b);
    }

    /// Changes only the in-memory "update partner" flag of `r` (nothing durable changes).
    pub(crate) fn set_pending_quietly(&mut self, r: &Resource, pending: bool) {
        if let Some(b) = self.db.get(r).filter(|b| b.pending != pending) {
            let mut b = b.clone();
            b.pending = pending;
            self.db.put(b);
        }
    }

    /// Notes that the state of these leases went to the partner in a BNDUPD.
    pub(crate) fn announce(&mut self, resources: impl IntoIterator<Item = Resource>) {
        self.announced.extend(resources);
    }

    /// The next deadline of the expiry timer: the first ACTIVE lease to expire and, in
    /// PARTNER-DOWN, the first lease whose §4.2.2.1 wait ends.
    pub(crate) fn next_expiry(&self, st: &Standing) -> Option<Time> {
        let mut next = self.db.first_active_expiry().map(|(t, _)| t);
        if st.state == EndpointState::PartnerDown {
            // The index is ordered by the wait base, so its first entry has the earliest
            // free time (`mclt::partner_down_wait_base`).
            let first = if st.pd_wait_mutated() {
                self.db.awaiting_free().map(|b| b.start_time_of_state).min()
            } else {
                self.db
                    .first_awaiting_free()
                    .map(|base| base.max(st.partner_down_time).plus(st.mclt))
            };
            if let Some(t) = first {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next
    }

    /// Lease expiry (§7.2 (8)) and, in PARTNER-DOWN, the MCLT-delayed transition (4).
    pub(crate) fn expire(&mut self, now: Time, st: &Standing, sink: &mut Sink) {
        for r in self.db.expired_by(now) {
            if let Some(b) = self.db.get(&r) {
                let mut b = b.clone();
                b.set_status(BindingStatus::Expired, now);
                b.state_expiration_time = None;
                self.store(b, sink);
            }
        }
        if st.state == EndpointState::PartnerDown {
            let mutated = st.pd_wait_mutated();
            let due: Vec<Resource> = self
                .db
                .awaiting_free()
                .take_while(|b| mutated || st.pd_free_time(b) <= now)
                .filter(|b| st.pd_free_time(b) <= now)
                .map(|b| b.resource)
                .collect();
            for r in due {
                if let Some(b) = self.db.get(&r) {
                    let mut b = b.clone();
                    b.set_status(pending_free_resolves_to(&r), now);
                    self.store(b, sink);
                }
            }
        }
    }

    /// On leaving PARTNER-DOWN: EXPIRED/RELEASED/RESET leases whose update the partner has
    /// acked (no change pending) take the §7.2 (4) transition the ack would have made.
    pub(crate) fn free_acked_after_partner_down(&mut self, now: Time, sink: &mut Sink) {
        let acked: Vec<Resource> =
            self.db.awaiting_free().filter(|b| !b.pending).map(|b| b.resource).collect();
        for r in acked {
            if let Some(b) = self.db.get(&r) {
                let mut b = b.clone();
                b.status = pending_free_resolves_to(&r);
                b.start_time_of_state = now;
                b.version = b.version.wrapping_add(1);
                self.store(b, sink);
            }
        }
    }

    /// §7.2 transition (10), ABANDONED → RESET, and nothing else: a resource outside our pools
    /// has no lease to reset, and any other status is the protocol's to change. `Err` says
    /// why the operator's command is refused.
    pub(crate) fn reset_abandoned(
        &mut self,
        now: Time,
        r: &Resource,
        sink: &mut Sink,
    ) -> Result<(), String> {
        match self.db.get(r) {
            _ if !self.pools.contains(r) => Err(format!("{r} is in no pool of this server")),
            None => Err(format!("{r} has no lease record")),
            Some(b) if b.status != BindingStatus::Abandoned => {
                Err(format!("{r} is {}, not ABANDONED", b.status.name()))
            }
            Some(b) => {
                let mut b = b.clone();
                b.set_status(BindingStatus::Reset, now);
                self.store(b, sink);
                Ok(())
            }
        }
    }

    /// §4.2.2 (primary): hands up to `n` FREE delegable prefixes to the secondary
    /// (FREE-BACKUP; the prefix is the secondary's once the BNDUPD is sent).
    pub(crate) fn hand_off_prefixes(&mut self, now: Time, n: u64, sink: &mut Sink) {
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
            self.store(b, sink);
        }
    }

    // ------------------------------------------------------------ allocation

    /// Chooses a resource for a new lease (or the client's previous one): the client's own
    /// record, then its hint, then the pool (untouched space first, then the longest-free
    /// record), following the pool rules of the current state.
    pub(crate) fn select(
        &mut self,
        st: &Standing,
        now: Time,
        key: &ClientKey,
        hints: &[RequestedLease],
        in_flight: &BTreeSet<Resource>,
    ) -> Option<Resource> {
        let prefix = key.kind == IaKind::Pd;
        let own = self.db.of_client(key).find(|b| {
            b.resource.is_prefix() == prefix && self.usable_for(st, now, b, key, in_flight)
        });
        if let Some(b) = own {
            return Some(b.resource);
        }
        if !st.gives_new_leases() {
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
                Some(b) => self.usable_for(st, now, b, key, in_flight),
                None => self.untouched_usable(st, now, &h.resource),
            };
            if usable {
                return Some(h.resource);
            }
        }
        self.allocate(st, now, prefix)
    }

    /// Whether `b` may go to `key` now.
    pub(crate) fn usable_for(
        &self,
        st: &Standing,
        now: Time,
        b: &Binding,
        key: &ClientKey,
        in_flight: &BTreeSet<Resource>,
    ) -> bool {
        let _ = in_flight;
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
                    if st.mutated(crate::mutation::Mutation::ReuseAnnouncedLease) {
                        return !in_flight.contains(&b.resource);
                    }
                    return b.pending && !self.announced.contains(&b.resource);
                }
                _ => {}
            }
        }
        self.allocatable(st, now, b)
    }

    /// §4.2: whether a recorded, available binding may be given to a new client by this
    /// endpoint in its current state.
    fn allocatable(&self, st: &Standing, now: Time, b: &Binding) -> bool {
        if !st.gives_new_leases() || !b.status.is_available() {
            return false;
        }
        if st.partner_pool_mutation() {
            return true;
        }
        let mine = st.own_free_status();
        match b.resource {
            Resource::Address(_) => {
                // §4.2.1: only our own half, in every state (a MUST NOT in PARTNER-DOWN too:
                // digest §11.3 item 4).
                b.status == mine && b.resource.primary_half() == Some(st.role() == Role::Primary)
            }
            Resource::Prefix(..) => b.status == mine || self.partner_prefix_pool_open(st, now),
        }
    }

    /// Whether an untouched (unrecorded) resource may be given to a new client.
    fn untouched_usable(&self, st: &Standing, now: Time, r: &Resource) -> bool {
        if !st.gives_new_leases() {
            return false;
        }
        if st.partner_pool_mutation() {
            return true;
        }
        match r {
            Resource::Address(_) => r.primary_half() == Some(st.role() == Role::Primary),
            // Untouched delegable prefixes are the primary's (FREE, §4.2.2).
            Resource::Prefix(..) => {
                st.role() == Role::Primary || self.partner_prefix_pool_open(st, now)
            }
        }
    }

    /// §4.2.2, §8.4.1: in PARTNER-DOWN, the partner's delegable prefixes become usable at
    /// PD entry + MCLT, and only once our own pool is exhausted.
    fn partner_prefix_pool_open(&self, st: &Standing, now: Time) -> bool {
        if st.state != EndpointState::PartnerDown {
            return false;
        }
        if now < crate::leases::mclt::partner_pool_usable_from(st.partner_down_time, st.mclt)
            && !st.partner_prefix_wait_mutated()
        {
            return false;
        }
        match st.role() {
            Role::Primary => {
                self.pools.untouched_prefixes(&self.db) == 0
                    && self.db.available_count(BindingStatus::Free, true) == 0
            }
            Role::Secondary => self.db.available_count(BindingStatus::FreeBackup, true) == 0,
        }
    }

    /// A new resource from the pool.
    fn allocate(&mut self, st: &Standing, now: Time, prefix: bool) -> Option<Resource> {
        let primary = st.role() == Role::Primary;
        let mine = st.own_free_status();
        if prefix {
            if primary {
                if let Some(r) = self.pools.next_untouched_prefix(&self.db) {
                    return Some(r);
                }
            }
            if let Some(b) = self.db.available(mine, true).next() {
                return Some(b.resource);
            }
            if self.partner_prefix_pool_open(st, now) || st.partner_pool_mutation() {
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
            if st.partner_pool_mutation() {
                return self.pools.next_untouched_address(&self.db, !primary);
            }
            None
        }
    }

    // ------------------------------------------------------------ grants

    fn lifetimes_for(&self, st: &Standing, now: Time, r: &Resource) -> (u32, u32, u32) {
        let l =
            if r.is_prefix() { st.config.prefix_lifetimes } else { st.config.address_lifetimes };
        let acked = self.db.get(r).map_or(Time::ZERO, |b| b.acked_partner_lifetime);
        let valid = crate::leases::mclt::client_lifetime(
            l.valid,
            acked,
            now,
            st.mclt,
            st.mclt_bounds_grants(),
        );
        (l.preferred.min(valid), valid, l.valid)
    }

    /// What an ADVERTISE offers (nothing recorded).
    pub(crate) fn offer(&self, st: &Standing, now: Time, r: Resource) -> GrantedLease {
        let (preferred, valid, _) = self.lifetimes_for(st, now, &r);
        GrantedLease { resource: r, preferred_lifetime: preferred, valid_lifetime: valid }
    }

    /// Commits a lease to a client: the binding becomes (or stays) ACTIVE with lifetimes under
    /// the MCLT, the change is flagged for the partner (lazy update, §4.3) and written to
    /// stable storage before the reply that follows it.
    pub(crate) fn grant(
        &mut self,
        st: &Standing,
        now: Time,
        key: &ClientKey,
        r: Resource,
        sink: &mut Sink,
    ) -> GrantedLease {
        let (preferred, valid, desired) = self.lifetimes_for(st, now, &r);
        let mut b =
            self.db.get(&r).cloned().unwrap_or_else(|| Binding::free(r, BindingStatus::Free, now));
        b.grant(key, now, preferred, valid, desired);
        self.store(b, sink);
        sink.event(Event::LeaseGranted { resource: r, valid_lifetime: valid });
        GrantedLease { resource: r, preferred_lifetime: preferred, valid_lifetime: valid }
    }
}

/// Whether `r` is the unspecified address (a client's hint without an address).
pub(crate) fn is_unspecified(r: &Resource) -> bool {
    match r {
        Resource::Address(a) | Resource::Prefix(a, _) => *a == Ipv6Addr::UNSPECIFIED,
    }
}

/// Rebuilds the binding database from a durable image, repairing what no write of ours
/// produces: a transient PENDING-FREE is resolved (§7.2 (5)/(6)), and an ACTIVE record without
/// a client (which could never be renewed nor safely reused) is set aside as ABANDONED for the
/// operator (§7.2 (9)/(10)). Returns the repaired resources.
fn sanitize(bindings: BTreeMap<Resource, Binding>) -> (BindingDb, Vec<Resource>) {
    let mut repaired = Vec::new();
    let db = BindingDb::from_records(bindings.into_iter().filter_map(|(k, b)| {
        if k != b.resource {
            repaired.push(k);
            return None;
        }
        Some(b)
    }));
    let mut db = db;
    let fix: Vec<Binding> = db
        .iter()
        .filter(|b| {
            b.status == BindingStatus::PendingFree
                || (b.status == BindingStatus::Active && b.client.is_none())
        })
        .cloned()
        .collect();
    for mut b in fix {
        if b.status == BindingStatus::PendingFree {
            b.status = pending_free_resolves_to(&b.resource);
        } else {
            b.status = BindingStatus::Abandoned;
            repaired.push(b.resource);
        }
        db.put(b);
    }
    (db, repaired)
}
