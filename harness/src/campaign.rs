//! `splitbrain campaign FILE.toml`: a matrix of runs (targets × nemesis
//! presets × seeds × repetitions), carried out one after another (or on
//! `--jobs` worker threads), each through [`run::run`], then added up into a
//! campaign directory of the store (`results::campaign`).
//!
//! The summary is rewritten after every run, so Ctrl-C (or a killed CI job)
//! leaves a reportable, resumable campaign. `--shard K/N` carries out the
//! runs whose matrix index ≡ K-1 (mod N); `splitbrain report --merge` puts
//! the shards back together. See docs/campaigns.md.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use results::campaign::{
    CampaignDir, CampaignSummary, PlannedRun, RunRecord, RunStatus, Shard, CAMPAIGN_FORMAT,
};
use results::report::campaign as campaign_report;
use results::report::json;
use results::report::junit::UnknownAs;
use results::report::terminal::Style;
use results::store::utc_stamp;
use serde::Deserialize;

use crate::run::{self, compact_duration, RunOptions};

/// Campaign files built into the binary: `splitbrain campaign nightly`.
pub const BUILTIN_CAMPAIGNS: [(&str, &str); 6] = [
    (
        "nightly",
        include_str!("../../nodes/campaigns/nightly.toml"),
    ),
    (
        "example",
        include_str!("../../nodes/campaigns/example.toml"),
    ),
    (
        "mutants",
        include_str!("../../nodes/campaigns/mutants.toml"),
    ),
    (
        "raft-options",
        include_str!("../../nodes/campaigns/raft-options.toml"),
    ),
    (
        "etcd-elect",
        include_str!("../../nodes/campaigns/etcd-elect.toml"),
    ),
    (
        "message-faults",
        include_str!("../../nodes/campaigns/message-faults.toml"),
    ),
];

/// Why a campaign could not be carried out (the CLI maps these to exit codes).
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// The campaign file or the flags are wrong: nothing ran (exit 254).
    #[error("{0:#}")]
    Config(anyhow::Error),
    /// The campaign store could not be written (exit 255).
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// One target of the matrix, as written in the campaign file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetEntry {
    /// Built-in target name or path of a target file (relative paths are
    /// looked up beside the campaign file first).
    pub target: String,
    /// Label in tables (default: the target, plus `+bug` when one is set).
    #[serde(default)]
    pub name: Option<String>,
    /// Seeded bug of the built-in nodes.
    #[serde(default)]
    pub bug: Option<String>,
    /// Node count (default: the target's).
    #[serde(default)]
    pub nodes: Option<usize>,
    /// Extra arguments appended to every node's argv.
    #[serde(default)]
    pub node_args: Vec<String>,
    /// Gap bound for this target (default: the campaign's, else the target's timing).
    #[serde(default, deserialize_with = "duration_text")]
    pub gap_bound: Option<String>,
    /// This target's presets (default: the campaign's).
    #[serde(default)]
    pub presets: Option<Vec<String>>,
    /// This target's seeds (default: the campaign's).
    #[serde(default)]
    pub seeds: Option<Vec<u64>>,
    /// Or a number of seeds from the campaign's `seed_base`.
    #[serde(default)]
    pub seed_count: Option<u64>,
    /// This target's fault phase (default: the campaign's).
    #[serde(default, deserialize_with = "duration_text")]
    pub time_limit: Option<String>,
    /// This target's time between faults (default: the campaign's).
    #[serde(default, deserialize_with = "duration_text")]
    pub nemesis_interval: Option<String>,
    /// This target's fault length (default: the campaign's).
    #[serde(default, deserialize_with = "duration_text")]
    pub fault_duration: Option<String>,
    /// This target's recovery window (default: the campaign's).
    #[serde(default, deserialize_with = "duration_text")]
    pub recovery: Option<String>,
    /// Up to this many faults at once, each with its own undo (default 1;
    /// `--concurrency` of `run`).
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// A fixed duplication probability for `duplicate` (`run`'s
    /// `--duplicate-probability`; default drawn per fault).
    #[serde(default)]
    pub duplicate_probability: Option<f64>,
    /// A fixed delay-spike delay, the same on every link (`--spike-delay`).
    #[serde(default, deserialize_with = "duration_text")]
    pub spike_delay: Option<String>,
    /// A fixed delay-spike jitter (`--spike-jitter`).
    #[serde(default, deserialize_with = "duration_text")]
    pub spike_jitter: Option<String>,
    /// Label of the correct variant this entry is a mutant of: the entry
    /// runs that variant's presets, schedules and node count (and seeds,
    /// unless it gives a subset), and the mutation score compares the two
    /// (docs/mutants.md).
    #[serde(default)]
    pub baseline: Option<String>,
}

