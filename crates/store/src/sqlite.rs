//! [`SqliteStore`]: the store on one SQLite file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use scheduler_core::{
    BoxFuture, ClaimBatch, ClaimRequest, ClaimedTick, Error, Execution, ExecutionId,
    ExecutionQuery, ExecutionStatus, ExecutionStore, ExecutionUpdate, Job, JobCounts, JobId,
    JobQuery, JobStore, NextFire, Result, RetentionPolicy, Timestamp, plan_claim,
    plan_new_job_claim,
};

use crate::codec::{
    EXECUTION_COLUMNS, JOB_COLUMNS, JobRow, duration_millis, execution_from_row, job_columns_of,
    job_from_row, millis, optional_timestamp_from,
};
use crate::error::StoreError;
use crate::history;
use crate::job_cache::{self, JobCache};
use crate::schema;
use crate::writer::{Priority, Writer};

/// How a [`SqliteStore`] opens its database.
#[derive(Clone, Debug)]
pub struct SqliteConfig {
    /// The database file; created if missing (its directory must exist).
    pub path: PathBuf,
    /// Read connections in the pool. Reads never wait for the writer (WAL mode).
    pub read_connections: u32,
    /// How much a commit waits for the disk; see [`Durability`].
    pub durability: Durability,
    /// The most writes committed together in one transaction.
    pub max_batch: usize,
    /// How long a connection waits for a lock held by another process before failing.
    pub busy_timeout: Duration,
    /// Rows deleted per transaction when pruning, so pruning never holds the writer long.
    pub prune_batch: usize,
    /// Bytes of the database file each connection reads through memory-mapped I/O
    /// (SQLite's `mmap_size`); 0 reads through `read()` into the page cache only.
    ///
    /// Mapped pages are the operating system's page cache, reclaimable, but they count in the
    /// process's resident memory: with a million jobs, whose rows the claims read every few
    /// seconds, the mapping grows to the size of the jobs table. See docs/PERFORMANCE.md for
    /// what it costs and saves.
    pub mmap_size: u64,
    /// The page size, in bytes, of a database this store creates: a power of two from 512 to
    /// 65,536. SQLite fixes a database's page size when it creates the file, so an existing
    /// database keeps its own, whatever this says.
    pub page_size: u32,
    /// How often the per-job history index takes in the executions of the last window, sorted
    /// by job, so that claims never write an index ordered by job (see the crate documentation).
    /// Reads of one job's executions find the ones not indexed yet with a seek per distinct
    /// tick of the last window or so. Zero indexes each execution as it is inserted instead: no
    /// seeks, but each claimed execution then writes a page of its own once the history is long.
    pub history_interval: Duration,
    /// How many decoded jobs the claims keep between claims (see the crate documentation). A
    /// job that fires again within a minute and a half (every-minute jobs included) is then
    /// decoded once per change rather than at every claim; when more jobs fire than this before
    /// the claims come back to the same job, the rest are decoded at every claim, as with 0.
    /// Each kept job costs about 400 bytes plus its target, headers and body.
    pub job_cache_capacity: usize,
}

impl SqliteConfig {
    /// The default [`SqliteConfig::mmap_size`]: off. With a million jobs, a 256 MiB mapping
    /// made the process 3.5 times larger (548 against 155 bytes per job) and saved no CPU once
    /// the claim stopped reading every job (docs/PERFORMANCE.md, scenario 4).
    pub const DEFAULT_MMAP_SIZE: u64 = 0;

    /// The default [`SqliteConfig::page_size`]: 16 KiB, four times SQLite's own default. Under
    /// load the writer's CPU per execution was 15-20% lower with it than with 4 KiB pages
    /// (smaller pages cost more: 1 KiB pages took 45% more), for about the same bytes written
    /// (docs/PERFORMANCE.md, third round).
    pub const DEFAULT_PAGE_SIZE: u32 = 16_384;

    /// The default [`SqliteConfig::history_interval`]: 10 s.
    pub const DEFAULT_HISTORY_INTERVAL: Duration = Duration::from_secs(10);

    /// The default [`SqliteConfig::job_cache_capacity`]: 65,536 jobs.
    pub const DEFAULT_JOB_CACHE_CAPACITY: usize = 65_536;

    /// The defaults for a database at `path`: 4 read connections, [`Durability::Normal`],
    /// batches of up to 1,024 writes, a 5 s busy timeout, pruning 1,000 rows at a time, no
    /// memory-mapped I/O, 16 KiB pages for a new database, the per-job history indexed every
    /// 10 s, up to 65,536 decoded jobs kept for the claims.
    pub fn new(path: impl Into<PathBuf>) -> SqliteConfig {
        SqliteConfig {
            path: path.into(),
            read_connections: 4,
            durability: Durability::Normal,
            max_batch: 1024,
            busy_timeout: Duration::from_secs(5),
            prune_batch: 1000,
            mmap_size: SqliteConfig::DEFAULT_MMAP_SIZE,
            page_size: SqliteConfig::DEFAULT_PAGE_SIZE,
            history_interval: SqliteConfig::DEFAULT_HISTORY_INTERVAL,
            job_cache_capacity: SqliteConfig::DEFAULT_JOB_CACHE_CAPACITY,
        }
    }
}

/// What a completed write survives. Both modes run SQLite in WAL mode, and a write is
/// acknowledged only after its batch commits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous = NORMAL`: a committed write survives a crash of the process; after a
    /// power loss or OS crash the last few batches may be rolled back (never half-applied).
    /// The WAL is synced at checkpoints, not at every commit.
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit is synced to disk before it is acknowledged, so it
    /// also survives a power loss; each batch costs one fsync.
    Full,
}

/// The scheduler's store on a SQLite database file.
///
/// Writes go through one writer thread that groups whatever has queued up into one transaction
/// (group commit); reads use a pool of connections and run on tokio's blocking threads. The
/// claim of due ticks is one transaction driven by an index on the jobs' next fire time. See the
/// crate documentation for the schema, durability and retention.
#[derive(Debug)]
pub struct SqliteStore {
    shared: Arc<Shared>,
}

