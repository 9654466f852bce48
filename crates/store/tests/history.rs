//! The per-job history index: reads, deletions and retention agree whether an execution's
//! entry has been written yet or not, and whichever way the store was configured.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use scheduler_core::{
    ClaimRequest, ClaimStore, Execution, ExecutionQuery, ExecutionStatus, ExecutionTrigger,
    HistoryStore, JobId, JobStore, RetentionPolicy, RetentionStore, Timestamp,
};
use store::{SqliteConfig, SqliteStore};

use crate::support::{base_time, block_on, job};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(base_time().as_second() + seconds).unwrap()
}

fn at_millis(millis: i64) -> Timestamp {
    Timestamp::from_millisecond(base_time().as_millisecond() + millis).unwrap()
}

/// The ticks (milliseconds after `base_time`) and statuses of one job's executions, newest
/// first, as the store reads them.
async fn ticks(store: &SqliteStore, job_id: JobId, limit: usize) -> Vec<(i64, ExecutionStatus)> {
    store
        .job_executions(job_id, limit)
        .await
        .unwrap()
        .iter()
        .map(|execution| {
            (
                execution.scheduled_at.as_millisecond() - base_time().as_millisecond(),
                execution.status,
            )
        })
        .collect()
}

/// Per-job history entries of `job_id`, read from the file on a connection of its own.
fn entries(path: &Path, job_id: JobId) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM job_execution_history WHERE job_id = ?1",
            [job_id.0.to_string()],
            |row| row.get(0),
        )
        .unwrap()
}

/// A store on a new file with `history_interval`; the directory lives as long as the result.
fn open_with_interval(interval: Duration) -> (tempfile::TempDir, PathBuf, SqliteStore) {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    let config = SqliteConfig {
        history_interval: interval,
        ..SqliteConfig::new(&path)
    };
    let store = SqliteStore::open(&config).unwrap();
    (directory, path, store)
}

/// Claims ticks 0..=9 s of each job and finishes the even ones.
async fn claim_ten_seconds(store: &SqliteStore) {
    let request = ClaimRequest {
        now: base_time(),
        due_before: at(9),
        limit: 100_000,
        owner: "node-a".to_owned(),
        lease_until: base_time(),
        missed_before: at(-60),
    };
    let claimed = store.claim_due(request).await.unwrap().ticks;
    let updates = claimed
        .iter()
        .filter(|tick| (tick.execution.scheduled_at.as_second() - base_time().as_second()) % 2 == 0)
        .map(|tick| {
            let mut execution = tick.execution.clone();
            execution.status = ExecutionStatus::Succeeded;
            execution.to_update()
        })
        .collect();
    store.record_results(updates).await.unwrap();
}

#[test]
fn reads_agree_on_both_sides_of_the_watermark_and_deletion_empties_both() {
    // An interval long enough that only the explicit rounds below index anything.
    let (_directory, path, store) = open_with_interval(Duration::from_secs(3600));
    block_on(async {
        let (a, b) = (job(Some(base_time())), job(Some(base_time())));
        store.insert_job(a.clone()).await.unwrap();
        store.insert_job(b.clone()).await.unwrap();
        claim_ten_seconds(&store).await;
        let before = ticks(&store, a.id, 100).await;
        assert_eq!(before.len(), 10);
        assert_eq!(entries(&path, a.id), 0, "claims write no per-job entries");

        // Ticks 0..5 s go into the history table; 5..9 s stay above the watermark.
        assert_eq!(
            store.index_history(at(5)).await.unwrap(),
            10,
            "two jobs, five ticks"
        );
        assert_eq!(entries(&path, a.id), 5);
        assert_eq!(ticks(&store, a.id, 100).await, before);
        for limit in [1, 4, 5, 6, 9] {
            assert_eq!(
                ticks(&store, a.id, limit).await,
                before[..limit],
                "limit {limit}"
            );
        }
        let succeeded = store
            .find_executions(ExecutionQuery {
                job_id: Some(a.id),
                status: Some(ExecutionStatus::Succeeded),
                limit: 100,
            })
            .await
            .unwrap();
        let expected: Vec<i64> = before
            .iter()
            .filter(|(_, status)| *status == ExecutionStatus::Succeeded)
            .map(|(tick, _)| *tick)
            .collect();
        let found: Vec<i64> = succeeded
            .iter()
            .map(|execution| execution.scheduled_at.as_millisecond() - base_time().as_millisecond())
            .collect();
        assert_eq!(found, expected);

        // An execution that arrives below the watermark (a late catch-up) enters at once.
        let late = Execution::pending(
            a.id,
            at_millis(2_500),
            ExecutionTrigger::Manual,
            "node-a",
            base_time(),
        );
        store.insert_execution(late).await.unwrap();
        assert_eq!(entries(&path, a.id), 6);
        let with_late = ticks(&store, a.id, 100).await;
        assert_eq!(with_late.len(), 11);
        assert_eq!(with_late[7], (2_500, ExecutionStatus::Pending));

        // Indexing again is idempotent for what is indexed, and takes the rest.
        store.index_history(at(100)).await.unwrap();
        assert_eq!(entries(&path, a.id), 11);
        assert_eq!(ticks(&store, a.id, 100).await, with_late);

        assert!(store.delete_job(a.id).await.unwrap());
        assert_eq!(ticks(&store, a.id, 100).await, vec![]);
        assert_eq!(entries(&path, a.id), 0, "the trigger removed every entry");
        assert_eq!(
            ticks(&store, b.id, 100).await.len(),
            10,
            "the other job keeps its own"
        );
    });
}

