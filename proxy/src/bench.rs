//! The proxy benchmark, run by `splitbrain bench proxy` (and
//! `cargo run --release -p proxy --example bench`): what the proxy costs and
//! how fast a cut takes effect, measured side by side with direct loopback,
//! with the goals printed beside the measurements.
//!
//! Clients are plain blocking threads (not the proxy's runtime) so the proxy
//! is measured as a separate party, as the nodes see it. All of it is one
//! process, which suits throughput and cut timing; latency from separate
//! processes, as nodes see it, is `bench network`'s (it carries the goal).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use comfy_table::{presets::UTF8_FULL, Table};
use hdrhistogram::Histogram;

use crate::{Endpoint, LinkRules, Proxy, ProxyConfig, ProxyMode, RuntimeFlavor, Transport};

/// Goal: UDP datagrams per second through one link.
pub const GOAL_UDP_MSGS_PER_S: f64 = 100_000.0;
/// Goal: a cut is in force within this long after `apply` is called, microseconds.
pub const GOAL_CUT_US: f64 = 1_000.0;

/// What to measure and how hard.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Paced send rate for the latency figures, messages per second.
    pub rate: u32,
    /// Round trips per latency measurement.
    pub latency_messages: u32,
    /// Messages per throughput measurement.
    pub throughput_messages: u32,
    /// Offered UDP load for the paced throughput figure, datagrams per
    /// second, sent in 1 ms bursts (the unpaced figure blasts instead).
    pub udp_offered_rate: u32,
    /// Message size in bytes (at least 16).
    pub payload: usize,
    /// Cuts applied (and healed) for the cut-latency figures.
    pub cut_trials: u32,
    /// Proxy runtimes to compare.
    pub flavors: Vec<RuntimeFlavor>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            rate: 10_000,
            latency_messages: 20_000,
            throughput_messages: 300_000,
            udp_offered_rate: 120_000,
            payload: 64,
            cut_trials: 30,
            flavors: vec![RuntimeFlavor::CurrentThread, RuntimeFlavor::MultiThread(2)],
        }
    }
}

/// Round-trip latency of one configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    /// Median round trip, microseconds.
    pub p50_us: f64,
    /// 99th percentile round trip, microseconds.
    pub p99_us: f64,
    /// Round trips that got no answer within 100 ms.
    pub lost: u64,
}

/// Messages through one link as fast as the sender can go.
#[derive(Debug, Clone, Copy, Default)]
pub struct Throughput {
    /// Delivered messages per second.
    pub msgs_per_s: f64,
    /// Fraction of sent messages delivered (UDP drops under overload).
    pub delivered: f64,
}

/// How fast a cut takes effect.
#[derive(Debug, Clone, Copy, Default)]
pub struct CutLatency {
    /// Median time `apply` took to return, microseconds.
    pub apply_p50_us: f64,
    /// Longest time `apply` took to return, microseconds.
    pub apply_max_us: f64,
    /// Median time from `apply` called to the send of the first dropped datagram.
    pub first_drop_p50_us: f64,
    /// Latest send (relative to `apply` called) of a datagram still delivered,
    /// over all trials; ≤ 0 means nothing sent after the call got through.
    pub last_delivered_max_us: f64,
}

/// The figures of one proxy runtime flavor.
#[derive(Debug, Clone)]
pub struct ProxiedResult {
    /// Which runtime drove the proxy.
    pub flavor: RuntimeFlavor,
    /// UDP round trip through the proxy (both directions cross it).
    pub udp: Latency,
    /// TCP round trip through the proxy.
    pub tcp: Latency,
    /// UDP throughput through one link, sender unpaced (overload).
    pub udp_throughput: Throughput,
    /// UDP throughput through one link at `udp_offered_rate`.
    pub udp_paced: Throughput,
    /// TCP throughput through one link (messages of `payload` bytes).
    pub tcp_throughput: Throughput,
    /// UDP cut latency.
    pub cut: CutLatency,
}

