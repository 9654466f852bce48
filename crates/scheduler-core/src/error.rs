//! The crate's one public error type.

use cron_expr::Timestamp;

use crate::domain::{JobField, JobId};

/// Everything that can go wrong in the engine or in a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A job spec (or a value parsed into one) is not acceptable.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The part of the job at fault.
        field: JobField,
        /// What is wrong with it.
        reason: String,
    },
    /// Jobs of a batch are not acceptable, each with its index in the batch and why; nothing
    /// of the batch was stored.
    #[error("{} of the batch's jobs are invalid", .items.len())]
    InvalidBatch {
        /// The index in the batch of each job at fault (in order), and what is wrong with it
        /// (an [`Error::Invalid`]).
        items: Vec<(usize, Error)>,
    },
    /// An engine setting is not acceptable.
    #[error("invalid {setting}: {reason}")]
    InvalidConfig {
        /// The setting at fault, named as its config field.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No job has this id.
    #[error("job {0} not found")]
    JobNotFound(JobId),
    /// A job with this id exists already.
    #[error("job {0} exists already")]
    JobExists(JobId),
    /// The job changed since the version the caller read.
    #[error("job {job_id} is at version {actual}, not {expected}")]
    VersionConflict {
        /// The job.
        job_id: JobId,
        /// The version the caller expected.
        expected: u64,
        /// The version the store holds.
        actual: u64,
    },
    /// An execution for this job and tick exists already.
    #[error("job {job_id} already has an execution scheduled at {scheduled_at}")]
    DuplicateExecution {
        /// The job.
        job_id: JobId,
        /// The tick.
        scheduled_at: Timestamp,
    },
    /// The store failed; the message says where, the kind whether trying again may help.
    #[error("store ({kind}): {message}")]
    Store {
        /// What kind of failure it was.
        kind: StoreErrorKind,
        /// What the store was doing and what went wrong.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The engine has shut down and takes no more commands.
    #[error("the engine has shut down")]
    ShutDown,
}

impl Error {
    /// An [`Error::Invalid`] for `field`.
    pub fn invalid(field: JobField, reason: impl Into<String>) -> Error {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// An [`Error::InvalidConfig`] for `setting`.
    pub fn invalid_config(setting: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidConfig {
            setting,
            reason: reason.into(),
        }
    }

    /// An [`Error::Store`] of `kind` with a source error, for store implementations.
    pub fn store(
        kind: StoreErrorKind,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::Store {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The kind of a store failure, or `None` for every other error.
    pub fn store_kind(&self) -> Option<StoreErrorKind> {
        match self {
            Error::Store { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Whether the same call may succeed if made again: a store failure of a transient kind
    /// ([`StoreErrorKind::is_transient`]).
    pub fn is_transient(&self) -> bool {
        self.store_kind().is_some_and(StoreErrorKind::is_transient)
    }
}

/// `error` and its sources, joined by `: `, for logs and error bodies: a store error's own
/// message names what the store was doing, and its source says why (the database's message).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What kind of failure a store reports, so that callers can tell what is worth trying again
/// (the engine retries transient failures and reports the rest) without knowing the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The call lost a race with another writer (a serialization failure, a deadlock, a
    /// uniqueness race): the same call may succeed at once.
    Conflict,
    /// The database is busy or locked, or no connection was free in time.
    Busy,
    /// The database cannot be reached or written: connection lost, server restarting, disk
    /// full, read-only file system, I/O error.
    Unavailable,
    /// The stored data is damaged or not a database of ours: an operator must look.
    Corrupt,
    /// Anything else: a bug, a schema mismatch, a value the database refuses. Trying again
    /// gives the same answer.
    Permanent,
}

impl StoreErrorKind {
    /// Whether a call that failed this way may succeed when made again: conflicts, busy and
    /// unavailable databases.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            StoreErrorKind::Conflict | StoreErrorKind::Busy | StoreErrorKind::Unavailable
        )
    }

    /// `conflict`, `busy`, `unavailable`, `corrupt` or `permanent`.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreErrorKind::Conflict => "conflict",
            StoreErrorKind::Busy => "busy",
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::Corrupt => "corrupt",
            StoreErrorKind::Permanent => "permanent",
        }
    }
}

impl std::fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
