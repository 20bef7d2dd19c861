//! A deterministic two-endpoint harness with a virtual clock (quinn-proto's `Pair` shape).
//!
//! Two `Endpoint`s, a TCP-like partner link (FIFO per direction, both directions lost on a
//! break), durable images folded from `Persist` outputs, crashes with and without storage, a
//! partition switch, and simulated clients that remember what they were granted. Time moves
//! only when the test says so, waking each endpoint at its `next_deadline()` with
//! `Input::Timeout` on the way (as `failoverd` does). Every step is carried out by the core's
//! reference executor (`failover_model::exec`), whose step checks must all hold.
#![allow(dead_code)]

use failover_model::config::{AddressPool, Lifetimes, PrefixPool};
use failover_model::dhcp::client::{
    ClientMsgKind, ClientReply, ClientRequest, DhcpStatus, IaRequest, ReplyKind, RequestedLease,
};
use failover_model::exec::{self, Step};
use failover_model::{
    Command, Config, Duid, DurableImage, Endpoint, EndpointState, Event, IaKind, Input, Message,
    Output, Resource, Role, Time,
};
use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv6Addr;

/// Which endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    P,
    S,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::P => Side::S,
            Side::S => Side::P,
        }
    }
}

/// One endpoint with its durable image and what it said to clients.
pub struct Node {
    pub config: Config,
    pub ep: Option<Endpoint>,
    pub image: DurableImage,
    pub events: Vec<Event>,
    pub replies: Vec<ClientReply>,
    pub silences: usize,
    /// Messages sent to the partner (every one, for assertions).
    pub sent: Vec<Message>,
    /// Connection attempts asked for (`Output::Connect`).
    pub connects: usize,
    /// Seconds this server's clock is ahead of the pair's (clock skew; may be changed at any
    /// time, like a clock stepped by NTP).
    pub ahead: u32,
}

impl Node {
    pub fn ep(&self) -> &Endpoint {
        self.ep.as_ref().expect("endpoint is running")
    }

    pub fn state(&self) -> EndpointState {
        self.ep().state()
    }
}

/// Small, fast test configuration: MCLT 60 s, leases of 600 s, keepalive 10 s.
pub fn test_config(role: Role) -> Config {
    let mut c = Config::example(role);
    c.mclt = 60;
    c.keepalive_time = 10;
    c.startup_time = 5;
    c.reconnect_interval = 2;
    c.update_scan_interval = 20;
    c.recover_stall_time = 60;
    c.heartbeat_interval = 30;
    c.address_pools = vec![AddressPool {
        first: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100),
        last: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10f),
    }];
    c.prefix_pools = vec![PrefixPool {
        prefix: Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0),
        prefix_len: 48,
        delegated_len: 52,
    }];
    c.address_lifetimes = Lifetimes { preferred: 300, valid: 600 };
    c.prefix_lifetimes = Lifetimes { preferred: 300, valid: 600 };
    c.secondary_prefix_share = 50;
    c.rebalance_threshold = 1;
    c
}

/// The pair and its environment.
pub struct Pair {
    pub now: Time,
    pub p: Node,
    pub s: Node,
    /// The network between the servers works (a partition when false).
    pub link_ok: bool,
    /// A transport connection is established.
    pub connected: bool,
    /// In-flight messages: to the primary, to the secondary.
    pub to_p: VecDeque<Message>,
    pub to_s: VecDeque<Message>,
    /// The primary asked to connect and has not been answered.
    connect_pending: bool,
    next_tag: u64,
}

impl Pair {
    /// Starts both endpoints with empty storage at `now`.
    pub fn new(p: Config, s: Config, now: u32) -> Pair {
        Pair::new_skewed(p, s, now, 0)
    }

