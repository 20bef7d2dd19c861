//! Trace recording and replay.
//!
//! A trace is JSON lines: first `{"restore": {"now", "image"}}` then `{"outputs": [...]}` for
//! what [`Endpoint::restore`] returned; then, for every step, `{"now", "input"}` followed by
//! `{"outputs": [...]}`. Replaying it through `failover-model` with the same configuration
//! must give the same outputs; [`replay`] reports the first step where it does not.
//!
//! Timers are not outputs (the endpoint's timer map is the one source of truth, see
//! `failover_model::io`): a trace records the `Timeout` inputs the driver fed and, on each
//! outputs line, `next_deadline`: when the endpoint asked to be woken next (`0`: no timer
//! armed). The replay compares that too. Traces written before this recorded `SetTimer` and
//! `CancelTimer` outputs and no `next_deadline`; reading drops those outputs and the replay
//! then skips the deadline comparison, so they still replay.
//!
//! The replay carries every step out through the core's reference executor
//! (`failover_model::exec`): besides comparing outputs it folds the writes into the durable
//! image and performs the executor's step checks; a step that breaks one is an error.

use failover_model::{
    exec, Binding, Config, DurableImage, DurableWrite, Endpoint, Input, Output, StateRecord, Time,
    Timer,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

/// A durable image in a JSON-friendly shape (JSON object keys must be strings).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The state record.
    pub state: Option<StateRecord>,
    /// Every binding.
    pub bindings: Vec<Binding>,
}

impl From<&DurableImage> for ImageRecord {
    fn from(i: &DurableImage) -> Self {
        ImageRecord { state: i.state.clone(), bindings: i.bindings.values().cloned().collect() }
    }
}

impl From<ImageRecord> for DurableImage {
    fn from(r: ImageRecord) -> Self {
        let mut i = DurableImage { state: r.state, ..DurableImage::default() };
        for b in r.bindings {
            i.bindings.insert(b.resource, b);
        }
        i
    }
}

/// One line of a trace.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)]
pub enum TraceLine {
    /// The restore.
    Restore {
        /// What was restored.
        restore: RestoreRecord,
    },
    /// One input.
    Step {
        /// When.
        now: Time,
        /// What.
        input: Input,
    },
    /// The outputs of the preceding restore or input.
    Outputs {
        /// In order.
        outputs: Vec<Output>,
        /// `Endpoint::next_deadline` after the step (`Time::ZERO`: no timer armed); absent in
        /// traces written before timers stopped being outputs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_deadline: Option<Time>,
    },
}

/// The restore line's body.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RestoreRecord {
    /// When.
    pub now: Time,
    /// From what.
    pub image: ImageRecord,
}

/// Writes a trace.
#[derive(Debug)]
pub struct TraceWriter {
    out: BufWriter<std::fs::File>,
}

impl TraceWriter {
    /// Creates (truncates) the file.
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(path: &Path) -> std::io::Result<TraceWriter> {
        Ok(TraceWriter { out: BufWriter::new(std::fs::File::create(path)?) })
    }

    fn line(&mut self, l: &TraceLine) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, l)?;
        self.out.write_all(b"\n")
    }

    /// Records the restore and its outputs.
    ///
    /// # Errors
    /// I/O.
    pub fn restore(
        &mut self,
        now: Time,
        image: &DurableImage,
        outputs: &[Output],
        next_deadline: Option<Time>,
    ) -> std::io::Result<()> {
        self.line(&TraceLine::Restore { restore: RestoreRecord { now, image: image.into() } })?;
        self.outputs(outputs, next_deadline)
    }

    /// Records an input (before the step).
    ///
    /// # Errors
    /// I/O.
    pub fn input(&mut self, now: Time, input: &Input) -> std::io::Result<()> {
        self.line(&TraceLine::Step { now, input: input.clone() })
    }

    /// Records a step's outputs and the endpoint's next deadline after it
    /// (`Endpoint::next_deadline`).
    ///
    /// # Errors
    /// I/O.
    pub fn outputs(
        &mut self,
        outputs: &[Output],
        next_deadline: Option<Time>,
    ) -> std::io::Result<()> {
        self.line(&TraceLine::Outputs {
            outputs: outputs.to_vec(),
            next_deadline: Some(next_deadline.unwrap_or(Time::ZERO)),
        })?;
        self.out.flush()
    }
}

