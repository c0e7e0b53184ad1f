//! `quorum-leader`: a leader takes office only where it could reach a
//! quorum during its election (contract 4, section 10 of `docs/checkers.md`).
//!
//! The bully algorithm, and a Raft whose majority is off by one, elect a
//! coordinator on the minority side of a partition; overlap cannot tell that
//! from a correct Raft's isolated old leader, but the election itself can: a
//! node that could not exchange messages with a majority while it campaigned
//! cannot have collected a majority of votes.
//!
//! [`QuorumLeaderTally`] keeps, per directed link, since when (and after
//! which `net` event) it has delivered nothing, and per node when its current
//! non-leader state began. A new claim is judged at once from those: memory
//! is nodes², never events.

use serde_json::json;

use super::{note, Check, CheckOptions, MAX_EVIDENCE};
use crate::history::{Liveness, Nanos, NetRecord, ProcessEvent, Role, RunHeader, Source};
use crate::model::{HistoryModel, NodeSet};
use crate::run_model::{Observation, Observed, RunModel};
use crate::verdict::{CheckResult, Evidence, Verdict};

/// The least slack, whatever the header says (stdout read latency).
const MIN_SLACK_MS: u64 = 20;

/// What the tally remembers about one node's current incarnation.
#[derive(Debug, Clone, Copy, Default)]
struct NodeTrack {
    /// When (and at which `seq`) the latest non-leader `(role, term)` began,
    /// or the incarnation's `start` when it has reported none since.
    since: Option<(Nanos, u64)>,
    /// Last reported `(role, term)` of this incarnation.
    last: Option<(Role, u64)>,
    /// Term of this incarnation's latest leader claim.
    led: Option<u64>,
}

/// Link history and claims judged so far.
#[derive(Debug, Clone)]
pub(crate) struct QuorumLeaderTally {
    n: usize,
    /// The membership's majority (`HistoryModel::quorum`).
    majority: u32,
    slack_ns: u64,
    /// `down[from]`: the nodes `from` cannot deliver to now.
    down: Vec<NodeSet>,
    /// `down_since[from * n + to]`: `(t, seq)` of the `net` event that took
    /// the link down (meaningful while its bit is set in `down`).
    down_since: Vec<(Nanos, u64)>,
    nodes: Vec<NodeTrack>,
    claims: u64,
    violations: u64,
    /// Smallest `1 + reachable peers` over all claims judged.
    min_reach: Option<u32>,
    evidence: Vec<Evidence>,
}

/// Slack subtracted from the start of an election window: one heartbeat
/// (at least [`MIN_SLACK_MS`]) for stdout latency and for a `net` change
/// recorded a moment before the proxy applied it, plus one poll interval for
/// probe-observed targets (a transition is seen up to one poll late).
pub(crate) fn slack_ns(header: &RunHeader) -> u64 {
    let mut ms = header.heartbeat_ms.unwrap_or(0).max(MIN_SLACK_MS);
    if header.observation == Source::Probe {
        ms = ms.saturating_add(header.probe_interval_ms.unwrap_or(0));
    }
    ms.saturating_mul(1_000_000)
}

impl QuorumLeaderTally {
    /// A tally for `n` election nodes, everything connected, nothing started.
    pub fn new(n: usize, majority: u32, slack_ns: u64) -> Self {
        Self {
            n,
            majority,
            slack_ns,
            down: vec![0; n],
            down_since: vec![(0, 0); n * n],
            nodes: vec![NodeTrack::default(); n],
            claims: 0,
            violations: 0,
            min_reach: None,
            evidence: vec![],
        }
    }

    /// A new incarnation of node `i`: its history starts again.
    pub fn on_start(&mut self, i: usize, t: Nanos, seq: u64) {
        if let Some(node) = self.nodes.get_mut(i) {
            *node = NodeTrack {
                since: Some((t, seq)),
                ..NodeTrack::default()
            };
        }
    }

    /// The complete link state after a `net` event. A link is unusable here
    /// only when it delivers nothing: cut, or degraded with 100 % loss.
    /// Delay and partial loss still let a vote through, late or by luck.
    pub fn on_net(&mut self, model: &HistoryModel, net: &NetRecord, t: Nanos, seq: u64) {
        let n = self.n;
        let mut now: Vec<NodeSet> = vec![0; n];
        let mut mark = |from: &str, to: &str| {
            if let (Some(a), Some(b)) = (model.index(from), model.index(to)) {
                if a < n && b < n {
                    now[a] |= 1u128 << b;
                }
            }
        };
        for [from, to] in &net.cut {
            mark(from, to);
        }
        for d in &net.degraded {
            if d.loss >= 1.0 {
                mark(&d.from, &d.to);
            }
        }
        for (a, bits) in now.into_iter().enumerate() {
            let mut newly = bits & !self.down[a];
            while newly != 0 {
                let b = newly.trailing_zeros() as usize;
                newly &= newly - 1;
                self.down_since[a * n + b] = (t, seq);
            }
            self.down[a] = bits;
        }
    }

    /// Could `from` deliver to `to` at some instant after `w0` (up to now)?
    fn usable_since(&self, from: usize, to: usize, w0: Nanos) -> Result<(), u64> {
        if self.down[from] & (1u128 << to) == 0 {
            return Ok(());
        }
        let (t, seq) = self.down_since[from * self.n + to];
        if t > w0 {
            Ok(())
        } else {
            Err(seq)
        }
    }

