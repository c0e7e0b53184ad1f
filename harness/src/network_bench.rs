//! `splitbrain bench network`: what each way of faulting links costs a
//! message, measured in one run with one client. The client and the echo
//! server are separate processes in cgroups of a run (as nodes are), so the
//! kernel row sees the run's real rules; only the path between them differs:
//! direct loopback, the kernel backend with a full table loaded, the proxy,
//! and socat as a plain forwarder users know, for UDP datagrams and for a
//! TCP stream (the proxy's two transports). Then how fast a kernel cut and
//! heal take effect, from a sender pacing datagrams every ~20 µs.

use std::collections::BTreeMap;
use std::io::Read;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use comfy_table::{presets::UTF8_FULL, Table};
use kernel::links::KernelLinks;
use kernel::{LinkTable, Nft, RunGroups, RunLock};

/// Rounds the paths alternate in.
const ROUNDS: u32 = 10;

/// What to measure.
#[derive(Debug, Clone)]
pub struct NetworkBenchOptions {
    /// Round trips per path.
    pub samples: u32,
    /// Endpoints in the kernel table (the measured pair plus idle ones whose
    /// links are all cut, so every packet walks a realistic rule set).
    pub endpoints: usize,
    /// Cut/heal repetitions.
    pub cuts: u32,
}

/// Nanoseconds of CLOCK_MONOTONIC: one clock for every process, so a send
/// time stamped by one and an apply time by another compare directly.
fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Lets a sleeping thread wake within microseconds (the default slack is 50 µs).
fn precise_sleeps() {
    // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
}

// ---------------------------------------------------------------------------
// The peer processes: `splitbrain bench-peer ROLE`, driven by stdin lines.

/// The body of the hidden `bench-peer` command.
///
/// * `echo`: bind, print the port, echo datagrams until stdin closes.
/// * `client`: bind, print the port; each `rtt ADDR SAMPLES PERIOD_US` line
///   answers `LOST` and every round trip's nanoseconds.
/// * `sink`: bind, print the port; records `(seq, sent, arrived)` until a
///   `report` line, then prints them one per line and `end`.
/// * `sender`: each `send ADDR DURATION_MS PERIOD_US` line sends datagrams
///   carrying their sequence number and send time, then answers `sent N`.
pub fn run_peer(role: &str) -> i32 {
    match peer(role) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("bench-peer {role}: {e:#}");
            1
        }
    }
}

