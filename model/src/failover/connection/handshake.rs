//! The connection handshake (RFC 8156 §6.1-§6.3): the checks every received message passes
//! (keepalive §6.6, time skew §7.5.1), CONNECT and CONNECTREPLY with their checks (§6.1.1-§6.1.3),
//! rejections and the back-off they cause (§6.1), the partner's STATE (§6.3), DISCONNECT
//! (§5.3.10) and the refusals of what the RFC does not allow.

use super::{
    reconnect_delay, ConnPhase, Connection, OpenXids, Refused, REJECTED_RECONNECT_MAX_DOUBLINGS,
};
use crate::config::Config;
use crate::failover::message::{
    ConnectOptions, DisconnectOptions, Message, MessageBody, StateOptions, Status, StatusCode,
    CONNECT_FLAG_FIXED_PD_LENGTH, PROTOCOL_VERSION,
};
use crate::failover::state::{EndpointState, Role};
use crate::io::{Event, Rejection, Timer};
use crate::sink::Sink;
use crate::time::{Time, SKEW_TOLERANCE};

impl Connection {
    /// A connection rejection (§6.1), before the connection is dropped: one more step of the
    /// primary's back-off, and the event saying when the next attempt will be.
    fn rejected(&mut self, config: &Config, rejection: Rejection, detail: String, sink: &mut Sink) {
        self.rejections = (self.rejections + 1).min(REJECTED_RECONNECT_MAX_DOUBLINGS);
        let retry_in = (config.role == Role::Primary && !self.shut_down)
            .then(|| reconnect_delay(config.reconnect_interval, self.rejections));
        sink.event(Event::ConnectionRejected { rejection, detail, retry_in });
    }

    // ------------------------------------------------------------ receiving

    /// The checks every received message passes first: a connection to carry it, the
    /// keepalive restart (§6.6) and the time skew (§7.5.1, §6.1.2; a CONNECT with excessive
    /// skew is refused with a CONNECTREPLY).
    pub(crate) fn admit(
        &mut self,
        now: Time,
        msg: &Message,
        config: &Config,
        sink: &mut Sink,
    ) -> Result<(), Refused> {
        if matches!(self.phase, ConnPhase::Down | ConnPhase::Connecting) {
            sink.partner_rejected(format!("{} with no connection", msg.body.name()));
            return Err(Refused::Ignore);
        }
        // §6.6: every received message restarts FO_KEEPALIVE_TIMER.
        sink.set_timer(Timer::Keepalive, now.plus(config.keepalive_time));
        // §7.5.1 / §6.1.2: time skew. STARTTLS and REPLY are DHCPv6 messages without a
        // sent-time (RFC 7653 §6.2.2, RFC 8415 §8; docs/design.md "STARTTLS").
        let skew = i64::from(now.0) - i64::from(msg.sent_time.0);
        if msg.body.has_sent_time() {
            self.skew = Some(skew);
        }
        if msg.body.has_sent_time() && skew.unsigned_abs() > u64::from(SKEW_TOLERANCE) {
            sink.event(Event::Skew(skew));
            if let (MessageBody::Connect(_), Role::Secondary) = (&msg.body, config.role) {
                self.reject_connect(
                    now,
                    msg.xid,
                    StatusCode::EXCESSIVE_TIME_SKEW,
                    "time skew over 5 s",
                    config,
                    sink,
                );
            } else {
                // Counted as a rejection whatever the message: the next attempt would meet the
                // same clocks (a CONNECTREPLY from a skewed secondary is the usual case).
                self.rejected(
                    config,
                    Rejection::TimeSkew,
                    format!("time skew {skew} s on {}", msg.body.name()),
                    sink,
                );
            }
            return Err(Refused::Drop);
        }
        Ok(())
    }

    /// Refuses a CONNECT with a CONNECTREPLY carrying `code`; the caller drops the link.
    fn reject_connect(
        &mut self,
        now: Time,
        xid: u32,
        code: StatusCode,
        why: &str,
        config: &Config,
        sink: &mut Sink,
    ) {
        let rejection = if code == StatusCode::EXCESSIVE_TIME_SKEW {
            Rejection::TimeSkew
        } else {
            Rejection::ConnectRefused(code.0)
        };
        self.rejected(config, rejection, format!("CONNECT rejected: code {} {why}", code.0), sink);
        // §6.6: FO_KEEPALIVE_TIME goes on every CONNECTREPLY, a rejecting one included.
        let opts = ConnectOptions {
            status: Some(Status::new(code, why)),
            keepalive_time: Some(config.keepalive_time),
            ..ConnectOptions::default()
        };
        sink.send(now, xid, MessageBody::ConnectReply(opts));
    }

