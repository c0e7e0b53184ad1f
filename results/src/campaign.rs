//! Campaigns in the store: the summary model (`summary.json`) and the
//! campaign directory, `store/campaigns/<name>/<timestamp>/`.
//!
//! A campaign is a matrix of runs (targets × nemesis presets × seeds ×
//! repetitions). Each run lives in its own run directory (see [`crate::store`]);
//! the campaign directory holds what the runs add up to:
//!
//! ```text
//! store/campaigns/<name>/<timestamp>/
//!   summary.json   the CampaignSummary below (schema: docs/store.md)
//!   summary.txt    the campaign table as printed
//!   summary.md     the same in Markdown
//!   summary.html   the table, each run linking to its report.html
//!   junit.xml      one test case per run
//!   runs/<NNNN>-<target>-<preset>-s<seed>-r<rep>  symlinks to the run directories
//! store/campaigns/<name>/latest -> <timestamp>
//! ```
//!
//! `summary.json` is rewritten after every run, so an interrupted (or killed)
//! campaign can be resumed and reported from what it had finished.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use checkers::{Report, Verdict};
use serde::{Deserialize, Serialize};

use crate::figures as details;
use crate::store::{check_writable, utc_stamp, StoreError};

/// Version of the `summary.json` schema written by this build.
pub const CAMPAIGN_FORMAT: u32 = 1;

/// Why a campaign directory or summary could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// The store could not take the campaign directory.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing a campaign file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// `summary.json` is not valid JSON of the expected shape.
    #[error("{path}: not a campaign summary: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What serde said.
        source: serde_json::Error,
    },
    /// A summary written by a newer splitbrain.
    #[error(
        "{path}: summary format {found} is newer than this build understands ({CAMPAIGN_FORMAT})"
    )]
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// The format found.
        found: u32,
    },
    /// Shards given to `--merge` do not belong to one campaign.
    #[error("cannot merge: {0}")]
    Merge(String),
}

/// One cell of the matrix, identified so shards and resumes agree on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PlannedRun {
    /// Position in the whole (unsharded) matrix, from 0; shards split on it.
    pub index: usize,
    /// The target's label in the campaign (`raft`, `raft+forget-term`).
    pub target: String,
    /// The nemesis preset(s), as given to `--nemesis`.
    pub preset: String,
    /// The fault schedule's seed.
    pub seed: u64,
    /// Repetition number, from 1.
    pub repetition: u32,
}

impl PlannedRun {
    /// `raft+forget-term/kill/7` (`#2` appended for later repetitions): the
    /// name a run goes by in tables and JUnit.
    pub fn name(&self) -> String {
        let mut name = format!("{}/{}/{}", self.target, self.preset, self.seed);
        if self.repetition > 1 {
            name.push_str(&format!("#{}", self.repetition));
        }
        name
    }

    /// The name of the run's link under `runs/`.
    pub fn link_name(&self) -> String {
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        format!(
            "{:04}-{}-{}-s{}-r{}",
            self.index,
            clean(&self.target),
            clean(&self.preset),
            self.seed,
            self.repetition
        )
    }
}

/// What became of one run of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every checker valid.
    Valid,
    /// Some checker found a violation.
    Invalid,
    /// No violation, but some checker could not judge.
    Unknown,
    /// The run could not be carried out (a `RunError`): no verdicts.
    Failed,
    /// Stopped by a signal before its end; `--resume` runs it again.
    Interrupted,
}

impl RunStatus {
    /// The status of a finished, judged run.
    pub fn from_verdict(verdict: Verdict) -> RunStatus {
        match verdict {
            Verdict::Valid => RunStatus::Valid,
            Verdict::Invalid => RunStatus::Invalid,
            Verdict::Unknown => RunStatus::Unknown,
        }
    }

