//! A full queue drops alerts, counts them and logs the count, rate-limited; it never grows.

use std::time::Duration;

use alerts::WebhookAlertSink;
use scheduler_core::AlertSink;

use crate::support::{failure, gated_webhook, install_logger, logged};

#[tokio::test]
async fn a_full_queue_drops_counts_and_logs() {
    install_logger();
    let mut webhook = gated_webhook().await;
    let mut config = webhook.config();
    config.queue_capacity = 4;
    config.max_batch_size = 1;
    config.drop_log_interval = Duration::from_secs(3600);
    let (sink, worker) = WebhookAlertSink::start(config).unwrap();

    // The delivery task takes the first alert and waits on the webhook, which does not answer
    // until the gate opens: from now on, nothing leaves the queue.
    sink.deliver(failure("in flight")).await;
    assert_eq!(webhook.next_post().await.alerts().len(), 1);

    let mut queued = 0;
    for index in 0..14 {
        if sink.enqueue(failure(&format!("burst {index}"))) {
            queued += 1;
        }
    }
    // Through the trait too: it returns at once although the webhook is stuck.
    sink.deliver(failure("one more")).await;
    assert_eq!(queued, 4);
    assert_eq!(worker.stats().dropped_alerts, 11);

    webhook.gate.add_permits(100);
    let stats = worker.shutdown(Duration::from_secs(10)).await;
    assert_eq!((stats.delivered_alerts, stats.dropped_alerts), (5, 11));
    let mut posts = Vec::new();
    for _ in 0..4 {
        posts.push(webhook.next_post().await);
    }
    assert!(!webhook.has_more_posts());
    let errors: Vec<_> = posts
        .iter()
        .map(|p| p.alerts()[0]["errorMessage"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(errors, ["burst 0", "burst 1", "burst 2", "burst 3"]);
    assert_eq!(
        posts[0].json["droppedAlerts"], 11,
        "the next batch says how many were dropped"
    );

    // The drops were logged, not eleven times but at most once per interval plus once at the
    // end, and the reports add up to the count.
    let reports = logged(&format!(
        "webhook alerts to http://{}: queue full",
        webhook.addr
    ));
    assert!(!reports.is_empty() && reports.len() <= 2, "{reports:?}");
    let reported: u64 = reports
        .iter()
        .map(|line| {
            let count = line
                .split("dropped ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            count.parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(reported, 11, "{reports:?}");
}
