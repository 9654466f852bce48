//! Registering jobs with concurrent clients, timing each creation: through the REST API
//! (`POST /api/jobs`) or straight into an in-process engine.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::ticks::{Delivery, DriftSummary, ScheduleKind, drift_summary};

/// What a registration run did.
#[derive(Clone, Debug, Default)]
pub(crate) struct CreationStats {
    pub(crate) created: u64,
    pub(crate) failed: u64,
    pub(crate) seconds: f64,
    pub(crate) per_second: f64,
    /// Latency of successful creations, in milliseconds.
    pub(crate) latency: DriftSummary,
    /// The first failure, to say why.
    pub(crate) first_error: Option<String>,
}

/// The registered jobs (id, expression) and the stats.
pub(crate) type Registered = (Vec<(u128, String)>, CreationStats);

/// Runs `create(index)` for `0..jobs` from `concurrency` tasks, stopping at `time_limit`.
pub(crate) async fn run_creators<F, Fut>(
    jobs: usize,
    concurrency: usize,
    time_limit: Duration,
    kind: ScheduleKind,
    create: F,
) -> anyhow::Result<Registered>
where
    F: Fn(usize, String) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<u128>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + time_limit;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let next = Arc::clone(&next);
        let create = create.clone();
        workers.spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
            let mut created = Vec::new();
            let mut failed = 0u64;
            let mut first_error = None;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= jobs || Instant::now() >= deadline {
                    break;
                }
                let expression = kind.expression(index);
                let sent = Instant::now();
                match create(index, expression.clone()).await {
                    Ok(id) => {
                        histogram.saturating_record(sent.elapsed().as_micros().max(1) as u64);
                        created.push((id, expression));
                    }
                    Err(error) => {
                        failed += 1;
                        first_error.get_or_insert_with(|| format!("{error:#}"));
                    }
                }
            }
            anyhow::Ok((created, histogram, failed, first_error))
        });
    }
    let mut all = Vec::with_capacity(jobs);
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut stats = CreationStats::default();
    while let Some(worker) = workers.join_next().await {
        let (created, worker_histogram, failed, first_error) = worker??;
        all.extend(created);
        histogram.add(&worker_histogram)?;
        stats.failed += failed;
        if stats.first_error.is_none() {
            stats.first_error = first_error;
        }
    }
    stats.seconds = started.elapsed().as_secs_f64();
    stats.created = all.len() as u64;
    stats.per_second = stats.created as f64 / stats.seconds.max(1e-9);
    stats.latency = drift_summary(&histogram);
    Ok((all, stats))
}

/// A job that never fires within a run: its only tick is in 2099.
const PROBE_SCHEDULE: &str = "0 0 0 1 1 * 2099";

/// Until `until`, every `interval` (one at a time; a late write delays the next), creates a
/// job through `POST /api/jobs` of the server at `api` and deletes it again: how long an API
/// call waits while the scheduler is under load. Returns the creations' and the deletions'
/// stats. The jobs never fire in the window, so they leave the tick counts alone.
pub(crate) async fn probe_api(
    api: SocketAddr,
    sink_url: String,
    interval: Duration,
    until: Instant,
) -> anyhow::Result<(CreationStats, CreationStats)> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let jobs_uri: http::Uri = format!("http://{api}/api/jobs").parse()?;
    let body = Bytes::from(serde_json::to_vec(&serde_json::json!({
        "schedule": PROBE_SCHEDULE,
        "api": sink_url,
        "type": Delivery::AtLeastOnce.api_name(),
    }))?);
    let mut creations = Probe::new()?;
    let mut deletions = Probe::new()?;
    let started = Instant::now();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if Instant::now() >= until {
            break;
        }
        let create = http::Request::post(jobs_uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))?;
        let (created, elapsed) = timed(&client, create, http::StatusCode::CREATED).await;
        let id = created.and_then(|body| {
            let created: serde_json::Value = serde_json::from_slice(&body)?;
            created["jobId"]
                .as_str()
                .map(str::to_owned)
                .context("the created job has no jobId")
        });
        let Some(id) = creations.record(id, elapsed) else {
            continue;
        };
        // Without a token, a request that changes state must say it is JSON (docs/SECURITY.md).
        let delete = http::Request::delete(format!("http://{api}/api/jobs/{id}"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::new()))?;
        let (deleted, elapsed) = timed(&client, delete, http::StatusCode::NO_CONTENT).await;
        deletions.record(deleted, elapsed);
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok((creations.finish(seconds), deletions.finish(seconds)))
}

