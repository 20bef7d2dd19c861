//! The record of one step: what the environment did, in order, between two worlds.
//!
//! Every action of the model ([`crate::model::Action`]) is one [`Step`]: the world before, the
//! action, every input fed to a server in that action with the outputs of that input in order
//! ([`Fed`]), and the world after. The step properties ([`crate::properties`]) are functions of
//! this record; the environment ([`crate::model`]) only builds it and never judges it.

use crate::model::Action;
use crate::world::World;
use failover_model::dhcp::client::{ClientReply, ClientRequest, ReplyKind};
use failover_model::exec::{Check, Violation};
use failover_model::failover::message::MessageBody;
use failover_model::{EndpointState, IaKind, Input, Message, Output, Resource, Role, Time};

/// One input fed to one server (or one restore from its durable image), carried out.
#[derive(Clone, Debug)]
pub struct Fed {
    /// The server.
    pub server: Role,
    /// Its local time.
    pub now: Time,
    /// The input; `None` for a start or restart from the durable image (`Endpoint::restore`).
    pub input: Option<Input>,
    /// Every output, in order, as the core returned them (the `Persist` writes included).
    pub outputs: Vec<Output>,
    /// The reference executor's step checks that failed (`failover_model::exec`).
    pub violations: Vec<Violation>,
    /// The server's state before the input (`None` for a restore).
    pub state_before: Option<EndpointState>,
    /// The server's state after the input.
    pub state_after: Option<EndpointState>,
    /// Whether the server's communications were OK after the input (`Endpoint::comms_ok`).
    pub comms_ok_after: bool,
    /// The partner's state when this input had been carried out (`None` while crashed).
    pub partner_state: Option<EndpointState>,
    /// What the server had heard of its partner's state on its current connection after the
    /// input (the environment's [`crate::world::Ghost::heard`]).
    pub heard_after: Option<EndpointState>,
    /// [`crate::world::Ghost::down_at`] of the server when the input arrived.
    pub down_at: Option<Time>,
    /// [`crate::world::Ghost::ran_failover`] of the server when the input arrived.
    pub ran_failover: bool,
    /// [`crate::world::Ghost::needs_updreqall`] of the server when the input arrived.
    pub needs_updreqall: bool,
}

impl Fed {
    /// The partner messages sent, in order (whether or not the connection carried them).
    pub fn sent(&self) -> impl Iterator<Item = &Message> {
        self.outputs.iter().filter_map(|o| match o {
            Output::Send(m) => Some(m),
            _ => None,
        })
    }

    /// The client replies, in order.
    pub fn replies(&self) -> impl Iterator<Item = &ClientReply> {
        self.outputs.iter().filter_map(|o| match o {
            Output::Reply(r) => Some(r),
            _ => None,
        })
    }

    /// The client request fed, if the input is one.
    #[must_use]
    pub fn request(&self) -> Option<&ClientRequest> {
        match &self.input {
            Some(Input::Client(r)) => Some(r),
            _ => None,
        }
    }

    /// The partner message delivered, if the input is one.
    #[must_use]
    pub fn message(&self) -> Option<&Message> {
        match &self.input {
            Some(Input::Partner(m)) => Some(m),
            _ => None,
        }
    }

    /// Whether the executor's check `check` failed in this step.
    #[must_use]
    pub fn failed(&self, check: Check) -> bool {
        self.violations.iter().any(|v| v.check == check)
    }

    /// The state change, if the input changed the server's state.
    #[must_use]
    pub fn transition(&self) -> Option<(EndpointState, EndpointState)> {
        match (self.state_before, self.state_after) {
            (Some(a), Some(b)) if a != b => Some((a, b)),
            _ => None,
        }
    }
}

/// One step of the model: the world before, the action, what was fed to the servers, the world
/// after.
#[derive(Clone, Copy, Debug)]
pub struct Step<'a> {
    /// The world before the action.
    pub before: &'a World,
    /// The action; `None` for the start of the servers in the initial world.
    pub action: Option<&'a Action>,
    /// Every input fed to a server in the action, in order, with its outputs.
    pub fed: &'a [Fed],
    /// The world after the action.
    pub after: &'a World,
}

/// What a STATE message tells its receiver (`None`, `None` for any other input).
#[must_use]
pub fn told(input: &Input) -> (bool, Option<EndpointState>) {
    if let Input::Partner(m) = input {
        if let MessageBody::State(st) = &m.body {
            return (st.flags.is_some_and(|f| f.startup), st.server_state);
        }
    }
    (false, None)
}

/// A lease a REPLY grants (or, with a zero valid lifetime, takes back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The address or prefix.
    pub resource: Resource,
    /// Its IA type.
    pub kind: IaKind,
    /// The valid lifetime in seconds.
    pub valid: u32,
    /// The time the client renews (T1), in seconds (half the valid lifetime if unset).
    pub t1: u32,
}

/// The leases the REPLYs among `replies` carry, in order (ADVERTISEs promise nothing).
pub fn grants<'a>(replies: impl IntoIterator<Item = &'a ClientReply>) -> Vec<Grant> {
    let mut granted = Vec::new();
    for r in replies {
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
                granted.push(Grant {
                    resource: l.resource,
                    kind: ia.kind,
                    valid: l.valid_lifetime,
                    t1,
                });
            }
        }
    }
    granted
}
