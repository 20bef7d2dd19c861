//! The environment switches the RFC calls unsafe produce their counterexamples.
//!
//! §8.4: "the operator ... MUST NOT" put a server in PARTNER-DOWN while its partner is
//! operating; §8.9: automatic PARTNER-DOWN is only safe when the partner cannot be serving
//! clients. With A1 switched off (the command at any time, no fence on the partner), the
//! checker finds the duplicate allocation the RFC warns about.

use failover_specs::config::{bounds, Assumptions};
use failover_specs::properties::name;
use failover_specs::run::{check, Search, Stop};
use failover_specs::FailoverModel;
use stateright::Model;

fn s1_found(config: &str) {
    let mut a = Assumptions::default();
    a.switch_off("A1").expect("A1 is a switch");
    let model = FailoverModel::new(config, bounds(config).expect("config exists"), a);
    let o = check(model.clone(), Search::Dfs, 2, Stop::AnyOf([name::S1].into_iter().collect()));
    let path = o.discoveries.get(name::S1).unwrap_or_else(|| {
        panic!("A1 off in `{config}`: no duplicate allocation found ({} states)", o.unique)
    });
    // The counterexample replays through the model and ends in a world where two clients
    // believe they hold the same resource.
    let actions = path.clone().into_actions();
    let mut w = model.init_states().remove(0);
    for a in actions {
        w = model.next_state(&w, a).expect("the counterexample replays");
    }
    let held: Vec<_> =
        w.clients.iter().flat_map(|c| c.valid_at(w.now).map(|h| h.resource)).collect();
    let mut unique = held.clone();
    unique.sort();
    unique.dedup();
    assert!(unique.len() < held.len(), "two clients hold one resource: {held:?}");
}

/// §8.4: an operator's PARTNER-DOWN while the partner still serves.
#[test]
fn a1_off_operator_partner_down_duplicates_a_prefix() {
    s1_found("a1");
}

/// §8.9: automatic PARTNER-DOWN on both sides of a partition, with nothing fencing clients
/// off either side.
#[test]
fn a1_off_auto_partner_down_under_partition_duplicates_a_prefix() {
    s1_found("auto-pd");
}
