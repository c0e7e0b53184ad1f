//! Durable currentTerm and votedFor: `{data_dir}/raft-state.json`, replaced
//! atomically (temp file, fsync, rename, fsync of the directory) so a crash at
//! any instant leaves either the old or the new state, never a torn one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::core::PersistentState;

/// The file name inside the data directory.
pub const STATE_FILE_NAME: &str = "raft-state.json";

/// Why the durable state could not be read or written. A node that cannot
/// persist must stop rather than act on a vote or term it may later forget.
#[derive(Debug, Error)]
pub enum StorageError {
    /// A file system operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The state file exists but does not hold a valid state.
    #[error("corrupt state file {path}: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// The durable state of one node, kept in its data directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    /// A store in `dir`, created if missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| StorageError::Io {
            action: "create data dir",
            path: dir.clone(),
            source,
        })?;
        Ok(StateStore { dir })
    }

    /// The path of the state file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE_NAME)
    }

    /// The stored state, or the initial one (term 0, no vote) on first start.
    pub fn load(&self) -> Result<PersistentState, StorageError> {
        let path = self.path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| StorageError::Corrupt { path, source }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(PersistentState::default()),
            Err(source) => Err(StorageError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    /// Replaces the stored state durably; returns only once it is on disk.
    pub fn save(&self, state: &PersistentState) -> Result<(), StorageError> {
        let path = self.path();
        let temp_path = self.dir.join(format!("{STATE_FILE_NAME}.tmp"));
        let io_error = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| StorageError::Io {
                action,
                path,
                source,
            }
        };
        let bytes = serde_json::to_vec(state).map_err(|source| StorageError::Corrupt {
            path: path.clone(),
            source,
        })?;
        let mut file = File::create(&temp_path).map_err(io_error("create", &temp_path))?;
        file.write_all(&bytes)
            .map_err(io_error("write", &temp_path))?;
        file.sync_all().map_err(io_error("fsync", &temp_path))?;
        drop(file);
        fs::rename(&temp_path, &path).map_err(io_error("rename to", &path))?;
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error("fsync dir", &self.dir))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_is_term_zero_without_vote() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path().join("fresh")).unwrap();
        assert_eq!(store.load().unwrap(), PersistentState::default());
    }

    #[test]
    fn saved_state_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let state = PersistentState {
            term: 7,
            voted_for: Some("n2".into()),
        };
        StateStore::open(dir.path()).unwrap().save(&state).unwrap();
        let reopened = StateStore::open(dir.path()).unwrap();
        assert_eq!(reopened.load().unwrap(), state);
        assert!(!dir.path().join("raft-state.json.tmp").exists());
    }

    #[test]
    fn corrupt_file_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(STATE_FILE_NAME), b"{torn").unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        assert!(matches!(store.load(), Err(StorageError::Corrupt { .. })));
    }
}
