//! Hand-made histories, one scenario per row: every checker of contract 4
//! against the case it exists for.

use checkers::history::Record;
use checkers::reader::{HistoryReader, ReadError};
use checkers::{check, check_reader, CheckOptions, CheckResult, Report, Verdict};
use serde_json::{json, Value};

/// A history under construction: lines are written as wire JSON (so the
/// tests also pin the format) with `seq` and `t` (in ms) filled in.
struct H {
    lines: Vec<Value>,
}

const MS: u64 = 1_000_000;

impl H {
    fn new(nodes: usize, header: Value) -> Self {
        let names: Vec<String> = (1..=nodes).map(|i| format!("n{i}")).collect();
        let mut h = json!({"type": "run", "target": "test", "nodes": names, "seed": 1});
        for (k, v) in header.as_object().expect("object") {
            h[k] = v.clone();
        }
        let mut s = Self { lines: vec![] };
        s.at(0, h);
        s
    }
    /// A cluster of `nodes` started at t=0..: node i has pid 100+i.
    fn started(nodes: usize, header: Value) -> Self {
        let mut h = Self::new(nodes, header);
        for i in 1..=nodes {
            h.process(0, i, "start", 100 + i as u32);
        }
        h
    }
    fn at(&mut self, t_ms: u64, mut v: Value) -> u64 {
        let seq = self.lines.len() as u64;
        v["seq"] = json!(seq);
        v["t"] = json!(t_ms * MS);
        self.lines.push(v);
        seq
    }
    fn process(&mut self, t: u64, node: usize, event: &str, pid: u32) -> u64 {
        self.at(
            t,
            json!({"type": "process", "node": format!("n{node}"), "event": event, "pid": pid}),
        )
    }
    fn kill(&mut self, t: u64, node: usize, pid: u32) -> u64 {
        self.nemesis(t, "kill", &[node]);
        let s = self.process(t, node, "kill", pid);
        self.at(t, json!({"type": "process", "node": format!("n{node}"), "event": "exit", "pid": pid, "status": {"signal": 9}, "expected": true}));
        s
    }
    fn state(
        &mut self,
        t: u64,
        node: usize,
        pid: u32,
        role: &str,
        term: u64,
        leader: Option<usize>,
    ) -> u64 {
        self.at(
            t,
            json!({"type": "state", "node": format!("n{node}"), "pid": pid, "role": role, "term": term,
                   "leader": leader.map(|l| format!("n{l}"))}),
        )
    }
    fn leader(&mut self, t: u64, node: usize, pid: u32, term: u64) -> u64 {
        self.state(t, node, pid, "leader", term, Some(node))
    }
    fn follower(&mut self, t: u64, node: usize, pid: u32, term: u64, leader: Option<usize>) -> u64 {
        self.state(t, node, pid, "follower", term, leader)
    }
    /// n1 elected in term `term` at `t`, the others follow (pids 100+i).
    fn elect(&mut self, t: u64, nodes: usize, leader: usize, term: u64) -> u64 {
        let s = self.leader(t, leader, 100 + leader as u32, term);
        for i in 1..=nodes {
            if i != leader {
                self.follower(t, i, 100 + i as u32, term, Some(leader));
            }
        }
        s
    }
    #[allow(clippy::too_many_arguments)]
    fn vote(
        &mut self,
        t: u64,
        node: usize,
        pid: u32,
        term: u64,
        cand: usize,
        vlog: [u64; 2],
        clog: [u64; 2],
    ) -> u64 {
        self.at(
            t,
            json!({"type": "vote", "node": format!("n{node}"), "pid": pid, "term": term, "for": format!("n{cand}"),
                   "voter_log": vlog, "candidate_log": clog}),
        )
    }
    fn nemesis(&mut self, t: u64, op: &str, nodes: &[usize]) -> u64 {
        let nodes: Vec<String> = nodes.iter().map(|i| format!("n{i}")).collect();
        self.at(t, json!({"type": "nemesis", "op": op, "nodes": nodes}))
    }
    fn cut(&mut self, t: u64, links: &[(&str, &str)]) -> u64 {
        let cut: Vec<[&str; 2]> = links.iter().map(|(a, b)| [*a, *b]).collect();
        self.at(t, json!({"type": "net", "cut": cut}))
    }
    /// Cut `node` off from every other node, both ways.
    fn isolate(&mut self, t: u64, nodes: usize, node: usize) -> u64 {
        let me = format!("n{node}");
        let others: Vec<String> = (1..=nodes)
            .filter(|&i| i != node)
            .map(|i| format!("n{i}"))
            .collect();
        let mut links = vec![];
        for o in &others {
            links.push((me.as_str(), o.as_str()));
            links.push((o.as_str(), me.as_str()));
        }
        self.cut(t, &links)
    }
    /// The final stop: kill every node without a nemesis op, then `end`.
    fn stop(&mut self, t: u64, nodes: usize) {
        for i in 1..=nodes {
            self.process(t, i, "kill", 100 + i as u32);
        }
        self.end(t);
    }
    fn end(&mut self, t: u64) {
        self.at(t, json!({"type": "end"}));
    }
    fn records(&self) -> Vec<Record> {
        self.lines
            .iter()
            .map(|v| serde_json::from_value(v.clone()).expect("valid record"))
            .collect()
    }
    fn jsonl(&self) -> String {
        self.lines.iter().map(|v| v.to_string() + "\n").collect()
    }
    fn report(&self) -> Report {
        let a = check(self.records(), &CheckOptions::default());
        // The file path (fast parser) must agree with the in-memory path.
        let b = check_reader(self.jsonl().as_bytes(), &CheckOptions::default()).expect("readable");
        assert_eq!(a, b, "file and in-memory checks disagree");
        a
    }
}

