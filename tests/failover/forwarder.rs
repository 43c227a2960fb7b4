//! A TCP forwarder: the one address both instances know the database by,
//! as a managed endpoint, a proxy or a virtual IP would be. It forwards each
//! connection to the current upstream port; connections to a server that
//! goes away close with it, and new ones reach whatever it is switched to.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use tokio::net::{TcpListener, TcpStream};

pub struct Forwarder {
    port: u16,
    upstream: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl Forwarder {
    /// Listens on a free loopback port, forwarding to `upstream`.
    pub async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the forwarder");
        let port = listener.local_addr().expect("address").port();
        let upstream = Arc::new(AtomicU16::new(upstream));
        let current = upstream.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { continue };
                let port = current.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    // A refused upstream closes the client's connection: a
                    // connection error for the pool, as at a real endpoint.
                    if let Ok(mut server) = TcpStream::connect(("127.0.0.1", port)).await {
                        tokio::io::copy_bidirectional(&mut client, &mut server).await.ok();
                    }
                });
            }
        });
        Self { port, upstream, task }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// New connections go to `upstream` from now on.
    pub fn switch_to(&self, upstream: u16) {
        self.upstream.store(upstream, Ordering::SeqCst);
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
