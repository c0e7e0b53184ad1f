//! Loading and validating target files (contract 2, `docs/targets.md`).
//!
//! A target file says how to start a node, how many, which transport its peers
//! use, how it is observed, its timing and its promises. Errors point at the
//! file and line so a user can fix their own target without reading Rust.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use checkers::history::Liveness;
use serde::{Deserialize, Deserializer};

/// A target that could not be loaded; every variant says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Neither a built-in name nor a readable file.
    #[error("unknown target '{name}': not a built-in target ({builtins}) and no such file; pass a built-in name or the path of a target file")]
    Unknown {
        /// What the user passed.
        name: String,
        /// Comma-separated built-in names.
        builtins: String,
    },
    /// The file exists but could not be read.
    #[error("reading target file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// TOML syntax or schema error, or a semantic check that failed.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// File path or `built-in:<name>`.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// How peers reach each other (what the proxy must forward).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// JSON datagrams (the built-in nodes' default).
    #[default]
    Udp,
    /// Streams; faults stall or reset whole connections.
    Tcp,
}

/// How the controller learns each node's role and term (`stdout`, or `probe`
/// with a `[probe]` table): the same values the history records as `src`.
pub use checkers::history::Source as Observe;

/// How peers' addresses are laid out in the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyLayout {
    /// One proxy address per directed link (what `{peers}` lists).
    #[default]
    PerLink,
    /// One proxy address per node, shared by all peers (`{advertise}`,
    /// `{cluster}`): for systems like etcd that tell every peer the same
    /// address. Connections are attributed to the node that opened them.
    SharedAdvertised,
}

/// `[probe]`: how to ask a node who leads (for systems that print nothing).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// HTTP URL template (node placeholders), polled over a kept-open connection.
    #[serde(default)]
    pub url: Option<String>,
    /// HTTP method (`GET` or `POST`).
    #[serde(default = "default_method")]
    pub method: String,
    /// HTTP body template (POST).
    #[serde(default)]
    pub body: Option<String>,
    /// Or a command (argv template) whose stdout is the JSON answer.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Poll interval (at least 10 ms).
    #[serde(default = "default_probe_interval", deserialize_with = "duration")]
    pub interval: Duration,
    /// Per-request timeout (a paused node never answers).
    #[serde(default = "default_probe_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// JSON pointer to the current term (number or numeric string).
    pub term: String,
    /// JSON pointer to the role; without it, a node leads when `leader == self_id`.
    #[serde(default)]
    pub role: Option<String>,
    /// JSON pointer to the leader's id in the system's own terms.
    #[serde(default)]
    pub leader: Option<String>,
    /// JSON pointer to the node's own id (learned, to map leader ids to node ids).
    #[serde(default)]
    pub self_id: Option<String>,
    /// Role values to splitbrain roles, e.g. `StateLeader = "leader"`.
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
}

/// When a node counts as started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Readiness {
    /// It printed `{"type":"ready"}`.
    #[default]
    Stdout,
    /// Its `{listen}` port accepts TCP connections.
    Port,
    /// Its probe answers (targets observed by probe).
    Probe,
    /// As soon as it is spawned.
    None,
}

/// `[node]`: how to start one node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// argv template with placeholders (`{id}`, `{listen}`, `{peers}`, ...).
    pub argv: Vec<String>,
    /// Extra environment variables (values may use placeholders).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory (placeholders allowed); default: the node's data dir.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Run `argv` joined by spaces through `sh -c` (only when the target asks).
    #[serde(default)]
    pub shell: bool,
    /// Readiness check.
    #[serde(default)]
    pub ready: Readiness,
    /// How long a node may take to become ready before the run fails.
    #[serde(default = "default_ready_timeout", deserialize_with = "duration")]
    pub ready_timeout: Duration,
    /// Names of extra per-node ports to allocate (each usable as `{NAME}`).
    #[serde(default)]
    pub ports: Vec<String>,
    /// How one entry of `{cluster}` is written; `{id}` and `{addr}` inside.
    #[serde(default = "default_cluster_entry")]
    pub cluster_entry: String,
}

