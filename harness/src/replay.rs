//! `splitbrain replay RUN [--times N]`: run a stored run again with the same
//! target, preset, seed and settings, and say how often its violation came
//! back. A seed fixes the fault schedule, not how real processes interleave,
//! so a violation found once may need several replays to show again.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use checkers::Verdict;
use comfy_table::{presets, ContentArrangement, Table};
use results::campaign::RunStatus;
use results::report::json;
use results::store::RunDir;

use crate::run::{self, RunOptions};

/// What `splitbrain replay` was told.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The run directory to replay.
    pub run: PathBuf,
    /// How many times.
    pub times: usize,
    /// Where the replays are stored.
    pub store: PathBuf,
    /// Set by SIGINT/SIGTERM: stop after the current replay.
    pub interrupt: Arc<AtomicBool>,
}

/// One replay's outcome.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Its run directory, when one was created.
    pub dir: Option<PathBuf>,
    /// Its outcome.
    pub status: RunStatus,
    /// Checkers invalid in it.
    pub invalid: Vec<String>,
    /// Why it failed to run.
    pub error: Option<String>,
}

/// Every replay, against the original.
#[derive(Debug, Clone)]
pub struct ReplayOutcome {
    /// Checkers invalid in the original run.
    pub original_invalid: Vec<String>,
    /// The replays, in order.
    pub attempts: Vec<Attempt>,
}

impl Attempt {
    /// Did the original violation come back: every checker invalid in the
    /// original is invalid here too (for a valid original: any violation).
    pub fn came_back(&self, original_invalid: &[String]) -> bool {
        self.status == RunStatus::Invalid
            && original_invalid.iter().all(|c| self.invalid.contains(c))
    }
}

impl ReplayOutcome {
    /// How many replays showed the original violation again.
    pub fn reproduced(&self) -> usize {
        self.attempts
            .iter()
            .filter(|a| a.came_back(&self.original_invalid))
            .count()
    }

    /// Exit code like `run`: 1 if any replay was invalid, else 255 if one
    /// failed to run, else 2 if one was unknown or interrupted, else 0.
    pub fn exit_code(&self) -> i32 {
        let any = |s: RunStatus| self.attempts.iter().any(|a| a.status == s);
        if any(RunStatus::Invalid) {
            1
        } else if any(RunStatus::Failed) {
            255
        } else if any(RunStatus::Unknown) || any(RunStatus::Interrupted) {
            2
        } else {
            0
        }
    }

    /// The replay table and the one-line conclusion.
    pub fn render(&self) -> String {
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled)
            .force_no_tty()
            .set_header(vec![
                "replay",
                "outcome",
                "invalid checkers",
                "came back",
                "run directory",
            ]);
        for (i, a) in self.attempts.iter().enumerate() {
            table.add_row(vec![
                (i + 1).to_string(),
                a.status.to_string(),
                match &a.error {
                    Some(e) => e.lines().next().unwrap_or_default().to_string(),
                    None => a.invalid.join(", "),
                },
                if a.came_back(&self.original_invalid) {
                    "yes"
                } else {
                    "no"
                }
                .to_string(),
                a.dir
                    .as_ref()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
            ]);
        }
        let what = if self.original_invalid.is_empty() {
            "a violation (the original run was not invalid)".to_string()
        } else {
            format!("the violation ({})", self.original_invalid.join(", "))
        };
        format!(
            "{table}\n{what} came back in {} of {} replays\n",
            self.reproduced(),
            self.attempts.len()
        )
    }
}

fn get_str(t: &toml::Table, key: &str) -> Option<String> {
    t.get(key).and_then(|v| v.as_str()).map(str::to_string)
}

fn get_duration(t: &toml::Table, key: &str) -> anyhow::Result<Option<Duration>> {
    get_str(t, key)
        .map(|s| humantime::parse_duration(&s).with_context(|| format!("run.toml: {key} = {s:?}")))
        .transpose()
}

