//! Jobs: the [`JobStore`] implementation and its SQL.

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use scheduler_core::{
    BoxFuture, DueJobsQuery, Error, Job, JobCounts, JobId, JobQuery, JobStore, NextFire, Result,
    Timestamp,
};

use super::rows::{job_from_row, job_params};
use super::{SqliteStore, store_error};
use crate::codec::{JOB_COLUMNS, JobRow};
use crate::failure;
use crate::history;

impl JobStore for SqliteStore {
    fn insert_job(&self, job: Job) -> BoxFuture<'_, Result<()>> {
        self.write(move |connection| insert_job_row(connection, &job))
    }

    fn get_job(&self, id: JobId) -> BoxFuture<'_, Result<Option<Job>>> {
        self.read("reading a job", move |connection| {
            let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1");
            connection
                .prepare_cached(&sql)?
                .query_row([id.0.to_string()], |row| job_from_row(row, 0))
                .optional()
        })
    }

    fn update_job(
        &self,
        mut job: Job,
        expected_version: u64,
        next_fire: NextFire,
    ) -> BoxFuture<'_, Result<Job>> {
        self.write(move |connection| {
            let stored: Option<(i64, i64, Option<i64>, Option<i64>)> = connection
                .prepare_cached(
                    "SELECT version, created_at, next_fire_at, done_at FROM jobs WHERE id = ?1",
                )
                .and_then(|mut statement| {
                    statement
                        .query_row([job.id.0.to_string()], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                        })
                        .optional()
                })
                .map_err(store_error("reading a job to update"))?;
            let Some((version, created_at, stored_next, stored_done)) = stored else {
                return Err(Error::JobNotFound(job.id));
            };
            if version as u64 != expected_version {
                return Err(Error::VersionConflict {
                    job_id: job.id,
                    expected: expected_version,
                    actual: version as u64,
                });
            }
            job.version = expected_version + 1;
            job.created_at = Timestamp::from_millisecond(created_at).unwrap_or(job.created_at);
            job.next_fire_at = match next_fire {
                NextFire::Keep => stored_next.and_then(|at| Timestamp::from_millisecond(at).ok()),
                NextFire::Set(at) => at,
            };
            job.done_at = match job.next_fire_at {
                Some(_) => None,
                None => stored_done.and_then(|at| Timestamp::from_millisecond(at).ok()),
            };
            let row = job_row(&job)?;
            let id = row.id.to_string();
            connection
                .prepare_cached(UPDATE_JOB)
                .and_then(|mut statement| statement.execute(&job_params(&row, &id)[..]))
                .map_err(store_error("updating a job"))?;
            Ok(job)
        })
    }

    fn delete_job(&self, id: JobId) -> BoxFuture<'_, Result<bool>> {
        self.write(move |connection| {
            let id = id.0.to_string();
            history::delete_job_executions(connection, &id)
                .map_err(store_error("deleting a job's executions"))?;
            let deleted = connection
                .prepare_cached("DELETE FROM jobs WHERE id = ?1")
                .and_then(|mut statement| statement.execute([&id]))
                .map_err(store_error("deleting a job"))?;
            Ok(deleted == 1)
        })
    }

    fn count_jobs(&self) -> BoxFuture<'_, Result<JobCounts>> {
        self.read("counting jobs", |connection| {
            // `idx_jobs_active` makes this an index scan, not a read of every job row.
            let (active, paused): (i64, i64) = connection
                .prepare_cached(
                    "SELECT COALESCE(SUM(active = 1), 0), COALESCE(SUM(active = 0), 0) FROM jobs",
                )?
                .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(JobCounts {
                active: active as u64,
                paused: paused as u64,
            })
        })
    }

    fn due_jobs(&self, query: DueJobsQuery) -> BoxFuture<'_, Result<Vec<Job>>> {
        super::claims::due_jobs(self, query)
    }

    fn find_jobs(&self, query: JobQuery) -> BoxFuture<'_, Result<Vec<Job>>> {
        self.read("listing jobs", move |connection| {
            let sql = format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE id > ?1 AND (?2 IS NULL OR active = NOT ?2) \
                 AND (?3 IS NULL OR type = ?3) ORDER BY id LIMIT ?4"
            );
            let after = query.after.map(|id| id.0.to_string()).unwrap_or_default();
            let delivery = query.delivery.map(|delivery| delivery.as_str());
            let mut statement = connection.prepare_cached(&sql)?;
            let jobs = statement.query_map(
                params![after, query.paused, delivery, query.limit as i64],
                |row| job_from_row(row, 0),
            )?;
            jobs.collect()
        })
    }
}

/// Inserts a new job's row; [`Error::JobExists`] if its id is taken.
pub(super) fn insert_job_row(connection: &Connection, job: &Job) -> Result<()> {
    let row = job_row(job)?;
    let id = row.id.to_string();
    match connection
        .prepare_cached(INSERT_JOB)
        .and_then(|mut statement| statement.execute(&job_params(&row, &id)[..]))
    {
        Ok(_) => Ok(()),
        Err(error) if error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
            Err(Error::JobExists(job.id))
        }
        Err(error) => Err(failure::sqlite("inserting a job", error)),
    }
}

fn job_row(job: &Job) -> Result<JobRow> {
    JobRow::new(job).map_err(|reason| Error::invalid(scheduler_core::JobField::TimeZone, reason))
}

/// A new job's row, with a new revision (schema version 6).
const INSERT_JOB: &str = "INSERT INTO jobs (id, schedule, api, type, created_at, updated_at, active, time_zone, method, \
     headers, body, attempt_timeout_ms, retry_max_attempts, retry_initial_backoff_ms, retry_max_backoff_ms, \
     retry_multiplier, retry_jitter, misfire_policy, misfire_max, overlap_policy, next_fire_at, version, name, \
     signing_secret, run_at, start_at, end_at, delete_after_run, done_at, tick_jitter_ms, alert, previous_signing_secret, \
     revision) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, \
     ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, random())";

/// A job's row rewritten, with a new revision.
const UPDATE_JOB: &str = "UPDATE jobs SET schedule = ?2, api = ?3, type = ?4, created_at = ?5, updated_at = ?6, \
     active = ?7, time_zone = ?8, method = ?9, headers = ?10, body = ?11, attempt_timeout_ms = ?12, \
     retry_max_attempts = ?13, retry_initial_backoff_ms = ?14, retry_max_backoff_ms = ?15, retry_multiplier = ?16, \
     retry_jitter = ?17, misfire_policy = ?18, misfire_max = ?19, overlap_policy = ?20, next_fire_at = ?21, \
     version = ?22, name = ?23, signing_secret = ?24, run_at = ?25, start_at = ?26, end_at = ?27, \
     delete_after_run = ?28, done_at = ?29, tick_jitter_ms = ?30, alert = ?31, \
     previous_signing_secret = ?32, revision = random() WHERE id = ?1";
