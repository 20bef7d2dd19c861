//! Every step property added with the one-table layout can fail: each test drives the model
//! to a real step, checks the property holds on it, then changes the record (the world
//! before or after, an input or an output) into one that breaks the property's rule and checks
//! the property reports it. The properties are reached through `properties::TABLE`, as the
//! model reaches them.

use failover_model::failover::message::BindingPayload;
use failover_model::{
    BindingStatus, EndpointState, IaKind, Input, MessageBody, Output, Resource, Role, Time, Timer,
};
use failover_specs::config::{bounds, Assumptions};
use failover_specs::model::{Action, ClientOp, FailoverModel};
use failover_specs::properties::{name, Over, TABLE};
use failover_specs::step::{Fed, Step};
use failover_specs::World;
use stateright::Model;

/// The verdict of the step property `property` on a record.
fn holds(
    m: &FailoverModel,
    property: &str,
    before: &World,
    action: Option<&Action>,
    fed: &[Fed],
    after: &World,
) -> bool {
    let row = TABLE.iter().find(|p| p.name == property).expect("a property of the table");
    let Over::Step(f) = row.check else { panic!("{property} is not a step property") };
    f(m, &Step { before, action, fed, after })
}

/// One step recorded: the world before, the action, what was fed, the world after.
struct Rec {
    before: World,
    action: Action,
    fed: Vec<Fed>,
    after: World,
}

impl Rec {
    fn holds(&self, m: &FailoverModel, property: &str) -> bool {
        holds(m, property, &self.before, Some(&self.action), &self.fed, &self.after)
    }
}

fn step(m: &FailoverModel, w: &World, action: Action) -> Rec {
    let (after, fed) = m.transition(w, &action).expect("the action is possible");
    Rec { before: w.clone(), action, fed, after }
}

/// The protocol's own next move in `w` (connection, delivery, timer), else time advances.
fn canonical(m: &FailoverModel, w: &World) -> Option<Action> {
    let mut enabled = Vec::new();
    m.actions(w, &mut enabled);
    enabled
        .iter()
        .find(|a| {
            matches!(
                a,
                Action::ConnectUp
                    | Action::Deliver { .. }
                    | Action::Fire { .. }
                    | Action::ConnectFail
            )
        })
        .or_else(|| enabled.iter().find(|a| matches!(a, Action::Advance { .. })))
        .cloned()
}

/// Runs the protocol by itself from `w` for at most `n` steps, recording each, until `stop`.
fn run(
    m: &FailoverModel,
    mut w: World,
    n: usize,
    stop: impl Fn(&World) -> bool,
) -> (World, Vec<Rec>) {
    let mut recs = Vec::new();
    for _ in 0..n {
        if stop(&w) {
            break;
        }
        let Some(a) = canonical(m, &w) else { break };
        let r = step(m, &w, a);
        w = r.after.clone();
        recs.push(r);
    }
    (w, recs)
}

fn model(config: &str) -> FailoverModel {
    FailoverModel::named(config).expect("a named configuration")
}

fn quiet_normal(w: &World) -> bool {
    w.both_in(EndpointState::Normal) && w.link.fifo.iter().all(std::collections::VecDeque::is_empty)
}

/// Both servers NORMAL, nothing in flight, from the start of `config`.
fn normal(m: &FailoverModel) -> (World, Vec<Rec>) {
    let (w, recs) = run(m, m.init_states().remove(0), 500, quiet_normal);
    assert!(quiet_normal(&w), "NORMAL is reached:\n{w:?}");
    (w, recs)
}

fn client(m: &FailoverModel, w: &World, server: Role, op: ClientOp) -> Rec {
    let mut w = w.clone();
    w.budget.client_ops = 9;
    step(m, &w, Action::Client { client: 0, server, op, reply_lost: false })
}

fn states_sent(
    f: &mut Fed,
) -> impl Iterator<Item = &mut failover_model::failover::message::StateOptions> {
    f.outputs.iter_mut().filter_map(|o| match o {
        Output::Send(msg) => match &mut msg.body {
            MessageBody::State(st) => Some(st),
            _ => None,
        },
        _ => None,
    })
}

