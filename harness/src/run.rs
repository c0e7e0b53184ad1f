//! One run, end to end (DESIGN.md "Data flow of one run"): load the target,
//! start the proxy and the nodes, apply the seeded fault schedule, heal and
//! recover, stop everything, then judge the history that was recorded.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use checkers::history::{EndRecord, Event, RunHeader, WarningRecord, FORMAT_VERSION};
use checkers::{Report, Verdict};
use results::store::RunDir;
use results::writer::HistoryWriter;

use crate::cluster::{Cluster, ClusterEvent, NodeSlot};
use crate::infra::Infrastructure;
use crate::nemesis::{Nemesis, ReactiveConfig};
use crate::network::{KernelRun, Network, NetworkBackend};
use crate::ports::PortPool;
use crate::probe::{NodeProbe, Probers};
use crate::progress::{Progress, ProgressMode};
use crate::recorder::Recorder;
use crate::supervise::{self, SpawnSpec};
use crate::target::{expand, Observe, ProxyLayout, Readiness, Target, Transport};

/// Everything `splitbrain run` can be told.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Built-in target name or path of a target file.
    pub target: String,
    /// Node count (default: the target's).
    pub nodes: Option<usize>,
    /// Seed of the fault schedule (default: random, printed).
    pub seed: Option<u64>,
    /// Length of the fault phase.
    pub time_limit: Duration,
    /// Nemesis presets (`--nemesis`).
    pub nemesis: String,
    /// Mean time between faults (default: scaled to the target's timing).
    pub nemesis_interval: Option<Duration>,
    /// How long a fault lasts (default: scaled to the target's timing).
    pub fault_duration: Option<Duration>,
    /// Concurrency, duplication probability and delay spikes, when fixed.
    pub knobs: workloads::FaultKnobs,
    /// Override of the gap bound.
    pub gap_bound: Option<Duration>,
    /// Override of the recovery window.
    pub recovery: Option<Duration>,
    /// Seeded bug for built-in nodes (`--bug NAME` appended to their argv).
    pub bug: Option<String>,
    /// Extra arguments appended to every node's argv.
    pub node_args: Vec<String>,
    /// `--network`: where link faults happen (default: the target's).
    pub network: Option<NetworkBackend>,
    /// Where runs are stored.
    pub store: PathBuf,
    /// Set when SIGINT/SIGTERM arrives; the run then stops early, still judged.
    pub interrupt: Arc<AtomicBool>,
    /// What the run shows on stderr while it runs (never recorded).
    pub progress: ProgressMode,
}

/// Why a run did not produce verdicts.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad arguments or configuration: nothing was started (exit 254).
    #[error("{0:#}")]
    Config(anyhow::Error),
    /// The run itself failed (exit 255); the history written so far is kept.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// What a finished run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run directory.
    pub dir: RunDir,
    /// The header that was recorded.
    pub header: RunHeader,
    /// The checkers' conclusions.
    pub report: Report,
    /// The run was interrupted.
    pub interrupted: bool,
}

impl RunOutcome {
    /// The run's verdict.
    pub fn verdict(&self) -> Verdict {
        self.report.verdict()
    }
}

/// The timing a run's fault schedule scales to: the target's election
/// timeout and heartbeat, with `--nemesis-interval` / `--fault-duration` when
/// given. `splitbrain schedule` uses the same, so it lists what a run draws.
pub fn fault_timing(
    target: &Target,
    nemesis_interval: Option<Duration>,
    fault_duration: Option<Duration>,
    knobs: &workloads::FaultKnobs,
    backend: NetworkBackend,
) -> workloads::Timing {
    let knobs = workloads::FaultKnobs {
        packet_faults: backend == NetworkBackend::Proxy,
        ..knobs.clone()
    };
    workloads::Timing {
        election_timeout: (
            target.timing.election_timeout[0],
            target.timing.election_timeout[1],
        ),
        heartbeat: target.timing.heartbeat,
        nemesis_interval,
        fault_duration,
        settle: target.timing.election_timeout[1] * 3,
        knobs,
    }
}

fn config<E: Into<anyhow::Error>>(e: E) -> RunError {
    RunError::Config(e.into())
}

/// The target and the presets a fault schedule is drawn for, checked the
/// same way for `run` and `schedule`.
pub fn fault_inputs(
    target: &str,
    nemesis: &str,
    time_limit: Duration,
    knobs: &workloads::FaultKnobs,
    network: Option<NetworkBackend>,
) -> anyhow::Result<(Target, Vec<workloads::Preset>, NetworkBackend)> {
    let target = Target::load(target)?;
    let presets = workloads::parse_presets(nemesis)?;
    let backend = network.unwrap_or(target.network);
    let held: Vec<&str> = presets
        .iter()
        .filter(|p| p.holds_packets())
        .map(|p| p.name())
        .collect();
    if backend == NetworkBackend::Kernel && !held.is_empty() {
        return Err(anyhow!(
            "--nemesis {}: {} {} packets back, which only the proxy backend can do; use \
             --network proxy, or a preset the kernel backend carries out (partition, \
             partition-leader, bridge, ring, one-way, flapping, lossy, kill, pause; mixed and \
             chaos leave the others out)",
            nemesis,
            held.join(", "),
            if held.len() == 1 { "holds" } else { "hold" }
        ));
    }
    if time_limit.is_zero() {
        return Err(anyhow!("--time-limit must be more than 0s"));
    }
    knobs.validate()?;
    let families: Vec<workloads::Preset> =
        presets.iter().flat_map(|p| p.families()).copied().collect();
    if target.transport == Transport::Tcp
        && !families.is_empty()
        && families.iter().all(|p| p.is_datagram_only())
    {
        return Err(anyhow!(
            "--nemesis {nemesis}: target {} talks TCP, and a TCP stream neither duplicates nor \
             reorders, so these presets would inject nothing; use delay-spike, slow or lossy \
             (which stall a stream), or a UDP target",
            target.name
        ));
    }
    Ok((target, presets, backend))
}

