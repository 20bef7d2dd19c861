//! The outputs of one step and the armed timers: what every sub-machine writes to.
//!
//! A [`Sink`] collects the [`Output`]s of one [`crate::Endpoint::handle`] step in order, and
//! holds the endpoint's timer map for that step: [`Sink::set_timer`] and
//! [`Sink::cancel_timer`] are the only places that arm and disarm a timer. Timers are not
//! outputs: the map is the one source of truth, read by the driver through
//! `Endpoint::next_deadline` (the timer contract of [`crate::io`]).

use crate::dhcp::client::{ClientReply, SilenceReason};
use crate::failover::message::{Message, MessageBody, XID_MAX};
use crate::io::{DurableWrite, Event, Output, StateRecord, Timer};
use crate::leases::binding::Binding;
use crate::time::Time;
use std::collections::BTreeMap;

/// The outputs of one step, with the timer map while the step runs.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    out: Vec<Output>,
    timers: BTreeMap<Timer, Time>,
    /// A message was sent in this step (FO_SEND_TIMER is re-armed once at its end).
    sent: bool,
}

impl Sink {
    /// A sink for one step, holding the endpoint's armed timers until [`Sink::finish`].
    pub(crate) fn new(timers: BTreeMap<Timer, Time>) -> Sink {
        Sink { out: Vec::new(), timers, sent: false }
    }

    /// The step's outputs, in order, and the timer map to keep.
    pub(crate) fn finish(self) -> (Vec<Output>, BTreeMap<Timer, Time>) {
        (self.out, self.timers)
    }

    // ------------------------------------------------------------ timers

    /// Arms `timer` for `at` (re-arming replaces the deadline).
    pub(crate) fn set_timer(&mut self, timer: Timer, at: Time) {
        self.timers.insert(timer, at);
    }

    /// Disarms `timer` (no output if it was not armed).
    pub(crate) fn cancel_timer(&mut self, timer: Timer) {
        self.timers.remove(&timer);
    }

    /// The next timer an [`crate::io::Input::Timeout`] at `now` fires: the earliest due
    /// deadline and, at equal deadlines, the first in [`Timer`] order, skipping those already
    /// `fired` in this step.
    pub(crate) fn next_due(&self, now: Time, fired: &[Timer]) -> Option<Timer> {
        self.timers
            .iter()
            .filter(|(t, at)| **at <= now && !fired.contains(t))
            .min_by_key(|(t, at)| (**at, **t))
            .map(|(t, _)| *t)
    }

    /// Whether `timer` is armed.
    pub(crate) fn armed(&self, timer: Timer) -> bool {
        self.timers.contains_key(&timer)
    }

    /// A timer fires: true (and it is disarmed) only when armed and due at `now`; anything
    /// else is stale and ignored.
    pub(crate) fn fire(&mut self, timer: Timer, now: Time) -> bool {
        match self.timers.get(&timer) {
            Some(at) if *at <= now => {
                self.timers.remove(&timer);
                true
            }
            _ => false,
        }
    }

    // ------------------------------------------------------------ outputs

    /// Writes a binding to stable storage.
    pub(crate) fn persist_binding(&mut self, b: &Binding) {
        self.out.push(Output::Persist(DurableWrite::Binding(b.clone())));
    }

    /// Writes the state record to stable storage.
    pub(crate) fn persist_state(&mut self, record: &StateRecord) {
        self.out.push(Output::Persist(DurableWrite::State(record.clone())));
    }

    /// Sends a failover message with a given xid, stamped with `now` as its sent-time.
    pub(crate) fn send(&mut self, now: Time, xid: u32, body: MessageBody) {
        self.out.push(Output::Send(Message { xid: xid & XID_MAX, sent_time: now, body }));
        self.sent = true;
    }

    /// The seeded bug `AckBeforePersist`: the message goes out before this step's first
    /// durable write.
    #[cfg(feature = "mutations")]
    pub(crate) fn send_before_persists(&mut self, now: Time, xid: u32, body: MessageBody) {
        let first_persist =
            self.out.iter().position(|o| matches!(o, Output::Persist(_))).unwrap_or(self.out.len());
        let msg = Message { xid: xid & XID_MAX, sent_time: now, body };
        self.out.insert(first_persist, Output::Send(msg));
        self.sent = true;
    }

    /// Whether a message was sent since the last call (and clears the mark).
    pub(crate) fn take_sent(&mut self) -> bool {
        std::mem::take(&mut self.sent)
    }

    /// Something to log or count.
    pub(crate) fn event(&mut self, e: Event) {
        self.out.push(Output::Event(e));
    }

    /// An alarm for the operator.
    pub(crate) fn alarm(&mut self, text: impl Into<String>) {
        self.event(Event::Alarm(text.into()));
    }

    /// The partner did something this endpoint does not accept.
    pub(crate) fn partner_rejected(&mut self, reason: impl Into<String>) {
        self.event(Event::PartnerRejected { reason: reason.into() });
    }

    /// Answers a client.
    pub(crate) fn reply(&mut self, r: ClientReply) {
        self.out.push(Output::Reply(r));
    }

    /// Answers a client with nothing.
    pub(crate) fn silence(&mut self, tag: u64, reason: SilenceReason) {
        self.out.push(Output::Silence { tag, reason });
    }

    /// Asks the driver to open the transport to the partner.
    pub(crate) fn connect(&mut self) {
        self.out.push(Output::Connect);
    }

    /// Asks the driver to close the transport to the partner.
    pub(crate) fn disconnect(&mut self) {
        self.out.push(Output::Disconnect);
    }
}
