//! The etcd-elect target end to end: a real etcd (Debian `etcd-server`) as
//! infrastructure and three `splitbrain node etcd-elect` clients campaigning
//! on one election through the proxy. Fails, not skips, when etcd is missing:
//! `bash .ci/run` installs it.

mod common;

use std::path::Path;
use std::time::Duration;

use checkers::history::{Event, ProcessEvent, Record, Role};
use common::*;

/// Runs the built-in etcd-elect target with `--nemesis NEMESIS`, seed 2 (its
/// schedule aims the one fault at the leader), and returns the run directory.
fn run_etcd_elect(
    store: &Path,
    nemesis: &str,
    fault: &str,
    extra: &[&str],
) -> (std::process::Output, std::path::PathBuf) {
    require_program("etcd", "--version", "etcd-server");
    let mut args = vec![
        "--target",
        "etcd-elect",
        "--seed",
        "2",
        "--time-limit",
        "12s",
        "--nemesis",
        nemesis,
        "--nemesis-interval",
        "2s",
        "--fault-duration",
        fault,
        "--recovery",
        "3s",
    ];
    args.extend_from_slice(extra);
    let out = run_in(store, &args);
    let dir = latest(store);
    (out, dir)
}

/// Every process the run started (nodes and etcd) is gone.
fn assert_nothing_left(dir: &Path, records: &[Record]) {
    let left = wait_no_processes(&dir.display().to_string(), Duration::from_secs(3));
    assert!(
        left.is_empty(),
        "processes of the run left behind: {left:?}"
    );
    for record in records {
        if let Event::Process(p) = &record.event {
            if let (ProcessEvent::Start, Some(pid)) = (&p.event, p.pid) {
                let alive = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|cmd| cmd.contains("etcd"));
                assert!(!alive, "{} (pid {pid}) is still running", p.node);
            }
        }
    }
}

fn nemesis_ops(records: &[Record]) -> Vec<(u64, String, Vec<String>)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Nemesis(n) => Some((r.t, n.op.clone(), n.nodes.clone())),
            _ => None,
        })
        .collect()
}

/// `(t, node, role, term, leader)` of every state line.
fn states(records: &[Record]) -> Vec<(u64, String, Role, u64, Option<String>)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::State(s) => Some((r.t, s.node.clone(), s.role, s.term, s.leader.clone())),
            _ => None,
        })
        .collect()
}

fn lease_overlap(results: &serde_json::Value) -> serde_json::Value {
    results["report"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["checker"] == "lease-overlap")
        .expect("lease-overlap result")["details"]
        .clone()
}

#[test]
fn etcd_elect_killed_leader_is_replaced_and_safety_holds() {
    let store = tempfile::tempdir().unwrap();
    let (out, dir) = run_etcd_elect(store.path(), "kill", "1s", &[]);
    let records = history(&dir);
    let ops = nemesis_ops(&records);
    let kill = ops
        .iter()
        .find(|(_, op, _)| op == "kill")
        .expect("a kill was injected");
    let states = states(&records);
    // The kill hit the leader of the moment, and another client took over in
    // a higher term (its key's create_revision) once etcd expired the lease.
    let leader_before = states
        .iter()
        .rfind(|s| s.0 < kill.0 && s.2 == Role::Leader)
        .expect("a leader before the kill")
        .clone();
    assert_eq!(
        kill.2,
        vec![leader_before.1.clone()],
        "seed 2 aims the kill at the leader"
    );
    let successor = states
        .iter()
        .find(|s| s.0 > kill.0 && s.2 == Role::Leader)
        .expect("a new leader after the kill");
    assert_ne!(successor.1, leader_before.1);
    assert!(
        successor.3 > leader_before.3,
        "fencing token grows: {successor:?} after {leader_before:?}"
    );
    let took = Duration::from_nanos(successor.0 - kill.0);
    assert!(
        took < Duration::from_secs(3),
        "the lease (1 s) expired and a client took over in {took:?}"
    );
    // Followers name the leader of their term.
    assert!(states.iter().any(|s| s.2 == Role::Follower
        && s.3 == successor.3
        && s.4.as_deref() == Some(successor.1.as_str())));
    let results = results_json(&dir);
    for checker in [
        "term-uniqueness",
        "term-monotonic",
        "leader-agreement",
        "lease-overlap",
        "election-gap",
        "crashes",
    ] {
        assert_eq!(verdict_of(&results, checker), "valid", "{checker}");
    }
    assert_eq!(lease_overlap(&results)["live_over_tolerance"], 0);
    assert_eq!(out.status.code(), Some(0), "{:?}", out.status);
    assert_nothing_left(&dir, &records);
}

