//! `splitbrain report PATH` re-renders a run or a campaign from its files;
//! `splitbrain report --merge DIR...` puts campaign shards back together.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use checkers::history::Event;
use checkers::reader::HistoryReader;
use results::campaign::{self, CampaignDir};
use results::report::campaign as campaign_report;
use results::report::junit::{self, UnknownAs};
use results::report::terminal::{self, Style};
use results::report::{html, json, markdown};
use results::store::RunDir;

/// Output formats of `splitbrain report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The terminal tables.
    Text,
    /// Markdown (a PR comment, a wiki page).
    Md,
    /// results.json / summary.json.
    Json,
    /// The self-contained HTML page.
    Html,
    /// JUnit XML.
    Junit,
}

/// A report and the exit code its verdict maps to.
pub struct Rendered {
    /// The text to print.
    pub text: String,
    /// 0/1/2/255 as `run` and `campaign` exit.
    pub exit_code: i32,
}

/// Render the run or campaign at `path` in `format`; with `write`, also
/// rewrite the directory's report files (after a checker fix, say).
pub fn report(path: &Path, format: Format, write: bool) -> anyhow::Result<Rendered> {
    let dir: PathBuf = if path.is_file() {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        path.to_path_buf()
    };
    if CampaignDir::is_campaign(&dir) {
        let cdir = CampaignDir::open(&dir);
        let summary = refreshed(&cdir, cdir.read_summary()?);
        if write {
            crate::campaign::write_outputs(&cdir, &summary)?;
        }
        return Ok(Rendered {
            text: render_campaign(&cdir, &summary, format)?,
            exit_code: summary.exit_code(),
        });
    }
    let run = RunDir::open(&dir);
    if !run.history().is_file() {
        bail!(
            "{} is neither a run directory (no history.jsonl) nor a campaign directory (no summary.json)",
            dir.display()
        );
    }
    // Re-judged from the history, so a report always matches this build's checkers.
    let report = crate::check::check_file(&run.history(), &checkers::CheckOptions::default())?;
    let header = crate::check::read_header(&run.history()).ok_or_else(|| {
        anyhow!(
            "{}: no run header on the first line",
            run.history().display()
        )
    })?;
    let file = std::fs::File::open(run.history())
        .with_context(|| format!("reading {}", run.history().display()))?;
    let records: Vec<_> = HistoryReader::new(BufReader::new(file))
        .filter_map(Result::ok)
        .collect();
    let interrupted = records
        .iter()
        .any(|r| matches!(&r.event, Event::End(e) if e.interrupted));
    if write {
        crate::outputs::write_run_outputs(&run, &header, &report, interrupted)?;
    }
    let text = match format {
        Format::Text => format!(
            "{}{}",
            terminal::render(&report, Some(&header), Style::for_stdout()),
            crate::outputs::footer(&run, interrupted)
        ),
        Format::Md => markdown::render(&report, Some(&header)),
        Format::Json => json::render(&header, &report)?,
        Format::Html => html::render_run(&header, &records, &report),
        Format::Junit => {
            junit::run_suite(&junit::RunCase::checked(&header, &report), UnknownAs::Error)?
        }
    };
    Ok(Rendered {
        text,
        exit_code: report.verdict().exit_code(),
    })
}

/// The summary with each judged run's figures recomputed from its
/// `results.json` (where at hand), so a campaign report follows its runs'
/// files and this build's way of adding them up.
fn refreshed(
    cdir: &CampaignDir,
    mut summary: campaign::CampaignSummary,
) -> campaign::CampaignSummary {
    let results = crate::campaign::load_results(cdir, &summary);
    for (record, loaded) in summary.runs.iter_mut().zip(results) {
        let judged = matches!(
            record.status,
            campaign::RunStatus::Valid
                | campaign::RunStatus::Invalid
                | campaign::RunStatus::Unknown
        );
        if let (true, Some(file)) = (judged, loaded) {
            let mut fresh = campaign::RunRecord::judged(
                record.plan.clone(),
                &file.report,
                record.replay.clone(),
            );
            fresh.run_dir = record.run_dir.take();
            fresh.duration_ms = record.duration_ms;
            *record = fresh;
        }
    }
    summary
}

fn render_campaign(
    cdir: &CampaignDir,
    summary: &campaign::CampaignSummary,
    format: Format,
) -> anyhow::Result<String> {
    Ok(match format {
        Format::Text => campaign_report::render_terminal(summary, Style::for_stdout()),
        Format::Md => campaign_report::render_markdown(summary),
        Format::Json => summary.to_json(),
        Format::Html => campaign_report::render_html(summary),
        Format::Junit => {
            let results = crate::campaign::load_results(cdir, summary);
            let unknown = if summary.allow_unknown {
                UnknownAs::Skipped
            } else {
                UnknownAs::Error
            };
            campaign_report::render_junit(summary, &results, unknown)?
        }
    })
}

/// Merge shard campaign directories into a new campaign directory in
/// `store`, write all its files, and render it in `format`.
pub fn merge(
    dirs: &[PathBuf],
    store: &Path,
    format: Format,
) -> anyhow::Result<(CampaignDir, Rendered)> {
    let mut shards = Vec::new();
    for d in dirs {
        let cdir = CampaignDir::open(d);
        if !CampaignDir::is_campaign(d) {
            bail!(
                "{} is not a campaign directory (no summary.json)",
                d.display()
            );
        }
        let summary = cdir.read_summary()?;
        shards.push((cdir, summary));
    }
    let name = shards
        .first()
        .map(|(_, s)| s.name.clone())
        .ok_or_else(|| anyhow!("--merge needs at least one campaign directory"))?;
    let into = CampaignDir::create(store, &name)?;
    let summary = match campaign::merge(&shards, &into) {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(into.path());
            return Err(e.into());
        }
    };
    for r in &summary.runs {
        into.link_run(r);
    }
    crate::campaign::write_outputs(&into, &summary)?;
    let text = render_campaign(&into, &summary, format)?;
    Ok((
        into,
        Rendered {
            text,
            exit_code: summary.exit_code(),
        },
    ))
}