fn get<'a>(r: &'a Report, name: &str) -> &'a CheckResult {
    r.results
        .iter()
        .find(|c| c.checker == name)
        .unwrap_or_else(|| panic!("no result for {name}"))
}

fn verdict(r: &Report, name: &str) -> Verdict {
    get(r, name).verdict
}

#[test]
fn a_valid_run_is_valid_everywhere() {
    let mut h = H::started(3, json!({}));
    h.elect(300, 3, 1, 1);
    h.stop(10_000, 3);
    let r = h.report();
    for c in &r.results {
        assert_eq!(
            c.verdict,
            Verdict::Valid,
            "{}: {} {:?}",
            c.checker,
            c.figure,
            c.evidence
        );
    }
    assert_eq!(
        get(&r, "vote-once").figure,
        "not applicable: no vote events"
    );
    let gap = &get(&r, "election-gap").details;
    assert_eq!(gap["count"], 1);
    assert_eq!(gap["by_fault"][0]["fault"], "start");
    assert_eq!(gap["by_fault"][0]["max_ms"], 300.0);
    assert!(gap["open_at_end"].is_null());
    assert_eq!(r.elections.len(), 1);
    assert_eq!(r.elections[0].how, "killed");
    assert_eq!(r.verdict(), Verdict::Valid);
}

#[test]
fn two_leaders_in_one_term() {
    let mut h = H::started(3, json!({}));
    let a = h.leader(300, 1, 101, 1);
    let b = h.leader(400, 2, 102, 1);
    h.stop(1000, 3);
    let r = h.report();
    let c = get(&r, "term-uniqueness");
    assert_eq!(c.verdict, Verdict::Invalid);
    assert_eq!(c.evidence[0].seqs, vec![a, b]);
    assert_eq!(c.details["conflicting_terms"], json!([1]));
    assert_eq!(verdict(&r, "leader-agreement"), Verdict::Invalid);
}

#[test]
fn decreasing_term_after_restart_depends_on_persistent_term() {
    for persistent in [true, false] {
        let mut h = H::started(3, json!({"persistent_term": persistent}));
        let first = h.elect(300, 3, 1, 5);
        h.kill(1000, 1, 101);
        let restart = h.process(1500, 1, "start", 201);
        let later = h.follower(1600, 1, 201, 2, None);
        h.stop(2000, 3);
        let r = h.report();
        let tm = get(&r, "term-monotonic");
        if persistent {
            assert_eq!(tm.verdict, Verdict::Invalid);
            assert_eq!(tm.evidence[0].seqs, vec![first, restart, later]);
        } else {
            assert_eq!(tm.verdict, Verdict::Valid, "{:?}", tm.evidence);
        }
        assert_eq!(verdict(&r, "term-uniqueness"), Verdict::Valid);
    }
    // A decrease within one incarnation is always a violation.
    let mut h = H::started(3, json!({}));
    h.follower(100, 2, 102, 4, None);
    h.follower(200, 2, 102, 3, None);
    h.stop(300, 3);
    assert_eq!(verdict(&h.report(), "term-monotonic"), Verdict::Invalid);
}

