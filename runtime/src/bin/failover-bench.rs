//! `failover-bench`: helpers for `bench/run.sh` (not part of the product).
//!
//! - `responder`: a minimal DHCPv6 responder with no state and no store. It decodes each
//!   packet with the same codec as `failoverd` ([`decode_client_packet`]) and answers at once
//!   with a made-up lease per IA (ADVERTISE to SOLICIT, REPLY to everything else). It measures
//!   the client-side ceiling: how fast perfdhcp can drive *any* server on this machine.
//! - `populate`: writes N ACTIVE bindings into the lease store of a configuration, through the
//!   runtime's [`Store`] API in batches (as group commit does), so that `bench/run.sh` can
//!   measure the resident memory of `failoverd` holding them and its restart time.
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::{Parser, Subcommand};
use failover_model::dhcp::client::{ClientMsgKind, ClientReply, GrantedLease, IaReply, ReplyKind};
use failover_model::wire::client::{decode_client_packet, encode_client_reply};
use failover_model::{
    Binding, BindingStatus, ClientKey, Duid, DurableWrite, IaKind, Resource, Time,
};
use failover_runtime::config::RuntimeConfig;
use failover_runtime::store::{Store, StoreIdentity};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(name = "failover-bench", about = "benchmark helpers for bench/run.sh")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Answer DHCPv6 on an interface with made-up leases (no state, no store).
    Responder {
        /// Interface to join ff02::1:2 on.
        #[arg(long)]
        interface: String,
        /// UDP port.
        #[arg(long, default_value_t = 547)]
        port: u16,
        /// Stop after this many seconds (every load is bounded).
        #[arg(long, default_value_t = 600)]
        max_seconds: u64,
    },
    /// Write N ACTIVE bindings into the store of a configuration.
    Populate {
        /// The failoverd configuration whose `data_dir` receives the store.
        #[arg(long)]
        config: PathBuf,
        /// Number of leases.
        #[arg(long)]
        leases: u64,
        /// Leases per durable transaction.
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
    },
    /// Time the phases of a restart from the store of a configuration (open and read the
    /// image, then restore the endpoint), without serving.
    Restore {
        /// The failoverd configuration.
        #[arg(long)]
        config: PathBuf,
    },
}

const SERVER_DUID: [u8; 10] = [0, 2, 0, 0, 0x09, 0xbf, 0xbe, 0x0c, 0, 1];

fn responder(interface: &str, port: u16, max_seconds: u64) -> anyhow::Result<()> {
    let idx: u32 = std::fs::read_to_string(format!("/sys/class/net/{interface}/ifindex"))
        .with_context(|| format!("interface {interface}"))?
        .trim()
        .parse()
        .context("ifindex")?;
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    s.bind_device(Some(interface.as_bytes()))?;
    s.bind(&SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0)).into())?;
    s.join_multicast_v6(&Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2), idx)?;
    s.set_read_timeout(Some(std::time::Duration::from_millis(200)))?;
    let sock: std::net::UdpSocket = s.into();
    let started = Instant::now();
    let mut buf = vec![0u8; 65_536];
    let mut next: u64 = 1;
    let (mut answered, mut dropped) = (0u64, 0u64);
    while started.elapsed().as_secs() < max_seconds {
        let (n, src) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(e.into()),
        };
        let Ok(pkt) = decode_client_packet(buf.get(..n).unwrap_or_default(), next, false) else {
            dropped += 1;
            continue;
        };
        let req = pkt.request;
        let kind = if req.kind == ClientMsgKind::Solicit && !req.rapid_commit {
            ReplyKind::Advertise
        } else {
            ReplyKind::Reply
        };
        let ias = req
            .ias
            .iter()
            .map(|ia| {
                // A lease the client named (Request/Renew), else a made-up one.
                let named = ia.leases.iter().map(|l| l.resource).find(|r| match r {
                    Resource::Address(a) => !a.is_unspecified(),
                    Resource::Prefix(p, _) => !p.is_unspecified(),
                });
                let resource = named.unwrap_or_else(|| {
                    next += 1;
                    let low = u128::from(next);
                    match ia.kind {
                        IaKind::Pd => Resource::Prefix(
                            Ipv6Addr::from((0x2001_0db8_0100_u128 << 80) | (low << 64)),
                            64,
                        ),
                        _ => Resource::Address(Ipv6Addr::from((0x2001_0db8_0001_u128 << 80) | low)),
                    }
                });
                IaReply {
                    kind: ia.kind,
                    iaid: ia.iaid,
                    t1: 1000,
                    t2: 2000,
                    leases: vec![GrantedLease {
                        resource,
                        preferred_lifetime: 3000,
                        valid_lifetime: 4000,
                    }],
                    status: None,
                }
            })
            .collect();
        let reply = ClientReply {
            tag: 0,
            kind,
            client_id: req.client_id,
            server_id: Duid(SERVER_DUID.to_vec()),
            rapid_commit: req.rapid_commit,
            status: None,
            ias,
            preference: None,
            options: Vec::new(),
        };
        match encode_client_reply(&reply, &pkt.context) {
            Ok(bytes) => {
                if sock.send_to(&bytes, src).is_ok() {
                    answered += 1;
                } else {
                    dropped += 1;
                }
            }
            Err(_) => dropped += 1,
        }
    }
    eprintln!("responder: {answered} answered, {dropped} dropped");
    Ok(())
}

