//! Configuration options sent to clients (RFC 8415 §18.3, §21.7), their validated values and
//! the server's choice of which to send in a reply.
//!
//! - [`Options`]: what the operator configured at one level (global `[options]` today; a
//!   subnet will override it field by field with [`Options::overlay`]). Every field is
//!   `Option`: `None` inherits, `Some` sets (an empty list sends nothing).
//! - [`Options::validate`]: the rules, naming the TOML element (`options.dns_servers[1]`).
//! - [`Options::select`]: the pure decision "which options go into this reply", from the
//!   client's message type, the reply type and its Option Request option (ORO).
//! - [`OptionValue`]: one selected option, as the wire codec encodes it
//!   ([`crate::wire::client`]).
//!
//! The rules (RFC 8415 unless named):
//! - §18.3: the server includes the options the ORO asks for that it is configured to return,
//!   and MAY return others it is configured to: [`Options::always_send`] (Kea's
//!   `always-send`).
//! - Replies that carry configuration: ADVERTISE (§18.3.9) and REPLY to SOLICIT (Rapid Commit,
//!   §18.3.1), REQUEST (§18.3.2), RENEW (§18.3.4), REBIND (§18.3.5) and INFORMATION-REQUEST
//!   (§18.3.6). Not CONFIRM, RELEASE or DECLINE (§18.3.3, §18.3.7, §18.3.8 name no
//!   configuration), never a UseMulticast REPLY (§18.4 "and no other options").
//! - SOL_MAX_RT (82) and INF_MAX_RT (83) only to a client whose ORO names them (§21.24,
//!   §21.25), 60..=86400 s.
//! - INFORMATION_REFRESH_TIME (32) only in a REPLY to INFORMATION-REQUEST (§21.23), at least
//!   IRT_MINIMUM = 600 s (§7.6).
//! - Preference (7) only in ADVERTISE (§21.8, §18.3.9); a client cannot request it (§21.7), so
//!   it is not chosen through the ORO (see [`crate::dhcp::server`]).
//! - DNS recursive name servers (23) and domain search list (24): RFC 3646 §3, §4; SNTP
//!   servers (31): RFC 4075 §4; NTP servers (56) with sub-options server address (1), multicast
//!   address (2) and FQDN (3): RFC 5908 §4.

use crate::config::ConfigError;
use crate::dhcp::client::{ClientMsgKind, ReplyKind};
use serde::{Deserialize, Serialize};
use std::net::Ipv6Addr;

/// IRT_MINIMUM (RFC 8415 §7.6): the smallest information refresh time, seconds.
pub const IRT_MINIMUM: u32 = 600;
/// The range of SOL_MAX_RT and INF_MAX_RT values (RFC 8415 §21.24, §21.25), seconds.
pub const MAX_RT_RANGE: std::ops::RangeInclusive<u32> = 60..=86_400;
/// At most this many entries in one configured list (keeps every option far below the
/// 65,535-octet option length and a reply within one datagram).
pub const MAX_LIST_LEN: usize = 64;
/// A domain name in wire form (RFC 1035 §2.3.4): at most 255 octets.
pub const MAX_NAME_WIRE_LEN: usize = 255;
/// A label: 1..=63 octets (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// The configuration options this server sends, by code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OptionName {
    /// OPTION_DNS_SERVERS (23), RFC 3646 §3.
    DnsServers,
    /// OPTION_DOMAIN_LIST (24), RFC 3646 §4.
    DomainSearch,
    /// OPTION_SNTP_SERVERS (31), RFC 4075 §4.
    SntpServers,
    /// OPTION_INFORMATION_REFRESH_TIME (32), RFC 8415 §21.23.
    InformationRefreshTime,
    /// OPTION_NTP_SERVER (56), RFC 5908 §4.
    NtpServers,
    /// OPTION_SOL_MAX_RT (82), RFC 8415 §21.24.
    SolMaxRt,
    /// OPTION_INF_MAX_RT (83), RFC 8415 §21.25.
    InfMaxRt,
}

