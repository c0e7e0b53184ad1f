//! The fault-injecting network proxy: every peer message crosses it, so
//! faults are per directed link (from, to).
//!
//! * UDP ([`Transport::Udp`], [`ProxyMode::PerLink`]): one socket per directed
//!   link; per datagram drop, loss, delay + jitter, duplication, reordering.
//! * TCP ([`Transport::Tcp`]): per-connection forwarding; blackhole (bytes in
//!   the cut direction stall, released in order on heal), reject (reset and
//!   refuse), delay. Bytes are never deleted from a live stream.
//! * [`ProxyMode::SharedAdvertised`]: one listener in front of each node;
//!   each accepted connection is attributed to the node that opened it
//!   through `/proc` (see [`procfs`]).
//!
//! The proxy runs on its own runtime thread, so it is independent of the
//! caller's runtime and load; [`Proxy::apply`] is async and works from any
//! runtime. Everything binds `127.0.0.1:0`.

pub mod bench;
pub mod error;
pub mod procfs;
pub mod rules;
pub mod stats;
mod tcp;
mod udp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{oneshot, watch};

pub use error::ProxyError;
pub use procfs::{detect_bypass, Bypass};
pub use rules::{LinkFault, LinkRules, TcpCutMode};
pub use stats::LinkStats;
pub use udp::REORDER_HOLD_MAX;

use rules::CompiledRules;
use stats::LinkCounters;

/// A node the proxy stands in front of (services are [`Service`]s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Node id (`n1`), as used in link rules.
    pub id: String,
    /// The real loopback address it listens on.
    pub addr: SocketAddr,
}

impl Endpoint {
    /// Shorthand for building configurations.
    pub fn new(id: impl Into<String>, addr: SocketAddr) -> Self {
        Self {
            id: id.into(),
            addr,
        }
    }
}

/// An infrastructure service the proxy stands in front of: one process, or
/// a cluster of member processes (an etcd cluster). Every member is reached
/// through its own proxy listener per node, but all of them belong to the one
/// link `node→service`, so a single rule cuts a node from the whole service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Service name, as used in link rules (`redis`, `etcd`).
    pub id: String,
    /// The real loopback address of each member, in member order.
    pub members: Vec<SocketAddr>,
}

impl Service {
    /// A service of one or more members.
    pub fn new(id: impl Into<String>, members: Vec<SocketAddr>) -> Self {
        Self {
            id: id.into(),
            members,
        }
    }
}

/// The transport the nodes use for peer traffic (infrastructure is always TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Datagrams: per-datagram faults.
    Udp,
    /// Streams: per-connection forwarding, whole-stream faults.
    Tcp,
}

/// How proxy addresses map to links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// One proxy address per directed link (i→j): the link is known from the
    /// address used.
    PerLink,
    /// One listener in front of each node, shared by every peer (TCP only),
    /// for systems that advertise one address to all peers (etcd); the opener
    /// of each connection is found through `/proc`.
    SharedAdvertised,
}

/// Which threads drive the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeFlavor {
    /// One dedicated thread. In `bench` on 2 cores it is within noise of
    /// `MultiThread(2)`; a single link is one task either way.
    CurrentThread,
    /// A multi-thread runtime with this many workers. The default is 2, so
    /// many busy links spread over both cores of the 2-core machine.
    MultiThread(usize),
}

impl Default for RuntimeFlavor {
    fn default() -> Self {
        RuntimeFlavor::MultiThread(2)
    }
}

/// Where faults are implemented. Only the user-space proxy exists today; a
/// kernel-shaping backend (tc/netem, nftables) would be a second variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaultBackend {
    /// Faults applied by this process while forwarding.
    #[default]
    Userspace,
}

/// Everything `Proxy::start` needs.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The nodes and the real addresses they listen on for peer traffic.
    pub nodes: Vec<Endpoint>,
    /// Peer transport.
    pub transport: Transport,
    /// Address layout.
    pub mode: ProxyMode,
    /// Infrastructure services (always TCP), one listener per (node, member).
    pub infrastructure: Vec<Service>,
    /// Seed of the per-link random choices (loss, jitter, duplication, reordering).
    pub seed: u64,
    /// Threads driving the proxy.
    pub runtime: RuntimeFlavor,
    /// Fault implementation.
    pub backend: FaultBackend,
}

impl ProxyConfig {
    /// A configuration with no infrastructure, seed 0 and default runtime.
    pub fn new(nodes: Vec<Endpoint>, transport: Transport, mode: ProxyMode) -> Self {
        Self {
            nodes,
            transport,
            mode,
            infrastructure: Vec::new(),
            seed: 0,
            runtime: RuntimeFlavor::default(),
            backend: FaultBackend::default(),
        }
    }
}

