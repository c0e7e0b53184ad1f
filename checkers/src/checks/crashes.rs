//! `crashes`: every exit the nemesis did not cause, with its stderr tail
//! (section 8 of `docs/checkers.md`); invalid unless the target expects them.

use serde_json::json;

use super::{Check, MAX_EVIDENCE, MAX_LISTED};
use crate::history::{ExitStatus, Nanos};
use crate::run_model::{Observation, Observed, RunModel};
use crate::verdict::{CheckResult, Evidence, Verdict};

/// An exit the nemesis did not cause.
#[derive(Debug, Clone)]
struct Crash {
    seq: u64,
    t: Nanos,
    node: u32,
    status: Option<ExitStatus>,
    stderr_tail: Option<String>,
}

#[derive(Default)]
pub(super) struct Crashes {
    crashes: Vec<Crash>,
    count: u64,
}

impl Check for Crashes {
    fn observe(&mut self, obs: &Observation<'_>, _: &RunModel) {
        let Observed::Process {
            crash: Some(who),
            status,
            stderr_tail,
            ..
        } = obs.what
        else {
            return;
        };
        self.count += 1;
        if self.crashes.len() < MAX_LISTED {
            self.crashes.push(Crash {
                seq: obs.seq,
                t: obs.t,
                node: who,
                status: status.cloned(),
                stderr_tail: stderr_tail.map(str::to_string),
            });
        }
    }

    fn finish(self: Box<Self>, model: &RunModel) -> CheckResult {
        let expected = model.header.crashes_expected;
        let verdict = if self.count > 0 && !expected {
            Verdict::Invalid
        } else {
            Verdict::Valid
        };
        let mut evidence = vec![];
        let mut list = vec![];
        for Crash {
            seq,
            t,
            node: who,
            status,
            stderr_tail: tail,
        } in &self.crashes
        {
            let name = model.node_name(*who as usize);
            let how = match status {
                Some(ExitStatus { code: Some(c), .. }) => format!("exit code {c}"),
                Some(ExitStatus {
                    signal: Some(s), ..
                }) => format!("signal {s}"),
                _ => "unknown status".into(),
            };
            if evidence.len() < MAX_EVIDENCE {
                let tail_text = tail.as_deref().map(|s| s.trim_end()).unwrap_or("");
                evidence.push(Evidence {
                    seqs: vec![*seq],
                    window: [*t, *t],
                    nodes: vec![name.clone()],
                    message: if tail_text.is_empty() {
                        format!("{name} crashed ({how}); no stderr")
                    } else {
                        format!("{name} crashed ({how}); stderr tail:\n{tail_text}")
                    },
                });
            }
            list.push(json!({
                "node": name,
                "seq": seq,
                "t_ns": t,
                "code": status.as_ref().and_then(|s| s.code),
                "signal": status.as_ref().and_then(|s| s.signal),
                "stderr_tail": tail,
            }));
        }
        CheckResult {
            checker: "crashes".into(),
            verdict,
            figure: if expected {
                format!("{} crashes (expected by the target)", self.count)
            } else {
                format!("{} crashes", self.count)
            },
            evidence,
            details: json!({"crashes": self.count, "crashes_expected": expected, "list": list}),
        }
    }
}
