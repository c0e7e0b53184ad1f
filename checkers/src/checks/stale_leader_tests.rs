//! `stale-leader` on hand-made histories: a live leader that can hear a
//! higher term must step down within the bound (docs/checkers.md, section 9).
//! Timing in every header: election timeout [150, 300] ms, heartbeat 50 ms,
//! so the bound is max(3 × 50, 300) = 300 ms.

use std::time::Duration;

use crate::{CheckOptions, CheckResult, Report, Verdict, CHECKER_NAMES, SAFETY_CHECKERS};
use serde_json::json;

use crate::testkit::{H, MS};

/// What these tests add to the shared history builder.
trait StaleLeaderHistory {
    fn state(&mut self, t: u64, node: usize, role: &str, term: u64, leader: Option<usize>) -> u64;
    fn leader(&mut self, t: u64, node: usize, term: u64) -> u64;
    fn follower(&mut self, t: u64, node: usize, term: u64, leader: Option<usize>) -> u64;
    fn net(&mut self, t: u64, cut: &[(&str, &str)]) -> u64;
    fn isolate_n1(&mut self, t: u64) -> u64;
    fn heal(&mut self, t: u64) -> u64;
    fn stop(&mut self, t: u64, nodes: usize);
    fn stale_leader(&self) -> CheckResult;
}

impl StaleLeaderHistory for H {
    fn state(&mut self, t: u64, node: usize, role: &str, term: u64, leader: Option<usize>) -> u64 {
        self.at(
            t,
            json!({"type": "state", "node": format!("n{node}"), "pid": 100 + node, "role": role,
                   "term": term, "leader": leader.map(|l| format!("n{l}"))}),
        )
    }
    fn leader(&mut self, t: u64, node: usize, term: u64) -> u64 {
        self.state(t, node, "leader", term, Some(node))
    }
    fn follower(&mut self, t: u64, node: usize, term: u64, leader: Option<usize>) -> u64 {
        self.state(t, node, "follower", term, leader)
    }
    /// The complete set of cut links (`[]` heals).
    fn net(&mut self, t: u64, cut: &[(&str, &str)]) -> u64 {
        let cut: Vec<[&str; 2]> = cut.iter().map(|(a, b)| [*a, *b]).collect();
        self.at(t, json!({"type": "net", "cut": cut}))
    }
    /// Cut n1 off from n2 and n3, both ways.
    fn isolate_n1(&mut self, t: u64) -> u64 {
        self.at(
            t,
            json!({"type": "nemesis", "op": "isolate", "nodes": ["n1"]}),
        );
        self.net(t, &[("n1", "n2"), ("n2", "n1"), ("n1", "n3"), ("n3", "n1")])
    }
    fn heal(&mut self, t: u64) -> u64 {
        self.at(t, json!({"type": "nemesis", "op": "heal", "nodes": []}));
        self.net(t, &[])
    }
    /// The final stop: kill every node without a nemesis op, then `end`.
    fn stop(&mut self, t: u64, nodes: usize) {
        for i in 1..=nodes {
            self.process(t, i, "kill");
        }
        self.at(t, json!({"type": "end"}));
    }
    fn stale_leader(&self) -> CheckResult {
        stale_leader_of(&self.check_with(&CheckOptions::default()))
    }
}

fn stale_leader_of(r: &Report) -> CheckResult {
    r.results
        .iter()
        .find(|c| c.checker == "stale-leader")
        .cloned()
        .expect("stale-leader ran")
}

/// n1 leads term 3, is isolated while n2 wins term 5, and the cut heals at
/// 1000 ms. Returns (n1's claim, n2's term-5 claim, the healing `net`).
fn old_leader_rejoins(h: &mut H) -> (u64, u64, u64) {
    let claim = h.leader(300, 1, 3);
    h.follower(300, 2, 3, Some(1));
    h.follower(300, 3, 3, Some(1));
    h.isolate_n1(500);
    let higher = h.leader(800, 2, 5);
    h.follower(800, 3, 5, Some(2));
    let healed = h.heal(1000);
    (claim, higher, healed)
}

