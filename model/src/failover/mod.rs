//! The failover protocol between the partners (RFC 8156): its messages and options (§5), the
//! endpoint states and their transitions (§8), the link's rules (who accepts a connection, which
//! messages may overtake queued ones), securing the connection with STARTTLS (§6,
//! RFC 7653) and conflict resolution between binding records (§7.5.4).

pub mod bndupd;
pub mod conflict;
pub mod connection;
pub mod link;
pub mod machine;
pub mod message;
pub mod secure;
pub mod state;
pub mod updates;
