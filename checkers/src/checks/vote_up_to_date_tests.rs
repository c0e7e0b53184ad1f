//! Votes without log positions: vote-once still judges them, vote-up-to-date
//! says "not applicable" (valid), never unknown.

use crate::history::*;
use crate::{check, CheckOptions, Verdict};

fn rec(seq: u64, t: u64, event: Event) -> Record {
    Record { seq, t, event }
}

#[test]
fn votes_without_logs_are_not_applicable_for_up_to_date_but_counted_for_vote_once() {
    let header: RunHeader =
        serde_json::from_str(r#"{"target":"t","nodes":["n1","n2","n3"],"persistent_term":true}"#)
            .unwrap();
    let start = |seq, node: &str, pid| {
        rec(
            seq,
            seq,
            Event::Process(ProcessRecord {
                node: node.into(),
                event: ProcessEvent::Start,
                pid: Some(pid),
                status: None,
                expected: None,
                stderr_tail: None,
            }),
        )
    };
    let vote = |seq, node: &str, pid, term, cand: &str| {
        rec(
            seq,
            seq * 1000,
            Event::Vote(VoteRecord {
                node: node.into(),
                pid: Some(pid),
                term,
                candidate: cand.into(),
                voter_log: None,
                candidate_log: None,
            }),
        )
    };
    let mut h = vec![
        rec(0, 0, Event::Run(header)),
        start(1, "n1", 1),
        start(2, "n2", 2),
        start(3, "n3", 3),
    ];
    h.push(vote(4, "n2", 2, 1, "n1"));
    let r = check(&h, &CheckOptions::default());
    let up = r
        .results
        .iter()
        .find(|c| c.checker == "vote-up-to-date")
        .unwrap();
    assert_eq!(up.verdict, Verdict::Valid);
    assert!(up.figure.contains("not applicable"), "{}", up.figure);
    // A second vote in the same term for someone else is still caught.
    h.push(vote(5, "n2", 2, 1, "n3"));
    let r = check(&h, &CheckOptions::default());
    let once = r.results.iter().find(|c| c.checker == "vote-once").unwrap();
    assert_eq!(once.verdict, Verdict::Invalid);
}