#[test]
fn prompt_step_down_after_hearing_a_higher_term_is_valid() {
    let mut h = H::started(3, json!({}));
    old_leader_rejoins(&mut h);
    h.follower(1040, 1, 5, Some(2));
    h.stop(5000, 3);
    let c = h.stale_leader();
    assert_eq!(c.verdict, Verdict::Valid, "{} {:?}", c.figure, c.evidence);
    // Exposed to n2 and to n3 (both in term 5) for 40 ms each.
    assert_eq!(c.details["exposures"], 2);
    assert_eq!(c.details["violations"], 0);
    assert_eq!(c.details["longest_ms"], 40.0);
    assert_eq!(c.details["bound_ms"], 300.0);
    assert_eq!(c.figure, "2 exposures, longest 40 ms (bound 300 ms)");
}

#[test]
fn leader_that_keeps_its_old_term_while_connected_is_invalid() {
    let mut h = H::started(3, json!({}));
    let (claim, higher, healed) = old_leader_rejoins(&mut h);
    // n1 keeps saying it leads term 3 (repeated states do not end exposure).
    h.leader(1500, 1, 3);
    h.leader(2000, 1, 3);
    h.follower(3400, 1, 5, Some(2));
    h.stop(5000, 3);
    let c = h.stale_leader();
    assert_eq!(c.verdict, Verdict::Invalid, "{}", c.figure);
    assert_eq!(c.details["violations"], 2, "exposed to n2 and n3");
    assert_eq!(c.details["longest_ms"], 2400.0);
    let e = &c.evidence[0];
    assert_eq!(e.seqs, vec![claim, higher, healed]);
    assert_eq!(e.window, [1000 * MS, 3400 * MS]);
    assert_eq!(e.nodes, vec!["n1".to_string(), "n2".to_string()]);
    assert_eq!(
        e.message,
        "n1 kept leading term 3 for 2.4 s while connected both ways to n2 in term 5 (bound 300 ms)"
    );
    // A looser bound from the options makes the same history valid.
    let opts = CheckOptions {
        stale_leader_bound: Some(Duration::from_secs(3)),
        ..Default::default()
    };
    let c = stale_leader_of(&h.check_with(&opts));
    assert_eq!(c.verdict, Verdict::Valid);
    assert_eq!(c.details["bound_ms"], 3000.0);
}

#[test]
fn exposure_starts_at_the_higher_term_report_when_already_connected() {
    // n3 was cut off, campaigned into term 4, and is back; its report at
    // 1000 ms reaches a connected n1: no net event is part of the evidence.
    let mut h = H::started(3, json!({}));
    let claim = h.leader(300, 1, 2);
    h.follower(300, 2, 2, Some(1));
    let higher = h.state(1000, 3, "candidate", 4, None);
    h.leader(1200, 1, 2);
    h.follower(1500, 1, 4, None);
    h.stop(5000, 3);
    let c = h.stale_leader();
    assert_eq!(c.verdict, Verdict::Invalid);
    assert_eq!(c.details["exposures"], 1);
    assert_eq!(c.evidence[0].seqs, vec![claim, higher]);
    assert_eq!(c.evidence[0].window, [1000 * MS, 1500 * MS]);
}

#[test]
fn cut_links_mean_the_old_leader_cannot_hear() {
    let mut h = H::started(3, json!({}));
    h.leader(300, 1, 3);
    h.follower(300, 2, 3, Some(1));
    h.follower(300, 3, 3, Some(1));
    h.isolate_n1(500);
    h.leader(800, 2, 5);
    h.follower(800, 3, 5, Some(2));
    // Isolated, n1 keeps leading term 3 for seconds: it cannot know better.
    h.leader(2000, 1, 3);
    // One way only (n1 still sends, hears nothing): still cannot hear.
    h.net(3000, &[("n2", "n1"), ("n3", "n1")]);
    h.leader(3500, 1, 3);
    h.net(4000, &[("n1", "n2"), ("n1", "n3")]);
    h.leader(4500, 1, 3);
    // It steps down at the heal.
    h.heal(5000);
    h.follower(5000, 1, 5, Some(2));
    h.stop(6000, 3);
    let c = h.stale_leader();
    assert_eq!(c.verdict, Verdict::Valid, "{} {:?}", c.figure, c.evidence);
    assert_eq!(c.details["violations"], 0);
    assert_eq!(c.details["longest_ms"], 0.0);
}

