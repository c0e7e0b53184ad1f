//! `stale-leader`: a live leader that can hear a higher-term node must step
//! down within a bound (contract 4, section 9 of `docs/checkers.md`).
//!
//! [`StaleLeaderTally`] keeps one slot per ordered pair of nodes (leader,
//! peer): the exposure in progress, if any. The checker re-evaluates the
//! pairs an event can change and reports each pair's condition here; an
//! exposure opens when the condition starts to hold and is judged when it
//! stops (or at the end of the history). Memory: nodes², never events.

use std::time::Duration;

use serde_json::json;

use super::{Check, CheckOptions, MAX_EVIDENCE};
use crate::history::{Liveness, Nanos, RunHeader, Source};
use crate::run_model::{Observation, Observed, RunModel};
use crate::verdict::{CheckResult, Evidence, Verdict};

/// Why a pair is exposed right now: the leader's live claim and the peer's
/// higher-term report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Contact {
    /// Term of the leader's live claim.
    pub claim_term: u64,
    /// `seq` of the state that started the live claim.
    pub claim_seq: u64,
    /// Term the peer reports (higher than `claim_term`).
    pub peer_term: u64,
    /// `seq` of the peer's first state in that term (this incarnation).
    pub peer_seq: u64,
}

/// An exposure in progress for one (leader, peer) pair.
#[derive(Debug, Clone, Copy)]
struct Exposure {
    since: Nanos,
    contact: Contact,
    /// The `net`/`process` event that made the condition hold, if it was one.
    cause_seq: Option<u64>,
}

/// A closed exposure worth reporting.
#[derive(Debug, Clone, Copy)]
struct Finding {
    leader: usize,
    peer: usize,
    from: Nanos,
    to: Nanos,
    contact: Contact,
    cause_seq: Option<u64>,
}

impl Finding {
    fn length(&self) -> u64 {
        self.to - self.from
    }
}

/// The reaction bound for a header: `max(3 × heartbeat, max election
/// timeout)`, or `2 × max election timeout` without a heartbeat, plus the
/// poll interval for probe-observed targets. `override_bound` wins as given.
pub(crate) fn bound_ns(header: &RunHeader, override_bound: Option<Duration>) -> u64 {
    if let Some(d) = override_bound {
        return d.as_nanos().min(u64::MAX as u128) as u64;
    }
    let timeout_ms = header.election_timeout_ms[1];
    let mut bound_ms = match header.heartbeat_ms {
        Some(hb) => hb.saturating_mul(3).max(timeout_ms),
        None => timeout_ms.saturating_mul(2),
    };
    if header.observation == Source::Probe {
        bound_ms = bound_ms.saturating_add(header.probe_interval_ms.unwrap_or(0));
    }
    bound_ms.saturating_mul(1_000_000)
}

/// Exposures of every (leader, peer) pair and what was concluded from them.
#[derive(Debug, Clone)]
pub(crate) struct StaleLeaderTally {
    nodes: usize,
    bound_ns: u64,
    /// `open[leader * nodes + peer]`.
    open: Vec<Option<Exposure>>,
    exposures: u64,
    violations: u64,
    longest: Option<Finding>,
    /// Violations, at most [`MAX_EVIDENCE`], the longest kept.
    over_bound: Vec<Finding>,
    /// `grace[leader * nodes + peer]`: no exposure of the pair counts
    /// before this instant (TCP resuming after a kernel-level cut).
    grace: Vec<Nanos>,
}

impl StaleLeaderTally {
    /// A tally for `nodes` election nodes and a reaction bound.
    pub fn new(nodes: usize, bound_ns: u64) -> Self {
        Self {
            nodes,
            bound_ns,
            open: vec![None; nodes * nodes],
            exposures: 0,
            violations: 0,
            longest: None,
            over_bound: vec![],
            grace: vec![0; nodes * nodes],
        }
    }

    /// No exposure of (a, b) or (b, a) counts before `until`.
    pub fn grace(&mut self, a: usize, b: usize, until: Nanos) {
        self.grace[a * self.nodes + b] = until;
        self.grace[b * self.nodes + a] = until;
    }

    /// The pair's condition at `t` after the event `seq`: `Some` while
    /// `leader` is exposed to `peer`. `lifecycle` says the event was a
    /// `net`/`process` one (named as the cause when it opens an exposure).
    pub fn observe(
        &mut self,
        leader: usize,
        peer: usize,
        now: Option<Contact>,
        t: Nanos,
        seq: u64,
        lifecycle: bool,
    ) {
        let slot = leader * self.nodes + peer;
        match (self.open[slot], now) {
            (None, Some(contact)) => {
                self.open[slot] = Some(Exposure {
                    since: t.max(self.grace[slot]),
                    contact,
                    cause_seq: lifecycle.then_some(seq),
                });
            }
            (Some(e), None) => {
                self.open[slot] = None;
                self.judge(leader, peer, e, t);
            }
            // Still exposed (a repeated or higher leader state below the
            // peer's term does not end it), or still not exposed.
            _ => {}
        }
    }

