//! Infrastructure services a target needs before its nodes (a Redis server,
//! an etcd member serving election clients): started first in their own
//! process groups, health-checked, fronted by the proxy so a node can be cut
//! from them, and stopped on every exit path.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use checkers::history::{Event, ExitStatus, ProcessEvent, ProcessRecord};

use crate::ports::PortPool;
use crate::recorder::Recorder;
use crate::supervise::{self, SpawnSpec};
use crate::target::{expand, InfraSpec};

/// One running service process (a single service, or one member of a cluster).
pub struct InfraProcess {
    /// Its service's name (used in links, e.g. `n2→redis`; every member of
    /// a cluster shares it).
    pub name: String,
    /// Its 0-based member index (`{member}`); 0 for a single service.
    pub member: usize,
    /// The real address it listens on (nodes reach it through the proxy).
    pub addr: SocketAddr,
    /// Every port it was given (`{port}` and named ones), so the kernel
    /// backend can attribute its half-open connections to it.
    pub ports: Vec<u16>,
    child: Child,
    log: std::path::PathBuf,
    /// Its exit was already reported.
    exited: bool,
}

/// Every service of a run; dropping it stops them.
#[derive(Default)]
pub struct Infrastructure {
    /// Service processes in start order (a cluster's members next to each other).
    pub services: Vec<InfraProcess>,
}

/// Where one member keeps its data and its stderr: `infra/NAME/` and
/// `infra/NAME.log` for a single service, `infra/NAME-M/` and
/// `infra/NAME-M.log` for member `M` of a cluster.
pub fn member_paths(run_dir: &Path, spec: &InfraSpec, member: usize) -> (PathBuf, PathBuf) {
    let base = if spec.members == 1 {
        spec.name.clone()
    } else {
        format!("{}-{member}", spec.name)
    };
    let infra = run_dir.join("infra");
    (infra.join(&base), infra.join(format!("{base}.log")))
}

impl Infrastructure {
    /// Start every service in `specs`, each member on a fresh loopback port,
    /// and wait until each member is ready (accepts TCP connections, or
    /// answers `ready_path` with 200). A cluster's members are all started
    /// before any is waited for: none is ready before a quorum runs.
    /// Records `process start`/`ready` per member under the service's name.
    /// On error the members started so far are stopped when `self` drops.
    /// Ports come from the run's `ports`, so they differ from the nodes'.
    pub fn start(
        specs: &[InfraSpec],
        run_dir: &Path,
        rec: &Recorder,
        ports: &mut PortPool,
        cgroups: Option<&crate::network::KernelRun>,
    ) -> anyhow::Result<Infrastructure> {
        let mut infra = Infrastructure::default();
        for spec in specs {
            let mut members = Vec::with_capacity(spec.members);
            for m in 0..spec.members {
                let addr = ports.next()?;
                let (dir, log) = member_paths(run_dir, spec, m);
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let mut vars = BTreeMap::new();
                vars.insert("port".to_string(), addr.port().to_string());
                vars.insert("addr".to_string(), addr.to_string());
                vars.insert("dir".to_string(), dir.display().to_string());
                vars.insert("run_dir".to_string(), run_dir.display().to_string());
                vars.insert("member".to_string(), m.to_string());
                let mut given = vec![addr.port()];
                for name in &spec.ports {
                    let p = ports.next()?.port();
                    given.push(p);
                    vars.insert(name.clone(), p.to_string());
                }
                if let Ok(exe) = std::env::current_exe() {
                    vars.insert("exe".to_string(), exe.display().to_string());
                }
                members.push((addr, dir, log, vars, given));
            }
            let entries: Vec<String> = members
                .iter()
                .map(|(_, _, _, vars, _)| expand(&spec.member_entry, vars))
                .collect();
            let first = infra.services.len();
            for (m, (addr, dir, log, mut vars, given)) in members.into_iter().enumerate() {
                vars.insert("members".to_string(), entries.join(","));
                let argv: Vec<String> = spec.argv.iter().map(|a| expand(a, &vars)).collect();
                let child = supervise::spawn(SpawnSpec {
                    argv,
                    shell: false,
                    env: spec
                        .env
                        .iter()
                        .map(|(k, v)| (k.clone(), expand(v, &vars)))
                        .collect(),
                    cwd: dir,
                    stderr: log.clone(),
                    capture_stdout: false,
                    cgroup: cgroups.and_then(|k| k.procs(&spec.name)),
                })
                .map_err(|e| match &spec.package {
                    Some(p) => anyhow!(
                        "infrastructure {}: {e} (it comes with the Debian package {p}: apt-get install {p})",
                        spec.name
                    ),
                    None => anyhow!("infrastructure {}: {e}", spec.name),
                })?;
                rec.record(process(&spec.name, ProcessEvent::Start, child.id()));
                infra.services.push(InfraProcess {
                    name: spec.name.clone(),
                    member: m,
                    addr,
                    ports: given,
                    child,
                    log,
                    exited: false,
                });
            }
            let deadline = Instant::now() + spec.ready_timeout;
            for svc in &mut infra.services[first..] {
                svc.wait_ready(spec, deadline)?;
                rec.record(process(&spec.name, ProcessEvent::Ready, svc.child.id()));
            }
        }
        Ok(infra)
    }

