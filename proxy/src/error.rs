//! Typed errors of the proxy, so the controller can tell bad configuration
//! (exit 254) from a failed run (exit 255).

use std::net::SocketAddr;

/// Everything that can go wrong starting or steering the proxy.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A listener or socket could not be bound on loopback.
    #[error("cannot bind the proxy socket for {what}: {source}")]
    Bind {
        /// Which link or listener it was for, e.g. `udp n1->n2`.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Two nodes or services share one id.
    #[error("endpoint id `{0}` is used twice (node and service ids must be distinct)")]
    DuplicateEndpoint(String),
    /// An infrastructure service was given no member addresses.
    #[error("infrastructure service `{0}` has no members")]
    NoMembers(String),
    /// A real address is not on loopback: the proxy never sends elsewhere.
    #[error("address {0} is not a loopback address; the proxy only talks to 127.0.0.0/8")]
    NotLoopback(SocketAddr),
    /// Rules name a node or service the proxy does not know.
    #[error("link rules name `{0}`, which is neither a node nor an infrastructure service")]
    UnknownEndpoint(String),
    /// Rules contain a link from an endpoint to itself.
    #[error("link rules contain the self-link `{0}`->`{0}`")]
    SelfLink(String),
    /// A fault parameter is out of range (a probability outside 0..=1).
    #[error("fault on link {from}->{to} is invalid: {reason}")]
    InvalidFault {
        /// Sender.
        from: String,
        /// Receiver.
        to: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The combination of transport and mode is not implemented.
    #[error("unsupported proxy configuration: {0}")]
    Unsupported(&'static str),
    /// The proxy's own runtime thread could not be started.
    #[error("cannot start the proxy runtime: {0}")]
    Runtime(std::io::Error),
    /// The proxy has been shut down (or its runtime died).
    #[error("the proxy has shut down")]
    ShutDown,
}
