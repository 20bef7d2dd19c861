//! Stand-ins for two core accessors that are announced on `main` but not merged yet:
//! `Endpoint::status_report(now)` and `Endpoint::leases_of(duid)`. Inherent methods win over
//! these trait methods, so once the core has them this module is deleted without other
//! changes. The stand-in report fills only what the public accessors show.

use failover_model::{Binding, BindingStatus, Duid, Endpoint, StatusReport, Time};

/// The announced accessors.
pub trait EndpointExt {
    /// A status snapshot.
    fn status_report(&self, now: Time) -> StatusReport;
    /// The bindings held by (or last held by) a client.
    fn leases_of(&self, duid: &Duid) -> Vec<&Binding>;
}

impl EndpointExt for Endpoint {
    fn status_report(&self, now: Time) -> StatusReport {
        StatusReport {
            role: self.config().role,
            state: self.state(),
            state_since: Time::ZERO,
            partner_state: None,
            comms_ok: false,
            mclt: self.config().mclt,
            pending_updates: self.bindings().filter(|b| b.pending).count(),
            unacked_updates: 0,
            skew: None,
            active_leases: self
                .bindings()
                .filter(|b| b.status == BindingStatus::Active && b.is_held(now))
                .count(),
            bindings: self.bindings().count(),
            partner_down_since: None,
        }
    }

    fn leases_of(&self, duid: &Duid) -> Vec<&Binding> {
        self.bindings().filter(|b| b.client.as_ref().is_some_and(|c| &c.duid == duid)).collect()
    }
}
