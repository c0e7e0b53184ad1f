//! `splitbrain node etcd-elect`: an election client of etcd's v3 election
//! API (the seeds' etcd campaign recipe), speaking the HTTP gateway so the
//! lease TTL is configurable (`etcdctl elect` fixes its session lease at
//! 60 s). A pure state machine ([`core`]), the gateway calls ([`gateway`])
//! and a thin shell ([`shell`]); see `docs/etcd.md`.

pub mod core;
pub mod gateway;
pub mod shell;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use thiserror::Error;

pub use self::core::{Bug, ElectConfig, ElectionClient, Output, Role};
pub use self::shell::{run_client, ShellConfig, ShellError};
use crate::protocol::StdoutSink;

/// Flags of `splitbrain node etcd-elect`.
#[derive(Debug, Clone, Args)]
pub struct EtcdElectArgs {
    /// This node's id (n1, n2, ...), also the value it campaigns with.
    #[arg(long, env = "SPLITBRAIN_ID")]
    pub id: String,
    /// etcd's client addresses, host:port, comma-separated for a cluster
    /// (the proxy's address for each member); requests fail over between them.
    #[arg(long)]
    pub etcd: String,
    /// The election name every node campaigns on.
    #[arg(long, default_value = "splitbrain")]
    pub election: String,
    /// Lease TTL in whole seconds (`2s` or `2`); etcd raises TTLs below its
    /// minimum (2 s with default timing).
    #[arg(long, default_value = "2s")]
    pub ttl: WholeSeconds,
    /// A leader steps down this many ms before its lease could expire in etcd.
    #[arg(long, default_value_t = 100)]
    pub safety_margin: u64,
    /// How often a non-leader asks who leads, in ms.
    #[arg(long, default_value_t = 50)]
    pub observe_interval: u64,
    /// Where the highest reported term is kept across restarts.
    #[arg(long, env = "SPLITBRAIN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// A seeded bug to run with (the checkers should catch it).
    #[arg(long, value_enum)]
    pub bug: Option<Bug>,
}

/// A duration in whole seconds (etcd lease TTLs are whole seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WholeSeconds(pub Duration);

/// Flags that parse but cannot be used.
#[derive(Debug, Error)]
pub enum ArgsError {
    /// `--ttl` is not a positive whole number of seconds.
    #[error("bad TTL {0:?}: expected whole seconds, e.g. 2s or 2")]
    BadTtl(String),
    /// `--id` is empty.
    #[error("--id must not be empty")]
    EmptyId,
    /// `--observe-interval` is zero.
    #[error("--observe-interval must be at least 1 ms")]
    ZeroObserveInterval,
}

impl FromStr for WholeSeconds {
    type Err = ArgsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits = text.trim().strip_suffix('s').unwrap_or(text.trim());
        match digits.parse::<u64>() {
            Ok(seconds) if seconds > 0 => Ok(WholeSeconds(Duration::from_secs(seconds))),
            _ => Err(ArgsError::BadTtl(text.to_owned())),
        }
    }
}

impl EtcdElectArgs {
    /// Validates the flags and turns them into the shell's configuration.
    pub fn shell_config(&self) -> Result<ShellConfig, ArgsError> {
        let id = self.id.trim();
        if id.is_empty() {
            return Err(ArgsError::EmptyId);
        }
        if self.observe_interval == 0 {
            return Err(ArgsError::ZeroObserveInterval);
        }
        let ttl = self.ttl.0;
        Ok(ShellConfig {
            client: ElectConfig {
                id: id.to_owned(),
                ttl,
                observe_interval: Duration::from_millis(self.observe_interval),
                retry_interval: Duration::from_millis(100),
                safety_margin: Duration::from_millis(self.safety_margin).min(ttl / 2),
                bug: self.bug,
            },
            etcd: self.etcd.clone(),
            election: self.election.clone(),
            data_dir: self.data_dir.clone(),
            // Short enough that a stalled keep-alive is retried well within the TTL.
            request_timeout: (ttl / 4).clamp(Duration::from_millis(200), Duration::from_secs(1)),
        })
    }
}

/// Runs the client until it is killed or its stdout is closed.
pub fn run(args: &EtcdElectArgs) -> anyhow::Result<()> {
    let config = args.shell_config()?;
    let stop = Arc::new(AtomicBool::new(false));
    run_client(config, &mut StdoutSink, stop)
        .with_context(|| format!("etcd-elect node {}", args.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(flatten)]
        args: EtcdElectArgs,
    }

    #[test]
    fn parses_flags_and_refuses_bad_ones() {
        let cli = TestCli::try_parse_from([
            "x",
            "--id",
            "n2",
            "--etcd",
            "127.0.0.1:2379",
            "--election",
            "e",
            "--ttl",
            "3s",
            "--bug",
            "no-lease-check",
            "--data-dir",
            "d",
        ])
        .unwrap();
        let config = cli.args.shell_config().unwrap();
        assert_eq!(config.client.id, "n2");
        assert_eq!(config.client.ttl, Duration::from_secs(3));
        assert_eq!(config.client.bug, Some(Bug::NoLeaseCheck));
        assert_eq!(config.request_timeout, Duration::from_millis(750));
        assert_eq!(config.election, "e");
        assert!("1500ms".parse::<WholeSeconds>().is_err());
        assert!("0s".parse::<WholeSeconds>().is_err());
        assert_eq!(
            "2".parse::<WholeSeconds>().unwrap().0,
            Duration::from_secs(2)
        );
        assert!(
            TestCli::try_parse_from(["x", "--id", "n1", "--etcd", "a:1", "--bug", "nope"]).is_err()
        );
    }
}
