//! End to end: campaigns over real clusters, sharding and merging, the
//! campaign's JUnit, replay, and the HTML pages loaded in headless Chromium.
//!
//! One small campaign (2 targets × 2 presets × 2 seeds) is run once and shared
//! by the tests that only read it (tests run one at a time, in one process).
//! The second target is a deliberately broken one written here: every node
//! claims leadership of term 1, so its runs are invalid on every seed.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use checkers::history::Event;
use common::*;

/// A target whose nodes all claim term 1: term-uniqueness fails every time.
const TWO_KINGS: &str = r#"
name = "two-kings"
description = "every node claims leadership of term 1 (broken on purpose, for tests)"
nodes = 3
transport = "udp"
observe = "stdout"

[node]
argv = ["sh", "-c", "echo '{\"type\":\"ready\"}'; echo \"{\\\"type\\\":\\\"state\\\",\\\"role\\\":\\\"leader\\\",\\\"term\\\":1,\\\"leader\\\":\\\"$SPLITBRAIN_ID\\\"}\"; exec sleep 600"]
ready = "stdout"
ready_timeout = "5s"

[timing]
election_timeout = ["150ms", "300ms"]

[promises]
persistent_term = true
"#;

/// The campaign: raft and two-kings × kill, pause × seeds 1, 2.
const CAMPAIGN: &str = r#"
name = "e2e"
presets = ["kill", "pause"]
seeds = [1, 2]
time_limit = "3s"
nemesis_interval = "700ms"
fault_duration = "600ms"
recovery = "1s"

[[targets]]
target = "raft"
nodes = 3

[[targets]]
target = "two-kings.toml"
nodes = 3
"#;

struct Fixture {
    _tmp: tempfile::TempDir,
    /// The directory holding the campaign and target files.
    dir: PathBuf,
    store: PathBuf,
    /// The unsharded campaign's directory.
    campaign: PathBuf,
    out: Output,
}

fn splitbrain_in(dir: &Path, args: &[&str]) -> Output {
    let out = splitbrain()
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("spawning splitbrain");
    eprintln!(
        "--- splitbrain {}\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write_files(dir: &Path) {
    std::fs::write(dir.join("two-kings.toml"), TWO_KINGS).unwrap();
    std::fs::write(dir.join("e2e.toml"), CAMPAIGN).unwrap();
}

/// The unsharded campaign, run once for every test that reads it.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        write_files(&dir);
        let store = dir.join("store");
        let out = splitbrain_in(
            &dir,
            &["campaign", "e2e.toml", "--store", store.to_str().unwrap()],
        );
        let campaign = std::fs::canonicalize(store.join("campaigns/e2e/latest")).unwrap();
        Fixture {
            _tmp: tmp,
            dir,
            store,
            campaign,
            out,
        }
    })
}

fn summary(campaign: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(campaign.join("summary.json")).unwrap()).unwrap()
}

/// (target, preset, seed, repetition) of every run in a summary.
fn run_keys(summary: &serde_json::Value) -> BTreeSet<(String, String, u64, u64)> {
    summary["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap().to_string(),
                r["preset"].as_str().unwrap().to_string(),
                r["seed"].as_u64().unwrap(),
                r["repetition"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Processes whose environment says they are nodes of a run under `dir`
/// (every node gets SPLITBRAIN_DATA_DIR, whatever its command line).
fn nodes_under(dir: &Path) -> Vec<u32> {
    let needle = format!("SPLITBRAIN_DATA_DIR={}", dir.display());
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true);
        if !zombie
            && env
                .split(|b| *b == 0)
                .any(|v| v.starts_with(needle.as_bytes()))
        {
            found.push(pid);
        }
    }
    found
}

fn no_nodes_left(dir: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut left = nodes_under(dir);
    while !left.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        left = nodes_under(dir);
    }
    assert!(left.is_empty(), "node processes left behind: {left:?}");
}

