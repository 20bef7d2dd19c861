//! What an endpoint shows: accessors, the operators' status report, the invariants checked
//! after every step.

use super::{ConnPhase, Endpoint, PartnerView};
use crate::config::Config;
use crate::failover::message::Message;
use crate::failover::state::{EndpointState, Role};
use crate::io::{DurableImage, StateRecord, Timer};
use crate::leases::binding::{Binding, BindingStatus};
use crate::leases::db::BindingDb;
use crate::resource::{ClientKey, Duid, Resource};
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A snapshot for operators (control interface `status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// Role.
    pub role: Role,
    /// Own state.
    pub state: EndpointState,
    /// When the own state began.
    pub state_since: Time,
    /// The partner's last known state.
    pub partner_state: Option<EndpointState>,
    /// Whether comms are OK (§6.1).
    pub comms_ok: bool,
    /// The MCLT in force.
    pub mclt: u32,
    /// Bindings whose "update partner" flag is set.
    pub pending_updates: usize,
    /// BNDUPDs sent and not yet answered.
    pub unacked_updates: usize,
    /// Last measured skew (receive − sent), seconds.
    pub skew: Option<i64>,
    /// ACTIVE leases.
    pub active_leases: usize,
    /// All binding records.
    pub bindings: usize,
    /// When this server entered PARTNER-DOWN, if it is in it.
    pub partner_down_since: Option<Time>,
}

impl Endpoint {
    // ---------------------------------------------------------------- accessors

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current endpoint state.
    #[must_use]
    pub fn state(&self) -> EndpointState {
        self.machine.state()
    }

    /// The role.
    #[must_use]
    pub fn role(&self) -> Role {
        self.config.role
    }

    /// The MCLT in force (the secondary's is the primary's, learned from CONNECT).
    #[must_use]
    pub fn mclt(&self) -> u32 {
        self.machine.mclt()
    }

    /// Whether comms are OK (§6.1: CONNECT, CONNECTREPLY and the partner's STATE exchanged).
    #[must_use]
    pub fn comms_ok(&self) -> bool {
        self.conn.is_ok()
    }

    /// The connection phase.
    #[must_use]
    pub fn conn_phase(&self) -> ConnPhase {
        self.conn.phase()
    }

    /// What this endpoint knows of its partner.
    #[must_use]
    pub fn partner(&self) -> &PartnerView {
        self.conn.partner()
    }

    /// The state record as last persisted.
    #[must_use]
    pub fn record(&self) -> &StateRecord {
        self.machine.record()
    }

    /// When this server entered PARTNER-DOWN, if it is in it.
    #[must_use]
    pub fn partner_down_since(&self) -> Option<Time> {
        (self.machine.state() == EndpointState::PartnerDown)
            .then_some(self.machine.partner_down_time())
    }

    /// The armed timers and their deadlines (what the driver must fire, and when).
    #[must_use]
    pub fn timers(&self) -> &BTreeMap<Timer, Time> {
        &self.timers
    }

    /// The earliest armed deadline: when the driver must next feed [`Input::Timeout`] (`None`:
    /// no timer is armed). It changes only inside a step, so a driver reads it after each
    /// (the timer contract of [`crate::io`]).
    #[must_use]
    pub fn next_deadline(&self) -> Option<Time> {
        self.timers.values().min().copied()
    }

    /// The binding for a resource, if any record exists.
    #[must_use]
    pub fn binding(&self, resource: &Resource) -> Option<&Binding> {
        self.leases.get(resource)
    }

    /// Every binding record, ordered by resource.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.leases.db().iter()
    }

    /// Every binding record of a client (all its IAs).
    #[must_use]
    pub fn leases_of(&self, duid: &Duid) -> Vec<&Binding> {
        self.leases.db().of_duid(duid).collect()
    }

    /// Renames clients: every binding record whose client key `rename` maps to another key
    /// gets that key instead (`None`: unchanged), and the client index follows.
    ///
    /// For the model checker only (failover-specs `reduce`: symmetry reduction over
    /// interchangeable clients); the protocol never calls it. It yields exactly the endpoint
    /// that the same history with the clients named the other way would have built, because
    /// the endpoint holds a client's identity only in its binding records (the by-client index
    /// is derived from them, `BindingDb::from_records` builds the same database as the
    /// record-by-record updates) and reads it only by equality: no decision, and no order of
    /// outputs, depends on how two DUIDs compare. A `rename` that is not a bijection on the
    /// keys present merges clients and yields no such endpoint.
    pub fn rename_clients(&mut self, rename: &dyn Fn(&ClientKey) -> Option<ClientKey>) {
        self.leases.rename_clients(rename);
    }

    /// BNDUPDs sent and not yet answered.
    #[must_use]
    pub fn unacked_count(&self) -> usize {
        self.updates.unacked_count()
    }

    /// Whether `r` is carried by an outstanding BNDUPD.
    #[must_use]
    pub fn is_in_flight(&self, r: &Resource) -> bool {
        self.updates.in_flight().contains(r)
    }

    /// The durable image this endpoint's state corresponds to (for tests and tools; a driver
    /// keeps its own by applying `Persist` outputs).
    #[must_use]
    pub fn to_image(&self) -> DurableImage {
        DurableImage {
            state: Some(self.machine.record().clone()),
            bindings: self.leases.db().records().clone(),
        }
    }

    /// Whether `r` is in one of this server's pools (an address in an address range, a prefix
    /// of the delegated length in a delegable prefix).
    #[must_use]
    pub fn serves(&self, r: &Resource) -> bool {
        self.leases.serves(r)
    }

    /// A snapshot for operators.
    #[must_use]
    pub fn status_report(&self, now: Time) -> StatusReport {
        let _ = now;
        StatusReport {
            role: self.config.role,
            state: self.machine.state(),
            state_since: self.machine.state_since(),
            partner_state: self.conn.partner().state,
            comms_ok: self.comms_ok(),
            mclt: self.mclt(),
            pending_updates: self.leases.db().pending_count(),
            unacked_updates: self.updates.unacked_count(),
            skew: self.conn.skew(),
            active_leases: self.leases.db().active_count(),
            bindings: self.leases.db().len(),
            partner_down_since: self.partner_down_since(),
        }
    }

    /// Checks the endpoint's own invariants (used after every step by the property tests and
    /// the harness). Returns the first violation found.
    ///
    /// # Errors
    /// A description of the broken invariant.
    pub fn check_invariants(&self) -> Result<(), String> {
        use EndpointState::*;
        let db = self.leases.db();
        if *db != BindingDb::from_bindings(db.records().values()) {
            return Err("binding indexes out of step with the records".into());
        }
        // §6.1.1, S16: never more unacked BNDUPDs than the partner can take; the in-flight
        // set matches them; nothing outstanding without comms.
        self.updates.check(self.conn.partner().max_unacked, self.comms_ok())?;
        let state = self.machine.state();
        let record = self.machine.record();
        if state != Startup && record.state != state {
            return Err(format!("recorded state {} differs from live {state}", record.state));
        }
        if state == Startup && !self.timers.contains_key(&Timer::Startup) {
            return Err("STARTUP without its timer".into());
        }
        if state != Startup && self.timers.contains_key(&Timer::Startup) {
            return Err("STARTUP timer armed outside STARTUP".into());
        }
        if self.config.role == Role::Secondary && state == ConflictDone {
            return Err("a secondary never enters CONFLICT-DONE (§8.12)".into());
        }
        if state == RecoverWait && !self.timers.contains_key(&Timer::RecoverWait) {
            return Err("RECOVER-WAIT without its timer".into());
        }
        if self.config.role == Role::Secondary
            && matches!(self.conn.phase(), ConnPhase::Connecting | ConnPhase::AwaitConnectReply)
        {
            return Err("only the primary connects (§6.1)".into());
        }
        for b in db.iter() {
            if b.status == BindingStatus::Active && b.client.is_none() {
                return Err(format!("ACTIVE {} without a client", b.resource));
            }
            if b.status == BindingStatus::PendingFree {
                return Err(format!("{} held in PENDING-FREE", b.resource));
            }
        }
        if self.comms_ok() && !record.communicated {
            return Err("comms OK but the C flag is not recorded".into());
        }
        Ok(())
    }

    /// Whether new leases are held back after a (possible) loss of stable storage whose hold
    /// RECOVER-WAIT did not serve: the server reached a serving state through conflict
    /// resolution (RECOVER → POTENTIAL-CONFLICT → CONFLICT-DONE/NORMAL, §8.5.2) or an
    /// operator's PARTNER-DOWN. Renewals of leases it knows are still answered. Our reading:
    /// the RFC holds only RECOVER-WAIT; without this, a lease granted in PARTNER-DOWN and lost
    /// with the storage during RESOLUTION-INTERRUPTED went to a second client.
    #[must_use]
    pub fn allocation_held(&self) -> bool {
        self.machine.recovering_all()
    }

    /// (Secondary) whether a new connection from the partner's address, whose first message
    /// (after TLS, if configured) is `first`, received at `now`, may replace the connection
    /// that is up. Only a CONNECT this endpoint would accept may (§6.1.2 checks, sent-time
    /// within 5 s, §7.1): the primary opens a new connection only when it has lost the old
    /// one (§6.1), so such a CONNECT says the old connection is dead on its side, and it must
    /// win. Anything else (no message, garbage, STARTTLS, another message, a CONNECT this
    /// endpoint would reject) is not the primary reconnecting and must not disturb the live
    /// connection (RFC 8156 §10: limit accepted connections; docs/design.md "A second
    /// connection"). With no connection up the driver hands every new connection to the core.
    ///
    /// # Errors
    /// Why the new connection is refused (for the log).
    pub fn may_replace_connection(&self, now: Time, first: &Message) -> Result<(), String> {
        crate::failover::connection::may_replace_connection(&self.config, now, first)
    }
}
