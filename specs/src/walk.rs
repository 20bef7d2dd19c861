//! Random walks: breadth where exhaustion is out of reach.
//!
//! The bounded configurations keep the state space small enough to exhaust, so they cap
//! behaviours at a few client operations and one or two faults. A walk instead follows one
//! long behaviour (hundreds of steps, every fault kind many times over, several clients) of
//! a configuration whose bounds are large (`walk`), checking every `always` property of the
//! model at every state. It finds counterexamples; it proves nothing.
//!
//! Only the [`Model`] trait's public interface is used: `init_states`, `actions`,
//! `next_state` and `properties`, plus [`FailoverModel::settle`] for the check at a walk's
//! end. The step invariants the driver checks inside `next_state` (the sticky bits of
//! `Ghost::violations`) are read back through their properties like any other.
//!
//! # One walk
//! A walk is fully determined by its seed (a [`ChaCha8Rng`] seeded with `seed_from_u64`, whose
//! output is the same on every platform). From the initial state it draws its *profile*
//! (below), then repeatedly:
//! 1. lists the enabled actions (`Model::actions`);
//! 2. picks an action *kind* ([`Kind`]) among the kinds with at least one enabled action, with
//!    probability proportional to the kind's weight in the profile, then one action of that
//!    kind uniformly (so the choice does not depend on how many clients or timers there are);
//! 3. applies it (`Model::next_state`; an action without a successor is dropped from the list
//!    and the choice repeated);
//! 4. checks every `always` property on the new state, stopping at the first that fails;
//!
//! until `steps` steps are taken or no action is left (a dead end). At the end of a walk
//! that violated nothing, the environment turns stable and the protocol alone must bring
//! both servers to NORMAL within K seconds ([`FailoverModel::settle`]): L5, whose property
//! form checks it only at the end of a bounded run, which a walk over a day's horizon never
//! reaches.
//!
//! # Weights and swarm profiles
//! The base weights ([`Kind::weight`]) favour the protocol's own progress (deliveries, timers,
//! connection attempts, time) over the environment's moves, so that faults are spread over the
//! walk instead of spending their budgets in the first few dozen steps. With `swarm` (the
//! default) each walk also switches each optional kind ([`Kind::optional`]: the less common
//! client operations, lost replies and every fault and command kind) off with probability 1/2
//! (swarm testing, Groce et al., ISSTA 2012): a batch then holds walks with a single fault
//! kind, walks with none and walks with all, instead of walks that all look alike. Heals and
//! restarts are never switched off (they end the faults), nor are deliveries, timers,
//! connection attempts, time, SOLICIT and RENEW.
//!
//! # Shrinking
//! A violating walk's action sequence is shrunk by delta debugging over chunks: for chunk
//! sizes from half the sequence down to one, drop each chunk in turn and keep the drop when
//! the replay still violates the same property (and no other before it); at size one, repeat
//! until no drop is kept (1-minimal, unless the replay budget runs out). A replay starts from
//! the initial state and applies the remaining actions in order, skipping those that are not
//! enabled any more (dropping a partition skips its heal), except that an `Advance` whose
//! instant moved is replaced by the enabled `Advance` (time advances to whatever the next
//! interesting instant now is). Each kept candidate is replaced by the actions it really
//! applied up to its violation, so the result is always a real path of the model, written
//! with the same trace writers `check` uses.
//!
//! # A batch
//! Walk `i` of a batch with seed `S` has seed `S + i`. Worker threads take walk indices from a
//! shared counter and share nothing else but the counters; the batch stops starting walks
//! past the first violating index, so the violation it reports (the lowest violating index) is
//! the same for any number of threads. With `keep_going` every walk runs and the violating
//! walks are counted per property.

use crate::model::{Action, ClientOp, FailoverModel};
use crate::properties::name;
use crate::world::World;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stateright::{Expectation, Model, Path, Property};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What an action is, for the weighted choice and the per-kind counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A partner message (or the end of the stream) is delivered.
    Deliver,
    /// The primary's connection attempt succeeds.
    ConnectUp,
    /// The primary's connection attempt fails.
    ConnectFail,
    /// A due timer fires.
    Fire,
    /// Time advances.
    Advance,
    /// A client SOLICITs (and REQUESTs).
    Solicit,
    /// A client RENEWs.
    Renew,
    /// A client REBINDs.
    Rebind,
    /// A client RELEASEs.
    Release,
    /// A client DECLINEs.
    Decline,
    /// A client SOLICIT or RENEW whose reply is lost.
    ReplyLost,
    /// The connection is reset.
    Break,
    /// The network partitions.
    Partition,
    /// The partition heals.
    Heal,
    /// A server crashes, keeping its storage.
    Crash,
    /// A server crashes, losing its storage.
    StorageLoss,
    /// A crashed server restarts.
    Restart,
    /// The operator's PARTNER-DOWN command.
    PartnerDown,
}

