//! Properties over generated histories (ground truth known by construction).

use checkers::history::{Event, ProcessEvent, Record, Role, StateRecord};
use checkers::synth::{history, SplitMix, SynthConfig};
use checkers::{check, CheckOptions, Report, Verdict};
use proptest::prelude::*;

fn cfg(seed: u64, persistent_term: bool, events: u64) -> SynthConfig {
    SynthConfig {
        seed,
        persistent_term,
        events,
        steady_events: (5, 40),
        ..Default::default()
    }
}

fn verdicts(r: &Report) -> Vec<(String, Verdict)> {
    r.results
        .iter()
        .map(|c| (c.checker.clone(), c.verdict))
        .collect()
}

fn renumber(records: &mut [Record]) {
    for (i, r) in records.iter_mut().enumerate() {
        r.seq = i as u64;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A model with one leader per term is never judged unsafe; the synthetic
    /// runs are also valid for every other checker.
    #[test]
    fn one_leader_per_term_is_never_invalid(seed in any::<u64>(), persistent in any::<bool>()) {
        let h = history(cfg(seed, persistent, 3000));
        let safety = check(&h, &CheckOptions::safety_only());
        for c in &safety.results {
            prop_assert_ne!(c.verdict, Verdict::Invalid, "{}: {:?}", c.checker, c.evidence);
        }
        let full = check(&h, &CheckOptions::default());
        for c in &full.results {
            prop_assert_eq!(c.verdict, Verdict::Valid, "{}: {} {:?}", c.checker, c.figure, c.evidence);
        }
    }

    /// Adding a second claimant to any claimed term is always caught.
    #[test]
    fn a_second_claimant_is_always_caught(seed in any::<u64>(), pick in any::<u64>()) {
        let mut h = history(cfg(seed, true, 1500));
        // Replay lifecycles to know who is alive, with which pid, at each claim.
        let mut alive: std::collections::HashMap<String, u32> = Default::default();
        let mut spots = vec![];
        for (k, r) in h.iter().enumerate() {
            match &r.event {
                Event::Process(p) => match p.event {
                    ProcessEvent::Start => { alive.insert(p.node.clone(), p.pid.unwrap_or(0)); }
                    ProcessEvent::Kill | ProcessEvent::Exit => { alive.remove(&p.node); }
                    _ => {}
                },
                Event::State(s) if s.role == Role::Leader => {
                    if let Some((other, pid)) = alive.iter().find(|(n, _)| **n != s.node) {
                        spots.push((k, s.term, other.clone(), *pid));
                    }
                }
                _ => {}
            }
        }
        prop_assume!(!spots.is_empty());
        let (k, term, other, pid) = spots[(pick % spots.len() as u64) as usize].clone();
        let t = h[k].t;
        let forged = Record { seq: 0, t, event: Event::State(StateRecord {
            node: other, pid: Some(pid), role: Role::Leader, term, leader: None, src: Default::default(),
        })};
        h.insert(k + 1, forged);
        renumber(&mut h);
        let r = check(&h, &CheckOptions::safety_only());
        let tu = r.results.iter().find(|c| c.checker == "term-uniqueness").unwrap();
        prop_assert_eq!(tu.verdict, Verdict::Invalid);
        prop_assert!(tu.evidence[0].seqs.contains(&((k + 1) as u64)));
    }

    /// Reordering independent events that share a `t` changes no verdict.
    #[test]
    fn equal_t_reordering_changes_no_verdict(seed in any::<u64>(), shuffle_seed in any::<u64>(), persistent in any::<bool>()) {
        let h = history(cfg(seed, persistent, 2000));
        let before = verdicts(&check(&h, &CheckOptions::default()));
        let mut shuffled = h.clone();
        let mut rng = SplitMix::new(shuffle_seed);
        let mut i = 0;
        while i < shuffled.len() {
            // A run of state lines at one instant, each from a different node.
            let mut j = i;
            let mut nodes = vec![];
            while j < shuffled.len() && shuffled[j].t == shuffled[i].t {
                match &shuffled[j].event {
                    Event::State(s) if !nodes.contains(&s.node) => nodes.push(s.node.clone()),
                    _ => break,
                }
                j += 1;
            }
            for a in (i + 1..j).rev() {
                let b = i + (rng.next_u64() % (a - i + 1) as u64) as usize;
                shuffled.swap(a, b);
            }
            i = j.max(i + 1);
        }
        renumber(&mut shuffled);
        let after = verdicts(&check(&shuffled, &CheckOptions::default()));
        prop_assert_eq!(before, after);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The fast line reader accepts exactly what `serde_json` accepts, and
    /// reads it the same way, for real lines and for damaged ones.
    #[test]
    fn fast_reader_agrees_with_serde(seed in any::<u64>(), cuts in proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 0..3)) {
        let h = history(cfg(seed, true, 300));
        for (k, r) in h.iter().enumerate() {
            let mut line = serde_json::to_string(r).unwrap().into_bytes();
            if k % 7 == 0 {
                for &(pos, byte, op) in &cuts {
                    if line.is_empty() { break; }
                    let p = pos as usize % line.len();
                    match op {
                        0 => { line.remove(p); }
                        1 => line[p] = b" {}[],:\"0123456789-.eEnulltrfas\\"[byte as usize % 32],
                        _ => line.insert(p, b" 0,\"\\"[byte as usize % 5]),
                    }
                }
            }
            let Ok(text) = String::from_utf8(line) else { continue };
            if text.contains('\n') || text.trim().is_empty() { continue; }
            let slow = serde_json::from_str::<Record>(&text);
            let doubled = format!("{text}\n{text}\n");
            let fast = checkers::reader::HistoryReader::new(doubled.as_bytes()).next().expect("an item");
            match (&slow, &fast) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "disagree on {}: serde {:?} fast {:?}", text, slow.is_ok(), fast.is_ok()),
            }
        }
    }
}
