//! JUnit XML, so CI servers (GitLab, Jenkins, GitHub test reporters,
//! Buildkite) show each run as a test case and each violation as a failure.
//!
//! One test case per run, named `target/preset/seed` (class name
//! `splitbrain.<target>`, so servers group runs by target):
//!
//! | run outcome | JUnit element | why |
//! |---|---|---|
//! | valid | (passed) | |
//! | invalid | `<failure type="invalid">` | a checker found a violation; the message names the violated checker(s) and the first evidence; the body lists all evidence and the replay command |
//! | unknown, [`UnknownAs::Error`] (the default) | `<error type="unknown">` | campaigns count unknown as a failure (contract 4); an *error* says "could not judge", not "found a bug" |
//! | unknown, [`UnknownAs::Skipped`] (`--allow-unknown`) | `<skipped type="unknown">` | the run neither passed nor failed, and must not fail the build |
//! | the run itself failed (exit 255) | `<error type="run-failed">` | the harness could not produce a history to judge |
//!
//! In a mutation campaign (targets with a `baseline`), the runs of a seeded
//! bug are *meant* to be caught, so their cases read the other way round:
//!
//! | seeded-bug run, as the score took it | JUnit element |
//! |---|---|
//! | caught: invalid by a checker its correct variant never fails there | (passed) |
//! | compared, invalid only by checkers the correct variant fails too | `<skipped type="not-counted">` |
//! | compared, valid | `<skipped type="not-caught">`: one seed that missed it |
//! | not compared (no judged run of the correct variant on its seed) | `<skipped type="not-compared">` |
//! | unknown or failed to run | as for any run |
//!
//! The score itself ([`MutationScore`]) decides each of these; JUnit only
//! reads it. One more case per score row says whether its goal holds
//! ([`crate::mutation::GoalMiss`]): a bug `mutation/<mutant>/<preset>` fails
//! (`not-detected`, `too-slow`), a correct variant
//! `correct/<variant>/<preset>` fails (`safety-violation`, `too-few-seeds`),
//! and `mutation/complete` is an error while runs are missing. A caught bug
//! is never a failure; a missed goal, an incomplete campaign and any other
//! invalid, unknown or failed run (a correct variant's election-gap, say,
//! which the goals do not count) are.
//!
//! Every test case carries the plain terminal report in `system-out`. The
//! suite's `skipped` attribute counts the skipped cases.
//!
//! The documents are valid against Jenkins' `junit-10.xsd` (the xunit
//! plugin's schema, the one CI servers accept; Surefire writes the same
//! shape). The test suite checks this with `xmllint --schema` (see
//! `docs/campaigns.md`). quick-junit names the skip count `disabled`, which
//! that schema does not allow, so [`skipped_not_disabled`] renames it.

use std::time::Duration;

use checkers::{Report, RunHeader, Verdict};
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::QName;
use quick_xml::{Reader, Writer};

use super::{evidence_pointer, run_name, shorten, terminal, ReportError};
use crate::mutation::{MutationScore, Scored};

/// How a run the checkers could not judge appears in JUnit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownAs {
    /// `<error>`: fails the build, as campaigns do by default.
    #[default]
    Error,
    /// `<skipped>`: does not fail the build (`--allow-unknown`).
    Skipped,
}

/// What became of one run.
#[derive(Debug, Clone, Copy)]
pub enum RunOutcome<'a> {
    /// The run finished and the checkers judged its history.
    Checked(&'a Report),
    /// The run could not be carried out (bad target, controller error); the reason.
    Failed(&'a str),
}

/// What a run is meant to show, which decides whether a violation fails its
/// test case.
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    /// Every checker valid: a violation is a failure.
    Valid,
    /// A seeded bug in a mutation campaign: a violation is the point.
    SeededBug {
        /// The correct variant it is compared with.
        baseline: &'a str,
        /// How the mutation score took this run.
        scored: &'a Scored,
    },
}

