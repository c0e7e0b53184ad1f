//! Defensive readers of `CheckResult.details`.
//!
//! `details` is free-form JSON owned by each checker, so every reader here
//! treats a missing or oddly-typed key as "no figure" and never panics; the
//! renderers then leave the table out. The shapes understood (documented so
//! checkers and reports can meet in the middle):
//!
//! - `election-gap` → `details.by_fault` (alias `per_fault`, `by_fault_kind`):
//!   either an object `{ "<fault kind>": {count, p50_ms, p95_ms, p99_ms, max_ms} }`
//!   or an array of such objects with a `fault` (or `kind`) key. Each
//!   percentile may be given as `p50_ms`, `p50` (milliseconds), `p50_ns` or
//!   `p50_s`.
//! - `election-gap` → `details.gaps`: an array of
//!   `{from, to, fault, length_ms}`; `from`/`to` are nanoseconds since the
//!   run started (aliases `start`/`end`, `opened_at`/`closed_at`, `*_ns`, or
//!   a `window: [from, to]`); `to: null` is a gap still open at the end;
//!   `fault` (alias `blame`, `kind`) is the fault kind it is blamed on;
//!   `length_ms`/`length_ns` is the counted length (healthy-quorum time only).
//!   When `by_fault` is absent, the statistics are computed from `gaps`.
//! - `lease-overlap` and `stability` → every scalar key (and scalars one
//!   object level down) becomes a row of the figures table; keys ending in
//!   `_ns` are shown in milliseconds.

use checkers::{Nanos, Report};
use serde_json::{Map, Value};

/// The election-gap checker's name (contract 4).
pub const ELECTION_GAP: &str = "election-gap";
/// Checkers whose `details` are shown as the overlap/stability figures table.
pub const FIGURE_CHECKERS: [&str; 2] = ["lease-overlap", "stability"];

/// Election-gap statistics for the gaps blamed on one fault kind, in
/// milliseconds; a percentile the checker did not report is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct GapStats {
    /// The fault kind the gaps are blamed on (`kill`, `partition`, ...).
    pub fault: String,
    /// Number of gaps.
    pub count: u64,
    /// Median gap length.
    pub p50_ms: Option<f64>,
    /// 95th percentile gap length.
    pub p95_ms: Option<f64>,
    /// 99th percentile gap length.
    pub p99_ms: Option<f64>,
    /// Longest gap.
    pub max_ms: Option<f64>,
}

/// One leaderless stretch, for drawing on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    /// When it opened.
    pub from: Nanos,
    /// When it closed; `None` when still open at the end of the history.
    pub to: Option<Nanos>,
    /// The fault kind it is blamed on, when the checker said.
    pub fault: Option<String>,
    /// The counted length (healthy-quorum time only), when the checker said.
    pub length_ms: Option<f64>,
}

/// A stretch of a run without a healthy quorum, as `election-gap` names it.
#[derive(Debug, Clone, PartialEq)]
pub struct NoQuorum {
    /// When it began.
    pub from: Nanos,
    /// When a quorum was back (or the run's end).
    pub to: Nanos,
    /// Its length, ms.
    pub length_ms: f64,
    /// Why: majority dead or paused, or links down.
    pub why: String,
    /// The fault in force when it began.
    pub fault: String,
}

