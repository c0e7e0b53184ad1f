//! Flags of `splitbrain node bully`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use thiserror::Error;

use super::core::BullyConfig;
use super::shell::{run_bully_node, BullyShellConfig};
use crate::args::{seed_from_id, MillisRange, PeerList};
use crate::protocol::StdoutSink;

/// Flags of `splitbrain node bully`: the bully algorithm over UDP.
#[derive(Debug, Clone, Args)]
pub struct BullyArgs {
    /// This node's id (n1, n2, ...); the number at its end is its rank.
    #[arg(long, env = "SPLITBRAIN_ID")]
    pub id: String,
    /// The UDP address to bind for peer traffic (host:port).
    #[arg(long, env = "SPLITBRAIN_LISTEN")]
    pub listen: SocketAddr,
    /// The other nodes as id=host:port,... (proxy addresses).
    #[arg(long, env = "SPLITBRAIN_PEERS", default_value = "")]
    pub peers: PeerList,
    /// Seed of the coordinator-timeout RNG (default: derived from the id).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Coordinator heartbeat interval in ms.
    #[arg(long, default_value_t = 50)]
    pub heartbeat: u64,
    /// A follower starts an election after hearing no coordinator for a
    /// random time in this range, in ms (MIN-MAX).
    #[arg(long, default_value = "300-450")]
    pub coordinator_timeout: MillisRange,
    /// A candidate with no OK after this many ms becomes coordinator.
    #[arg(long, default_value_t = 100)]
    pub ok_timeout: u64,
    /// A candidate that got an OK waits this many ms for the announcement.
    #[arg(long, default_value_t = 300)]
    pub coordinator_wait: u64,
}

/// Flags that parse but make no sense together.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BullyArgsError {
    /// `--id` is empty.
    #[error("--id must not be empty")]
    EmptyId,
    /// `--peers` names this node itself.
    #[error("--peers must not include this node's own id {0:?}")]
    SelfInPeers(String),
    /// A zero interval would spin or never wait.
    #[error("--heartbeat, --ok-timeout and --coordinator-wait must be at least 1 ms")]
    ZeroInterval,
}

impl BullyArgs {
    /// Validates the flags and turns them into the shell's configuration.
    pub fn shell_config(&self) -> Result<BullyShellConfig, BullyArgsError> {
        let id = self.id.trim();
        if id.is_empty() {
            return Err(BullyArgsError::EmptyId);
        }
        if self.peers.0.iter().any(|(peer, _)| peer == id) {
            return Err(BullyArgsError::SelfInPeers(id.to_owned()));
        }
        if self.heartbeat == 0 || self.ok_timeout == 0 || self.coordinator_wait == 0 {
            return Err(BullyArgsError::ZeroInterval);
        }
        let peer_addrs: BTreeMap<String, SocketAddr> = self.peers.0.iter().cloned().collect();
        let mut bully = BullyConfig::new(id, peer_addrs.keys().cloned().collect());
        bully.heartbeat_interval = Duration::from_millis(self.heartbeat);
        bully.coordinator_timeout = (
            Duration::from_millis(self.coordinator_timeout.min),
            Duration::from_millis(self.coordinator_timeout.max),
        );
        bully.ok_timeout = Duration::from_millis(self.ok_timeout);
        bully.coordinator_wait = Duration::from_millis(self.coordinator_wait);
        Ok(BullyShellConfig {
            bully,
            peer_addrs,
            seed: self.seed.unwrap_or_else(|| seed_from_id(id)),
        })
    }
}

/// Runs `splitbrain node bully` until killed or stdout closes.
pub fn run_bully(args: &BullyArgs) -> anyhow::Result<()> {
    let config = args.shell_config()?;
    let socket =
        UdpSocket::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    let stop = AtomicBool::new(false);
    run_bully_node(config, socket, &mut StdoutSink, &stop)
        .with_context(|| format!("bully node {}", args.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(flatten)]
        bully: BullyArgs,
    }

    fn parse(args: &[&str]) -> Result<BullyArgs, clap::Error> {
        TestCli::try_parse_from(["bully"].iter().chain(args)).map(|cli| cli.bully)
    }

    #[test]
    fn flags_defaults_and_refusals() {
        let base = ["--id", "n1", "--listen", "127.0.0.1:7001"];
        let args = parse(&[&base[..], &["--peers", "n2=127.0.0.1:7002"]].concat()).unwrap();
        let config = args.shell_config().unwrap();
        assert_eq!(config.bully.peers, ["n2"]);
        assert_eq!(config.bully.heartbeat_interval, Duration::from_millis(50));
        assert_eq!(config.seed, seed_from_id("n1"));
        let args = parse(
            &[
                &base[..],
                &["--coordinator-timeout", "200-250", "--seed", "4"],
            ]
            .concat(),
        )
        .unwrap();
        let config = args.shell_config().unwrap();
        assert_eq!(
            config.bully.coordinator_timeout.1,
            Duration::from_millis(250)
        );
        assert_eq!(config.seed, 4);
        assert!(parse(&[&base[..], &["--coordinator-timeout", "9-1"]].concat()).is_err());
        let own = parse(&[&base[..], &["--peers", "n1=127.0.0.1:1"]].concat()).unwrap();
        assert_eq!(
            own.shell_config().err(),
            Some(BullyArgsError::SelfInPeers("n1".into()))
        );
        let zero = parse(&[&base[..], &["--ok-timeout", "0"]].concat()).unwrap();
        assert_eq!(
            zero.shell_config().err(),
            Some(BullyArgsError::ZeroInterval)
        );
    }
}
