//! Rate-limited logging of a condition that repeats (a partner rejecting every connection,
//! RFC 8156 §6.1): the first occurrence of each kind is logged; later ones within the window
//! are only counted, and the next line logged after the window says how many were left out
//! ("N more in the last M s"). The time is the driver's clock (whole seconds), so the policy is
//! deterministic and tested without waiting.

use failover_model::Time;
use std::collections::BTreeMap;

/// Seconds between two log lines of the same kind.
pub const REPEAT_LOG_WINDOW: u32 = 60;

/// What to do with one occurrence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; `held` occurrences of the same kind were left out of the log over the last
    /// `over` seconds (since the previous line).
    Log {
        /// Occurrences counted but not logged since the previous line.
        held: u32,
        /// Seconds since the previous line.
        over: u32,
    },
    /// Count it, do not log it.
    Hold,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    logged_at: Time,
    held: u32,
}

/// The per-kind state of the limiter.
#[derive(Debug)]
pub struct RepeatLog {
    window: u32,
    kinds: BTreeMap<&'static str, Slot>,
}

impl Default for RepeatLog {
    fn default() -> Self {
        RepeatLog::new(REPEAT_LOG_WINDOW)
    }
}

impl RepeatLog {
    /// A limiter logging each kind at most once per `window` seconds.
    #[must_use]
    pub fn new(window: u32) -> Self {
        RepeatLog { window, kinds: BTreeMap::new() }
    }

    /// One occurrence of `kind` at `now`.
    pub fn occur(&mut self, kind: &'static str, now: Time) -> Verdict {
        match self.kinds.get_mut(kind) {
            // A clock stepped backwards ends the window rather than stretching it.
            Some(slot) if now >= slot.logged_at && now.since(slot.logged_at) < self.window => {
                slot.held = slot.held.saturating_add(1);
                Verdict::Hold
            }
            Some(slot) => {
                let v = Verdict::Log { held: slot.held, over: now.since(slot.logged_at) };
                *slot = Slot { logged_at: now, held: 0 };
                v
            }
            None => {
                self.kinds.insert(kind, Slot { logged_at: now, held: 0 });
                Verdict::Log { held: 0, over: 0 }
            }
        }
    }

    /// Ends every run (the condition is over, e.g. comms are OK): returns, for each kind with
    /// occurrences left out, `(kind, held, seconds since its last line)`, and forgets them all,
    /// so that the next occurrence is logged at once.
    pub fn flush(&mut self, now: Time) -> Vec<(&'static str, u32, u32)> {
        let out = self
            .kinds
            .iter()
            .filter(|(_, s)| s.held > 0)
            .map(|(k, s)| (*k, s.held, now.since(s.logged_at)))
            .collect();
        self.kinds.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_logged_repeats_summarised_once_per_window() {
        let mut r = RepeatLog::new(60);
        let t = Time(1_000);
        assert_eq!(r.occur("time_skew", t), Verdict::Log { held: 0, over: 0 });
        // One rejection a second for 93 s: two lines, the second summarising 59 held ones.
        let mut logged = vec![];
        for s in 1..=92 {
            if let Verdict::Log { held, over } = r.occur("time_skew", t.plus(s)) {
                logged.push((s, held, over));
            }
        }
        assert_eq!(logged, vec![(60, 59, 60)]);
        // Kinds are independent.
        assert_eq!(r.occur("disconnect", t.plus(93)), Verdict::Log { held: 0, over: 0 });
        // Comms OK: the rest is reported and the next occurrence logged at once.
        assert_eq!(r.flush(t.plus(95)), vec![("time_skew", 32, 35)]);
        assert_eq!(r.occur("time_skew", t.plus(96)), Verdict::Log { held: 0, over: 0 });
        assert!(r.flush(t.plus(97)).is_empty());
    }

    #[test]
    fn a_clock_stepped_back_ends_the_window() {
        let mut r = RepeatLog::new(60);
        assert_eq!(r.occur("k", Time(1_000)), Verdict::Log { held: 0, over: 0 });
        assert_eq!(r.occur("k", Time(1_001)), Verdict::Hold);
        assert_eq!(r.occur("k", Time(900)), Verdict::Log { held: 1, over: 0 });
    }
}