#[test]
fn etcd_elect_leader_paused_past_its_ttl_overlaps_in_belief_only() {
    let store = tempfile::tempdir().unwrap();
    // Paused for 2 s, twice the 1 s lease TTL.
    let (out, dir) = run_etcd_elect(store.path(), "pause", "2s", &[]);
    let records = history(&dir);
    let ops = nemesis_ops(&records);
    let pause = ops
        .iter()
        .find(|(_, op, _)| op == "pause")
        .expect("a pause was injected");
    let resume = ops
        .iter()
        .find(|(_, op, _)| op == "resume")
        .expect("a resume");
    let states = states(&records);
    let paused_leader = states
        .iter()
        .rfind(|s| s.0 < pause.0 && s.2 == Role::Leader)
        .expect("a leader before the pause")
        .clone();
    assert_eq!(
        pause.2,
        vec![paused_leader.1.clone()],
        "seed 2 aims the pause at the leader"
    );
    // Another client leads while the old leader sleeps: two believe they lead.
    let successor = states
        .iter()
        .find(|s| s.0 > pause.0 && s.0 < resume.0 && s.2 == Role::Leader)
        .expect("a new leader while the old one is paused");
    assert!(successor.3 > paused_leader.3);
    // The resumed client steps down as soon as it runs again: its lease
    // deadline passed while it slept.
    let stepped_down = states
        .iter()
        .find(|s| s.0 >= resume.0 && s.1 == paused_leader.1)
        .expect("the resumed client reports again");
    assert_eq!(stepped_down.2, Role::Follower, "{stepped_down:?}");
    assert!(
        Duration::from_nanos(stepped_down.0 - resume.0) < Duration::from_millis(500),
        "stepped down {:?} after the resume",
        Duration::from_nanos(stepped_down.0 - resume.0)
    );
    // results.json: a belief overlap from the successor's claim to the step
    // down, and no live overlap (the correct client never leads past its lease).
    let results = results_json(&dir);
    let overlap = lease_overlap(&results);
    let belief = overlap["belief_longest_ms"].as_f64().unwrap();
    let expected = (stepped_down.0 - successor.0) as f64 / 1e6;
    assert!(
        (belief - expected).abs() < 1.0,
        "belief overlap {belief} ms, expected {expected} ms: {overlap}"
    );
    assert!(belief > 300.0, "{overlap}");
    assert_eq!(overlap["belief_episodes"], 1, "{overlap}");
    assert_eq!(overlap["live_over_tolerance"], 0, "{overlap}");
    assert!(
        overlap["live_longest_ms"].as_f64().unwrap() <= overlap["tolerance_ms"].as_f64().unwrap()
    );
    for checker in [
        "lease-overlap",
        "term-uniqueness",
        "term-monotonic",
        "leader-agreement",
        "election-gap",
    ] {
        assert_eq!(verdict_of(&results, checker), "valid", "{checker}");
    }
    assert_eq!(out.status.code(), Some(0), "{:?}", out.status);
    assert_nothing_left(&dir, &records);
}

#[test]
fn etcd_elect_seeded_bug_no_lease_check_is_a_live_overlap() {
    let store = tempfile::tempdir().unwrap();
    let (out, dir) = run_etcd_elect(store.path(), "pause", "2s", &["--bug", "no-lease-check"]);
    let records = history(&dir);
    let results = results_json(&dir);
    let overlap = lease_overlap(&results);
    assert_eq!(
        verdict_of(&results, "lease-overlap"),
        "invalid",
        "{overlap}"
    );
    assert!(
        overlap["live_longest_ms"].as_f64().unwrap() > 1000.0,
        "{overlap}"
    );
    // Each leader still has its own term: the fencing token tells them apart.
    assert_eq!(verdict_of(&results, "term-uniqueness"), "valid");
    assert!(leader_terms(&records).len() >= 2);
    assert_eq!(out.status.code(), Some(1), "{:?}", out.status);
    assert_nothing_left(&dir, &records);
}

/// The text between the first `before` and the next `after` in `text`.
fn between<'a>(text: &'a str, before: &str, after: &str) -> Option<&'a str> {
    let start = text.find(before)? + before.len();
    let len = text[start..].find(after)?;
    Some(&text[start..start + len])
}

