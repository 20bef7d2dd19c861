//! The driving contract: what goes into an [`crate::Endpoint`] and what comes out.
//!
//! A driver (the tokio runtime, the stateright model, the test harness) feeds one [`Input`] at
//! a time together with the current time, and then carries out **every** [`Output`] of that
//! step, **in order**, before it feeds the next input. Order is meaningful:
//!
//! - a [`Output::Persist`] must be on stable storage before any later [`Output::Reply`] or
//!   [`Output::Send`] of the same step leaves the machine (a lease promised to a client is
//!   durable before the reply; a BNDUPD's data is durable before its BNDREPLY, §7.5.2). A
//!   driver may batch the writes of several steps into one commit (group commit) as long as it
//!   holds back those steps' replies and partner messages until that commit is done;
//! - timers are **not** outputs: the endpoint's own timer map ([`crate::Endpoint::timers`]) is
//!   the one source of truth. After every step (and after the restore) the driver asks
//!   [`crate::Endpoint::next_deadline`] when the endpoint next needs to be woken, sleeps until
//!   then (or until some other input arrives) and feeds [`Input::Timeout`] once its clock has
//!   reached that deadline (never earlier; late is harmless). See *Timers* below;
//! - the durable image is exactly the fold of the `Persist` outputs with
//!   [`DurableImage::apply`]; [`crate::Endpoint::restore`] rebuilds an endpoint from it.
//!
//! # Timers
//!
//! The contract is quinn's `poll_timeout`/`handle_timeout` (and str0m's): the core says when,
//! the driver only keeps time.
//!
//! - [`crate::Endpoint::next_deadline`] is the earliest armed deadline, or `None` when no timer
//!   is armed. It changes only inside a step (or the restore), so a driver reads it after each.
//! - [`Input::Timeout`] at `now` fires **every** timer whose deadline is `<= now`, one after the
//!   other, in a fixed order: by deadline, then by the order of the [`Timer`] enum
//!   (`Startup` first, `RecoverStall` last). Firing one may arm, re-arm or cancel others, so
//!   the due set is looked at again after each; a timer cancelled by an earlier one does not
//!   fire, and one armed due by an earlier one does. Each timer fires at most once per
//!   `Timeout` (a timer re-armed to a deadline `<= now` by its own firing waits for the next
//!   `Timeout`, which the driver feeds at once since `next_deadline() <= now`), so one step is
//!   bounded. Each firing is exactly the step [`Input::Timer`] would take at `now`; their
//!   outputs follow one another in the one output list.
//! - A `Timeout` with nothing due is a no-op (no output), so a driver that wakes early or twice
//!   does no harm.
//! - [`Input::Timer`] fires one chosen timer (if it is armed and due; otherwise it is stale and
//!   ignored). It is the model checker's and the tests' hook to explore every order of due
//!   timers; a production driver uses only [`Input::Timeout`].
//!
//! [`crate::exec`] is the reference driver of this contract for everything that is not real
//! I/O (the model checker, the core's tests, the replay of a runtime trace).

use crate::dhcp::client::{ClientReply, ClientRequest, SilenceReason};
use crate::failover::message::Message;
use crate::failover::state::EndpointState;
use crate::leases::binding::Binding;
use crate::resource::Resource;
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Timers the endpoint arms (deadlines are absolute times). The order of the variants is the
/// order in which timers due at the same deadline fire on [`Input::Timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// §8.3.2 step 3: the STARTUP period.
    Startup,
    /// §6.6 FO_KEEPALIVE_TIMER: nothing received for the keepalive time → comms not OK.
    Keepalive,
    /// §6.6 FO_SEND_TIMER: nothing sent for FO_SEND_TIME → send CONTACT.
    Contact,
    /// §8.6.2: the RECOVER-WAIT hold (TIME-OF-FAILURE + MCLT).
    RecoverWait,
    /// §8.9: auto-partner-down, if configured.
    AutoPartnerDown,
    /// §6.1: the primary's next connection attempt.
    Reconnect,
    /// The next lease or binding-status expiry (ACTIVE → EXPIRED, PD-wait transitions).
    Expiry,
    /// §7.5.4: the periodic scan that re-sends flagged updates.
    UpdateScan,
    /// Periodic "last operating time" record (§8.3.2 step 5, §8.6.2 TIME-OF-FAILURE).
    Heartbeat,
    /// §8.5.2: RECOVER with no progress → drop the connection.
    RecoverStall,
}

