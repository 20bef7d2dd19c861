//! Time as RFC 8156 §3 "absolute time": seconds since 2000-01-01T00:00:00Z, modulo 2^32.
//!
//! The core never reads a clock. Every entry point is told `now` as a [`Time`]; durations are
//! plain `u32` seconds. Comparisons that the RFC says tolerate clock skew use
//! [`SKEW_TOLERANCE`] (§7.5.1: times within ±5 s count as equal).

use serde::{Deserialize, Serialize};

/// Seconds between the Unix epoch and the RFC 8156 epoch (2000-01-01T00:00:00Z).
pub const UNIX_OFFSET: u64 = 946_684_800;

/// §7.5.1 / §6.1.2: two times within this many seconds are "equal", and a partner whose
/// sent-time differs from the receive time by more is skewed.
pub const SKEW_TOLERANCE: u32 = 5;

/// An absolute time: seconds since 2000-01-01 UTC (RFC 8156 §3). `Time(0)` doubles as the
/// RFC's "no time" (for example `partner_lifetime` = 0 means nothing is pending, §7.7).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Time(pub u32);

impl Time {
    /// The RFC's zero time (also "unknown" / "nothing pending").
    pub const ZERO: Time = Time(0);
    /// The largest representable time.
    pub const MAX: Time = Time(u32::MAX);

    /// `self + secs`, saturating at [`Time::MAX`] (never wraps inside the core).
    #[must_use]
    pub fn plus(self, secs: u32) -> Time {
        Time(self.0.saturating_add(secs))
    }

    /// `self - secs`, saturating at zero.
    #[must_use]
    pub fn minus(self, secs: u32) -> Time {
        Time(self.0.saturating_sub(secs))
    }

    /// Seconds from `earlier` to `self`, zero if `earlier` is later.
    #[must_use]
    pub fn since(self, earlier: Time) -> u32 {
        self.0.saturating_sub(earlier.0)
    }

    /// Whether this is the zero ("unset") time.
    #[must_use]
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// §7.5.1: `a` and `b` are equal within ±[`SKEW_TOLERANCE`].
    #[must_use]
    pub fn approx_eq(self, other: Time) -> bool {
        self.0.abs_diff(other.0) <= SKEW_TOLERANCE
    }

    /// §7.5.1, §7.5.4: `self` is *later* than `other` in the skew-tolerant sense: later by
    /// more than [`SKEW_TOLERANCE`]. A tie within ±5 s is not later (digest §11.3 item 15).
    #[must_use]
    pub fn later_than(self, other: Time) -> bool {
        self.0 > other.0.saturating_add(SKEW_TOLERANCE)
    }

    /// This time moved by `delta` seconds, keeping [`Time::ZERO`] (the RFC's "no time") as it
    /// is: the time translation of the model checker's time canonicalisation
    /// (`Endpoint::translate`, docs/model.md *Time translation*). Never used by a driver.
    ///
    /// # Panics
    /// A non-zero time would leave `1..=u32::MAX - 1` (the translation would no longer commute
    /// with the core's saturating arithmetic and zero tests).
    #[must_use]
    pub fn translated(self, delta: i64) -> Time {
        if self.is_zero() {
            return self;
        }
        let t = i64::from(self.0) + delta;
        assert!(
            t > 0 && t < i64::from(u32::MAX),
            "time translation of {self} by {delta} leaves the representable range"
        );
        Time(u32::try_from(t).unwrap_or(u32::MAX))
    }

    /// Converts from Unix seconds (the runtime's clock), saturating outside the u32 range.
    #[must_use]
    pub fn from_unix(unix_secs: u64) -> Time {
        let s = unix_secs.saturating_sub(UNIX_OFFSET);
        Time(u32::try_from(s).unwrap_or(u32::MAX))
    }

    /// Unix seconds for this time.
    #[must_use]
    pub fn to_unix(self) -> u64 {
        u64::from(self.0) + UNIX_OFFSET
    }
}

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "t{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_tolerant_comparisons() {
        assert!(Time(100).approx_eq(Time(105)));
        assert!(!Time(100).approx_eq(Time(106)));
        assert!(Time(106).later_than(Time(100)));
        assert!(!Time(105).later_than(Time(100)));
        assert!(!Time(0).later_than(Time(u32::MAX)));
    }

    #[test]
    fn saturating_arithmetic() {
        assert_eq!(Time(u32::MAX - 1).plus(10), Time::MAX);
        assert_eq!(Time(3).minus(10), Time::ZERO);
        assert_eq!(Time(3).since(Time(10)), 0);
        assert_eq!(Time::from_unix(UNIX_OFFSET + 42), Time(42));
        assert_eq!(Time::from_unix(0), Time::ZERO);
        assert_eq!(Time(42).to_unix(), UNIX_OFFSET + 42);
    }

    #[test]
    fn translation_keeps_the_zero_time() {
        assert_eq!(Time(1000).translated(-999), Time(1));
        assert_eq!(Time(1000).translated(15), Time(1015));
        assert_eq!(Time::ZERO.translated(-5), Time::ZERO);
        assert_eq!(Time::ZERO.translated(5), Time::ZERO);
    }

    #[test]
    #[should_panic(expected = "leaves the representable range")]
    fn translation_never_reaches_the_zero_time() {
        let _ = Time(1000).translated(-1000);
    }
}
