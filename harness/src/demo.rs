//! `failoverd demo`: a failover pair on loopback, a client population behind a simulated relay
//! agent, a crash of the primary and its return.
//!
//! No root and no configuration file: the demo writes two configurations (from
//! [`demo_config`]) into a temporary directory, checks them with `failoverd check-config`,
//! starts `failoverd run` twice as child processes on `::1` with unprivileged ports, and then
//! acts as a relay agent: every client
//! message is a real DHCPv6 packet wrapped in RELAY-FORW and sent to both servers' unicast
//! addresses, as a relay configured with two server addresses does.
//!
//! 1. Wait for both servers to reach NORMAL.
//! 2. Every client gets an address (IA_NA) and a delegated prefix (IA_PD).
//! 3. Wait until the secondary knows every lease (lazy updates acked).
//! 4. SIGKILL the primary. The secondary goes to COMMUNICATIONS-INTERRUPTED; every client
//!    renews (RENEW, then REBIND to any server) and must get its **same** leases.
//! 5. Restart the primary on the same lease store; wait for both to be back in NORMAL; every
//!    client renews again and must keep its leases.
//! 6. Replay both servers' traces through `failover-model` (`failoverd replay`): no
//!    divergence.
//!
//! Exit status 0 only if every client kept its leases throughout. Every wait is bounded; the
//! children are killed by PID on every exit path.
//!
//! The `failoverd` it runs is the caller's: the daemon's `demo` subcommand passes its own
//! executable (`std::env::current_exe()`).

use crate::config::{Config, Role, TLS_OFF};
use crate::control;
use crate::node::Node;
use crate::process::{failoverd, Proc};
use crate::relay::{relay_forw, relay_repl};
use crate::wait::{try_free_tcp, try_free_udp};
use failover_model::dhcp::client::{
    ClientMsgKind, ClientReply, ClientRequest, DhcpStatus, IaRequest, ReplyKind, RequestedLease,
};
use failover_model::{Duid, IaKind, Resource};
use serde_json::{json, Value};
use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// The demo's configuration of `role` in `dir`: the failover link on `[::1]:fo_port`, DHCPv6
/// on `[::1]:dhcp_port` with Rapid Commit, text logs at level info. Short timers so that the
/// demo is quick (MCLT 30 s is the smallest the RFC allows); pools of 65536 addresses
/// (`2001:db8:1::1:0/112`) and 65536 /56 prefixes (`2001:db8:100::/40`).
#[must_use]
pub fn demo_config(dir: &Path, role: Role, fo_port: u16, dhcp_port: u16) -> Config {
    let name = role.name();
    Config {
        role,
        relationship: "demo".into(),
        server_duid: match role {
            Role::Primary => "00:02:00:00:09:bf:d0:00:00:01",
            Role::Secondary => "00:02:00:00:09:bf:d0:00:00:02",
        }
        .into(),
        data_dir: dir.join(name),
        control_socket: dir.join(format!("{name}.sock")),
        trace_file: Some(dir.join(format!("{name}.trace.jsonl"))),
        log_format: Some("text".into()),
        log_level: Some("info".into()),
        partner_address: "::1".into(),
        partner_port: fo_port,
        listen_address: "::1".into(),
        port: fo_port,
        mclt: 30,
        keepalive_time: 6,
        contacts_per_keepalive: 3,
        startup_time: 3,
        reconnect_interval: 1,
        update_scan_interval: 2,
        heartbeat_interval: Some(5),
        tls: TLS_OFF.into(),
        failover_extra: Vec::new(),
        dhcp_port: Some(dhcp_port),
        listen_addresses: vec!["::1".into()],
        preference: None,
        rapid_commit: Some(true),
        interfaces: Vec::new(),
        address_pool: Some(("2001:db8:1::1:0".into(), "2001:db8:1::1:ffff".into())),
        prefix_pool: Some(("2001:db8:100::/40".into(), 56)),
        lifetimes: (300, 600),
    }
}