/// A campaign file (`nodes/campaigns/*.toml`; docs/campaigns.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignFile {
    /// The campaign's name (default: the file stem).
    #[serde(default)]
    pub name: Option<String>,
    /// The targets.
    pub targets: Vec<TargetEntry>,
    /// Nemesis presets, one matrix column each (a comma list is one union
    /// preset); optional when every target names its own.
    #[serde(default)]
    pub presets: Option<Vec<String>>,
    /// Explicit seeds.
    #[serde(default)]
    pub seeds: Option<Vec<u64>>,
    /// Or a number of seeds: `seed_base`, `seed_base + 1`, ...
    #[serde(default)]
    pub seed_count: Option<u64>,
    /// First seed when `seed_count` is used (default 1).
    #[serde(default)]
    pub seed_base: Option<u64>,
    /// Runs per target × preset × seed (default 1).
    #[serde(default)]
    pub repetitions: Option<u32>,
    /// Fault phase per run (`30s`); optional when every target gives its own.
    #[serde(default, deserialize_with = "duration_text")]
    pub time_limit: Option<String>,
    /// Fixed time between faults (default: scaled to each target's timing).
    #[serde(default, deserialize_with = "duration_text")]
    pub nemesis_interval: Option<String>,
    /// Fixed fault length (default: scaled to each target's timing).
    #[serde(default, deserialize_with = "duration_text")]
    pub fault_duration: Option<String>,
    /// Recovery window (default: the target's).
    #[serde(default, deserialize_with = "duration_text")]
    pub recovery: Option<String>,
    /// Gap bound for every target without its own.
    #[serde(default, deserialize_with = "duration_text")]
    pub gap_bound: Option<String>,
    /// Runs at once (default: see [`default_jobs`]).
    #[serde(default)]
    pub jobs: Option<usize>,
    /// Unknown runs do not fail the campaign.
    #[serde(default)]
    pub allow_unknown: Option<bool>,
}

/// What `splitbrain campaign` was told.
#[derive(Debug, Clone)]
pub struct CampaignOptions {
    /// Path of a campaign file or a built-in campaign name.
    pub file: String,
    /// Carry out only this slice of the matrix.
    pub shard: Option<Shard>,
    /// Runs at once (overrides the file).
    pub jobs: Option<usize>,
    /// Continue the newest unfinished campaign with the same plan.
    pub resume: bool,
    /// Unknown runs do not fail the campaign.
    pub allow_unknown: bool,
    /// Stop at the first invalid run (the default is to keep going).
    pub fail_fast: bool,
    /// Override of the file's seeds: `seed_count` seeds from here.
    pub seed_base: Option<u64>,
    /// Override of every seed count (with `seed_base`: tuning on seeds 1–10).
    pub seed_count: Option<u64>,
    /// Override of the file's time limit.
    pub time_limit: Option<Duration>,
    /// The store.
    pub store: PathBuf,
    /// Set by SIGINT/SIGTERM: the campaign stops after the current run(s).
    pub interrupt: Arc<AtomicBool>,
}

/// What a finished (or interrupted) campaign left.
#[derive(Debug)]
pub struct CampaignOutcome {
    /// Its directory.
    pub dir: CampaignDir,
    /// Its summary, as written.
    pub summary: CampaignSummary,
}

/// Default `--jobs`: half the cores, at least 1. Runs measure real time
/// (election timeouts of 150–300 ms, gaps in ms); each run keeps about one
/// core busy with its nodes, the proxy and the controller, so more runs
/// than half the cores stretch timings and turn CPU starvation into
/// "violations". On a 2-core machine this is 1.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| (n.get() / 2).max(1))
        .unwrap_or(1)
}

/// A duration key of a campaign file: text with a unit; a bare number is
/// refused with both readings suggested (see `target::bare_number_message`).
fn duration_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(f64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Text(t) => Ok(Some(t)),
        Raw::Number(n) => Err(serde::de::Error::custom(
            crate::target::bare_number_message(n),
        )),
    }
}

fn duration(field: &str, text: &Option<String>) -> anyhow::Result<Option<Duration>> {
    text.as_ref()
        .map(|t| {
            humantime::parse_duration(t).with_context(|| {
                format!("{field} = {t:?} is not a duration like \"1500ms\" or \"30s\"")
            })
        })
        .transpose()
}

/// Load a campaign file (or a built-in campaign by name).
pub fn load(file: &str) -> anyhow::Result<(CampaignFile, Option<PathBuf>)> {
    let path = Path::new(file);
    let (text, origin, dir) = if path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading campaign file {}", path.display()))?;
        (
            text,
            path.display().to_string(),
            path.parent().map(Path::to_path_buf),
        )
    } else if let Some((_, text)) = BUILTIN_CAMPAIGNS.iter().find(|(n, _)| *n == file) {
        (text.to_string(), format!("built-in:{file}"), None)
    } else {
        bail!(
            "no campaign file {file:?} and no built-in campaign of that name (built-in: {})",
            BUILTIN_CAMPAIGNS.map(|(n, _)| n).join(", ")
        );
    };
    let mut parsed: CampaignFile = toml::from_str(&text).map_err(|e| anyhow!("{origin}: {e}"))?;
    if parsed.name.is_none() {
        parsed.name = Some(
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| file.to_string()),
        );
    }
    Ok((parsed, dir))
}

