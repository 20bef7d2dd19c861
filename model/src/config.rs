//! Endpoint configuration: the protocol's part of what an operator configures, its defaults
//! and its validation, in one place.
//!
//! - [`Settings`]: what the operator writes, with everything that has a default left out
//!   (`None`). `failoverd`'s TOML layer fills it in and adds only sockets, files and processes.
//! - [`Settings::into_config`] applies the defaults below (the RFC's where it gives one) and
//!   [`Config::validate`]s the result.
//! - [`Config`]: the validated values the endpoint runs with.
//!
//! A [`ConfigError`] names the element as the operator writes it in `failoverd`'s TOML file
//! (`failover.mclt`, `pools.addresses[1].last`, `lifetimes.prefix.preferred`).

use crate::dhcp::options::Options;
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
/// §6.1: the primary "MUST periodically attempt to create a TCP connection", "the period is
/// implementation dependent and SHOULD be configurable". Seconds.
pub const DEFAULT_RECONNECT_INTERVAL: u32 = 5;
/// §7.5.4: updates whose flag is still set are sent again; how often we look (seconds).
pub const DEFAULT_UPDATE_SCAN_INTERVAL: u32 = 30;
/// §8.5.2: a server in RECOVER that makes no progress "SHOULD drop" the connection; after this
/// many seconds without a BNDUPD or UPDDONE (0 disables).
pub const DEFAULT_RECOVER_STALL_TIME: u32 = 120;
/// §8.3.2 step 5: how often the "last operating time" is recorded (seconds; 0 disables).
pub const DEFAULT_HEARTBEAT_INTERVAL: u32 = 60;
/// §4.2.2: the share of the delegable prefixes the secondary holds; the RFC suggests an even
/// split ("e.g., 50%"). Percent.
pub const DEFAULT_SECONDARY_PREFIX_SHARE: u8 = 50;
/// §4.2.2: rebalance when the secondary is off its target by more than this many prefixes.
pub const DEFAULT_REBALANCE_THRESHOLD: u32 = 1;
/// RFC 8415 §18.3.1: answer SOLICIT with Rapid Commit when the client asks for it.
pub const DEFAULT_RAPID_COMMIT: bool = true;
/// At most this many octets in OPTION_F_RELATIONSHIP_NAME as configured (§5.5.15; it is also
/// the store's identity).
pub const MAX_RELATIONSHIP_LEN: usize = 255;

/// §8.3.2 step 3: the STARTUP period. The RFC leaves its length to the implementation; by
/// default it is as long as the keepalive time, after which a partner that is up has been heard.
#[must_use]
pub fn default_startup_time(keepalive_time: u32) -> u32 {
    keepalive_time
}

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
    /// The configuration options sent to clients (`[options]`), preference (ADVERTISE) among
    /// them (the primary's normally higher).
    #[serde(default)]
    pub options: Options,
    /// A seeded protocol bug (model checking only).
    #[cfg(feature = "mutations")]
    #[serde(default)]
    pub mutation: Option<crate::mutation::Mutation>,
}

/// Why a configuration is invalid: the element, as the operator writes it in `failoverd`'s
/// TOML file, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An element's value is out of range.
    #[error("{path}: {reason}")]
    Invalid {
        /// The element (`failover.mclt`, `pools.addresses[1].last`).
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(path: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { path: path.into(), reason: reason.into() }
    }

    /// The element the error is about, as written in the configuration file.
    #[must_use]
    pub fn path(&self) -> &str {
        match self {
            ConfigError::Invalid { path, .. } => path,
        }
    }

    /// What is wrong with it.
    #[must_use]
    pub fn reason(&self) -> &str {
        match self {
            ConfigError::Invalid { reason, .. } => reason,
        }
    }
}