/// Operator commands (§8.4, §8.8.2, §8.9.2, §8.11.2; DISCONNECT on shutdown §5.3.10).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Command {
    /// The operator asserts the partner is down (only valid if it really is: §8.4).
    PartnerDown,
    /// Planned shutdown: DISCONNECT with ServerShuttingDown, then close.
    Shutdown,
    /// Make an ABANDONED lease available again (§7.2 transition (10), ABANDONED → RESET).
    ResetAbandoned(Resource),
}

/// One input to a step.
// Inputs and outputs are moved once per step; boxing the large variants would only add an
// allocation to every partner message.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Input {
    /// A decoded DHCPv6 client request.
    Client(ClientRequest),
    /// A decoded failover message from the partner (received at `now`).
    Partner(Message),
    /// Bytes from the partner that failed validation; the endpoint decides what to do.
    PartnerMalformed {
        /// What was wrong (for the log and metrics).
        reason: String,
    },
    /// The transport to the partner (TCP, and TLS if configured) is up.
    ConnectionUp,
    /// The transport to the partner closed or failed (or a connection attempt failed).
    ConnectionDown,
    /// Fire one chosen timer, if it is armed and its deadline has passed (else nothing
    /// happens). The model checker's and the tests' hook to pick the order of due timers; a
    /// production driver feeds [`Input::Timeout`] instead (module docs, *Timers*).
    Timer(Timer),
    /// The driver's clock has reached [`crate::Endpoint::next_deadline`]: fire every due timer,
    /// by deadline then [`Timer`] order, each at most once (module docs, *Timers*).
    Timeout,
    /// An operator command.
    Command(Command),
}

/// The record of the endpoint state machine kept on stable storage (§8.1, §8.2, §4.5 of the
/// digest).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateRecord {
    /// The current endpoint state (never STARTUP: STARTUP is not recorded, §8.3.1).
    pub state: EndpointState,
    /// When the current state began.
    pub start_time_of_state: Time,
    /// The partner's last known state, and when it began.
    pub partner_state: Option<EndpointState>,
    /// When the partner's state began (its STATE's START_TIME_OF_STATE).
    pub partner_state_start: Time,
    /// When this server entered PARTNER-DOWN (§6.3), if it is in it.
    pub partner_down_time: Time,
    /// Last time this server was known to be operating (heartbeat; §8.3.2 step 5).
    pub last_operating_time: Time,
    /// When comms with the partner were last lost (TIME-OF-FAILURE source, §8.6.2).
    pub time_of_failure: Time,
    /// The MCLT in force (the secondary remembers the primary's, §6.1.2).
    pub mclt: u32,
    /// This server has communicated with its partner (OPTION_F_SERVER_FLAGS C bit).
    pub communicated: bool,
    /// The partner's C flag at last contact (used to choose UPDREQ or UPDREQALL, §8.5.2).
    pub partner_communicated: bool,
    /// Recovery has requested every binding (UPDREQALL) and not yet seen UPDDONE.
    pub recovering_all: bool,
}

/// One durable write.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DurableWrite {
    /// Insert or replace the binding for `binding.resource`.
    Binding(Binding),
    /// Replace the endpoint state record.
    State(StateRecord),
}

/// Everything an endpoint keeps on stable storage: exactly what survives a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DurableImage {
    /// The state-machine record, if one was ever written.
    pub state: Option<StateRecord>,
    /// The binding database.
    pub bindings: BTreeMap<Resource, Binding>,
}

impl StateRecord {
    /// Moves every time of the record by `delta` seconds ([`Time::translated`]; the model
    /// checker's time canonicalisation, never a driver).
    pub fn translate(&mut self, delta: i64) {
        self.map_times(&|t| t.translated(delta));
    }

    /// Replaces every time `t` of the record by `f(t)` (see `Endpoint::map_times`).
    pub fn map_times(&mut self, f: &impl Fn(Time) -> Time) {
        for t in [
            &mut self.start_time_of_state,
            &mut self.partner_state_start,
            &mut self.partner_down_time,
            &mut self.last_operating_time,
            &mut self.time_of_failure,
        ] {
            *t = f(*t);
        }
    }
}

impl DurableImage {
    /// Moves every time in the image by `delta` seconds ([`Time::translated`]; the model
    /// checker's time canonicalisation, never a driver).
    pub fn translate(&mut self, delta: i64) {
        self.map_times(&|t| t.translated(delta));
    }

    /// Replaces every time `t` in the image by `f(t)` (see `Endpoint::map_times`).
    pub fn map_times(&mut self, f: &impl Fn(Time) -> Time) {
        if let Some(r) = &mut self.state {
            r.map_times(f);
        }
        for b in self.bindings.values_mut() {
            b.map_times(f);
        }
    }

