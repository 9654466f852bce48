//! What a client asks for: a job's spec, its validation, and the fields errors name.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cron_expr::{Schedule, TimeZone, Timestamp};

use crate::error::Error;
use crate::time;

use super::queue_target::{QueueTarget, redact_target_url};
pub use super::secret::Secret;
pub use super::timing::Timing;
use super::{
    DeliveryType, HttpMethod, JobAlertSettings, MAX_ALERT_AFTER_FAILURES, MisfirePolicy,
    OverlapPolicy, RetryPolicy,
};

/// The longest job name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The part of a job that a validation error is about (see [`Error::Invalid`]).
///
/// Named after the domain, not after any wire format: the HTTP layer maps each variant to its
/// JSON field. Exhaustive on purpose, so that a new variant makes every such mapping say how
/// it is named.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum JobField {
    /// [`JobSpec::schedule`] when it is a cron schedule.
    Schedule,
    /// [`JobSpec::schedule`] when it is one instant ([`Timing::Once`]).
    RunAt,
    /// [`JobSpec::start_at`].
    StartAt,
    /// [`JobSpec::end_at`].
    EndAt,
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
    /// [`JobSpec::signing_secrets`].
    SigningSecret,
    /// [`JobSpec::tick_jitter`].
    TickJitter,
    /// The [`ExecutionStatus`](crate::ExecutionStatus) of one of the job's executions, read from text.
    ExecutionStatus,
    /// [`JobAlertSettings::webhook_url`] of [`JobSpec::alert`].
    AlertWebhookUrl,
    /// [`JobAlertSettings::after_failures`] of [`JobSpec::alert`].
    AlertAfterFailures,
}

impl fmt::Display for JobField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            JobField::Schedule => "schedule",
            JobField::RunAt => "run at",
            JobField::StartAt => "start at",
            JobField::EndAt => "end at",
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
            JobField::SigningSecret => "signing secret",
            JobField::TickJitter => "tick jitter",
            JobField::ExecutionStatus => "execution status",
            JobField::AlertWebhookUrl => "alert webhook URL",
            JobField::AlertAfterFailures => "alert after failures",
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
    /// When the job fires: a cron schedule, or one instant.
    pub schedule: Timing,
    /// No tick before this instant (inclusive bound); `None` means no lower bound.
    pub start_at: Option<Timestamp>,
    /// No tick after this instant (inclusive bound); `None` means no upper bound. A job whose
    /// schedule has no tick left is marked done once its last execution finishes.
    pub end_at: Option<Timestamp>,
    /// Delete the job, history included, once it is done, instead of keeping it marked done.
    pub delete_after_run: bool,
    /// The zone whose wall-clock time the schedule matches; `None` means UTC.
    pub time_zone: Option<TimeZone>,
    /// The URL every attempt is sent to (`http://` or `https://`), or the message queue it is
    /// published to (`nats://`, `amqp://`, see [`QueueTarget`]). Its `Debug` form hides a
    /// password ([`redact_target_url`]).
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
    /// The job's own secrets for signing its requests and its alerts, in place of the
    /// transport's: none, or one or two ([`MAX_JOB_SIGNING_SECRETS`]), the first the current
    /// one. Each signs, so that a receiver may check either while a secret is rotated.
    /// Write-only for API clients.
    pub signing_secrets: Vec<Secret>,
    /// How far each scheduled tick may be moved later, at most
    /// [`MAX_TICK_JITTER`](crate::MAX_TICK_JITTER): each fires at a deterministic offset
    /// ([`tick_offset`](crate::tick_offset)) after its nominal instant, which stays its
    /// scheduled time. `None` takes the engine's
    /// [`default_tick_jitter`](crate::EngineConfig::default_tick_jitter) when the tick is
    /// dispatched; `Some(Duration::ZERO)` turns jitter off.
    pub tick_jitter: Option<Duration>,
    /// The job's own alert; `None` leaves its failures to the server-wide alert sink only.
    pub alert: Option<JobAlertSettings>,
}

/// The longest signing secret accepted, in bytes.
pub const MAX_SIGNING_SECRET_BYTES: usize = 256;

/// The most signing secrets a job may hold: the current one and, while it is rotated, the
/// previous one.
pub const MAX_JOB_SIGNING_SECRETS: usize = 2;

impl JobSpec {
    /// The attempt timeout of a spec that does not set one.
    pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

