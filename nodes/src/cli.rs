//! The `splitbrain node <algorithm> ...` command line, embedded by the
//! harness binary so one executable is both the controller and every node.
//! Each flag that the node protocol also passes by environment falls back to
//! its `SPLITBRAIN_*` variable.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

pub use crate::args::{seed_from_id, CliError, MillisRange, PeerList};
use crate::protocol::StdoutSink;
use crate::raft::{run_node, BoundListener, Bug, RaftConfig, ShellConfig, TransportKind};

/// The built-in node algorithms.
#[derive(Debug, Clone, Subcommand)]
pub enum NodeCommand {
    /// A Raft election node (terms, votes, heartbeats, a minimal log).
    Raft(RaftArgs),
    /// A leader election through a Redis lease with a fencing token.
    Lease(crate::lease::LeaseArgs),
    /// The bully algorithm with terms, over UDP (no quorum: split brain
    /// under partitions is expected).
    Bully(crate::bully::BullyArgs),
    /// An etcd election client: campaigns on an election over etcd's v3 API
    /// with a lease; its term is its key's create revision.
    EtcdElect(crate::etcd_elect::EtcdElectArgs),
    /// The real `etcdctl elect` (60 s session lease) through a Python
    /// adapter; its term is its key's create revision. Flags go to the
    /// adapter (`--help` shows them).
    #[command(disable_help_flag = true)]
    EtcdctlElect(crate::etcdctl_elect::EtcdctlElectArgs),
}

/// Flags of `splitbrain node raft`.
#[derive(Debug, Clone, Args)]
pub struct RaftArgs {
    /// This node's id (n1, n2, ...).
    #[arg(long, env = "SPLITBRAIN_ID")]
    pub id: String,
    /// The address to bind for peer traffic (host:port).
    #[arg(long, env = "SPLITBRAIN_LISTEN")]
    pub listen: SocketAddr,
    /// The other nodes as id=host:port,... (proxy addresses); empty for a
    /// single-node cluster.
    #[arg(long, env = "SPLITBRAIN_PEERS", default_value = "")]
    pub peers: PeerList,
    /// Directory for the durable term and vote, kept across restarts.
    #[arg(long, env = "SPLITBRAIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Seed of the election-timeout RNG (default: derived from the id).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Randomized election timeout range in ms, MIN-MAX (or one value).
    #[arg(long, default_value = "150-300")]
    pub election_timeout: MillisRange,
    /// Leader heartbeat interval in ms.
    #[arg(long, default_value_t = 50)]
    pub heartbeat: u64,
    /// Peer transport.
    #[arg(long, value_enum, default_value_t = TransportKind::Udp)]
    pub transport: TransportKind,
    /// A seeded bug to run with (the checkers should catch it).
    #[arg(long, value_enum)]
    pub bug: Option<Bug>,
    /// Ask for pre-votes before starting an election (Raft thesis §9.6).
    #[arg(long)]
    pub prevote: bool,
    /// A leader steps down when it has not heard from a majority within an
    /// election timeout.
    #[arg(long)]
    pub check_quorum: bool,
    /// Print no `vote` events, like most third-party nodes: the checkers
    /// then judge from leadership claims alone (`vote-*` say not applicable).
    #[arg(long)]
    pub no_vote_events: bool,
}

impl RaftArgs {
    /// Validates the flags and turns them into the shell's configuration.
    pub fn shell_config(&self) -> Result<ShellConfig, CliError> {
        let id = self.id.trim();
        if id.is_empty() {
            return Err(CliError::EmptyId);
        }
        if self.peers.0.iter().any(|(peer, _)| peer == id) {
            return Err(CliError::SelfInPeers(id.to_owned()));
        }
        if self.heartbeat == 0 {
            return Err(CliError::ZeroHeartbeat);
        }
        let peer_addrs: BTreeMap<String, SocketAddr> = self.peers.0.iter().cloned().collect();
        let raft = RaftConfig {
            id: id.to_owned(),
            peers: peer_addrs.keys().cloned().collect(),
            election_timeout_min: Duration::from_millis(self.election_timeout.min),
            election_timeout_max: Duration::from_millis(self.election_timeout.max),
            heartbeat_interval: Duration::from_millis(self.heartbeat),
            prevote: self.prevote,
            check_quorum: self.check_quorum,
            bug: self.bug,
        };
        Ok(ShellConfig {
            raft,
            peer_addrs,
            data_dir: self.data_dir.clone(),
            seed: self.seed.unwrap_or_else(|| seed_from_id(id)),
            vote_events: !self.no_vote_events,
        })
    }
}

/// Runs the chosen node until it is killed or its stdout is closed.
pub fn run(cmd: NodeCommand) -> anyhow::Result<()> {
    match cmd {
        NodeCommand::Raft(args) => run_raft(&args),
        NodeCommand::Lease(args) => crate::lease::run_lease(&args),
        NodeCommand::Bully(args) => crate::bully::run_bully(&args),
        NodeCommand::EtcdElect(args) => crate::etcd_elect::run(&args),
        NodeCommand::EtcdctlElect(args) => crate::etcdctl_elect::run(&args),
    }
}

