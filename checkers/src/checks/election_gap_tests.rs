//! `election-gap` blames a gap on every fault in force when its stretch
//! opened (overlapping faults carry `detail.fault`), and on the last
//! `nemesis` op when faults come one at a time (docs/checkers.md, section 3).

use crate::{CheckOptions, CheckResult};
use serde_json::json;

use crate::testkit::H;

/// What these tests add to the shared history builder.
trait ElectionGapHistory {
    fn state(&mut self, t: u64, node: usize, role: &str, term: u64) -> u64;
    fn nemesis(&mut self, t: u64, op: &str, nodes: &[usize], fault: Option<u64>) -> u64;
    fn gap(&self) -> CheckResult;
}

impl ElectionGapHistory for H {
    fn state(&mut self, t: u64, node: usize, role: &str, term: u64) -> u64 {
        let leader = (role == "leader").then(|| format!("n{node}"));
        self.at(
            t,
            json!({"type": "state", "node": format!("n{node}"), "pid": 100 + node, "role": role,
                   "term": term, "leader": leader}),
        )
    }

    fn nemesis(&mut self, t: u64, op: &str, nodes: &[usize], fault: Option<u64>) -> u64 {
        let nodes: Vec<String> = nodes.iter().map(|i| format!("n{i}")).collect();
        let mut v = json!({"type": "nemesis", "op": op, "nodes": nodes});
        if let Some(k) = fault {
            v["detail"] = json!({"fault": k});
        }
        self.at(t, v)
    }

    fn gap(&self) -> CheckResult {
        self.check_with(&CheckOptions::default())
            .results
            .into_iter()
            .find(|r| r.checker == "election-gap")
            .expect("election-gap result")
    }
}

#[test]
fn a_gap_under_overlapping_faults_is_blamed_on_each_of_them() {
    let mut h = H::started(3, json!({}));
    h.state(300, 1, "leader", 1);
    let slow = h.nemesis(1000, "slow", &[], Some(1));
    let kill = h.nemesis(1100, "kill", &[1], Some(2));
    h.process(1100, 1, "kill");
    h.state(1500, 2, "leader", 2);
    // fault 1 ends; a later gap opened under fault 3 alone is its own.
    h.nemesis(1600, "heal", &[], Some(1));
    h.nemesis(1700, "restart", &[1], Some(2));
    h.process(1700, 1, "start");
    let pause = h.nemesis(2000, "pause", &[2], Some(3));
    h.process(2000, 2, "pause");
    h.state(2400, 3, "leader", 3);
    let r = h.gap();
    let gaps = r.details["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 3, "{gaps:?}");
    // The gap after the kill: both faults in force, the latest first.
    assert_eq!(gaps[1]["fault"], "kill");
    assert_eq!(
        gaps[1]["faults"],
        json!([{"fault": "kill", "fault_seq": kill}, {"fault": "slow", "fault_seq": slow}])
    );
    // Each kind's statistics count it.
    let by_fault = r.details["by_fault"].as_array().unwrap();
    let count = |kind: &str| {
        by_fault
            .iter()
            .find(|f| f["fault"] == kind)
            .map_or(0, |f| f["count"].as_u64().unwrap())
    };
    assert_eq!((count("kill"), count("slow"), count("pause")), (1, 1, 1));
    // The gap after the pause: only fault 3 is in force.
    assert_eq!(gaps[2]["fault"], "pause");
    assert_eq!(gaps[2]["fault_seq"], pause);
    assert!(gaps[2].get("faults").is_none());
}

#[test]
fn an_over_bound_gap_names_every_fault_in_its_evidence() {
    let mut h = H::started(3, json!({"gap_bound_ms": 200}));
    h.state(300, 1, "leader", 1);
    let cut = h.nemesis(1000, "partition", &[1], Some(1));
    let kill = h.nemesis(1050, "kill", &[1], Some(2));
    h.process(1050, 1, "kill");
    let leader = h.state(1600, 2, "leader", 2);
    let r = h.gap();
    let e = r
        .evidence
        .iter()
        .find(|e| e.message.contains("bound 200 ms"))
        .expect("over-bound evidence");
    assert!(
        e.message
            .contains("after kill + partition (in force together)"),
        "{}",
        e.message
    );
    assert_eq!(e.seqs, vec![cut, kill, leader]);
}

#[test]
fn one_at_a_time_faults_keep_blaming_the_last_op() {
    let mut h = H::started(3, json!({}));
    h.state(300, 1, "leader", 1);
    h.nemesis(1000, "kill", &[1], None);
    h.process(1000, 1, "kill");
    h.nemesis(1400, "restart", &[1], None);
    h.process(1400, 1, "start");
    h.state(1500, 2, "leader", 2);
    let r = h.gap();
    let gaps = r.details["gaps"].as_array().unwrap();
    assert_eq!(gaps[1]["fault"], "kill");
    assert!(gaps[1].get("faults").is_none());
}

#[test]
fn every_stretch_without_a_quorum_is_named_with_its_cause_and_length() {
    let mut h = H::started(5, json!({}));
    h.state(300, 1, "leader", 1);
    // A majority killed at 1 s, two restarted at 3.5 s: 2.5 s without a quorum.
    let kill = h.nemesis(1000, "kill", &[1, 2, 3], None);
    for i in 1..=3 {
        h.process(1000, i, "kill");
        h.at(1000, json!({"type": "process", "node": format!("n{i}"), "event": "exit", "pid": 100 + i, "expected": true}));
    }
    h.nemesis(3500, "restart", &[1, 2], None);
    for i in 1..=2 {
        h.at(
            3500,
            json!({"type": "process", "node": format!("n{i}"), "event": "start", "pid": 200 + i}),
        );
    }
    h.at(3700, json!({"type": "state", "node": "n4", "pid": 104, "role": "leader", "term": 2, "leader": "n4"}));
    // Live nodes (n3 stays dead) cut off from each other for 1 s: 2+1+1.
    let cut = h.nemesis(5000, "partition", &[], None);
    let groups = [vec![1, 2], vec![3, 4], vec![5]];
    let mut links = vec![];
    for (a, ga) in groups.iter().enumerate() {
        for (b, gb) in groups.iter().enumerate() {
            if a != b {
                for x in ga {
                    for y in gb {
                        links.push(json!([format!("n{x}"), format!("n{y}")]));
                    }
                }
            }
        }
    }
    h.at(5000, json!({"type": "net", "cut": links}));
    h.nemesis(6000, "heal", &[], None);
    h.at(6000, json!({"type": "net", "cut": []}));
    h.at(8000, json!({"type": "end"}));
    let r = h.gap();
    let nq = &r.details["no_quorum"];
    assert_eq!(nq["count"], 2, "{nq}");
    let s = &nq["stretches"];
    assert_eq!(s[0]["from_ns"], 1000 * crate::testkit::MS);
    assert_eq!(s[0]["length_ms"], 2500.0);
    assert_eq!(s[0]["why"], "majority down: 3 dead of 5");
    assert_eq!(s[0]["fault"], "kill");
    assert_eq!(s[0]["fault_seq"], kill);
    assert_eq!(s[1]["length_ms"], 1000.0);
    assert_eq!(
        s[1]["why"],
        "links down or too slow: 4 of 5 live, no majority connected"
    );
    assert_eq!(s[1]["fault_seq"], cut);
    assert!(
        r.figure
            .contains("2 without a quorum (longest 2500 ms, not gaps)"),
        "{}",
        r.figure
    );
}