    /// As [`Pair::new`], with the secondary's clock `s_ahead` seconds ahead of the primary's.
    pub fn new_skewed(p: Config, s: Config, now: u32, s_ahead: u32) -> Pair {
        let now = Time(now);
        let mut pair = Pair {
            now,
            p: Node {
                config: p,
                ep: None,
                image: DurableImage::default(),
                events: vec![],
                replies: vec![],
                silences: 0,
                sent: vec![],
                connects: 0,
                ahead: 0,
            },
            s: Node {
                config: s,
                ep: None,
                image: DurableImage::default(),
                events: vec![],
                replies: vec![],
                silences: 0,
                sent: vec![],
                connects: 0,
                ahead: 0,
            },
            link_ok: true,
            connected: false,
            to_p: VecDeque::new(),
            to_s: VecDeque::new(),
            connect_pending: false,
            next_tag: 1,
        };
        pair.s.ahead = s_ahead;
        pair.start(Side::S);
        pair.start(Side::P);
        pair
    }

    pub fn default_pair() -> Pair {
        Pair::new(test_config(Role::Primary), test_config(Role::Secondary), 100_000)
    }

    pub fn node(&self, side: Side) -> &Node {
        match side {
            Side::P => &self.p,
            Side::S => &self.s,
        }
    }

    pub fn node_mut(&mut self, side: Side) -> &mut Node {
        match side {
            Side::P => &mut self.p,
            Side::S => &mut self.s,
        }
    }

    pub fn state(&self, side: Side) -> EndpointState {
        self.node(side).state()
    }

    /// The time on `side`'s clock (the pair's time plus its skew).
    pub fn now_of(&self, side: Side) -> Time {
        self.now.plus(self.node(side).ahead)
    }

    /// Starts (or restarts) an endpoint from its durable image.
    pub fn start(&mut self, side: Side) {
        let now = self.now_of(side);
        let node = self.node_mut(side);
        let (ep, step) = exec::restore(node.config.clone(), &mut node.image, now);
        node.ep = Some(ep);
        self.apply(side, step);
    }

    /// Feeds one input through the executor (which applies the writes and performs its step
    /// checks, endpoint invariants included) and delivers the rest of the outputs.
    pub fn input(&mut self, side: Side, input: Input) -> Vec<Output> {
        let now = self.now_of(side);
        let node = self.node_mut(side);
        let Some(ep) = node.ep.as_mut() else { return vec![] };
        let step = exec::step(ep, &mut node.image, now, input);
        let outs = step.outputs.clone();
        self.apply(side, step);
        outs
    }

    fn apply(&mut self, side: Side, step: Step) {
        assert!(
            step.violations.is_empty(),
            "{side:?} broke the core's step checks: {}",
            step.violations_text()
        );
        for o in step.effects() {
            match o {
                Output::Reply(r) => self.node_mut(side).replies.push(r),
                Output::Silence { .. } => self.node_mut(side).silences += 1,
                Output::Send(m) => {
                    self.node_mut(side).sent.push(m.clone());
                    if self.connected {
                        match side {
                            Side::P => self.to_s.push_back(m),
                            Side::S => self.to_p.push_back(m),
                        }
                    }
                }
                Output::Connect => {
                    self.node_mut(side).connects += 1;
                    self.connect_pending = true;
                }
                Output::Disconnect if self.connected => {
                    self.connected = false;
                    // TCP: what the closing side sent before closing still arrives (a rejecting
                    // CONNECTREPLY, a DISCONNECT), then the partner sees the close; what was on
                    // its way to the closing side is lost.
                    let sent: Vec<Message> = match side {
                        Side::P => {
                            self.to_p.clear();
                            self.to_s.drain(..).collect()
                        }
                        Side::S => {
                            self.to_s.clear();
                            self.to_p.drain(..).collect()
                        }
                    };
                    for m in sent {
                        self.input(side.other(), Input::Partner(m));
                    }
                    self.input(side.other(), Input::ConnectionDown);
                }
                Output::Event(e) => self.node_mut(side).events.push(e),
                _ => {}
            }
        }
    }

    /// Delivers messages and connection attempts until nothing is in flight.
    pub fn drive(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("drive did not settle");
    }

    /// Carries out one connection attempt or delivers one message (to the secondary first);
    /// false when nothing is in flight.
    pub fn step(&mut self) -> bool {
        if self.connect_pending {
            self.connect_pending = false;
            let both_up = self.p.ep.is_some() && self.s.ep.is_some();
            if self.link_ok && both_up && !self.connected {
                self.connected = true;
                self.input(Side::S, Input::ConnectionUp);
                self.input(Side::P, Input::ConnectionUp);
            } else if !self.connected {
                self.input(Side::P, Input::ConnectionDown);
            }
            return true;
        }
        if let Some(m) = self.to_s.pop_front() {
            self.input(Side::S, Input::Partner(m));
            return true;
        }
        if let Some(m) = self.to_p.pop_front() {
            self.input(Side::P, Input::Partner(m));
            return true;
        }
        false
    }

