//! The checked world: two failover endpoints, the partner connection, the clients' ghost
//! ledger, the clock, the fault budgets and the ghost variables that properties read.
//!
//! Everything here is data. The protocol lives in `failover_model::Endpoint`; this module only
//! holds what the environment (the model) adds around it.

use failover_model::dhcp::client::ClientMsgKind;
use failover_model::{
    DurableImage, Endpoint, EndpointState, IaKind, Message, Resource, Role, Time,
};
use serde::Serialize;
use std::collections::VecDeque;
use std::fmt;

/// The global clock starts here (not at zero: `Time(0)` is the RFC's "no time").
pub const T0: Time = Time(1000);

/// Index of a role in the per-server arrays (primary 0, secondary 1).
#[must_use]
pub fn idx(role: Role) -> usize {
    match role {
        Role::Primary => 0,
        Role::Secondary => 1,
    }
}

/// The role at an index of the per-server arrays.
#[must_use]
pub fn role_at(i: usize) -> Role {
    if i == 0 {
        Role::Primary
    } else {
        Role::Secondary
    }
}

/// Short name of a role for traces.
#[must_use]
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Primary => "P",
        Role::Secondary => "S",
    }
}

/// One server: the live endpoint (`None` while crashed) and its durable image, the fold of
/// every `Output::Persist` it produced with `DurableImage::apply`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Server {
    /// The running endpoint, or `None` while crashed.
    pub live: Option<Endpoint>,
    /// Stable storage: exactly what survives a crash (cleared by a storage loss).
    pub image: DurableImage,
}

/// What travels on the partner connection, per direction: failover messages and, after a
/// graceful close or a process crash, the end of the stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Wire {
    /// A failover message.
    Msg(Box<Message>),
    /// The stream ended (TCP FIN / RST after the sender closed or died): the receiver gets
    /// `Input::ConnectionDown` when it reaches the head of the FIFO.
    Fin,
}

/// The partner connection (RFC 8156 §6.1, TCP: FIFO per direction, no per-message loss; a
/// message the core lets overtake may pass the queued ones, see [`overtaking`]).
///
/// Each side keeps its own view (`open`): after a silent partition one side may still believe
/// the connection is up until its keepalive expires. Every new connection starts with empty
/// FIFOs, so nothing from an older connection is ever delivered (this is the epoch discard of
/// the digest's §10.4, done by clearing instead of tagging).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Link {
    /// Whether each side (primary, secondary) believes it has an open connection.
    pub open: [bool; 2],
    /// In-flight messages towards each side (index = destination).
    pub fifo: [VecDeque<Wire>; 2],
    /// The network between the servers is partitioned (clients still reach both).
    pub partitioned: bool,
    /// The current connection was cut by a partition: nothing flows on it any more, even
    /// after the partition heals (TCP would retransmit, never skip); each side learns it only
    /// from its own keepalive timer. A new connection clears this.
    pub severed: bool,
    /// The primary asked to connect (`Output::Connect`) and the attempt has no outcome yet.
    pub connect_pending: bool,
}

impl Link {
    /// Whether messages can flow: both sides open and no partition.
    #[must_use]
    pub fn flowing(&self) -> bool {
        self.open[0] && self.open[1] && !self.partitioned && !self.severed
    }
}

/// The position of the message that may be delivered ahead of the head of `queue`, if any:
/// the first message the core lets overtake queued traffic
/// (`failover_model::failover::link::may_overtake`, as `failoverd`'s writer does), when it is
/// not the head already. Such messages keep their order among themselves, so only the first
/// one may jump; none jumps the end of the stream (`Wire::Fin`). Delivering the head or this
/// message, step by step, yields every order `failoverd`'s two send queues can produce.
#[must_use]
pub fn overtaking<'a>(queue: impl IntoIterator<Item = &'a Wire>) -> Option<usize> {
    for (k, wire) in queue.into_iter().enumerate() {
        match wire {
            Wire::Fin => return None,
            Wire::Msg(m) if failover_model::failover::link::may_overtake(&m.body) => {
                return (k > 0).then_some(k);
            }
            Wire::Msg(_) => {}
        }
    }
    None
}

