//! Resolution: turning an aimed [`Op`] into exact nodes and links at the
//! moment it takes effect, from what the controller knows then.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use checkers::history::{DegradedLink, NemesisRecord, NetRecord};
use rand::Rng;
use serde_json::json;

use crate::op::{Aim, LeaderSide, LinkScope, NodeAim, Op};
use crate::random;
use crate::topology::{self, quorum, Link, LinkSet};

/// What the controller knows about the cluster when an op takes effect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterView {
    /// Every node id, in index order (`n1`..).
    pub nodes: Vec<String>,
    /// The node currently believed to lead, if any.
    pub leader: Option<String>,
    /// Nodes running and not paused (process faults pick among these).
    pub live: Vec<String>,
    /// Nodes currently stopped with SIGSTOP.
    pub paused: Vec<String>,
    /// Infrastructure services reached through the proxy (`redis`, `etcd`):
    /// isolating or one-way-cutting a node cuts it from these too; partitions
    /// keep them on the majority side; ring and bridge leave them connected.
    pub infrastructure: Vec<String>,
}

impl ClusterView {
    /// A view of a healthy cluster: every node live, nothing paused.
    pub fn healthy(nodes: &[String], leader: Option<&str>) -> ClusterView {
        ClusterView {
            nodes: nodes.to_vec(),
            leader: leader.map(str::to_string),
            live: nodes.to_vec(),
            paused: Vec::new(),
            infrastructure: Vec::new(),
        }
    }

    /// Nodes neither live nor paused: killed (or exited) and not restarted.
    pub fn dead(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| !self.live.contains(n) && !self.paused.contains(n))
            .cloned()
            .collect()
    }

    /// Nodes and infrastructure: every endpoint a link can join.
    fn endpoints(&self) -> Vec<String> {
        self.nodes
            .iter()
            .chain(self.infrastructure.iter())
            .cloned()
            .collect()
    }
}

/// How one directed link misbehaves without being cut.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LinkFault {
    /// Probability a message is lost, 0..=1.
    pub loss: f64,
    /// Added delay.
    pub delay: Duration,
    /// Added uniform random jitter (0..jitter).
    pub jitter: Duration,
    /// Probability a datagram is duplicated.
    pub duplicate: f64,
    /// Probability a datagram is held back and reordered.
    pub reorder: f64,
    /// A duplicate goes out after a uniform delay in `0..duplicate_delay`.
    pub duplicate_delay: Duration,
    /// A held datagram waits a uniform time in `0..reorder_window`.
    pub reorder_window: Duration,
}

impl LinkFault {
    /// The history's form of this fault on link `from → to`.
    pub fn to_degraded(&self, from: &str, to: &str) -> DegradedLink {
        DegradedLink {
            from: from.to_string(),
            to: to.to_string(),
            loss: self.loss,
            delay_ms: self.delay.as_secs_f64() * 1e3,
            jitter_ms: self.jitter.as_secs_f64() * 1e3,
            duplicate: self.duplicate,
            reorder: self.reorder,
            duplicate_delay_ms: self.duplicate_delay.as_secs_f64() * 1e3,
            reorder_window_ms: self.reorder_window.as_secs_f64() * 1e3,
        }
    }

    /// Two faults on the same link at once (overlapping faults): each
    /// setting is the worse of the two, so neither fault is weakened.
    pub fn combine(&self, other: &LinkFault) -> LinkFault {
        LinkFault {
            loss: self.loss.max(other.loss),
            delay: self.delay.max(other.delay),
            jitter: self.jitter.max(other.jitter),
            duplicate: self.duplicate.max(other.duplicate),
            reorder: self.reorder.max(other.reorder),
            duplicate_delay: self.duplicate_delay.max(other.duplicate_delay),
            reorder_window: self.reorder_window.max(other.reorder_window),
        }
    }
}

/// The complete network state an op puts in force (it replaces the previous
/// one): what the proxy applies and what the history's `net` line records.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetState {
    /// Every directed link that delivers nothing.
    pub cut: LinkSet,
    /// Links that deliver badly.
    pub degraded: BTreeMap<Link, LinkFault>,
}

impl NetState {
    /// Everything delivers.
    pub fn healed() -> NetState {
        NetState::default()
    }