impl OptionName {
    /// Every name, in code order.
    pub const ALL: [OptionName; 7] = [
        OptionName::DnsServers,
        OptionName::DomainSearch,
        OptionName::SntpServers,
        OptionName::InformationRefreshTime,
        OptionName::NtpServers,
        OptionName::SolMaxRt,
        OptionName::InfMaxRt,
    ];

    /// The option code.
    #[must_use]
    pub fn code(self) -> u16 {
        match self {
            OptionName::DnsServers => 23,
            OptionName::DomainSearch => 24,
            OptionName::SntpServers => 31,
            OptionName::InformationRefreshTime => 32,
            OptionName::NtpServers => 56,
            OptionName::SolMaxRt => 82,
            OptionName::InfMaxRt => 83,
        }
    }

    /// The key in `failoverd`'s `[options]` table.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            OptionName::DnsServers => "dns_servers",
            OptionName::DomainSearch => "domain_search",
            OptionName::SntpServers => "sntp_servers",
            OptionName::InformationRefreshTime => "information_refresh_time",
            OptionName::NtpServers => "ntp_servers",
            OptionName::SolMaxRt => "sol_max_rt",
            OptionName::InfMaxRt => "inf_max_rt",
        }
    }

    /// The name for a `[options]` key.
    #[must_use]
    pub fn from_key(key: &str) -> Option<OptionName> {
        OptionName::ALL.into_iter().find(|n| n.key() == key)
    }
}

/// A domain name as the operator wrote it (`ntp.example.org`, a trailing dot allowed).
/// [`DomainName::check`] is the rule; the codec encodes only names that pass it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DomainName(pub String);

impl DomainName {
    /// A name, unchecked (see [`DomainName::check`]).
    #[must_use]
    pub fn new(s: impl Into<String>) -> DomainName {
        DomainName(s.into())
    }

    /// Host-name syntax (RFC 1035 §2.3.1, RFC 1123 §2.1): labels of letters, digits and
    /// hyphens, 1..=63 octets, not starting or ending with a hyphen; at most 255 octets in wire
    /// form (RFC 1035 §2.3.4). The root alone is not a name here.
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn check(&self) -> Result<(), &'static str> {
        let s = self.0.strip_suffix('.').unwrap_or(&self.0);
        if s.is_empty() {
            return Err("is not a domain name (empty)");
        }
        for label in s.split('.') {
            if label.is_empty() {
                return Err("has an empty label");
            }
            if label.len() > MAX_LABEL_LEN {
                return Err("has a label longer than 63 octets (RFC 1035 §2.3.4)");
            }
            if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err("is not a host name: letters, digits, '-' and '.' only (RFC 1123)");
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err("has a label starting or ending with '-' (RFC 1123)");
            }
        }
        if self.wire_len() > MAX_NAME_WIRE_LEN {
            return Err("is longer than 255 octets in wire form (RFC 1035 §2.3.4)");
        }
        Ok(())
    }

    /// The labels, without the root.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.0.strip_suffix('.').unwrap_or(&self.0).split('.').filter(|l| !l.is_empty())
    }

    /// Octets in uncompressed wire form (RFC 1035 §3.1): a length octet per label and the
    /// root's zero octet.
    #[must_use]
    pub fn wire_len(&self) -> usize {
        self.labels().map(|l| 1 + l.len()).sum::<usize>() + 1
    }
}

impl std::fmt::Display for DomainName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One NTP time source (RFC 5908 §4: one sub-option each).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NtpServer {
    /// NTP_SUBOPTION_SRV_ADDR (1): a unicast server address (RFC 5908 §4.1).
    Address(Ipv6Addr),
    /// NTP_SUBOPTION_MC_ADDR (2): a multicast group (RFC 5908 §4.2).
    Multicast(Ipv6Addr),
    /// NTP_SUBOPTION_SRV_FQDN (3): a server's name (RFC 5908 §4.3).
    Fqdn(DomainName),
}

