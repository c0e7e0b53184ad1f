//! `splitbrain hunt`: the one command for an implementation whose bugs nobody
//! knows. No one can say in advance which fault exposes a miscounted vote or
//! a lease renewed over another node's, so the hunt deals every preset (and
//! `chaos`) in turn with fresh seeds until a run is invalid or the budget is
//! spent. It is a campaign whose matrix grows as it goes: the same store
//! layout, `summary.json`, reports and exit codes as `splitbrain campaign`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use results::campaign::{
    CampaignDir, CampaignSummary, PlannedRun, RunRecord, RunStatus, CAMPAIGN_FORMAT,
};
use results::store::utc_stamp;
use workloads::Preset;

use crate::campaign::{carry_out, default_jobs, fingerprint, write_outputs};
use crate::network::NetworkBackend;
use crate::run::{self, compact_duration, RunOptions};
use crate::target::{Target, Transport};

/// The shortest run a hunt starts when its budget is nearly spent: shorter
/// than this, a fault schedule has no room for an election and its undo.
const MIN_RUN: Duration = Duration::from_secs(3);

/// After this many runs in a row failed to run at all (nothing judged), the
/// target is broken, not buggy: stop and say so.
const MAX_FAILED_IN_A_ROW: usize = 3;

/// What `splitbrain hunt` was told.
#[derive(Debug, Clone)]
pub struct HuntOptions {
    /// Built-in target name or target file.
    pub target: String,
    /// Campaign time to spend at most.
    pub budget: Duration,
    /// Runs at once (default: half the cores).
    pub jobs: Option<usize>,
    /// Keep going after a find, to the end of the budget.
    pub all: bool,
    /// First seed (default: from the clock); run `i` uses `seed + i`.
    pub seed: Option<u64>,
    /// Fault phase of each run (default: scaled to the target's timing).
    pub time_limit: Option<Duration>,
    /// Node count (default: the target's).
    pub nodes: Option<usize>,
    /// Seeded bug for built-in nodes.
    pub bug: Option<String>,
    /// Extra arguments appended to every node's argv.
    pub node_args: Vec<String>,
    /// The store.
    pub store: PathBuf,
    /// Set by SIGINT/SIGTERM: the hunt stops after the current run(s),
    /// which end early and are still judged.
    pub interrupt: Arc<AtomicBool>,
}

