//! Executions: the capability traits over executions ([`ClaimStore`], [`HistoryStore`],
//! [`RetentionStore`], [`RecoveryStore`]), with triggers, results and the queries of the
//! history; claims and pruning are in modules of their own.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use scheduler_core::{
    BoxFuture, BufferedClaims, ClaimBatch, ClaimRequest, ClaimStore, ClaimedTick, Error, Execution,
    ExecutionId, ExecutionQuery, ExecutionStatus, ExecutionUpdate, HistoryStore, Job,
    RecoveryStore, Result, RetentionPolicy, RetentionStore, TakeOverRequest, Timestamp,
};
use tokio_postgres::Statement;
use uuid::Uuid;

use super::rows::{execution_from, job_from};
use super::schema::EXCEPTIONAL_STATES;
use super::{PostgresStore, claims, failure, prune};
use crate::codec::{
    EXECUTION_COLUMN_COUNT, EXECUTION_COLUMNS, duration_millis, job_columns_of, millis,
    prefixed_execution_columns,
};

impl ClaimStore for PostgresStore {
    fn claim_due(&self, request: ClaimRequest) -> BoxFuture<'_, Result<ClaimBatch>> {
        claims::claim_due(self, request)
    }

    fn insert_job_and_claim(
        &self,
        job: Job,
        request: ClaimRequest,
    ) -> BoxFuture<'_, Result<ClaimBatch>> {
        claims::insert_job_and_claim(self, job, request)
    }

    fn insert_jobs_and_claim(
        &self,
        jobs: Vec<Job>,
        request: ClaimRequest,
    ) -> BoxFuture<'_, Result<ClaimBatch>> {
        claims::insert_jobs_and_claim(self, jobs, request)
    }

    fn insert_execution(&self, execution: Execution) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            const WHAT: &str = "inserting an execution";
            let client = self.client(WHAT).await?;
            let statement = client
                .prepare_cached(INSERT_EXECUTION)
                .await
                .map_err(failure::while_(WHAT))?;
            let inserted = insert_execution_row(&client, &statement, &execution).await;
            match inserted {
                Ok(1) => Ok(()),
                Ok(_) => Err(Error::DuplicateExecution {
                    job_id: execution.job_id,
                    scheduled_at: execution.scheduled_at,
                }),
                Err(error)
                    if error.code()
                        == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) =>
                {
                    Err(Error::JobNotFound(execution.job_id))
                }
                Err(error) => Err(failure::postgres(WHAT, error)),
            }
        })
    }

    fn record_buffered_claims(&self, claims: BufferedClaims) -> BoxFuture<'_, Result<usize>> {
        Box::pin(async move {
            const WHAT: &str = "recording buffered claims";
            let mut client = self.client(WHAT).await?;
            let transaction = client.transaction().await.map_err(failure::while_(WHAT))?;
            let mut job_ids: Vec<Uuid> = claims.executions.iter().map(|e| e.job_id.0).collect();
            job_ids.sort_unstable();
            job_ids.dedup();
            // The jobs are locked, so that none is deleted between this read and the inserts.
            let existing: HashSet<Uuid> = transaction
                .query(
                    "SELECT id FROM jobs WHERE id = ANY($1) FOR SHARE",
                    &[&job_ids],
                )
                .await
                .map_err(failure::while_(WHAT))?
                .iter()
                .map(|row| row.get(0))
                .collect();
            let insert = transaction
                .prepare_cached(INSERT_EXECUTION)
                .await
                .map_err(failure::while_(WHAT))?;
            let mut inserted = 0;
            for execution in &claims.executions {
                if existing.contains(&execution.job_id.0) {
                    let rows = insert_execution_row(&transaction, &insert, execution)
                        .await
                        .map_err(failure::while_(WHAT))?;
                    inserted += usize::try_from(rows).unwrap_or(0);
                }
            }
            let advance = transaction
                .prepare_cached(ADVANCE_BUFFERED_WATERMARK)
                .await
                .map_err(failure::while_(WHAT))?;
            for watermark in &claims.watermarks {
                let version = i64::try_from(watermark.version).unwrap_or(i64::MAX);
                transaction
                    .execute(
                        &advance,
                        &[
                            &watermark.job_id.0,
                            &version,
                            &watermark.next_fire_at.map(millis),
                        ],
                    )
                    .await
                    .map_err(failure::while_(WHAT))?;
            }
            transaction.commit().await.map_err(failure::while_(WHAT))?;
            Ok(inserted)
        })
    }

    fn record_results(&self, updates: Vec<ExecutionUpdate>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            const WHAT: &str = "recording results";
            if updates.is_empty() {
                return Ok(());
            }
            let ends = job_ends(&updates);
            let results = Results::of(updates);
            let mut client = self.client(WHAT).await?;
            let transaction = client.transaction().await.map_err(failure::while_(WHAT))?;
            if !ends.is_empty() {
                // Locked first, in id order: of two nodes finishing a job's last executions
                // at once, the second waits, then sees the first's result as final.
                let ids: Vec<Uuid> = ends.iter().map(|(id, _)| *id).collect();
                transaction
                    .execute(
                        "SELECT id FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                        &[&ids],
                    )
                    .await
                    .map_err(failure::while_(WHAT))?;
            }
            let statement = transaction
                .prepare_cached(UPDATE_EXECUTIONS)
                .await
                .map_err(failure::while_(WHAT))?;
            transaction
                .execute(
                    &statement,
                    &[
                        &results.ids,
                        &results.statuses,
                        &results.executed_at,
                        &results.finished_at,
                        &results.http_statuses,
                        &results.durations,
                        &results.errors,
                        &results.attempts,
                        &results.redeliveries,
                    ],
                )
                .await
                .map_err(failure::while_(WHAT))?;
            for (job_id, finished_at) in &ends {
                transaction
                    .query(DELETE_ENDED_JOB, &[job_id, &self.channel])
                    .await
                    .map_err(failure::while_(WHAT))?;
                transaction
                    .execute(MARK_JOB_DONE, &[job_id, finished_at])
                    .await
                    .map_err(failure::while_(WHAT))?;
            }
            transaction.commit().await.map_err(failure::while_(WHAT))
        })
    }
}

