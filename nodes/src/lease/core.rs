//! The pure state machine of a Redis lease election: no I/O and no clock of
//! its own. The shell tells it the time ([`LeaseNode::tick`]), hands it each
//! Redis answer ([`LeaseNode::on_reply`]) and any stall it noticed
//! ([`LeaseNode::on_stall`]), and carries out the [`Output`]s in order: at
//! most one Redis request is outstanding at any time.
//!
//! The rules:
//! - A node without a lease asks Redis to acquire it (SET NX PX and, only on
//!   success, INCR of the fencing token, one atomic script). A refusal tells
//!   it the holder and the current token: it follows them (term = token).
//! - A leader renews every `renew_interval` (ttl/3) and believes in its lease
//!   until `ttl` after the *start* of its last successful renewal, so its
//!   belief never outlives the key in Redis. When that time passes without a
//!   renewal it steps down locally, and then keeps asking to renew the token
//!   it held until Redis answers: a compare-and-set renewal succeeds only if
//!   the key still names it with the same token (its lease never lapsed in
//!   Redis), otherwise it is refused and the node follows the new holder.
//! - Seeded bugs ([`LeaseBug`]) are marked `BUG(name)` in the code.

use std::time::Duration;

/// How a leader renews its lease (`--renew`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RenewMode {
    /// A script that checks holder and token and only then PEXPIREs: a
    /// renewal can never take over someone else's lease.
    #[default]
    Cas,
    /// `SET key id XX PX ttl`: succeeds whenever *some* lease exists,
    /// overwriting whoever holds it (the seeds' recipe; unsafe).
    Xx,
}

/// A seeded bug of the lease node (`--bug NAME`); the checkers should catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
#[value(rename_all = "kebab-case")]
pub enum LeaseBug {
    /// Renew with `SET key id XX PX ttl` (the seeds' recipe), whatever
    /// `--renew` says: a node that lost its lease renews it anyway when
    /// someone else holds it, so two nodes lead at once.
    RenewXx,
    /// The leader measures its lease on a clock that stands still while the
    /// process is stopped (like a count of its own loop's ticks): after a
    /// pause past its lease it resumes acting as leader, without re-checking
    /// the real time, until its next renewal fails.
    NoPauseCheck,
}

/// What a node believes it is (reported in `state` events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseRole {
    /// Holds no lease; follows the holder Redis names (if any).
    Follower,
    /// Holds the lease.
    Leader,
}

impl LeaseRole {
    /// The name used in `state` events.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseRole::Follower => "follower",
            LeaseRole::Leader => "leader",
        }
    }
}

/// Everything that shapes a node's behaviour, fixed for its lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// This node's name, stored as the lease key's value.
    pub id: String,
    /// The lease time to live in Redis.
    pub ttl: Duration,
    /// How often a leader renews (ttl/3 by default).
    pub renew_interval: Duration,
    /// How often a follower polls the holder and token (and tries to acquire).
    pub poll_interval: Duration,
    /// How long the shell waits for one Redis answer before giving up on the
    /// connection (a leader never waits past the end of its lease).
    pub request_timeout: Duration,
    /// How the leader renews.
    pub renew: RenewMode,
    /// The seeded bug, if any.
    pub bug: Option<LeaseBug>,
}

impl LeaseConfig {
    /// A correct node with the given ttl: renew at ttl/3, poll at ttl/20
    /// (at least 1 ms), answers awaited for up to ttl/4.
    pub fn new(id: impl Into<String>, ttl: Duration) -> Self {
        LeaseConfig {
            id: id.into(),
            ttl,
            renew_interval: ttl / 3,
            poll_interval: (ttl / 20).max(Duration::from_millis(1)),
            request_timeout: ttl / 4,
            renew: RenewMode::Cas,
            bug: None,
        }
    }

    /// The renewal actually used: `--bug renew-xx` forces `SET ... XX`.
    pub fn effective_renew(&self) -> RenewMode {
        if self.bug == Some(LeaseBug::RenewXx) {
            // BUG(renew-xx): the seeds' recipe.
            RenewMode::Xx
        } else {
            self.renew
        }
    }
}

/// One request to Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Acquire the lease if it is free (taking a new token), else report the
    /// holder and the current token.
    Acquire,
    /// Renew the lease held with `token`.
    Renew {
        /// The token (term) this node acquired the lease with.
        token: u64,
        /// How to renew.
        mode: RenewMode,
    },
}

