//! Time translation of a checked world (issue 13, "time canonicalisation").
//!
//! The core is time-translation equivariant (`failover_model::Endpoint::translate`, and
//! docs/model.md *Time translation* for what the core compares): two worlds that differ only by
//! moving every time — the clock, every endpoint's and durable image's times, the messages in
//! flight, the clients' ledgers and the ghost times — by the same amount have the same futures
//! up to that amount, and every property gives the same answer on both
//! ([`translate_world`]; `tests/timeshift.rs` checks both along random walks).
//!
//! [`canonical_time`] maps a world to the member of its translation class whose clock reads
//! [`CANONICAL_NOW`]. Alone it merges nothing: with the absolute horizon of
//! [`crate::config::Bounds::horizon`] the remaining horizon is part of every state's future
//! (the clock is recoverable from the canonical world plus its remaining horizon: the map is
//! one to one), and even without it every world keeps times that only age (this run's start,
//! a free binding's start of state, ...), so two worlds at different clocks always differ
//! ([`census`] counts it: 0 merged in `unit`, `tiny`, `ci` and `partition`). [`canonicalise`]
//! adds the other half: it shortens the long gaps of the past ([`compress_past`]), which no
//! future comparison can tell apart, so that a world without a horizon would have finitely
//! many canonical times.
//!
//! **Not used by the checker's searches.** A horizon-free search with [`canonicalise`] on
//! every state still does not close: the endpoints' transaction-id counters (and the bindings'
//! change versions) grow with every message, so an idle NORMAL pair never repeats (docs/model.md
//! *Time translation*: `unit` without a horizon passed 136,000 states at depth 38,000 in five
//! minutes, against 2,883 with it). Canonicalising those counters is the missing half.

use crate::model::{Action, FailoverModel};
use crate::world::{Wire, World};
use failover_model::Time;
use stateright::Model;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

/// The clock of a canonical world: far enough from zero that every time a bounded run holds
/// stays positive after the translation (a run starts at `T0` = 1000 and holds no time before
/// it, so any world with `now < CANONICAL_NOW + 1000` translates).
pub const CANONICAL_NOW: Time = Time(1_000_000);

/// Moves every time in `w` by `delta` seconds: the clock, both servers' endpoints and durable
/// images, the messages on the partner connection, the clients' ledgers and the ghost times.
/// The RFC's zero "no time" stays zero ([`Time::translated`]).
///
/// # Panics
/// A non-zero time would leave the representable range.
pub fn translate_world(w: &mut World, delta: i64) {
    map_world_times(w, &|t| t.translated(delta));
}

/// Replaces every time `t` in `w` by `f(t)`: the clock, both servers' endpoints and durable
/// images, the messages on the partner connection, the clients' ledgers and the ghost times
/// (`f` must keep [`Time::ZERO`], the RFC's "no time").
pub fn map_world_times(w: &mut World, f: &impl Fn(Time) -> Time) {
    w.now = f(w.now);
    for s in &mut w.servers {
        if let Some(ep) = &mut s.live {
            ep.map_times(f);
        }
        s.image.map_times(f);
    }
    for q in &mut w.link.fifo {
        for wire in q.iter_mut() {
            if let Wire::Msg(m) = wire {
                m.map_times(f);
            }
        }
    }
    for c in &mut w.clients {
        for h in &mut c.leases {
            h.valid_until = f(h.valid_until);
            h.renew_at = f(h.renew_at);
        }
    }
    let g = &mut w.ghost;
    for watch in g.pd_watch.iter_mut().flatten() {
        for pw in watch {
            pw.wait_until = f(pw.wait_until);
        }
    }
    for t in g.down_at.iter_mut().flatten() {
        *t = f(*t);
    }
    for t in g.pd_entered.iter_mut().flatten() {
        *t = f(*t);
    }
    if let Some(t) = &mut g.stable_since {
        *t = f(*t);
    }
}

/// Every non-zero time in `w`, sorted, without duplicates.
#[must_use]
pub fn times_of(w: &World) -> Vec<Time> {
    let seen = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let mut copy = w.clone();
    map_world_times(&mut copy, &|t| {
        if !t.is_zero() {
            seen.borrow_mut().insert(t);
        }
        t
    });
    seen.into_inner().into_iter().collect()
}

/// The past of `w` with its long gaps shortened: every time older than `now - margin` is moved
/// later so that no two consecutive times of the world below that anchor (the anchor
/// included) lie more than `gap` seconds apart; later times stay. A monotone map of the
/// world's times, the identity on `[now - margin, ∞)`.
///
/// Sound for the checker's futures when every duration the core or a property adds to a stored
/// time before comparing it is shorter than `gap` minus the skew tolerance and clock offset
/// ([`compress_gap`], docs/model.md *Time translation*); [`canonicalise`] uses it so.
#[must_use]
pub fn compress_past(w: &World, gap: u32, margin: u32) -> World {
    let anchor = w.now.minus(margin);
    let times = times_of(w);
    let mut map = std::collections::BTreeMap::new();
    let (mut prev_old, mut prev_new) = (anchor, anchor);
    for &t in times.iter().rev().filter(|&&t| t < anchor) {
        let new = prev_new.minus(prev_old.since(t).min(gap));
        map.insert(t, new);
        (prev_old, prev_new) = (t, new);
    }
    let mut w = w.clone();
    map_world_times(&mut w, &|t| map.get(&t).copied().unwrap_or(t));
    w
}

