//! `failoverd` configuration in two layers (as dora does it).
//!
//! 1. [`RawConfig`]: serde structs that mirror the TOML file, `deny_unknown_fields` everywhere, so
//!    a misspelt key is an error rather than a silently ignored setting.
//! 2. [`RuntimeConfig`]: validated values, built with `TryFrom<RawConfig>`. It holds the core's
//!    [`failover_model::Config`] plus what only the runtime needs: sockets, files, TLS, logging,
//!    processes.
//!
//! The protocol part of the file is parsed (addresses, prefixes, the DUID's hex) into the core's
//! [`failover_model::config::Settings`], which applies every protocol default and checks every
//! protocol rule ([`Settings::into_config`]); this layer states none of them. It checks only
//! what is about sockets, files and processes.
//!
//! Every error names the field as it is written in the TOML file, for example
//! `pools.addresses[1].last: 2001:db8:1::1 is before first (2001:db8:1::100)` (the core's errors
//! carry the same paths).

use failover_model::config::{AddressPool, Lifetimes, PrefixPool, Settings};
use failover_model::dhcp::options::{DomainName, NtpServer, OptionName, Options};
use failover_model::{Config, Duid, Role};
use serde::Deserialize;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The DHCPv6 server port (RFC 8415 §7.2).
pub const DEFAULT_DHCP_PORT: u16 = 547;
/// The failover port (RFC 8156 §5.1: 647/tcp, "dhcp-failover").
pub const DEFAULT_FAILOVER_PORT: u16 = 647;

/// A configuration error: the TOML path of the field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// The field, as a TOML path (`pools.addresses[1].last`).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl ConfigError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError { field: field.into(), reason: reason.into() }
    }
}

// ---------------------------------------------------------------------------------------------
// Layer 1: the file as written.
// ---------------------------------------------------------------------------------------------

/// The TOML file, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `"primary"` or `"secondary"`.
    pub role: String,
    /// OPTION_F_RELATIONSHIP_NAME; must match the partner's.
    pub relationship: String,
    /// This server's DUID as hex octets (`00:02:00:00:09:bf:01` or `00020000 09bf01`).
    pub server_duid: String,
    /// Where the lease store lives.
    pub data_dir: PathBuf,
    /// The JSON control socket (Unix).
    pub control_socket: PathBuf,
    /// Logging.
    #[serde(default)]
    pub log: RawLog,
    /// Record every model input and output here (JSON lines) if set.
    pub trace_file: Option<PathBuf>,
    /// The partner link.
    pub failover: RawFailover,
    /// DHCPv6 sockets.
    pub dhcp: RawDhcp,
    /// Pools.
    pub pools: RawPools,
    /// Lifetimes.
    pub lifetimes: RawLifetimes,
    /// Prometheus metrics.
    #[serde(default)]
    pub metrics: RawMetrics,
    /// Configuration options sent to clients.
    #[serde(default)]
    pub options: RawOptions,
}

/// `[options]`: the configuration options sent to clients (the rules are the core's,
/// [`Options::validate`]; which go into a reply, [`Options::select`]).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOptions {
    /// DNS recursive name servers (23, RFC 3646), IPv6 addresses.
    pub dns_servers: Option<Vec<String>>,
    /// Domain search list (24, RFC 3646).
    pub domain_search: Option<Vec<String>>,
    /// SNTP servers (31, RFC 4075), IPv6 addresses.
    pub sntp_servers: Option<Vec<String>>,
    /// NTP servers (56, RFC 5908): a unicast address, a multicast group or a name each.
    pub ntp_servers: Option<Vec<String>>,
    /// Information refresh time (32), seconds.
    pub information_refresh_time: Option<u32>,
    /// SOL_MAX_RT (82), seconds.
    pub sol_max_rt: Option<u32>,
    /// INF_MAX_RT (83), seconds.
    pub inf_max_rt: Option<u32>,
    /// Preference (7) in ADVERTISE (also accepted as `dhcp.preference`).
    pub preference: Option<u8>,
    /// Option names sent even when the client's ORO does not ask for them.
    pub always_send: Option<Vec<String>>,
}

