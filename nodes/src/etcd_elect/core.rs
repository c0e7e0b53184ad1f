//! The election client as a pure state machine: no I/O, no clock. The shell
//! tells it the time and the answers etcd gave; it returns what to report and
//! which requests to make, as values. That makes the lease rules testable
//! deterministically without an etcd.
//!
//! The rules:
//! - A lease is believed alive until `start of its last successful grant or
//!   keep-alive + TTL - safety margin`. etcd handled that request no earlier
//!   than it was started, so etcd's own expiry is never earlier: a client
//!   that steps down at this local deadline never overlaps the next leader in
//!   real time. The margin covers the time the step-down itself takes to be
//!   printed (scheduling delays); without it the two can be a few ms apart.
//! - The client campaigns with its lease; when the campaign returns (and the
//!   lease is still believed alive) it leads with term = its key's
//!   `create_revision`, a fencing token.
//! - A leader whose lease deadline passes, or whose keep-alive says the lease
//!   is gone, steps down (reports follower) and starts over with a new lease.
//! - A non-leader polls the election's leader and reports it as
//!   `follower, term = leader key's create_revision, leader = its value`.
//!   Leader revisions only grow, so an answer older than the highest term
//!   already reported is stale and dropped (terms never go back).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An etcd lease id.
pub type LeaseId = i64;

/// An etcd revision (a key's `create_revision` is the term).
pub type Revision = u64;

/// A seeded bug, chosen with `--bug NAME`: a deliberate, documented deviation
/// the checkers are expected to catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
#[value(rename_all = "kebab-case")]
pub enum Bug {
    /// A leader never checks its lease: it ignores its local lease deadline,
    /// and when a keep-alive says the lease is gone (it slept past the TTL)
    /// it grants itself a fresh lease and announces leadership again in its
    /// old term instead of stepping down and campaigning.
    NoLeaseCheck,
}

/// The role reported in `state` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Campaigning or waiting; follows the observed leader.
    Follower,
    /// Its key leads the election and its lease is believed alive.
    Leader,
}

impl Role {
    /// The name used in `state` events.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Leader => "leader",
        }
    }
}

/// The leader key of an election as `/v3/election/leader` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedLeader {
    /// The key's create revision (the leader's term).
    pub rev: Revision,
    /// The value the leader campaigned with (its node id).
    pub value: String,
    /// The lease the key is attached to.
    pub lease: LeaseId,
}

/// What etcd said to a keep-alive, as the state machine needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAliveOutcome {
    /// Renewed; etcd keeps it for this TTL from when it handled the request.
    Alive(Duration),
    /// etcd no longer has the lease.
    Gone,
    /// No answer (timeout, refused, cut by the proxy): the lease may or may not live.
    Failed,
}

/// Fixed settings of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectConfig {
    /// The node id, also the value campaigned with.
    pub id: String,
    /// The lease TTL asked for (whole seconds; etcd may raise it).
    pub ttl: Duration,
    /// How often a non-leader asks who leads.
    pub observe_interval: Duration,
    /// Wait before retrying a failed grant or campaign, or a keep-alive.
    pub retry_interval: Duration,
    /// Step down this long before the lease could expire in etcd.
    pub safety_margin: Duration,
    /// The seeded bug, if any.
    pub bug: Option<Bug>,
}