/// The resolved matrix: every run with its full options, in matrix order,
/// plus the settings that identify the plan.
pub struct Plan {
    /// The campaign's name.
    pub name: String,
    /// Every run of the whole matrix.
    pub runs: Vec<(PlannedRun, RunOptions)>,
    /// The resolved settings (recorded in summary.json).
    pub settings: serde_json::Value,
    /// Fingerprint of `settings`.
    pub plan_id: String,
    /// Runs at once.
    pub jobs: usize,
    /// Unknown runs do not fail the campaign.
    pub allow_unknown: bool,
}

/// Resolve a campaign file and the flags into the run matrix; checks every
/// target and preset up front, so a typo fails before anything starts.
pub fn plan(
    file: &CampaignFile,
    dir: Option<&Path>,
    opts: &CampaignOptions,
) -> anyhow::Result<Plan> {
    let name = file.name.clone().unwrap_or_else(|| "campaign".into());
    if file.targets.is_empty() {
        bail!("campaign {name}: `targets` is empty; add [[targets]] entries");
    }
    let presets = |list: &Vec<String>| -> anyhow::Result<Vec<String>> {
        if list.is_empty() {
            bail!("campaign {name}: `presets` is empty; e.g. presets = [\"kill\", \"partition\"]");
        }
        for p in list {
            workloads::parse_presets(p)
                .map_err(|e| anyhow!("campaign {name}: preset {p:?}: {e}"))?;
        }
        Ok(list.clone())
    };
    let seeds = |list: &Option<Vec<u64>>, count: Option<u64>| -> anyhow::Result<Option<Vec<u64>>> {
        Ok(match (list, count) {
            (Some(_), Some(_)) => bail!("campaign {name}: give `seeds` or `seed_count`, not both"),
            (Some(s), None) if s.is_empty() => {
                bail!("campaign {name}: `seeds` is empty; e.g. seeds = [1, 2]")
            }
            (Some(s), None) => match (opts.seed_base, opts.seed_count) {
                (None, None) => Some(s.clone()),
                (base, n) => {
                    let base = base.unwrap_or(s[0]);
                    Some((base..base + n.unwrap_or(s.len() as u64)).collect())
                }
            },
            (None, Some(0)) => bail!("campaign {name}: `seed_count` must be at least 1"),
            (None, Some(n)) => {
                let base = opts.seed_base.or(file.seed_base).unwrap_or(1);
                Some((base..base + opts.seed_count.unwrap_or(n)).collect())
            }
            (None, None) => None,
        })
    };
    if opts.seed_count == Some(0) {
        bail!("--seed-count must be at least 1");
    }
    let campaign_presets = file.presets.as_ref().map(presets).transpose()?;
    let campaign_seeds = seeds(&file.seeds, file.seed_count)?;
    let repetitions = file.repetitions.unwrap_or(1);
    if repetitions == 0 {
        bail!("campaign {name}: `repetitions` must be at least 1");
    }
    let campaign_timing = Timing {
        time_limit: opts
            .time_limit
            .or(duration("time_limit", &file.time_limit)?),
        nemesis_interval: duration("nemesis_interval", &file.nemesis_interval)?,
        fault_duration: duration("fault_duration", &file.fault_duration)?,
        recovery: duration("recovery", &file.recovery)?,
    };
    let campaign_gap = duration("gap_bound", &file.gap_bound)?;

    let mut targets: Vec<ResolvedTarget> = Vec::new();
    for entry in &file.targets {
        // A relative target file is looked up beside the campaign file first.
        let target = match dir {
            Some(d)
                if !Path::new(&entry.target).is_absolute() && d.join(&entry.target).is_file() =>
            {
                d.join(&entry.target).display().to_string()
            }
            _ => entry.target.clone(),
        };
        let loaded = crate::target::Target::load(&target)
            .map_err(|e| anyhow!("campaign {name}: target {:?}: {e}", entry.target))?;
        let label = entry.name.clone().unwrap_or_else(|| match &entry.bug {
            Some(b) => format!("{}+{b}", loaded.name),
            None => loaded.name.clone(),
        });
        if targets.iter().any(|t| t.label == label) {
            bail!("campaign {name}: two targets are labelled {label:?}; give one a `name`");
        }
        let own_seeds = seeds(&entry.seeds, entry.seed_count)?;
        let own_timing = Timing {
            time_limit: opts
                .time_limit
                .or(duration("time_limit", &entry.time_limit)?),
            nemesis_interval: duration("nemesis_interval", &entry.nemesis_interval)?,
            fault_duration: duration("fault_duration", &entry.fault_duration)?,
            recovery: duration("recovery", &entry.recovery)?,
        };
        let resolved =
            match &entry.baseline {
                Some(base_label) => {
                    let Some(base) = targets.iter().find(|t| &t.label == base_label) else {
                        bail!(
                        "campaign {name}: target {label:?} names baseline {base_label:?}, but no \
                         earlier target has that label (labels: {})",
                        targets.iter().map(|t| t.label.as_str()).collect::<Vec<_>>().join(", ")
                    );
                    };
                    if base.baseline.is_some() {
                        bail!(
                        "campaign {name}: target {label:?}: its baseline {base_label:?} is itself \
                         a mutant; name the correct variant"
                    );
                    }
                    // A mutant runs exactly its baseline's schedules: anything
                    // else would compare two different experiments.
                    let inherited = [
                        ("presets", entry.presets.is_some()),
                        ("nodes", entry.nodes.is_some()),
                        ("time_limit", entry.time_limit.is_some()),
                        ("nemesis_interval", entry.nemesis_interval.is_some()),
                        ("fault_duration", entry.fault_duration.is_some()),
                        ("recovery", entry.recovery.is_some()),
                        ("gap_bound", entry.gap_bound.is_some()),
                        ("concurrency", entry.concurrency.is_some()),
                        (
                            "duplicate_probability",
                            entry.duplicate_probability.is_some(),
                        ),
                        ("spike_delay", entry.spike_delay.is_some()),
                        ("spike_jitter", entry.spike_jitter.is_some()),
                    ];
                    if let Some((field, _)) = inherited.iter().find(|(_, set)| *set) {
                        bail!(
                        "campaign {name}: target {label:?} is a mutant of {base_label:?} and runs \
                         its schedules: remove `{field}` (set it on the baseline)"
                    );
                    }
                    let seeds = own_seeds.unwrap_or_else(|| base.seeds.clone());
                    if let Some(s) = seeds.iter().find(|s| !base.seeds.contains(s)) {
                        bail!(
                            "campaign {name}: target {label:?} runs seed {s}, which its baseline \
                         {base_label:?} does not: a mutant's seeds must be a subset of its \
                         baseline's"
                        );
                    }
                    ResolvedTarget {
                        label,
                        target,
                        bug: entry.bug.clone(),
                        node_args: entry.node_args.clone(),
                        seeds,
                        baseline: Some(base_label.clone()),
                        ..base.clone()
                    }
                }
                None => {
                    let presets = match (&entry.presets, &campaign_presets) {
                        (Some(own), _) => presets(own)?,
                        (None, Some(all)) => all.clone(),
                        (None, None) => bail!(
                        "campaign {name}: target {label:?} has no presets: set `presets` on it \
                         or for the whole campaign"
                    ),
                    };
                    let seeds = match (own_seeds, &campaign_seeds) {
                        (Some(own), _) => own,
                        (None, Some(all)) => all.clone(),
                        (None, None) => bail!(
                            "campaign {name}: give `seeds = [1, 2]` or `seed_count = N` (N ≥ 1), \
                         for the campaign or for target {label:?}"
                        ),
                    };
                    let timing = own_timing.or(&campaign_timing);
                    match timing.time_limit {
                        None => bail!(
                            "campaign {name}: target {label:?} has no `time_limit`: set it on the \
                         target or for the whole campaign"
                        ),
                        Some(t) if t.is_zero() => {
                            bail!("campaign {name}: `time_limit` must be more than 0s")
                        }
                        Some(_) => {}
                    }
                    if entry.concurrency == Some(0) {
                        bail!(
                            "campaign {name}: target {label:?}: `concurrency` must be at least 1 \
                             (1 = one fault at a time, 2–3 = overlapping)"
                        );
                    }
                    let knobs = workloads::FaultKnobs {
                        concurrency: entry.concurrency.unwrap_or(1),
                        duplicate_probability: entry.duplicate_probability,
                        spike_delay: duration("spike_delay", &entry.spike_delay)?,
                        spike_jitter: duration("spike_jitter", &entry.spike_jitter)?,
                        ..workloads::FaultKnobs::default()
                    };
                    knobs.validate().map_err(|e| {
                        anyhow!(
                            "campaign {name}: target {label:?}: {}",
                            e.to_string()
                                .replace("--duplicate-probability", "`duplicate_probability`")
                                .replace("--spike-delay", "`spike_delay`")
                                .replace("--spike-jitter", "`spike_jitter`")
                        )
                    })?;
                    ResolvedTarget {
                        label,
                        target,
                        bug: entry.bug.clone(),
                        nodes: entry.nodes,
                        node_args: entry.node_args.clone(),
                        gap_bound: duration("gap_bound", &entry.gap_bound)?.or(campaign_gap),
                        presets,
                        seeds,
                        timing,
                        knobs,
                        baseline: None,
                    }
                }
            };
        targets.push(resolved);
    }

    let mut runs = Vec::new();
    for t in &targets {
        for preset in &t.presets {
            for &seed in &t.seeds {
                for repetition in 1..=repetitions {
                    let planned = PlannedRun {
                        index: runs.len(),
                        target: t.label.clone(),
                        preset: preset.clone(),
                        seed,
                        repetition,
                    };
                    let options = RunOptions {
                        knobs: t.knobs.clone(),
                        target: t.target.clone(),
                        nodes: t.nodes,
                        seed: Some(seed),
                        time_limit: t.timing.time_limit.unwrap_or_default(),
                        nemesis: preset.clone(),
                        nemesis_interval: t.timing.nemesis_interval,
                        fault_duration: t.timing.fault_duration,
                        gap_bound: t.gap_bound,
                        recovery: t.timing.recovery,
                        bug: t.bug.clone(),
                        node_args: t.node_args.clone(),
                        network: None,
                        store: opts.store.clone(),
                        interrupt: opts.interrupt.clone(),
                        progress: crate::progress::ProgressMode::Quiet,
                    };
                    runs.push((planned, options));
                }
            }
        }
    }
    let d = |v: Option<Duration>| v.map(compact_duration);
    let settings = serde_json::json!({
        "targets": targets.iter().map(|t| {
            let mut j = serde_json::json!({
                "label": t.label, "target": t.target, "bug": t.bug, "nodes": t.nodes,
                "node_args": t.node_args, "gap_bound": d(t.gap_bound),
                "presets": t.presets, "seeds": t.seeds, "baseline": t.baseline,
                "time_limit": d(t.timing.time_limit),
                "nemesis_interval": d(t.timing.nemesis_interval),
                "fault_duration": d(t.timing.fault_duration),
                "recovery": d(t.timing.recovery),
            });
            // Written only when set, so older plans keep their plan_id.
            if t.knobs.concurrency != 1 {
                j["concurrency"] = t.knobs.concurrency.into();
            }
            if let Some(p) = t.knobs.duplicate_probability {
                j["duplicate_probability"] = p.into();
            }
            if let Some(v) = t.knobs.spike_delay {
                j["spike_delay"] = compact_duration(v).into();
            }
            if let Some(v) = t.knobs.spike_jitter {
                j["spike_jitter"] = compact_duration(v).into();
            }
            j
        }).collect::<Vec<_>>(),
        "presets": campaign_presets,
        "seeds": campaign_seeds,
        "repetitions": repetitions,
        "time_limit": d(campaign_timing.time_limit),
        "nemesis_interval": d(campaign_timing.nemesis_interval),
        "fault_duration": d(campaign_timing.fault_duration),
        "recovery": d(campaign_timing.recovery),
    });
    let jobs = opts.jobs.or(file.jobs).unwrap_or_else(default_jobs);
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    Ok(Plan {
        plan_id: fingerprint(&settings.to_string()),
        name,
        runs,
        settings,
        jobs,
        allow_unknown: opts.allow_unknown || file.allow_unknown.unwrap_or(false),
    })
}

