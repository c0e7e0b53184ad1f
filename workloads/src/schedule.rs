//! Fault schedules: the sequence of nemesis ops of one run, a pure function
//! of (seed, presets, timing, time limit).

use std::fmt;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::duration_serde;
use crate::op::{Aim, LeaderSide, LinkScope, NodeAim, OneWayMode, Op};
use crate::preset::Preset;
use crate::random;

/// Default gap between the starts of two faults, in multiples of the maximum
/// election timeout (drawn uniformly, so faults do not fall into lockstep
/// with a target's timers).
pub const INTERVAL_TIMEOUTS: (f64, f64) = (8.0, 15.0);
/// Default fault length, in multiples of the maximum election timeout: long
/// enough for the cluster to notice and (try to) elect under the fault.
pub const DURATION_TIMEOUTS: (f64, f64) = (3.0, 10.0);
/// The shortest quiet period after a fault is undone, in maximum election
/// timeouts, whatever `Timing::settle` says: the cluster must get a chance
/// to elect before the next fault.
pub const MIN_SETTLE_TIMEOUTS: u32 = 2;

/// The target's timing, from which fault intervals and durations scale, so
/// that a target electing in 20 ms is stressed as hard as one taking 2 s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Expected election timeout range `(min, max)`.
    #[serde(with = "duration_serde::pair")]
    pub election_timeout: (Duration, Duration),
    /// Heartbeat interval, when the target has one (flapping never toggles
    /// faster than two heartbeats).
    #[serde(default, with = "duration_serde::option")]
    pub heartbeat: Option<Duration>,
    /// Fixed gap between fault starts, instead of the scaled, jittered one.
    #[serde(default, with = "duration_serde::option")]
    pub nemesis_interval: Option<Duration>,
    /// Fixed fault length, instead of the scaled, jittered one.
    #[serde(default, with = "duration_serde::option")]
    pub fault_duration: Option<Duration>,
    /// Quiet time after each fault is undone (raised to at least
    /// [`MIN_SETTLE_TIMEOUTS`] maximum election timeouts).
    #[serde(with = "duration_serde")]
    pub settle: Duration,
    /// The fault settings a user fixed on the command line.
    #[serde(default, flatten)]
    pub knobs: FaultKnobs,
}

/// Settings of the faults themselves that a user may fix (`--concurrency`,
/// `--duplicate-probability`, `--spike-delay`, `--spike-jitter`); the
/// defaults draw them from the seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultKnobs {
    /// How many faults may be active at once. 1 (the default) is one fault
    /// at a time, each undone and settled before the next; more lets faults
    /// overlap in bursts (a kill during a partition), each with its own undo.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub concurrency: u32,
    /// A fixed duplication probability instead of one drawn in 0.2–0.6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_probability: Option<f64>,
    /// A fixed delay-spike delay instead of one drawn in 1–3.5 × the maximum
    /// election timeout.
    #[serde(
        default,
        with = "duration_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub spike_delay: Option<Duration>,
    /// A fixed delay-spike jitter instead of one drawn in 0.1–0.5 × the
    /// maximum election timeout.
    #[serde(
        default,
        with = "duration_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub spike_jitter: Option<Duration>,
    /// The network can hold packets back (the proxy backend). False on the
    /// kernel backend (`--network kernel`), whose rules only drop: `mixed`
    /// and `chaos` then deal only the families it carries out.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub packet_faults: bool,
}

impl FaultKnobs {
    /// Check the settings a user can give (`--concurrency`,
    /// `--duplicate-probability`, `--spike-delay`/`--spike-jitter`) before
    /// anything starts.
    pub fn validate(&self) -> Result<(), TimingError> {
        if self.concurrency == 0 {
            return Err(TimingError::NoConcurrency);
        }
        if let Some(p) = self.duplicate_probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(TimingError::Probability(p));
            }
        }
        let (delay, jitter) = (self.spike_delay, self.spike_jitter);
        if let (Some(delay), Some(jitter)) = (delay, jitter) {
            if delay < jitter {
                let human = |d: Duration| humantime::format_duration(d).to_string();
                return Err(TimingError::SpikeShorterThanJitter {
                    delay: human(delay),
                    jitter: human(jitter),
                });
            }
        }
        Ok(())
    }
}