/// State shared by the controller-facing handle and the forwarding tasks.
pub(crate) struct Shared {
    /// Nodes first, then services; index `endpoints.len()` is "unknown".
    pub endpoints: Vec<String>,
    pub nodes: usize,
    /// `endpoints.len() + 1`: the side of the link matrices.
    pub width: usize,
    pub rules: ArcSwap<CompiledRules>,
    /// Bumped after every `apply`, waking stalled TCP pumps.
    pub rules_changed: watch::Sender<u64>,
    counters: Vec<LinkCounters>,
    pub seed: u64,
    pub conns: Mutex<HashMap<u64, tcp::ConnHandle>>,
    pub next_conn: AtomicU64,
    /// Node index → process group id, for attribution.
    pub owners: RwLock<HashMap<usize, i32>>,
}

impl Shared {
    #[inline]
    pub(crate) fn counters(&self, from: usize, to: usize) -> &LinkCounters {
        &self.counters[from * self.width + to]
    }

    pub(crate) fn unknown(&self) -> usize {
        self.endpoints.len()
    }
}

/// Addresses the proxy listens on, by role.
#[derive(Default)]
struct Addresses {
    per_link: HashMap<(usize, usize), SocketAddr>,
    advertised: HashMap<usize, SocketAddr>,
    /// (node, service) → one address per member, in member order.
    infra: HashMap<(usize, usize), Vec<SocketAddr>>,
}

/// A running proxy. Dropping it stops it too (without waiting).
pub struct Proxy {
    shared: Arc<Shared>,
    addrs: Addresses,
    mode: ProxyMode,
    stop: Option<oneshot::Sender<()>>,
    stopped: Option<oneshot::Receiver<()>>,
}

impl Proxy {
    /// Binds every listener on `127.0.0.1:0` and starts forwarding with all
    /// links healthy. Returns once every address is bound.
    pub fn start(config: ProxyConfig) -> Result<Proxy, ProxyError> {
        let mut endpoints = Vec::new();
        let services = config
            .infrastructure
            .iter()
            .flat_map(|s| s.members.iter().copied());
        for addr in config.nodes.iter().map(|e| e.addr).chain(services) {
            if !addr.ip().is_loopback() {
                return Err(ProxyError::NotLoopback(addr));
            }
        }
        for id in config
            .nodes
            .iter()
            .map(|e| &e.id)
            .chain(config.infrastructure.iter().map(|s| &s.id))
        {
            if endpoints.contains(id) {
                return Err(ProxyError::DuplicateEndpoint(id.clone()));
            }
            endpoints.push(id.clone());
        }
        if let Some(s) = config.infrastructure.iter().find(|s| s.members.is_empty()) {
            return Err(ProxyError::NoMembers(s.id.clone()));
        }
        if config.transport == Transport::Udp && config.mode == ProxyMode::SharedAdvertised {
            return Err(ProxyError::Unsupported(
                "UDP needs PerLink mode: a shared UDP address cannot show the receiver who sent a datagram",
            ));
        }
        let nodes = config.nodes.len();
        let width = endpoints.len() + 1;
        let compiled = CompiledRules::compile(&LinkRules::healed(), &endpoints, nodes)?;
        let shared = Arc::new(Shared {
            endpoints,
            nodes,
            width,
            rules: ArcSwap::from_pointee(compiled),
            rules_changed: watch::channel(0).0,
            counters: (0..width * width)
                .map(|_| LinkCounters::default())
                .collect(),
            seed: config.seed,
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            owners: RwLock::new(HashMap::new()),
        });

        let (setup_tx, setup_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (stopped_tx, stopped_rx) = oneshot::channel::<()>();
        let thread_shared = shared.clone();
        let mode = config.mode;
        std::thread::Builder::new()
            .name("splitbrain-proxy".into())
            .spawn(move || {
                let runtime = match config.runtime {
                    RuntimeFlavor::CurrentThread => tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build(),
                    RuntimeFlavor::MultiThread(workers) => {
                        tokio::runtime::Builder::new_multi_thread()
                            .worker_threads(workers.max(1))
                            .thread_name("splitbrain-proxy-worker")
                            .enable_all()
                            .build()
                    }
                };
                let runtime = match runtime {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = setup_tx.send(Err(ProxyError::Runtime(e)));
                        return;
                    }
                };
                let setup = runtime.block_on(bind_and_spawn(thread_shared, config));
                let ok = setup.is_ok();
                let _ = setup_tx.send(setup);
                if ok {
                    runtime.block_on(async {
                        let _ = stop_rx.await;
                    });
                }
                // Dropping the runtime drops every task and so closes every
                // socket and connection.
                drop(runtime);
                let _ = stopped_tx.send(());
            })
            .map_err(ProxyError::Runtime)?;
        let addrs = setup_rx.recv().map_err(|_| ProxyError::ShutDown)??;
        Ok(Proxy {
            shared,
            addrs,
            mode,
            stop: Some(stop_tx),
            stopped: Some(stopped_rx),
        })
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.shared.endpoints.iter().position(|e| e == id)
    }

