//! A cgroup v2 per node: the node and everything it forks live in it, so a
//! kill reaches daemonised grandchildren and a pause freezes a wrapper
//! script and its JVM together. Only `splitbrain/<run>/…` is ever created,
//! written or removed.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::KernelError;

/// The directory under the cgroup2 root that holds every run's cgroups.
pub const ROOT_DIR: &str = "splitbrain";

/// Where nft resolves `socket cgroupv2` paths from.
const NFT_BASE: &str = "/sys/fs/cgroup";

/// The mounted cgroup2 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    mount: PathBuf,
}

impl Hierarchy {
    /// Find the cgroup2 mount in /proc/self/mountinfo: `/sys/fs/cgroup` on
    /// pure cgroup2 systems, `/sys/fs/cgroup/unified` on hybrid ones.
    pub fn find() -> Result<Hierarchy, KernelError> {
        let info = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| KernelError::io("/proc/self/mountinfo", e))?;
        Self::from_mountinfo(&info).ok_or_else(|| {
            KernelError::NoCgroup2(
                "no cgroup2 hierarchy is mounted: mount one (mount -t cgroup2 none \
                 /sys/fs/cgroup/unified) or use --network proxy"
                    .into(),
            )
        })
    }

    /// The first cgroup2 mount listed in a mountinfo text.
    pub fn from_mountinfo(info: &str) -> Option<Hierarchy> {
        info.lines().find_map(|line| {
            // id parent dev root mountpoint options [optional...] - fstype source super
            let (left, right) = line.split_once(" - ")?;
            if right.split_whitespace().next()? != "cgroup2" {
                return None;
            }
            let mount = left.split_whitespace().nth(4)?;
            Some(Hierarchy {
                mount: PathBuf::from(unescape_mount(mount)),
            })
        })
    }

    /// A hierarchy at a known path (tests).
    pub fn at(mount: impl Into<PathBuf>) -> Hierarchy {
        Hierarchy {
            mount: mount.into(),
        }
    }

    /// The mount point.
    pub fn mount(&self) -> &Path {
        &self.mount
    }

    /// `<mount>/splitbrain`, where every run's cgroups live.
    pub fn runs_dir(&self) -> PathBuf {
        self.mount.join(ROOT_DIR)
    }

    /// The mount point relative to /sys/fs/cgroup, as nft wants cgroup paths
    /// (`""` or `"unified/"`); `None` when nft cannot name cgroups there.
    pub fn nft_prefix(&self) -> Option<String> {
        let rel = self.mount.strip_prefix(NFT_BASE).ok()?;
        let rel = rel.to_str()?;
        Some(if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        })
    }

    /// Can this process create cgroups here? Tried for real, under our own
    /// directory only.
    pub fn check_writable(&self) -> Result<(), KernelError> {
        let dir = self.runs_dir();
        match std::fs::create_dir(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(KernelError::NotPermitted(format!(
                "cannot create {}: {e}; run as root (cgroups are created per node) or use \
                 --network proxy",
                dir.display()
            ))),
        }
    }
}

fn unescape_mount(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo (octal).
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match octal {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One endpoint's cgroup (a node, or an infrastructure service's members).
#[derive(Debug, Clone)]
pub struct NodeGroup {
    /// The endpoint id (`n1`, `etcd`).
    pub id: String,
    path: PathBuf,
    procs: CString,
}

impl NodeGroup {
    /// The cgroup directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `cgroup.procs` as a C string, for a child to move itself in between
    /// fork and exec (see [`NodeGroup::join_from_child`]).
    pub fn procs_file(&self) -> &CString {
        &self.procs
    }

    /// Move the calling process into `procs` (a `cgroup.procs` path). Only
    /// async-signal-safe calls: meant for `pre_exec`, so the node's first
    /// instruction already runs inside its cgroup and so does every child.
    ///
    /// # Safety
    /// Call only between fork and exec, or from a single-threaded process.
    pub unsafe fn join_from_child(procs: &CString) -> std::io::Result<()> {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let n = libc::write(fd, b"0".as_ptr().cast(), 1);
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if n != 1 {
            return Err(err);
        }
        Ok(())
    }

    /// Pids in the cgroup right now.
    pub fn pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.path.join("cgroup.procs"))
            .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// True while any process is in the cgroup.
    pub fn populated(&self) -> bool {
        populated(&self.path)
    }

    /// SIGKILL every process in the cgroup at once (`cgroup.kill`), frozen
    /// ones included, and thaw the cgroup for the next incarnation; falls
    /// back to signalling each pid on kernels before 5.14.
    pub fn kill(&self) -> Result<(), KernelError> {
        kill_dir(&self.path)
    }

    /// Freeze (`true`) or thaw the whole cgroup. Waits until the kernel says
    /// every process is frozen (bounded), so output stamped after the pause
    /// cannot come from a process still running.
    pub fn freeze(&self, frozen: bool) -> Result<(), KernelError> {
        let file = self.path.join("cgroup.freeze");
        std::fs::write(&file, if frozen { "1" } else { "0" })
            .map_err(|e| KernelError::io(&file, e))?;
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            if events_flag(&self.path, "frozen") == Some(frozen) || !self.populated() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }

    /// Is the cgroup frozen right now?
    pub fn is_frozen(&self) -> bool {
        events_flag(&self.path, "frozen") == Some(true)
    }
}