#[test]
fn paused_leader_resumed_with_old_term_is_belief_overlap_not_live() {
    let mut h = H::started(3, json!({}));
    h.elect(300, 3, 1, 1);
    h.nemesis(1000, "pause", &[1]);
    h.process(1000, 1, "pause", 101);
    h.follower(1300, 3, 103, 2, None);
    h.leader(1400, 2, 102, 2);
    h.follower(1400, 3, 103, 2, Some(2));
    h.nemesis(3000, "resume", &[1]);
    h.process(3000, 1, "resume", 101);
    // n1 still believes it leads term 1 until it hears from n2.
    h.follower(3200, 1, 101, 2, Some(2));
    h.stop(5000, 3);
    let r = h.report();
    assert_eq!(verdict(&r, "term-uniqueness"), Verdict::Valid);
    assert_eq!(verdict(&r, "leader-agreement"), Verdict::Valid);
    let o = &get(&r, "lease-overlap").details;
    assert_eq!(o["live_total_ms"], 0.0);
    assert_eq!(o["belief_total_ms"], 1800.0);
    // The gap after the pause runs from the pause to n2's claim.
    let g = &get(&r, "election-gap").details;
    assert_eq!(g["by_fault"][1]["fault"], "pause");
    assert_eq!(g["by_fault"][1]["max_ms"], 400.0);
    assert_eq!(r.elections[0].how, "paused");
    assert_eq!(r.elections[0].lost_at, Some(1000 * MS));
}

#[test]
fn minority_claim_does_not_end_the_gap() {
    let mut h = H::started(5, json!({}));
    h.elect(300, 5, 1, 1);
    h.nemesis(1000, "isolate", &[1]);
    h.isolate(1000, 5, 1);
    // The isolated n1 keeps saying it leads term 1: a stale claim.
    h.leader(1200, 1, 101, 1);
    let new = h.leader(1400, 3, 103, 2);
    for i in [2, 4, 5] {
        h.follower(1400, i, 100 + i as u32, 2, Some(3));
    }
    h.stop(5000, 5);
    let r = h.report();
    let g = get(&r, "election-gap");
    assert_eq!(g.verdict, Verdict::Valid);
    let iso = &g.details["gaps"][1];
    assert_eq!(iso["fault"], "isolate");
    assert_eq!(iso["length_ms"], 400.0);
    assert_eq!(iso["leader_seq"], new);
    // Isolation forced the election: not unnecessary.
    assert_eq!(get(&r, "stability").details["unnecessary"], 0);
    assert_eq!(get(&r, "lease-overlap").details["live_total_ms"], 3600.0);
}

#[test]
fn killing_a_follower_opens_no_gap() {
    let mut h = H::started(3, json!({}));
    h.elect(300, 3, 1, 1);
    h.kill(1000, 3, 103);
    h.process(2000, 3, "start", 203);
    h.follower(2100, 3, 203, 1, Some(1));
    h.stop(5000, 3);
    let r = h.report();
    let g = get(&r, "election-gap");
    assert_eq!(g.verdict, Verdict::Valid);
    assert_eq!(
        g.details["count"], 1,
        "only the initial election: {}",
        g.details
    );
    assert_eq!(get(&r, "stability").details["leader_changes"], 0);
}

#[test]
fn no_quorum_anywhere_counts_no_gap_time() {
    let mut h = H::started(3, json!({"gap_bound_ms": 1000}));
    h.elect(300, 3, 1, 1);
    h.nemesis(1000, "partition", &[1, 2, 3]);
    h.cut(
        1000,
        &[
            ("n1", "n2"),
            ("n2", "n1"),
            ("n1", "n3"),
            ("n3", "n1"),
            ("n2", "n3"),
            ("n3", "n2"),
        ],
    );
    // No quorum: the leader steps down, the others campaign in vain.
    h.follower(1500, 1, 101, 1, None);
    h.state(1600, 2, 102, "candidate", 2, None);
    h.state(1700, 3, 103, "candidate", 3, None);
    h.nemesis(20_000, "heal", &[]);
    h.cut(20_000, &[]);
    h.elect(20_300, 3, 2, 4);
    h.stop(25_000, 3);
    let r = h.report();
    let g = get(&r, "election-gap");
    assert_eq!(g.verdict, Verdict::Valid, "{:?}", g.evidence);
    assert_eq!(g.details["gaps"][1]["length_ms"], 300.0);
    assert_eq!(g.details["gaps"][1]["fault"], "partition");
}

