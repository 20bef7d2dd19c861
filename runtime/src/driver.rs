//! The driver: one task that owns the [`Endpoint`] and carries out its outputs.
//!
//! Everything that happens to the endpoint arrives as a [`DriverMsg`] on one channel (client
//! requests from [`crate::dhcp`], partner traffic from [`crate::partner`], control commands
//! from [`crate::control`]) or as a timer that fell due. For each, the driver reads `now` from
//! its [`Clock`], calls [`Endpoint::handle`] and carries out the outputs **in order**
//! (the contract in [`failover_model::io`]):
//!
//! - `Persist` writes go into the open batch. One batch at a time is committed (redb, durable)
//!   on a blocking thread; writes produced while it is in flight form the next batch
//!   (group commit).
//! - Every output that leaves the machine (`Reply`, `Send`) or changes the link (`Connect`,
//!   `Disconnect`) is tagged with the batch it must wait for: the open batch if it holds writes,
//!   else the batch in flight. It goes out as soon as that batch is durable, and never before
//!   an earlier held output (FIFO), so a reply or BNDREPLY never overtakes the write it depends
//!   on, and partner messages keep their order.
//! - Timers are the endpoint's own: after every step the driver sleeps until
//!   [`Endpoint::next_deadline`] (or the next message) and, once the clock has reached it
//!   (never early), feeds [`Input::Timeout`], which fires every due timer in the core's fixed
//!   order. The driver keeps no timer table of its own, and never feeds `Input::Timer` (the
//!   model checker's and the tests' hook).
//! - `Event`s go to the log and the metrics.
//!
//! The driver decides nothing about the protocol: it only moves bytes, time and disk.

