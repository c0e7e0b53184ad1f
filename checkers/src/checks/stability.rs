//! `stability`: a new effective leader while the previous one stayed live in
//! a healthy quorum is an unnecessary election (section 4 of
//! `docs/checkers.md`); invalid past the target's `max_unnecessary_elections`.

use serde_json::json;

use super::{Check, MAX_EVIDENCE, MAX_LISTED};
use crate::history::Nanos;
use crate::run_model::{Observation, Observed, RunModel};
use crate::verdict::{CheckResult, Evidence, Verdict};

/// A new leader while the previous effective leader stayed live in a healthy quorum.
#[derive(Debug, Clone, Copy)]
struct UnnecessaryElection {
    term: u64,
    leader: usize,
    forced_by: usize,
    previous: usize,
    /// The new leader's claim.
    seq: u64,
    /// The forcing node's first higher-term report (or the claim).
    forced_seq: u64,
    t: Nanos,
}

#[derive(Default)]
pub(super) struct Stability {
    /// The last effective leader: (node, term, claim seq).
    prev_leader: Option<(usize, u64, u64)>,
    /// It died, paused or left every healthy quorum since.
    prev_disrupted: bool,
    /// The first node to report a higher term than it: (node, term, seq).
    disruptor: Option<(usize, u64, u64)>,
    leader_changes: u64,
    unnecessary: Vec<UnnecessaryElection>,
    unnecessary_count: u64,
}

impl Check for Stability {
    fn observe(&mut self, obs: &Observation<'_>, model: &RunModel) {
        let (seq, t) = (obs.seq, obs.t);
        // A node reporting a higher term than the effective leader forces an election.
        if let Observed::State {
            node: i,
            term,
            applied: true,
            ..
        } = obs.what
        {
            if let Some((p, pterm, _)) = self.prev_leader {
                if p != i && term > pterm && self.disruptor.is_none() && !self.prev_disrupted {
                    self.disruptor = Some((i, term, seq));
                }
            }
        }
        let Some(lifecycle) = obs.recomputed else {
            return;
        };
        // The previous effective leader must stay live and inside a healthy quorum.
        if lifecycle && !self.prev_disrupted {
            if let Some((p, _, _)) = self.prev_leader {
                if !model.history.life[p].live() || !model.history.in_healthy_quorum(p) {
                    self.prev_disrupted = true;
                }
            }
        }
        let Some((e, term)) = model.leader_now else {
            return;
        };
        let claim_seq = model.views[e].belief.map_or(seq, |c| c.seq);
        match self.prev_leader {
            Some((p, _, _)) if p == e => {
                self.prev_leader = Some((e, term, claim_seq));
                self.prev_disrupted = false;
            }
            prev => {
                if let Some((p, _, _)) = prev {
                    self.leader_changes += 1;
                    if !self.prev_disrupted {
                        self.unnecessary_count += 1;
                        if self.unnecessary.len() < MAX_LISTED {
                            let forced_by = self.disruptor.map_or(e, |d| d.0);
                            let forced_seq = self.disruptor.map_or(claim_seq, |d| d.2);
                            self.unnecessary.push(UnnecessaryElection {
                                term,
                                leader: e,
                                forced_by,
                                previous: p,
                                seq: claim_seq,
                                forced_seq,
                                t,
                            });
                        }
                    }
                }
                self.prev_leader = Some((e, term, claim_seq));
                self.prev_disrupted = false;
                self.disruptor = None;
            }
        }
    }

    fn judged_from_links(&self) -> bool {
        true
    }

    fn finish(self: Box<Self>, model: &RunModel) -> CheckResult {
        let max = model.header.max_unnecessary_elections;
        let violated = max.is_some_and(|m| self.unnecessary_count > m);
        let mut evidence = vec![];
        let mut list = vec![];
        for &UnnecessaryElection {
            term,
            leader,
            forced_by,
            previous: prev,
            seq,
            forced_seq,
            t,
        } in &self.unnecessary
        {
            let (l, f, p) = (
                model.node_name(leader),
                model.node_name(forced_by),
                model.node_name(prev),
            );
            if evidence.len() < MAX_EVIDENCE {
                evidence.push(Evidence {
                    seqs: if forced_seq < seq { vec![forced_seq, seq] } else { vec![seq] },
                    window: [t, t],
                    nodes: vec![l.clone(), f.clone(), p.clone()],
                    message: format!(
                        "unnecessary election: {l} became leader in term {term} while {p} stayed live in a healthy quorum; forced by {f}"
                    ),
                });
            }
            list.push(json!({"term": term, "leader": l, "forced_by": f, "previous_leader": p, "seq": seq, "forced_seq": forced_seq, "t_ns": t}));
        }
        CheckResult {
            checker: "stability".into(),
            verdict: if violated {
                Verdict::Invalid
            } else {
                Verdict::Valid
            },
            figure: match max {
                Some(m) => format!(
                    "{} leader changes, {} unnecessary (max {m})",
                    self.leader_changes, self.unnecessary_count
                ),
                None => format!(
                    "{} leader changes, {} unnecessary",
                    self.leader_changes, self.unnecessary_count
                ),
            },
            evidence,
            details: json!({
                "leader_changes": self.leader_changes,
                "unnecessary": self.unnecessary_count,
                "max_unnecessary": max,
                "elections": list,
            }),
        }
    }
}
