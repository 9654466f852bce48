//! Recovery after a crash: which executions are re-sends (the redelivery mark, the attempt
//! number, the count), and recovered ticks later than the misfire threshold.

use std::time::Duration;

use scheduler_core::testing::FakeReply;
use scheduler_core::{
    DeliveryType, EngineConfig, Execution, ExecutionStatus, Job, MemoryStore, MisfirePolicy,
};

use crate::support::{Harness, at, at_millis, config, eventually, spec};

/// (attempt, redelivery mark) of every attempt the job's target received, in order.
fn marks(harness: &Harness, job: &Job) -> Vec<(u32, bool)> {
    harness
        .sent_for(job)
        .iter()
        .map(|sent| (sent.attempt, sent.redelivery))
        .collect()
}

/// (tick, status, attempts, redeliveries) of each of the job's stored executions.
fn history(harness: &Harness, job: &Job) -> Vec<(i64, ExecutionStatus, u32, u32)> {
    harness
        .executions_of(job)
        .iter()
        .map(|e: &Execution| {
            (
                e.scheduled_at.as_second() - at(0).as_second(),
                e.status,
                e.attempts,
                e.redeliveries,
            )
        })
        .collect()
}

/// Results linger for an hour on the manual clock, so an at-least-once execution sent before
/// the crash is still pending in the store: its start was never recorded.
#[tokio::test]
async fn pending_executions_whose_tick_had_come_are_resent_marked_and_counted() {
    let lingering = EngineConfig {
        result_linger: Duration::from_secs(3_600),
        ..config()
    };
    let mut harness = Harness::start_with(lingering, std::sync::Arc::new(MemoryStore::new())).await;
    harness.clock.advance_to(at(10));
    let ok = "http://target.test/ok";
    let sent = harness
        .create(spec("0 0 * * * *", ok, DeliveryType::AtLeastOnce))
        .await;
    let due_at_restart = harness
        .create(spec("1 0 * * * *", ok, DeliveryType::AtLeastOnce))
        .await;
    let at_most_once = harness
        .create(spec("1 0 * * * *", ok, DeliveryType::AtMostOnce))
        .await;
    let ahead_at_restart = harness
        .create(spec("2 0 * * * *", ok, DeliveryType::AtLeastOnce))
        .await;
    // 01:00:00 fires `sent`; the claim pass at 01:00:00.5 takes every tick up to 01:00:02.
    harness
        .advance_to_and_expect_sent(at_millis(3_600_600), 1)
        .await;
    harness
        .metrics_until("the four ticks are claimed", |m| m.claimed == 4)
        .await;
    assert_eq!(
        history(&harness, &sent),
        [(3_600, ExecutionStatus::Pending, 0, 0)],
        "sent, but its start not recorded"
    );

    harness.engine.abort();
    harness.clock.advance_to(at_millis(3_601_500));
    harness.restart().await;
    harness
        .metrics_until("the four executions are recovered", |m| m.claimed == 4)
        .await;
    harness.advance_to_and_expect_sent(at(3_602), 5).await;
    harness.engine.shutdown(Duration::ZERO).await;

    // Sent before the crash: sent again as attempt 1, marked.
    assert_eq!(marks(&harness, &sent), [(1, false), (1, true)]);
    assert_eq!(
        history(&harness, &sent),
        [(3_600, ExecutionStatus::Succeeded, 1, 1)]
    );
    // Its tick had come when the node came back: it may have been sent, so it is marked.
    assert_eq!(marks(&harness, &due_at_restart), [(1, true)]);
    assert_eq!(
        history(&harness, &due_at_restart),
        [(3_601, ExecutionStatus::Succeeded, 1, 1)]
    );
    // At-most-once: a pending one was surely never sent (its start is stored first).
    assert_eq!(marks(&harness, &at_most_once), [(1, false)]);
    assert_eq!(
        history(&harness, &at_most_once),
        [(3_601, ExecutionStatus::Succeeded, 1, 0)]
    );
    // Its tick was still ahead: surely never sent.
    assert_eq!(marks(&harness, &ahead_at_restart), [(1, false)]);
    assert_eq!(
        history(&harness, &ahead_at_restart),
        [(3_602, ExecutionStatus::Succeeded, 1, 0)]
    );
}