/// One lease a client believes it holds (the ghost ledger of the digest's §10).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Held {
    /// The address or prefix.
    pub resource: Resource,
    /// The IA it sits in.
    pub kind: IaKind,
    /// Absolute (global) time the valid lifetime ends.
    pub valid_until: Time,
    /// Absolute (global) time the client starts renewing (T1).
    pub renew_at: Time,
    /// The server whose REPLY granted or last extended it.
    pub granted_by: Role,
    /// That server's endpoint state when it replied.
    pub state_at_grant: EndpointState,
}

/// A client: what it believes it holds. The client knows nothing else.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Client {
    /// Leases held (sorted by resource).
    pub leases: Vec<Held>,
}

impl Client {
    /// Leases still valid at `now`.
    pub fn valid_at(&self, now: Time) -> impl Iterator<Item = &Held> {
        self.leases.iter().filter(move |h| h.valid_until > now)
    }
}

/// Faults and client operations left (every run is bounded by these and by the horizon).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Budget {
    /// Client operations (Solicit+Request, Renew, Rebind, Release, Decline) left.
    pub client_ops: u8,
    /// Process crashes (storage kept) left.
    pub crashes: u8,
    /// Crashes that also lose stable storage left.
    pub storage_losses: u8,
    /// Connection breaks (TCP reset) left.
    pub breaks: u8,
    /// Network partitions left.
    pub partitions: u8,
    /// Operator PARTNER-DOWN commands left.
    pub pd_commands: u8,
    /// Client replies that may be lost (the server acted, the client never heard) left.
    pub lost_replies: u8,
    /// Faults of any kind (crash, storage loss, break, partition, lost reply) left: the
    /// shared budget `Bounds::max_faults` (255 when there is none).
    pub faults: u8,
}

/// A lease a server must not hand to another client before `wait_until` once it is in
/// PARTNER-DOWN (snapshot taken at PD entry, §4.2.2.1, §8.4.1).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PdWatch {
    /// The resource.
    pub resource: Resource,
    /// The client that held it at PD entry (`None`: a resource of the partner's free pool).
    pub holder: Option<Vec<u8>>,
    /// Earliest local time it may go to someone else.
    pub wait_until: Time,
}

/// Fault kinds, as bits of [`Ghost::faults_seen`].
pub mod fault {
    /// A connection break.
    pub const BREAK: u8 = 1;
    /// A partition.
    pub const PARTITION: u8 = 2;
    /// A crash keeping storage.
    pub const CRASH: u8 = 4;
    /// A crash losing storage.
    pub const STORAGE_LOSS: u8 = 8;
    /// An operator PARTNER-DOWN command.
    pub const PD_COMMAND: u8 = 16;
}

/// Ghost state: never read by the endpoints, only by the properties; kept by the environment
/// (`crate::model`), except `violations`, which the specification (`crate::spec`) sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Ghost {
    /// Bit set of violated step properties: bit `k` is the property at index `k` of
    /// [`crate::properties::TABLE`], set (and kept) once a step violates it.
    pub violations: u128,
    /// Assumption A1: this server's partner is in (or went to) PARTNER-DOWN and this server
    /// has not yet heard a STATE from it, so it must not be reachable by clients (§8.4).
    pub fenced: [bool; 2],
    /// Per server, the PARTNER-DOWN reuse waits recorded at PD entry; `None` outside
    /// PARTNER-DOWN. Kept across a crash that keeps storage: PARTNER-DOWN resumed from the
    /// record keeps its entry time.
    pub pd_watch: [Option<Vec<PdWatch>>; 2],
    /// Per server, the local time it entered PARTNER-DOWN, kept and cleared with `pd_watch`:
    /// the start of the MCLT wait for the partner's untouched prefixes (S9).
    pub pd_entered: [Option<Time>; 2],
    /// Fault kinds that have happened so far.
    pub faults_seen: u8,
    /// Whether each server has ever lost its storage (S3/S4 only hold without that).
    pub storage_lost: [bool; 2],
    /// Whether each server has ever reached NORMAL (it has run failover with its partner,
    /// who therefore has a record of communicating with it: §8.5.2, §8.6.2).
    pub ran_failover: [bool; 2],
    /// Global time each server last went down (crash), until it reaches NORMAL again: the
    /// TIME-OF-FAILURE of §8.6.2 (S23).
    pub down_at: [Option<Time>; 2],
    /// The server lost its storage after running failover and has not finished recovering
    /// (left RECOVER) since, and its partner has not lost its storage since either (it still
    /// has a record of communicating with the server): its recovery must ask for everything
    /// (§8.5.2, S25).
    pub needs_updreqall: [bool; 2],
    /// The partner state each server last heard in a STATE without the STARTUP flag on its
    /// current connection (`None` without one, or after a STATE with the flag): what a
    /// transition it makes later, on another input, may rest on (S24b with the §8.7 interlock:
    /// NORMAL after the last update is acknowledged).
    pub heard: [Option<EndpointState>; 2],
    /// Since when the environment is "stable" (both up, no partition, no fault, no delayed
    /// message or connection), for the bounded reintegration property L1.
    pub stable_since: Option<Time>,
}

