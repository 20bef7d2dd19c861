//! `failover-check`: bounded model checking of the RFC 8156 failover pair, and the Explorer.
//!
//! ```text
//! failover-check                                  # = check --config ci
//! failover-check check --config deep --checker dfs
//! failover-check check --assume-off A1            # expect S1 (§8.4)
//! failover-check check --mutation ack-before-persist   (feature `mutations`)
//! failover-check --list-mutations                      (feature `mutations`)
//! failover-check explore 127.0.0.1:3000
//! failover-check view --config tiny '#/steps/0/3/1' --out path.html
//! ```
//!
//! Exits 0 when every `always` property holds on the explored space, 1 on a violation (the
//! counterexample is written as `<out>/<property>.json`, `<out>/<property>.txt` and, as a
//! sequence chart, `<out>/<property>.html`), 2 on a usage error.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use failover_specs::config::{assumptions_for, bounds, CONFIG_NAMES};
use failover_specs::run::{check_with_progress, summary, trace_json, trace_text, Search, Stop};
use failover_specs::FailoverModel;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "failover-check", version, about = "Model-check the RFC 8156 failover pair")]
struct Cli {
    /// Print the names of the seeded protocol bugs (feature `mutations`) and exit.
    #[arg(long)]
    list_mutations: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Clone, Copy, ValueEnum)]
enum CheckerKind {
    Dfs,
    Bfs,
    Sim,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check a named bounded configuration.
    Check {
        /// The configuration: unit, tiny, ci, deep, auto-pd, a1, pd-crash, pd-partition, storage,
        /// partition, restart-pd (see `failover_specs::config::bounds`).
        #[arg(long, default_value = "ci")]
        config: String,
        /// The search.
        #[arg(long, value_enum, default_value = "dfs")]
        checker: CheckerKind,
        /// Worker threads (the machine has 2 cores, shared).
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Simulation only: stop after this many generated states.
        #[arg(long, default_value_t = 1_000_000)]
        sim_states: usize,
        /// Switch an environment assumption off (A1, A2, A3); repeatable.
        #[arg(long = "assume-off")]
        assume_off: Vec<String>,
        /// Seed a protocol bug (feature `mutations`).
        #[arg(long)]
        mutation: Option<String>,
        /// Override one bound of the configuration, e.g. `--set horizon=75`; repeatable.
        #[arg(long = "set", value_name = "BOUND=VALUE")]
        set: Vec<String>,
        /// Keep exploring after a violation (collect every counterexample).
        #[arg(long)]
        all: bool,
        /// Where counterexamples are written.
        #[arg(long, default_value = "target/failover-check")]
        out: PathBuf,
    },
    /// Serve the stateright Explorer (loopback only).
    Explore {
        /// Address to listen on.
        #[arg(default_value = "127.0.0.1:3000")]
        addr: String,
        /// The configuration.
        #[arg(long, default_value = "tiny")]
        config: String,
        /// Switch an environment assumption off; repeatable.
        #[arg(long = "assume-off")]
        assume_off: Vec<String>,
        /// Seed a protocol bug (feature `mutations`).
        #[arg(long)]
        mutation: Option<String>,
    },
    /// Draw a path of the Explorer as a sequence chart (one self-contained HTML file).
    View {
        /// The path: the Explorer address or its `#/steps/0/3/1/...` part.
        path: String,
        /// The configuration the Explorer runs.
        #[arg(long, default_value = "tiny")]
        config: String,
        /// Switch an environment assumption off (as given to `explore`); repeatable.
        #[arg(long = "assume-off")]
        assume_off: Vec<String>,
        /// Seed a protocol bug (feature `mutations`).
        #[arg(long)]
        mutation: Option<String>,
        /// Override one bound of the configuration; repeatable.
        #[arg(long = "set", value_name = "BOUND=VALUE")]
        set: Vec<String>,
        /// Where the page is written.
        #[arg(long, default_value = "target/failover-check/path.html")]
        out: PathBuf,
    },
}

fn build(
    config: &str,
    assume_off: &[String],
    mutation: Option<&str>,
    set: &[String],
) -> Result<FailoverModel> {
    let Some(mut b) = bounds(config) else {
        bail!("unknown configuration {config} (known: {})", CONFIG_NAMES.join(", "));
    };
    for kv in set {
        let (k, v) = kv.split_once('=').with_context(|| format!("--set {kv}: want BOUND=VALUE"))?;
        b.set(k, v).map_err(anyhow::Error::msg)?;
    }
    let mut a = assumptions_for(config);
    for name in assume_off {
        a.switch_off(name).map_err(anyhow::Error::msg)?;
    }
    let mut label = config.to_string();
    for name in assume_off {
        label.push_str(&format!("+{name}-off"));
    }
    if let Some(m) = mutation {
        label.push_str(&format!("+{m}"));
    }
    for kv in set {
        label.push_str(&format!("+{kv}"));
    }
    let model = FailoverModel::new(&label, b, a);
    with_mutation(model, mutation)
}

