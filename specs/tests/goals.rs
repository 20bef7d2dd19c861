//! The reachability goals of `failover_specs::goals`: each is reached in the configuration
//! made for it (`pool`, `faults2`), and none in `unit` (one operation, no fault, one address
//! per half), so none is true of every state.

use failover_specs::goals::name;
use failover_specs::run::{check, Search, Stop, Verdict};
use failover_specs::FailoverModel;

fn reached(config: &str, goal: &'static str) {
    let model = FailoverModel::named(config).expect("config exists");
    let o = check(model, Search::Dfs, 2, Stop::AnyOf([goal].into_iter().collect()));
    assert!(o.discoveries.contains_key(goal), "{goal} is not reached in `{config}`");
    assert!(o.violations().is_empty(), "violated on the way: {:?}", o.violations());
}

#[test]
fn pool_reaches_the_skip_the_break_and_the_crossed_updates() {
    for goal in [name::SKIP, name::SKIP_WAITING, name::BREAK_UPDATE, name::CROSSED] {
        reached("pool", goal);
    }
}

#[test]
fn faults2_reaches_two_faults_in_one_run() {
    reached("faults2", name::TWO_FAULTS);
}

#[test]
fn no_goal_is_reached_in_unit() {
    let o = check(FailoverModel::named("unit").expect("unit"), Search::Dfs, 2, Stop::Never);
    assert!(o.exhaustive);
    for goal in
        [name::SKIP, name::SKIP_WAITING, name::BREAK_UPDATE, name::CROSSED, name::TWO_FAULTS]
    {
        assert!(
            o.verdicts.iter().any(|v| v.0 == goal && v.2 == Verdict::NotReached),
            "{goal} in unit"
        );
    }
}
