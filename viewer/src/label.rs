//! Labels for the core's types: the short text an arrow or a binding row shows.
//!
//! Times are printed by a caller-supplied function, so that a model counterexample can show
//! them relative to its start (`t0+90`) and a runtime trace as it prefers.

use crate::BindingRow;
use failover_model::dhcp::client::{ClientReply, ClientRequest};
use failover_model::failover::message::{BindingPayload, LeaseData, Message, MessageBody, Status};
use failover_model::leases::binding::Binding;
use failover_model::Time;

/// Prints an absolute time.
pub type TimeFmt<'a> = &'a dyn Fn(Time) -> String;

fn status_text(s: &Status) -> String {
    let name = match s.code.0 {
        0 => "Success",
        1 => "UnspecFail",
        14 => "NotSupported",
        15 => "TLSConnectionRefused",
        16 => "AddressInUse",
        17 => "ConfigurationConflict",
        18 => "MissingBindingInformation",
        19 => "OutdatedBindingInformation",
        20 => "ServerShuttingDown",
        21 => "DNSUpdateNotSupported",
        22 => "ExcessiveTimeSkew",
        _ => return format!("status {}", s.code.0),
    };
    name.to_string()
}

fn kv(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

fn lease_text(l: &LeaseData, t: TimeFmt<'_>, reply: bool) -> String {
    let mut s = l.resource.to_string();
    if let Some(st) = l.options.binding_status {
        s.push(' ');
        s.push_str(st.name());
    }
    if l.valid_lifetime > 0 {
        s.push_str(&format!(" valid {}", l.valid_lifetime));
    }
    if let Some(p) = l.options.partner_lifetime {
        s.push_str(&format!(" plt {}", t(p)));
    }
    if let Some(p) = l.options.partner_lifetime_sent.filter(|_| reply) {
        s.push_str(&format!(" plt-sent {}", t(p)));
    }
    if let Some(e) = l.options.state_expiration_time {
        s.push_str(&format!(" until {}", t(e)));
    }
    if let Some(st) = &l.options.status {
        s.push_str(&format!(" {}", status_text(st)));
    }
    s
}

/// The message type and essential fields of a failover message: xid, and per message type
/// the resources with binding status, lifetimes and status codes (BNDUPD, BNDREPLY), the
/// announced state and flags (STATE), MCLT and status (CONNECT, CONNECTREPLY), status
/// (DISCONNECT).
#[must_use]
pub fn message(m: &Message, t: TimeFmt<'_>) -> (String, Vec<(String, String)>) {
    let mut f = vec![kv("xid", m.xid.to_string())];
    match &m.body {
        MessageBody::BndUpd(bm) | MessageBody::BndReply(bm) => {
            let reply = matches!(m.body, MessageBody::BndReply(_));
            if let Some(st) = &bm.status {
                f.push(kv("", status_text(st)));
            }
            match &bm.payload {
                Some(BindingPayload::Client(cd)) => {
                    f.push(kv("client", short_duid(&cd.client_id.0)));
                    if let Some(st) = &cd.status {
                        f.push(kv("", status_text(st)));
                    }
                    for ia in &cd.ias {
                        if let Some(st) = &ia.status {
                            f.push(kv("ia", status_text(st)));
                        }
                        for l in &ia.leases {
                            f.push(kv("", lease_text(l, t, reply)));
                        }
                    }
                }
                Some(BindingPayload::Prefix(p)) => f.push(kv("", lease_text(&p.lease, t, reply))),
                None => f.push(kv("", "no binding")),
            }
        }
        MessageBody::State(st) => {
            if let Some(s) = st.server_state {
                f.push(kv("state", s.name()));
            }
            if let Some(fl) = st.flags {
                let mut bits = String::new();
                for (on, c) in [(fl.startup, 'S'), (fl.ack_startup, 'A'), (fl.communicated, 'C')] {
                    if on {
                        bits.push(c);
                    }
                }
                if !bits.is_empty() {
                    f.push(kv("flags", bits));
                }
            }
            if let Some(s) = st.start_time_of_state {
                f.push(kv("since", t(s)));
            }
            if let Some(p) = st.partner_down_time {
                f.push(kv("pd-time", t(p)));
            }
        }
        MessageBody::Connect(o) | MessageBody::ConnectReply(o) => {
            if let Some(m) = o.mclt {
                f.push(kv("mclt", m.to_string()));
            }
            if let Some(st) = &o.status {
                f.push(kv("", status_text(st)));
            }
        }
        MessageBody::Disconnect(o) | MessageBody::StartTls(o) => {
            if let Some(st) = &o.status {
                f.push(kv("", status_text(st)));
            }
        }
        _ => {}
    }
    (m.body.name().to_string(), f)
}

/// A short form of a DUID: the model's clients are `c<n>` (their last octet's low nibble), any
/// other DUID its last three octets in hex.
#[must_use]
pub fn short_duid(duid: &[u8]) -> String {
    if duid.len() == 5 && duid[..4] == [0, 3, 0, 1] && duid[4] & 0xf0 == 0xc0 {
        return format!("c{}", duid[4] & 0x0f);
    }
    let tail = &duid[duid.len().saturating_sub(3)..];
    tail.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// The message type and essential fields of a client request: the leases or hints it names
/// per IA, and whether it names a server.
#[must_use]
pub fn request(r: &ClientRequest) -> (String, Vec<(String, String)>) {
    let mut f = Vec::new();
    if let Some(c) = &r.client_id {
        f.push(kv("client", short_duid(&c.0)));
    }
    for ia in &r.ias {
        let kind = format!("{:?}", ia.kind).to_uppercase();
        if ia.leases.is_empty() {
            f.push(kv("", format!("IA_{kind}")));
        }
        for l in &ia.leases {
            f.push(kv("", format!("IA_{kind} {}", l.resource)));
        }
    }
    if let Some(s) = &r.server_id {
        f.push(kv("server", short_duid(&s.0)));
    }
    (r.kind.name().to_string(), f)
}

/// The message type and essential fields of a reply: status, and per IA the leases with their
/// valid and preferred lifetimes, T1, or the IA's status.
#[must_use]
pub fn reply(r: &ClientReply) -> (String, Vec<(String, String)>) {
    let mut f = Vec::new();
    if let Some(s) = r.status {
        f.push(kv("", s.name()));
    }
    for ia in &r.ias {
        if let Some(s) = ia.status {
            f.push(kv("", s.name()));
        }
        for l in &ia.leases {
            f.push(kv(
                "",
                format!("{} valid {} pref {}", l.resource, l.valid_lifetime, l.preferred_lifetime),
            ));
        }
        if !ia.leases.is_empty() && ia.t1 > 0 {
            f.push(kv("T1", ia.t1.to_string()));
        }
    }
    let name = match r.kind {
        failover_model::dhcp::client::ReplyKind::Advertise => "ADVERTISE",
        failover_model::dhcp::client::ReplyKind::Reply => "REPLY",
    };
    (name.to_string(), f)
}

/// A binding as a row of the details table.
#[must_use]
pub fn binding(b: &Binding, t: TimeFmt<'_>) -> BindingRow {
    let opt = |x: Time| if x.is_zero() { "-".to_string() } else { t(x) };
    BindingRow {
        resource: b.resource.to_string(),
        status: b.status.name().to_string(),
        client: b.client.as_ref().map_or_else(String::new, |k| short_duid(&k.duid.0)),
        expiry: opt(b.client_expiry),
        acked_partner_lifetime: opt(b.acked_partner_lifetime),
        expiration_time: opt(b.expiration_time),
        pending: b.pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use failover_model::failover::message::{ServerFlags, StateOptions};
    use failover_model::EndpointState;

    #[test]
    fn state_label_has_the_state_flags_and_xid() {
        let m = Message {
            xid: 7,
            sent_time: Time(1000),
            body: MessageBody::State(StateOptions {
                server_state: Some(EndpointState::PartnerDown),
                flags: Some(ServerFlags { startup: true, ack_startup: false, communicated: true }),
                start_time_of_state: Some(Time(1030)),
                partner_down_time: None,
                unknown: Vec::new(),
            }),
        };
        let t = |x: Time| format!("t0+{}", x.0 - 1000);
        let (name, f) = message(&m, &t);
        assert_eq!(name, "STATE");
        assert_eq!(
            f,
            vec![
                kv("xid", "7"),
                kv("state", "PARTNER-DOWN"),
                kv("flags", "SC"),
                kv("since", "t0+30")
            ]
        );
    }

    #[test]
    fn model_client_duids_are_short() {
        assert_eq!(short_duid(&[0, 3, 0, 1, 0xc1]), "c1");
        assert_eq!(short_duid(&[0, 1, 0, 1, 0xaa, 0xbb, 0xcc]), "aa:bb:cc");
    }
}