/// Every kind, in the order of the counts.
pub const KINDS: [Kind; 18] = [
    Kind::Deliver,
    Kind::ConnectUp,
    Kind::ConnectFail,
    Kind::Fire,
    Kind::Advance,
    Kind::Solicit,
    Kind::Renew,
    Kind::Rebind,
    Kind::Release,
    Kind::Decline,
    Kind::ReplyLost,
    Kind::Break,
    Kind::Partition,
    Kind::Heal,
    Kind::Crash,
    Kind::StorageLoss,
    Kind::Restart,
    Kind::PartnerDown,
];

impl Kind {
    /// The kind of an action.
    #[must_use]
    pub fn of(a: &Action) -> Kind {
        match a {
            Action::Client { reply_lost: true, .. } => Kind::ReplyLost,
            Action::Client { op, .. } => match op {
                ClientOp::Solicit => Kind::Solicit,
                ClientOp::Renew => Kind::Renew,
                ClientOp::Rebind => Kind::Rebind,
                ClientOp::Release => Kind::Release,
                ClientOp::Decline => Kind::Decline,
            },
            Action::Deliver { .. } | Action::Overtake { .. } => Kind::Deliver,
            Action::ConnectUp => Kind::ConnectUp,
            Action::ConnectFail => Kind::ConnectFail,
            Action::Break => Kind::Break,
            Action::Partition => Kind::Partition,
            Action::Heal => Kind::Heal,
            Action::Crash { lose_storage: false, .. } => Kind::Crash,
            Action::Crash { lose_storage: true, .. } => Kind::StorageLoss,
            Action::Restart { .. } => Kind::Restart,
            Action::Fire { .. } => Kind::Fire,
            Action::Advance { .. } => Kind::Advance,
            Action::PartnerDown { .. } => Kind::PartnerDown,
        }
    }

    /// Its position in [`KINDS`].
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short name for reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Kind::Deliver => "deliver",
            Kind::ConnectUp => "connect-up",
            Kind::ConnectFail => "connect-fail",
            Kind::Fire => "timer",
            Kind::Advance => "advance",
            Kind::Solicit => "solicit",
            Kind::Renew => "renew",
            Kind::Rebind => "rebind",
            Kind::Release => "release",
            Kind::Decline => "decline",
            Kind::ReplyLost => "reply-lost",
            Kind::Break => "break",
            Kind::Partition => "partition",
            Kind::Heal => "heal",
            Kind::Crash => "crash",
            Kind::StorageLoss => "storage-loss",
            Kind::Restart => "restart",
            Kind::PartnerDown => "partner-down",
        }
    }

    /// The base weight of the kind in the choice of the next step: the protocol's own progress
    /// 6 (deliveries) or 4 (timers, connection attempts, time), SOLICIT and RENEW 2, and 1 for
    /// every other client operation, fault, repair and command.
    #[must_use]
    pub fn weight(self) -> u32 {
        match self {
            Kind::Deliver => 6,
            Kind::ConnectUp | Kind::ConnectFail | Kind::Fire | Kind::Advance => 4,
            Kind::Solicit | Kind::Renew => 2,
            _ => 1,
        }
    }

    /// Whether a swarm profile may switch the kind off.
    #[must_use]
    pub fn optional(self) -> bool {
        matches!(
            self,
            Kind::Rebind
                | Kind::Release
                | Kind::Decline
                | Kind::ReplyLost
                | Kind::Break
                | Kind::Partition
                | Kind::Crash
                | Kind::StorageLoss
                | Kind::PartnerDown
        )
    }
}

/// Per-kind counts of the actions taken.
pub type Counts = [u64; KINDS.len()];

/// The kind weights of one walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Weight per kind, in [`KINDS`] order (0: never chosen).
    pub weights: [u32; KINDS.len()],
}

