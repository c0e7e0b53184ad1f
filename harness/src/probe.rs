//! Observation by probe (contract 1, "Systems that cannot print events"):
//! the controller polls each node (HTTP over a kept-open connection, or a
//! command) and records a `state` with `src: probe` whenever role, term or
//! leader changes. A failing probe is recorded, never fatal: the node may be
//! paused or dead.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use checkers::history::{Event, ProbeRecord, Role, Source, StateRecord};
use serde_json::Value;

use crate::recorder::Recorder;
use crate::target::ProbeSpec;

/// What one probe answer says.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Mapped role.
    pub role: Role,
    /// Current term.
    pub term: u64,
    /// The leader as the system names it (raw id), if any.
    pub leader_raw: Option<String>,
    /// The node's own id as the system names it, if exposed.
    pub self_raw: Option<String>,
}

/// A probe for one node: its expanded request and the spec's pointers.
#[derive(Clone)]
pub struct NodeProbe {
    /// Node id.
    pub node: String,
    /// Expanded URL (HTTP probes).
    pub url: Option<String>,
    /// Expanded command (command probes).
    pub command: Option<Vec<String>>,
    /// Expanded body.
    pub body: Option<String>,
    /// The spec.
    pub spec: ProbeSpec,
}

impl NodeProbe {
    /// Ask once. Errors are short strings for the history.
    pub fn ask(&self, agent: &ureq::Agent) -> Result<Value, String> {
        let text = if let Some(url) = &self.url {
            let resp = if self.spec.method.eq_ignore_ascii_case("POST") {
                agent.post(url).send(self.body.clone().unwrap_or_default())
            } else {
                agent.get(url).call()
            };
            let mut resp = resp.map_err(|e| e.to_string())?;
            resp.body_mut()
                .read_to_string()
                .map_err(|e| e.to_string())?
        } else if let Some(cmd) = &self.command {
            let out = std::process::Command::new(&cmd[0])
                .args(&cmd[1..])
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| format!("{}: {e}", cmd[0]))?;
            if !out.status.success() {
                return Err(format!("{} exited with {}", cmd[0], out.status));
            }
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            return Err("probe has neither url nor command".into());
        };
        serde_json::from_str(&text)
            .map_err(|e| format!("answer is not JSON ({e}): {}", first_bytes(&text, 200)))
    }

    /// Extract an observation from an answer, or say which field is missing
    /// (with the answer's first 200 bytes).
    pub fn interpret(&self, answer: &Value) -> Result<Observation, String> {
        let s = &self.spec;
        let missing = |what: &str, ptr: &str| {
            format!(
                "answer has no {what} at {ptr}: {}",
                first_bytes(&answer.to_string(), 200)
            )
        };
        let term_v = answer
            .pointer(&s.term)
            .ok_or_else(|| missing("term", &s.term))?;
        let term = as_u64(term_v).ok_or_else(|| missing("integer term", &s.term))?;
        let leader_raw = match &s.leader {
            Some(p) => answer.pointer(p).and_then(as_id),
            None => None,
        };
        let self_raw = match &s.self_id {
            Some(p) => Some(
                answer
                    .pointer(p)
                    .and_then(as_id)
                    .ok_or_else(|| missing("self id", p))?,
            ),
            None => None,
        };
        let role = match &s.role {
            Some(p) => {
                let raw = answer.pointer(p).ok_or_else(|| missing("role", p))?;
                let raw = raw
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| raw.to_string());
                map_role(s.roles.get(&raw).map(String::as_str).unwrap_or(&raw))
            }
            None => {
                if leader_raw.is_some() && leader_raw == self_raw {
                    Role::Leader
                } else {
                    Role::Follower
                }
            }
        };
        Ok(Observation {
            role,
            term,
            leader_raw,
            self_raw,
        })
    }
}

