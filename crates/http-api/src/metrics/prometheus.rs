//! The Prometheus text exposition of `GET /metrics`: a table of metrics, written in order by
//! one loop.

use std::fmt::Write as _;
use std::time::Duration;

use scheduler_core::DriftSnapshot;

use super::{ApiMetrics, MetricsReport, RouteSnapshot};

/// The Prometheus text exposition (format 0.0.4) of `GET /metrics`: every row of
/// [`PROMETHEUS`], in order.
pub(crate) fn render_prometheus(report: &MetricsReport, api: &ApiMetrics) -> String {
    let sources = Sources {
        report,
        routes: api.route_snapshots(),
        store: api.store_snapshots(),
    };
    let mut out = String::new();
    for metric in PROMETHEUS {
        let name = metric.name;
        let _ = writeln!(out, "# HELP {name} {}", metric.help);
        let _ = writeln!(out, "# TYPE {name} {}", metric.kind.as_str());
        match metric.read {
            Read::Value(value) => {
                let _ = writeln!(out, "{name} {}", value(&sources));
            }
            Read::Labelled(series) => {
                for (labels, value) in series(&sources) {
                    let _ = writeln!(out, "{name}{{{labels}}} {value}");
                }
            }
            Read::Histogram(series) => histogram(&mut out, name, &series(&sources)),
        }
    }
    out
}

/// What the Prometheus rows read from: the report and the API's own metrics, snapshotted once.
struct Sources<'a> {
    report: &'a MetricsReport,
    routes: Vec<RouteSnapshot>,
    store: Vec<(&'static str, DriftSnapshot)>,
}

