//! Migration from ISC Kea (`failoverd import-kea`): a Kea DHCPv6 configuration translated to a
//! failoverd TOML, and a Kea memfile lease file imported into a failoverd lease store.
//!
//! - [`translate_config`] reads Kea's JSON (with the comments Kea accepts: `//`, `/* */`, `#`)
//!   and writes the TOML of what failoverd supports: the pools of every subnet (one flat set),
//!   the delegable prefixes, the lifetimes, the interfaces, and the `high-availability`
//!   relationship of `libdhcp_ha.so` as the failover relationship. Everything else is listed,
//!   one line per item with its JSON path ([`Translation::untranslated`]). Invalid input is a
//!   [`KeaError`] naming the JSON path; nothing panics.
//! - [`parse_leases`] reads `kea-leases6.csv` (Kea appends every change: the last line of a
//!   lease wins) and [`import_leases`] writes each still-valid lease as the ACTIVE binding
//!   that the core's own grant ([`failover_model::Binding::grant`]) records, flagged for the
//!   partner, through [`crate::store::Store::commit`]; then it restores an endpoint from the
//!   store ([`failover_model::Endpoint::restore`]) and checks it, as `failoverd run` would.

use crate::config::{RuntimeConfig, DEFAULT_FAILOVER_PORT};
use crate::store::{Store, StoreIdentity};
use failover_model::leases::pool::Pools;
use failover_model::{
    Binding, BindingStatus, ClientKey, Duid, DurableWrite, Endpoint, IaKind, Resource, Role, Time,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// Kea's default valid lifetime (seconds) when the configuration gives none.
pub const KEA_DEFAULT_VALID: u32 = 7200;
/// Kea's default preferred lifetime (seconds) when the configuration gives none.
pub const KEA_DEFAULT_PREFERRED: u32 = 3600;
/// The MCLT written when `--mclt` is not given (Kea's HA hook has no MCLT; one hour is the
/// value ISC's DHCPv4 failover used by default).
pub const DEFAULT_MCLT: u32 = 3600;

/// Invalid input: where (a JSON path, or `FILE:LINE`) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct KeaError {
    /// The JSON path (`Dhcp6.subnet6[0].pools[1].pool`) or the CSV line.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

fn err<T>(path: &str, reason: impl Into<String>) -> Result<T, KeaError> {
    Err(KeaError { path: path.to_owned(), reason: reason.into() })
}

// ---------------------------------------------------------------------------------------------
// The configuration.
// ---------------------------------------------------------------------------------------------

/// What the operator adds to the Kea configuration.
#[derive(Clone, Debug)]
pub struct ConfigOptions {
    /// This server's role; default: the role of the HA hook's `this-server-name`.
    pub role: Option<Role>,
    /// The partner's address; default: the host of the other HA peer's URL.
    pub partner: Option<IpAddr>,
    /// This server's DUID (hex); default: Kea's `server-id` if it is fully given.
    pub server_duid: Option<String>,
    /// The MCLT.
    pub mclt: u32,
    /// `data_dir`.
    pub data_dir: PathBuf,
    /// `control_socket`.
    pub control_socket: PathBuf,
}

impl Default for ConfigOptions {
    fn default() -> Self {
        ConfigOptions {
            role: None,
            partner: None,
            server_duid: None,
            mclt: DEFAULT_MCLT,
            data_dir: PathBuf::from("/var/lib/failoverd"),
            control_socket: PathBuf::from("/run/failoverd/failoverd.sock"),
        }
    }
}

/// The result of [`translate_config`].
#[derive(Clone, Debug)]
pub struct Translation {
    /// The failoverd TOML (the untranslated items as comments at its top); it passes
    /// [`RuntimeConfig::parse`].
    pub toml: String,
    /// What was not translated, one line per item, each starting with its JSON path.
    pub untranslated: Vec<String>,
    /// The validated configuration.
    pub config: RuntimeConfig,
}

/// Reads Kea's JSON with comments.
///
/// # Errors
/// Not JSON (the line and column are named).
pub fn parse_kea_json(text: &str) -> Result<Value, KeaError> {
    use std::io::Read as _;
    let mut stripped = String::with_capacity(text.len());
    json_comments::StripComments::new(text.as_bytes())
        .read_to_string(&mut stripped)
        .or_else(|e| err("(file)", format!("cannot strip comments: {e}")))?;
    serde_json::from_str(&stripped).or_else(|e| err("(file)", format!("not JSON: {e}")))
}

fn as_obj<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, KeaError> {
    v.as_object().map_or_else(|| err(path, "must be a JSON object"), Ok)
}

fn as_arr<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, KeaError> {
    v.as_array().map_or_else(|| err(path, "must be a JSON array"), Ok)
}

fn as_str<'a>(v: &'a Value, path: &str) -> Result<&'a str, KeaError> {
    v.as_str().map_or_else(|| err(path, "must be a string"), Ok)
}

fn as_u32(v: &Value, path: &str) -> Result<u32, KeaError> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .map_or_else(|| err(path, "must be a whole number from 0 to 4294967295"), Ok)
}

fn as_u8(v: &Value, path: &str, max: u8) -> Result<u8, KeaError> {
    v.as_u64()
        .and_then(|n| u8::try_from(n).ok())
        .filter(|n| *n <= max)
        .map_or_else(|| err(path, format!("must be a whole number from 0 to {max}")), Ok)
}

fn as_bool(v: &Value, path: &str) -> Result<bool, KeaError> {
    v.as_bool().map_or_else(|| err(path, "must be true or false"), Ok)
}

fn ipv6(s: &str, path: &str) -> Result<Ipv6Addr, KeaError> {
    s.trim().parse().or_else(|_| err(path, format!("{s:?} is not an IPv6 address")))
}

fn prefix(s: &str, path: &str) -> Result<(Ipv6Addr, u8), KeaError> {
    let Some((a, l)) = s.split_once('/') else {
        return err(path, format!("{s:?} is not a prefix (address/length)"));
    };
    let len: u8 = match l.trim().parse() {
        Ok(l) if l <= 128 => l,
        _ => return err(path, format!("{l:?} is not a prefix length (0-128)")),
    };
    Ok((ipv6(a, path)?, len))
}

