//! The etcd target end to end: real etcd members (Debian `etcd-server`), all
//! peer traffic through the proxy, observed by probes. Fails, not skips, when
//! etcd is missing: `bash .ci/run` installs it.

mod common;

use std::time::Duration;

use checkers::history::{Event, Role, Source};
use common::*;

#[test]
fn etcd_under_kill_pause_and_partition_is_judged_from_probes() {
    require_program("etcd", "--version", "etcd-server");
    let store = tempfile::tempdir().unwrap();
    let out = run_in(
        store.path(),
        &[
            "--target",
            "etcd",
            "--nodes",
            "3",
            "--seed",
            "4",
            "--time-limit",
            "14s",
            "--nemesis",
            "kill,pause,partition",
            "--nemesis-interval",
            "3s",
            "--fault-duration",
            "1500ms",
            "--recovery",
            "4s",
        ],
    );
    let dir = latest(store.path());
    let records = history(&dir);
    let header = match &records[0].event {
        Event::Run(h) => h.clone(),
        e => panic!("{e:?}"),
    };
    assert_eq!(header.observation, Source::Probe);
    assert_eq!(header.probe_interval_ms, Some(20));
    let ops: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Nemesis(n) => Some(n.op.clone()),
            _ => None,
        })
        .collect();
    assert!(ops.len() >= 3, "faults were injected: {ops:?}");
    // Leaders observed by probe, named by node id (member ids were mapped).
    let leaders: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::State(s) if s.role == Role::Leader => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert!(!leaders.is_empty(), "etcd elected a leader");
    assert!(leaders
        .iter()
        .all(|s| s.src == Source::Probe && s.leader.as_deref() == Some(s.node.as_str())));
    // Safety holds for etcd; the run is judged (not failed).
    let results = results_json(&dir);
    assert_eq!(verdict_of(&results, "term-uniqueness"), "valid");
    assert_eq!(verdict_of(&results, "leader-agreement"), "valid");
    assert!(
        out.status.code().is_some_and(|c| c <= 2),
        "{:?}",
        out.status
    );
    // No etcd process of this run is left behind.
    let left = wait_no_processes(&dir.display().to_string(), Duration::from_secs(3));
    assert!(left.is_empty(), "etcd members left behind: {left:?}");
}