/// S17b: a state change while communications are OK without the STATE that tells it.
#[test]
fn s17b_fails_when_a_state_change_is_not_sent() {
    let m = model("unit");
    let (_, recs) = normal(&m);
    let mut changes = 0;
    for r in &recs {
        assert!(r.holds(&m, name::S17B), "S17b holds on the real core: {:?}", r.action);
        for (k, f) in r.fed.iter().enumerate() {
            if f.transition().is_none() || !f.comms_ok_after {
                continue;
            }
            changes += 1;
            let mut fed = r.fed.clone();
            fed[k].outputs.retain(
                |o| !matches!(o, Output::Send(msg) if matches!(msg.body, MessageBody::State(_))),
            );
            assert!(!holds(&m, name::S17B, &r.before, Some(&r.action), &fed, &r.after));
        }
    }
    assert!(changes > 0, "the run has state changes with communications OK");
}

/// S22: PARTNER_DOWN_TIME outside PARTNER-DOWN, or a mandatory STATE option missing.
#[test]
fn s22_fails_on_a_partner_down_time_outside_partner_down_or_a_missing_option() {
    let m = model("unit");
    let (_, recs) = normal(&m);
    let r = recs
        .iter()
        .find(|r| {
            r.fed.iter().any(|f| f.sent().any(|msg| matches!(msg.body, MessageBody::State(_))))
        })
        .expect("a STATE is sent");
    assert!(r.holds(&m, name::S22));
    let k = r
        .fed
        .iter()
        .position(|f| f.sent().any(|msg| matches!(msg.body, MessageBody::State(_))))
        .unwrap();
    let mut fed = r.fed.clone();
    for st in states_sent(&mut fed[k]) {
        assert_ne!(st.server_state, Some(EndpointState::PartnerDown));
        st.partner_down_time = Some(Time(1));
    }
    assert!(!holds(&m, name::S22, &r.before, Some(&r.action), &fed, &r.after));
    let mut fed = r.fed.clone();
    for st in states_sent(&mut fed[k]) {
        st.start_time_of_state = None;
    }
    assert!(!holds(&m, name::S22, &r.before, Some(&r.action), &fed, &r.after));
}

/// S28: the secondary accepting a CONNECT sent 10 s away from its clock.
#[test]
fn s28_fails_when_a_skewed_connect_is_accepted() {
    let m = model("unit");
    let (_, recs) = normal(&m);
    let (r, k) = recs
        .iter()
        .find_map(|r| {
            r.fed
                .iter()
                .position(|f| {
                    f.message().is_some_and(|msg| matches!(msg.body, MessageBody::Connect(_)))
                })
                .map(|k| (r, k))
        })
        .expect("a CONNECT is delivered");
    assert!(r.holds(&m, name::S28));
    let mut fed = r.fed.clone();
    let now = fed[k].now;
    let Some(Input::Partner(msg)) = &mut fed[k].input else { unreachable!() };
    msg.sent_time = now.minus(10);
    assert!(!holds(&m, name::S28, &r.before, Some(&r.action), &fed, &r.after));
}

/// L6: a primary without a connection and nothing ahead to make one.
#[test]
fn l6_fails_for_a_disconnected_primary_without_a_reconnect_timer() {
    let m = model("unit");
    let (_, recs) = normal(&m);
    for r in &recs {
        assert!(r.holds(&m, name::L6), "L6 holds on the real core: {:?}", r.action);
    }
    let r = recs.last().unwrap();
    let mut after = r.after.clone();
    // The connected primary has no reconnect timer; it believes the connection gone.
    after.link.open[0] = false;
    after.link.connect_pending = false;
    assert!(!holds(&m, name::L6, &r.before, Some(&r.action), &r.fed, &after));
}

/// L7: the keepalive timer fires and communications stay OK; or it is missing on a
/// connection.
#[test]
fn l7_fails_when_keepalive_expiry_keeps_communications_ok() {
    let m = model("unit");
    let (_, recs) = normal(&m);
    for r in &recs {
        assert!(r.holds(&m, name::L7), "L7 holds on the real core: {:?}", r.action);
    }
    let r = recs.iter().find(|r| !r.fed.is_empty()).unwrap();
    let mut fed = r.fed.clone();
    fed[0].input = Some(Input::Timer(Timer::Keepalive));
    fed[0].comms_ok_after = true;
    assert!(!holds(&m, name::L7, &r.before, Some(&r.action), &fed, &r.after));
}

