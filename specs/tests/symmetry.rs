//! The symmetry reduction over clients (`failover_specs::reduce`, `Search::DfsSymmetry`) is
//! sound and does reduce:
//! - renaming the clients commutes with every step of the model, exactly (the renamed world
//!   steps by the renamed action to the renamed successor, the enabled actions are the renamed
//!   ones, and every property has the same value), along long random walks with every fault
//!   kind, three clients and every permutation of them;
//! - on a small two-client configuration the reduced search finds the same verdict for every
//!   property (no `always` violated, the same `sometimes` reached) with fewer states;
//! - the seeded bugs of the two-client configurations are still caught with it.

use failover_specs::model::ClientOp;
use failover_specs::reduce::{canonical_order, rename_clients, representative};
use failover_specs::run::{check, Search, Stop, Verdict};
use failover_specs::walk::{Options, Walker};
use failover_specs::{Action, FailoverModel, World};
use stateright::Model;

/// Every permutation of `0..n` (as `order`: position k holds old index `order[k]`).
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

fn rename_action(a: &Action, order: &[usize]) -> Action {
    match a {
        Action::Client { client, server, op, reply_lost } => {
            let new = order.iter().position(|&old| old == usize::from(*client)).expect("a client");
            Action::Client {
                client: u8::try_from(new).expect("few clients"),
                server: *server,
                op: *op,
                reply_lost: *reply_lost,
            }
        }
        other => other.clone(),
    }
}

fn actions(m: &FailoverModel, w: &World) -> Vec<String> {
    let mut v = Vec::new();
    m.actions(w, &mut v);
    let mut v: Vec<String> = v.iter().map(|a| format!("{a:?}")).collect();
    v.sort();
    v
}

fn verdicts(m: &FailoverModel, w: &World) -> Vec<bool> {
    m.properties().iter().map(|p| (p.condition)(m, w)).collect()
}

#[test]
fn renaming_the_clients_commutes_with_every_step() {
    let walker = Walker::new(FailoverModel::named("walk").expect("walk exists"));
    let m = &walker.model;
    assert_eq!(m.bounds.clients, 3);
    let perms = permutations(3);
    assert_eq!(perms.len(), 6);
    let opts = Options { steps: 200, ..Options::default() };
    let mut renamed_states = 0usize;
    let mut client_steps = 0usize;
    for seed in 1..=12 {
        let walk = walker.walk(seed, &opts, |_| {});
        for order in &perms {
            let mut s = walker.init().clone();
            let mut t = rename_clients(&s, order);
            assert!(t == s, "the initial world names no client");
            for a in &walk.actions {
                let b = rename_action(a, order);
                let want: Vec<String> = {
                    let mut v = Vec::new();
                    m.actions(&s, &mut v);
                    let mut v: Vec<String> =
                        v.iter().map(|x| format!("{:?}", rename_action(x, order))).collect();
                    v.sort();
                    v
                };
                assert_eq!(actions(m, &t), want, "seed {seed}, {order:?}: enabled actions");
                s = m.next_state(&s, a.clone()).expect("the walk's step");
                t = m.next_state(&t, b).expect("the renamed step");
                let r = rename_clients(&s, order);
                assert!(t == r, "seed {seed}, {order:?}, after {a:?}:\n{t:?}\n!=\n{r:?}");
                assert_eq!(verdicts(m, &s), verdicts(m, &t), "seed {seed}, {order:?}");
                // The representative is a renaming, the same for the whole class.
                assert!(representative(&s) == representative(&t), "seed {seed}, {order:?}");
                if order.iter().enumerate().any(|(k, &o)| k != o) && t != s {
                    renamed_states += 1;
                }
                if matches!(a, Action::Client { op: ClientOp::Solicit, .. }) {
                    client_steps += 1;
                }
            }
        }
    }
    // The walks did name clients in the state (leases, bindings, updates in flight).
    assert!(renamed_states > 1000, "{renamed_states}");
    assert!(client_steps > 100, "{client_steps}");
}

/// The canonical order sorts the clients by what they hold: a world and its renamings share a
/// representative, and the representative's order is the identity.
#[test]
fn the_representative_is_canonical() {
    let walker = Walker::new(FailoverModel::named("walk").expect("walk exists"));
    let opts = Options { steps: 120, ..Options::default() };
    for seed in 20..26 {
        walker.walk(seed, &opts, |w| {
            let r = representative(w);
            assert_eq!(canonical_order(&r), vec![0, 1, 2]);
            for order in permutations(3) {
                assert!(representative(&rename_clients(w, &order)) == r);
            }
        });
    }
}

fn verdict_table(o: &failover_specs::run::Outcome) -> Vec<(&'static str, Verdict)> {
    o.verdicts.iter().map(|v| (v.0, v.2.clone())).collect()
}

/// `unit` with two clients and two operations: the reduced search reaches the same verdict for
/// every property as the full one, with fewer states.
#[test]
fn the_reduced_search_keeps_every_verdict() {
    let mut b = failover_specs::config::bounds("unit").expect("unit exists");
    b.set("clients", "2").expect("a bound");
    b.set("client_ops", "2").expect("a bound");
    let model = FailoverModel::new("unit+clients=2", b, Default::default());
    let full = check(model.clone(), Search::Dfs, 2, Stop::Never);
    let reduced = check(model, Search::DfsSymmetry, 2, Stop::Never);
    assert!(full.exhaustive && reduced.exhaustive);
    assert!(full.violations().is_empty(), "{:?}", full.violations());
    assert_eq!(verdict_table(&full), verdict_table(&reduced));
    assert!(
        full.verdicts.iter().any(|v| v.0 == "two clients hold leases" && v.2 == Verdict::Reached),
        "the configuration has two clients at work"
    );
    assert!(
        reduced.unique < full.unique * 2 / 3,
        "reduced {} of {} states",
        reduced.unique,
        full.unique
    );
}

#[cfg(feature = "mutations")]
mod mutations {
    use super::*;
    use failover_model::mutation::Mutation;
    use failover_specs::properties::name;

    fn caught_reduced(config: &str, m: Mutation, property: &'static str) {
        let model = FailoverModel::named(config).expect("config exists").with_mutation(m);
        let o = check(model, Search::DfsSymmetry, 2, Stop::AnyOf([property].into_iter().collect()));
        let path = o.discoveries.get(property).map(|p| p.clone().into_actions());
        assert!(
            path.is_some_and(|p| !p.is_empty()),
            "{} is not caught by {property} in `{config}` with the symmetry reduction",
            m.name()
        );
    }

    /// The mutations of the two-client configurations (with one client the representative is
    /// the world itself, so the reduced search of the others is the plain one).
    #[test]
    fn the_two_client_mutations_are_caught_with_the_reduction() {
        caught_reduced("pd-crash", Mutation::ReallocateWithoutPdWait, name::S8);
        caught_reduced("reuse", Mutation::ReuseAnnouncedLease, name::S1);
    }
}