    /// The state in force while several faults overlap: every link any of
    /// them cuts is cut, and a link degraded by several takes the worse of
    /// each setting ([`LinkFault::combine`]).
    pub fn compose<'a>(states: impl IntoIterator<Item = &'a NetState>) -> NetState {
        let mut composed = NetState::healed();
        for state in states {
            composed.cut.extend(state.cut.iter().cloned());
            for (link, fault) in &state.degraded {
                composed
                    .degraded
                    .entry(link.clone())
                    .and_modify(|existing| *existing = existing.combine(fault))
                    .or_insert(*fault);
            }
        }
        composed
    }

    /// True when no link is cut or degraded.
    pub fn is_healed(&self) -> bool {
        self.cut.is_empty() && self.degraded.is_empty()
    }

    /// The history's `net` line for this state.
    pub fn to_record(&self) -> NetRecord {
        NetRecord {
            cut: self
                .cut
                .iter()
                .map(|(from, to)| [from.clone(), to.clone()])
                .collect(),
            degraded: self
                .degraded
                .iter()
                .map(|((from, to), fault)| fault.to_degraded(from, to))
                .collect(),
        }
    }
}

/// What the controller must do to apply a resolved op.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// SIGKILL `nodes`; the schedule's `Restart` brings them back.
    Kill {
        /// Planned time until the restart (for the record).
        restart_after: Duration,
    },
    /// SIGSTOP `nodes`; the schedule's `Resume` sends SIGCONT.
    Pause {
        /// Planned pause length (for the record).
        duration: Duration,
    },
    /// SIGCONT `nodes` (every paused node).
    Resume,
    /// Start `nodes` again (every dead node), same data dirs.
    Restart,
    /// Replace the network state with this one (`Heal` gives an empty one).
    Network(NetState),
    /// Toggle `faulty` on and off: see [`flap_phases`]; ends healed.
    Flap {
        /// The state while the cut is on.
        faulty: NetState,
        /// Length of each on and each off phase.
        period: Duration,
        /// Number of on/off cycles.
        count: u32,
    },
    /// The final phase: heal, resume every paused node, restart every dead
    /// one (`nodes` is every node), then observe the recovery window.
    Recover,
}

/// An op with its aim resolved to exact nodes and links.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedOp {
    /// The op as scheduled.
    pub op: Op,
    /// The nodes it was aimed at (killed, paused, isolated, the minority side,
    /// the bridge node, ...); empty when it aims at nothing in particular.
    pub nodes: Vec<String>,
    /// The groups the fault arranged the nodes in, for reports: partition
    /// `[majority, minority]`, bridge `[left, [bridge], right]`, ring `[ring
    /// order]`; empty otherwise.
    pub groups: Vec<Vec<String>>,
    /// What to do.
    pub effect: Effect,
    /// A remark for the record, e.g. why a `Leader` aim hit a random node.
    pub note: Option<String>,
}

impl ResolvedOp {
    /// The history `nemesis.op` kind.
    pub fn kind(&self) -> &'static str {
        self.op.kind()
    }

    /// The network state to apply and record, for ops that change the network
    /// (for a flap: the state while the cut is on).
    pub fn net(&self) -> Option<&NetState> {
        match &self.effect {
            Effect::Network(state) => Some(state),
            Effect::Flap { faulty, .. } => Some(faulty),
            _ => None,
        }
    }

    /// The history's `nemesis` line for this op.
    pub fn nemesis_record(&self) -> NemesisRecord {
        let mut detail = self.op.detail();
        if let Some(map) = detail.as_object_mut() {
            map.remove("kind");
            if !self.groups.is_empty() {
                map.insert("groups".into(), json!(self.groups));
            }
            if let Some(note) = &self.note {
                map.insert("note".into(), json!(note));
            }
        }
        let detail = match detail.as_object() {
            Some(map) if map.is_empty() => None,
            _ => Some(detail),
        };
        NemesisRecord {
            op: self.kind().to_string(),
            nodes: self.nodes.clone(),
            detail,
        }
    }
}

