//! Turning a node's stdout lines into history events (contract 1).
//! Anything that is not a protocol object is kept as `garbage`, never fatal.

use checkers::history::{
    Event, GarbageRecord, NodeEventRecord, ProcessEvent, ProcessRecord, Role, Source, StateRecord,
    VoteRecord,
};
use serde::Deserialize;

/// Longest garbage line kept (contract 1).
pub const GARBAGE_LIMIT: usize = 4096;

#[derive(Deserialize)]
struct StateLine {
    role: Role,
    term: u64,
    #[serde(default)]
    leader: Option<String>,
}

#[derive(Deserialize)]
struct VoteLine {
    term: u64,
    #[serde(rename = "for")]
    candidate: String,
    #[serde(default)]
    voter_log: Option<[u64; 2]>,
    #[serde(default)]
    candidate_log: Option<[u64; 2]>,
}

/// Parse one stdout line of `node` (process `pid`) into the event to record.
pub fn parse_line(node: &str, pid: u32, line: &str) -> Event {
    let garbage = || {
        let mut end = line.len().min(GARBAGE_LIMIT);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        Event::Garbage(GarbageRecord {
            node: node.to_string(),
            pid: Some(pid),
            line: line[..end].to_string(),
        })
    };
    let Ok(serde_json::Value::Object(obj)) = serde_json::from_str::<serde_json::Value>(line) else {
        return garbage();
    };
    let kind = obj.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let value = serde_json::Value::Object(obj.clone());
    match kind {
        "ready" => Event::Process(ProcessRecord {
            node: node.to_string(),
            event: ProcessEvent::Ready,
            pid: Some(pid),
            status: None,
            expected: None,
            stderr_tail: None,
        }),
        "state" => match serde_json::from_value::<StateLine>(value) {
            Ok(s) => Event::State(StateRecord {
                node: node.to_string(),
                pid: Some(pid),
                role: s.role,
                term: s.term,
                leader: s.leader,
                src: Source::Stdout,
            }),
            Err(_) => garbage(),
        },
        "vote" => match serde_json::from_value::<VoteLine>(value) {
            Ok(v) => Event::Vote(VoteRecord {
                node: node.to_string(),
                pid: Some(pid),
                term: v.term,
                candidate: v.candidate,
                voter_log: v.voter_log,
                candidate_log: v.candidate_log,
            }),
            Err(_) => garbage(),
        },
        "" => garbage(),
        _ => Event::NodeEvent(NodeEventRecord {
            node: node.to_string(),
            pid: Some(pid),
            event: value,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_lines() {
        match parse_line(
            "n1",
            7,
            r#"{"type":"state","role":"leader","term":4,"leader":"n1"}"#,
        ) {
            Event::State(s) => {
                assert_eq!(
                    (s.role, s.term, s.leader.as_deref(), s.pid),
                    (Role::Leader, 4, Some("n1"), Some(7))
                )
            }
            e => panic!("{e:?}"),
        }
        assert!(
            matches!(parse_line("n1", 7, r#"{"type":"ready"}"#), Event::Process(p) if p.event == ProcessEvent::Ready)
        );
        match parse_line(
            "n2",
            8,
            r#"{"type":"vote","term":5,"for":"n3","voter_log":[4,17],"candidate_log":[4,18]}"#,
        ) {
            Event::Vote(v) => assert_eq!(
                (v.term, v.candidate.as_str(), v.candidate_log),
                (5, "n3", Some([4, 18]))
            ),
            e => panic!("{e:?}"),
        }
        assert!(matches!(
            parse_line("n1", 7, r#"{"type":"gossip","x":1}"#),
            Event::NodeEvent(_)
        ));
    }

    #[test]
    fn garbage_is_kept_and_truncated() {
        assert!(
            matches!(parse_line("n1", 7, "hello world"), Event::Garbage(g) if g.line == "hello world")
        );
        assert!(matches!(
            parse_line("n1", 7, r#"{"type":"state","term":-1}"#),
            Event::Garbage(_)
        ));
        assert!(matches!(
            parse_line("n1", 7, r#"{"role":"leader"}"#),
            Event::Garbage(_)
        ));
        let long = "é".repeat(5000);
        match parse_line("n1", 7, &long) {
            Event::Garbage(g) => assert!(g.line.len() <= GARBAGE_LIMIT),
            e => panic!("{e:?}"),
        }
    }
}