/// The whole checked state.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
pub struct World {
    /// Global time (the primary's clock; the secondary's may be skewed).
    pub now: Time,
    /// Primary and secondary.
    pub servers: [Server; 2],
    /// The partner connection.
    pub link: Link,
    /// The clients' ghost ledger.
    pub clients: Vec<Client>,
    /// What is left of the bounds.
    pub budget: Budget,
    /// Ghost variables for properties.
    pub ghost: Ghost,
}

impl World {
    /// The endpoint state of a server, `None` while crashed.
    #[must_use]
    pub fn state_of(&self, role: Role) -> Option<EndpointState> {
        self.servers[idx(role)].live.as_ref().map(Endpoint::state)
    }

    /// Both servers up and in `state`.
    #[must_use]
    pub fn both_in(&self, state: EndpointState) -> bool {
        self.state_of(Role::Primary) == Some(state) && self.state_of(Role::Secondary) == Some(state)
    }
}

fn short_state(s: EndpointState) -> &'static str {
    match s {
        EndpointState::Startup => "STARTUP",
        EndpointState::Normal => "NORMAL",
        EndpointState::CommunicationsInterrupted => "COMM-INT",
        EndpointState::PartnerDown => "PARTNER-DOWN",
        EndpointState::PotentialConflict => "POT-CONFLICT",
        EndpointState::Recover => "RECOVER",
        EndpointState::RecoverWait => "RECOVER-WAIT",
        EndpointState::RecoverDone => "RECOVER-DONE",
        EndpointState::ResolutionInterrupted => "RES-INT",
        EndpointState::ConflictDone => "CONFLICT-DONE",
        _ => "?",
    }
}

/// One-line description of a server for traces and the Explorer.
#[must_use]
pub fn describe_server(role: Role, s: &Server, now: Time) -> String {
    let Some(ep) = &s.live else {
        return format!(
            "{}: crashed (image: state {}, {} bindings)",
            role_name(role),
            s.image.state.as_ref().map_or("none", |r| short_state(r.state)),
            s.image.bindings.len()
        );
    };
    let mut out = format!("{}: {}", role_name(role), short_state(ep.state()));
    let bindings: Vec<String> = ep
        .bindings()
        .map(|b| {
            let who = b
                .client
                .as_ref()
                .map_or(String::new(), |k| format!(" c{}", client_label(&k.duid.0)));
            format!(
                "{} {}{} exp={} apl={} et={}{}",
                b.resource,
                b.status.name(),
                who,
                rel(b.client_expiry, now),
                rel(b.acked_partner_lifetime, now),
                rel(b.expiration_time, now),
                if b.pending { " *" } else { "" }
            )
        })
        .collect();
    if !bindings.is_empty() {
        out.push_str(&format!(" [{}]", bindings.join("; ")));
    }
    let timers: Vec<String> =
        ep.timers().iter().map(|(t, d)| format!("{t:?}@{}", rel(*d, now))).collect();
    if !timers.is_empty() {
        out.push_str(&format!(" timers {{{}}}", timers.join(", ")));
    }
    out
}

