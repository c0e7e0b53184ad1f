//! The mutation-score tables (terminal and Markdown): one row per seeded
//! bug × preset, one per correct variant × preset, and the goals verdict.
//! Renders a [`MutationScore`]; no I/O.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use comfy_table::{Cell, CellAlignment, Color, Table};

use super::markdown::escape_cell;
use super::terminal::Style;
use crate::mutation::{BaselineRow, MutantRow, MutationScore};

const MUTANT_COLUMNS: [&str; 6] = [
    "bug",
    "preset",
    "detected",
    "caught by (runs)",
    "first violation s (median)",
    "compared with",
];

const BASELINE_COLUMNS: [&str; 5] = [
    "correct variant",
    "preset",
    "runs (seeds)",
    "safety violations",
    "other invalid (runs)",
];

pub(super) fn counts(map: &BTreeMap<String, usize>) -> String {
    if map.is_empty() {
        return "—".into();
    }
    map.iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mutant_cells(m: &MutantRow) -> Vec<String> {
    let mut caught = counts(&m.caught_by);
    if !m.not_counted.is_empty() {
        let list: Vec<&str> = m.not_counted.iter().map(String::as_str).collect();
        let _ = write!(
            caught,
            " (not counted, the correct variant fails it too: {})",
            list.join(", ")
        );
    }
    vec![
        m.bug
            .clone()
            .unwrap_or_else(|| format!("{} (as is)", m.mutant)),
        m.preset.clone(),
        format!(
            "{} {}/{}",
            if m.detected() { "yes" } else { "no" },
            m.detected_runs,
            m.runs
        ),
        caught,
        match m.median_first_violation_ms {
            Some(t) => format!("{:.2}", t / 1e3),
            None if m.detected() => "— (caught in fewer than half the runs)".into(),
            None => "—".into(),
        },
        m.baseline.clone(),
    ]
}

fn baseline_cells(b: &BaselineRow) -> Vec<String> {
    let other: BTreeMap<String, usize> = b
        .invalid_by_checker
        .iter()
        .filter(|(c, _)| !crate::mutation::is_safety(c))
        .map(|(c, n)| (c.clone(), *n))
        .collect();
    let mut runs = format!("{} ({})", b.runs, b.seeds);
    if b.unknown_or_failed > 0 {
        let _ = write!(runs, ", {} unknown/failed", b.unknown_or_failed);
    }
    vec![
        b.variant.clone(),
        b.preset.clone(),
        runs,
        b.safety_violation_runs.to_string(),
        counts(&other),
    ]
}

/// The goals, one line each, with whether they were met.
pub fn goal_lines(score: &MutationScore) -> Vec<String> {
    let yes = |ok: bool| if ok { "met" } else { "NOT met" };
    let mut lines = vec![
        format!(
            "goal: every seeded bug detected, median first violation ≤ {:.0} s: {}",
            score.goals.median_first_violation_ms / 1e3,
            yes(score.every_bug_detected_in_time())
        ),
        format!(
            "goal: correct variants without safety violations over ≥ {} seeds per preset: {}",
            score.goals.correct_seeds,
            yes(score.correct_variants_safe())
        ),
        format!(
            "run time: {:.1} min in all (the campaign's length at --jobs 1)",
            score.run_time_ms as f64 / 60e3
        ),
    ];
    if !score.complete {
        lines.push("the campaign is not complete: these figures cover the runs done so far".into());
    }
    lines
}

fn terminal_table(
    style: Style,
    header: &[&str],
    right: &[usize],
    rows: Vec<(Vec<String>, bool)>,
) -> Table {
    let mut table = super::terminal::new_table(style, header);
    for (cells, bad) in rows {
        table.add_row(cells.into_iter().enumerate().map(|(i, text)| {
            let mut cell = Cell::new(text);
            if right.contains(&i) {
                cell = cell.set_alignment(CellAlignment::Right);
            }
            if bad && style.color {
                cell = cell.fg(Color::Red);
            }
            cell
        }));
    }
    table
}

/// The score for a terminal or a log.
pub fn render_terminal(score: &MutationScore, style: Style) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "mutation score:");
    let mutants = score
        .mutants
        .iter()
        .map(|m| (mutant_cells(m), !m.detected()))
        .collect();
    let _ = writeln!(
        s,
        "{}",
        terminal_table(style, &MUTANT_COLUMNS, &[2, 4], mutants)
    );
    let baselines = score
        .baselines
        .iter()
        .map(|b| (baseline_cells(b), b.safety_violation_runs > 0))
        .collect();
    let _ = writeln!(
        s,
        "{}",
        terminal_table(style, &BASELINE_COLUMNS, &[2, 3], baselines)
    );
    for line in goal_lines(score) {
        let _ = writeln!(s, "{line}");
    }
    s
}

fn markdown_table(s: &mut String, header: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let _ = writeln!(s, "| {} |", header.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(header.len()));
    for cells in rows {
        let cells: Vec<String> = cells.iter().map(|c| escape_cell(c)).collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
}

/// The score as GitHub-flavoured Markdown (README, PR comments).
pub fn render_markdown(score: &MutationScore) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "#### Mutation score\n");
    markdown_table(
        &mut s,
        &MUTANT_COLUMNS,
        score.mutants.iter().map(mutant_cells),
    );
    let _ = writeln!(s);
    markdown_table(
        &mut s,
        &BASELINE_COLUMNS,
        score.baselines.iter().map(baseline_cells),
    );
    let _ = writeln!(s);
    for line in goal_lines(score) {
        let _ = writeln!(s, "- {}", escape_cell(&line));
    }
    s
}
