//! The endpoint state machine's own record (RFC 8156 §8): the durable state record, the live
//! state, what STARTUP found in storage (§8.3.2), and the bookkeeping of a transition (§8.1).
//!
//! The transition tables are in [`crate::failover::state`]; the exit and entry actions, which
//! reach the connection, the updates and the leases, are the endpoint's
//! (`crate::endpoint`). This module keeps the record: `Machine::record_transition`.

use crate::config::Config;
use crate::failover::connection::PartnerView;
use crate::failover::message::{ServerFlags, StateOptions};
use crate::failover::state::{self, EndpointState, Role};
use crate::io::{Event, StateRecord, Timer};
use crate::sink::Sink;
use crate::time::Time;
use serde::{Deserialize, Serialize};

/// The §8 state of one endpoint and its durable record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Machine {
    /// The durable state record as last written (or to be written).
    record: StateRecord,
    /// The live state (STARTUP is never recorded, §8.3.1).
    state: EndpointState,
    state_since: Time,
    /// §8.3.2 PREVIOUS-STATE (after step 2).
    previous_state: EndpointState,
    /// The state recorded in stable storage at restore (RECOVER without a record, §8.3.2 step
    /// 1): what a STATE sent in STARTUP carries (§8.3.1), before step 2 rewrites it.
    recorded_state: EndpointState,
    /// Storage held a state record at restore.
    had_record: bool,
    /// The update request that just completed asked for everything (UPDREQALL): this server
    /// had lost its storage, so RECOVER-WAIT holds for the longest lifetime (§8.6.2 reading).
    recovered_all: bool,
    /// This server's C flag as restored (before this run's connections).
    communicated_at_start: bool,
    /// When this run started (TIME-OF-FAILURE bound, §8.6.2).
    started_at: Time,
    /// The last recorded operating time found in storage at restore (§8.3.2 step 5).
    stopped_at: Time,
}

impl Machine {
    /// The machine as restored from the record in storage (if any), entering STARTUP
    /// (§8.3.2 steps 1 and 2).
    pub(crate) fn restore(config: &Config, stored: Option<StateRecord>, now: Time) -> Machine {
        let had_record = stored.is_some();
        let mut record = stored.unwrap_or(StateRecord {
            state: EndpointState::Recover,
            start_time_of_state: now,
            partner_state: None,
            partner_state_start: Time::ZERO,
            partner_down_time: Time::ZERO,
            last_operating_time: Time::ZERO,
            time_of_failure: Time::ZERO,
            mclt: config.mclt,
            communicated: false,
            partner_communicated: false,
            // No record: this server may have lost its storage. Until a recovery completes it
            // counts as such, across further crashes too (it persists with the first record):
            // it asks for everything if its partner has a record of it, and holds RECOVER-WAIT
            // for the longest lifetime (found by the pair property test: storage lost in
            // PARTNER-DOWN, then a crash keeping the new, nearly empty record, used to shorten
            // the hold to the MCLT and re-allocate a lease granted in PARTNER-DOWN).
            recovering_all: true,
        });
        // The primary's MCLT rules (§6.1.2); the secondary keeps the one it learned.
        if config.role == Role::Primary || record.mclt < crate::config::MIN_LEASE_TIME {
            record.mclt = config.mclt;
        }
        // §8.3.2 steps 1 and 2.
        let recorded = had_record.then_some(record.state);
        let recorded_state = state::startup_previous_state(recorded);
        let previous_state = state::startup_apply_comms_failed(recorded_state);
        let stopped_at = record.last_operating_time;
        if record.state == EndpointState::Startup {
            // STARTUP is never recorded (§8.3.1); a record saying so is treated as none.
            record.state = EndpointState::Recover;
        }
        Machine {
            communicated_at_start: record.communicated,
            record,
            state: EndpointState::Startup,
            state_since: now,
            previous_state,
            recorded_state,
            had_record,
            recovered_all: false,
            started_at: now,
            stopped_at,
        }
    }

    /// Replaces every time `t` by `f(t)` (`Endpoint::map_times`).
    pub(crate) fn map_times(&mut self, f: &impl Fn(Time) -> Time) {
        self.record.map_times(f);
        for t in [&mut self.state_since, &mut self.started_at, &mut self.stopped_at] {
            *t = f(*t);
        }
    }

    // ------------------------------------------------------------ reading

    /// The live state.
    pub(crate) fn state(&self) -> EndpointState {
        self.state
    }

    /// When the live state began.
    pub(crate) fn state_since(&self) -> Time {
        self.state_since
    }

    /// The state record.
    pub(crate) fn record(&self) -> &StateRecord {
        &self.record
    }

    /// The MCLT in force.
    pub(crate) fn mclt(&self) -> u32 {
        self.record.mclt
    }