fn run_raft(args: &RaftArgs) -> anyhow::Result<()> {
    let config = args.shell_config()?;
    let listener = BoundListener::bind(args.transport, args.listen).with_context(|| {
        let transport = format!("{:?}", args.transport).to_lowercase();
        format!("binding {} ({transport})", args.listen)
    })?;
    if args.election_timeout.min <= args.heartbeat {
        eprintln!(
            "raft {}: warning: heartbeat {} ms is not below the election timeout {} ms; \
             followers will time out",
            config.raft.id, args.heartbeat, args.election_timeout.min
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    run_node(config, listener, &mut StdoutSink, stop)
        .with_context(|| format!("raft node {}", args.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(subcommand)]
        node: NodeCommand,
    }

    fn parse(args: &[&str]) -> Result<RaftArgs, clap::Error> {
        let argv = ["node", "raft"].iter().chain(args);
        TestCli::try_parse_from(argv).map(|cli| match cli.node {
            NodeCommand::Raft(args) => args,
            other => panic!("expected raft arguments, got {other:?}"),
        })
    }

    #[test]
    fn parses_every_flag() {
        let args = parse(&[
            "--id",
            "n1",
            "--listen",
            "127.0.0.1:7001",
            "--peers",
            "n2=127.0.0.1:7002,n3=127.0.0.1:7003",
            "--data-dir",
            "/tmp/x",
            "--seed",
            "9",
            "--election-timeout",
            "200-400",
            "--heartbeat",
            "20",
            "--transport",
            "tcp",
            "--bug",
            "forget-term",
            "--prevote",
            "--check-quorum",
            "--no-vote-events",
        ])
        .unwrap();
        let config = args.shell_config().unwrap();
        assert_eq!(config.raft.id, "n1");
        assert_eq!(config.raft.peers, vec!["n2".to_owned(), "n3".to_owned()]);
        assert_eq!(config.peer_addrs["n3"], "127.0.0.1:7003".parse().unwrap());
        assert_eq!(config.seed, 9);
        assert_eq!(config.raft.election_timeout_min, Duration::from_millis(200));
        assert_eq!(config.raft.election_timeout_max, Duration::from_millis(400));
        assert_eq!(config.raft.heartbeat_interval, Duration::from_millis(20));
        assert_eq!(args.transport, TransportKind::Tcp);
        assert_eq!(config.raft.bug, Some(Bug::ForgetTerm));
        assert!(config.raft.prevote && config.raft.check_quorum);
        assert!(!config.vote_events);
    }

    #[test]
    fn defaults_and_single_node_cluster() {
        let args = parse(&[
            "--id",
            "n1",
            "--listen",
            "127.0.0.1:7001",
            "--peers",
            "",
            "--data-dir",
            "d",
        ])
        .unwrap();
        let config = args.shell_config().unwrap();
        assert!(config.raft.peers.is_empty());
        assert_eq!(config.seed, seed_from_id("n1"));
        assert_ne!(seed_from_id("n1"), seed_from_id("n2"));
        assert_eq!(config.raft.election_timeout_min, Duration::from_millis(150));
        assert_eq!(config.raft.election_timeout_max, Duration::from_millis(300));
        assert_eq!(config.raft.heartbeat_interval, Duration::from_millis(50));
        assert_eq!(args.transport, TransportKind::Udp);
        assert_eq!(config.raft.bug, None);
        assert!(config.vote_events, "vote events are on unless switched off");
    }

    #[test]
    fn bad_arguments_are_refused_with_a_reason() {
        let base = [
            "--id",
            "n1",
            "--listen",
            "127.0.0.1:7001",
            "--data-dir",
            "d",
        ];
        let with = |extra: &[&str]| {
            let mut all: Vec<&str> = base.to_vec();
            all.extend_from_slice(extra);
            parse(&all)
        };
        assert!(with(&["--peers", "n2"]).is_err());
        assert!(with(&["--peers", "n2=nowhere"]).is_err());
        assert!(with(&["--peers", "n2=127.0.0.1:1,n2=127.0.0.1:2"]).is_err());
        assert!(with(&["--election-timeout", "300-150"]).is_err());
        assert!(with(&["--election-timeout", "abc"]).is_err());
        assert!(with(&["--bug", "no-such-bug"]).is_err());
        assert!(with(&["--transport", "carrier-pigeon"]).is_err());
        assert!(
            parse(&["--id", "n1"]).is_err(),
            "listen and data dir are required"
        );
        let self_peer = with(&["--peers", "n1=127.0.0.1:1"]).unwrap();
        assert!(matches!(
            self_peer.shell_config(),
            Err(CliError::SelfInPeers(_))
        ));
        let zero = with(&["--heartbeat", "0"]).unwrap();
        assert!(matches!(zero.shell_config(), Err(CliError::ZeroHeartbeat)));
    }

    #[test]
    fn every_bug_has_a_kebab_case_name() {
        use clap::ValueEnum;
        let names: Vec<String> = Bug::value_variants()
            .iter()
            .filter_map(|bug| bug.to_possible_value())
            .map(|value| value.get_name().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "forget-term",
                "forget-vote",
                "vote-twice",
                "no-step-down",
                "quorum-off-by-one",
                "stale-heartbeat",
                "no-log-check",
                "count-replies",
                "count-earlier-terms"
            ]
        );
    }
}
