//! `splitbrain bench network` for real, kept short: every path and every
//! cut figure is measured and printed (the figures themselves are for the
//! README, measured on a quiet machine, never asserted here). Needs root,
//! nftables and socat; fails, never skips, without them.

mod common;

use common::*;

#[test]
fn a_short_bench_prints_every_path_and_cut_figure_and_leaves_nothing() {
    let out = splitbrain()
        .args([
            "bench",
            "network",
            "--samples",
            "300",
            "--cuts",
            "5",
            "--endpoints",
            "6",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{err}");
    for row in [
        "direct loopback",
        "kernel backend, 6 endpoints, 20 cut rules loaded",
        "proxy (UDP, a socket per link)",
        "socat (plain UDP forwarder)",
        "direct loopback, TCP",
        "proxy (TCP, a stream per link)",
        "socat (plain TCP forwarder)",
        "apply(): one transaction, acknowledged",
        "cut → in force",
        "heal → first delivered datagram (5 heals)",
        "cuts that let a datagram sent after apply() returned through",
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(row))
            .unwrap_or_else(|| panic!("no row {row:?} in\n{text}"));
        assert!(
            line.contains("µs") || row.starts_with("cuts that"),
            "{line}"
        );
        assert!(!line.contains("NaN"), "{line}");
    }
    // Nothing of the bench is left: peers, socat, table, cgroups, lock.
    let clean = splitbrain().args(["clean", "--dry-run"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&clean.stdout).starts_with("nothing to clean"),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    assert!(processes_mentioning("bench-peer").is_empty());
}
