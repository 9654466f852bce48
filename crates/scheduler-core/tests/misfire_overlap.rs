//! Misfire policies after downtime, and the overlap policy under retries.

use std::time::Duration;

use scheduler_core::testing::FakeReply;
use scheduler_core::{DeliveryType, ExecutionStatus, MisfirePolicy, OverlapPolicy, RetryPolicy};

use crate::support::{Harness, at, at_millis, spec};

#[tokio::test]
async fn missed_ticks_follow_each_jobs_misfire_policy() {
    let mut harness = Harness::start().await;
    let mut jobs = Vec::new();
    for policy in [
        MisfirePolicy::FireOnceNow,
        MisfirePolicy::SkipToNext,
        MisfirePolicy::CatchUp { max: 3 },
    ] {
        let mut every_minute = spec(
            "0 * * * * *",
            "http://target.test/ok",
            DeliveryType::AtLeastOnce,
        );
        every_minute.misfire = policy;
        jobs.push(harness.create(every_minute).await);
    }
    harness.engine.shutdown(Duration::ZERO).await;
    // Down for an hour: restart at 01:00:30.
    harness.clock.advance_to(at(3_630));
    harness.restart().await;
    harness.advance_to_and_expect_sent(at(3_630), 4).await;
    let ticks = |index: usize| {
        harness
            .sent_for(&jobs[index])
            .iter()
            .map(|s| s.scheduled_at)
            .collect::<Vec<_>>()
    };
    assert_eq!(ticks(0), [at(3_600)]);
    assert!(ticks(1).is_empty());
    assert_eq!(ticks(2), [at(3_480), at(3_540), at(3_600)]);
    assert!(
        harness
            .transport
            .sent()
            .iter()
            .all(|s| s.sent_at == at(3_630))
    );
    // 60 missed ticks each (00:01:00 to 01:00:00): 59, 60 and 57 dropped.
    harness
        .metrics_until("misfires counted", |m| m.misfired == 59 + 60 + 57)
        .await;
    // Then on schedule again.
    harness.advance_to_and_expect_sent(at(3_660), 7).await;
    for job in &jobs {
        let last = harness.sent_for(job).last().cloned().expect("a send");
        assert_eq!((last.scheduled_at, last.sent_at), (at(3_660), at(3_660)));
    }
}

#[tokio::test]
async fn skip_while_running_holds_while_a_retry_waits() {
    let harness = Harness::start().await;
    let url = "http://target.test/struggling";
    harness.transport.script(
        url,
        vec![
            FakeReply::Status(503),
            FakeReply::Status(503),
            FakeReply::Status(200),
        ],
    );
    let mut every_ten = spec("*/10 * * * * *", url, DeliveryType::AtLeastOnce);
    every_ten.overlap = OverlapPolicy::SkipWhileRunning;
    every_ten.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_secs(15),
        max_backoff: Duration::from_secs(15),
        multiplier: 1.0,
        jitter: 0.0,
    };
    let job = harness.create(every_ten).await;
    harness.advance_to_and_expect_sent(at(10), 1).await;
    harness
        .metrics_until("first retry", |m| m.retried == 1)
        .await;
    harness.clock.advance_to(at(20));
    harness
        .metrics_until("tick at 20 s skipped", |m| m.skipped == 1)
        .await;
    harness.advance_to_and_expect_sent(at(25), 2).await;
    harness
        .metrics_until("second retry", |m| m.retried == 2)
        .await;
    harness.clock.advance_to(at(30));
    harness
        .metrics_until("tick at 30 s skipped", |m| m.skipped == 2)
        .await;
    // At 40 s the last retry and the 40 s tick are due together: the retry goes, the tick skips.
    harness.advance_to_and_expect_sent(at(40), 3).await;
    harness
        .metrics_until("retry succeeded, tick skipped", |m| {
            m.succeeded == 1 && m.skipped == 3
        })
        .await;
    harness.advance_to_and_expect_sent(at(50), 4).await;
    harness
        .metrics_until("tick at 50 s succeeded", |m| m.succeeded == 2)
        .await;
    harness.engine.shutdown(Duration::ZERO).await;

    let sent: Vec<_> = harness
        .sent_for(&job)
        .iter()
        .map(|s| (s.scheduled_at, s.attempt, s.sent_at))
        .collect();
    assert_eq!(
        sent,
        [
            (at(10), 1, at(10)),
            (at(10), 2, at(25)),
            (at(10), 3, at(40)),
            (at(50), 1, at(50))
        ]
    );
    let executions: Vec<_> = harness
        .executions_of(&job)
        .iter()
        .map(|e| (e.scheduled_at, e.status))
        .collect();
    assert_eq!(
        executions[..5],
        [
            (at(10), ExecutionStatus::Succeeded),
            (at(20), ExecutionStatus::Skipped),
            (at(30), ExecutionStatus::Skipped),
            (at(40), ExecutionStatus::Skipped),
            (at(50), ExecutionStatus::Succeeded),
        ]
    );
    assert_eq!(
        harness.executions_of(&job)[1].error.as_deref(),
        Some("previous execution still running")
    );
}