/// The jobs that final updates of last ticks may end ([`ExecutionUpdate::last_tick_of`]), in
/// id order, each with the latest `finished_at` among them.
fn job_ends(updates: &[ExecutionUpdate]) -> Vec<(Uuid, i64)> {
    let mut ends: HashMap<Uuid, i64> = HashMap::new();
    for update in updates {
        if let (Some(job_id), Some(finished_at), true) = (
            update.last_tick_of,
            update.finished_at,
            update.status.is_finished(),
        ) {
            let at = ends.entry(job_id.0).or_insert(i64::MIN);
            *at = (*at).max(millis(finished_at));
        }
    }
    let mut ends: Vec<(Uuid, i64)> = ends.into_iter().collect();
    ends.sort_unstable();
    ends
}

/// Deletes a job with `delete_after_run` that a last tick's result ends (no tick left, not
/// done, no execution unfinished), its executions with it, and announces it; `$2` the
/// notification channel.
pub(super) const DELETE_ENDED_JOB: &str = "WITH deleted AS (DELETE FROM jobs WHERE id = $1 AND delete_after_run \
     AND next_fire_at IS NULL AND done_at IS NULL AND NOT EXISTS (SELECT 1 FROM job_executions \
     WHERE job_id = $1 AND status IN ('PENDING', 'RUNNING')) RETURNING id) \
     SELECT pg_notify($2, id::text) FROM deleted";

/// Marks a job done at `$2` that a last tick's result ends (as [`DELETE_ENDED_JOB`], without
/// `delete_after_run`).
pub(super) const MARK_JOB_DONE: &str = "UPDATE jobs SET done_at = $2 WHERE id = $1 AND NOT delete_after_run \
     AND next_fire_at IS NULL AND done_at IS NULL AND NOT EXISTS (SELECT 1 FROM job_executions \
     WHERE job_id = $1 AND status IN ('PENDING', 'RUNNING'))";

