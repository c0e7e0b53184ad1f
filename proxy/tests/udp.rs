//! UDP PerLink faults, end to end on loopback.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proxy::{Endpoint, LinkFault, LinkRules, Proxy, ProxyConfig, ProxyMode, Transport};
use tokio::net::UdpSocket;
use tokio::time::timeout;

struct Cluster {
    proxy: Proxy,
    sockets: Vec<UdpSocket>,
}

impl Cluster {
    async fn new(n: usize, seed: u64) -> Cluster {
        let mut sockets = Vec::new();
        let mut nodes = Vec::new();
        for i in 0..n {
            let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            nodes.push(Endpoint::new(
                format!("n{}", i + 1),
                s.local_addr().unwrap(),
            ));
            sockets.push(s);
        }
        let mut config = ProxyConfig::new(nodes, Transport::Udp, ProxyMode::PerLink);
        config.seed = seed;
        Cluster {
            proxy: Proxy::start(config).unwrap(),
            sockets,
        }
    }

    fn sock(&self, id: &str) -> &UdpSocket {
        &self.sockets[id[1..].parse::<usize>().unwrap() - 1]
    }

    async fn send(&self, from: &str, to: &str, payload: &[u8]) {
        let addr = self.proxy.peer_addr(from, to).unwrap();
        self.sock(from).send_to(payload, addr).await.unwrap();
    }

    /// Everything `at` receives until `quiet` passes with nothing new.
    async fn drain(&self, at: &str, quiet: Duration) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(Ok((n, src))) = timeout(quiet, self.sock(at).recv_from(&mut buf)).await {
            out.push((buf[..n].to_vec(), src));
        }
        out
    }
}

fn payloads(got: &[(Vec<u8>, SocketAddr)]) -> Vec<u32> {
    got.iter()
        .map(|(p, _)| u32::from_be_bytes(p[..4].try_into().unwrap()))
        .collect()
}

const QUIET: Duration = Duration::from_millis(150);

#[tokio::test]
async fn datagram_arrives_from_the_reverse_link_address_so_replies_take_the_reverse_link() {
    let c = Cluster::new(3, 1).await;
    c.send("n1", "n2", b"ping").await;
    let got = c.drain("n2", QUIET).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, b"ping");
    // n2 sees the address it was given for n1.
    assert_eq!(got[0].1, c.proxy.peer_addr("n2", "n1").unwrap());
    // Replying to the source crosses link n2->n1 and reaches n1 from n1's address for n2.
    c.sock("n2").send_to(b"pong", got[0].1).await.unwrap();
    let back = c.drain("n1", QUIET).await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].0, b"pong");
    assert_eq!(back[0].1, c.proxy.peer_addr("n1", "n2").unwrap());
    assert!(c.drain("n3", Duration::from_millis(20)).await.is_empty());
    assert_eq!(c.proxy.stats("n1", "n2").unwrap().forwarded, 1);
    assert_eq!(c.proxy.stats("n2", "n1").unwrap().forwarded, 1);
}

#[tokio::test]
async fn cut_drops_the_directed_link_only_and_heal_restores_it() {
    let c = Cluster::new(3, 2).await;
    c.proxy
        .apply(LinkRules::healed().with_cut("n1", "n2"))
        .await
        .unwrap();
    for i in 0u32..20 {
        c.send("n1", "n2", &i.to_be_bytes()).await;
        c.send("n2", "n1", &i.to_be_bytes()).await;
    }
    assert!(c.drain("n2", QUIET).await.is_empty());
    assert_eq!(c.drain("n1", QUIET).await.len(), 20);
    assert_eq!(c.proxy.stats("n1", "n2").unwrap().dropped, 20);
    assert_eq!(
        c.proxy.net_record().cut,
        vec![["n1".to_string(), "n2".to_string()]]
    );
    c.proxy.apply(LinkRules::healed()).await.unwrap();
    c.send("n1", "n2", &7u32.to_be_bytes()).await;
    assert_eq!(payloads(&c.drain("n2", QUIET).await), vec![7]);
}

