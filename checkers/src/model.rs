//! The history model: who is live, which links are down, whether a healthy
//! quorum exists, at every instant (contract 4's vocabulary).
//!
//! Replaying `process` and `net` events gives, at every instant, the live
//! nodes, each node's incarnation, and the directed links that are down. From
//! them [`HistoryModel::healthy_quorum`] answers the question the liveness
//! checkers need, exactly: is there a set of ⌊N/2⌋+1 live nodes pairwise
//! connected both ways? That is a clique question on the undirected graph of
//! live nodes joined when both directions are up, answered by a bitset
//! branch-and-bound search that stops at the first quorum-sized clique.

use crate::history::{Liveness, NetRecord, RunHeader};

/// A set of node/service indices (the model supports up to 128 names).
pub type NodeSet = u128;

/// The most nodes plus infrastructure services the model handles.
pub const MAX_NAMES: usize = 128;

/// Does `set` contain a clique of at least `k` vertices of `adj`?
///
/// Branch and bound: vertices are taken in order; each branch keeps only the
/// later neighbours of the chosen vertex, and is cut as soon as fewer
/// candidates remain than vertices still needed (a greedy colouring bound
/// tightens the cut on larger sets). Stops at the first clique found.
pub fn has_clique(adj: &[NodeSet], set: NodeSet, k: u32) -> bool {
    if k == 0 {
        return true;
    }
    if set.count_ones() < k {
        return false;
    }
    if k == 1 {
        return true;
    }
    if set.count_ones() > 12 && colour_bound(adj, set) < k {
        return false;
    }
    let mut rest = set;
    while rest != 0 {
        if rest.count_ones() < k {
            return false;
        }
        let v = rest.trailing_zeros() as usize;
        rest &= !(1u128 << v);
        if has_clique(adj, rest & adj[v], k - 1) {
            return true;
        }
    }
    false
}

/// Greedy colouring of `set`: the number of colours bounds its largest clique.
fn colour_bound(adj: &[NodeSet], set: NodeSet) -> u32 {
    let mut uncoloured = set;
    let mut colours = 0;
    while uncoloured != 0 {
        colours += 1;
        let mut avail = uncoloured;
        while avail != 0 {
            let v = avail.trailing_zeros() as usize;
            uncoloured &= !(1u128 << v);
            avail &= !(1u128 << v) & !adj[v];
        }
    }
    colours
}

/// Lifecycle of one node (or infrastructure service) as the history tells it.
#[derive(Debug, Clone, Default)]
pub struct NodeLife {
    /// Has started at least once.
    pub started: bool,
    /// Started and not killed or exited since.
    pub alive: bool,
    /// SIGSTOPped and not yet resumed.
    pub paused: bool,
    /// Pid of the current (or last) incarnation.
    pub pid: Option<u32>,
    /// Number of starts so far (0: never started).
    pub incarnation: u32,
    /// `seq` of the last start.
    pub last_start_seq: Option<u64>,
}

impl NodeLife {
    /// Live in contract 4's sense: started, not killed/exited, not paused.
    pub fn live(&self) -> bool {
        self.alive && !self.paused
    }
}

/// Replayed cluster state: lives, links, and the healthy-quorum question.
#[derive(Debug, Clone)]
pub struct HistoryModel {
    /// Node ids from the header, then infrastructure service names.
    pub names: Vec<String>,
    /// Number of nodes (the first `n` names).
    pub n: usize,
    /// Liveness model of the target.
    pub liveness: Liveness,
    /// Lifecycle per name.
    pub life: Vec<NodeLife>,
    /// `both_up[i]`: names `j` with `i→j` and `j→i` both up.
    both_up: Vec<NodeSet>,
    /// Links slower than this (ms) are down: half the minimum election timeout.
    delay_limit_ms: f64,
    /// Infrastructure services as a set of indices.
    infra: NodeSet,
    cached_quorum: Option<bool>,
    /// `true` once more names were seen than the model handles.
    pub overflow: bool,
}

impl HistoryModel {
    /// A model for the header's nodes and services, everything up, nothing started.
    pub fn new(header: &RunHeader) -> Self {
        let mut names: Vec<String> = Vec::new();
        for name in header.nodes.iter().chain(header.infrastructure.iter()) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let overflow = names.len() > MAX_NAMES;
        names.truncate(MAX_NAMES);
        let n = header.nodes.len().min(names.len());
        let total = names.len();
        let all: NodeSet = if total == 128 {
            u128::MAX
        } else {
            (1u128 << total) - 1
        };
        let mut life = vec![NodeLife::default(); total];
        let mut infra: NodeSet = 0;
        for (i, l) in life.iter_mut().enumerate().skip(n) {
            // Infrastructure is live unless the history says it died.
            l.started = true;
            l.alive = true;
            infra |= 1u128 << i;
        }
        Self {
            names,
            n,
            liveness: header.liveness,
            life,
            both_up: (0..total).map(|i| all & !(1u128 << i)).collect(),
            delay_limit_ms: header.election_timeout_ms[0] as f64 / 2.0,
            infra,
            cached_quorum: None,
            overflow,
        }
    }

    /// Index of a node or service name (linear: clusters are small).
    #[inline]
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Is `i` one of the election nodes (not a service)?
    pub fn is_node(&self, i: usize) -> bool {
        i < self.n
    }

    /// Quorum size ⌊N/2⌋+1.
    pub fn quorum(&self) -> u32 {
        (self.n / 2 + 1) as u32
    }

