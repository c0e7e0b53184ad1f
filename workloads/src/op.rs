//! The vocabulary of nemesis operations.
//!
//! Ops are generated ahead of time without knowing which node leads, so they
//! *aim* ([`Aim`], [`NodeAim`]) rather than name nodes; the controller turns an
//! aim into exact nodes and links with [`crate::resolve`] at the moment the op
//! takes effect.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which node(s) a process fault (kill, pause) hits, decided at resolution time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aim {
    /// The current leader (a random live node when no leader is known).
    Leader,
    /// One random live node.
    Random,
    /// The largest group whose loss still leaves a quorum: `N - (⌊N/2⌋ + 1)`
    /// nodes (at least one).
    Minority,
    /// A quorum: `⌊N/2⌋ + 1` nodes, so the cluster cannot elect until undone.
    Majority,
    /// Every node but one.
    AllButOne,
    /// Exactly this node (resolved or hand-written/replayed ops).
    Node(String),
    /// Exactly these nodes (resolved or hand-written/replayed ops).
    Nodes(Vec<String>),
}

/// Which single node a network fault centres on, decided at resolution time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeAim {
    /// The current leader (a random node when no leader is known).
    Leader,
    /// A random node.
    Random,
    /// Exactly this node.
    Node(String),
}

/// Where the leader goes in a majority/minority partition.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum LeaderSide {
    /// Anywhere: a uniformly random split.
    #[default]
    Any,
    /// On the minority side, so the majority must elect a new leader while
    /// the old one may still believe it leads (the split-brain case).
    Minority,
    /// On the majority side: a correct system should keep its leader.
    Majority,
}

/// Which direction of a node's links a one-way fault cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OneWayMode {
    /// The node can send but not receive: every link *into* it is cut.
    /// A leader in this state keeps heartbeating but never hears the answers.
    SendOnly,
    /// The node can receive but not send: every link *out of* it is cut.
    /// The others stop hearing it while it still hears them.
    ReceiveOnly,
}

/// Which links a degradation applies to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum LinkScope {
    /// Every directed link between the nodes.
    #[default]
    All,
    /// A random non-empty subset of the directed links (each with probability 1/2).
    Random,
    /// Every link to and from one random node: a slow node (a congested
    /// NIC, a stalled disk under the network stack), whose requests and
    /// replies all arrive late.
    OneNode,
}

impl LinkScope {
    /// "all links" or "random links", for schedule listings.
    pub fn describe(self) -> &'static str {
        match self {
            LinkScope::All => "all links",
            LinkScope::Random => "random links",
            LinkScope::OneNode => "every link of one random node",
        }
    }
}

