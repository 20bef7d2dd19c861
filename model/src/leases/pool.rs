//! Pools: independent allocation of addresses by bit 127 (RFC 8156 §4.2.1) and proportional
//! allocation of delegable prefixes (§4.2.2).
//!
//! Untouched resources have no record: an untouched address belongs to the half its bit 127
//! names (FREE for the primary, FREE-BACKUP for the secondary), an untouched delegable prefix
//! is FREE (the primary owns every delegable prefix at the start, §4.2.2). Allocation walks a
//! cursor over untouched space and then takes the longest-free record of the right status, so
//! it never scans the pool.

use crate::config::Config;
use crate::leases::db::BindingDb;
use crate::resource::Resource;
use serde::{Deserialize, Serialize};
use std::net::Ipv6Addr;

/// One configured address range.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct AddressRange {
    first: u128,
    last: u128,
}

/// One configured delegable prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct PrefixRange {
    base: u128,
    prefix_len: u8,
    delegated_len: u8,
}

impl PrefixRange {
    fn count(&self) -> u64 {
        1u64 << u32::from(self.delegated_len - self.prefix_len)
    }

    fn nth(&self, i: u64) -> Resource {
        let shift = 128 - u32::from(self.delegated_len);
        let offset = if shift >= 128 { 0 } else { u128::from(i) << shift };
        Resource::Prefix(Ipv6Addr::from(self.base | offset), self.delegated_len)
    }

    fn index_of(&self, r: &Resource) -> Option<u64> {
        let Resource::Prefix(p, len) = r else { return None };
        if *len != self.delegated_len {
            return None;
        }
        let v = u128::from(*p);
        let host_bits = 128 - u32::from(self.prefix_len);
        let mask = if host_bits >= 128 { 0 } else { !((1u128 << host_bits) - 1) };
        if v & mask != self.base {
            return None;
        }
        let shift = 128 - u32::from(self.delegated_len);
        let low = if shift >= 128 { 0 } else { (1u128 << shift) - 1 };
        if v & low != 0 {
            return None;
        }
        let idx = if shift >= 128 { 0 } else { (v - self.base) >> shift };
        u64::try_from(idx).ok()
    }
}

/// The configured pools, with allocation cursors.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pools {
    addresses: Vec<AddressRange>,
    prefixes: Vec<PrefixRange>,
    /// Next untouched-address candidate per range and half (index 0: secondary's even half,
    /// 1: primary's odd half).
    addr_cursor: Vec<[u128; 2]>,
    /// Next untouched-prefix candidate index per delegable prefix.
    prefix_cursor: Vec<u64>,
}

impl Pools {
    /// The pools of a configuration.
    #[must_use]
    pub fn new(config: &Config) -> Pools {
        let addresses: Vec<AddressRange> = config
            .address_pools
            .iter()
            .map(|p| AddressRange { first: u128::from(p.first), last: u128::from(p.last) })
            .collect();
        let prefixes: Vec<PrefixRange> = config
            .prefix_pools
            .iter()
            .map(|p| PrefixRange {
                base: u128::from(p.prefix),
                prefix_len: p.prefix_len,
                delegated_len: p.delegated_len,
            })
            .collect();
        Pools {
            addr_cursor: addresses.iter().map(|a| [a.first, a.first]).collect(),
            prefix_cursor: vec![0; prefixes.len()],
            addresses,
            prefixes,
        }
    }

    /// Whether the resource is one this endpoint serves (§7.5.4: otherwise a BNDUPD about it is
    /// a ConfigurationConflict).
    #[must_use]
    pub fn contains(&self, r: &Resource) -> bool {
        match r {
            Resource::Address(a) => {
                let v = u128::from(*a);
                self.addresses.iter().any(|p| p.first <= v && v <= p.last)
            }
            Resource::Prefix(..) => self.prefixes.iter().any(|p| p.index_of(r).is_some()),
        }
    }

    /// Total number of delegable prefixes (of delegated length) configured.
    #[must_use]
    pub fn prefix_total(&self) -> u64 {
        self.prefixes.iter().map(PrefixRange::count).fold(0, u64::saturating_add)
    }