/// An effect for the shell to carry out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Make `term` durable before reporting it (terms never go back, across
    /// restarts too).
    PersistTerm(Revision),
    /// Print a `state` event.
    State {
        /// The role.
        role: Role,
        /// The leader key's create revision.
        term: Revision,
        /// The leader's id, if known.
        leader: Option<String>,
    },
    /// Grant a lease of the configured TTL; answer with [`ElectionClient::on_granted`].
    Grant,
    /// Renew `lease` once; answer with [`ElectionClient::on_keep_alive`].
    KeepAlive {
        /// The lease.
        lease: LeaseId,
    },
    /// Campaign with `lease` (blocks until elected); answer with
    /// [`ElectionClient::on_campaign`].
    Campaign {
        /// The lease the key is attached to.
        lease: LeaseId,
    },
    /// Ask who leads; answer with [`ElectionClient::on_observed`].
    ObserveLeader,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Lease {
    id: LeaseId,
    /// Believed alive until then.
    deadline: Duration,
    /// Start time of the keep-alive in flight.
    keep_alive_sent: Option<Duration>,
    next_keep_alive: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LeaseSlot {
    /// None; grant one at this time.
    Wanted(Duration),
    /// A grant started at this time is in flight.
    Granting(Duration),
    Held(Lease),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CampaignSlot {
    /// Campaign (with the held lease) at this time.
    Due(Duration),
    /// A campaign with this lease is in flight.
    InFlight(LeaseId),
    /// Elected; nothing to do.
    Won,
}

/// One election client's state.
#[derive(Debug, Clone)]
pub struct ElectionClient {
    config: ElectConfig,
    lease: LeaseSlot,
    campaign: CampaignSlot,
    /// The term this client leads in, if it leads.
    leading: Option<Revision>,
    /// The highest term ever reported (persisted).
    highest_term: Revision,
    reported: Option<(Role, Revision, Option<String>)>,
    observe_in_flight: bool,
    next_observe: Duration,
}

impl ElectionClient {
    /// A client that has reported up to `restored_term` in earlier lives.
    pub fn new(config: ElectConfig, restored_term: Revision, now: Duration) -> ElectionClient {
        ElectionClient {
            config,
            lease: LeaseSlot::Wanted(now),
            campaign: CampaignSlot::Due(now),
            leading: None,
            highest_term: restored_term,
            reported: None,
            observe_in_flight: false,
            next_observe: now,
        }
    }

    /// The term it leads in, if it believes it leads.
    pub fn leading(&self) -> Option<Revision> {
        self.leading
    }

    /// The id of its current lease, if it holds one.
    pub fn lease(&self) -> Option<LeaseId> {
        match &self.lease {
            LeaseSlot::Held(lease) => Some(lease.id),
            _ => None,
        }
    }

    /// When [`tick`](Self::tick) next has something to do.
    pub fn next_deadline(&self) -> Duration {
        let mut next = Duration::MAX;
        match &self.lease {
            LeaseSlot::Wanted(at) => next = next.min(*at),
            LeaseSlot::Granting(_) => {}
            LeaseSlot::Held(lease) => {
                if self.checks_lease() {
                    next = next.min(lease.deadline);
                }
                if lease.keep_alive_sent.is_none() {
                    next = next.min(lease.next_keep_alive);
                }
                if let CampaignSlot::Due(at) = self.campaign {
                    next = next.min(at);
                }
            }
        }
        if self.leading.is_none() && !self.observe_in_flight {
            next = next.min(self.next_observe);
        }
        next
    }

    /// Whether the local lease deadline is enforced (not by a leader with
    /// `no-lease-check`).
    fn checks_lease(&self) -> bool {
        !(self.leading.is_some() && self.config.bug == Some(Bug::NoLeaseCheck))
    }

    /// The passage of time: steps down at the lease deadline and starts the
    /// requests that are due.
    pub fn tick(&mut self, now: Duration) -> Vec<Output> {
        let mut out = Vec::new();
        self.enforce_deadline(now, &mut out);
        if let LeaseSlot::Wanted(at) = self.lease {
            if now >= at {
                self.lease = LeaseSlot::Granting(now);
                out.push(Output::Grant);
            }
        }
        if let LeaseSlot::Held(lease) = &mut self.lease {
            if lease.keep_alive_sent.is_none() && now >= lease.next_keep_alive {
                lease.keep_alive_sent = Some(now);
                out.push(Output::KeepAlive { lease: lease.id });
            }
            if let CampaignSlot::Due(at) = self.campaign {
                if now >= at && self.leading.is_none() {
                    self.campaign = CampaignSlot::InFlight(lease.id);
                    out.push(Output::Campaign { lease: lease.id });
                }
            }
        }
        if self.leading.is_none() && !self.observe_in_flight && now >= self.next_observe {
            self.observe_in_flight = true;
            out.push(Output::ObserveLeader);
        }
        out
    }

    /// The answer to [`Output::Grant`]: the lease id and granted TTL, or `None`
    /// when the grant failed.
    pub fn on_granted(
        &mut self,
        now: Duration,
        granted: Option<(LeaseId, Duration)>,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        let LeaseSlot::Granting(sent) = self.lease else {
            return out;
        };
        match granted {
            None => self.lease = LeaseSlot::Wanted(now + self.config.retry_interval),
            Some((id, granted_ttl)) => {
                let ttl = granted_ttl.min(self.config.ttl);
                self.lease = LeaseSlot::Held(Lease {
                    id,
                    deadline: (sent + ttl).saturating_sub(self.config.safety_margin),
                    keep_alive_sent: None,
                    next_keep_alive: sent + ttl / 3,
                });
                match self.leading {
                    // BUG(no-lease-check): a leader that lost its lease takes
                    // the new one as proof it still leads, and says so again.
                    Some(term) => self.report(
                        Role::Leader,
                        term,
                        Some(self.config.id.clone()),
                        true,
                        &mut out,
                    ),
                    None => self.campaign = CampaignSlot::Due(now),
                }
            }
        }
        out.extend(self.tick(now));
        out
    }

    /// The answer to [`Output::KeepAlive`] for `lease`.
    pub fn on_keep_alive(
        &mut self,
        now: Duration,
        lease_id: LeaseId,
        outcome: KeepAliveOutcome,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        let config_ttl = self.config.ttl;
        let margin = self.config.safety_margin;
        let retry = self.config.retry_interval;
        let LeaseSlot::Held(lease) = &mut self.lease else {
            return self.tick(now);
        };
        if lease.id != lease_id {
            return self.tick(now);
        }
        let sent = lease.keep_alive_sent.take().unwrap_or(now);
        match outcome {
            KeepAliveOutcome::Alive(ttl) => {
                let ttl = ttl.min(config_ttl);
                lease.deadline = lease.deadline.max((sent + ttl).saturating_sub(margin));
                lease.next_keep_alive = sent + ttl / 3;
            }
            KeepAliveOutcome::Failed => lease.next_keep_alive = now + retry.min(config_ttl / 3),
            KeepAliveOutcome::Gone => {
                if self.leading.is_some() && self.config.bug == Some(Bug::NoLeaseCheck) {
                    // BUG(no-lease-check): "just get another lease".
                    self.lease = LeaseSlot::Wanted(now);
                } else {
                    self.lose_lease(now, &mut out);
                }
            }
        }
        out.extend(self.tick(now));
        out
    }

    /// The answer to [`Output::Campaign`] with `lease`: the key's create
    /// revision once elected, or `None` when the campaign failed.
    pub fn on_campaign(
        &mut self,
        now: Duration,
        lease_id: LeaseId,
        elected: Option<Revision>,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        self.enforce_deadline(now, &mut out);
        let current = matches!(&self.lease, LeaseSlot::Held(lease) if lease.id == lease_id);
        if current && self.campaign == CampaignSlot::InFlight(lease_id) {
            match elected {
                Some(rev) => {
                    self.campaign = CampaignSlot::Won;
                    self.leading = Some(rev);
                    self.report(
                        Role::Leader,
                        rev,
                        Some(self.config.id.clone()),
                        false,
                        &mut out,
                    );
                }
                None => self.campaign = CampaignSlot::Due(now + self.config.retry_interval),
            }
        }
        out.extend(self.tick(now));
        out
    }

    /// The answer to [`Output::ObserveLeader`]: `Some(None)` when nobody
    /// leads, `None` when the request failed.
    pub fn on_observed(
        &mut self,
        now: Duration,
        observed: Option<Option<ObservedLeader>>,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        self.observe_in_flight = false;
        self.next_observe = now + self.config.observe_interval;
        self.enforce_deadline(now, &mut out);
        if self.leading.is_none() {
            match observed {
                None => {}
                // Not our own key (the campaign answer is on its way, or it is
                // the key of an earlier life of this node, soon to expire),
                // and not older than what was reported.
                Some(Some(leader))
                    if leader.value != self.config.id && leader.rev >= self.highest_term =>
                {
                    self.report(
                        Role::Follower,
                        leader.rev,
                        Some(leader.value),
                        false,
                        &mut out,
                    );
                }
                Some(Some(_)) => {}
                Some(None) => {
                    let term = self
                        .reported
                        .as_ref()
                        .map_or(self.highest_term, |(_, term, _)| *term);
                    self.report(Role::Follower, term, None, false, &mut out);
                }
            }
        }
        out.extend(self.tick(now));
        out
    }

    fn enforce_deadline(&mut self, now: Duration, out: &mut Vec<Output>) {
        if let LeaseSlot::Held(lease) = &self.lease {
            if now >= lease.deadline && self.checks_lease() {
                self.lose_lease(now, out);
            }
        }
    }

    /// The lease is (believed) gone: step down if leading, start over.
    fn lose_lease(&mut self, now: Duration, out: &mut Vec<Output>) {
        self.lease = LeaseSlot::Wanted(now);
        self.campaign = CampaignSlot::Due(now);
        if let Some(term) = self.leading.take() {
            self.report(Role::Follower, term, None, false, out);
            self.next_observe = now;
        }
    }

    fn report(
        &mut self,
        role: Role,
        term: Revision,
        leader: Option<String>,
        again: bool,
        out: &mut Vec<Output>,
    ) {
        let state = (role, term, leader);
        if !again && self.reported.as_ref() == Some(&state) {
            return;
        }
        if term > self.highest_term {
            self.highest_term = term;
            out.push(Output::PersistTerm(term));
        }
        out.push(Output::State {
            role: state.0,
            term: state.1,
            leader: state.2.clone(),
        });
        self.reported = Some(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(2);

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn config(bug: Option<Bug>) -> ElectConfig {
        ElectConfig {
            id: "n1".into(),
            ttl: TTL,
            observe_interval: ms(50),
            retry_interval: ms(100),
            safety_margin: Duration::ZERO,
            bug,
        }
    }

    fn states(out: &[Output]) -> Vec<(Role, Revision, Option<String>)> {
        out.iter()
            .filter_map(|o| match o {
                Output::State { role, term, leader } => Some((*role, *term, leader.clone())),
                _ => None,
            })
            .collect()
    }

    /// A client that has been granted lease 7 at t=0 and is campaigning.
    fn campaigning(bug: Option<Bug>) -> ElectionClient {
        let mut client = ElectionClient::new(config(bug), 0, ms(0));
        let out = client.tick(ms(0));
        assert_eq!(out, vec![Output::Grant, Output::ObserveLeader]);
        let out = client.on_observed(ms(2), Some(None));
        assert_eq!(states(&out), vec![(Role::Follower, 0, None)]);
        let out = client.on_granted(ms(5), Some((7, TTL)));
        assert_eq!(out, vec![Output::Campaign { lease: 7 }]);
        client
    }

    /// Elected in term 12 at t=10 ms.
    fn leader(bug: Option<Bug>) -> ElectionClient {
        let mut client = campaigning(bug);
        let out = client.on_campaign(ms(10), 7, Some(12));
        assert_eq!(
            out,
            vec![
                Output::PersistTerm(12),
                Output::State {
                    role: Role::Leader,
                    term: 12,
                    leader: Some("n1".into())
                }
            ]
        );
        client
    }

    #[test]
    fn campaign_success_leads_with_the_create_revision_as_term() {
        let client = leader(None);
        assert_eq!(client.leading(), Some(12));
        assert_eq!(client.lease(), Some(7));
    }

    #[test]
    fn keep_alive_runs_at_a_third_of_the_ttl_and_extends_the_deadline() {
        let mut client = leader(None);
        // Granted at t=0 (sent), so the first keep-alive is due at 666 ms.
        assert!(client.tick(ms(600)).is_empty());
        assert_eq!(client.tick(ms(667)), vec![Output::KeepAlive { lease: 7 }]);
        let out = client.on_keep_alive(ms(700), 7, KeepAliveOutcome::Alive(TTL));
        assert!(out.is_empty(), "{out:?}");
        // The deadline is now 667 + 2000 ms: still leading at 2.5 s without renewals.
        assert!(states(&client.tick(ms(2500))).is_empty());
        assert_eq!(client.leading(), Some(12));
    }

    #[test]
    fn a_leader_that_cannot_renew_within_the_ttl_steps_down_and_campaigns_again() {
        let mut client = leader(None);
        assert_eq!(client.tick(ms(667)), vec![Output::KeepAlive { lease: 7 }]);
        let out = client.on_keep_alive(ms(1000), 7, KeepAliveOutcome::Failed);
        assert!(states(&out).is_empty());
        // Retried after the retry interval; fails again.
        assert_eq!(client.tick(ms(1100)), vec![Output::KeepAlive { lease: 7 }]);
        assert!(states(&client.on_keep_alive(ms(1500), 7, KeepAliveOutcome::Failed)).is_empty());
        // The lease was granted (sent) at t=0 with a 2 s TTL: at 2 s it is gone.
        assert_eq!(client.next_deadline(), ms(1600));
        let _ = client.tick(ms(1600));
        let out = client.tick(ms(2000));
        assert_eq!(states(&out), vec![(Role::Follower, 12, None)]);
        assert!(out.contains(&Output::Grant), "{out:?}");
        assert!(out.contains(&Output::ObserveLeader), "{out:?}");
        assert_eq!(client.leading(), None);
        // A new lease, a new campaign.
        let out = client.on_granted(ms(2010), Some((8, TTL)));
        assert_eq!(out, vec![Output::Campaign { lease: 8 }]);
    }

    #[test]
    fn the_safety_margin_brings_the_step_down_forward() {
        let mut client = ElectionClient::new(
            ElectConfig {
                safety_margin: ms(100),
                ..config(None)
            },
            0,
            ms(0),
        );
        let _ = client.tick(ms(0));
        let _ = client.on_granted(ms(5), Some((7, TTL)));
        let _ = client.on_campaign(ms(10), 7, Some(3));
        assert_eq!(client.leading(), Some(3));
        assert!(client
            .tick(ms(1899))
            .iter()
            .all(|o| !matches!(o, Output::State { .. })));
        assert_eq!(
            states(&client.tick(ms(1900))),
            vec![(Role::Follower, 3, None)]
        );
    }

    #[test]
    fn a_keep_alive_that_says_the_lease_is_gone_means_stepping_down() {
        let mut client = leader(None);
        let _ = client.tick(ms(667));
        let out = client.on_keep_alive(ms(700), 7, KeepAliveOutcome::Gone);
        assert_eq!(states(&out), vec![(Role::Follower, 12, None)]);
        assert!(out.contains(&Output::Grant));
    }

    #[test]
    fn a_leader_resumed_after_its_ttl_steps_down_before_anything_else() {
        let mut client = leader(None);
        let _ = client.tick(ms(667));
        // Paused with the keep-alive in flight; its success arrives at 5 s,
        // but it started at 667 ms: the lease ended at 2667 ms.
        let out = client.on_keep_alive(ms(5000), 7, KeepAliveOutcome::Alive(TTL));
        assert_eq!(states(&out)[0], (Role::Follower, 12, None));
        assert_eq!(client.leading(), None);
    }

    #[test]
    fn a_late_campaign_answer_for_an_expired_lease_is_not_leadership() {
        let mut client = campaigning(None);
        let out = client.on_campaign(ms(3000), 7, Some(12));
        assert!(
            states(&out).iter().all(|(role, ..)| *role != Role::Leader),
            "{out:?}"
        );
        assert_eq!(client.leading(), None);
        assert!(out.contains(&Output::Grant));
    }

    #[test]
    fn a_follower_reports_the_observed_leader_and_its_revision() {
        let mut client = campaigning(None);
        let observed = ObservedLeader {
            rev: 9,
            value: "n2".into(),
            lease: 99,
        };
        let out = client.on_observed(ms(20), Some(Some(observed.clone())));
        assert_eq!(
            out,
            vec![
                Output::PersistTerm(9),
                Output::State {
                    role: Role::Follower,
                    term: 9,
                    leader: Some("n2".into())
                }
            ]
        );
        // The same answer again reports nothing; the next poll is due 50 ms later.
        assert!(client.on_observed(ms(80), Some(Some(observed))).is_empty());
        assert_eq!(client.next_deadline(), ms(130));
        // A stale answer (older revision) is dropped: terms never go back.
        let stale = ObservedLeader {
            rev: 4,
            value: "n3".into(),
            lease: 98,
        };
        assert!(states(&client.on_observed(ms(140), Some(Some(stale)))).is_empty());
        // Nobody leads: follower of nobody, in the last known term.
        assert_eq!(
            states(&client.on_observed(ms(200), Some(None))),
            vec![(Role::Follower, 9, None)]
        );
        // Its own key is not reported as someone to follow.
        let own = ObservedLeader {
            rev: 10,
            value: "n1".into(),
            lease: 7,
        };
        assert!(states(&client.on_observed(ms(260), Some(Some(own)))).is_empty());
    }

    #[test]
    fn a_restarted_client_never_reports_a_term_below_its_persisted_one() {
        let mut client = ElectionClient::new(config(None), 15, ms(0));
        let _ = client.tick(ms(0));
        let old = ObservedLeader {
            rev: 12,
            value: "n2".into(),
            lease: 1,
        };
        assert!(states(&client.on_observed(ms(10), Some(Some(old)))).is_empty());
        assert_eq!(
            states(&client.on_observed(ms(70), Some(None))),
            vec![(Role::Follower, 15, None)]
        );
    }

    #[test]
    fn failed_grants_and_campaigns_are_retried() {
        let mut client = ElectionClient::new(config(None), 0, ms(0));
        let _ = client.tick(ms(0));
        assert!(client.on_granted(ms(5), None).is_empty());
        assert_eq!(client.tick(ms(105)), vec![Output::Grant]);
        assert_eq!(
            client.on_granted(ms(110), Some((3, TTL))),
            vec![Output::Campaign { lease: 3 }]
        );
        assert!(client.on_campaign(ms(120), 3, None).is_empty());
        assert_eq!(client.tick(ms(220)), vec![Output::Campaign { lease: 3 }]);
    }

    #[test]
    fn seeded_bug_no_lease_check_keeps_leading_after_the_lease_is_gone() {
        let mut client = leader(Some(Bug::NoLeaseCheck));
        // No local deadline: still leading long after the TTL.
        assert_eq!(client.tick(ms(667)), vec![Output::KeepAlive { lease: 7 }]);
        let out = client.on_keep_alive(ms(5000), 7, KeepAliveOutcome::Gone);
        assert!(states(&out).is_empty());
        assert_eq!(out, vec![Output::Grant]);
        assert_eq!(client.leading(), Some(12));
        // The fresh lease is taken as proof of leadership: announced again.
        let out = client.on_granted(ms(5010), Some((8, TTL)));
        assert_eq!(states(&out), vec![(Role::Leader, 12, Some("n1".into()))]);
        assert!(!out.iter().any(|o| matches!(o, Output::Campaign { .. })));
    }
}
