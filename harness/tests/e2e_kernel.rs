//! The kernel network backend end to end: real nodes on their real
//! addresses, links cut by the run's own nft table, every node in its own
//! cgroup, and nothing of the run left afterwards on any exit path. Needs
//! root and nftables (CI runs as root and installs nftables); fails, never
//! skips, without them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use checkers::history::Event;
use common::*;

/// The run's name as the kernel backend gives it: `<target>-<run stamp>`.
fn run_name(dir: &Path) -> String {
    let stamp = dir.file_name().unwrap().to_string_lossy().into_owned();
    let target = dir
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    format!("{target}-{stamp}")
}

fn tables() -> Vec<String> {
    kernel::Nft::open()
        .expect("nftables is needed: apt-get install nftables")
        .tables("inet", kernel::TABLE_PREFIX)
        .unwrap()
}

fn cgroup_dir(name: &str) -> PathBuf {
    kernel::Hierarchy::find()
        .expect("cgroup2 must be mounted")
        .runs_dir()
        .join(name)
}

/// Nothing named after the run is left: no table, no cgroup, no lock.
fn assert_nothing_left(dir: &Path) {
    let name = run_name(dir);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let table = tables().contains(&format!("splitbrain-{name}"));
        let cgroup = cgroup_dir(&name).exists();
        let lock = kernel::owner::lock_path(&name).exists();
        if !table && !cgroup && !lock {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "run {name} left table: {table}, cgroup: {cgroup}, lock: {lock}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cuts_recorded(dir: &Path) -> usize {
    history(dir)
        .iter()
        .filter(|r| matches!(&r.event, Event::Net(n) if !n.cut.is_empty()))
        .count()
}

#[test]
fn raft_passes_mixed_on_the_kernel_backend_with_cuts_in_the_kernel() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let out = run_in(
        &store,
        &[
            "--network",
            "kernel",
            "--nemesis",
            "mixed",
            "--time-limit",
            "20",
            "--seed",
            "3",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "a correct node passes mixed");
    let dir = latest(&store);
    assert!(
        cuts_recorded(&dir) >= 2,
        "mixed cut links on the kernel backend"
    );
    let text = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    for held in [
        "\"slow\"",
        "\"duplicate\"",
        "\"reorder\"",
        "\"delay-spike\"",
    ] {
        assert!(!text.contains(held), "{held} dealt on the kernel backend");
    }
    let run_toml = std::fs::read_to_string(dir.join("run.toml")).unwrap();
    assert!(run_toml.contains("network = \"kernel\""), "{run_toml}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("--network kernel"),
        "the replay names the backend"
    );
    assert_nothing_left(&dir);
}

#[test]
fn etcd_passes_mixed_on_the_kernel_backend_on_its_own_addresses() {
    require_program("etcd", "--version", "etcd-server");
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let out = run_in(
        &store,
        &[
            "--target",
            "etcd",
            "--network",
            "kernel",
            "--nemesis",
            "mixed",
            "--time-limit",
            "20",
            "--seed",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "etcd passes mixed");
    let dir = latest(&store);
    assert!(cuts_recorded(&dir) >= 1, "links were cut");
    let records = history(&dir);
    let Event::Run(h) = &records[0].event else {
        panic!("no header")
    };
    assert!(
        h.tcp_backoff,
        "etcd talks TCP: the header says streams back off"
    );
    let run_toml = std::fs::read_to_string(dir.join("run.toml")).unwrap();
    assert!(run_toml.contains("network = \"kernel\""), "{run_toml}");
    assert_nothing_left(&dir);
}

#[test]
fn faults_that_hold_packets_are_refused_on_the_kernel_backend() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let out = run_in(
        &store,
        &["--network", "kernel", "--nemesis", "duplicate,kill"],
    );
    assert_eq!(out.status.code(), Some(254));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("duplicate holds packets back"), "{err}");
    assert!(err.contains("--network proxy"), "{err}");
    assert!(!store.join("latest").exists(), "nothing started");
}

/// Start a run in the background; returns once its nodes run and its
/// table exists.
fn start_run(store: &Path, args: &[&str]) -> (Child, PathBuf) {
    start_run_until(store, args, |dir| {
        tables().contains(&format!("splitbrain-{}", run_name(dir)))
    })
}

