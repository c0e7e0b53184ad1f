//! End to end: real nodes, real signals, real sockets, judged from the history.

mod common;

use checkers::history::{Event, ProcessEvent};
use common::*;

/// Three nodes, a leader kill every 1.5 s. Seed 7 aims every kill of this
/// schedule at the leader (schedules are a pure function of the seed;
/// `workloads` pins one in its tests).
const LEADER_KILLS: &[&str] = &[
    "--nodes",
    "3",
    "--seed",
    "7",
    "--time-limit",
    "8s",
    "--nemesis",
    "kill",
    "--nemesis-interval",
    "1500ms",
    "--fault-duration",
    "500ms",
    "--recovery",
    "2s",
];

#[test]
fn three_raft_nodes_with_leader_kills_are_valid() {
    let store = tempfile::tempdir().unwrap();
    let out = run_in(store.path(), LEADER_KILLS);
    assert_eq!(out.status.code(), Some(0), "all checkers valid → exit 0");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("term-uniqueness") && stdout.contains("term-monotonic"),
        "checker table printed"
    );
    assert!(
        stdout.contains("replay: splitbrain run"),
        "replay command printed"
    );
    let dir = latest(store.path());
    let records = history(&dir);
    assert!(
        matches!(records[0].event, Event::Run(_)),
        "first line is the run header"
    );
    assert!(matches!(records.last().unwrap().event, Event::End(ref e) if !e.interrupted));
    let kills = records
        .iter()
        .filter(|r| matches!(&r.event, Event::Process(p) if p.event == ProcessEvent::Kill))
        .count();
    assert!(kills >= 2, "the nemesis killed leaders ({kills} kills)");
    assert!(
        leader_terms(&records).len() >= 2,
        "at least two terms elected: {:?}",
        leader_terms(&records)
    );
    for w in records.windows(2) {
        assert!(
            w[1].seq > w[0].seq && w[1].t >= w[0].t,
            "seq increases and t never decreases"
        );
    }
    let results = results_json(&dir);
    assert_eq!(results["verdict"], "valid");
    assert!(dir.join("report.txt").is_file() && dir.join("run.toml").is_file());
    assert!(wait_no_processes(
        &dir.display().to_string(),
        std::time::Duration::from_secs(2)
    )
    .is_empty());
}

#[test]
fn forget_term_bug_is_caught_by_term_monotonic() {
    let store = tempfile::tempdir().unwrap();
    let out = run_in(
        store.path(),
        &[LEADER_KILLS, &["--bug", "forget-term"]].concat(),
    );
    assert_eq!(out.status.code(), Some(1), "a violation → exit 1");
    let dir = latest(store.path());
    let results = results_json(&dir);
    assert_eq!(verdict_of(&results, "term-monotonic"), "invalid");
    let evidence = &results["report"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["checker"] == "term-monotonic")
        .unwrap()["evidence"][0];
    let seqs: Vec<u64> = evidence["seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    let records = history(&dir);
    let shown: Vec<&Event> = seqs.iter().map(|s| &records[*s as usize].event).collect();
    assert!(
        shown.iter().any(|e| matches!(e, Event::State(_))),
        "the offending states are evidence: {shown:?}"
    );
    assert!(
        shown.iter().any(|e| matches!(e, Event::Process(p) if p.event == ProcessEvent::Start || p.event == ProcessEvent::Kill)),
        "the restart between them is evidence: {shown:?}"
    );

    // `splitbrain check` judges the same history the same way, offline.
    let check = splitbrain()
        .arg("check")
        .arg(dir.join("history.jsonl"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("term-monotonic") && text.contains("invalid"),
        "{text}"
    );
}

#[test]
fn progress_goes_to_stderr_only_and_quiet_silences_it() {
    let store = tempfile::tempdir().unwrap();
    let args = [
        "--nodes",
        "3",
        "--seed",
        "4",
        "--nemesis",
        "partition",
        "--time-limit",
        "3s",
        "--recovery",
        "1s",
    ];
    let out = run_in(store.path(), &args);
    assert_eq!(out.status.code(), Some(0));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    // Not a terminal: plain lines, one at least per phase, each saying
    // where the run is, who leads and what is in force.
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("terms with two leaders so far: 0"))
        .collect();
    assert!(lines.iter().any(|l| l.contains("faults ")), "{stderr}");
    assert!(lines.iter().any(|l| l.contains("recovery ")), "{stderr}");
    assert!(lines.iter().any(|l| l.contains("leader n")), "{stderr}");
    assert!(!stdout.contains("terms with two leaders"), "{stdout}");
    // Nothing of it in the history or the results.
    let run = latest(store.path());
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    assert!(!history.contains("two leaders so far"));

    let quiet = tempfile::tempdir().unwrap();
    let mut q = args.to_vec();
    q.push("--quiet");
    let out = run_in(quiet.path(), &q);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("so far"),
        "--quiet prints no progress: {stderr}"
    );
}
