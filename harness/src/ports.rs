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
/// starts, so two draws can return the same port; a pool never hands out a
/// port twice.
#[derive(Debug, Default)]
pub struct PortPool {
    taken: Vec<u16>,
}

impl PortPool {
    /// A free `127.0.0.1` port this pool has not handed out before.
    pub fn next(&mut self) -> std::io::Result<SocketAddr> {
        loop {
            let addr = free_port()?;
            if !self.taken.contains(&addr.port()) {
                self.taken.push(addr.port());
                return Ok(addr);
            }
        }
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
}
