//! Socket ownership from `/proc`, as `ss -p` finds it: a TCP endpoint's
//! inode from `/proc/net/tcp{,6}`, and the processes whose
//! `/proc/<pid>/fd` link to `socket:[inode]`. Used to attribute connections
//! on a shared listener and to find traffic that bypasses the proxy.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP state `ESTABLISHED` in `/proc/net/tcp`.
const TCP_ESTABLISHED: u8 = 0x01;
/// TCP state `LISTEN` in `/proc/net/tcp`.
const TCP_LISTEN: u8 = 0x0A;

/// One row of `/proc/net/tcp` or `/proc/net/tcp6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSocketEntry {
    /// This socket's address.
    pub local: SocketAddr,
    /// The other end (0.0.0.0:0 for a listener).
    pub remote: SocketAddr,
    /// Kernel TCP state (1 established, 10 listen, ...).
    pub state: u8,
    /// Socket inode, the key into `/proc/<pid>/fd`.
    pub inode: u64,
}

/// Reads every TCP socket of this network namespace (IPv4 and IPv6).
pub fn tcp_sockets() -> Vec<TcpSocketEntry> {
    let mut out = Vec::new();
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(path) {
            out.extend(text.lines().skip(1).filter_map(parse_tcp_line));
        }
    }
    out
}

fn parse_tcp_line(line: &str) -> Option<TcpSocketEntry> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 {
        return None;
    }
    Some(TcpSocketEntry {
        local: parse_hex_addr(f[1])?,
        remote: parse_hex_addr(f[2])?,
        state: u8::from_str_radix(f[3], 16).ok()?,
        inode: f[9].parse().ok()?,
    })
}

/// `0100007F:1F90` (IPv4) or 32 hex digits `:PORT` (IPv6); each 32-bit word
/// is printed in host byte order.
fn parse_hex_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(ip, 16).ok()?.to_ne_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for w in 0..4 {
                let word = u32::from_str_radix(&ip[w * 8..w * 8 + 8], 16).ok()?;
                bytes[w * 4..w * 4 + 4].copy_from_slice(&word.to_ne_bytes());
            }
            let v6 = Ipv6Addr::from(bytes);
            match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            }
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Pids whose process group is `pgid` (field 5 of `/proc/<pid>/stat`).
pub fn process_group_members(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| process_group_of(pid) == Some(pgid))
        .collect()
}

fn process_group_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parens.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// Socket inodes open in process `pid` (its `/proc/<pid>/fd` links).
pub fn socket_inodes(pid: i32) -> HashSet<u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    dir.filter_map(|e| {
        let target = std::fs::read_link(e.ok()?.path()).ok()?;
        let s = target.to_str()?;
        s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
    })
    .collect()
}

/// Socket inodes open in any process of group `pgid`.
pub fn group_socket_inodes(pgid: i32) -> HashSet<u64> {
    process_group_members(pgid)
        .into_iter()
        .flat_map(socket_inodes)
        .collect()
}

/// The owner (by key) of the client end of the TCP connection
/// `client -> server`, among process groups `groups` (key, pgid).
pub fn connection_owner<K: Copy>(
    client: SocketAddr,
    server: SocketAddr,
    groups: &[(K, i32)],
) -> Option<K> {
    let inode = tcp_sockets()
        .into_iter()
        .find(|e| e.local == client && e.remote == server && e.inode != 0)?
        .inode;
    groups
        .iter()
        .find(|(_, pgid)| group_socket_inodes(*pgid).contains(&inode))
        .map(|(k, _)| *k)
}

/// A TCP connection between two nodes' processes that does not cross the
/// proxy: every network fault on that pair is a silent no-op.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bypass {
    /// The node that opened the connection (when the other end is one of
    /// `to`'s listening ports; otherwise the lower-ported end).
    pub from: String,
    /// `from`'s port.
    pub from_port: u16,
    /// The other node.
    pub to: String,
    /// `to`'s port.
    pub to_port: u16,
}

/// Established TCP connections between two different nodes' processes
/// (`nodes`: id, process group) where neither end is a proxy port: traffic
/// that bypasses the proxy. Each connection is reported once.
pub fn detect_bypass(nodes: &[(String, i32)], proxy_ports: &[u16]) -> Vec<Bypass> {
    let mut owner: HashMap<u64, &str> = HashMap::new();
    for (id, pgid) in nodes {
        for inode in group_socket_inodes(*pgid) {
            owner.insert(inode, id);
        }
    }
    let sockets = tcp_sockets();
    let listening: HashSet<(&str, u16)> = sockets
        .iter()
        .filter(|e| e.state == TCP_LISTEN)
        .filter_map(|e| Some((*owner.get(&e.inode)?, e.local.port())))
        .collect();
    let by_local: HashMap<SocketAddr, &str> = sockets
        .iter()
        .filter(|e| e.state == TCP_ESTABLISHED)
        .filter_map(|e| Some((e.local, *owner.get(&e.inode)?)))
        .collect();
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    for e in sockets.iter().filter(|e| e.state == TCP_ESTABLISHED) {
        let Some(&mine) = owner.get(&e.inode) else {
            continue;
        };
        let Some(&theirs) = by_local.get(&e.remote) else {
            continue;
        };
        if mine == theirs
            || proxy_ports.contains(&e.local.port())
            || proxy_ports.contains(&e.remote.port())
        {
            continue;
        }
        let key = if e.local < e.remote {
            (e.local, e.remote)
        } else {
            (e.remote, e.local)
        };
        if !seen.insert(key) {
            continue;
        }
        let (from, from_port, to, to_port) = if listening.contains(&(theirs, e.remote.port())) {
            (mine, e.local.port(), theirs, e.remote.port())
        } else if listening.contains(&(mine, e.local.port())) {
            (theirs, e.remote.port(), mine, e.local.port())
        } else if e.local.port() < e.remote.port() {
            (mine, e.local.port(), theirs, e.remote.port())
        } else {
            (theirs, e.remote.port(), mine, e.local.port())
        };
        found.push(Bypass {
            from: from.to_string(),
            from_port,
            to: to.to_string(),
            to_port,
        });
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ipv4_and_mapped_ipv6_rows() {
        let v4 = "   0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 20 4 30 10 -1";
        let e = parse_tcp_line(v4).unwrap();
        assert_eq!(e.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(e.remote, "127.0.0.1:50000".parse().unwrap());
        assert_eq!(e.state, TCP_ESTABLISHED);
        assert_eq!(e.inode, 12345);
        let v6 = "   1: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1";
        let e = parse_tcp_line(v6).unwrap();
        assert_eq!(e.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(e.state, TCP_LISTEN);
    }

    #[test]
    fn finds_our_own_process_group_and_sockets() {
        let me = std::process::id() as i32;
        let pgid = nix::unistd::getpgrp().as_raw();
        assert!(process_group_members(pgid).contains(&me));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let entry = tcp_sockets()
            .into_iter()
            .find(|e| e.local == addr && e.state == TCP_LISTEN)
            .expect("listener row in /proc/net/tcp");
        assert!(socket_inodes(me).contains(&entry.inode));
    }
}