impl Profile {
    fn draw(rng: &mut ChaCha8Rng, swarm: bool) -> Profile {
        let mut weights = [0; KINDS.len()];
        for k in KINDS {
            // With swarm, one draw per optional kind, in `KINDS` order.
            let on = !(swarm && k.optional()) || rng.next_u64() & 1 == 1;
            weights[k.index()] = if on { k.weight() } else { 0 };
        }
        Profile { weights }
    }

    /// The optional kinds this profile switched off.
    #[must_use]
    pub fn off(&self) -> Vec<Kind> {
        KINDS.into_iter().filter(|k| self.weights[k.index()] == 0).collect()
    }

    /// Chooses among `enabled`: an index, or `None` when no enabled action has a weight.
    fn choose(&self, rng: &mut ChaCha8Rng, enabled: &[Action]) -> Option<usize> {
        let mut per_kind = [0u64; KINDS.len()];
        for a in enabled {
            per_kind[Kind::of(a).index()] += 1;
        }
        let total: u64 = KINDS
            .iter()
            .filter(|k| per_kind[k.index()] > 0)
            .map(|k| u64::from(self.weights[k.index()]))
            .sum();
        if total == 0 {
            return None;
        }
        let mut r = below(rng, total);
        let kind = KINDS.into_iter().find(|k| {
            let w = if per_kind[k.index()] > 0 { u64::from(self.weights[k.index()]) } else { 0 };
            if r < w {
                true
            } else {
                r -= w;
                false
            }
        })?;
        let nth = below(rng, per_kind[kind.index()]);
        enabled
            .iter()
            .enumerate()
            .filter(|(_, a)| Kind::of(a) == kind)
            .nth(usize::try_from(nth).ok()?)
            .map(|(i, _)| i)
    }
}

/// A number in `0..n` (`n > 0`) by Lemire's multiply-shift: a bias below `n / 2^64`,
/// nothing for the small `n` here.
fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

/// How walks run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Steps per walk at most.
    pub steps: usize,
    /// Swarm profiles (optional kinds switched off at random per walk).
    pub swarm: bool,
    /// Check L5 at the end of a walk ([`FailoverModel::settle`]).
    pub settle_at_end: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { steps: 300, swarm: true, settle_at_end: true }
    }
}

/// A property a walk violated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The property's name.
    pub property: &'static str,
    /// L5 at the walk's end (the state after the last action did not settle), rather than an
    /// `always` property failing at a state.
    pub at_walk_end: bool,
}

/// How a walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It took all its steps.
    StepLimit,
    /// No action with a weight was enabled.
    DeadEnd,
    /// A property failed.
    Violated(Violation),
}

/// One walk.
#[derive(Clone, Debug)]
pub struct Walk {
    /// Its seed.
    pub seed: u64,
    /// Its profile.
    pub profile: Profile,
    /// The actions it took (up to and including the violating one).
    pub actions: Vec<Action>,
    /// Per-kind counts of those actions.
    pub counts: Counts,
    /// How it ended.
    pub ending: Ending,
}

impl Walk {
    /// The violation, if any.
    #[must_use]
    pub fn violation(&self) -> Option<Violation> {
        match self.ending {
            Ending::Violated(v) => Some(v),
            _ => None,
        }
    }
}

/// The model with its properties split by expectation.
pub struct Walker {
    /// The model.
    pub model: FailoverModel,
    always: Vec<Property<FailoverModel>>,
    sometimes: Vec<Property<FailoverModel>>,
    init: World,
}

impl Walker {
    /// A walker for `model`.
    ///
    /// # Panics
    /// The model has no initial state.
    #[must_use]
    pub fn new(model: FailoverModel) -> Walker {
        let (mut always, mut sometimes) = (Vec::new(), Vec::new());
        for p in model.properties() {
            match p.expectation {
                Expectation::Always => always.push(p),
                Expectation::Sometimes => sometimes.push(p),
                // The model has no `eventually` property (unsound on timer cycles); were one
                // added, a walk could not judge it from a prefix.
                Expectation::Eventually => {}
            }
        }
        let init = model.init_states().into_iter().next().expect("the model has an initial state");
        Walker { model, always, sometimes, init }
    }

