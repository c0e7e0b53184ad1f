//! The pure Raft election state machine, in the style of tikv/raft-rs: no I/O,
//! no clock and no randomness of its own. The shell feeds it messages
//! ([`RaftNode::step`]) and the passage of time ([`RaftNode::tick`]), and
//! executes the [`Output`]s it returns, in order. That makes every election
//! rule testable deterministically, in-process, with a simulated network.
//!
//! The rules follow the Raft paper (§5.1, §5.2, §5.4.1) exactly, plus the
//! optional pre-vote and check-quorum extensions of the Raft thesis (§9.6,
//! §6.2). Seeded bugs ([`Bug`]) are small deviations, each marked in the code
//! with a `BUG(name)` comment so they are easy to find and review.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::message::{Entry, LogIndex, Message, NodeId, Term};

/// At most this many log entries go in one AppendEntries, so a message always
/// fits comfortably in one UDP datagram.
pub const MAX_ENTRIES_PER_MESSAGE: usize = 64;

/// A seeded bug: a deliberate, documented deviation from Raft that the
/// harness's checkers are expected to catch. Chosen with `--bug NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
#[value(rename_all = "kebab-case")]
pub enum Bug {
    /// currentTerm is not made durable: the Persist output always carries
    /// term 0, so a restarted node comes back at term 0. votedFor is still
    /// persisted, but it is meaningless without its term (the node's first
    /// higher-term message clears it), so a restarted node can vote a second
    /// time in a term it already voted in, and its reported term goes back.
    ForgetTerm,
    /// votedFor is not made durable: a restarted node keeps its term but can
    /// vote again in it.
    ForgetVote,
    /// A node grants its vote to any up-to-date candidate, even after voting
    /// for another one in the same term.
    VoteTwice,
    /// A leader ignores messages with a higher term instead of stepping down.
    NoStepDown,
    /// The quorum is ⌊N/2⌋ instead of ⌊N/2⌋+1 (a 3-node candidate wins alone).
    QuorumOffByOne,
    /// A node accepts AppendEntries from an older term as if it came from the
    /// current leader: it follows the stale leader, resets its election timer
    /// and acknowledges at the sender's term (so the stale leader stays).
    StaleHeartbeat,
    /// Votes are granted without the §5.4.1 up-to-date check on the log.
    NoLogCheck,
    /// A candidate counts granted replies, not distinct voters: it keeps a
    /// count, so its retries ask every peer again, and a voter's answer to a
    /// retried request (or a duplicated reply) counts again. A 5-node
    /// candidate wins with two voters and may share its term with a
    /// rightful winner.
    CountReplies,
    /// A candidate counts granted replies from an earlier term toward its
    /// current election: grants that arrive late, after it timed out and
    /// campaigned again, elect it without those voters' votes in this term.
    CountEarlierTerms,
}

/// The role of a node, as reported in `state` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asks for pre-votes before campaigning (only with pre-vote enabled).
    PreCandidate,
    /// Campaigns for votes in its current term.
    Candidate,
    /// Won its term.
    Leader,
}

impl Role {
    /// The name used on the wire and in `state` events.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that shapes a node's behaviour, fixed for its lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    /// This node's name.
    pub id: NodeId,
    /// Every other node of the cluster (not including `id`).
    pub peers: Vec<NodeId>,
    /// Lower bound of the randomized election timeout (Raft §5.2).
    pub election_timeout_min: Duration,
    /// Upper bound (inclusive) of the randomized election timeout.
    pub election_timeout_max: Duration,
    /// How often a leader sends AppendEntries heartbeats.
    pub heartbeat_interval: Duration,
    /// Ask for pre-votes before bumping the term (Raft thesis §9.6).
    pub prevote: bool,
    /// A leader steps down when it has not heard from a majority within an
    /// election timeout (Raft thesis §6.2).
    pub check_quorum: bool,
    /// The seeded bug, if any.
    pub bug: Option<Bug>,
}

