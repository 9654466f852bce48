//! Durable stores for the scheduler: [`SqliteStore`], the embedded default.
//!
//! **What it is:** implementations of `scheduler-core`'s [`Store`](scheduler_core::Store)
//! traits on SQL databases. It is the only crate that knows SQL. Every store here passes the
//! core's conformance suite, the same contract the in-memory store meets.
//!
//! **What it is not:** it makes no scheduling decisions. Which ticks a claim takes, and what a
//! misfire policy does, is [`scheduler_core::plan_claim`]; the store supplies atomicity.
//!
//! # SQLite
//!
//! ```no_run
//! use store::{SqliteConfig, SqliteStore};
//!
//! let store = SqliteStore::open(&SqliteConfig::new("./scheduler.db"))?;
//! # Ok::<(), store::StoreError>(())
//! ```
//!
//! **Schema.** The original system's `jobs` and `job_executions` tables and indexes, extended
//! with what the engine needs (the full job spec, the watermark `next_fire_at`, a version for
//! optimistic updates, execution ownership and attempts). Migrations are versioned in SQLite's
//! `user_version` and applied on open, each in one transaction, so a database from the
//! original system (or an older version of this one) upgrades in place. When upgrading the
//! original schema, rows recording the same (job, tick) twice are moved to the table
//! `job_executions_duplicates` (nothing is deleted) so that (job, tick) can be unique, and each
//! job's watermark starts at its next tick. Timestamps and durations are integer milliseconds.
//!
//! **Listings across jobs** read the tick index newest first; listings of the final states
//! that are rare in a healthy system (failed, abandoned, skipped) read a partial index of their
//! own instead, so finding the few failures does not read the whole history.
//!
//! **The build.** SQLite is bundled, and `.cargo/config.toml` builds it without
//! `SQLITE_ENABLE_MEMORY_MANAGEMENT`: with it, all connections share one page cache, and a read
//! connection reading more than its own cache holds takes the writer's pages.
//!
//! **The per-job history.** Executions are unique on (tick, job), an index the claims write at
//! its end. Reads of one job's executions, job deletion and retention by count need them in
//! job order; that order lives in the table `job_execution_history`, which the claims do not
//! write: a thread of the store (`sqlite-history`) takes in the executions of the last window
//! every [`SqliteConfig::history_interval`] (10 s), sorted by job, so each job's entries land
//! together. (An index ordered by job, written by every claim, dirtied one page per claimed
//! execution once the history was long: a claim of 10,000 ticks went from 117 to 298 ms
//! between 10,000 and 1.2 million rows of history; docs/PERFORMANCE.md.) Every execution with
//! a tick below the watermark `history_indexed_before` has its entry; reads of one job take
//! the older executions through the history table and the newer ones by scanning the tick index
//! from the watermark, so they are correct whether a round has run or not. An execution inserted
//! below the announced tick of a round under way (a misfire catch-up, a recovery) enters at
//! once, a trigger removes an execution's entry with it, and a round cut short leaves the
//! watermark where it was for the next round to finish. An interval of zero indexes each
//! execution as it is inserted. The foreign key from executions to jobs is not enforced by
//! SQLite: the store checks or has just read the job on every insert and deletes a job's
//! executions with it.
//!
//! **Writes and durability.** One writer thread owns the write connection. It takes every
//! write queued at that moment (up to [`SqliteConfig::max_batch`]), runs each in its own
//! savepoint inside one transaction, commits once, and only then completes the callers'
//! futures: thousands of executions a second cost one commit per batch, not one each. A write
//! that fails rolls back alone. Writes made for API calls (job creations, changes, deletions,
//! manual triggers) are committed in transactions of their own ahead of the engine's queued
//! background work (claims, result batches, pruning), so an API call waits for at most the
//! one background write under way, not for everything queued before it; after an API
//! transaction, waiting background work goes next, so a stream of API calls cannot starve it. When a write's future completes it has committed: with
//! [`Durability::Normal`] (the default) it survives a crash of the process; after a power
//! loss the last batches may be lost, whole. With [`Durability::Full`] every commit is synced
//! before it is acknowledged. The database is in WAL mode, so reads, which run on a pool of
//! read-only connections ([`SqliteConfig::read_connections`]) on tokio's blocking threads,
//! never wait for the writer. A database this store creates has 16 KiB pages
//! ([`SqliteConfig::page_size`]; SQLite's default is 4 KiB): under load the writer spent 15-20%
//! less CPU per execution with them. An existing database keeps the page size it has.
//!
//! **Claims.** One write task: read the due active jobs' row ids, revisions and watermarks by
//! `next_fire_at` through a partial index (`idx_jobs_due`); take each job's spec from the
//! claims' cache of decoded jobs when it holds the job at that revision
//! ([`SqliteConfig::job_cache_capacity`]; jobs that fire again within a minute and a half,
//! every-minute jobs included, are kept), or else read its columns by row id and decode them;
//! plan it with `plan_claim`, insert the executions (unique on
//! tick and job; an existing one is skipped), and advance `next_fire_at`. A job's revision is a random number, new at every write of its
//! row except the claims' watermark updates, so a job changed since it was kept, by this store
//! or another process, is read again. SQLite has one writer per file, so a claim is exclusive;
//! several processes may share the file (they wait on SQLite's lock), but several nodes should
//! share a PostgreSQL database instead.
//!
//! **Retention.** [`prune`](scheduler_core::ExecutionStore::prune) deletes finished executions
//! older than an age and/or beyond the newest N per job, [`SqliteConfig::prune_batch`] rows
//! per transaction, each its own write, so claims and results interleave with a long prune.
//! Pending and running executions are never pruned. By age, a round deletes the oldest
//! finished executions through the tick index. By count, the prune first indexes the history
//! up to its newest execution, then rounds walk the jobs in id order through the history
//! table: a job with no more than N executions costs one seek, and otherwise its cut-off is its
//! (N+1)-th newest finished execution (executions that arrive during the prune are not
//! counted); a round also
//! stops after reading about 16 batches' worth of executions. The whole prune reads each job's
//! newest executions once (it used to rank every execution of every job in each round, which
//! grew with the square of the history: docs/PERFORMANCE.md).

#![warn(missing_docs)]

mod codec;
mod error;
mod history;
mod schema;
mod sqlite;
mod writer;

pub use error::StoreError;
pub use sqlite::{Durability, SqliteConfig, SqliteStore};
