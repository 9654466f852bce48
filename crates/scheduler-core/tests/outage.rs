//! Outage mode: a store of one node that cannot be written (a full disk, a read-only remount)
//! while its reads still work. Ticks fire from memory, their executions are recorded once the
//! store is back, in order and once each; at-most-once ticks are not fired without a durable
//! start; what does not fit the buffer waits for the store and its misfire policy; failed
//! result writes are tried again until they land; and a shutdown during an outage ends at its
//! deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use scheduler_core::{
    DeliveryType, EngineConfig, Execution, ExecutionStatus, Job, MemoryStore, MisfirePolicy,
    Timestamp,
};

use crate::faulty_store::FaultyStore;
use crate::support::{Harness, at, config, eventually, spec};

const OK: &str = "http://target.test/ok";

async fn unwritable_harness(config: EngineConfig) -> (Harness, Arc<FaultyStore>) {
    let memory = Arc::new(MemoryStore::new());
    let unwritable = Arc::new(FaultyStore::new(memory.clone()));
    let harness = Harness::start_on(config, memory, unwritable.clone()).await;
    (harness, unwritable)
}

/// The job's stored executions by tick, each tick's count checked to be one.
fn stored_by_tick(harness: &Harness, job: &Job) -> BTreeMap<Timestamp, Execution> {
    let mut by_tick = BTreeMap::new();
    for execution in harness.executions_of(job) {
        let tick = execution.scheduled_at;
        assert!(
            by_tick.insert(tick, execution).is_none(),
            "two executions of {} at {tick}",
            job.id
        );
    }
    by_tick
}

/// Steps the clock a second at a time to `to`, waiting at each step until `sent` attempts in
/// total were received, `sent` growing by `per_second` each second.
async fn step_to(harness: &Harness, from: i64, to: i64, mut sent: usize, per_second: usize) {
    for second in from..=to {
        sent += per_second;
        harness.advance_to_and_expect_sent(at(second), sent).await;
    }
}

