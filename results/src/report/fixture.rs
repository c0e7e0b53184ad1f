//! Hand-built histories and reports for the renderers' tests: a 3-node Raft
//! run with a kill, a restart, an isolating partition (during which the
//! isolated old leader wrongly claims the new leader's term), a heal and a
//! pause; plus a generated many-node run for layout tests.

use checkers::history::{
    EndRecord, ExitStatus, NemesisRecord, NetRecord, ProcessEvent, ProcessRecord, Role, Source,
    StateRecord,
};
use checkers::{CheckResult, Election, Event, Evidence, Record, Report, RunHeader, Verdict};
use serde_json::json;

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

pub fn header() -> RunHeader {
    serde_json::from_value(json!({
        "target": "raft",
        "nodes": ["n1", "n2", "n3"],
        "seed": 42,
        "nemesis": "partition-kill-pause",
        "time_limit_ms": 35000,
        "recovery_ms": 5000,
        "replay": "splitbrain run --target raft --seed 42 --nemesis partition-kill-pause"
    }))
    .expect("fixture header")
}

fn header_for(nodes: &[String]) -> RunHeader {
    let mut header = header();
    header.nodes = nodes.to_vec();
    header
}

/// Builds records with increasing `seq`.
struct HistoryBuilder {
    records: Vec<Record>,
}

impl HistoryBuilder {
    fn new(header: RunHeader) -> Self {
        Self {
            records: vec![Record {
                seq: 0,
                t: 0,
                event: Event::Run(header),
            }],
        }
    }

    fn push(&mut self, t: u64, event: Event) -> &mut Self {
        let seq = self.records.len() as u64;
        self.records.push(Record { seq, t, event });
        self
    }

    fn process(&mut self, t: u64, node: &str, event: ProcessEvent, pid: u32) -> &mut Self {
        let exit = event == ProcessEvent::Exit;
        self.push(
            t,
            Event::Process(ProcessRecord {
                node: node.into(),
                event,
                pid: Some(pid),
                status: exit.then_some(ExitStatus {
                    code: None,
                    signal: Some(9),
                }),
                expected: exit.then_some(true),
                stderr_tail: None,
            }),
        )
    }

    fn state(
        &mut self,
        t: u64,
        node: &str,
        pid: u32,
        role: Role,
        term: u64,
        leader: Option<&str>,
    ) -> &mut Self {
        self.push(
            t,
            Event::State(StateRecord {
                node: node.into(),
                pid: Some(pid),
                role,
                term,
                leader: leader.map(str::to_string),
                src: Source::Stdout,
            }),
        )
    }

    fn nemesis(&mut self, t: u64, op: &str, nodes: &[&str]) -> &mut Self {
        self.push(
            t,
            Event::Nemesis(NemesisRecord {
                op: op.into(),
                nodes: nodes.iter().map(|n| n.to_string()).collect(),
                detail: None,
            }),
        )
    }

    fn net(&mut self, t: u64, cut: &[(&str, &str)]) -> &mut Self {
        self.push(
            t,
            Event::Net(NetRecord {
                cut: cut
                    .iter()
                    .map(|(a, b)| [a.to_string(), b.to_string()])
                    .collect(),
                degraded: vec![],
            }),
        )
    }
}

