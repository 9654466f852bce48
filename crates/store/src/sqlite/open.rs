//! Opening a [`SqliteStore`]: checking the configuration, the write connection's settings, the
//! migrations, the pool of read connections, and what an open error means.

use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use scheduler_core::Timestamp;

use super::files::{self, DatabaseFiles};
use super::{Durability, JobCache, KeepAlive, Shared, SqliteConfig, SqliteStore};
use crate::error::StoreError;
use crate::history;
use crate::schema;
use crate::writer::Writer;

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database described by `config`.
    ///
    /// # Errors
    ///
    /// A clear [`StoreError`] for a missing directory, a file that cannot be opened or written,
    /// a file that is not a SQLite database, one written by a newer version, or a failed
    /// migration. Nothing panics.
    pub fn open(config: &SqliteConfig) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(config, KeepAlive::default())
    }

    /// A store on a fresh database in a temporary directory, deleted when the store is dropped.
    /// For tests, benchmarks and throwaway runs (the `testing` feature).
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::open`], and [`StoreError::TempDir`] if the directory cannot be made.
    #[cfg(feature = "testing")]
    pub fn open_temporary() -> Result<SqliteStore, StoreError> {
        SqliteStore::open_temporary_with(|_| {})
    }

    /// [`SqliteStore::open_temporary`] with the defaults changed by `adjust` (a change of the
    /// path is ignored).
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::open_temporary`].
    #[cfg(feature = "testing")]
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
        let keep_alive = KeepAlive {
            _temporary_directory: Some(directory),
        };
        SqliteStore::open_with(&config, keep_alive)
    }

    /// Creates a new, empty database at `config.path`, where there is no database: no file,
    /// an empty (0-byte) file, or only the `-wal` and `-shm` files of a database that is gone
    /// (they are moved aside, renamed `...-wal.orphaned-<unix time>`, since SQLite would apply
    /// them to the new database). [`SqliteStore::open`] refuses the last two, so that a lost
    /// database is never replaced by an empty one unless someone asks for it.
    ///
    /// # Errors
    ///
    /// [`StoreError::AlreadyExists`] when the file holds a database (initialising never
    /// replaces one), and the errors of [`SqliteStore::open`].
    pub fn initialize(config: &SqliteConfig) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with_intent(config, KeepAlive::default(), Intent::Initialize)
    }

    fn open_with(config: &SqliteConfig, keep_alive: KeepAlive) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with_intent(config, keep_alive, Intent::Open)
    }

    fn open_with_intent(
        config: &SqliteConfig,
        keep_alive: KeepAlive,
        intent: Intent,
    ) -> Result<SqliteStore, StoreError> {
        check(config)?;
        let found = inspect(&config.path, intent)?;
        let writer =
            open_writer(config, found).map_err(|error| diagnose_access(&config.path, error))?;
        let files = Arc::new(DatabaseFiles::record(&config.path)?);
        let readers = open_readers(config)?;
        let writer = Writer::start(writer, config.max_batch, Some(Arc::clone(&files)))
            .map_err(StoreError::Thread)?;
        if found == Found::Nothing {
            log::info!("created a new database at {}", config.path.display());
        }
        let batched = !config.history_interval.is_zero();
        let (stop, stopped) = std::sync::mpsc::channel();
        let shared = Arc::new(Shared {
            writer,
            readers,
            files,
            prune_batch: config.prune_batch.max(1),
            job_cache: Arc::new(Mutex::new(JobCache::new(config.job_cache_capacity))),
            _stop_indexer: batched.then_some(stop),
            _keep_alive: keep_alive,
        });
        if batched {
            history::spawn_indexer(Arc::downgrade(&shared), config.history_interval, stopped)
                .map_err(StoreError::Thread)?;
        }
        Ok(SqliteStore { shared })
    }
}

/// What the caller of an open allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Intent {
    /// Open a database, creating one only where there is no trace of one.
    Open,
    /// Create a new database where there is none, setting aside what a lost one left.
    Initialize,
}

/// What was at the database's path before the open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    /// No database: the open creates one.
    Nothing,
    /// A file that should hold a database.
    Database,
}

