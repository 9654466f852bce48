//! SQLite rows to the shared column values of `crate::codec` and back: SQLite keeps ids as
//! text, and reports a value that does not decode as a conversion failure of its column.

use std::borrow::Cow;

use rusqlite::Row;
use rusqlite::types::{FromSqlError, Type};
use scheduler_core::{Execution, Job, Timestamp};
use uuid::Uuid;

use crate::codec::{ExecutionRow, InvalidColumn, JOB_COLUMN_COUNT, JobRow, timestamp_from_millis};

/// The values to bind for `row`, in `JOB_COLUMNS` order (`?1` .. `?32`); `id` is the row's id
/// as text, which SQLite stores.
pub(crate) fn job_params<'a>(
    row: &'a JobRow,
    id: &'a dyn rusqlite::ToSql,
) -> [&'a dyn rusqlite::ToSql; JOB_COLUMN_COUNT] {
    [
        id,
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

/// Reads a job from columns `offset..offset + 32` in `JOB_COLUMNS` order.
pub(crate) fn job_from_row(row: &Row<'_>, offset: usize) -> rusqlite::Result<Job> {
    let column = |index: usize| offset + index;
    let values = JobRow {
        id: uuid_from(row, column(0))?,
        schedule: row.get(column(1))?,
        api: row.get(column(2))?,
        delivery: Cow::Owned(row.get(column(3))?),
        created_at: row.get(column(4))?,
        updated_at: row.get(column(5))?,
        active: row.get(column(6))?,
        time_zone: row.get(column(7))?,
        method: Cow::Owned(row.get(column(8))?),
        headers: row.get(column(9))?,
        body: row.get(column(10))?,
        attempt_timeout_ms: row.get(column(11))?,
        retry_max_attempts: row.get(column(12))?,
        retry_initial_backoff_ms: row.get(column(13))?,
        retry_max_backoff_ms: row.get(column(14))?,
        retry_multiplier: row.get(column(15))?,
        retry_jitter: row.get(column(16))?,
        misfire_policy: Cow::Owned(row.get(column(17))?),
        misfire_max: row.get(column(18))?,
        overlap_policy: Cow::Owned(row.get(column(19))?),
        next_fire_at: row.get(column(20))?,
        version: row.get(column(21))?,
        name: row.get(column(22))?,
        signing_secret: row.get(column(23))?,
        run_at: row.get(column(24))?,
        start_at: row.get(column(25))?,
        end_at: row.get(column(26))?,
        delete_after_run: row.get(column(27))?,
        done_at: row.get(column(28))?,
        tick_jitter_ms: row.get(column(29))?,
        alert: row.get(column(30))?,
        previous_signing_secret: row.get(column(31))?,
    };
    values.into_job().map_err(|error| invalid_at(offset, error))
}

/// Reads an execution from columns `0..14` in `EXECUTION_COLUMNS` order.
pub(crate) fn execution_from_row(row: &Row<'_>) -> rusqlite::Result<Execution> {
    let values = ExecutionRow {
        id: uuid_from(row, 0)?,
        job_id: uuid_from(row, 1)?,
        scheduled_time: row.get(2)?,
        executed_time: row.get(3)?,
        status: Cow::Owned(row.get(4)?),
        http_status: row.get(5)?,
        duration: row.get(6)?,
        error_message: row.get(7)?,
        finished_time: row.get(8)?,
        trigger: Cow::Owned(row.get(9)?),
        claimed_by: row.get(10)?,
        attempts: row.get(11)?,
        lease_expires_at: row.get(12)?,
        redeliveries: row.get(13)?,
    };
    values
        .into_execution()
        .map_err(|error| invalid_at(0, error))
}

/// The timestamp in `column`, if any.
pub(crate) fn optional_timestamp_from(
    row: &Row<'_>,
    column: usize,
) -> rusqlite::Result<Option<Timestamp>> {
    row.get::<_, Option<i64>>(column)?
        .map(timestamp_from_millis)
        .transpose()
        .map_err(|reason| invalid(column, reason))
}

fn uuid_from(row: &Row<'_>, column: usize) -> rusqlite::Result<Uuid> {
    let text: String = row.get(column)?;
    Uuid::parse_str(&text)
        .map_err(|error| invalid(column, format!("{text:?} is not a UUID: {error}")))
}

fn invalid_at(offset: usize, error: InvalidColumn) -> rusqlite::Error {
    invalid(offset + error.index, error.reason)
}

fn invalid(column: usize, reason: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        Type::Text,
        Box::new(FromSqlError::Other(reason.into())),
    )
}
