//! The `unit` configuration: exhaustive, every safety property holds, its state count is
//! pinned, and an exact witness trace for a `sometimes` property.

use failover_model::{Role, Timer};
use failover_specs::properties::name;
use failover_specs::run::{check, Search, Stop, Verdict};
use failover_specs::{Action, FailoverModel};
use stateright::{Checker, HasDiscoveries, Model};

/// Measured with the core merged last (docs/model.md). A change means the model or the
/// core's behaviour changed: find out why before updating it. (2853 → 2892 on 2026-12-02: a
/// server in COMMUNICATIONS-INTERRUPTED or PARTNER-DOWN now sends its updates while the
/// partner is recovering, and a fresh pair passes RECOVER-DONE → COMM-INT. 2892 → 2883 on
/// 2026-12-05: the §8.7 interlock, a server in COMM-INT or PARTNER-DOWN that sees its partner
/// in RECOVER-DONE sends what it may ahead of its STATE(NORMAL) and enters NORMAL once that is
/// acknowledged, so the interleavings of its STATE with the partner's messages change.)
const UNIT_UNIQUE_STATES: usize = 2883;

#[test]
fn unit_configuration_is_safe_and_its_state_count_is_pinned() {
    let model = FailoverModel::named("unit").expect("unit exists");
    let o = check(model, Search::Dfs, 2, Stop::Never);
    assert!(o.exhaustive);
    assert!(o.violations().is_empty(), "violated: {:?}", o.violations());
    for reached in ["both NORMAL", "a client holds a lease", "reach secondary RECOVER-DONE"] {
        assert!(
            o.verdicts.iter().any(|v| v.0 == reached && v.2 == Verdict::Reached),
            "{reached} is reached"
        );
    }
    assert!(o.verdicts.iter().any(|v| v.0 == name::S1 && v.2 == Verdict::Holds));
    assert_eq!(o.unique, UNIT_UNIQUE_STATES, "unique states of `unit`");
}

/// Both servers start with empty storage, so both go STARTUP → RECOVER (§8.3.2 step 1),
/// exchange CONNECT/CONNECTREPLY/STATE and UPDREQ/UPDDONE, pass RECOVER-WAIT at once (never
/// ran failover, §8.6.2) and reach NORMAL through RECOVER-DONE, all at t0.
#[test]
fn witness_both_servers_reach_normal_from_empty_storage() {
    use Action::{ConnectUp, Deliver, Fire};
    let p = Role::Primary;
    let s = Role::Secondary;
    let model = FailoverModel::named("unit").expect("unit exists");
    let checker = model
        .checker()
        .finish_when(HasDiscoveries::AnyOf(["both NORMAL"].into_iter().collect()))
        .spawn_bfs()
        .join();
    checker.assert_discovery(
        "both NORMAL",
        vec![
            ConnectUp,
            Deliver { to: s },
            Deliver { to: p },
            Deliver { to: p },
            Deliver { to: s },
            Deliver { to: p },
            Deliver { to: p },
            Deliver { to: s },
            Deliver { to: p },
            Deliver { to: s },
            Deliver { to: s },
            Deliver { to: p },
            Deliver { to: s },
            Deliver { to: p },
            Deliver { to: s },
            Fire { server: p, timer: Timer::RecoverWait },
            Fire { server: s, timer: Timer::RecoverWait },
            Deliver { to: p },
            Deliver { to: p },
            Deliver { to: s },
        ],
    );
}

/// The link lets a message the core names (`failover_model::failover::link::may_overtake`)
/// be delivered ahead of the queued ones, as `failoverd`'s writer does: with an UPDDONE queued
/// before the primary's CONNECT, `Overtake` is enabled and hands the CONNECT to the secondary,
/// which answers it, while the UPDDONE stays queued. With only ordered messages queued, there
/// is no such action.
#[test]
fn the_link_lets_exactly_the_cores_overtaking_messages_pass() {
    use failover_model::failover::message::NoOptions;
    use failover_model::{Message, MessageBody};
    use failover_specs::world::Wire;
    let (p, s) = (Role::Primary, Role::Secondary);
    let model = FailoverModel::named("unit").expect("unit exists");
    let init = model.init_states().remove(0);
    let up = model.next_state(&init, Action::ConnectUp).expect("the connection comes up");
    let to_s = &up.link.fifo[1];
    assert!(
        matches!(to_s.front(), Some(Wire::Msg(m)) if matches!(m.body, MessageBody::Connect(_)))
    );
    let now = up.now;
    let upddone = || {
        Wire::Msg(Box::new(Message {
            xid: 9,
            sent_time: now,
            body: MessageBody::UpdDone(NoOptions::default()),
        }))
    };
    let mut w = up.clone();
    w.link.fifo[1].push_front(upddone());
    let mut actions = Vec::new();
    model.actions(&w, &mut actions);
    assert!(actions.contains(&Action::Overtake { to: s }), "{actions:?}");
    assert!(!actions.contains(&Action::Overtake { to: p }), "{actions:?}");
    let after = model.next_state(&w, Action::Overtake { to: s }).expect("overtaking delivers");
    assert_eq!(after.link.fifo[1].iter().cloned().collect::<Vec<_>>(), vec![upddone()]);
    assert!(
        after.link.fifo[0]
            .iter()
            .any(|x| matches!(x, Wire::Msg(m) if matches!(m.body, MessageBody::ConnectReply(_)))),
        "the secondary answered the CONNECT"
    );
    // Ordered messages only: no overtaking.
    let mut w = up;
    w.link.fifo[1] = [upddone(), upddone()].into_iter().collect();
    let mut actions = Vec::new();
    model.actions(&w, &mut actions);
    assert!(!actions.iter().any(|a| matches!(a, Action::Overtake { .. })), "{actions:?}");
}
