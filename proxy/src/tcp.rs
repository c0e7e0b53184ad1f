//! The TCP path: accept, attribute the opener, dial the real backend, and pump
//! both directions through the link rules, one task per connection.
//!
//! Each direction is a reader and a writer joined by a small bounded queue;
//! the writer asks the rules before every chunk. A blackholed direction holds
//! its chunks (and, once the queue is full, stops reading, so the sender's
//! kernel buffers fill as on a path that drops every packet); nothing is ever
//! deleted from a live stream. Healing releases the held bytes in order.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::rules::{CompiledRules, LinkAction, TcpCutMode};
use crate::stats::LinkCounters;
use crate::{Shared, BACKEND_RETRY_FOR};

/// Chunks queued per direction before the reader stops reading.
const QUEUE_CHUNKS: usize = 64;
/// Largest chunk read at once.
const CHUNK: usize = 16 * 1024;

/// Who opened the connections a listener accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Opener {
    /// The listener belongs to one link (PerLink, infrastructure).
    Fixed(usize),
    /// Shared listener: look the opener up in `/proc`.
    ByProcess,
}

/// What `apply` needs to reset a live connection.
pub(crate) struct ConnHandle {
    opener: usize,
    dest: usize,
    /// Send an ack channel; the connection resets itself, then acks.
    kill: oneshot::Sender<oneshot::Sender<()>>,
}

