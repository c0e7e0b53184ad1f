//! The thin I/O shell around [`ElectionClient`]: each request it asks for runs
//! on its own thread (a campaign blocks until elected) and hands its answer
//! back over a channel; the main thread feeds answers and the clock to the
//! state machine and carries out its outputs in order (persist, then report).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use super::core::{
    ElectConfig, ElectionClient, KeepAliveOutcome, LeaseId, ObservedLeader, Output, Revision,
};
use super::gateway::{Gateway, KeepAliveAnswer};
use crate::protocol::{Event, EventSink, ProtocolError};

/// The loop wakes at least this often, to notice a stop request.
const MAX_IDLE: Duration = Duration::from_millis(50);

/// A campaign call is abandoned after this long and started again (same
/// lease, so etcd keeps the same key).
const CAMPAIGN_TIMEOUT: Duration = Duration::from_secs(60);

/// The file in the data directory that holds the highest term reported.
const TERM_FILE: &str = "etcd-elect-term";

/// Everything the shell needs.
#[derive(Debug, Clone)]
pub struct ShellConfig {
    /// The state machine's settings.
    pub client: ElectConfig,
    /// etcd's client addresses (`host:port`, comma-separated: one per
    /// member, each the proxy's address for it).
    pub etcd: String,
    /// The election name campaigned on.
    pub election: String,
    /// Where the highest reported term is kept across restarts (none: not kept).
    pub data_dir: Option<PathBuf>,
    /// Timeout of grant, keep-alive and leader requests.
    pub request_timeout: Duration,
}

