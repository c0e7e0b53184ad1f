//! Run the checker benchmark without the CLI: `cargo run --release -p checkers --example bench_check -- 1000000`.

fn main() {
    let events = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut out = std::io::stdout();
    if let Err(e) = checkers::bench::run(events, &mut out) {
        eprintln!("bench failed: {e}");
        std::process::exit(255);
    }
}
