//! Each seeded protocol bug (feature `mutations`) is caught by the property that guards the
//! rule it breaks. The search stops at the first discovery of that property.
#![cfg(feature = "mutations")]

use failover_model::mutation::Mutation;
use failover_specs::properties::name;
use failover_specs::run::{check, Search, Stop};
use failover_specs::FailoverModel;

fn caught(config: &str, m: Mutation, property: &'static str) {
    let model = FailoverModel::named(config).expect("config exists").with_mutation(m);
    let o = check(model, Search::Dfs, 2, Stop::AnyOf([property].into_iter().collect()));
    let path = o.discoveries.get(property);
    assert!(path.is_some(), "{} is not caught by {property} in `{config}`", m.name());
    // The counterexample is a real path of the model: it replays.
    let path = path.map(|p| p.clone().into_actions()).unwrap_or_default();
    assert!(!path.is_empty());
}

#[test]
fn mutation_ack_before_persist_is_caught() {
    caught("tiny", Mutation::AckBeforePersist, name::S5);
}

#[test]
fn mutation_ignore_mclt_in_comm_int_is_caught() {
    caught("tiny", Mutation::IgnoreMcltInCommInt, name::S2);
}

#[test]
fn mutation_allocate_from_partner_pool_is_caught() {
    caught("tiny", Mutation::AllocateFromPartnerPool, name::S10);
}

#[test]
fn mutation_skip_potential_conflict_is_caught() {
    caught("pd-partition", Mutation::SkipPotentialConflict, name::S24B);
}

/// Distinguishing since the core's S8 fix: the unmutated `pd-crash` space is exhausted with
/// no violation (13.8 M states), while this mutant breaks S8 (about 1 M states to the
/// counterexample in a release build).
#[test]
fn mutation_reallocate_without_pd_wait_is_caught() {
    caught("pd-crash", Mutation::ReallocateWithoutPdWait, name::S8);
}

/// The partner restarts while this server is in PARTNER-DOWN; its first STATE carries the
/// STARTUP flag (with its recorded pre-crash state). Trusting that state takes PARTNER-DOWN to
/// POTENTIAL-CONFLICT, which §8.4.2 forbids (MUST NOT take any transition on it).
#[test]
fn mutation_trust_startup_state_is_caught() {
    caught("restart-pd", Mutation::TrustStartupState, name::S21);
}

/// An EXPIRED lease whose BNDUPD reached the partner (which freed it on its ack) goes back to
/// its old client after the connection breaks before the BNDREPLY, while the partner gives it
/// to a new client: the third client operation of `reuse` reaches it (§4.2.2.1).
#[test]
fn mutation_reuse_announced_lease_is_caught() {
    caught("reuse", Mutation::ReuseAnnouncedLease, name::S1);
}