/// One nemesis operation, as generated (aimed) or hand-written (named).
///
/// Each fault in a generated [`crate::Schedule`] is followed by its own undo
/// entry ([`Op::undo`]): `Kill` by `Restart`, `Pause` by `Resume`, every
/// network fault by `Heal`. The duration fields (`restart_after`, `duration`,
/// `period × count`) say how long the fault was planned to last; they equal the
/// gap to the undo entry and are recorded in the history's `detail`. A
/// controller walking the schedule needs no timers of its own, except to
/// toggle a [`Op::Flap`].
///
/// Network ops *replace* the network state: the resolved cut set is the
/// complete set of down links, not an addition to the current one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Op {
    /// SIGKILL the target(s); `Restart` brings them back after `restart_after`
    /// with the same data dir.
    Kill {
        /// Who dies.
        target: Aim,
        /// Planned time until the matching `Restart`.
        #[serde(with = "crate::duration_serde")]
        restart_after: Duration,
    },
    /// SIGSTOP the target(s); `Resume` sends SIGCONT after `duration`.
    /// A paused leader still believes it leads: the classic GC-pause case.
    Pause {
        /// Who freezes.
        target: Aim,
        /// Planned time until the matching `Resume`.
        #[serde(with = "crate::duration_serde")]
        duration: Duration,
    },
    /// Cut one node from every other node (and infrastructure), both ways.
    Isolate {
        /// The node cut off.
        target: NodeAim,
    },
    /// Split the nodes into a random majority and minority; nothing crosses.
    Partition {
        /// Where the leader ends up.
        #[serde(default)]
        leader: LeaderSide,
    },
    /// Two halves that cannot talk to each other, joined by one node that
    /// sees both: two overlapping majorities (for odd N) sharing the bridge.
    Bridge {
        /// The node that sees both halves.
        via: NodeAim,
    },
    /// The majorities ring: every node sees a majority, no two nodes see the
    /// same majority, so every node can win votes but nobody agrees.
    Ring,
    /// Cut one direction of all of a node's links.
    OneWay {
        /// The node whose links go one-way.
        target: NodeAim,
        /// Which direction still works.
        mode: OneWayMode,
    },
    /// Drop a fraction of messages.
    Lossy {
        /// Probability that a message is lost, 0..=1.
        loss: f64,
        /// Which links.
        #[serde(default)]
        links: LinkScope,
    },
    /// Delay every message on every link.
    Slow {
        /// Added delay.
        #[serde(with = "crate::duration_serde")]
        delay: Duration,
        /// Added uniform random jitter (0..jitter).
        #[serde(with = "crate::duration_serde")]
        jitter: Duration,
    },
    /// Deliver some datagrams twice, the copy late: a reply counted twice, or
    /// an old request answered again after the sender moved on, is the bug
    /// this exposes. UDP only (a TCP stream never duplicates).
    Duplicate {
        /// Probability (0..=1) that a datagram is duplicated.
        probability: f64,
        /// The copy goes out after a uniform delay in `0..delay`, so it lands
        /// after the original and sometimes after later messages.
        #[serde(with = "crate::duration_serde")]
        delay: Duration,
        /// Which links.
        #[serde(default)]
        links: LinkScope,
    },
    /// Hold datagrams and release them out of order: each held datagram
    /// waits a uniform time in `0..window`, so messages sent within one
    /// window arrive shuffled. UDP only (a TCP stream keeps order).
    Reorder {
        /// Probability (0..=1) that a datagram is held.
        probability: f64,
        /// The longest hold (up to one election timeout).
        #[serde(with = "crate::duration_serde")]
        window: Duration,
        /// Which links.
        #[serde(default)]
        links: LinkScope,
    },
    /// Delay messages on a set of links by more than an election timeout, so
    /// that replies from an earlier term arrive after the candidate moved
    /// on. On TCP the stream stalls and keeps its order.
    DelaySpike {
        /// Added delay (1–4 × the maximum election timeout when drawn).
        #[serde(with = "crate::duration_serde")]
        delay: Duration,
        /// Added uniform random jitter (0..jitter).
        #[serde(with = "crate::duration_serde")]
        jitter: Duration,
        /// Which links.
        #[serde(default)]
        links: LinkScope,
        /// Each link draws its own delay in `delay/2..=delay`, so some paths
        /// are slower than others and replies cross terms (a drawn spike);
        /// `false` delays every link by exactly `delay` (`--spike-delay`).
        #[serde(default)]
        spread: bool,
    },
    /// Isolate a node and heal it again, quickly and repeatedly: the cut is on
    /// for `period`, off for `period`, `count` times, and ends healed.
    Flap {
        /// The node whose isolation toggles.
        target: NodeAim,
        /// How long each on and each off phase lasts.
        #[serde(with = "crate::duration_serde")]
        period: Duration,
        /// How many on/off cycles.
        count: u32,
    },
    /// Remove every network fault (cuts and degradations).
    Heal,
    /// SIGCONT every paused node.
    Resume,
    /// Start every node that is not running (killed ones), same data dir.
    Restart,
    /// The final phase, run by the controller at the end of the fault phase:
    /// heal every link, resume every paused node, restart every dead one, then
    /// observe a recovery window. Never generated inside a schedule.
    Recover,
}

