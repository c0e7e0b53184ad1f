//! Reports of a campaign: the table a CI log shows, the same as Markdown for
//! a PR comment, a self-contained HTML summary linking each run's timeline,
//! and JUnit with one test case per run.
//!
//! Everything here renders a [`CampaignSummary`] (plus, for JUnit, the runs'
//! `results.json` when they are at hand) and does no I/O.
//!
//! The campaign table has one row per target × preset:
//!
//! | column | meaning |
//! |---|---|
//! | runs | runs with an outcome |
//! | invalid | invalid runs, and how many each checker failed |
//! | unknown / failed | runs the checkers could not judge / that failed to run |
//! | elections | leadership tenures, all runs together |
//! | gap p50/p99/max ms | over every election gap of every run |
//! | unneeded | unnecessary elections (stability), all runs together |
//! | overlap ms | live leadership overlap: total of all runs / longest |
//! | 1st violation s | the earliest violation of any run, seconds after its start |

use std::fmt::Write as _;

use checkers::{CheckResult, Report, RunHeader, Verdict};
use comfy_table::{presets, Cell, CellAlignment, Color, ContentArrangement, Table};

use super::html::escape;
use super::json::ResultsFile;
use super::junit::{self, Expect, RunCase, RunOutcome, UnknownAs};
use super::markdown::escape_cell;
use super::terminal::Style;
use super::ReportError;
use crate::campaign::{CampaignRow, CampaignSummary, RunRecord, RunStatus};
use crate::mutation::MutationScore;

/// Column names: (terminal, two lines to keep the table narrow; one line).
const COLUMNS: [(&str, &str); 10] = [
    ("target", "target"),
    ("preset", "preset"),
    ("runs", "runs"),
    ("invalid", "invalid"),
    ("unknown/\nfailed", "unknown/failed"),
    ("elec-\ntions", "elections"),
    ("gap ms\np50/p99/max", "gap ms p50/p99/max"),
    ("un-\nneeded", "unneeded"),
    ("overlap ms\ntotal/max", "overlap ms total/max"),
    ("first vio-\nlation s", "first violation s"),
];

/// A column name on one line (for Markdown and HTML).
fn column(i: usize) -> &'static str {
    COLUMNS[i].1
}

/// Milliseconds, compactly: whole numbers from 10 ms up, one decimal below.
fn ms(value: Option<f64>) -> String {
    match value {
        None => "—".to_string(),
        Some(0.0) => "0".to_string(),
        Some(v) if v.abs() < 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.0}"),
    }
}

fn invalid_cell(row: &CampaignRow) -> String {
    if row.counts.invalid == 0 {
        return "0".to_string();
    }
    let by: Vec<String> = row
        .invalid_by_checker
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    format!("{}: {}", row.counts.invalid, by.join(", "))
}

/// The cells of one table row, in [`COLUMNS`] order.
fn row_cells(row: &CampaignRow) -> Vec<String> {
    vec![
        row.target.clone(),
        row.preset.clone(),
        row.runs.to_string(),
        invalid_cell(row),
        format!("{}/{}", row.counts.unknown, row.counts.failed),
        row.elections.to_string(),
        format!(
            "{}/{}/{}",
            ms(row.gap_p50_ms),
            ms(row.gap_p99_ms),
            ms(row.gap_max_ms)
        ),
        row.unnecessary_elections.to_string(),
        format!(
            "{}/{}",
            ms(Some(row.overlap_total_ms)),
            ms(Some(row.overlap_max_ms))
        ),
        row.first_violation_ms
            .map_or("—".to_string(), |v| format!("{:.2}", v / 1e3)),
    ]
}

/// `campaign nightly · 8/8 runs · shard 1/2`: the campaign's identity and progress.
pub fn header_line(summary: &CampaignSummary) -> String {
    let c = summary.counts();
    let mut parts = vec![
        format!("campaign {}", summary.name),
        format!("{}/{} runs done", c.done(), summary.planned.len()),
    ];
    if let Some(shard) = summary.shard {
        parts.push(format!(
            "shard {shard} of a {}-run matrix",
            summary.matrix_runs
        ));
    }
    if !summary.merged_from.is_empty() {
        parts.push(format!("merged from {} shards", summary.merged_from.len()));
    }
    if summary.jobs > 1 {
        parts.push(format!("{} jobs", summary.jobs));
    }
    parts.push(format!("started {}", summary.started_at));
    parts.join(" · ")
}