#[test]
fn etcd_elect_runs_on_a_three_member_cluster_that_is_gone_after_the_run() {
    let store = tempfile::tempdir().unwrap();
    require_program("etcd", "--version", "etcd-server");
    let out = run_in(
        store.path(),
        &[
            "--target",
            "etcd-elect",
            "--seed",
            "2",
            "--time-limit",
            "3s",
            "--nemesis",
            "none",
            "--recovery",
            "1s",
        ],
    );
    let dir = latest(store.path());
    let records = history(&dir);
    assert_eq!(out.status.code(), Some(0), "all checkers valid");
    // Three member processes under the one service name, each started and
    // ready (/health: the cluster has a leader) before the first client.
    let etcd = |event: ProcessEvent| -> Vec<(usize, u32)> {
        records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match &r.event {
                Event::Process(p) if p.node == "etcd" && p.event == event => Some((i, p.pid?)),
                _ => None,
            })
            .collect()
    };
    let starts = etcd(ProcessEvent::Start);
    let ready = etcd(ProcessEvent::Ready);
    let pids: std::collections::BTreeSet<u32> = starts.iter().map(|s| s.1).collect();
    assert_eq!(pids.len(), 3, "three etcd member processes: {starts:?}");
    assert_eq!(ready.len(), 3, "{ready:?}");
    let first_client = records
        .iter()
        .position(|r| matches!(&r.event, Event::Process(p) if p.node == "n1" && p.event == ProcessEvent::Start))
        .unwrap();
    assert!(ready.iter().all(|r| r.0 < first_client));
    // Each member kept its own data and log, and they formed ONE cluster:
    // three distinct member ids, and every member saw the same Raft leader,
    // one of the three.
    let mut ids = Vec::new();
    let mut leaders = Vec::new();
    for m in 0..3 {
        assert!(dir.join(format!("infra/etcd-{m}/data/member")).is_dir());
        let log = std::fs::read_to_string(dir.join(format!("infra/etcd-{m}.log"))).unwrap();
        ids.push(
            between(&log, "\"local-member-id\":\"", "\"")
                .unwrap_or_else(|| panic!("member {m} logged its id"))
                .to_string(),
        );
        leaders.push(
            between(&log, " elected leader ", " at term")
                .unwrap_or_else(|| panic!("member {m} saw a Raft leader"))
                .to_string(),
        );
        assert_eq!(
            log.matches("\"msg\":\"added member\"").count(),
            3,
            "member {m} added three members"
        );
        assert!(
            log.split("voters=(").skip(1).any(|rest| rest
                .split(')')
                .next()
                .unwrap()
                .split_whitespace()
                .count()
                == 3),
            "member {m} ran with three voters"
        );
    }
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 3, "{ids:?}");
    assert!(leaders.iter().all(|l| l == &leaders[0]), "{leaders:?}");
    assert!(ids.contains(&leaders[0]), "{leaders:?} among {ids:?}");
    // A client was elected through the cluster.
    assert!(!leader_terms(&records).is_empty());
    // Every client was given three distinct member addresses, and none is a
    // member's real client address: they are its own proxy addresses.
    let real: Vec<String> = (0..3)
        .map(|m| {
            let log = std::fs::read_to_string(dir.join(format!("infra/etcd-{m}.log"))).unwrap();
            between(&log, "\"listen-client-urls\":[\"http://", "\"")
                .expect("member's client URL in its log")
                .to_string()
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for n in ["n1", "n2", "n3"] {
        let err = std::fs::read_to_string(dir.join(format!("nodes/{n}.stderr"))).unwrap();
        let list = between(&err, "etcd endpoints ", "\n").expect("endpoints logged");
        let addrs: std::collections::BTreeSet<&str> = list.split(',').collect();
        assert_eq!(addrs.len(), 3, "{n}: {list}");
        assert!(
            addrs.iter().all(|a| !real.iter().any(|r| r == a)),
            "{n} bypasses the proxy: {list} vs {real:?}"
        );
        seen.extend(addrs.into_iter().map(str::to_string));
    }
    assert_eq!(seen.len(), 9, "one proxy address per (client, member)");
    // Nothing of the run is left: no client, no member (by the pids the
    // history recorded).
    assert_nothing_left(&dir, &records);
}