/// The schedule settings a target's runs use (unset: the run's defaults,
/// scaled to the target's timing).
#[derive(Debug, Clone, Copy, Default)]
struct Timing {
    time_limit: Option<Duration>,
    nemesis_interval: Option<Duration>,
    fault_duration: Option<Duration>,
    recovery: Option<Duration>,
}

impl Timing {
    /// Own settings first, then `rest`'s.
    fn or(self, rest: &Timing) -> Timing {
        Timing {
            time_limit: self.time_limit.or(rest.time_limit),
            nemesis_interval: self.nemesis_interval.or(rest.nemesis_interval),
            fault_duration: self.fault_duration.or(rest.fault_duration),
            recovery: self.recovery.or(rest.recovery),
        }
    }
}

/// A `[[targets]]` entry with everything it inherits filled in.
#[derive(Debug, Clone)]
struct ResolvedTarget {
    label: String,
    target: String,
    bug: Option<String>,
    nodes: Option<usize>,
    node_args: Vec<String>,
    gap_bound: Option<Duration>,
    presets: Vec<String>,
    seeds: Vec<u64>,
    timing: Timing,
    /// Concurrency and the fixed fault settings, as `run` takes them.
    knobs: workloads::FaultKnobs,
    baseline: Option<String>,
}

/// FNV-1a, 64 bits, as hex: stable across builds and machines (unlike
/// `DefaultHasher`), so shards on different machines agree.
pub(crate) fn fingerprint(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Write every campaign file: summary.json, .txt, .md, .html and junit.xml.
pub fn write_outputs(dir: &CampaignDir, summary: &CampaignSummary) -> anyhow::Result<()> {
    dir.write("summary.json", &summary.to_json())?;
    dir.write(
        "summary.txt",
        &campaign_report::render_terminal(summary, Style::default()),
    )?;
    dir.write("summary.md", &campaign_report::render_markdown(summary))?;
    dir.write("summary.html", &campaign_report::render_html(summary))?;
    if let Some(score) = results::mutation::MutationScore::of(summary, Default::default()) {
        let mut text = serde_json::to_string_pretty(&score)?;
        text.push('\n');
        dir.write("mutation.json", &text)?;
    }
    let results = load_results(dir, summary);
    let unknown = if summary.allow_unknown {
        UnknownAs::Skipped
    } else {
        UnknownAs::Error
    };
    dir.write(
        "junit.xml",
        &campaign_report::render_junit(summary, &results, unknown)?,
    )?;
    Ok(())
}

/// Each run's `results.json`, where its run directory is at hand.
pub fn load_results(
    dir: &CampaignDir,
    summary: &CampaignSummary,
) -> Vec<Option<json::ResultsFile>> {
    summary
        .runs
        .iter()
        .map(|r| {
            let path = dir.resolve_run_dir(r)?.join("results.json");
            json::parse(&std::fs::read_to_string(path).ok()?).ok()
        })
        .collect()
}

/// Install a SIGINT/SIGTERM watcher that sets `flag` for the whole campaign
/// (each run installs its own too; this one covers the time between runs).
pub fn watch_signals(flag: Arc<AtomicBool>) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("splitbrain-signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                let _ = ready_tx.send(());
                return;
            };
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut int), Ok(mut term)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) else {
                    let _ = ready_tx.send(());
                    return;
                };
                let _ = ready_tx.send(());
                loop {
                    tokio::select! {
                        _ = int.recv() => {},
                        _ = term.recv() => {},
                    }
                    flag.store(true, Ordering::SeqCst);
                }
            });
        });
    if spawned.is_ok() {
        let _ = ready_rx.recv_timeout(Duration::from_secs(2));
    }
}

