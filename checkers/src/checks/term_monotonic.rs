//! `term-monotonic`: a node's reported term never decreases within an
//! incarnation, nor across restarts when the target declares
//! `persistent_term` (section 2 of `docs/checkers.md`).

use serde_json::json;

use super::{note, Check, MAX_EVIDENCE};
use crate::history::Nanos;
use crate::run_model::{Observation, Observed, RunModel};
use crate::verdict::{CheckResult, Evidence, Verdict};

#[derive(Default)]
pub(super) struct TermMonotonic {
    /// Per node: the last reported (term, seq, t, incarnation).
    last_state: Vec<Option<(u64, u64, Nanos, u32)>>,
    decreases: u64,
    evidence: Vec<Evidence>,
}

impl Check for TermMonotonic {
    fn observe(&mut self, obs: &Observation<'_>, model: &RunModel) {
        let Observed::State { node: i, term, .. } = obs.what else {
            return;
        };
        let seq = obs.seq;
        let t = obs.t;
        if self.last_state.len() <= i {
            self.last_state.resize(i + 1, None);
        }
        let (inc, last_start) = model
            .history
            .life
            .get(i)
            .map_or((0, None), |l| (l.incarnation, l.last_start_seq));
        if let Some((last_term, last_seq, last_t, last_inc)) = self.last_state[i] {
            if term < last_term && (last_inc == inc || model.header.persistent_term) {
                self.decreases += 1;
                if self.evidence.len() < MAX_EVIDENCE {
                    let node = model.node_name(i);
                    let mut seqs = vec![last_seq];
                    let restart = if last_inc != inc { last_start } else { None };
                    seqs.extend(restart);
                    seqs.push(seq);
                    let message = match restart {
                        Some(r) => format!(
                            "{node} reported term {last_term} (seq {last_seq}), restarted (seq {r}) and then reported term {term} (seq {seq}); the target declares persistent_term"
                        ),
                        None => format!(
                            "{node} reported term {last_term} (seq {last_seq}) and then term {term} (seq {seq}) in the same incarnation"
                        ),
                    };
                    self.evidence.push(Evidence {
                        seqs,
                        window: [last_t, t],
                        nodes: vec![node],
                        message,
                    });
                }
            }
        }
        self.last_state[i] = Some((term, seq, t, inc));
    }

    fn finish(self: Box<Self>, model: &RunModel) -> CheckResult {
        let states = model.states_seen;
        let verdict = if self.decreases > 0 {
            Verdict::Invalid
        } else if states == 0 {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        let mut evidence = self.evidence;
        if states == 0 {
            evidence.push(note("no state was observed"));
        }
        CheckResult {
            checker: "term-monotonic".into(),
            verdict,
            figure: format!("{states} states, {} decreases", self.decreases),
            evidence,
            details: json!({
                "states": states,
                "decreases": self.decreases,
                "persistent_term": model.header.persistent_term,
            }),
        }
    }
}