/// What the store's handles, its writer tasks' callers and the history indexer share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) writer: Writer,
    readers: Pool<SqliteConnectionManager>,
    prune_batch: usize,
    /// The claims' decoded jobs. Only the writer thread uses it; its own `Arc`, so that a
    /// claim queued on the writer never holds the last reference to [`Shared`] (whose drop
    /// joins the writer thread).
    job_cache: Arc<Mutex<JobCache>>,
    /// Dropped with the store, which stops the history indexer thread.
    _stop_indexer: Option<std::sync::mpsc::Sender<()>>,
    /// Keeps the directory of [`SqliteStore::open_temporary`] alive as long as the store.
    _temporary_directory: Option<tempfile::TempDir>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database described by `config`.
    ///
    /// # Errors
    ///
    /// A clear [`StoreError`] for a missing directory, a file that cannot be opened or written,
    /// a file that is not a SQLite database, one written by a newer version, or a failed
    /// migration. Nothing panics.
    pub fn open(config: &SqliteConfig) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(config, None)
    }

    /// A store on a fresh database in a temporary directory, deleted when the store is dropped.
    /// For tests, benchmarks and throwaway runs.
    pub fn open_temporary() -> Result<SqliteStore, StoreError> {
        SqliteStore::open_temporary_with(|_| {})
    }

    /// [`SqliteStore::open_temporary`] with the defaults changed by `adjust` (a change of the
    /// path is ignored).
    pub fn open_temporary_with(
        adjust: impl FnOnce(&mut SqliteConfig),
    ) -> Result<SqliteStore, StoreError> {
        let directory = tempfile::Builder::new()
            .prefix("scheduler-store-")
            .tempdir()
            .map_err(StoreError::TempDir)?;
        let path = directory.path().join("scheduler.db");
        let mut config = SqliteConfig::new(&path);
        adjust(&mut config);
        config.path = path;
        SqliteStore::open_with(&config, Some(directory))
    }

    fn open_with(
        config: &SqliteConfig,
        temporary: Option<tempfile::TempDir>,
    ) -> Result<SqliteStore, StoreError> {
        let path = config.path.clone();
        if !(config.page_size.is_power_of_two() && (512..=65_536).contains(&config.page_size)) {
            return Err(StoreError::InvalidConfig {
                setting: "page_size",
                message: format!(
                    "{} is not a power of two from 512 to 65536",
                    config.page_size
                ),
            });
        }
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(StoreError::MissingDirectory { path });
        }
        let mut writer = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        configure(&writer, config).map_err(|source| classify_open_error(&path, source))?;
        let found =
            schema::migrate(&mut writer, Timestamp::now()).map_err(|(version, source)| {
                match classify_open_error(&path, source) {
                    StoreError::Open { source, .. } => StoreError::Migration {
                        path: path.clone(),
                        version,
                        source,
                    },
                    other => other,
                }
            })?;
        if found > schema::LATEST_VERSION {
            return Err(StoreError::TooNew {
                path,
                found,
                supported: schema::LATEST_VERSION,
            });
        }
        if found < schema::LATEST_VERSION {
            log::info!(
                "database {}: migrated schema from version {found} to {}",
                path.display(),
                schema::LATEST_VERSION
            );
        }
        history::open(&writer, config.history_interval)
            .map_err(|source| classify_open_error(&path, source))?;
        let reader_config = config.clone();
        let mmap_size = i64::try_from(config.mmap_size).unwrap_or(i64::MAX);
        let manager = SqliteConnectionManager::file(&path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(move |connection| {
                connection.busy_timeout(reader_config.busy_timeout)?;
                connection.pragma_update(None, "mmap_size", mmap_size)?;
                connection.set_prepared_statement_cache_capacity(64);
                Ok(())
            });
        let readers = Pool::builder()
            .max_size(config.read_connections.max(1))
            .min_idle(Some(1))
            .build(manager)
            .map_err(|source| StoreError::Pool {
                path: path.clone(),
                source,
            })?;
        let writer = Writer::start(writer, config.max_batch).map_err(StoreError::Thread)?;
        let batched = !config.history_interval.is_zero();
        let (stop, stopped) = std::sync::mpsc::channel();
        let shared = Arc::new(Shared {
            writer,
            readers,
            prune_batch: config.prune_batch.max(1),
            job_cache: Arc::new(Mutex::new(JobCache::new(config.job_cache_capacity))),
            _stop_indexer: batched.then_some(stop),
            _temporary_directory: temporary,
        });
        if batched {
            history::spawn_indexer(Arc::downgrade(&shared), config.history_interval, stopped)
                .map_err(StoreError::Thread)?;
        }
        Ok(SqliteStore { shared })
    }

    /// Gives every execution with a tick before `before` its entry in the per-job history
    /// index, and returns how many executions the round read. The store runs this by itself
    /// every [`SqliteConfig::history_interval`], up to a second before the clock; reads are
    /// correct whether it has run or not, so calling it is only for tests and tools.
    ///
    /// # Errors
    ///
    /// A store error if the database cannot be read or written.
    pub async fn index_history(&self, before: Timestamp) -> Result<u64> {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || history::index_before(&shared, millis(before)))
            .await
            .map_err(|error| Error::store("indexing the history: the task failed", error))?
    }

    /// The database file.
    pub fn path(&self) -> Option<PathBuf> {
        let connection = self.shared.readers.get().ok()?;
        connection.path().map(Path::new).map(Path::to_path_buf)
    }

    /// Runs a read on a pooled connection, on tokio's blocking threads.
    fn read<T, F>(&self, what: &'static str, work: F) -> BoxFuture<'_, Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let task = tokio::task::spawn_blocking(move || {
                let connection = shared
                    .readers
                    .get()
                    .map_err(|error| Error::store(format!("{what}: no read connection"), error))?;
                work(&connection).map_err(|error| Error::store(what, error))
            });
            task.await
                .map_err(|error| Error::store(format!("{what}: the read task failed"), error))?
        })
    }

    /// A write someone waits for (an API call): committed ahead of queued background work.
    fn write<T, F>(&self, work: F) -> BoxFuture<'_, Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        Box::pin(self.shared.writer.write(Priority::Interactive, work))
    }

    /// The engine's bulk work (claims, result batches): behind interactive writes.
    fn write_background<T, F>(&self, work: F) -> BoxFuture<'_, Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        Box::pin(self.shared.writer.write(Priority::Background, work))
    }
}

