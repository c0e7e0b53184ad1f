//! The history builder the per-checker tests (beside each checker in
//! `checks/`) share: wire JSON lines with
//! `seq` and `t` (in ms) filled in, checked both in memory and from a file.

use crate::{check, check_reader, CheckOptions, Report};
use serde_json::{json, Value};

/// Nanoseconds per millisecond.
pub(crate) const MS: u64 = 1_000_000;

/// A history under construction; node i has pid 100+i.
pub(crate) struct H {
    pub lines: Vec<Value>,
}

impl H {
    /// `nodes` started at t=0, under a header with election timeout
    /// [150, 300] ms and heartbeat 50 ms unless `header` says otherwise.
    pub fn started(nodes: usize, header: Value) -> Self {
        let names: Vec<String> = (1..=nodes).map(|i| format!("n{i}")).collect();
        let mut h = json!({"type": "run", "target": "test", "nodes": names,
                           "election_timeout_ms": [150, 300], "heartbeat_ms": 50});
        for (k, v) in header.as_object().expect("object") {
            h[k] = v.clone();
        }
        let mut s = Self { lines: vec![] };
        s.at(0, h);
        for i in 1..=nodes {
            s.process(0, i, "start");
        }
        s
    }

    /// Append `v` at `t_ms`; returns its seq.
    pub fn at(&mut self, t_ms: u64, mut v: Value) -> u64 {
        let seq = self.lines.len() as u64;
        v["seq"] = json!(seq);
        v["t"] = json!(t_ms * MS);
        self.lines.push(v);
        seq
    }

    /// A `process` event of node `node` (pid 100+node).
    pub fn process(&mut self, t: u64, node: usize, event: &str) -> u64 {
        self.at(
            t,
            json!({"type": "process", "node": format!("n{node}"), "event": event, "pid": 100 + node}),
        )
    }

    /// The checkers' report, which must be the same in memory and from the
    /// history as a file.
    pub fn check_with(&self, opts: &CheckOptions) -> Report {
        let records: Vec<crate::Record> = self
            .lines
            .iter()
            .map(|v| serde_json::from_value(v.clone()).expect("valid record"))
            .collect();
        let a = check(records, opts);
        let file: String = self.lines.iter().map(|v| v.to_string() + "\n").collect();
        let b = check_reader(file.as_bytes(), opts).expect("readable");
        assert_eq!(a, b, "file and in-memory checks disagree");
        a
    }
}