/// When a flap's cut goes on (`true`) and off (`false`), as offsets from the
/// moment it takes effect: on at 0, off at `period`, on at `2·period`, ...,
/// off for the last time at `(2·count − 1)·period`.
pub fn flap_phases(period: Duration, count: u32) -> Vec<(Duration, bool)> {
    (0..count * 2).map(|i| (period * i, i % 2 == 0)).collect()
}

/// Why an op could not be resolved against a cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The cluster has no nodes.
    #[error("cannot resolve a nemesis op against an empty cluster")]
    EmptyCluster,
    /// A named node is not part of the cluster.
    #[error("node {node:?} is not in the cluster (nodes: {nodes})")]
    UnknownNode {
        /// The name given.
        node: String,
        /// The cluster's nodes, comma-separated.
        nodes: String,
    },
}

/// Resolve `op` against the cluster as it is now, making any random choice
/// with `rng` (the controller seeds it from the run seed, so a replay with
/// the same leader history picks the same nodes).
///
/// Process faults pick among live nodes; sizes (minority, majority) count all
/// nodes, and take every live node when fewer are live. A `Leader` aim with no
/// known (live) leader falls back to a random node and says so in `note`.
/// Network faults are computed over all nodes, dead or alive, and return the
/// complete resulting state.
pub fn resolve<R: Rng + ?Sized>(
    op: &Op,
    view: &ClusterView,
    rng: &mut R,
) -> Result<ResolvedOp, ResolveError> {
    if view.nodes.is_empty() {
        return Err(ResolveError::EmptyCluster);
    }
    let mut resolved = ResolvedOp {
        op: op.clone(),
        nodes: Vec::new(),
        groups: Vec::new(),
        effect: Effect::Resume,
        note: None,
    };
    match op {
        Op::Kill {
            target,
            restart_after,
        } => {
            resolved.nodes = aim_processes(target, view, rng, &mut resolved.note)?;
            resolved.effect = Effect::Kill {
                restart_after: *restart_after,
            };
        }
        Op::Pause { target, duration } => {
            resolved.nodes = aim_processes(target, view, rng, &mut resolved.note)?;
            resolved.effect = Effect::Pause {
                duration: *duration,
            };
        }
        Op::Isolate { target } => {
            let node = aim_node(target, view, rng, &mut resolved.note)?;
            let cut = topology::isolate(&node, &view.endpoints());
            resolved.nodes = vec![node];
            resolved.effect = Effect::Network(NetState {
                cut,
                degraded: BTreeMap::new(),
            });
        }
        Op::Flap {
            target,
            period,
            count,
        } => {
            let node = aim_node(target, view, rng, &mut resolved.note)?;
            let cut = topology::isolate(&node, &view.endpoints());
            resolved.nodes = vec![node];
            resolved.effect = Effect::Flap {
                faulty: NetState {
                    cut,
                    degraded: BTreeMap::new(),
                },
                period: *period,
                count: *count,
            };
        }
        Op::OneWay { target, mode } => {
            let node = aim_node(target, view, rng, &mut resolved.note)?;
            let cut = topology::one_way(&node, &view.endpoints(), *mode);
            resolved.nodes = vec![node];
            resolved.effect = Effect::Network(NetState {
                cut,
                degraded: BTreeMap::new(),
            });
        }
        Op::Partition { leader } => {
            let (majority, minority) = partition_sides(*leader, view, rng, &mut resolved.note);
            let mut majority_side = majority.clone();
            majority_side.extend(view.infrastructure.iter().cloned());
            let cut = topology::split(&majority_side, &minority);
            resolved.nodes = minority.clone();
            resolved.groups = vec![majority, minority];
            resolved.effect = Effect::Network(NetState {
                cut,
                degraded: BTreeMap::new(),
            });
        }
        Op::Bridge { via } => {
            let bridge_node = aim_node(via, view, rng, &mut resolved.note)?;
            let mut rest: Vec<String> = view
                .nodes
                .iter()
                .filter(|n| **n != bridge_node)
                .cloned()
                .collect();
            random::shuffle(rng, &mut rest);
            let right = rest.split_off(rest.len() / 2);
            let left = rest;
            let cut = topology::bridge(&left, &bridge_node, &right);
            resolved.nodes = vec![bridge_node.clone()];
            resolved.groups = vec![left, vec![bridge_node], right];
            resolved.effect = Effect::Network(NetState {
                cut,
                degraded: BTreeMap::new(),
            });
        }
        Op::Ring => {
            let mut order = view.nodes.clone();
            random::shuffle(rng, &mut order);
            let cut = topology::majorities_ring(&order);
            resolved.nodes = view.nodes.clone();
            resolved.groups = vec![order];
            resolved.effect = Effect::Network(NetState {
                cut,
                degraded: BTreeMap::new(),
            });
        }
        Op::Lossy { loss, links } => {
            let fault = LinkFault {
                loss: loss.clamp(0.0, 1.0),
                ..LinkFault::default()
            };
            degrade_links(&mut resolved, *links, fault, view, rng);
        }
        Op::Slow { delay, jitter } => {
            let fault = LinkFault {
                delay: *delay,
                jitter: *jitter,
                ..LinkFault::default()
            };
            degrade_links(&mut resolved, LinkScope::All, fault, view, rng);
        }
        Op::Duplicate {
            probability,
            delay,
            links,
        } => {
            let fault = LinkFault {
                duplicate: probability.clamp(0.0, 1.0),
                duplicate_delay: *delay,
                ..LinkFault::default()
            };
            degrade_links(&mut resolved, *links, fault, view, rng);
        }
        Op::Reorder {
            probability,
            window,
            links,
        } => {
            let fault = LinkFault {
                reorder: probability.clamp(0.0, 1.0),
                reorder_window: *window,
                ..LinkFault::default()
            };
            degrade_links(&mut resolved, *links, fault, view, rng);
        }
        Op::DelaySpike {
            delay,
            jitter,
            links,
            spread,
        } => {
            let fault = LinkFault {
                delay: *delay,
                jitter: *jitter,
                ..LinkFault::default()
            };
            degrade_links(&mut resolved, *links, fault, view, rng);
            if *spread {
                if let Effect::Network(state) = &mut resolved.effect {
                    for link in state.degraded.values_mut() {
                        let share = random::between(rng, 0.5, 1.0);
                        link.delay = Duration::from_millis(
                            (delay.as_millis() as f64 * share).round() as u64,
                        );
                    }
                }
            }
        }
        Op::Heal => resolved.effect = Effect::Network(NetState::healed()),
        Op::Resume => {
            resolved.nodes = view.paused.clone();
            resolved.effect = Effect::Resume;
        }
        Op::Restart => {
            resolved.nodes = view.dead();
            resolved.effect = Effect::Restart;
        }
        Op::Recover => {
            resolved.nodes = view.nodes.clone();
            resolved.effect = Effect::Recover;
        }
    }
    Ok(resolved)
}

