//! TCP faults end to end on loopback: blackhole, reject, delay, directed
//! cuts on connections opened by either side, backend retry.

use std::time::{Duration, Instant};

use proxy::{
    Endpoint, LinkFault, LinkRules, Proxy, ProxyConfig, ProxyMode, Service, TcpCutMode, Transport,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

struct Cluster {
    proxy: Proxy,
    listeners: Vec<TcpListener>,
}

impl Cluster {
    async fn new(n: usize) -> Cluster {
        let mut listeners = Vec::new();
        let mut nodes = Vec::new();
        for i in 0..n {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            nodes.push(Endpoint::new(
                format!("n{}", i + 1),
                l.local_addr().unwrap(),
            ));
            listeners.push(l);
        }
        let config = ProxyConfig::new(nodes, Transport::Tcp, ProxyMode::PerLink);
        Cluster {
            proxy: Proxy::start(config).unwrap(),
            listeners,
        }
    }

    /// `from` opens a connection to `to` through the proxy; returns both ends.
    async fn connect(&self, from: &str, to: &str) -> (TcpStream, TcpStream) {
        let opened = TcpStream::connect(self.proxy.peer_addr(from, to).unwrap())
            .await
            .unwrap();
        let listener = &self.listeners[to[1..].parse::<usize>().unwrap() - 1];
        let (accepted, _) = timeout(Duration::from_secs(2), listener.accept())
            .await
            .expect("backend accepts")
            .unwrap();
        (opened, accepted)
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

async fn read_exact_within(s: &mut TcpStream, len: usize, within: Duration) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    timeout(within, s.read_exact(&mut buf))
        .await
        .expect("bytes arrive in time")
        .unwrap();
    buf
}

async fn nothing_arrives(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1];
    timeout(within, s.read(&mut buf)).await.is_err()
}

#[tokio::test]
async fn blackhole_stalls_one_direction_and_heal_releases_the_bytes_intact_in_order() {
    let c = Cluster::new(2).await;
    let (mut a, mut b) = c.connect("n1", "n2").await;
    c.proxy
        .apply(LinkRules::healed().with_cut("n1", "n2"))
        .await
        .unwrap();
    let data = pattern(600 * 1024);
    let sent = data.clone();
    let (mut a_read, mut a_write) = a.split();
    let writer = async move {
        a_write.write_all(&sent).await.unwrap();
    };
    let check = async {
        assert!(nothing_arrives(&mut b, Duration::from_millis(300)).await);
        // The other direction still flows.
        b.write_all(b"still here").await.unwrap();
        let mut buf = [0u8; 10];
        timeout(Duration::from_secs(1), a_read.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"still here");
        assert!(c.proxy.stats("n1", "n2").unwrap().stalled >= 1);
        c.proxy.apply(LinkRules::healed()).await.unwrap();
        let got = read_exact_within(&mut b, data.len(), Duration::from_secs(5)).await;
        assert!(got == data, "bytes released intact and in order");
    };
    tokio::join!(writer, check);
}

#[tokio::test]
async fn directed_cut_stalls_bytes_on_a_connection_opened_by_the_receiver() {
    let c = Cluster::new(2).await;
    // n2 opens the connection; n1 -> n2 bytes flow back over it.
    let (mut opened_by_n2, mut accepted_by_n1) = c.connect("n2", "n1").await;
    c.proxy
        .apply(LinkRules::healed().with_cut("n1", "n2"))
        .await
        .unwrap();
    accepted_by_n1.write_all(b"append-entries").await.unwrap();
    assert!(nothing_arrives(&mut opened_by_n2, Duration::from_millis(300)).await);
    opened_by_n2.write_all(b"ack").await.unwrap();
    assert_eq!(
        read_exact_within(&mut accepted_by_n1, 3, Duration::from_secs(1)).await,
        b"ack"
    );
    c.proxy.apply(LinkRules::healed()).await.unwrap();
    assert_eq!(
        read_exact_within(&mut opened_by_n2, 14, Duration::from_secs(1)).await,
        b"append-entries"
    );
}

#[tokio::test]
async fn blackholed_new_connection_reaches_the_backend_only_after_heal() {
    let c = Cluster::new(2).await;
    c.proxy
        .apply(LinkRules::healed().with_cut("n1", "n2"))
        .await
        .unwrap();
    let mut a = TcpStream::connect(c.proxy.peer_addr("n1", "n2").unwrap())
        .await
        .unwrap();
    a.write_all(b"hello").await.unwrap();
    assert!(timeout(Duration::from_millis(300), c.listeners[1].accept())
        .await
        .is_err());
    c.proxy.apply(LinkRules::healed()).await.unwrap();
    let (mut b, _) = timeout(Duration::from_secs(2), c.listeners[1].accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read_exact_within(&mut b, 5, Duration::from_secs(1)).await,
        b"hello"
    );
}

fn is_reset_or_eof(r: std::io::Result<usize>) -> bool {
    match r {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
        ),
    }
}