    /// The initial state.
    #[must_use]
    pub fn init(&self) -> &World {
        &self.init
    }

    /// The names of the `sometimes` properties (coverage goals).
    #[must_use]
    pub fn sometimes_names(&self) -> Vec<&'static str> {
        self.sometimes.iter().map(|p| p.name).collect()
    }

    /// The first `always` property (in the model's order) that `w` violates.
    #[must_use]
    pub fn first_violation(&self, w: &World) -> Option<&'static str> {
        self.always.iter().find(|p| !(p.condition)(&self.model, w)).map(|p| p.name)
    }

    fn violates(&self, w: &World, property: &str) -> bool {
        self.always.iter().any(|p| p.name == property && !(p.condition)(&self.model, w))
    }

    fn settles(&self, w: &World) -> bool {
        self.model.liveness_k == 0 || self.model.settle(w).is_some()
    }

    /// Walks once from the initial state with `seed`; `visit` sees every state.
    pub fn walk(&self, seed: u64, opts: &Options, mut visit: impl FnMut(&World)) -> Walk {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let profile = Profile::draw(&mut rng, opts.swarm);
        let mut walk = Walk {
            seed,
            profile,
            actions: Vec::new(),
            counts: [0; KINDS.len()],
            ending: Ending::StepLimit,
        };
        let mut w = self.init.clone();
        visit(&w);
        if let Some(property) = self.first_violation(&w) {
            walk.ending = Ending::Violated(Violation { property, at_walk_end: false });
            return walk;
        }
        let mut enabled = Vec::new();
        'steps: for _ in 0..opts.steps {
            enabled.clear();
            self.model.actions(&w, &mut enabled);
            let (action, next) = loop {
                let Some(i) = walk.profile.choose(&mut rng, &enabled) else {
                    walk.ending = Ending::DeadEnd;
                    break 'steps;
                };
                let a = enabled.remove(i);
                if let Some(next) = self.model.next_state(&w, a.clone()) {
                    break (a, next);
                }
            };
            walk.counts[Kind::of(&action).index()] += 1;
            walk.actions.push(action);
            w = next;
            visit(&w);
            if let Some(property) = self.first_violation(&w) {
                walk.ending = Ending::Violated(Violation { property, at_walk_end: false });
                return walk;
            }
        }
        if opts.settle_at_end && !self.settles(&w) {
            walk.ending = Ending::Violated(Violation { property: name::L5, at_walk_end: true });
        }
        walk
    }

    /// Replays `actions` from the initial state, skipping those not enabled (see the module
    /// documentation): the actions really applied up to the first state that violates
    /// `v.property`, or `None` when the replay ends without it or first violates another
    /// property. For a violation at a walk's
    /// end, the replay must violate nothing on the way and not settle at its end.
    #[must_use]
    pub fn replay(&self, actions: &[Action], v: Violation) -> Option<Vec<Action>> {
        let mut w = self.init.clone();
        let mut applied = Vec::new();
        let mut enabled = Vec::new();
        let judge = |w: &World| -> Option<bool> {
            let first = self.first_violation(w)?;
            Some(!v.at_walk_end && (first == v.property || self.violates(w, v.property)))
        };
        if let Some(hit) = judge(&w) {
            return hit.then_some(applied);
        }
        for a in actions {
            enabled.clear();
            self.model.actions(&w, &mut enabled);
            let a = if enabled.contains(a) {
                a.clone()
            } else if matches!(a, Action::Advance { .. }) {
                match enabled.iter().find(|e| matches!(e, Action::Advance { .. })) {
                    Some(e) => e.clone(),
                    None => continue,
                }
            } else {
                continue;
            };
            let Some(next) = self.model.next_state(&w, a.clone()) else { continue };
            w = next;
            applied.push(a);
            if let Some(hit) = judge(&w) {
                return hit.then_some(applied);
            }
        }
        (v.at_walk_end && !self.settles(&w)).then_some(applied)
    }

    /// Shrinks a violating action sequence (see the module documentation), replaying at most
    /// `max_replays` candidates. Returns the shortest violating sequence found (at worst the
    /// replayed `actions` themselves) and the number of replays.
    #[must_use]
    pub fn shrink(&self, actions: &[Action], v: Violation, max_replays: usize) -> Shrunk {
        let mut replays = 1;
        let Some(mut cur) = self.replay(actions, v) else {
            return Shrunk { actions: actions.to_vec(), replays, reproduced: false };
        };
        let mut chunk = cur.len().div_ceil(2).max(1);
        'sizes: loop {
            let mut i = 0;
            let mut progressed = false;
            while i < cur.len() {
                if replays >= max_replays {
                    break 'sizes;
                }
                let end = (i + chunk).min(cur.len());
                let candidate: Vec<Action> =
                    cur[..i].iter().chain(cur[end..].iter()).cloned().collect();
                replays += 1;
                match self.replay(&candidate, v) {
                    Some(shorter) if shorter.len() < cur.len() => {
                        cur = shorter;
                        progressed = true;
                    }
                    _ => i += chunk,
                }
            }
            // Single actions are dropped until no drop is kept (a fixpoint: 1-minimal).
            if chunk == 1 && !progressed {
                break;
            }
            chunk = (chunk / 2).min(cur.len().div_ceil(2)).max(1);
        }
        Shrunk { actions: cur, replays, reproduced: true }
    }

    /// The path of the model that `actions` take from the initial state (for the trace
    /// writers), or `None` if they are not a path.
    #[must_use]
    pub fn path(&self, actions: &[Action]) -> Option<Path<World, Action>> {
        Path::from_actions(&self.model, self.init.clone(), actions)
    }
}

