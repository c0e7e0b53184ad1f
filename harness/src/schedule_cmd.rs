//! `splitbrain schedule`: the fault schedule a run would draw, without
//! starting anything. A schedule is a pure function of the seed, the presets
//! and the target's timing, so a test or a campaign can be given seeds whose
//! faults are the ones it needs (three `all-but-one` pauses in 6 s, ten
//! leader isolations) instead of seeds that happened to work once.

use std::fmt::Write as _;
use std::ops::RangeInclusive;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::nemesis::TCP_DATAGRAM_NOTE;
use crate::run::{fault_inputs, fault_timing};
use crate::target::Transport;

/// What `splitbrain schedule` was asked for.
#[derive(Debug, Clone)]
pub struct ScheduleOptions {
    /// Built-in target name or path of a target file (its timing scales the faults).
    pub target: String,
    /// Nemesis presets, as for `run`.
    pub nemesis: String,
    /// The seeds to list.
    pub seeds: RangeInclusive<u64>,
    /// Length of the fault phase.
    pub time_limit: Duration,
    /// `--nemesis-interval`, as for `run`.
    pub nemesis_interval: Option<Duration>,
    /// `--fault-duration`, as for `run`.
    pub fault_duration: Option<Duration>,
    /// `--concurrency` and the other fixed fault settings, as for `run`.
    pub knobs: workloads::FaultKnobs,
    /// `--network`, as for `run` (the kernel backend deals no packet-holding faults).
    pub network: Option<crate::network::NetworkBackend>,
}

/// Parse `--seeds`: `N` or `A-B` (inclusive, at most a million seeds).
pub fn parse_seeds(text: &str) -> anyhow::Result<RangeInclusive<u64>> {
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .with_context(|| format!("--seeds {text:?}: {s:?} is not a seed (a whole number)"))
    };
    let range = match text.split_once('-') {
        Some((from, to)) => number(from)?..=number(to)?,
        None => {
            let seed = number(text)?;
            seed..=seed
        }
    };
    if range.is_empty() {
        bail!(
            "--seeds {text:?} is empty: write the lower seed first (e.g. {}-{})",
            range.end(),
            range.start()
        );
    }
    if range.end() - range.start() >= 1_000_000 {
        bail!("--seeds {text:?} lists more than a million seeds; split it");
    }
    Ok(range)
}

