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
//! Unicast detection: every socket has `IPV6_RECVPKTINFO` on (nix's safe `setsockopt`), and
//! datagrams are read with `recvmsg` (driven by tokio's readiness, `UdpSocket::async_io`), so
//! each one comes with its real destination address and arrival interface (`in6_pktinfo`).
//! A datagram is "unicast" when its destination is not a multicast address; the core then
//! discards a direct SOLICIT, CONFIRM, REBIND or INFORMATION-REQUEST (RFC 8415 §16) and answers
//! a direct REQUEST, RENEW, RELEASE or DECLINE with UseMulticast (§18.4). Relayed messages are
//! never "unicast" (the decoder clears the flag). Should the kernel not deliver the control
//! message (it always does on Linux), the socket's kind decides (listen socket: unicast,
//! interface socket: multicast) and `drops_total{reason="client_no_pktinfo"}` counts it, the
//! datagram is still served.
//!
//! The link address of a direct (non-relayed) message is the arrival interface's configured
//! `link_address`, or its first global address found at start (for a `listen_addresses` socket
//! the interface is looked up by the pktinfo index among `[[dhcp.interfaces]]`); relayed
//! messages carry theirs.
//!
//! [`ClientRequest`]: failover_model::dhcp::client::ClientRequest

use crate::config::Interface;
use crate::driver::{DriverMsg, ReplyRoute};
use crate::metrics::Metrics;
use failover_model::wire::client::decode_client_packet;
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn6};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::io::IoSliceMut;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::Interest;
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
    // The destination address and arrival interface of every datagram (RFC 3542 §6).
    setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true).map_err(std::io::Error::from)?;
    // Room for bursts (many clients renewing at once after a failover); best effort.
    let _ = s.set_recv_buffer_size(RECV_BUFFER);
    Ok(s)
}

/// The interface index (`if_nametoindex`, in the caller's network namespace).
fn if_index(name: &str) -> std::io::Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(std::io::Error::from)
}

/// The interface's first global unicast address (`getifaddrs`, in the caller's network
/// namespace): not loopback, link-local or multicast.
fn global_address(name: &str) -> Option<Ipv6Addr> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    addrs
        .filter(|a| a.interface_name == name)
        .filter_map(|a| a.address.and_then(|s| s.as_sockaddr_in6().map(|s6| s6.ip())))
        .find(|ip| {
            !ip.is_loopback()
                && !ip.is_multicast()
                && !ip.is_unspecified()
                && (ip.segments()[0] & 0xffc0) != 0xfe80
        })
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
    // Interface index -> link address of direct clients, for the pktinfo of listen sockets.
    let mut links = HashMap::new();
    for itf in interfaces {
        let idx = if_index(&itf.name)
            .map_err(|e| anyhow::anyhow!("dhcp.interfaces {}: {e}", itf.name))?;
        if let Some(link) = itf.link_address.or_else(|| global_address(&itf.name)) {
            links.insert(idx, link);
        }
    }
    let links = Arc::new(links);
    for a in listen {
        let sa = SocketAddrV6::new(*a, port, 0, 0);
        let s = udp_socket()?;
        s.bind(&SocketAddr::V6(sa).into())
            .map_err(|e| anyhow::anyhow!("dhcp: cannot bind [{a}]:{port}: {e}"))?;
        let sock = Arc::new(UdpSocket::from_std(s.into())?);
        tracing::info!(address = %a, port, "serving DHCPv6 (unicast and relayed)");
        let rx = Rx { unicast: true, link: None, links: links.clone() };
        spawn_rx(sock, rx, tx.clone(), metrics.clone(), tags.clone());
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
        let rx = Rx { unicast: false, link, links: links.clone() };
        spawn_rx(sock, rx, tx.clone(), metrics.clone(), tags.clone());
    }
    Ok(())
}

/// The variant name of an error (`TooLarge { .. }` → `TooLarge`), for the drop counter.
fn reason_of(e: &impl std::fmt::Debug) -> String {
    let d = format!("{e:?}");
    let name: String = d.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    format!("client_{name}")
}

/// One datagram's addressing, from `recvmsg` and its `IPV6_PKTINFO` control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Octets received.
    pub len: usize,
    /// The sender (with its scope id for link-local addresses).
    pub src: SocketAddrV6,
    /// The destination address the datagram was sent to, if the kernel said.
    pub dst: Option<Ipv6Addr>,
    /// The interface it arrived on, if the kernel said.
    pub ifindex: Option<u32>,
}

impl Arrival {
    /// Whether it was sent to a unicast address; `fallback` if the destination is unknown.
    #[must_use]
    pub fn unicast(&self, fallback: bool) -> bool {
        self.dst.map_or(fallback, |d| !d.is_multicast())
    }
}

/// One non-blocking `recvmsg` with room for an `in6_pktinfo`.
fn recv_with_pktinfo(fd: RawFd, buf: &mut [u8]) -> std::io::Result<Arrival> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo);
    let msg = recvmsg::<SockaddrIn6>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT)
        .map_err(std::io::Error::from)?;
    let src = msg
        .address
        .map(SocketAddrV6::from)
        .ok_or_else(|| std::io::Error::other("datagram without an IPv6 source address"))?;
    let mut arrival = Arrival { len: msg.bytes, src, dst: None, ifindex: None };
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::Ipv6PacketInfo(info) = c {
                arrival.dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                arrival.ifindex = Some(info.ipi6_ifindex);
            }
        }
    }
    Ok(arrival)
}

/// Receives one datagram on a socket with `IPV6_RECVPKTINFO` on, waiting for it.
///
/// # Errors
/// The socket's receive error.
pub async fn recv_arrival(sock: &UdpSocket, buf: &mut [u8]) -> std::io::Result<Arrival> {
    sock.async_io(Interest::READABLE, || recv_with_pktinfo(sock.as_raw_fd(), buf)).await
}

/// How a socket's datagrams are classified.
struct Rx {
    /// Unicast when the pktinfo is missing (listen sockets: true).
    unicast: bool,
    /// Link address of direct clients on this socket's interface (interface sockets).
    link: Option<Ipv6Addr>,
    /// Link addresses by interface index (for listen sockets).
    links: Arc<HashMap<u32, Ipv6Addr>>,
}

fn spawn_rx(
    sock: Arc<UdpSocket>,
    rx: Rx,
    tx: mpsc::Sender<DriverMsg>,
    metrics: Arc<Metrics>,
    tags: Arc<AtomicU64>,
) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let arrival = match recv_arrival(&sock, &mut buf).await {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!("dhcp recv: {e}");
                    metrics.drop_reason("client_recv_error");
                    continue;
                }
            };
            if arrival.dst.is_none() {
                metrics.drop_reason("client_no_pktinfo");
            }
            let src = SocketAddr::V6(arrival.src);
            let unicast = arrival.unicast(rx.unicast);
            let bytes = buf.get(..arrival.len).unwrap_or_default();
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
                let by_index = arrival.ifindex.and_then(|i| rx.links.get(&i).copied());
                pkt.request.link_address = rx.link.or(by_index);
            }
            tracing::trace!(%src, dst = ?arrival.dst, ifindex = ?arrival.ifindex, unicast, tag, "client packet");
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