fn host_mask(len: u8) -> u128 {
    if len == 0 {
        u128::MAX
    } else {
        (1u128 << (128 - u32::from(len))) - 1
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Lifetimes found for one scope (global, shared network, subnet).
#[derive(Clone, Copy, Debug, Default)]
struct Lifetimes {
    preferred: Option<u32>,
    valid: Option<u32>,
}

/// What the walk over the configuration collects.
#[derive(Default)]
struct Walk {
    notes: Vec<String>,
    /// `(first, last, JSON path)`.
    ranges: Vec<(Ipv6Addr, Ipv6Addr, String)>,
    /// `(prefix, length, delegated length, JSON path)`.
    prefixes: Vec<(Ipv6Addr, u8, u8, String)>,
    /// `(JSON path, preferred, valid)` of every subnet with pools.
    lifetimes: Vec<(String, u32, u32)>,
    rapid_commit: Option<bool>,
    subnets: Vec<String>,
}

impl Walk {
    fn note(&mut self, path: &str, what: impl AsRef<str>) {
        self.notes.push(format!("{path}: {}", what.as_ref()));
    }
}

/// Why a Kea key is not translated (a short reason), for the keys operators use most.
fn reason_for(key: &str) -> &'static str {
    match key {
        "option-data" => {
            "DHCPv6 options are not imported; failoverd has one global [options] table (no \
             per-subnet options yet)"
        }
        "option-def" => "custom option definitions are not supported",
        "reservations"
        | "reservations-global"
        | "reservations-in-subnet"
        | "reservations-out-of-pool"
        | "host-reservation-identifiers"
        | "hosts-database"
        | "hosts-databases"
        | "reservation-mode" => "host reservations are not supported",
        "client-class" | "client-classes" | "require-client-classes" | "only-if-required" => {
            "client classification is not supported"
        }
        "relay" | "interface-id" => "relay-specific subnet selection is not supported",
        "min-valid-lifetime"
        | "max-valid-lifetime"
        | "min-preferred-lifetime"
        | "max-preferred-lifetime" => {
            "failoverd gives the configured lifetimes (cut to the MCLT when failover requires), \
             not a client-chosen value within bounds"
        }
        "renew-timer" | "rebind-timer" | "calculate-tee-times" | "t1-percent" | "t2-percent" => {
            "failoverd sets T1 and T2 to 0.5 and 0.8 of the preferred lifetime"
        }
        "dhcp-ddns" | "ddns-send-updates" | "ddns-qualifying-suffix" | "hostname-char-set" => {
            "DNS updates are not supported"
        }
        "control-socket" => {
            "failoverd has its own control socket (control_socket; commands in docs/operations.md)"
        }
        "loggers" => "logging is configured in [log]",
        "expired-leases-processing" => "failoverd expires leases itself (RFC 8156 §7.2)",
        "decline-probation-period" => {
            "a declined lease stays ABANDONED until the reset-abandoned command"
        }
        "multi-threading"
        | "sanity-checks"
        | "server-tag"
        | "config-control"
        | "user-context"
        | "comment"
        | "statistic-default-sample-count"
        | "statistic-default-sample-age" => "no failoverd equivalent",
        _ => "not translated",
    }
}

/// Translates a Kea DHCPv6 configuration.
///
/// # Errors
/// Invalid input ([`KeaError`] naming the JSON path), or a translation that failoverd's own
/// validation refuses (named as `(translated)` with failoverd's message).
#[allow(clippy::too_many_lines)]
pub fn translate_config(text: &str, opts: &ConfigOptions) -> Result<Translation, KeaError> {
    let root = parse_kea_json(text)?;
    let top = as_obj(&root, "(top level)")?;
    let mut w = Walk::default();
    for k in top.keys() {
        if k != "Dhcp6" {
            w.note(k, "not translated (only Dhcp6 is read)");
        }
    }
    let Some(d6) = top.get("Dhcp6") else {
        return err("Dhcp6", "missing: not a Kea DHCPv6 configuration");
    };
    let d6 = as_obj(d6, "Dhcp6")?;

    // Interfaces.
    let mut interfaces: Vec<String> = Vec::new();
    let mut listen: Vec<Ipv6Addr> = Vec::new();
    // Lease store and HA, filled below.
    let mut ha: Option<(String, &Value)> = None;
    let mut duid: Option<Duid> = None;
    let mut preference: Option<u8> = None;
    let mut lease_file: Option<String> = None;
    let global = scope_lifetimes(d6, "Dhcp6", None)?;
    for (k, v) in d6 {
        let path = format!("Dhcp6.{k}");
        match k.as_str() {
            "interfaces-config" => {
                for (ik, iv) in as_obj(v, &path)? {
                    let ipath = format!("{path}.{ik}");
                    if ik != "interfaces" {
                        w.note(&ipath, "not translated");
                        continue;
                    }
                    for (i, name) in as_arr(iv, &ipath)?.iter().enumerate() {
                        let npath = format!("{ipath}[{i}]");
                        let name = as_str(name, &npath)?;
                        if name == "*" {
                            w.note(&npath, "\"*\" (every interface): name each interface");
                            continue;
                        }
                        let (itf, addr) = match name.split_once('/') {
                            Some((n, a)) => (n, Some(ipv6(a, &npath)?)),
                            None => (name, None),
                        };
                        if itf.is_empty() || itf.len() > 15 {
                            return err(&npath, format!("{itf:?} is not an interface name"));
                        }
                        if !interfaces.iter().any(|n| n == itf) {
                            interfaces.push(itf.to_owned());
                        }
                        if let Some(a) = addr {
                            listen.push(a);
                        }
                    }
                }
            }
            "lease-database" => {
                let db = as_obj(v, &path)?;
                let kind =
                    db.get("type").map(|t| as_str(t, &format!("{path}.type"))).transpose()?;
                if kind != Some("memfile") {
                    w.note(
                        &format!("{path}.type"),
                        format!(
                            "{}: only memfile lease files are imported (failoverd import-kea \
                             leases); dump the leases to a memfile CSV first",
                            kind.unwrap_or("(none)")
                        ),
                    );
                }
                if let Some(name) = db.get("name").and_then(Value::as_str) {
                    lease_file = (kind == Some("memfile")).then(|| name.to_owned());
                }
                for dk in db.keys() {
                    if !matches!(dk.as_str(), "type" | "name" | "persist" | "lfc-interval") {
                        w.note(&format!("{path}.{dk}"), "not translated");
                    }
                }
            }
            "preferred-lifetime" | "valid-lifetime" => {}
            "rapid-commit" => w.rapid_commit = Some(as_bool(v, &path)?),
            "subnet6" => walk_subnets(&mut w, v, &path, global)?,
            "shared-networks" => {
                for (i, net) in as_arr(v, &path)?.iter().enumerate() {
                    let npath = format!("{path}[{i}]");
                    let net_obj = as_obj(net, &npath)?;
                    let lt = scope_lifetimes(net_obj, &npath, Some(global))?;
                    w.note(
                        &npath,
                        "shared network: its subnets' pools join failoverd's one set of pools",
                    );
                    for (nk, nv) in net_obj {
                        let kpath = format!("{npath}.{nk}");
                        match nk.as_str() {
                            "subnet6" => walk_subnets(&mut w, nv, &kpath, lt)?,
                            "name" | "preferred-lifetime" | "valid-lifetime" => {}
                            "rapid-commit" => {
                                w.rapid_commit =
                                    Some(as_bool(nv, &kpath)? || w.rapid_commit == Some(true));
                            }
                            other => w.note(&kpath, reason_for(other)),
                        }
                    }
                }
            }
            "hooks-libraries" => {
                for (i, hook) in as_arr(v, &path)?.iter().enumerate() {
                    let hpath = format!("{path}[{i}]");
                    let h = as_obj(hook, &hpath)?;
                    let lib = match h.get("library") {
                        Some(l) => as_str(l, &format!("{hpath}.library"))?,
                        None => return err(&format!("{hpath}.library"), "missing"),
                    };
                    let file = lib.rsplit('/').next().unwrap_or(lib);
                    if file.starts_with("libdhcp_ha") {
                        let ppath = format!("{hpath}.parameters.high-availability");
                        let Some(rels) =
                            h.get("parameters").and_then(|p| p.get("high-availability"))
                        else {
                            return err(&ppath, "missing: the HA hook needs its relationship");
                        };
                        let rels = as_arr(rels, &ppath)?;
                        match rels.first() {
                            None => return err(&ppath, "empty"),
                            Some(r) => ha = Some((format!("{ppath}[0]"), r)),
                        }
                        for j in 1..rels.len() {
                            w.note(
                                &format!("{ppath}[{j}]"),
                                "further HA relationships (hub and spoke) are not translated: \
                                 failoverd is one endpoint of one relationship",
                            );
                        }
                    } else {
                        w.note(
                            &hpath,
                            format!("hook {file}: not translated (no failoverd equivalent)"),
                        );
                    }
                }
            }
            "server-id" => match server_id(v, &path)? {
                Some(d) => duid = Some(d),
                None => w.note(
                    &path,
                    "not fully given (Kea generates and stores the rest): give --server-duid \
                     with Kea's DUID (its kea-dhcp6-serverid file) so that RENEWs naming it \
                     are answered",
                ),
            },
            "option-data" => {
                for (i, o) in as_arr(v, &path)?.iter().enumerate() {
                    let opath = format!("{path}[{i}]");
                    let o = as_obj(o, &opath)?;
                    let name = o.get("name").and_then(Value::as_str);
                    let code = o.get("code").and_then(Value::as_u64);
                    if name == Some("preference") || code == Some(7) {
                        let data = o.get("data").and_then(Value::as_str).unwrap_or("");
                        match data.trim().parse::<u8>() {
                            Ok(p) => preference = Some(p),
                            Err(_) => {
                                return err(
                                    &format!("{opath}.data"),
                                    format!("{data:?} is not a preference (0-255)"),
                                )
                            }
                        }
                    } else {
                        let what = name.map_or_else(
                            || format!("option {}", code.unwrap_or(0)),
                            |n| format!("option {n}"),
                        );
                        w.note(
                            &opath,
                            format!(
                                "{what}: not imported; give it in failoverd's [options] table \
                                 (dns_servers, domain_search, sntp_servers, ntp_servers, \
                                 information_refresh_time, sol_max_rt, inf_max_rt, always_send)"
                            ),
                        );
                    }
                }
            }
            other => w.note(&path, reason_for(other)),
        }
    }

    // The HA relationship.
    let (this_name, relationship, partner_from_ha, role_from_ha, is_kea_server) = match ha {
        Some((path, rel)) => ha_relationship(&mut w, rel, &path, opts.role)?,
        None => (None, None, None, None, opts.role != Some(Role::Secondary)),
    };
    let role = match (opts.role, role_from_ha) {
        (Some(r), _) | (None, Some(r)) => r,
        (None, None) => {
            return err(
                "Dhcp6.hooks-libraries",
                "no libdhcp_ha.so relationship names this server's role: give --role",
            )
        }
    };
    let partner = match (opts.partner, partner_from_ha) {
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => {
            return err(
                "Dhcp6.hooks-libraries",
                "no libdhcp_ha.so peer gives the partner's address: give --partner",
            )
        }
    };
    let server_duid = match &opts.server_duid {
        Some(s) => crate::config::parse_duid("--server-duid", s)
            .or_else(|e| err("--server-duid", e.reason))?,
        None => match duid.clone().filter(|_| is_kea_server) {
            Some(d) => d,
            None => {
                if duid.is_some() {
                    // Two servers of one pair must not share a DUID: Kea's goes to the server
                    // that took over its clients (its this-server-name; without HA the primary).
                    w.note(
                        "Dhcp6.server-id",
                        "Kea's DUID belongs to the Kea server this file configures, which this \
                         server is not: it gets a DUID of its own (--server-duid to choose it)",
                    );
                }
                // DUID-EN (RFC 8415 §11.3) with ISC's enterprise number and this server's name.
                let name = this_name.clone().unwrap_or_else(|| match role {
                    Role::Primary => "primary".into(),
                    Role::Secondary => "secondary".into(),
                });
                let mut d = vec![0, 2, 0, 0, 0x09, 0xbf];
                d.extend(name.bytes().take(120));
                if !has_server_id(d6) && is_kea_server {
                    w.note(
                        "Dhcp6.server-id",
                        "absent: failoverd's DUID is made from the server's name; give \
                         --server-duid with Kea's DUID (its kea-dhcp6-serverid file) so that \
                         RENEWs naming Kea are answered (otherwise clients REBIND)",
                    );
                }
                Duid::new(d)
            }
        },
    };
    if w.ranges.is_empty() && w.prefixes.is_empty() {
        return err("Dhcp6.subnet6", "no pools and no pd-pools: nothing to serve");
    }
    if w.subnets.len() > 1 {
        let list = w.subnets.join(", ");
        w.notes.push(format!(
            "Dhcp6.subnet6: {} subnets ({list}): failoverd has one flat set of pools (subnets \
             are a future issue): every pool below may go to a client on any link",
            w.subnets.len()
        ));
    }
    // Lifetimes: the first subnet's (all subnets should agree; the others are listed).
    let (scope, preferred, valid) = match w.lifetimes.first() {
        Some((path, p, v)) => (path.clone(), *p, *v),
        None => (
            "Dhcp6".to_owned(),
            global.preferred.unwrap_or(KEA_DEFAULT_PREFERRED),
            global.valid.unwrap_or(KEA_DEFAULT_VALID),
        ),
    };
    if preferred > valid {
        return err(
            &scope,
            format!("preferred lifetime {preferred} exceeds the valid lifetime {valid}"),
        );
    }
    let differing: Vec<String> = w
        .lifetimes
        .iter()
        .filter(|(_, p, v)| (*p, *v) != (preferred, valid))
        .map(|(path, p, v)| {
            format!(
                "{path}: lifetimes preferred {p} / valid {v} differ from the {preferred} / \
                 {valid} written (failoverd has one set of lifetimes)"
            )
        })
        .collect();
    w.notes.extend(differing);

    let relationship = relationship.unwrap_or_else(|| "kea-migration".to_owned());
    let role_s = match role {
        Role::Primary => "primary",
        Role::Secondary => "secondary",
    };
    let mut t = String::new();
    let _ = writeln!(t, "# failoverd configuration translated from a Kea DHCPv6 configuration");
    let _ = writeln!(
        t,
        "# by `failoverd import-kea config` (docs/operations.md, \"Migrating from Kea\")."
    );
    if w.notes.is_empty() {
        let _ = writeln!(t, "# Everything was translated.");
    } else {
        let _ = writeln!(t, "#\n# NOT TRANSLATED ({} item(s)):", w.notes.len());
        for n in &w.notes {
            let _ = writeln!(t, "#   {}", n.replace('\n', " "));
        }
    }
    let _ = writeln!(
        t,
        "#\n# Kea's leases: stop Kea, then (docs/operations.md, \"Migrating from Kea\")"
    );
    let _ = writeln!(
        t,
        "#   failoverd import-kea leases {} --config THIS-FILE",
        lease_file.as_deref().unwrap_or("/var/lib/kea/kea-leases6.csv").replace('\n', " ")
    );
    let _ = writeln!(t);
    let _ = writeln!(t, "role = {}", toml_str(role_s));
    let _ = writeln!(t, "relationship = {}", toml_str(&relationship));
    let _ = writeln!(t, "server_duid = {}", toml_str(&server_duid.to_string()));
    let _ = writeln!(t, "data_dir = {}", toml_str(&opts.data_dir.to_string_lossy()));
    let _ = writeln!(t, "control_socket = {}", toml_str(&opts.control_socket.to_string_lossy()));
    let _ = writeln!(t, "\n[failover]");
    let _ = writeln!(t, "partner_address = {}", toml_str(&partner.to_string()));
    if role == Role::Primary {
        let _ = writeln!(t, "partner_port = {DEFAULT_FAILOVER_PORT}");
    } else {
        let _ = writeln!(t, "port = {DEFAULT_FAILOVER_PORT}");
    }
    let _ = writeln!(t, "mclt = {}", opts.mclt);
    let _ = writeln!(
        t,
        "# Kea's HA peers talk over HTTP(S) with their own TLS settings; set \"required\" and\n\
         # tls_ca / tls_cert / tls_key for RFC 8156 §10 mutual authentication.\ntls = \"off\""
    );
    let _ = writeln!(t, "\n[dhcp]");
    let addrs: Vec<String> = listen.iter().map(|a| toml_str(&a.to_string())).collect();
    let _ = writeln!(t, "listen_addresses = [{}]", addrs.join(", "));
    let _ = writeln!(t, "rapid_commit = {}", w.rapid_commit.unwrap_or(false));
    if let Some(p) = preference {
        let _ = writeln!(t, "preference = {p}");
    }
    for i in &interfaces {
        let _ = writeln!(t, "\n[[dhcp.interfaces]]\nname = {}", toml_str(i));
    }
    for (first, last, path) in &w.ranges {
        let _ = writeln!(
            t,
            "\n[[pools.addresses]]   # {path}\nfirst = {}\nlast = {}",
            toml_str(&first.to_string()),
            toml_str(&last.to_string())
        );
    }
    for (p, len, dl, path) in &w.prefixes {
        let _ = writeln!(
            t,
            "\n[[pools.prefixes]]   # {path}\nprefix = {}\ndelegated_length = {dl}",
            toml_str(&format!("{p}/{len}"))
        );
    }
    let _ = writeln!(t, "\n[lifetimes]");
    let _ = writeln!(t, "address = {{ preferred = {preferred}, valid = {valid} }}");
    let _ = writeln!(t, "prefix = {{ preferred = {preferred}, valid = {valid} }}");
    let config = RuntimeConfig::parse(&t).or_else(|e| err("(translated)", e.to_string()))?;
    Ok(Translation { toml: t, untranslated: w.notes, config })
}

fn has_server_id(d6: &Map<String, Value>) -> bool {
    d6.contains_key("server-id")
}

/// A scope's own lifetimes, falling back on the enclosing scope's.
fn scope_lifetimes(
    o: &Map<String, Value>,
    path: &str,
    outer: Option<Lifetimes>,
) -> Result<Lifetimes, KeaError> {
    let outer = outer.unwrap_or_default();
    let get = |k: &str| -> Result<Option<u32>, KeaError> {
        o.get(k).map(|v| as_u32(v, &format!("{path}.{k}"))).transpose()
    };
    Ok(Lifetimes {
        preferred: get("preferred-lifetime")?.or(outer.preferred),
        valid: get("valid-lifetime")?.or(outer.valid),
    })
}

fn walk_subnets(w: &mut Walk, v: &Value, path: &str, outer: Lifetimes) -> Result<(), KeaError> {
    for (i, s) in as_arr(v, path)?.iter().enumerate() {
        let spath = format!("{path}[{i}]");
        let so = as_obj(s, &spath)?;
        let Some(subnet) = so.get("subnet") else {
            return err(&format!("{spath}.subnet"), "missing");
        };
        let (net, net_len) =
            prefix(as_str(subnet, &format!("{spath}.subnet"))?, &format!("{spath}.subnet"))?;
        let id = so.get("id").map(|v| as_u32(v, &format!("{spath}.id"))).transpose()?;
        w.subnets.push(match id {
            Some(id) => format!("id {id} {net}/{net_len}"),
            None => format!("{net}/{net_len}"),
        });
        let lt = scope_lifetimes(so, &spath, Some(outer))?;
        let mut has_pools = false;
        for (k, v) in so {
            let kpath = format!("{spath}.{k}");
            match k.as_str() {
                "subnet" | "id" | "preferred-lifetime" | "valid-lifetime" | "interface" => {}
                "rapid-commit" => {
                    let rc = as_bool(v, &kpath)?;
                    w.rapid_commit = Some(rc || w.rapid_commit == Some(true));
                }
                "pools" => {
                    for (j, p) in as_arr(v, &kpath)?.iter().enumerate() {
                        let ppath = format!("{kpath}[{j}]");
                        let po = as_obj(p, &ppath)?;
                        let Some(pool) = po.get("pool") else {
                            return err(&format!("{ppath}.pool"), "missing");
                        };
                        let pool_path = format!("{ppath}.pool");
                        let pool = as_str(pool, &pool_path)?;
                        let (first, last) = match pool.split_once('-') {
                            Some((a, b)) => (ipv6(a, &pool_path)?, ipv6(b, &pool_path)?),
                            None => {
                                let (p, len) = prefix(pool, &pool_path)?;
                                let base = u128::from(p) & !host_mask(len);
                                (Ipv6Addr::from(base), Ipv6Addr::from(base | host_mask(len)))
                            }
                        };
                        if u128::from(first) > u128::from(last) {
                            return err(&pool_path, format!("{last} is before {first}"));
                        }
                        let mask = !host_mask(net_len);
                        if u128::from(first) & mask != u128::from(net) & mask
                            || u128::from(last) & mask != u128::from(net) & mask
                        {
                            return err(
                                &pool_path,
                                format!("{pool} is outside the subnet {net}/{net_len}"),
                            );
                        }
                        for pk in po.keys().filter(|k| k.as_str() != "pool") {
                            w.note(&format!("{ppath}.{pk}"), reason_for(pk));
                        }
                        w.ranges.push((first, last, ppath));
                        has_pools = true;
                    }
                }
                "pd-pools" => {
                    for (j, p) in as_arr(v, &kpath)?.iter().enumerate() {
                        let ppath = format!("{kpath}[{j}]");
                        let po = as_obj(p, &ppath)?;
                        let need = |k: &str| {
                            po.get(k).map_or_else(|| err(&format!("{ppath}.{k}"), "missing"), Ok)
                        };
                        let pfx = ipv6(
                            as_str(need("prefix")?, &format!("{ppath}.prefix"))?,
                            &format!("{ppath}.prefix"),
                        )?;
                        let len = as_u8(need("prefix-len")?, &format!("{ppath}.prefix-len"), 128)?;
                        let dl =
                            as_u8(need("delegated-len")?, &format!("{ppath}.delegated-len"), 128)?;
                        if dl < len {
                            return err(
                                &format!("{ppath}.delegated-len"),
                                format!("{dl} is shorter than prefix-len {len}"),
                            );
                        }
                        if u128::from(pfx) & host_mask(len) != 0 {
                            return err(
                                &format!("{ppath}.prefix"),
                                format!("{pfx} has bits set beyond /{len}"),
                            );
                        }
                        for pk in po.keys() {
                            if !matches!(pk.as_str(), "prefix" | "prefix-len" | "delegated-len") {
                                let why = if pk.starts_with("excluded-prefix") {
                                    "prefix exclusion (RFC 6603) is not supported"
                                } else {
                                    reason_for(pk)
                                };
                                w.note(&format!("{ppath}.{pk}"), why);
                            }
                        }
                        w.prefixes.push((pfx, len, dl, ppath));
                        has_pools = true;
                    }
                }
                other => w.note(&kpath, reason_for(other)),
            }
        }
        if has_pools {
            w.lifetimes.push((
                spath,
                lt.preferred.unwrap_or(KEA_DEFAULT_PREFERRED),
                lt.valid.unwrap_or(KEA_DEFAULT_VALID),
            ));
        }
    }
    Ok(())
}

/// Kea's `server-id`, if it gives the whole DUID.
fn server_id(v: &Value, path: &str) -> Result<Option<Duid>, KeaError> {
    let o = as_obj(v, path)?;
    let hex = |k: &str| -> Result<Option<Vec<u8>>, KeaError> {
        match o.get(k) {
            None => Ok(None),
            Some(x) => {
                let p = format!("{path}.{k}");
                let s = as_str(x, &p)?;
                crate::config::parse_duid(&p, s).map(|d| Some(d.0)).or_else(|e| err(&p, e.reason))
            }
        }
    };
    let num = |k: &str| o.get(k).map(|x| as_u32(x, &format!("{path}.{k}"))).transpose();
    let kind = o.get("type").map(|t| as_str(t, &format!("{path}.type"))).transpose()?;
    let Some(id) = hex("identifier")? else { return Ok(None) };
    let d = match kind.unwrap_or("LLT") {
        "EN" => {
            let Some(en) = num("enterprise-id")? else { return Ok(None) };
            let mut d = vec![0, 2];
            d.extend(en.to_be_bytes());
            d.extend(id);
            d
        }
        "LLT" => {
            let (Some(ht), Some(time)) = (num("htype")?, num("time")?) else { return Ok(None) };
            let mut d = vec![0, 1];
            d.extend(u16::try_from(ht).unwrap_or(1).to_be_bytes());
            d.extend(time.to_be_bytes());
            d.extend(id);
            d
        }
        "LL" => {
            let Some(ht) = num("htype")? else { return Ok(None) };
            let mut d = vec![0, 3];
            d.extend(u16::try_from(ht).unwrap_or(1).to_be_bytes());
            d.extend(id);
            d
        }
        other => return err(&format!("{path}.type"), format!("{other:?}: must be LLT, EN or LL")),
    };
    match Duid::checked(d) {
        Ok(duid) => Ok(Some(duid)),
        Err(why) => err(path, format!("the DUID {why}")),
    }
}

/// The HA relationship: (this server's name, relationship name, partner address, role).
/// The HA relationship: (this server's name, relationship name, partner address, role, whether
/// this server is the Kea server the file belongs to: its `this-server-name`).
type HaView = (Option<String>, Option<String>, Option<IpAddr>, Option<Role>, bool);

fn ha_relationship(
    w: &mut Walk,
    rel: &Value,
    path: &str,
    forced: Option<Role>,
) -> Result<HaView, KeaError> {
    let o = as_obj(rel, path)?;
    let this = match o.get("this-server-name") {
        Some(v) => as_str(v, &format!("{path}.this-server-name"))?.to_owned(),
        None => return err(&format!("{path}.this-server-name"), "missing"),
    };
    let mode = match o.get("mode") {
        Some(v) => as_str(v, &format!("{path}.mode"))?,
        None => return err(&format!("{path}.mode"), "missing"),
    };
    match mode {
        "hot-standby" => w.note(
            &format!("{path}.mode"),
            "hot-standby: failoverd's secondary is not idle: it renews the clients that \
             address it in NORMAL and serves from its own half of the pools (even addresses, \
             its share of prefixes) when communication is interrupted",
        ),
        "load-balancing" => w.note(
            &format!("{path}.mode"),
            "load-balancing: in NORMAL failoverd's primary answers new clients; the load is \
             not split by client hash (RFC 8156 splits the pools, not the clients)",
        ),
        "passive-backup" => {
            return err(
                &format!("{path}.mode"),
                "passive-backup has no failover partner to translate (only backup servers)",
            )
        }
        other => return err(&format!("{path}.mode"), format!("{other:?} is not a Kea HA mode")),
    }
    let Some(peers) = o.get("peers") else {
        return err(&format!("{path}.peers"), "missing");
    };
    let ppath = format!("{path}.peers");
    // (name, host, role, path)
    let mut list: Vec<(String, IpAddr, Role, String)> = Vec::new();
    for (i, p) in as_arr(peers, &ppath)?.iter().enumerate() {
        let pp = format!("{ppath}[{i}]");
        let po = as_obj(p, &pp)?;
        let get = |k: &str| -> Result<&str, KeaError> {
            match po.get(k) {
                Some(v) => as_str(v, &format!("{pp}.{k}")),
                None => err(&format!("{pp}.{k}"), "missing"),
            }
        };
        let name = get("name")?.to_owned();
        let role = match get("role")? {
            "primary" => Role::Primary,
            "secondary" | "standby" => Role::Secondary,
            "backup" => {
                w.note(
                    &pp,
                    format!("backup peer {name:?}: RFC 8156 has two servers; not translated"),
                );
                continue;
            }
            other => return err(&format!("{pp}.role"), format!("{other:?} is not a Kea HA role")),
        };
        let host = url_host(get("url")?, &format!("{pp}.url"))?;
        for k in po.keys() {
            if !matches!(k.as_str(), "name" | "url" | "role" | "auto-failover") {
                w.note(
                    &format!("{pp}.{k}"),
                    "not translated (TLS of the partner link: failover.tls)",
                );
            }
        }
        list.push((name, host, role, pp));
    }
    for (k, v) in o {
        let kpath = format!("{path}.{k}");
        match k.as_str() {
            "this-server-name" | "mode" | "peers" => {}
            "max-response-delay" | "heartbeat-delay" => w.note(
                &kpath,
                format!(
                    "{v}: failoverd's partner liveness is failover.keepalive_time (FO_KEEPALIVE_TIME, \
                     default 60 s) with CONTACT messages"
                ),
            ),
            "max-ack-delay" | "max-unacked-clients" => w.note(
                &kpath,
                "failoverd never decides PARTNER-DOWN from client traffic; use the partner-down \
                 command, or failover.auto_partner_down if the partner cannot be running while \
                 unreachable",
            ),
            _ => w.note(&kpath, "not translated"),
        }
    }
    let find = |r: Role| list.iter().filter(|p| p.2 == r).collect::<Vec<_>>();
    let (prim, sec) = (find(Role::Primary), find(Role::Secondary));
    if prim.len() != 1 || sec.len() != 1 {
        return err(
            &ppath,
            format!(
                "needs exactly one primary and one secondary or standby peer (found {} and {})",
                prim.len(),
                sec.len()
            ),
        );
    }
    let (prim, sec) = (prim[0], sec[0]);
    let me_role = match forced {
        Some(r) => r,
        None => match list.iter().find(|p| p.0 == this) {
            Some(p) => p.2,
            None => {
                return err(
                    &format!("{path}.this-server-name"),
                    format!("{this:?} is none of the peers"),
                )
            }
        },
    };
    let (me, other) = if me_role == Role::Primary { (prim, sec) } else { (sec, prim) };
    let relationship = format!("{}-{}", prim.0, sec.0);
    Ok((Some(me.0.clone()), Some(relationship), Some(other.1), Some(me_role), me.0 == this))
}

/// The host of an HA peer URL (`http://[2001:db8::2]:8000/`, `https://192.0.2.2:8000/`).
fn url_host(url: &str, path: &str) -> Result<IpAddr, KeaError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .map_or_else(|| err(path, format!("{url:?} is not an http:// or https:// URL")), Ok)?;
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(h) = authority.strip_prefix('[') {
        match h.split_once(']') {
            Some((h, _)) => h,
            None => return err(path, format!("{url:?}: unclosed '['")),
        }
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host.parse().or_else(|_| {
        err(path, format!("{url:?}: the host {host:?} is not an IP address (failoverd needs the partner's address)"))
    })
}

// ---------------------------------------------------------------------------------------------
// The leases.
// ---------------------------------------------------------------------------------------------

/// One lease line of `kea-leases6.csv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeaLease {
    /// `FILE:LINE`.
    pub origin: String,
    /// The address or prefix.
    pub resource: Resource,
    /// The client.
    pub client: ClientKey,
    /// Valid lifetime given (0: Kea deleted the lease).
    pub valid_lifetime: u32,
    /// Preferred lifetime given.
    pub preferred_lifetime: u32,
    /// Unix time of expiry.
    pub expire: u64,
    /// 0 default (assigned), 1 declined, 2 expired-reclaimed (others: newer Kea states).
    pub state: u32,
}

