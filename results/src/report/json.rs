//! `results.json`: the machine-readable outcome of one run.
//!
//! # Schema (format 1)
//!
//! ```json
//! {
//!   "format": 1,
//!   "verdict": "valid" | "invalid" | "unknown",
//!   "header": { ...the run header, exactly as the `run` line of history.jsonl... },
//!   "report": {
//!     "results": [
//!       { "checker": "term-uniqueness", "verdict": "invalid", "figure": "4 terms, 1 conflict",
//!         "evidence": [ { "seqs": [27, 30], "window": [15420000000, 15610000000],
//!                         "nodes": ["n1", "n3"], "message": "..." } ],
//!         "details": { ...checker-specific figures... } }
//!     ],
//!     "elections": [ { "term": 1, "leader": "n2", "elected_at": 330000000,
//!                      "lost_at": 5000000000, "how": "killed", "seq": 11 } ],
//!     "warnings": [ "..." ],
//!     "events": 44
//!   }
//! }
//! ```
//!
//! - `format` is the version of this schema (not of the history); it changes
//!   only when a field is removed or changes meaning. New fields may appear in
//!   any version: readers must ignore what they do not know.
//! - `verdict` repeats `Report::verdict()` so a script needs no logic:
//!   `jq -r .verdict results.json`.
//! - Times are nanoseconds since the run started (the history's clock);
//!   `lost_at` is `null` for a leader still leading at the end.
//! - `seqs` point at lines of `history.jsonl` beside this file.
//! - `details` keys are owned by each checker and documented with it.

use checkers::{Report, RunHeader, Verdict};
use serde::{Deserialize, Serialize};

use super::ReportError;

/// The `results.json` schema version written by this build.
pub const RESULTS_FORMAT: u32 = 1;

/// A parsed `results.json` (see the module docs for the schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsFile {
    /// Schema version; see [`RESULTS_FORMAT`].
    pub format: u32,
    /// The run's verdict, as `report.verdict()`.
    pub verdict: Verdict,
    /// The run header the checkers judged by.
    pub header: RunHeader,
    /// Everything the checkers concluded.
    pub report: Report,
}

/// The same document, borrowed, so writing it needs no clone of the report.
#[derive(Serialize)]
struct ResultsFileRef<'a> {
    format: u32,
    verdict: Verdict,
    header: &'a RunHeader,
    report: &'a Report,
}

impl ResultsFile {
    /// Bundle a header and a report, filling in the format and the verdict.
    pub fn new(header: RunHeader, report: Report) -> Self {
        ResultsFile {
            format: RESULTS_FORMAT,
            verdict: report.verdict(),
            header,
            report,
        }
    }
}

/// `results.json` text (pretty-printed, newline-terminated) for one run.
pub fn render(header: &RunHeader, report: &Report) -> Result<String, ReportError> {
    let document = ResultsFileRef {
        format: RESULTS_FORMAT,
        verdict: report.verdict(),
        header,
        report,
    };
    let mut text = serde_json::to_string_pretty(&document)?;
    text.push('\n');
    Ok(text)
}

/// Read a `results.json`; refuses a newer format rather than misreading it.
pub fn parse(text: &str) -> Result<ResultsFile, ReportError> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    let format = value
        .get("format")
        .and_then(serde_json::Value::as_u64)
        .ok_or(ReportError::MissingFormat)?;
    if format > u64::from(RESULTS_FORMAT) {
        return Err(ReportError::UnsupportedFormat {
            found: format,
            supported: RESULTS_FORMAT,
        });
    }
    Ok(serde_json::from_value(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn round_trips() {
        let header = fixture::header();
        let report = fixture::report();
        let text = render(&header, &report).unwrap();
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed, ResultsFile::new(header, report));
        assert_eq!(parsed.verdict, Verdict::Invalid);
        assert_eq!(parsed.format, 1);
    }

    #[test]
    fn top_level_shape_is_stable() {
        let text = render(&fixture::header(), &fixture::report()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 4);
        for key in ["format", "verdict", "header", "report"] {
            assert!(keys.contains(&key), "{keys:?}");
        }
        assert_eq!(value["verdict"], "invalid");
        assert_eq!(value["header"]["target"], "raft");
        assert_eq!(value["report"]["results"][0]["evidence"][0]["seqs"][1], 30);
        assert!(value["report"]["elections"][4]["lost_at"].is_null());
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn unknown_fields_are_ignored_and_newer_formats_refused() {
        let text = render(&fixture::header(), &fixture::report()).unwrap();
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["added_later"] = serde_json::json!({"x": 1});
        assert!(parse(&value.to_string()).is_ok());
        value["format"] = 2.into();
        assert!(matches!(
            parse(&value.to_string()),
            Err(ReportError::UnsupportedFormat { found: 2, .. })
        ));
        value.as_object_mut().unwrap().remove("format");
        assert!(matches!(
            parse(&value.to_string()),
            Err(ReportError::MissingFormat)
        ));
        assert!(matches!(parse("{"), Err(ReportError::Json(_))));
    }
}
