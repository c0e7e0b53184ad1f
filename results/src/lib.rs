//! The run store and the reports (terminal tables, JSON, Markdown, JUnit, HTML).