/// Everything measured, for callers that want numbers, not a table.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// UDP round trip on loopback without the proxy.
    pub direct_udp: Latency,
    /// TCP round trip on loopback without the proxy.
    pub direct_tcp: Latency,
    /// UDP throughput without the proxy, sender unpaced.
    pub direct_udp_throughput: Throughput,
    /// UDP throughput without the proxy at `udp_offered_rate`.
    pub direct_udp_paced: Throughput,
    /// TCP throughput without the proxy.
    pub direct_tcp_throughput: Throughput,
    /// One entry per runtime flavor.
    pub proxied: Vec<ProxiedResult>,
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Lets a sleeping thread wake within microseconds, not the default 50 µs
/// slack, so 100 µs pacing is real.
fn precise_sleeps() {
    // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

fn sleep_until(due: Instant) {
    let now = Instant::now();
    if due > now {
        thread::sleep(due - now);
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("valid histogram bounds")
}

fn latency_of(h: &Histogram<u64>, lost: u64) -> Latency {
    Latency {
        p50_us: h.value_at_quantile(0.5) as f64 / 1e3,
        p99_us: h.value_at_quantile(0.99) as f64 / 1e3,
        lost,
    }
}

/// A UDP echo server on its own thread until `stop`.
fn udp_echo(stop: Arc<AtomicBool>) -> std::io::Result<(SocketAddr, thread::JoinHandle<()>)> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_read_timeout(Some(Duration::from_millis(20)))?;
    let addr = sock.local_addr()?;
    let h = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, src)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(&buf[..n], src);
            }
        }
    });
    Ok((addr, h))
}

fn udp_rtt(client: &UdpSocket, target: SocketAddr, o: &BenchOptions) -> std::io::Result<Latency> {
    precise_sleeps();
    client.set_read_timeout(Some(Duration::from_millis(100)))?;
    let period = Duration::from_secs_f64(1.0 / o.rate as f64);
    let mut msg = vec![0u8; o.payload.max(16)];
    let mut buf = [0u8; 2048];
    let mut h = histogram();
    let mut lost = 0;
    let start = Instant::now();
    for seq in 0..o.latency_messages as u64 {
        sleep_until(start + period * seq as u32);
        msg[..8].copy_from_slice(&seq.to_be_bytes());
        let t = Instant::now();
        client.send_to(&msg, target)?;
        loop {
            match client.recv_from(&mut buf) {
                Ok((n, _)) if n >= 8 && buf[..8] == seq.to_be_bytes() => {
                    h.saturating_record(t.elapsed().as_nanos() as u64);
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
    Ok(latency_of(&h, lost))
}

/// A TCP echo server: accepts one connection, echoes fixed-size messages.
fn tcp_echo(payload: usize) -> std::io::Result<(SocketAddr, thread::JoinHandle<()>)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let h = thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let _ = s.set_nodelay(true);
            let mut buf = vec![0u8; payload];
            while s.read_exact(&mut buf).is_ok() {
                if s.write_all(&buf).is_err() {
                    break;
                }
            }
        }
    });
    Ok((addr, h))
}

fn tcp_rtt(target: SocketAddr, o: &BenchOptions) -> std::io::Result<Latency> {
    precise_sleeps();
    let mut s = TcpStream::connect(target)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let period = Duration::from_secs_f64(1.0 / o.rate as f64);
    let mut msg = vec![0u8; o.payload.max(16)];
    let mut back = msg.clone();
    let mut h = histogram();
    let start = Instant::now();
    for seq in 0..o.latency_messages as u64 {
        sleep_until(start + period * seq as u32);
        msg[..8].copy_from_slice(&seq.to_be_bytes());
        let t = Instant::now();
        s.write_all(&msg)?;
        s.read_exact(&mut back)?;
        h.saturating_record(t.elapsed().as_nanos() as u64);
    }
    Ok(latency_of(&h, 0))
}