/// The result of a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// Every step gave the recorded outputs.
    NoDivergence {
        /// Steps replayed (not counting the restore).
        steps: usize,
    },
    /// The first step whose outputs, or next deadline, differ.
    Divergence {
        /// Step number (0 = the restore).
        step: usize,
        /// Line number in the file (1-based).
        line: usize,
        /// What was recorded.
        recorded: Vec<Output>,
        /// What the model gives now.
        replayed: Vec<Output>,
        /// The next deadline recorded after the step (`Time::ZERO`: none armed; `None`: the
        /// trace predates the field).
        recorded_deadline: Option<Time>,
        /// The model's next deadline after the step (`Time::ZERO`: none armed).
        replayed_deadline: Time,
    },
}

/// Replays a trace file through the model with `config`, carrying every step out with the
/// core's reference executor (`failover_model::exec`).
///
/// # Errors
/// The file cannot be read or is not a trace (the message says which line), or a replayed step
/// broke one of the executor's step checks (the message says which step and check).
pub fn replay(path: &Path, config: &Config) -> anyhow::Result<ReplayOutcome> {
    let mut it = read_trace(path)?.into_iter();
    let Some((_, TraceLine::Restore { restore })) = it.next() else {
        anyhow::bail!("{}: the first line must be the restore record", path.display());
    };
    let (mut ep, mut image, first) =
        exec::restore_owned(config.clone(), restore.image.into(), restore.now);
    let mut step = 0usize;
    // (line of the input, the executed step) awaiting its recorded outputs.
    let mut pending: Option<(usize, exec::Step)> = Some((1, first));
    let broken = |step: usize, line: usize, done: &exec::Step| {
        anyhow::anyhow!(
            "{}:{line}: step {step} breaks the core's step checks: {}",
            path.display(),
            done.violations_text()
        )
    };
    for (line, l) in it {
        match l {
            TraceLine::Outputs { outputs, next_deadline } => {
                let Some((input_line, done)) = pending.take() else {
                    anyhow::bail!("{}:{line}: outputs without an input", path.display());
                };
                let deadline = ep.next_deadline().unwrap_or(Time::ZERO);
                if done.outputs != outputs || next_deadline.is_some_and(|d| d != deadline) {
                    return Ok(ReplayOutcome::Divergence {
                        step,
                        line,
                        recorded: outputs,
                        replayed: done.outputs,
                        recorded_deadline: next_deadline,
                        replayed_deadline: deadline,
                    });
                }
                if !done.violations.is_empty() {
                    return Err(broken(step, input_line, &done));
                }
            }
            TraceLine::Step { now, input } => {
                if pending.is_some() {
                    anyhow::bail!("{}:{line}: input before the previous outputs", path.display());
                }
                step += 1;
                pending = Some((line, exec::step(&mut ep, &mut image, now, input)));
            }
            TraceLine::Restore { .. } => {
                anyhow::bail!("{}:{line}: a second restore record", path.display());
            }
        }
    }
    // A trace cut off mid-step (the process died before the outputs line).
    if let Some((line, done)) = pending {
        if !done.violations.is_empty() {
            return Err(broken(step, line, &done));
        }
    }
    Ok(ReplayOutcome::NoDivergence { steps: step })
}

/// Drops the `SetTimer` / `CancelTimer` outputs of an outputs line written before timers
/// stopped being outputs (module docs).
fn drop_legacy_timer_outputs(line: &mut serde_json::Value) {
    if let Some(outputs) = line.get_mut("outputs").and_then(serde_json::Value::as_array_mut) {
        outputs.retain(|o| {
            !o.as_object()
                .is_some_and(|m| m.contains_key("SetTimer") || m.contains_key("CancelTimer"))
        });
    }
}