    /// A `state` of node `i` (current incarnation) at `t`; a new leader
    /// claim is judged against the links of its election window.
    pub fn on_state(
        &mut self,
        i: usize,
        role: Role,
        term: u64,
        t: Nanos,
        seq: u64,
        name: &dyn Fn(usize) -> String,
    ) {
        let Some(node) = self.nodes.get_mut(i) else {
            return;
        };
        if role != Role::Leader {
            if node.last != Some((role, term)) {
                node.since = Some((t, seq));
            }
            node.last = Some((role, term));
            return;
        }
        node.last = Some((role, term));
        if node.led == Some(term) {
            return;
        }
        node.led = Some(term);
        let (opened, opened_seq) = node.since.unwrap_or((0, seq));
        let w0 = opened.saturating_sub(self.slack_ns);
        self.claims += 1;
        let mut reach = 1u32;
        let mut blockers: Vec<u64> = vec![];
        let mut cut_off: Vec<String> = vec![];
        for p in (0..self.n).filter(|&p| p != i) {
            match (self.usable_since(i, p, w0), self.usable_since(p, i, w0)) {
                (Ok(()), Ok(())) => reach += 1,
                (a, b) => {
                    blockers.extend(a.err());
                    blockers.extend(b.err());
                    cut_off.push(name(p));
                }
            }
        }
        self.min_reach = Some(self.min_reach.map_or(reach, |m| m.min(reach)));
        let majority = self.majority;
        if reach >= majority {
            return;
        }
        self.violations += 1;
        if self.evidence.len() >= MAX_EVIDENCE {
            return;
        }
        blockers.sort_unstable();
        blockers.dedup();
        let mut seqs = vec![opened_seq];
        seqs.extend(blockers.iter().copied());
        seqs.push(seq);
        seqs.sort_unstable();
        seqs.dedup();
        let who = name(i);
        let cuts = blockers
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let mut nodes = vec![who.clone()];
        nodes.extend(cut_off.iter().cloned());
        self.evidence.push(Evidence {
            seqs,
            window: [w0, t],
            nodes,
            message: format!(
                "{who} took office in term {term} (seq {seq}) though during its election \
                 (from seq {opened_seq}) it could exchange messages with only {} of {} nodes \
                 itself included (majority {majority}); cut off from {} by net seq {cuts}",
                reach,
                self.n,
                cut_off.join(", "),
            ),
        });
    }

    /// The verdict: invalid when some claim lacked a reachable majority.
    pub fn result(&self) -> CheckResult {
        let majority = self.majority;
        CheckResult {
            checker: "quorum-leader".into(),
            verdict: if self.violations > 0 {
                Verdict::Invalid
            } else {
                Verdict::Valid
            },
            figure: format!(
                "{} claims judged, {} without a reachable majority",
                self.claims, self.violations
            ),
            evidence: self.evidence.clone(),
            details: json!({
                "applicable": true,
                "claims": self.claims,
                "violations": self.violations,
                "majority": majority,
                "min_reach": self.min_reach,
                "slack_ms": self.slack_ns as f64 / 1e6,
            }),
        }
    }
}

/// The verdict for a target that elects through shared infrastructure:
/// its nodes need no quorum of peers, so there is nothing to judge.
fn not_applicable() -> CheckResult {
    CheckResult {
        checker: "quorum-leader".into(),
        verdict: Verdict::Valid,
        figure: "not applicable: liveness via-infrastructure".into(),
        evidence: vec![note(
            "the target elects through shared infrastructure, not a quorum of peers; nothing to judge",
        )],
        details: json!({"applicable": false}),
    }
}

/// The checker: a tally for peer-quorum targets, nothing to judge otherwise.
struct QuorumLeader {
    tally: Option<QuorumLeaderTally>,
}

pub(super) fn make(_: &CheckOptions, model: &RunModel) -> Box<dyn Check> {
    let h = &model.header;
    let tally = (h.liveness == Liveness::PeerQuorum)
        .then(|| QuorumLeaderTally::new(model.history.n, model.history.quorum(), slack_ns(h)));
    Box::new(QuorumLeader { tally })
}

impl Check for QuorumLeader {
    fn observe(&mut self, obs: &Observation<'_>, model: &RunModel) {
        let Some(q) = &mut self.tally else { return };
        match obs.what {
            Observed::State {
                node, role, term, ..
            } if node < model.history.n => {
                q.on_state(node, role, term, obs.t, obs.seq, &|j| model.node_name(j));
            }
            Observed::Process {
                node: Some(i),
                event: ProcessEvent::Start,
                ..
            } => q.on_start(i, obs.t, obs.seq),
            Observed::Net(net) => q.on_net(&model.history, net, obs.t, obs.seq),
            _ => {}
        }
    }

    /// Not applicable (via-infrastructure): nothing judged to distrust.
    fn judged_from_links(&self) -> bool {
        self.tally.is_some()
    }

    fn finish(self: Box<Self>, _: &RunModel) -> CheckResult {
        match &self.tally {
            Some(q) => q.result(),
            None => not_applicable(),
        }
    }
}

#[cfg(test)]
#[path = "quorum_leader_tests.rs"]
mod history_tests;