fn events_flag(dir: &Path, key: &str) -> Option<bool> {
    let text = std::fs::read_to_string(dir.join("cgroup.events")).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim() == "1")
    })
}

fn populated(dir: &Path) -> bool {
    events_flag(dir, "populated").unwrap_or(false)
}

fn kill_dir(dir: &Path) -> Result<(), KernelError> {
    let file = dir.join("cgroup.kill");
    match std::fs::write(&file, "1") {
        Ok(()) => {
            // Thawed at once, so the next incarnation started in this cgroup
            // does not start frozen (the kill reaches frozen tasks anyway).
            let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // No cgroup.kill (kernel < 5.14): thaw, then signal every pid.
            let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
            let procs = std::fs::read_to_string(dir.join("cgroup.procs"))
                .map_err(|e| KernelError::io(dir.join("cgroup.procs"), e))?;
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: kill has no memory preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            Ok(())
        }
        Err(e) => Err(KernelError::io(file, e)),
    }
}

/// Kill everything under `dir` (a run's cgroup), wait until it is empty
/// (bounded) and remove it, children first. Used by the owner on drop, by
/// the watchdog and by the sweep.
pub fn remove_tree(dir: &Path, wait: Duration) -> Result<(), KernelError> {
    if !dir.exists() {
        return Ok(());
    }
    let children: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| KernelError::io(dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    for child in &children {
        remove_tree(child, wait)?;
    }
    if populated(dir) {
        kill_dir(dir)?;
        let deadline = Instant::now() + wait;
        while populated(dir) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // rmdir can race the last exit's bookkeeping for a moment: retry briefly.
    let deadline = Instant::now() + wait;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(KernelError::io(dir, e)),
        }
    }
}

/// The cgroups of one run: `<mount>/splitbrain/<run>/<endpoint>`. Dropping
/// it kills whatever is still inside and removes them all.
#[derive(Debug)]
pub struct RunGroups {
    hierarchy: Hierarchy,
    run: String,
    dir: PathBuf,
    groups: Vec<NodeGroup>,
}

impl RunGroups {
    /// Create the run's cgroup and one per endpoint.
    pub fn create(
        hierarchy: &Hierarchy,
        run: &str,
        endpoints: &[String],
    ) -> Result<RunGroups, KernelError> {
        hierarchy.check_writable()?;
        let dir = hierarchy.runs_dir().join(run);
        std::fs::create_dir(&dir).map_err(|e| KernelError::io(&dir, e))?;
        let mut this = RunGroups {
            hierarchy: hierarchy.clone(),
            run: run.to_string(),
            dir,
            groups: Vec::new(),
        };
        for id in endpoints {
            let path = this.dir.join(id);
            std::fs::create_dir(&path).map_err(|e| KernelError::io(&path, e))?;
            let procs = CString::new(path.join("cgroup.procs").as_os_str().as_bytes())
                .map_err(|e| KernelError::io(&path, std::io::Error::other(e)))?;
            this.groups.push(NodeGroup {
                id: id.clone(),
                path,
                procs,
            });
        }
        Ok(this)
    }

    /// The run's cgroup directory (what the watchdog removes).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The hierarchy it lives in.
    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// An endpoint's cgroup.
    pub fn group(&self, id: &str) -> Option<&NodeGroup> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// Every endpoint's cgroup, in creation order.
    pub fn groups(&self) -> &[NodeGroup] {
        &self.groups
    }

    /// The path nft names an endpoint's cgroup by (relative to
    /// /sys/fs/cgroup) and its level (depth below the cgroup2 root).
    pub fn nft_path(&self, id: &str) -> Option<(String, u32)> {
        let prefix = self.hierarchy.nft_prefix()?;
        self.group(id)?;
        Some((format!("{prefix}{ROOT_DIR}/{}/{id}", self.run), 3))
    }

    /// Kill and remove every cgroup of the run now.
    pub fn remove(&mut self) -> Result<(), KernelError> {
        let r = remove_tree(&self.dir, Duration::from_secs(2));
        self.groups.clear();
        r
    }
}

impl Drop for RunGroups {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            tracing::warn!("removing cgroup {}: {e}", self.dir.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_on_hybrid_and_pure_systems() {
        let hybrid = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                      32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                      41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        let h = Hierarchy::from_mountinfo(hybrid).unwrap();
        assert_eq!(h.mount(), Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(h.nft_prefix().as_deref(), Some("unified/"));
        let pure =
            "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = Hierarchy::from_mountinfo(pure).unwrap();
        assert_eq!(h.nft_prefix().as_deref(), Some(""));
        let elsewhere = "29 23 0:26 / /mnt/cg rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            Hierarchy::from_mountinfo(elsewhere).unwrap().nft_prefix(),
            None
        );
        assert_eq!(
            Hierarchy::from_mountinfo("1 2 0:1 / / rw - ext4 /dev/x rw\n"),
            None
        );
    }

    #[test]
    fn escaped_mount_points_are_read_back() {
        assert_eq!(unescape_mount("/a\\040b"), "/a b");
        assert_eq!(unescape_mount("/plain"), "/plain");
    }
}
