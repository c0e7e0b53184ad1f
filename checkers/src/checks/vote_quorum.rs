//! `vote-quorum`: every leader of term T was granted votes in term T by a
//! majority of distinct voters (contract 4, section 11 of `docs/checkers.md`).
//!
//! A candidate that counts replies instead of voters (a duplicated or retried
//! grant counted twice), or counts grants from an earlier term toward its
//! current one, wins without a majority. A second leader in the same term
//! appears only when the missing voters elect someone else at the same time,
//! which is rare; the votes themselves show the miscount in every election
//! it decides. Judged only when nodes emit `vote` events.
//!
//! Without vote events (most third-party nodes print none) it judges the
//! weaker condition the node protocol still makes visible: a voter grants in
//! term T only once it is in term T, and it reports the term before it acts
//! on it, so a leader of T needs a majority that had reported T (or later).
//!
//! [`VoteQuorumTally`] keeps, per recent term, which voters granted each
//! candidate, and each node's highest reported term. A claim waits one slack
//! window (a line may be read a moment after the claim it made possible),
//! then is judged once, both ways.

use std::collections::BTreeMap;

use serde_json::json;

use super::quorum_leader::slack_ns;
use super::{no_votes, Check, CheckOptions, MAX_EVIDENCE};
use crate::history::{Liveness, Nanos, Role};
use crate::model::NodeSet;
use crate::run_model::{Observation, Observed, RunModel};
use crate::verdict::{CheckResult, Evidence, Verdict};

/// Terms whose grants are remembered; the lowest is forgotten beyond this, so
/// memory is bounded whatever the history's length. A claim for a forgotten
/// term is counted as unjudged, never as a violation.
const MAX_TERMS: usize = 4096;

/// A leader claim waiting for its slack window to pass.
#[derive(Debug, Clone, Copy)]
struct PendingClaim {
    node: usize,
    term: u64,
    t: Nanos,
    seq: u64,
}

/// Grants per term and the claims judged so far.
#[derive(Debug, Clone)]
pub(crate) struct VoteQuorumTally {
    n: usize,
    majority: u32,
    slack_ns: u64,
    /// `grants[term][candidate]`: distinct voters that granted, and the seq
    /// of each grant's first record (for evidence).
    grants: BTreeMap<u64, Vec<(NodeSet, Vec<u64>)>>,
    /// Lowest term still remembered (claims below it go unjudged).
    forgotten_below: u64,
    /// The last (node, term) claimed by each node, so a claim repeated in
    /// later `state` lines is judged once.
    claimed: Vec<Option<u64>>,
    pending: Vec<PendingClaim>,
    claims: u64,
    unjudged: u64,
    violations: u64,
    /// Smallest number of distinct voters behind a judged claim.
    min_support: Option<u32>,
    evidence: Vec<Evidence>,
    /// Per node: the highest term it reported, and the seq of that report.
    reached: Vec<(u64, u64)>,
    /// The same judgement from reported terms (used without vote events).
    term_violations: u64,
    term_min_support: Option<u32>,
    term_evidence: Vec<Evidence>,
}

impl VoteQuorumTally {
    /// A tally for `n` election nodes whose majority is `majority`; a vote
    /// recorded up to `slack_ns` after a claim still counts for it.
    pub fn new(n: usize, majority: u32, slack_ns: u64) -> Self {
        Self {
            n,
            majority,
            slack_ns,
            grants: BTreeMap::new(),
            forgotten_below: 0,
            claimed: vec![None; n],
            pending: Vec::new(),
            claims: 0,
            unjudged: 0,
            violations: 0,
            min_support: None,
            evidence: Vec::new(),
            reached: vec![(0, 0); n],
            term_violations: 0,
            term_min_support: None,
            term_evidence: Vec::new(),
        }
    }

    /// `voter` granted its vote in `term` to `candidate` (record `seq` at `t`).
    pub fn on_vote(
        &mut self,
        voter: usize,
        candidate: usize,
        term: u64,
        t: Nanos,
        seq: u64,
        name: &dyn Fn(usize) -> String,
    ) {
        self.settle(t, name);
        if voter >= self.n || candidate >= self.n || term < self.forgotten_below {
            return;
        }
        let per_candidate = self
            .grants
            .entry(term)
            .or_insert_with(|| vec![(0, Vec::new()); self.n]);
        let (voters, seqs) = &mut per_candidate[candidate];
        let bit = 1u128 << voter;
        if *voters & bit == 0 {
            *voters |= bit;
            seqs.push(seq);
        }
        while self.grants.len() > MAX_TERMS {
            if let Some((lowest, _)) = self.grants.pop_first() {
                self.forgotten_below = lowest + 1;
            }
        }
    }