    /// The word used in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Valid => "valid",
            RunStatus::Invalid => "invalid",
            RunStatus::Unknown => "unknown",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run's line in `summary.json`: the figures the campaign table adds up,
/// so reporting a campaign needs no run directory to be present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Which cell of the matrix this is.
    #[serde(flatten)]
    pub plan: PlannedRun,
    /// Its outcome.
    pub status: RunStatus,
    /// The run directory, relative to the campaign directory (so the store
    /// can be moved or archived whole); `None` when none was created.
    #[serde(default)]
    pub run_dir: Option<String>,
    /// Why the run failed to run, for [`RunStatus::Failed`].
    #[serde(default)]
    pub error: Option<String>,
    /// Checkers that found a violation.
    #[serde(default)]
    pub invalid_checkers: Vec<String>,
    /// Checkers that could not judge.
    #[serde(default)]
    pub unknown_checkers: Vec<String>,
    /// Leadership tenures seen.
    #[serde(default)]
    pub elections: u64,
    /// Every election gap's counted length, ms.
    #[serde(default)]
    pub gaps_ms: Vec<f64>,
    /// Unnecessary elections (stability checker).
    #[serde(default)]
    pub unnecessary_elections: u64,
    /// Total live leadership overlap, ms (lease-overlap checker).
    #[serde(default)]
    pub overlap_total_ms: f64,
    /// Longest live overlap, ms.
    #[serde(default)]
    pub overlap_max_ms: f64,
    /// When the earliest violation became visible (the end of its evidence
    /// window), ms since the run started.
    #[serde(default)]
    pub first_violation_ms: Option<f64>,
    /// The first violation in one line (checker and evidence pointer).
    #[serde(default)]
    pub first_violation: Option<String>,
    /// When each invalid checker's first violation became visible, ms since
    /// the run started (the mutation score times the checkers a correct
    /// variant never fails, not just the earliest one).
    #[serde(default)]
    pub violations_ms: BTreeMap<String, f64>,
    /// Wall-clock time the run took, ms.
    #[serde(default)]
    pub duration_ms: u64,
    /// The one command that replays this run.
    #[serde(default)]
    pub replay: Option<String>,
}

impl RunRecord {
    /// A record of a judged run, with every figure the campaign table needs.
    pub fn judged(plan: PlannedRun, report: &Report, replay: Option<String>) -> RunRecord {
        let names = |verdict: Verdict| -> Vec<String> {
            report
                .results
                .iter()
                .filter(|r| r.verdict == verdict)
                .map(|r| r.checker.clone())
                .collect()
        };
        let detail = |checker: &str, key: &str| -> Option<f64> {
            report
                .results
                .iter()
                .find(|r| r.checker == checker)
                .and_then(|r| r.details.get(key))
                .and_then(serde_json::Value::as_f64)
        };
        let gaps_ms = details::gaps(report)
            .iter()
            .filter_map(|g| {
                g.length_ms
                    .or_else(|| g.to.map(|to| to.saturating_sub(g.from) as f64 / 1e6))
            })
            .collect();
        let first = report
            .results
            .iter()
            .filter(|r| r.verdict == Verdict::Invalid)
            .flat_map(|r| r.evidence.iter().map(move |e| (r, e)))
            // A violation becomes visible at the end of its evidence window
            // (the second claim, the lower term), which is when it happened.
            .min_by_key(|(_, e)| e.window[1]);
        RunRecord {
            plan,
            status: RunStatus::from_verdict(report.verdict()),
            run_dir: None,
            error: None,
            invalid_checkers: names(Verdict::Invalid),
            unknown_checkers: names(Verdict::Unknown),
            elections: report.elections.len() as u64,
            gaps_ms,
            unnecessary_elections: detail("stability", "unnecessary").unwrap_or(0.0) as u64,
            overlap_total_ms: detail("lease-overlap", "live_total_ms").unwrap_or(0.0),
            overlap_max_ms: detail("lease-overlap", "live_longest_ms").unwrap_or(0.0),
            first_violation_ms: first.map(|(_, e)| e.window[1] as f64 / 1e6),
            first_violation: first.map(|(r, e)| {
                format!(
                    "{}: {}",
                    r.checker,
                    crate::evidence::evidence_pointer(e, 160)
                )
            }),
            violations_ms: report
                .results
                .iter()
                .filter(|r| r.verdict == Verdict::Invalid)
                .filter_map(|r| {
                    let first = r.evidence.iter().map(|e| e.window[1]).min()?;
                    Some((r.checker.clone(), first as f64 / 1e6))
                })
                .collect(),
            duration_ms: 0,
            replay,
        }
    }