fn populate(config: &std::path::Path, leases: u64, batch: usize) -> anyhow::Result<()> {
    let cfg = RuntimeConfig::load(config)?;
    std::fs::create_dir_all(&cfg.data_dir)?;
    let identity = StoreIdentity::new(&cfg.model.relationship, cfg.model.role);
    let (store, image) = Store::open(&cfg.store_path(), &identity)?;
    anyhow::ensure!(image.bindings.is_empty(), "populate wants an empty store");
    let pool = cfg.model.address_pools.first().context("populate needs an address pool")?;
    let first = u128::from(pool.first);
    let last = u128::from(pool.last);
    anyhow::ensure!(last - first + 1 >= u128::from(leases), "the address pool is too small");
    // Seconds since 2000-01-01 UTC.
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .saturating_sub(946_684_800);
    let now = Time(u32::try_from(now_secs).unwrap_or(u32::MAX));
    let valid = 86_400u32;
    let started = Instant::now();
    let mut writes = Vec::with_capacity(batch);
    for i in 0..leases {
        let addr = Ipv6Addr::from(first + u128::from(i));
        let mut duid = vec![0, 3, 0, 1];
        duid.extend_from_slice(&i.to_be_bytes());
        let mut b = Binding::free(Resource::Address(addr), BindingStatus::Active, now);
        b.client = Some(ClientKey { duid: Duid(duid), kind: IaKind::Na, iaid: 1 });
        b.preferred_lifetime = valid / 2;
        b.valid_lifetime = valid;
        b.t1 = valid / 4;
        b.t2 = valid / 2;
        b.cltt = now;
        b.client_expiry = Time(now.0.saturating_add(valid));
        b.acked_partner_lifetime = b.client_expiry;
        b.expiration_time = b.client_expiry;
        writes.push(DurableWrite::Binding(b));
        if writes.len() >= batch {
            store.commit(&writes)?;
            writes.clear();
        }
    }
    store.commit(&writes)?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "populated {leases} leases in {secs:.1} s ({:.0} leases/s, batches of {batch})",
        leases as f64 / secs.max(1e-9)
    );
    Ok(())
}

fn status_mib(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or_else(|| "?".into(), |kb| (kb / 1024).to_string())
}

fn rss_mib() -> String {
    status_mib("VmRSS")
}

fn hwm_mib() -> String {
    status_mib("VmHWM")
}

fn restore(config: &std::path::Path) -> anyhow::Result<()> {
    let cfg = RuntimeConfig::load(config)?;
    let identity = StoreIdentity::new(&cfg.model.relationship, cfg.model.role);
    let t = Instant::now();
    let (store, image) = Store::open(&cfg.store_path(), &identity)?;
    let open = t.elapsed().as_secs_f64();
    let rss_open = rss_mib();
    let t = Instant::now();
    // As `failoverd run` does: the image's bindings move into the endpoint.
    let (ep, outputs) = failover_model::Endpoint::restore_owned(cfg.model.clone(), image, Time(0));
    let restore = t.elapsed().as_secs_f64();
    println!(
        "{} bindings: open+read {open:.2} s (RSS {rss_open} MiB), restore {restore:.2} s (RSS {} MiB, peak {} MiB); {} outputs",
        ep.bindings().count(),
        rss_mib(),
        hwm_mib(),
        outputs.len()
    );
    drop(store);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Responder { interface, port, max_seconds } => responder(&interface, port, max_seconds),
        Cmd::Populate { config, leases, batch } => populate(&config, leases, batch),
        Cmd::Restore { config } => restore(&config),
    }
}