/// `[log]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `"text"` (default) or `"json"`.
    pub format: Option<String>,
    /// A tracing-subscriber filter (default `info`).
    pub level: Option<String>,
}

/// `[failover]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFailover {
    /// The partner's address, IPv6 or IPv4 (the primary connects to it; the secondary accepts
    /// only it).
    pub partner_address: String,
    /// The partner's failover port (default 647).
    pub partner_port: Option<u16>,
    /// The address the secondary listens on (default `::`).
    pub listen_address: Option<String>,
    /// The port the secondary listens on (default 647).
    pub port: Option<u16>,
    /// Maximum Client Lead Time, seconds. (This and the protocol settings below: defaults and
    /// rules are the core's, [`Settings`].)
    pub mclt: u32,
    /// FO_KEEPALIVE_TIME, seconds.
    pub keepalive_time: Option<u32>,
    /// FO_CONTACT_PER_KEEPALIVE_TIME.
    pub contacts_per_keepalive: Option<u32>,
    /// MAX_UNACKED_BNDUPD advertised to the partner.
    pub max_unacked_bndupd: Option<u32>,
    /// STARTUP period, seconds.
    pub startup_time: Option<u32>,
    /// Seconds between connection attempts (primary).
    pub reconnect_interval: Option<u32>,
    /// Seconds between scans for unsent updates.
    pub update_scan_interval: Option<u32>,
    /// Seconds without progress in RECOVER before dropping the connection (0 off).
    pub recover_stall_time: Option<u32>,
    /// Seconds between "last operating time" records (0 off).
    pub heartbeat_interval: Option<u32>,
    /// Auto-partner-down after this many seconds in COMMUNICATIONS-INTERRUPTED (unset: never).
    pub auto_partner_down: Option<u32>,
    /// Go to PARTNER-DOWN at the end of STARTUP if the partner was never reached.
    pub startup_partner_down_if_alone: Option<bool>,
    /// `"required"` or `"off"`. No default: insecure mode must be chosen explicitly (RFC 7653 §9.1).
    pub tls: Option<String>,
    /// CA certificate(s) that sign the partner's certificate (PEM).
    pub tls_ca: Option<PathBuf>,
    /// This server's certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// This server's private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// The name the secondary's certificate must carry (default: `partner_address`).
    pub tls_server_name: Option<String>,
}

/// `[dhcp]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDhcp {
    /// UDP port (default 547).
    pub port: Option<u16>,
    /// Unicast addresses to listen on (relayed and unicast messages).
    #[serde(default)]
    pub listen_addresses: Vec<String>,
    /// Interfaces to join ff02::1:2 on.
    #[serde(default)]
    pub interfaces: Vec<RawInterface>,
    /// Answer SOLICIT with Rapid Commit when asked (default: the core's, [`Settings`]).
    pub rapid_commit: Option<bool>,
    /// OPTION_PREFERENCE in ADVERTISE (the same as `options.preference`; give one of them).
    pub preference: Option<u8>,
}

/// One `[[dhcp.interfaces]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterface {
    /// The interface name.
    pub name: String,
    /// The link address reported to the core for direct (non-relayed) messages; default: a
    /// global address of the interface, found at start.
    pub link_address: Option<String>,
}

/// `[pools]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPools {
    /// IA_NA address ranges.
    #[serde(default)]
    pub addresses: Vec<RawAddressPool>,
    /// IA_PD delegable prefixes.
    #[serde(default)]
    pub prefixes: Vec<RawPrefixPool>,
    /// Share of delegable prefixes for the secondary, percent (default: the core's, [`Settings`]).
    pub secondary_prefix_share: Option<u8>,
    /// Rebalance threshold, prefixes (default: the core's, [`Settings`]).
    pub rebalance_threshold: Option<u32>,
}

/// One `[[pools.addresses]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAddressPool {
    /// First address.
    pub first: String,
    /// Last address (inclusive).
    pub last: String,
}

/// One `[[pools.prefixes]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrefixPool {
    /// `2001:db8:100::/48`.
    pub prefix: String,
    /// Length of each delegated prefix.
    pub delegated_length: u8,
}

