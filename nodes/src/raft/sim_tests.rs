//! Deterministic tests of the state machine: single nodes driven by hand, and
//! whole clusters simulated in-process by routing each node's sends to the
//! others' `step`, with a simulated clock and network cuts.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::core::{Bug, Output, PersistentState, RaftConfig, RaftNode, Role};
use super::message::{Entry, Message, NodeId, Term};

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn names(size: usize) -> Vec<NodeId> {
    (1..=size).map(|index| format!("n{index}")).collect()
}

fn config_for(id: &str, all: &[NodeId]) -> RaftConfig {
    let peers = all.iter().filter(|peer| *peer != id).cloned().collect();
    RaftConfig::new(id, peers)
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A node of a `size`-node cluster, fresh, at time 0.
fn node(id: &str, size: usize) -> RaftNode {
    node_with(id, size, |_| {})
}

fn node_with(id: &str, size: usize, tweak: impl Fn(&mut RaftConfig)) -> RaftNode {
    let mut config = config_for(id, &names(size));
    tweak(&mut config);
    RaftNode::new(config, PersistentState::default(), rng(7), ms(0))
}

fn request_vote(from: &str, term: Term, last_log_term: Term, last_log_index: u64) -> Message {
    Message::RequestVote {
        from: from.into(),
        term,
        last_log_index,
        last_log_term,
    }
}

fn append_entries(from: &str, term: Term, prev: (u64, Term), entries: &[Term]) -> Message {
    Message::AppendEntries {
        from: from.into(),
        term,
        prev_log_index: prev.0,
        prev_log_term: prev.1,
        entries: entries.iter().map(|&term| Entry { term }).collect(),
    }
}

fn sends(outputs: &[Output]) -> Vec<(NodeId, Message)> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Send { to, msg } => Some((to.clone(), msg.clone())),
            _ => None,
        })
        .collect()
}

/// The `granted` flag of the vote reply in `outputs`.
fn vote_granted(outputs: &[Output]) -> bool {
    let replies: Vec<bool> = sends(outputs)
        .into_iter()
        .filter_map(|(_, msg)| match msg {
            Message::RequestVoteReply { granted, .. } => Some(granted),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 1, "exactly one vote reply in {outputs:?}");
    replies[0]
}

fn persisted(outputs: &[Output]) -> Option<PersistentState> {
    outputs.iter().rev().find_map(|output| match output {
        Output::Persist { term, voted_for } => Some(PersistentState {
            term: *term,
            voted_for: voted_for.clone(),
        }),
        _ => None,
    })
}

/// Runs `node` alone until it becomes a candidate; returns the outputs.
fn time_out(node: &mut RaftNode) -> Vec<Output> {
    let deadline = node.next_deadline();
    node.tick(deadline)
}

/// A simulated cluster: instant delivery, 1 ms ticks, directed cuts,
/// crash/restart from what each node persisted.
struct Cluster {
    configs: BTreeMap<NodeId, RaftConfig>,
    nodes: BTreeMap<NodeId, RaftNode>,
    now: Duration,
    in_flight: VecDeque<(NodeId, NodeId, Message)>,
    cut: BTreeSet<(NodeId, NodeId)>,
    /// Directed links that deliver late: each message arrives this long after
    /// it was sent (a delay spike), in order.
    delay: BTreeMap<(NodeId, NodeId), Duration>,
    /// Messages on delayed links: (due, from, to, message), in send order.
    delayed: VecDeque<(Duration, NodeId, NodeId, Message)>,
    /// Stopped nodes (SIGSTOP): no ticks; what reaches them waits in `held`.
    paused: BTreeSet<NodeId>,
    held: VecDeque<(NodeId, NodeId, Message)>,
    durable: BTreeMap<NodeId, PersistentState>,
    /// Every reported state, in order: (node, role, term, leader).
    states: Vec<(NodeId, Role, Term, Option<NodeId>)>,
    /// Every granted vote: (voter, term, candidate).
    votes: Vec<(NodeId, Term, NodeId)>,
    restarts: u64,
}

impl Cluster {
    fn new(size: usize, seed: u64) -> Self {
        Self::with(size, seed, |_| {})
    }

    fn with(size: usize, seed: u64, tweak: impl Fn(&mut RaftConfig)) -> Self {
        let all = names(size);
        let mut cluster = Cluster {
            configs: BTreeMap::new(),
            nodes: BTreeMap::new(),
            now: ms(0),
            in_flight: VecDeque::new(),
            cut: BTreeSet::new(),
            delay: BTreeMap::new(),
            delayed: VecDeque::new(),
            paused: BTreeSet::new(),
            held: VecDeque::new(),
            durable: BTreeMap::new(),
            states: Vec::new(),
            votes: Vec::new(),
            restarts: 0,
        };
        for (index, id) in all.iter().enumerate() {
            let mut config = config_for(id, &all);
            tweak(&mut config);
            let node = RaftNode::new(
                config.clone(),
                PersistentState::default(),
                rng(seed * 1000 + index as u64),
                ms(0),
            );
            cluster.configs.insert(id.clone(), config);
            cluster.nodes.insert(id.clone(), node);
        }
        cluster
    }

    fn record(&mut self, id: &str, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Persist { term, voted_for } => {
                    self.durable
                        .insert(id.to_owned(), PersistentState { term, voted_for });
                }
                Output::State { role, term, leader } => {
                    self.states.push((id.to_owned(), role, term, leader));
                }
                Output::Vote {
                    term, candidate, ..
                } => self.votes.push((id.to_owned(), term, candidate)),
                Output::Send { to, msg } => match self.delay.get(&(id.to_owned(), to.clone())) {
                    Some(&late) => {
                        self.delayed
                            .push_back((self.now + late, id.to_owned(), to, msg));
                    }
                    None => self.in_flight.push_back((id.to_owned(), to, msg)),
                },
            }
        }
    }

    fn deliver_all(&mut self) {
        while let Some((from, to, msg)) = self.in_flight.pop_front() {
            if self.cut.contains(&(from.clone(), to.clone())) {
                continue;
            }
            if self.paused.contains(&to) {
                self.held.push_back((from, to, msg));
                continue;
            }
            let now = self.now;
            let Some(node) = self.nodes.get_mut(&to) else {
                continue;
            };
            let outputs = node.step(now, msg);
            self.record(&to, outputs);
        }
    }

    fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.now += ms(1);
            let now = self.now;
            let (due, later): (VecDeque<_>, VecDeque<_>) =
                self.delayed.drain(..).partition(|(at, ..)| *at <= now);
            self.delayed = later;
            self.in_flight
                .extend(due.into_iter().map(|(_, from, to, msg)| (from, to, msg)));
            let ids: Vec<NodeId> = self.nodes.keys().cloned().collect();
            for id in ids {
                if self.paused.contains(&id) {
                    continue;
                }
                let now = self.now;
                let outputs = self.nodes.get_mut(&id).map(|node| node.tick(now));
                self.record(&id, outputs.unwrap_or_default());
            }
            self.deliver_all();
        }
    }

    fn isolate(&mut self, id: &str) {
        for other in self.configs.keys() {
            if other != id {
                self.cut.insert((id.to_owned(), other.clone()));
                self.cut.insert((other.clone(), id.to_owned()));
            }
        }
    }

    fn heal(&mut self) {
        self.cut.clear();
        self.delay.clear();
    }

    fn pause(&mut self, id: &str) {
        self.paused.insert(id.to_owned());
    }

    /// SIGCONT: the node's overdue timer fires first, then it reads what
    /// queued up while it was stopped (one order a real shell may take).
    fn resume(&mut self, id: &str) {
        self.paused.remove(id);
        let now = self.now;
        if let Some(node) = self.nodes.get_mut(id) {
            let outputs = node.tick(now);
            self.record(id, outputs);
        }
        let (mine, others): (VecDeque<_>, VecDeque<_>) =
            self.held.drain(..).partition(|(_, to, _)| to == id);
        self.held = others;
        self.in_flight.extend(mine);
        self.deliver_all();
    }

    fn crash(&mut self, id: &str) {
        self.nodes.remove(id);
    }

    fn restart(&mut self, id: &str) {
        self.restarts += 1;
        let restored = self.durable.get(id).cloned().unwrap_or_default();
        let node = RaftNode::new(
            self.configs[id].clone(),
            restored,
            rng(self.restarts * 7919),
            self.now,
        );
        self.nodes.insert(id.to_owned(), node);
    }

    fn leaders(&self) -> Vec<NodeId> {
        self.nodes
            .values()
            .filter(|node| node.role() == Role::Leader)
            .map(|node| node.id().to_owned())
            .collect()
    }

    fn leaders_by_term(&self) -> BTreeMap<Term, BTreeSet<NodeId>> {
        let mut by_term: BTreeMap<Term, BTreeSet<NodeId>> = BTreeMap::new();
        for (id, role, term, _) in &self.states {
            if *role == Role::Leader {
                by_term.entry(*term).or_default().insert(id.clone());
            }
        }
        by_term
    }

    fn assert_one_leader_per_term(&self) {
        for (term, leaders) in self.leaders_by_term() {
            assert_eq!(leaders.len(), 1, "term {term} has leaders {leaders:?}");
        }
    }

    /// Exactly one leader now, and every node follows it in its term.
    fn assert_settled(&self) {
        let leaders = self.leaders();
        assert_eq!(leaders.len(), 1, "leaders now: {leaders:?}");
        let leader = &self.nodes[&leaders[0]];
        for node in self.nodes.values() {
            assert_eq!(node.term(), leader.term(), "{} term", node.id());
            assert_eq!(node.leader(), Some(leader.id()), "{} leader", node.id());
        }
    }

    fn node(&self, id: &str) -> &RaftNode {
        &self.nodes[id]
    }
}