/// What a worker sends back after one run.
pub(crate) struct Finished {
    /// The run's record for the summary.
    pub(crate) record: RunRecord,
    /// The run's directory, when it got one.
    pub(crate) run_dir: Option<PathBuf>,
}

/// Carry out one planned run and write its reports; a run that could not be
/// carried out becomes a `failed` record, never an error of the campaign.
pub(crate) fn carry_out(planned: PlannedRun, options: &RunOptions) -> Finished {
    let started = Instant::now();
    let (mut record, run_dir) = match run::run(options) {
        Ok(outcome) => {
            let mut record =
                RunRecord::judged(planned, &outcome.report, outcome.header.replay.clone());
            if outcome.interrupted {
                record.status = RunStatus::Interrupted;
            }
            if let Err(e) = crate::outputs::write_run_outputs(
                &outcome.dir,
                &outcome.header,
                &outcome.report,
                outcome.interrupted,
            ) {
                tracing::warn!(
                    "writing the reports of {}: {e:#}",
                    outcome.dir.path().display()
                );
            }
            (record, Some(outcome.dir.path().to_path_buf()))
        }
        Err(e) => {
            let text = match &e {
                run::RunError::Config(e) => format!("bad configuration: {e:#}"),
                run::RunError::Failed(e) => format!("the run failed: {e:#}"),
            };
            (RunRecord::failed(planned, text), None)
        }
    };
    record.duration_ms = started.elapsed().as_millis() as u64;
    Finished { record, run_dir }
}

