//! # failover-runtime: `failoverd`, the tokio program around `failover-model`
//!
//! The runtime moves bytes, time and disk; it decides nothing the core could decide. Every
//! choice of state, lifetime, pool or reply comes from [`failover_model::Endpoint::handle`];
//! this crate turns sockets into [`failover_model::Input`]s and carries out the
//! [`failover_model::Output`]s in order (see [`driver`]).
//!
//! - [`config`]: the TOML file, validated in two layers.
//! - [`store`]: the durable lease store (redb), group commit.
//! - [`driver`]: the task that owns the endpoint, its clock, timers and output ordering.
//! - [`dhcp`]: DHCPv6 over UDP. [`partner`]: the failover TCP link.
//! - [`control`]: the JSON control socket. [`metrics`]: Prometheus metrics.
//! - [`trace`]: recording and replaying model steps.
//! - [`kea`]: `failoverd import-kea`, migration from ISC Kea (configuration and leases).
#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod control;
pub mod dhcp;
pub mod driver;
pub mod gate;
pub mod kea;
pub mod metrics;
pub mod partner;
pub mod ratelimit;
pub mod server;
pub mod store;
pub mod tls;
pub mod trace;
