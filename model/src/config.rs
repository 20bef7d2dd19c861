//! Endpoint configuration, as validated values. (The runtime's TOML layer maps onto this.)

use crate::failover::state::Role;
use crate::resource::Duid;
use serde::{Deserialize, Serialize};
use std::net::Ipv6Addr;

/// §6.5: FO_KEEPALIVE_TIME default (seconds).
pub const DEFAULT_KEEPALIVE_TIME: u32 = 60;
/// §6.5: FO_CONTACT_PER_KEEPALIVE_TIME default.
pub const DEFAULT_CONTACTS_PER_KEEPALIVE: u32 = 4;
/// The RFC gives no default for MAX_UNACKED_BNDUPD (ISC dhcpd uses 10, digest §6.8). Chosen
/// by measurement (docs/performance.md, "Replication window"): the partner acknowledges one
/// window per durable commit, so the window bounds the rate it keeps up with; on the reference
/// machine 10 kept up to 4,000 exchanges/s of the 12,000 the pair answers, 32 to 8,000, 64
/// to all 12,000, and 128 or 256 took CPU from answering (10,000).
pub const DEFAULT_MAX_UNACKED_BNDUPD: u32 = 64;
/// §1: failover MUST NOT be used for new leases shorter than 30 s, so the MCLT is at least 30.
pub const MIN_LEASE_TIME: u32 = 30;

/// A range of addresses served with independent allocation (§4.2.1). Inclusive bounds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AddressPool {
    /// First address.
    pub first: Ipv6Addr,
    /// Last address (inclusive).
    pub last: Ipv6Addr,
}

/// A delegable prefix served with proportional allocation (§4.2.2): `prefix/prefix_len`
/// carved into prefixes of `delegated_len`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PrefixPool {
    /// The delegable prefix.
    pub prefix: Ipv6Addr,
    /// Its length.
    pub prefix_len: u8,
    /// The length of each delegated prefix (fixed: OPTION_F_CONNECT_FLAGS FIXED_PD_LENGTH).
    pub delegated_len: u8,
}

/// Lifetimes handed to clients when failover does not shorten them (§4.4 "desired").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lifetimes {
    /// Preferred lifetime (seconds).
    pub preferred: u32,
    /// Desired valid lifetime (seconds).
    pub valid: u32,
}

/// One endpoint's configuration (one role in one relationship).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Config {
    /// Primary or secondary.
    pub role: Role,
    /// OPTION_F_RELATIONSHIP_NAME (§5.5.15). Empty: the pair has a single relationship.
    pub relationship: String,
    /// This server's DUID (OPTION_SERVERID in client replies).
    pub server_duid: Duid,
    /// Maximum Client Lead Time (§4.4), seconds. The primary's value rules (§6.1.2).
    pub mclt: u32,
    /// FO_KEEPALIVE_TIME (§6.5): silence after which comms are not OK.
    pub keepalive_time: u32,
    /// FO_CONTACT_PER_KEEPALIVE_TIME (§6.5).
    pub contacts_per_keepalive: u32,
    /// The MAX_UNACKED_BNDUPD this endpoint advertises (§6.1.1).
    pub max_unacked_bndupd: u32,
    /// Length of the STARTUP timer (§8.3.2 step 3), seconds.
    pub startup_time: u32,
    /// Auto-partner-down (§8.9): seconds in COMM-INT before moving to PARTNER-DOWN by itself.
    /// `None` (the default) never does; enabling it is safe only if the partner cannot be
    /// running while unreachable (§8.4).
    pub auto_partner_down: Option<u32>,
    /// §8.3.2 step 1 (SHOULD-level option): a server that ends its STARTUP period without ever
    /// having reached its partner and with no recorded state goes to PARTNER-DOWN
    /// ("commissioning" a lone server, digest §11.3 item 3). Off by default.
    pub startup_partner_down_if_alone: bool,
    /// Seconds between connection attempts by the primary (§6.1: "periodically").
    pub reconnect_interval: u32,
    /// Seconds between scans that re-send updates whose flag is still set (§7.5.4).
    pub update_scan_interval: u32,
    /// Seconds without progress in RECOVER (no BNDUPD, no UPDDONE) before dropping the
    /// connection (§8.5.2 "SHOULD drop"). Zero disables.
    pub recover_stall_time: u32,
    /// Seconds between "last operating time" records (§8.3.2 step 5). Zero disables the
    /// periodic record (the time is still written with every state record).
    pub heartbeat_interval: u32,
    /// Address pools (IA_NA).
    pub address_pools: Vec<AddressPool>,
    /// Delegable prefixes (IA_PD).
    pub prefix_pools: Vec<PrefixPool>,
    /// Lifetimes for addresses.
    pub address_lifetimes: Lifetimes,
    /// Lifetimes for delegated prefixes.
    pub prefix_lifetimes: Lifetimes,
    /// Percentage of the delegable prefixes the secondary should hold (§4.2.2).
    pub secondary_prefix_share: u8,
    /// Rebalance only when the secondary's count is off its target by more than this many
    /// prefixes (§4.2.2 "threshold").
    pub rebalance_threshold: u32,
    /// Answer SOLICIT with Rapid Commit when the client asks (RFC 8415 §18.3.1).
    pub rapid_commit: bool,
    /// OPTION_PREFERENCE sent in ADVERTISE (the primary normally higher).
    pub preference: Option<u8>,
    /// A seeded protocol bug (model checking only).
    #[cfg(feature = "mutations")]
    #[serde(default)]
    pub mutation: Option<crate::mutation::Mutation>,
}

