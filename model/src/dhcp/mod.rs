//! The DHCPv6 side (RFC 8415): what a client asked for and what the server answers.

pub mod client;
pub mod options;
pub mod server;
