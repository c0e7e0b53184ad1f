//! The terminal report as GitHub-flavoured Markdown, for a PR comment, a job
//! summary or a wiki page: the same tables, with long ones folded into
//! `<details>` so a comment stays short.

use checkers::{Report, RunHeader, Verdict};

use super::details::{self, format_number};
use super::{evidence_pointer, format_seconds, header_line, held_for, run_name, summary_line};

/// Column alignment in a Markdown table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// Make `text` safe inside one table cell: no pipes, no line breaks, no HTML.
pub fn escape_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' => {}
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

fn table(columns: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    out.push_str(&line(columns.iter().map(|(h, _)| escape_cell(h)).collect()));
    out.push_str(&line(
        columns
            .iter()
            .map(|(_, align)| match align {
                Align::Left => "---".to_string(),
                Align::Right => "---:".to_string(),
            })
            .collect(),
    ));
    for row in rows {
        let mut cells: Vec<String> = row.iter().map(|c| escape_cell(c)).collect();
        cells.resize(columns.len(), String::new());
        out.push_str(&line(cells));
    }
    out
}

fn verdict_badge(verdict: Verdict) -> String {
    match verdict {
        Verdict::Valid => "✅ valid".to_string(),
        Verdict::Invalid => "❌ **invalid**".to_string(),
        Verdict::Unknown => "⚠️ unknown".to_string(),
    }
}

fn checkers_table(report: &Report) -> String {
    let rows: Vec<Vec<String>> = report
        .results
        .iter()
        .map(|r| {
            let evidence = match r.evidence.split_first() {
                None => String::new(),
                Some((first, [])) => evidence_pointer(first, 200),
                Some((first, rest)) => {
                    format!("{} (+{} more)", evidence_pointer(first, 200), rest.len())
                }
            };
            vec![
                format!("`{}`", r.checker),
                verdict_badge(r.verdict),
                r.figure.clone(),
                evidence,
            ]
        })
        .collect();
    table(
        &[
            ("checker", Align::Left),
            ("verdict", Align::Left),
            ("figure", Align::Left),
            ("evidence", Align::Left),
        ],
        &rows,
    )
}

fn elections_table(report: &Report) -> String {
    let rows: Vec<Vec<String>> = report
        .elections
        .iter()
        .map(|e| {
            vec![
                e.term.to_string(),
                e.leader.clone(),
                format_seconds(e.elected_at),
                e.lost_at.map_or("—".to_string(), format_seconds),
                held_for(e.elected_at, e.lost_at),
                e.how.clone(),
            ]
        })
        .collect();
    table(
        &[
            ("term", Align::Right),
            ("leader", Align::Left),
            ("elected at (s)", Align::Right),
            ("lost at (s)", Align::Right),
            ("held for (s)", Align::Right),
            ("how", Align::Left),
        ],
        &rows,
    )
}

