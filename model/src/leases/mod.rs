//! The leases: binding records and their status (RFC 8156 §7.2, §7.3), the binding database,
//! the pools and their split between the partners (§4.2), and the lifetimes the MCLT allows
//! (§4.4).

pub mod allocation;
pub mod binding;
pub mod db;
pub mod mclt;
pub mod pool;
