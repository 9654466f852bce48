//! Pruning runs in small rounds and keeps what the policy keeps.

use std::time::Duration;

use scheduler_core::{
    ClaimRequest, ExecutionStatus, ExecutionStore, JobStore, RetentionPolicy, Timestamp,
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
            misfire_threshold: Duration::from_secs(60),
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
