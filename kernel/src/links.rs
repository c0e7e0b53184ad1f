//! Directed link faults in the kernel: one nftables table per run.
//!
//! On the output hook every packet a run's process sends is marked with its
//! endpoint's number, found from the cgroup of the sending socket (and, for
//! TCP, from the source port when the sender is a listener's half-open
//! request socket, which `socket cgroupv2` does not match: without it a
//! SYN-ACK would cross a cut and a connect in the open direction of a
//! one-way cut would succeed). On the input hook a cut drops a packet by
//! (sender's mark, receiving socket's cgroup), and loss drops a share of
//! them with `numgen random`. Each change replaces the input chain in one
//! transaction and is read back before it is reported in force.

use std::collections::{BTreeMap, BTreeSet};

use crate::cgroup::RunGroups;
use crate::nft::Nft;
use crate::KernelError;

/// Every table this project creates is named `splitbrain-<run>`.
pub const TABLE_PREFIX: &str = "splitbrain-";

/// The family the table lives in: both IPv4 and IPv6 loopback.
pub const FAMILY: &str = "inet";

/// Marks are `MARK_BASE + endpoint number` (1-based).
pub const MARK_BASE: u32 = 0x5b00;

/// Loss is drawn from `numgen random mod LOSS_SCALE`.
const LOSS_SCALE: u32 = 1_000_000;

/// One endpoint as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEndpoint {
    /// `n1`, or an infrastructure service name.
    pub id: String,
    /// The packet mark its packets carry.
    pub mark: u32,
    /// Its cgroup as nft names it (relative to /sys/fs/cgroup).
    pub cgroup: String,
    /// The cgroup's depth below the cgroup2 root.
    pub level: u32,
    /// TCP ports it listens on (so its SYN-ACKs are attributed to it).
    pub ports: Vec<u16>,
}

/// What is in force: cut directed links and lossy ones (probability).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KernelLinks {
    /// Directed links `(from, to)` that deliver nothing.
    pub cut: BTreeSet<(String, String)>,
    /// Directed links that lose a share of their packets (0..=1).
    pub loss: BTreeMap<(String, String), f64>,
}

/// The run's table; dropping it deletes the table.
#[derive(Debug)]
pub struct LinkTable {
    nft: Nft,
    name: String,
    endpoints: Vec<RuleEndpoint>,
    deleted: bool,
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', ""))
}

