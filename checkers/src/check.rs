//! The streaming checker: one pass over a history, every checker of contract 4.
//!
//! [`Checker`] takes records one at a time ([`Checker::push`]) and keeps only
//! what the checkers need: per node, per term and per open interval, never the
//! history itself. [`check`] runs it over any iterator of records and
//! [`check_reader`] over a history file, parsing lines without allocating.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::io::BufRead;
use std::time::Duration;

use serde_json::json;

use crate::fast::{parse_line, Ev, Purpose};
use crate::history::{
    ends_incarnation, ExitStatus, Liveness, Nanos, NemesisRecord, ProcessEvent, Record, Role,
    RunHeader, Source,
};
use crate::model::{HistoryModel, NodeSet};
use crate::quorum_leader::{self, QuorumLeaderTally};
use crate::reader::ReadError;
use crate::stale_leader::{self, Contact, StaleLeaderTally};
use crate::verdict::{CheckResult, Election, Evidence, Report, Verdict};
use crate::vote_quorum::VoteQuorumTally;

/// Names of every checker, in report order (contract 4).
pub const CHECKER_NAMES: [&str; CHECKER_COUNT] = [
    "term-uniqueness",
    "term-monotonic",
    "election-gap",
    "stability",
    "lease-overlap",
    "leader-agreement",
    "stale-leader",
    "vote-once",
    "vote-up-to-date",
    "quorum-leader",
    "vote-quorum",
    "crashes",
];

/// Checkers that judge safety (a violation is a bug, whatever the faults).
pub const SAFETY_CHECKERS: [&str; 7] = [
    "term-uniqueness",
    "term-monotonic",
    "leader-agreement",
    "vote-once",
    "vote-up-to-date",
    "quorum-leader",
    "vote-quorum",
];

const TERM_UNIQUENESS: usize = 0;
const TERM_MONOTONIC: usize = 1;
const ELECTION_GAP: usize = 2;
const STABILITY: usize = 3;
const LEASE_OVERLAP: usize = 4;
const LEADER_AGREEMENT: usize = 5;
const STALE_LEADER: usize = 6;
const VOTE_ONCE: usize = 7;
const VOTE_UP_TO_DATE: usize = 8;
const QUORUM_LEADER: usize = 9;
const VOTE_QUORUM: usize = 10;
const CRASHES: usize = 11;
/// Number of checkers.
const CHECKER_COUNT: usize = 12;

/// Evidence kept per checker: enough to act on, bounded so memory is too.
const MAX_EVIDENCE: usize = 20;
/// Items kept in `details` lists (gaps, unnecessary elections, ...).
const MAX_LISTED: usize = 200;
/// Names interned beyond the header's (a garbage `leader` field must not grow memory).
const MAX_EXTRA_NAMES: usize = 1024;

/// How to run the checkers over a history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckOptions {
    /// Longest acceptable election gap; `None` uses the header's `gap_bound_ms`.
    /// Lets `splitbrain check --gap-bound` re-judge an old run.
    pub gap_bound: Option<Duration>,
    /// Run only these checkers (names from [`CHECKER_NAMES`]); `None` runs all.
    /// Unknown names are reported as a warning and ignored.
    pub only: Option<Vec<String>>,
    /// How long a leader may keep leading while it can hear a higher term;
    /// `None` derives it from the header's timing (`stale-leader`).
    pub stale_leader_bound: Option<Duration>,
}

impl CheckOptions {
    /// Only the safety checkers: what a quick bug hunt or the bench needs.
    pub fn safety_only() -> Self {
        Self {
            only: Some(SAFETY_CHECKERS.iter().map(|s| s.to_string()).collect()),
            ..Self::default()
        }
    }
}

/// Run every (selected) checker over `records`, the first of which should be
/// the `run` header. Accepts owned records or references.
pub fn check<I>(records: I, opts: &CheckOptions) -> Report
where
    I: IntoIterator,
    I::Item: Borrow<Record>,
{
    let mut checker = Checker::new(opts.clone());
    for r in records {
        checker.push(r.borrow());
    }
    checker.finish()
}

/// Stream a history file through the checkers without holding it: lines are
/// parsed in place (no per-line allocation for the common kinds). A torn last
/// line is skipped with a warning in the report; a malformed line anywhere
/// else is an error naming its line number.
pub fn check_reader<R: BufRead>(mut input: R, opts: &CheckOptions) -> Result<Report, ReadError> {
    let mut checker = Checker::new(opts.clone());
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    let mut line_no = 0u64;
    let mut pending: Option<(u64, serde_json::Error)> = None;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if let Some((line, source)) = pending.take() {
            return Err(ReadError::Malformed { line, source });
        }
        match parse_line(line, Purpose::Check) {
            Ok(parsed) => {
                let (seq, t) = parsed.seq_t();
                checker.push_view(seq, t, parsed.view());
            }
            Err(e) => pending = Some((line_no, e)),
        }
    }
    if let Some((line, source)) = pending {
        checker.warn(format!(
            "line {line}: torn last line skipped ({source}); the run was probably cut short"
        ));
    }
    Ok(checker.finish())
}

/// A leadership claim in force (contract 4: from a `state` with `role=leader`).
#[derive(Debug, Clone, Copy)]
struct Claim {
    term: u64,
    seq: u64,
}

/// What the checkers remember about one node.
#[derive(Debug, Clone, Default)]
struct NodeView {
    /// Reported term of the current incarnation (0 before any state).
    term: u64,
    /// Belief claim: last accepted state said leader (runs through a pause).
    belief: Option<Claim>,
    /// Live claim: ended by a pause until the node says leader again.
    live_claim: bool,
    /// Open tenure in `elections`.
    tenure: Option<usize>,
    /// Last reported state for term-monotonic: (term, seq, t, incarnation).
    last_state: Option<(u64, u64, Nanos, u32)>,
    /// Votes granted, by term: (candidate, seq, t).
    votes: HashMap<u64, (u32, u64, Nanos)>,
    /// When the current pause began.
    paused_at: Option<Nanos>,
    /// `seq` of the state that started the current live claim.
    live_claim_seq: u64,
    /// Latest reported term of the current incarnation, with the `seq` of
    /// the first state in that term (stale-leader).
    reported: Option<(u64, u64)>,
}

impl NodeView {
    /// What stale-leader pairs depend on: live claim (term, start) and reported term.
    fn stale_leader_inputs(&self) -> (Option<(u64, u64)>, Option<u64>) {
        let claim = self
            .belief
            .filter(|_| self.live_claim)
            .map(|c| (c.term, self.live_claim_seq));
        (claim, self.reported.map(|r| r.0))
    }
}

/// Compact tenure record; becomes an [`Election`] at the end.
#[derive(Debug, Clone)]
struct Tenure {
    term: u64,
    leader: u32,
    elected_at: Nanos,
    lost_at: Option<Nanos>,
    how: &'static str,
    seq: u64,
}

/// The first claimant of a term (term-uniqueness keeps one per term).
#[derive(Debug, Clone)]
struct TermClaim {
    node: u32,
    seq: u64,
    t: Nanos,
    conflicted: bool,
}

/// Who is named leader of a term, and by whom (leader-agreement).
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

/// A maximal leaderless stretch in progress.
#[derive(Debug, Clone)]
struct Stretch {
    opened_at: Nanos,
    /// Healthy-quorum time inside the stretch so far.
    quorum_ns: u64,
    /// The faults blamed: `(index into fault_kinds, seq)`, the latest first.
    causes: Causes,
}

/// The faults a stretch is blamed on: every numbered fault in force when it
/// opened, else the last `nemesis` op (never empty).
type Causes = Vec<(usize, u64)>;

/// A closed election gap.
#[derive(Debug, Clone)]
struct ElectionGap {
    opened_at: Nanos,
    closed_at: Nanos,
    length_ns: u64,
    causes: Causes,
    leader_seq: u64,
}