/// One run, as a JUnit test case.
#[derive(Debug, Clone, Copy)]
pub struct RunCase<'a> {
    /// The run's header (target, preset, seed, replay command).
    pub header: &'a RunHeader,
    /// Its outcome.
    pub outcome: RunOutcome<'a>,
    /// Wall-clock time the run took, when known.
    pub duration: Option<Duration>,
    /// What the run is meant to show.
    pub expect: Expect<'a>,
}

impl<'a> RunCase<'a> {
    /// A judged run whose duration is not known.
    pub fn checked(header: &'a RunHeader, report: &'a Report) -> Self {
        RunCase {
            header,
            outcome: RunOutcome::Checked(report),
            duration: None,
            expect: Expect::Valid,
        }
    }
}

/// Longest `message` attribute: CI servers show it on one line.
const MESSAGE_CHARS: usize = 300;

fn failure_message(report: &Report, verdict: Verdict) -> String {
    let culprits: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.verdict == verdict)
        .collect();
    let names: Vec<&str> = culprits.iter().map(|r| r.checker.as_str()).collect();
    let first = culprits
        .iter()
        .find_map(|r| r.evidence.first().map(|e| evidence_pointer(e, 200)))
        .or_else(|| {
            culprits
                .iter()
                .map(|r| r.figure.clone())
                .find(|f| !f.is_empty())
        });
    let message = match first {
        Some(first) => format!("{}: {first}", names.join(", ")),
        None => names.join(", "),
    };
    shorten(&message, MESSAGE_CHARS)
}

fn failure_description(report: &Report, verdict: Verdict, header: &RunHeader) -> String {
    let mut lines = Vec::new();
    for result in report.results.iter().filter(|r| r.verdict == verdict) {
        lines.push(format!(
            "{} ({}): {}",
            result.checker, result.verdict, result.figure
        ));
        for evidence in &result.evidence {
            lines.push(format!("  {}", evidence_pointer(evidence, usize::MAX)));
        }
    }
    if let Some(replay) = &header.replay {
        lines.push(format!("replay: {replay}"));
    }
    lines.join("\n")
}

fn non_success(
    kind: NonSuccessKind,
    ty: &str,
    message: String,
    description: String,
) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(kind);
    status
        .set_type(ty)
        .set_message(message)
        .set_description(description);
    status
}

/// The status of a seeded bug's judged run, as the score took it, and a
/// line for `system-out` (`None`: unknown, which reads as for any run).
fn seeded_bug_status(
    report: &Report,
    baseline: &str,
    scored: &Scored,
) -> Option<(TestCaseStatus, String)> {
    let (ty, message) = match (scored, report.verdict()) {
        (_, Verdict::Unknown) => return None,
        (Scored::Caught(checkers), _) => {
            let line = format!(
                "seeded bug caught, as intended, by {} (checkers {baseline} never fails here)",
                checkers.join(", ")
            );
            return Some((TestCaseStatus::success(), line));
        }
        (Scored::Missed, Verdict::Invalid) => {
            let invalid: Vec<&str> = report
                .results
                .iter()
                .filter(|r| r.verdict == Verdict::Invalid)
                .map(|r| r.checker.as_str())
                .collect();
            (
                "not-counted",
                format!(
                    "invalid only by {}, which the correct variant {baseline} fails too on these presets and seeds: not a catch",
                    invalid.join(", ")
                ),
            )
        }
        (Scored::Missed, _) => (
            "not-caught",
            "the seeded bug went unseen on this seed; the mutation/ case of its row says whether the bug is detected".to_string(),
        ),
        (Scored::NotCompared, _) => (
            "not-compared",
            format!("no judged run of the correct variant {baseline} on this seed: not scored"),
        ),
    };
    let mut status = TestCaseStatus::skipped();
    status
        .set_type(ty)
        .set_message(shorten(&message, MESSAGE_CHARS));
    Some((status, message))
}