/// Every stretch without a quorum `election-gap` listed (none when it
/// listed none, or an older report has no such key).
pub fn no_quorum(report: &Report) -> Vec<NoQuorum> {
    let Some(details) = details_of(report, ELECTION_GAP) else {
        return Vec::new();
    };
    let Some(Value::Array(stretches)) = details
        .get("no_quorum")
        .and_then(|v| v.as_object())
        .and_then(|o| o.get("stretches"))
    else {
        return Vec::new();
    };
    stretches
        .iter()
        .filter_map(|s| {
            Some(NoQuorum {
                from: s.get("from_ns")?.as_u64()?,
                to: s.get("to_ns")?.as_u64()?,
                length_ms: s.get("length_ms")?.as_f64()?,
                why: s.get("why")?.as_str()?.to_string(),
                fault: s.get("fault")?.as_str().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// One named figure from a checker's details (`live_total_ms = 12.5`).
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The checker that reported it.
    pub checker: String,
    /// The key, with a nested object's key joined by a space, `_ns` made `_ms`
    /// and underscores shown as spaces (`live total ms`).
    pub name: String,
    /// The value, ready to print.
    pub value: String,
}

fn details_of<'a>(report: &'a Report, checker: &str) -> Option<&'a Map<String, Value>> {
    report
        .results
        .iter()
        .find(|r| r.checker == checker)
        .and_then(|r| r.details.as_object())
}

fn first_key<'a>(object: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter()
        .find_map(|k| object.get(*k).filter(|v| !v.is_null()))
}

/// A duration under `base` in any of the accepted units, in milliseconds.
fn millis(object: &Map<String, Value>, base: &str) -> Option<f64> {
    let get = |suffix: &str| {
        object
            .get(&format!("{base}{suffix}"))
            .and_then(Value::as_f64)
    };
    get("_ms")
        .or_else(|| get(""))
        .or_else(|| get("_ns").map(|ns| ns / 1e6))
        .or_else(|| get("_s").map(|s| s * 1e3))
}

/// A nanosecond instant under any of `keys` (their `_ns` forms included).
fn instant(object: &Map<String, Value>, keys: &[&str]) -> Option<Nanos> {
    keys.iter().find_map(|k| {
        object
            .get(*k)
            .or_else(|| object.get(&format!("{k}_ns")))
            .and_then(Value::as_f64)
            .filter(|v| *v >= 0.0)
            .map(|v| v as Nanos)
    })
}

fn stats_from_object(fault: String, object: &Map<String, Value>) -> GapStats {
    let count = first_key(object, &["count", "n", "gaps"])
        .and_then(Value::as_f64)
        .map(|c| c.max(0.0) as u64)
        .unwrap_or(0);
    GapStats {
        fault,
        count,
        p50_ms: millis(object, "p50"),
        p95_ms: millis(object, "p95"),
        p99_ms: millis(object, "p99"),
        max_ms: millis(object, "max"),
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn stats_from_gaps(gaps: &[Gap]) -> Vec<GapStats> {
    let mut by_fault: Vec<(String, Vec<f64>)> = Vec::new();
    for gap in gaps {
        let Some(length) = gap
            .length_ms
            .or_else(|| gap.to.map(|to| to.saturating_sub(gap.from) as f64 / 1e6))
        else {
            continue;
        };
        let fault = gap.fault.clone().unwrap_or_else(|| "none".to_string());
        match by_fault.iter_mut().find(|(f, _)| *f == fault) {
            Some((_, lengths)) => lengths.push(length),
            None => by_fault.push((fault, vec![length])),
        }
    }
    by_fault
        .into_iter()
        .map(|(fault, mut lengths)| {
            lengths.sort_by(f64::total_cmp);
            GapStats {
                fault,
                count: lengths.len() as u64,
                p50_ms: percentile(&lengths, 50.0),
                p95_ms: percentile(&lengths, 95.0),
                p99_ms: percentile(&lengths, 99.0),
                max_ms: lengths.last().copied(),
            }
        })
        .collect()
}

/// Gap statistics per fault kind, from the election-gap checker's details;
/// empty when it did not run or reported none.
pub fn gap_stats(report: &Report) -> Vec<GapStats> {
    let Some(details) = details_of(report, ELECTION_GAP) else {
        return Vec::new();
    };
    match first_key(details, &["by_fault", "per_fault", "by_fault_kind"]) {
        Some(Value::Object(per_fault)) => per_fault
            .iter()
            .filter_map(|(fault, stats)| {
                stats
                    .as_object()
                    .map(|o| stats_from_object(fault.clone(), o))
            })
            .collect(),
        Some(Value::Array(rows)) => rows
            .iter()
            .filter_map(Value::as_object)
            .map(|o| {
                let fault = first_key(o, &["fault", "kind", "fault_kind"])
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string();
                stats_from_object(fault, o)
            })
            .collect(),
        _ => stats_from_gaps(&detail_gaps(details)),
    }
}

fn detail_gaps(details: &Map<String, Value>) -> Vec<Gap> {
    let Some(Value::Array(items)) = details.get("gaps") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|o| {
            let window = o.get("window").and_then(Value::as_array);
            let window_at = |i: usize| {
                window
                    .and_then(|w| w.get(i))
                    .and_then(Value::as_f64)
                    .map(|v| v.max(0.0) as Nanos)
            };
            let from = instant(o, &["from", "start", "opened_at"]).or_else(|| window_at(0))?;
            let to = instant(o, &["to", "end", "closed_at"]).or_else(|| window_at(1));
            let fault = first_key(o, &["fault", "blame", "kind", "fault_kind"])
                .and_then(Value::as_str)
                .map(str::to_string);
            Some(Gap {
                from,
                to: to.map(|to| to.max(from)),
                fault,
                length_ms: millis(o, "length").or_else(|| millis(o, "duration")),
            })
        })
        .collect()
}

/// Every election gap the checker reported: from `details.gaps`, or else
/// from its evidence windows (which cover at least the gaps over the bound).
pub fn gaps(report: &Report) -> Vec<Gap> {
    let from_details = details_of(report, ELECTION_GAP)
        .map(detail_gaps)
        .unwrap_or_default();
    if !from_details.is_empty() {
        return from_details;
    }
    report
        .results
        .iter()
        .filter(|r| r.checker == ELECTION_GAP)
        .flat_map(|r| r.evidence.iter())
        .map(|e| Gap {
            from: e.window[0],
            to: Some(e.window[1].max(e.window[0])),
            fault: None,
            length_ms: None,
        })
        .collect()
}

/// Print a number without float noise: integers as integers, else 3 decimals.
pub fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value:.3}")
    }
}

