//! Retention: [`RetentionStore::prune`](scheduler_core::RetentionStore::prune) as a series of
//! small writes, by age through the tick index and by count job by job through the history
//! table.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use scheduler_core::{BoxFuture, Result, RetentionPolicy, StoreErrorKind, Timestamp};

use super::{SqliteStore, store_error};
use crate::codec::{duration_millis, millis};
use crate::failure;
use crate::history;
use crate::writer::Priority;

/// Deletes the finished executions `policy` does not keep, a round per write, so that claims and
/// results interleave with a long prune; returns how many it deleted.
pub(super) fn prune(
    store: &SqliteStore,
    policy: RetentionPolicy,
    now: Timestamp,
) -> BoxFuture<'_, Result<u64>> {
    let shared = Arc::clone(&store.shared);
    Box::pin(async move {
        let batch = shared.prune_batch as i64;
        let mut deleted = 0u64;
        // Each round is its own small write, so claims and results interleave with pruning.
        if let Some(max_age) = policy.max_age {
            let cutoff = millis(now) - duration_millis(max_age);
            loop {
                let round = shared
                    .writer
                    .write(Priority::Background, move |connection| {
                        connection
                            .prepare_cached(
                                "DELETE FROM job_executions WHERE rowid IN (SELECT rowid FROM job_executions \
                                 WHERE scheduled_time < ?1 AND status NOT IN ('PENDING', 'RUNNING') LIMIT ?2)",
                            )
                            .and_then(|mut statement| statement.execute(params![cutoff, batch]))
                            .map_err(store_error("pruning old executions"))
                    })
                    .await?;
                deleted += round as u64;
                if (round as i64) < batch {
                    break;
                }
            }
        }
        if let Some(max_per_job) = policy.max_per_job {
            let keep = i64::try_from(max_per_job).unwrap_or(i64::MAX);
            // Counting goes through the history table: first give every execution there
            // now its entry (with per-insert indexing, this finds nothing to do).
            let indexer = Arc::clone(&shared);
            let now = millis(now);
            tokio::task::spawn_blocking(move || {
                let before = history::everything_before(&indexer, now)?;
                history::index_before(&indexer, before)
            })
            .await
            .map_err(|error| {
                failure::machinery(
                    StoreErrorKind::Permanent,
                    "pruning: the indexing task failed",
                    error,
                )
            })??;
            let mut from = PruneFrom::Start;
            loop {
                let round = shared
                    .writer
                    .write(Priority::Background, move |connection| {
                        prune_per_job_round(connection, from, keep, batch)
                    })
                    .await?;
                deleted += round.deleted;
                match round.resume {
                    Some(next) => from = next,
                    None => break,
                }
            }
        }
        Ok(deleted)
    })
}

/// Where a round of per-job pruning starts: at the lowest job id, or at the job the previous
/// round stopped at.
#[derive(Debug)]
enum PruneFrom {
    Start,
    At(String),
}

/// What one round of per-job pruning did, and where the next one starts (`None`: done).
struct PruneRound {
    deleted: u64,
    resume: Option<PruneFrom>,
}

/// Per-job pruning's statements; each one seeks the history table, and the executions through
/// their tick index (a test checks the plans).
const PRUNE_NEXT_JOB_AFTER: &str =
    "SELECT job_id FROM job_execution_history WHERE job_id > ?1 ORDER BY job_id LIMIT 1";
const PRUNE_NEXT_JOB_FROM: &str =
    "SELECT job_id FROM job_execution_history WHERE job_id >= ?1 ORDER BY job_id LIMIT 1";
const PRUNE_MORE_THAN_KEPT: &str = "SELECT 1 FROM job_execution_history WHERE job_id = ?1 \
     ORDER BY scheduled_time DESC LIMIT 1 OFFSET ?2";
const PRUNE_CUT_OFF: &str = "SELECT h.scheduled_time FROM job_execution_history h CROSS JOIN job_executions e \
     ON e.scheduled_time = h.scheduled_time AND e.job_id = h.job_id \
     WHERE h.job_id = ?1 AND e.status NOT IN ('PENDING', 'RUNNING') \
     ORDER BY h.scheduled_time DESC LIMIT 1 OFFSET ?2";