#[test]
fn deleting_a_job_removes_executions_below_and_above_the_watermark() {
    let (_directory, path, store) = open_with_interval(Duration::from_secs(3600));
    block_on(async {
        let a = job(Some(base_time()));
        store.insert_job(a.clone()).await.unwrap();
        claim_ten_seconds(&store).await;
        store.index_history(at(4)).await.unwrap();
        assert!(store.delete_job(a.id).await.unwrap());
        let left: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM job_executions", [], |row| row.get(0))
            .unwrap();
        assert_eq!(left, 0);
        assert_eq!(entries(&path, a.id), 0);
    });
}

#[test]
fn retention_by_count_counts_executions_not_indexed_yet() {
    let store = SqliteStore::open_temporary_with(|config| {
        config.history_interval = Duration::from_secs(3600);
    })
    .unwrap();
    block_on(async {
        let a = job(Some(base_time()));
        store.insert_job(a.clone()).await.unwrap();
        claim_ten_seconds(&store).await;
        store.index_history(at(3)).await.unwrap();
        let before = ticks(&store, a.id, 100).await;
        // Finished: 0, 2, 4, 6, 8 s. Keep the newest two finished (6 and 8 s) and every
        // unfinished one; 0, 2 and 4 s go, on both sides of the watermark.
        let policy = RetentionPolicy {
            max_age: None,
            max_per_job: Some(2),
        };
        assert_eq!(store.prune(policy, at(10)).await.unwrap(), 3);
        let expected: Vec<_> = before
            .into_iter()
            .filter(|(tick, _)| ![0, 2_000, 4_000].contains(tick))
            .collect();
        assert_eq!(ticks(&store, a.id, 100).await, expected);
    });
}

#[test]
fn reopening_with_another_interval_keeps_every_execution_readable() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    let batched = SqliteConfig {
        history_interval: Duration::from_secs(3600),
        ..SqliteConfig::new(&path)
    };
    let at_insert = SqliteConfig {
        history_interval: Duration::ZERO,
        ..SqliteConfig::new(&path)
    };
    let a = job(Some(base_time()));
    let expected = {
        let store = SqliteStore::open(&batched).unwrap();
        block_on(async {
            store.insert_job(a.clone()).await.unwrap();
            claim_ten_seconds(&store).await;
            store.index_history(at(5)).await.unwrap();
            ticks(&store, a.id, 100).await
        })
    };
    assert_eq!(entries(&path, a.id), 5);
    {
        // Indexing at insert: what was above the watermark is indexed on opening.
        let store = SqliteStore::open(&at_insert).unwrap();
        assert_eq!(entries(&path, a.id), 10);
        let late = Execution::pending(
            a.id,
            at_millis(20_000),
            ExecutionTrigger::Manual,
            "node-a",
            base_time(),
        );
        block_on(store.insert_execution(late)).unwrap();
        assert_eq!(entries(&path, a.id), 11, "entered as it was inserted");
        assert_eq!(block_on(ticks(&store, a.id, 100))[1..], expected[..]);
    }
    // Batched again: reads are the same, and the next execution waits for a round.
    let store = SqliteStore::open(&batched).unwrap();
    let read = block_on(ticks(&store, a.id, 100));
    assert_eq!(read.len(), 11);
    assert_eq!(read[1..], expected[..]);
    let later = Execution::pending(
        a.id,
        at_millis(30_000),
        ExecutionTrigger::Manual,
        "node-a",
        base_time(),
    );
    block_on(store.insert_execution(later)).unwrap();
    assert_eq!(entries(&path, a.id), 11);
    assert_eq!(block_on(ticks(&store, a.id, 100)).len(), 12);
}

#[test]
fn the_store_indexes_the_history_by_itself_every_interval() {
    let (_directory, path, store) = open_with_interval(Duration::from_millis(20));
    let a = job(Some(base_time()));
    block_on(async {
        store.insert_job(a.clone()).await.unwrap();
        claim_ten_seconds(&store).await;
    });
    // The ticks are long past by the clock, so the store's own rounds take them all in. Wait for
    // that condition, with a deadline far beyond a few rounds.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while entries(&path, a.id) < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "the history thread indexed {} of 10 executions",
            entries(&path, a.id)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(block_on(ticks(&store, a.id, 100)).len(), 10);
}

#[test]
fn a_window_larger_than_one_read_chunk_is_indexed_whole() {
    let (_directory, path, store) = open_with_interval(Duration::from_secs(3600));
    // 450 jobs with ten ticks each: 4,500 executions, three chunks (2,000 each) of the
    // round's reads and writes, with the chunk boundaries inside one tick's executions.
    let jobs: Vec<_> = (0..450).map(|_| job(Some(base_time()))).collect();
    let read = block_on(async {
        for job in &jobs {
            store.insert_job(job.clone()).await.unwrap();
        }
        claim_ten_seconds(&store).await;
        store.index_history(at(100)).await.unwrap()
    });
    assert_eq!(read, 4_500);
    let total: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT count(*) FROM job_execution_history", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(total, 4_500);
    for job in jobs.iter().step_by(41) {
        assert_eq!(entries(&path, job.id), 10);
    }
}