/// The columns `import-kea leases` needs (Kea's memfile header names).
pub const REQUIRED_COLUMNS: [&str; 8] = [
    "address",
    "duid",
    "valid_lifetime",
    "expire",
    "pref_lifetime",
    "lease_type",
    "iaid",
    "prefix_len",
];

/// Parses a Kea memfile DHCPv6 lease file. The header gives the columns (Kea's schema
/// versions add columns at the end; `state` is optional, 0 when absent). Lines for the same
/// lease are returned in file order: the caller keeps the last.
///
/// # Errors
/// A missing column, or a line that does not parse, named as `FILE:LINE: column: reason`.
pub fn parse_leases(text: &str, file: &str) -> Result<Vec<KeaLease>, KeaError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return err(&format!("{file}:1"), "empty: no header line");
    };
    let cols: Vec<&str> = header.trim().split(',').map(str::trim).collect();
    let idx = |name: &str| cols.iter().position(|c| *c == name);
    let mut at = BTreeMap::new();
    for c in REQUIRED_COLUMNS {
        match idx(c) {
            Some(i) => {
                at.insert(c, i);
            }
            None => {
                return err(
                    &format!("{file}:1"),
                    format!("header has no {c:?} column: not a Kea DHCPv6 lease file ({header:?})"),
                )
            }
        }
    }
    let state_col = idx("state");
    let mut out = Vec::new();
    for (n, line) in lines {
        let origin = format!("{file}:{}", n + 1);
        let fields: Vec<&str> = line.trim_end_matches('\r').split(',').collect();
        let get = |c: &str| -> Result<&str, KeaError> {
            let i = at.get(c).copied().unwrap_or(usize::MAX);
            fields.get(i).map(|s| s.trim()).map_or_else(
                || err(&origin, format!("column {c}: missing ({} fields)", fields.len())),
                Ok,
            )
        };
        let num = |c: &str| -> Result<u64, KeaError> {
            let s = get(c)?;
            s.parse().or_else(|_| err(&origin, format!("column {c}: {s:?} is not a number")))
        };
        let num32 = |c: &str| -> Result<u32, KeaError> {
            u32::try_from(num(c)?).or_else(|_| err(&origin, format!("column {c}: too large")))
        };
        let address = get("address")?;
        let addr: Ipv6Addr = address.parse().or_else(|_| {
            err(&origin, format!("column address: {address:?} is not an IPv6 address"))
        })?;
        let duid_s = get("duid")?;
        let duid = crate::config::parse_duid("duid", duid_s)
            .or_else(|e| err(&origin, format!("column duid: {duid_s:?}: {}", e.reason)))?;
        let kind = match num("lease_type")? {
            0 => IaKind::Na,
            1 => IaKind::Ta,
            2 => IaKind::Pd,
            t => {
                return err(
                    &origin,
                    format!("column lease_type: {t} is not 0 (NA), 1 (TA) or 2 (PD)"),
                )
            }
        };
        let plen = num("prefix_len")?;
        let resource = match kind {
            IaKind::Pd => {
                let l = u8::try_from(plen).ok().filter(|l| *l <= 128).map_or_else(
                    || err(&origin, format!("column prefix_len: {plen} is not 0-128")),
                    Ok,
                )?;
                Resource::Prefix(addr, l)
            }
            IaKind::Na | IaKind::Ta => Resource::Address(addr),
        };
        let state = match state_col {
            None => 0,
            Some(i) => {
                let s = fields.get(i).map_or("", |s| s.trim());
                if s.is_empty() {
                    0
                } else {
                    s.parse()
                        .or_else(|_| err(&origin, format!("column state: {s:?} is not a number")))?
                }
            }
        };
        out.push(KeaLease {
            resource,
            client: ClientKey { duid, kind, iaid: num32("iaid")? },
            valid_lifetime: num32("valid_lifetime")?,
            preferred_lifetime: num32("pref_lifetime")?,
            expire: num("expire")?,
            state,
            origin,
        });
    }
    Ok(out)
}