#[tokio::test]
async fn ticks_fire_from_memory_while_the_store_fails_writes_and_are_recorded_once_it_is_back() {
    let (harness, store) = unwritable_harness(config()).await;
    let job = harness
        .create(spec("* * * * * *", OK, DeliveryType::AtLeastOnce))
        .await;
    step_to(&harness, 1, 3, 0, 1).await;
    store.fail_writes(true);
    // Every tick fires on time through the outage.
    step_to(&harness, 4, 12, 3, 1).await;
    let status = harness.engine.store_status();
    let failure = status.failure().expect("the store is failing");
    assert!(
        failure.cause.contains("disk is full"),
        "the cause is reported: {failure:?}"
    );
    harness
        .metrics_until("executions claimed in memory are kept", |m| {
            m.outage_claimed > 0 && m.outage_buffered > 0
        })
        .await;
    let recorded_during = stored_by_tick(&harness, &job);
    assert!(
        recorded_during.keys().all(|&tick| tick <= at(6)),
        "nothing claimed in memory reached the store while it failed writes: {:?}",
        recorded_during.keys().collect::<Vec<_>>()
    );

    // The writer tries again within its longest backoff, 5 s.
    store.fail_writes(false);
    step_to(&harness, 13, 20, 12, 1).await;
    harness
        .metrics_until("everything claimed in memory is recorded", |m| {
            m.outage_buffered == 0 && m.results_unwritten == 0 && m.backlog <= 3
        })
        .await;
    eventually("the store takes writes again", || {
        harness.engine.store_status().failure().is_none()
    })
    .await;
    let stored = stored_by_tick(&harness, &job);
    let succeeded: Vec<Timestamp> = stored
        .values()
        .filter(|e| e.status == ExecutionStatus::Succeeded)
        .map(|e| e.scheduled_at)
        .collect();
    assert_eq!(
        succeeded,
        (1..=20).map(at).collect::<Vec<_>>(),
        "every tick recorded once, succeeded"
    );
    // Nothing was sent twice.
    let sent: Vec<Timestamp> = harness
        .sent_for(&job)
        .iter()
        .map(|s| s.scheduled_at)
        .collect();
    assert_eq!(sent, (1..=20).map(at).collect::<Vec<_>>());
    assert!(harness.engine.metrics().outage_claimed >= 6);
    harness.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn an_at_most_once_tick_is_not_fired_from_memory_and_is_recorded_skipped() {
    let (harness, store) = unwritable_harness(config()).await;
    let at_most_once = harness
        .create(spec("* * * * * *", OK, DeliveryType::AtMostOnce))
        .await;
    let at_least_once = harness
        .create(spec("* * * * * *", OK, DeliveryType::AtLeastOnce))
        .await;
    step_to(&harness, 1, 2, 0, 2).await;
    store.fail_writes(true);
    // Ticks 3 and 4 were claimed in the store before the outage. The at-most-once ones need
    // their start recorded, which fails: they are not sent either.
    step_to(&harness, 3, 10, 4, 1).await;
    harness
        .metrics_until("at-most-once ticks withheld", |m| m.outage_withheld >= 5)
        .await;
    store.fail_writes(false);
    step_to(&harness, 11, 16, 12, 1).await;
    harness
        .metrics_until("everything recorded", |m| {
            m.outage_buffered == 0 && m.results_unwritten == 0
        })
        .await;
    let sent_ticks = |job: &Job| -> Vec<Timestamp> {
        harness
            .sent_for(job)
            .iter()
            .map(|s| s.scheduled_at)
            .collect()
    };
    // Back to the store, at-most-once ticks fire again.
    let at_most_once_sent = sent_ticks(&at_most_once);
    assert_eq!(
        at_most_once_sent
            .iter()
            .filter(|&&tick| tick <= at(10))
            .collect::<Vec<_>>(),
        [&at(1), &at(2)]
    );
    assert!(at_most_once_sent.contains(&at(16)));
    assert_eq!(
        sent_ticks(&at_least_once),
        (1..=16).map(at).collect::<Vec<_>>()
    );
    let stored = stored_by_tick(&harness, &at_most_once);
    for tick in 3..=10 {
        let execution = &stored[&at(tick)];
        match tick {
            3 | 4 => {
                assert_eq!(execution.status, ExecutionStatus::Failed, "{execution:?}");
                assert!(
                    execution
                        .error
                        .as_deref()
                        .is_some_and(|error| error.contains("not sent")),
                    "{execution:?}"
                );
            }
            _ => {
                assert_eq!(execution.status, ExecutionStatus::Skipped, "{execution:?}");
                assert!(
                    execution
                        .error
                        .as_deref()
                        .is_some_and(|error| error.contains("at-most-once")),
                    "{execution:?}"
                );
            }
        }
    }
    harness.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn ticks_that_do_not_fit_the_buffer_wait_for_the_store_and_its_misfire_policy() {
    let (harness, store) = unwritable_harness(EngineConfig {
        outage_buffer_bytes: 1,
        misfire_threshold: Duration::from_secs(5),
        ..config()
    })
    .await;
    let mut job_spec = spec("* * * * * *", OK, DeliveryType::AtLeastOnce);
    job_spec.misfire = MisfirePolicy::FireOnceNow;
    let job = harness.create(job_spec).await;
    step_to(&harness, 1, 2, 0, 1).await;
    store.fail_writes(true);
    // Ticks 3 and 4 were claimed before; nothing fits the buffer after them.
    step_to(&harness, 3, 4, 2, 1).await;
    harness.clock.advance_to(at(20));
    harness
        .metrics_until("the ticks that did not fit are counted once", |m| {
            m.outage_dropped >= 11
        })
        .await;
    // Ticks 5 and 6 in the passes at 3 and 4; at 20, the latest missed tick (14) and 15 to 22.
    assert_eq!(harness.engine.metrics().outage_dropped, 11);
    assert_eq!(harness.transport.sent_count(), 4);

    store.fail_writes(false);
    harness.clock.advance_to(at(21));
    harness
        .metrics_until("the store claims again", |m| m.misfired > 0)
        .await;
    // From the store's watermark (tick 5): ticks before 16 (21 less the 5 s threshold) are
    // missed, and the policy fires the latest of them once; the rest fire late.
    let expected: Vec<Timestamp> = [1, 2, 3, 4, 15, 16, 17, 18, 19, 20, 21]
        .into_iter()
        .map(at)
        .collect();
    harness
        .advance_to_and_expect_sent(at(21), expected.len())
        .await;
    let sent: Vec<Timestamp> = harness
        .sent_for(&job)
        .iter()
        .map(|s| s.scheduled_at)
        .collect();
    assert_eq!(sent, expected);
    assert_eq!(harness.engine.metrics().misfired, 10);
    harness.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_shutdown_while_the_store_fails_writes_ends_at_its_deadline() {
    let (harness, store) = unwritable_harness(config()).await;
    harness
        .create(spec("* * * * * *", OK, DeliveryType::AtLeastOnce))
        .await;
    step_to(&harness, 1, 1, 0, 1).await;
    store.fail_writes(true);
    step_to(&harness, 2, 5, 1, 1).await;
    let engine = harness.engine.clone();
    let shutdown = tokio::spawn(async move { engine.shutdown(Duration::from_secs(10)).await });
    // The shutdown has begun (its deadline is 15 s) once the engine stops answering.
    crate::support::within("the shutdown begins", async {
        while harness.engine.ping().await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // The writer keeps trying until the deadline, on the engine's clock.
    let errors = harness.engine.metrics().store_errors;
    harness.clock.advance(Duration::from_secs(6));
    harness
        .metrics_until("the writer tried again", |m| m.store_errors > errors)
        .await;
    assert!(!shutdown.is_finished());
    harness.clock.advance(Duration::from_secs(5));
    let report = crate::support::within("the shutdown ends", shutdown)
        .await
        .expect("the shutdown task");
    assert_eq!(report.interrupted, 0);
}
