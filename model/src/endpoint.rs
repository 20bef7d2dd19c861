//! The failover endpoint: one role in one relationship (RFC 8156 §6.2), tying together the
//! endpoint state machine (§8), the connection (§6), the binding database (§7), the pools
//! (§4.2), lazy updates (§4.3, §7.4-§7.7) and the DHCPv6 server decisions ([`crate::server`]).
//!
//! # Driving contract
//!
//! Create an endpoint with [`Endpoint::restore`] (or [`Endpoint::new`] for empty storage), then
//! feed it one [`Input`] at a time with the current time through [`Endpoint::handle`], and
//! carry out every returned [`Output`] in order before the next input (see [`crate::io`]).
//! The endpoint never reads a clock, a socket or a disk, and never panics on any input.

use crate::config::Config;
use crate::failover::message::{
    ConnectOptions, DisconnectOptions, Message, MessageBody, NoOptions, ServerFlags, StateOptions,
    Status, StatusCode, CONNECT_FLAG_FIXED_PD_LENGTH, PROTOCOL_VERSION, XID_MAX,
};
use crate::failover::state::{self, EndpointState, Role};
use crate::io::{
    Command, DurableImage, DurableWrite, Event, Input, Output, Rejection, StateRecord, Timer,
};
use crate::leases::binding::{pending_free_resolves_to, Binding, BindingStatus};
use crate::leases::db::BindingDb;
use crate::leases::pool::Pools;
use crate::resource::{Duid, Resource};
use crate::time::{Time, SKEW_TOLERANCE};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

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

/// Where the partner connection stands (§6.1, Figure 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConnPhase {
    /// No transport.
    Down,
    /// (Primary) a connection attempt is under way.
    Connecting,
    /// (Secondary) transport up, waiting for CONNECT.
    AwaitConnect,
    /// (Primary) CONNECT sent, waiting for CONNECTREPLY.
    AwaitConnectReply,
    /// CONNECT/CONNECTREPLY exchanged, our STATE sent, waiting for the partner's STATE.
    AwaitState,
    /// Comms OK: the partner's STATE has been received (§6.1).
    Ok,
}

/// What this endpoint knows about its partner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PartnerView {
    /// The partner's state from its last STATE (its recorded state while it is in STARTUP).
    pub state: Option<EndpointState>,
    /// The partner's F_START_TIME_OF_STATE.
    pub state_start: Time,
    /// The partner's F_PARTNER_DOWN_TIME (zero unless it is in PARTNER-DOWN).
    pub partner_down_time: Time,
    /// The partner's flags from its last STATE.
    pub flags: ServerFlags,
    /// The C flag of the first STATE on this connection (§8.5.2, §8.6.2).
    pub first_communicated: Option<bool>,
    /// The partner's keepalive time (§6.1.1), driving our FO_SEND_TIME.
    pub keepalive_time: u32,
    /// The partner's MAX_UNACKED_BNDUPD.
    pub max_unacked: u32,
}

/// One binding carried in an outstanding BNDUPD.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Sent {
    pub(crate) resource: Resource,
    /// The binding's version when the update was built (§7.7 caveat, digest §6.7).
    pub(crate) version: u32,
    /// A proportional take-back (stand-alone IAPREFIX with FREE, §4.2.2).
    pub(crate) takeback: bool,
}

/// One failover endpoint. `Clone + Eq + Hash` so the model checker can hash whole states.
///
/// # Example: driving an endpoint
///
/// ```
/// use failover_model::{Config, DurableImage, Endpoint, EndpointState, Input, Output, Role, Time};
///
/// let mut disk = DurableImage::default();
/// let now = Time(1_000);
/// // Restore from what is on disk (here: nothing) and carry out the outputs in order.
/// let (mut ep, outputs) = Endpoint::restore(Config::example(Role::Secondary), &disk, now);
/// assert_eq!(ep.state(), EndpointState::Startup);
/// for o in &outputs {
///     if let Output::Persist(w) = o {
///         disk.apply(w); // durable before anything after it leaves the machine
///     }
/// }
/// // Timers are the endpoint's own: after each step the driver asks for the next deadline,
/// // sleeps until then and feeds `Input::Timeout`, which fires every due timer in a fixed
/// // order (by deadline, then `Timer` order). Never earlier than the deadline.
/// let at = ep.next_deadline().expect("STARTUP is timed");
/// assert!(ep.handle(at.minus(1), Input::Timeout).is_empty(), "nothing is due yet");
/// for o in ep.handle(at, Input::Timeout) {
///     if let Output::Persist(w) = &o {
///         disk.apply(w);
///     }
/// }
/// // No partner and no record: STARTUP ends in RECOVER (§8.3.2), which answers no client.
/// assert_eq!(ep.state(), EndpointState::Recover);
/// // A crash loses only what was not on disk: the restored endpoint starts from the record.
/// let (again, _) = Endpoint::restore(ep.config().clone(), &disk, at.plus(60));
/// assert_eq!(again.record().state, EndpointState::Recover);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    pub(crate) config: Config,
    pub(crate) pools: Pools,
    pub(crate) db: BindingDb,
    /// The durable state record as last written (or to be written).
    pub(crate) record: StateRecord,
    /// The live state (STARTUP is never recorded, §8.3.1).
    pub(crate) state: EndpointState,
    pub(crate) state_since: Time,
    /// §8.3.2 PREVIOUS-STATE (after step 2).
    pub(crate) previous_state: EndpointState,
    /// The state recorded in stable storage at restore (RECOVER without a record, §8.3.2 step
    /// 1): what a STATE sent in STARTUP carries (§8.3.1), before step 2 rewrites it.
    pub(crate) recorded_state: EndpointState,
    /// Storage held a state record at restore.
    pub(crate) had_record: bool,
    /// The update request that just completed asked for everything (UPDREQALL): this server
    /// had lost its storage, so RECOVER-WAIT holds for the longest lifetime (§8.6.2 reading).
    pub(crate) recovered_all: bool,
    /// This server's C flag as restored (before this run's connections).
    pub(crate) communicated_at_start: bool,
    /// When this run started (TIME-OF-FAILURE bound, §8.6.2).
    pub(crate) started_at: Time,
    /// The last recorded operating time found in storage at restore (§8.3.2 step 5).
    pub(crate) stopped_at: Time,
    pub(crate) conn: ConnPhase,
    pub(crate) partner: PartnerView,
    pub(crate) timers: BTreeMap<Timer, Time>,
    pub(crate) next_xid: u32,
    /// Outstanding BNDUPDs by transaction id.
    pub(crate) unacked: BTreeMap<u32, Vec<Sent>>,
    pub(crate) in_flight: BTreeSet<Resource>,
    /// EXPIRED or RELEASED leases whose state has gone (or, after a restart, may have gone) to
    /// the partner in a BNDUPD: they no longer go back to their client before they are FREE
    /// (§4.2.2.1, §8.8.1 "cannot be allocated to the same client again if a BNDUPD message was
    /// sent"). Kept across connection breaks; a restore counts every such lease in.
    pub(crate) announced: BTreeSet<Resource>,
    /// Flagged after a rejection while already flagged: wait for the next scan (§7.5.4).
    pub(crate) held: BTreeSet<Resource>,
    /// Prefixes to take back from the secondary (§4.2.2), not yet sent.
    pub(crate) takeback: BTreeSet<Resource>,
    /// Answering the partner's UPDREQ (false) or UPDREQALL (true) with this xid.
    pub(crate) serving: Option<(u32, bool)>,
    /// The updates that request asked for: each resource pending when it arrived (every
    /// binding for UPDREQALL) with its version then. UPDDONE waits for these alone (§5.3.5,
    /// §5.3.7), so changes made afterwards cannot starve it; they are sent first.
    pub(crate) requested_updates: BTreeMap<Resource, u32>,
    /// Our outstanding UPDREQ (false) / UPDREQALL (true).
    pub(crate) requested: Option<(u32, bool)>,
    /// The xid of our outstanding CONNECT (primary) or POOLREQ (secondary): its answer must
    /// carry it (§5.4), and no new message takes it while it is open.
    pub(crate) open_request: Option<u32>,
    pub(crate) skew: Option<i64>,
    /// §6.1 back-off: consecutive connection rejections since comms were last OK, capped at
    /// [`REJECTED_RECONNECT_MAX_DOUBLINGS`] (in memory only: a restart starts afresh).
    pub(crate) rejections: u32,
    pub(crate) send_time: u32,
    pub(crate) shut_down: bool,
    /// Transient within one step: a message was sent (re-arm FO_SEND_TIMER once).
    pub(crate) sent_in_step: bool,
}