/// Pragmas of the write connection; WAL mode is a property of the file and sticks.
fn configure(connection: &Connection, config: &SqliteConfig) -> rusqlite::Result<()> {
    connection.busy_timeout(config.busy_timeout)?;
    connection.set_prepared_statement_cache_capacity(64);
    // Only a database without pages yet takes this (before WAL mode, which fixes the size);
    // SQLite ignores it for an existing one.
    connection.pragma_update(None, "page_size", config.page_size)?;
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        log::warn!(
            "database {}: journal mode is {mode}, not WAL",
            config.path.display()
        );
    }
    let synchronous = match config.durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    connection.pragma_update(None, "synchronous", synchronous)?;
    // The store keeps `job_executions.job_id` pointing at a job itself: every insert checks or
    // has just read the job, and a job's deletion deletes its executions first. Enforcing the
    // key would cost each claimed execution a lookup of its job, and each job deletion a scan
    // of the executions (no index is ordered by job since schema version 4).
    connection.pragma_update(None, "foreign_keys", false)?;
    // Each write runs in a savepoint; keep its statement journal in memory, not in a temp
    // file (the claim touches many pages, and file-backed sub-journals doubled its I/O).
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    // A 64 MiB page cache (and memory-mapped reads, if configured): the claim and the inserts
    // walk indexes.
    connection.pragma_update(None, "cache_size", -65_536)?;
    let mmap_size = i64::try_from(config.mmap_size).unwrap_or(i64::MAX);
    connection.pragma_update(None, "mmap_size", mmap_size)?;
    // Reading the schema fails here, not later, for a file that is not a database.
    connection.query_row("SELECT count(*) FROM sqlite_master", [], |row| {
        row.get::<_, i64>(0)
    })?;
    Ok(())
}

fn classify_open_error(path: &Path, source: rusqlite::Error) -> StoreError {
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            source,
        },
        _ => StoreError::Open {
            path: path.to_path_buf(),
            source,
        },
    }
}

fn store_error(what: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    move |error| Error::store(what, error)
}

/// A new job's row, with a new revision (schema version 6).
const INSERT_JOB: &str = "INSERT INTO jobs (id, schedule, api, type, created_at, updated_at, active, time_zone, method, \
     headers, body, attempt_timeout_ms, retry_max_attempts, retry_initial_backoff_ms, retry_max_backoff_ms, \
     retry_multiplier, retry_jitter, misfire_policy, misfire_max, overlap_policy, next_fire_at, version, name, \
     revision) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, \
     random())";

const UPDATE_JOB: &str = "UPDATE jobs SET schedule = ?2, api = ?3, type = ?4, created_at = ?5, updated_at = ?6, \
     active = ?7, time_zone = ?8, method = ?9, headers = ?10, body = ?11, attempt_timeout_ms = ?12, \
     retry_max_attempts = ?13, retry_initial_backoff_ms = ?14, retry_max_backoff_ms = ?15, retry_multiplier = ?16, \
     retry_jitter = ?17, misfire_policy = ?18, misfire_max = ?19, overlap_policy = ?20, next_fire_at = ?21, \
     version = ?22, name = ?23, revision = random() WHERE id = ?1";

const INSERT_EXECUTION: &str = "INSERT INTO job_executions (id, job_id, scheduled_time, executed_time, status, \
     http_status, duration, error_message, finished_time, trigger, claimed_by, attempts, retry_count) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT (scheduled_time, job_id) DO NOTHING";

const UPDATE_EXECUTION: &str = "UPDATE job_executions SET status = ?2, executed_time = ?3, finished_time = ?4, \
     http_status = ?5, duration = ?6, error_message = ?7, attempts = ?8, retry_count = ?9 WHERE id = ?1";

/// Inserts an execution unless its job already has one at that tick; `false` if it had.
/// Inserts `execution` unless its job has one at its tick; one inserted below `announced` (read
/// from the history state in the same transaction) also enters the per-job history.
fn insert_execution_row(
    connection: &Connection,
    execution: &Execution,
    announced: i64,
) -> rusqlite::Result<bool> {
    let job_id = execution.job_id.0.to_string();
    let tick = millis(execution.scheduled_at);
    let inserted = connection
        .prepare_cached(INSERT_EXECUTION)?
        .execute(params![
            execution.id.0.to_string(),
            job_id,
            tick,
            execution.executed_at.map(millis),
            execution.status.as_str(),
            execution.http_status,
            execution.duration.map(duration_millis),
            execution.error,
            execution.finished_at.map(millis),
            execution.trigger.as_str(),
            execution.claimed_by,
            execution.attempts,
            execution.attempts.saturating_sub(1),
        ])?;
    if inserted == 1 {
        history::enter_if_announced(connection, &job_id, tick, announced)?;
    }
    Ok(inserted == 1)
}

fn job_row(job: &Job) -> Result<JobRow> {
    JobRow::new(job).map_err(|reason| Error::invalid(scheduler_core::JobField::TimeZone, reason))
}