/// `verdict: invalid (8 runs: 6 valid, 2 invalid) · exit 1`: the line read first.
pub fn verdict_line(summary: &CampaignSummary) -> String {
    let c = summary.counts();
    let parts: Vec<String> = [
        (c.valid, "valid"),
        (c.invalid, "invalid"),
        (c.unknown, "unknown"),
        (c.failed, "failed to run"),
        (c.interrupted, "interrupted"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, w)| format!("{n} {w}"))
    .collect();
    let word = match summary.exit_code() {
        0 => "valid",
        1 => "invalid",
        255 => "runs failed",
        _ if summary.interrupted => "interrupted",
        _ if !summary.complete => "incomplete",
        _ => "unknown",
    };
    format!(
        "campaign verdict: {word} ({} runs: {}) · exit {}",
        summary.runs.len(),
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        },
        summary.exit_code()
    )
}

fn needs_attention(r: &RunRecord) -> bool {
    r.status != RunStatus::Valid
}

fn attention_text(r: &RunRecord) -> String {
    match r.status {
        RunStatus::Failed => r.error.clone().unwrap_or_default(),
        RunStatus::Interrupted => "interrupted; --resume runs it again".to_string(),
        RunStatus::Unknown => format!("could not judge: {}", r.unknown_checkers.join(", ")),
        _ => r
            .first_violation
            .clone()
            .unwrap_or_else(|| r.invalid_checkers.join(", ")),
    }
}

/// The campaign table (comfy-table), one row per target × preset.
pub fn table(summary: &CampaignSummary, style: Style) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        // Cells are short; natural widths read better than wrapping to fill.
        .set_content_arrangement(ContentArrangement::Disabled);
    if style.color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table.set_header(
        COLUMNS
            .iter()
            .map(|(terminal, _)| *terminal)
            .collect::<Vec<_>>(),
    );
    for row in summary.rows() {
        let cells = row_cells(&row);
        table.add_row(cells.into_iter().enumerate().map(|(i, text)| {
            let mut cell = Cell::new(text);
            if i >= 2 && i != 3 {
                cell = cell.set_alignment(CellAlignment::Right);
            }
            if i == 3 && style.color && row.counts.invalid > 0 {
                cell = cell.fg(Color::Red);
            }
            cell
        }));
    }
    table
}

/// The whole terminal report: header, table, the runs that need attention
/// (each invalid one with its replay command), and the verdict line.
pub fn render_terminal(summary: &CampaignSummary, style: Style) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", header_line(summary));
    let _ = writeln!(s, "{}", table(summary, style));
    let score = MutationScore::of(summary, Default::default());
    // The invalid runs of seeded bugs are the expected ones: the score
    // counts them, and summary.md lists them.
    let mutants: Vec<&str> = score
        .iter()
        .flat_map(|s| s.mutants.iter().map(|m| m.mutant.as_str()))
        .collect();
    let attention: Vec<&RunRecord> = summary
        .runs
        .iter()
        .filter(|r| needs_attention(r))
        .filter(|r| r.status != RunStatus::Invalid || !mutants.contains(&r.plan.target.as_str()))
        .collect();
    if !attention.is_empty() {
        let _ = writeln!(s, "runs to look at ({}):", attention.len());
        for r in attention {
            let _ = writeln!(
                s,
                "  {} {}: {}",
                r.plan.name(),
                r.status,
                super::shorten(&attention_text(r), 200)
            );
            if let Some(dir) = &r.run_dir {
                let _ = writeln!(s, "    run directory: {dir}");
            }
            if r.status == RunStatus::Invalid {
                if let Some(replay) = &r.replay {
                    let _ = writeln!(s, "    replay: {replay}");
                }
            }
        }
    }
    if summary.interrupted {
        let _ = writeln!(
            s,
            "the campaign was interrupted; `splitbrain campaign FILE --resume` continues it"
        );
    }
    if let Some(score) = score {
        let _ = write!(s, "{}", super::mutation::render_terminal(&score, style));
    } else {
        let _ = writeln!(s, "{}", verdict_line(summary));
    }
    s
}

