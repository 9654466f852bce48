//! The webhook sink: a bounded queue in front of one delivery task that coalesces bursts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use scheduler_core::{Alert, AlertSink, BoxFuture, Timestamp};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::WebhookConfig;
use crate::error::Error;
use crate::http::{PostResult, WebhookClient};
use crate::payload::{AlertRecord, Batch, PAYLOAD_VERSION, format_time};

/// An [`AlertSink`] that POSTs alerts as JSON to a webhook, in batches, from a background
/// task. See the [crate documentation](crate) for what is coalesced and how.
///
/// [`deliver`](AlertSink::deliver) never waits: it puts the alert in a bounded queue and
/// returns a future that is already complete. When the queue is full the alert is dropped,
/// counted, and reported in the log at most once per
/// [`drop_log_interval`](WebhookConfig::drop_log_interval).
#[derive(Debug)]
pub struct WebhookAlertSink {
    queue: mpsc::Sender<AlertRecord>,
    shared: Arc<Shared>,
}

/// The handle of a sink's delivery task: its counters and its shutdown.
#[derive(Debug)]
pub struct WebhookWorker {
    task: JoinHandle<()>,
    shared: Arc<Shared>,
}

/// Counters of a webhook sink, since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Alerts the webhook accepted (a 2xx answer to their batch).
    pub delivered_alerts: u64,
    /// POSTs answered with 2xx.
    pub delivered_batches: u64,
    /// POSTs that failed (no answer or a non-2xx status), retried ones included.
    pub failed_posts: u64,
    /// Alerts given up on: their batch was rejected, ran out of attempts, or was still
    /// undelivered when shutdown's grace period ended.
    pub abandoned_alerts: u64,
    /// Alerts dropped because the queue was full (or the sink shut down).
    pub dropped_alerts: u64,
}

impl WebhookAlertSink {
    /// Starts the delivery task and returns the sink (give it to the engine) and the task's
    /// handle (keep it for [`WebhookWorker::stats`] and [`WebhookWorker::shutdown`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the configuration is not usable (URL, headers, sizes, extra
    /// roots); [`Error::NoRuntime`] outside a Tokio runtime.
    pub fn start(config: WebhookConfig) -> Result<(WebhookAlertSink, WebhookWorker), Error> {
        validate(&config)?;
        let client = WebhookClient::new(&config)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let (queue, receiver) = mpsc::channel(config.queue_capacity);
        let shared = Arc::new(Shared {
            target: log_target(&config.url),
            queue_capacity: config.queue_capacity,
            drop_log_interval: config.drop_log_interval,
            started: Instant::now(),
            last_drop_log_ms: AtomicU64::new(NEVER),
            unreported_drops: AtomicU64::new(0),
            dropped_since_batch: AtomicU64::new(0),
            outstanding: AtomicU64::new(0),
            counters: Counters::default(),
            shutting_down: AtomicBool::new(false),
            shutdown: Notify::new(),
        });
        let worker = Worker {
            config,
            client,
            receiver,
            shared: shared.clone(),
        };
        let task = runtime.spawn(worker.run());
        Ok((
            WebhookAlertSink {
                queue,
                shared: shared.clone(),
            },
            WebhookWorker { task, shared },
        ))
    }

    /// Queues one alert without waiting; returns whether it was queued (`false`: dropped).
    pub fn enqueue(&self, alert: Alert) -> bool {
        self.enqueue_record(AlertRecord::new(alert, Timestamp::now()))
    }

    /// Queues one record without waiting; returns whether it was queued (`false`: dropped).
    pub(crate) fn enqueue_record(&self, record: AlertRecord) -> bool {
        // Counted before the send, so that the worker never takes it below zero.
        self.shared.outstanding.fetch_add(1, Ordering::AcqRel);
        match self.queue.try_send(record) {
            Ok(()) => true,
            Err(_full_or_closed) => {
                self.shared.outstanding.fetch_sub(1, Ordering::AcqRel);
                self.shared
                    .counters
                    .dropped_alerts
                    .fetch_add(1, Ordering::Relaxed);
                self.shared.unreported_drops.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .dropped_since_batch
                    .fetch_add(1, Ordering::Relaxed);
                self.shared.report_drops(false);
                false
            }
        }
    }
}

impl WebhookAlertSink {
    /// Whether nothing is queued or being sent.
    pub(crate) fn is_idle(&self) -> bool {
        self.shared.outstanding.load(Ordering::Acquire) == 0
    }
}

impl AlertSink for WebhookAlertSink {
    fn deliver(&self, alert: Alert) -> BoxFuture<'static, ()> {
        self.enqueue(alert);
        Box::pin(std::future::ready(()))
    }
}

