//! Failover with real clients: the primary crashes, the servers' link is cut, the secondary
//! loses its lease store.

use failover_tests::*;
use std::collections::BTreeSet;
use std::time::Duration;

const STATE: Duration = Duration::from_secs(45);
const RECOVERY: Duration = Duration::from_secs(120);
const LEASE: Duration = Duration::from_secs(30);

fn pair(topo: &Topology, t: &Timers) -> (Server, Server) {
    let mut p = Server::configure(topo, Role::Primary, t);
    let mut s = Server::configure(topo, Role::Secondary, t);
    s.start();
    p.start();
    p.wait_state("NORMAL", STATE);
    s.wait_state("NORMAL", STATE);
    (p, s)
}

/// SIGKILL of the primary: the secondary goes to COMMUNICATIONS-INTERRUPTED and clients keep
/// their leases by REBIND (lifetimes within the MCLT); after `partner-down` a new client is
/// served; the primary restarts on the same data and both return to NORMAL; nobody moved.
#[test]
fn primary_crash_partner_down_and_recovery() {
    let _g = serial();
    if !require(
        "failover-tests::failover::primary_crash_partner_down_and_recovery",
        &["ip", "dhclient"],
    ) {
        return;
    }
    let topo = Topology::new(3);
    let t = Timers::default();
    let (mut p, mut s) = pair(&topo, &t);
    let mut na = Dhclient::start(&topo, 0, Ask::Address);
    let mut pd = Dhclient::start(&topo, 1, Ask::Prefix);
    let addr = na.wait_bound(LEASE);
    let prefix = pd.wait_bound(LEASE);
    wait_for("the secondary knows both leases", STATE, || {
        s.lease_get(&addr).len() == 1 && s.lease_get(&prefix).len() == 1
    });

    p.kill();
    s.wait_state("COMMUNICATIONS-INTERRUPTED", STATE);
    // The clients' RENEWs go to the dead primary; at T2 they REBIND and the secondary answers.
    let (na_rebinds, pd_rebinds) = (na.count("REBIND6"), pd.count("REBIND6"));
    na.wait_events("REBIND6", na_rebinds + 1, Duration::from_secs(60));
    pd.wait_events("REBIND6", pd_rebinds + 1, Duration::from_secs(60));
    na.assert_only_held(&addr);
    pd.assert_only_held(&prefix);
    for c in [&na, &pd] {
        for e in c.events().iter().filter(|e| e.reason == "REBIND6") {
            let valid: u32 = e.valid.parse().unwrap_or(u32::MAX);
            assert!(
                valid <= t.mclt,
                "COMMUNICATIONS-INTERRUPTED gave {} a lifetime beyond the MCLT: {e:?}",
                c.proc.name
            );
        }
    }

    let r = s.ctl("partner-down", serde_json::json!({})).expect("partner-down answered");
    assert_eq!(r["result"], 0, "{r}");
    s.wait_state("PARTNER-DOWN", STATE);
    let mut new = Dhclient::start(&topo, 2, Ask::Address);
    let new_addr = new.wait_bound(LEASE);
    assert_ne!(new_addr, addr, "two clients hold {addr}");
    assert_eq!(s.lease_get(&new_addr).len(), 1, "the secondary does not know {new_addr}");

    p.start();
    p.wait_state("NORMAL", RECOVERY);
    s.wait_state("NORMAL", RECOVERY);
    for (srv, r) in [(&p, &addr), (&p, &prefix), (&p, &new_addr)] {
        assert_eq!(srv.lease_get(r).len(), 1, "the restarted primary does not know {r}");
    }
    // One more renewal for everyone, now in NORMAL: still the same leases.
    let counts = [na.count("RENEW6"), pd.count("RENEW6"), new.count("RENEW6")];
    for (c, n) in [(&na, counts[0]), (&pd, counts[1]), (&new, counts[2])] {
        c.wait_events("RENEW6", n + 1, Duration::from_secs(60));
    }
    na.assert_only_held(&addr);
    pd.assert_only_held(&prefix);
    new.assert_only_held(&new_addr);
    drop((na, pd, new));
    // The secondary's recording spans the crash, COMMUNICATIONS-INTERRUPTED, PARTNER-DOWN and
    // the reintegration; the primary's starts from the image it restored.
    p.terminate_and_check_replay();
    s.terminate_and_check_replay();
}