/// Why a configuration is invalid. Each names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A field's value is out of range.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl Config {
    /// A small, valid configuration for tests, examples and the model checker.
    #[must_use]
    pub fn example(role: Role) -> Config {
        Config {
            role,
            relationship: "example".into(),
            server_duid: Duid::new(match role {
                Role::Primary => vec![0, 2, 0, 0, 0x09, 0xbf, 1],
                Role::Secondary => vec![0, 2, 0, 0, 0x09, 0xbf, 2],
            }),
            mclt: 3600,
            keepalive_time: DEFAULT_KEEPALIVE_TIME,
            contacts_per_keepalive: DEFAULT_CONTACTS_PER_KEEPALIVE,
            max_unacked_bndupd: DEFAULT_MAX_UNACKED_BNDUPD,
            startup_time: 10,
            auto_partner_down: None,
            startup_partner_down_if_alone: false,
            reconnect_interval: 5,
            update_scan_interval: 30,
            recover_stall_time: 120,
            heartbeat_interval: 60,
            address_pools: vec![AddressPool {
                first: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100),
                last: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x1ff),
            }],
            prefix_pools: vec![PrefixPool {
                prefix: Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0),
                prefix_len: 48,
                delegated_len: 56,
            }],
            address_lifetimes: Lifetimes { preferred: 3 * 86400, valid: 4 * 86400 },
            prefix_lifetimes: Lifetimes { preferred: 3 * 86400, valid: 4 * 86400 },
            secondary_prefix_share: 50,
            rebalance_threshold: 1,
            rapid_commit: true,
            preference: None,
            #[cfg(feature = "mutations")]
            mutation: None,
        }
    }

    /// FO_SEND_TIME before the partner's keepalive is known (§6.5): own keepalive ÷ contacts.
    #[must_use]
    pub fn default_send_time(&self) -> u32 {
        (self.keepalive_time / self.contacts_per_keepalive.max(1)).max(1)
    }

    /// Checks the values the protocol depends on.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first invalid field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, reason: &str| Err(ConfigError::Invalid { field, reason: reason.into() });
        if self.mclt < MIN_LEASE_TIME {
            return bad("mclt", "must be at least 30 seconds (RFC 8156 §1)");
        }
        if self.keepalive_time == 0 {
            return bad("keepalive_time", "must be positive");
        }
        if self.contacts_per_keepalive == 0 {
            return bad("contacts_per_keepalive", "must be positive");
        }
        if self.max_unacked_bndupd == 0 {
            return bad("max_unacked_bndupd", "must be positive");
        }
        if self.server_duid.0.is_empty() || self.server_duid.0.len() > 130 {
            return bad("server_duid", "must be 1 to 130 octets (RFC 8415 §11.1)");
        }
        if self.reconnect_interval == 0 {
            return bad("reconnect_interval", "must be positive");
        }
        if self.update_scan_interval == 0 {
            return bad("update_scan_interval", "must be positive");
        }
        for (name, l) in [
            ("address_lifetimes", self.address_lifetimes),
            ("prefix_lifetimes", self.prefix_lifetimes),
        ] {
            if l.valid < MIN_LEASE_TIME {
                return bad(name, "valid lifetime must be at least 30 seconds (RFC 8156 §1)");
            }
            if l.preferred > l.valid {
                return bad(name, "preferred lifetime must not exceed the valid lifetime");
            }
        }
        for p in &self.address_pools {
            if u128::from(p.first) > u128::from(p.last) {
                return bad("address_pools", "first address is after last address");
            }
        }
        for (i, p) in self.address_pools.iter().enumerate() {
            for q in &self.address_pools[i + 1..] {
                if u128::from(p.first) <= u128::from(q.last)
                    && u128::from(q.first) <= u128::from(p.last)
                {
                    return bad("address_pools", "pools overlap");
                }
            }
        }
        for p in &self.prefix_pools {
            if p.prefix_len > 128 || p.delegated_len > 128 || p.delegated_len < p.prefix_len {
                return bad("prefix_pools", "need prefix_len <= delegated_len <= 128");
            }
            if p.delegated_len - p.prefix_len > 32 {
                return bad("prefix_pools", "at most 2^32 delegated prefixes per delegable prefix");
            }
            let host_bits = 128 - u32::from(p.prefix_len);
            let mask = if host_bits >= 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
            if u128::from(p.prefix) & mask != 0 {
                return bad("prefix_pools", "prefix has bits set beyond its length");
            }
        }
        if self.secondary_prefix_share > 100 {
            return bad("secondary_prefix_share", "must be a percentage (0 to 100)");
        }
        Ok(())
    }
}
