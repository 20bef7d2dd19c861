//! Lifetimes under the Maximum Client Lead Time (RFC 8156 §4.4) and the PARTNER-DOWN waits
//! (§4.2.2.1, §8.4.1).
//!
//! The invariant every grant outside PARTNER-DOWN keeps (§4.4, digest §5.2):
//!
//! ```text
//! client expiry  ≤  max(acked partner lifetime, now) + MCLT
//! ```

use crate::leases::binding::Binding;
use crate::time::Time;

/// §4.4.1: the valid lifetime to give a client: `min(desired, max(acked − now, 0) + MCLT)`
/// when the MCLT applies, `desired` otherwise (PARTNER-DOWN, §8.4.1).
#[must_use]
pub fn client_lifetime(
    desired: u32,
    acked_partner_lifetime: Time,
    now: Time,
    mclt: u32,
    mclt_applies: bool,
) -> u32 {
    if !mclt_applies {
        return desired;
    }
    desired.min(acked_partner_lifetime.since(now).saturating_add(mclt))
}

/// §4.4.1: the partner lifetime to propose with a grant of `actual` seconds when the desired
/// lifetime is `desired`: `now + T1 × actual + desired` with the T1 fraction ½. It is never
/// earlier than the client's expiry (`desired ≥ actual`), so once acked the next renewal can
/// grant the full desired lifetime.
#[must_use]
pub fn partner_lifetime(now: Time, actual: u32, desired: u32) -> Time {
    now.plus(actual / 2).plus(desired.max(actual))
}

/// §7.2 transition (4) and §4.2.2.1 in PARTNER-DOWN: an EXPIRED, RELEASED or RESET lease
/// becomes PENDING-FREE (and may go to another client) once the MCLT has passed since it
/// entered that status, with no ack, and not before the MCLT beyond the latest of the
/// client's expiry, the partner lifetime sent, the acked partner lifetime, the expiration time
/// acked to the partner and the PARTNER-DOWN entry time. (§8.4.1's "if that would be earlier
/// than now + MCLT use PD-entry + MCLT" is a v4 leftover; this max form is the safe reading of
/// both, digest §11.3 item 14.)
#[must_use]
pub fn partner_down_free_time(b: &Binding, pd_entry: Time, mclt: u32) -> Time {
    partner_down_wait_base(b).max(pd_entry).plus(mclt)
}

/// The binding's part of [`partner_down_free_time`]: the latest of its start time of state,
/// client expiry, partner lifetime, acked partner lifetime and expiration time. The free time
/// is `max(base, pd_entry) + MCLT`, monotone in the base, so the binding database indexes
/// EXPIRED/RELEASED/RESET records by it and the earliest free time is its first entry.
#[must_use]
pub fn partner_down_wait_base(b: &Binding) -> Time {
    b.start_time_of_state
        .max(b.client_expiry)
        .max(b.partner_lifetime)
        .max(b.acked_partner_lifetime)
        .max(b.expiration_time)
}

/// §4.2.2, §8.4.1: a delegable prefix (or, never for addresses, §4.2.1) that was available to
/// the partner when this server entered PARTNER-DOWN may be used from this time on.
#[must_use]
pub fn partner_pool_usable_from(pd_entry: Time, mclt: u32) -> Time {
    pd_entry.plus(mclt)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8156 §4.4.1, Figure 1: MCLT = 1 h, desired lifetime = 3 d, T1 = ½.
    #[test]
    fn section_4_4_1_worked_example() {
        const H: u32 = 3600;
        const D: u32 = 24 * H;
        let mclt = H;
        let desired = 3 * D;
        let t = Time(1_000_000);

        // t: new lease. Nothing acked yet → client gets the MCLT (1 h); partner lifetime sent
        // is ½ h + 3 d from now.
        let actual = client_lifetime(desired, Time::ZERO, t, mclt, true);
        assert_eq!(actual, H);
        let pl = partner_lifetime(t, actual, desired);
        assert_eq!(pl, t.plus(H / 2 + 3 * D));

        // t + ½ h: RENEW. The partner acked pl, which is 3 d ahead → client gets 3 d;
        // partner lifetime sent is 1.5 d + 3 d = 4.5 d from now.
        let t2 = t.plus(H / 2);
        assert_eq!(pl.since(t2), 3 * D);
        let actual2 = client_lifetime(desired, pl, t2, mclt, true);
        assert_eq!(actual2, 3 * D);
        let pl2 = partner_lifetime(t2, actual2, desired);
        assert_eq!(pl2.since(t2), 3 * D / 2 + 3 * D);

        // t + ½ h + 1.5 d: RENEW at T1. Acked is 3 d ahead again → steady state: 3 d to the
        // client, 4.5 d to the partner.
        let t3 = t2.plus(3 * D / 2);
        assert_eq!(pl2.since(t3), 3 * D);
        let actual3 = client_lifetime(desired, pl2, t3, mclt, true);
        assert_eq!(actual3, 3 * D);
        assert_eq!(partner_lifetime(t3, actual3, desired).since(t3), 3 * D / 2 + 3 * D);
    }

    #[test]
    fn free_time_is_the_max_of_both_rules() {
        let mut b = Binding::free(
            crate::resource::Resource::Address(std::net::Ipv6Addr::LOCALHOST),
            crate::leases::binding::BindingStatus::Expired,
            Time(500),
        );
        b.client_expiry = Time(400);
        b.expiration_time = Time(700);
        // max(start + MCLT, MCLT + max(times, pd entry)).
        assert_eq!(partner_down_free_time(&b, Time(600), 30), Time(730));
        assert_eq!(partner_down_free_time(&b, Time(900), 30), Time(930));
        b.expiration_time = Time(0);
        assert_eq!(partner_down_free_time(&b, Time(100), 30), Time(530));
        // The MCLT beyond the latest of start, expiry, lifetimes and the PD entry.
        let latest = b
            .start_time_of_state
            .max(b.client_expiry)
            .max(b.partner_lifetime)
            .max(b.acked_partner_lifetime)
            .max(b.expiration_time)
            .max(Time(100));
        assert_eq!(partner_down_free_time(&b, Time(100), 30), latest.plus(30));
    }

    #[test]
    fn partner_down_is_not_bound_by_the_mclt() {
        assert_eq!(client_lifetime(1000, Time::ZERO, Time(50), 30, false), 1000);
        assert_eq!(client_lifetime(1000, Time::ZERO, Time(50), 30, true), 30);
        // The acked lifetime in the past counts as now.
        assert_eq!(client_lifetime(1000, Time(10), Time(50), 30, true), 30);
    }
}
