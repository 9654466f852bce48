//! Tick jitter: a jittered tick fires at its nominal instant plus its offset, never before,
//! keeps its nominal instant as its scheduled time, and keeps its offset across restarts.

use std::time::Duration;

use scheduler_core::{
    DeliveryType, EngineConfig, ExecutionStatus, Job, MemoryStore, Timestamp, tick_fire_instant,
};

use crate::support::{Harness, at, config, eventually, spec, within};

const JITTER: Duration = Duration::from_secs(30);

/// A job firing at second 0 of every minute, with its own tick jitter `jitter`.
fn minutely(jitter: Option<Duration>) -> scheduler_core::JobSpec {
    let mut spec = spec(
        "0 * * * * *",
        "http://target.test/jittered",
        DeliveryType::AtLeastOnce,
    );
    spec.tick_jitter = jitter;
    spec
}

/// Moves the clock to the nominal tick `tick` of `job`, checks that the tick waits on the timer
/// for its fire instant `fire` and has not been sent (when `fire` is later), then moves the
/// clock to `fire` and checks that it is sent then, with its nominal instant. `sent` is the
/// number of attempts sent before.
async fn expect_fired_at(
    harness: &Harness,
    job: &Job,
    tick: Timestamp,
    fire: Timestamp,
    sent: usize,
) {
    harness.clock.advance_to(tick);
    if fire > tick {
        let clock = harness.clock.clone();
        eventually(&format!("the tick {tick} waits for {fire}"), || {
            clock.has_sleeper_at(fire)
        })
        .await;
        assert_eq!(
            harness.transport.sent_count(),
            sent,
            "nothing sent before the tick's offset"
        );
    }
    harness.advance_to_and_expect_sent(fire, sent + 1).await;
    let attempt = harness.sent_for(job).pop().expect("an attempt");
    assert_eq!(
        (attempt.scheduled_at, attempt.sent_at),
        (tick, fire),
        "sent at the jittered instant, with the nominal tick as its scheduled time"
    );
}

#[tokio::test]
async fn a_jittered_tick_fires_at_its_offset_with_its_nominal_time() {
    let harness = Harness::start().await;
    let job = harness.create(minutely(Some(JITTER))).await;
    let mut jittered = 0;
    for (n, minute) in (1..=3).enumerate() {
        let tick = at(60 * minute);
        let fire = tick_fire_instant(job.id, &job.spec, tick, Duration::ZERO);
        assert_eq!(fire, harness.engine.tick_fire_instant(&job, tick));
        assert!(fire >= tick && fire < at(60 * minute + 30), "{fire}");
        jittered += usize::from(fire > tick);
        expect_fired_at(&harness, &job, tick, fire, n).await;
    }
    assert!(jittered > 0, "some tick of three had an offset");

    let executions = harness.executions_of(&job);
    let ticks: Vec<Timestamp> = executions.iter().map(|e| e.scheduled_at).collect();
    assert_eq!(
        ticks,
        [at(60), at(120), at(180)],
        "scheduledTime is nominal"
    );
    let metrics = harness.engine.metrics();
    assert_eq!(metrics.drift.count, 3);
    assert_eq!(
        metrics.drift.max,
        Duration::ZERO,
        "jitter is not drift: each tick was sent at its jittered instant"
    );
    harness.engine.shutdown(Duration::from_secs(1)).await;
    assert!(
        harness
            .executions_of(&job)
            .iter()
            .all(|e| e.status == ExecutionStatus::Succeeded)
    );
}

#[tokio::test]
async fn the_server_default_applies_to_jobs_without_jitter_and_zero_turns_it_off() {
    let config = EngineConfig {
        default_tick_jitter: JITTER,
        ..config()
    };
    let harness = Harness::start_with(config, std::sync::Arc::new(MemoryStore::new())).await;
    let defaulted = harness.create(minutely(None)).await;
    let off = harness.create(minutely(Some(Duration::ZERO))).await;
    assert_eq!(harness.engine.tick_fire_instant(&off, at(60)), at(60));

    // The job with no jitter fires at the nominal tick; the other waits for its offset.
    harness.advance_to_and_expect_sent(at(60), 1).await;
    assert_eq!(harness.sent_for(&off).len(), 1);
    let fire = tick_fire_instant(defaulted.id, &defaulted.spec, at(60), JITTER);
    assert_eq!(fire, harness.engine.tick_fire_instant(&defaulted, at(60)));
    if fire > at(60) {
        assert!(harness.sent_for(&defaulted).is_empty());
    }
    harness.advance_to_and_expect_sent(fire, 2).await;
    let attempt = harness.sent_for(&defaulted).pop().expect("an attempt");
    assert_eq!((attempt.scheduled_at, attempt.sent_at), (at(60), fire));
    harness.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_restart_fires_a_claimed_jittered_tick_at_the_same_instant() {
    let mut harness = Harness::start().await;
    // A whole hour of jitter, so that the claimed tick surely waits across the restart.
    let job = harness
        .create(minutely(Some(Duration::from_secs(3_600))))
        .await;
    // The first tick that fires at least five seconds after its nominal instant (the offset
    // stays under the minute to the next tick).
    let (minute, tick, fire) = (1..)
        .map(|minute| {
            let tick = at(60 * minute);
            let fire = tick_fire_instant(job.id, &job.spec, tick, Duration::ZERO);
            (minute, tick, fire)
        })
        .find(|(_, tick, fire)| fire.as_millisecond() - tick.as_millisecond() >= 5_000)
        .expect("a tick with an offset");
    // The ticks before it fire at their own instants.
    for (n, earlier) in (1..minute).enumerate() {
        let earlier = at(60 * earlier);
        let earlier_fire = tick_fire_instant(job.id, &job.spec, earlier, Duration::ZERO);
        expect_fired_at(&harness, &job, earlier, earlier_fire, n).await;
    }
    let sent = harness.transport.sent_count();
    harness.clock.advance_to(tick);
    let clock = harness.clock.clone();
    eventually("the tick waits for its instant", || {
        clock.has_sleeper_at(fire)
    })
    .await;

    // The node stops with the tick claimed and unsent, and comes back before its instant.
    harness.engine.shutdown(Duration::from_secs(1)).await;
    harness.restart().await;
    let clock = harness.clock.clone();
    eventually("the recovered tick waits for the same instant", || {
        clock.has_sleeper_at(fire)
    })
    .await;
    assert_eq!(harness.transport.sent_count(), sent, "not sent at recovery");
    harness.advance_to_and_expect_sent(fire, sent + 1).await;
    let attempt = harness.sent_for(&job).pop().expect("an attempt");
    assert_eq!((attempt.scheduled_at, attempt.sent_at), (tick, fire));
    assert!(
        !attempt.redelivery,
        "its instant had not come when it was recovered: surely not sent before"
    );
    harness.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_manual_trigger_of_a_jittered_job_fires_at_once() {
    let harness = Harness::start().await;
    let job = harness
        .create(minutely(Some(Duration::from_secs(3_600))))
        .await;
    harness.clock.advance_to(at(10));
    harness
        .engine
        .trigger_now(job.id)
        .await
        .expect("trigger_now");
    within("the trigger is sent", harness.transport.wait_for_sent(1)).await;
    let attempt = harness.sent_for(&job).pop().expect("an attempt");
    assert_eq!((attempt.scheduled_at, attempt.sent_at), (at(10), at(10)));
    harness.engine.shutdown(Duration::from_secs(1)).await;
}
