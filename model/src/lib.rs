//! # failover-model: RFC 8156 DHCPv6 failover as pure transition functions
//!
//! This crate is the protocol: a failover endpoint (one role in one relationship) as a
//! deterministic state machine in the sans-IO style. It never reads a clock, a socket, a disk
//! or a random source. A driver hands it inputs with the current time and carries out the
//! outputs it returns, in order (see [`io`] for the contract):
//!
//! ```text
//!   client request ─┐                                  ┌─► Persist (binding, state record)
//!   partner message ┤                                  ├─► Reply / Silence to the client
//!   connection up/down ─► Endpoint::handle(now, input) ├─► Send (failover message)
//!   timeout ────────┤                                  ├─► Connect / Disconnect
//!   operator command┘                                  └─► Event
//!
//!   Endpoint::next_deadline() ─► when the driver feeds the next timeout
//! ```
//!
//! Timers are the endpoint's own (quinn's `poll_timeout`/`handle_timeout`): no output arms
//! one; the driver asks [`Endpoint::next_deadline`] after each step and feeds
//! [`Input::Timeout`] when its clock reaches it. [`exec`] is the reference executor of the
//! outputs (durable image, step checks) shared by the model checker, the tests and the replay
//! of runtime traces.
//!
//! The same functions drive the stateright model (`failover-specs`) and the production
//! runtime (`failover-runtime`), so a crash in the model and a crash of `failoverd` mean the
//! same thing: [`Endpoint::restore`] rebuilds an endpoint from exactly its durable image.
//!
//! The modules are layered; each uses only the layers below it (and [`failover::state`]'s
//! pure tables, which the configuration's role and the lease rules read too):
//!
//! 1. The bottom: [`time`] (§3 absolute time), [`resource`] (addresses, prefixes, DUID/IAID),
//!    [`config`], [`io`] (the driving contract) and the step's output sink (`sink`: the one
//!    place that arms and disarms timers). [`wire`] holds the octet codecs beside them.
//! 2. The records: [`leases`] (§7.2 binding records, the binding database, §4.2 pools, §4.4
//!    MCLT lifetimes) and, owning them, [`leases::allocation::Leases`] (§4.2 allocation,
//!    §4.2.2.1 re-allocation waits, §7.2 expiry); [`failover`]'s messages (§5), state tables
//!    (§8), STARTTLS (§6) and conflict resolution (§7.5.4).
//! 3. The sub-machines, each a struct owning its fields and written to a sink:
//!    [`failover::machine::Machine`] (§8: the state record, the live state, a transition's
//!    record keeping), [`failover::connection::Connection`] (§6: phase, partner view, xids,
//!    handshake, back-off, skew), [`failover::updates::Updates`] (§7.4-§7.7, §5.3.5-§5.3.7:
//!    lazy updates, with [`failover::bndupd`] building and receiving one BNDUPD), and the
//!    DHCPv6 server decisions of [`dhcp::server`] (RFC 8415 §18.3) working on the leases.
//! 4. On top, [`endpoint`]: [`Endpoint`] owns the sub-machines and routes each input; what
//!    touches several of them (a transition's exit and entry actions, comms going up or down,
//!    the partner's STATE) is orchestrated there. A sub-machine reads another only through
//!    its methods or arguments the router passes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod dhcp;
pub mod endpoint;
pub mod exec;
pub mod failover;
pub mod io;
pub mod leases;
#[cfg(feature = "mutations")]
pub mod mutation;
pub mod resource;
mod sink;
pub mod time;
pub mod wire;

pub use config::Config;
pub use endpoint::{Endpoint, StatusReport};
pub use failover::message::{Message, MessageBody};
pub use failover::state::{EndpointState, Responsiveness, Role};
pub use io::{
    Command, DurableImage, DurableWrite, Event, Input, Output, Rejection, StateRecord, Timer,
};
pub use leases::binding::{Binding, BindingStatus};
pub use resource::{ClientKey, Duid, IaKind, Iaid, Resource};
pub use time::Time;