#[test]
fn a_gap_open_at_the_end_is_invalid() {
    let mut h = H::started(3, json!({}));
    h.elect(300, 3, 1, 1);
    let k = h.kill(1000, 1, 101);
    h.state(1200, 2, 102, "candidate", 2, None);
    h.end(2000);
    let r = h.report();
    let g = get(&r, "election-gap");
    assert_eq!(g.verdict, Verdict::Invalid);
    assert_eq!(g.details["open_at_end"]["length_ms"], 1000.0);
    assert_eq!(g.details["open_at_end"]["fault"], "kill");
    assert_eq!(g.evidence[0].seqs, vec![k - 1]);
    // The same with the run interrupted: not enough evidence to judge.
    let mut h2 = H {
        lines: h.lines.clone(),
    };
    h2.lines.pop();
    h2.at(2000, json!({"type": "end", "interrupted": true}));
    assert_eq!(verdict(&h2.report(), "election-gap"), Verdict::Unknown);
    // Longer than the bound: invalid even when interrupted.
    let mut h3 = H {
        lines: h.lines.clone(),
    };
    h3.lines.pop();
    h3.at(9000, json!({"type": "end", "interrupted": true}));
    assert_eq!(verdict(&h3.report(), "election-gap"), Verdict::Invalid);
}

#[test]
fn rejoining_node_with_higher_term_forces_an_unnecessary_election() {
    let mut h = H::started(3, json!({"max_unnecessary_elections": 0}));
    h.elect(300, 3, 1, 1);
    h.nemesis(1000, "isolate", &[3]);
    h.isolate(1000, 3, 3);
    let forced = h.state(1300, 3, 103, "candidate", 5, None);
    h.nemesis(2000, "heal", &[]);
    h.cut(2000, &[]);
    h.follower(2010, 1, 101, 5, None);
    h.follower(2010, 2, 102, 5, None);
    let claim = h.leader(2300, 2, 102, 6);
    h.follower(2300, 1, 101, 6, Some(2));
    h.follower(2300, 3, 103, 6, Some(2));
    h.stop(5000, 3);
    let r = h.report();
    let s = get(&r, "stability");
    assert_eq!(s.verdict, Verdict::Invalid);
    assert_eq!(s.details["unnecessary"], 1);
    let e = &s.details["elections"][0];
    assert_eq!(e["term"], 6);
    assert_eq!(e["leader"], "n2");
    assert_eq!(e["forced_by"], "n3");
    assert_eq!(e["previous_leader"], "n1");
    assert_eq!(s.evidence[0].seqs, vec![forced, claim]);
    assert_eq!(e["forced_seq"], forced);
    // Without a maximum it is reported, not a violation.
    let mut h2 = H {
        lines: h.lines.clone(),
    };
    h2.lines[0]
        .as_object_mut()
        .unwrap()
        .remove("max_unnecessary_elections");
    assert_eq!(verdict(&h2.report(), "stability"), Verdict::Valid);
}

#[test]
fn one_way_cut_deafening_the_leader() {
    let mut h = H::started(3, json!({"max_unnecessary_elections": 0}));
    h.elect(300, 3, 1, 1);
    h.nemesis(1000, "one-way", &[1]);
    h.cut(1000, &[("n2", "n1"), ("n3", "n1")]);
    h.state(1250, 2, 102, "candidate", 2, None);
    h.leader(1300, 2, 102, 2);
    h.follower(1300, 3, 103, 2, Some(2));
    h.stop(5000, 3);
    let r = h.report();
    let g = get(&r, "election-gap");
    assert_eq!(g.details["gaps"][1]["fault"], "one-way");
    assert_eq!(g.details["gaps"][1]["length_ms"], 300.0);
    // The leader could not hear a quorum: the election was necessary.
    assert_eq!(verdict(&r, "stability"), Verdict::Valid);
    assert_eq!(get(&r, "stability").details["leader_changes"], 1);
}

#[test]
fn flapping_cut_is_one_gap() {
    let mut h = H::started(3, json!({}));
    h.elect(300, 3, 1, 1);
    h.nemesis(1000, "flap", &[1]);
    for k in 0..5 {
        let t = 1000 + k * 200;
        h.isolate(t, 3, 1);
        if k == 0 {
            h.state(t + 50, 2, 102, "candidate", 2, None);
            h.follower(t + 50, 3, 103, 2, None);
        }
        h.cut(t + 100, &[]);
    }
    h.leader(2500, 2, 102, 3);
    h.follower(2500, 3, 103, 3, Some(2));
    h.follower(2500, 1, 101, 3, Some(2));
    h.stop(5000, 3);
    let r = h.report();
    let g = get(&r, "election-gap");
    assert_eq!(g.details["count"], 2, "{}", g.details);
    assert_eq!(g.details["gaps"][1]["fault"], "flap");
    assert_eq!(g.details["gaps"][1]["length_ms"], 1500.0);
}

