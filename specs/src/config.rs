//! Named bounded configurations and the environment assumptions (digest §10.1).

use failover_model::config::{AddressPool, Lifetimes, PrefixPool};
use failover_model::{Config, IaKind, Role};
use serde::Serialize;
use std::net::Ipv6Addr;

/// Environment assumptions of RFC 8156, each a switch (digest §10.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Assumptions {
    /// A1 (§8.4): an operator issues PARTNER-DOWN only when the partner is really down
    /// (crashed, or cut off by a partition), and a server whose partner is in PARTNER-DOWN
    /// answers no client until it has heard a STATE from that partner. The second half is
    /// also the condition under which auto-partner-down (§8.9) is safe. Off: the command may
    /// be given at any time and nothing fences the partner.
    pub a1_correct_partner_down: bool,
    /// A2: stable storage survives a crash. Off: crashes that lose storage are possible.
    pub a2_storage_survives: bool,
    /// A3 (§3, §7.5.1): the clocks agree within 5 s. Off: the secondary's clock runs 10 s
    /// ahead of the primary's.
    pub a3_clock_skew_within_5s: bool,
}

impl Default for Assumptions {
    fn default() -> Self {
        Assumptions {
            a1_correct_partner_down: true,
            a2_storage_survives: true,
            a3_clock_skew_within_5s: true,
        }
    }
}

/// The assumptions a named configuration runs under unless switched off further: the
/// defaults, except that `storage`, `deep`, `deep2` and `walk` include crashes that lose stable storage
/// (A2 off).
#[must_use]
pub fn assumptions_for(config: &str) -> Assumptions {
    let mut a = Assumptions::default();
    if config == "storage" || config == "deep" || config == "deep2" || config == "walk" {
        a.a2_storage_survives = false;
    }
    a
}

/// Names accepted by `--assume-off`.
pub const ASSUMPTION_NAMES: [&str; 3] = ["A1", "A2", "A3"];

impl Assumptions {
    /// Switches one assumption off by name (`A1`, `A2`, `A3`).
    ///
    /// # Errors
    /// The name is unknown.
    pub fn switch_off(&mut self, name: &str) -> Result<(), String> {
        match name {
            "A1" => self.a1_correct_partner_down = false,
            "A2" => self.a2_storage_survives = false,
            "A3" => self.a3_clock_skew_within_5s = false,
            _ => return Err(format!("unknown assumption {name} (known: A1, A2, A3)")),
        }
        Ok(())
    }
}

/// The bounds of one run: everything that keeps the state space finite.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Bounds {
    /// Global time never advances beyond `T0 + horizon` seconds.
    pub horizon: u32,
    /// Number of clients.
    pub clients: u8,
    /// The IAs every client asks for (in one message).
    pub ias: Vec<IaKind>,
    /// Client operations in a run.
    pub client_ops: u8,
    /// Process crashes (storage kept).
    pub crashes: u8,
    /// Crashes losing storage (only if A2 is off).
    pub storage_losses: u8,
    /// Connection breaks.
    pub breaks: u8,
    /// Partitions.
    pub partitions: u8,
    /// Operator PARTNER-DOWN commands.
    pub pd_commands: u8,
    /// Lost client replies.
    pub lost_replies: u8,
    /// At most this many faults of any kind (crash, storage loss, break, partition, lost
    /// reply) in one run, on top of each kind's own bound: every kind stays possible, but a
    /// run combines only so many. `None`: no shared bound.
    pub max_faults: Option<u8>,
    /// Clients may DECLINE an address (RFC 8415 §18.2.8; binding goes ABANDONED).
    pub decline: bool,
    /// Configure a delegable prefix pool (2 × `pool_size` prefixes) besides the addresses.
    pub prefix_pool: bool,
    /// Resources per half: the address pool has `pool_size` addresses in each half (bit 127,
    /// §4.2.1: `2 × pool_size` in all), the delegable prefix (with `prefix_pool`) is carved
    /// into `2 × pool_size` prefixes. 1, 2 or 4. With more than one per half, the pool cursor
    /// skips recorded addresses (held, abandoned, waiting to be reused) to reach the next one.
    pub pool_size: u8,
    /// Auto-partner-down after this many seconds in COMMUNICATIONS-INTERRUPTED (§8.9).
    pub auto_partner_down: Option<u32>,
    /// Clock skew of the secondary (seconds ahead) while A3 holds.
    pub skew: u32,
    /// Time may pass while partner messages or a connection attempt are in flight (network
    /// delay). Off: the partner network is urgent (in-flight messages are delivered, or lost
    /// by a break/partition/crash, before time advances).
    pub delays: bool,
    /// Timers due at the same instant fire in one fixed order (primary first, then by timer)
    /// instead of every interleaving (a reduction: other events still interleave with them).
    pub ordered_timers: bool,
    /// The run starts from the quiescent world two fresh servers reach at `T0` by their
    /// handshake, recovery and pool balancing in one canonical order (`FailoverModel::warm_up`)
    /// instead of from the two fresh servers: no fault, client or command interleaves with the
    /// first start. A reduction for the searches that are about what happens later (the A1
    /// hazard); the configurations that check startup keep it off.
    pub warm_start: bool,
}

