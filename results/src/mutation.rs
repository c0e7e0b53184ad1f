//! The mutation score of a campaign: does every seeded bug (a target entry
//! with a `baseline`) fail a checker that its correct variant never fails on
//! the same presets and seeds, how soon, and do the correct variants stay
//! free of safety violations? See docs/mutants.md.
//!
//! Computed from `summary.json` alone (its `settings.targets[].baseline`
//! pairs a mutant with its correct variant, its run records carry each
//! invalid checker's first violation), so `splitbrain report` re-renders it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::campaign::{CampaignSummary, RunRecord, RunStatus};

/// Checkers whose violation on a correct variant is a safety bug of the
/// harness or the node: contract 4's safety checkers, and `lease-overlap`,
/// which is invalid only where the target promises `exclusive`.
pub fn is_safety(checker: &str) -> bool {
    checkers::SAFETY_CHECKERS.contains(&checker) || checker == "lease-overlap"
}

/// The goals the mutation score is held to (issue "Node zoo", docs/mutants.md).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Goals {
    /// Longest acceptable median time to the first violation, ms.
    pub median_first_violation_ms: f64,
    /// Fewest seeds every correct variant must run, per preset.
    pub correct_seeds: usize,
}

impl Default for Goals {
    fn default() -> Self {
        Goals {
            median_first_violation_ms: 30_000.0,
            correct_seeds: 20,
        }
    }
}

/// One mutant under one preset.
#[derive(Debug, Clone, Serialize)]
pub struct MutantRow {
    /// The mutant's label (`raft+no-step-down`).
    pub mutant: String,
    /// The seeded bug, when the mutant is one (`no-step-down`).
    pub bug: Option<String>,
    /// The correct variant it is compared with.
    pub baseline: String,
    /// The preset.
    pub preset: String,
    /// Judged runs whose seed the baseline also ran (judged) on this preset.
    pub runs: usize,
    /// Of those, runs invalid by a checker the baseline never failed here.
    pub detected_runs: usize,
    /// Those checkers, with how many runs each caught.
    pub caught_by: BTreeMap<String, usize>,
    /// Checkers the mutant failed that the baseline failed too on these
    /// presets and seeds: they count for nothing.
    pub not_counted: BTreeSet<String>,
    /// Median over `runs` of the time to the first counted violation, ms
    /// since the run started (nearest rank, the lower middle of an even
    /// count); a run without one counts as never, so this is `None` when
    /// fewer than half the runs were caught.
    pub median_first_violation_ms: Option<f64>,
    /// Runs that failed to run or had no judged baseline to compare with.
    pub incomparable: usize,
    /// How each run of the row was scored, by plan index (for JUnit).
    #[serde(skip)]
    pub scored: BTreeMap<usize, Scored>,
}

/// How the score took one run of a seeded bug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scored {
    /// Caught by these checkers, none of which its correct variant fails.
    Caught(Vec<String>),
    /// Compared with its correct variant and not caught.
    Missed,
    /// Not judged, or no judged run of the correct variant on its seed.
    NotCompared,
}

/// A goal a score row misses: a short kind (`not-detected`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalMiss {
    /// `not-detected`, `too-slow`, `safety-violation` or `too-few-seeds`.
    pub kind: &'static str,
    /// What was missed, in a sentence.
    pub why: String,
}

impl MutantRow {
    /// Detected: some run failed a checker its correct variant never fails.
    pub fn detected(&self) -> bool {
        self.detected_runs > 0
    }

    /// The goal this bug misses, if any: detected, with a median first
    /// violation within the goal.
    pub fn goal_miss(&self, goals: &Goals) -> Option<GoalMiss> {
        if !self.detected() {
            return Some(GoalMiss {
                kind: "not-detected",
                why: format!(
                    "not detected: no run failed a checker that {} never fails on {}",
                    self.baseline, self.preset
                ),
            });
        }
        match self.median_first_violation_ms {
            Some(t) if t <= goals.median_first_violation_ms => None,
            median => Some(GoalMiss {
                kind: "too-slow",
                why: format!(
                    "median first violation {} over the {:.0} s goal ({} of {} runs caught)",
                    median.map_or("never (fewer than half the runs caught)".to_string(), |t| {
                        format!("{:.2} s", t / 1e3)
                    }),
                    goals.median_first_violation_ms / 1e3,
                    self.detected_runs,
                    self.runs
                ),
            }),
        }
    }
}

