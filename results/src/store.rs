//! The run store: one directory per run, `store/<target>/<UTC timestamp>/`,
//! with `store/latest` pointing at the newest. Layout (version 1):
//!
//! ```text
//! store/<target>/<timestamp>/
//!   history.jsonl     contract 3
//!   run.toml          every resolved setting and the seed
//!   results.json      verdicts (see report::json)
//!   report.txt        the tables as printed
//!   report.md         the same tables in Markdown
//!   report.html       a self-contained timeline
//!   junit.xml         one test case for the run
//!   nodes/<id>.stdout raw stdout of every incarnation of a node
//!   nodes/<id>.stderr stderr of every incarnation
//!   data/<id>/        the node's data dir (kept across restarts)
//! ```

use std::path::{Path, PathBuf};

/// Why a run directory could not be created.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store root is not writable (checked before any node starts).
    #[error(
        "the store {path} is not writable: {source}; pass --store DIR with a writable directory"
    )]
    NotWritable {
        /// The root that was tried.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Creating the run directory failed.
    #[error("creating run directory {path}: {source}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Version of the store layout above.
pub const STORE_LAYOUT_VERSION: u32 = 1;

/// A run's directory in the store.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// Create `store/<target>/<timestamp>/` (unique even when two runs start in
    /// the same millisecond) and point `store/latest` at it.
    pub fn create(store: &Path, target: &str) -> Result<RunDir, StoreError> {
        check_writable(store)?;
        // Absolute: nodes run with their data dir as working directory, so a
        // relative {data_dir} would point nowhere.
        let store = &std::fs::canonicalize(store).map_err(|source| StoreError::NotWritable {
            path: store.to_path_buf(),
            source,
        })?;
        let stamp = utc_stamp();
        let parent = store.join(sanitize(target));
        let mut dir = parent.join(&stamp);
        let mut n = 1;
        loop {
            std::fs::create_dir_all(&parent).map_err(|source| StoreError::Create {
                path: parent.clone(),
                source,
            })?;
            match std::fs::create_dir(&dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    n += 1;
                    dir = parent.join(format!("{stamp}-{n}"));
                }
                Err(source) => return Err(StoreError::Create { path: dir, source }),
            }
        }
        for sub in ["nodes", "data"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(|source| StoreError::Create {
                path: p.clone(),
                source,
            })?;
        }
        point_latest(store, &dir);
        Ok(RunDir { root: dir })
    }

    /// Open an existing run directory (for `report`, `replay`).
    pub fn open(path: &Path) -> RunDir {
        RunDir {
            root: path.to_path_buf(),
        }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }
    /// `history.jsonl`.
    pub fn history(&self) -> PathBuf {
        self.root.join("history.jsonl")
    }
    /// `results.json`.
    pub fn results_json(&self) -> PathBuf {
        self.root.join("results.json")
    }
    /// `run.toml`.
    pub fn run_toml(&self) -> PathBuf {
        self.root.join("run.toml")
    }
    /// `report.txt`.
    pub fn report_txt(&self) -> PathBuf {
        self.root.join("report.txt")
    }
    /// A node's raw stdout log.
    pub fn node_stdout(&self, node: &str) -> PathBuf {
        self.root.join("nodes").join(format!("{node}.stdout"))
    }
    /// A node's stderr log.
    pub fn node_stderr(&self, node: &str) -> PathBuf {
        self.root.join("nodes").join(format!("{node}.stderr"))
    }
    /// A node's data directory (kept across restarts within the run).
    pub fn node_data(&self, node: &str) -> PathBuf {
        self.root.join("data").join(node)
    }
}

/// Fail early, with a message that says what to do, when `store` cannot take a run.
pub fn check_writable(store: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::NotWritable {
        path: store.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(store).map_err(err)?;
    let probe = store.join(format!(".write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(err)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn point_latest(store: &Path, dir: &Path) {
    let latest = store.join("latest");
    let rel = dir.strip_prefix(store).unwrap_or(dir);
    let tmp = store.join(format!(".latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(rel, &tmp).is_ok() {
        let _ = std::fs::rename(&tmp, &latest);
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `20261123T093012.123Z`: sortable, filesystem-safe, UTC.
pub fn utc_stamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}{mo:02}{d:02}T{:02}{:02}{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn creates_unique_dirs_and_latest() {
        let tmp = tempfile::tempdir().unwrap();
        let a = RunDir::create(tmp.path(), "raft").unwrap();
        let b = RunDir::create(tmp.path(), "raft").unwrap();
        assert_ne!(a.path(), b.path());
        assert!(
            a.path().is_absolute(),
            "nodes get absolute paths whatever their cwd"
        );
        assert!(a.path().join("nodes").is_dir());
        let latest = std::fs::canonicalize(tmp.path().join("latest")).unwrap();
        assert_eq!(latest, std::fs::canonicalize(b.path()).unwrap());
    }

    #[test]
    fn unwritable_store_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let err = RunDir::create(&file.join("sub"), "raft").unwrap_err();
        assert!(err.to_string().contains("not writable"), "{err}");
    }
}