#[test]
fn state_line_read_after_kill_makes_no_phantom_overlap() {
    let mut h = H::started(3, json!({"exclusive": true, "overlap_tolerance_ms": 0.0}));
    h.elect(300, 3, 1, 1);
    h.kill(5000, 1, 101);
    // Printed before the kill, read after it: stamped at the kill time.
    h.leader(5000, 1, 101, 1);
    h.leader(5000, 2, 102, 2);
    h.follower(5000, 3, 103, 2, Some(2));
    h.stop(8000, 3);
    let r = h.report();
    let o = get(&r, "lease-overlap");
    assert_eq!(o.verdict, Verdict::Valid, "{:?}", o.evidence);
    assert_eq!(o.details["live_total_ms"], 0.0);
    assert_eq!(o.details["belief_total_ms"], 0.0);
    assert_eq!(verdict(&r, "term-uniqueness"), Verdict::Valid);
    assert_eq!(r.elections[0].how, "killed");
    assert_eq!(r.elections.len(), 2);
}

#[test]
fn exclusive_lease_overlap_beyond_tolerance_is_invalid() {
    let mut h = H::started(3, json!({"exclusive": true, "overlap_tolerance_ms": 5.0}));
    let a = h.leader(300, 1, 101, 1);
    let b = h.leader(1000, 2, 102, 2);
    h.follower(1050, 1, 101, 2, Some(2));
    h.stop(2000, 3);
    let r = h.report();
    let o = get(&r, "lease-overlap");
    assert_eq!(o.verdict, Verdict::Invalid);
    assert_eq!(o.evidence[0].seqs, vec![a, b]);
    assert_eq!(o.evidence[0].window, [1000 * MS, 1050 * MS]);
    assert_eq!(o.details["live_longest_ms"], 50.0);
}

#[test]
fn restart_without_persistent_term_may_reuse_a_term() {
    let mut h = H::started(3, json!({"persistent_term": false}));
    h.elect(300, 3, 1, 1);
    for i in 1..=3 {
        h.kill(1000, i, 100 + i as u32);
    }
    for i in 1..=3 {
        h.process(1100, i, "start", 200 + i as u32);
    }
    h.leader(1400, 2, 202, 1);
    h.follower(1400, 1, 201, 1, Some(2));
    h.follower(1400, 3, 203, 1, Some(2));
    for i in 1..=3 {
        h.process(3000, i, "kill", 200 + i as u32);
    }
    h.end(3000);
    let r = h.report();
    for name in ["term-uniqueness", "term-monotonic", "leader-agreement"] {
        assert_eq!(
            verdict(&r, name),
            Verdict::Valid,
            "{name}: {:?}",
            get(&r, name).evidence
        );
    }
    // With persistent terms the same history is a violation.
    let mut h2 = H {
        lines: h.lines.clone(),
    };
    h2.lines[0]["persistent_term"] = json!(true);
    assert_eq!(verdict(&h2.report(), "term-uniqueness"), Verdict::Invalid);
}

#[test]
fn follower_names_a_different_leader_for_a_term() {
    let mut h = H::started(3, json!({}));
    let claim = h.elect(300, 3, 1, 1);
    let naming = h.follower(400, 3, 103, 1, Some(2));
    h.stop(1000, 3);
    let r = h.report();
    let a = get(&r, "leader-agreement");
    assert_eq!(a.verdict, Verdict::Invalid);
    assert_eq!(a.evidence[0].seqs, vec![claim, naming]);
    // A leader named for a term it never claimed is reported, not invalid.
    let mut h = H::started(3, json!({}));
    h.follower(400, 3, 103, 7, Some(2));
    h.elect(500, 3, 1, 8);
    h.stop(1000, 3);
    let r = h.report();
    let a = get(&r, "leader-agreement");
    assert_eq!(a.verdict, Verdict::Valid);
    assert_eq!(a.details["unclaimed_namings"], 1);
    assert!(a.evidence[0].message.contains("never seen claiming term 7"));
}

#[test]
fn double_vote_across_restart_with_persistent_term() {
    for persistent in [true, false] {
        let mut h = H::started(3, json!({"persistent_term": persistent}));
        let v1 = h.vote(200, 3, 103, 1, 1, [0, 0], [0, 0]);
        h.kill(250, 3, 103);
        let restart = h.process(260, 3, "start", 203);
        let v2 = h.vote(270, 3, 203, 1, 2, [0, 0], [0, 0]);
        h.elect(300, 3, 1, 1);
        h.stop(1000, 3);
        let r = h.report();
        let c = get(&r, "vote-once");
        if persistent {
            assert_eq!(c.verdict, Verdict::Invalid);
            assert_eq!(c.evidence[0].seqs, vec![v1, restart, v2]);
        } else {
            assert_eq!(c.verdict, Verdict::Valid);
        }
    }
}

