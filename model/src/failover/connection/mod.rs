//! The partner connection (RFC 8156 §6): its phase (Figure 8), what this endpoint knows of
//! its partner, transaction ids (§5.4), the CONNECT / CONNECTREPLY exchange (§6.1), the
//! keepalive and send timers (§6.6), time skew (§6.1.2, §7.5.1) and the back-off after a
//! rejection (§6.1).
//!
//! The CONNECT / CONNECTREPLY / STATE exchange and the checks on every received message are in
//! `handshake`.
//!
//! What a connection event does to the endpoint state, the updates and the leases is the
//! endpoint's (`crate::endpoint`); the methods here say what happened by their result
//! (`Refused::Drop`: close the link and take the comms-failed path).

mod handshake;

pub(crate) use self::handshake::may_replace_connection;
use self::handshake::our_connect_options;
use crate::config::Config;
use crate::failover::message::{
    DisconnectOptions, MessageBody, ServerFlags, StateOptions, Status, StatusCode, XID_MAX,
};
use crate::failover::state::{EndpointState, Role};
use crate::io::Timer;
use crate::sink::Sink;
use crate::time::Time;
use serde::{Deserialize, Serialize};

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

/// The transaction ids held by other open exchanges (the update exchanges, §5.4), which a new
/// message must not take.
pub(crate) trait OpenXids {
    /// Whether `xid` belongs to an open exchange.
    fn is_open(&self, xid: u32) -> bool;
    /// How many exchanges are open (bounds the search for a free xid).
    fn open_count(&self) -> usize;
}

/// A message was refused by the connection's checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Ignore the message (no connection it could belong to).
    Ignore,
    /// Close the link and take the comms-failed path (the events and any answer are out).
    Drop,
}

/// The partner connection of one endpoint (§6).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Connection {
    phase: ConnPhase,
    partner: PartnerView,
    next_xid: u32,
    /// The xid of our outstanding CONNECT (primary) or POOLREQ (secondary): its answer must
    /// carry it (§5.4), and no new message takes it while it is open.
    open_request: Option<u32>,
    skew: Option<i64>,
    /// §6.1 back-off: consecutive connection rejections since comms were last OK, capped at
    /// [`REJECTED_RECONNECT_MAX_DOUBLINGS`] (in memory only: a restart starts afresh).
    rejections: u32,
    send_time: u32,
    /// A planned shutdown was commanded: no more connections, no clients.
    shut_down: bool,
}

impl Connection {
    /// Replaces every time `t` by `f(t)` (`Endpoint::map_times`). The measured skew is a
    /// difference of two times and stays.
    pub(crate) fn map_times(&mut self, f: &impl Fn(Time) -> Time) {
        self.partner.state_start = f(self.partner.state_start);
        self.partner.partner_down_time = f(self.partner.partner_down_time);
    }

    /// A connection that is down, knowing the partner's state from the record.
    pub(crate) fn new(config: &Config, partner_state: Option<EndpointState>, since: Time) -> Self {
        Connection {
            phase: ConnPhase::Down,
            partner: PartnerView {
                state: partner_state,
                state_start: since,
                keepalive_time: config.keepalive_time,
                max_unacked: 1,
                ..PartnerView::default()
            },
            next_xid: 1,
            open_request: None,
            skew: None,
            rejections: 0,
            send_time: config.default_send_time(),
            shut_down: false,
        }
    }

    // ------------------------------------------------------------ reading

    /// The phase.
    pub(crate) fn phase(&self) -> ConnPhase {
        self.phase
    }

    /// Comms OK (§6.1).
    pub(crate) fn is_ok(&self) -> bool {
        self.phase == ConnPhase::Ok
    }

    /// No transport.
    pub(crate) fn is_down(&self) -> bool {
        self.phase == ConnPhase::Down
    }

    /// Whether the partner hears a STATE now (our STATE was or is being exchanged).
    pub(crate) fn hears_state(&self) -> bool {
        matches!(self.phase, ConnPhase::AwaitState | ConnPhase::Ok)
    }

    /// What this endpoint knows of its partner.
    pub(crate) fn partner(&self) -> &PartnerView {
        &self.partner
    }

    /// The last measured skew.
    pub(crate) fn skew(&self) -> Option<i64> {
        self.skew
    }

    /// A planned shutdown was commanded.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    // ------------------------------------------------------------ sending

    fn alloc_xid(&mut self, open: &impl OpenXids) -> u32 {
        // §5.4: unique among outstanding requests, including an open UPDREQ/UPDREQALL across
        // the 24-bit wrap.
        for _ in 0..=open.open_count() + 2 {
            let x = self.next_xid;
            self.next_xid = if self.next_xid >= XID_MAX { 1 } else { self.next_xid + 1 };
            if !open.is_open(x) && self.open_request != Some(x) {
                return x;
            }
        }
        self.next_xid
    }

    /// Sends a message that starts an exchange (new xid). Returns the xid.
    pub(crate) fn send_new(
        &mut self,
        now: Time,
        body: MessageBody,
        open: &impl OpenXids,
        sink: &mut Sink,
    ) -> u32 {
        let xid = self.alloc_xid(open);
        sink.send(now, xid, body);
        xid
    }

    /// Sends a STATE (§6.3) with `opts`.
    pub(crate) fn send_state(
        &mut self,
        now: Time,
        opts: StateOptions,
        open: &impl OpenXids,
        sink: &mut Sink,
    ) {
        self.send_new(now, MessageBody::State(opts), open, sink);
    }

    /// (Secondary, NORMAL) §8.8: asks for its share of the delegable prefixes (§4.2.2).
    pub(crate) fn send_poolreq(&mut self, now: Time, open: &impl OpenXids, sink: &mut Sink) {
        let body = MessageBody::PoolReq(Default::default());
        let xid = self.send_new(now, body, open, sink);
        self.open_request = Some(xid);
    }