/// Counts datagrams arriving at `sink` until it has been idle for 300 ms.
fn udp_sink(sink: UdpSocket) -> thread::JoinHandle<(u64, Option<Duration>)> {
    thread::spawn(move || {
        let _ = sink.set_read_timeout(Some(Duration::from_millis(300)));
        let mut buf = [0u8; 2048];
        let mut count = 0u64;
        let mut first = None;
        let mut last = None;
        while sink.recv_from(&mut buf).is_ok() {
            let now = Instant::now();
            first.get_or_insert(now);
            last = Some(now);
            count += 1;
        }
        (count, first.zip(last).map(|(f, l)| l - f))
    })
}

fn udp_throughput(
    sender: &UdpSocket,
    target: SocketAddr,
    sink: UdpSocket,
    o: &BenchOptions,
    paced: bool,
) -> std::io::Result<Throughput> {
    precise_sleeps();
    let h = udp_sink(sink);
    let msg = vec![7u8; o.payload.max(16)];
    let burst = if paced {
        (o.udp_offered_rate / 1000).max(1)
    } else {
        u32::MAX
    };
    let start = Instant::now();
    let mut sent = 0;
    while sent < o.throughput_messages {
        let n = burst.min(o.throughput_messages - sent);
        for _ in 0..n {
            sender.send_to(&msg, target)?;
        }
        sent += n;
        if paced {
            sleep_until(start + Duration::from_millis((sent / burst) as u64));
        }
    }
    let (count, span) = h.join().map_err(|_| other("sink thread panicked"))?;
    let secs = span.map(|d| d.as_secs_f64()).unwrap_or(0.0);
    Ok(Throughput {
        msgs_per_s: if secs > 0.0 {
            count.saturating_sub(1) as f64 / secs
        } else {
            0.0
        },
        delivered: count as f64 / o.throughput_messages as f64,
    })
}

fn tcp_throughput(
    target: SocketAddr,
    sink: TcpListener,
    o: &BenchOptions,
) -> std::io::Result<Throughput> {
    let total = o.throughput_messages as u64 * o.payload.max(16) as u64;
    let h = thread::spawn(move || -> std::io::Result<Duration> {
        let (mut s, _) = sink.accept()?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0u64;
        let mut start = None;
        while got < total {
            let n = s.read(&mut buf)?;
            if n == 0 {
                break;
            }
            start.get_or_insert_with(Instant::now);
            got += n as u64;
        }
        Ok(start.map(|s| s.elapsed()).unwrap_or_default())
    });
    let mut s = TcpStream::connect(target)?;
    s.set_nodelay(true)?;
    let msg = vec![7u8; o.payload.max(16)];
    let start = Instant::now();
    for _ in 0..o.throughput_messages {
        s.write_all(&msg)?;
    }
    let _ = h.join().map_err(|_| other("sink thread panicked"))??;
    let secs = start.elapsed().as_secs_f64();
    Ok(Throughput {
        msgs_per_s: o.throughput_messages as f64 / secs,
        delivered: 1.0,
    })
}

fn start_proxy(
    a: SocketAddr,
    b: SocketAddr,
    transport: Transport,
    flavor: RuntimeFlavor,
) -> std::io::Result<Proxy> {
    let mut config = ProxyConfig::new(
        vec![Endpoint::new("a", a), Endpoint::new("b", b)],
        transport,
        ProxyMode::PerLink,
    );
    config.runtime = flavor;
    Proxy::start(config).map_err(other)
}

