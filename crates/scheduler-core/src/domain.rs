//! The domain: jobs, their policies, and executions.
//!
//! These types carry no serialization: the HTTP layer has its own DTOs and converts.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use cron_expr::{Schedule, TimeZone, Timestamp};
use uuid::Uuid;

use crate::error::Error;
use crate::time;

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
/// answer lengthens the delay to what the target asked for.
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

/// What to do with ticks that were missed because the scheduler was not running
/// (a tick counts as missed when it is older than the engine's misfire threshold).
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
}

/// The longest job name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The part of a job that a validation error is about (see [`Error::Invalid`]).
///
/// Named after the domain, not after any wire format: the HTTP layer maps each variant to its
/// JSON field. Exhaustive on purpose, so that a new variant makes every such mapping say how
/// it is named.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum JobField {
    /// [`JobSpec::schedule`].
    Schedule,
    /// [`JobSpec::time_zone`].
    TimeZone,
    /// [`JobSpec::target_url`].
    TargetUrl,
    /// [`JobSpec::delivery`].
    Delivery,
    /// [`JobSpec::method`].
    Method,
    /// One of [`JobSpec::headers`], by its name as given.
    Header(String),
    /// [`JobSpec::body`].
    Body,
    /// [`JobSpec::attempt_timeout`].
    AttemptTimeout,
    /// [`RetryPolicy::max_attempts`].
    RetryMaxAttempts,
    /// [`RetryPolicy::initial_backoff`].
    RetryInitialBackoff,
    /// [`RetryPolicy::max_backoff`].
    RetryMaxBackoff,
    /// [`RetryPolicy::multiplier`].
    RetryMultiplier,
    /// [`RetryPolicy::jitter`].
    RetryJitter,
    /// [`JobSpec::misfire`].
    Misfire,
    /// [`JobSpec::overlap`].
    Overlap,
    /// [`JobSpec::name`].
    Name,
    /// The [`ExecutionStatus`] of one of the job's executions, read from text.
    ExecutionStatus,
}

impl fmt::Display for JobField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            JobField::Schedule => "schedule",
            JobField::TimeZone => "time zone",
            JobField::TargetUrl => "target URL",
            JobField::Delivery => "delivery type",
            JobField::Method => "method",
            JobField::Header(name) => return write!(f, "header {name:?}"),
            JobField::Body => "body",
            JobField::AttemptTimeout => "attempt timeout",
            JobField::RetryMaxAttempts => "retry max attempts",
            JobField::RetryInitialBackoff => "retry initial backoff",
            JobField::RetryMaxBackoff => "retry max backoff",
            JobField::RetryMultiplier => "retry multiplier",
            JobField::RetryJitter => "retry jitter",
            JobField::Misfire => "misfire policy",
            JobField::Overlap => "overlap policy",
            JobField::Name => "name",
            JobField::ExecutionStatus => "execution status",
        };
        f.write_str(name)
    }
}

/// Everything a client decides about a job: what `create` takes and `update` replaces.
#[derive(Clone, Debug, PartialEq)]
pub struct JobSpec {
    /// When the job fires.
    pub schedule: Schedule,
    /// The zone whose wall-clock time the schedule matches; `None` means UTC.
    pub time_zone: Option<TimeZone>,
    /// The URL every attempt is sent to (`http://` or `https://`).
    pub target_url: String,
    /// The delivery promise.
    pub delivery: DeliveryType,
    /// The request method.
    pub method: HttpMethod,
    /// Extra request headers, sent in order.
    pub headers: Vec<(String, String)>,
    /// The request body; `None` sends an empty body.
    pub body: Option<Arc<[u8]>>,
    /// How long one attempt may take before it counts as timed out.
    pub attempt_timeout: Duration,
    /// How failures are retried (at-least-once jobs only).
    pub retry: RetryPolicy,
    /// What happens to ticks missed while the scheduler was down.
    pub misfire: MisfirePolicy,
    /// Whether ticks may overlap a still unfinished execution.
    pub overlap: OverlapPolicy,
    /// A paused job keeps its definition but fires no ticks.
    pub paused: bool,
    /// A label for people (dashboards, alerts); not unique, not used by the engine.
    pub name: Option<String>,
}

impl JobSpec {
    /// The attempt timeout of a spec that does not set one.
    pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

