//! `failoverd import-kea` as an operator runs it: exit statuses, what goes to stderr, the TOML
//! that `--check-config` accepts, and the summary of a lease import.

use failover_harness::{ctl, free_tcp, free_udp, relay_exchange, wait_until, Config, Node, Role};
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kea");

fn failoverd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run failoverd: {e}"));
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!se.contains("panicked"), "failoverd {args:?} panicked:\n{se}");
    (out.status.code().unwrap_or(-1), so, se)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn config_translates_with_warnings_and_the_result_checks() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("primary.toml");
    let kea = format!("{FIXTURES}/ha-hot-standby.json");
    let (code, stdout, stderr) = failoverd(&["import-kea", "config", &kea, "-o", &s(&out)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "with -o the TOML goes to the file: {stdout}");
    let notes: Vec<&str> = stderr.lines().filter(|l| l.starts_with("not translated: ")).collect();
    assert!(
        notes.iter().any(|l| l.starts_with("not translated: Dhcp6.subnet6: 2 subnets")),
        "{stderr}"
    );
    let toml = std::fs::read_to_string(&out).unwrap_or_default();
    for n in &notes {
        let item = n.trim_start_matches("not translated: ");
        assert!(toml.contains(&format!("#   {item}")), "{item} is not in the TOML");
    }
    let (code, stdout, stderr) = failoverd(&["--check-config", &s(&out)]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "Primary of relationship \"server1-server2\", 2 address pool(s), 2 prefix pool(s)"
        ),
        "{stdout}"
    );
    // Without -o the TOML is on stdout, the notes still on stderr.
    let (code, stdout, stderr) =
        failoverd(&["import-kea", "config", &kea, "--role", "secondary", "--mclt", "600"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("role = \"secondary\"") && stdout.contains("mclt = 600"), "{stdout}");
    assert!(!stdout.contains("not translated: "), "{stdout}");
}