/// Execute one run: a pipeline of named phases, each with its own inputs and
/// outputs. Every resource a phase starts is a guard ([`RunRecord`],
/// [`Stage`], [`Cluster`], [`Probers`]) whose `Drop` tears it down, so an
/// early return or a panic anywhere leaves no process, cgroup, nft table or
/// half-written history behind; the happy path tears down explicitly, in
/// order, and then judges.
pub fn run(opts: &RunOptions) -> Result<RunOutcome, RunError> {
    let plan = prepare(opts)?;
    supervise::raise_nofile_limit();
    supervise::start_watchdog();
    let mut record = RunRecord::open(opts, &plan)?;
    let mut stage = match Stage::provision(opts, &plan, &record) {
        Ok(stage) => stage,
        Err(e) => return Err(record.abort(e)),
    };
    let nodes = match node_slots(opts, &plan, &record, &mut stage) {
        Ok(nodes) => nodes,
        Err(e) => return Err(record.abort(e)),
    };
    if let Err(e) = stage.open_links(&nodes.endpoint_ports) {
        return Err(record.abort(e));
    }
    let exercised = exercise(opts, &plan, &mut record, &mut stage, nodes);
    stage.teardown();
    record.finish()?;
    if let Some(e) = exercised.failure {
        return Err(RunError::Failed(e.context(format!(
            "run directory: {}",
            record.dir.path().display()
        ))));
    }
    judge(record, exercised.interrupted)
}

/// What a run will do, decided and checked before anything starts.
struct Plan {
    target: Target,
    presets: Vec<workloads::Preset>,
    backend: NetworkBackend,
    /// Node ids, `n1`…
    ids: Vec<String>,
    seed: u64,
}

/// Phase 1, prepare: load the target and check every option; nothing is
/// started, so an error here is exit 254.
fn prepare(opts: &RunOptions) -> Result<Plan, RunError> {
    let (target, presets, backend) = fault_inputs(
        &opts.target,
        &opts.nemesis,
        opts.time_limit,
        &opts.knobs,
        opts.network,
    )
    .map_err(config)?;
    let n = opts.nodes.unwrap_or(target.nodes);
    if n == 0 {
        return Err(config(anyhow!(
            "--nodes must be at least 1 (1 is a single node electing itself; 3 or 5 test a quorum)"
        )));
    }
    if n > 99 {
        return Err(config(anyhow!(
            "--nodes {n} is more than this controller supports (99)"
        )));
    }
    if opts.seed.is_some_and(|s| s > i64::MAX as u64) {
        return Err(config(anyhow!(
            "--seed must be at most {} (run.toml stores it as a TOML integer)",
            i64::MAX
        )));
    }
    results::store::check_writable(&opts.store).map_err(config)?;
    if backend == NetworkBackend::Kernel {
        kernel::check_network_backend().map_err(config)?;
    }
    Ok(Plan {
        // Random seeds are kept short so replay commands stay readable.
        seed: opts.seed.unwrap_or_else(|| rand::random::<u32>() as u64),
        ids: (1..=n).map(|i| format!("n{i}")).collect(),
        target,
        presets,
        backend,
    })
}

/// The run's directory and history. Created before anything runs, so every
/// later failure is recorded; dropped without [`RunRecord::end`] (a panic)
/// it still closes the history with an end record that says so.
struct RunRecord {
    dir: RunDir,
    rec: Recorder,
    header: RunHeader,
    ended: bool,
}

