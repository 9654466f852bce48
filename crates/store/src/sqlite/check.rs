//! [`check_database`]: the full integrity check of a SQLite database file, for operators
//! (`scheduler db check`).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::files;
use super::open::{classify_open_error, diagnose_access};
use crate::error::StoreError;

/// What `PRAGMA integrity_check` found in a database file, and the file's size and schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntegrityReport {
    /// The database file.
    pub path: PathBuf,
    /// Bytes per page.
    pub page_size: u64,
    /// Pages in the database (the write-ahead log's included).
    pub page_count: u64,
    /// The scheduler's schema version (SQLite's `user_version`).
    pub schema_version: i64,
    /// The problems found, one per entry (SQLite reports at most 1,000); empty when the
    /// database is sound.
    pub problems: Vec<String>,
}

impl IntegrityReport {
    /// Whether the check found no problem.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Reads every page of the database at `path` (`PRAGMA integrity_check`) on a read-only
/// connection: it changes nothing, and may run while a server has the database open. It takes
/// as long as reading the whole file.
///
/// # Errors
///
/// A [`StoreError`] when there is no database at `path` (a missing or empty file), it cannot be
/// opened, or it is not a SQLite database at all. Damage is not an error: it is in the report.
pub fn check_database(path: &Path) -> Result<IntegrityReport, StoreError> {
    match std::fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let leftovers: Vec<PathBuf> = [files::wal_path(path), files::shm_path(path)]
                .into_iter()
                .filter(|leftover| leftover.symlink_metadata().is_ok())
                .collect();
            return Err(if leftovers.is_empty() {
                StoreError::Access {
                    path: path.to_path_buf(),
                    problem: "there is no such file".to_owned(),
                }
            } else {
                StoreError::MissingDatabase {
                    path: path.to_path_buf(),
                    leftovers,
                }
            });
        }
        Err(error) => {
            return Err(StoreError::Access {
                path: path.to_path_buf(),
                problem: format!("cannot read the file's metadata: {error}"),
            });
        }
        Ok(metadata) if metadata.is_file() && metadata.len() == 0 => {
            return Err(StoreError::EmptyDatabaseFile {
                path: path.to_path_buf(),
            });
        }
        Ok(_) => {}
    }
    let opened = |source| diagnose_access(path, classify_open_error(path, source));
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(opened)?;
    let pragma = |name: &str| {
        connection
            .query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, i64>(0))
            .map_err(opened)
    };
    let page_size = u64::try_from(pragma("page_size")?).unwrap_or_default();
    let page_count = u64::try_from(pragma("page_count")?).unwrap_or_default();
    let schema_version = pragma("user_version")?;
    let problems = connection
        .prepare("PRAGMA integrity_check(1000)")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        });
    let problems = match problems {
        Ok(rows) => rows.into_iter().filter(|row| row != "ok").collect(),
        // Damage the check could not read past is a finding too.
        Err(error) => match classify_open_error(path, error) {
            StoreError::Corrupt { error, .. } => vec![error.to_string()],
            other => return Err(other),
        },
    };
    Ok(IntegrityReport {
        path: path.to_path_buf(),
        page_size,
        page_count,
        schema_version,
        problems,
    })
}
