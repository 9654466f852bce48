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
    /// The store failed; the message says where.
    #[error("store: {message}")]
    Store {
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

    /// An [`Error::Store`] with a source error, for store implementations.
    pub fn store(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::Store {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
