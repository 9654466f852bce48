//! Claims of due ticks: the claim transaction, and the insert of a new job with its first ticks.
//!
//! A claim locks the due jobs it takes with `FOR NO KEY UPDATE SKIP LOCKED`: nodes claiming at
//! once each take jobs the others have not locked, instead of queueing behind them, and the
//! lock still lets a trigger insert an execution of the job (its foreign key needs only a key
//! share). Executions are inserted a chunk of jobs at a time in one statement, and the
//! watermarks advanced in another.

use std::collections::HashSet;
use std::sync::Arc;

use deadpool_postgres::Transaction;
use scheduler_core::{
    BoxFuture, ClaimBatch, ClaimRequest, ClaimedTick, Execution, ExecutionTrigger, Job, Result,
    Timestamp, plan_claim, plan_new_job_claim,
};
use uuid::Uuid;

use super::jobs::{insert_job_row, insert_job_rows};
use super::rows::job_from;
use super::{PostgresStore, failure};
use crate::codec::{JOB_COLUMNS, millis};

/// The most due jobs one read of the claim locks and plans.
const CHUNK: usize = 512;

/// Claims the due ticks `request` asks for, in one transaction.
pub(super) fn claim_due(
    store: &PostgresStore,
    request: ClaimRequest,
) -> BoxFuture<'_, Result<ClaimBatch>> {
    Box::pin(async move {
        const WHAT: &str = "claiming due ticks";
        let mut client = store.client(WHAT).await?;
        let transaction = client.transaction().await.map_err(failure::while_(WHAT))?;
        let batch = claim(&transaction, &request, &store.channel).await?;
        transaction.commit().await.map_err(failure::while_(WHAT))?;
        Ok(batch)
    })
}

/// Inserts `job` with the pending executions of its first ticks, in one transaction.
pub(super) fn insert_job_and_claim(
    store: &PostgresStore,
    job: Job,
    request: ClaimRequest,
) -> BoxFuture<'_, Result<ClaimBatch>> {
    Box::pin(async move {
        const WHAT: &str = "inserting a job with its first ticks";
        let mut client = store.client(WHAT).await?;
        let transaction = client.transaction().await.map_err(failure::while_(WHAT))?;
        let plan = plan_new_job_claim(&job, &request);
        let job = Arc::new(Job {
            next_fire_at: plan.next_fire_at,
            ..job
        });
        insert_job_row(&*transaction, &job).await?;
        let mut pending = PendingTicks::default();
        pending.add(&job, plan.ticks, &request);
        let mut batch = ClaimBatch {
            misfired: plan.misfired,
            ..ClaimBatch::default()
        };
        pending.insert(&transaction, &request, &mut batch).await?;
        transaction.commit().await.map_err(failure::while_(WHAT))?;
        Ok(batch)
    })
}

/// Inserts `jobs`, each with the pending executions of its first ticks, in one transaction:
/// the job rows through one prepared statement, pipelined (see [`insert_job_rows`]), and the
/// executions of the whole batch in one multi-row insert. A failure (a taken id) rolls back
/// every job of the batch.
pub(super) fn insert_jobs_and_claim(
    store: &PostgresStore,
    jobs: Vec<Job>,
    request: ClaimRequest,
) -> BoxFuture<'_, Result<ClaimBatch>> {
    Box::pin(async move {
        const WHAT: &str = "inserting a batch of jobs with their first ticks";
        if jobs.is_empty() {
            return Ok(ClaimBatch::default());
        }
        let mut client = store.client(WHAT).await?;
        let transaction = client.transaction().await.map_err(failure::while_(WHAT))?;
        let mut batch = ClaimBatch::default();
        let mut pending = PendingTicks::default();
        let mut stored = Vec::with_capacity(jobs.len());
        for job in jobs {
            let plan = plan_new_job_claim(&job, &request);
            let job = Arc::new(Job {
                next_fire_at: plan.next_fire_at,
                ..job
            });
            batch.misfired += plan.misfired;
            pending.add(&job, plan.ticks, &request);
            stored.push(job);
        }
        insert_job_rows(&transaction, &stored).await?;
        pending.insert(&transaction, &request, &mut batch).await?;
        transaction.commit().await.map_err(failure::while_(WHAT))?;
        Ok(batch)
    })
}

/// The claim transaction's work: due jobs in watermark order, a chunk at a time, each planned
/// with [`plan_claim`]; then the chunk's executions inserted and its watermarks advanced. It
/// goes on while the batch has room and due jobs are left, so a job whose plan yields no new
/// tick does not end the batch early.
async fn claim(
    client: &Transaction<'_>,
    request: &ClaimRequest,
    channel: &str,
) -> Result<ClaimBatch> {
    const WHAT: &str = "claiming due ticks";
    let select_due = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE active AND next_fire_at IS NOT NULL AND next_fire_at <= $1 \
         ORDER BY next_fire_at LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED"
    );
    let select_due = client
        .prepare_cached(&select_due)
        .await
        .map_err(failure::while_(WHAT))?;
    let due_before = millis(request.due_before);
    let mut batch = ClaimBatch::default();
    while batch.ticks.len() < request.limit {
        let room = request.limit - batch.ticks.len();
        let chunk = room.min(CHUNK) as i64;
        let rows = client
            .query(&select_due, &[&due_before, &chunk])
            .await
            .map_err(failure::while_(WHAT))?;
        if rows.is_empty() {
            break;
        }
        let mut pending = PendingTicks::default();
        let mut watermarks = Watermarks::default();
        let mut ended = Vec::new();
        for row in &rows {
            let mut job = job_from(row, 0)?;
            let budget = room - pending.len();
            if budget == 0 {
                break;
            }
            let plan = plan_claim(&job, request, budget);
            batch.misfired += plan.misfired;
            if plan.ends_without_a_tick() {
                ended.push(job.id.0);
            }
            watermarks.add(job.id.0, job.next_fire_at, plan.next_fire_at);
            job.next_fire_at = plan.next_fire_at;
            pending.add(&Arc::new(job), plan.ticks, request);
        }
        if !watermarks.moved() {
            // Every job read keeps its watermark, so the same read would return them again.
            break;
        }
        pending.insert(client, request, &mut batch).await?;
        watermarks.advance(client).await?;
        end_jobs(client, &ended, millis(request.now), channel).await?;
    }
    Ok(batch)
}