/// Why a hunt could not start or went wrong.
#[derive(Debug, thiserror::Error)]
pub enum HuntError {
    /// Bad arguments or configuration: nothing was started (exit 254).
    #[error("{0:#}")]
    Config(anyhow::Error),
    /// The hunt itself failed (exit 255).
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// The first invalid run of a hunt.
#[derive(Debug, Clone)]
pub struct Find {
    /// Its record (preset, seed, checkers, first violation, replay).
    pub record: RunRecord,
    /// Its run directory.
    pub run_dir: Option<PathBuf>,
    /// Campaign time from the start of the hunt to the end of this run.
    pub found_after: Duration,
    /// How many runs had finished, this one included.
    pub runs: usize,
}

/// What a hunt left.
#[derive(Debug)]
pub struct HuntOutcome {
    /// Its campaign directory.
    pub dir: CampaignDir,
    /// Its summary, as written.
    pub summary: CampaignSummary,
    /// The first find, if any.
    pub find: Option<Find>,
    /// Presets dealt, in order.
    pub presets: Vec<String>,
    /// Presets left out, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Campaign time spent.
    pub elapsed: Duration,
    /// Why it stopped early, when not for a find, the budget or a signal.
    pub stopped: Option<String>,
}

/// The presets a hunt deals for `target`, in order, and those it leaves
/// out: `chaos` first (every kind, overlapping), then each family, then the
/// reactive presets, each riding on `pause`: a reactive preset acts on
/// elections, and alone it would see only the first one, while resumed
/// nodes campaign at once, often several in one term (the situation
/// `kill-voter` exists for). Datagram-only presets do nothing to a TCP
/// stream.
pub fn hunt_presets(target: &Target) -> (Vec<String>, Vec<(String, String)>) {
    let mut order = vec![Preset::Chaos];
    order.extend(Preset::FAMILIES);
    let reactive: Vec<Preset> = Preset::ALL
        .iter()
        .copied()
        .filter(|p| p.is_reactive())
        .collect();
    order.extend(&reactive);
    let mut dealt = vec![];
    let mut skipped = vec![];
    for p in order {
        if reactive.contains(&p) {
            dealt.push(format!("{},{}", Preset::Pause.name(), p.name()));
            continue;
        }
        if target.transport == Transport::Tcp && p.is_datagram_only() {
            skipped.push((
                p.name().to_string(),
                "UDP only: a TCP stream neither duplicates nor reorders".to_string(),
            ));
        } else if target.network == NetworkBackend::Kernel && p.holds_packets() {
            skipped.push((
                p.name().to_string(),
                "holds packets back: the kernel backend only drops (network = \"proxy\" does it)"
                    .to_string(),
            ));
        } else {
            dealt.push(p.name().to_string());
        }
    }
    (dealt, skipped)
}

/// The default fault phase of a hunt run: long enough for several faults
/// and their elections (20 maximum election timeouts, at least 8 s), short
/// enough that a 5-minute budget deals every preset more than once.
pub fn default_time_limit(target: &Target) -> Duration {
    (target.timing.election_timeout[1] * 20).max(Duration::from_secs(8))
}

/// One unit of work: the run's number, its plan and options.
type Job = (usize, PlannedRun, RunOptions);

/// Shared by the workers: what is dealt next, and whether to stop dealing.
struct Dealer {
    next: usize,
    stop: Option<String>,
}

/// Carry out a hunt: deal presets round-robin with fresh seeds on `jobs`
/// threads until a run is invalid (unless `all`), the budget is spent, a
/// signal arrives, or the target keeps failing to run. The summary is
/// written after every run, so an interrupted hunt keeps all it did.
pub fn hunt(
    opts: &HuntOptions,
    on_progress: &mut dyn FnMut(&HuntProgress),
) -> Result<HuntOutcome, HuntError> {
    let config = |e: anyhow::Error| HuntError::Config(e);
    if opts.budget < MIN_RUN {
        return Err(config(anyhow!(
            "--budget {} is too short for one run; give at least {} (e.g. --budget 5m)",
            compact_duration(opts.budget),
            compact_duration(MIN_RUN)
        )));
    }
    if opts.jobs == Some(0) {
        return Err(config(anyhow!(
            "--jobs 0 would run nothing; use --jobs 1 or more"
        )));
    }
    if let Some(t) = opts.time_limit {
        if t.is_zero() {
            return Err(config(anyhow!("--time-limit must be more than 0s")));
        }
    }
    let target = Target::load(&opts.target).map_err(|e| config(e.into()))?;
    let (presets, skipped) = hunt_presets(&target);
    // Every preset must be one a run accepts for this target.
    let time_limit = opts
        .time_limit
        .unwrap_or_else(|| default_time_limit(&target));
    for p in &presets {
        run::fault_inputs(
            &opts.target,
            p,
            time_limit,
            &workloads::FaultKnobs::default(),
            None,
        )
        .map_err(config)?;
    }
    if let Some(n) = opts.nodes {
        if n == 0 {
            return Err(config(anyhow!("--nodes must be at least 1")));
        }
    }
    results::store::check_writable(&opts.store).map_err(|e| config(e.into()))?;
    let seed_base = opts.seed.unwrap_or_else(clock_seed);
    let jobs = opts.jobs.unwrap_or_else(default_jobs).max(1);
    let label = match &opts.bug {
        Some(bug) => format!("{}+{bug}", target.name),
        None => target.name.clone(),
    };
    let settings = serde_json::json!({
        "kind": "hunt",
        "target": opts.target,
        "label": label,
        "budget_ms": opts.budget.as_millis() as u64,
        "time_limit_ms": time_limit.as_millis() as u64,
        "seed_base": seed_base,
        "presets": presets,
        "skipped": skipped.iter().map(|(p, why)| serde_json::json!({"preset": p, "why": why})).collect::<Vec<_>>(),
        "nodes": opts.nodes,
        "bug": opts.bug,
        "node_args": opts.node_args,
        "all": opts.all,
    });
    let name = format!("hunt-{}", target.name);
    let cdir = CampaignDir::create(&opts.store, &name).map_err(|e| HuntError::Failed(e.into()))?;
    let now = utc_stamp();
    let mut summary = CampaignSummary {
        format: CAMPAIGN_FORMAT,
        name,
        plan_id: fingerprint(&settings.to_string()),
        matrix_runs: 0,
        planned: vec![],
        shard: None,
        merged_from: vec![],
        started_at: now.clone(),
        updated_at: now,
        complete: false,
        interrupted: false,
        allow_unknown: false,
        jobs,
        settings,
        runs: vec![],
    };
    write_outputs(&cdir, &summary).map_err(HuntError::Failed)?;

    let started = Instant::now();
    let dealer = Mutex::new(Dealer {
        next: 0,
        stop: None,
    });
    let base_options = RunOptions {
        target: opts.target.clone(),
        nodes: opts.nodes,
        seed: None,
        time_limit,
        nemesis: String::new(),
        nemesis_interval: None,
        fault_duration: None,
        knobs: workloads::FaultKnobs::default(),
        network: None,
        gap_bound: None,
        recovery: None,
        bug: opts.bug.clone(),
        node_args: opts.node_args.clone(),
        store: opts.store.clone(),
        interrupt: opts.interrupt.clone(),
        progress: crate::progress::ProgressMode::Quiet,
    };
    // The next run, or None when the budget, a find or a signal says stop.
    let deal = || -> Option<Job> {
        let mut d = dealer.lock().ok()?;
        if d.stop.is_some() || opts.interrupt.load(Ordering::SeqCst) {
            return None;
        }
        let left = opts.budget.saturating_sub(started.elapsed());
        if left < MIN_RUN {
            return None;
        }
        let i = d.next;
        d.next += 1;
        let preset = presets[i % presets.len()].clone();
        let seed = seed_base.wrapping_add(i as u64);
        let plan = PlannedRun {
            index: i,
            target: label.clone(),
            preset: preset.clone(),
            seed,
            repetition: 1,
        };
        let mut options = base_options.clone();
        options.seed = Some(seed);
        options.nemesis = preset;
        // The last run of a budget is cut to fit it.
        options.time_limit = time_limit.min(left);
        Some((i, plan, options))
    };

    let mut find: Option<Find> = None;
    let mut failed_in_a_row = 0usize;
    let mut stopped: Option<String> = None;
    let mut write_error = None;
    let (tx, rx) = mpsc::channel::<(PlannedRun, crate::campaign::Finished)>();
    std::thread::scope(|scope| {
        for w in 0..jobs {
            let tx = tx.clone();
            let deal = &deal;
            let dealer = &dealer;
            let _ = std::thread::Builder::new()
                .name(format!("splitbrain-hunt-{w}"))
                .spawn_scoped(scope, move || {
                    while let Some((_, plan, options)) = deal() {
                        let finished = carry_out(plan.clone(), &options);
                        // Stop dealing before anyone asks for the next run.
                        if finished.record.status == RunStatus::Invalid && !opts.all {
                            if let Ok(mut d) = dealer.lock() {
                                d.stop.get_or_insert_with(|| "found a violation".into());
                            }
                        }
                        if tx.send((plan, finished)).is_err() {
                            break;
                        }
                    }
                });
        }
        drop(tx);
        for (plan, finished) in rx {
            let mut record = finished.record;
            if let Some(run_dir) = &finished.run_dir {
                record.run_dir = Some(cdir.relative_run_dir(run_dir));
            }
            cdir.link_run(&record);
            summary.planned.push(plan);
            summary.planned.sort_by_key(|p| p.index);
            summary.matrix_runs = summary.planned.len();
            let status = record.status;
            let config_error = record
                .error
                .as_deref()
                .filter(|e| e.starts_with("bad configuration"))
                .map(str::to_string);
            if status == RunStatus::Failed {
                failed_in_a_row += 1;
            } else {
                failed_in_a_row = 0;
            }
            if status == RunStatus::Invalid && find.is_none() {
                find = Some(Find {
                    record: record.clone(),
                    run_dir: finished.run_dir.clone(),
                    found_after: started.elapsed(),
                    runs: summary.runs.len() + 1,
                });
                if !opts.all {
                    if let Ok(mut d) = dealer.lock() {
                        d.stop.get_or_insert_with(|| "found a violation".into());
                    }
                }
            }
            let reason = if let Some(e) = config_error {
                Some(format!("a run was refused: {e}"))
            } else if failed_in_a_row >= MAX_FAILED_IN_A_ROW {
                Some(format!(
                    "{failed_in_a_row} runs in a row failed to run; the target does not start \
                     here (see the last run's error below and its node stderr)"
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                if let Ok(mut d) = dealer.lock() {
                    d.stop.get_or_insert_with(|| reason.clone());
                }
                stopped.get_or_insert(reason);
            }
            summary.record(record.clone());
            summary.updated_at = utc_stamp();
            on_progress(&HuntProgress {
                record: &record,
                run_dir: finished.run_dir.as_deref(),
                summary: &summary,
                elapsed: started.elapsed(),
                budget: opts.budget,
                presets: presets.len(),
            });
            if let Err(e) = write_outputs(&cdir, &summary) {
                write_error.get_or_insert(e);
            }
        }
    });
    summary.interrupted = opts.interrupt.load(Ordering::SeqCst);
    summary.complete = !summary.interrupted;
    summary.updated_at = utc_stamp();
    write_outputs(&cdir, &summary).map_err(HuntError::Failed)?;
    if let Some(e) = write_error {
        return Err(HuntError::Failed(e));
    }
    Ok(HuntOutcome {
        dir: cdir,
        summary,
        find,
        presets,
        skipped,
        elapsed: started.elapsed(),
        stopped,
    })
}

/// What the live status line is drawn from, after each finished run.
pub struct HuntProgress<'a> {
    /// The run that just finished.
    pub record: &'a RunRecord,
    /// Its directory.
    pub run_dir: Option<&'a std::path::Path>,
    /// Everything so far.
    pub summary: &'a CampaignSummary,
    /// Campaign time so far.
    pub elapsed: Duration,
    /// The budget.
    pub budget: Duration,
    /// Presets in the deal.
    pub presets: usize,
}

impl HuntProgress<'_> {
    /// `12 runs · 3m 10s of 10m · 12/17 presets tried · longest gap 840 ms
    /// (slow) · 0 violations`: what the hunt has done and the closest it
    /// came, so a user knows whether to wait.
    pub fn status(&self) -> String {
        let tried: std::collections::BTreeSet<&str> = self
            .summary
            .runs
            .iter()
            .map(|r| r.plan.preset.as_str())
            .collect();
        let c = self.summary.counts();
        format!(
            "{} runs · {} of {} · {}/{} presets tried · {} · {} violations",
            self.summary.runs.len(),
            compact_duration(round_secs(self.elapsed)),
            compact_duration(self.budget),
            tried.len(),
            self.presets,
            best_figure(self.summary),
            c.invalid
        )
    }
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

/// The closest a hunt came to a violation so far: the longest election gap
/// of any valid run, and the preset that caused it.
pub fn best_figure(summary: &CampaignSummary) -> String {
    let best = summary
        .runs
        .iter()
        .filter_map(|r| {
            r.gaps_ms
                .iter()
                .copied()
                .max_by(f64::total_cmp)
                .map(|g| (g, &r.plan.preset))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((g, preset)) => format!("longest gap {g:.0} ms ({preset})"),
        None => "no gap yet".to_string(),
    }
}

/// Per-preset figures of a hunt, for `--all` and for a hunt that found
/// nothing: runs, invalid runs, the checkers that fired, the fastest find.
pub fn preset_table(summary: &CampaignSummary, presets: &[String]) -> String {
    let mut by_preset: BTreeMap<&str, Vec<&RunRecord>> = BTreeMap::new();
    for r in &summary.runs {
        by_preset.entry(r.plan.preset.as_str()).or_default().push(r);
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "preset",
        "runs",
        "invalid",
        "unknown",
        "failed",
        "caught by",
        "first violation (s into run)",
        "longest gap (ms)",
    ]);
    for p in presets {
        let runs = by_preset.get(p.as_str()).cloned().unwrap_or_default();
        let count = |s: RunStatus| runs.iter().filter(|r| r.status == s).count();
        let mut checkers: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &runs {
            for c in &r.invalid_checkers {
                *checkers.entry(c.as_str()).or_default() += 1;
            }
        }
        let caught = checkers
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let first = runs
            .iter()
            .filter_map(|r| r.first_violation_ms)
            .min_by(f64::total_cmp)
            .map_or("-".to_string(), |ms| format!("{:.2}", ms / 1e3));
        let gap = runs
            .iter()
            .flat_map(|r| r.gaps_ms.iter().copied())
            .max_by(f64::total_cmp)
            .map_or("-".to_string(), |g| format!("{g:.0}"));
        table.add_row(vec![
            p.clone(),
            runs.len().to_string(),
            count(RunStatus::Invalid).to_string(),
            count(RunStatus::Unknown).to_string(),
            count(RunStatus::Failed).to_string(),
            if caught.is_empty() {
                "-".into()
            } else {
                caught
            },
            first,
            gap,
        ]);
    }
    table.to_string()
}

/// A seed nobody chose: the clock's nanoseconds, so every hunt is new.
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 % 1_000_000_000)
        .unwrap_or(1)
}

