//! Alerts arrive as JSON, are retried when the webhook fails, and bursts are coalesced.

use std::time::Duration;

use alerts::{WebhookAlertSink, WebhookStats};
use executor::SigningSecret;
use scheduler_core::{Alert, AlertSink, ExecutionId, JobId};
use serde_json::json;

use crate::support::{failure, install_logger, logged, webhook};

const GRACE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn an_alert_arrives_as_json_after_the_window() {
    let mut webhook = webhook(|_| 200).await;
    let mut config = webhook.config();
    config.batch_window = Duration::from_millis(20);
    config.headers = vec![("Authorization".to_owned(), "Bearer hook-token".to_owned())];
    let (sink, worker) = WebhookAlertSink::start(config).unwrap();

    let job_id = JobId::new_random();
    let execution_id = ExecutionId::new_time_ordered();
    sink.deliver(Alert::FinalFailure {
        job_id,
        execution_id,
        scheduled_at: "2026-11-30T01:10:31.5Z".parse().unwrap(),
        attempts: 3,
        http_status: Some(503),
        error: "status 503".to_owned(),
    })
    .await;

    // The window closes the batch: no shutdown, no more alerts.
    let post = webhook.next_post().await;
    assert!(
        post.headers.get("x-scheduler-signature").is_none(),
        "no secret, no signature"
    );
    assert_eq!(post.headers["content-type"], "application/json");
    assert_eq!(post.headers["authorization"], "Bearer hook-token");
    assert!(
        post.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("scheduler/")
    );
    assert_eq!(post.json["version"], 1);
    assert_eq!(post.json["source"], "scheduler");
    assert_eq!(post.json["droppedAlerts"], 0);
    let mut alert = post.alerts()[0].clone();
    let alert_time = alert["alertTime"].take();
    assert!(alert_time.as_str().unwrap().ends_with('Z'), "{alert_time}");
    assert_eq!(
        alert,
        json!({
            "kind": "FINAL_FAILURE",
            "jobId": job_id.to_string(),
            "executionId": execution_id.to_string(),
            "scheduledTime": "2026-11-30T01:10:31.500Z",
            "attempts": 3,
            "httpStatus": 503,
            "errorMessage": "status 503",
            "alertTime": null,
        })
    );

    sink.deliver(Alert::Recovered {
        job_id,
        execution_id,
    })
    .await;
    let post = webhook.next_post().await;
    assert_eq!(post.alerts()[0]["kind"], "RECOVERED");
    assert_eq!(post.alerts()[0]["scheduledTime"], serde_json::Value::Null);

    let stats = worker.shutdown(GRACE).await;
    assert_eq!(
        stats,
        WebhookStats {
            delivered_alerts: 2,
            delivered_batches: 2,
            ..WebhookStats::default()
        }
    );
}

#[tokio::test]
async fn a_failed_post_is_retried_with_the_same_body() {
    install_logger();
    let mut webhook = webhook(|n| if n == 0 { 503 } else { 200 }).await;
    let mut config = webhook.config();
    config.batch_window = Duration::from_millis(1);
    let (sink, worker) = WebhookAlertSink::start(config).unwrap();
    sink.deliver(failure("first")).await;

    let first = webhook.next_post().await;
    let second = webhook.next_post().await;
    assert_eq!(first.json, second.json, "a retry sends the same batch");
    assert_eq!(first.alerts()[0]["errorMessage"], "first");

    let stats = worker.shutdown(GRACE).await;
    assert_eq!(
        stats,
        WebhookStats {
            delivered_alerts: 1,
            delivered_batches: 1,
            failed_posts: 1,
            ..WebhookStats::default()
        }
    );
    assert!(!webhook.has_more_posts());
    let target = format!("http://{}", webhook.addr);
    let retries = logged(&format!("webhook alerts to {target}: POST 1 of 5"));
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert!(
        !retries[0].contains("secret"),
        "the log hides the URL's query: {retries:?}"
    );
}

#[tokio::test]
async fn every_post_is_signed_with_each_secret_and_a_receiver_can_verify_it() {
    let mut webhook = webhook(|n| if n == 0 { 503 } else { 200 }).await;
    let mut config = webhook.config();
    config.batch_window = Duration::from_millis(1);
    config.signing_secrets = vec![SigningSecret::new("new"), SigningSecret::new("old")];
    let (sink, worker) = WebhookAlertSink::start(config).unwrap();
    sink.deliver(failure("signed")).await;

    // The first POST and its retry: each signed with both secrets, the current one first.
    for _ in 0..2 {
        let post = webhook.next_post().await;
        assert_eq!(post.signed_by(&["new", "old", "other"]), ["new", "old"]);
        let value = post.headers["x-scheduler-signature"].to_str().unwrap();
        assert_eq!(value.matches(",v1=").count(), 2, "{value}");
    }
    let stats = worker.shutdown(GRACE).await;
    assert_eq!(stats.delivered_alerts, 1);
}