fn test_case(case: &RunCase<'_>, unknown: UnknownAs) -> TestCase {
    let header = case.header;
    let seeded = match (case.expect, case.outcome) {
        (Expect::SeededBug { baseline, scored }, RunOutcome::Checked(report)) => {
            seeded_bug_status(report, baseline, scored)
        }
        _ => None,
    };
    let (status, note) = match seeded {
        Some((status, note)) => (status, Some(note)),
        None => (run_status(case, unknown), None),
    };
    let mut test_case = TestCase::new(run_name(header), status);
    test_case.set_classname(format!("splitbrain.{}", header.target));
    if let Some(duration) = case.duration {
        test_case.set_time(duration);
    }
    if let RunOutcome::Checked(report) = case.outcome {
        let text = terminal::render(report, Some(header), terminal::Style::default());
        test_case.set_system_out(match note {
            Some(note) => format!("{note}\n\n{text}"),
            None => text,
        });
    }
    test_case
}

fn run_status(case: &RunCase<'_>, unknown: UnknownAs) -> TestCaseStatus {
    let header = case.header;
    match case.outcome {
        RunOutcome::Failed(reason) => non_success(
            NonSuccessKind::Error,
            "run-failed",
            shorten(reason, MESSAGE_CHARS),
            reason.to_string(),
        ),
        RunOutcome::Checked(report) => match (report.verdict(), unknown) {
            (Verdict::Valid, _) => TestCaseStatus::success(),
            (Verdict::Invalid, _) => non_success(
                NonSuccessKind::Failure,
                "invalid",
                failure_message(report, Verdict::Invalid),
                failure_description(report, Verdict::Invalid, header),
            ),
            (Verdict::Unknown, UnknownAs::Error) => non_success(
                NonSuccessKind::Error,
                "unknown",
                format!(
                    "not enough evidence to judge: {}",
                    failure_message(report, Verdict::Unknown)
                ),
                failure_description(report, Verdict::Unknown, header),
            ),
            (Verdict::Unknown, UnknownAs::Skipped) => {
                let mut status = TestCaseStatus::skipped();
                status
                    .set_type("unknown")
                    .set_message(format!(
                        "not enough evidence to judge: {}",
                        failure_message(report, Verdict::Unknown)
                    ))
                    .set_description(failure_description(report, Verdict::Unknown, header));
                status
            }
        },
    }
}

