//! Late ticks after downtime. On a store of one node, the ticks due before the engine started
//! were due while no scheduler ran: they are missed, however recently they fell due, and
//! follow their job's misfire policy together with the ticks recovered from before the stop.
//! On a shared store only the ticks older than the misfire threshold are missed.

use std::sync::Arc;

use scheduler_core::{
    DeliveryType, ExecutionStatus, Job, JobId, JobStore, MemoryStore, MisfirePolicy,
};

use crate::support::{Harness, at, config, spec, t0};

/// An every-second job with `policy` whose watermark is `watermark`.
fn every_second(policy: MisfirePolicy, watermark: i64) -> Job {
    let mut spec = spec(
        "* * * * * *",
        "http://target.test/ok",
        DeliveryType::AtLeastOnce,
    );
    spec.misfire = policy;
    Job {
        id: JobId::new_random(),
        spec,
        created_at: t0(),
        updated_at: t0(),
        next_fire_at: Some(at(watermark)),
        version: 1,
        done_at: None,
    }
}

/// The three policies' every-second jobs, each owing the ticks from 95 s, stored while no
/// engine runs; then an engine starts at 100 s on `store`.
async fn restart_at_100_owing_five_ticks(store: Arc<MemoryStore>) -> (Harness, [Job; 3]) {
    let mut harness = Harness::start_with(config(), store).await;
    harness.engine.abort();
    let jobs = [
        every_second(MisfirePolicy::FireOnceNow, 95),
        every_second(MisfirePolicy::CatchUp { max: 2 }, 95),
        every_second(MisfirePolicy::SkipToNext, 95),
    ];
    for job in &jobs {
        harness
            .store
            .insert_job(job.clone())
            .await
            .expect("insert_job");
    }
    harness.clock.advance_to(at(100));
    harness.restart().await;
    (harness, jobs)
}

/// The ticks (seconds after `t0`) sent for `job`, in order.
fn ticks_sent(harness: &Harness, job: &Job) -> Vec<i64> {
    harness
        .sent_for(job)
        .iter()
        .map(|sent| sent.scheduled_at.as_second() - t0().as_second())
        .collect()
}

#[tokio::test]
async fn ticks_due_before_the_engine_started_follow_the_misfire_policy() {
    let (harness, [once, catch_up, skip]) =
        restart_at_100_owing_five_ticks(Arc::new(MemoryStore::new())).await;
    // At the start: the latest missed tick (99) once, the latest two, none; then 100.
    harness.advance_to_and_expect_sent(at(100), 2 + 3 + 1).await;
    // Every tick after the start fires, on time.
    harness.advance_to_and_expect_sent(at(101), 6 + 3).await;
    harness.advance_to_and_expect_sent(at(102), 9 + 3).await;
    assert_eq!(ticks_sent(&harness, &once), [99, 100, 101, 102]);
    assert_eq!(ticks_sent(&harness, &catch_up), [98, 99, 100, 101, 102]);
    assert_eq!(ticks_sent(&harness, &skip), [100, 101, 102]);
    // Missed 95..=99 each: 4, 3 and 5 dropped.
    harness
        .metrics_until("misfires counted", |m| m.misfired == 4 + 3 + 5)
        .await;
    assert_eq!(harness.transport.sent_count(), 12);
}

#[tokio::test]
async fn a_shared_store_misses_only_ticks_older_than_the_threshold() {
    let (harness, jobs) = restart_at_100_owing_five_ticks(Arc::new(MemoryStore::shared())).await;
    // Five seconds late is within the ten-second threshold: every tick fires, late.
    harness.advance_to_and_expect_sent(at(100), 3 * 6).await;
    harness.advance_to_and_expect_sent(at(101), 3 * 7).await;
    for job in &jobs {
        assert_eq!(
            ticks_sent(&harness, job),
            [95, 96, 97, 98, 99, 100, 101],
            "{:?}",
            job.spec.misfire
        );
    }
    assert_eq!(harness.engine.metrics().misfired, 0);
}

#[tokio::test]
async fn ticks_claimed_before_a_stop_and_ticks_missed_while_down_are_one_group() {
    let mut harness = Harness::start().await;
    harness.clock.advance_to(at(10));
    let mut once = spec(
        "* * * * * *",
        "http://target.test/ok",
        DeliveryType::AtLeastOnce,
    );
    once.misfire = MisfirePolicy::FireOnceNow;
    // Its creation claims the ticks up to the look-ahead (11 and 12); then the node stops
    // before they come.
    let job = harness.create(once).await;
    let claimed = harness.executions_of(&job).len();
    assert!(claimed >= 2, "{claimed} ticks claimed at creation");
    harness.engine.abort();

    // Down for 5 s, within the threshold: every tick due while down is missed anyway.
    harness.clock.advance_to(at(15));
    harness.restart().await;
    // Of 11..=14 (recovered and owed alike), only 14 fires; then 15 on time.
    harness.advance_to_and_expect_sent(at(15), 2).await;
    harness.advance_to_and_expect_sent(at(16), 3).await;
    assert_eq!(ticks_sent(&harness, &job), [14, 15, 16]);
    harness
        .metrics_until("misfires counted", |m| m.misfired == 3)
        .await;
    let skipped: Vec<i64> = harness
        .executions_of(&job)
        .iter()
        .filter(|e| e.status == ExecutionStatus::Skipped)
        .map(|e| e.scheduled_at.as_second() - t0().as_second())
        .collect();
    // The recovered ticks dropped are recorded skipped; the owed one (13) leaves no execution.
    assert_eq!(skipped, [11, 12]);
}