#[cfg(feature = "mutations")]
fn with_mutation(model: FailoverModel, mutation: Option<&str>) -> Result<FailoverModel> {
    use failover_model::mutation::Mutation;
    match mutation {
        None => Ok(model),
        Some(name) => {
            let m =
                Mutation::from_name(name).with_context(|| format!("unknown mutation {name}"))?;
            Ok(model.with_mutation(m))
        }
    }
}

#[cfg(not(feature = "mutations"))]
fn with_mutation(model: FailoverModel, mutation: Option<&str>) -> Result<FailoverModel> {
    match mutation {
        None => Ok(model),
        Some(_) => bail!("mutations need the `mutations` feature (cargo run --features mutations)"),
    }
}

fn list_mutations() -> Result<()> {
    #[cfg(feature = "mutations")]
    {
        for m in failover_model::mutation::ALL_MUTATIONS {
            println!("{}", m.name());
        }
        Ok(())
    }
    #[cfg(not(feature = "mutations"))]
    bail!("built without the `mutations` feature")
}

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("failover-check: {e:#}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<i32> {
    let cli = Cli::parse();
    if cli.list_mutations {
        list_mutations()?;
        return Ok(0);
    }
    let cmd = cli.cmd.unwrap_or(Cmd::Check {
        config: "ci".into(),
        checker: CheckerKind::Dfs,
        threads: 2,
        sim_states: 1_000_000,
        assume_off: Vec::new(),
        mutation: None,
        set: Vec::new(),
        all: false,
        out: PathBuf::from("target/failover-check"),
    });
    match cmd {
        Cmd::Check {
            config,
            checker,
            threads,
            sim_states,
            assume_off,
            mutation,
            set,
            all,
            out,
        } => {
            let model = build(&config, &assume_off, mutation.as_deref(), &set)?;
            let search = match checker {
                CheckerKind::Dfs => Search::Dfs,
                CheckerKind::Bfs => Search::Bfs,
                CheckerKind::Sim => Search::Sim(sim_states),
            };
            let stop = if all { Stop::Never } else { Stop::FirstFailure };
            println!("{}", model.describe());
            println!("checking with {search:?} on {threads} thread(s) ...");
            let outcome = check_with_progress(
                model,
                search,
                threads,
                stop,
                Some(std::time::Duration::from_secs(10)),
            );
            print!("{}", summary(&outcome, search));
            let violated = outcome.violations();
            if violated.is_empty() {
                return Ok(0);
            }
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            for name in violated {
                let Some(path) = outcome.discoveries.get(name) else { continue };
                let stem: String =
                    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
                let json = out.join(format!("{stem}.json"));
                let txt = out.join(format!("{stem}.txt"));
                let html = out.join(format!("{stem}.html"));
                std::fs::write(&txt, trace_text(&outcome.model, name, path))?;
                std::fs::write(&json, trace_json(&outcome.model, name, path)?)?;
                let title = format!("{name}: counterexample, config {}", outcome.model.name);
                std::fs::write(&html, failover_specs::viewer::html(&outcome.model, &title, path)?)?;
                println!(
                    "VIOLATED {name}: {} steps; counterexample in {} and {}; sequence chart {}",
                    path.clone().into_actions().len(),
                    txt.display(),
                    json.display(),
                    html.display()
                );
                println!("  Explorer path: #/steps/{}", path.encode(&outcome.model));
            }
            Ok(1)
        }
        Cmd::Explore { addr, config, assume_off, mutation } => {
            let model = build(&config, &assume_off, mutation.as_deref(), &[])?;
            println!("{}", model.describe());
            println!("Explorer on http://{addr}/");
            println!(
                "To draw the path you are on as a sequence chart: failover-check view --config \
                 {config}{} '<the #/steps/... part of the address>' --out path.html",
                assume_off.iter().map(|a| format!(" --assume-off {a}")).collect::<String>()
            );
            // `serve` blocks for as long as the web server runs.
            failover_specs::run::explore(model, &addr);
            Ok(0)
        }
        Cmd::View { path, config, assume_off, mutation, set, out } => {
            let model = build(&config, &assume_off, mutation.as_deref(), &set)?;
            let p = failover_specs::viewer::path_from_explorer(&model, &path)
                .map_err(anyhow::Error::msg)?;
            let title = format!("Explorer path, config {}", model.name);
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&out, failover_specs::viewer::html(&model, &title, &p)?)
                .with_context(|| format!("writing {}", out.display()))?;
            println!("{} steps drawn in {}", p.clone().into_actions().len(), out.display());
            Ok(0)
        }
    }
}
