//! The built-in Redis lease election (`splitbrain node lease`): a pure state
//! machine ([`core`]) with seeded bugs, the lease scripts ([`store`]) over a
//! small RESP client ([`resp`]), a thin I/O shell ([`shell`]) and its
//! command line ([`cli`]).

pub mod cli;
pub mod core;
pub mod resp;
pub mod shell;
pub mod store;

pub use self::cli::{run_lease, LeaseArgs};
pub use self::core::{
    LeaseBug, LeaseConfig, LeaseNode, LeaseRole, Output, RenewMode, Reply, Request,
};
pub use self::shell::{run_lease_node, LeaseShellConfig};

#[cfg(test)]
mod redis_tests;