/// Why a lease was not imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Skip {
    /// Past its expiry.
    Expired,
    /// Kea state 1: declined.
    Declined,
    /// Kea state 2: expired and reclaimed.
    Reclaimed,
    /// Valid lifetime 0 (Kea's record of a deleted/released lease) or another Kea state.
    Released,
    /// IA_TA: failoverd serves IA_NA and IA_PD.
    Temporary,
    /// In no pool of the configuration (or of another delegated length).
    OutsidePools,
    /// The store holds this resource ACTIVE for another client (with `--force`).
    HeldByAnother,
}

impl Skip {
    /// A label for the summary.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Skip::Expired => "expired",
            Skip::Declined => "declined",
            Skip::Reclaimed => "expired-reclaimed",
            Skip::Released => "released or deleted",
            Skip::Temporary => "temporary address (IA_TA)",
            Skip::OutsidePools => "outside every configured pool",
            Skip::HeldByAnother => "ACTIVE for another client in the store",
        }
    }
}

/// What [`import_leases`] did.
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    /// Bindings written.
    pub imported: usize,
    /// Of them, addresses and prefixes.
    pub addresses: usize,
    /// Prefixes.
    pub prefixes: usize,
    /// Lines superseded by a later line for the same lease.
    pub superseded: usize,
    /// Skipped leases by reason, each with its origin and resource.
    pub skipped: BTreeMap<Skip, Vec<String>>,
}

