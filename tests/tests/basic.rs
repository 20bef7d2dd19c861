//! Addresses (IA_NA) and delegated prefixes (IA_PD) obtained and renewed from the primary by
//! real clients: ISC dhclient and Kea's perfdhcp.

use failover_tests::*;
use std::time::Duration;

#[test]
fn dhclient_address_and_prefix_from_the_primary_and_renewed() {
    let _g = serial();
    if !require(
        "failover-tests::basic::dhclient_address_and_prefix_from_the_primary_and_renewed",
        &["ip", "dhclient"],
    ) {
        return;
    }
    let topo = Topology::new(2);
    let (mut p, mut s) = pair_in_normal(&topo);

    let mut na = Dhclient::start(&topo, 0, Ask::Address);
    let mut pd = Dhclient::start(&topo, 1, Ask::Prefix);
    let addr = na.wait_bound(Duration::from_secs(30));
    let prefix = pd.wait_bound(Duration::from_secs(30));
    eprintln!("client 0 holds {addr}, client 1 holds {prefix}");
    let a = addr_bits(&addr);
    assert!(addr.starts_with("2001:db8:1::1"), "address {addr} outside the pool");
    assert_eq!(a & 1, 1, "the primary allocates odd addresses (bit 127 = 1): {addr}");
    assert!(prefix.starts_with("2001:db8:100:") && prefix.ends_with("/56"), "prefix {prefix}");

    // Renewals (T1 = preferred / 2) keep the same lease.
    na.wait_events("RENEW6", 2, Duration::from_secs(40));
    pd.wait_events("RENEW6", 2, Duration::from_secs(40));
    na.assert_only_held(&addr);
    pd.assert_only_held(&prefix);
    // In NORMAL the secondary answers only what is addressed to it: nothing here.
    let replies: f64 = s
        .metrics()
        .lines()
        .filter(|l| l.starts_with("failoverd_client_replies_total"))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum();
    assert!(replies == 0.0, "the secondary answered {replies} client messages in NORMAL");
    // Both servers know both leases (the secondary from BNDUPDs).
    for srv in [&p, &s] {
        for r in [&addr, &prefix] {
            let l = srv.lease_get(r);
            assert_eq!(l.len(), 1, "{:?} does not know {r}: {l:?}", srv.role);
        }
    }
    // dhclient's own lease files record them too.
    let lf = std::fs::read_to_string(&na.leases).unwrap_or_default();
    assert!(lf.contains(&format!("iaaddr {addr} ")), "{addr} not in the lease file:\n{lf}");
    let lf = std::fs::read_to_string(&pd.leases).unwrap_or_default();
    assert!(lf.contains(&format!("iaprefix {prefix} ")), "{prefix} not in the lease file:\n{lf}");
    drop((na, pd));
    p.terminate_and_check_replay();
    s.terminate_and_check_replay();
    // The replay check can fail: one changed output is a divergence.
    p.tamper_trace();
    let (ok, out) = p.replay();
    assert!(!ok && out.contains("DIVERGENCE"), "a tampered trace replayed cleanly:\n{out}");
}

/// A load of clients: perfdhcp -6, SOLICIT/ADVERTISE/REQUEST/REPLY for addresses and prefixes,
/// bounded in exchanges (`-n`) and time (`-p`); every exchange must complete (exit 0, no drops).
#[test]
fn perfdhcp_load_of_clients_from_the_primary() {
    let _g = serial();
    if !require(
        "failover-tests::basic::perfdhcp_load_of_clients_from_the_primary",
        &["ip", "perfdhcp"],
    ) {
        return;
    }
    let topo = Topology::new(1);
    let (mut p, mut s) = pair_in_normal(&topo);

    // Both exchanges (SOLICIT-ADVERTISE and REQUEST-REPLY): all 60 sent and answered, no
    // lease given to two clients.
    let out = perfdhcp(&topo, "c0", &["-e", "address-and-prefix"], 60, 20);
    assert_all_answered(&out, 60);
    let m = p.metrics();
    assert!(metric(&m, "failoverd_active_leases") >= 2.0, "{m}");
    p.terminate_and_check_replay();
    s.terminate_and_check_replay();
}

