//! What a client asks for: a job's spec, its validation, and the fields errors name.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cron_expr::{Schedule, TimeZone, Timestamp};

use crate::error::Error;
use crate::time;

use super::queue_target::{QueueTarget, redact_target_url};
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
    /// [`JobSpec::signing_secret`].
    SigningSecret,
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
            JobField::SigningSecret => "signing secret",
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
    /// The job's own secret for signing its requests, in place of the transport's; write-only
    /// for API clients.
    pub signing_secret: Option<Secret>,
}

/// The longest signing secret accepted, in bytes.
pub const MAX_SIGNING_SECRET_BYTES: usize = 256;

/// A secret text: its `Debug` form does not show it, so that a job logged with `{:?}` leaks
/// nothing. Compare and store it as any string; show it to no one.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<Arc<str>>) -> Secret {
        Secret(text.into())
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
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
            signing_secret: None,
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
        check_target_url(&self.target_url)?;
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
        if let Some(secret) = &self.signing_secret {
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

/// A target URL is `http://` or `https://`, then a host, with no user info (a password in a
/// URL ends up in logs and traces) and, if it names a port, a port from 1 to 65535.
///
/// A `nats://` or `amqp://` URL is a message-queue target, read by [`QueueTarget::parse`]
/// (user info allowed there: the password is redacted wherever the URL is shown).
fn check_target_url(url: &str) -> Result<(), Error> {
    let invalid = |reason: String| Error::invalid(JobField::TargetUrl, reason);
    let url = url.trim();
    if let Some(queue_target) = QueueTarget::parse(url) {
        return queue_target.map(|_| ()).map_err(invalid);
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            invalid(
                "the target URL must start with http://, https://, nats:// or amqp://".to_owned(),
            )
        })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(invalid(
            "the target URL must not contain user info (user:password@); send credentials in a header"
                .to_owned(),
        ));
    }
    // The port follows the last colon, unless that colon is inside an IPv6 literal's brackets.
    let (host, port) = match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => {
            (&authority[..colon], Some(&authority[colon + 1..]))
        }
        _ => (authority, None),
    };
    if host.is_empty() || host == "[]" {
        return Err(invalid("the target URL has no host".to_owned()));
    }
    if let Some(port) = port {
        match port.parse::<u32>() {
            Ok(1..=65_535) => {}
            _ if port.is_empty() => {}
            _ => {
                return Err(invalid(format!(
                    "port {port:?} of the target URL must be a number from 1 to 65535"
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
