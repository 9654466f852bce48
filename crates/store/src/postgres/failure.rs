//! PostgreSQL failures as core's errors, each with the kind the engine decides on: the SQLSTATE
//! of a failed statement, or the pool's and the connection's state, say whether the same call
//! may succeed when made again.

use deadpool_postgres::PoolError;
use scheduler_core::{Error, StoreErrorKind};

/// A failed statement or connection while doing `what`, of the kind its SQLSTATE says.
pub(super) fn postgres(what: impl Into<String>, error: tokio_postgres::Error) -> Error {
    Error::store(kind_of(&error), what, error)
}

/// `postgres(what, _)` as a closure, for `map_err`.
pub(super) fn while_(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> Error {
    move |error| postgres(what, error)
}

/// No connection from the pool while doing `what`.
pub(super) fn pool(what: &'static str, error: PoolError) -> Error {
    let kind = match &error {
        PoolError::Timeout(_) => StoreErrorKind::Busy,
        PoolError::Backend(error) => kind_of(error),
        PoolError::Closed | PoolError::PostCreateHook(_) => StoreErrorKind::Unavailable,
        PoolError::NoRuntimeSpecified => StoreErrorKind::Permanent,
    };
    Error::store(kind, format!("{what}: no database connection"), error)
}

/// The kind of a failed call: by SQLSTATE when the server answered, and otherwise unavailable
/// for a connection that failed or closed, permanent for the rest (a value that does not
/// convert).
pub(super) fn kind_of(error: &tokio_postgres::Error) -> StoreErrorKind {
    if let Some(state) = error.code() {
        return kind_of_state(state.code());
    }
    let io = std::error::Error::source(error)
        .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some());
    if error.is_closed() || io {
        StoreErrorKind::Unavailable
    } else {
        StoreErrorKind::Permanent
    }
}

/// The kind of a SQLSTATE: lost races are conflicts (serialization failures, deadlocks, a
/// uniqueness race), a server out of connections or a lock not available is busy, a lost or
/// refused connection, a server shutting down, a full disk or a read-only server is
/// unavailable, damaged data is corrupt, and the rest is permanent.
pub(super) fn kind_of_state(state: &str) -> StoreErrorKind {
    match state {
        "40001" | "40P01" | "23505" => StoreErrorKind::Conflict,
        "53300" | "55P03" => StoreErrorKind::Busy,
        "57P01" | "57P02" | "57P03" | "53100" | "25006" => StoreErrorKind::Unavailable,
        "XX001" | "XX002" => StoreErrorKind::Corrupt,
        _ if state.starts_with("08") => StoreErrorKind::Unavailable,
        _ => StoreErrorKind::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_the_kinds_the_engine_decides_on() {
        let cases = [
            ("40001", StoreErrorKind::Conflict),
            ("40P01", StoreErrorKind::Conflict),
            ("23505", StoreErrorKind::Conflict),
            ("53300", StoreErrorKind::Busy),
            ("55P03", StoreErrorKind::Busy),
            ("08000", StoreErrorKind::Unavailable),
            ("08006", StoreErrorKind::Unavailable),
            ("08001", StoreErrorKind::Unavailable),
            ("57P01", StoreErrorKind::Unavailable),
            ("57P02", StoreErrorKind::Unavailable),
            ("57P03", StoreErrorKind::Unavailable),
            ("53100", StoreErrorKind::Unavailable),
            ("25006", StoreErrorKind::Unavailable),
            ("XX001", StoreErrorKind::Corrupt),
            ("XX002", StoreErrorKind::Corrupt),
            ("XX000", StoreErrorKind::Permanent),
            ("23503", StoreErrorKind::Permanent),
            ("42P01", StoreErrorKind::Permanent),
            ("22003", StoreErrorKind::Permanent),
        ];
        for (state, kind) in cases {
            assert_eq!(kind_of_state(state), kind, "{state}");
        }
    }

    #[test]
    fn a_pool_timeout_is_busy_and_a_closed_pool_unavailable() {
        let timeout = pool(
            "claiming",
            PoolError::Timeout(deadpool_postgres::TimeoutType::Wait),
        );
        assert_eq!(timeout.store_kind(), Some(StoreErrorKind::Busy));
        assert!(timeout.is_transient());
        let closed = pool("claiming", PoolError::Closed);
        assert_eq!(closed.store_kind(), Some(StoreErrorKind::Unavailable));
    }
}
