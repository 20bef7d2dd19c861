//! The failover endpoint: one role in one relationship (RFC 8156 §6.2). A thin router over
//! the sub-machines it owns:
//!
//! - [`Machine`] (§8): the state record, the live state, STARTUP's findings;
//! - [`Connection`] (§6): the connection phase, the partner's view, xids, back-off, skew;
//! - [`Updates`] (§7.4-§7.7): outstanding BNDUPDs, update requests, take-backs;
//! - [`Leases`] (§4.2, §7.2): the pools, the binding database, allocation;
//! - the DHCPv6 server decisions ([`crate::dhcp::server`]), working on the leases;
//!
//! and the timers, which every sub-machine arms through the step's `Sink`.
//! Each input is routed to the sub-machine it concerns; what touches several of them (a state
//! transition's exit and entry actions, comms going up or down, a STATE from the partner)
//! is orchestrated here, in `transition.rs`, `partner.rs` and `timers.rs`.
//!
//! # Driving contract
//!
//! Create an endpoint with [`Endpoint::restore`] (or [`Endpoint::new`] for empty storage), then
//! feed it one [`Input`] at a time with the current time through [`Endpoint::handle`], and
//! carry out every returned [`Output`] in order before the next input (see [`crate::io`]).
//! The endpoint never reads a clock, a socket or a disk, and never panics on any input.

mod inspect;
mod partner;
mod timers;
mod transition;

pub use self::inspect::StatusReport;
pub use crate::failover::connection::{
    reconnect_delay, ConnPhase, PartnerView, REJECTED_RECONNECT_MAX_DELAY,
    REJECTED_RECONNECT_MAX_DOUBLINGS,
};
pub use crate::failover::updates::MAX_REBALANCE_PER_PASS;

use crate::config::Config;
use crate::dhcp::server::{Answered, Server};
use crate::failover::connection::Connection;
use crate::failover::machine::Machine;
use crate::failover::state::Role;
use crate::failover::updates::Updates;
use crate::io::{DurableImage, Input, Output, Timer};
use crate::leases::allocation::{Leases, Standing};
use crate::sink::Sink;
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    config: Config,
    /// §8: the state record and the live state.
    machine: Machine,
    /// §6: the partner connection.
    conn: Connection,
    /// §7.4-§7.7: the update exchanges.
    updates: Updates,
    /// §4.2, §7.2: pools and bindings.
    leases: Leases,
    /// The armed timers (held by the step's sink while a step runs).
    timers: BTreeMap<Timer, Time>,
}