/// The most prefixes one rebalancing pass hands off or takes back (§4.2.2 leaves the policy
/// to the implementation; a bound keeps one step's work and one burst of BNDUPDs small).
pub const MAX_REBALANCE_PER_PASS: u64 = 1024;

/// §6.1: "In the event that a connection has been rejected by a CONNECTREPLY message with an
/// OPTION_STATUS_CODE option contained in it or a DISCONNECT message, a server SHOULD reduce
/// the frequency with which it attempts to connect to that server, but it MUST continue to
/// attempt to connect periodically." Each consecutive rejection doubles the primary's
/// reconnection delay, starting from `reconnect_interval`, at most this many times (64×) ...
pub const REJECTED_RECONNECT_MAX_DOUBLINGS: u32 = 6;

/// ... and never beyond this many seconds (unless `reconnect_interval` itself is longer): once
/// the cause is gone (NTP fixed the clock, the configuration was corrected) the pair is back
/// together within five minutes, while a persistent rejection costs about a dozen attempts an
/// hour instead of one per interval. At the default interval (5 s) the two bounds nearly meet
/// (64 × 5 = 320 s, capped to 300 s).
pub const REJECTED_RECONNECT_MAX_DELAY: u32 = 300;

/// The primary's delay before its next connection attempt after `rejections` consecutive
/// rejections (§6.1 back-off; zero rejections: the configured interval).
#[must_use]
pub fn reconnect_delay(reconnect_interval: u32, rejections: u32) -> u32 {
    if rejections == 0 {
        return reconnect_interval;
    }
    let doublings = rejections.min(REJECTED_RECONNECT_MAX_DOUBLINGS);
    reconnect_interval
        .saturating_mul(1 << doublings)
        .min(REJECTED_RECONNECT_MAX_DELAY.max(reconnect_interval))
}

impl Endpoint {
    /// A fresh endpoint with empty storage (equivalent to restoring an empty image).
    #[must_use]
    pub fn new(config: Config, now: Time) -> (Endpoint, Vec<Output>) {
        Endpoint::restore(config, &DurableImage::default(), now)
    }

    /// Rebuilds an endpoint from exactly what a crash leaves on disk and enters STARTUP
    /// (§8.3.2). The outputs arm the STARTUP timer and, for the primary, ask to connect.
    ///
    /// The image is copied; a caller that has no further use for it should hand it over with
    /// [`Endpoint::restore_owned`] (same result), so that image and endpoint do not both hold
    /// every binding.
    #[must_use]
    pub fn restore(config: Config, image: &DurableImage, now: Time) -> (Endpoint, Vec<Output>) {
        Endpoint::restore_owned(config, image.clone(), now)
    }

    /// [`Endpoint::restore`], taking the image over: its bindings move into the endpoint's
    /// database instead of being copied (a restart from a large store holds each binding once).
    #[must_use]
    pub fn restore_owned(
        config: Config,
        image: DurableImage,
        now: Time,
    ) -> (Endpoint, Vec<Output>) {
        let DurableImage { state, bindings } = image;
        let had_record = state.is_some();
        let mut record = state.unwrap_or(StateRecord {
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
        let partner = PartnerView {
            state: record.partner_state,
            state_start: record.partner_state_start,
            keepalive_time: config.keepalive_time,
            max_unacked: 1,
            ..PartnerView::default()
        };
        let record_last_operating = record.last_operating_time;
        if record.state == EndpointState::Startup {
            // STARTUP is never recorded (§8.3.1); a record saying so is treated as none.
            record.state = EndpointState::Recover;
        }
        let (db, repaired) = sanitize(bindings);
        let mut ep = Endpoint {
            pools: Pools::new(&config),
            db,
            communicated_at_start: record.communicated,
            record,
            state: EndpointState::Startup,
            state_since: now,
            previous_state,
            recorded_state,
            had_record,
            recovered_all: false,
            started_at: now,
            stopped_at: record_last_operating,
            conn: ConnPhase::Down,
            partner,
            timers: BTreeMap::new(),
            next_xid: 1,
            unacked: BTreeMap::new(),
            in_flight: BTreeSet::new(),
            announced: BTreeSet::new(),
            held: BTreeSet::new(),
            takeback: BTreeSet::new(),
            serving: None,
            requested_updates: BTreeMap::new(),
            requested: None,
            open_request: None,
            skew: None,
            rejections: 0,
            send_time: config.default_send_time(),
            shut_down: false,
            sent_in_step: false,
            config,
        };
        // Whether the update of an EXPIRED or RELEASED lease left before the crash is unknown:
        // assume it did (the same client may not have it back until it is FREE).
        ep.announced = ep
            .db
            .iter()
            .filter(|b| matches!(b.status, BindingStatus::Expired | BindingStatus::Released))
            .map(|b| b.resource)
            .collect();
        let mut out = Vec::new();
        for r in repaired {
            out.push(Output::Event(Event::Alarm(format!(
                "stored binding {r} was inconsistent and was set aside (ABANDONED) at restore"
            ))));
        }
        // §8.3.2 step 3.
        ep.set_timer(Timer::Startup, now.plus(ep.config.startup_time), &mut out);
        // §8.3.2 step 4: the primary connects; the secondary listens (the driver's job).
        if ep.config.role == Role::Primary {
            ep.conn = ConnPhase::Connecting;
            out.push(Output::Connect);
        }
        if ep.config.heartbeat_interval > 0 {
            ep.set_timer(Timer::Heartbeat, now.plus(ep.config.heartbeat_interval), &mut out);
        }
        ep.finish_step(now, &mut out);
        (ep, out)
    }

    /// Feeds one input at time `now`; returns the outputs to carry out, in order.
    pub fn handle(&mut self, now: Time, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Client(req) => self.on_client(now, req, &mut out),
            Input::Partner(msg) => self.on_partner_message(now, msg, &mut out),
            Input::PartnerMalformed { reason } => {
                if self.conn != ConnPhase::Down {
                    out.push(Output::Event(Event::PartnerRejected { reason }));
                    self.drop_connection(now, &mut out);
                }
            }
            Input::ConnectionUp => self.on_connection_up(now, &mut out),
            Input::ConnectionDown => {
                if self.conn != ConnPhase::Down {
                    self.comms_down(now, &mut out);
                }
            }
            Input::Timer(t) => self.on_timer(now, t, &mut out),
            Input::Timeout => self.on_timeout(now, &mut out),
            Input::Command(c) => self.on_command(now, c, &mut out),
        }
        self.finish_step(now, &mut out);
        out
    }

    // ---------------------------------------------------------------- accessors

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

    /// The role.
    #[must_use]
    pub fn role(&self) -> Role {
        self.config.role
    }

    /// The MCLT in force (the secondary's is the primary's, learned from CONNECT).
    #[must_use]
    pub fn mclt(&self) -> u32 {
        self.record.mclt
    }

    /// Whether comms are OK (§6.1: CONNECT, CONNECTREPLY and the partner's STATE exchanged).
    #[must_use]
    pub fn comms_ok(&self) -> bool {
        self.conn == ConnPhase::Ok
    }

    /// The connection phase.
    #[must_use]
    pub fn conn_phase(&self) -> ConnPhase {
        self.conn
    }

    /// What this endpoint knows of its partner.
    #[must_use]
    pub fn partner(&self) -> &PartnerView {
        &self.partner
    }

    /// The state record as last persisted.
    #[must_use]
    pub fn record(&self) -> &StateRecord {
        &self.record
    }

    /// When this server entered PARTNER-DOWN, if it is in it.
    #[must_use]
    pub fn partner_down_since(&self) -> Option<Time> {
        (self.state == EndpointState::PartnerDown).then_some(self.record.partner_down_time)
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
        self.db.get(resource)
    }

    /// Every binding record, ordered by resource.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.db.iter()
    }

