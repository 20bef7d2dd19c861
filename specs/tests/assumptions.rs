//! Switching an environment assumption off produces the counterexample the RFC warns about.

use failover_specs::config::{bounds, Assumptions};
use failover_specs::properties::name;
use failover_specs::run::{check, Search, Stop};
use failover_specs::FailoverModel;

/// §8.4: "If one server is in PARTNER-DOWN state, the other server MUST NOT be operating."
/// With A1 off the operator may declare a running (partitioned) partner down and nothing
/// keeps clients from it: the PARTNER-DOWN primary takes the secondary's delegable prefix
/// after the MCLT while the secondary hands the same prefix out (S1).
#[test]
fn a1_off_finds_duplicate_allocation() {
    let mut a = Assumptions::default();
    a.switch_off("A1").expect("A1 exists");
    let model = FailoverModel::new("a1+A1-off", bounds("a1").expect("a1 exists"), a);
    let o = check(model, Search::Dfs, 2, Stop::AnyOf([name::S1].into_iter().collect()));
    assert!(o.discoveries.contains_key(name::S1), "S1 counterexample with A1 off");
}
