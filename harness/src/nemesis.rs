//! The nemesis: walks a seeded schedule (from `workloads`) and makes each
//! operation take effect on the real cluster, recording it at that moment.
//! Aims such as "the leader" are resolved against the history as recorded.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use checkers::history::{Event, NemesisRecord};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use workloads::{ClusterView, Effect, NetState, Op, ResolvedOp, Schedule, ScheduledOp};

use crate::cluster::Cluster;
use crate::network::Network;
use crate::recorder::{Moment, Recorder};

/// Why a datagram-only fault changed nothing on a TCP target, for the
/// schedule listing and the history (never silently skipped).
pub const TCP_DATAGRAM_NOTE: &str =
    "no effect on TCP: a stream neither duplicates nor reorders (recorded, nothing changed)";

/// How long a killed node's stdout may take to drain before `kill` is recorded.
const KILL_DRAIN: Duration = Duration::from_millis(300);

/// How faults that react to the history behave.
#[derive(Debug, Clone)]
pub struct ReactiveConfig {
    /// The reactive presets asked for.
    pub presets: Vec<workloads::Preset>,
    /// How long a reactive pause or cut lasts.
    pub fault_duration: Duration,
    /// Quiet time after a reactive fault is undone before the next one.
    pub settle: Duration,
    /// Wait before cutting a new leader, so its first heartbeat goes out.
    pub heartbeat: Duration,
}

/// An undo (or delayed action) of a reactive fault.
#[derive(Debug, Clone)]
enum Pending {
    Resume(usize),
    Cut(String, u64),
    Heal,
}

/// Whose contribution a part of the network state is: faults that overlap
/// each own theirs, so undoing one leaves the others in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    /// The fault of a one-at-a-time schedule (or a hand-written op).
    Single,
    /// Fault number K of a schedule whose faults overlap.
    Fault(u32),
    /// A reactive cut.
    Reactive,
}

impl Slot {
    fn of(entry: Option<u32>) -> Slot {
        entry.map_or(Slot::Single, Slot::Fault)
    }
}

/// Applies a schedule to a cluster.
pub struct Nemesis<'a> {
    pending: VecDeque<ScheduledOp>,
    start: Instant,
    rng: ChaCha8Rng,
    rec: &'a Recorder,
    network: Network<'a>,
    rt: &'a tokio::runtime::Runtime,
    /// Flap phases still to apply: (when, cut on?, whose), in time order.
    flap: Vec<(Instant, bool, Slot)>,
    /// Each flap's state while its cut is on.
    flap_states: BTreeMap<Slot, NetState>,
    /// The network state each active fault contributes; what is in force is
    /// their composition ([`NetState::compose`]).
    nets: BTreeMap<Slot, NetState>,
    /// The nodes each active process fault of an overlapping schedule holds
    /// (killed or paused), so its undo restarts or resumes only those.
    held: BTreeMap<u32, Vec<String>>,
    /// The network state currently in force.
    net: NetState,
    /// The nodes talk TCP: duplication and reordering change nothing, which
    /// the history says instead of skipping them silently.
    tcp: bool,
    /// Infrastructure services, which network faults can cut nodes from.
    infrastructure: Vec<String>,
    reactive: Option<(ReactiveConfig, std::sync::mpsc::Receiver<Moment>)>,
    /// Reactive actions due later.
    pending_reactive: VecDeque<(Instant, Pending)>,
    /// No new reactive fault before this.
    quiet_until: Instant,
}

