//! The node protocol (contract 1): the events a node prints on stdout, one
//! JSON object per line, flushed after every line, so the controller can
//! timestamp each one the moment it is written.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One line of a node's stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The node is bound and ready for peer traffic (printed once).
    Ready,
    /// Role, term or known leader changed.
    State {
        /// `follower`, `candidate`, `leader`, ... (free-form for other algorithms).
        role: String,
        /// Raft term, epoch or fencing token.
        term: u64,
        /// The known leader, `null` when unknown.
        leader: Option<String>,
    },
    /// The node granted a vote.
    Vote {
        /// The term of the vote.
        term: u64,
        /// The candidate that got the vote.
        #[serde(rename = "for")]
        candidate: String,
        /// The voter's `[last log term, last log index]`.
        voter_log: [u64; 2],
        /// The candidate's `[last log term, last log index]`.
        candidate_log: [u64; 2],
    },
}

/// Why an event could not be reported.
#[derive(Debug, Error)]
pub enum ProtocolError {
    /// The reader went away (EPIPE): the node should exit quietly.
    #[error("stdout closed")]
    Closed,
    /// Any other write failure.
    #[error("writing an event: {0}")]
    Io(#[from] io::Error),
}

/// Where a node's events go: stdout in production, a channel in tests.
pub trait EventSink {
    /// Reports one event, durably visible to the reader when it returns.
    fn emit(&mut self, event: &Event) -> Result<(), ProtocolError>;
}

/// Writes `event` as one JSON line and flushes it.
pub fn write_event(writer: &mut impl Write, event: &Event) -> Result<(), ProtocolError> {
    let mut line = serde_json::to_vec(event).map_err(io::Error::from)?;
    line.push(b'\n');
    let result = writer.write_all(&line).and_then(|()| writer.flush());
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Err(ProtocolError::Closed),
        Err(error) => Err(ProtocolError::Io(error)),
    }
}

/// The production sink: the process's stdout.
#[derive(Debug, Default)]
pub struct StdoutSink;

impl EventSink for StdoutSink {
    fn emit(&mut self, event: &Event) -> Result<(), ProtocolError> {
        write_event(&mut io::stdout().lock(), event)
    }
}

/// A sink that hands events to another thread (for tests and embedding).
#[derive(Debug, Clone)]
pub struct ChannelSink(pub std::sync::mpsc::Sender<Event>);

impl EventSink for ChannelSink {
    fn emit(&mut self, event: &Event) -> Result<(), ProtocolError> {
        self.0
            .send(event.clone())
            .map_err(|_| ProtocolError::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(event: &Event) -> String {
        let mut buffer = Vec::new();
        write_event(&mut buffer, event).unwrap();
        String::from_utf8(buffer).unwrap()
    }

    #[test]
    fn events_match_the_documented_lines() {
        assert_eq!(line(&Event::Ready), "{\"type\":\"ready\"}\n");
        let state = Event::State {
            role: "follower".into(),
            term: 3,
            leader: Some("n2".into()),
        };
        assert_eq!(
            line(&state),
            "{\"type\":\"state\",\"role\":\"follower\",\"term\":3,\"leader\":\"n2\"}\n"
        );
        let unknown_leader = Event::State {
            role: "candidate".into(),
            term: 4,
            leader: None,
        };
        assert!(line(&unknown_leader).contains("\"leader\":null"));
        let vote = Event::Vote {
            term: 5,
            candidate: "n3".into(),
            voter_log: [4, 17],
            candidate_log: [4, 18],
        };
        assert_eq!(
            line(&vote),
            "{\"type\":\"vote\",\"term\":5,\"for\":\"n3\",\"voter_log\":[4,17],\"candidate_log\":[4,18]}\n"
        );
    }

    #[test]
    fn broken_pipe_is_reported_as_closed() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        assert!(matches!(
            write_event(&mut Closed, &Event::Ready),
            Err(ProtocolError::Closed)
        ));
    }
}
