//! The proxy benchmark: latency, throughput and cut latency (being written).
