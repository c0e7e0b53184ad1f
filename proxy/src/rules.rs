//! Link rules: what the nemesis asks for (`LinkRules`, by name) and what the
//! hot path reads (`CompiledRules`, a dense matrix indexed by endpoint).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use checkers::history::{DegradedLink, NetRecord};

use crate::error::ProxyError;

/// How a cut TCP link behaves; UDP cuts always drop datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TcpCutMode {
    /// Bytes in the cut direction stall (held, never deleted), like a path
    /// that drops every packet; released in order on heal.
    #[default]
    Blackhole,
    /// Connections between the pair are reset (RST) and new ones refused
    /// while the cut lasts, like a host answering with RST.
    Reject,
}

/// A link that still delivers, but badly. Zero in every field is a clean link.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LinkFault {
    /// Probability (0..=1) that a datagram is lost (UDP only: a TCP stream
    /// never loses bytes).
    pub loss: f64,
    /// Fixed added delay per datagram or TCP chunk.
    pub delay: Duration,
    /// Extra uniform random delay in `0..jitter` (TCP keeps order regardless).
    pub jitter: Duration,
    /// Probability (0..=1) that a datagram is delivered twice (UDP only).
    pub duplicate: f64,
    /// Probability (0..=1) that a datagram is held back and released after
    /// the next one on the same link (UDP only).
    pub reorder: f64,
    /// A duplicate goes out after a uniform extra delay in
    /// `0..duplicate_delay`, so it can land after later datagrams (zero:
    /// right behind the original).
    pub duplicate_delay: Duration,
    /// A held datagram waits a uniform time in `0..reorder_window` (zero:
    /// until the next datagram on the link, at most [`crate::REORDER_HOLD_MAX`]).
    pub reorder_window: Duration,
}

impl LinkFault {
    /// True when the fault changes nothing, so the link can take the fast path.
    pub fn is_clean(&self) -> bool {
        self.loss == 0.0
            && self.delay.is_zero()
            && self.jitter.is_zero()
            && self.duplicate == 0.0
            && self.reorder == 0.0
    }

    /// True when the fault needs a datagram transport: a TCP stream never
    /// duplicates or reorders bytes.
    pub fn is_datagram_only(&self) -> bool {
        self.duplicate > 0.0 || self.reorder > 0.0
    }

    fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} probability {p} is outside 0..=1"));
            }
        }
        Ok(())
    }
}

/// The complete network state wanted for every directed link, by endpoint id
/// (node ids and infrastructure service names). `apply` replaces the whole
/// state at once, so a partition is never half in force.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinkRules {
    /// Directed links `(from, to)` that deliver nothing.
    pub cut: BTreeSet<(String, String)>,
    /// Directed links that deliver with loss, delay, duplication or reordering.
    /// A link that is also in `cut` is cut.
    pub degraded: BTreeMap<(String, String), LinkFault>,
    /// How cut TCP links behave.
    pub tcp_cut_mode: TcpCutMode,
}

impl LinkRules {
    /// Every link healthy: what the final heal applies.
    pub fn healed() -> Self {
        Self::default()
    }

    /// Adds a directed cut `from -> to`; chainable for building partitions.
    pub fn with_cut(mut self, from: &str, to: &str) -> Self {
        self.cut.insert((from.to_string(), to.to_string()));
        self
    }

    /// Adds a degraded directed link `from -> to`; chainable.
    pub fn with_fault(mut self, from: &str, to: &str, fault: LinkFault) -> Self {
        self.degraded
            .insert((from.to_string(), to.to_string()), fault);
        self
    }

    /// The `net` history record for this state (contract 3): the complete
    /// cut set sorted, and the degraded links that are not also cut.
    pub fn net_record(&self) -> NetRecord {
        let cut = self
            .cut
            .iter()
            .map(|(a, b)| [a.clone(), b.clone()])
            .collect();
        let degraded = self
            .degraded
            .iter()
            .filter(|(link, fault)| !self.cut.contains(*link) && !fault.is_clean())
            .map(|((from, to), f)| DegradedLink {
                from: from.clone(),
                to: to.clone(),
                loss: f.loss,
                delay_ms: f.delay.as_secs_f64() * 1e3,
                jitter_ms: f.jitter.as_secs_f64() * 1e3,
                duplicate: f.duplicate,
                reorder: f.reorder,
                duplicate_delay_ms: f.duplicate_delay.as_secs_f64() * 1e3,
                reorder_window_ms: f.reorder_window.as_secs_f64() * 1e3,
            })
            .collect();
        NetRecord { cut, degraded }
    }
}

/// What the hot path does with one directed link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LinkAction {
    /// Forward untouched.
    Open,
    /// Deliver nothing (UDP drop; TCP per `tcp_cut_mode`).
    Cut,
    /// Forward with faults.
    Degraded(LinkFault),
}

/// `LinkRules` resolved to endpoint indices: one lookup per datagram/chunk.
#[derive(Debug)]
pub(crate) struct CompiledRules {
    width: usize,
    actions: Vec<LinkAction>,
    pub(crate) tcp_cut_mode: TcpCutMode,
    /// The rules these were compiled from, for `Proxy::rules`.
    pub(crate) source: LinkRules,
}

