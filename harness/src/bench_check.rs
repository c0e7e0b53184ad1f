//! `splitbrain bench check --events N`: how fast the checkers judge a history.
//!
//! A thin wrapper: the generator, the measurements and the table live in
//! `checkers::bench`, so the checkers crate can bench itself without the CLI.

/// Generate a realistic history of about `events` events, judge it in memory
/// and end to end from a file, and print events/s and peak memory to `out`.
pub fn run(events: u64, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    checkers::bench::run(events, out)?;
    Ok(())
}
