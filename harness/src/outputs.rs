//! Everything a finished run leaves in its directory besides the history:
//! one function, so `run`, `report` and campaigns write the same files.

use std::io::BufReader;

use anyhow::Context;
use checkers::history::RunHeader;
use checkers::reader::HistoryReader;
use checkers::Report;
use results::report::{html, json, junit, markdown, terminal};
use results::store::RunDir;

/// Write `results.json`, `report.txt`, `report.md`, `report.html` and
/// `junit.xml` into `dir`; returns the plain-text report.
pub fn write_run_outputs(
    dir: &RunDir,
    header: &RunHeader,
    report: &Report,
    interrupted: bool,
) -> anyhow::Result<String> {
    let path = dir.path();
    let write = |name: &str, text: &str| {
        std::fs::write(path.join(name), text)
            .with_context(|| format!("writing {}", path.join(name).display()))
    };
    write("results.json", &json::render(header, report)?)?;
    let mut text = terminal::render(report, Some(header), terminal::Style::default());
    text.push_str(&footer(dir, interrupted));
    write("report.txt", &text)?;
    write("report.md", &markdown::render(report, Some(header)))?;
    write(
        "junit.xml",
        &junit::run_suite(
            &junit::RunCase::checked(header, report),
            junit::UnknownAs::Error,
        )?,
    )?;
    // The timeline needs every record; a run's history fits in memory.
    let file = std::fs::File::open(dir.history())
        .with_context(|| format!("reading {}", dir.history().display()))?;
    let records: Vec<_> = HistoryReader::new(BufReader::new(file))
        .filter_map(Result::ok)
        .collect();
    write("report.html", &html::render_run(header, &records, report))?;
    Ok(text)
}

/// The lines printed after the tables.
pub fn footer(dir: &RunDir, interrupted: bool) -> String {
    let mut s = format!("\nrun directory: {}\n", dir.path().display());
    if interrupted {
        s.push_str("the run was interrupted: verdicts cover the history recorded until then\n");
    }
    s
}
