//! Jobs' own webhooks: one coalescing sink per URL, a bounded number of them, and the target
//! policy on every POST.

use std::time::Duration;

use alerts::{JobWebhookAlertSink, JobWebhookConfig, JobWebhookStats};
use executor::{SigningSecret, TargetPolicy};
use scheduler_core::{ExecutionId, JobAlert, JobAlertKind, JobAlertSink, JobId, Secret};
use serde_json::json;

use crate::support::{Webhook, gated_webhook, webhook};

const GRACE: Duration = Duration::from_secs(10);

fn config() -> JobWebhookConfig {
    let mut config = JobWebhookConfig::default();
    config.webhook.batch_window = Duration::from_millis(50);
    config.webhook.initial_backoff = Duration::from_millis(10);
    config.webhook.max_backoff = Duration::from_millis(20);
    config
}

fn url(webhook: &Webhook, path: &str) -> String {
    format!("http://{}/{path}", webhook.addr)
}

fn failing(webhook_url: &str, job_id: JobId, consecutive_failures: u32) -> JobAlert {
    JobAlert {
        kind: JobAlertKind::Failing,
        webhook_url: webhook_url.to_owned(),
        job_id,
        job_name: Some("nightly report".to_owned()),
        execution_id: ExecutionId::new_time_ordered(),
        scheduled_at: "2026-11-30T01:10:31Z".parse().unwrap(),
        attempts: 2,
        http_status: Some(503),
        error: Some("http status 503".to_owned()),
        consecutive_failures,
        signing_secrets: Vec::new(),
    }
}