/// Why the client stopped with an error.
#[derive(Debug, Error)]
pub enum ShellError {
    /// Events could not be written (other than stdout being closed).
    #[error(transparent)]
    Protocol(ProtocolError),
    /// `--etcd` names no endpoint.
    #[error(transparent)]
    Endpoints(#[from] super::gateway::NoEndpoint),
    /// The term file could not be read or written.
    #[error("term file {path}: {source}")]
    TermFile {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// How a stop request reaches a running client (tests, embedding).
pub type StopFlag = Arc<AtomicBool>;

/// One gateway answer, handed back to the main thread.
enum Answer {
    Granted(Option<(LeaseId, Duration)>),
    KeptAlive(LeaseId, KeepAliveOutcome),
    Campaigned(LeaseId, Option<Revision>),
    Observed(Option<Option<ObservedLeader>>),
}

/// Runs the client until `stop` is set or stdout is closed (then `Ok`).
/// Prints `ready` first, then a `state` event for every change.
pub fn run_client(
    config: ShellConfig,
    events: &mut dyn EventSink,
    stop: StopFlag,
) -> Result<(), ShellError> {
    match event_loop(config, events, stop) {
        Err(ShellError::Protocol(ProtocolError::Closed)) => Ok(()),
        other => other,
    }
}

fn event_loop(
    config: ShellConfig,
    events: &mut dyn EventSink,
    stop: StopFlag,
) -> Result<(), ShellError> {
    let term_file = config.data_dir.as_ref().map(|dir| dir.join(TERM_FILE));
    let restored = match &term_file {
        Some(path) => read_term(path)?,
        None => 0,
    };
    let gateway = Gateway::new(&config.etcd)?;
    eprintln!(
        "etcd-elect {}: etcd endpoints {}",
        config.client.id, config.etcd
    );
    let clock = Instant::now();
    let (answers_tx, answers) = mpsc::channel();
    let mut shell = Shell {
        client: ElectionClient::new(config.client.clone(), restored, Duration::ZERO),
        gateway,
        answers_tx,
        events,
        term_file,
        config,
    };
    shell
        .events
        .emit(&Event::Ready)
        .map_err(ShellError::Protocol)?;
    while !stop.load(Ordering::Relaxed) {
        let now = clock.elapsed();
        let outputs = shell.client.tick(now);
        shell.execute(outputs)?;
        let wait = shell
            .client
            .next_deadline()
            .saturating_sub(clock.elapsed())
            .min(MAX_IDLE);
        let Ok(answer) = answers.recv_timeout(wait) else {
            continue;
        };
        let now = clock.elapsed();
        let outputs = match answer {
            Answer::Granted(granted) => shell.client.on_granted(now, granted),
            Answer::KeptAlive(lease, outcome) => shell.client.on_keep_alive(now, lease, outcome),
            Answer::Campaigned(lease, elected) => shell.client.on_campaign(now, lease, elected),
            Answer::Observed(observed) => shell.client.on_observed(now, observed),
        };
        shell.execute(outputs)?;
    }
    Ok(())
}

struct Shell<'a> {
    client: ElectionClient,
    gateway: Gateway,
    answers_tx: mpsc::Sender<Answer>,
    events: &'a mut dyn EventSink,
    term_file: Option<PathBuf>,
    config: ShellConfig,
}

impl Shell<'_> {
    fn execute(&mut self, outputs: Vec<Output>) -> Result<(), ShellError> {
        for output in outputs {
            match output {
                Output::PersistTerm(term) => {
                    if let Some(path) = &self.term_file {
                        write_term(path, term)?;
                    }
                }
                Output::State { role, term, leader } => {
                    let event = Event::State {
                        role: role.as_str().to_owned(),
                        term,
                        leader,
                    };
                    self.events.emit(&event).map_err(ShellError::Protocol)?;
                }
                Output::Grant => self.request(Shell::grant),
                Output::KeepAlive { lease } => {
                    self.request(move |gateway, config| keep_alive(gateway, config, lease))
                }
                Output::Campaign { lease } => {
                    self.request(move |gateway, config| campaign(gateway, config, lease))
                }
                Output::ObserveLeader => self.request(observe),
            }
        }
        Ok(())
    }

    /// Runs one gateway call on its own thread; its answer comes back over the channel.
    fn request(&self, call: impl FnOnce(&Gateway, &ShellConfig) -> Answer + Send + 'static) {
        let gateway = self.gateway.clone();
        let config = self.config.clone();
        let answers = self.answers_tx.clone();
        std::thread::spawn(move || {
            let answer = call(&gateway, &config);
            // The main thread is gone only when the client is stopping.
            let _ = answers.send(answer);
        });
    }

    fn grant(gateway: &Gateway, config: &ShellConfig) -> Answer {
        let granted = gateway
            .grant(config.client.ttl, config.request_timeout)
            .map_err(|error| warn(config, &error))
            .ok();
        Answer::Granted(granted)
    }
}

fn keep_alive(gateway: &Gateway, config: &ShellConfig, lease: LeaseId) -> Answer {
    let outcome = match gateway.keep_alive(lease, config.request_timeout) {
        Ok(KeepAliveAnswer::Alive(ttl)) => KeepAliveOutcome::Alive(ttl),
        Ok(KeepAliveAnswer::Gone) => KeepAliveOutcome::Gone,
        Err(error) => {
            warn(config, &error);
            KeepAliveOutcome::Failed
        }
    };
    Answer::KeptAlive(lease, outcome)
}

fn campaign(gateway: &Gateway, config: &ShellConfig, lease: LeaseId) -> Answer {
    let elected = gateway
        .campaign(&config.election, lease, &config.client.id, CAMPAIGN_TIMEOUT)
        .map_err(|error| warn(config, &error))
        .ok();
    Answer::Campaigned(lease, elected)
}

fn observe(gateway: &Gateway, config: &ShellConfig) -> Answer {
    let observed = gateway
        .leader(&config.election, config.request_timeout)
        .map_err(|error| warn(config, &error))
        .ok();
    Answer::Observed(observed)
}

fn warn(config: &ShellConfig, error: &dyn std::fmt::Display) {
    eprintln!("etcd-elect {}: {error}", config.client.id);
}

fn read_term(path: &PathBuf) -> Result<Revision, ShellError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().parse().unwrap_or(0)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(source) => Err(ShellError::TermFile {
            path: path.clone(),
            source,
        }),
    }
}

fn write_term(path: &PathBuf, term: Revision) -> Result<(), ShellError> {
    let error = |source| ShellError::TermFile {
        path: path.clone(),
        source,
    };
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, format!("{term}\n")).map_err(error)?;
    std::fs::rename(&temporary, path).map_err(error)
}