impl RunRecord {
    /// Phase 2: the run directory, the history's header and `run.toml`.
    fn open(opts: &RunOptions, plan: &Plan) -> Result<RunRecord, RunError> {
        let target = &plan.target;
        let dir = RunDir::create(&opts.store, &target.name).map_err(config)?;
        let n = plan.ids.len();
        let replay = replay_command(opts, n, plan.seed);
        let header = RunHeader {
            format: FORMAT_VERSION,
            target: target.name.clone(),
            nodes: plan.ids.clone(),
            seed: plan.seed,
            nemesis: opts.nemesis.clone(),
            election_timeout_ms: [
                target.timing.election_timeout[0].as_millis() as u64,
                target.timing.election_timeout[1].as_millis() as u64,
            ],
            heartbeat_ms: target.timing.heartbeat.map(|d| d.as_millis() as u64),
            gap_bound_ms: opts
                .gap_bound
                .unwrap_or_else(|| target.timing.gap_bound())
                .as_millis() as u64,
            persistent_term: target.promises.persistent_term,
            exclusive: target.promises.exclusive,
            liveness: target.promises.liveness,
            observation: target.observe,
            probe_interval_ms: target.probe.as_ref().map(|p| p.interval.as_millis() as u64),
            overlap_tolerance_ms: match (target.promises.overlap_tolerance, &target.probe) {
                (Some(d), _) => d.as_secs_f64() * 1e3,
                (None, Some(p)) if target.observe == Observe::Probe => {
                    p.interval.as_secs_f64() * 1e3
                }
                (None, _) => 5.0,
            },
            infrastructure: target
                .infrastructure
                .iter()
                .map(|i| i.name.clone())
                .collect(),
            crashes_expected: target.promises.crashes_expected,
            max_unnecessary_elections: target.promises.max_unnecessary_elections,
            time_limit_ms: opts.time_limit.as_millis() as u64,
            recovery_ms: opts
                .recovery
                .unwrap_or_else(|| target.timing.recovery())
                .as_millis() as u64,
            replay: Some(replay.clone()),
            tcp_backoff: plan.backend == NetworkBackend::Kernel
                && target.transport == Transport::Tcp,
            extra: serde_json::Map::new(),
        };
        let writer = HistoryWriter::create(&dir.history())
            .map_err(|e| RunError::Failed(anyhow!("creating {}: {e}", dir.history().display())))?;
        let rec = Recorder::new(writer, &plan.ids);
        rec.record_at(0, Event::Run(header.clone()));
        write_run_toml(&dir, opts, target, n, plan.seed, &replay);
        Ok(RunRecord {
            dir,
            rec,
            header,
            ended: false,
        })
    }

    /// The name of the run's cgroups and nft table: target and directory.
    fn run_name(&self) -> String {
        format!(
            "{}-{}",
            self.header.target,
            self.dir
                .path()
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        )
    }

    /// Close the history: the end record, `reason` when the run stopped early.
    fn end(&mut self, reason: Option<String>) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.rec.record(Event::End(EndRecord {
            interrupted: reason.is_some(),
            reason,
        }));
        self.rec.sync();
    }

    /// Record why a run that had started writing its history could not go on.
    fn abort(&mut self, e: anyhow::Error) -> RunError {
        self.end(Some(format!("{e:#}")));
        RunError::Failed(e.context(format!("run directory: {}", self.dir.path().display())))
    }

    /// Whether every line reached the disk.
    fn finish(&self) -> Result<(), RunError> {
        match self.rec.take_error() {
            Some(e) => Err(RunError::Failed(anyhow!(
                "writing {}: {e}",
                self.dir.history().display()
            ))),
            None => Ok(()),
        }
    }
}

impl Drop for RunRecord {
    fn drop(&mut self) {
        if !self.ended {
            self.end(Some(
                "the controller stopped before the run ended (a panic; see its stderr)".into(),
            ));
        }
    }
}

/// What a run starts around its nodes: the controller's runtime, ports,
/// cgroups and nft table, infrastructure services and the proxy. Fields drop
/// in declaration order, so an early return tears down proxy, services,
/// then cgroups and table, then the runtime; [`Stage::teardown`] does the
/// same on the happy path, waiting where waiting is polite.
struct Stage {
    proxy: Option<proxy::Proxy>,
    infra: Infrastructure,
    kernel_run: Option<KernelRun>,
    rt: tokio::runtime::Runtime,
    ports: PortPool,
    /// Each node's own address, in id order.
    listen: Vec<SocketAddr>,
    backend: NetworkBackend,
}

impl Stage {
    /// Phase 3, provision: runtime and signal watch, ports, a cgroup per
    /// endpoint (hygiene on either backend; the kernel backend's rules
    /// match them), infrastructure, then the proxy that fronts it all.
    fn provision(opts: &RunOptions, plan: &Plan, record: &RunRecord) -> anyhow::Result<Stage> {
        let target = &plan.target;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("splitbrain-ctl")
            .build()
            .context("starting the runtime")?;
        watch_signals(&rt, opts.interrupt.clone());
        let mut ports = PortPool::default();
        let listen: Vec<SocketAddr> = plan
            .ids
            .iter()
            .map(|_| ports.next())
            .collect::<std::io::Result<_>>()
            .context("allocating loopback ports")?;
        let endpoints: Vec<String> = plan
            .ids
            .iter()
            .cloned()
            .chain(target.infrastructure.iter().map(|i| i.name.clone()))
            .collect();
        let kernel_run = KernelRun::prepare(&record.run_name(), &endpoints, plan.backend)?;
        let infra = Infrastructure::start(
            &target.infrastructure,
            record.dir.path(),
            &record.rec,
            &mut ports,
            kernel_run.as_ref(),
        )?;
        // On the kernel backend no proxy stands between nodes: each is given
        // its peers' real addresses.
        let proxy = match plan.backend {
            NetworkBackend::Kernel => None,
            NetworkBackend::Proxy => {
                let mut cfg = proxy::ProxyConfig {
                    seed: plan.seed,
                    ..proxy::ProxyConfig::new(
                        plan.ids
                            .iter()
                            .zip(&listen)
                            .map(|(id, a)| proxy::Endpoint::new(id.clone(), *a))
                            .collect(),
                        match target.transport {
                            Transport::Udp => proxy::Transport::Udp,
                            Transport::Tcp => proxy::Transport::Tcp,
                        },
                        match target.proxy {
                            ProxyLayout::PerLink => proxy::ProxyMode::PerLink,
                            ProxyLayout::SharedAdvertised => proxy::ProxyMode::SharedAdvertised,
                        },
                    )
                };
                cfg.infrastructure = infra.proxy_services();
                Some(proxy::Proxy::start(cfg).map_err(|e| anyhow!("starting the proxy: {e}"))?)
            }
        };
        Ok(Stage {
            proxy,
            infra,
            kernel_run,
            rt,
            ports,
            listen,
            backend: plan.backend,
        })
    }

