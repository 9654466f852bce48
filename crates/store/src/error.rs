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
    #[error("cannot open the database at {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite or the OS said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file exists but is not a SQLite database, or is damaged.
    #[error("the database at {path} is corrupt or not a SQLite database: {source}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
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
    #[error("migrating the database at {path} to schema version {version} failed: {source}")]
    Migration {
        /// The database file.
        path: PathBuf,
        /// The version being applied.
        version: i64,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
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
