//! The API's own metrics (requests per route and status, their latencies, store read timings)
//! and the two renderings of all metrics: JSON for `/api/metrics`, Prometheus text for `/metrics`.

mod prometheus;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use scheduler_core::{DriftHistogram, DriftSnapshot, MetricsSnapshot, NodeStatus};
use serde::Serialize;

pub(crate) use prometheus::render_prometheus;

/// Request counts and latencies per route, and the timings of the store reads the API makes.
///
/// Routes are labelled by their pattern (`/api/jobs/{jobId}`), never by the raw path, and every
/// unmatched path counts as `unmatched`, so the number of series stays bounded.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    routes: Mutex<BTreeMap<(String, String), Arc<RouteMetrics>>>,
    store: Mutex<BTreeMap<&'static str, Arc<DriftHistogram>>>,
}

#[derive(Debug, Default)]
struct RouteMetrics {
    statuses: Mutex<BTreeMap<u16, u64>>,
    latency: DriftHistogram,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ApiMetrics {
    /// Records one request: its method, route pattern, response status and latency.
    pub fn record_request(&self, method: &str, route: &str, status: u16, latency: Duration) {
        let route_metrics = {
            let mut routes = lock(&self.routes);
            Arc::clone(
                routes
                    .entry((method.to_owned(), route.to_owned()))
                    .or_default(),
            )
        };
        *lock(&route_metrics.statuses).entry(status).or_default() += 1;
        route_metrics.latency.record(latency);
    }

    /// Records how long one store read (`operation`, such as `get_job`) took.
    pub fn record_store(&self, operation: &'static str, latency: Duration) {
        let histogram = Arc::clone(lock(&self.store).entry(operation).or_default());
        histogram.record(latency);
    }

    fn route_snapshots(&self) -> Vec<RouteSnapshot> {
        let routes: Vec<_> = lock(&self.routes)
            .iter()
            .map(|(key, metrics)| (key.clone(), Arc::clone(metrics)))
            .collect();
        routes
            .into_iter()
            .map(|((method, route), metrics)| {
                let statuses = lock(&metrics.statuses).clone();
                RouteSnapshot {
                    method,
                    route,
                    requests: statuses.values().sum(),
                    statuses,
                    latency: metrics.latency.snapshot(),
                }
            })
            .collect()
    }

    fn store_snapshots(&self) -> Vec<(&'static str, DriftSnapshot)> {
        lock(&self.store)
            .iter()
            .map(|(operation, histogram)| (*operation, histogram.snapshot()))
            .collect()
    }
}

struct RouteSnapshot {
    method: String,
    route: String,
    requests: u64,
    statuses: BTreeMap<u16, u64>,
    latency: DriftSnapshot,
}

/// Everything the metrics endpoints show, gathered once per request.
pub(crate) struct MetricsReport {
    pub(crate) engine: MetricsSnapshot,
    pub(crate) active_jobs: u64,
    pub(crate) paused_jobs: u64,
    pub(crate) uptime: Duration,
    pub(crate) started_at: String,
    /// This node's name.
    pub(crate) node_id: String,
    /// Whether this node is fenced ([`scheduler_core::Engine::is_fenced`]).
    pub(crate) fenced: bool,
    /// Whether the store fails the engine's writes ([`scheduler_core::Engine::store_status`]).
    pub(crate) degraded: bool,
    /// The nodes that share the store (empty when they could not be read).
    pub(crate) nodes: Vec<NodeStatus>,
    /// The message-broker connections.
    pub(crate) brokers: Vec<crate::BrokerConnection>,
}

/// One message-broker connection in `/api/metrics`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BrokerDto {
    kind: String,
    server: String,
    state: String,
    connected: bool,
    last_error: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MetricsDto {
    started_at: String,
    uptime_seconds: u64,
    node_id: String,
    fenced: bool,
    degraded: bool,
    nodes: Vec<NodeDto>,
    brokers: Vec<BrokerDto>,
    engine: EngineDto,
    drift: LatencyDto,
    claim_duration: LatencyDto,
    jobs: JobCountsDto,
    api: ApiDto,
    store: StoreDto,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EngineDto {
    fired: u64,
    succeeded: u64,
    failed: u64,
    retried: u64,
    skipped: u64,
    abandoned: u64,
    misfired: u64,
    claimed: u64,
    in_flight: u64,
    waiting: u64,
    waiting_on_host: u64,
    backlog: u64,
    claims_deferred: u64,
    alerts_dropped: u64,
    store_errors: u64,
    leases_held: u64,
    taken_over: u64,
    leases_lost: u64,
    job_changes_received: u64,
    outage_claimed: u64,
    outage_dropped: u64,
    outage_withheld: u64,
    outage_buffered: u64,
    results_unwritten: u64,
}

/// A duration distribution in milliseconds (fractional, microsecond resolution).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LatencyDto {
    count: u64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    mean_ms: f64,
}

impl LatencyDto {
    fn new(snapshot: &DriftSnapshot) -> LatencyDto {
        LatencyDto {
            count: snapshot.count,
            p50_ms: fractional_millis(snapshot.p50),
            p90_ms: fractional_millis(snapshot.p90),
            p99_ms: fractional_millis(snapshot.p99),
            max_ms: fractional_millis(snapshot.max),
            mean_ms: fractional_millis(snapshot.mean),
        }
    }
}

fn fractional_millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1_000.0
}

