//! `quorum-leader` on hand-made histories: a node takes office only where it
//! could exchange messages with a majority during its election
//! (docs/checkers.md, section 10). Headers: heartbeat 50 ms, so the window
//! opens 50 ms before the candidate's state.

use crate::{CheckOptions, CheckResult, Verdict, CHECKER_NAMES, SAFETY_CHECKERS};
use serde_json::{json, Value};

use crate::testkit::{H, MS};

/// What these tests add to the shared history builder.
trait QuorumLeaderHistory {
    fn state(&mut self, t: u64, node: usize, role: &str, term: u64) -> u64;
    fn split(&mut self, t: u64, a: &[usize], b: &[usize]) -> u64;
    fn cut(&mut self, t: u64, links: &[(usize, usize)]) -> u64;
    fn quorum_leader(&self) -> CheckResult;
}

impl QuorumLeaderHistory for H {
    fn state(&mut self, t: u64, node: usize, role: &str, term: u64) -> u64 {
        let leader = (role == "leader").then(|| format!("n{node}"));
        self.at(
            t,
            json!({"type": "state", "node": format!("n{node}"), "pid": 100 + node, "role": role,
                   "term": term, "leader": leader}),
        )
    }
    /// Every directed link between the two groups is cut (`[]` heals).
    fn split(&mut self, t: u64, a: &[usize], b: &[usize]) -> u64 {
        let mut cut = vec![];
        for &x in a {
            for &y in b {
                cut.push([format!("n{x}"), format!("n{y}")]);
                cut.push([format!("n{y}"), format!("n{x}")]);
            }
        }
        self.at(t, json!({"type": "net", "cut": cut}))
    }
    fn cut(&mut self, t: u64, links: &[(usize, usize)]) -> u64 {
        let cut: Vec<[String; 2]> = links
            .iter()
            .map(|(a, b)| [format!("n{a}"), format!("n{b}")])
            .collect();
        self.at(t, json!({"type": "net", "cut": cut}))
    }
    fn quorum_leader(&self) -> CheckResult {
        self.check_with(&CheckOptions::default())
            .results
            .into_iter()
            .find(|c| c.checker == "quorum-leader")
            .expect("quorum-leader ran")
    }
}

#[test]
fn an_isolated_node_of_three_taking_office_is_flagged() {
    let mut h = H::started(3, json!({}));
    h.state(100, 3, "leader", 1);
    let cut = h.split(1000, &[1], &[2, 3]);
    h.state(1400, 1, "candidate", 2);
    let claim = h.state(1500, 1, "leader", 2);
    let c = h.quorum_leader();
    assert_eq!(c.verdict, Verdict::Invalid, "{c:?}");
    assert_eq!(c.details["violations"], 1);
    assert_eq!(c.details["majority"], 2);
    assert_eq!(c.details["min_reach"], 1);
    let e = &c.evidence[0];
    assert!(e.seqs.contains(&cut) && e.seqs.contains(&claim), "{e:?}");
    assert_eq!(e.window, [1350 * MS, 1500 * MS]);
    assert!(e.message.contains("only 1 of 3"), "{}", e.message);
}

#[test]
fn the_minority_pair_of_five_taking_office_is_flagged() {
    let mut h = H::started(5, json!({}));
    h.state(100, 5, "leader", 1);
    h.split(1000, &[1, 2], &[3, 4, 5]);
    h.state(1300, 2, "candidate", 2);
    h.state(1320, 2, "leader", 2);
    let c = h.quorum_leader();
    assert_eq!(c.verdict, Verdict::Invalid, "{c:?}");
    assert_eq!(c.details["min_reach"], 2);
    assert_eq!(c.details["majority"], 3);
}

#[test]
fn the_majority_side_taking_office_is_valid() {
    let mut h = H::started(5, json!({}));
    h.state(100, 1, "leader", 1);
    h.split(1000, &[1, 2], &[3, 4, 5]);
    h.state(1300, 4, "candidate", 2);
    h.state(1320, 4, "leader", 2);
    let c = h.quorum_leader();
    assert_eq!(c.verdict, Verdict::Valid, "{c:?}");
    assert_eq!(c.figure, "2 claims judged, 0 without a reachable majority");
    assert_eq!(c.details["min_reach"], 3);
}

#[test]
fn votes_gathered_before_the_cut_are_possible() {
    // The candidacy began while the links were up: the votes may have
    // crossed before the cut, so the claim right after it is valid.
    let mut h = H::started(3, json!({}));
    h.state(900, 1, "candidate", 1);
    h.split(1000, &[1], &[2, 3]);
    h.state(1010, 1, "leader", 1);
    assert_eq!(h.quorum_leader().verdict, Verdict::Valid);
    // Within the slack (one heartbeat) of the cut: still possible.
    let mut h = H::started(3, json!({}));
    h.split(1000, &[1], &[2, 3]);
    h.state(1040, 1, "candidate", 1);
    h.state(1060, 1, "leader", 1);
    assert_eq!(h.quorum_leader().verdict, Verdict::Valid);
}

