//! The listening socket (with a backlog deep enough for a burst of new clients) and the accept
//! loop: http1 with keep-alive and a header read timeout (kept by a sweeper, see
//! `idle.rs`), one task per connection, connection caps (in all and per client address), a
//! response-write timeout, and graceful shutdown that lets in-flight requests finish within the
//! grace period (signalled through the same watchdog).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinSet;

use alistach_policy::client_key;

use crate::app::App;
use crate::idle::{Watch, Watchdog};
use crate::io::Deadlines;

/// Connections the kernel completes and queues for the accept loop before it refuses more:
/// asked for in `listen(2)` and capped there by `net.core.somaxconn` (4,096 by default since
/// Linux 5.4). `TcpListener::bind` asks for 128, so a burst of new clients (wrk opening 1,024
/// connections at once, a fleet of agents reconnecting after a deploy) overflowed it: the
/// kernel dropped their handshakes and requests, which came back only on TCP's retransmission
/// timer, 200 ms to a second later (p99 at 1,024 connections 159 ms against nginx's 36 ms,
/// with its own backlog of 511).
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` with [`LISTEN_BACKLOG`] (and, as `TcpListener::bind` does,
/// `SO_REUSEADDR`, so a restart binds while old connections linger in `TIME_WAIT`).
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets in-flight
/// requests finish within the configured grace period, and returns.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        // The header read timeout is the watchdog's, not hyper's (which needs a timer per
        // request head).
        .header_read_timeout(None)
        // Bounds the request head (request line and headers); larger ones are refused with 431.
        .max_buf_size(MAX_HEAD_BYTES);
    let watchdog = Watchdog::new(app.config().header_read_timeout);
    // Stopped when `serve` returns or is dropped.
    let mut sweeper = JoinSet::new();
    let stats = app.clone();
    sweeper.spawn(watchdog.clone().run(move || {
        stats
            .metrics()
            .connections
            .header_timeouts
            .fetch_add(1, Ordering::Relaxed);
    }));
    // Connection tasks are kept so the ones still running when the grace period ends can be
    // cancelled instead of outliving `serve`.
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        tracing::debug!(%addr, mode = %app.mode(), "accepting connections");
    }

    let slots = Arc::new(tokio::sync::Semaphore::new(
        app.config().max_connections.max(1),
    ));
    let per_ip = Arc::new(PerIp::new(app.config().max_connections_per_ip));
    let per_connection = app.config().max_requests_per_connection.max(1);
    let write_timeout = app.config().response_write_timeout;

    loop {
        // At the connection cap, stop accepting: further clients wait in the kernel's backlog
        // instead of each getting a task and a buffer here.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        // One address may not take every slot. Trusted proxies carry everyone's traffic, so
        // they are exempt; their clients are told apart (and limited) per request.
        let ip_slot = if app.config().trusted_proxies.contains(peer.ip()) {
            None
        } else {
            let key = client_key(peer.ip(), app.config().ipv6_client_prefix);
            match per_ip.take(key) {
                Some(slot) => Some(slot),
                None => {
                    app.metrics()
                        .connections
                        .refused_per_ip
                        .fetch_add(1, Ordering::Relaxed);
                    // Best effort, never waiting: the client learns why before the close.
                    let _ = stream.try_write(TOO_MANY_CONNECTIONS);
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let stats = app.clone();
        let conn = Arc::new(Connection {
            app: app.clone(),
            peer,
            watch: watchdog.watch(),
            served: AtomicU32::new(0),
        });
        let io = Deadlines::new(stream, write_timeout)
            .watched(conn.watch.clone())
            .on_timeout(move || {
                stats
                    .metrics()
                    .connections
                    .write_timeouts
                    .fetch_add(1, Ordering::Relaxed);
            });
        let open = OpenConnection::new(app.clone());
        let watch = conn.watch.clone();
        let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            // The connection's own handle, not the app's: a clone per request of a count no
            // other connection touches.
            let conn = conn.clone();
            // Boxed: hyper keeps a request's future in a slot of its connection, so unboxed it
            // is copied into memory last touched at that connection's previous request; at a
            // thousand connections that memory is out of the CPU's cache. A fresh box comes
            // from this thread's allocator, warm (a third fewer L2 misses per cached answer at
            // 1,024 connections, simulated with callgrind).
            Box::pin(async move {
                conn.watch.busy();
                let mut resp = conn.app.handle_from(req, Some(conn.peer)).await;
                // Past the per-connection cap, ask the client to reconnect, so no single
                // connection holds a worker forever.
                if conn.served.fetch_add(1, Ordering::Relaxed) + 1 >= per_connection {
                    resp.headers_mut().insert(
                        hyper::header::CONNECTION,
                        hyper::header::HeaderValue::from_static("close"),
                    );
                }
                conn.watch.idle();
                Ok::<_, Infallible>(resp)
            })
        });
        let conn = builder.serve_connection(TokioIo::new(io), service);
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let ended = std::future::poll_fn(|cx| {
                // At shutdown: finish the answer in flight (if any), then close.
                if watch.take_shutdown() {
                    conn.as_mut().graceful_shutdown();
                }
                conn.as_mut().poll(cx)
            })
            .await;
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(open);
            drop(ip_slot);
            drop(permit);
        });
    }

    drop(listener);
    let grace = app.config().shutdown_grace;
    while connections.try_join_next().is_some() {}
    tracing::info!(in_flight_connections = connections.len(), "shutting down");
    watchdog.close_all();
    let all_closed = async { while connections.join_next().await.is_some() {} };
    tokio::select! {
        () = all_closed => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!(?grace, "grace period over; dropping remaining connections"),
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    drop(sweeper);
    Ok(())
}

/// What every request of one connection shares.
struct Connection {
    app: Arc<App>,
    peer: SocketAddr,
    /// Its state for the header read timeout.
    watch: Arc<Watch>,
    /// Requests served so far, against `max_requests_per_connection`.
    served: AtomicU32,
}

/// The largest request head read (hyper's minimum is 8 KiB).
const MAX_HEAD_BYTES: usize = 32 * 1024;

/// What a client over its per-address connection cap gets before the connection is closed.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 160\r\n\r\n{\"type\":\"https://alistach.dev/problems/too-many-connections\",\"title\":\"Too Many Connections\",\"status\":503,\"detail\":\"too many open connections from this address\"}";

/// Open connections per client address, against a cap.
struct PerIp {
    max: usize,
    open: Mutex<HashMap<String, usize>>,
}

impl PerIp {
    fn new(max: usize) -> Self {
        PerIp {
            max: max.max(1),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for one more connection from `key`, unless it is at the cap.
    fn take(self: &Arc<Self>, key: String) -> Option<IpSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            owner: self.clone(),
            key,
        })
    }
}

/// One connection's place in [`PerIp`]; given back on drop.
struct IpSlot {
    owner: Arc<PerIp>,
    key: String,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Counts a connection as open for as long as it lives.
struct OpenConnection(Arc<App>);

impl OpenConnection {
    fn new(app: Arc<App>) -> Self {
        app.metrics().connections.opened();
        OpenConnection(app)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.metrics().connections.closed();
    }
}

/// The TCP peer of a request, put into its extensions by the accept loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
