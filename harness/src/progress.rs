//! What `splitbrain run` shows while it runs: a status line redrawn in place
//! on a terminal (indicatif), a plain line every few seconds and at each
//! fault in a CI log, nothing with `--quiet`. All of it goes to stderr and
//! none of it into the history or the results: it is read off the recorder's
//! live view, and the verdicts still come from the checkers afterwards.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::recorder::Recorder;

/// How a run reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// Nothing (campaigns, hunts and `--quiet`: they have their own lines).
    #[default]
    Quiet,
    /// One status line redrawn in place (stderr is a terminal).
    Bar,
    /// A plain line every [`LINE_EVERY`] and whenever the faults change.
    Lines,
}

impl ProgressMode {
    /// `Bar` on a terminal, `Lines` otherwise; `Quiet` when asked.
    pub fn for_stderr(quiet: bool) -> ProgressMode {
        if quiet {
            ProgressMode::Quiet
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        }
    }
}

/// A plain progress line at least this often when stderr is not a terminal.
pub const LINE_EVERY: Duration = Duration::from_secs(5);

/// The terminal line is redrawn at most this often.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// The progress of one run, ticked from its event loop.
pub struct Progress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    started: Instant,
    last_drawn: Option<Instant>,
    last_faults: Option<Vec<String>>,
    last_phase: String,
}

impl Progress {
    /// Progress for a run that starts now.
    pub fn new(mode: ProgressMode) -> Progress {
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        Progress {
            mode,
            bar,
            started: Instant::now(),
            last_drawn: None,
            last_faults: None,
            last_phase: String::new(),
        }
    }

    /// Redraw (or print) the status if it is time: `phase` is "faults" or
    /// "recovery", `elapsed` and `limit` that phase's.
    pub fn tick(&mut self, rec: &Recorder, phase: &str, elapsed: Duration, limit: Duration) {
        if self.mode == ProgressMode::Quiet {
            return;
        }
        let live = rec.live_status();
        let faults = live.faults_in_force();
        let now = Instant::now();
        let changed = self.last_faults.as_ref() != Some(&faults) || self.last_phase != phase;
        let due = match (self.mode, self.last_drawn) {
            (_, None) => true,
            (ProgressMode::Bar, Some(t)) => now - t >= REDRAW_EVERY,
            (_, Some(t)) => changed || now - t >= LINE_EVERY,
        };
        if !due {
            return;
        }
        self.last_drawn = Some(now);
        self.last_faults = Some(faults.clone());
        self.last_phase = phase.to_string();
        let leader = match rec.leader_and_term() {
            Some((node, term)) => format!("leader {node} (term {term})"),
            None => "no leader".to_string(),
        };
        let in_force = if faults.is_empty() {
            "no fault in force".to_string()
        } else {
            format!("in force: {}", faults.join(", "))
        };
        let line = format!(
            "{phase} {:.1}s/{:.0}s · {leader} · {in_force} · terms with two leaders so far: {}",
            elapsed.as_secs_f64(),
            limit.as_secs_f64(),
            live.split_terms
        );
        match &self.bar {
            Some(bar) => {
                bar.set_message(line);
                bar.tick();
            }
            None => eprintln!("[{:>6.1}s] {line}", self.started.elapsed().as_secs_f64()),
        }
    }

    /// Clear the terminal line before the report is printed.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