/// A time relative to `now` ("+30", "-5", "0" for unset).
#[must_use]
pub fn rel(t: Time, now: Time) -> String {
    if t.is_zero() {
        "0".into()
    } else if t >= now {
        format!("+{}", t.since(now))
    } else {
        format!("-{}", now.since(t))
    }
}

/// The label of a model client from its DUID (the last octet).
#[must_use]
pub fn client_label(duid: &[u8]) -> String {
    duid.last().map_or_else(|| "?".into(), |b| format!("{}", b & 0x0f))
}

/// Short name of a client message kind.
#[must_use]
pub fn kind_name(k: ClientMsgKind) -> &'static str {
    k.name()
}

impl fmt::Debug for World {
    /// A compact, one-field-per-line rendering (the Explorer shows this).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "now = {} (t0{})", self.now, rel(self.now, T0))?;
        for (i, s) in self.servers.iter().enumerate() {
            writeln!(f, "{}", describe_server(role_at(i), s, self.now))?;
        }
        let l = &self.link;
        let q = |d: &VecDeque<Wire>| -> String {
            d.iter()
                .map(|w| match w {
                    Wire::Msg(m) => m.body.name().to_string(),
                    Wire::Fin => "FIN".into(),
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        writeln!(
            f,
            "link: open P={} S={}{}{} | P->S [{}] | S->P [{}]",
            l.open[0],
            l.open[1],
            if l.partitioned { " PARTITIONED" } else { "" },
            if l.connect_pending { " connecting" } else { "" },
            q(&l.fifo[1]),
            q(&l.fifo[0]),
        )?;
        for (i, c) in self.clients.iter().enumerate() {
            let leases: Vec<String> = c
                .leases
                .iter()
                .map(|h| {
                    format!(
                        "{} until {} (T1 {}) from {} in {}",
                        h.resource,
                        rel(h.valid_until, self.now),
                        rel(h.renew_at, self.now),
                        role_name(h.granted_by),
                        short_state(h.state_at_grant)
                    )
                })
                .collect();
            writeln!(
                f,
                "client {i}: {}",
                if leases.is_empty() { "-".into() } else { leases.join("; ") }
            )?;
        }
        writeln!(f, "budget: {:?}", self.budget)?;
        write!(
            f,
            "ghost: violations={:#x} fenced={:?} faults={:#x} stable_since={}",
            self.ghost.violations,
            self.ghost.fenced,
            self.ghost.faults_seen,
            self.ghost.stable_since.map_or("-".into(), |t| rel(t, self.now))
        )
    }
}

/// The short name of a state used in traces.
#[must_use]
pub fn state_label(s: EndpointState) -> &'static str {
    short_state(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use failover_model::failover::message::{DisconnectOptions, NoOptions};
    use failover_model::{Message, MessageBody};

    fn msg(body: MessageBody) -> Wire {
        Wire::Msg(Box::new(Message { xid: 1, sent_time: T0, body }))
    }

    /// The link lets exactly the messages the core's `may_overtake` names pass queued ones,
    /// the first of them only, and never the end of the stream.
    #[test]
    fn only_the_first_overtaking_message_jumps_and_never_a_fin() {
        let bulk = || msg(MessageBody::UpdDone(NoOptions::default()));
        let contact = || msg(MessageBody::Contact(NoOptions::default()));
        let disconnect = || msg(MessageBody::Disconnect(DisconnectOptions::default()));
        assert_eq!(overtaking(&VecDeque::from([bulk(), bulk(), contact()])), Some(2));
        assert_eq!(overtaking(&VecDeque::from([bulk(), disconnect(), contact()])), Some(1));
        // At the head already: an ordinary delivery.
        assert_eq!(overtaking(&VecDeque::from([contact(), bulk(), contact()])), None);
        // Ordered messages only.
        assert_eq!(overtaking(&VecDeque::from([bulk(), bulk()])), None);
        // Nothing passes the end of the stream.
        assert_eq!(overtaking(&VecDeque::from([bulk(), Wire::Fin])), None);
        assert_eq!(overtaking(&VecDeque::new()), None);
    }
}