    /// When this server entered PARTNER-DOWN (zero outside it).
    pub(crate) fn partner_down_time(&self) -> Time {
        self.record.partner_down_time
    }

    /// Whether new leases are held back after a (possible) loss of storage
    /// (`Endpoint::allocation_held`).
    pub(crate) fn recovering_all(&self) -> bool {
        self.record.recovering_all
    }

    // ------------------------------------------------------------ the record

    /// Persists the state record, advancing its last operating time.
    pub(crate) fn persist(&mut self, now: Time, sink: &mut Sink) {
        self.record.last_operating_time = self.record.last_operating_time.max(now);
        sink.persist_state(&self.record);
    }

    /// Adopts the primary's MCLT (§6.1.2). True if it changed (to be persisted).
    pub(crate) fn adopt_mclt(&mut self, mclt: u32) -> bool {
        let changed = self.record.mclt != mclt;
        self.record.mclt = mclt;
        changed
    }

    /// §6.4: records the partner's state from its STATE (SHOULD).
    pub(crate) fn note_partner_state(&mut self, partner: &PartnerView, communicated: bool) {
        self.record.partner_state = partner.state;
        self.record.partner_state_start = partner.state_start;
        self.record.partner_communicated = communicated;
    }

    /// Comms reached OK: the C flag is set (§8.5.2).
    pub(crate) fn note_communicated(&mut self) {
        self.record.communicated = true;
    }

    /// Comms failed at `now` (§8.6.2 TIME-OF-FAILURE).
    pub(crate) fn note_failure(&mut self, now: Time) {
        self.record.time_of_failure = now;
    }

    /// An UPDDONE answered our request; `all` if it was UPDREQALL.
    pub(crate) fn note_updates_received(&mut self, all: bool) {
        if all {
            // Everything the partner knows is now ours: a later request needs only updates.
            self.communicated_at_start = true;
        }
        self.recovered_all = all;
    }

    /// Remembers across a crash that recovery needs everything (§8.5.2). True if the record
    /// changed (to be persisted).
    pub(crate) fn note_needs_everything(&mut self) -> bool {
        let changed = !self.record.recovering_all;
        self.record.recovering_all = true;
        changed
    }

    /// The hold after a storage loss, reached outside RECOVER-WAIT, is over at `now`. True if
    /// the record changed (to be persisted).
    pub(crate) fn end_storage_hold_if_due(&mut self, config: &Config, now: Time) -> bool {
        if self.record.recovering_all && now >= self.storage_hold_end(config) {
            self.record.recovering_all = false;
            return true;
        }
        false
    }

    /// §8.3.2 step 6 (and the commissioning option of step 1): where STARTUP goes when its
    /// time is up.
    pub(crate) fn startup_timeout_target(&mut self, config: &Config) -> EndpointState {
        if !self.had_record && config.startup_partner_down_if_alone {
            // The operator configured this lone server as new (commissioning): nothing was
            // lost, so no hold.
            self.record.recovering_all = false;
            EndpointState::PartnerDown
        } else {
            self.previous_state
        }
    }

    /// §8.3.2 step 5: where STARTUP goes once the partner's STATE is in. A partner itself in
    /// STARTUP reports its recorded state, which says nothing about where it is now: the PD
    /// exception needs its real state (`trusted` false keeps PREVIOUS-STATE).
    pub(crate) fn startup_target(&self, partner: &PartnerView, trusted: bool) -> EndpointState {
        let mut current = self.previous_state;
        if let (true, Some(pstate)) = (trusted, partner.state) {
            let pd_start = if partner.partner_down_time.is_zero() {
                partner.state_start
            } else {
                partner.partner_down_time
            };
            current =
                state::startup_on_comms_ok(self.previous_state, pstate, pd_start, self.stopped_at);
        }
        current
    }

    /// The end of the hold after a (possible) loss of stable storage: this run's start plus
    /// the longer of the MCLT and the longest valid lifetime configured. Leases granted in
    /// PARTNER-DOWN are bounded by their lifetime, not by the MCLT (§8.4.1), and after the loss
    /// nobody may know them; by then they have all run out.
    pub(crate) fn storage_hold_end(&self, config: &Config) -> Time {
        let hold =
            self.mclt().max(config.address_lifetimes.valid).max(config.prefix_lifetimes.valid);
        self.started_at.plus(hold)
    }

    /// Whether this server must ask for every binding: it lost its stable storage (no record
    /// of having talked to its partner while the partner has one, §8.5.2), or a recovery of
    /// everything was interrupted by a crash.
    pub(crate) fn needs_everything(&self, partner: &PartnerView) -> bool {
        partner.first_communicated == Some(true)
            && (!self.communicated_at_start || self.record.recovering_all)
    }