/// The outcomes and latencies of one kind of probe write.
struct Probe {
    stats: CreationStats,
    histogram: Histogram<u64>,
}

impl Probe {
    fn new() -> anyhow::Result<Probe> {
        Ok(Probe {
            stats: CreationStats::default(),
            histogram: Histogram::new_with_bounds(1, 600_000_000, 3)?,
        })
    }

    /// Counts one write; its value when it succeeded.
    fn record<T>(&mut self, result: anyhow::Result<T>, elapsed: Duration) -> Option<T> {
        match result {
            Ok(value) => {
                self.histogram
                    .saturating_record(elapsed.as_micros().max(1) as u64);
                self.stats.created += 1;
                Some(value)
            }
            Err(error) => {
                self.stats.failed += 1;
                self.stats
                    .first_error
                    .get_or_insert_with(|| format!("{error:#}"));
                None
            }
        }
    }

    fn finish(mut self, seconds: f64) -> CreationStats {
        self.stats.seconds = seconds;
        self.stats.per_second = self.stats.created as f64 / seconds.max(1e-9);
        self.stats.latency = drift_summary(&self.histogram);
        self.stats
    }
}

/// Sends `request` and reads the answer: its body if the status is `expected`, and the time
/// the exchange took.
async fn timed(
    client: &Client<HttpConnector, Full<Bytes>>,
    request: http::Request<Full<Bytes>>,
    expected: http::StatusCode,
) -> (anyhow::Result<Bytes>, Duration) {
    let what = format!("{} {}", request.method(), request.uri().path());
    let sent = Instant::now();
    let result = async {
        let response = client
            .request(request)
            .await
            .with_context(|| what.clone())?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if status != expected {
            anyhow::bail!(
                "{what} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(body)
    }
    .await;
    (result, sent.elapsed())
}

/// Registers `jobs` jobs through `POST /api/jobs`, targeting `sink_url`: job `i` through the
/// server at `apis[i % apis.len()]`, so that several nodes share the creations round robin.
pub(crate) async fn through_api(
    apis: &[SocketAddr],
    sink_url: &str,
    (kind, delivery): (ScheduleKind, Delivery),
    jobs: usize,
    concurrency: usize,
    time_limit: Duration,
) -> anyhow::Result<Registered> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency.max(1))
        .build(connector);
    anyhow::ensure!(!apis.is_empty(), "no server to register the jobs with");
    let uris = apis
        .iter()
        .map(|api| format!("http://{api}/api/jobs").parse())
        .collect::<Result<Vec<http::Uri>, _>>()?;
    let sink_url: Arc<str> = Arc::from(sink_url);
    run_creators(
        jobs,
        concurrency,
        time_limit,
        kind,
        move |index, expression| {
            let client = client.clone();
            let uri = uris[index % uris.len()].clone();
            let sink_url = Arc::clone(&sink_url);
            async move {
                let body = serde_json::json!({
                    "schedule": expression,
                    "api": &*sink_url,
                    "type": delivery.api_name(),
                });
                let request = http::Request::post(uri)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(serde_json::to_vec(&body)?)))?;
                let response = client.request(request).await.context("POST /api/jobs")?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                if status != http::StatusCode::CREATED {
                    anyhow::bail!(
                        "POST /api/jobs answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                let created: serde_json::Value = serde_json::from_slice(&body)?;
                let id = created["jobId"]
                    .as_str()
                    .context("the created job has no jobId")?;
                Ok(uuid::Uuid::parse_str(id)?.as_u128())
            }
        },
    )
    .await
}