#[test]
fn three_and_five_node_clusters_elect_exactly_one_leader() {
    for size in [3, 5] {
        for seed in 0..20 {
            let mut cluster = Cluster::new(size, seed);
            cluster.run_for(ms(1000));
            cluster.assert_settled();
            cluster.assert_one_leader_per_term();
            // Nobody votes twice in a term.
            let distinct: BTreeSet<(NodeId, Term)> = cluster
                .votes
                .iter()
                .map(|(voter, term, _)| (voter.clone(), *term))
                .collect();
            assert_eq!(distinct.len(), cluster.votes.len());
        }
    }
}

#[test]
fn single_node_cluster_elects_itself() {
    let mut cluster = Cluster::new(1, 3);
    cluster.run_for(ms(400));
    cluster.assert_settled();
    assert_eq!(cluster.node("n1").term(), 1);
}

#[test]
fn a_stable_leader_keeps_its_term() {
    let mut cluster = Cluster::new(3, 1);
    cluster.run_for(ms(500));
    cluster.assert_settled();
    let term = cluster.node(&cluster.leaders()[0]).term();
    let states_before = cluster.states.len();
    cluster.run_for(ms(3000));
    assert_eq!(cluster.node(&cluster.leaders()[0]).term(), term);
    assert_eq!(cluster.states.len(), states_before, "no needless elections");
}