impl BaselineRow {
    /// The goal this correct variant misses, if any: no safety violation,
    /// enough seeds.
    pub fn goal_miss(&self, goals: &Goals) -> Option<GoalMiss> {
        if self.safety_violation_runs > 0 {
            Some(GoalMiss {
                kind: "safety-violation",
                why: format!(
                    "a correct variant broke safety: {} of {} runs on {}",
                    self.safety_violation_runs, self.runs, self.preset
                ),
            })
        } else if self.seeds < goals.correct_seeds {
            Some(GoalMiss {
                kind: "too-few-seeds",
                why: format!(
                    "{} seeds, the score needs {} per preset",
                    self.seeds, goals.correct_seeds
                ),
            })
        } else {
            None
        }
    }
}

/// One correct variant under one preset.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineRow {
    /// The variant's label.
    pub variant: String,
    /// The preset.
    pub preset: String,
    /// Judged runs.
    pub runs: usize,
    /// Distinct seeds among them.
    pub seeds: usize,
    /// Runs with a safety violation ([`is_safety`]): the goal is 0.
    pub safety_violation_runs: usize,
    /// Invalid runs per checker (safety or not).
    pub invalid_by_checker: BTreeMap<String, usize>,
    /// Runs the checkers could not judge, or that failed to run.
    pub unknown_or_failed: usize,
}

/// The whole score, with the goals it was held to.
#[derive(Debug, Clone, Serialize)]
pub struct MutationScore {
    /// Mutants, in campaign order.
    pub mutants: Vec<MutantRow>,
    /// Correct variants, in campaign order.
    pub baselines: Vec<BaselineRow>,
    /// The goals.
    pub goals: Goals,
    /// Sum of the runs' wall-clock times, ms (the campaign's length at `--jobs 1`).
    pub run_time_ms: u64,
    /// Every planned run has a final record.
    pub complete: bool,
}

impl MutationScore {
    /// The score of `summary`, or `None` when no target names a baseline.
    pub fn of(summary: &CampaignSummary, goals: Goals) -> Option<MutationScore> {
        let targets = summary.settings.get("targets")?.as_array()?;
        let text = |t: &serde_json::Value, key: &str| {
            t.get(key).and_then(|v| v.as_str()).map(str::to_string)
        };
        let pairs: Vec<(String, Option<String>, String)> = targets
            .iter()
            .filter_map(|t| Some((text(t, "label")?, text(t, "bug"), text(t, "baseline")?)))
            .collect();
        if pairs.is_empty() {
            return None;
        }
        let final_runs: Vec<&RunRecord> = summary
            .runs
            .iter()
            .filter(|r| r.status != RunStatus::Interrupted)
            .collect();
        let judged = |r: &&RunRecord| {
            matches!(
                r.status,
                RunStatus::Valid | RunStatus::Invalid | RunStatus::Unknown
            )
        };
        let presets_of = |label: &str| -> Vec<String> {
            let mut order: Vec<String> = Vec::new();
            for p in summary.planned.iter().filter(|p| p.target == label) {
                if !order.contains(&p.preset) {
                    order.push(p.preset.clone());
                }
            }
            order
        };

        let mut mutants = Vec::new();
        for (label, bug, baseline) in &pairs {
            for preset in presets_of(label) {
                let base_runs: Vec<&RunRecord> = final_runs
                    .iter()
                    .copied()
                    .filter(|r| &r.plan.target == baseline && r.plan.preset == preset)
                    .filter(judged)
                    .collect();
                let own: Vec<&RunRecord> = final_runs
                    .iter()
                    .copied()
                    .filter(|r| &r.plan.target == label && r.plan.preset == preset)
                    .collect();
                let comparable: Vec<&RunRecord> = own
                    .iter()
                    .copied()
                    .filter(judged)
                    .filter(|r| base_runs.iter().any(|b| b.plan.seed == r.plan.seed))
                    .collect();
                let seeds: BTreeSet<u64> = comparable.iter().map(|r| r.plan.seed).collect();
                // What the correct variant fails on these presets and seeds
                // proves nothing about the bug.
                let excluded: BTreeSet<&str> = base_runs
                    .iter()
                    .filter(|b| seeds.contains(&b.plan.seed))
                    .flat_map(|b| b.invalid_checkers.iter().map(String::as_str))
                    .collect();
                let mut caught_by = BTreeMap::new();
                let mut not_counted = BTreeSet::new();
                let mut times: Vec<Option<f64>> = Vec::new();
                let mut scored: BTreeMap<usize, Scored> = own
                    .iter()
                    .map(|r| (r.plan.index, Scored::NotCompared))
                    .collect();
                for r in &comparable {
                    let mut first: Option<f64> = None;
                    let mut counted = Vec::new();
                    for c in &r.invalid_checkers {
                        if excluded.contains(c.as_str()) {
                            not_counted.insert(c.clone());
                            continue;
                        }
                        counted.push(c.clone());
                        *caught_by.entry(c.clone()).or_insert(0) += 1;
                        let at = r
                            .violations_ms
                            .get(c)
                            .copied()
                            .or(r.first_violation_ms)
                            .unwrap_or(f64::INFINITY);
                        first = Some(first.map_or(at, |f| f.min(at)));
                    }
                    times.push(first);
                    let outcome = if counted.is_empty() {
                        Scored::Missed
                    } else {
                        Scored::Caught(counted)
                    };
                    scored.insert(r.plan.index, outcome);
                }
                let detected_runs = times.iter().filter(|t| t.is_some()).count();
                mutants.push(MutantRow {
                    mutant: label.clone(),
                    bug: bug.clone(),
                    baseline: baseline.clone(),
                    preset,
                    runs: comparable.len(),
                    detected_runs,
                    caught_by,
                    not_counted,
                    median_first_violation_ms: median_of_times(&times),
                    incomparable: own.len() - comparable.len(),
                    scored,
                });
            }
        }

        let mut baselines = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (_, _, baseline) in &pairs {
            if seen.contains(&baseline.as_str()) {
                continue;
            }
            seen.push(baseline);
            for preset in presets_of(baseline) {
                let runs: Vec<&RunRecord> = final_runs
                    .iter()
                    .copied()
                    .filter(|r| &r.plan.target == baseline && r.plan.preset == preset)
                    .collect();
                let ok: Vec<&RunRecord> = runs.iter().copied().filter(judged).collect();
                let mut invalid_by_checker = BTreeMap::new();
                for r in &ok {
                    for c in &r.invalid_checkers {
                        *invalid_by_checker.entry(c.clone()).or_insert(0) += 1;
                    }
                }
                baselines.push(BaselineRow {
                    variant: baseline.clone(),
                    preset,
                    runs: ok.len(),
                    seeds: ok
                        .iter()
                        .map(|r| r.plan.seed)
                        .collect::<BTreeSet<_>>()
                        .len(),
                    safety_violation_runs: ok
                        .iter()
                        .filter(|r| r.invalid_checkers.iter().any(|c| is_safety(c)))
                        .count(),
                    invalid_by_checker,
                    unknown_or_failed: runs
                        .iter()
                        .filter(|r| matches!(r.status, RunStatus::Unknown | RunStatus::Failed))
                        .count(),
                });
            }
        }
        Some(MutationScore {
            mutants,
            baselines,
            goals,
            run_time_ms: summary.runs.iter().map(|r| r.duration_ms).sum(),
            complete: summary.complete,
        })
    }

