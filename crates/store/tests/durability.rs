//! What a completed write survives: reopening, and a crash in the middle of a batch.

use std::io::Write;
use std::process::Command;
use std::sync::Arc;

use scheduler_core::{
    ClaimRequest, ClaimStore, ExecutionStatus, ExecutionUpdate, HistoryStore, JobId, JobStore,
    RecoveryStore, Timestamp,
};
use store::{SqliteConfig, SqliteStore};

use crate::support::{base_time, block_on, job};

/// The environment variable that turns [`crash_child`] into the crashing writer.
const CRASH_CHILD_DB: &str = "STORE_TEST_CRASH_CHILD_DB";
/// Writes the child acknowledges before it aborts; many more are in flight at that moment.
const ACKNOWLEDGED_BEFORE_ABORT: usize = 300;

/// Not a test of its own: when [`a_crash_mid_batch_loses_nothing_acknowledged`] runs this test
/// binary again with `STORE_TEST_CRASH_CHILD_DB` set, this is the child that writes and aborts.
/// Without the variable it returns at once.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CRASH_CHILD_DB) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Arc::new(SqliteStore::open(&SqliteConfig::new(&path)).unwrap());
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..5_000 {
            let store = Arc::clone(&store);
            let sender = sender.clone();
            tokio::spawn(async move {
                let job = job(Some(base_time()));
                if store.insert_job(job.clone()).await.is_ok() {
                    let _ = sender.send(job.id);
                }
            });
        }
        let mut out = std::io::stdout().lock();
        for _ in 0..ACKNOWLEDGED_BEFORE_ABORT {
            let id = receiver.recv().await.unwrap();
            writeln!(out, "acknowledged {}", id.0).unwrap();
            out.flush().unwrap();
        }
        // Die like a killed process: no destructors, batches still queued and in flight.
        std::process::abort();
    });
}

#[test]
fn a_crash_mid_batch_loses_nothing_acknowledged() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "durability::crash_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_DB, &path)
        .output()
        .expect("the test binary runs as the crashing child");
    assert!(!output.status.success(), "the child must die by abort");
    let acknowledged: Vec<JobId> = String::from_utf8_lossy(&output.stdout)
        .lines()
        // libtest prints "test ... " before the child's first line, so look inside lines.
        .filter_map(|line| line.split("acknowledged ").nth(1))
        .map(|id| JobId(id.parse().unwrap()))
        .collect();
    assert_eq!(
        acknowledged.len(),
        ACKNOWLEDGED_BEFORE_ABORT,
        "child stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );

    let store =
        SqliteStore::open(&SqliteConfig::new(&path)).expect("the database reopens after the crash");
    block_on(async {
        for id in &acknowledged {
            let stored = store
                .get_job(*id)
                .await
                .unwrap()
                .expect("an acknowledged write survives the crash");
            let mut expected = job(Some(base_time()));
            expected.id = *id;
            assert_eq!(stored, expected, "the job is whole");
        }
        // Whatever else made it in is whole too: every row decodes.
        let all = store.list_jobs(None, 10_000).await.unwrap();
        assert!(all.len() >= acknowledged.len() && all.len() <= 5_000);
    });
}

#[test]
fn concurrent_writes_are_grouped_and_all_land() {
    let store = Arc::new(SqliteStore::open_temporary().unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let job = job(Some(base_time()));
        store.insert_job(job.clone()).await.unwrap();
        let request = ClaimRequest {
            now: base_time(),
            due_before: Timestamp::from_second(base_time().as_second() + 1999).unwrap(),
            limit: 10_000,
            owner: "node-a".to_owned(),
            lease_until: base_time(),
            missed_before: Timestamp::from_second(base_time().as_second() - 60).unwrap(),
        };
        let claimed = store.claim_due(request).await.unwrap();
        assert_eq!(claimed.ticks.len(), 2000);
        let mut tasks = Vec::new();
        for tick in claimed.ticks {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                let mut execution = tick.execution;
                execution.status = ExecutionStatus::Succeeded;
                execution.attempts = 1;
                execution.http_status = Some(200);
                let update: ExecutionUpdate = execution.to_update();
                store.record_results(vec![update]).await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let history = store.job_executions(job.id, 5000).await.unwrap();
        assert_eq!(history.len(), 2000);
        assert!(
            history
                .iter()
                .all(|execution| execution.status == ExecutionStatus::Succeeded)
        );
        assert!(
            store
                .unfinished_executions("node-a")
                .await
                .unwrap()
                .is_empty()
        );
    });
}
