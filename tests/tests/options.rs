//! The configuration options of a reply (RFC 8415 §18.3, §21.7) as an outside decoder reads
//! them: the core chooses them ([`Options::select`]), our codec encodes the REPLY, and
//! Wireshark's DHCPv6 dissector (`tshark`) decodes the octets from a pcap file.

use failover_harness::privileged;
use failover_model::dhcp::client::{ClientMsgKind, ClientReply, ReplyKind};
use failover_model::dhcp::options::{DomainName, NtpServer, Options};
use failover_model::resource::Duid;
use failover_model::wire::client::{encode_client_reply, ReplyContext};
use failover_tests::{require, serial, sh, wait_for, Proc, Role, Server, Timers, Topology};
use std::net::Ipv6Addr;
use std::process::Command;
use std::time::Duration;

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}

/// The ones' complement sum of 16-bit words (RFC 1071).
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    for c in data.chunks(2) {
        let w = u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]);
        acc += u32::from(w);
    }
    acc
}

/// A pcap file (LINKTYPE_RAW) holding one IPv6/UDP datagram from the server (547) to the
/// client (546) carrying `payload`, with a correct UDP checksum (RFC 8200 §8.1).
fn pcap(payload: &[u8]) -> Vec<u8> {
    let (src, dst) = (a("fe80::1"), a("fe80::2"));
    let udp_len = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
    let mut udp = Vec::new();
    udp.extend_from_slice(&547u16.to_be_bytes());
    udp.extend_from_slice(&546u16.to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut acc = sum16(&src.octets(), 0);
    acc = sum16(&dst.octets(), acc);
    acc += u32::from(udp_len) + 17;
    acc = sum16(&udp, acc);
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    let ck = !u16::try_from(acc).unwrap_or(0);
    let ck = if ck == 0 { 0xffff } else { ck };
    udp[6..8].copy_from_slice(&ck.to_be_bytes());
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&udp_len.to_be_bytes());
    ip.extend_from_slice(&[17, 64]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    ip.extend_from_slice(&udp);
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65_535, 101] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    let len = u32::try_from(ip.len()).unwrap_or(0);
    for v in [1_700_000_000u32, 0, len, len] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    f.extend_from_slice(&ip);
    f
}

