//! The baseline: a plain hyper client sending as fast as it can to the sink, so that the
//! scheduler's throughput can be read as a fraction of what this machine does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::ticks::{DriftSummary, drift_summary};

/// What the baseline did.
#[derive(Clone, Debug, Default)]
pub(crate) struct BaselineStats {
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    pub(crate) seconds: f64,
    pub(crate) per_second: f64,
    pub(crate) concurrency: usize,
    /// Request latency, in milliseconds.
    pub(crate) latency: DriftSummary,
}

/// Sends POSTs with headers like the scheduler's from `concurrency` tasks for `duration`.
pub(crate) async fn run(
    sink: SocketAddr,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<BaselineStats> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency.max(1))
        .build(connector);
    let uri: Arc<http::Uri> = Arc::new(format!("http://{sink}/hook").parse()?);
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let client = client.clone();
        let uri = Arc::clone(&uri);
        workers.spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
            let (mut done, mut failed) = (0u64, 0u64);
            while Instant::now() < deadline {
                let request = http::Request::post((*uri).clone())
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .header(http::header::USER_AGENT, "load-harness-baseline")
                    // Headers of the same size as the scheduler's, without a job id, so the
                    // sink counts them apart.
                    .header("X-Baseline-Job-Id", "06300e84-65b3-4003-b81d-7fed0de4e345")
                    .header(
                        "X-Baseline-Execution-Id",
                        "01a22773-de27-7214-80d9-00161d95e16d",
                    )
                    .header("X-Baseline-Scheduled-Time", "2026-11-29T13:17:16Z")
                    .header("X-Baseline-Attempt", "1")
                    .body(Full::new(Bytes::new()))?;
                let sent = Instant::now();
                match client.request(request).await {
                    Ok(response) => {
                        let _ = response.into_body().collect().await;
                        histogram.saturating_record(sent.elapsed().as_micros().max(1) as u64);
                        done += 1;
                    }
                    Err(_) => failed += 1,
                }
            }
            anyhow::Ok((done, failed, histogram))
        });
    }
    let mut stats = BaselineStats {
        concurrency,
        ..BaselineStats::default()
    };
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    while let Some(worker) = workers.join_next().await {
        let (done, failed, worker_histogram) = worker??;
        stats.requests += done;
        stats.failed += failed;
        histogram.add(&worker_histogram)?;
    }
    stats.seconds = started.elapsed().as_secs_f64();
    stats.per_second = stats.requests as f64 / stats.seconds.max(1e-9);
    stats.latency = drift_summary(&histogram);
    Ok(stats)
}