    /// A record of a run that could not be carried out.
    pub fn failed(plan: PlannedRun, error: String) -> RunRecord {
        RunRecord {
            plan,
            status: RunStatus::Failed,
            run_dir: None,
            error: Some(error),
            invalid_checkers: vec![],
            unknown_checkers: vec![],
            elections: 0,
            gaps_ms: vec![],
            unnecessary_elections: 0,
            overlap_total_ms: 0.0,
            overlap_max_ms: 0.0,
            first_violation_ms: None,
            first_violation: None,
            violations_ms: BTreeMap::new(),
            duration_ms: 0,
            replay: None,
        }
    }
}

/// A slice of the matrix (`--shard K/N`): the runs whose index ≡ K-1 (mod N).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// K, from 1.
    pub index: usize,
    /// N.
    pub count: usize,
}

impl Shard {
    /// Parse `K/N` with 1 ≤ K ≤ N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("--shard {text}: expected K/N, e.g. 1/4"))?;
        let parse = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("--shard {text}: {s:?} is not a number"))
        };
        let (index, count) = (parse(k)?, parse(n)?);
        if count == 0 || index == 0 || index > count {
            return Err(format!("--shard {text}: need 1 ≤ K ≤ N"));
        }
        Ok(Shard { index, count })
    }

    /// The shard the environment names, for engines that cannot pass
    /// arguments per job: `SPLITBRAIN_SHARD=K/N`, or a Kubernetes Indexed
    /// Job's 0-based `JOB_COMPLETION_INDEX` with `SPLITBRAIN_SHARDS=N`.
    /// `lookup` reads a variable (`std::env::var` in the CLI). `Ok(None)`
    /// when neither is set; an error names the variable and what it wants.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, String> {
        if let Some(text) = lookup("SPLITBRAIN_SHARD") {
            return Shard::parse(&text)
                .map(Some)
                .map_err(|e| e.replace("--shard", "SPLITBRAIN_SHARD="));
        }
        let count = lookup("SPLITBRAIN_SHARDS");
        let index = lookup("JOB_COMPLETION_INDEX");
        match (index, count) {
            (_, None) => Ok(None),
            (None, Some(n)) => Err(format!(
                "SPLITBRAIN_SHARDS={n} needs JOB_COMPLETION_INDEX (set by a Kubernetes Indexed \
                 Job) or use SPLITBRAIN_SHARD=K/N"
            )),
            (Some(i), Some(n)) => {
                let i: usize = i.trim().parse().map_err(|_| {
                    format!(
                        "JOB_COMPLETION_INDEX={i} is not a number (0-based, as Kubernetes sets it)"
                    )
                })?;
                Shard::parse(&format!("{}/{}", i + 1, n.trim()))
                    .map(Some)
                    .map_err(|e| {
                        format!(
                            "JOB_COMPLETION_INDEX={i} with SPLITBRAIN_SHARDS={n}: {}",
                            e.trim_start_matches(|c| c != ':').trim_start_matches(": ")
                        )
                    })
            }
        }
    }

    /// Does this shard own run `index` of the matrix? Round-robin, so every
    /// shard gets a similar mix of targets and presets.
    pub fn owns(&self, index: usize) -> bool {
        index % self.count == self.index - 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// `summary.json`: everything known about one campaign (or one shard of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignSummary {
    /// Schema version, [`CAMPAIGN_FORMAT`].
    pub format: u32,
    /// The campaign's name.
    pub name: String,
    /// Fingerprint of the resolved matrix and settings (shard excluded): two
    /// summaries with the same `plan_id` are slices of the same campaign.
    pub plan_id: String,
    /// Runs in the whole matrix.
    pub matrix_runs: usize,
    /// The runs this campaign (or shard) is to carry out.
    pub planned: Vec<PlannedRun>,
    /// The shard, when this is one.
    #[serde(default)]
    pub shard: Option<Shard>,
    /// The campaign directories this one was merged from (`report --merge`).
    #[serde(default)]
    pub merged_from: Vec<String>,
    /// When it started (UTC stamp, as run directories are named).
    pub started_at: String,
    /// When it last wrote this file.
    pub updated_at: String,
    /// Every planned run has a final record.
    pub complete: bool,
    /// Stopped by a signal; `--resume` continues it.
    #[serde(default)]
    pub interrupted: bool,
    /// Unknown runs do not fail the campaign (`--allow-unknown`).
    #[serde(default)]
    pub allow_unknown: bool,
    /// Runs carried out at once.
    #[serde(default = "one")]
    pub jobs: usize,
    /// The resolved campaign settings (time limit, gap bound, targets...).
    #[serde(default)]
    pub settings: serde_json::Value,
    /// One record per run carried out so far, in matrix order.
    pub runs: Vec<RunRecord>,
}

