//! `vote-once`: a node grants at most one candidate per term (section 7 of
//! `docs/checkers.md`), across restarts too when terms persist.

use std::collections::HashMap;

use serde_json::json;

use super::{no_votes, Check, MAX_EVIDENCE};
use crate::history::{Nanos, ProcessEvent};
use crate::run_model::{Observation, Observed, RunModel};
use crate::verdict::{CheckResult, Evidence, Verdict};

#[derive(Default)]
pub(super) struct VoteOnce {
    /// Per voter: the first grant of each term, (candidate, seq, t).
    votes: Vec<HashMap<u64, (u32, u64, Nanos)>>,
    double: u64,
    evidence: Vec<Evidence>,
}

impl Check for VoteOnce {
    fn observe(&mut self, obs: &Observation<'_>, model: &RunModel) {
        match obs.what {
            // A restart forgets the votes unless terms persist.
            Observed::Process {
                node: Some(i),
                event: ProcessEvent::Start,
                ..
            } if !model.header.persistent_term => {
                if let Some(v) = self.votes.get_mut(i) {
                    v.clear();
                }
            }
            Observed::Vote {
                node: i,
                term,
                candidate: c,
                ..
            } => {
                let (seq, t) = (obs.seq, obs.t);
                if self.votes.len() <= i {
                    self.votes.resize_with(i + 1, HashMap::new);
                }
                match self.votes[i].get(&term).copied() {
                    Some((c0, s0, t0)) if c0 as usize != c => {
                        self.double += 1;
                        if self.evidence.len() < MAX_EVIDENCE {
                            let node = model.node_name(i);
                            let candidate = model.node_name(c);
                            let first = model.node_name(c0 as usize);
                            let restart = model.last_start(i).filter(|&r| r > s0);
                            let mut seqs = vec![s0];
                            seqs.extend(restart);
                            seqs.push(seq);
                            let across = match restart {
                                Some(r) => {
                                    format!(", across a restart (seq {r}) with persistent_term")
                                }
                                None => String::new(),
                            };
                            self.evidence.push(Evidence {
                                seqs,
                                window: [t0, t],
                                nodes: vec![node.clone(), first.clone(), candidate.clone()],
                                message: format!(
                                    "{node} voted twice in term {term}: for {first} (seq {s0}) and for {candidate} (seq {seq}){across}"
                                ),
                            });
                        }
                    }
                    Some(_) => {}
                    None => {
                        self.votes[i].insert(term, (c as u32, seq, t));
                    }
                }
            }
            _ => {}
        }
    }

    fn finish(self: Box<Self>, model: &RunModel) -> CheckResult {
        if let Some(r) = no_votes("vote-once", model) {
            return r;
        }
        CheckResult {
            checker: "vote-once".into(),
            verdict: if self.double > 0 {
                Verdict::Invalid
            } else {
                Verdict::Valid
            },
            figure: format!("{} votes, {} double votes", model.votes_seen, self.double),
            evidence: self.evidence,
            details: json!({
                "applicable": true,
                "votes": model.votes_seen,
                "double_votes": self.double,
                "persistent_term": model.header.persistent_term,
            }),
        }
    }
}