impl RaftConfig {
    /// A correct node with the paper's default timing (150–300 ms election
    /// timeout, 50 ms heartbeats) and no extensions.
    pub fn new(id: impl Into<NodeId>, peers: Vec<NodeId>) -> Self {
        RaftConfig {
            id: id.into(),
            peers,
            election_timeout_min: Duration::from_millis(150),
            election_timeout_max: Duration::from_millis(300),
            heartbeat_interval: Duration::from_millis(50),
            prevote: false,
            check_quorum: false,
            bug: None,
        }
    }
}

/// The state Raft requires on stable storage before a node acts on it
/// (Figure 2: currentTerm and votedFor). The log is volatile in this node:
/// a restarted node has an empty log, which is safe for the up-to-date rule
/// because it only makes that node less up-to-date.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistentState {
    /// currentTerm.
    pub term: Term,
    /// votedFor in `term`, if any.
    pub voted_for: Option<NodeId>,
}

/// An effect the shell must carry out, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Make this durable BEFORE executing any later output of the same batch.
    Persist {
        /// currentTerm to store.
        term: Term,
        /// votedFor to store.
        voted_for: Option<NodeId>,
    },
    /// Role, term or known leader changed: report it (a `state` event). It
    /// always precedes any message sent in the new role.
    State {
        /// The new role.
        role: Role,
        /// The current term.
        term: Term,
        /// The known leader of `term`, if any.
        leader: Option<NodeId>,
    },
    /// This node granted its vote (a `vote` event); self-votes included.
    Vote {
        /// The term of the vote.
        term: Term,
        /// Who got the vote (`for` in the `vote` event).
        candidate: NodeId,
        /// The voter's `[last log term, last log index]`.
        voter_log: [u64; 2],
        /// The candidate's `[last log term, last log index]` as it claimed.
        candidate_log: [u64; 2],
    },
    /// Send a message to a peer (best effort: the network may lose it).
    Send {
        /// The peer's name.
        to: NodeId,
        /// The message.
        msg: Message,
    },
}

/// What was last reported with [`Output::State`].
type ReportedState = (Role, Term, Option<NodeId>);

/// One Raft node's election state machine.
#[derive(Debug)]
pub struct RaftNode {
    config: RaftConfig,
    rng: ChaCha8Rng,
    term: Term,
    voted_for: Option<NodeId>,
    log: Vec<Entry>,
    role: Role,
    leader: Option<NodeId>,
    /// When a follower or (pre-)candidate starts the next election.
    election_deadline: Duration,
    /// When a leader sends its next round of heartbeats, or a candidate asks
    /// the peers that have not granted their vote again (Raft §5 retries).
    heartbeat_deadline: Duration,
    /// When a leader with check-quorum next checks that a majority answered.
    quorum_check_deadline: Duration,
    /// Votes (or pre-votes, for a pre-candidate) granted in the current round,
    /// own vote included.
    votes: BTreeSet<NodeId>,
    /// Granted replies received in the current election, own vote included,
    /// counted once per reply (what `count-replies` wrongly compares).
    granted_replies: usize,
    /// Leader's view of each follower's log: next index to send.
    next_index: BTreeMap<NodeId, LogIndex>,
    /// Leader's view of each follower's log: highest index known to match.
    match_index: BTreeMap<NodeId, LogIndex>,
    /// Peers a leader heard from since the last check-quorum round.
    recently_active: BTreeSet<NodeId>,
    /// When a follower last heard from the leader of its term.
    last_leader_contact: Option<Duration>,
    /// The (term, votedFor) last handed out in a Persist output (before any
    /// seeded bug altered what is written).
    persisted: PersistentState,
    reported: Option<ReportedState>,
}

impl RaftNode {
    /// A node (re)starting at `now` from what it had made durable (use
    /// `PersistentState::default()` on first start). `rng` drives the
    /// randomized election timeouts, so a seed makes a run reproducible.
    /// The first `tick` or `step` reports the initial state.
    pub fn new(
        config: RaftConfig,
        restored: PersistentState,
        rng: ChaCha8Rng,
        now: Duration,
    ) -> Self {
        let mut node = RaftNode {
            config,
            rng,
            term: restored.term,
            voted_for: restored.voted_for.clone(),
            log: Vec::new(),
            role: Role::Follower,
            leader: None,
            election_deadline: now,
            heartbeat_deadline: now,
            quorum_check_deadline: now,
            votes: BTreeSet::new(),
            granted_replies: 0,
            next_index: BTreeMap::new(),
            match_index: BTreeMap::new(),
            recently_active: BTreeSet::new(),
            last_leader_contact: None,
            persisted: restored,
            reported: None,
        };
        node.reset_election_timer(now);
        node
    }

