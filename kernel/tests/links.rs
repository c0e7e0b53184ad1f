//! The kernel backend for real: processes in their own cgroups on
//! 127.0.0.1, nftables rules of a run's own table between them. Needs root
//! (CI runs as root) and nftables; fails, never skips, without them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use kernel::links::KernelLinks;
use kernel::{LinkTable, Nft, RunGroups, RunLock};

/// A peer that opens sockets and reports what crossed, driven line by line.
const PEER: &str = r#"
import socket, sys, select, time
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
tcp = socket.socket()
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", 0))
tcp.listen(64)
tcp.setblocking(False)
conns = []
print(udp.getsockname()[1], tcp.getsockname()[1], flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "send":
        port, count = int(cmd[1]), int(cmd[2])
        for i in range(count):
            udp.sendto(b"x", ("127.0.0.1", port))
            if i % 50 == 49:
                time.sleep(0.001)
        print("sent", flush=True)
    elif cmd[0] == "count":
        quiet = float(cmd[1])
        n = 0
        while select.select([udp], [], [], quiet)[0]:
            udp.recv(64)
            n += 1
        print(n, flush=True)
    elif cmd[0] == "connect":
        port, timeout = int(cmd[1]), float(cmd[2])
        c = socket.socket()
        c.settimeout(timeout)
        try:
            c.connect(("127.0.0.1", port))
            c.sendall(b"hello")
            conns.append(c)
            print("connected", flush=True)
        except socket.timeout:
            print("timeout", flush=True)
        except OSError as e:
            print("error", e.errno, flush=True)
    elif cmd[0] == "accept":
        got = 0
        while True:
            try:
                s, _ = tcp.accept()
                conns.append(s)
                got += 1
            except BlockingIOError:
                break
        print(got, flush=True)
"#;

struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    udp: u16,
    tcp: u16,
}

