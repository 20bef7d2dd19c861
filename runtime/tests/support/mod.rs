//! Helpers shared by the runtime's process tests (`process.rs`, `import_kea.rs`): free
//! loopback ports, control calls with a time limit, and polling until a condition holds.

use serde_json::Value;
use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

/// A UDP port free on `[::1]` now.
pub fn free_udp() -> u16 {
    UdpSocket::bind("[::1]:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("udp port")
}

/// A TCP port free on `[::1]` now.
pub fn free_tcp() -> u16 {
    std::net::TcpListener::bind("[::1]:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("tcp port")
}

/// One control command on `socket`, answered within 3 s, or `None`.
pub fn ctl(socket: &Path, command: &str, args: Value) -> Option<Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
    rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(3),
            failover_runtime::control::call(socket, command, args),
        )
        .await
        .ok()?
        .ok()
    })
}

/// Polls `f` every 100 ms until it holds or `limit` has passed; its last answer.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

/// One relayed exchange: `req` in a RELAY-FORW from `peer` on link 2001:db8:1::1 (hop count
/// 0) to each of `servers`, and the first answer's granted resources (valid lifetime > 0), or
/// `None` if no answer came within the socket's read timeout.
pub fn relay_exchange(
    relay: &UdpSocket,
    req: &failover_model::dhcp::client::ClientRequest,
    xid: [u8; 3],
    peer: std::net::Ipv6Addr,
    servers: &[std::net::SocketAddr],
) -> Option<Vec<failover_model::Resource>> {
    use failover_model::wire::client::{
        decode_server_reply, encode_client_request, unwrap_relay_repl, wrap_relay_forw,
    };
    let link = std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
    let inner = encode_client_request(req, xid).expect("encode");
    let pkt = wrap_relay_forw(&inner, 0, link, peer, None).expect("wrap");
    for s in servers {
        let _ = relay.send_to(&pkt, s);
    }
    let mut buf = [0u8; 4096];
    let (n, _) = relay.recv_from(&mut buf).ok()?;
    let (inner, _) = unwrap_relay_repl(&buf[..n]).ok()?;
    let (reply, _) = decode_server_reply(&inner).ok()?;
    Some(
        reply
            .ias
            .iter()
            .flat_map(|ia| ia.leases.iter())
            .filter(|l| l.valid_lifetime > 0)
            .map(|l| l.resource)
            .collect(),
    )
}
