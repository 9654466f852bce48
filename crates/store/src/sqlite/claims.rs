//! Claims of due ticks: the claim transaction, the insert of a new job with its first ticks, and
//! the read of due jobs through the claims' cache of decoded jobs (`job_cache`).

use std::sync::Arc;

use rusqlite::{Connection, params};
use scheduler_core::{
    BoxFuture, BufferedClaims, ClaimBatch, ClaimRequest, ClaimedTick, DueJobsQuery, Execution, Job,
    Result, Timestamp, plan_claim, plan_new_job_claim,
};

use super::executions::insert_execution_row;
use super::job_cache::{self, JobCache};
use super::jobs::insert_job_row;
use super::rows::{job_from_row, optional_timestamp_from};
use super::{SqliteStore, store_error};
use crate::codec::{JOB_COLUMNS, millis};
use crate::history;

/// Claims the due ticks `request` asks for, in one background write; see [`claim`].
pub(super) fn claim_due(
    store: &SqliteStore,
    request: ClaimRequest,
) -> BoxFuture<'_, Result<ClaimBatch>> {
    let cache = Arc::clone(&store.shared.job_cache);
    store.write_background(move |connection| {
        let mut cache = cache.lock().unwrap_or_else(|poisoned| {
            // A claim panicked while holding it: start again from nothing.
            let mut cache = poisoned.into_inner();
            cache.clear();
            cache
        });
        claim(connection, &request, &mut cache)
    })
}

/// Inserts `job` with the pending executions of its first ticks, in one write someone waits
/// for.
pub(super) fn insert_job_and_claim(
    store: &SqliteStore,
    job: Job,
    request: ClaimRequest,
) -> BoxFuture<'_, Result<ClaimBatch>> {
    store.write(move |connection| {
        let plan = plan_new_job_claim(&job, &request);
        let job = Arc::new(Job {
            next_fire_at: plan.next_fire_at,
            ..job
        });
        insert_job_row(connection, &job)?;
        let mut batch = ClaimBatch {
            misfired: plan.misfired,
            ..ClaimBatch::default()
        };
        let announced = history::announced(connection)?;
        insert_claimed(
            connection, &job, plan.ticks, &request, announced, &mut batch,
        )?;
        Ok(batch)
    })
}

/// Inserts `jobs`, each with the pending executions of its first ticks, in one write someone
/// waits for: the writer runs it in a savepoint of its own, so a failure (a taken id) rolls
/// back every job of the batch.
pub(super) fn insert_jobs_and_claim(
    store: &SqliteStore,
    jobs: Vec<Job>,
    request: ClaimRequest,
) -> BoxFuture<'_, Result<ClaimBatch>> {
    store.write(move |connection| {
        let announced = history::announced(connection)?;
        let mut batch = ClaimBatch::default();
        for job in jobs {
            let plan = plan_new_job_claim(&job, &request);
            let job = Arc::new(Job {
                next_fire_at: plan.next_fire_at,
                ..job
            });
            insert_job_row(connection, &job)?;
            batch.misfired += plan.misfired;
            insert_claimed(
                connection, &job, plan.ticks, &request, announced, &mut batch,
            )?;
        }
        Ok(batch)
    })
}

/// Reads the due jobs `query` asks for, in (watermark, id) order; see
/// [`JobStore::due_jobs`](scheduler_core::JobStore::due_jobs).
pub(super) fn due_jobs(
    store: &SqliteStore,
    query: DueJobsQuery,
) -> BoxFuture<'_, Result<Vec<Job>>> {
    store.read("reading due jobs", move |connection| {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs INDEXED BY idx_jobs_due WHERE active = 1 \
             AND next_fire_at IS NOT NULL AND next_fire_at <= ?1 \
             AND (?2 IS NULL OR next_fire_at > ?2 OR (next_fire_at = ?2 AND id > ?3)) \
             ORDER BY next_fire_at, id LIMIT ?4"
        );
        let (after_at, after_id) = match query.after {
            Some((at, id)) => (Some(millis(at)), id.0.to_string()),
            None => (None, String::new()),
        };
        let mut statement = connection.prepare_cached(&sql)?;
        let jobs = statement.query_map(
            params![
                millis(query.due_before),
                after_at,
                after_id,
                query.limit as i64
            ],
            |row| job_from_row(row, 0),
        )?;
        jobs.collect()
    })
}

