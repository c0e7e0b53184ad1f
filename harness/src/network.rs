//! Which backend carries out network faults, and the kernel resources of a
//! run: a lock, a cgroup per endpoint and (on the kernel backend) the run's
//! nftables table, each a guard removed when the run ends, however it ends;
//! the watchdog removes them if the controller is killed, and the sweep at
//! the next start if even the watchdog could not.

use std::collections::BTreeMap;
use std::ffi::CString;

use anyhow::{anyhow, Context};
use checkers::history::{DegradedLink, NetRecord};
use kernel::links::KernelLinks;
use kernel::{Hierarchy, LinkTable, Nft, NodeGroup, RunGroups, RunLock};
use serde::Deserialize;

use crate::supervise;

/// Where link faults happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NetworkBackend {
    /// A proxy stands between nodes; each node is given proxy addresses for
    /// its peers. Every fault, including delay, duplication and reordering.
    #[default]
    Proxy,
    /// nftables rules drop packets by the sender's and receiver's cgroups;
    /// nodes talk to each other's real addresses. Cuts and loss only.
    Kernel,
}

impl NetworkBackend {
    /// The name used in target files, on the command line and in run.toml.
    pub fn name(self) -> &'static str {
        match self {
            NetworkBackend::Proxy => "proxy",
            NetworkBackend::Kernel => "kernel",
        }
    }
}

/// The kernel resources of one run. Fields drop in order: the table first,
/// then the cgroups (killing what is left in them), then the lock.
pub struct KernelRun {
    table: Option<LinkTable>,
    groups: Option<RunGroups>,
    /// Held for the run's life: tells sweeps that its controller lives.
    _lock: RunLock,
    name: String,
}

