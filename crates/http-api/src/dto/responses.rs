//! Responses: jobs and executions as the API shows them.

use std::time::Duration;

use scheduler_core::{Execution, Job, JobStats, MisfirePolicy, OverlapPolicy, TimeZone, Timestamp};
use serde::Serialize;
use serde_json::{Map, Value};

/// How many upcoming fire times a job shows.
pub(crate) const NEXT_FIRE_TIMES: usize = 5;

/// A job as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobDto {
    job_id: String,
    /// The cron schedule; `None` for a one-off job.
    schedule: Option<String>,
    /// A one-off job's instant; `None` for a recurring job.
    run_at: Option<String>,
    start_at: Option<String>,
    end_at: Option<String>,
    delete_after_run: bool,
    api: String,
    #[serde(rename = "type")]
    delivery: &'static str,
    timezone: String,
    method: &'static str,
    headers: Map<String, Value>,
    secret_headers: Vec<String>,
    body: Option<String>,
    timeout_ms: u64,
    retry: RetryDto,
    misfire: MisfireDto,
    overlap: &'static str,
    paused: bool,
    name: Option<String>,
    /// Whether the job signs with a secret of its own; the secret itself is never shown.
    has_signing_secret: bool,
    /// How many secrets of its own the job signs with: 0, 1, or 2 while one is rotated.
    signing_secret_count: usize,
    /// The job's own tick jitter; `None` takes the server's default.
    jitter_ms: Option<u64>,
    alert: Option<AlertDto>,
    created_at: String,
    updated_at: String,
    version: u64,
    next_fire_times: Vec<String>,
    /// Whether the job is done: no tick left and its last execution finished.
    done: bool,
    done_at: Option<String>,
    stats: Option<StatsDto>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RetryDto {
    max_attempts: u32,
    initial_backoff_ms: u64,
    max_backoff_ms: u64,
    multiplier: f64,
    jitter: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertDto {
    webhook_url: String,
    after_failures: u32,
    on_recovery: bool,
}

#[derive(Debug, Serialize)]
struct MisfireDto {
    policy: &'static str,
    max: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatsDto {
    succeeded: u64,
    failed: u64,
    success_rate: f64,
    mean_duration_ms: u64,
    /// `SUCCEEDED` or `FAILED`: how the execution that finished last ended.
    last_status: &'static str,
}

impl JobDto {
    /// The job as shown; `fire_at` gives the instant a tick fires (its tick jitter applied),
    /// for `nextFireTimes`.
    pub(crate) fn new(
        job: &Job,
        stats: Option<JobStats>,
        fire_at: impl Fn(Timestamp) -> Timestamp,
    ) -> JobDto {
        let spec = &job.spec;
        let (misfire_policy, misfire_max) = match spec.misfire {
            MisfirePolicy::FireOnceNow => ("FIRE_ONCE_NOW", None),
            MisfirePolicy::SkipToNext => ("SKIP_TO_NEXT", None),
            MisfirePolicy::CatchUp { max } => ("CATCH_UP", Some(max)),
        };
        JobDto {
            job_id: job.id.to_string(),
            schedule: spec.schedule.cron().map(ToString::to_string),
            run_at: spec.schedule.run_at().map(format_timestamp),
            start_at: spec.start_at.map(format_timestamp),
            end_at: spec.end_at.map(format_timestamp),
            delete_after_run: spec.delete_after_run,
            // A queue target's password is shown as `***` (see `secrets`).
            api: scheduler_core::redact_target_url(&spec.target_url).into_owned(),
            delivery: spec.delivery.as_str(),
            timezone: spec
                .time_zone
                .as_ref()
                .and_then(TimeZone::iana_name)
                .unwrap_or("UTC")
                .to_owned(),
            method: spec.method.as_str(),
            headers: spec
                .headers
                .iter()
                .map(|(name, value)| {
                    let shown = super::secrets::shown_value(spec, name, value);
                    (name.clone(), Value::String(shown.to_owned()))
                })
                .collect(),
            secret_headers: spec.secret_headers.clone(),
            body: spec
                .body
                .as_ref()
                .map(|body| String::from_utf8_lossy(body).into_owned()),
            timeout_ms: millis(spec.attempt_timeout),
            retry: RetryDto {
                max_attempts: spec.retry.max_attempts,
                initial_backoff_ms: millis(spec.retry.initial_backoff),
                max_backoff_ms: millis(spec.retry.max_backoff),
                multiplier: spec.retry.multiplier,
                jitter: spec.retry.jitter,
            },
            misfire: MisfireDto {
                policy: misfire_policy,
                max: misfire_max,
            },
            overlap: match spec.overlap {
                OverlapPolicy::Allow => "ALLOW",
                OverlapPolicy::SkipWhileRunning => "SKIP_WHILE_RUNNING",
                OverlapPolicy::BufferOne => "BUFFER_ONE",
            },
            paused: spec.paused,
            name: spec.name.clone(),
            has_signing_secret: !spec.signing_secrets.is_empty(),
            signing_secret_count: spec.signing_secrets.len(),
            jitter_ms: spec.tick_jitter.map(millis),
            alert: spec.alert.as_ref().map(|alert| AlertDto {
                webhook_url: alert.webhook_url.clone(),
                after_failures: alert.after_failures,
                on_recovery: alert.on_recovery,
            }),
            created_at: format_timestamp(job.created_at),
            updated_at: format_timestamp(job.updated_at),
            version: job.version,
            next_fire_times: next_fire_times(job, fire_at),
            done: job.done_at.is_some(),
            done_at: job.done_at.map(format_timestamp),
            stats: stats.map(|stats| StatsDto {
                succeeded: stats.succeeded,
                failed: stats.failed,
                success_rate: stats.success_rate,
                mean_duration_ms: millis(stats.mean_duration),
                last_status: if stats.last_succeeded {
                    "SUCCEEDED"
                } else {
                    "FAILED"
                },
            }),
        }
    }
}

/// The instants the job's next unclaimed ticks fire (`fire_at` of each tick), starting at its
/// watermark; none while paused.
fn next_fire_times(job: &Job, fire_at: impl Fn(Timestamp) -> Timestamp) -> Vec<String> {
    let mut times = Vec::with_capacity(NEXT_FIRE_TIMES);
    if job.spec.paused {
        return times;
    }
    let mut next = job.next_fire_at;
    while let Some(t) = next {
        times.push(format_timestamp(fire_at(t)));
        if times.len() == NEXT_FIRE_TIMES {
            break;
        }
        next = job.spec.next_fire_after(t);
    }
    times
}

/// An execution as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExecutionDto {
    execution_id: String,
    job_id: String,
    scheduled_time: String,
    executed_time: Option<String>,
    finished_time: Option<String>,
    status: &'static str,
    trigger: &'static str,
    http_status: Option<u16>,
    duration_ms: Option<u64>,
    error_message: Option<String>,
    attempts: u32,
    retry_count: u32,
    redeliveries: u32,
}

impl ExecutionDto {
    pub(crate) fn new(execution: &Execution) -> ExecutionDto {
        ExecutionDto {
            execution_id: execution.id.to_string(),
            job_id: execution.job_id.to_string(),
            scheduled_time: format_timestamp(execution.scheduled_at),
            executed_time: execution.executed_at.map(format_timestamp),
            finished_time: execution.finished_at.map(format_timestamp),
            status: execution.status.as_str(),
            trigger: execution.trigger.as_str(),
            http_status: execution.http_status,
            duration_ms: execution.duration.map(millis),
            error_message: execution.error.clone(),
            attempts: execution.attempts,
            retry_count: execution.attempts.saturating_sub(1),
            redeliveries: execution.redeliveries,
        }
    }
}

/// A page of jobs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobPageDto {
    pub(crate) jobs: Vec<JobDto>,
    pub(crate) next_cursor: Option<String>,
}

/// A list of executions, of one job (with `jobId`) or across jobs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExecutionListDto {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) job_id: Option<String>,
    pub(crate) executions: Vec<ExecutionDto>,
}

/// An instant as RFC 3339 UTC with milliseconds: `2026-11-30T01:10:31.000Z`.
pub(crate) fn format_timestamp(t: Timestamp) -> String {
    let millis = Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t);
    format!("{millis:.3}")
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
