//! Tick jitter: a jittered tick fires at its nominal instant plus its offset, never before,
//! keeps its nominal instant as its scheduled time, and keeps its offset across restarts.

use std::sync::Arc;
use std::time::Duration;

use scheduler_core::testing::{FakeTransport, ManualClock};
use scheduler_core::{
    DeliveryType, Engine, EngineConfig, ExecutionStatus, Job, JobId, JobStore, MemoryStore,
    Timestamp, tick_fire_instant,
};

use crate::support::{Harness, at, config, eventually, spec, t0, within};

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
    let harness = Harness::start_with(config, Arc::new(MemoryStore::new())).await;
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

/// Moves the clock a second at a time from `at(first)` to `at(last)`, letting the engines'
/// tasks run between steps (so that no node sees a silence long enough to fence it).
async fn step(clock: &ManualClock, first: i64, last: i64) {
    for second in first..=last {
        clock.advance_to(at(second));
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }
}

/// An engine named `node` on `store`, with a transport of its own.
async fn node(
    node: &str,
    store: Arc<MemoryStore>,
    clock: &Arc<ManualClock>,
) -> (Engine, Arc<FakeTransport>) {
    let transport = Arc::new(FakeTransport::new(clock.clone()));
    let defaults = EngineConfig::default();
    let engine = Engine::builder(store, transport.clone())
        .clock(clock.clone())
        .config(EngineConfig {
            node_id: node.to_owned(),
            lease: defaults.lease,
            heartbeat_interval: defaults.heartbeat_interval,
            ..config()
        })
        .start()
        .await
        .expect("the engine starts");
    (engine, transport)
}

#[tokio::test]
async fn another_node_that_takes_a_jittered_tick_over_fires_it_at_the_same_instant() {
    let clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(MemoryStore::shared());
    // An hourly job whose first tick fires at least a minute after its nominal instant, so
    // that it is still unsent when another node takes it over. The id is chosen for that, so
    // the test does not depend on chance.
    let tick = at(3_600);
    let mut spec = minutely(Some(Duration::from_secs(3_600)));
    spec.schedule = "0 0 * * * *".parse().expect("a schedule");
    let id = (1_u128..)
        .map(|n| JobId(uuid::Uuid::from_u128(n)))
        .find(|id| {
            let fire = tick_fire_instant(*id, &spec, tick, Duration::ZERO);
            fire.as_millisecond() - tick.as_millisecond() >= 60_000
        })
        .expect("an id");
    let job = Job {
        id,
        spec,
        created_at: t0(),
        updated_at: t0(),
        next_fire_at: Some(tick),
        version: 1,
        done_at: None,
    };
    store.insert_job(job.clone()).await.expect("insert_job");
    let fire = tick_fire_instant(job.id, &job.spec, tick, Duration::ZERO);

    // Node A claims the tick ahead of its nominal instant and holds it for its fire instant.
    clock.advance_to(at(3_590));
    let (a, a_transport) = node("node-a", store.clone(), &clock).await;
    step(&clock, 3_591, 3_599).await;
    eventually("node A holds the tick for its instant", || {
        clock.has_sleeper_at(fire)
    })
    .await;
    a.abort();

    // Node B comes up; once A's heartbeat and lease are stale, B takes the tick over.
    let (b, b_transport) = node("node-b", store.clone(), &clock).await;
    step(&clock, 3_600, 3_625).await;
    eventually("node B took the tick over", || {
        store
            .all_executions()
            .iter()
            .any(|e| e.job_id == job.id && e.claimed_by == "node-b")
    })
    .await;
    eventually("node B holds it for the same instant", || {
        clock.has_sleeper_at(fire)
    })
    .await;
    assert_eq!(a_transport.sent_count() + b_transport.sent_count(), 0);

    clock.advance_to(fire);
    within("node B sends the tick", b_transport.wait_for_sent(1)).await;
    let attempt = b_transport.sent().pop().expect("an attempt");
    assert_eq!((attempt.scheduled_at, attempt.sent_at), (tick, fire));
    assert!(
        !attempt.redelivery,
        "its instant had not come: surely never sent"
    );
    assert_eq!(a_transport.sent_count(), 0);
    b.shutdown(Duration::from_secs(1)).await;
}