/// tshark's verbose dissection of one encoded message.
fn dissect(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("reply.pcap");
    std::fs::write(&file, pcap(bytes)).expect("pcap written");
    let out = Command::new("tshark")
        .args(["-n", "-V", "-o", "udp.check_checksum:TRUE", "-r"])
        .arg(&file)
        .output()
        .expect("tshark runs");
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn configured() -> Options {
    Options {
        dns_servers: Some(vec![a("2001:db8::53"), a("2001:db8::5353")]),
        domain_search: Some(vec![
            DomainName::new("example.org"),
            DomainName::new("corp.example.org"),
        ]),
        sntp_servers: Some(vec![a("2001:db8::7b")]),
        ntp_servers: Some(vec![
            NtpServer::Address(a("2001:db8::123")),
            NtpServer::Multicast(a("ff05::101")),
            NtpServer::Fqdn(DomainName::new("ntp.example.org")),
        ]),
        information_refresh_time: Some(86_400),
        sol_max_rt: Some(3600),
        inf_max_rt: Some(7200),
        preference: Some(200),
        always_send: None,
    }
}

#[test]
fn tshark_decodes_the_options_of_an_information_request_reply() {
    if !privileged::can_run(
        "failover-tests::options::tshark_decodes_the_options_of_an_information_request_reply",
        false,
        &["tshark"],
        &[],
    ) {
        return;
    }
    let oro = [23, 24, 31, 32, 56, 82, 83];
    let options = configured().select(ClientMsgKind::InformationRequest, ReplyKind::Reply, &oro);
    assert_eq!(options.len(), 7);
    let reply = ClientReply {
        tag: 0,
        kind: ReplyKind::Reply,
        client_id: Some(Duid::new([0, 3, 0, 1, 2, 0, 0, 0, 0, 9])),
        server_id: Duid::new([0, 2, 0, 0, 9, 0xbf, 1]),
        rapid_commit: false,
        status: None,
        ias: vec![],
        preference: None,
        options,
    };
    let ctx =
        ReplyContext { xid: [0xab, 0xcd, 0xef], msg_type: 11, relays: vec![], oro: oro.to_vec() };
    let bytes = encode_client_reply(&reply, &ctx).expect("encoded");
    let text = dissect(&bytes);
    for want in TSHARK_REPLY {
        assert!(text.contains(want), "tshark does not show {want:?}:\n{text}");
    }
    for never in ["Malformed", "Expert Info (Error", "Bad checksum", "[Unknown"] {
        assert!(!text.contains(never), "tshark shows {never:?}:\n{text}");
    }
}

/// What tshark prints for the REPLY above (Wireshark's DHCPv6 dissector field labels).
const TSHARK_REPLY: &[&str] = &["Message type: Reply (7)", "Transaction ID: 0xabcdef"];

/// The `[options]` both servers of the e2e pair send.
const OPTIONS_TOML: &str = "\n[options]\n\
    dns_servers = [\"2001:db8::53\", \"2001:db8::5353\"]\n\
    domain_search = [\"example.org\", \"corp.example.org\"]\n\
    sntp_servers = [\"2001:db8::7b\"]\n\
    information_refresh_time = 3600\n";

/// Stateless DHCPv6 (RFC 8415 §18.3.6) with a real client: ISC dhclient `-6 -S` sends
/// INFORMATION-REQUEST asking (ORO) for DNS servers, the search list and SNTP servers, and
/// its script receives what the primary configured. The secondary, renew-responsive in
/// NORMAL (RFC 8156 §3), does not answer a request that does not name it.
#[test]
fn dhclient_stateless_gets_dns_servers_and_search_list() {
    let _g = serial();
    if !require(
        "failover-tests::options::dhclient_stateless_gets_dns_servers_and_search_list",
        &["ip", "dhclient"],
    ) {
        return;
    }
    let topo = Topology::new(1);
    let t = Timers::default();
    let mut p = Server::configure(&topo, Role::Primary, &t);
    let mut s = Server::configure(&topo, Role::Secondary, &t);
    for srv in [&p, &s] {
        let text = std::fs::read_to_string(&srv.config).expect("config") + OPTIONS_TOML;
        std::fs::write(&srv.config, text).expect("config written");
    }
    s.start();
    p.start();
    p.wait_state("NORMAL", Duration::from_secs(30));
    s.wait_state("NORMAL", Duration::from_secs(30));

    let base = topo.path("c0-stateless");
    let (script, conf, events, log) = (
        base.with_extension("script.sh"),
        base.with_extension("conf"),
        base.with_extension("events"),
        base.with_extension("log"),
    );
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$reason|$new_dhcp6_name_servers|$new_dhcp6_domain_search|\
             $new_dhcp6_sntp_servers\" >> {}\nexit 0\n",
            events.display()
        ),
    )
    .expect("script");
    sh(&["chmod", "755", &script.display().to_string()]);
    std::fs::write(&conf, "request dhcp6.name-servers, dhcp6.domain-search, dhcp6.sntp-servers;\n")
        .expect("conf");
    let (lf, pf) = (base.with_extension("leases"), base.with_extension("pid"));
    let args = [
        "dhclient".to_owned(),
        "-6".into(),
        "-S".into(),
        "-d".into(),
        "-v".into(),
        "-cf".into(),
        conf.display().to_string(),
        "-lf".into(),
        lf.display().to_string(),
        "-pf".into(),
        pf.display().to_string(),
        "-sf".into(),
        script.display().to_string(),
        "eth0".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut client = Proc::spawn_in_ns("dhclient -S c0", &topo.ns("c0"), &args, &log);
    let mut line = String::new();
    let inform = || {
        std::fs::read_to_string(&events)
            .unwrap_or_default()
            .lines()
            // dhclient 4.4.3 runs its script with reason RENEW6 for the stateless REPLY.
            .find(|l| l.split('|').nth(1).is_some_and(|v| !v.is_empty()))
            .unwrap_or_default()
            .to_owned()
    };
    // In stateless mode dhclient exits once it has the REPLY (and has run its script).
    wait_for("dhclient's stateless configuration", Duration::from_secs(30), || {
        let running = client.running();
        line = inform();
        assert!(
            !line.is_empty() || running,
            "dhclient exited without configuration: events {:?}, log {}",
            std::fs::read_to_string(&events),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        !line.is_empty()
    });
    eprintln!("dhclient: {line}");
    let f: Vec<&str> = line.split('|').collect();
    assert_eq!(f.get(1).copied(), Some("2001:db8::53 2001:db8::5353"), "{line}");
    let search: Vec<&str> = f.get(2).copied().unwrap_or_default().split_whitespace().collect();
    let search: Vec<&str> = search.iter().map(|n| n.trim_end_matches('.')).collect();
    assert_eq!(search, vec!["example.org", "corp.example.org"], "{line}");
    assert_eq!(f.get(3).copied(), Some("2001:db8::7b"), "{line}");
    drop(client);
    // The primary answered the INFORMATION-REQUEST; the secondary answered nothing.
    let replies = |srv: &Server| -> f64 {
        srv.metrics()
            .lines()
            .filter(|l| l.starts_with("failoverd_client_replies_total"))
            .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
            .sum()
    };
    assert!(replies(&p) >= 1.0, "the primary counted no reply:\n{}", p.metrics());
    assert!(replies(&s) == 0.0, "the secondary answered in NORMAL:\n{}", s.metrics());
    p.terminate_and_check_replay();
    s.terminate_and_check_replay();
}
