//! Verdicts and evidence: what every checker returns and every report prints.

use serde::{Deserialize, Serialize};

use crate::history::Nanos;

/// The outcome of one checker (Jepsen's three values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The history satisfies the property.
    Valid,
    /// Not enough evidence to judge (e.g. no leader ever observed).
    Unknown,
    /// The history violates the property; see the evidence.
    Invalid,
}

impl Verdict {
    /// Combine verdicts: any invalid wins, then any unknown, else valid.
    pub fn combine(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    /// The process exit code Jepsen uses: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        })
    }
}

/// Why a verdict is what it is: history positions a reader can look up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// `seq`s of the events involved, in history order.
    pub seqs: Vec<u64>,
    /// Time window `[from, to]` in nanoseconds since the run started.
    pub window: [Nanos; 2],
    /// Nodes involved.
    pub nodes: Vec<String>,
    /// One sentence a person can act on.
    pub message: String,
}

/// One checker's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Checker name as in contract 4 (`term-uniqueness`, ...).
    pub checker: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The key figure for the summary table (e.g. `12 terms, 0 conflicts`).
    pub figure: String,
    /// Evidence for invalid (and notable) findings; first is most important.
    pub evidence: Vec<Evidence>,
    /// Checker-specific figures for JSON consumers (stable keys).
    #[serde(default)]
    pub details: serde_json::Value,
}

/// A leadership tenure, for the elections table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Election {
    /// The term the leader claimed.
    pub term: u64,
    /// The claimant.
    pub leader: String,
    /// When the claim started.
    pub elected_at: Nanos,
    /// When it ended (`None`: still leading at the end of the history).
    pub lost_at: Option<Nanos>,
    /// How it ended: `killed`, `paused`, `stepped down`, `exited`, `superseded`, `end of run`.
    pub how: String,
    /// `seq` of the claim.
    pub seq: u64,
}

/// Everything the checkers concluded about one history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// One result per checker that ran, in a stable order.
    pub results: Vec<CheckResult>,
    /// Leadership tenures in order of election.
    pub elections: Vec<Election>,
    /// Problems with the history itself (torn line, garbage, bypass).
    pub warnings: Vec<String>,
    /// Number of events read.
    pub events: u64,
}

impl Report {
    /// The run's verdict: invalid if any checker is, else unknown if any is, else valid.
    pub fn verdict(&self) -> Verdict {
        self.results
            .iter()
            .fold(Verdict::Valid, |acc, r| acc.combine(r.verdict))
    }
}
