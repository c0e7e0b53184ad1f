//! Per-link counters for debugging: plain relaxed atomics, cheap enough to
//! bump on every datagram.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters of one directed link (internal; read through [`LinkStats`]).
#[derive(Debug, Default)]
pub(crate) struct LinkCounters {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    pub delayed: AtomicU64,
    pub duplicated: AtomicU64,
    pub reordered: AtomicU64,
    pub stalled: AtomicU64,
}

impl LinkCounters {
    #[inline]
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> LinkStats {
        LinkStats {
            forwarded: self.forwarded.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            delayed: self.delayed.load(Relaxed),
            duplicated: self.duplicated.load(Relaxed),
            reordered: self.reordered.load(Relaxed),
            stalled: self.stalled.load(Relaxed),
        }
    }
}

/// A snapshot of one directed link's counters, to see what a fault did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// Datagrams (UDP) or chunks (TCP) delivered, duplicates included.
    pub forwarded: u64,
    /// Datagrams dropped by a cut or by loss; TCP connections refused or reset.
    pub dropped: u64,
    /// Datagrams or chunks that were held for a delay.
    pub delayed: u64,
    /// Extra copies delivered by duplication.
    pub duplicated: u64,
    /// Datagrams held back to be released after the next one.
    pub reordered: u64,
    /// TCP chunks that had to wait for a blackhole cut to heal.
    pub stalled: u64,
}
