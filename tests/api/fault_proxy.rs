//! A TCP proxy between an adapter and its emulator that injects the faults a real network produces on
//! the requests that match a method and path: the request is forwarded (so the provider acts on it) and
//! then its answer is lost, late, or replaced by a 500. Everything else passes through untouched. It
//! records the provider's real answer to every matching request, so a test can count what exists at the
//! provider (e.g. how many request-to-pays MTN accepted with a 202) whatever the adapter was told.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pass,
    /// Forward the request, then close the connection without answering.
    DropAnswer,
    /// Forward the request, and hold its answer back this long (past the client's timeout).
    Delay(Duration),
    /// Forward the request, throw its answer away and answer 500.
    Answer500,
}

struct Rule {
    method: &'static str,
    path: &'static str,
    fault: Fault,
    /// How many more matching requests get the fault (then they pass).
    remaining: usize,
}

pub struct FaultProxy {
    /// `http://127.0.0.1:port`: put the upstream's path after it.
    pub base: String,
    rule: Arc<Mutex<Rule>>,
    hits: Arc<AtomicUsize>,
    statuses: Arc<Mutex<Vec<u16>>>,
}

impl FaultProxy {
    /// Proxies to `upstream` (`host:port`); requests whose first line starts with `method` and contains
    /// `path` get `fault`, the first `times` of them.
    pub async fn start(
        upstream: &str,
        method: &'static str,
        path: &'static str,
        fault: Fault,
        times: usize,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let proxy = FaultProxy {
            base,
            rule: Arc::new(Mutex::new(Rule {
                method,
                path,
                fault,
                remaining: times,
            })),
            hits: Arc::default(),
            statuses: Arc::default(),
        };
        let (rule, hits, statuses) = (
            proxy.rule.clone(),
            proxy.hits.clone(),
            proxy.statuses.clone(),
        );
        let upstream = upstream.to_owned();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (rule, hits, statuses, upstream) = (
                    rule.clone(),
                    hits.clone(),
                    statuses.clone(),
                    upstream.clone(),
                );
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        relay(client, server, rule, hits, statuses).await;
                    }
                });
            }
        });
        proxy
    }

    /// Matching requests forwarded to the provider.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The provider's real HTTP status for each matching request, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.statuses.lock().unwrap().clone()
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    rule: Arc<Mutex<Rule>>,
    hits: Arc<AtomicUsize>,
    statuses: Arc<Mutex<Vec<u16>>>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // The fault for the answer now awaited (set when a matching request goes out).
    let awaited: Arc<Mutex<Option<Fault>>> = Arc::default();
    let requests = {
        let awaited = awaited.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let head = String::from_utf8_lossy(&buf[..n.min(512)]);
                let first_line = head.lines().next().unwrap_or_default().to_owned();
                {
                    let mut rule = rule.lock().unwrap();
                    if first_line.starts_with(rule.method) && first_line.contains(rule.path) {
                        hits.fetch_add(1, Ordering::SeqCst);
                        let fault = if rule.remaining > 0 {
                            rule.remaining -= 1;
                            rule.fault
                        } else {
                            Fault::Pass
                        };
                        *awaited.lock().unwrap() = Some(fault);
                    }
                }
                if server_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = server_write.shutdown().await;
        })
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match server_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let fault = awaited.lock().unwrap().take();
        if let Some(fault) = fault {
            let status = String::from_utf8_lossy(&buf[..n.min(64)])
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            statuses.lock().unwrap().push(status);
            match fault {
                Fault::Pass => {}
                Fault::DropAnswer => break,
                Fault::Delay(wait) => tokio::time::sleep(wait).await,
                Fault::Answer500 => {
                    let _ = client_write
                        .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                    break;
                }
            }
        }
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    // Closing both halves is what the client sees: the answer never comes.
    requests.abort();
    drop(client_write);
}
