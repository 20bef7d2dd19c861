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

/// The partner's delegable prefixes open in PARTNER-DOWN only at PD entry + MCLT (§4.2.2,
/// §8.4.1). Without the wait, a server whose own prefixes are gone delegates the partner's
/// at once: S9 in `a1` (three clients asking for prefixes, a partition, an operator
/// PARTNER-DOWN; 20 steps). In the CI walks the harm shows: the partner still delegates the
/// same prefix, S1 (below). Found by cargo-mutants (docs/model.md, "Mutation adequacy": the
/// MCLT of `partner_pool_usable_from` replaced by time zero survived the core's tests).
#[test]
fn mutation_partner_prefixes_without_pd_wait_is_caught() {
    caught("a1", Mutation::PartnerPrefixesWithoutPdWait, name::S9);
}

/// Every named mutation, old and new, is caught in CI, not only by a unit test: by the CI
/// random-walk batch (`.ci/run`: `walk --config walk --seed 1 --walks 1000 --steps 300`), by
/// the first property it breaks there. The match is exhaustive, so a new mutation must name
/// its property here. (The tests above show each in a bounded configuration as well;
/// `specs/tests/walk.rs` shrinks each walk counterexample.)
fn walk_property(m: Mutation) -> &'static str {
    match m {
        Mutation::AckBeforePersist => name::S5,
        Mutation::IgnoreMcltInCommInt => name::S2,
        Mutation::AllocateFromPartnerPool => name::S10,
        Mutation::ReallocateWithoutPdWait => name::S8,
        Mutation::SkipPotentialConflict => name::S24B,
        Mutation::TrustStartupState => name::S21,
        Mutation::ReuseAnnouncedLease => name::S1,
        Mutation::PartnerPrefixesWithoutPdWait => name::S9,
    }
}

#[test]
fn every_mutation_is_caught_by_the_ci_walk_batch() {
    use failover_model::mutation::ALL_MUTATIONS;
    use failover_specs::walk::{BatchOptions, Options, Walker};
    for m in ALL_MUTATIONS {
        let w = Walker::new(FailoverModel::named("walk").expect("walk exists").with_mutation(m));
        let batch = BatchOptions {
            seed: 1,
            walks: 1000,
            threads: 2,
            time_limit: None,
            distinct: false,
            progress: None,
            keep_going: false,
        };
        let b = w.batch(&Options::default(), &batch);
        let (_, walk) = b.violation.unwrap_or_else(|| panic!("{} escapes the CI walks", m.name()));
        let v = walk.violation().expect("the reported walk violates");
        assert_eq!(v.property, walk_property(m), "{} caught by the wrong property", m.name());
    }
}
