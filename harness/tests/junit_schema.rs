//! The JUnit XML that `splitbrain run` and `splitbrain campaign` write is
//! valid against Jenkins' `junit-10.xsd`, the schema CI servers accept,
//! checked with a real validator (`xmllint --schema`; see
//! `common/junit_xsd.rs` for where the schema comes from). The documents
//! come from the real renderers on constructed runs, so every kind of test
//! case is covered without starting a process; `e2e_campaign` validates the
//! files a real campaign writes.

mod common;

use std::time::Duration;

use checkers::{CheckResult, Evidence, Report, RunHeader, Verdict};
use common::junit_xsd::{assert_valid, validate};
use results::campaign::{CampaignSummary, PlannedRun, RunRecord, RunStatus, CAMPAIGN_FORMAT};
use results::report::campaign::render_junit;
use results::report::json::{ResultsFile, RESULTS_FORMAT};
use results::report::junit::{run_suite, Expect, RunCase, RunOutcome, UnknownAs};
use serde_json::json;

const S: u64 = 1_000_000_000;

fn header(target: &str, seed: u64) -> RunHeader {
    serde_json::from_value(json!({
        "target": target,
        "nodes": ["n1", "n2", "n3"],
        "seed": seed,
        "nemesis": "partition-kill",
        "time_limit_ms": 20000,
        "recovery_ms": 5000,
        "replay": format!("splitbrain run --target {target} --seed {seed} --nemesis partition-kill"),
    }))
    .unwrap()
}

fn result(checker: &str, verdict: Verdict, evidence: Vec<Evidence>) -> CheckResult {
    CheckResult {
        checker: checker.into(),
        verdict,
        figure: format!("{checker} figure"),
        evidence,
        details: serde_json::Value::Null,
    }
}

/// A judged run: every checker valid but `bad`, which has verdict `verdict`
/// (with evidence whose text needs escaping when it is invalid).
fn report(bad: Verdict) -> Report {
    let evidence = if bad == Verdict::Invalid {
        vec![
            Evidence {
                seqs: vec![27, 30],
                window: [15 * S, 16 * S],
                nodes: vec!["n1".into(), "n3".into()],
                message: "term 3 claimed by n1 and by n3 <both> & \"neither\" stepped down ]]> \
                          \u{1}\u{1b}[31m — ünïcödé"
                    .into(),
            },
            Evidence {
                seqs: vec![41],
                window: [18 * S, 18 * S],
                nodes: vec!["n3".into()],
                message: "n3 still leads term 3".into(),
            },
        ]
    } else {
        vec![]
    };
    Report {
        results: vec![
            result("term-uniqueness", bad, evidence),
            result("leader-agreement", Verdict::Valid, vec![]),
            result(
                "vote-once",
                if bad == Verdict::Unknown {
                    Verdict::Unknown
                } else {
                    Verdict::Valid
                },
                vec![],
            ),
        ],
        elections: vec![],
        warnings: vec!["1 garbage line from n2".into()],
        events: 120,
    }
}

fn results_file(header: RunHeader, report: Report) -> ResultsFile {
    ResultsFile {
        format: RESULTS_FORMAT,
        verdict: report.verdict(),
        header,
        report,
    }
}

/// A campaign with a valid, an invalid (with its results.json, so the
/// failure carries the full evidence), an invalid one known only from
/// summary.json, an unknown, a failed-to-run, a repeated and an interrupted run.
fn campaign() -> (CampaignSummary, Vec<Option<ResultsFile>>) {
    let plan = |index: usize, target: &str, seed: u64, repetition: u32| PlannedRun {
        index,
        target: target.into(),
        preset: "partition-kill".into(),
        seed,
        repetition,
    };
    let planned = vec![
        plan(0, "raft", 1, 1),
        plan(1, "raft+forget-term", 1, 1),
        plan(2, "raft+forget-term", 2, 1),
        plan(3, "etcd", 1, 1),
        plan(4, "etcd", 2, 1),
        plan(5, "raft", 1, 2),
        plan(6, "raft", 2, 1),
    ];
    let mut summary = CampaignSummary {
        format: CAMPAIGN_FORMAT,
        name: "nightly & <weekly>".into(),
        plan_id: "plan".into(),
        matrix_runs: planned.len(),
        planned: planned.clone(),
        shard: None,
        merged_from: vec![],
        started_at: "20261123T120000.000Z".into(),
        updated_at: "20261123T121000.000Z".into(),
        complete: true,
        interrupted: false,
        allow_unknown: false,
        jobs: 1,
        settings: serde_json::Value::Null,
        runs: vec![],
    };
    let mut files = Vec::new();
    let judged = [
        Some(Verdict::Valid),
        Some(Verdict::Invalid),
        Some(Verdict::Invalid),
        Some(Verdict::Unknown),
        None,
        Some(Verdict::Valid),
        None,
    ];
    for (p, verdict) in planned.into_iter().zip(judged) {
        let h = header(&p.target, p.seed);
        let mut record = match verdict {
            Some(v) => RunRecord::judged(p.clone(), &report(v), h.replay.clone()),
            None => RunRecord::failed(p.clone(), "etcd did not become healthy in 30 s".into()),
        };
        record.duration_ms = 12_345 + p.index as u64;
        if p.index == 6 {
            record.status = RunStatus::Interrupted;
        }
        // Run 2's results.json is gone: its case comes from summary.json alone.
        files.push(match verdict {
            Some(v) if p.index != 2 => Some(results_file(h, report(v))),
            _ => None,
        });
        summary.record(record);
    }
    (summary, files)
}