    /// Phase 5, open the links: the kernel backend's table, every link open,
    /// before any node starts (the proxy's links are open from its start).
    fn open_links(&mut self, endpoint_ports: &BTreeMap<String, Vec<u16>>) -> anyhow::Result<()> {
        if self.backend == NetworkBackend::Kernel {
            let k = self
                .kernel_run
                .as_mut()
                .expect("the kernel backend always has a run's cgroups");
            k.create_table(endpoint_ports)?;
        }
        Ok(())
    }

    /// Stop services and the proxy, remove cgroups and the table (last: they
    /// hold whatever is left), and let the runtime go.
    fn teardown(self) {
        let Stage {
            proxy,
            mut infra,
            kernel_run,
            rt,
            ports,
            ..
        } = self;
        infra.stop();
        if let Some(p) = proxy {
            rt.block_on(p.shutdown());
        }
        drop(kernel_run);
        rt.shutdown_timeout(Duration::from_secs(1));
        drop(ports);
    }
}

/// Where link faults go: the proxy or the kernel table (a function of the
/// two fields, so the stage's other fields stay free to borrow).
fn network<'a>(proxy: &'a Option<proxy::Proxy>, kernel_run: &'a Option<KernelRun>) -> Network<'a> {
    match (proxy, kernel_run.as_ref().and_then(|k| k.table())) {
        (Some(p), _) => Network::Proxy(p),
        (None, Some(t)) => Network::Kernel(t),
        (None, None) => unreachable!("a run has a proxy or a kernel table"),
    }
}

/// What phase 4 hands to the start: each node's launch spec and probe, and
/// every endpoint's ports (the kernel table marks packets by them).
struct NodeSet {
    slots: Vec<NodeSlot>,
    probes: Vec<NodeProbe>,
    endpoint_ports: BTreeMap<String, Vec<u16>>,
}