    /// Live election nodes.
    pub fn live_nodes(&self) -> NodeSet {
        let mut s = 0;
        for i in 0..self.n {
            if self.life[i].live() {
                s |= 1u128 << i;
            }
        }
        s
    }

    /// Lifecycle changed: forget the cached answer.
    pub fn invalidate(&mut self) {
        self.cached_quorum = None;
    }

    /// Replace the link state with a `net` record (the complete state in force).
    pub fn apply_net(&mut self, net: &NetRecord) {
        let total = self.names.len();
        let all: NodeSet = if total == 128 {
            u128::MAX
        } else {
            (1u128 << total) - 1
        };
        for (i, b) in self.both_up.iter_mut().enumerate() {
            *b = all & !(1u128 << i);
        }
        let down = |from: &str, to: &str, model: &mut Vec<NodeSet>| {
            if let (Some(a), Some(b)) = (
                self.names.iter().position(|n| n == from),
                self.names.iter().position(|n| n == to),
            ) {
                model[a] &= !(1u128 << b);
                model[b] &= !(1u128 << a);
            }
        };
        let mut both = std::mem::take(&mut self.both_up);
        for [from, to] in &net.cut {
            down(from, to, &mut both);
        }
        for d in &net.degraded {
            if d.loss >= 0.5 || d.delay_ms >= self.delay_limit_ms {
                down(&d.from, &d.to, &mut both);
            }
        }
        self.both_up = both;
        self.cached_quorum = None;
    }

    /// Are `a` and `b` connected both ways?
    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.both_up[a] & (1u128 << b) != 0
    }

    fn infra_ok(&self) -> bool {
        let mut i = self.infra;
        while i != 0 {
            let v = i.trailing_zeros() as usize;
            i &= i - 1;
            if !self.life[v].live() {
                return false;
            }
        }
        true
    }

    fn reaches_infra(&self, node: usize) -> bool {
        self.both_up[node] & self.infra == self.infra
    }

    /// Does a healthy quorum exist now (cached until the next process/net event)?
    pub fn healthy_quorum(&mut self) -> bool {
        if let Some(q) = self.cached_quorum {
            return q;
        }
        let live = self.live_nodes();
        let q = match self.liveness {
            Liveness::PeerQuorum => has_clique(&self.both_up, live, self.quorum()),
            Liveness::ViaInfrastructure => {
                self.infra_ok()
                    && (0..self.n).any(|i| live & (1u128 << i) != 0 && self.reaches_infra(i))
            }
        };
        self.cached_quorum = Some(q);
        q
    }

    /// Is `node` live and a member of some healthy quorum?
    pub fn in_healthy_quorum(&self, node: usize) -> bool {
        self.in_quorum_among(node, self.live_nodes())
    }

    /// Is `node` a member of a healthy quorum drawn only from `allowed` (live
    /// nodes are intersected in)? Used for the effective leader: `allowed`
    /// holds the nodes that report no higher term than the claimant.
    pub fn in_quorum_among(&self, node: usize, allowed: NodeSet) -> bool {
        let live = self.live_nodes() & allowed;
        if live & (1u128 << node) == 0 {
            return false;
        }
        match self.liveness {
            Liveness::PeerQuorum => {
                has_clique(&self.both_up, live & self.both_up[node], self.quorum() - 1)
            }
            Liveness::ViaInfrastructure => self.infra_ok() && self.reaches_infra(node),
        }
    }

    /// Live nodes that count as members of `node`'s quorum under the
    /// via-infrastructure model: every live node that reaches the services.
    pub fn infra_members(&self) -> NodeSet {
        let mut s = 0;
        for i in 0..self.n {
            if self.life[i].live() && self.reaches_infra(i) {
                s |= 1u128 << i;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(n: usize) -> Vec<NodeSet> {
        let all = (1u128 << n) - 1;
        (0..n).map(|i| all & !(1u128 << i)).collect()
    }

    #[test]
    fn clique_search_is_exact() {
        let mut adj = complete(5);
        assert!(has_clique(&adj, 0b11111, 3));
        // Remove edges to leave only a triangle 0-1-2 plus pendant edges.
        for (a, b) in [(0, 3), (0, 4), (1, 3), (1, 4), (2, 4)] {
            adj[a] &= !(1 << b);
            adj[b] &= !(1 << a);
        }
        assert!(has_clique(&adj, 0b11111, 3));
        assert!(!has_clique(&adj, 0b11111, 4));
        assert!(!has_clique(&adj, 0b11110, 3));
        // A 5-cycle has no triangle: a "majorities ring".
        let mut ring = vec![0u128; 5];
        for i in 0..5 {
            let j = (i + 1) % 5;
            ring[i] |= 1 << j;
            ring[j] |= 1 << i;
        }
        assert!(!has_clique(&ring, 0b11111, 3));
        assert!(has_clique(&ring, 0b11111, 2));
    }

    #[test]
    fn large_clique_search_terminates() {
        let n = 51;
        let adj = complete(n);
        assert!(has_clique(&adj, (1u128 << n) - 1, 26));
        // Complete multipartite graph with 25 parts: max clique 25 < 26.
        let mut adj = complete(n);
        for (i, row) in adj.iter_mut().enumerate() {
            for j in 0..n {
                if i != j && i % 25 == j % 25 {
                    *row &= !(1u128 << j);
                }
            }
        }
        assert!(!has_clique(&adj, (1u128 << n) - 1, 26));
        assert!(has_clique(&adj, (1u128 << n) - 1, 25));
    }
}