#[tokio::test]
async fn loss_drops_about_the_configured_fraction() {
    let c = Cluster::new(2, 3).await;
    let fault = LinkFault {
        loss: 0.3,
        ..Default::default()
    };
    c.proxy
        .apply(LinkRules::healed().with_fault("n1", "n2", fault))
        .await
        .unwrap();
    let total = 2000u32;
    let mut received = 0;
    for batch in 0..(total / 100) {
        for i in 0..100 {
            c.send("n1", "n2", &(batch * 100 + i).to_be_bytes()).await;
        }
        received += c.drain("n2", Duration::from_millis(30)).await.len();
    }
    let stats = c.proxy.stats("n1", "n2").unwrap();
    assert_eq!(stats.forwarded + stats.dropped, total as u64);
    assert_eq!(received as u64, stats.forwarded);
    let lost = 1.0 - received as f64 / total as f64;
    assert!((lost - 0.3).abs() < 0.05, "lost fraction {lost}");
}

#[tokio::test]
async fn delay_holds_each_datagram_at_least_the_delay_without_blocking_other_links() {
    let c = Cluster::new(3, 4).await;
    let fault = LinkFault {
        delay: Duration::from_millis(80),
        jitter: Duration::from_millis(20),
        ..Default::default()
    };
    c.proxy
        .apply(LinkRules::healed().with_fault("n1", "n2", fault))
        .await
        .unwrap();
    let start = Instant::now();
    for i in 0u32..5 {
        c.send("n1", "n2", &i.to_be_bytes()).await;
    }
    // Another link into n2 is not held up by the slow one.
    c.send("n3", "n2", &99u32.to_be_bytes()).await;
    let mut buf = [0u8; 64];
    let (_, src) = c.sock("n2").recv_from(&mut buf).await.unwrap();
    assert_eq!(src, c.proxy.peer_addr("n2", "n3").unwrap());
    assert!(start.elapsed() < Duration::from_millis(60));
    let mut got = 0;
    while got < 5 {
        let (_, src) = timeout(Duration::from_secs(1), c.sock("n2").recv_from(&mut buf))
            .await
            .expect("delayed datagram arrives")
            .unwrap();
        assert_eq!(src, c.proxy.peer_addr("n2", "n1").unwrap());
        assert!(
            start.elapsed() >= Duration::from_millis(80),
            "{:?}",
            start.elapsed()
        );
        got += 1;
    }
    assert!(start.elapsed() < Duration::from_millis(80 + 20 + 150));
    assert_eq!(c.proxy.stats("n1", "n2").unwrap().delayed, 5);
}

#[tokio::test]
async fn duplication_delivers_copies_at_the_configured_rate() {
    let c = Cluster::new(2, 5).await;
    let always = LinkFault {
        duplicate: 1.0,
        ..Default::default()
    };
    c.proxy
        .apply(LinkRules::healed().with_fault("n1", "n2", always))
        .await
        .unwrap();
    for i in 0u32..3 {
        c.send("n1", "n2", &i.to_be_bytes()).await;
    }
    assert_eq!(
        payloads(&c.drain("n2", QUIET).await),
        vec![0, 0, 1, 1, 2, 2]
    );

    let half = LinkFault {
        duplicate: 0.5,
        ..Default::default()
    };
    c.proxy
        .apply(LinkRules::healed().with_fault("n1", "n2", half))
        .await
        .unwrap();
    let mut received = 0;
    for batch in 0u32..10 {
        for i in 0..50 {
            c.send("n1", "n2", &(batch * 50 + i).to_be_bytes()).await;
        }
        received += c.drain("n2", Duration::from_millis(30)).await.len();
    }
    let extra = (received as f64 - 500.0) / 500.0;
    assert!((extra - 0.5).abs() < 0.08, "duplicated fraction {extra}");
}