    /// A `state` of node `i` at `t`: a new leader claim waits for its window.
    pub fn on_state(
        &mut self,
        i: usize,
        leader: bool,
        term: u64,
        t: Nanos,
        seq: u64,
        name: &dyn Fn(usize) -> String,
    ) {
        self.settle(t, name);
        if i >= self.n {
            return;
        }
        if term > self.reached[i].0 || self.reached[i] == (0, 0) {
            self.reached[i] = (term.max(self.reached[i].0), seq);
        }
        if !leader || self.claimed[i] == Some(term) {
            return;
        }
        self.claimed[i] = Some(term);
        self.pending.push(PendingClaim {
            node: i,
            term,
            t,
            seq,
        });
    }

    /// Judges the claims whose window closed before `t`.
    fn settle(&mut self, t: Nanos, name: &dyn Fn(usize) -> String) {
        if self.pending.is_empty() {
            return;
        }
        let slack = self.slack_ns;
        let (due, waiting): (Vec<_>, Vec<_>) = self
            .pending
            .drain(..)
            .partition(|c| c.t.saturating_add(slack) < t);
        self.pending = waiting;
        for claim in due {
            self.judge(claim, name);
        }
    }

    fn judge(&mut self, claim: PendingClaim, name: &dyn Fn(usize) -> String) {
        self.claims += 1;
        self.judge_terms(claim, name);
        if claim.term < self.forgotten_below {
            self.unjudged += 1;
            return;
        }
        let (voters, seqs) = self
            .grants
            .get(&claim.term)
            .map(|per| per[claim.node].clone())
            .unwrap_or_default();
        // The candidate's own vote is assumed: a node that does not report
        // voting for itself is not short of one.
        let support = voters | (1u128 << claim.node);
        let count = support.count_ones();
        self.min_support = Some(self.min_support.map_or(count, |m| m.min(count)));
        if count >= self.majority {
            return;
        }
        self.violations += 1;
        if self.evidence.len() >= MAX_EVIDENCE {
            return;
        }
        let who = name(claim.node);
        let backers: Vec<String> = (0..self.n)
            .filter(|&v| support & (1u128 << v) != 0)
            .map(name)
            .collect();
        let mut evidence_seqs = seqs;
        evidence_seqs.push(claim.seq);
        evidence_seqs.sort_unstable();
        evidence_seqs.dedup();
        let mut nodes = vec![who.clone()];
        nodes.extend(backers.iter().filter(|b| **b != who).cloned());
        self.evidence.push(Evidence {
            seqs: evidence_seqs,
            window: [claim.t.saturating_sub(self.slack_ns), claim.t],
            nodes,
            message: format!(
                "{who} took office in term {term} (seq {seq}) with grants in term {term} from \
                 only {count} of {n} distinct voters ({list}); a majority is {majority}: it \
                 counted a repeated grant, or one from an earlier term",
                term = claim.term,
                seq = claim.seq,
                n = self.n,
                list = backers.join(", "),
                majority = self.majority,
            ),
        });
    }

    /// From reported terms: did a majority (the claimant included) reach the
    /// claimed term by the end of the claim's window?
    fn judge_terms(&mut self, claim: PendingClaim, name: &dyn Fn(usize) -> String) {
        let there: Vec<usize> = (0..self.n)
            .filter(|&j| j == claim.node || self.reached[j].0 >= claim.term)
            .collect();
        let count = there.len() as u32;
        self.term_min_support = Some(self.term_min_support.map_or(count, |m| m.min(count)));
        if count >= self.majority {
            return;
        }
        self.term_violations += 1;
        if self.term_evidence.len() >= MAX_EVIDENCE {
            return;
        }
        let who = name(claim.node);
        let names: Vec<String> = there.iter().map(|&j| name(j)).collect();
        let mut seqs: Vec<u64> = there
            .iter()
            .filter(|&&j| j != claim.node)
            .map(|&j| self.reached[j].1)
            .collect();
        seqs.push(claim.seq);
        seqs.sort_unstable();
        seqs.dedup();
        let mut nodes = vec![who.clone()];
        nodes.extend(names.iter().filter(|n| **n != who).cloned());
        self.term_evidence.push(Evidence {
            seqs,
            window: [claim.t.saturating_sub(self.slack_ns), claim.t],
            nodes,
            message: format!(
                "{who} took office in term {term} (seq {seq}) when only {count} of {n} nodes, \
                 itself included, had reported term {term} or later ({list}); a node grants a \
                 vote in term {term} only once it is there, so no majority of {majority} can \
                 have voted for it",
                term = claim.term,
                seq = claim.seq,
                n = self.n,
                list = names.join(", "),
                majority = self.majority,
            ),
        });
    }

