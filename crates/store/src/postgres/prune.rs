//! Retention: [`RetentionStore::prune`](scheduler_core::RetentionStore::prune) as a series of
//! short statements of at most `prune_batch` deletions each, by age through the tick index
//! and by count a page of jobs at a time, so that claims and results never wait long behind it.

use scheduler_core::{BoxFuture, Result, RetentionPolicy, Timestamp};
use uuid::Uuid;

use super::{PostgresStore, failure};
use crate::codec::{duration_millis, millis};

/// How many jobs one round of retention by count ranks the executions of.
const JOBS_PER_ROUND: i64 = 256;

/// Deletes the finished executions `policy` does not keep, a round per statement; returns how
/// many it deleted.
pub(super) fn prune(
    store: &PostgresStore,
    policy: RetentionPolicy,
    now: Timestamp,
) -> BoxFuture<'_, Result<u64>> {
    Box::pin(async move {
        let mut deleted = 0;
        if let Some(max_age) = policy.max_age {
            let cutoff = millis(now).saturating_sub(duration_millis(max_age));
            deleted += prune_older_than(store, cutoff).await?;
        }
        if let Some(max_per_job) = policy.max_per_job {
            let keep = i64::try_from(max_per_job).unwrap_or(i64::MAX);
            deleted += prune_beyond_per_job(store, keep).await?;
        }
        Ok(deleted)
    })
}

/// Deletes finished executions whose tick is before `cutoff`.
async fn prune_older_than(store: &PostgresStore, cutoff: i64) -> Result<u64> {
    const WHAT: &str = "pruning old executions";
    let batch = i64::try_from(store.prune_batch).unwrap_or(i64::MAX);
    let mut deleted = 0;
    loop {
        // A connection per round, so that a long prune holds none of the pool's between them.
        let client = store.client(WHAT).await?;
        let round = client
            .execute(PRUNE_OLDER_THAN, &[&cutoff, &batch])
            .await
            .map_err(failure::while_(WHAT))?;
        deleted += round;
        if (round as i64) < batch {
            return Ok(deleted);
        }
    }
}

/// Deletes the finished executions beyond each job's newest `keep` finished ones, a page of
/// jobs at a time in id order.
async fn prune_beyond_per_job(store: &PostgresStore, keep: i64) -> Result<u64> {
    const WHAT: &str = "pruning executions beyond the per-job limit";
    let batch = i64::try_from(store.prune_batch).unwrap_or(i64::MAX);
    let mut deleted = 0;
    let mut after: Option<Uuid> = None;
    loop {
        let client = store.client(WHAT).await?;
        let jobs: Vec<Uuid> = client
            .query(
                "SELECT id FROM jobs WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
                &[&after, &JOBS_PER_ROUND],
            )
            .await
            .map_err(failure::while_(WHAT))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let Some(last) = jobs.last().copied() else {
            return Ok(deleted);
        };
        loop {
            let round = client
                .execute(PRUNE_BEYOND_PER_JOB, &[&jobs, &keep, &batch])
                .await
                .map_err(failure::while_(WHAT))?;
            deleted += round;
            if (round as i64) < batch {
                break;
            }
        }
        if (jobs.len() as i64) < JOBS_PER_ROUND {
            return Ok(deleted);
        }
        after = Some(last);
    }
}

/// At most `$2` finished executions with a tick before `$1`, through the tick index.
const PRUNE_OLDER_THAN: &str = "DELETE FROM job_executions WHERE id IN (SELECT id FROM job_executions \
     WHERE scheduled_time < $1 AND status NOT IN ('PENDING', 'RUNNING') LIMIT $2)";

/// At most `$3` finished executions of the jobs `$1` beyond each one's newest `$2` finished
/// ones; each job's executions are read through the (job, tick) index.
const PRUNE_BEYOND_PER_JOB: &str = "DELETE FROM job_executions WHERE id IN (SELECT id FROM (\
     SELECT id, row_number() OVER (PARTITION BY job_id ORDER BY scheduled_time DESC) AS newest \
     FROM job_executions WHERE job_id = ANY($1) AND status NOT IN ('PENDING', 'RUNNING')) AS ranked \
     WHERE newest > $2 LIMIT $3)";
