//! `splitbrain node etcdctl-elect`: the real `etcdctl elect` (Debian
//! `etcd-client`) as an election node, the slow variant of `etcd-elect`.
//!
//! The node is a small Python adapter (`nodes/adapters/etcdctl_elect.py`)
//! that runs `etcdctl elect` and speaks the node protocol. It is embedded in
//! the binary, like the built-in target files, so the built-in
//! `etcdctl-elect` target runs from any directory: this subcommand replaces
//! itself (exec, same pid and process group) with `python3 -c ADAPTER ARGS`.
//! See `docs/etcd.md`.

use std::os::unix::process::CommandExt;

use clap::Args;
use thiserror::Error;

/// The adapter's source.
pub const ADAPTER: &str = include_str!("../adapters/etcdctl_elect.py");

/// Flags of `splitbrain node etcdctl-elect`: passed to the adapter as they
/// are (`--help` shows the adapter's own help).
#[derive(Debug, Clone, Args)]
pub struct EtcdctlElectArgs {
    /// The adapter's arguments (`--id`, `--endpoints`, `--election`, ...).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// The adapter could not be started.
#[derive(Debug, Error)]
pub enum AdapterError {
    /// `python3` is missing or cannot be executed.
    #[error("cannot run python3 for the etcdctl-elect adapter: {0} (it comes with the Debian package python3: apt-get install python3)")]
    Python(std::io::Error),
}

/// The adapter's command line.
pub fn command(args: &EtcdctlElectArgs) -> std::process::Command {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-c").arg(ADAPTER).args(&args.args);
    cmd
}

/// Replaces this process with the adapter; returns only when that failed.
pub fn run(args: &EtcdctlElectArgs) -> anyhow::Result<()> {
    let error = command(args).exec();
    Err(AdapterError::Python(error).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(args: &[&str]) -> std::process::Output {
        command(&EtcdctlElectArgs {
            args: args.iter().map(|a| a.to_string()).collect(),
        })
        .output()
        .expect("python3 runs (apt-get install python3)")
    }

    #[test]
    fn the_embedded_adapter_runs_and_names_the_missing_package() {
        let help = adapter(&["--help"]);
        assert!(help.status.success(), "{help:?}");
        assert!(String::from_utf8_lossy(&help.stdout).contains("--endpoints"));
        let missing = adapter(&[
            "--id",
            "n1",
            "--endpoints",
            "127.0.0.1:1",
            "--etcdctl",
            "no-such-etcdctl",
        ]);
        assert_eq!(missing.status.code(), Some(2));
        assert!(missing.stdout.is_empty(), "not ready without etcdctl");
        let err = String::from_utf8_lossy(&missing.stderr);
        assert!(err.contains("apt-get install etcd-client"), "{err}");
    }
}