impl Default for FaultKnobs {
    fn default() -> Self {
        FaultKnobs {
            concurrency: 1,
            duplicate_probability: None,
            spike_delay: None,
            spike_jitter: None,
            packet_faults: true,
        }
    }
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// A fault setting that cannot make a schedule; the message names the
/// command-line option and what would work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TimingError {
    /// `--concurrency 0`.
    #[error(
        "--concurrency 0 would run no fault at all: use 1 for one fault at a time (the default) \
         or 2–3 to overlap faults (or --nemesis none for a baseline)"
    )]
    NoConcurrency,
    /// A probability outside 0..=1.
    #[error(
        "--duplicate-probability {0} is not a probability: give a number from 0 to 1 (e.g. 0.3)"
    )]
    Probability(f64),
    /// A delay spike whose jitter exceeds its delay.
    #[error(
        "--spike-delay {delay} is shorter than --spike-jitter {jitter}: a spike is its delay plus \
         up to its jitter, so give a delay at least as long (e.g. --spike-delay {jitter})"
    )]
    SpikeShorterThanJitter {
        /// The delay given.
        delay: String,
        /// The jitter given.
        jitter: String,
    },
}

impl Timing {
    /// Timing derived from an election timeout range alone: no overrides, a
    /// settle period of three maximum election timeouts.
    pub fn from_election_timeout(min: Duration, max: Duration) -> Timing {
        Timing {
            election_timeout: (min, max),
            heartbeat: None,
            nemesis_interval: None,
            fault_duration: None,
            settle: max * 3,
            knobs: FaultKnobs::default(),
        }
    }

    /// `(min, max)` election timeout, ordered, never zero.
    fn timeouts(&self) -> (Duration, Duration) {
        let (a, b) = self.election_timeout;
        let floor = Duration::from_millis(1);
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let high = high.max(floor);
        let low = if low.is_zero() { high } else { low };
        (low, high)
    }

    /// The settle period actually used.
    pub fn effective_settle(&self) -> Duration {
        self.settle.max(self.timeouts().1 * MIN_SETTLE_TIMEOUTS)
    }
}

/// One op and the moment (since the run started) it is due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledOp {
    /// When to apply it, from the start of the run.
    #[serde(with = "duration_serde")]
    pub at: Duration,
    /// What to apply (resolve it first with [`crate::resolve`]).
    pub op: Op,
    /// In a schedule whose faults overlap, the number of the fault this
    /// entry starts or undoes, so an undo undoes only its own fault (a heal
    /// of a partition leaves a concurrent isolation in force). `None` in a
    /// one-at-a-time schedule, where an undo undoes everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<u32>,
}

/// The fault phase of one run: faults one at a time, each followed by its
/// undo and a settle period, all inside the time limit.
///
/// The final phase (heal, resume, restart, recovery window) is not in it: the
/// controller runs [`Op::Recover`] at the time limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The seed it was generated from.
    pub seed: u64,
    /// The presets it draws from.
    pub presets: Vec<Preset>,
    /// Length of the fault phase; every entry is due at or before it.
    #[serde(with = "duration_serde")]
    pub time_limit: Duration,
    /// The ops, ordered by `at`.
    pub entries: Vec<ScheduledOp>,
}

/// Round to whole milliseconds (at least one), so schedules read well and
/// serialize exactly.
fn round_ms(duration: Duration) -> Duration {
    Duration::from_millis(((duration.as_secs_f64() * 1e3).round() as u64).max(1))
}

