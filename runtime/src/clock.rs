//! The driver's clock: the only place `failoverd` reads the time for the core.
//!
//! The core is told `now` as RFC 8156 absolute time ([`Time`], whole seconds). A [`Clock`]
//! gives that, and says how long to sleep before a deadline could have passed, so that timers
//! are never fed early.

use failover_model::Time;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of `now`.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Time;
    /// How long to wait before `deadline` may have been reached (zero if it has).
    fn until(&self, deadline: Time) -> Duration;
}

/// The system clock (`SystemTime`, which NTP keeps within the RFC's 5 s of the partner's).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

impl Clock for SystemClock {
    fn now(&self) -> Time {
        Time::from_unix(since_epoch().as_secs())
    }

    fn until(&self, deadline: Time) -> Duration {
        let due = Duration::from_secs(deadline.to_unix());
        // A deadline of whole second `d` is reached when the clock reads `d`.
        due.saturating_sub(since_epoch())
    }
}

/// A clock that moves only when told (tests).
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU32,
}

impl ManualClock {
    /// A clock reading `t`.
    #[must_use]
    pub fn new(t: Time) -> Self {
        ManualClock { now: AtomicU32::new(t.0) }
    }

    /// Sets the time.
    pub fn set(&self, t: Time) {
        self.now.store(t.0, Ordering::SeqCst);
    }

    /// Moves the time forward.
    pub fn advance(&self, secs: u32) {
        let t = self.now.load(Ordering::SeqCst);
        self.now.store(t.saturating_add(secs), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        Time(self.now.load(Ordering::SeqCst))
    }

    fn until(&self, deadline: Time) -> Duration {
        if self.now() >= deadline {
            Duration::ZERO
        } else {
            Duration::from_millis(5)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_never_early() {
        let c = SystemClock;
        let now = c.now();
        assert_eq!(c.until(now), Duration::ZERO);
        assert!(c.until(now.plus(2)) > Duration::from_secs(1));
    }

    #[test]
    fn manual_clock() {
        let c = ManualClock::new(Time(10));
        assert!(c.until(Time(11)) > Duration::ZERO);
        c.advance(1);
        assert_eq!(c.until(Time(11)), Duration::ZERO);
    }
}