fn map_role(s: &str) -> Role {
    match s.to_ascii_lowercase().as_str() {
        "leader" => Role::Leader,
        "candidate" => Role::Candidate,
        "pre-candidate" | "precandidate" => Role::PreCandidate,
        "follower" => Role::Follower,
        _ => Role::Other,
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// An id as a string; 0, "0" and "" mean "none" (etcd's `lead` when no leader is known).
fn as_id(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty() && s != "0").then_some(s)
}

fn first_bytes(s: &str, n: usize) -> String {
    let mut end = s.len().min(n);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// An HTTP agent that keeps connections open between polls.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(true)
        .build()
        .into()
}

/// Pollers for every node of a run.
pub struct Probers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Probers {
    /// Start one polling thread per node. `known_ids` maps the system's ids
    /// to node ids as learned so far (from readiness probes), so a leader id
    /// is never recorded raw just because its owner was polled later.
    pub fn start(
        probes: Vec<NodeProbe>,
        rec: &Recorder,
        logs: Vec<std::path::PathBuf>,
        known_ids: BTreeMap<String, String>,
    ) -> Probers {
        let stop = Arc::new(AtomicBool::new(false));
        // The systems' ids for our nodes, learned from each node's self id.
        let learned: Arc<Mutex<BTreeMap<String, String>>> = Arc::new(Mutex::new(known_ids));
        let threads = probes
            .into_iter()
            .zip(logs)
            .map(|(p, log)| {
                let (stop, rec, learned) = (stop.clone(), rec.clone(), learned.clone());
                std::thread::Builder::new()
                    .name(format!("probe-{}", p.node))
                    .spawn(move || poll(p, &rec, &stop, &learned, &log))
                    .expect("starting a probe thread")
            })
            .collect();
        Probers { stop, threads }
    }

    /// Stop polling and wait for the threads.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Probers {
    fn drop(&mut self) {
        self.stop();
    }
}

fn poll(
    p: NodeProbe,
    rec: &Recorder,
    stop: &AtomicBool,
    learned: &Mutex<BTreeMap<String, String>>,
    log: &std::path::Path,
) {
    let agent = agent(p.spec.timeout);
    let mut last: Option<(u32, Role, u64, Option<String>)> = None;
    let mut failing = false;
    let mut next = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_millis(50)));
            continue;
        }
        next += p.spec.interval;
        if next < Instant::now() {
            next = Instant::now() + p.spec.interval;
        }
        let Some(pid) = rec.pid_of(&p.node) else {
            last = None;
            continue;
        };
        let result = p.ask(&agent).and_then(|answer| p.interpret(&answer));
        match result {
            Ok(obs) => {
                failing = false;
                if let Some(me) = &obs.self_raw {
                    learned
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(me.clone(), p.node.clone());
                }
                let leader = obs.leader_raw.as_ref().map(|raw| {
                    learned
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(raw)
                        .cloned()
                        .unwrap_or_else(|| raw.clone())
                });
                let key = (pid, obs.role, obs.term, leader.clone());
                if last.as_ref() != Some(&key) {
                    rec.record(Event::State(StateRecord {
                        node: p.node.clone(),
                        pid: Some(pid),
                        role: obs.role,
                        term: obs.term,
                        leader,
                        src: Source::Probe,
                    }));
                    last = Some(key);
                }
            }
            Err(error) => {
                if !failing {
                    use std::io::Write;
                    if let Ok(mut f) = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(log)
                    {
                        let _ = writeln!(f, "probe failed: {error}");
                    }
                    rec.record(Event::Probe(ProbeRecord {
                        node: p.node.clone(),
                        ok: false,
                        error: Some(error),
                    }));
                    failing = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn etcd_probe() -> NodeProbe {
        let spec: ProbeSpec = toml::from_str(
            r#"
url = "http://x/debug/vars"
term = "/raft.status/term"
role = "/raft.status/raftState"
leader = "/raft.status/lead"
self_id = "/raft.status/id"
roles = { StateLeader = "leader", StateFollower = "follower", StateCandidate = "candidate", StatePreCandidate = "pre-candidate" }
"#,
        )
        .unwrap();
        NodeProbe {
            node: "n1".into(),
            url: spec.url.clone(),
            command: None,
            body: None,
            spec,
        }
    }

    #[test]
    fn etcd_debug_vars_answer() {
        let p = etcd_probe();
        let answer = json!({"raft.status": {"id": "8e9e05c52164694d", "term": 7, "lead": "8e9e05c52164694d", "raftState": "StateLeader"}});
        let o = p.interpret(&answer).unwrap();
        assert_eq!(o.role, Role::Leader);
        assert_eq!(o.term, 7);
        assert_eq!(o.leader_raw.as_deref(), Some("8e9e05c52164694d"));
        let follower = json!({"raft.status": {"id": "a", "term": 8, "lead": "0", "raftState": "StateFollower"}});
        let o = p.interpret(&follower).unwrap();
        assert_eq!((o.role, o.leader_raw), (Role::Follower, None));
    }

    #[test]
    fn missing_field_quotes_the_answer() {
        let p = etcd_probe();
        let e = p.interpret(&json!({"cmdline": ["etcd"]})).unwrap_err();
        assert!(
            e.contains("no term at /raft.status/term") && e.contains("cmdline"),
            "{e}"
        );
    }

    #[test]
    fn leader_equals_self_without_a_role_pointer() {
        let mut p = etcd_probe();
        p.spec.role = None;
        let o = p
            .interpret(&json!({"raft.status": {"id": "5", "term": "3", "lead": 5}}))
            .unwrap();
        assert_eq!((o.role, o.term), (Role::Leader, 3));
    }
}
