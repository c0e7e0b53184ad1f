//! `splitbrain`: the controller CLI, a thin edge over the libraries, and, as
//! `splitbrain node <algorithm>`, every built-in election node.

mod bench_check;
mod campaign;
mod check;
mod cluster;
mod hunt;
mod infra;
mod nemesis;
mod network;
mod network_bench;
mod observe;
mod outputs;
mod ports;
mod probe;
mod progress;
mod recorder;
mod replay;
mod report_cmd;
mod run;
mod schedule_cmd;
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
#[command(
    name = "splitbrain",
    version,
    about = "A fault-injection harness for leader election: kill, pause and partition real nodes, record every leadership claim, check at most one leader per term and bounded election gaps."
)]
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
    /// Run a campaign: targets × nemesis presets × seeds × repetitions.
    Campaign(CampaignArgs),
    /// Hunt for bugs nobody knows of: every preset and chaos, fresh seeds,
    /// round-robin, until the first violation or the budget.
    Hunt(HuntArgs),
    /// Re-render a run or a campaign from its files; merge campaign shards.
    Report(ReportArgs),
    /// Run a stored run again (same target, preset, seed, settings) and say
    /// how often its violation came back.
    Replay(ReplayArgs),
    /// Print the fault schedule a run would draw for a seed (or one line per
    /// seed of a range), without starting anything: to pick seeds whose faults
    /// a test or a campaign needs.
    Schedule(ScheduleArgs),
    /// Run a built-in election node (what target files start).
    Node {
        #[command(subcommand)]
        algorithm: nodes::cli::NodeCommand,
    },
    /// Measure the proxy, the network backends or the checkers.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// List the built-in targets.
    Targets,
    /// Remove what killed controllers left behind: the cgroups, nft tables
    /// and locks of runs whose controller is gone (never a live run's, never
    /// anything not named after a run). Every run start does the same.
    Clean {
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Internal: kills registered process groups when the controller dies.
    #[command(hide = true)]
    Watchdog,
    /// Internal: a peer process of `bench network` (echo, client, sink, sender).
    #[command(hide = true)]
    BenchPeer { role: String },
}

/// What decides a run's fault schedule: shared by `run` and `schedule`, so
/// that `schedule` lists exactly what `run` with the same flags draws.
#[derive(clap::Args)]
struct FaultArgs {
    /// Built-in target name or path of a target file (its timing scales the faults).
    #[arg(long, default_value = "raft")]
    target: String,
    /// Length of the fault phase.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    time_limit: Duration,
    /// Fault presets, comma-separated: kill, pause, partition, partition-leader,
    /// bridge, ring, one-way, lossy, slow, flapping, duplicate, reorder,
    /// delay-spike, mixed (all, one at a time), chaos (all, overlapping), none;
    /// reactive: kill-voter, pause-new-leader, cut-new-leader.
    #[arg(long, default_value = "kill")]
    nemesis: String,
    /// Fixed time between faults (default: scaled to the target's election timeout).
    #[arg(long, value_parser = parse_duration)]
    nemesis_interval: Option<Duration>,
    /// Fixed fault length (default: scaled to the target's election timeout).
    #[arg(long, value_parser = parse_duration)]
    fault_duration: Option<Duration>,
    /// Up to this many faults active at once, each with its own undo (1: one
    /// at a time; `chaos` overlaps 2–3 by itself).
    #[arg(long, default_value_t = 1)]
    concurrency: u32,
    /// Fixed probability (0–1) that `duplicate` delivers a datagram twice
    /// (default: drawn in 0.2–0.6 per fault).
    #[arg(long)]
    duplicate_probability: Option<f64>,
    /// Fixed delay of a `delay-spike`, the same on every link (default: each
    /// link its own, 1–3.5 × the maximum election timeout).
    #[arg(long, value_parser = parse_duration)]
    spike_delay: Option<Duration>,
    /// Fixed jitter of a `delay-spike`, at most its delay (default: 0.1–0.5 × the
    /// maximum election timeout).
    #[arg(long, value_parser = parse_duration)]
    spike_jitter: Option<Duration>,
    /// Where link faults happen: `proxy` (a proxy between nodes: every fault)
    /// or `kernel` (nftables rules by cgroup, nodes on their real addresses:
    /// cuts and loss; needs root). Default: the target file's `network`.
    #[arg(long, value_enum)]
    network: Option<network::NetworkBackend>,
}

