//! A merchant's webhook receiver for tests: a real HTTP/1.1 server on loopback, written on raw TCP so
//! it can misbehave the ways receivers do — fail, answer 410, answer slowly, close the connection
//! without answering. It records every request it read, and how many it was handling at once per
//! `webhook-id`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// 503 with `Retry-After: secs`.
    RetryAfter(u64),
    /// Wait, then 200.
    Slow(Duration),
    /// Read the request, then close without a word.
    Close,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Received {
    pub fn id(&self) -> &str {
        &self.headers["webhook-id"]
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    plan: Arc<Mutex<VecDeque<Answer>>>,
    otherwise: Arc<Mutex<Option<Answer>>>,
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
    /// The most deliveries of one `webhook-id` handled at the same time.
    pub most_at_once: Arc<Mutex<usize>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            url: format!(
                "http://127.0.0.1:{}/hooks",
                listener.local_addr().unwrap().port()
            ),
            ..Receiver::default()
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serving.clone().serve(socket));
            }
        });
        receiver
    }

    /// The next requests get these answers, in order; after them, `otherwise` (200 by default).
    pub fn plan(&self, answers: &[Answer]) {
        self.plan.lock().unwrap().extend(answers.iter().copied());
    }

    pub fn otherwise(&self, answer: Answer) {
        *self.otherwise.lock().unwrap() = Some(answer);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn serve(self, mut socket: TcpStream) {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 8192];
        let (head_end, length) = loop {
            let Ok(n) = socket.read(&mut chunk).await else {
                return;
            };
            if n == 0 {
                return;
            }
            buffer.extend_from_slice(&chunk[..n]);
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (end + 4, length);
            }
        };
        while buffer.len() < head_end + length {
            let Ok(n) = socket.read(&mut chunk).await else {
                return;
            };
            if n == 0 {
                return;
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let headers: HashMap<String, String> = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned();
        let id = headers.get("webhook-id").cloned().unwrap_or_default();
        {
            let mut in_flight = self.in_flight.lock().unwrap();
            let now = in_flight.entry(id.clone()).or_default();
            *now += 1;
            let mut most = self.most_at_once.lock().unwrap();
            *most = (*most).max(*now);
        }
        self.received
            .lock()
            .unwrap()
            .push(Received { headers, body });
        let answer = self
            .plan
            .lock()
            .unwrap()
            .pop_front()
            .or(*self.otherwise.lock().unwrap())
            .unwrap_or(Answer::Status(200));
        let reply = match answer {
            Answer::Status(code) => Some(format!(
                "HTTP/1.1 {code} X\r\ncontent-length: 8\r\nconnection: close\r\n\r\nanswered"
            )),
            Answer::RetryAfter(secs) => Some(format!(
                "HTTP/1.1 503 X\r\nretry-after: {secs}\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy"
            )),
            Answer::Slow(wait) => {
                tokio::time::sleep(wait).await;
                Some("HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nslow".to_owned())
            }
            Answer::Close => None,
        };
        if let Some(reply) = reply {
            let _ = socket.write_all(reply.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
        *self.in_flight.lock().unwrap().entry(id).or_default() -= 1;
    }
}

/// Verifies deliveries with the published `standardwebhooks` Python library; returns how many passed.
pub fn verify_with_standard_webhooks(
    secret: &str,
    deliveries: &[Received],
) -> Result<usize, String> {
    use std::io::Write;
    let input = serde_json::json!({
        "secret": secret,
        "deliveries": deliveries.iter().map(|d| serde_json::json!({"headers": d.headers, "body": d.body})).collect::<Vec<_>>(),
    });
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks/verify.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() {
        Ok(text.parse().unwrap_or(0))
    } else {
        Err(text)
    }
}
