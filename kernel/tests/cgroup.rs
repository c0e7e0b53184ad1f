//! A node's cgroup for real: a daemonising grandchild cannot escape a kill,
//! and a freeze stops a shell wrapper and what it started together. Needs
//! root and cgroup2 (CI runs as root); fails, never skips, without them.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use kernel::{Hierarchy, NodeGroup, RunGroups, RunLock};

fn groups(name: &str) -> (RunLock, RunGroups) {
    let hierarchy = Hierarchy::find().expect("cgroup2 must be mounted");
    let lock = RunLock::acquire(&format!("test-{name}-{}", std::process::id()))
        .expect("run as root: locks live in /run/splitbrain");
    let groups = RunGroups::create(&hierarchy, lock.run(), &["n1".to_string()])
        .expect("run as root: cgroups are created per node");
    (lock, groups)
}

fn spawn_in(group: &NodeGroup, script: &str) -> std::process::Child {
    let procs = group.procs_file().clone();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(script);
    // SAFETY: join_from_child is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || NodeGroup::join_from_child(&procs));
    }
    cmd.spawn().unwrap()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn kill_reaches_a_daemonised_grandchild() {
    let (_lock, groups) = groups("kill");
    let g = groups.group("n1").unwrap();
    // The grandchild leaves the shell's process group and session.
    let mut child = spawn_in(g, "setsid sleep 600 & sleep 600");
    wait_until("the grandchild is in the cgroup", || g.pids().len() >= 2);
    g.kill().unwrap();
    let _ = child.wait();
    wait_until("the cgroup is empty", || !g.populated());
}

#[test]
fn freeze_stops_the_whole_cgroup_and_thaw_resumes_it() {
    let (_lock, groups) = groups("freeze");
    let g = groups.group("n1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ticks");
    // A wrapper shell whose child writes a tick every 10 ms.
    let script = format!(
        "sh -c 'while true; do echo x >> {}; sleep 0.01; done'",
        file.display()
    );
    let mut child = spawn_in(g, &script);
    let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    wait_until("ticks appear", || size() > 10);
    g.freeze(true).unwrap();
    assert!(g.is_frozen());
    let frozen_at = size();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(size(), frozen_at, "nothing runs while frozen");
    g.freeze(false).unwrap();
    assert!(!g.is_frozen());
    wait_until("ticks resume", || size() > frozen_at);
    // A frozen cgroup can still be killed.
    g.freeze(true).unwrap();
    g.kill().unwrap();
    let _ = child.wait();
    wait_until("the cgroup is empty", || !g.populated());
}

#[test]
fn dropping_the_run_kills_what_is_left_and_removes_the_cgroups() {
    let (_lock, groups) = groups("drop");
    let dir = groups.dir().to_path_buf();
    let mut child = spawn_in(groups.group("n1").unwrap(), "sleep 600 & sleep 600");
    drop(groups);
    let _ = child.wait();
    assert!(!dir.exists(), "{} is removed", dir.display());
}
