//! The store contract every implementation meets, run against SQLite files.

use std::sync::Arc;

use store::SqliteStore;

async fn make_store() -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open_temporary().expect("a temporary SQLite store"))
}

scheduler_core::store_conformance_tests!(make_store);