impl WebhookWorker {
    /// The counters so far.
    pub fn stats(&self) -> WebhookStats {
        self.shared.counters.snapshot()
    }

    /// Stops taking alerts, delivers those already queued (batches leave at once, without
    /// waiting for the window), and waits for that at most `grace`; what is undelivered by
    /// then is abandoned, counted and logged. Returns the final counters.
    pub async fn shutdown(self, grace: Duration) -> WebhookStats {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        self.shared.shutdown.notify_one();
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
            log::error!(
                "webhook alerts to {}: shutdown grace of {}ms ran out; undelivered alerts abandoned",
                self.shared.target,
                grace.as_millis()
            );
        }
        self.shared.report_drops(true);
        self.shared.counters.snapshot()
    }

    /// Waits until the task ends by itself: after every [`WebhookAlertSink`] is dropped and the
    /// queue is delivered. Returns the final counters.
    pub async fn finished(self) -> WebhookStats {
        let _ = self.task.await;
        self.shared.report_drops(true);
        self.shared.counters.snapshot()
    }
}

/// `last_drop_log_ms` before the first report.
const NEVER: u64 = u64::MAX;

#[derive(Debug)]
struct Shared {
    /// The webhook's scheme, host and port, for logs: the path and query may hold secrets.
    target: String,
    queue_capacity: usize,
    drop_log_interval: Duration,
    started: Instant,
    last_drop_log_ms: AtomicU64,
    unreported_drops: AtomicU64,
    dropped_since_batch: AtomicU64,
    /// Alerts queued or in a batch not yet delivered or given up.
    outstanding: AtomicU64,
    counters: Counters,
    shutting_down: AtomicBool,
    shutdown: Notify,
}

