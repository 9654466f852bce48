//! The database file's safety: files deleted or replaced while the store runs, a lost database
//! never re-created empty without being asked, damaged pages refused at open, clear errors for
//! permissions.

use std::path::{Path, PathBuf};

use scheduler_core::{JobStore, StoreErrorKind};
use store::{SqliteConfig, SqliteStore, StoreError, check_database};

use crate::support::{block_on, job};

/// A store on a new database in a directory of its own, with one job written.
fn store_with_a_job() -> (
    tempfile::TempDir,
    PathBuf,
    SqliteStore,
    scheduler_core::JobId,
) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let path = directory.path().join("scheduler.db");
    let store = SqliteStore::open(&SqliteConfig::new(&path)).expect("the store opens");
    let job = job(None);
    let id = job.id;
    block_on(store.insert_job(job)).expect("the job is written");
    (directory, path, store, id)
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

/// A write and a read after a loss fail as unavailable, naming the loss.
fn assert_writes_are_refused(store: &SqliteStore, what: &str) {
    let written = block_on(store.insert_job(job(None))).expect_err("the write is refused");
    let read = block_on(store.list_jobs(None, 1)).expect_err("the read is refused");
    for error in [written, read] {
        assert_eq!(
            error.store_kind(),
            Some(StoreErrorKind::Unavailable),
            "{error}"
        );
        assert!(error.to_string().contains(what), "{error}");
    }
}

/// This process's descriptor open on the deleted file that was at `path`.
fn descriptor_of_deleted(path: &Path) -> PathBuf {
    let deleted = format!("{} (deleted)", path.display());
    std::fs::read_dir("/proc/self/fd")
        .expect("this process's descriptors")
        .flatten()
        .map(|entry| entry.path())
        .find(|descriptor| {
            std::fs::read_link(descriptor).is_ok_and(|target| target.to_string_lossy() == deleted)
        })
        .expect("a descriptor on the deleted database file")
}

#[test]
fn a_deleted_database_file_is_detected_writes_are_refused_and_the_open_file_holds_everything() {
    let (directory, path, store, id) = store_with_a_job();
    store.check_files().expect("nothing has changed yet");
    std::fs::remove_file(&path).expect("the file is deleted");

    let error = store.check_files().expect_err("the deletion is found");
    assert!(matches!(error, StoreError::FileLost { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("the database file {} was deleted", path.display())),
        "{message}"
    );
    assert_writes_are_refused(&store, "was deleted");
    assert!(store.check_files().is_err(), "the check keeps failing");

    // The refused write made the writer copy the log into the open file, so a copy of it
    // through /proc holds the job (what the ERROR line tells an operator to do).
    let rescued = directory.path().join("rescued.db");
    std::fs::copy(descriptor_of_deleted(&path), &rescued).expect("the open file is copied");
    drop(store);
    let copy = SqliteStore::open(&SqliteConfig::new(&rescued)).expect("the copy opens");
    assert!(block_on(copy.get_job(id)).expect("a read").is_some());
}

#[test]
fn a_lost_database_is_not_re_created_empty_until_it_is_initialised() {
    let (_directory, path, store, id) = store_with_a_job();
    std::fs::remove_file(&path).expect("the file is deleted");
    drop(store);
    // What a process stopped after the deletion leaves: the -wal and -shm files.
    assert!(sibling(&path, "-wal").exists() || sibling(&path, "-shm").exists());

    let error = SqliteStore::open(&SqliteConfig::new(&path)).expect_err("the open is refused");
    assert!(
        matches!(error, StoreError::MissingDatabase { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("the database file {} is missing", path.display()))
            && message.contains("-wal")
            && message.contains("initialise"),
        "{message}"
    );
    assert!(!path.exists(), "no database was made");

    let store = SqliteStore::initialize(&SqliteConfig::new(&path)).expect("initialised");
    assert!(block_on(store.get_job(id)).expect("a read").is_none());
    drop(store);
    let moved_aside = std::fs::read_dir(path.parent().expect("a directory"))
        .expect("the directory")
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().contains(".orphaned-"))
        .count();
    assert!(moved_aside >= 1, "the leftovers are kept aside");
    SqliteStore::open(&SqliteConfig::new(&path)).expect("the new database opens");
}

#[test]
fn a_deleted_write_ahead_log_is_detected_and_loses_nothing_committed() {
    let (_directory, path, store, id) = store_with_a_job();
    let wal = sibling(&path, "-wal");
    std::fs::remove_file(&wal).expect("the log is deleted");

    let error = store.check_files().expect_err("the deletion is found");
    assert!(
        error.to_string().contains(&format!(
            "the write-ahead log {} was deleted",
            wal.display()
        )),
        "{error}"
    );
    assert_writes_are_refused(&store, "write-ahead log");
    drop(store);

    let store = SqliteStore::open(&SqliteConfig::new(&path)).expect("the database reopens");
    assert!(
        block_on(store.get_job(id)).expect("a read").is_some(),
        "the job committed before the deletion is in the database file"
    );
    store.check_files().expect("a new log, recorded at open");
}

#[test]
fn a_replaced_database_file_is_detected() {
    let (directory, path, store, _id) = store_with_a_job();
    let other = directory.path().join("other.db");
    std::fs::copy(&path, &other).expect("a copy");
    std::fs::rename(&other, &path).expect("the copy replaces the file");

    let error = store.check_files().expect_err("the replacement is found");
    assert!(
        error.to_string().contains(&format!(
            "the database file {} was replaced by another file",
            path.display()
        )),
        "{error}"
    );
    assert_writes_are_refused(&store, "replaced");
}

#[test]
fn an_empty_database_file_is_refused_until_it_is_initialised() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let path = directory.path().join("scheduler.db");
    std::fs::write(&path, b"").expect("an empty file");

    let error = SqliteStore::open(&SqliteConfig::new(&path)).expect_err("the open is refused");
    assert!(
        matches!(error, StoreError::EmptyDatabaseFile { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&format!(
            "the database file {} is empty (0 bytes)",
            path.display()
        )),
        "{error}"
    );
    assert_eq!(std::fs::metadata(&path).expect("the file").len(), 0);

    drop(SqliteStore::initialize(&SqliteConfig::new(&path)).expect("initialised"));
    SqliteStore::open(&SqliteConfig::new(&path)).expect("the new database opens");
}

#[test]
fn initialising_never_replaces_a_database() {
    let (_directory, path, store, id) = store_with_a_job();
    drop(store);
    let error =
        SqliteStore::initialize(&SqliteConfig::new(&path)).expect_err("initialising is refused");
    assert!(
        matches!(error, StoreError::AlreadyExists { .. }),
        "{error:?}"
    );
    let store = SqliteStore::open(&SqliteConfig::new(&path)).expect("the database opens");
    assert!(block_on(store.get_job(id)).expect("a read").is_some());
}

/// A database of many jobs at `path`, closed, with bytes of its last page overwritten.
fn damaged_database(path: &Path) {
    let store = SqliteStore::open(&SqliteConfig::new(path)).expect("the store opens");
    block_on(async {
        for _ in 0..300 {
            store.insert_job(job(None)).await.expect("a job is written");
        }
    });
    drop(store);
    let mut bytes = std::fs::read(path).expect("the file");
    let page_size = 16_384;
    let pages = bytes.len() / page_size;
    assert!(pages > 3, "{pages} pages");
    let last = (pages - 1) * page_size;
    bytes[last..last + 64].fill(0xa5);
    std::fs::write(path, bytes).expect("the damage is written");
}

#[test]
fn a_damaged_database_is_refused_at_open_and_the_full_check_reports_it() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let sound = directory.path().join("sound.db");
    drop(SqliteStore::open(&SqliteConfig::new(&sound)).expect("the store opens"));
    let report = check_database(&sound).expect("the check runs");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.page_size, 16_384);

    let path = directory.path().join("damaged.db");
    damaged_database(&path);
    let error = SqliteStore::open(&SqliteConfig::new(&path)).expect_err("the open is refused");
    assert!(matches!(error, StoreError::Damaged { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("the database at {} is damaged: ", path.display()))
            && message.contains(".recover"),
        "{message}"
    );

    let report = check_database(&path).expect("the check runs");
    assert!(!report.is_ok(), "{report:?}");

    // Without the start-up check, the same file opens.
    let unchecked = SqliteConfig {
        quick_check_budget: std::time::Duration::ZERO,
        ..SqliteConfig::new(&path)
    };
    drop(SqliteStore::open(&unchecked).expect("opens unchecked"));
}

