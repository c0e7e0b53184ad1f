//! Properties of every cut-set builder, for the cluster sizes we run.

use std::collections::BTreeSet;

use workloads::topology::{
    all_links, bridge, connected_set, isolate, majorities_ring, one_way, quorum, split,
};
use workloads::{LinkSet, OneWayMode};

const SIZES: [usize; 4] = [3, 5, 7, 25];

fn nodes(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

fn is_link(cut: &LinkSet, from: &str, to: &str) -> bool {
    cut.contains(&(from.to_string(), to.to_string()))
}

#[test]
fn isolate_cuts_exactly_the_node_both_ways() {
    for n in SIZES {
        let nodes = nodes(n);
        for target in &nodes {
            let cut = isolate(target, &nodes);
            assert_eq!(cut.len(), 2 * (n - 1), "N={n}");
            for (from, to) in all_links(&nodes) {
                let touches = &from == target || &to == target;
                assert_eq!(is_link(&cut, &from, &to), touches, "N={n} {from}->{to}");
            }
            assert_eq!(
                connected_set(target, &nodes, &cut),
                BTreeSet::from([target.clone()])
            );
        }
    }
}

#[test]
fn split_cuts_every_crossing_link_and_nothing_inside() {
    for n in SIZES {
        let nodes = nodes(n);
        let (majority, minority) = nodes.split_at(quorum(n));
        let cut = split(majority, minority);
        assert_eq!(cut.len(), 2 * majority.len() * minority.len(), "N={n}");
        for (from, to) in all_links(&nodes) {
            let crosses = majority.contains(&from) != majority.contains(&to);
            assert_eq!(is_link(&cut, &from, &to), crosses, "N={n} {from}->{to}");
        }
        for node in majority {
            assert_eq!(connected_set(node, &nodes, &cut).len(), majority.len());
        }
        for node in minority {
            assert_eq!(connected_set(node, &nodes, &cut).len(), minority.len());
        }
    }
}

#[test]
fn bridge_node_reaches_both_halves_which_cannot_reach_each_other() {
    for n in SIZES {
        let nodes = nodes(n);
        let bridge_node = &nodes[0];
        let rest = &nodes[1..];
        let (left, right) = rest.split_at(rest.len() / 2);
        let cut = bridge(left, bridge_node, right);
        assert_eq!(
            connected_set(bridge_node, &nodes, &cut).len(),
            n,
            "N={n}: the bridge sees everybody"
        );
        for l in left {
            for r in right {
                assert!(is_link(&cut, l, r) && is_link(&cut, r, l), "N={n}");
            }
        }
        for (from, to) in all_links(&nodes) {
            let crosses = (left.contains(&from) && right.contains(&to))
                || (right.contains(&from) && left.contains(&to));
            assert_eq!(is_link(&cut, &from, &to), crosses, "N={n} {from}->{to}");
        }
        if n % 2 == 1 {
            // Odd N: each half plus the bridge is a majority.
            assert_eq!(left.len() + 1, quorum(n));
            assert_eq!(right.len() + 1, quorum(n));
        }
    }
}

fn assert_majorities_ring(nodes: &[String]) {
    let n = nodes.len();
    let cut = majorities_ring(nodes);
    // Symmetric: a node sees another exactly when the other sees it.
    for (from, to) in all_links(nodes) {
        assert_eq!(
            is_link(&cut, &from, &to),
            is_link(&cut, &to, &from),
            "N={n}"
        );
    }
    let views: Vec<BTreeSet<String>> = nodes
        .iter()
        .map(|node| connected_set(node, nodes, &cut))
        .collect();
    for (node, view) in nodes.iter().zip(&views) {
        assert!(view.len() >= quorum(n), "N={n}: {node} sees {view:?}");
        assert!(view.len() <= quorum(n) + 1, "N={n}: {node} sees {view:?}");
    }
    let distinct: BTreeSet<&BTreeSet<String>> = views.iter().collect();
    assert_eq!(distinct.len(), n, "N={n}: two nodes see the same set");
    assert!(!cut.is_empty(), "N={n}: a ring cuts something");
    let exact = views.iter().filter(|v| v.len() == quorum(n)).count();
    assert!(
        exact >= n - 1,
        "N={n}: at most one node sees more than a majority"
    );
}

#[test]
fn majorities_ring_every_node_sees_a_distinct_majority() {
    for n in SIZES {
        assert_majorities_ring(&nodes(n));
    }
}

#[test]
fn majorities_ring_holds_for_every_size_up_to_51() {
    for n in 3..=51 {
        assert_majorities_ring(&nodes(n));
    }
}

#[test]
fn majorities_ring_for_five_is_the_classic_ring() {
    let nodes = nodes(5);
    let cut = majorities_ring(&nodes);
    for (i, node) in nodes.iter().enumerate() {
        let expected: BTreeSet<String> = [4, 0, 1]
            .iter()
            .map(|d| nodes[(i + d) % 5].clone())
            .collect();
        assert_eq!(connected_set(node, &nodes, &cut), expected);
    }
}

#[test]
fn one_way_cuts_one_direction_only() {
    for n in SIZES {
        let nodes = nodes(n);
        let target = &nodes[n / 2];
        let send_only = one_way(target, &nodes, OneWayMode::SendOnly);
        let receive_only = one_way(target, &nodes, OneWayMode::ReceiveOnly);
        assert_eq!(send_only.len(), n - 1);
        assert_eq!(receive_only.len(), n - 1);
        for other in nodes.iter().filter(|o| *o != target) {
            assert!(is_link(&send_only, other, target));
            assert!(!is_link(&send_only, target, other));
            assert!(is_link(&receive_only, target, other));
            assert!(!is_link(&receive_only, other, target));
        }
        // Together they are an isolation.
        let both: LinkSet = send_only.union(&receive_only).cloned().collect();
        assert_eq!(both, isolate(target, &nodes));
    }
}
