//! The history format (contract 3): the shared vocabulary of every crate.
//!
//! A history is JSON lines; each line is a [`Record`] with a strictly
//! increasing `seq`, a non-decreasing `t` (nanoseconds since the run started,
//! from the controller's monotonic clock) and one [`Event`]. The first record
//! is the [`RunHeader`]. See `docs/history.md` for the user-facing contract.

use serde::{Deserialize, Serialize};

/// Nanoseconds since the run started (controller's monotonic clock).
pub type Nanos = u64;

/// The version of contract 3 written by this build; readers accept it and older.
pub const FORMAT_VERSION: u32 = 1;

/// One line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Strictly increasing position in the history.
    pub seq: u64,
    /// When the controller observed (or caused) the event.
    pub t: Nanos,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// Everything a history can say, tagged by `type` on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The header: first line, every setting a checker needs.
    Run(RunHeader),
    /// A node process changed lifecycle state.
    Process(ProcessRecord),
    /// A node reported (or a probe observed) its role, term and leader.
    State(StateRecord),
    /// A node granted a vote (optional event, unlocks the vote checkers).
    Vote(VoteRecord),
    /// The nemesis decided and applied a fault operation.
    Nemesis(NemesisRecord),
    /// The complete set of down and degraded links after a network change.
    Net(NetRecord),
    /// A probe failed (a paused or dead node, or a malformed answer).
    Probe(ProbeRecord),
    /// A stdout line that was not a protocol object; kept, never fatal.
    Garbage(GarbageRecord),
    /// A protocol object of a `type` this build does not know; kept, ignored.
    NodeEvent(NodeEventRecord),
    /// Something the controller wants a reader of the history to know.
    Warning(WarningRecord),
    /// The last line of a complete history.
    End(EndRecord),
}

/// Which liveness model a target follows (contract 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Liveness {
    /// Nodes elect among themselves; a healthy quorum of nodes is needed.
    #[default]
    PeerQuorum,
    /// Nodes elect through shared infrastructure (a Redis, an etcd).
    ViaInfrastructure,
}

/// Where a `state` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Printed by the node on stdout.
    #[default]
    Stdout,
    /// Polled by the controller.
    Probe,
}

/// The run header: the resolved settings the checkers judge by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    /// Contract 3 version.
    #[serde(default = "default_format")]
    pub format: u32,
    /// Target name (file stem or built-in name).
    pub target: String,
    /// Node ids in index order (`n1`..).
    pub nodes: Vec<String>,
    /// Seed of the fault schedule.
    #[serde(default)]
    pub seed: u64,
    /// Nemesis preset name(s), for attribution and replay.
    #[serde(default)]
    pub nemesis: String,
    /// Expected election timeout range `[min, max]` in milliseconds.
    #[serde(default = "default_election_timeout")]
    pub election_timeout_ms: [u64; 2],
    /// Heartbeat interval, when the target has one.
    #[serde(default)]
    pub heartbeat_ms: Option<u64>,
    /// Longest acceptable election gap.
    #[serde(default = "default_gap_bound")]
    pub gap_bound_ms: u64,
    /// Terms survive restarts (contract 2).
    #[serde(default)]
    pub persistent_term: bool,
    /// Leadership claims must never overlap in real time (leases).
    #[serde(default)]
    pub exclusive: bool,
    /// How the cluster can make progress.
    #[serde(default)]
    pub liveness: Liveness,
    /// How states are observed.
    #[serde(default)]
    pub observation: Source,
    /// Poll interval when observed by probe.
    #[serde(default)]
    pub probe_interval_ms: Option<u64>,
    /// Live overlap up to this long is observation noise, not a violation.
    #[serde(default = "default_overlap_tolerance")]
    pub overlap_tolerance_ms: f64,
    /// Infrastructure services (names used in links, e.g. `redis`).
    #[serde(default)]
    pub infrastructure: Vec<String>,
    /// Crashes (exits the nemesis did not cause) are part of the target's design.
    #[serde(default)]
    pub crashes_expected: bool,
    /// Stability violation threshold; `None` reports only.
    #[serde(default)]
    pub max_unnecessary_elections: Option<u64>,
    /// Planned length of the fault phase.
    #[serde(default)]
    pub time_limit_ms: u64,
    /// Length of the final recovery window (heal, resume, restart, observe).
    #[serde(default)]
    pub recovery_ms: u64,
    /// The command that replays this run.
    #[serde(default)]
    pub replay: Option<String>,
    /// Links were cut in the kernel (packets dropped, not held) between
    /// nodes that talk TCP: a stream cut for D resumes only when TCP next
    /// retransmits, up to D (plus the 200 ms minimum timeout) after the heal.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tcp_backoff: bool,
    /// Anything else a target or a later version records (kept verbatim).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn default_format() -> u32 {
    FORMAT_VERSION
}
fn default_election_timeout() -> [u64; 2] {
    [150, 300]
}
fn default_gap_bound() -> u64 {
    3000
}
fn default_overlap_tolerance() -> f64 {
    5.0
}

/// Lifecycle events of a node process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessEvent {
    /// Spawned (a new incarnation, new pid).
    Start,
    /// Printed `{"type":"ready"}` or passed its readiness check.
    Ready,
    /// Exited; `status` says how, `expected` whether the controller caused it.
    Exit,
    /// SIGKILL delivered by the nemesis or the final stop.
    Kill,
    /// SIGSTOP delivered.
    Pause,
    /// SIGCONT delivered.
    Resume,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// Exit code, when it exited.
    #[serde(default)]
    pub code: Option<i32>,
    /// Signal number, when a signal ended it.
    #[serde(default)]
    pub signal: Option<i32>,
}

