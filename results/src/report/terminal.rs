//! The tables a person reads at the end of `splitbrain run` / `check`.
//!
//! Layout: the run line, one row per checker (verdict, key figure, where the
//! first evidence is), the elections seen, election-gap statistics per fault
//! kind and the overlap/stability figures when the checkers reported them,
//! warnings, and the one-line verdict summary last so it is what stays on
//! screen.

use std::io::IsTerminal;

use checkers::{Report, RunHeader, Verdict};
use comfy_table::{presets, Attribute, Cell, CellAlignment, Color, ContentArrangement, Table};

use super::details::{self, format_number};
use super::{evidence_pointer, format_seconds, header_line, held_for, shorten, summary_line};

/// Widest a table may grow, so reports stay readable in CI logs and 120-column terminals.
pub const MAX_WIDTH: u16 = 120;

/// How to draw: colour only for a terminal (CI logs and files get plain text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Colour the verdicts with ANSI escapes.
    pub color: bool,
    /// Table width limit in columns (at most [`MAX_WIDTH`] is sensible).
    pub width: u16,
}

impl Default for Style {
    /// Plain text, [`MAX_WIDTH`] columns: safe for files and logs.
    fn default() -> Self {
        Style {
            color: false,
            width: MAX_WIDTH,
        }
    }
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset (no-color.org).
    pub fn for_stdout() -> Self {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Style {
            color,
            width: MAX_WIDTH,
        }
    }
}

/// A table in the reports' one look (condensed UTF-8, wrapped to the
/// style's width, colour only when asked for).
pub(crate) fn new_table(style: Style, header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(style.width);
    if style.color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table.set_header(header.to_vec());
    table
}

fn verdict_cell(verdict: Verdict, style: Style) -> Cell {
    let cell = Cell::new(verdict);
    if !style.color {
        return cell;
    }
    match verdict {
        Verdict::Valid => cell.fg(Color::Green),
        Verdict::Invalid => cell.fg(Color::Red).add_attribute(Attribute::Bold),
        Verdict::Unknown => cell.fg(Color::Yellow),
    }
}

fn right(text: impl ToString) -> Cell {
    Cell::new(text).set_alignment(CellAlignment::Right)
}

/// The checker table: checker, verdict, key figure, first evidence.
pub fn checkers_table(report: &Report, style: Style) -> Table {
    let mut table = new_table(style, &["checker", "verdict", "figure", "evidence"]);
    for result in &report.results {
        let evidence = match result.evidence.split_first() {
            None => String::new(),
            Some((first, rest)) => {
                let pointer = evidence_pointer(first, 60);
                if rest.is_empty() {
                    pointer
                } else {
                    format!("{pointer} (+{} more)", rest.len())
                }
            }
        };
        table.add_row(vec![
            Cell::new(&result.checker),
            verdict_cell(result.verdict, style),
            Cell::new(&result.figure),
            Cell::new(evidence),
        ]);
    }
    table
}

/// The elections table: one row per leadership tenure, times in seconds.
pub fn elections_table(report: &Report, style: Style) -> Table {
    let mut table = new_table(
        style,
        &["term", "leader", "elected at", "lost at", "held for", "how"],
    );
    for election in &report.elections {
        table.add_row(vec![
            right(election.term),
            Cell::new(&election.leader),
            right(format_seconds(election.elected_at)),
            right(election.lost_at.map_or("—".to_string(), format_seconds)),
            right(held_for(election.elected_at, election.lost_at)),
            Cell::new(&election.how),
        ]);
    }
    table
}

/// Every stretch without a quorum (no election could succeed; gaps exclude
/// them), or `None` when the run had none.
pub fn no_quorum_table(report: &Report, style: Style) -> Option<Table> {
    let stretches = details::no_quorum(report);
    if stretches.is_empty() {
        return None;
    }
    let mut table = new_table(style, &["from", "to", "length ms", "why", "after"]);
    for s in stretches {
        table.add_row(vec![
            right(format_seconds(s.from)),
            right(format_seconds(s.to)),
            right(format_number(s.length_ms)),
            Cell::new(s.why),
            Cell::new(s.fault),
        ]);
    }
    Some(table)
}

