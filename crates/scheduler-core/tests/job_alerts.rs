//! Jobs' own alerts: raised after N consecutive failed executions, once per streak, a
//! recovery after an alerted streak, and the count kept across restarts (it is read from the
//! store, not kept in memory).

use std::time::Duration;

use scheduler_core::testing::FakeReply;
use scheduler_core::{DeliveryType, Job, JobAlertKind, JobAlertSettings, JobSpec};

use crate::support::{Harness, at, at_millis, spec};

const TARGET: &str = "http://target.test/alerted";
const HOOK: &str = "http://hooks.test/job";

/// A job firing every minute, one attempt per execution, with its own alert.
fn alerted_spec(after_failures: u32, on_recovery: bool) -> JobSpec {
    let mut spec = spec("0 * * * * *", TARGET, DeliveryType::AtLeastOnce);
    spec.retry.max_attempts = 1;
    spec.name = Some("nightly report".to_owned());
    spec.alert = Some(JobAlertSettings {
        webhook_url: HOOK.to_owned(),
        after_failures,
        on_recovery,
    });
    spec
}

/// Fires the job's tick number `tick` (minute `tick`) with `reply`, and waits until the
/// execution is finished and its alert checked (`checks` checks in all so far).
async fn fire(harness: &Harness, tick: i64, reply: u16, checks: u64) {
    harness
        .transport
        .script(TARGET, vec![FakeReply::Status(reply)]);
    harness
        .advance_to_and_expect_sent(at(60 * tick), tick as usize)
        .await;
    harness
        .metrics_until(&format!("{checks} job alert checks"), |m| {
            m.job_alert_checks == checks
        })
        .await;
}

/// The job alerts so far, as (kind, tick of the execution, consecutive failures).
fn alerts(harness: &Harness) -> Vec<(JobAlertKind, i64, u32)> {
    harness
        .alerts
        .job_alerts()
        .into_iter()
        .map(|alert| {
            let tick = (alert.scheduled_at.as_second() - at(0).as_second()) / 60;
            (alert.kind, tick, alert.consecutive_failures)
        })
        .collect()
}

#[tokio::test]
async fn a_streak_alerts_once_when_it_reaches_the_threshold_and_recovers_once() {
    use JobAlertKind::{Failing, Recovered};
    let harness = Harness::start().await;
    let job: Job = harness.create(alerted_spec(3, true)).await;

    fire(&harness, 1, 503, 1).await;
    fire(&harness, 2, 503, 2).await;
    assert_eq!(alerts(&harness), [], "two failures: below the threshold");
    fire(&harness, 3, 503, 3).await;
    assert_eq!(alerts(&harness), [(Failing, 3, 3)]);
    fire(&harness, 4, 503, 4).await;
    fire(&harness, 5, 503, 5).await;
    assert_eq!(alerts(&harness), [(Failing, 3, 3)], "once per streak");

    fire(&harness, 6, 200, 6).await;
    assert_eq!(alerts(&harness), [(Failing, 3, 3), (Recovered, 6, 3)]);
    fire(&harness, 7, 200, 7).await;
    assert_eq!(alerts(&harness).len(), 2, "one recovery per streak");

    // A short streak neither alerts nor recovers; a new long one alerts again.
    fire(&harness, 8, 503, 8).await;
    fire(&harness, 9, 503, 9).await;
    fire(&harness, 10, 200, 10).await;
    fire(&harness, 11, 503, 11).await;
    fire(&harness, 12, 503, 12).await;
    fire(&harness, 13, 503, 13).await;
    assert_eq!(
        alerts(&harness),
        [(Failing, 3, 3), (Recovered, 6, 3), (Failing, 13, 3)]
    );

    let first = &harness.alerts.job_alerts()[0];
    let executions = harness.executions_of(&job);
    assert_eq!(first.job_id, job.id);
    assert_eq!(first.execution_id, executions[2].id);
    assert_eq!(first.webhook_url, HOOK);
    assert_eq!(first.job_name.as_deref(), Some("nightly report"));
    assert_eq!((first.attempts, first.http_status), (1, Some(503)));
    assert!(first.error.as_deref().is_some_and(|e| e.contains("503")));
    let recovery = &harness.alerts.job_alerts()[1];
    assert_eq!(recovery.execution_id, executions[5].id);
    assert_eq!(
        (recovery.http_status, recovery.error.as_deref()),
        (Some(200), None)
    );
    let metrics = harness.engine.metrics();
    assert_eq!(
        (metrics.job_alerts, metrics.job_alert_checks_failed),
        (3, 0)
    );
    harness.engine.shutdown(Duration::ZERO).await;
}

