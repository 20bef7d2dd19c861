//! Binding records (RFC 8156 §7.3) and the binding-status machine (§7.2, Figure 2).

use crate::resource::{ClientKey, Resource};
use crate::time::Time;
use serde::{Deserialize, Serialize};

/// The binding-status of one lease (§7.2; wire values of OPTION_F_BINDING_STATUS, §5.5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BindingStatus {
    /// The lease belongs to a client.
    Active,
    /// The lease ran out.
    Expired,
    /// The client released it.
    Released,
    /// Transient: an EXPIRED/RELEASED/RESET change was acked (§7.2 (4)). Never held by this
    /// implementation (it resolves at once to FREE or FREE-BACKUP) but accepted on the wire.
    PendingFree,
    /// Available to the primary (and to a secondary in PARTNER-DOWN after the MCLT).
    Free,
    /// Available to the secondary.
    FreeBackup,
    /// Unusable (typically after a DECLINE).
    Abandoned,
    /// Made available by an operator command.
    Reset,
}

impl BindingStatus {
    /// The OPTION_F_BINDING_STATUS wire value (§5.5.1).
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            BindingStatus::Active => 1,
            BindingStatus::Expired => 2,
            BindingStatus::Released => 3,
            BindingStatus::PendingFree => 4,
            BindingStatus::Free => 5,
            BindingStatus::FreeBackup => 6,
            BindingStatus::Abandoned => 7,
            BindingStatus::Reset => 8,
        }
    }

    /// Parses a wire value; 0 (reserved) and unknown values give `None`.
    #[must_use]
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => BindingStatus::Active,
            2 => BindingStatus::Expired,
            3 => BindingStatus::Released,
            4 => BindingStatus::PendingFree,
            5 => BindingStatus::Free,
            6 => BindingStatus::FreeBackup,
            7 => BindingStatus::Abandoned,
            8 => BindingStatus::Reset,
            _ => return None,
        })
    }

    /// The RFC's name for the status.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            BindingStatus::Active => "ACTIVE",
            BindingStatus::Expired => "EXPIRED",
            BindingStatus::Released => "RELEASED",
            BindingStatus::PendingFree => "PENDING-FREE",
            BindingStatus::Free => "FREE",
            BindingStatus::FreeBackup => "FREE-BACKUP",
            BindingStatus::Abandoned => "ABANDONED",
            BindingStatus::Reset => "RESET",
        }
    }

    /// Statuses that wait for the partner's ack before the lease can go to another client
    /// (§7.2 transition (4)).
    #[must_use]
    pub fn awaits_ack_to_free(self) -> bool {
        matches!(self, BindingStatus::Expired | BindingStatus::Released | BindingStatus::Reset)
    }

    /// FREE or FREE-BACKUP (or the transient PENDING-FREE).
    #[must_use]
    pub fn is_available(self) -> bool {
        matches!(self, BindingStatus::Free | BindingStatus::FreeBackup | BindingStatus::PendingFree)
    }
}

/// §7.2 items (5)/(6), §4.2.1, §4.2.2: what PENDING-FREE resolves to.
///
/// RFC 8156 Figure 3 prints this table transposed (Proportional: FREE / FREE-BACKUP;
/// Independent: FREE / FREE). We follow the **text** (digest §3.3, §11.3 item 1): a released
/// delegable prefix always returns to the primary (FREE); an address returns to the owner of its
/// bit-127 half (FREE on the primary's side, FREE-BACKUP on the secondary's).
#[must_use]
pub fn pending_free_resolves_to(resource: &Resource) -> BindingStatus {
    match resource.primary_half() {
        Some(false) => BindingStatus::FreeBackup,
        Some(true) | None => BindingStatus::Free,
    }
}

/// One lease as a failover endpoint records it: every per-lease field of RFC 8156 §7.3, plus
/// the DHCP-layer values told to the client and the lazy-update bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Binding {
    /// The address or prefix.
    pub resource: Resource,
    /// The binding-status (§7.2).
    pub status: BindingStatus,
    /// The client that holds (or last held) the lease, when known.
    pub client: Option<ClientKey>,
    /// Preferred lifetime as last sent to the client (seconds).
    pub preferred_lifetime: u32,
    /// Valid lifetime as last sent to the client (seconds).
    pub valid_lifetime: u32,
    /// T1 and T2 of the IA as last sent to the client.
    pub t1: u32,
    /// T2 of the IA.
    pub t2: u32,
    /// Absolute time the client's lease ends (`cltt + valid_lifetime` at the last grant).
    pub client_expiry: Time,
    /// §7.3 start-time-of-state: when the current binding-status began.
    pub start_time_of_state: Time,
    /// §7.3 state-expiration-time: when the current status ends, if it has a timeout.
    pub state_expiration_time: Option<Time>,
    /// §7.3 partner-lifetime: the last value sent (or to send) to the partner. Unlike §7.7 it is
    /// not zeroed by the ack (`pending` and `version` say what is outstanding).
    pub partner_lifetime: Time,
    /// §7.3 acknowledged-partner-lifetime: the largest partner lifetime the partner acked.
    pub acked_partner_lifetime: Time,
    /// §7.3 expiration-time: the largest partner lifetime *this* server acked to the partner
    /// (max rule on both sides, digest §11.3 item 5).
    pub expiration_time: Time,
    /// §7.3 client-last-transaction-time.
    pub cltt: Time,
    /// §7.3 partner-raw-clt-time: the partner's CLTT as received, never adjusted.
    pub partner_raw_clt_time: Time,
    /// The "update partner" flag (§4.3, §7.5.4): a change the partner has not acked.
    pub pending: bool,
    /// Local change counter, used to match a BNDREPLY to the update it answers so that an
    /// ack of an older update does not clear a newer pending change (§7.7, digest §6.7).
    pub version: u32,
}

