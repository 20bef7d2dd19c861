//! IPV6_PKTINFO on the DHCPv6 sockets: a SOLICIT sent to the server's unicast address reaches
//! the core as `unicast = true` (which the core discards, RFC 8415 §16; see the model's
//! `unicast_solicit_discarded_unicast_request_told_to_use_multicast`), the same SOLICIT sent
//! to ff02::1:2 as `unicast = false`, both on the same interface socket (`SO_BINDTODEVICE`,
//! bound to `::`). A bad datagram is counted, not fatal.
//!
//! Needs root: it creates two network namespaces (`fopk<pid>s`, `fopk<pid>c`) joined by a
//! veth pair and deletes them afterwards. As an ordinary user it prints `SKIPPED ...` and
//! returns; as root or in CI without `ip`/`sysctl` it fails (see `failover_harness::privileged`).

use failover_harness::privileged;
use failover_runtime::config::Interface;
use failover_runtime::driver::DriverMsg;
use failover_runtime::metrics::Metrics;
use nix::sched::{setns, CloneFlags};
use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const PORT: u16 = 547;
const SERVER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 7, 0, 0, 0, 0, 2);
const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 7, 0, 0, 0, 0, 1);

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes the namespaces it names when dropped, also on panic.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn enter(ns: &str) {
    let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns file");
    setns(f, CloneFlags::CLONE_NEWNET).expect("setns");
}

/// SOLICIT: type 1, xid, CLIENTID (DUID-LL), ELAPSED_TIME, IA_NA.
fn solicit(xid: u8) -> Vec<u8> {
    let mut m = vec![1, 0, 0, xid];
    m.extend_from_slice(&[0, 1, 0, 10, 0, 3, 0, 1, 2, 0, 0, 0, 0, xid]);
    m.extend_from_slice(&[0, 8, 0, 2, 0, 0]);
    m.extend_from_slice(&[0, 3, 0, 12, 0, 0, 0, xid, 0, 0, 0, 0, 0, 0, 0, 0]);
    m
}

async fn next_client(
    rx: &mut mpsc::Receiver<DriverMsg>,
) -> failover_model::dhcp::client::ClientRequest {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a client request within 10 s")
            .expect("channel open");
        if let DriverMsg::Client { request, .. } = msg {
            return request;
        }
    }
}

#[test]
fn unicast_and_multicast_solicit_are_told_apart() {
    let name = "failover-runtime::pktinfo::unicast_and_multicast_solicit_are_told_apart";
    if !privileged::can_run(name, true, &["ip", "sysctl"], &[]) {
        return;
    }
    let pid = std::process::id();
    let (s, c) = (format!("fopk{pid}s"), format!("fopk{pid}c"));
    let _guard = Namespaces(vec![s.clone(), c.clone()]);
    for n in [&s, &c] {
        ip(&["netns", "add", n]);
        let ok = Command::new("ip")
            .args(["netns", "exec", n, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"])
            .status()
            .expect("sysctl");
        assert!(ok.success(), "sysctl accept_dad in {n}");
    }
    ip(&["-n", &s, "link", "add", "srv0", "type", "veth", "peer", "name", "cli0", "netns", &c]);
    ip(&["-n", &s, "addr", "add", &format!("{SERVER}/64"), "dev", "srv0", "nodad"]);
    ip(&["-n", &c, "addr", "add", &format!("{CLIENT}/64"), "dev", "cli0", "nodad"]);
    ip(&["-n", &s, "link", "set", "srv0", "up"]);
    ip(&["-n", &c, "link", "set", "cli0", "up"]);

    // Sockets belong to the namespace they were created in: the server's in `s`, the
    // client's in `c`, all from this one thread.
    let worker = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(async move {
            enter(&s);
            let (tx, mut rx) = mpsc::channel(16);
            let metrics = Arc::new(Metrics::new());
            let itf = Interface { name: "srv0".into(), link_address: None };
            failover_runtime::dhcp::start(PORT, &[], &[itf], tx, metrics.clone())
                .expect("dhcp sockets");
            enter(&c);
            let client = UdpSocket::bind(SocketAddrV6::new(CLIENT, 546, 0, 0)).expect("bind 546");
            let cli_index = nix::net::if_::if_nametoindex("cli0").expect("cli0 index");

            // Unicast to the server's address.
            client.send_to(&solicit(1), SocketAddrV6::new(SERVER, PORT, 0, 0)).expect("send");
            let r = next_client(&mut rx).await;
            assert!(r.unicast, "SOLICIT to {SERVER} must be seen as unicast: {r:?}");
            assert_eq!(r.link_address, Some(SERVER), "link from the arrival interface");

            // Garbage is counted and dropped; the socket keeps serving.
            client.send_to(&[1, 2], SocketAddrV6::new(SERVER, PORT, 0, 0)).expect("send");

            // Multicast to All_DHCP_Relay_Agents_and_Servers on cli0 (the scope id). Until neighbour
            // and multicast state settle a datagram can be lost: resend, bounded.
            let group =
                SocketAddrV6::new(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2), PORT, 0, cli_index);
            let mut seen = None;
            let mut last_error = None;
            for _ in 0..20 {
                // Until the link is up the multicast route may be missing (ENETUNREACH).
                if let Err(e) = client.send_to(&solicit(2), group) {
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                if let Ok(Some(DriverMsg::Client { request, .. })) =
                    tokio::time::timeout(Duration::from_millis(500), rx.recv()).await
                {
                    seen = Some(request);
                    break;
                }
            }
            let r = seen.unwrap_or_else(|| panic!("no multicast SOLICIT arrived ({last_error:?})"));
            assert!(!r.unicast, "SOLICIT to ff02::1:2 must be seen as multicast: {r:?}");
            let text = metrics.render();
            assert!(
                text.contains("failoverd_drops_total{reason=\"client_Truncated\"} 1"),
                "{text}"
            );
            assert!(!text.contains("client_no_pktinfo"), "{text}");
        });
    });
    let done = worker.join();
    assert!(done.is_ok(), "the namespace worker failed");
}
