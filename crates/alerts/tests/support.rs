//! A loopback webhook that records the batches it receives, and a logger that keeps records.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use alerts::WebhookConfig;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use scheduler_core::{Alert, ExecutionId, JobId};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

/// One POST the webhook received.
#[derive(Debug)]
pub(crate) struct Post {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) json: serde_json::Value,
}

impl Post {
    pub(crate) fn alerts(&self) -> &Vec<serde_json::Value> {
        self.json["alerts"].as_array().expect("an alerts array")
    }

    /// Which of `secrets` signed this POST, checked as a receiver would from
    /// `X-Scheduler-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`: the secrets whose
    /// HMAC-SHA256 of `"<t>.<body>"` is one of the `v1` values.
    pub(crate) fn signed_by<'a>(&self, secrets: &[&'a str]) -> Vec<&'a str> {
        let values: Vec<&str> = self
            .headers
            .get_all("X-Scheduler-Signature")
            .iter()
            .map(|value| value.to_str().expect("an ASCII header"))
            .collect();
        let [value] = values[..] else {
            return Vec::new();
        };
        let mut parts = value.split(',');
        let Some(t) = parts.next().and_then(|part| part.strip_prefix("t=")) else {
            return Vec::new();
        };
        let signatures: Vec<&str> = parts.filter_map(|part| part.strip_prefix("v1=")).collect();
        secrets
            .iter()
            .copied()
            .filter(|secret| {
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
                    .expect("any key length");
                mac.update(t.as_bytes());
                mac.update(b".");
                mac.update(&self.body);
                let expected: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect();
                signatures.contains(&expected.as_str())
            })
            .collect()
    }
}

pub(crate) struct Webhook {
    pub(crate) addr: SocketAddr,
    posts: mpsc::UnboundedReceiver<Post>,
    /// Answers wait for a permit each; the webhook starts open unless made with `gated`.
    pub(crate) gate: Arc<Semaphore>,
}

impl Webhook {
    pub(crate) fn config(&self) -> WebhookConfig {
        let mut config = WebhookConfig::new(format!("http://{}/alerts?token=secret", self.addr));
        config.initial_backoff = Duration::from_millis(10);
        config.max_backoff = Duration::from_millis(20);
        config
    }

    /// The next POST, waiting for it at most ten seconds.
    pub(crate) async fn next_post(&mut self) -> Post {
        tokio::time::timeout(Duration::from_secs(10), self.posts.recv())
            .await
            .expect("no POST within 10 s")
            .expect("the webhook stopped")
    }

    /// Whether a POST arrived that was not taken yet.
    pub(crate) fn has_more_posts(&mut self) -> bool {
        self.posts.try_recv().is_ok()
    }
}

/// A webhook that answers the n-th POST (from 0) with `status(n)`.
pub(crate) async fn webhook(status: impl Fn(usize) -> u16 + Send + Sync + 'static) -> Webhook {
    start(status, Semaphore::MAX_PERMITS).await
}

/// A webhook that answers 200, but only as `gate` gets permits.
pub(crate) async fn gated_webhook() -> Webhook {
    start(|_| 200, 0).await
}

async fn start(status: impl Fn(usize) -> u16 + Send + Sync + 'static, permits: usize) -> Webhook {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sender, posts) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(permits));
    let status = Arc::new(status);
    let count = Arc::new(AtomicUsize::new(0));
    let server_gate = gate.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (sender, gate, status, count) = (
                sender.clone(),
                server_gate.clone(),
                status.clone(),
                count.clone(),
            );
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let (sender, gate, status, count) =
                        (sender.clone(), gate.clone(), status.clone(), count.clone());
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let json = serde_json::from_slice(&body).expect("a JSON body");
                        let index = count.fetch_add(1, Ordering::SeqCst);
                        let _ = sender.send(Post {
                            headers: parts.headers,
                            body,
                            json,
                        });
                        gate.acquire().await.expect("the gate is open").forget();
                        let response = Response::builder()
                            .status(status(index))
                            .body(Full::new(Bytes::new()))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Webhook { addr, posts, gate }
}

pub(crate) fn failure(error: &str) -> Alert {
    Alert::FinalFailure {
        job_id: JobId::new_random(),
        execution_id: ExecutionId::new_time_ordered(),
        scheduled_at: "2026-11-30T01:10:31Z".parse().unwrap(),
        attempts: 3,
        http_status: Some(503),
        error: error.to_owned(),
    }
}

/// Every log message so far that contains `needle`.
pub(crate) fn logged(needle: &str) -> Vec<String> {
    install_logger();
    LOG.lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains(needle))
        .cloned()
        .collect()
}

pub(crate) fn install_logger() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&CaptureLogger).expect("no other logger");
        log::set_max_level(log::LevelFilter::Debug);
    });
}

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct CaptureLogger;

impl log::Log for CaptureLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        LOG.lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }

    fn flush(&self) {}
}