/// Redis's answer to a [`Request`], or its absence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The lease was free and is now ours, with this new token.
    Acquired {
        /// The fencing token, used as the term.
        token: u64,
    },
    /// The lease is held (or free and the acquisition raced): here is who
    /// holds it and the current token.
    Held {
        /// The holder, `None` if the key is absent.
        holder: Option<String>,
        /// The current token.
        token: u64,
    },
    /// The renewal went through.
    Renewed,
    /// The renewal was refused: the lease is gone or someone else holds it.
    RenewRefused {
        /// The holder, when Redis said.
        holder: Option<String>,
        /// The current token, when Redis said (`SET ... XX` does not).
        token: Option<u64>,
    },
    /// No answer: connection refused, reset, timed out, or a protocol error.
    Unavailable,
}

/// An effect the shell must carry out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Report a `state` event (before acting in the new role).
    State {
        /// The role.
        role: LeaseRole,
        /// The fencing token held, or the newest one seen.
        term: u64,
        /// The holder this node believes in.
        leader: Option<String>,
    },
    /// Send this request to Redis and feed the answer to
    /// [`LeaseNode::on_reply`] (at most one is outstanding).
    Send(Request),
}

/// One node of a Redis lease election.
#[derive(Debug)]
pub struct LeaseNode {
    config: LeaseConfig,
    role: LeaseRole,
    /// The newest token seen (the term reported by a follower).
    term: u64,
    /// The holder a follower believes in.
    leader: Option<String>,
    /// The token this node acquired and has not been told it lost.
    held_token: Option<u64>,
    /// A leader's lease ends here (start of its last good renewal + ttl).
    lease_until: Duration,
    /// When the next request is due.
    next_request: Duration,
    /// The outstanding request and when it was sent.
    in_flight: Option<(Request, Duration)>,
    /// What was last reported.
    reported: Option<(LeaseRole, u64, Option<String>)>,
    /// Report the current state again even if unchanged (after a stall).
    reassert: bool,
}

impl LeaseNode {
    /// A node that has not talked to Redis yet: its first tick asks to acquire.
    pub fn new(config: LeaseConfig, now: Duration) -> Self {
        LeaseNode {
            config,
            role: LeaseRole::Follower,
            term: 0,
            leader: None,
            held_token: None,
            lease_until: now,
            next_request: now,
            in_flight: None,
            reported: None,
            reassert: false,
        }
    }

    /// This node's id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// The current role.
    pub fn role(&self) -> LeaseRole {
        self.role
    }

    /// The current term (held token as leader, newest token seen otherwise).
    pub fn term(&self) -> u64 {
        match (self.role, self.held_token) {
            (LeaseRole::Leader, Some(token)) => token,
            _ => self.term,
        }
    }

    /// When a leader's lease ends (meaningful only for a leader).
    pub fn lease_until(&self) -> Duration {
        self.lease_until
    }

    /// The request awaiting an answer, if any.
    pub fn in_flight(&self) -> Option<&Request> {
        self.in_flight.as_ref().map(|(request, _)| request)
    }

    /// When the shell must call [`LeaseNode::tick`] next, at the latest.
    pub fn next_deadline(&self) -> Duration {
        match self.role {
            LeaseRole::Leader => self.next_request.min(self.lease_until),
            LeaseRole::Follower => self.next_request,
        }
    }

    /// How long the shell may wait for the outstanding answer: the request
    /// timeout, and never past a leader's lease (it must step down on time).
    pub fn reply_deadline(&self) -> Option<Duration> {
        let (_, sent) = self.in_flight.as_ref()?;
        let deadline = *sent + self.config.request_timeout;
        Some(match self.role {
            LeaseRole::Leader => deadline.min(self.lease_until),
            LeaseRole::Follower => deadline,
        })
    }

