//! A database written by the original system opens, upgrades in place, loses nothing, and its
//! jobs fire.

use rusqlite::{Connection, params};
use scheduler_core::{
    ClaimStore, Execution, ExecutionStatus, ExecutionTrigger, HistoryStore, JobId, JobStore,
    NextFire,
};
use store::{SqliteConfig, SqliteStore};
use uuid::Uuid;

use crate::support::block_on;

/// The original system's schema, as its architecture document gives it.
const ORIGINAL_SCHEMA: &str = "
CREATE TABLE jobs (
  id TEXT PRIMARY KEY, schedule TEXT NOT NULL, api TEXT NOT NULL, type TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, active INTEGER DEFAULT 1
);
CREATE TABLE job_executions (
  id TEXT PRIMARY KEY, job_id TEXT NOT NULL, scheduled_time INTEGER NOT NULL, executed_time INTEGER,
  status TEXT NOT NULL, http_status INTEGER, duration INTEGER, error_message TEXT,
  retry_count INTEGER DEFAULT 0, FOREIGN KEY (job_id) REFERENCES jobs(id)
);
CREATE INDEX idx_job_executions_job_id ON job_executions(job_id);
CREATE INDEX idx_job_executions_scheduled_time ON job_executions(scheduled_time);
CREATE INDEX idx_jobs_active ON jobs(active);
";

