//! Every checker of contract 4, one module each, behind one small trait.
//!
//! A checker sees each event once, after the shared [`RunModel`] took it in
//! ([`Check::observe`]), and the time between events under the state that
//! held ([`Check::advance`]); at the end it judges ([`Check::finish`]). Each
//! keeps only its own tallies, so checkers are independent: adding one is a
//! new module and one line in [`REGISTRY`], whose order is the report order,
//! the `--only` vocabulary and the JSON order. Jepsen's `checker/compose`
//! over independent checkers is the model.

use std::time::Duration;

use serde_json::json;

use crate::run_model::{Observation, RunModel};
use crate::verdict::{CheckResult, Evidence, Verdict};

mod crashes;
mod election_gap;
mod leader_agreement;
mod lease_overlap;
mod quorum_leader;
mod stability;
mod stale_leader;
mod term_monotonic;
mod term_uniqueness;
mod vote_once;
mod vote_quorum;
mod vote_up_to_date;

/// Evidence kept per checker: enough to act on, bounded so memory is too.
pub(crate) const MAX_EVIDENCE: usize = 20;
/// Items kept in `details` lists (gaps, unnecessary elections, ...).
pub(crate) const MAX_LISTED: usize = 200;

/// One checker: independent state over the shared model.
pub(crate) trait Check {
    /// `dt` nanoseconds passed under the model's current state (called
    /// before the model takes in the next event, for `liveness` entries only).
    fn advance(&mut self, _dt: u64, _model: &RunModel) {}

    /// The model took in an event; judge what it changed.
    fn observe(&mut self, obs: &Observation<'_>, model: &RunModel);

    /// Judged from which links were down: such a verdict means nothing when
    /// node traffic bypassed the proxy during a run with network faults.
    fn judged_from_links(&self) -> bool {
        false
    }

    /// The verdict on the whole history.
    fn finish(self: Box<Self>, model: &RunModel) -> CheckResult;
}

/// A registered checker: its contract name and how to build it for a run.
pub(crate) struct Entry {
    pub name: &'static str,
    /// A violation is a bug whatever the faults (listed in `SAFETY_CHECKERS`).
    pub safety: bool,
    /// Needs the model's healthy quorum and effective leader, and the time
    /// between events ([`Check::advance`] is called only for these).
    pub liveness: bool,
    pub make: fn(&CheckOptions, &RunModel) -> Box<dyn Check>,
}

/// Every checker, in report order (contract 4).
pub(crate) const REGISTRY: [Entry; 12] = [
    Entry {
        name: "term-uniqueness",
        safety: true,
        liveness: false,
        make: fresh::<term_uniqueness::TermUniqueness>,
    },
    Entry {
        name: "term-monotonic",
        safety: true,
        liveness: false,
        make: fresh::<term_monotonic::TermMonotonic>,
    },
    Entry {
        name: "election-gap",
        safety: false,
        liveness: true,
        make: election_gap::make,
    },
    Entry {
        name: "stability",
        safety: false,
        liveness: true,
        make: fresh::<stability::Stability>,
    },
    Entry {
        name: "lease-overlap",
        safety: false,
        liveness: true,
        make: lease_overlap::make,
    },
    Entry {
        name: "leader-agreement",
        safety: true,
        liveness: false,
        make: fresh::<leader_agreement::LeaderAgreement>,
    },
    Entry {
        name: "stale-leader",
        safety: false,
        liveness: false,
        make: stale_leader::make,
    },
    Entry {
        name: "vote-once",
        safety: true,
        liveness: false,
        make: fresh::<vote_once::VoteOnce>,
    },
    Entry {
        name: "vote-up-to-date",
        safety: true,
        liveness: false,
        make: fresh::<vote_up_to_date::VoteUpToDate>,
    },
    Entry {
        name: "quorum-leader",
        safety: true,
        liveness: false,
        make: quorum_leader::make,
    },
    Entry {
        name: "vote-quorum",
        safety: true,
        liveness: false,
        make: vote_quorum::make,
    },
    Entry {
        name: "crashes",
        safety: false,
        liveness: false,
        make: fresh::<crashes::Crashes>,
    },
];

/// Number of safety checkers in [`REGISTRY`].
pub(crate) const fn safety_count() -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < REGISTRY.len() {
        if REGISTRY[i].safety {
            n += 1;
        }
        i += 1;
    }
    n
}

/// A checker that starts empty, whatever the run: most of them.
fn fresh<T: Check + Default + 'static>(_: &CheckOptions, _: &RunModel) -> Box<dyn Check> {
    Box::<T>::default()
}

/// Milliseconds with three decimals, as every report figure shows them.
pub(crate) fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e6 * 1000.0).round() / 1000.0
}

/// Evidence that only explains (no seqs, no window).
pub(crate) fn note(message: &str) -> Evidence {
    Evidence {
        seqs: vec![],
        window: [0, 0],
        nodes: vec![],
        message: message.to_string(),
    }
}

/// The result of a vote checker when no vote was recorded: not applicable
/// when the target prints none, unknown when its header says it should.
pub(crate) fn no_votes(name: &str, model: &RunModel) -> Option<CheckResult> {
    if model.votes_seen > 0 {
        return None;
    }
    let expected = model.votes_expected();
    let (verdict, figure, message) = if expected {
        (
            Verdict::Unknown,
            "no vote events (expected)",
            "the header says vote events are expected, but none were recorded",
        )
    } else {
        (
            Verdict::Valid,
            "not applicable: no vote events",
            "the target emits no vote events; nothing to judge",
        )
    };
    Some(CheckResult {
        checker: name.into(),
        verdict,
        figure: figure.into(),
        evidence: vec![note(message)],
        details: json!({"applicable": false, "votes": 0, "votes_expected": expected}),
    })
}

/// Number of checkers.
pub(crate) const CHECKER_COUNT: usize = REGISTRY.len();

/// Names of every checker, in report order (contract 4), from the registry.
pub const CHECKER_NAMES: [&str; CHECKER_COUNT] = {
    let mut names = [""; CHECKER_COUNT];
    let mut i = 0;
    while i < CHECKER_COUNT {
        names[i] = REGISTRY[i].name;
        i += 1;
    }
    names
};

/// Checkers that judge safety (a violation is a bug, whatever the faults).
pub const SAFETY_CHECKERS: [&str; safety_count()] = {
    let mut names = [""; safety_count()];
    let (mut i, mut k) = (0, 0);
    while i < CHECKER_COUNT {
        if REGISTRY[i].safety {
            names[k] = REGISTRY[i].name;
            k += 1;
        }
        i += 1;
    }
    names
};

/// How to run the checkers over a history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckOptions {
    /// Longest acceptable election gap; `None` uses the header's `gap_bound_ms`.
    /// Lets `splitbrain check --gap-bound` re-judge an old run.
    pub gap_bound: Option<Duration>,
    /// Run only these checkers (names from [`CHECKER_NAMES`]); `None` runs all.
    /// Unknown names are reported as a warning and ignored.
    pub only: Option<Vec<String>>,
    /// How long a leader may keep leading while it can hear a higher term;
    /// `None` derives it from the header's timing (`stale-leader`).
    pub stale_leader_bound: Option<Duration>,
}

impl CheckOptions {
    /// Only the safety checkers: what a quick bug hunt or the bench needs.
    pub fn safety_only() -> Self {
        Self {
            only: Some(SAFETY_CHECKERS.iter().map(|s| s.to_string()).collect()),
            ..Self::default()
        }
    }
}
