//! Seeded generator of realistic, correct histories.
//!
//! The benchmark needs millions of events that look like a real run, and the
//! property tests need histories whose ground truth is known. [`SynthHistory`]
//! simulates a cluster that elects exactly one leader per term (terms grow
//! globally, votes go once per term to an up-to-date candidate) while a
//! nemesis kills, pauses and isolates nodes, and yields the records a
//! controller would write: header, process and net events, elections, and
//! steady-state observations. The same seed gives the same history.

use std::collections::VecDeque;

use crate::history::{
    EndRecord, Event, ExitStatus, NemesisRecord, NetRecord, NodeEventRecord, ProcessEvent,
    ProcessRecord, Record, Role, RunHeader, Source, StateRecord, VoteRecord,
};
use crate::Nanos;

/// What kind of history to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Seed: the same seed gives the same history.
    pub seed: u64,
    /// Cluster size.
    pub nodes: usize,
    /// Approximate number of events (the final stop adds a few).
    pub events: u64,
    /// Terms survive restarts (and the header says so).
    pub persistent_term: bool,
    /// Emit `vote` events.
    pub votes: bool,
    /// Steady-state observations per fault round (min, max).
    pub steady_events: (u32, u32),
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            nodes: 5,
            events: 10_000,
            persistent_term: true,
            votes: true,
            steady_events: (50, 300),
        }
    }
}

/// SplitMix64: tiny, fast, seedable; enough for a workload generator.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

#[derive(Debug, Clone)]
struct SimNode {
    name: String,
    alive: bool,
    paused: bool,
    /// Cut off from everyone (isolated by the nemesis).
    isolated: bool,
    pid: u32,
    term: u64,
    role: Role,
    leader: Option<usize>,
    log: [u64; 2],
}

/// An iterator of records forming one realistic, valid history.
#[derive(Debug)]
pub struct SynthHistory {
    cfg: SynthConfig,
    rng: SplitMix,
    nodes: Vec<SimNode>,
    queue: VecDeque<Record>,
    seq: u64,
    t: Nanos,
    next_pid: u32,
    max_term: u64,
    leader: Option<usize>,
    phase: u8,
}

/// Generate a whole history in memory (tests, small benches).
pub fn history(cfg: SynthConfig) -> Vec<Record> {
    SynthHistory::new(cfg).collect()
}

const MS: u64 = 1_000_000;

impl SynthHistory {
    /// A generator for `cfg`.
    pub fn new(cfg: SynthConfig) -> Self {
        let nodes = (1..=cfg.nodes.max(1))
            .map(|i| SimNode {
                name: format!("n{i}"),
                alive: false,
                paused: false,
                isolated: false,
                pid: 0,
                term: 0,
                role: Role::Follower,
                leader: None,
                log: [0, 0],
            })
            .collect();
        Self {
            rng: SplitMix::new(cfg.seed),
            cfg,
            nodes,
            queue: VecDeque::new(),
            seq: 0,
            t: 0,
            next_pid: 1000,
            max_term: 0,
            leader: None,
            phase: 0,
        }
    }

    /// The header this generator writes.
    pub fn header(&self) -> RunHeader {
        RunHeader {
            format: crate::history::FORMAT_VERSION,
            target: "synth".into(),
            nodes: self.nodes.iter().map(|n| n.name.clone()).collect(),
            seed: self.cfg.seed,
            nemesis: "synth".into(),
            election_timeout_ms: [150, 300],
            heartbeat_ms: Some(50),
            gap_bound_ms: 3000,
            persistent_term: self.cfg.persistent_term,
            exclusive: false,
            liveness: Default::default(),
            observation: Source::Stdout,
            probe_interval_ms: None,
            overlap_tolerance_ms: 5.0,
            infrastructure: vec![],
            crashes_expected: false,
            max_unnecessary_elections: None,
            time_limit_ms: 0,
            recovery_ms: 0,
            replay: None,
            tcp_backoff: false,
            extra: Default::default(),
        }
    }

    fn emit(&mut self, event: Event) {
        self.queue.push_back(Record {
            seq: self.seq,
            t: self.t,
            event,
        });
        self.seq += 1;
    }

    fn tick(&mut self, lo_ms: u64, hi_ms: u64) {
        self.t += self.rng.range(lo_ms * MS, hi_ms * MS);
    }

    fn state(&mut self, i: usize) {
        let n = &self.nodes[i];
        let rec = StateRecord {
            node: n.name.clone(),
            pid: Some(n.pid),
            role: n.role,
            term: n.term,
            leader: n.leader.map(|l| self.nodes[l].name.clone()),
            src: Source::Stdout,
        };
        self.emit(Event::State(rec));
    }

