//! End to end: `splitbrain hunt` deals every preset with fresh seeds until a
//! violation or the budget, prints the find with its replay command, keeps
//! every run's files (also when interrupted), and exits as `campaign` does.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{splitbrain, wait_no_processes};

fn hunt_in(store: &Path, args: &[&str]) -> Output {
    let out = splitbrain()
        .arg("hunt")
        .args(args)
        .arg("--store")
        .arg(store)
        .env("NO_COLOR", "1")
        .output()
        .expect("spawning splitbrain");
    eprintln!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn summary(store: &Path, target: &str) -> serde_json::Value {
    let path = store
        .join("campaigns")
        .join(format!("hunt-{target}"))
        .join("latest")
        .join("summary.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("summary.json")).expect("json")
}

#[test]
fn a_hunt_stops_at_the_first_violation_and_says_how_to_replay_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    // A 3-node Raft whose majority is one vote: the first node that times
    // out wins alone, with its own vote only, in the first run whatever the
    // preset.
    let out = hunt_in(
        &store,
        &[
            "--nodes",
            "3",
            "--bug",
            "quorum-off-by-one",
            "--budget",
            "90",
            "--time-limit",
            "4s",
            "--seed",
            "5",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "a find exits 1 as campaign");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FOUND after"), "{text}");
    assert!(text.contains("raft+quorum-off-by-one/chaos/5"), "{text}");
    assert!(text.contains("first violation"), "{text}");
    assert!(text.contains("vote-quorum"), "{text}");
    let replay = text
        .lines()
        .find_map(|l| l.strip_prefix("replay: "))
        .expect("a replay line");
    assert!(
        replay.contains("--seed 5") && replay.contains("--nemesis chaos"),
        "{replay}"
    );
    let s = summary(&store, "raft");
    let runs = s["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "stops at the find");
    assert_eq!(runs[0]["status"], "invalid");
    assert_eq!(s["settings"]["seed_base"], 5);
    let run_dir = text
        .lines()
        .find_map(|l| l.strip_prefix("run directory: "))
        .expect("run directory line");
    assert!(Path::new(run_dir).join("history.jsonl").is_file());
}

#[test]
fn with_all_it_spends_the_budget_and_prints_a_table_per_preset() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let out = hunt_in(
        &store,
        &[
            "--nodes",
            "3",
            "--all",
            "--budget",
            "12s",
            "--time-limit",
            "3s",
            "--seed",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "a correct Raft is valid");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no violation found in"), "{text}");
    let s = summary(&store, "raft");
    let runs = s["runs"].as_array().unwrap();
    assert!(runs.len() >= 2, "{runs:?}");
    // Round-robin from chaos, consecutive seeds.
    assert_eq!(runs[0]["preset"], "chaos");
    assert_eq!(runs[1]["preset"], "kill");
    assert_eq!(runs[1]["seed"], 2);
    // The table has a row for every preset, tried or not.
    for p in [
        "chaos",
        "kill",
        "duplicate",
        "delay-spike",
        "pause,kill-voter",
    ] {
        assert!(
            text.lines().any(|l| l.contains(&format!(" {p} "))),
            "row for {p}: {text}"
        );
    }
    assert!(
        s["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "valid"),
        "{s}"
    );
}

#[test]
fn ctrl_c_prints_what_the_hunt_has_and_keeps_every_run() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let child = splitbrain()
        .args([
            "hunt",
            "--nodes",
            "3",
            "--budget",
            "5m",
            "--time-limit",
            "4s",
        ])
        .arg("--store")
        .arg(&store)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(9));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "interrupted, nothing found");
    assert!(text.contains("interrupted"), "{text}");
    let s = summary(&store, "raft");
    assert_eq!(s["interrupted"], true);
    let runs = s["runs"].as_array().unwrap();
    assert!(
        runs.len() >= 2,
        "the finished run and the interrupted one: {runs:?}"
    );
    for r in runs {
        let dir = store
            .join("campaigns/hunt-raft/latest")
            .join(r["run_dir"].as_str().expect("run_dir"));
        assert!(dir.join("history.jsonl").is_file(), "{}", dir.display());
        assert!(dir.join("results.json").is_file(), "{}", dir.display());
    }
    let left = wait_no_processes(&store.display().to_string(), Duration::from_secs(2));
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bad_hunt_settings_exit_254_and_say_what_works() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    for (args, needle) in [
        (vec!["--budget", "1"], "too short for one run"),
        (vec!["--budget", "soon"], "is not a duration"),
        (vec!["--jobs", "0"], "--jobs 1 or more"),
        (vec!["--target", "no-such-target"], "no-such-target"),
        (
            vec!["--time-limit", "0"],
            "--time-limit must be more than 0s",
        ),
    ] {
        let out = hunt_in(&store, &args);
        assert_eq!(out.status.code(), Some(254), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert!(
        !store.join("campaigns").exists(),
        "nothing was started or written"
    );
}
