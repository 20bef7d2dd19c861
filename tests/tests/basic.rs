//! Addresses (IA_NA) and delegated prefixes (IA_PD) obtained and renewed from the primary by
//! real clients: ISC dhclient and Kea's perfdhcp.

use failover_tests::*;
use std::time::Duration;

#[test]
fn dhclient_address_and_prefix_from_the_primary_and_renewed() {
    let _g = serial();
    require(&["ip", "dhclient"]);
    let topo = Topology::new(2);
    let t = Timers::default();
    let mut p = Server::configure(&topo, Role::Primary, &t);
    let mut s = Server::configure(&topo, Role::Secondary, &t);
    s.start();
    p.start();
    p.wait_state("NORMAL", Duration::from_secs(30));
    s.wait_state("NORMAL", Duration::from_secs(30));

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
    // Both servers know both leases (the secondary from BNDUPDs).
    for srv in [&p, &s] {
        for r in [&addr, &prefix] {
            let l = srv.lease_get(r);
            assert_eq!(l.len(), 1, "{:?} does not know {r}: {l:?}", srv.role);
        }
    }
    drop((na, pd));
    p.terminate_and_check_replay();
    s.terminate_and_check_replay();
}