use crate::clock::Clock;
use crate::gate::Gate;
use crate::metrics::Metrics;
use crate::partner::{self, LinkCmd, PartnerConn};
use crate::ratelimit::{RepeatLog, Verdict};
use crate::store::Store;
use crate::tls::{PartnerStream, TlsContext};
use crate::trace::TraceWriter;
use failover_model::wire::client::{encode_client_reply, ReplyContext};
use failover_model::wire::failover::{encode_frame, FrameDecoder};
use failover_model::{
    dhcp::client::ClientReply, Command, DurableImage, DurableWrite, Endpoint, EndpointState, Event,
    Input, Message, Output, Time,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// Where to send the answer to one client request.
#[derive(Clone, Debug)]
pub struct ReplyRoute {
    /// The wire context (xid, relay chain, ORO).
    pub context: ReplyContext,
    /// The socket it came in on.
    pub socket: Arc<UdpSocket>,
    /// Where to send the reply.
    pub dest: SocketAddr,
}

/// A control request for the driver.
#[derive(Debug)]
pub struct ControlCall {
    /// The command name.
    pub command: String,
    /// Its arguments.
    pub arguments: serde_json::Value,
    /// Where to send the response.
    pub reply: oneshot::Sender<serde_json::Value>,
}

/// Everything that reaches the driver.
#[derive(Debug)]
pub enum DriverMsg {
    /// A decoded client request and where to answer it.
    Client {
        /// The request.
        request: failover_model::dhcp::client::ClientRequest,
        /// The route.
        route: ReplyRoute,
    },
    /// (Primary) a connection attempt succeeded.
    Connected {
        /// The attempt's id.
        id: u64,
        /// The stream.
        stream: PartnerStream,
    },
    /// (Secondary) a new connection from the partner's address that completed TLS (if
    /// configured) and sent a first frame.
    Accepted {
        /// The stream (after STARTTLS and TLS, if configured).
        stream: PartnerStream,
        /// Its address.
        peer: SocketAddr,
        /// The first frame, decoded (or why it did not decode). It is still in `decoder`.
        first: Result<Message, String>,
        /// What was read so far, starting with the first frame.
        decoder: FrameDecoder,
    },
    /// A message from the partner on connection `id`.
    PartnerMsg {
        /// Connection id.
        id: u64,
        /// The message.
        msg: Message,
        /// When its bytes came off the socket (RFC 8156 §7.1).
        received: Time,
    },
    /// Bytes from the partner on connection `id` that failed validation.
    PartnerMalformed {
        /// Connection id.
        id: u64,
        /// Why.
        reason: String,
    },
    /// Connection `id` closed or failed (or the attempt `id` failed).
    PartnerDown {
        /// Connection id.
        id: u64,
    },
    /// A control command.
    Control(ControlCall),
    /// Stop (signal): as the `shutdown` control command.
    Shutdown,
}

/// An output that leaves the machine, held until its batch is durable.
#[derive(Debug)]
enum Outgoing {
    Reply(ClientReply, Option<ReplyRoute>),
    Send(Message),
    Connect,
    Disconnect,
}

/// What the driver needs besides the endpoint.
pub struct DriverParts {
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The store.
    pub store: Arc<Store>,
    /// The restored image.
    pub image: DurableImage,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Trace file.
    pub trace: Option<TraceWriter>,
    /// The partner's failover address.
    pub partner: SocketAddr,
    /// The secure mode, if configured.
    pub tls: Option<TlsContext>,
    /// Sender side of the driver's own channel (for connection tasks).
    pub tx: mpsc::Sender<DriverMsg>,
}

/// The driver task's state.
pub struct Driver {
    ep: Endpoint,
    clock: Arc<dyn Clock>,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    trace: Option<TraceWriter>,
    partner_addr: SocketAddr,
    tls: Option<TlsContext>,
    tx: mpsc::Sender<DriverMsg>,
    routes: HashMap<u64, ReplyRoute>,
    // Persist before send, group commit.
    gate: Gate<DurableWrite, Outgoing>,
    commit_rx: Option<oneshot::Receiver<(u64, Result<Duration, String>)>>,
    // Partner link.
    link: Option<PartnerConn>,
    closing: Vec<tokio::task::JoinHandle<()>>,
    next_conn_id: u64,
    connecting: Option<u64>,
    /// Rate limit for the log line of a refused replacement connection.
    refused_log: partner::LogLimit,
    /// The `now` of the last step (steps never go back in time).
    last_now: Time,
    shutting_down: bool,
    fatal: Option<String>,
    /// Repeated connection rejections are logged once per window (§6.1: they repeat).
    rejections_log: RepeatLog,
    /// The core's refusal of the command being carried out (`CommandRefused`), if any.
    refused: Option<String>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").field("state", &self.ep.state()).finish_non_exhaustive()
    }
}

fn message_name(m: &Message) -> &'static str {
    m.body.name()
}

fn state_code(s: EndpointState) -> i64 {
    i64::from(s.code())
}

impl Driver {
    /// Restores the endpoint from the store's image and carries out the restore outputs.
    #[must_use]
    pub fn new(config: failover_model::Config, parts: DriverParts) -> Driver {
        let now = parts.clock.now();
        let bindings = parts.image.bindings.len();
        // The trace records the image it was restored from; only then is a copy kept.
        let traced_image = parts.trace.as_ref().map(|_| parts.image.clone());
        // The image's bindings move into the endpoint: a large store is held once, not twice.
        let (ep, outputs) = Endpoint::restore_owned(config, parts.image, now);
        let mut d = Driver {
            ep,
            clock: parts.clock,
            store: parts.store,
            metrics: parts.metrics,
            trace: parts.trace,
            partner_addr: parts.partner,
            tls: parts.tls,
            tx: parts.tx,
            routes: HashMap::new(),
            gate: Gate::default(),
            commit_rx: None,
            link: None,
            closing: Vec::new(),
            next_conn_id: 1,
            connecting: None,
            refused_log: partner::LogLimit::default(),
            last_now: now,
            shutting_down: false,
            fatal: None,
            rejections_log: RepeatLog::default(),
            refused: None,
        };
        if let (Some(t), Some(image)) = (d.trace.as_mut(), traced_image.as_ref()) {
            if let Err(e) = t.restore(now, image, &outputs, d.ep.next_deadline()) {
                tracing::warn!("trace file: {e}; tracing stopped");
                d.trace = None;
            }
        }
        tracing::info!(role = ?d.ep.config().role, state = d.ep.state().name(), bindings, "restored");
        d.carry_out(outputs, None);
        d
    }