impl Binding {
    /// Moves every time of the record by `delta` seconds ([`Time::translated`]; the model
    /// checker's time canonicalisation, never a driver).
    pub fn translate(&mut self, delta: i64) {
        self.map_times(&|t| t.translated(delta));
    }

    /// Replaces every time `t` of the record by `f(t)` (`f` keeps [`Time::ZERO`]; see
    /// `Endpoint::map_times`).
    pub fn map_times(&mut self, f: &impl Fn(Time) -> Time) {
        for t in [
            &mut self.client_expiry,
            &mut self.start_time_of_state,
            &mut self.partner_lifetime,
            &mut self.acked_partner_lifetime,
            &mut self.expiration_time,
            &mut self.cltt,
            &mut self.partner_raw_clt_time,
        ] {
            *t = f(*t);
        }
        self.state_expiration_time = self.state_expiration_time.map(f);
    }

    /// A fresh, never-used binding for `resource` in `status` (FREE or FREE-BACKUP).
    #[must_use]
    pub fn free(resource: Resource, status: BindingStatus, now: Time) -> Self {
        Binding {
            resource,
            status,
            client: None,
            preferred_lifetime: 0,
            valid_lifetime: 0,
            t1: 0,
            t2: 0,
            client_expiry: Time::ZERO,
            start_time_of_state: now,
            state_expiration_time: None,
            partner_lifetime: Time::ZERO,
            acked_partner_lifetime: Time::ZERO,
            expiration_time: Time::ZERO,
            cltt: Time::ZERO,
            partner_raw_clt_time: Time::ZERO,
            pending: false,
            version: 0,
        }
    }

    /// Moves to `status` at `now`, recording the change for the partner (sets the pending flag
    /// and bumps the version).
    pub fn set_status(&mut self, status: BindingStatus, now: Time) {
        if self.status != status {
            self.start_time_of_state = now;
        }
        self.status = status;
        self.mark_changed();
    }

    /// Makes the lease `key`'s at `now` with these lifetimes: ACTIVE (a new status, or a
    /// renewal of the same client's lease), the lifetimes, T1/T2 and CLTT as told to the
    /// client, the client's expiry, and the partner lifetime to propose for `desired` seconds
    /// (§4.4.1); the change is flagged for the partner (§4.3). This is the whole record of a
    /// grant: the server decisions ([`crate::dhcp::server`]) call it with lifetimes already cut to
    /// the MCLT, and an import of leases granted by another server (`failoverd import-kea`)
    /// calls it with the CLTT and lifetimes that server gave.
    pub fn grant(&mut self, key: &ClientKey, now: Time, preferred: u32, valid: u32, desired: u32) {
        if self.status != BindingStatus::Active || self.client.as_ref() != Some(key) {
            self.set_status(BindingStatus::Active, now);
        } else {
            self.mark_changed();
        }
        self.client = Some(key.clone());
        self.preferred_lifetime = preferred;
        self.valid_lifetime = valid;
        self.t1 = preferred / 2;
        self.t2 = preferred.saturating_mul(4) / 5;
        self.cltt = now;
        self.client_expiry = now.plus(valid);
        self.state_expiration_time = Some(self.client_expiry);
        self.partner_lifetime = crate::leases::mclt::partner_lifetime(now, valid, desired);
    }

    /// Records a local change that the partner must learn about (§4.3).
    pub fn mark_changed(&mut self) {
        self.pending = true;
        self.version = self.version.wrapping_add(1);
    }

    /// The time used for this binding in conflict resolution (Figure 4's "t_db"): the CLTT if
    /// known, else the start time of the state (§7.5.4).
    #[must_use]
    pub fn resolution_time(&self) -> Time {
        if self.cltt.is_zero() {
            self.start_time_of_state
        } else {
            self.cltt
        }
    }

    /// Whether a client currently holds the lease at `now` (ACTIVE and not past its expiry).
    #[must_use]
    pub fn is_held(&self, now: Time) -> bool {
        self.status == BindingStatus::Active && self.client_expiry > now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn codes_round_trip() {
        for c in 0..=255u8 {
            if let Some(s) = BindingStatus::from_code(c) {
                assert_eq!(s.code(), c);
            } else {
                assert!(c == 0 || c > 8);
            }
        }
    }

    #[test]
    fn pending_free_follows_the_text_not_figure_3() {
        let odd = Resource::Address(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let even = Resource::Address(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
        let pfx = Resource::Prefix(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0), 56);
        assert_eq!(pending_free_resolves_to(&odd), BindingStatus::Free);
        assert_eq!(pending_free_resolves_to(&even), BindingStatus::FreeBackup);
        assert_eq!(pending_free_resolves_to(&pfx), BindingStatus::Free);
    }
}
