//! Rows to domain values and back. Timestamps are stored as integer milliseconds since the
//! Unix epoch (as the original schema did), durations as integer milliseconds.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::Row;
use rusqlite::types::{FromSqlError, Type};
use scheduler_core::{
    DeliveryType, Execution, ExecutionId, ExecutionStatus, ExecutionTrigger, HttpMethod, Job,
    JobId, JobSpec, MisfirePolicy, OverlapPolicy, RetryPolicy, Schedule, TimeZone, Timestamp,
};
use uuid::Uuid;

/// The job columns, in the order [`job_from_row`] reads them.
pub(crate) const JOB_COLUMNS: &str = "id, schedule, api, type, created_at, updated_at, active, time_zone, method, \
     headers, body, attempt_timeout_ms, retry_max_attempts, retry_initial_backoff_ms, retry_max_backoff_ms, \
     retry_multiplier, retry_jitter, misfire_policy, misfire_max, overlap_policy, next_fire_at, version, name";

/// Where `next_fire_at` is in [`JOB_COLUMNS`].
const NEXT_FIRE_AT_COLUMN: usize = 20;

/// The execution columns, in the order [`execution_from_row`] reads them.
pub(crate) const EXECUTION_COLUMNS: &str = "id, job_id, scheduled_time, executed_time, status, http_status, duration, \
     error_message, finished_time, trigger, claimed_by, attempts, lease_expires_at";

/// How many columns [`EXECUTION_COLUMNS`] names: a join reads its other columns after these.
pub(crate) const EXECUTION_COLUMN_COUNT: usize = 13;

