//! The binding database: binding records indexed by resource, by client, by expiry and by
//! availability, so that no operation scans the pool or the whole table.

use crate::leases::binding::{Binding, BindingStatus};
use crate::resource::{ClientKey, Duid, IaKind, Resource};
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Binding records and their indexes. All ordered collections: the database hashes and
/// compares deterministically (the model checker hashes whole endpoints).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BindingDb {
    bindings: BTreeMap<Resource, Binding>,
    /// Each IA's resources, sorted, without duplicates. A `Vec` rather than a `BTreeSet`: most
    /// IAs hold one resource, and a set allocates a whole B-tree node (about 200 bytes) for it.
    by_client: BTreeMap<ClientKey, Vec<Resource>>,
    /// ACTIVE bindings by client expiry.
    active_expiry: BTreeSet<(Time, Resource)>,
    /// EXPIRED, RELEASED and RESET bindings by their PARTNER-DOWN wait base
    /// ([`crate::leases::mclt::partner_down_wait_base`]), so the earliest §7.2 (4) deadline is first.
    awaiting_free: BTreeSet<(Time, Resource)>,
    /// Number of available bindings by status and kind.
    available_counts: BTreeMap<(BindingStatus, bool), usize>,
    /// FREE, FREE-BACKUP and PENDING-FREE bindings by status, kind and time freed.
    available: BTreeSet<(BindingStatus, bool, Time, Resource)>,
    /// Bindings whose "update partner" flag is set.
    pending: BTreeSet<Resource>,
    prefix_bindings: usize,
    active: usize,
}

