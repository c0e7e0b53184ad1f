//! The argument types every built-in node's command line shares (peer
//! lists, millisecond ranges, per-id seeds): a leaf module, so each node's
//! own `cli` and the `splitbrain node` dispatcher can use them without
//! depending on each other.

use std::net::SocketAddr;
use std::str::FromStr;

use thiserror::Error;

/// A list of `id=host:port` peers, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerList(pub Vec<(String, SocketAddr)>);

impl FromStr for PeerList {
    type Err = CliError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut peers = Vec::new();
        for item in text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let (id, addr) = item
                .split_once('=')
                .ok_or_else(|| CliError::BadPeer(item.to_owned(), "expected id=host:port"))?;
            let id = id.trim();
            if id.is_empty() {
                return Err(CliError::BadPeer(item.to_owned(), "empty id"));
            }
            let addr = addr
                .trim()
                .parse()
                .map_err(|_| CliError::BadPeer(item.to_owned(), "bad host:port"))?;
            if peers
                .iter()
                .any(|(seen, _): &(String, SocketAddr)| seen == id)
            {
                return Err(CliError::BadPeer(item.to_owned(), "duplicate id"));
            }
            peers.push((id.to_owned(), addr));
        }
        Ok(PeerList(peers))
    }
}

/// A range of milliseconds, `MIN-MAX` or a single value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MillisRange {
    /// Lower bound.
    pub min: u64,
    /// Upper bound (inclusive).
    pub max: u64,
}

impl FromStr for MillisRange {
    type Err = CliError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || CliError::BadRange(text.to_owned());
        let (min, max) = match text.split_once('-') {
            Some((min, max)) => (min.trim(), max.trim()),
            None => (text.trim(), text.trim()),
        };
        let min: u64 = min.parse().map_err(|_| bad())?;
        let max: u64 = max.parse().map_err(|_| bad())?;
        if min == 0 || min > max {
            return Err(bad());
        }
        Ok(MillisRange { min, max })
    }
}

/// Arguments that parse but make no sense together.
#[derive(Debug, Error)]
pub enum CliError {
    /// A `--peers` item is malformed.
    #[error("bad peer {0:?}: {1}")]
    BadPeer(String, &'static str),
    /// `--election-timeout` is not `MIN-MAX` with 0 < MIN <= MAX.
    #[error("bad range {0:?}: expected MIN-MAX in ms with 0 < MIN <= MAX")]
    BadRange(String),
    /// `--id` is empty.
    #[error("--id must not be empty")]
    EmptyId,
    /// `--peers` names this node itself.
    #[error("--peers must not include this node's own id {0:?}")]
    SelfInPeers(String),
    /// `--heartbeat` is zero.
    #[error("--heartbeat must be at least 1 ms")]
    ZeroHeartbeat,
}

/// A stable seed per node id (FNV-1a), so runs are reproducible without a
/// `--seed` while different nodes still draw different timeouts.
pub fn seed_from_id(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
