//! The node zoo end to end: the built-in lease node on a real redis-server
//! and the bully node, run through the `splitbrain` binary with fixed seeds.
//! Each seed's schedule is a pure function of the seed; the aims ("the
//! leader") are resolved at run time, so the assertions below hold whoever
//! wins the first election.

mod common;

use std::path::Path;
use std::time::Duration;

use checkers::history::{Event, Role};
use common::*;

/// One short run of 3 nodes; returns (exit code, run directory).
fn zoo_run(store: &Path, target: &str, extra: &[&str]) -> (Option<i32>, std::path::PathBuf) {
    let mut args = vec!["--target", target, "--nodes", "3"];
    args.extend_from_slice(extra);
    let out = run_in(store, &args);
    let dir = latest(store);
    let left = wait_no_processes(&dir.display().to_string(), Duration::from_secs(3));
    assert!(
        left.is_empty(),
        "nodes or redis-server left behind: {left:?}"
    );
    (out.status.code(), dir)
}

/// Bully, 3 nodes, under `partition` (1.5 s splits every 1 s, 5.5 s): the
/// seed decides which node ends up alone on the minority side.
fn bully_under_partition(store: &Path, seed: &str) -> (Option<i32>, std::path::PathBuf) {
    zoo_run(
        store,
        "bully",
        &[
            "--seed",
            seed,
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "1s",
            "--fault-duration",
            "1500ms",
            "--time-limit",
            "5500ms",
            "--recovery",
            "2s",
        ],
    )
}

/// The checker's result object in results.json.
fn result_of<'a>(results: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    results["report"]["results"]
        .as_array()
        .expect("results array")
        .iter()
        .find(|r| r["checker"] == name)
        .unwrap_or_else(|| panic!("checker {name} missing"))
}

/// Every evidence item of `result` names history seqs that exist and are
/// leader claims of at least two different nodes; returns those nodes.
fn overlap_evidence_nodes(result: &serde_json::Value, dir: &Path) -> Vec<String> {
    let records = history(dir);
    let evidence = result["evidence"].as_array().expect("evidence");
    assert!(
        !evidence.is_empty(),
        "an overlap comes with evidence: {result}"
    );
    let seqs: Vec<u64> = evidence[0]["seqs"]
        .as_array()
        .expect("seqs")
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    assert!(seqs.len() >= 2, "two claims as evidence: {result}");
    let mut nodes: Vec<String> = seqs
        .iter()
        .map(|seq| {
            let record = records
                .iter()
                .find(|r| r.seq == *seq)
                .unwrap_or_else(|| panic!("evidence seq {seq} is in the history"));
            match &record.event {
                Event::State(s) if s.role == Role::Leader => s.node.clone(),
                other => panic!("evidence seq {seq} is a leader claim, not {other:?}"),
            }
        })
        .collect();
    nodes.sort();
    nodes.dedup();
    assert!(nodes.len() >= 2, "claims of two different nodes: {nodes:?}");
    nodes
}

/// Seed 2 with these settings pauses the leader once, for 1.5 s (longer than
/// the 1 s lease), at about 3.8 s.
const LEADER_PAUSE: &[&str] = &[
    "--seed",
    "2",
    "--nemesis",
    "pause",
    "--nemesis-interval",
    "1s",
    "--fault-duration",
    "1500ms",
    "--time-limit",
    "8700ms",
    "--recovery",
    "2s",
];

#[test]
fn redis_lease_with_cas_renewal_hands_over_cleanly_when_the_leader_pauses() {
    require_program("redis-server", "--version", "redis-server");
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let (code, dir) = zoo_run(&store, "redis-lease", LEADER_PAUSE);
    let results = results_json(&dir);
    for checker in [
        "lease-overlap",
        "term-uniqueness",
        "term-monotonic",
        "leader-agreement",
    ] {
        assert_eq!(
            verdict_of(&results, checker),
            "valid",
            "{checker}: {results}"
        );
    }
    assert_eq!(code, Some(0), "{}", results["report"]);
    let records = history(&dir);
    assert!(
        records
            .iter()
            .any(|r| matches!(&r.event, Event::Nemesis(n) if n.op == "pause")),
        "the leader was paused"
    );
    assert!(
        leader_terms(&records).len() >= 2,
        "another node took over with a new token: {:?}",
        leader_terms(&records)
    );
}

#[test]
fn redis_lease_renew_xx_the_seeds_recipe_overlaps_two_leaders_after_a_pause() {
    require_program("redis-server", "--version", "redis-server");
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let mut args = LEADER_PAUSE.to_vec();
    args.extend_from_slice(&["--bug", "renew-xx"]);
    let (code, dir) = zoo_run(&store, "redis-lease", &args);
    let results = results_json(&dir);
    let overlap = result_of(&results, "lease-overlap");
    assert_eq!(overlap["verdict"], "invalid", "{overlap}");
    assert_eq!(code, Some(1));
    overlap_evidence_nodes(overlap, &dir);
    // The resumed leader's SET XX took the new holder's key, and both keep
    // renewing by overwriting each other: the overlap lasts, it is no blip.
    let longest = overlap["details"]["live_longest_ms"].as_f64().unwrap();
    assert!(longest > 1000.0, "a lasting overlap, got {longest} ms");
    // Terms stay unique: the two leaders hold different tokens.
    assert_eq!(verdict_of(&results, "term-uniqueness"), "valid");
}

