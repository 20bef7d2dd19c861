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
//!   timer fired ────┤                                  ├─► Connect / Disconnect
//!   operator command┘                                  └─► SetTimer / CancelTimer / Event
//! ```
//!
//! The same functions drive the stateright model (`failover-specs`) and the production
//! runtime (`failover-runtime`), so a crash in the model and a crash of `failoverd` mean the
//! same thing: [`Endpoint::restore`] rebuilds an endpoint from exactly its durable image.
//!
//! Modules follow the RFC's concepts: [`time`] (§3 absolute time), [`resource`] (addresses,
//! prefixes, DUID/IAID), [`binding`] (§7.2 binding-status, §7.3 records), [`mclt`] (§4.4
//! lifetimes), [`pool`] (§4.2 independent and proportional allocation), [`state`] (§8 endpoint
//! states and transitions), [`message`] (§5 messages and options), [`conflict`] (§7.5.4
//! conflict resolution), [`client`] and [`server`] (RFC 8415 server decisions),
//! [`endpoint`] (the endpoint that ties them together), and [`wire`] (the octet codecs).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod binding;
pub mod client;
pub mod config;
pub mod conflict;
pub mod db;
pub mod endpoint;
pub mod io;
pub mod mclt;
pub mod message;
#[cfg(feature = "mutations")]
pub mod mutation;
pub mod pool;
pub mod resource;
pub mod secure;
pub mod server;
pub mod state;
pub mod time;
pub mod updates;
pub mod wire;

pub use binding::{Binding, BindingStatus};
pub use config::Config;
pub use endpoint::{Endpoint, StatusReport};
pub use io::{
    Command, DurableImage, DurableWrite, Event, Input, Output, Rejection, StateRecord, Timer,
};
pub use message::{Message, MessageBody};
pub use resource::{ClientKey, Duid, IaKind, Iaid, Resource};
pub use state::{EndpointState, Responsiveness, Role};
pub use time::Time;