    /// The address `from` must use to reach node `to` (PerLink: the link's own
    /// address; SharedAdvertised: `to`'s advertised address). `None` for an
    /// unknown id or `from == to`.
    pub fn peer_addr(&self, from: &str, to: &str) -> Option<SocketAddr> {
        let (f, t) = (self.index(from)?, self.index(to)?);
        if f == t || f >= self.shared.nodes || t >= self.shared.nodes {
            return None;
        }
        match self.mode {
            ProxyMode::PerLink => self.addrs.per_link.get(&(f, t)).copied(),
            ProxyMode::SharedAdvertised => self.addrs.advertised.get(&t).copied(),
        }
    }

    /// The one address every peer uses for `node` (SharedAdvertised mode only).
    pub fn advertised_addr(&self, node: &str) -> Option<SocketAddr> {
        self.addrs.advertised.get(&self.index(node)?).copied()
    }

    /// The addresses at which `node` reaches each member of `service`, in
    /// member order; all of them are the one link `node→service`.
    pub fn infra_addrs(&self, node: &str, service: &str) -> Option<&[SocketAddr]> {
        let (n, s) = (self.index(node)?, self.index(service)?);
        self.addrs.infra.get(&(n, s)).map(Vec::as_slice)
    }

    /// Every port the proxy listens on, for [`detect_bypass`].
    pub fn listening_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .addrs
            .per_link
            .values()
            .chain(self.addrs.advertised.values())
            .chain(self.addrs.infra.values().flatten())
            .map(|a| a.port())
            .collect();
        ports.sort_unstable();
        ports
    }

    /// Registers (or updates after a restart) the process group of `node`,
    /// used to attribute connections in SharedAdvertised mode.
    pub fn set_owner(&self, node: &str, pgid: i32) -> Result<(), ProxyError> {
        let n = self
            .index(node)
            .filter(|&n| n < self.shared.nodes)
            .ok_or_else(|| ProxyError::UnknownEndpoint(node.to_string()))?;
        self.shared
            .owners
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(n, pgid);
        Ok(())
    }

    /// Replaces the rules of ALL links at once, and returns only when they
    /// are in force: every datagram or TCP chunk forwarded after this returns
    /// obeys them, and with [`TcpCutMode::Reject`] every connection across a
    /// cut pair has been reset. Record the `net` event after it returns.
    pub async fn apply(&self, rules: LinkRules) -> Result<(), ProxyError> {
        let compiled = Arc::new(CompiledRules::compile(
            &rules,
            &self.shared.endpoints,
            self.shared.nodes,
        )?);
        self.shared.rules.store(compiled.clone());
        self.shared.rules_changed.send_modify(|g| *g += 1);
        if compiled.tcp_cut_mode == TcpCutMode::Reject {
            tcp::reset_cut_connections(&self.shared, &compiled).await;
        }
        Ok(())
    }

    /// The rules in force.
    pub fn rules(&self) -> LinkRules {
        self.shared.rules.load().source.clone()
    }

    /// The `net` history record for the rules in force.
    pub fn net_record(&self) -> checkers::history::NetRecord {
        self.shared.rules.load().source.net_record()
    }

    /// Counters of link `from -> to` (`None` for unknown ids).
    pub fn stats(&self, from: &str, to: &str) -> Option<LinkStats> {
        let (f, t) = (self.index(from)?, self.index(to)?);
        Some(self.shared.counters(f, t).snapshot())
    }

    /// Counters of every link that carried or refused anything.
    pub fn all_stats(&self) -> Vec<((String, String), LinkStats)> {
        let e = &self.shared.endpoints;
        let mut out = Vec::new();
        for (f, from) in e.iter().enumerate() {
            for (t, to) in e.iter().enumerate() {
                let s = self.shared.counters(f, t).snapshot();
                if s != LinkStats::default() {
                    out.push(((from.clone(), to.clone()), s));
                }
            }
        }
        out
    }

    /// Closes every listener and connection and waits until they are closed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            let _ = stopped.await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds every socket for `config` and spawns its forwarding tasks.