/// `w` moved by `delta` seconds (see [`translate_world`]).
#[must_use]
pub fn translated(w: &World, delta: i64) -> World {
    let mut w = w.clone();
    translate_world(&mut w, delta);
    w
}

/// An action moved by `delta` seconds: only `Advance` names a time.
#[must_use]
pub fn translate_action(a: &Action, delta: i64) -> Action {
    match a {
        Action::Advance { to } => Action::Advance { to: to.translated(delta) },
        other => other.clone(),
    }
}

/// The representative of `w`'s translation class: `w` moved so that its clock reads
/// [`CANONICAL_NOW`]. Written as a plain function so that it composes with a state
/// permutation (the client symmetry) if a reduction ever uses it.
#[must_use]
pub fn canonical_time(w: &World) -> World {
    translated(w, i64::from(CANONICAL_NOW.0) - i64::from(w.now.0))
}

/// The gap [`canonicalise`] shortens the past to: longer than every duration the core or a
/// property adds to a stored time before comparing it (the MCLT, the configured preferred and
/// valid lifetimes, and the hold after a storage loss, their maximum), plus the §7.5.1 skew
/// tolerance and the clock offset between the servers, rounded up to the model's 15 s grid.
/// L1's window `K` is longer and is handled apart (see [`canonicalise`]).
#[must_use]
pub fn compress_gap(m: &FailoverModel) -> u32 {
    let longest = m
        .configs
        .iter()
        .flat_map(|c| {
            [
                c.mclt,
                c.address_lifetimes.valid,
                c.address_lifetimes.preferred,
                c.prefix_lifetimes.valid,
                c.prefix_lifetimes.preferred,
            ]
        })
        .chain([m.timing.mclt])
        .max()
        .unwrap_or(0);
    let offset = m.offsets.iter().max().copied().unwrap_or(0);
    let g = longest + failover_model::time::SKEW_TOLERANCE + offset + 1;
    g.div_ceil(15) * 15
}

/// The time canonicalisation of a horizon-free search: the past shortened to gaps
/// of at most [`compress_gap`] ([`compress_past`] with the anchor at `now`), except L1's ghost
/// clock `stable_since`, which is raised to `now - K` when older instead (L1 only asks whether
/// `now >= stable_since + K`, and `now` never goes back), then the world moved so that its clock reads
/// [`CANONICAL_NOW`] ([`canonical_time`]). The soundness argument is in docs/model.md *Time
/// translation*; `tests/timeshift.rs` checks along random walks that it commutes with every
/// step and every property.
#[must_use]
pub fn canonicalise(m: &FailoverModel, w: &World) -> World {
    let mut w = w.clone();
    // L1's clock takes no part in the compression: it is only ever compared with the clock,
    // `K` later, so raised to `now - K` it keeps its distance to `now`.
    let stable = w.ghost.stable_since.take().map(|t| {
        if m.liveness_k > 0 {
            t.max(w.now.minus(m.liveness_k))
        } else {
            t
        }
    });
    let mut w = compress_past(&w, compress_gap(m), 0);
    w.ghost.stable_since = stable;
    canonical_time(&w)
}

/// What [`census`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Unique reachable states (the checker's count).
    pub states: usize,
    /// Unique translation classes among them ([`canonical_time`] of each).
    pub classes: usize,
    /// Unique classes of translation after [`compress_past`] (when asked for).
    pub compressed: usize,
}

fn fingerprint(w: &World) -> u64 {
    let mut h = DefaultHasher::new();
    w.hash(&mut h);
    h.finish()
}

/// Explores every reachable state of `model` (a depth-first search, one thread, fingerprints
/// only) and counts how many distinct translation classes they fall into: the most a time
/// canonicalisation could merge in this space if nothing else (the horizon) told the members of
/// a class apart. Stops after `limit` states (then the counts are of the part explored).
///
/// With `compress = Some((gap, margin))` it also counts the classes after [`compress_past`].
#[must_use]
pub fn census(model: &FailoverModel, limit: usize, compress: Option<(u32, u32)>) -> Census {
    let mut seen = HashSet::new();
    let mut classes = HashSet::new();
    let mut compressed = HashSet::new();
    let mut classify = |w: &World| {
        classes.insert(fingerprint(&canonical_time(w)));
        if let Some((gap, margin)) = compress {
            compressed.insert(fingerprint(&canonical_time(&compress_past(w, gap, margin))));
        }
    };
    let mut stack = Vec::new();
    for w in model.init_states() {
        if seen.insert(fingerprint(&w)) {
            classify(&w);
            stack.push(w);
        }
    }
    let mut actions = Vec::new();
    while let Some(w) = stack.pop() {
        if seen.len() >= limit {
            break;
        }
        actions.clear();
        model.actions(&w, &mut actions);
        for a in actions.drain(..) {
            let Some(next) = model.next_state(&w, a) else { continue };
            if seen.insert(fingerprint(&next)) {
                classify(&next);
                stack.push(next);
            }
        }
    }
    Census { states: seen.len(), classes: classes.len(), compressed: compressed.len() }
}