fn push_figure(figures: &mut Vec<Figure>, checker: &str, name: String, value: &Value) {
    let (name, text) = match value {
        Value::Number(n) => match (name.strip_suffix("_ns"), n.as_f64()) {
            (Some(stem), Some(ns)) => (format!("{stem}_ms"), format_number(ns / 1e6)),
            (_, Some(v)) => (name, format_number(v)),
            (_, None) => (name, n.to_string()),
        },
        Value::String(s) => (name, s.clone()),
        Value::Bool(b) => (name, b.to_string()),
        _ => return,
    };
    figures.push(Figure {
        checker: checker.to_string(),
        name: name.replace('_', " "),
        value: text,
    });
}

/// The overlap and stability figures: every scalar in those checkers' details.
pub fn figures(report: &Report) -> Vec<Figure> {
    let mut figures = Vec::new();
    for checker in FIGURE_CHECKERS {
        let Some(details) = details_of(report, checker) else {
            continue;
        };
        for (key, value) in details {
            match value {
                Value::Object(inner) => {
                    for (inner_key, inner_value) in inner {
                        push_figure(
                            &mut figures,
                            checker,
                            format!("{key} {inner_key}"),
                            inner_value,
                        );
                    }
                }
                other => push_figure(&mut figures, checker, key.clone(), other),
            }
        }
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::{CheckResult, Verdict};
    use serde_json::json;

    fn report_with(checker: &str, details: Value) -> Report {
        Report {
            results: vec![CheckResult {
                checker: checker.into(),
                verdict: Verdict::Valid,
                figure: String::new(),
                evidence: vec![],
                details,
            }],
            elections: vec![],
            warnings: vec![],
            events: 0,
        }
    }

    #[test]
    fn odd_details_give_no_figures_and_no_panic() {
        for details in [
            Value::Null,
            json!(3),
            json!("x"),
            json!([]),
            json!({"by_fault": 7}),
            json!({"by_fault": {"kill": "fast"}}),
            json!({"gaps": [1, null, {"to": 5}]}),
            json!({"by_fault": [{"count": -3}]}),
        ] {
            let report = report_with(ELECTION_GAP, details.clone());
            let stats = gap_stats(&report);
            assert!(stats.iter().all(|s| s.p50_ms.is_none()), "{details}");
            assert!(gaps(&report).is_empty(), "{details}");
            assert!(figures(&report_with("stability", details)).len() <= 1);
        }
    }

    #[test]
    fn stats_read_in_any_unit_and_shape() {
        let report = report_with(
            ELECTION_GAP,
            json!({"by_fault": {"kill": {"count": 2, "p50_ms": 310.0, "p95": 420, "p99_ns": 430e6, "max_s": 0.44}}}),
        );
        assert_eq!(
            gap_stats(&report),
            vec![GapStats {
                fault: "kill".into(),
                count: 2,
                p50_ms: Some(310.0),
                p95_ms: Some(420.0),
                p99_ms: Some(430.0),
                max_ms: Some(440.0),
            }]
        );
        let array = report_with(
            ELECTION_GAP,
            json!({"per_fault": [{"fault": "pause", "n": 1, "max_ms": 9}]}),
        );
        assert_eq!(gap_stats(&array)[0].fault, "pause");
        assert_eq!(gap_stats(&array)[0].max_ms, Some(9.0));
    }

    #[test]
    fn stats_fall_back_to_gap_list() {
        let report = report_with(
            ELECTION_GAP,
            json!({"gaps": [
                {"from": 1_000_000_000u64, "to": 1_300_000_000u64, "fault": "kill"},
                {"window": [2_000_000_000u64, 2_100_000_000u64], "fault": "kill", "length_ms": 80},
                {"start_ns": 5_000_000_000u64, "end": null, "blame": "partition"},
            ]}),
        );
        let gaps = gaps(&report);
        assert_eq!(gaps.len(), 3);
        assert_eq!(gaps[2].to, None);
        let stats = gap_stats(&report);
        assert_eq!(stats.len(), 1, "the open gap has no length yet");
        assert_eq!(stats[0].count, 2);
        assert_eq!(stats[0].p50_ms, Some(80.0));
        assert_eq!(stats[0].max_ms, Some(300.0));
    }

    #[test]
    fn figures_flatten_one_level_and_convert_nanos() {
        let report = report_with(
            "lease-overlap",
            json!({"live": {"total_ns": 1_500_000u64, "longest_ms": 1.25}, "pairs": 2, "list": [1]}),
        );
        let mut names: Vec<(String, String)> = figures(&report)
            .into_iter()
            .map(|f| (f.name, f.value))
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                ("live longest ms".to_string(), "1.250".to_string()),
                ("live total ms".to_string(), "1.500".to_string()),
                ("pairs".to_string(), "2".to_string()),
            ]
        );
    }
}