/// Phase 4, node specs: each node's argv, environment, working directory,
/// data directory and cgroup from the target's template, with the address
/// it reaches every peer and service by (a proxy's, or the real one on the
/// kernel backend).
fn node_slots(
    opts: &RunOptions,
    plan: &Plan,
    record: &RunRecord,
    stage: &mut Stage,
) -> anyhow::Result<NodeSet> {
    let (target, ids, seed) = (&plan.target, &plan.ids, plan.seed);
    let (dir, n) = (&record.dir, ids.len());
    let services = stage.infra.proxy_services();
    let mut endpoint_ports: BTreeMap<String, Vec<u16>> = stage.infra.ports();
    let exe = std::env::current_exe().context("locating the splitbrain executable")?;
    let mut slots = Vec::with_capacity(n);
    let mut probes: Vec<NodeProbe> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let data = dir.node_data(id);
        std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
        let (proxy, listen) = (&stage.proxy, &stage.listen);
        // The address this node uses to reach `p`: per link, or p's shared one.
        let reach = |p: &String| -> SocketAddr {
            let Some(proxy) = proxy else {
                let j = ids.iter().position(|q| q == p).expect("a node of the run");
                return listen[j];
            };
            if p == id {
                match target.proxy {
                    ProxyLayout::PerLink => listen[i],
                    ProxyLayout::SharedAdvertised => {
                        proxy.advertised_addr(p).expect("advertised address")
                    }
                }
            } else {
                proxy
                    .peer_addr(id, p)
                    .expect("proxy address for every link")
            }
        };
        let peers: Vec<String> = ids
            .iter()
            .filter(|p| *p != id)
            .map(|p| format!("{p}={}", reach(p)))
            .collect();
        let mut vars = BTreeMap::new();
        vars.insert("exe".to_string(), exe.display().to_string());
        vars.insert("id".to_string(), id.clone());
        vars.insert("index".to_string(), (i + 1).to_string());
        vars.insert("count".to_string(), n.to_string());
        vars.insert("listen".to_string(), listen[i].to_string());
        vars.insert("peers".to_string(), peers.join(","));
        vars.insert("advertise".to_string(), reach(id).to_string());
        let cluster: Vec<String> = ids
            .iter()
            .map(|p| {
                let mut entry = BTreeMap::new();
                entry.insert("id".to_string(), p.clone());
                entry.insert("addr".to_string(), reach(p).to_string());
                expand(&target.node.cluster_entry, &entry)
            })
            .collect();
        vars.insert("cluster".to_string(), cluster.join(","));
        vars.insert("data_dir".to_string(), data.display().to_string());
        vars.insert("run_dir".to_string(), dir.path().display().to_string());
        // A per-node seed: equal seeds would give equal election timeouts.
        vars.insert(
            "seed".to_string(),
            (seed.wrapping_mul(1000).wrapping_add(i as u64 + 1)).to_string(),
        );
        // A cluster's members, comma-separated: every one is this node's
        // own proxy address, so one link rule cuts it from them all.
        for service in &services {
            let addrs: &[SocketAddr] = match proxy {
                Some(proxy) => proxy
                    .infra_addrs(id, &service.id)
                    .expect("proxy addresses for every service"),
                None => &service.members,
            };
            let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            vars.insert(format!("infra.{}", service.id), list.join(","));
        }
        let own_ports = endpoint_ports.entry(id.clone()).or_default();
        own_ports.push(listen[i].port());
        for name in &target.node.ports {
            let p = stage
                .ports
                .next()
                .with_context(|| format!("allocating port {name}"))?;
            own_ports.push(p.port());
            vars.insert(name.clone(), p.port().to_string());
        }
        if let Some(p) = &target.probe {
            probes.push(NodeProbe {
                node: id.clone(),
                url: p.url.as_ref().map(|u| expand(u, &vars)),
                command: p
                    .command
                    .as_ref()
                    .map(|c| c.iter().map(|a| expand(a, &vars)).collect()),
                body: p.body.as_ref().map(|b| expand(b, &vars)),
                spec: p.clone(),
            });
        }
        let mut argv: Vec<String> = target.node.argv.iter().map(|a| expand(a, &vars)).collect();
        if let Some(bug) = &opts.bug {
            argv.push("--bug".into());
            argv.push(bug.clone());
        }
        argv.extend(opts.node_args.iter().cloned());
        let mut env: Vec<(String, String)> = vec![
            ("SPLITBRAIN_ID".into(), id.clone()),
            ("SPLITBRAIN_LISTEN".into(), vars["listen"].clone()),
            ("SPLITBRAIN_PEERS".into(), vars["peers"].clone()),
            ("SPLITBRAIN_DATA_DIR".into(), vars["data_dir"].clone()),
            ("PYTHONUNBUFFERED".into(), "1".into()),
        ];
        env.extend(
            target
                .node
                .env
                .iter()
                .map(|(k, v)| (k.clone(), expand(v, &vars))),
        );
        let cwd = target
            .node
            .cwd
            .as_ref()
            .map(|c| PathBuf::from(expand(c, &vars)))
            .unwrap_or(data.clone());
        let kernel_run = stage.kernel_run.as_ref();
        slots.push(NodeSlot {
            id: id.clone(),
            spec: SpawnSpec {
                argv,
                shell: target.node.shell,
                env,
                cwd,
                stderr: dir.node_stderr(id),
                capture_stdout: true,
                cgroup: kernel_run.and_then(|k| k.procs(id)),
            },
            stdout_log: dir.node_stdout(id),
            current: None,
            paused: false,
            group: kernel_run.and_then(|k| k.group(id)).cloned(),
        });
    }
    Ok(NodeSet {
        slots,
        probes,
        endpoint_ports,
    })
}

/// How the nodes' part of a run ended.
struct Exercised {
    interrupted: bool,
    /// Why the run could not go on (a node that never became ready…).
    failure: Option<anyhow::Error>,
}

impl Exercised {
    /// The end record's reason: the failure, a signal, or none.
    fn end_reason(&self) -> Option<String> {
        match (&self.failure, self.interrupted) {
            (Some(e), _) => Some(format!("{e:#}")),
            (None, true) => Some("interrupted by a signal".to_string()),
            _ => None,
        }
    }
}