impl Schedule {
    /// Generate the schedule for `seed`: a pure function of its arguments,
    /// identical on every platform (ChaCha8, 32-bit draws).
    ///
    /// Fault families are the union of `presets` (order and repeats do not
    /// matter); each fault draws its family uniformly. Gaps between fault
    /// starts are [`INTERVAL_TIMEOUTS`] × the maximum election timeout and
    /// fault lengths [`DURATION_TIMEOUTS`] × it, unless `timing` fixes them.
    /// Each fault is followed by its undo ([`Op::undo`]) and at least
    /// [`Timing::effective_settle`] of quiet before the next fault or the time
    /// limit; a fault that would not fit is not scheduled.
    pub fn generate(
        seed: u64,
        presets: &[Preset],
        timing: &Timing,
        time_limit: Duration,
    ) -> Schedule {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut families: Vec<Preset> = presets
            .iter()
            .flat_map(|preset| preset.families().iter().copied())
            .collect();
        families.sort();
        families.dedup();
        families.retain(|f| timing.knobs.packet_faults || !f.holds_packets());

        let mut schedule = Schedule {
            seed,
            presets: presets.to_vec(),
            time_limit,
            entries: Vec::new(),
        };
        if families.is_empty() {
            return schedule;
        }

        let (_, max_timeout) = timing.timeouts();
        let settle = timing.effective_settle();
        let draw_interval = |rng: &mut ChaCha8Rng| match timing.nemesis_interval {
            Some(fixed) => fixed,
            None => round_ms(max_timeout.mul_f64(random::between(
                rng,
                INTERVAL_TIMEOUTS.0,
                INTERVAL_TIMEOUTS.1,
            ))),
        };

        // Let the cluster elect a first leader before the first fault.
        let mut at = round_ms(settle + draw_interval(&mut rng) / 2);
        // Families are dealt from a shuffled deck, reshuffled when empty: a
        // run long enough for N faults of N families injects every one, and
        // a short run still gets a seeded, varied mix.
        let mut deck: Vec<Preset> = Vec::new();
        let mut deal = |rng: &mut ChaCha8Rng| {
            if deck.is_empty() {
                deck = families.clone();
                random::shuffle(rng, &mut deck);
            }
            deck.pop().expect("refilled above")
        };
        // Unrounded, so that derived counts (flap cycles) scale exactly.
        let draw_duration = |rng: &mut ChaCha8Rng| match timing.fault_duration {
            Some(fixed) => fixed,
            None => max_timeout.mul_f64(random::between(
                rng,
                DURATION_TIMEOUTS.0,
                DURATION_TIMEOUTS.1,
            )),
        };
        let overlap = max_overlap(presets, timing);
        if overlap <= 1 {
            loop {
                let family = deal(&mut rng);
                let raw_duration = draw_duration(&mut rng);
                let op = fault_op(family, raw_duration, timing, &mut rng);
                let undo_at = at + op.planned_duration().unwrap_or(round_ms(raw_duration));
                if undo_at + settle > time_limit {
                    break;
                }
                let undo = op.undo().unwrap_or(Op::Heal);
                schedule.push(at, op, None);
                schedule.push(undo_at, undo, None);
                at = (at + draw_interval(&mut rng)).max(undo_at + settle);
            }
            return schedule;
        }
        // Overlapping faults come in bursts of 2..=overlap: each fault of a
        // burst starts while the one before it is still in force, so at most
        // `overlap` are active at once; the burst ends when all are undone,
        // and the cluster settles before the next burst.
        let mut fault_number = 0u32;
        'bursts: loop {
            let size = 2 + random::index(&mut rng, overlap as usize - 1) as u32;
            let (burst_start, mut start, mut last_undo) = (at, at, at);
            for _ in 0..size {
                let family = deal(&mut rng);
                let raw_duration = draw_duration(&mut rng);
                let op = fault_op(family, raw_duration, timing, &mut rng);
                let undo_at = start + op.planned_duration().unwrap_or(round_ms(raw_duration));
                if undo_at + settle > time_limit {
                    break 'bursts;
                }
                fault_number += 1;
                let undo = op.undo().unwrap_or(Op::Heal);
                schedule.push(start, op, Some(fault_number));
                schedule.push(undo_at, undo, Some(fault_number));
                last_undo = last_undo.max(undo_at);
                let into = (undo_at - start).mul_f64(random::between(&mut rng, 0.1, 0.7));
                start = round_ms(start + into).max(start + Duration::from_millis(1));
            }
            at = (burst_start + draw_interval(&mut rng)).max(last_undo + settle);
        }
        // Stable: a fault and an undo due at the same moment keep their order.
        schedule.entries.sort_by_key(|entry| entry.at);
        schedule
    }

    fn push(&mut self, at: Duration, op: Op, fault: Option<u32>) {
        self.entries.push(ScheduledOp { at, op, fault });
    }

    /// The most faults this schedule has in force at any moment.
    pub fn max_active(&self) -> usize {
        let mut active = 0usize;
        let mut most = 0;
        for entry in &self.entries {
            if entry.op.is_fault() {
                active += 1;
                most = most.max(active);
            } else {
                active = active.saturating_sub(1);
            }
        }
        most
    }

    /// The entries that break something (not their undos).
    pub fn faults(&self) -> impl Iterator<Item = &ScheduledOp> {
        self.entries.iter().filter(|entry| entry.op.is_fault())
    }

    /// True when the schedule injects nothing (`none`, or a time limit too
    /// short for a single fault).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// How many faults may overlap: `--concurrency`, or 3 for `chaos` (whose
