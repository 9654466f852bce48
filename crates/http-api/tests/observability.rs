//! `/api/metrics`, `/metrics` (Prometheus text) and `/api/health`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use http_api::{ApiState, HealthProbe};
use scheduler_core::BoxFuture;
use serde_json::json;

use crate::support::{Harness, app, create, eventually, get, job_body, post, within};

#[actix_web::test]
async fn metrics_json_has_engine_jobs_api_and_store_figures() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let job = create(&app, job_body("0 0 * * * *")).await;
    let mut paused = job_body("0 0 * * * *");
    paused["paused"] = json!(true);
    create(&app, paused).await;
    let id = job["jobId"].as_str().unwrap();
    post(&app, &format!("/api/jobs/{id}/trigger")).await;
    within("the trigger is sent", harness.transport.wait_for_sent(1)).await;
    harness.finished_executions(1).await;
    eventually("the execution released", || {
        harness.engine.metrics().backlog == 0
    })
    .await;
    get(&app, "/api/nothing-here").await;
    get(&app, &format!("/api/jobs/{id}")).await;

    let reply = get(&app, "/api/metrics").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let metrics = &reply.body;
    assert_eq!(metrics["engine"]["fired"], 1);
    assert_eq!(metrics["engine"]["succeeded"], 1);
    assert_eq!(metrics["engine"]["inFlight"], 0);
    assert_eq!(metrics["engine"]["waiting"], 0);
    assert_eq!(metrics["engine"]["waitingOnHost"], 0);
    assert_eq!(metrics["engine"]["backlog"], 0);
    assert_eq!(metrics["engine"]["claimsDeferred"], 0);
    assert_eq!(metrics["drift"]["count"], 1);
    for key in ["p50Ms", "p90Ms", "p99Ms", "maxMs", "meanMs"] {
        assert!(metrics["drift"][key].is_number(), "{key}");
    }
    assert_eq!(
        metrics["jobs"],
        json!({"active": 1, "paused": 1, "total": 2})
    );

    let routes = metrics["api"]["routes"].as_array().unwrap();
    let count = |method: &str, route: &str, status: &str| {
        routes
            .iter()
            .find(|r| r["method"] == method && r["route"] == route)
            .and_then(|r| r["statuses"][status].as_u64())
            .unwrap_or(0)
    };
    assert_eq!(count("POST", "/api/jobs", "201"), 2);
    assert_eq!(count("POST", "/api/jobs/{jobId}/trigger", "202"), 1);
    assert_eq!(count("GET", "/api/jobs/{jobId}", "200"), 1);
    assert_eq!(count("GET", "unmatched", "404"), 1);
    // Five requests before this one.
    assert_eq!(metrics["api"]["requests"], 5);
    let operations: BTreeSet<&str> = metrics["store"]["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["operation"].as_str().unwrap())
        .collect();
    assert!(operations.contains("get_job"), "{operations:?}");
    assert!(operations.contains("count_jobs"), "{operations:?}");
}

/// Checks the Prometheus text format 0.0.4 and returns the samples by series.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut help = BTreeSet::new();
    let mut types = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').expect("HELP name text");
            assert!(!text.is_empty(), "{line}");
            assert!(help.insert(name.to_owned()), "duplicate HELP: {line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(help.contains(name), "TYPE before HELP: {line}");
            types.insert(name.to_owned(), kind.to_owned());
        } else {
            assert!(
                !line.starts_with('#') && !line.is_empty(),
                "unexpected line {line:?}"
            );
            let (series, value) = line.rsplit_once(' ').expect("series value");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
            let name = match series.split_once('{') {
                Some((name, labels)) => {
                    let labels = labels
                        .strip_suffix('}')
                        .unwrap_or_else(|| panic!("labels of {line}"));
                    for pair in split_labels(labels) {
                        let (key, quoted) = pair
                            .split_once('=')
                            .unwrap_or_else(|| panic!("label {pair} in {line}"));
                        assert!(valid_name(key), "label name {key} in {line}");
                        assert!(
                            quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'),
                            "{line}"
                        );
                    }
                    name
                }
                None => series,
            };
            assert!(valid_name(name), "metric name {name}");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    name.strip_suffix(suffix)
                        .filter(|base| types.get(*base).is_some_and(|k| k == "histogram"))
                })
                .unwrap_or(name);
            assert!(types.contains_key(family), "no TYPE for {name}");
            assert!(
                samples.insert(series.to_owned(), value).is_none(),
                "duplicate series {series}"
            );
        }
    }
    samples
}

