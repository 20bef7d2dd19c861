//! Counterexamples as sequence charts: a path of the model as a [`failover_viewer::Behaviour`].
//!
//! Each action of the path is replayed with [`FailoverModel::step_recorded`], which reports
//! every input fed to a server with its outputs and every message put on (or dropped from) the
//! partner connection. A partner message is an arrow from the step that sent it to the step
//! that delivered it (the connection is a FIFO per direction, so the delivery of the head of a
//! FIFO is the oldest message on it); a message the connection lost (reset, partition, crash)
//! or that is still in flight at the end ends in a cross. Client requests and replies are
//! arrows within their step. The clock is global time, printed as `t0+N`; each server's times
//! (lease expiries, partner lifetimes) are converted to it through the server's clock offset.

use crate::model::{format_action, Action, FailoverModel, Happening};
use crate::world::{idx, overtaking, role_at, role_name, state_label, Wire, World, T0};
use failover_model::{Event, Input, Output, Role, Time};
use failover_viewer::{
    label, Arrow, ArrowKind, Behaviour, Lane, LaneKind, Mark, MarkKind, PageLink, ServerSnapshot,
    Step,
};
use stateright::{Model, Path};
use std::collections::VecDeque;

/// The lane id of a server.
#[must_use]
pub fn server_lane(role: Role) -> String {
    role_name(role).to_string()
}

/// The lane id of model client `c`.
#[must_use]
pub fn client_lane(c: u8) -> String {
    format!("c{c}")
}

fn clock(t: Time) -> String {
    if t >= T0 {
        format!("t0+{}", t.since(T0))
    } else {
        format!("t0-{}", T0.since(t))
    }
}

fn lane_of_duid(duid: Option<&failover_model::Duid>) -> Option<String> {
    let d = duid?;
    let short = label::short_duid(&d.0);
    short.starts_with('c').then_some(short)
}

fn snapshots(model: &FailoverModel, w: &World) -> Vec<ServerSnapshot> {
    w.servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let off = model.offsets[i];
            let t = move |x: Time| clock(x.minus(off));
            match &s.live {
                Some(ep) => ServerSnapshot {
                    lane: server_lane(role_at(i)),
                    state: Some(ep.state().name().to_string()),
                    detail: String::new(),
                    bindings: ep.bindings().map(|b| label::binding(b, &t)).collect(),
                    timers: ep.timers().iter().map(|(k, d)| format!("{k:?}@{}", t(*d))).collect(),
                },
                None => ServerSnapshot {
                    lane: server_lane(role_at(i)),
                    state: None,
                    detail: "crashed".into(),
                    bindings: s.image.bindings.values().map(|b| label::binding(b, &t)).collect(),
                    timers: Vec::new(),
                },
            }
        })
        .collect()
}

fn marks_of(action: &Action) -> Vec<Mark> {
    let on = |r: Role, kind, label: String| Mark { lane: Some(server_lane(r)), kind, label };
    match action {
        Action::Crash { server, lose_storage: false } => {
            vec![on(*server, MarkKind::Crash, "crash (storage kept)".into())]
        }
        Action::Crash { server, lose_storage: true } => {
            vec![on(*server, MarkKind::StorageLoss, "crash, stable storage lost".into())]
        }
        Action::Restart { server } => {
            vec![on(*server, MarkKind::Restart, "restart from the durable image".into())]
        }
        Action::Partition => {
            vec![Mark { lane: None, kind: MarkKind::Partition, label: "partition".into() }]
        }
        Action::Heal => vec![Mark { lane: None, kind: MarkKind::Heal, label: "heal".into() }],
        Action::Break => {
            vec![Mark { lane: None, kind: MarkKind::Break, label: "connection reset".into() }]
        }
        Action::ConnectUp => {
            vec![Mark { lane: None, kind: MarkKind::Connection, label: "connection up".into() }]
        }
        Action::ConnectFail => {
            vec![on(Role::Primary, MarkKind::Connection, "connection attempt fails".into())]
        }
        Action::PartnerDown { server } => {
            vec![on(*server, MarkKind::Command, "operator: PARTNER-DOWN".into())]
        }
        Action::Fire { server, timer } => {
            vec![on(*server, MarkKind::Timer, format!("{timer:?} timer"))]
        }
        Action::Client { client, reply_lost: true, .. } => vec![Mark {
            lane: Some(client_lane(*client)),
            kind: MarkKind::LostReply,
            label: "reply lost".into(),
        }],
        Action::Client { .. }
        | Action::Deliver { .. }
        | Action::Overtake { .. }
        | Action::Advance { .. } => Vec::new(),
    }
}

