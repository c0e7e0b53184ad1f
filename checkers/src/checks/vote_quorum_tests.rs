//! `vote-quorum` on hand-made histories: every leader of term T was granted
//! votes in term T by a majority of distinct voters (docs/checkers.md,
//! section 11). Headers: heartbeat 50 ms, so a vote recorded up to 50 ms
//! after a claim still counts for it.

use crate::{CheckOptions, CheckResult, Verdict, CHECKER_NAMES, SAFETY_CHECKERS};
use serde_json::json;

use crate::testkit::H;

/// What these tests add to the shared history builder.
trait VoteQuorumHistory {
    fn state(&mut self, t: u64, node: usize, role: &str, term: u64) -> u64;
    fn vote(&mut self, t: u64, voter: usize, term: u64, candidate: usize) -> u64;
    fn vote_quorum(&self) -> CheckResult;
}

impl VoteQuorumHistory for H {
    fn state(&mut self, t: u64, node: usize, role: &str, term: u64) -> u64 {
        let leader = (role == "leader").then(|| format!("n{node}"));
        self.at(
            t,
            json!({"type": "state", "node": format!("n{node}"), "pid": 100 + node, "role": role,
                   "term": term, "leader": leader}),
        )
    }

    fn vote(&mut self, t: u64, voter: usize, term: u64, candidate: usize) -> u64 {
        self.at(
            t,
            json!({"type": "vote", "node": format!("n{voter}"), "pid": 100 + voter,
                   "term": term, "for": format!("n{candidate}")}),
        )
    }

    fn vote_quorum(&self) -> CheckResult {
        let report = self.check_with(&CheckOptions::default());
        report
            .results
            .into_iter()
            .find(|r| r.checker == "vote-quorum")
            .expect("vote-quorum result")
    }
}

fn five() -> H {
    H::started(5, json!({}))
}

#[test]
fn a_leader_backed_by_a_majority_of_distinct_voters_is_valid() {
    let mut h = five();
    h.state(300, 1, "candidate", 1);
    h.vote(300, 1, 1, 1);
    h.vote(301, 2, 1, 1);
    h.vote(301, 3, 1, 1);
    h.state(302, 1, "leader", 1);
    let r = h.vote_quorum();
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
    assert_eq!(r.details["claims"], 1);
    assert_eq!(r.details["min_support"], 3);
    assert_eq!(r.figure, "1 leaders judged, 0 without a majority of votes");
}

#[test]
fn a_voter_counted_twice_is_caught_with_no_second_leader() {
    let mut h = five();
    h.state(300, 1, "candidate", 1);
    h.vote(300, 1, 1, 1);
    let grant = h.vote(301, 2, 1, 1);
    // The same voter's grant again (a retried request): still one voter.
    h.vote(351, 2, 1, 1);
    let claim = h.state(352, 1, "leader", 1);
    h.state(353, 2, "follower", 1);
    let r = h.vote_quorum();
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    assert_eq!(r.details["violations"], 1);
    assert_eq!(r.details["min_support"], 2);
    let e = &r.evidence[0];
    assert!(e.seqs.contains(&grant) && e.seqs.contains(&claim), "{e:?}");
    assert_eq!(e.nodes, vec!["n1".to_string(), "n2".to_string()]);
    assert!(
        e.message
            .contains("only 2 of 5 distinct voters (n1, n2); a majority is 3"),
        "{}",
        e.message
    );
    // term-uniqueness has nothing to say: there is one leader.
    let report = h.check_with(&CheckOptions::default());
    let tu = report
        .results
        .iter()
        .find(|r| r.checker == "term-uniqueness")
        .unwrap();
    assert_eq!(tu.verdict, Verdict::Valid);
}

#[test]
fn grants_from_an_earlier_term_do_not_count() {
    let mut h = five();
    h.state(300, 1, "candidate", 1);
    h.vote(300, 1, 1, 1);
    h.vote(301, 2, 1, 1);
    h.vote(301, 3, 1, 1);
    h.state(600, 1, "candidate", 2);
    h.vote(600, 1, 2, 1);
    h.state(650, 1, "leader", 2);
    let r = h.vote_quorum();
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    assert!(r.evidence[0].message.contains("term 2"), "{:?}", r.evidence);
}