    fn process(&mut self, i: usize, event: ProcessEvent) {
        let n = &self.nodes[i];
        let expected = matches!(event, ProcessEvent::Exit).then_some(true);
        let status = matches!(event, ProcessEvent::Exit).then_some(ExitStatus {
            code: None,
            signal: Some(9),
        });
        self.emit(Event::Process(ProcessRecord {
            node: n.name.clone(),
            event,
            pid: Some(n.pid),
            status,
            expected,
            stderr_tail: None,
        }));
    }

    fn nemesis(&mut self, op: &str, targets: &[usize]) {
        let nodes = targets
            .iter()
            .map(|&i| self.nodes[i].name.clone())
            .collect();
        self.emit(Event::Nemesis(NemesisRecord {
            op: op.into(),
            nodes,
            detail: None,
        }));
    }

    fn net(&mut self) {
        let mut cut = vec![];
        for (i, a) in self.nodes.iter().enumerate() {
            for (j, b) in self.nodes.iter().enumerate() {
                if i != j && (a.isolated || b.isolated) {
                    cut.push([a.name.clone(), b.name.clone()]);
                }
            }
        }
        self.emit(Event::Net(NetRecord {
            cut,
            degraded: vec![],
        }));
    }

    fn start(&mut self, i: usize) {
        self.next_pid += 1;
        let persistent = self.cfg.persistent_term;
        let n = &mut self.nodes[i];
        n.alive = true;
        n.paused = false;
        n.pid = self.next_pid;
        n.role = Role::Follower;
        n.leader = None;
        if !persistent {
            n.term = 0;
        }
        self.process(i, ProcessEvent::Start);
        self.tick(1, 5);
        self.process(i, ProcessEvent::Ready);
        self.state(i);
    }