impl NtpServer {
    /// The sub-option code (RFC 5908 §4).
    #[must_use]
    pub fn suboption(&self) -> u16 {
        match self {
            NtpServer::Address(_) => 1,
            NtpServer::Multicast(_) => 2,
            NtpServer::Fqdn(_) => 3,
        }
    }
}

/// One option chosen for a reply, with its value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OptionValue {
    /// OPTION_DNS_SERVERS (23).
    DnsServers(Vec<Ipv6Addr>),
    /// OPTION_DOMAIN_LIST (24).
    DomainSearch(Vec<DomainName>),
    /// OPTION_SNTP_SERVERS (31).
    SntpServers(Vec<Ipv6Addr>),
    /// OPTION_INFORMATION_REFRESH_TIME (32).
    InformationRefreshTime(u32),
    /// OPTION_NTP_SERVER (56).
    NtpServers(Vec<NtpServer>),
    /// OPTION_SOL_MAX_RT (82).
    SolMaxRt(u32),
    /// OPTION_INF_MAX_RT (83).
    InfMaxRt(u32),
}

impl OptionValue {
    /// Which option it is.
    #[must_use]
    pub fn name(&self) -> OptionName {
        match self {
            OptionValue::DnsServers(_) => OptionName::DnsServers,
            OptionValue::DomainSearch(_) => OptionName::DomainSearch,
            OptionValue::SntpServers(_) => OptionName::SntpServers,
            OptionValue::InformationRefreshTime(_) => OptionName::InformationRefreshTime,
            OptionValue::NtpServers(_) => OptionName::NtpServers,
            OptionValue::SolMaxRt(_) => OptionName::SolMaxRt,
            OptionValue::InfMaxRt(_) => OptionName::InfMaxRt,
        }
    }

    /// The option code.
    #[must_use]
    pub fn code(&self) -> u16 {
        self.name().code()
    }
}

/// The options configured at one level (global today; per subnet with [`Options::overlay`]).
/// `None` inherits from the level below (or sends nothing at the global level).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Options {
    /// `dns_servers`: recursive name servers (23).
    pub dns_servers: Option<Vec<Ipv6Addr>>,
    /// `domain_search`: the domain search list (24).
    pub domain_search: Option<Vec<DomainName>>,
    /// `sntp_servers`: SNTP servers (31).
    pub sntp_servers: Option<Vec<Ipv6Addr>>,
    /// `ntp_servers`: NTP servers (56).
    pub ntp_servers: Option<Vec<NtpServer>>,
    /// `information_refresh_time` (32), seconds.
    pub information_refresh_time: Option<u32>,
    /// `sol_max_rt` (82), seconds.
    pub sol_max_rt: Option<u32>,
    /// `inf_max_rt` (83), seconds.
    pub inf_max_rt: Option<u32>,
    /// `preference` (7), sent in ADVERTISE.
    pub preference: Option<u8>,
    /// `always_send`: options sent even when the client's ORO does not name them (RFC 8415
    /// §18.3 "MAY return additional options"). Not SOL_MAX_RT / INF_MAX_RT (§21.24, §21.25).
    pub always_send: Option<Vec<OptionName>>,
}