/// dhcpcd asks for an address and a prefix at once and renews them.
#[test]
fn dhcpcd_address_and_prefix_from_the_primary_and_renewed() {
    let _g = serial();
    if !require(
        "failover-tests::basic::dhcpcd_address_and_prefix_from_the_primary_and_renewed",
        &["ip", "dhcpcd"],
    ) {
        return;
    }
    let topo = Topology::new(1);
    let (mut p, mut s) = pair_in_normal(&topo);
    let mut c = Dhcpcd::start(&topo, 0);
    let renews = |c: &Dhcpcd| {
        c.events().iter().filter(|e| e.get("reason").map(String::as_str) == Some("RENEW6")).count()
    };
    wait_for("two RENEW6 by dhcpcd", Duration::from_secs(40), || {
        assert!(c.proc.running(), "dhcpcd exited");
        renews(&c) >= 2
    });
    let held: Vec<(String, String)> = c
        .events()
        .into_iter()
        .filter(|e| matches!(e.get("reason").map(String::as_str), Some("BOUND6" | "RENEW6")))
        .map(|e| {
            let get = |k: &str| e.get(k).cloned().unwrap_or_default();
            let prefix = format!(
                "{}/{}",
                get("new_dhcp6_ia_pd1_prefix1"),
                get("new_dhcp6_ia_pd1_prefix1_length")
            );
            (get("new_dhcp6_ia_na1_ia_addr1"), prefix)
        })
        .collect();
    eprintln!("dhcpcd held {held:?}");
    let (addr, prefix) = held.first().cloned().expect("a BOUND6");
    assert!(addr.starts_with("2001:db8:1::1"), "address {addr} outside the pool");
    assert_eq!(addr_bits(&addr) & 1, 1, "the primary allocates odd addresses: {addr}");
    assert!(prefix.starts_with("2001:db8:100:") && prefix.ends_with("/56"), "prefix {prefix}");
    assert!(held.iter().all(|h| *h == (addr.clone(), prefix.clone())), "lease changed: {held:?}");
    for srv in [&p, &s] {
        for r in [&addr, &prefix] {
            assert_eq!(srv.lease_get(r).len(), 1, "{:?} does not know {r}", srv.role);
        }
    }
    drop(c);
    p.terminate_and_check_replay();
    s.terminate_and_check_replay();
}

/// A client restarted with its lease file confirms (CONFIRM) and keeps its address; then it
/// releases it (RELEASE) and both servers stop counting it as ACTIVE.
#[test]
fn dhclient_restart_confirms_then_releases() {
    let _g = serial();
    if !require(
        "failover-tests::basic::dhclient_restart_confirms_then_releases",
        &["ip", "dhclient"],
    ) {
        return;
    }
    let topo = Topology::new(1);
    let (mut p, mut s) = pair_in_normal(&topo);
    // The pool hand-off (FREE-BACKUP prefixes for the secondary) is done once in NORMAL; what
    // follows is this one client's traffic.
    p.wait_updates_settled(Duration::from_secs(20));
    s.wait_updates_settled(Duration::from_secs(20));
    let base = p.sent("BNDUPD") + s.sent("BNDUPD");
    let mut c = Dhclient::start(&topo, 0, Ask::Address);
    let addr = c.wait_bound(Duration::from_secs(30));
    wait_for("the lease file has the lease", Duration::from_secs(10), || {
        std::fs::read_to_string(&c.leases).unwrap_or_default().contains(&addr)
    });
    c.proc.kill();
    let before = c.leases_held().len();
    c = Dhclient::start(&topo, 0, Ask::Address);
    wait_for("the restarted client holds a lease again", Duration::from_secs(30), || {
        c.leases_held().len() > before
    });
    eprintln!("events after the restart: {:?}", c.events());
    c.assert_only_held(&addr);
    // The restart was a CONFIRM (RFC 8415 §18.2.3), answered Success by the primary (the
    // secondary in NORMAL answers only messages addressed to it).
    let m = p.metrics();
    assert!(
        metric(&m, "failoverd_client_requests_total{kind=\"CONFIRM\"}") >= 1.0,
        "the primary saw no CONFIRM:\n{m}"
    );
    let confirms = p.trace_replies_to("Confirm");
    assert!(
        confirms.iter().any(|r| r["status"] == "Success"),
        "no CONFIRM answered Success: {confirms:?}"
    );
    wait_for("both servers have the lease ACTIVE", Duration::from_secs(20), || {
        [&p, &s]
            .iter()
            .all(|srv| srv.lease_get(&addr).first().is_some_and(|l| l["status-name"] == "ACTIVE"))
    });
    c.release(&topo, 0);
    wait_for("neither server has the lease ACTIVE after RELEASE", Duration::from_secs(20), || {
        [&p, &s]
            .iter()
            .all(|srv| srv.lease_get(&addr).first().is_none_or(|l| l["status-name"] != "ACTIVE"))
    });
    eprintln!(
        "after RELEASE: primary {:?}",
        p.lease_get(&addr).first().map(|l| l["status-name"].clone())
    );
    // One client, a handful of transactions: a handful of BNDUPDs. (With the core of the
    // `runtime` branch before main's conflict-resolution changes, the partner rejected the
    // RELEASE as a tie and both servers then exchanged about 200 BNDUPDs a second.)
    p.wait_updates_settled(Duration::from_secs(20));
    s.wait_updates_settled(Duration::from_secs(20));
    let n = p.sent("BNDUPD") + s.sent("BNDUPD") - base;
    eprintln!("BNDUPDs for this client: {n}");
    assert!(n <= 20.0, "update storm: {n} BNDUPDs for one client's few transactions");
    p.terminate_and_check_replay();
    s.terminate_and_check_replay();
}

