//! `failover-check`: bounded model checking of the RFC 8156 failover pair, and the Explorer.
//!
//! ```text
//! failover-check                                  # = check --config ci
//! failover-check check --config deep --checker dfs
//! failover-check check --config reuse --checker dfs-sym   # symmetry reduction over clients
//! failover-check check --assume-off A1            # expect S1 (§8.4)
//! failover-check check --mutation ack-before-persist   (feature `mutations`)
//! failover-check --list-mutations                      (feature `mutations`)
//! failover-check explore 127.0.0.1:3000
//! failover-check view --config tiny '#/steps/0/3/1' --out path.html
//! failover-check walk --config walk --seed 1 --walks 200 --steps 300
//! failover-check walk --config walk --replay 17           # one walk, its trace written
//! ```
//!
//! Exits 0 when every `always` property holds on the explored space, 1 on a violation (the
//! counterexample is written as `<out>/<property>.json`, `<out>/<property>.txt` and, as a
//! sequence chart, `<out>/<property>.html`), 2 on a usage error. `walk` likewise, with the
//! shrunk counterexample under those names and the whole violating walk as
//! `<out>/<property>-walk.{txt,json,html}`.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use failover_specs::config::{assumptions_for, bounds, CONFIG_NAMES};
use failover_specs::model::format_action;
use failover_specs::run::{check_with_progress, summary, trace_json, trace_text, Search, Stop};
use failover_specs::walk::{counts_text, BatchOptions, Options as WalkOptions, Walk, Walker};
use failover_specs::{Action, FailoverModel};
use std::path::{Path, PathBuf};

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
    /// DFS with the symmetry reduction over clients (`failover_specs::reduce`).
    DfsSym,
    Bfs,
    Sim,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check a named bounded configuration.
    Check {
        /// The configuration: unit, tiny, ci, deep, deep2, pool, faults2, auto-pd, a1, pd-crash,
        /// pd-partition, storage, partition, restart-pd, reuse, walk (see
        /// `failover_specs::config::bounds`).
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
    /// Random walks over long behaviours (finds violations, proves nothing): walk `i` has
    /// seed `SEED + i`; a violating walk is shrunk and written like a counterexample of
    /// `check`.
    Walk {
        /// The configuration (`walk`: large bounds, every fault kind).
        #[arg(long, default_value = "walk")]
        config: String,
        /// The first walk's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Walks in the batch.
        #[arg(long, default_value_t = 100)]
        walks: u64,
        /// Steps per walk at most.
        #[arg(long, default_value_t = 300)]
        steps: usize,
        /// Worker threads (the machine has 2 cores, shared).
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Start no walk after this many seconds (the batch then depends on the machine).
        #[arg(long, value_name = "SECONDS")]
        time_limit: Option<u64>,
        /// Replay the one walk with this seed and write its trace (`<out>/walk-SEED.*`).
        #[arg(long, value_name = "SEED")]
        replay: Option<u64>,
        /// Every walk uses every action kind (no swarm profiles).
        #[arg(long)]
        no_swarm: bool,
        /// Skip the L5 check at each walk's end (settle to NORMAL).
        #[arg(long)]
        no_settle: bool,
        /// Do not count distinct states (saves the memory of one hash per state).
        #[arg(long)]
        no_distinct: bool,
        /// Walk on after a violation: count the violating walks per property and write the
        /// lowest-index walk of each (shrunk) under the property's name.
        #[arg(long)]
        keep_going: bool,
        /// Shrinking replays at most this many candidates.
        #[arg(long, default_value_t = 20_000)]
        max_replays: usize,
        /// Switch an environment assumption off (A1, A2, A3); repeatable.
        #[arg(long = "assume-off")]
        assume_off: Vec<String>,
        /// Seed a protocol bug (feature `mutations`).
        #[arg(long)]
        mutation: Option<String>,
        /// Override one bound of the configuration, e.g. `--set clients=4`; repeatable.
        #[arg(long = "set", value_name = "BOUND=VALUE")]
        set: Vec<String>,
        /// Where traces are written.
        #[arg(long, default_value = "target/failover-check/walk")]
        out: PathBuf,
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

/// The command-line flags that rebuild the same walks (for the replay hint).
fn walk_flags(
    config: &str,
    assume_off: &[String],
    mutation: Option<&str>,
    set: &[String],
    opts: &WalkOptions,
) -> String {
    let mut f = format!("--config {config} --steps {}", opts.steps);
    for a in assume_off {
        f.push_str(&format!(" --assume-off {a}"));
    }
    if let Some(m) = mutation {
        f.push_str(&format!(" --mutation {m}"));
    }
    for kv in set {
        f.push_str(&format!(" --set {kv}"));
    }
    if !opts.swarm {
        f.push_str(" --no-swarm");
    }
    if !opts.settle_at_end {
        f.push_str(" --no-settle");
    }
    f
}

fn stem(property: &str) -> String {
    property.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// Writes `<out>/<stem>.{txt,json,html}` for `actions` (a path of the model).
fn write_trace(
    walker: &Walker,
    actions: &[Action],
    property: &str,
    title: &str,
    note: &str,
    out: &Path,
    stem: &str,
) -> Result<PathBuf> {
    let path = walker.path(actions).context("the walk's actions are not a path of the model")?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let txt = out.join(format!("{stem}.txt"));
    std::fs::write(&txt, format!("{note}\n{}", trace_text(&walker.model, property, &path)))?;
    std::fs::write(out.join(format!("{stem}.json")), trace_json(&walker.model, property, &path)?)?;
    std::fs::write(
        out.join(format!("{stem}.html")),
        failover_specs::viewer::html(&walker.model, title, &path)?,
    )?;
    Ok(txt)
}

/// Prints a violating walk, shrinks it and writes both traces.
fn report_violation(
    walker: &Walker,
    walk: &Walk,
    index: Option<u64>,
    max_replays: usize,
    out: &Path,
    flags: &str,
) -> Result<()> {
    let Some(v) = walk.violation() else { return Ok(()) };
    let name = v.property;
    let at = if v.at_walk_end {
        format!(
            "at the end of the walk ({} steps): it did not settle to NORMAL",
            walk.actions.len()
        )
    } else {
        format!("at step {}", walk.actions.len())
    };
    println!(
        "VIOLATED {name}: walk seed {}{} {at}; swarm profile off: [{}]",
        walk.seed,
        index.map_or(String::new(), |i| format!(" (walk {i} of the batch)")),
        walk.profile.off().iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
    );
    println!("  replay: failover-check walk {flags} --replay {}", walk.seed);
    let note = |what: &str| {
        format!(
            "{what} of walk seed {} ({flags}){}",
            walk.seed,
            if v.at_walk_end {
                "; violation: at the last state, the environment turned stable (heal, restart, \
                 nothing else) and the protocol alone did not bring both servers to NORMAL within K"
            } else {
                ""
            }
        )
    };
    let stem = stem(name);
    let started = std::time::Instant::now();
    let shrunk = walker.shrink(&walk.actions, v, max_replays);
    if !shrunk.reproduced {
        bail!("the walk did not replay to its violation (the model is not deterministic?)");
    }
    let full = write_trace(
        walker,
        &walk.actions,
        name,
        &format!("{name}: walk seed {}, config {}", walk.seed, walker.model.name),
        &note("the whole walk"),
        out,
        &format!("{stem}-walk"),
    )?;
    let txt = write_trace(
        walker,
        &shrunk.actions,
        name,
        &format!("{name}: shrunk walk seed {}, config {}", walk.seed, walker.model.name),
        &note("shrunk"),
        out,
        &stem,
    )?;
    println!(
        "  shrunk from {} to {} steps ({} replays, {:.1} s): {} (.json, .html beside it); the whole walk: {}",
        walk.actions.len(),
        shrunk.actions.len(),
        shrunk.replays,
        started.elapsed().as_secs_f64(),
        txt.display(),
        full.display()
    );
    println!("  shrunk actions:");
    for (k, a) in shrunk.actions.iter().enumerate() {
        println!("    {:>3}. {}", k + 1, format_action(a));
    }
    Ok(())
}

/// `walk --replay SEED`: the one walk, its trace, and its shrunk counterexample if it violates.
fn replay_walk(
    walker: &Walker,
    seed: u64,
    opts: &WalkOptions,
    max_replays: usize,
    out: &Path,
    flags: &str,
) -> Result<i32> {
    let walk = walker.walk(seed, opts, |_| {});
    println!(
        "walk seed {seed}: {} steps, {:?}; swarm profile off: [{}]",
        walk.actions.len(),
        walk.ending,
        walk.profile.off().iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
    );
    println!("actions by kind: {}", counts_text(&walk.counts));
    if walk.violation().is_some() {
        report_violation(walker, &walk, None, max_replays, out, flags)?;
        return Ok(1);
    }
    let txt = write_trace(
        walker,
        &walk.actions,
        "none",
        &format!("walk seed {seed}, config {}", walker.model.name),
        &format!("walk seed {seed} ({flags}): no violation, ended {:?}", walk.ending),
        out,
        &format!("walk-{seed}"),
    )?;
    println!("trace: {} (.json, .html beside it)", txt.display());
    Ok(0)
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
                CheckerKind::DfsSym => Search::DfsSymmetry,
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
        Cmd::Walk {
            config,
            seed,
            walks,
            steps,
            threads,
            time_limit,
            replay,
            no_swarm,
            no_settle,
            no_distinct,
            keep_going,
            max_replays,
            assume_off,
            mutation,
            set,
            out,
        } => {
            let model = build(&config, &assume_off, mutation.as_deref(), &set)?;
            let opts = WalkOptions { steps, swarm: !no_swarm, settle_at_end: !no_settle };
            let walker = Walker::new(model);
            println!("{}", walker.model.describe());
            let flags = walk_flags(&config, &assume_off, mutation.as_deref(), &set, &opts);
            if let Some(seed) = replay {
                return replay_walk(&walker, seed, &opts, max_replays, &out, &flags);
            }
            let b = BatchOptions {
                seed,
                walks,
                threads,
                time_limit: time_limit.map(std::time::Duration::from_secs),
                distinct: !no_distinct,
                progress: Some(std::time::Duration::from_secs(10)),
                keep_going,
            };
            println!(
                "walking: seeds {seed}..{}, at most {steps} steps each, {} on {threads} thread(s){}",
                seed.wrapping_add(walks),
                if opts.swarm { "swarm profiles" } else { "every kind in every walk" },
                time_limit.map_or(String::new(), |t| format!(", no walk started after {t} s")),
            );
            let batch = walker.batch(&opts, &b);
            println!(
                "{} walks, {} steps ({} dead ends), {}{:.1} s, {:.0} steps/s",
                batch.walks,
                batch.steps,
                batch.dead_ends,
                batch.distinct.map_or(String::new(), |d| format!("{d} distinct states, ")),
                batch.elapsed.as_secs_f64(),
                batch.rate()
            );
            println!("actions by kind: {}", counts_text(&batch.counts));
            let goals = walker.sometimes_names();
            let missed: Vec<&str> =
                goals.iter().copied().filter(|g| !batch.reached.contains(g)).collect();
            println!(
                "sometimes properties reached: {} of {}{}",
                goals.len() - missed.len(),
                goals.len(),
                if missed.is_empty() {
                    String::new()
                } else {
                    format!("; not reached: {}", missed.join("; "))
                }
            );
            if batch.by_property.is_empty() {
                println!("no violation");
                return Ok(0);
            }
            if keep_going {
                for (name, (n, _, _)) in &batch.by_property {
                    println!("{n} walk(s) violated {name} first");
                }
                for (_, (_, index, walk)) in batch.by_property {
                    report_violation(&walker, &walk, Some(index), max_replays, &out, &flags)?;
                }
            } else if let Some((index, walk)) = batch.violation {
                report_violation(&walker, &walk, Some(index), max_replays, &out, &flags)?;
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
