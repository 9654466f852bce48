//! The schema and its versioned migrations, applied on open.
//!
//! The version lives in SQLite's `user_version`. Version 1 is the original (Node.js) schema,
//! so a database written by the original system opens and upgrades in place. Each migration
//! runs in one transaction with the version bump: a failed migration leaves the previous
//! version intact.

use rusqlite::{Connection, Transaction, params};
use scheduler_core::Timestamp;

/// The original system's schema, kept exactly: a database it wrote is at version 1 (or at
/// version 0 with these tables, which the first migration recognises).
const V1_ORIGINAL: &str = "
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  schedule TEXT NOT NULL,
  api TEXT NOT NULL,
  type TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  active INTEGER DEFAULT 1
);
CREATE TABLE IF NOT EXISTS job_executions (
  id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL,
  scheduled_time INTEGER NOT NULL,
  executed_time INTEGER,
  status TEXT NOT NULL,
  http_status INTEGER,
  duration INTEGER,
  error_message TEXT,
  retry_count INTEGER DEFAULT 0,
  FOREIGN KEY (job_id) REFERENCES jobs(id)
);
CREATE INDEX IF NOT EXISTS idx_job_executions_job_id ON job_executions(job_id);
CREATE INDEX IF NOT EXISTS idx_job_executions_scheduled_time ON job_executions(scheduled_time);
CREATE INDEX IF NOT EXISTS idx_jobs_active ON jobs(active);
";

/// What the engine needs beyond the original schema: the full job spec, the watermark, the
/// version, execution ownership, and the indexes of the claim and of recovery.
const V2_ENGINE: &str = "
ALTER TABLE jobs ADD COLUMN time_zone TEXT;
ALTER TABLE jobs ADD COLUMN method TEXT NOT NULL DEFAULT 'POST';
ALTER TABLE jobs ADD COLUMN headers TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN body BLOB;
ALTER TABLE jobs ADD COLUMN attempt_timeout_ms INTEGER NOT NULL DEFAULT 30000;
ALTER TABLE jobs ADD COLUMN retry_max_attempts INTEGER NOT NULL DEFAULT 3;
ALTER TABLE jobs ADD COLUMN retry_initial_backoff_ms INTEGER NOT NULL DEFAULT 1000;
ALTER TABLE jobs ADD COLUMN retry_max_backoff_ms INTEGER NOT NULL DEFAULT 60000;
ALTER TABLE jobs ADD COLUMN retry_multiplier REAL NOT NULL DEFAULT 2.0;
ALTER TABLE jobs ADD COLUMN retry_jitter REAL NOT NULL DEFAULT 0.1;
ALTER TABLE jobs ADD COLUMN misfire_policy TEXT NOT NULL DEFAULT 'FIRE_ONCE_NOW';
ALTER TABLE jobs ADD COLUMN misfire_max INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN overlap_policy TEXT NOT NULL DEFAULT 'ALLOW';
ALTER TABLE jobs ADD COLUMN next_fire_at INTEGER;
ALTER TABLE jobs ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE job_executions ADD COLUMN finished_time INTEGER;
ALTER TABLE job_executions ADD COLUMN trigger TEXT NOT NULL DEFAULT 'SCHEDULE';
ALTER TABLE job_executions ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE job_executions ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;

-- The original system could record one tick twice. Keep every row, but move the extra ones
-- aside so that (job, tick) can be unique.
CREATE TABLE job_executions_duplicates AS SELECT * FROM job_executions WHERE 0;
INSERT INTO job_executions_duplicates
  SELECT * FROM job_executions AS e
  WHERE e.rowid NOT IN (SELECT MIN(rowid) FROM job_executions GROUP BY job_id, scheduled_time);
DELETE FROM job_executions
  WHERE rowid NOT IN (SELECT MIN(rowid) FROM job_executions GROUP BY job_id, scheduled_time);
CREATE UNIQUE INDEX idx_job_executions_job_tick ON job_executions(job_id, scheduled_time);
DROP INDEX IF EXISTS idx_job_executions_job_id;

