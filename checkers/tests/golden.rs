//! Golden reports: recorded histories (real runs of shipped targets, with
//! and without violations) and synthetic ones, judged by every checker, must
//! give exactly the stored report. A change to how the checkers are built
//! (not to what they conclude) keeps every file here byte-for-byte; a change
//! to a verdict, figure or evidence shows up as a diff to review.
//!
//! After an intended change of results, rewrite the expected files with
//! `SPLITBRAIN_BLESS=1 cargo test -p checkers --test golden` and read the diff.

use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use checkers::synth::{self, SynthConfig};
use checkers::{check, check_reader, CheckOptions, Record};
use serde_json::{json, Value};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn blessing() -> bool {
    std::env::var_os("SPLITBRAIN_BLESS").is_some_and(|v| v == "1")
}

/// The reports a history gives under every checker and under `--only` the
/// safety checkers, as one pretty JSON document.
fn reports(records: &[Record]) -> String {
    let all = check(records, &CheckOptions::default());
    let safety = check(records, &CheckOptions::safety_only());
    let doc = json!({"all": all, "safety": safety});
    serde_json::to_string_pretty(&doc).expect("a report serialises") + "\n"
}

/// Compare with (or, when blessing, write) `<name>.report.json`.
fn expect(name: &str, actual: &str) -> Result<(), String> {
    let path = golden_dir().join(format!("{name}.report.json"));
    if blessing() {
        fs::write(&path, actual).expect("write the expected report");
        return Ok(());
    }
    let expected = fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e}; write it with SPLITBRAIN_BLESS=1 cargo test -p checkers --test golden",
            path.display()
        )
    })?;
    if expected == actual {
        return Ok(());
    }
    let (e, a): (Value, Value) = (
        serde_json::from_str(&expected).expect("expected report is JSON"),
        serde_json::from_str(actual).expect("actual report is JSON"),
    );
    let first_diff = expected
        .lines()
        .zip(actual.lines())
        .enumerate()
        .find(|(_, (x, y))| x != y)
        .map(|(i, (x, y))| format!("line {}: expected {x:?}, got {y:?}", i + 1))
        .unwrap_or_else(|| "the reports differ in length".into());
    Err(format!(
        "{name}: the report changed ({}); {first_diff}",
        if e == a {
            "same JSON, different bytes"
        } else {
            "different JSON"
        }
    ))
}

#[test]
fn recorded_histories_give_their_stored_reports() {
    let mut paths: Vec<PathBuf> = fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 6,
        "the recorded histories are missing from tests/golden"
    );
    let mut failures = vec![];
    for path in &paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(path).expect("readable history");
        let records: Vec<Record> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("a recorded history parses"))
            .collect();
        let actual = reports(&records);
        // The streaming reader (what `splitbrain check` uses) agrees with
        // the in-memory pass.
        let streamed = check_reader(
            BufReader::new(fs::File::open(path).unwrap()),
            &CheckOptions::default(),
        )
        .expect("the history streams");
        assert_eq!(
            streamed,
            check(&records, &CheckOptions::default()),
            "{name}: streamed and in-memory reports differ"
        );
        if let Err(e) = expect(&name, &actual) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn synthetic_histories_give_their_stored_reports() {
    let configs = [
        ("synth-votes", SynthConfig::default()),
        (
            "synth-no-votes-volatile",
            SynthConfig {
                seed: 7,
                nodes: 3,
                events: 4_000,
                persistent_term: false,
                votes: false,
                ..SynthConfig::default()
            },
        ),
        (
            "synth-seven-nodes",
            SynthConfig {
                seed: 42,
                nodes: 7,
                events: 6_000,
                steady_events: (5, 40),
                ..SynthConfig::default()
            },
        ),
    ];
    let mut failures = vec![];
    for (name, cfg) in configs {
        let records = synth::history(cfg);
        if let Err(e) = expect(name, &reports(&records)) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
