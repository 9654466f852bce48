//! Column values to domain values and back, shared by the stores: each store reads its row into
//! a [`JobRow`] or an [`ExecutionRow`] (owned column values) and this module does the rest, so
//! that SQLite and PostgreSQL agree on every encoding. Timestamps are integer milliseconds since
//! the Unix epoch (as the original schema had them), durations integer milliseconds, headers
//! netstrings, time zones IANA names or `fixed:<seconds>`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use scheduler_core::{
    DeliveryType, Execution, ExecutionId, ExecutionStatus, ExecutionTrigger, HttpMethod, Job,
    JobAlertSettings, JobId, JobSpec, MisfirePolicy, OverlapPolicy, RetryPolicy, Schedule, Secret,
    TimeZone, Timestamp, Timing,
};
use uuid::Uuid;

/// The job columns, in [`JobRow`]'s field order; both stores name them alike.
pub(crate) const JOB_COLUMNS: &str = "id, schedule, api, type, created_at, updated_at, active, time_zone, method, \
     headers, body, attempt_timeout_ms, retry_max_attempts, retry_initial_backoff_ms, retry_max_backoff_ms, \
     retry_multiplier, retry_jitter, misfire_policy, misfire_max, overlap_policy, next_fire_at, version, name, signing_secret, run_at, start_at, end_at, delete_after_run, done_at, \
     tick_jitter_ms, alert, previous_signing_secret";

/// How many columns [`JOB_COLUMNS`] names.
pub(crate) const JOB_COLUMN_COUNT: usize = 32;

/// Where `next_fire_at` is in [`JOB_COLUMNS`].
pub(crate) const NEXT_FIRE_AT_COLUMN: usize = 20;

/// The execution columns, in [`ExecutionRow`]'s field order.
pub(crate) const EXECUTION_COLUMNS: &str = "id, job_id, scheduled_time, executed_time, status, http_status, duration, \
     error_message, finished_time, trigger, claimed_by, attempts, lease_expires_at, redeliveries";

/// How many columns [`EXECUTION_COLUMNS`] names: a join reads its other columns after these.
pub(crate) const EXECUTION_COLUMN_COUNT: usize = 14;