    /// Nodes that can take part in an election now.
    fn component(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive && !self.nodes[i].paused && !self.nodes[i].isolated)
            .collect()
    }

    fn elect(&mut self) {
        let comp = self.component();
        if comp.len() < self.nodes.len() / 2 + 1 {
            return;
        }
        self.tick(150, 300);
        // The most up-to-date node wins (ties: random).
        let best = comp
            .iter()
            .map(|&i| self.nodes[i].log)
            .max()
            .unwrap_or([0, 0]);
        let eligible: Vec<usize> = comp
            .iter()
            .copied()
            .filter(|&i| self.nodes[i].log == best)
            .collect();
        let c = eligible[self.rng.range(0, eligible.len() as u64 - 1) as usize];
        self.max_term += 1;
        let term = self.max_term;
        {
            let n = &mut self.nodes[c];
            n.term = term;
            n.role = Role::Candidate;
            n.leader = None;
        }
        self.state(c);
        self.tick(1, 3);
        for &v in &comp {
            if v == c {
                continue;
            }
            {
                let n = &mut self.nodes[v];
                n.term = term;
                n.role = Role::Follower;
                n.leader = None;
            }
            self.state(v);
            if self.cfg.votes {
                let rec = VoteRecord {
                    node: self.nodes[v].name.clone(),
                    pid: Some(self.nodes[v].pid),
                    term,
                    candidate: self.nodes[c].name.clone(),
                    voter_log: Some(self.nodes[v].log),
                    candidate_log: Some(self.nodes[c].log),
                };
                self.emit(Event::Vote(rec));
            }
        }
        self.tick(1, 3);
        {
            let n = &mut self.nodes[c];
            n.role = Role::Leader;
            n.leader = Some(c);
            n.log = [term, n.log[1] + 1];
        }
        self.leader = Some(c);
        self.state(c);
        // Followers learn the leader at the same instant (equal `t`).
        for &v in &comp {
            if v != c {
                self.nodes[v].leader = Some(c);
                self.state(v);
            }
        }
    }

    /// Steady state: repeated observations and node-specific events.
    fn steady(&mut self) {
        let (lo, hi) = self.cfg.steady_events;
        let k = self.rng.range(lo as u64, hi.max(lo) as u64);
        for _ in 0..k {
            self.tick(1, 20);
            let i = self.rng.range(0, self.nodes.len() as u64 - 1) as usize;
            let n = &self.nodes[i];
            if !n.alive || n.paused {
                continue;
            }
            if self.rng.range(0, 9) == 0 {
                let rec = NodeEventRecord {
                    node: n.name.clone(),
                    pid: Some(n.pid),
                    event: serde_json::json!({"type": "commit", "index": n.log[1]}),
                };
                self.emit(Event::NodeEvent(rec));
            } else {
                if let Some(l) = self.leader {
                    if l == i && !n.isolated {
                        // The leader appends; followers in its component catch up.
                        self.nodes[i].log[1] += 1;
                        let log = self.nodes[i].log;
                        for j in self.component() {
                            if self.nodes[j].leader == Some(l) {
                                self.nodes[j].log = log;
                            }
                        }
                    }
                }
                self.state(i);
            }
        }
    }

    fn random_live(&mut self) -> Option<usize> {
        let live: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive && !self.nodes[i].paused)
            .collect();
        if live.is_empty() {
            None
        } else {
            Some(live[self.rng.range(0, live.len() as u64 - 1) as usize])
        }
    }

    /// One fault round: break something, elect if needed, repair, observe.
    fn round(&mut self) {
        self.steady();
        self.tick(50, 500);
        let leader = self.leader;
        match self.rng.range(0, 4) {
            0 => {
                // Kill the leader (or a random node), elect, restart it.
                let Some(v) = leader.or_else(|| self.random_live()) else {
                    return;
                };
                self.nemesis("kill", &[v]);
                self.process(v, ProcessEvent::Kill);
                self.nodes[v].alive = false;
                self.process(v, ProcessEvent::Exit);
                if leader == Some(v) {
                    self.leader = None;
                    self.elect();
                }
                self.steady();
                self.tick(100, 1000);
                self.nemesis("restart", &[v]);
                self.start(v);
                self.follow(v);
            }
            1 => {
                // Kill a follower: no gap.
                let Some(v) = self.random_live() else { return };
                if Some(v) == leader {
                    return;
                }
                self.nemesis("kill", &[v]);
                self.process(v, ProcessEvent::Kill);
                self.nodes[v].alive = false;
                self.process(v, ProcessEvent::Exit);
                self.steady();
                self.nemesis("restart", &[v]);
                self.start(v);
                self.follow(v);
            }
            2 => {
                // Pause the leader; the rest elect; resume: it steps down at once.
                let Some(v) = leader else { return };
                self.nemesis("pause", &[v]);
                self.process(v, ProcessEvent::Pause);
                self.nodes[v].paused = true;
                self.leader = None;
                self.elect();
                self.steady();
                self.tick(100, 1000);
                self.nemesis("resume", &[v]);
                self.process(v, ProcessEvent::Resume);
                self.nodes[v].paused = false;
                self.follow(v);
            }
            _ => {
                // Isolate the leader; the majority elects; heal.
                let Some(v) = leader else { return };
                self.nemesis("isolate", &[v]);
                self.nodes[v].isolated = true;
                self.net();
                self.leader = None;
                self.elect();
                self.steady();
                self.tick(100, 1000);
                self.nemesis("heal", &[]);
                self.nodes[v].isolated = false;
                self.net();
                // The old leader hears the higher term within a heartbeat
                // (50 ms) and steps down: a prompt, not instant, reaction.
                self.tick(1, 50);
                self.follow(v);
            }
        }
        if self.leader.is_none() {
            self.elect();
        }
    }

    /// `v` (restarted, resumed or rejoined) learns the current term and leader.
    fn follow(&mut self, v: usize) {
        let term = self.max_term;
        let leader = self.leader.filter(|&l| l != v);
        let n = &mut self.nodes[v];
        if n.term == term && n.role == Role::Follower && n.leader == leader {
            return;
        }
        n.term = n.term.max(term);
        n.role = Role::Follower;
        n.leader = leader;
        if self.leader == Some(v) {
            self.leader = None;
        }
        self.state(v);
    }

    fn refill(&mut self) {
        match self.phase {
            0 => {
                let h = self.header();
                self.emit(Event::Run(h));
                for i in 0..self.nodes.len() {
                    self.tick(1, 3);
                    self.start(i);
                }
                self.elect();
                self.phase = 1;
            }
            1 => {
                if self.seq + 20 >= self.cfg.events {
                    self.phase = 2;
                    return self.refill();
                }
                self.round();
            }
            2 => {
                // Final stop: kill everything (no nemesis op), then `end`.
                self.tick(100, 500);
                for i in 0..self.nodes.len() {
                    if self.nodes[i].alive {
                        if self.nodes[i].paused {
                            self.process(i, ProcessEvent::Resume);
                        }
                        self.process(i, ProcessEvent::Kill);
                        self.nodes[i].alive = false;
                        self.process(i, ProcessEvent::Exit);
                    }
                }
                self.tick(1, 2);
                self.emit(Event::End(EndRecord {
                    interrupted: false,
                    reason: None,
                }));
                self.phase = 3;
            }
            _ => {}
        }
    }
}

impl Iterator for SynthHistory {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        while self.queue.is_empty() && self.phase < 3 {
            self.refill();
        }
        self.queue.pop_front()
    }
}
