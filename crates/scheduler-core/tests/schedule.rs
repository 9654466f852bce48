//! Every tick fires exactly once, in order, at its instant.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use scheduler_core::Clock;
use scheduler_core::testing::{FakeReply, ManualClock};
use scheduler_core::{
    DeliveryType, EngineConfig, ExecutionStatus, Job, JobId, JobSpec, JobStore, MemoryStore,
    Schedule, TimeZone, Timestamp,
};

use crate::support::{Harness, at, at_millis, config, eventually, spec, t0, within};

/// The expected ticks of `jobs` in `(t0, end]`, grouped by instant.
fn oracle(jobs: &[Job], end: Timestamp) -> BTreeMap<Timestamp, Vec<JobId>> {
    let mut expected: BTreeMap<Timestamp, Vec<JobId>> = BTreeMap::new();
    for job in jobs {
        let mut t = t0();
        while let Some(next) = job.spec.next_fire_after(t).filter(|next| *next <= end) {
            expected.entry(next).or_default().push(job.id);
            t = next;
        }
    }
    expected
}

/// Steps the clock from tick instant to tick instant, waiting at each for its sends, then
/// checks that each expected tick was sent once, at its instant, in order, and stored as
/// succeeded.
async fn run_and_check(harness: &Harness, expected: &BTreeMap<Timestamp, Vec<JobId>>) {
    let total: usize = expected.values().map(Vec::len).sum();
    let mut sent = 0;
    for (instant, jobs) in expected {
        sent += jobs.len();
        harness.advance_to_and_expect_sent(*instant, sent).await;
    }
    let attempts = harness.transport.sent();
    assert_eq!(attempts.len(), total, "no extra sends");
    let mut seen = HashSet::with_capacity(total);
    for (index, attempt) in attempts.iter().enumerate() {
        assert_eq!(
            attempt.sent_at, attempt.scheduled_at,
            "sent at its instant: {attempt:?}"
        );
        assert_eq!(attempt.attempt, 1);
        assert!(
            seen.insert((attempt.job_id, attempt.scheduled_at)),
            "sent twice: {attempt:?}"
        );
        if index > 0 {
            assert!(
                attempts[index - 1].scheduled_at <= attempt.scheduled_at,
                "in order"
            );
        }
    }
    for (instant, jobs) in expected {
        for job in jobs {
            assert!(
                seen.contains(&(*job, *instant)),
                "job {job} tick {instant} never sent"
            );
        }
    }
    let metrics = harness.engine.metrics();
    assert_eq!(metrics.fired, total as u64);
    assert_eq!(metrics.drift.count, total as u64);
    assert_eq!(metrics.drift.max, Duration::ZERO);

    let report = harness.engine.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.interrupted, 0);
    let executions = harness.store.all_executions();
    let finished: Vec<_> = executions
        .iter()
        .filter(|e| e.status == ExecutionStatus::Succeeded)
        .collect();
    assert_eq!(
        finished.len(),
        total,
        "every sent tick is stored as succeeded"
    );
    assert!(
        finished
            .iter()
            .all(|e| e.executed_at == Some(e.scheduled_at) && e.attempts == 1)
    );
    // Ticks claimed ahead of the end stay pending, for the next start.
    assert!(
        executions
            .iter()
            .all(|e| e.status.is_finished() || e.scheduled_at > *expected.keys().last().unwrap())
    );
}

