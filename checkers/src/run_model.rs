//! The streaming model every checker shares: updated once per event, before
//! any checker sees the event, so no checker re-derives who is live, who
//! claims leadership or which faults are in force.
//!
//! [`RunModel`] holds the replayed cluster ([`HistoryModel`]: lives, links,
//! healthy quorum), the interned names, per node the reported term and the
//! leadership claims in force, the faults in force, the effective leader and
//! the tenures for the elections table. [`RunModel::apply`] turns an event
//! into an [`Observation`]: what changed, in the model's terms, for the
//! checkers (module `checks`) to judge.

use crate::fast::Ev;
use crate::history::{
    ends_incarnation, ExitStatus, Liveness, Nanos, NemesisRecord, NetRecord, ProcessEvent, Role,
    RunHeader,
};
use crate::model::{HistoryModel, NodeSet};

/// Names interned beyond the header's (a garbage `leader` field must not grow memory).
const MAX_EXTRA_NAMES: usize = 1024;

/// History warnings kept (the first ones).
const MAX_HISTORY_WARNINGS: usize = 20;

/// A leadership claim in force (contract 4: from a `state` with `role=leader`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Claim {
    pub term: u64,
    pub seq: u64,
}

/// What the model remembers about one node.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeView {
    /// Reported term of the current incarnation (0 before any state).
    pub term: u64,
    /// Belief claim: last accepted state said leader (runs through a pause).
    pub belief: Option<Claim>,
    /// Live claim: ended by a pause until the node says leader again.
    pub live_claim: bool,
    /// Open tenure in `tenures`.
    pub tenure: Option<usize>,
    /// When the current pause began.
    pub paused_at: Option<Nanos>,
    /// `seq` of the state that started the current live claim.
    pub live_claim_seq: u64,
    /// Latest reported term of the current incarnation, with the `seq` of
    /// the first state in that term (stale-leader).
    pub reported: Option<(u64, u64)>,
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

/// Compact tenure record; becomes an [`Election`](crate::Election) at the end.
#[derive(Debug, Clone)]
pub(crate) struct Tenure {
    pub term: u64,
    pub leader: u32,
    pub elected_at: Nanos,
    pub lost_at: Option<Nanos>,
    pub how: &'static str,
    pub seq: u64,
}

/// The faults a stretch is blamed on: `(index into fault_kinds, seq)`.
pub(crate) type Causes = Vec<(usize, u64)>;

/// One event as the checkers see it, after the model took it in.
#[derive(Debug)]
pub(crate) struct Observation<'a> {
    pub seq: u64,
    pub t: Nanos,
    pub what: Observed<'a>,
    /// The model re-derived the healthy quorum and the effective leader
    /// after this event; `Some(true)` when a life or link changed (a
    /// lifecycle event), `Some(false)` after a state line.
    pub recomputed: Option<bool>,
}

