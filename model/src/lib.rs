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
//! The modules are layered. At the bottom: [`time`] (§3 absolute time), [`resource`]
//! (addresses, prefixes, DUID/IAID), [`config`] and [`io`] (the driving contract). Then
//! [`leases`] (§7.2 binding records, §4.2 pools, §4.4 MCLT lifetimes), [`failover`] (§5
//! messages, §8 states, §6 STARTTLS, §7.5.4 conflict resolution) and [`dhcp`] (RFC 8415
//! requests). On top, [`endpoint`] ties them together. [`wire`] holds the octet codecs.
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
pub mod server;
pub mod time;
pub mod updates;
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