/// `[timing]`: what the campaign scales fault intervals and gap bounds to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingSpec {
    /// Expected election timeout range.
    #[serde(
        default = "default_election_timeout",
        deserialize_with = "duration_pair"
    )]
    pub election_timeout: [Duration; 2],
    /// Heartbeat interval, if the algorithm has one.
    #[serde(default, deserialize_with = "opt_duration")]
    pub heartbeat: Option<Duration>,
    /// Longest acceptable election gap; default 10 × the maximum election timeout, at least 1 s.
    #[serde(default, deserialize_with = "opt_duration")]
    pub gap_bound: Option<Duration>,
    /// Final recovery window; default max(3 s, 10 × the maximum election timeout).
    #[serde(default, deserialize_with = "opt_duration")]
    pub recovery: Option<Duration>,
}

impl Default for TimingSpec {
    fn default() -> Self {
        TimingSpec {
            election_timeout: default_election_timeout(),
            heartbeat: None,
            gap_bound: None,
            recovery: None,
        }
    }
}

impl TimingSpec {
    /// The gap bound in force.
    pub fn gap_bound(&self) -> Duration {
        self.gap_bound
            .unwrap_or_else(|| (self.election_timeout[1] * 10).max(Duration::from_secs(1)))
    }
    /// The recovery window in force.
    pub fn recovery(&self) -> Duration {
        self.recovery
            .unwrap_or_else(|| (self.election_timeout[1] * 10).max(Duration::from_secs(3)))
    }
}

/// `[promises]`: what the checkers hold the target to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Promises {
    /// Terms survive restarts.
    #[serde(default)]
    pub persistent_term: bool,
    /// Claims must never overlap in real time (leases).
    #[serde(default)]
    pub exclusive: bool,
    /// `peer-quorum` or `via-infrastructure`.
    #[serde(default)]
    pub liveness: Liveness,
    /// Exits the nemesis did not cause are part of the design.
    #[serde(default)]
    pub crashes_expected: bool,
    /// Live overlap up to this long is observation noise.
    #[serde(default, deserialize_with = "opt_duration")]
    pub overlap_tolerance: Option<Duration>,
    /// Stability violation threshold (default: report only).
    #[serde(default)]
    pub max_unnecessary_elections: Option<u64>,
}

/// `[[infrastructure]]`: a service started before the nodes, one process or
/// a cluster of `members` processes (an etcd cluster the nodes share).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfraSpec {
    /// Name used in links (`n2→redis`) and in `{infra.NAME}`.
    pub name: String,
    /// argv template, expanded per member: `{port}` (its loopback port),
    /// `{addr}`, `{dir}` (its data dir), `{run_dir}`, `{exe}`, `{member}`
    /// (0-based index), `{members}` (every member's `member_entry`, joined by commas).
    pub argv: Vec<String>,
    /// Number of member processes (a cluster); 1 is a single service.
    #[serde(default = "default_members")]
    pub members: usize,
    /// One entry of `{members}`, expanded with that member's placeholders,
    /// e.g. `m{member}=http://127.0.0.1:{peer_port}` for etcd's `--initial-cluster`.
    #[serde(default = "default_member_entry")]
    pub member_entry: String,
    /// HTTP path every member must answer with status 200 before the nodes
    /// start (e.g. etcd's `/health`, true once the cluster has a leader);
    /// without it, accepting TCP connections on `{port}` is enough.
    #[serde(default)]
    pub ready_path: Option<String>,
    /// Extra environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How long it may take to accept TCP connections on `{port}`.
    #[serde(default = "default_ready_timeout", deserialize_with = "duration")]
    pub ready_timeout: Duration,
    /// The Debian package that provides it, named in the error when it is missing.
    #[serde(default)]
    pub package: Option<String>,
    /// Names of extra loopback ports it needs (each usable as `{NAME}`, e.g. an etcd peer port).
    #[serde(default)]
    pub ports: Vec<String>,
}