fn actor_of(action: &Action) -> Option<String> {
    match action {
        Action::Client { client, .. } => Some(client_lane(*client)),
        Action::Deliver { to } | Action::Overtake { to } => Some(server_lane(*to)),
        Action::Crash { server, .. }
        | Action::Restart { server }
        | Action::Fire { server, .. }
        | Action::PartnerDown { server } => Some(server_lane(*server)),
        Action::ConnectUp | Action::ConnectFail => Some(server_lane(Role::Primary)),
        Action::Break | Action::Partition | Action::Heal | Action::Advance { .. } => None,
    }
}

fn wire_arrow(model: &FailoverModel, to: Role, wire: &Wire, step: usize) -> Arrow {
    let from = to.other();
    let off = model.offsets[idx(from)];
    let t = move |x: Time| clock(x.minus(off));
    let (kind, name, fields) = match wire {
        Wire::Msg(m) => {
            let (name, fields) = label::message(m, &t);
            (ArrowKind::Partner, name, fields)
        }
        Wire::Fin => (ArrowKind::Fin, "FIN".to_string(), Vec::new()),
    };
    Arrow {
        from: server_lane(from),
        to: server_lane(to),
        sent: step,
        received: None,
        kind,
        name,
        fields,
        lost: None,
        lost_at: None,
    }
}