#[tokio::test]
async fn buffer_one_holds_one_tick_until_the_running_execution_ends() {
    let harness = Harness::start().await;
    let url = "http://target.test/slow";
    // The first execution answers 3.5 s after it was sent; every later one at once.
    harness.transport.script(
        url,
        vec![
            FakeReply::Delayed(200, Duration::from_millis(3_500)),
            FakeReply::Status(200),
        ],
    );
    let mut every_second = spec("* * * * * *", url, DeliveryType::AtLeastOnce);
    every_second.overlap = OverlapPolicy::BufferOne;
    let job = harness.create(every_second).await;
    harness.advance_to_and_expect_sent(at(1), 1).await;
    // The 2 s tick waits, unsent; the 3 s and 4 s ticks find it waiting and are skipped.
    harness.clock.advance_to(at(2));
    harness.clock.advance_to(at(3));
    harness
        .metrics_until("tick at 3 s skipped", |m| m.skipped == 1)
        .await;
    harness.clock.advance_to(at(4));
    harness
        .metrics_until("tick at 4 s skipped", |m| m.skipped == 2)
        .await;
    assert_eq!(harness.transport.sent_count(), 1);
    // The first execution ends at 4.5 s: the waiting tick fires at once, 2.5 s late.
    harness
        .advance_to_and_expect_sent(at_millis(4_500), 2)
        .await;
    harness
        .metrics_until("both succeeded", |m| m.succeeded == 2)
        .await;
    // Nothing runs any more: the 5 s tick fires on time.
    harness.advance_to_and_expect_sent(at(5), 3).await;
    harness
        .metrics_until("tick at 5 s succeeded", |m| m.succeeded == 3)
        .await;
    harness.engine.shutdown(Duration::ZERO).await;

    let sent: Vec<_> = harness
        .sent_for(&job)
        .iter()
        .map(|s| (s.scheduled_at, s.sent_at))
        .collect();
    assert_eq!(
        sent,
        [(at(1), at(1)), (at(2), at_millis(4_500)), (at(5), at(5))]
    );
    let executions: Vec<_> = harness
        .executions_of(&job)
        .iter()
        .map(|e| (e.scheduled_at, e.status, e.error.clone()))
        .collect();
    let buffered = "previous execution still running and an earlier tick already waits";
    assert_eq!(
        executions[..5],
        [
            (at(1), ExecutionStatus::Succeeded, None),
            (at(2), ExecutionStatus::Succeeded, None),
            (at(3), ExecutionStatus::Skipped, Some(buffered.to_owned())),
            (at(4), ExecutionStatus::Skipped, Some(buffered.to_owned())),
            (at(5), ExecutionStatus::Succeeded, None),
        ]
    );
}

#[tokio::test]
async fn buffer_one_skips_a_waiting_tick_whose_job_was_paused() {
    let harness = Harness::start().await;
    let url = "http://target.test/slow";
    harness.transport.script(
        url,
        vec![
            FakeReply::Delayed(200, Duration::from_millis(2_500)),
            FakeReply::Status(200),
        ],
    );
    let mut every_second = spec("* * * * * *", url, DeliveryType::AtLeastOnce);
    every_second.overlap = OverlapPolicy::BufferOne;
    let job = harness.create(every_second).await;
    harness.advance_to_and_expect_sent(at(1), 1).await;
    // The 3 s tick is skipped because the 2 s tick waits.
    harness.clock.advance_to(at(2));
    harness.clock.advance_to(at(3));
    harness
        .metrics_until("tick at 3 s skipped", |m| m.skipped == 1)
        .await;
    harness.engine.pause_job(job.id).await.expect("pause_job");
    // The first execution ends at 3.5 s; the waiting 2 s tick is checked afresh and skipped.
    harness.clock.advance_to(at_millis(3_500));
    harness
        .metrics_until("first succeeded, waiting tick skipped", |m| {
            m.succeeded == 1 && m.skipped == 2
        })
        .await;
    harness.engine.shutdown(Duration::ZERO).await;
    assert_eq!(harness.transport.sent_count(), 1);
    let executions = harness.executions_of(&job);
    assert_eq!(executions[1].scheduled_at, at(2));
    assert_eq!(executions[1].status, ExecutionStatus::Skipped);
    assert_eq!(executions[1].error.as_deref(), Some("job paused"));
}