#[test]
fn a_vote_line_read_just_after_the_claim_still_counts() {
    let mut h = five();
    h.state(300, 1, "candidate", 1);
    h.vote(300, 1, 1, 1);
    h.vote(301, 2, 1, 1);
    h.state(302, 1, "leader", 1);
    // n3's vote line arrives 40 ms late, inside the 50 ms slack.
    h.vote(342, 3, 1, 1);
    h.state(500, 2, "follower", 1);
    assert_eq!(h.vote_quorum().verdict, Verdict::Valid);

    // 100 ms late is too late: it did not elect n1.
    let mut late = five();
    late.state(300, 1, "candidate", 1);
    late.vote(301, 2, 1, 1);
    late.state(302, 1, "leader", 1);
    late.vote(402, 3, 1, 1);
    assert_eq!(late.vote_quorum().verdict, Verdict::Invalid);
}

#[test]
fn the_candidates_own_vote_is_assumed_and_counted_once() {
    let mut h = H::started(3, json!({}));
    // No self vote reported: n1 still has two of three.
    h.vote(301, 2, 1, 1);
    h.state(302, 1, "leader", 1);
    assert_eq!(h.vote_quorum().verdict, Verdict::Valid);
    // A repeated claim in later state lines is judged once.
    h.state(400, 1, "leader", 1);
    assert_eq!(h.vote_quorum().details["claims"], 1);
}

#[test]
fn a_claim_at_the_end_of_the_history_is_judged() {
    let mut h = five();
    h.vote(301, 2, 1, 1);
    h.state(302, 1, "leader", 1);
    let r = h.vote_quorum();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.details["claims"], 1);
}

#[test]
fn without_vote_events_a_leader_needs_a_majority_that_reached_its_term() {
    // Every node reports the term before it votes in it (node protocol):
    // n2 and n3 follow n1 into term 1 within the slack, a majority of 5.
    let mut h = five();
    h.state(300, 1, "candidate", 1);
    h.state(301, 2, "follower", 1);
    h.state(302, 1, "leader", 1);
    h.state(330, 3, "follower", 1);
    let r = h.vote_quorum();
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
    assert_eq!(r.details["source"], "terms");
    assert!(
        r.figure.starts_with("no vote events: 1 leaders judged"),
        "{}",
        r.figure
    );

    // n1 campaigns on alone to term 4 and counts old grants: nobody else
    // has reached term 4 when it takes office.
    let mut h = five();
    for i in 1..=5 {
        h.state(100, i, "follower", 1);
    }
    h.state(300, 1, "candidate", 4);
    let claim = h.state(900, 1, "leader", 4);
    h.state(1500, 2, "follower", 4);
    let r = h.vote_quorum();
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    let e = &r.evidence[0];
    assert!(e.seqs.contains(&claim));
    assert!(
        e.message
            .contains("only 1 of 5 nodes, itself included, had reported term 4"),
        "{}",
        e.message
    );
}

#[test]
fn without_vote_events_a_service_election_is_not_applicable_and_expected_votes_are_unknown() {
    let mut h = H::started(5, json!({"liveness": "via-infrastructure"}));
    h.state(302, 1, "leader", 1);
    let r = h.vote_quorum();
    assert_eq!(r.verdict, Verdict::Valid);
    assert_eq!(r.figure, "not applicable: no vote events");
    assert_eq!(r.details["applicable"], false);

    let mut expected = H::started(5, json!({"extra": {"votes_expected": true}}));
    expected.state(302, 1, "leader", 1);
    let r = expected.vote_quorum();
    assert_eq!(r.verdict, Verdict::Unknown);
}

#[test]
fn it_is_a_listed_safety_checker_after_quorum_leader() {
    let at = CHECKER_NAMES.iter().position(|n| *n == "vote-quorum");
    let after = CHECKER_NAMES.iter().position(|n| *n == "quorum-leader");
    assert_eq!(at, after.map(|i| i + 1));
    assert!(SAFETY_CHECKERS.contains(&"vote-quorum"));
    let only = CheckOptions {
        only: Some(vec!["vote-quorum".into()]),
        ..CheckOptions::default()
    };
    let mut h = five();
    h.vote(301, 2, 1, 1);
    h.state(302, 1, "leader", 1);
    let report = h.check_with(&only);
    let names: Vec<&str> = report.results.iter().map(|r| r.checker.as_str()).collect();
    assert_eq!(names, ["vote-quorum"]);
}