#[test]
fn vote_for_a_shorter_log_is_invalid() {
    let mut h = H::started(3, json!({}));
    h.vote(200, 2, 102, 3, 1, [2, 10], [3, 1]); // higher last term wins: fine
    let bad = h.vote(210, 3, 103, 3, 1, [2, 10], [2, 9]);
    h.elect(300, 3, 1, 3);
    h.stop(1000, 3);
    let r = h.report();
    let c = get(&r, "vote-up-to-date");
    assert_eq!(c.verdict, Verdict::Invalid);
    assert_eq!(c.evidence[0].seqs, vec![bad]);
    assert_eq!(c.details["stale_log_votes"], 1);
    assert_eq!(verdict(&r, "vote-once"), Verdict::Valid);
}

#[test]
fn via_infrastructure_with_clients_cut_from_the_service() {
    let mut h = H::new(
        3,
        json!({"liveness": "via-infrastructure", "infrastructure": ["redis"], "gap_bound_ms": 1000}),
    );
    h.at(
        0,
        json!({"type": "process", "node": "redis", "event": "start", "pid": 50}),
    );
    for i in 1..=3 {
        h.process(0, i, "start", 100 + i as u32);
    }
    h.elect(300, 3, 1, 1);
    h.nemesis(1000, "isolate", &[]);
    let mut links = vec![];
    for i in 1..=3 {
        links.push((format!("n{i}"), "redis".to_string()));
        links.push(("redis".to_string(), format!("n{i}")));
    }
    let links: Vec<(&str, &str)> = links
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    h.cut(1000, &links);
    // The lock holder loses its lease.
    h.follower(1100, 1, 101, 1, None);
    h.nemesis(30_000, "heal", &[]);
    h.cut(30_000, &[]);
    h.elect(30_200, 3, 2, 2);
    h.stop(32_000, 3);
    let r = h.report();
    let g = get(&r, "election-gap");
    assert_eq!(g.verdict, Verdict::Valid, "{:?}", g.evidence);
    assert_eq!(g.details["gaps"][1]["length_ms"], 200.0);
    // Killing the service also leaves no healthy quorum.
    let mut h = H::new(
        2,
        json!({"liveness": "via-infrastructure", "infrastructure": ["redis"]}),
    );
    h.process(0, 1, "start", 101);
    h.process(0, 2, "start", 102);
    h.elect(300, 2, 1, 1);
    h.at(
        1000,
        json!({"type": "process", "node": "redis", "event": "kill", "pid": 50}),
    );
    h.follower(1100, 1, 101, 1, None);
    h.end(60_000);
    let g = get(&h.report(), "election-gap").clone();
    assert_eq!(g.verdict, Verdict::Valid, "{:?}", g.evidence);
    // So does losing any member of a clustered service, whose members share
    // its name: here the first of three (not the pid of the latest start).
    let mut h = H::new(
        2,
        json!({"liveness": "via-infrastructure", "infrastructure": ["etcd"]}),
    );
    for pid in [50, 51, 52] {
        h.at(
            0,
            json!({"type": "process", "node": "etcd", "event": "start", "pid": pid}),
        );
    }
    h.process(0, 1, "start", 101);
    h.process(0, 2, "start", 102);
    h.elect(300, 2, 1, 1);
    h.at(
        1000,
        json!({"type": "process", "node": "etcd", "event": "exit", "pid": 50, "status": {"code": 1}, "expected": false}),
    );
    h.follower(1100, 1, 101, 1, None);
    h.end(60_000);
    let r = h.report();
    let g = get(&r, "election-gap");
    assert_eq!(g.verdict, Verdict::Valid, "{:?}", g.evidence);
    assert_eq!(
        verdict(&r, "crashes"),
        Verdict::Invalid,
        "the member crashed"
    );
}

#[test]
fn crash_is_invalid_with_stderr_tail() {
    let mut h = H::started(3, json!({}));
    h.elect(300, 3, 1, 1);
    let c = h.at(
        900,
        json!({"type": "process", "node": "n3", "event": "exit", "pid": 103, "status": {"code": 101},
               "expected": false, "stderr_tail": "thread 'main' panicked at src/raft.rs:42\n"}),
    );
    h.stop(1000, 3);
    let r = h.report();
    let cr = get(&r, "crashes");
    assert_eq!(cr.verdict, Verdict::Invalid);
    assert_eq!(cr.evidence[0].seqs, vec![c]);
    assert!(cr.evidence[0]
        .message
        .contains("panicked at src/raft.rs:42"));
    assert!(cr.evidence[0].message.contains("exit code 101"));
    let mut h2 = H {
        lines: h.lines.clone(),
    };
    h2.lines[0]["crashes_expected"] = json!(true);
    assert_eq!(verdict(&h2.report(), "crashes"), Verdict::Valid);
}

