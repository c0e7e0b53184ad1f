//! `lease-overlap`: how long two or more nodes claimed leadership at once,
//! live (a pause ends a claim) and by belief (section 5 of
//! `docs/checkers.md`); invalid when an exclusive target overlaps live for
//! longer than its tolerance.

use serde_json::json;

use super::{ms, Check, CheckOptions, MAX_EVIDENCE};
use crate::history::Nanos;
use crate::model::NodeSet;
use crate::run_model::{NodeView, Observation, RunModel};
use crate::verdict::{CheckResult, Evidence, Verdict};

/// An overlap episode (two or more simultaneous claims).
#[derive(Debug, Clone, Default)]
struct OverlapEpisode {
    start: Nanos,
    nodes: NodeSet,
    seqs: Vec<u64>,
}

/// One closed episode: (start, end, nodes, claim seqs).
type Episode = (Nanos, Nanos, NodeSet, Vec<u64>);

#[derive(Debug, Clone, Default)]
struct OverlapTally {
    total_ns: u64,
    longest_ns: u64,
    longest: Option<Episode>,
    episodes: u64,
    current: Option<OverlapEpisode>,
    /// Episodes longer than the tolerance (only live overlap uses it).
    over_tolerance: u64,
    evidence: Vec<Episode>,
}

impl OverlapTally {
    fn update(&mut self, t: Nanos, claimants: NodeSet, claims: &[NodeView], tolerance_ns: u64) {
        if claimants.count_ones() >= 2 {
            let ep = self.current.get_or_insert_with(|| OverlapEpisode {
                start: t,
                ..Default::default()
            });
            let mut new = claimants & !ep.nodes;
            ep.nodes |= claimants;
            while new != 0 {
                let i = new.trailing_zeros() as usize;
                new &= new - 1;
                if let Some(c) = claims[i].belief {
                    ep.seqs.push(c.seq);
                }
            }
        } else if let Some(ep) = self.current.take() {
            let len = t - ep.start;
            if len == 0 {
                return;
            }
            self.episodes += 1;
            let mut seqs = ep.seqs;
            seqs.sort_unstable();
            if len > tolerance_ns {
                self.over_tolerance += 1;
                if self.evidence.len() < MAX_EVIDENCE {
                    self.evidence.push((ep.start, t, ep.nodes, seqs.clone()));
                }
            }
            if len > self.longest_ns {
                self.longest_ns = len;
                self.longest = Some((ep.start, t, ep.nodes, seqs));
            }
        }
    }
}

struct LeaseOverlap {
    live: OverlapTally,
    belief: OverlapTally,
    tolerance_ns: u64,
}

pub(super) fn make(_: &CheckOptions, model: &RunModel) -> Box<dyn Check> {
    let h = &model.header;
    Box::new(LeaseOverlap {
        live: OverlapTally::default(),
        belief: OverlapTally::default(),
        tolerance_ns: (h.overlap_tolerance_ms.max(0.0) * 1e6) as u64,
    })
}

impl Check for LeaseOverlap {
    fn advance(&mut self, dt: u64, model: &RunModel) {
        if model.live_claim_set.count_ones() >= 2 {
            self.live.total_ns += dt;
        }
        if model.belief_set.count_ones() >= 2 {
            self.belief.total_ns += dt;
        }
    }

    fn observe(&mut self, obs: &Observation<'_>, model: &RunModel) {
        if obs.recomputed.is_some() {
            self.live
                .update(obs.t, model.live_claim_set, &model.views, self.tolerance_ns);
            self.belief
                .update(obs.t, model.belief_set, &model.views, u64::MAX);
        }
    }

    fn finish(mut self: Box<Self>, model: &RunModel) -> CheckResult {
        // Close the episodes still open at the end of the history.
        let end_t = model.end_t;
        self.live.update(end_t, 0, &model.views, self.tolerance_ns);
        self.belief.update(end_t, 0, &model.views, u64::MAX);
        let exclusive = model.header.exclusive;
        let live = &self.live;
        let belief = &self.belief;
        let violated = exclusive && live.over_tolerance > 0;
        let mut evidence = vec![];
        let push_ep = |kind: &str, ep: &Episode, evidence: &mut Vec<Evidence>| {
            let nodes = model.set_names(ep.2);
            evidence.push(Evidence {
                seqs: ep.3.clone(),
                window: [ep.0, ep.1],
                nodes: nodes.clone(),
                message: format!(
                    "{kind} overlap of {} ms: {} claimed leadership at once",
                    ms(ep.1 - ep.0),
                    nodes.join(", ")
                ),
            });
        };
        if violated {
            for ep in &live.evidence {
                push_ep("live", ep, &mut evidence);
            }
        } else if let Some(ep) = &live.longest {
            push_ep("longest live", ep, &mut evidence);
        }
        if let Some(ep) = &belief.longest {
            push_ep("longest belief", ep, &mut evidence);
        }
        let tolerance_ms = model.header.overlap_tolerance_ms;
        CheckResult {
            checker: "lease-overlap".into(),
            verdict: if violated {
                Verdict::Invalid
            } else {
                Verdict::Valid
            },
            figure: format!(
                "live {} ms (longest {} ms), belief {} ms (longest {} ms)",
                ms(live.total_ns),
                ms(live.longest_ns),
                ms(belief.total_ns),
                ms(belief.longest_ns)
            ),
            evidence,
            details: json!({
                "live_total_ms": ms(live.total_ns),
                "live_longest_ms": ms(live.longest_ns),
                "live_episodes": live.episodes,
                "live_over_tolerance": live.over_tolerance,
                "belief_total_ms": ms(belief.total_ns),
                "belief_longest_ms": ms(belief.longest_ns),
                "belief_episodes": belief.episodes,
                "tolerance_ms": tolerance_ms,
                "exclusive": exclusive,
            }),
        }
    }
}