#[test]
fn a_paused_leader_is_not_live() {
    let mut h = H::started(3, json!({}));
    h.leader(300, 1, 1);
    h.follower(300, 2, 1, Some(1));
    h.follower(300, 3, 1, Some(1));
    h.process(500, 1, "pause");
    h.leader(800, 2, 2);
    h.follower(800, 3, 2, Some(2));
    // Paused for seconds next to a higher term: nothing to react with.
    h.process(4000, 1, "resume");
    // Resumed, it re-asserts its old term once, then steps down in 60 ms.
    h.leader(4010, 1, 1);
    h.follower(4070, 1, 2, Some(2));
    h.stop(6000, 3);
    let c = h.stale_leader();
    assert_eq!(c.verdict, Verdict::Valid, "{} {:?}", c.figure, c.evidence);
    assert_eq!(c.details["longest_ms"], 60.0);
}

#[test]
fn a_higher_term_peer_that_dies_before_the_bound_ends_the_exposure() {
    let mut h = H::started(3, json!({}));
    h.leader(300, 1, 1);
    h.follower(300, 2, 1, Some(1));
    h.state(1000, 3, "candidate", 2, None);
    h.at(
        1200,
        json!({"type": "nemesis", "op": "kill", "nodes": ["n3"]}),
    );
    h.process(1200, 3, "kill");
    // n1 keeps leading term 1 for good: nobody it can hear is in a higher term.
    h.leader(3000, 1, 1);
    h.stop(5000, 3);
    let c = h.stale_leader();
    assert_eq!(c.verdict, Verdict::Valid, "{} {:?}", c.figure, c.evidence);
    assert_eq!(c.details["exposures"], 1);
    assert_eq!(c.details["longest_ms"], 200.0);
}

#[test]
fn a_restart_without_persistent_terms_forgets_the_higher_term() {
    let mut h = H::started(3, json!({"persistent_term": false}));
    h.leader(300, 1, 1);
    h.follower(300, 2, 1, Some(1));
    h.state(1000, 3, "candidate", 2, None);
    h.at(
        1100,
        json!({"type": "nemesis", "op": "kill", "nodes": ["n3"]}),
    );
    h.process(1100, 3, "kill");
    h.process(1500, 3, "start");
    h.follower(1510, 3, 0, None);
    h.leader(3000, 1, 1);
    h.stop(5000, 3);
    let c = h.stale_leader();
    assert_eq!(c.verdict, Verdict::Valid, "{} {:?}", c.figure, c.evidence);
    assert_eq!(c.details["longest_ms"], 100.0);
}

#[test]
fn an_exposure_still_open_at_the_end_is_judged() {
    let mut h = H::started(3, json!({}));
    let claim = h.leader(300, 1, 1);
    let higher = h.state(1000, 2, "candidate", 2, None);
    h.leader(2000, 1, 1);
    // Cut short: no stop, no end.
    let c = h.stale_leader();
    assert_eq!(c.verdict, Verdict::Invalid);
    assert_eq!(c.evidence[0].seqs, vec![claim, higher]);
    assert_eq!(c.evidence[0].window, [1000 * MS, 2000 * MS]);
}