/// Whether stderr shows a live status line (a terminal) or one line per run.
pub fn live_status() -> bool {
    std::io::stderr().is_terminal()
}

/// One seeded bug of the built-in nodes, as the hunt benchmark runs it.
#[derive(Debug, Clone)]
pub struct SeededBug {
    /// Label in the table (`raft+forget-term`, `bully (as is)`).
    pub label: String,
    /// Built-in target.
    pub target: &'static str,
    /// `--bug`, when the bug is a flag (bully is buggy as it is).
    pub bug: Option<String>,
}

/// Every seeded bug of the built-in nodes, from their `Bug` enums, so a new
/// bug is in the benchmark the day it is added.
pub fn seeded_bugs() -> Vec<SeededBug> {
    use clap::ValueEnum;
    let names = |variants: Vec<Option<clap::builder::PossibleValue>>| -> Vec<String> {
        variants
            .into_iter()
            .flatten()
            .map(|v| v.get_name().to_string())
            .collect()
    };
    let mut bugs = vec![];
    let mut add = |target: &'static str, list: Vec<String>| {
        for bug in list {
            bugs.push(SeededBug {
                label: format!("{target}+{bug}"),
                target,
                bug: Some(bug),
            });
        }
    };
    add(
        "raft",
        names(
            nodes::raft::Bug::value_variants()
                .iter()
                .map(|b| b.to_possible_value())
                .collect(),
        ),
    );
    add(
        "redis-lease",
        names(
            nodes::lease::core::LeaseBug::value_variants()
                .iter()
                .map(|b| b.to_possible_value())
                .collect(),
        ),
    );
    add(
        "etcd-elect",
        names(
            nodes::etcd_elect::core::Bug::value_variants()
                .iter()
                .map(|b| b.to_possible_value())
                .collect(),
        ),
    );
    bugs.push(SeededBug {
        label: "bully (as is)".into(),
        target: "bully",
        bug: None,
    });
    bugs
}

