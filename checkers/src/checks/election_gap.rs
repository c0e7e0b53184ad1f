//! `election-gap`: the healthy-quorum time without an effective leader, per
//! leaderless stretch, against the bound (section 3 of `docs/checkers.md`).
//! Each gap is blamed on every fault in force when it opened; the final stop
//! freezes the figures so tearing the cluster down is never a gap.

use serde_json::json;

use super::{ms, note, Check, CheckOptions, MAX_EVIDENCE, MAX_LISTED};
use crate::history::{Nanos, Source};
use crate::run_model::{Causes, Observation, RunModel};
use crate::verdict::{CheckResult, Evidence, Verdict};

/// A maximal leaderless stretch in progress.
#[derive(Debug, Clone)]
struct Stretch {
    opened_at: Nanos,
    /// Healthy-quorum time inside the stretch so far.
    quorum_ns: u64,
    /// The faults blamed: every numbered fault in force when it opened,
    /// the latest first, else the last `nemesis` op (never empty).
    causes: Causes,
}

/// A closed election gap.
#[derive(Debug, Clone)]
struct ElectionGap {
    opened_at: Nanos,
    closed_at: Nanos,
    length_ns: u64,
    causes: Causes,
    leader_seq: u64,
}

/// The gap figures when the final stop began.
#[derive(Debug, Clone)]
struct StopSnapshot {
    t: Nanos,
    stretch: Option<Stretch>,
    gaps: usize,
    gaps_over_bound: usize,
}

/// A stretch of the run without a healthy quorum: no election could
/// succeed, so gaps exclude it; reports name it with its cause.
#[derive(Debug, Clone)]
struct NoQuorum {
    from: Nanos,
    to: Nanos,
    /// What took the quorum away: dead, paused or cut off, as counted
    /// when the stretch opened.
    why: String,
    causes: Causes,
}

struct ElectionGaps {
    bound_ns: u64,
    /// The stretch without a quorum in progress, once a quorum first existed.
    no_quorum_open: Option<NoQuorum>,
    no_quorum: Vec<NoQuorum>,
    quorum_total_ns: u64,
    stretch: Option<Stretch>,
    gaps: Vec<ElectionGap>,
    gaps_over_bound: usize,
    stop: Option<StopSnapshot>,
}

pub(super) fn make(opts: &CheckOptions, model: &RunModel) -> Box<dyn Check> {
    let h = &model.header;
    let bound_ns = match opts.gap_bound {
        Some(d) => d.as_nanos().min(u64::MAX as u128) as u64,
        None => h.gap_bound_ms.saturating_mul(1_000_000),
    };
    // The run starts leaderless: the first stretch opens with the header.
    Box::new(ElectionGaps {
        bound_ns,
        no_quorum_open: None,
        no_quorum: vec![],
        quorum_total_ns: 0,
        stretch: Some(Stretch {
            opened_at: model.last_t,
            quorum_ns: 0,
            causes: vec![model.last_fault],
        }),
        gaps: vec![],
        gaps_over_bound: 0,
        stop: None,
    })
}

/// The faults in force now, latest first, else the last `nemesis` op.
fn causes_now(model: &RunModel) -> Causes {
    if model.active_faults.is_empty() {
        vec![model.last_fault]
    } else {
        model
            .active_faults
            .iter()
            .rev()
            .map(|&(_, kind, seq)| (kind, seq))
            .collect()
    }
}

/// Why there is no healthy quorum right now, in words: too few live nodes
/// (and whether dead or paused), or live nodes cut off from each other.
fn why_no_quorum(model: &RunModel) -> String {
    let h = &model.history;
    let (mut dead, mut paused) = (0, 0);
    for life in &h.life[..h.n] {
        if !life.alive {
            dead += 1;
        } else if life.paused {
            paused += 1;
        }
    }
    let live = h.n - dead - paused;
    if (live as u32) < h.quorum() {
        let mut parts = vec![];
        if dead > 0 {
            parts.push(format!("{dead} dead"));
        }
        if paused > 0 {
            parts.push(format!("{paused} paused"));
        }
        format!("majority down: {} of {}", parts.join(", "), h.n)
    } else {
        format!(
            "links down or too slow: {live} of {} live, no majority connected",
            h.n
        )
    }
}

impl ElectionGaps {
    /// Open or close the stretch without a quorum as the quorum comes and
    /// goes (only once a quorum first existed, and not in the final stop).
    fn track_quorum(&mut self, model: &RunModel, t: Nanos) {
        if model.stop_at.is_some() {
            if let Some(mut open) = self.no_quorum_open.take() {
                open.to = t;
                self.no_quorum.push(open);
            }
            return;
        }
        match (model.quorum_now, self.no_quorum_open.is_some()) {
            (false, false) if model.ever_quorum => {
                self.no_quorum_open = Some(NoQuorum {
                    from: t,
                    to: t,
                    why: why_no_quorum(model),
                    causes: causes_now(model),
                });
            }
            (true, true) => {
                let mut open = self.no_quorum_open.take().expect("open");
                open.to = t;
                self.no_quorum.push(open);
            }
            _ => {}
        }
    }

