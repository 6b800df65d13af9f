//! A TCP relay in front of the test's PostgreSQL that can be cut and restored, to play a database outage
//! without stopping the server every other test shares.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct PgProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    /// Bumped on every cut: relays of an older generation close.
    generation: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl PgProxy {
    /// A relay to the PostgreSQL the pool's connect options name, up or down from the start.
    pub async fn start(pool: &sqlx::PgPool, up: bool) -> PgProxy {
        let options = pool.connect_options();
        let target: SocketAddr = format!("{}:{}", options.get_host(), options.get_port()).parse().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(up));
        let (generation, watcher) = watch::channel(0u64);
        let task = tokio::spawn({
            let up = Arc::clone(&up);
            async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else { continue };
                    if !up.load(Ordering::SeqCst) {
                        // Down: the connection is dropped at once, as a stopped server's port would refuse it.
                        drop(client);
                        continue;
                    }
                    let mut cut = watcher.clone();
                    let born = *cut.borrow_and_update();
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(target).await else { return };
                        let (mut client, mut server) = (client, server);
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = async { while cut.changed().await.is_ok() && *cut.borrow() == born {} } => {}
                        }
                    });
                }
            }
        });
        PgProxy { port, up, generation, task }
    }

    /// The URL of `database` through the relay, as the pool's user.
    pub fn url(&self, pool: &sqlx::PgPool) -> String {
        let options = pool.connect_options();
        format!(
            "postgres://{}@127.0.0.1:{}/{}",
            options.get_username(),
            self.port,
            options.get_database().unwrap_or("postgres")
        )
    }

    /// Closes every relayed connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}
