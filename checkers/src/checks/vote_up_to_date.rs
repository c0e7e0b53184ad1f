//! `vote-up-to-date`: a vote goes only to a candidate whose log is at least
//! as up to date as the voter's (Raft's election restriction; section 7 of
//! `docs/checkers.md`), judged on votes that carry both log positions.

use serde_json::json;

use super::{no_votes, note, Check, MAX_EVIDENCE};
use crate::run_model::{Observation, Observed, RunModel};
use crate::verdict::{CheckResult, Evidence, Verdict};

#[derive(Default)]
pub(super) struct VoteUpToDate {
    judged: u64,
    stale: u64,
    evidence: Vec<Evidence>,
}

impl Check for VoteUpToDate {
    fn observe(&mut self, obs: &Observation<'_>, model: &RunModel) {
        let Observed::Vote {
            node,
            term,
            candidate,
            voter_log: Some(v),
            candidate_log: Some(cl),
        } = obs.what
        else {
            return;
        };
        self.judged += 1;
        if (cl[0], cl[1]) < (v[0], v[1]) {
            self.stale += 1;
            if self.evidence.len() < MAX_EVIDENCE {
                let (node, candidate) = (model.node_name(node), model.node_name(candidate));
                self.evidence.push(Evidence {
                    seqs: vec![obs.seq],
                    window: [obs.t, obs.t],
                    nodes: vec![node.clone(), candidate.clone()],
                    message: format!(
                        "{node} voted for {candidate} in term {term} although the candidate's log [{}, {}] is behind the voter's [{}, {}]",
                        cl[0], cl[1], v[0], v[1]
                    ),
                });
            }
        }
    }

    fn finish(self: Box<Self>, model: &RunModel) -> CheckResult {
        if let Some(r) = no_votes("vote-up-to-date", model) {
            return r;
        }
        // Votes without log positions come from elections that keep no log
        // (or do not report it): the rule is vacuous there, exactly as when
        // no vote events exist at all, so say "not applicable", not unknown.
        if self.judged == 0 {
            return CheckResult {
                checker: "vote-up-to-date".into(),
                verdict: Verdict::Valid,
                figure: "not applicable: no vote carried log positions".into(),
                evidence: vec![note(
                    "no vote carried both voter_log and candidate_log; nothing to judge",
                )],
                details: json!({
                    "applicable": false,
                    "votes": model.votes_seen,
                    "judged": 0,
                    "stale_log_votes": 0,
                }),
            };
        }
        let verdict = if self.stale > 0 {
            Verdict::Invalid
        } else {
            Verdict::Valid
        };
        CheckResult {
            checker: "vote-up-to-date".into(),
            verdict,
            figure: format!(
                "{} votes judged, {} for a stale log",
                self.judged, self.stale
            ),
            evidence: self.evidence,
            details: json!({
                "applicable": true,
                "votes": model.votes_seen,
                "judged": self.judged,
                "stale_log_votes": self.stale,
            }),
        }
    }
}

#[cfg(test)]
#[path = "vote_up_to_date_tests.rs"]
mod history_tests;