    /// §6.1.2: the secondary's checks on CONNECT. `Ok` carries the primary's MCLT, to be
    /// adopted before [`Connection::accept_connect`]; on `Err` the CONNECTREPLY refusing it is
    /// out and the link is to be dropped.
    pub(crate) fn check_connect(
        &mut self,
        now: Time,
        xid: u32,
        o: &ConnectOptions,
        config: &Config,
        sink: &mut Sink,
    ) -> Result<u32, Refused> {
        connect_refusal(config, o).map_err(|(code, why)| {
            self.reject_connect(now, xid, code, why, config, sink);
            Refused::Drop
        })
    }

    /// §6.1.2: the secondary accepts a CONNECT with its CONNECTREPLY; our STATE follows.
    pub(crate) fn accept_connect(
        &mut self,
        now: Time,
        xid: u32,
        o: &ConnectOptions,
        mclt: u32,
        config: &Config,
        sink: &mut Sink,
    ) {
        self.adopt_partner_params(config, o.keepalive_time, o.max_unacked_bndupd);
        let reply = our_connect_options(config, mclt);
        sink.send(now, xid, MessageBody::ConnectReply(reply));
        self.phase = ConnPhase::AwaitState;
    }

    /// §6.1.3: the primary's checks on CONNECTREPLY (whose xid must answer our CONNECT,
    /// §5.4). `Ok`: our STATE follows.
    pub(crate) fn on_connect_reply(
        &mut self,
        now: Time,
        xid: u32,
        o: &ConnectOptions,
        config: &Config,
        open: &impl OpenXids,
        sink: &mut Sink,
    ) -> Result<(), Refused> {
        if self.open_request.take() != Some(xid) {
            // §5.4: an answer carries its request's xid. A CONNECTREPLY that answers no
            // CONNECT of ours leaves the handshake nowhere to go: drop the link.
            sink.partner_rejected(format!("CONNECTREPLY with xid {xid} answers no CONNECT"));
            return Err(Refused::Drop);
        }
        let problem = if let Some(s) = &o.status {
            Some(format!("CONNECT rejected by the secondary: code {} {}", s.code.0, s.message))
        } else if o.protocol_version.map(|v| v.0) != Some(PROTOCOL_VERSION.0) {
            Some("unsupported protocol version in CONNECTREPLY".to_string())
        } else if o.mclt != Some(config.mclt) {
            Some("CONNECTREPLY MCLT differs from ours".to_string())
        } else if o.connect_flags.unwrap_or(0) & CONNECT_FLAG_FIXED_PD_LENGTH == 0
            && !config.prefix_pools.is_empty()
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
            self.rejected(config, rejection, reason.clone(), sink);
            if o.status.is_none() {
                let status = Status::new(StatusCode::UNSPEC_FAIL, reason);
                self.send_disconnect(now, status, open, sink);
            }
            // The reconnection timer it arms follows the back-off (§6.1, `rejected`).
            return Err(Refused::Drop);
        }
        self.adopt_partner_params(config, o.keepalive_time, o.max_unacked_bndupd);
        self.phase = ConnPhase::AwaitState;
        Ok(())
    }

    fn adopt_partner_params(
        &mut self,
        config: &Config,
        keepalive: Option<u32>,
        max_unacked: Option<u32>,
    ) {
        // §6.5: the partner's keepalive drives FO_SEND_TIME; our own drives the receive timer
        // (digest §11.3 item 8).
        let ka = keepalive.filter(|k| *k > 0).unwrap_or(config.keepalive_time);
        self.partner.keepalive_time = ka;
        self.send_time = (ka / config.contacts_per_keepalive.max(1)).max(1);
        self.partner.max_unacked = max_unacked.unwrap_or(1).max(1);
    }

    /// The partner's STATE (§6.3): what it says is learned. `Err`: not a valid state (the
    /// event is out; drop the link). `Ok(true)`: comms just became OK (§6.1), the back-off
    /// starts again from the interval.
    pub(crate) fn on_state(
        &mut self,
        now: Time,
        o: &StateOptions,
        sink: &mut Sink,
    ) -> Result<bool, Refused> {
        let Some(pstate) = o.server_state.filter(|s| *s != EndpointState::Startup) else {
            sink.partner_rejected("STATE without a valid server state");
            return Err(Refused::Drop);
        };
        let flags = o.flags.unwrap_or_default();
        self.partner.state = Some(pstate);
        self.partner.state_start = o.start_time_of_state.unwrap_or(now);
        self.partner.partner_down_time = o.partner_down_time.unwrap_or(Time::ZERO);
        self.partner.flags = flags;
        if self.partner.first_communicated.is_none() {
            self.partner.first_communicated = Some(flags.communicated);
        }
        sink.event(Event::PartnerState(pstate));
        let newly_ok = self.phase == ConnPhase::AwaitState;
        if newly_ok {
            self.phase = ConnPhase::Ok;
            // The connection worked: the §6.1 back-off starts again from the interval.
            self.rejections = 0;
        }
        Ok(newly_ok)
    }

    /// A message the RFC does not allow here (e.g. CONNECT to a primary, BNDUPD before comms
    /// are OK, STARTTLS after the transport is up): DISCONNECT with UnspecFail; the caller
    /// drops the link.
    pub(crate) fn refuse_unexpected(
        &mut self,
        now: Time,
        body: &MessageBody,
        open: &impl OpenXids,
        sink: &mut Sink,
    ) {
        let reason = format!("unexpected {} in {:?}", body.name(), self.phase);
        sink.partner_rejected(reason.clone());
        let status = Status::new(StatusCode::UNSPEC_FAIL, reason);
        self.send_disconnect(now, status, open, sink);
    }

    /// RFC 7653 §9.1 (via RFC 8156 §10): a server not configured for TLS on this connection
    /// answers STARTTLS with a REPLY carrying TLSConnectionRefused and the STARTTLS's
    /// transaction-id, and closes (the caller drops the link). (A driver that negotiates TLS
    /// handles STARTTLS before reporting the connection up.)
    pub(crate) fn refuse_starttls(&mut self, now: Time, xid: u32, sink: &mut Sink) {
        sink.partner_rejected("STARTTLS without TLS configured");
        let refusal = crate::failover::secure::answer_starttls(false, xid);
        sink.send(now, xid, refusal.body);
    }

    /// A DISCONNECT from the partner (§5.3.10); the caller drops the link.
    pub(crate) fn on_disconnect(&mut self, o: DisconnectOptions, config: &Config, sink: &mut Sink) {
        let code = o.status.as_ref().map(|s| s.code);
        let reason = o.status.map_or_else(|| "DISCONNECT".to_string(), |s| s.message);
        if code == Some(StatusCode::SERVER_SHUTTING_DOWN) {
            // A planned shutdown (§5.3.10) is no rejection: the partner will be back, and the
            // sooner we reconnect the sooner the pair is together again.
            sink.partner_rejected(format!("partner disconnected: {reason}"));
        } else {
            // §6.1: "rejected by ... a DISCONNECT message": any other reason, or none.
            let detail = match code {
                Some(c) => format!("partner disconnected: code {} {reason}", c.0),
                None => format!("partner disconnected: {reason}"),
            };
            self.rejected(config, Rejection::Disconnect(code.map(|c| c.0)), detail, sink);
        }
    }
}