impl Peer {
    fn start(groups: &RunGroups, id: &str, script: &std::path::Path) -> Peer {
        let procs = groups.group(id).unwrap().procs_file().clone();
        let mut cmd = Command::new("python3");
        cmd.arg("-u")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: join_from_child is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || kernel::NodeGroup::join_from_child(&procs));
        }
        let mut child = cmd
            .spawn()
            .expect("python3 is needed for this test (apt-get install python3)");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let ports: Vec<u16> = line
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        Peer {
            child,
            stdin,
            stdout,
            udp: ports[0],
            tcp: ports[1],
        }
    }

    fn ask(&mut self, cmd: &str) -> String {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_string()
    }

    /// Datagrams `self` receives of `count` that `from` sends, in batches
    /// small enough for the receive buffer (an overflow would look like loss).
    fn udp_from(&mut self, from: &mut Peer, count: u32) -> u32 {
        let mut got = 0;
        let mut left = count;
        while left > 0 {
            let batch = left.min(100);
            assert_eq!(from.ask(&format!("send {} {batch}", self.udp)), "sent");
            got += self.ask("count 0.05").parse::<u32>().unwrap();
            left -= batch;
        }
        got
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Setup {
    table: LinkTable,
    a: Peer,
    b: Peer,
    // Dropped last: peers and the table go first.
    _groups: RunGroups,
    _lock: RunLock,
    _dir: tempfile::TempDir,
}

fn setup(name: &str) -> Setup {
    let hierarchy = kernel::check_network_backend()
        .expect("the kernel backend needs root, cgroup2 and nftables (apt-get install nftables)");
    let lock = RunLock::acquire(&format!("test-{name}-{}", std::process::id())).unwrap();
    let ids = vec!["a".to_string(), "b".to_string()];
    let groups = RunGroups::create(&hierarchy, lock.run(), &ids).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("peer.py");
    std::fs::write(&script, PEER).unwrap();
    let a = Peer::start(&groups, "a", &script);
    let b = Peer::start(&groups, "b", &script);
    let ports: BTreeMap<String, Vec<u16>> = [
        ("a".to_string(), vec![a.tcp]),
        ("b".to_string(), vec![b.tcp]),
    ]
    .into();
    let endpoints = LinkTable::endpoints(&groups, &ports).unwrap();
    let table = LinkTable::create(Nft::open().unwrap(), lock.run(), endpoints).unwrap();
    Setup {
        table,
        a,
        b,
        _groups: groups,
        _lock: lock,
        _dir: dir,
    }
}

fn cut(from: &str, to: &str) -> KernelLinks {
    let mut l = KernelLinks::default();
    l.cut.insert((from.to_string(), to.to_string()));
    l
}

#[test]
fn a_cut_drops_udp_one_way_only_and_heal_restores_it() {
    let mut s = setup("udp");
    assert_eq!(s.b.udp_from(&mut s.a, 50), 50, "open before the cut");
    let held = s.table.apply(&cut("a", "b")).unwrap();
    assert_eq!(held, cut("a", "b"));
    s.table.verify(&held).expect("read back from the kernel");
    assert_eq!(s.table.read_back().unwrap(), cut("a", "b"));
    assert_eq!(s.b.udp_from(&mut s.a, 50), 0, "a→b is cut");
    assert_eq!(s.a.udp_from(&mut s.b, 50), 50, "b→a still delivers");
    s.table.apply(&KernelLinks::default()).unwrap();
    assert_eq!(s.b.udp_from(&mut s.a, 50), 50, "healed");
}

#[test]
fn a_one_way_cut_stops_tcp_connects_in_both_directions_like_a_real_one() {
    let mut s = setup("tcp");
    assert_eq!(s.a.ask(&format!("connect {} 1", s.b.tcp)), "connected");
    assert_eq!(s.b.ask("accept"), "1");
    s.table.apply(&cut("a", "b")).unwrap();
    // a's SYN never reaches b.
    assert_eq!(s.a.ask(&format!("connect {} 0.5", s.b.tcp)), "timeout");
    // b's SYN reaches a, but a's SYN-ACK (from a half-open request socket,
    // attributed to a by its listening port) does not come back.
    assert_eq!(s.b.ask(&format!("connect {} 0.5", s.a.tcp)), "timeout");
    assert_eq!(s.b.ask("accept"), "0");
    s.table.apply(&KernelLinks::default()).unwrap();
    assert_eq!(s.a.ask(&format!("connect {} 1", s.b.tcp)), "connected");
    assert_eq!(s.b.ask(&format!("connect {} 1", s.a.tcp)), "connected");
}

#[test]
fn loss_drops_the_asked_share_of_datagrams() {
    let mut s = setup("loss");
    let mut links = KernelLinks::default();
    links.loss.insert(("a".into(), "b".into()), 0.3);
    let held = s.table.apply(&links).unwrap();
    s.table.verify(&held).unwrap();
    let sent = 4000;
    let got = s.b.udp_from(&mut s.a, sent);
    let lost = 1.0 - got as f64 / sent as f64;
    // 4000 draws at p=0.3: the standard deviation is 0.007; allow 5 of them.
    assert!(
        (lost - 0.3).abs() < 0.035,
        "lost {lost:.3} of {sent}, asked 0.3"
    );
    assert_eq!(
        s.a.udp_from(&mut s.b, 200),
        200,
        "the reverse link is clean"
    );
}

#[test]
fn a_cut_is_in_force_when_apply_returns() {
    let mut s = setup("timing");
    // Repeatedly: cut, then at once send; nothing may cross.
    for _ in 0..20 {
        let start = Instant::now();
        s.table.apply(&cut("a", "b")).unwrap();
        assert!(start.elapsed() < Duration::from_millis(100));
        assert_eq!(s.b.udp_from(&mut s.a, 5), 0);
        s.table.apply(&KernelLinks::default()).unwrap();
        assert_eq!(s.b.udp_from(&mut s.a, 5), 5);
    }
}

#[test]
fn the_table_and_cgroups_are_gone_when_the_run_drops_them() {
    let s = setup("drop");
    let name = s.table.name().to_string();
    let dir = s._groups.dir().to_path_buf();
    let nft = Nft::open().unwrap();
    assert!(nft
        .tables("inet", kernel::TABLE_PREFIX)
        .unwrap()
        .contains(&name));
    drop(s);
    assert!(!nft
        .tables("inet", kernel::TABLE_PREFIX)
        .unwrap()
        .contains(&name));
    assert!(!dir.exists(), "{} removed", dir.display());
}