#[tokio::test]
async fn a_rejected_batch_is_not_retried_and_a_failing_one_is_given_up() {
    let mut rejecting = webhook(|_| 400).await;
    let mut config = rejecting.config();
    config.batch_window = Duration::from_millis(1);
    let (sink, worker) = WebhookAlertSink::start(config).unwrap();
    sink.deliver(failure("bad")).await;
    rejecting.next_post().await;
    let stats = worker.shutdown(GRACE).await;
    assert_eq!(
        (
            stats.failed_posts,
            stats.abandoned_alerts,
            stats.delivered_alerts
        ),
        (1, 1, 0)
    );
    assert!(!rejecting.has_more_posts(), "a 400 is not retried");

    let mut failing = webhook(|_| 500).await;
    let mut config = failing.config();
    config.max_attempts = 3;
    config.batch_window = Duration::from_millis(1);
    let (sink, worker) = WebhookAlertSink::start(config).unwrap();
    sink.deliver(failure("down")).await;
    for _ in 0..3 {
        failing.next_post().await;
    }
    let stats = worker.shutdown(GRACE).await;
    assert_eq!(
        (
            stats.failed_posts,
            stats.abandoned_alerts,
            stats.delivered_alerts
        ),
        (3, 1, 0)
    );
    assert!(!failing.has_more_posts(), "three attempts in all");
}

#[tokio::test]
async fn a_burst_of_a_thousand_alerts_is_ten_posts() {
    let mut webhook = webhook(|_| 200).await;
    let mut config = webhook.config();
    // A window far longer than the test: batches close because they are full, and the last
    // one because of the shutdown.
    config.batch_window = Duration::from_secs(3600);
    config.max_batch_size = 100;
    let (sink, worker) = WebhookAlertSink::start(config).unwrap();
    // No await in between: on this single-threaded runtime the delivery task cannot run until
    // the whole burst is queued.
    for index in 0..1000 {
        assert!(sink.enqueue(failure(&format!("alert {index}"))));
    }
    let mut received = Vec::new();
    for _ in 0..9 {
        let post = webhook.next_post().await;
        assert_eq!(post.alerts().len(), 100);
        received.extend(
            post.alerts()
                .iter()
                .map(|a| a["errorMessage"].as_str().unwrap().to_owned()),
        );
    }
    let stats = worker.shutdown(GRACE).await;
    let last = webhook.next_post().await;
    assert_eq!(last.alerts().len(), 100);
    received.extend(
        last.alerts()
            .iter()
            .map(|a| a["errorMessage"].as_str().unwrap().to_owned()),
    );
    assert!(!webhook.has_more_posts());
    let expected: Vec<String> = (0..1000).map(|index| format!("alert {index}")).collect();
    assert_eq!(received, expected, "every alert, once, in order");
    assert_eq!(
        (stats.delivered_batches, stats.delivered_alerts),
        (10, 1000)
    );
}

#[tokio::test]
async fn alerts_that_come_while_a_batch_is_open_join_it() {
    let mut webhook = webhook(|_| 200).await;
    let mut config = webhook.config();
    config.batch_window = Duration::from_secs(3600);
    config.max_batch_size = 3;
    let (sink, worker) = WebhookAlertSink::start(config).unwrap();
    sink.deliver(failure("a")).await;
    tokio::task::yield_now().await;
    sink.deliver(failure("b")).await;
    tokio::task::yield_now().await;
    sink.deliver(failure("c")).await;
    let post = webhook.next_post().await;
    let errors: Vec<_> = post
        .alerts()
        .iter()
        .map(|a| a["errorMessage"].as_str().unwrap())
        .collect();
    assert_eq!(errors, ["a", "b", "c"]);
    assert_eq!(worker.shutdown(GRACE).await.delivered_batches, 1);
}

#[tokio::test]
async fn dropping_the_sink_delivers_what_is_queued_and_ends_the_task() {
    let mut webhook = webhook(|_| 200).await;
    let mut config = webhook.config();
    config.batch_window = Duration::from_secs(3600);
    let (sink, worker) = WebhookAlertSink::start(config).unwrap();
    sink.deliver(failure("last words")).await;
    drop(sink);
    let stats = worker.finished().await;
    assert_eq!(stats.delivered_alerts, 1);
    assert_eq!(
        webhook.next_post().await.alerts()[0]["errorMessage"],
        "last words"
    );
}