/// L8: the auto-partner-down timer fires in COMMUNICATIONS-INTERRUPTED and the server stays.
#[test]
fn l8_fails_when_auto_partner_down_does_not_enter_partner_down() {
    let m = model("auto-pd");
    let w = m.init_states().remove(0);
    let (_, recs) = run(&m, w, 200, |_| false);
    for r in &recs {
        assert!(r.holds(&m, name::L8), "L8 holds on the real core: {:?}", r.action);
    }
    let r = recs.iter().find(|r| !r.fed.is_empty()).unwrap();
    let mut fed = r.fed.clone();
    fed[0].input = Some(Input::Timer(Timer::AutoPartnerDown));
    fed[0].state_before = Some(EndpointState::CommunicationsInterrupted);
    fed[0].state_after = Some(EndpointState::CommunicationsInterrupted);
    assert!(!holds(&m, name::L8, &r.before, Some(&r.action), &fed, &r.after));
}

/// L2: a quiet connection with a BNDUPD its sender still waits an answer for.
#[test]
fn l2_fails_when_an_update_is_lost_on_a_quiet_connection() {
    let m = model("unit");
    let (w, _) = normal(&m);
    let r = client(&m, &w, Role::Primary, ClientOp::Solicit);
    assert!(r.holds(&m, name::L2));
    assert!(!r.after.link.fifo[1].is_empty(), "the grant is sent to the secondary");
    let mut after = r.after.clone();
    after.link.fifo = Default::default();
    assert!(!holds(&m, name::L2, &r.before, Some(&r.action), &r.fed, &after));
}

/// S31: an EXPIRED or RELEASED lease re-granted to its client while its BNDUPD is out.
#[test]
fn s31_fails_when_an_announced_release_is_regranted() {
    let m = model("unit");
    let (w, _) = normal(&m);
    let granted = client(&m, &w, Role::Primary, ClientOp::Solicit);
    let lease = granted.after.clients[0].leases[0].resource;
    let released = client(&m, &granted.after, Role::Primary, ClientOp::Release);
    let again = client(&m, &released.after, Role::Primary, ClientOp::Solicit);
    assert!(again.holds(&m, name::S31));
    assert_eq!(
        again.after.clients[0].leases[0].resource, lease,
        "the unannounced RELEASED lease goes back to its client"
    );
    // The BNDUPD on its way to the secondary now carries the lease as RELEASED.
    let mut before = again.before.clone();
    let mut announced = false;
    for wire in &mut before.link.fifo[1] {
        let failover_specs::world::Wire::Msg(msg) = wire else { continue };
        let MessageBody::BndUpd(bm) = &mut msg.body else { continue };
        let Some(BindingPayload::Client(cd)) = &mut bm.payload else { continue };
        for l in cd.ias.iter_mut().flat_map(|ia| ia.leases.iter_mut()) {
            if l.resource == lease {
                l.options.binding_status = Some(BindingStatus::Released);
                announced = true;
            }
        }
    }
    assert!(announced, "a BNDUPD about the lease is on the link");
    assert!(!holds(&m, name::S31, &before, Some(&again.action), &again.fed, &again.after));
}

/// L9b: in COMMUNICATIONS-INTERRUPTED, a REBIND for a lease the other server granted and
/// this one holds ACTIVE goes unrenewed.
#[test]
fn l9b_fails_when_a_rebind_to_the_other_server_is_not_renewed() {
    let m = model("tiny");
    let (w, _) = normal(&m);
    let granted = client(&m, &w, Role::Primary, ClientOp::Solicit);
    let (w, _) = run(&m, granted.after, 50, quiet_normal);
    let broken = step(&m, &w, Action::Break);
    let in_ci =
        |w: &World| w.state_of(Role::Secondary) == Some(EndpointState::CommunicationsInterrupted);
    let (w, _) = run(&m, broken.after, 50, in_ci);
    assert!(in_ci(&w), "the secondary is in COMMUNICATIONS-INTERRUPTED:\n{w:?}");
    let r = client(&m, &w, Role::Secondary, ClientOp::Rebind);
    assert!(r.holds(&m, name::L9B));
    let lease = w.clients[0].leases[0].resource;
    assert!(
        r.after.clients[0]
            .leases
            .iter()
            .any(|h| h.resource == lease && h.granted_by == Role::Secondary),
        "the secondary renews the primary's lease:\n{:?}",
        r.after
    );
    let mut fed = r.fed.clone();
    for o in &mut fed[0].outputs {
        if let Output::Reply(reply) = o {
            for ia in &mut reply.ias {
                ia.leases.clear();
            }
        }
    }
    assert!(!holds(&m, name::L9B, &r.before, Some(&r.action), &fed, &r.after));
}

