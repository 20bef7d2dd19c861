//! Running a checker to completion and reporting verdicts and counterexamples.
//!
//! Verification runs never use `timeout`, `target_state_count`, `target_max_depth` or a
//! visitor (MODELCHECK.md §0.3, §1.3): a verdict is claimed only for a search that ran to the
//! end of the bounded space. Simulation runs are bounded by a state count and say so: they
//! can find counterexamples but prove nothing.

use crate::model::{format_action, Action, FailoverModel};
use crate::world::World;
use serde::Serialize;
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path, UniformChooser};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Which search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// Depth-first, exhaustive (the CI default).
    Dfs,
    /// Depth-first, exhaustive up to client renaming: the symmetry reduction of
    /// [`crate::reduce`] (one world of each class of worlds equal up to renaming the clients
    /// is expanded; the unique-state count counts classes). Same verdicts as [`Search::Dfs`]
    /// (docs/model.md, "Symmetry reduction"); traces are real paths.
    DfsSymmetry,
    /// Breadth-first, exhaustive (shorter counterexamples; more memory).
    Bfs,
    /// Random walks: finds, never proves. Bounded by this many generated states.
    Sim(usize),
}

/// When to stop.
#[derive(Clone, Debug)]
pub enum Stop {
    /// Explore everything, stopping early only on a counterexample of an `always` property.
    FirstFailure,
    /// Explore everything (every discovery is recorded).
    Never,
    /// Stop as soon as one of these properties has a discovery.
    AnyOf(BTreeSet<&'static str>),
}

/// The verdict of one property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// `always`: no counterexample in the explored space.
    Holds,
    /// `always`: a counterexample.
    Violated,
    /// `sometimes`: an example was found.
    Reached,
    /// `sometimes`: no example in the explored space.
    NotReached,
    /// The run stopped before the space was exhausted and found nothing for it.
    Unknown,
}

/// The outcome of a run.
pub struct Outcome {
    /// The model that was checked.
    pub model: FailoverModel,
    /// Unique states.
    pub unique: usize,
    /// Generated states.
    pub total: usize,
    /// Maximum depth.
    pub max_depth: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Whether the whole bounded space was explored.
    pub exhaustive: bool,
    /// Per property, in `Model::properties()` order: name, expectation, verdict.
    pub verdicts: Vec<(&'static str, Expectation, Verdict)>,
    /// Discoveries by property name.
    pub discoveries: BTreeMap<&'static str, Path<World, Action>>,
}

impl Outcome {
    /// Names of the violated `always` properties.
    #[must_use]
    pub fn violations(&self) -> Vec<&'static str> {
        self.verdicts.iter().filter(|v| v.2 == Verdict::Violated).map(|v| v.0).collect()
    }

