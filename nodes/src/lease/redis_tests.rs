//! The lease node against a real `redis-server` on loopback (package
//! `redis-server`; these tests fail, not skip, without it).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::core::{LeaseConfig, RenewMode};
use super::shell::{run_lease_node, LeaseShellConfig};
use crate::protocol::{ChannelSink, Event};

/// A redis-server child, killed on drop.
struct Redis {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is required for these tests: apt-get install redis-server");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_node(
    id: &str,
    redis: SocketAddr,
    renew: RenewMode,
    stop: Arc<AtomicBool>,
    events: mpsc::Sender<(String, Event)>,
) -> std::thread::JoinHandle<()> {
    let mut lease = LeaseConfig::new(id, Duration::from_millis(300));
    lease.renew = renew;
    let config = LeaseShellConfig {
        lease,
        redis,
        key: "test:lease".into(),
        stall_threshold: Duration::from_millis(100),
    };
    let id = id.to_owned();
    std::thread::spawn(move || {
        let (tx, rx) = mpsc::channel();
        let forward_id = id.clone();
        let forward = std::thread::spawn(move || {
            for event in rx {
                if events.send((forward_id.clone(), event)).is_err() {
                    return;
                }
            }
        });
        run_lease_node(config, &mut ChannelSink(tx), &stop).unwrap();
        forward.join().unwrap();
    })
}

#[test]
fn exactly_one_node_leads_with_the_token_as_term_and_others_follow_it() {
    let redis = Redis::start();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let nodes: Vec<_> = ["n1", "n2", "n3"]
        .iter()
        .map(|id| spawn_node(id, redis.addr, RenewMode::Cas, stop.clone(), tx.clone()))
        .collect();
    drop(tx);
    std::thread::sleep(Duration::from_millis(1200));
    stop.store(true, Ordering::Relaxed);
    for node in nodes {
        node.join().unwrap();
    }
    let events: Vec<(String, Event)> = rx.iter().collect();
    let leaders: Vec<_> = events
        .iter()
        .filter_map(|(id, e)| match e {
            Event::State { role, term, .. } if role == "leader" => Some((id.clone(), *term)),
            _ => None,
        })
        .collect();
    // One claimant (a stall on a loaded machine may make it re-assert).
    assert!(!leaders.is_empty(), "someone leads: {events:?}");
    assert!(leaders.iter().all(|l| *l == leaders[0]), "{events:?}");
    let (leader, term) = leaders[0].clone();
    assert_eq!(term, 1, "the first token");
    for (id, event) in &events {
        if let Event::State {
            role,
            term,
            leader: named,
        } = event
        {
            if role == "follower" {
                assert_eq!(
                    (*term, named.as_deref()),
                    (1, Some(leader.as_str())),
                    "{id}"
                );
            }
        }
    }
}