/// The record `r` with every delegated prefix its REPLYs carry replaced by `prefix`.
fn delegating(r: &Rec, prefix: Resource) -> Vec<Fed> {
    let mut fed = r.fed.clone();
    let mut rewritten = false;
    for f in &mut fed {
        for o in &mut f.outputs {
            let Output::Reply(reply) = o else { continue };
            for ia in reply.ias.iter_mut().filter(|ia| ia.kind == IaKind::Pd) {
                if ia.leases.is_empty() {
                    ia.leases.push(failover_model::dhcp::client::GrantedLease {
                        resource: prefix,
                        preferred_lifetime: 30,
                        valid_lifetime: 60,
                    });
                }
                for l in &mut ia.leases {
                    l.resource = prefix;
                    rewritten = true;
                }
            }
        }
    }
    assert!(rewritten, "the secondary answers with an IA_PD");
    fed
}

/// S9: in PARTNER-DOWN the secondary hands out a delegable prefix nobody has touched (the
/// primary's, §4.2.2) before PD entry + MCLT, or while it has a free prefix of its own.
#[test]
fn s9_fails_for_an_untouched_partner_prefix_before_the_wait_or_before_its_own() {
    let mut a = Assumptions::default();
    a.switch_off("A1").expect("A1 is a switch");
    let m = FailoverModel::new("a1", bounds("a1").expect("a1"), a);
    let w = m.init_states().remove(0);
    let pd = step(&m, &w, Action::PartnerDown { server: Role::Secondary });
    assert_eq!(pd.after.state_of(Role::Secondary), Some(EndpointState::PartnerDown));
    let ask = |w: &World, c: u8| {
        step(
            &m,
            w,
            Action::Client {
                client: c,
                server: Role::Secondary,
                op: ClientOp::Solicit,
                reply_lost: false,
            },
        )
    };
    // The secondary's prefix records: its own FREE-BACKUP one, none for the primary's.
    let ep = pd.after.servers[1].live.as_ref().unwrap();
    let pool = &m.configs[1].prefix_pools[0];
    let untouched = (0..1u128 << (pool.delegated_len - pool.prefix_len))
        .map(|k| {
            Resource::Prefix(
                std::net::Ipv6Addr::from(
                    u128::from(pool.prefix) | (k << (128 - u32::from(pool.delegated_len))),
                ),
                pool.delegated_len,
            )
        })
        .find(|p| ep.binding(p).is_none())
        .expect("a prefix the secondary has no record of");
    let waited = |w: &World| {
        let mut w = w.clone();
        let entered = w.ghost.pd_entered[1].expect("the PD entry is recorded");
        w.ghost.pd_entered[1] = Some(Time(entered.0 - m.timing.mclt));
        w
    };
    // While its own FREE-BACKUP prefix is left: refused even after the wait.
    let first = ask(&pd.after, 0);
    assert!(first.holds(&m, name::S9));
    let fed = delegating(&first, untouched);
    assert!(!holds(&m, name::S9, &first.before, Some(&first.action), &fed, &first.after));
    assert!(!holds(&m, name::S9, &waited(&first.before), Some(&first.action), &fed, &first.after));
    // Its own prefix gone (the real step delegated it): refused before PD entry + MCLT only.
    let second = ask(&first.after, 1);
    assert!(second.holds(&m, name::S9));
    let ep = second.before.servers[1].live.as_ref().unwrap();
    assert!(
        !ep.bindings().any(|b| b.resource.is_prefix() && b.status == BindingStatus::FreeBackup),
        "the secondary's own prefix is delegated"
    );
    let fed = delegating(&second, untouched);
    assert!(!holds(&m, name::S9, &second.before, Some(&second.action), &fed, &second.after));
    assert!(holds(
        &m,
        name::S9,
        &waited(&second.before),
        Some(&second.action),
        &fed,
        &second.after
    ));
}

/// The table names every property once; a step property is an `always` (its verdict is a
/// sticky bit), and every row cites a section.
#[test]
fn the_table_lists_each_property_once_with_its_section() {
    use failover_specs::properties::Kind;
    let mut names: Vec<_> = TABLE.iter().map(|p| p.name).collect();
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    assert_eq!(names.len(), n, "a property is listed twice");
    for p in TABLE {
        assert!(!p.rfc.is_empty(), "{} cites no section", p.name);
        if matches!(p.check, Over::Step(_)) {
            assert_eq!(p.kind, Kind::Always, "{}", p.name);
        }
    }
    let m = model("unit");
    assert_eq!(m.properties().len(), TABLE.len());
}