fn one() -> usize {
    1
}

/// How many runs ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Valid runs.
    pub valid: usize,
    /// Invalid runs.
    pub invalid: usize,
    /// Unknown runs.
    pub unknown: usize,
    /// Runs that failed to run.
    pub failed: usize,
    /// Interrupted runs.
    pub interrupted: usize,
}

impl StatusCounts {
    /// Runs with a final outcome (interrupted ones are not final).
    pub fn done(&self) -> usize {
        self.valid + self.invalid + self.unknown + self.failed
    }
}

impl CampaignSummary {
    /// Count runs by status.
    pub fn counts(&self) -> StatusCounts {
        let mut c = StatusCounts::default();
        for r in &self.runs {
            match r.status {
                RunStatus::Valid => c.valid += 1,
                RunStatus::Invalid => c.invalid += 1,
                RunStatus::Unknown => c.unknown += 1,
                RunStatus::Failed => c.failed += 1,
                RunStatus::Interrupted => c.interrupted += 1,
            }
        }
        c
    }

    /// Insert or replace the record of one run, keeping matrix order.
    pub fn record(&mut self, record: RunRecord) {
        self.runs.retain(|r| r.plan.index != record.plan.index);
        let at = self
            .runs
            .partition_point(|r| r.plan.index < record.plan.index);
        self.runs.insert(at, record);
        self.complete = self.remaining().is_empty();
        self.updated_at = utc_stamp();
    }

    /// Planned runs without a final record (interrupted ones run again).
    pub fn remaining(&self) -> Vec<PlannedRun> {
        self.planned
            .iter()
            .filter(|p| {
                !self
                    .runs
                    .iter()
                    .any(|r| r.plan.index == p.index && r.status != RunStatus::Interrupted)
            })
            .cloned()
            .collect()
    }

    /// The rows of the campaign table: one per target × preset, in matrix order.
    pub fn rows(&self) -> Vec<CampaignRow> {
        let mut order: Vec<(String, String)> = Vec::new();
        for p in &self.planned {
            let key = (p.target.clone(), p.preset.clone());
            if !order.contains(&key) {
                order.push(key);
            }
        }
        order
            .into_iter()
            .map(|(target, preset)| {
                // Interrupted runs are not final: they are run again on resume.
                let runs: Vec<&RunRecord> = self
                    .runs
                    .iter()
                    .filter(|r| r.plan.target == target && r.plan.preset == preset)
                    .filter(|r| r.status != RunStatus::Interrupted)
                    .collect();
                CampaignRow::of(target, preset, &runs)
            })
            .collect()
    }

