//! Infrastructure services a target needs before its nodes (a Redis server,
//! an etcd member serving election clients): started first in their own
//! process groups, health-checked, fronted by the proxy so a node can be cut
//! from them, and stopped on every exit path.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use checkers::history::{Event, ExitStatus, ProcessEvent, ProcessRecord};

use crate::recorder::Recorder;
use crate::supervise::{self, SpawnSpec};
use crate::target::{expand, InfraSpec};

/// One running service.
pub struct InfraProcess {
    /// Its name (used in links, e.g. `n2→redis`).
    pub name: String,
    /// The real address it listens on (nodes reach it through the proxy).
    pub addr: SocketAddr,
    child: Child,
    log: std::path::PathBuf,
    /// Its exit was already reported.
    exited: bool,
}

/// Every service of a run; dropping it stops them.
#[derive(Default)]
pub struct Infrastructure {
    /// Services in start order.
    pub services: Vec<InfraProcess>,
}

impl Infrastructure {
    /// Start every service in `specs`, each on a fresh loopback port, and wait
    /// until each accepts TCP connections. Records `process start`/`ready`.
    pub fn start(
        specs: &[InfraSpec],
        run_dir: &Path,
        rec: &Recorder,
    ) -> anyhow::Result<Infrastructure> {
        let mut infra = Infrastructure::default();
        for spec in specs {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let dir = run_dir.join("infra").join(&spec.name);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let log = run_dir.join("infra").join(format!("{}.log", spec.name));
            let mut vars = BTreeMap::new();
            vars.insert("port".to_string(), port.to_string());
            vars.insert("addr".to_string(), addr.to_string());
            vars.insert("dir".to_string(), dir.display().to_string());
            vars.insert("run_dir".to_string(), run_dir.display().to_string());
            for name in &spec.ports {
                vars.insert(name.clone(), crate::ports::free_port()?.port().to_string());
            }
            if let Ok(exe) = std::env::current_exe() {
                vars.insert("exe".to_string(), exe.display().to_string());
            }
            let argv: Vec<String> = spec.argv.iter().map(|a| expand(a, &vars)).collect();
            let child = supervise::spawn(SpawnSpec {
                argv,
                shell: false,
                env: spec.env.iter().map(|(k, v)| (k.clone(), expand(v, &vars))).collect(),
                cwd: dir.clone(),
                stderr: log.clone(),
                capture_stdout: false,
            })
            .map_err(|e| match &spec.package {
                Some(p) => anyhow!(
                    "infrastructure {}: {e} (it comes with the Debian package {p}: apt-get install {p})",
                    spec.name
                ),
                None => anyhow!("infrastructure {}: {e}", spec.name),
            })?;
            rec.record(process(&spec.name, ProcessEvent::Start, child.id()));
            let pid = child.id();
            infra.services.push(InfraProcess {
                name: spec.name.clone(),
                addr,
                child,
                log: log.clone(),
                exited: false,
            });
            let deadline = Instant::now() + spec.ready_timeout;
            loop {
                let svc = infra.services.last_mut().expect("just pushed");
                if let Ok(Some(status)) = svc.child.try_wait() {
                    return Err(anyhow!(
                        "infrastructure {} exited at start ({status}); last lines of {}:\n{}",
                        spec.name,
                        log.display(),
                        supervise::tail(&log, 20)
                    ));
                }
                if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                    rec.record(process(&spec.name, ProcessEvent::Ready, pid));
                    break;
                }
                if Instant::now() > deadline {
                    return Err(anyhow!(
                        "infrastructure {} did not accept connections on {addr} within {:?}; last lines of {}:\n{}",
                        spec.name,
                        spec.ready_timeout,
                        log.display(),
                        supervise::tail(&log, 20)
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(infra)
    }

    /// Names in start order.
    pub fn names(&self) -> Vec<String> {
        self.services.iter().map(|s| s.name.clone()).collect()
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