const PRUNE_UP_TO: &str = "DELETE FROM job_executions WHERE rowid IN (SELECT e.rowid FROM job_execution_history h \
     CROSS JOIN job_executions e ON e.scheduled_time = h.scheduled_time AND e.job_id = h.job_id \
     WHERE h.job_id = ?1 AND h.scheduled_time <= ?2 AND e.status NOT IN ('PENDING', 'RUNNING') LIMIT ?3)";

/// One write's share of retention by count: job after job in id order from `from`, deletes the
/// finished executions beyond each job's newest `keep`.
///
/// Runs after an indexing round that took in every execution present, so the history table
/// holds them all. Each job costs a few index seeks: a job with at most `keep` executions of
/// any status is passed over on its history entries alone, and otherwise the cut-off is the
/// tick of its `keep + 1`-th newest finished execution. A round stops after `batch` deletions or
/// after examining about `16 * batch` executions, so one write never holds the writer long and
/// the whole prune reads each job's newest executions once, not the table once per round.
fn prune_per_job_round(
    connection: &Connection,
    from: PruneFrom,
    keep: i64,
    batch: i64,
) -> Result<PruneRound> {
    const WHAT: &str = "pruning executions beyond the per-job limit";
    let next_job = |sql: &str, key: &str| -> Result<Option<String>> {
        connection
            .prepare_cached(sql)
            .and_then(|mut statement| statement.query_row([key], |row| row.get(0)).optional())
            .map_err(store_error(WHAT))
    };
    let mut job = match &from {
        PruneFrom::Start => next_job(PRUNE_NEXT_JOB_FROM, "")?,
        PruneFrom::At(job) => next_job(PRUNE_NEXT_JOB_FROM, job)?,
    };
    let mut deleted: i64 = 0;
    let mut examined: i64 = 0;
    while let Some(id) = job {
        if deleted >= batch || examined >= batch.saturating_mul(16) {
            return Ok(PruneRound {
                deleted: deleted as u64,
                resume: Some(PruneFrom::At(id)),
            });
        }
        examined = examined.saturating_add(1);
        let over = connection
            .prepare_cached(PRUNE_MORE_THAN_KEPT)
            .and_then(|mut statement| statement.exists(params![id, keep]))
            .map_err(store_error(WHAT))?;
        if over {
            examined = examined.saturating_add(keep);
            let cut_off: Option<i64> = connection
                .prepare_cached(PRUNE_CUT_OFF)
                .and_then(|mut statement| {
                    statement
                        .query_row(params![id, keep], |row| row.get(0))
                        .optional()
                })
                .map_err(store_error(WHAT))?;
            if let Some(cut_off) = cut_off {
                let budget = batch - deleted;
                let gone = connection
                    .prepare_cached(PRUNE_UP_TO)
                    .and_then(|mut statement| statement.execute(params![id, cut_off, budget]))
                    .map_err(store_error(WHAT))? as i64;
                deleted += gone;
                examined = examined.saturating_add(gone);
                if gone == budget {
                    // The batch is spent; this job may have more beyond it.
                    return Ok(PruneRound {
                        deleted: deleted as u64,
                        resume: Some(PruneFrom::At(id)),
                    });
                }
            }
        }
        job = next_job(PRUNE_NEXT_JOB_AFTER, &id)?;
    }
    Ok(PruneRound {
        deleted: deleted as u64,
        resume: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::query_plan as plan;
    use super::*;

    #[test]
    fn per_job_pruning_seeks_the_history_table_and_never_scans_or_sorts() {
        for sql in [
            PRUNE_NEXT_JOB_AFTER,
            PRUNE_NEXT_JOB_FROM,
            PRUNE_MORE_THAN_KEPT,
            PRUNE_CUT_OFF,
            PRUNE_UP_TO,
        ] {
            let plan = plan(sql);
            assert!(
                plan.iter()
                    .any(|step| step.starts_with("SEARCH")
                        && step.contains("USING PRIMARY KEY (job_id")),
                "{sql}: {plan:?}"
            );
            assert!(
                plan.iter()
                    .all(|step| !step.starts_with("SCAN") && !step.contains("TEMP B-TREE")),
                "{sql}: {plan:?}"
            );
        }
    }
}
