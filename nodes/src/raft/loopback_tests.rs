//! The real shell on loopback: three nodes as threads in this process, each
//! with its own runtime, socket and data directory, talking UDP or TCP on
//! ephemeral 127.0.0.1 ports, observed through their protocol events.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::core::RaftConfig;
use super::shell::{run_node, ShellConfig};
use super::transport::{BoundListener, TransportKind};
use crate::protocol::{Event, EventSink, ProtocolError};

/// Tags each event with the node that emitted it.
struct TaggedSink {
    id: String,
    events: mpsc::Sender<(String, Event)>,
}

impl EventSink for TaggedSink {
    fn emit(&mut self, event: &Event) -> Result<(), ProtocolError> {
        self.events
            .send((self.id.clone(), event.clone()))
            .map_err(|_| ProtocolError::Closed)
    }
}

/// Runs a 3-node cluster for `duration` and returns every event in order.
fn run_cluster(kind: TransportKind, data_root: &Path, duration: Duration) -> Vec<(String, Event)> {
    let ids = ["n1", "n2", "n3"];
    let listeners: Vec<BoundListener> = ids
        .iter()
        .map(|_| BoundListener::bind(kind, "127.0.0.1:0".parse().unwrap()).unwrap())
        .collect();
    let addrs: BTreeMap<String, SocketAddr> = ids
        .iter()
        .zip(&listeners)
        .map(|(id, listener)| (id.to_string(), listener.local_addr().unwrap()))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (events_tx, events_rx) = mpsc::channel();
    let mut threads = Vec::new();
    for (index, (id, listener)) in ids.iter().zip(listeners).enumerate() {
        let peer_addrs: BTreeMap<String, SocketAddr> = addrs
            .iter()
            .filter(|(peer, _)| peer.as_str() != *id)
            .map(|(peer, addr)| (peer.clone(), *addr))
            .collect();
        let mut raft = RaftConfig::new(*id, peer_addrs.keys().cloned().collect());
        // Wide timeouts: a busy test machine must not cause extra elections.
        raft.heartbeat_interval = Duration::from_millis(30);
        raft.election_timeout_min = Duration::from_millis(300);
        raft.election_timeout_max = Duration::from_millis(600);
        let config = ShellConfig {
            raft,
            peer_addrs,
            data_dir: data_root.join(id),
            seed: 40 + index as u64,
            vote_events: true,
        };
        let mut sink = TaggedSink {
            id: id.to_string(),
            events: events_tx.clone(),
        };
        let stop = stop.clone();
        threads.push(thread::spawn(move || {
            run_node(config, listener, &mut sink, stop)
        }));
    }
    drop(events_tx);
    // Run at least `duration`, then stop as soon as everyone follows one
    // leader in one term (a loaded machine may need a little longer).
    let started = Instant::now();
    let mut events = Vec::new();
    while started.elapsed() < duration + MAX_EXTRA_TIME {
        if let Ok(event) = events_rx.recv_timeout(Duration::from_millis(10)) {
            events.push(event);
            continue;
        }
        if started.elapsed() >= duration && settled(&events) {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for handle in threads {
        handle.join().unwrap().unwrap();
    }
    events.extend(events_rx);
    events
}

/// Extra time a cluster gets to settle after its nominal duration.
const MAX_EXTRA_TIME: Duration = Duration::from_secs(5);

/// Each node's last state: (role, term, leader).
fn last_states(events: &[(String, Event)]) -> BTreeMap<&str, (&str, u64, Option<&str>)> {
    let mut last_state = BTreeMap::new();
    for (id, event) in events {
        if let Event::State { role, term, leader } = event {
            last_state.insert(id.as_str(), (role.as_str(), *term, leader.as_deref()));
        }
    }
    last_state
}

/// All three nodes report the same term and leader, and one of them leads.
fn settled(events: &[(String, Event)]) -> bool {
    let last_state = last_states(events);
    let finals: BTreeSet<(u64, Option<&str>)> = last_state
        .values()
        .map(|(_, term, leader)| (*term, *leader))
        .collect();
    let leaders_now = last_state
        .values()
        .filter(|(role, _, _)| *role == "leader")
        .count();
    last_state.len() == 3 && finals.len() == 1 && leaders_now == 1
}

fn assert_one_leader_per_term_and_agreement(events: &[(String, Event)]) {
    let mut first_events: BTreeMap<&str, &Event> = BTreeMap::new();
    let mut leaders_by_term: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for (id, event) in events {
        first_events.entry(id.as_str()).or_insert(event);
        if let Event::State { role, term, .. } = event {
            if role == "leader" {
                leaders_by_term.entry(*term).or_default().insert(id);
            }
        }
    }
    assert_eq!(first_events.len(), 3, "{events:?}");
    assert!(first_events.values().all(|event| **event == Event::Ready));
    assert!(!leaders_by_term.is_empty(), "no leader elected: {events:?}");
    for (term, leaders) in &leaders_by_term {
        assert_eq!(leaders.len(), 1, "term {term}: {leaders:?}");
    }
    // At the end, everyone follows the same leader in the same term.
    assert!(settled(events), "not settled: {:?}", last_states(events));
}

#[test]
fn three_nodes_over_udp_elect_one_leader_per_term() {
    let data = tempfile::tempdir().unwrap();
    let events = run_cluster(TransportKind::Udp, data.path(), Duration::from_secs(2));
    assert_one_leader_per_term_and_agreement(&events);
    // Term and vote reached the disk.
    assert!(data.path().join("n1").join("raft-state.json").exists());
}

#[test]
fn three_nodes_over_tcp_elect_one_leader_per_term_and_restart_keeps_terms() {
    let data = tempfile::tempdir().unwrap();
    let first = run_cluster(TransportKind::Tcp, data.path(), Duration::from_millis(1500));
    assert_one_leader_per_term_and_agreement(&first);
    let max_term = |events: &[(String, Event)]| {
        events
            .iter()
            .filter_map(|(_, event)| match event {
                Event::State { term, .. } => Some(*term),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    };
    let term_before = max_term(&first);
    // The whole cluster restarts from its data dirs: terms only go up.
    let second = run_cluster(TransportKind::Tcp, data.path(), Duration::from_millis(1500));
    assert_one_leader_per_term_and_agreement(&second);
    let first_reported = second.iter().find_map(|(_, event)| match event {
        Event::State { term, .. } => Some(*term),
        _ => None,
    });
    assert!(first_reported.unwrap() >= 1);
    assert!(max_term(&second) > term_before);
}

#[test]
fn garbage_datagrams_are_ignored() {
    let data = tempfile::tempdir().unwrap();
    let listener = BoundListener::bind(TransportKind::Udp, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_addrs = BTreeMap::from([("n2".to_owned(), peer.local_addr().unwrap())]);
    let config = ShellConfig {
        raft: RaftConfig::new("n1", vec!["n2".into()]),
        peer_addrs,
        data_dir: data.path().to_path_buf(),
        seed: 1,
        vote_events: true,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (events_tx, events_rx) = mpsc::channel();
    let node_stop = stop.clone();
    let node = thread::spawn(move || {
        let mut sink = TaggedSink {
            id: "n1".into(),
            events: events_tx,
        };
        run_node(config, listener, &mut sink, node_stop)
    });
    for garbage in [
        &b"not json"[..],
        b"{\"type\":\"request_vote\",\"from\":\"n2\"}",
        b"{\"type\":\"request_vote\",\"from\":\"n7\",\"term\":9,\"last_log_index\":0,\"last_log_term\":0}",
        b"\xff\xfe",
    ] {
        peer.send_to(garbage, addr).unwrap();
    }
    // A well-formed vote request from the real peer is still answered.
    let request = b"{\"type\":\"request_vote\",\"from\":\"n2\",\"term\":4,\"last_log_index\":0,\"last_log_term\":0}";
    peer.send_to(request, addr).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buffer = [0u8; 2048];
    let (length, _) = peer.recv_from(&mut buffer).unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&buffer[..length]).unwrap();
    assert_eq!(reply["type"], "request_vote_reply");
    assert_eq!(reply["from"], "n1");
    assert_eq!(reply["granted"], true);
    stop.store(true, Ordering::Relaxed);
    node.join().unwrap().unwrap();
    let events: Vec<Event> = events_rx.into_iter().map(|(_, event)| event).collect();
    assert_eq!(events[0], Event::Ready);
    assert!(events.iter().any(|event| matches!(
        event,
        Event::Vote { term: 4, candidate, .. } if candidate == "n2"
    )));
}