fn read_trace(path: &Path) -> anyhow::Result<Vec<(usize, TraceLine)>> {
    let f = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut lines = Vec::new();
    for (i, l) in std::io::BufReader::new(f).lines().enumerate() {
        let l = l?;
        if l.trim().is_empty() {
            continue;
        }
        let bad = |e: serde_json::Error| {
            anyhow::anyhow!("{}:{}: not a trace line: {e}", path.display(), i + 1)
        };
        let mut value: serde_json::Value = serde_json::from_str(&l).map_err(bad)?;
        drop_legacy_timer_outputs(&mut value);
        let parsed: TraceLine = serde_json::from_value(value).map_err(bad)?;
        lines.push((i + 1, parsed));
    }
    Ok(lines)
}

/// The steps of a trace [`behaviour`] draws: from `from` to `to` inclusive (step 0 is the
/// restore, step `n` the `n`-th input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The first step drawn.
    pub from: usize,
    /// The last step drawn.
    pub to: usize,
}

/// How many steps [`Window::default_for`] draws.
pub const DEFAULT_WINDOW: usize = 400;

impl Window {
    /// `from` (default 0) and `to` (default `from` + [`DEFAULT_WINDOW`] − 1).
    #[must_use]
    pub fn default_for(from: Option<usize>, to: Option<usize>) -> Window {
        let from = from.unwrap_or(0);
        Window { from, to: to.unwrap_or(from + DEFAULT_WINDOW - 1).max(from) }
    }
}

/// RFC 8156 absolute time as UTC `HH:MM:SS` (and the day offset from `base` when it differs).
fn clock_text(t: Time, base: Time) -> String {
    if t.is_zero() {
        return "-".into();
    }
    let secs = t.0 % 86_400;
    let day = i64::from(t.0 / 86_400) - i64::from(base.0 / 86_400);
    let hms = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if day == 0 {
        hms
    } else {
        format!("{hms} (day {day:+})")
    }
}

