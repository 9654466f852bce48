//! The PostgreSQL schema and its versioned migrations.
//!
//! Versions are rows of `scheduler_schema_version`. Each migration runs in one transaction that
//! first takes the advisory lock [`MIGRATION_LOCK`], reads the version, applies what is
//! missing and records it, so nodes starting at once apply each migration once and a failed
//! one leaves the previous version intact.

/// The key of the transaction-scoped advisory lock that serialises schema changes (creating
/// the schema, each migration) across nodes: an arbitrary constant of this program.
pub(super) const MIGRATION_LOCK: i64 = 0x5343_4845_4455_4c45;

/// The version table, made before the first migration (under the lock).
pub(super) const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS scheduler_schema_version (\
     version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())";

/// Version 1: jobs and executions with every column the engine uses, and the indexes of its
/// reads.
///
/// - `jobs_due`: claims read due, active jobs in watermark order, whatever the history's size.
/// - `job_executions_job_tick`: one execution per (job, tick), so a tick cannot be claimed
///   twice even under a bug; read backwards, it is also the per-job history, newest first (a
///   second index in descending order would cost every claim a write for nothing).
/// - `job_executions_recent`: listings across jobs, newest tick first, and retention by age.
/// - `job_executions_unfinished`: recovery of a node's pending and running executions.
/// - `job_executions_exceptional`: listings of the rare final states ("what failed?"), which
///   the engine's own writes (pending, running, succeeded) never enter.
///
/// Executions reference their job with `ON DELETE CASCADE`, so deleting a job deletes its
/// history in the same statement.
const V1_TABLES: &str = "
CREATE TABLE jobs (
  id uuid PRIMARY KEY,
  schedule text NOT NULL,
  api text NOT NULL,
  type text NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  active boolean NOT NULL,
  time_zone text,
  method text NOT NULL,
  headers text NOT NULL,
  body bytea,
  attempt_timeout_ms bigint NOT NULL,
  retry_max_attempts bigint NOT NULL,
  retry_initial_backoff_ms bigint NOT NULL,
  retry_max_backoff_ms bigint NOT NULL,
  retry_multiplier double precision NOT NULL,
  retry_jitter double precision NOT NULL,
  misfire_policy text NOT NULL,
  misfire_max bigint NOT NULL,
  overlap_policy text NOT NULL,
  next_fire_at bigint,
  version bigint NOT NULL,
  name text
);
CREATE INDEX jobs_due ON jobs (next_fire_at) WHERE active AND next_fire_at IS NOT NULL;
CREATE TABLE job_executions (
  id uuid PRIMARY KEY,
  job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  scheduled_time bigint NOT NULL,
  executed_time bigint,
  status text NOT NULL,
  http_status bigint,
  duration bigint,
  error_message text,
  finished_time bigint,
  trigger text NOT NULL,
  claimed_by text NOT NULL,
  attempts bigint NOT NULL,
  lease_expires_at bigint,
  CONSTRAINT job_executions_job_tick UNIQUE (job_id, scheduled_time)
);
CREATE INDEX job_executions_recent ON job_executions (scheduled_time DESC, id DESC);
CREATE INDEX job_executions_unfinished ON job_executions (claimed_by, scheduled_time)
  WHERE status IN ('PENDING', 'RUNNING');
CREATE INDEX job_executions_exceptional ON job_executions (status, scheduled_time DESC, id DESC)
  WHERE status IN ('FAILED', 'ABANDONED', 'SKIPPED');
";

/// The condition of `job_executions_exceptional`, for the queries to repeat: PostgreSQL uses a
/// partial index only for a query whose `WHERE` implies its condition.
pub(super) const EXCEPTIONAL_STATES: &str = "status IN ('FAILED', 'ABANDONED', 'SKIPPED')";

/// Version 2: membership. Each node's latest heartbeat, one row per node.
const V2_NODES: &str = "CREATE TABLE scheduler_nodes (node_id text PRIMARY KEY, \
     last_heartbeat bigint NOT NULL)";

/// Version 3: re-sends. How many times each execution was sent again after its node stopped
/// (the count behind the `X-Scheduler-Redelivery` header). Existing executions count none;
/// a constant default rewrites no row.
const V3_REDELIVERIES: &str =
    "ALTER TABLE job_executions ADD COLUMN redeliveries bigint NOT NULL DEFAULT 0";

/// Version 4: API tokens. Only each token's SHA-256 is kept, never its secret; a revoked token
/// keeps its row (`revoked_at` set), so revoking every token does not make the API open again.
const V4_API_TOKENS: &str = "CREATE TABLE api_tokens (
  id text PRIMARY KEY,
  name text,
  scope text NOT NULL,
  secret_hash bytea NOT NULL,
  created_at bigint NOT NULL,
  revoked_at bigint
)";

/// Version 5: a job's own signing secret (`X-Scheduler-Signature`), `NULL` for jobs signed
/// with the server's secrets or not at all.
const V5_JOB_SIGNING_SECRETS: &str = "ALTER TABLE jobs ADD COLUMN signing_secret text";

/// Version 6: one-off jobs (`run_at`, with `schedule` empty), windows (`start_at`, `end_at`),
/// `delete_after_run`, and the instant a job was marked done. Old rows are recurring,
/// unbounded jobs not done; a constant default rewrites no row.
const V6_ONE_OFF_JOBS: &str = "ALTER TABLE jobs ADD COLUMN run_at bigint, \
     ADD COLUMN start_at bigint, ADD COLUMN end_at bigint, \
     ADD COLUMN delete_after_run boolean NOT NULL DEFAULT false, ADD COLUMN done_at bigint";

/// Version 7: a job's own tick jitter in milliseconds (`jitterMs`), `NULL` for jobs that take
/// the server's default.
const V7_JOB_TICK_JITTER: &str = "ALTER TABLE jobs ADD COLUMN tick_jitter_ms bigint";

/// Version 8: a job's own alert (`<afterFailures>:<onRecovery 0|1>:<webhook URL>`), `NULL` for
/// jobs without one.
const V8_JOB_ALERTS: &str = "ALTER TABLE jobs ADD COLUMN alert text";

/// Version 9: a job's previous signing secret, kept while the job's secret is rotated (both
/// sign), `NULL` for jobs with one secret or none.
const V9_JOB_PREVIOUS_SIGNING_SECRETS: &str =
    "ALTER TABLE jobs ADD COLUMN previous_signing_secret text";

/// The migrations in order; migration `i` produces version `i + 1`.
pub(super) const MIGRATIONS: [&str; 9] = [
    V1_TABLES,
    V2_NODES,
    V3_REDELIVERIES,
    V4_API_TOKENS,
    V5_JOB_SIGNING_SECRETS,
    V6_ONE_OFF_JOBS,
    V7_JOB_TICK_JITTER,
    V8_JOB_ALERTS,
    V9_JOB_PREVIOUS_SIGNING_SECRETS,
];

/// The newest schema version.
pub(super) const LATEST_VERSION: i32 = MIGRATIONS.len() as i32;
