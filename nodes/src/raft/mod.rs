//! The built-in Raft election node (`splitbrain node raft`): a pure state
//! machine ([`core`]) with seeded bugs, durable term and vote ([`storage`]),
//! UDP/TCP transports ([`transport`]) and a thin I/O shell ([`shell`]).

pub mod core;
pub mod message;
pub mod shell;
pub mod storage;
pub mod transport;

#[cfg(test)]
mod sim_tests;

#[cfg(test)]
mod loopback_tests;

pub use self::core::{Bug, Output, PersistentState, RaftConfig, RaftNode, Role};
pub use self::message::{Entry, Message, NodeId, Term};
pub use self::shell::{run_node, ShellConfig, ShellError, StopFlag};
pub use self::storage::{StateStore, StorageError};
pub use self::transport::{BoundListener, TransportKind};