/// The listing: for one seed, every op with its time (faults and their
/// undos); for a range, one line per seed with its faults only, to grep.
pub fn render(opts: &ScheduleOptions) -> anyhow::Result<String> {
    let (target, presets, backend) = fault_inputs(
        &opts.target,
        &opts.nemesis,
        opts.time_limit,
        &opts.knobs,
        opts.network,
    )?;
    let timing = fault_timing(
        &target,
        opts.nemesis_interval,
        opts.fault_duration,
        &opts.knobs,
        backend,
    );
    let reactive: Vec<&str> = presets
        .iter()
        .filter(|p| p.is_reactive())
        .map(|p| p.name())
        .collect();
    let tcp = target.transport == Transport::Tcp;
    let mut out = String::new();
    let single = opts.seeds.start() == opts.seeds.end();
    for seed in opts.seeds.clone() {
        let schedule = workloads::Schedule::generate(seed, &presets, &timing, opts.time_limit);
        if single {
            let most = schedule.max_active();
            let _ = writeln!(
                out,
                "seed {seed} · target {} · nemesis {} · time limit {}: {} faults{}",
                target.name,
                opts.nemesis,
                humantime::format_duration(opts.time_limit),
                schedule.faults().count(),
                if most > 1 {
                    format!(", up to {most} at once")
                } else {
                    String::new()
                }
            );
            let listing = schedule.to_string();
            for (line, entry) in listing.lines().zip(&schedule.entries) {
                let _ = match tcp && entry.op.is_datagram_only() {
                    true => writeln!(out, "{line}  [{TCP_DATAGRAM_NOTE}]"),
                    false => writeln!(out, "{line}"),
                };
            }
        } else {
            let faults: Vec<String> = schedule
                .faults()
                .map(|f| match f.fault {
                    Some(k) => format!("{:.3}s #{k} {}", f.at.as_secs_f64(), f.op),
                    None => format!("{:.3}s {}", f.at.as_secs_f64(), f.op),
                })
                .collect();
            let _ = writeln!(out, "{seed}: {}", faults.join(" · "));
        }
    }
    if !reactive.is_empty() {
        let _ = writeln!(
            out,
            "not listed: {} react to what the run's history shows (seeded, but timed by the nodes)",
            reactive.join(", ")
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_one_number_or_an_inclusive_range() {
        assert_eq!(parse_seeds("7").unwrap(), 7..=7);
        assert_eq!(parse_seeds("1-3000").unwrap(), 1..=3000);
        let backwards = parse_seeds("10-1").unwrap_err().to_string();
        assert!(backwards.contains("e.g. 1-10"), "{backwards}");
        let word = parse_seeds("one").unwrap_err().to_string();
        assert!(word.contains("\"one\" is not a seed"), "{word}");
        assert!(parse_seeds("0-2000000").is_err());
    }

    fn options(seeds: RangeInclusive<u64>) -> ScheduleOptions {
        ScheduleOptions {
            target: "raft".into(),
            nemesis: "pause,kill-voter".into(),
            seeds,
            time_limit: Duration::from_secs(6),
            nemesis_interval: Some(Duration::from_millis(700)),
            fault_duration: Some(Duration::from_millis(400)),
            knobs: workloads::FaultKnobs::default(),
            network: None,
        }
    }

    #[test]
    fn the_kernel_backend_refuses_faults_that_hold_packets_and_lists_the_rest() {
        let mut o = options(1..=1);
        o.network = Some(crate::network::NetworkBackend::Kernel);
        o.nemesis = "partition,slow".into();
        let e = render(&o).unwrap_err().to_string();
        assert!(e.contains("slow holds packets back"), "{e}");
        assert!(e.contains("--network proxy"), "{e}");
        o.nemesis = "mixed".into();
        o.time_limit = Duration::from_secs(120);
        o.nemesis_interval = None;
        o.fault_duration = None;
        let listing = render(&o).unwrap();
        for held in ["slow links", "duplicate", "reorder", "delay spike"] {
            assert!(
                !listing.lines().any(|l| l.contains(held)),
                "{held} listed on the kernel backend:\n{listing}"
            );
        }
        assert!(
            listing.contains("partition") || listing.contains("isolate"),
            "{listing}"
        );
    }

    /// The forget-vote test's seed: all three of its faults in 6 s pause all
    /// nodes but one.
    #[test]
    fn one_seed_lists_every_op_with_its_time() {
        let text = render(&options(2724..=2724)).unwrap();
        assert!(
            text.starts_with("seed 2724 · target raft · nemesis pause,kill-voter"),
            "{text}"
        );
        let pauses: Vec<&str> = text
            .lines()
            .filter(|l| l.ends_with("pause all-but-one for 400ms"))
            .collect();
        assert_eq!(pauses.len(), 3, "{text}");
        assert!(text.contains(": 3 faults\n"), "{text}");
        assert!(pauses[0].trim_start().starts_with("1.250s"), "{text}");
        assert!(text.contains("resume paused nodes"), "{text}");
        assert!(text.contains("not listed: kill-voter"), "{text}");
    }

    #[test]
    fn a_range_is_one_line_per_seed_with_its_faults() {
        let text = render(&options(2723..=2725)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "3 seeds and the note: {text}");
        assert!(
            lines[1].starts_with("2724: 1.250s pause all-but-one"),
            "{text}"
        );
        assert!(!lines[1].contains("resume"), "faults only: {text}");
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        let mut bad = options(1..=1);
        bad.nemesis = "paws".into();
        assert!(render(&bad).unwrap_err().to_string().contains("paws"));
        let mut bad = options(1..=1);
        bad.target = "no-such-target".into();
        assert!(render(&bad).is_err());
        let mut bad = options(1..=1);
        bad.time_limit = Duration::ZERO;
        assert!(render(&bad)
            .unwrap_err()
            .to_string()
            .contains("--time-limit"));
    }
}
