//! Migration from ISC Kea end to end: real `kea-dhcp6` leases real clients, is stopped, its
//! own configuration and memfile lease file go through `failoverd import-kea`, and a failoverd
//! pair renews every client on the lease Kea gave it.

use failover_tests::*;
use std::path::Path;
use std::time::Duration;

/// Kea's configuration for the primary's namespace (a comment of each kind Kea accepts).
fn kea_config(dir: &Path) -> String {
    format!(
        r#"// e2e: Kea DHCPv6 on the LAN interface of the primary's namespace
{{
"Dhcp6": {{
    "interfaces-config": {{ "interfaces": [ "eth0" ] }},
    # the lease file import-kea leases reads
    "lease-database": {{ "type": "memfile", "persist": true,
                        "name": "{dir}/kea-leases6.csv", "lfc-interval": 0 }},
    /* Kea's DUID: the primary takes it over, so that RENEWs naming Kea are answered */
    "server-id": {{ "type": "EN", "enterprise-id": 2495, "identifier": "6b65610001", "persist": false }},
    "preferred-lifetime": 90,
    "valid-lifetime": 300,
    "renew-timer": 45,
    "rebind-timer": 72,
    "subnet6": [ {{
        "id": 1,
        "subnet": "{LAN}::/64",
        "interface": "eth0",
        "pools": [ {{ "pool": "{LAN}::100 - {LAN}::1ff" }} ],
        "pd-pools": [ {{ "prefix": "2001:db8:100::", "prefix-len": 48, "delegated-len": 56 }} ],
        "option-data": [ {{ "name": "dns-servers", "data": "{LAN}::53" }} ]
    }} ],
    "loggers": [ {{ "name": "kea-dhcp6", "severity": "INFO",
                   "output_options": [ {{ "output": "stdout" }} ] }} ]
}}
}}
"#,
        dir = dir.display()
    )
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn kea_clients_renew_their_leases_from_a_failoverd_pair_after_import() {
    let _g = serial();
    if !require(
        "failover-tests::kea::kea_clients_renew_their_leases_from_a_failoverd_pair_after_import",
        &["ip", "dhclient", "kea-dhcp6"],
    ) {
        return;
    }
    let exe = failoverd_exe().display().to_string();
    let topo = Topology::new(2);
    let dir = topo.dir.clone();
    let kea_conf = topo.path("kea-dhcp6.json");
    std::fs::write(&kea_conf, kea_config(&dir)).expect("kea config");
    let leases = topo.path("kea-leases6.csv");
    let d = dir.display().to_string();
    let env_pid = format!("KEA_PIDFILE_DIR={d}");
    let env_lock = format!("KEA_LOCKFILE_DIR={d}");
    let kea_conf_s = kea_conf.display().to_string();
    let (ok, _, err) = run(&["kea-dhcp6", "-t", &kea_conf_s]);
    assert!(ok, "kea-dhcp6 -t refuses the test configuration:\n{err}");
    let mut kea = Proc::spawn_in_ns(
        "kea-dhcp6",
        &topo.ns("p"),
        &["env", &env_pid, &env_lock, "kea-dhcp6", "-c", &kea_conf_s],
        &topo.path("kea.log"),
    );

    // Clients lease from Kea.
    let mut na = Dhclient::start(&topo, 0, Ask::Address);
    let mut pd = Dhclient::start(&topo, 1, Ask::Prefix);
    let addr = na.wait_bound(Duration::from_secs(30));
    let prefix = pd.wait_bound(Duration::from_secs(30));
    eprintln!("from Kea: client 0 holds {addr}, client 1 holds {prefix}");
    assert!(kea.running(), "kea-dhcp6 exited");
    let st = kea.terminate(Duration::from_secs(10));
    eprintln!("kea-dhcp6 stopped: {st:?}");
    let csv = std::fs::read_to_string(&leases).unwrap_or_default();
    eprintln!("Kea's lease file:\n{csv}");
    assert!(csv.contains(&addr), "{addr} not in Kea's lease file");
    let renews_from_kea = (na.count("RENEW6"), pd.count("RENEW6"));

    // Kea's own files through import-kea: the primary takes Kea's DUID, the secondary its own.
    let mut p = Server::configure(&topo, Role::Primary, &Timers::default());
    let mut s = Server::configure(&topo, Role::Secondary, &Timers::default());
    for (srv, role, partner, duid) in [
        (&p, "primary", "2001:db8:ff::2", None),
        (&s, "secondary", "2001:db8:ff::1", Some("00:02:00:00:09:bf:e2:e0:00:02")),
    ] {
        let out = srv.config.display().to_string();
        let data = srv.data_dir.display().to_string();
        let sock = srv.socket.display().to_string();
        let mut args = vec![
            exe.as_str(),
            "import-kea",
            "config",
            &kea_conf_s,
            "--role",
            role,
            "--partner",
            partner,
            "--mclt",
            "30",
            "--data-dir",
            &data,
            "--control-socket",
            &sock,
            "-o",
            &out,
        ];
        if let Some(duid) = duid {
            args.extend(["--server-duid", duid]);
        }
        let (ok, _, err) = run(&args);
        assert!(ok, "import-kea config ({role}) failed:\n{err}");
        assert!(
            err.contains("not translated: Dhcp6.subnet6[0].option-data: DHCPv6 options"),
            "the dns-servers option is not reported:\n{err}"
        );
        let toml = std::fs::read_to_string(&srv.config).expect("translated config");
        assert!(toml.contains("#   Dhcp6.subnet6[0].option-data:"), "{toml}");
        // Test timers (as every scenario uses) and the trace; the rest is the translation.
        let timed = toml.replacen(
            "\n[failover]\n",
            &format!(
                "trace_file = \"{}\"\n\n[failover]\nkeepalive_time = 3\ncontacts_per_keepalive = 3\n\
                 startup_time = 2\nreconnect_interval = 1\nupdate_scan_interval = 2\n",
                srv.trace.display()
            ),
            1,
        );
        assert_ne!(timed, toml, "no [failover] table in the translation");
        std::fs::write(&srv.config, timed).expect("write config");
        let (ok, outp, err) = run(&[&exe, "--check-config", &out]);
        assert!(ok, "the translation does not validate: {outp}{err}");
        // The leases, into both stores.
        let (ok, outp, err) =
            run(&[&exe, "import-kea", "leases", &leases.display().to_string(), "--config", &out]);
        eprintln!("import-kea leases ({role}):\n{outp}{err}");
        assert!(ok, "import-kea leases ({role}) failed:\n{outp}{err}");
        assert!(
            outp.starts_with("imported 2 lease(s) (1 address(es), 1 prefix(es))"),
            "{role}: not the two leases of the clients:\n{outp}"
        );
        // A second import into the same store is refused.
        let (ok, _, err) =
            run(&[&exe, "import-kea", "leases", &leases.display().to_string(), "--config", &out]);
        assert!(!ok && err.contains("already holds 2 binding(s)"), "{role}: second import: {err}");
    }

    s.start();
    p.start();
    p.wait_state("NORMAL", Duration::from_secs(30));
    s.wait_state("NORMAL", Duration::from_secs(30));
    // The imported leases, flagged for the partner, were sent and acknowledged.
    p.wait_updates_settled(Duration::from_secs(20));
    s.wait_updates_settled(Duration::from_secs(20));

    // Each client RENEWs (T1 = 45 s from Kea) and gets its same lease from the pair.
    na.wait_events("RENEW6", renews_from_kea.0 + 1, Duration::from_secs(70));
    pd.wait_events("RENEW6", renews_from_kea.1 + 1, Duration::from_secs(70));
    na.assert_only_held(&addr);
    pd.assert_only_held(&prefix);
    assert_eq!(na.count("EXPIRE6") + na.count("REBIND6"), 0, "client 0: {:?}", na.events());
    assert_eq!(pd.count("EXPIRE6") + pd.count("REBIND6"), 0, "client 1: {:?}", pd.events());
    let renews = metric(&p.metrics(), "failoverd_client_requests_total{kind=\"RENEW\"}");
    assert!(renews >= 2.0, "the primary saw {renews} RENEWs");
    for srv in [&p, &s] {
        for r in [&addr, &prefix] {
            let l = srv.lease_get(r);
            assert!(
                l.len() == 1 && l[0]["status-name"] == "ACTIVE",
                "{:?} does not hold {r} ACTIVE: {l:?}",
                srv.role
            );
        }
    }
    drop((na, pd));
    p.terminate_and_check_replay();
    s.terminate_and_check_replay();
}