/// `[lifetimes]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLifetimes {
    /// For addresses.
    pub address: RawLifetime,
    /// For delegated prefixes.
    pub prefix: RawLifetime,
}

/// A preferred/valid pair.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLifetime {
    /// Preferred lifetime, seconds.
    pub preferred: u32,
    /// Valid lifetime, seconds.
    pub valid: u32,
}

/// `[metrics]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// Loopback address:port for the Prometheus endpoint (`GET /metrics`). Off if unset.
    pub listen: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Layer 2: validated values.
// ---------------------------------------------------------------------------------------------

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Security of the partner link.
#[derive(Clone, Debug)]
pub enum TlsMode {
    /// Plain TCP, chosen explicitly.
    Off,
    /// STARTTLS and mutually authenticated TLS (RFC 8156 §10).
    Required(crate::tls::TlsContext),
}

impl TlsMode {
    /// The TLS context, if the secure mode is on.
    #[must_use]
    pub fn context(&self) -> Option<&crate::tls::TlsContext> {
        match self {
            TlsMode::Off => None,
            TlsMode::Required(c) => Some(c),
        }
    }
}

/// One interface to serve multicast clients on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Link address override.
    pub link_address: Option<Ipv6Addr>,
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// What the core gets.
    pub model: Config,
    /// Lease store directory.
    pub data_dir: PathBuf,
    /// Control socket path.
    pub control_socket: PathBuf,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// Trace file.
    pub trace_file: Option<PathBuf>,
    /// The partner's failover socket address.
    pub partner: SocketAddr,
    /// Where the secondary listens.
    pub failover_listen: SocketAddr,
    /// Partner link security.
    pub tls: TlsMode,
    /// DHCPv6 UDP port.
    pub dhcp_port: u16,
    /// Unicast listen addresses.
    pub dhcp_listen: Vec<Ipv6Addr>,
    /// Multicast interfaces.
    pub interfaces: Vec<Interface>,
    /// Metrics endpoint.
    pub metrics_listen: Option<SocketAddr>,
}

impl RuntimeConfig {
    /// Reads, parses and validates a file.
    ///
    /// # Errors
    /// Unreadable file, TOML syntax or unknown keys, or an invalid value (naming its field).
    pub fn load(path: &Path) -> anyhow::Result<RuntimeConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Parses and validates TOML text.
    ///
    /// # Errors
    /// TOML syntax or unknown keys, or an invalid value (naming its field).
    pub fn parse(text: &str) -> anyhow::Result<RuntimeConfig> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(RuntimeConfig::try_from(raw)?)
    }

    /// The store file inside the data directory.
    #[must_use]
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("leases.redb")
    }
}

fn ip(field: &str, s: &str) -> Result<std::net::IpAddr, ConfigError> {
    s.trim()
        .parse::<std::net::IpAddr>()
        .map_err(|_| ConfigError::new(field, format!("{s:?} is not an IP address")))
}

fn ipv6(field: &str, s: &str) -> Result<Ipv6Addr, ConfigError> {
    s.trim()
        .parse::<Ipv6Addr>()
        .map_err(|_| ConfigError::new(field, format!("{s:?} is not an IPv6 address")))
}

/// Parses a DUID written as hex octets, with optional `:`, `-` or space separators.
///
/// # Errors
/// Not hex, an odd number of digits, or a length the core refuses ([`Duid::checked`]).
pub fn parse_duid(field: &str, s: &str) -> Result<Duid, ConfigError> {
    let digits: String = s.chars().filter(|c| !matches!(c, ':' | '-' | ' ')).collect();
    if !digits.len().is_multiple_of(2) || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ConfigError::new(field, "must be hex octets, e.g. \"00:02:00:00:09:bf:01\""));
    }
    let bytes: Vec<u8> = (0..digits.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok())
        .collect();
    Duid::checked(bytes).map_err(|why| ConfigError::new(field, why))
}

fn parse_prefix(field: &str, s: &str) -> Result<(Ipv6Addr, u8), ConfigError> {
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| ConfigError::new(field, format!("{s:?} is not a prefix (addr/len)")))?;
    let addr = ipv6(field, a)?;
    let len: u8 =
        l.trim().parse().ok().filter(|l| *l <= 128).ok_or_else(|| {
            ConfigError::new(field, format!("{l:?} is not a prefix length (0-128)"))
        })?;
    Ok((addr, len))
}