/// The 3-node history (44 records).
pub fn records() -> Vec<Record> {
    use ProcessEvent::*;
    use Role::*;
    let mut h = HistoryBuilder::new(header());
    for (i, node) in ["n1", "n2", "n3"].iter().enumerate() {
        h.process(MS + i as u64, node, Start, 4241 + i as u32);
    }
    for (i, node) in ["n1", "n2", "n3"].iter().enumerate() {
        h.process(50 * MS + i as u64, node, Ready, 4241 + i as u32);
    }
    for (i, node) in ["n1", "n2", "n3"].iter().enumerate() {
        h.state(60 * MS + i as u64, node, 4241 + i as u32, Follower, 0, None);
    }
    h.state(310 * MS, "n2", 4242, Candidate, 1, None) // seq 10
        .state(330 * MS, "n2", 4242, Leader, 1, Some("n2")) // 11
        .state(340 * MS, "n1", 4241, Follower, 1, Some("n2"))
        .state(341 * MS, "n3", 4243, Follower, 1, Some("n2"))
        .nemesis(5 * S, "kill", &["n2"]) // 14
        .process(5 * S, "n2", Kill, 4242) // 15
        .process(5 * S + MS, "n2", Exit, 4242)
        .state(5300 * MS, "n3", 4243, Candidate, 2, None)
        .state(5320 * MS, "n3", 4243, Leader, 2, Some("n3")) // 18
        .state(5330 * MS, "n1", 4241, Follower, 2, Some("n3"))
        .nemesis(10 * S, "restart", &["n2"]) // 20
        .process(10 * S, "n2", Start, 4250)
        .process(10050 * MS, "n2", Ready, 4250)
        .state(10060 * MS, "n2", 4250, Follower, 2, Some("n3"))
        .nemesis(15 * S, "isolate", &["n3"]) // 24
        .net(
            15 * S,
            &[("n1", "n3"), ("n3", "n1"), ("n2", "n3"), ("n3", "n2")],
        ) // 25
        .state(15400 * MS, "n1", 4241, Candidate, 3, None)
        .state(15420 * MS, "n1", 4241, Leader, 3, Some("n1")) // 27
        .state(15430 * MS, "n2", 4250, Follower, 3, Some("n1"))
        .state(15600 * MS, "n3", 4243, Candidate, 3, None)
        .state(15610 * MS, "n3", 4243, Leader, 3, Some("n3")) // 30: the bug
        .nemesis(20 * S, "heal", &[]) // 31
        .net(20 * S, &[]) // 32
        .state(20100 * MS, "n3", 4243, Follower, 3, Some("n1"))
        .nemesis(25 * S, "pause", &["n1"]) // 34
        .process(25 * S, "n1", Pause, 4241)
        .state(25400 * MS, "n2", 4250, Candidate, 4, None)
        .state(25450 * MS, "n2", 4250, Leader, 4, Some("n2")) // 37
        .state(25460 * MS, "n3", 4243, Follower, 4, Some("n2"))
        .nemesis(30 * S, "resume", &["n1"]) // 39
        .process(30 * S, "n1", Resume, 4241)
        .state(30010 * MS, "n1", 4241, Follower, 4, Some("n2"))
        .nemesis(35 * S, "recover", &[]) // 42
        .push(
            40 * S,
            Event::End(EndRecord {
                interrupted: false,
                reason: None,
            }),
        );
    h.records
}

fn result(
    checker: &str,
    verdict: Verdict,
    figure: &str,
    details: serde_json::Value,
) -> CheckResult {
    CheckResult {
        checker: checker.into(),
        verdict,
        figure: figure.into(),
        evidence: vec![],
        details,
    }
}

