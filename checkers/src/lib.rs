//! splitbrain's checkers: pure functions of a history (contract 4).
//!
//! The history types in [`history`] are the vocabulary every other crate
//! speaks; [`reader`] streams a history file; [`verdict`] is what checkers say.
//! [`model`] replays a history into live nodes, down links and healthy
//! quorums; [`check`](mod@check) runs every checker in one streaming pass;
//! [`synth`] generates realistic histories for tests and the benchmark.

pub mod bench;
pub mod check;
mod fast;
pub mod history;
pub mod model;
mod quorum_leader;
pub mod reader;
mod stale_leader;
pub mod synth;
pub mod verdict;
mod vote_quorum;

pub use check::{check, check_reader, CheckOptions, Checker, CHECKER_NAMES, SAFETY_CHECKERS};
pub use history::{Event, Nanos, Record, RunHeader};
pub use model::{has_clique, HistoryModel};
pub use verdict::{CheckResult, Election, Evidence, Report, Verdict};