impl Options {
    /// Nothing configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Options::default()
    }

    /// These options with every field `over` sets replacing ours (a subnet's options over the
    /// global ones). A list is replaced as a whole, never merged.
    #[must_use]
    pub fn overlay(&self, over: &Options) -> Options {
        fn pick<T: Clone>(base: &Option<T>, over: &Option<T>) -> Option<T> {
            over.clone().or_else(|| base.clone())
        }
        Options {
            dns_servers: pick(&self.dns_servers, &over.dns_servers),
            domain_search: pick(&self.domain_search, &over.domain_search),
            sntp_servers: pick(&self.sntp_servers, &over.sntp_servers),
            ntp_servers: pick(&self.ntp_servers, &over.ntp_servers),
            information_refresh_time: pick(
                &self.information_refresh_time,
                &over.information_refresh_time,
            ),
            sol_max_rt: pick(&self.sol_max_rt, &over.sol_max_rt),
            inf_max_rt: pick(&self.inf_max_rt, &over.inf_max_rt),
            preference: pick(&self.preference, &over.preference),
            always_send: pick(&self.always_send, &over.always_send),
        }
    }

    /// The configured value of `name`, if any (an empty list is configured: it sends nothing).
    #[must_use]
    pub fn value(&self, name: OptionName) -> Option<OptionValue> {
        let nonempty = |v: &Vec<Ipv6Addr>| (!v.is_empty()).then(|| v.clone());
        match name {
            OptionName::DnsServers => {
                self.dns_servers.as_ref().and_then(nonempty).map(OptionValue::DnsServers)
            }
            OptionName::DomainSearch => self
                .domain_search
                .as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| OptionValue::DomainSearch(v.clone())),
            OptionName::SntpServers => {
                self.sntp_servers.as_ref().and_then(nonempty).map(OptionValue::SntpServers)
            }
            OptionName::InformationRefreshTime => {
                self.information_refresh_time.map(OptionValue::InformationRefreshTime)
            }
            OptionName::NtpServers => self
                .ntp_servers
                .as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| OptionValue::NtpServers(v.clone())),
            OptionName::SolMaxRt => self.sol_max_rt.map(OptionValue::SolMaxRt),
            OptionName::InfMaxRt => self.inf_max_rt.map(OptionValue::InfMaxRt),
        }
    }

    /// Which configured options go into a reply of kind `reply` to a `msg` whose ORO lists
    /// `oro` (the rules in the module documentation), in code order, each once.
    #[must_use]
    pub fn select(&self, msg: ClientMsgKind, reply: ReplyKind, oro: &[u16]) -> Vec<OptionValue> {
        use ClientMsgKind::*;
        let carries_configuration = match msg {
            Solicit | Request | Renew | Rebind | InformationRequest => true,
            Confirm | Release | Decline => false,
        };
        if !carries_configuration {
            return Vec::new();
        }
        let always = self.always_send.clone().unwrap_or_default();
        OptionName::ALL
            .into_iter()
            .filter(|name| {
                let asked = oro.contains(&name.code());
                match name {
                    // §21.24, §21.25: only to a client that asked.
                    OptionName::SolMaxRt | OptionName::InfMaxRt => asked,
                    // §21.23: only in a REPLY to INFORMATION-REQUEST.
                    OptionName::InformationRefreshTime => {
                        msg == InformationRequest
                            && reply == ReplyKind::Reply
                            && (asked || always.contains(name))
                    }
                    _ => asked || always.contains(name),
                }
            })
            .filter_map(|name| self.value(name))
            .collect()
    }

    /// The rules, for options configured under `at` (`options`; a subnet's
    /// `subnets[2].options`).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first invalid element (`options.dns_servers[1]`).
    pub fn validate(&self, at: &str) -> Result<(), ConfigError> {
        let bad = |path: String, reason: String| Err(ConfigError::invalid(path, reason));
        let unicast = |a: &Ipv6Addr| -> Result<(), String> {
            if a.is_unspecified() || a.is_multicast() || a.is_loopback() {
                Err(format!("{a} is not a unicast address a client can reach"))
            } else {
                Ok(())
            }
        };
        for (key, list) in
            [("dns_servers", &self.dns_servers), ("sntp_servers", &self.sntp_servers)]
        {
            let Some(list) = list else { continue };
            if list.len() > MAX_LIST_LEN {
                return bad(format!("{at}.{key}"), format!("at most {MAX_LIST_LEN} addresses"));
            }
            for (i, a) in list.iter().enumerate() {
                if let Err(why) = unicast(a) {
                    return bad(format!("{at}.{key}[{i}]"), why);
                }
                if list[..i].contains(a) {
                    return bad(format!("{at}.{key}[{i}]"), format!("{a} is listed twice"));
                }
            }
        }
        if let Some(list) = &self.domain_search {
            if list.len() > MAX_LIST_LEN {
                return bad(format!("{at}.domain_search"), format!("at most {MAX_LIST_LEN} names"));
            }
            for (i, n) in list.iter().enumerate() {
                if let Err(why) = n.check() {
                    return bad(format!("{at}.domain_search[{i}]"), format!("{n:?} {why}"));
                }
            }
        }
        if let Some(list) = &self.ntp_servers {
            if list.len() > MAX_LIST_LEN {
                return bad(format!("{at}.ntp_servers"), format!("at most {MAX_LIST_LEN} servers"));
            }
            for (i, s) in list.iter().enumerate() {
                let path = format!("{at}.ntp_servers[{i}]");
                match s {
                    NtpServer::Address(a) => {
                        if let Err(why) = unicast(a) {
                            return bad(path, why);
                        }
                    }
                    NtpServer::Multicast(a) => {
                        if !a.is_multicast() {
                            return bad(path, format!("{a} is not a multicast address"));
                        }
                    }
                    NtpServer::Fqdn(n) => {
                        if let Err(why) = n.check() {
                            return bad(path, format!("{n:?} {why}"));
                        }
                    }
                }
                if list[..i].contains(s) {
                    return bad(path, "is listed twice".into());
                }
            }
        }
        if let Some(t) = self.information_refresh_time {
            if t < IRT_MINIMUM {
                return bad(
                    format!("{at}.information_refresh_time"),
                    format!("must be at least {IRT_MINIMUM} seconds (IRT_MINIMUM, RFC 8415 §7.6)"),
                );
            }
        }
        for (key, v, sec) in
            [("sol_max_rt", self.sol_max_rt, "§21.24"), ("inf_max_rt", self.inf_max_rt, "§21.25")]
        {
            if let Some(v) = v {
                if !MAX_RT_RANGE.contains(&v) {
                    return bad(
                        format!("{at}.{key}"),
                        format!("must be 60 to 86400 seconds (RFC 8415 {sec})"),
                    );
                }
            }
        }
        if let Some(always) = &self.always_send {
            for (i, name) in always.iter().enumerate() {
                let path = format!("{at}.always_send[{i}]");
                if matches!(name, OptionName::SolMaxRt | OptionName::InfMaxRt) {
                    return bad(
                        path,
                        format!(
                            "{} is sent only to a client that asks for it (RFC 8415 §21.24, \
                             §21.25)",
                            name.key()
                        ),
                    );
                }
                if self.value(*name).is_none() {
                    return bad(path, format!("{} is not configured", name.key()));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClientMsgKind::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
    }

    fn full() -> Options {
        Options {
            dns_servers: Some(vec![a("2001:db8::53")]),
            domain_search: Some(vec![DomainName::new("example.org")]),
            sntp_servers: Some(vec![a("2001:db8::123")]),
            ntp_servers: Some(vec![
                NtpServer::Address(a("2001:db8::123")),
                NtpServer::Multicast(a("ff05::101")),
                NtpServer::Fqdn(DomainName::new("ntp.example.org.")),
            ]),
            information_refresh_time: Some(86_400),
            sol_max_rt: Some(3600),
            inf_max_rt: Some(3600),
            preference: Some(255),
            always_send: None,
        }
    }

    fn codes(v: &[OptionValue]) -> Vec<u16> {
        v.iter().map(OptionValue::code).collect()
    }

    const ALL_CODES: [u16; 7] = [23, 24, 31, 32, 56, 82, 83];

    #[test]
    fn only_what_the_oro_asks_for() {
        let o = full();
        // RFC 8415 §21.7: top-level options not in the ORO are not sent (no always_send).
        assert_eq!(codes(&o.select(Solicit, ReplyKind::Advertise, &[])), Vec::<u16>::new());
        assert_eq!(codes(&o.select(Request, ReplyKind::Reply, &[23])), vec![23]);
        // In code order, once each, unknown and unconfigured codes ignored.
        assert_eq!(codes(&o.select(Renew, ReplyKind::Reply, &[56, 23, 23, 999, 7])), vec![23, 56]);
        let none = Options { dns_servers: Some(vec![]), ..Options::default() };
        assert_eq!(none.select(Request, ReplyKind::Reply, &ALL_CODES), vec![]);
    }

    #[test]
    fn information_refresh_time_only_answers_information_request() {
        let o = full();
        // RFC 8415 §21.23.
        for (msg, kind) in [
            (Solicit, ReplyKind::Advertise),
            (Solicit, ReplyKind::Reply),
            (Request, ReplyKind::Reply),
            (Renew, ReplyKind::Reply),
            (Rebind, ReplyKind::Reply),
        ] {
            assert_eq!(codes(&o.select(msg, kind, &ALL_CODES)), vec![23, 24, 31, 56, 82, 83]);
        }
        assert_eq!(codes(&o.select(InformationRequest, ReplyKind::Reply, &ALL_CODES)), ALL_CODES);
        let always =
            Options { always_send: Some(vec![OptionName::InformationRefreshTime]), ..full() };
        assert_eq!(codes(&always.select(InformationRequest, ReplyKind::Reply, &[])), vec![32]);
        assert_eq!(codes(&always.select(Renew, ReplyKind::Reply, &[])), vec![]);
    }

    #[test]
    fn no_configuration_in_confirm_release_decline_replies() {
        for msg in [Confirm, Release, Decline] {
            assert_eq!(full().select(msg, ReplyKind::Reply, &ALL_CODES), vec![]);
        }
    }

    #[test]
    fn always_send_adds_but_never_the_max_rt_options() {
        let o = Options {
            always_send: Some(vec![OptionName::DnsServers, OptionName::NtpServers]),
            ..full()
        };
        assert_eq!(codes(&o.select(Solicit, ReplyKind::Advertise, &[])), vec![23, 56]);
        assert_eq!(codes(&o.select(Solicit, ReplyKind::Advertise, &[83])), vec![23, 56, 83]);
        // Even if configured so (which validation refuses), 82/83 need the ORO.
        let forced = Options {
            always_send: Some(vec![OptionName::SolMaxRt, OptionName::InfMaxRt]),
            ..full()
        };
        assert_eq!(forced.select(InformationRequest, ReplyKind::Reply, &[]), vec![]);
        assert_eq!(
            forced.validate("options").map_err(|e| e.path().to_owned()),
            Err("options.always_send[0]".into())
        );
    }

    #[test]
    fn overlay_replaces_field_by_field() {
        let global = full();
        let subnet = Options {
            dns_servers: Some(vec![a("2001:db8:1::53")]),
            sntp_servers: Some(vec![]),
            ..Options::default()
        };
        let eff = global.overlay(&subnet);
        assert_eq!(eff.dns_servers, subnet.dns_servers);
        assert_eq!(eff.sntp_servers, Some(vec![]));
        assert_eq!(eff.domain_search, global.domain_search);
        assert_eq!(eff.preference, Some(255));
        assert_eq!(global.overlay(&Options::default()), global);
        assert_eq!(Options::default().overlay(&global), global);
        assert_eq!(codes(&eff.select(Request, ReplyKind::Reply, &[23, 31])), vec![23]);
    }

    fn path(o: &Options) -> String {
        o.validate("options").map_or_else(|e| e.path().to_owned(), |()| "(accepted)".into())
    }

    #[test]
    fn validation_names_the_element() {
        assert_eq!(path(&full()), "(accepted)");
        assert_eq!(path(&Options::default()), "(accepted)");
        let dns = |v: &[&str]| Options {
            dns_servers: Some(v.iter().map(|s| a(s)).collect()),
            ..Options::default()
        };
        assert_eq!(path(&dns(&["2001:db8::1", "ff02::1"])), "options.dns_servers[1]");
        assert_eq!(path(&dns(&["::"])), "options.dns_servers[0]");
        assert_eq!(path(&dns(&["::1"])), "options.dns_servers[0]");
        assert_eq!(path(&dns(&["2001:db8::1", "2001:db8::1"])), "options.dns_servers[1]");
        assert_eq!(path(&dns(&["fe80::1"])), "(accepted)");
        let many: Vec<String> = (0..65).map(|i| format!("2001:db8::{:x}", i + 1)).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(path(&dns(&many)), "options.dns_servers");
        let sntp = Options { sntp_servers: Some(vec![a("ff05::101")]), ..Options::default() };
        assert_eq!(path(&sntp), "options.sntp_servers[0]");
        let names = |v: &[&str]| Options {
            domain_search: Some(v.iter().map(|s| DomainName::new(*s)).collect()),
            ..Options::default()
        };
        assert_eq!(path(&names(&["example.org", "a..b"])), "options.domain_search[1]");
        assert_eq!(path(&names(&["-x.org"])), "options.domain_search[0]");
        assert_eq!(path(&names(&["x_y.org"])), "options.domain_search[0]");
        assert_eq!(path(&names(&["."])), "options.domain_search[0]");
        assert_eq!(path(&names(&[&"a".repeat(64)])), "options.domain_search[0]");
        assert_eq!(path(&names(&[&"a".repeat(63)])), "(accepted)");
        let long = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(62)].join(".");
        assert_eq!(DomainName::new(long.as_str()).wire_len(), 256);
        assert_eq!(path(&names(&[&long])), "options.domain_search[0]");
        assert_eq!(DomainName::new(&long[..long.len() - 1]).wire_len(), 255);
        assert_eq!(path(&names(&[&long[..long.len() - 1]])), "(accepted)");
        let ntp = |s: NtpServer| Options { ntp_servers: Some(vec![s]), ..Options::default() };
        assert_eq!(path(&ntp(NtpServer::Fqdn(DomainName::new("ntp:1")))), "options.ntp_servers[0]");
        assert_eq!(path(&ntp(NtpServer::Address(a("ff05::101")))), "options.ntp_servers[0]");
        assert_eq!(path(&ntp(NtpServer::Multicast(a("2001:db8::1")))), "options.ntp_servers[0]");
        let irt = Options { information_refresh_time: Some(599), ..Options::default() };
        assert_eq!(path(&irt), "options.information_refresh_time");
        let irt = Options { information_refresh_time: Some(600), ..Options::default() };
        assert_eq!(path(&irt), "(accepted)");
        for (v, want) in [
            (59, "options.sol_max_rt"),
            (60, "(accepted)"),
            (86_400, "(accepted)"),
            (86_401, "options.sol_max_rt"),
        ] {
            assert_eq!(path(&Options { sol_max_rt: Some(v), ..Options::default() }), want);
        }
        let inf = Options { inf_max_rt: Some(0), ..Options::default() };
        assert_eq!(path(&inf), "options.inf_max_rt");
        let unset =
            Options { always_send: Some(vec![OptionName::DnsServers]), ..Options::default() };
        assert_eq!(path(&unset), "options.always_send[0]");
        // Under a subnet, the path follows.
        assert_eq!(irt.validate("subnets[2].options").map_err(|e| e.path().to_owned()), Ok(()));
        let bad = Options { information_refresh_time: Some(1), ..Options::default() };
        assert_eq!(
            bad.validate("subnets[2].options").map_err(|e| e.path().to_owned()),
            Err("subnets[2].options.information_refresh_time".into())
        );
    }

    #[test]
    fn keys_round_trip() {
        for n in OptionName::ALL {
            assert_eq!(OptionName::from_key(n.key()), Some(n));
        }
        assert_eq!(OptionName::from_key("dns-servers"), None);
    }
}