/// bursts are two or three faults).
fn max_overlap(presets: &[Preset], timing: &Timing) -> u32 {
    if timing.knobs.concurrency > 1 {
        timing.knobs.concurrency
    } else if presets.contains(&Preset::Chaos) {
        3
    } else {
        1
    }
}

/// Draw one fault of `family` lasting about `duration` (unrounded).
fn fault_op(family: Preset, duration: Duration, timing: &Timing, rng: &mut ChaCha8Rng) -> Op {
    let (min_timeout, max_timeout) = timing.timeouts();
    let coin = |rng: &mut ChaCha8Rng| random::index(rng, 2) == 0;
    let node_aim = |rng: &mut ChaCha8Rng| {
        if random::index(rng, 2) == 0 {
            NodeAim::Leader
        } else {
            NodeAim::Random
        }
    };
    // The leader is the most interesting process target, a majority the rarest.
    const PROCESS_AIMS: [Aim; 9] = [
        Aim::Leader,
        Aim::Leader,
        Aim::Leader,
        Aim::Random,
        Aim::Random,
        Aim::Minority,
        Aim::Minority,
        Aim::Majority,
        Aim::AllButOne,
    ];
    match family {
        Preset::Kill => Op::Kill {
            target: random::choose(rng, &PROCESS_AIMS).clone(),
            restart_after: round_ms(duration),
        },
        Preset::Pause => Op::Pause {
            target: random::choose(rng, &PROCESS_AIMS).clone(),
            duration: round_ms(duration),
        },
        // One kind per family, so a deal of every family injects every kind.
        Preset::Partition => Op::Partition {
            leader: if coin(rng) {
                LeaderSide::Any
            } else {
                LeaderSide::Minority
            },
        },
        Preset::PartitionLeader => Op::Isolate {
            target: if coin(rng) {
                NodeAim::Leader
            } else {
                NodeAim::Random
            },
        },
        Preset::Bridge => Op::Bridge { via: node_aim(rng) },
        Preset::Ring => Op::Ring,
        Preset::OneWay => {
            let target = node_aim(rng);
            let mode = if coin(rng) {
                OneWayMode::SendOnly
            } else {
                OneWayMode::ReceiveOnly
            };
            Op::OneWay { target, mode }
        }
        Preset::Lossy => {
            let loss = (random::between(rng, 0.1, 0.4) * 100.0).round() / 100.0;
            let links = if coin(rng) {
                LinkScope::All
            } else {
                LinkScope::Random
            };
            Op::Lossy { loss, links }
        }
        Preset::Slow => {
            // Stay below half the minimum election timeout (where the checker
            // counts a link as down): slow, but elections should still work.
            let delay = round_ms(min_timeout.mul_f64(random::between(rng, 0.1, 0.3)));
            let jitter = round_ms(delay.mul_f64(random::between(rng, 0.2, 0.6)));
            Op::Slow { delay, jitter }
        }
        Preset::Flapping => {
            let target = node_aim(rng);
            let mut period = min_timeout.mul_f64(random::between(rng, 0.5, 1.5));
            if let Some(heartbeat) = timing.heartbeat {
                period = period.max(heartbeat * 2);
            }
            // As many on/off cycles as fit in the fault's duration (at least
            // two), counted before rounding so the count scales exactly.
            let cycles = duration.as_secs_f64() / (2.0 * period.as_secs_f64());
            let count = (cycles.floor() as u32).max(2);
            Op::Flap {
                target,
                period: round_ms(period),
                count,
            }
        }
        Preset::Duplicate => {
            let probability = match timing.knobs.duplicate_probability {
                Some(fixed) => fixed,
                None => (random::between(rng, 0.2, 0.6) * 100.0).round() / 100.0,
            };
            // The copy lands 0–2 heartbeats late: after the original, and
            // often after the messages sent next.
            let heartbeat = timing.heartbeat.unwrap_or(min_timeout / 3);
            let links = if coin(rng) {
                LinkScope::All
            } else {
                LinkScope::Random
            };
            Op::Duplicate {
                probability,
                delay: round_ms(heartbeat * 2),
                links,
            }
        }
        Preset::Reorder => {
            let probability = (random::between(rng, 0.3, 0.8) * 100.0).round() / 100.0;
            let window = round_ms(max_timeout.mul_f64(random::between(rng, 0.25, 1.0)));
            let links = if coin(rng) {
                LinkScope::All
            } else {
                LinkScope::Random
            };
            Op::Reorder {
                probability,
                window,
                links,
            }
        }
        Preset::DelaySpike => {
            // Longer than an election timeout: a reply from an earlier term
            // arrives after its candidate moved on to the next. A drawn
            // spike gives each link its own delay in delay/2..delay (2–3.5 ×
            // the maximum election timeout, so every link is at least 1 ×):
            // uneven paths split votes and make replies cross terms.
            let spread = timing.knobs.spike_delay.is_none();
            let delay = timing
                .knobs
                .spike_delay
                .unwrap_or_else(|| round_ms(max_timeout.mul_f64(random::between(rng, 2.0, 3.5))));
            let jitter = timing
                .knobs
                .spike_jitter
                .unwrap_or_else(|| round_ms(max_timeout.mul_f64(random::between(rng, 0.1, 0.5))));
            // Half the spikes slow one node down (every link to and from
            // it): its grants and requests all arrive late, so it counts
            // old grants while it campaigns on. The others hit a random
            // link set: uneven paths split votes.
            let links = if coin(rng) {
                LinkScope::Random
            } else {
                LinkScope::OneNode
            };
            Op::DelaySpike {
                delay,
                jitter: jitter.min(delay),
                links,
                spread,
            }
        }
        // Never dealt: `families()` of these is empty or expands to real families.
        Preset::None
        | Preset::Mixed
        | Preset::Chaos
        | Preset::KillVoter
        | Preset::PauseNewLeader
        | Preset::CutNewLeader => Op::Heal,
    }
}

/// One line per op: `  12.345s  kill leader (restart after 3s)`; in a
/// schedule whose faults overlap, each line names its fault
/// (`#3 kill leader`, `#3 undo: restart killed nodes`).
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for entry in &self.entries {
            write!(f, "{:>10.3}s  ", entry.at.as_secs_f64())?;
            match entry.fault {
                Some(k) if entry.op.is_fault() => writeln!(f, "#{k} {}", entry.op)?,
                Some(k) => writeln!(f, "#{k} undo: {}", entry.op)?,
                None => writeln!(f, "{}", entry.op)?,
            }
        }
        Ok(())
    }
}
