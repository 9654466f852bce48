//! Store failures as core's errors, each with the kind the engine decides on: SQLite's result
//! codes say whether a failed call is worth making again.

use rusqlite::ErrorCode;
use scheduler_core::{Error, StoreErrorKind};

/// A failed SQLite call made while doing `what`, of the kind its result code says.
pub(crate) fn sqlite(what: impl Into<String>, error: rusqlite::Error) -> Error {
    Error::store(kind_of(&error), what, error)
}

/// `sqlite(what, _)` as a closure, for `map_err`.
pub(crate) fn sqlite_while(what: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    move |error| sqlite(what, error)
}

/// A failure of the store's own machinery (a task that ended without an answer, the writer
/// thread gone): `kind` says whether it may pass.
pub(crate) fn machinery(
    kind: StoreErrorKind,
    what: impl Into<String>,
    error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    Error::store(kind, what, error)
}

/// The kind of a failed SQLite call: busy and locked databases are busy; a full disk, an I/O
/// error, a read-only or unopenable file are unavailable (an operator can fix them and the same
/// call then succeeds); a damaged file is corrupt; the rest is permanent.
pub(crate) fn kind_of(error: &rusqlite::Error) -> StoreErrorKind {
    let Some(code) = error.sqlite_error_code() else {
        return StoreErrorKind::Permanent;
    };
    match code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreErrorKind::Busy,
        ErrorCode::DiskFull
        | ErrorCode::SystemIoFailure
        | ErrorCode::ReadOnly
        | ErrorCode::CannotOpen
        | ErrorCode::PermissionDenied
        | ErrorCode::OutOfMemory
        | ErrorCode::FileLockingProtocolFailed => StoreErrorKind::Unavailable,
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StoreErrorKind::Corrupt,
        _ => StoreErrorKind::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: ErrorCode) -> rusqlite::Error {
        let extended = match code {
            ErrorCode::DatabaseBusy => 5,
            ErrorCode::DatabaseLocked => 6,
            ErrorCode::ReadOnly => 8,
            ErrorCode::SystemIoFailure => 10,
            ErrorCode::DatabaseCorrupt => 11,
            ErrorCode::DiskFull => 13,
            ErrorCode::ConstraintViolation => 19,
            ErrorCode::NotADatabase => 26,
            _ => 1,
        };
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(extended), None)
    }

    #[test]
    fn result_codes_map_to_the_kinds_the_engine_decides_on() {
        let cases = [
            (ErrorCode::DatabaseBusy, StoreErrorKind::Busy),
            (ErrorCode::DatabaseLocked, StoreErrorKind::Busy),
            (ErrorCode::DiskFull, StoreErrorKind::Unavailable),
            (ErrorCode::SystemIoFailure, StoreErrorKind::Unavailable),
            (ErrorCode::ReadOnly, StoreErrorKind::Unavailable),
            (ErrorCode::DatabaseCorrupt, StoreErrorKind::Corrupt),
            (ErrorCode::NotADatabase, StoreErrorKind::Corrupt),
            (ErrorCode::ConstraintViolation, StoreErrorKind::Permanent),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_of(&failure(code)), kind, "{code:?}");
        }
        assert_eq!(
            kind_of(&rusqlite::Error::QueryReturnedNoRows),
            StoreErrorKind::Permanent
        );
        assert!(sqlite("recording results", failure(ErrorCode::DiskFull)).is_transient());
        assert!(!sqlite("reading a job", failure(ErrorCode::DatabaseCorrupt)).is_transient());
    }
}