/// The behaviour of a path: lanes for each client and both servers, one step per action (step
/// 0 is the initial state), the arrows, marks, and both servers' states and bindings after each
/// step. `title` heads the page; `explorer_path` (the `0/3/1/...` of `Path::encode`) becomes a
/// link to the Explorer on its default address.
///
/// # Panics
/// If the path does not replay through `model` (it was made by another model).
#[must_use]
pub fn behaviour(
    model: &FailoverModel,
    title: &str,
    path: &Path<World, Action>,
    explorer_path: Option<&str>,
) -> Behaviour {
    let v = path.clone().into_vec();
    let clients = v.first().map_or(0, |(w, _)| w.clients.len());
    let mut lanes: Vec<Lane> = (0..clients)
        .map(|c| Lane { id: format!("c{c}"), label: format!("client {c}"), kind: LaneKind::Client })
        .collect();
    lanes.push(Lane { id: "P".into(), label: "P (primary)".into(), kind: LaneKind::Server });
    lanes.push(Lane { id: "S".into(), label: "S (secondary)".into(), kind: LaneKind::Server });

    let mut steps = Vec::new();
    let mut arrows: Vec<Arrow> = Vec::new();
    // Arrows on the connection, per destination, in FIFO order (index into `arrows`).
    let mut inflight: [VecDeque<(usize, Wire)>; 2] = Default::default();
    let Some((w0, _)) = v.first() else {
        return Behaviour { title: title.to_string(), lanes, ..Behaviour::default() };
    };
    steps.push(Step {
        time: i64::from(w0.now.since(T0)),
        time_label: clock(w0.now),
        label: if model.bounds.warm_start {
            "initial state (after the warm start)".into()
        } else {
            "initial state".into()
        },
        actor: None,
        marks: Vec::new(),
        servers: snapshots(model, w0),
        notes: format!("{w0:?}").lines().map(str::to_string).collect(),
    });
    let mut w = w0.clone();
    for (k, (_, action)) in v.iter().enumerate() {
        let Some(action) = action else { continue };
        let step = k + 1;
        let (next, happened) = model.step_recorded(&w, action.clone());
        let next = next.expect("the path replays through the model");
        let mut marks = marks_of(action);
        let mut notes = Vec::new();
        let mut label_text = match action {
            Action::Advance { to } => format!("time advances to {}", clock(*to)),
            a => format_action(a),
        };
        if let Action::Deliver { to } | Action::Overtake { to } = action {
            let queue = &mut inflight[idx(*to)];
            let taken = match action {
                Action::Overtake { .. } => {
                    overtaking(queue.iter().map(|(_, w)| w)).and_then(|k| queue.remove(k))
                }
                _ => queue.pop_front(),
            };
            if let Some((a, wire)) = taken {
                arrows[a].received = Some(step);
                let what = match &wire {
                    Wire::Msg(m) => m.body.name(),
                    Wire::Fin => "FIN",
                };
                label_text = format!("deliver {what} -> {}", role_name(*to));
            }
        }
        let reply_lost = matches!(action, Action::Client { reply_lost: true, .. });
        let client_of_action = match action {
            Action::Client { client, .. } => Some(client_lane(*client)),
            _ => None,
        };
        for h in happened {
            match h {
                Happening::Fed { server, input, outputs, .. } => {
                    let lane = server_lane(server);
                    let mut client = None;
                    if let Input::Client(req) = &input {
                        client = lane_of_duid(req.client_id.as_ref()).or(client_of_action.clone());
                        let (name, fields) = label::request(req);
                        if let Some(c) = &client {
                            arrows.push(Arrow {
                                from: c.clone(),
                                to: lane.clone(),
                                sent: step,
                                received: Some(step),
                                kind: ArrowKind::Request,
                                name,
                                fields,
                                lost: None,
                                lost_at: None,
                            });
                        }
                    }
                    for o in &outputs {
                        match o {
                            Output::Reply(r) => {
                                let (name, fields) = label::reply(r);
                                let to = lane_of_duid(r.client_id.as_ref()).or(client.clone());
                                if let Some(to) = to {
                                    arrows.push(Arrow {
                                        from: lane.clone(),
                                        to,
                                        sent: step,
                                        received: (!reply_lost).then_some(step),
                                        kind: ArrowKind::Reply,
                                        name,
                                        fields,
                                        lost: reply_lost.then(|| "the reply was lost".to_string()),
                                        lost_at: None,
                                    });
                                }
                            }
                            Output::Silence { reason, .. } => {
                                marks.push(Mark {
                                    lane: Some(lane.clone()),
                                    kind: MarkKind::Note,
                                    label: format!("silent ({reason:?})"),
                                });
                            }
                            Output::Event(Event::StateChanged { from, to }) => {
                                notes.push(format!(
                                    "{}: {} -> {}",
                                    role_name(server),
                                    state_label(*from),
                                    state_label(*to)
                                ));
                            }
                            Output::Event(Event::Alarm(a)) => {
                                notes.push(format!("{}: alarm: {a}", role_name(server)));
                            }
                            Output::Event(Event::ConnectionRejected { detail, .. }) => {
                                notes.push(format!(
                                    "{}: connection rejected: {detail}",
                                    role_name(server)
                                ));
                            }
                            _ => {}
                        }
                    }
                }
                Happening::Queued { to, wire } => {
                    arrows.push(wire_arrow(model, to, &wire, step));
                    inflight[idx(to)].push_back((arrows.len() - 1, wire));
                }
                Happening::Dropped { from, message } => {
                    let mut a =
                        wire_arrow(model, from.other(), &Wire::Msg(Box::new(message)), step);
                    a.lost = Some("sent while the connection did not flow".into());
                    arrows.push(a);
                }
            }
        }
        // Whatever the step removed from the connection (reset, partition, crash, a new
        // connection) was lost: each FIFO in the world is the tail of what was queued.
        for (q, fifo) in inflight.iter_mut().zip(&next.link.fifo) {
            while q.len() > fifo.len() {
                if let Some((a, _)) = q.pop_front() {
                    arrows[a].lost = Some(format!("dropped at #{step} ({label_text})"));
                    arrows[a].lost_at = Some(step);
                }
            }
            debug_assert!(
                q.iter().map(|(_, w)| w).eq(fifo.iter()),
                "the viewer's copy of the connection follows the model's"
            );
        }
        notes.extend(format!("{next:?}").lines().map(str::to_string));
        steps.push(Step {
            time: i64::from(next.now.since(T0)),
            time_label: clock(next.now),
            label: label_text,
            actor: actor_of(action),
            marks,
            servers: snapshots(model, &next),
            notes,
        });
        w = next;
    }
    for q in &inflight {
        for (a, _) in q {
            arrows[*a].lost = Some("still in flight at the end".into());
        }
    }
    let mut context = vec![
        model.describe(),
        format!(
            "{} steps. The clock is global time in seconds after t0 = {} (each server's times \
             are shown on it); click a step for both servers' bindings and the whole state.",
            steps.len() - 1,
            T0.0
        ),
    ];
    let mut links = Vec::new();
    if let Some(p) = explorer_path {
        context.push(format!(
            "Explorer path #/steps/{p}: run `failover-check explore --config <the same \
             configuration>` and open it."
        ));
        links.push(PageLink {
            label: "this path in the Explorer (default address)".into(),
            href: format!("http://127.0.0.1:3000/#/steps/{p}"),
        });
    }
    let selected = steps.len() - 1;
    Behaviour { title: title.to_string(), context, links, lanes, steps, arrows, selected }
}

