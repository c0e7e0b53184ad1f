//! The nodes of one run: starting incarnations, reading their stdout into the
//! history, and the process faults (kill, pause, resume, restart).
//!
//! Every incarnation gets a reader thread (stdout → history) and a waiter
//! thread (reaps it and reports the exit). A line read after its process was
//! killed or paused is stamped no later than the signal (contract 3).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use checkers::history::{Event, ExitStatus, ProcessEvent, ProcessRecord};
use nix::sys::signal::Signal;

use crate::observe::parse_line;
use crate::recorder::Recorder;
use crate::supervise::{self, SpawnError, SpawnSpec};

/// Something a node's threads report to the run loop.
#[derive(Debug)]
pub enum ClusterEvent {
    /// The incarnation printed `ready`.
    Ready {
        /// Node index.
        node: usize,
        /// Its pid.
        pid: u32,
    },
    /// The incarnation exited and was reaped.
    Exited {
        /// Node index.
        node: usize,
        /// Its pid.
        pid: u32,
        /// How.
        status: ExitStatus,
        /// The controller caused it (kill or stop).
        expected: bool,
    },
}

#[derive(Default)]
struct Eof {
    done: Mutex<bool>,
    cv: Condvar,
}

/// One running (or exited, not yet reaped) process of a node.
pub struct Incarnation {
    /// Its pid (and process group id).
    pub pid: u32,
    /// Latest stamp lines may get (u64::MAX: none): set at kill and pause.
    cap: Arc<AtomicU64>,
    /// The controller caused its exit.
    expected_exit: Arc<AtomicBool>,
    eof: Arc<Eof>,
    /// Reaped already.
    exited: Arc<AtomicBool>,
}

/// A node of the run and its current incarnation.
pub struct NodeSlot {
    /// `n1`..
    pub id: String,
    /// How to start it.
    pub spec: SpawnSpec,
    /// Raw stdout of all incarnations.
    pub stdout_log: PathBuf,
    /// Current incarnation.
    pub current: Option<Incarnation>,
    /// SIGSTOPped (or frozen) right now.
    pub paused: bool,
    /// Its cgroup, when the run has them: kill and pause reach every
    /// process the node forked, daemonised or not.
    pub group: Option<kernel::NodeGroup>,
}

/// All nodes of a run.
pub struct Cluster {
    /// Slots by index.
    pub nodes: Vec<NodeSlot>,
    rec: Recorder,
    events: Sender<ClusterEvent>,
}

impl Cluster {
    /// Nodes that will be started from `slots`.
    pub fn new(nodes: Vec<NodeSlot>, rec: Recorder, events: Sender<ClusterEvent>) -> Cluster {
        Cluster { nodes, rec, events }
    }

