//! The in-memory store against the store contract.

use std::sync::Arc;

use scheduler_core::{MemoryStore, Store};

async fn memory_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

scheduler_core::store_conformance_tests!(memory_store);
