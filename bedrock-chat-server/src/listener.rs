//! The accept loop: HTTP/1.1 connections with the limits that keep slow or numerous sockets
//! from starving everyone (a header-read timeout, a cap on open connections, and one per
//! address), and graceful shutdown.
//!
//! `axum::serve` exposes none of hyper's connection settings, so the loop is written with
//! hyper's own connection builder, as axum's `serve-with-hyper` example does.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::client_addr::{PeerAddr, TrustedProxies};
use crate::limits::Limits;

/// Open connections per address, so one address cannot hold them all.
#[derive(Default)]
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted against its address until dropped.
struct Counted {
    table: Arc<PerAddress>,
    address: IpAddr,
}

impl PerAddress {
    fn take(self: &Arc<Self>, address: IpAddr, max: usize) -> Option<Counted> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(address).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Counted {
            table: self.clone(),
            address,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// A connection whose writes fail once one has made no progress for `limit`: a client that
/// stops reading (its receive window full, or pipelined requests it never reads the answers
/// to) would otherwise hold the connection, and the response buffered for it, for ever. A
/// stream's keep-alive comments make a connection that is read from progress every 15 s.
struct StallGuard {
    stream: TcpStream,
    limit: std::time::Duration,
    stalled: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl StallGuard {
    fn new(stream: TcpStream, limit: std::time::Duration) -> Self {
        StallGuard {
            stream,
            limit,
            stalled: None,
        }
    }

    /// Called when a write could not go on: starts the clock, or says it has run out.
    fn check(&mut self, cx: &mut std::task::Context<'_>) -> std::io::Result<()> {
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if stalled.as_mut().poll(cx).is_ready() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            ));
        }
        Ok(())
    }

    fn written<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        poll: std::task::Poll<std::io::Result<T>>,
    ) -> std::task::Poll<std::io::Result<T>> {
        if poll.is_pending() {
            self.check(cx)?;
        } else {
            self.stalled = None;
        }
        poll
    }
}

impl tokio::io::AsyncRead for StallGuard {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for StallGuard {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut self.stream).poll_write(cx, buf);
        self.written(cx, poll)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.written(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let poll = std::pin::Pin::new(&mut self.stream).poll_flush(cx);
        self.written(cx, poll)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The key connections are counted under per address: an IPv6 address by its /64, as the
/// limits count it (a host with a /64 can pick any address in it).
fn connection_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// A listener on `addr` whose queue of connections not yet accepted holds 4,096 (the kernel may
/// cap it lower, at `net.core.somaxconn`): with the default 128, a burst of slow clients fills
/// the queue and the kernel drops the next attempts, which clients retry only after seconds.
///
/// # Errors
///
/// The socket's error (the address is in use, say).
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// open connections to finish (the caller ends long streams).
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    proxies: &TrustedProxies,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let per_address = Arc::new(PerAddress::default());
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // Wait for room before accepting: past the cap, new connections wait in the kernel's
        // backlog rather than taking file descriptors the running ones need.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit,
            () = &mut shutdown => break,
        };
        let Ok(permit) = permit else { break };
        let (stream, peer): (TcpStream, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // A trusted proxy carries many clients over its connections: only others are capped.
        let counted = if proxies.trusts_peer(peer.ip()) {
            None
        } else {
            let key = connection_key(peer.ip());
            match per_address.take(key, limits.max_connections_per_address.max(1)) {
                Some(counted) => Some(counted),
                None => {
                    tracing::debug!(%peer, "too many connections from one address; closed");
                    continue;
                }
            }
        };
        // Each SSE event is a small write: without TCP_NODELAY, Nagle's algorithm holds it
        // until the client's delayed ACK (40 ms on Linux) and a streamed reply stutters.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "cannot set TCP_NODELAY");
        }
        let app = app.clone();
        let service =
            TowerToHyperService::new(tower::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(PeerAddr(peer));
                app.clone().oneshot(request.map(axum::body::Body::new))
            }));
        let connection = builder.serve_connection(
            TokioIo::new(StallGuard::new(stream, limits.write_stall_timeout)),
            service,
        );
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            let _permit = permit;
            let _counted = counted;
            if let Err(error) = watched.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
