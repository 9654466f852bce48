//! Jobs: the [`JobStore`] implementation and its SQL.

use scheduler_core::{
    BoxFuture, Error, Job, JobCounts, JobId, JobQuery, JobStore, NextFire, Result,
};
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::rows::job_from;
use super::{PostgresStore, failure};
use crate::codec::{JOB_COLUMNS, JobRow, timestamp_from_millis};

/// Announces a change of the job `$2` (its id as text) on the channel `$1`.
const NOTIFY_CHANGE: &str = "SELECT pg_notify($1, $2)";

impl JobStore for PostgresStore {
    fn insert_job(&self, job: Job) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let client = self.client("inserting a job").await?;
            insert_job_row(&**client, &job).await
        })
    }

    fn get_job(&self, id: JobId) -> BoxFuture<'_, Result<Option<Job>>> {
        Box::pin(async move {
            let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
            let row = self.row_by_id("reading a job", &sql, &id.0).await?;
            row.map(|row| job_from(&row, 0)).transpose()
        })
    }

    fn update_job(
        &self,
        mut job: Job,
        expected_version: u64,
        next_fire: NextFire,
    ) -> BoxFuture<'_, Result<Job>> {
        Box::pin(async move {
            const WHAT: &str = "updating a job";
            let mut client = self.client(WHAT).await?;
            let transaction = client.transaction().await.map_err(failure::while_(WHAT))?;
            let stored = transaction
                .query_opt(
                    "SELECT version, created_at, next_fire_at, done_at FROM jobs WHERE id = $1 FOR UPDATE",
                    &[&job.id.0],
                )
                .await
                .map_err(failure::while_(WHAT))?;
            let stored = stored.map(|row| -> (i64, i64, Option<i64>, Option<i64>) {
                (row.get(0), row.get(1), row.get(2), row.get(3))
            });
            let refusal = match stored {
                None => Some(Error::JobNotFound(job.id)),
                Some((version, ..)) if version as u64 != expected_version => {
                    Some(Error::VersionConflict {
                        job_id: job.id,
                        expected: expected_version,
                        actual: version as u64,
                    })
                }
                Some(_) => None,
            };
            let (Some((_, created_at, stored_next, stored_done)), None) =
                (stored, refusal.as_ref())
            else {
                // Ended now rather than when the connection is next used, so the row lock goes.
                transaction
                    .rollback()
                    .await
                    .map_err(failure::while_(WHAT))?;
                return Err(refusal.unwrap_or(Error::JobNotFound(job.id)));
            };
            job.version = expected_version + 1;
            job.created_at = timestamp_from_millis(created_at).unwrap_or(job.created_at);
            job.next_fire_at = match next_fire {
                NextFire::Keep => stored_next.and_then(|at| timestamp_from_millis(at).ok()),
                NextFire::Set(at) => at,
            };
            job.done_at = match job.next_fire_at {
                Some(_) => None,
                None => stored_done.and_then(|at| timestamp_from_millis(at).ok()),
            };
            let row = job_row(&job)?;
            transaction
                .execute(UPDATE_JOB, &job_params(&row))
                .await
                .map_err(failure::while_(WHAT))?;
            // Delivered to every node's listener when the change commits.
            transaction
                .execute(NOTIFY_CHANGE, &[&self.channel, &job.id.0.to_string()])
                .await
                .map_err(failure::while_(WHAT))?;
            transaction.commit().await.map_err(failure::while_(WHAT))?;
            Ok(job)
        })
    }

    fn delete_job(&self, id: JobId) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            const WHAT: &str = "deleting a job";
            let client = self.client(WHAT).await?;
            // Its executions go with it (`ON DELETE CASCADE`), in the same statement, which
            // announces the deletion (delivered to every node's listener when it commits).
            let deleted = client
                .query(
                    "WITH deleted AS (DELETE FROM jobs WHERE id = $1 RETURNING id) \
                     SELECT pg_notify($2, id::text) FROM deleted",
                    &[&id.0, &self.channel],
                )
                .await
                .map_err(failure::while_(WHAT))?;
            Ok(deleted.len() == 1)
        })
    }

    fn count_jobs(&self) -> BoxFuture<'_, Result<JobCounts>> {
        Box::pin(async move {
            const WHAT: &str = "counting jobs";
            let client = self.client(WHAT).await?;
            let row = client
                .query_one(
                    "SELECT count(*) FILTER (WHERE active), count(*) FILTER (WHERE NOT active) FROM jobs",
                    &[],
                )
                .await
                .map_err(failure::while_(WHAT))?;
            let (active, paused): (i64, i64) = (row.get(0), row.get(1));
            Ok(JobCounts {
                active: active as u64,
                paused: paused as u64,
            })
        })
    }

    fn find_jobs(&self, query: JobQuery) -> BoxFuture<'_, Result<Vec<Job>>> {
        Box::pin(async move {
            const WHAT: &str = "listing jobs";
            let client = self.client(WHAT).await?;
            let sql = format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1::uuid IS NULL OR id > $1) \
                 AND ($2::boolean IS NULL OR active = NOT $2) AND ($3::text IS NULL OR type = $3) \
                 ORDER BY id LIMIT $4"
            );
            let statement = client
                .prepare_cached(&sql)
                .await
                .map_err(failure::while_(WHAT))?;
            let after: Option<Uuid> = query.after.map(|id| id.0);
            let delivery = query.delivery.map(|delivery| delivery.as_str());
            let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
            let rows = client
                .query(&statement, &[&after, &query.paused, &delivery, &limit])
                .await
                .map_err(failure::while_(WHAT))?;
            rows.iter().map(|row| job_from(row, 0)).collect()
        })
    }
}

