//! Loopback ports for nodes and services.
//!
//! Ports are drawn at random from *below* the kernel's ephemeral range: the
//! proxy binds hundreds of ephemeral sockets and dials backends from
//! ephemeral ports, so a node port taken from that range could be grabbed
//! while its node is down between a kill and a restart. Random draws keep
//! parallel runs on one machine apart; each port is checked free for both
//! TCP and UDP at the moment it is chosen.

use std::net::{SocketAddr, TcpListener, UdpSocket};

use rand::Rng;

/// Lowest port handed out (below are well-known and registered services).
const LOWEST: u16 = 10_000;

/// The kernel's ephemeral range `(low, high)`, or Linux's default.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|x| x.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32_768, 60_999))
}

/// A `127.0.0.1` port free for TCP and UDP right now, outside the ephemeral range.
pub fn free_port() -> std::io::Result<SocketAddr> {
    let (low, _) = ephemeral_range();
    let mut rng = rand::thread_rng();
    if low > LOWEST + 100 {
        for _ in 0..200 {
            let port = rng.gen_range(LOWEST..low);
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            if TcpListener::bind(addr).is_ok() && UdpSocket::bind(addr).is_ok() {
                return Ok(addr);
            }
        }
    }
    // A machine whose ephemeral range starts low: let the kernel choose.
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// The ports handed out to one run. [`free_port`] checks a port is free at
/// the moment it draws it, but nothing binds it until its node or service
/// starts, and a killed node's port stays unbound until its restart: in that
/// window a parallel run (`campaign --jobs 2`, `hunt --jobs 2`) could draw
/// the same port and one of the two nodes would fail to bind. So a pool
/// never hands out a port twice, and it *reserves* every port for its
/// lifetime with an flock on `<tmp>/splitbrain-ports/<port>.lock`, which
/// every other pool respects; the kernel drops the lock when the run's
/// process dies, however it dies.
#[derive(Debug, Default)]
pub struct PortPool {
    taken: Vec<u16>,
    reservations: Vec<Reservation>,
}

impl PortPool {
    /// A free `127.0.0.1` port this pool has not handed out before, and that
    /// no other live run holds.
    pub fn next(&mut self) -> std::io::Result<SocketAddr> {
        loop {
            let addr = free_port()?;
            if self.taken.contains(&addr.port()) {
                continue;
            }
            self.taken.push(addr.port());
            match Reservation::take(addr.port()) {
                Ok(Some(reservation)) => self.reservations.push(reservation),
                // Another run holds it: draw again.
                Ok(None) => continue,
                // No writable temporary directory: the in-process check
                // above is all there is, as before reservations existed.
                Err(_) => {}
            }
            return Ok(addr);
        }
    }
}

/// An flock held on one port's lock file until dropped.
#[derive(Debug)]
struct Reservation {
    path: std::path::PathBuf,
    _file: std::fs::File,
}

impl Reservation {
    fn dir() -> std::path::PathBuf {
        std::env::temp_dir().join("splitbrain-ports")
    }

    /// `Ok(None)` when another process holds `port`.
    fn take(port: u16) -> std::io::Result<Option<Reservation>> {
        use std::os::unix::fs::MetadataExt;
        use std::os::unix::io::AsRawFd;
        let dir = Reservation::dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{port}.lock"));
        loop {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            // SAFETY: flock on a descriptor this function owns.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                return match err.raw_os_error() {
                    Some(libc::EWOULDBLOCK) => Ok(None),
                    _ => Err(err),
                };
            }
            // The holder before us may have unlinked the file between our
            // open and our lock: then the lock is on a dead inode, try again.
            let on_disk = match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(_) => continue,
            };
            let ours = file.metadata()?;
            if on_disk.ino() == ours.ino() && on_disk.dev() == ours.dev() {
                return Ok(Some(Reservation { path, _file: file }));
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // Unlinked while still locked, so nobody can lock this inode after
        // us and believe it holds the port (see `take`).
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_loopback_free_and_below_the_ephemeral_range() {
        let (low, _) = ephemeral_range();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let a = free_port().unwrap();
            assert!(a.ip().is_loopback());
            if low > LOWEST + 100 {
                assert!(a.port() >= LOWEST && a.port() < low, "{a}");
            }
            TcpListener::bind(a).unwrap();
            seen.insert(a.port());
        }
        assert!(seen.len() > 40, "random draws spread out: {}", seen.len());
    }

    #[test]
    fn a_pool_never_hands_out_a_port_twice() {
        let mut pool = PortPool::default();
        let ports: std::collections::BTreeSet<u16> =
            (0..300).map(|_| pool.next().unwrap().port()).collect();
        assert_eq!(ports.len(), 300);
    }

    #[test]
    fn a_reserved_port_is_not_handed_to_another_pool_until_released() {
        let mut first = PortPool::default();
        let addr = first.next().unwrap();
        let port = addr.port();
        assert!(
            Reservation::take(port).unwrap().is_none(),
            "a second reservation of a held port must be refused"
        );
        let lock = Reservation::dir().join(format!("{port}.lock"));
        assert!(lock.exists());
        drop(first);
        assert!(!lock.exists(), "the lock file goes with the pool");
        let again = Reservation::take(port).unwrap();
        assert!(again.is_some(), "a released port can be reserved again");
    }
}