/// Names accepted by [`Bounds::set`].
pub const BOUND_NAMES: [&str; 18] = [
    "horizon",
    "clients",
    "client_ops",
    "crashes",
    "storage_losses",
    "breaks",
    "partitions",
    "pd_commands",
    "lost_replies",
    "max_faults",
    "decline",
    "prefix_pool",
    "pool_size",
    "auto_partner_down",
    "skew",
    "delays",
    "ordered_timers",
    "warm_start",
];

impl Bounds {
    /// Overrides one bound by name (`failover-check check --set horizon=75`): to size a
    /// configuration or to explore one variant without editing the named list. `ias` is set
    /// with `na`, `pd` or `na+pd`; `auto_partner_down` with seconds or `off`.
    ///
    /// # Errors
    /// The name is unknown or the value does not parse.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, String> {
            v.parse().map_err(|_| format!("{key}: {v:?} is not a number in range"))
        }
        fn flag(key: &str, v: &str) -> Result<bool, String> {
            match v {
                "true" | "on" | "1" => Ok(true),
                "false" | "off" | "0" => Ok(false),
                _ => Err(format!("{key}: {v:?} is not true/false")),
            }
        }
        match key {
            "horizon" => self.horizon = num(key, value)?,
            "clients" => self.clients = num(key, value)?,
            "client_ops" => self.client_ops = num(key, value)?,
            "crashes" => self.crashes = num(key, value)?,
            "storage_losses" => self.storage_losses = num(key, value)?,
            "breaks" => self.breaks = num(key, value)?,
            "partitions" => self.partitions = num(key, value)?,
            "pd_commands" => self.pd_commands = num(key, value)?,
            "lost_replies" => self.lost_replies = num(key, value)?,
            "max_faults" => {
                self.max_faults = if value == "off" { None } else { Some(num(key, value)?) };
            }
            "decline" => self.decline = flag(key, value)?,
            "prefix_pool" => self.prefix_pool = flag(key, value)?,
            "pool_size" => self.pool_size = num(key, value)?,
            "auto_partner_down" => {
                self.auto_partner_down = if value == "off" { None } else { Some(num(key, value)?) };
            }
            "skew" => self.skew = num(key, value)?,
            "delays" => self.delays = flag(key, value)?,
            "ordered_timers" => self.ordered_timers = flag(key, value)?,
            "warm_start" => self.warm_start = flag(key, value)?,
            "ias" => {
                self.ias = match value {
                    "na" => vec![IaKind::Na],
                    "pd" => vec![IaKind::Pd],
                    "na+pd" => vec![IaKind::Na, IaKind::Pd],
                    _ => return Err(format!("ias: {value:?} is not na, pd or na+pd")),
                };
            }
            _ => {
                return Err(format!("unknown bound {key} (known: ias, {})", BOUND_NAMES.join(", ")))
            }
        }
        if self.clients == 0 || self.clients > 6 {
            return Err(format!("clients: {} is outside 1..=6", self.clients));
        }
        if ![1, 2, 4].contains(&self.pool_size) {
            return Err(format!("pool_size: {} is not 1, 2 or 4", self.pool_size));
        }
        Ok(())
    }
}