#[test]
fn an_original_database_upgrades_in_place() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    let job_id = Uuid::new_v4();
    let broken_job_id = Uuid::new_v4();
    let paused_job_id = Uuid::new_v4();
    let (first, second, duplicate) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    {
        let connection = Connection::open(&path).unwrap();
        connection.execute_batch(ORIGINAL_SCHEMA).unwrap();
        let insert_job = "INSERT INTO jobs (id, schedule, api, type, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)";
        connection
            .execute(
                insert_job,
                params![
                    job_id.to_string(),
                    "31 10-15 1 * * MON-FRI",
                    "http://127.0.0.1:9/a",
                    "ATLEAST_ONCE",
                    1_700_000_000_000_i64
                ],
            )
            .unwrap();
        connection
            .execute(
                insert_job,
                params![
                    broken_job_id.to_string(),
                    "not a schedule",
                    "http://127.0.0.1:9/b",
                    "ATMOST_ONCE",
                    1_700_000_000_000_i64
                ],
            )
            .unwrap();
        // The original system paused a job with `active = 0`.
        connection
            .execute(
                "INSERT INTO jobs (id, schedule, api, type, created_at, updated_at, active) \
                 VALUES (?1, '0 * * * * *', 'http://127.0.0.1:9/c', 'ATLEAST_ONCE', ?2, ?2, 0)",
                params![paused_job_id.to_string(), 1_700_000_000_000_i64],
            )
            .unwrap();
        let insert_execution = "INSERT INTO job_executions (id, job_id, scheduled_time, executed_time, status, http_status, duration, retry_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
        for (id, tick, status) in [
            (first, 1_700_000_031_000_i64, "SUCCESS"),
            (second, 1_700_000_091_000, "FAILED"),
            (duplicate, 1_700_000_091_000, "FAILED"),
        ] {
            connection
                .execute(
                    insert_execution,
                    params![
                        id.to_string(),
                        job_id.to_string(),
                        tick,
                        tick + 12,
                        status,
                        500,
                        40,
                        2
                    ],
                )
                .unwrap();
        }
    }

    let store = SqliteStore::open(&SqliteConfig::new(&path)).expect("the original database opens");
    block_on(async {
        let job = store
            .get_job(JobId(job_id))
            .await
            .unwrap()
            .expect("the job survived");
        assert_eq!(
            job.spec.schedule.cron().map(ToString::to_string).as_deref(),
            Some("31 10-15 1 * * MON-FRI")
        );
        assert_eq!(
            (job.spec.start_at, job.spec.end_at, job.done_at),
            (None, None, None),
            "an old row is an unbounded recurring job, not done"
        );
        assert!(!job.spec.delete_after_run);
        assert_eq!(job.spec.target_url, "http://127.0.0.1:9/a");
        assert_eq!(job.version, 1);
        assert!(!job.spec.paused);
        let next = job
            .next_fire_at
            .expect("the upgrade gave the job a watermark");
        assert!(job.spec.fires_at(next));

        // A job whose schedule this version cannot read is moved aside, not lost, and does not
        // break listing.
        assert_eq!(store.get_job(JobId(broken_job_id)).await.unwrap(), None);
        assert_eq!(store.list_jobs(None, 10).await.unwrap().len(), 2);
        let paused = store.get_job(JobId(paused_job_id)).await.unwrap().unwrap();
        assert!(paused.spec.paused);
        let counts = store.count_jobs().await.unwrap();
        assert_eq!((counts.active, counts.paused), (1, 1));

        let history = store.job_executions(JobId(job_id), 10).await.unwrap();
        assert_eq!(
            history.len(),
            2,
            "one row per tick; the duplicate moved aside"
        );
        assert_eq!(history[0].status, ExecutionStatus::Failed);
        assert_eq!(history[0].attempts, 3, "retry_count 2 means three attempts");
        assert_eq!(history[1].id.0, first);
        assert_eq!(history[1].status, ExecutionStatus::Succeeded);
        assert_eq!(history[1].http_status, Some(500));
    });
    drop(store);

    let connection = Connection::open(&path).unwrap();
    let moved: String = connection
        .query_row("SELECT id FROM job_executions_duplicates", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert!(moved == duplicate.to_string() || moved == second.to_string());
    let unreadable: String = connection
        .query_row("SELECT schedule FROM jobs_unreadable", [], |row| row.get(0))
        .unwrap();
    assert_eq!(unreadable, "not a schedule");
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 15);
    // Version 9: every execution kept counts no re-send.
    let redeliveries: i64 = connection
        .query_row("SELECT sum(redeliveries) FROM job_executions", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(redeliveries, 0);
    // Every job has a revision of its own.
    let revisions: (i64, i64) = connection
        .query_row(
            "SELECT count(*), count(DISTINCT revision) FROM jobs",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(revisions, (2, 2));
    let entries: i64 = connection
        .query_row("SELECT count(*) FROM job_execution_history", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(
        entries, 2,
        "every execution kept has its per-job history entry"
    );
}

/// Version 9 adds the count of re-sends after a crash: an execution stored at version 8 reads
/// as re-sent never, and takes a count afterwards.
#[test]
fn a_version_8_database_gains_the_count_of_resends() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    let job = crate::support::job(Some(crate::support::base_time()));
    let execution = Execution::pending(
        job.id,
        crate::support::base_time(),
        ExecutionTrigger::Schedule,
        "local",
        crate::support::base_time(),
    );
    {
        let store = SqliteStore::open(&SqliteConfig::new(&path)).unwrap();
        block_on(store.insert_job(job.clone())).unwrap();
        block_on(store.insert_execution(execution.clone())).unwrap();
    }
    {
        // Back to version 8, as that version wrote it.
        let connection = Connection::open(&path).unwrap();
        connection
            .execute_batch(
                "ALTER TABLE job_executions DROP COLUMN redeliveries; DROP TABLE api_tokens; \
                 ALTER TABLE jobs DROP COLUMN tick_jitter_ms; ALTER TABLE jobs DROP COLUMN signing_secret; ALTER TABLE jobs DROP COLUMN alert; ALTER TABLE jobs DROP COLUMN previous_signing_secret; PRAGMA user_version = 8;",
            )
            .unwrap();
        connection.execute_batch(DROP_ONE_OFF_COLUMNS).unwrap();
        connection
            .execute_batch("PRAGMA user_version = 8;")
            .unwrap();
    }
    let store = SqliteStore::open(&SqliteConfig::new(&path)).expect("a version 8 database opens");
    let stored = block_on(store.get_execution(execution.id))
        .unwrap()
        .expect("the execution survived");
    assert_eq!(stored, execution);
    assert_eq!(stored.redeliveries, 0);
    let mut resent = stored.clone();
    resent.status = ExecutionStatus::Running;
    resent.attempts = 1;
    resent.redeliveries = 1;
    block_on(store.record_results(vec![resent.to_update()])).unwrap();
    let stored = block_on(store.get_execution(execution.id))
        .unwrap()
        .unwrap();
    assert_eq!((stored.attempts, stored.redeliveries), (1, 1));
    drop(store);
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 15);
}