-- Normalise the original statuses and attempt counts.
UPDATE job_executions SET status = 'SUCCEEDED' WHERE upper(status) IN ('SUCCESS', 'SUCCEEDED', 'COMPLETED');
UPDATE job_executions SET status = 'FAILED' WHERE upper(status) IN ('FAILED', 'FAILURE', 'ERROR');
UPDATE job_executions SET status = upper(status) WHERE upper(status) IN ('PENDING', 'RUNNING');
UPDATE job_executions SET attempts = COALESCE(retry_count, 0) + 1 WHERE executed_time IS NOT NULL;

-- The claim reads due, active jobs in watermark order.
CREATE INDEX idx_jobs_due ON jobs(next_fire_at) WHERE active = 1 AND next_fire_at IS NOT NULL;
-- Recovery reads a node's unfinished executions.
CREATE INDEX idx_job_executions_unfinished ON job_executions(claimed_by, scheduled_time)
  WHERE status IN ('PENDING', 'RUNNING');
";

/// Job names, a label for people.
const V3_JOB_NAMES: &str = "ALTER TABLE jobs ADD COLUMN name TEXT;";

/// Claims no longer write an index ordered by job. The unique `(job, tick)` index took one entry
/// at a random place per job and claim, so as the history grew every claimed execution dirtied a
/// page of its own. Uniqueness moves to `(tick, job)`, written at its end, which also replaces
/// the plain tick index; the per-job order moves to `job_execution_history`, filled a window at
/// a time in job order behind the watermark `history_indexed_before` in `store_state` (every
/// execution with an earlier tick has its entry there; one inserted with a tick below
/// `history_announced` gets its entry as it is inserted), and emptied by a trigger when an
/// execution is deleted. Every existing execution gets its entry here.
const V4_BATCHED_HISTORY: &str = "
CREATE TABLE job_execution_history (
  job_id TEXT NOT NULL,
  scheduled_time INTEGER NOT NULL,
  PRIMARY KEY (job_id, scheduled_time)
) WITHOUT ROWID;
INSERT INTO job_execution_history (job_id, scheduled_time)
  SELECT job_id, scheduled_time FROM job_executions ORDER BY job_id, scheduled_time;
CREATE TABLE store_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO store_state (name, value)
  SELECT 'history_indexed_before', COALESCE(MAX(scheduled_time) + 1, -9223372036854775808) FROM job_executions;
INSERT INTO store_state (name, value)
  SELECT 'history_announced', value FROM store_state WHERE name = 'history_indexed_before';
DROP INDEX idx_job_executions_job_tick;
DROP INDEX IF EXISTS idx_job_executions_scheduled_time;
CREATE UNIQUE INDEX idx_job_executions_tick_job ON job_executions(scheduled_time, job_id);
CREATE TRIGGER job_executions_leave_history AFTER DELETE ON job_executions BEGIN
  DELETE FROM job_execution_history WHERE job_id = OLD.job_id AND scheduled_time = OLD.scheduled_time;
END;
";

/// Executions in the final states that are rare in a healthy system (failed, abandoned,
/// skipped), by state, tick and id (the listing's order). Without it, a listing of one of them
/// across jobs reads the whole history newest first to find the few there are, or that there
/// are none. The index is partial: the engine's own writes (pending, running, succeeded) never
/// enter it.
///
/// The condition is written as `<>` comparisons on purpose: as `status NOT IN (...)` of three
/// values, SQLite evaluates it through an ephemeral table built at each run of every statement
/// that writes an execution, a large share of the writer's work (docs/perf-log/round-08.md).
/// [`EXCEPTIONAL_STATES`] repeats it for the queries; the store's plan test fails if the two
/// part.
const V5_EXCEPTIONAL_EXECUTIONS: &str = "
CREATE INDEX idx_job_executions_exceptional ON job_executions(status, scheduled_time, id)
  WHERE status <> 'PENDING' AND status <> 'RUNNING' AND status <> 'SUCCEEDED';
";

