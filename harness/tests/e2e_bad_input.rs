//! Bad input gets a clear error, the right exit code, and nothing is lost.

mod common;

use checkers::history::Event;
use common::*;

#[test]
fn unknown_target_is_a_config_error() {
    let store = tempfile::tempdir().unwrap();
    let out = run_in(store.path(), &["--target", "no-such-target"]);
    assert_eq!(out.status.code(), Some(254));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown target 'no-such-target'") && err.contains("raft"),
        "{err}"
    );
    assert!(!store.path().join("latest").exists(), "nothing started");
}

#[test]
fn bad_toml_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = target_file(
        tmp.path(),
        "mine.toml",
        "name = \"mine\"\n[node]\nargv = [\"x\",\nready = 3\n",
    );
    let out = run_in(
        &tmp.path().join("store"),
        &["--target", t.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(254));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mine.toml:4:") || err.contains("mine.toml:3:"),
        "{err}"
    );
}

#[test]
fn zero_nodes_and_bad_nemesis_are_config_errors() {
    let store = tempfile::tempdir().unwrap();
    let out = run_in(store.path(), &["--nodes", "0"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--nodes must be at least 1"));
    let out = run_in(store.path(), &["--nemesis", "kill,explode"]);
    assert_eq!(out.status.code(), Some(254));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("explode") && err.contains("partition"),
        "lists valid presets: {err}"
    );
    let out = run_in(store.path(), &["--time-limit", "soon"]);
    assert_eq!(
        out.status.code(),
        Some(254),
        "clap errors are configuration errors too"
    );
}

#[test]
fn unwritable_store_fails_before_any_node_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = run_in(&file.join("store"), &["--nodes", "3"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not writable"));
}

#[test]
fn node_that_exits_at_once_shows_status_and_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let t = target_file(
        tmp.path(),
        "dies.toml",
        "[node]\nargv = [\"sh\", \"-c\", \"echo 'cannot open the frobnicator' >&2; exit 3\"]\n",
    );
    let store = tmp.path().join("store");
    let out = run_in(&store, &["--target", t.to_str().unwrap(), "--nodes", "3"]);
    assert_eq!(out.status.code(), Some(255), "the run itself failed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("exit status 3") && err.contains("cannot open the frobnicator"),
        "{err}"
    );
    // The history written so far is kept and says why it ended.
    let records = history(&latest(&store));
    assert!(
        matches!(&records.last().unwrap().event, Event::End(e) if e.interrupted && e.reason.is_some())
    );
}

#[test]
fn missing_binary_says_what_to_install() {
    let tmp = tempfile::tempdir().unwrap();
    let t = target_file(
        tmp.path(),
        "missing.toml",
        "[node]\nargv = [\"redis-server-not-here-either\"]\n",
    );
    let out = run_in(
        &tmp.path().join("store"),
        &["--target", t.to_str().unwrap(), "--nodes", "1"],
    );
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot start `redis-server-not-here-either`"),
        "{err}"
    );
}

#[test]
fn garbage_on_stdout_is_recorded_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    // A "node" that is ready, prints garbage and a state, then waits.
    let t = target_file(
        tmp.path(),
        "chatty.toml",
        r#"[node]
argv = ["sh", "-c", "echo '{\"type\":\"ready\"}'; echo 'hello, I am not JSON'; echo '{\"type\":\"state\",\"role\":\"follower\",\"term\":1,\"leader\":null}'; exec sleep 30"]
[timing]
election_timeout = ["100ms", "200ms"]
"#,
    );
    let store = tmp.path().join("store");
    let out = run_in(
        &store,
        &[
            "--target",
            t.to_str().unwrap(),
            "--nodes",
            "1",
            "--time-limit",
            "1s",
            "--nemesis",
            "none",
            "--recovery",
            "500ms",
        ],
    );
    // No leader ever: the liveness verdict cannot be valid; the run completed.
    assert!(
        matches!(out.status.code(), Some(1) | Some(2)),
        "judged, not crashed: {:?}",
        out.status
    );
    let dir = latest(&store);
    let records = history(&dir);
    assert!(records
        .iter()
        .any(|r| matches!(&r.event, Event::Garbage(g) if g.line == "hello, I am not JSON")));
    assert!(records
        .iter()
        .any(|r| matches!(&r.event, Event::State(s) if s.term == 1)));
    assert!(matches!(&records.last().unwrap().event, Event::End(e) if !e.interrupted));
    assert!(wait_no_processes(
        &dir.display().to_string(),
        std::time::Duration::from_secs(2)
    )
    .is_empty());
}

