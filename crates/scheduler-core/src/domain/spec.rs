//! What a client asks for: a job's spec, its validation, and the fields errors name.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cron_expr::{Schedule, TimeZone, Timestamp};

use crate::error::Error;
use crate::time;

use super::{DeliveryType, HttpMethod, MisfirePolicy, OverlapPolicy, RetryPolicy};

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
    /// One of [`JobSpec::secret_headers`], by its name as given.
    SecretHeader(String),
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
    /// The [`ExecutionStatus`](crate::ExecutionStatus) of one of the job's executions, read from text.
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
            JobField::SecretHeader(name) => return write!(f, "secret header {name:?}"),
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

/// Headers whose values are secret in every job: write-only through the API, never logged.
/// Names compare case-insensitively.
pub const ALWAYS_SECRET_HEADERS: &[&str] = &[
    "Authorization",
    "Cookie",
    "Proxy-Authorization",
    "X-Api-Key",
];

/// Everything a client decides about a job: what `create` takes and `update` replaces.
///
/// Its `Debug` output shows secret header values (see [`JobSpec::is_secret_header`]) as `***`.
#[derive(Clone, PartialEq)]
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
    /// Names of further headers (beyond [`ALWAYS_SECRET_HEADERS`]) whose values are secret:
    /// sent to the target, but never shown or logged. Each names one of [`JobSpec::headers`].
    pub secret_headers: Vec<String>,
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
            secret_headers: Vec::new(),
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
        for secret in &self.secret_headers {
            if !self
                .headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case(secret))
            {
                return Err(Error::invalid(
                    JobField::SecretHeader(secret.clone()),
                    format!("{secret:?} names no header in headers"),
                ));
            }
        }
        Ok(())
    }

    /// Whether the value of header `name` is secret: one of [`ALWAYS_SECRET_HEADERS`] or of
    /// [`JobSpec::secret_headers`] (case-insensitive).
    pub fn is_secret_header(&self, name: &str) -> bool {
        ALWAYS_SECRET_HEADERS
            .iter()
            .copied()
            .chain(self.secret_headers.iter().map(String::as_str))
            .any(|secret| secret.eq_ignore_ascii_case(name))
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

impl fmt::Debug for JobSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = if self.is_secret_header(name) {
                    "***"
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("JobSpec")
            .field("schedule", &self.schedule)
            .field("time_zone", &self.time_zone)
            .field("target_url", &self.target_url)
            .field("delivery", &self.delivery)
            .field("method", &self.method)
            .field("headers", &headers)
            .field("secret_headers", &self.secret_headers)
            .field("body", &self.body)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("retry", &self.retry)
            .field("misfire", &self.misfire)
            .field("overlap", &self.overlap)
            .field("paused", &self.paused)
            .field("name", &self.name)
            .finish()
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
