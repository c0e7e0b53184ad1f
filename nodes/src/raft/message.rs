//! The Raft peer messages, as they travel between nodes (JSON, one message per
//! UDP datagram or per length-prefixed TCP frame).

use serde::{Deserialize, Serialize};

/// A node's name (`n1`, `n2`, ...). The sender of every message names itself
/// in `from`, because peers are reached through a proxy and the source address
/// says nothing about who sent it.
pub type NodeId = String;

/// A Raft term. Monotonic per node (unless a seeded bug says otherwise).
pub type Term = u64;

/// A position in the log, 1-based; 0 means "before the first entry".
pub type LogIndex = u64;

/// One log entry. The election node only needs the term of each entry: that is
/// what the up-to-date rule (Raft §5.4.1) and the AppendEntries consistency
/// check compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The term of the leader that created the entry.
    pub term: Term,
}

/// A message between two Raft nodes. Every variant carries the sender and its
/// term, so the receiver can apply the term rules before anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// A candidate asks for a vote in `term` (Raft §5.2).
    RequestVote {
        /// The candidate.
        from: NodeId,
        /// The candidate's (new) term.
        term: Term,
        /// Index of the candidate's last log entry.
        last_log_index: LogIndex,
        /// Term of the candidate's last log entry.
        last_log_term: Term,
    },
    /// The answer to [`Message::RequestVote`].
    RequestVoteReply {
        /// The voter.
        from: NodeId,
        /// The voter's current term.
        term: Term,
        /// Whether the vote was granted.
        granted: bool,
    },
    /// A pre-candidate asks whether it could win an election in `term`
    /// without bumping its own term yet (Raft thesis §9.6).
    PreVote {
        /// The pre-candidate.
        from: NodeId,
        /// The term the pre-candidate would campaign in (its term + 1).
        term: Term,
        /// Index of the pre-candidate's last log entry.
        last_log_index: LogIndex,
        /// Term of the pre-candidate's last log entry.
        last_log_term: Term,
    },
    /// The answer to [`Message::PreVote`]: when granted, `term` echoes the
    /// proposed term; when refused, it is the responder's current term.
    PreVoteReply {
        /// The responder.
        from: NodeId,
        /// See the variant doc.
        term: Term,
        /// Whether the pre-vote was granted.
        granted: bool,
    },
    /// Heartbeat and log replication from the leader (Raft §5.3).
    AppendEntries {
        /// The leader.
        from: NodeId,
        /// The leader's term.
        term: Term,
        /// Index of the entry just before `entries`.
        prev_log_index: LogIndex,
        /// Term of the entry at `prev_log_index` (0 when the index is 0).
        prev_log_term: Term,
        /// Entries to store, starting at `prev_log_index + 1` (maybe none).
        entries: Vec<Entry>,
    },
    /// The answer to [`Message::AppendEntries`].
    AppendEntriesReply {
        /// The follower.
        from: NodeId,
        /// The follower's current term.
        term: Term,
        /// Whether the consistency check passed and the entries were stored.
        success: bool,
        /// On success, the index of the last entry known to match the
        /// leader's log; on failure, a hint: the leader should retry from no
        /// further than `match_index + 1`.
        match_index: LogIndex,
    },
}

impl Message {
    /// The sender, as it names itself.
    pub fn from(&self) -> &str {
        match self {
            Message::RequestVote { from, .. }
            | Message::RequestVoteReply { from, .. }
            | Message::PreVote { from, .. }
            | Message::PreVoteReply { from, .. }
            | Message::AppendEntries { from, .. }
            | Message::AppendEntriesReply { from, .. } => from,
        }
    }

    /// The term the message was sent in (for pre-votes: the proposed term).
    pub fn term(&self) -> Term {
        match self {
            Message::RequestVote { term, .. }
            | Message::RequestVoteReply { term, .. }
            | Message::PreVote { term, .. }
            | Message::PreVoteReply { term, .. }
            | Message::AppendEntries { term, .. }
            | Message::AppendEntriesReply { term, .. } => *term,
        }
    }

    /// Encodes the message as JSON bytes (the wire format of both transports).
    pub fn encode(&self) -> Vec<u8> {
        // Serializing these plain structs to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes a message from JSON bytes; `None` for anything malformed, so
    /// the shell can count and drop it.
    pub fn decode(bytes: &[u8]) -> Option<Message> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json_with_type_from_and_term() {
        let message = Message::AppendEntries {
            from: "n1".into(),
            term: 3,
            prev_log_index: 2,
            prev_log_term: 1,
            entries: vec![Entry { term: 3 }],
        };
        let bytes = message.encode();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["type"], "append_entries");
        assert_eq!(value["from"], "n1");
        assert_eq!(value["term"], 3);
        assert_eq!(Message::decode(&bytes), Some(message));
    }

    #[test]
    fn malformed_input_decodes_to_none() {
        assert_eq!(Message::decode(b"not json"), None);
        assert_eq!(Message::decode(b"{\"type\":\"request_vote\"}"), None);
        assert_eq!(
            Message::decode(b"{\"type\":\"bogus\",\"from\":\"n1\",\"term\":1}"),
            None
        );
        assert_eq!(Message::decode(b"[1,2,3]"), None);
    }
}
