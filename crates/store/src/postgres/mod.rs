//! [`PostgresStore`]: the store for several nodes sharing one PostgreSQL database (feature
//! `postgres`).
//!
//! The design is told once, on [`PostgresStore`]. Each area of work has a file of its own:
//! `config`, `connect` (the pool, the server check, the migrations), `schema`, `jobs`,
//! `claims`, `executions` (results, history, recovery), `prune`, `rows` (rows to the shared
//! codec's values) and `failure` (SQLSTATEs to error kinds).

mod claims;
mod config;
mod connect;
mod executions;
mod failure;
mod jobs;
mod nodes;
mod notify;
mod prune;
mod rows;
mod schema;
mod tokens;

use deadpool_postgres::{Object, Pool};
use scheduler_core::Result;

pub use self::config::PostgresConfig;

/// The scheduler's store on a PostgreSQL database, shared by any number of nodes. Made by
/// [`PostgresStore::connect`]; share it behind an `Arc`.
///
/// **What it is.** The same contract as the SQLite store (core's conformance suite) on a
/// PostgreSQL server, through `tokio-postgres` and a `deadpool-postgres` pool: every call is
/// async on the caller's runtime, with no threads of its own. Several scheduler nodes may use
/// one database (each under its own `node_id`): claims split the due jobs between them. A
/// connection's task runs on the tokio runtime of the call that opened it, so calls must come
/// from runtimes with I/O enabled that outlive the store.
///
/// **Schema.** `jobs` (the full spec, the watermark `next_fire_at`, a version) and
/// `job_executions` (state, lease owner `claimed_by` and `lease_expires_at`, attempts, re-sends
/// after a crash `redeliveries`), ids as
/// `uuid`, bodies as `bytea`, timestamps and durations as `bigint` milliseconds and the other
/// values encoded as the SQLite store does (`crate::codec`, shared by both). Executions are
/// unique on (job, tick) and go with their job (`ON DELETE CASCADE`). Partial indexes keep the
/// claims' and recovery's reads independent of the history's size. Migrations are versioned in
/// `scheduler_schema_version` and run at connect, each in one transaction under an advisory
/// lock, so nodes starting together apply each once. [`PostgresConfig::schema`] puts the tables
/// in a schema of their own (the connections' `search_path`).
///
/// **Claims** are one transaction: the due, active jobs in watermark order, locked
/// with `FOR NO KEY UPDATE SKIP LOCKED`, so that nodes claiming at once take different jobs
/// instead of waiting for each other (and a trigger's insert, which only needs the job's key,
/// is not blocked); each job planned with `plan_claim`; the executions inserted in one
/// multi-row statement that skips a tick already claimed; the watermarks advanced in one
/// statement. A job locked by another node is simply left to it.
///
/// **Results** are one statement per batch, in one transaction (the engine's writer groups
/// them). **Retention** deletes in rounds of at most [`PostgresConfig::prune_batch`]
/// executions, each its own short transaction, so it never holds up claims for long.
///
/// **Changes** (updates, pauses, resumes, deletes) are announced with `NOTIFY` in their
/// transaction, on a channel named after the schema; each store keeps one connection that
/// `LISTEN`s and hands the notices to its engine ([`MembershipStore::job_changes`](scheduler_core::MembershipStore::job_changes)).
///
/// **Failures** carry the kind their SQLSTATE gives: lost races are conflicts, a
/// server out of connections or a pool timeout is busy, a lost connection or a server shutting
/// down is unavailable.
pub struct PostgresStore {
    pool: Pool,
    /// `user@host:port/database`, for messages.
    target: String,
    prune_batch: usize,
    /// Where job changes are announced (`notify`): named after the tables' schema.
    channel: String,
    /// How the job-change listener connects: the pool's settings, with keepalives.
    listen_config: tokio_postgres::Config,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("prune_batch", &self.prune_batch)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// A connection from the pool, for `what`.
    async fn client(&self, what: &'static str) -> Result<Object> {
        self.pool
            .get()
            .await
            .map_err(|error| failure::pool(what, error))
    }

    /// The row `sql` returns for the id `id` (its one parameter, `$1`), if any, for `what`.
    async fn row_by_id(
        &self,
        what: &'static str,
        sql: &str,
        id: &uuid::Uuid,
    ) -> Result<Option<tokio_postgres::Row>> {
        let client = self.client(what).await?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(failure::while_(what))?;
        client
            .query_opt(&statement, &[id])
            .await
            .map_err(failure::while_(what))
    }
}
