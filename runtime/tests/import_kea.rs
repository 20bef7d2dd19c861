//! `failoverd import-kea` as an operator runs it: exit statuses, what goes to stderr, the TOML
//! that `--check-config` accepts, and the summary of a lease import.

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
