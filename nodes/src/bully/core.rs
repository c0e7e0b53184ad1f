//! The pure state machine of the bully algorithm (Garcia-Molina, 1982), with
//! a term added so its claims can be judged: no I/O, no clock, no randomness
//! of its own. The shell feeds it messages ([`BullyNode::step`]) and time
//! ([`BullyNode::tick`]) and carries out the [`Output`]s in order.
//!
//! The rules:
//! - A node that hears no coordinator for its timeout starts an election:
//!   term + 1, ELECTION to every higher-ranked node.
//! - A higher node that gets ELECTION answers OK and starts its own election
//!   (a coordinator answers OK and announces itself again instead).
//! - A candidate that gets no OK within `ok_timeout` announces COORDINATOR to
//!   all; one that got an OK waits `coordinator_wait` for the announcement
//!   and starts over without it.
//! - Every node adopts a higher term seen in any message (a leader or
//!   candidate seeing one becomes a follower). Announcements and heartbeats
//!   of the current term are accepted from higher nodes; from a lower node
//!   they start an election (the bully takes over).
//!
//! Nothing here needs a quorum, so a partitioned bully cluster elects one
//! coordinator per side: split brain, by design.

use std::cmp::Ordering;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A node's name (`n1`, ...).
pub type NodeId = String;

/// The rank the bully algorithm elects by: the number at the end of the id
/// (so `n10` outranks `n9`), then the whole id.
pub fn rank_cmp(a: &str, b: &str) -> Ordering {
    fn number(id: &str) -> Option<u64> {
        let digits = id.len() - id.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        id[id.len() - digits..].parse().ok()
    }
    number(a).cmp(&number(b)).then_with(|| a.cmp(b))
}

/// A bully message (one JSON object per UDP datagram). The sender names
/// itself in `from`: peers are reached through a proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// "I am electing in `term`; are you alive?" (to higher nodes).
    Election {
        /// The candidate.
        from: NodeId,
        /// The candidate's term.
        term: u64,
    },
    /// "I am alive and higher: I take over."
    Ok {
        /// The higher node.
        from: NodeId,
        /// Its term.
        term: u64,
    },
    /// "I am the coordinator of `term`."
    Coordinator {
        /// The new coordinator.
        from: NodeId,
        /// Its term.
        term: u64,
    },
    /// The coordinator is alive (every heartbeat interval).
    Heartbeat {
        /// The coordinator.
        from: NodeId,
        /// Its term.
        term: u64,
    },
}

impl Message {
    /// The sender.
    pub fn from(&self) -> &str {
        match self {
            Message::Election { from, .. }
            | Message::Ok { from, .. }
            | Message::Coordinator { from, .. }
            | Message::Heartbeat { from, .. } => from,
        }
    }

    /// The sender's term.
    pub fn term(&self) -> u64 {
        match self {
            Message::Election { term, .. }
            | Message::Ok { term, .. }
            | Message::Coordinator { term, .. }
            | Message::Heartbeat { term, .. } => *term,
        }
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("messages always serialize")
    }

    /// Parses a datagram; `None` if it is not a message.
    pub fn decode(bytes: &[u8]) -> Option<Message> {
        serde_json::from_slice(bytes).ok()
    }
}

/// What a node believes it is (reported in `state` events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BullyRole {
    /// Follows a coordinator (or waits for one).
    Follower,
    /// Electing: waiting for OKs or for the announcement.
    Candidate,
    /// The coordinator.
    Leader,
}

impl BullyRole {
    /// The name used in `state` events.
    pub fn as_str(self) -> &'static str {
        match self {
            BullyRole::Follower => "follower",
            BullyRole::Candidate => "candidate",
            BullyRole::Leader => "leader",
        }
    }
}

/// Everything that shapes a node's behaviour, fixed for its lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BullyConfig {
    /// This node's name.
    pub id: NodeId,
    /// Every other node.
    pub peers: Vec<NodeId>,
    /// How often a coordinator sends heartbeats.
    pub heartbeat_interval: Duration,
    /// A follower that hears no coordinator for a random time in this range
    /// starts an election (random, so equal nodes do not all start at once).
    pub coordinator_timeout: (Duration, Duration),
    /// A candidate with no OK after this long becomes coordinator.
    pub ok_timeout: Duration,
    /// A candidate that got an OK waits this long for the announcement.
    pub coordinator_wait: Duration,
}