impl<'a> Nemesis<'a> {
    /// Start walking `schedule` now.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        schedule: Schedule,
        seed: u64,
        tcp: bool,
        infrastructure: Vec<String>,
        reactive: Option<ReactiveConfig>,
        rec: &'a Recorder,
        network: Network<'a>,
        rt: &'a tokio::runtime::Runtime,
    ) -> Nemesis<'a> {
        Nemesis {
            pending: schedule.entries.into(),
            start: Instant::now(),
            // A stream separate from the schedule's: resolution choices.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x006e_656d_6573_6973),
            rec,
            network,
            rt,
            flap: Vec::new(),
            flap_states: BTreeMap::new(),
            nets: BTreeMap::new(),
            held: BTreeMap::new(),
            net: NetState::healed(),
            tcp,
            infrastructure,
            reactive: reactive
                .filter(|r| !r.presets.is_empty())
                .map(|r| (r, rec.tap())),
            pending_reactive: VecDeque::new(),
            quiet_until: Instant::now(),
        }
    }

    /// When something is due next.
    pub fn next_wakeup(&self) -> Option<Instant> {
        if self.reactive.is_some() {
            // Moments arrive on a channel: look at it often.
            return Some(Instant::now() + Duration::from_millis(2));
        }
        let op = self.pending.front().map(|e| self.start + e.at);
        let flap = self.flap.first().map(|(t, _, _)| *t);
        match (op, flap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Apply every operation and flap phase that is due.
    pub fn step(&mut self, cluster: &mut Cluster) {
        self.step_timers_only(cluster);
        self.step_reactive(cluster);
        while let Some(e) = self.pending.front() {
            if self.start + e.at > Instant::now() {
                break;
            }
            let e = self.pending.pop_front().expect("front exists");
            self.apply_entry(&e.op, e.fault, cluster);
        }
    }

    /// Apply due flap phases only (the recovery window has no new faults).
    pub fn step_timers_only(&mut self, _cluster: &mut Cluster) {
        while let Some(&(when, on, slot)) = self.flap.first() {
            if when > Instant::now() {
                break;
            }
            self.flap.remove(0);
            match (on, self.flap_states.get(&slot)) {
                (true, Some(state)) => {
                    self.nets.insert(slot, state.clone());
                }
                _ => {
                    self.nets.remove(&slot);
                }
            }
            self.set_composed_network();
        }
    }

    /// React to votes and new leaders recorded since the last step.
    fn step_reactive(&mut self, cluster: &mut Cluster) {
        while let Some(&(when, _)) = self.pending_reactive.front() {
            if when > Instant::now() {
                break;
            }
            let (_, action) = self.pending_reactive.pop_front().expect("front exists");
            match action {
                Pending::Resume(i) => {
                    self.rec.record(Event::Nemesis(NemesisRecord {
                        op: "resume".into(),
                        nodes: vec![cluster.nodes[i].id.clone()],
                        detail: None,
                    }));
                    cluster.resume(i);
                }
                Pending::Cut(node, term) => {
                    // Only if it still leads the term it took office in.
                    let still = self.rec.leader().as_deref() == Some(node.as_str());
                    if still && !self.nets.contains_key(&Slot::Reactive) {
                        let endpoints: Vec<String> = cluster
                            .ids()
                            .into_iter()
                            .chain(self.infrastructure.iter().cloned())
                            .collect();
                        let cut = workloads::topology::isolate(&node, &endpoints);
                        self.rec.record(Event::Nemesis(NemesisRecord {
                            op: "isolate".into(),
                            nodes: vec![node.clone()],
                            detail: Some(
                                serde_json::json!({"reactive": "cut-new-leader", "term": term}),
                            ),
                        }));
                        self.nets.insert(
                            Slot::Reactive,
                            NetState {
                                cut,
                                degraded: Default::default(),
                            },
                        );
                        self.set_composed_network();
                        let (cfg, _) = self.reactive.as_ref().expect("reactive");
                        let heal_at = Instant::now() + cfg.fault_duration;
                        self.quiet_until = heal_at + cfg.settle;
                        self.pending_reactive.push_back((heal_at, Pending::Heal));
                    }
                }
                Pending::Heal => {
                    self.rec.record(Event::Nemesis(NemesisRecord {
                        op: "heal".into(),
                        nodes: vec![],
                        detail: None,
                    }));
                    self.nets.remove(&Slot::Reactive);
                    self.set_composed_network();
                }
            }
        }
        let Some((cfg, rx)) = &self.reactive else {
            return;
        };
        let cfg = cfg.clone();
        let moments: Vec<Moment> = rx.try_iter().collect();
        for m in moments {
            if Instant::now() < self.quiet_until || !self.pending_reactive.is_empty() {
                continue;
            }
            use workloads::Preset;
            match m {
                Moment::VoteGranted { node, term } if cfg.presets.contains(&Preset::KillVoter) => {
                    let Some(i) = cluster.index_of(&node) else {
                        continue;
                    };
                    // Half the votes, seeded: a campaign is not one kill after another.
                    if !self.rng.gen_bool(0.5) || !cluster.is_up(i) {
                        continue;
                    }
                    self.rec.record(Event::Nemesis(NemesisRecord {
                        op: "kill".into(),
                        nodes: vec![node.clone()],
                        detail: Some(serde_json::json!({"reactive": "kill-voter", "term": term})),
                    }));
                    cluster.kill(i, KILL_DRAIN);
                    self.restart_dead(cluster, "restart");
                    self.quiet_until = Instant::now() + cfg.settle;
                }
                Moment::TookOffice { node, term } => {
                    let Some(i) = cluster.index_of(&node) else {
                        continue;
                    };
                    if cfg.presets.contains(&Preset::PauseNewLeader)
                        && (self.rng.gen_bool(0.5) || !cfg.presets.contains(&Preset::CutNewLeader))
                    {
                        self.rec.record(Event::Nemesis(NemesisRecord {
                            op: "pause".into(),
                            nodes: vec![node.clone()],
                            detail: Some(
                                serde_json::json!({"reactive": "pause-new-leader", "term": term}),
                            ),
                        }));
                        cluster.pause(i);
                        let resume_at = Instant::now() + cfg.fault_duration;
                        self.quiet_until = resume_at + cfg.settle;
                        self.pending_reactive
                            .push_back((resume_at, Pending::Resume(i)));
                    } else if cfg.presets.contains(&Preset::CutNewLeader) {
                        self.pending_reactive
                            .push_back((Instant::now() + cfg.heartbeat, Pending::Cut(node, term)));
                    }
                }
                _ => {}
            }
        }
    }

    fn view(&self, cluster: &Cluster) -> ClusterView {
        let ids = cluster.ids();
        let live = (0..ids.len())
            .filter(|&i| cluster.is_up(i) && !cluster.nodes[i].paused)
            .map(|i| ids[i].clone());
        let paused = (0..ids.len())
            .filter(|&i| cluster.is_up(i) && cluster.nodes[i].paused)
            .map(|i| ids[i].clone());
        ClusterView {
            nodes: ids.clone(),
            leader: self.rec.leader(),
            live: live.collect(),
            paused: paused.collect(),
            infrastructure: self.infrastructure.clone(),
        }
    }

    /// Resolve and apply one schedule entry now; `fault` is its number in a
    /// schedule whose faults overlap (its undo then undoes only it).
    fn apply_entry(&mut self, op: &Op, fault: Option<u32>, cluster: &mut Cluster) {
        if let (Some(k), false) = (fault, op.is_fault()) {
            self.undo_fault(op, k, cluster);
            return;
        }
        let view = self.view(cluster);
        let mut resolved = match workloads::resolve(op, &view, &mut self.rng) {
            Ok(r) => r,
            Err(e) => {
                self.warn(
                    "nemesis",
                    format!("{} could not be applied: {e}", op.kind()),
                );
                return;
            }
        };
        if self.tcp && op.is_datagram_only() {
            resolved.note = Some(TCP_DATAGRAM_NOTE.to_string());
            if let Effect::Network(state) = &mut resolved.effect {
                state.degraded.clear();
            }
        }
        if let Some(k) = fault {
            if matches!(resolved.effect, Effect::Kill { .. } | Effect::Pause { .. }) {
                self.held.insert(k, resolved.nodes.clone());
            }
        }
        self.apply_resolved(resolved, Slot::of(fault), cluster);
    }

    /// The undo of fault `k` of an overlapping schedule: restart or resume
    /// the nodes it holds, or withdraw its part of the network state; the
    /// other faults stay in force.
    fn undo_fault(&mut self, op: &Op, k: u32, cluster: &mut Cluster) {
        let detail = Some(serde_json::json!({ "fault": k }));
        let held = self.held.remove(&k).unwrap_or_default();
        let held: Vec<usize> = held.iter().filter_map(|n| cluster.index_of(n)).collect();
        match op {
            Op::Restart => {
                let dead: Vec<usize> = held.into_iter().filter(|&i| !cluster.is_up(i)).collect();
                if dead.is_empty() {
                    return;
                }
                self.rec.record(Event::Nemesis(NemesisRecord {
                    op: "restart".into(),
                    nodes: dead.iter().map(|&i| cluster.nodes[i].id.clone()).collect(),
                    detail,
                }));
                for i in dead {
                    self.start_node(cluster, i);
                }
            }
            Op::Resume => {
                let paused: Vec<usize> = held
                    .into_iter()
                    .filter(|&i| cluster.nodes[i].paused)
                    .collect();
                if paused.is_empty() {
                    return;
                }
                self.rec.record(Event::Nemesis(NemesisRecord {
                    op: "resume".into(),
                    nodes: paused
                        .iter()
                        .map(|&i| cluster.nodes[i].id.clone())
                        .collect(),
                    detail,
                }));
                for i in paused {
                    cluster.resume(i);
                }
            }
            _ => {
                let slot = Slot::Fault(k);
                self.flap.retain(|(_, _, s)| *s != slot);
                self.flap_states.remove(&slot);
                if self.nets.remove(&slot).is_none() {
                    return;
                }
                self.rec.record(Event::Nemesis(NemesisRecord {
                    op: op.kind().into(),
                    nodes: vec![],
                    detail,
                }));
                self.set_composed_network();
            }
        }
    }

    fn apply_resolved(&mut self, r: ResolvedOp, slot: Slot, cluster: &mut Cluster) {
        let indices: Vec<usize> = r.nodes.iter().filter_map(|n| cluster.index_of(n)).collect();
        let record = {
            let mut record = r.nemesis_record();
            if let Slot::Fault(k) = slot {
                let detail = record.detail.get_or_insert_with(|| serde_json::json!({}));
                detail["fault"] = serde_json::json!(k);
            }
            record
        };
        match &r.effect {
            Effect::Kill { .. } => {
                self.rec.record(Event::Nemesis(record));
                for i in indices {
                    cluster.kill(i, KILL_DRAIN);
                }
            }
            Effect::Pause { .. } => {
                self.rec.record(Event::Nemesis(record));
                for i in indices {
                    cluster.pause(i);
                }
            }
            Effect::Resume => {
                let paused: Vec<usize> = (0..cluster.nodes.len())
                    .filter(|&i| cluster.nodes[i].paused)
                    .collect();
                if paused.is_empty() {
                    return;
                }
                self.rec.record(Event::Nemesis(NemesisRecord {
                    op: "resume".into(),
                    nodes: paused
                        .iter()
                        .map(|&i| cluster.nodes[i].id.clone())
                        .collect(),
                    detail: None,
                }));
                for i in paused {
                    cluster.resume(i);
                }
            }
            Effect::Restart => self.restart_dead(cluster, "restart"),
            Effect::Network(state) => {
                self.flap.retain(|(_, _, s)| *s != slot);
                self.flap_states.remove(&slot);
                if state.is_healed() {
                    self.nets.remove(&slot);
                } else {
                    self.nets.insert(slot, state.clone());
                }
                self.rec.record(Event::Nemesis(record));
                self.set_composed_network();
            }
            Effect::Flap {
                faulty,
                period,
                count,
            } => {
                let now = Instant::now();
                self.flap.retain(|(_, _, s)| *s != slot);
                self.flap_states.insert(slot, faulty.clone());
                // The first phase (cut on) is applied right now, with the nemesis line.
                self.flap.extend(
                    workloads::flap_phases(*period, *count)
                        .into_iter()
                        .skip(1)
                        .map(|(d, on)| (now + d, on, slot)),
                );
                self.flap.sort_by_key(|(when, _, _)| *when);
                self.nets.insert(slot, faulty.clone());
                self.rec.record(Event::Nemesis(record));
                self.set_composed_network();
            }
            Effect::Recover => self.recover(cluster),
        }
    }

    /// Put in force what every active fault contributes together.
    fn set_composed_network(&mut self) {
        self.set_network(NetState::compose(self.nets.values()));
    }

    fn set_network(&mut self, state: NetState) {
        let rules = to_rules(&state);
        match self.network.apply(self.rt, rules) {
            Ok(record) => {
                self.rec.record(Event::Net(record.clone()));
                if let Err(e) = self.network.verify(&record) {
                    self.warn(
                        "nemesis",
                        format!("network state differs from the record: {e}"),
                    );
                }
            }
            Err(e) => {
                self.warn("nemesis", format!("network change failed: {e}"));
                return;
            }
        }
        self.net = state;
    }

    fn restart_dead(&mut self, cluster: &mut Cluster, op: &str) {
        let dead: Vec<usize> = (0..cluster.nodes.len())
            .filter(|&i| !cluster.is_up(i))
            .collect();
        if dead.is_empty() {
            return;
        }
        self.rec.record(Event::Nemesis(NemesisRecord {
            op: op.into(),
            nodes: dead.iter().map(|&i| cluster.nodes[i].id.clone()).collect(),
            detail: None,
        }));
        for i in dead {
            self.start_node(cluster, i);
        }
    }

    /// Start a new incarnation of node `i`; a failure is a warning in the
    /// history (the node stays down), never silent.
    fn start_node(&mut self, cluster: &mut Cluster, i: usize) {
        match cluster.start(i) {
            Ok(pid) => {
                self.network.set_owner(&cluster.nodes[i].id, pid);
            }
            Err(e) => self.warn(
                "restart",
                format!("restarting {} failed: {e}", cluster.nodes[i].id),
            ),
        }
    }

    /// Something the nemesis could not do, recorded where readers look.
    fn warn(&self, kind: &str, message: String) {
        self.rec
            .record(Event::Warning(checkers::history::WarningRecord {
                kind: kind.into(),
                message,
            }));
    }

    /// The final phase: heal the network, resume paused nodes, restart dead ones.
    pub fn recover(&mut self, cluster: &mut Cluster) {
        self.pending.clear();
        self.flap.clear();
        self.flap_states.clear();
        self.nets.clear();
        self.held.clear();
        self.pending_reactive.clear();
        self.reactive = None;
        let paused: BTreeSet<usize> = (0..cluster.nodes.len())
            .filter(|&i| cluster.nodes[i].paused)
            .collect();
        let dead: BTreeSet<usize> = (0..cluster.nodes.len())
            .filter(|&i| !cluster.is_up(i))
            .collect();
        self.rec.record(Event::Nemesis(NemesisRecord {
            op: "recover".into(),
            nodes: paused
                .union(&dead)
                .map(|&i| cluster.nodes[i].id.clone())
                .collect(),
            detail: None,
        }));
        if !self.net.is_healed() || self.network.any_cut() {
            self.set_network(NetState::healed());
        }
        for i in paused {
            cluster.resume(i);
        }
        for i in dead {
            self.start_node(cluster, i);
        }
    }
}

fn to_rules(state: &NetState) -> proxy::LinkRules {
    let mut rules = proxy::LinkRules::healed();
    rules.cut = state.cut.clone();
    rules.degraded = state
        .degraded
        .iter()
        .map(|(link, f)| {
            (
                link.clone(),
                proxy::LinkFault {
                    loss: f.loss,
                    delay: f.delay,
                    jitter: f.jitter,
                    duplicate: f.duplicate,
                    reorder: f.reorder,
                    duplicate_delay: f.duplicate_delay,
                    reorder_window: f.reorder_window,
                },
            )
        })
        .collect();
    rules
}