#[tokio::test]
async fn reject_resets_existing_connections_and_refuses_new_ones_until_heal() {
    let c = Cluster::new(3).await;
    let (mut a, mut b) = c.connect("n1", "n2").await;
    let (mut other_a, mut other_b) = c.connect("n1", "n3").await;
    let mut rules = LinkRules::healed().with_cut("n2", "n1");
    rules.tcp_cut_mode = TcpCutMode::Reject;
    c.proxy.apply(rules).await.unwrap();
    // Reset is done when apply returns: the RST is already queued.
    // Generous bounds: the reads return as soon as the reset lands, and a
    // busy 2-core machine can take a while to schedule the proxy's task.
    let mut buf = [0u8; 16];
    let r = timeout(Duration::from_secs(2), a.read(&mut buf))
        .await
        .unwrap();
    assert!(
        matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "opener sees a reset: {r:?}"
    );
    let r = timeout(Duration::from_secs(2), b.read(&mut buf))
        .await
        .unwrap();
    assert!(is_reset_or_eof(r), "backend side is closed too");
    // An unrelated pair is untouched.
    other_a.write_all(b"ok").await.unwrap();
    assert_eq!(
        read_exact_within(&mut other_b, 2, Duration::from_secs(1)).await,
        b"ok"
    );
    // New connections across the pair are refused, and the backend never sees them.
    // The proxy accepts and resets at once, so the reset may already have
    // landed when the connect completes: either way the connection is refused.
    match TcpStream::connect(c.proxy.peer_addr("n1", "n2").unwrap()).await {
        Ok(mut again) => {
            let r = timeout(Duration::from_secs(1), again.read(&mut buf))
                .await
                .unwrap();
            assert!(is_reset_or_eof(r), "new connection refused");
        }
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionRefused
            ),
            "new connection refused, not {e:?}"
        ),
    }
    assert!(timeout(Duration::from_millis(100), c.listeners[1].accept())
        .await
        .is_err());
    assert!(c.proxy.stats("n1", "n2").unwrap().dropped >= 2);
    c.proxy.apply(LinkRules::healed()).await.unwrap();
    let (mut a, mut b) = c.connect("n1", "n2").await;
    a.write_all(b"back").await.unwrap();
    assert_eq!(
        read_exact_within(&mut b, 4, Duration::from_secs(1)).await,
        b"back"
    );
}