#[test]
fn check_names_a_malformed_line_and_exits_254() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path().join("history.jsonl");
    std::fs::write(
        &h,
        "{\"seq\":0,\"t\":0,\"type\":\"run\",\"target\":\"t\",\"nodes\":[\"n1\"]}\nnot json\n{\"seq\":2,\"t\":5,\"type\":\"end\"}\n",
    )
    .unwrap();
    let out = splitbrain().arg("check").arg(&h).output().unwrap();
    assert_eq!(out.status.code(), Some(254));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2: not a history record"), "{err}");
}

/// `splitbrain schedule` lists without starting anything, and says what is
/// wrong with its input.
#[test]
fn schedule_lists_a_seed_and_rejects_bad_seeds() {
    let out = splitbrain()
        .args([
            "schedule",
            "--seeds",
            "947",
            "--nemesis",
            "partition-leader",
        ])
        .args(["--nemesis-interval", "1500ms", "--fault-duration", "800ms"])
        .args(["--time-limit", "20s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("isolate leader").count(), 10, "{text}");
    assert!(text.contains(": 10 faults"), "{text}");
    for (seeds, says) in [
        ("9-1", "write the lower seed first"),
        ("x", "is not a seed"),
    ] {
        let out = splitbrain()
            .args(["schedule", "--seeds", seeds])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(254), "--seeds {seeds}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
    }
    let out = splitbrain()
        .args(["schedule", "--nemesis", "paws"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("paws"));
}

#[test]
fn bad_message_fault_settings_name_the_option_and_what_works() {
    let store = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--concurrency", "0"], "--concurrency 0"),
        (
            &["--nemesis", "duplicate", "--duplicate-probability", "1.5"],
            "--duplicate-probability 1.5 is not a probability",
        ),
        (
            &[
                "--nemesis",
                "delay-spike",
                "--spike-delay",
                "100ms",
                "--spike-jitter",
                "300ms",
            ],
            "--spike-delay 100ms is shorter than --spike-jitter 300ms",
        ),
        (
            &["--target", "redis-lease", "--nemesis", "duplicate,reorder"],
            "a TCP stream neither duplicates nor reorders",
        ),
    ];
    for (args, message) in cases {
        let out = run_in(store.path(), args);
        assert_eq!(out.status.code(), Some(254), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    assert!(!store.path().join("latest").exists(), "nothing started");
    // The same checks guard `schedule`, which lists what a run would draw.
    let out = splitbrain()
        .args(["schedule", "--concurrency", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
}

#[test]
fn on_a_tcp_target_the_schedule_says_which_faults_change_nothing() {
    let out = splitbrain()
        .args([
            "schedule",
            "--target",
            "redis-lease",
            "--nemesis",
            "duplicate,slow",
            "--seeds",
            "3",
            "--time-limit",
            "60s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let duplicates: Vec<&str> = text.lines().filter(|l| l.contains(" duplicate ")).collect();
    assert!(!duplicates.is_empty(), "{text}");
    for line in &duplicates {
        assert!(line.contains("no effect on TCP"), "{line}");
    }
    assert!(text
        .lines()
        .filter(|l| l.contains("slow links"))
        .all(|l| !l.contains("no effect")));
}