/// Why an import was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Bad input.
    #[error("{0}")]
    Input(#[from] KeaError),
    /// The store already holds bindings.
    #[error(
        "lease store {0}: already holds {1} binding(s); refusing to import into it (give --force \
         to add the Kea leases to them)"
    )]
    NotEmpty(PathBuf, usize),
    /// The store refused.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// The endpoint restored from the written store is not consistent.
    #[error("the store written does not restore cleanly: {0}")]
    Restore(String),
}

/// Decides, at `now`, the binding each Kea lease becomes (the last line of a lease wins),
/// starting from the store's `existing` records. Pure: the caller writes the result.
#[must_use]
pub fn plan_import(
    leases: &[KeaLease],
    config: &failover_model::Config,
    existing: &BTreeMap<Resource, Binding>,
    now: Time,
) -> (Vec<Binding>, ImportReport) {
    let pools = Pools::new(config);
    let mut report = ImportReport::default();
    let mut last: BTreeMap<Resource, &KeaLease> = BTreeMap::new();
    for l in leases {
        if last.insert(l.resource, l).is_some() {
            report.superseded += 1;
        }
    }
    let mut out = Vec::new();
    for (r, l) in last {
        let expire = Time::from_unix(l.expire);
        let skip = if l.valid_lifetime == 0 {
            Some(Skip::Released)
        } else {
            match l.state {
                0 => None,
                1 => Some(Skip::Declined),
                2 => Some(Skip::Reclaimed),
                _ => Some(Skip::Released),
            }
        }
        .or(if l.client.kind == IaKind::Ta { Some(Skip::Temporary) } else { None })
        .or(if expire <= now { Some(Skip::Expired) } else { None })
        .or(if pools.contains(&r) { None } else { Some(Skip::OutsidePools) })
        .or(match existing.get(&r) {
            Some(b) if b.is_held(now) && b.client.as_ref() != Some(&l.client) => {
                Some(Skip::HeldByAnother)
            }
            _ => None,
        });
        if let Some(s) = skip {
            report.skipped.entry(s).or_default().push(format!("{} {r}", l.origin));
            continue;
        }
        // Kea's CLTT is the expiry less the valid lifetime it gave; never in the future.
        let cltt = expire.minus(l.valid_lifetime).min(now);
        let valid = expire.since(cltt);
        let desired = if r.is_prefix() {
            config.prefix_lifetimes.valid
        } else {
            config.address_lifetimes.valid
        };
        let mut b = existing
            .get(&r)
            .cloned()
            .unwrap_or_else(|| Binding::free(r, BindingStatus::Free, cltt));
        b.grant(&l.client, cltt, l.preferred_lifetime.min(valid), valid, desired);
        if r.is_prefix() {
            report.prefixes += 1;
        } else {
            report.addresses += 1;
        }
        report.imported += 1;
        out.push(b);
    }
    (out, report)
}

