//! End to end: every seeded raft bug that a short fixed-seed run catches
//! reliably, each by the checker meant for it, and the correct node valid on
//! the very same command. Invocations and hit rates: docs/mutants.md.

mod common;

use common::*;

/// Isolate the leader (3 nodes), heal: it must hear the higher term.
fn partition_leader(seed: &'static str, time_limit: &'static str) -> Vec<&'static str> {
    vec![
        "--nodes",
        "3",
        "--seed",
        seed,
        "--nemesis",
        "partition-leader",
        "--nemesis-interval",
        "1500ms",
        "--fault-duration",
        "800ms",
        "--time-limit",
        time_limit,
        "--recovery",
        "2s",
    ]
}

/// Seed 1 for 6 s: one isolation of the leader.
fn partition_leader_short() -> Vec<&'static str> {
    partition_leader("1", "6s")
}

/// Pause and resume (5 nodes): resumed nodes whose timers ran out campaign at
/// once, so several candidates ask for votes in the same term.
const PAUSE: &[&str] = &[
    "--nodes",
    "5",
    "--seed",
    "1",
    "--nemesis",
    "pause",
    "--nemesis-interval",
    "1000ms",
    "--fault-duration",
    "500ms",
    "--time-limit",
    "10s",
    "--recovery",
    "2s",
];

/// One-way cuts (5 nodes; seed 6 deals three send-only cuts of a random node
/// first): a follower that cannot hear keeps campaigning with the log it had
/// while the others elect leaders that append entries.
const ONE_WAY: &[&str] = &[
    "--nodes",
    "5",
    "--seed",
    "6",
    "--nemesis",
    "one-way",
    "--nemesis-interval",
    "1200ms",
    "--fault-duration",
    "800ms",
    "--time-limit",
    "8s",
    "--recovery",
    "2s",
];

/// Split 5 nodes in two (seed 2: about 1.5 s in, n1 and n2 are cut off from
/// the other three): a node of the pair that counts ⌊N/2⌋ = 2 votes as a
/// majority takes office without a quorum.
const PARTITION: &[&str] = &[
    "--nodes",
    "5",
    "--seed",
    "2",
    "--nemesis",
    "partition",
    "--nemesis-interval",
    "1s",
    "--fault-duration",
    "1500ms",
    "--time-limit",
    "8s",
    "--recovery",
    "2s",
];

/// Short, frequent pauses (5 nodes) with `kill-voter`: a voter is killed
/// right after it grants a vote and restarted at once. Every fault of seed
/// 2724 pauses all nodes but one (at 1.25, 2.55 and 3.85 s): the four
/// resumed nodes campaign in the same term, the one that stayed up is the
/// only voter, so no candidate can win, and they keep asking it (one
/// RequestVote retry per heartbeat). Each such pause is a chance for
/// `kill-voter` to kill the voter and for a candidate to ask it again after
/// its restart. `splitbrain schedule --seeds 1-3000 --nemesis
/// pause,kill-voter --nemesis-interval 700ms --fault-duration 400ms
/// --time-limit 6s` lists the schedules: 7 seeds have three such pauses,
/// none has more.
const PAUSE_KILL_VOTER: &[&str] = &[
    "--nodes",
    "5",
    "--seed",
    "2724",
    "--nemesis",
    "pause,kill-voter",
    "--nemesis-interval",
    "700ms",
    "--fault-duration",
    "400ms",
    "--time-limit",
    "6s",
    "--recovery",
    "2s",
];

/// Partitions into two and three of five, with check-quorum (a leader cut
/// off from a majority steps down) and no vote events (as most third-party
/// nodes): seed 11 splits the cluster at 1.4 s, and a node of the pair that
/// counts replies wins with its one peer's grant counted twice.
const PARTITION_CHECK_QUORUM: &[&str] = &[
    "--nodes",
    "5",
    "--seed",
    "11",
    "--nemesis",
    "partition",
    "--nemesis-interval",
    "1s",
    "--fault-duration",
    "1500ms",
    "--time-limit",
    "6s",
    "--recovery",
    "2s",
    "--node-arg=--check-quorum",
    "--node-arg=--no-vote-events",
];

/// A delay spike of 800 ms on every link alike (5 nodes, no vote events):
/// seed 15 slows one node's links at 2.4 s; it stops hearing its leader,
/// campaigns on through several terms while its requests are on the way,
/// and the grants of its first term arrive when it is terms further.
const UNIFORM_SPIKE: &[&str] = &[
    "--nodes",
    "5",
    "--seed",
    "15",
    "--nemesis",
    "delay-spike",
    "--nemesis-interval",
    "3s",
    "--fault-duration",
    "2500ms",
    "--spike-delay",
    "800ms",
    "--spike-jitter",
    "50ms",
    "--time-limit",
    "6s",
    "--recovery",
    "2s",
    "--node-arg=--no-vote-events",
];

/// Runs `args` (plus `--bug bug`) and returns the exit code and results.json.
fn run(args: &[&str], bug: Option<&str>) -> (Option<i32>, serde_json::Value) {
    let store = tempfile::tempdir().unwrap();
    let mut argv = args.to_vec();
    if let Some(bug) = bug {
        argv.extend(["--bug", bug]);
    }
    let out = run_in(store.path(), &argv);
    let results = results_json(&latest(store.path()));
    (out.status.code(), results)
}

fn assert_caught(args: &[&str], bug: &str, checker: &str) {
    let (code, results) = run(args, Some(bug));
    assert_eq!(verdict_of(&results, checker), "invalid", "{bug}: {results}");
    assert_eq!(code, Some(1), "a violation → exit 1");
}

