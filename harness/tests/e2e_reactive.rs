//! Faults that react to the history: each reactive fault follows, within a
//! few milliseconds, the recorded event it reacts to.

mod common;

use checkers::history::{Event, ProcessEvent, Role};
use common::*;

/// `(t of the reactive nemesis op, t of the latest trigger before it)` pairs.
fn reactions(
    records: &[checkers::history::Record],
    preset: &str,
    trigger: impl Fn(&Event, &str) -> bool,
) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if let Event::Nemesis(n) = &r.event {
            let reactive = n
                .detail
                .as_ref()
                .and_then(|d| d.get("reactive"))
                .and_then(|v| v.as_str());
            if reactive == Some(preset) {
                let node = &n.nodes[0];
                let trig = records[..i]
                    .iter()
                    .rev()
                    .find(|p| trigger(&p.event, node))
                    .expect("a trigger precedes the reaction");
                out.push((r.t, trig.t));
            }
        }
    }
    out
}

#[test]
fn kill_voter_kills_right_after_a_vote_and_pause_new_leader_right_after_election() {
    let store = tempfile::tempdir().unwrap();
    // Scheduled leader kills cause elections; the reactive presets act on them.
    let _ = run_in(
        store.path(),
        &[
            "--nodes",
            "3",
            "--seed",
            "2",
            "--time-limit",
            "8s",
            "--nemesis",
            "kill,kill-voter,pause-new-leader",
            "--nemesis-interval",
            "1500ms",
            "--fault-duration",
            "600ms",
            "--recovery",
            "2s",
        ],
    );
    let records = history(&latest(store.path()));
    let votes = reactions(
        &records,
        "kill-voter",
        |e, node| matches!(e, Event::Vote(v) if v.node == node && v.candidate != node),
    );
    let pauses = reactions(
        &records,
        "pause-new-leader",
        |e, node| matches!(e, Event::State(s) if s.node == node && s.role == Role::Leader),
    );
    assert!(
        !votes.is_empty() || !pauses.is_empty(),
        "some reactive fault fired"
    );
    // A killed voter is restarted at once: its forgotten state must meet the
    // same term again.
    for (i, r) in records.iter().enumerate() {
        let Event::Nemesis(n) = &r.event else {
            continue;
        };
        if n.detail
            .as_ref()
            .and_then(|d| d.get("reactive"))
            .and_then(|v| v.as_str())
            != Some("kill-voter")
        {
            continue;
        }
        let restart = records[i..]
            .iter()
            .find(|p| matches!(&p.event, Event::Process(pr) if pr.node == n.nodes[0] && pr.event == ProcessEvent::Start))
            .expect("the killed voter is restarted");
        let ms = (restart.t - r.t) as f64 / 1e6;
        assert!(
            ms < 200.0,
            "voter {} restarted {ms} ms after its kill",
            n.nodes[0]
        );
    }
    for (reaction, trigger) in votes.iter().chain(&pauses) {
        let ms = (reaction - trigger) as f64 / 1e6;
        assert!(ms < 50.0, "reaction {ms} ms after its trigger");
    }
}
