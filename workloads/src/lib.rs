//! splitbrain's fault schedules: nemesis operations as pure functions of a
//! seed. No I/O, no clocks, no processes.
//!
//! - [`Op`] is the vocabulary of faults ([`Op::kind`] is the history's
//!   `nemesis.op`); ops *aim* ([`Aim`], [`NodeAim`]) because nobody knows who
//!   leads when the schedule is generated.
//! - [`resolve`] turns an op into exact nodes and the complete set of cut and
//!   degraded links at the moment it takes effect, from a [`ClusterView`].
//! - [`topology`] holds the pure cut-set builders (isolate, split, bridge,
//!   majorities ring, one-way).
//! - [`Preset`] names fault families for `--nemesis`; [`Schedule::generate`]
//!   draws a schedule from (seed, presets, [`Timing`], time limit).

pub mod duration_serde;
pub mod op;
pub mod preset;
mod random;
pub mod resolve;
pub mod schedule;
pub mod topology;

pub use op::{Aim, LeaderSide, LinkScope, NodeAim, OneWayMode, Op};
pub use preset::{parse_presets, presets_to_string, Preset, PresetError};
pub use resolve::{
    flap_phases, resolve, ClusterView, Effect, LinkFault, NetState, ResolveError, ResolvedOp,
};
pub use schedule::{FaultKnobs, Schedule, ScheduledOp, Timing, TimingError};
pub use topology::{Link, LinkSet};