/// A batch of results as the columns of one update, one row per execution: the last update
/// of an execution wins, as if they were applied in order.
struct Results {
    ids: Vec<Uuid>,
    statuses: Vec<&'static str>,
    executed_at: Vec<Option<i64>>,
    finished_at: Vec<Option<i64>>,
    http_statuses: Vec<Option<i64>>,
    durations: Vec<Option<i64>>,
    errors: Vec<Option<String>>,
    attempts: Vec<i64>,
    redeliveries: Vec<i64>,
}

impl Results {
    fn of(updates: Vec<ExecutionUpdate>) -> Results {
        // An `UPDATE ... FROM` that joins a row twice applies one of the two at random.
        let mut last: HashMap<Uuid, usize> = HashMap::with_capacity(updates.len());
        for (index, update) in updates.iter().enumerate() {
            last.insert(update.id.0, index);
        }
        let mut results = Results {
            ids: Vec::with_capacity(last.len()),
            statuses: Vec::with_capacity(last.len()),
            executed_at: Vec::with_capacity(last.len()),
            finished_at: Vec::with_capacity(last.len()),
            http_statuses: Vec::with_capacity(last.len()),
            durations: Vec::with_capacity(last.len()),
            errors: Vec::with_capacity(last.len()),
            attempts: Vec::with_capacity(last.len()),
            redeliveries: Vec::with_capacity(last.len()),
        };
        for (index, update) in updates.into_iter().enumerate() {
            if last.get(&update.id.0) != Some(&index) {
                continue;
            }
            results.ids.push(update.id.0);
            results.statuses.push(update.status.as_str());
            results.executed_at.push(update.executed_at.map(millis));
            results.finished_at.push(update.finished_at.map(millis));
            results
                .http_statuses
                .push(update.http_status.map(i64::from));
            results.durations.push(update.duration.map(duration_millis));
            results.errors.push(update.error);
            results.attempts.push(i64::from(update.attempts));
            results.redeliveries.push(i64::from(update.redeliveries));
        }
        results
    }
}

impl HistoryStore for PostgresStore {
    fn get_execution(&self, id: ExecutionId) -> BoxFuture<'_, Result<Option<Execution>>> {
        Box::pin(async move {
            let sql = format!("SELECT {EXECUTION_COLUMNS} FROM job_executions WHERE id = $1");
            let row = self.row_by_id("reading an execution", &sql, &id.0).await?;
            row.map(|row| execution_from(&row)).transpose()
        })
    }

    fn find_executions(&self, query: ExecutionQuery) -> BoxFuture<'_, Result<Vec<Execution>>> {
        Box::pin(async move {
            const WHAT: &str = "reading executions";
            let client = self.client(WHAT).await?;
            let status = query.status.map(ExecutionStatus::as_str);
            let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
            let sql = executions_sql(query.job_id.is_some(), query.status);
            let statement = client
                .prepare_cached(&sql)
                .await
                .map_err(failure::while_(WHAT))?;
            let rows = match (query.job_id, status) {
                (Some(job_id), Some(status)) => {
                    client
                        .query(&statement, &[&job_id.0, &status, &limit])
                        .await
                }
                (Some(job_id), None) => client.query(&statement, &[&job_id.0, &limit]).await,
                (None, Some(status)) => client.query(&statement, &[&status, &limit]).await,
                (None, None) => client.query(&statement, &[&limit]).await,
            }
            .map_err(failure::while_(WHAT))?;
            rows.iter().map(execution_from).collect()
        })
    }
}

impl RetentionStore for PostgresStore {
    fn prune(&self, policy: RetentionPolicy, now: Timestamp) -> BoxFuture<'_, Result<u64>> {
        prune::prune(self, policy, now)
    }
}