/// What the checkers would say about [`records`]: term-uniqueness invalid,
/// vote-once unknown (no vote events), the rest valid.
pub fn report() -> Report {
    let mut uniqueness = result(
        "term-uniqueness",
        Verdict::Invalid,
        "4 terms, 1 conflict",
        json!({"terms": 4, "conflicts": 1}),
    );
    uniqueness.evidence.push(Evidence {
        seqs: vec![27, 30],
        window: [15420 * MS, 15610 * MS],
        nodes: vec!["n1".into(), "n3".into()],
        message:
            "term 3 claimed by n1 (seq 27) and by n3 (seq 30) while n3 was cut off from a quorum"
                .into(),
    });
    let gap = result(
        "election-gap",
        Verdict::Valid,
        "3 gaps, max 0.450 s ≤ 3.000 s",
        json!({
            "bound_ms": 3000,
            "gaps": [
                {"from": 5 * S, "to": 5320 * MS, "fault": "kill", "length_ms": 320.0},
                {"from": 15 * S, "to": 15420 * MS, "fault": "isolate", "length_ms": 420.0},
                {"from": 25 * S, "to": 25450 * MS, "fault": "pause", "length_ms": 450.0}
            ],
            "by_fault": {
                "kill": {"count": 1, "p50_ms": 320.0, "p95_ms": 320.0, "p99_ms": 320.0, "max_ms": 320.0},
                "isolate": {"count": 1, "p50_ms": 420.0, "p95_ms": 420.0, "p99_ms": 420.0, "max_ms": 420.0},
                "pause": {"count": 1, "p50_ms": 450.0, "p95_ms": 450.0, "p99_ms": 450.0, "max_ms": 450.0}
            }
        }),
    );
    Report {
        results: vec![
            uniqueness,
            result(
                "term-monotonic",
                Verdict::Valid,
                "0 decreases",
                json!({"decreases": 0}),
            ),
            gap,
            result(
                "stability",
                Verdict::Valid,
                "0 unnecessary of 5 elections",
                json!({"elections": 5, "unnecessary": 0}),
            ),
            result(
                "lease-overlap",
                Verdict::Valid,
                "live 4.490 s total (not exclusive)",
                json!({
                    "live": {"total_ms": 4490.0, "longest_ms": 4490.0},
                    "belief": {"total_ns": 9_580_000_000u64, "longest_ns": 4_680_000_000u64}
                }),
            ),
            result(
                "vote-once",
                Verdict::Unknown,
                "no vote events",
                serde_json::Value::Null,
            ),
        ],
        elections: vec![
            election(1, "n2", 330 * MS, Some(5 * S), "killed", 11),
            election(2, "n3", 5320 * MS, Some(15610 * MS), "superseded", 18),
            election(3, "n1", 15420 * MS, Some(25 * S), "paused", 27),
            election(3, "n3", 15610 * MS, Some(20100 * MS), "stepped down", 30),
            election(4, "n2", 25450 * MS, None, "end of run", 37),
        ],
        warnings: vec!["1 garbage line from n2".into()],
        events: 44,
    }
}

fn election(
    term: u64,
    leader: &str,
    elected_at: u64,
    lost_at: Option<u64>,
    how: &str,
    seq: u64,
) -> Election {
    Election {
        term,
        leader: leader.into(),
        elected_at,
        lost_at,
        how: how.into(),
        seq,
    }
}

/// A 60 s run of `count` nodes: a new leader every 4 s, each old leader
/// killed and restarted, a rolling partition of a minority, no checker results.
pub fn large_run(count: usize) -> (RunHeader, Vec<Record>) {
    use ProcessEvent::*;
    use Role::*;
    let nodes: Vec<String> = (1..=count).map(|i| format!("n{i}")).collect();
    let header = header_for(&nodes);
    let mut h = HistoryBuilder::new(header.clone());
    let mut pids: Vec<u32> = (0..count as u32).map(|i| 5000 + i).collect();
    for (i, node) in nodes.iter().enumerate() {
        h.process(MS, node, Start, pids[i]);
        h.state(2 * MS, node, pids[i], Follower, 0, None);
    }
    for round in 0..15u64 {
        let t0 = round * 4 * S + 100 * MS;
        let leader = (round as usize * 7) % count;
        let term = round + 1;
        h.state(t0, &nodes[leader], pids[leader], Candidate, term, None);
        h.state(
            t0 + 20 * MS,
            &nodes[leader],
            pids[leader],
            Leader,
            term,
            Some(&nodes[leader]),
        );
        for (i, node) in nodes.iter().enumerate() {
            if i != leader {
                h.state(
                    t0 + 30 * MS,
                    node,
                    pids[i],
                    Follower,
                    term,
                    Some(&nodes[leader]),
                );
            }
        }
        let minority: Vec<(String, String)> = nodes
            .iter()
            .take(count / 3)
            .flat_map(|a| {
                nodes
                    .iter()
                    .skip(count / 3)
                    .flat_map(move |b| [(a.clone(), b.clone()), (b.clone(), a.clone())])
            })
            .collect();
        if round % 3 == 1 {
            let cut: Vec<(&str, &str)> = minority
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            h.net(t0 + S, &cut);
            h.net(t0 + 2 * S, &[]);
        }
        h.nemesis(t0 + 3 * S, "kill", &[&nodes[leader]]);
        h.process(t0 + 3 * S, &nodes[leader], Kill, pids[leader]);
        pids[leader] += 100;
        h.process(t0 + 3500 * MS, &nodes[leader], Start, pids[leader]);
    }
    h.push(60 * S, Event::End(EndRecord::default()));
    (header, h.records)
}