#[tokio::test]
async fn delay_holds_each_chunk_and_keeps_order() {
    let c = Cluster::new(2).await;
    let (mut a, mut b) = c.connect("n1", "n2").await;
    let fault = LinkFault {
        delay: Duration::from_millis(100),
        jitter: Duration::from_millis(30),
        ..Default::default()
    };
    c.proxy
        .apply(LinkRules::healed().with_fault("n1", "n2", fault))
        .await
        .unwrap();
    let start = Instant::now();
    let mut expected = Vec::new();
    for i in 0u8..20 {
        a.write_all(&[i; 100]).await.unwrap();
        expected.extend_from_slice(&[i; 100]);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut first = [0u8; 1];
    b.read_exact(&mut first).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
    let rest = read_exact_within(&mut b, expected.len() - 1, Duration::from_secs(2)).await;
    assert_eq!(first[0], expected[0]);
    assert!(rest == expected[1..], "order kept under jitter");
    // The reverse direction is not delayed.
    let t = Instant::now();
    b.write_all(b"fast").await.unwrap();
    read_exact_within(&mut a, 4, Duration::from_secs(1)).await;
    assert!(t.elapsed() < Duration::from_millis(50));
    assert!(c.proxy.stats("n1", "n2").unwrap().delayed >= 1);
}

#[tokio::test]
async fn backend_not_listening_yet_is_retried() {
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = reserved.local_addr().unwrap();
    drop(reserved);
    let other = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ProxyConfig::new(
        vec![
            Endpoint::new("n1", other.local_addr().unwrap()),
            Endpoint::new("n2", addr),
        ],
        Transport::Tcp,
        ProxyMode::PerLink,
    );
    let proxy = Proxy::start(config).unwrap();
    let mut a = TcpStream::connect(proxy.peer_addr("n1", "n2").unwrap())
        .await
        .unwrap();
    a.write_all(b"early").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = TcpListener::bind(addr).await.unwrap();
    let (mut b, _) = timeout(Duration::from_secs(3), late.accept())
        .await
        .expect("proxy retried the backend")
        .unwrap();
    assert_eq!(
        read_exact_within(&mut b, 5, Duration::from_secs(1)).await,
        b"early"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn infrastructure_links_are_named_by_service_and_shutdown_closes_connections() {
    let n1 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redis = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = ProxyConfig::new(
        vec![Endpoint::new("n1", n1.local_addr().unwrap())],
        Transport::Udp,
        ProxyMode::PerLink,
    );
    config.infrastructure = vec![Service::new("redis", vec![redis.local_addr().unwrap()])];
    let proxy = Proxy::start(config).unwrap();
    let mut a = TcpStream::connect(proxy.infra_addrs("n1", "redis").unwrap()[0])
        .await
        .unwrap();
    let (mut b, _) = redis.accept().await.unwrap();
    proxy
        .apply(LinkRules::healed().with_cut("n1", "redis"))
        .await
        .unwrap();
    a.write_all(b"SET k v").await.unwrap();
    assert!(nothing_arrives(&mut b, Duration::from_millis(200)).await);
    assert_eq!(
        proxy.net_record().cut,
        vec![["n1".to_string(), "redis".to_string()]]
    );
    proxy.shutdown().await;
    let mut buf = [0u8; 8];
    let r = timeout(Duration::from_secs(1), b.read(&mut buf))
        .await
        .unwrap();
    assert!(is_reset_or_eof(r), "shutdown closed the backend connection");
}

#[tokio::test]
async fn one_cut_isolates_a_node_from_every_member_of_a_clustered_service() {
    let n1 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let members = [
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    ];
    let mut config = ProxyConfig::new(
        vec![Endpoint::new("n1", n1.local_addr().unwrap())],
        Transport::Tcp,
        ProxyMode::PerLink,
    );
    config.infrastructure = vec![Service::new(
        "etcd",
        members.iter().map(|m| m.local_addr().unwrap()).collect(),
    )];
    let proxy = Proxy::start(config).unwrap();
    let addrs = proxy.infra_addrs("n1", "etcd").unwrap().to_vec();
    assert_eq!(addrs.len(), 3, "one proxy address per member");
    let mut clients = Vec::new();
    let mut backends = Vec::new();
    for (addr, member) in addrs.iter().zip(&members) {
        let mut a = TcpStream::connect(addr).await.unwrap();
        let (mut b, _) = member.accept().await.unwrap();
        a.write_all(b"hi").await.unwrap();
        assert_eq!(
            read_exact_within(&mut b, 2, Duration::from_secs(1)).await,
            b"hi"
        );
        clients.push(a);
        backends.push(b);
    }
    proxy
        .apply(LinkRules::healed().with_cut("n1", "etcd"))
        .await
        .unwrap();
    for (a, b) in clients.iter_mut().zip(backends.iter_mut()) {
        a.write_all(b"cut").await.unwrap();
        assert!(nothing_arrives(b, Duration::from_millis(150)).await);
    }
    assert!(
        proxy.stats("n1", "etcd").unwrap().forwarded >= 3,
        "every member's traffic counts on the one link"
    );
    proxy.shutdown().await;
}