impl Op {
    /// The operation's kind as written in the history's `nemesis.op` and used
    /// to blame election gaps on faults.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Kill { .. } => "kill",
            Op::Pause { .. } => "pause",
            Op::Isolate { .. } => "isolate",
            Op::Partition { .. } => "partition",
            Op::Bridge { .. } => "bridge",
            Op::Ring => "ring",
            Op::OneWay { .. } => "one-way",
            Op::Lossy { .. } => "lossy",
            Op::Slow { .. } => "slow",
            Op::Duplicate { .. } => "duplicate",
            Op::Reorder { .. } => "reorder",
            Op::DelaySpike { .. } => "delay-spike",
            Op::Flap { .. } => "flap",
            Op::Heal => "heal",
            Op::Resume => "resume",
            Op::Restart => "restart",
            Op::Recover => "recover",
        }
    }

    /// True for ops that break something (as opposed to undoing it), i.e.
    /// the ops an election gap can be blamed on.
    pub fn is_fault(&self) -> bool {
        !matches!(self, Op::Heal | Op::Resume | Op::Restart | Op::Recover)
    }

    /// True for faults that only a datagram transport can carry out: a TCP
    /// stream never duplicates or reorders, so on TCP these change nothing
    /// (and the schedule listing and the history say so).
    pub fn is_datagram_only(&self) -> bool {
        matches!(self, Op::Duplicate { .. } | Op::Reorder { .. })
    }

    /// True for ops that change the network (and so produce a `net` record).
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Op::Isolate { .. }
                | Op::Partition { .. }
                | Op::Bridge { .. }
                | Op::Ring
                | Op::OneWay { .. }
                | Op::Lossy { .. }
                | Op::Slow { .. }
                | Op::Duplicate { .. }
                | Op::Reorder { .. }
                | Op::DelaySpike { .. }
                | Op::Flap { .. }
                | Op::Heal
        )
    }

    /// The op that undoes this fault (`None` for ops that undo things).
    pub fn undo(&self) -> Option<Op> {
        match self {
            Op::Kill { .. } => Some(Op::Restart),
            Op::Pause { .. } => Some(Op::Resume),
            Op::Heal | Op::Resume | Op::Restart | Op::Recover => None,
            _ => Some(Op::Heal),
        }
    }

    /// How long the fault is planned to last before its undo, when the op
    /// itself says (kill, pause, flap); network faults last until `Heal`.
    pub fn planned_duration(&self) -> Option<Duration> {
        match self {
            Op::Kill { restart_after, .. } => Some(*restart_after),
            Op::Pause { duration, .. } => Some(*duration),
            Op::Flap { period, count, .. } => Some(*period * 2 * *count),
            _ => None,
        }
    }

    /// The op's parameters as JSON, for the history's `nemesis.detail`.
    pub fn detail(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Display for Aim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aim::Leader => f.write_str("leader"),
            Aim::Random => f.write_str("random"),
            Aim::Minority => f.write_str("minority"),
            Aim::Majority => f.write_str("majority"),
            Aim::AllButOne => f.write_str("all-but-one"),
            Aim::Node(node) => f.write_str(node),
            Aim::Nodes(nodes) => write!(f, "[{}]", nodes.join(",")),
        }
    }
}

impl fmt::Display for NodeAim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeAim::Leader => f.write_str("leader"),
            NodeAim::Random => f.write_str("random"),
            NodeAim::Node(node) => f.write_str(node),
        }
    }
}

/// One short line per op, for reports and the schedule listing.
impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let human = |d: &Duration| humantime::format_duration(*d).to_string();
        match self {
            Op::Kill {
                target,
                restart_after,
            } => write!(f, "kill {target} (restart after {})", human(restart_after)),
            Op::Pause { target, duration } => {
                write!(f, "pause {target} for {}", human(duration))
            }
            Op::Isolate { target } => write!(f, "isolate {target}"),
            Op::Partition { leader } => match leader {
                LeaderSide::Any => f.write_str("partition majority/minority"),
                LeaderSide::Minority => f.write_str("partition, leader in the minority"),
                LeaderSide::Majority => f.write_str("partition, leader in the majority"),
            },
            Op::Bridge { via } => write!(f, "bridge via {via}"),
            Op::Ring => f.write_str("majorities ring"),
            Op::OneWay { target, mode } => match mode {
                OneWayMode::SendOnly => write!(f, "one-way: {target} sends but cannot receive"),
                OneWayMode::ReceiveOnly => {
                    write!(f, "one-way: {target} receives but cannot send")
                }
            },
            Op::Lossy { loss, links } => {
                write!(f, "lossy {:.0}% on {}", loss * 100.0, links.describe())
            }
            Op::Slow { delay, jitter } => {
                write!(f, "slow links +{} ±{}", human(delay), human(jitter))
            }
            Op::Duplicate {
                probability,
                delay,
                links,
            } => write!(
                f,
                "duplicate {:.0}% on {}, copies up to {} late",
                probability * 100.0,
                links.describe(),
                human(delay)
            ),
            Op::Reorder {
                probability,
                window,
                links,
            } => write!(
                f,
                "reorder {:.0}% on {} within {}",
                probability * 100.0,
                links.describe(),
                human(window)
            ),
            Op::DelaySpike {
                delay,
                jitter,
                links,
                spread,
            } => {
                let amount = if *spread {
                    format!(
                        "+{}–{}",
                        human(&Duration::from_millis(delay.as_millis() as u64 / 2)),
                        human(delay)
                    )
                } else {
                    format!("+{}", human(delay))
                };
                write!(
                    f,
                    "delay spike {amount} ±{} on {}",
                    human(jitter),
                    links.describe()
                )
            }
            Op::Flap {
                target,
                period,
                count,
            } => write!(
                f,
                "flap isolation of {target} every {} ×{count}",
                human(period)
            ),
            Op::Heal => f.write_str("heal"),
            Op::Resume => f.write_str("resume paused nodes"),
            Op::Restart => f.write_str("restart killed nodes"),
            Op::Recover => f.write_str("recover (heal, resume, restart, observe)"),
        }
    }
}