fn progress_bar(total: u64, done: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:30} {pos}/{len} runs · {msg} · {elapsed} elapsed · ~{eta} left",
    ) {
        bar.set_style(style);
    }
    bar.set_position(done);
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// Carry out a campaign: plan, resume or create its directory, run what is
/// left (on `jobs` threads), writing the summary after every run.
pub fn run_campaign(opts: &CampaignOptions) -> Result<CampaignOutcome, CampaignError> {
    let (file, dir) = load(&opts.file).map_err(CampaignError::Config)?;
    let plan = plan(&file, dir.as_deref(), opts).map_err(CampaignError::Config)?;
    results::store::check_writable(&opts.store).map_err(|e| CampaignError::Config(e.into()))?;

    let planned: Vec<PlannedRun> = plan
        .runs
        .iter()
        .filter(|(p, _)| opts.shard.map_or(true, |s| s.owns(p.index)))
        .map(|(p, _)| p.clone())
        .collect();
    let resumed = if opts.resume {
        CampaignDir::find_resumable(&opts.store, &plan.name, &plan.plan_id, opts.shard)
    } else {
        None
    };
    let (cdir, mut summary) = match resumed {
        Some((cdir, mut summary)) => {
            eprintln!(
                "resuming campaign {} in {} ({} of {} runs done)",
                plan.name,
                cdir.path().display(),
                summary.counts().done(),
                summary.planned.len()
            );
            summary.interrupted = false;
            summary.allow_unknown = plan.allow_unknown;
            summary.jobs = plan.jobs;
            (cdir, summary)
        }
        None => {
            if opts.resume {
                eprintln!(
                    "no unfinished campaign {} with this plan in {}: starting a new one",
                    plan.name,
                    opts.store.display()
                );
            }
            let cdir = CampaignDir::create(&opts.store, &plan.name)
                .map_err(|e| CampaignError::Failed(e.into()))?;
            let now = utc_stamp();
            let summary = CampaignSummary {
                format: CAMPAIGN_FORMAT,
                name: plan.name.clone(),
                plan_id: plan.plan_id.clone(),
                matrix_runs: plan.runs.len(),
                planned: planned.clone(),
                shard: opts.shard,
                merged_from: vec![],
                started_at: now.clone(),
                updated_at: now,
                complete: planned.is_empty(),
                interrupted: false,
                allow_unknown: plan.allow_unknown,
                jobs: plan.jobs,
                settings: plan.settings.clone(),
                runs: vec![],
            };
            (cdir, summary)
        }
    };
    write_outputs(&cdir, &summary).map_err(CampaignError::Failed)?;

    let todo: VecDeque<(PlannedRun, RunOptions)> = summary
        .remaining()
        .into_iter()
        .filter_map(|p| plan.runs.iter().find(|(q, _)| q.index == p.index).cloned())
        .collect();
    let total = summary.planned.len();
    eprintln!(
        "campaign {}: {} runs to do of {} ({} jobs); store {}",
        plan.name,
        todo.len(),
        total,
        plan.jobs,
        cdir.path().display()
    );
    let bar = progress_bar(total as u64, (total - todo.len()) as u64);
    let violations = |s: &CampaignSummary| s.counts().invalid;
    bar.set_message(format!("{} violations", violations(&summary)));

    let workers = plan.jobs.min(todo.len()).max(1);
    let queue = Mutex::new(todo);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Finished>();
    let mut write_error = None;
    std::thread::scope(|scope| {
        for w in 0..workers {
            let tx = tx.clone();
            let queue = &queue;
            let stop = &stop;
            let interrupt = &opts.interrupt;
            let _ = std::thread::Builder::new()
                .name(format!("splitbrain-campaign-{w}"))
                .spawn_scoped(scope, move || loop {
                    if stop.load(Ordering::SeqCst) || interrupt.load(Ordering::SeqCst) {
                        break;
                    }
                    let Some((planned, options)) =
                        queue.lock().ok().and_then(|mut q| q.pop_front())
                    else {
                        break;
                    };
                    if tx.send(carry_out(planned, &options)).is_err() {
                        break;
                    }
                });
        }
        drop(tx);
        for finished in rx {
            let mut record = finished.record;
            if let Some(run_dir) = &finished.run_dir {
                record.run_dir = Some(cdir.relative_run_dir(run_dir));
            }
            cdir.link_run(&record);
            let line = format!(
                "[{}/{}] {} {} ({:.1} s){}",
                summary.counts().done() + 1,
                total,
                record.plan.name(),
                record.status,
                record.duration_ms as f64 / 1e3,
                match (&record.status, &record.error, &finished.run_dir) {
                    (RunStatus::Failed, Some(e), _) => format!(": {}", first_line(e)),
                    (_, _, Some(d)) => format!(" {}", d.display()),
                    _ => String::new(),
                }
            );
            if record.status == RunStatus::Invalid && opts.fail_fast {
                stop.store(true, Ordering::SeqCst);
            }
            summary.record(record);
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
            bar.set_position(summary.counts().done() as u64);
            bar.set_message(format!("{} violations", violations(&summary)));
            if let Err(e) = write_outputs(&cdir, &summary) {
                write_error.get_or_insert(e);
            }
        }
    });
    bar.finish_and_clear();
    summary.interrupted = opts.interrupt.load(Ordering::SeqCst) && !summary.complete;
    summary.updated_at = utc_stamp();
    write_outputs(&cdir, &summary).map_err(CampaignError::Failed)?;
    if let Some(e) = write_error {
        return Err(CampaignError::Failed(e));
    }
    Ok(CampaignOutcome { dir: cdir, summary })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> CampaignOptions {
        CampaignOptions {
            file: "example".into(),
            shard: None,
            jobs: None,
            resume: false,
            allow_unknown: false,
            fail_fast: false,
            seed_base: None,
            seed_count: None,
            time_limit: None,
            store: PathBuf::from("store"),
            interrupt: Arc::new(AtomicBool::new(false)),
        }
    }

    #[test]
    fn builtin_campaigns_plan() {
        for (name, _) in BUILTIN_CAMPAIGNS {
            let (file, dir) = load(name).unwrap();
            let plan = plan(&file, dir.as_deref(), &options()).unwrap();
            assert!(!plan.runs.is_empty(), "{name}");
            let indices: Vec<usize> = plan.runs.iter().map(|(p, _)| p.index).collect();
            assert_eq!(indices, (0..plan.runs.len()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn plan_id_ignores_shard_and_store_but_not_seeds() {
        let (file, _) = load("example").unwrap();
        let a = plan(&file, None, &options()).unwrap();
        let mut other = options();
        other.shard = Some(Shard { index: 2, count: 2 });
        other.store = PathBuf::from("elsewhere");
        assert_eq!(plan(&file, None, &other).unwrap().plan_id, a.plan_id);
        other.seed_base = Some(100);
        assert_ne!(plan(&file, None, &other).unwrap().plan_id, a.plan_id);
    }

    #[test]
    fn bad_files_are_config_errors_naming_the_problem() {
        let file: CampaignFile = toml::from_str(
            "time_limit = \"5s\"\npresets = [\"kil\"]\nseeds = [1]\n[[targets]]\ntarget = \"raft\"\n",
        )
        .unwrap();
        let e = plan(&file, None, &options()).err().unwrap().to_string();
        assert!(e.contains("kil"), "{e}");
        assert!(toml::from_str::<CampaignFile>(
            "time_limit = \"5s\"\npresets = []\ntargets = []\nsed = 3\n"
        )
        .is_err());
    }

    #[test]
    fn a_mutant_runs_its_baselines_schedules_and_nothing_else() {
        let base = "seed_count = 4\n[[targets]]\nname = \"b\"\ntarget = \"raft\"\nnodes = 5\n\
                    presets = [\"pause\"]\ntime_limit = \"7s\"\nfault_duration = \"500ms\"\n\
                    [[targets]]\ntarget = \"raft\"\nbug = \"vote-twice\"\nbaseline = \"b\"\n";
        let file: CampaignFile = toml::from_str(&format!("{base}seed_count = 2\n")).unwrap();
        let planned = plan(&file, None, &options()).unwrap();
        let mutant: Vec<_> = planned
            .runs
            .iter()
            .filter(|(p, _)| p.target == "raft+vote-twice")
            .collect();
        assert_eq!(mutant.len(), 2);
        for (p, o) in mutant {
            assert_eq!((p.preset.as_str(), o.nodes), ("pause", Some(5)));
            assert_eq!(o.time_limit, Duration::from_secs(7));
            assert_eq!(o.fault_duration, Some(Duration::from_millis(500)));
            assert_eq!(o.bug.as_deref(), Some("vote-twice"));
        }
        assert_eq!(planned.settings["targets"][1]["baseline"], "b");
        let error = |extra: &str| {
            let file: CampaignFile = toml::from_str(&format!("{base}{extra}\n")).unwrap();
            plan(&file, None, &options()).err().unwrap().to_string()
        };
        assert!(error("nodes = 3").contains("remove `nodes`"));
        assert!(error("seeds = [1, 99]").contains("seed 99"));
        let file: CampaignFile =
            toml::from_str(&base.replace("baseline = \"b\"", "baseline = \"x\"")).unwrap();
        assert!(plan(&file, None, &options())
            .err()
            .unwrap()
            .to_string()
            .contains("baseline \"x\""));
    }

    #[test]
    fn fault_settings_reach_every_run_and_bad_ones_name_the_key() {
        let base = "seed_count = 2\n[[targets]]\nname = \"b\"\ntarget = \"raft\"\n\
                    presets = [\"delay-spike\"]\ntime_limit = \"7s\"\n";
        let file: CampaignFile = toml::from_str(&format!(
            "{base}concurrency = 2\nspike_delay = \"800ms\"\nspike_jitter = \"50ms\"\n\
             duplicate_probability = 0.4\n[[targets]]\ntarget = \"raft\"\n\
             bug = \"count-earlier-terms\"\nbaseline = \"b\"\n"
        ))
        .unwrap();
        let planned = plan(&file, None, &options()).unwrap();
        assert_eq!(planned.runs.len(), 4);
        for (_, o) in &planned.runs {
            assert_eq!(o.knobs.concurrency, 2);
            assert_eq!(o.knobs.spike_delay, Some(Duration::from_millis(800)));
            assert_eq!(o.knobs.spike_jitter, Some(Duration::from_millis(50)));
            assert_eq!(o.knobs.duplicate_probability, Some(0.4));
        }
        assert_eq!(planned.settings["targets"][0]["spike_delay"], "800ms");
        let error = |extra: &str| {
            let file: CampaignFile = toml::from_str(&format!("{base}{extra}\n")).unwrap();
            plan(&file, None, &options()).err().unwrap().to_string()
        };
        let e = error("duplicate_probability = 1.5");
        assert!(
            e.contains("`duplicate_probability` 1.5 is not a probability"),
            "{e}"
        );
        let e = error("spike_delay = \"10ms\"\nspike_jitter = \"20ms\"");
        assert!(
            e.contains("`spike_delay` 10ms is shorter than `spike_jitter` 20ms"),
            "{e}"
        );
        let mutant = format!(
            "{base}[[targets]]\ntarget = \"raft\"\nbug = \"vote-twice\"\nbaseline = \"b\"\n\
             spike_delay = \"1s\"\n"
        );
        let file: CampaignFile = toml::from_str(&mutant).unwrap();
        let e = plan(&file, None, &options()).err().unwrap().to_string();
        assert!(e.contains("remove `spike_delay`"), "{e}");
    }

    #[test]
    fn a_bare_number_is_not_a_duration_in_a_campaign_file() {
        for text in [
            "time_limit = 5000\n[[targets]]\ntarget = \"raft\"\n",
            "time_limit = \"5s\"\n[[targets]]\ntarget = \"raft\"\nfault_duration = 1.5\n",
        ] {
            let e = toml::from_str::<CampaignFile>(text)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("is a bare number, not a duration"), "{e}");
            assert!(e.contains("ms\" or \""), "{e}");
        }
    }

    #[test]
    fn default_jobs_is_at_least_one() {
        assert!(default_jobs() >= 1);
    }
}