#[test]
fn redis_lease_no_pause_check_leads_on_after_a_pause_past_its_lease() {
    require_program("redis-server", "--version", "redis-server");
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let mut args = LEADER_PAUSE.to_vec();
    args.extend_from_slice(&["--bug", "no-pause-check"]);
    let (code, dir) = zoo_run(&store, "redis-lease", &args);
    let results = results_json(&dir);
    let overlap = result_of(&results, "lease-overlap");
    assert_eq!(overlap["verdict"], "invalid", "{overlap}");
    assert_eq!(code, Some(1));
    overlap_evidence_nodes(overlap, &dir);
}

#[test]
fn bully_elects_a_second_coordinator_across_a_partition() {
    // Seed 1 puts the coordinator (n3, the highest node) alone on the
    // minority side at about 2.2 s for 1.5 s: n1 and n2 elect n2 in a newer
    // term while n3 still coordinates its own side.
    let tmp = tempfile::tempdir().unwrap();
    let (code, dir) = bully_under_partition(&tmp.path().join("store"), "1");
    let results = results_json(&dir);
    let overlap = result_of(&results, "lease-overlap");
    let longest = overlap["details"]["live_longest_ms"].as_f64().unwrap();
    assert!(
        longest > 500.0,
        "two coordinators at once for most of the partition, got {longest} ms: {overlap}"
    );
    // The bully target promises no exclusivity, so the overlap is reported
    // with its evidence rather than judged a violation.
    assert_eq!(overlap["verdict"], "valid");
    assert_eq!(code, Some(0), "{}", results["report"]);
    let nodes = overlap_evidence_nodes(overlap, &dir);
    // The two coordinators claimed different terms.
    let records = history(&dir);
    let seqs: Vec<u64> = overlap["evidence"][0]["seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    let terms: std::collections::BTreeSet<u64> = records
        .iter()
        .filter(|r| seqs.contains(&r.seq))
        .filter_map(|r| match &r.event {
            Event::State(s) => Some(s.term),
            _ => None,
        })
        .collect();
    assert_eq!(terms.len(), 2, "{nodes:?} led different terms: {terms:?}");
    // Healing makes the bully take over again: an unnecessary election.
    let stability = result_of(&results, "stability");
    assert!(
        stability["details"]["unnecessary"].as_u64().unwrap() >= 1,
        "{stability}"
    );
    for checker in ["term-uniqueness", "term-monotonic", "leader-agreement"] {
        assert_eq!(verdict_of(&results, checker), "valid", "{checker}");
    }
}

#[test]
fn bully_lets_a_cut_off_node_take_office_and_quorum_leader_says_so() {
    // Seed 2 puts n1, a non-coordinator, alone on the minority side at about
    // 2.3 s for 1.5 s: it hears no higher node, declares itself coordinator
    // in a new term while it cannot reach anyone, and quorum-leader flags
    // the claim (the bully algorithm needs no quorum: a real violation).
    let tmp = tempfile::tempdir().unwrap();
    let (code, dir) = bully_under_partition(&tmp.path().join("store"), "2");
    let results = results_json(&dir);
    let quorum = result_of(&results, "quorum-leader");
    assert_eq!(quorum["verdict"], "invalid", "{quorum}");
    assert_eq!(code, Some(1), "a safety violation → exit 1");
    // The evidence names a leader claim of the cut-off node and the net
    // event that cut it off.
    let records = history(&dir);
    let evidence = &quorum["evidence"][0];
    let node = evidence["nodes"][0].as_str().expect("claimant").to_string();
    let kinds: Vec<&str> = evidence["seqs"]
        .as_array()
        .expect("seqs")
        .iter()
        .map(|s| {
            let seq = s.as_u64().unwrap();
            let record = records
                .iter()
                .find(|r| r.seq == seq)
                .unwrap_or_else(|| panic!("evidence seq {seq} is in the history"));
            match &record.event {
                Event::State(s) if s.role == Role::Leader && s.node == node => "claim",
                Event::State(s) if s.node == node => "window",
                Event::Net(n) if n.cut.iter().any(|[a, b]| *a == node || *b == node) => "cut",
                other => panic!("unexpected evidence {other:?}"),
            }
        })
        .collect();
    assert_eq!(kinds, ["cut", "window", "claim"], "{quorum}");
    for checker in ["term-uniqueness", "term-monotonic", "leader-agreement"] {
        assert_eq!(verdict_of(&results, checker), "valid", "{checker}");
    }
}