/// The options both CONNECT (§6.1.1) and an accepting CONNECTREPLY (§6.1.2) carry.
pub(super) fn our_connect_options(config: &Config, mclt: u32) -> ConnectOptions {
    ConnectOptions {
        protocol_version: Some(PROTOCOL_VERSION),
        mclt: Some(mclt),
        keepalive_time: Some(config.keepalive_time),
        max_unacked_bndupd: Some(config.max_unacked_bndupd),
        relationship_name: None,
        connect_flags: Some(CONNECT_FLAG_FIXED_PD_LENGTH),
        status: None,
        unknown: Vec::new(),
    }
}

/// §6.1.2: the secondary's checks on a CONNECT's options (the sent-time is checked with every
/// message, [`Connection::admit`]). `Err` carries the status and the reason.
fn connect_refusal(config: &Config, o: &ConnectOptions) -> Result<u32, (StatusCode, &'static str)> {
    match o.protocol_version {
        Some((major, _)) if major == PROTOCOL_VERSION.0 => {}
        _ => return Err((StatusCode::NOT_SUPPORTED, "unsupported protocol version")),
    }
    let Some(mclt) = o.mclt.filter(|m| *m >= crate::config::MIN_LEASE_TIME) else {
        return Err((StatusCode::UNSPEC_FAIL, "missing or invalid MCLT"));
    };
    if let Some(name) = &o.relationship_name {
        if !config.relationship.is_empty() && *name != config.relationship {
            return Err((StatusCode::CONFIGURATION_CONFLICT, "unknown relationship"));
        }
    }
    // §6.1.2: we delegate fixed-length prefixes only; a primary with variable lengths is
    // incompatible. The RFC names no code; ConfigurationConflict (digest §11.3 item 11).
    let fixed = o.connect_flags.unwrap_or(0) & CONNECT_FLAG_FIXED_PD_LENGTH != 0;
    if !fixed && !config.prefix_pools.is_empty() {
        return Err((StatusCode::CONFIGURATION_CONFLICT, "variable prefix lengths"));
    }
    Ok(mclt)
}

/// (Secondary) whether a new connection whose first message is `first`, received at `now`,
/// may replace the connection that is up (see `Endpoint::may_replace_connection`).
pub(crate) fn may_replace_connection(
    config: &Config,
    now: Time,
    first: &Message,
) -> Result<(), String> {
    crate::failover::link::accepts_connection(config).map_err(str::to_string)?;
    let MessageBody::Connect(o) = &first.body else {
        return Err(format!("first message is {}, not CONNECT", first.body.name()));
    };
    let skew = i64::from(now.0) - i64::from(first.sent_time.0);
    if skew.unsigned_abs() > u64::from(SKEW_TOLERANCE) {
        return Err(format!("CONNECT with time skew {skew} s"));
    }
    connect_refusal(config, o).map(|_| ()).map_err(|(_, why)| format!("CONNECT refused: {why}"))
}
