//! The run store, the campaign store, and the reports (terminal tables, JSON,
//! Markdown, JUnit, HTML).

pub mod campaign;
pub mod evidence;
mod exit;
pub mod figures;
pub mod mutation;
pub mod report;
pub mod store;
pub mod writer;