/// Snapshot of the gap state when the final stop began.
#[derive(Debug, Clone)]
struct StopSnapshot {
    t: Nanos,
    stretch: Option<Stretch>,
    gaps: usize,
    gaps_over_bound: usize,
}

/// An overlap episode (two or more simultaneous claims).
#[derive(Debug, Clone, Default)]
struct OverlapEpisode {
    start: Nanos,
    nodes: NodeSet,
    seqs: Vec<u64>,
}

#[derive(Debug, Clone, Default)]
struct OverlapTally {
    total_ns: u64,
    longest_ns: u64,
    longest: Option<(Nanos, Nanos, NodeSet, Vec<u64>)>,
    episodes: u64,
    current: Option<OverlapEpisode>,
    /// Episodes longer than the tolerance (only live overlap uses it).
    over_tolerance: u64,
    evidence: Vec<(Nanos, Nanos, NodeSet, Vec<u64>)>,
}

impl OverlapTally {
    fn update(&mut self, t: Nanos, claimants: NodeSet, claims: &[NodeView], tolerance_ns: u64) {
        if claimants.count_ones() >= 2 {
            let ep = self.current.get_or_insert_with(|| OverlapEpisode {
                start: t,
                ..Default::default()
            });
            let mut new = claimants & !ep.nodes;
            ep.nodes |= claimants;
            while new != 0 {
                let i = new.trailing_zeros() as usize;
                new &= new - 1;
                if let Some(c) = claims[i].belief {
                    ep.seqs.push(c.seq);
                }
            }
        } else if let Some(ep) = self.current.take() {
            let len = t - ep.start;
            if len == 0 {
                return;
            }
            self.episodes += 1;
            let mut seqs = ep.seqs;
            seqs.sort_unstable();
            if len > tolerance_ns {
                self.over_tolerance += 1;
                if self.evidence.len() < MAX_EVIDENCE {
                    self.evidence.push((ep.start, t, ep.nodes, seqs.clone()));
                }
            }
            if len > self.longest_ns {
                self.longest_ns = len;
                self.longest = Some((ep.start, t, ep.nodes, seqs));
            }
        }
    }
}

/// An exit the nemesis did not cause.
#[derive(Debug, Clone)]
struct Crash {
    seq: u64,
    t: Nanos,
    node: u32,
    status: Option<ExitStatus>,
    stderr_tail: Option<String>,
}

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

/// State once the header is known.
struct Run {
    header: RunHeader,
    model: HistoryModel,
    names: Vec<String>,
    views: Vec<NodeView>,
    gap_bound_ns: u64,
    liveness_on: bool,
    last_t: Nanos,
    end_t: Nanos,
    ended: bool,
    interrupted: bool,
    t_went_back: bool,
    stale_lines: u64,
    garbage: u64,
    history_warnings: Vec<String>,
    /// `seq` of a `bypass` warning: node traffic avoided the proxy.
    bypass_seq: Option<u64>,
    /// Some `net` event cut or degraded a link.
    had_network_fault: bool,
    // Faults.
    fault_kinds: Vec<String>,
    last_fault: (usize, u64),
    /// Faults of an overlapping schedule in force: `(detail.fault, kind, seq)`
    /// in the order they began; each undo removes its own.
    active_faults: Vec<(u64, usize, u64)>,
    pending_kills: NodeSet,
    stop: Option<StopSnapshot>,
    // term-uniqueness
    term_claims: HashMap<u64, TermClaim>,
    claims_seen: u64,
    tu_conflicts: u64,
    tu_evidence: Vec<Evidence>,
    // term-monotonic
    states_seen: u64,
    tm_decreases: u64,
    tm_evidence: Vec<Evidence>,
    // leader-agreement
    term_leaders: HashMap<u64, TermLeader>,
    la_conflicts: u64,
    la_evidence: Vec<Evidence>,
    // votes
    votes_seen: u64,
    vo_double: u64,
    vo_evidence: Vec<Evidence>,
    vu_judged: u64,
    vu_stale: u64,
    vu_evidence: Vec<Evidence>,
    // crashes
    crashes: Vec<Crash>,
    crash_count: u64,
    // liveness
    belief_set: NodeSet,
    live_claim_set: NodeSet,
    quorum_now: bool,
    leader_now: Option<usize>,
    ever_leader: bool,
    ever_quorum: bool,
    quorum_total_ns: u64,
    stretch: Option<Stretch>,
    gaps: Vec<ElectionGap>,
    gaps_over_bound: usize,
    // stability
    prev_leader: Option<(usize, u64, u64)>,
    prev_disrupted: bool,
    disruptor: Option<(usize, u64, u64)>,
    leader_changes: u64,
    unnecessary: Vec<UnnecessaryElection>,
    unnecessary_count: u64,
    // overlap
    live_overlap: OverlapTally,
    belief_overlap: OverlapTally,
    tolerance_ns: u64,
    // elections
    tenures: Vec<Tenure>,
    // stale-leader (`None` when not selected)
    stale: Option<StaleLeaderTally>,
    // quorum-leader (`None` when not selected or not applicable)
    quorum_leader: Option<QuorumLeaderTally>,
    // vote-quorum (`None` when not selected)
    vote_quorum: Option<VoteQuorumTally>,
}

/// The streaming checker: [`push`](Checker::push) every record in order,
/// then [`finish`](Checker::finish). Memory grows with nodes, terms,
/// elections and open intervals, not with the number of events.
pub struct Checker {
    opts: CheckOptions,
    enabled: [bool; CHECKER_COUNT],
    run: Option<Box<Run>>,
    no_header: bool,
    events: u64,
    warnings: Vec<String>,
}

impl Checker {
    /// A checker for one history.
    pub fn new(opts: CheckOptions) -> Self {
        let mut enabled = [true; CHECKER_COUNT];
        let mut warnings = Vec::new();
        if let Some(only) = &opts.only {
            enabled = [false; CHECKER_COUNT];
            for name in only {
                match CHECKER_NAMES.iter().position(|n| n == name) {
                    Some(i) => enabled[i] = true,
                    None => warnings.push(format!(
                        "unknown checker `{name}` ignored (known: {})",
                        CHECKER_NAMES.join(", ")
                    )),
                }
            }
        }
        Self {
            opts,
            enabled,
            run: None,
            no_header: false,
            events: 0,
            warnings,
        }
    }

    /// Record a problem with the history itself (e.g. a torn last line).
    pub fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    /// Feed the next record of the history.
    pub fn push(&mut self, record: &Record) {
        self.push_view(record.seq, record.t, record.view());
    }

    pub(crate) fn push_view(&mut self, seq: u64, t: Nanos, ev: Ev<'_>) {
        self.events += 1;
        if self.no_header {
            return;
        }
        match &mut self.run {
            Some(run) => run.apply(seq, t, ev),
            None => match ev {
                Ev::Run(h) => {
                    self.run = Some(Box::new(Run::new(h, &self.opts, &self.enabled, seq, t)));
                }
                _ => self.no_header = true,
            },
        }
    }

    /// Judge the history pushed so far.
    pub fn finish(self) -> Report {
        let Checker {
            enabled,
            run,
            events,
            mut warnings,
            ..
        } = self;
        let Some(run) = run else {
            let message = if events == 0 {
                "empty history: no run header".to_string()
            } else {
                "the history has no run header (its first record is not `type: run`): cannot judge"
                    .to_string()
            };
            let results = CHECKER_NAMES
                .iter()
                .enumerate()
                .filter(|(i, _)| enabled[*i])
                .map(|(_, name)| CheckResult {
                    checker: name.to_string(),
                    verdict: Verdict::Unknown,
                    figure: "no run header".into(),
                    evidence: vec![Evidence {
                        seqs: vec![],
                        window: [0, 0],
                        nodes: vec![],
                        message: message.clone(),
                    }],
                    details: json!({"error": message}),
                })
                .collect();
            warnings.push(message);
            return Report {
                results,
                elections: vec![],
                warnings,
                events,
            };
        };
        run.finish(enabled, events, warnings)
    }
}

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e6 * 1000.0).round() / 1000.0
}