impl LinkTable {
    /// The endpoints of a run's cgroups, numbered in order, with the TCP
    /// ports each listens on.
    pub fn endpoints(
        groups: &RunGroups,
        ports: &BTreeMap<String, Vec<u16>>,
    ) -> Result<Vec<RuleEndpoint>, KernelError> {
        groups
            .groups()
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let (cgroup, level) = groups.nft_path(&g.id).ok_or_else(|| {
                    KernelError::NoCgroup2(format!(
                        "nft cannot name cgroups under {} (it resolves them under /sys/fs/cgroup)",
                        groups.hierarchy().mount().display()
                    ))
                })?;
                Ok(RuleEndpoint {
                    id: g.id.clone(),
                    mark: MARK_BASE + i as u32 + 1,
                    cgroup,
                    level,
                    ports: ports.get(&g.id).cloned().unwrap_or_default(),
                })
            })
            .collect()
    }

    /// The table's name for a run.
    pub fn table_name(run: &str) -> String {
        format!("{TABLE_PREFIX}{run}")
    }

    /// The commands that create the table: the marking chain in full, the
    /// dropping chain empty (every link open).
    pub fn create_script(name: &str, endpoints: &[RuleEndpoint]) -> String {
        let mut s = format!("add table {FAMILY} {name}\n");
        s += &format!(
            "add chain {FAMILY} {name} out {{ type filter hook output priority filter; policy accept; }}\n"
        );
        s += &format!(
            "add chain {FAMILY} {name} inp {{ type filter hook input priority filter; policy accept; }}\n"
        );
        // Each in one map lookup, whatever the number of endpoints. Ports
        // first: a full socket's own cgroup, matched after, wins. A packet
        // whose port or cgroup is not in the map keeps its mark.
        let by_port: Vec<String> = endpoints
            .iter()
            .flat_map(|e| e.ports.iter().map(move |p| format!("{p} : {:#x}", e.mark)))
            .collect();
        if !by_port.is_empty() {
            s += &format!(
                "add rule {FAMILY} {name} out meta mark set tcp sport map {{ {} }}\n",
                by_port.join(", ")
            );
        }
        if let Some(level) = endpoints.first().map(|e| e.level) {
            let by_cgroup: Vec<String> = endpoints
                .iter()
                .map(|e| format!("{} : {:#x}", quote(&e.cgroup), e.mark))
                .collect();
            s += &format!(
                "add rule {FAMILY} {name} out meta mark set socket cgroupv2 level {level} map {{ {} }}\n",
                by_cgroup.join(", ")
            );
        }
        // Input: one lookup by the sender's mark jumps to the sender's own
        // chain, which holds only that sender's faults; a packet from a
        // sender with none walks no rule at all.
        for (i, _) in endpoints.iter().enumerate() {
            s += &format!("add chain {FAMILY} {name} {}\n", from_chain(i));
        }
        if !endpoints.is_empty() {
            let arms: Vec<String> = endpoints
                .iter()
                .enumerate()
                .map(|(i, e)| format!("{:#x} : jump {}", e.mark, from_chain(i)))
                .collect();
            s += &format!(
                "add rule {FAMILY} {name} inp meta mark vmap {{ {} }}\n",
                arms.join(", ")
            );
        }
        s
    }

    /// The commands that put `links` in force, as one transaction.
    pub fn apply_script(
        name: &str,
        endpoints: &[RuleEndpoint],
        links: &KernelLinks,
    ) -> Result<String, KernelError> {
        let find = |id: &str| {
            endpoints
                .iter()
                .find(|e| e.id == id)
                .ok_or_else(|| KernelError::Nft {
                    message: format!(
                        "unknown endpoint {id:?}; known: {}",
                        endpoints
                            .iter()
                            .map(|e| e.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    command: String::new(),
                })
        };
        for n in links.cut.iter().chain(links.loss.keys()) {
            find(&n.0)?;
            find(&n.1)?;
        }
        let mut s = String::new();
        for (i, from) in endpoints.iter().enumerate() {
            let chain = from_chain(i);
            s += &format!("flush chain {FAMILY} {name} {chain}\n");
            // Every receiver cut from this sender in one set lookup.
            let cut: Vec<&RuleEndpoint> = links
                .cut
                .iter()
                .filter(|(a, _)| *a == from.id)
                .filter_map(|(_, b)| endpoints.iter().find(|e| e.id == *b))
                .collect();
            if !cut.is_empty() {
                let level = cut[0].level;
                let arms: Vec<String> = cut
                    .iter()
                    .map(|e| format!("{} : drop", quote(&e.cgroup)))
                    .collect();
                s += &format!(
                    "add rule {FAMILY} {name} {chain} socket cgroupv2 level {level} vmap {{ {} }} comment \"cut {}\"\n",
                    arms.join(", "),
                    from.id
                );
            }
            for ((a, b), p) in &links.loss {
                if *a != from.id || links.cut.contains(&(a.clone(), b.clone())) || *p <= 0.0 {
                    continue;
                }
                let to = find(b)?;
                let below = ((p.min(1.0) * LOSS_SCALE as f64).round() as u32).min(LOSS_SCALE);
                s += &format!(
                    "add rule {FAMILY} {name} {chain} socket cgroupv2 level {} {} numgen random mod {LOSS_SCALE} < {below} drop comment \"loss {a} {b} {below}\"\n",
                    to.level,
                    quote(&to.cgroup)
                );
            }
        }
        Ok(s)
    }

    /// Create the run's table (every link open).
    pub fn create(
        nft: Nft,
        run: &str,
        endpoints: Vec<RuleEndpoint>,
    ) -> Result<LinkTable, KernelError> {
        let name = Self::table_name(run);
        nft.run(&Self::create_script(&name, &endpoints))?;
        Ok(LinkTable {
            nft,
            name,
            endpoints,
            deleted: false,
        })
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Replace what is in force with `links` in one transaction. When this
    /// returns, the kernel has acknowledged the commit: the rules are in
    /// force. Returns what was put in force (loss quantised as the rules
    /// hold it), which is what the history records; [`LinkTable::verify`]
    /// reads it back.
    pub fn apply(&self, links: &KernelLinks) -> Result<KernelLinks, KernelError> {
        self.nft
            .run(&Self::apply_script(&self.name, &self.endpoints, links)?)?;
        Ok(KernelLinks {
            cut: links.cut.clone(),
            loss: links
                .loss
                .iter()
                .filter(|(l, p)| **p > 0.0 && !links.cut.contains(*l))
                .map(|(l, p)| (l.clone(), quantise(*p)))
                .collect(),
        })
    }

    /// Read the senders' chains back and compare with `wanted` (what
    /// [`LinkTable::apply`] returned). Separate from `apply` because nft
    /// names each cgroup of a listing by walking the cgroup tree, which can
    /// take milliseconds: the change is recorded when it is in force, and
    /// checked after.
    pub fn verify(&self, wanted: &KernelLinks) -> Result<(), KernelError> {
        let held = self.read_back()?;
        if &held != wanted {
            return Err(KernelError::Nft {
                message: format!(
                    "the table holds {} cut and {} lossy links after the change, not the {} and {} asked for",
                    held.cut.len(),
                    held.loss.len(),
                    wanted.cut.len(),
                    wanted.loss.len()
                ),
                command: format!("list chain {FAMILY} {} from_*", self.name),
            });
        }
        Ok(())
    }

    /// What the senders' chains hold now (not the marking chain, whose
    /// cgroups nft would have to look up too).
    pub fn read_back(&self) -> Result<KernelLinks, KernelError> {
        let mut listing = String::new();
        for i in 0..self.endpoints.len() {
            listing += &self.nft.run(&format!(
                "list chain {FAMILY} {} {}",
                self.name,
                from_chain(i)
            ))?;
        }
        Ok(parse_listing(&listing, &self.endpoints))
    }

    /// Delete the table (idempotent).
    pub fn delete(&mut self) -> Result<(), KernelError> {
        if self.deleted {
            return Ok(());
        }
        self.deleted = true;
        delete_table(&self.nft, &self.name)
    }
}

fn quantise(p: f64) -> f64 {
    ((p.min(1.0) * LOSS_SCALE as f64).round() as u32).min(LOSS_SCALE) as f64 / LOSS_SCALE as f64
}

/// The name of the chain that holds sender `i`'s faults.
fn from_chain(i: usize) -> String {
    format!("from_{}", i + 1)
}

/// The links a listing of the table holds: each sender's chain says whom
/// it is cut from (the cgroups of its `vmap`, named back to endpoints) and
/// its lossy links (rule comments).
pub fn parse_listing(listing: &str, endpoints: &[RuleEndpoint]) -> KernelLinks {
    let mut links = KernelLinks::default();
    for line in listing.lines() {
        let Some((_, comment)) = line.split_once("comment \"") else {
            continue;
        };
        let words: Vec<&str> = comment.trim_end_matches('"').split_whitespace().collect();
        match words.as_slice() {
            ["cut", from] => {
                let Some((_, arms)) = line.split_once("vmap {") else {
                    continue;
                };
                for arm in arms.split(',') {
                    let Some(path) = arm.split('"').nth(1) else {
                        continue;
                    };
                    if let Some(to) = endpoints.iter().find(|e| e.cgroup == path) {
                        links.cut.insert((from.to_string(), to.id.clone()));
                    }
                }
            }
            ["loss", from, to, below] => {
                if let Ok(b) = below.parse::<u32>() {
                    links.loss.insert(
                        (from.to_string(), to.to_string()),
                        b as f64 / LOSS_SCALE as f64,
                    );
                }
            }
            _ => {}
        }
    }
    links
}

/// Delete a table of ours by name; a table already gone is not an error.
pub fn delete_table(nft: &Nft, name: &str) -> Result<(), KernelError> {
    debug_assert!(name.starts_with(TABLE_PREFIX));
    match nft.run(&format!("delete table {FAMILY} {name}")) {
        Ok(_) => Ok(()),
        Err(KernelError::Nft { message, .. }) if message.contains("No such file") => Ok(()),
        Err(e) => Err(e),
    }
}

impl Drop for LinkTable {
    fn drop(&mut self) {
        if let Err(e) = self.delete() {
            tracing::warn!("deleting nft table {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> Vec<RuleEndpoint> {
        ["n1", "n2"]
            .iter()
            .enumerate()
            .map(|(i, id)| RuleEndpoint {
                id: id.to_string(),
                mark: MARK_BASE + i as u32 + 1,
                cgroup: format!("unified/splitbrain/r/{id}"),
                level: 3,
                ports: vec![40_000 + i as u16],
            })
            .collect()
    }

    #[test]
    fn the_create_script_marks_by_port_first_and_by_cgroup_last() {
        let s = LinkTable::create_script("splitbrain-r", &endpoints());
        let port = s
            .find("out meta mark set tcp sport map { 40000 : 0x5b01, 40001 : 0x5b02 }")
            .unwrap();
        let cgroup = s
            .find("out meta mark set socket cgroupv2 level 3 map { \"unified/splitbrain/r/n1\" : 0x5b01, \"unified/splitbrain/r/n2\" : 0x5b02 }")
            .unwrap();
        assert!(port < cgroup, "{s}");
        assert!(s.contains("hook output priority filter"));
        assert!(s.contains("hook input priority filter"));
        assert!(s.contains("inp meta mark vmap { 0x5b01 : jump from_1, 0x5b02 : jump from_2 }"));
    }

    #[test]
    fn apply_scripts_read_back_to_what_they_put_in_force() {
        let mut links = KernelLinks::default();
        links.cut.insert(("n1".into(), "n2".into()));
        links.loss.insert(("n2".into(), "n1".into()), 0.25);
        // A lossy link that is also cut is only cut.
        links.loss.insert(("n1".into(), "n2".into()), 0.5);
        let s = LinkTable::apply_script("splitbrain-r", &endpoints(), &links).unwrap();
        assert!(s.starts_with("flush chain inet splitbrain-r from_1\n"));
        assert!(s.contains("flush chain inet splitbrain-r from_2\n"));
        assert!(s.contains(
            "from_1 socket cgroupv2 level 3 vmap { \"unified/splitbrain/r/n2\" : drop } comment \"cut n1\""
        ));
        assert!(s.contains(
            "from_2 socket cgroupv2 level 3 \"unified/splitbrain/r/n1\" numgen random mod 1000000 < 250000 drop comment \"loss n2 n1 250000\""
        ));
        let back = parse_listing(&s, &endpoints());
        assert_eq!(back.cut, links.cut);
        assert_eq!(back.loss.len(), 1);
        assert_eq!(back.loss[&("n2".to_string(), "n1".to_string())], 0.25);
    }

    #[test]
    fn unknown_endpoints_are_named_with_the_known_ones() {
        let mut links = KernelLinks::default();
        links.cut.insert(("n1".into(), "n9".into()));
        let e = LinkTable::apply_script("splitbrain-r", &endpoints(), &links).unwrap_err();
        assert!(e.to_string().contains("\"n9\"; known: n1, n2"), "{e}");
    }
}
