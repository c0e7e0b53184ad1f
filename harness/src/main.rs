//! `splitbrain`: the controller CLI, a thin edge over the libraries, and, as
//! `splitbrain node <algorithm>`, every built-in election node.

mod bench_check;
mod check;
mod infra;
mod cluster;
mod nemesis;
mod observe;
mod outputs;
mod probe;
mod recorder;
mod run;
mod supervise;
mod target;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use results::report::terminal::{self, Style};

/// Exit code for bad arguments or configuration (nothing was started).
const EXIT_CONFIG: u8 = 254;
/// Exit code when the run itself failed.
const EXIT_FAILED: u8 = 255;

#[derive(Parser)]
#[command(name = "splitbrain", version, about = "A fault-injection harness for leader election: kill, pause and partition real nodes, record every leadership claim, check at most one leader per term and bounded election gaps.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one experiment: start the nodes, inject faults, judge the history.
    Run(RunArgs),
    /// Re-run the checkers on a history file.
    Check(CheckArgs),
    /// Run a built-in election node (what target files start).
    Node {
        #[command(subcommand)]
        algorithm: nodes::cli::NodeCommand,
    },
    /// Measure the proxy or the checkers.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// List the built-in targets.
    Targets,
    /// Internal: kills registered process groups when the controller dies.
    #[command(hide = true)]
    Watchdog,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Built-in target name or path of a target file.
    #[arg(long, default_value = "raft")]
    target: String,
    /// Number of nodes (default: the target's).
    #[arg(long)]
    nodes: Option<usize>,
    /// Seed of the fault schedule (default: random; printed for replay).
    #[arg(long)]
    seed: Option<u64>,
    /// Length of the fault phase.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    time_limit: Duration,
    /// Fault presets, comma-separated: kill, pause, partition, partition-leader,
    /// bridge, ring, one-way, lossy, slow, flapping, mixed, none.
    #[arg(long, default_value = "kill")]
    nemesis: String,
    /// Fixed time between faults (default: scaled to the target's election timeout).
    #[arg(long, value_parser = humantime::parse_duration)]
    nemesis_interval: Option<Duration>,
    /// Fixed fault length (default: scaled to the target's election timeout).
    #[arg(long, value_parser = humantime::parse_duration)]
    fault_duration: Option<Duration>,
    /// Longest acceptable election gap (default: from the target's timing).
    #[arg(long, value_parser = humantime::parse_duration)]
    gap_bound: Option<Duration>,
    /// Final recovery window (default: from the target's timing).
    #[arg(long, value_parser = humantime::parse_duration)]
    recovery: Option<Duration>,
    /// Seeded bug for built-in nodes (e.g. forget-term).
    #[arg(long)]
    bug: Option<String>,
    /// Extra argument appended to every node's argv (repeatable).
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    node_args: Vec<String>,
    /// Where runs are stored.
    #[arg(long, default_value = "store")]
    store: PathBuf,
    /// Print results.json instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// A history.jsonl (or a run directory containing one).
    file: PathBuf,
    /// Override the gap bound recorded in the history.
    #[arg(long, value_parser = humantime::parse_duration)]
    gap_bound: Option<Duration>,
    /// Run only these checkers (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Proxy latency and throughput, direct vs proxied, UDP and TCP.
    Proxy,
    /// Checker throughput in memory and from a file, and peak memory.
    Check {
        /// Events in the generated history.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_CONFIG } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if !matches!(cli.command, Command::Node { .. } | Command::Watchdog) {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("SPLITBRAIN_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_writer(std::io::stderr)
            .init();
    }
    match cli.command {
        Command::Run(args) => cmd_run(args),
        Command::Check(args) => cmd_check(args),
        Command::Node { algorithm } => match nodes::cli::run(algorithm) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("splitbrain node: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::Bench { what } => cmd_bench(what),
        Command::Targets => {
            for (name, _) in nodes::target::BUILTIN_TARGETS {
                match target::Target::load(name) {
                    Ok(t) => println!("{name:<12} {}", t.description),
                    Err(e) => println!("{name:<12} (broken: {e})"),
                }
            }
            ExitCode::SUCCESS
        }
        Command::Watchdog => ExitCode::from(supervise::run_watchdog() as u8),
    }
}

fn cmd_run(a: RunArgs) -> ExitCode {
    let opts = run::RunOptions {
        target: a.target,
        nodes: a.nodes,
        seed: a.seed,
        time_limit: a.time_limit,
        nemesis: a.nemesis,
        nemesis_interval: a.nemesis_interval,
        fault_duration: a.fault_duration,
        gap_bound: a.gap_bound,
        recovery: a.recovery,
        bug: a.bug,
        node_args: a.node_args,
        store: a.store,
        interrupt: Arc::new(AtomicBool::new(false)),
    };
    match run::run(&opts) {
        Ok(outcome) => {
            let verdict = outcome.verdict();
            if let Err(e) = outputs::write_run_outputs(&outcome.dir, &outcome.header, &outcome.report, outcome.interrupted) {
                eprintln!("splitbrain: {e:#}");
                return ExitCode::from(EXIT_FAILED);
            }
            let mut out = std::io::stdout().lock();
            if a.json {
                let _ = writeln!(out, "{}", std::fs::read_to_string(outcome.dir.results_json()).unwrap_or_default());
            } else {
                let _ = write!(
                    out,
                    "{}{}",
                    terminal::render(&outcome.report, Some(&outcome.header), Style::for_stdout()),
                    outputs::footer(&outcome.dir, outcome.interrupted)
                );
            }
            ExitCode::from(verdict.exit_code() as u8)
        }
        Err(run::RunError::Config(e)) => {
            eprintln!("splitbrain: {e:#}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(run::RunError::Failed(e)) => {
            eprintln!("splitbrain: the run failed: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn cmd_check(a: CheckArgs) -> ExitCode {
    let path = if a.file.is_dir() { a.file.join("history.jsonl") } else { a.file.clone() };
    if !path.is_file() {
        eprintln!("splitbrain: {} is not a history file; pass a history.jsonl or a run directory", path.display());
        return ExitCode::from(EXIT_CONFIG);
    }
    let opts = checkers::CheckOptions { gap_bound: a.gap_bound, only: a.only, ..Default::default() };
    match check::check_file(&path, &opts) {
        Ok(report) => {
            let header = check::read_header(&path);
            if a.json {
                let text = match header.as_ref() {
                    Some(h) => results::report::json::render(h, &report).map_err(anyhow::Error::from),
                    None => serde_json::to_string_pretty(&report).map_err(anyhow::Error::from),
                };
                match text {
                    Ok(t) => println!("{t}"),
                    Err(e) => {
                        eprintln!("splitbrain: {e:#}");
                        return ExitCode::from(EXIT_FAILED);
                    }
                }
            } else {
                print!("{}", terminal::render(&report, header.as_ref(), Style::for_stdout()));
            }
            ExitCode::from(report.verdict().exit_code() as u8)
        }
        Err(e) => {
            eprintln!("splitbrain: {e:#}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn cmd_bench(what: BenchCommand) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let result = match what {
        BenchCommand::Proxy => proxy::bench::run(&proxy::bench::BenchOptions::default(), &mut out),
        BenchCommand::Check { events } => bench_check::run(events, &mut out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("splitbrain bench: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