    /// (Secondary) a POOLRESP arrived: it must answer our POOLREQ (§5.4).
    pub(crate) fn on_poolresp(&mut self, xid: u32, sink: &mut Sink) {
        if self.open_request == Some(xid) {
            self.open_request = None;
        } else {
            // §5.4: not the answer to our POOLREQ; nothing depends on it.
            sink.partner_rejected(format!("POOLRESP with xid {xid} answers no POOLREQ"));
        }
    }

    /// FO_SEND_TIMER fired (§6.6): CONTACT if a connection is there to carry it.
    pub(crate) fn on_contact_timer(&mut self, now: Time, open: &impl OpenXids, sink: &mut Sink) {
        if self.phase != ConnPhase::Down && self.phase != ConnPhase::Connecting {
            self.send_new(now, MessageBody::Contact(Default::default()), open, sink);
        }
    }

    /// At the end of a step that sent something: re-arm FO_SEND_TIMER (§6.6).
    pub(crate) fn rearm_send_timer(&self, now: Time, sink: &mut Sink) {
        if self.phase != ConnPhase::Down {
            sink.set_timer(Timer::Contact, now.plus(self.send_time.max(1)));
        }
    }

    /// Sends DISCONNECT with a status.
    fn send_disconnect(
        &mut self,
        now: Time,
        status: Status,
        open: &impl OpenXids,
        sink: &mut Sink,
    ) {
        let body = MessageBody::Disconnect(DisconnectOptions {
            status: Some(status),
            unknown: Vec::new(),
        });
        self.send_new(now, body, open, sink);
    }

    // ------------------------------------------------------------ up and down

    /// (Primary) starts a connection attempt.
    pub(crate) fn start_connecting(&mut self, sink: &mut Sink) {
        self.phase = ConnPhase::Connecting;
        sink.connect();
    }

    /// (Primary) the reconnection timer fired.
    pub(crate) fn on_reconnect_timer(&mut self, config: &Config, sink: &mut Sink) {
        if config.role == Role::Primary && self.phase == ConnPhase::Down && !self.shut_down {
            self.start_connecting(sink);
        }
    }

    /// The transport came up: the primary sends CONNECT (§6.1.1), the secondary waits for it.
    pub(crate) fn on_up(
        &mut self,
        now: Time,
        config: &Config,
        open: &impl OpenXids,
        sink: &mut Sink,
    ) {
        if self.shut_down || !matches!(self.phase, ConnPhase::Down | ConnPhase::Connecting) {
            return;
        }
        sink.cancel_timer(Timer::Reconnect);
        self.partner.first_communicated = None;
        self.send_time = config.default_send_time();
        sink.set_timer(Timer::Keepalive, now.plus(config.keepalive_time));
        match config.role {
            Role::Primary => {
                // §6.1.1: CONNECT.
                let mut opts = our_connect_options(config, config.mclt);
                opts.relationship_name =
                    (!config.relationship.is_empty()).then(|| config.relationship.clone());
                self.phase = ConnPhase::AwaitConnectReply;
                let xid = self.send_new(now, MessageBody::Connect(opts), open, sink);
                self.open_request = Some(xid);
            }
            Role::Secondary => self.phase = ConnPhase::AwaitConnect,
        }
    }

    /// Comms are no longer OK: the phase is down and the handshake forgotten. Returns whether
    /// comms were OK.
    pub(crate) fn go_down(&mut self) -> bool {
        let was_ok = self.phase == ConnPhase::Ok;
        self.phase = ConnPhase::Down;
        self.open_request = None;
        self.partner.flags.startup = false;
        was_ok
    }

    /// (Primary) arms the next connection attempt, after the §6.1 back-off.
    pub(crate) fn arm_reconnect(&self, now: Time, config: &Config, sink: &mut Sink) {
        if config.role == Role::Primary && !self.shut_down {
            let delay = reconnect_delay(config.reconnect_interval, self.rejections);
            sink.set_timer(Timer::Reconnect, now.plus(delay));
        }
    }

    /// A planned shutdown (§5.3.10): DISCONNECT with ServerShuttingDown if the partner can
    /// hear it; no more connections. The caller closes the link.
    pub(crate) fn shut_down(&mut self, now: Time, open: &impl OpenXids, sink: &mut Sink) {
        if matches!(
            self.phase,
            ConnPhase::AwaitState
                | ConnPhase::Ok
                | ConnPhase::AwaitConnect
                | ConnPhase::AwaitConnectReply
        ) {
            let status = Status::new(StatusCode::SERVER_SHUTTING_DOWN, "planned shutdown");
            self.send_disconnect(now, status, open, sink);
        }
        self.shut_down = true;
        sink.cancel_timer(Timer::Reconnect);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoneOpen;
    impl OpenXids for NoneOpen {
        fn is_open(&self, _: u32) -> bool {
            false
        }
        fn open_count(&self) -> usize {
            0
        }
    }

    /// §5.4: a new xid never takes the one of an open CONNECT or POOLREQ, even when the
    /// counter comes round to it (the 24-bit wrap).
    #[test]
    fn new_xids_skip_an_open_request() {
        let config = Config::example(Role::Secondary);
        let mut conn = Connection::new(&config, None, Time::ZERO);
        conn.open_request = Some(XID_MAX);
        conn.next_xid = XID_MAX;
        let x = conn.alloc_xid(&NoneOpen);
        assert_ne!(x, XID_MAX, "the open POOLREQ's xid was handed out again");
        assert_eq!(x, 1, "the counter wraps past it");
    }
}