    /// The next untouched address (no record) in the half owned by the primary (`true`) or the
    /// secondary (`false`), advancing the cursor past records it finds.
    pub fn next_untouched_address(
        &mut self,
        db: &BindingDb,
        primary_half: bool,
    ) -> Option<Resource> {
        let half = usize::from(primary_half);
        for (i, range) in self.addresses.iter().enumerate() {
            let Some(cursor) = self.addr_cursor.get_mut(i).and_then(|c| c.get_mut(half)) else {
                continue;
            };
            let parity = u128::from(primary_half);
            let mut c = (*cursor).max(range.first);
            if c & 1 != parity {
                c = match c.checked_add(1) {
                    Some(v) => v,
                    None => continue,
                };
            }
            // Walk forward over recorded addresses (amortised: the cursor only advances).
            let mut recorded =
                db.range_from(Resource::Address(Ipv6Addr::from(c))).map(|b| b.resource).peekable();
            while c <= range.last {
                let here = Resource::Address(Ipv6Addr::from(c));
                while recorded.peek().is_some_and(|r| *r < here) {
                    recorded.next();
                }
                if recorded.peek() == Some(&here) {
                    c = match c.checked_add(2) {
                        Some(v) => v,
                        None => break,
                    };
                    continue;
                }
                *cursor = c;
                return Some(here);
            }
            *cursor = range.last.saturating_add(1);
        }
        None
    }

    /// The next untouched delegable prefix (no record), advancing the cursor.
    pub fn next_untouched_prefix(&mut self, db: &BindingDb) -> Option<Resource> {
        for (i, range) in self.prefixes.iter().enumerate() {
            let Some(cursor) = self.prefix_cursor.get_mut(i) else { continue };
            while *cursor < range.count() {
                let r = range.nth(*cursor);
                if db.get(&r).is_none() {
                    return Some(r);
                }
                *cursor += 1;
            }
        }
        None
    }

    /// Number of delegable prefixes with no record (implicitly FREE).
    #[must_use]
    pub fn untouched_prefixes(&self, db: &BindingDb) -> u64 {
        self.prefix_total().saturating_sub(db.prefix_count() as u64)
    }

    /// Resets the cursors (after a restore; they are a cache, not state).
    pub fn reset_cursors(&mut self) {
        for (c, a) in self.addr_cursor.iter_mut().zip(&self.addresses) {
            *c = [a.first, a.first];
        }
        for c in &mut self.prefix_cursor {
            *c = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::state::Role;
    use crate::leases::binding::{Binding, BindingStatus};
    use crate::time::Time;

    #[test]
    fn address_halves_by_bit_127() {
        let cfg = Config::example(Role::Primary);
        let mut pools = Pools::new(&cfg);
        let mut db = BindingDb::default();
        let a = pools.next_untouched_address(&db, true);
        let Some(Resource::Address(a)) = a else { panic!("no address") };
        assert_eq!(a.octets()[15] & 1, 1);
        db.put(Binding::free(Resource::Address(a), BindingStatus::Free, Time(1)));
        let Some(Resource::Address(b)) = pools.next_untouched_address(&db, true) else { panic!() };
        assert_eq!(u128::from(b), u128::from(a) + 2);
        let Some(Resource::Address(c)) = pools.next_untouched_address(&db, false) else { panic!() };
        assert_eq!(c.octets()[15] & 1, 0);
    }

    #[test]
    fn prefixes_are_carved_and_recognised() {
        let cfg = Config::example(Role::Primary);
        let mut pools = Pools::new(&cfg);
        assert_eq!(pools.prefix_total(), 256);
        let db = BindingDb::default();
        let Some(p) = pools.next_untouched_prefix(&db) else { panic!() };
        assert!(pools.contains(&p));
        assert_eq!(
            p,
            Resource::Prefix("2001:db8:100::".parse().unwrap_or(Ipv6Addr::LOCALHOST), 56)
        );
        assert!(!pools.contains(&Resource::Prefix(
            "2001:db8:100:1::".parse().unwrap_or(Ipv6Addr::LOCALHOST),
            56
        )));
        assert!(pools.contains(&Resource::Prefix(
            "2001:db8:100:ff00::".parse().unwrap_or(Ipv6Addr::LOCALHOST),
            56
        )));
        assert_eq!(pools.untouched_prefixes(&db), 256);
    }

    #[test]
    fn exhausted_pool_gives_none() {
        let mut cfg = Config::example(Role::Primary);
        cfg.address_pools[0].last = cfg.address_pools[0].first;
        // first is ...:100 (even): the primary's odd half is empty.
        let mut pools = Pools::new(&cfg);
        assert_eq!(pools.next_untouched_address(&BindingDb::default(), true), None);
        assert!(pools.next_untouched_address(&BindingDb::default(), false).is_some());
    }
}