    /// A client request handled without delivering what the server sends to its partner.
    pub fn ask_undelivered(&mut self, side: Side, mut req: ClientRequest) -> Option<ClientReply> {
        req.tag = self.next_tag;
        self.next_tag += 1;
        let tag = req.tag;
        self.input(side, Input::Client(req));
        self.node(side).replies.iter().rev().find(|r| r.tag == tag).cloned()
    }

    /// The earliest next deadline of either endpoint on the pair's clock, if not after
    /// `limit` (the primary first at equal deadlines).
    fn next_wakeup(&self, limit: Time) -> Option<(Time, Side)> {
        let mut best: Option<(Time, Side)> = None;
        for side in [Side::P, Side::S] {
            if let Some(at) = self.node(side).ep.as_ref().and_then(Endpoint::next_deadline) {
                // The deadline on the pair's clock.
                let at = at.minus(self.node(side).ahead);
                if at <= limit && best.is_none_or(|b| at < b.0) {
                    best = Some((at, side));
                }
            }
        }
        best
    }

    /// Moves time forward by `secs`, waking each endpoint at its next deadline on the way
    /// (`Input::Timeout`, which fires every timer due then) and delivering what that sends.
    pub fn advance(&mut self, secs: u32) {
        let until = self.now.plus(secs);
        self.drive();
        for _ in 0..1_000_000 {
            match self.next_wakeup(until) {
                Some((at, side)) => {
                    self.now = self.now.max(at);
                    self.input(side, Input::Timeout);
                    self.drive();
                }
                None => {
                    self.now = until;
                    return;
                }
            }
        }
        panic!("advance did not settle");
    }

    /// Crash: the process dies; its TCP connection closes (the partner sees it at once when
    /// `visible`, otherwise only by its keepalive timer). `lose_storage` wipes the disk too.
    pub fn crash(&mut self, side: Side, lose_storage: bool, visible: bool) {
        self.node_mut(side).ep = None;
        if lose_storage {
            self.node_mut(side).image = DurableImage::default();
        }
        if self.connected {
            self.connected = false;
            self.to_p.clear();
            self.to_s.clear();
            if visible {
                self.input(side.other(), Input::ConnectionDown);
            }
        }
        if side == Side::P {
            self.connect_pending = false;
        }
    }

    /// Partition (the link fails, both ends notice only by keepalive) or heal.
    pub fn partition(&mut self) {
        self.link_ok = false;
        if self.connected {
            self.connected = false;
            self.to_p.clear();
            self.to_s.clear();
        }
    }

    pub fn heal(&mut self) {
        self.link_ok = true;
    }

    pub fn command(&mut self, side: Side, c: Command) {
        self.input(side, Input::Command(c));
        self.drive();
    }

    /// Sends a client request to a server; returns its reply, if any.
    pub fn ask(&mut self, side: Side, mut req: ClientRequest) -> Option<ClientReply> {
        req.tag = self.next_tag;
        self.next_tag += 1;
        let tag = req.tag;
        self.input(side, Input::Client(req));
        self.drive();
        self.node(side).replies.iter().rev().find(|r| r.tag == tag).cloned()
    }

    pub fn server_duid(&self, side: Side) -> Duid {
        self.node(side).config.server_duid.clone()
    }
}

/// A simulated client: one IA, remembers what it holds.
#[derive(Clone, Debug)]
pub struct Client {
    pub duid: Duid,
    pub kind: IaKind,
    pub iaid: u32,
    /// Resource, absolute expiry, server that granted it.
    pub lease: Option<(Resource, Time, Side)>,
}

impl Client {
    pub fn new(id: u8, kind: IaKind) -> Client {
        Client {
            duid: Duid::new(vec![0, 3, 0, 1, 0xaa, id]),
            kind,
            iaid: u32::from(id),
            lease: None,
        }
    }

