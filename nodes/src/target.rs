//! The built-in target files (contract 2), embedded in the binary so runs work
//! from any directory. Parsing lives with the controller (`harness::target`).

/// `(name, TOML text)` of every built-in target.
pub const BUILTIN_TARGETS: &[(&str, &str)] = &[
    ("raft", include_str!("../targets/raft.toml")),
    ("raft-tcp", include_str!("../targets/raft-tcp.toml")),
    ("etcd", include_str!("../targets/etcd.toml")),
    ("redis-lease", include_str!("../targets/redis-lease.toml")),
    ("bully", include_str!("../targets/bully.toml")),
    ("etcd-elect", include_str!("../targets/etcd-elect.toml")),
    (
        "etcdctl-elect",
        include_str!("../targets/etcdctl-elect.toml"),
    ),
];

/// The TOML of a built-in target by name.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN_TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}
