//! # failover-specs: RFC 8156 checked by driving the real core
//!
//! A custom stateright [`stateright::Model`] ([`model::FailoverModel`]) whose state
//! ([`world::World`]) holds two `failover_model::Endpoint`s with their durable images, the
//! partner connection (a FIFO per direction, cut by resets, partitions and crashes), a ghost
//! ledger of what each client believes it holds, the clock, and the fault budgets. Every
//! transition calls `Endpoint::new`, `Endpoint::restore` or `Endpoint::handle`; this crate
//! adds only the environment and the properties ([`properties`], named after the digest's
//! §10 ids and citing RFC 8156).
//!
//! Read [`spec`] first: the world ([`world`]), the actions (the environment, [`model`]; each
//! action yields one [`step::Step`] record), then the properties ([`properties::TABLE`], one
//! row per property: name, RFC section, kind, check over the world or the step).
//!
//! Time: global seconds from [`world::T0`], advanced only to the next interesting instant
//! (a timer deadline, a client's lease expiry or T1) and never past a horizon
//! ([`config::Bounds::horizon`]). The endpoints keep absolute times inside opaque state, so
//! time-translation canonicalisation is not available; the horizon keeps the space finite and
//! is printed with every verdict.
//!
//! See `docs/model.md` for what is modelled, what is abstracted, and how to run
//! `failover-check`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod goals;
pub mod model;
pub mod properties;
pub mod reduce;
pub mod run;
pub mod spec;
pub mod step;
pub mod timeshift;
pub mod viewer;
pub mod walk;
pub mod world;

pub use model::{Action, FailoverModel};
pub use world::World;
