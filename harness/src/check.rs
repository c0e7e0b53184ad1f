//! Judging a history file: `splitbrain check` and the end of every run.

use std::io::BufReader;
use std::path::Path;

use anyhow::Context;
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
    // The error already names the line and the cause: print it once, not as a chain.
    checkers::check_reader(BufReader::with_capacity(1 << 20, file), opts)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))
}

/// The run header of a history file (first line), if it has one.
pub fn read_header(path: &Path) -> Option<RunHeader> {
    let file = std::fs::File::open(path).ok()?;
    match HistoryReader::new(BufReader::new(file)).next()?.ok()?.event {
        Event::Run(h) => Some(h),
        _ => None,
    }
}
