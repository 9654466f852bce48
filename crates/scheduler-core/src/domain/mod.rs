//! The domain: jobs, their policies, and executions.
//!
//! These types carry no serialization: the HTTP layer has its own DTOs and converts.

mod execution;
mod job_alert;
mod queue_target;
mod secret;
mod spec;
mod timing;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use cron_expr::Timestamp;
use uuid::Uuid;

use crate::error::Error;

pub use execution::{Execution, ExecutionStatus, ExecutionTrigger, ExecutionUpdate};
pub use job_alert::{JobAlertSettings, MAX_ALERT_AFTER_FAILURES};
pub use queue_target::{
    AMQP_DEFAULT_PORT, AmqpTarget, BrokerServer, MAX_QUEUE_NAME_BYTES, NATS_DEFAULT_PORT,
    NatsTarget, QueueTarget, REDACTED_PASSWORD, SecretText, is_queue_target_url, redact_target_url,
    restore_target_password,
};
pub use spec::{
    ALWAYS_SECRET_HEADERS, FORBIDDEN_JOB_HEADERS, JobField, JobSpec, MAX_JOB_SIGNING_SECRETS,
    MAX_NAME_CHARS, MAX_SIGNING_SECRET_BYTES, RESERVED_HEADER_PREFIX, Secret, Timing,
    is_job_header_allowed,
};

/// The identity of a job: a random (v4) UUID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub Uuid);

impl JobId {
    /// A new random job id.
    pub fn new_random() -> JobId {
        JobId(Uuid::new_v4())
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The identity of an execution: a time-ordered (v7) UUID, so that stores index it cheaply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExecutionId(pub Uuid);

impl ExecutionId {
    /// A new time-ordered execution id.
    pub fn new_time_ordered() -> ExecutionId {
        ExecutionId(Uuid::now_v7())
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What the scheduler promises about delivery of one tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryType {
    /// Retries on failure, and re-sends executions left unfinished by a crash.
    /// A target may therefore see one tick more than once (with the same execution id).
    AtLeastOnce,
    /// Never retries, and never re-sends an execution that may already have been sent:
    /// one found in flight after a crash is marked abandoned.
    AtMostOnce,
}

impl DeliveryType {
    /// The product spelling: `ATLEAST_ONCE` or `ATMOST_ONCE`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryType::AtLeastOnce => "ATLEAST_ONCE",
            DeliveryType::AtMostOnce => "ATMOST_ONCE",
        }
    }
}

impl FromStr for DeliveryType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "ATLEAST_ONCE" => Ok(DeliveryType::AtLeastOnce),
            "ATMOST_ONCE" => Ok(DeliveryType::AtMostOnce),
            other => Err(Error::invalid(
                JobField::Delivery,
                format!("unknown delivery type {other:?} (expected ATLEAST_ONCE or ATMOST_ONCE)"),
            )),
        }
    }
}

/// The HTTP method of a job's requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// `GET`.
    Get,
    /// `POST`, the default.
    #[default]
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl HttpMethod {
    /// The method name in upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

impl FromStr for HttpMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_uppercase().as_str() {
            "GET" => Ok(HttpMethod::Get),
            "POST" => Ok(HttpMethod::Post),
            "PUT" => Ok(HttpMethod::Put),
            "PATCH" => Ok(HttpMethod::Patch),
            "DELETE" => Ok(HttpMethod::Delete),
            _ => Err(Error::invalid(
                JobField::Method,
                format!("unsupported method {s:?} (expected GET, POST, PUT, PATCH or DELETE)"),
            )),
        }
    }
}

/// How failed attempts of an at-least-once job are retried.
///
/// The delay before attempt `n + 1` is `initial_backoff * multiplier^(n - 1)`, capped at
/// `max_backoff`, then spread by `jitter` (a fraction: 0.2 means +/- 20 %). A `Retry-After`
/// answer lengthens the delay to what the target asked for, up to `max_backoff`.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included; 1 means no retries.
    pub max_attempts: u32,
    /// The delay before the first retry.
    pub initial_backoff: Duration,
    /// The largest delay between two attempts.
    pub max_backoff: Duration,
    /// The factor by which the delay grows after each failed attempt (at least 1).
    pub multiplier: f64,
    /// The relative spread applied to each delay, from 0 (none) to 1.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.1,
        }
    }
}

/// What to do with ticks that were missed because the scheduler was not running or fell
/// behind: a tick counts as missed when it is older than the engine's misfire threshold, or,
/// on a store that is not shared, when it was due before the engine started
/// ([`EngineConfig::misfire_threshold`](crate::EngineConfig::misfire_threshold)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MisfirePolicy {
    /// Fire the most recent missed tick once, now, then continue on schedule.
    #[default]
    FireOnceNow,
    /// Fire none of the missed ticks; continue with the next tick on schedule.
    SkipToNext,
    /// Fire the most recent missed ticks, at most this many, now and in order.
    CatchUp {
        /// The most missed ticks to fire.
        max: u32,
    },
}

/// Whether a tick may fire while the previous execution of the same job is unfinished
/// (sending, or waiting for a retry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OverlapPolicy {
    /// Ticks fire regardless of earlier executions.
    #[default]
    Allow,
    /// A tick that comes while an earlier execution is unfinished is recorded as skipped.
    SkipWhileRunning,
    /// The first tick that comes while an earlier execution is unfinished waits, unsent, and
    /// fires as soon as that execution finishes (late: its drift counts); a tick that comes
    /// while one already waits is recorded as skipped.
    BufferOne,
}

/// A registered job: its spec plus what the scheduler keeps about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// The job's identity.
    pub id: JobId,
    /// What the client asked for.
    pub spec: JobSpec,
    /// When the job was created.
    pub created_at: Timestamp,
    /// When the spec last changed.
    pub updated_at: Timestamp,
    /// The next tick not yet claimed: the schedule's watermark. `None` when the schedule has
    /// no further tick.
    pub next_fire_at: Option<Timestamp>,
    /// Starts at 1 and grows by one with every change of the spec (optimistic concurrency).
    /// Claiming ticks does not change it.
    pub version: u64,
    /// When the job was marked done: its schedule has no tick left (a one-off job that fired,
    /// a window that ended) and its last execution finished. `None` while it may still fire.
    /// A done job keeps its history; a change that gives it a tick again clears it.
    pub done_at: Option<Timestamp>,
}
