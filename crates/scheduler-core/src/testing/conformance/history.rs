//! The checks of [`HistoryStore`](crate::HistoryStore): listings of executions.

use super::*;

/// Per-job and recent histories are newest first and limited.
pub async fn histories_are_newest_first(store: &dyn Store) {
    let a = job("* * * * * *", Some(at(0)));
    let b = job("*/2 * * * * *", Some(at(0)));
    insert(store, &a).await;
    insert(store, &b).await;
    store
        .claim_due(claim(at(0), 5, 100, "a"))
        .await
        .expect("claim_due");
    let of_a = store.job_executions(a.id, 4).await.expect("job_executions");
    assert_eq!(ticks(&of_a), [at(5), at(4), at(3), at(2)]);
    assert!(of_a.iter().all(|execution| execution.job_id == a.id));
    let recent = store.recent_executions(3).await.expect("recent_executions");
    assert_eq!(recent.len(), 3);
    assert!(
        recent
            .windows(2)
            .all(|pair| pair[0].scheduled_at >= pair[1].scheduled_at)
    );
    assert_eq!(recent[0].scheduled_at, at(5));
    assert_eq!(
        store
            .recent_executions(100)
            .await
            .expect("recent_executions")
            .len(),
        6 + 3
    );
}

/// Execution queries filter by job and by status, newest first.
pub async fn find_executions_filters_by_job_and_status(store: &dyn Store) {
    let a = job("* * * * * *", Some(at(0)));
    let b = job("* * * * * *", Some(at(0)));
    insert(store, &a).await;
    insert(store, &b).await;
    let claimed = store
        .claim_due(claim(at(0), 3, 100, "node"))
        .await
        .expect("claim_due");
    // Every other execution of each job fails; the rest stay pending.
    let updates: Vec<_> = claimed
        .ticks
        .iter()
        .filter(|tick| tick.execution.scheduled_at.as_second() % 2 == 0)
        .map(|tick| {
            let mut execution = tick.execution.clone();
            execution.status = ExecutionStatus::Failed;
            execution.to_update()
        })
        .collect();
    store.record_results(updates).await.expect("record_results");
    let query = |job_id, status, limit| ExecutionQuery {
        job_id,
        status,
        limit,
    };
    let failed_of_a = store
        .find_executions(query(Some(a.id), Some(ExecutionStatus::Failed), 100))
        .await
        .expect("find_executions");
    assert_eq!(ticks(&failed_of_a), [at(2), at(0)]);
    assert!(failed_of_a.iter().all(|execution| execution.job_id == a.id));
    let pending = store
        .find_executions(query(None, Some(ExecutionStatus::Pending), 100))
        .await
        .expect("find_executions");
    assert_eq!(pending.len(), 4);
    assert!(
        pending
            .iter()
            .all(|execution| execution.status == ExecutionStatus::Pending)
    );
    assert_eq!(ticks(&pending)[..2], [at(3), at(3)]);
    let newest_failed = store
        .find_executions(query(None, Some(ExecutionStatus::Failed), 1))
        .await
        .expect("find_executions");
    assert_eq!(ticks(&newest_failed), [at(2)]);
    let failed = store
        .find_executions(query(None, Some(ExecutionStatus::Failed), 100))
        .await
        .expect("find_executions");
    assert_eq!(ticks(&failed), [at(2), at(2), at(0), at(0)]);
    assert!(
        failed
            .windows(2)
            .all(|pair| (pair[0].scheduled_at, pair[0].id) > (pair[1].scheduled_at, pair[1].id)),
        "newest tick first, then the greater id"
    );
    assert_eq!(newest_failed[0].id, failed[0].id);
    assert!(
        store
            .find_executions(query(Some(b.id), Some(ExecutionStatus::Succeeded), 100))
            .await
            .expect("find_executions")
            .is_empty()
    );
}
