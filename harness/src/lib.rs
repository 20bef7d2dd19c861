//! # failover-harness: `failoverd` as a process, for the tests and the demo
//!
//! The one implementation of what the runtime's process tests (`runtime/tests`), the
//! end-to-end tests (`failover-tests`) and `failoverd demo` need to drive real `failoverd`
//! processes:
//!
//! - [`Proc`]: a child process killed (SIGKILL, by its PID) and reaped when dropped; SIGTERM
//!   by PID ([`Proc::terminate`]), bounded waits for its exit.
//! - [`Config`]: a `failoverd` configuration, written as TOML ([`Config::write`]); the
//!   loopback preset of the process tests ([`Config::loopback`]).
//! - [`Node`] and [`Pair`]: one server on loopback (its configuration, control socket and
//!   DHCPv6 address), started with [`Node::start`]; [`normal_pair`] starts a loopback pair and
//!   waits for NORMAL on both sides.
//! - [`control`]: control-socket calls ([`ctl`], with a time limit).
//! - [`wait_until`] (returns whether it held) and [`wait_for`] (fails the test): polling with
//!   a deadline.
//! - [`free_udp`], [`free_tcp`]: unprivileged loopback ports.
//! - [`relay`]: a relayed DHCPv6 client ([`relay_exchange`] and the packet helpers).
//! - [`privileged`]: skip a test that needs root or a package (as an ordinary user only).
//! - [`demo`]: `failoverd demo`, run by the daemon's binary with its own path.
//!
//! It depends on `failover-model` (the wire codecs) and never on `failover-runtime`: the
//! daemon is reached only as a process whose path the caller gives
//! (`env!("CARGO_BIN_EXE_failoverd")` in the runtime's tests, the built binary in
//! `failover-tests`, `std::env::current_exe()` in the demo).
#![forbid(unsafe_code)]

pub mod config;
pub mod control;
pub mod demo;
pub mod node;
pub mod privileged;
pub mod process;
pub mod relay;
pub mod wait;

pub use config::{Config, Role};
pub use control::ctl;
pub use node::{metric, metric_sum, normal_pair, Node, Pair};
pub use process::{failoverd, Proc};
pub use relay::relay_exchange;
pub use wait::{free_tcp, free_udp, wait_for, wait_until};
