//! Reports of a checked run, one module per audience.
//!
//! Every renderer is a pure function of the run header, the checkers'
//! [`Report`] and (for the HTML timeline) the history records: no I/O, so the
//! controller, `splitbrain check` and campaign drivers can all call them and
//! decide where the output goes.
//!
//! - [`terminal`]: comfy-tables for a person at a shell.
//! - [`json`]: the stable `results.json` schema for scripts.
//! - [`markdown`]: the same tables as GitHub-flavoured Markdown.
//! - [`junit`]: JUnit XML for CI servers.
//! - [`html`]: one self-contained page with a timeline of the run.
//! - [`details`]: defensive readers of the checkers' free-form `details`.

pub mod campaign;
pub use crate::evidence::{evidence_pointer, shorten};
/// Figures read out of a report's checker details (kept at the crate's
/// root so campaign aggregation can use them without depending on the
/// renderers).
pub use crate::figures as details;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod mutation;
pub mod terminal;

use checkers::{Nanos, Report, RunHeader, Verdict};

/// Everything that can go wrong while rendering or reading a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `results.json` (or a report) could not be serialized or parsed.
    #[error("results JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JUnit document could not be written.
    #[error("JUnit XML: {0}")]
    Junit(#[from] quick_junit::SerializeError),
    /// The JUnit document could not be rewritten to the schema CI servers accept.
    #[error("JUnit XML: {0}")]
    JunitRewrite(#[from] quick_xml::Error),
    /// A `results.json` written by a newer splitbrain than this one.
    #[error("results.json format {found} is newer than this build understands ({supported})")]
    UnsupportedFormat {
        /// The `format` field found in the file.
        found: u64,
        /// The newest format this build reads.
        supported: u32,
    },
    /// A `results.json` without a `format` field is not one of ours.
    #[error("not a splitbrain results.json: no numeric `format` field")]
    MissingFormat,
}

/// Seconds with three decimals (`3.200`), the unit every table uses for instants.
pub fn format_seconds(nanos: Nanos) -> String {
    format!("{:.3}", nanos as f64 / 1e9)
}

/// `verdict: valid (9 checkers: 9 valid)`: the one line a person reads first.
pub fn summary_line(report: &Report) -> String {
    let count = |verdict: Verdict| {
        report
            .results
            .iter()
            .filter(|r| r.verdict == verdict)
            .count()
    };
    let parts: Vec<String> = [Verdict::Valid, Verdict::Invalid, Verdict::Unknown]
        .into_iter()
        .map(|v| (v, count(v)))
        .filter(|(_, n)| *n > 0)
        .map(|(v, n)| format!("{n} {v}"))
        .collect();
    let checkers = report.results.len();
    let noun = if checkers == 1 { "checker" } else { "checkers" };
    if parts.is_empty() {
        format!("verdict: {} (no checkers ran)", report.verdict())
    } else {
        format!(
            "verdict: {} ({checkers} {noun}: {})",
            report.verdict(),
            parts.join(", ")
        )
    }
}

/// `target/preset/seed`: the name a run goes by in CI and in campaign tables.
pub fn run_name(header: &RunHeader) -> String {
    let preset = if header.nemesis.is_empty() {
        "default"
    } else {
        header.nemesis.as_str()
    };
    format!("{}/{}/{}", header.target, preset, header.seed)
}

/// `raft · 5 nodes · nemesis partition · seed 42`: the run's identity in one line.
fn header_line(header: &RunHeader) -> String {
    let mut parts = vec![
        format!("target {}", header.target),
        format!("{} nodes", header.nodes.len()),
    ];
    if !header.nemesis.is_empty() {
        parts.push(format!("nemesis {}", header.nemesis));
    }
    parts.push(format!("seed {}", header.seed));
    parts.push(format!("gap bound {} ms", header.gap_bound_ms));
    if header.exclusive {
        parts.push("exclusive".to_string());
    }
    if header.persistent_term {
        parts.push("persistent term".to_string());
    }
    format!("run: {}", parts.join(" · "))
}

/// How long a tenure lasted, or `—` while it had not ended.
fn held_for(elected_at: Nanos, lost_at: Option<Nanos>) -> String {
    match lost_at {
        Some(lost) => format_seconds(lost.saturating_sub(elected_at)),
        None => "—".to_string(),
    }
}

#[cfg(test)]
pub(crate) mod fixture;

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::Evidence;

    #[test]
    fn evidence_pointer_names_seqs_window_and_message() {
        let evidence = Evidence {
            seqs: vec![41, 57],
            window: [3_200_000_000, 3_450_000_000],
            nodes: vec!["n1".into(), "n2".into()],
            message: "n1 and n2 both claimed term 4".into(),
        };
        assert_eq!(
            evidence_pointer(&evidence, 80),
            "seq 41, 57 @ 3.20–3.45 s: n1 and n2 both claimed term 4"
        );
        assert_eq!(
            evidence_pointer(&evidence, 10),
            "seq 41, 57 @ 3.20–3.45 s: n1 and n2…"
        );
    }

    #[test]
    fn many_seqs_are_elided() {
        let evidence = Evidence {
            seqs: (1..=7).collect(),
            window: [0, 0],
            nodes: vec![],
            message: String::new(),
        };
        assert_eq!(
            evidence_pointer(&evidence, 80),
            "seq 1, 2, 3, 4, +3 @ 0.00 s"
        );
    }

    #[test]
    fn summary_counts_verdicts() {
        let report = fixture::report();
        assert_eq!(
            summary_line(&report),
            "verdict: invalid (6 checkers: 4 valid, 1 invalid, 1 unknown)"
        );
        let empty = Report {
            results: vec![],
            elections: vec![],
            warnings: vec![],
            events: 0,
        };
        assert_eq!(summary_line(&empty), "verdict: valid (no checkers ran)");
    }

    #[test]
    fn run_name_is_target_preset_seed() {
        let header = fixture::header();
        assert_eq!(run_name(&header), "raft/partition-kill-pause/42");
    }
}