    /// Judge every exposure still open at the end of the history.
    pub fn close_all(&mut self, t: Nanos) {
        for slot in 0..self.open.len() {
            if let Some(e) = self.open[slot].take() {
                self.judge(slot / self.nodes, slot % self.nodes, e, t);
            }
        }
    }

    fn judge(&mut self, leader: usize, peer: usize, e: Exposure, t: Nanos) {
        let finding = Finding {
            leader,
            peer,
            from: e.since,
            to: t.max(e.since),
            contact: e.contact,
            cause_seq: e.cause_seq,
        };
        self.exposures += 1;
        let len = finding.length();
        if !matches!(self.longest, Some(l) if l.length() >= len) {
            self.longest = Some(finding);
        }
        if len <= self.bound_ns {
            return;
        }
        self.violations += 1;
        if self.over_bound.len() < MAX_EVIDENCE {
            self.over_bound.push(finding);
        } else if let Some(shortest) = self.over_bound.iter_mut().min_by_key(|f| f.length()) {
            if len > shortest.length() {
                *shortest = finding;
            }
        }
    }

    /// The checker's result; `name` turns a node index into its id.
    pub fn result(&self, name: &dyn Fn(usize) -> String) -> CheckResult {
        let bound_ms = ms(self.bound_ns);
        let describe = |f: &Finding| {
            let mut seqs = vec![f.contact.claim_seq, f.contact.peer_seq];
            seqs.extend(f.cause_seq);
            seqs.sort_unstable();
            seqs.dedup();
            let (l, p) = (name(f.leader), name(f.peer));
            Evidence {
                seqs,
                window: [f.from, f.to],
                nodes: vec![l.clone(), p.clone()],
                message: format!(
                    "{l} kept leading term {} for {} while connected both ways to {p} in term {} (bound {bound_ms} ms)",
                    f.contact.claim_term,
                    human(f.length()),
                    f.contact.peer_term
                ),
            }
        };
        let mut evidence: Vec<Evidence> = vec![];
        if self.violations > 0 {
            let mut worst = self.over_bound.clone();
            worst.sort_by_key(|f| std::cmp::Reverse(f.length()));
            evidence.extend(worst.iter().map(describe));
        } else if let Some(f) = &self.longest {
            let mut e = describe(f);
            e.message = format!("longest exposure: {}", e.message);
            evidence.push(e);
        }
        let longest_ns = self.longest.map_or(0, |f| f.length());
        CheckResult {
            checker: "stale-leader".into(),
            verdict: if self.violations > 0 {
                Verdict::Invalid
            } else {
                Verdict::Valid
            },
            figure: format!(
                "{} exposures, longest {} ms (bound {bound_ms} ms){}",
                self.exposures,
                ms(longest_ns),
                if self.violations > 0 {
                    format!(", {} over the bound", self.violations)
                } else {
                    String::new()
                }
            ),
            evidence,
            details: json!({
                "exposures": self.exposures,
                "violations": self.violations,
                "longest_ms": ms(longest_ns),
                "bound_ms": bound_ms,
            }),
        }
    }
}

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e6 * 1000.0).round() / 1000.0
}

/// `2.4 s` from a second up, `480 ms` below.
fn human(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.1} s", ns as f64 / 1e9)
    } else {
        format!("{} ms", ms(ns))
    }
}

/// The checker: re-evaluates the pairs an event can change.
struct StaleLeader {
    tally: StaleLeaderTally,
    /// `Some` when the header says `tcp_backoff`: per unordered pair
    /// (`a * n + b`, a < b), since when the pair cannot hear each other.
    down_since: Option<Vec<Option<Nanos>>>,
}

/// Linux's minimum retransmission timeout.
const MIN_RTO_NS: u64 = 200_000_000;
/// Linux's maximum retransmission timeout (the backoff's cap).
const MAX_RTO_NS: u64 = 120_000_000_000;

pub(super) fn make(opts: &CheckOptions, model: &RunModel) -> Box<dyn Check> {
    let h = &model.header;
    let n = model.history.n;
    Box::new(StaleLeader {
        tally: StaleLeaderTally::new(n, bound_ns(h, opts.stale_leader_bound)),
        down_since: h.tcp_backoff.then(|| vec![None; n * n]),
    })
}

