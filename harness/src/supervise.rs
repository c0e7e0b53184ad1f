//! Child-process supervision, in the manner of cargo-nextest: every child in
//! its own process group with a parent-death signal, spawned from one thread
//! that lives as long as the controller, and a watchdog process that kills the
//! registered groups (grandchildren included) if the controller itself dies.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// What to start.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// Program and arguments (already expanded).
    pub argv: Vec<String>,
    /// Run through `sh -c` (argv joined by spaces).
    pub shell: bool,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// File that receives stderr (appended).
    pub stderr: PathBuf,
    /// Pipe stdout to the controller (otherwise to /dev/null).
    pub capture_stdout: bool,
    /// The `cgroup.procs` file of the cgroup the child joins before exec,
    /// so it and everything it forks live there (see [`kernel::NodeGroup`]).
    pub cgroup: Option<std::ffi::CString>,
}

/// Why a child could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The program was not found or not executable.
    #[error("cannot start `{program}`: {source}{hint}")]
    Exec {
        /// argv[0].
        program: String,
        /// What the OS said.
        source: std::io::Error,
        /// A hint such as which package provides it.
        hint: String,
    },
    /// The stderr file could not be opened.
    #[error("opening {path}: {source}")]
    Log {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The spawner thread is gone (the controller is shutting down).
    #[error("the spawner thread has stopped")]
    SpawnerGone,
}

struct Request {
    spec: SpawnSpec,
    pdeath: Signal,
    reply: mpsc::Sender<Result<Child, SpawnError>>,
}

/// The one thread that forks children. PR_SET_PDEATHSIG fires when the
/// *thread* that forked a child exits, so forking from a short-lived or pooled
/// thread would kill children mid-run; this thread lives until the process ends.
struct Spawner {
    tx: Mutex<mpsc::Sender<Request>>,
}

fn spawner() -> &'static Spawner {
    static SPAWNER: OnceLock<Spawner> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("splitbrain-spawner".into())
            .spawn(move || {
                for req in rx {
                    let _ = req.reply.send(spawn_now(&req.spec, req.pdeath));
                }
            })
            .expect("starting the spawner thread");
        Spawner { tx: Mutex::new(tx) }
    })
}

fn spawn_now(spec: &SpawnSpec, pdeath: Signal) -> Result<Child, SpawnError> {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.stderr)
        .map_err(|source| SpawnError::Log {
            path: spec.stderr.clone(),
            source,
        })?;
    let mut cmd = if spec.shell {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(spec.argv.join(" "));
        c
    } else {
        let mut c = Command::new(&spec.argv[0]);
        c.args(&spec.argv[1..]);
        c
    };
    cmd.current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(if spec.capture_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(stderr);
    let parent = std::process::id() as libc::pid_t;
    let sig = pdeath as libc::c_int;
    let cgroup = spec.cgroup.clone();
    // SAFETY: only async-signal-safe libc calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(procs) = &cgroup {
                kernel::NodeGroup::join_from_child(procs)?;
            }
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The controller died between fork and prctl: do not outlive it.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|source| SpawnError::Exec {
        program: spec.argv.first().cloned().unwrap_or_default(),
        hint: install_hint(spec.argv.first().map(String::as_str).unwrap_or(""), &source),
        source,
    })
}

fn install_hint(program: &str, err: &std::io::Error) -> String {
    if err.kind() != std::io::ErrorKind::NotFound {
        return String::new();
    }
    let base = program.rsplit('/').next().unwrap_or(program);
    let pkg = match base {
        "redis-server" | "redis-cli" => Some("redis-server"),
        "etcd" => Some("etcd-server"),
        "etcdctl" => Some("etcd-client"),
        "python3" => Some("python3"),
        _ => None,
    };
    match pkg {
        Some(p) => format!(" (install it: apt-get install {p})"),
        None => " (is it installed and on PATH? target argv[0] must be a program path or name)"
            .to_string(),
    }
}

/// Start a child in its own process group with SIGKILL as its parent-death
/// signal, registered with the watchdog so its whole group dies with us.
pub fn spawn(spec: SpawnSpec) -> Result<Child, SpawnError> {
    let (reply, rx) = mpsc::channel();
    spawner()
        .tx
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(Request {
            spec,
            pdeath: Signal::SIGKILL,
            reply,
        })
        .map_err(|_| SpawnError::SpawnerGone)?;
    let child = rx.recv().map_err(|_| SpawnError::SpawnerGone)??;
    watchdog_register(child.id());
    Ok(child)
}

/// Send `sig` to a whole process group. Errors (the group is gone) are ignored:
/// the caller reaps and records what actually happened.
pub fn signal_group(pgid: u32, sig: Signal) {
    let _ = kill(Pid::from_raw(-(pgid as i32)), sig);
}

