//! Durable stores for the scheduler: [`SqliteStore`], the embedded default, and (feature
//! `postgres`) `PostgresStore`, for several nodes sharing one PostgreSQL database.
//!
//! **What it is:** implementations of `scheduler-core`'s [`Store`](scheduler_core::Store)
//! traits on SQL databases. It is the only crate that knows SQL. Every store here passes the
//! core's conformance suite, the same contract the in-memory store meets.
//!
//! **What it is not:** it makes no scheduling decisions. Which ticks a claim takes, and what a
//! misfire policy does, is [`scheduler_core::plan_claim`]; the store supplies atomicity.
//!
//! ```no_run
//! use store::{SqliteConfig, SqliteStore};
//!
//! let store = SqliteStore::open(&SqliteConfig::new("./scheduler.db"))?;
//! # Ok::<(), store::StoreError>(())
//! ```
//!
//! The feature `postgres` adds `PostgresStore` and `PostgresConfig`: the same contract on a
//! PostgreSQL server (tokio-postgres with a deadpool pool), whose claims lock due jobs with
//! `FOR NO KEY UPDATE SKIP LOCKED` so that nodes split them; its own documentation tells the
//! rest.
//!
//! Both stores also keep API tokens ([`TokenStore`](scheduler_core::TokenStore)): each token's
//! id, scope, label and SHA-256, never its secret.
//!
//! The feature `testing` adds `SqliteStore::open_temporary` and `open_temporary_with`, a store
//! on a throwaway database, for tests and benchmarks.
//!
//! # The SQLite store in short
//!
//! The design and its reasons are in `docs/ARCHITECTURE.md`; the measurements behind them are in
//! `docs/PERFORMANCE.md`.
//!
//! **Schema.** The original system's `jobs` and `job_executions` tables, extended with what the
//! engine needs (the full job spec, the watermark `next_fire_at`, a version and a revision,
//! execution ownership, attempts and re-sends after a crash). Migrations are versioned in SQLite's `user_version` and
//! applied on open, each in one transaction, so an older database, the original system's
//! included, upgrades in place. Executions are unique on (tick, job). Timestamps and durations
//! are integer milliseconds.
//!
//! **Writes and durability.** One writer thread owns the write connection and commits every
//! write queued at that moment (up to [`SqliteConfig::max_batch`]) in one transaction, each in
//! its own savepoint, before completing the callers' futures; a failed write rolls back alone.
//! API writes are committed ahead of the engine's background work (claims, results, pruning),
//! and waiting background work goes next after them. A completed write has committed: with
//! [`Durability::Normal`] (the default) it survives a crash of the process, with
//! [`Durability::Full`] a power loss too. The database is in WAL mode; reads run on a pool of
//! read-only connections ([`SqliteConfig::read_connections`]) on tokio's blocking threads and
//! never wait for the writer.
//!
//! **Claims.** One write: the due active jobs by `next_fire_at` through the partial index
//! `idx_jobs_due`, each job taken from the cache of decoded jobs when it holds the job at its
//! current revision ([`SqliteConfig::job_cache_capacity`]) and read from its row otherwise,
//! planned with `plan_claim`, its executions inserted (a tick already claimed is skipped) and
//! its watermark advanced. SQLite has one writer per file, so a claim is exclusive; several
//! processes may share the file, but several nodes should share a PostgreSQL database instead.
//!
//! **The per-job history.** Claims write only the tick index. The table
//! `job_execution_history`, ordered by job, is filled behind a watermark by the store's
//! `sqlite-history` thread every [`SqliteConfig::history_interval`] (zero: at every insert).
//! Reads of one job's executions combine that table below the watermark with the tick index
//! above it, so they are correct however far indexing has got. The store, not SQLite, keeps
//! executions pointing at existing jobs. Listings across jobs read the tick index newest first,
//! and the rare final states (failed, abandoned, skipped) a partial index of their own.
//!
//! **Retention.** [`prune`](scheduler_core::RetentionStore::prune) deletes finished executions
//! older than an age and/or beyond the newest N per job, at most [`SqliteConfig::prune_batch`]
//! rows per write, so claims and results interleave with a long prune. By count it walks the
//! jobs through the history table, reading each job's newest executions once. Pending and
//! running executions are never pruned.
//!
//! **The database file.** [`SqliteStore::open`] creates a database only where there is no trace
//! of one: an empty file, or a `-wal`/`-shm` without the database, is refused unless
//! [`SqliteStore::initialize`] is asked for, and a damaged database (`PRAGMA quick_check`, bounded
//! by [`SqliteConfig::quick_check_budget`]) is refused. While the store runs it checks that the
//! database file and its `-wal` are still the files it opened ([`SqliteStore::check_files`]);
//! after one is deleted or replaced it reports it once at ERROR and refuses reads and writes.
//! [`check_database`] is the full integrity check.
//!
//! **The build.** SQLite is bundled, and `.cargo/config.toml` builds it without
//! `SQLITE_ENABLE_MEMORY_MANAGEMENT`, so each connection keeps a page cache of its own and a
//! long read cannot take the writer's pages.

#![warn(missing_docs)]

mod codec;
mod error;
mod failure;
mod history;
#[cfg(feature = "postgres")]
mod postgres;
mod schema;
mod sqlite;
mod tokens;
mod writer;

pub use error::StoreError;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresConfig, PostgresStore};
pub use sqlite::{Durability, IntegrityReport, SqliteConfig, SqliteStore, check_database};
