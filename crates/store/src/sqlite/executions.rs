//! Executions: the capability traits over executions ([`ClaimStore`], [`HistoryStore`],
//! [`RetentionStore`], [`RecoveryStore`]), with inserts, results and the queries of the history;
//! claims and pruning are in modules of their own.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use scheduler_core::{
    BoxFuture, BufferedClaims, ClaimBatch, ClaimRequest, ClaimStore, ClaimedTick, Error, Execution,
    ExecutionId, ExecutionQuery, ExecutionStatus, ExecutionUpdate, HistoryStore, Job,
    RecoveryStore, Result, RetentionPolicy, RetentionStore, TakeOverRequest, Timestamp,
};

use super::rows::{execution_from_row, job_from_row};
use super::{SqliteStore, claims, prune, store_error};
use crate::codec::{
    EXECUTION_COLUMN_COUNT, EXECUTION_COLUMNS, duration_millis, job_columns_of, millis,
    prefixed_execution_columns,
};
use crate::history;
use crate::schema;

impl ClaimStore for SqliteStore {
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

    fn record_buffered_claims(&self, claims: BufferedClaims) -> BoxFuture<'_, Result<usize>> {
        claims::record_buffered_claims(self, claims)
    }

    fn insert_execution(&self, execution: Execution) -> BoxFuture<'_, Result<()>> {
        self.write(move |connection| {
            let exists = connection
                .prepare_cached("SELECT 1 FROM jobs WHERE id = ?1")
                .and_then(|mut statement| statement.exists([execution.job_id.0.to_string()]))
                .map_err(store_error("checking an execution's job"))?;
            if !exists {
                return Err(Error::JobNotFound(execution.job_id));
            }
            let announced = history::announced(connection)?;
            match insert_execution_row(connection, &execution, announced)
                .map_err(store_error("inserting an execution"))?
            {
                true => Ok(()),
                false => Err(Error::DuplicateExecution {
                    job_id: execution.job_id,
                    scheduled_at: execution.scheduled_at,
                }),
            }
        })
    }

    fn record_results(&self, updates: Vec<ExecutionUpdate>) -> BoxFuture<'_, Result<()>> {
        self.write_background(move |connection| {
            let mut statement = connection
                .prepare_cached(UPDATE_EXECUTION)
                .map_err(store_error("recording results"))?;
            for update in &updates {
                statement
                    .execute(params![
                        update.id.0.to_string(),
                        update.status.as_str(),
                        update.executed_at.map(millis),
                        update.finished_at.map(millis),
                        update.http_status,
                        update.duration.map(duration_millis),
                        update.error,
                        update.attempts,
                        update.attempts.saturating_sub(1),
                        update.redeliveries,
                    ])
                    .map_err(store_error("recording a result"))?;
            }
            drop(statement);
            for update in &updates {
                if let (Some(job_id), Some(finished_at), true) = (
                    update.last_tick_of,
                    update.finished_at,
                    update.status.is_finished(),
                ) {
                    finish_job(connection, &job_id.0.to_string(), millis(finished_at))
                        .map_err(store_error("marking a job done"))?;
                }
            }
            Ok(())
        })
    }
}

/// Ends the job `job_id` whose last tick's execution finished at `finished_at`, if its
/// schedule has no tick left, it is not done yet, and none of its executions is unfinished:
/// deletes it with its executions if it has `delete_after_run`, else marks it done.
pub(super) fn finish_job(
    connection: &Connection,
    job_id: &str,
    finished_at: i64,
) -> rusqlite::Result<()> {
    let delete_after_run: Option<bool> = connection
        .prepare_cached(
            "SELECT delete_after_run FROM jobs WHERE id = ?1 AND next_fire_at IS NULL \
             AND done_at IS NULL AND NOT EXISTS (SELECT 1 FROM job_executions \
             WHERE job_id = ?1 AND status IN ('PENDING', 'RUNNING'))",
        )?
        .query_row([job_id], |row| row.get(0))
        .optional()?;
    match delete_after_run {
        None => {}
        Some(true) => {
            history::delete_job_executions(connection, job_id)?;
            connection
                .prepare_cached("DELETE FROM jobs WHERE id = ?1")?
                .execute([job_id])?;
        }
        Some(false) => {
            connection
                .prepare_cached("UPDATE jobs SET done_at = ?2 WHERE id = ?1")?
                .execute(params![job_id, finished_at])?;
        }
    }
    Ok(())
}

