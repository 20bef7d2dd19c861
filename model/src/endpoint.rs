//! The failover endpoint: one role in one relationship (RFC 8156 §6.2), tying together the
//! state machine, the binding database, the pools, lazy updates and the DHCPv6 decisions.
//!
//! (API surface; the behaviour is being filled in.)

use crate::binding::Binding;
use crate::config::Config;
use crate::io::{DurableImage, Input, Output, Timer};
use crate::resource::Resource;
use crate::state::{EndpointState, Role};
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

/// One failover endpoint. `Clone + Eq + Hash` so the model checker can hash whole states.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    config: Config,
    state: EndpointState,
    timers: BTreeMap<Timer, Time>,
    bindings: BTreeMap<Resource, Binding>,
}

impl Endpoint {
    /// A fresh endpoint with empty storage (equivalent to restoring an empty image).
    #[must_use]
    pub fn new(config: Config, now: Time) -> (Endpoint, Vec<Output>) {
        Endpoint::restore(config, &DurableImage::default(), now)
    }

    /// Rebuilds an endpoint from exactly what a crash leaves on disk and enters STARTUP
    /// (§8.3.2). The outputs arm the STARTUP timer and, for the primary, ask to connect.
    #[must_use]
    pub fn restore(config: Config, image: &DurableImage, now: Time) -> (Endpoint, Vec<Output>) {
        let _ = now;
        let ep = Endpoint {
            config,
            state: EndpointState::Startup,
            timers: BTreeMap::new(),
            bindings: image.bindings.clone(),
        };
        (ep, Vec::new())
    }

    /// Feeds one input at time `now`; returns the outputs to carry out, in order.
    pub fn handle(&mut self, now: Time, input: Input) -> Vec<Output> {
        let _ = (now, input);
        Vec::new()
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current endpoint state.
    #[must_use]
    pub fn state(&self) -> EndpointState {
        self.state
    }

    /// The armed timers and their deadlines (what the driver must fire, and when).
    #[must_use]
    pub fn timers(&self) -> &BTreeMap<Timer, Time> {
        &self.timers
    }

    /// The binding for a resource, if any record exists.
    #[must_use]
    pub fn binding(&self, resource: &Resource) -> Option<&Binding> {
        self.bindings.get(resource)
    }

    /// Every binding record, ordered by resource.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.values()
    }
}
