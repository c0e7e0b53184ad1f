//! Resolution turns aims into exact nodes and complete link sets.

use std::collections::BTreeSet;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use workloads::topology::{connected_set, isolate, quorum};
use workloads::{
    flap_phases, resolve, Aim, ClusterView, Effect, LeaderSide, LinkScope, NodeAim, OneWayMode, Op,
    ResolveError,
};

fn nodes(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn kill(target: Aim) -> Op {
    Op::Kill {
        target,
        restart_after: Duration::from_secs(1),
    }
}

#[test]
fn process_aims_pick_the_right_number_of_distinct_live_nodes() {
    for n in [3, 5, 7, 25] {
        let view = ClusterView::healthy(&nodes(n), Some("n2"));
        for (aim, expected) in [
            (Aim::Leader, 1),
            (Aim::Random, 1),
            (Aim::Minority, n - quorum(n)),
            (Aim::Majority, quorum(n)),
            (Aim::AllButOne, n - 1),
        ] {
            for seed in 0..10 {
                let resolved = resolve(&kill(aim.clone()), &view, &mut rng(seed)).unwrap();
                let distinct: BTreeSet<&String> = resolved.nodes.iter().collect();
                assert_eq!(resolved.nodes.len(), expected, "N={n} {aim}");
                assert_eq!(distinct.len(), expected);
                assert!(resolved.nodes.iter().all(|node| view.live.contains(node)));
                assert_eq!(resolved.kind(), "kill");
            }
        }
    }
}

#[test]
fn leader_aim_hits_the_leader_or_falls_back_with_a_note() {
    let mut view = ClusterView::healthy(&nodes(5), Some("n4"));
    let pause = Op::Pause {
        target: Aim::Leader,
        duration: Duration::from_secs(2),
    };
    let resolved = resolve(&pause, &view, &mut rng(1)).unwrap();
    assert_eq!(resolved.nodes, vec!["n4".to_string()]);
    assert_eq!(resolved.note, None);
    assert_eq!(
        resolved.effect,
        Effect::Pause {
            duration: Duration::from_secs(2)
        }
    );

    view.leader = None;
    let resolved = resolve(&pause, &view, &mut rng(1)).unwrap();
    assert_eq!(resolved.nodes.len(), 1);
    assert!(resolved.note.is_some());

    // A paused leader is not live: aim elsewhere.
    view.leader = Some("n4".into());
    view.live.retain(|n| n != "n4");
    view.paused = vec!["n4".into()];
    let resolved = resolve(&pause, &view, &mut rng(1)).unwrap();
    assert_ne!(resolved.nodes, vec!["n4".to_string()]);
}

#[test]
fn process_faults_only_hit_live_nodes() {
    let mut view = ClusterView::healthy(&nodes(5), None);
    view.live = vec!["n1".into(), "n3".into()];
    for seed in 0..20 {
        let resolved = resolve(&kill(Aim::Majority), &view, &mut rng(seed)).unwrap();
        assert_eq!(resolved.nodes, vec!["n1".to_string(), "n3".to_string()]);
    }
    view.live.clear();
    let resolved = resolve(&kill(Aim::Random), &view, &mut rng(0)).unwrap();
    assert!(resolved.nodes.is_empty());
}

#[test]
fn named_nodes_must_exist() {
    let view = ClusterView::healthy(&nodes(3), None);
    let error = resolve(&kill(Aim::Node("n9".into())), &view, &mut rng(0)).unwrap_err();
    assert!(matches!(error, ResolveError::UnknownNode { ref node, .. } if node == "n9"));
    assert!(error.to_string().contains("n1,n2,n3"));
    let ok = resolve(&kill(Aim::Node("n3".into())), &view, &mut rng(0)).unwrap();
    assert_eq!(ok.nodes, vec!["n3".to_string()]);
    let empty = ClusterView::default();
    assert_eq!(
        resolve(&Op::Heal, &empty, &mut rng(0)).unwrap_err(),
        ResolveError::EmptyCluster
    );
}

#[test]
fn isolate_leader_cuts_it_from_nodes_and_infrastructure() {
    let mut view = ClusterView::healthy(&nodes(5), Some("n1"));
    view.infrastructure = vec!["redis".into()];
    let op = Op::Isolate {
        target: NodeAim::Leader,
    };
    let resolved = resolve(&op, &view, &mut rng(0)).unwrap();
    let mut endpoints = nodes(5);
    endpoints.push("redis".into());
    assert_eq!(resolved.net().unwrap().cut, isolate("n1", &endpoints));
    assert_eq!(resolved.nodes, vec!["n1".to_string()]);
    let record = resolved.net().unwrap().to_record();
    assert_eq!(record.cut.len(), 10);
    assert!(record
        .cut
        .contains(&["n1".to_string(), "redis".to_string()]));
}

#[test]
fn partition_puts_the_leader_where_asked_and_cuts_every_crossing_link() {
    for n in [3, 5, 7, 25] {
        let all = nodes(n);
        let leader = all[n / 2].clone();
        let mut view = ClusterView::healthy(&all, Some(&leader));
        view.infrastructure = vec!["etcd".into()];
        for side in [LeaderSide::Any, LeaderSide::Minority, LeaderSide::Majority] {
            for seed in 0..10 {
                let op = Op::Partition { leader: side };
                let resolved = resolve(&op, &view, &mut rng(seed)).unwrap();
                let [majority, minority] = &resolved.groups[..] else {
                    panic!("two groups")
                };
                assert_eq!(majority.len(), quorum(n));
                assert_eq!(minority.len(), n - quorum(n));
                assert_eq!(&resolved.nodes, minority);
                match side {
                    LeaderSide::Minority => assert!(minority.contains(&leader)),
                    LeaderSide::Majority => assert!(majority.contains(&leader)),
                    LeaderSide::Any => {}
                }
                let cut = &resolved.net().unwrap().cut;
                let mut endpoints = all.clone();
                endpoints.push("etcd".into());
                for node in majority {
                    let mut expected: BTreeSet<String> = majority.iter().cloned().collect();
                    expected.insert("etcd".into());
                    assert_eq!(connected_set(node, &endpoints, cut), expected);
                }
                for node in minority {
                    let expected: BTreeSet<String> = minority.iter().cloned().collect();
                    assert_eq!(connected_set(node, &endpoints, cut), expected);
                }
            }
        }
    }
}

#[test]
fn bridge_node_sees_everyone_and_halves_are_apart() {
    for n in [3, 5, 7, 25] {
        let all = nodes(n);
        let view = ClusterView::healthy(&all, Some("n1"));
        let op = Op::Bridge {
            via: NodeAim::Leader,
        };
        let resolved = resolve(&op, &view, &mut rng(n as u64)).unwrap();
        let cut = &resolved.net().unwrap().cut;
        assert_eq!(resolved.nodes, vec!["n1".to_string()]);
        assert_eq!(connected_set("n1", &all, cut).len(), n);
        let [left, bridge, right] = &resolved.groups[..] else {
            panic!("three groups")
        };
        assert_eq!(bridge, &vec!["n1".to_string()]);
        assert_eq!(left.len() + right.len(), n - 1);
        for l in left {
            assert!(!connected_set(l, &all, cut)
                .iter()
                .any(|x| right.contains(x)));
        }
    }
}

#[test]
fn ring_resolves_to_a_majorities_ring() {
    for n in [3, 5, 7, 25] {
        let all = nodes(n);
        let view = ClusterView::healthy(&all, None);
        let resolved = resolve(&Op::Ring, &view, &mut rng(3)).unwrap();
        let cut = &resolved.net().unwrap().cut;
        let views: BTreeSet<BTreeSet<String>> = all
            .iter()
            .map(|node| connected_set(node, &all, cut))
            .collect();
        assert_eq!(views.len(), n);
        assert!(views.iter().all(|v| v.len() >= quorum(n)));
    }
}

#[test]
fn one_way_send_only_cuts_incoming_links() {
    let all = nodes(5);
    let view = ClusterView::healthy(&all, Some("n2"));
    let op = Op::OneWay {
        target: NodeAim::Leader,
        mode: OneWayMode::SendOnly,
    };
    let cut = resolve(&op, &view, &mut rng(0))
        .unwrap()
        .net()
        .unwrap()
        .cut
        .clone();
    assert_eq!(cut.len(), 4);
    assert!(cut.iter().all(|(_, to)| to == "n2"));
}

#[test]
fn lossy_and_slow_degrade_links_without_cutting() {
    let all = nodes(5);
    let view = ClusterView::healthy(&all, None);
    let lossy_all = Op::Lossy {
        loss: 0.3,
        links: LinkScope::All,
    };
    let net = resolve(&lossy_all, &view, &mut rng(0))
        .unwrap()
        .net()
        .unwrap()
        .clone();
    assert!(net.cut.is_empty());
    assert_eq!(net.degraded.len(), 20);
    assert!(net.degraded.values().all(|f| f.loss == 0.3));

    for seed in 0..20 {
        let lossy_some = Op::Lossy {
            loss: 0.3,
            links: LinkScope::Random,
        };
        let net = resolve(&lossy_some, &view, &mut rng(seed))
            .unwrap()
            .net()
            .unwrap()
            .clone();
        assert!(!net.degraded.is_empty() && net.degraded.len() < 20);
    }

    let slow = Op::Slow {
        delay: Duration::from_millis(40),
        jitter: Duration::from_millis(10),
    };
    let net = resolve(&slow, &view, &mut rng(0))
        .unwrap()
        .net()
        .unwrap()
        .clone();
    let record = net.to_record();
    assert_eq!(record.degraded.len(), 20);
    assert!(record
        .degraded
        .iter()
        .all(|d| d.delay_ms == 40.0 && d.jitter_ms == 10.0));
}

#[test]
fn undo_ops_name_what_they_undo() {
    let all = nodes(5);
    let view = ClusterView {
        nodes: all.clone(),
        leader: None,
        live: vec!["n1".into(), "n2".into()],
        paused: vec!["n3".into()],
        infrastructure: vec![],
    };
    let heal = resolve(&Op::Heal, &view, &mut rng(0)).unwrap();
    assert!(heal.net().unwrap().is_healed());
    assert_eq!(
        heal.net().unwrap().to_record().cut,
        Vec::<[String; 2]>::new()
    );
    let resume = resolve(&Op::Resume, &view, &mut rng(0)).unwrap();
    assert_eq!(resume.nodes, vec!["n3".to_string()]);
    let restart = resolve(&Op::Restart, &view, &mut rng(0)).unwrap();
    assert_eq!(restart.nodes, vec!["n4".to_string(), "n5".to_string()]);
    let recover = resolve(&Op::Recover, &view, &mut rng(0)).unwrap();
    assert_eq!(recover.effect, Effect::Recover);
    assert_eq!(recover.nodes, all);
}

#[test]
fn flap_resolves_to_an_isolation_toggled_on_and_off() {
    let all = nodes(3);
    let view = ClusterView::healthy(&all, Some("n3"));
    let op = Op::Flap {
        target: NodeAim::Leader,
        period: Duration::from_millis(200),
        count: 3,
    };
    let resolved = resolve(&op, &view, &mut rng(0)).unwrap();
    let Effect::Flap {
        faulty,
        period,
        count,
    } = &resolved.effect
    else {
        panic!("{:?}", resolved.effect)
    };
    assert_eq!(faulty.cut, isolate("n3", &all));
    assert_eq!((*period, *count), (Duration::from_millis(200), 3));
    let phases = flap_phases(*period, *count);
    assert_eq!(phases.len(), 6);
    assert_eq!(phases[0], (Duration::ZERO, true));
    assert_eq!(phases[5], (Duration::from_millis(1000), false));
    assert_eq!(op.planned_duration(), Some(Duration::from_millis(1200)));
}

#[test]
fn resolution_is_deterministic_for_a_seeded_rng() {
    let view = ClusterView::healthy(&nodes(7), Some("n1"));
    for op in [
        kill(Aim::Minority),
        Op::Partition {
            leader: LeaderSide::Any,
        },
        Op::Ring,
        Op::Bridge {
            via: NodeAim::Random,
        },
    ] {
        let a = resolve(&op, &view, &mut rng(5)).unwrap();
        let b = resolve(&op, &view, &mut rng(5)).unwrap();
        assert_eq!(a, b);
    }
}

#[test]
fn nemesis_record_carries_kind_nodes_and_parameters() {
    let view = ClusterView::healthy(&nodes(5), Some("n2"));
    let op = Op::Kill {
        target: Aim::Leader,
        restart_after: Duration::from_millis(2500),
    };
    let record = resolve(&op, &view, &mut rng(0)).unwrap().nemesis_record();
    assert_eq!(record.op, "kill");
    assert_eq!(record.nodes, vec!["n2".to_string()]);
    let detail = record.detail.unwrap();
    assert_eq!(detail["restart_after"], "2s 500ms");
    assert_eq!(detail["target"], "leader");
    assert!(detail.get("kind").is_none());

    let partition = Op::Partition {
        leader: LeaderSide::Minority,
    };
    let record = resolve(&partition, &view, &mut rng(0))
        .unwrap()
        .nemesis_record();
    assert_eq!(record.op, "partition");
    assert_eq!(
        record.detail.unwrap()["groups"].as_array().unwrap().len(),
        2
    );

    let record = resolve(&Op::Heal, &view, &mut rng(0))
        .unwrap()
        .nemesis_record();
    assert_eq!((record.op.as_str(), record.detail), ("heal", None));
}

#[test]
fn every_kind_string_matches_the_history_vocabulary() {
    let d = Duration::from_secs(1);
    let ops = [
        (kill(Aim::Random), "kill"),
        (
            Op::Pause {
                target: Aim::Random,
                duration: d,
            },
            "pause",
        ),
        (
            Op::Isolate {
                target: NodeAim::Random,
            },
            "isolate",
        ),
        (
            Op::Partition {
                leader: LeaderSide::Any,
            },
            "partition",
        ),
        (
            Op::Bridge {
                via: NodeAim::Random,
            },
            "bridge",
        ),
        (Op::Ring, "ring"),
        (
            Op::OneWay {
                target: NodeAim::Random,
                mode: OneWayMode::ReceiveOnly,
            },
            "one-way",
        ),
        (
            Op::Lossy {
                loss: 0.3,
                links: LinkScope::All,
            },
            "lossy",
        ),
        (
            Op::Slow {
                delay: d,
                jitter: d,
            },
            "slow",
        ),
        (
            Op::Flap {
                target: NodeAim::Random,
                period: d,
                count: 2,
            },
            "flap",
        ),
        (Op::Heal, "heal"),
        (Op::Resume, "resume"),
        (Op::Restart, "restart"),
        (Op::Recover, "recover"),
    ];
    for (op, kind) in ops {
        assert_eq!(op.kind(), kind);
        // The serde tag is the kind too.
        assert_eq!(serde_json::to_value(&op).unwrap()["kind"], kind);
    }
}
