//! The thin I/O shell around [`BullyNode`]: one UDP socket bound at
//! `--listen`, peers reached at their proxy addresses, JSON datagrams; one
//! thread feeds messages and the clock to the state machine and carries out
//! its outputs in order (report, then send).

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

use super::core::{BullyConfig, BullyNode, Message, NodeId, Output};
use crate::protocol::{Event, EventSink, ProtocolError};

/// The loop wakes at least this often, to notice a stop request.
const MAX_IDLE: Duration = Duration::from_millis(50);

/// Everything the shell needs besides the bound socket.
#[derive(Debug, Clone)]
pub struct BullyShellConfig {
    /// The state machine's configuration.
    pub bully: BullyConfig,
    /// Where each peer is reached (proxy addresses).
    pub peer_addrs: BTreeMap<NodeId, SocketAddr>,
    /// Seed of the coordinator-timeout RNG.
    pub seed: u64,
}

/// Why a bully node stopped with an error.
#[derive(Debug, Error)]
pub enum BullyShellError {
    /// Events could not be written (other than stdout being closed).
    #[error(transparent)]
    Protocol(ProtocolError),
    /// The socket failed.
    #[error("udp socket: {0}")]
    Io(#[from] io::Error),
}

/// Runs a bully node on `socket` until `stop` is set or stdout closes
/// (then `Ok`).
pub fn run_bully_node(
    config: BullyShellConfig,
    socket: UdpSocket,
    events: &mut dyn EventSink,
    stop: &AtomicBool,
) -> Result<(), BullyShellError> {
    match event_loop(config, socket, events, stop) {
        Err(BullyShellError::Protocol(ProtocolError::Closed)) => Ok(()),
        other => other,
    }
}

fn event_loop(
    config: BullyShellConfig,
    socket: UdpSocket,
    events: &mut dyn EventSink,
    stop: &AtomicBool,
) -> Result<(), BullyShellError> {
    let clock = Instant::now();
    let mut node = BullyNode::new(
        config.bully.clone(),
        ChaCha8Rng::seed_from_u64(config.seed),
        clock.elapsed(),
    );
    let mut ignored: u64 = 0;
    events
        .emit(&Event::Ready)
        .map_err(BullyShellError::Protocol)?;
    let mut buffer = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let outputs = node.tick(clock.elapsed());
        execute(&socket, &config.peer_addrs, events, outputs)?;
        let now = clock.elapsed();
        let wait = node
            .next_deadline()
            .saturating_sub(now)
            .clamp(Duration::from_millis(1), MAX_IDLE);
        socket.set_read_timeout(Some(wait))?;
        match socket.recv_from(&mut buffer) {
            Ok((length, _source)) => match Message::decode(&buffer[..length]) {
                Some(msg) if node.is_peer(msg.from()) => {
                    let outputs = node.step(clock.elapsed(), msg);
                    execute(&socket, &config.peer_addrs, events, outputs)?;
                }
                _ => {
                    ignored += 1;
                    if ignored.is_power_of_two() {
                        eprintln!("bully {}: ignored {ignored} bad datagrams", node.id());
                    }
                }
            },
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            // E.g. ECONNREFUSED echoed from an earlier send: not fatal.
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

fn execute(
    socket: &UdpSocket,
    peers: &BTreeMap<NodeId, SocketAddr>,
    events: &mut dyn EventSink,
    outputs: Vec<Output>,
) -> Result<(), BullyShellError> {
    for output in outputs {
        match output {
            Output::State { role, term, leader } => events
                .emit(&Event::State {
                    role: role.as_str().to_owned(),
                    term,
                    leader,
                })
                .map_err(BullyShellError::Protocol)?,
            Output::Send { to, msg } => {
                if let Some(addr) = peers.get(&to) {
                    // Best effort, like the network itself.
                    let _ = socket.send_to(&msg.encode(), addr);
                }
            }
        }
    }
    Ok(())
}
