//! The guide `docs/your-implementation.md` is executable: its Python node and
//! target file are extracted from the Markdown and run, so the guide cannot rot.

mod common;

use common::*;

// Seed 2 aims its kill at the leader (schedules are a pure function of the seed).

/// The first fenced block of `lang` in `text`.
fn block<'a>(text: &'a str, lang: &str) -> &'a str {
    let start = text
        .find(&format!("```{lang}\n"))
        .unwrap_or_else(|| panic!("no ```{lang} block"))
        + lang.len()
        + 4;
    let len = text[start..].find("\n```").expect("closed block");
    &text[start..start + len]
}

#[test]
fn the_guides_adapter_runs_and_is_judged_valid() {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/your-implementation.md"
    ))
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let node = tmp.path().join("mynode.py");
    std::fs::write(&node, block(&guide, "python")).unwrap();
    let target = block(&guide, "toml").replace("/path/to/mynode.py", node.to_str().unwrap());
    let t = target_file(tmp.path(), "mine.toml", &target);
    let store = tmp.path().join("store");
    let out = run_in(
        &store,
        &[
            "--target",
            t.to_str().unwrap(),
            "--seed",
            "2",
            "--time-limit",
            "8s",
            "--nemesis",
            "kill",
            "--nemesis-interval",
            "2s",
            "--fault-duration",
            "1s",
            "--recovery",
            "3s",
        ],
    );
    let dir = latest(&store);
    let results = results_json(&dir);
    for checker in [
        "term-uniqueness",
        "term-monotonic",
        "leader-agreement",
        "vote-once",
        "crashes",
        "election-gap",
    ] {
        assert_eq!(verdict_of(&results, checker), "valid", "{checker}");
    }
    assert!(
        leader_terms(&history(&dir)).len() >= 2,
        "the adapter re-elected after a leader kill"
    );
    assert_eq!(out.status.code(), Some(0), "every checker valid");
    assert!(wait_no_processes(
        &dir.display().to_string(),
        std::time::Duration::from_secs(2)
    )
    .is_empty());
}