    /// The services as the proxy fronts them: one entry per service, with
    /// every member's real address in member order.
    pub fn proxy_services(&self) -> Vec<proxy::Service> {
        let mut out: Vec<proxy::Service> = Vec::new();
        for s in &self.services {
            match out.iter_mut().find(|o| o.id == s.name) {
                Some(o) => o.members.push(s.addr),
                None => out.push(proxy::Service::new(s.name.clone(), vec![s.addr])),
            }
        }
        out
    }

    /// Every port each service's members were given, by service name.
    pub fn ports(&self) -> BTreeMap<String, Vec<u16>> {
        let mut out: BTreeMap<String, Vec<u16>> = BTreeMap::new();
        for s in &self.services {
            out.entry(s.name.clone()).or_default().extend(&s.ports);
        }
        out
    }

    /// Service names in start order (a cluster once).
    pub fn names(&self) -> Vec<String> {
        self.proxy_services().into_iter().map(|s| s.id).collect()
    }

    /// A service that died during the run: `(name, status, log tail)`.
    pub fn poll_exits(&mut self) -> Vec<(String, u32, ExitStatus, String)> {
        let mut out = Vec::new();
        for s in self.services.iter_mut().filter(|s| !s.exited) {
            if let Ok(Some(st)) = s.child.try_wait() {
                use std::os::unix::process::ExitStatusExt;
                s.exited = true;
                out.push((
                    s.name.clone(),
                    s.child.id(),
                    ExitStatus {
                        code: st.code(),
                        signal: st.signal(),
                    },
                    supervise::tail(&s.log, 20),
                ));
            }
        }
        out
    }

    /// Kill and reap every service (bounded wait).
    pub fn stop(&mut self) {
        for s in &mut self.services {
            supervise::kill_group(s.child.id());
        }
        for s in &mut self.services {
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if !matches!(s.child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            supervise::release_group(s.child.id());
        }
        self.services.clear();
    }
}

impl InfraProcess {
    /// Wait until this member is ready or `deadline` passes; an exit or a
    /// timeout is an error with the tail of its log.
    fn wait_ready(&mut self, spec: &InfraSpec, deadline: Instant) -> anyhow::Result<()> {
        let who = if spec.members == 1 {
            format!("infrastructure {}", spec.name)
        } else {
            format!(
                "infrastructure {} member {} of {}",
                spec.name, self.member, spec.members
            )
        };
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = true;
                return Err(anyhow!(
                    "{who} exited at start ({status}); last lines of {}:\n{}",
                    self.log.display(),
                    supervise::tail(&self.log, 20)
                ));
            }
            let last = match ready(self.addr, spec.ready_path.as_deref()) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() > deadline {
                let what = match &spec.ready_path {
                    Some(p) => format!("did not answer GET {p} with 200 on {}", self.addr),
                    None => format!("did not accept connections on {}", self.addr),
                };
                return Err(anyhow!(
                    "{who} {what} within {:?} (last: {last}); last lines of {}:\n{}",
                    spec.ready_timeout,
                    self.log.display(),
                    supervise::tail(&self.log, 20)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One readiness check: a TCP connection, and with `path` an HTTP GET
/// answered with a 2xx status (through the probes' HTTP agent).
fn ready(addr: SocketAddr, path: Option<&str>) -> Result<(), String> {
    let Some(path) = path else {
        return std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100))
            .map(drop)
            .map_err(|e| e.to_string());
    };
    crate::probe::agent(Duration::from_millis(500))
        .get(&format!("http://{addr}{path}"))
        .call()
        .map(drop)
        .map_err(|e| format!("GET {path}: {e}"))
}

impl Drop for Infrastructure {
    fn drop(&mut self) {
        self.stop();
    }
}

fn process(name: &str, event: ProcessEvent, pid: u32) -> Event {
    Event::Process(ProcessRecord {
        node: name.to_string(),
        event,
        pid: Some(pid),
        status: None,
        expected: None,
        stderr_tail: None,
    })
}
