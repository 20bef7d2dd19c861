//! The stateright [`Model`]: environment actions around two `failover_model::Endpoint`s.
//!
//! Every protocol decision is taken by `Endpoint::new`, `Endpoint::restore` and
//! `Endpoint::handle`, and every step is carried out by the core's reference executor
//! (`failover_model::exec`): `Persist` → the durable image, in order, with the executor's step
//! checks (each failed one sets its property's bit, see [`violation_flag`]). The driver below
//! only delivers what is left, in order, as the driving contract of `failover_model::io` says
//! (and as `failoverd` does): `Reply` → the client's ledger (only then does the client believe
//! it); `Send` → the FIFO towards the partner if the connection flows (a message the core lets
//! overtake, `failover_model::failover::link::may_overtake`, may be delivered ahead of the
//! queued ones: [`Action::Overtake`]); `Connect` → a connection attempt becomes possible;
//! `Disconnect` → this side closes. Timers are the endpoint's own (`Endpoint::timers()`); the
//! model fires a chosen due timer with `Input::Timer` (the checker's hook, so every order of
//! due timers is explored), where `failoverd` feeds `Input::Timeout`.

use crate::config::{bounds, endpoint_config, Assumptions, Bounds, Timing};
use crate::properties::{self, flag};
use crate::world::{
    fault, idx, overtaking, role_at, role_name, Budget, Client, Ghost, Held, Link, PdWatch, Server,
    Wire, World, T0,
};
use failover_model::dhcp::client::{
    ClientMsgKind, ClientReply, ClientRequest, IaRequest, ReplyKind, RequestedLease,
};
use failover_model::exec::{self, Check, Violation};
use failover_model::failover::message::MessageBody;
use failover_model::leases::binding::BindingStatus;
use failover_model::Message;
use failover_model::{
    Command, Config, Duid, DurableImage, EndpointState, IaKind, Input, Output, Resource, Role,
    Time, Timer,
};
use serde::Serialize;
use stateright::{Model, Property};
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
    /// performs its step checks) and delivers the rest; returns the client replies.
    fn feed(&self, w: &mut World, role: Role, input: Input) -> Vec<ClientReply> {
        let i = idx(role);
        let now = self.local(w, role);
        let server = &mut w.servers[i];
        let Some(ep) = server.live.as_mut() else { return Vec::new() };
        let pre = ep.state();
        let check = StepInput::of(&input);
        let recorded_input = recording().then(|| input.clone());
        let step = exec::step(ep, &mut server.image, now, input);
        if let Some(input) = recorded_input {
            record(Happening::Fed { server: role, now, input, outputs: step.outputs.clone() });
        }
        flag_violations(w, &step.violations);
        self.check_sends(w, role, &step.outputs);
        let replies = self.carry_out(w, role, step);
        self.after_step(w, role, Some(pre), &check);
        replies
    }

    /// The step invariants on partner messages that need the world, not only the step (S18:
    /// the primary's configured MCLT; S25: the ghost's record of a storage loss). The others
    /// are the executor's ([`violation_flag`]).
    fn check_sends(&self, w: &mut World, role: Role, outputs: &[Output]) {
        for o in outputs {
            let Output::Send(m) = o else { continue };
            match &m.body {
                // S25 (§8.5.2): after losing its stable storage, a server whose partner has a
                // record of communicating with it MUST ask for everything (UPDREQALL), not
                // UPDREQ. The digest scopes this to RECOVER; we hold every path to it,
                // POTENTIAL-CONFLICT included (docs/design.md: the RFC's PC path would leave
                // the acknowledged bindings missing).
                MessageBody::UpdReq(_) if w.ghost.needs_updreqall[idx(role)] => {
                    w.ghost.violations |= flag::S25;
                }
                // S18 (§6.1.2): an accepting CONNECTREPLY echoes the primary's MCLT.
                MessageBody::ConnectReply(o)
                    if o.status.as_ref().is_none_or(|s| s.code.0 == 0)
                        && o.mclt != Some(self.configs[0].mclt) =>
                {
                    w.ghost.violations |= flag::S18;
                }
                _ => {}
            }
        }
    }

    /// Delivers what the executor left of a step, in order (the driving contract of
    /// `failover_model::io`).
    fn carry_out(&self, w: &mut World, role: Role, step: exec::Step) -> Vec<ClientReply> {
        let i = idx(role);
        let j = 1 - i;
        let mut replies = Vec::new();
        for o in step.effects() {
            match o {
                Output::Reply(r) => replies.push(r),
                Output::Send(m) => {
                    if w.link.flowing() {
                        if recording() {
                            record(Happening::Queued {
                                to: role_at(j),
                                wire: Wire::Msg(Box::new(m.clone())),
                            });
                        }
                        w.link.fifo[j].push_back(Wire::Msg(Box::new(m)));
                    } else if recording() {
                        record(Happening::Dropped { from: role, message: m });
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
    /// included) and delivers the outputs.
    fn restore(&self, w: &mut World, role: Role) {
        let i = idx(role);
        let now = self.local(w, role);
        let (ep, step) = exec::restore(self.configs[i].clone(), &mut w.servers[i].image, now);
        w.servers[i].live = Some(ep);
        flag_violations(w, &step.violations);
        self.carry_out(w, role, step);
    }

    /// Bookkeeping and step invariants that compare the state before and after a step.
    fn after_step(&self, w: &mut World, role: Role, pre: Option<EndpointState>, input: &StepInput) {
        let i = idx(role);
        if input.startup_state {
            w.ghost.heard[i] = None;
        } else if let Some(ps) = input.partner_state {
            w.ghost.heard[i] = Some(ps);
        }
        if !w.servers[i].live.as_ref().is_some_and(|ep| ep.comms_ok()) {
            w.ghost.heard[i] = None;
        }
        let Some(post) = w.state_of(role) else { return };
        let Some(pre) = pre else { return };
        if pre == post {
            return;
        }
        // S23 (§8.6.2): RECOVER-WAIT is left for RECOVER-DONE no earlier than the time the
        // server went down plus the MCLT (a server that never ran failover may go at once).
        if pre == EndpointState::RecoverWait && post == EndpointState::RecoverDone {
            if let Some(down) = w.ghost.down_at[i] {
                if w.ghost.ran_failover[i] && w.now < down.plus(self.timing.mclt) {
                    w.ghost.violations |= flag::S23;
                }
            }
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
        // S24b (§8.4.2, §8.9.2): PARTNER-DOWN → NORMAL only with the partner in RECOVER-DONE;
        // COMM-INT → NORMAL only with the partner in NORMAL, COMM-INT or RECOVER-DONE.
        if post == EndpointState::Normal
            && matches!(pre, EndpointState::PartnerDown | EndpointState::CommunicationsInterrupted)
        {
            let allowed = |s: EndpointState| {
                if pre == EndpointState::PartnerDown {
                    s == EndpointState::RecoverDone
                } else {
                    matches!(
                        s,
                        EndpointState::Normal
                            | EndpointState::CommunicationsInterrupted
                            | EndpointState::RecoverDone
                    )
                }
            };
            let told = input.partner_state.filter(|_| !input.startup_state).is_some_and(allowed);
            let actual = w.state_of(role.other()).is_some_and(allowed);
            let heard = w.ghost.heard[i].is_some_and(allowed);
            if !told && !actual && !heard {
                w.ghost.violations |= flag::S24B;
            }
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
    }

    /// `Bounds::warm_start`: from the initial world, carries out the partner network's and the
    /// timers' due events at `T0` in one canonical order (the first enabled connection,
    /// delivery or timer action, as `actions` lists them) until none is left: the handshake,
    /// recovery and pool balancing of two fresh servers, with no client, fault or command
    /// interleaved. Every step is an ordinary `next_state`, so the properties are checked on the
    /// way; the run then starts from the quiescent world it reaches.
    fn warm_up(&self, mut w: World) -> World {
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
        }
    }

    #[allow(clippy::too_many_lines)]
    fn client_action(
        &self,
        w: &mut World,
        c: u8,
        server: Role,
        op: ClientOp,
        reply_lost: bool,
    ) -> Option<()> {
        let i = idx(server);
        let ci = usize::from(c);
        let pre_ep = w.servers[i].live.clone()?;
        let pre_state = pre_ep.state();
        let local = self.local(w, server);
        let own_duid = pre_ep.config().server_duid.clone();
        let duid = Self::client_duid(c);
        w.budget.client_ops = w.budget.client_ops.checked_sub(1)?;
        if reply_lost {
            w.budget.lost_replies = w.budget.lost_replies.checked_sub(1)?;
            w.budget.faults = w.budget.faults.checked_sub(1)?;
        }
        let client = w.clients[ci].clone();
        let granter = client.leases.first().map(|h| h.granted_by);
        let granter_duid = granter.map(|g| self.configs[idx(g)].server_duid.clone());
        // (request, reply) pairs, in order.
        let mut exchanges: Vec<(ClientRequest, Vec<ClientReply>)> = Vec::new();
        match op {
            ClientOp::Solicit => {
                let ias = self
                    .bounds
                    .ias
                    .iter()
                    .map(|&k| IaRequest { kind: k, iaid: iaid_of(k), leases: Vec::new() })
                    .collect();
                let sol = Self::request(c, 1, ClientMsgKind::Solicit, None, ias);
                let replies = self.feed(w, server, Input::Client(sol.clone()));
                let advertise = replies.iter().find(|r| r.kind == ReplyKind::Advertise).cloned();
                exchanges.push((sol, replies));
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
                    let replies = self.feed(w, server, Input::Client(req.clone()));
                    exchanges.push((req, replies));
                }
            }
            ClientOp::Renew | ClientOp::Rebind => {
                let (kind, sid) = if op == ClientOp::Renew {
                    (ClientMsgKind::Renew, granter_duid.clone())
                } else {
                    (ClientMsgKind::Rebind, None)
                };
                let req = Self::request(c, 3, kind, sid, self.ias_for(&client, None));
                let replies = self.feed(w, server, Input::Client(req.clone()));
                exchanges.push((req, replies));
            }
            ClientOp::Release | ClientOp::Decline => {
                let (kind, only) = if op == ClientOp::Release {
                    (ClientMsgKind::Release, None)
                } else {
                    (ClientMsgKind::Decline, Some(IaKind::Na))
                };
                let req =
                    Self::request(c, 4, kind, granter_duid.clone(), self.ias_for(&client, only));
                // The client stops using the leases as it sends the message.
                w.clients[ci].leases.retain(|h| only.is_some_and(|k| h.kind != k));
                let replies = self.feed(w, server, Input::Client(req.clone()));
                exchanges.push((req, replies));
            }
        }

        // Step invariants on what the server answered, judged by its state when asked.
        let unresponsive = matches!(
            pre_state,
            EndpointState::Startup
                | EndpointState::Recover
                | EndpointState::RecoverWait
                | EndpointState::PotentialConflict
        );
        let renew_only = (pre_state == EndpointState::Normal && server == Role::Secondary)
            || pre_state == EndpointState::RecoverDone;
        let must_answer = matches!(
            pre_state,
            EndpointState::CommunicationsInterrupted
                | EndpointState::PartnerDown
                | EndpointState::ResolutionInterrupted
        );
        let mut granted: Vec<(Resource, IaKind, u32, u32)> = Vec::new();
        for (req, replies) in &exchanges {
            // S13b (§8.4.1, §8.9.1, §8.11.1): these states answer every client request that
            // does not name another server.
            let names_other = req.server_id.as_ref().is_some_and(|d| *d != own_duid);
            if must_answer && !names_other && replies.is_empty() {
                w.ghost.violations |= flag::S13B;
            }
            for r in replies {
                if unresponsive {
                    w.ghost.violations |= flag::S13;
                }
                if renew_only && req.server_id.as_ref() != Some(&own_duid) {
                    w.ghost.violations |=
                        if pre_state == EndpointState::RecoverDone { flag::S15 } else { flag::S14 };
                }
                if r.kind != ReplyKind::Reply {
                    continue;
                }
                for ia in &r.ias {
                    for l in &ia.leases {
                        let t1 = if ia.t1 == 0 || ia.t1 > l.valid_lifetime {
                            l.valid_lifetime / 2
                        } else {
                            ia.t1
                        };
                        granted.push((l.resource, ia.kind, l.valid_lifetime, t1));
                    }
                }
            }
        }
        let mclt = self.timing.mclt;
        let in_pd = pre_state == EndpointState::PartnerDown;
        for &(r, _, v, _) in granted.iter().filter(|g| g.2 > 0) {
            let pre_b = pre_ep.binding(&r);
            let expiry = local.plus(v);
            if !in_pd {
                // S2 (§4.4, §8.8.1, §8.9.1, §8.11.1).
                let acked = pre_b.map_or(Time::ZERO, |b| b.acked_partner_lifetime);
                if expiry > acked.max(local).plus(mclt) {
                    w.ghost.violations |= flag::S2;
                }
                // S4 (§4.4): against what the partner has on stable storage.
                if !w.ghost.storage_lost.iter().any(|&x| x) {
                    let known = w.servers[1 - i]
                        .image
                        .bindings
                        .get(&r)
                        .map_or(Time::ZERO, |b| b.expiration_time);
                    if expiry > known.max(local).plus(mclt) {
                        w.ghost.violations |= flag::S4;
                    }
                }
            }
            let same_client = pre_b.is_some_and(|b| {
                b.client.as_ref().is_some_and(|k| k.duid == duid)
                    && matches!(
                        b.status,
                        BindingStatus::Active | BindingStatus::Expired | BindingStatus::Released
                    )
            });
            // The client already believed it held it: an extension, not a new allocation.
            let already_held = client.leases.iter().any(|h| h.resource == r);
            if same_client || already_held {
                continue;
            }
            // A new allocation.
            if v < 30 {
                w.ghost.violations |= flag::S30;
            }
            if pre_state == EndpointState::Normal && server == Role::Secondary {
                w.ghost.violations |= flag::S14;
            }
            if pre_state == EndpointState::RecoverDone {
                w.ghost.violations |= flag::S15;
            }
            if in_pd {
                // S8 / S9 (§4.2.2.1, §8.4.1, §4.2.1).
                for pw in w.ghost.pd_watch[i].iter().flatten().filter(|pw| pw.resource == r) {
                    let other = pw.holder.as_ref().is_none_or(|h| *h != duid.0);
                    if other && local < pw.wait_until {
                        w.ghost.violations |= if pw.holder.is_some() { flag::S8 } else { flag::S9 };
                    }
                }
                if r.primary_half().is_some_and(|p| p != (server == Role::Primary)) {
                    w.ghost.violations |= flag::S9;
                }
            } else {
                // S10 (§4.2.1.1, §8.9.1): own half / own free pool.
                let own_half = r.primary_half().is_none_or(|p| p == (server == Role::Primary));
                let own_free = pre_b.is_none_or(|b| b.status == own_free(server));
                if !own_half || !own_free {
                    w.ghost.violations |= flag::S10;
                }
                // S7 (§4.2.2.1, §7.2 (4)): another client's lease only once it is free.
                if pre_b.is_some_and(|b| b.client.is_some() && !b.status.is_available()) {
                    w.ghost.violations |= flag::S7;
                }
            }
        }
        // L9 (7031 §7 req. 4): a RENEW to the granting server, in a state that answers it,
        // for a lease that server holds ACTIVE for this client, renews it.
        if op == ClientOp::Renew && granter == Some(server) && !unresponsive {
            for h in &client.leases {
                let known = pre_ep.binding(&h.resource).is_some_and(|b| {
                    b.status == BindingStatus::Active
                        && b.client.as_ref().is_some_and(|k| k.duid == duid)
                        && b.client_expiry > local
                });
                let renewed = granted.iter().any(|g| g.0 == h.resource && g.2 > 0);
                if known && h.valid_until > w.now && !renewed {
                    w.ghost.violations |= flag::L9;
                }
            }
        }
        // The client believes what it heard.
        if !reply_lost {
            let state_at_grant = pre_state;
            for (r, kind, v, t1) in granted {
                let leases = &mut w.clients[ci].leases;
                leases.retain(|h| h.resource != r);
                if v > 0 {
                    leases.push(Held {
                        resource: r,
                        kind,
                        valid_until: w.now.plus(v),
                        renew_at: w.now.plus(t1),
                        granted_by: server,
                        state_at_grant,
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

/// What the world's step invariants need to know about an input (S24b; the others are the
/// executor's).
#[derive(Default)]
struct StepInput {
    startup_state: bool,
    partner_state: Option<EndpointState>,
}

impl StepInput {
    fn of(input: &Input) -> Self {
        let mut s = StepInput::default();
        if let Input::Partner(m) = input {
            if let MessageBody::State(st) = &m.body {
                s.startup_state = st.flags.is_some_and(|f| f.startup);
                s.partner_state = st.server_state;
            }
        }
        s
    }
}

/// The property bit each of the executor's step checks sets (`failover_model::exec::Check`).
#[must_use]
pub fn violation_flag(check: Check) -> u32 {
    match check {
        Check::AckDurable => flag::S5,
        Check::GrantDurable => flag::S5B,
        Check::UpdateAnswered => flag::S6,
        Check::TransitionDurable => flag::S17,
        Check::ConnectionRoles => flag::S19,
        Check::StartupSignalling => flag::S20,
        Check::PartnerDownIgnoresStartup => flag::S21,
        Check::PotentialConflictExit => flag::S24,
        Check::SettledLeaseKept => flag::S32,
        // `Invariants`, and any check the executor gains before it has a property of its own.
        _ => flag::I1,
    }
}

fn flag_violations(w: &mut World, violations: &[Violation]) {
    for v in violations {
        w.ghost.violations |= violation_flag(v.check);
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
fn own_free(role: Role) -> BindingStatus {
    match role {
        Role::Primary => BindingStatus::Free,
        Role::Secondary => BindingStatus::FreeBackup,
    }
}

/// The free status of the partner's pool.
fn partner_free(role: Role) -> BindingStatus {
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

impl Model for FailoverModel {
    type State = World;
    type Action = Action;

    fn init_states(&self) -> Vec<World> {
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
        // A fresh endpoint is the restore of an empty image (`Endpoint::new`).
        for role in [Role::Primary, Role::Secondary] {
            self.restore(&mut w, role);
        }
        self.update_stability(&mut w, true);
        if self.bounds.warm_start {
            w = self.warm_up(w);
        }
        vec![w]
    }

    fn actions(&self, w: &World, actions: &mut Vec<Action>) {
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

    fn next_state(&self, last: &World, action: Action) -> Option<World> {
        let mut w = last.clone();
        let mut disturbed = false;
        match action {
            Action::Client { client, server, op, reply_lost } => {
                self.client_action(&mut w, client, server, op, reply_lost)?;
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
                        self.feed(&mut w, to, Input::Partner(*m));
                    }
                    Wire::Fin => {
                        w.link.open[i] = false;
                        w.link.fifo[i].clear();
                        self.feed(&mut w, to, Input::ConnectionDown);
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
                        self.feed(&mut w, role, Input::ConnectionDown);
                    }
                }
                w.link.open = [true, true];
                self.feed(&mut w, Role::Primary, Input::ConnectionUp);
                if w.link.open[1] {
                    self.feed(&mut w, Role::Secondary, Input::ConnectionUp);
                }
            }
            Action::ConnectFail => {
                w.link.connect_pending = false;
                self.feed(&mut w, Role::Primary, Input::ConnectionDown);
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
                        self.feed(&mut w, role, Input::ConnectionDown);
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
                self.restore(&mut w, server);
            }
            Action::Fire { server, timer } => {
                self.feed(&mut w, server, Input::Timer(timer));
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
                self.feed(&mut w, server, Input::Command(Command::PartnerDown));
            }
        }
        self.update_stability(&mut w, disturbed);
        Some(w)
    }

    fn format_action(&self, a: &Action) -> String {
        format_action(a)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut v = properties::all();
        v.extend(crate::goals::all());
        v
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