/// Imports Kea lease files (in order: a later line wins) into the store of `config`.
///
/// # Errors
/// [`ImportError`]: bad input (nothing is written), a store that already holds bindings
/// without `force`, a store error, or a store that does not restore cleanly.
pub fn import_leases(
    files: &[PathBuf],
    config: &RuntimeConfig,
    force: bool,
    now: Time,
) -> Result<ImportReport, ImportError> {
    let mut leases = Vec::new();
    for f in files {
        let name = f.display().to_string();
        let text =
            std::fs::read_to_string(f).or_else(|e| err(&name, format!("cannot read: {e}")))?;
        leases.extend(parse_leases(&text, &name)?);
    }
    let path = config.store_path();
    std::fs::create_dir_all(&config.data_dir).map_err(|e| KeaError {
        path: config.data_dir.display().to_string(),
        reason: format!("cannot create: {e}"),
    })?;
    let identity = StoreIdentity::new(&config.model.relationship, config.model.role);
    let (store, image) = Store::open(&path, &identity)?;
    if !image.bindings.is_empty() && !force {
        return Err(ImportError::NotEmpty(path, image.bindings.len()));
    }
    let (bindings, report) = plan_import(&leases, &config.model, &image.bindings, now);
    let writes: Vec<DurableWrite> = bindings.into_iter().map(DurableWrite::Binding).collect();
    // One durable transaction: all the leases or none.
    store.commit(&writes)?;
    drop(store);
    verify_restore(&path, &identity, config, now, report.imported)?;
    Ok(report)
}

