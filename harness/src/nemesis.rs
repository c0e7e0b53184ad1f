//! The nemesis: walks a seeded schedule (from `workloads`) and makes each
//! operation take effect on the real cluster, recording it at that moment.
//! Aims such as "the leader" are resolved against the history as recorded.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use checkers::history::{Event, NemesisRecord};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use workloads::{ClusterView, Effect, NetState, Op, ResolvedOp, Schedule, ScheduledOp};

use crate::cluster::Cluster;
use crate::recorder::{Moment, Recorder};

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

/// Applies a schedule to a cluster.
pub struct Nemesis<'a> {
    pending: VecDeque<ScheduledOp>,
    start: Instant,
    rng: ChaCha8Rng,
    rec: &'a Recorder,
    proxy: &'a proxy::Proxy,
    rt: &'a tokio::runtime::Runtime,
    /// Flap phases still to apply: (when, cut on?).
    flap: VecDeque<(Instant, bool)>,
    flap_state: Option<NetState>,
    /// The network state currently in force.
    net: NetState,
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
    pub fn new(
        schedule: Schedule,
        seed: u64,
        infrastructure: Vec<String>,
        reactive: Option<ReactiveConfig>,
        rec: &'a Recorder,
        proxy: &'a proxy::Proxy,
        rt: &'a tokio::runtime::Runtime,
    ) -> Nemesis<'a> {
        Nemesis {
            pending: schedule.entries.into(),
            start: Instant::now(),
            // A stream separate from the schedule's: resolution choices.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x006e_656d_6573_6973),
            rec,
            proxy,
            rt,
            flap: VecDeque::new(),
            flap_state: None,
            net: NetState::healed(),
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
        let flap = self.flap.front().map(|(t, _)| *t);
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
            self.apply(&e.op, cluster);
        }
    }

    /// Apply due flap phases only (the recovery window has no new faults).
    pub fn step_timers_only(&mut self, _cluster: &mut Cluster) {
        while let Some(&(when, on)) = self.flap.front() {
            if when > Instant::now() {
                break;
            }
            self.flap.pop_front();
            let state = if on {
                self.flap_state.clone().unwrap_or_else(NetState::healed)
            } else {
                NetState::healed()
            };
            self.set_network(state);
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
                    if still && self.net.is_healed() {
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
                        self.set_network(NetState {
                            cut,
                            degraded: Default::default(),
                        });
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
                    self.set_network(NetState::healed());
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

    /// Resolve and apply one operation now.
    pub fn apply(&mut self, op: &Op, cluster: &mut Cluster) {
        let view = self.view(cluster);
        let resolved = match workloads::resolve(op, &view, &mut self.rng) {
            Ok(r) => r,
            Err(e) => {
                self.warn(
                    "nemesis",
                    format!("{} could not be applied: {e}", op.kind()),
                );
                return;
            }
        };
        self.apply_resolved(resolved, cluster);
    }

    fn apply_resolved(&mut self, r: ResolvedOp, cluster: &mut Cluster) {
        let indices: Vec<usize> = r.nodes.iter().filter_map(|n| cluster.index_of(n)).collect();
        match &r.effect {
            Effect::Kill { .. } => {
                self.rec.record(Event::Nemesis(r.nemesis_record()));
                for i in indices {
                    cluster.kill(i, KILL_DRAIN);
                }
            }
            Effect::Pause { .. } => {
                self.rec.record(Event::Nemesis(r.nemesis_record()));
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
                let state = state.clone();
                self.flap.clear();
                self.apply_network_op(&r, state);
            }
            Effect::Flap {
                faulty,
                period,
                count,
            } => {
                let now = Instant::now();
                self.flap_state = Some(faulty.clone());
                self.flap = workloads::flap_phases(*period, *count)
                    .into_iter()
                    .map(|(d, on)| (now + d, on))
                    .collect();
                // The first phase (cut on) is applied right now, with the nemesis line.
                self.flap.pop_front();
                self.apply_network_op(&r, faulty.clone());
            }
            Effect::Recover => self.recover(cluster),
        }
    }

    /// Record the nemesis line, then make the network change and record the
    /// `net` line once it is in force.
    fn apply_network_op(&mut self, r: &ResolvedOp, state: NetState) {
        self.rec.record(Event::Nemesis(r.nemesis_record()));
        self.set_network(state);
    }

    fn set_network(&mut self, state: NetState) {
        let rules = to_rules(&state);
        if let Err(e) = self.rt.block_on(self.proxy.apply(rules)) {
            self.warn("nemesis", format!("network change failed: {e}"));
            return;
        }
        self.rec.record(Event::Net(self.proxy.net_record()));
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
                let _ = self.proxy.set_owner(&cluster.nodes[i].id, pid as i32);
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
        if !self.net.is_healed() || !self.proxy.rules().cut.is_empty() {
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
                },
            )
        })
        .collect();
    rules
}
