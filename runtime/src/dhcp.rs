//! DHCPv6 over UDP (RFC 8415): sockets in, [`ClientRequest`]s to the driver, replies out.
//!
//! - One socket per configured unicast listen address (relayed messages from relay agents and
//!   unicast clients).
//! - One socket per configured interface, bound to the port on `::` with `SO_BINDTODEVICE`
//!   (so the arrival interface is known) and joined to All_DHCP_Relay_Agents_and_Servers
//!   (ff02::1:2).
//! - Every datagram is decoded by [`decode_client_packet`]; a packet that does not decode is
//!   counted by reason (`drops{reason="client_<Variant>"}`) and dropped. Nothing here panics
//!   on input.
//! - The answer goes to the datagram's source address and port: for a relay agent that is its
//!   address and port 547 (RFC 8415 §19.3, relays send from 547), for a direct client its
//!   port 546. Using the source port keeps test relays on unprivileged ports working.
//!
//! Unicast detection: a datagram is "unicast" (RFC 8415 §16, §18.4: the core may answer
//! UseMulticast) when it arrives on a `listen_addresses` socket. Interface sockets are bound
//! to `::`, so a client unicasting to an address that is not listed there is seen as
//! multicast: telling them apart needs IPV6_PKTINFO, which socket2 does not expose and this
//! crate does not reach for with `unsafe`. List every unicast address in `listen_addresses`.
//!
//! The link address of a direct (non-relayed) message is the interface's configured
//! `link_address`, or its first global address found at start; relayed messages carry theirs.
//!
//! [`ClientRequest`]: failover_model::client::ClientRequest

use crate::config::Interface;
use crate::driver::{DriverMsg, ReplyRoute};
use crate::metrics::Metrics;
use failover_model::wire::client::decode_client_packet;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1).
pub const ALL_DHCP_RELAY_AGENTS_AND_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

/// Requested receive buffer per DHCPv6 socket (the kernel caps it at net.core.rmem_max).
const RECV_BUFFER: usize = 4 << 20;

fn udp_socket() -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    // Room for bursts (many clients renewing at once after a failover); best effort.
    let _ = s.set_recv_buffer_size(RECV_BUFFER);
    Ok(s)
}

/// The interface index, from sysfs.
fn if_index(name: &str) -> std::io::Result<u32> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))?;
    text.trim()
        .parse()
        .map_err(|_| std::io::Error::other(format!("interface {name}: unreadable ifindex")))
}

/// The interface's first global unicast address, from /proc/net/if_inet6.
fn global_address(name: &str) -> Option<Ipv6Addr> {
    let text = std::fs::read_to_string("/proc/net/if_inet6").ok()?;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[5] != name {
            continue;
        }
        let scope = u8::from_str_radix(f[3], 16).ok()?;
        if scope != 0 || f[0].len() != 32 {
            continue;
        }
        let n = u128::from_str_radix(f[0], 16).ok()?;
        return Some(Ipv6Addr::from(n));
    }
    None
}

/// Opens every socket and starts one receive task per socket.
///
/// # Errors
/// A socket cannot be opened, bound or joined.
pub fn start(
    port: u16,
    listen: &[Ipv6Addr],
    interfaces: &[Interface],
    tx: mpsc::Sender<DriverMsg>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    let tags = Arc::new(AtomicU64::new(1));
    for a in listen {
        let sa = SocketAddrV6::new(*a, port, 0, 0);
        let s = udp_socket()?;
        s.bind(&SocketAddr::V6(sa).into())
            .map_err(|e| anyhow::anyhow!("dhcp: cannot bind [{a}]:{port}: {e}"))?;
        let sock = Arc::new(UdpSocket::from_std(s.into())?);
        tracing::info!(address = %a, port, "serving DHCPv6 (unicast and relayed)");
        spawn_rx(sock, true, None, tx.clone(), metrics.clone(), tags.clone());
    }
    for itf in interfaces {
        let idx = if_index(&itf.name)
            .map_err(|e| anyhow::anyhow!("dhcp.interfaces {}: {e}", itf.name))?;
        let sa = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0);
        let s = udp_socket()?;
        s.bind_device(Some(itf.name.as_bytes()))
            .map_err(|e| anyhow::anyhow!("dhcp.interfaces {}: SO_BINDTODEVICE: {e}", itf.name))?;
        s.bind(&SocketAddr::V6(sa).into()).map_err(|e| {
            anyhow::anyhow!("dhcp.interfaces {}: cannot bind [::]:{port}: {e}", itf.name)
        })?;
        s.join_multicast_v6(&ALL_DHCP_RELAY_AGENTS_AND_SERVERS, idx).map_err(|e| {
            anyhow::anyhow!("dhcp.interfaces {}: cannot join ff02::1:2: {e}", itf.name)
        })?;
        let link = itf.link_address.or_else(|| global_address(&itf.name));
        if link.is_none() {
            tracing::warn!(interface = %itf.name, "no global address and no link_address: direct clients get no link");
        }
        let sock = Arc::new(UdpSocket::from_std(s.into())?);
        tracing::info!(interface = %itf.name, port, "serving DHCPv6 (multicast)");
        spawn_rx(sock, false, link, tx.clone(), metrics.clone(), tags.clone());
    }
    Ok(())
}

/// The variant name of an error (`TooLarge { .. }` → `TooLarge`), for the drop counter.
fn reason_of(e: &impl std::fmt::Debug) -> String {
    let d = format!("{e:?}");
    let name: String = d.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    format!("client_{name}")
}

fn spawn_rx(
    sock: Arc<UdpSocket>,
    unicast: bool,
    link: Option<Ipv6Addr>,
    tx: mpsc::Sender<DriverMsg>,
    metrics: Arc<Metrics>,
    tags: Arc<AtomicU64>,
) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, src) = match sock.recv_from(&mut buf).await {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!("dhcp recv: {e}");
                    metrics.drop_reason("client_recv_error");
                    continue;
                }
            };
            let bytes = buf.get(..n).unwrap_or_default();
            let tag = tags.fetch_add(1, Ordering::Relaxed);
            let mut pkt = match decode_client_packet(bytes, tag, unicast) {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(%src, "bad client packet: {e}");
                    metrics.drop_reason(&reason_of(&e));
                    continue;
                }
            };
            if pkt.request.link_address.is_none() && pkt.context.relays.is_empty() {
                pkt.request.link_address = link;
            }
            let route = ReplyRoute { context: pkt.context, socket: sock.clone(), dest: src };
            match tx.try_send(DriverMsg::Client { request: pkt.request, route }) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => metrics.drop_reason("client_overload"),
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names() {
        #[derive(Debug)]
        #[allow(dead_code)]
        enum E {
            TooLarge { size: usize },
            Duplicate(u16),
        }
        assert_eq!(reason_of(&E::TooLarge { size: 1 }), "client_TooLarge");
        assert_eq!(reason_of(&E::Duplicate(3)), "client_Duplicate");
    }
}