impl CompiledRules {
    /// Resolves names to indices. `endpoints` lists nodes first (`nodes` of
    /// them), then services; index `endpoints.len()` is the unknown opener of
    /// an unattributed connection.
    pub(crate) fn compile(
        rules: &LinkRules,
        endpoints: &[String],
        nodes: usize,
    ) -> Result<Self, ProxyError> {
        let width = endpoints.len() + 1;
        let index = |name: &str| {
            endpoints
                .iter()
                .position(|e| e == name)
                .ok_or_else(|| ProxyError::UnknownEndpoint(name.to_string()))
        };
        let link = |from: &str, to: &str| -> Result<usize, ProxyError> {
            if from == to {
                return Err(ProxyError::SelfLink(from.to_string()));
            }
            Ok(index(from)? * width + index(to)?)
        };
        let mut actions = vec![LinkAction::Open; width * width];
        for ((from, to), fault) in &rules.degraded {
            fault
                .validate()
                .map_err(|reason| ProxyError::InvalidFault {
                    from: from.clone(),
                    to: to.clone(),
                    reason,
                })?;
            if !fault.is_clean() {
                actions[link(from, to)?] = LinkAction::Degraded(*fault);
            }
        }
        for (from, to) in &rules.cut {
            actions[link(from, to)?] = LinkAction::Cut;
        }
        // An unattributed opener is cut from/to a node only when every node
        // link into/out of that node is cut (it could be any of them).
        let unknown = endpoints.len();
        for j in 0..nodes {
            let others: Vec<usize> = (0..nodes).filter(|&x| x != j).collect();
            if others.is_empty() {
                continue;
            }
            if others
                .iter()
                .all(|&x| actions[x * width + j] == LinkAction::Cut)
            {
                actions[unknown * width + j] = LinkAction::Cut;
            }
            if others
                .iter()
                .all(|&x| actions[j * width + x] == LinkAction::Cut)
            {
                actions[j * width + unknown] = LinkAction::Cut;
            }
        }
        Ok(Self {
            width,
            actions,
            tcp_cut_mode: rules.tcp_cut_mode,
            source: rules.clone(),
        })
    }

    /// The action for directed link `from -> to` (endpoint indices).
    #[inline]
    pub(crate) fn action(&self, from: usize, to: usize) -> LinkAction {
        self.actions[from * self.width + to]
    }

    /// True when `from -> to` delivers nothing.
    #[inline]
    pub(crate) fn is_cut(&self, from: usize, to: usize) -> bool {
        self.action(from, to) == LinkAction::Cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["n1", "n2", "n3", "redis"].map(String::from).to_vec()
    }

    #[test]
    fn net_record_lists_cuts_sorted_and_only_uncut_degraded_links() {
        let fault = LinkFault {
            loss: 0.25,
            delay: Duration::from_millis(20),
            ..Default::default()
        };
        let rules = LinkRules::healed()
            .with_cut("n2", "n1")
            .with_cut("n1", "n2")
            .with_fault("n1", "n2", fault)
            .with_fault("n3", "n1", fault);
        let rec = rules.net_record();
        assert_eq!(
            rec.cut,
            vec![
                ["n1".to_string(), "n2".to_string()],
                ["n2".to_string(), "n1".to_string()]
            ]
        );
        assert_eq!(rec.degraded.len(), 1);
        assert_eq!(rec.degraded[0].from, "n3");
        assert_eq!(rec.degraded[0].delay_ms, 20.0);
        assert_eq!(rec.degraded[0].loss, 0.25);
    }

    #[test]
    fn compile_rejects_unknown_names_self_links_and_bad_probabilities() {
        let e = names();
        assert!(matches!(
            CompiledRules::compile(&LinkRules::healed().with_cut("n1", "n9"), &e, 3),
            Err(ProxyError::UnknownEndpoint(n)) if n == "n9"
        ));
        assert!(matches!(
            CompiledRules::compile(&LinkRules::healed().with_cut("n1", "n1"), &e, 3),
            Err(ProxyError::SelfLink(_))
        ));
        let bad = LinkFault {
            loss: 1.5,
            ..Default::default()
        };
        assert!(matches!(
            CompiledRules::compile(&LinkRules::healed().with_fault("n1", "n2", bad), &e, 3),
            Err(ProxyError::InvalidFault { .. })
        ));
    }

    #[test]
    fn unknown_opener_is_cut_only_when_every_link_into_the_node_is() {
        let e = names();
        let unknown = e.len();
        let partial = LinkRules::healed().with_cut("n1", "n3");
        let c = CompiledRules::compile(&partial, &e, 3).unwrap();
        assert!(!c.is_cut(unknown, 2));
        let isolated = partial.with_cut("n2", "n3");
        let c = CompiledRules::compile(&isolated, &e, 3).unwrap();
        assert!(c.is_cut(unknown, 2));
        assert!(!c.is_cut(2, unknown));
        assert!(c.is_cut(0, 2) && !c.is_cut(2, 0) && !c.is_cut(0, 1));
    }
}