/// A revision for each job, so that a claim decodes a job only when its cache of decoded jobs
/// has no copy at the job's current revision (docs/perf-log/round-09.md).
///
/// **The revision** is a random 64-bit number, new at every write of a job's row other than a
/// claim's watermark update (insert or update; the store's statements set it with `random()`).
/// A copy of a job read at revision `r` is the job as long as its revision is still `r`,
/// whichever connection or process changed it since, and a job deleted and created again under
/// the same id (its version back at 1) has a new one.
///
/// The due index stays `idx_jobs_due`, ordered by watermark and then row id, and the revision
/// stays in the job's row: in the index it would order a tick's jobs at random, so that each
/// watermark update lands at a random place in the next tick's run, and a narrow table of its
/// own makes job creations dearer for no cheaper update (docs/perf-log/round-09.md).
const V6_JOB_REVISIONS: &str = "
ALTER TABLE jobs ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET revision = random();
";

/// Version 7: leases. Each execution records until when its owner (`claimed_by`) holds it, so
/// that another node can tell an abandoned execution from one in progress. Executions stored
/// before have none, which counts as expired. Adding a nullable column rewrites no row.
const V7_LEASES: &str = "ALTER TABLE job_executions ADD COLUMN lease_expires_at INTEGER;";

/// Version 8: membership. Each node's latest heartbeat, one row per node.
const V8_NODES: &str = "CREATE TABLE scheduler_nodes (node_id TEXT PRIMARY KEY, \
     last_heartbeat INTEGER NOT NULL) WITHOUT ROWID;";

/// Version 9: re-sends. How many times each execution was sent again after its node stopped
/// (the count behind the `X-Scheduler-Redelivery` header). Existing executions count none;
/// SQLite adds a column with a constant default without rewriting a row.
const V9_REDELIVERIES: &str =
    "ALTER TABLE job_executions ADD COLUMN redeliveries INTEGER NOT NULL DEFAULT 0;";

/// Version 10: API tokens. Only each token's SHA-256 is kept, never its secret; a revoked token
/// keeps its row (`revoked_at` set), so revoking every token does not make the API open again.
const V10_API_TOKENS: &str = "CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  name TEXT,
  scope TEXT NOT NULL,
  secret_hash BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
) WITHOUT ROWID;";

/// Version 11: a job's own signing secret (`X-Scheduler-Signature`), `NULL` for jobs signed
/// with the server's secrets or not at all.
const V11_JOB_SIGNING_SECRETS: &str = "ALTER TABLE jobs ADD COLUMN signing_secret TEXT;";

/// Version 12: one-off jobs (`run_at`, with `schedule` empty), windows (`start_at`,
/// `end_at`), `delete_after_run`, and the instant a job was marked done. Old rows are
/// recurring, unbounded jobs not done.
const V12_ONE_OFF_JOBS: &str = "ALTER TABLE jobs ADD COLUMN run_at INTEGER;
ALTER TABLE jobs ADD COLUMN start_at INTEGER;
ALTER TABLE jobs ADD COLUMN end_at INTEGER;
ALTER TABLE jobs ADD COLUMN delete_after_run INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN done_at INTEGER;";

/// Version 13: a job's own tick jitter in milliseconds (`jitterMs`), `NULL` for jobs that take
/// the server's default. Adding a nullable column rewrites no row.
const V13_JOB_TICK_JITTER: &str = "ALTER TABLE jobs ADD COLUMN tick_jitter_ms INTEGER;";

/// Version 14: a job's own alert (`<afterFailures>:<onRecovery 0|1>:<webhook URL>`), `NULL` for
/// jobs without one.
const V14_JOB_ALERTS: &str = "ALTER TABLE jobs ADD COLUMN alert TEXT;";

/// Version 15: a job's previous signing secret, kept while the job's secret is rotated (both
/// sign), `NULL` for jobs with one secret or none.
const V15_JOB_PREVIOUS_SIGNING_SECRETS: &str =
    "ALTER TABLE jobs ADD COLUMN previous_signing_secret TEXT;";

/// The partial index's condition, for a query to repeat: SQLite uses a partial index only for a
/// query whose `WHERE` contains its condition.
pub(crate) const EXCEPTIONAL_STATES: &str =
    "status <> 'PENDING' AND status <> 'RUNNING' AND status <> 'SUCCEEDED'";