/// Inserts a new job's row; [`Error::JobExists`] if its id is taken.
pub(super) async fn insert_job_row(client: &impl GenericClient, job: &Job) -> Result<()> {
    let row = job_row(job)?;
    client
        .execute(INSERT_JOB, &job_params(&row))
        .await
        .map(|_| ())
        .map_err(|error| insert_error(job, error))
}

/// Inserts new jobs' rows in `transaction`, a chunk at a time: the statement is prepared once
/// and a chunk's inserts are sent together (tokio-postgres pipelines the queries polled at
/// once on one connection), so a chunk costs about one round trip. The first failure in the
/// jobs' order is returned ([`Error::JobExists`] for a taken id); the caller rolls back.
pub(super) async fn insert_job_rows(
    transaction: &deadpool_postgres::Transaction<'_>,
    jobs: &[std::sync::Arc<Job>],
) -> Result<()> {
    const WHAT: &str = "inserting jobs";
    /// Inserts in flight at once: enough to hide the round trips, few enough that each wake-up
    /// polls a handful.
    const PIPELINED: usize = 256;
    let statement = transaction
        .prepare_cached(INSERT_JOB)
        .await
        .map_err(failure::while_(WHAT))?;
    let rows = jobs
        .iter()
        .map(|job| job_row(job))
        .collect::<Result<Vec<JobRow>>>()?;
    for (jobs, rows) in jobs.chunks(PIPELINED).zip(rows.chunks(PIPELINED)) {
        let inserts = rows
            .iter()
            .map(|row| async { transaction.execute(&statement, &job_params(row)).await })
            .collect();
        for (job, result) in jobs.iter().zip(join_all(inserts).await) {
            result.map_err(|error| insert_error(job, error))?;
        }
    }
    Ok(())
}

/// Polls every future of `futures` until all are ready, and returns their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut left = futures.len();
    std::future::poll_fn(|context| {
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none()
                && let std::task::Poll::Ready(ready) = future.as_mut().poll(context)
            {
                *output = Some(ready);
                left -= 1;
            }
        }
        if left == 0 {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// A failed insert of `job`: [`Error::JobExists`] when its id is taken.
fn insert_error(job: &Job, error: tokio_postgres::Error) -> Error {
    if error
        .as_db_error()
        .is_some_and(|db| db.constraint() == Some("jobs_pkey"))
    {
        Error::JobExists(job.id)
    } else {
        failure::postgres("inserting a job", error)
    }
}

fn job_row(job: &Job) -> Result<JobRow> {
    JobRow::new(job).map_err(|reason| Error::invalid(scheduler_core::JobField::TimeZone, reason))
}

/// The values to bind for `row`, in `JOB_COLUMNS` order (`$1` .. `$32`).
fn job_params(row: &JobRow) -> [&(dyn ToSql + Sync); 32] {
    [
        &row.id,
        &row.schedule,
        &row.api,
        &row.delivery,
        &row.created_at,
        &row.updated_at,
        &row.active,
        &row.time_zone,
        &row.method,
        &row.headers,
        &row.body,
        &row.attempt_timeout_ms,
        &row.retry_max_attempts,
        &row.retry_initial_backoff_ms,
        &row.retry_max_backoff_ms,
        &row.retry_multiplier,
        &row.retry_jitter,
        &row.misfire_policy,
        &row.misfire_max,
        &row.overlap_policy,
        &row.next_fire_at,
        &row.version,
        &row.name,
        &row.signing_secret,
        &row.run_at,
        &row.start_at,
        &row.end_at,
        &row.delete_after_run,
        &row.done_at,
        &row.tick_jitter_ms,
        &row.alert,
        &row.previous_signing_secret,
    ]
}

/// A new job's row.
const INSERT_JOB: &str = "INSERT INTO jobs (id, schedule, api, type, created_at, updated_at, active, time_zone, method, \
     headers, body, attempt_timeout_ms, retry_max_attempts, retry_initial_backoff_ms, retry_max_backoff_ms, \
     retry_multiplier, retry_jitter, misfire_policy, misfire_max, overlap_policy, next_fire_at, version, name, \
     signing_secret, run_at, start_at, end_at, delete_after_run, done_at, tick_jitter_ms, alert, previous_signing_secret) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, \
     $24, $25, $26, $27, $28, $29, $30, $31, $32)";

/// A job's row rewritten.
const UPDATE_JOB: &str = "UPDATE jobs SET schedule = $2, api = $3, type = $4, created_at = $5, updated_at = $6, \
     active = $7, time_zone = $8, method = $9, headers = $10, body = $11, attempt_timeout_ms = $12, \
     retry_max_attempts = $13, retry_initial_backoff_ms = $14, retry_max_backoff_ms = $15, retry_multiplier = $16, \
     retry_jitter = $17, misfire_policy = $18, misfire_max = $19, overlap_policy = $20, next_fire_at = $21, \
     version = $22, name = $23, signing_secret = $24, run_at = $25, start_at = $26, end_at = $27, \
     delete_after_run = $28, done_at = $29, tick_jitter_ms = $30, alert = $31, \
     previous_signing_secret = $32 WHERE id = $1";