impl RecoveryStore for PostgresStore {
    fn unfinished_executions(&self, owner: &str) -> BoxFuture<'_, Result<Vec<ClaimedTick>>> {
        let owner = owner.to_owned();
        Box::pin(async move {
            const WHAT: &str = "reading unfinished executions";
            let client = self.client(WHAT).await?;
            let execution_columns = prefixed_execution_columns();
            // `e.status IN (...)` repeats the condition of `job_executions_unfinished`.
            let sql = format!(
                "SELECT {execution_columns}, {} FROM job_executions e JOIN jobs j ON j.id = e.job_id \
                 WHERE e.status IN ('PENDING', 'RUNNING') AND e.claimed_by = $1 ORDER BY e.scheduled_time, e.id",
                job_columns_of("j")
            );
            let statement = client
                .prepare_cached(&sql)
                .await
                .map_err(failure::while_(WHAT))?;
            let rows = client
                .query(&statement, &[&owner])
                .await
                .map_err(failure::while_(WHAT))?;
            claimed_ticks(&rows)
        })
    }

    fn renew_leases(
        &self,
        owner: &str,
        ids: Vec<ExecutionId>,
        lease_until: Timestamp,
    ) -> BoxFuture<'_, Result<Vec<ExecutionId>>> {
        let owner = owner.to_owned();
        Box::pin(async move {
            const WHAT: &str = "renewing leases";
            let client = self.client(WHAT).await?;
            let ids: Vec<Uuid> = ids.into_iter().map(|id| id.0).collect();
            // The row locks of the update serialise it with a takeover: whichever comes second
            // sees the other's owner or lease, re-checked on the row, and leaves it alone.
            let statement = client
                .prepare_cached(
                    "UPDATE job_executions SET lease_expires_at = $1 \
                     WHERE id = ANY($2) AND claimed_by = $3 AND status IN ('PENDING', 'RUNNING') \
                     RETURNING id",
                )
                .await
                .map_err(failure::while_(WHAT))?;
            let rows = client
                .query(&statement, &[&millis(lease_until), &ids, &owner])
                .await
                .map_err(failure::while_(WHAT))?;
            Ok(rows.iter().map(|row| ExecutionId(row.get(0))).collect())
        })
    }

    fn take_over(&self, request: TakeOverRequest) -> BoxFuture<'_, Result<Vec<ClaimedTick>>> {
        Box::pin(async move {
            const WHAT: &str = "taking over executions";
            let client = self.client(WHAT).await?;
            // Stopped nodes first, from the small nodes table: when every node is live, which
            // is the usual case, the executions are not read at all.
            let stopped = client
                .prepare_cached(
                    "SELECT node_id FROM scheduler_nodes WHERE node_id <> $1 AND last_heartbeat < $2",
                )
                .await
                .map_err(failure::while_(WHAT))?;
            let stopped: Vec<String> = client
                .query(&stopped, &[&request.owner, &millis(request.stale_before)])
                .await
                .map_err(failure::while_(WHAT))?
                .iter()
                .map(|row| row.get(0))
                .collect();
            if stopped.is_empty() {
                return Ok(Vec::new());
            }
            // `SKIP LOCKED` splits the executions between nodes taking over at once; the lease
            // condition is re-checked on each locked row, so an execution whose lease its node
            // renewed meanwhile ([`RecoveryStore::renew_leases`]) stays with it.
            let sql = format!(
                "WITH taken AS ( \
                   SELECT id FROM job_executions \
                   WHERE claimed_by = ANY($1) AND status IN ('PENDING', 'RUNNING') \
                     AND (lease_expires_at IS NULL OR lease_expires_at < $2) \
                   ORDER BY scheduled_time, id LIMIT $3 FOR UPDATE SKIP LOCKED \
                 ), moved AS ( \
                   UPDATE job_executions e SET claimed_by = $4, lease_expires_at = $5 \
                   FROM taken WHERE e.id = taken.id RETURNING e.* \
                 ) \
                 SELECT {}, {} FROM moved e JOIN jobs j ON j.id = e.job_id \
                 ORDER BY e.scheduled_time, e.id",
                prefixed_execution_columns(),
                job_columns_of("j")
            );
            let statement = client
                .prepare_cached(&sql)
                .await
                .map_err(failure::while_(WHAT))?;
            let limit = i64::try_from(request.limit).unwrap_or(i64::MAX);
            let rows = client
                .query(
                    &statement,
                    &[
                        &stopped,
                        &millis(request.now),
                        &limit,
                        &request.owner,
                        &millis(request.lease_until),
                    ],
                )
                .await
                .map_err(failure::while_(WHAT))?;
            claimed_ticks(&rows)
        })
    }
}