fn assert_correct_valid(args: &[&str]) {
    let (code, results) = run(args, None);
    assert_eq!(results["verdict"], "valid", "correct node: {results}");
    assert_eq!(code, Some(0), "all checkers valid → exit 0");
}

#[test]
fn correct_node_is_valid_under_partition_leader() {
    assert_correct_valid(&partition_leader_short());
}

#[test]
fn no_step_down_is_caught_by_stale_leader() {
    assert_caught(&partition_leader_short(), "no-step-down", "stale-leader");
}

#[test]
fn vote_twice_is_caught_by_vote_once() {
    assert_caught(PAUSE, "vote-twice", "vote-once");
}

#[test]
fn correct_node_is_valid_under_pause() {
    assert_correct_valid(PAUSE);
}

#[test]
fn no_log_check_is_caught_by_vote_up_to_date() {
    assert_caught(ONE_WAY, "no-log-check", "vote-up-to-date");
}

#[test]
fn correct_node_is_valid_under_one_way() {
    assert_correct_valid(ONE_WAY);
}

/// The `partition-leader` command on seed 947 for 20 s: every one of its
/// ten faults isolates the leader (at 1.65, 3.35, ... 16.95 s; 8 seeds of
/// 1–5000 have ten, per `splitbrain schedule`), so every heal is a fresh
/// chance for the old leader's heartbeat to reach a follower before the new
/// leader's heartbeat reaches the old one.
fn stale_heartbeat_command() -> Vec<&'static str> {
    partition_leader("947", "20s")
}

#[test]
fn stale_heartbeat_is_caught_by_leader_agreement_or_stale_leader() {
    // After a heal, followers already in the new term accept the old
    // leader's heartbeat. Whether one of them names the old leader for its
    // term (leader-agreement) or the old leader simply goes on next to the
    // new one (stale-leader) depends on which heartbeat lands first; either
    // is this bug. One heal catches it about half the time (28 of 50 heals
    // in 5 runs by hand), so the command heals an isolated leader ten times.
    let (code, results) = run(&stale_heartbeat_command(), Some("stale-heartbeat"));
    let caught: Vec<&str> = ["leader-agreement", "stale-leader"]
        .into_iter()
        .filter(|c| verdict_of(&results, c) == "invalid")
        .collect();
    assert!(!caught.is_empty(), "stale-heartbeat: {results}");
    assert_eq!(code, Some(1), "a violation → exit 1");
}

#[test]
fn correct_node_is_valid_under_ten_leader_isolations() {
    assert_correct_valid(&stale_heartbeat_command());
}

#[test]
fn quorum_off_by_one_is_caught_by_quorum_leader() {
    assert_caught(PARTITION, "quorum-off-by-one", "quorum-leader");
}

#[test]
fn correct_node_is_valid_under_partition() {
    assert_correct_valid(PARTITION);
}

#[test]
fn forget_vote_is_caught_by_vote_once() {
    assert_caught(PAUSE_KILL_VOTER, "forget-vote", "vote-once");
}

#[test]
fn correct_node_is_valid_under_pause_and_kill_voter() {
    assert_correct_valid(PAUSE_KILL_VOTER);
}

/// The seeds above were picked for their schedules; `splitbrain schedule`
/// (the same schedule a run draws) proves they still have those faults.
#[test]
fn count_replies_is_caught_by_quorum_leader_without_vote_events() {
    assert_caught(PARTITION_CHECK_QUORUM, "count-replies", "quorum-leader");
}

#[test]
fn correct_node_is_valid_under_partition_with_check_quorum() {
    assert_correct_valid(PARTITION_CHECK_QUORUM);
}

#[test]
fn count_earlier_terms_is_caught_by_vote_quorum_without_vote_events() {
    assert_caught(UNIFORM_SPIKE, "count-earlier-terms", "vote-quorum");
}

#[test]
fn correct_node_is_valid_under_a_uniform_delay_spike() {
    assert_correct_valid(UNIFORM_SPIKE);
}

#[test]
fn the_picked_seeds_still_have_the_faults_their_tests_need() {
    let faults_of = |command: &[&str]| {
        // `schedule` takes the run's fault flags, not --nodes or --recovery.
        let mut args = vec!["schedule".to_string()];
        let mut it = command.iter().filter(|a| !a.starts_with("--node-arg="));
        while let (Some(flag), Some(value)) = (it.next(), it.next()) {
            match *flag {
                "--nodes" | "--recovery" => {}
                "--seed" => args.extend(["--seeds".to_string(), value.to_string()]),
                _ => args.extend([flag.to_string(), value.to_string()]),
            }
        }
        let out = splitbrain().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let stale = faults_of(&stale_heartbeat_command());
    assert!(stale.contains(": 10 faults"), "{stale}");
    assert_eq!(stale.matches("isolate leader").count(), 10, "{stale}");
    let forget = faults_of(PAUSE_KILL_VOTER);
    assert!(forget.contains(": 3 faults"), "{forget}");
    assert_eq!(forget.matches("pause all-but-one").count(), 3, "{forget}");
    let split = faults_of(PARTITION_CHECK_QUORUM);
    assert!(split.contains("partition majority/minority"), "{split}");
    let spike = faults_of(UNIFORM_SPIKE);
    assert!(
        spike.contains("delay spike +800ms ±50ms on every link of one random node"),
        "{spike}"
    );
}