/// Protocol timing shared by both endpoints. Everything is a multiple of 15 s so that timer
/// deadlines coincide and the number of distinct instants stays small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Timing {
    /// MCLT (≥ 30, §1).
    pub mclt: u32,
    /// Desired valid lifetime (≥ 30, §1).
    pub valid: u32,
    /// Preferred lifetime.
    pub preferred: u32,
    /// FO_KEEPALIVE_TIME.
    pub keepalive: u32,
    /// FO_CONTACT_PER_KEEPALIVE_TIME.
    pub contacts_per_keepalive: u32,
    /// STARTUP period.
    pub startup: u32,
    /// Primary's reconnect interval.
    pub reconnect: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            mclt: 30,
            valid: 60,
            preferred: 30,
            keepalive: 30,
            contacts_per_keepalive: 2,
            startup: 15,
            reconnect: 15,
            // (update scan and heartbeat intervals follow in `endpoint_config`)
        }
    }
}

/// The first and last address of the one-address-per-half pool (`pool_size` 1): `::1` (odd,
/// the primary's half by bit 127) and `::2` (even, the secondary's), RFC 8156 §4.2.1. With
/// `pool_size` n the pool is `::1` to `::2n`.
pub const POOL_FIRST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
/// See [`POOL_FIRST`].
pub const POOL_LAST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
/// The delegable prefix: with `pool_size` 1 a /55 carved into two /56 (proportional
/// allocation, §4.2.2); with `pool_size` n, 2n /56 (a /54 for 2, a /53 for 4).
pub const DELEGABLE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0);

/// The last address of the pool of `pool_size` addresses per half.
#[must_use]
pub fn pool_last(pool_size: u8) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(POOL_FIRST) - 1 + 2 * u128::from(pool_size.max(1)))
}

/// One endpoint's configuration for a bounded run.
#[must_use]
pub fn endpoint_config(role: Role, t: &Timing, b: &Bounds) -> Config {
    let mut c = Config::example(role);
    c.mclt = t.mclt;
    c.keepalive_time = t.keepalive;
    c.contacts_per_keepalive = t.contacts_per_keepalive;
    c.startup_time = t.startup;
    c.reconnect_interval = t.reconnect;
    c.update_scan_interval = 2 * t.keepalive;
    c.recover_stall_time = 4 * t.keepalive;
    c.heartbeat_interval = 4 * t.startup;
    c.auto_partner_down = b.auto_partner_down;
    c.address_pools = vec![AddressPool { first: POOL_FIRST, last: pool_last(b.pool_size) }];
    // 2n /56 in a /(56 - log2 2n).
    let prefix_len = 56 - u8::try_from((2 * u32::from(b.pool_size.max(1))).ilog2()).unwrap_or(1);
    c.prefix_pools = if b.prefix_pool {
        vec![PrefixPool { prefix: DELEGABLE, prefix_len, delegated_len: 56 }]
    } else {
        Vec::new()
    };
    let l = Lifetimes { preferred: t.preferred, valid: t.valid };
    c.address_lifetimes = l;
    c.prefix_lifetimes = l;
    c.rapid_commit = false;
    // One update in flight at a time: with two resources, flow control (§6.1.2, S16) and the
    // queue behind it are exercised.
    c.max_unacked_bndupd = 1;
    // Proportional allocation (§4.2.2) with two /56: the secondary's share is one of them. The
    // default threshold of 1 would leave both with the primary (0 + 1 < 1 is false), and the
    // secondary would delegate only the primary's prefixes, in PARTNER-DOWN.
    c.rebalance_threshold = 0;
    c
}

/// The named bounded configurations of `failover-check`.
pub const CONFIG_NAMES: [&str; 16] = [
    "unit",
    "tiny",
    "ci",
    "deep",
    "deep2",
    "pool",
    "faults2",
    "auto-pd",
    "a1",
    "pd-crash",
    "pd-partition",
    "storage",
    "partition",
    "restart-pd",
    "reuse",
    "walk",
];