/// Rows of an execution's columns followed by its job's, as executions with their jobs.
fn claimed_ticks(rows: &[tokio_postgres::Row]) -> Result<Vec<ClaimedTick>> {
    rows.iter()
        .map(|row| {
            Ok(ClaimedTick {
                execution: execution_from(row)?,
                job: Arc::new(job_from(row, EXECUTION_COLUMN_COUNT)?),
            })
        })
        .collect()
}

/// The listing of executions, newest tick first, for a job or across jobs, in a state or in
/// any; the parameters are the job id (if any), the state (if any) and the limit, in that
/// order. One job's read backwards through the unique (job, tick) index; the rare final states
/// across jobs through their partial index; the rest through the tick index.
fn executions_sql(of_job: bool, status: Option<ExecutionStatus>) -> String {
    let mut conditions = Vec::new();
    let mut parameter = 0;
    let mut next = || {
        parameter += 1;
        format!("${parameter}")
    };
    if of_job {
        conditions.push(format!("job_id = {}", next()));
    }
    if let Some(status) = status {
        conditions.push(format!("status = {}", next()));
        let exceptional = matches!(
            status,
            ExecutionStatus::Failed | ExecutionStatus::Abandoned | ExecutionStatus::Skipped
        );
        if exceptional && !of_job {
            conditions.push(EXCEPTIONAL_STATES.to_owned());
        }
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    format!(
        "SELECT {EXECUTION_COLUMNS} FROM job_executions {filter} ORDER BY scheduled_time DESC, id DESC LIMIT {}",
        next()
    )
}

/// An execution, unless its job has one at its tick (nothing is inserted then).
const INSERT_EXECUTION: &str = "INSERT INTO job_executions (id, job_id, scheduled_time, executed_time, status, \
     http_status, duration, error_message, finished_time, trigger, claimed_by, attempts, lease_expires_at, \
     redeliveries) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (job_id, scheduled_time) DO NOTHING";

/// A job's watermark moved forward to one claimed in memory, if the job is at the version the
/// claims were planned at.
const ADVANCE_BUFFERED_WATERMARK: &str = "UPDATE jobs SET next_fire_at = $3 WHERE id = $1 AND version = $2 \
     AND next_fire_at IS NOT NULL AND ($3::bigint IS NULL OR next_fire_at < $3)";

/// Inserts `execution` with [`INSERT_EXECUTION`] (prepared as `statement`); the rows inserted:
/// 0 when its job has an execution at that tick already.
async fn insert_execution_row(
    client: &impl GenericClient,
    statement: &Statement,
    execution: &Execution,
) -> std::result::Result<u64, tokio_postgres::Error> {
    client
        .execute(
            statement,
            &[
                &execution.id.0,
                &execution.job_id.0,
                &millis(execution.scheduled_at),
                &execution.executed_at.map(millis),
                &execution.status.as_str(),
                &execution.http_status.map(i64::from),
                &execution.duration.map(duration_millis),
                &execution.error,
                &execution.finished_at.map(millis),
                &execution.trigger.as_str(),
                &execution.claimed_by,
                &i64::from(execution.attempts),
                &execution.lease_expires_at.map(millis),
                &i64::from(execution.redeliveries),
            ],
        )
        .await
}

/// Results, one per row of the arrays; executions that no longer exist match no row.
const UPDATE_EXECUTIONS: &str = "UPDATE job_executions e SET status = u.status, executed_time = u.executed_time, \
     finished_time = u.finished_time, http_status = u.http_status, duration = u.duration, \
     error_message = u.error_message, attempts = u.attempts, redeliveries = u.redeliveries \
     FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[], \
     $8::bigint[], $9::bigint[]) AS u (id, status, executed_time, finished_time, http_status, duration, \
     error_message, attempts, redeliveries) \
     WHERE e.id = u.id";