fn peer(role: &str) -> anyhow::Result<()> {
    precise_sleeps();
    let stdin = std::io::stdin();
    if role == "tcp-echo" {
        // Its port is the TCP listener's; every connection echoes on a
        // thread of its own, Nagle off, as a node's peer stream would.
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", listener.local_addr()?.port())?;
        out.flush()?;
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = stream.set_nodelay(true);
                    let mut stream = stream;
                    let mut buf = [0u8; 8];
                    while stream.read_exact(&mut buf).is_ok() {
                        if stream.write_all(&buf).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        for _ in stdin.lock().lines() {}
        return Ok(());
    }
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    let port = sock.local_addr()?.port();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{port}")?;
    out.flush()?;
    match role {
        "echo" => {
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while let Ok((n, src)) = sock.recv_from(&mut buf) {
                    let _ = sock.send_to(&buf[..n], src);
                }
            });
            for _ in stdin.lock().lines() {}
            Ok(())
        }
        "client" => {
            sock.set_read_timeout(Some(Duration::from_millis(100)))?;
            for line in stdin.lock().lines() {
                let line = line?;
                let w: Vec<&str> = line.split_whitespace().collect();
                let (samples, lost) = match w.as_slice() {
                    ["rtt", addr, samples, period] => {
                        rtt(&sock, addr.parse()?, samples.parse()?, period.parse()?)?
                    }
                    ["tcp-rtt", addr, samples, period] => {
                        tcp_rtt(addr.parse()?, samples.parse()?, period.parse()?)?
                    }
                    _ => bail!("unexpected command {line:?}"),
                };
                let list: Vec<String> = samples.iter().map(u64::to_string).collect();
                writeln!(out, "{lost} {}", list.join(" "))?;
                out.flush()?;
            }
            Ok(())
        }
        "sink" => {
            sock.set_read_timeout(Some(Duration::from_millis(20)))?;
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let recorder = std::thread::spawn(move || {
                let mut got = Vec::new();
                let mut buf = [0u8; 64];
                loop {
                    if rx.try_recv().is_ok() {
                        return got;
                    }
                    if let Ok((n, _)) = sock.recv_from(&mut buf) {
                        if n >= 16 {
                            let seq = u64::from_be_bytes(buf[..8].try_into().unwrap());
                            let sent = u64::from_be_bytes(buf[8..16].try_into().unwrap());
                            got.push((seq, sent, mono_ns()));
                        }
                    }
                }
            });
            for line in stdin.lock().lines() {
                if line?.trim() == "report" {
                    break;
                }
            }
            let _ = tx.send(());
            let got = recorder.join().map_err(|_| anyhow!("recorder panicked"))?;
            for (seq, sent, arrived) in got {
                writeln!(out, "{seq} {sent} {arrived}")?;
            }
            writeln!(out, "end")?;
            out.flush()?;
            Ok(())
        }
        "sender" => {
            let mut seq = 0u64;
            for line in stdin.lock().lines() {
                let line = line?;
                let w: Vec<&str> = line.split_whitespace().collect();
                let ["send", addr, duration_ms, period_us] = w.as_slice() else {
                    bail!("unexpected command {line:?}");
                };
                let addr: SocketAddr = addr.parse()?;
                let until = Instant::now() + Duration::from_millis(duration_ms.parse()?);
                let period = Duration::from_micros(period_us.parse()?);
                let mut next = Instant::now();
                let mut n = 0;
                while Instant::now() < until {
                    let mut msg = [0u8; 16];
                    msg[..8].copy_from_slice(&seq.to_be_bytes());
                    msg[8..].copy_from_slice(&mono_ns().to_be_bytes());
                    let _ = sock.send_to(&msg, addr);
                    seq += 1;
                    n += 1;
                    next += period;
                    // Spin: sleeping would pace at the scheduler's whim.
                    while Instant::now() < next {
                        std::hint::spin_loop();
                    }
                }
                writeln!(out, "sent {n}")?;
                out.flush()?;
            }
            Ok(())
        }
        other => bail!("unknown role {other:?} (echo, tcp-echo, client, sink, sender)"),
    }
}

fn rtt(
    sock: &UdpSocket,
    target: SocketAddr,
    samples: u32,
    period_us: u64,
) -> anyhow::Result<(Vec<u64>, u64)> {
    let mut h = Vec::with_capacity(samples as usize);
    let mut buf = [0u8; 2048];
    let mut lost = 0;
    let period = Duration::from_micros(period_us);
    let start = Instant::now();
    // A few unmeasured round trips warm the path (ARP-free loopback, but
    // caches, the proxy's first-datagram work and socat's connect).
    for seq in 0..(samples as u64 + 50) {
        let due = start + period * seq as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let t = Instant::now();
        sock.send_to(&seq.to_be_bytes(), target)?;
        loop {
            match sock.recv_from(&mut buf) {
                Ok((n, _)) if n >= 8 && buf[..8] == seq.to_be_bytes() => {
                    if seq >= 50 {
                        h.push(t.elapsed().as_nanos() as u64);
                    }
                    break;
                }
                Ok(_) => continue,
                Err(_) => {
                    lost += 1;
                    break;
                }
            }
        }
    }
    Ok((h, lost))
}

/// `samples` paced round trips of 8 bytes on one TCP connection to
/// `target` (Nagle off), after 50 unmeasured ones; a connection that fails
/// midway counts the rest as lost.
fn tcp_rtt(target: SocketAddr, samples: u32, period_us: u64) -> anyhow::Result<(Vec<u64>, u64)> {
    let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(2))
        .with_context(|| format!("connecting to {target}"))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut h = Vec::with_capacity(samples as usize);
    let period = Duration::from_micros(period_us);
    let start = Instant::now();
    let total = samples as u64 + 50;
    for seq in 0..total {
        let due = start + period * seq as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let t = Instant::now();
        let mut buf = [0u8; 8];
        let ok = stream.write_all(&seq.to_be_bytes()).is_ok()
            && stream.read_exact(&mut buf).is_ok()
            && buf == seq.to_be_bytes();
        if !ok {
            return Ok((h, total - seq));
        }
        if seq >= 50 {
            h.push(t.elapsed().as_nanos() as u64);
        }
    }
    Ok((h, 0))
}

/// A peer process in a cgroup of the run.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    port: u16,
}

