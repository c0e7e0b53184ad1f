//! Judging a history file: `splitbrain check` and the end of every run.

use std::io::BufReader;
use std::path::Path;

use anyhow::{bail, Context};
use checkers::history::{Event, RunHeader};
use checkers::reader::HistoryReader;
use checkers::{CheckOptions, Report};

/// Run the checkers over a history file, streaming (memory does not grow
/// with the history's length). A torn last line becomes a warning; a
/// malformed line elsewhere is an error naming the line.
pub fn check_file(path: &Path, opts: &CheckOptions) -> anyhow::Result<Report> {
    let file = std::fs::File::open(path).with_context(|| {
        format!(
            "opening {}; pass the path of a history.jsonl (e.g. store/latest/history.jsonl)",
            path.display()
        )
    })?;
    let mut reader = HistoryReader::new(BufReader::with_capacity(1 << 20, file));
    let mut error = None;
    let mut report = {
        let records = std::iter::from_fn(|| match reader.next()? {
            Ok(r) => Some(r),
            Err(e) => {
                error = Some(e);
                None
            }
        });
        checkers::check(records, opts)
    };
    if let Some(e) = error {
        bail!("{}: {e}", path.display());
    }
    report.warnings.extend(reader.warnings().iter().cloned());
    Ok(report)
}

/// The run header of a history file (first line), if it has one.
pub fn read_header(path: &Path) -> Option<RunHeader> {
    let file = std::fs::File::open(path).ok()?;
    match HistoryReader::new(BufReader::new(file)).next()?.ok()?.event {
        Event::Run(h) => Some(h),
        _ => None,
    }
}
