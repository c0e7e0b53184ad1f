//! Pure topology helpers: each returns the complete set of directed links
//! `(from, to)` that must deliver nothing for a given network fault.
//!
//! They take node lists in the order given and make no random choices, so
//! they can be tested exhaustively; [`crate::resolve`] does the shuffling.

use std::collections::BTreeSet;

use crate::op::OneWayMode;

/// A directed link: messages sent by `.0` to `.1`.
pub type Link = (String, String);

/// A set of directed links, ordered so that records and tests are stable.
pub type LinkSet = BTreeSet<Link>;

/// Both directions between every member of `a` and every member of `b`.
fn cut_between(a: &[String], b: &[String]) -> LinkSet {
    let mut cut = LinkSet::new();
    for x in a {
        for y in b {
            if x != y {
                cut.insert((x.clone(), y.clone()));
                cut.insert((y.clone(), x.clone()));
            }
        }
    }
    cut
}

/// Cut `node` off from every other member of `nodes`, both ways.
pub fn isolate(node: &str, nodes: &[String]) -> LinkSet {
    cut_between(&[node.to_string()], nodes)
}

/// Split into two sides that cannot reach each other in either direction;
/// links inside each side stay up.
pub fn split(majority: &[String], minority: &[String]) -> LinkSet {
    cut_between(majority, minority)
}

/// Two halves that cannot reach each other, both connected to `bridge_node`
/// (which is in neither half and keeps all its links).
pub fn bridge(left: &[String], bridge_node: &str, right: &[String]) -> LinkSet {
    let left: Vec<String> = left.iter().filter(|n| *n != bridge_node).cloned().collect();
    let right: Vec<String> = right
        .iter()
        .filter(|n| *n != bridge_node)
        .cloned()
        .collect();
    cut_between(&left, &right)
}

/// Cut one direction of all of `node`'s links to the others.
pub fn one_way(node: &str, nodes: &[String], mode: OneWayMode) -> LinkSet {
    nodes
        .iter()
        .filter(|other| *other != node)
        .map(|other| match mode {
            OneWayMode::SendOnly => (other.clone(), node.to_string()),
            OneWayMode::ReceiveOnly => (node.to_string(), other.clone()),
        })
        .collect()
}

/// The size of a quorum of `n` nodes: `⌊n/2⌋ + 1`.
pub fn quorum(n: usize) -> usize {
    n / 2 + 1
}

/// The Jepsen "majorities ring", symmetric: arrange `nodes` in a ring (in the
/// order given), connect each node to its nearest neighbours so it sees a
/// majority (itself included), and cut every other link both ways. No two
/// nodes see the same set, so every node can gather votes yet no majority
/// agrees with another.
///
/// Each node is connected to the ring neighbours at distance `1..=k` with
/// `k = ⌊(q-1)/2⌋` (`q` the quorum). When `q - 1` is odd, each node also gets
/// one chord to the node `⌊N/2⌋` away (a matching); for odd N one node is left
/// over and takes a second chord, so it sees `q + 1` nodes: an odd number of
/// odd-degree nodes cannot exist. For N = 3 that leaves one node seeing
/// everybody (no symmetric ring exists); for N ≤ 2 nothing is cut.
pub fn majorities_ring(nodes: &[String]) -> LinkSet {
    let n = nodes.len();
    if n <= 2 {
        return LinkSet::new();
    }
    let need = quorum(n) - 1; // neighbours each node must see
    let near = need / 2;
    let mut adjacent = vec![BTreeSet::<usize>::new(); n];
    fn connect(a: usize, b: usize, adjacent: &mut [BTreeSet<usize>]) {
        if a != b {
            adjacent[a].insert(b);
            adjacent[b].insert(a);
        }
    }
    for i in 0..n {
        for distance in 1..=near {
            connect(i, (i + distance) % n, &mut adjacent);
        }
    }
    if need % 2 == 1 {
        let chord = n / 2;
        let mut matched = vec![false; n];
        for i in 0..n {
            if matched[i] {
                continue;
            }
            let j = (i + chord) % n;
            if !matched[j] && j != i {
                matched[i] = true;
                matched[j] = true;
                connect(i, j, &mut adjacent);
            }
        }
        for (i, done) in matched.iter().enumerate() {
            if !done {
                connect(i, (i + chord) % n, &mut adjacent);
            }
        }
    }
    let mut cut = LinkSet::new();
    for (i, from) in nodes.iter().enumerate() {
        for (j, to) in nodes.iter().enumerate() {
            if i != j && !adjacent[i].contains(&j) {
                cut.insert((from.clone(), to.clone()));
            }
        }
    }
    cut
}

/// Every directed link between distinct members of `nodes`.
pub fn all_links(nodes: &[String]) -> Vec<Link> {
    let mut links = Vec::new();
    for from in nodes {
        for to in nodes {
            if from != to {
                links.push((from.clone(), to.clone()));
            }
        }
    }
    links
}

/// The nodes `node` can talk with in both directions under `cut`, itself
/// included: its view of the cluster.
pub fn connected_set(node: &str, nodes: &[String], cut: &LinkSet) -> BTreeSet<String> {
    nodes
        .iter()
        .filter(|other| {
            *other == node
                || (!cut.contains(&(node.to_string(), (*other).clone()))
                    && !cut.contains(&((*other).clone(), node.to_string())))
        })
        .cloned()
        .collect()
}