fn is_stop_op(op: &str) -> bool {
    matches!(op, "stop" | "shutdown" | "teardown" | "final-stop")
}

/// The ops that end a numbered fault (its undo carries the same number).
fn is_undo_op(op: &str) -> bool {
    matches!(op, "heal" | "resume" | "restart")
}

fn is_kill_op(op: &str) -> bool {
    op.contains("kill") || op.contains("crash")
}

impl Run {
    fn new(
        h: &RunHeader,
        opts: &CheckOptions,
        enabled: &[bool; CHECKER_COUNT],
        seq: u64,
        t: Nanos,
    ) -> Self {
        let liveness_on = enabled[ELECTION_GAP] || enabled[STABILITY] || enabled[LEASE_OVERLAP];
        let stale_leader_on = enabled[STALE_LEADER];
        let quorum_leader_on = enabled[QUORUM_LEADER];
        let model = HistoryModel::new(h);
        let stale = stale_leader_on.then(|| {
            StaleLeaderTally::new(model.n, stale_leader::bound_ns(h, opts.stale_leader_bound))
        });
        let quorum_leader = (quorum_leader_on && h.liveness == Liveness::PeerQuorum)
            .then(|| QuorumLeaderTally::new(model.n, model.quorum(), quorum_leader::slack_ns(h)));
        let vote_quorum = enabled[VOTE_QUORUM]
            .then(|| VoteQuorumTally::new(model.n, model.quorum(), quorum_leader::slack_ns(h)));
        let names = model.names.clone();
        let views = vec![NodeView::default(); names.len()];
        let gap_bound_ns = match opts.gap_bound {
            Some(d) => d.as_nanos().min(u64::MAX as u128) as u64,
            None => h.gap_bound_ms.saturating_mul(1_000_000),
        };
        let tolerance_ns = (h.overlap_tolerance_ms.max(0.0) * 1e6) as u64;
        Self {
            header: h.clone(),
            model,
            names,
            views,
            gap_bound_ns,
            liveness_on,
            last_t: t,
            end_t: t,
            ended: false,
            interrupted: false,
            t_went_back: false,
            stale_lines: 0,
            garbage: 0,
            history_warnings: vec![],
            bypass_seq: None,
            had_network_fault: false,
            fault_kinds: vec!["start".to_string()],
            last_fault: (0, seq),
            active_faults: Vec::new(),
            pending_kills: 0,
            stop: None,
            term_claims: HashMap::new(),
            claims_seen: 0,
            tu_conflicts: 0,
            tu_evidence: vec![],
            states_seen: 0,
            tm_decreases: 0,
            tm_evidence: vec![],
            term_leaders: HashMap::new(),
            la_conflicts: 0,
            la_evidence: vec![],
            votes_seen: 0,
            vo_double: 0,
            vo_evidence: vec![],
            vu_judged: 0,
            vu_stale: 0,
            vu_evidence: vec![],
            crashes: vec![],
            crash_count: 0,
            belief_set: 0,
            live_claim_set: 0,
            quorum_now: false,
            leader_now: None,
            ever_leader: false,
            ever_quorum: false,
            quorum_total_ns: 0,
            stretch: Some(Stretch {
                opened_at: t,
                quorum_ns: 0,
                causes: vec![(0, seq)],
            }),
            gaps: vec![],
            gaps_over_bound: 0,
            prev_leader: None,
            prev_disrupted: false,
            disruptor: None,
            leader_changes: 0,
            unnecessary: vec![],
            unnecessary_count: 0,
            live_overlap: OverlapTally::default(),
            belief_overlap: OverlapTally::default(),
            tolerance_ns,
            tenures: vec![],
            stale,
            quorum_leader,
            vote_quorum,
        }
    }

