//! Message-queue targets through the API: validation, the URL's password write-only, and the
//! broker connections in `/api/health` and the metrics.

use std::sync::Arc;

use actix_web::http::StatusCode;
use http_api::{BrokerConnection, BrokerConnections};
use scheduler_core::JobId;
use serde_json::json;

use crate::support::{Harness, app, create, get, job_body, post_json, put_json};

const AMQP: &str = "amqp://guest:pa55word@127.0.0.1:5672/%2f?exchange=jobs&routingKey=nightly";

async fn stored_url(harness: &Harness, id: &str) -> String {
    let id = JobId(id.parse().expect("a job id"));
    let job = harness
        .engine
        .get_job(id)
        .await
        .expect("read")
        .expect("the job");
    job.spec.target_url
}

#[actix_web::test]
async fn queue_urls_are_validated_at_creation() {
    let harness = Harness::start().await;
    let app = app!(harness);
    for url in ["nats://127.0.0.1:4222/jobs.nightly", AMQP] {
        let mut body = job_body("0 0 * * * *");
        body["api"] = json!(url);
        let reply = post_json(&app, "/api/jobs", &body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{url}: {}", reply.body);
    }
    for (url, reason) in [
        ("nats://127.0.0.1:4222", "subject"),
        ("nats://127.0.0.1:4222/a.*", "wildcard"),
        ("amqp://127.0.0.1/%2f", "exchange or a routing key"),
        (
            "amqp://127.0.0.1/?exchange=x&queue=y",
            "unknown query parameter",
        ),
        ("amqp://127.0.0.1:0/?exchange=x", "port"),
    ] {
        let mut body = job_body("0 0 * * * *");
        body["api"] = json!(url);
        let reply = post_json(&app, "/api/jobs", &body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{url}: {}",
            reply.body
        );
        assert_eq!(reply.error_field(), Some("api"), "{}", reply.body);
        assert!(
            reply.error_message().contains(reason),
            "{url}: {}",
            reply.body
        );
    }
}

#[actix_web::test]
async fn the_password_of_a_queue_url_is_write_only_and_kept_when_sent_back() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let mut body = job_body("0 0 * * * *");
    body["api"] = json!(AMQP);
    let created = create(&app, body.clone()).await;
    let shown = "amqp://guest:***@127.0.0.1:5672/%2f?exchange=jobs&routingKey=nightly";
    assert_eq!(created["api"], shown);
    let id = created["jobId"].as_str().expect("a job id").to_owned();
    let uri = format!("/api/jobs/{id}");
    let read = get(&app, &uri).await;
    let listed = get(&app, "/api/jobs").await;
    for answer in [&created, &read.body, &listed.body] {
        assert!(!answer.to_string().contains("pa55word"), "{answer}");
    }
    assert_eq!(stored_url(&harness, &id).await, AMQP);

    // Sent back as read, with another routing key: the stored password stays.
    let mut changed = read.body.clone();
    changed["api"] = json!(shown.replace("nightly", "hourly"));
    let reply = put_json(&app, &uri, &changed).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        stored_url(&harness, &id).await,
        AMQP.replace("nightly", "hourly")
    );

    // A new password replaces it.
    changed["version"] = reply.body["version"].clone();
    changed["api"] = json!(AMQP.replace("pa55word", "n3w"));
    let reply = put_json(&app, &uri, &changed).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(stored_url(&harness, &id).await.contains(":n3w@"));

    // A new job has no stored password for `***` to stand for.
    body["api"] = json!(shown);
    let reply = post_json(&app, "/api/jobs", &body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.error_field(), Some("api"));
}

#[derive(Debug)]
struct TwoBrokers;

impl BrokerConnections for TwoBrokers {
    fn connections(&self) -> Vec<BrokerConnection> {
        vec![
            BrokerConnection {
                kind: "nats".to_owned(),
                server: "127.0.0.1:4222".to_owned(),
                state: "connected".to_owned(),
                connected: true,
                last_error: None,
            },
            BrokerConnection {
                kind: "amqp".to_owned(),
                server: "127.0.0.1:5672/%2f".to_owned(),
                state: "disconnected".to_owned(),
                connected: false,
                last_error: Some("amqp: the connection to the broker was lost".to_owned()),
            },
        ]
    }
}

#[actix_web::test]
async fn broker_connections_show_in_health_and_metrics_without_deciding_readiness() {
    let mut harness = Harness::start().await;
    harness.config.brokers = Some(Arc::new(TwoBrokers));
    let app = app!(harness);

    let health = get(&app, "/api/health").await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.body);
    let brokers = &health.body["checks"]["brokers"];
    assert_eq!(brokers[0]["kind"], "nats");
    assert_eq!(brokers[0]["ok"], true);
    assert_eq!(brokers[1]["ok"], false);
    assert_eq!(brokers[1]["state"], "disconnected");
    assert_eq!(
        brokers[1]["error"],
        "amqp: the connection to the broker was lost"
    );

    let metrics = get(&app, "/api/metrics").await;
    assert_eq!(metrics.body["brokers"][1]["server"], "127.0.0.1:5672/%2f");
    assert_eq!(metrics.body["brokers"][1]["connected"], false);
    let text = get(&app, "/metrics").await;
    let text = text.body.as_str().expect("text").to_owned();
    assert!(
        text.contains("scheduler_broker_connected{kind=\"nats\",server=\"127.0.0.1:4222\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("scheduler_broker_connected{kind=\"amqp\",server=\"127.0.0.1:5672/%2f\"} 0"),
        "{text}"
    );
}
