//! The streaming checker: one pass over a history, every checker of contract 4.
//!
//! [`Checker`] takes records one at a time ([`Checker::push`]): the shared
//! [`RunModel`] takes each in once, then every selected checker of
//! [`crate::checks`] sees what it changed. Only what the checkers need is
//! kept (per node, per term, per open interval), never the history itself.
//! [`check`] runs it over any iterator of records and [`check_reader`] over a
//! history file, parsing lines without allocating.

use std::borrow::Borrow;
use std::io::BufRead;

use serde_json::json;

use crate::checks::{Check, CHECKER_COUNT, REGISTRY};
pub use crate::checks::{CheckOptions, CHECKER_NAMES, SAFETY_CHECKERS};
use crate::fast::{parse_line, Ev, Purpose};
use crate::history::{Nanos, Record};
use crate::reader::ReadError;
use crate::run_model::RunModel;
use crate::verdict::{CheckResult, Election, Evidence, Report, Verdict};

/// Run every (selected) checker over `records`, the first of which should be
/// the `run` header. Accepts owned records or references.
pub fn check<I>(records: I, opts: &CheckOptions) -> Report
where
    I: IntoIterator,
    I::Item: Borrow<Record>,
{
    let mut checker = Checker::new(opts.clone());
    for r in records {
        checker.push(r.borrow());
    }
    checker.finish()
}

/// Stream a history file through the checkers without holding it: lines are
/// parsed in place (no per-line allocation for the common kinds). A torn last
/// line is skipped with a warning in the report; a malformed line anywhere
/// else is an error naming its line number.
pub fn check_reader<R: BufRead>(mut input: R, opts: &CheckOptions) -> Result<Report, ReadError> {
    let mut checker = Checker::new(opts.clone());
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    let mut line_no = 0u64;
    let mut pending: Option<(u64, serde_json::Error)> = None;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if let Some((line, source)) = pending.take() {
            return Err(ReadError::Malformed { line, source });
        }
        match parse_line(line, Purpose::Check) {
            Ok(parsed) => {
                let (seq, t) = parsed.seq_t();
                checker.push_view(seq, t, parsed.view());
            }
            Err(e) => pending = Some((line_no, e)),
        }
    }
    if let Some((line, source)) = pending {
        checker.warn(format!(
            "line {line}: torn last line skipped ({source}); the run was probably cut short"
        ));
    }
    Ok(checker.finish())
}

/// State once the header is known: the model and the selected checkers,
/// in report order.
struct Run {
    model: RunModel,
    checks: Vec<Box<dyn Check>>,
    /// Indices into `checks` of the liveness checkers, the only ones that
    /// integrate time: the others are not called between events.
    timed: Vec<usize>,
}

/// The streaming checker: [`push`](Checker::push) every record in order,
/// then [`finish`](Checker::finish). Memory grows with nodes, terms,
/// elections and open intervals, not with the number of events.
pub struct Checker {
    opts: CheckOptions,
    enabled: [bool; CHECKER_COUNT],
    run: Option<Box<Run>>,
    no_header: bool,
    events: u64,
    warnings: Vec<String>,
}

impl Checker {
    /// A checker for one history.
    pub fn new(opts: CheckOptions) -> Self {
        let mut enabled = [true; CHECKER_COUNT];
        let mut warnings = Vec::new();
        if let Some(only) = &opts.only {
            enabled = [false; CHECKER_COUNT];
            for name in only {
                match CHECKER_NAMES.iter().position(|n| n == name) {
                    Some(i) => enabled[i] = true,
                    None => warnings.push(format!(
                        "unknown checker `{name}` ignored (known: {})",
                        CHECKER_NAMES.join(", ")
                    )),
                }
            }
        }
        Self {
            opts,
            enabled,
            run: None,
            no_header: false,
            events: 0,
            warnings,
        }
    }

    /// Record a problem with the history itself (e.g. a torn last line).
    pub fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    /// Feed the next record of the history.
    pub fn push(&mut self, record: &Record) {
        self.push_view(record.seq, record.t, record.view());
    }

