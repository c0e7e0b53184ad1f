//! Faults the kernel carries out, with no proxy in the path.
//!
//! * [`cgroup`]: every node (and every process it forks) in its own cgroup
//!   v2, so `kill` reaches daemonised grandchildren (`cgroup.kill`) and
//!   `pause` freezes a JVM or a shell wrapper whole (`cgroup.freeze`).
//! * [`links`]: one nftables table per run that marks each packet with the
//!   cgroup of the socket that sent it and drops it on input by (sender,
//!   receiving socket's cgroup), so links are cut per direction between
//!   processes that share 127.0.0.1 and tell peers their own addresses.
//! * [`owner`]: a lock per run that says whether its controller still lives,
//!   so a sweep at every start (and `splitbrain clean`) removes what a
//!   killed controller left, and nothing else.
//!
//! Everything is named after the run (`splitbrain/<run>/<node>` cgroups,
//! table `inet splitbrain-<run>`); nothing else in the ruleset or the cgroup
//! tree is read for writing or touched.

pub mod cgroup;
pub mod links;
pub mod nft;
pub mod owner;

pub use cgroup::{Hierarchy, NodeGroup, RunGroups};
pub use links::{LinkTable, TABLE_PREFIX};
pub use nft::Nft;
pub use owner::{Leftover, RunLock};

/// Why the kernel backend cannot be used here; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// No cgroup2 hierarchy is mounted (or it is not where nft looks).
    #[error("{0}")]
    NoCgroup2(String),
    /// Not root and without CAP_NET_ADMIN / write access to cgroups.
    #[error("{0}")]
    NotPermitted(String),
    /// libnftables (Debian package `nftables`) is missing.
    #[error("{0}")]
    NoNftables(String),
    /// nft refused a command.
    #[error("nft: {message} (command: {command})")]
    Nft {
        /// What nft printed on its error stream.
        message: String,
        /// The command, shortened.
        command: String,
    },
    /// A file under the cgroup tree or the lock directory.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

impl KernelError {
    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        KernelError::Io {
            path: path.into(),
            source,
        }
    }
}

/// True when this process may change the network configuration: root, or
/// CAP_NET_ADMIN in its effective set.
pub fn has_net_admin() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 12) != 0)
}

/// Everything the kernel network backend needs, checked before a run
/// starts anything: a writable cgroup2 hierarchy that nft can name,
/// CAP_NET_ADMIN, and libnftables.
pub fn check_network_backend() -> Result<Hierarchy, KernelError> {
    if !has_net_admin() {
        return Err(KernelError::NotPermitted(
            "the kernel network backend changes nftables rules: run as root or grant \
             CAP_NET_ADMIN (or use --network proxy)"
                .into(),
        ));
    }
    let hierarchy = Hierarchy::find()?;
    hierarchy.check_writable()?;
    if hierarchy.nft_prefix().is_none() {
        return Err(KernelError::NoCgroup2(format!(
            "cgroup2 is mounted at {}, outside /sys/fs/cgroup, where nft resolves cgroup paths; \
             mount it there (mount -t cgroup2 none /sys/fs/cgroup/unified) or use --network proxy",
            hierarchy.mount().display()
        )));
    }
    Nft::open()?;
    Ok(hierarchy)
}
