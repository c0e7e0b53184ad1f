//! Runs the proxy benchmark and prints its table:
//! `cargo run --release -p proxy --example bench`.

fn main() -> std::io::Result<()> {
    let opts = proxy::bench::BenchOptions::default();
    proxy::bench::run(&opts, &mut std::io::stdout())?;
    Ok(())
}
