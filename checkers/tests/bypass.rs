//! A `bypass` warning (node traffic that avoided the proxy) makes the
//! network-dependent verdicts unknown when the run had network faults; safety
//! verdicts stand.

use checkers::history::*;
use checkers::{check, CheckOptions, Verdict};

fn history(with_cut: bool, with_bypass: bool) -> Vec<Record> {
    history_with(with_cut, with_bypass, r#""liveness":"peer-quorum""#)
}

fn history_with(with_cut: bool, with_bypass: bool, liveness: &str) -> Vec<Record> {
    let header: RunHeader = serde_json::from_str(&format!(
        r#"{{"target":"t","nodes":["n1","n2","n3"],"persistent_term":true,{liveness}}}"#
    ))
    .unwrap();
    let mut events = vec![Event::Run(header)];
    for (i, n) in ["n1", "n2", "n3"].iter().enumerate() {
        events.push(Event::Process(ProcessRecord {
            node: n.to_string(),
            event: ProcessEvent::Start,
            pid: Some(i as u32 + 1),
            status: None,
            expected: None,
            stderr_tail: None,
        }));
    }
    events.push(Event::State(StateRecord {
        node: "n1".into(),
        pid: Some(1),
        role: Role::Leader,
        term: 1,
        leader: Some("n1".into()),
        src: Source::Stdout,
    }));
    if with_cut {
        events.push(Event::Net(NetRecord {
            cut: vec![["n2".into(), "n3".into()]],
            degraded: vec![],
        }));
        events.push(Event::Net(NetRecord::default()));
    }
    if with_bypass {
        events.push(Event::Warning(WarningRecord {
            kind: "bypass".into(),
            message: "n1:7001 <-> n2:7002".into(),
        }));
    }
    events.push(Event::End(EndRecord::default()));
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Record {
            seq: i as u64,
            t: i as u64 * 1_000_000,
            event,
        })
        .collect()
}

fn verdict(r: &checkers::Report, name: &str) -> Verdict {
    r.results
        .iter()
        .find(|c| c.checker == name)
        .unwrap()
        .verdict
}

#[test]
fn bypass_with_network_faults_makes_gap_verdicts_unknown_not_safety() {
    let r = check(history(true, true), &CheckOptions::default());
    assert_eq!(verdict(&r, "election-gap"), Verdict::Unknown);
    assert_eq!(verdict(&r, "stability"), Verdict::Unknown);
    assert_eq!(verdict(&r, "term-uniqueness"), Verdict::Valid);
    assert_eq!(verdict(&r, "quorum-leader"), Verdict::Unknown);
    assert!(
        r.warnings.iter().any(|w| w.contains("n1:7001")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn bypass_without_network_faults_or_no_bypass_changes_nothing() {
    for (cut, bypass) in [(false, true), (true, false)] {
        let r = check(history(cut, bypass), &CheckOptions::default());
        assert_eq!(
            verdict(&r, "election-gap"),
            Verdict::Valid,
            "cut {cut} bypass {bypass}"
        );
    }
}

/// quorum-leader is not applicable to a via-infrastructure target: a bypass
/// leaves nothing of it to distrust, so it stays valid (not unknown, which
/// would fail a campaign for nothing).
#[test]
fn bypass_leaves_a_not_applicable_quorum_leader_valid() {
    let r = check(
        history_with(
            true,
            true,
            r#""liveness":"via-infrastructure","infrastructure":["redis"]"#,
        ),
        &CheckOptions::default(),
    );
    let q = r
        .results
        .iter()
        .find(|c| c.checker == "quorum-leader")
        .unwrap();
    assert_eq!(q.verdict, Verdict::Valid, "{}", q.figure);
    assert!(q.figure.starts_with("not applicable"), "{}", q.figure);
}