    /// The verdict without vote events, from reported terms: invalid when
    /// some leader took office before a majority had reached its term.
    pub fn result_from_terms(&mut self, name: &dyn Fn(usize) -> String) -> CheckResult {
        self.settle(Nanos::MAX, name);
        CheckResult {
            checker: "vote-quorum".into(),
            verdict: if self.term_violations > 0 {
                Verdict::Invalid
            } else {
                Verdict::Valid
            },
            figure: format!(
                "no vote events: {} leaders judged from reported terms, {} before a majority reached their term",
                self.claims, self.term_violations
            ),
            evidence: self.term_evidence.clone(),
            details: json!({
                "applicable": true,
                "source": "terms",
                "claims": self.claims,
                "violations": self.term_violations,
                "majority": self.majority,
                "min_support": self.term_min_support,
                "slack_ms": self.slack_ns as f64 / 1e6,
            }),
        }
    }

    /// The verdict: invalid when some leader lacked a majority of voters.
    /// Claims still waiting for their window are judged now.
    pub fn result(&mut self, name: &dyn Fn(usize) -> String) -> CheckResult {
        self.settle(Nanos::MAX, name);
        let unjudged = if self.unjudged > 0 {
            format!(" ({} too old to judge)", self.unjudged)
        } else {
            String::new()
        };
        CheckResult {
            checker: "vote-quorum".into(),
            verdict: if self.violations > 0 {
                Verdict::Invalid
            } else {
                Verdict::Valid
            },
            figure: format!(
                "{} leaders judged, {} without a majority of votes{unjudged}",
                self.claims - self.unjudged,
                self.violations
            ),
            evidence: self.evidence.clone(),
            details: json!({
                "applicable": true,
                "source": "votes",
                "claims": self.claims,
                "unjudged": self.unjudged,
                "violations": self.violations,
                "majority": self.majority,
                "min_support": self.min_support,
                "slack_ms": self.slack_ns as f64 / 1e6,
            }),
        }
    }
}

/// The checker over the tally.
struct VoteQuorum {
    tally: VoteQuorumTally,
}

pub(super) fn make(_: &CheckOptions, model: &RunModel) -> Box<dyn Check> {
    let h = &model.header;
    Box::new(VoteQuorum {
        tally: VoteQuorumTally::new(model.history.n, model.history.quorum(), slack_ns(h)),
    })
}

impl Check for VoteQuorum {
    fn observe(&mut self, obs: &Observation<'_>, model: &RunModel) {
        let names = |j| model.node_name(j);
        match obs.what {
            Observed::State {
                node, role, term, ..
            } if node < model.history.n => {
                self.tally
                    .on_state(node, role == Role::Leader, term, obs.t, obs.seq, &names);
            }
            Observed::Vote {
                node,
                term,
                candidate,
                ..
            } => self
                .tally
                .on_vote(node, candidate, term, obs.t, obs.seq, &names),
            _ => {}
        }
    }

    fn finish(mut self: Box<Self>, model: &RunModel) -> CheckResult {
        // Without vote events, a peer-quorum target is judged from the terms
        // its nodes reported; elections through a service have no voters.
        let from_terms = model.votes_seen == 0
            && !model.votes_expected()
            && model.header.liveness == Liveness::PeerQuorum;
        if !from_terms {
            if let Some(r) = no_votes("vote-quorum", model) {
                return r;
            }
        }
        let names = |j| model.node_name(j);
        if from_terms {
            self.tally.result_from_terms(&names)
        } else {
            self.tally.result(&names)
        }
    }
}

#[cfg(test)]
#[path = "vote_quorum_tests.rs"]
mod history_tests;