/// One migration: the statements that take the schema from version `n` to `n + 1`.
type Migration = fn(&Transaction<'_>, Timestamp) -> rusqlite::Result<()>;

/// The migrations in order; migration `i` produces version `i + 1`.
const MIGRATIONS: [Migration; 15] = [
    |transaction, _| transaction.execute_batch(V1_ORIGINAL),
    |transaction, now| {
        transaction.execute_batch(V2_ENGINE)?;
        set_initial_watermarks(transaction, now)
    },
    |transaction, _| transaction.execute_batch(V3_JOB_NAMES),
    |transaction, _| transaction.execute_batch(V4_BATCHED_HISTORY),
    |transaction, _| transaction.execute_batch(V5_EXCEPTIONAL_EXECUTIONS),
    |transaction, _| transaction.execute_batch(V6_JOB_REVISIONS),
    |transaction, _| transaction.execute_batch(V7_LEASES),
    |transaction, _| transaction.execute_batch(V8_NODES),
    |transaction, _| transaction.execute_batch(V9_REDELIVERIES),
    |transaction, _| transaction.execute_batch(V10_API_TOKENS),
    |transaction, _| transaction.execute_batch(V11_JOB_SIGNING_SECRETS),
    |transaction, _| transaction.execute_batch(V12_ONE_OFF_JOBS),
    |transaction, _| transaction.execute_batch(V13_JOB_TICK_JITTER),
    |transaction, _| transaction.execute_batch(V14_JOB_ALERTS),
    |transaction, _| transaction.execute_batch(V15_JOB_PREVIOUS_SIGNING_SECRETS),
];

/// The newest schema version.
pub(crate) const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema to [`LATEST_VERSION`]. Returns the version found before.
pub(crate) fn migrate(
    connection: &mut Connection,
    now: Timestamp,
) -> Result<i64, (i64, rusqlite::Error)> {
    let found: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|error| (0, error))?;
    let mut version = found;
    while version < LATEST_VERSION {
        let next = version + 1;
        let transaction = connection.transaction().map_err(|error| (next, error))?;
        // A negative version is none this program (or the original) ever wrote.
        let Some(migration) = usize::try_from(version)
            .ok()
            .and_then(|index| MIGRATIONS.get(index))
        else {
            let message = format!("unknown schema version {version}");
            let error = rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
                Some(message),
            );
            return Err((next, error));
        };
        migration(&transaction, now).map_err(|error| (next, error))?;
        transaction
            .pragma_update(None, "user_version", next)
            .map_err(|error| (next, error))?;
        transaction.commit().map_err(|error| (next, error))?;
        version = next;
    }
    Ok(found)
}

/// Jobs written by the original system have no watermark: start each at its first tick after
/// `now`. A job whose schedule this program cannot parse is moved, with its executions, to the
/// tables `jobs_unreadable` and `job_executions_unreadable` (with a log line) rather than
/// failing the upgrade or every later listing; nothing is deleted.
fn set_initial_watermarks(transaction: &Transaction<'_>, now: Timestamp) -> rusqlite::Result<()> {
    transaction.execute_batch(
        "CREATE TABLE jobs_unreadable AS SELECT * FROM jobs WHERE 0;
         CREATE TABLE job_executions_unreadable AS SELECT * FROM job_executions WHERE 0;",
    )?;
    let jobs: Vec<(String, String)> = {
        let mut statement = transaction.prepare("SELECT id, schedule FROM jobs")?;
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    for (id, schedule) in jobs {
        match cron_expr::Schedule::parse(&schedule) {
            Ok(schedule) => {
                let next = schedule.next_after(now).map(|t| t.as_millisecond());
                transaction.execute(
                    "UPDATE jobs SET next_fire_at = ?1 WHERE id = ?2",
                    params![next, id],
                )?;
            }
            Err(error) => {
                log::warn!(
                    "job {id}: schedule {schedule:?} does not parse ({error}); moved with its executions to \
                     jobs_unreadable and job_executions_unreadable"
                );
                for statement in [
                    "INSERT INTO job_executions_unreadable SELECT * FROM job_executions WHERE job_id = ?1",
                    "DELETE FROM job_executions WHERE job_id = ?1",
                    "INSERT INTO jobs_unreadable SELECT * FROM jobs WHERE id = ?1",
                    "DELETE FROM jobs WHERE id = ?1",
                ] {
                    transaction.execute(statement, [&id])?;
                }
            }
        }
    }
    Ok(())
}