fn split_labels(labels: &str) -> Vec<&str> {
    // Label values here contain no commas or escaped quotes except in route patterns, which
    // contain neither; split on commas outside quotes.
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in labels.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&labels[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&labels[start..]);
    parts
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[actix_web::test]
async fn prometheus_output_parses_and_matches_the_json() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let job = create(&app, job_body("0 0 * * * *")).await;
    post(
        &app,
        &format!("/api/jobs/{}/trigger", job["jobId"].as_str().unwrap()),
    )
    .await;
    within("the trigger is sent", harness.transport.wait_for_sent(1)).await;
    harness.finished_executions(1).await;
    eventually("the execution released", || {
        harness.engine.metrics().backlog == 0
    })
    .await;

    let reply = get(&app, "/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = reply.body.as_str().expect("text");
    let samples = parse_prometheus(text);
    assert_eq!(samples["scheduler_executions_fired_total"], 1.0);
    assert_eq!(samples["scheduler_executions_succeeded_total"], 1.0);
    assert_eq!(samples["scheduler_in_flight"], 0.0);
    assert_eq!(samples["scheduler_waiting"], 0.0);
    assert_eq!(samples["scheduler_waiting_on_host"], 0.0);
    assert_eq!(samples["scheduler_backlog"], 0.0);
    assert_eq!(samples["scheduler_claims_deferred_total"], 0.0);
    assert_eq!(samples["scheduler_jobs{state=\"active\"}"], 1.0);
    assert_eq!(samples["scheduler_jobs{state=\"paused\"}"], 0.0);
    assert_eq!(samples["scheduler_drift_seconds_count"], 1.0);
    // Drift and latencies are histograms with the same fixed buckets on every node, so that
    // one query can add several nodes' buckets.
    assert_eq!(samples["scheduler_drift_seconds_bucket{le=\"+Inf\"}"], 1.0);
    assert_eq!(samples["scheduler_drift_seconds_bucket{le=\"60\"}"], 1.0);
    assert!(samples.contains_key("scheduler_drift_seconds_bucket{le=\"0.001\"}"));
    assert!(samples.contains_key("scheduler_drift_seconds_sum"));
    assert!(samples.contains_key("scheduler_claim_duration_seconds_count"));
    assert_eq!(
        samples["scheduler_http_requests_total{method=\"POST\",route=\"/api/jobs\",status=\"201\"}"],
        1.0
    );
    assert!(samples.contains_key(
        "scheduler_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/jobs/{jobId}/trigger\",le=\"0.25\"}"
    ));
}

#[actix_web::test]
async fn health_is_ready_with_a_live_engine_and_store() {
    let harness = Harness::start().await;
    let app = app!(harness);
    // The engine's first heartbeat is written as it starts.
    within("the first heartbeat", async {
        while harness.engine.nodes().await.expect("nodes").is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let reply = get(&app, "/api/health").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "ok");
    assert_eq!(reply.body["live"], true);
    assert_eq!(reply.body["ready"], true);
    assert_eq!(reply.body["checks"]["store"]["ok"], true);
    assert_eq!(reply.body["checks"]["engine"]["ok"], true);
    assert_eq!(
        reply.body["checks"]["engine"]["error"],
        serde_json::Value::Null
    );
    let node_id = harness.engine.node_id();
    assert_eq!(reply.body["nodeId"], node_id);
    assert_eq!(reply.body["nodes"][0]["nodeId"], node_id, "{}", reply.body);
    assert_eq!(reply.body["nodes"][0]["live"], true);
    assert!(
        harness.stored().await.0.is_empty(),
        "the checks change nothing"
    );
}

#[actix_web::test]
async fn health_is_503_when_the_engine_has_stopped() {
    let harness = Harness::start().await;
    let app = app!(harness);
    harness.engine.shutdown(Duration::ZERO).await;
    let reply = get(&app, "/api/health").await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    // A stopped engine fires nothing: restarting the process is what helps.
    assert_eq!(reply.body["live"], false);
    assert_eq!(reply.body["ready"], false);
    assert_eq!(reply.body["status"], "unavailable");
    assert_eq!(reply.body["checks"]["engine"]["ok"], false);
    assert!(reply.body["checks"]["engine"]["error"].is_string());
    assert_eq!(reply.body["checks"]["store"]["ok"], true);
}

struct UnreachableStore;

impl HealthProbe for UnreachableStore {
    fn check_store(&self) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Err("connection refused".to_owned()) })
    }

    fn check_engine(&self) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

#[actix_web::test]
async fn health_is_503_when_the_store_is_unreachable() {
    let mut harness = Harness::start().await;
    harness.state = ApiState::new(harness.engine.clone(), Arc::new(UnreachableStore));
    let app = app!(harness);
    let reply = get(&app, "/api/health").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["status"], "unavailable");
    assert_eq!(reply.body["checks"]["store"]["error"], "connection refused");
    // The engine runs on: live, so a supervisor leaves the process be.
    assert_eq!(reply.body["live"], true);
    assert_eq!(reply.body["ready"], false);
}