/// The servers' link is cut while clients reach both: each serves new clients from its own
/// pool only (primary odd, secondary even), no lease is held twice, and the pair reintegrates
/// to NORMAL when the link returns.
#[test]
fn partition_own_pools_no_duplicates_and_reintegration() {
    let _g = serial();
    if !require(
        "failover-tests::failover::partition_own_pools_no_duplicates_and_reintegration",
        &["ip", "dhclient", "perfdhcp"],
    ) {
        return;
    }
    let topo = Topology::new(5);
    let t = Timers { equal_preference: true, ..Timers::default() };
    let (mut p, mut s) = pair(&topo, &t);

    topo.cut_partner_link();
    p.wait_state("COMMUNICATIONS-INTERRUPTED", STATE);
    s.wait_state("COMMUNICATIONS-INTERRUPTED", STATE);

    let mut clients: Vec<Dhclient> = (0..4)
        .map(|i| Dhclient::start(&topo, i, if i == 3 { Ask::Prefix } else { Ask::Address }))
        .collect();
    let held: Vec<String> = clients.iter_mut().map(|c| c.wait_bound(LEASE)).collect();
    eprintln!("held during the partition: {held:?}");
    let unique: BTreeSet<&String> = held.iter().collect();
    assert_eq!(unique.len(), held.len(), "a lease held by two clients: {held:?}");
    for r in &held {
        let (in_p, in_s) = (p.lease_get(r).len(), s.lease_get(r).len());
        assert_eq!(
            in_p + in_s,
            1,
            "{r}: known by primary {in_p}, secondary {in_s} during the partition"
        );
        if !r.contains('/') {
            let odd = addr_bits(r) & 1 == 1;
            assert_eq!(
                odd,
                in_p == 1,
                "{r} served from the wrong pool (primary odd, secondary even)"
            );
        }
    }
    // A load of clients against both: perfdhcp takes the first ADVERTISE, from either server.
    let _ = perfdhcp(&topo, "c4", &["-e", "address-and-prefix"], 40, 20);
    // The whole pool, as each server sees it: the primary's ACTIVE addresses are odd, the
    // secondary's even, and so no address is ACTIVE on both.
    let (ap, as_) = (p.active_addresses(), s.active_addresses());
    eprintln!("ACTIVE during the partition: primary {}, secondary {}", ap.len(), as_.len());
    assert!(!ap.is_empty() && !as_.is_empty(), "both should have served: {ap:?} {as_:?}");
    for (a, duid) in &ap {
        assert_eq!(addr_bits(a) & 1, 1, "the primary gave {a} (even) to {duid}");
    }
    for (a, duid) in &as_ {
        assert_eq!(addr_bits(a) & 1, 0, "the secondary gave {a} (odd) to {duid}");
    }
    // Delegated prefixes (proportional allocation): each server only from its own share, so no
    // /56 is ACTIVE on both.
    let (pp, ps) = (p.active_prefixes(), s.active_prefixes());
    eprintln!("ACTIVE prefixes during the partition: primary {}, secondary {}", pp.len(), ps.len());
    assert!(!pp.is_empty() && !ps.is_empty(), "both should have delegated: {pp:?} {ps:?}");
    let both: Vec<&(String, String)> =
        pp.iter().filter(|(x, _)| ps.iter().any(|(y, _)| x == y)).collect();
    assert!(both.is_empty(), "prefixes ACTIVE on both servers: {both:?}");

    topo.restore_partner_link();
    p.wait_state("NORMAL", RECOVERY);
    s.wait_state("NORMAL", RECOVERY);
    for r in &held {
        wait_for(&format!("both servers know {r}"), STATE, || {
            p.lease_get(r).len() == 1 && s.lease_get(r).len() == 1
        });
    }
    for (c, r) in clients.iter().zip(&held) {
        let n = c.count("RENEW6");
        c.wait_events("RENEW6", n + 1, Duration::from_secs(60));
        c.assert_only_held(r);
    }
    drop(clients);
    p.terminate_and_check_replay();
    s.terminate_and_check_replay();
}