/// The result of [`Walker::shrink`].
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The shrunk actions: a real path that violates the same property.
    pub actions: Vec<Action>,
    /// Candidates replayed.
    pub replays: usize,
    /// Whether the original sequence replayed to the violation (always, for the actions of a
    /// walk: the model is deterministic).
    pub reproduced: bool,
}

/// How a batch runs.
#[derive(Clone, Debug)]
pub struct BatchOptions {
    /// The first walk's seed; walk `i` has seed `seed + i`.
    pub seed: u64,
    /// Walks at most.
    pub walks: u64,
    /// Worker threads.
    pub threads: usize,
    /// Start no walk after this much time (the batch then depends on the machine's speed).
    pub time_limit: Option<Duration>,
    /// Count distinct states (a set of 64-bit state hashes per thread).
    pub distinct: bool,
    /// Print progress to stderr this often.
    pub progress: Option<Duration>,
    /// Walk on after a violation (every walk of the batch runs; the violations are counted by
    /// property). Off: no walk past the first violating index starts.
    pub keep_going: bool,
}

/// The outcome of a batch.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Walks run.
    pub walks: u64,
    /// Steps taken (actions applied).
    pub steps: u64,
    /// Walks that ended in a dead end.
    pub dead_ends: u64,
    /// Per-kind counts.
    pub counts: Counts,
    /// Distinct states (by 64-bit hash), if counted.
    pub distinct: Option<usize>,
    /// The `sometimes` properties some walk reached.
    pub reached: BTreeSet<&'static str>,
    /// Wall time.
    pub elapsed: Duration,
    /// The violating walk with the lowest index, with that index.
    pub violation: Option<(u64, Walk)>,
    /// Per violated property: the number of walks that violated it first, and the lowest
    /// index among them with its walk.
    pub by_property: BTreeMap<&'static str, (u64, u64, Walk)>,
}

