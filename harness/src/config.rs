//! A `failoverd` configuration file, written from fields (docs/operations.md has every key).
//! Only what a field holds is written; `None` and empty lists leave the key out (the daemon's
//! default applies).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Which end of the pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The primary.
    Primary,
    /// The secondary.
    Secondary,
}

impl Role {
    /// `primary` or `secondary`, as in the configuration and the file names.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
        }
    }
}

/// One server's configuration.
#[derive(Clone, Debug)]
#[allow(missing_docs)] // the fields are the configuration keys of the same names
pub struct Config {
    pub role: Role,
    pub relationship: String,
    pub server_duid: String,
    pub data_dir: PathBuf,
    pub control_socket: PathBuf,
    pub trace_file: Option<PathBuf>,
    /// `[log] format`.
    pub log_format: Option<String>,
    /// `[log] level`.
    pub log_level: Option<String>,
    // [failover]
    pub partner_address: String,
    pub partner_port: u16,
    pub listen_address: String,
    pub port: u16,
    pub mclt: u32,
    pub keepalive_time: u32,
    pub contacts_per_keepalive: u32,
    pub startup_time: u32,
    pub reconnect_interval: u32,
    pub update_scan_interval: u32,
    pub heartbeat_interval: Option<u32>,
    /// The TLS lines of `[failover]`: `tls = "off"`, or [`Config::tls_required`]'s.
    pub tls: String,
    /// More lines of `[failover]`, as written (`startup_partner_down_if_alone = true`).
    pub failover_extra: Vec<String>,
    // [dhcp]
    /// `[dhcp] port` (the daemon's default is 547).
    pub dhcp_port: Option<u16>,
    pub listen_addresses: Vec<String>,
    pub preference: Option<u8>,
    pub rapid_commit: Option<bool>,
    /// `[[dhcp.interfaces]] name`, one table each.
    pub interfaces: Vec<String>,
    /// `[[pools.addresses]]`: first and last.
    pub address_pool: Option<(String, String)>,
    /// `[[pools.prefixes]]`: prefix and delegated length.
    pub prefix_pool: Option<(String, u8)>,
    /// `[lifetimes]`: preferred and valid, the same for addresses and prefixes.
    pub lifetimes: (u32, u32),
}

/// `tls = "off"`.
pub const TLS_OFF: &str = "tls = \"off\"";

impl Config {
    /// The loopback server of the runtime's process tests: files in `dir` (`<role>`,
    /// `<role>.sock`, `<role>.trace.jsonl`), log level debug, the failover link on `fo_listen`
    /// port `fo_port` (the partner on `::1`, or `127.0.0.1` if `fo_listen` is IPv4), short
    /// timers (MCLT 30 s, keepalive 6 s, startup 2 s), TLS off, DHCPv6 on `[::1]:dhcp_port`,
    /// addresses `2001:db8:1::100`-`::1ff`, /56 prefixes of `2001:db8:100::/48`, lifetimes
    /// 300/600 s.
    #[must_use]
    pub fn loopback(
        dir: &Path,
        role: Role,
        fo_port: u16,
        fo_listen: &str,
        dhcp_port: u16,
    ) -> Config {
        let name = role.name();
        let partner = if fo_listen.contains('.') { "127.0.0.1" } else { "::1" };
        let duid = match role {
            Role::Primary => "00:02:00:00:09:bf:ee:01",
            Role::Secondary => "00:02:00:00:09:bf:ee:02",
        };
        Config {
            role,
            relationship: "test".into(),
            server_duid: duid.into(),
            data_dir: dir.join(name),
            control_socket: dir.join(format!("{name}.sock")),
            trace_file: Some(dir.join(format!("{name}.trace.jsonl"))),
            log_format: None,
            log_level: Some("debug".into()),
            partner_address: partner.into(),
            partner_port: fo_port,
            listen_address: fo_listen.into(),
            port: fo_port,
            mclt: 30,
            keepalive_time: 6,
            contacts_per_keepalive: 3,
            startup_time: 2,
            reconnect_interval: 1,
            update_scan_interval: 2,
            heartbeat_interval: None,
            tls: TLS_OFF.into(),
            failover_extra: Vec::new(),
            dhcp_port: Some(dhcp_port),
            listen_addresses: vec!["::1".into()],
            preference: None,
            rapid_commit: None,
            interfaces: Vec::new(),
            address_pool: Some(("2001:db8:1::100".into(), "2001:db8:1::1ff".into())),
            prefix_pool: Some(("2001:db8:100::/48".into(), 56)),
            lifetimes: (300, 600),
        }
    }

