//! `failoverd`: the DHCPv6 failover server (RFC 8156).
#![forbid(unsafe_code)]

use clap::{CommandFactory, Parser, Subcommand};
use failover_runtime::config::{LogFormat, RuntimeConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "failoverd", version, about = "DHCPv6 failover server (RFC 8156)")]
struct Cli {
    /// Validate a configuration file and exit (same as `check-config FILE`).
    #[arg(long, value_name = "FILE")]
    check_config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

/// The FILES section of `failoverd(1)`: where the Debian package puts things (roff).
const MAN_FILES: &str = r".SH FILES
.TP
\fI/etc/failoverd/failoverd.toml\fR
The configuration that failoverd.service runs with (a conffile; the package's copy is the
example primary on loopback: edit it, then \fBsystemctl enable \-\-now failoverd\fR).
.TP
\fI/var/lib/failoverd/\fR
\fBdata_dir\fR: the lease store \fIleases.redb\fR (the unit's StateDirectory, owned by the
user failoverd). Never delete it while the partner may serve: see docs/operations.md.
.TP
\fI/run/failoverd/failoverd.sock\fR
\fBcontrol_socket\fR (the unit's RuntimeDirectory), mode 0600:
\fBfailoverd ctl \-\-socket /run/failoverd/failoverd.sock status\fR as root or failoverd.
.TP
\fI/usr/share/doc/failoverd/examples/\fR
A primary and a secondary of one pair on loopback, unprivileged ports.
";

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serve: one endpoint of a failover pair.
    Run {
        /// The TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a configuration file and exit.
    CheckConfig {
        /// The TOML configuration.
        file: PathBuf,
    },
    /// Run a primary and a secondary on loopback with a client population, fail the primary
    /// over and back, and check that every client kept its lease.
    Demo {
        /// Number of clients.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Log of the servers (stderr of the children) goes here instead of being discarded.
        #[arg(long)]
        server_log: Option<PathBuf>,
    },
    /// Send a control command: `failoverd ctl --socket PATH status`.
    Ctl {
        /// The control socket.
        #[arg(long, short)]
        socket: PathBuf,
        /// The command (status, partner-down, shutdown, lease-get, list-commands, metrics).
        command: String,
        /// Arguments as JSON, e.g. '{"address": "2001:db8:1::101"}'.
        arguments: Option<String>,
    },
    /// Write the man pages (`man/failoverd*.1`) and the bash, zsh and fish completions
    /// (`completions/`) generated from this command-line definition into DIR (packaging).
    #[command(hide = true)]
    GenerateAssets {
        /// The output directory (created if missing).
        dir: PathBuf,
    },
    /// Migrate from ISC Kea: translate its DHCPv6 configuration, import its memfile leases.
    #[command(subcommand)]
    ImportKea(ImportKea),
    /// Replay a trace through the model and report the first divergence.
    Replay {
        /// The trace file (`trace_file` in the configuration).
        #[arg(long)]
        trace: PathBuf,
        /// The configuration the trace was recorded with.
        #[arg(long)]
        config: PathBuf,
        /// Also draw the trace as a sequence chart: one self-contained HTML file.
        #[arg(long, value_name = "OUT.html")]
        html: Option<PathBuf>,
        /// With --html: the first step drawn (0 = the restore).
        #[arg(long, requires = "html")]
        from: Option<usize>,
        /// With --html: the last step drawn (default: 399 steps after --from).
        #[arg(long, requires = "html")]
        to: Option<usize>,
    },
}

#[derive(Subcommand, Debug)]
enum ImportKea {
    /// Translate a Kea DHCPv6 configuration (JSON with comments) into a failoverd TOML. What
    /// cannot be translated is listed on stderr and at the top of the TOML. Exit 0 when
    /// translated, 2 when the input is invalid.
    Config {
        /// Kea's configuration (`kea-dhcp6.conf`).
        file: PathBuf,
        /// This server's role (default: that of the HA hook's this-server-name).
        #[arg(long, value_parser = ["primary", "secondary"])]
        role: Option<String>,
        /// The partner's address (default: the host of the other HA peer's URL).
        #[arg(long)]
        partner: Option<std::net::IpAddr>,
        /// This server's DUID, hex (default: Kea's server-id if fully given). Give Kea's
        /// (its kea-dhcp6-serverid file) so that clients' RENEWs naming it are answered.
        #[arg(long)]
        server_duid: Option<String>,
        /// Maximum Client Lead Time, seconds (Kea's HA has none).
        #[arg(long, default_value_t = failover_runtime::kea::DEFAULT_MCLT)]
        mclt: u32,
        /// `data_dir` of the written configuration.
        #[arg(long, default_value = "/var/lib/failoverd")]
        data_dir: PathBuf,
        /// `control_socket` of the written configuration.
        #[arg(long, default_value = "/run/failoverd/failoverd.sock")]
        control_socket: PathBuf,
        /// Write the TOML here (default: stdout).
        #[arg(short, long, value_name = "OUT.toml")]
        output: Option<PathBuf>,
    },
    /// Import Kea memfile leases (`kea-leases6.csv`; several files in order, the last line of
    /// a lease wins) into the lease store of a failoverd configuration, as ACTIVE bindings
    /// flagged for the partner. Exit 0 when imported, 2 on invalid input or a refused store.
    Leases {
        /// Kea's lease file(s), oldest first (e.g. kea-leases6.csv.2 then kea-leases6.csv).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The failoverd configuration whose store receives the leases.
        #[arg(long, short)]
        config: PathBuf,
        /// Import into a store that already holds bindings.
        #[arg(long)]
        force: bool,
    },
}

fn import_kea(cmd: ImportKea) -> ExitCode {
    use failover_runtime::kea;
    match cmd {
        ImportKea::Config {
            file,
            role,
            partner,
            server_duid,
            mclt,
            data_dir,
            control_socket,
            output,
        } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{}: cannot read: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            let opts = kea::ConfigOptions {
                role: role.as_deref().map(|r| {
                    if r == "primary" {
                        failover_model::Role::Primary
                    } else {
                        failover_model::Role::Secondary
                    }
                }),
                partner,
                server_duid,
                mclt,
                data_dir,
                control_socket,
            };
            let t = match kea::translate_config(&text, &opts) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            for n in &t.untranslated {
                eprintln!("not translated: {n}");
            }
            match &output {
                Some(out) => {
                    if let Err(e) = std::fs::write(out, &t.toml) {
                        eprintln!("{}: cannot write: {e}", out.display());
                        return ExitCode::FAILURE;
                    }
                    eprintln!(
                        "{}: written ({:?}, {} address pool(s), {} prefix pool(s), {} item(s) not \
                         translated)",
                        out.display(),
                        t.config.model.role,
                        t.config.model.address_pools.len(),
                        t.config.model.prefix_pools.len(),
                        t.untranslated.len()
                    );
                }
                None => print!("{}", t.toml),
            }
            ExitCode::SUCCESS
        }
        ImportKea::Leases { files, config, force } => {
            let cfg = match RuntimeConfig::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let now = failover_runtime::clock::Clock::now(&failover_runtime::clock::SystemClock);
            match kea::import_leases(&files, &cfg, force, now) {
                Ok(r) => {
                    let skipped: usize = r.skipped.values().map(Vec::len).sum();
                    println!(
                        "imported {} lease(s) ({} address(es), {} prefix(es)) into {}; skipped {}; \
                         {} older line(s) superseded",
                        r.imported,
                        r.addresses,
                        r.prefixes,
                        cfg.store_path().display(),
                        skipped,
                        r.superseded
                    );
                    for (why, list) in &r.skipped {
                        println!("  skipped {}: {}", why.label(), list.len());
                        for l in list {
                            eprintln!("skipped ({}): {l}", why.label());
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("import-kea leases: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => b.json().init(),
        LogFormat::Text => b.init(),
    }
}

fn check(file: &Path) -> ExitCode {
    match RuntimeConfig::load(file) {
        Ok(c) => {
            println!(
                "{}: OK ({:?} of relationship {:?}, {} address pool(s), {} prefix pool(s))",
                file.display(),
                c.model.role,
                c.model.relationship,
                c.model.address_pools.len(),
                c.model.prefix_pools.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// `replay --html`: the trace (a window of it) as a sequence chart.
fn write_html(
    trace: &Path,
    model: &failover_model::Config,
    out: &Path,
    from: Option<usize>,
    to: Option<usize>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let window = failover_runtime::trace::Window::default_for(from, to);
    let (b, total) = failover_runtime::trace::behaviour(trace, model, window)?;
    let page = failover_viewer::render_html(&b)?;
    std::fs::write(out, page).with_context(|| format!("writing {}", out.display()))?;
    let last = window.from + b.steps.len().saturating_sub(1);
    println!(
        "sequence chart of steps {}..{last} (of {total}) in {}{}",
        window.from,
        out.display(),
        if last < total { "; --from/--to draw another window" } else { "" }
    );
    Ok(())
}

/// `generate-assets DIR`: the packaged man pages and completions, from the clap definition.
fn generate_assets(dir: &Path) -> std::io::Result<()> {
    use clap_complete::Shell;
    let man = dir.join("man");
    let completions = dir.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    // One page per subcommand (failoverd-run.1, ...), then failoverd.1 again with FILES.
    clap_mangen::generate_to(Cli::command(), &man)?;
    let top = clap_mangen::Man::new(Cli::command().disable_help_subcommand(true));
    let mut page = Vec::new();
    top.render_title(&mut page)?;
    top.render_name_section(&mut page)?;
    top.render_synopsis_section(&mut page)?;
    top.render_description_section(&mut page)?;
    top.render_options_section(&mut page)?;
    top.render_subcommands_section(&mut page)?;
    page.extend_from_slice(MAN_FILES.as_bytes());
    top.render_version_section(&mut page)?;
    std::fs::write(man.join(top.get_filename()), page)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path =
            clap_complete::generate_to(shell, &mut Cli::command(), "failoverd", &completions)?;
        println!("{}", path.display());
    }
    for entry in std::fs::read_dir(&man)? {
        println!("{}", entry?.path().display());
    }
    Ok(())
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(f) = &cli.check_config {
        return check(f);
    }
    let Some(cmd) = cli.cmd else {
        eprintln!(
            "failoverd: give a command (run, check-config, demo, ctl, replay, import-kea); see --help"
        );
        return ExitCode::from(2);
    };
    match cmd {
        Cmd::CheckConfig { file } => check(&file),
        Cmd::ImportKea(cmd) => import_kea(cmd),
        Cmd::GenerateAssets { dir } => match generate_assets(&dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("generate-assets {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        },
        Cmd::Run { config } => {
            let cfg = match RuntimeConfig::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(cfg.log_format, &cfg.log_level);
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("tokio: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(failover_runtime::server::run(cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("failoverd: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Ctl { socket, command, arguments } => {
            let args = match arguments.as_deref().map(serde_json::from_str::<serde_json::Value>) {
                None => serde_json::json!({}),
                Some(Ok(v)) => v,
                Some(Err(e)) => {
                    eprintln!("arguments: not JSON: {e}");
                    return ExitCode::from(2);
                }
            };
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("tokio: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(failover_runtime::control::call(&socket, &command, args)) {
                Ok(v) => {
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                    if v.get("result").and_then(serde_json::Value::as_i64) == Some(0) {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Replay { trace, config, html, from, to } => {
            let cfg = match RuntimeConfig::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            if let Some(out) = &html {
                if let Err(e) = write_html(&trace, &cfg.model, out, from, to) {
                    eprintln!("{e:#}");
                    return ExitCode::from(2);
                }
            }
            match failover_runtime::trace::replay(&trace, &cfg.model) {
                Ok(failover_runtime::trace::ReplayOutcome::NoDivergence { steps }) => {
                    println!("no divergence ({steps} steps replayed)");
                    ExitCode::SUCCESS
                }
                Ok(failover_runtime::trace::ReplayOutcome::Divergence {
                    step,
                    line,
                    recorded,
                    replayed,
                    recorded_deadline,
                    replayed_deadline,
                }) => {
                    println!("DIVERGENCE at step {step} (trace line {line})");
                    println!("recorded: {}", serde_json::to_string(&recorded).unwrap_or_default());
                    println!("replayed: {}", serde_json::to_string(&replayed).unwrap_or_default());
                    if let Some(d) = recorded_deadline.filter(|d| *d != replayed_deadline) {
                        println!(
                            "next deadline: recorded {}, replayed {} (0: no timer armed)",
                            d.0, replayed_deadline.0
                        );
                    }
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("{e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Demo { clients, server_log } => {
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("tokio: {e}");
                    return ExitCode::FAILURE;
                }
            };
            // The demo (failover-harness) runs this very executable as its two servers.
            let exe = match std::env::current_exe() {
                Ok(exe) => exe,
                Err(e) => {
                    eprintln!("demo: this executable's path: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(failover_harness::demo::run(&exe, clients, server_log)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("demo: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