/// `[options]` into the core's [`Options`]: addresses, names and option names are parsed here
/// (syntax); every rule is [`Options::validate`]'s. An NTP server is a multicast group
/// (sub-option 2) or a unicast address (1) if it parses as an IPv6 address, a name (3)
/// otherwise.
///
/// # Errors
/// A value that is not an IPv6 address where one belongs, or an unknown option name.
pub fn parse_options(o: &RawOptions, at: &str) -> Result<Options, ConfigError> {
    let addrs =
        |key: &str, v: &Option<Vec<String>>| -> Result<Option<Vec<Ipv6Addr>>, ConfigError> {
            v.as_ref()
                .map(|v| {
                    v.iter()
                        .enumerate()
                        .map(|(i, s)| ipv6(&format!("{at}.{key}[{i}]"), s))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()
        };
    let ntp_servers = o.ntp_servers.as_ref().map(|v| {
        v.iter()
            .map(|s| match s.trim().parse::<Ipv6Addr>() {
                Ok(a) if a.is_multicast() => NtpServer::Multicast(a),
                Ok(a) => NtpServer::Address(a),
                Err(_) => NtpServer::Fqdn(DomainName::new(s.trim())),
            })
            .collect()
    });
    let always_send = o
        .always_send
        .as_ref()
        .map(|v| {
            v.iter()
                .enumerate()
                .map(|(i, s)| {
                    OptionName::from_key(s).ok_or_else(|| {
                        let known: Vec<&str> = OptionName::ALL.iter().map(|n| n.key()).collect();
                        ConfigError::new(
                            format!("{at}.always_send[{i}]"),
                            format!("{s:?} is not an option name ({})", known.join(", ")),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(Options {
        dns_servers: addrs("dns_servers", &o.dns_servers)?,
        domain_search: o
            .domain_search
            .as_ref()
            .map(|v| v.iter().map(|s| DomainName::new(s.trim())).collect()),
        sntp_servers: addrs("sntp_servers", &o.sntp_servers)?,
        ntp_servers,
        information_refresh_time: o.information_refresh_time,
        sol_max_rt: o.sol_max_rt,
        inf_max_rt: o.inf_max_rt,
        preference: o.preference,
        always_send,
    })
}

impl TryFrom<RawConfig> for RuntimeConfig {
    type Error = ConfigError;

    #[allow(clippy::too_many_lines)]
    fn try_from(raw: RawConfig) -> Result<Self, ConfigError> {
        let role = match raw.role.as_str() {
            "primary" => Role::Primary,
            "secondary" => Role::Secondary,
            other => {
                return Err(ConfigError::new(
                    "role",
                    format!("{other:?}: must be \"primary\" or \"secondary\""),
                ))
            }
        };
        let server_duid = parse_duid("server_duid", &raw.server_duid)?;
        if raw.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("data_dir", "must not be empty"));
        }
        if raw.control_socket.as_os_str().is_empty() {
            return Err(ConfigError::new("control_socket", "must not be empty"));
        }
        let log_format = match raw.log.format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "log.format",
                    format!("{other:?}: must be \"text\" or \"json\""),
                ))
            }
        };
        let log_level = raw.log.level.clone().unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(ConfigError::new(
                "log.level",
                format!("{log_level:?} is not a log filter"),
            ));
        }

        // [failover]
        let f = &raw.failover;
        // The failover link may run over IPv4 or IPv6 (RFC 8156 §5.1 names only TCP).
        let partner_ip = ip("failover.partner_address", &f.partner_address)?;
        if partner_ip.is_unspecified() || partner_ip.is_multicast() {
            return Err(ConfigError::new(
                "failover.partner_address",
                "must be the partner's unicast address",
            ));
        }
        let partner_port = f.partner_port.unwrap_or(DEFAULT_FAILOVER_PORT);
        if partner_port == 0 {
            return Err(ConfigError::new("failover.partner_port", "must not be 0"));
        }
        let listen_ip = match &f.listen_address {
            Some(s) => ip("failover.listen_address", s)?,
            None => Ipv6Addr::UNSPECIFIED.into(),
        };
        let failover_port = f.port.unwrap_or(DEFAULT_FAILOVER_PORT);
        if failover_port == 0 {
            return Err(ConfigError::new("failover.port", "must not be 0"));
        }
        let tls = match f.tls.as_deref() {
            None => {
                return Err(ConfigError::new(
                    "failover.tls",
                    "must be set: \"required\" or \"off\" (insecure mode is never a default, \
                     RFC 7653 §9.1)",
                ))
            }
            Some("off") => {
                for (name, v) in [
                    ("failover.tls_ca", &f.tls_ca),
                    ("failover.tls_cert", &f.tls_cert),
                    ("failover.tls_key", &f.tls_key),
                    ("failover.tls_server_name", &f.tls_server_name.as_ref().map(PathBuf::from)),
                ] {
                    if v.is_some() {
                        return Err(ConfigError::new(name, "given but failover.tls = \"off\""));
                    }
                }
                TlsMode::Off
            }
            Some("required") => {
                let need = |name: &str, v: &Option<PathBuf>| {
                    v.clone().ok_or_else(|| {
                        ConfigError::new(name, "required when failover.tls = \"required\"")
                    })
                };
                let ca = need("failover.tls_ca", &f.tls_ca)?;
                let cert = need("failover.tls_cert", &f.tls_cert)?;
                let key = need("failover.tls_key", &f.tls_key)?;
                let ctx = crate::tls::TlsContext::load(
                    &ca,
                    &cert,
                    &key,
                    partner_ip,
                    f.tls_server_name.as_deref(),
                )
                .map_err(|e| match e.split_once(": ") {
                    Some((field, reason)) => ConfigError::new(field, reason),
                    None => ConfigError::new("failover.tls", e),
                })?;
                TlsMode::Required(ctx)
            }
            Some(other) => {
                return Err(ConfigError::new(
                    "failover.tls",
                    format!("{other:?}: must be \"required\" or \"off\""),
                ))
            }
        };
        // [dhcp]
        let d = &raw.dhcp;
        let dhcp_port = d.port.unwrap_or(DEFAULT_DHCP_PORT);
        if dhcp_port == 0 {
            return Err(ConfigError::new("dhcp.port", "must not be 0"));
        }
        let mut dhcp_listen = Vec::new();
        for (i, s) in d.listen_addresses.iter().enumerate() {
            let field = format!("dhcp.listen_addresses[{i}]");
            let a = ipv6(&field, s)?;
            if a.is_multicast() {
                return Err(ConfigError::new(
                    field,
                    "must be a unicast address (multicast is joined through dhcp.interfaces)",
                ));
            }
            dhcp_listen.push(a);
        }
        let mut interfaces = Vec::new();
        for (i, itf) in d.interfaces.iter().enumerate() {
            if itf.name.is_empty() || itf.name.len() > 15 || itf.name.contains('/') {
                return Err(ConfigError::new(
                    format!("dhcp.interfaces[{i}].name"),
                    "must be an interface name (1 to 15 characters)",
                ));
            }
            let link_address = match &itf.link_address {
                Some(s) => Some(ipv6(&format!("dhcp.interfaces[{i}].link_address"), s)?),
                None => None,
            };
            interfaces.push(Interface { name: itf.name.clone(), link_address });
        }
        if dhcp_listen.is_empty() && interfaces.is_empty() {
            return Err(ConfigError::new(
                "dhcp",
                "give at least one of listen_addresses or interfaces, or no client can reach us",
            ));
        }

        // [pools]
        let p = &raw.pools;
        let mut address_pools = Vec::new();
        for (i, a) in p.addresses.iter().enumerate() {
            let first = ipv6(&format!("pools.addresses[{i}].first"), &a.first)?;
            let last = ipv6(&format!("pools.addresses[{i}].last"), &a.last)?;
            address_pools.push(AddressPool { first, last });
        }
        let mut prefix_pools = Vec::new();
        for (i, x) in p.prefixes.iter().enumerate() {
            let (prefix, prefix_len) =
                parse_prefix(&format!("pools.prefixes[{i}].prefix"), &x.prefix)?;
            prefix_pools.push(PrefixPool { prefix, prefix_len, delegated_len: x.delegated_length });
        }

        // [metrics]
        let metrics_listen = match &raw.metrics.listen {
            None => None,
            Some(s) => {
                let a: SocketAddr = s.parse().map_err(|_| {
                    ConfigError::new("metrics.listen", format!("{s:?} is not address:port"))
                })?;
                if !a.ip().is_loopback() {
                    return Err(ConfigError::new(
                        "metrics.listen",
                        "must be a loopback address (the endpoint has no authentication)",
                    ));
                }
                Some(a)
            }
        };

        // The protocol part: the core applies its defaults and checks it.
        let lifetimes = |l: RawLifetime| Lifetimes { preferred: l.preferred, valid: l.valid };
        let mut settings = Settings::new(
            role,
            raw.relationship.clone(),
            server_duid,
            f.mclt,
            lifetimes(raw.lifetimes.address),
            lifetimes(raw.lifetimes.prefix),
        );
        settings.keepalive_time = f.keepalive_time;
        settings.contacts_per_keepalive = f.contacts_per_keepalive;
        settings.max_unacked_bndupd = f.max_unacked_bndupd;
        settings.startup_time = f.startup_time;
        settings.reconnect_interval = f.reconnect_interval;
        settings.update_scan_interval = f.update_scan_interval;
        settings.recover_stall_time = f.recover_stall_time;
        settings.heartbeat_interval = f.heartbeat_interval;
        settings.auto_partner_down = f.auto_partner_down;
        settings.startup_partner_down_if_alone = f.startup_partner_down_if_alone;
        settings.address_pools = address_pools;
        settings.prefix_pools = prefix_pools;
        settings.secondary_prefix_share = p.secondary_prefix_share;
        settings.rebalance_threshold = p.rebalance_threshold;
        settings.rapid_commit = d.rapid_commit;
        let mut options = parse_options(&raw.options, "options")?;
        if let Some(p) = d.preference {
            if options.preference.is_some() {
                return Err(ConfigError::new(
                    "dhcp.preference",
                    "options.preference is given too: give the preference once",
                ));
            }
            options.preference = Some(p);
        }
        settings.options = options;
        let model: Config =
            settings.into_config().map_err(|e| ConfigError::new(e.path(), e.reason()))?;

        Ok(RuntimeConfig {
            model,
            data_dir: raw.data_dir,
            control_socket: raw.control_socket,
            log_format,
            log_level,
            trace_file: raw.trace_file,
            partner: SocketAddr::new(partner_ip, partner_port),
            failover_listen: SocketAddr::new(listen_ip, failover_port),
            tls,
            dhcp_port,
            dhcp_listen,
            interfaces,
            metrics_listen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = include_str!("../../examples/primary.toml");
    const SECONDARY: &str = include_str!("../../examples/secondary.toml");

    fn err(text: &str) -> String {
        match RuntimeConfig::parse(text) {
            Ok(_) => String::from("(accepted)"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn examples_are_valid_and_pair_up() {
        let p = RuntimeConfig::parse(PRIMARY).expect("primary.toml");
        let s = RuntimeConfig::parse(SECONDARY).expect("secondary.toml");
        assert_eq!(p.model.role, Role::Primary);
        assert_eq!(s.model.role, Role::Secondary);
        assert_eq!(p.model.relationship, s.model.relationship);
        assert_eq!(p.model.mclt, s.model.mclt);
        assert_eq!(p.model.address_pools, s.model.address_pools);
        assert_eq!(p.model.prefix_pools, s.model.prefix_pools);
        assert_ne!(p.model.server_duid, s.model.server_duid);
        assert_eq!(p.partner.port(), s.failover_listen.port());
        assert_ne!(p.dhcp_port, s.dhcp_port);
        assert!(p.partner.ip().is_loopback() && s.partner.ip().is_loopback());
        // Both send the same configuration but for their preference; 56 takes an address or a
        // name.
        let unpreferred = |o: &Options| Options { preference: None, ..o.clone() };
        assert_eq!(unpreferred(&p.model.options), unpreferred(&s.model.options));
        let o = &p.model.options;
        assert_eq!(o.dns_servers.as_ref().map(Vec::len), Some(2));
        assert_eq!(
            o.ntp_servers,
            Some(vec![
                NtpServer::Address("2001:db8::123".parse().expect("address")),
                NtpServer::Fqdn(DomainName::new("ntp.example.org")),
            ])
        );
        assert_eq!(o.information_refresh_time, Some(86_400));
        assert_eq!(o.preference, Some(255), "dhcp.preference is the options' preference");
    }

    /// `[options]`: the syntax here, the rules in the core, both naming the TOML element.
    #[test]
    fn options_errors_name_the_element() {
        let with =
            |table: &str| PRIMARY.replacen("[options]\n", &format!("[options]\n{table}\n"), 1);
        let no_opts = |s: &str| {
            s.lines()
                .filter(|l| {
                    ![
                        "dns_servers",
                        "domain_search",
                        "ntp_servers",
                        "information_refresh_time",
                        "sol_max_rt",
                    ]
                    .iter()
                    .any(|k| l.starts_with(k))
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let base = no_opts(PRIMARY);
        let opt = |table: &str| err(&base.replacen("[options]", &format!("[options]\n{table}"), 1));
        for (table, path) in [
            ("dns_servers = [\"2001:db8::1\", \"dns.example\"]", "options.dns_servers[1]:"),
            ("dns_servers = [\"ff02::1\"]", "options.dns_servers[0]:"),
            ("dns_servers = [\"2001:db8::1\", \"2001:db8::1\"]", "options.dns_servers[1]:"),
            ("sntp_servers = [\"::\"]", "options.sntp_servers[0]:"),
            ("domain_search = [\"ok.example\", \"bad..example\"]", "options.domain_search[1]:"),
            ("ntp_servers = [\"ntp.example\", \"2001:db8::zz\"]", "options.ntp_servers[1]:"),
            ("information_refresh_time = 599", "options.information_refresh_time:"),
            ("sol_max_rt = 59", "options.sol_max_rt:"),
            ("inf_max_rt = 86401", "options.inf_max_rt:"),
            ("always_send = [\"dns-servers\"]", "options.always_send[0]:"),
            ("always_send = [\"sol_max_rt\"]\nsol_max_rt = 60", "options.always_send[0]:"),
            ("always_send = [\"dns_servers\"]", "options.always_send[0]:"),
            ("preference = 1", "dhcp.preference:"),
        ] {
            assert!(opt(table).starts_with(path), "{table}: {}", opt(table));
        }
        assert!(opt("frobnicate = 1").contains("frobnicate"), "{}", opt("frobnicate = 1"));
        // Valid ones are taken as written.
        let ok = RuntimeConfig::parse(&with("always_send = [\"dns_servers\"]")).expect("valid");
        assert_eq!(ok.model.options.always_send, Some(vec![OptionName::DnsServers]));
        let moved = base.replacen("preference = 255\n", "", 1).replacen(
            "[options]",
            "[options]\npreference = 7",
            1,
        );
        let c = RuntimeConfig::parse(&moved).expect("options.preference alone");
        assert_eq!(c.model.options.preference, Some(7));
        // No [options] table at all: nothing is sent.
        let none: String = base.replacen("[options]", "", 1);
        let c = RuntimeConfig::parse(&none).expect("valid without [options]");
        assert_eq!(
            c.model.options,
            failover_model::dhcp::options::Options { preference: Some(255), ..Default::default() }
        );
    }

    #[test]
    fn errors_name_the_field() {
        let bad_last =
            PRIMARY.replacen("last = \"2001:db8:1::1ff\"", "last = \"2001:db8:1::1\"", 1);
        assert!(err(&bad_last).starts_with("pools.addresses[0].last:"), "{}", err(&bad_last));
        let bad_mclt = PRIMARY.replacen("mclt = 30", "mclt = 10", 1);
        assert!(err(&bad_mclt).starts_with("failover.mclt:"), "{}", err(&bad_mclt));
        let no_tls = PRIMARY.replacen("tls = \"off\"", "", 1);
        assert!(err(&no_tls).starts_with("failover.tls:"), "{}", err(&no_tls));
        let tls_req = PRIMARY.replacen("tls = \"off\"", "tls = \"on\"", 1);
        assert!(err(&tls_req).starts_with("failover.tls:"), "{}", err(&tls_req));
        let bad_duid = PRIMARY.replacen("server_duid = \"", "server_duid = \"zz", 1);
        assert!(err(&bad_duid).starts_with("server_duid:"), "{}", err(&bad_duid));
        let unknown = format!("{PRIMARY}\nfrobnicate = 1\n");
        assert!(err(&unknown).contains("frobnicate"), "{}", err(&unknown));
        let metrics = PRIMARY.replacen("listen = \"127.0.0.1:", "listen = \"10.0.0.1:", 1);
        assert!(err(&metrics).starts_with("metrics.listen:"), "{}", err(&metrics));
    }

    /// What the file leaves out is the core's default, and nothing else: the model this layer
    /// builds is exactly the core's `Settings` with the values the file gives.
    #[test]
    fn omitted_protocol_keys_take_the_cores_defaults() {
        let minimal = SECONDARY
            .lines()
            .filter(|l| {
                ![
                    "keepalive_time",
                    "contacts_per_keepalive",
                    "startup_time",
                    "reconnect_interval",
                    "update_scan_interval",
                    "rapid_commit",
                    "preference",
                ]
                .iter()
                .any(|k| l.trim_start().starts_with(k))
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = RuntimeConfig::parse(&minimal).expect("valid without the optional keys");
        let l = c.model.address_lifetimes;
        let mut s = Settings::new(
            Role::Secondary,
            c.model.relationship.clone(),
            c.model.server_duid.clone(),
            c.model.mclt,
            l,
            c.model.prefix_lifetimes,
        );
        s.address_pools.clone_from(&c.model.address_pools);
        s.prefix_pools.clone_from(&c.model.prefix_pools);
        s.options.clone_from(&c.model.options);
        assert!(!c.model.options.is_empty(), "the example gives options");
        assert_eq!(s.into_config(), Ok(c.model.clone()));
        assert_eq!(c.model.max_unacked_bndupd, failover_model::config::DEFAULT_MAX_UNACKED_BNDUPD);
    }

    /// The core's rules reach the operator with the TOML path of the field.
    #[test]
    fn the_cores_rules_name_the_toml_field() {
        let zero_startup = PRIMARY.replacen("startup_time = 3", "startup_time = 0", 1);
        assert!(err(&zero_startup).starts_with("failover.startup_time:"), "{}", err(&zero_startup));
        let bits = PRIMARY.replacen("2001:db8:100::/48", "2001:db8:100::/36", 1);
        assert!(err(&bits).starts_with("pools.prefixes[0].prefix:"), "{}", err(&bits));
        let dl = PRIMARY.replacen("delegated_length = 56", "delegated_length = 40", 1);
        assert!(err(&dl).starts_with("pools.prefixes[0].delegated_length:"), "{}", err(&dl));
        let pref = PRIMARY.replacen(
            "address = { preferred = 120, valid = 180 }",
            "address = { preferred = 200, valid = 180 }",
            1,
        );
        assert!(err(&pref).starts_with("lifetimes.address.preferred:"), "{}", err(&pref));
        let share = PRIMARY.replacen(
            "[[pools.addresses]]",
            "[pools]\nsecondary_prefix_share = 101\n\n[[pools.addresses]]",
            1,
        );
        assert!(err(&share).starts_with("pools.secondary_prefix_share:"), "{}", err(&share));
        let rel = PRIMARY.replacen("relationship = \"example-pair\"", "relationship = \"\"", 1);
        assert!(err(&rel).starts_with("relationship:"), "{}", err(&rel));
    }

    #[test]
    fn duid_forms() {
        assert_eq!(parse_duid("f", "00:01-02 03").map(|d| d.0), Ok(vec![0, 1, 2, 3]));
        assert!(parse_duid("f", "0").is_err());
        assert!(parse_duid("f", "").is_err());
    }
}