impl JobStore for SqliteStore {
    fn insert_job(&self, job: Job) -> BoxFuture<'_, Result<()>> {
        self.write(move |connection| insert_job_row(connection, &job))
    }

    fn get_job(&self, id: JobId) -> BoxFuture<'_, Result<Option<Job>>> {
        self.read("reading a job", move |connection| {
            let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1");
            connection
                .prepare_cached(&sql)?
                .query_row([id.0.to_string()], |row| job_from_row(row, 0))
                .optional()
        })
    }

    fn update_job(
        &self,
        mut job: Job,
        expected_version: u64,
        next_fire: NextFire,
    ) -> BoxFuture<'_, Result<Job>> {
        self.write(move |connection| {
            let stored: Option<(i64, i64, Option<i64>)> = connection
                .prepare_cached("SELECT version, created_at, next_fire_at FROM jobs WHERE id = ?1")
                .and_then(|mut statement| {
                    statement
                        .query_row([job.id.0.to_string()], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                        })
                        .optional()
                })
                .map_err(store_error("reading a job to update"))?;
            let Some((version, created_at, stored_next)) = stored else {
                return Err(Error::JobNotFound(job.id));
            };
            if version as u64 != expected_version {
                return Err(Error::VersionConflict {
                    job_id: job.id,
                    expected: expected_version,
                    actual: version as u64,
                });
            }
            job.version = expected_version + 1;
            job.created_at = Timestamp::from_millisecond(created_at).unwrap_or(job.created_at);
            job.next_fire_at = match next_fire {
                NextFire::Keep => stored_next.and_then(|at| Timestamp::from_millisecond(at).ok()),
                NextFire::Set(at) => at,
            };
            let row = job_row(&job)?;
            connection
                .prepare_cached(UPDATE_JOB)
                .and_then(|mut statement| statement.execute(&row.params()[..]))
                .map_err(store_error("updating a job"))?;
            Ok(job)
        })
    }

    fn delete_job(&self, id: JobId) -> BoxFuture<'_, Result<bool>> {
        self.write(move |connection| {
            let id = id.0.to_string();
            history::delete_job_executions(connection, &id)
                .map_err(store_error("deleting a job's executions"))?;
            let deleted = connection
                .prepare_cached("DELETE FROM jobs WHERE id = ?1")
                .and_then(|mut statement| statement.execute([&id]))
                .map_err(store_error("deleting a job"))?;
            Ok(deleted == 1)
        })
    }

    fn count_jobs(&self) -> BoxFuture<'_, Result<JobCounts>> {
        self.read("counting jobs", |connection| {
            // `idx_jobs_active` makes this an index scan, not a read of every job row.
            let (active, paused): (i64, i64) = connection
                .prepare_cached(
                    "SELECT COALESCE(SUM(active = 1), 0), COALESCE(SUM(active = 0), 0) FROM jobs",
                )?
                .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(JobCounts {
                active: active as u64,
                paused: paused as u64,
            })
        })
    }

    fn find_jobs(&self, query: JobQuery) -> BoxFuture<'_, Result<Vec<Job>>> {
        self.read("listing jobs", move |connection| {
            let sql = format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE id > ?1 AND (?2 IS NULL OR active = NOT ?2) \
                 AND (?3 IS NULL OR type = ?3) ORDER BY id LIMIT ?4"
            );
            let after = query.after.map(|id| id.0.to_string()).unwrap_or_default();
            let delivery = query.delivery.map(|delivery| delivery.as_str());
            let mut statement = connection.prepare_cached(&sql)?;
            let jobs = statement.query_map(
                params![after, query.paused, delivery, query.limit as i64],
                |row| job_from_row(row, 0),
            )?;
            jobs.collect()
        })
    }
}

impl ExecutionStore for SqliteStore {
    fn claim_due(&self, request: ClaimRequest) -> BoxFuture<'_, Result<ClaimBatch>> {
        let cache = Arc::clone(&self.shared.job_cache);
        self.write_background(move |connection| {
            let mut cache = cache.lock().unwrap_or_else(|poisoned| {
                // A claim panicked while holding it: start again from nothing.
                let mut cache = poisoned.into_inner();
                cache.clear();
                cache
            });
            claim(connection, &request, &mut cache)
        })
    }

    fn insert_job_and_claim(
        &self,
        job: Job,
        request: ClaimRequest,
    ) -> BoxFuture<'_, Result<ClaimBatch>> {
        self.write(move |connection| {
            let plan = plan_new_job_claim(&job, &request);
            let job = Arc::new(Job {
                next_fire_at: plan.next_fire_at,
                ..job
            });
            insert_job_row(connection, &job)?;
            let mut batch = ClaimBatch {
                misfired: plan.misfired,
                ..ClaimBatch::default()
            };
            let announced = history::announced(connection)?;
            insert_claimed(
                connection,
                &job,
                plan.ticks,
                &request.owner,
                announced,
                &mut batch,
            )?;
            Ok(batch)
        })
    }

    fn insert_execution(&self, execution: Execution) -> BoxFuture<'_, Result<()>> {
        self.write(move |connection| {
            let exists = connection
                .prepare_cached("SELECT 1 FROM jobs WHERE id = ?1")
                .and_then(|mut statement| statement.exists([execution.job_id.0.to_string()]))
                .map_err(store_error("checking an execution's job"))?;
            if !exists {
                return Err(Error::JobNotFound(execution.job_id));
            }
            let announced = history::announced(connection)?;
            match insert_execution_row(connection, &execution, announced)
                .map_err(store_error("inserting an execution"))?
            {
                true => Ok(()),
                false => Err(Error::DuplicateExecution {
                    job_id: execution.job_id,
                    scheduled_at: execution.scheduled_at,
                }),
            }
        })
    }

    fn record_results(&self, updates: Vec<ExecutionUpdate>) -> BoxFuture<'_, Result<()>> {
        self.write_background(move |connection| {
            let mut statement = connection
                .prepare_cached(UPDATE_EXECUTION)
                .map_err(store_error("recording results"))?;
            for update in &updates {
                statement
                    .execute(params![
                        update.id.0.to_string(),
                        update.status.as_str(),
                        update.executed_at.map(millis),
                        update.finished_at.map(millis),
                        update.http_status,
                        update.duration.map(duration_millis),
                        update.error,
                        update.attempts,
                        update.attempts.saturating_sub(1),
                    ])
                    .map_err(store_error("recording a result"))?;
            }
            Ok(())
        })
    }

    fn get_execution(&self, id: ExecutionId) -> BoxFuture<'_, Result<Option<Execution>>> {
        self.read("reading an execution", move |connection| {
            let sql = format!("SELECT {EXECUTION_COLUMNS} FROM job_executions WHERE id = ?1");
            connection
                .prepare_cached(&sql)?
                .query_row([id.0.to_string()], execution_from_row)
                .optional()
        })
    }

    fn find_executions(&self, query: ExecutionQuery) -> BoxFuture<'_, Result<Vec<Execution>>> {
        self.read("reading executions", move |connection| {
            let status = query.status.map(|status| status.as_str());
            // Per job: the history index and the last window (`history`); across jobs: the
            // tick index.
            if let Some(job_id) = query.job_id {
                return history::job_executions(
                    connection,
                    &job_id.0.to_string(),
                    status,
                    query.limit,
                );
            }
            let sql = executions_across_jobs_sql(query.status);
            let mut statement = connection.prepare_cached(&sql)?;
            let rows =
                statement.query_map(params![status, query.limit as i64], execution_from_row)?;
            rows.collect()
        })
    }

    fn unfinished_executions(&self, owner: &str) -> BoxFuture<'_, Result<Vec<ClaimedTick>>> {
        let owner = owner.to_owned();
        self.read("reading unfinished executions", move |connection| {
            let execution_columns = history::prefixed_execution_columns();
            let sql = format!(
                "SELECT {execution_columns}, {} FROM job_executions e JOIN jobs j ON j.id = e.job_id \
                 WHERE e.status IN ('PENDING', 'RUNNING') AND e.claimed_by = ?1 ORDER BY e.scheduled_time, e.id",
                job_columns_of("j")
            );
            let mut statement = connection.prepare_cached(&sql)?;
            let rows = statement.query_map([owner], |row| {
                Ok(ClaimedTick { execution: execution_from_row(row)?, job: Arc::new(job_from_row(row, 12)?) })
            })?;
            rows.collect()
        })
    }

    fn prune(&self, policy: RetentionPolicy, now: Timestamp) -> BoxFuture<'_, Result<u64>> {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let batch = shared.prune_batch as i64;
            let mut deleted = 0u64;
            // Each round is its own small write, so claims and results interleave with pruning.
            if let Some(max_age) = policy.max_age {
                let cutoff = millis(now) - duration_millis(max_age);
                loop {
                    let round = shared
                        .writer
                        .write(Priority::Background, move |connection| {
                            connection
                                .prepare_cached(
                                    "DELETE FROM job_executions WHERE rowid IN (SELECT rowid FROM job_executions \
                                     WHERE scheduled_time < ?1 AND status NOT IN ('PENDING', 'RUNNING') LIMIT ?2)",
                                )
                                .and_then(|mut statement| statement.execute(params![cutoff, batch]))
                                .map_err(store_error("pruning old executions"))
                        })
                        .await?;
                    deleted += round as u64;
                    if (round as i64) < batch {
                        break;
                    }
                }
            }
            if let Some(max_per_job) = policy.max_per_job {
                let keep = i64::try_from(max_per_job).unwrap_or(i64::MAX);
                // Counting goes through the history table: first give every execution there
                // now its entry (with per-insert indexing, this finds nothing to do).
                let indexer = Arc::clone(&shared);
                let now = millis(now);
                tokio::task::spawn_blocking(move || {
                    let before = history::everything_before(&indexer, now)?;
                    history::index_before(&indexer, before)
                })
                .await
                .map_err(|error| Error::store("pruning: the indexing task failed", error))??;
                let mut from = PruneFrom::Start;
                loop {
                    let round = shared
                        .writer
                        .write(Priority::Background, move |connection| {
                            prune_per_job_round(connection, from, keep, batch)
                        })
                        .await?;
                    deleted += round.deleted;
                    match round.resume {
                        Some(next) => from = next,
                        None => break,
                    }
                }
            }
            Ok(deleted)
        })
    }
}

