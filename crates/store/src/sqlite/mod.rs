//! [`SqliteStore`]: the store on one SQLite file, its shared state, and the helpers that run
//! its reads and writes. Each area of work has a file of its own:
//!
//! - `config`: [`SqliteConfig`] and [`Durability`];
//! - `open`: opening (and initialising), connection settings, the start-up check, migrations
//!   and open errors;
//! - `files`: whether the database file and its `-wal` are still the files the store has open;
//! - `check`: [`check_database`], the full integrity check of a database file;
//! - `jobs`: the [`JobStore`](scheduler_core::JobStore) implementation and its SQL;
//! - `claims` and `job_cache`: claims of due ticks and the claims' cache of decoded jobs;
//! - `executions`: the implementations of the execution capabilities ([`ClaimStore`](scheduler_core::ClaimStore) and the rest),
//!   execution inserts, results and listings;
//! - `prune`: retention, a round per write.
//!
//! The writer thread (`crate::writer`) and the per-job history indexer (`crate::history`) have
//! files of their own.

mod check;
mod claims;
mod config;
mod executions;
pub(crate) mod files;
mod job_cache;
mod jobs;
mod nodes;
mod open;
mod prune;
pub(crate) mod rows;
mod tokens;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;
use scheduler_core::{BoxFuture, Error, Result, StoreErrorKind, Timestamp};

pub use self::check::{IntegrityReport, check_database};
pub use self::config::{Durability, SqliteConfig};
use self::job_cache::JobCache;
use crate::codec::millis;
use crate::failure;
use crate::history;
use crate::writer::{Priority, Writer};

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

impl SqliteStore {
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
            .map_err(|error| {
                failure::machinery(
                    StoreErrorKind::Permanent,
                    "indexing the history: the task failed",
                    error,
                )
            })?
    }

    /// Checks that the database file and its `-wal` are still the files the store opened (by
    /// device and inode). A file deleted or replaced while the store runs is reported once at
    /// ERROR with what to do, and the store refuses writes from then on; this returns the same
    /// error every time after. Two `stat` calls: cheap enough for every health check.
    ///
    /// # Errors
    ///
    /// [`StoreError::FileLost`](crate::StoreError::FileLost), naming the file and what happened
    /// to it.
    pub fn check_files(&self) -> std::result::Result<(), crate::StoreError> {
        self.shared
            .files
            .check()
            .map_err(|loss| self.shared.files.error(loss))
    }

    /// The database file.
    pub fn path(&self) -> Option<PathBuf> {
        let connection = self.shared.readers.get().ok()?;
        connection.path().map(Path::new).map(Path::to_path_buf)
    }
}

/// What the store's handles, its writer tasks' callers and the history indexer share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) writer: Writer,
    readers: Pool<SqliteConnectionManager>,
    /// The files the store opened, checked against their paths.
    files: Arc<files::DatabaseFiles>,
    prune_batch: usize,
    /// The claims' decoded jobs. Only the writer thread uses it; its own `Arc`, so that a
    /// claim queued on the writer never holds the last reference to [`Shared`] (whose drop
    /// joins the writer thread).
    job_cache: Arc<Mutex<JobCache>>,
    /// Dropped with the store, which stops the history indexer thread.
    _stop_indexer: Option<std::sync::mpsc::Sender<()>>,
    /// Last, so that what it keeps outlives the connections and threads above.
    _keep_alive: KeepAlive,
}

/// What a store keeps until its last handle is gone.
#[derive(Debug, Default)]
struct KeepAlive {
    /// The directory of a temporary database, deleted once the database is closed.
    #[cfg(feature = "testing")]
    _temporary_directory: Option<tempfile::TempDir>,
}

impl SqliteStore {
    /// Runs a read on a pooled connection, on tokio's blocking threads.
    fn read<T, F>(&self, what: &'static str, work: F) -> BoxFuture<'_, Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let task = tokio::task::spawn_blocking(move || {
                // After a loss, new read connections would open what is at the path now
                // (nothing, or another file), so reads are refused as writes are.
                if let Some(loss) = shared.files.lost() {
                    return Err(shared.files.refusal(loss));
                }
                let connection = shared.readers.get().map_err(|error| {
                    failure::machinery(
                        StoreErrorKind::Busy,
                        format!("{what}: no read connection"),
                        error,
                    )
                })?;
                work(&connection).map_err(|error| failure::sqlite(what, error))
            });
            task.await.map_err(|error| {
                failure::machinery(
                    StoreErrorKind::Permanent,
                    format!("{what}: the read task failed"),
                    error,
                )
            })?
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

fn store_error(what: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    failure::sqlite_while(what)
}

/// The query plan of `sql` on a freshly migrated database, one line per step.
#[cfg(test)]
fn query_plan(sql: &str) -> Vec<String> {
    let mut connection = Connection::open_in_memory().expect("an in-memory database");
    crate::schema::migrate(&mut connection, Timestamp::UNIX_EPOCH).expect("the migrations");
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