/// Where the endpoint stands, for the lease rules.
fn standing<'a>(config: &'a Config, machine: &Machine) -> Standing<'a> {
    Standing {
        config,
        state: machine.state(),
        mclt: machine.mclt(),
        partner_down_time: machine.partner_down_time(),
        allocation_held: machine.recovering_all(),
    }
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
        let machine = Machine::restore(&config, state, now);
        let record = machine.record();
        let conn = Connection::new(&config, record.partner_state, record.partner_state_start);
        let (leases, repaired) = Leases::restore(&config, bindings);
        let mut ep = Endpoint {
            machine,
            conn,
            updates: Updates::default(),
            leases,
            timers: BTreeMap::new(),
            config,
        };
        let mut sink = Sink::new(BTreeMap::new());
        for r in repaired {
            sink.alarm(format!(
                "stored binding {r} was inconsistent and was set aside (ABANDONED) at restore"
            ));
        }
        // §8.3.2 step 3.
        sink.set_timer(Timer::Startup, now.plus(ep.config.startup_time));
        // §8.3.2 step 4: the primary connects; the secondary listens (the driver's job).
        if ep.config.role == Role::Primary {
            ep.conn.start_connecting(&mut sink);
        }
        if ep.config.heartbeat_interval > 0 {
            sink.set_timer(Timer::Heartbeat, now.plus(ep.config.heartbeat_interval));
        }
        let out = ep.finish_step(now, sink);
        (ep, out)
    }

    /// Feeds one input at time `now`; returns the outputs to carry out, in order.
    pub fn handle(&mut self, now: Time, input: Input) -> Vec<Output> {
        let mut sink = Sink::new(std::mem::take(&mut self.timers));
        match input {
            Input::Client(req) => {
                let mut server = Server {
                    st: standing(&self.config, &self.machine),
                    leases: &mut self.leases,
                    in_flight: self.updates.in_flight(),
                    shut_down: self.conn.is_shut_down(),
                };
                if server.on_client(now, req, &mut sink) == Answered::Changed {
                    self.flush_updates(now, &mut sink);
                }
            }
            Input::Partner(msg) => self.on_partner_message(now, msg, &mut sink),
            Input::PartnerMalformed { reason } => {
                if !self.conn.is_down() {
                    sink.partner_rejected(reason);
                    self.drop_connection(now, &mut sink);
                }
            }
            Input::ConnectionUp => self.conn.on_up(now, &self.config, &self.updates, &mut sink),
            Input::ConnectionDown => {
                if !self.conn.is_down() {
                    self.comms_down(now, &mut sink);
                }
            }
            Input::Timer(t) => self.on_timer(now, t, &mut sink),
            Input::Timeout => self.on_timeout(now, &mut sink),
            Input::Command(c) => self.on_command(now, c, &mut sink),
        }
        self.finish_step(now, sink)
    }

    /// Moves every time the endpoint holds by `delta` seconds (the state record and live
    /// state's times, the partner's reported times, every binding's times, the timers'
    /// deadlines), keeping the RFC's zero "no time" as it is ([`Time::translated`]).
    ///
    /// **For the model checker only** (its time canonicalisation, `failover-specs`'
    /// `timeshift` module): a driver never moves an endpoint in time. It rests on the core being
    /// *time-translation equivariant*: `handle` only compares the times it holds or receives with
    /// each other and with `now`, adds durations to them and takes differences (the CLTT and
    /// skew on the wire are differences), and no configuration holds an absolute time. So for
    /// every input `i` whose own times (a partner message's, see
    /// [`crate::Message::translate`]) are moved too,
    /// `translate(e, d).handle(now + d, translate(i, d))` = `translate(e.handle(now, i), d)`
    /// with the outputs' times moved, as long as no non-zero time reaches zero or the
    /// saturation at [`Time::MAX`] (docs/model.md *Time translation* has the list of what the
    /// core compares; `failover-specs`' `tests/timeshift.rs` checks the commutation along
    /// random walks).
    ///
    /// # Panics
    /// A non-zero time would leave the representable range.
    pub fn translate(&mut self, delta: i64) {
        self.map_times(&|t| t.translated(delta));
    }

    /// Replaces every time `t` the endpoint holds (those [`Endpoint::translate`] moves) by
    /// `f(t)`; `f` must keep [`Time::ZERO`]. For the model checker only: its measurements of
    /// time canonicalisations other than a translation (`failover-specs`' `timeshift`), which
    /// are sound only for the maps docs/model.md *Time translation* names.
    pub fn map_times(&mut self, f: &impl Fn(Time) -> Time) {
        self.machine.map_times(f);
        self.conn.map_times(f);
        self.leases.map_times(f);
        for t in self.timers.values_mut() {
            *t = f(*t);
        }
    }

    /// The end of every step: FO_SEND_TIMER after a send (§6.6), the expiry timer; the timers
    /// go back to the endpoint.
    fn finish_step(&mut self, now: Time, mut sink: Sink) -> Vec<Output> {
        self.settle_step(now, &mut sink);
        let (out, timers) = sink.finish();
        self.timers = timers;
        out
    }

    /// What ends a step, also between the timers one [`Input::Timeout`] fires (idempotent).
    fn settle_step(&mut self, now: Time, sink: &mut Sink) {
        if sink.take_sent() {
            self.conn.rearm_send_timer(now, sink);
        }
        let st = standing(&self.config, &self.machine);
        match self.leases.next_expiry(&st) {
            Some(t) => sink.set_timer(Timer::Expiry, t.max(now)),
            None => sink.cancel_timer(Timer::Expiry),
        }
    }

    /// Sends what may go to the partner now (§7.4).
    fn flush_updates(&mut self, now: Time, sink: &mut Sink) {
        let state = self.machine.state();
        self.updates.flush(now, state, &mut self.conn, &mut self.leases, sink);
    }

    /// Persists the state record.
    fn persist_record(&mut self, now: Time, sink: &mut Sink) {
        self.machine.persist(now, sink);
    }

    #[cfg(feature = "mutations")]
    pub(crate) fn mutated(&self, m: crate::mutation::Mutation) -> bool {
        self.config.mutation == Some(m)
    }
}