impl HistoryStore for SqliteStore {
    fn get_execution(&self, id: ExecutionId) -> BoxFuture<'_, Result<Option<Execution>>> {
        self.read("reading an execution", move |connection| {
            let sql = format!("SELECT {EXECUTION_COLUMNS} FROM job_executions WHERE id = ?1");
            connection
                .prepare_cached(&sql)?
                .query_row([id.0.to_string()], execution_from_row)
                .optional()
        })
    }

    fn find_executions(&self, query: ExecutionQuery) -> BoxFuture<'_, Result<Vec<Execution>>> {
        self.read("reading executions", move |connection| {
            let status = query.status.map(|status| status.as_str());
            // Per job: the history index and the last window (`history`); across jobs: the
            // tick index.
            if let Some(job_id) = query.job_id {
                return history::job_executions(
                    connection,
                    &job_id.0.to_string(),
                    status,
                    query.limit,
                );
            }
            let sql = executions_across_jobs_sql(query.status);
            let mut statement = connection.prepare_cached(&sql)?;
            let rows =
                statement.query_map(params![status, query.limit as i64], execution_from_row)?;
            rows.collect()
        })
    }
}

impl RetentionStore for SqliteStore {
    fn prune(&self, policy: RetentionPolicy, now: Timestamp) -> BoxFuture<'_, Result<u64>> {
        prune::prune(self, policy, now)
    }
}

impl RecoveryStore for SqliteStore {
    fn unfinished_executions(&self, owner: &str) -> BoxFuture<'_, Result<Vec<ClaimedTick>>> {
        let owner = owner.to_owned();
        self.read("reading unfinished executions", move |connection| {
            let execution_columns = prefixed_execution_columns();
            let sql = format!(
                "SELECT {execution_columns}, {} FROM job_executions e JOIN jobs j ON j.id = e.job_id \
                 WHERE e.status IN ('PENDING', 'RUNNING') AND e.claimed_by = ?1 ORDER BY e.scheduled_time, e.id",
                job_columns_of("j")
            );
            let mut statement = connection.prepare_cached(&sql)?;
            let rows = statement.query_map([owner], claimed_tick_from_row)?;
            rows.collect()
        })
    }

    fn renew_leases(
        &self,
        owner: &str,
        ids: Vec<ExecutionId>,
        lease_until: Timestamp,
    ) -> BoxFuture<'_, Result<Vec<ExecutionId>>> {
        let owner = owner.to_owned();
        self.write(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "UPDATE job_executions SET lease_expires_at = ?1 \
                     WHERE id = ?2 AND claimed_by = ?3 AND status IN ('PENDING', 'RUNNING')",
                )
                .map_err(store_error("renewing leases"))?;
            let until = millis(lease_until);
            let mut held = Vec::with_capacity(ids.len());
            for id in ids {
                let renewed = statement
                    .execute(params![until, id.0.to_string(), owner])
                    .map_err(store_error("renewing leases"))?;
                if renewed == 1 {
                    held.push(id);
                }
            }
            Ok(held)
        })
    }

    fn take_over(&self, request: TakeOverRequest) -> BoxFuture<'_, Result<Vec<ClaimedTick>>> {
        self.write(move |connection| {
            const WHAT: &str = "taking over executions";
            let execution_columns = prefixed_execution_columns();
            let sql = format!(
                "SELECT {execution_columns}, {} FROM job_executions e JOIN jobs j ON j.id = e.job_id \
                 WHERE e.status IN ('PENDING', 'RUNNING') \
                   AND e.claimed_by IN (SELECT node_id FROM scheduler_nodes \
                                        WHERE node_id <> ?1 AND last_heartbeat < ?2) \
                   AND (e.lease_expires_at IS NULL OR e.lease_expires_at < ?3) \
                 ORDER BY e.scheduled_time, e.id LIMIT ?4",
                job_columns_of("j")
            );
            let limit = i64::try_from(request.limit).unwrap_or(i64::MAX);
            let mut taken: Vec<ClaimedTick> = connection
                .prepare_cached(&sql)
                .and_then(|mut statement| {
                    statement
                        .query_map(
                            params![
                                request.owner,
                                millis(request.stale_before),
                                millis(request.now),
                                limit
                            ],
                            claimed_tick_from_row,
                        )?
                        .collect()
                })
                .map_err(store_error(WHAT))?;
            let mut update = connection
                .prepare_cached(
                    "UPDATE job_executions SET claimed_by = ?1, lease_expires_at = ?2 WHERE id = ?3",
                )
                .map_err(store_error(WHAT))?;
            for tick in &mut taken {
                update
                    .execute(params![
                        request.owner,
                        millis(request.lease_until),
                        tick.execution.id.0.to_string()
                    ])
                    .map_err(store_error(WHAT))?;
                tick.execution.claimed_by.clone_from(&request.owner);
                tick.execution.lease_expires_at = Some(request.lease_until);
            }
            Ok(taken)
        })
    }
}