impl Batch {
    /// Steps per second.
    #[must_use]
    pub fn rate(&self) -> f64 {
        self.steps as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

struct Partial {
    walks: u64,
    steps: u64,
    dead_ends: u64,
    counts: Counts,
    seen: HashSet<u64, BuildHasherDefault<DefaultHasher>>,
    reached: Vec<bool>,
    by_property: BTreeMap<&'static str, (u64, u64, Walk)>,
}

impl Walker {
    /// Runs a batch of walks on `b.threads` threads.
    #[must_use]
    pub fn batch(&self, opts: &Options, b: &BatchOptions) -> Batch {
        let start = Instant::now();
        let next = AtomicU64::new(0);
        let first_bad = AtomicU64::new(u64::MAX);
        let steps_done = AtomicU64::new(0);
        let walks_done = AtomicU64::new(0);
        let worker = || {
            let mut p = Partial {
                walks: 0,
                steps: 0,
                dead_ends: 0,
                counts: [0; KINDS.len()],
                seen: HashSet::default(),
                reached: vec![false; self.sometimes.len()],
                by_property: BTreeMap::new(),
            };
            let hasher = BuildHasherDefault::<DefaultHasher>::default();
            loop {
                if b.time_limit.is_some_and(|t| start.elapsed() >= t) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= b.walks || i > first_bad.load(Ordering::Relaxed) {
                    break;
                }
                let seed = b.seed.wrapping_add(i);
                let walk = self.walk(seed, opts, |w| {
                    if b.distinct {
                        p.seen.insert(hasher.hash_one(w));
                    }
                    for (k, s) in self.sometimes.iter().enumerate() {
                        if !p.reached[k] && (s.condition)(&self.model, w) {
                            p.reached[k] = true;
                        }
                    }
                });
                p.walks += 1;
                p.steps += walk.actions.len() as u64;
                for (c, n) in p.counts.iter_mut().zip(walk.counts) {
                    *c += n;
                }
                steps_done.fetch_add(walk.actions.len() as u64, Ordering::Relaxed);
                walks_done.fetch_add(1, Ordering::Relaxed);
                match walk.ending {
                    Ending::DeadEnd => p.dead_ends += 1,
                    Ending::Violated(v) => {
                        if !b.keep_going {
                            first_bad.fetch_min(i, Ordering::Relaxed);
                        }
                        merge_violation(&mut p.by_property, v.property, (1, i, walk));
                    }
                    Ending::StepLimit => {}
                }
            }
            p
        };
        let partials: Vec<Partial> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..b.threads.max(1)).map(|_| s.spawn(worker)).collect();
            if let Some(every) = b.progress {
                let mut last = Instant::now();
                while !handles.iter().all(std::thread::ScopedJoinHandle::is_finished) {
                    std::thread::sleep(Duration::from_millis(50));
                    if last.elapsed() >= every {
                        last = Instant::now();
                        let steps = steps_done.load(Ordering::Relaxed);
                        eprintln!(
                            "  ... {:.0} s: {} walks, {} steps, {:.0} steps/s",
                            start.elapsed().as_secs_f64(),
                            walks_done.load(Ordering::Relaxed),
                            steps,
                            steps as f64 / start.elapsed().as_secs_f64().max(1e-9)
                        );
                    }
                }
            }
            handles.into_iter().map(|h| h.join().expect("a walk thread panicked")).collect()
        });
        let mut out = Batch {
            walks: 0,
            steps: 0,
            dead_ends: 0,
            counts: [0; KINDS.len()],
            distinct: None,
            reached: BTreeSet::new(),
            elapsed: Duration::ZERO,
            violation: None,
            by_property: BTreeMap::new(),
        };
        let mut seen: HashSet<u64, BuildHasherDefault<DefaultHasher>> = HashSet::default();
        for p in partials {
            out.walks += p.walks;
            out.steps += p.steps;
            out.dead_ends += p.dead_ends;
            for (c, n) in out.counts.iter_mut().zip(p.counts) {
                *c += n;
            }
            if seen.len() < p.seen.len() {
                let smaller = std::mem::replace(&mut seen, p.seen);
                seen.extend(smaller);
            } else {
                seen.extend(p.seen);
            }
            for (k, r) in p.reached.iter().enumerate() {
                if *r {
                    out.reached.insert(self.sometimes[k].name);
                }
            }
            for (name, entry) in p.by_property {
                merge_violation(&mut out.by_property, name, entry);
            }
        }
        out.violation =
            out.by_property.values().min_by_key(|(_, i, _)| *i).map(|(_, i, w)| (*i, w.clone()));
        out.distinct = b.distinct.then_some(seen.len());
        out.elapsed = start.elapsed();
        out
    }
}

fn merge_violation(
    into: &mut BTreeMap<&'static str, (u64, u64, Walk)>,
    name: &'static str,
    (n, i, walk): (u64, u64, Walk),
) {
    match into.get_mut(name) {
        Some(e) => {
            e.0 += n;
            if i < e.1 {
                e.1 = i;
                e.2 = walk;
            }
        }
        None => {
            into.insert(name, (n, i, walk));
        }
    }
}

/// The per-kind counts as `name count` pairs, in [`KINDS`] order.
#[must_use]
pub fn counts_text(counts: &Counts) -> String {
    KINDS
        .iter()
        .map(|k| format!("{} {}", k.name(), counts[k.index()]))
        .collect::<Vec<_>>()
        .join(", ")
}