/// Check that a named node belongs to the cluster.
fn known(node: &str, view: &ClusterView) -> Result<String, ResolveError> {
    if view.nodes.iter().any(|n| n == node) {
        Ok(node.to_string())
    } else {
        Err(ResolveError::UnknownNode {
            node: node.to_string(),
            nodes: view.nodes.join(","),
        })
    }
}

/// The live leader, if the view knows one.
fn live_leader(view: &ClusterView) -> Option<String> {
    view.leader
        .as_ref()
        .filter(|leader| view.live.contains(leader))
        .cloned()
}

/// Resolve a single-node aim for a network fault (any node, dead or alive;
/// a random live one preferred for `Random`).
fn aim_node<R: Rng + ?Sized>(
    aim: &NodeAim,
    view: &ClusterView,
    rng: &mut R,
    note: &mut Option<String>,
) -> Result<String, ResolveError> {
    let pool = if view.live.is_empty() {
        &view.nodes
    } else {
        &view.live
    };
    match aim {
        NodeAim::Node(node) => known(node, view),
        NodeAim::Random => Ok(random::choose(rng, pool).clone()),
        NodeAim::Leader => match live_leader(view) {
            Some(leader) => Ok(leader),
            None => {
                *note = Some("no live leader known; aimed at a random node".into());
                Ok(random::choose(rng, pool).clone())
            }
        },
    }
}