#[test]
fn via_infrastructure_hearing_goes_through_the_services() {
    let mut h = H::started(
        2,
        json!({"liveness": "via-infrastructure", "infrastructure": ["redis"]}),
    );
    h.leader(300, 1, 1);
    // n1 loses redis; n2 takes the lease with a higher token.
    h.net(500, &[("n1", "redis"), ("redis", "n1")]);
    h.leader(1800, 2, 2);
    // n1 never heard (no path through redis) and steps down late: fine.
    h.leader(2500, 1, 1);
    let healed = h.net(3000, &[]);
    h.follower(3100, 1, 2, Some(2));
    h.stop(4000, 2);
    let c = h.stale_leader();
    assert_eq!(c.verdict, Verdict::Valid, "{} {:?}", c.figure, c.evidence);
    assert_eq!(c.details["exposures"], 1);
    assert_eq!(c.details["longest_ms"], 100.0);
    assert!(c.evidence[0].seqs.contains(&healed));
}

#[test]
fn probe_observation_adds_the_poll_interval() {
    let mut h = H::started(3, json!({"observation": "probe", "probe_interval_ms": 100}));
    old_leader_rejoins(&mut h);
    // 350 ms: over 300 ms, within 300 + 100 ms.
    h.follower(1350, 1, 5, Some(2));
    h.stop(5000, 3);
    let c = h.stale_leader();
    assert_eq!(c.verdict, Verdict::Valid, "{} {:?}", c.figure, c.evidence);
    assert_eq!(c.details["bound_ms"], 400.0);
}

#[test]
fn a_run_without_exposure_is_valid() {
    let mut h = H::started(3, json!({"heartbeat_ms": null}));
    h.leader(300, 1, 1);
    h.follower(300, 2, 1, Some(1));
    h.follower(300, 3, 1, Some(1));
    h.stop(5000, 3);
    let c = h.stale_leader();
    assert_eq!(c.verdict, Verdict::Valid);
    // No heartbeat: twice the longest election timeout.
    assert_eq!(c.figure, "0 exposures, longest 0 ms (bound 600 ms)");
}

#[test]
fn stale_leader_is_listed_but_not_a_safety_checker() {
    let at = CHECKER_NAMES.iter().position(|n| *n == "stale-leader");
    let after = CHECKER_NAMES.iter().position(|n| *n == "leader-agreement");
    assert_eq!(at, after.map(|i| i + 1));
    assert!(!SAFETY_CHECKERS.contains(&"stale-leader"));
    let h = H::started(3, json!({}));
    let r = h.check_with(&CheckOptions::safety_only());
    assert!(r.results.iter().all(|c| c.checker != "stale-leader"));
    let r = h.check_with(&CheckOptions {
        only: Some(vec!["stale-leader".into()]),
        ..Default::default()
    });
    assert_eq!(r.results.len(), 1);
}

#[test]
fn under_tcp_backoff_a_pair_is_heard_only_after_the_retransmission_wait() {
    // n1 was cut off for 500 ms (500 → 1000): with links cut in the kernel
    // under TCP, the pair may stay silent until 1000 + 500 + 200 = 1700 ms.
    let mut h = H::started(3, json!({"tcp_backoff": true}));
    old_leader_rejoins(&mut h);
    h.leader(1500, 1, 3);
    h.follower(1900, 1, 5, Some(2));
    h.stop(5000, 3);
    let c = h.stale_leader();
    assert_eq!(c.verdict, Verdict::Valid, "{} {:?}", c.figure, c.evidence);
    assert_eq!(c.details["longest_ms"], 200.0);

    // Still bounded: a leader that keeps its term long after the wait is not.
    let mut h = H::started(3, json!({"tcp_backoff": true}));
    old_leader_rejoins(&mut h);
    h.follower(2400, 1, 5, Some(2));
    h.stop(5000, 3);
    let c = h.stale_leader();
    assert_eq!(c.verdict, Verdict::Invalid, "{}", c.figure);
    assert_eq!(c.evidence[0].window, [1700 * MS, 2400 * MS]);

    // Without the header field the same history counts from the heal.
    let mut h = H::started(3, json!({}));
    old_leader_rejoins(&mut h);
    h.leader(1500, 1, 3);
    h.follower(1900, 1, 5, Some(2));
    h.stop(5000, 3);
    assert_eq!(h.stale_leader().verdict, Verdict::Invalid);
}