    /// Every fault a gap is blamed on, for `details` (only written when
    /// there is more than one, so one-at-a-time runs keep their old shape).
    fn causes_json(model: &RunModel, causes: &Causes) -> serde_json::Value {
        causes
            .iter()
            .map(|&(k, seq)| json!({"fault": model.fault_kinds[k], "fault_seq": seq}))
            .collect()
    }
}

impl Check for ElectionGaps {
    fn advance(&mut self, dt: u64, model: &RunModel) {
        if model.quorum_now {
            self.quorum_total_ns += dt;
            if let Some(s) = &mut self.stretch {
                s.quorum_ns += dt;
            }
        }
    }

    fn observe(&mut self, obs: &Observation<'_>, model: &RunModel) {
        match (model.stop_at, &self.stop) {
            (Some(t), None) => {
                self.stop = Some(StopSnapshot {
                    t,
                    stretch: self.stretch.clone(),
                    gaps: self.gaps.len(),
                    gaps_over_bound: self.gaps_over_bound,
                })
            }
            (None, Some(_)) => self.stop = None,
            _ => {}
        }
        if obs.recomputed.is_none() {
            return;
        }
        self.track_quorum(model, obs.t);
        let (seq, t) = (obs.seq, obs.t);
        let leader = model.leader_now;
        match (leader, self.stretch.take()) {
            (Some((i, _)), Some(s)) => {
                if s.quorum_ns > 0 {
                    self.gaps.push(ElectionGap {
                        opened_at: s.opened_at,
                        closed_at: t,
                        length_ns: s.quorum_ns,
                        causes: s.causes,
                        leader_seq: model.views[i].belief.map_or(seq, |c| c.seq),
                    });
                    if s.quorum_ns > self.bound_ns {
                        self.gaps_over_bound += 1;
                    }
                }
            }
            (None, None) => {
                self.stretch = Some(Stretch {
                    opened_at: t,
                    quorum_ns: 0,
                    causes: causes_now(model),
                })
            }
            (None, open) => self.stretch = open,
            (Some(_), None) => {}
        }
    }

    fn judged_from_links(&self) -> bool {
        true
    }