    /// Serialize as `summary.json` text.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a summary always serializes");
        text.push('\n');
        text
    }

    /// Parse `summary.json` text (newer formats are refused).
    pub fn from_json(path: &Path, text: &str) -> Result<CampaignSummary, CampaignError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|source| CampaignError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        let found = value.get("format").and_then(|f| f.as_u64()).unwrap_or(0) as u32;
        if found > CAMPAIGN_FORMAT {
            return Err(CampaignError::NewerFormat {
                path: path.to_path_buf(),
                found,
            });
        }
        serde_json::from_value(value).map_err(|source| CampaignError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// One row of the campaign table: what one target × preset added up to.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRow {
    /// Target label.
    pub target: String,
    /// Nemesis preset.
    pub preset: String,
    /// Runs with a final record (interrupted ones are left out of every figure).
    pub runs: usize,
    /// Runs by status.
    pub counts: StatusCounts,
    /// Invalid runs per checker (a run invalid in two checkers counts in both).
    pub invalid_by_checker: BTreeMap<String, usize>,
    /// Elections, all runs together.
    pub elections: u64,
    /// Gap percentiles over every gap of every run, ms.
    pub gap_p50_ms: Option<f64>,
    /// 99th percentile gap.
    pub gap_p99_ms: Option<f64>,
    /// Longest gap.
    pub gap_max_ms: Option<f64>,
    /// Unnecessary elections, all runs together.
    pub unnecessary_elections: u64,
    /// Live overlap, all runs together, ms.
    pub overlap_total_ms: f64,
    /// Longest live overlap of any run, ms.
    pub overlap_max_ms: f64,
    /// Earliest first violation of any run, ms since its start.
    pub first_violation_ms: Option<f64>,
}

impl CampaignRow {
    fn of(target: String, preset: String, runs: &[&RunRecord]) -> CampaignRow {
        let mut counts = StatusCounts::default();
        let mut invalid_by_checker = BTreeMap::new();
        let mut gaps: Vec<f64> = Vec::new();
        for r in runs {
            match r.status {
                RunStatus::Valid => counts.valid += 1,
                RunStatus::Invalid => counts.invalid += 1,
                RunStatus::Unknown => counts.unknown += 1,
                RunStatus::Failed => counts.failed += 1,
                RunStatus::Interrupted => counts.interrupted += 1,
            }
            for c in &r.invalid_checkers {
                *invalid_by_checker.entry(c.clone()).or_insert(0) += 1;
            }
            gaps.extend(&r.gaps_ms);
        }
        gaps.sort_by(f64::total_cmp);
        CampaignRow {
            target,
            preset,
            runs: runs.len(),
            counts,
            invalid_by_checker,
            elections: runs.iter().map(|r| r.elections).sum(),
            gap_p50_ms: percentile(&gaps, 50.0),
            gap_p99_ms: percentile(&gaps, 99.0),
            gap_max_ms: gaps.last().copied(),
            unnecessary_elections: runs.iter().map(|r| r.unnecessary_elections).sum(),
            overlap_total_ms: runs.iter().map(|r| r.overlap_total_ms).sum(),
            overlap_max_ms: runs.iter().map(|r| r.overlap_max_ms).fold(0.0, f64::max),
            first_violation_ms: runs
                .iter()
                .filter_map(|r| r.first_violation_ms)
                .min_by(f64::total_cmp),
        }
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// A campaign's directory in the store.
#[derive(Debug, Clone)]
pub struct CampaignDir {
    root: PathBuf,
}

impl CampaignDir {
    /// Create `store/campaigns/<name>/<timestamp>/` and point
    /// `store/campaigns/<name>/latest` at it.
    pub fn create(store: &Path, name: &str) -> Result<CampaignDir, CampaignError> {
        check_writable(store)?;
        let parent = store.join("campaigns").join(sanitize(name));
        let stamp = utc_stamp();
        let mut dir = parent.join(&stamp);
        let mut n = 1;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CampaignError::Io { path, source }
        };
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        loop {
            match std::fs::create_dir(&dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    n += 1;
                    dir = parent.join(format!("{stamp}-{n}"));
                }
                Err(source) => return Err(CampaignError::Io { path: dir, source }),
            }
        }
        let runs = dir.join("runs");
        std::fs::create_dir_all(&runs).map_err(io(&runs))?;
        let latest = parent.join("latest");
        let tmp = parent.join(format!(".latest-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        if std::os::unix::fs::symlink(dir.file_name().unwrap_or_default(), &tmp).is_ok() {
            let _ = std::fs::rename(&tmp, &latest);
        }
        Ok(CampaignDir { root: dir })
    }

    /// An existing campaign directory.
    pub fn open(path: &Path) -> CampaignDir {
        CampaignDir {
            root: path.to_path_buf(),
        }
    }

    /// Is `path` a campaign directory (has a `summary.json`)?
    pub fn is_campaign(path: &Path) -> bool {
        path.join("summary.json").is_file()
    }

    /// The newest campaign directory of `name` in `store` whose summary has
    /// `plan_id` and the same shard, for `--resume`.
    pub fn find_resumable(
        store: &Path,
        name: &str,
        plan_id: &str,
        shard: Option<Shard>,
    ) -> Option<(CampaignDir, CampaignSummary)> {
        let parent = store.join("campaigns").join(sanitize(name));
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&parent)
            .ok()?
            .flatten()
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.path())
            .collect();
        dirs.sort();
        dirs.into_iter().rev().find_map(|d| {
            let dir = CampaignDir::open(&d);
            let summary = dir.read_summary().ok()?;
            (summary.plan_id == plan_id && summary.shard == shard).then_some((dir, summary))
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `summary.json`.
    pub fn summary_json(&self) -> PathBuf {
        self.root.join("summary.json")
    }

    /// Read `summary.json`.
    pub fn read_summary(&self) -> Result<CampaignSummary, CampaignError> {
        let path = self.summary_json();
        let text = std::fs::read_to_string(&path).map_err(|source| CampaignError::Io {
            path: path.clone(),
            source,
        })?;
        CampaignSummary::from_json(&path, &text)
    }

    /// Write a file of the campaign atomically (write, then rename), so a
    /// reader or a killed campaign never sees half a summary.
    pub fn write(&self, name: &str, text: &str) -> Result<(), CampaignError> {
        let path = self.root.join(name);
        let tmp = self.root.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| CampaignError::Io { path, source })
    }

    /// `run_dir` as stored in a [`RunRecord`]: relative to this directory.
    pub fn relative_run_dir(&self, run_dir: &Path) -> String {
        // Canonical when they exist, so a symlinked store still lines up.
        let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| absolute(p));
        let from = real(&self.root);
        let to = real(run_dir);
        relative_path(&from, &to).display().to_string()
    }