    /// Index of a node id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// Node ids in order.
    pub fn ids(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.id.clone()).collect()
    }

    /// Is the node's current incarnation running (not reaped)?
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i]
            .current
            .as_ref()
            .is_some_and(|c| !c.exited.load(Ordering::SeqCst))
    }

    /// Start a new incarnation of node `i` and record `start`.
    pub fn start(&mut self, i: usize) -> Result<u32, SpawnError> {
        let slot = &mut self.nodes[i];
        let mut child: Child = supervise::spawn(slot.spec.clone())?;
        let pid = child.id();
        self.rec.record(Event::Process(ProcessRecord {
            node: slot.id.clone(),
            event: ProcessEvent::Start,
            pid: Some(pid),
            status: None,
            expected: None,
            stderr_tail: None,
        }));
        let cap = Arc::new(AtomicU64::new(u64::MAX));
        let expected_exit = Arc::new(AtomicBool::new(false));
        let eof = Arc::new(Eof::default());
        let exited = Arc::new(AtomicBool::new(false));
        if let Some(stdout) = child.stdout.take() {
            let (rec, cap, eof, events, id, log) = (
                self.rec.clone(),
                cap.clone(),
                eof.clone(),
                self.events.clone(),
                slot.id.clone(),
                slot.stdout_log.clone(),
            );
            std::thread::Builder::new()
                .name(format!("stdout-{id}"))
                .spawn(move || read_stdout(stdout, i, pid, &id, &log, &rec, &cap, &events, &eof))
                .expect("starting a reader thread");
        } else {
            *eof.done.lock().unwrap() = true;
        }
        {
            let (events, expected_exit, exited) =
                (self.events.clone(), expected_exit.clone(), exited.clone());
            std::thread::Builder::new()
                .name(format!("wait-{}", slot.id))
                .spawn(move || {
                    let status = match child.wait() {
                        Ok(s) => {
                            use std::os::unix::process::ExitStatusExt;
                            ExitStatus {
                                code: s.code(),
                                signal: s.signal(),
                            }
                        }
                        Err(_) => ExitStatus {
                            code: None,
                            signal: None,
                        },
                    };
                    exited.store(true, Ordering::SeqCst);
                    supervise::release_group(pid);
                    let _ = events.send(ClusterEvent::Exited {
                        node: i,
                        pid,
                        status,
                        expected: expected_exit.load(Ordering::SeqCst),
                    });
                })
                .expect("starting a waiter thread");
        }
        slot.current = Some(Incarnation {
            pid,
            cap,
            expected_exit,
            eof,
            exited,
        });
        slot.paused = false;
        Ok(pid)
    }

    /// SIGKILL node `i`'s group; its remaining stdout is drained (up to
    /// `drain`) before `kill` is recorded, stamped at the signal. Returns once
    /// the process is reaped (bounded by `drain` again), so `is_up` is false
    /// for a node killed a moment ago and it can be restarted at once.
    pub fn kill(&mut self, i: usize, drain: Duration) -> Option<u32> {
        let slot = &mut self.nodes[i];
        let inc = slot.current.as_ref()?;
        if inc.exited.load(Ordering::SeqCst) {
            return None;
        }
        let t = self.rec.now();
        inc.cap.store(t, Ordering::SeqCst);
        inc.expected_exit.store(true, Ordering::SeqCst);
        kill_node(inc.pid, slot.group.as_ref());
        {
            let g = inc.eof.done.lock().unwrap();
            let _ = inc.eof.cv.wait_timeout_while(g, drain, |done| !*done);
        }
        slot.paused = false;
        self.rec.record_at(
            t,
            Event::Process(ProcessRecord {
                node: slot.id.clone(),
                event: ProcessEvent::Kill,
                pid: Some(inc.pid),
                status: None,
                expected: None,
                stderr_tail: None,
            }),
        );
        // The waiter thread reaps it asynchronously; wait for that.
        let reaped_by = std::time::Instant::now() + drain;
        while !inc.exited.load(Ordering::SeqCst) && std::time::Instant::now() < reaped_by {
            std::thread::sleep(Duration::from_millis(1));
        }
        Some(inc.pid)
    }

    /// Freeze node `i`'s cgroup (SIGSTOP its process group without one).
    pub fn pause(&mut self, i: usize) -> Option<u32> {
        let slot = &mut self.nodes[i];
        let inc = slot.current.as_ref()?;
        if slot.paused || inc.exited.load(Ordering::SeqCst) {
            return None;
        }
        let t = self.rec.now();
        inc.cap.store(t, Ordering::SeqCst);
        match &slot.group {
            Some(g) => {
                if let Err(e) = g.freeze(true) {
                    tracing::warn!("freezing {}: {e}; stopping its process group", slot.id);
                    supervise::signal_group(inc.pid, Signal::SIGSTOP);
                }
            }
            None => supervise::signal_group(inc.pid, Signal::SIGSTOP),
        }
        slot.paused = true;
        self.rec
            .record_at(t, process(&slot.id, ProcessEvent::Pause, inc.pid));
        Some(inc.pid)
    }

    /// Thaw node `i`'s cgroup (SIGCONT its process group without one).
    pub fn resume(&mut self, i: usize) -> Option<u32> {
        let slot = &mut self.nodes[i];
        let inc = slot.current.as_ref()?;
        if !slot.paused {
            return None;
        }
        slot.paused = false;
        if inc.exited.load(Ordering::SeqCst) {
            return None;
        }
        if let Some(g) = &slot.group {
            if let Err(e) = g.freeze(false) {
                tracing::warn!("thawing {}: {e}", slot.id);
            }
        }
        // Also for a group frozen by the fallback above.
        supervise::signal_group(inc.pid, Signal::SIGCONT);
        let t = self.rec.now();
        inc.cap.store(u64::MAX, Ordering::SeqCst);
        self.rec
            .record_at(t, process(&slot.id, ProcessEvent::Resume, inc.pid));
        Some(inc.pid)
    }

    /// Record an exit the waiter reported.
    pub fn record_exit(&mut self, i: usize, pid: u32, status: ExitStatus, expected: bool) {
        let slot = &mut self.nodes[i];
        if slot.current.as_ref().is_some_and(|c| c.pid == pid) {
            slot.paused = false;
        }
        let stderr_tail = (!expected).then(|| supervise::tail(&slot.spec.stderr, 20));
        self.rec.record(Event::Process(ProcessRecord {
            node: slot.id.clone(),
            event: ProcessEvent::Exit,
            pid: Some(pid),
            status: Some(status),
            expected: Some(expected),
            stderr_tail,
        }));
    }

    /// Resume and kill every group without recording (after `end`), then wait
    /// until each incarnation is reaped (bounded).
    pub fn stop_all(&mut self, wait: Duration) {
        for slot in &mut self.nodes {
            if let Some(inc) = &slot.current {
                inc.expected_exit.store(true, Ordering::SeqCst);
                if !inc.exited.load(Ordering::SeqCst) {
                    kill_node(inc.pid, slot.group.as_ref());
                }
            }
            // What a node that exited by itself left running (a daemon).
            if let Some(g) = slot.group.as_ref().filter(|g| g.populated()) {
                let _ = g.kill();
            }
            slot.paused = false;
        }
        let deadline = std::time::Instant::now() + wait;
        while std::time::Instant::now() < deadline
            && self.nodes.iter().any(|s| {
                s.current
                    .as_ref()
                    .is_some_and(|c| !c.exited.load(Ordering::SeqCst))
            })
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Process group ids of running incarnations (for the proxy's attribution).
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.nodes
            .iter()
            .filter_map(|s| {
                s.current
                    .as_ref()
                    .filter(|c| !c.exited.load(Ordering::SeqCst))
                    .map(|c| (s.id.clone(), c.pid))
            })
            .collect()
    }
}