/// A secondary restarted with an EMPTY data directory learns every lease again from the
/// primary (it asks with UPDREQALL) and the pair returns to NORMAL.
#[test]
fn secondary_with_empty_store_recovers_with_updreqall() {
    let _g = serial();
    if !require(
        "failover-tests::failover::secondary_with_empty_store_recovers_with_updreqall",
        &["ip", "dhclient"],
    ) {
        return;
    }
    let topo = Topology::new(2);
    let t = Timers::default();
    let (mut p, mut s) = pair(&topo, &t);
    let mut na = Dhclient::start(&topo, 0, Ask::Address);
    let mut pd = Dhclient::start(&topo, 1, Ask::Prefix);
    let addr = na.wait_bound(LEASE);
    let prefix = pd.wait_bound(LEASE);

    s.kill();
    std::fs::remove_dir_all(&s.data_dir).expect("remove the secondary's data");
    assert!(!s.data_dir.exists());
    s.start();
    s.wait_state("NORMAL", RECOVERY);
    p.wait_state("NORMAL", RECOVERY);
    for r in [&addr, &prefix] {
        wait_for(&format!("the secondary knows {r} again"), STATE, || s.lease_get(r).len() == 1);
    }
    let m = s.metrics();
    let updreqall: f64 = m
        .lines()
        .filter(|l| {
            l.starts_with("failoverd_partner_messages_out_total") && l.contains("UPDREQALL")
        })
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum();
    assert!(updreqall >= 1.0, "the secondary sent no UPDREQALL:\n{m}");
    let log = s.log_text();
    for st in ["RECOVER", "RECOVER-WAIT", "RECOVER-DONE"] {
        assert!(log.contains(&format!("to=\"{st}\"")), "the secondary never entered {st}:\n{log}");
    }
    na.assert_only_held(&addr);
    pd.assert_only_held(&prefix);
    drop((na, pd));
    p.terminate_and_check_replay();
    s.terminate_and_check_replay();
}

/// Writes a CA and one certificate per server into the topology's directory (rcgen, at test
/// time): each names its failover address as an IP subjectAltName and may serve both ends of
/// a TLS connection (serverAuth, clientAuth). Returns (ca, [(cert, key) primary, secondary]).
fn tls_files(
    topo: &Topology,
) -> (std::path::PathBuf, [(std::path::PathBuf, std::path::PathBuf); 2]) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "failover e2e CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("ca key");
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let ca_path = topo.path("ca.pem");
    std::fs::write(&ca_path, ca_cert.pem()).expect("write ca");
    let issuer = Issuer::new(ca, ca_key);
    let make = |name: &str, ip: &str| {
        let mut p = CertificateParams::new(vec![ip.to_owned()]).expect("params");
        p.distinguished_name.push(DnType::CommonName, name);
        p.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("key");
        let cert = p.signed_by(&key, &issuer).expect("sign");
        let (c, k) = (topo.path(&format!("{name}.crt")), topo.path(&format!("{name}.key")));
        std::fs::write(&c, cert.pem()).expect("write cert");
        std::fs::write(&k, key.serialize_pem()).expect("write key");
        (c, k)
    };
    let p = make("primary", "2001:db8:ff::1");
    let s = make("secondary", "2001:db8:ff::2");
    (ca_path, [p, s])
}

/// Mutual TLS on the partner link (STARTTLS, RFC 8156 §10) with certificates made at test
/// time: both reach NORMAL over TLS, and a lease dhclient gets from the primary reaches the
/// secondary's store (BNDUPD inside TLS).
#[test]
fn tls_partner_link_reaches_normal_and_replicates_leases() {
    let _g = serial();
    if !require(
        "failover-tests::failover::tls_partner_link_reaches_normal_and_replicates_leases",
        &["ip", "dhclient"],
    ) {
        return;
    }
    let topo = Topology::new(1);
    let t = Timers::default();
    let (ca, [(pc, pk), (sc, sk)]) = tls_files(&topo);
    let mut p = Server::configure(&topo, Role::Primary, &t);
    let mut s = Server::configure(&topo, Role::Secondary, &t);
    p.use_tls(&ca, &pc, &pk);
    s.use_tls(&ca, &sc, &sk);
    s.start();
    p.start();
    p.wait_state("NORMAL", STATE);
    s.wait_state("NORMAL", STATE);
    for srv in [&p, &s] {
        let st = srv.status();
        assert_eq!(st["tls"], true, "{:?} is not on TLS: {st}", srv.role);
        assert_eq!(st["transport-connected"], true, "{:?}: {st}", srv.role);
    }
    let mut c = Dhclient::start(&topo, 0, Ask::Address);
    let addr = c.wait_bound(LEASE);
    wait_for("the secondary has the primary's lease ACTIVE", STATE, || {
        s.lease_get(&addr).first().is_some_and(|l| l["status-name"] == "ACTIVE")
    });
    c.proc.kill();
    p.terminate_and_check_replay();
    s.terminate_and_check_replay();
}
