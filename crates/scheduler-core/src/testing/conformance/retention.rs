//! The checks of [`RetentionStore`](crate::RetentionStore): pruning.

use super::*;

/// Retention deletes old and surplus finished executions, never unfinished ones.
pub async fn prune_keeps_unfinished_executions(store: &dyn Store) {
    let job = job("* * * * * *", Some(at(0)));
    insert(store, &job).await;
    let batch = store
        .claim_due(claim(at(0), 9, 100, "a"))
        .await
        .expect("claim_due");
    assert_eq!(batch.ticks.len(), 10);
    // Ticks 0..=7 finish; 8 and 9 stay pending.
    let finished: Vec<_> = batch.ticks[..8]
        .iter()
        .map(|tick| {
            let mut execution = tick.execution.clone();
            execution.status = ExecutionStatus::Succeeded;
            execution.to_update()
        })
        .collect();
    store
        .record_results(finished)
        .await
        .expect("record_results");
    let by_age = RetentionPolicy {
        max_per_job: None,
        max_age: Some(Duration::from_secs(10)),
    };
    // At 12 s, ticks before 2 s are older than 10 s: 0 and 1.
    assert_eq!(store.prune(by_age, at(12)).await.expect("prune"), 2);
    let by_count = RetentionPolicy {
        max_per_job: Some(3),
        max_age: None,
    };
    // Finished left: 2..=7; keep the newest 3 (5, 6, 7).
    assert_eq!(store.prune(by_count, at(12)).await.expect("prune"), 3);
    let left = store
        .job_executions(job.id, 100)
        .await
        .expect("job_executions");
    assert_eq!(ticks(&left), [at(9), at(8), at(7), at(6), at(5)]);
    let old = RetentionPolicy {
        max_per_job: Some(0),
        max_age: Some(Duration::ZERO),
    };
    assert_eq!(store.prune(old, at(100)).await.expect("prune"), 3);
    assert_eq!(
        store
            .job_executions(job.id, 100)
            .await
            .expect("job_executions")
            .len(),
        2
    );
}
