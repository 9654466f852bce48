//! PostgreSQL rows to the shared column values of `crate::codec`: each column read as its SQL
//! type, the rest decoded as every store does.

use std::borrow::Cow;

use scheduler_core::{Error, Execution, Job, Result, StoreErrorKind};
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::codec::{EXECUTION_COLUMNS, ExecutionRow, InvalidColumn, JOB_COLUMNS, JobRow};

/// Reads a job from columns `offset..offset + 32` in `JOB_COLUMNS` order.
pub(super) fn job_from(row: &Row, offset: usize) -> Result<Job> {
    let column = |index: usize| offset + index;
    let get = Getter { row, what: "job" };
    let values = JobRow {
        id: get.at(column(0))?,
        schedule: get.at(column(1))?,
        api: get.at(column(2))?,
        delivery: Cow::Owned(get.at(column(3))?),
        created_at: get.at(column(4))?,
        updated_at: get.at(column(5))?,
        active: get.at(column(6))?,
        time_zone: get.at(column(7))?,
        method: Cow::Owned(get.at(column(8))?),
        headers: get.at(column(9))?,
        body: get.at(column(10))?,
        attempt_timeout_ms: get.at(column(11))?,
        retry_max_attempts: get.at(column(12))?,
        retry_initial_backoff_ms: get.at(column(13))?,
        retry_max_backoff_ms: get.at(column(14))?,
        retry_multiplier: get.at(column(15))?,
        retry_jitter: get.at(column(16))?,
        misfire_policy: Cow::Owned(get.at(column(17))?),
        misfire_max: get.at(column(18))?,
        overlap_policy: Cow::Owned(get.at(column(19))?),
        next_fire_at: get.at(column(20))?,
        version: get.at(column(21))?,
        name: get.at(column(22))?,
        signing_secret: get.at(column(23))?,
        run_at: get.at(column(24))?,
        start_at: get.at(column(25))?,
        end_at: get.at(column(26))?,
        delete_after_run: get.at(column(27))?,
        done_at: get.at(column(28))?,
        tick_jitter_ms: get.at(column(29))?,
        alert: get.at(column(30))?,
        previous_signing_secret: get.at(column(31))?,
    };
    values
        .into_job()
        .map_err(|error| undecodable("job", JOB_COLUMNS, error))
}

/// Reads an execution from columns `0..14` in `EXECUTION_COLUMNS` order.
pub(super) fn execution_from(row: &Row) -> Result<Execution> {
    let get = Getter {
        row,
        what: "execution",
    };
    let values = ExecutionRow {
        id: get.at(0)?,
        job_id: get.at(1)?,
        scheduled_time: get.at(2)?,
        executed_time: get.at(3)?,
        status: Cow::Owned(get.at(4)?),
        http_status: get.at(5)?,
        duration: get.at(6)?,
        error_message: get.at(7)?,
        finished_time: get.at(8)?,
        trigger: Cow::Owned(get.at(9)?),
        claimed_by: get.at(10)?,
        attempts: get.at(11)?,
        lease_expires_at: get.at(12)?,
        redeliveries: get.at(13)?,
    };
    values
        .into_execution()
        .map_err(|error| undecodable("execution", EXECUTION_COLUMNS, error))
}

/// Reads columns of one row, naming the row's kind in errors.
struct Getter<'a> {
    row: &'a Row,
    what: &'static str,
}

impl<'a> Getter<'a> {
    fn at<T: FromSql<'a>>(&self, index: usize) -> Result<T> {
        self.row.try_get(index).map_err(|error| {
            Error::store(
                StoreErrorKind::Permanent,
                format!("reading a stored {}: column {index}", self.what),
                error,
            )
        })
    }
}

fn undecodable(what: &str, columns: &str, error: InvalidColumn) -> Error {
    let column = columns.split(", ").nth(error.index).unwrap_or("?");
    Error::store(
        StoreErrorKind::Permanent,
        format!("decoding a stored {what}: column {column}"),
        error.reason,
    )
}