#[tokio::test]
async fn a_resend_follows_the_recorded_attempts_and_its_retries_stay_marked() {
    let mut harness = Harness::start().await;
    let flaky = "http://target.test/flaky";
    harness.transport.script(flaky, vec![FakeReply::Hang]);
    let job = harness
        .create(spec("0 0 * * * *", flaky, DeliveryType::AtLeastOnce))
        .await;
    harness.advance_to_and_expect_sent(at(3_600), 1).await;
    let store = harness.store.clone();
    let id = job.id;
    eventually("the start of attempt 1 is recorded", || {
        store
            .all_executions()
            .iter()
            .any(|e| e.job_id == id && e.status == ExecutionStatus::Running && e.attempts == 1)
    })
    .await;

    harness.engine.abort();
    harness
        .transport
        .script(flaky, vec![FakeReply::Status(503), FakeReply::Status(200)]);
    harness.restart().await;
    // Sent again at once, as attempt 2; then retried after the backoff of a second attempt
    // (two seconds), still marked.
    harness.advance_to_and_expect_sent(at(3_600), 2).await;
    let clock = harness.clock.clone();
    eventually("the retry waits for 01:00:02", || {
        clock.has_sleeper_at(at(3_602))
    })
    .await;
    harness.advance_to_and_expect_sent(at(3_602), 3).await;
    harness.engine.shutdown(Duration::ZERO).await;

    assert_eq!(marks(&harness, &job), [(1, false), (2, true), (3, true)]);
    let sent = harness.sent_for(&job);
    assert!(sent.iter().all(|s| s.execution_id == sent[0].execution_id));
    assert_eq!(
        history(&harness, &job),
        [(3_600, ExecutionStatus::Succeeded, 3, 1)]
    );
}

#[tokio::test]
async fn recovered_ticks_later_than_the_threshold_follow_the_misfire_policy() {
    let mut harness = Harness::start().await;
    harness.clock.advance_to(at(10));
    let ok = "http://target.test/ok";
    let with_policy = |schedule: &str, policy| {
        let mut spec = spec(schedule, ok, DeliveryType::AtLeastOnce);
        spec.misfire = policy;
        spec
    };
    // Ticks at 00:00:11 and 00:00:12 are claimed at creation, then the node stops. The next
    // ticks of these jobs (00:01:11) come after the restart, so only the recovered ticks are
    // missed.
    let once = harness
        .create(with_policy("11,12 * * * * *", MisfirePolicy::FireOnceNow))
        .await;
    let skip = harness
        .create(with_policy("11,12 * * * * *", MisfirePolicy::SkipToNext))
        .await;
    let catch_up = harness
        .create(with_policy(
            "11,12 * * * * *",
            MisfirePolicy::CatchUp { max: 2 },
        ))
        .await;
    // Every second: its watermark owes missed ticks later than the recovered ones, and the
    // claim fires the latest of those.
    let every_second = harness
        .create(with_policy("* * * * * *", MisfirePolicy::FireOnceNow))
        .await;
    // A manual trigger is not a tick: it fires however late.
    let triggered = harness
        .create(with_policy("0 0 0 1 1 *", MisfirePolicy::SkipToNext))
        .await;
    harness
        .engine
        .trigger_now(triggered.id)
        .await
        .expect("trigger_now");
    harness.engine.abort();

    // Down for a minute. On a store of one node every tick due before the restart (00:01:10)
    // was missed.
    harness.clock.advance_to(at(70));
    harness.restart().await;
    // Fired at once: `once` 00:00:12, `catch_up` both, the trigger, and `every_second`
    // 00:01:09 plus 00:01:10.
    harness.advance_to_and_expect_sent(at(70), 4 + 2).await;

    let skipped = |job: &Job| -> Vec<(i64, String)> {
        harness
            .executions_of(job)
            .into_iter()
            .filter(|e| e.status == ExecutionStatus::Skipped)
            .map(|e| {
                (
                    e.scheduled_at.as_second() - at(0).as_second(),
                    e.error.unwrap_or_default(),
                )
            })
            .collect()
    };
    let ticks_sent = |job: &Job| -> Vec<i64> {
        harness
            .sent_for(job)
            .iter()
            .map(|s| s.scheduled_at.as_second() - at(0).as_second())
            .collect()
    };
    assert_eq!(ticks_sent(&once), [12]);
    assert_eq!(ticks_sent(&skip), Vec::<i64>::new());
    assert_eq!(ticks_sent(&catch_up), [11, 12]);
    assert_eq!(harness.sent_for(&triggered).len(), 1);
    assert_eq!(ticks_sent(&every_second), [69, 70]);

    let reason_of = |job: &Job| {
        skipped(job)
            .into_iter()
            .map(|(tick, _)| tick)
            .collect::<Vec<_>>()
    };
    assert_eq!(reason_of(&once), [11]);
    assert_eq!(reason_of(&skip), [11, 12]);
    assert_eq!(reason_of(&catch_up), Vec::<i64>::new());
    assert_eq!(reason_of(&every_second), [11, 12]);
    let (_, why) = &skipped(&once)[0];
    assert!(
        why.contains("missed") && why.contains("FIRE_ONCE_NOW") && why.contains("59s"),
        "{why}"
    );
    assert!(skipped(&skip)[0].1.contains("SKIP_TO_NEXT"));
    // Recovery dropped 1 + 2 + 2; the claim dropped `every_second`'s 00:00:13 to 00:01:08.
    harness
        .metrics_until("misfires counted", |m| {
            m.misfired == 5 + 56 && m.skipped == 5
        })
        .await;
}
