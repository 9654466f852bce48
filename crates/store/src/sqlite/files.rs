//! The database file and its `-wal` while the store runs: do their paths still name the files
//! the store has open?
//!
//! SQLite keeps writing to a file it has open after the file is deleted or replaced, so without
//! a check a deleted database goes on taking writes that vanish when the process exits, and the
//! next start makes an empty database. [`DatabaseFiles`] records the device and inode of both
//! files when the store opens them and compares them with the paths' (`stat`): on the writer
//! before its transactions (at most every [`CHECK_INTERVAL`], and every second when idle), and
//! whenever [`SqliteStore::check_files`](crate::SqliteStore::check_files) is called (the health
//! check). Once a file is found gone the store refuses writes and reads for good (a new read
//! connection would open whatever is at the path now), and the writer reports
//! it once, at ERROR, after a checkpoint that puts every committed write in the database file
//! it has open (so a copy of that file, through `/proc`, holds everything).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use scheduler_core::{Error, StoreErrorKind};

use crate::error::StoreError;

/// The least time between two checks made by the writer before its transactions.
pub(crate) const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// How long an idle writer waits for work before it checks the files again.
pub(crate) const IDLE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The files of one open database, as they were when the store opened them.
#[derive(Debug)]
pub(crate) struct DatabaseFiles {
    path: PathBuf,
    wal_path: PathBuf,
    main: FileIdentity,
    /// The `-wal` file, once it exists (SQLite makes it at the first transaction and keeps it
    /// while a connection is open).
    wal: Mutex<Option<FileIdentity>>,
    /// The first loss found; it stays.
    lost: OnceLock<FileLoss>,
    /// Whether the writer has reported the loss (and made its checkpoint).
    reported: AtomicBool,
    /// When the writer last checked.
    last_check: Mutex<Option<Instant>>,
}

/// Which file went, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileLoss {
    /// The database file's path names nothing.
    MainDeleted,
    /// The database file's path names another file.
    MainReplaced,
    /// The `-wal` file's path names nothing.
    WalDeleted,
    /// The `-wal` file's path names another file.
    WalReplaced,
}

/// A file, by device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileIdentity {
    device: u64,
    inode: u64,
}

impl FileIdentity {
    fn of(metadata: &std::fs::Metadata) -> FileIdentity {
        FileIdentity {
            device: metadata.dev(),
            inode: metadata.ino(),
        }
    }