    /// §8.6.2: when RECOVER-WAIT entered at `now` ends: TIME-OF-FAILURE + MCLT. The crash time
    /// is bounded by this run's start time, which is what we use (a time by which the server
    /// certainly was no longer running, §8.3.2 step 1). A server that never ran failover with
    /// this partner (neither side's C flag was set) goes straight on.
    pub(crate) fn recover_wait_end(
        &self,
        config: &Config,
        partner: &PartnerView,
        now: Time,
    ) -> Time {
        let never_ran = !self.communicated_at_start && partner.first_communicated == Some(false);
        // Reading (found by the pair property test): after a loss of storage this server
        // cannot know whether it was in PARTNER-DOWN before the crash, and leases granted in
        // PARTNER-DOWN are bounded by their lifetime, not by the MCLT (§8.4.1); nobody else
        // knows them. So it waits the longer of the MCLT and the longest valid lifetime it
        // hands out. With its storage intact its own records cover those leases and the MCLT
        // suffices.
        let at = if never_ran {
            now
        } else if self.had_record && !self.recovered_all && !self.record.recovering_all {
            self.started_at.plus(self.mclt())
        } else {
            self.storage_hold_end(config)
        };
        at.max(now)
    }

    /// §6.3: a STATE carries our state (the recorded one while in STARTUP, with S set), our
    /// flags, the start time of the state, and PARTNER_DOWN_TIME only in PARTNER-DOWN.
    ///
    /// §8.3.1: in STARTUP the state is "the previously recorded failover state", the value
    /// found in stable storage (step 1), not PREVIOUS-STATE after step 2's rewrite: a server
    /// that crashed in NORMAL says NORMAL, not COMMUNICATIONS-INTERRUPTED.
    pub(crate) fn state_options(&self, ack_startup: bool) -> StateOptions {
        let startup = self.state == EndpointState::Startup;
        let server_state = if startup { self.recorded_state } else { self.state };
        StateOptions {
            server_state: Some(server_state),
            flags: Some(ServerFlags {
                startup,
                ack_startup,
                communicated: self.record.communicated,
            }),
            start_time_of_state: Some(if startup {
                self.record.start_time_of_state
            } else {
                self.state_since
            }),
            partner_down_time: (self.state == EndpointState::PartnerDown)
                .then_some(self.record.partner_down_time),
            unknown: Vec::new(),
        }
    }

    // ------------------------------------------------------------ a transition

    /// The record keeping of a move to `to` (§8.1): the live state and its start, the new
    /// record (state, time, PD entry, the partner's state), the storage-loss hold when a
    /// serving state is reached without having served it, then the record is persisted and the
    /// change reported. Returns the state left, or `None` when there is no move (the same
    /// state, or STARTUP, which is never entered again).
    pub(crate) fn record_transition(
        &mut self,
        now: Time,
        to: EndpointState,
        config: &Config,
        partner: &PartnerView,
        sink: &mut Sink,
    ) -> Option<EndpointState> {
        let from = self.state;
        if from == to || to == EndpointState::Startup {
            return None;
        }
        self.state = to;
        self.state_since = now;
        let resumed = from == EndpointState::Startup && self.had_record && self.record.state == to;
        if resumed {
            // Returning to the recorded state keeps its start (and PD entry) time, so that the
            // partner's §8.3.2 step 5 comparison and the PD waits stay truthful.
            self.state_since = self.record.start_time_of_state;
        } else {
            self.record.start_time_of_state = now;
            self.record.partner_down_time =
                if to == EndpointState::PartnerDown { now } else { Time::ZERO };
        }
        if to != EndpointState::PartnerDown {
            self.record.partner_down_time = Time::ZERO;
        }
        self.record.state = to;
        self.record.partner_state = partner.state;
        self.record.partner_state_start = partner.state_start;
        if to == EndpointState::RecoverDone {
            // The recovery from a possible storage loss is over once RECOVER-WAIT's hold has
            // been served: a crash before then must restart it with the long hold (found by
            // the pair property test).
            self.record.recovering_all = false;
        }
        if self.record.recovering_all && state::may_allocate(to, config.role) {
            // Reached a serving state without serving the hold (conflict resolution after a
            // storage loss ends in NORMAL; an operator's PARTNER-DOWN): new leases wait for it
            // (`allocation_held`), and its end clears the mark.
            let end = self.storage_hold_end(config);
            if now >= end {
                self.record.recovering_all = false;
            } else if !sink.armed(Timer::RecoverWait) {
                sink.alarm(format!(
                    "storage was lost: no new leases until {end:?}, when every lease granted \
                     before the loss has run out"
                ));
                sink.set_timer(Timer::RecoverWait, end);
            }
        }
        self.persist(now, sink);
        sink.event(Event::StateChanged { from, to });
        Some(from)
    }
}