/// A named configuration's bounds.
///
/// - `unit`: one client, one operation, no fault, 60 s: the pinned-count test.
/// - `tiny`: one client, addresses only, one break: seconds; used by the unit tests.
/// - `ci`: one client operation, one partition and one operator PARTNER-DOWN (A1-guarded),
///   90 s (the same bounds as `pd-partition`): under a minute on 2 cores. Breaks are covered by
///   `tiny`. Adding a break, or a second client operation, took it past 20 M states and 8
///   minutes on the shared machine.
/// - `deep` (A2 off): every fault type in one search — a crash, a storage loss, a break, a
///   partition, a lost reply, any one of them per run (`max_faults = 1`), with an operator
///   PARTNER-DOWN and declines — two clients asking for an address and a prefix, two
///   operations (a second client, a second operation, prefixes and four fault kinds beyond
///   `ci`), horizon 90 s from the quiescent NORMAL pair (`warm_start`). Outside CI: 56 M
///   states, 773 s on 2 shared cores (docs/model.md, "`deep`"). Horizon 105 passed 92 M states
///   unexhausted (CHANGELOG.md, 2026-12-02); without the shared budget (all six faults in one run) horizon 60 passed 10 M
///   and 105 passed 60 M unexhausted. `--set horizon=105 --set max_faults=off` brings the
///   larger searches back.
/// - `deep2` (A2 off): `deep` with two faults per run (`max_faults = 2`), the successor issue 13
///   asks for; not exhausted within an hour on the shared machine (docs/model.md).
/// - `pool`: one client asking for addresses, three operations, declines, one connection break,
///   two addresses per half (`pool_size`), from the quiescent NORMAL pair: the pool cursor
///   skips a recorded address (held, abandoned, or waiting to be reused), a break falls between
///   an update and its reply before a third operation, and a BNDUPD meets the receiver's own
///   pending change on reconnection (the goals of [`crate::goals`]). 1,976,764 states
///   (2026-12-05; the same bounds with two clients and `dfs-sym`: 7,839,772, too large for CI).
/// - `faults2`: one client asking for an address, one operation, a break and a partition, both
///   in one run (`max_faults = 2`), horizon 60 s from the NORMAL pair: 230,652 states. With a crash as a third
///   kind and two operations it passed 3.7 M states in 150 s unexhausted; with a crash, horizon
///   75 and two operations 19 M in 1,000 s (2026-12-05, load 13).
/// - `a1`: three clients asking for delegated prefixes, one partition and one operator
///   PARTNER-DOWN, from the NORMAL pair: with A1 switched off the checker finds the §8.4
///   duplicate allocation (S1).
/// - `pd-crash`: two clients, a crash and an operator PARTNER-DOWN (reuse waits, STARTUP
///   flags on the partner's restart).
/// - `pd-partition`: one client, a partition and an operator PARTNER-DOWN (reintegration
///   through POTENTIAL-CONFLICT).
/// - `auto-pd`: three clients asking for prefixes, auto-partner-down after 30 s under a
///   partition, from the NORMAL pair; with A1 off (nothing fences either side) the checker
///   finds the §8.9 duplicate allocation (S1).
/// - `storage` (A2 off): one client asking for an address and a prefix, a crash that loses
///   stable storage, an operator PARTNER-DOWN: recovery with UPDREQALL and RECOVER-WAIT.
/// - `partition`: two clients asking for an address and a prefix, one partition, from the
///   quiescent NORMAL pair (`warm_start`): both servers serve while apart, then reintegrate.
/// - `reuse`: two clients asking for addresses with three operations between them and one
///   connection break, from the quiescent NORMAL pair: the third operation after an expiry
///   reported to the partner and a break (a lease must not go back to its client once a BNDUPD
///   about it was sent, §4.2.2.1; the crash variant is the scenario
///   `regression_expired_lease_back_to_its_client_in_partner_down`).
/// - `restart-pd`: one crash, one operator PARTNER-DOWN, from NORMAL: the partner's STARTUP
///   STATE reaches a server in PARTNER-DOWN (S21).
/// - `walk` (A2 off): for `failover-check walk` only, never exhausted: three clients asking
///   for an address and a prefix, 200 operations, every fault kind many times, a skewed
///   secondary, unordered timers, horizon one day.
#[must_use]
pub fn bounds(name: &str) -> Option<Bounds> {
    let base = Bounds {
        horizon: 120,
        clients: 1,
        ias: vec![IaKind::Na],
        client_ops: 2,
        crashes: 0,
        storage_losses: 0,
        breaks: 1,
        partitions: 0,
        pd_commands: 0,
        lost_replies: 0,
        max_faults: None,
        decline: false,
        prefix_pool: false,
        pool_size: 1,
        auto_partner_down: None,
        skew: 0,
        delays: false,
        ordered_timers: true,
        warm_start: false,
    };
    Some(match name {
        "unit" => Bounds { horizon: 60, client_ops: 1, breaks: 0, ..base },
        "tiny" => Bounds { horizon: 90, ..base },
        "pd-crash" => Bounds {
            horizon: 60,
            clients: 2,
            client_ops: 2,
            breaks: 0,
            crashes: 1,
            pd_commands: 1,
            ..base
        },
        "pd-partition" => {
            Bounds { horizon: 90, client_ops: 1, breaks: 0, partitions: 1, pd_commands: 1, ..base }
        }
        "a1" => Bounds {
            horizon: 60,
            warm_start: true,
            clients: 3,
            ias: vec![IaKind::Pd],
            client_ops: 3,
            breaks: 0,
            partitions: 1,
            pd_commands: 1,
            prefix_pool: true,
            ..base
        },
        "ci" => {
            Bounds { horizon: 90, client_ops: 1, breaks: 0, partitions: 1, pd_commands: 1, ..base }
        }
        "deep" => Bounds {
            horizon: 90,
            clients: 2,
            ias: vec![IaKind::Na, IaKind::Pd],
            client_ops: 2,
            crashes: 1,
            storage_losses: 1,
            breaks: 1,
            partitions: 1,
            pd_commands: 1,
            lost_replies: 1,
            max_faults: Some(1),
            decline: true,
            prefix_pool: true,
            warm_start: true,
            ..base
        },
        "deep2" => Bounds { max_faults: Some(2), ..bounds("deep")? },
        "pool" => Bounds {
            horizon: 75,
            client_ops: 3,
            decline: true,
            pool_size: 2,
            warm_start: true,
            ..base
        },
        "faults2" => Bounds {
            horizon: 60,
            client_ops: 1,
            partitions: 1,
            max_faults: Some(2),
            warm_start: true,
            ..base
        },
        "storage" => Bounds {
            horizon: 90,
            ias: vec![IaKind::Na, IaKind::Pd],
            prefix_pool: true,
            client_ops: 2,
            breaks: 0,
            storage_losses: 1,
            pd_commands: 1,
            ..base
        },
        "partition" => Bounds {
            horizon: 90,
            clients: 2,
            ias: vec![IaKind::Na, IaKind::Pd],
            prefix_pool: true,
            client_ops: 2,
            breaks: 0,
            partitions: 1,
            warm_start: true,
            ..base
        },
        "restart-pd" => Bounds {
            horizon: 60,
            client_ops: 1,
            breaks: 0,
            crashes: 1,
            pd_commands: 1,
            warm_start: true,
            ..base
        },
        "auto-pd" => Bounds {
            horizon: 120,
            clients: 3,
            ias: vec![IaKind::Pd],
            prefix_pool: true,
            client_ops: 3,
            breaks: 0,
            partitions: 1,
            auto_partner_down: Some(30),
            warm_start: true,
            ..base
        },
        "reuse" => Bounds { horizon: 75, clients: 2, client_ops: 3, warm_start: true, ..base },
        "walk" => Bounds {
            horizon: 86_400,
            clients: 3,
            ias: vec![IaKind::Na, IaKind::Pd],
            prefix_pool: true,
            client_ops: 200,
            crashes: 10,
            storage_losses: 4,
            breaks: 16,
            partitions: 10,
            pd_commands: 10,
            lost_replies: 16,
            decline: true,
            skew: 5,
            ordered_timers: false,
            ..base
        },
        _ => return None,
    })
}