    /// Every mutant row detected, each with a median first violation within the goal.
    pub fn every_bug_detected_in_time(&self) -> bool {
        !self.mutants.is_empty()
            && self
                .mutants
                .iter()
                .all(|m| m.goal_miss(&self.goals).is_none())
    }

    /// Every correct variant ran enough seeds on every preset, none with a
    /// safety violation.
    pub fn correct_variants_safe(&self) -> bool {
        !self.baselines.is_empty()
            && self
                .baselines
                .iter()
                .all(|b| b.goal_miss(&self.goals).is_none())
    }
}

/// Nearest-rank median, a run without a violation counting as never.
fn median_of_times(times: &[Option<f64>]) -> Option<f64> {
    if times.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = times.iter().map(|t| t.unwrap_or(f64::INFINITY)).collect();
    sorted.sort_by(f64::total_cmp);
    let rank = sorted.len().div_ceil(2);
    Some(sorted[rank - 1]).filter(|t| t.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::PlannedRun;

    fn record(target: &str, seed: u64, invalid: &[(&str, f64)]) -> RunRecord {
        let mut r = RunRecord::failed(
            PlannedRun {
                index: 0,
                target: target.into(),
                preset: "pause".into(),
                seed,
                repetition: 1,
            },
            String::new(),
        );
        r.error = None;
        r.status = if invalid.is_empty() {
            RunStatus::Valid
        } else {
            RunStatus::Invalid
        };
        r.invalid_checkers = invalid.iter().map(|(c, _)| c.to_string()).collect();
        r.violations_ms = invalid.iter().map(|(c, t)| (c.to_string(), *t)).collect();
        r.duration_ms = 1000;
        r
    }

    /// The runs in plan order: run `i` has plan index `i`.
    fn summary(mut runs: Vec<RunRecord>) -> CampaignSummary {
        for (i, r) in runs.iter_mut().enumerate() {
            r.plan.index = i;
        }
        let planned: Vec<_> = runs.iter().map(|r| r.plan.clone()).collect();
        let json = serde_json::json!({
            "format": crate::campaign::CAMPAIGN_FORMAT, "name": "m", "plan_id": "x",
            "matrix_runs": 0, "planned": planned, "shard": null, "merged_from": [],
            "started_at": "", "updated_at": "", "complete": true, "interrupted": false,
            "allow_unknown": false, "jobs": 1,
            "settings": {"targets": [
                {"label": "raft", "bug": null, "baseline": null},
                {"label": "raft+vote-twice", "bug": "vote-twice", "baseline": "raft"},
            ]},
            "runs": runs,
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn only_checkers_the_baseline_never_fails_count() {
        let s = summary(vec![
            record("raft", 1, &[]),
            record("raft", 2, &[("election-gap", 900.0)]),
            record("raft", 3, &[]),
            record("raft+vote-twice", 1, &[("vote-once", 4000.0)]),
            record(
                "raft+vote-twice",
                2,
                &[("election-gap", 100.0), ("vote-once", 2000.0)],
            ),
            record("raft+vote-twice", 3, &[("election-gap", 50.0)]),
        ]);
        let score = MutationScore::of(&s, Goals::default()).unwrap();
        let m = &score.mutants[0];
        assert_eq!((m.runs, m.detected_runs), (3, 2));
        assert_eq!(m.caught_by.get("vote-once"), Some(&2));
        assert!(m.not_counted.contains("election-gap"));
        // times: 4000, 2000, never → median 4000 (not the excluded 50 or 100).
        assert_eq!(m.median_first_violation_ms, Some(4000.0));
        // Each run as JUnit reads it (plan indexes 3, 4, 5).
        let caught = |c: &str| Scored::Caught(vec![c.to_string()]);
        assert_eq!(m.scored[&3], caught("vote-once"));
        assert_eq!(
            m.scored[&4],
            caught("vote-once"),
            "election-gap not counted"
        );
        assert_eq!(m.scored[&5], Scored::Missed);
        assert_eq!(m.scored.len(), 3);
        let b = &score.baselines[0];
        assert_eq!((b.runs, b.seeds, b.safety_violation_runs), (3, 3, 0));
        assert!(score.every_bug_detected_in_time());
        assert!(!score.correct_variants_safe(), "3 seeds < 20");
    }

    #[test]
    fn caught_in_fewer_than_half_the_runs_has_no_median_and_misses_the_goal() {
        let s = summary(vec![
            record("raft", 1, &[]),
            record("raft", 2, &[]),
            record("raft", 3, &[]),
            record("raft+vote-twice", 1, &[("vote-once", 1000.0)]),
            record("raft+vote-twice", 2, &[]),
            record("raft+vote-twice", 3, &[]),
        ]);
        let score = MutationScore::of(&s, Goals::default()).unwrap();
        assert!(score.mutants[0].detected());
        assert_eq!(score.mutants[0].median_first_violation_ms, None);
        assert!(!score.every_bug_detected_in_time());
    }

    #[test]
    fn a_safety_violation_of_the_baseline_fails_its_goal_and_a_seed_it_lacks_is_not_compared() {
        let s = summary(vec![
            record("raft", 1, &[("term-uniqueness", 10.0)]),
            record("raft+vote-twice", 1, &[("term-uniqueness", 10.0)]),
            record("raft+vote-twice", 9, &[("vote-once", 10.0)]),
        ]);
        let score = MutationScore::of(&s, Goals::default()).unwrap();
        assert_eq!(score.baselines[0].safety_violation_runs, 1);
        let m = &score.mutants[0];
        assert_eq!((m.runs, m.detected_runs, m.incomparable), (1, 0, 1));
        assert!(!m.detected());
        assert_eq!(m.scored[&1], Scored::Missed);
        assert_eq!(
            m.scored[&2],
            Scored::NotCompared,
            "no baseline run of seed 9"
        );
        assert_eq!(m.goal_miss(&score.goals).unwrap().kind, "not-detected");
        assert_eq!(
            score.baselines[0].goal_miss(&score.goals).unwrap().kind,
            "safety-violation"
        );
    }

    #[test]
    fn campaigns_without_baselines_have_no_score() {
        let mut s = summary(vec![record("raft", 1, &[])]);
        s.settings = serde_json::json!({"targets": [{"label": "raft"}]});
        assert!(MutationScore::of(&s, Goals::default()).is_none());
    }
}