/// A loaded, validated target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Short name (store directory, reports).
    #[serde(default)]
    pub name: String,
    /// One line for `splitbrain targets`.
    #[serde(default)]
    pub description: String,
    /// Default node count.
    #[serde(default = "default_nodes")]
    pub nodes: usize,
    /// Peer transport.
    #[serde(default)]
    pub transport: Transport,
    /// Observation source.
    #[serde(default)]
    pub observe: Observe,
    /// Proxy address layout.
    #[serde(default)]
    pub proxy: ProxyLayout,
    /// Where link faults happen (`proxy` or `kernel`); `--network` overrides.
    #[serde(default)]
    pub network: crate::network::NetworkBackend,
    /// How to probe a node (`observe = "probe"`).
    #[serde(default)]
    pub probe: Option<ProbeSpec>,
    /// How to start a node.
    pub node: NodeSpec,
    /// Timing.
    #[serde(default)]
    pub timing: TimingSpec,
    /// Promises.
    #[serde(default)]
    pub promises: Promises,
    /// Services to start before the nodes.
    #[serde(default)]
    pub infrastructure: Vec<InfraSpec>,
    /// Where it came from (`built-in:raft` or a path).
    #[serde(skip)]
    pub origin: String,
}

/// Placeholders an `[[infrastructure]]` argv may use.
pub const INFRA_PLACEHOLDERS: &[&str] =
    &["port", "addr", "dir", "run_dir", "exe", "member", "members"];

/// The most members one `[[infrastructure]]` entry may have.
pub const MAX_MEMBERS: usize = 9;

/// Placeholders every argv template may use (contract 1).
pub const PLACEHOLDERS: &[&str] = &[
    "exe",
    "id",
    "index",
    "count",
    "listen",
    "peers",
    "advertise",
    "cluster",
    "data_dir",
    "seed",
    "run_dir",
];