#[test]
fn no_header_or_no_evidence_is_unknown() {
    let r = check(Vec::<Record>::new(), &CheckOptions::default());
    assert!(r.results.iter().all(|c| c.verdict == Verdict::Unknown));
    let rec: Record = serde_json::from_value(json!({"seq": 0, "t": 0, "type": "end"})).unwrap();
    let r = check([rec], &CheckOptions::default());
    assert!(r.results.iter().all(|c| c.verdict == Verdict::Unknown));
    assert!(r.results[0].evidence[0].message.contains("no run header"));
    // A header and nothing else: no leader, no healthy quorum.
    let mut h = H::new(3, json!({}));
    h.end(10_000);
    let r = h.report();
    assert_eq!(verdict(&r, "election-gap"), Verdict::Unknown);
    assert_eq!(verdict(&r, "term-uniqueness"), Verdict::Unknown);
    // A healthy quorum longer than the bound without a leader: invalid.
    let mut h = H::started(3, json!({}));
    h.end(10_000);
    assert_eq!(verdict(&h.report(), "election-gap"), Verdict::Invalid);
}

#[test]
fn stale_pid_lines_are_ignored() {
    let mut h = H::started(3, json!({"persistent_term": true}));
    h.elect(300, 3, 1, 3);
    h.kill(1000, 2, 102);
    h.process(1100, 2, "start", 202);
    // A line from the old incarnation, read late: neither a claim nor a decrease.
    h.leader(1200, 2, 102, 1);
    h.stop(2000, 3);
    let r = h.report();
    assert_eq!(verdict(&r, "term-uniqueness"), Verdict::Valid);
    assert_eq!(verdict(&r, "term-monotonic"), Verdict::Valid);
    assert!(r.warnings.iter().any(|w| w.contains("stale pid")));
}

#[test]
fn only_runs_a_subset() {
    let mut h = H::started(3, json!({}));
    h.elect(300, 3, 1, 1);
    h.stop(1000, 3);
    let opts = CheckOptions {
        only: Some(vec!["crashes".into(), "nope".into()]),
        ..Default::default()
    };
    let r = check(h.records(), &opts);
    assert_eq!(r.results.len(), 1);
    assert!(r.warnings.iter().any(|w| w.contains("nope")));
    let opts = CheckOptions {
        gap_bound: Some(std::time::Duration::from_millis(100)),
        ..Default::default()
    };
    assert_eq!(
        verdict(&check(h.records(), &opts), "election-gap"),
        Verdict::Invalid
    );
}

#[test]
fn torn_last_line_is_a_warning_malformed_middle_line_an_error() {
    let mut h = H::started(3, json!({}));
    h.elect(300, 3, 1, 1);
    h.stop(1000, 3);
    let full = h.jsonl();
    let torn = format!("{full}{{\"seq\":99,\"t\":5,\"type\":\"sta");
    let r = check_reader(torn.as_bytes(), &CheckOptions::default()).expect("readable");
    assert_eq!(r.events, h.lines.len() as u64);
    assert!(
        r.warnings.iter().any(|w| w.contains("torn last line")),
        "{:?}",
        r.warnings
    );
    let mut reader = HistoryReader::new(torn.as_bytes());
    assert_eq!(reader.by_ref().filter(|r| r.is_ok()).count(), h.lines.len());
    assert_eq!(reader.warnings().len(), 1);
    // A malformed line in the middle: an error naming line 3.
    let mut lines: Vec<&str> = full.lines().collect();
    lines.insert(2, "{\"seq\":2,\"t\":0,\"type\":\"state\",\"node\":\"n1\"");
    let bad = lines.join("\n");
    match check_reader(bad.as_bytes(), &CheckOptions::default()) {
        Err(ReadError::Malformed { line, .. }) => assert_eq!(line, 3),
        other => panic!("expected a malformed-line error, got {other:?}"),
    }
    let err = HistoryReader::new(bad.as_bytes())
        .find_map(|r| r.err())
        .expect("error");
    assert!(err.to_string().starts_with("line 3:"), "{err}");
}