    fn finish(self: Box<Self>, model: &RunModel) -> CheckResult {
        let bound_ns = self.bound_ns;
        let (end_t, stretch, ngaps, over) = match &self.stop {
            Some(s) => (s.t, s.stretch.clone(), s.gaps, s.gaps_over_bound),
            None => (
                model.end_t,
                self.stretch.clone(),
                self.gaps.len(),
                self.gaps_over_bound,
            ),
        };
        let gaps = &self.gaps[..ngaps];
        let resolution_ms = match model.header.observation {
            Source::Probe => model.header.probe_interval_ms,
            Source::Stdout => None,
        };
        let res_note = resolution_ms
            .map(|r| format!(" (±{r} ms probe resolution)"))
            .unwrap_or_default();
        // Per fault kind statistics.
        let mut by_kind: Vec<Vec<u64>> = vec![vec![]; model.fault_kinds.len()];
        for g in gaps {
            // A gap counts once for every kind of fault it is blamed on.
            let mut kinds: Vec<usize> = g.causes.iter().map(|c| c.0).collect();
            kinds.sort_unstable();
            kinds.dedup();
            for k in kinds {
                by_kind[k].push(g.length_ns);
            }
        }
        let stats = |v: &mut Vec<u64>| {
            v.sort_unstable();
            let p = |q: f64| {
                let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
                ms(v[rank - 1])
            };
            json!({"count": v.len(), "p50_ms": p(0.50), "p95_ms": p(0.95), "p99_ms": p(0.99), "max_ms": ms(*v.last().unwrap_or(&0))})
        };
        let mut by_fault = vec![];
        for (k, v) in by_kind.iter_mut().enumerate() {
            if v.is_empty() {
                continue;
            }
            let mut s = stats(v);
            s["fault"] = json!(model.fault_kinds[k]);
            by_fault.push(s);
        }
        let mut all: Vec<u64> = gaps.iter().map(|g| g.length_ns).collect();
        let overall = if all.is_empty() {
            json!({"count": 0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0})
        } else {
            stats(&mut all)
        };
        let max_ns = gaps.iter().map(|g| g.length_ns).max().unwrap_or(0);
        let open = stretch.filter(|s| s.quorum_ns > 0);
        let blamed = |causes: &Causes| {
            let names: Vec<&str> = causes
                .iter()
                .map(|c| model.fault_kinds[c.0].as_str())
                .collect();
            match names.as_slice() {
                [one] => one.to_string(),
                _ => format!("{} (in force together)", names.join(" + ")),
            }
        };
        let mut evidence = vec![];
        // Gaps over the bound, longest first.
        let mut long: Vec<&ElectionGap> = gaps.iter().filter(|g| g.length_ns > bound_ns).collect();
        long.sort_by_key(|g| std::cmp::Reverse(g.length_ns));
        for g in long.iter().take(MAX_EVIDENCE) {
            let mut seqs: Vec<u64> = g.causes.iter().map(|c| c.1).collect();
            seqs.sort_unstable();
            seqs.push(g.leader_seq);
            evidence.push(Evidence {
                seqs,
                window: [g.opened_at, g.closed_at],
                nodes: vec![],
                message: format!(
                    "no effective leader for {} ms of healthy-quorum time (bound {} ms) after {}{res_note}",
                    ms(g.length_ns),
                    ms(bound_ns),
                    blamed(&g.causes)
                ),
            });
        }
        let cut_short = model.interrupted || !model.ended;
        let mut open_json = serde_json::Value::Null;
        if let Some(s) = &open {
            let mut seqs: Vec<u64> = s.causes.iter().map(|c| c.1).collect();
            seqs.sort_unstable();
            evidence.insert(
                0,
                Evidence {
                    seqs,
                    window: [s.opened_at, end_t],
                    nodes: vec![],
                    message: format!(
                        "a leaderless stretch opened after {} is still open at the end of the history ({} ms of healthy-quorum time without an effective leader){res_note}",
                        blamed(&s.causes),
                        ms(s.quorum_ns)
                    ),
                },
            );
            open_json = json!({
                "opened_at_ns": s.opened_at,
                "length_ms": ms(s.quorum_ns),
                "fault": model.fault_kinds[s.causes[0].0],
                "fault_seq": s.causes[0].1,
            });
            if s.causes.len() > 1 {
                open_json["faults"] = Self::causes_json(model, &s.causes);
            }
        }
        let never = !model.ever_leader && !model.ever_quorum;
        let verdict = if over > 0 || open.as_ref().is_some_and(|s| s.quorum_ns > bound_ns) {
            Verdict::Invalid
        } else if never {
            evidence.push(note(
                "no leader was ever observed and no healthy quorum ever existed",
            ));
            Verdict::Unknown
        } else if open.is_some() {
            if cut_short {
                Verdict::Unknown
            } else {
                Verdict::Invalid
            }
        } else {
            Verdict::Valid
        };
        let listed: Vec<serde_json::Value> = gaps
            .iter()
            .take(MAX_LISTED)
            .map(|g| {
                let mut gap = json!({
                    "opened_at_ns": g.opened_at,
                    "closed_at_ns": g.closed_at,
                    "length_ms": ms(g.length_ns),
                    "fault": model.fault_kinds[g.causes[0].0],
                    "fault_seq": g.causes[0].1,
                    "leader_seq": g.leader_seq,
                });
                if g.causes.len() > 1 {
                    gap["faults"] = Self::causes_json(model, &g.causes);
                }
                gap
            })
            .collect();
        let mut no_quorum = self.no_quorum.clone();
        if let Some(mut s) = self.no_quorum_open.clone() {
            s.to = end_t;
            no_quorum.push(s);
        }
        let no_quorum_ns: Vec<u64> = no_quorum.iter().map(|s| s.to - s.from).collect();
        let stretches: Vec<serde_json::Value> = no_quorum
            .iter()
            .take(MAX_LISTED)
            .map(|s| {
                json!({
                    "from_ns": s.from,
                    "to_ns": s.to,
                    "length_ms": ms(s.to - s.from),
                    "why": s.why,
                    "fault": blamed(&s.causes),
                    "fault_seq": s.causes[0].1,
                })
            })
            .collect();
        let longest_no_quorum = no_quorum_ns.iter().copied().max().unwrap_or(0);
        let figure = format!(
            "{} gaps, max {} ms (bound {} ms){}{}{res_note}",
            gaps.len(),
            ms(max_ns),
            ms(bound_ns),
            if open.is_some() {
                ", one open at the end"
            } else {
                ""
            },
            match no_quorum.len() {
                0 => String::new(),
                k => format!(
                    "; {k} without a quorum (longest {} ms, not gaps)",
                    ms(longest_no_quorum)
                ),
            }
        );
        CheckResult {
            checker: "election-gap".into(),
            verdict,
            figure,
            evidence,
            details: json!({
                "bound_ms": ms(bound_ns),
                "resolution_ms": resolution_ms,
                "count": gaps.len(),
                "over_bound": over,
                "max_ms": ms(max_ns),
                "overall": overall,
                "by_fault": by_fault,
                "open_at_end": open_json,
                "healthy_quorum_ms": ms(self.quorum_total_ns),
                "ever_leader": model.ever_leader,
                "ever_healthy_quorum": model.ever_quorum,
                "gaps": listed,
                "no_quorum": {
                    "count": no_quorum.len(),
                    "total_ms": ms(no_quorum_ns.iter().sum()),
                    "longest_ms": ms(longest_no_quorum),
                    "stretches": stretches,
                },
            }),
        }
    }
}

#[cfg(test)]
#[path = "election_gap_tests.rs"]
mod history_tests;