/// The campaign report as GitHub-flavoured Markdown.
pub fn render_markdown(summary: &CampaignSummary) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### splitbrain campaign `{}`\n", summary.name);
    let _ = writeln!(s, "{}\n", escape_cell(&header_line(summary)));
    let _ = writeln!(s, "**{}**\n", escape_cell(&verdict_line(summary)));
    if let Some(score) = MutationScore::of(summary, Default::default()) {
        let _ = writeln!(s, "{}", super::mutation::render_markdown(&score));
    }
    let names: Vec<&str> = (0..COLUMNS.len()).map(column).collect();
    let _ = writeln!(s, "| {} |", names.join(" | "));
    let _ = writeln!(
        s,
        "|{}",
        COLUMNS
            .iter()
            .enumerate()
            .map(|(i, _)| if i < 2 { "---|" } else { "---:|" })
            .collect::<String>()
    );
    for row in summary.rows() {
        let cells: Vec<String> = row_cells(&row).iter().map(|c| escape_cell(c)).collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    let attention: Vec<&RunRecord> = summary.runs.iter().filter(|r| needs_attention(r)).collect();
    if !attention.is_empty() {
        let _ = writeln!(
            s,
            "\n<details><summary>{} runs to look at</summary>\n",
            attention.len()
        );
        for r in attention {
            let _ = writeln!(
                s,
                "- `{}` **{}**: {}",
                r.plan.name(),
                r.status,
                escape_cell(&super::shorten(&attention_text(r), 300))
            );
            if r.status == RunStatus::Invalid {
                if let Some(replay) = &r.replay {
                    let _ = writeln!(s, "  - replay: `{replay}`");
                }
            }
        }
        let _ = writeln!(s, "\n</details>");
    }
    s
}

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1d2430; background: #fff; }
h1 { font-size: 20px; margin: 0 0 6px; } h2 { font-size: 16px; margin: 22px 0 8px; }
.meta { color: #5b6472; margin: 2px 0; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border: 1px solid #d5dae1; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f5f8; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.valid { color: #17703a; } .invalid { color: #b3161b; font-weight: 600; }
.unknown, .interrupted { color: #9a6400; } .failed { color: #7a1fa2; font-weight: 600; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f3f5f8; padding: 1px 3px; }
tr.bad td { background: #fff4f4; }
code.run { white-space: nowrap; }
"#;

/// One self-contained page: the campaign table and every run, each linking
/// to its run's `report.html` (relative, so the store can be archived whole).
pub fn render_html(summary: &CampaignSummary) -> String {
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>");
    let _ = write!(
        s,
        "<title>splitbrain campaign {}</title><style>{STYLE}</style></head><body>",
        escape(&summary.name)
    );
    let _ = write!(
        s,
        "<h1>splitbrain campaign <code>{}</code></h1><p class=\"meta\">{}</p><p><strong>{}</strong></p>",
        escape(&summary.name),
        escape(&header_line(summary)),
        escape(&verdict_line(summary))
    );
    s.push_str("<h2>By target and preset</h2><table id=\"campaign-table\"><thead><tr>");
    for i in 0..COLUMNS.len() {
        let _ = write!(s, "<th>{}</th>", escape(column(i)));
    }
    s.push_str("</tr></thead><tbody>");
    for row in summary.rows() {
        let bad = row.counts.invalid + row.counts.failed > 0;
        let _ = write!(s, "<tr{}>", if bad { " class=\"bad\"" } else { "" });
        for (i, cell) in row_cells(&row).iter().enumerate() {
            let _ = write!(
                s,
                "<td{}>{}</td>",
                if i >= 2 && i != 3 {
                    " class=\"num\""
                } else {
                    ""
                },
                escape(cell)
            );
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    let _ = write!(
        s,
        "<h2>Runs ({})</h2><table id=\"runs\"><thead><tr>",
        summary.runs.len()
    );
    for c in [
        "#",
        "run",
        "outcome",
        "elections",
        "max gap ms",
        "what happened",
        "report",
        "replay",
    ] {
        let _ = write!(s, "<th>{c}</th>");
    }
    s.push_str("</tr></thead><tbody>");
    for r in &summary.runs {
        let report = match &r.run_dir {
            Some(dir) => format!(
                "<a href=\"{}/report.html\">timeline</a>",
                escape(&dir.replace(' ', "%20"))
            ),
            None => "—".to_string(),
        };
        let happened = if r.status == RunStatus::Valid {
            String::new()
        } else {
            attention_text(r)
        };
        let max_gap = r
            .gaps_ms
            .iter()
            .copied()
            .fold(None, |m: Option<f64>, g| Some(m.map_or(g, |m| m.max(g))));
        let _ = write!(
            s,
            "<tr><td class=\"num\">{}</td><td><code class=\"run\">{}</code></td><td class=\"{}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.plan.index,
            escape(&r.plan.name()),
            r.status.as_str(),
            r.status,
            r.elections,
            ms(max_gap),
            escape(&super::shorten(&happened, 240)),
            report,
            match (&r.replay, r.status) {
                (Some(replay), RunStatus::Invalid) => format!("<code>{}</code>", escape(replay)),
                _ => String::new(),
            }
        );
    }
    s.push_str("</tbody></table></body></html>\n");
    s
}

/// A stand-in report for a run whose `results.json` is not at hand (a
/// merged shard from another machine): enough for JUnit to name the checkers.
fn report_from_record(r: &RunRecord) -> Report {
    let result = |checker: &str, verdict: Verdict| CheckResult {
        checker: checker.to_string(),
        verdict,
        // The failure message falls back to the figure when there is no evidence.
        figure: match (&r.first_violation, verdict) {
            (Some(text), Verdict::Invalid) => text
                .strip_prefix(&format!("{checker}: "))
                .map(str::to_string)
                .unwrap_or_default(),
            _ => String::new(),
        },
        evidence: vec![],
        details: serde_json::Value::Null,
    };
    Report {
        results: r
            .invalid_checkers
            .iter()
            .map(|c| result(c, Verdict::Invalid))
            .chain(
                r.unknown_checkers
                    .iter()
                    .map(|c| result(c, Verdict::Unknown)),
            )
            .collect(),
        elections: vec![],
        warnings: vec![],
        events: 0,
    }
}

/// JUnit for a campaign: one test case per run with an outcome, named
/// `target/preset/seed`; `results[i]` is run `summary.runs[i]`'s
/// `results.json` when available (full evidence in the failure body).
pub fn render_junit(
    summary: &CampaignSummary,
    results: &[Option<ResultsFile>],
    unknown: UnknownAs,
) -> Result<String, ReportError> {
    let mut headers: Vec<RunHeader> = Vec::new();
    let mut reports: Vec<Option<Report>> = Vec::new();
    let runs: Vec<&RunRecord> = summary
        .runs
        .iter()
        .filter(|r| r.status != RunStatus::Interrupted)
        .collect();
    for r in &runs {
        let i = summary
            .runs
            .iter()
            .position(|x| x.plan.index == r.plan.index)
            .unwrap_or(0);
        let loaded = results.get(i).and_then(|o| o.as_ref());
        let mut header = match loaded {
            Some(f) => f.header.clone(),
            None => serde_json::from_value(serde_json::json!({
                "target": r.plan.target, "nodes": [], "seed": r.plan.seed,
            }))?,
        };
        // Name the case after the campaign's cell, not the target file.
        header.target = r.plan.target.clone();
        header.nemesis = if r.plan.repetition > 1 {
            format!("{}#{}", r.plan.preset, r.plan.repetition)
        } else {
            r.plan.preset.clone()
        };
        header.seed = r.plan.seed;
        if header.replay.is_none() {
            header.replay = r.replay.clone();
        }
        headers.push(header);
        reports.push(match (r.status, loaded) {
            (RunStatus::Failed, _) => None,
            (_, Some(f)) => Some(f.report.clone()),
            (_, None) => Some(report_from_record(r)),
        });
    }
    let score = MutationScore::of(summary, Default::default());
    let expect = |r: &RunRecord| -> Expect<'_> {
        score
            .iter()
            .flat_map(|s| &s.mutants)
            .find_map(|m| {
                let scored = m.scored.get(&r.plan.index)?;
                Some(Expect::SeededBug {
                    baseline: &m.baseline,
                    scored,
                })
            })
            .unwrap_or(Expect::Valid)
    };
    let cases: Vec<RunCase<'_>> = runs
        .iter()
        .zip(headers.iter().zip(&reports))
        .map(|(r, (header, report))| RunCase {
            header,
            outcome: match report {
                Some(report) => RunOutcome::Checked(report),
                None => RunOutcome::Failed(r.error.as_deref().unwrap_or("the run failed")),
            },
            duration: Some(std::time::Duration::from_millis(r.duration_ms)),
            expect: expect(r),
        })
        .collect();
    junit::campaign_suite(&summary.name, &cases, unknown, score.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{PlannedRun, CAMPAIGN_FORMAT};

    fn summary() -> CampaignSummary {
        let planned: Vec<PlannedRun> = (0..4)
            .map(|i| PlannedRun {
                index: i,
                target: if i < 2 { "raft" } else { "raft+forget-term" }.into(),
                preset: "kill".into(),
                seed: i as u64 % 2 + 1,
                repetition: 1,
            })
            .collect();
        let mut s = CampaignSummary {
            format: CAMPAIGN_FORMAT,
            name: "demo".into(),
            plan_id: "x".into(),
            matrix_runs: 4,
            planned: planned.clone(),
            shard: None,
            merged_from: vec![],
            started_at: "20260101T000000.000Z".into(),
            updated_at: String::new(),
            complete: false,
            interrupted: false,
            allow_unknown: false,
            jobs: 1,
            settings: serde_json::Value::Null,
            runs: vec![],
        };
        for (p, status) in planned.into_iter().zip([
            RunStatus::Valid,
            RunStatus::Valid,
            RunStatus::Invalid,
            RunStatus::Failed,
        ]) {
            let mut r = RunRecord::failed(p, "node n1 exited at start".into());
            r.status = status;
            r.run_dir = Some("../../../raft/2026 x".into());
            r.gaps_ms = vec![210.0, 250.5];
            r.elections = 3;
            if status == RunStatus::Invalid {
                r.error = None;
                r.invalid_checkers = vec!["term-monotonic".into()];
                r.first_violation = Some("term-monotonic: seq 4, 9 @ 1.20 s: n1 went back".into());
                r.first_violation_ms = Some(1200.0);
                r.replay = Some("splitbrain run --bug forget-term --seed 1".into());
            }
            s.record(r);
        }
        s
    }

    #[test]
    fn terminal_table_has_one_row_per_target_and_preset() {
        let text = render_terminal(&summary(), Style::default());
        println!("{text}");
        assert!(text.contains("raft+forget-term"));
        let rows = summary().rows();
        assert_eq!(row_cells(&rows[1])[3], "1: term-monotonic 1");
        assert!(text.contains("replay: splitbrain run --bug forget-term"));
        assert!(text.contains("exit 1"));
        assert_eq!(row_cells(&rows[0])[6], "210/250/250");
        assert!(text.contains("1.20"));
    }

    #[test]
    fn html_links_each_run_and_markdown_is_a_table() {
        let html = render_html(&summary());
        assert_eq!(html.matches("report.html\">timeline</a>").count(), 4);
        assert!(html.contains("2026%20x/report.html"));
        let md = render_markdown(&summary());
        assert!(md.contains("| raft | kill | 2 | 0 | 0/0 | 6 |"), "{md}");
    }

    #[test]
    fn junit_counts_failures_and_errors() {
        let s = summary();
        let xml = render_junit(&s, &[], UnknownAs::Error).unwrap();
        assert!(xml.contains("tests=\"4\""), "{xml}");
        assert!(xml.contains("failures=\"1\""));
        assert!(xml.contains("errors=\"1\""));
        assert!(xml.contains("raft+forget-term/kill/1"));
        assert!(
            xml.contains("message=\"term-monotonic: seq 4, 9 @ 1.20 s"),
            "{xml}"
        );
    }
}
