//! Seeded protocol bugs for the model checker (feature `mutations` only).
//!
//! Each mutation switches off one rule of RFC 8156 so that `failover-specs` can show that the
//! property guarding that rule catches it. None of this exists in a default or release build.

use serde::{Deserialize, Serialize};

/// A seeded bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Mutation {
    /// Send BNDREPLY before persisting the update (breaks §7.5.2; caught by S5).
    AckBeforePersist,
    /// Ignore the MCLT in COMMUNICATIONS-INTERRUPTED (breaks §8.9.1; caught by S2/S1).
    IgnoreMcltInCommInt,
    /// Allocate new leases from the partner's pool outside PARTNER-DOWN (breaks §4.2; S10/S1).
    AllocateFromPartnerPool,
    /// Re-allocate in PARTNER-DOWN without waiting the MCLT (breaks §4.2.2.1; S8/S1).
    ReallocateWithoutPdWait,
    /// Go from PARTNER-DOWN / COMM-INT straight to NORMAL on reconnect instead of
    /// POTENTIAL-CONFLICT (breaks §8.4.2/§8.9.2; S1).
    SkipPotentialConflict,
    /// Treat a STATE with the STARTUP flag as the partner's real state (breaks §8.4.2; S21).
    TrustStartupState,
    /// Give an EXPIRED or RELEASED lease back to its client once its BNDUPD was sent, as long
    /// as no update is outstanding (breaks §4.2.2.1 / §8.8.1; S1).
    ReuseAnnouncedLease,
    /// Delegate the partner's prefixes in PARTNER-DOWN (once this server's own are gone)
    /// without waiting the MCLT from PARTNER-DOWN entry (breaks §4.2.2 / §8.4.1; S9).
    PartnerPrefixesWithoutPdWait,
}

/// Every mutation, for listing.
pub const ALL_MUTATIONS: [Mutation; 8] = [
    Mutation::AckBeforePersist,
    Mutation::IgnoreMcltInCommInt,
    Mutation::AllocateFromPartnerPool,
    Mutation::ReallocateWithoutPdWait,
    Mutation::SkipPotentialConflict,
    Mutation::TrustStartupState,
    Mutation::ReuseAnnouncedLease,
    Mutation::PartnerPrefixesWithoutPdWait,
];

impl Mutation {
    /// The kebab-case name used on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Mutation::AckBeforePersist => "ack-before-persist",
            Mutation::IgnoreMcltInCommInt => "ignore-mclt-in-comm-int",
            Mutation::AllocateFromPartnerPool => "allocate-from-partner-pool",
            Mutation::ReallocateWithoutPdWait => "reallocate-without-pd-wait",
            Mutation::SkipPotentialConflict => "skip-potential-conflict",
            Mutation::TrustStartupState => "trust-startup-state",
            Mutation::ReuseAnnouncedLease => "reuse-announced-lease",
            Mutation::PartnerPrefixesWithoutPdWait => "partner-prefixes-without-pd-wait",
        }
    }

    /// Parses a name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        ALL_MUTATIONS.iter().copied().find(|m| m.name() == name)
    }
}
