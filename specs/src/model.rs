//! The environment: the actions around two `failover_model::Endpoint`s (clients, the
//! partner connection, crashes and restarts, timers, time, the operator) and the ghost
//! bookkeeping the properties read. It judges nothing: every action is returned with its
//! record ([`Fed`] per input, assembled into a [`crate::step::Step`] by [`crate::spec`], which
//! evaluates the properties of [`crate::properties`]).
//!
//! Every protocol decision is taken by `Endpoint::new`, `Endpoint::restore` and
//! `Endpoint::handle`, and every step is carried out by the core's reference executor
//! (`failover_model::exec`): `Persist` → the durable image, in order, with the executor's step
//! checks (their failures go into the record). The driver below only delivers what is left,
//! in order, as the driving contract of `failover_model::io` says (and as `failoverd` does):
//! `Reply` → the client's ledger (only then does the client believe it); `Send` → the FIFO
//! towards the partner if the connection flows (a message the core lets overtake,
//! `failover_model::failover::link::may_overtake`, may be delivered ahead of the queued ones:
//! [`Action::Overtake`]); `Connect` → a connection attempt becomes possible; `Disconnect` →
//! this side closes. Timers are the endpoint's own (`Endpoint::timers()`); the model fires a
//! chosen due timer with `Input::Timer` (the checker's hook, so every order of due timers is
//! explored), where `failoverd` feeds `Input::Timeout`.

use crate::config::{bounds, endpoint_config, Assumptions, Bounds, Timing};
use crate::step::{grants, told, Fed};
use crate::world::{
    fault, idx, overtaking, role_at, role_name, Budget, Client, Ghost, Held, Link, PdWatch, Server,
    Wire, World, T0,
};
use failover_model::dhcp::client::{
    ClientMsgKind, ClientReply, ClientRequest, IaRequest, ReplyKind, RequestedLease,
};
use failover_model::exec;
use failover_model::failover::message::MessageBody;
use failover_model::leases::binding::BindingStatus;
use failover_model::Message;
use failover_model::{
    Command, Config, Duid, DurableImage, EndpointState, IaKind, Input, Output, Role, Time, Timer,
};
use serde::Serialize;
use stateright::Model;
use std::cell::RefCell;

/// What happened inside one step, as the trace viewer needs it ([`FailoverModel::step_recorded`]).
#[derive(Clone, Debug)]
pub enum Happening {
    /// An input fed to a server (at its local time) and the outputs of that step, in order.
    Fed {
        /// The server.
        server: Role,
        /// Its local time.
        now: Time,
        /// The input.
        input: Input,
        /// The outputs.
        outputs: Vec<Output>,
    },
    /// Something went onto the partner connection towards `to` (a message or the end of the
    /// stream).
    Queued {
        /// The receiving side.
        to: Role,
        /// What.
        wire: Wire,
    },
    /// A message sent while the connection did not flow (closed, partitioned, cut): it never
    /// leaves the sender.
    Dropped {
        /// The sender.
        from: Role,
        /// The message.
        message: Message,
    },
}

thread_local! {
    /// Set only while [`FailoverModel::step_recorded`] runs on this thread; the checker's
    /// threads never record.
    static RECORDER: RefCell<Option<Vec<Happening>>> = const { RefCell::new(None) };
}

fn recording() -> bool {
    RECORDER.with(|r| r.borrow().is_some())
}

fn record(h: Happening) {
    RECORDER.with(|r| {
        if let Some(v) = r.borrow_mut().as_mut() {
            v.push(h);
        }
    });
}

/// What a client does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ClientOp {
    /// SOLICIT, then REQUEST to the server that advertised (one atomic action).
    Solicit,
    /// RENEW naming the granting server (received by `server`, multicast).
    Renew,
    /// REBIND (no server named).
    Rebind,
    /// RELEASE naming the granting server (the client stops using its leases at once).
    Release,
    /// DECLINE of its address, naming the granting server.
    Decline,
}

/// One environment action.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Action {
    /// A client request reaches `server`; with `reply_lost` the server acts but the client
    /// never hears the answer.
    Client {
        /// Client index.
        client: u8,
        /// The server that receives the request.
        server: Role,
        /// What the client does.
        op: ClientOp,
        /// The reply is lost on the way back.
        reply_lost: bool,
    },
    /// The head of the FIFO towards `to` is delivered.
    Deliver {
        /// The receiving side.
        to: Role,
    },
    /// A message towards `to` that the core lets overtake queued traffic is delivered ahead
    /// of the head (`crate::world::overtaking`): what `failoverd`'s priority queue does.
    Overtake {
        /// The receiving side.
        to: Role,
    },
    /// The primary's connection attempt succeeds (both sides get `ConnectionUp`).
    ConnectUp,
    /// The primary's connection attempt fails (partition, or the secondary is down).
    ConnectFail,
    /// The connection is reset (both sides get `ConnectionDown`, in-flight data is lost).
    Break,
    /// The network between the servers partitions silently.
    Partition,
    /// The partition heals.
    Heal,
    /// A server crashes, keeping or losing its stable storage.
    Crash {
        /// Which server.
        server: Role,
        /// Stable storage is lost too.
        lose_storage: bool,
    },
    /// A crashed server restarts from its durable image.
    Restart {
        /// Which server.
        server: Role,
    },
    /// An armed timer whose deadline has passed fires.
    Fire {
        /// Which server.
        server: Role,
        /// Which timer.
        timer: Timer,
    },
    /// Time advances to the next interesting instant.
    Advance {
        /// The new global time.
        to: Time,
    },
    /// The operator tells `server` its partner is down (§8.4).
    PartnerDown {
        /// Which server gets the command.
        server: Role,
    },
}