/// A `process` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// Node id (or infrastructure service name).
    pub node: String,
    /// What happened.
    pub event: ProcessEvent,
    /// The incarnation's pid.
    #[serde(default)]
    pub pid: Option<u32>,
    /// For `exit`: how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ExitStatus>,
    /// For `exit`: whether the controller caused it (kill, final stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<bool>,
    /// For an unexpected `exit`: the last lines of the node's stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_tail: Option<String>,
}

/// Whether a node's `kill`/`exit` carrying `event_pid` ends the incarnation
/// whose `start` carried `current_pid`. The exit of an earlier incarnation
/// can be recorded after the next one started (a kill and a restart at once:
/// the reaper reports the old pid while the new process is up); it ends
/// nothing. Without a pid on either side it does (docs/history.md).
///
/// For election nodes only: the members of a clustered service share one
/// name, and any member's exit is the service's (docs/checkers.md).
pub fn ends_incarnation(event_pid: Option<u32>, current_pid: Option<u32>) -> bool {
    match (event_pid, current_pid) {
        (Some(event), Some(current)) => event == current,
        _ => true,
    }
}

/// Roles a node can report; only `leader` makes a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Claims leadership for `term`.
    Leader,
    /// Campaigning in `term`.
    Candidate,
    /// Pre-vote phase (Raft thesis §9.6): not yet a candidate.
    PreCandidate,
    /// Following `leader` (or nobody yet).
    Follower,
    /// A role this build does not know; never a claim.
    #[serde(other)]
    Other,
}

/// A `state` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateRecord {
    /// Node id.
    pub node: String,
    /// The process that printed it (absent for some probes).
    #[serde(default)]
    pub pid: Option<u32>,
    /// Reported role.
    pub role: Role,
    /// Reported current term (Raft term, epoch, fencing token).
    pub term: u64,
    /// The leader this node knows of, if any.
    #[serde(default)]
    pub leader: Option<String>,
    /// Stdout or probe.
    #[serde(default)]
    pub src: Source,
}

/// A `vote` line: `node` granted its vote in `term` to `for`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoteRecord {
    /// The voter.
    pub node: String,
    /// The voter's process.
    #[serde(default)]
    pub pid: Option<u32>,
    /// The election term.
    pub term: u64,
    /// The candidate voted for.
    #[serde(rename = "for")]
    pub candidate: String,
    /// The voter's `[last term, last index]`.
    #[serde(default)]
    pub voter_log: Option<[u64; 2]>,
    /// The candidate's `[last term, last index]` as it claimed in the request.
    #[serde(default)]
    pub candidate_log: Option<[u64; 2]>,
}

/// A `nemesis` line: a fault operation, recorded when it took effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NemesisRecord {
    /// Operation kind: `kill`, `pause`, `resume`, `restart`, `isolate`,
    /// `partition`, `bridge`, `ring`, `one-way`, `lossy`, `slow`, `flap`,
    /// `heal`, `recover` (final phase).
    pub op: String,
    /// Nodes the operation was aimed at.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Operation parameters (durations, loss, groups) for reports and replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// A link that still delivers, but badly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DegradedLink {
    /// Sender.
    pub from: String,
    /// Receiver.
    pub to: String,
    /// Probability a message is lost, 0..=1.
    #[serde(default)]
    pub loss: f64,
    /// Added delay in milliseconds.
    #[serde(default)]
    pub delay_ms: f64,
    /// Added random jitter in milliseconds (uniform 0..jitter).
    #[serde(default)]
    pub jitter_ms: f64,
    /// Probability a datagram is duplicated.
    #[serde(default)]
    pub duplicate: f64,
    /// Probability a datagram is held back and reordered.
    #[serde(default)]
    pub reorder: f64,
    /// A duplicate goes out up to this many milliseconds after the original
    /// (0: right after it).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duplicate_delay_ms: f64,
    /// A held datagram waits up to this many milliseconds (0: until the
    /// next datagram on the link, at most the proxy's short hold).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reorder_window_ms: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// A `net` line: the complete network state now in force.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NetRecord {
    /// Every directed link `[from, to]` that delivers nothing; `[]` when healed.
    #[serde(default)]
    pub cut: Vec<[String; 2]>,
    /// Links that deliver with loss or delay.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<DegradedLink>,
}

/// A `probe` line (only failures are recorded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    /// The probed node.
    pub node: String,
    /// Always false when recorded.
    pub ok: bool,
    /// What went wrong.
    #[serde(default)]
    pub error: Option<String>,
}

/// A `garbage` line: stdout that was not a protocol object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GarbageRecord {
    /// The node that printed it.
    pub node: String,
    /// Its process.
    #[serde(default)]
    pub pid: Option<u32>,
    /// The line, truncated to 4 KiB.
    pub line: String,
}

/// A protocol object with an unknown `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeEventRecord {
    /// The node that printed it.
    pub node: String,
    /// Its process.
    #[serde(default)]
    pub pid: Option<u32>,
    /// The object as printed.
    pub event: serde_json::Value,
}

/// A `warning` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningRecord {
    /// Short machine-readable kind, e.g. `bypass`.
    pub kind: String,
    /// Human explanation.
    pub message: String,
}

/// The `end` line.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EndRecord {
    /// The run was cut short (SIGINT, SIGTERM, an error).
    #[serde(default)]
    pub interrupted: bool,
    /// Why it ended early, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
