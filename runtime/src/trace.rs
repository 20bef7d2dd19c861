//! Trace recording and replay.
//!
//! A trace is JSON lines: first `{"restore": {"now", "image"}}` then `{"outputs": [...]}` for
//! what [`Endpoint::restore`] returned; then, for every step, `{"now", "input"}` followed by
//! `{"outputs": [...]}`. Replaying it through `failover-model` with the same configuration
//! must give the same outputs; [`replay`] reports the first step where it does not.

use failover_model::{Binding, Config, DurableImage, Endpoint, Input, Output, StateRecord, Time};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

/// A durable image in a JSON-friendly shape (JSON object keys must be strings).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The state record.
    pub state: Option<StateRecord>,
    /// Every binding.
    pub bindings: Vec<Binding>,
}

impl From<&DurableImage> for ImageRecord {
    fn from(i: &DurableImage) -> Self {
        ImageRecord { state: i.state.clone(), bindings: i.bindings.values().cloned().collect() }
    }
}

impl From<ImageRecord> for DurableImage {
    fn from(r: ImageRecord) -> Self {
        let mut i = DurableImage { state: r.state, ..DurableImage::default() };
        for b in r.bindings {
            i.bindings.insert(b.resource, b);
        }
        i
    }
}

/// One line of a trace.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)]
pub enum TraceLine {
    /// The restore.
    Restore {
        /// What was restored.
        restore: RestoreRecord,
    },
    /// One input.
    Step {
        /// When.
        now: Time,
        /// What.
        input: Input,
    },
    /// The outputs of the preceding restore or input.
    Outputs {
        /// In order.
        outputs: Vec<Output>,
    },
}

/// The restore line's body.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RestoreRecord {
    /// When.
    pub now: Time,
    /// From what.
    pub image: ImageRecord,
}

/// Writes a trace.
#[derive(Debug)]
pub struct TraceWriter {
    out: BufWriter<std::fs::File>,
}

impl TraceWriter {
    /// Creates (truncates) the file.
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(path: &Path) -> std::io::Result<TraceWriter> {
        Ok(TraceWriter { out: BufWriter::new(std::fs::File::create(path)?) })
    }

    fn line(&mut self, l: &TraceLine) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, l)?;
        self.out.write_all(b"\n")
    }

    /// Records the restore and its outputs.
    ///
    /// # Errors
    /// I/O.
    pub fn restore(
        &mut self,
        now: Time,
        image: &DurableImage,
        outputs: &[Output],
    ) -> std::io::Result<()> {
        self.line(&TraceLine::Restore { restore: RestoreRecord { now, image: image.into() } })?;
        self.line(&TraceLine::Outputs { outputs: outputs.to_vec() })?;
        self.out.flush()
    }

    /// Records an input (before the step).
    ///
    /// # Errors
    /// I/O.
    pub fn input(&mut self, now: Time, input: &Input) -> std::io::Result<()> {
        self.line(&TraceLine::Step { now, input: input.clone() })
    }

    /// Records a step's outputs.
    ///
    /// # Errors
    /// I/O.
    pub fn outputs(&mut self, outputs: &[Output]) -> std::io::Result<()> {
        self.line(&TraceLine::Outputs { outputs: outputs.to_vec() })?;
        self.out.flush()
    }
}

/// The result of a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// Every step gave the recorded outputs.
    NoDivergence {
        /// Steps replayed (not counting the restore).
        steps: usize,
    },
    /// The first step whose outputs differ.
    Divergence {
        /// Step number (0 = the restore).
        step: usize,
        /// Line number in the file (1-based).
        line: usize,
        /// What was recorded.
        recorded: Vec<Output>,
        /// What the model gives now.
        replayed: Vec<Output>,
    },
}

/// Replays a trace file through the model with `config`.
///
/// # Errors
/// The file cannot be read or is not a trace (the message says which line).
pub fn replay(path: &Path, config: &Config) -> anyhow::Result<ReplayOutcome> {
    let f = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut lines = Vec::new();
    for (i, l) in std::io::BufReader::new(f).lines().enumerate() {
        let l = l?;
        if l.trim().is_empty() {
            continue;
        }
        let parsed: TraceLine = serde_json::from_str(&l)
            .map_err(|e| anyhow::anyhow!("{}:{}: not a trace line: {e}", path.display(), i + 1))?;
        lines.push((i + 1, parsed));
    }
    let mut it = lines.into_iter();
    let Some((_, TraceLine::Restore { restore })) = it.next() else {
        anyhow::bail!("{}: the first line must be the restore record", path.display());
    };
    let image: DurableImage = restore.image.into();
    let (mut ep, outs) = Endpoint::restore_owned(config.clone(), image, restore.now);
    let mut step = 0usize;
    let mut pending: Option<(usize, Vec<Output>)> = Some((1, outs));
    for (line, l) in it {
        match l {
            TraceLine::Outputs { outputs } => {
                let Some((_, replayed)) = pending.take() else {
                    anyhow::bail!("{}:{line}: outputs without an input", path.display());
                };
                if replayed != outputs {
                    return Ok(ReplayOutcome::Divergence {
                        step,
                        line,
                        recorded: outputs,
                        replayed,
                    });
                }
            }
            TraceLine::Step { now, input } => {
                if pending.is_some() {
                    anyhow::bail!("{}:{line}: input before the previous outputs", path.display());
                }
                step += 1;
                pending = Some((line, ep.handle(now, input)));
            }
            TraceLine::Restore { .. } => {
                anyhow::bail!("{}:{line}: a second restore record", path.display());
            }
        }
    }
    Ok(ReplayOutcome::NoDivergence { steps: step })
}