/// The protocol part of an operator's configuration, as written: each `None` takes its default
/// in [`Settings::into_config`]. (`failoverd`'s TOML keys in brackets.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `role`.
    pub role: Role,
    /// `relationship` (must match the partner's).
    pub relationship: String,
    /// `server_duid`.
    pub server_duid: Duid,
    /// `failover.mclt` (no default: the operator chooses the lead time).
    pub mclt: u32,
    /// `failover.keepalive_time` (default [`DEFAULT_KEEPALIVE_TIME`]).
    pub keepalive_time: Option<u32>,
    /// `failover.contacts_per_keepalive` (default [`DEFAULT_CONTACTS_PER_KEEPALIVE`]).
    pub contacts_per_keepalive: Option<u32>,
    /// `failover.max_unacked_bndupd` (default [`DEFAULT_MAX_UNACKED_BNDUPD`]).
    pub max_unacked_bndupd: Option<u32>,
    /// `failover.startup_time` (default [`default_startup_time`] of the keepalive time).
    pub startup_time: Option<u32>,
    /// `failover.reconnect_interval` (default [`DEFAULT_RECONNECT_INTERVAL`]).
    pub reconnect_interval: Option<u32>,
    /// `failover.update_scan_interval` (default [`DEFAULT_UPDATE_SCAN_INTERVAL`]).
    pub update_scan_interval: Option<u32>,
    /// `failover.recover_stall_time` (default [`DEFAULT_RECOVER_STALL_TIME`]).
    pub recover_stall_time: Option<u32>,
    /// `failover.heartbeat_interval` (default [`DEFAULT_HEARTBEAT_INTERVAL`]).
    pub heartbeat_interval: Option<u32>,
    /// `failover.auto_partner_down` (default: never).
    pub auto_partner_down: Option<u32>,
    /// `failover.startup_partner_down_if_alone` (default false).
    pub startup_partner_down_if_alone: Option<bool>,
    /// `[[pools.addresses]]`.
    pub address_pools: Vec<AddressPool>,
    /// `[[pools.prefixes]]`.
    pub prefix_pools: Vec<PrefixPool>,
    /// `pools.secondary_prefix_share` (default [`DEFAULT_SECONDARY_PREFIX_SHARE`]).
    pub secondary_prefix_share: Option<u8>,
    /// `pools.rebalance_threshold` (default [`DEFAULT_REBALANCE_THRESHOLD`]).
    pub rebalance_threshold: Option<u32>,
    /// `lifetimes.address`.
    pub address_lifetimes: Lifetimes,
    /// `lifetimes.prefix`.
    pub prefix_lifetimes: Lifetimes,
    /// `dhcp.rapid_commit` (default [`DEFAULT_RAPID_COMMIT`]).
    pub rapid_commit: Option<bool>,
    /// `[options]` (default: none sent; `options.preference` or `dhcp.preference`).
    pub options: Options,
}

impl Settings {
    /// What the operator must give; everything else at its default, no pools.
    #[must_use]
    pub fn new(
        role: Role,
        relationship: impl Into<String>,
        server_duid: Duid,
        mclt: u32,
        address_lifetimes: Lifetimes,
        prefix_lifetimes: Lifetimes,
    ) -> Settings {
        Settings {
            role,
            relationship: relationship.into(),
            server_duid,
            mclt,
            keepalive_time: None,
            contacts_per_keepalive: None,
            max_unacked_bndupd: None,
            startup_time: None,
            reconnect_interval: None,
            update_scan_interval: None,
            recover_stall_time: None,
            heartbeat_interval: None,
            auto_partner_down: None,
            startup_partner_down_if_alone: None,
            address_pools: Vec::new(),
            prefix_pools: Vec::new(),
            secondary_prefix_share: None,
            rebalance_threshold: None,
            address_lifetimes,
            prefix_lifetimes,
            rapid_commit: None,
            options: Options::default(),
        }
    }