/// Accepts connections forever (until the runtime is dropped).
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    opener: Opener,
    dest: usize,
    backend: SocketAddr,
) {
    loop {
        match listener.accept().await {
            Ok((client, peer)) => {
                tokio::spawn(connection(
                    shared.clone(),
                    client,
                    peer,
                    opener,
                    dest,
                    backend,
                ));
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(to = %shared.endpoints[dest], "proxy accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Removes a connection from the registry when its task ends.
struct Registration<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        lock(self.shared).remove(&self.id);
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, ConnHandle>> {
    shared.conns.lock().unwrap_or_else(|e| e.into_inner())
}

/// Closes with RST (SO_LINGER 0), as a rejecting host would.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn connection(
    shared: Arc<Shared>,
    client: TcpStream,
    peer: SocketAddr,
    opener: Opener,
    b: usize,
    backend: SocketAddr,
) {
    let a = match opener {
        Opener::Fixed(a) => a,
        Opener::ByProcess => attribute(&shared, &client, peer, b).await,
    };
    let id = shared.next_conn.fetch_add(1, Relaxed);
    let (kill_tx, mut kill_rx) = oneshot::channel();
    lock(&shared).insert(
        id,
        ConnHandle {
            opener: a,
            dest: b,
            kill: kill_tx,
        },
    );
    let _registration = Registration {
        shared: &shared,
        id,
    };
    let _ = client.set_nodelay(true);

    // Refuse under reject; under blackhole the "SYN" does not arrive until
    // the opener->dest direction heals, so the backend sees nothing yet.
    let mut changes = shared.rules_changed.subscribe();
    let mut stalled = false;
    loop {
        changes.borrow_and_update();
        let rules = shared.rules.load();
        let cut_either = rules.is_cut(a, b) || rules.is_cut(b, a);
        if rules.tcp_cut_mode == TcpCutMode::Reject && cut_either {
            LinkCounters::bump(&shared.counters(a, b).dropped);
            reset(client);
            return;
        }
        if !rules.is_cut(a, b) {
            break;
        }
        if !stalled {
            stalled = true;
            LinkCounters::bump(&shared.counters(a, b).stalled);
        }
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            ack = &mut kill_rx => {
                reset(client);
                if let Ok(ack) = ack { let _ = ack.send(()); }
                return;
            }
        }
    }

    let server = tokio::select! {
        r = dial(backend) => r,
        ack = &mut kill_rx => {
            reset(client);
            if let Ok(ack) = ack { let _ = ack.send(()); }
            return;
        }
    };
    let mut server = match server {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(%backend, "proxy cannot reach backend, dropping the connection: {e}");
            reset(client);
            return;
        }
    };
    let _ = server.set_nodelay(true);
    let mut client = client;
    let (abortive, ack) = {
        let (cr, cw) = client.split();
        let (sr, sw) = server.split();
        tokio::select! {
            r = async {
                tokio::try_join!(
                    direction(&shared, cr, sw, a, b),
                    direction(&shared, sr, cw, b, a)
                )
            } => (r.is_err(), None),
            ack = &mut kill_rx => (true, ack.ok()),
        }
    };
    if abortive {
        reset(client);
        reset(server);
    } else {
        drop(client);
        drop(server);
    }
    if let Some(ack) = ack {
        let _ = ack.send(());
    }
}

/// Dials the real backend, retrying for a while when it is not listening yet
/// (a node still starting, or restarting after a kill).
async fn dial(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let start = Instant::now();
    let mut backoff = Duration::from_millis(10);
    loop {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) if start.elapsed() + backoff < BACKEND_RETRY_FOR => {
                tracing::trace!(%addr, "backend not reachable yet: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Finds the node whose process group owns the other end of `client`.
async fn attribute(
    shared: &Arc<Shared>,
    client: &TcpStream,
    peer: SocketAddr,
    dest: usize,
) -> usize {
    let unknown = shared.unknown();
    let Ok(local) = client.local_addr() else {
        return unknown;
    };
    let groups: Vec<(usize, i32)> = shared
        .owners
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(&n, &g)| (n, g))
        .collect();
    let found =
        tokio::task::spawn_blocking(move || crate::procfs::connection_owner(peer, local, &groups))
            .await
            .ok()
            .flatten();
    match found {
        Some(n) => n,
        None => {
            tracing::warn!(
                %peer,
                to = %shared.endpoints[dest],
                "cannot attribute a connection to any registered node; treating it as from an unknown node"
            );
            unknown
        }
    }
}

/// Forwards one direction `from -> to` until EOF (then half-closes) or error.
async fn direction(
    shared: &Shared,
    mut reader: ReadHalf<'_>,
    mut writer: WriteHalf<'_>,
    from: usize,
    to: usize,
) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE_CHUNKS);
    let read = async move {
        loop {
            let mut buf = Vec::with_capacity(CHUNK);
            if reader.read_buf(&mut buf).await? == 0 {
                return Ok::<_, std::io::Error>(());
            }
            if tx.send((Instant::now(), buf)).await.is_err() {
                return Ok(());
            }
        }
    };
    let write = async move {
        let counters = shared.counters(from, to);
        let mut changes = shared.rules_changed.subscribe();
        let link_index = (from * shared.width + to) as u64;
        let mut rng = ChaCha8Rng::seed_from_u64(shared.seed ^ link_index.rotate_left(17));
        let mut last_due = Instant::now();
        while let Some((arrived, chunk)) = rx.recv().await {
            let mut due: Option<Instant> = None;
            let mut stalled = false;
            loop {
                changes.borrow_and_update();
                let action = shared.rules.load().action(from, to);
                match action {
                    LinkAction::Cut => {
                        if !stalled {
                            stalled = true;
                            LinkCounters::bump(&counters.stalled);
                        }
                        if changes.changed().await.is_err() {
                            return Ok(());
                        }
                        continue;
                    }
                    LinkAction::Degraded(f) if !(f.delay.is_zero() && f.jitter.is_zero()) => {
                        let when = *due.get_or_insert_with(|| {
                            let jitter = f.jitter.mul_f64(rng.gen::<f64>());
                            // Never before the previous chunk: order is kept.
                            let d = (arrived + f.delay + jitter).max(last_due);
                            LinkCounters::bump(&counters.delayed);
                            d
                        });
                        if when > Instant::now() {
                            tokio::select! {
                                _ = tokio::time::sleep_until(when) => {}
                                r = changes.changed() => if r.is_err() { return Ok(()) },
                            }
                            continue;
                        }
                    }
                    _ => {}
                }
                break;
            }
            if let Some(d) = due {
                last_due = d;
            }
            writer.write_all(&chunk).await?;
            LinkCounters::bump(&counters.forwarded);
        }
        writer.shutdown().await
    };
    tokio::try_join!(read, write).map(|_| ())
}

/// Resets every connection across a pair with a cut either way and waits
/// until each has sent its RST.
pub(crate) async fn reset_cut_connections(shared: &Shared, rules: &CompiledRules) {
    let victims: Vec<ConnHandle> = {
        let mut conns = lock(shared);
        let ids: Vec<u64> = conns
            .iter()
            .filter(|(_, c)| rules.is_cut(c.opener, c.dest) || rules.is_cut(c.dest, c.opener))
            .map(|(&id, _)| id)
            .collect();
        ids.iter().filter_map(|id| conns.remove(id)).collect()
    };
    let mut acks = Vec::with_capacity(victims.len());
    for v in victims {
        LinkCounters::bump(&shared.counters(v.opener, v.dest).dropped);
        let (tx, rx) = oneshot::channel();
        if v.kill.send(tx).is_ok() {
            acks.push(rx);
        }
    }
    for rx in acks {
        // Err means the task ended (or the proxy stopped): closed either way.
        let _ = rx.await;
    }
}
