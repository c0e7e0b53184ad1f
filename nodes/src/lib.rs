//! Built-in election nodes (run as `splitbrain node <algorithm>`) and the
//! target files that describe how to run any node, built-in or third-party.

pub mod target;

pub mod args;
pub mod bully;
pub mod cli;
pub mod etcd_elect;
pub mod etcdctl_elect;
pub mod lease;
pub mod protocol;
pub mod raft;

pub use cli::{run, NodeCommand, RaftArgs};