/// Opens the store as `failoverd run` does and restores an endpoint from it: every imported
/// binding must come back ACTIVE, flagged for the partner, with nothing set aside.
fn verify_restore(
    path: &Path,
    identity: &StoreIdentity,
    config: &RuntimeConfig,
    now: Time,
    imported: usize,
) -> Result<(), ImportError> {
    let (_store, image) = Store::open(path, identity)?;
    let (ep, out) = Endpoint::restore(config.model.clone(), &image, now);
    if let Some(alarm) = out.iter().find_map(|o| match o {
        failover_model::Output::Event(failover_model::Event::Alarm(a)) => Some(a.clone()),
        _ => None,
    }) {
        return Err(ImportError::Restore(alarm));
    }
    ep.check_invariants().map_err(ImportError::Restore)?;
    let pending_active =
        ep.bindings().filter(|b| b.status == BindingStatus::Active && b.pending).count();
    if pending_active < imported {
        return Err(ImportError::Restore(format!(
            "{pending_active} ACTIVE bindings pending for the partner, {imported} imported"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HA: &str = include_str!("../tests/fixtures/kea/ha-hot-standby.json");
    const CSV: &str = include_str!("../tests/fixtures/kea/kea-leases6.csv");
    const PRIMARY: &str = include_str!("../../examples/primary.toml");

    fn translate(text: &str, opts: &ConfigOptions) -> Result<Translation, KeaError> {
        translate_config(text, opts)
    }

    fn has_note(t: &Translation, path: &str, words: &str) -> bool {
        t.untranslated.iter().any(|n| n.starts_with(&format!("{path}: ")) && n.contains(words))
    }

    /// A minimal Kea configuration without the HA hook, with `extra` keys in `Dhcp6`.
    fn minimal(extra: &str) -> String {
        let itf = if extra.contains("interfaces-config") {
            ""
        } else {
            r#""interfaces-config": { "interfaces": [ "eth0" ] },"#
        };
        format!(
            r#"{{ "Dhcp6": {{ {itf} {extra}
                "subnet6": [ {{ "id": 1, "subnet": "2001:db8:1::/64",
                  "pools": [ {{ "pool": "2001:db8:1::100-2001:db8:1::1ff" }} ] }} ] }} }}"#
        )
    }

    fn with_role() -> ConfigOptions {
        ConfigOptions {
            role: Some(Role::Primary),
            partner: Some("2001:db8:ff::2".parse().unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST))),
            ..ConfigOptions::default()
        }
    }

    #[test]
    fn ha_configuration_with_comments_translates_and_validates() {
        let t = match translate(HA, &ConfigOptions::default()) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        let m = &t.config.model;
        assert_eq!(m.role, Role::Primary, "this-server-name server1 is the primary");
        assert_eq!(m.relationship, "server1-server2");
        assert_eq!(t.config.partner.to_string(), "[2001:db8:ff::2]:647");
        assert_eq!(m.server_duid.to_string(), "00:02:00:00:09:bf:0a:0b:0c:0d", "server-id EN");
        let ranges: Vec<(String, String)> =
            m.address_pools.iter().map(|p| (p.first.to_string(), p.last.to_string())).collect();
        assert_eq!(
            ranges,
            [
                ("2001:db8:1::100".to_owned(), "2001:db8:1::1ff".to_owned()),
                ("2001:db8:2::".to_owned(), "2001:db8:2::ffff".to_owned())
            ]
        );
        let pfx: Vec<(String, u8, u8)> = m
            .prefix_pools
            .iter()
            .map(|p| (p.prefix.to_string(), p.prefix_len, p.delegated_len))
            .collect();
        assert_eq!(
            pfx,
            [("2001:db8:100::".to_owned(), 48, 56), ("2001:db8:200::".to_owned(), 52, 60)]
        );
        assert_eq!((m.address_lifetimes.preferred, m.address_lifetimes.valid), (3000, 4000));
        assert_eq!((m.prefix_lifetimes.preferred, m.prefix_lifetimes.valid), (3000, 4000));
        assert_eq!(m.options.preference, Some(200), "option preference becomes dhcp.preference");
        assert!(m.rapid_commit, "subnet 1 has rapid-commit");
        let names: Vec<&str> = t.config.interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["eth0", "eth1"]);
        assert_eq!(
            t.config.dhcp_listen,
            ["2001:db8:2::1".parse::<Ipv6Addr>().unwrap_or(Ipv6Addr::UNSPECIFIED)]
        );
        for (path, words) in [
            ("Dhcp6.option-data[0]", "dns-servers"),
            ("Dhcp6.client-classes", "classification"),
            ("Dhcp6.hooks-libraries[0]", "libdhcp_lease_cmds.so"),
            ("Dhcp6.subnet6[0].reservations", "reservations"),
            ("Dhcp6.subnet6[1].pools[0].option-data", "options"),
            ("Dhcp6.subnet6[1].pd-pools[0].excluded-prefix", "RFC 6603"),
            ("Dhcp6.subnet6", "2 subnets"),
            ("Dhcp6.subnet6", "one flat set of pools"),
            ("Dhcp6.subnet6[1]", "valid 9000"),
            ("Dhcp6.renew-timer", "T1"),
            ("Dhcp6.hooks-libraries[1].parameters.high-availability[0].mode", "hot-standby"),
            (
                "Dhcp6.hooks-libraries[1].parameters.high-availability[0].max-unacked-clients",
                "PARTNER-DOWN",
            ),
            ("Dhcp6.loggers", "[log]"),
        ] {
            assert!(
                has_note(&t, path, words),
                "no note {path}: ..{words}..: {:#?}",
                t.untranslated
            );
        }
        // Every note is also a comment at the top of the TOML, which validates as written.
        let head: String =
            t.toml.lines().take_while(|l| l.starts_with('#')).collect::<Vec<_>>().join("\n");
        for n in &t.untranslated {
            assert!(head.contains(&format!("#   {n}")), "{n} not in the TOML's comments");
        }
        assert!(RuntimeConfig::parse(&t.toml).is_ok());
    }

    #[test]
    fn the_standby_peer_becomes_the_secondary() {
        let opts = ConfigOptions { role: Some(Role::Secondary), ..ConfigOptions::default() };
        let t = translate(HA, &opts).map_err(|e| e.to_string());
        let Ok(t) = t else { panic!("{t:?}") };
        assert_eq!(t.config.model.role, Role::Secondary);
        assert_eq!(t.config.partner.ip().to_string(), "2001:db8:ff::1");
        assert_eq!(t.config.failover_listen.port(), 647);
        assert_eq!(t.config.model.relationship, "server1-server2", "the same on both sides");
        // Kea's server-id is server1's: the secondary (server2) gets a DUID of its own.
        assert_eq!(
            t.config.model.server_duid.to_string(),
            "00:02:00:00:09:bf:73:65:72:76:65:72:32"
        );
        assert!(has_note(&t, "Dhcp6.server-id", "own"), "{:?}", t.untranslated);
        // The HA hook's this-server-name picks the role when --role is absent.
        let other =
            HA.replace("\"this-server-name\": \"server1\"", "\"this-server-name\": \"server2\"");
        let t = translate(&other, &ConfigOptions::default()).map_err(|e| e.to_string());
        assert_eq!(t.map(|t| t.config.model.role), Ok(Role::Secondary));
    }

    #[test]
    fn without_the_ha_hook_role_and_partner_are_asked_for() {
        let text = minimal("");
        let e = translate(&text, &ConfigOptions::default()).err();
        assert!(e.as_ref().is_some_and(|e| e.reason.contains("--role")), "{e:?}");
        let opts = ConfigOptions { role: Some(Role::Primary), ..ConfigOptions::default() };
        let e = translate(&text, &opts).err();
        assert!(e.as_ref().is_some_and(|e| e.reason.contains("--partner")), "{e:?}");
        let t = translate(&text, &with_role()).map_err(|e| e.to_string());
        let Ok(t) = t else { panic!("{t:?}") };
        assert_eq!(t.config.model.address_lifetimes.valid, KEA_DEFAULT_VALID, "Kea's default");
        assert!(has_note(&t, "Dhcp6.server-id", "--server-duid"), "{:?}", t.untranslated);
        // Without HA, Kea's DUID goes to the primary (which answers Kea's clients in NORMAL),
        // never to both servers of the pair.
        let text =
            minimal(r#""server-id": { "type": "LL", "htype": 1, "identifier": "0a0b0c0d0e0f" },"#);
        let p = translate(&text, &with_role()).map(|t| t.config.model.server_duid.to_string());
        assert_eq!(p, Ok("00:03:00:01:0a:0b:0c:0d:0e:0f".to_owned()));
        let opts = ConfigOptions { role: Some(Role::Secondary), ..with_role() };
        let s = translate(&text, &opts).map(|t| t.config.model.server_duid.to_string());
        assert!(s.as_ref().is_ok_and(|s| s != "00:03:00:01:0a:0b:0c:0d:0e:0f"), "{s:?}");
        // Without an interface failoverd could reach no client: its own validation says so.
        let none = minimal("\"interfaces-config\": { \"interfaces\": [] },");
        let e = translate(&none, &with_role()).err();
        assert!(
            e.as_ref().is_some_and(|e| e.path == "(translated)" && e.reason.starts_with("dhcp:")),
            "{e:?}"
        );
    }

    #[test]
    fn invalid_input_names_the_json_path() {
        let sub = |pool: &str| minimal("").replace("2001:db8:1::100-2001:db8:1::1ff", pool);
        let cases: Vec<(String, &str)> = vec![
            ("{ \"Dhcp6\": ".into(), "(file)"),
            ("[1, 2]".into(), "(top level)"),
            ("{ \"Dhcp4\": {} }".into(), "Dhcp6"),
            ("{ \"Dhcp6\": { \"subnet6\": {} } }".into(), "Dhcp6.subnet6"),
            (sub("2001:db8:1::zz-2001:db8:1::1ff"), "Dhcp6.subnet6[0].pools[0].pool"),
            (sub("2001:db8:1::1ff-2001:db8:1::100"), "Dhcp6.subnet6[0].pools[0].pool"),
            (sub("2001:db8:7::1-2001:db8:7::9"), "Dhcp6.subnet6[0].pools[0].pool"),
            (minimal("\"valid-lifetime\": \"long\","), "Dhcp6.valid-lifetime"),
            (
                minimal("\"valid-lifetime\": 100, \"preferred-lifetime\": 200,"),
                "Dhcp6.subnet6[0]",
            ),
            (minimal("\"interfaces-config\": { \"interfaces\": [ 7 ] },"), "Dhcp6.interfaces-config.interfaces[0]"),
            (
                "{ \"Dhcp6\": { \"subnet6\": [ { \"subnet\": \"2001:db8:1::/64\", \"pd-pools\": [ { \"prefix\": \"2001:db8:100::\", \"prefix-len\": 48 } ] } ] } }".into(),
                "Dhcp6.subnet6[0].pd-pools[0].delegated-len",
            ),
            (
                "{ \"Dhcp6\": { \"subnet6\": [ { \"subnet\": \"2001:db8:1::/64\", \"pd-pools\": [ { \"prefix\": \"2001:db8:100::\", \"prefix-len\": 48, \"delegated-len\": 40 } ] } ] } }".into(),
                "Dhcp6.subnet6[0].pd-pools[0].delegated-len",
            ),
            ("{ \"Dhcp6\": { \"subnet6\": [ { \"subnet\": \"2001:db8:1::/64\" } ] } }".into(), "Dhcp6.subnet6"),
            ("{ \"Dhcp6\": { \"subnet6\": [ { \"id\": 1 } ] } }".into(), "Dhcp6.subnet6[0].subnet"),
        ];
        for (text, path) in cases {
            match translate(&text, &with_role()) {
                Ok(_) => panic!("accepted: {text}"),
                Err(e) => assert_eq!(e.path, path, "{text}\n-> {e}"),
            }
        }
        let ha = "Dhcp6.hooks-libraries[1].parameters.high-availability[0]";
        for (from, to, path) in [
            (
                "http://[2001:db8:ff::2]:8000/",
                "http://server2.example:8000/",
                format!("{ha}.peers[1].url"),
            ),
            ("http://[2001:db8:ff::2]:8000/", "ftp://x/", format!("{ha}.peers[1].url")),
            ("\"role\": \"standby\"", "\"role\": \"primary\"", format!("{ha}.peers")),
            (
                "\"this-server-name\": \"server1\"",
                "\"this-server-name\": \"server9\"",
                format!("{ha}.this-server-name"),
            ),
            ("\"mode\": \"hot-standby\"", "\"mode\": \"passive-backup\"", format!("{ha}.mode")),
            ("\"type\": \"EN\"", "\"type\": \"UUID\"", "Dhcp6.server-id.type".to_owned()),
        ] {
            let text = HA.replacen(from, to, 1);
            assert_ne!(text, HA, "{from}");
            match translate(&text, &ConfigOptions::default()) {
                Ok(_) => panic!("accepted with {to}"),
                Err(e) => assert_eq!(e.path, path, "{to} -> {e}"),
            }
        }
    }

    proptest! {
        #[test]
        fn no_input_makes_the_translation_panic(cut in 0usize..4000, junk in ".{0,40}") {
            let mut text: String = HA.chars().take(cut).collect();
            text.push_str(&junk);
            let _ = translate(&text, &ConfigOptions::default());
            let _ = translate(&junk, &with_role());
        }

        #[test]
        fn no_lease_line_makes_the_parser_panic(line in "[0-9a-f:,.x-]{0,120}") {
            let header = CSV.lines().next().unwrap_or("");
            let _ = parse_leases(&format!("{header}\n{line}\n"), "t.csv");
            let _ = parse_leases(&line, "t.csv");
        }
    }

    fn primary() -> RuntimeConfig {
        match RuntimeConfig::parse(PRIMARY) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    const NOW: u64 = 1_700_000_000;

    fn leases() -> Vec<KeaLease> {
        match parse_leases(CSV, "kea-leases6.csv") {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        }
    }

    fn res(s: &str) -> Resource {
        match s.split_once('/') {
            Some((a, l)) => {
                Resource::Prefix(a.parse().unwrap_or(Ipv6Addr::UNSPECIFIED), l.parse().unwrap_or(0))
            }
            None => Resource::Address(s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)),
        }
    }

    #[test]
    fn the_last_line_of_a_lease_wins_and_the_unusable_are_counted() {
        let cfg = primary();
        let (bindings, report) =
            plan_import(&leases(), &cfg.model, &BTreeMap::new(), Time::from_unix(NOW));
        let got: Vec<String> = bindings.iter().map(|b| b.resource.to_string()).collect();
        assert_eq!(got, ["2001:db8:1::101", "2001:db8:1::107", "2001:db8:100:100::/56"]);
        assert_eq!((report.imported, report.addresses, report.prefixes), (3, 2, 1));
        assert_eq!(report.superseded, 2);
        let count = |s: Skip| report.skipped.get(&s).map_or(0, Vec::len);
        assert_eq!(count(Skip::Released), 1, "{:?}", report.skipped);
        assert_eq!(count(Skip::Declined), 1);
        assert_eq!(count(Skip::Reclaimed), 1);
        assert_eq!(count(Skip::Expired), 1);
        assert_eq!(count(Skip::OutsidePools), 2, "2001:db8:9::1 and a /60 of a /56 pool");
        assert_eq!(count(Skip::Temporary), 1);
        // ::107's last line: its client, IAID 4, and the later expiry.
        let b107 = &bindings[1];
        let key = b107.client.clone().map(|k| (k.duid.to_string(), k.kind, k.iaid));
        assert_eq!(
            key,
            Some(("00:01:00:01:2c:00:00:01:02:00:00:00:00:09".to_owned(), IaKind::Na, 4))
        );
        assert_eq!(b107.client_expiry, Time::from_unix(1_700_003_500));
    }

    #[test]
    fn an_imported_lease_is_exactly_the_cores_grant_at_keas_cltt() {
        let cfg = primary();
        let now = Time::from_unix(NOW);
        let (bindings, _) = plan_import(&leases(), &cfg.model, &BTreeMap::new(), now);
        let l = leases().into_iter().find(|l| l.resource == res("2001:db8:100:100::/56"));
        let Some(l) = l else { panic!("fixture") };
        let cltt = Time::from_unix(l.expire - u64::from(l.valid_lifetime));
        let mut want = Binding::free(l.resource, BindingStatus::Free, cltt);
        want.grant(&l.client, cltt, 3000, 4000, cfg.model.prefix_lifetimes.valid);
        let got = bindings.iter().find(|b| b.resource == l.resource);
        assert_eq!(got, Some(&want));
        let b = &want;
        assert!(b.pending && b.status == BindingStatus::Active && b.is_held(now));
        assert_eq!(b.client_expiry, Time::from_unix(l.expire), "Kea's expiry, not extended");
        assert_eq!(b.acked_partner_lifetime, Time::ZERO, "the partner has acked nothing");
    }

    #[test]
    fn import_writes_the_store_that_restores_and_refuses_a_second_time() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut cfg = primary();
        cfg.data_dir = dir.path().join("data");
        let csv = dir.path().join("kea-leases6.csv");
        std::fs::write(&csv, CSV).unwrap_or_else(|e| panic!("{e}"));
        let now = Time::from_unix(NOW);
        let r = import_leases(std::slice::from_ref(&csv), &cfg, false, now);
        assert_eq!(r.as_ref().map(|r| r.imported).map_err(ToString::to_string), Ok(3));
        let id = StoreIdentity::new(&cfg.model.relationship, cfg.model.role);
        let image = match Store::open(&cfg.store_path(), &id) {
            Ok((_, image)) => image,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(image.bindings.len(), 3);
        assert!(image.state.is_none(), "no endpoint state: the core starts as a new server");
        let (ep, _) = Endpoint::restore(cfg.model.clone(), &image, now);
        for r in ["2001:db8:1::101", "2001:db8:1::107", "2001:db8:100:100::/56"] {
            let b = ep.binding(&res(r));
            assert!(b.is_some_and(|b| b.is_held(now) && b.pending), "{r}: {b:?}");
        }
        // Not twice, unless forced; forced, the same leases are written again (a new version).
        match import_leases(std::slice::from_ref(&csv), &cfg, false, now) {
            Err(ImportError::NotEmpty(_, 3)) => {}
            other => panic!("second import: {other:?}"),
        }
        let r = import_leases(std::slice::from_ref(&csv), &cfg, true, now);
        assert_eq!(r.map(|r| r.imported).map_err(|e| e.to_string()), Ok(3));
        // A store of another role is refused, not overwritten.
        let mut other = cfg.clone();
        other.model.role = Role::Secondary;
        assert!(matches!(
            import_leases(std::slice::from_ref(&csv), &other, true, now),
            Err(ImportError::Store(_))
        ));
    }

    #[test]
    fn a_lease_held_by_another_client_in_the_store_is_not_taken_from_it() {
        let cfg = primary();
        let now = Time::from_unix(NOW);
        let r = res("2001:db8:1::101");
        let other = ClientKey { duid: Duid::new(vec![9, 9, 9]), kind: IaKind::Na, iaid: 1 };
        let mut held = Binding::free(r, BindingStatus::Free, now);
        held.grant(&other, now, 100, 200, 200);
        let existing: BTreeMap<Resource, Binding> = [(r, held)].into_iter().collect();
        let (bindings, report) = plan_import(&leases(), &cfg.model, &existing, now);
        assert!(bindings.iter().all(|b| b.resource != r));
        assert_eq!(report.skipped.get(&Skip::HeldByAnother).map(Vec::len), Some(1));
    }

    #[test]
    fn malformed_lease_files_name_the_line_and_column() {
        let header = CSV.lines().next().unwrap_or("");
        let line = CSV.lines().nth(1).unwrap_or("");
        for (text, path, words) in [
            (String::new(), "f.csv:1", "empty"),
            ("address,duid\n".to_owned(), "f.csv:1", "valid_lifetime"),
            (
                format!(
                    "{header}\n{line}\n{}\n",
                    line.replacen("2001:db8:1::101", "2001:zz::1", 1)
                ),
                "f.csv:3",
                "column address",
            ),
            (
                format!("{header}\n{}\n", line.replacen("00:01:00:01", "0g:01:00:01", 1)),
                "f.csv:2",
                "column duid",
            ),
            (
                format!("{header}\n{}\n", line.replacen(",4000,", ",-5,", 1)),
                "f.csv:2",
                "column valid_lifetime",
            ),
            (
                format!("{header}\n{}\n", line.replacen(",3000,0,1,", ",3000,5,1,", 1)),
                "f.csv:2",
                "column lease_type",
            ),
            (format!("{header}\n2001:db8:1::1,00:01\n"), "f.csv:2", "missing"),
        ] {
            match parse_leases(&text, "f.csv") {
                Ok(l) => panic!("accepted {text:?}: {l:?}"),
                Err(e) => {
                    assert_eq!(e.path, path, "{e}");
                    assert!(e.reason.contains(words), "{e}");
                }
            }
        }
    }
}