    /// Every binding record of a client (all its IAs).
    #[must_use]
    pub fn leases_of(&self, duid: &Duid) -> Vec<&Binding> {
        self.db.of_duid(duid).collect()
    }

    /// BNDUPDs sent and not yet answered.
    #[must_use]
    pub fn unacked_count(&self) -> usize {
        self.unacked.len()
    }

    /// Whether `r` is carried by an outstanding BNDUPD.
    #[must_use]
    pub fn is_in_flight(&self, r: &Resource) -> bool {
        self.in_flight.contains(r)
    }

    /// The durable image this endpoint's state corresponds to (for tests and tools; a driver
    /// keeps its own by applying `Persist` outputs).
    #[must_use]
    pub fn to_image(&self) -> DurableImage {
        DurableImage { state: Some(self.record.clone()), bindings: self.db.records().clone() }
    }

    /// Whether `r` is in one of this server's pools (an address in an address range, a prefix
    /// of the delegated length in a delegable prefix).
    #[must_use]
    pub fn serves(&self, r: &Resource) -> bool {
        self.pools.contains(r)
    }

    /// A snapshot for operators.
    #[must_use]
    pub fn status_report(&self, now: Time) -> StatusReport {
        let _ = now;
        StatusReport {
            role: self.config.role,
            state: self.state,
            state_since: self.state_since,
            partner_state: self.partner.state,
            comms_ok: self.comms_ok(),
            mclt: self.mclt(),
            pending_updates: self.db.pending_count(),
            unacked_updates: self.unacked.len(),
            skew: self.skew,
            active_leases: self.db.active_count(),
            bindings: self.db.len(),
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
        if self.db != BindingDb::from_bindings(self.db.records().values()) {
            return Err("binding indexes out of step with the records".into());
        }
        // §6.1.1, S16: never more unacked BNDUPDs than the partner can take.
        if self.unacked.len() > self.partner.max_unacked.max(1) as usize {
            return Err(format!(
                "{} unacked BNDUPDs > MAX_UNACKED_BNDUPD {}",
                self.unacked.len(),
                self.partner.max_unacked
            ));
        }
        let carried: BTreeSet<Resource> =
            self.unacked.values().flatten().map(|s| s.resource).collect();
        if carried != self.in_flight {
            return Err("in-flight set differs from the outstanding BNDUPDs".into());
        }
        if self.conn != ConnPhase::Ok
            && (self.serving.is_some() || self.requested.is_some() || !self.unacked.is_empty())
        {
            return Err("update exchange outstanding without comms".into());
        }
        if self.state != Startup && self.record.state != self.state {
            return Err(format!(
                "recorded state {} differs from live {}",
                self.record.state, self.state
            ));
        }
        if self.state == Startup && !self.timers.contains_key(&Timer::Startup) {
            return Err("STARTUP without its timer".into());
        }
        if self.state != Startup && self.timers.contains_key(&Timer::Startup) {
            return Err("STARTUP timer armed outside STARTUP".into());
        }
        if self.config.role == Role::Secondary && self.state == ConflictDone {
            return Err("a secondary never enters CONFLICT-DONE (§8.12)".into());
        }
        if self.state == RecoverWait && !self.timers.contains_key(&Timer::RecoverWait) {
            return Err("RECOVER-WAIT without its timer".into());
        }
        if self.config.role == Role::Secondary
            && matches!(self.conn, ConnPhase::Connecting | ConnPhase::AwaitConnectReply)
        {
            return Err("only the primary connects (§6.1)".into());
        }
        for b in self.db.iter() {
            if b.status == BindingStatus::Active && b.client.is_none() {
                return Err(format!("ACTIVE {} without a client", b.resource));
            }
            if b.status == BindingStatus::PendingFree {
                return Err(format!("{} held in PENDING-FREE", b.resource));
            }
        }
        if self.comms_ok() && !self.record.communicated {
            return Err("comms OK but the C flag is not recorded".into());
        }
        Ok(())
    }

    // ---------------------------------------------------------------- plumbing

    #[cfg(feature = "mutations")]
    pub(crate) fn mutated(&self, m: crate::mutation::Mutation) -> bool {
        self.config.mutation == Some(m)
    }

    /// Arms (or re-arms) a timer. Timers are not outputs: the map is the one source of truth
    /// (`next_deadline`); `_out` only keeps the call sites uniform.
    pub(crate) fn set_timer(&mut self, timer: Timer, at: Time, _out: &mut Vec<Output>) {
        self.timers.insert(timer, at);
    }

    /// Disarms a timer (see `set_timer`).
    pub(crate) fn cancel_timer(&mut self, timer: Timer, _out: &mut Vec<Output>) {
        self.timers.remove(&timer);
    }

    /// Stores a binding and emits its durable write.
    pub(crate) fn store(&mut self, b: Binding, out: &mut Vec<Output>) {
        if !matches!(b.status, BindingStatus::Expired | BindingStatus::Released) {
            self.announced.remove(&b.resource);
        }
        out.push(Output::Persist(DurableWrite::Binding(b.clone())));
        self.db.put(b);
    }

    pub(crate) fn persist_record(&mut self, now: Time, out: &mut Vec<Output>) {
        self.record.last_operating_time = self.record.last_operating_time.max(now);
        out.push(Output::Persist(DurableWrite::State(self.record.clone())));
    }

    fn alloc_xid(&mut self) -> u32 {
        // §5.4: unique among outstanding requests, including an open UPDREQ/UPDREQALL across
        // the 24-bit wrap.
        for _ in 0..=self.unacked.len() + 2 {
            let x = self.next_xid;
            self.next_xid = if self.next_xid >= XID_MAX { 1 } else { self.next_xid + 1 };
            let busy = self.unacked.contains_key(&x)
                || self.requested.is_some_and(|(r, _)| r == x)
                || self.serving.is_some_and(|(s, _)| s == x)
                || self.open_request == Some(x);
            if !busy {
                return x;
            }
        }
        self.next_xid
    }

    /// Sends a message that starts an exchange (new xid). Returns the xid.
    pub(crate) fn send_new(&mut self, now: Time, body: MessageBody, out: &mut Vec<Output>) -> u32 {
        let xid = self.alloc_xid();
        self.send_with(now, xid, body, out);
        xid
    }

    /// Sends a message with a given xid (responses echo the request's).
    pub(crate) fn send_with(
        &mut self,
        now: Time,
        xid: u32,
        body: MessageBody,
        out: &mut Vec<Output>,
    ) {
        out.push(Output::Send(Message { xid: xid & XID_MAX, sent_time: now, body }));
        self.sent_in_step = true;
    }

    fn finish_step(&mut self, now: Time, out: &mut Vec<Output>) {
        if self.sent_in_step {
            self.sent_in_step = false;
            if self.conn != ConnPhase::Down {
                self.set_timer(Timer::Contact, now.plus(self.send_time.max(1)), out);
            }
        }
        self.update_expiry_timer(now, out);
    }

    fn update_expiry_timer(&mut self, now: Time, out: &mut Vec<Output>) {
        let mut next = self.db.first_active_expiry().map(|(t, _)| t);
        if self.state == EndpointState::PartnerDown {
            let pd = self.record.partner_down_time;
            let mclt = self.mclt();
            // The index is ordered by the wait base, so its first entry has the earliest
            // free time (`mclt::partner_down_wait_base`).
            let first = if self.pd_wait_mutated() {
                self.db.awaiting_free().map(|b| b.start_time_of_state).min()
            } else {
                self.db.first_awaiting_free().map(|base| base.max(pd).plus(mclt))
            };
            if let Some(t) = first {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        match next {
            Some(t) => self.set_timer(Timer::Expiry, t.max(now), out),
            None => self.cancel_timer(Timer::Expiry, out),
        }
    }

    pub(crate) fn pd_free_time(&self, b: &Binding, pd: Time, mclt: u32) -> Time {
        if self.pd_wait_mutated() {
            return b.start_time_of_state;
        }
        crate::leases::mclt::partner_down_free_time(b, pd, mclt)
    }

    fn pd_wait_mutated(&self) -> bool {
        #[cfg(feature = "mutations")]
        if self.mutated(crate::mutation::Mutation::ReallocateWithoutPdWait) {
            return true;
        }
        false
    }

    // ---------------------------------------------------------------- state machine

    /// Moves to `to` (§8.1): persist the new state, the partner's state and the time; send
    /// STATE if the partner can hear it; then the entry actions of the new state.
    pub(crate) fn transition(&mut self, now: Time, to: EndpointState, out: &mut Vec<Output>) {
        let from = self.state;
        if from == to || to == EndpointState::Startup {
            return;
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
        self.record.partner_state = self.partner.state;
        self.record.partner_state_start = self.partner.state_start;
        if to == EndpointState::RecoverDone {
            // The recovery from a possible storage loss is over once RECOVER-WAIT's hold has
            // been served: a crash before then must restart it with the long hold (found by
            // the pair property test).
            self.record.recovering_all = false;
        }
        if self.record.recovering_all && state::may_allocate(to, self.config.role) {
            // Reached a serving state without serving the hold (conflict resolution after a
            // storage loss ends in NORMAL; an operator's PARTNER-DOWN): new leases wait for it
            // (`allocation_held`), and its end clears the mark.
            let end = self.storage_hold_end();
            if now >= end {
                self.record.recovering_all = false;
            } else if !self.timers.contains_key(&Timer::RecoverWait) {
                out.push(Output::Event(Event::Alarm(format!(
                    "storage was lost: no new leases until {end:?}, when every lease granted \
                     before the loss has run out"
                ))));
                self.set_timer(Timer::RecoverWait, end, out);
            }
        }
        self.persist_record(now, out);
        out.push(Output::Event(Event::StateChanged { from, to }));
        if matches!(self.conn, ConnPhase::AwaitState | ConnPhase::Ok) {
            self.send_state(now, out);
        }
        // Exit actions.
        if from == EndpointState::PartnerDown {
            self.free_acked_after_partner_down(now, out);
        }
        if from == EndpointState::CommunicationsInterrupted {
            self.cancel_timer(Timer::AutoPartnerDown, out);
        }
        if from == EndpointState::Startup {
            self.cancel_timer(Timer::Startup, out);
        }
        if from == EndpointState::Recover {
            self.cancel_timer(Timer::RecoverStall, out);
        }
        // Entry actions.
        match to {
            EndpointState::CommunicationsInterrupted => {
                // §8.8.2 SHOULD raise an alarm when comms fail; entering COMM-INT with comms up
                // (RECOVER-DONE seeing a recovering partner, §8.7.2) is routine.
                if !self.comms_ok() {
                    out.push(Output::Event(Event::Alarm(
                        "entered COMMUNICATIONS-INTERRUPTED: the partner is unreachable".into(),
                    )));
                }
                if let Some(secs) = self.config.auto_partner_down {
                    self.set_timer(Timer::AutoPartnerDown, now.plus(secs), out);
                }
            }
            EndpointState::ResolutionInterrupted => {
                out.push(Output::Event(Event::Alarm(
                    "entered RESOLUTION-INTERRUPTED: conflict resolution was interrupted".into(),
                )));
            }
            EndpointState::PotentialConflict => {
                self.requested = None;
                self.maybe_request_conflict_updates(now, out);
            }
            EndpointState::Recover => self.maybe_request_recovery(now, out),
            EndpointState::RecoverWait => {
                // §8.6.2: wait until TIME-OF-FAILURE + MCLT. The crash time is bounded by this
                // run's start time, which is what we use (a time by which the server certainly
                // was no longer running, §8.3.2 step 1). A server that never ran failover with
                // this partner (neither side's C flag was set) goes straight on.
                let never_ran =
                    !self.communicated_at_start && self.partner.first_communicated == Some(false);
                // Reading (found by the pair property test): after a loss of storage this
                // server cannot know whether it was in PARTNER-DOWN before the crash, and leases
                // granted in PARTNER-DOWN are bounded by their lifetime, not by the MCLT
                // (§8.4.1); nobody else knows them. So it waits the longer of the MCLT and the
                // longest valid lifetime it hands out. With its storage intact its own records
                // cover those leases and the MCLT suffices.
                let at = if never_ran {
                    now
                } else if self.had_record && !self.recovered_all && !self.record.recovering_all {
                    self.started_at.plus(self.mclt())
                } else {
                    self.storage_hold_end()
                };
                self.set_timer(Timer::RecoverWait, at.max(now), out);
            }
            EndpointState::Normal => {
                self.flush_updates(now, out);
                if self.config.role == Role::Secondary && self.comms_ok() {
                    // §8.8: after flushing its unacked updates, the secondary asks for its
                    // share of the delegable prefixes (§4.2.2).
                    let xid = self.send_new(now, MessageBody::PoolReq(NoOptions::default()), out);
                    self.open_request = Some(xid);
                }
            }
            EndpointState::ConflictDone => self.flush_updates(now, out),
            _ => {}
        }
    }

    /// Applies the comm-OK transition table for the partner's current state (§8.1: re-evaluated
    /// whenever one of the inputs changes).
    pub(crate) fn evaluate_partner_state(&mut self, now: Time, out: &mut Vec<Output>) {
        if !self.comms_ok() || self.partner.flags.startup && !self.trusts_startup_state() {
            return;
        }
        for _ in 0..4 {
            let Some(p) = self.partner.state else { return };
            let Some(mut next) = state::on_partner_state(self.state, self.config.role, p) else {
                break;
            };
            #[cfg(feature = "mutations")]
            if self.mutated(crate::mutation::Mutation::SkipPotentialConflict)
                && next == EndpointState::PotentialConflict
                && matches!(
                    self.state,
                    EndpointState::PartnerDown | EndpointState::CommunicationsInterrupted
                )
            {
                next = EndpointState::Normal;
            }
            if next == EndpointState::Normal && self.state == EndpointState::Normal {
                next = self.state;
            }
            self.transition(now, next, out);
        }
        // Comms-OK actions that depend on the partner's state.
        match self.state {
            EndpointState::Recover => self.maybe_request_recovery(now, out),
            EndpointState::PotentialConflict => self.maybe_request_conflict_updates(now, out),
            _ => {}
        }
    }

    fn trusts_startup_state(&self) -> bool {
        #[cfg(feature = "mutations")]
        if self.mutated(crate::mutation::Mutation::TrustStartupState) {
            return true;
        }
        false
    }

    /// §8.5.2: in RECOVER with comms OK and the partner not in POTENTIAL-CONFLICT,
    /// RESOLUTION-INTERRUPTED or CONFLICT-DONE, ask for updates: UPDREQALL if this server has
    /// no record of having talked to its partner while the partner has (our reading: the
    /// partner's C flag, digest §4.6), else UPDREQ.
    fn maybe_request_recovery(&mut self, now: Time, out: &mut Vec<Output>) {
        use EndpointState::*;
        if self.state != Recover || !self.comms_ok() || self.requested.is_some() {
            return;
        }
        if self.partner.flags.startup && !self.trusts_startup_state() {
            return;
        }
        if matches!(
            self.partner.state,
            None | Some(PotentialConflict | ResolutionInterrupted | ConflictDone)
        ) {
            return;
        }
        self.request_updates(now, out);
        if self.config.recover_stall_time > 0 {
            self.set_timer(Timer::RecoverStall, now.plus(self.config.recover_stall_time), out);
        }
    }

    /// §8.10: the primary sends UPDREQ on entering POTENTIAL-CONFLICT; the secondary waits
    /// until it sees the primary in CONFLICT-DONE, then sends UPDREQ (§8.10.2).
    fn maybe_request_conflict_updates(&mut self, now: Time, out: &mut Vec<Output>) {
        if self.state != EndpointState::PotentialConflict
            || !self.comms_ok()
            || self.requested.is_some()
        {
            return;
        }
        let go = match self.config.role {
            Role::Primary => true,
            Role::Secondary => self.partner.state == Some(EndpointState::ConflictDone),
        };
        if go {
            self.request_updates(now, out);
        }
    }

    /// The end of the hold after a (possible) loss of stable storage: this run's start plus
    /// the longer of the MCLT and the longest valid lifetime configured. Leases granted in
    /// PARTNER-DOWN are bounded by their lifetime, not by the MCLT (§8.4.1), and after the loss
    /// nobody may know them; by then they have all run out.
    pub(crate) fn storage_hold_end(&self) -> Time {
        let hold = self
            .mclt()
            .max(self.config.address_lifetimes.valid)
            .max(self.config.prefix_lifetimes.valid);
        self.started_at.plus(hold)
    }

    /// Whether new leases are held back after a (possible) loss of stable storage whose hold
    /// RECOVER-WAIT did not serve: the server reached a serving state through conflict
    /// resolution (RECOVER → POTENTIAL-CONFLICT → CONFLICT-DONE/NORMAL, §8.5.2) or an
    /// operator's PARTNER-DOWN. Renewals of leases it knows are still answered. Our reading:
    /// the RFC holds only RECOVER-WAIT; without this, a lease granted in PARTNER-DOWN and lost
    /// with the storage during RESOLUTION-INTERRUPTED went to a second client.
    #[must_use]
    pub fn allocation_held(&self) -> bool {
        self.record.recovering_all
    }

    /// Whether this server must ask for every binding: it lost its stable storage (no record
    /// of having talked to its partner while the partner has one, §8.5.2), or a recovery of
    /// everything was interrupted by a crash.
    fn needs_everything(&self) -> bool {
        self.partner.first_communicated == Some(true)
            && (!self.communicated_at_start || self.record.recovering_all)
    }

    /// Sends UPDREQALL when [`Self::needs_everything`], else UPDREQ (§8.5.2), remembering
    /// across a crash that everything is needed.
    ///
    /// Also from POTENTIAL-CONFLICT (§8.10.2 names UPDREQ only): a server that lost its
    /// storage and meets its partner in POTENTIAL-CONFLICT, RESOLUTION-INTERRUPTED or
    /// CONFLICT-DONE goes RECOVER → POTENTIAL-CONFLICT (§8.5.2) and never sends the UPDREQALL
    /// of RECOVER; an UPDREQ there returns only the partner's unacknowledged updates, so the
    /// bindings it had acknowledged before the loss would stay missing and, in a later
    /// COMMUNICATIONS-INTERRUPTED, its own leases would look free (found by the model checker,
    /// property S25, configuration `storage`; docs/design.md).
    fn request_updates(&mut self, now: Time, out: &mut Vec<Output>) {
        let all = self.needs_everything();
        let body = if all {
            MessageBody::UpdReqAll(NoOptions::default())
        } else {
            MessageBody::UpdReq(NoOptions::default())
        };
        let xid = self.send_new(now, body, out);
        self.requested = Some((xid, all));
        if all && !self.record.recovering_all {
            // Remember across a crash that recovery needs everything (§8.5.2).
            self.record.recovering_all = true;
            self.persist_record(now, out);
        }
    }

    // ---------------------------------------------------------------- connection

    fn on_connection_up(&mut self, now: Time, out: &mut Vec<Output>) {
        if self.shut_down || !matches!(self.conn, ConnPhase::Down | ConnPhase::Connecting) {
            return;
        }
        self.cancel_timer(Timer::Reconnect, out);
        self.partner.first_communicated = None;
        self.send_time = self.config.default_send_time();
        self.set_timer(Timer::Keepalive, now.plus(self.config.keepalive_time), out);
        match self.config.role {
            Role::Primary => {
                // §6.1.1: CONNECT.
                let mut opts = self.our_connect_options(self.config.mclt);
                opts.relationship_name = (!self.config.relationship.is_empty())
                    .then(|| self.config.relationship.clone());
                self.conn = ConnPhase::AwaitConnectReply;
                let xid = self.send_new(now, MessageBody::Connect(opts), out);
                self.open_request = Some(xid);
            }
            Role::Secondary => self.conn = ConnPhase::AwaitConnect,
        }
    }

    /// Closes the transport and takes the comms-failed path.
    pub(crate) fn drop_connection(&mut self, now: Time, out: &mut Vec<Output>) {
        out.push(Output::Disconnect);
        self.comms_down(now, out);
    }

    /// Comms are no longer OK (§8.1): TCP closed, keepalive expired, DISCONNECT, skew.
    fn comms_down(&mut self, now: Time, out: &mut Vec<Output>) {
        let was_ok = self.conn == ConnPhase::Ok;
        self.conn = ConnPhase::Down;
        self.unacked.clear();
        self.in_flight.clear();
        self.takeback.clear();
        self.serving = None;
        self.requested_updates.clear();
        self.requested = None;
        self.open_request = None;
        self.partner.flags.startup = false;
        self.cancel_timer(Timer::Keepalive, out);
        self.cancel_timer(Timer::Contact, out);
        self.cancel_timer(Timer::RecoverStall, out);
        self.cancel_timer(Timer::UpdateScan, out);
        if was_ok {
            out.push(Output::Event(Event::Comms(false)));
            self.record.time_of_failure = now;
            if self.state != EndpointState::Startup {
                match state::on_comms_failed(self.state) {
                    Some(next) => self.transition(now, next, out),
                    None => self.persist_record(now, out),
                }
            }
        }
        if self.config.role == Role::Primary && !self.shut_down {
            let delay = reconnect_delay(self.config.reconnect_interval, self.rejections);
            self.set_timer(Timer::Reconnect, now.plus(delay), out);
        }
    }

    /// A connection rejection (§6.1), before the connection is dropped: one more step of the
    /// primary's back-off, and the event saying when the next attempt will be.
    fn rejected(&mut self, rejection: Rejection, detail: String, out: &mut Vec<Output>) {
        self.rejections = (self.rejections + 1).min(REJECTED_RECONNECT_MAX_DOUBLINGS);
        let retry_in = (self.config.role == Role::Primary && !self.shut_down)
            .then(|| reconnect_delay(self.config.reconnect_interval, self.rejections));
        out.push(Output::Event(Event::ConnectionRejected { rejection, detail, retry_in }));
    }

    fn on_partner_message(&mut self, now: Time, msg: Message, out: &mut Vec<Output>) {
        if matches!(self.conn, ConnPhase::Down | ConnPhase::Connecting) {
            out.push(Output::Event(Event::PartnerRejected {
                reason: format!("{} with no connection", msg.body.name()),
            }));
            return;
        }
        // §6.6: every received message restarts FO_KEEPALIVE_TIMER.
        self.set_timer(Timer::Keepalive, now.plus(self.config.keepalive_time), out);
        // §7.5.1 / §6.1.2: time skew. STARTTLS and REPLY are DHCPv6 messages without a
        // sent-time (RFC 7653 §6.2.2, RFC 8415 §8; docs/design.md "STARTTLS").
        let skew = i64::from(now.0) - i64::from(msg.sent_time.0);
        if msg.body.has_sent_time() {
            self.skew = Some(skew);
        }
        if msg.body.has_sent_time() && skew.unsigned_abs() > u64::from(SKEW_TOLERANCE) {
            out.push(Output::Event(Event::Skew(skew)));
            if let (MessageBody::Connect(_), Role::Secondary) = (&msg.body, self.config.role) {
                self.reject_connect(
                    now,
                    msg.xid,
                    StatusCode::EXCESSIVE_TIME_SKEW,
                    "time skew over 5 s",
                    out,
                );
            } else {
                // Counted as a rejection whatever the message: the next attempt would meet the
                // same clocks (a CONNECTREPLY from a skewed secondary is the usual case).
                self.rejected(
                    Rejection::TimeSkew,
                    format!("time skew {skew} s on {}", msg.body.name()),
                    out,
                );
                self.drop_connection(now, out);
            }
            return;
        }
        let xid = msg.xid;
        match (self.conn, msg.body) {
            (ConnPhase::AwaitConnect, MessageBody::Connect(o)) => self.on_connect(now, xid, o, out),
            (ConnPhase::AwaitConnectReply, MessageBody::ConnectReply(o)) => {
                if self.open_request.take() == Some(xid) {
                    self.on_connect_reply(now, o, out);
                } else {
                    // §5.4: an answer carries its request's xid. A CONNECTREPLY that answers no
                    // CONNECT of ours leaves the handshake nowhere to go: drop the link.
                    out.push(Output::Event(Event::PartnerRejected {
                        reason: format!("CONNECTREPLY with xid {xid} answers no CONNECT"),
                    }));
                    self.drop_connection(now, out);
                }
            }
            (ConnPhase::AwaitState | ConnPhase::Ok, MessageBody::State(o)) => {
                self.on_state(now, o, out)
            }
            (ConnPhase::Ok, MessageBody::BndUpd(b)) => self.on_bndupd(now, xid, b, out),
            (ConnPhase::Ok, MessageBody::BndReply(b)) => self.on_bndreply(now, xid, b, out),
            (ConnPhase::Ok, MessageBody::UpdReq(_)) => self.on_updreq(now, xid, false, out),
            (ConnPhase::Ok, MessageBody::UpdReqAll(_)) => self.on_updreq(now, xid, true, out),
            (ConnPhase::Ok, MessageBody::UpdDone(_)) => self.on_upddone(now, xid, out),
            (ConnPhase::Ok, MessageBody::PoolReq(_)) if self.config.role == Role::Primary => {
                self.send_with(now, xid, MessageBody::PoolResp(NoOptions::default()), out);
                self.rebalance(now, out);
            }
            (ConnPhase::Ok, MessageBody::PoolResp(_)) if self.config.role == Role::Secondary => {
                if self.open_request == Some(xid) {
                    self.open_request = None;
                } else {
                    // §5.4: not the answer to our POOLREQ; nothing depends on it.
                    out.push(Output::Event(Event::PartnerRejected {
                        reason: format!("POOLRESP with xid {xid} answers no POOLREQ"),
                    }));
                }
            }
            (_, MessageBody::Contact(_)) => {}
            (ConnPhase::AwaitConnect, MessageBody::StartTls(_)) => {
                // RFC 7653 §9.1 (via RFC 8156 §10): a server not configured for TLS on this
                // connection answers STARTTLS with a REPLY carrying TLSConnectionRefused and the
                // STARTTLS's transaction-id, and closes. (A driver that negotiates TLS handles
                // STARTTLS before reporting the connection up.)
                out.push(Output::Event(Event::PartnerRejected {
                    reason: "STARTTLS without TLS configured".into(),
                }));
                let refusal =
                    crate::failover::secure::starttls_refusal(xid, "TLS is not configured");
                self.send_with(now, xid, refusal.body, out);
                self.drop_connection(now, out);
            }
            (_, MessageBody::Disconnect(o)) => {
                let code = o.status.as_ref().map(|s| s.code);
                let reason = o.status.map_or_else(|| "DISCONNECT".to_string(), |s| s.message);
                if code == Some(StatusCode::SERVER_SHUTTING_DOWN) {
                    // A planned shutdown (§5.3.10) is no rejection: the partner will be back,
                    // and the sooner we reconnect the sooner the pair is together again.
                    out.push(Output::Event(Event::PartnerRejected {
                        reason: format!("partner disconnected: {reason}"),
                    }));
                } else {
                    // §6.1: "rejected by ... a DISCONNECT message": any other reason, or none.
                    let detail = match code {
                        Some(c) => format!("partner disconnected: code {} {reason}", c.0),
                        None => format!("partner disconnected: {reason}"),
                    };
                    self.rejected(Rejection::Disconnect(code.map(|c| c.0)), detail, out);
                }
                self.drop_connection(now, out);
            }
            (phase, body) => {
                // A message the RFC does not allow here (e.g. CONNECT to a primary, BNDUPD
                // before comms are OK, STARTTLS after the transport is up): drop the link.
                let reason = format!("unexpected {} in {phase:?}", body.name());
                out.push(Output::Event(Event::PartnerRejected { reason: reason.clone() }));
                let status = Status::new(StatusCode::UNSPEC_FAIL, reason);
                self.send_new(
                    now,
                    MessageBody::Disconnect(DisconnectOptions {
                        status: Some(status),
                        unknown: Vec::new(),
                    }),
                    out,
                );
                self.drop_connection(now, out);
            }
        }
    }

    fn reject_connect(
        &mut self,
        now: Time,
        xid: u32,
        code: StatusCode,
        why: &str,
        out: &mut Vec<Output>,
    ) {
        let rejection = if code == StatusCode::EXCESSIVE_TIME_SKEW {
            Rejection::TimeSkew
        } else {
            Rejection::ConnectRefused(code.0)
        };
        self.rejected(rejection, format!("CONNECT rejected: code {} {why}", code.0), out);
        // §6.6: FO_KEEPALIVE_TIME goes on every CONNECTREPLY, a rejecting one included.
        let opts = ConnectOptions {
            status: Some(Status::new(code, why)),
            keepalive_time: Some(self.config.keepalive_time),
            ..ConnectOptions::default()
        };
        self.send_with(now, xid, MessageBody::ConnectReply(opts), out);
        self.drop_connection(now, out);
    }

    /// §6.1.2: the secondary's checks on a CONNECT's options (the sent-time is checked with
    /// every message, [`Self::on_partner_message`]). `Err` carries the status and the reason.
    fn connect_refusal(&self, o: &ConnectOptions) -> Result<u32, (StatusCode, &'static str)> {
        match o.protocol_version {
            Some((major, _)) if major == PROTOCOL_VERSION.0 => {}
            _ => return Err((StatusCode::NOT_SUPPORTED, "unsupported protocol version")),
        }
        let Some(mclt) = o.mclt.filter(|m| *m >= crate::config::MIN_LEASE_TIME) else {
            return Err((StatusCode::UNSPEC_FAIL, "missing or invalid MCLT"));
        };
        if let Some(name) = &o.relationship_name {
            if !self.config.relationship.is_empty() && *name != self.config.relationship {
                return Err((StatusCode::CONFIGURATION_CONFLICT, "unknown relationship"));
            }
        }
        // §6.1.2: we delegate fixed-length prefixes only; a primary with variable lengths is
        // incompatible. The RFC names no code; ConfigurationConflict (digest §11.3 item 11).
        let fixed = o.connect_flags.unwrap_or(0) & CONNECT_FLAG_FIXED_PD_LENGTH != 0;
        if !fixed && !self.config.prefix_pools.is_empty() {
            return Err((StatusCode::CONFIGURATION_CONFLICT, "variable prefix lengths"));
        }
        Ok(mclt)
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
        if self.config.role != Role::Secondary {
            return Err("a primary accepts no connection".into());
        }
        let MessageBody::Connect(o) = &first.body else {
            return Err(format!("first message is {}, not CONNECT", first.body.name()));
        };
        let skew = i64::from(now.0) - i64::from(first.sent_time.0);
        if skew.unsigned_abs() > u64::from(SKEW_TOLERANCE) {
            return Err(format!("CONNECT with time skew {skew} s"));
        }
        self.connect_refusal(o).map(|_| ()).map_err(|(_, why)| format!("CONNECT refused: {why}"))
    }

    /// §6.1.2: the secondary's checks on CONNECT.
    fn on_connect(&mut self, now: Time, xid: u32, o: ConnectOptions, out: &mut Vec<Output>) {
        let mclt = match self.connect_refusal(&o) {
            Ok(mclt) => mclt,
            Err((code, why)) => return self.reject_connect(now, xid, code, why, out),
        };
        // Adopt the primary's MCLT and remember it (§6.1.2).
        if self.record.mclt != mclt {
            self.record.mclt = mclt;
            self.persist_record(now, out);
        }
        self.adopt_partner_params(o.keepalive_time, o.max_unacked_bndupd);
        let reply = self.our_connect_options(mclt);
        self.send_with(now, xid, MessageBody::ConnectReply(reply), out);
        self.conn = ConnPhase::AwaitState;
        self.send_state(now, out);
    }

    /// §6.1.3: the primary's checks on CONNECTREPLY.
    fn on_connect_reply(&mut self, now: Time, o: ConnectOptions, out: &mut Vec<Output>) {
        let problem = if let Some(s) = &o.status {
            Some(format!("CONNECT rejected by the secondary: code {} {}", s.code.0, s.message))
        } else if o.protocol_version.map(|v| v.0) != Some(PROTOCOL_VERSION.0) {
            Some("unsupported protocol version in CONNECTREPLY".to_string())
        } else if o.mclt != Some(self.config.mclt) {
            Some("CONNECTREPLY MCLT differs from ours".to_string())
        } else if o.connect_flags.unwrap_or(0) & CONNECT_FLAG_FIXED_PD_LENGTH == 0
            && !self.config.prefix_pools.is_empty()
        {
            Some("secondary does not use fixed prefix lengths".to_string())
        } else {
            None
        };
        if let Some(reason) = problem {
            let rejection = match o.status.as_ref().map(|s| s.code) {
                Some(StatusCode::EXCESSIVE_TIME_SKEW) => Rejection::TimeSkew,
                Some(c) => Rejection::ConnectRefused(c.0),
                None => Rejection::ConnectReplyRefused,
            };
            self.rejected(rejection, reason.clone(), out);
            if o.status.is_none() {
                let status = Status::new(StatusCode::UNSPEC_FAIL, reason);
                self.send_new(
                    now,
                    MessageBody::Disconnect(DisconnectOptions {
                        status: Some(status),
                        unknown: Vec::new(),
                    }),
                    out,
                );
            }
            // The reconnection timer it arms follows the back-off (§6.1, `rejected`).
            self.drop_connection(now, out);
            return;
        }
        self.adopt_partner_params(o.keepalive_time, o.max_unacked_bndupd);
        self.conn = ConnPhase::AwaitState;
        self.send_state(now, out);
    }

    /// The options both CONNECT (§6.1.1) and an accepting CONNECTREPLY (§6.1.2) carry.
    fn our_connect_options(&self, mclt: u32) -> ConnectOptions {
        ConnectOptions {
            protocol_version: Some(PROTOCOL_VERSION),
            mclt: Some(mclt),
            keepalive_time: Some(self.config.keepalive_time),
            max_unacked_bndupd: Some(self.config.max_unacked_bndupd),
            relationship_name: None,
            connect_flags: Some(CONNECT_FLAG_FIXED_PD_LENGTH),
            status: None,
            unknown: Vec::new(),
        }
    }

    fn adopt_partner_params(&mut self, keepalive: Option<u32>, max_unacked: Option<u32>) {
        // §6.5: the partner's keepalive drives FO_SEND_TIME; our own drives the receive timer
        // (digest §11.3 item 8).
        let ka = keepalive.filter(|k| *k > 0).unwrap_or(self.config.keepalive_time);
        self.partner.keepalive_time = ka;
        self.send_time = (ka / self.config.contacts_per_keepalive.max(1)).max(1);
        self.partner.max_unacked = max_unacked.unwrap_or(1).max(1);
    }

    /// §6.3: a STATE carries our state (the recorded one while in STARTUP, with S set), our
    /// flags, the start time of the state, and PARTNER_DOWN_TIME only in PARTNER-DOWN.
    ///
    /// §8.3.1: in STARTUP the state is "the previously recorded failover state", the value
    /// found in stable storage (step 1), not PREVIOUS-STATE after step 2's rewrite: a server
    /// that crashed in NORMAL says NORMAL, not COMMUNICATIONS-INTERRUPTED.
    pub(crate) fn send_state(&mut self, now: Time, out: &mut Vec<Output>) {
        let startup = self.state == EndpointState::Startup;
        let server_state = if startup { self.recorded_state } else { self.state };
        let opts = StateOptions {
            server_state: Some(server_state),
            flags: Some(ServerFlags {
                startup,
                ack_startup: self.partner.flags.startup,
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
        };
        self.send_new(now, MessageBody::State(opts), out);
    }

    fn on_state(&mut self, now: Time, o: StateOptions, out: &mut Vec<Output>) {
        let Some(pstate) = o.server_state.filter(|s| *s != EndpointState::Startup) else {
            out.push(Output::Event(Event::PartnerRejected {
                reason: "STATE without a valid server state".into(),
            }));
            return self.drop_connection(now, out);
        };
        let flags = o.flags.unwrap_or_default();
        self.partner.state = Some(pstate);
        self.partner.state_start = o.start_time_of_state.unwrap_or(now);
        self.partner.partner_down_time = o.partner_down_time.unwrap_or(Time::ZERO);
        self.partner.flags = flags;
        if self.partner.first_communicated.is_none() {
            self.partner.first_communicated = Some(flags.communicated);
        }
        out.push(Output::Event(Event::PartnerState(pstate)));
        let newly_ok = self.conn == ConnPhase::AwaitState;
        // §6.4: record the partner's state (SHOULD).
        self.record.partner_state = Some(pstate);
        self.record.partner_state_start = self.partner.state_start;
        self.record.partner_communicated = flags.communicated;
        if newly_ok {
            self.conn = ConnPhase::Ok;
            // The connection worked: the §6.1 back-off starts again from the interval.
            self.rejections = 0;
            self.record.communicated = true;
            out.push(Output::Event(Event::Comms(true)));
            self.set_timer(Timer::UpdateScan, now.plus(self.config.update_scan_interval), out);
        }
        self.persist_record(now, out);
        if self.state == EndpointState::Startup {
            // §8.3.2 step 5. A partner itself in STARTUP reports its recorded state, which says
            // nothing about where it is now: the PD exception needs its real state.
            let mut current = self.previous_state;
            if !flags.startup || self.trusts_startup_state() {
                let pd_start = if self.partner.partner_down_time.is_zero() {
                    self.partner.state_start
                } else {
                    self.partner.partner_down_time
                };
                current = state::startup_on_comms_ok(
                    self.previous_state,
                    pstate,
                    pd_start,
                    self.stopped_at,
                );
            }
            self.transition(now, current, out);
        }
        if newly_ok || self.partner.flags.startup {
            // Let the partner know we saw its STARTUP flag (A flag), and where we are.
            if flags.startup {
                self.send_state(now, out);
            }
        }
        self.evaluate_partner_state(now, out);
        // Whatever the state: `flush_updates` decides whether updates may go now.
        self.flush_updates(now, out);
    }

    // ---------------------------------------------------------------- timers and commands

    /// [`Input::Timeout`]: fires every due timer, earliest deadline first and, at equal
    /// deadlines, in [`Timer`] order; each at most once per call, and each exactly as
    /// [`Input::Timer`] would (its step finished before the next is chosen, since a firing may
    /// arm or cancel others). The contract is in [`crate::io`].
    fn on_timeout(&mut self, now: Time, out: &mut Vec<Output>) {
        let mut fired: Vec<Timer> = Vec::new();
        loop {
            let next = self
                .timers
                .iter()
                .filter(|(t, at)| **at <= now && !fired.contains(t))
                .min_by_key(|(t, at)| (**at, **t))
                .map(|(t, _)| *t);
            let Some(t) = next else { return };
            fired.push(t);
            self.on_timer(now, t, out);
            self.finish_step(now, out);
        }
    }

    fn on_timer(&mut self, now: Time, t: Timer, out: &mut Vec<Output>) {
        // A timer fires only when armed and due; anything else is stale and ignored.
        match self.timers.get(&t) {
            Some(at) if *at <= now => {
                self.timers.remove(&t);
            }
            _ => return,
        }
        match t {
            Timer::Startup => {
                if self.state == EndpointState::Startup {
                    // §8.3.2 step 6 (and the commissioning option of step 1).
                    let to = if !self.had_record && self.config.startup_partner_down_if_alone {
                        // The operator configured this lone server as new (commissioning):
                        // nothing was lost, so no hold.
                        self.record.recovering_all = false;
                        EndpointState::PartnerDown
                    } else {
                        self.previous_state
                    };
                    self.transition(now, to, out);
                }
            }
            Timer::Keepalive => {
                if self.conn != ConnPhase::Down {
                    out.push(Output::Event(Event::PartnerRejected {
                        reason: "keepalive expired".into(),
                    }));
                    self.drop_connection(now, out);
                }
            }
            Timer::Contact => {
                if self.conn != ConnPhase::Down && self.conn != ConnPhase::Connecting {
                    self.send_new(now, MessageBody::Contact(NoOptions::default()), out);
                }
            }
            Timer::RecoverWait => {
                if self.state == EndpointState::RecoverWait {
                    self.transition(now, EndpointState::RecoverDone, out);
                    self.evaluate_partner_state(now, out);
                } else if self.record.recovering_all && now >= self.storage_hold_end() {
                    // The hold after a storage loss, reached outside RECOVER-WAIT, is over.
                    self.record.recovering_all = false;
                    self.persist_record(now, out);
                }
            }
            Timer::AutoPartnerDown => {
                if self.state == EndpointState::CommunicationsInterrupted {
                    self.transition(now, EndpointState::PartnerDown, out);
                }
            }
            Timer::Reconnect => {
                if self.config.role == Role::Primary
                    && self.conn == ConnPhase::Down
                    && !self.shut_down
                {
                    self.conn = ConnPhase::Connecting;
                    out.push(Output::Connect);
                }
            }
            Timer::Expiry => self.process_expiry(now, out),
            Timer::UpdateScan => {
                self.held.clear();
                self.flush_updates(now, out);
                if self.comms_ok() {
                    self.set_timer(
                        Timer::UpdateScan,
                        now.plus(self.config.update_scan_interval),
                        out,
                    );
                }
            }
            Timer::Heartbeat => {
                self.persist_record(now, out);
                if self.config.heartbeat_interval > 0 {
                    self.set_timer(Timer::Heartbeat, now.plus(self.config.heartbeat_interval), out);
                }
            }
            Timer::RecoverStall => {
                if self.state == EndpointState::Recover
                    && self.requested.is_some()
                    && self.conn != ConnPhase::Down
                {
                    out.push(Output::Event(Event::PartnerRejected {
                        reason: "no progress in RECOVER".into(),
                    }));
                    self.drop_connection(now, out);
                }
            }
        }
    }

    fn on_command(&mut self, now: Time, c: Command, out: &mut Vec<Output>) {
        match c {
            Command::PartnerDown => {
                use EndpointState::*;
                // §8.8.2, §8.9.2, §8.11.2: from NORMAL, COMM-INT or RESOLUTION-INT.
                if matches!(self.state, Normal | CommunicationsInterrupted | ResolutionInterrupted)
                {
                    self.transition(now, PartnerDown, out);
                } else if self.state != PartnerDown {
                    out.push(Output::Event(Event::CommandRefused {
                        command: Command::PartnerDown,
                        state: self.state,
                        reason: "PARTNER-DOWN is entered only from NORMAL, COMMUNICATIONS-INTERRUPTED or RESOLUTION-INTERRUPTED (§8.8.2, §8.9.2, §8.11.2)".into(),
                    }));
                }
            }
            Command::Shutdown => {
                if matches!(
                    self.conn,
                    ConnPhase::AwaitState
                        | ConnPhase::Ok
                        | ConnPhase::AwaitConnect
                        | ConnPhase::AwaitConnectReply
                ) {
                    let status = Status::new(StatusCode::SERVER_SHUTTING_DOWN, "planned shutdown");
                    self.send_new(
                        now,
                        MessageBody::Disconnect(DisconnectOptions {
                            status: Some(status),
                            unknown: Vec::new(),
                        }),
                        out,
                    );
                }
                self.shut_down = true;
                self.cancel_timer(Timer::Reconnect, out);
                if self.conn != ConnPhase::Down {
                    self.drop_connection(now, out);
                }
                self.persist_record(now, out);
            }
            Command::ResetAbandoned(r) => {
                // §7.2 transition (10), ABANDONED → RESET, and nothing else: a resource
                // outside our pools has no lease to reset, and any other status is the
                // protocol's to change.
                let refusal = match self.db.get(&r) {
                    _ if !self.pools.contains(&r) => {
                        Some(format!("{r} is in no pool of this server"))
                    }
                    None => Some(format!("{r} has no lease record")),
                    Some(b) if b.status != BindingStatus::Abandoned => {
                        Some(format!("{r} is {}, not ABANDONED", b.status.name()))
                    }
                    Some(b) => {
                        let mut b = b.clone();
                        b.set_status(BindingStatus::Reset, now);
                        self.store(b, out);
                        self.flush_updates(now, out);
                        None
                    }
                };
                if let Some(reason) = refusal {
                    out.push(Output::Event(Event::CommandRefused {
                        command: Command::ResetAbandoned(r),
                        state: self.state,
                        reason,
                    }));
                }
            }
        }
    }

    /// Lease expiry (§7.2 (8)) and, in PARTNER-DOWN, the MCLT-delayed transition (4).
    fn process_expiry(&mut self, now: Time, out: &mut Vec<Output>) {
        for r in self.db.expired_by(now) {
            if let Some(b) = self.db.get(&r) {
                let mut b = b.clone();
                b.set_status(BindingStatus::Expired, now);
                b.state_expiration_time = None;
                self.store(b, out);
            }
        }
        if self.state == EndpointState::PartnerDown {
            let pd = self.record.partner_down_time;
            let mclt = self.mclt();
            let mutated = self.pd_wait_mutated();
            let due: Vec<Resource> = self
                .db
                .awaiting_free()
                .take_while(|b| mutated || self.pd_free_time(b, pd, mclt) <= now)
                .filter(|b| self.pd_free_time(b, pd, mclt) <= now)
                .map(|b| b.resource)
                .collect();
            for r in due {
                if let Some(b) = self.db.get(&r) {
                    let mut b = b.clone();
                    b.set_status(pending_free_resolves_to(&r), now);
                    self.store(b, out);
                }
            }
        }
        self.flush_updates(now, out);
    }
}

/// Rebuilds the binding database from a durable image, repairing what no write of ours
/// produces: a transient PENDING-FREE is resolved (§7.2 (5)/(6)), and an ACTIVE record without
/// a client (which could never be renewed nor safely reused) is set aside as ABANDONED for the
/// operator (§7.2 (9)/(10)). Returns the repaired resources.
fn sanitize(bindings: BTreeMap<Resource, Binding>) -> (BindingDb, Vec<Resource>) {
    let mut repaired = Vec::new();
    let db = BindingDb::from_records(bindings.into_iter().filter_map(|(k, b)| {
        if k != b.resource {
            repaired.push(k);
            return None;
        }
        Some(b)
    }));
    let mut db = db;
    let fix: Vec<Binding> = db
        .iter()
        .filter(|b| {
            b.status == BindingStatus::PendingFree
                || (b.status == BindingStatus::Active && b.client.is_none())
        })
        .cloned()
        .collect();
    for mut b in fix {
        if b.status == BindingStatus::PendingFree {
            b.status = pending_free_resolves_to(&b.resource);
        } else {
            b.status = BindingStatus::Abandoned;
            repaired.push(b.resource);
        }
        db.put(b);
    }
    (db, repaired)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §5.4: a new xid never takes the one of an open CONNECT or POOLREQ, even when the
    /// counter comes round to it (the 24-bit wrap).
    #[test]
    fn new_xids_skip_an_open_request() {
        let (mut ep, _) = Endpoint::new(Config::example(Role::Secondary), Time(1_000));
        ep.open_request = Some(XID_MAX);
        ep.next_xid = XID_MAX;
        let x = ep.alloc_xid();
        assert_ne!(x, XID_MAX, "the open POOLREQ's xid was handed out again");
        assert_eq!(x, 1, "the counter wraps past it");
    }
}
