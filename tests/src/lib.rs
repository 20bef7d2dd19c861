//! End-to-end test support: network namespaces, a bridge, real `failoverd` processes and real
//! DHCPv6 clients (ISC dhclient, Kea's perfdhcp).
//!
//! The topology of one test (every name carries the test process's PID and a per-test counter,
//! `fo<pid>x<n>`, so parallel runs and parallel tests never collide):
//!
//! ```text
//!   ns fo<pid>x<n>p (primary)          ns fo<pid>x<n>s (secondary)
//!     eth0 2001:db8:1::1, fe80::1         eth0 2001:db8:1::2, fe80::2
//!     fo0  2001:db8:ff::1  ==========  fo0  2001:db8:ff::2      <- the failover TCP link only
//!       |                                   |
//!   ns fo<pid>x<n>b: bridge br0 (multicast snooping off), ports p, s, c0, c1, ...
//!       |
//!   ns fo<pid>x<n>c0, c1, ...: eth0 fe80::c0:<i> (clients, link-local only)
//! ```
//!
//! The servers reach each other for failover only over `fo0`, so [`Topology::cut_partner_link`]
//! (`ip link set fo0 down`) interrupts the partner link while every client still reaches both
//! servers over the bridge. Nothing is created in the root namespace: every veth is created
//! inside its namespace with its peer placed directly in the other one.
//!
//! The process harness itself (processes, configuration files, control calls, bounded waits,
//! the privileged-skip rule) is `failover-harness`, shared with the runtime's own tests and
//! `failoverd demo`; this crate adds the namespaces, the bridge and the real clients.
//!
//! Cleanup is RAII: [`Proc`] kills its process by PID (SIGKILL) and reaps it when dropped, and
//! [`Topology`] kills every process still registered with it and deletes its namespaces when
//! dropped, also when a test panics. Every wait is bounded and fails the test when the bound
//! passes; no test asserts a duration.

#![forbid(unsafe_code)]

use failover_harness::Config;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub use failover_harness::{metric, privileged, wait_for, Proc, Role};

/// The `failoverd` binary under test: the runtime crate's own `failoverd`, built once per test
/// process with `cargo build -p failover-runtime --bin failoverd` (through `escargot`) into the
/// target directory and profile the test itself was built in (`target/<profile>/deps/<test>`;
/// the directory `debug` is the `dev` profile). Cargo releases its build lock before it runs
/// the tests, so this build only waits for a concurrent one; when the binary is up to date it
/// costs a fingerprint check. (Cargo gives `CARGO_BIN_EXE_*` only for the test's own package.)
///
/// # Panics
/// The build fails (its messages are in the panic).
#[must_use]
pub fn failoverd_exe() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(build_failoverd).clone()
}

fn build_failoverd() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let target_dir = profile_dir.parent().expect("target/<profile>");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let run = escargot::CargoBuild::new()
        .manifest_path(&manifest)
        .package("failover-runtime")
        .bin("failoverd")
        .target_dir(target_dir)
        .args(["--profile", profile])
        .run()
        .unwrap_or_else(|e| panic!("cargo build -p failover-runtime --bin failoverd: {e}"));
    let bin = run.path().to_path_buf();
    assert!(bin.exists(), "{} is missing after the build", bin.display());
    bin
}

static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Serializes the scenarios of one test binary: they share the machine's two cores and their
/// timing assumptions (keepalives of a few seconds) are easier to meet one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `true` if the end-to-end test `name` can run here: root and every tool installed (the
/// packages of `tests/ci-setup.sh`; `ip` and `sysctl`, which every topology uses, are always
/// required). As an ordinary user it prints
/// `SKIPPED <name>: ...; run: sudo ./test.sh` and returns `false`: the test then returns
/// without asserting anything, a reported skip.
///
/// # Panics
/// Something is missing in CI (`CI` set) or as root: the end-to-end tests never skip there
/// (see [`privileged::can_run`]).
#[must_use]
pub fn require(name: &str, tools: &[&str]) -> bool {
    let mut all = vec!["ip", "sysctl"];
    all.extend(tools.iter().filter(|t| !all.contains(t)).collect::<Vec<_>>());
    privileged::can_run(name, true, &all, &[])
}