impl Target {
    /// Load a built-in target by name, or a target file by path.
    pub fn load(name_or_path: &str) -> Result<Target, TargetError> {
        let path = Path::new(name_or_path);
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|source| TargetError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("target")
                .to_string();
            return Target::parse(&text, &path.display().to_string(), &stem);
        }
        match nodes::target::builtin(name_or_path) {
            Some(text) => Target::parse(text, &format!("built-in:{name_or_path}"), name_or_path),
            None => Err(TargetError::Unknown {
                name: name_or_path.to_string(),
                builtins: nodes::target::BUILTIN_TARGETS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Parse and validate target-file text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str, default_name: &str) -> Result<Target, TargetError> {
        let mut t: Target = toml::from_str(text).map_err(|e| TargetError::Invalid {
            file: origin.to_string(),
            line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
            message: e.message().trim().to_string(),
        })?;
        t.origin = origin.to_string();
        if t.name.is_empty() {
            t.name = default_name.to_string();
        }
        t.validate(text, origin)?;
        Ok(t)
    }

    /// What serde cannot say about a target file: values that depend on each
    /// other (a probe for `observe = "probe"`, `[min, max]` order), unique
    /// names and known placeholders. Every error points at the line of the
    /// key it is about.
    fn validate(&self, text: &str, origin: &str) -> Result<(), TargetError> {
        let t = self;
        let bad = |key: &str, message: String| TargetError::Invalid {
            file: origin.to_string(),
            line: key_line(text, key),
            message,
        };
        if t.node.argv.is_empty() || t.node.argv[0].trim().is_empty() {
            return Err(bad(
                "argv",
                "[node] argv is empty: give the program and its arguments".into(),
            ));
        }
        if t.nodes == 0 {
            return Err(bad("nodes", "nodes must be at least 1".into()));
        }
        let [lo, hi] = t.timing.election_timeout;
        if lo.is_zero() || lo > hi {
            return Err(bad(
                "election_timeout",
                format!(
                    "election_timeout must be [min, max] with 0 < min ≤ max, got [{lo:?}, {hi:?}]"
                ),
            ));
        }
        match (&t.observe, &t.probe) {
            (Observe::Probe, None) => return Err(bad(
                "observe",
                "observe = \"probe\" needs a [probe] table (url or command, term, role or leader)"
                    .into(),
            )),
            (_, Some(p)) => {
                if p.url.is_some() == p.command.is_some() {
                    return Err(bad(
                        "[probe]",
                        "[probe] needs exactly one of url and command".into(),
                    ));
                }
                if p.interval < Duration::from_millis(10) {
                    return Err(bad(
                        "interval",
                        "[probe] interval must be at least 10ms".into(),
                    ));
                }
                if p.role.is_none() && (p.leader.is_none() || p.self_id.is_none()) {
                    return Err(bad(
                        "[probe]",
                        "[probe] needs role, or both leader and self_id".into(),
                    ));
                }
                if !p.method.eq_ignore_ascii_case("GET") && !p.method.eq_ignore_ascii_case("POST") {
                    return Err(bad(
                        "method",
                        format!("[probe] method must be GET or POST, not {}", p.method),
                    ));
                }
            }
            _ => {}
        }
        if t.node.ready == Readiness::Probe && t.probe.is_none() {
            return Err(bad(
                "ready",
                "ready = \"probe\" needs a [probe] table".into(),
            ));
        }
        if t.proxy == ProxyLayout::SharedAdvertised && t.transport != Transport::Tcp {
            return Err(bad(
                "proxy",
                "proxy = \"shared-advertised\" needs transport = \"tcp\"".into(),
            ));
        }
        let infra_names: Vec<String> = t
            .infrastructure
            .iter()
            .map(|i| format!("infra.{}", i.name))
            .collect();
        for (i, spec) in t.infrastructure.iter().enumerate() {
            if spec.argv.is_empty() {
                return Err(bad(
                    "argv",
                    format!("[[infrastructure]] {} has an empty argv", spec.name),
                ));
            }
            if t.infrastructure[..i].iter().any(|o| o.name == spec.name)
                || t.node.ports.contains(&spec.name)
            {
                return Err(bad(
                    "name",
                    format!("infrastructure name {} is used twice", spec.name),
                ));
            }
            if spec.members == 0 || spec.members > MAX_MEMBERS {
                return Err(bad(
                    "members",
                    format!(
                        "[[infrastructure]] {}: members must be between 1 and {MAX_MEMBERS}, got {}",
                        spec.name, spec.members
                    ),
                ));
            }
            if spec.member_entry.contains("{members}") {
                return Err(bad(
                    "member_entry",
                    format!(
                        "[[infrastructure]] {}: member_entry cannot use {{members}} (it is one entry of it)",
                        spec.name
                    ),
                ));
            }
            if let Some(path) = &spec.ready_path {
                if !path.starts_with('/') {
                    return Err(bad(
                        "ready_path",
                        format!(
                            "[[infrastructure]] {}: ready_path must be an HTTP path starting with /, got {path:?}",
                            spec.name
                        ),
                    ));
                }
            }
            for ph in spec
                .argv
                .iter()
                .chain(spec.env.values())
                .chain(std::iter::once(&spec.member_entry))
                .flat_map(|a| placeholders(a))
            {
                if !INFRA_PLACEHOLDERS.contains(&ph) && !spec.ports.iter().any(|p| p == ph) {
                    return Err(TargetError::Invalid {
                        file: origin.to_string(),
                        line: text
                            .find(&format!("{{{ph}}}"))
                            .map(|o| line_of(text, o))
                            .unwrap_or(1),
                        message: format!(
                            "unknown placeholder {{{ph}}} in [[infrastructure]] {}; known: {}",
                            spec.name,
                            INFRA_PLACEHOLDERS
                                .iter()
                                .map(|k| format!("{{{k}}}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                    });
                }
            }
        }
        let known: Vec<&str> = PLACEHOLDERS
            .iter()
            .copied()
            .chain(t.node.ports.iter().map(String::as_str))
            .chain(infra_names.iter().map(String::as_str))
            .collect();
        let probe_templates = t.probe.iter().flat_map(|p| {
            p.url
                .iter()
                .chain(p.body.iter())
                .chain(p.command.iter().flatten())
        });
        let templates = t
            .node
            .argv
            .iter()
            .chain(t.node.env.values())
            .chain(t.node.cwd.iter())
            .chain(probe_templates);
        for s in templates {
            for ph in placeholders(s) {
                if !known.contains(&ph) {
                    return Err(TargetError::Invalid {
                        file: origin.to_string(),
                        line: text
                            .find(&format!("{{{ph}}}"))
                            .map(|o| line_of(text, o))
                            .unwrap_or(1),
                        message: format!(
                            "unknown placeholder {{{ph}}}; known: {}",
                            known
                                .iter()
                                .map(|k| format!("{{{k}}}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A placeholder is `{` + an identifier (`[A-Za-z_][A-Za-z0-9_.]*`) + `}`;
/// any other brace (and `${...}`, shell syntax) is literal, so JSON or shell
/// code in an argv is left alone.
fn placeholder_at(s: &str, open: usize) -> Option<&str> {
    if s[..open].ends_with('$') {
        return None;
    }
    let rest = &s[open + 1..];
    let close = rest.find('}')?;
    let name = &rest[..close];
    let mut chars = name.chars();
    let first = chars.next()?;
    ((first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'))
    .then_some(name)
}

/// `{name}` placeholders in a template, in order.
pub fn placeholders(s: &str) -> Vec<&str> {
    s.match_indices('{')
        .filter_map(|(i, _)| placeholder_at(s, i))
        .collect()
}

/// Replace every `{name}` in `template` using `vars`; unknown names and
/// literal braces are left as they are (validation already rejected unknown names).
pub fn expand(template: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut i = 0;
    while let Some(off) = template[i..].find('{') {
        let open = i + off;
        out.push_str(&template[i..open]);
        match placeholder_at(template, open).and_then(|name| vars.get(name).map(|v| (name, v))) {
            Some((name, value)) => {
                out.push_str(value);
                i = open + name.len() + 2;
            }
            None => {
                out.push('{');
                i = open + 1;
            }
        }
    }
    out.push_str(&template[i..]);
    out
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.starts_with(key) && l[key.len()..].trim_start().starts_with('=')
        })
        .map(|i| i + 1)
        .unwrap_or(1)
}

fn default_method() -> String {
    "GET".to_string()
}
fn default_probe_interval() -> Duration {
    Duration::from_millis(20)
}
fn default_probe_timeout() -> Duration {
    Duration::from_millis(500)
}
fn default_cluster_entry() -> String {
    "{id}={addr}".to_string()
}
fn default_members() -> usize {
    1
}
fn default_member_entry() -> String {
    "{addr}".to_string()
}
fn default_nodes() -> usize {
    3
}
fn default_ready_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_election_timeout() -> [Duration; 2] {
    [Duration::from_millis(150), Duration::from_millis(300)]
}

/// A duration as written in a file. A bare number is refused: it meant
/// milliseconds in files while it means seconds on the command line, and
/// one file read two ways is worse than one more keystroke.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Number(f64),
    Text(String),
}

/// The message for a bare number where a duration belongs: both readings,
/// so the fix is a copy away.
pub fn bare_number_message(n: f64) -> String {
    format!(
        "{n} is a bare number, not a duration: write \"{n}ms\" or \"{n}s\" (with the unit; a \
         bare number means seconds on the command line and nothing in a file)"
    )
}

impl RawDuration {
    fn into_duration<E: serde::de::Error>(self) -> Result<Duration, E> {
        match self {
            RawDuration::Number(n) => Err(E::custom(bare_number_message(n))),
            RawDuration::Text(s) => humantime::parse_duration(&s).map_err(|e| {
                E::custom(format!(
                    "'{s}' is not a duration ({e}); write e.g. \"250ms\" or \"2s\""
                ))
            }),
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    RawDuration::deserialize(d)?.into_duration()
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Ok(Some(RawDuration::deserialize(d)?.into_duration()?))
}

fn duration_pair<'de, D: Deserializer<'de>>(d: D) -> Result<[Duration; 2], D::Error> {
    let [a, b] = <[RawDuration; 2]>::deserialize(d)?;
    Ok([a.into_duration()?, b.into_duration()?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_raft_loads() {
        let t = Target::load("raft").unwrap();
        assert_eq!(t.name, "raft");
        assert_eq!(t.nodes, 5);
        assert_eq!(
            t.timing.election_timeout,
            [Duration::from_millis(150), Duration::from_millis(300)]
        );
        assert!(t.promises.persistent_term);
    }

    #[test]
    fn every_builtin_target_loads() {
        for (name, _) in nodes::target::BUILTIN_TARGETS {
            let t = Target::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(t.name, *name);
        }
        let slow = Target::load("etcdctl-elect").unwrap();
        assert_eq!(slow.infrastructure[0].members, 3);
        assert!(
            slow.timing.gap_bound() > Duration::from_secs(60),
            "a dead leader's key stays 60 s"
        );
    }

    #[test]
    fn unknown_target_lists_builtins() {
        let e = Target::load("no-such-target").unwrap_err().to_string();
        assert!(
            e.contains("unknown target 'no-such-target'") && e.contains("raft"),
            "{e}"
        );
    }

    #[test]
    fn bad_toml_names_file_and_line() {
        let text = "name = \"x\"\n\n[node]\nargv = [\"a\"\nready = \"stdout\"\n";
        let e = Target::parse(text, "mine.toml", "x")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("mine.toml:"), "{e}");
        let line: usize = e.split(':').nth(1).unwrap().parse().unwrap();
        assert!((4..=5).contains(&line), "{e}");
    }

    #[test]
    fn unknown_key_points_at_its_line() {
        let text =
            "name = \"x\"\n[node]\nargv = [\"a\"]\n[timing]\nelection_timout = [\"1s\", \"2s\"]\n";
        let e = Target::parse(text, "mine.toml", "x")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("mine.toml:5:") && e.contains("election_timout"),
            "{e}"
        );
    }

    #[test]
    fn unknown_placeholder_is_rejected_with_line() {
        let text = "[node]\nargv = [\"prog\",\n  \"--x\", \"{nope}\"]\n";
        let e = Target::parse(text, "t.toml", "t").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:3:") && e.contains("{nope}"), "{e}");
    }

    #[test]
    fn infrastructure_parses_and_adds_its_placeholder() {
        let text = r#"
[node]
argv = ["prog", "--redis", "{infra.redis}"]
[[infrastructure]]
name = "redis"
argv = ["redis-server", "--port", "{port}", "--dir", "{dir}"]
package = "redis-server"
"#;
        let t = Target::parse(text, "t.toml", "t").unwrap();
        assert_eq!(t.infrastructure[0].name, "redis");
        let with_port = text
            .replace("{dir}\"]", "{dir}\", \"--peer\", \"{peer_port}\"]")
            .replace("package = ", "ports = [\"peer_port\"]\npackage = ");
        assert!(
            Target::parse(&with_port, "t.toml", "t").is_ok(),
            "declared extra port is a placeholder"
        );
        let undeclared = with_port.replace("ports = [\"peer_port\"]\n", "");
        assert!(Target::parse(&undeclared, "t.toml", "t").is_err());
        let bad = text.replace("{infra.redis}", "{infra.etcd}");
        let e = Target::parse(&bad, "t.toml", "t").unwrap_err().to_string();
        assert!(e.contains("{infra.etcd}"), "{e}");
        let bad = text.replace("{dir}", "{data_dir}");
        let e = Target::parse(&bad, "t.toml", "t").unwrap_err().to_string();
        assert!(
            e.contains("t.toml:6:") && e.contains("[[infrastructure]] redis"),
            "{e}"
        );
    }

    #[test]
    fn infrastructure_clusters_are_validated() {
        let text = r#"
[node]
argv = ["prog", "--etcd", "{infra.etcd}"]
[[infrastructure]]
name = "etcd"
members = 3
member_entry = "m{member}=http://127.0.0.1:{peer_port}"
ports = ["peer_port"]
ready_path = "/health"
argv = ["etcd", "--name", "m{member}", "--initial-cluster", "{members}"]
"#;
        let t = Target::parse(text, "t.toml", "t").unwrap();
        assert_eq!(t.infrastructure[0].members, 3);
        let e = Target::parse(&text.replace("members = 3", "members = 0"), "t.toml", "t")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.toml:6:") && e.contains("members must be"),
            "{e}"
        );
        let e = Target::parse(&text.replace("{peer_port}\"", "{members}\""), "t.toml", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("member_entry cannot use"), "{e}");
        let e = Target::parse(&text.replace("{peer_port}\"", "{nope}\""), "t.toml", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("{nope}"), "{e}");
        let e = Target::parse(&text.replace("\"/health\"", "\"health\""), "t.toml", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ready_path"), "{e}");
        // The single-member default keeps old targets working.
        let single = Target::load("redis-lease").unwrap();
        assert_eq!(single.infrastructure[0].members, 1);
    }

    #[test]
    fn bad_duration_says_how_to_write_one() {
        let text = "[node]\nargv = [\"prog\"]\n[timing]\nheartbeat = \"soon\"\n";
        let e = Target::parse(text, "t.toml", "t").unwrap_err().to_string();
        assert!(e.contains("t.toml:4:") && e.contains("250ms"), "{e}");
    }

    #[test]
    fn a_bare_number_is_not_a_duration_and_the_error_offers_both_units() {
        let text = "[node]\nargv = [\"prog\"]\nready_timeout = 250\n";
        let e = Target::parse(text, "t.toml", "t").unwrap_err().to_string();
        assert!(e.contains("t.toml:3:"), "points at the line: {e}");
        assert!(e.contains("\"250ms\" or \"250s\""), "{e}");
        let text = "[node]\nargv = [\"prog\"]\n[timing]\nelection_timeout = [150, \"300ms\"]\n";
        let e = Target::parse(text, "t.toml", "t").unwrap_err().to_string();
        assert!(e.contains("t.toml:4:") && e.contains("\"150ms\""), "{e}");
    }

    #[test]
    fn expand_replaces_known_and_keeps_others() {
        let mut v = BTreeMap::new();
        v.insert("id".to_string(), "n1".to_string());
        assert_eq!(expand("--id={id} {x} {", &v), "--id=n1 {x} {");
        assert_eq!(placeholders("{a}-{b}"), vec!["a", "b"]);
        // JSON and shell braces are literal, not placeholders.
        let json = r#"echo '{"type":"ready"}' {id}"#;
        assert_eq!(placeholders(json), vec!["id"]);
        assert_eq!(expand(json, &v), r#"echo '{"type":"ready"}' n1"#);
        assert_eq!(
            placeholders("${HOME} { } {1x} {infra.redis}"),
            vec!["infra.redis"]
        );
    }
}