impl BullyConfig {
    /// Default timing: 50 ms heartbeats, 300–450 ms coordinator timeout,
    /// 100 ms for OKs, 300 ms for the announcement.
    pub fn new(id: impl Into<NodeId>, peers: Vec<NodeId>) -> Self {
        BullyConfig {
            id: id.into(),
            peers,
            heartbeat_interval: Duration::from_millis(50),
            coordinator_timeout: (Duration::from_millis(300), Duration::from_millis(450)),
            ok_timeout: Duration::from_millis(100),
            coordinator_wait: Duration::from_millis(300),
        }
    }
}

/// An effect the shell must carry out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Report a `state` event (always before messages sent in the new role).
    State {
        /// The role.
        role: BullyRole,
        /// The term.
        term: u64,
        /// The coordinator this node follows (itself when leader).
        leader: Option<NodeId>,
    },
    /// Send `msg` to peer `to` (best effort).
    Send {
        /// The peer.
        to: NodeId,
        /// The message.
        msg: Message,
    },
}

/// One bully node.
#[derive(Debug)]
pub struct BullyNode {
    config: BullyConfig,
    rng: ChaCha8Rng,
    role: BullyRole,
    term: u64,
    leader: Option<NodeId>,
    /// Follower: when to start an election. Candidate: when the wait ends.
    deadline: Duration,
    /// Candidate: an OK arrived in this election.
    got_ok: bool,
    /// Leader: when the next heartbeat goes out.
    heartbeat_due: Duration,
    reported: Option<(BullyRole, u64, Option<NodeId>)>,
}

impl BullyNode {
    /// A fresh node: it starts an election at its first tick (a recovering
    /// bully node always does).
    pub fn new(config: BullyConfig, rng: ChaCha8Rng, now: Duration) -> Self {
        BullyNode {
            config,
            rng,
            role: BullyRole::Follower,
            term: 0,
            leader: None,
            deadline: now,
            got_ok: false,
            heartbeat_due: now,
            reported: None,
        }
    }