    /// The passage of time: a leader whose lease ran out steps down, and a
    /// due request is issued when none is outstanding.
    pub fn tick(&mut self, now: Duration) -> Vec<Output> {
        let mut out = Vec::new();
        if self.role == LeaseRole::Leader && now >= self.lease_until {
            // It could not renew within its lease: it no longer knows who
            // leads. It keeps its token and asks to renew it (below).
            self.role = LeaseRole::Follower;
            self.leader = None;
            self.next_request = self.next_request.min(now);
        }
        // Nothing is reported before Redis has said anything.
        if self.reported.is_some() {
            self.report(&mut out);
        }
        if self.in_flight.is_none() && now >= self.next_request {
            let request = match self.held_token {
                Some(token) => Request::Renew {
                    token,
                    mode: self.config.effective_renew(),
                },
                None => Request::Acquire,
            };
            self.in_flight = Some((request.clone(), now));
            out.push(Output::Send(request));
        }
        out
    }

    /// The shell noticed that it ran `stalled_for` later than it planned
    /// (SIGSTOP, an overloaded host): the node re-reports its state, so the
    /// history shows what it believes right after the stall. A correct
    /// leader checks its lease against the real time first ([`Self::tick`]).
    pub fn on_stall(&mut self, now: Duration, stalled_for: Duration) -> Vec<Output> {
        if self.config.bug == Some(LeaseBug::NoPauseCheck) && self.role == LeaseRole::Leader {
            // BUG(no-pause-check): the stall is not counted against the
            // lease; the leader resumes as if no time had passed.
            self.lease_until += stalled_for;
            self.next_request += stalled_for;
        }
        self.reassert = true;
        self.tick(now)
    }

    /// Redis answered the outstanding request (or did not: `Unavailable`).
    pub fn on_reply(&mut self, now: Duration, reply: Reply) -> Vec<Output> {
        let mut out = Vec::new();
        let Some((_request, sent)) = self.in_flight.take() else {
            return out;
        };
        let ttl = self.config.ttl;
        match reply {
            Reply::Acquired { token } => {
                self.term = self.term.max(token);
                self.held_token = Some(token);
                if now < sent + ttl {
                    self.become_leader(sent);
                } else {
                    // The answer came after the lease it granted had already
                    // run out: try to renew it, and let Redis decide.
                    self.next_request = now;
                }
            }
            Reply::Held { holder, token } => {
                self.term = self.term.max(token);
                self.follow(holder);
                self.next_request = now + self.config.poll_interval;
            }
            Reply::Renewed => {
                if now < sent + ttl {
                    self.become_leader(sent);
                } else {
                    self.next_request = now;
                }
            }
            Reply::RenewRefused { holder, token } => {
                self.held_token = None;
                if let Some(token) = token {
                    self.term = self.term.max(token);
                }
                self.role = LeaseRole::Follower;
                self.follow(holder);
                self.next_request = now;
            }
            Reply::Unavailable => {
                // Try again soon; a leader still steps down on time (tick).
                self.next_request = now + self.config.poll_interval;
            }
        }
        self.report(&mut out);
        out
    }

    /// Holds the lease from `renew_start` for a ttl.
    fn become_leader(&mut self, renew_start: Duration) {
        self.role = LeaseRole::Leader;
        self.leader = Some(self.config.id.clone());
        self.lease_until = renew_start + self.config.ttl;
        self.next_request = renew_start + self.config.renew_interval;
    }

    /// Follows `holder` (a leftover key naming this node itself, from before
    /// a restart or a lost lease, names no leader it could follow).
    fn follow(&mut self, holder: Option<String>) {
        self.role = LeaseRole::Follower;
        self.leader = holder.filter(|holder| *holder != self.config.id);
    }

    /// Appends a `State` output when role, term or leader changed (or a
    /// re-assertion was asked for).
    fn report(&mut self, out: &mut Vec<Output>) {
        let now = (self.role, self.term(), self.leader_named());
        if self.reassert || self.reported.as_ref() != Some(&now) {
            self.reassert = false;
            self.reported = Some(now.clone());
            out.push(Output::State {
                role: now.0,
                term: now.1,
                leader: now.2,
            });
        }
    }