/// What an event meant to the model.
#[derive(Debug)]
pub(crate) enum Observed<'a> {
    /// A `state` line of the current incarnation of `node`.
    State {
        node: usize,
        role: Role,
        term: u64,
        /// The node another one is named leader by this line (not a claim of
        /// its own), when its name could be interned.
        named: Option<usize>,
        /// A live incarnation of an election node: its claims were updated.
        applied: bool,
        /// Its live claim or reported term changed (stale-leader pairs).
        claim_changed: bool,
    },
    /// A `vote` of the current incarnation of `node` for `candidate`.
    Vote {
        node: usize,
        term: u64,
        candidate: usize,
        voter_log: Option<[u64; 2]>,
        candidate_log: Option<[u64; 2]>,
    },
    /// A `process` event.
    Process {
        /// The header's node or service (`None`: a name the header lacks).
        node: Option<usize>,
        event: ProcessEvent,
        status: Option<&'a ExitStatus>,
        stderr_tail: Option<&'a str>,
        /// An exit the nemesis did not cause: the name's index (interned),
        /// or `u32::MAX` when no more names can be interned.
        crash: Option<u32>,
        /// The event changed a life (start, pause, resume, the end of the
        /// current incarnation).
        applied: bool,
    },
    /// A `net` record: the link state in force.
    Net(&'a NetRecord),
    /// Anything no checker judges directly (nemesis ops, stale lines,
    /// garbage, warnings, end).
    Other,
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

/// The state every checker reads; only [`RunModel::apply`] changes it.
pub(crate) struct RunModel {
    pub header: RunHeader,
    pub history: HistoryModel,
    pub names: Vec<String>,
    pub views: Vec<NodeView>,
    /// Some checker judges liveness: track the healthy quorum and the
    /// effective leader (costly, so only then).
    pub liveness_on: bool,
    pub last_t: Nanos,
    pub end_t: Nanos,
    pub ended: bool,
    pub interrupted: bool,
    pub t_went_back: bool,
    pub stale_lines: u64,
    pub garbage: u64,
    pub history_warnings: Vec<String>,
    /// `seq` of a `bypass` warning: node traffic avoided the proxy.
    pub bypass_seq: Option<u64>,
    /// Some `net` event cut or degraded a link.
    pub had_network_fault: bool,
    /// Every `nemesis` op seen, `start` first (gaps are blamed by index).
    pub fault_kinds: Vec<String>,
    pub last_fault: (usize, u64),
    /// Faults of an overlapping schedule in force: `(detail.fault, kind, seq)`
    /// in the order they began; each undo removes its own.
    pub active_faults: Vec<(u64, usize, u64)>,
    pending_kills: NodeSet,
    /// When the final stop began (`None` while the run goes on).
    pub stop_at: Option<Nanos>,
    /// `state` lines of current incarnations.
    pub states_seen: u64,
    /// `vote` lines of current incarnations.
    pub votes_seen: u64,
    pub belief_set: NodeSet,
    pub live_claim_set: NodeSet,
    pub quorum_now: bool,
    /// The effective leader and its term (contract 4), when liveness is on.
    pub leader_now: Option<(usize, u64)>,
    pub ever_leader: bool,
    pub ever_quorum: bool,
    pub tenures: Vec<Tenure>,
}

impl RunModel {
    /// The model once the header (record `seq` at `t`) is known.
    pub fn new(h: &RunHeader, liveness_on: bool, seq: u64, t: Nanos) -> Self {
        let history = HistoryModel::new(h);
        let names = history.names.clone();
        let views = vec![NodeView::default(); names.len()];
        Self {
            header: h.clone(),
            history,
            names,
            views,
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
            stop_at: None,
            states_seen: 0,
            votes_seen: 0,
            belief_set: 0,
            live_claim_set: 0,
            quorum_now: false,
            leader_now: None,
            ever_leader: false,
            ever_quorum: false,
            tenures: vec![],
        }
    }

    /// Index of a name, interning names the header did not list (bounded).
    #[inline]
    fn intern(&mut self, name: &str) -> Option<usize> {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return Some(i);
        }
        if self.names.len() >= self.history.names.len() + MAX_EXTRA_NAMES {
            return None;
        }
        self.names.push(name.to_string());
        self.views.push(NodeView::default());
        Some(self.names.len() - 1)
    }

    /// Seq of the last start of `i` (`None`: never started or unknown name).
    pub fn last_start(&self, i: usize) -> Option<u64> {
        self.history.life.get(i).and_then(|l| l.last_start_seq)
    }

    /// Did `i` (re)start after `seq`?
    pub fn restarted_since(&self, i: usize, seq: u64) -> bool {
        self.last_start(i).is_some_and(|s| s > seq)
    }

    /// The name of index `i` (`?` for none).
    pub fn node_name(&self, i: usize) -> String {
        self.names.get(i).cloned().unwrap_or_else(|| "?".into())
    }

    /// The names of a set, in index order.
    pub fn set_names(&self, set: NodeSet) -> Vec<String> {
        let mut v = vec![];
        let mut s = set;
        while s != 0 {
            let i = s.trailing_zeros() as usize;
            s &= s - 1;
            v.push(self.node_name(i));
        }
        v
    }

    /// The header says the nodes print `vote` events.
    pub fn votes_expected(&self) -> bool {
        self.header
            .extra
            .get("votes_expected")
            .and_then(|v| v.as_bool())
            == Some(true)
    }

    /// Time moves to `t` (clamped: never back); returns the interval the
    /// state so far held for, which the checkers integrate before the event.
    pub fn advance(&mut self, t: Nanos) -> u64 {
        let t = if t < self.last_t {
            self.t_went_back = true;
            self.last_t
        } else {
            t
        };
        let dt = t - self.last_t;
        self.last_t = t;
        self.end_t = t;
        dt
    }

    /// Take in the event `seq` (after [`advance`](Self::advance)).
    pub fn apply<'a>(&mut self, seq: u64, ev: Ev<'a>) -> Observation<'a> {
        let t = self.last_t;
        let mut recomputed = None;
        let what = match ev {
            Ev::State {
                node,
                pid,
                role,
                term,
                leader,
            } => self.on_state(seq, t, node, pid, role, term, leader, &mut recomputed),
            Ev::Vote {
                node,
                pid,
                term,
                candidate,
                voter_log,
                candidate_log,
            } => self.on_vote(node, pid, term, candidate, voter_log, candidate_log),
            Ev::Process {
                node,
                event,
                pid,
                expected,
                status,
                stderr_tail,
            } => {
                let obs = self.on_process(seq, t, node, event, pid, expected, status, stderr_tail);
                if matches!(obs, Observed::Process { applied: true, .. }) {
                    recomputed = self.recompute(true);
                }
                obs
            }
            Ev::Net(net) => {
                self.had_network_fault |= !net.cut.is_empty() || !net.degraded.is_empty();
                self.stop_at = None;
                self.history.apply_net(net);
                recomputed = self.recompute(true);
                Observed::Net(net)
            }
            Ev::Nemesis(n) => {
                // The faults in force, and the final stop, are the model's.
                self.on_nemesis(seq, t, n);
                Observed::Other
            }
            Ev::End { interrupted } => {
                self.ended = true;
                self.interrupted = interrupted;
                Observed::Other
            }
            Ev::Garbage => {
                self.garbage += 1;
                Observed::Other
            }
            Ev::Warning(kind, m) => {
                if kind == "bypass" {
                    self.bypass_seq.get_or_insert(seq);
                }
                if self.history_warnings.len() < MAX_HISTORY_WARNINGS {
                    self.history_warnings.push(format!("seq {seq}: {m}"));
                }
                Observed::Other
            }
            Ev::Other | Ev::Run(_) => Observed::Other,
        };
        Observation {
            seq,
            t,
            what,
            recomputed,
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
            self.stop_at.get_or_insert(t);
            return;
        }
        self.stop_at = None;
        self.pending_kills = 0;
        if is_kill_op(&n.op) {
            for name in &n.nodes {
                if let Some(i) = self.history.index(name) {
                    self.pending_kills |= 1u128 << i;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_process<'a>(
        &mut self,
        seq: u64,
        t: Nanos,
        node: &str,
        event: ProcessEvent,
        pid: Option<u32>,
        expected: Option<bool>,
        status: Option<&'a ExitStatus>,
        stderr_tail: Option<&'a str>,
    ) -> Observed<'a> {
        let idx = self.history.index(node);
        let crash = (event == ProcessEvent::Exit && expected != Some(true)).then(|| match idx {
            Some(i) => i as u32,
            None => self.intern(node).map_or(u32::MAX, |i| i as u32),
        });
        let observed = |applied| Observed::Process {
            node: idx,
            event,
            status,
            stderr_tail,
            crash,
            applied,
        };
        let Some(i) = idx else {
            return observed(false);
        };
        let is_node = self.history.is_node(i);
        match event {
            ProcessEvent::Start => {
                self.stop_at = None;
                let life = &mut self.history.life[i];
                life.started = true;
                life.alive = true;
                life.paused = false;
                life.pid = pid;
                life.incarnation += 1;
                life.last_start_seq = Some(seq);
                self.pending_kills &= !(1u128 << i);
                self.end_claims(i, t, "exited");
                let v = &mut self.views[i];
                v.paused_at = None;
                v.reported = None;
                if !self.header.persistent_term {
                    v.term = 0;
                }
            }
            ProcessEvent::Ready => return observed(false),
            ProcessEvent::Kill | ProcessEvent::Exit
                if is_node && !ends_incarnation(pid, self.history.life[i].pid) =>
            {
                return observed(false);
            }
            ProcessEvent::Kill | ProcessEvent::Exit => {
                let bit = 1u128 << i;
                let was_alive = self.history.life[i].alive;
                let stop_like = match event {
                    ProcessEvent::Kill => self.pending_kills & bit == 0,
                    _ => expected == Some(true) && was_alive,
                };
                self.pending_kills &= !bit;
                if stop_like {
                    self.stop_at.get_or_insert(t);
                }
                let life = &mut self.history.life[i];
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
                self.history.life[i].paused = true;
                if is_node {
                    self.views[i].paused_at.get_or_insert(t);
                    self.views[i].live_claim = false;
                    self.live_claim_set &= !(1u128 << i);
                }
            }
            ProcessEvent::Resume => {
                self.stop_at = None;
                self.history.life[i].paused = false;
                self.views[i].paused_at = None;
            }
        }
        self.history.invalidate();
        observed(true)
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
    fn on_state<'a>(
        &mut self,
        seq: u64,
        t: Nanos,
        node: &str,
        pid: Option<u32>,
        role: Role,
        term: u64,
        leader: Option<&str>,
        recomputed: &mut Option<bool>,
    ) -> Observed<'a> {
        let Some(i) = self.intern(node) else {
            return Observed::Other;
        };
        let life = self.history.life.get(i).cloned().unwrap_or_default();
        if let (Some(p), Some(cur)) = (pid, life.pid) {
            if p != cur {
                self.stale_lines += 1;
                return Observed::Other;
            }
        }
        self.states_seen += 1;
        if role == Role::Leader {
            self.ever_leader = true;
        }
        let named = match leader {
            Some(l) if !(role == Role::Leader && l == node) => self.intern(l),
            _ => None,
        };
        let observed = |applied, claim_changed| Observed::State {
            node: i,
            role,
            term,
            named,
            applied,
            claim_changed,
        };
        // Only a live incarnation of a known node claims.
        if !self.history.is_node(i) || !life.alive {
            return observed(false, false);
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
                for j in 0..self.history.n {
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
        *recomputed = self.recompute(false);
        // Repeated observations change nothing a pair depends on.
        let claim_changed = self.views[i].stale_leader_inputs() != stale_inputs_before;
        observed(true, claim_changed)
    }

    fn on_vote<'a>(
        &mut self,
        node: &str,
        pid: Option<u32>,
        term: u64,
        candidate: &str,
        voter_log: Option<[u64; 2]>,
        candidate_log: Option<[u64; 2]>,
    ) -> Observed<'a> {
        let Some(i) = self.intern(node) else {
            return Observed::Other;
        };
        if let (Some(p), Some(cur)) = (pid, self.history.life.get(i).and_then(|l| l.pid)) {
            if p != cur {
                self.stale_lines += 1;
                return Observed::Other;
            }
        }
        self.votes_seen += 1;
        let Some(c) = self.intern(candidate) else {
            return Observed::Other;
        };
        Observed::Vote {
            node: i,
            term,
            candidate: c,
            voter_log,
            candidate_log,
        }
    }

    /// Re-derive the healthy quorum and the effective leader (a live
    /// claimant in a healthy quorum whose members report no higher term).
    fn recompute(&mut self, lifecycle: bool) -> Option<bool> {
        if !self.liveness_on {
            return None;
        }
        let quorum = self.history.healthy_quorum();
        self.quorum_now = quorum;
        self.ever_quorum |= quorum;
        let mut leader: Option<(usize, u64)> = None;
        if quorum {
            let mut claimants = self.belief_set;
            while claimants != 0 {
                let i = claimants.trailing_zeros() as usize;
                claimants &= claimants - 1;
                if !self.history.life[i].live() {
                    continue;
                }
                let term = self.views[i].term;
                if leader.is_some_and(|(_, lt)| lt >= term) {
                    continue;
                }
                let mut no_higher: NodeSet = 0;
                for j in 0..self.history.n {
                    if self.views[j].term <= term {
                        no_higher |= 1u128 << j;
                    }
                }
                let effective = match self.history.liveness {
                    Liveness::PeerQuorum => self.history.in_quorum_among(i, no_higher),
                    Liveness::ViaInfrastructure => {
                        self.history.in_quorum_among(i, !0)
                            && self.history.infra_members() & !no_higher == 0
                    }
                };
                if effective {
                    leader = Some((i, term));
                }
            }
        }
        self.leader_now = leader;
        Some(lifecycle)
    }

    /// The history's own problems, for the report's warnings.
    pub fn warnings(&mut self) -> Vec<String> {
        let mut warnings = std::mem::take(&mut self.history_warnings);
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
        if self.history.overflow {
            warnings.push(format!(
                "more than {} nodes and services: the rest are ignored",
                crate::model::MAX_NAMES
            ));
        }
        if !self.ended {
            warnings.push("the history has no `end` record: the run was cut short".into());
        }
        warnings
    }
}
