//! The recorder: the one place events enter the history. It stamps them with
//! the controller's monotonic clock and keeps a live view of the cluster
//! derived only from what was recorded, so the nemesis aims at the leader the
//! history shows, not at one the controller imagines.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use checkers::history::{Event, Nanos, ProcessEvent, Record, Role};
use results::writer::HistoryWriter;

/// What the recorder knows about one node right now.
#[derive(Debug, Clone, Default)]
pub struct NodeView {
    /// Current incarnation's pid, if started and not dead.
    pub pid: Option<u32>,
    /// SIGSTOPped.
    pub paused: bool,
    /// Last reported role and term of the current incarnation.
    pub role: Option<Role>,
    /// Last reported term.
    pub term: u64,
}

/// A recorded event the reactive nemesis may react to.
#[derive(Debug, Clone, PartialEq)]
pub enum Moment {
    /// `node` granted its vote in `term` to another node.
    VoteGranted {
        /// The voter.
        node: String,
        /// The election term.
        term: u64,
    },
    /// `node` started claiming leadership in `term`.
    TookOffice {
        /// The new leader.
        node: String,
        /// Its term.
        term: u64,
    },
}

/// Shared handle to the history being written.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
    start: Instant,
}

struct Inner {
    writer: HistoryWriter,
    nodes: BTreeMap<String, NodeView>,
    ended: bool,
    error: Option<std::io::Error>,
    tap: Option<std::sync::mpsc::Sender<Moment>>,
}

impl Recorder {
    /// Start recording into `writer`; `t = 0` is now.
    pub fn new(writer: HistoryWriter, nodes: &[String]) -> Recorder {
        let nodes = nodes
            .iter()
            .map(|n| (n.clone(), NodeView::default()))
            .collect();
        Recorder {
            inner: Arc::new(Mutex::new(Inner {
                writer,
                nodes,
                ended: false,
                error: None,
                tap: None,
            })),
            start: Instant::now(),
        }
    }

    /// Receive every vote granted and every new leadership claim as it is
    /// recorded (for faults that react to the history).
    pub fn tap(&self) -> std::sync::mpsc::Receiver<Moment> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).tap = Some(tx);
        rx
    }

    /// Nanoseconds since the run started.
    pub fn now(&self) -> Nanos {
        self.start.elapsed().as_nanos() as Nanos
    }

    /// Record `event` now.
    pub fn record(&self, event: Event) -> Option<Record> {
        self.record_at(self.now(), event)
    }

    /// Record `event` stamped `t` (raised to the last stamp if earlier). Once
    /// the `end` line is written, further events are dropped.
    pub fn record_at(&self, t: Nanos, event: Event) -> Option<Record> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.ended {
            return None;
        }
        let was_leader = match &event {
            Event::State(st) => g
                .nodes
                .get(&st.node)
                .is_some_and(|v| v.role == Some(Role::Leader)),
            _ => false,
        };
        apply_to_view(&mut g.nodes, &event);
        if let Some(tap) = &g.tap {
            let moment = match &event {
                Event::Vote(v) if v.candidate != v.node => Some(Moment::VoteGranted {
                    node: v.node.clone(),
                    term: v.term,
                }),
                Event::State(st) if st.role == Role::Leader && !was_leader => {
                    Some(Moment::TookOffice {
                        node: st.node.clone(),
                        term: st.term,
                    })
                }
                _ => None,
            };
            if let Some(m) = moment {
                let _ = tap.send(m);
            }
        }
        if matches!(event, Event::End(_)) {
            g.ended = true;
        }
        match g.writer.append(t, event) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!("writing the history failed: {e}");
                g.error.get_or_insert(e);
                None
            }
        }
    }

    /// The first write error, if any (the run then fails with 255).
    pub fn take_error(&self) -> Option<std::io::Error> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .error
            .take()
    }

    /// Flush to disk.
    pub fn sync(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = g.writer.sync() {
            g.error.get_or_insert(e);
        }
    }

    /// The pid of `node`'s current incarnation, as recorded.
    pub fn pid_of(&self, node: &str) -> Option<u32> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .nodes
            .get(node)
            .and_then(|v| v.pid)
    }

    /// The live node claiming leadership in the highest term, as recorded.
    pub fn leader(&self) -> Option<String> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.nodes
            .iter()
            .filter(|(_, v)| v.pid.is_some() && !v.paused && v.role == Some(Role::Leader))
            .max_by_key(|(_, v)| v.term)
            .map(|(n, _)| n.clone())
    }
}

fn apply_to_view(nodes: &mut BTreeMap<String, NodeView>, event: &Event) {
    match event {
        Event::Process(p) => {
            let Some(v) = nodes.get_mut(&p.node) else {
                return;
            };
            match p.event {
                ProcessEvent::Start => {
                    *v = NodeView {
                        pid: p.pid,
                        ..NodeView::default()
                    };
                }
                ProcessEvent::Kill | ProcessEvent::Exit => {
                    if checkers::history::ends_incarnation(p.pid, v.pid) {
                        *v = NodeView::default();
                    }
                }
                ProcessEvent::Pause => v.paused = true,
                ProcessEvent::Resume => v.paused = false,
                ProcessEvent::Ready => {}
            }
        }
        Event::State(s) => {
            let Some(v) = nodes.get_mut(&s.node) else {
                return;
            };
            if v.pid.is_some() && (s.pid.is_none() || s.pid == v.pid) {
                v.role = Some(s.role);
                v.term = s.term;
            }
        }
        _ => {}
    }
}