/// Looks at the database's path before SQLite does, which would make an empty database where
/// the file is missing or empty: that is refused when files beside it, or the empty file
/// itself, say a database was there, unless the caller initialises.
fn inspect(path: &Path, intent: Intent) -> Result<Found, StoreError> {
    let leftovers: Vec<PathBuf> = [files::wal_path(path), files::shm_path(path)]
        .into_iter()
        .filter(|leftover| leftover.symlink_metadata().is_ok())
        .collect();
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if leftovers.is_empty() {
                return Ok(Found::Nothing);
            }
            return match intent {
                Intent::Open => Err(StoreError::MissingDatabase {
                    path: path.to_path_buf(),
                    leftovers,
                }),
                Intent::Initialize => {
                    move_aside(path, &leftovers)?;
                    Ok(Found::Nothing)
                }
            };
        }
        Err(error) => {
            return Err(StoreError::Access {
                path: path.to_path_buf(),
                problem: format!("cannot read the file's metadata: {error}"),
            });
        }
    };
    // Anything but a file (a directory) is SQLite's to refuse.
    if !metadata.is_file() {
        return Ok(Found::Database);
    }
    match (metadata.len(), intent) {
        (0, Intent::Open) => Err(StoreError::EmptyDatabaseFile {
            path: path.to_path_buf(),
        }),
        (0, Intent::Initialize) => {
            move_aside(path, &leftovers)?;
            Ok(Found::Nothing)
        }
        (_, Intent::Open) => Ok(Found::Database),
        (_, Intent::Initialize) => Err(StoreError::AlreadyExists {
            path: path.to_path_buf(),
        }),
    }
}

/// Renames a lost database's `-wal` and `-shm` files out of the way of a new database.
fn move_aside(path: &Path, leftovers: &[PathBuf]) -> Result<(), StoreError> {
    let suffix = format!(".orphaned-{}", Timestamp::now().as_second());
    for leftover in leftovers {
        let mut aside = leftover.as_os_str().to_owned();
        aside.push(&suffix);
        let aside = PathBuf::from(aside);
        std::fs::rename(leftover, &aside).map_err(|error| StoreError::Access {
            path: path.to_path_buf(),
            problem: format!(
                "cannot move {} aside to {}: {error}",
                leftover.display(),
                aside.display()
            ),
        })?;
        log::warn!(
            "moved {} aside to {}: it belonged to a database that is no longer at {}, and SQLite \
             would apply it to the new one",
            leftover.display(),
            aside.display(),
            path.display()
        );
    }
    Ok(())
}

/// Refuses a configuration no database can take, before any file is made.
fn check(config: &SqliteConfig) -> Result<(), StoreError> {
    let path = &config.path;
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
        return Err(StoreError::MissingDirectory { path: path.clone() });
    }
    Ok(())
}

/// Creates the empty database file readable and writable by its owner only (`0600` on Unix),
/// before SQLite makes it with the umask's mode: jobs hold secret header values. SQLite gives
/// the `-wal` and `-shm` files it creates beside it the same mode. A file that cannot be made
/// here is left to SQLite's open, whose failure is explained as for any other open.
fn create_private_file(path: &Path) {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    if let Err(error) = options.open(path) {
        log::debug!(
            "database {}: not created ahead of SQLite: {error}",
            path.display()
        );
    }
}

/// The write connection: opened, configured, the schema migrated and the history ready.
fn open_writer(config: &SqliteConfig, found_file: Found) -> Result<Connection, StoreError> {
    let path = config.path.clone();
    if found_file == Found::Nothing {
        create_private_file(&path);
    }
    let mut writer = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|error| StoreError::Open {
        path: path.clone(),
        error,
    })?;
    // SQLite opens a file it may not write read-only, without a word; writes would then fail
    // one by one.
    if writer.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        return Err(StoreError::Access {
            problem: access_problem(&path).unwrap_or_else(|| {
                "SQLite could open the file for reading only: this process cannot write it"
                    .to_owned()
            }),
            path,
        });
    }
    configure(&writer, config).map_err(|source| classify_open_error(&path, source))?;
    if found_file == Found::Database {
        quick_check(&writer, &path, config.quick_check_budget)?;
    }
    let found = schema::migrate(&mut writer, Timestamp::now()).map_err(|(version, source)| {
        match classify_open_error(&path, source) {
            StoreError::Open { error, .. } => StoreError::Migration {
                path: path.clone(),
                version,
                error,
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
    if found == 0 && matches!(found_file, Found::Database) {
        log::info!(
            "database {}: created the scheduler's tables (the file had none)",
            path.display()
        );
    } else if found > 0 && found < schema::LATEST_VERSION {
        log::info!(
            "database {}: migrated schema from version {found} to {}",
            path.display(),
            schema::LATEST_VERSION
        );
    }
    history::open(&writer, config.history_interval)
        .map_err(|source| classify_open_error(&path, source))?;
    Ok(writer)
}

/// The pool of read-only connections.
fn open_readers(config: &SqliteConfig) -> Result<Pool<SqliteConnectionManager>, StoreError> {
    let reader_config = config.clone();
    let mmap_size = i64::try_from(config.mmap_size).unwrap_or(i64::MAX);
    let manager = SqliteConnectionManager::file(&config.path)
        .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_init(move |connection| {
            connection.busy_timeout(reader_config.busy_timeout)?;
            connection.pragma_update(None, "mmap_size", mmap_size)?;
            connection.set_prepared_statement_cache_capacity(64);
            Ok(())
        });
    Pool::builder()
        .max_size(config.read_connections.max(1))
        .min_idle(Some(1))
        .build(manager)
        .map_err(|source| StoreError::Pool {
            path: config.path.clone(),
            source,
        })
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

/// `PRAGMA quick_check` of an existing database, interrupted after `budget` (zero skips it): a
/// damaged database is refused; a check cut short is logged and the open goes on.
fn quick_check(connection: &Connection, path: &Path, budget: Duration) -> Result<(), StoreError> {
    if budget.is_zero() {
        return Ok(());
    }
    let interrupt = connection.get_interrupt_handle();
    let (finished, wait) = std::sync::mpsc::channel::<()>();
    let timer = std::thread::Builder::new()
        .name("sqlite-quick-check".to_owned())
        .spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(budget) {
                interrupt.interrupt();
            }
        })
        .map_err(StoreError::Thread)?;
    let problems = connection
        .prepare("PRAGMA quick_check(100)")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        });
    drop(finished);
    let _ = timer.join();
    match problems {
        Ok(problems) if problems.iter().all(|problem| problem == "ok") => Ok(()),
        Ok(problems) => Err(StoreError::Damaged {
            path: path.to_path_buf(),
            problems,
        }),
        Err(error) if error.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) => {
            log::warn!(
                "database {}: the start-up check of its pages (quick_check) was cut short after \
                 {budget:?}, before it finished; run `scheduler db check` for a full check",
                path.display()
            );
            Ok(())
        }
        Err(error) => match classify_open_error(path, error) {
            StoreError::Corrupt { error, .. } => Err(StoreError::Damaged {
                path: path.to_path_buf(),
                problems: vec![error.to_string()],
            }),
            other => Err(other),
        },
    }
}