impl FaultArgs {
    /// The fault settings the user fixed.
    fn knobs(&self) -> workloads::FaultKnobs {
        workloads::FaultKnobs {
            concurrency: self.concurrency,
            duplicate_probability: self.duplicate_probability,
            spike_delay: self.spike_delay,
            spike_jitter: self.spike_jitter,
            ..workloads::FaultKnobs::default()
        }
    }
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    faults: FaultArgs,
    /// Number of nodes (default: the target's).
    #[arg(long)]
    nodes: Option<usize>,
    /// Seed of the fault schedule (default: random; printed for replay).
    #[arg(long)]
    seed: Option<u64>,
    /// Longest acceptable election gap (default: from the target's timing).
    #[arg(long, value_parser = parse_duration)]
    gap_bound: Option<Duration>,
    /// Final recovery window (default: from the target's timing).
    #[arg(long, value_parser = parse_duration)]
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
    /// No progress on stderr (by default: a status line redrawn in place on
    /// a terminal, a plain line every few seconds and at each fault otherwise).
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
struct ScheduleArgs {
    #[command(flatten)]
    faults: FaultArgs,
    /// A seed (`2724`) or an inclusive range (`1-3000`: one line per seed, to grep).
    #[arg(long, default_value = "1")]
    seeds: String,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// A history.jsonl (or a run directory containing one).
    file: PathBuf,
    /// Override the gap bound recorded in the history.
    #[arg(long, value_parser = parse_duration)]
    gap_bound: Option<Duration>,
    /// Run only these checkers (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct CampaignArgs {
    /// A campaign file (TOML), or a built-in campaign: nightly, example, mutants, raft-options, etcd-elect, message-faults.
    file: String,
    /// Carry out only slice K of N of the matrix (runs whose index ≡ K-1 mod N).
    /// Default: SPLITBRAIN_SHARD=K/N, or a Kubernetes Indexed Job's
    /// JOB_COMPLETION_INDEX (0-based) with SPLITBRAIN_SHARDS=N.
    #[arg(long, value_parser = results::campaign::Shard::parse)]
    shard: Option<results::campaign::Shard>,
    /// Runs at once (default: the file's, else half the cores, at least 1).
    #[arg(long)]
    jobs: Option<usize>,
    /// Continue the newest unfinished campaign with the same plan in the store.
    #[arg(long)]
    resume: bool,
    /// Unknown runs do not fail the campaign (exit 0 instead of 2).
    #[arg(long)]
    allow_unknown: bool,
    /// Keep going after a violation (the default).
    #[arg(long, conflicts_with = "fail_fast")]
    keep_going: bool,
    /// Stop after the first invalid run.
    #[arg(long)]
    fail_fast: bool,
    /// First seed, replacing the file's seeds (e.g. the day of the year, for new seeds every night).
    #[arg(long)]
    seed_base: Option<u64>,
    /// Run this many seeds per target (from --seed-base, else the file's first seed), e.g.
    /// `--seed-base 1 --seed-count 10` to tune schedules on seeds 1–10.
    #[arg(long)]
    seed_count: Option<u64>,
    /// Override the file's time limit per run.
    #[arg(long, value_parser = parse_duration)]
    time_limit: Option<Duration>,
    /// Where runs and campaigns are stored.
    #[arg(long, default_value = "store")]
    store: PathBuf,
}

#[derive(clap::Args)]
struct HuntArgs {
    /// Built-in target name or path of a target file.
    #[arg(long, default_value = "raft")]
    target: String,
    /// Campaign time to spend at most (10m, 1h30m; a bare number is seconds).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    budget: Duration,
    /// Runs at once (default: half the cores, at least 1).
    #[arg(long)]
    jobs: Option<usize>,
    /// Keep going after the first violation, to the end of the budget, then
    /// print a table per preset.
    #[arg(long)]
    all: bool,
    /// First seed; run i uses SEED + i (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Fault phase of each run (default: 20 × the maximum election timeout, at least 8s).
    #[arg(long, value_parser = parse_duration)]
    time_limit: Option<Duration>,
    /// Number of nodes (default: the target's).
    #[arg(long)]
    nodes: Option<usize>,
    /// Seeded bug for built-in nodes (e.g. count-replies).
    #[arg(long)]
    bug: Option<String>,
    /// Extra argument appended to every node's argv (repeatable).
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    node_args: Vec<String>,
    /// Where runs and the hunt's summary are stored.
    #[arg(long, default_value = "store")]
    store: PathBuf,
}

/// A duration on the command line: `500ms`, `10m`, `1h30m`, or a bare
/// number of seconds (`600`), as `timeout` and `sleep` read it.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err(format!(
            "{text:?} is not a duration: give seconds >= 0, or e.g. 500ms, 10m"
        ));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration ({e}): give e.g. 500ms, 30s, 10m or a bare number of seconds"))
}