/// Relayed clients: perfdhcp -6 -A 1 wraps every message in a RELAY-FORW (one relay agent);
/// every exchange must come back as a RELAY-REPL perfdhcp accepts (all answered, no
/// duplicates) and the leases are held by the primary and replicated to the secondary.
#[test]
fn perfdhcp_relayed_clients_from_the_primary() {
    let _g = serial();
    if !require(
        "failover-tests::basic::perfdhcp_relayed_clients_from_the_primary",
        &["ip", "perfdhcp"],
    ) {
        return;
    }
    let topo = Topology::new(1);
    let (mut p, mut s) = pair_in_normal(&topo);
    let before = metric(&p.metrics(), "failoverd_active_leases");

    let out = perfdhcp(&topo, "c0", &["-A", "1", "-e", "address-only"], 20, 10);
    assert_all_answered(&out, 20);
    // The relayed REQUESTs were granted: 20 more ACTIVE leases on the primary, and the
    // secondary learns them (BNDUPD).
    let m = p.metrics();
    assert!(metric(&m, "failoverd_active_leases") >= before + 20.0, "{m}");
    wait_for("the secondary holds the relayed clients' leases", Duration::from_secs(30), || {
        metric(&s.metrics(), "failoverd_active_leases") >= before + 20.0
    });
    p.terminate_and_check_replay();
    s.terminate_and_check_replay();
}

/// RFC 8415 §16 end to end: a SOLICIT sent from a client namespace straight to the primary's
/// link-local unicast address is dropped (the primary's `client_silences_total{reason="unicast"}`
/// counts it, no reply), the same SOLICIT sent to ff02::1:2 is answered with an ADVERTISE.
/// The raw client socket is opened by a thread that entered the client's namespace.
#[test]
fn direct_unicast_solicit_dropped_multicast_answered() {
    use failover_model::dhcp::client::{ClientMsgKind, ClientRequest, IaRequest, ReplyKind};
    use failover_model::wire::client::{decode_server_reply, encode_client_request};
    use failover_model::{Duid, IaKind};
    use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};

    let _g = serial();
    if !require("failover-tests::basic::direct_unicast_solicit_dropped_multicast_answered", &["ip"])
    {
        return;
    }
    let topo = Topology::new(1);
    let (mut p, mut s) = pair_in_normal(&topo);
    let silenced = "failoverd_client_silences_total{reason=\"unicast\"}";
    assert_eq!(metric(&p.metrics(), silenced), 0.0);

    let netns = format!("/run/netns/{}", topo.ns("c0"));
    let client = std::thread::spawn(move || {
        let f = std::fs::File::open(&netns).expect("client namespace");
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let idx = nix::net::if_::if_nametoindex("eth0").expect("eth0");
        let sock = UdpSocket::bind("[::]:0").expect("udp");
        sock.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
        (sock, idx)
    })
    .join()
    .expect("client socket thread");
    let (sock, idx) = client;
    let req = ClientRequest {
        tag: 0,
        kind: ClientMsgKind::Solicit,
        client_id: Some(Duid::new(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 0x77])),
        server_id: None,
        rapid_commit: false,
        ias: vec![IaRequest { kind: IaKind::Na, iaid: 7, leases: vec![] }],
        link_address: None,
        unicast: false,
        oro: Vec::new(),
    };
    let solicit = encode_client_request(&req, [7, 7, 7]).expect("encode");
    let reply = |sock: &UdpSocket| {
        let mut buf = [0u8; 4096];
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        decode_server_reply(buf.get(..n)?).ok().map(|(r, _)| r)
    };

    // Unicast to the primary's link-local address on the shared link.
    let primary = SocketAddrV6::new(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1), 547, 0, idx);
    wait_for("the primary drops a unicast SOLICIT and counts it", Duration::from_secs(20), || {
        let _ = sock.send_to(&solicit, primary);
        let r = reply(&sock);
        assert!(r.is_none(), "a unicast SOLICIT was answered: {r:?}");
        metric(&p.metrics(), silenced) >= 1.0
    });

    // The same SOLICIT to All_DHCP_Relay_Agents_and_Servers.
    let group = SocketAddrV6::new(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2), 547, 0, idx);
    let mut advertise = None;
    wait_for("an ADVERTISE for the multicast SOLICIT", Duration::from_secs(20), || {
        let _ = sock.send_to(&solicit, group);
        advertise = reply(&sock);
        advertise.is_some()
    });
    let adv = advertise.expect("answered");
    assert_eq!(adv.kind, ReplyKind::Advertise, "{adv:?}");
    assert_eq!(adv.server_id, Duid::new(vec![0, 2, 0, 0, 0x09, 0xbf, 0xe2, 0xe0, 0, 1]));
    p.terminate_and_check_replay();
    s.terminate_and_check_replay();
}