    /// A recurring spec with the defaults: POST, no headers or body,
    /// [`DEFAULT_ATTEMPT_TIMEOUT`](Self::DEFAULT_ATTEMPT_TIMEOUT), default retry, misfire and
    /// overlap policies, not paused, UTC, the engine's default tick jitter.
    pub fn new(
        schedule: Schedule,
        target_url: impl Into<String>,
        delivery: DeliveryType,
    ) -> JobSpec {
        JobSpec::with_timing(Timing::Cron(schedule), target_url, delivery)
    }

    /// A one-off spec that fires once, at `run_at`, with the defaults of [`JobSpec::new`].
    pub fn once(
        run_at: Timestamp,
        target_url: impl Into<String>,
        delivery: DeliveryType,
    ) -> JobSpec {
        JobSpec::with_timing(Timing::Once(run_at), target_url, delivery)
    }

    fn with_timing(
        schedule: Timing,
        target_url: impl Into<String>,
        delivery: DeliveryType,
    ) -> JobSpec {
        JobSpec {
            schedule,
            start_at: None,
            end_at: None,
            delete_after_run: false,
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
            signing_secrets: Vec::new(),
            tick_jitter: None,
            alert: None,
        }
    }

    /// Checks the parts the types do not: name, URL scheme, timeout, retry policy bounds, tick
    /// jitter bound, header names and values.
    pub fn validate(&self) -> Result<(), Error> {
        if let (Some(start), Some(end)) = (self.start_at, self.end_at)
            && end <= start
        {
            return Err(Error::invalid(
                JobField::EndAt,
                "must be later than startAt",
            ));
        }
        if let Timing::Once(_) = self.schedule
            && (self.start_at.is_some() || self.end_at.is_some())
        {
            let field = match self.start_at {
                Some(_) => JobField::StartAt,
                None => JobField::EndAt,
            };
            return Err(Error::invalid(
                field,
                "only bounds a recurring job (schedule), not a one-off job (runAt)",
            ));
        }
        if let Some(name) = &self.name
            && (name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control))
        {
            return Err(Error::invalid(
                JobField::Name,
                format!("must be at most {MAX_NAME_CHARS} characters, without control characters"),
            ));
        }
        check_url(&self.target_url, JobField::TargetUrl, "target URL")?;
        if let Some(alert) = &self.alert {
            check_url(&alert.webhook_url, JobField::AlertWebhookUrl, "webhook URL")?;
            if !(1..=MAX_ALERT_AFTER_FAILURES).contains(&alert.after_failures) {
                return Err(Error::invalid(
                    JobField::AlertAfterFailures,
                    format!("must be between 1 and {MAX_ALERT_AFTER_FAILURES}"),
                ));
            }
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
        if self
            .tick_jitter
            .is_some_and(|jitter| jitter > crate::MAX_TICK_JITTER)
        {
            return Err(Error::invalid(
                JobField::TickJitter,
                format!(
                    "must be at most {} ms (one hour)",
                    crate::MAX_TICK_JITTER.as_millis()
                ),
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
        if self.signing_secrets.len() > MAX_JOB_SIGNING_SECRETS {
            return Err(Error::invalid(
                JobField::SigningSecret,
                format!(
                    "at most {MAX_JOB_SIGNING_SECRETS} secrets (the current one and the previous one), found {}",
                    self.signing_secrets.len()
                ),
            ));
        }
        for secret in &self.signing_secrets {
            let secret = secret.expose();
            if secret.is_empty()
                || secret.len() > MAX_SIGNING_SECRET_BYTES
                || secret.chars().any(char::is_control)
            {
                return Err(Error::invalid(
                    JobField::SigningSecret,
                    format!(
                        "must be 1 to {MAX_SIGNING_SECRET_BYTES} bytes, without control characters"
                    ),
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

    /// The first tick strictly after `t`, in the job's zone and within its window; `None`
    /// when the schedule has ended (a one-off job: after its instant).
    pub fn next_fire_after(&self, t: Timestamp) -> Option<Timestamp> {
        let schedule = match &self.schedule {
            Timing::Once(at) => return (*at > t).then_some(*at),
            Timing::Cron(schedule) => schedule,
        };
        // Ticks before the window's start are not taken: look from just before it.
        let from = match self.start_at {
            Some(start) if start > t => time::sub(start, Duration::from_nanos(1)),
            _ => t,
        };
        let next = match &self.time_zone {
            None => schedule.next_after(from),
            Some(tz) => schedule.next_after_in(from, tz),
        }?;
        self.end_at.is_none_or(|end| next <= end).then_some(next)
    }

    /// The last tick strictly before `t`, in the job's zone and within its window.
    pub fn prev_fire_before(&self, t: Timestamp) -> Option<Timestamp> {
        let schedule = match &self.schedule {
            Timing::Once(at) => return (*at < t).then_some(*at),
            Timing::Cron(schedule) => schedule,
        };
        // Ticks after the window's end are not taken: look from just after it.
        let before = match self.end_at {
            Some(end) if end < t => time::add(end, Duration::from_nanos(1)),
            _ => t,
        };
        let prev = match &self.time_zone {
            None => schedule.prev_before(before),
            Some(tz) => schedule.prev_before_in(before, tz),
        }?;
        self.start_at
            .is_none_or(|start| prev >= start)
            .then_some(prev)
    }

    /// Whether `t` is a tick of this job: of its schedule, within its window.
    pub fn fires_at(&self, t: Timestamp) -> bool {
        let schedule = match &self.schedule {
            Timing::Once(at) => return *at == t,
            Timing::Cron(schedule) => schedule,
        };
        let within =
            self.start_at.is_none_or(|start| t >= start) && self.end_at.is_none_or(|end| t <= end);
        within
            && match &self.time_zone {
                None => schedule.matches(t),
                Some(tz) => schedule.matches_in(t, tz),
            }
    }

    /// The first tick at or after `t` (fire times are whole seconds; `t` may not be).
    pub fn next_fire_at_or_after(&self, t: Timestamp) -> Option<Timestamp> {
        self.next_fire_after(time::sub(t, Duration::from_nanos(1)))
    }

    /// Whether the job's ticks may come to an end: a one-off job, or a window with an end.
    /// A cron schedule alone is taken as endless (one whose fields allow no further tick is
    /// not marked done).
    pub fn may_end(&self) -> bool {
        matches!(self.schedule, Timing::Once(_)) || self.end_at.is_some()
    }

    /// Whether `other` fires at other instants than `self`: the parts that decide ticks.
    pub fn same_ticks_as(&self, other: &JobSpec) -> bool {
        self.schedule == other.schedule
            && self.time_zone == other.time_zone
            && self.start_at == other.start_at
            && self.end_at == other.end_at
    }
}

/// Headers a job may not set: the transport frames the request (`Host`, `Content-Length`,
/// `Transfer-Encoding`, and the hop-by-hop fields), so a job setting them could smuggle a
/// second request or reach another virtual host. Compared without regard to case.
pub const FORBIDDEN_JOB_HEADERS: &[&str] = &[
    "Host",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "TE",
    "Keep-Alive",
    "Upgrade",
    "Trailer",
    "Proxy-Connection",
];

/// The prefix of the headers the scheduler sets on every request (job id, execution id,
/// scheduled time, attempt, redelivery, signature); a job may not set any header with it, so
/// that a target can trust them. Compared without regard to case.
pub const RESERVED_HEADER_PREFIX: &str = "X-Scheduler-";

/// Whether a job may set the header `name`: not one of [`FORBIDDEN_JOB_HEADERS`] nor a name
/// starting with [`RESERVED_HEADER_PREFIX`].
pub fn is_job_header_allowed(name: &str) -> bool {
    let reserved = name.len() >= RESERVED_HEADER_PREFIX.len()
        && name.as_bytes()[..RESERVED_HEADER_PREFIX.len()]
            .eq_ignore_ascii_case(RESERVED_HEADER_PREFIX.as_bytes());
    !reserved
        && !FORBIDDEN_JOB_HEADERS
            .iter()
            .any(|forbidden| forbidden.eq_ignore_ascii_case(name))
}

/// A URL (a target's, or an alert's webhook, named `what` in messages and `field` in the
/// error) is `http://` or `https://`, then a host, with no user info (a password in a
/// URL ends up in logs and traces) and, if it names a port, a port from 1 to 65535.
///
/// For the target (`field` [`JobField::TargetUrl`]), a `nats://` or `amqp://` URL is a
/// message-queue target, read by [`QueueTarget::parse`] (user info allowed there: the password
/// is redacted wherever the URL is shown).
fn check_url(url: &str, field: JobField, what: &str) -> Result<(), Error> {
    let invalid = |reason: String| Error::invalid(field.clone(), reason);
    let queue_allowed = field == JobField::TargetUrl;
    let url = url.trim();
    if queue_allowed && let Some(queue_target) = QueueTarget::parse(url) {
        return queue_target.map(|_| ()).map_err(invalid);
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            invalid(if queue_allowed {
                format!("the {what} must start with http://, https://, nats:// or amqp://")
            } else {
                format!("the {what} must start with http:// or https://")
            })
        })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(invalid(format!(
            "the {what} must not contain user info (user:password@); send credentials in a header"
        )));
    }
    // The port follows the last colon, unless that colon is inside an IPv6 literal's brackets.
    let (host, port) = match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => {
            (&authority[..colon], Some(&authority[colon + 1..]))
        }
        _ => (authority, None),
    };
    if host.is_empty() || host == "[]" {
        return Err(invalid(format!("the {what} has no host")));
    }
    if host.starts_with('[') != host.ends_with(']') {
        return Err(invalid(format!(
            "the {what} has a malformed IPv6 address {host:?} (expected [address])"
        )));
    }
    if let Some(port) = port {
        match port.parse::<u32>() {
            Ok(1..=65_535) => {}
            _ if port.is_empty() => {}
            _ => {
                return Err(invalid(format!(
                    "port {port:?} of the {what} must be a number from 1 to 65535"
                )));
            }
        }
    }
    Ok(())
}

/// A header name must be an RFC 9110 token, and a value must hold no control character but
/// tab, so that no header can inject another line into the request. A job may not set the
/// headers that frame the request nor the scheduler's own (see [`is_job_header_allowed`]).
fn check_header(name: &str, value: &str) -> Result<(), Error> {
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(Error::invalid(
            JobField::Header(name.to_owned()),
            format!("invalid header name {name:?}"),
        ));
    }
    if !is_job_header_allowed(name) {
        return Err(Error::invalid(
            JobField::Header(name.to_owned()),
            format!(
                "header {name:?} is set by the scheduler, not by a job (refused: {}, and every {RESERVED_HEADER_PREFIX}* header)",
                FORBIDDEN_JOB_HEADERS.join(", ")
            ),
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
            .field("start_at", &self.start_at)
            .field("end_at", &self.end_at)
            .field("delete_after_run", &self.delete_after_run)
            .field("time_zone", &self.time_zone)
            .field("target_url", &redact_target_url(&self.target_url))
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
            .field("tick_jitter", &self.tick_jitter)
            .field("alert", &self.alert)
            .finish()
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeliveryType;

    /// Validates a spec with `url` and `headers`: `None` when it is accepted, else the error.
    fn check(url: &str, headers: &[(&str, &str)], expected_error: Option<&str>) {
        let mut spec = JobSpec::new(
            "0 * * * * *".parse().expect("schedule"),
            url,
            DeliveryType::AtLeastOnce,
        );
        spec.headers = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        let error = spec.validate().err().map(|e| e.to_string());
        match (expected_error, error) {
            (None, None) => {}
            (Some(expected), Some(error)) => {
                assert!(error.contains(expected), "{url} {headers:?}: {error}");
            }
            (expected, error) => panic!("{url} {headers:?}: expected {expected:?}, got {error:?}"),
        }
    }

    fn second(n: i64) -> Timestamp {
        Timestamp::from_second(1_767_225_600 + n).expect("a timestamp")
    }

    /// The ticks of `spec` from `from` on (strictly after), at most `n`.
    fn ticks_after(spec: &JobSpec, from: Timestamp, n: usize) -> Vec<Timestamp> {
        std::iter::successors(spec.next_fire_after(from), |t| spec.next_fire_after(*t))
            .take(n)
            .collect()
    }

    #[test]
    fn a_window_bounds_the_ticks_both_ways() {
        let mut spec = JobSpec::new(
            "*/10 * * * * *".parse().expect("schedule"),
            "http://example.com/",
            DeliveryType::AtLeastOnce,
        );
        spec.start_at = Some(second(25));
        spec.end_at = Some(second(50));
        let within = [second(30), second(40), second(50)];
        assert_eq!(ticks_after(&spec, second(0), 10), within);
        assert_eq!(ticks_after(&spec, second(30), 10), within[1..]);
        assert_eq!(spec.prev_fire_before(second(1_000)), Some(second(50)));
        assert_eq!(spec.prev_fire_before(second(30)), None);
        assert_eq!(spec.next_fire_at_or_after(second(50)), Some(second(50)));
        assert!(spec.fires_at(second(40)));
        assert!(!spec.fires_at(second(20)));
        assert!(!spec.fires_at(second(60)));
        assert!(spec.may_end());
        // Bounds on a tick are inclusive.
        spec.start_at = Some(second(30));
        assert_eq!(spec.next_fire_after(second(0)), Some(second(30)));
        spec.end_at = None;
        assert!(!spec.may_end());
        assert_eq!(ticks_after(&spec, second(50), 2), [second(60), second(70)]);
    }

    #[test]
    fn a_one_off_timing_has_one_tick() {
        let spec = JobSpec::once(second(42), "http://example.com/", DeliveryType::AtLeastOnce);
        assert_eq!(ticks_after(&spec, second(0), 5), [second(42)]);
        assert_eq!(spec.next_fire_after(second(42)), None);
        assert_eq!(spec.next_fire_at_or_after(second(42)), Some(second(42)));
        assert_eq!(spec.prev_fire_before(second(43)), Some(second(42)));
        assert_eq!(spec.prev_fire_before(second(42)), None);
        assert!(spec.fires_at(second(42)) && !spec.fires_at(second(43)));
        assert!(spec.may_end());
        assert_eq!(spec.schedule.run_at(), Some(second(42)));
        assert!(spec.schedule.cron().is_none());
    }

    #[test]
    fn window_and_one_off_rules() {
        let mut spec = JobSpec::new(
            "0 * * * * *".parse().expect("schedule"),
            "http://example.com/",
            DeliveryType::AtLeastOnce,
        );
        spec.start_at = Some(second(60));
        spec.end_at = Some(second(60));
        assert!(matches!(
            spec.validate(),
            Err(Error::Invalid {
                field: JobField::EndAt,
                ..
            })
        ));
        spec.end_at = Some(second(120));
        assert!(spec.validate().is_ok());
        let mut once = JobSpec::once(second(5), "http://example.com/", DeliveryType::AtLeastOnce);
        once.end_at = Some(second(10));
        assert!(matches!(
            once.validate(),
            Err(Error::Invalid {
                field: JobField::EndAt,
                ..
            })
        ));
        once.start_at = Some(second(1));
        assert!(matches!(
            once.validate(),
            Err(Error::Invalid {
                field: JobField::StartAt,
                ..
            })
        ));
    }

    #[test]
    fn target_urls() {
        check("http://example.com/hook", &[], None);
        check("https://example.com:8443/hook?a=b", &[], None);
        check("http://127.0.0.1:65535", &[], None);
        check("http://[::1]:8080/x", &[], None);
        check("http://[::1]/x", &[], None);
        check("http://example.com/a@b", &[], None);
        check("ftp://example.com", &[], Some("must start with http"));
        check("nats://127.0.0.1:4222/jobs.a", &[], None);
        check("nats://127.0.0.1:4222", &[], Some("needs a subject"));
        check("amqp://u:p@h:5672/%2f?exchange=x&routingKey=y", &[], None);
        check("http:///path", &[], Some("has no host"));
        check("http://", &[], Some("has no host"));
        check("http://user:pass@example.com/", &[], Some("user info"));
        check("http://user@example.com/", &[], Some("user info"));
        check("http://example.com:0/", &[], Some("port \"0\""));
        check("http://example.com:65536/", &[], Some("port \"65536\""));
        check(
            "http://example.com:99999999999/",
            &[],
            Some("from 1 to 65535"),
        );
        check("http://[::1]:0/", &[], Some("port \"0\""));
        check("http://example.com:http/", &[], Some("from 1 to 65535"));
        check("http://[::1]*", &[], Some("malformed IPv6 address"));
        check("http://[::1]x/", &[], Some("malformed IPv6 address"));
        check("http://::1]/", &[], Some("malformed IPv6 address"));
    }

    #[test]
    fn job_headers() {
        let url = "http://example.com/";
        check(url, &[("Authorization", "Bearer x")], None);
        check(url, &[("X-Schedule", "x")], None);
        for name in [
            "Host",
            "host",
            "Content-Length",
            "transfer-encoding",
            "Connection",
            "TE",
            "te",
            "Keep-Alive",
            "Upgrade",
            "X-Scheduler-Job-Id",
            "x-scheduler-signature",
            "X-Scheduler-Anything",
        ] {
            check(
                url,
                &[(name, "x")],
                Some(&format!("header {name:?} is set by the scheduler")),
            );
        }
    }
}
