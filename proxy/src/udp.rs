//! The UDP path: one socket per directed link, one task per socket.
//!
//! A datagram arriving at S(i→j) is link i→j. It is sent to j's real address
//! *from* S(j→i), so j sees it come from the address j was given for i and
//! j's replies cross link j→i.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::rules::{LinkAction, LinkFault};
use crate::stats::LinkCounters;
use crate::Shared;

/// Longest time a datagram held back for reordering waits for a successor
/// before it is released anyway (so sparse traffic is reordered, not lost).
pub const REORDER_HOLD_MAX: Duration = Duration::from_millis(100);

/// Largest datagram forwarded (the UDP/IPv4 maximum payload).
const MAX_DATAGRAM: usize = 65_507;

/// Everything one link task needs.
pub(crate) struct UdpLink {
    pub shared: Arc<Shared>,
    pub from: usize,
    pub to: usize,
    /// S(from→to): where `from` sends.
    pub inbound: Arc<UdpSocket>,
    /// S(to→from): what `to` must see as the sender.
    pub outbound: Arc<UdpSocket>,
    /// `to`'s real address.
    pub dest: SocketAddr,
}

impl UdpLink {
    fn counters(&self) -> &LinkCounters {
        self.shared.counters(self.from, self.to)
    }

    /// Forwards datagrams until the runtime shuts down.
    pub(crate) async fn run(self) {
        let link_index = (self.from * self.shared.width + self.to) as u64;
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.shared.seed ^ link_index.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut held: Option<(Vec<u8>, Instant)> = None;
        loop {
            let received = match &held {
                Some((_, deadline)) => {
                    tokio::select! {
                        r = self.inbound.recv_from(&mut buf) => Some(r),
                        _ = tokio::time::sleep_until(*deadline) => None,
                    }
                }
                None => Some(self.inbound.recv_from(&mut buf).await),
            };
            let Some(received) = received else {
                // Nothing followed the held datagram in time: release it.
                if let Some((data, _)) = held.take() {
                    self.release(&data, &mut rng).await;
                }
                continue;
            };
            let (len, src) = match received {
                Ok(r) => r,
                Err(e) => {
                    // ICMP port unreachable from an earlier send surfaces here
                    // on Linux as ECONNREFUSED; it is not fatal to the link.
                    tracing::trace!(from = %self.shared.endpoints[self.from], to = %self.shared.endpoints[self.to], "udp recv: {e}");
                    continue;
                }
            };
            if !src.ip().is_loopback() {
                continue;
            }
            let action = self.shared.rules.load().action(self.from, self.to);
            match action {
                LinkAction::Open => {
                    self.send_now(&buf[..len]).await;
                    if let Some((data, _)) = held.take() {
                        self.send_now(&data).await;
                    }
                }
                LinkAction::Cut => {
                    LinkCounters::bump(&self.counters().dropped);
                    if held.take().is_some() {
                        LinkCounters::bump(&self.counters().dropped);
                    }
                }
                LinkAction::Degraded(fault) => {
                    if rng.gen::<f64>() < fault.loss {
                        LinkCounters::bump(&self.counters().dropped);
                        continue;
                    }
                    let duplicated = rng.gen::<f64>() < fault.duplicate;
                    if duplicated {
                        LinkCounters::bump(&self.counters().duplicated);
                        // The copy lands late: after the original, and after
                        // whatever follows within the copy's delay.
                        let late = random_upto(fault.duplicate_delay, &mut rng);
                        self.deliver(&buf[..len], fault, late, &mut rng).await;
                    }
                    let reordered = rng.gen::<f64>() < fault.reorder;
                    if reordered && !fault.reorder_window.is_zero() {
                        // Held for a random part of the window: datagrams
                        // sent within one window come out shuffled.
                        LinkCounters::bump(&self.counters().reordered);
                        let hold = random_upto(fault.reorder_window, &mut rng);
                        self.deliver(&buf[..len], fault, hold, &mut rng).await;
                    } else if reordered && held.is_none() {
                        LinkCounters::bump(&self.counters().reordered);
                        held = Some((buf[..len].to_vec(), Instant::now() + REORDER_HOLD_MAX));
                        continue;
                    } else {
                        self.deliver(&buf[..len], fault, Duration::ZERO, &mut rng)
                            .await;
                    }
                    if let Some((data, _)) = held.take() {
                        self.deliver(&data, fault, Duration::ZERO, &mut rng).await;
                    }
                }
            }
        }
    }

    /// Sends a held-back datagram under the rules now in force.
    async fn release(&self, data: &[u8], rng: &mut ChaCha8Rng) {
        match self.shared.rules.load().action(self.from, self.to) {
            LinkAction::Open => self.send_now(data).await,
            LinkAction::Cut => LinkCounters::bump(&self.counters().dropped),
            LinkAction::Degraded(fault) => self.deliver(data, fault, Duration::ZERO, rng).await,
        }
    }

    /// Sends now, or schedules a send after the fault's delay and jitter
    /// plus `extra` (a duplicate's lateness, a reordering hold).
    async fn deliver(&self, data: &[u8], fault: LinkFault, extra: Duration, rng: &mut ChaCha8Rng) {
        let mut delay = fault.delay + extra;
        if !fault.jitter.is_zero() {
            delay += fault.jitter.mul_f64(rng.gen::<f64>());
        }
        if delay.is_zero() {
            self.send_now(data).await;
            return;
        }
        LinkCounters::bump(&self.counters().delayed);
        let due = Instant::now() + delay;
        let data = data.to_vec();
        let shared = self.shared.clone();
        let outbound = self.outbound.clone();
        let (from, to, dest) = (self.from, self.to, self.dest);
        // The timer wheel is the delay queue: one small task per delayed
        // datagram, so a slow link never blocks other links or this one.
        tokio::spawn(async move {
            tokio::time::sleep_until(due).await;
            let counters = shared.counters(from, to);
            // A cut applied while the datagram was in flight wins: after a
            // `net` event says the link is cut, it delivers nothing.
            if shared.rules.load().is_cut(from, to) {
                LinkCounters::bump(&counters.dropped);
                return;
            }
            if outbound.send_to(&data, dest).await.is_ok() {
                LinkCounters::bump(&counters.forwarded);
            }
        });
    }

    async fn send_now(&self, data: &[u8]) {
        match self.outbound.send_to(data, self.dest).await {
            Ok(_) => LinkCounters::bump(&self.counters().forwarded),
            Err(e) => {
                tracing::trace!(to = %self.dest, "udp send: {e}");
            }
        }
    }
}

/// A uniform duration in `0..max` (zero when `max` is).
fn random_upto(max: Duration, rng: &mut ChaCha8Rng) -> Duration {
    if max.is_zero() {
        Duration::ZERO
    } else {
        max.mul_f64(rng.gen::<f64>())
    }
}