    pub(crate) fn push_view(&mut self, seq: u64, t: Nanos, ev: Ev<'_>) {
        self.events += 1;
        if self.no_header {
            return;
        }
        match &mut self.run {
            Some(run) => {
                let dt = run.model.advance(t);
                if dt > 0 {
                    for &k in &run.timed {
                        run.checks[k].advance(dt, &run.model);
                    }
                }
                let obs = run.model.apply(seq, ev);
                for c in &mut run.checks {
                    c.observe(&obs, &run.model);
                }
            }
            None => match ev {
                Ev::Run(h) => {
                    let selected: Vec<_> = REGISTRY
                        .iter()
                        .zip(self.enabled)
                        .filter_map(|(e, on)| on.then_some(e))
                        .collect();
                    let timed: Vec<usize> = (0..selected.len())
                        .filter(|&k| selected[k].liveness)
                        .collect();
                    let model = RunModel::new(h, !timed.is_empty(), seq, t);
                    let checks = selected
                        .iter()
                        .map(|e| (e.make)(&self.opts, &model))
                        .collect();
                    self.run = Some(Box::new(Run {
                        model,
                        checks,
                        timed,
                    }));
                }
                _ => self.no_header = true,
            },
        }
    }

    /// Judge the history pushed so far.
    pub fn finish(self) -> Report {
        let Checker {
            enabled,
            run,
            events,
            mut warnings,
            ..
        } = self;
        let Some(run) = run else {
            let message = if events == 0 {
                "empty history: no run header".to_string()
            } else {
                "the history has no run header (its first record is not `type: run`): cannot judge"
                    .to_string()
            };
            let results = CHECKER_NAMES
                .iter()
                .enumerate()
                .filter(|(i, _)| enabled[*i])
                .map(|(_, name)| CheckResult {
                    checker: name.to_string(),
                    verdict: Verdict::Unknown,
                    figure: "no run header".into(),
                    evidence: vec![Evidence {
                        seqs: vec![],
                        window: [0, 0],
                        nodes: vec![],
                        message: message.clone(),
                    }],
                    details: json!({"error": message}),
                })
                .collect();
            warnings.push(message);
            return Report {
                results,
                elections: vec![],
                warnings,
                events,
            };
        };
        let Run {
            mut model,
            checks,
            timed,
        } = *run;
        warnings.append(&mut model.warnings());
        let results = checks
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let from_links = c.judged_from_links();
                let r = c.finish(&model);
                let r = distrust_if_bypassed(&model, from_links, r);
                if timed.contains(&i) {
                    unknown_without_end(&model, r)
                } else {
                    r
                }
            })
            .collect();
        let elections = model
            .tenures
            .iter()
            .map(|x| Election {
                term: x.term,
                leader: model.node_name(x.leader as usize),
                elected_at: x.elected_at,
                lost_at: x.lost_at,
                how: x.how.to_string(),
                seq: x.seq,
            })
            .collect();
        Report {
            results,
            elections,
            warnings,
            events,
        }
    }
}

/// A time-based verdict needs the run's end: without an end record (the
/// controller died, the file was cut) "no gap too long" may only mean the
/// history stops before the gap would have. A violation found stands; a
/// pass becomes `unknown`, so such a history is never judged `valid`.
fn unknown_without_end(model: &RunModel, mut r: CheckResult) -> CheckResult {
    if model.ended || r.verdict != Verdict::Valid {
        return r;
    }
    r.verdict = Verdict::Unknown;
    r.figure = format!("{} (history has no end)", r.figure);
    r.evidence.insert(
        0,
        Evidence {
            seqs: vec![],
            window: [0, 0],
            nodes: vec![],
            message: "the history has no `end` record (the controller died or the file was cut): \
                      a time-based verdict needs the run's end; rerun, or judge a complete history"
                .into(),
        },
    );
    r
}

/// Verdicts that depend on which links were down mean nothing when node
/// traffic bypassed the proxy during a run with network faults: the
/// recorded cuts may never have happened. Safety verdicts stand.
fn distrust_if_bypassed(model: &RunModel, from_links: bool, mut r: CheckResult) -> CheckResult {
    let (Some(seq), true, true) = (model.bypass_seq, model.had_network_fault, from_links) else {
        return r;
    };
    r.verdict = Verdict::Unknown;
    r.figure = format!("{} (unreliable: proxy bypassed)", r.figure);
    r.evidence.insert(
        0,
        Evidence {
            seqs: vec![seq],
            window: [0, 0],
            nodes: vec![],
            message: "node-to-node traffic bypassed the proxy, so the recorded network faults may not have taken effect".into(),
        },
    );
    r
}