impl KernelRun {
    /// Sweep what dead controllers left, take the run's lock and make a
    /// cgroup per endpoint. On the proxy backend cgroups are hygiene only:
    /// without them (not root, no cgroup2) nodes fall back to process groups
    /// and signals, and `None` is returned. On the kernel backend every
    /// precondition must hold, or the error says what to install or run.
    pub fn prepare(
        run: &str,
        endpoints: &[String],
        backend: NetworkBackend,
    ) -> anyhow::Result<Option<KernelRun>> {
        let hierarchy = match backend {
            NetworkBackend::Kernel => Some(kernel::check_network_backend()?),
            NetworkBackend::Proxy => Hierarchy::find()
                .ok()
                .filter(|h| h.check_writable().is_ok()),
        };
        let Some(hierarchy) = hierarchy else {
            tracing::info!("no writable cgroup2 hierarchy: nodes are paused with SIGSTOP and killed by process group");
            return Ok(None);
        };
        sweep_leftovers();
        let lock = match RunLock::acquire(run) {
            Ok(l) => l,
            Err(e) if backend == NetworkBackend::Proxy => {
                tracing::info!(
                    "no run lock ({e}): nodes are paused with SIGSTOP and killed by process group"
                );
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let name = lock.run().to_string();
        supervise::watch_run(&name);
        let groups = RunGroups::create(&hierarchy, &name, endpoints)
            .with_context(|| format!("creating the cgroups of run {name}"))?;
        Ok(Some(KernelRun {
            table: None,
            groups: Some(groups),
            _lock: lock,
            name,
        }))
    }

    /// An endpoint's cgroup.
    pub fn group(&self, id: &str) -> Option<&NodeGroup> {
        self.groups.as_ref()?.group(id)
    }

    /// The `cgroup.procs` file an endpoint's processes join at start.
    pub fn procs(&self, id: &str) -> Option<CString> {
        self.group(id).map(|g| g.procs_file().clone())
    }

    /// Create the run's table (every link open), attributing each
    /// endpoint's listening TCP ports to it.
    pub fn create_table(&mut self, ports: &BTreeMap<String, Vec<u16>>) -> anyhow::Result<()> {
        let groups = self
            .groups
            .as_ref()
            .ok_or_else(|| anyhow!("the run's cgroups are gone"))?;
        let endpoints = LinkTable::endpoints(groups, ports)?;
        let nft = Nft::open()?;
        self.table = Some(
            LinkTable::create(nft, &self.name, endpoints).with_context(|| {
                format!("creating nft table {}", LinkTable::table_name(&self.name))
            })?,
        );
        Ok(())
    }

    /// The run's table, once created.
    pub fn table(&self) -> Option<&LinkTable> {
        self.table.as_ref()
    }
}

impl Drop for KernelRun {
    fn drop(&mut self) {
        if let Some(mut t) = self.table.take() {
            if let Err(e) = t.delete() {
                eprintln!(
                    "splitbrain: deleting nft table {}: {e}; `splitbrain clean` removes it",
                    t.name()
                );
            }
        }
        if let Some(mut g) = self.groups.take() {
            if let Err(e) = g.remove() {
                eprintln!("splitbrain: removing the cgroups of run {}: {e}; `splitbrain clean` removes them", self.name);
            }
        }
        supervise::unwatch_run(&self.name);
    }
}

/// Remove what controllers that are gone left behind (their cgroups, nft
/// tables and locks), saying so on stderr; runs whose controller lives are
/// never touched.
pub fn sweep_leftovers() {
    for (leftover, result) in kernel::owner::sweep() {
        match result {
            Ok(()) => eprintln!("splitbrain: removed what a dead controller left: {leftover}"),
            Err(e) => eprintln!(
                "splitbrain: could not remove what a dead controller left ({leftover}): {e}"
            ),
        }
    }
}

/// The network faults of a run go through one of these.
#[derive(Clone, Copy)]
pub enum Network<'a> {
    /// Through the proxy.
    Proxy(&'a proxy::Proxy),
    /// Through the run's nftables table.
    Kernel(&'a LinkTable),
}

impl Network<'_> {
    /// Put `rules` in force; returns the `net` record of what is in force
    /// now (for the kernel, read back from the table).
    pub fn apply(
        &self,
        rt: &tokio::runtime::Runtime,
        rules: proxy::LinkRules,
    ) -> Result<NetRecord, String> {
        match self {
            Network::Proxy(p) => {
                rt.block_on(p.apply(rules)).map_err(|e| e.to_string())?;
                Ok(p.net_record())
            }
            Network::Kernel(t) => {
                let links = kernel_links(&rules)?;
                let held = t.apply(&links).map_err(|e| e.to_string())?;
                Ok(kernel_net_record(&held))
            }
        }
    }

    /// After the change is recorded: does the network hold what the last
    /// record says? (The kernel's table read back; the proxy's rules are
    /// its own memory.) A difference is for a warning in the history.
    pub fn verify(&self, record: &NetRecord) -> Result<(), String> {
        match self {
            Network::Proxy(_) => Ok(()),
            Network::Kernel(t) => {
                let held = t.read_back().map_err(|e| e.to_string())?;
                if &kernel_net_record(&held) == record {
                    Ok(())
                } else {
                    Err(format!(
                        "the nft table read back holds {} cut links, the history says {}",
                        held.cut.len(),
                        record.cut.len()
                    ))
                }
            }
        }
    }

    /// Is any link cut right now?
    pub fn any_cut(&self) -> bool {
        match self {
            Network::Proxy(p) => !p.rules().cut.is_empty(),
            Network::Kernel(t) => t.read_back().map_or(true, |l| !l.cut.is_empty()),
        }
    }

    /// Tell the proxy which process group a node's connections come from
    /// (shared-advertised attribution); the kernel knows by cgroup.
    pub fn set_owner(&self, node: &str, pgid: u32) {
        if let Network::Proxy(p) = self {
            let _ = p.set_owner(node, pgid as i32);
        }
    }
}

/// The kernel's part of a rule set: cuts and loss. Anything that would
/// hold packets is refused (the schedule never asks for it on this backend).
fn kernel_links(rules: &proxy::LinkRules) -> Result<KernelLinks, String> {
    let mut links = KernelLinks {
        cut: rules.cut.clone(),
        ..KernelLinks::default()
    };
    for (link, f) in &rules.degraded {
        if !f.delay.is_zero() || !f.jitter.is_zero() || f.duplicate > 0.0 || f.reorder > 0.0 {
            return Err(format!(
                "{}→{}: delay, duplication and reordering need --network proxy",
                link.0, link.1
            ));
        }
        if f.loss > 0.0 {
            links.loss.insert(link.clone(), f.loss);
        }
    }
    Ok(links)
}

/// The same record the proxy writes, so checkers and reports do not care
/// which backend ran.
fn kernel_net_record(held: &KernelLinks) -> NetRecord {
    NetRecord {
        cut: held
            .cut
            .iter()
            .map(|(a, b)| [a.clone(), b.clone()])
            .collect(),
        degraded: held
            .loss
            .iter()
            .filter(|(l, _)| !held.cut.contains(*l))
            .map(|((from, to), loss)| DegradedLink {
                from: from.clone(),
                to: to.clone(),
                loss: *loss,
                delay_ms: 0.0,
                jitter_ms: 0.0,
                duplicate: 0.0,
                reorder: 0.0,
                duplicate_delay_ms: 0.0,
                reorder_window_ms: 0.0,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_records_what_the_proxy_would() {
        let rules = proxy::LinkRules::healed().with_cut("n1", "n2").with_fault(
            "n2",
            "n3",
            proxy::LinkFault {
                loss: 0.25,
                ..Default::default()
            },
        );
        let links = kernel_links(&rules).unwrap();
        assert_eq!(kernel_net_record(&links), rules.net_record());
    }

    #[test]
    fn faults_that_hold_packets_are_refused_naming_the_proxy() {
        let rules = proxy::LinkRules::healed().with_fault(
            "n1",
            "n2",
            proxy::LinkFault {
                delay: std::time::Duration::from_millis(5),
                ..Default::default()
            },
        );
        let e = kernel_links(&rules).unwrap_err();
        assert!(e.contains("--network proxy"), "{e}");
    }
}