fn optional_ms(value: Option<f64>) -> String {
    value.map_or("—".to_string(), format_number)
}

/// Election-gap statistics per fault kind (ms), or `None` when not reported.
pub fn gap_table(report: &Report, style: Style) -> Option<Table> {
    let stats = details::gap_stats(report);
    if stats.is_empty() {
        return None;
    }
    let mut table = new_table(
        style,
        &[
            "gaps after",
            "count",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
        ],
    );
    for row in stats {
        table.add_row(vec![
            Cell::new(row.fault),
            right(row.count),
            right(optional_ms(row.p50_ms)),
            right(optional_ms(row.p95_ms)),
            right(optional_ms(row.p99_ms)),
            right(optional_ms(row.max_ms)),
        ]);
    }
    Some(table)
}

/// The earliest piece of evidence of any invalid checker, in two lines
/// (which checker, where in the history; then what it says), or `None` for
/// a run with no violation. (The overlap and stability figures the checker
/// rows summarise are in `--json`, report.md and report.html; the terminal
/// keeps to the rows.)
fn first_violation(report: &Report) -> Option<String> {
    let (r, e) = report
        .results
        .iter()
        .filter(|r| r.verdict == Verdict::Invalid)
        .filter_map(|r| r.evidence.first().map(|e| (r, e)))
        .min_by_key(|(_, e)| (e.window[0], e.seqs.first().copied().unwrap_or(u64::MAX)))?;
    let pointer = evidence_pointer(e, 0);
    let place = pointer.split(": ").next().unwrap_or(&pointer);
    Some(format!(
        "first violation: {} {place}\n  {}\n",
        r.checker,
        shorten(&e.message, 116)
    ))
}

fn colored_summary(report: &Report, style: Style) -> String {
    let line = summary_line(report);
    if !style.color {
        return line;
    }
    let code = match report.verdict() {
        Verdict::Valid => "32",
        Verdict::Invalid => "1;31",
        Verdict::Unknown => "33",
    };
    format!("\x1b[{code}m{line}\x1b[0m")
}

