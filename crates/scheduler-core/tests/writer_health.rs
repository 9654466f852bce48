//! The engine's view of whether its writes reach the store, with nothing flowing: an idle node's
//! heartbeat shows a store that fails writes, a write stuck in it, or a panic in it; and a store
//! whose result write panics fails that call alone, while the writer goes on and writes the
//! results.

use std::sync::Arc;
use std::time::Duration;

use scheduler_core::{DeliveryType, EngineConfig, ExecutionStatus, MemoryStore};

use crate::faulty_store::FaultyStore;
use crate::support::{Harness, at, config, eventually, spec};

const OK: &str = "http://target.test/ok";

/// A heartbeat every 3 s, and nothing else scheduled.
async fn idle_harness() -> (Harness, Arc<FaultyStore>) {
    let memory = Arc::new(MemoryStore::new());
    let faulty = Arc::new(FaultyStore::new(memory.clone()));
    let config = EngineConfig {
        lease: Duration::from_secs(30),
        heartbeat_interval: Duration::from_secs(3),
        ..config()
    };
    let harness = Harness::start_on(config, memory, faulty.clone()).await;
    (harness, faulty)
}

/// The cause of the heartbeat's failure, if it fails.
fn heartbeat_failure(harness: &Harness) -> Option<String> {
    harness
        .engine
        .store_status()
        .heartbeat
        .map(|failure| failure.cause)
}

#[tokio::test]
async fn an_idle_node_whose_store_fails_writes_reports_it_through_its_heartbeat() {
    let (harness, store) = idle_harness().await;
    assert_eq!(harness.engine.store_status().failure(), None);
    store.fail_writes(true);
    harness.clock.advance_to(at(3));
    eventually("the heartbeat fails", || {
        heartbeat_failure(&harness).is_some_and(|cause| cause.contains("disk is full"))
    })
    .await;
    let status = harness.engine.store_status();
    assert_eq!(
        status.heartbeat.as_ref().map(|failure| failure.since),
        Some(at(3))
    );
    assert!(
        status.results.is_none(),
        "no result was written: {status:?}"
    );

    store.fail_writes(false);
    harness.clock.advance_to(at(6));
    eventually("the next heartbeat succeeds", || {
        harness.engine.store_status().failure().is_none()
    })
    .await;
    harness.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_heartbeat_stuck_in_the_store_shows_after_two_intervals_until_it_completes() {
    let (harness, store) = idle_harness().await;
    store.hold_heartbeats(true);
    harness.clock.advance_to(at(3));
    // The heartbeat begun at 3 s waits in the store; it counts as stuck at 9 s.
    eventually("the heartbeat waits for its bound", || {
        harness.clock.has_sleeper_at(at(9))
    })
    .await;
    assert_eq!(harness.engine.store_status().failure(), None);
    harness.clock.advance_to(at(9));
    eventually("the stuck heartbeat is reported", || {
        heartbeat_failure(&harness).is_some_and(|cause| cause.contains("has not completed"))
    })
    .await;

    store.hold_heartbeats(false);
    eventually("the heartbeat completes", || {
        harness.engine.store_status().failure().is_none()
    })
    .await;
    harness.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_heartbeat_that_panics_in_the_store_fails_and_the_next_one_is_made() {
    let (harness, store) = idle_harness().await;
    store.panic_in_heartbeats(true);
    harness.clock.advance_to(at(3));
    eventually("the heartbeat fails", || {
        heartbeat_failure(&harness).is_some_and(|cause| cause.contains("the store panicked"))
    })
    .await;
    harness.engine.ping().await.expect("the engine runs on");

    store.panic_in_heartbeats(false);
    harness.clock.advance_to(at(6));
    eventually("the next heartbeat succeeds", || {
        harness.engine.store_status().failure().is_none()
    })
    .await;
    harness.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_store_that_panics_in_a_result_write_fails_that_call_and_the_writer_goes_on() {
    let memory = Arc::new(MemoryStore::new());
    let faulty = Arc::new(FaultyStore::new(memory.clone()));
    let harness = Harness::start_on(config(), memory, faulty.clone()).await;
    let job = harness
        .create(spec("* * * * * *", OK, DeliveryType::AtLeastOnce))
        .await;
    // One panic as the call is made, then one as it is polled.
    faulty.panic_in_results(2);
    harness.advance_to_and_expect_sent(at(1), 1).await;
    harness
        .metrics_until("the first call failed", |m| m.store_errors == 1)
        .await;
    let failure = harness.engine.store_status().results.expect("results fail");
    assert!(
        failure.cause.contains("the store panicked"),
        "the panic is the cause: {failure:?}"
    );
    harness.engine.ping().await.expect("the engine runs on");

    // The writer tries again after its backoff (50 ms, then 100 ms), on the engine's clock.
    harness.clock.advance(Duration::from_millis(50));
    harness
        .metrics_until("the second call failed", |m| m.store_errors == 2)
        .await;
    harness.clock.advance(Duration::from_millis(100));
    eventually("the result is written", || {
        harness
            .executions_of(&job)
            .iter()
            .any(|e| e.scheduled_at == at(1) && e.status == ExecutionStatus::Succeeded)
    })
    .await;
    harness
        .metrics_until("nothing waits for the writer", |m| m.results_unwritten == 0)
        .await;
    assert_eq!(harness.engine.store_status().failure(), None);
    harness.engine.ping().await.expect("the engine runs on");

    // Later results are written as usual.
    harness.advance_to_and_expect_sent(at(2), 2).await;
    eventually("the next result is written", || {
        harness
            .executions_of(&job)
            .iter()
            .any(|e| e.scheduled_at == at(2) && e.status == ExecutionStatus::Succeeded)
    })
    .await;
    let at_one: Vec<ExecutionStatus> = harness
        .executions_of(&job)
        .iter()
        .filter(|e| e.scheduled_at == at(1))
        .map(|e| e.status)
        .collect();
    assert_eq!(at_one, [ExecutionStatus::Succeeded], "recorded once");
    assert_eq!(harness.engine.metrics().store_errors, 2);
    harness.engine.shutdown(Duration::ZERO).await;
}