impl Peer {
    fn start(groups: &RunGroups, id: &str, role: &str) -> anyhow::Result<Peer> {
        let procs = groups
            .group(id)
            .ok_or_else(|| anyhow!("no cgroup {id}"))?
            .procs_file()
            .clone();
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["bench-peer", role])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: join_from_child and prctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                kernel::NodeGroup::join_from_child(&procs)?;
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                );
                Ok(())
            });
        }
        let mut child = cmd.spawn().context("starting a bench peer")?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let port = line
            .trim()
            .parse()
            .with_context(|| format!("bench peer {role} said {line:?}"))?;
        Ok(Peer {
            child,
            stdin,
            stdout,
            port,
        })
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn say(&mut self, line: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().ok_or_else(|| anyhow!("peer closed"))?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    fn ask(&mut self, line: &str) -> anyhow::Result<String> {
        self.say(line)?;
        let mut answer = String::new();
        self.stdout.read_line(&mut answer)?;
        Ok(answer.trim().to_string())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One row of the latency table.
#[derive(Debug, Clone, Copy)]
struct Rtt {
    p50_us: f64,
    p99_us: f64,
    lost: u64,
}

/// Round trips of one path, merged over the rounds.
struct PathSamples {
    h: hdrhistogram::Histogram<u64>,
    lost: u64,
}

impl PathSamples {
    fn new() -> anyhow::Result<PathSamples> {
        Ok(PathSamples {
            h: hdrhistogram::Histogram::new_with_bounds(1, 10_000_000_000, 3)?,
            lost: 0,
        })
    }

    fn rtt(&self) -> Rtt {
        Rtt {
            p50_us: self.h.value_at_quantile(0.5) as f64 / 1e3,
            p99_us: self.h.value_at_quantile(0.99) as f64 / 1e3,
            lost: self.lost,
        }
    }
}

/// One round of `samples` round trips to `target`, added to `into`.
fn measure(
    client: &mut Peer,
    target: SocketAddr,
    samples: u32,
    into: &mut PathSamples,
) -> anyhow::Result<()> {
    measure_with(client, "rtt", target, samples, into)
}

/// As [`measure`], over a TCP connection opened for the round.
fn measure_tcp(
    client: &mut Peer,
    target: SocketAddr,
    samples: u32,
    into: &mut PathSamples,
) -> anyhow::Result<()> {
    measure_with(client, "tcp-rtt", target, samples, into)
}

fn measure_with(
    client: &mut Peer,
    command: &str,
    target: SocketAddr,
    samples: u32,
    into: &mut PathSamples,
) -> anyhow::Result<()> {
    let answer = client.ask(&format!("{command} {target} {samples} 100"))?;
    let v: Vec<u64> = answer
        .split_whitespace()
        .map(|w| w.parse())
        .collect::<Result<_, _>>()
        .with_context(|| format!("client said {:?}", &answer[..answer.len().min(80)]))?;
    let (lost, rest) = v
        .split_first()
        .ok_or_else(|| anyhow!("client said nothing"))?;
    into.lost += lost;
    for ns in rest {
        into.h.saturating_record(*ns);
    }
    Ok(())
}

/// socat forwarding one peer both ways, on a port of its own.
struct Socat(Child);

impl Socat {
    /// A UDP forwarder to `to`.
    fn start(to: SocketAddr) -> anyhow::Result<(Socat, SocketAddr)> {
        let port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
        Socat::spawn(
            port,
            format!("UDP4-LISTEN:{port},bind=127.0.0.1,reuseaddr"),
            format!("UDP4:{to}"),
        )
    }

    /// A TCP forwarder to `to`, Nagle off on both legs (as the proxy).
    fn start_tcp(to: SocketAddr) -> anyhow::Result<(Socat, SocketAddr)> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        Socat::spawn(
            port,
            format!("TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,nodelay"),
            format!("TCP4:{to},nodelay"),
        )
    }

    fn spawn(port: u16, listen: String, to: String) -> anyhow::Result<(Socat, SocketAddr)> {
        let child = Command::new("socat")
            .arg(listen)
            .arg(to)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .map_err(|e| anyhow!("starting socat: {e} (install it: apt-get install socat)"))?;
        std::thread::sleep(Duration::from_millis(200));
        Ok((Socat(child), SocketAddr::from(([127, 0, 0, 1], port))))
    }
}

impl Drop for Socat {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Cut and heal timing, microseconds: p50 and max of each.
#[derive(Debug, Default)]
struct CutTiming {
    apply: Vec<f64>,
    in_force: Vec<f64>,
    first_delivered: Vec<f64>,
    late_delivered: u64,
}

fn quantiles(v: &[f64]) -> (f64, f64) {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    (v[v.len() / 2], v[v.len() - 1])
}

/// Repeatedly cut a→b for 5 ms and heal it for 5 ms while `sender` paces a
/// datagram every 20 µs to `sink`; from what arrived: how long after the
/// cut began datagrams still crossed (the cut was in force by the last
/// one), when the first one sent after the heal began arrived, and whether
/// anything sent after `apply` returned still crossed the cut.
fn cut_timing(
    table: &LinkTable,
    sender: &mut Peer,
    sink: &mut Peer,
    o: &NetworkBenchOptions,
) -> anyhow::Result<CutTiming> {
    precise_sleeps();
    let mut cut = KernelLinks::default();
    cut.cut.insert(("a".into(), "b".into()));
    let healed = KernelLinks::default();
    let window = Duration::from_millis(5);
    // Generous: an apply may take milliseconds on a loaded machine, and the
    // sender must still be sending after the last heal.
    let total_ms = (o.cuts as u64 * 40) + 200;
    sender.say(&format!("send {} {total_ms} 20", sink.addr()))?;
    std::thread::sleep(Duration::from_millis(20));
    let mut events = Vec::new();
    for _ in 0..o.cuts {
        let t0 = mono_ns();
        table.apply(&cut)?;
        let t0_done = mono_ns();
        std::thread::sleep(window);
        let t1 = mono_ns();
        table.apply(&healed)?;
        let t1_done = mono_ns();
        events.push((t0, t0_done, t1, t1_done));
        std::thread::sleep(window);
    }
    let mut line = String::new();
    sender.stdout.read_line(&mut line)?;
    sink.say("report")?;
    let mut arrived: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    loop {
        let mut l = String::new();
        if sink.stdout.read_line(&mut l)? == 0 || l.trim() == "end" {
            break;
        }
        let v: Vec<u64> = l
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        if let [seq, sent, at] = v[..] {
            arrived.insert(seq, (sent, at));
        }
    }
    let delivered: Vec<(u64, u64)> = arrived.values().copied().collect();
    let mut t = CutTiming::default();
    for (t0, t0_done, t1, t1_done) in events {
        t.apply.push((t0_done - t0) as f64 / 1e3);
        t.apply.push((t1_done - t1) as f64 / 1e3);
        // The last datagram that still crossed, among those sent after the
        // cut began: the cut was in force by then (0 when none crossed).
        let crossed = delivered
            .iter()
            .filter(|(sent, _)| *sent >= t0 && *sent < t1)
            .map(|(sent, _)| *sent)
            .max();
        t.in_force
            .push(crossed.map_or(0.0, |sent| (sent - t0) as f64 / 1e3));
        if crossed.is_some_and(|sent| sent > t0_done) {
            t.late_delivered += 1;
        }
        // The first datagram sent after the heal began that arrived.
        if let Some((_, at)) = delivered.iter().find(|(sent, _)| *sent >= t1) {
            t.first_delivered.push(at.saturating_sub(t1) as f64 / 1e3);
        }
    }
    Ok(t)
}

/// Run every measurement and print the table.
pub fn run(o: &NetworkBenchOptions, out: &mut dyn Write) -> anyhow::Result<()> {
    let hierarchy = kernel::check_network_backend().map_err(|e| anyhow!("{e}"))?;
    if Command::new("socat").arg("-V").output().is_err() {
        bail!("socat is not installed: apt-get install socat");
    }
    crate::network::sweep_leftovers();
    let lock = RunLock::acquire(&format!("bench-network-{}", std::process::id()))?;
    crate::supervise::start_watchdog();
    crate::supervise::watch_run(lock.run());
    let mut ids = vec!["a".to_string(), "b".to_string()];
    ids.extend((3..=o.endpoints.max(2)).map(|i| format!("idle{i}")));
    let groups = RunGroups::create(&hierarchy, lock.run(), &ids)?;
    let result = measure_all(o, &groups, &ids, lock.run(), out);
    drop(groups);
    crate::supervise::unwatch_run(lock.run());
    result
}

fn measure_all(
    o: &NetworkBenchOptions,
    groups: &RunGroups,
    ids: &[String],
    run: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let echo = Peer::start(groups, "b", "echo")?;
    let tcp_echo = Peer::start(groups, "b", "tcp-echo")?;
    let mut client = Peer::start(groups, "a", "client")?;

    // The kernel backend: the run's table with every idle endpoint cut
    // from every other, the measured pair open.
    let mut ports: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    ports.insert("a".into(), vec![client.port]);
    ports.insert("b".into(), vec![echo.port]);
    let endpoints = LinkTable::endpoints(groups, &ports)?;
    let idle: Vec<&String> = ids.iter().skip(2).collect();
    let mut full = KernelLinks::default();
    for x in &idle {
        for y in &idle {
            if x != y {
                full.cut.insert(((*x).clone(), (*y).clone()));
            }
        }
        full.cut.insert(((*x).clone(), "a".into()));
        full.cut.insert(("b".into(), (*x).clone()));
    }
    let rules = full.cut.len();

    // The proxy, as a run starts it (UDP, a socket per directed link), and
    // socat: both stay up for every round (neither touches the others).
    let proxy = proxy::Proxy::start(proxy::ProxyConfig::new(
        vec![
            proxy::Endpoint::new("a", client.addr()),
            proxy::Endpoint::new("b", echo.addr()),
        ],
        proxy::Transport::Udp,
        proxy::ProxyMode::PerLink,
    ))?;
    let via_proxy = proxy
        .peer_addr("a", "b")
        .ok_or_else(|| anyhow!("the proxy has no a→b link"))?;
    let (socat, via_socat) = Socat::start(echo.addr())?;
    // The same for TCP: a stream per directed link, as a TCP run starts it.
    let tcp_proxy = proxy::Proxy::start(proxy::ProxyConfig::new(
        vec![
            proxy::Endpoint::new("a", client.addr()),
            proxy::Endpoint::new("b", tcp_echo.addr()),
        ],
        proxy::Transport::Tcp,
        proxy::ProxyMode::PerLink,
    ))?;
    let via_tcp_proxy = tcp_proxy
        .peer_addr("a", "b")
        .ok_or_else(|| anyhow!("the TCP proxy has no a→b link"))?;
    let (tcp_socat, via_tcp_socat) = Socat::start_tcp(tcp_echo.addr())?;

    // Rounds alternate the paths, so drift of the machine's load over the
    // run lands on all of them alike. The table exists only for the kernel
    // round (its marking rules would touch the other paths' packets too).
    let rounds = ROUNDS.min(o.samples.max(1));
    let per_round = o.samples.div_ceil(rounds);
    let (mut direct, mut kernel, mut proxied, mut socat_s) = (
        PathSamples::new()?,
        PathSamples::new()?,
        PathSamples::new()?,
        PathSamples::new()?,
    );
    let (mut tcp_direct, mut tcp_proxied, mut tcp_socat_s) = (
        PathSamples::new()?,
        PathSamples::new()?,
        PathSamples::new()?,
    );
    for _ in 0..rounds {
        measure(&mut client, echo.addr(), per_round, &mut direct)?;
        {
            let table = LinkTable::create(Nft::open()?, run, endpoints.clone())?;
            table.apply(&full)?;
            measure(&mut client, echo.addr(), per_round, &mut kernel)?;
        }
        measure(&mut client, via_proxy, per_round, &mut proxied)?;
        measure(&mut client, via_socat, per_round, &mut socat_s)?;
        measure_tcp(&mut client, tcp_echo.addr(), per_round, &mut tcp_direct)?;
        measure_tcp(&mut client, via_tcp_proxy, per_round, &mut tcp_proxied)?;
        measure_tcp(&mut client, via_tcp_socat, per_round, &mut tcp_socat_s)?;
    }
    drop((socat, tcp_socat));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(proxy.shutdown());
    rt.block_on(tcp_proxy.shutdown());
    drop(tcp_echo);
    let (direct, kernel_rtt, proxied, socat_rtt) =
        (direct.rtt(), kernel.rtt(), proxied.rtt(), socat_s.rtt());
    let (tcp_direct, tcp_proxied, tcp_socat_rtt) =
        (tcp_direct.rtt(), tcp_proxied.rtt(), tcp_socat_s.rtt());

    // Cut timing on the table, a fresh pair of processes.
    let table = LinkTable::create(Nft::open()?, run, endpoints)?;
    let mut sink = Peer::start(groups, "b", "sink")?;
    let mut sender = Peer::start(groups, "a", "sender")?;
    let cuts = cut_timing(&table, &mut sender, &mut sink, o)?;
    drop((sink, sender));
    drop(table);
    drop((client, echo));

    let mut t = Table::new();
    t.load_preset(UTF8_FULL);
    t.set_header(vec![
        "path",
        "RTT p50",
        "RTT p99",
        "added p50",
        "added p99",
        "lost",
        "goal",
        "met",
    ]);
    let us = |v: f64| format!("{v:.1} µs");
    let row_from =
        |t: &mut Table, base: Rtt, name: String, r: Rtt, goal: &str, met: Option<bool>| {
            t.add_row(vec![
                name,
                us(r.p50_us),
                us(r.p99_us),
                us(r.p50_us - base.p50_us),
                us(r.p99_us - base.p99_us),
                r.lost.to_string(),
                goal.to_string(),
                met.map_or("-".into(), |m| if m { "yes" } else { "NO" }.to_string()),
            ]);
        };
    let row = |t: &mut Table, name: String, r: Rtt, goal: &str, met: Option<bool>| {
        row_from(t, direct, name, r, goal, met)
    };
    row(&mut t, "direct loopback".into(), direct, "-", None);
    let kernel_added = kernel_rtt.p50_us - direct.p50_us;
    row(
        &mut t,
        format!(
            "kernel backend, {} endpoints, {rules} cut rules loaded",
            ids.len()
        ),
        kernel_rtt,
        "added p50 ≤ 2 µs",
        Some(kernel_added <= 2.0),
    );
    let proxy_added = proxied.p50_us - direct.p50_us;
    let socat_added = socat_rtt.p50_us - direct.p50_us;
    row(
        &mut t,
        "proxy (UDP, a socket per link)".into(),
        proxied,
        "added p50 ≤ socat's",
        Some(proxy_added <= socat_added),
    );
    row(
        &mut t,
        "socat (plain UDP forwarder)".into(),
        socat_rtt,
        "-",
        None,
    );
    row_from(
        &mut t,
        tcp_direct,
        "direct loopback, TCP".into(),
        tcp_direct,
        "-",
        None,
    );
    let tcp_proxy_added = tcp_proxied.p50_us - tcp_direct.p50_us;
    let tcp_socat_added = tcp_socat_rtt.p50_us - tcp_direct.p50_us;
    row_from(
        &mut t,
        tcp_direct,
        "proxy (TCP, a stream per link)".into(),
        tcp_proxied,
        "added p50 ≤ socat's",
        Some(tcp_proxy_added <= tcp_socat_added),
    );
    row_from(
        &mut t,
        tcp_direct,
        "socat (plain TCP forwarder)".into(),
        tcp_socat_rtt,
        "-",
        None,
    );
    writeln!(out, "{t}")?;

    let mut c = Table::new();
    c.load_preset(UTF8_FULL);
    c.set_header(vec!["kernel cut and heal", "p50", "max", "goal", "met"]);
    let (a50, amax) = quantiles(&cuts.apply);
    c.add_row(vec![
        "apply(): one transaction, acknowledged".to_string(),
        us(a50),
        us(amax),
        "-".into(),
        "-".into(),
    ]);
    let (d50, dmax) = quantiles(&cuts.in_force);
    c.add_row(vec![
        format!(
            "cut → in force: last datagram through, sent after apply() began ({} cuts)",
            cuts.in_force.len()
        ),
        us(d50),
        us(dmax),
        "< 1000 µs".into(),
        if dmax < 1000.0 { "yes" } else { "NO" }.into(),
    ]);
    let (h50, hmax) = quantiles(&cuts.first_delivered);
    c.add_row(vec![
        format!(
            "heal → first delivered datagram ({} heals)",
            cuts.first_delivered.len()
        ),
        us(h50),
        us(hmax),
        "-".into(),
        "-".into(),
    ]);
    c.add_row(vec![
        "cuts that let a datagram sent after apply() returned through".to_string(),
        cuts.late_delivered.to_string(),
        "-".into(),
        "0".into(),
        if cuts.late_delivered == 0 {
            "yes"
        } else {
            "NO"
        }
        .into(),
    ]);
    writeln!(out, "{c}")?;
    writeln!(
        out,
        "RTT: {} paced round trips (one every 100 µs) per path in {ROUNDS} alternating rounds, by the same client process, in a cgroup as nodes are; \
         added = path − direct loopback of the same transport at the same percentile. Cut timing: a datagram every 20 µs, send times on CLOCK_MONOTONIC. \
         {} CPUs; other load on the machine shows in the p99s.",
        o.samples,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )?;
    Ok(())
}