/// A row of an execution's columns followed by its job's, as the execution with its job.
fn claimed_tick_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ClaimedTick> {
    Ok(ClaimedTick {
        execution: execution_from_row(row)?,
        job: Arc::new(job_from_row(row, EXECUTION_COLUMN_COUNT)?),
    })
}

/// Inserts `execution` unless its job has one at its tick; one inserted below `announced` (read
/// from the history state in the same transaction) also enters the per-job history. `false` if
/// the job had one at that tick already.
pub(super) fn insert_execution_row(
    connection: &Connection,
    execution: &Execution,
    announced: i64,
) -> rusqlite::Result<bool> {
    let job_id = execution.job_id.0.to_string();
    let tick = millis(execution.scheduled_at);
    let inserted = connection
        .prepare_cached(INSERT_EXECUTION)?
        .execute(params![
            execution.id.0.to_string(),
            job_id,
            tick,
            execution.executed_at.map(millis),
            execution.status.as_str(),
            execution.http_status,
            execution.duration.map(duration_millis),
            execution.error,
            execution.finished_at.map(millis),
            execution.trigger.as_str(),
            execution.claimed_by,
            execution.attempts,
            execution.attempts.saturating_sub(1),
            execution.lease_expires_at.map(millis),
            execution.redeliveries,
        ])?;
    if inserted == 1 {
        history::enter_if_announced(connection, &job_id, tick, announced)?;
    }
    Ok(inserted == 1)
}

/// The listing of executions across jobs, newest tick first: the tick index, unless `status` is
/// one of the rare final states, which have an index of their own (schema version 5).
fn executions_across_jobs_sql(status: Option<ExecutionStatus>) -> String {
    let exceptional = match status {
        Some(ExecutionStatus::Failed | ExecutionStatus::Abandoned | ExecutionStatus::Skipped) => {
            true
        }
        Some(ExecutionStatus::Pending | ExecutionStatus::Running | ExecutionStatus::Succeeded)
        | None => false,
    };
    if exceptional {
        format!(
            "SELECT {EXECUTION_COLUMNS} FROM job_executions INDEXED BY idx_job_executions_exceptional \
             WHERE status = ?1 AND {} ORDER BY scheduled_time DESC, id DESC LIMIT ?2",
            schema::EXCEPTIONAL_STATES
        )
    } else {
        format!(
            "SELECT {EXECUTION_COLUMNS} FROM job_executions WHERE (?1 IS NULL OR status = ?1) \
             ORDER BY scheduled_time DESC, id DESC LIMIT ?2"
        )
    }
}

/// An execution, unless its job has one at its tick.
const INSERT_EXECUTION: &str = "INSERT INTO job_executions (id, job_id, scheduled_time, executed_time, status, \
     http_status, duration, error_message, finished_time, trigger, claimed_by, attempts, retry_count, \
     lease_expires_at, redeliveries) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) ON CONFLICT (scheduled_time, job_id) DO NOTHING";

