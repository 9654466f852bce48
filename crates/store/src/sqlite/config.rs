//! [`SqliteConfig`] and [`Durability`]: how a store opens its database, with the defaults.

use std::path::PathBuf;
use std::time::Duration;

/// How a [`SqliteStore`](crate::SqliteStore) opens its database.
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
    /// process's resident memory, and grow towards the size of the jobs table with many jobs
    /// (docs/perf-log/round-02.md).
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
    /// How long the check of an existing database's pages at open (`PRAGMA quick_check`) may
    /// take: a damaged database is refused, and a check that takes longer is stopped, logged,
    /// and the open goes on. Zero skips the check.
    pub quick_check_budget: Duration,
}

impl SqliteConfig {
    /// The default [`SqliteConfig::mmap_size`]: off, because a mapping makes the process
    /// larger and saves no CPU now that the claims read only the due jobs
    /// (docs/perf-log/round-02.md).
    pub const DEFAULT_MMAP_SIZE: u64 = 0;

    /// The default [`SqliteConfig::page_size`]: 16 KiB, four times SQLite's own default,
    /// because larger pages cost the writer less CPU per execution (docs/perf-log/round-03.md).
    pub const DEFAULT_PAGE_SIZE: u32 = 16_384;

    /// The default [`SqliteConfig::history_interval`]: 10 s.
    pub const DEFAULT_HISTORY_INTERVAL: Duration = Duration::from_secs(10);

    /// The default [`SqliteConfig::job_cache_capacity`]: 65,536 jobs.
    pub const DEFAULT_JOB_CACHE_CAPACITY: usize = 65_536;

    /// The default [`SqliteConfig::quick_check_budget`]: 10 s.
    pub const DEFAULT_QUICK_CHECK_BUDGET: Duration = Duration::from_secs(10);

    /// The defaults for a database at `path`: 4 read connections, [`Durability::Normal`],
    /// batches of up to 1,024 writes, a 5 s busy timeout, pruning 1,000 rows at a time, no
    /// memory-mapped I/O, 16 KiB pages for a new database, the per-job history indexed every
    /// 10 s, up to 65,536 decoded jobs kept for the claims, a quick check of an existing
    /// database's pages for up to 10 s at open.
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
            quick_check_budget: SqliteConfig::DEFAULT_QUICK_CHECK_BUDGET,
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