/// Phases 6–9 with the nodes up: start them and wait until each is ready,
/// the fault phase, recovery (heal, resume, restart everything, observe),
/// then stop every node. The [`Cluster`] and [`Probers`] are guards: they
/// are stopped here, or dropped on a panic.
fn exercise(
    opts: &RunOptions,
    plan: &Plan,
    record: &mut RunRecord,
    stage: &mut Stage,
    nodes: NodeSet,
) -> Exercised {
    let target = &plan.target;
    let recorder = record.rec.clone();
    let rec = &recorder;
    let NodeSet { slots, probes, .. } = nodes;
    let (tx, events) = mpsc::channel::<ClusterEvent>();
    let mut cluster = Cluster::new(slots, rec.clone(), tx);
    let mut known_ids = BTreeMap::new();
    let mut probers = None;
    let mut interrupted = false;
    let mut failure = None;
    let network = network(&stage.proxy, &stage.kernel_run);
    let started = start_all(
        &mut cluster,
        &events,
        target,
        &probes,
        network,
        &mut known_ids,
    );
    match started {
        Err(e) => failure = Some(e),
        Ok(()) => {
            if target.observe == Observe::Probe {
                let logs = plan
                    .ids
                    .iter()
                    .map(|id| record.dir.node_stderr(id))
                    .collect();
                probers = Some(Probers::start(probes.clone(), rec, logs, known_ids.clone()));
            }
            warn_on_bypass(&stage.proxy, &cluster, rec);
            let timing = fault_timing(
                target,
                opts.nemesis_interval,
                opts.fault_duration,
                &opts.knobs,
                plan.backend,
            );
            let schedule =
                workloads::Schedule::generate(plan.seed, &plan.presets, &timing, opts.time_limit);
            let mut nemesis = Nemesis::new(
                schedule,
                plan.seed,
                target.transport == Transport::Tcp,
                stage.infra.names(),
                Some(ReactiveConfig {
                    presets: plan
                        .presets
                        .iter()
                        .copied()
                        .filter(|p| p.is_reactive())
                        .collect(),
                    fault_duration: opts
                        .fault_duration
                        .unwrap_or(target.timing.election_timeout[1] * 5),
                    settle: target.timing.election_timeout[1] * 3,
                    heartbeat: target
                        .timing
                        .heartbeat
                        .unwrap_or(target.timing.election_timeout[0] / 3),
                }),
                rec,
                network,
                &stage.rt,
            );
            let mut progress = Progress::new(opts.progress);
            let mut phase = Phase {
                progress: &mut progress,
                cluster: &mut cluster,
                events: &events,
                nemesis: &mut nemesis,
                rec,
                network,
                interrupt: &opts.interrupt,
                infra: &mut stage.infra,
            };
            // The fault phase.
            interrupted = phase.drive(opts.time_limit, true);
            if !interrupted {
                // Recovery: heal, resume, restart everything, then observe.
                phase.nemesis.recover(phase.cluster);
                let recovery = Duration::from_millis(record.header.recovery_ms);
                interrupted = phase.drive(recovery, false);
            }
            progress.finish();
            warn_on_bypass(&stage.proxy, &cluster, rec);
        }
    }
    if let Some(mut p) = probers.take() {
        p.stop();
    }
    let exercised = Exercised {
        interrupted,
        failure,
    };
    // The end record goes before the nodes are stopped: their exits are
    // the controller's doing, not part of the run.
    record.end(exercised.end_reason());
    cluster.stop_all(Duration::from_secs(3));
    exercised
}

/// A proxied node that talked to a peer around its proxy address makes
/// link faults meaningless: say so in the history (contract 3, `warning`).
fn warn_on_bypass(proxy: &Option<proxy::Proxy>, cluster: &Cluster, rec: &Recorder) {
    if let Some(b) = proxy.as_ref().and_then(|p| check_bypass(cluster, p)) {
        rec.record(Event::Warning(WarningRecord {
            kind: "bypass".into(),
            message: b,
        }));
    }
}

/// Phase 10, judge: the checkers read the history back from disk, as
/// `splitbrain check` would.
fn judge(record: RunRecord, interrupted: bool) -> Result<RunOutcome, RunError> {
    let report =
        crate::check::check_file(&record.dir.history(), &checkers::CheckOptions::default())
            .map_err(|e| RunError::Failed(e.context("judging the recorded history")))?;
    Ok(RunOutcome {
        dir: record.dir.clone(),
        header: record.header.clone(),
        report,
        interrupted,
    })
}

