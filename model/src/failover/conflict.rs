//! Conflict resolution on receiving a BNDUPD (RFC 8156 §7.5.4, Figure 4).
//!
//! Rows are the receiver's current binding-status, columns the status in the update. Times
//! within ±5 s are equal (§7.5.1), so "later" means later by more than 5 s: a tie is rejected
//! by both sides (digest §11.3 item 15), which the RFC tolerates.

use crate::failover::message::StatusCode;
use crate::failover::state::Role;
use crate::leases::binding::{Binding, BindingStatus};
use crate::resource::ClientKey;
use crate::time::Time;

/// The outcome for one lease of a BNDUPD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Accept and store the update.
    Accept,
    /// Reject with this status code.
    Reject(StatusCode),
}

/// The times of a received lease that conflict resolution needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateTimes {
    /// The received binding-status.
    pub status: BindingStatus,
    /// Absolute client-last-transaction time (LQ_BASE_TIME − CLT_TIME), if CLT_TIME was sent.
    pub clt: Option<Time>,
    /// F_START_TIME_OF_STATE.
    pub start_time_of_state: Time,
}

impl UpdateTimes {
    /// Figure 4's t_upd: for ACTIVE, EXPIRED or RELEASED the CLT time if present, else the
    /// start time of state; for any other status the later of the two (§7.5.4).
    #[must_use]
    pub fn t_upd(&self) -> Time {
        match self.status {
            BindingStatus::Active | BindingStatus::Expired | BindingStatus::Released => {
                self.clt.unwrap_or(self.start_time_of_state)
            }
            _ => self.clt.map_or(self.start_time_of_state, |c| c.max(self.start_time_of_state)),
        }
    }
}

