//! The crate's one public error type.

use std::path::PathBuf;

/// Why a store could not be opened or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A setting of the store's configuration is out of range.
    #[error("invalid store setting {setting}: {message}")]
    InvalidConfig {
        /// The setting (a field of `SqliteConfig` or `PostgresConfig`).
        setting: &'static str,
        /// What is wrong with its value.
        message: String,
    },
    /// The database's directory does not exist.
    #[error("cannot open the database at {path}: the directory {} does not exist", .path.parent().map(|p| p.display().to_string()).unwrap_or_default())]
    MissingDirectory {
        /// The database file.
        path: PathBuf,
    },
    /// The database file could not be opened or created (permissions, a read-only file
    /// system, a path that is a directory).
    #[error("cannot open the database at {path}: {error}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite or the OS said: in the message, and not repeated as a source, so that
        /// an error chain says it once.
        error: rusqlite::Error,
    },
    /// The file exists but is not a SQLite database, or is damaged.
    #[error("the database at {path} is corrupt or not a SQLite database: {error}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite said: in the message, and not repeated as a source, so that an error
        /// chain says it once.
        error: rusqlite::Error,
    },
    /// The database file, its directory or a file beside it (`-wal`, `-shm`) cannot be
    /// opened or written by this process: a permission, or a read-only file system.
    #[error("cannot open the database at {path}: {problem}")]
    Access {
        /// The database file.
        path: PathBuf,
        /// What is wrong, and with which file or directory.
        problem: String,
    },
    /// The database file is missing, but files beside it show that a database was there.
    #[error(
        "the database file {path} is missing, but {} beside it show that a database was there (deleted or moved away, perhaps while the server ran); put the database back or restore a backup, or initialise a new, empty database",
        leftover_names(.leftovers)
    )]
    MissingDatabase {
        /// The database file.
        path: PathBuf,
        /// The files found beside it (its `-wal` and `-shm`).
        leftovers: Vec<PathBuf>,
    },
    /// The database file is empty (0 bytes), which is what a truncated or lost database leaves.
    #[error(
        "the database file {path} is empty (0 bytes), where a database was expected (a new database is created where there is no file at all); restore a backup, or initialise a new, empty database"
    )]
    EmptyDatabaseFile {
        /// The database file.
        path: PathBuf,
    },
    /// The database's pages are damaged (`PRAGMA quick_check` or `integrity_check` found
    /// problems).
    #[error(
        "the database at {path} is damaged: {}; check it in full, then restore a backup or recover what can be read with `sqlite3 {path} .recover`",
        problem_summary(.problems)
    )]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// What SQLite found, one problem per entry.
        problems: Vec<String>,
    },
    /// Initialising a database where one already is.
    #[error(
        "{path} already holds a database, and initialising never replaces one: move it away first if you mean to start over"
    )]
    AlreadyExists {
        /// The database file.
        path: PathBuf,
    },
    /// While the store ran, its database file or write-ahead log was deleted or replaced; the
    /// store refuses reads and writes from then on.
    #[error(
        "the {file} {path} was {change} while the store had it open; the store refuses reads and writes until it is restored and the store reopened"
    )]
    FileLost {
        /// `database file` or `write-ahead log`.
        file: &'static str,
        /// The file's path.
        path: PathBuf,
        /// `deleted` or `replaced by another file`.
        change: &'static str,
    },
    /// The database was written by a newer version of this program.
    #[error(
        "the database at {path} has schema version {found}, newer than the {supported} this program knows; upgrade the program"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The schema version in the file.
        found: i64,
        /// The newest schema version this program knows.
        supported: i64,
    },
    /// A schema migration failed; the database is left at the previous version.
    #[error("migrating the database at {path} to schema version {version} failed: {error}")]
    Migration {
        /// The database file.
        path: PathBuf,
        /// The version being applied.
        version: i64,
        /// What SQLite said: in the message, and not repeated as a source, so that an error
        /// chain says it once.
        error: rusqlite::Error,
    },
    /// The read pool could not be built.
    #[error("cannot open read connections to {path}: {source}")]
    Pool {
        /// The database file.
        path: PathBuf,
        /// What r2d2 said.
        #[source]
        source: r2d2::Error,
    },
    /// A temporary directory could not be created (`SqliteStore::open_temporary`, feature
    /// `testing`).
    #[error("cannot create a temporary directory for the database: {0}")]
    TempDir(#[source] std::io::Error),
    /// The writer thread could not be started.
    #[error("cannot start the database writer thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The PostgreSQL server could not be reached or refused the connection (`target` is
    /// `user@host:port/database`, never the password).
    #[cfg(feature = "postgres")]
    #[error("cannot connect to the PostgreSQL database {target}: {source}")]
    PostgresConnect {
        /// The database, without credentials.
        target: String,
        /// What the client or the pool said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The PostgreSQL server answers but cannot hold the store (too old, or a read-only
    /// standby).
    #[cfg(feature = "postgres")]
    #[error("the PostgreSQL server of {target} cannot hold the store: {message}")]
    PostgresServer {
        /// The database, without credentials.
        target: String,
        /// What is wrong with it.
        message: String,
    },
    /// Preparing the PostgreSQL database (checking the server, creating the schema, reading
    /// the schema version) failed.
    #[cfg(feature = "postgres")]
    #[error("preparing the PostgreSQL database {target} failed while {what}: {source}")]
    PostgresSetup {
        /// The database, without credentials.
        target: String,
        /// What the store was doing.
        what: &'static str,
        /// What the server said.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A schema migration of the PostgreSQL database failed; the database is left at the
    /// previous version.
    #[cfg(feature = "postgres")]
    #[error(
        "migrating the PostgreSQL database {target} to schema version {version} failed: {source}"
    )]
    PostgresMigration {
        /// The database, without credentials.
        target: String,
        /// The version being applied.
        version: i32,
        /// What the server said.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The PostgreSQL database was migrated by a newer version of this program.
    #[cfg(feature = "postgres")]
    #[error(
        "the PostgreSQL database {target} has schema version {found}, newer than the {supported} this program knows; upgrade the program"
    )]
    PostgresTooNew {
        /// The database, without credentials.
        target: String,
        /// The schema version in the database.
        found: i32,
        /// The newest schema version this program knows.
        supported: i32,
    },
}

/// `a and b` for the leftover files' names.
fn leftover_names(leftovers: &[PathBuf]) -> String {
    let names: Vec<String> = leftovers
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    names.join(" and ")
}

/// The first problems SQLite reported, and how many more.
fn problem_summary(problems: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut summary = problems
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > SHOWN {
        summary.push_str(&format!(" (and {} more)", problems.len() - SHOWN));
    }
    summary
}