#[test]
fn split_vote_is_retried_in_a_higher_term() {
    // Four nodes: n1 and n2 campaign in term 1 at once; n3 votes for n1 and
    // n4 for n2, so each has 2 of the 3 votes needed.
    let mut nodes: BTreeMap<NodeId, RaftNode> = names(4)
        .iter()
        .map(|id| (id.clone(), node(id, 4)))
        .collect();
    let n1_campaign = time_out(nodes.get_mut("n1").unwrap());
    let n2_campaign = time_out(nodes.get_mut("n2").unwrap());
    let now = ms(300);
    let request_to = |campaign: &[Output], to: &str| {
        sends(campaign)
            .into_iter()
            .find(|(peer, _)| peer == to)
            .map(|(_, msg)| msg)
            .unwrap()
    };
    let mut replies_to_n1 = Vec::new();
    let mut replies_to_n2 = Vec::new();
    for (to, winner_first) in [("n3", "n1"), ("n4", "n2")] {
        let (first, second) = if winner_first == "n1" {
            (&n1_campaign, &n2_campaign)
        } else {
            (&n2_campaign, &n1_campaign)
        };
        let voter = nodes.get_mut(to).unwrap();
        let first_reply = voter.step(now, request_to(first, to));
        let second_reply = voter.step(now, request_to(second, to));
        assert!(vote_granted(&first_reply));
        assert!(!vote_granted(&second_reply));
        let (for_n1, for_n2) = if winner_first == "n1" {
            (first_reply, second_reply)
        } else {
            (second_reply, first_reply)
        };
        replies_to_n1.extend(sends(&for_n1));
        replies_to_n2.extend(sends(&for_n2));
    }
    // The two candidates refuse each other (each voted for itself).
    let n1_to_n2 = nodes
        .get_mut("n2")
        .unwrap()
        .step(now, request_to(&n1_campaign, "n2"));
    let n2_to_n1 = nodes
        .get_mut("n1")
        .unwrap()
        .step(now, request_to(&n2_campaign, "n1"));
    assert!(!vote_granted(&n1_to_n2) && !vote_granted(&n2_to_n1));
    replies_to_n1.extend(sends(&n2_to_n1));
    replies_to_n2.extend(sends(&n1_to_n2));
    for (_, reply) in replies_to_n1 {
        nodes.get_mut("n1").unwrap().step(now, reply);
    }
    for (_, reply) in replies_to_n2 {
        nodes.get_mut("n2").unwrap().step(now, reply);
    }
    for id in ["n1", "n2"] {
        assert_eq!(nodes[id].role(), Role::Candidate, "{id} has no majority");
        assert_eq!(nodes[id].term(), 1);
    }

    // The same split, then left to run: someone wins a later term.
    let mut cluster = Cluster::new(4, 11);
    cluster.nodes = nodes;
    cluster.now = now;
    cluster.run_for(ms(2000));
    cluster.assert_settled();
    cluster.assert_one_leader_per_term();
    assert!(cluster.leaders_by_term().keys().all(|&term| term >= 2));
    assert!(cluster.node(&cluster.leaders()[0]).term() >= 2);
}

#[test]
fn leader_steps_down_on_a_higher_term() {
    let mut cluster = Cluster::new(3, 2);
    cluster.run_for(ms(600));
    let leader_id = cluster.leaders()[0].clone();
    let other = names(3).into_iter().find(|id| *id != leader_id).unwrap();
    let term = cluster.node(&leader_id).term();
    let leader = cluster.nodes.get_mut(&leader_id).unwrap();
    let outputs = leader.step(ms(600), append_entries(&other, term + 3, (0, 0), &[]));
    assert_eq!(leader.role(), Role::Follower);
    assert_eq!(leader.term(), term + 3);
    assert_eq!(leader.voted_for(), None);
    assert_eq!(leader.leader(), Some(other.as_str()));
    // Persist, then the new state, then the reply.
    assert!(matches!(outputs[0], Output::Persist { term: t, voted_for: None } if t == term + 3));
    assert!(
        matches!(&outputs[1], Output::State { role: Role::Follower, term: t, leader: Some(l) } if *t == term + 3 && *l == other)
    );
    assert!(matches!(outputs[2], Output::Send { .. }));

    // A higher-term vote request also demotes a leader (and may win its vote).
    let mut leader = node("n1", 3);
    leader.tick(ms(1000));
    leader.step(
        ms(1000),
        Message::RequestVoteReply {
            from: "n2".into(),
            term: 1,
            granted: true,
        },
    );
    assert_eq!(leader.role(), Role::Leader);
    let outputs = leader.step(ms(1001), request_vote("n3", 2, 1, 1));
    assert_eq!((leader.role(), leader.term()), (Role::Follower, 2));
    assert!(vote_granted(&outputs));
}

#[test]
fn candidate_steps_down_on_a_higher_term() {
    let mut candidate = node("n1", 3);
    time_out(&mut candidate);
    assert_eq!((candidate.role(), candidate.term()), (Role::Candidate, 1));
    candidate.step(
        ms(400),
        Message::RequestVoteReply {
            from: "n2".into(),
            term: 4,
            granted: false,
        },
    );
    assert_eq!((candidate.role(), candidate.term()), (Role::Follower, 4));
    assert_eq!(candidate.voted_for(), None);
}

#[test]
fn candidate_becomes_follower_on_append_entries_of_its_own_term() {
    let mut candidate = node("n1", 3);
    time_out(&mut candidate);
    let outputs = candidate.step(ms(400), append_entries("n2", 1, (0, 0), &[1]));
    assert_eq!((candidate.role(), candidate.term()), (Role::Follower, 1));
    assert_eq!(candidate.leader(), Some("n2"));
    assert_eq!(candidate.voted_for(), Some("n1"), "its own vote stands");
    assert!(matches!(
        sends(&outputs)[0].1,
        Message::AppendEntriesReply {
            success: true,
            match_index: 1,
            ..
        }
    ));
}