/// Runs a command and fails the test if it does not succeed.
///
/// # Panics
/// The command cannot be run or exits non-zero.
pub fn sh(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The LAN prefix shared by servers and clients (the pools live in it).
pub const LAN: &str = "2001:db8:1";

/// Namespaces, a bridge, veths. Deleted when dropped.
pub struct Topology {
    /// `fo<pid>x<n>`.
    pub name: String,
    /// The number of client namespaces.
    pub clients: usize,
    namespaces: Vec<String>,
    /// A per-test temporary directory (configs, data, logs, sockets), deleted at the end
    /// unless `FAILOVER_E2E_KEEP` is set in the environment.
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Topology {
    /// Creates the topology with `clients` client namespaces.
    ///
    /// # Panics
    /// An `ip` command fails.
    pub fn new(clients: usize) -> Topology {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("fo{}x{n}", std::process::id());
        let tmp = tempfile::Builder::new().prefix(&format!("{name}-")).tempdir().expect("tempdir");
        let (dir, tmp) = if std::env::var_os("FAILOVER_E2E_KEEP").is_some() {
            let d = tmp.keep();
            eprintln!("{name}: keeping {}", d.display());
            (d, None)
        } else {
            (tmp.path().to_owned(), Some(tmp))
        };
        let mut t = Topology { name, clients, namespaces: Vec::new(), dir, _tmp: tmp };
        let b = t.ns("b");
        t.add_ns(&b);
        sh(&["ip", "-n", &b, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"]);
        sh(&["ip", "-n", &b, "link", "set", "br0", "up"]);
        let snoop = Command::new("ip")
            .args(["netns", "exec", &b, "cat", "/sys/class/net/br0/bridge/multicast_snooping"])
            .output()
            .expect("read multicast_snooping");
        assert_eq!(String::from_utf8_lossy(&snoop.stdout).trim(), "0", "snooping still on");
        let mut members: Vec<(String, String, String)> =
            vec![(t.ns("p"), "p".into(), "1".into()), (t.ns("s"), "s".into(), "2".into())];
        for i in 0..clients {
            members.push((t.ns(&format!("c{i}")), format!("c{i}"), format!("c0:{i}")));
        }
        for (ns, port, host) in &members {
            t.add_ns(ns);
            sh(&[
                "ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port,
                "netns", &b,
            ]);
            sh(&["ip", "-n", &b, "link", "set", port, "master", "br0"]);
            sh(&["ip", "-n", &b, "link", "set", port, "up"]);
            sh(&["ip", "-n", ns, "link", "set", "eth0", "addrgenmode", "none"]);
            sh(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
            sh(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("fe80::{host}/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
        }
        let (p, s) = (t.ns("p"), t.ns("s"));
        sh(&["ip", "-n", &p, "addr", "add", &format!("{LAN}::1/64"), "dev", "eth0", "nodad"]);
        sh(&["ip", "-n", &s, "addr", "add", &format!("{LAN}::2/64"), "dev", "eth0", "nodad"]);
        // The failover link: its own veth between the two server namespaces.
        sh(&[
            "ip", "-n", &p, "link", "add", "fo0", "type", "veth", "peer", "name", "fo0", "netns",
            &s,
        ]);
        for ns in [&p, &s] {
            sh(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-q",
                "-w",
                "net.ipv6.conf.fo0.keep_addr_on_down=1",
            ]);
            sh(&["ip", "-n", ns, "link", "set", "fo0", "addrgenmode", "none"]);
        }
        t.restore_partner_link();
        t
    }

    /// The full name of a namespace of this topology (`p`, `s`, `b`, `c0`, ...).
    #[must_use]
    pub fn ns(&self, which: &str) -> String {
        format!("{}{which}", self.name)
    }

    fn add_ns(&mut self, ns: &str) {
        sh(&["ip", "netns", "add", ns]);
        self.namespaces.push(ns.to_owned());
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }

    /// Cuts the servers' failover link (both ends down); clients still reach both servers.
    pub fn cut_partner_link(&self) {
        for w in ["p", "s"] {
            sh(&["ip", "-n", &self.ns(w), "link", "set", "fo0", "down"]);
        }
    }

    /// Brings the failover link (back) up, with its addresses.
    pub fn restore_partner_link(&self) {
        for (w, a) in [("p", "1"), ("s", "2")] {
            let ns = self.ns(w);
            sh(&["ip", "-n", &ns, "link", "set", "fo0", "up"]);
            let addr = format!("2001:db8:ff::{a}/64");
            let have = sh(&["ip", "-n", &ns, "-6", "addr", "show", "dev", "fo0"]);
            if !String::from_utf8_lossy(&have.stdout).contains(&format!("2001:db8:ff::{a}/")) {
                sh(&["ip", "-n", &ns, "addr", "add", &addr, "dev", "fo0", "nodad"]);
            }
        }
    }

    /// A path in the test's directory.
    #[must_use]
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// A primary and a secondary with the default timers, started (secondary first) and both in
/// NORMAL within 30 s.
///
/// # Panics
/// Either does not reach NORMAL.
#[must_use]
pub fn pair_in_normal(topo: &Topology) -> (Server, Server) {
    let t = Timers::default();
    let mut p = Server::configure(topo, Role::Primary, &t);
    let mut s = Server::configure(topo, Role::Secondary, &t);
    s.start();
    p.start();
    p.wait_state("NORMAL", Duration::from_secs(30));
    s.wait_state("NORMAL", Duration::from_secs(30));
    (p, s)
}

/// One bounded `perfdhcp -6` run from client namespace `client` on its `eth0`: `clients`
/// distinct DUIDs (`-R`), `rate` exchanges per second, `clients` exchanges in all (`-n`), 30 s
/// at most (`-p`), after `extra` (`-e MODE`, `-A 1`, ...). Returns its report.
///
/// # Panics
/// perfdhcp fails or does not end within 60 s.
#[must_use]
pub fn perfdhcp(topo: &Topology, client: &str, extra: &[&str], clients: u32, rate: u32) -> String {
    let log = topo.path(&format!("perfdhcp-{client}-{}.log", extra.join("")));
    let (n, r) = (clients.to_string(), rate.to_string());
    let mut args = vec!["perfdhcp", "-6", "-l", "eth0"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-R", &n, "-r", &r, "-n", &n, "-p", "30", "-W", "3000000"]);
    let mut perf = Proc::spawn_in_ns("perfdhcp", &topo.ns(client), &args, &log);
    let st = perf.wait_exit(Duration::from_secs(60));
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!("{out}");
    assert!(st.success(), "perfdhcp {extra:?} failed ({st}):\n{out}");
    assert_eq!(out.matches("non unique addresses: 0\n").count(), 2, "duplicates:\n{out}");
    out
}

/// Asserts that a [`perfdhcp`] report shows all `n` of both exchanges (SOLICIT-ADVERTISE and
/// REQUEST-REPLY) sent and answered.
///
/// # Panics
/// Some were not.
pub fn assert_all_answered(out: &str, n: u32) {
    let sent = format!("sent packets: {n}\n");
    let received = format!("received packets: {n}\n");
    assert_eq!(out.matches(&sent).count(), 2, "not {n} of each sent:\n{out}");
    assert_eq!(out.matches(&received).count(), 2, "not all answered:\n{out}");
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            // Any process still inside (started by this test and not yet dropped) is ours:
            // kill it by PID before the namespace goes.
            if let Ok(o) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// The namespace suffix of a server: `p` for the primary (LAN address ::1), `s` for the
/// secondary (::2).
fn role_ns(role: Role) -> &'static str {
    match role {
        Role::Primary => "p",
        Role::Secondary => "s",
    }
}

/// Test timers and lifetimes.
#[derive(Clone, Debug)]
pub struct Timers {
    /// `failover.mclt` (at least 30).
    pub mclt: u32,
    /// `failover.keepalive_time`.
    pub keepalive: u32,
    /// Preferred lifetime (T1 is half of it, T2 four fifths).
    pub preferred: u32,
    /// Valid lifetime (at least 30).
    pub valid: u32,
    /// Both servers advertise the same preference (0), so that clients may pick either;
    /// otherwise the primary says 255 (clients take it at once) and the secondary 0.
    pub equal_preference: bool,
}

impl Default for Timers {
    fn default() -> Self {
        Timers { mclt: 30, keepalive: 3, preferred: 8, valid: 60, equal_preference: false }
    }
}

/// One `failoverd` of the pair.
pub struct Server {
    /// Which one.
    pub role: Role,
    /// Its namespace.
    pub ns: String,
    /// Its configuration as written.
    pub spec: Config,
    /// Its config file.
    pub config: PathBuf,
    /// Its control socket.
    pub socket: PathBuf,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its trace file.
    pub trace: PathBuf,
    /// Its log (stdout + stderr) of the current run.
    pub log: PathBuf,
    runs: u32,
    /// The process.
    pub proc: Option<Proc>,
}

impl Server {
    /// Writes the configuration of `role` into the topology's directory (trace on).
    ///
    /// # Panics
    /// The file cannot be written.
    pub fn configure(topo: &Topology, role: Role, t: &Timers) -> Server {
        let name = role.name();
        let (duid, partner, lan) = match role {
            Role::Primary => ("00:02:00:00:09:bf:e2:e0:00:01", "2001:db8:ff::2", "1"),
            Role::Secondary => ("00:02:00:00:09:bf:e2:e0:00:02", "2001:db8:ff::1", "2"),
        };
        let config = topo.path(&format!("{name}.toml"));
        let socket = topo.path(&format!("{name}.sock"));
        let data_dir = topo.path(&format!("{name}-data"));
        let trace = topo.path(&format!("{name}.trace.jsonl"));
        let preference = if role == Role::Primary && !t.equal_preference { 255 } else { 0 };
        let spec = Config {
            role,
            relationship: "e2e".into(),
            server_duid: duid.into(),
            data_dir: data_dir.clone(),
            control_socket: socket.clone(),
            trace_file: Some(trace.clone()),
            log_format: None,
            log_level: Some("info,failover_runtime=debug".into()),
            partner_address: partner.into(),
            partner_port: 647,
            listen_address: "2001:db8:ff::2".into(),
            port: 647,
            mclt: t.mclt,
            keepalive_time: t.keepalive,
            contacts_per_keepalive: 3,
            startup_time: 2,
            reconnect_interval: 1,
            update_scan_interval: 2,
            heartbeat_interval: None,
            tls: failover_harness::config::TLS_OFF.into(),
            failover_extra: Vec::new(),
            dhcp_port: None,
            listen_addresses: vec![format!("{LAN}::{lan}")],
            preference: Some(preference),
            rapid_commit: None,
            interfaces: vec!["eth0".into()],
            address_pool: Some((format!("{LAN}::100"), format!("{LAN}::1ff"))),
            prefix_pool: Some(("2001:db8:100::/48".into(), 56)),
            lifetimes: (t.preferred, t.valid),
        };
        spec.write(&config).expect("write config");
        Server {
            role,
            ns: topo.ns(role_ns(role)),
            spec,
            config,
            socket,
            data_dir,
            trace,
            log: PathBuf::new(),
            runs: 0,
            proc: None,
        }
    }

    /// Switches the partner link to mutual TLS (`tls = "required"`, RFC 8156 §10) with these
    /// PEM files: the CA, this server's certificate and its key.
    ///
    /// # Panics
    /// The configuration cannot be written.
    pub fn use_tls(&mut self, ca: &Path, cert: &Path, key: &Path) {
        self.spec.tls = Config::tls_required(ca, cert, key);
        self.spec.write(&self.config).expect("write config");
    }

    /// Starts `failoverd run` in its namespace (log in `<role>.<run>.log`).
    ///
    /// # Panics
    /// It cannot be started, or it does not answer `status` within 10 s.
    pub fn start(&mut self) {
        self.runs += 1;
        self.log = self.config.with_file_name(format!("{}.{}.log", self.role.name(), self.runs));
        let exe = failoverd_exe();
        let cfg = self.config.display().to_string();
        let p = Proc::spawn_in_ns(
            self.role.name(),
            &self.ns,
            &[&exe.display().to_string(), "run", "--config", &cfg],
            &self.log,
        );
        self.proc = Some(p);
        let what = format!("{} answers status", self.role.name());
        wait_for(&what, Duration::from_secs(10), || {
            if let Some(p) = self.proc.as_mut() {
                assert!(p.running(), "{} exited; log:\n{}", self.role.name(), self.log_text());
            }
            self.ctl("status", json!({})).is_some()
        });
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// The current run's log.
    #[must_use]
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One control command; `None` if the socket does not answer within 3 s.
    #[must_use]
    pub fn ctl(&self, command: &str, args: Value) -> Option<Value> {
        failover_harness::ctl(&self.socket, command, args)
    }

    /// `status` arguments.
    ///
    /// # Panics
    /// No answer.
    #[must_use]
    pub fn status(&self) -> Value {
        let v = self.ctl("status", json!({})).unwrap_or_else(|| {
            panic!("{}: no answer to status; log:\n{}", self.role.name(), self.log_text())
        });
        v["arguments"].clone()
    }

    /// The own state's name (`NORMAL`, ...), or "" if it does not answer.
    #[must_use]
    pub fn state(&self) -> String {
        failover_harness::control::state(&self.socket)
    }

    /// Waits for a state.
    ///
    /// # Panics
    /// Not reached within `limit`.
    pub fn wait_state(&self, state: &str, limit: Duration) {
        let what = format!("{} in {state}", self.role.name());
        let until = Instant::now() + limit;
        loop {
            let s = self.state();
            if s == state {
                return;
            }
            assert!(
                Instant::now() < until,
                "timed out after {limit:?} waiting for {what} (it is in {s:?}); log tail:\n{}",
                tail(&self.log_text(), 40)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `lease-get` for an address (`"2001:db8:1::101"`) or prefix (`"2001:db8:100:100::/56"`):
    /// the binding records (empty if none).
    #[must_use]
    pub fn lease_get(&self, resource: &str) -> Vec<Value> {
        let args = if resource.contains('/') {
            json!({ "prefix": resource })
        } else {
            json!({ "address": resource })
        };
        self.ctl("lease-get", args)
            .and_then(|v| v["arguments"]["leases"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Every address of the test pool (`2001:db8:1::100` to `::1ff`) this server has as
    /// ACTIVE, with the client's DUID.
    #[must_use]
    pub fn active_addresses(&self) -> Vec<(String, String)> {
        (0x100..=0x1ffu32)
            .map(|i| format!("{LAN}::{i:x}"))
            .flat_map(|a| {
                self.lease_get(&a)
                    .into_iter()
                    .filter(|l| l["status-name"] == "ACTIVE")
                    .map(move |l| (a.clone(), l["duid-text"].as_str().unwrap_or("").to_owned()))
            })
            .collect()
    }

    /// Every /56 of the test prefix pool (`2001:db8:100::/48`) this server has as ACTIVE, with
    /// the client's DUID.
    #[must_use]
    pub fn active_prefixes(&self) -> Vec<(String, String)> {
        (0..=0xffu32)
            .map(|i| format!("2001:db8:100:{:x}::/56", i << 8))
            .flat_map(|r| {
                self.lease_get(&r)
                    .into_iter()
                    .filter(|l| l["status-name"] == "ACTIVE")
                    .map(move |l| (r.clone(), l["duid-text"].as_str().unwrap_or("").to_owned()))
            })
            .collect()
    }

    /// Waits until this server has no update pending or unacknowledged.
    ///
    /// # Panics
    /// Not within `limit`.
    pub fn wait_updates_settled(&self, limit: Duration) {
        wait_for(&format!("{:?} has no pending update", self.role), limit, || {
            let st = self.status();
            st["pending_updates"] == 0 && st["unacked_updates"] == 0
        });
    }

    /// The number of failover messages of this type (`BNDUPD`, `UPDREQALL`, ...) sent so far.
    #[must_use]
    pub fn sent(&self, kind: &str) -> f64 {
        let label = format!("type=\"{kind}\"");
        self.metrics()
            .lines()
            .filter(|l| l.starts_with("failoverd_partner_messages_out_total") && l.contains(&label))
            .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
            .sum()
    }

    /// The Prometheus text (`metrics` command).
    #[must_use]
    pub fn metrics(&self) -> String {
        failover_harness::control::metrics(&self.socket)
    }

    /// From the trace: the core's replies to the client messages of `kind` (the model's name,
    /// `"Confirm"`, `"Solicit"`, ...), in order, as recorded (`{"tag", "kind", "status", ...}`).
    #[must_use]
    pub fn trace_replies_to(&self, kind: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.trace).unwrap_or_default();
        let mut tags = std::collections::BTreeSet::new();
        let mut replies = Vec::new();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            if let Some(c) = v.get("input").and_then(|i| i.get("Client")) {
                if c["kind"] == kind {
                    tags.insert(c["tag"].as_u64());
                }
            }
            for o in v.get("outputs").and_then(Value::as_array).into_iter().flatten() {
                if let Some(r) = o.get("Reply") {
                    if tags.contains(&r["tag"].as_u64()) {
                        replies.push(r.clone());
                    }
                }
            }
        }
        replies
    }

    /// SIGTERM (clean stop, which flushes the trace), then `failoverd replay` of the trace,
    /// which must report no divergence.
    ///
    /// # Panics
    /// It does not stop, or the replay diverges or fails.
    pub fn terminate_and_check_replay(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Duration::from_secs(15));
        }
        let (ok, out) = self.replay();
        assert!(ok, "{:?}: replay of {} failed:\n{out}", self.role, self.trace.display());
        assert!(out.contains("no divergence"), "{out}");
        eprintln!("{:?}: {}", self.role, out.trim());
    }

    /// Changes one recorded output of the trace (the first `valid_lifetime` in an outputs line,
    /// plus one), so that a replay must report a divergence.
    ///
    /// # Panics
    /// The trace cannot be read or has no such output.
    pub fn tamper_trace(&self) {
        let text = std::fs::read_to_string(&self.trace).expect("read trace");
        let mut done = false;
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                if done || !l.starts_with("{\"outputs\"") {
                    return l.to_owned();
                }
                let key = "\"valid_lifetime\":";
                let Some(i) = l.find(key) else { return l.to_owned() };
                let start = i + key.len();
                let end = start + l[start..].bytes().take_while(u8::is_ascii_digit).count();
                let Ok(v) = l[start..end].parse::<u64>() else { return l.to_owned() };
                done = true;
                format!("{}{}{}", &l[..start], v + 1, &l[end..])
            })
            .collect();
        assert!(done, "no recorded valid_lifetime to change in {}", self.trace.display());
        std::fs::write(&self.trace, lines.join("\n") + "\n").expect("write trace");
    }

    /// `failoverd replay` of this server's trace: exit status and output.
    ///
    /// # Panics
    /// It cannot be run.
    #[must_use]
    pub fn replay(&self) -> (bool, String) {
        let args = [
            "replay".as_ref(),
            "--trace".as_ref(),
            self.trace.as_os_str(),
            "--config".as_ref(),
            self.config.as_os_str(),
        ];
        let o: Output = failover_harness::failoverd(&failoverd_exe(), &args);
        let text =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        (o.status.success(), text)
    }
}

/// The last `n` lines of a text.
#[must_use]
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What an ISC dhclient asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// IA_NA (`dhclient -6 -N`).
    Address,
    /// IA_PD (`dhclient -6 -P`).
    Prefix,
}

/// One event the dhclient script saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientEvent {
    /// `BOUND6`, `RENEW6`, `REBIND6`, `EXPIRE6`, ...
    pub reason: String,
    /// `new_ip6_address` or `new_ip6_prefix`.
    pub new: String,
    /// `old_ip6_address` or `old_ip6_prefix`.
    pub old: String,
    /// `new_max_life`.
    pub valid: String,
}

/// ISC dhclient -6 in a client namespace, in the foreground, with its own lease file and a
/// script that records every event (reason, new and old address or prefix) in a file.
pub struct Dhclient {
    /// What it asks for.
    pub ask: Ask,
    /// Its lease file.
    pub leases: PathBuf,
    events: PathBuf,
    /// The process.
    pub proc: Proc,
}

impl Dhclient {
    /// Starts dhclient in client namespace `i`.
    ///
    /// # Panics
    /// It cannot be started.
    pub fn start(topo: &Topology, i: usize, ask: Ask) -> Dhclient {
        let base = topo.path(&format!("c{i}"));
        let leases = base.with_extension("leases");
        let events = base.with_extension("events");
        let script = base.with_extension("script.sh");
        let conf = base.with_extension("conf");
        let pid = base.with_extension("pid");
        let log = base.with_extension("log");
        let var = if ask == Ask::Address { "ip6_address" } else { "ip6_prefix" };
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$reason|$new_{var}|$old_{var}|$new_max_life\" >> {}\nexit 0\n",
                events.display()
            ),
        )
        .expect("script");
        sh(&["chmod", "755", &script.display().to_string()]);
        std::fs::write(&conf, "# e2e: no options beyond the defaults\n").expect("conf");
        let flag = if ask == Ask::Address { "-N" } else { "-P" };
        let args = [
            "dhclient",
            "-6",
            flag,
            "-d",
            "-v",
            "-cf",
            &conf.display().to_string(),
            "-lf",
            &leases.display().to_string(),
            "-pf",
            &pid.display().to_string(),
            "-sf",
            &script.display().to_string(),
            "eth0",
        ]
        .map(str::to_owned);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let proc =
            Proc::spawn_in_ns(&format!("dhclient c{i}"), &topo.ns(&format!("c{i}")), &args, &log);
        Dhclient { ask, leases, events, proc }
    }

    /// Every event so far.
    #[must_use]
    pub fn events(&self) -> Vec<ClientEvent> {
        std::fs::read_to_string(&self.events)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.split('|');
                Some(ClientEvent {
                    reason: f.next()?.to_owned(),
                    new: f.next()?.to_owned(),
                    old: f.next()?.to_owned(),
                    valid: f.next().unwrap_or_default().to_owned(),
                })
            })
            .collect()
    }

    /// Sends a RELEASE: `dhclient -6 -r` with this client's files, which first stops the
    /// running instance (our own child, through the pid file we gave it), then waits (bounded)
    /// for the release to finish.
    ///
    /// # Panics
    /// The release does not complete within 20 s.
    pub fn release(&mut self, topo: &Topology, i: usize) {
        let base = topo.path(&format!("c{i}"));
        let flag = if self.ask == Ask::Address { "-N" } else { "-P" };
        let args: Vec<String> = vec![
            "dhclient".into(),
            "-6".into(),
            flag.into(),
            "-r".into(),
            "-v".into(),
            "-cf".into(),
            base.with_extension("conf").display().to_string(),
            "-lf".into(),
            self.leases.display().to_string(),
            "-pf".into(),
            base.with_extension("pid").display().to_string(),
            "-sf".into(),
            base.with_extension("script.sh").display().to_string(),
            "eth0".into(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut r = Proc::spawn_in_ns(
            &format!("dhclient -r c{i}"),
            &topo.ns(&format!("c{i}")),
            &args,
            &base.with_extension("release.log"),
        );
        let st = r.wait_exit(Duration::from_secs(20));
        assert!(st.success(), "dhclient -r failed: {st}");
        let _ = self.proc.wait_exit(Duration::from_secs(5));
    }

    /// The BOUND6/RENEW6/REBIND6/REBOOT6 events: what the client held, in order.
    #[must_use]
    pub fn leases_held(&self) -> Vec<ClientEvent> {
        self.events()
            .into_iter()
            .filter(|e| matches!(e.reason.as_str(), "BOUND6" | "RENEW6" | "REBIND6" | "REBOOT6"))
            .collect()
    }

    /// Asserts that every BOUND6/RENEW6/REBIND6 event was for `held`.
    ///
    /// # Panics
    /// The client held something else at some point.
    pub fn assert_only_held(&self, held: &str) {
        for e in self.leases_held() {
            assert_eq!(e.new, held, "{} changed lease: {e:?}", self.proc.name);
        }
    }

    /// The address or prefix of the last BOUND6/RENEW6/REBIND6/REBOOT6 event, if any.
    #[must_use]
    pub fn holding(&self) -> Option<String> {
        self.events()
            .into_iter()
            .rev()
            .find(|e| matches!(e.reason.as_str(), "BOUND6" | "RENEW6" | "REBIND6" | "REBOOT6"))
            .map(|e| e.new)
            .filter(|s| !s.is_empty())
    }

    /// How many events with this reason.
    #[must_use]
    pub fn count(&self, reason: &str) -> usize {
        self.events().iter().filter(|e| e.reason == reason).count()
    }

    /// Waits for a lease (BOUND6).
    ///
    /// # Panics
    /// None within `limit`.
    pub fn wait_bound(&mut self, limit: Duration) -> String {
        let mut got = None;
        let name = self.proc.name.clone();
        let until = Instant::now() + limit;
        while got.is_none() {
            got = self.holding();
            assert!(self.proc.running(), "{name} exited");
            assert!(Instant::now() < until, "timed out after {limit:?}: {name} got no lease");
            std::thread::sleep(Duration::from_millis(200));
        }
        got.unwrap_or_default()
    }

    /// Waits until `n` more events with `reason` than `before` happened.
    ///
    /// # Panics
    /// Not within `limit`.
    pub fn wait_events(&self, reason: &str, at_least: usize, limit: Duration) {
        wait_for(&format!("{} reaching {at_least} {reason} events", self.proc.name), limit, || {
            self.count(reason) >= at_least
        });
    }
}

/// The numeric value of an IPv6 address.
///
/// # Panics
/// Not an IPv6 address.
#[must_use]
pub fn addr_bits(a: &str) -> u128 {
    let base = a.split('/').next().unwrap_or(a);
    u128::from(base.parse::<std::net::Ipv6Addr>().unwrap_or_else(|_| panic!("not IPv6: {a}")))
}

/// dhcpcd (`-6`, foreground) in a client namespace, asking for one address (`ia_na 1`) and one
/// prefix (`ia_pd 2`), with a script that records every event's environment. It runs in a
/// private mount namespace (that `ip netns exec` already gives) with its own empty `/run` and
/// `/var/lib/dhcpcd`, so that several dhcpcd never share a pid file, control socket or DUID.
pub struct Dhcpcd {
    events: PathBuf,
    /// The process.
    pub proc: Proc,
}

impl Dhcpcd {
    /// Starts dhcpcd in client namespace `i`.
    ///
    /// # Panics
    /// It cannot be started.
    pub fn start(topo: &Topology, i: usize) -> Dhcpcd {
        let base = topo.path(&format!("c{i}-dhcpcd"));
        let events = base.with_extension("events");
        let script = base.with_extension("script.sh");
        let conf = base.with_extension("conf");
        let log = base.with_extension("log");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nenv | grep -E '^(reason|new_dhcp6_ia|old_dhcp6_ia)' | sort | tr '\\n' ' ' >> {e}\necho >> {e}\nexit 0\n",
                e = events.display()
            ),
        )
        .expect("script");
        sh(&["chmod", "755", &script.display().to_string()]);
        std::fs::write(
            &conf,
            format!(
                "ipv6only\nnoipv6rs\nnohook resolv.conf, ntp.conf, timesyncd.conf, hostname, yp.conf\nscript {}\nia_na 1\nia_pd 2 -\n",
                script.display()
            ),
        )
        .expect("conf");
        let cmd = format!(
            "mount -t tmpfs e2e /run && mount -t tmpfs e2e /var/lib/dhcpcd && exec dhcpcd -6 -B -d -f {} eth0",
            conf.display()
        );
        let proc = Proc::spawn_in_ns(
            &format!("dhcpcd c{i}"),
            &topo.ns(&format!("c{i}")),
            &["sh", "-c", &cmd],
            &log,
        );
        Dhcpcd { events, proc }
    }

    /// Every event: its environment variables (reason, new_dhcp6_ia_*, old_dhcp6_ia_*).
    #[must_use]
    pub fn events(&self) -> Vec<std::collections::BTreeMap<String, String>> {
        std::fs::read_to_string(&self.events)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                l.split_whitespace()
                    .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                    .collect()
            })
            .collect()
    }
}
