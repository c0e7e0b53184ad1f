//! The thin I/O shell around [`RaftNode`]: one single-threaded tokio runtime
//! that feeds received messages and the clock to the state machine and carries
//! out its outputs in order (persist, then report, then send).

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

use super::core::{Output, PersistentState, RaftConfig, RaftNode};
use super::message::{Message, NodeId};
use super::storage::{StateStore, StorageError};
use super::transport::{BoundListener, Inbound, Transport};
use crate::protocol::{Event, EventSink, ProtocolError};

/// The loop wakes at least this often, to notice a stop request and report
/// counters even when nothing happens.
const MAX_IDLE: Duration = Duration::from_millis(50);

/// At most one stderr line per this interval about ignored messages.
const BAD_MESSAGE_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Everything the shell needs besides the bound listener.
#[derive(Debug, Clone)]
pub struct ShellConfig {
    /// The state machine's configuration (id, peers, timing, bug, options).
    pub raft: RaftConfig,
    /// Where each peer is reached (proxy addresses, never the real ones).
    pub peer_addrs: BTreeMap<NodeId, SocketAddr>,
    /// Where `raft-state.json` lives; kept across restarts.
    pub data_dir: PathBuf,
    /// Seed of the election-timeout RNG.
    pub seed: u64,
    /// Print a `vote` event for every vote granted. Off, the node looks like
    /// most third-party implementations, which never say whom they voted
    /// for: the checkers must catch its bugs from claims alone.
    pub vote_events: bool,
}

/// Why a node stopped with an error.
#[derive(Debug, Error)]
pub enum ShellError {
    /// The durable state could not be read or written.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Events could not be written (other than stdout being closed).
    #[error(transparent)]
    Protocol(ProtocolError),
    /// The runtime or transport could not start, or the transport died.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

/// How a stop request reaches a running node (tests, embedding); the CLI
/// never sets it and the node runs until killed or stdout closes.
pub type StopFlag = Arc<AtomicBool>;

/// Runs a Raft node until `stop` is set or the event reader goes away
/// (stdout closed: returns `Ok`). Prints `ready` first, then a `state` event
/// for every change.
pub fn run_node(
    config: ShellConfig,
    listener: BoundListener,
    events: &mut dyn EventSink,
    stop: StopFlag,
) -> Result<(), ShellError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ShellError::Io {
            context: "starting the runtime",
            source,
        })?;
    let result = runtime.block_on(event_loop(config, listener, events, stop));
    match result {
        Err(ShellError::Protocol(ProtocolError::Closed)) => Ok(()),
        other => other,
    }
}

async fn event_loop(
    config: ShellConfig,
    listener: BoundListener,
    events: &mut dyn EventSink,
    stop: StopFlag,
) -> Result<(), ShellError> {
    let store = StateStore::open(&config.data_dir)?;
    let restored = store.load()?;
    let transport =
        Transport::start(listener, &config.peer_addrs).map_err(|source| ShellError::Io {
            context: "starting the transport",
            source,
        })?;
    let clock = Instant::now();
    let node = RaftNode::new(
        config.raft.clone(),
        restored,
        ChaCha8Rng::seed_from_u64(config.seed),
        clock.elapsed(),
    );
    let mut shell = Shell {
        node,
        transport,
        store,
        events,
        clock,
        bad_messages: BadMessageCounter::default(),
        vote_events: config.vote_events,
    };
    shell
        .events
        .emit(&Event::Ready)
        .map_err(ShellError::Protocol)?;
    let outputs = shell.node.tick(shell.now());
    shell.execute(outputs)?;
    while !stop.load(Ordering::Relaxed) {
        let wait = shell
            .node
            .next_deadline()
            .saturating_sub(shell.now())
            .min(MAX_IDLE);
        tokio::select! {
            received = shell.transport.recv() => match received {
                Some(Inbound::Bytes(bytes)) => shell.receive(&bytes)?,
                Some(Inbound::Oversized) => shell.bad_messages.count("oversized frame"),
                None => {
                    return Err(ShellError::Io {
                        context: "receiving",
                        source: io::ErrorKind::BrokenPipe.into(),
                    })
                }
            },
            () = tokio::time::sleep(wait) => {}
        }
        let outputs = shell.node.tick(shell.now());
        shell.execute(outputs)?;
        shell.bad_messages.report(shell.node.id());
    }
    Ok(())
}

struct Shell<'a> {
    node: RaftNode,
    transport: Transport,
    store: StateStore,
    events: &'a mut dyn EventSink,
    clock: Instant,
    bad_messages: BadMessageCounter,
    vote_events: bool,
}

impl Shell<'_> {
    fn now(&self) -> Duration {
        self.clock.elapsed()
    }

    /// Validates one datagram or frame and hands it to the state machine.
    fn receive(&mut self, bytes: &[u8]) -> Result<(), ShellError> {
        let Some(message) = Message::decode(bytes) else {
            self.bad_messages.count("not a message");
            return Ok(());
        };
        if !self.node.is_peer(message.from()) {
            self.bad_messages.count("unknown sender");
            return Ok(());
        }
        let outputs = self.node.step(self.now(), message);
        self.execute(outputs)
    }

    /// Carries out outputs in order; a Persist completes before anything
    /// after it happens.
    fn execute(&mut self, outputs: Vec<Output>) -> Result<(), ShellError> {
        for output in outputs {
            match output {
                Output::Persist { term, voted_for } => {
                    self.store.save(&PersistentState { term, voted_for })?;
                }
                Output::State { role, term, leader } => {
                    let event = Event::State {
                        role: role.as_str().to_owned(),
                        term,
                        leader,
                    };
                    self.events.emit(&event).map_err(ShellError::Protocol)?;
                }
                Output::Vote { .. } if !self.vote_events => {}
                Output::Vote {
                    term,
                    candidate,
                    voter_log,
                    candidate_log,
                } => {
                    let event = Event::Vote {
                        term,
                        candidate,
                        voter_log,
                        candidate_log,
                    };
                    self.events.emit(&event).map_err(ShellError::Protocol)?;
                }
                Output::Send { to, msg } => {
                    // Best effort, like the network itself.
                    self.transport.send(&to, msg.encode());
                }
            }
        }
        Ok(())
    }
}

/// Counts ignored input and mentions it on stderr, at most once a second.
#[derive(Debug, Default)]
struct BadMessageCounter {
    total: u64,
    reported: u64,
    last_reason: &'static str,
    last_report: Option<Instant>,
}

impl BadMessageCounter {
    fn count(&mut self, reason: &'static str) {
        self.total += 1;
        self.last_reason = reason;
    }

    fn report(&mut self, node_id: &str) {
        if self.total == self.reported {
            return;
        }
        let due = self
            .last_report
            .map_or(true, |last| last.elapsed() >= BAD_MESSAGE_REPORT_INTERVAL);
        if due {
            eprintln!(
                "raft {node_id}: ignored {} bad messages so far (last: {})",
                self.total, self.last_reason
            );
            self.reported = self.total;
            self.last_report = Some(Instant::now());
        }
    }
}
