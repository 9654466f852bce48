//! [`PostgresConfig`]: where the database is and how the store uses it.

use std::time::Duration;

/// How to reach and use a PostgreSQL database. [`PostgresConfig::new`] gives the defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresConfig {
    /// The connection URL (`postgres://user:password@host:port/database?...`) or key-value
    /// string, as libpq takes them.
    pub url: String,
    /// The schema the store's tables live in: every connection uses it as its `search_path`,
    /// and [`PostgresStore::connect`](super::PostgresStore::connect) creates it if missing.
    /// `None` (the default) uses the server's search path (normally `public`). Lowercase
    /// letters, digits and `_`, not starting with a digit, at most 63 bytes.
    pub schema: Option<String>,
    /// The most connections the store opens (16 by default): claims, result batches, API calls
    /// and pruning each hold one for a statement or a transaction.
    pub max_connections: usize,
    /// How long opening one connection may take before it fails (10 s by default).
    pub connect_timeout: Duration,
    /// How long a call waits for a free connection before it fails as busy (5 s by default).
    pub acquire_timeout: Duration,
    /// The most executions one round of retention deletes (5,000 by default): each round is a
    /// transaction of its own, so claims and results are never held up by a long prune.
    pub prune_batch: usize,
}

impl PostgresConfig {
    /// The defaults for the database at `url`.
    pub fn new(url: impl Into<String>) -> PostgresConfig {
        PostgresConfig {
            url: url.into(),
            schema: None,
            max_connections: 16,
            connect_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(5),
            prune_batch: 5_000,
        }
    }
}