/// A node that shares the store, in `/api/metrics` and `/api/health`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeDto {
    node_id: String,
    last_heartbeat: String,
    live: bool,
}

impl NodeDto {
    pub(crate) fn new(node: &NodeStatus) -> NodeDto {
        NodeDto {
            node_id: node.node_id.clone(),
            last_heartbeat: crate::dto::format_timestamp(node.last_heartbeat),
            live: node.live,
        }
    }
}

#[derive(Serialize)]
struct JobCountsDto {
    active: u64,
    paused: u64,
    total: u64,
}

#[derive(Serialize)]
struct ApiDto {
    requests: u64,
    routes: Vec<RouteDto>,
}

#[derive(Serialize)]
struct RouteDto {
    method: String,
    route: String,
    requests: u64,
    statuses: BTreeMap<String, u64>,
    latency: LatencyDto,
}

#[derive(Serialize)]
struct StoreDto {
    operations: Vec<StoreOperationDto>,
}

#[derive(Serialize)]
struct StoreOperationDto {
    operation: &'static str,
    latency: LatencyDto,
}

/// The JSON document of `GET /api/metrics`.
pub(crate) fn render_json(report: &MetricsReport, api: &ApiMetrics) -> serde_json::Value {
    let engine = &report.engine;
    let routes: Vec<RouteDto> = api
        .route_snapshots()
        .into_iter()
        .map(|route| RouteDto {
            requests: route.requests,
            statuses: route
                .statuses
                .iter()
                .map(|(status, count)| (status.to_string(), *count))
                .collect(),
            latency: LatencyDto::new(&route.latency),
            method: route.method,
            route: route.route,
        })
        .collect();
    let dto = MetricsDto {
        started_at: report.started_at.clone(),
        uptime_seconds: report.uptime.as_secs(),
        node_id: report.node_id.clone(),
        fenced: report.fenced,
        degraded: report.degraded,
        nodes: report.nodes.iter().map(NodeDto::new).collect(),
        brokers: report
            .brokers
            .iter()
            .map(|broker| BrokerDto {
                kind: broker.kind.clone(),
                server: broker.server.clone(),
                state: broker.state.clone(),
                connected: broker.connected,
                last_error: broker.last_error.clone(),
            })
            .collect(),
        engine: EngineDto {
            fired: engine.fired,
            succeeded: engine.succeeded,
            failed: engine.failed,
            retried: engine.retried,
            skipped: engine.skipped,
            abandoned: engine.abandoned,
            misfired: engine.misfired,
            claimed: engine.claimed,
            in_flight: engine.in_flight,
            waiting: engine.waiting,
            waiting_on_host: engine.waiting_on_host,
            backlog: engine.backlog,
            claims_deferred: engine.claims_deferred,
            alerts_dropped: engine.alerts_dropped,
            store_errors: engine.store_errors,
            leases_held: engine.backlog,
            taken_over: engine.taken_over,
            leases_lost: engine.leases_lost,
            job_changes_received: engine.job_changes_received,
            outage_claimed: engine.outage_claimed,
            outage_dropped: engine.outage_dropped,
            outage_withheld: engine.outage_withheld,
            outage_buffered: engine.outage_buffered,
            results_unwritten: engine.results_unwritten,
        },
        drift: LatencyDto::new(&engine.drift),
        claim_duration: LatencyDto::new(&engine.claim_duration),
        jobs: JobCountsDto {
            active: report.active_jobs,
            paused: report.paused_jobs,
            total: report.active_jobs + report.paused_jobs,
        },
        api: ApiDto {
            requests: routes.iter().map(|route| route.requests).sum(),
            routes,
        },
        store: StoreDto {
            operations: api
                .store_snapshots()
                .iter()
                .map(|(operation, snapshot)| StoreOperationDto {
                    operation,
                    latency: LatencyDto::new(snapshot),
                })
                .collect(),
        },
    };
    serde_json::to_value(dto).unwrap_or_default()
}