impl Shared {
    /// Logs the drops not yet reported, unless one report was made less than
    /// `drop_log_interval` ago (`force` ignores the interval, for the last report).
    fn report_drops(&self, force: bool) {
        if self.unreported_drops.load(Ordering::Relaxed) == 0 {
            return;
        }
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        let last = self.last_drop_log_ms.load(Ordering::Relaxed);
        let interval_ms = u64::try_from(self.drop_log_interval.as_millis()).unwrap_or(u64::MAX);
        if !force && last != NEVER && now_ms.saturating_sub(last) < interval_ms {
            return;
        }
        // One caller wins the right to report; the others' drops go into the next report.
        if self
            .last_drop_log_ms
            .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let dropped = self.unreported_drops.swap(0, Ordering::AcqRel);
        if dropped > 0 {
            log::warn!(
                "webhook alerts to {}: queue full (capacity {}), dropped {dropped} alert(s) since the last report, {} in total",
                self.target,
                self.queue_capacity,
                self.counters.dropped_alerts.load(Ordering::Relaxed),
            );
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    delivered_alerts: AtomicU64,
    delivered_batches: AtomicU64,
    failed_posts: AtomicU64,
    abandoned_alerts: AtomicU64,
    dropped_alerts: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> WebhookStats {
        WebhookStats {
            delivered_alerts: self.delivered_alerts.load(Ordering::Relaxed),
            delivered_batches: self.delivered_batches.load(Ordering::Relaxed),
            failed_posts: self.failed_posts.load(Ordering::Relaxed),
            abandoned_alerts: self.abandoned_alerts.load(Ordering::Relaxed),
            dropped_alerts: self.dropped_alerts.load(Ordering::Relaxed),
        }
    }
}

struct Worker {
    config: WebhookConfig,
    client: WebhookClient,
    receiver: mpsc::Receiver<AlertRecord>,
    shared: Arc<Shared>,
}

impl Worker {
    async fn run(mut self) {
        while let Some(batch) = self.next_batch().await {
            self.deliver(&batch).await;
            self.shared
                .outstanding
                .fetch_sub(batch.len() as u64, Ordering::AcqRel);
            self.shared.report_drops(false);
        }
    }

    /// Waits for an alert, then collects until the batch is full, the window since its first
    /// alert has passed, or the sink is shutting down (then it takes only what is queued).
    async fn next_batch(&mut self) -> Option<Vec<AlertRecord>> {
        let first = loop {
            if self.shutting_down() {
                self.receiver.close();
                break self.receiver.recv().await?;
            }
            tokio::select! {
                first = self.receiver.recv() => break first?,
                () = self.shared.shutdown.notified() => {}
            }
        };
        let mut batch = vec![first];
        let window_ends = Instant::now() + self.config.batch_window;
        while batch.len() < self.config.max_batch_size {
            // Whatever is queued already joins without waiting.
            if let Ok(alert) = self.receiver.try_recv() {
                batch.push(alert);
                continue;
            }
            if self.shutting_down() {
                break;
            }
            tokio::select! {
                next = self.receiver.recv() => match next {
                    Some(alert) => batch.push(alert),
                    None => break,
                },
                () = tokio::time::sleep_until(window_ends) => break,
                () = self.shared.shutdown.notified() => {}
            }
        }
        Some(batch)
    }

    fn shutting_down(&self) -> bool {
        self.shared.shutting_down.load(Ordering::SeqCst)
    }

    /// POSTs one batch until it is accepted, rejected, or out of attempts.
    async fn deliver(&self, batch: &[AlertRecord]) {
        let count = batch.len() as u64;
        let body = Batch {
            version: PAYLOAD_VERSION,
            source: "scheduler",
            batch_time: format_time(Timestamp::now()),
            dropped_alerts: self.shared.dropped_since_batch.swap(0, Ordering::AcqRel),
            alerts: batch,
        };
        let body = match serde_json::to_vec(&body) {
            Ok(body) => Bytes::from(body),
            Err(error) => {
                // Plain strings and numbers always serialize; this is a safety net.
                log::error!(
                    "webhook alerts to {}: cannot encode a batch: {error}",
                    self.shared.target
                );
                self.shared
                    .counters
                    .abandoned_alerts
                    .fetch_add(count, Ordering::Relaxed);
                return;
            }
        };
        let counters = &self.shared.counters;
        let mut backoff = self.config.initial_backoff;
        for attempt in 1..=self.config.max_attempts {
            match self.client.post(body.clone()).await {
                PostResult::Delivered => {
                    counters.delivered_batches.fetch_add(1, Ordering::Relaxed);
                    counters
                        .delivered_alerts
                        .fetch_add(count, Ordering::Relaxed);
                    return;
                }
                PostResult::Rejected(reason) => {
                    counters.failed_posts.fetch_add(1, Ordering::Relaxed);
                    counters
                        .abandoned_alerts
                        .fetch_add(count, Ordering::Relaxed);
                    log::error!(
                        "webhook alerts to {}: batch of {count} alert(s) rejected ({reason}); not retried",
                        self.shared.target
                    );
                    return;
                }
                PostResult::Retry(reason) => {
                    counters.failed_posts.fetch_add(1, Ordering::Relaxed);
                    if attempt == self.config.max_attempts {
                        counters
                            .abandoned_alerts
                            .fetch_add(count, Ordering::Relaxed);
                        log::error!(
                            "webhook alerts to {}: batch of {count} alert(s) failed {attempt} times, last: {reason}; abandoned",
                            self.shared.target
                        );
                        return;
                    }
                    log::warn!(
                        "webhook alerts to {}: POST {attempt} of {} for {count} alert(s) failed ({reason}); retrying in {}ms",
                        self.shared.target,
                        self.config.max_attempts,
                        backoff.as_millis()
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
            }
        }
    }
}

fn validate(config: &WebhookConfig) -> Result<(), Error> {
    let invalid = |field: &str, reason: &str| Err(Error::Config(format!("{field}: {reason}")));
    if config.queue_capacity == 0 {
        return invalid("queue_capacity", "must be at least 1");
    }
    if config.max_batch_size == 0 {
        return invalid("max_batch_size", "must be at least 1");
    }
    if config.max_attempts == 0 {
        return invalid("max_attempts", "must be at least 1");
    }
    if config.request_timeout.is_zero() {
        return invalid("request_timeout", "must be greater than zero");
    }
    if config.initial_backoff > config.max_backoff {
        return invalid("initial_backoff", "must not be greater than max_backoff");
    }
    Ok(())
}

/// The scheme, host and port of `url`: what a log may show of it.
fn log_target(url: &str) -> String {
    match url.trim().parse::<http::Uri>() {
        Ok(uri) => match (uri.scheme_str(), uri.authority()) {
            // The authority may carry user:password@; keep only host and port.
            (Some(scheme), Some(authority)) => {
                let host_port = authority.as_str().rsplit('@').next().unwrap_or_default();
                format!("{scheme}://{host_port}")
            }
            _ => "(invalid url)".to_owned(),
        },
        Err(_) => "(invalid url)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_targets_hide_paths_queries_and_credentials() {
        let check = |url: &str, expected: &str| assert_eq!(log_target(url), expected, "{url}");
        check(
            "https://hooks.example.com/T000/B000/secret?token=x",
            "https://hooks.example.com",
        );
        check(
            "http://user:pw@127.0.0.1:8080/alerts",
            "http://127.0.0.1:8080",
        );
        check("not a url", "(invalid url)");
    }
}
