//! Attribution of connections on a shared advertised listener, and bypass
//! detection, with real client processes in their own process groups.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use proxy::{detect_bypass, Endpoint, LinkRules, Proxy, ProxyConfig, ProxyMode, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// A bash process in its own process group that, once told "go" on stdin,
/// connects to `port` with /dev/tcp, sends `line`, and keeps the socket open.
struct Client {
    child: Child,
}

impl Client {
    fn spawn(port: u16, line: &str) -> Client {
        let script = format!(
            "read -r go; exec 3<>/dev/tcp/127.0.0.1/{port}; printf '%s\\n' '{line}' >&3; sleep 30"
        );
        let child = Command::new("bash")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("bash is installed");
        Client { child }
    }

    fn pgid(&self) -> i32 {
        self.child.id() as i32
    }

    fn go(&mut self) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Only the process group this test created (bash and its sleep).
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.pgid()),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.child.wait();
    }
}

async fn accept_line(listener: &TcpListener, within: Duration) -> Option<(TcpStream, String)> {
    let (mut s, _) = timeout(within, listener.accept()).await.ok()?.ok()?;
    let mut buf = vec![0u8; 64];
    let n = timeout(Duration::from_secs(2), s.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some((s, String::from_utf8_lossy(&buf[..n]).trim().to_string()))
}

#[tokio::test]
async fn shared_listener_attributes_each_connection_to_the_opening_process_group() {
    let mut listeners = Vec::new();
    let mut nodes = Vec::new();
    for i in 1..=3 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        nodes.push(Endpoint::new(format!("n{i}"), l.local_addr().unwrap()));
        listeners.push(l);
    }
    let proxy = Proxy::start(ProxyConfig::new(
        nodes,
        Transport::Tcp,
        ProxyMode::SharedAdvertised,
    ))
    .unwrap();
    let n2 = proxy.advertised_addr("n2").unwrap();
    assert_eq!(proxy.peer_addr("n1", "n2"), Some(n2));
    assert_eq!(proxy.peer_addr("n3", "n2"), Some(n2));
    proxy
        .apply(LinkRules::healed().with_cut("n1", "n2"))
        .await
        .unwrap();

    let mut from_n1 = Client::spawn(n2.port(), "from-n1");
    let mut from_n3 = Client::spawn(n2.port(), "from-n3");
    proxy.set_owner("n1", from_n1.pgid()).unwrap();
    proxy.set_owner("n3", from_n3.pgid()).unwrap();
    from_n1.go();
    from_n3.go();

    // n3's connection crosses; n1's is held by the blackhole (n1 -> n2 cut).
    let (_kept, line) = accept_line(&listeners[1], Duration::from_secs(3))
        .await
        .expect("n3 gets through");
    assert_eq!(line, "from-n3");
    assert!(accept_line(&listeners[1], Duration::from_millis(400))
        .await
        .is_none());
    assert!(proxy.stats("n3", "n2").unwrap().forwarded >= 1);
    assert!(proxy.stats("n1", "n2").unwrap().stalled >= 1);

    // A connection nobody owns (this test process is not registered) counts
    // as an unknown node: forwarded, since not every link into n2 is cut.
    let mut stranger = TcpStream::connect(n2).await.unwrap();
    stranger.write_all(b"from-nobody\n").await.unwrap();
    let (_s, line) = accept_line(&listeners[1], Duration::from_secs(3))
        .await
        .expect("unknown opener forwarded");
    assert_eq!(line, "from-nobody");

    proxy.apply(LinkRules::healed()).await.unwrap();
    let (_s, line) = accept_line(&listeners[1], Duration::from_secs(3))
        .await
        .expect("n1 released on heal");
    assert_eq!(line, "from-n1");
    proxy.shutdown().await;
}

#[tokio::test]
async fn bypass_detection_finds_a_direct_connection_between_two_node_groups() {
    // "a" is this test process's group, listening; "b" is a bash process in
    // its own group that connects to a directly, not through any proxy.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut b = Client::spawn(port, "hi");
    b.go();
    let (_conn, line) = accept_line(&listener, Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(line, "hi");
    let my_group = nix::unistd::getpgrp().as_raw();
    let nodes = vec![("a".to_string(), my_group), ("b".to_string(), b.pgid())];
    let found = detect_bypass(&nodes, &[]);
    let direct: Vec<_> = found.iter().filter(|x| x.to_port == port).collect();
    assert_eq!(direct.len(), 1, "{found:?}");
    assert_eq!(direct[0].from, "b");
    assert_eq!(direct[0].to, "a");
    assert_ne!(direct[0].from_port, 0);
    // Connections through a proxy port are not bypasses.
    assert!(detect_bypass(&nodes, &[port])
        .iter()
        .all(|x| x.to_port != port));
    // Without the second group there is no pair to report.
    assert!(detect_bypass(&nodes[..1], &[])
        .iter()
        .all(|x| x.to_port != port));
}