/// An open that SQLite could not do, explained when it comes from a permission or a read-only
/// file system (SQLite says only "unable to open database file" or "attempt to write a readonly
/// database"); other errors are returned as they are.
pub(super) fn diagnose_access(path: &Path, error: StoreError) -> StoreError {
    let source = match &error {
        StoreError::Open { error, .. } | StoreError::Migration { error, .. } => error,
        _ => return error,
    };
    let may_be_access = matches!(
        source.sqlite_error_code(),
        Some(
            ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::PermissionDenied
                | ErrorCode::SystemIoFailure
        )
    );
    if !may_be_access {
        return error;
    }
    match access_problem(path) {
        Some(problem) => StoreError::Access {
            path: path.to_path_buf(),
            problem,
        },
        None => error,
    }
}

/// What keeps this process from writing the database, its `-wal` and `-shm` files, or from
/// creating files in their directory, if anything.
fn access_problem(path: &Path) -> Option<String> {
    for file in [
        path.to_path_buf(),
        files::wal_path(path),
        files::shm_path(path),
    ] {
        if !file.is_file() {
            continue;
        }
        if let Err(error) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&file)
            && let Some(why) = refusal(&error)
        {
            return Some(format!(
                "{why}: this process cannot write {}",
                file.display()
            ));
        }
    }
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let probe = directory.join(format!(".{name}.write-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(error) => refusal(&error).map(|why| {
            format!(
                "{why}: the directory {} is read-only for this process, which must create files \
                 there (the database, and its -wal and -shm files beside it)",
                directory.display()
            )
        }),
    }
}

/// "permission denied" or "read-only file system", for an error that is one of those.
fn refusal(error: &std::io::Error) -> Option<&'static str> {
    match error.kind() {
        std::io::ErrorKind::PermissionDenied => Some("permission denied"),
        std::io::ErrorKind::ReadOnlyFilesystem => Some("read-only file system"),
        _ => None,
    }
}

pub(super) fn classify_open_error(path: &Path, error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            error,
        },
        _ => StoreError::Open {
            path: path.to_path_buf(),
            error,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rusqlite::Connection;

    use super::super::store_error;
    use super::*;

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
    /// file (docs/perf-log/round-08.md).
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

    #[cfg(unix)]
    #[test]
    fn a_new_database_and_its_wal_and_shm_files_are_private_to_their_owner() {
        use std::os::unix::fs::PermissionsExt;

        let directory = tempfile::tempdir().expect("a temporary directory");
        let path = directory.path().join("private.db");
        let store = SqliteStore::open(&SqliteConfig::new(&path)).expect("the store opens");
        let mode = |file: &Path| {
            std::fs::metadata(file)
                .unwrap_or_else(|error| panic!("{}: {error}", file.display()))
                .permissions()
                .mode()
                & 0o777
        };
        for file in [path.clone(), files::wal_path(&path), files::shm_path(&path)] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        drop(store);
        // A database that exists keeps the mode its owner gave it.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        drop(SqliteStore::open(&SqliteConfig::new(&path)).expect("the store reopens"));
        assert_eq!(mode(&path), 0o640);
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
}