    /// A spec with the defaults: POST, no headers or body,
    /// [`DEFAULT_ATTEMPT_TIMEOUT`](Self::DEFAULT_ATTEMPT_TIMEOUT), default retry, misfire and
    /// overlap policies, not paused, UTC.
    pub fn new(
        schedule: Schedule,
        target_url: impl Into<String>,
        delivery: DeliveryType,
    ) -> JobSpec {
        JobSpec {
            schedule,
            time_zone: None,
            target_url: target_url.into(),
            delivery,
            method: HttpMethod::Post,
            headers: Vec::new(),
            body: None,
            attempt_timeout: JobSpec::DEFAULT_ATTEMPT_TIMEOUT,
            retry: RetryPolicy::default(),
            misfire: MisfirePolicy::default(),
            overlap: OverlapPolicy::default(),
            paused: false,
            name: None,
        }
    }

    /// Checks the parts the types do not: name, URL scheme, timeout, retry policy bounds,
    /// header names and values.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(name) = &self.name
            && (name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control))
        {
            return Err(Error::invalid(
                JobField::Name,
                format!("must be at most {MAX_NAME_CHARS} characters, without control characters"),
            ));
        }
        let url = self.target_url.trim();
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| {
                Error::invalid(
                    JobField::TargetUrl,
                    "the target URL must start with http:// or https://",
                )
            })?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(Error::invalid(
                JobField::TargetUrl,
                "the target URL has no host",
            ));
        }
        if self.attempt_timeout.is_zero() {
            return Err(Error::invalid(
                JobField::AttemptTimeout,
                "must be greater than zero",
            ));
        }
        let retry = &self.retry;
        if retry.max_attempts == 0 {
            return Err(Error::invalid(
                JobField::RetryMaxAttempts,
                "must be at least 1",
            ));
        }
        if !(retry.multiplier.is_finite() && retry.multiplier >= 1.0) {
            return Err(Error::invalid(
                JobField::RetryMultiplier,
                "must be a number of at least 1",
            ));
        }
        if !(0.0..=1.0).contains(&retry.jitter) {
            return Err(Error::invalid(
                JobField::RetryJitter,
                "must be between 0 and 1",
            ));
        }
        if retry.initial_backoff > retry.max_backoff {
            return Err(Error::invalid(
                JobField::RetryInitialBackoff,
                "must not be greater than the max backoff",
            ));
        }
        for (name, value) in &self.headers {
            check_header(name, value)?;
        }
        Ok(())
    }

    /// The first tick strictly after `t`, in the job's zone; `None` when the schedule has ended.
    pub fn next_fire_after(&self, t: Timestamp) -> Option<Timestamp> {
        match &self.time_zone {
            None => self.schedule.next_after(t),
            Some(tz) => self.schedule.next_after_in(t, tz),
        }
    }

    /// The last tick strictly before `t`, in the job's zone.
    pub fn prev_fire_before(&self, t: Timestamp) -> Option<Timestamp> {
        match &self.time_zone {
            None => self.schedule.prev_before(t),
            Some(tz) => self.schedule.prev_before_in(t, tz),
        }
    }

    /// Whether `t` is a tick of this job's schedule.
    pub fn fires_at(&self, t: Timestamp) -> bool {
        match &self.time_zone {
            None => self.schedule.matches(t),
            Some(tz) => self.schedule.matches_in(t, tz),
        }
    }

    /// The first tick at or after `t` (fire times are whole seconds; `t` may not be).
    pub fn next_fire_at_or_after(&self, t: Timestamp) -> Option<Timestamp> {
        self.next_fire_after(time::sub(t, Duration::from_nanos(1)))
    }

    /// Whether `other` fires at other instants than `self`: the parts that decide ticks.
    pub fn same_ticks_as(&self, other: &JobSpec) -> bool {
        self.schedule == other.schedule && self.time_zone == other.time_zone
    }
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
}

/// Where an execution is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecutionStatus {
    /// Claimed, not yet sent.
    Pending,
    /// Sent at least once and not finished: an attempt is in flight or a retry is waiting.
    Running,
    /// The target answered with a 2xx status.
    Succeeded,
    /// The last attempt failed and no retry is left (or the error was permanent).
    Failed,
    /// An at-most-once execution found in flight after a crash: it may or may not have been
    /// delivered, and it is never re-sent.
    Abandoned,
    /// Not sent, on purpose: overlap policy, job paused or rescheduled.
    Skipped,
}

impl ExecutionStatus {
    /// The spelling used in APIs and stores: `PENDING`, `RUNNING`, `SUCCEEDED`, `FAILED`,
    /// `ABANDONED`, `SKIPPED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Pending => "PENDING",
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::Abandoned => "ABANDONED",
            ExecutionStatus::Skipped => "SKIPPED",
        }
    }

    /// Whether the execution has reached its final state.
    pub fn is_finished(self) -> bool {
        !matches!(self, ExecutionStatus::Pending | ExecutionStatus::Running)
    }
}