#[test]
fn sigkill_of_the_controller_leaves_no_table_cgroup_or_process() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let (mut child, dir) = start_run(
        &store,
        &[
            "--network",
            "kernel",
            "--nemesis",
            "partition",
            "--time-limit",
            "60",
            "--nemesis-interval",
            "300ms",
            "--fault-duration",
            "5s",
        ],
    );
    // Let a cut be in force when the controller dies.
    let deadline = Instant::now() + Duration::from_secs(5);
    while cuts_recorded(&dir) == 0 {
        assert!(Instant::now() < deadline, "no cut recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(cgroup_dir(&run_name(&dir)).exists());
    child.kill().unwrap(); // SIGKILL: only the watchdog can clean up now
    child.wait().unwrap();
    let left = wait_no_processes(&dir.display().to_string(), Duration::from_secs(3));
    assert!(left.is_empty(), "processes survived: {left:?}");
    assert_nothing_left(&dir);
}

#[test]
fn a_daemonised_grandchild_dies_with_its_node() {
    let tmp = tempfile::tempdir().unwrap();
    // A node whose wrapper leaves a daemon in its own session behind: no
    // process-group signal reaches it, its cgroup's kill does.
    let daemon = tmp.path().join("daemon.sh");
    std::fs::write(&daemon, "#!/bin/sh\nsleep 600\n").unwrap();
    let t = target_file(
        tmp.path(),
        "daemonising.toml",
        &format!(
            r#"name = "daemonising"
[node]
shell = true
argv = ["setsid", "/bin/sh", "{}", "& exec", "{{exe}}", "node", "raft", "--id", "{{id}}", "--listen", "{{listen}}", "--peers", "{{peers}}", "--data-dir", "{{data_dir}}", "--seed", "{{seed}}"]
[timing]
election_timeout = ["150ms", "300ms"]
[promises]
persistent_term = true
"#,
            daemon.display()
        ),
    );
    let store = tmp.path().join("store");
    let out = run_in(
        &store,
        &[
            "--target",
            t.to_str().unwrap(),
            "--nemesis",
            "kill",
            "--time-limit",
            "6",
            "--nemesis-interval",
            "1s",
            "--fault-duration",
            "500ms",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let needle = daemon.display().to_string();
    let left = wait_no_processes(&needle, Duration::from_secs(3));
    assert!(left.is_empty(), "daemons outlived their nodes: {left:?}");
    let kills = history(&latest(&store))
        .iter()
        .filter(|r| {
            matches!(&r.event, Event::Process(p) if p.event == checkers::history::ProcessEvent::Kill)
        })
        .count();
    assert!(kills >= 1, "the nemesis killed a node");
}

#[test]
fn clean_lists_and_removes_only_what_dead_runs_left() {
    // A dead run: a cgroup, a table and a lock nobody holds.
    let name = format!("deadrun-{}", std::process::id());
    let hierarchy = kernel::Hierarchy::find().unwrap();
    let lock = kernel::RunLock::acquire(&name).unwrap();
    let groups = kernel::RunGroups::create(&hierarchy, &name, &["n1".to_string()]).unwrap();
    let endpoints = kernel::LinkTable::endpoints(&groups, &Default::default()).unwrap();
    let table = kernel::LinkTable::create(kernel::Nft::open().unwrap(), &name, endpoints).unwrap();
    // Leak them as a killed controller would, keeping the lock file.
    std::mem::forget(table);
    std::mem::forget(groups);
    let lock_file = kernel::owner::lock_path(&name);
    drop(lock);
    std::fs::write(&lock_file, "").unwrap();

    let listed = splitbrain().args(["clean", "--dry-run"]).output().unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success());
    assert!(
        text.contains(&format!("would remove run {name}: cgroup")),
        "{text}"
    );
    assert!(
        text.contains(&format!("nft table inet splitbrain-{name}")),
        "{text}"
    );
    assert!(cgroup_dir(&name).exists(), "a dry run removes nothing");

    let cleaned = splitbrain().arg("clean").output().unwrap();
    let text = String::from_utf8_lossy(&cleaned.stdout);
    assert!(cleaned.status.success(), "{text}");
    assert!(text.contains(&format!("removed run {name}")), "{text}");
    assert!(!cgroup_dir(&name).exists());
    assert!(!tables().contains(&format!("splitbrain-{name}")));
    assert!(!lock_file.exists());
}

#[test]
fn without_root_the_kernel_backend_exits_254_and_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    std::fs::create_dir(&store).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o777)).unwrap();
    // The same binary as an unprivileged user, every capability dropped.
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_splitbrain"))
        .args([
            "run",
            "--network",
            "kernel",
            "--nemesis",
            "partition",
            "--store",
        ])
        .arg(&store)
        .output()
        .expect("setpriv (util-linux) runs the test as nobody");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{err}");
    assert!(err.contains("run as root or grant CAP_NET_ADMIN"), "{err}");
    assert!(err.contains("--network proxy"), "{err}");
    assert!(!store.join("latest").exists(), "nothing started");
}
