//! Flags of `splitbrain node lease`.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use thiserror::Error;

use super::core::{LeaseBug, LeaseConfig, RenewMode};
use super::shell::{run_lease_node, LeaseShellConfig};
use crate::protocol::StdoutSink;

/// Flags of `splitbrain node lease`: a leader election through one Redis key.
#[derive(Debug, Clone, Args)]
pub struct LeaseArgs {
    /// This node's id (n1, n2, ...), stored as the lease key's value.
    #[arg(long, env = "SPLITBRAIN_ID")]
    pub id: String,
    /// The Redis server (host:port; the proxy's address for this node).
    #[arg(long)]
    pub redis: SocketAddr,
    /// The lease key; `KEY:token` holds the fencing-token counter.
    #[arg(long, default_value = "splitbrain:lease")]
    pub key: String,
    /// Lease time to live in ms.
    #[arg(long, default_value_t = 1000)]
    pub ttl: u64,
    /// Renewal interval in ms (default: ttl/3).
    #[arg(long)]
    pub renew_interval: Option<u64>,
    /// Follower poll interval in ms (default: ttl/20).
    #[arg(long)]
    pub poll: Option<u64>,
    /// How the leader renews: cas (checks holder and token) or xx (SET XX).
    #[arg(long, value_enum, default_value_t = RenewMode::Cas)]
    pub renew: RenewMode,
    /// A seeded bug to run with (the checkers should catch it).
    #[arg(long, value_enum)]
    pub bug: Option<LeaseBug>,
}

/// Flags that parse but make no sense together.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LeaseArgsError {
    /// `--id` is empty.
    #[error("--id must not be empty")]
    EmptyId,
    /// The ttl is too short to renew within.
    #[error("--ttl must be at least 10 ms")]
    TtlTooShort,
    /// A renewal interval of zero or not below the ttl never keeps a lease.
    #[error("--renew-interval must be between 1 ms and the ttl")]
    BadRenewInterval,
    /// A zero poll interval would spin.
    #[error("--poll must be at least 1 ms")]
    ZeroPoll,
}

impl LeaseArgs {
    /// Validates the flags and turns them into the shell's configuration.
    pub fn shell_config(&self) -> Result<LeaseShellConfig, LeaseArgsError> {
        let id = self.id.trim();
        if id.is_empty() {
            return Err(LeaseArgsError::EmptyId);
        }
        if self.ttl < 10 {
            return Err(LeaseArgsError::TtlTooShort);
        }
        let ttl = Duration::from_millis(self.ttl);
        let mut lease = LeaseConfig::new(id, ttl);
        if let Some(renew) = self.renew_interval {
            if renew == 0 || renew >= self.ttl {
                return Err(LeaseArgsError::BadRenewInterval);
            }
            lease.renew_interval = Duration::from_millis(renew);
        }
        if let Some(poll) = self.poll {
            if poll == 0 {
                return Err(LeaseArgsError::ZeroPoll);
            }
            lease.poll_interval = Duration::from_millis(poll);
        }
        lease.renew = self.renew;
        lease.bug = self.bug;
        Ok(LeaseShellConfig {
            lease,
            redis: self.redis,
            key: self.key.clone(),
            stall_threshold: (ttl / 4).max(Duration::from_millis(50)),
        })
    }
}

/// Runs `splitbrain node lease` until killed or stdout closes.
pub fn run_lease(args: &LeaseArgs) -> anyhow::Result<()> {
    let config = args.shell_config()?;
    let stop = AtomicBool::new(false);
    run_lease_node(config, &mut StdoutSink, &stop)
        .with_context(|| format!("lease node {}", args.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(flatten)]
        lease: LeaseArgs,
    }

    fn parse(args: &[&str]) -> Result<LeaseArgs, clap::Error> {
        TestCli::try_parse_from(["lease"].iter().chain(args)).map(|cli| cli.lease)
    }

    #[test]
    fn flags_and_defaults() {
        let args = parse(&["--id", "n2", "--redis", "127.0.0.1:6390"]).unwrap();
        let config = args.shell_config().unwrap();
        assert_eq!(config.lease.ttl, Duration::from_millis(1000));
        assert_eq!(
            config.lease.renew_interval,
            Duration::from_nanos(333_333_333)
        );
        assert_eq!(config.lease.poll_interval, Duration::from_millis(50));
        assert_eq!(config.lease.effective_renew(), RenewMode::Cas);
        assert_eq!(config.key, "splitbrain:lease");
        let args = parse(&[
            "--id",
            "n2",
            "--redis",
            "127.0.0.1:6390",
            "--ttl",
            "600",
            "--renew",
            "xx",
            "--poll",
            "20",
            "--bug",
            "no-pause-check",
        ])
        .unwrap();
        let config = args.shell_config().unwrap();
        assert_eq!(config.lease.effective_renew(), RenewMode::Xx);
        assert_eq!(config.lease.bug, Some(LeaseBug::NoPauseCheck));
        let args = parse(&["--id", "n1", "--redis", "127.0.0.1:1", "--bug", "renew-xx"]).unwrap();
        assert_eq!(
            args.shell_config().unwrap().lease.effective_renew(),
            RenewMode::Xx
        );
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(parse(&["--id", "n1"]).is_err(), "--redis is required");
        assert!(parse(&["--id", "n1", "--redis", "nowhere"]).is_err());
        assert!(parse(&["--id", "n1", "--redis", "127.0.0.1:1", "--bug", "nope"]).is_err());
        let with = |extra: &[&str]| {
            let mut all = vec!["--id", "n1", "--redis", "127.0.0.1:1"];
            all.extend_from_slice(extra);
            parse(&all).unwrap().shell_config().err()
        };
        assert_eq!(with(&["--ttl", "5"]), Some(LeaseArgsError::TtlTooShort));
        assert_eq!(
            with(&["--renew-interval", "1000"]),
            Some(LeaseArgsError::BadRenewInterval)
        );
        assert_eq!(with(&["--poll", "0"]), Some(LeaseArgsError::ZeroPoll));
        assert_eq!(
            parse(&["--id", " ", "--redis", "127.0.0.1:1"])
                .unwrap()
                .shell_config()
                .err(),
            Some(LeaseArgsError::EmptyId)
        );
    }
}
