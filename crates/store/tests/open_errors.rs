//! Bad paths and bad files give clear errors at open, never a panic.

use store::{SqliteConfig, SqliteStore, StoreError};

#[test]
fn a_missing_directory_is_named() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("no/such/dir/scheduler.db");
    let error = SqliteStore::open(&SqliteConfig::new(&path)).unwrap_err();
    assert!(
        matches!(error, StoreError::MissingDirectory { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("does not exist") && message.contains("no/such/dir"),
        "{message}"
    );
}

#[test]
fn an_unwritable_location_is_reported() {
    // /proc refuses new files even to root, so this holds whoever runs the tests.
    let error = SqliteStore::open(&SqliteConfig::new("/proc/scheduler-test.db")).unwrap_err();
    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("cannot open the database at /proc/scheduler-test.db: "),
        "{error}"
    );
    // SQLite's text once, not again as a chain of sources.
    assert!(std::error::Error::source(&error).is_none(), "{error:?}");
    assert_eq!(
        error
            .to_string()
            .matches("unable to open database file")
            .count(),
        1,
        "{error}"
    );
}

#[test]
fn a_directory_in_place_of_the_file_is_reported() {
    let directory = tempfile::tempdir().unwrap();
    let error = SqliteStore::open(&SqliteConfig::new(directory.path())).unwrap_err();
    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
}

#[test]
fn a_file_that_is_not_a_database_is_called_corrupt() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let error = SqliteStore::open(&SqliteConfig::new(&path)).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("is corrupt or not a SQLite database"),
        "{error}"
    );
    // The file is left as it was, for the operator to inspect.
    assert_eq!(std::fs::read(&path).unwrap(), vec![0x5a; 8192]);
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let error = SqliteStore::open(&SqliteConfig::new(&path)).unwrap_err();
    assert!(
        matches!(error, StoreError::TooNew { found: 99, .. }),
        "{error:?}"
    );
}

#[test]
fn a_negative_schema_version_is_refused_without_a_panic() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("scheduler.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", -4)
        .unwrap();
    let error = SqliteStore::open(&SqliteConfig::new(&path)).unwrap_err();
    assert!(
        error.to_string().contains("unknown schema version -4"),
        "{error}"
    );
}