/// Lets the sinks' tasks run until `condition` holds on the counters (ten seconds at most).
async fn until(sink: &JobWebhookAlertSink, condition: impl Fn(&JobWebhookStats) -> bool) {
    let wait = async {
        while !condition(&sink.stats()) {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("counters never got there: {:?}", sink.stats()));
}

#[tokio::test]
async fn alerts_to_one_url_are_coalesced_and_each_url_gets_its_own() {
    let mut first = webhook(|_| 200).await;
    let mut second = webhook(|_| 200).await;
    let sink = JobWebhookAlertSink::new(config());
    let job = JobId::new_random();
    for n in 1..=3 {
        sink.deliver_job_alert(failing(&url(&first, "a"), job, n))
            .await;
    }
    let recovered = JobAlert {
        kind: JobAlertKind::Recovered,
        job_name: None,
        http_status: Some(200),
        error: None,
        ..failing(&url(&second, "b"), job, 3)
    };
    sink.deliver_job_alert(recovered.clone()).await;

    let post = first.next_post().await;
    assert_eq!(post.json["version"], 1);
    assert_eq!(post.alerts().len(), 3, "one POST for the three alerts");
    let mut alert = post.alerts()[1].clone();
    alert["executionId"].take();
    alert["alertTime"].take();
    assert_eq!(
        alert,
        json!({
            "kind": "JOB_FAILING",
            "jobId": job.to_string(),
            "jobName": "nightly report",
            "executionId": null,
            "scheduledTime": "2026-11-30T01:10:31.000Z",
            "attempts": 2,
            "httpStatus": 503,
            "errorMessage": "http status 503",
            "consecutiveFailures": 2,
            "alertTime": null,
        })
    );
    let post = second.next_post().await;
    assert_eq!(post.alerts().len(), 1);
    let alert = &post.alerts()[0];
    assert_eq!(alert["kind"], "JOB_RECOVERED");
    assert_eq!(alert["executionId"], recovered.execution_id.to_string());
    assert_eq!(alert["errorMessage"], serde_json::Value::Null);
    assert!(alert.get("jobName").is_none());

    let stats = sink.shutdown(GRACE).await;
    assert_eq!(
        (
            stats.webhooks.delivered_alerts,
            stats.webhooks.delivered_batches
        ),
        (4, 2)
    );
    assert!(!first.has_more_posts() && !second.has_more_posts());
}

#[tokio::test]
async fn a_jobs_alerts_are_signed_with_its_own_secrets_else_the_servers() {
    let mut webhook = webhook(|_| 200).await;
    let mut config = config();
    config.webhook.signing_secrets = vec![SigningSecret::new("server")];
    let sink = JobWebhookAlertSink::new(config);
    let to = url(&webhook, "hook");

    let server_signed = failing(&to, JobId::new_random(), 1);
    sink.deliver_job_alert(server_signed.clone()).await;
    let post = webhook.next_post().await;
    assert_eq!(
        post.signed_by(&["server", "job-new", "job-old"]),
        ["server"]
    );

    // Same URL, other secrets: a destination of its own, so no batch mixes the two.
    let job_signed = JobAlert {
        signing_secrets: vec![Secret::new("job-new"), Secret::new("job-old")],
        ..failing(&to, JobId::new_random(), 1)
    };
    sink.deliver_job_alert(job_signed.clone()).await;
    let post = webhook.next_post().await;
    assert_eq!(
        post.signed_by(&["server", "job-new", "job-old"]),
        ["job-new", "job-old"]
    );
    assert_eq!(
        post.alerts()[0]["jobId"],
        job_signed.job_id.to_string(),
        "{:?}",
        post.json
    );
    assert_eq!(sink.stats().destinations, 2);
    sink.shutdown(GRACE).await;
}

#[tokio::test]
async fn destinations_are_bounded_and_an_idle_one_makes_room() {
    let mut busy = gated_webhook().await;
    let mut other = webhook(|_| 200).await;
    let mut config = config();
    config.max_destinations = 1;
    config.webhook.batch_window = Duration::ZERO;
    let sink = JobWebhookAlertSink::new(config);
    let job = JobId::new_random();

    assert!(sink.enqueue(failing(&url(&busy, "hook"), job, 1)));
    // The only destination's POST hangs: a second URL finds no room.
    busy.next_post().await;
    assert!(!sink.enqueue(failing(&url(&other, "hook"), job, 1)));
    assert_eq!(sink.stats().dropped_no_room, 1);
    assert_eq!(sink.stats().destinations, 1);

    // Once it is delivered, the idle destination gives its place to the new URL.
    busy.gate.add_permits(10);
    until(&sink, |stats| stats.webhooks.delivered_alerts == 1).await;
    assert!(sink.enqueue(failing(&url(&other, "hook"), job, 1)));
    assert_eq!(other.next_post().await.alerts().len(), 1);
    let stats = sink.shutdown(GRACE).await;
    assert_eq!(
        (
            stats.retired_destinations,
            stats.dropped_no_room,
            stats.webhooks.delivered_alerts
        ),
        (1, 1, 2)
    );
}

#[tokio::test]
async fn each_destination_queue_is_bounded() {
    let mut busy = gated_webhook().await;
    let mut config = config();
    config.webhook.queue_capacity = 3;
    config.webhook.max_batch_size = 1;
    let sink = JobWebhookAlertSink::new(config);
    let job = JobId::new_random();
    let hook = url(&busy, "hook");
    assert!(sink.enqueue(failing(&hook, job, 1)));
    busy.next_post().await;
    let queued = (0..10)
        .filter(|_| sink.enqueue(failing(&hook, job, 1)))
        .count();
    assert_eq!(queued, 3);
    assert_eq!(sink.stats().webhooks.dropped_alerts, 7);
    busy.gate.add_permits(100);
    let stats = sink.shutdown(GRACE).await;
    assert_eq!(stats.webhooks.delivered_alerts, 4);
}

#[tokio::test]
async fn the_target_policy_applies_to_every_post() {
    let mut refused = webhook(|_| 200).await;
    let mut config = config();
    config.webhook.max_attempts = 1;
    config.webhook.target_policy = Some(TargetPolicy {
        deny_private: true,
        ..TargetPolicy::default()
    });
    let sink = JobWebhookAlertSink::new(config);
    assert!(sink.enqueue(failing(&url(&refused, "hook"), JobId::new_random(), 1)));
    until(&sink, |stats| stats.webhooks.abandoned_alerts == 1).await;
    assert!(!refused.has_more_posts(), "a loopback webhook is refused");
    let stats = sink.shutdown(GRACE).await;
    assert_eq!(stats.webhooks.delivered_alerts, 0);
}