#[test]
fn a_migrated_database_reopens_without_migrating_again() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    let job = crate::support::job(Some(crate::support::base_time()));
    {
        let store = SqliteStore::open(&SqliteConfig::new(&path)).unwrap();
        block_on(store.insert_job(job.clone())).unwrap();
    }
    let store = SqliteStore::open(&SqliteConfig::new(&path)).unwrap();
    assert_eq!(block_on(store.get_job(job.id)).unwrap(), Some(job));
}

/// Version 10 adds the API tokens' table: a version 9 database (every job kept) opens with no
/// token, and keeps the tokens stored after.
#[test]
fn a_version_9_database_gains_the_tokens_table() {
    use scheduler_core::{StoredToken, TokenScope, TokenStore};

    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    let job = crate::support::job(Some(crate::support::base_time()));
    {
        let store = SqliteStore::open(&SqliteConfig::new(&path)).unwrap();
        block_on(store.insert_job(job.clone())).unwrap();
    }
    {
        // Back to version 9, as that version wrote it.
        let connection = Connection::open(&path).unwrap();
        connection
            .execute_batch(
                "DROP TABLE api_tokens; ALTER TABLE jobs DROP COLUMN tick_jitter_ms; ALTER TABLE jobs DROP COLUMN signing_secret; ALTER TABLE jobs DROP COLUMN alert; ALTER TABLE jobs DROP COLUMN previous_signing_secret; \
                 PRAGMA user_version = 9;",
            )
            .unwrap();
        connection.execute_batch(DROP_ONE_OFF_COLUMNS).unwrap();
        connection
            .execute_batch("PRAGMA user_version = 9;")
            .unwrap();
    }
    let store = SqliteStore::open(&SqliteConfig::new(&path)).expect("a version 9 database opens");
    assert_eq!(block_on(store.get_job(job.id)).unwrap(), Some(job));
    assert!(!block_on(store.has_tokens()).unwrap());
    let token = StoredToken {
        id: "0123456789abcdef".to_owned(),
        name: None,
        scope: TokenScope::Read,
        secret_hash: [7; 32],
        created_at: crate::support::base_time(),
        revoked_at: None,
    };
    block_on(store.insert_token(token.clone())).unwrap();
    drop(store);
    let store = SqliteStore::open(&SqliteConfig::new(&path)).unwrap();
    assert_eq!(block_on(store.find_token(&token.id)).unwrap(), Some(token));
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 15);
}