/// Resume (in case it is stopped) and SIGKILL a group.
pub fn kill_group(pgid: u32) {
    signal_group(pgid, Signal::SIGKILL);
    // A stopped group dies from SIGKILL too, but SIGCONT wakes any member
    // that somehow escaped the kill (a new process forked concurrently).
    signal_group(pgid, Signal::SIGCONT);
}

/// Forget a group after it was reaped.
pub fn release_group(pgid: u32) {
    watchdog_send(&format!("-{pgid}"));
}

/// Have the watchdog remove a run's kernel resources (its cgroups, nft
/// table and lock) if the controller dies before it does so itself.
pub fn watch_run(run: &str) {
    watchdog_send(&format!("+run {run}"));
}

/// The run removed its kernel resources itself.
pub fn unwatch_run(run: &str) {
    watchdog_send(&format!("-run {run}"));
}

// ---------------------------------------------------------------------------
// The watchdog: `splitbrain watchdog`, a separate process that reads "+pgid" /
// "-pgid" and "+run NAME" / "-run NAME" lines on stdin; when stdin reaches
// EOF, which the kernel guarantees when the controller dies in any way,
// SIGKILL included, it SIGKILLs every registered group and removes every
// registered run's cgroups (killing what is in them), nft table and lock.
// Parent-death signals only cover direct children; this covers wrapper
// scripts, adapters' own children and daemonised grandchildren. It lives
// outside every node cgroup, so killing a node's cgroup never kills it.

struct Watchdog {
    stdin: Mutex<Option<ChildStdin>>,
}

fn watchdog() -> Option<&'static Watchdog> {
    static WATCHDOG: OnceLock<Option<Watchdog>> = OnceLock::new();
    WATCHDOG
        .get_or_init(|| {
            let exe = std::env::current_exe().ok()?;
            let mut cmd = Command::new(exe);
            cmd.arg("watchdog").stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::inherit());
            // Own process group, so a terminal's SIGINT to the controller's
            // group does not take the watchdog down before it has done its job.
            cmd.process_group(0);
            match cmd.spawn() {
                Ok(mut child) => {
                    let stdin = child.stdin.take();
                    // Reap it whenever it exits; it outlives us by design otherwise.
                    std::thread::spawn(move || {
                        let _ = child.wait();
                    });
                    Some(Watchdog { stdin: Mutex::new(stdin) })
                }
                Err(e) => {
                    tracing::warn!("could not start the watchdog ({e}); grandchildren of nodes may outlive a killed controller");
                    None
                }
            }
        })
        .as_ref()
}

fn watchdog_send(line: &str) {
    if let Some(w) = watchdog() {
        let mut guard = w.stdin.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(stdin) = guard.as_mut() {
            if writeln!(stdin, "{line}")
                .and_then(|_| stdin.flush())
                .is_err()
            {
                *guard = None;
            }
        }
    }
}

fn watchdog_register(pgid: u32) {
    watchdog_send(&format!("+{pgid}"));
}

/// Start the watchdog now (before the first child), so that it exists even if
/// the controller is killed right after spawning.
pub fn start_watchdog() {
    let _ = watchdog();
}

/// The body of `splitbrain watchdog`: never returns until stdin closes.
pub fn run_watchdog() -> i32 {
    // Ignore terminal signals: only EOF ends us.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
    let mut groups = BTreeSet::new();
    let mut runs = BTreeSet::new();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if let Some(run) = line.strip_prefix("+run ") {
            runs.insert(run.trim().to_string());
            continue;
        }
        if let Some(run) = line.strip_prefix("-run ") {
            runs.remove(run.trim());
            continue;
        }
        let (op, rest) = line.split_at(line.len().min(1));
        if let Ok(pgid) = rest.trim().parse::<u32>() {
            match op {
                "+" => {
                    groups.insert(pgid);
                }
                "-" => {
                    groups.remove(&pgid);
                }
                _ => {}
            }
        }
    }
    for pgid in groups {
        kill_group(pgid);
    }
    for run in runs {
        if let Err(e) = kernel::owner::clean_run(&run) {
            eprintln!(
                "splitbrain watchdog: cleaning run {run}: {e}; `splitbrain clean` removes it"
            );
        }
    }
    0
}

/// The last lines of a file (a node's stderr), for error messages.
pub fn tail(path: &std::path::Path, lines: usize) -> String {
    let Ok(text) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Raise the soft open-file limit to the hard limit (25 nodes × 24 links of
/// proxy sockets plus pipes exceed the usual 1024).
pub fn raise_nofile_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}