const STEP_TIMEOUT: Duration = Duration::from_millis(700);
/// REBIND retransmissions for clients that got no answer.
const REBIND_ROUNDS: usize = 5;
/// The largest population (the demo pools hold 32768 addresses per server).
pub const MAX_CLIENTS: usize = 5000;
/// The whole scenario is bounded by this; the demo then fails and cleans up.
const DEMO_LIMIT: Duration = Duration::from_secs(110);

struct Server {
    name: &'static str,
    node: Node,
    proc: Option<Proc>,
}

impl Server {
    fn start(&mut self, log: Option<&Path>) -> anyhow::Result<()> {
        let stderr = match log {
            Some(p) => Stdio::from(std::fs::OpenOptions::new().create(true).append(true).open(p)?),
            None => Stdio::null(),
        };
        self.proc = Some(self.node.spawn(stderr, &[])?);
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill(); // SIGKILL to this PID
        }
    }

    fn pid(&self) -> u32 {
        self.proc.as_ref().and_then(Proc::pid).unwrap_or(0)
    }
}

struct Servers(Vec<Server>);

impl Drop for Servers {
    fn drop(&mut self) {
        for s in &mut self.0 {
            s.kill();
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Held {
    address: Option<Resource>,
    prefix: Option<Resource>,
    server: Option<Duid>,
    /// Valid lifetime granted for the address.
    valid: u32,
}

struct DemoClient {
    duid: Duid,
    peer: Ipv6Addr,
    held: Held,
}

/// Per-client lines are printed for small populations only.
const VERBOSE_CLIENTS: usize = 16;

struct Clock0(Instant, bool);

impl Clock0 {
    fn say(&self, msg: impl AsRef<str>) {
        println!("[{:6.1}s] {}", self.0.elapsed().as_secs_f64(), msg.as_ref());
    }

    /// A per-client line: printed if the population is small or the line reports a failure.
    fn client(&self, failed: bool, msg: impl AsRef<str>) {
        if self.1 || failed {
            self.say(msg);
        }
    }
}

/// `status` (answered within 2 s): a control call is a few milliseconds on loopback, so it
/// blocks the task.
async fn status(sock: &Path) -> Option<Value> {
    let v = control::call(sock, "status", json!({}), Duration::from_secs(2))?;
    v.get("arguments").cloned()
}

fn state_name(v: &Value) -> String {
    v.get("state-name").and_then(Value::as_str).unwrap_or("?").to_owned()
}

/// Polls until `pred` holds for every server's status, or the limit passes.
async fn wait_for(
    clock: &Clock0,
    what: &str,
    socks: &[&Path],
    limit: Duration,
    pred: impl Fn(usize, &Value) -> bool,
) -> bool {
    let until = Instant::now() + limit;
    let mut last = String::new();
    loop {
        let mut all = true;
        let mut line = Vec::new();
        for (i, s) in socks.iter().enumerate() {
            match status(s).await {
                Some(v) => {
                    line.push(state_name(&v));
                    all &= pred(i, &v);
                }
                None => {
                    line.push("(unreachable)".into());
                    all = false;
                }
            }
        }
        let line = line.join(" / ");
        if line != last {
            clock.say(format!("  states: {line}"));
            last = line;
        }
        if all {
            return true;
        }
        if Instant::now() >= until {
            clock.say(format!("  gave up waiting for {what} after {}s", limit.as_secs()));
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn request(
    c: &DemoClient,
    kind: ClientMsgKind,
    server: Option<&Duid>,
    with_leases: bool,
) -> ClientRequest {
    let lease = |r: Option<Resource>| -> Vec<RequestedLease> {
        if !with_leases {
            return Vec::new();
        }
        r.map(|resource| RequestedLease { resource, preferred_lifetime: 0, valid_lifetime: 0 })
            .into_iter()
            .collect()
    };
    ClientRequest {
        tag: 0,
        kind,
        client_id: Some(c.duid.clone()),
        server_id: server.cloned(),
        rapid_commit: kind == ClientMsgKind::Solicit,
        ias: vec![
            IaRequest { kind: IaKind::Na, iaid: 1, leases: lease(c.held.address) },
            IaRequest { kind: IaKind::Pd, iaid: 2, leases: lease(c.held.prefix) },
        ],
        link_address: None,
        unicast: false,
        oro: Vec::new(),
    }
}

/// Sends one request per client at once (relayed, to every target) and collects the answers
/// for `STEP_TIMEOUT`: `None` for a client that got no answer.
async fn exchange_all(
    sock: &UdpSocket,
    clients: &[DemoClient],
    reqs: Vec<Option<(ClientRequest, [u8; 3])>>,
    targets: &[SocketAddr],
) -> anyhow::Result<Vec<Option<ClientReply>>> {
    let mut by_xid = std::collections::HashMap::new();
    for (i, (c, r)) in clients.iter().zip(&reqs).enumerate() {
        let Some((req, xid)) = r else { continue };
        let relayed = relay_forw(req, *xid, c.peer, Some(b"demo0"))?;
        for t in targets {
            let _ = sock.send_to(&relayed, t).await;
        }
        by_xid.insert(*xid, i);
    }
    let mut out: Vec<Option<ClientReply>> = vec![None; clients.len()];
    let until = tokio::time::Instant::now() + STEP_TIMEOUT;
    let mut buf = vec![0u8; 65_536];
    while out.iter().filter(|o| o.is_some()).count() < by_xid.len() {
        let r = tokio::time::timeout_at(until, sock.recv_from(&mut buf)).await;
        let Ok(Ok((n, _))) = r else { break };
        let Some((reply, xid)) = relay_repl(buf.get(..n).unwrap_or_default()) else { continue };
        if let Some(&i) = by_xid.get(&xid) {
            if reply.client_id.as_ref() == Some(&clients[i].duid) && out[i].is_none() {
                out[i] = Some(reply);
            }
        }
    }
    Ok(out)
}

/// Every client renews: RENEW to the server that served it, then REBIND (to any server) for
/// those that got no lease back. Returns each client's answer and the message that got it.
async fn renew_all(
    sock: &UdpSocket,
    clients: &[DemoClient],
    targets: &[SocketAddr],
    next_xid: &mut impl FnMut() -> [u8; 3],
) -> anyhow::Result<Vec<(Option<ClientReply>, &'static str)>> {
    let reqs = clients
        .iter()
        .map(|c| Some((request(c, ClientMsgKind::Renew, c.held.server.as_ref(), true), next_xid())))
        .collect();
    let first = exchange_all(sock, clients, reqs, targets).await?;
    let has_lease =
        |r: &Option<ClientReply>| r.as_ref().is_some_and(|r| leases_in(r).address.is_some());
    let mut answers: Vec<(Option<ClientReply>, &'static str)> =
        first.into_iter().map(|r| (r, "RENEW")).collect();
    // REBIND to any server, retransmitted (as a client would) for whoever is still unanswered.
    for _round in 0..REBIND_ROUNDS {
        let reqs: Vec<_> = clients
            .iter()
            .zip(&answers)
            .map(|(c, (r, _))| {
                (!has_lease(r)).then(|| (request(c, ClientMsgKind::Rebind, None, true), next_xid()))
            })
            .collect();
        if reqs.iter().all(Option::is_none) {
            break;
        }
        let got = exchange_all(sock, clients, reqs, targets).await?;
        for (slot, r) in answers.iter_mut().zip(got) {
            if !has_lease(&slot.0) && r.is_some() {
                *slot = (r, "REBIND");
            }
        }
    }
    Ok(answers)
}

/// Prints what each client got back from a round of renewals, and counts the clients that kept
/// both their address and their prefix (remembering which server now answers them).
fn report_renewals(
    clock: &Clock0,
    clients: &mut [DemoClient],
    answers: Vec<(Option<ClientReply>, &'static str)>,
) -> usize {
    let mut kept = 0;
    for (c, (r, via)) in clients.iter_mut().zip(answers) {
        let h = r.as_ref().map(leases_in);
        let same =
            h.as_ref().is_some_and(|h| h.address == c.held.address && h.prefix == c.held.prefix);
        let by = h
            .as_ref()
            .and_then(|h| h.server.as_ref())
            .map_or("nobody".to_owned(), ToString::to_string);
        clock.client(
            !same,
            format!(
                "  client {}: {} and {} (valid {} s) by {via} from {by}: {}",
                c.duid,
                show(h.as_ref().and_then(|h| h.address)),
                show(h.as_ref().and_then(|h| h.prefix)),
                h.as_ref().map_or(0, |h| h.valid),
                if same { "SAME LEASES" } else { "LEASES LOST OR CHANGED" }
            ),
        );
        if same {
            kept += 1;
            if let Some(h) = h {
                c.held.server = h.server;
            }
        }
    }
    kept
}

fn leases_in(reply: &ClientReply) -> Held {
    let mut h =
        Held { address: None, prefix: None, server: Some(reply.server_id.clone()), valid: 0 };
    for ia in &reply.ias {
        if ia.status.is_some_and(|s| s != DhcpStatus::Success) {
            continue;
        }
        for l in &ia.leases {
            if l.valid_lifetime == 0 {
                continue;
            }
            match ia.kind {
                IaKind::Na => {
                    if h.address.is_none() {
                        h.address = Some(l.resource);
                        h.valid = l.valid_lifetime;
                    }
                }
                IaKind::Pd => h.prefix = h.prefix.or(Some(l.resource)),
                IaKind::Ta => {}
            }
        }
    }
    h
}

fn show(r: Option<Resource>) -> String {
    r.map_or_else(|| "-".into(), |r| r.to_string())
}

/// Runs the demo with the `failoverd` at `exe`. `Ok(true)`: every client kept its leases.
///
/// # Errors
/// The demo could not be set up (temporary directory, sockets, a configuration
/// `failoverd check-config` refuses, a server that cannot be started).
#[allow(clippy::too_many_lines)]
pub async fn run(
    exe: &Path,
    n_clients: usize,
    server_log: Option<PathBuf>,
) -> anyhow::Result<bool> {
    let clock = Clock0(Instant::now(), n_clients <= VERBOSE_CLIENTS);
    if n_clients == 0 || n_clients > MAX_CLIENTS {
        anyhow::bail!("--clients must be 1 to {MAX_CLIENTS}");
    }
    let dir = std::env::temp_dir().join(format!("failoverd-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let fo_port = try_free_tcp()?;
    let ports = [try_free_udp()?, try_free_udp()?];
    let mut servers = Vec::new();
    for (role, port) in [Role::Primary, Role::Secondary].into_iter().zip(ports) {
        let config = dir.join(format!("{}.toml", role.name()));
        let node = Node::write(exe, demo_config(&dir, role, fo_port, port), config)?;
        let out = failoverd(exe, &[std::ffi::OsStr::new("check-config"), node.config.as_os_str()]);
        if !out.status.success() {
            anyhow::bail!(
                "{}: {}",
                node.config.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        servers.push(Server { name: role.name(), node, proc: None });
    }
    let mut servers = Servers(servers);
    let log = server_log.as_deref();
    clock.say(format!(
        "failoverd demo: a primary and a secondary on ::1 (failover port {fo_port}, DHCPv6 ports {} and {}), {n_clients} clients behind a relay agent; files in {}",
        ports[0], ports[1], dir.display()
    ));
    for s in &mut servers.0 {
        s.start(log)?;
        clock.say(format!("started the {} (pid {})", s.name, s.pid()));
    }
    let socks: Vec<PathBuf> = servers.0.iter().map(|s| s.node.socket.clone()).collect();
    let both: Vec<&Path> = socks.iter().map(PathBuf::as_path).collect();
    let targets: Vec<SocketAddr> = servers.0.iter().map(|s| s.node.dhcp).collect();
    let is_normal = |_: usize, v: &Value| state_name(v) == "NORMAL";

    let scenario = async {
        clock.say("phase 1: waiting for both servers to reach NORMAL");
        if !wait_for(&clock, "NORMAL", &both, Duration::from_secs(30), is_normal).await {
            return Ok::<bool, anyhow::Error>(false);
        }

        let relay = UdpSocket::bind("[::1]:0").await?;
        let mut clients: Vec<DemoClient> = (0..n_clients)
            .map(|i| {
                let i = u16::try_from(i).unwrap_or(u16::MAX);
                DemoClient {
                    duid: Duid::new(vec![
                        0,
                        3,
                        0,
                        1,
                        0x02,
                        0,
                        0,
                        0xde,
                        (i >> 8) as u8,
                        (i & 0xff) as u8,
                    ]),
                    peer: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, i + 1),
                    held: Held { address: None, prefix: None, server: None, valid: 0 },
                }
            })
            .collect();
        let mut xid = 1u32;
        let mut next_xid = || {
            xid = (xid + 1) & 0x00ff_ffff;
            let b = xid.to_be_bytes();
            [b[1], b[2], b[3]]
        };

        clock.say("phase 2: every client asks for an address and a prefix (SOLICIT with Rapid Commit, REQUEST if advertised)");
        // All clients at once: SOLICIT (Rapid Commit); REQUEST for those that got an ADVERTISE;
        // up to five rounds for any client still without both leases.
        let started = Instant::now();
        for _round in 0..5 {
            let need: Vec<bool> = clients
                .iter()
                .map(|c| c.held.address.is_none() || c.held.prefix.is_none())
                .collect();
            if !need.contains(&true) {
                break;
            }
            let reqs = clients
                .iter()
                .zip(&need)
                .map(|(c, n)| {
                    n.then(|| (request(c, ClientMsgKind::Solicit, None, false), next_xid()))
                })
                .collect();
            let answers = exchange_all(&relay, &clients, reqs, &targets).await?;
            let mut advertised: Vec<Option<ClientReply>> = vec![None; clients.len()];
            for ((c, r), adv) in clients.iter_mut().zip(answers).zip(advertised.iter_mut()) {
                match r {
                    Some(r) if r.kind == ReplyKind::Advertise => *adv = Some(r),
                    Some(r) => {
                        let h = leases_in(&r);
                        if h.address.is_some() && h.prefix.is_some() {
                            c.held = h;
                        }
                    }
                    None => {}
                }
            }
            let reqs = clients
                .iter()
                .zip(&advertised)
                .map(|(c, adv)| {
                    adv.as_ref().map(|r| {
                        let hinted =
                            DemoClient { held: leases_in(r), duid: c.duid.clone(), peer: c.peer };
                        (
                            request(&hinted, ClientMsgKind::Request, Some(&r.server_id), true),
                            next_xid(),
                        )
                    })
                })
                .collect();
            let answers = exchange_all(&relay, &clients, reqs, &targets).await?;
            for (c, r) in clients.iter_mut().zip(answers) {
                if let Some(r) = r {
                    let h = leases_in(&r);
                    if h.address.is_some() && h.prefix.is_some() {
                        c.held = h;
                    }
                }
            }
        }
        let mut all_ok = true;
        let mut served = 0;
        for c in &clients {
            if c.held.address.is_some() && c.held.prefix.is_some() {
                served += 1;
                clock.client(
                    false,
                    format!(
                        "  client {}: {} and {} (valid {} s)",
                        c.duid,
                        show(c.held.address),
                        show(c.held.prefix),
                        c.held.valid
                    ),
                );
            } else {
                clock.client(true, format!("  client {}: NO LEASE", c.duid));
                all_ok = false;
            }
        }
        clock.say(format!(
            "  {served} of {} clients got an address and a prefix in {:.2} s",
            clients.len(),
            started.elapsed().as_secs_f64()
        ));
        if !all_ok {
            return Ok(false);
        }

        clock.say("phase 3: waiting until the secondary has every lease (lazy updates acked)");
        // The primary has no update left to send or to be acked, and the secondary holds an
        // ACTIVE binding for every address and prefix handed out.
        let until = Instant::now() + Duration::from_secs(30);
        let want = 2 * clients.len();
        loop {
            let p = status(&socks[0]).await.unwrap_or_default();
            let s = status(&socks[1]).await.unwrap_or_default();
            let count = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(u64::MAX);
            let active = usize::try_from(count(&s, "active_leases")).unwrap_or(0);
            if count(&p, "pending_updates") == 0
                && count(&p, "unacked_updates") == 0
                && active >= want
            {
                clock.say(format!(
                    "  the secondary holds all {active} leases (the primary has nothing left to send)"
                ));
                break;
            }
            if Instant::now() >= until {
                clock.say(format!("  the secondary holds {active} of {want} leases; giving up"));
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        let pid = servers.0[0].pid();
        servers.0[0].kill();
        clock.say(format!("phase 4: SIGKILL the primary (pid {pid})"));
        let secondary_only = [socks[1].as_path()];
        if !wait_for(
            &clock,
            "COMMUNICATIONS-INTERRUPTED",
            &secondary_only,
            Duration::from_secs(30),
            |_, v| state_name(v) == "COMMUNICATIONS-INTERRUPTED",
        )
        .await
        {
            return Ok(false);
        }
        clock.say("  every client renews (RENEW to its server, then REBIND to any)");
        let answers = renew_all(&relay, &clients, &targets, &mut next_xid).await?;
        let kept = report_renewals(&clock, &mut clients, answers);
        clock.say(format!(
            "  {kept} of {} clients kept their address and prefix with the primary down",
            clients.len()
        ));
        if kept != clients.len() {
            return Ok(false);
        }

        servers.0[0].start(log)?;
        clock.say(format!(
            "phase 5: restarted the primary (pid {}) on its lease store",
            servers.0[0].pid()
        ));
        if !wait_for(&clock, "NORMAL", &both, Duration::from_secs(60), is_normal).await {
            return Ok(false);
        }
        clock.say("  every client renews again");
        let answers = renew_all(&relay, &clients, &targets, &mut next_xid).await?;
        let kept = report_renewals(&clock, &mut clients, answers);
        clock.say(format!(
            "  {kept} of {} clients kept their address and prefix after the recovery",
            clients.len()
        ));
        Ok(kept == clients.len())
    };
    let ok = match tokio::time::timeout(DEMO_LIMIT, scenario).await {
        Ok(r) => r,
        Err(_) => {
            clock.say(format!("the demo did not finish within {} s", DEMO_LIMIT.as_secs()));
            Ok(false)
        }
    };

    // Stop both (politely, then by PID).
    for s in &socks {
        let _ = control::call(s, "shutdown", json!({}), Duration::from_secs(2));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(servers);
    let mut ok = match ok {
        Ok(ok) => ok,
        Err(e) => {
            clock.say(format!("error: {e:#}"));
            false
        }
    };
    // Both servers recorded every core input and output: replay them through the model.
    for role in [Role::Primary, Role::Secondary] {
        let role = role.name();
        let trace = dir.join(format!("{role}.trace.jsonl"));
        let config = dir.join(format!("{role}.toml"));
        let out = failoverd(
            exe,
            &[
                "replay".as_ref(),
                "--trace".as_ref(),
                trace.as_os_str(),
                "--config".as_ref(),
                config.as_os_str(),
            ],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        // `failoverd replay` says "no divergence (N steps replayed)" and exits 0, or
        // "DIVERGENCE at step N (trace line L)" and exits 1, or an error on stderr (exit 2).
        let steps = stdout
            .lines()
            .find_map(|l| l.strip_prefix("no divergence (")?.strip_suffix(" steps replayed)"));
        match (out.status.success(), steps) {
            (true, Some(steps)) => clock.say(format!(
                "replayed the {role}'s trace through the model: {steps} steps, no divergence"
            )),
            _ => {
                let why = stdout.lines().find(|l| l.starts_with("DIVERGENCE")).map_or_else(
                    || String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                    str::to_owned,
                );
                clock.say(format!("replay {role}: {why} ({})", trace.display()));
                ok = false;
            }
        }
    }
    if ok {
        clock.say("RESULT: every client kept its address and prefix through the failover and the recovery.");
    } else {
        clock.say(format!("RESULT: FAILED (server files kept in {})", dir.display()));
    }
    if ok {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(ok)
}