/// The whole terminal report, ending with a newline.
pub fn render(report: &Report, header: Option<&RunHeader>, style: Style) -> String {
    let mut out = String::new();
    if let Some(header) = header {
        out.push_str(&header_line(header));
        out.push('\n');
    }
    // The verdict first, and for an invalid run where to look, before any
    // table; the same line closes the report (cargo-style), after them.
    out.push_str(&colored_summary(report, style));
    out.push('\n');
    if let Some(first) = first_violation(report) {
        out.push_str(&first);
    }
    out.push_str(&checkers_table(report, style).to_string());
    out.push('\n');
    if report.elections.is_empty() {
        out.push_str("no leader was ever elected\n");
    } else {
        out.push_str(&format!("elections ({}):\n", report.elections.len()));
        out.push_str(&elections_table(report, style).to_string());
        out.push('\n');
    }
    if let Some(table) = no_quorum_table(report, style) {
        out.push_str("without a quorum (no election possible; not gaps):\n");
        out.push_str(&table.to_string());
        out.push('\n');
    }
    if let Some(table) = gap_table(report, style) {
        out.push_str("election gaps by fault kind:\n");
        out.push_str(&table.to_string());
        out.push('\n');
    }
    for warning in &report.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    if let Some(replay) = header.and_then(|h| h.replay.as_deref()) {
        out.push_str(&format!("replay: {replay}\n"));
    }
    out.push_str(&colored_summary(report, style));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;
    use checkers::CheckResult;
    use serde_json::json;

    fn plain() -> Style {
        Style::default()
    }

    #[test]
    fn shows_checkers_verdicts_and_elections() {
        let report = fixture::report();
        let text = render(&report, Some(&fixture::header()), plain());
        println!("{text}");
        for result in &report.results {
            assert!(text.contains(&result.checker), "{text}");
        }
        for verdict in ["valid", "invalid", "unknown"] {
            assert!(text.contains(verdict), "{text}");
        }
        assert!(
            text.contains("seq 27, 30 @ 15.42–15.61 s: term 3 claimed"),
            "{text}"
        );
        let election_rows: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("killed") || l.contains("paused") || l.contains("end of run"))
            .collect();
        assert_eq!(election_rows.len(), 3, "{text}");
        assert!(text.contains("0.330"), "elected at, 3 decimals: {text}");
        assert!(text.contains("4.670"), "held for: {text}");
        assert!(text.contains("elections (5):"));
        assert!(text.contains("isolate"), "gap table: {text}");
        // The verdict and the first violation open the report.
        let top: Vec<&str> = text.lines().skip(1).take(3).collect();
        assert_eq!(
            top[0], "verdict: invalid (6 checkers: 4 valid, 1 invalid, 1 unknown)",
            "{text}"
        );
        assert!(
            top[1].starts_with("first violation: term-uniqueness seq 27, 30 @ 15.42–15.61 s"),
            "{text}"
        );
        assert!(top[2].starts_with("  term 3 claimed"), "{text}");
        assert!(
            !text.contains("belief total ms"),
            "no figures table: {text}"
        );
        assert!(text.contains("warning: 1 garbage line from n2"));
        assert!(text.contains("replay: splitbrain run --target raft"));
        assert!(text
            .trim_end()
            .ends_with("verdict: invalid (6 checkers: 4 valid, 1 invalid, 1 unknown)"));
        assert!(!text.contains('\x1b'), "no colour when not asked");
    }

    #[test]
    fn stretches_without_a_quorum_get_a_table_of_their_own() {
        let mut report = fixture::report();
        let gap = report
            .results
            .iter_mut()
            .find(|r| r.checker == "election-gap")
            .unwrap();
        gap.details["no_quorum"] = json!({"count": 1, "stretches": [{
            "from_ns": 1_000_000_000u64, "to_ns": 3_500_000_000u64, "length_ms": 2500.0,
            "why": "majority down: 3 dead of 5", "fault": "kill", "fault_seq": 7}]});
        let text = render(&report, None, plain());
        assert!(
            text.contains("without a quorum (no election possible; not gaps):"),
            "{text}"
        );
        let row = text
            .lines()
            .find(|l| l.contains("majority down: 3 dead of 5"))
            .unwrap_or_else(|| panic!("{text}"));
        for cell in ["1.000", "3.500", "2500", "kill"] {
            assert!(row.contains(cell), "{cell}: {row}");
        }
        let md = crate::report::markdown::render(&report, None);
        assert!(md.contains("Without a quorum"), "{md}");
        assert!(
            md.contains("| 1.000 | 3.500 | 2500 | majority down: 3 dead of 5 | kill |"),
            "{md}"
        );
    }

    #[test]
    fn tables_fit_in_120_columns() {
        let mut report = fixture::report();
        report.results[0].evidence[0].message = "a very long explanation ".repeat(20);
        report.results[0].figure = "a long figure ".repeat(10);
        let text = render(&report, Some(&fixture::header()), plain());
        for line in text.lines().filter(|l| !l.starts_with("replay:")) {
            assert!(
                line.chars().count() <= 120,
                "{} wide: {line}",
                line.chars().count()
            );
        }
    }

    #[test]
    fn colour_is_a_parameter() {
        let style = Style {
            color: true,
            width: 100,
        };
        let text = render(&fixture::report(), None, style);
        assert!(text.contains("\x1b["), "{text}");
    }

    #[test]
    fn missing_details_do_not_panic_and_omit_tables() {
        let mut report = fixture::report();
        for result in &mut report.results {
            result.details = serde_json::Value::Null;
        }
        report.elections.clear();
        let text = render(&report, None, plain());
        assert!(!text.contains("election gaps by fault kind"));
        assert!(!text.contains("overlap and stability"));
        assert!(text.contains("no leader was ever elected"));

        report.results[2] = CheckResult {
            checker: "election-gap".into(),
            verdict: Verdict::Unknown,
            figure: String::new(),
            evidence: vec![],
            details: json!({"by_fault": {"kill": {"p50_ms": "soon"}}, "gaps": "none"}),
        };
        let text = render(&report, None, plain());
        assert!(text.contains("kill"), "{text}");
    }
}