    /// States per second.
    #[must_use]
    pub fn rate(&self) -> f64 {
        self.unique as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `model` with `search` on `threads` threads until `stop`.
#[must_use]
pub fn check(model: FailoverModel, search: Search, threads: usize, stop: Stop) -> Outcome {
    check_with_progress(model, search, threads, stop, None)
}

/// As [`check`], printing progress to stderr every `progress` interval (no visitor: the
/// checker's counters are polled).
#[must_use]
pub fn check_with_progress(
    model: FailoverModel,
    search: Search,
    threads: usize,
    stop: Stop,
    progress: Option<Duration>,
) -> Outcome {
    let finish = match &stop {
        Stop::FirstFailure => HasDiscoveries::AnyFailures,
        // A name no property has: never satisfied, so the search runs to the end.
        Stop::Never => HasDiscoveries::AllOf(std::iter::once("(never)").collect()),
        Stop::AnyOf(set) => HasDiscoveries::AnyOf(set.clone()),
    };
    let properties = model.properties();
    let start = Instant::now();
    let builder = model.checker().threads(threads).finish_when(finish);
    let (unique, total, max_depth, discoveries, model) = match search {
        Search::Dfs => collect(wait(builder.spawn_dfs(), progress)),
        Search::DfsSymmetry => {
            collect(wait(builder.symmetry_fn(crate::reduce::representative).spawn_dfs(), progress))
        }
        Search::Bfs => collect(wait(builder.spawn_bfs(), progress)),
        Search::Sim(n) => collect(wait(
            builder.target_state_count(n).spawn_simulation(0, UniformChooser),
            progress,
        )),
    };
    let elapsed = start.elapsed();
    let stopped_early = match &stop {
        Stop::Never => false,
        Stop::FirstFailure => properties
            .iter()
            .any(|p| p.expectation == Expectation::Always && discoveries.contains_key(p.name)),
        Stop::AnyOf(set) => set.iter().any(|n| discoveries.contains_key(n)),
    };
    let exhaustive = !matches!(search, Search::Sim(_)) && !stopped_early;
    let verdicts = properties
        .iter()
        .map(|p| {
            let found = discoveries.contains_key(p.name);
            let v = match (&p.expectation, found) {
                (Expectation::Sometimes, true) => Verdict::Reached,
                (_, true) => Verdict::Violated,
                (_, false) if !exhaustive => Verdict::Unknown,
                (Expectation::Sometimes, false) => Verdict::NotReached,
                (_, false) => Verdict::Holds,
            };
            (p.name, p.expectation.clone(), v)
        })
        .collect();
    Outcome { model, unique, total, max_depth, elapsed, exhaustive, verdicts, discoveries }
}

fn wait<C: Checker<FailoverModel>>(c: C, progress: Option<Duration>) -> C {
    if let Some(every) = progress {
        let start = Instant::now();
        let mut last = Instant::now();
        while !c.is_done() {
            std::thread::sleep(Duration::from_millis(50));
            if last.elapsed() < every {
                continue;
            }
            last = Instant::now();
            eprintln!(
                "  ... {:.0} s: {} unique, {} generated, depth {}",
                start.elapsed().as_secs_f64(),
                c.unique_state_count(),
                c.state_count(),
                c.max_depth()
            );
        }
    }
    c.join()
}

type Collected = (usize, usize, usize, BTreeMap<&'static str, Path<World, Action>>, FailoverModel);

fn collect<C: Checker<FailoverModel>>(c: C) -> Collected {
    let d = c.discoveries().into_iter().collect();
    (c.unique_state_count(), c.state_count(), c.max_depth(), d, c.model().clone())
}

/// The summary printed by `failover-check` (bounds, counts, time, one verdict per property).
#[must_use]
pub fn summary(o: &Outcome, search: Search) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", o.model.describe());
    let _ = writeln!(
        s,
        "search {:?}: {} unique states ({} generated), max depth {}, {:.1} s, {:.0} states/s, {}",
        search,
        o.unique,
        o.total,
        o.max_depth,
        o.elapsed.as_secs_f64(),
        o.rate(),
        if o.exhaustive {
            "bounded space exhausted"
        } else {
            "search NOT exhaustive (stopped at a discovery or simulation): verdicts marked unknown prove nothing"
        }
    );
    for (name, exp, v) in &o.verdicts {
        let _ = writeln!(s, "  {:<10} {:<9} {}", format!("{v:?}"), format!("{exp:?}"), name);
    }
    s
}

/// A counterexample as readable text: every step with the action, the clock, each server's
/// state and bindings, the link, and each client's leases.
#[must_use]
pub fn trace_text(model: &FailoverModel, property: &str, path: &Path<World, Action>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Property: {property}");
    let _ = writeln!(s, "{}", model.describe());
    let _ = writeln!(s, "Explorer path: #/steps/{}", path.encode(model));
    let _ = writeln!(
        s,
        "Sequence chart: the .html file of the same name beside this one (open it in a browser)"
    );
    let steps = path.clone().into_vec();
    let _ = writeln!(s, "initial state:");
    if let Some((w, _)) = steps.first() {
        let _ = writeln!(s, "{w:?}\n");
    }
    for (k, (_, action)) in steps.iter().enumerate() {
        let Some(a) = action else { continue };
        let _ = writeln!(s, "step {}: {}", k + 1, format_action(a));
        if let Some((next, _)) = steps.get(k + 1) {
            let _ = writeln!(s, "{next:?}\n");
        }
    }
    s
}

/// A counterexample as JSON: the step list with actions and full states.
///
/// # Errors
/// Serialization failure.
pub fn trace_json(
    model: &FailoverModel,
    property: &str,
    path: &Path<World, Action>,
) -> serde_json::Result<String> {
    #[derive(Serialize)]
    struct ServerView {
        role: &'static str,
        state: Option<String>,
        bindings: Vec<failover_model::Binding>,
        timers: Vec<(failover_model::Timer, failover_model::Time)>,
        durable_state: Option<String>,
        durable_bindings: Vec<failover_model::Binding>,
    }
    #[derive(Serialize)]
    struct Step<'a> {
        action: Option<&'a Action>,
        label: Option<String>,
        now: failover_model::Time,
        servers: Vec<ServerView>,
        link: &'a crate::world::Link,
        clients: &'a [crate::world::Client],
        budget: &'a crate::world::Budget,
        violations: u128,
        text: Vec<String>,
    }
    let view = |w: &World| -> Vec<ServerView> {
        w.servers
            .iter()
            .enumerate()
            .map(|(i, s)| ServerView {
                role: crate::world::role_name(crate::world::role_at(i)),
                state: s.live.as_ref().map(|e| e.state().name().to_string()),
                bindings: s
                    .live
                    .as_ref()
                    .map(|e| e.bindings().cloned().collect())
                    .unwrap_or_default(),
                timers: s
                    .live
                    .as_ref()
                    .map(|e| e.timers().iter().map(|(t, d)| (*t, *d)).collect())
                    .unwrap_or_default(),
                durable_state: s.image.state.as_ref().map(|r| r.state.name().to_string()),
                durable_bindings: s.image.bindings.values().cloned().collect(),
            })
            .collect()
    };
    #[derive(Serialize)]
    struct Trace<'a> {
        property: &'a str,
        config: String,
        explorer_path: String,
        steps: Vec<Step<'a>>,
    }
    let v = path.clone().into_vec();
    // Each state paired with the action that led to it.
    let mut steps = Vec::new();
    let mut prev: Option<&Action> = None;
    for (state, next) in &v {
        steps.push(Step {
            action: prev,
            label: prev.map(format_action),
            now: state.now,
            servers: view(state),
            link: &state.link,
            clients: &state.clients,
            budget: &state.budget,
            violations: state.ghost.violations,
            text: format!("{state:?}").lines().map(str::to_string).collect(),
        });
        prev = next.as_ref();
    }
    serde_json::to_string_pretty(&Trace {
        property,
        config: model.describe(),
        explorer_path: path.encode(model),
        steps,
    })
}

/// Serves the stateright Explorer for `model` on `addr` (use a loopback address). Blocks while
/// the server runs. The Explorer's on-demand checker ignores symmetry and depth bounds
/// (MODELCHECK.md §1.6); actions are labelled by [`format_action`] and states shown with the
/// compact `Debug` of [`World`].
pub fn explore(model: FailoverModel, addr: &str) {
    let _checker = model.checker().threads(1).serve(addr.to_string());
}