#[test]
fn fast_reader_reads_exactly_what_serde_reads() {
    let mut h = H::started(3, json!({}));
    h.elect(300, 3, 1, 1);
    h.at(
        301,
        json!({"type": "probe", "node": "n2", "ok": false, "error": "timeout \"x\""}),
    );
    h.at(
        302,
        json!({"type": "garbage", "node": "n2", "pid": 102, "line": "panic: \u{e9}\t"}),
    );
    h.at(303, json!({"type": "node_event", "node": "n2", "pid": 102, "event": {"type": "commit", "i": 3}}));
    h.at(
        304,
        json!({"type": "warning", "kind": "bypass", "message": "direct connection n1→n2"}),
    );
    h.at(
        305,
        json!({"type": "net", "cut": [], "degraded": [{"from": "n1", "to": "n2", "loss": 0.6}]}),
    );
    h.at(306, json!({"type": "state", "node": "n\\3", "role": "pre-candidate", "term": 2, "src": "probe"}));
    h.at(
        307,
        json!({"type": "state", "node": "n3", "role": "observer", "term": 2, "extra": [1]}),
    );
    h.stop(1000, 3);
    let text = h.jsonl();
    let read: Vec<Record> = HistoryReader::new(text.as_bytes())
        .map(|r| r.expect("record"))
        .collect();
    let slow: Vec<Record> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    assert_eq!(read, slow);
    assert!(h
        .report()
        .warnings
        .iter()
        .any(|w| w.contains("direct connection")));
    // Lines both readers must refuse.
    for bad in [
        r#"{"seq":1,"t":2,"type":"state","node":"n1","role":"leader"}"#,
        r#"{"seq":1,"t":2,"type":"process","node":"n1","event":"explode"}"#,
        r#"{"seq":1,"t":2,"type":"mystery"}"#,
        r#"{"seq":1,"type":"end"}"#,
        r#"{"seq":1,"t":2,"type":"vote","node":"n1","term":1}"#,
    ] {
        assert!(serde_json::from_str::<Record>(bad).is_err(), "{bad}");
        let text = format!("{bad}\n{bad}\n");
        assert!(
            HistoryReader::new(text.as_bytes())
                .next()
                .expect("item")
                .is_err(),
            "{bad}"
        );
    }
}

#[test]
fn the_late_exit_of_a_killed_incarnation_ends_nothing_of_the_restarted_one() {
    // A kill-and-restart at once: the reaper reports the old pid's exit
    // after the new process already started. The restarted n3 is live.
    let mut h = H::started(3, json!({}));
    h.elect(300, 3, 1, 1);
    h.nemesis(1000, "kill", &[3]);
    h.process(1000, 3, "kill", 103);
    h.nemesis(1001, "restart", &[3]);
    h.process(1003, 3, "start", 203);
    h.at(
        1004,
        json!({"type": "process", "node": "n3", "event": "exit", "pid": 103, "status": {"signal": 9}, "expected": true}),
    );
    h.follower(1010, 3, 203, 1, Some(1));
    // n1 dies; n2 and the restarted n3 are a healthy quorum that elects n2.
    h.nemesis(2000, "kill", &[1]);
    h.process(2000, 1, "kill", 101);
    h.leader(2300, 2, 102, 2);
    h.follower(2301, 3, 203, 2, Some(2));
    h.end(5000);
    let r = h.report();
    let gap = &get(&r, "election-gap").details;
    assert_eq!(verdict(&r, "election-gap"), Verdict::Valid, "{gap}");
    assert!(gap["open_at_end"].is_null(), "{gap}");
    // After the start-up gap, the one gap is n1's death to n2's election:
    // n3's kill opened none (n1 led on), its late exit none either.
    let gaps = gap["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 2, "{gap}");
    assert_eq!(gaps[1]["opened_at_ns"], 2000 * MS, "{gap}");
    assert_eq!(gaps[1]["length_ms"], 300.0, "{gap}");
}

#[test]
fn a_history_without_an_end_is_never_valid_but_its_violations_stand() {
    // The controller died at 5 s: nodes still up, no `end` record.
    let mut h = H::started(3, json!({}));
    h.elect(300, 3, 1, 1);
    let r = h.report();
    for name in ["election-gap", "stability"] {
        let c = get(&r, name);
        assert_eq!(c.verdict, Verdict::Unknown, "{name}: {c:?}");
        assert!(c.evidence[0].message.contains("no `end` record"), "{c:?}");
    }
    assert_eq!(verdict(&r, "term-uniqueness"), Verdict::Valid);
    assert_eq!(r.verdict(), Verdict::Unknown, "never valid without an end");
    // The same history, complete: valid.
    let mut complete = H::started(3, json!({}));
    complete.elect(300, 3, 1, 1);
    complete.stop(5000, 3);
    assert_eq!(complete.report().verdict(), Verdict::Valid);
    // A second leader of term 1 before the history stops: still a violation.
    h.leader(400, 2, 102, 1);
    let r = h.report();
    assert_eq!(verdict(&r, "term-uniqueness"), Verdict::Invalid);
    assert_eq!(r.verdict(), Verdict::Invalid);
}