#[derive(clap::Args)]
struct ReportArgs {
    /// A run directory or a campaign directory (or, with --merge, shard campaign directories).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: report_cmd::Format,
    /// Merge these shard campaign directories into a new campaign directory.
    #[arg(long)]
    merge: bool,
    /// Also rewrite the directory's report files.
    #[arg(long)]
    write: bool,
    /// Where a merged campaign is stored.
    #[arg(long, default_value = "store")]
    store: PathBuf,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The run directory to replay (e.g. store/latest).
    run: PathBuf,
    /// How many times to run it.
    #[arg(long, default_value_t = 1)]
    times: usize,
    /// Where the replays are stored.
    #[arg(long, default_value = "store")]
    store: PathBuf,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Proxy latency and throughput, direct vs proxied, UDP and TCP.
    Proxy,
    /// Added round-trip latency of each way to fault links (direct, the
    /// kernel backend with a full table, the proxy, socat) in one run with
    /// one client, and how fast a kernel cut and heal take effect. Root.
    Network {
        /// Round trips per path.
        #[arg(long, default_value_t = 20_000)]
        samples: u32,
        /// Endpoints in the kernel table (the measured pair and idle ones,
        /// all of whose links are cut).
        #[arg(long, default_value_t = 25)]
        endpoints: usize,
        /// Cut/heal repetitions.
        #[arg(long, default_value_t = 50)]
        cuts: u32,
    },
    /// Checker throughput in memory and from a file, and peak memory.
    Check {
        /// Events in the generated history.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
    },
    /// Time `hunt` needs to find each seeded bug of the built-in nodes (the
    /// table in docs/mutants.md).
    Hunt {
        /// Hunts per bug; the table gives the median.
        #[arg(long, default_value_t = 5)]
        hunts: usize,
        /// Budget of each hunt (a bare number is seconds).
        #[arg(long, default_value = "5m", value_parser = parse_duration)]
        budget: Duration,
        /// Only the bugs whose label contains one of these (comma-separated,
        /// e.g. raft+count-replies,bully).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// First seed of the first hunt of every bug.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where the hunts' runs are stored.
        #[arg(long, default_value = "store")]
        store: PathBuf,
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
    if !matches!(
        cli.command,
        Command::Node { .. } | Command::Watchdog | Command::BenchPeer { .. }
    ) {
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
        Command::Campaign(args) => cmd_campaign(args),
        Command::Hunt(args) => cmd_hunt(args),
        Command::Report(args) => cmd_report(args),
        Command::Replay(args) => cmd_replay(args),
        Command::Schedule(args) => cmd_schedule(args),
        Command::Node { algorithm } => match nodes::cli::run(algorithm) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("splitbrain node: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::Bench { what } => cmd_bench(what),
        Command::Targets => {
            let names = nodes::target::BUILTIN_TARGETS.iter().map(|(name, _)| *name);
            let width = names.clone().map(str::len).max().unwrap_or(0);
            for name in names {
                match target::Target::load(name) {
                    Ok(t) => println!("{name:<width$} {}", t.description),
                    Err(e) => println!("{name:<width$} (broken: {e})"),
                }
            }
            ExitCode::SUCCESS
        }
        Command::Clean { dry_run } => cmd_clean(dry_run),
        Command::Watchdog => ExitCode::from(supervise::run_watchdog() as u8),
        Command::BenchPeer { role } => ExitCode::from(network_bench::run_peer(&role) as u8),
    }
}

fn cmd_clean(dry_run: bool) -> ExitCode {
    let hierarchy = kernel::Hierarchy::find().ok();
    let nft = kernel::Nft::open().ok();
    let found = kernel::owner::leftovers(hierarchy.as_ref(), nft.as_ref());
    if found.is_empty() {
        println!("nothing to clean: no cgroups, nft tables or locks of dead runs");
        return ExitCode::SUCCESS;
    }
    let mut failed = 0;
    for leftover in &found {
        if dry_run {
            println!("would remove {leftover}");
            continue;
        }
        match kernel::owner::remove(leftover, nft.as_ref()) {
            Ok(()) => println!("removed {leftover}"),
            Err(e) => {
                failed += 1;
                eprintln!("splitbrain clean: {leftover}: {e} (run as root, or remove it by hand)");
            }
        }
    }
    if dry_run {
        println!(
            "{} run(s) to clean; run `splitbrain clean` to remove them",
            found.len()
        );
        ExitCode::SUCCESS
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        println!("{} run(s) cleaned", found.len());
        ExitCode::SUCCESS
    }
}

fn cmd_run(a: RunArgs) -> ExitCode {
    let knobs = a.faults.knobs();
    let opts = run::RunOptions {
        knobs,
        target: a.faults.target,
        nodes: a.nodes,
        seed: a.seed,
        time_limit: a.faults.time_limit,
        nemesis: a.faults.nemesis,
        nemesis_interval: a.faults.nemesis_interval,
        fault_duration: a.faults.fault_duration,
        gap_bound: a.gap_bound,
        recovery: a.recovery,
        bug: a.bug,
        node_args: a.node_args,
        network: a.faults.network,
        store: a.store,
        interrupt: Arc::new(AtomicBool::new(false)),
        progress: progress::ProgressMode::for_stderr(a.quiet || a.json),
    };
    match run::run(&opts) {
        Ok(outcome) => {
            let verdict = outcome.verdict();
            if let Err(e) = outputs::write_run_outputs(
                &outcome.dir,
                &outcome.header,
                &outcome.report,
                outcome.interrupted,
            ) {
                eprintln!("splitbrain: {e:#}");
                return ExitCode::from(EXIT_FAILED);
            }
            let mut out = std::io::stdout().lock();
            if a.json {
                let _ = writeln!(
                    out,
                    "{}",
                    std::fs::read_to_string(outcome.dir.results_json()).unwrap_or_default()
                );
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

fn cmd_campaign(a: CampaignArgs) -> ExitCode {
    // --shard wins; else the shard CI engines set in the environment.
    let shard = match a.shard {
        Some(s) => Some(s),
        None => match results::campaign::Shard::from_env(|k| std::env::var(k).ok()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("splitbrain campaign: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    campaign::watch_signals(interrupt.clone());
    let opts = campaign::CampaignOptions {
        file: a.file,
        shard,
        jobs: a.jobs,
        resume: a.resume,
        allow_unknown: a.allow_unknown,
        fail_fast: a.fail_fast && !a.keep_going,
        seed_base: a.seed_base,
        seed_count: a.seed_count,
        time_limit: a.time_limit,
        store: a.store,
        interrupt,
    };
    match campaign::run_campaign(&opts) {
        Ok(outcome) => {
            print!(
                "{}",
                results::report::campaign::render_terminal(&outcome.summary, Style::for_stdout())
            );
            println!("campaign directory: {}", outcome.dir.path().display());
            ExitCode::from(outcome.summary.exit_code() as u8)
        }
        Err(campaign::CampaignError::Config(e)) => {
            eprintln!("splitbrain campaign: {e:#}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(campaign::CampaignError::Failed(e)) => {
            eprintln!("splitbrain campaign: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn cmd_hunt(a: HuntArgs) -> ExitCode {
    let interrupt = Arc::new(AtomicBool::new(false));
    campaign::watch_signals(interrupt.clone());
    let opts = hunt::HuntOptions {
        target: a.target,
        budget: a.budget,
        jobs: a.jobs,
        all: a.all,
        seed: a.seed,
        time_limit: a.time_limit,
        nodes: a.nodes,
        bug: a.bug,
        node_args: a.node_args,
        store: a.store,
        interrupt,
    };
    let live = hunt::live_status();
    let bar = if live {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(500));
        bar.set_message("starting the first run");
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut on_progress = |p: &hunt::HuntProgress| {
        let line = format!(
            "[{}] {} {} ({:.1} s){}",
            p.summary.runs.len(),
            p.record.plan.name(),
            p.record.status,
            p.record.duration_ms as f64 / 1e3,
            p.run_dir
                .map(|d| format!(" {}", d.display()))
                .unwrap_or_default()
        );
        if live {
            bar.println(line);
            bar.set_message(p.status());
        } else {
            eprintln!("{line}");
            eprintln!("  {}", p.status());
        }
    };
    let outcome = match hunt::hunt(&opts, &mut on_progress) {
        Ok(outcome) => outcome,
        Err(hunt::HuntError::Config(e)) => {
            bar.finish_and_clear();
            eprintln!("splitbrain hunt: {e:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(hunt::HuntError::Failed(e)) => {
            bar.finish_and_clear();
            eprintln!("splitbrain hunt: {e:#}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    bar.finish_and_clear();
    print!("{}", hunt_text(&opts, &outcome));
    ExitCode::from(outcome.summary.exit_code() as u8)
}

/// What a hunt prints at the end: the find (its run's tables and evidence,
/// the replay command, the time to the first violation), or why it stopped,
/// and the per-preset table when it kept going or found nothing.
fn hunt_text(opts: &hunt::HuntOptions, o: &hunt::HuntOutcome) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let seed_base = o.summary.settings["seed_base"].as_u64().unwrap_or_default();
    let _ = writeln!(
        s,
        "hunt {}: {} runs in {} ({} presets round-robin, seeds from {seed_base}){}",
        o.summary.settings["label"].as_str().unwrap_or(&opts.target),
        o.summary.runs.len(),
        run::compact_duration(Duration::from_secs(o.elapsed.as_secs())),
        o.presets.len(),
        if o.summary.interrupted {
            "; interrupted"
        } else {
            ""
        }
    );
    for (p, why) in &o.skipped {
        let _ = writeln!(s, "  skipped {p}: {why}");
    }
    match &o.find {
        Some(f) => {
            let r = &f.record;
            let _ = writeln!(
                s,
                "
FOUND after {} of hunting (run {} of {}): {} is invalid ({})",
                run::compact_duration(Duration::from_millis(
                    f.found_after.as_millis() as u64 / 100 * 100
                )),
                f.runs,
                o.summary.runs.len(),
                r.plan.name(),
                r.invalid_checkers.join(", ")
            );
            if let Some(ms) = r.first_violation_ms {
                let _ = writeln!(s, "first violation {:.2} s into the run", ms / 1e3);
            }
            if let Some(v) = &r.first_violation {
                let _ = writeln!(s, "  {v}");
            }
            if let Some(dir) = &f.run_dir {
                match report_cmd::report(dir, report_cmd::Format::Text, false) {
                    Ok(rendered) => {
                        let _ = writeln!(
                            s,
                            "
{}",
                            rendered.text.trim_end()
                        );
                    }
                    Err(e) => {
                        let _ = writeln!(s, "(could not re-render {}: {e:#})", dir.display());
                    }
                }
                let _ = writeln!(s, "run directory: {}", dir.display());
            }
            if let Some(replay) = &r.replay {
                let _ = writeln!(s, "replay: {replay}");
            }
        }
        None => {
            let why = o.stopped.clone().unwrap_or_else(|| {
                if o.summary.interrupted {
                    "interrupted".into()
                } else {
                    "the budget is spent".into()
                }
            });
            let _ = writeln!(
                s,
                "
no violation found in {} runs ({why}); {}",
                o.summary.runs.len(),
                hunt::best_figure(&o.summary)
            );
            if let Some(last) = o.summary.runs.iter().rev().find(|r| r.error.is_some()) {
                let _ = writeln!(
                    s,
                    "last error: {} {}",
                    last.plan.name(),
                    last.error.as_deref().unwrap_or_default()
                );
            }
        }
    }
    if opts.all || o.find.is_none() {
        let _ = writeln!(
            s,
            "
{}",
            hunt::preset_table(&o.summary, &o.presets)
        );
    }
    let _ = writeln!(s, "hunt directory: {}", o.dir.path().display());
    s
}

fn cmd_report(a: ReportArgs) -> ExitCode {
    if a.merge {
        return match report_cmd::merge(&a.paths, &a.store, a.format) {
            Ok((dir, rendered)) => {
                print!("{}", rendered.text);
                eprintln!("merged campaign directory: {}", dir.path().display());
                ExitCode::from(rendered.exit_code as u8)
            }
            Err(e) => {
                eprintln!("splitbrain report --merge: {e:#}");
                ExitCode::from(EXIT_CONFIG)
            }
        };
    }
    let [path] = a.paths.as_slice() else {
        eprintln!(
            "splitbrain report: give one run or campaign directory (several only with --merge)"
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    match report_cmd::report(path, a.format, a.write) {
        Ok(rendered) => {
            print!("{}", rendered.text);
            ExitCode::from(rendered.exit_code as u8)
        }
        Err(e) => {
            eprintln!("splitbrain report: {e:#}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn cmd_schedule(a: ScheduleArgs) -> ExitCode {
    let knobs = a.faults.knobs();
    let listing = schedule_cmd::parse_seeds(&a.seeds).and_then(|seeds| {
        schedule_cmd::render(&schedule_cmd::ScheduleOptions {
            target: a.faults.target,
            nemesis: a.faults.nemesis,
            seeds,
            time_limit: a.faults.time_limit,
            nemesis_interval: a.faults.nemesis_interval,
            fault_duration: a.faults.fault_duration,
            knobs,
            network: a.faults.network,
        })
    });
    match listing {
        Ok(text) => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("splitbrain schedule: {e:#}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn cmd_replay(a: ReplayArgs) -> ExitCode {
    let opts = replay::ReplayOptions {
        run: a.run,
        times: a.times,
        store: a.store,
        interrupt: Arc::new(AtomicBool::new(false)),
    };
    let total = opts.times.max(1);
    let result = replay::replay(&opts, |i, attempt| {
        eprintln!(
            "[{}/{total}] {}{}",
            i + 1,
            attempt.status,
            attempt
                .dir
                .as_ref()
                .map(|d| format!(" {}", d.display()))
                .unwrap_or_default()
        );
    });
    match result {
        Ok(outcome) => {
            print!("{}", outcome.render());
            ExitCode::from(outcome.exit_code() as u8)
        }
        Err(run::RunError::Config(e)) => {
            eprintln!("splitbrain replay: {e:#}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(run::RunError::Failed(e)) => {
            eprintln!("splitbrain replay: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn cmd_check(a: CheckArgs) -> ExitCode {
    let path = if a.file.is_dir() {
        a.file.join("history.jsonl")
    } else {
        a.file.clone()
    };
    if !path.is_file() {
        eprintln!(
            "splitbrain: {} is not a history file; pass a history.jsonl or a run directory",
            path.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let opts = checkers::CheckOptions {
        gap_bound: a.gap_bound,
        only: a.only,
        ..Default::default()
    };
    match check::check_file(&path, &opts) {
        Ok(report) => {
            let header = check::read_header(&path);
            if a.json {
                let text = match header.as_ref() {
                    Some(h) => {
                        results::report::json::render(h, &report).map_err(anyhow::Error::from)
                    }
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
                print!(
                    "{}",
                    terminal::render(&report, header.as_ref(), Style::for_stdout())
                );
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
        BenchCommand::Proxy => proxy::bench::run(&proxy::bench::BenchOptions::default(), &mut out)
            .map(|_| ())
            .map_err(anyhow::Error::from),
        BenchCommand::Check { events } => bench_check::run(events, &mut out),
        BenchCommand::Network {
            samples,
            endpoints,
            cuts,
        } => network_bench::run(
            &network_bench::NetworkBenchOptions {
                samples,
                endpoints,
                cuts,
            },
            &mut out,
        ),
        BenchCommand::Hunt {
            hunts,
            budget,
            only,
            seed,
            store,
        } => {
            let interrupt = Arc::new(AtomicBool::new(false));
            campaign::watch_signals(interrupt.clone());
            hunt::bench(
                &hunt::BenchHuntOptions {
                    hunts,
                    budget,
                    only,
                    seed,
                    store,
                    interrupt,
                },
                &mut out,
            )
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("splitbrain bench: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