/// Is `leader` exposed to `peer` now: a live claim in a term below the live
/// peer's reported term, with both able to hear each other (links both
/// ways; via infrastructure: both reach the live services)?
fn stale_contact(model: &RunModel, leader: usize, peer: usize) -> Option<Contact> {
    let l = &model.views[leader];
    if !l.live_claim {
        return None;
    }
    let claim = l.belief?;
    let (peer_term, peer_seq) = model.views[peer].reported?;
    let history = &model.history;
    if peer_term <= claim.term || !history.life[leader].live() || !history.life[peer].live() {
        return None;
    }
    let hear = match history.liveness {
        Liveness::PeerQuorum => history.connected(leader, peer),
        Liveness::ViaInfrastructure => {
            history.in_quorum_among(leader, !0) && history.in_quorum_among(peer, !0)
        }
    };
    hear.then_some(Contact {
        claim_term: claim.term,
        claim_seq: l.live_claim_seq,
        peer_term,
        peer_seq,
    })
}

impl StaleLeader {
    /// Re-evaluate the pairs `node` takes part in (every pair when `None`).
    fn update(
        &mut self,
        model: &RunModel,
        seq: u64,
        t: Nanos,
        node: Option<usize>,
        lifecycle: bool,
    ) {
        let n = model.history.n;
        let stale = &mut self.tally;
        match node {
            Some(i) if i < n => {
                for j in (0..n).filter(|&j| j != i) {
                    stale.observe(i, j, stale_contact(model, i, j), t, seq, lifecycle);
                    stale.observe(j, i, stale_contact(model, j, i), t, seq, lifecycle);
                }
            }
            Some(_) => {}
            None => {
                for l in 0..n {
                    for m in (0..n).filter(|&m| m != l) {
                        stale.observe(l, m, stale_contact(model, l, m), t, seq, lifecycle);
                    }
                }
            }
        }
    }
}

impl StaleLeader {
    /// Under `tcp_backoff`, a pair whose links come back after an outage of
    /// D is not expected to hear each other before TCP retransmits: up to
    /// min(D, 120 s) + 200 ms after the heal (the backoff doubles from the
    /// minimum timeout, so the next try falls at most one outage later).
    fn track_outages(&mut self, model: &RunModel, t: Nanos) {
        let Some(down) = self.down_since.as_mut() else {
            return;
        };
        let n = model.history.n;
        for a in 0..n {
            for b in a + 1..n {
                let up = model.history.connected(a, b);
                match (down[a * n + b], up) {
                    (None, false) => down[a * n + b] = Some(t),
                    (Some(since), true) => {
                        down[a * n + b] = None;
                        let wait = (t - since).min(MAX_RTO_NS) + MIN_RTO_NS;
                        self.tally.grace(a, b, t + wait);
                    }
                    _ => {}
                }
            }
        }
    }
}

impl Check for StaleLeader {
    fn observe(&mut self, obs: &Observation<'_>, model: &RunModel) {
        let (seq, t) = (obs.seq, obs.t);
        match obs.what {
            Observed::Net(_) => {
                self.track_outages(model, t);
                self.update(model, seq, t, None, true)
            }
            // A service's life changes every pair under via-infrastructure.
            Observed::Process {
                node: Some(i),
                applied: true,
                ..
            } => {
                let node = model.history.is_node(i).then_some(i);
                self.update(model, seq, t, node, true);
            }
            // Repeated observations change nothing a pair depends on.
            Observed::State {
                node,
                claim_changed: true,
                ..
            } => self.update(model, seq, t, Some(node), false),
            _ => {}
        }
    }

    fn judged_from_links(&self) -> bool {
        true
    }

    fn finish(mut self: Box<Self>, model: &RunModel) -> CheckResult {
        self.tally.close_all(model.end_t);
        self.tally.result(&|i| model.node_name(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: serde_json::Value) -> RunHeader {
        let mut h = json!({"target": "t", "nodes": ["n1", "n2", "n3"]});
        for (k, v) in json.as_object().expect("object") {
            h[k] = v.clone();
        }
        serde_json::from_value(h).expect("header")
    }

    #[test]
    fn bound_follows_the_timing() {
        let ms = 1_000_000;
        let h = header(json!({"election_timeout_ms": [150, 300], "heartbeat_ms": 50}));
        assert_eq!(bound_ns(&h, None), 300 * ms);
        let h = header(json!({"election_timeout_ms": [150, 300], "heartbeat_ms": 200}));
        assert_eq!(bound_ns(&h, None), 600 * ms);
        let h = header(json!({"election_timeout_ms": [150, 300]}));
        assert_eq!(bound_ns(&h, None), 600 * ms);
        let h = header(
            json!({"election_timeout_ms": [200, 400], "heartbeat_ms": 20,
                              "observation": "probe", "probe_interval_ms": 20}),
        );
        assert_eq!(bound_ns(&h, None), 420 * ms);
        assert_eq!(bound_ns(&h, Some(Duration::from_millis(7))), 7 * ms);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(2_400_000_000), "2.4 s");
        assert_eq!(human(48_000_000), "48 ms");
    }
}

#[cfg(test)]
#[path = "stale_leader_tests.rs"]
mod history_tests;