/// The path an Explorer address names (`#/steps/0/3/1`, `/#/steps/0/3/1` or `0/3/1`: the init
/// state's index, then each action's index among the enabled actions).
///
/// # Errors
/// The path is malformed or names an index that does not exist in `model`.
pub fn path_from_explorer(
    model: &FailoverModel,
    explorer: &str,
) -> Result<Path<World, Action>, String> {
    let s = explorer.trim();
    let s = s.rsplit_once("#/steps/").map_or(s, |(_, p)| p).trim_matches('/');
    let mut indices = s
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<usize>().map_err(|_| format!("{explorer}: `{p}` is not an index")));
    let init_index = indices.next().ok_or_else(|| format!("{explorer}: an empty path"))??;
    let init = model
        .init_states()
        .get(init_index)
        .cloned()
        .ok_or_else(|| format!("{explorer}: no initial state {init_index}"))?;
    let mut w = init.clone();
    let mut actions = Vec::new();
    for (n, i) in indices.enumerate() {
        let i = i?;
        let mut enabled = Vec::new();
        model.actions(&w, &mut enabled);
        let a = enabled.get(i).cloned().ok_or_else(|| {
            format!("{explorer}: step {}: no action {i} ({} enabled)", n + 1, enabled.len())
        })?;
        w = model
            .next_state(&w, a.clone())
            .ok_or_else(|| format!("{explorer}: step {}: the action is not possible", n + 1))?;
        actions.push(a);
    }
    Path::from_actions(model, init, &actions).ok_or_else(|| format!("{explorer}: does not replay"))
}

/// The page for a path (see [`behaviour`]).
///
/// # Errors
/// Serialization failure.
pub fn html(
    model: &FailoverModel,
    title: &str,
    path: &Path<World, Action>,
) -> serde_json::Result<String> {
    let encoded = path.encode(model);
    failover_viewer::render_html(&behaviour(model, title, path, Some(&encoded)))
}