#[test]
fn a_link_up_only_part_of_the_window_counts() {
    // n1 is isolated, then healed during its candidacy: reachable.
    let mut h = H::started(3, json!({}));
    h.split(1000, &[1], &[2, 3]);
    h.state(1400, 1, "candidate", 1);
    h.cut(1450, &[]);
    h.state(1500, 1, "leader", 1);
    assert_eq!(h.quorum_leader().verdict, Verdict::Valid);
}

#[test]
fn hearing_nobody_is_as_bad_as_reaching_nobody() {
    // n1 can send to everyone but receives from no one: no vote comes back.
    let mut h = H::started(3, json!({}));
    h.cut(1000, &[(2, 1), (3, 1)]);
    h.state(1400, 1, "candidate", 1);
    h.state(1500, 1, "leader", 1);
    let c = h.quorum_leader();
    assert_eq!(c.verdict, Verdict::Invalid, "{c:?}");
    // One peer reachable both ways is enough in three.
    let mut h = H::started(3, json!({}));
    h.cut(1000, &[(3, 1)]);
    h.state(1400, 1, "candidate", 1);
    h.state(1500, 1, "leader", 1);
    assert_eq!(h.quorum_leader().verdict, Verdict::Valid);
}

#[test]
fn lossy_and_slow_links_still_deliver() {
    let mut h = H::started(3, json!({}));
    let degraded: Vec<Value> = [(1, 2), (2, 1), (1, 3), (3, 1)]
        .iter()
        .map(|(a, b)| json!({"from": format!("n{a}"), "to": format!("n{b}"), "loss": 0.9, "delay_ms": 400.0}))
        .collect();
    h.at(
        1000,
        json!({"type": "net", "cut": [], "degraded": degraded}),
    );
    h.state(1400, 1, "candidate", 1);
    h.state(2500, 1, "leader", 1);
    assert_eq!(h.quorum_leader().verdict, Verdict::Valid);
}

#[test]
fn a_repeated_claim_is_not_new_but_a_restart_opens_a_new_window() {
    let mut h = H::started(3, json!({}));
    h.state(100, 1, "candidate", 1);
    h.state(200, 1, "leader", 1);
    h.split(1000, &[1], &[2, 3]);
    // The same claim again, after the cut, is not a new claim.
    h.state(1500, 1, "leader", 1);
    let c = h.quorum_leader();
    assert_eq!(c.verdict, Verdict::Valid);
    assert_eq!(c.details["claims"], 1);
    // A restart inside the cut: the new incarnation's window opens at its start.
    h.at(
        1600,
        json!({"type": "process", "node": "n1", "event": "kill", "pid": 101}),
    );
    h.at(
        1700,
        json!({"type": "process", "node": "n1", "event": "start", "pid": 201}),
    );
    h.at(
        1900,
        json!({"type": "state", "node": "n1", "pid": 201, "role": "leader", "term": 2, "leader": "n1"}),
    );
    let c = h.quorum_leader();
    assert_eq!(c.verdict, Verdict::Invalid, "{c:?}");
    assert_eq!(c.evidence[0].window, [1650 * MS, 1900 * MS]);
}

#[test]
fn probe_observation_widens_the_window_by_the_poll_interval() {
    let header = json!({"observation": "probe", "probe_interval_ms": 200});
    let mut h = H::started(3, header.clone());
    h.split(1000, &[1], &[2, 3]);
    // First seen as candidate 150 ms after the cut: it may have campaigned
    // (and been answered) up to one poll plus one heartbeat earlier.
    h.state(1150, 1, "candidate", 1);
    h.state(1350, 1, "leader", 1);
    assert_eq!(h.quorum_leader().verdict, Verdict::Valid);
    let mut h = H::started(3, header);
    h.split(1000, &[1], &[2, 3]);
    h.state(1400, 1, "candidate", 1);
    h.state(1600, 1, "leader", 1);
    assert_eq!(h.quorum_leader().verdict, Verdict::Invalid);
}

#[test]
fn via_infrastructure_is_not_applicable() {
    let mut h = H::started(
        3,
        json!({"liveness": "via-infrastructure", "infrastructure": ["redis"]}),
    );
    h.split(1000, &[1], &[2, 3]);
    h.state(1400, 1, "candidate", 1);
    h.state(1500, 1, "leader", 1);
    let c = h.quorum_leader();
    assert_eq!(c.verdict, Verdict::Valid);
    assert_eq!(c.figure, "not applicable: liveness via-infrastructure");
    assert_eq!(c.details["applicable"], false);
}

#[test]
fn quorum_leader_is_a_listed_safety_checker() {
    assert_eq!(CHECKER_NAMES.len(), 12);
    let at = CHECKER_NAMES.iter().position(|n| *n == "quorum-leader");
    let after = CHECKER_NAMES.iter().position(|n| *n == "vote-up-to-date");
    assert_eq!(at, after.map(|i| i + 1));
    assert!(SAFETY_CHECKERS.contains(&"quorum-leader"));
}
