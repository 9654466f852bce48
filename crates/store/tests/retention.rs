//! Pruning runs in small rounds and keeps what the policy keeps.

use std::time::Duration;

use scheduler_core::{
    ClaimRequest, ClaimStore, Execution, ExecutionStatus, ExecutionTrigger, HistoryStore, JobStore,
    RetentionPolicy, RetentionStore, Timestamp,
};
use store::{SqliteConfig, SqliteStore};

use crate::support::{base_time, block_on, job};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(base_time().as_second() + seconds).unwrap()
}

#[test]
fn pruning_in_small_rounds_removes_everything_it_should() {
    let directory = tempfile::tempdir().unwrap();
    let config = SqliteConfig {
        prune_batch: 3,
        ..SqliteConfig::new(directory.path().join("scheduler.db"))
    };
    let store = SqliteStore::open(&config).unwrap();
    block_on(async {
        let job = job(Some(base_time()));
        store.insert_job(job.clone()).await.unwrap();
        let request = ClaimRequest {
            now: base_time(),
            due_before: at(19),
            limit: 100,
            owner: "node-a".to_owned(),
            lease_until: base_time(),
            missed_before: at(-60),
        };
        let claimed = store.claim_due(request).await.unwrap().ticks;
        assert_eq!(claimed.len(), 20);
        // Finish all but the last two ticks.
        let updates = claimed[..18]
            .iter()
            .map(|tick| {
                let mut execution = tick.execution.clone();
                execution.status = ExecutionStatus::Succeeded;
                execution.to_update()
            })
            .collect();
        store.record_results(updates).await.unwrap();

        // Older than 10 s at t = 20 s: ticks 0..=9, all finished.
        let by_age = RetentionPolicy {
            max_age: Some(Duration::from_secs(10)),
            max_per_job: None,
        };
        assert_eq!(store.prune(by_age, at(20)).await.unwrap(), 10);
        // Keep the newest 5 finished: ticks 13..=17 stay, 10..=12 go; 18 and 19 are unfinished.
        let by_count = RetentionPolicy {
            max_age: None,
            max_per_job: Some(5),
        };
        assert_eq!(store.prune(by_count, at(20)).await.unwrap(), 3);
        let left: Vec<i64> = store
            .job_executions(job.id, 100)
            .await
            .unwrap()
            .iter()
            .map(|execution| execution.scheduled_at.as_second() - base_time().as_second())
            .collect();
        assert_eq!(left, vec![19, 18, 17, 16, 15, 14, 13]);
    });
}

/// Retention by count over several jobs, in rounds of three deletions that end in the middle of
/// a job's history and between jobs: each job keeps exactly its newest `KEEP` finished
/// executions and every pending or running one, wherever it lies in its history.
#[test]
fn pruning_by_count_keeps_each_jobs_newest_finished_executions_and_all_unfinished_ones() {
    const KEEP: usize = 4;
    let directory = tempfile::tempdir().unwrap();
    let config = SqliteConfig {
        prune_batch: 3,
        ..SqliteConfig::new(directory.path().join("scheduler.db"))
    };
    let store = SqliteStore::open(&config).unwrap();
    // A status for tick `i` of job `j`: unfinished ones scattered through the histories.
    let status = |j: usize, i: usize| match (i * 7 + j * 3) % 11 {
        0 => ExecutionStatus::Running,
        5 => ExecutionStatus::Pending,
        1 | 6 => ExecutionStatus::Failed,
        2 => ExecutionStatus::Skipped,
        _ => ExecutionStatus::Succeeded,
    };
    block_on(async {
        let mut expected = Vec::new();
        let mut deletions = 0;
        for (j, history) in [0, 1, 4, 5, 9, 12, 30].into_iter().enumerate() {
            let job = job(None);
            store.insert_job(job.clone()).await.unwrap();
            let mut finished_newer = 0;
            let mut kept = Vec::new();
            // Newest first, as the oracle counts.
            for i in (0..history).rev() {
                let mut execution = Execution::pending(
                    job.id,
                    at(i as i64),
                    ExecutionTrigger::Schedule,
                    "node-a",
                    base_time(),
                );
                execution.status = status(j, i);
                store.insert_execution(execution).await.unwrap();
                let unfinished = matches!(
                    status(j, i),
                    ExecutionStatus::Pending | ExecutionStatus::Running
                );
                if unfinished || finished_newer < KEEP {
                    kept.push((i as i64, status(j, i)));
                } else {
                    deletions += 1;
                }
                if !unfinished {
                    finished_newer += 1;
                }
            }
            expected.push((job.id, kept));
        }
        assert!(deletions > 3 * 5, "the prune takes several rounds");

        let policy = RetentionPolicy {
            max_age: None,
            max_per_job: Some(KEEP),
        };
        assert_eq!(store.prune(policy, at(100)).await.unwrap(), deletions);
        for (job_id, kept) in expected {
            let left: Vec<(i64, ExecutionStatus)> = store
                .job_executions(job_id, 100)
                .await
                .unwrap()
                .iter()
                .map(|execution| {
                    (
                        execution.scheduled_at.as_second() - base_time().as_second(),
                        execution.status,
                    )
                })
                .collect();
            assert_eq!(left, kept, "job {job_id}");
        }
        assert_eq!(
            store.prune(policy, at(100)).await.unwrap(),
            0,
            "nothing is left to prune"
        );
    });
}