/// Records what the engine claimed in memory during a store outage, in one write; see
/// [`ClaimStore::record_buffered_claims`](scheduler_core::ClaimStore::record_buffered_claims).
pub(super) fn record_buffered_claims(
    store: &SqliteStore,
    claims: BufferedClaims,
) -> BoxFuture<'_, Result<usize>> {
    store.write(move |connection| {
        let announced = history::announced(connection)?;
        let mut inserted = 0;
        for execution in &claims.executions {
            let job_exists = connection
                .prepare_cached("SELECT 1 FROM jobs WHERE id = ?1")
                .and_then(|mut statement| statement.exists([execution.job_id.0.to_string()]))
                .map_err(store_error("checking a buffered execution's job"))?;
            if job_exists
                && insert_execution_row(connection, execution, announced)
                    .map_err(store_error("inserting a buffered execution"))?
            {
                inserted += 1;
            }
        }
        for watermark in &claims.watermarks {
            connection
                .prepare_cached(ADVANCE_BUFFERED_WATERMARK)
                .and_then(|mut statement| {
                    statement.execute(params![
                        watermark.job_id.0.to_string(),
                        watermark.version as i64,
                        watermark.next_fire_at.map(millis)
                    ])
                })
                .map_err(store_error("advancing a buffered job's next fire time"))?;
        }
        Ok(inserted)
    })
}

/// A job's watermark moved forward to one claimed in memory, if the job is at the version the
/// claims were planned at (like a claim's own update, it keeps the revision: the spec is the
/// same).
const ADVANCE_BUFFERED_WATERMARK: &str = "UPDATE jobs SET next_fire_at = ?3 WHERE id = ?1 AND version = ?2 \
     AND next_fire_at IS NOT NULL AND (?3 IS NULL OR next_fire_at < ?3)";

/// Inserts a pending execution of `job` for each of `ticks`, owned by `owner`, and adds each
/// inserted one to `batch`; a tick that has an execution already is claimed already, and
/// skipped.
fn insert_claimed(
    connection: &Connection,
    job: &Arc<Job>,
    ticks: Vec<Timestamp>,
    request: &ClaimRequest,
    announced: i64,
    batch: &mut ClaimBatch,
) -> Result<()> {
    for tick in ticks {
        let execution = Execution::pending(
            job.id,
            tick,
            scheduler_core::ExecutionTrigger::Schedule,
            &request.owner,
            request.lease_until,
        );
        if insert_execution_row(connection, &execution, announced)
            .map_err(store_error("inserting a claimed execution"))?
        {
            batch.ticks.push(ClaimedTick {
                execution,
                job: Arc::clone(job),
            });
        }
    }
    Ok(())
}