#[tokio::test]
async fn buffer_one_drops_a_waiting_tick_whose_job_was_deleted() {
    let harness = Harness::start().await;
    let url = "http://target.test/slow";
    harness.transport.script(
        url,
        vec![
            FakeReply::Delayed(200, Duration::from_millis(2_500)),
            FakeReply::Status(200),
        ],
    );
    let mut every_second = spec("* * * * * *", url, DeliveryType::AtLeastOnce);
    every_second.overlap = OverlapPolicy::BufferOne;
    let job = harness.create(every_second).await;
    harness.advance_to_and_expect_sent(at(1), 1).await;
    harness.clock.advance_to(at(2));
    harness.clock.advance_to(at(3));
    harness
        .metrics_until("tick at 3 s skipped", |m| m.skipped == 1)
        .await;
    assert!(harness.engine.delete_job(job.id).await.expect("delete_job"));
    // The first execution ends at 3.5 s; the waiting tick, and every claimed one, leave.
    harness.clock.advance_to(at_millis(3_500));
    harness.clock.advance_to(at(10));
    harness
        .metrics_until("backlog empty", |m| m.backlog == 0)
        .await;
    harness.engine.shutdown(Duration::ZERO).await;
    assert_eq!(harness.transport.sent_count(), 1);
    assert!(harness.executions_of(&job).is_empty());
}

#[tokio::test]
async fn buffer_one_leaves_a_waiting_tick_for_the_next_start() {
    let mut harness = Harness::start().await;
    let url = "http://target.test/hung";
    harness.transport.script(url, vec![FakeReply::Hang]);
    let mut every_second = spec("* * * * * *", url, DeliveryType::AtLeastOnce);
    every_second.overlap = OverlapPolicy::BufferOne;
    let job = harness.create(every_second).await;
    harness.advance_to_and_expect_sent(at(1), 1).await;
    harness.clock.advance_to(at(2));
    harness.clock.advance_to(at(3));
    harness
        .metrics_until("tick at 3 s skipped", |m| m.skipped == 1)
        .await;
    let report = harness.engine.shutdown(Duration::ZERO).await;
    // The hung attempt is cut off; the waiting tick is left unfinished in the store.
    assert_eq!(report.interrupted, 1);
    assert!(report.left_for_recovery >= 1, "{report:?}");
    assert_eq!(status_at(&harness, &job, 2), Some(ExecutionStatus::Pending));
    // The next start re-sends the cut-off execution; the 2 s tick waits for it again, then fires.
    harness.transport.script(url, vec![FakeReply::Status(200)]);
    harness.restart().await;
    harness.advance_to_and_expect_sent(at(3), 3).await;
    harness
        .metrics_until("both recovered executions succeeded", |m| m.succeeded == 2)
        .await;
    harness.engine.shutdown(Duration::ZERO).await;
    assert_eq!(
        status_at(&harness, &job, 1),
        Some(ExecutionStatus::Succeeded)
    );
    assert_eq!(
        status_at(&harness, &job, 2),
        Some(ExecutionStatus::Succeeded)
    );
    let sent: Vec<_> = harness
        .sent_for(&job)
        .iter()
        .map(|s| (s.scheduled_at, s.attempt, s.redelivery))
        .collect();
    // Both were pending with their tick come: recovery sends them as re-sends.
    assert_eq!(
        sent,
        [(at(1), 1, false), (at(1), 2, true), (at(2), 1, true)]
    );
}

/// The status of `job`'s execution for the tick at `seconds`.
fn status_at(
    harness: &Harness,
    job: &scheduler_core::Job,
    seconds: i64,
) -> Option<ExecutionStatus> {
    harness
        .executions_of(job)
        .into_iter()
        .find(|e| e.scheduled_at == at(seconds))
        .map(|e| e.status)
}
