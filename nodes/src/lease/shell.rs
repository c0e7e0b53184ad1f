//! The thin I/O shell around [`LeaseNode`]: one thread that feeds it the
//! clock and Redis's answers, prints its `state` events and sends its
//! requests, one at a time, each with the deadline the state machine allows.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::core::{LeaseConfig, LeaseNode, Output};
use super::store::LeaseStore;
use crate::protocol::{Event, EventSink, ProtocolError};

/// The loop wakes at least this often, to notice a stop request.
const MAX_IDLE: Duration = Duration::from_millis(50);

/// Everything the shell needs.
#[derive(Debug, Clone)]
pub struct LeaseShellConfig {
    /// The state machine's configuration.
    pub lease: LeaseConfig,
    /// Where Redis is reached (the proxy's address for this node).
    pub redis: SocketAddr,
    /// The lease key (`KEY:token` is the token counter).
    pub key: String,
    /// Waking this much later than planned counts as a stall (a pause).
    pub stall_threshold: Duration,
}

/// Runs a lease node until `stop` is set or stdout closes (then `Ok`).
pub fn run_lease_node(
    config: LeaseShellConfig,
    events: &mut dyn EventSink,
    stop: &AtomicBool,
) -> Result<(), ProtocolError> {
    match event_loop(config, events, stop) {
        Err(ProtocolError::Closed) => Ok(()),
        other => other,
    }
}

fn event_loop(
    config: LeaseShellConfig,
    events: &mut dyn EventSink,
    stop: &AtomicBool,
) -> Result<(), ProtocolError> {
    let clock = Instant::now();
    let mut store = LeaseStore::new(
        config.redis,
        &config.key,
        &config.lease.id,
        config.lease.ttl,
    );
    let mut node = LeaseNode::new(config.lease.clone(), clock.elapsed());
    let mut reported_error: Option<String> = None;
    events.emit(&Event::Ready)?;
    let mut planned = clock.elapsed();
    while !stop.load(Ordering::Relaxed) {
        let now = clock.elapsed();
        let late = now.saturating_sub(planned);
        let mut pending = if late > config.stall_threshold {
            node.on_stall(now, late)
        } else {
            node.tick(now)
        };
        while !pending.is_empty() {
            let mut next = Vec::new();
            for output in pending {
                match output {
                    Output::State { role, term, leader } => events.emit(&Event::State {
                        role: role.as_str().to_owned(),
                        term,
                        leader,
                    })?,
                    Output::Send(request) => {
                        let deadline = node.reply_deadline().unwrap_or(clock.elapsed());
                        let reply = store.perform(&request, clock + deadline);
                        if store.last_error != reported_error {
                            if let Some(error) = &store.last_error {
                                eprintln!("lease {}: {error}", node.id());
                            }
                            reported_error = store.last_error.clone();
                        }
                        let answered = clock.elapsed();
                        next.extend(node.on_reply(answered, reply));
                        // A read that returned long after its deadline: stopped.
                        let late = answered.saturating_sub(deadline);
                        if late > config.stall_threshold {
                            next.extend(node.on_stall(answered, late));
                        }
                    }
                }
            }
            pending = next;
        }
        let now = clock.elapsed();
        planned = node.next_deadline().clamp(now, now + MAX_IDLE);
        std::thread::sleep(planned - now);
    }
    Ok(())
}