/// Version 11 adds jobs' own signing secrets: a version 10 database keeps its jobs, without one,
/// and stores one after.
#[test]
fn a_version_10_database_gains_job_signing_secrets() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    let job = crate::support::job(Some(crate::support::base_time()));
    {
        let store = SqliteStore::open(&SqliteConfig::new(&path)).unwrap();
        block_on(store.insert_job(job.clone())).unwrap();
    }
    {
        // Back to version 10, as that version wrote it.
        let connection = Connection::open(&path).unwrap();
        connection
            .execute_batch("ALTER TABLE jobs DROP COLUMN tick_jitter_ms; ALTER TABLE jobs DROP COLUMN signing_secret; ALTER TABLE jobs DROP COLUMN alert; ALTER TABLE jobs DROP COLUMN previous_signing_secret; PRAGMA user_version = 10;")
            .unwrap();
        connection.execute_batch(DROP_ONE_OFF_COLUMNS).unwrap();
        connection
            .execute_batch("PRAGMA user_version = 10;")
            .unwrap();
    }
    let store = SqliteStore::open(&SqliteConfig::new(&path)).expect("a version 10 database opens");
    let stored = block_on(store.get_job(job.id))
        .unwrap()
        .expect("the job survived");
    assert_eq!(stored, job);
    assert!(stored.spec.signing_secrets.is_empty());
    let mut signed = stored.clone();
    signed.spec.signing_secrets = vec![scheduler_core::Secret::new("s3cret")];
    let updated = block_on(store.update_job(signed, stored.version, NextFire::Keep)).unwrap();
    assert_eq!(
        block_on(store.get_job(job.id)).unwrap().expect("the job"),
        updated
    );
    assert_eq!(
        updated
            .spec
            .signing_secrets
            .iter()
            .map(scheduler_core::Secret::expose)
            .collect::<Vec<_>>(),
        ["s3cret"]
    );
}

/// Version 12's columns (one-off jobs, windows, done), dropped to take a database back to an
/// earlier version.
const DROP_ONE_OFF_COLUMNS: &str = "ALTER TABLE jobs DROP COLUMN run_at; ALTER TABLE jobs DROP COLUMN start_at; ALTER TABLE jobs DROP COLUMN end_at; ALTER TABLE jobs DROP COLUMN delete_after_run; ALTER TABLE jobs DROP COLUMN done_at;";

/// Version 12 adds one-off jobs, windows and done jobs: a version 11 database keeps its jobs as
/// recurring, unbounded and not done, and stores the new fields after.
#[test]
fn a_version_11_database_gains_one_off_jobs() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    let job = crate::support::job(Some(crate::support::base_time()));
    {
        let store = SqliteStore::open(&SqliteConfig::new(&path)).unwrap();
        block_on(store.insert_job(job.clone())).unwrap();
    }
    {
        // Back to version 11, as that version wrote it.
        let connection = Connection::open(&path).unwrap();
        connection
            .execute_batch(
                "ALTER TABLE jobs DROP COLUMN tick_jitter_ms; ALTER TABLE jobs DROP COLUMN alert; ALTER TABLE jobs DROP COLUMN previous_signing_secret;",
            )
            .unwrap();
        connection.execute_batch(DROP_ONE_OFF_COLUMNS).unwrap();
        connection
            .execute_batch("PRAGMA user_version = 11;")
            .unwrap();
    }
    let store = SqliteStore::open(&SqliteConfig::new(&path)).expect("a version 11 database opens");
    let stored = block_on(store.get_job(job.id))
        .unwrap()
        .expect("the job survived");
    assert_eq!(stored, job);
    let mut once = crate::support::job(Some(crate::support::base_time()));
    once.spec.schedule = scheduler_core::Timing::Once(crate::support::base_time());
    once.spec.delete_after_run = true;
    block_on(store.insert_job(once.clone())).unwrap();
    assert_eq!(block_on(store.get_job(once.id)).unwrap(), Some(once));
}

/// Version 13 adds jobs' own tick jitter: a version 12 database keeps its jobs, without one (the
/// server's default applies), and stores one after.
#[test]
fn a_version_12_database_gains_job_tick_jitter() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    let job = crate::support::job(Some(crate::support::base_time()));
    {
        let store = SqliteStore::open(&SqliteConfig::new(&path)).unwrap();
        block_on(store.insert_job(job.clone())).unwrap();
    }
    {
        // Back to version 12, as that version wrote it.
        let connection = Connection::open(&path).unwrap();
        connection
            .execute_batch("ALTER TABLE jobs DROP COLUMN tick_jitter_ms; ALTER TABLE jobs DROP COLUMN alert; ALTER TABLE jobs DROP COLUMN previous_signing_secret; PRAGMA user_version = 12;")
            .unwrap();
    }
    let store = SqliteStore::open(&SqliteConfig::new(&path)).expect("a version 12 database opens");
    let stored = block_on(store.get_job(job.id))
        .unwrap()
        .expect("the job survived");
    assert_eq!(stored, job);
    assert_eq!(stored.spec.tick_jitter, None);
    let mut jittered = stored.clone();
    jittered.spec.tick_jitter = Some(std::time::Duration::from_millis(1_500));
    let updated = block_on(store.update_job(jittered, stored.version, NextFire::Keep)).unwrap();
    assert_eq!(
        updated.spec.tick_jitter,
        Some(std::time::Duration::from_millis(1_500))
    );
    assert_eq!(
        block_on(store.get_job(job.id)).unwrap().expect("the job"),
        updated
    );
}

