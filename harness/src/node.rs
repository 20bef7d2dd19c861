//! One `failoverd` on loopback ([`Node`]) and a pair of them in NORMAL ([`normal_pair`]).

use crate::config::{Config, Role, TLS_OFF};
use crate::control;
use crate::process::Proc;
use crate::wait::{free_tcp, free_udp, wait_until};
use serde_json::Value;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// One server: the `failoverd` to run, its configuration (the fields and the file), its
/// control socket and its DHCPv6 address.
#[derive(Clone, Debug)]
pub struct Node {
    /// The `failoverd` executable.
    pub exe: PathBuf,
    /// The configuration as written.
    pub spec: Config,
    /// The configuration file.
    pub config: PathBuf,
    /// The control socket.
    pub socket: PathBuf,
    /// Where it serves DHCPv6.
    pub dhcp: SocketAddr,
}

impl Node {
    /// Writes `spec` to `config` and describes the server (DHCPv6 on `[::1]` at the spec's
    /// port, 547 if it has none).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write(exe: &Path, spec: Config, config: PathBuf) -> std::io::Result<Node> {
        spec.write(&config)?;
        let dhcp = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), spec.dhcp_port.unwrap_or(547));
        Ok(Node { exe: exe.to_owned(), socket: spec.control_socket.clone(), spec, config, dhcp })
    }

    /// [`Config::loopback`] in `dir` (`<role>.toml`) with a free DHCPv6 port and these TLS
    /// lines of `[failover]` ([`crate::config::TLS_OFF`], [`Config::tls_required`], with any
    /// more lines of that table after them).
    ///
    /// # Panics
    /// The file cannot be written.
    #[must_use]
    pub fn loopback(
        exe: &Path,
        dir: &Path,
        role: Role,
        fo_port: u16,
        fo_listen: &str,
        tls: &str,
    ) -> Node {
        let mut spec = Config::loopback(dir, role, fo_port, fo_listen, free_udp());
        tls.clone_into(&mut spec.tls);
        Node::write(exe, spec, dir.join(format!("{}.toml", role.name()))).expect("write config")
    }

    /// Writes the configuration again after a change of [`Node::spec`].
    ///
    /// # Panics
    /// The file cannot be written.
    pub fn rewrite(&self) {
        self.spec.write(&self.config).expect("write config");
    }

    /// Spawns `failoverd run --config <file>` with stderr to `stderr`, stdout discarded, and
    /// these environment variables.
    ///
    /// # Errors
    /// It cannot be started.
    pub fn spawn(&self, stderr: Stdio, env: &[(&str, &str)]) -> std::io::Result<Proc> {
        let mut cmd = Command::new(&self.exe);
        cmd.args(["run", "--config"])
            .arg(&self.config)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr);
        Proc::spawn_command(self.spec.role.name(), &mut cmd)
    }

    /// Starts it with stderr to a new file `log`.
    ///
    /// # Panics
    /// The log file cannot be created or the process cannot be started.
    #[must_use]
    pub fn start(&self, log: &Path) -> Proc {
        self.start_with_env(log, &[])
    }

    /// [`Node::start`] with environment variables.
    ///
    /// # Panics
    /// The log file cannot be created or the process cannot be started.
    #[must_use]
    pub fn start_with_env(&self, log: &Path, env: &[(&str, &str)]) -> Proc {
        let err = std::fs::File::create(log).expect("log file");
        self.spawn(Stdio::from(err), env).expect("spawn failoverd")
    }

    /// One control command ([`control::ctl`]).
    #[must_use]
    pub fn ctl(&self, command: &str, arguments: Value) -> Option<Value> {
        control::ctl(&self.socket, command, arguments)
    }

    /// The own state's name, or "" ([`control::state`]).
    #[must_use]
    pub fn state(&self) -> String {
        control::state(&self.socket)
    }

    /// The Prometheus text, or "" ([`control::metrics`]).
    #[must_use]
    pub fn metrics(&self) -> String {
        control::metrics(&self.socket)
    }
}

/// A pair on loopback in NORMAL on both sides: its directory (configurations, logs
/// `<role>.log`, stores, traces), the failover port, both nodes and both processes.
pub struct Pair {
    /// Deleted when dropped.
    pub dir: tempfile::TempDir,
    /// The failover port (both listen on it; the secondary accepts).
    pub fo_port: u16,
    /// The primary.
    pub prim: Node,
    /// The secondary.
    pub sec: Node,
    /// The primary's process.
    pub p: Proc,
    /// The secondary's process.
    pub s: Proc,
}

/// Starts a pair of `exe` ([`Node::loopback`], the failover link on `listen`, TLS off), the
/// secondary first, and waits (40 s at most) for NORMAL on both sides.
///
/// # Panics
/// The pair did not reach NORMAL (the message names both states and the logs' directory).
#[must_use]
pub fn normal_pair(exe: &Path, listen: &str) -> Pair {
    let dir = tempfile::tempdir().expect("tempdir");
    let fo_port = free_tcp();
    let prim = Node::loopback(exe, dir.path(), Role::Primary, fo_port, listen, TLS_OFF);
    let sec = Node::loopback(exe, dir.path(), Role::Secondary, fo_port, listen, TLS_OFF);
    let s = sec.start(&dir.path().join("secondary.log"));
    let p = prim.start(&dir.path().join("primary.log"));
    let normal =
        wait_until(Duration::from_secs(40), || prim.state() == "NORMAL" && sec.state() == "NORMAL");
    assert!(
        normal,
        "pair did not reach NORMAL (primary {}, secondary {}); logs in {}",
        prim.state(),
        sec.state(),
        dir.path().display()
    );
    Pair { dir, fo_port, prim, sec, p, s }
}

/// The sum of the Prometheus samples whose line starts with `prefix` (a metric name, or a
/// name and the start of its labels), 0 if none.
#[must_use]
pub fn metric_sum(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The value of one Prometheus sample (`name{labels}`, exactly), 0 if absent.
#[must_use]
pub fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == sample).then(|| v.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}