    /// Applies one write.
    pub fn apply(&mut self, write: &DurableWrite) {
        match write {
            DurableWrite::Binding(b) => {
                self.bindings.insert(b.resource, b.clone());
            }
            DurableWrite::State(r) => self.state = Some(r.clone()),
        }
    }
}

/// Events for logs and metrics. They change nothing; a driver may ignore them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Event {
    /// The endpoint changed state.
    StateChanged {
        /// Old state.
        from: EndpointState,
        /// New state.
        to: EndpointState,
    },
    /// The partner's state as learned from a STATE message.
    PartnerState(EndpointState),
    /// Comms became OK (§6.1) or failed.
    Comms(bool),
    /// A lease was granted to a client.
    LeaseGranted {
        /// The resource.
        resource: Resource,
        /// Valid lifetime granted.
        valid_lifetime: u32,
    },
    /// A partner message was dropped or the connection rejected, with the reason.
    PartnerRejected {
        /// Why.
        reason: String,
    },
    /// A BNDUPD from the partner was rejected (per lease) with a status code.
    UpdateRejected {
        /// The resource.
        resource: Resource,
        /// The status code sent.
        code: u16,
    },
    /// The partner rejected one of our updates.
    UpdateRejectedByPartner {
        /// The resource.
        resource: Resource,
        /// The code received.
        code: u16,
    },
    /// Measured clock skew to the partner (seconds, receive − sent).
    Skew(i64),
    /// A noteworthy condition, in words (alarms the RFC asks for, e.g. entering COMM-INT).
    Alarm(String),
    /// The connection was refused (RFC 8156 §6.1): by the partner, or by this server during
    /// the handshake. Every one counts towards the primary's reconnection back-off
    /// ([`crate::endpoint::reconnect_delay`]); comms reaching OK resets it.
    ConnectionRejected {
        /// Which kind (a fixed set: a metric label, and the key for rate-limited logging).
        rejection: Rejection,
        /// In words, for the log.
        detail: String,
        /// (Primary) seconds until the next connection attempt; `None` on the secondary, which
        /// does not connect.
        retry_in: Option<u32>,
    },
    /// An operator command had no effect in the current state, and why.
    CommandRefused {
        /// The command.
        command: Command,
        /// The state it was refused in.
        state: EndpointState,
        /// Why.
        reason: String,
    },
}

/// Why a connection was refused (§6.1). The status codes are RFC 8156 §5.6's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Rejection {
    /// The clocks are more than 5 s apart (§6.1.2, §7.5.1): measured by this server on a
    /// partner message, or reported by the partner with ExcessiveTimeSkew (22).
    TimeSkew,
    /// A CONNECT was refused with this status code (§6.1.2): by the partner in its CONNECTREPLY,
    /// or by this secondary.
    ConnectRefused(u16),
    /// This primary refused the secondary's CONNECTREPLY (protocol version, MCLT or prefix
    /// length mismatch, §6.1.3), and sent DISCONNECT.
    ConnectReplyRefused,
    /// The partner sent DISCONNECT with a status other than ServerShuttingDown (20), or with
    /// none (§6.1: "rejected by ... a DISCONNECT message"). A planned shutdown is not one.
    Disconnect(Option<u16>),
}

impl Rejection {
    /// A short fixed label (metrics, log keys). Status codes are left out: they go in the
    /// detail, so a partner cannot grow the label set.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Rejection::TimeSkew => "time_skew",
            Rejection::ConnectRefused(_) => "connect_refused",
            Rejection::ConnectReplyRefused => "connectreply_refused",
            Rejection::Disconnect(_) => "disconnect",
        }
    }
}

/// One output of a step. See the module documentation for the order rules.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Output {
    /// Write to stable storage (before anything that follows leaves the machine).
    Persist(DurableWrite),
    /// Send this reply to the client.
    Reply(ClientReply),
    /// Send nothing to the client that sent `tag`, for this reason.
    Silence {
        /// The request's tag.
        tag: u64,
        /// Why.
        reason: SilenceReason,
    },
    /// Send a message to the partner.
    Send(Message),
    /// (Primary) open the transport to the partner now; report the outcome with
    /// [`Input::ConnectionUp`] or [`Input::ConnectionDown`].
    Connect,
    /// Close the transport to the partner (after sending what precedes this output).
    Disconnect,
    /// Something to log or count.
    Event(Event),
}