#[test]
fn campaign_of_two_targets_two_presets_two_seeds_has_the_right_counts() {
    let f = fixture();
    let s = summary(&f.campaign);
    let runs = s["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 8, "2 targets × 2 presets × 2 seeds");
    assert_eq!(s["matrix_runs"], 8);
    assert_eq!(s["complete"], true);
    assert_eq!(run_keys(&s).len(), 8, "every cell once");
    let of = |target: &'static str| runs.iter().filter(move |r| r["target"] == target);
    assert_eq!(of("raft").count(), 4);
    assert_eq!(of("two-kings").count(), 4);
    for r in of("two-kings") {
        assert_eq!(r["status"], "invalid", "{r}");
        assert!(r["invalid_checkers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "term-uniqueness"));
        let replay = r["replay"].as_str().unwrap();
        assert!(replay.starts_with("splitbrain run --target "), "{replay}");
        assert!(
            replay.contains(&format!("--seed {}", r["seed"])),
            "{replay}"
        );
    }
    for r in of("raft") {
        assert_ne!(r["status"], "failed", "{r}");
        assert!(r["elections"].as_u64().unwrap() >= 1, "{r}");
        let dir = f.campaign.join(r["run_dir"].as_str().unwrap());
        assert!(dir.join("report.html").is_file(), "{}", dir.display());
    }
    // Exit 1: a violation; the table has one row per target × preset.
    assert_eq!(f.out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&f.out.stdout);
    for row in ["raft", "two-kings"] {
        assert_eq!(
            stdout
                .lines()
                .filter(|l| l.starts_with(&format!("│ {row} ")))
                .count(),
            2,
            "{stdout}"
        );
    }
    assert!(stdout.contains("term-uniqueness 2"), "{stdout}");
    assert!(
        stdout.contains("replay: splitbrain run --target "),
        "{stdout}"
    );
    for name in [
        "summary.json",
        "summary.md",
        "summary.html",
        "summary.txt",
        "junit.xml",
    ] {
        assert!(f.campaign.join(name).is_file(), "{name}");
    }
    assert_eq!(
        std::fs::read_dir(f.campaign.join("runs")).unwrap().count(),
        8
    );
    no_nodes_left(&f.dir);
}

/// Counts of JUnit elements and the attributes of the testsuite, parsed
/// with a real XML parser.
fn parse_junit(xml: &str) -> (usize, usize, usize, Vec<(String, String)>) {
    use quick_xml::events::Event as X;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut cases, mut failures, mut errors) = (0, 0, 0);
    let mut suite = Vec::new();
    loop {
        match reader.read_event().expect("well-formed JUnit XML") {
            X::Start(e) | X::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                match name.as_str() {
                    "testcase" => cases += 1,
                    "failure" => failures += 1,
                    "error" => errors += 1,
                    "testsuite" => {
                        suite = e
                            .attributes()
                            .map(|a| {
                                let a = a.unwrap();
                                (
                                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                                    a.unescape_value().unwrap().into_owned(),
                                )
                            })
                            .collect()
                    }
                    _ => {}
                }
            }
            X::Eof => break,
            _ => {}
        }
    }
    (cases, failures, errors, suite)
}

#[test]
fn campaign_junit_is_valid_and_counts_failures() {
    let f = fixture();
    let s = summary(&f.campaign);
    let invalid = s["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "invalid")
        .count();
    let not_judged = s["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "unknown" || r["status"] == "failed")
        .count();
    let xml = std::fs::read_to_string(f.campaign.join("junit.xml")).unwrap();
    junit_xsd::assert_valid(&xml, "the campaign's junit.xml");
    // Each run's own junit.xml, as `splitbrain run` writes it.
    let mut run_documents = 0;
    for run in std::fs::read_dir(f.campaign.join("runs")).unwrap() {
        let path = run.unwrap().path().join("junit.xml");
        let run_xml =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        junit_xsd::assert_valid(&run_xml, &path.display().to_string());
        run_documents += 1;
    }
    assert_eq!(run_documents, 8);
    let (cases, failures, errors, suite) = parse_junit(&xml);
    assert_eq!(cases, 8);
    assert!(invalid >= 4);
    assert_eq!(failures, invalid);
    assert_eq!(errors, not_judged);
    let attr = |k: &str| suite.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(attr("name").as_deref(), Some("e2e"));
    assert_eq!(attr("tests").as_deref(), Some("8"));
    assert_eq!(attr("failures"), Some(invalid.to_string()));
    assert!(xml.contains("name=\"two-kings/kill/1\""), "{xml}");
    // The sequence numbers of the two claims depend on which node printed
    // first, so only the shape of the message is fixed.
    let message = xml
        .split("message=\"term-uniqueness, leader-agreement: seq ")
        .nth(1)
        .unwrap_or_else(|| panic!("a failure names the checkers and the evidence: {xml}"));
    let evidence = message.split('"').next().unwrap();
    assert!(
        evidence.contains(" @ ") && evidence.contains("term 1 has two leaders"),
        "the evidence says where and what: {evidence}"
    );
    // `report --format junit` re-renders the same document from the store.
    let out = splitbrain_in(
        &f.dir,
        &["report", f.campaign.to_str().unwrap(), "--format", "junit"],
    );
    assert_eq!(out.status.code(), Some(1));
    let rendered = String::from_utf8_lossy(&out.stdout);
    junit_xsd::assert_valid(&rendered, "`report --format junit`");
    assert_eq!(parse_junit(&rendered).1, invalid);
}

#[test]
fn shards_one_and_two_of_two_merge_into_the_unsharded_set_of_runs() {
    let f = fixture();
    let store = f.dir.join("sharded");
    let store_arg = store.to_str().unwrap().to_string();
    // Two CI jobs at once, as a matrix would run them.
    let spawn = |shard: &str| {
        splitbrain()
            .args([
                "campaign", "e2e.toml", "--shard", shard, "--store", &store_arg,
            ])
            .current_dir(&f.dir)
            .env("NO_COLOR", "1")
            .output()
            .expect("spawning splitbrain")
    };
    let (one, two) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("1/2"));
        let b = s.spawn(|| spawn("2/2"));
        (a.join().unwrap(), b.join().unwrap())
    });
    eprintln!(
        "{}\n{}",
        String::from_utf8_lossy(&one.stderr),
        String::from_utf8_lossy(&two.stderr)
    );
    let mut shard_dirs: Vec<PathBuf> = std::fs::read_dir(store.join("campaigns/e2e"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.path())
        .collect();
    shard_dirs.sort();
    assert_eq!(shard_dirs.len(), 2);
    let a = summary(&shard_dirs[0]);
    let b = summary(&shard_dirs[1]);
    assert_eq!(a["plan_id"], b["plan_id"]);
    assert_eq!(a["runs"].as_array().unwrap().len(), 4);
    assert_eq!(b["runs"].as_array().unwrap().len(), 4);
    assert!(run_keys(&a).is_disjoint(&run_keys(&b)));

    let merged_store = f.dir.join("merged");
    let out = splitbrain_in(
        &f.dir,
        &[
            "report",
            "--merge",
            shard_dirs[0].to_str().unwrap(),
            shard_dirs[1].to_str().unwrap(),
            "--store",
            merged_store.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "the two-kings runs are invalid");
    let merged = std::fs::canonicalize(merged_store.join("campaigns/e2e/latest")).unwrap();
    let m = summary(&merged);
    let unsharded = summary(&f.campaign);
    assert_eq!(m["plan_id"], unsharded["plan_id"]);
    assert_eq!(run_keys(&m), run_keys(&unsharded));
    assert_eq!(m["complete"], true);
    assert!(m["shard"].is_null());
    // Every merged run links to a run directory that exists.
    for r in m["runs"].as_array().unwrap() {
        let dir = merged.join(r["run_dir"].as_str().unwrap());
        assert!(dir.join("history.jsonl").is_file(), "{}", dir.display());
    }
    assert_eq!(std::fs::read_dir(merged.join("runs")).unwrap().count(), 8);
    no_nodes_left(&f.dir);
}

/// Nemesis operations as (op, detail without the parts that depend on
/// where the run's leader happened to be).
fn nemesis_ops(run_dir: &Path) -> Vec<(String, Option<serde_json::Value>)> {
    history(run_dir)
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Nemesis(n) => {
                let detail = n.detail.map(|mut d| {
                    if let Some(o) = d.as_object_mut() {
                        o.remove("groups");
                        o.remove("note");
                    }
                    d
                });
                Some((n.op, detail))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn replay_reruns_the_same_operation_sequence_and_counts_the_violation() {
    let f = fixture();
    let s = summary(&f.campaign);
    let runs = s["runs"].as_array().unwrap();
    let raft_kill = runs
        .iter()
        .find(|r| r["target"] == "raft" && r["preset"] == "kill")
        .unwrap();
    let original = f.campaign.join(raft_kill["run_dir"].as_str().unwrap());
    let replays = f.dir.join("replays");
    let out = splitbrain_in(
        &f.dir,
        &[
            "replay",
            original.to_str().unwrap(),
            "--store",
            replays.to_str().unwrap(),
        ],
    );
    assert!(matches!(out.status.code(), Some(0..=2)), "replay ran");
    let replayed = latest(&replays);
    let before = nemesis_ops(&original);
    assert!(before.iter().any(|(op, _)| op == "kill"), "{before:?}");
    assert_eq!(nemesis_ops(&replayed), before, "same fault schedule");
    let header = |d: &Path| match &history(d)[0].event {
        Event::Run(h) => h.clone(),
        e => panic!("no header: {e:?}"),
    };
    let (h0, h1) = (header(&original), header(&replayed));
    assert_eq!(
        (h0.seed, &h0.nemesis, h0.nodes.len()),
        (h1.seed, &h1.nemesis, h1.nodes.len())
    );
    assert_eq!(h0.replay, h1.replay, "the same command replays both");

    // An invalid run: its violation comes back (term 1 claimed by all nodes).
    let kings = runs
        .iter()
        .find(|r| r["target"] == "two-kings" && r["status"] == "invalid")
        .unwrap();
    let original = f.campaign.join(kings["run_dir"].as_str().unwrap());
    let out = splitbrain_in(
        &f.dir,
        &[
            "replay",
            original.to_str().unwrap(),
            "--times",
            "2",
            "--store",
            replays.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "the violation (term-uniqueness, leader-agreement) came back in 2 of 2 replays"
        ),
        "{stdout}"
    );
    no_nodes_left(&f.dir);
}

#[test]
fn report_rerenders_runs_and_campaigns_from_their_files() {
    let f = fixture();
    let out = splitbrain_in(&f.dir, &["report", f.campaign.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("campaign e2e · 8/8 runs done"), "{text}");
    let out = splitbrain_in(
        &f.dir,
        &["report", f.campaign.to_str().unwrap(), "--format", "md"],
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("| two-kings | kill | 2 | 2: "), "{md}");
    assert!(md.contains("term-uniqueness 2 |"), "{md}");
    let run = latest(&f.store);
    for (format, needle) in [
        ("text", "verdict: "),
        ("md", "| checker |"),
        ("json", "\"format\": 1"),
        ("html", "<svg"),
        ("junit", "<testsuites"),
    ] {
        let out = splitbrain_in(
            &f.dir,
            &["report", run.to_str().unwrap(), "--format", format],
        );
        assert!(matches!(out.status.code(), Some(0..=2)), "{format}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(needle),
            "{format} has {needle}"
        );
    }
    let out = splitbrain_in(&f.dir, &["report", f.dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254), "neither a run nor a campaign");
}

/// two-kings as a "mutant" of the correct raft: detected by term-uniqueness,
/// which raft never fails on the same preset and seed.
const MUTANTS: &str = r#"
name = "mutants-e2e"
seeds = [3]

[[targets]]
name = "raft/kill"
target = "raft"
nodes = 3
presets = ["kill"]
time_limit = "3s"
nemesis_interval = "700ms"
fault_duration = "600ms"
recovery = "1s"

[[targets]]
target = "two-kings.toml"
baseline = "raft/kill"
"#;

#[test]
fn a_mutants_campaign_scores_detection_against_the_correct_variant() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_files(dir);
    std::fs::write(dir.join("mutants.toml"), MUTANTS).unwrap();
    let store = dir.join("store");
    let out = splitbrain_in(
        dir,
        &[
            "campaign",
            "mutants.toml",
            "--store",
            store.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Detected, but one seed is short of the 20 the correct variant needs.
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("mutation score"), "{stdout}");
    assert!(
        stdout.contains("median first violation ≤ 30 s: met"),
        "{stdout}"
    );
    assert!(
        stdout.contains("≥ 20 seeds per preset: NOT met"),
        "{stdout}"
    );
    let campaign = std::fs::canonicalize(store.join("campaigns/mutants-e2e/latest")).unwrap();
    let score: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(campaign.join("mutation.json")).unwrap())
            .unwrap();
    let mutant = &score["mutants"][0];
    assert_eq!(mutant["mutant"], "two-kings", "{score}");
    assert_eq!(mutant["baseline"], "raft/kill");
    assert_eq!(
        (mutant["runs"].as_u64(), mutant["detected_runs"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(
        mutant["caught_by"]["term-uniqueness"].as_u64() == Some(1),
        "{mutant}"
    );
    let median = mutant["median_first_violation_ms"].as_f64().unwrap();
    assert!(median > 0.0 && median < 3_000.0, "{median}");
    let base = &score["baselines"][0];
    assert_eq!(base["safety_violation_runs"], 0, "{base}");
    assert_eq!(base["seeds"], 1);
    // The mutant ran the baseline's schedule: same preset, node count and length.
    let summary = summary(&campaign);
    let presets: BTreeSet<&str> = summary["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["preset"].as_str().unwrap())
        .collect();
    assert_eq!(presets, BTreeSet::from(["kill"]));
    // In JUnit the caught bug passes; the one failure is the correct
    // variant's row, short of seeds, as in the exit code.
    let xml = std::fs::read_to_string(campaign.join("junit.xml")).unwrap();
    junit_xsd::assert_valid(&xml, "a mutants campaign's junit.xml");
    assert!(
        xml.contains("seeded bug caught, as intended, by term-uniqueness"),
        "{xml}"
    );
    assert!(xml.contains("name=\"mutation/two-kings/kill\""), "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(xml.contains("type=\"too-few-seeds\""), "{xml}");
    // `report` re-renders the score from the files.
    let again = splitbrain_in(dir, &["report", campaign.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("mutation score"));
    assert_eq!(again.status.code(), Some(1));
    no_nodes_left(dir);
}

#[test]
fn bad_campaign_files_exit_254_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    write_files(tmp.path());
    let bad = CAMPAIGN.replace("\"pause\"", "\"paws\"");
    std::fs::write(tmp.path().join("bad.toml"), bad).unwrap();
    let store = tmp.path().join("store");
    let out = splitbrain_in(
        tmp.path(),
        &["campaign", "bad.toml", "--store", store.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("paws"));
    assert!(!store.join("raft").exists(), "no run started");
    // A mutant may not change its baseline's schedule.
    let bad = format!("{MUTANTS}nodes = 5\n");
    std::fs::write(tmp.path().join("bad-mutant.toml"), bad).unwrap();
    let out = splitbrain_in(
        tmp.path(),
        &[
            "campaign",
            "bad-mutant.toml",
            "--store",
            store.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(254));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("remove `nodes`"), "{stderr}");
    assert!(!store.join("raft").exists(), "no run started");
}

/// Chromium, headless: load `page`, return (stderr, DOM after scripts ran),
/// and write a screenshot to `png`.
fn chromium(page: &Path, png: &Path) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1400,900",
    ];
    let url = format!("file://{}", page.display());
    let run = |extra: &[String]| -> Output {
        Command::new("chromium")
            .args(common)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium is required for this test (apt-get install chromium); .ci/run installs it")
    };
    let shot = run(&[format!("--screenshot={}", png.display())]);
    assert!(
        shot.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let dom = run(&["--dump-dom".to_string()]);
    assert!(dom.status.success(), "chromium --dump-dom failed");
    let stderr = format!(
        "{}{}",
        String::from_utf8_lossy(&shot.stderr),
        String::from_utf8_lossy(&dom.stderr)
    );
    (stderr, String::from_utf8_lossy(&dom.stdout).into_owned())
}

/// Console errors and uncaught exceptions Chromium logged for the page.
fn page_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("SyntaxError"))
        .filter(|l| l.contains("ERROR") || l.contains("Uncaught") || l.contains("Error"))
        .collect()
}

#[test]
fn html_pages_render_in_headless_chromium() {
    let f = fixture();
    let s = summary(&f.campaign);
    let kings = s["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == "two-kings")
        .unwrap();
    let run_dir =
        std::fs::canonicalize(f.campaign.join(kings["run_dir"].as_str().unwrap())).unwrap();
    let shots = f.dir.join("shots");
    std::fs::create_dir_all(&shots).unwrap();

    let png = shots.join("run.png");
    let (stderr, dom) = chromium(&run_dir.join("report.html"), &png);
    assert!(
        page_errors(&stderr).is_empty(),
        "console errors: {:?}",
        page_errors(&stderr)
    );
    assert!(
        std::fs::metadata(&png).unwrap().len() > 10_000,
        "a real screenshot"
    );
    assert!(dom.contains("<svg"), "the timeline is there");
    for node in ["n1", "n2", "n3"] {
        assert!(dom.contains(&format!(">{node}<")), "a lane for {node}");
    }
    assert!(dom.contains("term-uniqueness"));

    let png = shots.join("campaign.png");
    let (stderr, dom) = chromium(&f.campaign.join("summary.html"), &png);
    assert!(
        page_errors(&stderr).is_empty(),
        "console errors: {:?}",
        page_errors(&stderr)
    );
    assert!(std::fs::metadata(&png).unwrap().len() > 5_000);
    assert_eq!(
        dom.matches("/report.html\">timeline</a>").count(),
        8,
        "each run links its page"
    );
    // The links resolve to the run pages.
    let link = dom
        .split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    assert!(f.campaign.join(link).is_file(), "{link}");
    if let Ok(keep) = std::env::var("SPLITBRAIN_SCREENSHOTS") {
        for name in ["run.png", "campaign.png"] {
            let _ = std::fs::copy(shots.join(name), Path::new(&keep).join(name));
        }
    }
}

/// The shipped CI examples (examples/*.y*ml): what each engine sets, read
/// from the files themselves, so an edit that breaks them fails here.
fn example(name: &str) -> yaml_rust2::Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut docs = yaml_rust2::YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(docs.len(), 1, "{name}: one document");
    docs.remove(0)
}

/// Run the e2e campaign once per shard, two processes at a time (as two
/// machines would), each with exactly `env`, then merge the shards.
fn shards_with_env(f: &Fixture, label: &str, envs: &[Vec<(String, String)>]) -> serde_json::Value {
    let store = f.dir.join(label);
    let store_arg = store.to_str().unwrap().to_string();
    for pair in envs.chunks(2) {
        let outs: Vec<Output> = std::thread::scope(|s| {
            let handles: Vec<_> = pair
                .iter()
                .map(|env| {
                    let store_arg = &store_arg;
                    s.spawn(move || {
                        splitbrain()
                            .args(["campaign", "e2e.toml", "--store", store_arg])
                            .current_dir(&f.dir)
                            .env("NO_COLOR", "1")
                            .env_remove("SPLITBRAIN_SHARD")
                            .env_remove("SPLITBRAIN_SHARDS")
                            .env_remove("JOB_COMPLETION_INDEX")
                            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                            .output()
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for out in outs {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("shard "), "each process ran a shard: {text}");
        }
    }
    let shard_dirs: Vec<String> = std::fs::read_dir(store.join("campaigns/e2e"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.path().to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        shard_dirs.len(),
        envs.len(),
        "one campaign directory per shard"
    );
    let merged_store = f.dir.join(format!("{label}-merged"));
    let mut args = vec!["report", "--merge"];
    args.extend(shard_dirs.iter().map(String::as_str));
    args.extend(["--store", merged_store.to_str().unwrap()]);
    let out = splitbrain_in(&f.dir, &args);
    assert_eq!(out.status.code(), Some(1), "the two-kings runs are invalid");
    summary(&std::fs::canonicalize(merged_store.join("campaigns/e2e/latest")).unwrap())
}

#[test]
fn the_shipped_ci_examples_shard_the_matrix_exactly_once() {
    let f = fixture();
    let unsharded = summary(&f.campaign);

    // GitHub Actions: a matrix of K, and SPLITBRAIN_SHARD = "K/N".
    let gh = example("github-actions-nightly.yml");
    let job = &gh["jobs"]["campaign"];
    let matrix: Vec<i64> = job["strategy"]["matrix"]["shard"]
        .as_vec()
        .expect("a shard matrix")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let template = job["env"]["SPLITBRAIN_SHARD"]
        .as_str()
        .expect("SPLITBRAIN_SHARD");
    let n: i64 = template.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(matrix, (1..=n).collect::<Vec<_>>(), "the matrix is 1..=N");
    let steps = format!("{:?}", job["steps"]);
    assert!(steps.contains("splitbrain campaign"), "{steps}");
    let report = format!("{:?}", gh["jobs"]["report"]["steps"]);
    assert!(report.contains("report --merge"), "{report}");
    let envs: Vec<Vec<(String, String)>> = matrix
        .iter()
        .map(|k| {
            vec![(
                "SPLITBRAIN_SHARD".to_string(),
                template.replace("${{ matrix.shard }}", &k.to_string()),
            )]
        })
        .collect();
    let merged = shards_with_env(f, "gh", &envs);
    assert_eq!(merged["plan_id"], unsharded["plan_id"]);
    assert_eq!(run_keys(&merged), run_keys(&unsharded));
    assert_eq!(merged["complete"], true);

    // Kubernetes: an Indexed Job of N completions sets JOB_COMPLETION_INDEX
    // 0..N-1; the pod says SPLITBRAIN_SHARDS = N.
    let k8s = example("kubernetes-indexed-job.yaml");
    let spec = &k8s["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let completions = spec["completions"].as_i64().unwrap();
    let container = &spec["template"]["spec"]["containers"][0];
    let shards: i64 = container["env"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some("SPLITBRAIN_SHARDS"))
        .and_then(|e| e["value"].as_str())
        .expect("SPLITBRAIN_SHARDS")
        .parse()
        .unwrap();
    assert_eq!(
        shards, completions,
        "completions and SPLITBRAIN_SHARDS agree"
    );
    assert!(format!("{:?}", container["args"]).contains("splitbrain campaign"));
    let envs: Vec<Vec<(String, String)>> = (0..completions)
        .map(|i| {
            vec![
                ("JOB_COMPLETION_INDEX".to_string(), i.to_string()),
                ("SPLITBRAIN_SHARDS".to_string(), shards.to_string()),
            ]
        })
        .collect();
    let merged = shards_with_env(f, "k8s", &envs);
    assert_eq!(merged["plan_id"], unsharded["plan_id"]);
    assert_eq!(run_keys(&merged), run_keys(&unsharded));
    assert_eq!(merged["complete"], true);
}

#[test]
fn a_bad_shard_in_the_environment_exits_254_naming_the_variable() {
    let f = fixture();
    for (vars, says) in [
        (vec![("SPLITBRAIN_SHARD", "5/4")], "SPLITBRAIN_SHARD="),
        (vec![("SPLITBRAIN_SHARDS", "4")], "JOB_COMPLETION_INDEX"),
        (
            vec![("JOB_COMPLETION_INDEX", "x"), ("SPLITBRAIN_SHARDS", "4")],
            "JOB_COMPLETION_INDEX=x is not a number",
        ),
    ] {
        let out = splitbrain()
            .args(["campaign", "e2e.toml", "--store", "unused"])
            .current_dir(&f.dir)
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{vars:?}: {err}");
        assert!(err.contains(says), "{vars:?}: {err}");
    }
}