#[test]
fn campaign_junit_with_every_kind_of_case_is_valid() {
    let (summary, files) = campaign();
    for unknown in [UnknownAs::Error, UnknownAs::Skipped] {
        let xml = render_junit(&summary, &files, unknown).unwrap();
        assert_valid(&xml, &format!("campaign junit.xml ({unknown:?})"));
        assert_eq!(xml.matches("<testcase ").count(), 6, "{xml}");
        assert_eq!(xml.matches("<failure ").count(), 2, "{xml}");
        let (errors, skipped) = match unknown {
            UnknownAs::Error => (2, 0),
            UnknownAs::Skipped => (1, 1),
        };
        assert_eq!(xml.matches("<error ").count(), errors, "{xml}");
        assert_eq!(xml.matches("<skipped ").count(), skipped, "{xml}");
        assert!(xml.contains("type=\"run-failed\""), "{xml}");
        assert!(
            xml.contains("message=\"term-uniqueness: seq 27, 30 @ "),
            "{xml}"
        );
    }
}

/// The same campaign read as a mutation campaign (`raft+forget-term` is a
/// mutant of `raft`): its invalid runs pass, and the score's rows are cases.
#[test]
fn mutation_campaign_junit_is_valid() {
    let (mut summary, files) = campaign();
    summary.settings = json!({"targets": [
        {"label": "raft", "target": "raft"},
        {"label": "raft+forget-term", "target": "raft", "bug": "forget-term", "baseline": "raft"},
        {"label": "etcd", "target": "etcd"},
    ]});
    let xml = render_junit(&summary, &files, UnknownAs::Error).unwrap();
    assert_valid(&xml, "a mutation campaign's junit.xml");
    // The seeded bug's run of seed 1 (invalid) passes; seed 2 has no judged
    // run of the correct variant (it was interrupted), so it is not scored.
    // The mutation row passes, the correct variant's row fails (1 seed of
    // 20), and the interrupted run leaves the score incomplete.
    assert_eq!(xml.matches("<testcase ").count(), 9, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(
        xml.contains("name=\"mutation/raft+forget-term/partition-kill\""),
        "{xml}"
    );
    assert!(xml.contains("type=\"too-few-seeds\""), "{xml}");
    assert_eq!(
        xml.matches("seeded bug caught, as intended").count(),
        1,
        "{xml}"
    );
    assert!(xml.contains("type=\"not-compared\""), "{xml}");
    assert!(xml.contains("name=\"mutation/complete\""), "{xml}");
}

#[test]
fn campaign_junit_before_any_run_is_valid() {
    let (mut summary, _) = campaign();
    summary.runs.clear();
    summary.complete = false;
    summary.interrupted = true;
    let xml = render_junit(&summary, &[], UnknownAs::Error).unwrap();
    assert_valid(&xml, "an empty campaign's junit.xml");
}

#[test]
fn run_junit_of_every_outcome_is_valid() {
    let h = header("raft", 42);
    let reports = [
        report(Verdict::Valid),
        report(Verdict::Invalid),
        report(Verdict::Unknown),
    ];
    let mut cases: Vec<RunCase<'_>> = reports.iter().map(|r| RunCase::checked(&h, r)).collect();
    cases.push(RunCase {
        header: &h,
        outcome: RunOutcome::Failed("node n1 exited at start: <stderr> & more"),
        duration: Some(Duration::from_millis(31_250)),
        expect: Expect::Valid,
    });
    let mut timed = RunCase::checked(&h, &reports[1]);
    timed.duration = Some(Duration::from_secs(1234));
    cases.push(timed);
    for case in &cases {
        for unknown in [UnknownAs::Error, UnknownAs::Skipped] {
            let xml = run_suite(case, unknown).unwrap();
            assert_valid(
                &xml,
                &format!("run junit.xml ({:?}, {unknown:?})", case.outcome),
            );
        }
    }
}

/// The same validation rejects what a CI server's schema check would: the
/// attribute quick-junit writes unless we rename it, a case without a name,
/// an element the schema does not know, a time with four decimals, and a
/// document that is not well-formed.
#[test]
fn validation_rejects_documents_outside_the_schema() {
    let h = header("raft", 42);
    let invalid = report(Verdict::Invalid);
    let good = run_suite(&RunCase::checked(&h, &invalid), UnknownAs::Error).unwrap();
    assert_valid(&good, "the unbroken document");
    let broken = [
        (
            "quick-junit's disabled=",
            good.replacen(" skipped=\"0\"", " disabled=\"0\"", 1),
            "disabled",
        ),
        (
            "a testcase without a name",
            good.replacen("<testcase name=", "<testcase label=", 1),
            "name",
        ),
        (
            "an unknown element",
            good.replacen("<system-out>", "<flaky/><system-out>", 1),
            "flaky",
        ),
        (
            "a suite time with 4 decimals",
            good.replacen("<testsuite ", "<testsuite time=\"1.2345\" ", 1),
            "time",
        ),
        (
            "a document cut short",
            good[..good.find("</testsuite>").unwrap()].to_string(),
            "end of data",
        ),
    ];
    for (what, xml, complaint) in broken {
        assert_ne!(xml, good, "{what}: the test did not break the document");
        match validate(&xml) {
            Ok(()) => panic!("{what}: accepted\n{xml}"),
            Err(e) => assert!(e.contains(complaint), "{what}: {e}"),
        }
    }
}