/// The claim transaction's work: due jobs in watermark order, a chunk at a time, each planned
/// with [`plan_claim`], its new executions inserted and its watermark advanced. A due job's
/// spec comes from `cache` when it holds the job at its current revision, and is decoded from
/// its row otherwise (and kept, if it fires again soon).
fn claim(
    connection: &Connection,
    request: &ClaimRequest,
    cache: &mut JobCache,
) -> Result<ClaimBatch> {
    const CHUNK: usize = 256;
    let due_before = millis(request.due_before);
    let mut batch = ClaimBatch::default();
    let select_job = select_job_by_row_sql();
    let announced = history::announced(connection)?;
    while batch.ticks.len() < request.limit {
        let chunk = (request.limit - batch.ticks.len()).min(CHUNK);
        let due: Vec<(i64, i64, Option<Timestamp>)> = connection
            .prepare_cached(SELECT_DUE)
            .and_then(|mut statement| {
                statement
                    .query_map(params![due_before, chunk as i64], |row| {
                        Ok((row.get(0)?, row.get(1)?, optional_timestamp_from(row, 2)?))
                    })?
                    .collect()
            })
            .map_err(store_error("reading due jobs"))?;
        if due.is_empty() {
            break;
        }
        let due = due
            .into_iter()
            .map(|(row, revision, next_fire_at)| {
                due_job(connection, &select_job, cache, row, revision, next_fire_at)
            })
            .collect::<rusqlite::Result<Vec<DueJob>>>()
            .map_err(store_error("reading due jobs"))?;
        for DueJob {
            row,
            revision,
            mut job,
            kept,
        } in due
        {
            let budget = request.limit - batch.ticks.len();
            if budget == 0 {
                break;
            }
            let plan = plan_claim(&job, request, budget);
            batch.misfired += plan.misfired;
            let ended_without_a_tick = plan.ends_without_a_tick();
            job.next_fire_at = plan.next_fire_at;
            if !kept && job_cache::worth_keeping(plan.next_fire_at, request.now) {
                cache.insert(row, revision, job.clone());
            }
            let job = Arc::new(job);
            insert_claimed(connection, &job, plan.ticks, request, announced, &mut batch)?;
            connection
                .prepare_cached("UPDATE jobs SET next_fire_at = ?1 WHERE rowid = ?2")
                .and_then(|mut statement| {
                    statement.execute(params![plan.next_fire_at.map(millis), row])
                })
                .map_err(store_error("advancing a job's next fire time"))?;
            if ended_without_a_tick {
                super::executions::finish_job(
                    connection,
                    &job.id.0.to_string(),
                    millis(request.now),
                )
                .map_err(store_error("marking a job done"))?;
            }
        }
    }
    Ok(batch)
}

/// A due job, as of its row in the claim's read.
struct DueJob {
    /// Its row id in `jobs`.
    row: i64,
    revision: i64,
    /// With its watermark as stored.
    job: Job,
    /// Whether it came from the cache.
    kept: bool,
}

/// The due job at `row` (as read by [`SELECT_DUE`]): from `cache` when it holds the job at
/// `revision`, read with `select_job` otherwise.
fn due_job(
    connection: &Connection,
    select_job: &str,
    cache: &JobCache,
    row: i64,
    revision: i64,
    next_fire_at: Option<Timestamp>,
) -> rusqlite::Result<DueJob> {
    let (job, kept) = match cache.get(row, revision) {
        Some(kept) => {
            let mut job = kept.clone();
            job.next_fire_at = next_fire_at;
            (job, true)
        }
        None => {
            let job = connection
                .prepare_cached(select_job)?
                .query_row([row], |job| job_from_row(job, 0))?;
            (job, false)
        }
    };
    Ok(DueJob {
        row,
        revision,
        job,
        kept,
    })
}

/// The claim's read of due jobs, in watermark order: each one's row id, revision and watermark;
/// `?1` due before, `?2` the most rows. A job the claims' cache holds at that revision needs
/// nothing more; any other is read whole with [`select_job_by_row_sql`]. SQLite extracts every
/// column a statement returns as it steps, read or not, so this reads no more than the claim
/// needs of every due job (docs/perf-log/round-10.md).
///
/// `INDEXED BY`: without statistics, SQLite's planner prefers the equality on `idx_jobs_active`
/// and then sorts every active job, in every chunk of every claim (with a million jobs, a
/// million rows read and sorted to find a thousand due ones).
const SELECT_DUE: &str = "SELECT rowid, revision, next_fire_at FROM jobs INDEXED BY idx_jobs_due \
     WHERE active = 1 AND next_fire_at IS NOT NULL AND next_fire_at <= ?1 ORDER BY next_fire_at LIMIT ?2";

/// A due job the claims' cache does not hold at its revision, read whole by its row id.
fn select_job_by_row_sql() -> String {
    format!("SELECT {JOB_COLUMNS} FROM jobs WHERE rowid = ?1")
}

#[cfg(test)]
mod tests {
    use super::super::query_plan as plan;
    use super::*;

    #[test]
    fn the_claim_reads_due_jobs_through_the_due_index_without_sorting() {
        assert_eq!(
            plan(SELECT_DUE),
            ["SEARCH jobs USING INDEX idx_jobs_due (next_fire_at>? AND next_fire_at<?)"]
        );
        assert_eq!(
            plan(&select_job_by_row_sql()),
            ["SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)"]
        );
    }
}