    pub fn req(
        &self,
        kind: ClientMsgKind,
        server: Option<Duid>,
        with_lease: bool,
    ) -> ClientRequest {
        let leases = match (&self.lease, with_lease) {
            (Some((r, _, _)), true) => {
                vec![RequestedLease { resource: *r, preferred_lifetime: 0, valid_lifetime: 0 }]
            }
            _ => vec![],
        };
        ClientRequest {
            tag: 0,
            kind,
            client_id: Some(self.duid.clone()),
            server_id: server,
            rapid_commit: false,
            ias: vec![IaRequest { kind: self.kind, iaid: self.iaid, leases }],
            link_address: None,
            unicast: false,
            oro: Vec::new(),
        }
    }

    fn take(&mut self, pair: &Pair, side: Side, reply: &ClientReply) -> Option<(Resource, u32)> {
        let ia = reply.ias.iter().find(|ia| ia.iaid == self.iaid)?;
        if ia.status.is_some_and(|s| s != DhcpStatus::Success) {
            return None;
        }
        let l = ia.leases.iter().find(|l| l.valid_lifetime > 0)?;
        self.lease = Some((l.resource, pair.now.plus(l.valid_lifetime), side));
        Some((l.resource, l.valid_lifetime))
    }

    /// SOLICIT then REQUEST (four-message exchange). Returns (resource, valid lifetime).
    pub fn obtain(&mut self, pair: &mut Pair, side: Side) -> Option<(Resource, u32)> {
        let adv = pair.ask(side, self.req(ClientMsgKind::Solicit, None, true))?;
        assert_eq!(adv.kind, ReplyKind::Advertise);
        let offered = adv.ias.iter().find(|ia| ia.iaid == self.iaid)?.leases.first()?.resource;
        let mut req = self.req(ClientMsgKind::Request, Some(pair.server_duid(side)), false);
        req.ias[0].leases =
            vec![RequestedLease { resource: offered, preferred_lifetime: 0, valid_lifetime: 0 }];
        let reply = pair.ask(side, req)?;
        self.take(pair, side, &reply)
    }

    /// RENEW, returning the raw reply (or `None` for silence) without taking it.
    pub fn renew_raw(&self, pair: &mut Pair, side: Side) -> Option<ClientReply> {
        pair.ask(side, self.req(ClientMsgKind::Renew, Some(pair.server_duid(side)), true))
    }

    /// Takes a reply as a client would.
    pub fn accept(
        &mut self,
        pair: &Pair,
        side: Side,
        reply: &ClientReply,
    ) -> Option<(Resource, u32)> {
        self.take(pair, side, reply)
    }

    /// RENEW to the server that granted the lease.
    pub fn renew(&mut self, pair: &mut Pair, side: Side) -> Option<(Resource, u32)> {
        let reply =
            pair.ask(side, self.req(ClientMsgKind::Renew, Some(pair.server_duid(side)), true))?;
        self.take(pair, side, &reply)
    }

    /// REBIND to any server.
    pub fn rebind(&mut self, pair: &mut Pair, side: Side) -> Option<(Resource, u32)> {
        let reply = pair.ask(side, self.req(ClientMsgKind::Rebind, None, true))?;
        self.take(pair, side, &reply)
    }

    /// RELEASE to a server.
    pub fn release(&mut self, pair: &mut Pair, side: Side) -> Option<ClientReply> {
        let r =
            pair.ask(side, self.req(ClientMsgKind::Release, Some(pair.server_duid(side)), true));
        self.lease = None;
        r
    }

    pub fn holds(&self, now: Time) -> Option<Resource> {
        self.lease.filter(|(_, e, _)| *e > now).map(|(r, _, _)| r)
    }
}

/// Asserts no resource is held by two clients at `now`.
pub fn assert_no_duplicates(clients: &[&Client], now: Time) {
    let mut seen: BTreeMap<Resource, usize> = BTreeMap::new();
    for (i, c) in clients.iter().enumerate() {
        if let Some(r) = c.holds(now) {
            if let Some(j) = seen.insert(r, i) {
                panic!("{r} held by clients {j} and {i}");
            }
        }
    }
}