/// Where a round of per-job pruning starts: at the lowest job id, or at the job the previous
/// round stopped at.
#[derive(Debug)]
enum PruneFrom {
    Start,
    At(String),
}

/// What one round of per-job pruning did, and where the next one starts (`None`: done).
struct PruneRound {
    deleted: u64,
    resume: Option<PruneFrom>,
}

/// Per-job pruning's statements; each one seeks the history table, and the executions through
/// their tick index (a test checks the plans).
const PRUNE_NEXT_JOB_AFTER: &str =
    "SELECT job_id FROM job_execution_history WHERE job_id > ?1 ORDER BY job_id LIMIT 1";
const PRUNE_NEXT_JOB_FROM: &str =
    "SELECT job_id FROM job_execution_history WHERE job_id >= ?1 ORDER BY job_id LIMIT 1";
const PRUNE_MORE_THAN_KEPT: &str = "SELECT 1 FROM job_execution_history WHERE job_id = ?1 \
     ORDER BY scheduled_time DESC LIMIT 1 OFFSET ?2";
const PRUNE_CUT_OFF: &str = "SELECT h.scheduled_time FROM job_execution_history h CROSS JOIN job_executions e \
     ON e.scheduled_time = h.scheduled_time AND e.job_id = h.job_id \
     WHERE h.job_id = ?1 AND e.status NOT IN ('PENDING', 'RUNNING') \
     ORDER BY h.scheduled_time DESC LIMIT 1 OFFSET ?2";
const PRUNE_UP_TO: &str = "DELETE FROM job_executions WHERE rowid IN (SELECT e.rowid FROM job_execution_history h \
     CROSS JOIN job_executions e ON e.scheduled_time = h.scheduled_time AND e.job_id = h.job_id \
     WHERE h.job_id = ?1 AND h.scheduled_time <= ?2 AND e.status NOT IN ('PENDING', 'RUNNING') LIMIT ?3)";

/// One write's share of retention by count: job after job in id order from `from`, deletes the
/// finished executions beyond each job's newest `keep`.
///
/// Runs after an indexing round that took in every execution present, so the history table
/// holds them all. Each job costs a few index seeks: a job with at most `keep` executions of
/// any status is passed over on its history entries alone, and otherwise the cut-off is the
/// tick of its `keep + 1`-th newest finished execution. A round stops after `batch` deletions or
/// after examining about `16 * batch` executions, so one write never holds the writer long and
/// the whole prune reads each job's newest executions once, not the table once per round.
fn prune_per_job_round(
    connection: &Connection,
    from: PruneFrom,
    keep: i64,
    batch: i64,
) -> Result<PruneRound> {
    const WHAT: &str = "pruning executions beyond the per-job limit";
    let next_job = |sql: &str, key: &str| -> Result<Option<String>> {
        connection
            .prepare_cached(sql)
            .and_then(|mut statement| statement.query_row([key], |row| row.get(0)).optional())
            .map_err(store_error(WHAT))
    };
    let mut job = match &from {
        PruneFrom::Start => next_job(PRUNE_NEXT_JOB_FROM, "")?,
        PruneFrom::At(job) => next_job(PRUNE_NEXT_JOB_FROM, job)?,
    };
    let mut deleted: i64 = 0;
    let mut examined: i64 = 0;
    while let Some(id) = job {
        if deleted >= batch || examined >= batch.saturating_mul(16) {
            return Ok(PruneRound {
                deleted: deleted as u64,
                resume: Some(PruneFrom::At(id)),
            });
        }
        examined = examined.saturating_add(1);
        let over = connection
            .prepare_cached(PRUNE_MORE_THAN_KEPT)
            .and_then(|mut statement| statement.exists(params![id, keep]))
            .map_err(store_error(WHAT))?;
        if over {
            examined = examined.saturating_add(keep);
            let cut_off: Option<i64> = connection
                .prepare_cached(PRUNE_CUT_OFF)
                .and_then(|mut statement| {
                    statement
                        .query_row(params![id, keep], |row| row.get(0))
                        .optional()
                })
                .map_err(store_error(WHAT))?;
            if let Some(cut_off) = cut_off {
                let budget = batch - deleted;
                let gone = connection
                    .prepare_cached(PRUNE_UP_TO)
                    .and_then(|mut statement| statement.execute(params![id, cut_off, budget]))
                    .map_err(store_error(WHAT))? as i64;
                deleted += gone;
                examined = examined.saturating_add(gone);
                if gone == budget {
                    // The batch is spent; this job may have more beyond it.
                    return Ok(PruneRound {
                        deleted: deleted as u64,
                        resume: Some(PruneFrom::At(id)),
                    });
                }
            }
        }
        job = next_job(PRUNE_NEXT_JOB_AFTER, &id)?;
    }
    Ok(PruneRound {
        deleted: deleted as u64,
        resume: None,
    })
}