/// The job columns qualified with a table alias, for joins.
pub(crate) fn job_columns_of(alias: &str) -> String {
    JOB_COLUMNS
        .split(", ")
        .map(|column| format!("{alias}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A stored value that does not decode: the column (its index in [`JOB_COLUMNS`] or
/// [`EXECUTION_COLUMNS`]) and why.
#[derive(Debug)]
pub(crate) struct InvalidColumn {
    pub(crate) index: usize,
    pub(crate) reason: String,
}

impl InvalidColumn {
    fn new(index: usize, reason: impl Into<String>) -> InvalidColumn {
        InvalidColumn {
            index,
            reason: reason.into(),
        }
    }
}

/// A job's column values, in [`JOB_COLUMNS`] order: what a store writes, and what it reads back
/// before [`JobRow::into_job`].
#[derive(Debug)]
pub(crate) struct JobRow {
    pub(crate) id: Uuid,
    pub(crate) schedule: String,
    pub(crate) api: String,
    pub(crate) delivery: Cow<'static, str>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    /// `None` only in rows of the original SQLite schema, where it counts as active.
    pub(crate) active: Option<bool>,
    pub(crate) time_zone: Option<String>,
    pub(crate) method: Cow<'static, str>,
    pub(crate) headers: String,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) attempt_timeout_ms: i64,
    pub(crate) retry_max_attempts: i64,
    pub(crate) retry_initial_backoff_ms: i64,
    pub(crate) retry_max_backoff_ms: i64,
    pub(crate) retry_multiplier: f64,
    pub(crate) retry_jitter: f64,
    pub(crate) misfire_policy: Cow<'static, str>,
    pub(crate) misfire_max: i64,
    pub(crate) overlap_policy: Cow<'static, str>,
    pub(crate) next_fire_at: Option<i64>,
    pub(crate) version: i64,
    pub(crate) name: Option<String>,
    /// The job's own signing secret, in clear: it signs requests, so it cannot be hashed (the
    /// database file is the operator's to protect).
    pub(crate) signing_secret: Option<String>,
    /// The job's previous signing secret while it is rotated (it signs too), in clear;
    /// `NULL` without one. Set only with `signing_secret`.
    pub(crate) previous_signing_secret: Option<String>,
    /// A one-off job's instant; its `schedule` is then empty.
    pub(crate) run_at: Option<i64>,
    pub(crate) start_at: Option<i64>,
    pub(crate) end_at: Option<i64>,
    pub(crate) delete_after_run: bool,
    pub(crate) done_at: Option<i64>,
    /// The job's own tick jitter in milliseconds; `NULL` takes the server's default.
    pub(crate) tick_jitter_ms: Option<i64>,
    /// The job's own alert: `<after failures>:<on recovery 0|1>:<webhook URL>`.
    pub(crate) alert: Option<String>,
}

impl JobRow {
    /// The row of a job. Fails only for a time zone that has neither an IANA name nor a fixed
    /// offset (a POSIX rule string), which the stores cannot keep.
    pub(crate) fn new(job: &Job) -> Result<JobRow, String> {
        let spec = &job.spec;
        let (misfire_policy, misfire_max) = match spec.misfire {
            MisfirePolicy::FireOnceNow => ("FIRE_ONCE_NOW", 0),
            MisfirePolicy::SkipToNext => ("SKIP_TO_NEXT", 0),
            MisfirePolicy::CatchUp { max } => ("CATCH_UP", i64::from(max)),
        };
        Ok(JobRow {
            id: job.id.0,
            schedule: spec
                .schedule
                .cron()
                .map(Schedule::to_string)
                .unwrap_or_default(),
            api: spec.target_url.clone(),
            delivery: Cow::Borrowed(spec.delivery.as_str()),
            created_at: millis(job.created_at),
            updated_at: millis(job.updated_at),
            active: Some(!spec.paused),
            time_zone: spec.time_zone.as_ref().map(encode_time_zone).transpose()?,
            method: Cow::Borrowed(spec.method.as_str()),
            headers: encode_headers(&spec.headers, &spec.secret_headers),
            body: spec.body.as_ref().map(|body| body.to_vec()),
            attempt_timeout_ms: duration_millis(spec.attempt_timeout),
            retry_max_attempts: i64::from(spec.retry.max_attempts),
            retry_initial_backoff_ms: duration_millis(spec.retry.initial_backoff),
            retry_max_backoff_ms: duration_millis(spec.retry.max_backoff),
            retry_multiplier: spec.retry.multiplier,
            retry_jitter: spec.retry.jitter,
            misfire_policy: Cow::Borrowed(misfire_policy),
            misfire_max,
            overlap_policy: Cow::Borrowed(match spec.overlap {
                OverlapPolicy::Allow => "ALLOW",
                OverlapPolicy::SkipWhileRunning => "SKIP_WHILE_RUNNING",
                OverlapPolicy::BufferOne => "BUFFER_ONE",
            }),
            next_fire_at: job.next_fire_at.map(millis),
            version: job.version as i64,
            name: spec.name.clone(),
            signing_secret: spec
                .signing_secrets
                .first()
                .map(|secret| secret.expose().to_owned()),
            previous_signing_secret: spec
                .signing_secrets
                .get(1)
                .map(|secret| secret.expose().to_owned()),
            run_at: spec.schedule.run_at().map(millis),
            start_at: spec.start_at.map(millis),
            end_at: spec.end_at.map(millis),
            delete_after_run: spec.delete_after_run,
            done_at: job.done_at.map(millis),
            tick_jitter_ms: spec.tick_jitter.map(duration_millis),
            alert: spec.alert.as_ref().map(encode_alert),
        })
    }

    /// The job these values describe; the error names the first column that does not decode.
    pub(crate) fn into_job(self) -> Result<Job, InvalidColumn> {
        let schedule = match self.run_at {
            Some(run_at) => Timing::Once(timestamp_at(24, run_at)?),
            None => Timing::Cron(
                Schedule::parse(&self.schedule)
                    .map_err(|error| InvalidColumn::new(1, error.to_string()))?,
            ),
        };
        let time_zone = self
            .time_zone
            .as_deref()
            .map(decode_time_zone)
            .transpose()
            .map_err(|reason| InvalidColumn::new(7, reason))?;
        let (headers, secret_headers) = decode_headers(&self.headers)
            .ok_or_else(|| InvalidColumn::new(9, "malformed headers"))?;
        let spec = JobSpec {
            schedule,
            start_at: optional_timestamp_at(25, self.start_at)?,
            end_at: optional_timestamp_at(26, self.end_at)?,
            delete_after_run: self.delete_after_run,
            time_zone,
            target_url: self.api,
            delivery: self
                .delivery
                .parse::<DeliveryType>()
                .map_err(|error| InvalidColumn::new(3, error.to_string()))?,
            method: self
                .method
                .parse::<HttpMethod>()
                .map_err(|error| InvalidColumn::new(8, error.to_string()))?,
            headers,
            secret_headers,
            body: self.body.map(Arc::from),
            attempt_timeout: duration_from(self.attempt_timeout_ms),
            retry: RetryPolicy {
                max_attempts: u32::try_from(self.retry_max_attempts).unwrap_or(1).max(1),
                initial_backoff: duration_from(self.retry_initial_backoff_ms),
                max_backoff: duration_from(self.retry_max_backoff_ms),
                multiplier: self.retry_multiplier,
                jitter: self.retry_jitter,
            },
            misfire: match &*self.misfire_policy {
                "FIRE_ONCE_NOW" => MisfirePolicy::FireOnceNow,
                "SKIP_TO_NEXT" => MisfirePolicy::SkipToNext,
                "CATCH_UP" => MisfirePolicy::CatchUp {
                    max: u32::try_from(self.misfire_max).unwrap_or(u32::MAX),
                },
                other => {
                    return Err(InvalidColumn::new(
                        17,
                        format!("unknown misfire policy {other:?}"),
                    ));
                }
            },
            overlap: match &*self.overlap_policy {
                "ALLOW" => OverlapPolicy::Allow,
                "SKIP_WHILE_RUNNING" => OverlapPolicy::SkipWhileRunning,
                "BUFFER_ONE" => OverlapPolicy::BufferOne,
                other => {
                    return Err(InvalidColumn::new(
                        19,
                        format!("unknown overlap policy {other:?}"),
                    ));
                }
            },
            paused: !self.active.unwrap_or(true),
            name: self.name,
            signing_secrets: self
                .signing_secret
                .into_iter()
                .chain(self.previous_signing_secret)
                .map(Secret::new)
                .collect(),
            tick_jitter: self.tick_jitter_ms.map(duration_from),
            alert: self
                .alert
                .as_deref()
                .map(decode_alert)
                .transpose()
                .map_err(|reason| InvalidColumn::new(30, reason))?,
        };
        Ok(Job {
            id: JobId(self.id),
            spec,
            created_at: timestamp_at(4, self.created_at)?,
            updated_at: timestamp_at(5, self.updated_at)?,
            next_fire_at: optional_timestamp_at(NEXT_FIRE_AT_COLUMN, self.next_fire_at)?,
            version: u64::try_from(self.version).unwrap_or(1),
            done_at: optional_timestamp_at(28, self.done_at)?,
        })
    }
}

/// An execution's column values, in [`EXECUTION_COLUMNS`] order.
#[derive(Debug)]
pub(crate) struct ExecutionRow {
    pub(crate) id: Uuid,
    pub(crate) job_id: Uuid,
    pub(crate) scheduled_time: i64,
    pub(crate) executed_time: Option<i64>,
    pub(crate) status: Cow<'static, str>,
    pub(crate) http_status: Option<i64>,
    pub(crate) duration: Option<i64>,
    pub(crate) error_message: Option<String>,
    pub(crate) finished_time: Option<i64>,
    pub(crate) trigger: Cow<'static, str>,
    pub(crate) claimed_by: String,
    pub(crate) attempts: i64,
    pub(crate) lease_expires_at: Option<i64>,
    pub(crate) redeliveries: i64,
}

impl ExecutionRow {
    /// The execution these values describe; the error names the first column that does not
    /// decode.
    pub(crate) fn into_execution(self) -> Result<Execution, InvalidColumn> {
        Ok(Execution {
            id: ExecutionId(self.id),
            job_id: JobId(self.job_id),
            scheduled_at: timestamp_at(2, self.scheduled_time)?,
            trigger: match &*self.trigger {
                "MANUAL" => ExecutionTrigger::Manual,
                _ => ExecutionTrigger::Schedule,
            },
            claimed_by: self.claimed_by,
            lease_expires_at: optional_timestamp_at(12, self.lease_expires_at)?,
            status: self
                .status
                .parse::<ExecutionStatus>()
                .map_err(|error| InvalidColumn::new(4, error.to_string()))?,
            executed_at: optional_timestamp_at(3, self.executed_time)?,
            finished_at: optional_timestamp_at(8, self.finished_time)?,
            http_status: self
                .http_status
                .and_then(|status| u16::try_from(status).ok()),
            duration: self.duration.map(duration_from),
            error: self.error_message,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            redeliveries: u32::try_from(self.redeliveries).unwrap_or(0),
        })
    }
}

/// The execution columns of `e`.
pub(crate) fn prefixed_execution_columns() -> String {
    EXECUTION_COLUMNS
        .split(", ")
        .map(|column| format!("e.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
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

/// The instant `millis` after the epoch, or why not.
pub(crate) fn timestamp_from_millis(millis: i64) -> Result<Timestamp, String> {
    Timestamp::from_millisecond(millis)
        .map_err(|error| format!("timestamp {millis} out of range: {error}"))
}

fn timestamp_at(index: usize, millis: i64) -> Result<Timestamp, InvalidColumn> {
    timestamp_from_millis(millis).map_err(|reason| InvalidColumn::new(index, reason))
}

fn optional_timestamp_at(
    index: usize,
    millis: Option<i64>,
) -> Result<Option<Timestamp>, InvalidColumn> {
    millis.map(|millis| timestamp_at(index, millis)).transpose()
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

/// A job's alert as `<after failures>:<on recovery 0|1>:<webhook URL>`: the URL comes last, so
/// that its own colons need no escaping.
fn encode_alert(alert: &JobAlertSettings) -> String {
    format!(
        "{}:{}:{}",
        alert.after_failures,
        u8::from(alert.on_recovery),
        alert.webhook_url
    )
}

/// The alert [`encode_alert`] wrote.
fn decode_alert(text: &str) -> Result<JobAlertSettings, String> {
    let mut parts = text.splitn(3, ':');
    let (Some(after), Some(recovery), Some(url)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed alert".to_owned());
    };
    let after_failures = after
        .parse::<u32>()
        .map_err(|_| format!("malformed alert: after failures {after:?}"))?;
    let on_recovery = match recovery {
        "0" => false,
        "1" => true,
        other => return Err(format!("malformed alert: on recovery {other:?}")),
    };
    Ok(JobAlertSettings {
        webhook_url: url.to_owned(),
        after_failures,
        on_recovery,
    })
}

/// Headers as netstrings, `<len>:<name><len>:<value>` per header, so that any byte sequence
/// round-trips without an escaping scheme. A header named in `secret` (case-insensitive) starts
/// with `!`: the job's `secretHeaders` live in the same column, so no schema change was needed.
pub(crate) fn encode_headers(headers: &[(String, String)], secret: &[String]) -> String {
    let mut encoded = String::new();
    for (name, value) in headers {
        if secret
            .iter()
            .any(|secret| secret.eq_ignore_ascii_case(name))
        {
            encoded.push('!');
        }
        for part in [name, value] {
            encoded.push_str(&part.len().to_string());
            encoded.push(':');
            encoded.push_str(part);
        }
    }
    encoded
}

/// Headers as (name, value) pairs, and the names of those that are secret.
pub(crate) type DecodedHeaders = (Vec<(String, String)>, Vec<String>);

/// The headers of [`encode_headers`], and the names of those marked secret.
pub(crate) fn decode_headers(mut encoded: &str) -> Option<DecodedHeaders> {
    let mut headers = Vec::new();
    let mut secret = Vec::new();
    while !encoded.is_empty() {
        let marked = encoded.starts_with('!');
        if marked {
            encoded = &encoded[1..];
        }
        let mut pair = [String::new(), String::new()];
        for part in &mut pair {
            let (length, rest) = encoded.split_once(':')?;
            let length: usize = length.parse().ok()?;
            *part = rest.get(..length)?.to_owned();
            encoded = rest.get(length..)?;
        }
        let [name, value] = pair;
        if marked
            && !secret
                .iter()
                .any(|known: &String| known.eq_ignore_ascii_case(&name))
        {
            secret.push(name.clone());
        }
        headers.push((name, value));
    }
    Some((headers, secret))
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
        assert_eq!(
            decode_headers(&encode_headers(&headers, &[])),
            Some((headers.clone(), Vec::new()))
        );
        assert_eq!(decode_headers(""), Some((Vec::new(), Vec::new())));
        assert_eq!(decode_headers("!3:abc"), None);
        assert_eq!(decode_headers("3:abc"), None);
        assert_eq!(decode_headers("9:abc"), None);
    }

    #[test]
    fn secret_headers_are_marked_in_the_headers_column() {
        let headers = vec![
            ("X-Token".to_owned(), "s3cret".to_owned()),
            ("X-Plain".to_owned(), "visible".to_owned()),
        ];
        let encoded = encode_headers(&headers, &["x-token".to_owned()]);
        assert_eq!(encoded, "!7:X-Token6:s3cret7:X-Plain7:visible");
        assert_eq!(
            decode_headers(&encoded),
            Some((headers, vec!["X-Token".to_owned()]))
        );
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