/// One case per row of the mutation score (does this bug, this correct
/// variant meet its goal?), and one that errs while runs are missing.
fn score_cases(score: &MutationScore) -> Vec<TestCase> {
    let row = |name: String, miss: Option<crate::mutation::GoalMiss>, summary: String| {
        let status = match miss {
            Some(miss) => non_success(
                NonSuccessKind::Failure,
                miss.kind,
                shorten(&miss.why, MESSAGE_CHARS),
                miss.why,
            ),
            None => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(name, status);
        case.set_classname("splitbrain.mutation");
        case.set_system_out(summary);
        case
    };
    let mut cases = Vec::new();
    for m in &score.mutants {
        let summary = format!(
            "{}: detected in {} of {} runs (by {}); median first violation {}",
            m.mutant,
            m.detected_runs,
            m.runs,
            super::mutation::counts(&m.caught_by),
            m.median_first_violation_ms
                .map_or("never".to_string(), |t| format!("{:.2} s", t / 1e3)),
        );
        let name = format!("mutation/{}/{}", m.mutant, m.preset);
        cases.push(row(name, m.goal_miss(&score.goals), summary));
    }
    for b in &score.baselines {
        let summary = format!(
            "{} on {}: {} runs over {} seeds, {} with a safety violation",
            b.variant, b.preset, b.runs, b.seeds, b.safety_violation_runs
        );
        let name = format!("correct/{}/{}", b.variant, b.preset);
        cases.push(row(name, b.goal_miss(&score.goals), summary));
    }
    if !score.complete {
        let why = "the campaign has runs still to do: the score is not final (`splitbrain campaign FILE --resume` continues it)";
        let mut case = TestCase::new(
            "mutation/complete",
            non_success(
                NonSuccessKind::Error,
                "incomplete",
                why.to_string(),
                why.to_string(),
            ),
        );
        case.set_classname("splitbrain.mutation");
        cases.push(case);
    }
    cases
}

fn to_xml(
    suite_name: &str,
    cases: &[RunCase<'_>],
    unknown: UnknownAs,
    score: Option<&MutationScore>,
) -> Result<String, ReportError> {
    let mut suite = TestSuite::new(suite_name);
    suite.add_test_cases(cases.iter().map(|c| test_case(c, unknown)));
    if let Some(score) = score {
        suite.add_test_cases(score_cases(score));
    }
    let total: Duration = cases.iter().filter_map(|c| c.duration).sum();
    if cases.iter().any(|c| c.duration.is_some()) {
        suite.set_time(total);
    }
    let mut document = quick_junit::Report::new("splitbrain");
    document.add_test_suite(suite);
    if cases.iter().any(|c| c.duration.is_some()) {
        document.set_time(total);
    }
    skipped_not_disabled(&document.to_string()?)
}

/// `xml` with each `<testsuite disabled="N">` written `skipped="N"`, every
/// other byte unchanged. quick-junit counts skipped cases in `disabled`,
/// which `junit-10.xsd` rejects; `skipped` is the attribute that schema,
/// Surefire, Jenkins and GitLab use for that count.
fn skipped_not_disabled(xml: &str) -> Result<String, ReportError> {
    let mut reader = Reader::from_str(xml);
    let mut writer = Writer::new(Vec::with_capacity(xml.len() + 16));
    loop {
        match reader.read_event()? {
            Event::Eof => break,
            Event::Start(suite) if suite.name().as_ref() == b"testsuite" => {
                writer.write_event(Event::Start(rename_disabled(&suite)?))
            }
            Event::Empty(suite) if suite.name().as_ref() == b"testsuite" => {
                writer.write_event(Event::Empty(rename_disabled(&suite)?))
            }
            event => writer.write_event(event),
        }
        .map_err(quick_xml::Error::from)?;
    }
    // Input was a `&str` and every event is copied as raw bytes.
    Ok(String::from_utf8_lossy(&writer.into_inner()).into_owned())
}

fn rename_disabled<'a>(suite: &'a BytesStart<'_>) -> Result<BytesStart<'a>, ReportError> {
    let mut renamed = BytesStart::new("testsuite");
    for attribute in suite.attributes() {
        let attribute = attribute.map_err(quick_xml::Error::from)?;
        if attribute.key.as_ref() == b"disabled" {
            renamed.push_attribute(Attribute {
                key: QName(b"skipped"),
                value: attribute.value,
            });
        } else {
            renamed.push_attribute(attribute);
        }
    }
    Ok(renamed)
}

/// A JUnit document for one run (`splitbrain run --junit FILE`).
pub fn run_suite(case: &RunCase<'_>, unknown: UnknownAs) -> Result<String, ReportError> {
    to_xml("splitbrain", std::slice::from_ref(case), unknown, None)
}

/// A JUnit document for a campaign: one suite named `campaign`, one case per
/// run, then, for a mutation campaign, one case per row of its `score`.
pub fn campaign_suite(
    campaign: &str,
    cases: &[RunCase<'_>],
    unknown: UnknownAs,
    score: Option<&MutationScore>,
) -> Result<String, ReportError> {
    to_xml(campaign, cases, unknown, score)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;
    use quick_xml::events::Event;
    use quick_xml::Reader;
    use std::collections::HashMap;

    /// Element counts and the attributes of the first `testsuite`, read back
    /// with a real XML parser (which also proves the document well-formed).
    struct Parsed {
        counts: HashMap<String, usize>,
        suite: HashMap<String, String>,
        names: Vec<String>,
        messages: Vec<String>,
    }

    fn parse(xml: &str) -> Parsed {
        let mut reader = Reader::from_str(xml);
        let mut parsed = Parsed {
            counts: HashMap::new(),
            suite: HashMap::new(),
            names: Vec::new(),
            messages: Vec::new(),
        };
        let mut depth = 0i32;
        loop {
            let event = reader.read_event().expect("well-formed XML");
            let (element, empty) = match &event {
                Event::Start(e) => (e.clone(), false),
                Event::Empty(e) => (e.clone(), true),
                Event::End(_) => {
                    depth -= 1;
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            if !empty {
                depth += 1;
            }
            let name = String::from_utf8(element.name().as_ref().to_vec()).unwrap();
            *parsed.counts.entry(name.clone()).or_default() += 1;
            let attributes: HashMap<String, String> = element
                .attributes()
                .map(|a| {
                    let a = a.unwrap();
                    (
                        String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                        a.unescape_value().unwrap().into_owned(),
                    )
                })
                .collect();
            match name.as_str() {
                "testsuite" if parsed.suite.is_empty() => parsed.suite = attributes,
                "testcase" => parsed.names.push(attributes["name"].clone()),
                "failure" | "error" | "skipped" => parsed
                    .messages
                    .push(attributes.get("message").cloned().unwrap_or_default()),
                _ => {}
            }
        }
        assert_eq!(depth, 0, "balanced elements");
        parsed
    }

    fn count(parsed: &Parsed, element: &str) -> usize {
        parsed.counts.get(element).copied().unwrap_or(0)
    }

    #[test]
    fn invalid_run_is_one_failure_naming_checker_and_evidence() {
        let header = fixture::header();
        let report = fixture::report();
        let xml = run_suite(&RunCase::checked(&header, &report), UnknownAs::Error).unwrap();
        println!("{xml}");
        let parsed = parse(&xml);
        assert_eq!(count(&parsed, "testcase"), 1);
        assert_eq!(count(&parsed, "failure"), 1);
        assert_eq!(count(&parsed, "error"), 0);
        assert_eq!(parsed.suite["tests"], "1");
        assert_eq!(parsed.suite["failures"], "1");
        assert_eq!(parsed.names, vec!["raft/partition-kill-pause/42"]);
        assert!(
            parsed.messages[0].starts_with("term-uniqueness: seq 27, 30 @ 15.42–15.61 s: term 3"),
            "{}",
            parsed.messages[0]
        );
        assert!(xml.contains("replay: splitbrain run --target raft"));
        assert!(xml.contains("system-out"));
    }

    /// The fixture's report as an invalid, a valid and an unknown run.
    fn three_reports() -> (Report, Report, Report) {
        let invalid = fixture::report();
        let mut valid = fixture::report();
        for result in &mut valid.results {
            result.verdict = Verdict::Valid;
        }
        let mut unknown = valid.clone();
        unknown.results[5].verdict = Verdict::Unknown;
        (invalid, valid, unknown)
    }

    #[test]
    fn campaign_counts_failures_errors_and_skips() {
        let (invalid, valid, unknown) = three_reports();
        let headers: Vec<RunHeader> = (1..=5)
            .map(|seed| {
                let mut header = fixture::header();
                header.seed = seed;
                header
            })
            .collect();
        let cases = [
            RunCase::checked(&headers[0], &valid),
            RunCase::checked(&headers[1], &invalid),
            RunCase::checked(&headers[2], &invalid),
            RunCase::checked(&headers[3], &unknown),
            RunCase {
                header: &headers[4],
                outcome: RunOutcome::Failed("etcd did not become healthy in 30 s"),
                duration: Some(Duration::from_secs(31)),
                expect: Expect::Valid,
            },
        ];

        let parsed = parse(&campaign_suite("nightly", &cases, UnknownAs::Error, None).unwrap());
        assert_eq!(count(&parsed, "testcase"), 5);
        assert_eq!(count(&parsed, "failure"), 2);
        assert_eq!(count(&parsed, "error"), 2);
        assert_eq!(count(&parsed, "skipped"), 0);
        assert_eq!(parsed.suite["name"], "nightly");
        assert_eq!(parsed.suite["tests"], "5");
        assert_eq!(parsed.suite["failures"], "2");
        assert_eq!(parsed.suite["errors"], "2");
        assert!(parsed
            .messages
            .iter()
            .any(|m| m == "not enough evidence to judge: vote-once: no vote events"));
        assert!(parsed
            .messages
            .iter()
            .any(|m| m.starts_with("etcd did not")));
        assert_eq!(parsed.names[4], "raft/partition-kill-pause/5");

        let parsed = parse(&campaign_suite("nightly", &cases, UnknownAs::Skipped, None).unwrap());
        assert_eq!(count(&parsed, "failure"), 2);
        assert_eq!(count(&parsed, "error"), 1);
        assert_eq!(count(&parsed, "skipped"), 1);
        // `skipped`, not quick-junit's `disabled`, which junit-10.xsd rejects.
        assert_eq!(parsed.suite["skipped"], "1");
        assert!(!parsed.suite.contains_key("disabled"));
    }

    fn score(detected_runs: usize, median_ms: Option<f64>, seeds: usize) -> MutationScore {
        use crate::mutation::{BaselineRow, MutantRow};
        MutationScore {
            mutants: vec![MutantRow {
                mutant: "raft+forget-vote".into(),
                bug: Some("forget-vote".into()),
                baseline: "raft/pause".into(),
                preset: "pause".into(),
                runs: 10,
                detected_runs,
                caught_by: [("vote-once".to_string(), detected_runs)]
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .collect(),
                not_counted: Default::default(),
                median_first_violation_ms: median_ms,
                incomparable: 0,
                scored: Default::default(),
            }],
            baselines: vec![BaselineRow {
                variant: "raft/pause".into(),
                preset: "pause".into(),
                runs: seeds,
                seeds,
                safety_violation_runs: 0,
                invalid_by_checker: Default::default(),
                unknown_or_failed: 0,
            }],
            goals: Default::default(),
            run_time_ms: 1,
            complete: true,
        }
    }

    #[test]
    fn a_caught_seeded_bug_passes_and_a_missed_one_is_skipped() {
        let (caught, valid, unknown) = three_reports();
        let header = fixture::header();
        let caught_by = Scored::Caught(vec!["term-uniqueness".into()]);
        let seeded = |report, scored| RunCase {
            expect: Expect::SeededBug {
                baseline: "raft/pause",
                scored,
            },
            ..RunCase::checked(&header, report)
        };
        let cases = [
            seeded(&caught, &caught_by),
            // Invalid, but only by what the correct variant fails too.
            seeded(&caught, &Scored::Missed),
            seeded(&valid, &Scored::Missed),
            seeded(&unknown, &Scored::Missed),
            seeded(&valid, &Scored::NotCompared),
        ];
        let xml = campaign_suite("mutants", &cases, UnknownAs::Error, None).unwrap();
        let parsed = parse(&xml);
        assert_eq!(count(&parsed, "testcase"), 5);
        assert_eq!(
            count(&parsed, "failure"),
            0,
            "a caught bug is no failure: {xml}"
        );
        assert_eq!(count(&parsed, "skipped"), 3);
        assert_eq!(count(&parsed, "error"), 1, "unknown reads as for any run");
        assert!(xml.contains("seeded bug caught, as intended, by term-uniqueness"));
        assert!(
            parsed.messages[0].starts_with(
                "invalid only by term-uniqueness, which the correct variant raft/pause fails too"
            ),
            "{}",
            parsed.messages[0]
        );
        assert!(parsed.messages[1].starts_with("the seeded bug went unseen on this seed"));
        assert!(xml.contains("type=\"not-counted\"") && xml.contains("type=\"not-caught\""));
        assert!(
            parsed.messages[3].starts_with("no judged run of the correct variant raft/pause"),
            "{:?}",
            parsed.messages
        );
        // The same runs as correct variants: the invalid ones fail.
        let plain = [
            RunCase::checked(&header, &caught),
            RunCase::checked(&header, &valid),
        ];
        let parsed = parse(&campaign_suite("c", &plain, UnknownAs::Error, None).unwrap());
        assert_eq!(count(&parsed, "failure"), 1);
    }

    #[test]
    fn the_score_rows_fail_exactly_where_a_goal_is_missed() {
        let cases_of = |score: &MutationScore| {
            let parsed =
                parse(&campaign_suite("mutants", &[], UnknownAs::Error, Some(score)).unwrap());
            assert_eq!(
                parsed.names,
                [
                    "mutation/raft+forget-vote/pause",
                    "correct/raft/pause/pause"
                ]
            );
            (count(&parsed, "failure"), parsed.messages)
        };
        assert_eq!(cases_of(&score(5, Some(14_750.0), 20)).0, 0, "goals met");
        let (failures, messages) = cases_of(&score(0, None, 20));
        assert_eq!(failures, 1);
        assert!(
            messages[0].starts_with(
                "not detected: no run failed a checker that raft/pause never fails on pause"
            ),
            "{messages:?}"
        );
        let (failures, messages) = cases_of(&score(4, None, 20));
        assert_eq!(failures, 1);
        assert!(
            messages[0].starts_with(
                "median first violation never (fewer than half the runs caught) over the 30 s goal"
            ),
            "{messages:?}"
        );
        let (failures, _) = cases_of(&score(6, Some(31_000.0), 20));
        assert_eq!(failures, 1, "too slow");
        let (failures, messages) = cases_of(&score(6, Some(3_000.0), 10));
        assert_eq!(failures, 1);
        assert!(
            messages[0].starts_with("10 seeds, the score needs 20 per preset"),
            "{messages:?}"
        );
        let mut unsafe_variant = score(6, Some(3_000.0), 20);
        unsafe_variant.baselines[0].safety_violation_runs = 1;
        let (failures, messages) = cases_of(&unsafe_variant);
        assert_eq!(failures, 1);
        assert!(
            messages[0].starts_with("a correct variant broke safety"),
            "{messages:?}"
        );
        // While runs are missing the score is not final: one more case errs.
        let mut incomplete = score(6, Some(3_000.0), 20);
        incomplete.complete = false;
        let parsed =
            parse(&campaign_suite("mutants", &[], UnknownAs::Error, Some(&incomplete)).unwrap());
        assert_eq!(parsed.names.last().unwrap(), "mutation/complete");
        assert_eq!((count(&parsed, "failure"), count(&parsed, "error")), (0, 1));
    }

    #[test]
    fn only_the_skip_count_attribute_is_rewritten() {
        let raw = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
            <testsuites name=\"a &amp; b\" tests=\"1\">\n    \
            <testsuite name=\"x &quot;y&quot; disabled=\" tests=\"1\" disabled=\"2\" errors=\"0\">\n        \
            <testcase name=\"c\"><skipped/><system-out>a &lt;b&gt; &amp; \"q\" ]]&gt; \u{e9}</system-out></testcase>\n    \
            </testsuite>\n\
            </testsuites>\n";
        assert_eq!(
            skipped_not_disabled(raw).unwrap(),
            raw.replace(" disabled=\"2", " skipped=\"2")
        );
    }

    #[test]
    fn awkward_text_is_escaped() {
        let header = fixture::header();
        let mut report = fixture::report();
        report.results[0].evidence[0].message = "a <b> & \"c\" ]]> \u{1}".into();
        let xml = run_suite(&RunCase::checked(&header, &report), UnknownAs::Error).unwrap();
        let parsed = parse(&xml);
        assert!(
            parsed.messages[0].contains("a <b> & \"c\" ]]>"),
            "{}",
            parsed.messages[0]
        );
    }
}
