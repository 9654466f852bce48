//! Retention runs in the background on its own task and keeps what the policy keeps.

use std::sync::Arc;
use std::time::Duration;

use scheduler_core::{DeliveryType, MemoryStore, RetentionPolicy};

use crate::support::{Harness, at, config, eventually, spec};

#[tokio::test]
async fn retention_prunes_finished_history_in_the_background() {
    let config = scheduler_core::EngineConfig {
        retention: Some(RetentionPolicy {
            max_per_job: Some(3),
            max_age: None,
        }),
        prune_interval: Duration::from_secs(20),
        ..config()
    };
    let harness = Harness::start_with(config, Arc::new(MemoryStore::new())).await;
    let job = harness
        .create(spec(
            "* * * * * *",
            "http://target.test/ok",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    // Ticks 1..=8 fire and finish before the first prune (due at 20 s).
    harness.advance_to_and_expect_sent(at(8), 8).await;
    harness
        .metrics_until("eight results", |metrics| metrics.succeeded == 8)
        .await;
    assert_eq!(
        harness
            .executions_of(&job)
            .iter()
            .filter(|e| e.status.is_finished())
            .count(),
        8
    );
    harness.engine.pause_job(job.id).await.expect("pause");
    // Ticks claimed before the pause come due and are recorded as skipped.
    harness.clock.advance_to(at(12));
    eventually("the claimed ticks settled", || {
        harness
            .executions_of(&job)
            .iter()
            .all(|e| e.status.is_finished())
    })
    .await;
    assert!(harness.executions_of(&job).len() > 3);

    // The prune at 20 s keeps the newest three finished executions of the job.
    harness.clock.advance_to(at(20));
    eventually("the prune", || {
        harness
            .executions_of(&job)
            .iter()
            .filter(|e| e.status.is_finished())
            .count()
            == 3
    })
    .await;
    let kept: Vec<_> = harness
        .executions_of(&job)
        .iter()
        .map(|e| e.scheduled_at)
        .collect();
    let finished_ticks: Vec<_> = harness
        .executions_of(&job)
        .iter()
        .filter(|e| e.status.is_finished())
        .map(|e| e.scheduled_at)
        .collect();
    assert_eq!(finished_ticks.len(), 3);
    // Nothing older than a kept finished tick survives, except unfinished ones (none here).
    assert!(
        kept.iter().all(|tick| *tick >= finished_ticks[0]),
        "{kept:?}"
    );
}
