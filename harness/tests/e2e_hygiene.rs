//! No orphans on any exit path: SIGKILL of the controller, SIGINT, paused
//! nodes at the moment of interruption, and wrapper scripts (grandchildren).

mod common;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use checkers::history::Event;
use common::*;

/// Start a run in the background and wait until its nodes are up.
fn start_run(store: &Path, args: &[&str]) -> (Child, std::path::PathBuf) {
    start_run_until(store, args, |_| true)
}

fn wrapper_target(dir: &Path) -> std::path::PathBuf {
    // `; true` keeps sh from exec-ing the node: the node is a grandchild.
    target_file(
        dir,
        "wrapped.toml",
        r#"name = "wrapped"
[node]
shell = true
argv = ["{exe}", "node", "raft", "--id", "{id}", "--listen", "{listen}", "--peers", "{peers}", "--data-dir", "{data_dir}", "--seed", "{seed}", "; true"]
[timing]
election_timeout = ["150ms", "300ms"]
[promises]
persistent_term = true
"#,
    )
}

#[test]
fn sigkill_of_the_controller_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let t = wrapper_target(tmp.path());
    let store = tmp.path().join("store");
    let (mut child, dir) = start_run(
        &store,
        &[
            "--target",
            t.to_str().unwrap(),
            "--nodes",
            "3",
            "--time-limit",
            "60s",
            "--nemesis",
            "none",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let needle = dir.display().to_string();
    let before = processes_mentioning(&needle);
    assert!(
        before.len() >= 6,
        "3 wrappers and 3 grandchildren running: {before:?}"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let left = wait_no_processes(&needle, Duration::from_secs(2));
    assert!(
        left.is_empty(),
        "processes of the run survived a SIGKILLed controller: {left:?}"
    );
    // The history is still readable (a torn last line at most).
    let records = history(&dir);
    assert!(matches!(records[0].event, Event::Run(_)));
}

#[test]
fn sigint_writes_history_and_verdicts_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let (child, dir) = start_run(
        &store,
        &["--nodes", "3", "--time-limit", "60s", "--nemesis", "none"],
    );
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0..=2)),
        "an interrupted run is still judged: {:?}",
        out.status
    );
    let records = history(&dir);
    assert!(matches!(&records.last().unwrap().event, Event::End(e) if e.interrupted));
    assert!(dir.join("results.json").is_file(), "verdicts written");
    let left = wait_no_processes(&dir.display().to_string(), Duration::from_secs(2));
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn interrupt_while_nodes_are_paused_leaves_nothing_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    // Pause a majority for a long time, early.
    let (child, dir) = start_run(
        &store,
        &[
            "--nodes",
            "3",
            "--time-limit",
            "60s",
            "--nemesis",
            "pause",
            "--nemesis-interval",
            "1s",
            "--fault-duration",
            "20s",
        ],
    );
    let needle = dir.display().to_string();
    // Paused by cgroup freeze (as root) or SIGSTOP: the history says which
    // nodes are paused either way, /proc only shows SIGSTOP as `T`.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !history(&dir).iter().any(|r| {
        matches!(&r.event, Event::Process(p) if p.event == checkers::history::ProcessEvent::Pause)
    }) {
        assert!(Instant::now() < deadline, "no node was paused");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(matches!(out.status.code(), Some(0..=2)), "{:?}", out.status);
    let left = wait_no_processes(&needle, Duration::from_secs(2));
    assert!(
        left.is_empty(),
        "stopped or running processes left: {left:?}"
    );
}