#[test]
fn invalid_configurations_exit_2_naming_the_json_path() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let kea =
        std::fs::read_to_string(format!("{FIXTURES}/ha-hot-standby.json")).unwrap_or_default();
    for (from, to, words) in [
        (
            "\"delegated-len\": 56",
            "\"delegated-len\": \"56\"",
            "Dhcp6.subnet6[0].pd-pools[0].delegated-len: ",
        ),
        (
            "\"peers\": [",
            "\"peers\": 3, \"x\": [",
            "high-availability[0].peers: must be a JSON array",
        ),
        ("\"Dhcp6\": {", "\"Dhcp6\": {{", "not JSON"),
    ] {
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, kea.replacen(from, to, 1)).unwrap_or_else(|e| panic!("{e}"));
        let (code, _, stderr) = failoverd(&["import-kea", "config", &s(&bad)]);
        assert_eq!(code, 2, "{to}: {stderr}");
        assert!(stderr.contains(words), "{to}: {stderr}");
    }
    let (code, _, stderr) = failoverd(&["import-kea", "config", "/nonexistent/kea.json"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read"), "{stderr}");
}

#[test]
fn leases_import_once_with_a_summary_then_refuse() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("primary.toml");
    let example = include_str!("../../examples/primary.toml")
        .replace("/tmp/failoverd-example/primary\"", &format!("{}\"", s(&dir.path().join("data"))));
    std::fs::write(&cfg, example).unwrap_or_else(|e| panic!("{e}"));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let duid = "00:01:00:01:2c:00:00:01:02:00:00:00:00:01";
    let header = "address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,\
                  prefix_len,fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,\
                  hwaddr_source";
    let csv = format!(
        "{header}\n\
         2001:db8:1::101,{duid},4000,{live},1,3000,0,1,128,0,0,,,0,,,\n\
         2001:db8:100:100::,{duid},4000,{live},1,3000,2,1,56,0,0,,,0,,,\n\
         2001:db8:1::102,{duid},4000,{gone},1,3000,0,2,128,0,0,,,0,,,\n\
         2001:db8:1::103,{duid},4000,{live},1,3000,0,3,128,0,0,,,1,,,\n",
        live = now + 3000,
        gone = now - 10,
    );
    let file = dir.path().join("kea-leases6.csv");
    std::fs::write(&file, csv).unwrap_or_else(|e| panic!("{e}"));
    let (code, stdout, stderr) =
        failoverd(&["import-kea", "leases", &s(&file), "--config", &s(&cfg)]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("imported 2 lease(s) (1 address(es), 1 prefix(es))"), "{stdout}");
    assert!(stdout.contains("skipped 2;"), "{stdout}");
    assert!(
        stdout.contains("  skipped expired: 1") && stdout.contains("  skipped declined: 1"),
        "{stdout}"
    );
    assert!(stderr.contains("kea-leases6.csv:4 2001:db8:1::102"), "{stderr}");
    let (code, _, stderr) = failoverd(&["import-kea", "leases", &s(&file), "--config", &s(&cfg)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("already holds 2 binding(s)"), "{stderr}");
    let (code, stdout, stderr) =
        failoverd(&["import-kea", "leases", &s(&file), "--config", &s(&cfg), "--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("imported 2 lease(s)"), "{stdout}");
    // A malformed line: exit 2 with FILE:LINE, nothing written (a fresh store stays empty).
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, format!("{header}\n2001:db8:1::101,{duid},x,1,1,1,0,1,128\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg2 = dir.path().join("fresh.toml");
    let fresh = std::fs::read_to_string(&cfg)
        .unwrap_or_default()
        .replace(&s(&dir.path().join("data")), &s(&dir.path().join("fresh")));
    std::fs::write(&cfg2, fresh).unwrap_or_else(|e| panic!("{e}"));
    let (code, _, stderr) = failoverd(&["import-kea", "leases", &s(&bad), "--config", &s(&cfg2)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("bad.csv:2: column valid_lifetime"), "{stderr}");
    assert!(!dir.path().join("fresh/leases.redb").exists(), "a store was created for bad input");
}

/// A pair on loopback (unprivileged ports) whose primary alone got Kea's leases: the
/// secondary learns them from the primary (they are flagged for the partner), and a relayed
/// RENEW of Kea's client gets its same address from the primary.
#[test]
fn leases_imported_into_the_primary_reach_the_secondary_and_renew() {
    use failover_model::dhcp::client::{ClientMsgKind, ClientRequest, IaRequest, RequestedLease};
    use failover_model::{Duid, IaKind, Resource};
    use serde_json::json;
    use std::net::{Ipv6Addr, UdpSocket};
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let fo = free_tcp();
    let exe = Path::new(env!("CARGO_BIN_EXE_failoverd"));
    let mut nodes = Vec::new();
    for role in [Role::Primary, Role::Secondary] {
        // The loopback preset without a prefix pool, trace file or log settings.
        let mut spec = Config::loopback(d, role, fo, "::1", free_udp());
        spec.relationship = "kea".into();
        spec.trace_file = None;
        spec.log_level = None;
        spec.prefix_pool = None;
        let cfg = d.join(format!("{}.toml", role.name()));
        nodes.push(Node::write(exe, spec, cfg).unwrap_or_else(|e| panic!("{e}")));
    }
    // Kea's lease of a client (DUID-LL, IAID 7): an even address, the secondary's half.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|x| x.as_secs()).unwrap_or(0);
    let client = "00:03:00:01:02:00:00:00:00:07";
    let csv = d.join("kea-leases6.csv");
    std::fs::write(
        &csv,
        format!(
            "address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,\
             fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source\n\
             2001:db8:1::1a2,{client},4000,{},1,3000,0,7,128,0,0,,,0,,,\n",
            now + 3000
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (code, stdout, stderr) =
        failoverd(&["import-kea", "leases", &s(&csv), "--config", &s(&nodes[0].config)]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("imported 1 lease(s)"), "{stdout}");

    let _sec = nodes[1].start(&d.join("secondary.log"));
    let _prim = nodes[0].start(&d.join("primary.log"));
    let normal = wait_until(Duration::from_secs(40), || {
        nodes[0].state() == "NORMAL" && nodes[1].state() == "NORMAL"
    });
    let log = |n: &str| std::fs::read_to_string(d.join(n)).unwrap_or_default();
    assert!(normal, "no NORMAL:\n{}\n{}", log("primary.log"), log("secondary.log"));
    // The secondary learns the lease from the primary (BNDUPD of the flagged binding).
    let known = wait_until(Duration::from_secs(20), || {
        ctl(&nodes[1].socket, "lease-get", json!({"address": "2001:db8:1::1a2"}))
            .and_then(|v| v["arguments"]["leases"].as_array().cloned())
            .is_some_and(|l| {
                l.iter().any(|b| b["status-name"] == "ACTIVE" && b["duid-text"] == client)
            })
    });
    assert!(known, "the secondary never learned the imported lease:\n{}", log("secondary.log"));

    // Kea's client RENEWs, naming the primary, through a relay: it keeps its address.
    let relay = UdpSocket::bind("[::1]:0").unwrap_or_else(|e| panic!("{e}"));
    relay.set_read_timeout(Some(Duration::from_millis(500))).unwrap_or_else(|e| panic!("{e}"));
    let addr: Ipv6Addr = "2001:db8:1::1a2".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
    let hex =
        |t: &str| t.split(':').filter_map(|b| u8::from_str_radix(b, 16).ok()).collect::<Vec<u8>>();
    let req = ClientRequest {
        tag: 0,
        kind: ClientMsgKind::Renew,
        client_id: Some(Duid::new(hex(client))),
        server_id: Some(Duid::new(hex(&nodes[0].spec.server_duid))),
        rapid_commit: false,
        ias: vec![IaRequest {
            kind: IaKind::Na,
            iaid: 7,
            leases: vec![RequestedLease {
                resource: Resource::Address(addr),
                preferred_lifetime: 0,
                valid_lifetime: 0,
            }],
        }],
        link_address: None,
        unicast: false,
        oro: Vec::new(),
    };
    let peer = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 7);
    let primary_dhcp = nodes[0].dhcp;
    let mut granted = Vec::new();
    let answered = wait_until(Duration::from_secs(10), || {
        relay_exchange(&relay, &req, [7, 7, 7], peer, &[primary_dhcp])
            .map(|g| granted = g)
            .is_some()
    });
    assert!(answered, "no reply to the RENEW:\n{}", log("primary.log"));
    assert_eq!(granted, [Resource::Address(addr)], "the RENEW did not keep the imported address");
}