    /// The endpoint (for control queries).
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// The clock.
    #[must_use]
    pub fn now(&self) -> Time {
        self.clock.now()
    }

    /// The transport as the runtime sees it: the partner's address, whether a connection is
    /// up, and whether it is secured (TLS).
    #[must_use]
    pub fn link(&self) -> (SocketAddr, bool, bool) {
        (self.partner_addr, self.link.is_some(), self.tls.is_some())
    }

    /// The metrics.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Feeds one input now and carries out the outputs.
    pub fn step(&mut self, input: Input) {
        let now = self.clock.now();
        self.step_at(now, input);
    }

    /// Feeds one input at `now` and carries out the outputs.
    fn step_at(&mut self, now: Time, input: Input) {
        self.last_now = now;
        let client_tag = match &input {
            Input::Client(r) => Some(r.tag),
            _ => None,
        };
        if let Some(t) = self.trace.as_mut() {
            if let Err(e) = t.input(now, &input) {
                tracing::warn!("trace file: {e}; tracing stopped");
                self.trace = None;
            }
        }
        let outputs = self.ep.handle(now, input);
        if let Some(t) = self.trace.as_mut() {
            if let Err(e) = t.outputs(&outputs, self.ep.next_deadline()) {
                tracing::warn!("trace file: {e}; tracing stopped");
                self.trace = None;
            }
        }
        self.carry_out(outputs, client_tag);
    }

    /// Carries out a step's outputs in order.
    fn carry_out(&mut self, outputs: Vec<Output>, client_tag: Option<u64>) {
        for o in outputs {
            match o {
                Output::Persist(w) => self.gate.persist(w),
                Output::Reply(r) => {
                    let route = self.routes.remove(&r.tag);
                    self.outgoing(Outgoing::Reply(r, route));
                }
                Output::Silence { tag, reason } => {
                    self.routes.remove(&tag);
                    self.metrics.silence(reason.name());
                    tracing::debug!(tag, ?reason, "silence");
                }
                Output::Send(m) => self.outgoing(Outgoing::Send(m)),
                Output::Connect => self.outgoing(Outgoing::Connect),
                Output::Disconnect => self.outgoing(Outgoing::Disconnect),
                Output::Event(e) => self.event(&e),
                other => {
                    tracing::warn!(?other, "output this runtime does not know; ignored");
                    self.metrics.drop_reason("unknown_output");
                }
            }
        }
        if let Some(tag) = client_tag {
            if self.routes.remove(&tag).is_some() {
                tracing::warn!(tag, "the core neither answered nor silenced a client request");
                self.metrics.drop_reason("client_request_unanswered");
            }
        }
        self.start_commit();
        self.release();
        self.refresh_gauges();
    }

    fn outgoing(&mut self, o: Outgoing) {
        self.gate.send(o);
    }