#[test]
fn votes_at_most_once_per_term() {
    let mut voter = node("n1", 3);
    let first = voter.step(ms(10), request_vote("n2", 5, 0, 0));
    assert!(vote_granted(&first));
    assert_eq!(
        persisted(&first),
        Some(PersistentState {
            term: 5,
            voted_for: Some("n2".into())
        })
    );
    assert!(first.iter().any(|output| matches!(
        output,
        Output::Vote { term: 5, candidate, voter_log: [0, 0], candidate_log: [0, 0] } if candidate == "n2"
    )));
    assert!(!vote_granted(
        &voter.step(ms(11), request_vote("n3", 5, 0, 0))
    ));
    // A retransmitted request from the same candidate is granted again.
    assert!(vote_granted(
        &voter.step(ms(12), request_vote("n2", 5, 0, 0))
    ));
    // A stale term is refused; a newer term frees the vote.
    assert!(!vote_granted(
        &voter.step(ms(13), request_vote("n3", 4, 0, 0))
    ));
    assert!(vote_granted(
        &voter.step(ms(14), request_vote("n3", 6, 0, 0))
    ));
}

#[test]
fn up_to_date_restriction_refuses_older_logs() {
    // The voter's log: [term 1, term 2] (last term 2, last index 2).
    let fresh_voter = || {
        let mut voter = node("n1", 5);
        voter.step(ms(1), append_entries("n2", 2, (0, 0), &[1, 2]));
        assert_eq!(voter.last_log(), [2, 2]);
        voter
    };
    for (last_term, last_index, expected) in [
        (1, 5, false), // older last term, however long
        (2, 1, false), // same last term, shorter
        (2, 2, true),  // same
        (2, 3, true),  // longer
        (3, 1, true),  // newer last term
    ] {
        let mut voter = fresh_voter();
        let outputs = voter.step(ms(5), request_vote("n3", 3, last_term, last_index));
        assert_eq!(
            vote_granted(&outputs),
            expected,
            "candidate log [{last_term}, {last_index}]"
        );
        assert_eq!(voter.term(), 3, "the term moves even when refused");
    }
}

#[test]
fn restart_reloads_term_and_vote() {
    let mut voter = node("n1", 3);
    let outputs = voter.step(ms(10), request_vote("n2", 5, 0, 0));
    let durable = persisted(&outputs).unwrap();
    let mut restarted = RaftNode::new(voter.config().clone(), durable, rng(99), ms(0));
    assert_eq!(restarted.term(), 5);
    assert_eq!(restarted.voted_for(), Some("n2"));
    // The restarted node's first report is its restored term.
    assert!(matches!(
        restarted.tick(ms(1))[..],
        [Output::State {
            role: Role::Follower,
            term: 5,
            leader: None
        }]
    ));
    assert!(!vote_granted(
        &restarted.step(ms(2), request_vote("n3", 5, 0, 0))
    ));
}

#[test]
fn forget_term_loses_the_term_on_restart() {
    let mut voter = node_with("n1", 3, |config| config.bug = Some(Bug::ForgetTerm));
    let outputs = voter.step(ms(10), request_vote("n2", 5, 0, 0));
    assert!(vote_granted(&outputs));
    let durable = persisted(&outputs).unwrap();
    assert_eq!(durable.term, 0, "currentTerm never reaches the disk");
    let mut restarted = RaftNode::new(voter.config().clone(), durable, rng(99), ms(0));
    assert_eq!(restarted.term(), 0);
    // ...so it votes a second time in term 5: the violation to catch.
    assert!(vote_granted(
        &restarted.step(ms(1), request_vote("n3", 5, 0, 0))
    ));
}

#[test]
fn bad_messages_are_ignored() {
    let mut follower = node("n1", 3);
    follower.step(ms(1), append_entries("n2", 3, (0, 0), &[3]));
    let before = (
        follower.role(),
        follower.term(),
        follower.leader().map(str::to_owned),
        follower.voted_for().map(str::to_owned),
        follower.last_log(),
    );
    let ignored = [
        request_vote("n9", 9, 9, 9), // not a peer
        request_vote("n1", 9, 9, 9), // from itself
        append_entries("mallory", 9, (0, 0), &[9]),
        Message::RequestVoteReply {
            from: "n3".into(),
            term: 3,
            granted: true,
        }, // a reply to a question never asked
        Message::AppendEntriesReply {
            from: "n3".into(),
            term: 2,
            success: true,
            match_index: 7,
        }, // stale, and the node is no leader
        Message::PreVoteReply {
            from: "n3".into(),
            term: 4,
            granted: true,
        }, // not a pre-candidate
    ];
    for msg in ignored {
        assert_eq!(follower.step(ms(2), msg.clone()), vec![], "{msg:?}");
    }
    let after = (
        follower.role(),
        follower.term(),
        follower.leader().map(str::to_owned),
        follower.voted_for().map(str::to_owned),
        follower.last_log(),
    );
    assert_eq!(before, after);
}

#[test]
fn a_new_leader_reports_before_it_sends_and_persists_before_it_reports() {
    let mut node = node("n1", 3);
    let campaign = time_out(&mut node);
    let kinds: Vec<&str> = campaign
        .iter()
        .map(|output| match output {
            Output::Persist { .. } => "persist",
            Output::State { .. } => "state",
            Output::Vote { .. } => "vote",
            Output::Send { .. } => "send",
        })
        .collect();
    // Term 1 and the self vote made durable, then the candidate state, the
    // self vote event, and only then the two requests.
    assert_eq!(
        kinds,
        ["persist", "state", "vote", "send", "send"],
        "{campaign:?}"
    );
    let won = node.step(
        ms(400),
        Message::RequestVoteReply {
            from: "n3".into(),
            term: 1,
            granted: true,
        },
    );
    assert!(matches!(
        &won[0],
        Output::State { role: Role::Leader, term: 1, leader: Some(l) } if l == "n1"
    ));
    // The leader's first heartbeat carries the entry of its term.
    let heartbeats = sends(&won[1..]);
    assert_eq!(heartbeats.len(), 2);
    for (_, msg) in heartbeats {
        assert_eq!(msg, append_entries("n1", 1, (0, 0), &[1]));
    }
    assert_eq!(node.log(), &[Entry { term: 1 }]);
}

