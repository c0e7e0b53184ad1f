//! Peer transports: UDP datagrams (default) or TCP with length-prefixed frames
//! (u32 big-endian length, then that many bytes of JSON). Both are best
//! effort, like a real network: nothing here ever blocks the node's loop; a
//! message that cannot go out right now is dropped, and Raft copes.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::message::NodeId;

/// Largest frame or datagram accepted; anything bigger is a bad frame.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// How long to wait before re-dialling a peer after the first failure; it
/// doubles on every further failure up to [`MAX_REDIAL_BACKOFF`].
pub const INITIAL_REDIAL_BACKOFF: Duration = Duration::from_millis(20);

/// Upper bound of the re-dial backoff, kept below the election timeout so a
/// healed link carries traffic again before the next election would matter.
pub const MAX_REDIAL_BACKOFF: Duration = Duration::from_millis(500);

/// How long one dial may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Frames waiting for one peer's connection; beyond this they are dropped
/// (old heartbeats are worthless anyway).
const OUTBOUND_QUEUE: usize = 64;

/// Received bytes waiting for the node's loop.
const INBOUND_QUEUE: usize = 1024;

/// Which transport carries peer messages (`--transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TransportKind {
    /// JSON datagrams, one message each.
    #[default]
    Udp,
    /// Length-prefixed JSON frames over one outbound connection per peer.
    Tcp,
}

/// The bound listening endpoint, created before the node starts so that the
/// bind error (or the ephemeral port chosen) is known up front.
#[derive(Debug)]
pub enum BoundListener {
    /// A UDP socket: receives from and sends to every peer.
    Udp(std::net::UdpSocket),
    /// A TCP listener for the peers' outbound connections.
    Tcp(std::net::TcpListener),
}

impl BoundListener {
    /// Binds `addr` with the given transport.
    pub fn bind(kind: TransportKind, addr: SocketAddr) -> io::Result<Self> {
        Ok(match kind {
            TransportKind::Udp => BoundListener::Udp(std::net::UdpSocket::bind(addr)?),
            TransportKind::Tcp => BoundListener::Tcp(std::net::TcpListener::bind(addr)?),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            BoundListener::Udp(socket) => socket.local_addr(),
            BoundListener::Tcp(listener) => listener.local_addr(),
        }
    }
}

/// Something received from the network, not yet validated.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// One datagram or frame.
    Bytes(Vec<u8>),
    /// A frame announced a length over [`MAX_FRAME_BYTES`]; its connection was
    /// closed since the stream can no longer be trusted.
    Oversized,
}

/// The running transport: a receive queue and a non-blocking send.
pub(crate) struct Transport {
    inbound: mpsc::Receiver<Inbound>,
    outbound: Outbound,
}

enum Outbound {
    Udp {
        socket: Arc<UdpSocket>,
        peers: BTreeMap<NodeId, SocketAddr>,
    },
    Tcp {
        queues: BTreeMap<NodeId, mpsc::Sender<Vec<u8>>>,
    },
}

impl Transport {
    /// Starts the background receive (and, for TCP, per-peer send) tasks.
    /// Must run inside a tokio runtime.
    pub(crate) fn start(
        listener: BoundListener,
        peers: &BTreeMap<NodeId, SocketAddr>,
    ) -> io::Result<Self> {
        let (inbound_tx, inbound) = mpsc::channel(INBOUND_QUEUE);
        let outbound = match listener {
            BoundListener::Udp(socket) => {
                socket.set_nonblocking(true)?;
                let socket = Arc::new(UdpSocket::from_std(socket)?);
                tokio::spawn(receive_datagrams(socket.clone(), inbound_tx));
                Outbound::Udp {
                    socket,
                    peers: peers.clone(),
                }
            }
            BoundListener::Tcp(listener) => {
                listener.set_nonblocking(true)?;
                let listener = TcpListener::from_std(listener)?;
                tokio::spawn(accept_connections(listener, inbound_tx));
                let queues = peers
                    .iter()
                    .map(|(id, addr)| {
                        let (queue_tx, queue_rx) = mpsc::channel(OUTBOUND_QUEUE);
                        tokio::spawn(send_to_peer(*addr, queue_rx));
                        (id.clone(), queue_tx)
                    })
                    .collect();
                Outbound::Tcp { queues }
            }
        };
        Ok(Transport { inbound, outbound })
    }

    /// The next thing received; `None` only if every receive task is gone.
    pub(crate) async fn recv(&mut self) -> Option<Inbound> {
        self.inbound.recv().await
    }

    /// Sends `bytes` to peer `to` without waiting; returns false when it was
    /// dropped (unknown peer, full queue, socket would block).
    pub(crate) fn send(&self, to: &str, bytes: Vec<u8>) -> bool {
        match &self.outbound {
            Outbound::Udp { socket, peers } => match peers.get(to) {
                Some(addr) => socket.try_send_to(&bytes, *addr).is_ok(),
                None => false,
            },
            Outbound::Tcp { queues } => match queues.get(to) {
                Some(queue) => queue.try_send(bytes).is_ok(),
                None => false,
            },
        }
    }
}

async fn receive_datagrams(socket: Arc<UdpSocket>, inbound: mpsc::Sender<Inbound>) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match socket.recv_from(&mut buffer).await {
            Ok((length, _source)) => {
                if inbound
                    .send(Inbound::Bytes(buffer[..length].to_vec()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            // E.g. ECONNREFUSED echoed from an earlier send: not fatal.
            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

async fn accept_connections(listener: TcpListener, inbound: mpsc::Sender<Inbound>) {
    loop {
        match listener.accept().await {
            Ok((stream, _source)) => {
                tokio::spawn(read_frames(stream, inbound.clone()));
            }
            // E.g. EMFILE: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn read_frames(mut stream: TcpStream, inbound: mpsc::Sender<Inbound>) {
    loop {
        let length = match stream.read_u32().await {
            Ok(length) => length as usize,
            Err(_) => return,
        };
        if length > MAX_FRAME_BYTES {
            let _ = inbound.send(Inbound::Oversized).await;
            return;
        }
        let mut frame = vec![0u8; length];
        if stream.read_exact(&mut frame).await.is_err() {
            return;
        }
        if inbound.send(Inbound::Bytes(frame)).await.is_err() {
            return;
        }
    }
}

/// Owns the outbound connection to one peer: dials when there is something
/// to send, re-dials with exponential backoff, drops what was queued while
/// the peer was unreachable.
async fn send_to_peer(addr: SocketAddr, mut queue: mpsc::Receiver<Vec<u8>>) {
    let mut backoff = INITIAL_REDIAL_BACKOFF;
    while let Some(first) = queue.recv().await {
        let dialled = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await;
        let mut stream = match dialled {
            Ok(Ok(stream)) => stream,
            _ => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_REDIAL_BACKOFF);
                while queue.try_recv().is_ok() {}
                continue;
            }
        };
        backoff = INITIAL_REDIAL_BACKOFF;
        let _ = stream.set_nodelay(true);
        let mut next = Some(first);
        while let Some(payload) = next.take() {
            if write_frame(&mut stream, &payload).await.is_err() {
                break;
            }
            next = queue.recv().await;
        }
    }
}

async fn write_frame(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let length = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame).await
}