    /// Applies the defaults and validates the result.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first invalid element.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let keepalive_time = self.keepalive_time.unwrap_or(DEFAULT_KEEPALIVE_TIME);
        let config = Config {
            role: self.role,
            relationship: self.relationship,
            server_duid: self.server_duid,
            mclt: self.mclt,
            keepalive_time,
            contacts_per_keepalive: self
                .contacts_per_keepalive
                .unwrap_or(DEFAULT_CONTACTS_PER_KEEPALIVE),
            max_unacked_bndupd: self.max_unacked_bndupd.unwrap_or(DEFAULT_MAX_UNACKED_BNDUPD),
            startup_time: self.startup_time.unwrap_or_else(|| default_startup_time(keepalive_time)),
            auto_partner_down: self.auto_partner_down,
            startup_partner_down_if_alone: self.startup_partner_down_if_alone.unwrap_or(false),
            reconnect_interval: self.reconnect_interval.unwrap_or(DEFAULT_RECONNECT_INTERVAL),
            update_scan_interval: self.update_scan_interval.unwrap_or(DEFAULT_UPDATE_SCAN_INTERVAL),
            recover_stall_time: self.recover_stall_time.unwrap_or(DEFAULT_RECOVER_STALL_TIME),
            heartbeat_interval: self.heartbeat_interval.unwrap_or(DEFAULT_HEARTBEAT_INTERVAL),
            address_pools: self.address_pools,
            prefix_pools: self.prefix_pools,
            address_lifetimes: self.address_lifetimes,
            prefix_lifetimes: self.prefix_lifetimes,
            secondary_prefix_share: self
                .secondary_prefix_share
                .unwrap_or(DEFAULT_SECONDARY_PREFIX_SHARE),
            rebalance_threshold: self.rebalance_threshold.unwrap_or(DEFAULT_REBALANCE_THRESHOLD),
            rapid_commit: self.rapid_commit.unwrap_or(DEFAULT_RAPID_COMMIT),
            options: self.options,
            #[cfg(feature = "mutations")]
            mutation: None,
        };
        config.validate()?;
        Ok(config)
    }
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
            options: Options::default(),
            #[cfg(feature = "mutations")]
            mutation: None,
        }
    }

    /// FO_SEND_TIME before the partner's keepalive is known (§6.5): own keepalive ÷ contacts.
    #[must_use]
    pub fn default_send_time(&self) -> u32 {
        (self.keepalive_time / self.contacts_per_keepalive.max(1)).max(1)
    }

    /// Checks every value the protocol depends on.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first invalid element as `failoverd`'s TOML file writes it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |path: String, reason: String| Err(ConfigError::invalid(path, reason));
        if self.relationship.is_empty() {
            return bad("relationship".into(), "must not be empty".into());
        }
        if self.relationship.len() > MAX_RELATIONSHIP_LEN {
            return bad("relationship".into(), format!("at most {MAX_RELATIONSHIP_LEN} octets"));
        }
        if let Err(why) = Duid::checked(self.server_duid.0.clone()) {
            return bad("server_duid".into(), why.into());
        }
        if self.mclt < MIN_LEASE_TIME {
            return bad("failover.mclt".into(), "must be at least 30 seconds (RFC 8156 §1)".into());
        }
        for (name, v) in [
            ("keepalive_time", self.keepalive_time),
            ("contacts_per_keepalive", self.contacts_per_keepalive),
            ("max_unacked_bndupd", self.max_unacked_bndupd),
            ("startup_time", self.startup_time),
            ("reconnect_interval", self.reconnect_interval),
            ("update_scan_interval", self.update_scan_interval),
        ] {
            if v == 0 {
                return bad(format!("failover.{name}"), "must be positive".into());
            }
        }
        if self.auto_partner_down == Some(0) {
            return bad(
                "failover.auto_partner_down".into(),
                "must be positive (omit it to never go to PARTNER-DOWN by itself)".into(),
            );
        }
        for (i, p) in self.address_pools.iter().enumerate() {
            let (first, last) = (p.first, p.last);
            if u128::from(first) > u128::from(last) {
                return bad(
                    format!("pools.addresses[{i}].last"),
                    format!("{last} is before first ({first})"),
                );
            }
            for (j, q) in self.address_pools.iter().enumerate().take(i) {
                if u128::from(first) <= u128::from(q.last)
                    && u128::from(q.first) <= u128::from(last)
                {
                    return bad(
                        format!("pools.addresses[{i}]"),
                        format!("overlaps pools.addresses[{j}]"),
                    );
                }
            }
        }
        for (i, p) in self.prefix_pools.iter().enumerate() {
            let (prefix_len, dl) = (p.prefix_len, p.delegated_len);
            if prefix_len > 128 {
                return bad(
                    format!("pools.prefixes[{i}].prefix"),
                    "prefix length above 128".into(),
                );
            }
            let host_bits = 128 - u32::from(prefix_len);
            let mask = if host_bits >= 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
            if u128::from(p.prefix) & mask != 0 {
                return bad(
                    format!("pools.prefixes[{i}].prefix"),
                    "has bits set beyond its length".into(),
                );
            }
            if dl > 128 || dl < prefix_len {
                return bad(
                    format!("pools.prefixes[{i}].delegated_length"),
                    format!("must be between the prefix length ({prefix_len}) and 128"),
                );
            }
            if dl - prefix_len > 32 {
                return bad(
                    format!("pools.prefixes[{i}].delegated_length"),
                    "at most 2^32 delegated prefixes per delegable prefix".into(),
                );
            }
        }
        if self.address_pools.is_empty() && self.prefix_pools.is_empty() {
            return bad("pools".into(), "no addresses and no prefixes to serve".into());
        }
        if self.secondary_prefix_share > 100 {
            return bad("pools.secondary_prefix_share".into(), "must be 0 to 100".into());
        }
        for (name, l) in [
            ("lifetimes.address", self.address_lifetimes),
            ("lifetimes.prefix", self.prefix_lifetimes),
        ] {
            if l.valid < MIN_LEASE_TIME {
                return bad(
                    format!("{name}.valid"),
                    "must be at least 30 seconds (RFC 8156 §1)".into(),
                );
            }
            if l.preferred > l.valid {
                return bad(
                    format!("{name}.preferred"),
                    format!("{} exceeds the valid lifetime ({})", l.preferred, l.valid),
                );
            }
        }
        self.options.validate("options")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        let l = Lifetimes { preferred: 120, valid: 180 };
        let mut s = Settings::new(Role::Primary, "pair", Duid::new(vec![0, 1]), 30, l, l);
        s.address_pools.push(AddressPool {
            first: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100),
            last: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x1ff),
        });
        s
    }

    fn path(s: Settings) -> String {
        s.into_config().map_or_else(|e| e.path().to_owned(), |_| "(accepted)".into())
    }

    #[test]
    fn defaults_are_the_rfcs_and_the_cores() {
        let c = settings().into_config().expect("valid");
        assert_eq!(c.keepalive_time, 60); // §6.5 FO_KEEPALIVE_TIME
        assert_eq!(c.contacts_per_keepalive, 4); // §6.5 FO_CONTACT_PER_KEEPALIVE_TIME
        assert_eq!(c.max_unacked_bndupd, DEFAULT_MAX_UNACKED_BNDUPD);
        assert_eq!(c.startup_time, 60);
        assert_eq!(c.reconnect_interval, DEFAULT_RECONNECT_INTERVAL);
        assert_eq!(c.update_scan_interval, DEFAULT_UPDATE_SCAN_INTERVAL);
        assert_eq!(c.recover_stall_time, DEFAULT_RECOVER_STALL_TIME);
        assert_eq!(c.heartbeat_interval, DEFAULT_HEARTBEAT_INTERVAL);
        assert_eq!(c.auto_partner_down, None);
        assert!(!c.startup_partner_down_if_alone);
        assert_eq!(c.secondary_prefix_share, 50);
        assert_eq!(c.rebalance_threshold, 1);
        assert!(c.rapid_commit);
        assert_eq!(c.options, Options::default());
        // The STARTUP period follows a configured keepalive time unless given itself.
        let mut s = settings();
        s.keepalive_time = Some(6);
        assert_eq!(s.clone().into_config().map(|c| c.startup_time), Ok(6));
        s.startup_time = Some(3);
        assert_eq!(s.into_config().map(|c| c.startup_time), Ok(3));
    }

    #[test]
    fn errors_name_the_element_as_the_operator_writes_it() {
        let mut s = settings();
        s.mclt = 29;
        assert_eq!(path(s), "failover.mclt");
        let mut s = settings();
        s.startup_time = Some(0);
        assert_eq!(path(s), "failover.startup_time");
        let mut s = settings();
        s.auto_partner_down = Some(0);
        assert_eq!(path(s), "failover.auto_partner_down");
        let mut s = settings();
        s.relationship.clear();
        assert_eq!(path(s), "relationship");
        let mut s = settings();
        let p = s.address_pools[0].clone();
        s.address_pools.push(AddressPool { first: p.last, last: p.first });
        assert_eq!(path(s), "pools.addresses[1].last");
        let mut s = settings();
        s.address_pools.push(s.address_pools[0].clone());
        assert_eq!(path(s), "pools.addresses[1]");
        let mut s = settings();
        let prefix = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0);
        s.prefix_pools.push(PrefixPool { prefix, prefix_len: 48, delegated_len: 56 });
        s.prefix_pools.push(PrefixPool { prefix, prefix_len: 36, delegated_len: 56 });
        assert_eq!(path(s), "pools.prefixes[1].prefix");
        let mut s = settings();
        s.prefix_pools.push(PrefixPool { prefix, prefix_len: 48, delegated_len: 44 });
        assert_eq!(path(s), "pools.prefixes[0].delegated_length");
        let mut s = settings();
        s.address_pools.clear();
        assert_eq!(path(s), "pools");
        let mut s = settings();
        s.secondary_prefix_share = Some(101);
        assert_eq!(path(s), "pools.secondary_prefix_share");
        let mut s = settings();
        s.prefix_lifetimes.preferred = 200;
        assert_eq!(path(s), "lifetimes.prefix.preferred");
        let mut s = settings();
        s.address_lifetimes = Lifetimes { preferred: 10, valid: 20 };
        assert_eq!(path(s), "lifetimes.address.valid");
        // The options' rules, under `options`.
        let mut s = settings();
        s.options.dns_servers = Some(vec![Ipv6Addr::UNSPECIFIED]);
        assert_eq!(path(s), "options.dns_servers[0]");
        let e = settings().into_config().map(|_| ());
        assert_eq!(e, Ok(()));
    }

    #[test]
    fn the_example_is_valid() {
        for role in [Role::Primary, Role::Secondary] {
            assert_eq!(Config::example(role).validate(), Ok(()));
        }
    }
}
