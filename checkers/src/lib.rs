//! splitbrain's checkers: pure functions of a history (contract 4).
//!
//! The history types in [`history`] are the vocabulary every other crate
//! speaks; [`reader`] streams a history file; [`verdict`] is what checkers say.

pub mod history;
pub mod reader;
pub mod verdict;

pub use history::{Event, Nanos, Record, RunHeader};
pub use verdict::{CheckResult, Election, Evidence, Report, Verdict};
