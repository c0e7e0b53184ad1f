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

/// What a person watching a run wants to know that the node views do not
/// say: which faults are in force and whether a term already had two
/// leaders. Derived from recorded events only, like everything here; the
/// verdicts still come from the checkers after the run.
#[derive(Debug, Clone, Default)]
pub struct LiveStatus {
    /// Numbered faults of an overlapping schedule in force: number → op.
    numbered: BTreeMap<u64, String>,
    /// The one fault in force of a one-at-a-time schedule.
    single: Option<String>,
    /// Leaders claimed per recent term.
    leaders: BTreeMap<u64, Vec<String>>,
    /// Terms in which two different nodes claimed leadership.
    pub split_terms: u64,
    /// Nemesis operations recorded (faults and their undos).
    pub nemesis_ops: u64,
}

/// Terms whose leaders the live status remembers.
const LIVE_TERMS: usize = 256;

impl LiveStatus {
    fn observe(&mut self, event: &Event) {
        match event {
            Event::Nemesis(n) => {
                self.nemesis_ops += 1;
                let undo = matches!(n.op.as_str(), "heal" | "resume" | "restart");
                let number = n
                    .detail
                    .as_ref()
                    .and_then(|d| d.get("fault"))
                    .and_then(|f| f.as_u64());
                match (n.op.as_str(), number) {
                    ("recover", _) => {
                        self.numbered.clear();
                        self.single = None;
                    }
                    (_, Some(k)) if undo => {
                        self.numbered.remove(&k);
                    }
                    (op, Some(k)) => {
                        self.numbered.insert(k, op.to_string());
                    }
                    (_, None) if undo => self.single = None,
                    (op, None) => self.single = Some(op.to_string()),
                }
            }
            Event::State(st) if st.role == Role::Leader => {
                let leaders = self.leaders.entry(st.term).or_default();
                if !leaders.contains(&st.node) {
                    leaders.push(st.node.clone());
                    if leaders.len() == 2 {
                        self.split_terms += 1;
                    }
                }
                while self.leaders.len() > LIVE_TERMS {
                    self.leaders.pop_first();
                }
            }
            _ => {}
        }
    }

    /// The faults in force, in the order they were numbered (or the one).
    pub fn faults_in_force(&self) -> Vec<String> {
        let mut v: Vec<String> = self.numbered.values().cloned().collect();
        v.extend(self.single.clone());
        v
    }
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
    live: LiveStatus,
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
                live: LiveStatus::default(),
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
        g.live.observe(&event);
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

    /// Faults in force and split terms so far, for the progress line.
    pub fn live_status(&self) -> LiveStatus {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .live
            .clone()
    }

    /// The live leader of the highest term and that term, as recorded.
    pub fn leader_and_term(&self) -> Option<(String, u64)> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.nodes
            .iter()
            .filter(|(_, v)| v.pid.is_some() && !v.paused && v.role == Some(Role::Leader))
            .max_by_key(|(_, v)| v.term)
            .map(|(n, v)| (n.clone(), v.term))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(v: serde_json::Value) -> Event {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn live_status_follows_faults_in_force_and_counts_split_terms() {
        let mut live = LiveStatus::default();
        live.observe(&event(
            json!({"type": "nemesis", "op": "partition", "nodes": []}),
        ));
        assert_eq!(live.faults_in_force(), ["partition"]);
        live.observe(&event(
            json!({"type": "nemesis", "op": "heal", "nodes": []}),
        ));
        assert!(live.faults_in_force().is_empty());
        // Overlapping faults carry their number; each undo ends its own.
        for (op, k) in [("kill", 1), ("slow", 2)] {
            live.observe(&event(
                json!({"type": "nemesis", "op": op, "nodes": [], "detail": {"fault": k}}),
            ));
        }
        live.observe(&event(
            json!({"type": "nemesis", "op": "restart", "nodes": [], "detail": {"fault": 1}}),
        ));
        assert_eq!(live.faults_in_force(), ["slow"]);
        live.observe(&event(
            json!({"type": "nemesis", "op": "recover", "nodes": []}),
        ));
        assert!(live.faults_in_force().is_empty());
        let leader = |node: &str, term: u64| {
            event(json!({"type": "state", "node": node, "role": "leader", "term": term}))
        };
        live.observe(&leader("n1", 3));
        live.observe(&leader("n1", 3));
        assert_eq!(live.split_terms, 0, "one leader claiming twice");
        live.observe(&leader("n2", 3));
        live.observe(&leader("n3", 3));
        assert_eq!(live.split_terms, 1, "a term counts once");
    }
}