    /// This node's name.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &RaftConfig {
        &self.config
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// currentTerm.
    pub fn term(&self) -> Term {
        self.term
    }

    /// votedFor in the current term.
    pub fn voted_for(&self) -> Option<&str> {
        self.voted_for.as_deref()
    }

    /// The known leader of the current term.
    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    /// The log (one entry per leader term that reached this node).
    pub fn log(&self) -> &[Entry] {
        &self.log
    }

    /// `[last log term, last log index]`, as compared by the up-to-date rule.
    pub fn last_log(&self) -> [u64; 2] {
        [self.last_log_term(), self.last_log_index()]
    }

    /// The earliest time at which `tick` has something to do; the shell may
    /// sleep until then (or until a message arrives).
    pub fn next_deadline(&self) -> Duration {
        match self.role {
            Role::Leader if self.config.check_quorum => {
                self.heartbeat_deadline.min(self.quorum_check_deadline)
            }
            Role::Leader => self.heartbeat_deadline,
            Role::Candidate => self.election_deadline.min(self.heartbeat_deadline),
            _ => self.election_deadline,
        }
    }

    /// Advances time to `now`: starts an election when the election timeout
    /// elapsed, sends heartbeats when due, runs the check-quorum test.
    pub fn tick(&mut self, now: Duration) -> Vec<Output> {
        let mut out = Vec::new();
        match self.role {
            Role::Leader => {
                if self.config.check_quorum && now >= self.quorum_check_deadline {
                    if self.recently_active.len() + 1 < self.quorum() {
                        // Lost touch with a majority: stop claiming leadership.
                        self.become_follower(now, self.term, None);
                        self.flush(&mut out);
                        return out;
                    }
                    self.recently_active.clear();
                    self.quorum_check_deadline = now + self.config.election_timeout_min;
                }
                if now >= self.heartbeat_deadline {
                    self.heartbeat_deadline = now + self.config.heartbeat_interval;
                    self.broadcast_append_entries(&mut out);
                }
            }
            Role::Follower | Role::PreCandidate | Role::Candidate => {
                if now >= self.election_deadline {
                    if self.config.prevote {
                        self.become_pre_candidate(now, &mut out);
                    } else {
                        self.become_candidate(now, &mut out);
                    }
                } else if self.role == Role::Candidate && now >= self.heartbeat_deadline {
                    // Raft §5: servers retry RPCs that get no answer in time.
                    // A request lost to a dropped packet, or to a voter that
                    // was restarting, is asked again within the election.
                    self.heartbeat_deadline = now + self.config.heartbeat_interval;
                    self.request_votes(&mut out);
                }
            }
        }
        self.flush(&mut out);
        out
    }

    /// Handles one message received at `now`. Messages from anyone who is not
    /// a configured peer are ignored (no output).
    pub fn step(&mut self, now: Duration, msg: Message) -> Vec<Output> {
        let mut out = Vec::new();
        if !self.is_peer(msg.from()) {
            return out;
        }
        self.handle(now, msg, &mut out);
        self.flush(&mut out);
        out
    }

    /// Whether `id` is one of the configured peers (never this node itself).
    pub fn is_peer(&self, id: &str) -> bool {
        id != self.config.id && self.config.peers.iter().any(|peer| peer == id)
    }

    fn has_bug(&self, bug: Bug) -> bool {
        self.config.bug == Some(bug)
    }

    /// Votes needed to win: a majority of the whole cluster, self included.
    fn quorum(&self) -> usize {
        let cluster_size = self.config.peers.len() + 1;
        if self.has_bug(Bug::QuorumOffByOne) {
            // BUG(quorum-off-by-one): a minority "majority".
            return (cluster_size / 2).max(1);
        }
        cluster_size / 2 + 1
    }