#[test]
fn checking_a_missing_database_says_so() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let path = directory.path().join("none.db");
    let error = check_database(&path).expect_err("no database");
    assert!(
        error.to_string().contains("there is no such file"),
        "{error}"
    );
    assert!(!path.exists(), "the check makes no file");
}

/// Whether permissions bind this process (root's do not).
fn permissions_apply(directory: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = directory.join("probe");
    std::fs::create_dir(&probe).expect("a directory");
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let applies = std::fs::write(probe.join("file"), b"").is_err();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    applies
}

#[test]
fn a_read_only_directory_or_file_is_named_once() {
    use std::os::unix::fs::PermissionsExt;
    let directory = tempfile::tempdir().expect("a temporary directory");
    if !permissions_apply(directory.path()) {
        eprintln!(
            "skipped: this process ignores file permissions (it runs as root), so a read-only \
             directory cannot be made for it"
        );
        return;
    }
    let read_only = directory.path().join("read-only");
    std::fs::create_dir(&read_only).expect("a directory");
    // An existing database, closed (no -wal or -shm beside it), in a directory that then becomes
    // read-only; and a new database in the same directory.
    let existing = read_only.join("existing.db");
    drop(SqliteStore::open(&SqliteConfig::new(&existing)).expect("the store opens"));
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    for path in [existing.clone(), read_only.join("new.db")] {
        let error = SqliteStore::open(&SqliteConfig::new(&path)).expect_err("refused");
        assert!(matches!(error, StoreError::Access { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.contains("permission denied")
                && message.contains("read-only")
                && message.contains(&read_only.display().to_string()),
            "{message}"
        );
        assert!(std::error::Error::source(&error).is_none(), "said once");
    }
    // A database file this process may not write.
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let error = SqliteStore::open(&SqliteConfig::new(&existing)).expect_err("refused");
    assert!(
        error.to_string().contains(&format!(
            "permission denied: this process cannot write {}",
            existing.display()
        )),
        "{error}"
    );
}