#[test]
fn follower_truncates_conflicts_and_the_leader_backs_off() {
    // A follower with a divergent tail: [1, 1, 2] against the leader's [1, 3].
    let mut follower = node("n2", 3);
    follower.step(ms(1), append_entries("n3", 2, (0, 0), &[1, 1, 2]));
    let refused = follower.step(ms(2), append_entries("n1", 3, (2, 3), &[]));
    let hint = match &sends(&refused)[0].1 {
        Message::AppendEntriesReply {
            success: false,
            match_index,
            ..
        } => *match_index,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(hint, 1);
    let accepted = follower.step(ms(3), append_entries("n1", 3, (1, 1), &[3]));
    assert!(matches!(
        sends(&accepted)[0].1,
        Message::AppendEntriesReply {
            success: true,
            match_index: 2,
            ..
        }
    ));
    assert_eq!(follower.log(), &[Entry { term: 1 }, Entry { term: 3 }]);
    // Too short a log: the hint is the follower's last index.
    let mut short = node("n3", 3);
    let refused = short.step(ms(1), append_entries("n1", 1, (5, 1), &[]));
    assert!(matches!(
        sends(&refused)[0].1,
        Message::AppendEntriesReply {
            success: false,
            match_index: 0,
            ..
        }
    ));

    // In a cluster: a leader repairs a follower that missed several terms.
    let mut cluster = Cluster::new(3, 5);
    cluster.run_for(ms(600));
    let lagging = names(3)
        .into_iter()
        .find(|id| !cluster.leaders().contains(id))
        .unwrap();
    cluster.isolate(&lagging);
    for _ in 0..3 {
        // Force a new term among the other two by crashing the leader.
        let leader = cluster.leaders()[0].clone();
        cluster.crash(&leader);
        cluster.run_for(ms(50));
        cluster.restart(&leader);
        cluster.isolate(&lagging);
        cluster.run_for(ms(900));
    }
    cluster.heal();
    cluster.run_for(ms(1500));
    cluster.assert_settled();
    cluster.assert_one_leader_per_term();
    let leader = cluster.leaders()[0].clone();
    assert_eq!(
        cluster.node(&lagging).log(),
        cluster.node(&leader).log(),
        "the lagging follower caught up"
    );
}

#[test]
fn partitioned_leader_is_replaced_and_steps_down_on_heal() {
    for seed in 0..10 {
        let mut cluster = Cluster::new(5, seed);
        cluster.run_for(ms(800));
        let old_leader = cluster.leaders()[0].clone();
        let old_term = cluster.node(&old_leader).term();
        cluster.isolate(&old_leader);
        cluster.run_for(ms(1000));
        let majority_leaders: Vec<NodeId> = cluster
            .leaders()
            .into_iter()
            .filter(|id| *id != old_leader)
            .collect();
        assert_eq!(majority_leaders.len(), 1);
        assert!(cluster.node(&majority_leaders[0]).term() > old_term);
        cluster.heal();
        cluster.run_for(ms(1000));
        cluster.assert_settled();
        cluster.assert_one_leader_per_term();
    }
}

/// Random cuts, crashes and restarts: a correct cluster never has two leaders
/// in one term, never votes twice in a term (across restarts), and elects a
/// leader once healed.
#[test]
fn safety_holds_under_random_faults() {
    for seed in 0..8 {
        let mut faults = rng(seed + 500);
        let mut cluster = Cluster::new(5, seed);
        for _ in 0..30 {
            match faults.gen_range(0..4) {
                0 => {
                    let id = format!("n{}", faults.gen_range(1..=5));
                    cluster.isolate(&id);
                }
                1 => cluster.heal(),
                2 => {
                    let id = format!("n{}", faults.gen_range(1..=5));
                    cluster.crash(&id);
                    cluster.run_for(ms(faults.gen_range(0..300)));
                    cluster.restart(&id);
                }
                _ => {
                    let from = format!("n{}", faults.gen_range(1..=5));
                    let to = format!("n{}", faults.gen_range(1..=5));
                    cluster.cut.insert((from, to));
                }
            }
            cluster.run_for(ms(faults.gen_range(50..600)));
        }
        cluster.heal();
        cluster.run_for(ms(3000));
        cluster.assert_settled();
        cluster.assert_one_leader_per_term();
        let mut voted = BTreeMap::new();
        for (voter, term, candidate) in &cluster.votes {
            let previous = voted.insert((voter.clone(), *term), candidate.clone());
            assert!(
                previous.map_or(true, |previous| previous == *candidate),
                "{voter} voted twice in term {term}"
            );
        }
    }
}

/// A run of `size` nodes under eight delay spikes (each directed link late
/// by 300–1200 ms with probability 1/2) for 1 s each, optionally with a
/// random node paused during each spike; returns whether some term had
/// two leaders.
fn two_leaders_under_delay_spikes(size: usize, seed: u64, bug: Option<Bug>, pauses: bool) -> bool {
    let mut cluster = Cluster::with(size, seed, |c| c.bug = bug);
    let mut faults = rng(seed + 900);
    cluster.run_for(ms(1000));
    let all = names(size);
    for _ in 0..8 {
        let stopped = format!("n{}", faults.gen_range(1..=size));
        let pause_at = ms(faults.gen_range(0..800));
        for a in &all {
            for b in &all {
                if a != b && faults.gen_range(0..2) == 0 {
                    let late = ms(faults.gen_range(300..1200));
                    cluster.delay.insert((a.clone(), b.clone()), late);
                }
            }
        }
        if pauses {
            cluster.run_for(pause_at);
            cluster.pause(&stopped);
            cluster.run_for(ms(faults.gen_range(300..900)));
            cluster.resume(&stopped);
        }
        cluster.run_for(ms(1000));
        cluster.heal();
        cluster.run_for(ms(500));
    }
    cluster.leaders_by_term().values().any(|l| l.len() > 1)
}

fn seeds_with_two_leaders(size: usize, bug: Option<Bug>, pauses: bool) -> usize {
    (0..20)
        .filter(|&seed| two_leaders_under_delay_spikes(size, seed, bug, pauses))
        .count()
}

/// Delay spikes and pauses overlapping are what a correct node must survive
/// and what the two miscounting bugs need: a correct cluster never has two
/// leaders in a term, whatever the seed.
#[test]
fn correct_nodes_stay_safe_under_delay_spikes_and_pauses() {
    for size in [3, 5] {
        for pauses in [false, true] {
            assert_eq!(
                seeds_with_two_leaders(size, None, pauses),
                0,
                "{size} nodes, pauses {pauses}"
            );
        }
    }
}

/// count-replies: under delay spikes a candidate retries, each voter grants
/// again, and the count reaches a majority of five with two voters while
/// the others elect someone else in the same term.
#[test]
fn bug_count_replies_shares_a_term_under_delay_spikes() {
    let caught = seeds_with_two_leaders(5, Some(Bug::CountReplies), false);
    assert!(
        caught >= 12,
        "two leaders in a term in {caught} of 20 seeds"
    );
}

/// count-earlier-terms: a candidate paused while its grants are delayed
/// resumes, times out into the next term first, then reads the old grants
/// and wins a term in which its voters elected another node.
#[test]
fn bug_count_earlier_terms_shares_a_term_when_a_paused_candidate_resumes() {
    let caught = seeds_with_two_leaders(3, Some(Bug::CountEarlierTerms), true);
    assert!(
        caught >= 12,
        "two leaders in a term in {caught} of 20 seeds"
    );
    // Neither fault alone does it as often: it takes both at once.
    let delays_only = seeds_with_two_leaders(3, Some(Bug::CountEarlierTerms), false);
    assert!(
        delays_only < caught,
        "{delays_only} without pauses vs {caught}"
    );
}

// ---- seeded bugs: each test shows the deviation ----

#[test]
fn bug_forget_vote_votes_again_after_restart() {
    let mut voter = node_with("n1", 3, |config| config.bug = Some(Bug::ForgetVote));
    let outputs = voter.step(ms(10), request_vote("n2", 5, 0, 0));
    let durable = persisted(&outputs).unwrap();
    assert_eq!(
        durable,
        PersistentState {
            term: 5,
            voted_for: None
        }
    );
    let mut restarted = RaftNode::new(voter.config().clone(), durable, rng(1), ms(0));
    assert_eq!(restarted.term(), 5);
    assert!(vote_granted(
        &restarted.step(ms(1), request_vote("n3", 5, 0, 0))
    ));
}

#[test]
fn bug_vote_twice_grants_a_second_candidate() {
    let mut voter = node_with("n1", 3, |config| config.bug = Some(Bug::VoteTwice));
    assert!(vote_granted(
        &voter.step(ms(1), request_vote("n2", 5, 0, 0))
    ));
    assert!(vote_granted(
        &voter.step(ms(2), request_vote("n3", 5, 0, 0))
    ));
    // The correct node refuses.
    let mut correct = node("n1", 3);
    assert!(vote_granted(
        &correct.step(ms(1), request_vote("n2", 5, 0, 0))
    ));
    assert!(!vote_granted(
        &correct.step(ms(2), request_vote("n3", 5, 0, 0))
    ));
}

#[test]
fn bug_no_step_down_leader_ignores_higher_terms() {
    let mut leader = node_with("n1", 3, |config| config.bug = Some(Bug::NoStepDown));
    time_out(&mut leader);
    leader.step(
        ms(400),
        Message::RequestVoteReply {
            from: "n2".into(),
            term: 1,
            granted: true,
        },
    );
    assert_eq!(leader.role(), Role::Leader);
    let outputs = leader.step(ms(401), append_entries("n3", 7, (0, 0), &[]));
    assert_eq!(outputs, vec![]);
    assert_eq!((leader.role(), leader.term()), (Role::Leader, 1));
}

#[test]
fn bug_quorum_off_by_one_elects_a_lone_candidate() {
    let mut lone = node_with("n1", 3, |config| config.bug = Some(Bug::QuorumOffByOne));
    time_out(&mut lone);
    assert_eq!(lone.role(), Role::Leader, "won with its own vote only");
    // And in a cluster it produces two leaders in one term eventually, or at
    // least leaders that never heard of each other: here, two isolated nodes.
    let mut cluster = Cluster::with(3, 4, |config| config.bug = Some(Bug::QuorumOffByOne));
    cluster.isolate("n1");
    cluster.isolate("n2");
    cluster.run_for(ms(1000));
    assert!(cluster.leaders().len() >= 2);
}

/// Runs a candidate alone (retries unanswered) until it campaigns in the next
/// term; returns the time it did.
fn campaign_again(node: &mut RaftNode) -> Duration {
    let term = node.term();
    loop {
        let deadline = node.next_deadline();
        node.tick(deadline);
        if node.term() > term {
            return deadline;
        }
    }
}

fn granted_reply(from: &str, term: Term) -> Message {
    Message::RequestVoteReply {
        from: from.into(),
        term,
        granted: true,
    }
}

#[test]
fn bug_count_replies_wins_on_one_voters_repeated_grant() {
    for bug in [None, Some(Bug::CountReplies)] {
        let mut candidate = node_with("n1", 5, |config| config.bug = bug);
        time_out(&mut candidate);
        assert_eq!((candidate.role(), candidate.term()), (Role::Candidate, 1));
        // n2's grant arrives twice: a duplicated datagram, or its answer to
        // the candidate's retried request.
        candidate.step(ms(400), granted_reply("n2", 1));
        candidate.step(ms(401), granted_reply("n2", 1));
        let expected = if bug.is_some() {
            Role::Leader
        } else {
            Role::Candidate
        };
        assert_eq!(
            candidate.role(),
            expected,
            "bug {bug:?}: two voters of five"
        );
    }
}

/// The harm: with count-replies, a candidate backed by two of five voters
/// shares its term with the rightful winner of the other three.
#[test]
fn bug_count_replies_elects_two_leaders_in_one_term() {
    let bugged = |config: &mut RaftConfig| config.bug = Some(Bug::CountReplies);
    let mut n1 = node_with("n1", 5, bugged);
    let mut n5 = node_with("n5", 5, bugged);
    time_out(&mut n1);
    time_out(&mut n5);
    assert_eq!((n1.term(), n5.term()), (1, 1));
    let mut voters: BTreeMap<&str, RaftNode> = ["n2", "n3", "n4"]
        .into_iter()
        .map(|id| (id, node_with(id, 5, bugged)))
        .collect();
    // n2 hears n1 first; n3 and n4 hear n5 first.
    for (voter, candidate) in [("n2", "n1"), ("n3", "n5"), ("n4", "n5")] {
        let outputs = voters
            .get_mut(voter)
            .unwrap()
            .step(ms(300), request_vote(candidate, 1, 0, 0));
        assert!(vote_granted(&outputs), "{voter} grants {candidate}");
    }
    // n1 retries n2, whose repeated grant is not a second vote.
    let outputs = voters
        .get_mut("n2")
        .unwrap()
        .step(ms(350), request_vote("n1", 1, 0, 0));
    assert!(vote_granted(&outputs));
    n1.step(ms(351), granted_reply("n2", 1));
    n1.step(ms(352), granted_reply("n2", 1));
    n5.step(ms(351), granted_reply("n3", 1));
    n5.step(ms(352), granted_reply("n4", 1));
    assert_eq!((n1.role(), n1.term()), (Role::Leader, 1));
    assert_eq!((n5.role(), n5.term()), (Role::Leader, 1));
}

#[test]
fn bug_count_earlier_terms_wins_on_late_grants() {
    for bug in [None, Some(Bug::CountEarlierTerms)] {
        let mut candidate = node_with("n1", 5, |config| config.bug = bug);
        time_out(&mut candidate);
        // No answer in time: it campaigns again in term 2.
        let now = campaign_again(&mut candidate) + ms(1);
        assert_eq!((candidate.role(), candidate.term()), (Role::Candidate, 2));
        // The grants of term 1 arrive late.
        candidate.step(now, granted_reply("n2", 1));
        candidate.step(now, granted_reply("n3", 1));
        let expected = if bug.is_some() {
            Role::Leader
        } else {
            Role::Candidate
        };
        assert_eq!(candidate.role(), expected, "bug {bug:?}: grants of term 1");
        assert_eq!(candidate.term(), 2);
    }
}

/// The harm: the voters whose late term-1 grants elect n1 in term 2 vote
/// for n4 in term 2, which wins too.
#[test]
fn bug_count_earlier_terms_elects_two_leaders_in_one_term() {
    let bugged = |config: &mut RaftConfig| config.bug = Some(Bug::CountEarlierTerms);
    let mut n1 = node_with("n1", 5, bugged);
    time_out(&mut n1);
    let mut voters: BTreeMap<&str, RaftNode> = ["n2", "n3"]
        .into_iter()
        .map(|id| (id, node_with(id, 5, bugged)))
        .collect();
    for voter in voters.values_mut() {
        assert!(vote_granted(
            &voter.step(ms(10), request_vote("n1", 1, 0, 0))
        ));
    }
    // Their replies are delayed past n1's election timeout.
    let late = campaign_again(&mut n1) + ms(1);
    assert_eq!(n1.term(), 2);
    let mut n4 = node_with("n4", 5, bugged);
    time_out(&mut n4);
    campaign_again(&mut n4);
    assert_eq!(n4.term(), 2);
    for voter in voters.values_mut() {
        assert!(vote_granted(
            &voter.step(ms(700), request_vote("n4", 2, 0, 0))
        ));
    }
    n4.step(ms(701), granted_reply("n2", 2));
    n4.step(ms(701), granted_reply("n3", 2));
    n1.step(late, granted_reply("n2", 1));
    n1.step(late, granted_reply("n3", 1));
    assert_eq!((n4.role(), n4.term()), (Role::Leader, 2));
    assert_eq!((n1.role(), n1.term()), (Role::Leader, 2));
}

#[test]
fn bug_stale_heartbeat_follows_an_old_leader() {
    let mut follower = node_with("n1", 3, |config| config.bug = Some(Bug::StaleHeartbeat));
    follower.step(ms(1), append_entries("n2", 5, (0, 0), &[5]));
    let outputs = follower.step(ms(2), append_entries("n3", 3, (0, 0), &[]));
    assert_eq!(follower.leader(), Some("n3"));
    assert_eq!(follower.term(), 5);
    assert!(matches!(
        sends(&outputs)[0].1,
        Message::AppendEntriesReply {
            term: 3,
            success: true,
            ..
        }
    ));
    // The correct node tells the stale leader its term and keeps its leader.
    let mut correct = node("n1", 3);
    correct.step(ms(1), append_entries("n2", 5, (0, 0), &[5]));
    let outputs = correct.step(ms(2), append_entries("n3", 3, (0, 0), &[]));
    assert_eq!(correct.leader(), Some("n2"));
    assert!(matches!(
        sends(&outputs)[0].1,
        Message::AppendEntriesReply {
            term: 5,
            success: false,
            ..
        }
    ));
}

#[test]
fn bug_no_log_check_votes_for_an_older_log() {
    let mut voter = node_with("n1", 3, |config| config.bug = Some(Bug::NoLogCheck));
    voter.step(ms(1), append_entries("n2", 4, (0, 0), &[4]));
    let outputs = voter.step(ms(2), request_vote("n3", 5, 1, 1));
    assert!(vote_granted(&outputs));
    assert!(outputs.iter().any(|output| matches!(
        output,
        Output::Vote {
            voter_log: [4, 1],
            candidate_log: [1, 1],
            ..
        }
    )));
}

// ---- options ----

#[test]
fn prevote_keeps_an_isolated_node_from_inflating_its_term() {
    for prevote in [false, true] {
        let mut cluster = Cluster::with(3, 8, |config| config.prevote = prevote);
        cluster.run_for(ms(800));
        let leader = cluster.leaders()[0].clone();
        let term = cluster.node(&leader).term();
        let loner = names(3).into_iter().find(|id| *id != leader).unwrap();
        cluster.isolate(&loner);
        cluster.run_for(ms(2000));
        if prevote {
            assert_eq!(cluster.node(&loner).term(), term, "no term bump");
            assert_eq!(cluster.node(&loner).role(), Role::PreCandidate);
        } else {
            assert!(cluster.node(&loner).term() > term + 2, "term keeps rising");
        }
        cluster.heal();
        cluster.run_for(ms(1000));
        cluster.assert_settled();
        cluster.assert_one_leader_per_term();
        if prevote {
            // The rejoining node did not disrupt the leader.
            assert_eq!(cluster.leaders(), vec![leader.clone()]);
            assert_eq!(cluster.node(&leader).term(), term);
        }
    }
}

#[test]
fn prevote_campaign_bumps_the_term_only_after_a_majority_agrees() {
    let mut pre = node_with("n1", 3, |config| config.prevote = true);
    let outputs = time_out(&mut pre);
    assert_eq!((pre.role(), pre.term()), (Role::PreCandidate, 0));
    assert!(persisted(&outputs).is_none(), "nothing durable changes");
    assert!(sends(&outputs)
        .iter()
        .all(|(_, msg)| matches!(msg, Message::PreVote { term: 1, .. })));

    // A follower that has heard from no leader grants (its term unchanged).
    let mut voter = node_with("n2", 3, |config| config.prevote = true);
    let (_, request) = sends(&outputs)
        .into_iter()
        .find(|(to, _)| to == "n2")
        .unwrap();
    let reply = voter.step(ms(400), request.clone());
    assert_eq!(voter.term(), 0);
    assert_eq!(voter.voted_for(), None);
    let (_, grant) = sends(&reply).remove(0);
    assert!(matches!(
        grant,
        Message::PreVoteReply {
            term: 1,
            granted: true,
            ..
        }
    ));

    // A follower that just heard from its leader refuses.
    let mut loyal = node_with("n3", 3, |config| config.prevote = true);
    loyal.step(ms(390), append_entries("n2", 0, (0, 0), &[]));
    let refusal = loyal.step(ms(400), request);
    assert!(matches!(
        sends(&refusal)[0].1,
        Message::PreVoteReply { granted: false, .. }
    ));

    let campaign = pre.step(ms(401), grant);
    assert_eq!((pre.role(), pre.term()), (Role::Candidate, 1));
    assert!(sends(&campaign)
        .iter()
        .all(|(_, msg)| matches!(msg, Message::RequestVote { term: 1, .. })));
}

#[test]
fn check_quorum_makes_an_isolated_leader_step_down() {
    for check_quorum in [false, true] {
        let mut cluster = Cluster::with(5, 6, |config| config.check_quorum = check_quorum);
        cluster.run_for(ms(800));
        cluster.assert_settled();
        let leader = cluster.leaders()[0].clone();
        cluster.isolate(&leader);
        cluster.run_for(ms(400));
        let still_leader = cluster.node(&leader).role() == Role::Leader;
        assert_eq!(still_leader, !check_quorum, "check_quorum = {check_quorum}");
        cluster.heal();
        cluster.run_for(ms(1500));
        cluster.assert_settled();
        cluster.assert_one_leader_per_term();
    }
    // A healthy leader with check-quorum stays.
    let mut cluster = Cluster::with(3, 6, |config| config.check_quorum = true);
    cluster.run_for(ms(800));
    let leader = cluster.leaders()[0].clone();
    cluster.run_for(ms(3000));
    assert_eq!(cluster.leaders(), vec![leader]);
}

#[test]
fn candidate_asks_again_the_peers_that_have_not_granted_their_vote() {
    let mut candidate = node("n1", 5);
    let first = time_out(&mut candidate);
    assert_eq!((candidate.role(), candidate.term()), (Role::Candidate, 1));
    let asked = |outputs: &[Output]| -> Vec<NodeId> {
        sends(outputs)
            .into_iter()
            .filter(|(_, m)| matches!(m, Message::RequestVote { term: 1, .. }))
            .map(|(to, _)| to)
            .collect()
    };
    assert_eq!(asked(&first), names(5)[1..].to_vec());
    let now = candidate.next_deadline() - ms(1);
    candidate.step(
        now,
        Message::RequestVoteReply {
            from: "n2".into(),
            term: 1,
            granted: true,
        },
    );
    // Before its election times out, the candidate retries the others once
    // per heartbeat interval, in the same term.
    let retry = time_out(&mut candidate);
    assert_eq!((candidate.role(), candidate.term()), (Role::Candidate, 1));
    assert_eq!(asked(&retry), vec!["n3", "n4", "n5"]);
}

#[test]
fn a_repeated_request_is_granted_again_without_holding_the_timer_back() {
    let mut voter = node("n2", 3);
    let first = voter.step(ms(10), request_vote("n1", 1, 0, 0));
    assert!(vote_granted(&first));
    let deadline = voter.next_deadline();
    let again = voter.step(ms(60), request_vote("n1", 1, 0, 0));
    assert!(vote_granted(&again), "the retry is answered: {again:?}");
    assert!(
        !again.iter().any(|o| matches!(o, Output::Vote { .. })),
        "no second vote is reported: {again:?}"
    );
    assert_eq!(
        voter.next_deadline(),
        deadline,
        "the election timer runs on"
    );
}