/// The model: the bounds, the assumptions and the two endpoint configurations.
#[derive(Clone, Debug)]
pub struct FailoverModel {
    /// The configuration's name (for reports).
    pub name: String,
    /// The bounds.
    pub bounds: Bounds,
    /// Protocol timing.
    pub timing: Timing,
    /// The environment assumptions.
    pub assumptions: Assumptions,
    /// Endpoint configurations (primary, secondary).
    pub configs: [Config; 2],
    /// Clock offsets (primary, secondary) in seconds ahead of global time.
    pub offsets: [u32; 2],
    /// L1's deadline K (0 disables the property and its ghost clock).
    pub liveness_k: u32,
}

const ALL_OPS: [ClientOp; 5] =
    [ClientOp::Solicit, ClientOp::Renew, ClientOp::Rebind, ClientOp::Release, ClientOp::Decline];

impl FailoverModel {
    /// A model for `bounds` under `assumptions`.
    #[must_use]
    pub fn new(name: &str, mut bounds: Bounds, assumptions: Assumptions) -> Self {
        let timing = Timing::default();
        if assumptions.a2_storage_survives {
            bounds.storage_losses = 0;
        } else {
            bounds.storage_losses = bounds.storage_losses.max(1);
        }
        let skew = if assumptions.a3_clock_skew_within_5s { bounds.skew.min(5) } else { 10 };
        let configs = [
            endpoint_config(Role::Primary, &timing, &bounds),
            endpoint_config(Role::Secondary, &timing, &bounds),
        ];
        let liveness_k = timing.startup + timing.reconnect + 2 * timing.mclt + 2 * timing.keepalive;
        FailoverModel {
            name: name.to_string(),
            bounds,
            timing,
            assumptions,
            configs,
            offsets: [0, skew],
            liveness_k,
        }
    }