/// Version 14 adds jobs' own alerts: a version 13 database keeps its jobs, without one, and
/// stores one after.
#[test]
fn a_version_13_database_gains_job_alerts() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    let job = crate::support::job(Some(crate::support::base_time()));
    {
        let store = SqliteStore::open(&SqliteConfig::new(&path)).unwrap();
        block_on(store.insert_job(job.clone())).unwrap();
    }
    {
        // Back to version 13, as that version wrote it.
        let connection = Connection::open(&path).unwrap();
        connection
            .execute_batch("ALTER TABLE jobs DROP COLUMN alert; ALTER TABLE jobs DROP COLUMN previous_signing_secret; PRAGMA user_version = 13;")
            .unwrap();
    }
    let store = SqliteStore::open(&SqliteConfig::new(&path)).expect("a version 13 database opens");
    let stored = block_on(store.get_job(job.id))
        .unwrap()
        .expect("the job survived");
    assert_eq!(stored, job);
    assert_eq!(stored.spec.alert, None);
    let mut alerted = stored.clone();
    alerted.spec.alert = Some(scheduler_core::JobAlertSettings {
        webhook_url: "https://hooks.example/a:b".to_owned(),
        after_failures: 4,
        on_recovery: true,
    });
    let updated = block_on(store.update_job(alerted, stored.version, NextFire::Keep)).unwrap();
    assert_eq!(
        block_on(store.get_job(job.id)).unwrap().expect("the job"),
        updated
    );
    assert_eq!(
        updated.spec.alert.map(|alert| alert.after_failures),
        Some(4)
    );
}

/// Version 15 adds jobs' previous signing secrets: a version 14 database keeps its jobs and
/// their one secret, and stores two after.
#[test]
fn a_version_14_database_gains_previous_signing_secrets() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    let mut job = crate::support::job(Some(crate::support::base_time()));
    job.spec.signing_secrets = vec![scheduler_core::Secret::new("old")];
    {
        let store = SqliteStore::open(&SqliteConfig::new(&path)).unwrap();
        block_on(store.insert_job(job.clone())).unwrap();
    }
    {
        // Back to version 14, as that version wrote it.
        let connection = Connection::open(&path).unwrap();
        connection
            .execute_batch(
                "ALTER TABLE jobs DROP COLUMN previous_signing_secret; PRAGMA user_version = 14;",
            )
            .unwrap();
    }
    let store = SqliteStore::open(&SqliteConfig::new(&path)).expect("a version 14 database opens");
    let stored = block_on(store.get_job(job.id))
        .unwrap()
        .expect("the job survived");
    assert_eq!(stored, job);
    let mut rotated = stored.clone();
    rotated.spec.signing_secrets = vec![
        scheduler_core::Secret::new("new"),
        scheduler_core::Secret::new("old"),
    ];
    let updated = block_on(store.update_job(rotated, stored.version, NextFire::Keep)).unwrap();
    assert_eq!(
        block_on(store.get_job(job.id)).unwrap().expect("the job"),
        updated
    );
    assert_eq!(
        updated
            .spec
            .signing_secrets
            .iter()
            .map(scheduler_core::Secret::expose)
            .collect::<Vec<_>>(),
        ["new", "old"]
    );
}