    /// Index of a name, interning names the header did not list (bounded).
    #[inline]
    fn intern(&mut self, name: &str) -> Option<usize> {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return Some(i);
        }
        if self.names.len() >= self.model.names.len() + MAX_EXTRA_NAMES {
            return None;
        }
        self.names.push(name.to_string());
        self.views.push(NodeView::default());
        Some(self.names.len() - 1)
    }

    /// Seq of the last start of `i` (`None`: never started or unknown name).
    fn last_start(&self, i: usize) -> Option<u64> {
        self.model.life.get(i).and_then(|l| l.last_start_seq)
    }

    /// Did `i` (re)start after `seq`?
    fn restarted_since(&self, i: usize, seq: u64) -> bool {
        self.last_start(i).is_some_and(|s| s > seq)
    }

    fn node_name(&self, i: usize) -> String {
        self.names.get(i).cloned().unwrap_or_else(|| "?".into())
    }

    fn set_names(&self, set: NodeSet) -> Vec<String> {
        let mut v = vec![];
        let mut s = set;
        while s != 0 {
            let i = s.trailing_zeros() as usize;
            s &= s - 1;
            v.push(self.node_name(i));
        }
        v
    }

    /// Integrate the interval `[last_t, t)` under the current state.
    fn advance(&mut self, t: Nanos) {
        let t = if t < self.last_t {
            self.t_went_back = true;
            self.last_t
        } else {
            t
        };
        let dt = t - self.last_t;
        if dt > 0 && self.liveness_on {
            if self.quorum_now {
                self.quorum_total_ns += dt;
                if let Some(s) = &mut self.stretch {
                    s.quorum_ns += dt;
                }
            }
            if self.live_claim_set.count_ones() >= 2 {
                self.live_overlap.total_ns += dt;
            }
            if self.belief_set.count_ones() >= 2 {
                self.belief_overlap.total_ns += dt;
            }
        }
        self.last_t = t;
        self.end_t = t;
    }

    fn apply(&mut self, seq: u64, t: Nanos, ev: Ev<'_>) {
        self.advance(t);
        let t = self.last_t;
        match ev {
            Ev::State {
                node,
                pid,
                role,
                term,
                leader,
            } => self.on_state(seq, t, node, pid, role, term, leader),
            Ev::Vote {
                node,
                pid,
                term,
                candidate,
                voter_log,
                candidate_log,
            } => self.on_vote(seq, t, node, pid, term, candidate, voter_log, candidate_log),
            Ev::Process {
                node,
                event,
                pid,
                expected,
                status,
                stderr_tail,
            } => self.on_process(seq, t, node, event, pid, expected, status, stderr_tail),
            Ev::Net(net) => {
                self.had_network_fault |= !net.cut.is_empty() || !net.degraded.is_empty();
                self.stop = None;
                self.model.apply_net(net);
                if let Some(q) = &mut self.quorum_leader {
                    q.on_net(&self.model, net, t, seq);
                }
                self.recompute(seq, t, true);
                self.update_stale_leader(seq, t, None, true);
            }
            Ev::Nemesis(n) => self.on_nemesis(seq, t, n),
            Ev::End { interrupted } => {
                self.ended = true;
                self.interrupted = interrupted;
            }
            Ev::Garbage => self.garbage += 1,
            Ev::Warning(kind, m) => {
                if kind == "bypass" {
                    self.bypass_seq.get_or_insert(seq);
                }
                if self.history_warnings.len() < MAX_EVIDENCE {
                    self.history_warnings.push(format!("seq {seq}: {m}"));
                }
            }
            Ev::Other | Ev::Run(_) => {}
        }
    }

    fn on_nemesis(&mut self, seq: u64, t: Nanos, n: &NemesisRecord) {
        let kind = match self.fault_kinds.iter().position(|k| *k == n.op) {
            Some(k) => k,
            None => {
                self.fault_kinds.push(n.op.clone());
                self.fault_kinds.len() - 1
            }
        };
        self.last_fault = (kind, seq);
        let number = n
            .detail
            .as_ref()
            .and_then(|d| d.get("fault"))
            .and_then(|f| f.as_u64());
        if n.op == "recover" {
            self.active_faults.clear();
        } else if let Some(k) = number {
            self.active_faults.retain(|(f, _, _)| *f != k);
            if !is_undo_op(&n.op) {
                self.active_faults.push((k, kind, seq));
            }
        }
        if is_stop_op(&n.op) {
            if self.stop.is_none() {
                self.stop = Some(self.snapshot(t));
            }
            return;
        }
        self.stop = None;
        self.pending_kills = 0;
        if is_kill_op(&n.op) {
            for name in &n.nodes {
                if let Some(i) = self.model.index(name) {
                    self.pending_kills |= 1u128 << i;
                }
            }
        }
    }

    fn snapshot(&self, t: Nanos) -> StopSnapshot {
        StopSnapshot {
            t,
            stretch: self.stretch.clone(),
            gaps: self.gaps.len(),
            gaps_over_bound: self.gaps_over_bound,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_process(
        &mut self,
        seq: u64,
        t: Nanos,
        node: &str,
        event: ProcessEvent,
        pid: Option<u32>,
        expected: Option<bool>,
        status: Option<&ExitStatus>,
        stderr_tail: Option<&str>,
    ) {
        let idx = self.model.index(node);
        if event == ProcessEvent::Exit && expected != Some(true) {
            self.crash_count += 1;
            if self.crashes.len() < MAX_LISTED {
                let who = match idx {
                    Some(i) => i as u32,
                    None => self.intern(node).map_or(u32::MAX, |i| i as u32),
                };
                self.crashes.push(Crash {
                    seq,
                    t,
                    node: who,
                    status: status.cloned(),
                    stderr_tail: stderr_tail.map(str::to_string),
                });
            }
        }
        let Some(i) = idx else { return };
        let is_node = self.model.is_node(i);
        match event {
            ProcessEvent::Start => {
                self.stop = None;
                let life = &mut self.model.life[i];
                life.started = true;
                life.alive = true;
                life.paused = false;
                life.pid = pid;
                life.incarnation += 1;
                life.last_start_seq = Some(seq);
                self.pending_kills &= !(1u128 << i);
                if let Some(q) = &mut self.quorum_leader {
                    q.on_start(i, t, seq);
                }
                self.end_claims(i, t, "exited");
                let v = &mut self.views[i];
                v.paused_at = None;
                v.reported = None;
                if !self.header.persistent_term {
                    v.term = 0;
                    v.votes.clear();
                }
            }
            ProcessEvent::Ready => return,
            ProcessEvent::Kill | ProcessEvent::Exit
                if is_node && !ends_incarnation(pid, self.model.life[i].pid) =>
            {
                return;
            }
            ProcessEvent::Kill | ProcessEvent::Exit => {
                let bit = 1u128 << i;
                let was_alive = self.model.life[i].alive;
                let stop_like = match event {
                    ProcessEvent::Kill => self.pending_kills & bit == 0,
                    _ => expected == Some(true) && was_alive,
                };
                self.pending_kills &= !bit;
                if stop_like && self.stop.is_none() {
                    self.stop = Some(self.snapshot(t));
                }
                let life = &mut self.model.life[i];
                life.alive = false;
                life.paused = false;
                let how = if event == ProcessEvent::Kill {
                    "killed"
                } else {
                    "exited"
                };
                self.end_claims(i, t, how);
            }
            ProcessEvent::Pause => {
                self.model.life[i].paused = true;
                if is_node {
                    self.views[i].paused_at.get_or_insert(t);
                    self.views[i].live_claim = false;
                    self.live_claim_set &= !(1u128 << i);
                }
            }
            ProcessEvent::Resume => {
                self.stop = None;
                self.model.life[i].paused = false;
                self.views[i].paused_at = None;
            }
        }
        self.model.invalidate();
        self.recompute(seq, t, true);
        // A service's life changes every pair under via-infrastructure.
        self.update_stale_leader(seq, t, is_node.then_some(i), true);
    }

    /// Death or restart: every claim of `i` ends, and its tenure with it.
    fn end_claims(&mut self, i: usize, t: Nanos, how: &'static str) {
        let v = &mut self.views[i];
        v.belief = None;
        v.live_claim = false;
        self.belief_set &= !(1u128 << i);
        self.live_claim_set &= !(1u128 << i);
        self.close_tenure(i, t, how);
    }

    fn close_tenure(&mut self, i: usize, t: Nanos, how: &'static str) {
        let v = &mut self.views[i];
        if let Some(k) = v.tenure.take() {
            let tenure = &mut self.tenures[k];
            match v.paused_at {
                Some(p) => {
                    tenure.lost_at = Some(p.max(tenure.elected_at));
                    tenure.how = "paused";
                }
                None => {
                    tenure.lost_at = Some(t);
                    tenure.how = how;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_state(
        &mut self,
        seq: u64,
        t: Nanos,
        node: &str,
        pid: Option<u32>,
        role: Role,
        term: u64,
        leader: Option<&str>,
    ) {
        let Some(i) = self.intern(node) else { return };
        let life = self.model.life.get(i).cloned().unwrap_or_default();
        if let (Some(p), Some(cur)) = (pid, life.pid) {
            if p != cur {
                self.stale_lines += 1;
                return;
            }
        }
        self.states_seen += 1;
        if i < self.model.n {
            if let Some(mut q) = self.quorum_leader.take() {
                q.on_state(i, role, term, t, seq, &|j| self.node_name(j));
                self.quorum_leader = Some(q);
            }
            if let Some(mut v) = self.vote_quorum.take() {
                v.on_state(i, role == Role::Leader, term, t, seq, &|j| {
                    self.node_name(j)
                });
                self.vote_quorum = Some(v);
            }
        }
        let inc = life.incarnation;
        // term-monotonic
        if let Some((last_term, last_seq, last_t, last_inc)) = self.views[i].last_state {
            if term < last_term && (last_inc == inc || self.header.persistent_term) {
                self.tm_decreases += 1;
                if self.tm_evidence.len() < MAX_EVIDENCE {
                    let mut seqs = vec![last_seq];
                    let restart = if last_inc != inc {
                        life.last_start_seq
                    } else {
                        None
                    };
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
                    self.tm_evidence.push(Evidence {
                        seqs,
                        window: [last_t, t],
                        nodes: vec![node.to_string()],
                        message,
                    });
                }
            }
        }
        self.views[i].last_state = Some((term, seq, t, inc));
        // term-uniqueness and leader-agreement
        if role == Role::Leader {
            self.claims_seen += 1;
            self.ever_leader = true;
            self.claim_term(i, term, seq, t);
            self.name_leader(term, i, i, seq, t, true);
        }
        if let Some(l) = leader {
            if !(role == Role::Leader && l == node) {
                if let Some(li) = self.intern(l) {
                    self.name_leader(term, li, i, seq, t, false);
                }
            }
        }
        // The model: only a live incarnation of a known node claims.
        if !self.model.is_node(i) || !life.alive {
            return;
        }
        // Stability: a node reporting a higher term than the effective leader forces an election.
        if let Some((p, pterm, _)) = self.prev_leader {
            if p != i && term > pterm && self.disruptor.is_none() && !self.prev_disrupted {
                self.disruptor = Some((i, term, seq));
            }
        }
        let bit = 1u128 << i;
        let stale_inputs_before = self.views[i].stale_leader_inputs();
        self.views[i].term = term;
        if self.views[i].reported.map(|r| r.0) != Some(term) {
            self.views[i].reported = Some((term, seq));
        }
        if role == Role::Leader {
            let same = matches!(self.views[i].belief, Some(c) if c.term == term);
            if !same {
                self.close_tenure(i, t, "superseded");
                self.views[i].belief = Some(Claim { term, seq });
                self.tenures.push(Tenure {
                    term,
                    leader: i as u32,
                    elected_at: t,
                    lost_at: None,
                    how: "end of run",
                    seq,
                });
                self.views[i].tenure = Some(self.tenures.len() - 1);
                // Older tenures of other nodes are superseded by a higher term.
                for j in 0..self.model.n {
                    if j != i {
                        if let Some(k) = self.views[j].tenure {
                            if self.tenures[k].term < term {
                                self.close_tenure(j, t, "superseded");
                            }
                        }
                    }
                }
            }
            self.belief_set |= bit;
            if !life.paused {
                if !same || !self.views[i].live_claim {
                    self.views[i].live_claim_seq = seq;
                }
                self.views[i].live_claim = true;
                self.live_claim_set |= bit;
            }
        } else if self.views[i].belief.is_some() {
            self.views[i].belief = None;
            self.views[i].live_claim = false;
            self.belief_set &= !bit;
            self.live_claim_set &= !bit;
            self.close_tenure(i, t, "stepped down");
        }
        self.recompute(seq, t, false);
        // Repeated observations change nothing a pair depends on.
        if self.views[i].stale_leader_inputs() != stale_inputs_before {
            self.update_stale_leader(seq, t, Some(i), false);
        }
    }

    /// Term-uniqueness: keep one claimant per term; compare a new claimant
    /// with it unless a restart of either separates them (non-persistent terms).
    fn claim_term(&mut self, i: usize, term: u64, seq: u64, t: Nanos) {
        let persistent = self.header.persistent_term;
        let (prev_node, prev_seq, prev_t, conflicted) = match self.term_claims.get(&term) {
            None => {
                self.term_claims.insert(
                    term,
                    TermClaim {
                        node: i as u32,
                        seq,
                        t,
                        conflicted: false,
                    },
                );
                return;
            }
            Some(c) => (c.node as usize, c.seq, c.t, c.conflicted),
        };
        if prev_node == i {
            return;
        }
        let comparable = persistent
            || (!self.restarted_since(prev_node, prev_seq) && !self.restarted_since(i, prev_seq));
        if !comparable {
            self.term_claims.insert(
                term,
                TermClaim {
                    node: i as u32,
                    seq,
                    t,
                    conflicted: false,
                },
            );
            return;
        }
        if conflicted {
            return;
        }
        self.term_claims.get_mut(&term).expect("present").conflicted = true;
        self.tu_conflicts += 1;
        if self.tu_evidence.len() < MAX_EVIDENCE {
            let (a, b) = (self.node_name(prev_node), self.node_name(i));
            self.tu_evidence.push(Evidence {
                seqs: vec![prev_seq, seq],
                window: [prev_t, t],
                nodes: vec![a.clone(), b.clone()],
                message: format!(
                    "term {term} has two leaders: {a} (seq {prev_seq}) and {b} (seq {seq})"
                ),
            });
        }
    }

    /// Leader-agreement: `reporter` names `leader` for `term` (a claim when
    /// they are the same node and `is_claim`).
    fn name_leader(
        &mut self,
        term: u64,
        leader: usize,
        reporter: usize,
        seq: u64,
        t: Nanos,
        is_claim: bool,
    ) {
        let persistent = self.header.persistent_term;
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
        let comparable = persistent
            || ![l0, r0, leader, reporter]
                .iter()
                .any(|&n| self.restarted_since(n, s0));
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
        self.la_conflicts += 1;
        if self.la_evidence.len() < MAX_EVIDENCE {
            let (a, b) = (self.node_name(l0), self.node_name(leader));
            let how = |l: usize, r: usize, s: u64| {
                if l == r {
                    format!("{} claimed it (seq {s})", self.node_name(l))
                } else {
                    format!(
                        "{} named {} (seq {s})",
                        self.node_name(r),
                        self.node_name(l)
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
            self.la_evidence.push(Evidence {
                seqs: vec![s0, seq],
                window: [t0, t],
                nodes,
                message,
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_vote(
        &mut self,
        seq: u64,
        t: Nanos,
        node: &str,
        pid: Option<u32>,
        term: u64,
        candidate: &str,
        voter_log: Option<[u64; 2]>,
        candidate_log: Option<[u64; 2]>,
    ) {
        let Some(i) = self.intern(node) else { return };
        if let (Some(p), Some(cur)) = (pid, self.model.life.get(i).and_then(|l| l.pid)) {
            if p != cur {
                self.stale_lines += 1;
                return;
            }
        }
        self.votes_seen += 1;
        let Some(c) = self.intern(candidate) else {
            return;
        };
        if let Some(mut v) = self.vote_quorum.take() {
            v.on_vote(i, c, term, t, seq, &|j| self.node_name(j));
            self.vote_quorum = Some(v);
        }
        match self.views[i].votes.get(&term).copied() {
            Some((c0, s0, t0)) if c0 as usize != c => {
                self.vo_double += 1;
                if self.vo_evidence.len() < MAX_EVIDENCE {
                    let first = self.node_name(c0 as usize);
                    let restart = self.last_start(i).filter(|&r| r > s0);
                    let mut seqs = vec![s0];
                    seqs.extend(restart);
                    seqs.push(seq);
                    let across = match restart {
                        Some(r) => format!(", across a restart (seq {r}) with persistent_term"),
                        None => String::new(),
                    };
                    self.vo_evidence.push(Evidence {
                        seqs,
                        window: [t0, t],
                        nodes: vec![node.to_string(), first.clone(), candidate.to_string()],
                        message: format!(
                            "{node} voted twice in term {term}: for {first} (seq {s0}) and for {candidate} (seq {seq}){across}"
                        ),
                    });
                }
            }
            Some(_) => {}
            None => {
                self.views[i].votes.insert(term, (c as u32, seq, t));
            }
        }
        if let (Some(v), Some(cl)) = (voter_log, candidate_log) {
            self.vu_judged += 1;
            if (cl[0], cl[1]) < (v[0], v[1]) {
                self.vu_stale += 1;
                if self.vu_evidence.len() < MAX_EVIDENCE {
                    self.vu_evidence.push(Evidence {
                        seqs: vec![seq],
                        window: [t, t],
                        nodes: vec![node.to_string(), candidate.to_string()],
                        message: format!(
                            "{node} voted for {candidate} in term {term} although the candidate's log [{}, {}] is behind the voter's [{}, {}]",
                            cl[0], cl[1], v[0], v[1]
                        ),
                    });
                }
            }
        }
    }

    /// Stale-leader: re-evaluate the pairs `node` takes part in (every pair
    /// when `None`) after the event `seq` at `t`.
    fn update_stale_leader(&mut self, seq: u64, t: Nanos, node: Option<usize>, lifecycle: bool) {
        let Some(mut stale) = self.stale.take() else {
            return;
        };
        let n = self.model.n;
        match node {
            Some(i) if i < n => {
                for j in (0..n).filter(|&j| j != i) {
                    stale.observe(i, j, self.stale_contact(i, j), t, seq, lifecycle);
                    stale.observe(j, i, self.stale_contact(j, i), t, seq, lifecycle);
                }
            }
            Some(_) => {}
            None => {
                for l in 0..n {
                    for m in (0..n).filter(|&m| m != l) {
                        stale.observe(l, m, self.stale_contact(l, m), t, seq, lifecycle);
                    }
                }
            }
        }
        self.stale = Some(stale);
    }

    /// Is `leader` exposed to `peer` now: a live claim in a term below the
    /// live peer's reported term, with both able to hear each other (links
    /// both ways; via infrastructure: both reach the live services)?
    fn stale_contact(&self, leader: usize, peer: usize) -> Option<Contact> {
        let l = &self.views[leader];
        if !l.live_claim {
            return None;
        }
        let claim = l.belief?;
        let (peer_term, peer_seq) = self.views[peer].reported?;
        if peer_term <= claim.term
            || !self.model.life[leader].live()
            || !self.model.life[peer].live()
        {
            return None;
        }
        let hear = match self.model.liveness {
            Liveness::PeerQuorum => self.model.connected(leader, peer),
            Liveness::ViaInfrastructure => {
                self.model.in_quorum_among(leader, !0) && self.model.in_quorum_among(peer, !0)
            }
        };
        hear.then_some(Contact {
            claim_term: claim.term,
            claim_seq: l.live_claim_seq,
            peer_term,
            peer_seq,
        })
    }

    /// Re-derive the healthy quorum, the effective leader and the claim sets
    /// after a change at `t`; open/close gaps, judge elections, overlaps.
    fn recompute(&mut self, seq: u64, t: Nanos, lifecycle: bool) {
        if !self.liveness_on {
            return;
        }
        let quorum = self.model.healthy_quorum();
        self.quorum_now = quorum;
        self.ever_quorum |= quorum;
        // The previous effective leader must stay live and inside a healthy quorum.
        if lifecycle && !self.prev_disrupted {
            if let Some((p, _, _)) = self.prev_leader {
                if !self.model.life[p].live() || !self.model.in_healthy_quorum(p) {
                    self.prev_disrupted = true;
                }
            }
        }
        // Effective leader: a live claimant in a healthy quorum whose members report no higher term.
        let mut leader: Option<(usize, u64)> = None;
        if quorum {
            let mut claimants = self.belief_set;
            while claimants != 0 {
                let i = claimants.trailing_zeros() as usize;
                claimants &= claimants - 1;
                if !self.model.life[i].live() {
                    continue;
                }
                let term = self.views[i].term;
                if leader.is_some_and(|(_, lt)| lt >= term) {
                    continue;
                }
                let mut no_higher: NodeSet = 0;
                for j in 0..self.model.n {
                    if self.views[j].term <= term {
                        no_higher |= 1u128 << j;
                    }
                }
                let effective = match self.model.liveness {
                    Liveness::PeerQuorum => self.model.in_quorum_among(i, no_higher),
                    Liveness::ViaInfrastructure => {
                        self.model.in_quorum_among(i, !0)
                            && self.model.infra_members() & !no_higher == 0
                    }
                };
                if effective {
                    leader = Some((i, term));
                }
            }
        }
        self.leader_now = leader.map(|(i, _)| i);
        // Gaps.
        match (leader, self.stretch.take()) {
            (Some(_), Some(s)) => {
                if s.quorum_ns > 0 {
                    self.gaps.push(ElectionGap {
                        opened_at: s.opened_at,
                        closed_at: t,
                        length_ns: s.quorum_ns,
                        causes: s.causes,
                        leader_seq: leader
                            .and_then(|(i, _)| self.views[i].belief)
                            .map_or(seq, |c| c.seq),
                    });
                    if s.quorum_ns > self.gap_bound_ns {
                        self.gaps_over_bound += 1;
                    }
                }
                self.stretch = None;
            }
            (None, None) => {
                let causes: Causes = if self.active_faults.is_empty() {
                    vec![self.last_fault]
                } else {
                    self.active_faults
                        .iter()
                        .rev()
                        .map(|&(_, kind, seq)| (kind, seq))
                        .collect()
                };
                self.stretch = Some(Stretch {
                    opened_at: t,
                    quorum_ns: 0,
                    causes,
                })
            }
            (None, open) => self.stretch = open,
            (Some(_), None) => {}
        }
        // Stability.
        if let Some((e, term)) = leader {
            let claim_seq = self.views[e].belief.map_or(seq, |c| c.seq);
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
        // Overlaps.
        let tol = self.tolerance_ns;
        self.live_overlap
            .update(t, self.live_claim_set, &self.views, tol);
        self.belief_overlap
            .update(t, self.belief_set, &self.views, u64::MAX);
    }

    fn finish(
        mut self: Box<Self>,
        enabled: [bool; CHECKER_COUNT],
        events: u64,
        mut warnings: Vec<String>,
    ) -> Report {
        let end_t = self.end_t;
        // Close overlap episodes at the end of the history.
        let tol = self.tolerance_ns;
        self.live_overlap.update(end_t, 0, &self.views, tol);
        self.belief_overlap.update(end_t, 0, &self.views, u64::MAX);
        if let Some(stale) = &mut self.stale {
            stale.close_all(end_t);
        }
        warnings.append(&mut self.history_warnings);
        if self.t_went_back {
            warnings.push("`t` decreased along `seq` somewhere; times were clamped".into());
        }
        if self.garbage > 0 {
            warnings.push(format!(
                "{} garbage lines (stdout that was not a protocol object)",
                self.garbage
            ));
        }
        if self.stale_lines > 0 {
            warnings.push(format!(
                "{} state/vote lines from a previous incarnation (stale pid) were ignored",
                self.stale_lines
            ));
        }
        if self.model.overflow {
            warnings.push(format!(
                "more than {} nodes and services: the rest are ignored",
                crate::model::MAX_NAMES
            ));
        }
        if !self.ended {
            warnings.push("the history has no `end` record: the run was cut short".into());
        }
        let mut results = Vec::new();
        for (k, name) in CHECKER_NAMES.iter().enumerate() {
            if !enabled[k] {
                continue;
            }
            let r = match k {
                TERM_UNIQUENESS => self.result_term_uniqueness(),
                TERM_MONOTONIC => self.result_term_monotonic(),
                ELECTION_GAP => self.result_election_gap(),
                STABILITY => self.result_stability(),
                LEASE_OVERLAP => self.result_lease_overlap(),
                LEADER_AGREEMENT => self.result_leader_agreement(),
                STALE_LEADER => match &self.stale {
                    Some(stale) => stale.result(&|i| self.node_name(i)),
                    None => unreachable!("stale-leader is tracked when selected"),
                },
                VOTE_ONCE => self.result_vote_once(),
                VOTE_UP_TO_DATE => self.result_vote_up_to_date(),
                QUORUM_LEADER => match &self.quorum_leader {
                    Some(q) => q.result(),
                    None => quorum_leader::not_applicable(),
                },
                VOTE_QUORUM => self.result_vote_quorum(),
                CRASHES => self.result_crashes(),
                _ => unreachable!(),
            };
            debug_assert_eq!(r.checker, *name);
            results.push(self.distrust_if_bypassed(k, r));
        }
        let elections = self
            .tenures
            .iter()
            .map(|x| Election {
                term: x.term,
                leader: self.node_name(x.leader as usize),
                elected_at: x.elected_at,
                lost_at: x.lost_at,
                how: x.how.to_string(),
                seq: x.seq,
            })
            .collect();
        Report {
            results,
            elections,
            warnings,
            events,
        }
    }

    /// Verdicts that depend on which links were down mean nothing when node
    /// traffic bypassed the proxy during a run with network faults: the
    /// recorded cuts may never have happened. Safety verdicts stand.
    fn distrust_if_bypassed(&self, k: usize, mut r: CheckResult) -> CheckResult {
        let (Some(seq), true) = (self.bypass_seq, self.had_network_fault) else {
            return r;
        };
        let judged_from_links = match k {
            ELECTION_GAP | STABILITY | STALE_LEADER => true,
            // Not applicable (via-infrastructure): nothing judged to distrust.
            QUORUM_LEADER => self.quorum_leader.is_some(),
            _ => false,
        };
        if !judged_from_links {
            return r;
        }
        r.verdict = Verdict::Unknown;
        r.figure = format!("{} (unreliable: proxy bypassed)", r.figure);
        r.evidence.insert(
            0,
            Evidence {
                seqs: vec![seq],
                window: [0, 0],
                nodes: vec![],
                message: "node-to-node traffic bypassed the proxy, so the recorded network faults may not have taken effect".into(),
            },
        );
        r
    }

    fn result_term_uniqueness(&self) -> CheckResult {
        let terms = self.term_claims.len();
        let verdict = if self.tu_conflicts > 0 {
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
        let mut evidence = self.tu_evidence.clone();
        if self.claims_seen == 0 {
            evidence.push(note("no leader claim was observed: nothing to compare"));
        }
        CheckResult {
            checker: "term-uniqueness".into(),
            verdict,
            figure: format!("{terms} terms, {} conflicts", self.tu_conflicts),
            evidence,
            details: json!({
                "terms": terms,
                "claims": self.claims_seen,
                "conflicts": self.tu_conflicts,
                "conflicting_terms": conflicting,
                "persistent_term": self.header.persistent_term,
            }),
        }
    }

    fn result_term_monotonic(&self) -> CheckResult {
        let verdict = if self.tm_decreases > 0 {
            Verdict::Invalid
        } else if self.states_seen == 0 {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        let mut evidence = self.tm_evidence.clone();
        if self.states_seen == 0 {
            evidence.push(note("no state was observed"));
        }
        CheckResult {
            checker: "term-monotonic".into(),
            verdict,
            figure: format!(
                "{} states, {} decreases",
                self.states_seen, self.tm_decreases
            ),
            evidence,
            details: json!({
                "states": self.states_seen,
                "decreases": self.tm_decreases,
                "persistent_term": self.header.persistent_term,
            }),
        }
    }

    fn result_leader_agreement(&self) -> CheckResult {
        let mut unclaimed: Vec<(u64, &TermLeader)> = self
            .term_leaders
            .iter()
            .filter(|(_, e)| !e.claimed && e.named_by_other.is_some())
            .map(|(t, e)| (*t, e))
            .collect();
        unclaimed.sort_by_key(|(t, _)| *t);
        let mut evidence = self.la_evidence.clone();
        for (term, e) in unclaimed
            .iter()
            .take(MAX_EVIDENCE.saturating_sub(evidence.len()).max(3))
        {
            let (r, s, t) = e.named_by_other.expect("filtered");
            let (l, r) = (
                self.node_name(e.leader as usize),
                self.node_name(r as usize),
            );
            evidence.push(Evidence {
                seqs: vec![s],
                window: [t, t],
                nodes: vec![r.clone(), l.clone()],
                message: format!("{r} named {l} leader of term {term}, but {l} was never seen claiming term {term}"),
            });
        }
        let verdict = if self.la_conflicts > 0 {
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
                self.la_conflicts,
                unclaimed.len()
            ),
            evidence,
            details: json!({
                "terms": self.term_leaders.len(),
                "disagreements": self.la_conflicts,
                "unclaimed_namings": unclaimed.len(),
                "unclaimed_terms": unclaimed_terms,
            }),
        }
    }

    fn votes_expected(&self) -> bool {
        self.header
            .extra
            .get("votes_expected")
            .and_then(|v| v.as_bool())
            == Some(true)
    }

    fn no_votes(&self, name: &str) -> Option<CheckResult> {
        if self.votes_seen > 0 {
            return None;
        }
        let expected = self.votes_expected();
        let (verdict, figure, message) = if expected {
            (
                Verdict::Unknown,
                "no vote events (expected)",
                "the header says vote events are expected, but none were recorded",
            )
        } else {
            (
                Verdict::Valid,
                "not applicable: no vote events",
                "the target emits no vote events; nothing to judge",
            )
        };
        Some(CheckResult {
            checker: name.into(),
            verdict,
            figure: figure.into(),
            evidence: vec![note(message)],
            details: json!({"applicable": false, "votes": 0, "votes_expected": expected}),
        })
    }

    fn result_vote_quorum(&mut self) -> CheckResult {
        // Without vote events, a peer-quorum target is judged from the terms
        // its nodes reported; elections through a service have no voters.
        let from_terms = self.votes_seen == 0
            && !self.votes_expected()
            && self.header.liveness == Liveness::PeerQuorum;
        if !from_terms {
            if let Some(r) = self.no_votes("vote-quorum") {
                return r;
            }
        }
        let mut tally = self
            .vote_quorum
            .take()
            .expect("vote-quorum is tracked when selected");
        let r = if from_terms {
            tally.result_from_terms(&|j| self.node_name(j))
        } else {
            tally.result(&|j| self.node_name(j))
        };
        self.vote_quorum = Some(tally);
        r
    }

    fn result_vote_once(&self) -> CheckResult {
        if let Some(r) = self.no_votes("vote-once") {
            return r;
        }
        CheckResult {
            checker: "vote-once".into(),
            verdict: if self.vo_double > 0 {
                Verdict::Invalid
            } else {
                Verdict::Valid
            },
            figure: format!("{} votes, {} double votes", self.votes_seen, self.vo_double),
            evidence: self.vo_evidence.clone(),
            details: json!({
                "applicable": true,
                "votes": self.votes_seen,
                "double_votes": self.vo_double,
                "persistent_term": self.header.persistent_term,
            }),
        }
    }

    fn result_vote_up_to_date(&self) -> CheckResult {
        if let Some(r) = self.no_votes("vote-up-to-date") {
            return r;
        }
        // Votes without log positions come from elections that keep no log
        // (or do not report it): the rule is vacuous there, exactly as when
        // no vote events exist at all, so say "not applicable", not unknown.
        if self.vu_judged == 0 {
            return CheckResult {
                checker: "vote-up-to-date".into(),
                verdict: Verdict::Valid,
                figure: "not applicable: no vote carried log positions".into(),
                evidence: vec![note(
                    "no vote carried both voter_log and candidate_log; nothing to judge",
                )],
                details: json!({
                    "applicable": false,
                    "votes": self.votes_seen,
                    "judged": 0,
                    "stale_log_votes": 0,
                }),
            };
        }
        let verdict = if self.vu_stale > 0 {
            Verdict::Invalid
        } else {
            Verdict::Valid
        };
        CheckResult {
            checker: "vote-up-to-date".into(),
            verdict,
            figure: format!(
                "{} votes judged, {} for a stale log",
                self.vu_judged, self.vu_stale
            ),
            evidence: self.vu_evidence.clone(),
            details: json!({
                "applicable": true,
                "votes": self.votes_seen,
                "judged": self.vu_judged,
                "stale_log_votes": self.vu_stale,
            }),
        }
    }

    fn result_crashes(&self) -> CheckResult {
        let expected = self.header.crashes_expected;
        let verdict = if self.crash_count > 0 && !expected {
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
            let name = self.node_name(*who as usize);
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
                format!("{} crashes (expected by the target)", self.crash_count)
            } else {
                format!("{} crashes", self.crash_count)
            },
            evidence,
            details: json!({"crashes": self.crash_count, "crashes_expected": expected, "list": list}),
        }
    }

    fn result_lease_overlap(&self) -> CheckResult {
        let exclusive = self.header.exclusive;
        let live = &self.live_overlap;
        let belief = &self.belief_overlap;
        let violated = exclusive && live.over_tolerance > 0;
        let mut evidence = vec![];
        let push_ep =
            |kind: &str, ep: &(Nanos, Nanos, NodeSet, Vec<u64>), evidence: &mut Vec<Evidence>| {
                let nodes = self.set_names(ep.2);
                evidence.push(Evidence {
                    seqs: ep.3.clone(),
                    window: [ep.0, ep.1],
                    nodes: nodes.clone(),
                    message: format!(
                        "{kind} overlap of {} ms: {} claimed leadership at once",
                        ms(ep.1 - ep.0),
                        nodes.join(", ")
                    ),
                });
            };
        if violated {
            for ep in &live.evidence {
                push_ep("live", ep, &mut evidence);
            }
        } else if let Some(ep) = &live.longest {
            push_ep("longest live", ep, &mut evidence);
        }
        if let Some(ep) = &belief.longest {
            push_ep("longest belief", ep, &mut evidence);
        }
        let tolerance_ms = self.header.overlap_tolerance_ms;
        CheckResult {
            checker: "lease-overlap".into(),
            verdict: if violated {
                Verdict::Invalid
            } else {
                Verdict::Valid
            },
            figure: format!(
                "live {} ms (longest {} ms), belief {} ms (longest {} ms)",
                ms(live.total_ns),
                ms(live.longest_ns),
                ms(belief.total_ns),
                ms(belief.longest_ns)
            ),
            evidence,
            details: json!({
                "live_total_ms": ms(live.total_ns),
                "live_longest_ms": ms(live.longest_ns),
                "live_episodes": live.episodes,
                "live_over_tolerance": live.over_tolerance,
                "belief_total_ms": ms(belief.total_ns),
                "belief_longest_ms": ms(belief.longest_ns),
                "belief_episodes": belief.episodes,
                "tolerance_ms": tolerance_ms,
                "exclusive": exclusive,
            }),
        }
    }

    fn result_stability(&self) -> CheckResult {
        let max = self.header.max_unnecessary_elections;
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
                self.node_name(leader),
                self.node_name(forced_by),
                self.node_name(prev),
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

    /// Every fault a gap is blamed on, for `details` (only written when
    /// there is more than one, so one-at-a-time runs keep their old shape).
    fn causes_json(&self, causes: &Causes) -> serde_json::Value {
        causes
            .iter()
            .map(|&(k, seq)| json!({"fault": self.fault_kinds[k], "fault_seq": seq}))
            .collect()
    }

    fn result_election_gap(&self) -> CheckResult {
        let bound_ns = self.gap_bound_ns;
        let (end_t, stretch, ngaps, over) = match &self.stop {
            Some(s) => (s.t, s.stretch.clone(), s.gaps, s.gaps_over_bound),
            None => (
                self.end_t,
                self.stretch.clone(),
                self.gaps.len(),
                self.gaps_over_bound,
            ),
        };
        let gaps = &self.gaps[..ngaps];
        let resolution_ms = match self.header.observation {
            Source::Probe => self.header.probe_interval_ms,
            Source::Stdout => None,
        };
        let res_note = resolution_ms
            .map(|r| format!(" (±{r} ms probe resolution)"))
            .unwrap_or_default();
        // Per fault kind statistics.
        let mut by_kind: Vec<Vec<u64>> = vec![vec![]; self.fault_kinds.len()];
        for g in gaps {
            // A gap counts once for every kind of fault it is blamed on.
            let mut kinds: Vec<usize> = g.causes.iter().map(|c| c.0).collect();
            kinds.sort_unstable();
            kinds.dedup();
            for k in kinds {
                by_kind[k].push(g.length_ns);
            }
        }
        let stats = |v: &mut Vec<u64>| {
            v.sort_unstable();
            let p = |q: f64| {
                let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
                ms(v[rank - 1])
            };
            json!({"count": v.len(), "p50_ms": p(0.50), "p95_ms": p(0.95), "p99_ms": p(0.99), "max_ms": ms(*v.last().unwrap_or(&0))})
        };
        let mut by_fault = vec![];
        for (k, v) in by_kind.iter_mut().enumerate() {
            if v.is_empty() {
                continue;
            }
            let mut s = stats(v);
            s["fault"] = json!(self.fault_kinds[k]);
            by_fault.push(s);
        }
        let mut all: Vec<u64> = gaps.iter().map(|g| g.length_ns).collect();
        let overall = if all.is_empty() {
            json!({"count": 0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0})
        } else {
            stats(&mut all)
        };
        let max_ns = gaps.iter().map(|g| g.length_ns).max().unwrap_or(0);
        let open = stretch.filter(|s| s.quorum_ns > 0);
        let blamed = |causes: &Causes| {
            let names: Vec<&str> = causes
                .iter()
                .map(|c| self.fault_kinds[c.0].as_str())
                .collect();
            match names.as_slice() {
                [one] => one.to_string(),
                _ => format!("{} (in force together)", names.join(" + ")),
            }
        };
        let mut evidence = vec![];
        // Gaps over the bound, longest first.
        let mut long: Vec<&ElectionGap> = gaps.iter().filter(|g| g.length_ns > bound_ns).collect();
        long.sort_by_key(|g| std::cmp::Reverse(g.length_ns));
        for g in long.iter().take(MAX_EVIDENCE) {
            let mut seqs: Vec<u64> = g.causes.iter().map(|c| c.1).collect();
            seqs.sort_unstable();
            seqs.push(g.leader_seq);
            evidence.push(Evidence {
                seqs,
                window: [g.opened_at, g.closed_at],
                nodes: vec![],
                message: format!(
                    "no effective leader for {} ms of healthy-quorum time (bound {} ms) after {}{res_note}",
                    ms(g.length_ns),
                    ms(bound_ns),
                    blamed(&g.causes)
                ),
            });
        }
        let cut_short = self.interrupted || !self.ended;
        let mut open_json = serde_json::Value::Null;
        if let Some(s) = &open {
            let mut seqs: Vec<u64> = s.causes.iter().map(|c| c.1).collect();
            seqs.sort_unstable();
            evidence.insert(
                0,
                Evidence {
                    seqs,
                    window: [s.opened_at, end_t],
                    nodes: vec![],
                    message: format!(
                        "a leaderless stretch opened after {} is still open at the end of the history ({} ms of healthy-quorum time without an effective leader){res_note}",
                        blamed(&s.causes),
                        ms(s.quorum_ns)
                    ),
                },
            );
            open_json = json!({
                "opened_at_ns": s.opened_at,
                "length_ms": ms(s.quorum_ns),
                "fault": self.fault_kinds[s.causes[0].0],
                "fault_seq": s.causes[0].1,
            });
            if s.causes.len() > 1 {
                open_json["faults"] = self.causes_json(&s.causes);
            }
        }
        let never = !self.ever_leader && !self.ever_quorum;
        let verdict = if over > 0 || open.as_ref().is_some_and(|s| s.quorum_ns > bound_ns) {
            Verdict::Invalid
        } else if never {
            evidence.push(note(
                "no leader was ever observed and no healthy quorum ever existed",
            ));
            Verdict::Unknown
        } else if open.is_some() {
            if cut_short {
                Verdict::Unknown
            } else {
                Verdict::Invalid
            }
        } else {
            Verdict::Valid
        };
        let listed: Vec<serde_json::Value> = gaps
            .iter()
            .take(MAX_LISTED)
            .map(|g| {
                let mut gap = json!({
                    "opened_at_ns": g.opened_at,
                    "closed_at_ns": g.closed_at,
                    "length_ms": ms(g.length_ns),
                    "fault": self.fault_kinds[g.causes[0].0],
                    "fault_seq": g.causes[0].1,
                    "leader_seq": g.leader_seq,
                });
                if g.causes.len() > 1 {
                    gap["faults"] = self.causes_json(&g.causes);
                }
                gap
            })
            .collect();
        let figure = format!(
            "{} gaps, max {} ms (bound {} ms){}{res_note}",
            gaps.len(),
            ms(max_ns),
            ms(bound_ns),
            if open.is_some() {
                ", one open at the end"
            } else {
                ""
            }
        );
        CheckResult {
            checker: "election-gap".into(),
            verdict,
            figure,
            evidence,
            details: json!({
                "bound_ms": ms(bound_ns),
                "resolution_ms": resolution_ms,
                "count": gaps.len(),
                "over_bound": over,
                "max_ms": ms(max_ns),
                "overall": overall,
                "by_fault": by_fault,
                "open_at_end": open_json,
                "healthy_quorum_ms": ms(self.quorum_total_ns),
                "ever_leader": self.ever_leader,
                "ever_healthy_quorum": self.ever_quorum,
                "gaps": listed,
            }),
        }
    }
}

pub(crate) fn note(message: &str) -> Evidence {
    Evidence {
        seqs: vec![],
        window: [0, 0],
        nodes: vec![],
        message: message.to_string(),
    }
}