    /// A record's run directory as a path usable from here.
    pub fn resolve_run_dir(&self, record: &RunRecord) -> Option<PathBuf> {
        record.run_dir.as_ref().map(|d| {
            let p = Path::new(d);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                self.root.join(p)
            }
        })
    }

    /// Link `runs/<link name>` to the record's run directory.
    pub fn link_run(&self, record: &RunRecord) {
        if let Some(dir) = &record.run_dir {
            let link = self.root.join("runs").join(record.plan.link_name());
            let _ = std::fs::remove_file(&link);
            let target = if Path::new(dir).is_absolute() {
                PathBuf::from(dir)
            } else {
                Path::new("..").join(dir)
            };
            let _ = std::os::unix::fs::symlink(target, link);
        }
    }
}

/// `path` made absolute against the working directory, `.`/`..` folded
/// lexically, symlinks left alone (so moving a store keeps links valid).
fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The relative path from directory `from` to `to` (both absolute).
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to_parts: Vec<_> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to_parts[common..] {
        out.push(c.as_os_str());
    }
    out
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Merge shard summaries of one campaign into one summary; records are
/// united by matrix index and run directories re-pointed from `into`.
pub fn merge(
    shards: &[(CampaignDir, CampaignSummary)],
    into: &CampaignDir,
) -> Result<CampaignSummary, CampaignError> {
    let Some((_, first)) = shards.first() else {
        return Err(CampaignError::Merge("no campaign directories given".into()));
    };
    for (dir, s) in shards {
        if s.plan_id != first.plan_id || s.name != first.name {
            return Err(CampaignError::Merge(format!(
                "{} is campaign {:?} (plan {}), {} is {:?} (plan {}): not shards of one campaign",
                shards[0].0.path().display(),
                first.name,
                first.plan_id,
                dir.path().display(),
                s.name,
                s.plan_id
            )));
        }
    }
    let mut planned: Vec<PlannedRun> = Vec::new();
    let mut runs: BTreeMap<usize, RunRecord> = BTreeMap::new();
    for (dir, s) in shards {
        for p in &s.planned {
            if !planned.iter().any(|q| q.index == p.index) {
                planned.push(p.clone());
            }
        }
        for r in &s.runs {
            let mut r = r.clone();
            if let Some(abs) = dir.resolve_run_dir(&r) {
                r.run_dir = Some(into.relative_run_dir(&abs));
            }
            // A final record wins over an interrupted one from another shard.
            match runs.get(&r.plan.index) {
                Some(existing)
                    if r.status == RunStatus::Interrupted
                        && existing.status != RunStatus::Interrupted => {}
                _ => {
                    runs.insert(r.plan.index, r);
                }
            }
        }
    }
    planned.sort();
    let mut summary = CampaignSummary {
        format: CAMPAIGN_FORMAT,
        name: first.name.clone(),
        plan_id: first.plan_id.clone(),
        matrix_runs: first.matrix_runs,
        planned,
        shard: None,
        merged_from: shards
            .iter()
            .map(|(d, _)| absolute(d.path()).display().to_string())
            .collect(),
        started_at: shards
            .iter()
            .map(|(_, s)| s.started_at.clone())
            .min()
            .unwrap_or_default(),
        updated_at: utc_stamp(),
        complete: false,
        interrupted: shards.iter().any(|(_, s)| s.interrupted),
        allow_unknown: first.allow_unknown,
        jobs: first.jobs,
        settings: first.settings.clone(),
        runs: runs.into_values().collect(),
    };
    summary.complete =
        summary.remaining().is_empty() && summary.planned.len() == summary.matrix_runs;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_names_a_shard_as_ci_engines_set_it() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Shard::from_env(env(&[])), Ok(None));
        assert_eq!(
            Shard::from_env(env(&[("SPLITBRAIN_SHARD", "2/4")])),
            Ok(Some(Shard { index: 2, count: 4 }))
        );
        // A Kubernetes Indexed Job counts from 0.
        assert_eq!(
            Shard::from_env(env(&[
                ("JOB_COMPLETION_INDEX", "3"),
                ("SPLITBRAIN_SHARDS", "4")
            ])),
            Ok(Some(Shard { index: 4, count: 4 }))
        );
        // JOB_COMPLETION_INDEX alone belongs to some other job: ignored.
        assert_eq!(
            Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "1")])),
            Ok(None)
        );
        let e = Shard::from_env(env(&[("SPLITBRAIN_SHARD", "3/2")])).unwrap_err();
        assert!(
            e.contains("SPLITBRAIN_SHARD=") && e.contains("1 ≤ K ≤ N"),
            "{e}"
        );
        let e = Shard::from_env(env(&[
            ("JOB_COMPLETION_INDEX", "4"),
            ("SPLITBRAIN_SHARDS", "4"),
        ]))
        .unwrap_err();
        assert!(
            e.contains("JOB_COMPLETION_INDEX=4 with SPLITBRAIN_SHARDS=4"),
            "{e}"
        );
        let e = Shard::from_env(env(&[("SPLITBRAIN_SHARDS", "4")])).unwrap_err();
        assert!(e.contains("needs JOB_COMPLETION_INDEX"), "{e}");
    }

    fn plan(index: usize, target: &str, preset: &str, seed: u64) -> PlannedRun {
        PlannedRun {
            index,
            target: target.into(),
            preset: preset.into(),
            seed,
            repetition: 1,
        }
    }

    fn summary(planned: Vec<PlannedRun>) -> CampaignSummary {
        CampaignSummary {
            format: CAMPAIGN_FORMAT,
            name: "t".into(),
            plan_id: "p".into(),
            matrix_runs: planned.len(),
            planned,
            shard: None,
            merged_from: vec![],
            started_at: "s".into(),
            updated_at: "s".into(),
            complete: false,
            interrupted: false,
            allow_unknown: false,
            jobs: 1,
            settings: serde_json::Value::Null,
            runs: vec![],
        }
    }

    #[test]
    fn shards_partition_the_matrix() {
        let shards: Vec<Shard> = (1..=3).map(|k| Shard { index: k, count: 3 }).collect();
        for i in 0..20 {
            assert_eq!(shards.iter().filter(|s| s.owns(i)).count(), 1);
        }
        assert!(Shard::parse("0/2").is_err());
        assert!(Shard::parse("3/2").is_err());
        assert!(Shard::parse("x").is_err());
        assert_eq!(Shard::parse("2/2").unwrap(), Shard { index: 2, count: 2 });
    }

    #[test]
    fn exit_codes_follow_the_rules() {
        let mut s = summary(vec![plan(0, "a", "kill", 1), plan(1, "a", "kill", 2)]);
        let mut r = RunRecord::failed(plan(0, "a", "kill", 1), "x".into());
        r.status = RunStatus::Valid;
        r.error = None;
        s.record(r.clone());
        assert_eq!(s.exit_code(), 2, "incomplete");
        let mut r2 = r.clone();
        r2.plan = plan(1, "a", "kill", 2);
        r2.status = RunStatus::Unknown;
        s.record(r2.clone());
        assert!(s.complete);
        assert_eq!(s.exit_code(), 2);
        s.allow_unknown = true;
        assert_eq!(s.exit_code(), 0);
        r2.status = RunStatus::Failed;
        s.record(r2.clone());
        assert_eq!(s.exit_code(), 255);
        r2.status = RunStatus::Invalid;
        s.record(r2);
        assert_eq!(s.exit_code(), 1);
        assert_eq!(s.runs.len(), 2);
    }

    #[test]
    fn rows_add_up_per_target_and_preset() {
        let mut s = summary(vec![
            plan(0, "a", "kill", 1),
            plan(1, "a", "kill", 2),
            plan(2, "b", "kill", 1),
        ]);
        for (i, (status, gaps)) in [
            (RunStatus::Valid, vec![100.0, 300.0]),
            (RunStatus::Invalid, vec![200.0]),
            (RunStatus::Valid, vec![]),
        ]
        .into_iter()
        .enumerate()
        {
            let mut r = RunRecord::failed(s.planned[i].clone(), String::new());
            r.status = status;
            r.gaps_ms = gaps;
            r.elections = 2;
            if status == RunStatus::Invalid {
                r.invalid_checkers = vec!["term-monotonic".into()];
                r.first_violation_ms = Some(1500.0);
            }
            s.record(r);
        }
        let rows = s.rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].runs, 2);
        assert_eq!(rows[0].counts.invalid, 1);
        assert_eq!(rows[0].invalid_by_checker["term-monotonic"], 1);
        assert_eq!(rows[0].elections, 4);
        assert_eq!(rows[0].gap_p50_ms, Some(200.0));
        assert_eq!(rows[0].gap_max_ms, Some(300.0));
        assert_eq!(rows[0].first_violation_ms, Some(1500.0));
        assert_eq!(rows[1].gap_max_ms, None);
    }

    #[test]
    fn relative_paths_walk_up_and_down() {
        assert_eq!(
            relative_path(Path::new("/s/campaigns/x/1"), Path::new("/s/raft/2")),
            PathBuf::from("../../../raft/2")
        );
    }

    #[test]
    fn summary_round_trips_and_newer_is_refused() {
        let s = summary(vec![plan(0, "a", "kill", 1)]);
        let text = s.to_json();
        let back = CampaignSummary::from_json(Path::new("x"), &text).unwrap();
        assert_eq!(back, s);
        let newer = text.replace("\"format\": 1", "\"format\": 9");
        assert!(matches!(
            CampaignSummary::from_json(Path::new("x"), &newer),
            Err(CampaignError::NewerFormat { found: 9, .. })
        ));
    }
}
