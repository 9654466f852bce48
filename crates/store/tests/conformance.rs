//! The store contract every implementation meets, run against SQLite files.

use std::sync::Arc;

use store::SqliteStore;

async fn make_store() -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open_temporary().expect("a temporary SQLite store"))
}

scheduler_core::store_conformance_tests!(make_store);

/// The same contract with the per-job history indexed as each execution is inserted
/// (`history_interval` zero), so that per-job reads go through the history table rather than
/// the tick index's last window.
mod history_at_insert {
    use std::sync::Arc;
    use std::time::Duration;

    use store::SqliteStore;

    async fn make_store() -> Arc<SqliteStore> {
        Arc::new(
            SqliteStore::open_temporary_with(|config| config.history_interval = Duration::ZERO)
                .expect("a temporary SQLite store"),
        )
    }

    scheduler_core::store_conformance_tests!(make_store);
}
