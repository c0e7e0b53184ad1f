//! `leader-agreement`: no two nodes are named (by themselves or by others)
//! leader of the same term (section 6 of `docs/checkers.md`); namings of a
//! leader that never claimed the term are listed, not judged.

use std::collections::HashMap;

use serde_json::json;

use super::{note, Check, MAX_EVIDENCE, MAX_LISTED};
use crate::history::{Nanos, Role};
use crate::run_model::{Observation, Observed, RunModel};
use crate::verdict::{CheckResult, Evidence, Verdict};

/// Who is named leader of a term, and by whom.
#[derive(Debug, Clone)]
struct TermLeader {
    leader: u32,
    reporter: u32,
    seq: u64,
    t: Nanos,
    conflicted: bool,
    /// The named leader claimed this term itself.
    claimed: bool,
    /// First naming of `leader` by another node: (reporter, seq, t).
    named_by_other: Option<(u32, u64, Nanos)>,
}

#[derive(Default)]
pub(super) struct LeaderAgreement {
    term_leaders: HashMap<u64, TermLeader>,
    conflicts: u64,
    evidence: Vec<Evidence>,
}

impl LeaderAgreement {
    /// `reporter` names `leader` for `term` (a claim when they are the same
    /// node and `is_claim`).
    #[allow(clippy::too_many_arguments)]
    fn name_leader(
        &mut self,
        model: &RunModel,
        term: u64,
        leader: usize,
        reporter: usize,
        seq: u64,
        t: Nanos,
        is_claim: bool,
    ) {
        let existing = self.term_leaders.get(&term).map(|e| {
            (
                e.leader as usize,
                e.reporter as usize,
                e.seq,
                e.t,
                e.conflicted,
            )
        });
        let fresh = |leader: usize, reporter: usize| TermLeader {
            leader: leader as u32,
            reporter: reporter as u32,
            seq,
            t,
            conflicted: false,
            claimed: is_claim,
            named_by_other: if is_claim {
                None
            } else {
                Some((reporter as u32, seq, t))
            },
        };
        let Some((l0, r0, s0, t0, conflicted)) = existing else {
            self.term_leaders.insert(term, fresh(leader, reporter));
            return;
        };
        if l0 == leader {
            let e = self.term_leaders.get_mut(&term).expect("present");
            if is_claim {
                e.claimed = true;
            } else if e.named_by_other.is_none() {
                e.named_by_other = Some((reporter as u32, seq, t));
            }
            return;
        }
        let comparable = model.header.persistent_term
            || ![l0, r0, leader, reporter]
                .iter()
                .any(|&n| model.restarted_since(n, s0));
        if !comparable {
            self.term_leaders.insert(term, fresh(leader, reporter));
            return;
        }
        if conflicted {
            return;
        }
        self.term_leaders
            .get_mut(&term)
            .expect("present")
            .conflicted = true;
        self.conflicts += 1;
        if self.evidence.len() < MAX_EVIDENCE {
            let (a, b) = (model.node_name(l0), model.node_name(leader));
            let how = |l: usize, r: usize, s: u64| {
                if l == r {
                    format!("{} claimed it (seq {s})", model.node_name(l))
                } else {
                    format!(
                        "{} named {} (seq {s})",
                        model.node_name(r),
                        model.node_name(l)
                    )
                }
            };
            let message = format!(
                "term {term} has two leaders named: {}; {}",
                how(l0, r0, s0),
                how(leader, reporter, seq)
            );
            let mut nodes = vec![a];
            if !nodes.contains(&b) {
                nodes.push(b);
            }
            self.evidence.push(Evidence {
                seqs: vec![s0, seq],
                window: [t0, t],
                nodes,
                message,
            });
        }
    }
}

impl Check for LeaderAgreement {
    fn observe(&mut self, obs: &Observation<'_>, model: &RunModel) {
        let Observed::State {
            node,
            role,
            term,
            named,
            ..
        } = obs.what
        else {
            return;
        };
        if role == Role::Leader {
            self.name_leader(model, term, node, node, obs.seq, obs.t, true);
        }
        if let Some(l) = named {
            self.name_leader(model, term, l, node, obs.seq, obs.t, false);
        }
    }

    fn finish(self: Box<Self>, model: &RunModel) -> CheckResult {
        let mut unclaimed: Vec<(u64, &TermLeader)> = self
            .term_leaders
            .iter()
            .filter(|(_, e)| !e.claimed && e.named_by_other.is_some())
            .map(|(t, e)| (*t, e))
            .collect();
        unclaimed.sort_by_key(|(t, _)| *t);
        let mut evidence = self.evidence.clone();
        for (term, e) in unclaimed
            .iter()
            .take(MAX_EVIDENCE.saturating_sub(evidence.len()).max(3))
        {
            let (r, s, t) = e.named_by_other.expect("filtered");
            let (l, r) = (
                model.node_name(e.leader as usize),
                model.node_name(r as usize),
            );
            evidence.push(Evidence {
                seqs: vec![s],
                window: [t, t],
                nodes: vec![r.clone(), l.clone()],
                message: format!("{r} named {l} leader of term {term}, but {l} was never seen claiming term {term}"),
            });
        }
        let verdict = if self.conflicts > 0 {
            Verdict::Invalid
        } else if self.term_leaders.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        if self.term_leaders.is_empty() {
            evidence.push(note("no leader was named or claimed: nothing to compare"));
        }
        let unclaimed_terms: Vec<u64> =
            unclaimed.iter().map(|(t, _)| *t).take(MAX_LISTED).collect();
        CheckResult {
            checker: "leader-agreement".into(),
            verdict,
            figure: format!(
                "{} terms, {} disagreements, {} unclaimed namings",
                self.term_leaders.len(),
                self.conflicts,
                unclaimed.len()
            ),
            evidence,
            details: json!({
                "terms": self.term_leaders.len(),
                "disagreements": self.conflicts,
                "unclaimed_namings": unclaimed.len(),
                "unclaimed_terms": unclaimed_terms,
            }),
        }
    }
}