/// What `splitbrain bench hunt` was told.
#[derive(Debug, Clone)]
pub struct BenchHuntOptions {
    /// Hunts per bug (the median is over them).
    pub hunts: usize,
    /// Each hunt's budget.
    pub budget: Duration,
    /// Only the bugs whose label contains one of these (all when empty).
    pub only: Vec<String>,
    /// First seed of the first hunt; hunt `h` of every bug starts at
    /// `seed + 10_000 · h`, so hunts never share a run.
    pub seed: u64,
    /// The store the hunts write to.
    pub store: PathBuf,
    /// Set by SIGINT/SIGTERM.
    pub interrupt: Arc<AtomicBool>,
}

/// The time `hunt` takes to find every seeded bug, with no bug-specific
/// preset: `hunts` hunts per bug, the median campaign time to the first
/// violation (a hunt that found nothing counts as never), the presets and
/// checkers that found it. Prints one line per hunt, then the table.
pub fn bench(opts: &BenchHuntOptions, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let bugs: Vec<SeededBug> = seeded_bugs()
        .into_iter()
        .filter(|b| opts.only.is_empty() || opts.only.iter().any(|o| b.label.contains(o.as_str())))
        .collect();
    if bugs.is_empty() {
        anyhow::bail!(
            "--only {} matches no seeded bug; the bugs are: {}",
            opts.only.join(","),
            seeded_bugs()
                .iter()
                .map(|b| b.label.clone())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "bug",
        "found",
        "median time to find",
        "each hunt (s)",
        "found by preset",
        "caught by",
    ]);
    for b in &bugs {
        let mut times: Vec<Option<Duration>> = vec![];
        let mut presets: BTreeMap<String, usize> = BTreeMap::new();
        let mut checkers: BTreeMap<String, usize> = BTreeMap::new();
        for h in 0..opts.hunts {
            if opts.interrupt.load(Ordering::SeqCst) {
                break;
            }
            let hunt_opts = HuntOptions {
                target: b.target.to_string(),
                budget: opts.budget,
                jobs: Some(1),
                all: false,
                seed: Some(opts.seed + 10_000 * h as u64),
                time_limit: None,
                nodes: None,
                bug: b.bug.clone(),
                node_args: vec![],
                store: opts.store.clone(),
                interrupt: opts.interrupt.clone(),
            };
            let outcome =
                hunt(&hunt_opts, &mut |_| {}).map_err(|e| anyhow!("{}: {e:#}", b.label))?;
            let found = outcome.find.as_ref();
            writeln!(
                out,
                "{} hunt {}: {}",
                b.label,
                h + 1,
                match found {
                    Some(f) => format!(
                        "found after {:.1} s ({}, {})",
                        f.found_after.as_secs_f64(),
                        f.record.plan.name(),
                        f.record.invalid_checkers.join(", ")
                    ),
                    None => format!(
                        "nothing in {} ({} runs)",
                        compact_duration(opts.budget),
                        outcome.summary.runs.len()
                    ),
                }
            )?;
            if let Some(f) = found {
                *presets.entry(f.record.plan.preset.clone()).or_default() += 1;
                for c in &f.record.invalid_checkers {
                    *checkers.entry(c.clone()).or_default() += 1;
                }
            }
            times.push(found.map(|f| f.found_after));
        }
        let found = times.iter().filter(|t| t.is_some()).count();
        let mut sorted: Vec<Duration> = times.iter().map(|t| t.unwrap_or(Duration::MAX)).collect();
        sorted.sort();
        let median = if sorted.is_empty() {
            "-".to_string()
        } else {
            match sorted[(sorted.len() - 1) / 2] {
                Duration::MAX => format!("not found within {}", compact_duration(opts.budget)),
                d => format!("{:.1} s", d.as_secs_f64()),
            }
        };
        let each = times
            .iter()
            .map(|t| t.map_or("-".to_string(), |d| format!("{:.0}", d.as_secs_f64())))
            .collect::<Vec<_>>()
            .join(" ");
        let list = |m: &BTreeMap<String, usize>| {
            m.iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        table.add_row(vec![
            b.label.clone(),
            format!("{found}/{}", times.len()),
            median,
            each,
            list(&presets),
            list(&checkers),
        ]);
    }
    writeln!(
        out,
        "\nhunt: time to find each seeded bug ({} hunts each, budget {}, --jobs 1, no bug-specific preset)",
        opts.hunts,
        compact_duration(opts.budget)
    )?;
    writeln!(out, "{table}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_udp_target_deals_every_preset_chaos_first_and_a_tcp_one_says_what_it_skips() {
        let raft = Target::load("raft").unwrap();
        let (dealt, skipped) = hunt_presets(&raft);
        assert_eq!(dealt[0], "chaos");
        assert!(skipped.is_empty());
        for p in [
            "kill",
            "duplicate",
            "reorder",
            "delay-spike",
            "pause,kill-voter",
            "pause,pause-new-leader",
        ] {
            assert!(dealt.iter().any(|d| d == p), "{p} dealt");
        }
        assert!(!dealt.iter().any(|d| d == "mixed" || d == "none"));
        let etcd = Target::load("etcd").unwrap();
        let (dealt, skipped) = hunt_presets(&etcd);
        let names: Vec<&str> = skipped.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["duplicate", "reorder"]);
        assert!(dealt.iter().any(|d| d == "delay-spike"));
    }

    #[test]
    fn the_default_run_scales_with_the_election_timeout() {
        let raft = Target::load("raft").unwrap();
        assert_eq!(default_time_limit(&raft), Duration::from_secs(8));
    }
}