impl Drop for Cluster {
    /// The panic and early-return path: nothing of this run may survive it.
    fn drop(&mut self) {
        self.stop_all(Duration::from_secs(2));
    }
}

/// Kill a node's cgroup (everything it forked, frozen or not) and its
/// process group (the only handle without cgroups).
fn kill_node(pgid: u32, group: Option<&kernel::NodeGroup>) {
    if let Some(g) = group {
        if let Err(e) = g.kill() {
            tracing::warn!("killing cgroup {}: {e}", g.path().display());
        }
    }
    supervise::kill_group(pgid);
}

fn process(node: &str, event: ProcessEvent, pid: u32) -> Event {
    Event::Process(ProcessRecord {
        node: node.to_string(),
        event,
        pid: Some(pid),
        status: None,
        expected: None,
        stderr_tail: None,
    })
}

#[allow(clippy::too_many_arguments)]
fn read_stdout(
    stdout: std::process::ChildStdout,
    i: usize,
    pid: u32,
    id: &str,
    log: &std::path::Path,
    rec: &Recorder,
    cap: &AtomicU64,
    events: &Sender<ClusterEvent>,
    eof: &Eof,
) {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .ok();
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::with_capacity(256);
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let t = rec.now().min(cap.load(Ordering::SeqCst));
        if let Some(f) = log.as_mut() {
            let _ = f.write_all(&buf);
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        let event = parse_line(id, pid, line);
        let ready = matches!(&event, Event::Process(p) if p.event == ProcessEvent::Ready);
        rec.record_at(t, event);
        if ready {
            let _ = events.send(ClusterEvent::Ready { node: i, pid });
        }
    }
    *eof.done.lock().unwrap() = true;
    eof.cv.notify_all();
}