/// Ends the jobs whose claims ended their schedules without a tick, as a last tick's result
/// would (see `record_results`): deleted with `delete_after_run`, else marked done at `now`.
async fn end_jobs(client: &Transaction<'_>, ended: &[Uuid], now: i64, channel: &str) -> Result<()> {
    const WHAT: &str = "marking a job done";
    for job_id in ended {
        client
            .query(super::executions::DELETE_ENDED_JOB, &[job_id, &channel])
            .await
            .map_err(failure::while_(WHAT))?;
        client
            .execute(super::executions::MARK_JOB_DONE, &[job_id, &now])
            .await
            .map_err(failure::while_(WHAT))?;
    }
    Ok(())
}

/// The executions a claim is about to insert, as the columns of one multi-row insert.
#[derive(Default)]
struct PendingTicks {
    ids: Vec<Uuid>,
    job_ids: Vec<Uuid>,
    ticks: Vec<i64>,
    claimed: Vec<ClaimedTick>,
}

impl PendingTicks {
    fn len(&self) -> usize {
        self.claimed.len()
    }

    /// A pending execution of `job` for each of `ticks`, owned by the claiming node.
    fn add(&mut self, job: &Arc<Job>, ticks: Vec<Timestamp>, request: &ClaimRequest) {
        for tick in ticks {
            let execution = Execution::pending(
                job.id,
                tick,
                ExecutionTrigger::Schedule,
                &request.owner,
                request.lease_until,
            );
            self.ids.push(execution.id.0);
            self.job_ids.push(job.id.0);
            self.ticks.push(millis(tick));
            self.claimed.push(ClaimedTick {
                execution,
                job: Arc::clone(job),
            });
        }
    }

    /// Inserts them in one statement and adds to `batch` those inserted: a tick that has an
    /// execution already is claimed already, and skipped.
    async fn insert(
        self,
        client: &Transaction<'_>,
        request: &ClaimRequest,
        batch: &mut ClaimBatch,
    ) -> Result<()> {
        if self.claimed.is_empty() {
            return Ok(());
        }
        const WHAT: &str = "inserting claimed executions";
        let lease_until = millis(request.lease_until);
        let statement = client
            .prepare_cached(INSERT_PENDING)
            .await
            .map_err(failure::while_(WHAT))?;
        let rows = client
            .query(
                &statement,
                &[
                    &self.ids,
                    &self.job_ids,
                    &self.ticks,
                    &request.owner,
                    &lease_until,
                ],
            )
            .await
            .map_err(failure::while_(WHAT))?;
        let inserted: HashSet<Uuid> = rows.iter().map(|row| row.get(0)).collect();
        batch.ticks.extend(
            self.claimed
                .into_iter()
                .filter(|tick| inserted.contains(&tick.execution.id.0)),
        );
        Ok(())
    }
}

/// The new watermarks of the jobs a chunk planned.
#[derive(Default)]
struct Watermarks {
    job_ids: Vec<Uuid>,
    next_fire_at: Vec<Option<i64>>,
    moved: bool,
}

impl Watermarks {
    fn add(&mut self, job_id: Uuid, old: Option<Timestamp>, new: Option<Timestamp>) {
        self.moved |= old != new;
        self.job_ids.push(job_id);
        self.next_fire_at.push(new.map(millis));
    }

    fn moved(&self) -> bool {
        self.moved
    }

    /// Writes them in one statement.
    async fn advance(self, client: &Transaction<'_>) -> Result<()> {
        const WHAT: &str = "advancing jobs' next fire times";
        let statement = client
            .prepare_cached(ADVANCE_WATERMARKS)
            .await
            .map_err(failure::while_(WHAT))?;
        client
            .execute(&statement, &[&self.job_ids, &self.next_fire_at])
            .await
            .map_err(failure::while_(WHAT))?;
        Ok(())
    }
}

/// Pending executions, one per row of the arrays; a tick already claimed is skipped. Returns
/// the ids inserted.
const INSERT_PENDING: &str = "INSERT INTO job_executions (id, job_id, scheduled_time, status, trigger, claimed_by, \
     attempts, lease_expires_at) \
     SELECT t.id, t.job_id, t.scheduled_time, 'PENDING', 'SCHEDULE', $4, 0, $5 \
     FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[]) AS t (id, job_id, scheduled_time) \
     ON CONFLICT (job_id, scheduled_time) DO NOTHING RETURNING id";

/// Jobs' new watermarks, one per row of the arrays.
const ADVANCE_WATERMARKS: &str = "UPDATE jobs SET next_fire_at = t.next_fire_at \
     FROM UNNEST($1::uuid[], $2::bigint[]) AS t (id, next_fire_at) WHERE jobs.id = t.id";