    fn leader_named(&self) -> Option<String> {
        match self.role {
            LeaseRole::Leader => Some(self.config.id.clone()),
            LeaseRole::Follower => self.leader.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_millis(1000);

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    fn node(bug: Option<LeaseBug>) -> LeaseNode {
        let mut config = LeaseConfig::new("n1", TTL);
        config.bug = bug;
        LeaseNode::new(config, ms(0))
    }

    fn states(out: &[Output]) -> Vec<(LeaseRole, u64, Option<String>)> {
        out.iter()
            .filter_map(|o| match o {
                Output::State { role, term, leader } => Some((*role, *term, leader.clone())),
                Output::Send(_) => None,
            })
            .collect()
    }

    fn sent(out: &[Output]) -> Option<Request> {
        out.iter().find_map(|o| match o {
            Output::Send(request) => Some(request.clone()),
            Output::State { .. } => None,
        })
    }

    /// A one-key Redis with the scripts' semantics, for the state machine.
    #[derive(Default)]
    struct FakeRedis {
        holder: Option<String>,
        expires: Duration,
        token: u64,
    }

    impl FakeRedis {
        fn expire(&mut self, now: Duration) {
            if now >= self.expires {
                self.holder = None;
            }
        }

        fn handle(&mut self, now: Duration, id: &str, request: &Request) -> Reply {
            self.expire(now);
            match request {
                Request::Acquire => {
                    if self.holder.is_none() {
                        self.holder = Some(id.to_owned());
                        self.expires = now + TTL;
                        self.token += 1;
                        Reply::Acquired { token: self.token }
                    } else {
                        Reply::Held {
                            holder: self.holder.clone(),
                            token: self.token,
                        }
                    }
                }
                Request::Renew {
                    token,
                    mode: RenewMode::Cas,
                } => {
                    if self.holder.as_deref() == Some(id) && *token == self.token {
                        self.expires = now + TTL;
                        Reply::Renewed
                    } else {
                        Reply::RenewRefused {
                            holder: self.holder.clone(),
                            token: Some(self.token),
                        }
                    }
                }
                Request::Renew {
                    mode: RenewMode::Xx,
                    ..
                } => {
                    if self.holder.is_some() {
                        self.holder = Some(id.to_owned());
                        self.expires = now + TTL;
                        Reply::Renewed
                    } else {
                        Reply::RenewRefused {
                            holder: None,
                            token: None,
                        }
                    }
                }
            }
        }
    }

    /// Ticks `node` at `now`, answers any request from `redis` at once.
    fn step(node: &mut LeaseNode, redis: &mut FakeRedis, now: Duration) -> Vec<Output> {
        let mut out = node.tick(now);
        if let Some(request) = sent(&out) {
            let reply = redis.handle(now, &node.config.id.clone(), &request);
            out.extend(node.on_reply(now, reply));
        }
        out
    }

    #[test]
    fn acquiring_makes_a_leader_whose_term_is_the_token() {
        let mut redis = FakeRedis {
            token: 6,
            ..FakeRedis::default()
        };
        let mut n1 = node(None);
        let out = step(&mut n1, &mut redis, ms(0));
        assert_eq!(sent(&out), Some(Request::Acquire));
        assert_eq!(
            states(&out).last().cloned(),
            Some((LeaseRole::Leader, 7, Some("n1".into())))
        );
        assert_eq!(n1.lease_until(), TTL);
        // It renews at ttl/3 with a compare-and-set, and stays leader.
        assert!(sent(&n1.tick(ms(100))).is_none());
        let out = step(&mut n1, &mut redis, ms(334));
        assert_eq!(
            sent(&out),
            Some(Request::Renew {
                token: 7,
                mode: RenewMode::Cas
            })
        );
        assert_eq!(n1.role(), LeaseRole::Leader);
        assert_eq!(n1.lease_until(), ms(1334));
        assert!(states(&out).is_empty(), "no change, no state line");
    }

    #[test]
    fn a_follower_reports_the_holder_and_the_current_token() {
        let mut redis = FakeRedis {
            holder: Some("n2".into()),
            expires: ms(5000),
            token: 3,
        };
        let mut n1 = node(None);
        let out = step(&mut n1, &mut redis, ms(0));
        assert_eq!(
            states(&out),
            vec![(LeaseRole::Follower, 3, Some("n2".into()))]
        );
        // It polls again after the poll interval, not before.
        assert!(sent(&n1.tick(ms(10))).is_none());
        assert_eq!(sent(&n1.tick(ms(50))), Some(Request::Acquire));
    }

    #[test]
    fn a_refused_cas_renewal_steps_down_and_follows_the_new_holder() {
        let mut redis = FakeRedis::default();
        let mut n1 = node(None);
        step(&mut n1, &mut redis, ms(0));
        // n2 took over (as if n1's key had expired).
        redis.holder = Some("n2".into());
        redis.token = 2;
        let out = step(&mut n1, &mut redis, ms(334));
        assert_eq!(
            states(&out),
            vec![(LeaseRole::Follower, 2, Some("n2".into()))]
        );
        assert_eq!(redis.holder.as_deref(), Some("n2"), "n2's lease untouched");
        // From now on it only polls.
        assert_eq!(sent(&n1.tick(ms(400))), Some(Request::Acquire));
    }

    #[test]
    fn an_xx_renewal_overwrites_another_holder_and_both_lead() {
        let mut redis = FakeRedis::default();
        let mut n1 = node(Some(LeaseBug::RenewXx));
        let mut n2 = LeaseNode::new(LeaseConfig::new("n2", TTL), ms(0));
        step(&mut n1, &mut redis, ms(0));
        assert_eq!(n1.role(), LeaseRole::Leader);
        // n1 is cut off from Redis: its renewals get no answer; it steps down
        // locally when its lease ends.
        let out = n1.tick(ms(334));
        assert!(matches!(
            sent(&out),
            Some(Request::Renew {
                mode: RenewMode::Xx,
                ..
            })
        ));
        n1.on_reply(ms(584), Reply::Unavailable);
        let out = n1.tick(ms(1000));
        assert_eq!(states(&out)[0], (LeaseRole::Follower, 1, None));
        n1.on_reply(ms(1200), Reply::Unavailable);
        // The key expired in Redis; n2 acquires token 2.
        step(&mut n2, &mut redis, ms(1050));
        assert_eq!(n2.role(), LeaseRole::Leader);
        assert_eq!(n2.term(), 2);
        // n1 is reconnected: its renewal with SET XX takes n2's key.
        let out = step(&mut n1, &mut redis, ms(1300));
        assert_eq!(
            states(&out),
            vec![(LeaseRole::Leader, 1, Some("n1".into()))]
        );
        assert_eq!(
            redis.holder.as_deref(),
            Some("n1"),
            "n2's lease overwritten"
        );
        assert_eq!(n2.role(), LeaseRole::Leader, "and n2 still leads");
        // The same with a compare-and-set renewal is refused.
        let mut redis = FakeRedis {
            holder: Some("n2".into()),
            expires: ms(5000),
            token: 2,
        };
        let mut cas = node(None);
        cas.held_token = Some(1);
        let out = step(&mut cas, &mut redis, ms(0));
        assert_eq!(
            states(&out),
            vec![(LeaseRole::Follower, 2, Some("n2".into()))]
        );
        assert_eq!(redis.holder.as_deref(), Some("n2"));
    }

    #[test]
    fn a_leader_steps_down_when_its_lease_ends_unrenewed() {
        let mut redis = FakeRedis::default();
        let mut n1 = node(None);
        step(&mut n1, &mut redis, ms(0));
        // Its renewal hangs: the shell may wait only until the lease ends.
        n1.tick(ms(334));
        assert_eq!(n1.reply_deadline(), Some(ms(334 + 250)));
        n1.on_reply(ms(584), Reply::Unavailable);
        n1.tick(ms(634));
        n1.on_reply(ms(884), Reply::Unavailable);
        n1.tick(ms(934));
        assert_eq!(n1.reply_deadline(), Some(ms(1000)), "never past the lease");
        assert_eq!(n1.role(), LeaseRole::Leader);
        n1.on_reply(ms(1000), Reply::Unavailable);
        let out = n1.tick(ms(1000));
        assert_eq!(states(&out), vec![(LeaseRole::Follower, 1, None)]);
    }

    #[test]
    fn the_lease_is_measured_from_the_start_of_the_renewal() {
        let mut redis = FakeRedis::default();
        let mut n1 = node(None);
        step(&mut n1, &mut redis, ms(0));
        n1.tick(ms(334));
        // The answer takes 200 ms: the lease runs from 334, not 534.
        n1.on_reply(
            ms(534),
            redis.handle(
                ms(334),
                "n1",
                &Request::Renew {
                    token: 1,
                    mode: RenewMode::Cas,
                },
            ),
        );
        assert_eq!(n1.lease_until(), ms(1334));
        // An answer arriving after the lease it would grant is not believed.
        n1.tick(ms(668));
        n1.on_reply(ms(1700), Reply::Renewed);
        let out = n1.tick(ms(1700));
        assert_eq!(n1.role(), LeaseRole::Follower);
        assert!(matches!(sent(&out), Some(Request::Renew { token: 1, .. })));
    }

    #[test]
    fn a_pause_past_the_lease_makes_a_correct_leader_step_down_on_resume() {
        let mut redis = FakeRedis::default();
        let mut n1 = node(None);
        step(&mut n1, &mut redis, ms(0));
        // Paused from 100 ms to 2100 ms; the shell notices a 2 s stall.
        let out = n1.on_stall(ms(2100), ms(2000));
        assert_eq!(states(&out), vec![(LeaseRole::Follower, 1, None)]);
        assert!(matches!(sent(&out), Some(Request::Renew { .. })));
    }

    #[test]
    fn no_pause_check_keeps_leading_after_a_pause_until_a_renewal_fails() {
        let mut redis = FakeRedis::default();
        let mut n1 = node(Some(LeaseBug::NoPauseCheck));
        step(&mut n1, &mut redis, ms(0));
        // Paused at 100 ms for 2 s; meanwhile n2 takes the lease.
        redis.holder = Some("n2".into());
        redis.expires = ms(5000);
        redis.token = 2;
        let out = n1.on_stall(ms(2100), ms(2000));
        assert_eq!(
            states(&out),
            vec![(LeaseRole::Leader, 1, Some("n1".into()))],
            "it re-asserts its leadership"
        );
        assert!(sent(&out).is_none(), "and does not renew yet");
        assert_eq!(n1.role(), LeaseRole::Leader);
        // Its renewal comes due 334 ms after the last one, in its frozen time.
        assert!(sent(&n1.tick(ms(2300))).is_none());
        let out = step(&mut n1, &mut redis, ms(2334));
        assert_eq!(
            states(&out),
            vec![(LeaseRole::Follower, 2, Some("n2".into()))]
        );
    }

    #[test]
    fn a_short_stall_within_the_lease_re_asserts_leadership() {
        let mut redis = FakeRedis::default();
        let mut n1 = node(None);
        step(&mut n1, &mut redis, ms(0));
        let out = n1.on_stall(ms(300), ms(250));
        assert_eq!(
            states(&out),
            vec![(LeaseRole::Leader, 1, Some("n1".into()))]
        );
    }

    #[test]
    fn a_leader_whose_key_survived_renews_after_stepping_down() {
        let mut redis = FakeRedis::default();
        let mut n1 = node(None);
        step(&mut n1, &mut redis, ms(0));
        n1.tick(ms(334));
        n1.on_reply(ms(1000), Reply::Unavailable);
        // Redis still has its key (say n1's last renewal reached it late):
        // it steps down on time, asks to renew, and leads again.
        redis.expires = ms(1500);
        let out = step(&mut n1, &mut redis, ms(1000));
        assert_eq!(
            states(&out),
            vec![
                (LeaseRole::Follower, 1, None),
                (LeaseRole::Leader, 1, Some("n1".into()))
            ]
        );
    }

    #[test]
    fn terms_never_decrease_and_a_leftover_own_key_names_no_leader() {
        let mut redis = FakeRedis {
            holder: Some("n1".into()),
            expires: ms(500),
            token: 4,
        };
        let mut n1 = node(None);
        let out = step(&mut n1, &mut redis, ms(0));
        assert_eq!(states(&out), vec![(LeaseRole::Follower, 4, None)]);
        let out = step(&mut n1, &mut redis, ms(600));
        assert_eq!(
            states(&out),
            vec![(LeaseRole::Leader, 5, Some("n1".into()))]
        );
    }

    #[test]
    fn an_acquisition_answered_after_its_ttl_is_not_a_claim() {
        let mut n1 = node(None);
        n1.tick(ms(0));
        let out = n1.on_reply(ms(1500), Reply::Acquired { token: 3 });
        assert_eq!(states(&out), vec![(LeaseRole::Follower, 3, None)]);
        assert!(matches!(
            sent(&n1.tick(ms(1500))),
            Some(Request::Renew { token: 3, .. })
        ));
    }
}