fn cut_latency(flavor: RuntimeFlavor, o: &BenchOptions) -> std::io::Result<CutLatency> {
    let sender = UdpSocket::bind("127.0.0.1:0")?;
    let sink = UdpSocket::bind("127.0.0.1:0")?;
    let proxy = start_proxy(
        sender.local_addr()?,
        sink.local_addr()?,
        Transport::Udp,
        flavor,
    )?;
    let target = proxy
        .peer_addr("a", "b")
        .ok_or_else(|| other("no link a->b"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let base = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    // Paced at 20k/s: the first-drop figure has 50 µs resolution.
    let period = Duration::from_micros(50);
    let sent_at: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let send = {
        let (stop, sent_at) = (stop.clone(), sent_at.clone());
        thread::spawn(move || {
            precise_sleeps();
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                sleep_until(base + period * seq as u32);
                let t = base.elapsed();
                let _ = sender.send_to(&seq.to_be_bytes(), target);
                sent_at.lock().unwrap_or_else(|e| e.into_inner()).push(t);
                seq += 1;
            }
        })
    };
    let recv = thread::spawn(move || {
        let _ = sink.set_read_timeout(Some(Duration::from_millis(300)));
        let mut got = HashSet::new();
        let mut buf = [0u8; 64];
        while let Ok((n, _)) = sink.recv_from(&mut buf) {
            if n == 8 {
                got.insert(u64::from_be_bytes(buf[..8].try_into().unwrap_or_default()));
            }
        }
        got
    });
    let mut calls = Vec::new();
    let mut apply_h = histogram();
    for _ in 0..o.cut_trials {
        thread::sleep(Duration::from_millis(20));
        let called = base.elapsed();
        rt.block_on(proxy.apply(LinkRules::healed().with_cut("a", "b")))
            .map_err(other)?;
        let returned = base.elapsed();
        apply_h.saturating_record((returned - called).as_nanos() as u64);
        thread::sleep(Duration::from_millis(20));
        let healed = base.elapsed();
        rt.block_on(proxy.apply(LinkRules::healed()))
            .map_err(other)?;
        calls.push((called, healed));
    }
    thread::sleep(Duration::from_millis(10));
    stop.store(true, Ordering::Relaxed);
    send.join().map_err(|_| other("sender panicked"))?;
    let got = recv.join().map_err(|_| other("receiver panicked"))?;
    let sent_at = sent_at.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut first_drop = histogram();
    let mut last_delivered_max = f64::NEG_INFINITY;
    for (called, healed) in calls {
        let in_window = sent_at
            .iter()
            .enumerate()
            // Sends in the last 2 ms before the heal may still be queued
            // when it lands and are rightly delivered under the new rules.
            .filter(|(_, &t)| t >= called && t + Duration::from_millis(2) < healed);
        let mut first = None;
        for (seq, &t) in in_window {
            let rel = (t - called).as_secs_f64() * 1e6;
            if got.contains(&(seq as u64)) {
                last_delivered_max = last_delivered_max.max(rel);
            } else if first.is_none() {
                first = Some(t - called);
            }
        }
        if let Some(f) = first {
            first_drop.saturating_record(f.as_nanos().max(1) as u64);
        }
    }
    let proxy_stop = proxy;
    drop(proxy_stop);
    Ok(CutLatency {
        apply_p50_us: apply_h.value_at_quantile(0.5) as f64 / 1e3,
        apply_max_us: apply_h.max() as f64 / 1e3,
        first_drop_p50_us: first_drop.value_at_quantile(0.5) as f64 / 1e3,
        last_delivered_max_us: if last_delivered_max.is_finite() {
            last_delivered_max
        } else {
            0.0
        },
    })
}

fn proxied(flavor: RuntimeFlavor, o: &BenchOptions) -> std::io::Result<ProxiedResult> {
    let stop = Arc::new(AtomicBool::new(false));
    // UDP latency: both directions cross the proxy (a->b, b's reply b->a).
    let (echo, echo_h) = udp_echo(stop.clone())?;
    let client = UdpSocket::bind("127.0.0.1:0")?;
    let proxy = start_proxy(client.local_addr()?, echo, Transport::Udp, flavor)?;
    let udp = udp_rtt(
        &client,
        proxy.peer_addr("a", "b").ok_or_else(|| other("no link"))?,
        o,
    )?;
    drop(proxy);
    // UDP throughput through one link.
    let sender = UdpSocket::bind("127.0.0.1:0")?;
    let sink = UdpSocket::bind("127.0.0.1:0")?;
    crate::set_receive_buffer(&sink, 1 << 20);
    let proxy = start_proxy(
        sender.local_addr()?,
        sink.local_addr()?,
        Transport::Udp,
        flavor,
    )?;
    let target = proxy.peer_addr("a", "b").ok_or_else(|| other("no link"))?;
    let udp_unpaced = udp_throughput(&sender, target, sink, o, false)?;
    drop(proxy);
    let sink = UdpSocket::bind("127.0.0.1:0")?;
    crate::set_receive_buffer(&sink, 1 << 20);
    let proxy = start_proxy(
        sender.local_addr()?,
        sink.local_addr()?,
        Transport::Udp,
        flavor,
    )?;
    let target = proxy.peer_addr("a", "b").ok_or_else(|| other("no link"))?;
    let udp_paced = udp_throughput(&sender, target, sink, o, true)?;
    drop(proxy);
    // TCP latency and throughput.
    let (echo_tcp, tcp_echo_h) = tcp_echo(o.payload.max(16))?;
    let unused = TcpListener::bind("127.0.0.1:0")?;
    let proxy = start_proxy(unused.local_addr()?, echo_tcp, Transport::Tcp, flavor)?;
    let tcp = tcp_rtt(
        proxy.peer_addr("a", "b").ok_or_else(|| other("no link"))?,
        o,
    )?;
    drop(proxy);
    let _ = tcp_echo_h.join();
    let sink = TcpListener::bind("127.0.0.1:0")?;
    let proxy = start_proxy(
        unused.local_addr()?,
        sink.local_addr()?,
        Transport::Tcp,
        flavor,
    )?;
    let target = proxy.peer_addr("a", "b").ok_or_else(|| other("no link"))?;
    let tcp_throughput = tcp_throughput(target, sink, o)?;
    drop(proxy);
    stop.store(true, Ordering::Relaxed);
    let _ = echo_h.join();
    let cut = cut_latency(flavor, o)?;
    Ok(ProxiedResult {
        flavor,
        udp,
        tcp,
        udp_throughput: udp_unpaced,
        udp_paced,
        tcp_throughput,
        cut,
    })
}

/// Direct-loopback figures: UDP and TCP latency, UDP unpaced and paced, TCP throughput.
type DirectFigures = (Latency, Latency, Throughput, Throughput, Throughput);

fn direct(o: &BenchOptions) -> std::io::Result<DirectFigures> {
    let stop = Arc::new(AtomicBool::new(false));
    let (echo, echo_h) = udp_echo(stop.clone())?;
    let client = UdpSocket::bind("127.0.0.1:0")?;
    let udp = udp_rtt(&client, echo, o)?;
    stop.store(true, Ordering::Relaxed);
    let _ = echo_h.join();
    let sink = UdpSocket::bind("127.0.0.1:0")?;
    crate::set_receive_buffer(&sink, 1 << 20);
    let target = sink.local_addr()?;
    let udp_tp = udp_throughput(&client, target, sink, o, false)?;
    let sink = UdpSocket::bind("127.0.0.1:0")?;
    crate::set_receive_buffer(&sink, 1 << 20);
    let target = sink.local_addr()?;
    let udp_paced = udp_throughput(&client, target, sink, o, true)?;
    let (echo_tcp, h) = tcp_echo(o.payload.max(16))?;
    let tcp = tcp_rtt(echo_tcp, o)?;
    let _ = h.join();
    let sink = TcpListener::bind("127.0.0.1:0")?;
    let target = sink.local_addr()?;
    let tcp_tp = tcp_throughput(target, sink, o)?;
    Ok((udp, tcp, udp_tp, udp_paced, tcp_tp))
}

fn flavor_name(f: RuntimeFlavor) -> String {
    match f {
        RuntimeFlavor::CurrentThread => "proxy, current_thread".into(),
        RuntimeFlavor::MultiThread(n) => format!("proxy, multi_thread({n})"),
    }
}

/// Runs every measurement and prints one table (goals beside the figures) to
/// `out`; returns the numbers too.
pub fn run(opts: &BenchOptions, out: &mut dyn Write) -> std::io::Result<BenchReport> {
    let (direct_udp, direct_tcp, direct_udp_throughput, direct_udp_paced, direct_tcp_throughput) =
        direct(opts)?;
    let mut proxied_results = Vec::new();
    for &flavor in &opts.flavors {
        proxied_results.push(proxied(flavor, opts)?);
    }
    let report = BenchReport {
        direct_udp,
        direct_tcp,
        direct_udp_throughput,
        direct_udp_paced,
        direct_tcp_throughput,
        proxied: proxied_results,
    };
    write_table(&report, opts, out)?;
    Ok(report)
}

/// One table row: a name, the direct figure, one cell per flavor, the goal,
/// and whether the best flavor meets it.
fn add_row(t: &mut Table, name: &str, direct: String, cells: Vec<String>, goal: &str, met: bool) {
    let mut row = vec![name.to_string(), direct];
    row.extend(cells);
    row.push(goal.to_string());
    row.push(if met { "yes" } else { "NO" }.to_string());
    t.add_row(row);
}

fn write_table(r: &BenchReport, o: &BenchOptions, out: &mut dyn Write) -> std::io::Result<()> {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL);
    let mut header = vec!["measurement".to_string(), "direct".to_string()];
    header.extend(r.proxied.iter().map(|p| flavor_name(p.flavor)));
    header.extend(["goal".to_string(), "met (best)".to_string()]);
    t.set_header(header);
    let us = |v: f64| format!("{v:.1} µs");
    let rate = |v: f64| format!("{:.0}k/s", v / 1e3);
    let each = |f: &dyn Fn(&ProxiedResult) -> String| r.proxied.iter().map(f).collect::<Vec<_>>();
    let best_ok = |f: &dyn Fn(&ProxiedResult) -> bool| r.proxied.iter().any(f);
    let at = format!("@ {} msg/s", o.rate);
    let (du, dt) = (r.direct_udp, r.direct_tcp);
    let cutg = format!("≤ {GOAL_CUT_US:.0} µs");

    add_row(
        &mut t,
        &format!("UDP RTT p50 {at}"),
        us(du.p50_us),
        each(&|p| us(p.udp.p50_us)),
        "-",
        true,
    );
    add_row(
        &mut t,
        &format!("UDP RTT p99 {at}"),
        us(du.p99_us),
        each(&|p| us(p.udp.p99_us)),
        "-",
        true,
    );
    add_row(
        &mut t,
        "UDP added p50 (in one process)",
        "-".into(),
        each(&|p| us(p.udp.p50_us - du.p50_us)),
        "-",
        true,
    );
    add_row(
        &mut t,
        "UDP added p99 (in one process)",
        "-".into(),
        each(&|p| us(p.udp.p99_us - du.p99_us)),
        "-",
        true,
    );
    add_row(
        &mut t,
        "UDP round trips lost",
        du.lost.to_string(),
        each(&|p| p.udp.lost.to_string()),
        "0",
        best_ok(&|p| p.udp.lost == 0),
    );
    add_row(
        &mut t,
        &format!("TCP RTT p50 {at}"),
        us(dt.p50_us),
        each(&|p| us(p.tcp.p50_us)),
        "-",
        true,
    );
    add_row(
        &mut t,
        &format!("TCP RTT p99 {at}"),
        us(dt.p99_us),
        each(&|p| us(p.tcp.p99_us)),
        "-",
        true,
    );
    add_row(
        &mut t,
        "TCP added p50 (in one process)",
        "-".into(),
        each(&|p| us(p.tcp.p50_us - dt.p50_us)),
        "-",
        true,
    );
    add_row(
        &mut t,
        "TCP added p99 (in one process)",
        "-".into(),
        each(&|p| us(p.tcp.p99_us - dt.p99_us)),
        "-",
        true,
    );
    let tp = |v: Throughput| {
        format!(
            "{} ({:.0}% delivered)",
            rate(v.msgs_per_s),
            v.delivered * 100.0
        )
    };
    add_row(
        &mut t,
        &format!(
            "UDP throughput, one link, {} B, offered {} in 1 ms bursts",
            o.payload,
            rate(o.udp_offered_rate as f64)
        ),
        tp(r.direct_udp_paced),
        each(&|p| tp(p.udp_paced)),
        &format!("≥ {}", rate(GOAL_UDP_MSGS_PER_S)),
        best_ok(&|p| {
            p.udp_paced.msgs_per_s >= GOAL_UDP_MSGS_PER_S && p.udp_paced.delivered >= 0.99
        }),
    );
    add_row(
        &mut t,
        &format!("UDP throughput, one link, {} B, sender unpaced", o.payload),
        tp(r.direct_udp_throughput),
        each(&|p| tp(p.udp_throughput)),
        &format!("≥ {}", rate(GOAL_UDP_MSGS_PER_S)),
        best_ok(&|p| p.udp_throughput.msgs_per_s >= GOAL_UDP_MSGS_PER_S),
    );
    add_row(
        &mut t,
        &format!("TCP throughput, one link, {} B messages", o.payload),
        rate(r.direct_tcp_throughput.msgs_per_s),
        each(&|p| rate(p.tcp_throughput.msgs_per_s)),
        "-",
        true,
    );
    add_row(
        &mut t,
        &format!("cut: apply() returns, p50 / max of {}", o.cut_trials),
        "-".into(),
        each(&|p| format!("{} / {}", us(p.cut.apply_p50_us), us(p.cut.apply_max_us))),
        &cutg,
        best_ok(&|p| p.cut.apply_max_us <= GOAL_CUT_US),
    );
    add_row(
        &mut t,
        "cut: first dropped datagram, sent after apply() called (p50; 50 µs pacing)",
        "-".into(),
        each(&|p| us(p.cut.first_drop_p50_us)),
        &cutg,
        best_ok(&|p| p.cut.first_drop_p50_us <= GOAL_CUT_US),
    );
    add_row(
        &mut t,
        "cut: latest send still delivered, after apply() called (max)",
        "-".into(),
        each(&|p| us(p.cut.last_delivered_max_us)),
        &cutg,
        best_ok(&|p| p.cut.last_delivered_max_us <= GOAL_CUT_US),
    );
    writeln!(out, "{t}")?;
    writeln!(
        out,
        "RTT: paced closed-loop round trips, both directions through the proxy; added = proxy − direct at the same percentile. \
         Client, echo and proxy share this process, so wake-ups between its threads add to every figure: \
         the proxy's latency goal is judged by `splitbrain bench network`, which measures it from separate processes beside socat. \
         {} CPUs; other load on the machine shows in the p99s.",
        thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_measures_every_figure_and_prints_the_table() {
        let opts = BenchOptions {
            latency_messages: 200,
            throughput_messages: 2_000,
            cut_trials: 3,
            flavors: vec![RuntimeFlavor::CurrentThread],
            ..Default::default()
        };
        let mut out = Vec::new();
        let report = run(&opts, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for row in [
            "UDP added p50",
            "TCP added p99",
            "UDP throughput",
            "cut: apply() returns",
        ] {
            assert!(text.contains(row), "missing row {row}:\n{text}");
        }
        assert_eq!(report.proxied.len(), 1);
        let p = &report.proxied[0];
        assert!(p.udp.p50_us > 0.0 && p.tcp.p50_us > 0.0);
        assert!(p.udp_throughput.msgs_per_s > 0.0 && p.tcp_throughput.msgs_per_s > 0.0);
        assert!(p.cut.apply_max_us > 0.0);
    }
}
