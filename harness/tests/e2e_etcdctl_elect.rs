//! The etcdctl-elect target end to end: the real `etcdctl elect` (Debian
//! `etcd-client`) behind the Python adapter, three clients of a real 3-member
//! etcd cluster (Debian `etcd-server`). Fails, not skips, when either is
//! missing: `bash .ci/run` installs them.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use checkers::history::{Event, ProcessEvent, Role};
use common::*;

/// The built-in target with only its election timeout shortened. Its real
/// timing says what a dead leader costs (a 60 s lease), and the fault
/// schedule waits 3 election timeouts (3 minutes) before its first fault;
/// with 500 ms the pause comes within seconds. Everything else (the adapter,
/// the cluster, the 65 s gap bound, the promises) is the shipped target.
fn fast_target(dir: &std::path::Path) -> std::path::PathBuf {
    let shipped = nodes::target::builtin("etcdctl-elect").expect("built-in etcdctl-elect");
    let line = "election_timeout = [\"60s\", \"61s\"]";
    assert!(
        shipped.contains(line),
        "the shipped timing changed: {shipped}"
    );
    let text = shipped.replace(line, "election_timeout = [\"200ms\", \"500ms\"]");
    target_file(dir, "etcdctl-elect.toml", &text)
}

#[test]
fn etcdctl_elect_leader_has_the_key_revision_and_a_short_pause_goes_unseen() {
    require_program("etcd", "--version", "etcd-server");
    require_program("etcdctl", "version", "etcd-client");
    let tmp = tempfile::tempdir().unwrap();
    let target = fast_target(tmp.path());
    let store = tmp.path().join("store");
    // Seed 2: the one fault is a 3 s pause of the leader.
    let out = run_in(
        &store,
        &[
            "--target",
            target.to_str().unwrap(),
            "--seed",
            "2",
            "--time-limit",
            "8s",
            "--nemesis",
            "pause",
            "--nemesis-interval",
            "2s",
            "--fault-duration",
            "3s",
            "--recovery",
            "2s",
        ],
    );
    let dir = latest(&store);
    let records = history(&dir);
    assert_eq!(out.status.code(), Some(0), "all checkers valid");

    // One election in a fresh cluster: the first key written is revision 2
    // (revision 1 is the empty store; lease grants write no key), so the
    // leader's term, its key's create_revision, is 2, and every follower
    // read the same key (its own `etcdctl get`, not the leader's output).
    let states: Vec<(u64, String, Role, u64, Option<String>)> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::State(s) => Some((r.t, s.node.clone(), s.role, s.term, s.leader.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(leader_terms(&records), BTreeSet::from([2]), "{states:?}");
    let leader = states
        .iter()
        .find(|s| s.2 == Role::Leader)
        .map(|s| s.1.clone())
        .unwrap();
    assert!(states.iter().all(|s| s.3 == 2), "{states:?}");
    for node in ["n1", "n2", "n3"].iter().filter(|n| **n != leader) {
        assert!(
            states
                .iter()
                .any(|s| s.1 == *node && s.2 == Role::Follower && s.4.as_deref() == Some(&leader)),
            "{node} follows {leader}: {states:?}"
        );
        assert!(
            !states.iter().any(|s| s.1 == *node && s.2 == Role::Leader),
            "{node} never leads: a pause shorter than the 60 s lease leaves the key in place"
        );
    }

    // The pause hit the leader; after the resume it found its key still
    // there and said `leader` again in the same term (re-asserted, so its
    // claim is live again), within 2 s (one `etcdctl get`).
    let (paused_at, paused) = records
        .iter()
        .find_map(|r| match &r.event {
            Event::Nemesis(n) if n.op == "pause" => Some((r.t, n.nodes.clone())),
            _ => None,
        })
        .expect("a pause was injected");
    assert_eq!(paused, vec![leader.clone()], "seed 2 pauses the leader");
    let resumed_at = records
        .iter()
        .find_map(|r| match &r.event {
            Event::Process(p) if p.event == ProcessEvent::Resume && p.node == leader => Some(r.t),
            _ => None,
        })
        .expect("the leader was resumed");
    assert!(resumed_at >= paused_at + 2_900_000_000);
    let again = states
        .iter()
        .find(|s| s.0 >= resumed_at && s.1 == leader)
        .expect("the resumed leader spoke again");
    assert_eq!((again.2, again.3), (Role::Leader, 2), "{again:?}");
    assert!(
        again.0 - resumed_at < Duration::from_secs(2).as_nanos() as u64,
        "re-asserted {} ms after the resume",
        (again.0 - resumed_at) / 1_000_000
    );

    // Nothing is left: no node, no etcdctl child in a node's group, no
    // etcd member.
    let left = wait_no_processes(&dir.display().to_string(), Duration::from_secs(3));
    assert!(left.is_empty(), "{left:?}");
    let mut groups = BTreeSet::new();
    for r in &records {
        if let Event::Process(p) = &r.event {
            if let (ProcessEvent::Start, Some(pid)) = (p.event, p.pid) {
                groups.insert(pid);
            }
        }
    }
    assert_eq!(groups.len(), 6, "3 nodes and 3 etcd members: {groups:?}");
    let left = alive_in_groups(&groups);
    assert!(left.is_empty(), "left behind: {left:?}");
}