/// The options that carry out `dir`'s run again, from its `run.toml` (every
/// resolved setting) and its history header (the resolved recovery window).
pub fn options_of(
    dir: &Path,
    store: &Path,
    interrupt: Arc<AtomicBool>,
) -> anyhow::Result<RunOptions> {
    let run = RunDir::open(dir);
    let text = std::fs::read_to_string(run.run_toml()).with_context(|| {
        format!(
            "reading {}; pass a run directory (e.g. store/latest)",
            run.run_toml().display()
        )
    })?;
    let t: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", run.run_toml().display()))?;
    let header = crate::check::read_header(&run.history());
    let time_limit = get_duration(&t, "time_limit")?
        .or_else(|| {
            header
                .as_ref()
                .map(|h| Duration::from_millis(h.time_limit_ms))
        })
        .ok_or_else(|| anyhow!("run.toml has no time_limit"))?;
    let recovery = match get_duration(&t, "recovery")? {
        Some(d) => Some(d),
        None => header
            .as_ref()
            .map(|h| Duration::from_millis(h.recovery_ms)),
    };
    Ok(RunOptions {
        target: get_str(&t, "target").ok_or_else(|| anyhow!("run.toml has no target"))?,
        nodes: t
            .get("nodes")
            .and_then(|v| v.as_integer())
            .map(|n| n as usize),
        seed: Some(
            t.get("seed")
                .and_then(|v| v.as_integer())
                .map(|s| s as u64)
                .or_else(|| header.as_ref().map(|h| h.seed))
                .ok_or_else(|| anyhow!("run.toml has no seed"))?,
        ),
        time_limit,
        nemesis: get_str(&t, "nemesis").unwrap_or_else(|| "kill".into()),
        nemesis_interval: get_duration(&t, "nemesis_interval")?,
        fault_duration: get_duration(&t, "fault_duration")?,
        knobs: workloads::FaultKnobs {
            concurrency: t
                .get("concurrency")
                .and_then(|v| v.as_integer())
                .map_or(1, |n| n as u32),
            duplicate_probability: t.get("duplicate_probability").and_then(|v| v.as_float()),
            spike_delay: get_duration(&t, "spike_delay")?,
            spike_jitter: get_duration(&t, "spike_jitter")?,
            ..workloads::FaultKnobs::default()
        },
        gap_bound: get_duration(&t, "gap_bound")?,
        recovery,
        bug: get_str(&t, "bug"),
        network: match get_str(&t, "network").as_deref() {
            None => None,
            Some("proxy") => Some(crate::network::NetworkBackend::Proxy),
            Some("kernel") => Some(crate::network::NetworkBackend::Kernel),
            Some(other) => {
                return Err(anyhow!(
                    "run.toml: network = {other:?} is not a backend (proxy or kernel)"
                ))
            }
        },
        node_args: t
            .get("node_args")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        store: store.to_path_buf(),
        interrupt,
        progress: crate::progress::ProgressMode::Quiet,
    })
}

/// The checkers invalid in a stored run: from `results.json`, else re-judged.
pub fn invalid_checkers(dir: &Path) -> anyhow::Result<Vec<String>> {
    let run = RunDir::open(dir);
    let report = match std::fs::read_to_string(run.results_json())
        .ok()
        .and_then(|t| json::parse(&t).ok())
    {
        Some(f) => f.report,
        None => crate::check::check_file(&run.history(), &checkers::CheckOptions::default())?,
    };
    Ok(report
        .results
        .iter()
        .filter(|r| r.verdict == Verdict::Invalid)
        .map(|r| r.checker.clone())
        .collect())
}

/// Replay a run `times` times; `on_attempt` sees each replay as it ends.
pub fn replay(
    opts: &ReplayOptions,
    mut on_attempt: impl FnMut(usize, &Attempt),
) -> Result<ReplayOutcome, run::RunError> {
    let dir = if opts.run.is_file() {
        opts.run.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        opts.run.clone()
    };
    let options =
        options_of(&dir, &opts.store, opts.interrupt.clone()).map_err(run::RunError::Config)?;
    let original_invalid = invalid_checkers(&dir).map_err(run::RunError::Config)?;
    let mut attempts = Vec::new();
    for i in 0..opts.times.max(1) {
        if opts.interrupt.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        let attempt = match run::run(&options) {
            Ok(outcome) => {
                if let Err(e) = crate::outputs::write_run_outputs(
                    &outcome.dir,
                    &outcome.header,
                    &outcome.report,
                    outcome.interrupted,
                ) {
                    tracing::warn!("writing reports: {e:#}");
                }
                Attempt {
                    dir: Some(outcome.dir.path().to_path_buf()),
                    status: if outcome.interrupted {
                        RunStatus::Interrupted
                    } else {
                        RunStatus::from_verdict(outcome.verdict())
                    },
                    invalid: outcome
                        .report
                        .results
                        .iter()
                        .filter(|r| r.verdict == Verdict::Invalid)
                        .map(|r| r.checker.clone())
                        .collect(),
                    error: None,
                }
            }
            Err(run::RunError::Config(e)) if i == 0 => return Err(run::RunError::Config(e)),
            Err(e) => Attempt {
                dir: None,
                status: RunStatus::Failed,
                invalid: vec![],
                error: Some(format!("{e:#}")),
            },
        };
        on_attempt(i, &attempt);
        attempts.push(attempt);
    }
    Ok(ReplayOutcome {
        original_invalid,
        attempts,
    })
}