async fn bind_and_spawn(shared: Arc<Shared>, config: ProxyConfig) -> Result<Addresses, ProxyError> {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut addrs = Addresses::default();
    let n = config.nodes.len();
    match (config.transport, config.mode) {
        (Transport::Udp, _) => {
            let mut sockets = HashMap::new();
            for i in 0..n {
                for j in 0..n {
                    if i == j {
                        continue;
                    }
                    let socket = tokio::net::UdpSocket::bind(loopback)
                        .await
                        .map_err(|source| ProxyError::Bind {
                            what: format!("udp {}->{}", shared.endpoints[i], shared.endpoints[j]),
                            source,
                        })?;
                    set_receive_buffer(&socket, UDP_RECEIVE_BUFFER);
                    addrs
                        .per_link
                        .insert((i, j), local_addr(&socket.local_addr())?);
                    sockets.insert((i, j), Arc::new(socket));
                }
            }
            for (&(i, j), inbound) in &sockets {
                let link = udp::UdpLink {
                    shared: shared.clone(),
                    from: i,
                    to: j,
                    inbound: inbound.clone(),
                    outbound: sockets[&(j, i)].clone(),
                    dest: config.nodes[j].addr,
                };
                tokio::spawn(link.run());
            }
        }
        (Transport::Tcp, ProxyMode::PerLink) => {
            for i in 0..n {
                for j in 0..n {
                    if i == j {
                        continue;
                    }
                    let what = format!("tcp {}->{}", shared.endpoints[i], shared.endpoints[j]);
                    let listener = bind_tcp(loopback, &what).await?;
                    addrs
                        .per_link
                        .insert((i, j), local_addr(&listener.local_addr())?);
                    tokio::spawn(tcp::serve(
                        shared.clone(),
                        listener,
                        tcp::Opener::Fixed(i),
                        j,
                        config.nodes[j].addr,
                    ));
                }
            }
        }
        (Transport::Tcp, ProxyMode::SharedAdvertised) => {
            for j in 0..n {
                let what = format!("tcp advertised {}", shared.endpoints[j]);
                let listener = bind_tcp(loopback, &what).await?;
                addrs
                    .advertised
                    .insert(j, local_addr(&listener.local_addr())?);
                tokio::spawn(tcp::serve(
                    shared.clone(),
                    listener,
                    tcp::Opener::ByProcess,
                    j,
                    config.nodes[j].addr,
                ));
            }
        }
    }
    for (s, service) in config.infrastructure.iter().enumerate() {
        let s = n + s;
        for k in 0..n {
            for (m, member) in service.members.iter().enumerate() {
                let what = format!("tcp {}->{} member {m}", shared.endpoints[k], service.id);
                let listener = bind_tcp(loopback, &what).await?;
                addrs
                    .infra
                    .entry((k, s))
                    .or_default()
                    .push(local_addr(&listener.local_addr())?);
                tokio::spawn(tcp::serve(
                    shared.clone(),
                    listener,
                    tcp::Opener::Fixed(k),
                    s,
                    *member,
                ));
            }
        }
    }
    Ok(addrs)
}

/// Receive buffer asked for each UDP link socket: absorbs bursts (a leader's
/// heartbeat fan-out, a benchmark blast) that would otherwise be dropped by
/// the kernel before the proxy reads them. Capped by `net.core.rmem_max`.
const UDP_RECEIVE_BUFFER: usize = 1 << 20;

/// Best effort: a smaller buffer only means earlier kernel drops.
pub(crate) fn set_receive_buffer(socket: &impl std::os::fd::AsRawFd, bytes: usize) {
    let value = bytes as libc::c_int;
    // SAFETY: setsockopt on an fd we own, with a correctly sized c_int.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

async fn bind_tcp(addr: SocketAddr, what: &str) -> Result<tokio::net::TcpListener, ProxyError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ProxyError::Bind {
            what: what.to_string(),
            source,
        })
}

fn local_addr(r: &std::io::Result<SocketAddr>) -> Result<SocketAddr, ProxyError> {
    match r {
        Ok(a) => Ok(*a),
        Err(e) => Err(ProxyError::Bind {
            what: "local address".into(),
            source: std::io::Error::new(e.kind(), e.to_string()),
        }),
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (25 nodes × 24 UDP links
/// is 600 sockets, above the usual soft 1024 once nodes and TCP are added).
/// Returns the new soft limit. Call it once, early, in the controller.
pub fn raise_nofile_limit() -> Result<u64, nix::Error> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard.max(soft))
}

/// How long an accepted TCP connection keeps retrying a backend that is not
/// listening yet (a node starting or restarting) before it is dropped.
pub(crate) const BACKEND_RETRY_FOR: Duration = Duration::from_secs(2);