fn no_quorum_table(report: &Report) -> Option<String> {
    let rows: Vec<Vec<String>> = details::no_quorum(report)
        .into_iter()
        .map(|s| {
            vec![
                format_seconds(s.from),
                format_seconds(s.to),
                format_number(s.length_ms),
                escape_cell(&s.why),
                escape_cell(&s.fault),
            ]
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    Some(table(
        &[
            ("from (s)", Align::Right),
            ("to (s)", Align::Right),
            ("length ms", Align::Right),
            ("why", Align::Left),
            ("after", Align::Left),
        ],
        &rows,
    ))
}

fn gap_table(report: &Report) -> Option<String> {
    let stats = details::gap_stats(report);
    if stats.is_empty() {
        return None;
    }
    let ms = |v: Option<f64>| v.map_or("—".to_string(), format_number);
    let rows: Vec<Vec<String>> = stats
        .into_iter()
        .map(|s| {
            vec![
                s.fault,
                s.count.to_string(),
                ms(s.p50_ms),
                ms(s.p95_ms),
                ms(s.p99_ms),
                ms(s.max_ms),
            ]
        })
        .collect();
    Some(table(
        &[
            ("gaps after", Align::Left),
            ("count", Align::Right),
            ("p50 ms", Align::Right),
            ("p95 ms", Align::Right),
            ("p99 ms", Align::Right),
            ("max ms", Align::Right),
        ],
        &rows,
    ))
}

fn figures_table(report: &Report) -> Option<String> {
    let figures = details::figures(report);
    if figures.is_empty() {
        return None;
    }
    let rows: Vec<Vec<String>> = figures
        .into_iter()
        .map(|f| vec![format!("`{}`", f.checker), f.name, f.value])
        .collect();
    Some(table(
        &[
            ("checker", Align::Left),
            ("figure", Align::Left),
            ("value", Align::Right),
        ],
        &rows,
    ))
}

fn folded(summary: &str, body: &str) -> String {
    format!("<details><summary>{summary}</summary>\n\n{body}\n</details>\n\n")
}

/// The whole report as GitHub-flavoured Markdown.
pub fn render(report: &Report, header: Option<&RunHeader>) -> String {
    let mut out = String::new();
    let title = header.map_or("run".to_string(), run_name);
    out.push_str(&format!(
        "### splitbrain: `{}` — {}\n\n",
        title.replace('`', "'"),
        verdict_badge(report.verdict())
    ));
    if let Some(header) = header {
        out.push_str(&escape_cell(&header_line(header)));
        out.push_str("\n\n");
    }
    out.push_str(&checkers_table(report));
    out.push('\n');
    if report.elections.is_empty() {
        out.push_str("No leader was ever elected.\n\n");
    } else {
        out.push_str(&folded(
            &format!("Elections ({})", report.elections.len()),
            &elections_table(report),
        ));
    }
    if let Some(stretches) = no_quorum_table(report) {
        out.push_str(&folded(
            "Without a quorum (no election possible; not gaps)",
            &stretches,
        ));
    }
    if let Some(gaps) = gap_table(report) {
        out.push_str(&folded("Election gaps by fault kind", &gaps));
    }
    if let Some(figures) = figures_table(report) {
        out.push_str(&folded("Overlap and stability", &figures));
    }
    if !report.warnings.is_empty() {
        out.push_str("Warnings:\n\n");
        for warning in &report.warnings {
            out.push_str(&format!("- {}\n", escape_cell(warning)));
        }
        out.push('\n');
    }
    if let Some(replay) = header.and_then(|h| h.replay.as_deref()) {
        out.push_str(&format!("Replay:\n\n```sh\n{}\n```\n\n", replay.trim()));
    }
    out.push_str(&format!("**{}**\n", summary_line(report)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    /// Cells of one table line, splitting on pipes not escaped by a backslash.
    fn cells(line: &str) -> usize {
        let mut count = 0;
        let mut previous = ' ';
        for c in line.chars() {
            if c == '|' && previous != '\\' {
                count += 1;
            }
            previous = c;
        }
        count - 1
    }

    /// Every block of `|` lines is a well-formed GFM table.
    fn assert_tables_well_formed(markdown: &str) -> usize {
        let lines: Vec<&str> = markdown.lines().collect();
        let mut tables = 0;
        let mut i = 0;
        while i < lines.len() {
            if !lines[i].starts_with('|') {
                i += 1;
                continue;
            }
            tables += 1;
            assert!(
                i == 0 || lines[i - 1].is_empty(),
                "a table must follow a blank line: {:?}",
                lines[i - 1]
            );
            let width = cells(lines[i]);
            let separator = lines[i + 1];
            assert!(
                separator
                    .split('|')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .all(|c| c == "---" || c == "---:"),
                "{separator}"
            );
            while i < lines.len() && lines[i].starts_with('|') {
                assert!(lines[i].ends_with('|'), "{}", lines[i]);
                assert_eq!(cells(lines[i]), width, "{}", lines[i]);
                i += 1;
            }
        }
        tables
    }

    #[test]
    fn tables_are_well_formed() {
        let markdown = render(&fixture::report(), Some(&fixture::header()));
        println!("{markdown}");
        assert_eq!(assert_tables_well_formed(&markdown), 4, "{markdown}");
        assert!(markdown.contains("| `term-uniqueness` | ❌ **invalid** | 4 terms, 1 conflict |"));
        assert!(markdown.contains("| 4 | n2 | 25.450 | — | — | end of run |"));
        assert!(markdown.contains("<details><summary>Elections (5)</summary>"));
        assert!(markdown.contains("raft/partition-kill-pause/42"));
        assert!(markdown
            .trim_end()
            .ends_with("**verdict: invalid (6 checkers: 4 valid, 1 invalid, 1 unknown)**"));
    }

    #[test]
    fn awkward_text_cannot_break_a_table() {
        let mut report = fixture::report();
        report.results[0].figure = "a | b\nc <script>".into();
        report.results[0].evidence[0].message = "x|y".into();
        report.elections[0].how = "killed | twice".into();
        let markdown = render(&report, None);
        assert_eq!(assert_tables_well_formed(&markdown), 4, "{markdown}");
        assert!(markdown.contains("a \\| b<br>c &lt;script&gt;"));
        assert!(!markdown.contains("<script>"));
    }

    #[test]
    fn missing_details_omit_tables() {
        let mut report = fixture::report();
        for result in &mut report.results {
            result.details = serde_json::Value::Null;
        }
        report.elections.clear();
        let markdown = render(&report, None);
        assert_eq!(assert_tables_well_formed(&markdown), 1);
        assert!(markdown.contains("No leader was ever elected."));
    }
}
