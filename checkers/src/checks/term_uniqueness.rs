//! `term-uniqueness`: at most one node claims leadership of a term (section 1
//! of `docs/checkers.md`). One claimant is kept per term; a second one is a
//! conflict unless a restart separates them where terms do not persist.

use std::collections::HashMap;

use serde_json::json;

use super::{note, Check, MAX_EVIDENCE, MAX_LISTED};
use crate::history::{Nanos, Role};
use crate::run_model::{Observation, Observed, RunModel};
use crate::verdict::{CheckResult, Evidence, Verdict};

/// The first claimant of a term.
#[derive(Debug, Clone)]
struct TermClaim {
    node: u32,
    seq: u64,
    t: Nanos,
    conflicted: bool,
}

#[derive(Default)]
pub(super) struct TermUniqueness {
    term_claims: HashMap<u64, TermClaim>,
    claims_seen: u64,
    conflicts: u64,
    evidence: Vec<Evidence>,
}

impl TermUniqueness {
    fn claim_term(&mut self, model: &RunModel, i: usize, term: u64, seq: u64, t: Nanos) {
        let fresh = TermClaim {
            node: i as u32,
            seq,
            t,
            conflicted: false,
        };
        let (prev_node, prev_seq, prev_t, conflicted) = match self.term_claims.get(&term) {
            None => {
                self.term_claims.insert(term, fresh);
                return;
            }
            Some(c) => (c.node as usize, c.seq, c.t, c.conflicted),
        };
        if prev_node == i {
            return;
        }
        let comparable = model.header.persistent_term
            || (!model.restarted_since(prev_node, prev_seq) && !model.restarted_since(i, prev_seq));
        if !comparable {
            self.term_claims.insert(term, fresh);
            return;
        }
        if conflicted {
            return;
        }
        self.term_claims.get_mut(&term).expect("present").conflicted = true;
        self.conflicts += 1;
        if self.evidence.len() < MAX_EVIDENCE {
            let (a, b) = (model.node_name(prev_node), model.node_name(i));
            self.evidence.push(Evidence {
                seqs: vec![prev_seq, seq],
                window: [prev_t, t],
                nodes: vec![a.clone(), b.clone()],
                message: format!(
                    "term {term} has two leaders: {a} (seq {prev_seq}) and {b} (seq {seq})"
                ),
            });
        }
    }
}

impl Check for TermUniqueness {
    fn observe(&mut self, obs: &Observation<'_>, model: &RunModel) {
        if let Observed::State {
            node,
            role: Role::Leader,
            term,
            ..
        } = obs.what
        {
            self.claims_seen += 1;
            self.claim_term(model, node, term, obs.seq, obs.t);
        }
    }

    fn finish(self: Box<Self>, model: &RunModel) -> CheckResult {
        let terms = self.term_claims.len();
        let verdict = if self.conflicts > 0 {
            Verdict::Invalid
        } else if self.claims_seen == 0 {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        let mut conflicting: Vec<u64> = self
            .term_claims
            .iter()
            .filter(|(_, c)| c.conflicted)
            .map(|(t, _)| *t)
            .collect();
        conflicting.sort_unstable();
        conflicting.truncate(MAX_LISTED);
        let mut evidence = self.evidence;
        if self.claims_seen == 0 {
            evidence.push(note("no leader claim was observed: nothing to compare"));
        }
        CheckResult {
            checker: "term-uniqueness".into(),
            verdict,
            figure: format!("{terms} terms, {} conflicts", self.conflicts),
            evidence,
            details: json!({
                "terms": terms,
                "claims": self.claims_seen,
                "conflicts": self.conflicts,
                "conflicting_terms": conflicting,
                "persistent_term": model.header.persistent_term,
            }),
        }
    }
}