/// Resolve a process-fault aim to the live nodes it hits.
fn aim_processes<R: Rng + ?Sized>(
    aim: &Aim,
    view: &ClusterView,
    rng: &mut R,
    note: &mut Option<String>,
) -> Result<Vec<String>, ResolveError> {
    let n = view.nodes.len();
    let count = match aim {
        Aim::Node(node) => return Ok(vec![known(node, view)?]),
        Aim::Nodes(nodes) => {
            return nodes.iter().map(|node| known(node, view)).collect();
        }
        Aim::Leader => {
            if let Some(leader) = live_leader(view) {
                return Ok(vec![leader]);
            }
            *note = Some("no live leader known; aimed at a random node".into());
            1
        }
        Aim::Random => 1,
        Aim::Minority => (n - quorum(n)).max(1),
        Aim::Majority => quorum(n),
        Aim::AllButOne => n.saturating_sub(1).max(1),
    };
    let mut pool = view.live.clone();
    if pool.is_empty() {
        *note = Some("no live node to aim at".into());
        return Ok(Vec::new());
    }
    random::shuffle(rng, &mut pool);
    pool.truncate(count);
    pool.sort_by_key(|node| view.nodes.iter().position(|n| n == node));
    Ok(pool)
}

/// A random majority/minority split with the leader placed as asked;
/// returns `(majority, minority)`, each in index order.
fn partition_sides<R: Rng + ?Sized>(
    side: LeaderSide,
    view: &ClusterView,
    rng: &mut R,
    note: &mut Option<String>,
) -> (Vec<String>, Vec<String>) {
    let n = view.nodes.len();
    let minority_size = (n - quorum(n)).max(usize::from(n >= 2));
    let mut order = view.nodes.clone();
    random::shuffle(rng, &mut order);
    let leader = live_leader(view);
    if side != LeaderSide::Any {
        match &leader {
            Some(leader) => {
                order.retain(|n| n != leader);
                match side {
                    // minority is the tail of `order`
                    LeaderSide::Minority => order.push(leader.clone()),
                    _ => order.insert(0, leader.clone()),
                }
            }
            None => *note = Some("no live leader known; random split".into()),
        }
    }
    let mut minority = order.split_off(n - minority_size);
    let mut majority = order;
    let index = |node: &String| view.nodes.iter().position(|n| n == node);
    majority.sort_by_key(index);
    minority.sort_by_key(index);
    (majority, minority)
}

/// Make `resolved` degrade the links of `scope` with `fault`.
fn degrade_links<R: Rng + ?Sized>(
    resolved: &mut ResolvedOp,
    scope: LinkScope,
    fault: LinkFault,
    view: &ClusterView,
    rng: &mut R,
) {
    let degraded = degrade(scope, fault, view, rng);
    resolved.nodes = nodes_touched(&degraded, view);
    resolved.effect = Effect::Network(NetState {
        cut: LinkSet::new(),
        degraded,
    });
}

/// Degrade every directed link (nodes and infrastructure), or a random
/// non-empty half of them.
fn degrade<R: Rng + ?Sized>(
    scope: LinkScope,
    fault: LinkFault,
    view: &ClusterView,
    rng: &mut R,
) -> BTreeMap<Link, LinkFault> {
    let links = topology::all_links(&view.endpoints());
    let chosen: Vec<Link> = match scope {
        LinkScope::All => links,
        LinkScope::Random => {
            let mut chosen: Vec<Link> = links
                .iter()
                .filter(|_| random::index(rng, 2) == 0)
                .cloned()
                .collect();
            if chosen.is_empty() && !links.is_empty() {
                chosen.push(random::choose(rng, &links).clone());
            }
            chosen
        }
        LinkScope::OneNode => match view.nodes.as_slice() {
            [] => links,
            nodes => {
                let slow = random::choose(rng, nodes).clone();
                links
                    .into_iter()
                    .filter(|(from, to)| *from == slow || *to == slow)
                    .collect()
            }
        },
    };
    chosen.into_iter().map(|link| (link, fault)).collect()
}

/// The cluster nodes (not infrastructure) at either end of some degraded
/// link, in index order.
fn nodes_touched(degraded: &BTreeMap<Link, LinkFault>, view: &ClusterView) -> Vec<String> {
    let touched: BTreeSet<&String> = degraded.keys().flat_map(|(from, to)| [from, to]).collect();
    view.nodes
        .iter()
        .filter(|node| touched.contains(node))
        .cloned()
        .collect()
}