/// Decides one lease of a received BNDUPD against the receiver's record (`db`, `None` if the
/// receiver has no record: always accepted).
///
/// Reading (digest §11.3 item 15): Figure 4's time comparisons decide between *concurrent*
/// changes, that is when the receiver's record carries a change of its own that the partner
/// has not acked (`db.pending`). When it carries none, everything the receiver knows about the
/// lease was acked by the partner or came from it, and TCP delivers in order while a BNDREPLY
/// follows the persisted update (§7.5.2), so the update was built on top of the receiver's
/// record and is newer by causality; comparing times with the ±5 s rule would reject a release
/// that follows its grant within 5 s and leave the servers disagreeing. Such updates are
/// accepted, except that time(1) is always applied: a server never gives up its own unexpired
/// ACTIVE lease on the partner's word (§7.5.4).
#[must_use]
pub fn resolve(
    db: Option<&Binding>,
    upd: &UpdateTimes,
    update_client: Option<&ClientKey>,
    receiver: Role,
    now: Time,
) -> Resolution {
    use BindingStatus::*;
    let Some(db) = db else { return Resolution::Accept };
    // Agreement is not a conflict: the same status for the same client (for example both
    // servers expiring a lease at its end) is accepted, or two servers that each sent it would
    // reject each other's within ±5 s at every scan forever (L4).
    let same_client = db.client.as_ref() == update_client;
    if db.status == upd.status && same_client {
        return Resolution::Accept;
    }
    let concurrent = db.pending;
    let outdated = Resolution::Reject(StatusCode::OUTDATED_BINDING_INFORMATION);
    let t_db = db.resolution_time();
    let t_upd = upd.t_upd();
    // "accept": accept if the update's time is later than the receiver's.
    let accept_if_later =
        if !concurrent || t_upd.later_than(t_db) { Resolution::Accept } else { outdated };
    // time(1): accept only if the receiver's own ACTIVE lease has run out.
    let time1 = {
        let end = db.state_expiration_time.unwrap_or(db.client_expiry);
        if now >= end {
            Resolution::Accept
        } else {
            outdated
        }
    };
    // time(2): accept only if the received CLT time is later than the receiver's
    // start-time-of-state.
    let time2_holds = upd.clt.is_some_and(|c| c.later_than(db.start_time_of_state));
    let time2 = if !concurrent || time2_holds { Resolution::Accept } else { outdated };
    match (db.status, upd.status) {
        (Active, Active) => {
            // accept(3): same client → accept; different client → accept if time(2) holds or
            // the receiver is the secondary, else AddressInUse (the primary's view wins).
            let same = match (db.client.as_ref(), update_client) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            };
            if same || !concurrent || time2_holds || receiver == Role::Secondary {
                Resolution::Accept
            } else {
                Resolution::Reject(StatusCode::ADDRESS_IN_USE)
            }
        }
        (Active, Expired | Free | FreeBackup | PendingFree) => time1,
        (Active, Released | Reset | Abandoned) => accept_if_later,
        (Reset, Active) => time2,
        _ => accept_if_later,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{Duid, IaKind, Resource};
    use std::net::Ipv6Addr;

    fn rec(status: BindingStatus, cltt: u32, start: u32, exp: u32, client: u8) -> Binding {
        let mut b = Binding::free(Resource::Address(Ipv6Addr::LOCALHOST), status, Time(start));
        b.cltt = Time(cltt);
        b.client_expiry = Time(exp);
        b.client = Some(ClientKey { duid: Duid::new(vec![client]), kind: IaKind::Na, iaid: 1 });
        b.pending = true;
        b
    }

    fn key(c: u8) -> ClientKey {
        ClientKey { duid: Duid::new(vec![c]), kind: IaKind::Na, iaid: 1 }
    }

    fn upd(status: BindingStatus, clt: Option<u32>, start: u32) -> UpdateTimes {
        UpdateTimes { status, clt: clt.map(Time), start_time_of_state: Time(start) }
    }

    #[test]
    fn agreement_is_not_a_conflict() {
        let db = rec(BindingStatus::Expired, 100, 100, 100, 1);
        let u = upd(BindingStatus::Expired, Some(100), 100);
        assert_eq!(
            resolve(Some(&db), &u, Some(&key(1)), Role::Primary, Time(100)),
            Resolution::Accept
        );
        assert_eq!(
            resolve(Some(&db), &u, Some(&key(2)), Role::Primary, Time(100)),
            Resolution::Reject(StatusCode::OUTDATED_BINDING_INFORMATION)
        );
    }

    #[test]
    fn no_record_accepts() {
        let u = upd(BindingStatus::Active, Some(10), 10);
        assert_eq!(resolve(None, &u, Some(&key(1)), Role::Primary, Time(20)), Resolution::Accept);
    }

    #[test]
    fn accept_needs_strictly_later_beyond_skew() {
        let db = rec(BindingStatus::Expired, 100, 100, 0, 1);
        let later = upd(BindingStatus::Active, Some(106), 106);
        let tie = upd(BindingStatus::Active, Some(105), 105);
        assert_eq!(
            resolve(Some(&db), &later, Some(&key(1)), Role::Primary, Time(200)),
            Resolution::Accept
        );
        assert_eq!(
            resolve(Some(&db), &tie, Some(&key(1)), Role::Primary, Time(200)),
            Resolution::Reject(StatusCode::OUTDATED_BINDING_INFORMATION)
        );
    }

    #[test]
    fn active_vs_active_different_client_primary_wins() {
        let db = rec(BindingStatus::Active, 100, 100, 1000, 1);
        let u = upd(BindingStatus::Active, Some(90), 90);
        assert_eq!(
            resolve(Some(&db), &u, Some(&key(2)), Role::Primary, Time(200)),
            Resolution::Reject(StatusCode::ADDRESS_IN_USE)
        );
        assert_eq!(
            resolve(Some(&db), &u, Some(&key(2)), Role::Secondary, Time(200)),
            Resolution::Accept
        );
        // time(2): a CLT later than our start time wins even on the primary.
        let u2 = upd(BindingStatus::Active, Some(200), 90);
        assert_eq!(
            resolve(Some(&db), &u2, Some(&key(2)), Role::Primary, Time(200)),
            Resolution::Accept
        );
        // Same client: always accepted.
        assert_eq!(
            resolve(Some(&db), &u, Some(&key(1)), Role::Primary, Time(200)),
            Resolution::Accept
        );
    }

    #[test]
    fn active_vs_expired_waits_for_own_expiry() {
        let db = rec(BindingStatus::Active, 100, 100, 1000, 1);
        let u = upd(BindingStatus::Expired, Some(500), 500);
        assert_eq!(
            resolve(Some(&db), &u, Some(&key(1)), Role::Primary, Time(999)),
            Resolution::Reject(StatusCode::OUTDATED_BINDING_INFORMATION)
        );
        assert_eq!(
            resolve(Some(&db), &u, Some(&key(1)), Role::Primary, Time(1000)),
            Resolution::Accept
        );
    }

    #[test]
    fn causally_newer_updates_are_accepted_without_a_time_race() {
        let mut db = rec(BindingStatus::Active, 100, 100, 1000, 1);
        db.pending = false;
        // A release 1 s after the grant: within the skew window, but nothing of ours is
        // unacked, so it is newer by causality.
        let u = upd(BindingStatus::Released, Some(101), 101);
        assert_eq!(
            resolve(Some(&db), &u, Some(&key(1)), Role::Primary, Time(101)),
            Resolution::Accept
        );
        // time(1) still protects our own unexpired lease.
        let e = upd(BindingStatus::Expired, Some(101), 101);
        assert_eq!(
            resolve(Some(&db), &e, Some(&key(1)), Role::Primary, Time(500)),
            Resolution::Reject(StatusCode::OUTDATED_BINDING_INFORMATION)
        );
    }

    /// Figure 4's t_upd: for ACTIVE, EXPIRED and RELEASED the CLT time even when the start
    /// time of state is later; for the other statuses the later of the two.
    #[test]
    fn t_upd_takes_the_clt_for_active_expired_released() {
        for s in [BindingStatus::Active, BindingStatus::Expired, BindingStatus::Released] {
            assert_eq!(upd(s, Some(10), 100).t_upd(), Time(10), "{s:?}");
            assert_eq!(upd(s, None, 100).t_upd(), Time(100), "{s:?}");
        }
        for s in [BindingStatus::Free, BindingStatus::Reset, BindingStatus::Abandoned] {
            assert_eq!(upd(s, Some(10), 100).t_upd(), Time(100), "{s:?}");
            assert_eq!(upd(s, Some(200), 100).t_upd(), Time(200), "{s:?}");
        }
    }

    /// ACTIVE against ACTIVE for another client, at the primary, with nothing of the
    /// primary's own unacked: newer by causality, accepted even without time(2).
    #[test]
    fn active_vs_active_without_a_concurrent_change_is_accepted_on_the_primary() {
        let mut db = rec(BindingStatus::Active, 100, 100, 1000, 1);
        db.pending = false;
        let u = upd(BindingStatus::Active, Some(90), 90);
        assert_eq!(
            resolve(Some(&db), &u, Some(&key(2)), Role::Primary, Time(200)),
            Resolution::Accept
        );
    }

    #[test]
    fn reset_vs_active_is_time2() {
        let db = rec(BindingStatus::Reset, 0, 300, 0, 1);
        assert_eq!(
            resolve(
                Some(&db),
                &upd(BindingStatus::Active, Some(306), 0),
                Some(&key(1)),
                Role::Primary,
                Time(400)
            ),
            Resolution::Accept
        );
        assert_eq!(
            resolve(
                Some(&db),
                &upd(BindingStatus::Active, None, 900),
                Some(&key(1)),
                Role::Primary,
                Time(400)
            ),
            Resolution::Reject(StatusCode::OUTDATED_BINDING_INFORMATION)
        );
    }
}