/// An execution's result.
const UPDATE_EXECUTION: &str = "UPDATE job_executions SET status = ?2, executed_time = ?3, finished_time = ?4, \
     http_status = ?5, duration = ?6, error_message = ?7, attempts = ?8, retry_count = ?9, \
     redeliveries = ?10 WHERE id = ?1";

#[cfg(test)]
mod tests {
    use rusqlite::Connection;
    use scheduler_core::Timestamp;

    use super::super::query_plan as plan;
    use super::*;

    #[test]
    fn reads_of_one_jobs_executions_seek_the_tick_index_and_the_history_table() {
        // Above the watermark: one seek per distinct tick, then a point lookup of the job's
        // execution at it; nothing reads the window's executions one by one.
        for sql in [history::recent_sql(), history::delete_recent_sql()] {
            let recent = plan(&sql);
            assert!(
                recent
                    .iter()
                    .all(|step| !step.starts_with("SCAN job_executions")
                        && !step.starts_with("SCAN e")),
                "{recent:?}"
            );
            assert!(
                recent.iter().any(|step| step
                    == "SEARCH job_executions USING COVERING INDEX idx_job_executions_tick_job (scheduled_time>? AND scheduled_time<?)"),
                "{recent:?}"
            );
            assert!(
                recent.iter().any(|step| step.starts_with("SEARCH e USING")
                    && step.ends_with(
                        "INDEX idx_job_executions_tick_job (scheduled_time=? AND job_id=?)"
                    )),
                "{recent:?}"
            );
        }
        // Below it: the history table in order, then the execution at each entry.
        let older = plan(&history::older_sql());
        assert_eq!(older.len(), 2, "{older:?}");
        assert!(
            older[0].starts_with("SEARCH h USING PRIMARY KEY (job_id=? AND scheduled_time<?)"),
            "{older:?}"
        );
        assert!(
            older[1].contains(
                "USING INDEX idx_job_executions_tick_job (scheduled_time=? AND job_id=?)"
            ),
            "{older:?}"
        );
    }

    #[test]
    fn listings_of_the_rare_final_states_across_jobs_seek_their_own_index() {
        for status in [
            ExecutionStatus::Failed,
            ExecutionStatus::Abandoned,
            ExecutionStatus::Skipped,
        ] {
            // In order: no scan, and no sort.
            let steps = plan(&executions_across_jobs_sql(Some(status)));
            assert_eq!(
                steps,
                ["SEARCH job_executions USING INDEX idx_job_executions_exceptional (status=?)"],
                "{status:?}"
            );
        }
        // The others are at the newest ticks, or are all of them: the tick index, newest first.
        for status in [
            None,
            Some(ExecutionStatus::Pending),
            Some(ExecutionStatus::Running),
            Some(ExecutionStatus::Succeeded),
        ] {
            let steps = plan(&executions_across_jobs_sql(status));
            assert!(
                steps
                    .iter()
                    .any(|step| step
                        == "SCAN job_executions USING INDEX idx_job_executions_tick_job"),
                "{status:?}: {steps:?}"
            );
        }
    }

    #[test]
    fn no_index_of_the_executions_is_ordered_by_job() {
        let connection = {
            let mut connection = Connection::open_in_memory().expect("an in-memory database");
            schema::migrate(&mut connection, Timestamp::UNIX_EPOCH).expect("the migrations");
            connection
        };
        let first_columns: Vec<(String, String)> = connection
            .prepare(
                "SELECT il.name, (SELECT ii.name FROM pragma_index_info(il.name) ii WHERE ii.seqno = 0) \
                 FROM pragma_index_list('job_executions') il",
            )
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .expect("the indexes");
        assert!(
            first_columns.iter().all(|(_, column)| column != "job_id"),
            "{first_columns:?}"
        );
        assert!(
            first_columns
                .iter()
                .any(|(name, column)| name == "idx_job_executions_tick_job"
                    && column == "scheduled_time"),
            "{first_columns:?}"
        );
    }
}