    /// The file at `path` now: `None` when there is none.
    fn at(path: &Path) -> std::io::Result<Option<FileIdentity>> {
        match std::fs::metadata(path) {
            Ok(metadata) => Ok(Some(FileIdentity::of(&metadata))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// The `-wal` file beside the database at `path`.
pub(crate) fn wal_path(path: &Path) -> PathBuf {
    sibling(path, "-wal")
}

/// The `-shm` file beside the database at `path`.
pub(crate) fn shm_path(path: &Path) -> PathBuf {
    sibling(path, "-shm")
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

impl DatabaseFiles {
    /// Records the files at `path` now, just after the writer opened the database.
    pub(crate) fn record(path: &Path) -> Result<DatabaseFiles, StoreError> {
        let unreadable = |source: std::io::Error| StoreError::Access {
            path: path.to_path_buf(),
            problem: format!("cannot read the file's metadata: {source}"),
        };
        let main =
            FileIdentity::at(path)
                .map_err(unreadable)?
                .ok_or_else(|| StoreError::Access {
                    path: path.to_path_buf(),
                    problem: "the file disappeared while it was being opened".to_owned(),
                })?;
        let wal_path = wal_path(path);
        let wal = FileIdentity::at(&wal_path).map_err(unreadable)?;
        Ok(DatabaseFiles {
            path: path.to_path_buf(),
            wal_path,
            main,
            wal: Mutex::new(wal),
            lost: OnceLock::new(),
            reported: AtomicBool::new(false),
            last_check: Mutex::new(None),
        })
    }

    /// Compares the paths with the files open now; the first loss found stays.
    pub(crate) fn check(&self) -> Result<(), FileLoss> {
        if let Some(loss) = self.lost.get() {
            return Err(*loss);
        }
        match self.compare() {
            Some(loss) => Err(*self.lost.get_or_init(|| loss)),
            None => Ok(()),
        }
    }

    /// What has changed at the paths, if anything. A path that cannot be read (a permission
    /// changed on the way) is no evidence of a loss, and SQLite reports what it cannot do.
    fn compare(&self) -> Option<FileLoss> {
        match FileIdentity::at(&self.path) {
            Ok(None) => return Some(FileLoss::MainDeleted),
            Ok(Some(now)) if now != self.main => return Some(FileLoss::MainReplaced),
            _ => {}
        }
        let now = FileIdentity::at(&self.wal_path).ok()?;
        let mut wal = self
            .wal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (*wal, now) {
            (Some(_), None) => Some(FileLoss::WalDeleted),
            (Some(recorded), Some(now)) if recorded != now => Some(FileLoss::WalReplaced),
            (None, now) => {
                *wal = now;
                None
            }
            _ => None,
        }
    }

    /// The loss found so far, if any, without looking at the files again.
    pub(crate) fn lost(&self) -> Option<FileLoss> {
        self.lost.get().copied()
    }

    /// The writer's check before a transaction (`idle`: after waiting for work): compares the
    /// files at most every [`CHECK_INTERVAL`] unless idle, and on the first loss makes the
    /// checkpoint and reports it. A loss refuses the transaction's writes
    /// ([`DatabaseFiles::refusal`]).
    pub(crate) fn check_on_writer(
        &self,
        connection: &Connection,
        idle: bool,
    ) -> Result<(), FileLoss> {
        let loss = match self.lost.get() {
            Some(loss) => *loss,
            None => {
                let now = Instant::now();
                let mut last = self
                    .last_check
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let due =
                    idle || last.is_none_or(|last| now.duration_since(last) >= CHECK_INTERVAL);
                if !due {
                    return Ok(());
                }
                *last = Some(now);
                drop(last);
                match self.check() {
                    Ok(()) => return Ok(()),
                    Err(loss) => loss,
                }
            }
        };
        if !self.reported.swap(true, Ordering::SeqCst) {
            let checkpoint = checkpoint(connection);
            log::error!("{}", self.report(loss, &checkpoint));
        }
        Err(loss)
    }

    /// The error of a read or write refused after `loss`: unavailable, since restoring the
    /// file and restarting makes the same call succeed.
    pub(crate) fn refusal(&self, loss: FileLoss) -> Error {
        Error::Store {
            kind: StoreErrorKind::Unavailable,
            message: self.error(loss).to_string(),
            source: None,
        }
    }

    /// The loss as the store's error, for the health check and refused writes.
    pub(crate) fn error(&self, loss: FileLoss) -> StoreError {
        let (file, change) = match loss {
            FileLoss::MainDeleted => ("database file", "deleted"),
            FileLoss::MainReplaced => ("database file", "replaced by another file"),
            FileLoss::WalDeleted => ("write-ahead log", "deleted"),
            FileLoss::WalReplaced => ("write-ahead log", "replaced by another file"),
        };
        let path = match loss {
            FileLoss::MainDeleted | FileLoss::MainReplaced => self.path.clone(),
            FileLoss::WalDeleted | FileLoss::WalReplaced => self.wal_path.clone(),
        };
        StoreError::FileLost { file, path, change }
    }

    /// The ERROR line: what happened, what the store does now, and what to do.
    fn report(&self, loss: FileLoss, checkpoint: &Checkpoint) -> String {
        let happened = match self.error(loss) {
            StoreError::FileLost { file, path, change } => {
                format!(
                    "the {file} {} was {change} while the store had it open",
                    path.display()
                )
            }
            other => other.to_string(),
        };
        let path = self.path.display();
        match loss {
            FileLoss::MainDeleted | FileLoss::MainReplaced => {
                let held = match checkpoint {
                    Checkpoint::Complete => {
                        "every committed write (the write-ahead log was copied into it)".to_owned()
                    }
                    Checkpoint::Incomplete(why) => format!(
                        "what was written up to the last checkpoint (the write-ahead log could not be copied into it: {why}; it stays at {})",
                        self.wal_path.display()
                    ),
                };
                let copy = match open_descriptor(self.main) {
                    Some(descriptor) => format!(
                        "copy it out now with `cp {descriptor} {path}.rescued`"
                    ),
                    None => "copy it out now from /proc/<this process>/fd/ (the entry that points at the deleted file)".to_owned(),
                };
                format!(
                    "{happened}. The store refuses reads and writes from now on: writes would go to \
                     a file that is gone when this process exits. The file the store has open still holds {held}, \
                     and stays readable while this process runs: {copy}, then stop the server, \
                     move {path}.rescued to {path} and start the server again \
                     (docs/OPERATIONS.md, \"The database file\")"
                )
            }
            FileLoss::WalDeleted | FileLoss::WalReplaced => {
                let outcome = match checkpoint {
                    Checkpoint::Complete => format!(
                        "Every committed write was copied from the open log into {path}, so nothing \
                         is lost: restart the server to write again"
                    ),
                    Checkpoint::Incomplete(why) => format!(
                        "Copying the open log into {path} did not finish ({why}): stop the server \
                         with SIGTERM, which copies it as it closes the database, then start it again"
                    ),
                };
                format!(
                    "{happened}. The store refuses reads and writes from now on, since a crash \
                     would lose writes with the log. {outcome} (docs/OPERATIONS.md, \"The database file\")"
                )
            }
        }
    }
}

/// How the checkpoint made on a loss went.
enum Checkpoint {
    /// Every frame of the log is in the database file the store has open.
    Complete,
    /// Some frames are not, and why.
    Incomplete(String),
}

/// Copies every committed frame of the write-ahead log into the database file (`TRUNCATE`, so
/// the log is empty afterwards).
fn checkpoint(connection: &Connection) -> Checkpoint {
    let outcome = connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    });
    match outcome {
        Ok((0, log, checkpointed)) if log == checkpointed => Checkpoint::Complete,
        Ok((busy, log, checkpointed)) => Checkpoint::Incomplete(format!(
            "{checkpointed} of {log} pages copied{}",
            if busy == 0 {
                ""
            } else {
                ", readers were in the way"
            }
        )),
        Err(error) => Checkpoint::Incomplete(error.to_string()),
    }
}

/// `/proc/<pid>/fd/<n>` for a descriptor of this process open on `file`, if one is found.
fn open_descriptor(file: FileIdentity) -> Option<String> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    entries.flatten().find_map(|entry| {
        let metadata = std::fs::metadata(entry.path()).ok()?;
        (FileIdentity::of(&metadata) == file).then(|| {
            format!(
                "/proc/{}/fd/{}",
                std::process::id(),
                entry.file_name().to_string_lossy()
            )
        })
    })
}