    /// A named configuration with the default assumptions.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        bounds(name).map(|b| FailoverModel::new(name, b, crate::config::assumptions_for(name)))
    }

    /// Seeds a protocol bug into both endpoints.
    #[cfg(feature = "mutations")]
    #[must_use]
    pub fn with_mutation(mut self, m: failover_model::mutation::Mutation) -> Self {
        for c in &mut self.configs {
            c.mutation = Some(m);
        }
        self
    }

    /// The bounds and settings in words, for reports.
    #[must_use]
    pub fn describe(&self) -> String {
        let b = &self.bounds;
        format!(
            "config {}: horizon {} s, {} client(s) asking {:?}, {} client op(s), faults: {} crash, \
             {} storage loss, {} break, {} partition, {} PD command, {} lost reply, at most {} together; decline {}, \
             prefix pool {}, {} resource(s) per half, auto-PD {:?}, network delays {}, ordered timers {}, warm start {}; MCLT {} s, valid {} s, keepalive {} s, startup {} s; \
             clock offsets {:?}; L1 K = {} s; assumptions A1={} A2={} A3={}",
            self.name,
            b.horizon,
            b.clients,
            b.ias,
            b.client_ops,
            b.crashes,
            b.storage_losses,
            b.breaks,
            b.partitions,
            b.pd_commands,
            b.lost_replies,
            b.max_faults.map_or_else(|| "all".to_string(), |n| n.to_string()),
            b.decline,
            b.prefix_pool,
            b.pool_size,
            b.auto_partner_down,
            b.delays,
            b.ordered_timers,
            b.warm_start,
            self.timing.mclt,
            self.timing.valid,
            self.timing.keepalive,
            self.timing.startup,
            self.offsets,
            self.liveness_k,
            self.assumptions.a1_correct_partner_down,
            self.assumptions.a2_storage_survives,
            self.assumptions.a3_clock_skew_within_5s,
        )
    }

    fn local(&self, w: &World, role: Role) -> Time {
        w.now.plus(self.offsets[idx(role)])
    }

    fn global(&self, local: Time, role: Role) -> Time {
        local.minus(self.offsets[idx(role)])
    }

    /// The DUID of model client `c`.
    #[must_use]
    pub fn client_duid(c: u8) -> Duid {
        Duid::new(vec![0, 3, 0, 1, 0xc0 | c])
    }

    fn horizon(&self) -> Time {
        T0.plus(self.bounds.horizon)
    }

    // ----------------------------------------------------------------------------------------
    // The driver.

    /// Feeds one input to `role` through the core's executor (which applies the writes and
    /// performs its step checks), delivers the rest, does the ghost bookkeeping and logs the
    /// step in `log`; returns the client replies.
    fn feed(
        &self,
        w: &mut World,
        role: Role,
        input: Input,
        log: &mut Vec<Fed>,
    ) -> Vec<ClientReply> {
        let i = idx(role);
        let now = self.local(w, role);
        let (down_at, ran_failover, needs_updreqall) =
            (w.ghost.down_at[i], w.ghost.ran_failover[i], w.ghost.needs_updreqall[i]);
        let server = &mut w.servers[i];
        let Some(ep) = server.live.as_mut() else { return Vec::new() };
        let pre = ep.state();
        let kept = input.clone();
        let step = exec::step(ep, &mut server.image, now, input);
        if recording() {
            record(Happening::Fed {
                server: role,
                now,
                input: kept.clone(),
                outputs: step.outputs.clone(),
            });
        }
        let replies = self.carry_out(w, role, &step.outputs);
        self.after_step(w, role, pre, &kept);
        let ep = w.servers[i].live.as_ref();
        log.push(Fed {
            server: role,
            now,
            input: Some(kept),
            outputs: step.outputs,
            violations: step.violations,
            state_before: Some(pre),
            state_after: ep.map(failover_model::Endpoint::state),
            comms_ok_after: ep.is_some_and(failover_model::Endpoint::comms_ok),
            partner_state: w.state_of(role.other()),
            heard_after: w.ghost.heard[i],
            down_at,
            ran_failover,
            needs_updreqall,
        });
        replies
    }

    /// Delivers what the executor left of a step, in order (the driving contract of
    /// `failover_model::io`): everything but the `Persist` writes, already in the image.
    fn carry_out(&self, w: &mut World, role: Role, outputs: &[Output]) -> Vec<ClientReply> {
        let i = idx(role);
        let j = 1 - i;
        let mut replies = Vec::new();
        for o in outputs {
            match o {
                Output::Reply(r) => replies.push(r.clone()),
                Output::Send(m) => {
                    if w.link.flowing() {
                        let wire = Wire::Msg(Box::new(m.clone()));
                        if recording() {
                            record(Happening::Queued { to: role_at(j), wire: wire.clone() });
                        }
                        w.link.fifo[j].push_back(wire);
                    } else if recording() {
                        record(Happening::Dropped { from: role, message: m.clone() });
                    }
                }
                Output::Connect if role == Role::Primary => w.link.connect_pending = true,
                Output::Disconnect => close_side(w, role),
                _ => {}
            }
        }
        replies
    }

    /// Restores `role` from its durable image through the core's executor (its step checks
    /// included), delivers the outputs and logs the step in `log`.
    fn restore(&self, w: &mut World, role: Role, log: &mut Vec<Fed>) {
        let i = idx(role);
        let now = self.local(w, role);
        let (down_at, ran_failover, needs_updreqall) =
            (w.ghost.down_at[i], w.ghost.ran_failover[i], w.ghost.needs_updreqall[i]);
        let (ep, step) = exec::restore(self.configs[i].clone(), &mut w.servers[i].image, now);
        let (state, comms_ok) = (ep.state(), ep.comms_ok());
        w.servers[i].live = Some(ep);
        self.carry_out(w, role, &step.outputs);
        log.push(Fed {
            server: role,
            now,
            input: None,
            outputs: step.outputs,
            violations: step.violations,
            state_before: None,
            state_after: Some(state),
            comms_ok_after: comms_ok,
            partner_state: w.state_of(role.other()),
            heard_after: w.ghost.heard[i],
            down_at,
            ran_failover,
            needs_updreqall,
        });
    }

    /// The ghost bookkeeping after a step of `role` that began in state `pre` on `input`: what
    /// the server has heard of its partner, the recovery and failover records, and the
    /// PARTNER-DOWN reuse waits. (The properties judge the step; this only keeps the ghost
    /// variables they read.)
    fn after_step(&self, w: &mut World, role: Role, pre: EndpointState, input: &Input) {
        let i = idx(role);
        let (startup_state, partner_state) = told(input);
        if startup_state {
            w.ghost.heard[i] = None;
        } else if let Some(ps) = partner_state {
            w.ghost.heard[i] = Some(ps);
        }
        if !w.servers[i].live.as_ref().is_some_and(|ep| ep.comms_ok()) {
            w.ghost.heard[i] = None;
        }
        let Some(post) = w.state_of(role) else { return };
        if pre == post {
            return;
        }
        // A completed update request (RECOVER → RECOVER-WAIT, POTENTIAL-CONFLICT → NORMAL or
        // CONFLICT-DONE on UPDDONE) ends the recovery from a storage loss.
        if matches!(
            post,
            EndpointState::RecoverWait | EndpointState::Normal | EndpointState::ConflictDone
        ) {
            w.ghost.needs_updreqall[i] = false;
        }
        if post == EndpointState::Normal {
            w.ghost.ran_failover[i] = true;
            w.ghost.down_at[i] = None;
        }
        // PARTNER-DOWN entry: record the reuse waits (§4.2.2.1, §8.4.1) and, under A1, fence
        // the partner from clients until it hears from this server. A server that crashed in
        // PARTNER-DOWN and resumes it from its record (STARTUP → PARTNER-DOWN, §8.3.2) keeps
        // its entry time, so the waits recorded at the entry stand.
        if post == EndpointState::PartnerDown {
            if pre != EndpointState::Startup || w.ghost.pd_watch[i].is_none() {
                self.record_pd_entry(w, role);
            }
            if self.assumptions.a1_correct_partner_down {
                w.ghost.fenced[1 - i] = true;
            }
        } else {
            w.ghost.pd_watch[i] = None;
            w.ghost.pd_entered[i] = None;
        }
    }

    fn record_pd_entry(&self, w: &mut World, role: Role) {
        let i = idx(role);
        let now = self.local(w, role);
        let mclt = self.timing.mclt;
        let Some(ep) = &w.servers[i].live else { return };
        let mut watch = Vec::new();
        for b in ep.bindings() {
            let held = b.client.is_some()
                && matches!(
                    b.status,
                    BindingStatus::Active
                        | BindingStatus::Expired
                        | BindingStatus::Released
                        | BindingStatus::Reset
                );
            if held {
                let latest = [
                    b.client_expiry,
                    b.partner_lifetime,
                    b.acked_partner_lifetime,
                    b.expiration_time,
                    now,
                ]
                .into_iter()
                .max()
                .unwrap_or(now);
                watch.push(PdWatch {
                    resource: b.resource,
                    holder: b.client.as_ref().map(|k| k.duid.0.clone()),
                    wait_until: latest.plus(mclt),
                });
            } else if b.resource.is_prefix() && b.status == partner_free(role) {
                watch.push(PdWatch {
                    resource: b.resource,
                    holder: None,
                    wait_until: now.plus(mclt),
                });
            }
        }
        watch.sort();
        w.ghost.pd_watch[i] = Some(watch);
        w.ghost.pd_entered[i] = Some(now);
    }

    /// `Bounds::warm_start`: from the initial world, carries out the partner network's and the
    /// timers' due events at `T0` in one canonical order (the first enabled connection,
    /// delivery or timer action, as `actions` lists them) until none is left: the handshake,
    /// recovery and pool balancing of two fresh servers, with no client, fault or command
    /// interleaved. Every step is an ordinary `next_state`, so the properties are checked on the
    /// way; the run then starts from the quiescent world it reaches.
    pub fn warm_up(&self, mut w: World) -> World {
        loop {
            let mut enabled = Vec::new();
            self.actions(&w, &mut enabled);
            let Some(a) = enabled.into_iter().find(|a| {
                matches!(a, Action::ConnectUp | Action::Deliver { .. } | Action::Fire { .. })
            }) else {
                return w;
            };
            match self.next_state(&w, a) {
                Some(next) => w = next,
                None => return w,
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Clients.

    fn ias_for(&self, client: &Client, only: Option<IaKind>) -> Vec<IaRequest> {
        let mut ias = Vec::new();
        for &kind in &self.bounds.ias {
            if only.is_some_and(|k| k != kind) {
                continue;
            }
            let leases: Vec<RequestedLease> = client
                .leases
                .iter()
                .filter(|h| h.kind == kind)
                .map(|h| RequestedLease {
                    resource: h.resource,
                    preferred_lifetime: 0,
                    valid_lifetime: 0,
                })
                .collect();
            if only.is_some() && leases.is_empty() {
                continue;
            }
            ias.push(IaRequest { kind, iaid: iaid_of(kind), leases });
        }
        ias
    }

    fn request(
        c: u8,
        tag: u64,
        kind: ClientMsgKind,
        server_id: Option<Duid>,
        ias: Vec<IaRequest>,
    ) -> ClientRequest {
        ClientRequest {
            tag,
            kind,
            client_id: Some(Self::client_duid(c)),
            server_id,
            rapid_commit: false,
            ias,
            link_address: None,
            unicast: false,
            oro: Vec::new(),
        }
    }

    /// A client operation: the request(s) reach `server`, and the client believes the leases
    /// the REPLY grants (unless the reply is lost).
    fn client_action(
        &self,
        w: &mut World,
        c: u8,
        server: Role,
        op: ClientOp,
        reply_lost: bool,
        log: &mut Vec<Fed>,
    ) -> Option<()> {
        let i = idx(server);
        let ci = usize::from(c);
        let pre_state = w.servers[i].live.as_ref()?.state();
        w.budget.client_ops = w.budget.client_ops.checked_sub(1)?;
        if reply_lost {
            w.budget.lost_replies = w.budget.lost_replies.checked_sub(1)?;
            w.budget.faults = w.budget.faults.checked_sub(1)?;
        }
        let client = w.clients[ci].clone();
        let granter_duid =
            client.leases.first().map(|h| self.configs[idx(h.granted_by)].server_duid.clone());
        // Every reply, in order.
        let mut replies: Vec<ClientReply> = Vec::new();
        match op {
            ClientOp::Solicit => {
                let ias = self
                    .bounds
                    .ias
                    .iter()
                    .map(|&k| IaRequest { kind: k, iaid: iaid_of(k), leases: Vec::new() })
                    .collect();
                let sol = Self::request(c, 1, ClientMsgKind::Solicit, None, ias);
                let answers = self.feed(w, server, Input::Client(sol), log);
                let advertise = answers.iter().find(|r| r.kind == ReplyKind::Advertise).cloned();
                replies.extend(answers);
                if let Some(adv) = advertise {
                    let ias = adv
                        .ias
                        .iter()
                        .map(|ia| IaRequest {
                            kind: ia.kind,
                            iaid: ia.iaid,
                            leases: ia
                                .leases
                                .iter()
                                .map(|l| RequestedLease {
                                    resource: l.resource,
                                    preferred_lifetime: 0,
                                    valid_lifetime: 0,
                                })
                                .collect(),
                        })
                        .collect();
                    let req = Self::request(
                        c,
                        2,
                        ClientMsgKind::Request,
                        Some(adv.server_id.clone()),
                        ias,
                    );
                    replies.extend(self.feed(w, server, Input::Client(req), log));
                }
            }
            ClientOp::Renew | ClientOp::Rebind => {
                let (kind, sid) = if op == ClientOp::Renew {
                    (ClientMsgKind::Renew, granter_duid)
                } else {
                    (ClientMsgKind::Rebind, None)
                };
                let req = Self::request(c, 3, kind, sid, self.ias_for(&client, None));
                replies.extend(self.feed(w, server, Input::Client(req), log));
            }
            ClientOp::Release | ClientOp::Decline => {
                let (kind, only) = if op == ClientOp::Release {
                    (ClientMsgKind::Release, None)
                } else {
                    (ClientMsgKind::Decline, Some(IaKind::Na))
                };
                let req = Self::request(c, 4, kind, granter_duid, self.ias_for(&client, only));
                // The client stops using the leases as it sends the message.
                w.clients[ci].leases.retain(|h| only.is_some_and(|k| h.kind != k));
                replies.extend(self.feed(w, server, Input::Client(req), log));
            }
        }
        // The client believes what it heard.
        if !reply_lost {
            for g in grants(&replies) {
                let leases = &mut w.clients[ci].leases;
                leases.retain(|h| h.resource != g.resource);
                if g.valid > 0 {
                    leases.push(Held {
                        resource: g.resource,
                        kind: g.kind,
                        valid_until: w.now.plus(g.valid),
                        renew_at: w.now.plus(g.t1),
                        granted_by: server,
                        state_at_grant: pre_state,
                    });
                }
            }
            w.clients[ci].leases.sort();
        }
        Some(())
    }

    // ----------------------------------------------------------------------------------------
    // Time.

    /// The next interesting instant after `now`: the earliest armed timer deadline of either
    /// endpoint, client lease expiry or renewal time (T1), within the horizon. `None` if a
    /// timer is already due (timers fire at their deadline: time does not pass over them) or
    /// nothing is ahead.
    #[must_use]
    pub fn next_instant(&self, w: &World) -> Option<Time> {
        self.next_instant_before(w, self.horizon())
    }

    /// The next interesting instant not later than `limit` (see [`Self::next_instant`]).
    fn next_instant_before(&self, w: &World, limit: Time) -> Option<Time> {
        let mut next: Option<Time> = None;
        let mut consider = |t: Time| {
            if t > w.now {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for (i, s) in w.servers.iter().enumerate() {
            if let Some(ep) = &s.live {
                let local = self.local(w, role_at(i));
                for &d in ep.timers().values() {
                    if d <= local {
                        return None;
                    }
                    consider(self.global(d, role_at(i)));
                }
            }
        }
        for c in &w.clients {
            for h in &c.leases {
                consider(h.valid_until);
                consider(h.renew_at);
            }
        }
        next.filter(|&t| t <= limit)
    }

    /// Whether `w` ends a bounded run: nothing is in flight or due and time cannot advance
    /// within the horizon. Only the environment's optional moves (client operations, faults,
    /// commands) may remain, and the environment may also make none.
    #[must_use]
    pub fn at_end(&self, w: &World) -> bool {
        let mut enabled = Vec::new();
        self.actions(w, &mut enabled);
        !enabled.iter().any(|a| {
            matches!(
                a,
                Action::Deliver { .. }
                    | Action::Fire { .. }
                    | Action::ConnectUp
                    | Action::ConnectFail
                    | Action::Advance { .. }
            )
        })
    }

    /// The bounded "NORMAL is reachable after heal" check (digest §10.3 L1 and L5 where
    /// stateright's `eventually` cannot be used): from `w`, the environment turns stable (the
    /// partition heals, crashed servers restart, no client, fault or command happens any more)
    /// and the protocol runs on by itself in one canonical order (the first enabled connection,
    /// delivery or timer action, else time advances to the next interesting instant, past the
    /// horizon). Returns the time both servers reached NORMAL, or `None` when they have not
    /// within `liveness_k` seconds. Every step is an ordinary `next_state`.
    #[must_use]
    pub fn settle(&self, w: &World) -> Option<Time> {
        let mut w = w.clone();
        if w.link.partitioned {
            w = self.next_state(&w, Action::Heal)?;
        }
        for server in [Role::Primary, Role::Secondary] {
            if w.servers[idx(server)].live.is_none() {
                w = self.next_state(&w, Action::Restart { server })?;
            }
        }
        let deadline = w.now.plus(self.liveness_k);
        // Each instant has finitely many due events; the step cap only guards against an
        // update storm (which would itself be a liveness failure).
        for _ in 0..100_000 {
            if w.both_in(EndpointState::Normal) {
                return Some(w.now);
            }
            let mut enabled = Vec::new();
            self.actions(&w, &mut enabled);
            let next = enabled
                .into_iter()
                .find(|a| {
                    matches!(
                        a,
                        Action::Deliver { .. }
                            | Action::Fire { .. }
                            | Action::ConnectUp
                            | Action::ConnectFail
                    )
                })
                .or_else(|| {
                    self.next_instant_before(&w, deadline).map(|to| Action::Advance { to })
                })?;
            w = self.next_state(&w, next)?;
        }
        None
    }

    /// [`Model::next_state`], also returning what happened inside the step in order: every
    /// input fed to a server with its outputs, every message put on or dropped from the partner
    /// connection. For the trace viewer; the checker never records.
    #[must_use]
    pub fn step_recorded(&self, w: &World, action: Action) -> (Option<World>, Vec<Happening>) {
        RECORDER.with(|r| *r.borrow_mut() = Some(Vec::new()));
        let next = self.next_state(w, action);
        let happened = RECORDER.with(|r| r.borrow_mut().take()).unwrap_or_default();
        (next, happened)
    }

    fn update_stability(&self, w: &mut World, disturbed: bool) {
        if self.liveness_k == 0 {
            w.ghost.stable_since = None;
            return;
        }
        let whole = w.servers.iter().all(|s| s.live.is_some()) && !w.link.partitioned;
        if !whole {
            w.ghost.stable_since = None;
        } else if disturbed || w.ghost.stable_since.is_none() {
            w.ghost.stable_since = Some(w.now);
        }
    }
}

fn iaid_of(kind: IaKind) -> u32 {
    match kind {
        IaKind::Na => 1,
        IaKind::Ta => 3,
        IaKind::Pd => 2,
    }
}

/// The free status a server allocates from in its own pool (§4.2.1, §4.2.2).
#[must_use]
pub fn own_free(role: Role) -> BindingStatus {
    match role {
        Role::Primary => BindingStatus::Free,
        Role::Secondary => BindingStatus::FreeBackup,
    }
}

/// The free status of the partner's pool.
#[must_use]
pub fn partner_free(role: Role) -> BindingStatus {
    own_free(role.other())
}

/// `role` closes its side of the connection (`Output::Disconnect`): its incoming FIFO is
/// dropped and, if the connection still flows, the partner will read the end of the stream.
fn close_side(w: &mut World, role: Role) {
    let i = idx(role);
    if !w.link.open[i] {
        return;
    }
    let flowing = w.link.flowing();
    w.link.open[i] = false;
    w.link.fifo[i].clear();
    if flowing {
        record(Happening::Queued { to: role_at(1 - i), wire: Wire::Fin });
        w.link.fifo[1 - i].push_back(Wire::Fin);
    }
}

/// The environment's moves, as the [`Model`] implementation (`crate::spec`) uses them.
impl FailoverModel {
    /// The initial world before the servers start (`before`), the world once both have started
    /// from their empty images (`after`), and the two starts.
    #[must_use]
    pub fn start(&self) -> (World, World, Vec<Fed>) {
        let b = &self.bounds;
        let mut w = World {
            now: T0,
            servers: [
                Server { live: None, image: DurableImage::default() },
                Server { live: None, image: DurableImage::default() },
            ],
            link: Link::default(),
            clients: vec![Client::default(); usize::from(b.clients)],
            budget: Budget {
                client_ops: b.client_ops,
                crashes: b.crashes,
                storage_losses: b.storage_losses,
                breaks: b.breaks,
                partitions: b.partitions,
                pd_commands: b.pd_commands,
                lost_replies: b.lost_replies,
                faults: b.max_faults.unwrap_or(u8::MAX),
            },
            ghost: Ghost::default(),
        };
        let before = w.clone();
        let mut log = Vec::new();
        // A fresh endpoint is the restore of an empty image (`Endpoint::new`).
        for role in [Role::Primary, Role::Secondary] {
            self.restore(&mut w, role, &mut log);
        }
        self.update_stability(&mut w, true);
        (before, w, log)
    }

    /// The actions enabled in `w`.
    pub fn enabled(&self, w: &World, actions: &mut Vec<Action>) {
        let live = |r: Role| w.servers[idx(r)].live.is_some();
        // Clients.
        if w.budget.client_ops > 0 {
            for c in 0..self.bounds.clients {
                let client = &w.clients[usize::from(c)];
                let holds = client.valid_at(w.now).next().is_some();
                let renew_due = client.leases.iter().any(|h| w.now >= h.renew_at);
                let has_na = client.leases.iter().any(|h| h.kind == IaKind::Na);
                for server in [Role::Primary, Role::Secondary] {
                    if !live(server)
                        || (self.assumptions.a1_correct_partner_down && w.ghost.fenced[idx(server)])
                    {
                        continue;
                    }
                    for op in ALL_OPS {
                        let enabled = match op {
                            ClientOp::Solicit => !holds,
                            ClientOp::Renew | ClientOp::Rebind => holds && renew_due,
                            ClientOp::Release => holds,
                            ClientOp::Decline => self.bounds.decline && has_na,
                        };
                        if !enabled {
                            continue;
                        }
                        actions.push(Action::Client { client: c, server, op, reply_lost: false });
                        if w.budget.lost_replies > 0
                            && w.budget.faults > 0
                            && matches!(op, ClientOp::Solicit | ClientOp::Renew)
                        {
                            actions.push(Action::Client {
                                client: c,
                                server,
                                op,
                                reply_lost: true,
                            });
                        }
                    }
                }
            }
        }
        // Partner connection.
        for to in [Role::Primary, Role::Secondary] {
            if live(to) && !w.link.fifo[idx(to)].is_empty() {
                actions.push(Action::Deliver { to });
                if overtaking(&w.link.fifo[idx(to)]).is_some() {
                    actions.push(Action::Overtake { to });
                }
            }
        }
        if w.link.connect_pending && live(Role::Primary) {
            if !w.link.partitioned && live(Role::Secondary) {
                actions.push(Action::ConnectUp);
            } else {
                actions.push(Action::ConnectFail);
            }
        }
        if w.budget.breaks > 0 && w.budget.faults > 0 && w.link.flowing() {
            actions.push(Action::Break);
        }
        if w.link.partitioned {
            actions.push(Action::Heal);
        } else if w.budget.partitions > 0 && w.budget.faults > 0 {
            actions.push(Action::Partition);
        }
        // Servers.
        let mut timer_fired = false;
        for server in [Role::Primary, Role::Secondary] {
            let i = idx(server);
            match &w.servers[i].live {
                Some(ep) => {
                    let local = self.local(w, server);
                    for (&timer, &d) in ep.timers() {
                        if d <= local && !(self.bounds.ordered_timers && timer_fired) {
                            actions.push(Action::Fire { server, timer });
                            timer_fired = true;
                        }
                    }
                    if w.budget.crashes > 0 && w.budget.faults > 0 {
                        actions.push(Action::Crash { server, lose_storage: false });
                    }
                    if w.budget.storage_losses > 0 && w.budget.faults > 0 {
                        actions.push(Action::Crash { server, lose_storage: true });
                    }
                    let partner_down = w.servers[1 - i].live.is_none() || w.link.partitioned;
                    if w.budget.pd_commands > 0
                        && ep.state() != EndpointState::PartnerDown
                        && (partner_down || !self.assumptions.a1_correct_partner_down)
                    {
                        actions.push(Action::PartnerDown { server });
                    }
                }
                None => actions.push(Action::Restart { server }),
            }
        }
        let in_flight = !w.link.partitioned
            && (w.link.connect_pending || w.link.fifo.iter().any(|q| !q.is_empty()));
        if self.bounds.delays || !in_flight {
            if let Some(to) = self.next_instant(w) {
                actions.push(Action::Advance { to });
            }
        }
    }

    /// The world after `action` in `last`, and every input fed to a server on the way, in
    /// order (`None` if the action is not possible).
    #[must_use]
    pub fn transition(&self, last: &World, action: &Action) -> Option<(World, Vec<Fed>)> {
        let mut w = last.clone();
        let mut disturbed = false;
        let mut log = Vec::new();
        let log = &mut log;
        match *action {
            Action::Client { client, server, op, reply_lost } => {
                self.client_action(&mut w, client, server, op, reply_lost, log)?;
            }
            Action::Deliver { to } | Action::Overtake { to } => {
                let i = idx(to);
                let head = match action {
                    Action::Overtake { .. } => {
                        let k = overtaking(&w.link.fifo[i])?;
                        w.link.fifo[i].remove(k)?
                    }
                    _ => w.link.fifo[i].pop_front()?,
                };
                match head {
                    Wire::Msg(m) => {
                        if matches!(m.body, MessageBody::State(_)) {
                            // A1's fence lifts once this server has heard from its partner.
                            w.ghost.fenced[i] = false;
                        }
                        self.feed(&mut w, to, Input::Partner(*m), log);
                    }
                    Wire::Fin => {
                        w.link.open[i] = false;
                        w.link.fifo[i].clear();
                        self.feed(&mut w, to, Input::ConnectionDown, log);
                    }
                }
            }
            Action::ConnectUp => {
                w.link.connect_pending = false;
                w.link.severed = false;
                w.link.fifo = Default::default();
                // A side still holding a dead connection learns it is gone.
                for role in [Role::Secondary, Role::Primary] {
                    if w.link.open[idx(role)] {
                        w.link.open[idx(role)] = false;
                        self.feed(&mut w, role, Input::ConnectionDown, log);
                    }
                }
                w.link.open = [true, true];
                self.feed(&mut w, Role::Primary, Input::ConnectionUp, log);
                if w.link.open[1] {
                    self.feed(&mut w, Role::Secondary, Input::ConnectionUp, log);
                }
            }
            Action::ConnectFail => {
                w.link.connect_pending = false;
                self.feed(&mut w, Role::Primary, Input::ConnectionDown, log);
            }
            Action::Break => {
                w.budget.breaks = w.budget.breaks.checked_sub(1)?;
                w.budget.faults = w.budget.faults.checked_sub(1)?;
                w.ghost.faults_seen |= fault::BREAK;
                disturbed = true;
                w.link.fifo = Default::default();
                for role in [Role::Primary, Role::Secondary] {
                    if w.link.open[idx(role)] {
                        w.link.open[idx(role)] = false;
                        self.feed(&mut w, role, Input::ConnectionDown, log);
                    }
                }
            }
            Action::Partition => {
                w.budget.partitions = w.budget.partitions.checked_sub(1)?;
                w.budget.faults = w.budget.faults.checked_sub(1)?;
                w.ghost.faults_seen |= fault::PARTITION;
                disturbed = true;
                w.link.partitioned = true;
                w.link.severed = true;
                w.link.fifo = Default::default();
            }
            Action::Heal => {
                w.link.partitioned = false;
                disturbed = true;
            }
            Action::Crash { server, lose_storage } => {
                let i = idx(server);
                w.budget.faults = w.budget.faults.checked_sub(1)?;
                if lose_storage {
                    w.budget.storage_losses = w.budget.storage_losses.checked_sub(1)?;
                    w.ghost.faults_seen |= fault::STORAGE_LOSS;
                    w.servers[i].image = DurableImage::default();
                    w.ghost.storage_lost[i] = true;
                } else {
                    w.budget.crashes = w.budget.crashes.checked_sub(1)?;
                    w.ghost.faults_seen |= fault::CRASH;
                }
                disturbed = true;
                w.servers[i].live = None;
                if lose_storage {
                    // (A crash keeping storage keeps the PARTNER-DOWN waits: see `after_step`.)
                    w.ghost.pd_watch[i] = None;
                    w.ghost.pd_entered[i] = None;
                    // The partner no longer has a record of communicating with this server.
                    w.ghost.needs_updreqall[1 - i] = false;
                }
                w.ghost.down_at[i] = Some(w.now);
                // After a storage loss only the partner can tell that this server ran failover
                // (its C flag on stable storage, §8.5.2, §8.6.2): when it cannot either (it lost
                // its own storage since), S23 and S25 have nothing to go by.
                let partner_knows =
                    w.servers[1 - i].image.state.as_ref().is_some_and(|r| r.communicated);
                if lose_storage && !partner_knows {
                    // Nor, when the partner lost its own storage earlier, that the partner did.
                    w.ghost.ran_failover = [false, false];
                }
                if lose_storage && w.ghost.ran_failover[i] {
                    w.ghost.needs_updreqall[i] = true;
                }
                // The OS closes the socket: the partner reads the end of the stream.
                close_side(&mut w, server);
                if server == Role::Primary {
                    w.link.connect_pending = false;
                }
            }
            Action::Restart { server } => {
                let i = idx(server);
                if w.servers[i].live.is_some() {
                    return None;
                }
                disturbed = true;
                self.restore(&mut w, server, log);
            }
            Action::Fire { server, timer } => {
                self.feed(&mut w, server, Input::Timer(timer), log);
            }
            Action::Advance { to } => {
                let delayed = !w.link.partitioned
                    && (w.link.connect_pending || w.link.fifo.iter().any(|q| !q.is_empty()));
                disturbed = delayed;
                w.now = to;
                let now = w.now;
                for c in &mut w.clients {
                    c.leases.retain(|h| h.valid_until > now);
                }
            }
            Action::PartnerDown { server } => {
                w.budget.pd_commands = w.budget.pd_commands.checked_sub(1)?;
                w.ghost.faults_seen |= fault::PD_COMMAND;
                disturbed = true;
                self.feed(&mut w, server, Input::Command(Command::PartnerDown), log);
            }
        }
        self.update_stability(&mut w, disturbed);
        Some((w, std::mem::take(log)))
    }
}

/// A short label for an action.
#[must_use]
pub fn format_action(a: &Action) -> String {
    match a {
        Action::Client { client, server, op, reply_lost } => format!(
            "client {client} {op:?} -> {}{}",
            role_name(*server),
            if *reply_lost { " (reply lost)" } else { "" }
        ),
        Action::Deliver { to } => format!("deliver -> {}", role_name(*to)),
        Action::Overtake { to } => format!("deliver (overtaking) -> {}", role_name(*to)),
        Action::ConnectUp => "connection up".into(),
        Action::ConnectFail => "connection attempt fails".into(),
        Action::Break => "connection reset".into(),
        Action::Partition => "partition".into(),
        Action::Heal => "heal".into(),
        Action::Crash { server, lose_storage } => format!(
            "crash {}{}",
            role_name(*server),
            if *lose_storage { " losing storage" } else { "" }
        ),
        Action::Restart { server } => format!("restart {}", role_name(*server)),
        Action::Fire { server, timer } => {
            format!("timer {timer:?} fires at {}", role_name(*server))
        }
        Action::Advance { to } => format!("time -> {to}"),
        Action::PartnerDown { server } => {
            format!("operator: partner-down at {}", role_name(*server))
        }
    }
}