/// Start every node and wait until each is ready (or fail with its stderr).
fn start_all(
    cluster: &mut Cluster,
    events: &mpsc::Receiver<ClusterEvent>,
    target: &Target,
    probes: &[NodeProbe],
    network: Network,
    known_ids: &mut BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let agent = target
        .probe
        .as_ref()
        .map(|p| crate::probe::agent(p.timeout));
    let mut last_probe_error: Vec<Option<String>> = vec![None; cluster.nodes.len()];
    let n = cluster.nodes.len();
    for i in 0..n {
        let pid = cluster
            .start(i)
            .with_context(|| format!("starting node {}", cluster.nodes[i].id))?;
        network.set_owner(&cluster.nodes[i].id, pid);
    }
    let mut ready = vec![target.node.ready == Readiness::None; n];
    let deadline = Instant::now() + target.node.ready_timeout;
    while ready.iter().any(|r| !r) {
        if target.node.ready == Readiness::Port {
            for (i, r) in ready.iter_mut().enumerate() {
                if !*r && port_open(&cluster.nodes[i].spec) {
                    *r = true;
                }
            }
        }
        if let (Readiness::Probe, Some(agent)) = (target.node.ready, &agent) {
            for (i, r) in ready.iter_mut().enumerate() {
                if !*r {
                    match probes[i].ask(agent).and_then(|a| probes[i].interpret(&a)) {
                        Ok(obs) => {
                            if let Some(me) = obs.self_raw {
                                known_ids.insert(me, probes[i].node.clone());
                            }
                            *r = true;
                        }
                        Err(e) => last_probe_error[i] = Some(e),
                    }
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let slow: Vec<String> = ready
                .iter()
                .enumerate()
                .filter(|(_, r)| !**r)
                .map(|(i, _)| cluster.nodes[i].id.clone())
                .collect();
            let first = cluster.index_of(&slow[0]).unwrap_or(0);
            return Err(anyhow!(
                "node(s) {} not ready within {:?} ({}); stderr of {}:\n{}",
                slow.join(", "),
                target.node.ready_timeout,
                match target.node.ready {
                    Readiness::Stdout => "no {\"type\":\"ready\"} line on stdout".to_string(),
                    Readiness::Port => "its listen port never accepted a connection".to_string(),
                    Readiness::Probe => format!(
                        "its probe never answered; last error: {}",
                        last_probe_error[first].as_deref().unwrap_or("none")
                    ),
                    Readiness::None => String::new(),
                },
                slow[0],
                indent(&supervise::tail(&cluster.nodes[first].spec.stderr, 20))
            ));
        }
        match events.recv_timeout(left.min(Duration::from_millis(20))) {
            Ok(ClusterEvent::Ready { node, .. }) => ready[node] = true,
            Ok(ClusterEvent::Exited {
                node,
                pid,
                status,
                expected,
            }) => {
                cluster.record_exit(node, pid, status.clone(), expected);
                let how = match (status.code, status.signal) {
                    (Some(c), _) => format!("exit status {c}"),
                    (_, Some(s)) => format!("signal {s}"),
                    _ => "unknown status".into(),
                };
                return Err(anyhow!(
                    "node {} exited at start ({how}); last lines of its stderr ({}):\n{}",
                    cluster.nodes[node].id,
                    cluster.nodes[node].spec.stderr.display(),
                    indent(&supervise::tail(&cluster.nodes[node].spec.stderr, 20))
                ));
            }
            Err(_) => {}
        }
    }
    Ok(())
}

/// The event loop's parts, shared by the fault and the recovery phase.
struct Phase<'a, 'n> {
    progress: &'a mut Progress,
    cluster: &'a mut Cluster,
    events: &'a mpsc::Receiver<ClusterEvent>,
    nemesis: &'a mut Nemesis<'n>,
    rec: &'a Recorder,
    network: Network<'n>,
    interrupt: &'a AtomicBool,
    infra: &'a mut Infrastructure,
}

impl Phase<'_, '_> {
    /// Apply due nemesis operations (all of them with `faults`, only the
    /// timers of those in force without) and record exits, for `length`
    /// or until an interrupt. Returns true when interrupted.
    fn drive(&mut self, length: Duration, faults: bool) -> bool {
        let started = Instant::now();
        let until = started + length;
        let name = if faults { "faults" } else { "recovery" };
        loop {
            self.progress
                .tick(self.rec, name, started.elapsed().min(length), length);
            for (name, pid, status, tail) in self.infra.poll_exits() {
                self.rec
                    .record(Event::Process(checkers::history::ProcessRecord {
                        node: name,
                        event: checkers::history::ProcessEvent::Exit,
                        pid: Some(pid),
                        status: Some(status),
                        expected: Some(false),
                        stderr_tail: Some(tail),
                    }));
            }
            if self.interrupt.load(Ordering::SeqCst) {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            if faults {
                self.nemesis.step(self.cluster);
            } else {
                self.nemesis.step_timers_only(self.cluster);
            }
            let wait = self
                .nemesis
                .next_wakeup()
                .map(|w| w.saturating_duration_since(Instant::now()))
                .unwrap_or(until - now);
            let wait = wait
                .min(until.saturating_duration_since(Instant::now()))
                .min(Duration::from_millis(50));
            match self.events.recv_timeout(wait) {
                Ok(ClusterEvent::Exited {
                    node,
                    pid,
                    status,
                    expected,
                }) => {
                    self.cluster.record_exit(node, pid, status, expected);
                }
                Ok(ClusterEvent::Ready { node, pid }) => {
                    self.network.set_owner(&self.cluster.nodes[node].id, pid);
                }
                Err(_) => {}
            }
        }
    }
}

fn check_bypass(cluster: &Cluster, proxy: &proxy::Proxy) -> Option<String> {
    let owners: Vec<(String, i32)> = cluster
        .pids()
        .into_iter()
        .map(|(id, p)| (id, p as i32))
        .collect();
    let found = proxy::detect_bypass(&owners, &proxy.listening_ports());
    if found.is_empty() {
        return None;
    }
    Some(format!(
        "{} direct node-to-node TCP connection(s) bypass the proxy ({}); network faults did not reach them and network verdicts are unreliable",
        found.len(),
        found.iter().map(|b| format!("{}:{} <-> {}:{}", b.from, b.from_port, b.to, b.to_port)).collect::<Vec<_>>().join("; ")
    ))
}

fn port_open(spec: &SpawnSpec) -> bool {
    // The listen address is the value after `--listen`, or SPLITBRAIN_LISTEN.
    let addr = spec
        .env
        .iter()
        .find(|(k, _)| k == "SPLITBRAIN_LISTEN")
        .map(|(_, v)| v.clone());
    addr.and_then(|a| a.parse::<SocketAddr>().ok())
        .is_some_and(|a| {
            std::net::TcpStream::connect_timeout(&a, Duration::from_millis(50)).is_ok()
        })
}

fn indent(s: &str) -> String {
    if s.trim().is_empty() {
        return "    (stderr is empty)".to_string();
    }
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn watch_signals(rt: &tokio::runtime::Runtime, flag: Arc<AtomicBool>) {
    rt.spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        loop {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            flag.store(true, Ordering::SeqCst);
        }
    });
}

/// The one command that replays this run (same target, preset, seed, settings).
pub fn replay_command(opts: &RunOptions, n: usize, seed: u64) -> String {
    let mut cmd = format!(
        "splitbrain run --target {} --nodes {n} --seed {seed} --nemesis {} --time-limit {}",
        shell_word(&opts.target),
        shell_word(&opts.nemesis),
        compact_duration(opts.time_limit)
    );
    if let Some(d) = opts.nemesis_interval {
        cmd += &format!(" --nemesis-interval {}", compact_duration(d));
    }
    if let Some(d) = opts.fault_duration {
        cmd += &format!(" --fault-duration {}", compact_duration(d));
    }
    cmd += &knob_flags(&opts.knobs);
    if let Some(d) = opts.gap_bound {
        cmd += &format!(" --gap-bound {}", compact_duration(d));
    }
    if let Some(d) = opts.recovery {
        cmd += &format!(" --recovery {}", compact_duration(d));
    }
    if let Some(b) = &opts.bug {
        cmd += &format!(" --bug {}", shell_word(b));
    }
    if let Some(n) = opts.network {
        cmd += &format!(" --network {}", n.name());
    }
    for a in &opts.node_args {
        cmd += &format!(" --node-arg={}", shell_word(a));
    }
    cmd
}

/// The command-line flags that fix `knobs` (empty for the defaults).
fn knob_flags(knobs: &workloads::FaultKnobs) -> String {
    let mut flags = String::new();
    if knobs.concurrency != 1 {
        flags += &format!(" --concurrency {}", knobs.concurrency);
    }
    if let Some(p) = knobs.duplicate_probability {
        flags += &format!(" --duplicate-probability {p}");
    }
    if let Some(d) = knobs.spike_delay {
        flags += &format!(" --spike-delay {}", compact_duration(d));
    }
    if let Some(d) = knobs.spike_jitter {
        flags += &format!(" --spike-jitter {}", compact_duration(d));
    }
    flags
}

/// `1500ms`, `6s`, `2m`: one shell word that `humantime` parses back.
pub fn compact_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 60_000 == 0 && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,=:+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn write_run_toml(
    dir: &RunDir,
    opts: &RunOptions,
    target: &Target,
    n: usize,
    seed: u64,
    replay: &str,
) {
    let mut t = toml::map::Map::new();
    let s = |v: &str| toml::Value::String(v.to_string());
    t.insert(
        "store_layout".into(),
        toml::Value::Integer(results::store::STORE_LAYOUT_VERSION as i64),
    );
    t.insert("target".into(), s(&opts.target));
    t.insert("target_origin".into(), s(&target.origin));
    t.insert("nodes".into(), toml::Value::Integer(n as i64));
    t.insert("seed".into(), toml::Value::Integer(seed as i64));
    t.insert("nemesis".into(), s(&opts.nemesis));
    // Like the other overrides, only when given: the target file says the
    // rest, and a replay must not turn the target's default into a flag.
    if let Some(n) = opts.network {
        t.insert("network".into(), s(n.name()));
    }
    t.insert("time_limit".into(), s(&compact_duration(opts.time_limit)));
    if let Some(d) = opts.nemesis_interval {
        t.insert("nemesis_interval".into(), s(&compact_duration(d)));
    }
    if let Some(d) = opts.fault_duration {
        t.insert("fault_duration".into(), s(&compact_duration(d)));
    }
    if opts.knobs.concurrency != 1 {
        t.insert(
            "concurrency".into(),
            toml::Value::Integer(opts.knobs.concurrency.into()),
        );
    }
    if let Some(p) = opts.knobs.duplicate_probability {
        t.insert("duplicate_probability".into(), toml::Value::Float(p));
    }
    if let Some(d) = opts.knobs.spike_delay {
        t.insert("spike_delay".into(), s(&compact_duration(d)));
    }
    if let Some(d) = opts.knobs.spike_jitter {
        t.insert("spike_jitter".into(), s(&compact_duration(d)));
    }
    if let Some(d) = opts.gap_bound {
        t.insert("gap_bound".into(), s(&compact_duration(d)));
    }
    if let Some(b) = &opts.bug {
        t.insert("bug".into(), s(b));
    }
    t.insert(
        "node_args".into(),
        toml::Value::Array(opts.node_args.iter().map(|a| s(a)).collect()),
    );
    t.insert("replay".into(), s(replay));
    let text = toml::to_string_pretty(&toml::Value::Table(t)).unwrap_or_default();
    if let Err(e) = std::fs::write(dir.run_toml(), text) {
        tracing::warn!("writing run.toml: {e}");
    }
}
