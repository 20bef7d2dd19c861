//! `failover-check walk` (`failover_specs::walk`): a fixed-seed batch of long random walks over
//! the `walk` configuration is clean on the real core and exercises every action kind; with
//! the feature `mutations`, the same batch catches every seeded bug by the property that
//! guards its rule, and the shrunk counterexample is shorter and still violates it.
//!
//! The seeds are those of `.ci/run`'s walk batch (seed 1). Longer batches do find violations
//! on the real core (reported with the walk mode's introduction); this fixed batch is a
//! regression gate, not a proof.

use failover_specs::properties::name;
use failover_specs::walk::{BatchOptions, Ending, Kind, Options, Walker, KINDS};
use failover_specs::FailoverModel;

fn walker() -> Walker {
    Walker::new(FailoverModel::named("walk").expect("walk exists"))
}

fn batch(walks: u64, keep_going: bool) -> BatchOptions {
    BatchOptions {
        seed: 1,
        walks,
        threads: 2,
        time_limit: None,
        distinct: true,
        progress: None,
        keep_going,
    }
}

#[test]
fn a_fixed_seed_batch_is_clean_on_the_real_core_and_exercises_every_action_kind() {
    let w = walker();
    let b = w.batch(&Options::default(), &batch(60, true));
    assert_eq!(b.walks, 60);
    assert!(b.by_property.is_empty(), "violated: {:?}", b.by_property.keys().collect::<Vec<_>>());
    assert_eq!(b.steps, 60 * 300, "no walk ends early (the horizon is a day)");
    for k in KINDS {
        assert!(b.counts[k.index()] > 0, "no {} action in the batch", k.name());
    }
    // Long behaviours reach what the bounded configurations do not in one run.
    for goal in [
        "reach primary RESOLUTION-INTERRUPTED",
        "NORMAL again after a storage loss",
        "lease granted in PARTNER-DOWN",
        "two clients hold leases",
    ] {
        assert!(b.reached.contains(goal), "{goal} is not reached");
    }
    assert!(b.distinct.is_some_and(|d| d > 10_000), "distinct states: {:?}", b.distinct);
}

#[test]
fn a_walk_is_determined_by_its_seed_and_the_batch_by_its_first_seed() {
    let w = walker();
    let opts = Options::default();
    let a = w.walk(7, &opts, |_| {});
    let b = w.walk(7, &opts, |_| {});
    assert_eq!(a.actions, b.actions);
    assert_eq!(a.profile, b.profile);
    assert_ne!(a.actions, w.walk(8, &opts, |_| {}).actions);
    // The walk's actions are a path of the model.
    let path = w.path(&a.actions).expect("a walk is a path of the model");
    assert_eq!(path.into_actions().len(), a.actions.len());
    // Swarm profiles switch only optional kinds off; without swarm nothing is off.
    assert!(a.profile.off().iter().all(|k| k.optional()));
    let all = w.walk(7, &Options { swarm: false, ..opts }, |_| {});
    assert!(all.profile.off().is_empty());
    assert!(all.counts[Kind::Deliver.index()] > 0);
}

#[cfg(feature = "mutations")]
mod mutations {
    use super::*;
    use failover_model::mutation::Mutation;

    /// The seed-1 batch catches `m` by `property`; the shrunk trace is shorter, still a path of
    /// the model, and violates the same property first.
    fn caught(m: Mutation, property: &'static str) {
        let w = Walker::new(FailoverModel::named("walk").expect("walk exists").with_mutation(m));
        let b = w.batch(&Options::default(), &batch(300, false));
        let (index, walk) = b.violation.expect("the batch finds a violation");
        let v = walk.violation().expect("the reported walk violates");
        assert_eq!(v.property, property, "{} caught by the wrong property", m.name());
        assert_eq!(walk.seed, 1 + index);
        assert!(matches!(walk.ending, Ending::Violated(_)));
        // Replaying the seed alone gives the same walk.
        let again = w.walk(walk.seed, &Options::default(), |_| {});
        assert_eq!(again.actions, walk.actions);
        let shrunk = w.shrink(&walk.actions, v, 20_000);
        assert!(shrunk.reproduced);
        assert!(
            shrunk.actions.len() < walk.actions.len(),
            "{}: shrinking kept {} of {} steps",
            m.name(),
            shrunk.actions.len(),
            walk.actions.len()
        );
        // The shrunk actions replay exactly (no skipped action) to the same violation.
        assert_eq!(w.replay(&shrunk.actions, v).as_deref(), Some(&shrunk.actions[..]));
        let path = w.path(&shrunk.actions).expect("the shrunk trace is a path of the model");
        assert_eq!(w.first_violation(path.last_state()), Some(property));
    }

    #[test]
    fn walks_catch_ack_before_persist() {
        caught(Mutation::AckBeforePersist, name::S5);
    }

    #[test]
    fn walks_catch_ignore_mclt_in_comm_int() {
        caught(Mutation::IgnoreMcltInCommInt, name::S2);
    }

    #[test]
    fn walks_catch_allocate_from_partner_pool() {
        caught(Mutation::AllocateFromPartnerPool, name::S10);
    }

    #[test]
    fn walks_catch_reallocate_without_pd_wait() {
        caught(Mutation::ReallocateWithoutPdWait, name::S8);
    }

    #[test]
    fn walks_catch_skip_potential_conflict() {
        caught(Mutation::SkipPotentialConflict, name::S24B);
    }

    #[test]
    fn walks_catch_trust_startup_state() {
        caught(Mutation::TrustStartupState, name::S21);
    }

    #[test]
    fn walks_catch_reuse_announced_lease() {
        caught(Mutation::ReuseAnnouncedLease, name::S1);
    }
}
