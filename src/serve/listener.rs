//! The accept loop of the daemon's HTTP endpoints, bounded so that abuse
//! cannot starve the daemon (a reverse proxy is not assumed):
//!
//! - **at most `max_connections` open at once**: a connection is accepted
//!   only once a permit is free, so the ones beyond wait in the kernel's
//!   backlog and hold none of the process's file descriptors, which Git
//!   fetches and API requests need (the default stays well below the
//!   process's descriptor limit);
//! - **a header read timeout**: a connection that does not send a whole
//!   request head in time (a silent one, or one sending a byte now and
//!   then) is closed, and its permit freed;
//! - the webhook bounds its body read with its own timeout
//!   ([`super::webhook`]).
//!
//! hyper's HTTP/1 connection builder does the reading (axum's `serve` has
//! no such settings); the router is axum's.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How much one listener lets clients hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    /// Time for a client to send a request's head (line and headers).
    pub header_timeout: Duration,
    /// Time for open requests to finish once the daemon stops.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    /// 1,024 connections, or a quarter of the descriptors this process may
    /// open when that is less (256 under the common limit of 1,024); 5 s
    /// for a request head.
    fn default() -> Limits {
        Limits {
            max_connections: 1024.min(descriptor_limit() / 4).max(16),
            header_timeout: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// The soft limit on open file descriptors (1024 when it cannot be read).
fn descriptor_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given, nothing else.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    if read && limit.rlim_cur != libc::RLIM_INFINITY {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else if read {
        usize::MAX
    } else {
        1024
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes;
/// then stops accepting and gives open requests `limits.shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors or a connection reset before it
                    // was taken: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Held for as long as the connection is open.
            let _permit = permit;
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP connection ended");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("HTTP connections still open at shutdown were dropped");
    }
}