    /// The TLS lines for mutual TLS (`tls = "required"`) with these PEM files: the CA, the
    /// server's certificate and its key.
    #[must_use]
    pub fn tls_required(ca: &Path, cert: &Path, key: &Path) -> String {
        format!(
            "tls = \"required\"\ntls_ca = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
            ca.display(),
            cert.display(),
            key.display()
        )
    }

    /// The TOML text.
    #[must_use]
    pub fn render(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "role = \"{}\"", self.role.name());
        let _ = writeln!(t, "relationship = \"{}\"", self.relationship);
        let _ = writeln!(t, "server_duid = \"{}\"", self.server_duid);
        let _ = writeln!(t, "data_dir = \"{}\"", self.data_dir.display());
        let _ = writeln!(t, "control_socket = \"{}\"", self.control_socket.display());
        if let Some(f) = &self.trace_file {
            let _ = writeln!(t, "trace_file = \"{}\"", f.display());
        }
        if self.log_format.is_some() || self.log_level.is_some() {
            t.push_str("[log]\n");
            if let Some(f) = &self.log_format {
                let _ = writeln!(t, "format = \"{f}\"");
            }
            if let Some(l) = &self.log_level {
                let _ = writeln!(t, "level = \"{l}\"");
            }
        }
        t.push_str("[failover]\n");
        let _ = writeln!(t, "partner_address = \"{}\"", self.partner_address);
        let _ = writeln!(t, "partner_port = {}", self.partner_port);
        let _ = writeln!(t, "listen_address = \"{}\"", self.listen_address);
        let _ = writeln!(t, "port = {}", self.port);
        let _ = writeln!(t, "mclt = {}", self.mclt);
        let _ = writeln!(t, "keepalive_time = {}", self.keepalive_time);
        let _ = writeln!(t, "contacts_per_keepalive = {}", self.contacts_per_keepalive);
        let _ = writeln!(t, "startup_time = {}", self.startup_time);
        let _ = writeln!(t, "reconnect_interval = {}", self.reconnect_interval);
        let _ = writeln!(t, "update_scan_interval = {}", self.update_scan_interval);
        if let Some(h) = self.heartbeat_interval {
            let _ = writeln!(t, "heartbeat_interval = {h}");
        }
        let _ = writeln!(t, "{}", self.tls);
        for l in &self.failover_extra {
            let _ = writeln!(t, "{l}");
        }
        t.push_str("[dhcp]\n");
        if let Some(p) = self.dhcp_port {
            let _ = writeln!(t, "port = {p}");
        }
        let list: Vec<String> = self.listen_addresses.iter().map(|a| format!("\"{a}\"")).collect();
        let _ = writeln!(t, "listen_addresses = [{}]", list.join(", "));
        if let Some(p) = self.preference {
            let _ = writeln!(t, "preference = {p}");
        }
        if let Some(r) = self.rapid_commit {
            let _ = writeln!(t, "rapid_commit = {r}");
        }
        for i in &self.interfaces {
            let _ = writeln!(t, "[[dhcp.interfaces]]\nname = \"{i}\"");
        }
        if let Some((first, last)) = &self.address_pool {
            let _ = writeln!(t, "[[pools.addresses]]\nfirst = \"{first}\"\nlast = \"{last}\"");
        }
        if let Some((prefix, len)) = &self.prefix_pool {
            let _ =
                writeln!(t, "[[pools.prefixes]]\nprefix = \"{prefix}\"\ndelegated_length = {len}");
        }
        let (pref, valid) = self.lifetimes;
        let _ = writeln!(t, "[lifetimes]");
        let _ = writeln!(t, "address = {{ preferred = {pref}, valid = {valid} }}");
        let _ = writeln!(t, "prefix = {{ preferred = {pref}, valid = {valid} }}");
        t
    }

    /// Writes [`Config::render`] to `path`.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.render())
    }
}
