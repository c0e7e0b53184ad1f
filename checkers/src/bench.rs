//! `splitbrain bench check`: how fast the checkers judge a realistic history.
//!
//! Generates a seeded [`synth`](crate::synth) history (5 nodes, elections,
//! kills, pauses, partitions), writes it to a file in a temporary directory,
//! and measures events per second for the safety checkers alone and for the
//! full suite, end to end from the file (parsing included) and on records
//! already in memory, plus the process's peak memory (VmHWM). The file passes
//! run first, streaming, so the peak they leave is theirs: the history is
//! never held in memory there.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::time::Instant;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use crate::check::{check, check_reader, CheckOptions};
use crate::synth::{SynthConfig, SynthHistory};
use crate::verdict::{Report, Verdict};

/// Records held in memory for the in-memory passes, at most (about 200 bytes
/// each as `Record`s: a 10 M-event history would not fit the memory goal).
pub const IN_MEMORY_CAP: u64 = 2_000_000;

/// Why the bench could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Writing or reading the temporary history failed.
    #[error("bench I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The history written could not be read back.
    #[error("bench history unreadable: {0}")]
    Read(#[from] crate::reader::ReadError),
}

/// One measured pass.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchPass {
    /// What was measured.
    pub name: String,
    /// Events judged.
    pub events: u64,
    /// Wall time in seconds.
    pub seconds: f64,
    /// The run verdict (a synthetic history must be judged valid).
    pub verdict: Verdict,
    /// Goal in events per second, if any.
    pub goal: Option<f64>,
}

impl BenchPass {
    /// Events per second.
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.seconds.max(1e-9)
    }
}

/// Everything the bench measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchFigures {
    /// Each timed pass.
    pub passes: Vec<BenchPass>,
    /// VmHWM (KiB) before any pass (after generating the file).
    pub hwm_before_kib: Option<u64>,
    /// VmHWM (KiB) after the streaming file passes: their peak.
    pub hwm_file_kib: Option<u64>,
    /// VmHWM (KiB) at the end (includes the in-memory history).
    pub hwm_end_kib: Option<u64>,
    /// Events in the file.
    pub file_events: u64,
    /// Bytes of the file.
    pub file_bytes: u64,
}

/// Peak resident memory of this process in KiB (Linux), from `/proc/self/status`.
pub fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn timed(
    name: &str,
    goal: Option<f64>,
    f: impl FnOnce() -> Result<Report, BenchError>,
) -> Result<BenchPass, BenchError> {
    let start = Instant::now();
    let report = f()?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(BenchPass {
        name: name.into(),
        events: report.events,
        seconds,
        verdict: report.verdict(),
        goal,
    })
}

/// Run the benchmark on a synthetic history of about `events` events.
pub fn measure(events: u64) -> Result<BenchFigures, BenchError> {
    let cfg = SynthConfig {
        seed: 42,
        events,
        ..Default::default()
    };
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("history.jsonl");
    let mut file_events = 0u64;
    {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        for r in SynthHistory::new(cfg.clone()) {
            serde_json::to_writer(&mut w, &r).map_err(std::io::Error::from)?;
            w.write_all(b"\n")?;
            file_events += 1;
        }
        w.flush()?;
    }
    let file_bytes = std::fs::metadata(&path)?.len();
    let hwm_before_kib = vm_hwm_kib();
    let mut passes = vec![];
    let from_file = |opts: CheckOptions| -> Result<Report, BenchError> {
        let input = BufReader::with_capacity(1 << 20, File::open(&path)?);
        Ok(check_reader(input, &opts)?)
    };
    passes.push(timed(
        "full suite, from file (parse included)",
        Some(1e6),
        || from_file(CheckOptions::default()),
    )?);
    passes.push(timed(
        "safety checkers, from file (parse included)",
        None,
        || from_file(CheckOptions::safety_only()),
    )?);
    let hwm_file_kib = vm_hwm_kib();
    drop(dir);
    let in_memory = events.min(IN_MEMORY_CAP);
    let records: Vec<_> = SynthHistory::new(SynthConfig {
        events: in_memory,
        ..cfg
    })
    .collect();
    passes.push(timed("safety checkers, in memory", Some(5e6), || {
        Ok(check(&records, &CheckOptions::safety_only()))
    })?);
    passes.push(timed("full suite, in memory", None, || {
        Ok(check(&records, &CheckOptions::default()))
    })?);
    drop(records);
    Ok(BenchFigures {
        passes,
        hwm_before_kib,
        hwm_file_kib,
        hwm_end_kib: vm_hwm_kib(),
        file_events,
        file_bytes,
    })
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else {
        format!("{:.0} k/s", r / 1e3)
    }
}

fn fmt_mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// Measure and print the bench table (what `splitbrain bench check` shows).
pub fn run(events: u64, out: &mut dyn Write) -> Result<(), BenchError> {
    let f = measure(events)?;
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "pass", "events", "seconds", "events/s", "goal", "verdict",
    ]);
    for p in &f.passes {
        let goal = match p.goal {
            Some(g) => format!(
                "≥ {} {}",
                fmt_rate(g),
                if p.rate() >= g { "✓" } else { "✗" }
            ),
            None => String::new(),
        };
        table.add_row(vec![
            Cell::new(&p.name),
            Cell::new(p.events).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.3}", p.seconds)).set_alignment(CellAlignment::Right),
            Cell::new(fmt_rate(p.rate())).set_alignment(CellAlignment::Right),
            Cell::new(goal),
            Cell::new(p.verdict),
        ]);
    }
    let peak_ok = f.hwm_file_kib.map(|k| k < 100 * 1024);
    table.add_row(vec![
        Cell::new("peak memory (VmHWM) after the streaming file passes"),
        Cell::new(f.file_events).set_alignment(CellAlignment::Right),
        Cell::new(""),
        Cell::new(fmt_mib(f.hwm_file_kib)).set_alignment(CellAlignment::Right),
        Cell::new(match peak_ok {
            Some(true) => "< 100 MiB ✓",
            Some(false) => "< 100 MiB ✗",
            None => "< 100 MiB",
        }),
        Cell::new(""),
    ]);
    writeln!(out, "{table}")?;
    writeln!(
        out,
        "history: {} events, {:.1} MiB on disk (seed 42, 5 nodes); VmHWM before the passes {}, at the end {} (in-memory passes hold {} records)",
        f.file_events,
        f.file_bytes as f64 / (1024.0 * 1024.0),
        fmt_mib(f.hwm_before_kib),
        fmt_mib(f.hwm_end_kib),
        f.file_events.min(IN_MEMORY_CAP),
    )?;
    Ok(())
}
