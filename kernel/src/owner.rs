//! Who owns a run's kernel resources: a lock file per run, held (flock) by
//! its controller for as long as it lives. A run whose lock can be taken,
//! or whose lock file is gone, has no controller: its cgroups and table are
//! leftovers, removed by the sweep at every start and by `splitbrain clean`.
//! The lock appears already locked (it is locked under a temporary name and
//! renamed into place), so a sweep can never mistake a starting run for a
//! dead one.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

use crate::cgroup::{remove_tree, Hierarchy};
use crate::links::{delete_table, LinkTable, FAMILY, TABLE_PREFIX};
use crate::nft::Nft;
use crate::KernelError;

/// Where run locks live: tmpfs, emptied at boot, as the cgroups and tables.
pub const LOCK_DIR: &str = "/run/splitbrain";

/// A run's lock, held while the value lives; dropping it removes the file.
#[derive(Debug)]
pub struct RunLock {
    run: String,
    path: PathBuf,
    _file: File,
}

fn lock_dir() -> PathBuf {
    std::env::var_os("SPLITBRAIN_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(LOCK_DIR))
}

fn try_flock(file: &File) -> bool {
    // SAFETY: flock on an fd we own.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// A name safe for cgroup directories and nft identifiers.
pub fn run_name(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl RunLock {
    /// Take a lock for a run named after `raw` (made safe with [`run_name`]);
    /// a name already taken gets a `-2`, `-3`… suffix.
    pub fn acquire(raw: &str) -> Result<RunLock, KernelError> {
        let dir = lock_dir();
        std::fs::create_dir_all(&dir).map_err(|e| {
            KernelError::NotPermitted(format!(
                "cannot create {}: {e}; run as root (or use --network proxy)",
                dir.display()
            ))
        })?;
        let base = run_name(raw);
        let tmp = dir.join(format!(".{}.{}.tmp", base, std::process::id()));
        let file = File::create(&tmp).map_err(|e| KernelError::io(&tmp, e))?;
        if !try_flock(&file) {
            return Err(KernelError::io(&tmp, std::io::Error::last_os_error()));
        }
        for n in 1..1000 {
            let run = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let path = dir.join(format!("{run}.lock"));
            // link() fails if the name exists: no run's lock is replaced.
            match std::fs::hard_link(&tmp, &path) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Ok(RunLock {
                        run,
                        path,
                        _file: file,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(KernelError::io(path, e));
                }
            }
        }
        let _ = std::fs::remove_file(&tmp);
        Err(KernelError::io(
            dir,
            std::io::Error::other("a thousand runs of that name are locked"),
        ))
    }

    /// The run's name (cgroup directory and table suffix).
    pub fn run(&self) -> &str {
        &self.run
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Is the run's controller alive (its lock file exists and is held)?
pub fn is_owned(run: &str) -> bool {
    let path = lock_dir().join(format!("{run}.lock"));
    match File::open(&path) {
        Ok(f) => !try_flock(&f),
        Err(_) => false,
    }
}

/// Kernel resources of a run whose controller is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The run's name.
    pub run: String,
    /// Its cgroup directory, if it still exists.
    pub cgroup: Option<PathBuf>,
    /// Its nft table, if it still exists.
    pub table: Option<String>,
    /// Its lock file, if it still exists.
    pub lock: Option<PathBuf>,
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(c) = &self.cgroup {
            parts.push(format!("cgroup {}", c.display()));
        }
        if let Some(t) = &self.table {
            parts.push(format!("nft table {FAMILY} {t}"));
        }
        if let Some(l) = &self.lock {
            parts.push(format!("lock {}", l.display()));
        }
        write!(f, "run {}: {}", self.run, parts.join(", "))
    }
}

/// Every run with kernel resources and no live controller. Either side may
/// be absent (no cgroup2, no nftables): what cannot be looked at is skipped.
pub fn leftovers(hierarchy: Option<&Hierarchy>, nft: Option<&Nft>) -> Vec<Leftover> {
    let mut runs: std::collections::BTreeMap<String, Leftover> = Default::default();
    fn entry<'m>(
        runs: &'m mut std::collections::BTreeMap<String, Leftover>,
        run: &str,
    ) -> &'m mut Leftover {
        runs.entry(run.to_string()).or_insert_with(|| Leftover {
            run: run.to_string(),
            cgroup: None,
            table: None,
            lock: None,
        })
    }
    if let Some(h) = hierarchy {
        if let Ok(dir) = std::fs::read_dir(h.runs_dir()) {
            for e in dir.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let name = e.file_name().to_string_lossy().into_owned();
                    entry(&mut runs, &name).cgroup = Some(e.path());
                }
            }
        }
    }
    if let Some(nft) = nft {
        for table in nft.tables(FAMILY, TABLE_PREFIX).unwrap_or_default() {
            let run = table[TABLE_PREFIX.len()..].to_string();
            entry(&mut runs, &run).table = Some(table);
        }
    }
    if let Ok(dir) = std::fs::read_dir(lock_dir()) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(run) = name.strip_suffix(".lock") {
                entry(&mut runs, run).lock = Some(e.path());
            }
        }
    }
    runs.into_values().filter(|l| !is_owned(&l.run)).collect()
}

