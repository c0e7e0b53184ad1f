//! Helpers shared by the end-to-end tests: run the real `splitbrain` binary
//! against a temporary store and look at what it left behind.
#![allow(dead_code)]

pub mod junit_xsd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use checkers::history::{Event, Record};

/// The binary under test.
pub fn splitbrain() -> Command {
    Command::new(env!("CARGO_BIN_EXE_splitbrain"))
}

/// Run `splitbrain` with `args` and a store in `store`.
pub fn run_in(store: &Path, args: &[&str]) -> Output {
    let out = splitbrain()
        .arg("run")
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

/// The newest run directory in `store`.
pub fn latest(store: &Path) -> PathBuf {
    std::fs::canonicalize(store.join("latest")).expect("store/latest exists")
}

/// Every record of a history file (torn last line skipped).
pub fn history(run_dir: &Path) -> Vec<Record> {
    let f = std::fs::File::open(run_dir.join("history.jsonl")).expect("history.jsonl");
    checkers::reader::HistoryReader::new(std::io::BufReader::new(f))
        .map(|r| r.expect("history record"))
        .collect()
}

/// `results.json` as JSON.
pub fn results_json(run_dir: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("results.json")).expect("results.json"),
    )
    .expect("json")
}

/// The verdict of checker `name` in results.json.
pub fn verdict_of(results: &serde_json::Value, name: &str) -> String {
    results["report"]["results"]
        .as_array()
        .expect("results array")
        .iter()
        .find(|r| r["checker"] == name)
        .unwrap_or_else(|| panic!("checker {name} missing in {results}"))["verdict"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Fail (not skip) unless `program` runs: `program version_arg` must exit 0.
/// The message names the Debian package that brings it.
pub fn require_program(program: &str, version_arg: &str, package: &str) {
    assert!(
        Command::new(program)
            .arg(version_arg)
            .output()
            .is_ok_and(|o| o.status.success()),
        "{program} is not installed: apt-get install {package} (bash .ci/run does)"
    );
}

/// The state and process group of a live process, from `/proc/PID/stat`.
fn state_and_group(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command (which may hold spaces and parentheses): state, ppid, pgrp.
    let mut fields = stat.rsplit(')').next()?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    Some((state, pgrp))
}

fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
}

/// Live (not zombie) processes in one of the process `groups`: children a
/// node started in its own group, whose command lines name no run directory.
pub fn alive_in_groups(groups: &std::collections::BTreeSet<u32>) -> Vec<u32> {
    pids()
        .filter(|&pid| {
            state_and_group(pid).is_some_and(|(state, g)| state != 'Z' && groups.contains(&g))
        })
        .collect()
}

/// Pids of processes whose command line mentions `needle` (a run directory).
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String, char)> {
    let mut out = Vec::new();
    for pid in pids() {
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) && pid != std::process::id() {
            let state = state_and_group(pid).map_or('?', |(state, _)| state);
            if state != 'Z' {
                out.push((pid, cmd, state));
            }
        }
    }
    out
}

/// Wait until no live process mentions `needle`, up to `limit`; returns the survivors.
pub fn wait_no_processes(needle: &str, limit: Duration) -> Vec<(u32, String, char)> {
    let deadline = Instant::now() + limit;
    loop {
        let left = processes_mentioning(needle);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Distinct terms in which some node claimed leadership.
pub fn leader_terms(records: &[Record]) -> std::collections::BTreeSet<u64> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::State(s) if s.role == checkers::history::Role::Leader => Some(s.term),
            _ => None,
        })
        .collect()
}

/// Write a target file into `dir` and return its path.
pub fn target_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Start `splitbrain run ARGS --store STORE` in the background and return
/// once three of its nodes run and `ready(run_dir)` holds (15 s at most).
/// The caller signals and reaps the returned child (clippy cannot see that).
#[allow(clippy::zombie_processes)]
pub fn start_run_until(
    store: &Path,
    args: &[&str],
    ready: impl Fn(&Path) -> bool,
) -> (std::process::Child, PathBuf) {
    let mut child = splitbrain()
        .arg("run")
        .args(args)
        .arg("--store")
        .arg(store)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(dir) = std::fs::canonicalize(store.join("latest")) {
            let data = dir.join("data").display().to_string();
            if processes_mentioning(&data).len() >= 3 && ready(&dir) {
                return (child, dir);
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nodes did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