    fn last_log_index(&self) -> LogIndex {
        self.log.len() as LogIndex
    }

    fn last_log_term(&self) -> Term {
        self.log.last().map_or(0, |entry| entry.term)
    }

    /// Term of the entry at `index` (0 for index 0), `None` past the end.
    fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        self.log.get(index as usize - 1).map(|entry| entry.term)
    }

    /// Raft §5.4.1: a log is at least as up-to-date as ours when its last term
    /// is higher, or equal with a last index at least as high.
    fn is_at_least_as_up_to_date(&self, last_log_term: Term, last_log_index: LogIndex) -> bool {
        let (our_term, our_index) = (self.last_log_term(), self.last_log_index());
        last_log_term > our_term || (last_log_term == our_term && last_log_index >= our_index)
    }

    fn reset_election_timer(&mut self, now: Duration) {
        let min = self.config.election_timeout_min.as_millis() as u64;
        let max = (self.config.election_timeout_max.as_millis() as u64).max(min);
        let timeout = self.rng.gen_range(min..=max);
        self.election_deadline = now + Duration::from_millis(timeout);
    }

    fn handle(&mut self, now: Duration, msg: Message, out: &mut Vec<Output>) {
        let from = msg.from().to_owned();
        let term = msg.term();
        // A pre-vote request and a granted pre-vote carry a proposed term that
        // nobody campaigns in yet: they must not move anyone's term.
        let carries_proposed_term = matches!(
            msg,
            Message::PreVote { .. } | Message::PreVoteReply { granted: true, .. }
        );
        if term > self.term && !carries_proposed_term {
            if self.role == Role::Leader && self.has_bug(Bug::NoStepDown) {
                // BUG(no-step-down): the leader drops the message and stays.
                return;
            }
            // Raft §5.1: a higher term means we are out of date.
            let leader = matches!(msg, Message::AppendEntries { .. }).then(|| from.clone());
            self.become_follower(now, term, leader);
        }
        match msg {
            Message::RequestVote {
                term,
                last_log_index,
                last_log_term,
                ..
            } => self.handle_request_vote(now, from, term, [last_log_term, last_log_index], out),
            Message::RequestVoteReply { term, granted, .. } => {
                // BUG(count-earlier-terms): a late grant from an earlier
                // election is taken as a vote in this one.
                let this_election =
                    term == self.term || (term < self.term && self.has_bug(Bug::CountEarlierTerms));
                if this_election && self.role == Role::Candidate && granted {
                    self.votes.insert(from);
                    self.granted_replies += 1;
                    let counted = if self.has_bug(Bug::CountReplies) {
                        // BUG(count-replies): a voter's repeated or duplicated
                        // grant counts again.
                        self.granted_replies
                    } else {
                        self.votes.len()
                    };
                    if counted >= self.quorum() {
                        self.become_leader(now, out);
                    }
                }
            }
            Message::PreVote {
                term,
                last_log_index,
                last_log_term,
                ..
            } => self.handle_pre_vote(now, from, term, [last_log_term, last_log_index], out),
            Message::PreVoteReply { term, granted, .. } => {
                if self.role == Role::PreCandidate && granted && term == self.term + 1 {
                    self.votes.insert(from);
                    if self.votes.len() >= self.quorum() {
                        self.become_candidate(now, out);
                    }
                }
            }
            Message::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                ..
            } => self.handle_append_entries(
                now,
                from,
                term,
                (prev_log_index, prev_log_term),
                entries,
                out,
            ),
            Message::AppendEntriesReply {
                term,
                success,
                match_index,
                ..
            } => self.handle_append_entries_reply(from, term, success, match_index, out),
        }
    }

    fn handle_request_vote(
        &mut self,
        now: Duration,
        candidate: NodeId,
        term: Term,
        candidate_log: [u64; 2],
        out: &mut Vec<Output>,
    ) {
        let mut granted = false;
        if term == self.term {
            let free_to_vote = match &self.voted_for {
                None => true,
                Some(already) if *already == candidate => true,
                // BUG(vote-twice): a second candidate in the same term is fine.
                Some(_) => self.has_bug(Bug::VoteTwice),
            };
            // BUG(no-log-check): skip the §5.4.1 restriction.
            let log_ok = self.has_bug(Bug::NoLogCheck)
                || self.is_at_least_as_up_to_date(candidate_log[0], candidate_log[1]);
            // A candidate retries its request; granting the same vote again
            // is not a new grant: it neither restarts the election timer nor
            // is reported again. Otherwise a candidate that can send but not
            // hear (a one-way cut) would hold every voter's timer back with
            // its retries, and no one else could ever be elected.
            let repeat = self.voted_for.as_ref() == Some(&candidate);
            if free_to_vote && log_ok {
                granted = true;
                if !repeat {
                    self.voted_for = Some(candidate.clone());
                    self.reset_election_timer(now);
                    let vote = Output::Vote {
                        term,
                        candidate: candidate.clone(),
                        voter_log: self.last_log(),
                        candidate_log,
                    };
                    self.emit(out, vote);
                }
            }
        }
        let reply = Message::RequestVoteReply {
            from: self.config.id.clone(),
            term: self.term,
            granted,
        };
        self.send(out, candidate, reply);
    }

    fn handle_pre_vote(
        &mut self,
        now: Duration,
        candidate: NodeId,
        proposed_term: Term,
        candidate_log: [u64; 2],
        out: &mut Vec<Output>,
    ) {
        // Thesis §9.6: grant when the candidate could win (its log is
        // up-to-date) and we have not heard from a live leader within the
        // minimum election timeout, so a node that merely lost touch cannot
        // disrupt a working cluster. Granting changes no state of ours.
        let leader_is_alive = match self.role {
            Role::Leader => true,
            Role::Follower => {
                self.leader.is_some()
                    && self
                        .last_leader_contact
                        .is_some_and(|contact| now < contact + self.config.election_timeout_min)
            }
            Role::PreCandidate | Role::Candidate => false,
        };
        let granted = proposed_term > self.term
            && !leader_is_alive
            && self.is_at_least_as_up_to_date(candidate_log[0], candidate_log[1]);
        let reply = Message::PreVoteReply {
            from: self.config.id.clone(),
            term: if granted { proposed_term } else { self.term },
            granted,
        };
        self.send(out, candidate, reply);
    }

    fn handle_append_entries(
        &mut self,
        now: Duration,
        leader: NodeId,
        term: Term,
        (prev_log_index, prev_log_term): (LogIndex, Term),
        entries: Vec<Entry>,
        out: &mut Vec<Output>,
    ) {
        let mut reply_term = self.term;
        if term < self.term {
            if !self.has_bug(Bug::StaleHeartbeat) {
                // A stale leader: tell it our term so it steps down.
                let reply = self.append_reply(false, 0);
                self.send(out, leader, reply);
                return;
            }
            // BUG(stale-heartbeat): treat the stale leader as the current one
            // and acknowledge at its own term.
            reply_term = term;
        }
        match self.role {
            // Two leaders in one term cannot happen in a correct cluster;
            // never let one overwrite the other's log.
            Role::Leader => return,
            Role::Candidate | Role::PreCandidate => {
                // Raft §5.2: someone won our term (or, pre-candidate, a leader
                // is alive after all).
                self.become_follower(now, self.term, Some(leader.clone()));
            }
            Role::Follower => {
                self.leader = Some(leader.clone());
                self.reset_election_timer(now);
            }
        }
        self.last_leader_contact = Some(now);
        let (success, match_index) = self.accept_entries(prev_log_index, prev_log_term, &entries);
        let mut reply = self.append_reply(success, match_index);
        if let Message::AppendEntriesReply { term, .. } = &mut reply {
            *term = reply_term;
        }
        self.send(out, leader, reply);
    }

    /// The follower side of log replication (Raft §5.3). Returns success and
    /// the match index (or, on failure, the index to retry after).
    fn accept_entries(
        &mut self,
        prev_log_index: LogIndex,
        prev_log_term: Term,
        entries: &[Entry],
    ) -> (bool, LogIndex) {
        let last_index = self.last_log_index();
        if prev_log_index > last_index {
            return (false, last_index);
        }
        if self.term_at(prev_log_index) != Some(prev_log_term) {
            return (false, prev_log_index.saturating_sub(1));
        }
        for (offset, entry) in entries.iter().enumerate() {
            let index = prev_log_index + 1 + offset as LogIndex;
            match self.term_at(index) {
                Some(existing) if existing == entry.term => {}
                Some(_) => {
                    // A conflict: drop it and everything after it.
                    self.log.truncate(index as usize - 1);
                    self.log.push(*entry);
                }
                None => self.log.push(*entry),
            }
        }
        (true, prev_log_index + entries.len() as LogIndex)
    }

    fn append_reply(&self, success: bool, match_index: LogIndex) -> Message {
        Message::AppendEntriesReply {
            from: self.config.id.clone(),
            term: self.term,
            success,
            match_index,
        }
    }

    fn handle_append_entries_reply(
        &mut self,
        follower: NodeId,
        term: Term,
        success: bool,
        match_index: LogIndex,
        out: &mut Vec<Output>,
    ) {
        if self.role != Role::Leader || term != self.term {
            return;
        }
        self.recently_active.insert(follower.clone());
        let last_index = self.last_log_index();
        let matched = self.match_index.get(&follower).copied().unwrap_or(0);
        if success {
            let matched = matched.max(match_index.min(last_index));
            self.match_index.insert(follower.clone(), matched);
            self.next_index.insert(follower.clone(), matched + 1);
            if matched < last_index {
                self.send_append_entries(&follower, out);
            }
        } else {
            // Back off nextIndex (using the follower's hint) and retry at
            // once. Logs are volatile here, so a restarted follower may have
            // lost entries it once matched: trust its refusal and lower the
            // match index too. nextIndex strictly decreases on every refusal
            // and index 0 always matches, so the exchange terminates.
            let next = self.next_index.get(&follower).copied().unwrap_or(1);
            let backed_off = next
                .saturating_sub(1)
                .min(match_index.saturating_add(1))
                .max(1);
            self.next_index.insert(follower.clone(), backed_off);
            self.match_index
                .insert(follower.clone(), matched.min(backed_off - 1));
            self.send_append_entries(&follower, out);
        }
    }

    fn become_follower(&mut self, now: Duration, term: Term, leader: Option<NodeId>) {
        let was_leader = self.role == Role::Leader;
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        if was_leader || self.leader.is_some() {
            // A former leader's election timer is long stale; a follower that
            // just heard from its leader restarts the timeout (§5.2).
            self.reset_election_timer(now);
        }
        if self.leader.is_some() {
            self.last_leader_contact = Some(now);
        }
    }

    fn become_pre_candidate(&mut self, now: Duration, out: &mut Vec<Output>) {
        self.role = Role::PreCandidate;
        self.leader = None;
        self.votes = BTreeSet::from([self.config.id.clone()]);
        self.reset_election_timer(now);
        self.flush(out);
        if self.votes.len() >= self.quorum() {
            self.become_candidate(now, out);
            return;
        }
        for peer in self.config.peers.clone() {
            let request = Message::PreVote {
                from: self.config.id.clone(),
                term: self.term + 1,
                last_log_index: self.last_log_index(),
                last_log_term: self.last_log_term(),
            };
            self.send(out, peer, request);
        }
    }

    fn become_candidate(&mut self, now: Duration, out: &mut Vec<Output>) {
        self.term += 1;
        self.voted_for = Some(self.config.id.clone());
        self.role = Role::Candidate;
        self.leader = None;
        self.votes = BTreeSet::from([self.config.id.clone()]);
        self.granted_replies = 1;
        self.reset_election_timer(now);
        let own_log = self.last_log();
        let self_vote = Output::Vote {
            term: self.term,
            candidate: self.config.id.clone(),
            voter_log: own_log,
            candidate_log: own_log,
        };
        self.emit(out, self_vote);
        if self.votes.len() >= self.quorum() {
            self.become_leader(now, out);
            return;
        }
        self.heartbeat_deadline = now + self.config.heartbeat_interval;
        self.request_votes(out);
    }

    /// Ask every peer that has not granted its vote yet in this term.
    fn request_votes(&mut self, out: &mut Vec<Output>) {
        // BUG(count-replies): a candidate that keeps a count, not its voters,
        // cannot tell who granted: it asks everyone again, and counts again.
        let ask_all = self.has_bug(Bug::CountReplies);
        for peer in self.config.peers.clone() {
            if self.votes.contains(&peer) && !ask_all {
                continue;
            }
            let request = Message::RequestVote {
                from: self.config.id.clone(),
                term: self.term,
                last_log_index: self.last_log_index(),
                last_log_term: self.last_log_term(),
            };
            self.send(out, peer, request);
        }
    }

    fn become_leader(&mut self, now: Duration, out: &mut Vec<Output>) {
        self.role = Role::Leader;
        self.leader = Some(self.config.id.clone());
        self.votes.clear();
        // The entry that makes "being elected" visible in the log, so the
        // up-to-date rule has something real to compare.
        self.log.push(Entry { term: self.term });
        let new_entry_index = self.last_log_index();
        for peer in &self.config.peers {
            self.next_index.insert(peer.clone(), new_entry_index);
            self.match_index.insert(peer.clone(), 0);
        }
        self.recently_active.clear();
        self.quorum_check_deadline = now + self.config.election_timeout_min;
        self.heartbeat_deadline = now + self.config.heartbeat_interval;
        self.flush(out);
        self.broadcast_append_entries(out);
    }

    fn broadcast_append_entries(&mut self, out: &mut Vec<Output>) {
        for peer in self.config.peers.clone() {
            self.send_append_entries(&peer, out);
        }
    }

    fn send_append_entries(&mut self, peer: &str, out: &mut Vec<Output>) {
        let next = self.next_index.get(peer).copied().unwrap_or(1).max(1);
        let prev_log_index = (next - 1).min(self.last_log_index());
        let prev_log_term = self.term_at(prev_log_index).unwrap_or(0);
        let start = prev_log_index as usize;
        let end = (start + MAX_ENTRIES_PER_MESSAGE).min(self.log.len());
        let request = Message::AppendEntries {
            from: self.config.id.clone(),
            term: self.term,
            prev_log_index,
            prev_log_term,
            entries: self.log[start..end].to_vec(),
        };
        self.send(out, peer.to_owned(), request);
    }

    fn send(&mut self, out: &mut Vec<Output>, to: NodeId, msg: Message) {
        self.emit(out, Output::Send { to, msg });
    }

    /// Pushes an effect after everything it depends on: durable state first,
    /// then the state report, then the effect.
    fn emit(&mut self, out: &mut Vec<Output>, output: Output) {
        self.flush(out);
        out.push(output);
    }

    fn flush(&mut self, out: &mut Vec<Output>) {
        let current = PersistentState {
            term: self.term,
            voted_for: self.voted_for.clone(),
        };
        if current != self.persisted {
            self.persisted = current.clone();
            let durable = self.durable_form(current);
            out.push(Output::Persist {
                term: durable.term,
                voted_for: durable.voted_for,
            });
        }
        let state = (self.role, self.term, self.leader.clone());
        if self.reported.as_ref() != Some(&state) {
            self.reported = Some(state);
            out.push(Output::State {
                role: self.role,
                term: self.term,
                leader: self.leader.clone(),
            });
        }
    }

    /// What actually reaches stable storage.
    fn durable_form(&self, mut state: PersistentState) -> PersistentState {
        if self.has_bug(Bug::ForgetTerm) {
            // BUG(forget-term): currentTerm never reaches the disk.
            state.term = 0;
        }
        if self.has_bug(Bug::ForgetVote) {
            // BUG(forget-vote): votedFor never reaches the disk.
            state.voted_for = None;
        }
        state
    }
}
