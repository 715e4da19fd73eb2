//! A TCP proxy on 127.0.0.1 that a test can cut: every open connection is
//! closed and new ones are refused until it resumes. It forwards bytes and
//! understands nothing, so TLS to a real API server passes through (the
//! serving certificate names 127.0.0.1, whatever the port).
//!
//! A client behind it sees what it sees when a network link drops: its
//! long-running requests (watches) end and its reconnections fail until
//! the link is back.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

#[derive(Default)]
struct Link {
    cut: bool,
    connections: Vec<AbortHandle>,
}

pub struct Proxy {
    addr: SocketAddr,
    link: Arc<Mutex<Link>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding from a free port on 127.0.0.1 to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the proxy listens on 127.0.0.1");
        let addr = listener.local_addr().expect("the proxy's address");
        let link = Arc::new(Mutex::new(Link::default()));
        let shared = Arc::clone(&link);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut link = shared.lock().unwrap_or_else(|e| e.into_inner());
                if link.cut {
                    drop(client); // refused: closed at once
                    continue;
                }
                link.connections.retain(|c| !c.is_finished());
                let task = tokio::spawn(forward(client, upstream));
                link.connections.push(task.abort_handle());
            }
        });
        Proxy { addr, link, accept }
    }

    /// `url` (`http[s]://host:port[/...]`) with its authority replaced by
    /// this proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
        format!("{scheme}://{}{path}", self.addr)
    }

    /// Closes every open connection and refuses new ones.
    pub fn cut(&self) {
        let mut link = self.link.lock().unwrap_or_else(|e| e.into_inner());
        link.cut = true;
        for connection in link.connections.drain(..) {
            connection.abort(); // drops both sockets
        }
    }

    /// Accepts and forwards connections again.
    pub fn resume(&self) {
        self.link.lock().unwrap_or_else(|e| e.into_inner()).cut = false;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr) {
    if let Ok(mut server) = TcpStream::connect(upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

/// The socket address in `url` (`http[s]://127.0.0.1:port/...`).
pub fn socket_addr(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .parse()
        .unwrap_or_else(|e| panic!("{url}: not an IP:port URL: {e}"))
}
