//! Built-in election nodes (run as `splitbrain node <algorithm>`) and the
//! target files that describe how to run any node, built-in or third-party.

pub mod target;
