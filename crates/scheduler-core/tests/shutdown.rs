//! Graceful shutdown: drain until the deadline, leave the rest recoverable.

use std::time::Duration;

use scheduler_core::testing::FakeReply;
use scheduler_core::{DeliveryType, Error, ExecutionStatus};

use crate::support::{Harness, at, eventually, spec, within};

#[tokio::test]
async fn shutdown_drains_attempts_until_the_deadline_and_leaves_the_rest_recoverable() {
    let mut harness = Harness::start().await;
    harness.transport.script(
        "http://target.test/slow",
        vec![FakeReply::Delayed(200, Duration::from_secs(3))],
    );
    harness.transport.script(
        "http://target.test/hang",
        vec![FakeReply::Hang, FakeReply::Status(200)],
    );
    // Past 00:00:01, the first tick of `later`.
    harness.clock.advance_to(at(10));
    let slow = harness
        .create(spec(
            "0 0 * * * *",
            "http://target.test/slow",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    let hang = harness
        .create(spec(
            "0 0 * * * *",
            "http://target.test/hang",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    let later = harness
        .create(spec(
            "1 0 * * * *",
            "http://target.test/ok",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    harness.advance_to_and_expect_sent(at(3_600), 2).await;
    harness
        .metrics_until("the next tick is claimed", |m| m.claimed == 3)
        .await;

    assert!(!harness.engine.is_stopping(), "running, not stopping");
    let engine = harness.engine.clone();
    let shutdown = tokio::spawn(async move { engine.shutdown(Duration::from_millis(5_500)).await });
    let deadline = scheduler_core::Timestamp::from_millisecond(at(3_600).as_millisecond() + 5_500)
        .expect("ts");
    let clock = harness.clock.clone();
    eventually("the drain waits for its deadline", || {
        clock.has_sleeper_at(deadline)
    })
    .await;
    assert!(harness.engine.is_stopping(), "stopping while it drains");
    assert!(matches!(
        harness
            .engine
            .create_job(spec(
                "* * * * * *",
                "http://x.test",
                DeliveryType::AtLeastOnce
            ))
            .await,
        Err(Error::ShutDown)
    ));
    // The slow attempt answers within the grace period; the silent one does not.
    harness.clock.advance_to(at(3_603));
    harness.clock.advance_to(deadline);
    let report = within("shutdown", shutdown)
        .await
        .expect("the shutdown task");
    assert_eq!((report.drained, report.interrupted), (1, 1));
    assert!(report.left_for_recovery >= 1, "{report:?}");
    // No tick was sent after the shutdown began.
    assert_eq!(harness.transport.sent_count(), 2);
    assert_eq!(
        harness.executions_of(&slow)[0].status,
        ExecutionStatus::Succeeded
    );
    assert_eq!(
        harness.executions_of(&hang)[0].status,
        ExecutionStatus::Running
    );
    assert_eq!(
        harness.executions_of(&later)[0].status,
        ExecutionStatus::Pending
    );

    // The next start finishes what was left.
    harness.restart().await;
    harness.advance_to_and_expect_sent(deadline, 4).await;
    harness.engine.shutdown(Duration::ZERO).await;
    let hang_sent = harness.sent_for(&hang);
    assert_eq!((hang_sent.len(), hang_sent[1].attempt), (2, 2));
    assert_eq!(harness.sent_for(&later)[0].scheduled_at, at(3_601));
    for job in [&slow, &hang, &later] {
        assert_eq!(
            harness.executions_of(job)[0].status,
            ExecutionStatus::Succeeded
        );
    }
}

#[tokio::test]
async fn ping_answers_while_running_and_fails_after_shutdown() {
    let harness = Harness::start().await;
    harness
        .engine
        .ping()
        .await
        .expect("a running engine answers");
    harness.engine.shutdown(Duration::from_secs(1)).await;
    assert!(matches!(harness.engine.ping().await, Err(Error::ShutDown)));
}