/// The job columns qualified with the table alias `j`, for joins.
pub(crate) fn job_columns_of(alias: &str) -> String {
    JOB_COLUMNS
        .split(", ")
        .map(|column| format!("{alias}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The values to bind for a job, in [`JOB_COLUMNS`] order (`?1` .. `?23`).
pub(crate) struct JobRow {
    pub(crate) id: String,
    pub(crate) schedule: String,
    pub(crate) api: String,
    pub(crate) delivery: &'static str,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) active: bool,
    pub(crate) time_zone: Option<String>,
    pub(crate) method: &'static str,
    pub(crate) headers: String,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) attempt_timeout_ms: i64,
    pub(crate) retry_max_attempts: i64,
    pub(crate) retry_initial_backoff_ms: i64,
    pub(crate) retry_max_backoff_ms: i64,
    pub(crate) retry_multiplier: f64,
    pub(crate) retry_jitter: f64,
    pub(crate) misfire_policy: &'static str,
    pub(crate) misfire_max: i64,
    pub(crate) overlap_policy: &'static str,
    pub(crate) next_fire_at: Option<i64>,
    pub(crate) version: i64,
    pub(crate) name: Option<String>,
}

impl JobRow {
    /// The row of a job. Fails only for a time zone that has neither an IANA name nor a fixed
    /// offset (a POSIX rule string), which this store cannot keep.
    pub(crate) fn new(job: &Job) -> Result<JobRow, String> {
        let spec = &job.spec;
        let (misfire_policy, misfire_max) = match spec.misfire {
            MisfirePolicy::FireOnceNow => ("FIRE_ONCE_NOW", 0),
            MisfirePolicy::SkipToNext => ("SKIP_TO_NEXT", 0),
            MisfirePolicy::CatchUp { max } => ("CATCH_UP", i64::from(max)),
        };
        Ok(JobRow {
            id: job.id.0.to_string(),
            schedule: spec.schedule.to_string(),
            api: spec.target_url.clone(),
            delivery: spec.delivery.as_str(),
            created_at: millis(job.created_at),
            updated_at: millis(job.updated_at),
            active: !spec.paused,
            time_zone: spec.time_zone.as_ref().map(encode_time_zone).transpose()?,
            method: spec.method.as_str(),
            headers: encode_headers(&spec.headers),
            body: spec.body.as_ref().map(|body| body.to_vec()),
            attempt_timeout_ms: duration_millis(spec.attempt_timeout),
            retry_max_attempts: i64::from(spec.retry.max_attempts),
            retry_initial_backoff_ms: duration_millis(spec.retry.initial_backoff),
            retry_max_backoff_ms: duration_millis(spec.retry.max_backoff),
            retry_multiplier: spec.retry.multiplier,
            retry_jitter: spec.retry.jitter,
            misfire_policy,
            misfire_max,
            overlap_policy: match spec.overlap {
                OverlapPolicy::Allow => "ALLOW",
                OverlapPolicy::SkipWhileRunning => "SKIP_WHILE_RUNNING",
            },
            next_fire_at: job.next_fire_at.map(millis),
            version: job.version as i64,
            name: spec.name.clone(),
        })
    }

    /// The values in [`JOB_COLUMNS`] order.
    pub(crate) fn params(&self) -> [&dyn rusqlite::ToSql; 23] {
        [
            &self.id,
            &self.schedule,
            &self.api,
            &self.delivery,
            &self.created_at,
            &self.updated_at,
            &self.active,
            &self.time_zone,
            &self.method,
            &self.headers,
            &self.body,
            &self.attempt_timeout_ms,
            &self.retry_max_attempts,
            &self.retry_initial_backoff_ms,
            &self.retry_max_backoff_ms,
            &self.retry_multiplier,
            &self.retry_jitter,
            &self.misfire_policy,
            &self.misfire_max,
            &self.overlap_policy,
            &self.next_fire_at,
            &self.version,
            &self.name,
        ]
    }
}

/// Reads a job from columns `offset..offset + 23` in [`JOB_COLUMNS`] order.
pub(crate) fn job_from_row(row: &Row<'_>, offset: usize) -> rusqlite::Result<Job> {
    let column = |index: usize| offset + index;
    let schedule_text: String = row.get(column(1))?;
    let schedule =
        Schedule::parse(&schedule_text).map_err(|error| invalid(column(1), error.to_string()))?;
    let time_zone = match row.get::<_, Option<String>>(column(7))? {
        None => None,
        Some(name) => Some(decode_time_zone(&name).map_err(|reason| invalid(column(7), reason))?),
    };
    let delivery: String = row.get(column(3))?;
    let method: String = row.get(column(8))?;
    let headers: String = row.get(column(9))?;
    let body: Option<Vec<u8>> = row.get(column(10))?;
    let misfire: String = row.get(column(17))?;
    let overlap: String = row.get(column(19))?;
    let active: Option<bool> = row.get(column(6))?;
    let spec = JobSpec {
        schedule,
        time_zone,
        target_url: row.get(column(2))?,
        delivery: delivery
            .parse::<DeliveryType>()
            .map_err(|error| invalid(column(3), error.to_string()))?,
        method: method
            .parse::<HttpMethod>()
            .map_err(|error| invalid(column(8), error.to_string()))?,
        headers: decode_headers(&headers)
            .ok_or_else(|| invalid(column(9), "malformed headers".to_owned()))?,
        body: body.map(Arc::from),
        attempt_timeout: duration_from(row.get(column(11))?),
        retry: RetryPolicy {
            max_attempts: u32::try_from(row.get::<_, i64>(column(12))?)
                .unwrap_or(1)
                .max(1),
            initial_backoff: duration_from(row.get(column(13))?),
            max_backoff: duration_from(row.get(column(14))?),
            multiplier: row.get(column(15))?,
            jitter: row.get(column(16))?,
        },
        misfire: match misfire.as_str() {
            "FIRE_ONCE_NOW" => MisfirePolicy::FireOnceNow,
            "SKIP_TO_NEXT" => MisfirePolicy::SkipToNext,
            "CATCH_UP" => MisfirePolicy::CatchUp {
                max: u32::try_from(row.get::<_, i64>(column(18))?).unwrap_or(u32::MAX),
            },
            other => {
                return Err(invalid(
                    column(17),
                    format!("unknown misfire policy {other:?}"),
                ));
            }
        },
        overlap: match overlap.as_str() {
            "ALLOW" => OverlapPolicy::Allow,
            "SKIP_WHILE_RUNNING" => OverlapPolicy::SkipWhileRunning,
            other => {
                return Err(invalid(
                    column(19),
                    format!("unknown overlap policy {other:?}"),
                ));
            }
        },
        paused: !active.unwrap_or(true),
        name: row.get(column(22))?,
    };
    Ok(Job {
        id: JobId(uuid_from(row, column(0))?),
        spec,
        created_at: timestamp_from(row, column(4))?,
        updated_at: timestamp_from(row, column(5))?,
        next_fire_at: optional_timestamp_from(row, column(NEXT_FIRE_AT_COLUMN))?,
        version: u64::try_from(row.get::<_, i64>(column(21))?).unwrap_or(1),
    })
}

/// Reads an execution from columns `0..13` in [`EXECUTION_COLUMNS`] order.
pub(crate) fn execution_from_row(row: &Row<'_>) -> rusqlite::Result<Execution> {
    let status: String = row.get(4)?;
    let trigger: String = row.get(9)?;
    Ok(Execution {
        id: ExecutionId(uuid_from(row, 0)?),
        job_id: JobId(uuid_from(row, 1)?),
        scheduled_at: timestamp_from(row, 2)?,
        trigger: match trigger.as_str() {
            "MANUAL" => ExecutionTrigger::Manual,
            _ => ExecutionTrigger::Schedule,
        },
        claimed_by: row.get(10)?,
        lease_expires_at: optional_timestamp_from(row, 12)?,
        status: status
            .parse::<ExecutionStatus>()
            .map_err(|error| invalid(4, error.to_string()))?,
        executed_at: optional_timestamp_from(row, 3)?,
        finished_at: optional_timestamp_from(row, 8)?,
        http_status: row
            .get::<_, Option<i64>>(5)?
            .and_then(|status| u16::try_from(status).ok()),
        duration: row.get::<_, Option<i64>>(6)?.map(duration_from),
        error: row.get(7)?,
        attempts: u32::try_from(row.get::<_, i64>(11)?).unwrap_or(0),
    })
}

/// Milliseconds since the epoch, rounded down.
pub(crate) fn millis(t: Timestamp) -> i64 {
    let millis = t.as_millisecond();
    // `as_millisecond` truncates towards zero; round instants before 1970 down too.
    if t.as_nanosecond() < i128::from(millis) * 1_000_000 {
        millis - 1
    } else {
        millis
    }
}

pub(crate) fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn duration_from(millis: i64) -> Duration {
    Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

fn timestamp_from_millis(millis: i64) -> Result<Timestamp, String> {
    Timestamp::from_millisecond(millis)
        .map_err(|error| format!("timestamp {millis} out of range: {error}"))
}

fn timestamp_from(row: &Row<'_>, column: usize) -> rusqlite::Result<Timestamp> {
    timestamp_from_millis(row.get(column)?).map_err(|reason| invalid(column, reason))
}

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

fn invalid(column: usize, reason: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        Type::Text,
        Box::new(FromSqlError::Other(reason.into())),
    )
}

/// IANA zones by name; fixed offsets as `fixed:<seconds east of UTC>`.
fn encode_time_zone(zone: &TimeZone) -> Result<String, String> {
    if let Some(name) = zone.iana_name() {
        return Ok(name.to_owned());
    }
    match zone.to_fixed_offset() {
        Ok(offset) => Ok(format!("fixed:{}", offset.seconds())),
        Err(_) => Err("the time zone has neither an IANA name nor a fixed offset".to_owned()),
    }
}

fn decode_time_zone(text: &str) -> Result<TimeZone, String> {
    if let Some(seconds) = text.strip_prefix("fixed:") {
        let seconds: i32 = seconds
            .parse()
            .map_err(|_| format!("bad fixed offset {text:?}"))?;
        let offset = jiff::tz::Offset::from_seconds(seconds).map_err(|error| error.to_string())?;
        return Ok(TimeZone::fixed(offset));
    }
    TimeZone::get(text).map_err(|error| format!("unknown time zone {text:?}: {error}"))
}

/// Headers as netstrings, `<len>:<name><len>:<value>` per header, so that any byte sequence
/// round-trips without an escaping scheme.
pub(crate) fn encode_headers(headers: &[(String, String)]) -> String {
    let mut encoded = String::new();
    for (name, value) in headers {
        for part in [name, value] {
            encoded.push_str(&part.len().to_string());
            encoded.push(':');
            encoded.push_str(part);
        }
    }
    encoded
}

pub(crate) fn decode_headers(mut encoded: &str) -> Option<Vec<(String, String)>> {
    let mut parts = Vec::new();
    while !encoded.is_empty() {
        let (length, rest) = encoded.split_once(':')?;
        let length: usize = length.parse().ok()?;
        parts.push(rest.get(..length)?.to_owned());
        encoded = rest.get(length..)?;
    }
    if parts.len() % 2 != 0 {
        return None;
    }
    let mut headers = Vec::with_capacity(parts.len() / 2);
    let mut parts = parts.into_iter();
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        headers.push((name, value));
    }
    Some(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_column_is_where_the_column_list_has_it() {
        assert_eq!(
            JOB_COLUMNS.split(", ").nth(NEXT_FIRE_AT_COLUMN),
            Some("next_fire_at")
        );
    }

    #[test]
    fn headers_round_trip_whatever_they_contain() {
        let headers = vec![
            ("X-A".to_owned(), "1:2:3".to_owned()),
            ("Authorization".to_owned(), String::new()),
            ("X-Emoji".to_owned(), "caf\u{e9} \u{1f600}".to_owned()),
        ];
        assert_eq!(decode_headers(&encode_headers(&headers)), Some(headers));
        assert_eq!(decode_headers(""), Some(Vec::new()));
        assert_eq!(decode_headers("3:abc"), None);
        assert_eq!(decode_headers("9:abc"), None);
    }

    #[test]
    fn time_zones_round_trip() {
        for zone in [
            TimeZone::get("America/New_York").unwrap(),
            TimeZone::UTC,
            TimeZone::fixed(jiff::tz::offset(5)),
        ] {
            let encoded = encode_time_zone(&zone).unwrap();
            assert_eq!(decode_time_zone(&encoded).unwrap(), zone, "{encoded}");
        }
    }

    #[test]
    fn millis_round_down() {
        assert_eq!(millis(Timestamp::from_millisecond(1500).unwrap()), 1500);
        assert_eq!(millis(Timestamp::new(-1, -500_000).unwrap()), -1001);
    }
}