#[tokio::test]
async fn a_month_of_varied_schedules_fires_every_tick_once_in_order_on_time() {
    let harness = Harness::start().await;
    let new_york = TimeZone::get("America/New_York").expect("a zone");
    let paris = TimeZone::get("Europe/Paris").expect("a zone");
    let mut specs: Vec<JobSpec> = [
        "0 0 * * * *",             // hourly: 744 ticks in March
        "0 */15 9-17 * * MON-FRI", // office quarter hours
        "31 10-15 1 * * MON-FRI",  // the product's example
        "0 0 0 L * *",             // last day of the month
        "0 0 12 ? * 2#1",          // first Monday, noon
        "15 30 4 1W * *",          // weekday nearest the 1st
        "@daily",
        "*/20 * 3 * * SUN", // every 20 s during one hour on Sundays
    ]
    .iter()
    .map(|expr| spec(expr, "http://target.test/ok", DeliveryType::AtLeastOnce))
    .collect();
    // Time zones across the March DST changes (US 8 March, EU 29 March).
    let mut new_york_night = spec(
        "0 30 2 * * *",
        "http://target.test/ok",
        DeliveryType::AtMostOnce,
    );
    new_york_night.time_zone = Some(new_york);
    let mut paris_hourly = spec(
        "0 0 * * * *",
        "http://target.test/ok",
        DeliveryType::AtLeastOnce,
    );
    paris_hourly.time_zone = Some(paris);
    specs.extend([new_york_night, paris_hourly]);
    let mut jobs = Vec::new();
    for spec in specs {
        jobs.push(harness.create(spec).await);
    }
    let end = at(31 * 86_400);
    let expected = oracle(&jobs, end);
    assert!(expected.values().map(Vec::len).sum::<usize>() > 2_500);
    run_and_check(&harness, &expected).await;
}

#[tokio::test]
async fn a_hundred_thousand_jobs_fire_every_tick_once_in_order_on_time() {
    // Hourly jobs spread over the 3,600 seconds of an hour; two simulated hours. The jobs are
    // stored before the engine starts, as after a restart.
    let store = Arc::new(MemoryStore::new());
    let mut jobs = Vec::with_capacity(100_000);
    for i in 0..100_000u32 {
        let expr = format!("{} {} * * * *", i % 60, (i / 60) % 60);
        let schedule: Schedule = expr.parse().expect("a valid schedule");
        let spec = JobSpec::new(schedule, "http://target.test/ok", DeliveryType::AtLeastOnce);
        let job = Job {
            id: JobId::new_random(),
            next_fire_at: spec.next_fire_after(t0()),
            spec,
            created_at: t0(),
            updated_at: t0(),
            version: 1,
            done_at: None,
        };
        store.insert_job(job.clone()).await.expect("insert_job");
        jobs.push(job);
    }
    let harness = Harness::start_with(config(), store).await;
    let expected = oracle(&jobs, at(2 * 3_600));
    assert_eq!(expected.values().map(Vec::len).sum::<usize>(), 200_000);
    within("the simulation", run_and_check(&harness, &expected)).await;
}