/// Remove one leftover: kill and remove its cgroups, delete its table,
/// remove its lock. Only the run's own resources are touched.
pub fn remove(leftover: &Leftover, nft: Option<&Nft>) -> Result<(), KernelError> {
    if let Some(c) = &leftover.cgroup {
        remove_tree(c, Duration::from_secs(2))?;
    }
    if let (Some(t), Some(nft)) = (&leftover.table, nft) {
        delete_table(nft, t)?;
    }
    if let Some(l) = &leftover.lock {
        let _ = std::fs::remove_file(l);
    }
    Ok(())
}

/// Remove every leftover; returns what was removed (and what failed).
pub fn sweep() -> Vec<(Leftover, Result<(), KernelError>)> {
    let hierarchy = Hierarchy::find().ok();
    let nft = Nft::open().ok();
    leftovers(hierarchy.as_ref(), nft.as_ref())
        .into_iter()
        .map(|l| {
            let r = remove(&l, nft.as_ref());
            (l, r)
        })
        .collect()
}

/// Remove a named run's resources whether or not its lock is held: the
/// watchdog's job once the controller's end is certain.
pub fn clean_run(run: &str) -> Result<(), KernelError> {
    let hierarchy = Hierarchy::find().ok();
    let nft = Nft::open().ok();
    let leftover = Leftover {
        run: run.to_string(),
        cgroup: hierarchy
            .map(|h| h.runs_dir().join(run))
            .filter(|p| p.exists()),
        table: Some(LinkTable::table_name(run)),
        lock: Some(lock_dir().join(format!("{run}.lock"))).filter(|p: &PathBuf| p.exists()),
    };
    remove(&leftover, nft.as_ref())
}

/// Where the lock of a run is (for messages).
pub fn lock_path(run: &str) -> PathBuf {
    lock_dir().join(format!("{run}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_keep_only_safe_characters() {
        assert_eq!(
            run_name("raft/20261207T091736.534Z"),
            "raft-20261207T091736.534Z"
        );
        assert_eq!(run_name("my target:1"), "my-target-1");
    }

    #[test]
    fn a_held_lock_is_owned_and_a_released_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("SPLITBRAIN_LOCK_DIR", dir.path());
        let a = RunLock::acquire("t/one").unwrap();
        assert_eq!(a.run(), "t-one");
        assert!(is_owned("t-one"));
        let b = RunLock::acquire("t/one").unwrap();
        assert_eq!(
            b.run(),
            "t-one-2",
            "a second run of the same name gets a suffix"
        );
        drop(a);
        assert!(!is_owned("t-one"), "the file is gone with the lock");
        // A lock file left by a dead process is not owned.
        std::fs::write(dir.path().join("dead.lock"), "").unwrap();
        assert!(!is_owned("dead"));
        let found: Vec<String> = leftovers(None, None).into_iter().map(|l| l.run).collect();
        assert_eq!(found, vec!["dead".to_string()]);
        drop(b);
        std::env::remove_var("SPLITBRAIN_LOCK_DIR");
    }
}