/// The date of an RFC 8156 absolute time (proleptic Gregorian, UTC).
fn date_text(t: Time) -> String {
    // Days since 2000-01-01, then the civil-from-days algorithm (H. Hinnant).
    let z = i64::from(t.0 / 86_400) + 10_957 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A runtime trace as a sequence chart (one server's view): lanes for each client seen in the
/// window, this server, and its partner (its state as it announced it in STATE messages); one
/// step per input (step 0 is the restore), drawn from `window.from` to `window.to`. The
/// outputs drawn are the recorded ones; the bindings are those of the trace replayed through
/// the core with `config` (the replay's own check reports any divergence). Arrows to and from
/// the partner are drawn at the step this server sent or received them: one trace cannot say
/// when the other side received or sent them. The clock going backwards between two inputs is
/// marked as a clock step.
///
/// Returns the behaviour and the number of steps in the whole trace.
///
/// # Errors
/// The file cannot be read or is not a trace.
#[allow(clippy::too_many_lines)]
pub fn behaviour(
    path: &Path,
    config: &Config,
    window: Window,
) -> anyhow::Result<(failover_viewer::Behaviour, usize)> {
    use failover_model::dhcp::client::ClientMsgKind;
    use failover_model::{Event, Role};
    use failover_viewer::{
        label, Arrow, ArrowKind, Behaviour, Lane, LaneKind, Mark, MarkKind, ServerSnapshot, Step,
    };

    let lines = read_trace(path)?;
    let mut it = lines.into_iter().peekable();
    let Some((_, TraceLine::Restore { restore })) = it.next() else {
        anyhow::bail!("{}: the first line must be the restore record", path.display());
    };
    let base = restore.now;
    let t = move |x: Time| clock_text(x, base);
    let me = "server".to_string();
    let partner = "partner".to_string();
    let role_text = match config.role {
        Role::Primary => "primary",
        Role::Secondary => "secondary",
    };
    let image: DurableImage = restore.image.into();
    let empty = image.state.is_none() && image.bindings.is_empty();
    let nbindings = image.bindings.len();
    let (mut ep, restore_outs) = Endpoint::restore_owned(config.clone(), image, restore.now);

    let mut steps: Vec<Step> = Vec::new();
    let mut arrows: Vec<Arrow> = Vec::new();
    let mut clients: Vec<(String, String)> = Vec::new(); // (lane id, label), first seen first
    let mut tags: std::collections::BTreeMap<u64, String> = Default::default();
    let mut partner_state: Option<String> = None;
    let mut prev_now = restore.now;
    let mut total = 0usize;
    let client_lane = |duid: &failover_model::Duid, clients: &mut Vec<(String, String)>| {
        let id = format!("client-{duid}");
        if !clients.iter().any(|(c, _)| *c == id) {
            clients.push((id.clone(), format!("client {}", label::short_duid(&duid.0))));
        }
        id
    };

    // (step number, now, input or None for the restore, outputs)
    let mut pending: Option<(usize, Time, Option<Input>)> = Some((0, restore.now, None));
    let mut recorded_restore = Some(restore_outs);
    loop {
        let next = it.next();
        let outputs = match (&next, pending.is_some()) {
            (Some((_, TraceLine::Outputs { outputs, .. })), true) => Some(outputs.clone()),
            (Some((line, TraceLine::Outputs { .. })), false) if total <= window.to => {
                anyhow::bail!("{}:{line}: outputs without an input", path.display())
            }
            (Some((line, TraceLine::Restore { .. })), _) => {
                anyhow::bail!("{}:{line}: a second restore record", path.display())
            }
            _ => None,
        };
        if let Some((step, now, input)) = pending.take().filter(|p| p.0 <= window.to) {
            // Timers are the endpoint's own (not outputs): the notes below say what the step
            // armed, re-armed and cancelled, from its timer map before and after.
            // (Before the restore there was no endpoint, so none.)
            let timers_before: BTreeMap<Timer, Time> =
                if input.is_some() { ep.timers().clone() } else { BTreeMap::new() };
            // The timers due at the step, in the order `Input::Timeout` fires them.
            let mut due: Vec<(Time, Timer)> = timers_before
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(tm, at)| (*at, *tm))
                .collect();
            due.sort();
            let due_before: Vec<Timer> = due.into_iter().map(|(_, tm)| tm).collect();
            // An input whose outputs line is missing (the trace ends mid-step) uses the replay's.
            let replayed = match &input {
                None => recorded_restore.take().unwrap_or_default(),
                Some(i) => ep.handle(now, i.clone()),
            };
            let outs = outputs.clone().unwrap_or(replayed);
            if step >= window.from {
                let k = steps.len();
                let mut marks = Vec::new();
                let mut notes = Vec::new();
                let label_text = match &input {
                    None => {
                        marks.push(Mark {
                            lane: Some(me.clone()),
                            kind: MarkKind::Restart,
                            label: if empty {
                                "start with an empty store".into()
                            } else {
                                format!("restore ({nbindings} bindings)")
                            },
                        });
                        "restore from the durable image".to_string()
                    }
                    Some(Input::Client(req)) => {
                        let who = req
                            .client_id
                            .as_ref()
                            .map_or_else(|| "?".to_string(), |d| label::short_duid(&d.0));
                        format!("{} from client {who}", req.kind.name())
                    }
                    Some(Input::Partner(m)) => format!("receive {}", m.body.name()),
                    Some(Input::PartnerMalformed { reason }) => {
                        marks.push(Mark {
                            lane: Some(partner.clone()),
                            kind: MarkKind::Note,
                            label: "malformed".into(),
                        });
                        format!("malformed partner bytes: {reason}")
                    }
                    Some(Input::ConnectionUp) => {
                        marks.push(Mark {
                            lane: None,
                            kind: MarkKind::Connection,
                            label: "connection up".into(),
                        });
                        "connection up".into()
                    }
                    Some(Input::ConnectionDown) => {
                        marks.push(Mark {
                            lane: None,
                            kind: MarkKind::Connection,
                            label: "connection down".into(),
                        });
                        "connection down".into()
                    }
                    Some(Input::Timer(tm)) => {
                        marks.push(Mark {
                            lane: Some(me.clone()),
                            kind: MarkKind::Timer,
                            label: format!("{tm:?} timer"),
                        });
                        format!("timer {tm:?}")
                    }
                    Some(Input::Timeout) => {
                        let names: Vec<String> =
                            due_before.iter().map(|tm| format!("{tm:?}")).collect();
                        let names =
                            if names.is_empty() { "nothing due".into() } else { names.join(", ") };
                        marks.push(Mark {
                            lane: Some(me.clone()),
                            kind: MarkKind::Timer,
                            label: format!("timeout: {names}"),
                        });
                        format!("timeout ({names})")
                    }
                    Some(Input::Command(c)) => {
                        marks.push(Mark {
                            lane: Some(me.clone()),
                            kind: MarkKind::Command,
                            label: format!("operator: {c:?}"),
                        });
                        format!("operator: {c:?}")
                    }
                    Some(other) => format!("{other:?}"),
                };
                if now < prev_now {
                    marks.insert(
                        0,
                        Mark {
                            lane: Some(me.clone()),
                            kind: MarkKind::ClockStep,
                            label: format!("clock stepped back {} s", prev_now.since(now)),
                        },
                    );
                }
                let mut from_client = None;
                match &input {
                    Some(Input::Client(req)) => {
                        if let Some(d) = &req.client_id {
                            let lane = client_lane(d, &mut clients);
                            tags.insert(req.tag, lane.clone());
                            let (name, fields) = label::request(req);
                            arrows.push(Arrow {
                                from: lane.clone(),
                                to: me.clone(),
                                sent: k,
                                received: Some(k),
                                kind: ArrowKind::Request,
                                name,
                                fields,
                                lost: None,
                                lost_at: None,
                            });
                            from_client = Some(lane);
                        } else if req.kind == ClientMsgKind::InformationRequest {
                            notes.push("INFORMATION-REQUEST without a client id".into());
                        }
                    }
                    Some(Input::Partner(m)) => {
                        let (name, fields) = label::message(m, &t);
                        arrows.push(Arrow {
                            from: partner.clone(),
                            to: me.clone(),
                            sent: k,
                            received: Some(k),
                            kind: ArrowKind::Partner,
                            name,
                            fields,
                            lost: None,
                            lost_at: None,
                        });
                    }
                    _ => {}
                }
                for o in &outs {
                    match o {
                        Output::Reply(r) => {
                            let to = r
                                .client_id
                                .as_ref()
                                .map(|d| client_lane(d, &mut clients))
                                .or_else(|| tags.get(&r.tag).cloned())
                                .or_else(|| from_client.clone());
                            if let Some(to) = to {
                                let (name, fields) = label::reply(r);
                                arrows.push(Arrow {
                                    from: me.clone(),
                                    to,
                                    sent: k,
                                    received: Some(k),
                                    kind: ArrowKind::Reply,
                                    name,
                                    fields,
                                    lost: None,
                                    lost_at: None,
                                });
                            }
                        }
                        Output::Send(m) => {
                            let (name, fields) = label::message(m, &t);
                            arrows.push(Arrow {
                                from: me.clone(),
                                to: partner.clone(),
                                sent: k,
                                received: Some(k),
                                kind: ArrowKind::Partner,
                                name,
                                fields,
                                lost: None,
                                lost_at: None,
                            });
                        }
                        Output::Silence { reason, .. } => marks.push(Mark {
                            lane: Some(me.clone()),
                            kind: MarkKind::Note,
                            label: format!("silent ({reason:?})"),
                        }),
                        Output::Connect => marks.push(Mark {
                            lane: Some(me.clone()),
                            kind: MarkKind::Connection,
                            label: "connect".into(),
                        }),
                        Output::Disconnect => marks.push(Mark {
                            lane: Some(me.clone()),
                            kind: MarkKind::Connection,
                            label: "close the connection".into(),
                        }),
                        Output::Event(Event::StateChanged { from, to }) => {
                            notes.push(format!("{} -> {}", from.name(), to.name()));
                        }
                        Output::Event(Event::PartnerState(s)) => {
                            partner_state = Some(s.name().to_string());
                            notes.push(format!("the partner announced {}", s.name()));
                        }
                        Output::Event(e) => notes.push(format!("{e:?}")),
                        _ => {}
                    }
                }
                // A timer that was due and is gone fired (the label says so); any other that
                // is gone was cancelled.
                let fired = |tm: &Timer| match &input {
                    Some(Input::Timer(x)) => x == tm && due_before.contains(tm),
                    Some(Input::Timeout) => due_before.contains(tm),
                    _ => false,
                };
                for (tm, at) in ep.timers() {
                    if timers_before.get(tm) != Some(at) {
                        notes.push(format!("set {tm:?} for {}", t(*at)));
                    }
                }
                for tm in timers_before.keys() {
                    if !ep.timers().contains_key(tm) && !fired(tm) {
                        notes.push(format!("cancel {tm:?}"));
                    }
                }
                notes.extend(outs.iter().filter_map(|o| match o {
                    Output::Persist(DurableWrite::Binding(b)) => {
                        Some(format!("persist {} {}", b.resource, b.status.name()))
                    }
                    Output::Persist(DurableWrite::State(r)) => {
                        Some(format!("persist state {}", r.state.name()))
                    }
                    _ => None,
                }));
                steps.push(Step {
                    time: i64::from(now.0),
                    time_label: t(now),
                    label: label_text,
                    actor: Some(match &input {
                        Some(Input::Client(_)) => from_client.unwrap_or_else(|| me.clone()),
                        Some(Input::Partner(_)) => partner.clone(),
                        _ => me.clone(),
                    }),
                    marks,
                    servers: vec![
                        ServerSnapshot {
                            lane: me.clone(),
                            state: Some(ep.state().name().to_string()),
                            detail: String::new(),
                            bindings: ep.bindings().map(|b| label::binding(b, &t)).collect(),
                            timers: ep
                                .timers()
                                .iter()
                                .map(|(tm, at)| format!("{tm:?}@{}", t(*at)))
                                .collect(),
                        },
                        ServerSnapshot {
                            lane: partner.clone(),
                            state: partner_state.clone(),
                            detail: if partner_state.is_some() {
                                "as announced".into()
                            } else {
                                "unknown".into()
                            },
                            bindings: Vec::new(),
                            timers: Vec::new(),
                        },
                    ],
                    notes,
                });
            } else {
                // Outside the window: only what later steps need.
                for o in &outs {
                    if let Output::Event(Event::PartnerState(s)) = o {
                        partner_state = Some(s.name().to_string());
                    }
                }
            }
            prev_now = now;
        }
        match next {
            None => break,
            Some((_, TraceLine::Step { now, input })) => {
                // Steps after the window are only counted.
                total += 1;
                pending = Some((total, now, Some(input)));
            }
            Some(_) => {}
        }
    }
    let mut lanes: Vec<Lane> =
        clients.into_iter().map(|(id, label)| Lane { id, label, kind: LaneKind::Client }).collect();
    lanes.push(Lane {
        id: me,
        label: format!("this server ({role_text})"),
        kind: LaneKind::Server,
    });
    lanes.push(Lane {
        id: partner,
        label: format!(
            "partner ({})",
            match config.role {
                Role::Primary => "secondary",
                Role::Secondary => "primary",
            }
        ),
        kind: LaneKind::Partner,
    });
    let shown = steps.len();
    let b = Behaviour {
        title: format!("failoverd trace {}", path.display()),
        context: vec![
            format!(
                "{role_text} of relationship {:?}; trace started {} UTC; steps {}..{} of {} \
                 (step 0 is the restore; --from/--to choose the window)",
                config.relationship,
                date_text(base),
                window.from,
                window.from + shown.saturating_sub(1),
                total
            ),
            "One server's view: arrows to and from the partner are drawn when this server sent \
             or received them; the partner's state is what it announced. The clock is UTC."
                .into(),
        ],
        links: Vec::new(),
        lanes,
        selected: shown.saturating_sub(1),
        steps,
        arrows,
    };
    Ok((b, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use failover_model::dhcp::client::{ClientMsgKind, ClientRequest, IaRequest};
    use failover_model::{Duid, IaKind, Role, Timer};
    use failover_viewer::{ArrowKind, MarkKind};

    fn solicit(tag: u64, client: u8) -> Input {
        Input::Client(ClientRequest {
            tag,
            kind: ClientMsgKind::Solicit,
            client_id: Some(Duid::new(vec![0, 3, 0, 1, 0xc0 | client])),
            server_id: None,
            rapid_commit: false,
            ias: vec![IaRequest { kind: IaKind::Na, iaid: 1, leases: Vec::new() }],
            link_address: None,
            unicast: false,
            oro: Vec::new(),
        })
    }

    /// Writes a trace of a primary that starts alone, hears two clients, loses its connection
    /// and sees its clock go back; returns the path and every step's outputs (0 = restore).
    fn sample(dir: &Path) -> (std::path::PathBuf, Vec<Vec<Output>>) {
        let config = Config::example(Role::Primary);
        let path = dir.join("trace.jsonl");
        let mut w = TraceWriter::create(&path).expect("trace file");
        let image = DurableImage::default();
        let t0 = Time(800_000_000);
        let (mut ep, outs) = Endpoint::restore(config, &image, t0);
        w.restore(t0, &image, &outs, ep.next_deadline()).expect("write");
        let mut all = vec![outs];
        let startup = ep.timers().get(&Timer::Startup).copied().unwrap_or(t0.plus(1));
        assert_eq!(ep.next_deadline(), Some(startup), "STARTUP ends first");
        let inputs = vec![
            (t0.plus(1), solicit(1, 0)),
            (startup, Input::Timeout),
            (startup.plus(1), solicit(2, 1)),
            (startup.plus(2), Input::ConnectionUp),
            (startup.plus(3), Input::ConnectionDown),
            // The clock steps back.
            (startup.minus(30), solicit(3, 0)),
        ];
        for (now, input) in inputs {
            w.input(now, &input).expect("write");
            let outs = ep.handle(now, input);
            w.outputs(&outs, ep.next_deadline()).expect("write");
            all.push(outs);
        }
        (path, all)
    }

    #[test]
    fn a_trace_becomes_a_behaviour() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, outs) = sample(dir.path());
        let config = Config::example(Role::Primary);
        assert_eq!(
            replay(&path, &config).expect("replays"),
            ReplayOutcome::NoDivergence { steps: 6 }
        );
        let (b, total) = behaviour(&path, &config, Window::default_for(None, None)).expect("ok");
        b.validate().expect("consistent");
        assert_eq!(total, 6);
        assert_eq!(b.steps.len(), 7, "the restore and six inputs");
        // Lanes: the two clients, this server, the partner.
        assert_eq!(b.lanes.len(), 4);
        // Arrows, counted from the recorded outputs: three requests, every reply and every
        // partner message sent.
        let count = |f: fn(&Output) -> bool| outs.iter().flatten().filter(|o| f(o)).count();
        let replies = count(|o| matches!(o, Output::Reply(_)));
        let sends = count(|o| matches!(o, Output::Send(_)));
        assert!(sends > 0, "the connection up made the primary send CONNECT");
        let kinds = |k| b.arrows.iter().filter(|a| a.kind == k).count();
        assert_eq!(kinds(ArrowKind::Request), 3);
        assert_eq!(kinds(ArrowKind::Reply), replies);
        assert_eq!(kinds(ArrowKind::Partner), sends);
        assert_eq!(b.arrows.len(), 3 + replies + sends);
        // The clock step is a fault mark at the last step, and only there.
        let steps_marked: Vec<usize> = (0..b.steps.len())
            .filter(|&k| b.steps[k].marks.iter().any(|m| m.kind == MarkKind::ClockStep))
            .collect();
        assert_eq!(steps_marked, vec![6]);
        assert!(b.steps[0].marks.iter().any(|m| m.kind == MarkKind::Restart));
        let page = failover_viewer::render_html(&b).expect("renders");
        assert!(page.contains("viewer-status"));
    }

    #[test]
    fn a_window_draws_only_its_steps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, _) = sample(dir.path());
        let config = Config::example(Role::Primary);
        let (b, total) =
            behaviour(&path, &config, Window::default_for(Some(2), Some(3))).expect("a window");
        b.validate().expect("consistent");
        assert_eq!(total, 6, "the whole trace is counted");
        assert_eq!(b.steps.len(), 2);
        assert_eq!(b.steps[0].label, "timeout (Startup)");
        // Timers are not outputs: the notes come from the endpoint's timer map. The timeout
        // that ended STARTUP arms no STARTUP again and names it as fired, not cancelled.
        assert!(b.steps[0].notes.iter().all(|n| !n.contains("Startup")), "{:?}", b.steps[0].notes);
        // Only the client of step 3 appears.
        assert_eq!(b.lanes.len(), 3);
        assert!(b.arrows.iter().all(|a| a.sent < 2));
        // The state at the window's first step is the replayed one, not a fresh start.
        assert!(b.steps[1].servers[0].state.is_some());
    }

    /// The restore step's notes say which timers it armed (from the timer map, as the
    /// `SetTimer` outputs used to).
    #[test]
    fn timer_notes_come_from_the_timer_map() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, _) = sample(dir.path());
        let config = Config::example(Role::Primary);
        let (b, _) = behaviour(&path, &config, Window::default_for(None, None)).expect("ok");
        let notes = &b.steps[0].notes;
        assert!(notes.iter().any(|n| n.starts_with("set Startup for ")), "{notes:?}");
        assert!(notes.iter().any(|n| n.starts_with("set Heartbeat for ")), "{notes:?}");
    }

    /// A trace written before timers stopped being outputs (with `SetTimer` / `CancelTimer` in
    /// its outputs lines and no `next_deadline`) still replays, and still diverges where its
    /// other outputs do.
    #[test]
    fn a_trace_with_timer_outputs_still_replays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, _) = sample(dir.path());
        let config = Config::example(Role::Primary);
        let legacy = dir.path().join("legacy.jsonl");
        let mut text = String::new();
        for l in std::fs::read_to_string(&path).expect("read").lines() {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("json");
            if let Some(m) = v.as_object_mut() {
                if m.remove("next_deadline").is_some() {
                    let outs =
                        m.get_mut("outputs").and_then(|o| o.as_array_mut()).expect("outputs");
                    outs.push(serde_json::json!({"SetTimer": ["Heartbeat", 800_000_060]}));
                    outs.insert(0, serde_json::json!({"CancelTimer": "Contact"}));
                }
            }
            text.push_str(&v.to_string());
            text.push('\n');
        }
        assert!(text.contains("SetTimer") && !text.contains("next_deadline"));
        std::fs::write(&legacy, &text).expect("write");
        assert_eq!(
            replay(&legacy, &config).expect("replays"),
            ReplayOutcome::NoDivergence { steps: 6 }
        );
        let tampered = dir.path().join("tampered.jsonl");
        std::fs::write(&tampered, text.replacen("\"Connect\"", "\"Disconnect\"", 1))
            .expect("write");
        assert!(matches!(
            replay(&tampered, &config).expect("replays"),
            ReplayOutcome::Divergence { step: 0, .. }
        ));
    }

    /// The replay compares the recorded next deadline: a trace whose timers went elsewhere
    /// diverges at that step even when its outputs agree.
    #[test]
    fn a_different_next_deadline_is_a_divergence() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, _) = sample(dir.path());
        let config = Config::example(Role::Primary);
        let text = std::fs::read_to_string(&path).expect("read");
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut v: serde_json::Value = serde_json::from_str(&lines[3]).expect("json");
        let d = v["next_deadline"].as_u64().expect("a deadline");
        v["next_deadline"] = serde_json::json!(d + 1);
        lines[3] = v.to_string();
        let changed = dir.path().join("changed.jsonl");
        std::fs::write(&changed, lines.join("\n") + "\n").expect("write");
        match replay(&changed, &config).expect("replays") {
            ReplayOutcome::Divergence {
                step,
                line,
                recorded,
                replayed,
                recorded_deadline,
                replayed_deadline,
            } => {
                assert_eq!((step, line), (1, 4));
                assert_eq!(recorded, replayed);
                assert_eq!(recorded_deadline, Some(Time(u32::try_from(d).expect("u32") + 1)));
                assert_eq!(u64::from(replayed_deadline.0), d);
            }
            other => panic!("{other:?}"),
        }
    }
}