    /// This node's id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// The current role.
    pub fn role(&self) -> BullyRole {
        self.role
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// The coordinator this node follows (itself when leader).
    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    /// Whether `id` is one of this node's peers.
    pub fn is_peer(&self, id: &str) -> bool {
        self.config.peers.iter().any(|peer| peer == id)
    }

    /// When the shell must call [`BullyNode::tick`] next, at the latest.
    pub fn next_deadline(&self) -> Duration {
        match self.role {
            BullyRole::Leader => self.heartbeat_due,
            _ => self.deadline,
        }
    }

    /// The passage of time: timeouts and heartbeats.
    pub fn tick(&mut self, now: Duration) -> Vec<Output> {
        let mut out = Vec::new();
        match self.role {
            BullyRole::Follower if now >= self.deadline => self.start_election(now, &mut out),
            BullyRole::Candidate if now >= self.deadline => {
                if self.got_ok {
                    // The higher node never announced itself: start over.
                    self.start_election(now, &mut out);
                } else {
                    self.become_leader(now, &mut out);
                }
            }
            BullyRole::Leader if now >= self.heartbeat_due => {
                self.broadcast(&mut out, |from, term| Message::Heartbeat { from, term });
                self.heartbeat_due = now + self.config.heartbeat_interval;
            }
            _ => {}
        }
        out
    }

    /// One message from a peer.
    pub fn step(&mut self, now: Duration, msg: Message) -> Vec<Output> {
        let mut out = Vec::new();
        let from = msg.from().to_owned();
        if msg.term() > self.term {
            self.term = msg.term();
            if self.role != BullyRole::Follower {
                self.role = BullyRole::Follower;
                self.leader = None;
                self.deadline = now + self.random_timeout();
            }
            if matches!(msg, Message::Election { .. } | Message::Ok { .. }) {
                self.leader = None;
            }
        }
        let higher_sender = rank_cmp(&from, &self.config.id) == Ordering::Greater;
        match msg {
            Message::Election { .. } => {
                self.report(&mut out);
                out.push(Output::Send {
                    to: from.clone(),
                    msg: Message::Ok {
                        from: self.config.id.clone(),
                        term: self.term,
                    },
                });
                match self.role {
                    BullyRole::Leader => out.push(Output::Send {
                        to: from,
                        msg: Message::Coordinator {
                            from: self.config.id.clone(),
                            term: self.term,
                        },
                    }),
                    BullyRole::Follower if !higher_sender => self.start_election(now, &mut out),
                    _ => {}
                }
            }
            Message::Ok { .. } => {
                if higher_sender && self.role != BullyRole::Leader {
                    self.got_ok = true;
                    self.deadline = now + self.config.coordinator_wait;
                }
                self.report(&mut out);
            }
            Message::Coordinator { term, .. } | Message::Heartbeat { term, .. } => {
                if term < self.term {
                    // A stale coordinator: ignore it (it learns our term when
                    // it hears from us).
                } else if higher_sender {
                    self.role = BullyRole::Follower;
                    self.leader = Some(from);
                    self.deadline = now + self.random_timeout();
                    self.report(&mut out);
                } else if self.role != BullyRole::Candidate {
                    // A lower node claims to coordinate: bully it.
                    self.start_election(now, &mut out);
                }
            }
        }
        out
    }

    fn start_election(&mut self, now: Duration, out: &mut Vec<Output>) {
        self.term += 1;
        self.role = BullyRole::Candidate;
        self.leader = None;
        self.got_ok = false;
        self.deadline = now + self.config.ok_timeout;
        self.report(out);
        let higher: Vec<NodeId> = self
            .config
            .peers
            .iter()
            .filter(|peer| rank_cmp(peer, &self.config.id) == Ordering::Greater)
            .cloned()
            .collect();
        if higher.is_empty() {
            self.become_leader(now, out);
            return;
        }
        for peer in higher {
            out.push(Output::Send {
                to: peer,
                msg: Message::Election {
                    from: self.config.id.clone(),
                    term: self.term,
                },
            });
        }
    }

    fn become_leader(&mut self, now: Duration, out: &mut Vec<Output>) {
        self.role = BullyRole::Leader;
        self.leader = Some(self.config.id.clone());
        self.report(out);
        self.broadcast(out, |from, term| Message::Coordinator { from, term });
        self.heartbeat_due = now + self.config.heartbeat_interval;
    }

    fn broadcast(&self, out: &mut Vec<Output>, make: impl Fn(NodeId, u64) -> Message) {
        for peer in &self.config.peers {
            out.push(Output::Send {
                to: peer.clone(),
                msg: make(self.config.id.clone(), self.term),
            });
        }
    }

    fn random_timeout(&mut self) -> Duration {
        let (min, max) = self.config.coordinator_timeout;
        if max <= min {
            return min;
        }
        self.rng.gen_range(min..=max)
    }

    fn report(&mut self, out: &mut Vec<Output>) {
        let now = (self.role, self.term, self.leader.clone());
        if self.reported.as_ref() != Some(&now) {
            self.reported = Some(now.clone());
            out.push(Output::State {
                role: now.0,
                term: now.1,
                leader: now.2,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, VecDeque};

    use rand::SeedableRng;

    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    /// A deterministic in-memory network of bully nodes; `cut` lists the
    /// directed links that deliver nothing, `down` the stopped nodes.
    struct Sim {
        nodes: BTreeMap<NodeId, BullyNode>,
        queue: VecDeque<(NodeId, Message)>,
        cut: BTreeSet<(NodeId, NodeId)>,
        down: BTreeSet<NodeId>,
        now: Duration,
        /// Every state reported: (node, role, term, leader).
        states: Vec<(NodeId, BullyRole, u64, Option<NodeId>)>,
    }

    impl Sim {
        fn new(count: usize) -> Sim {
            let ids: Vec<NodeId> = (1..=count).map(|i| format!("n{i}")).collect();
            let nodes = ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let peers = ids.iter().filter(|p| *p != id).cloned().collect();
                    let rng = ChaCha8Rng::seed_from_u64(i as u64);
                    (
                        id.clone(),
                        BullyNode::new(BullyConfig::new(id.clone(), peers), rng, ms(0)),
                    )
                })
                .collect();
            Sim {
                nodes,
                queue: VecDeque::new(),
                cut: BTreeSet::new(),
                down: BTreeSet::new(),
                now: ms(0),
                states: Vec::new(),
            }
        }

        fn apply(&mut self, from: &str, outputs: Vec<Output>) {
            for output in outputs {
                match output {
                    Output::State { role, term, leader } => {
                        self.states.push((from.to_owned(), role, term, leader))
                    }
                    Output::Send { to, msg } => {
                        if !self.cut.contains(&(from.to_owned(), to.clone())) {
                            self.queue.push_back((to, msg));
                        }
                    }
                }
            }
        }

        /// Runs for `duration` in 10 ms steps, delivering messages at once.
        fn run(&mut self, duration: Duration) {
            let end = self.now + duration;
            while self.now < end {
                let ids: Vec<NodeId> = self.nodes.keys().cloned().collect();
                for id in &ids {
                    if !self.down.contains(id) {
                        let out = self.nodes.get_mut(id).unwrap().tick(self.now);
                        self.apply(id, out);
                    }
                }
                while let Some((to, msg)) = self.queue.pop_front() {
                    if self.down.contains(&to) {
                        continue;
                    }
                    let out = self.nodes.get_mut(&to).unwrap().step(self.now, msg);
                    self.apply(&to, out);
                }
                self.now += ms(10);
            }
        }

        fn isolate(&mut self, id: &str) {
            for other in self.nodes.keys() {
                if other != id {
                    self.cut.insert((id.to_owned(), other.clone()));
                    self.cut.insert((other.clone(), id.to_owned()));
                }
            }
        }

        fn leaders(&self) -> Vec<(NodeId, u64)> {
            self.nodes
                .iter()
                .filter(|(id, n)| n.role() == BullyRole::Leader && !self.down.contains(*id))
                .map(|(id, n)| (id.clone(), n.term()))
                .collect()
        }
    }

    #[test]
    fn rank_is_numeric_then_lexical() {
        assert_eq!(rank_cmp("n10", "n9"), Ordering::Greater);
        assert_eq!(rank_cmp("n2", "n2"), Ordering::Equal);
        assert_eq!(rank_cmp("a", "b"), Ordering::Less);
    }

    #[test]
    fn the_highest_live_node_wins_and_everyone_follows_it() {
        let mut sim = Sim::new(5);
        sim.run(ms(1000));
        assert_eq!(sim.leaders().len(), 1);
        assert_eq!(sim.leaders()[0].0, "n5");
        for (id, node) in &sim.nodes {
            assert_eq!(node.leader(), Some("n5"), "{id}");
        }
        // n5 stops: n4 is now the highest live node.
        sim.down.insert("n5".into());
        sim.run(ms(2000));
        assert_eq!(sim.leaders().len(), 1);
        assert_eq!(sim.leaders()[0].0, "n4");
        let n4_term = sim.leaders()[0].1;
        assert!(n4_term > sim.nodes["n5"].term(), "a new, higher term");
        for id in ["n1", "n2", "n3"] {
            assert_eq!(sim.nodes[id].leader(), Some("n4"), "{id}");
            assert_eq!(sim.nodes[id].term(), n4_term, "{id}");
        }
    }

    #[test]
    fn a_higher_nodes_ok_stops_a_lower_nodes_election() {
        let peers = vec!["n2".to_owned(), "n3".to_owned()];
        let mut n1 = BullyNode::new(
            BullyConfig::new("n1", peers),
            ChaCha8Rng::seed_from_u64(1),
            ms(0),
        );
        let out = n1.tick(ms(0));
        assert_eq!(n1.role(), BullyRole::Candidate);
        assert_eq!(n1.term(), 1);
        let elections: Vec<&NodeId> = out
            .iter()
            .filter_map(|o| match o {
                Output::Send {
                    to,
                    msg: Message::Election { .. },
                } => Some(to),
                _ => None,
            })
            .collect();
        assert_eq!(elections, ["n2", "n3"], "ELECTION only to higher nodes");
        n1.step(
            ms(20),
            Message::Ok {
                from: "n3".into(),
                term: 1,
            },
        );
        // Past the OK timeout it does not announce itself: it waits.
        let out = n1.tick(ms(150));
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(n1.role(), BullyRole::Candidate);
        n1.step(
            ms(200),
            Message::Coordinator {
                from: "n3".into(),
                term: 1,
            },
        );
        assert_eq!((n1.role(), n1.leader()), (BullyRole::Follower, Some("n3")));
        // Without an OK, it would have announced itself after the timeout.
        let mut alone = BullyNode::new(
            BullyConfig::new("n1", vec!["n2".to_owned()]),
            ChaCha8Rng::seed_from_u64(1),
            ms(0),
        );
        alone.tick(ms(0));
        let out = alone.tick(ms(100));
        assert_eq!(alone.role(), BullyRole::Leader);
        assert!(out.contains(&Output::Send {
            to: "n2".into(),
            msg: Message::Coordinator {
                from: "n1".into(),
                term: 1
            }
        }));
    }

    #[test]
    fn a_higher_node_answers_ok_and_takes_over() {
        let mut n3 = BullyNode::new(
            BullyConfig::new("n3", vec!["n1".into(), "n2".into()]),
            ChaCha8Rng::seed_from_u64(3),
            ms(0),
        );
        // n3 hears n2 coordinate term 4 (say it was down when n2 was elected).
        n3.step(
            ms(0),
            Message::Heartbeat {
                from: "n2".into(),
                term: 4,
            },
        );
        // It adopted term 4, then bullied n2 with an election in term 5 that
        // nobody higher answers: it is coordinator of term 5.
        assert_eq!((n3.role(), n3.term()), (BullyRole::Leader, 5));
        let mut n3 = BullyNode::new(
            BullyConfig::new("n3", vec!["n1".into(), "n2".into()]),
            ChaCha8Rng::seed_from_u64(3),
            ms(0),
        );
        let out = n3.step(
            ms(0),
            Message::Election {
                from: "n1".into(),
                term: 7,
            },
        );
        assert_eq!(
            out[1],
            Output::Send {
                to: "n1".into(),
                msg: Message::Ok {
                    from: "n3".into(),
                    term: 7
                }
            }
        );
        // It adopted term 7 and started its own election in term 8; nobody
        // is higher, so it is coordinator at once.
        assert_eq!((n3.role(), n3.term()), (BullyRole::Leader, 8));
    }

    #[test]
    fn terms_increase_at_every_election_and_adopt_higher_ones() {
        let mut sim = Sim::new(3);
        sim.run(ms(1000));
        let first = sim.leaders()[0].1;
        sim.down.insert("n3".into());
        sim.run(ms(1500));
        let second = sim.leaders()[0].1;
        assert!(second > first);
        // Every node's reported terms never decrease.
        for id in ["n1", "n2", "n3"] {
            let terms: Vec<u64> = sim
                .states
                .iter()
                .filter(|s| s.0 == id)
                .map(|s| s.2)
                .collect();
            assert!(terms.windows(2).all(|w| w[0] <= w[1]), "{id}: {terms:?}");
        }
        // A message with a higher term makes a leader a follower of it.
        let mut n2 = BullyNode::new(
            BullyConfig::new("n2", vec!["n1".into()]),
            ChaCha8Rng::seed_from_u64(2),
            ms(0),
        );
        n2.tick(ms(0));
        assert_eq!((n2.role(), n2.term()), (BullyRole::Leader, 1));
        n2.step(
            ms(10),
            Message::Ok {
                from: "n1".into(),
                term: 9,
            },
        );
        assert_eq!((n2.role(), n2.term()), (BullyRole::Follower, 9));
    }

    #[test]
    fn a_partition_gives_two_coordinators_in_different_terms_then_heals() {
        let mut sim = Sim::new(3);
        sim.run(ms(1000));
        assert_eq!(sim.leaders(), vec![("n3".to_owned(), 1)]);
        sim.isolate("n3");
        sim.run(ms(1500));
        let mut leaders = sim.leaders();
        leaders.sort();
        assert_eq!(leaders.len(), 2, "split brain: {leaders:?}");
        assert_eq!(leaders[0].0, "n2");
        assert!(leaders[0].1 > leaders[1].1, "n2 leads a newer term than n3");
        sim.cut.clear();
        sim.run(ms(1500));
        let leaders = sim.leaders();
        assert_eq!(leaders.len(), 1, "{leaders:?}");
        assert_eq!(leaders[0].0, "n3", "the bully takes over again");
    }

    #[test]
    fn messages_round_trip_as_json() {
        let msg = Message::Coordinator {
            from: "n2".into(),
            term: 3,
        };
        assert_eq!(
            String::from_utf8(msg.encode()).unwrap(),
            r#"{"type":"coordinator","from":"n2","term":3}"#
        );
        assert_eq!(Message::decode(&msg.encode()), Some(msg));
        assert_eq!(Message::decode(b"{\"type\":\"nope\"}"), None);
    }
}
