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

/// A job's finished executions before a tick: only `SUCCEEDED` and `FAILED`, only that job's,
/// only strictly earlier ticks, newest first, limited (what a job alert reads).
pub async fn finished_executions_before_skips_other_states(store: &dyn Store) {
    let a = job("* * * * * *", Some(at(0)));
    let b = job("* * * * * *", Some(at(0)));
    insert(store, &a).await;
    insert(store, &b).await;
    let claimed = store
        .claim_due(claim(at(0), 40, 1_000, "node"))
        .await
        .expect("claim_due");
    // Job a, by second: 0-9 succeed, 10-29 are skipped or abandoned but 15 and 20 fail, 30
    // fails, 31 succeeds, 32-40 stay pending. Job b: everything fails.
    let updates: Vec<_> = claimed
        .ticks
        .iter()
        .filter_map(|tick| {
            let mut execution = tick.execution.clone();
            let second = execution.scheduled_at.as_second() - at(0).as_second();
            execution.status = match (execution.job_id == a.id, second) {
                (false, _) => ExecutionStatus::Failed,
                (true, 0..=9 | 31) => ExecutionStatus::Succeeded,
                (true, 15 | 20 | 30) => ExecutionStatus::Failed,
                (true, 10..=19) => ExecutionStatus::Skipped,
                (true, 21..=29) => ExecutionStatus::Abandoned,
                (true, _) => return None,
            };
            Some(execution.to_update())
        })
        .collect();
    store.record_results(updates).await.expect("record_results");
    let before = |tick: i64, limit: usize| async move {
        let found = store
            .finished_executions_before(a.id, at(tick), limit)
            .await
            .expect("finished_executions_before");
        assert!(found.iter().all(|execution| execution.job_id == a.id));
        assert!(found.iter().all(|execution| execution.status.is_outcome()));
        ticks(&found)
    };
    assert_eq!(before(40, 3).await, [at(31), at(30), at(20)]);
    assert_eq!(before(31, 3).await, [at(30), at(20), at(15)]);
    assert_eq!(before(15, 2).await, [at(9), at(8)]);
    assert_eq!(before(2, 5).await, [at(1), at(0)]);
    assert_eq!(before(0, 5).await, []);
    assert_eq!(before(40, 0).await, []);
    assert_eq!(before(40, 100).await.len(), 10 + 3 + 1);
}