/// A manual execution's tick is whole milliseconds, as every store keeps instants; a finer
/// one would find the execution itself among the executions before it in such a store, and
/// its own failure would count in its streak.
#[tokio::test]
async fn a_triggered_failure_alerts_and_its_tick_is_whole_milliseconds() {
    let harness = Harness::start().await;
    let job = harness.create(alerted_spec(1, false)).await;
    let between_milliseconds =
        cron_expr::Timestamp::from_nanosecond(at(30).as_nanosecond() + 5_123_456).unwrap();
    harness.clock.advance_to(between_milliseconds);
    harness
        .transport
        .script(TARGET, vec![FakeReply::Status(503)]);
    let execution = harness.engine.trigger_now(job.id).await.expect("trigger");
    harness
        .metrics_until("1 job alert check", |m| m.job_alert_checks == 1)
        .await;
    let executions = harness.executions_of(&job);
    assert_eq!(executions[0].id, execution);
    assert_eq!(executions[0].scheduled_at, at_millis(30_005));
    assert_eq!(alerts(&harness).len(), 1);
    harness.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn the_default_alerts_on_each_first_failure_and_never_on_success() {
    let harness = Harness::start().await;
    let mut spec = alerted_spec(1, false);
    spec.alert = Some(JobAlertSettings::new(HOOK));
    harness.create(spec).await;
    fire(&harness, 1, 503, 1).await;
    fire(&harness, 2, 503, 2).await;
    // Successes are not checked without a recovery alert.
    fire(&harness, 3, 200, 2).await;
    fire(&harness, 4, 503, 3).await;
    assert_eq!(
        alerts(&harness),
        [(JobAlertKind::Failing, 1, 1), (JobAlertKind::Failing, 4, 1)]
    );
    // The server-wide sink still hears of every final failure.
    assert_eq!(harness.alerts.alerts().len(), 3 + 1);
    harness.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn jobs_without_an_alert_are_not_checked() {
    let harness = Harness::start().await;
    let mut plain = alerted_spec(1, true);
    plain.alert = None;
    harness.create(plain).await;
    harness
        .transport
        .script(TARGET, vec![FakeReply::Status(503)]);
    harness.advance_to_and_expect_sent(at(60), 1).await;
    harness
        .metrics_until("the failure", |m| m.failed == 1)
        .await;
    harness.alerts.wait_for(1).await;
    harness.engine.shutdown(Duration::ZERO).await;
    let metrics = harness.engine.metrics();
    assert_eq!((metrics.job_alert_checks, metrics.job_alerts), (0, 0));
    assert!(harness.alerts.job_alerts().is_empty());
}

#[tokio::test]
async fn the_streak_is_counted_across_a_restart() {
    let mut harness = Harness::start().await;
    harness.create(alerted_spec(3, true)).await;
    fire(&harness, 1, 503, 1).await;
    fire(&harness, 2, 503, 2).await;
    harness.engine.shutdown(Duration::from_secs(1)).await;
    harness.restart().await;
    // A new engine counts from zero, the history does not: the third failure alerts.
    harness
        .transport
        .script(TARGET, vec![FakeReply::Status(503)]);
    harness.advance_to_and_expect_sent(at(180), 3).await;
    harness
        .metrics_until("the third check", |m| m.job_alert_checks == 1)
        .await;
    assert_eq!(alerts(&harness), [(JobAlertKind::Failing, 3, 3)]);
    harness.engine.shutdown(Duration::ZERO).await;
}
