//! Retries, permanent errors, alerts, crash recovery and slow targets.

use std::time::Duration;

use scheduler_core::testing::FakeReply;
use scheduler_core::{Alert, AttemptError, DeliveryType, ExecutionStatus, RetryPolicy};

use crate::support::{Harness, at, at_millis, spec};

const FLAKY: &str = "http://target.test/flaky";

#[tokio::test]
async fn retries_follow_the_policy_and_a_final_failure_alerts_once() {
    let harness = Harness::start().await;
    harness
        .transport
        .script(FLAKY, vec![FakeReply::Status(503)]);
    let mut hourly = spec("0 0 * * * *", FLAKY, DeliveryType::AtLeastOnce);
    hourly.retry = RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(3),
        multiplier: 2.0,
        jitter: 0.0,
    };
    let job = harness.create(hourly).await;
    // Delays 1 s, 2 s, then 4 s capped to 3 s.
    let attempt_times = [at(3_600), at(3_601), at(3_603), at(3_606)];
    for (index, instant) in attempt_times.iter().enumerate() {
        harness
            .advance_to_and_expect_sent(*instant, index + 1)
            .await;
        if index < 3 {
            let retried = index as u64 + 1;
            harness
                .metrics_until("retry scheduled", |m| m.retried == retried)
                .await;
            assert!(
                harness.alerts.alerts().is_empty(),
                "no alert before the last attempt"
            );
        }
    }
    harness
        .metrics_until("final failure", |m| m.failed == 1)
        .await;
    let sent = harness.sent_for(&job);
    assert_eq!(
        sent.iter().map(|s| s.sent_at).collect::<Vec<_>>(),
        attempt_times
    );
    assert_eq!(
        sent.iter().map(|s| s.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(
        sent.iter()
            .all(|s| s.execution_id == sent[0].execution_id && s.scheduled_at == at(3_600))
    );

    harness.alerts.wait_for(1).await;
    match harness.alerts.alerts().as_slice() {
        [
            Alert::FinalFailure {
                job_id,
                execution_id,
                attempts: 4,
                http_status: Some(503),
                ..
            },
        ] => {
            assert_eq!((*job_id, *execution_id), (job.id, sent[0].execution_id));
        }
        other => panic!("expected one final-failure alert, got {other:?}"),
    }

    // The next tick succeeds: one recovery alert.
    harness
        .transport
        .script(FLAKY, vec![FakeReply::Status(200)]);
    harness.advance_to_and_expect_sent(at(7_200), 5).await;
    harness.alerts.wait_for(2).await;
    assert!(
        matches!(harness.alerts.alerts()[1], Alert::Recovered { job_id, .. } if job_id == job.id)
    );
    let stats = harness.engine.job_stats(job.id).expect("stats");
    assert_eq!(
        (
            stats.succeeded,
            stats.failed,
            stats.success_rate,
            stats.last_succeeded
        ),
        (1, 1, 0.5, true)
    );

    harness.engine.shutdown(Duration::ZERO).await;
    let executions = harness.executions_of(&job);
    assert_eq!(executions[0].status, ExecutionStatus::Failed);
    assert_eq!(
        (executions[0].attempts, executions[0].http_status),
        (4, Some(503))
    );
    assert_eq!(executions[0].executed_at, Some(at(3_600)));
    assert_eq!(executions[1].status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn permanent_errors_and_at_most_once_jobs_do_not_retry() {
    let harness = Harness::start().await;
    harness
        .transport
        .script("http://target.test/missing", vec![FakeReply::Status(404)]);
    harness.transport.script(
        "http://target.test/tls",
        vec![FakeReply::Error(AttemptError::Tls("unknown issuer".into()))],
    );
    harness
        .transport
        .script("http://target.test/down", vec![FakeReply::Status(503)]);
    let missing = harness
        .create(spec(
            "0 0 * * * *",
            "http://target.test/missing",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    let tls = harness
        .create(spec(
            "0 0 * * * *",
            "http://target.test/tls",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    let at_most_once = harness
        .create(spec(
            "0 0 * * * *",
            "http://target.test/down",
            DeliveryType::AtMostOnce,
        ))
        .await;
    harness.advance_to_and_expect_sent(at(3_600), 3).await;
    harness
        .metrics_until("three final failures", |m| m.failed == 3)
        .await;
    // Far past every backoff: still one attempt each.
    harness.advance_to_and_expect_sent(at(3_650), 3).await;
    harness.alerts.wait_for(3).await;
    assert_eq!(harness.engine.metrics().retried, 0);
    harness.engine.shutdown(Duration::ZERO).await;
    for (job, error) in [
        (&missing, "http status 404"),
        (&tls, "tls: unknown issuer"),
        (&at_most_once, "http status 503"),
    ] {
        assert_eq!(harness.sent_for(job).len(), 1);
        let execution = &harness.executions_of(job)[0];
        assert_eq!(
            (execution.status, execution.attempts),
            (ExecutionStatus::Failed, 1)
        );
        assert_eq!(execution.error.as_deref(), Some(error));
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let harness = Harness::start().await;
    let url = "http://target.test/busy";
    harness.transport.script(
        url,
        vec![
            FakeReply::StatusRetryAfter(429, Duration::from_secs(10)),
            FakeReply::Status(200),
        ],
    );
    let job = harness
        .create(spec("0 0 * * * *", url, DeliveryType::AtLeastOnce))
        .await;
    let marker = harness
        .create(spec(
            "0 0 0 1 1 *",
            "http://target.test/ok",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    harness.advance_to_and_expect_sent(at(3_600), 1).await;
    harness
        .metrics_until("retry scheduled", |m| m.retried == 1)
        .await;
    // At 9 s a manual trigger of another job passes through the dispatcher: a retry due then
    // (the 1 s backoff, had Retry-After been ignored) would be sent by now.
    harness.clock.advance_to(at(3_609));
    harness
        .engine
        .trigger_now(marker.id)
        .await
        .expect("trigger_now");
    harness.advance_to_and_expect_sent(at(3_609), 2).await;
    harness.advance_to_and_expect_sent(at(3_610), 3).await;
    let sent = harness.sent_for(&job);
    assert_eq!(
        sent.iter()
            .map(|s| (s.attempt, s.sent_at))
            .collect::<Vec<_>>(),
        [(1, at(3_600)), (2, at(3_610))]
    );
}

#[tokio::test]
async fn retry_after_is_capped_by_the_jobs_max_backoff() {
    let harness = Harness::start().await;
    let url = "http://target.test/hostile";
    harness.transport.script(
        url,
        vec![
            FakeReply::StatusRetryAfter(503, Duration::from_secs(3_000)),
            FakeReply::Status(200),
        ],
    );
    // `spec` sets a max backoff of 10 s.
    let job = harness
        .create(spec("0 0 * * * *", url, DeliveryType::AtLeastOnce))
        .await;
    harness.advance_to_and_expect_sent(at(3_600), 1).await;
    harness
        .metrics_until("retry scheduled", |m| m.retried == 1)
        .await;
    harness.advance_to_and_expect_sent(at(3_610), 2).await;
    let sent = harness.sent_for(&job);
    assert_eq!(
        sent.iter()
            .map(|s| (s.attempt, s.sent_at))
            .collect::<Vec<_>>(),
        [(1, at(3_600)), (2, at(3_610))]
    );
}

#[tokio::test]
async fn a_crash_resends_at_least_once_abandons_at_most_once_and_loses_no_tick() {
    let mut harness = Harness::start().await;
    let hang = "http://target.test/hang";
    harness.transport.script(hang, vec![FakeReply::Hang]);
    // Past 00:00:01, the first tick of `pending`.
    harness.clock.advance_to(at(10));
    let at_least_once = harness
        .create(spec("0 0 * * * *", hang, DeliveryType::AtLeastOnce))
        .await;
    let at_most_once = harness
        .create(spec("0 0 * * * *", hang, DeliveryType::AtMostOnce))
        .await;
    // Fires one second later: claimed (pending) at the crash, never sent.
    let pending = harness
        .create(spec(
            "1 0 * * * *",
            "http://target.test/ok",
            DeliveryType::AtMostOnce,
        ))
        .await;
    harness.advance_to_and_expect_sent(at(3_600), 2).await;
    harness
        .metrics_until("the pending tick is claimed", |m| m.claimed == 3)
        .await;

    harness.engine.abort();
    harness.transport.script(hang, vec![FakeReply::Status(200)]);
    harness.restart().await;

    // At-least-once: the same execution is sent again, at once, with the next attempt number.
    harness.advance_to_and_expect_sent(at(3_600), 3).await;
    let resent = harness.sent_for(&at_least_once);
    assert_eq!(resent.len(), 2);
    assert_eq!(
        (resent[1].execution_id, resent[1].scheduled_at),
        (resent[0].execution_id, at(3_600))
    );
    assert!(resent[1].attempt >= 1);
    // The pending tick fires at its instant.
    harness.advance_to_and_expect_sent(at(3_601), 4).await;
    assert_eq!(harness.sent_for(&pending)[0].sent_at, at(3_601));
    harness
        .metrics_until("abandoned", |m| m.abandoned == 1)
        .await;
    // Next hour: every job fires once more.
    harness.advance_to_and_expect_sent(at(7_200), 6).await;
    harness.advance_to_and_expect_sent(at(7_201), 7).await;
    harness.engine.shutdown(Duration::ZERO).await;

    assert_eq!(
        harness.sent_for(&at_most_once).len(),
        2,
        "the abandoned execution is not re-sent"
    );
    let statuses = |job| {
        harness
            .executions_of(job)
            .iter()
            .map(|e| (e.scheduled_at, e.status))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        statuses(&at_least_once),
        [
            (at(3_600), ExecutionStatus::Succeeded),
            (at(7_200), ExecutionStatus::Succeeded)
        ]
    );
    assert_eq!(
        statuses(&at_most_once),
        [
            (at(3_600), ExecutionStatus::Abandoned),
            (at(7_200), ExecutionStatus::Succeeded)
        ]
    );
    assert_eq!(
        statuses(&pending),
        [
            (at(3_601), ExecutionStatus::Succeeded),
            (at(7_201), ExecutionStatus::Succeeded)
        ]
    );
}

#[tokio::test]
async fn a_target_that_never_answers_does_not_delay_other_jobs() {
    let harness = Harness::start().await;
    let mut silent = spec(
        "* * * * * *",
        "http://target.test/silent",
        DeliveryType::AtLeastOnce,
    );
    silent.attempt_timeout = Duration::from_secs(30);
    silent.retry.max_attempts = 1;
    harness
        .transport
        .script("http://target.test/silent", vec![FakeReply::Hang]);
    let silent = harness.create(silent).await;
    let healthy = harness
        .create(spec(
            "* * * * * *",
            "http://target.test/ok",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    let first = harness.sent_for(&healthy).len();
    assert_eq!(first, 0);
    for second in 1..=60 {
        harness
            .advance_to_and_expect_sent(at(second), 2 * second as usize)
            .await;
    }
    let on_time = harness.sent_for(&healthy);
    assert_eq!(on_time.len(), 60);
    assert!(on_time.iter().all(|s| s.sent_at == s.scheduled_at));
    // The silent target's attempts time out after 30 s each, on the engine's clock.
    harness
        .metrics_until("timeouts", |m| m.failed == 30 && m.in_flight == 30)
        .await;
    harness.engine.shutdown(Duration::ZERO).await;
    let timed_out = harness.executions_of(&silent);
    assert_eq!(timed_out[0].status, ExecutionStatus::Failed);
    assert_eq!(timed_out[0].error.as_deref(), Some("timed out"));
    assert_eq!(timed_out[0].duration, Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn the_in_flight_limit_queues_ticks_without_losing_them() {
    let config = scheduler_core::EngineConfig {
        max_in_flight: 2,
        ..crate::support::config()
    };
    let harness = Harness::start_with(
        config,
        std::sync::Arc::new(scheduler_core::MemoryStore::new()),
    )
    .await;
    let slow = "http://target.test/slow";
    harness
        .transport
        .script(slow, vec![FakeReply::Delayed(200, Duration::from_secs(5))]);
    let mut jobs = Vec::new();
    for _ in 0..3 {
        jobs.push(
            harness
                .create(spec("0 0 * * * *", slow, DeliveryType::AtLeastOnce))
                .await,
        );
    }
    harness.advance_to_and_expect_sent(at(3_600), 2).await;
    harness
        .metrics_until("two in flight, one waiting", |m| {
            m.in_flight == 2 && m.fired == 2 && m.waiting == 1
        })
        .await;
    // When the first two answer, the third goes out.
    harness.advance_to_and_expect_sent(at(3_605), 3).await;
    harness
        .metrics_until("one in flight, none waiting", |m| {
            m.in_flight == 1 && m.waiting == 0
        })
        .await;
    harness.advance_to_and_expect_sent(at(3_610), 3).await;
    harness
        .metrics_until("all succeeded", |m| m.succeeded == 3 && m.in_flight == 0)
        .await;
    let mut sent_at: Vec<_> = harness.transport.sent().iter().map(|s| s.sent_at).collect();
    sent_at.sort();
    assert_eq!(sent_at, [at(3_600), at(3_600), at(3_605)]);
    let drift = harness.engine.metrics().drift;
    assert_eq!((drift.count, drift.max), (3, Duration::from_secs(5)));
}

/// Five hourly jobs on `url`, on an engine that lets 2 fresh attempts and 10 in all be in
/// flight, with a fresh window of 10 ms.
async fn five_jobs_under_a_fresh_limit_of_two(url: &str, reply: FakeReply) -> Harness {
    let config = scheduler_core::EngineConfig {
        max_in_flight: 10,
        max_fresh_attempts: 2,
        fresh_window: Duration::from_millis(10),
        ..crate::support::config()
    };
    let harness = Harness::start_with(
        config,
        std::sync::Arc::new(scheduler_core::MemoryStore::new()),
    )
    .await;
    harness.transport.script(url, vec![reply]);
    for _ in 0..5 {
        harness
            .create(spec("0 0 * * * *", url, DeliveryType::AtLeastOnce))
            .await;
    }
    harness
}

#[tokio::test]
async fn unanswered_attempts_stop_counting_as_fresh_after_the_window() {
    let hung = "http://target.test/hung";
    let harness = five_jobs_under_a_fresh_limit_of_two(hung, FakeReply::Hang).await;
    harness.advance_to_and_expect_sent(at(3_600), 2).await;
    harness
        .metrics_until("two fresh attempts in flight", |m| {
            m.in_flight == 2 && m.fired == 2
        })
        .await;
    // Nothing else starts until the first two have waited the window out, although
    // `max_in_flight` has room.
    harness.clock.advance_to(at_millis(3_600_009));
    assert_eq!(harness.transport.sent().len(), 2);
    harness
        .advance_to_and_expect_sent(at_millis(3_600_010), 4)
        .await;
    harness
        .advance_to_and_expect_sent(at_millis(3_600_020), 5)
        .await;
    harness
        .metrics_until("five in flight, none answered", |m| {
            m.in_flight == 5 && m.fired == 5 && m.succeeded == 0
        })
        .await;
    let mut sent_at: Vec<_> = harness.transport.sent().iter().map(|s| s.sent_at).collect();
    sent_at.sort();
    assert_eq!(
        sent_at,
        [
            at(3_600),
            at(3_600),
            at_millis(3_600_010),
            at_millis(3_600_010),
            at_millis(3_600_020)
        ]
    );
}

#[tokio::test]
async fn answered_attempts_free_their_fresh_slot_at_once() {
    let quick = "http://target.test/quick";
    let harness = five_jobs_under_a_fresh_limit_of_two(quick, FakeReply::Status(200)).await;
    // The clock stays at the tick: each answer lets the next waiting tick start.
    harness.advance_to_and_expect_sent(at(3_600), 5).await;
    harness
        .metrics_until("all succeeded", |m| m.succeeded == 5 && m.in_flight == 0)
        .await;
    let sent = harness.transport.sent();
    assert!(sent.iter().all(|s| s.sent_at == at(3_600)), "{sent:?}");
}

/// An alert sink that never finishes delivering.
struct StuckAlertSink;

impl scheduler_core::AlertSink for StuckAlertSink {
    fn deliver(&self, _alert: Alert) -> scheduler_core::BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn a_stuck_alert_sink_never_blocks_the_engine() {
    use std::sync::Arc;

    use scheduler_core::testing::{FakeTransport, ManualClock};
    use scheduler_core::{Engine, EngineConfig, MemoryStore};

    let clock = Arc::new(ManualClock::new(crate::support::t0()));
    let transport = Arc::new(FakeTransport::new(clock.clone()));
    transport.script("http://target.test/gone", vec![FakeReply::Status(410)]);
    let engine = Engine::builder(Arc::new(MemoryStore::new()), transport.clone())
        .clock(clock.clone())
        .alert_sink(Arc::new(StuckAlertSink))
        .config(EngineConfig {
            alert_queue_capacity: 1,
            ..EngineConfig::default()
        })
        .start()
        .await
        .expect("start");
    for _ in 0..4 {
        engine
            .create_job(spec(
                "0 * * * * *",
                "http://target.test/gone",
                DeliveryType::AtLeastOnce,
            ))
            .await
            .expect("create");
    }
    let healthy = engine
        .create_job(spec(
            "0 * * * * *",
            "http://target.test/ok",
            DeliveryType::AtLeastOnce,
        ))
        .await
        .expect("create");
    for minute in 1..=3 {
        clock.advance_to(at(60 * minute));
        crate::support::within("sends", transport.wait_for_sent(5 * minute as usize)).await;
    }
    crate::support::eventually("failures recorded", || engine.metrics().failed == 12).await;
    // One alert is stuck in the sink and at most one waits in the queue of one (the sink task
    // may not have taken the first yet): the rest are dropped, and nothing waited for them.
    let dropped = engine.metrics().alerts_dropped;
    assert!((10..=11).contains(&dropped), "{dropped} alerts dropped");
    let healthy_sends = transport
        .sent()
        .iter()
        .filter(|s| s.job_id == healthy.id && s.sent_at == s.scheduled_at)
        .count();
    assert_eq!(healthy_sends, 3);
    // Shutdown does not wait for the stuck sink beyond its grace period.
    let shutdown = tokio::spawn({
        let engine = engine.clone();
        async move { engine.shutdown(Duration::from_millis(1_500)).await }
    });
    // Half seconds: no other sleeper waits for that instant.
    let deadline = crate::support::at_millis(181_500);
    crate::support::eventually("shutdown waits for its deadline", || {
        clock.has_sleeper_at(deadline)
    })
    .await;
    clock.advance_to(deadline);
    crate::support::within("shutdown", shutdown)
        .await
        .expect("the shutdown task");
}