/// The claim's read of due jobs, in watermark order: each one's row id, revision and watermark;
/// `?1` due before, `?2` the most rows. A job the claims' cache holds at that revision needs
/// nothing more; any other is read whole with [`select_job_by_row_sql`]. SQLite extracts every
/// column a statement returns as it steps, read or not, so reading all of a job's 23 columns
/// here cost their extraction at every claim of every job (docs/PERFORMANCE.md, tenth round).
///
/// `INDEXED BY`: without statistics, SQLite's planner prefers the equality on `idx_jobs_active`
/// and then sorts every active job, in every chunk of every claim (with a million jobs, a
/// million rows read and sorted to find a thousand due ones).
const SELECT_DUE: &str = "SELECT rowid, revision, next_fire_at FROM jobs INDEXED BY idx_jobs_due \
     WHERE active = 1 AND next_fire_at IS NOT NULL AND next_fire_at <= ?1 ORDER BY next_fire_at LIMIT ?2";

/// A due job the claims' cache does not hold at its revision, read whole by its row id.
fn select_job_by_row_sql() -> String {
    format!("SELECT {JOB_COLUMNS} FROM jobs WHERE rowid = ?1")
}

/// The listing of executions across jobs, newest tick first: the tick index, unless `status` is
/// one of the rare final states, which have an index of their own (schema version 5).
fn executions_across_jobs_sql(status: Option<ExecutionStatus>) -> String {
    let exceptional = match status {
        Some(ExecutionStatus::Failed | ExecutionStatus::Abandoned | ExecutionStatus::Skipped) => {
            true
        }
        Some(ExecutionStatus::Pending | ExecutionStatus::Running | ExecutionStatus::Succeeded)
        | None => false,
    };
    if exceptional {
        format!(
            "SELECT {EXECUTION_COLUMNS} FROM job_executions INDEXED BY idx_job_executions_exceptional \
             WHERE status = ?1 AND {} ORDER BY scheduled_time DESC, id DESC LIMIT ?2",
            schema::EXCEPTIONAL_STATES
        )
    } else {
        format!(
            "SELECT {EXECUTION_COLUMNS} FROM job_executions WHERE (?1 IS NULL OR status = ?1) \
             ORDER BY scheduled_time DESC, id DESC LIMIT ?2"
        )
    }
}

/// Inserts a new job's row; [`Error::JobExists`] if its id is taken.
fn insert_job_row(connection: &Connection, job: &Job) -> Result<()> {
    let row = job_row(job)?;
    match connection
        .prepare_cached(INSERT_JOB)
        .and_then(|mut statement| statement.execute(&row.params()[..]))
    {
        Ok(_) => Ok(()),
        Err(error) if error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
            Err(Error::JobExists(job.id))
        }
        Err(error) => Err(Error::store("inserting a job", error)),
    }
}

/// Inserts a pending execution of `job` for each of `ticks`, owned by `owner`, and adds each
/// inserted one to `batch`; a tick that has an execution already is claimed already, and
/// skipped.
fn insert_claimed(
    connection: &Connection,
    job: &Arc<Job>,
    ticks: Vec<Timestamp>,
    owner: &str,
    announced: i64,
    batch: &mut ClaimBatch,
) -> Result<()> {
    for tick in ticks {
        let execution = Execution::pending(
            job.id,
            tick,
            scheduler_core::ExecutionTrigger::Schedule,
            owner,
        );
        if insert_execution_row(connection, &execution, announced)
            .map_err(store_error("inserting a claimed execution"))?
        {
            batch.ticks.push(ClaimedTick {
                execution,
                job: Arc::clone(job),
            });
        }
    }
    Ok(())
}

/// The claim transaction's work: due jobs in watermark order, a chunk at a time, each planned
/// with [`plan_claim`], its new executions inserted and its watermark advanced. A due job's
/// spec comes from `cache` when it holds the job at its current revision, and is decoded from
/// its row otherwise (and kept, if it fires again soon).
fn claim(
    connection: &Connection,
    request: &ClaimRequest,
    cache: &mut JobCache,
) -> Result<ClaimBatch> {
    const CHUNK: usize = 256;
    let due_before = millis(request.due_before);
    let mut batch = ClaimBatch::default();
    let select_job = select_job_by_row_sql();
    let announced = history::announced(connection)?;
    while batch.ticks.len() < request.limit {
        let chunk = (request.limit - batch.ticks.len()).min(CHUNK);
        let due: Vec<(i64, i64, Option<Timestamp>)> = connection
            .prepare_cached(SELECT_DUE)
            .and_then(|mut statement| {
                statement
                    .query_map(params![due_before, chunk as i64], |row| {
                        Ok((row.get(0)?, row.get(1)?, optional_timestamp_from(row, 2)?))
                    })?
                    .collect()
            })
            .map_err(store_error("reading due jobs"))?;
        if due.is_empty() {
            break;
        }
        let due = due
            .into_iter()
            .map(|(row, revision, next_fire_at)| {
                due_job(connection, &select_job, cache, row, revision, next_fire_at)
            })
            .collect::<rusqlite::Result<Vec<DueJob>>>()
            .map_err(store_error("reading due jobs"))?;
        for DueJob {
            row,
            revision,
            mut job,
            kept,
        } in due
        {
            let budget = request.limit - batch.ticks.len();
            if budget == 0 {
                break;
            }
            let plan = plan_claim(&job, request, budget);
            batch.misfired += plan.misfired;
            job.next_fire_at = plan.next_fire_at;
            if !kept && job_cache::worth_keeping(plan.next_fire_at, request.now) {
                cache.insert(row, revision, job.clone());
            }
            let job = Arc::new(job);
            insert_claimed(
                connection,
                &job,
                plan.ticks,
                &request.owner,
                announced,
                &mut batch,
            )?;
            connection
                .prepare_cached("UPDATE jobs SET next_fire_at = ?1 WHERE rowid = ?2")
                .and_then(|mut statement| {
                    statement.execute(params![plan.next_fire_at.map(millis), row])
                })
                .map_err(store_error("advancing a job's next fire time"))?;
        }
    }
    Ok(batch)
}

