//! The run store and the reports (terminal tables, JSON, Markdown, JUnit, HTML).

pub mod report;
pub mod store;
pub mod writer;