    fn start_commit(&mut self) {
        if self.fatal.is_some() {
            return;
        }
        let Some((id, batch)) = self.gate.next_batch() else { return };
        self.metrics.commit_batch.observe(batch.len() as f64);
        let store = self.store.clone();
        let (tx, rx) = oneshot::channel();
        self.commit_rx = Some(rx);
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let r = store.commit(&batch).map(|()| started.elapsed()).map_err(|e| e.to_string());
            let _ = tx.send((id, r));
        });
    }

    fn commit_done(&mut self, id: u64, r: Result<Duration, String>) {
        self.commit_rx = None;
        match r {
            Ok(d) => {
                self.metrics.commit_seconds.observe(d.as_secs_f64());
                self.gate.committed(id);
            }
            Err(e) => {
                // Nothing that waited for this batch may leave: stop serving.
                let n = self.gate.failed();
                tracing::error!(
                    "durable commit failed: {e}; stopping, {n} held output(s) never sent"
                );
                self.fatal = Some(e);
                return;
            }
        }
        self.start_commit();
        self.release();
    }

    /// Sends every held output whose batch is durable, in order.
    fn release(&mut self) {
        while let Some(o) = self.gate.release() {
            self.execute(o);
        }
    }

    fn execute(&mut self, o: Outgoing) {
        match o {
            Outgoing::Reply(r, route) => {
                let Some(route) = route else {
                    tracing::warn!(tag = r.tag, "reply for an unknown request");
                    self.metrics.drop_reason("reply_without_route");
                    return;
                };
                match encode_client_reply(&r, &route.context) {
                    Ok(bytes) => {
                        let kind = r.kind.name();
                        match route.socket.try_send_to(&bytes, route.dest) {
                            Ok(_) => self.metrics.client_reply(kind),
                            Err(e) => {
                                tracing::debug!(dest = %route.dest, "reply not sent: {e}");
                                self.metrics.drop_reason("reply_send_failed");
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!("cannot encode reply: {e}");
                        self.metrics.drop_reason("reply_encode_failed");
                    }
                }
            }
            Outgoing::Send(m) => {
                let Some(link) = &self.link else {
                    tracing::debug!(
                        msg = message_name(&m),
                        "no partner connection; message dropped"
                    );
                    self.metrics.drop_reason("partner_not_connected");
                    return;
                };
                match encode_frame(&m) {
                    Ok(frame) => {
                        // The core decides which messages may overtake the queued ones.
                        let urgent = failover_model::failover::link::may_overtake(&m.body);
                        if !urgent {
                            self.metrics.bulk_queue.inc();
                        }
                        if link.send(LinkCmd::Frame { frame, urgent }) {
                            self.metrics.partner_sent(message_name(&m));
                        } else {
                            self.metrics.drop_reason("partner_writer_gone");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(msg = message_name(&m), "cannot encode: {e}");
                        self.metrics.drop_reason("partner_encode_failed");
                    }
                }
            }
            Outgoing::Connect => {
                if let Some(old) = self.link.take() {
                    self.close_link(old);
                }
                let id = self.next_conn_id;
                self.next_conn_id += 1;
                self.connecting = Some(id);
                partner::spawn_connect(
                    id,
                    self.partner_addr,
                    self.tls.clone(),
                    self.tx.clone(),
                    self.metrics.clone(),
                );
            }
            Outgoing::Disconnect => {
                self.connecting = None;
                if let Some(old) = self.link.take() {
                    self.close_link(old);
                }
            }
        }
    }

    fn event(&mut self, e: &Event) {
        match e {
            Event::StateChanged { from, to } => {
                tracing::info!(from = from.name(), to = to.name(), "state changed");
            }
            Event::PartnerState(s) => tracing::info!(partner = s.name(), "partner state"),
            Event::Comms(ok) => {
                tracing::info!(ok, "communications");
                if *ok {
                    let now = self.clock.now();
                    for (reason, held, over) in self.rejections_log.flush(now) {
                        tracing::info!(
                            reason,
                            "{held} more partner connection rejection(s) in the last {over} s \
                             before communications became OK"
                        );
                    }
                }
            }
            Event::LeaseGranted { resource, valid_lifetime } => {
                tracing::debug!(%resource, valid_lifetime, "lease granted");
            }
            Event::PartnerRejected { reason } => {
                tracing::warn!(%reason, "partner message rejected");
                self.metrics.drop_reason("partner_rejected");
            }
            Event::ConnectionRejected { rejection, detail, retry_in } => {
                let reason = rejection.label();
                self.metrics.rejection(reason);
                match self.rejections_log.occur(reason, self.clock.now()) {
                    Verdict::Log { held: 0, .. } => {
                        tracing::warn!(reason, %detail, ?retry_in, "partner connection rejected");
                    }
                    Verdict::Log { held, over } => tracing::warn!(
                        reason,
                        %detail,
                        ?retry_in,
                        "partner connection rejected ({held} more in the last {over} s)"
                    ),
                    Verdict::Hold => {
                        tracing::debug!(reason, %detail, ?retry_in, "partner connection rejected");
                    }
                }
            }
            Event::UpdateRejected { resource, code } => {
                tracing::warn!(%resource, code, "partner's update rejected");
            }
            Event::UpdateRejectedByPartner { resource, code } => {
                tracing::warn!(%resource, code, "our update rejected by the partner");
            }
            Event::Skew(s) => {
                self.metrics.skew.set(*s);
            }
            Event::Alarm(a) => tracing::warn!(alarm = %a, "ALARM"),
            Event::CommandRefused { command, state, reason } => {
                tracing::warn!(?command, state = state.name(), %reason, "command refused");
                self.refused = Some(reason.clone());
            }
            other => tracing::debug!(?other, "event"),
        }
    }

    fn refresh_gauges(&self) {
        let now = self.clock.now();
        let r = self.ep.status_report(now);
        self.metrics.state.set(state_code(r.state));
        self.metrics.partner_state.set(r.partner_state.map_or(0, state_code));
        self.metrics.time_in_state.set(i64::from(now.since(r.state_since)));
        self.metrics.comms_ok.set(i64::from(r.comms_ok));
        self.metrics.allocation_held.set(i64::from(self.ep.allocation_held()));
        self.metrics.pending_updates.set(i64::try_from(r.pending_updates).unwrap_or(i64::MAX));
        self.metrics.unacked_updates.set(i64::try_from(r.unacked_updates).unwrap_or(i64::MAX));
        self.metrics.active_leases.set(i64::try_from(r.active_leases).unwrap_or(i64::MAX));
        if let Some(s) = r.skew {
            self.metrics.skew.set(s);
        }
    }

    fn close_link(&mut self, link: PartnerConn) {
        self.closing.retain(|w| !w.is_finished());
        self.closing.push(link.close());
    }

    fn new_link(&mut self, id: u64, stream: PartnerStream, decoder: FrameDecoder) {
        self.metrics.connections.inc();
        let conn = partner::spawn_connection(
            id,
            stream,
            decoder,
            self.tx.clone(),
            self.metrics.clone(),
            self.clock.clone(),
        );
        self.link = Some(conn);
        self.step(Input::ConnectionUp);
    }

    fn handle_msg(&mut self, msg: DriverMsg) {
        match msg {
            DriverMsg::Client { request, route } => {
                self.metrics.client_request(request.kind.name());
                self.routes.insert(request.tag, route);
                self.step(Input::Client(request));
            }
            DriverMsg::Connected { id, stream } => {
                if self.connecting == Some(id) && self.link.is_none() {
                    self.connecting = None;
                    tracing::info!(partner = %self.partner_addr, "connected to partner");
                    self.new_link(id, stream, FrameDecoder::new());
                } else {
                    drop(stream);
                }
            }
            DriverMsg::Accepted { stream, peer, first, decoder } => {
                if let Err(why) =
                    failover_model::failover::link::accepts_connection(self.ep.config())
                {
                    tracing::debug!(%peer, "inbound partner connection dropped: {why}");
                    self.metrics.drop_reason("unexpected_inbound_connection");
                    return;
                }
                if self.link.is_some() {
                    // The core decides whether this connection may replace the live one (a
                    // CONNECT it would accept); anything else leaves the live one alone.
                    let verdict = match &first {
                        Ok(m) => self.ep.may_replace_connection(self.clock.now(), m),
                        Err(e) => Err(format!("first frame does not decode: {e}")),
                    };
                    if let Err(why) = verdict {
                        self.metrics.drop_reason("partner_candidate_refused");
                        if let Some(suppressed) = self.refused_log.allow() {
                            tracing::warn!(
                                %peer,
                                suppressed,
                                "new partner connection refused, the live one kept: {why}"
                            );
                        }
                        return;
                    }
                    if let Some(old) = self.link.take() {
                        tracing::info!("partner reconnected; dropping the previous connection");
                        self.close_link(old);
                        self.step(Input::ConnectionDown);
                    }
                }
                tracing::info!(%peer, "partner connected");
                let id = self.next_conn_id;
                self.next_conn_id += 1;
                self.new_link(id, stream, decoder);
            }
            DriverMsg::PartnerMsg { id, msg, received } => {
                if self.link.as_ref().is_some_and(|l| l.id == id) {
                    self.metrics.partner_received(message_name(&msg));
                    // §7.1: the skew is measured against the reception time, not the time
                    // the driver got to the message; steps never go back in time.
                    let now = received.max(self.last_now).min(self.clock.now());
                    self.step_at(now, Input::Partner(msg));
                }
            }
            DriverMsg::PartnerMalformed { id, reason } => {
                if self.link.as_ref().is_some_and(|l| l.id == id) {
                    self.metrics.drop_reason("partner_malformed");
                    self.step(Input::PartnerMalformed { reason });
                }
            }
            DriverMsg::PartnerDown { id } => {
                if self.link.as_ref().is_some_and(|l| l.id == id) {
                    if let Some(old) = self.link.take() {
                        self.close_link(old);
                    }
                    tracing::info!("partner connection lost");
                    self.step(Input::ConnectionDown);
                } else if self.connecting == Some(id) {
                    self.connecting = None;
                    self.step(Input::ConnectionDown);
                }
            }
            DriverMsg::Control(call) => {
                let resp = crate::control::execute(self, &call.command, &call.arguments);
                let _ = call.reply.send(resp);
            }
            DriverMsg::Shutdown => self.begin_shutdown(),
        }
    }

    /// Feeds the operator's shutdown (DISCONNECT goes out) and stops once it is sent.
    pub fn begin_shutdown(&mut self) {
        if !self.shutting_down {
            tracing::info!("shutting down");
            self.shutting_down = true;
            self.step(Input::Command(Command::Shutdown));
        }
    }

    /// Feeds an operator command.
    ///
    /// # Errors
    /// The core refused it (`Event::CommandRefused`): its reason.
    pub fn command(&mut self, c: Command) -> Result<(), String> {
        self.refused = None;
        self.step(Input::Command(c));
        self.refused.take().map_or(Ok(()), Err)
    }

    /// Feeds [`Input::Timeout`] while the endpoint's next deadline has passed. One timeout
    /// fires every due timer; another follows only if a timer was re-armed due meanwhile.
    fn fire_due_timers(&mut self) {
        while self.ep.next_deadline().is_some_and(|at| at <= self.clock.now()) {
            self.step(Input::Timeout);
        }
    }

    /// Runs until shutdown (or a fatal storage error).
    ///
    /// # Errors
    /// A durable commit failed.
    pub async fn run(mut self, mut rx: mpsc::Receiver<DriverMsg>) -> anyhow::Result<()> {
        loop {
            if let Some(e) = &self.fatal {
                anyhow::bail!("lease store: {e}");
            }
            if self.shutting_down && self.gate.is_idle() {
                break;
            }
            let sleep = self
                .ep
                .next_deadline()
                .map_or(Duration::from_secs(3600), |at| self.clock.until(at));
            let commit_rx = self.commit_rx.as_mut();
            tokio::select! {
                biased;
                r = async { match commit_rx { Some(rx) => rx.await, None => std::future::pending().await } } => {
                    match r {
                        Ok((id, r)) => self.commit_done(id, r),
                        Err(_) => self.commit_done(self.gate.inflight().unwrap_or(0), Err("commit task vanished".into())),
                    }
                }
                m = rx.recv() => match m {
                    Some(m) => self.handle_msg(m),
                    None => self.begin_shutdown(),
                },
                () = tokio::time::sleep(sleep) => {}
            }
            self.fire_due_timers();
        }
        // Let the writers flush what was queued (the DISCONNECT), bounded.
        if let Some(link) = self.link.take() {
            self.close_link(link);
        }
        for w in std::mem::take(&mut self.closing) {
            let _ = tokio::time::timeout(Duration::from_secs(2), w).await;
        }
        Ok(())
    }
}
