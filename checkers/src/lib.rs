//! splitbrain's checkers: pure functions of a history (contract 4).
//!
//! The history types in [`history`] are the vocabulary every other crate
//! speaks; [`reader`] streams a history file; [`verdict`] is what checkers say.
//! [`model`] replays a history into live nodes, down links and healthy
//! quorums; [`check`](mod@check) runs every checker in one streaming pass,
//! each a module of `checks` over the shared model of `run_model`;
//! [`synth`] generates realistic histories for tests and the benchmark.

pub mod bench;
pub mod check;
mod checks;
mod fast;
pub mod history;
pub mod model;
pub mod reader;
mod run_model;
pub mod synth;
#[cfg(test)]
mod testkit;
pub mod verdict;

pub use check::{check, check_reader, CheckOptions, Checker, CHECKER_NAMES, SAFETY_CHECKERS};
pub use history::{Event, Nanos, Record, RunHeader};
pub use model::{has_clique, HistoryModel};
pub use verdict::{CheckResult, Election, Evidence, Report, Verdict};
