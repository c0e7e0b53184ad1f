//! Named fault families, as chosen on the command line with
//! `--nemesis kill,pause,partition,...`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A named family of faults a schedule draws from. A comma list of presets
/// means their union; `mixed` means every family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// No faults at all: a baseline run.
    None,
    /// SIGKILL the leader, a random node, a minority, a majority or all but one.
    Kill,
    /// SIGSTOP the same choices of nodes.
    Pause,
    /// Split the cluster into majority/minority (the leader anywhere or in the minority).
    Partition,
    /// Isolate the leader (or a random node) from everyone.
    PartitionLeader,
    /// Two halves joined by one node that sees both.
    Bridge,
    /// The majorities ring.
    Ring,
    /// A node that can send but not receive, or the reverse.
    OneWay,
    /// Message loss on all or random links.
    Lossy,
    /// Delayed messages on all links.
    Slow,
    /// A node's isolation toggled on and off quickly.
    Flapping,
    /// Datagrams delivered twice, the copy late (UDP only).
    Duplicate,
    /// Datagrams held and released out of order (UDP only).
    Reorder,
    /// Delays longer than an election timeout on a random set of links.
    DelaySpike,
    /// Every family above, one fault at a time.
    Mixed,
    /// Every family above, two or three faults overlapping at once.
    Chaos,
    /// Reactive: SIGKILL a node right after it grants a vote and restart it
    /// at once (exposes votes that are not made durable).
    KillVoter,
    /// Reactive: SIGSTOP a leader right after it takes office.
    PauseNewLeader,
    /// Reactive: isolate a leader right after its first heartbeat.
    CutNewLeader,
}

impl Preset {
    /// Every preset, in the order they are listed to users.
    pub const ALL: [Preset; 19] = [
        Preset::None,
        Preset::Kill,
        Preset::Pause,
        Preset::Partition,
        Preset::PartitionLeader,
        Preset::Bridge,
        Preset::Ring,
        Preset::OneWay,
        Preset::Lossy,
        Preset::Slow,
        Preset::Flapping,
        Preset::Duplicate,
        Preset::Reorder,
        Preset::DelaySpike,
        Preset::Mixed,
        Preset::Chaos,
        Preset::KillVoter,
        Preset::PauseNewLeader,
        Preset::CutNewLeader,
    ];

    /// The fault families (presets other than `none`, `mixed`, `chaos` and
    /// the reactive ones) every preset stands for.
    pub const FAMILIES: [Preset; 13] = [
        Preset::Kill,
        Preset::Pause,
        Preset::Partition,
        Preset::PartitionLeader,
        Preset::Bridge,
        Preset::Ring,
        Preset::OneWay,
        Preset::Lossy,
        Preset::Slow,
        Preset::Flapping,
        Preset::Duplicate,
        Preset::Reorder,
        Preset::DelaySpike,
    ];

    /// The name used on the command line and in the history header.
    pub fn name(self) -> &'static str {
        match self {
            Preset::None => "none",
            Preset::Kill => "kill",
            Preset::Pause => "pause",
            Preset::Partition => "partition",
            Preset::PartitionLeader => "partition-leader",
            Preset::Bridge => "bridge",
            Preset::Ring => "ring",
            Preset::OneWay => "one-way",
            Preset::Lossy => "lossy",
            Preset::Slow => "slow",
            Preset::Flapping => "flapping",
            Preset::Duplicate => "duplicate",
            Preset::Reorder => "reorder",
            Preset::DelaySpike => "delay-spike",
            Preset::Mixed => "mixed",
            Preset::Chaos => "chaos",
            Preset::KillVoter => "kill-voter",
            Preset::PauseNewLeader => "pause-new-leader",
            Preset::CutNewLeader => "cut-new-leader",
        }
    }

    /// Presets that react to the history as it is recorded instead of
    /// drawing scheduled faults; the controller applies them (they are not
    /// part of `mixed`, whose schedule is fixed by the seed alone).
    pub fn is_reactive(self) -> bool {
        matches!(
            self,
            Preset::KillVoter | Preset::PauseNewLeader | Preset::CutNewLeader
        )
    }

    /// The fault families this preset draws from (`none` and reactive presets: nothing).
    pub fn families(self) -> &'static [Preset] {
        match self {
            Preset::None | Preset::KillVoter | Preset::PauseNewLeader | Preset::CutNewLeader => &[],
            Preset::Mixed | Preset::Chaos => &Preset::FAMILIES,
            family => {
                let index = Preset::FAMILIES
                    .iter()
                    .position(|f| *f == family)
                    .unwrap_or(0);
                &Preset::FAMILIES[index..=index]
            }
        }
    }

    /// Families that only a datagram transport can carry out (a TCP stream
    /// neither duplicates nor reorders).
    pub fn is_datagram_only(self) -> bool {
        matches!(self, Preset::Duplicate | Preset::Reorder)
    }

    /// Families that hold packets back (delay, duplicate, reorder): only a
    /// proxy in the path can carry them out, not kernel rules that drop.
    pub fn holds_packets(self) -> bool {
        matches!(
            self,
            Preset::Slow | Preset::Duplicate | Preset::Reorder | Preset::DelaySpike
        )
    }

    /// Every valid name, comma-separated, for error messages and `--help`.
    pub fn valid_names() -> String {
        Preset::ALL.map(Preset::name).join(", ")
    }
}

/// A preset name that is not one of [`Preset::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown nemesis preset {name:?}; valid presets: {valid}")]
pub struct PresetError {
    /// The name given.
    pub name: String,
    /// Every valid name, comma-separated.
    pub valid: String,
}

impl FromStr for Preset {
    type Err = PresetError;

    /// Parse one preset name (case-insensitive, `_` accepted for `-`).
    fn from_str(text: &str) -> Result<Preset, PresetError> {
        let wanted = text.trim().to_ascii_lowercase().replace('_', "-");
        Preset::ALL
            .into_iter()
            .find(|preset| preset.name() == wanted)
            .ok_or_else(|| PresetError {
                name: text.to_string(),
                valid: Preset::valid_names(),
            })
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parse a comma-separated `--nemesis` list (`"kill,partition"`); the result
/// means the union of the presets. Empty items are ignored; an empty list
/// means `none`.
pub fn parse_presets(list: &str) -> Result<Vec<Preset>, PresetError> {
    let presets: Vec<Preset> = list
        .split(',')
        .filter(|item| !item.trim().is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    Ok(if presets.is_empty() {
        vec![Preset::None]
    } else {
        presets
    })
}

/// The canonical comma-separated form of a preset list, for the history
/// header and replay commands.
pub fn presets_to_string(presets: &[Preset]) -> String {
    presets
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(",")
}