#[tokio::test]
async fn reordering_releases_a_held_datagram_after_the_next_one() {
    let c = Cluster::new(2, 6).await;
    let always = LinkFault {
        reorder: 1.0,
        ..Default::default()
    };
    c.proxy
        .apply(LinkRules::healed().with_fault("n1", "n2", always))
        .await
        .unwrap();
    for i in 0u32..4 {
        c.send("n1", "n2", &i.to_be_bytes()).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(payloads(&c.drain("n2", QUIET).await), vec![1, 0, 3, 2]);
    // A lone held datagram is released after REORDER_HOLD_MAX, not lost.
    let start = Instant::now();
    c.send("n1", "n2", &9u32.to_be_bytes()).await;
    let got = c.drain("n2", Duration::from_millis(400)).await;
    assert_eq!(payloads(&got), vec![9]);
    assert!(start.elapsed() >= proxy::REORDER_HOLD_MAX);
}

#[tokio::test]
async fn late_duplicates_land_after_later_datagrams() {
    let c = Cluster::new(2, 7).await;
    let late = LinkFault {
        duplicate: 1.0,
        duplicate_delay: Duration::from_millis(150),
        ..Default::default()
    };
    c.proxy
        .apply(LinkRules::healed().with_fault("n1", "n2", late))
        .await
        .unwrap();
    for i in 0u32..20 {
        c.send("n1", "n2", &i.to_be_bytes()).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got = payloads(&c.drain("n2", Duration::from_millis(400)).await);
    let mut sorted = got.clone();
    sorted.sort_unstable();
    let twice: Vec<u32> = (0..20).flat_map(|i| [i, i]).collect();
    assert_eq!(sorted, twice, "every datagram exactly twice: {got:?}");
    // A copy of i after the first arrival of some j > i: the copy is late.
    let first = |x: u32| got.iter().position(|&y| y == x).unwrap();
    let second = |x: u32| got.iter().rposition(|&y| y == x).unwrap();
    let overtaken = (0..19u32).filter(|&i| second(i) > first(i + 1)).count();
    assert!(
        overtaken >= 5,
        "copies should land after later datagrams: {got:?}"
    );
}

#[tokio::test]
async fn a_reorder_window_shuffles_datagrams_sent_within_it_and_loses_none() {
    let c = Cluster::new(2, 8).await;
    let window = Duration::from_millis(200);
    let shuffle = LinkFault {
        reorder: 1.0,
        reorder_window: window,
        ..Default::default()
    };
    c.proxy
        .apply(LinkRules::healed().with_fault("n1", "n2", shuffle))
        .await
        .unwrap();
    let start = Instant::now();
    for i in 0u32..20 {
        c.send("n1", "n2", &i.to_be_bytes()).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let got = payloads(&c.drain("n2", Duration::from_millis(400)).await);
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..20).collect::<Vec<u32>>(),
        "none lost or doubled"
    );
    let inversions = got.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(inversions >= 5, "shuffled within the window: {got:?}");
    // Everything was out within the window (plus the sends and a generous
    // margin for a loaded machine), then the drain's quiet period.
    assert!(start.elapsed() < window + Duration::from_millis(400) + Duration::from_secs(1));
}

#[tokio::test]
async fn apply_changes_all_links_together_and_rejects_bad_rules_whole() {
    let c = Cluster::new(3, 7).await;
    let ids = ["n1", "n2", "n3"];
    let isolate_n1 = LinkRules::healed()
        .with_cut("n1", "n2")
        .with_cut("n2", "n1")
        .with_cut("n1", "n3")
        .with_cut("n3", "n1");
    let isolate_n3 = LinkRules::healed()
        .with_cut("n3", "n2")
        .with_cut("n2", "n3")
        .with_cut("n1", "n3")
        .with_cut("n3", "n1");
    for round in 0u32..20 {
        let rules = if round % 2 == 0 {
            &isolate_n1
        } else {
            &isolate_n3
        };
        c.proxy.apply(rules.clone()).await.unwrap();
        for from in ids {
            for to in ids {
                if from != to {
                    c.send(from, to, &round.to_be_bytes()).await;
                }
            }
        }
        for to in ids {
            let got = c.drain(to, Duration::from_millis(40)).await;
            let mut senders: Vec<&str> = got
                .iter()
                .map(|(_, src)| {
                    *ids.iter()
                        .find(|f| c.proxy.peer_addr(to, f) == Some(*src))
                        .unwrap()
                })
                .collect();
            senders.sort();
            let expected: Vec<&str> = ids
                .iter()
                .copied()
                .filter(|&f| f != to && !rules.cut.contains(&(f.to_string(), to.to_string())))
                .collect();
            assert_eq!(senders, expected, "round {round} into {to}");
            assert!(payloads(&got).iter().all(|&p| p == round));
        }
    }
    // A rule set with one bad name is refused whole: nothing of it applies.
    let bad = LinkRules::healed()
        .with_cut("n1", "n2")
        .with_cut("n1", "zz");
    assert!(c.proxy.apply(bad).await.is_err());
    assert_eq!(c.proxy.rules(), isolate_n3);
}

#[tokio::test]
async fn twenty_five_nodes_bind_six_hundred_link_sockets() {
    proxy::raise_nofile_limit().unwrap();
    let c = Cluster::new(25, 8).await;
    let ports = c.proxy.listening_ports();
    assert_eq!(ports.len(), 600);
    c.send("n25", "n1", b"\0\0\0\x2a").await;
    assert_eq!(payloads(&c.drain("n1", QUIET).await), vec![42]);
    c.proxy.shutdown().await;
}