impl FromStr for ExecutionStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "PENDING" => ExecutionStatus::Pending,
            "RUNNING" => ExecutionStatus::Running,
            "SUCCEEDED" => ExecutionStatus::Succeeded,
            "FAILED" => ExecutionStatus::Failed,
            "ABANDONED" => ExecutionStatus::Abandoned,
            "SKIPPED" => ExecutionStatus::Skipped,
            other => {
                return Err(Error::invalid(
                    JobField::ExecutionStatus,
                    format!("unknown status {other:?}"),
                ));
            }
        })
    }
}

/// Why an execution exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecutionTrigger {
    /// A tick of the job's schedule.
    Schedule,
    /// A client asked to run the job now.
    Manual,
}

impl ExecutionTrigger {
    /// `SCHEDULE` or `MANUAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionTrigger::Schedule => "SCHEDULE",
            ExecutionTrigger::Manual => "MANUAL",
        }
    }
}

/// One firing of one job: there is at most one per (job, scheduled time), ever.
#[derive(Clone, Debug, PartialEq)]
pub struct Execution {
    /// The execution's identity; it stays the same across retries.
    pub id: ExecutionId,
    /// The job it belongs to.
    pub job_id: JobId,
    /// The instant of the tick.
    pub scheduled_at: Timestamp,
    /// Why it exists.
    pub trigger: ExecutionTrigger,
    /// The node (lease owner) that claimed it; recovery on start-up takes back its own.
    pub claimed_by: String,
    /// Its current state.
    pub status: ExecutionStatus,
    /// When the first attempt was sent.
    pub executed_at: Option<Timestamp>,
    /// When it reached its final state.
    pub finished_at: Option<Timestamp>,
    /// The HTTP status of the last answer.
    pub http_status: Option<u16>,
    /// How long the last attempt took.
    pub duration: Option<Duration>,
    /// The last error, if the last attempt failed.
    pub error: Option<String>,
    /// Attempts started so far.
    pub attempts: u32,
}

impl Execution {
    /// A new pending execution of `job_id` for the tick at `scheduled_at`.
    pub fn pending(
        job_id: JobId,
        scheduled_at: Timestamp,
        trigger: ExecutionTrigger,
        claimed_by: &str,
    ) -> Execution {
        Execution {
            id: ExecutionId::new_time_ordered(),
            job_id,
            scheduled_at,
            trigger,
            claimed_by: claimed_by.to_owned(),
            status: ExecutionStatus::Pending,
            executed_at: None,
            finished_at: None,
            http_status: None,
            duration: None,
            error: None,
            attempts: 0,
        }
    }

    /// The mutable part of this execution, as a store update.
    pub fn to_update(&self) -> ExecutionUpdate {
        ExecutionUpdate {
            id: self.id,
            status: self.status,
            executed_at: self.executed_at,
            finished_at: self.finished_at,
            http_status: self.http_status,
            duration: self.duration,
            error: self.error.clone(),
            attempts: self.attempts,
        }
    }

    /// Applies an update's fields to this execution.
    pub fn apply(&mut self, update: &ExecutionUpdate) {
        self.status = update.status;
        self.executed_at = update.executed_at;
        self.finished_at = update.finished_at;
        self.http_status = update.http_status;
        self.duration = update.duration;
        self.error.clone_from(&update.error);
        self.attempts = update.attempts;
    }
}

/// The new state of an execution's mutable fields; the identity, job and tick never change.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionUpdate {
    /// Which execution.
    pub id: ExecutionId,
    /// See [`Execution::status`].
    pub status: ExecutionStatus,
    /// See [`Execution::executed_at`].
    pub executed_at: Option<Timestamp>,
    /// See [`Execution::finished_at`].
    pub finished_at: Option<Timestamp>,
    /// See [`Execution::http_status`].
    pub http_status: Option<u16>,
    /// See [`Execution::duration`].
    pub duration: Option<Duration>,
    /// See [`Execution::error`].
    pub error: Option<String>,
    /// See [`Execution::attempts`].
    pub attempts: u32,
}

/// A header name must be an RFC 9110 token, and a value must hold no control character but
/// tab, so that no header can inject another line into the request.
fn check_header(name: &str, value: &str) -> Result<(), Error> {
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(Error::invalid(
            JobField::Header(name.to_owned()),
            format!("invalid header name {name:?}"),
        ));
    }
    if value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
        return Err(Error::invalid(
            JobField::Header(name.to_owned()),
            "header values must not contain control characters",
        ));
    }
    Ok(())
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
