//! The built-in bully election (`splitbrain node bully`): a pure state
//! machine ([`core`]) with terms added to the classic algorithm, a thin UDP
//! shell ([`shell`]) and its command line ([`cli`]). It needs no quorum, so
//! it is expected to elect two coordinators across a partition.

pub mod cli;
pub mod core;
pub mod shell;

pub use self::cli::{run_bully, BullyArgs};
pub use self::core::{BullyConfig, BullyNode, BullyRole, Message, Output};
pub use self::shell::{run_bully_node, BullyShellConfig, BullyShellError};