/// One metric of the exposition.
struct PrometheusMetric {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    read: Read,
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    /// Read with [`Read::Histogram`].
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// How a metric's samples are read.
#[derive(Clone, Copy)]
enum Read {
    /// One sample without labels.
    Value(fn(&Sources<'_>) -> Sample),
    /// One sample per label set (the labels as written between the braces).
    Labelled(fn(&Sources<'_>) -> Vec<(String, Sample)>),
    /// A histogram per label set (see [`histogram`]).
    Histogram(fn(&Sources<'_>) -> Vec<(String, DriftSnapshot)>),
}

/// A sample's value: counts print as integers, seconds as decimals.
#[derive(Clone, Copy)]
enum Sample {
    Count(u64),
    Seconds(Duration),
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sample::Count(count) => write!(f, "{count}"),
            Sample::Seconds(duration) => write!(f, "{}", seconds(*duration)),
        }
    }
}

/// Every metric of `GET /metrics`, in the order they are written.
const PROMETHEUS: &[PrometheusMetric] = &[
    counter(
        "scheduler_executions_fired_total",
        "Executions sent for the first time.",
        |s| Sample::Count(s.report.engine.fired),
    ),
    counter(
        "scheduler_executions_succeeded_total",
        "Executions that succeeded.",
        |s| Sample::Count(s.report.engine.succeeded),
    ),
    counter(
        "scheduler_executions_failed_total",
        "Executions that failed for good.",
        |s| Sample::Count(s.report.engine.failed),
    ),
    counter("scheduler_retries_total", "Retries scheduled.", |s| {
        Sample::Count(s.report.engine.retried)
    }),
    counter(
        "scheduler_executions_skipped_total",
        "Executions skipped (overlap, paused, rescheduled).",
        |s| Sample::Count(s.report.engine.skipped),
    ),
    counter(
        "scheduler_executions_abandoned_total",
        "At-most-once executions abandoned after a crash.",
        |s| Sample::Count(s.report.engine.abandoned),
    ),
    counter(
        "scheduler_ticks_misfired_total",
        "Missed ticks dropped by misfire policies.",
        |s| Sample::Count(s.report.engine.misfired),
    ),
    counter(
        "scheduler_ticks_claimed_total",
        "Ticks claimed from the store, recovered ones included.",
        |s| Sample::Count(s.report.engine.claimed),
    ),
    counter(
        "scheduler_claims_deferred_total",
        "Claim passes skipped or cut short because the engine's backlog was full.",
        |s| Sample::Count(s.report.engine.claims_deferred),
    ),
    counter(
        "scheduler_alerts_dropped_total",
        "Alerts dropped because the alert queue was full.",
        |s| Sample::Count(s.report.engine.alerts_dropped),
    ),
    counter(
        "scheduler_store_errors_total",
        "Engine store calls that failed.",
        |s| Sample::Count(s.report.engine.store_errors),
    ),
    counter(
        "scheduler_taken_over_total",
        "Unfinished executions this node took over from stopped nodes.",
        |s| Sample::Count(s.report.engine.taken_over),
    ),
    counter(
        "scheduler_leases_lost_total",
        "Executions this node held when its lease lapsed and another node had taken over.",
        |s| Sample::Count(s.report.engine.leases_lost),
    ),
    counter(
        "scheduler_job_changes_received_total",
        "Jobs read again after a change notice from the shared store, and applied to held ticks.",
        |s| Sample::Count(s.report.engine.job_changes_received),
    ),
    counter(
        "scheduler_outage_claimed_total",
        "Ticks claimed in memory while the store could not be written (outage mode).",
        |s| Sample::Count(s.report.engine.outage_claimed),
    ),
    counter(
        "scheduler_outage_dropped_total",
        "Due ticks not fired during an outage because the outage buffer was full.",
        |s| Sample::Count(s.report.engine.outage_dropped),
    ),
    counter(
        "scheduler_outage_withheld_total",
        "At-most-once ticks not fired during an outage, for want of a durable start record.",
        |s| Sample::Count(s.report.engine.outage_withheld),
    ),
    gauge(
        "scheduler_outage_buffered",
        "Executions claimed in memory during an outage and not yet recorded in the store.",
        |s| Sample::Count(s.report.engine.outage_buffered),
    ),
    gauge(
        "scheduler_results_unwritten",
        "Execution results waiting to be written to the store.",
        |s| Sample::Count(s.report.engine.results_unwritten),
    ),
    gauge(
        "scheduler_degraded",
        "1 while the store fails the engine's writes (claims or results), else 0.",
        |s| Sample::Count(u64::from(s.report.degraded)),
    ),
    gauge(
        "scheduler_leases_held",
        "Unfinished executions this node holds under its lease (the backlog).",
        |s| Sample::Count(s.report.engine.backlog),
    ),
    gauge(
        "scheduler_fenced",
        "1 while this node cannot renew its heartbeat and sends nothing, else 0.",
        |s| Sample::Count(u64::from(s.report.fenced)),
    ),
    gauge("scheduler_in_flight", "Attempts in flight now.", |s| {
        Sample::Count(s.report.engine.in_flight)
    }),
    gauge(
        "scheduler_waiting",
        "Executions due now that wait for an attempt slot.",
        |s| Sample::Count(s.report.engine.waiting),
    ),
    gauge(
        "scheduler_waiting_on_host",
        "Of the executions waiting, those whose target host has its per-host limit of attempts in flight.",
        |s| Sample::Count(s.report.engine.waiting_on_host),
    ),
    gauge(
        "scheduler_backlog",
        "Executions the engine holds: claimed, triggered or recovered, not yet finally written.",
        |s| Sample::Count(s.report.engine.backlog),
    ),
    PrometheusMetric {
        name: "scheduler_drift_seconds",
        kind: Kind::Histogram,
        help: "Drift of first sends: actual send time minus scheduled time.",
        read: Read::Histogram(|s| vec![(String::new(), s.report.engine.drift)]),
    },
    PrometheusMetric {
        name: "scheduler_claim_duration_seconds",
        kind: Kind::Histogram,
        help: "How long each successful claim of due ticks took in the store.",
        read: Read::Histogram(|s| vec![(String::new(), s.report.engine.claim_duration)]),
    },
    gauge(
        "scheduler_drift_max_seconds",
        "The largest drift seen.",
        |s| Sample::Seconds(s.report.engine.drift.max),
    ),
    PrometheusMetric {
        name: "scheduler_jobs",
        kind: Kind::Gauge,
        help: "Registered jobs by state.",
        read: Read::Labelled(|s| {
            vec![
                (
                    "state=\"active\"".to_owned(),
                    Sample::Count(s.report.active_jobs),
                ),
                (
                    "state=\"paused\"".to_owned(),
                    Sample::Count(s.report.paused_jobs),
                ),
            ]
        }),
    },
    PrometheusMetric {
        name: "scheduler_node_info",
        kind: Kind::Gauge,
        help: "This node's name, as a label of a series that is always 1.",
        read: Read::Labelled(|s| {
            vec![(
                format!("node=\"{}\"", escape_label(&s.report.node_id)),
                Sample::Count(1),
            )]
        }),
    },
    PrometheusMetric {
        name: "scheduler_nodes",
        kind: Kind::Gauge,
        help: "Nodes sharing the store: live (heard from within the lease) or silent.",
        read: Read::Labelled(|s| {
            let live = s.report.nodes.iter().filter(|node| node.live).count() as u64;
            let silent = s.report.nodes.len() as u64 - live;
            vec![
                ("state=\"live\"".to_owned(), Sample::Count(live)),
                ("state=\"silent\"".to_owned(), Sample::Count(silent)),
            ]
        }),
    },
    PrometheusMetric {
        name: "scheduler_node_last_heartbeat_timestamp_seconds",
        kind: Kind::Gauge,
        help: "Each node's latest heartbeat, as a Unix time by that node's clock.",
        read: Read::Labelled(|s| {
            s.report
                .nodes
                .iter()
                .map(|node| {
                    (
                        format!("node=\"{}\"", escape_label(&node.node_id)),
                        Sample::Count(u64::try_from(node.last_heartbeat.as_second()).unwrap_or(0)),
                    )
                })
                .collect()
        }),
    },
    PrometheusMetric {
        name: "scheduler_broker_connected",
        kind: Kind::Gauge,
        help: "Whether each message-broker connection (queue targets) is up: 1 connected, 0 not.",
        read: Read::Labelled(|s| {
            s.report
                .brokers
                .iter()
                .map(|broker| {
                    (
                        format!(
                            "kind=\"{}\",server=\"{}\"",
                            escape_label(&broker.kind),
                            escape_label(&broker.server)
                        ),
                        Sample::Count(u64::from(broker.connected)),
                    )
                })
                .collect()
        }),
    },
    gauge(
        "scheduler_uptime_seconds",
        "Seconds since the API state was created.",
        |s| Sample::Count(s.report.uptime.as_secs()),
    ),
    PrometheusMetric {
        name: "scheduler_http_requests_total",
        kind: Kind::Counter,
        help: "API requests by method, route and status.",
        read: Read::Labelled(|s| {
            s.routes
                .iter()
                .flat_map(|route| {
                    route.statuses.iter().map(|(status, count)| {
                        (
                            format!("{},status=\"{status}\"", route_labels(route)),
                            Sample::Count(*count),
                        )
                    })
                })
                .collect()
        }),
    },
    PrometheusMetric {
        name: "scheduler_http_request_duration_seconds",
        kind: Kind::Histogram,
        help: "API request latency by method and route.",
        read: Read::Histogram(|s| {
            s.routes
                .iter()
                .map(|route| (route_labels(route), route.latency))
                .collect()
        }),
    },
    PrometheusMetric {
        name: "scheduler_store_read_duration_seconds",
        kind: Kind::Histogram,
        help: "Latency of the store reads the API makes, by operation.",
        read: Read::Histogram(|s| {
            s.store
                .iter()
                .map(|(operation, snapshot)| {
                    (
                        format!("operation=\"{}\"", escape_label(operation)),
                        *snapshot,
                    )
                })
                .collect()
        }),
    },
];

const fn counter(
    name: &'static str,
    help: &'static str,
    value: fn(&Sources<'_>) -> Sample,
) -> PrometheusMetric {
    PrometheusMetric {
        name,
        kind: Kind::Counter,
        help,
        read: Read::Value(value),
    }
}

const fn gauge(
    name: &'static str,
    help: &'static str,
    value: fn(&Sources<'_>) -> Sample,
) -> PrometheusMetric {
    PrometheusMetric {
        name,
        kind: Kind::Gauge,
        help,
        read: Read::Value(value),
    }
}

/// The `method` and `route` labels of a route's series.
fn route_labels(route: &RouteSnapshot) -> String {
    format!(
        "method=\"{}\",route=\"{}\"",
        escape_label(&route.method),
        escape_label(&route.route)
    )
}

/// A summary's samples: quantiles 0.5, 0.9 and 0.99, `_sum` and `_count`, one set per label set.
/// A histogram per label set: cumulative `_bucket` series at the fixed
/// [`DriftSnapshot::BOUNDS`] (the same on every node, so one query can add several nodes' buckets
/// and take a quantile of the sum), then `_sum` and `_count`.
fn histogram(out: &mut String, name: &str, series: &[(String, DriftSnapshot)]) {
    for (labels, snapshot) in series {
        let separator = if labels.is_empty() { "" } else { "," };
        let bounds = DriftSnapshot::BOUNDS
            .iter()
            .map(|bound| seconds(*bound).to_string());
        let counts = snapshot.at_or_below.iter().copied();
        for (bound, count) in bounds
            .zip(counts)
            .chain(std::iter::once(("+Inf".to_owned(), snapshot.count)))
        {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{separator}le=\"{bound}\"}} {count}"
            );
        }
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", seconds(snapshot.sum));
        let _ = writeln!(out, "{name}_count{braces} {}", snapshot.count);
    }
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report with a zero engine snapshot and four jobs, and API metrics with two routes
    /// (one with a label value that needs escaping) and one store operation.
    fn sample() -> (MetricsReport, ApiMetrics) {
        let report = MetricsReport {
            engine: scheduler_core::Metrics::default().snapshot(),
            active_jobs: 3,
            paused_jobs: 1,
            uptime: Duration::from_millis(42_500),
            started_at: "2026-01-01T00:00:00.000Z".to_owned(),
            node_id: "node-a".to_owned(),
            fenced: false,
            degraded: false,
            nodes: vec![
                scheduler_core::NodeStatus {
                    node_id: "node-a".to_owned(),
                    last_heartbeat: scheduler_core::Timestamp::from_second(1_767_225_600)
                        .expect("a timestamp"),
                    live: true,
                },
                scheduler_core::NodeStatus {
                    node_id: "node-b".to_owned(),
                    last_heartbeat: scheduler_core::Timestamp::from_second(1_767_225_500)
                        .expect("a timestamp"),
                    live: false,
                },
            ],
            brokers: vec![
                crate::BrokerConnection {
                    kind: "amqp".to_owned(),
                    server: "127.0.0.1:5672/%2f".to_owned(),
                    state: "disconnected".to_owned(),
                    connected: false,
                    last_error: Some("amqp: the connection to the broker was lost".to_owned()),
                },
                crate::BrokerConnection {
                    kind: "nats".to_owned(),
                    server: "127.0.0.1:4222".to_owned(),
                    state: "connected".to_owned(),
                    connected: true,
                    last_error: None,
                },
            ],
        };
        let api = ApiMetrics::default();
        api.record_request("POST", "/api/jobs", 201, Duration::from_micros(1_500));
        api.record_request("POST", "/api/jobs", 400, Duration::from_micros(250));
        api.record_request("GET", "/a\"b\\c", 404, Duration::from_micros(10));
        api.record_store("get_job", Duration::from_micros(2_000));
        (report, api)
    }

    #[test]
    fn the_exposition_matches_the_recorded_text() {
        let (report, api) = sample();
        let text = render_prometheus(&report, &api);
        assert_eq!(text, include_str!("../../tests/data/prometheus.txt"));
    }
}