impl BindingDb {
    /// Builds the database (and its indexes) from records.
    pub fn from_bindings<'a>(records: impl IntoIterator<Item = &'a Binding>) -> Self {
        BindingDb::from_records(records.into_iter().cloned())
    }

    /// Builds the database (and its indexes) from records it takes over (no copy). A later
    /// record for the same resource replaces an earlier one, as with [`BindingDb::put`].
    ///
    /// The same database as `put` of every record, built in bulk: a B-tree filled by inserting
    /// in key order keeps its nodes about half full, one built from sorted contents fills them
    /// (a restart from a large store holds about half the memory for the records).
    pub fn from_records(records: impl IntoIterator<Item = Binding>) -> Self {
        let mut records: Vec<Binding> = records.into_iter().collect();
        // Reversed, a stable sort puts the later of two records for a resource first, and
        // `dedup` keeps the first of equals.
        records.reverse();
        records.sort_by_key(|b| b.resource);
        records.dedup_by_key(|b| b.resource);
        let bindings: BTreeMap<Resource, Binding> =
            records.into_iter().map(|b| (b.resource, b)).collect();
        let mut db = BindingDb::default();
        for b in bindings.values() {
            db.index(b);
        }
        db.bindings = bindings;
        // Rebuild each index from its sorted contents (same contents, full nodes).
        db.by_client = std::mem::take(&mut db.by_client).into_iter().collect();
        db.active_expiry = std::mem::take(&mut db.active_expiry).into_iter().collect();
        db.awaiting_free = std::mem::take(&mut db.awaiting_free).into_iter().collect();
        db.available = std::mem::take(&mut db.available).into_iter().collect();
        db.pending = std::mem::take(&mut db.pending).into_iter().collect();
        db
    }

    /// Replaces every time `t` by `f(t)` (`Endpoint::map_times`): the records, then the
    /// indexes rebuilt from them.
    pub(crate) fn map_times(&mut self, f: &impl Fn(Time) -> Time) {
        let records = std::mem::take(&mut self.bindings).into_values().map(|mut b| {
            b.map_times(f);
            b
        });
        *self = BindingDb::from_records(records);
    }

    /// The record for `r`.
    #[must_use]
    pub fn get(&self, r: &Resource) -> Option<&Binding> {
        self.bindings.get(r)
    }

    /// Inserts or replaces a record, keeping every index in step.
    pub fn put(&mut self, b: Binding) {
        if let Some(old) = self.bindings.remove(&b.resource) {
            self.unindex(&old);
        }
        self.index(&b);
        self.bindings.insert(b.resource, b);
    }

    fn index(&mut self, b: &Binding) {
        let r = b.resource;
        if let Some(c) = &b.client {
            // Room for one: most IAs hold one resource (an empty Vec's first push reserves 4).
            let set = self.by_client.entry(c.clone()).or_insert_with(|| Vec::with_capacity(1));
            if let Err(i) = set.binary_search(&r) {
                set.insert(i, r);
            }
        }
        match b.status {
            BindingStatus::Active => {
                self.active_expiry.insert((b.client_expiry, r));
                self.active += 1;
            }
            s if s.awaits_ack_to_free() => {
                self.awaiting_free.insert((crate::leases::mclt::partner_down_wait_base(b), r));
            }
            s if s.is_available() => {
                self.available.insert((s, r.is_prefix(), b.start_time_of_state, r));
                *self.available_counts.entry((s, r.is_prefix())).or_default() += 1;
            }
            _ => {}
        }
        if b.pending {
            self.pending.insert(r);
        }
        if r.is_prefix() {
            self.prefix_bindings += 1;
        }
    }

    fn unindex(&mut self, b: &Binding) {
        let r = b.resource;
        if let Some(c) = &b.client {
            if let Some(set) = self.by_client.get_mut(c) {
                if let Ok(i) = set.binary_search(&r) {
                    set.remove(i);
                }
                if set.is_empty() {
                    self.by_client.remove(c);
                }
            }
        }
        match b.status {
            BindingStatus::Active => {
                self.active_expiry.remove(&(b.client_expiry, r));
                self.active -= 1;
            }
            s if s.awaits_ack_to_free() => {
                self.awaiting_free.remove(&(crate::leases::mclt::partner_down_wait_base(b), r));
            }
            s if s.is_available() => {
                self.available.remove(&(s, r.is_prefix(), b.start_time_of_state, r));
                let key = (s, r.is_prefix());
                if let Some(n) = self.available_counts.get_mut(&key) {
                    *n -= 1;
                    if *n == 0 {
                        self.available_counts.remove(&key);
                    }
                }
            }
            _ => {}
        }
        self.pending.remove(&r);
        if r.is_prefix() {
            self.prefix_bindings -= 1;
        }
    }

    /// Every record, ordered by resource.
    pub fn iter(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.values()
    }

    /// Records from `from` upwards (for cursor allocation).
    pub fn range_from(&self, from: Resource) -> impl Iterator<Item = &Binding> {
        self.bindings.range(from..).map(|(_, b)| b)
    }

    /// Number of records.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    /// Whether there are no records.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// Number of ACTIVE records.
    #[must_use]
    pub fn active_count(&self) -> usize {
        self.active
    }

    /// Number of prefix records.
    #[must_use]
    pub fn prefix_count(&self) -> usize {
        self.prefix_bindings
    }

    /// The resources recorded for one IA of a client.
    pub fn of_client(&self, key: &ClientKey) -> impl Iterator<Item = &Binding> {
        self.by_client.get(key).into_iter().flatten().filter_map(|r| self.bindings.get(r))
    }

    /// Every record of a client (all its IAs), ordered by IA then resource.
    pub fn of_duid<'a>(&'a self, duid: &Duid) -> impl Iterator<Item = &'a Binding> + 'a {
        let lo = ClientKey { duid: duid.clone(), kind: IaKind::Na, iaid: 0 };
        let hi = ClientKey { duid: duid.clone(), kind: IaKind::Pd, iaid: u32::MAX };
        self.by_client
            .range(lo..=hi)
            .flat_map(|(_, set)| set.iter())
            .filter_map(|r| self.bindings.get(r))
    }

    /// The earliest ACTIVE client expiry.
    #[must_use]
    pub fn first_active_expiry(&self) -> Option<(Time, Resource)> {
        self.active_expiry.first().copied()
    }

    /// ACTIVE bindings whose client expiry is at or before `now`.
    #[must_use]
    pub fn expired_by(&self, now: Time) -> Vec<Resource> {
        self.active_expiry.iter().take_while(|(t, _)| *t <= now).map(|(_, r)| *r).collect()
    }

    /// EXPIRED / RELEASED / RESET bindings, earliest PARTNER-DOWN wait base first.
    pub fn awaiting_free(&self) -> impl Iterator<Item = &Binding> {
        self.awaiting_free.iter().filter_map(|(_, r)| self.bindings.get(r))
    }

    /// The earliest PARTNER-DOWN wait base among EXPIRED / RELEASED / RESET bindings.
    #[must_use]
    pub fn first_awaiting_free(&self) -> Option<Time> {
        self.awaiting_free.first().map(|(t, _)| *t)
    }

    /// Available bindings with `status` of the given kind, longest-free first.
    pub fn available(&self, status: BindingStatus, prefix: bool) -> impl Iterator<Item = &Binding> {
        let lo = (status, prefix, Time::ZERO, Resource::Address(std::net::Ipv6Addr::UNSPECIFIED));
        self.available
            .range(lo..)
            .take_while(move |(s, p, _, _)| *s == status && *p == prefix)
            .filter_map(|(_, _, _, r)| self.bindings.get(r))
    }

    /// Number of available bindings with `status` of the given kind.
    #[must_use]
    pub fn available_count(&self, status: BindingStatus, prefix: bool) -> usize {
        self.available_counts.get(&(status, prefix)).copied().unwrap_or(0)
    }

    /// Resources whose "update partner" flag is set.
    pub fn pending(&self) -> impl Iterator<Item = &Resource> {
        self.pending.iter()
    }

    /// Number of pending resources.
    #[must_use]
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// The records as a map (for the durable image).
    #[must_use]
    pub fn records(&self) -> &BTreeMap<Resource, Binding> {
        &self.bindings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn addr(n: u16) -> Resource {
        Resource::Address(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n))
    }

    #[test]
    fn indexes_follow_every_change() {
        let mut db = BindingDb::default();
        let key = ClientKey { duid: Duid::new(vec![1]), kind: IaKind::Na, iaid: 7 };
        let mut b = Binding::free(addr(1), BindingStatus::Free, Time(1));
        db.put(b.clone());
        assert_eq!(db.available_count(BindingStatus::Free, false), 1);
        b.status = BindingStatus::Active;
        b.client = Some(key.clone());
        b.client_expiry = Time(100);
        b.pending = true;
        db.put(b.clone());
        assert_eq!(db.available_count(BindingStatus::Free, false), 0);
        assert_eq!(db.active_count(), 1);
        assert_eq!(db.first_active_expiry(), Some((Time(100), addr(1))));
        assert_eq!(db.of_client(&key).count(), 1);
        assert_eq!(db.of_duid(&key.duid).count(), 1);
        assert_eq!(db.pending_count(), 1);
        assert_eq!(db.expired_by(Time(99)), vec![]);
        assert_eq!(db.expired_by(Time(100)), vec![addr(1)]);
        b.status = BindingStatus::Expired;
        b.start_time_of_state = Time(100);
        b.pending = false;
        db.put(b);
        assert_eq!(db.active_count(), 0);
        assert_eq!(db.awaiting_free().count(), 1);
        assert_eq!(db.pending_count(), 0);
        assert_eq!(db, BindingDb::from_bindings(db.records().values()));
    }

    #[test]
    fn bulk_build_is_put_of_every_record() {
        let key = |i: u8| ClientKey { duid: Duid::new(vec![i % 3]), kind: IaKind::Na, iaid: 7 };
        let mut records = Vec::new();
        for i in (0..40u8).rev() {
            let mut b = Binding::free(addr(u16::from(i % 25)), BindingStatus::Free, Time(1));
            match i % 4 {
                0 => {
                    b.status = BindingStatus::Active;
                    b.client = Some(key(i));
                    b.client_expiry = Time(100 + u32::from(i));
                }
                1 => {
                    b.status = BindingStatus::Expired;
                    b.client = Some(key(i));
                    b.start_time_of_state = Time(u32::from(i));
                }
                2 => b.pending = true,
                _ => b.status = BindingStatus::FreeBackup,
            }
            records.push(b);
        }
        let mut one_by_one = BindingDb::default();
        for b in &records {
            one_by_one.put(b.clone());
        }
        let bulk = BindingDb::from_records(records);
        assert_eq!(bulk, one_by_one);
        assert_eq!(bulk.len(), 25);
    }
}