/// A due job, as of its row in the claim's read.
struct DueJob {
    /// Its row id in `jobs`.
    row: i64,
    revision: i64,
    /// With its watermark as stored.
    job: Job,
    /// Whether it came from the cache.
    kept: bool,
}

/// The due job at `row` (as read by [`SELECT_DUE`]): from `cache` when it holds the job at
/// `revision`, read with `select_job` otherwise.
fn due_job(
    connection: &Connection,
    select_job: &str,
    cache: &JobCache,
    row: i64,
    revision: i64,
    next_fire_at: Option<Timestamp>,
) -> rusqlite::Result<DueJob> {
    let (job, kept) = match cache.get(row, revision) {
        Some(kept) => {
            let mut job = kept.clone();
            job.next_fire_at = next_fire_at;
            (job, true)
        }
        None => {
            let job = connection
                .prepare_cached(select_job)?
                .query_row([row], |job| job_from_row(job, 0))?;
            (job, false)
        }
    };
    Ok(DueJob {
        row,
        revision,
        job,
        kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query plan of `sql` on a freshly migrated database, one line per step.
    fn plan(sql: &str) -> Vec<String> {
        let mut connection = Connection::open_in_memory().expect("an in-memory database");
        schema::migrate(&mut connection, Timestamp::UNIX_EPOCH).expect("the migrations");
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("a query plan");
        let parameters = statement.parameter_count();
        let values = vec![0i64; parameters];
        statement
            .query_map(rusqlite::params_from_iter(values), |row| {
                row.get::<_, String>(3)
            })
            .expect("the plan's rows")
            .collect::<rusqlite::Result<_>>()
            .expect("the plan")
    }

    #[tokio::test]
    async fn the_mmap_setting_reaches_the_writer_and_the_readers() {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let config = SqliteConfig {
            mmap_size: 1 << 20,
            ..SqliteConfig::new(directory.path().join("mmap.db"))
        };
        let store = SqliteStore::open(&config).expect("the store opens");
        let pragma = |connection: &Connection| {
            connection.query_row("PRAGMA mmap_size", [], |row| row.get::<_, i64>(0))
        };
        let written = store
            .write(move |connection| pragma(connection).map_err(store_error("mmap_size")))
            .await
            .expect("the writer answers");
        let read = store
            .read("mmap_size", pragma)
            .await
            .expect("a reader answers");
        assert_eq!((written, read), (1 << 20, 1 << 20));

        let store = SqliteStore::open_temporary().expect("a temporary store");
        let read = store
            .read("mmap_size", pragma)
            .await
            .expect("a reader answers");
        assert_eq!(read, 0, "off by default");
    }

    /// Bytes the calling thread has read from files so far (`rchar` in `/proc/thread-self/io`):
    /// SQLite reads every page it does not hold in its page cache with `pread`.
    fn bytes_read_by_this_thread() -> u64 {
        let io = std::fs::read_to_string("/proc/thread-self/io").expect("this thread's I/O counts");
        io.lines()
            .find_map(|line| line.strip_prefix("rchar: "))
            .and_then(|count| count.trim().parse().ok())
            .expect("an rchar line")
    }

    /// A full scan of the filler table on the writer, and the bytes the writer read from the
    /// files for it.
    async fn scan_on_the_writer(store: &SqliteStore) -> u64 {
        store
            .write(|connection| {
                let before = bytes_read_by_this_thread();
                connection
                    .query_row("SELECT sum(length(b)) FROM filler", [], |row| {
                        row.get::<_, i64>(0)
                    })
                    .map_err(store_error("scanning the filler"))?;
                Ok(bytes_read_by_this_thread() - before)
            })
            .await
            .expect("the writer answers")
    }

    /// The bundled SQLite is built without `SQLITE_ENABLE_MEMORY_MANAGEMENT` (see
    /// `.cargo/config.toml`). With it, every connection's page cache is one shared pool, and a
    /// read connection scanning more than its own cache holds takes the pages it needs from the
    /// writer's cache: the writer then reads its pages, B-tree roots included, back from the
    /// file (docs/PERFORMANCE.md, the history round).
    #[tokio::test]
    async fn a_long_read_on_a_read_connection_leaves_the_writers_page_cache_alone() {
        let store = SqliteStore::open_temporary().expect("a temporary store");
        // About 8 MB, four times a read connection's page cache (SQLite's default, 2 MB), and
        // an eighth of the writer's (64 MiB).
        store
            .write(|connection| {
                connection
                    .execute_batch(
                        "CREATE TABLE filler (b BLOB);
                         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
                         INSERT INTO filler SELECT randomblob(2000) FROM n;",
                    )
                    .map_err(store_error("filling"))
            })
            .await
            .expect("the filler is written");
        scan_on_the_writer(&store).await;
        let warm = scan_on_the_writer(&store).await;
        let long_read = store
            .read("a long read", |connection| {
                let before = bytes_read_by_this_thread();
                connection.query_row("SELECT sum(length(b)) FROM filler", [], |row| {
                    row.get::<_, i64>(0)
                })?;
                Ok(bytes_read_by_this_thread() - before)
            })
            .await
            .expect("a reader answers");
        let after = scan_on_the_writer(&store).await;
        assert!(
            long_read > 4 << 20,
            "the read connection reads the table from the files ({long_read} bytes)"
        );
        assert!(
            after <= warm + (64 << 10),
            "the writer read {after} bytes back after the long read, {warm} before it"
        );
    }

    /// The page size of the database file at `path`, read from a connection of its own.
    fn page_size_of(path: &Path) -> i64 {
        Connection::open(path)
            .and_then(|connection| {
                connection.query_row("PRAGMA page_size", [], |row| row.get::<_, i64>(0))
            })
            .expect("the page size")
    }

    #[test]
    fn a_new_database_takes_the_configured_page_size_and_an_existing_one_keeps_its_own() {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let default = directory.path().join("default.db");
        drop(SqliteStore::open(&SqliteConfig::new(&default)).expect("the store opens"));
        assert_eq!(page_size_of(&default), 16_384);

        let small = directory.path().join("small.db");
        let config = SqliteConfig {
            page_size: 4_096,
            ..SqliteConfig::new(&small)
        };
        drop(SqliteStore::open(&config).expect("the store opens"));
        assert_eq!(page_size_of(&small), 4_096);
        // Reopened with the default, the file keeps the size it was created with.
        drop(SqliteStore::open(&SqliteConfig::new(&small)).expect("the store reopens"));
        assert_eq!(page_size_of(&small), 4_096);
    }

    #[test]
    fn a_page_size_out_of_range_is_refused_before_any_file_is_made() {
        let directory = tempfile::tempdir().expect("a temporary directory");
        for page_size in [0, 256, 1_000, 131_072] {
            let path = directory.path().join(format!("page-{page_size}.db"));
            let config = SqliteConfig {
                page_size,
                ..SqliteConfig::new(&path)
            };
            let error = SqliteStore::open(&config).expect_err("an invalid page size");
            assert!(
                matches!(
                    error,
                    StoreError::InvalidConfig {
                        setting: "page_size",
                        ..
                    }
                ),
                "{error:?}"
            );
            assert!(
                error.to_string().contains(&page_size.to_string()),
                "{error}"
            );
            assert!(!path.exists());
        }
    }

    #[test]
    fn the_claim_reads_due_jobs_through_the_due_index_without_sorting() {
        assert_eq!(
            plan(SELECT_DUE),
            ["SEARCH jobs USING INDEX idx_jobs_due (next_fire_at>? AND next_fire_at<?)"]
        );
        assert_eq!(
            plan(&select_job_by_row_sql()),
            ["SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)"]
        );
    }

    #[test]
    fn reads_of_one_jobs_executions_seek_the_tick_index_and_the_history_table() {
        // Above the watermark: one seek per distinct tick, then a point lookup of the job's
        // execution at it; nothing reads the window's executions one by one.
        for sql in [history::recent_sql(), history::delete_recent_sql()] {
            let recent = plan(&sql);
            assert!(
                recent
                    .iter()
                    .all(|step| !step.starts_with("SCAN job_executions")
                        && !step.starts_with("SCAN e")),
                "{recent:?}"
            );
            assert!(
                recent.iter().any(|step| step
                    == "SEARCH job_executions USING COVERING INDEX idx_job_executions_tick_job (scheduled_time>? AND scheduled_time<?)"),
                "{recent:?}"
            );
            assert!(
                recent.iter().any(|step| step.starts_with("SEARCH e USING")
                    && step.ends_with(
                        "INDEX idx_job_executions_tick_job (scheduled_time=? AND job_id=?)"
                    )),
                "{recent:?}"
            );
        }
        // Below it: the history table in order, then the execution at each entry.
        let older = plan(&history::older_sql());
        assert_eq!(older.len(), 2, "{older:?}");
        assert!(
            older[0].starts_with("SEARCH h USING PRIMARY KEY (job_id=? AND scheduled_time<?)"),
            "{older:?}"
        );
        assert!(
            older[1].contains(
                "USING INDEX idx_job_executions_tick_job (scheduled_time=? AND job_id=?)"
            ),
            "{older:?}"
        );
    }

    #[test]
    fn listings_of_the_rare_final_states_across_jobs_seek_their_own_index() {
        for status in [
            ExecutionStatus::Failed,
            ExecutionStatus::Abandoned,
            ExecutionStatus::Skipped,
        ] {
            // In order: no scan, and no sort.
            let steps = plan(&executions_across_jobs_sql(Some(status)));
            assert_eq!(
                steps,
                ["SEARCH job_executions USING INDEX idx_job_executions_exceptional (status=?)"],
                "{status:?}"
            );
        }
        // The others are at the newest ticks, or are all of them: the tick index, newest first.
        for status in [
            None,
            Some(ExecutionStatus::Pending),
            Some(ExecutionStatus::Running),
            Some(ExecutionStatus::Succeeded),
        ] {
            let steps = plan(&executions_across_jobs_sql(status));
            assert!(
                steps
                    .iter()
                    .any(|step| step
                        == "SCAN job_executions USING INDEX idx_job_executions_tick_job"),
                "{status:?}: {steps:?}"
            );
        }
    }

    #[test]
    fn no_index_of_the_executions_is_ordered_by_job() {
        let connection = {
            let mut connection = Connection::open_in_memory().expect("an in-memory database");
            schema::migrate(&mut connection, Timestamp::UNIX_EPOCH).expect("the migrations");
            connection
        };
        let first_columns: Vec<(String, String)> = connection
            .prepare(
                "SELECT il.name, (SELECT ii.name FROM pragma_index_info(il.name) ii WHERE ii.seqno = 0) \
                 FROM pragma_index_list('job_executions') il",
            )
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .expect("the indexes");
        assert!(
            first_columns.iter().all(|(_, column)| column != "job_id"),
            "{first_columns:?}"
        );
        assert!(
            first_columns
                .iter()
                .any(|(name, column)| name == "idx_job_executions_tick_job"
                    && column == "scheduled_time"),
            "{first_columns:?}"
        );
    }

    #[test]
    fn per_job_pruning_seeks_the_history_table_and_never_scans_or_sorts() {
        for sql in [
            PRUNE_NEXT_JOB_AFTER,
            PRUNE_NEXT_JOB_FROM,
            PRUNE_MORE_THAN_KEPT,
            PRUNE_CUT_OFF,
            PRUNE_UP_TO,
        ] {
            let plan = plan(sql);
            assert!(
                plan.iter()
                    .any(|step| step.starts_with("SEARCH")
                        && step.contains("USING PRIMARY KEY (job_id")),
                "{sql}: {plan:?}"
            );
            assert!(
                plan.iter()
                    .all(|step| !step.starts_with("SCAN") && !step.contains("TEMP B-TREE")),
                "{sql}: {plan:?}"
            );
        }
    }
}