#[tokio::test]
async fn periodic_claim_passes_fall_half_way_between_whole_seconds() {
    // Cron ticks fall on whole seconds; claims are placed between them, so that a claim pass
    // does not compete with the dispatches of a second's ticks.
    let harness = Harness::start().await;
    harness
        .create(spec(
            "* * * * * *",
            "http://target.test/ok",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    let clock = &harness.clock;
    let control_waits_for =
        |t: Timestamp| sleeper_at(clock, t, "the control task waits for its next claim pass");
    // Started at a whole second: the next pass is at half past, not a whole interval later.
    control_waits_for(at_millis(500)).await;
    harness.clock.advance_to(at_millis(500));
    control_waits_for(at_millis(1_500)).await;
    // A pass that wakes late keeps to the grid.
    harness.clock.advance_to(at_millis(1_700));
    control_waits_for(at_millis(2_500)).await;
    harness.advance_to_and_expect_sent(at(3), 3).await;
    harness.engine.shutdown(Duration::ZERO).await;
}

/// Waits until something (the control task, here) sleeps until `t` on the manual clock.
async fn sleeper_at(clock: &ManualClock, t: Timestamp, what: &str) {
    eventually(what, || clock.has_sleeper_at(t)).await;
}

/// An engine with one attempt slot and three every-minute jobs whose target answers after
/// `answer_after`, with their ticks at 60 s claimed: at 60 s one attempt is in flight and two
/// wait for the slot.
async fn one_slot_and_a_burst_at_a_minute(answer_after: Duration) -> Harness {
    const SLOW: &str = "http://target.test/slow";
    let config = EngineConfig {
        max_in_flight: 1,
        ..config()
    };
    let harness = Harness::start_with(config, Arc::new(MemoryStore::new())).await;
    harness
        .transport
        .script(SLOW, vec![FakeReply::Delayed(200, answer_after)]);
    for _ in 0..3 {
        harness
            .create(spec("0 * * * * *", SLOW, DeliveryType::AtLeastOnce))
            .await;
    }
    harness.clock.advance_to(at_millis(58_500));
    harness
        .metrics_until("the ticks at 60 s claimed", |m| m.claimed == 3)
        .await;
    harness.advance_to_and_expect_sent(at(60), 1).await;
    harness
}

/// [`one_slot_and_a_burst_at_a_minute`] with answers after 2 s (two executions wait for the
/// slot until 62 s), at 60.5 s, where the claim pass due then waits until 60.7 s.
async fn a_claim_pass_waiting_for_a_long_burst() -> Harness {
    let harness = one_slot_and_a_burst_at_a_minute(Duration::from_secs(2)).await;
    harness.clock.advance_to(at_millis(60_500));
    sleeper_at(
        &harness.clock,
        at_millis(60_700),
        "the claim pass waits for the burst",
    )
    .await;
    harness
}

#[tokio::test]
async fn a_periodic_claim_pass_waits_for_the_burst_of_dispatches_to_end() {
    // Each answer takes 100 ms: the three attempts run 60.0-60.1, 60.5-60.6 (the clock jumps
    // past 60.1 to 60.5) and 60.6 on; the last one leaves no execution waiting.
    let harness = one_slot_and_a_burst_at_a_minute(Duration::from_millis(100)).await;
    let clock = &harness.clock;
    // The pass due at 60.5 s finds an execution waiting for the slot, so it waits too: at most
    // until 60.7 s, a fifth of the interval later.
    harness
        .advance_to_and_expect_sent(at_millis(60_500), 2)
        .await;
    sleeper_at(
        clock,
        at_millis(60_700),
        "the claim pass waits for the burst",
    )
    .await;
    assert!(!clock.has_sleeper_at(at_millis(61_500)));
    // At 60.6 s the last attempt starts and nothing waits: the pass runs then, and the next
    // one is due on the grid.
    harness
        .advance_to_and_expect_sent(at_millis(60_600), 3)
        .await;
    sleeper_at(
        clock,
        at_millis(61_500),
        "the pass ran when the burst ended",
    )
    .await;
    assert_eq!(harness.clock.now(), at_millis(60_600));
    harness.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_periodic_claim_pass_waits_for_a_burst_a_fifth_of_the_interval_at_most() {
    let harness = a_claim_pass_waiting_for_a_long_burst().await;
    let clock = &harness.clock;
    harness.clock.advance_to(at_millis(60_699));
    sleeper_at(
        clock,
        at_millis(60_700),
        "still waiting a millisecond before",
    )
    .await;
    assert!(!clock.has_sleeper_at(at_millis(61_500)));
    // At the deadline it runs, though the burst goes on.
    harness.clock.advance_to(at_millis(60_700));
    sleeper_at(clock, at_millis(61_500), "the pass ran at its deadline").await;
    assert_eq!(harness.transport.sent_count(), 1);
    harness.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_shutdown_does_not_wait_for_a_claim_pass_that_waits_for_a_burst() {
    let harness = a_claim_pass_waiting_for_a_long_burst().await;
    // The clock stays at 60.5 s: the engine stops without the pass, and without its deadline.
    let report = within("the shutdown", harness.engine.shutdown(Duration::ZERO)).await;
    assert_eq!(report.interrupted, 1);
    assert_eq!(report.left_for_recovery, 2);
}

#[tokio::test]
async fn every_claim_pass_is_timed() {
    let harness = Harness::start().await;
    let before = harness.engine.metrics().claim_duration.count;
    // The periodic passes fall half-way between whole seconds.
    harness.clock.advance_to(at_millis(1_500));
    harness
        .metrics_until("a claim pass timed", |metrics| {
            metrics.claim_duration.count > before
        })
        .await;
    harness.engine.shutdown(Duration::ZERO).await;
}
