//! Job requests: JSON read into core's `JobSpec`, field by field.
//!
//! Requests are read from a `serde_json::Value` by hand rather than derived, so that every
//! error names the exact field (`retry.maxAttempts`) and says what was expected, and so that an
//! unknown field (a typo such as `timeZone`) is an error instead of being silently ignored.
//! The rules that are about jobs rather than JSON live in core's [`JobSpec::validate`].

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::Uri;
use scheduler_core::{
    DeliveryType, ExecutionStatus, HttpMethod, JobAlertSettings, JobSpec, MAX_ALERT_AFTER_FAILURES,
    MAX_JOB_SIGNING_SECRETS, MisfirePolicy, OverlapPolicy, RetryPolicy, Schedule, Secret, TimeZone,
    Timestamp, Timing,
};
use serde_json::{Map, Value};

use crate::JobDefaults;
use crate::error::ApiError;

/// The longest target URL accepted.
pub(crate) const MAX_URL_LENGTH: usize = 2_048;
/// The longest attempt timeout accepted: one day.
pub(crate) const MAX_TIMEOUT_MS: u64 = 86_400_000;
/// The most attempts a retry policy may ask for.
pub(crate) const MAX_ATTEMPTS: u64 = 100;
/// The most missed ticks a catch-up misfire policy may fire.
pub(crate) const MAX_CATCH_UP: u64 = 1_000;

/// The fields a job request may have.
const JOB_FIELDS: &[&str] = &[
    "schedule",
    "runAt",
    "startAt",
    "endAt",
    "deleteAfterRun",
    "api",
    "type",
    "timezone",
    "method",
    "headers",
    "secretHeaders",
    "body",
    "timeoutMs",
    "retry",
    "misfire",
    "overlap",
    "paused",
    "name",
    "signingSecret",
    "jitterMs",
    "alert",
];
/// Read-only fields of the job JSON: what the server assigns or computes. A `PUT` accepts them
/// (so that a client can send back what it read) and ignores them (`jobId` must match the path,
/// `version` is the expected version); a creation refuses them. `scheduler jobs export` drops
/// them, so that what it writes can be created again.
pub const JOB_READ_ONLY_FIELDS: &[&str] = &[
    "jobId",
    "version",
    "createdAt",
    "updatedAt",
    "nextFireTimes",
    "stats",
    "hasSigningSecret",
    "signingSecretCount",
    "done",
    "doneAt",
];
const RETRY_FIELDS: &[&str] = &[
    "maxAttempts",
    "initialBackoffMs",
    "maxBackoffMs",
    "multiplier",
    "jitter",
];
const MISFIRE_FIELDS: &[&str] = &["policy", "max"];
const ALERT_FIELDS: &[&str] = &["webhookUrl", "afterFailures", "onRecovery"];

/// A job request read from JSON: the spec, and for a `PUT` what the read-only fields said.
pub(crate) struct JobRequest {
    pub(crate) spec: JobSpec,
    pub(crate) job_id: Option<String>,
    pub(crate) version: Option<u64>,
    /// Whether the request has a `signingSecret` field (a string, an array of one or two
    /// strings, or `null` to remove the secrets): a `PUT` without one keeps the job's secrets,
    /// which clients cannot read back.
    pub(crate) signing_secret_given: bool,
}

/// Whether the request creates (`POST`) or replaces (`PUT`) a job.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobRequestKind {
    Create,
    Replace,
}

/// Reads a job request body into a spec, checking every field.
pub(crate) fn parse_job_request(
    body: &Value,
    kind: JobRequestKind,
    defaults: &JobDefaults,
) -> Result<JobRequest, ApiError> {
    let object = body.as_object().ok_or_else(|| ApiError::MalformedJson {
        message: format!("expected a JSON object, found {}", json_type(body)),
    })?;
    for key in object.keys() {
        let known = JOB_FIELDS.contains(&key.as_str())
            || (kind == JobRequestKind::Replace && JOB_READ_ONLY_FIELDS.contains(&key.as_str()));
        if !known {
            let hint = match key.as_str() {
                "jobId" | "version" | "createdAt" | "updatedAt" | "nextFireTimes" | "stats"
                | "hasSigningSecret" | "signingSecretCount" | "done" | "doneAt" => {
                    " (read-only: assigned by the server)".to_owned()
                }
                _ => format!(" (expected one of {})", JOB_FIELDS.join(", ")),
            };
            return Err(ApiError::invalid(
                key.as_str(),
                format!("unknown field{hint}"),
            ));
        }
    }
    let fields = Fields { object, prefix: "" };

    let schedule = match (
        fields.optional_str("schedule")?,
        fields.optional_str("runAt")?,
    ) {
        (Some(text), None) => Timing::Cron(
            Schedule::parse(text)
                .map_err(|error| ApiError::invalid("schedule", error.to_string()))?,
        ),
        (None, Some(text)) => Timing::Once(parse_instant(text, "runAt")?),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "runAt",
                "give either schedule (a recurring job) or runAt (a one-off job), not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "schedule",
                "required (or runAt, for a one-off job)",
            ));
        }
    };
    let api = fields.required_str("api")?;
    check_target_url(api, "api")?;
    let delivery = parse_delivery(fields.required_str("type")?, "type")?;

    let mut spec = match schedule {
        Timing::Cron(schedule) => JobSpec::new(schedule, api.trim(), delivery),
        Timing::Once(run_at) => JobSpec::once(run_at, api.trim(), delivery),
    };
    spec.attempt_timeout = defaults.attempt_timeout;
    spec.retry = defaults.retry.clone();
    if let Some(zone) = fields.optional_str("timezone")? {
        spec.time_zone = Some(parse_time_zone(zone, "timezone")?);
    }
    if let Some(method) = fields.optional_str("method")? {
        spec.method = method.parse::<HttpMethod>().map_err(|_| {
            ApiError::invalid(
                "method",
                format!("unsupported method {method:?} (expected GET, POST, PUT, PATCH or DELETE)"),
            )
        })?;
    }
    if let Some(headers) = fields.optional("headers") {
        spec.headers = parse_headers(headers)?;
    }
    if let Some(secret) = fields.optional("secretHeaders") {
        spec.secret_headers = parse_secret_headers(secret, &spec.headers)?;
    }
    if let Some(body) = fields.optional_str("body")? {
        spec.body = Some(Arc::from(body.as_bytes()));
    }
    if let Some(timeout) = fields.optional_u64("timeoutMs", 1, MAX_TIMEOUT_MS)? {
        spec.attempt_timeout = Duration::from_millis(timeout);
    }
    if let Some(retry) = fields.optional("retry") {
        spec.retry = parse_retry(retry, &defaults.retry)?;
    }
    if let Some(misfire) = fields.optional("misfire") {
        spec.misfire = parse_misfire(misfire)?;
    }
    if let Some(overlap) = fields.optional_str("overlap")? {
        spec.overlap = match overlap {
            "ALLOW" => OverlapPolicy::Allow,
            "SKIP_WHILE_RUNNING" => OverlapPolicy::SkipWhileRunning,
            "BUFFER_ONE" => OverlapPolicy::BufferOne,
            other => {
                return Err(ApiError::invalid(
                    "overlap",
                    format!(
                        "unknown overlap policy {other:?} (expected ALLOW, SKIP_WHILE_RUNNING or BUFFER_ONE)"
                    ),
                ));
            }
        };
    }
    if let Some(start) = fields.optional_str("startAt")? {
        spec.start_at = Some(parse_instant(start, "startAt")?);
    }
    if let Some(end) = fields.optional_str("endAt")? {
        spec.end_at = Some(parse_instant(end, "endAt")?);
    }
    if let Some(delete) = fields.optional_bool("deleteAfterRun")? {
        spec.delete_after_run = delete;
    }
    if let Some(paused) = fields.optional_bool("paused")? {
        spec.paused = paused;
    }
    if let Some(name) = fields.optional_str("name")? {
        spec.name = Some(name.to_owned());
    }
    if let Some(jitter) = fields.optional_u64(
        "jitterMs",
        0,
        scheduler_core::MAX_TICK_JITTER.as_millis() as u64,
    )? {
        spec.tick_jitter = Some(Duration::from_millis(jitter));
    }
    if let Some(alert) = fields.optional("alert") {
        spec.alert = Some(parse_alert(alert)?);
    }
    let signing_secret_given = object.contains_key("signingSecret");
    if let Some(secrets) = fields.optional("signingSecret") {
        spec.signing_secrets = parse_signing_secrets(secrets)?;
    }
    // Core's rules (header names and values among them), checked before anything reaches the
    // engine; the error conversion names core's fields as the JSON does.
    spec.validate().map_err(ApiError::from)?;

    let (job_id, version) = match kind {
        JobRequestKind::Create => (None, None),
        JobRequestKind::Replace => (
            fields.optional_str("jobId")?.map(str::to_owned),
            fields.optional_u64("version", 1, u64::MAX)?,
        ),
    };
    Ok(JobRequest {
        spec,
        job_id,
        version,
        signing_secret_given,
    })
}

/// Reads `signingSecret`: one secret as a string, or the current and the previous one (while
/// the secret is rotated) as an array of one or two strings. Core checks each secret's text.
fn parse_signing_secrets(value: &Value) -> Result<Vec<Secret>, ApiError> {
    let invalid = |reason: String| ApiError::invalid("signingSecret", reason);
    let items = match value {
        Value::String(secret) => return Ok(vec![Secret::new(secret.as_str())]),
        Value::Array(items) => items,
        other => {
            return Err(invalid(format!(
                "expected a string or an array of one or two strings, found {}",
                json_type(other)
            )));
        }
    };
    if !(1..=MAX_JOB_SIGNING_SECRETS).contains(&items.len()) {
        return Err(invalid(format!(
            "expected one or two secrets (the current one, then the previous one while it is \
             rotated), found {}",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(secret) => Ok(Secret::new(secret.as_str())),
            other => Err(invalid(format!(
                "item {index}: expected a string, found {}",
                json_type(other)
            ))),
        })
        .collect()
}

/// Reads an RFC 3339 instant (`2030-01-01T09:00:00Z`, any offset), kept to the millisecond as
/// every stored instant is.
pub(crate) fn parse_instant(text: &str, field: &str) -> Result<Timestamp, ApiError> {
    let invalid = |reason: String| ApiError::invalid(field, reason);
    let instant = text.trim().parse::<Timestamp>().map_err(|error| {
        invalid(format!(
            "expected an RFC 3339 instant such as 2030-01-01T09:00:00Z, found {text:?} ({error})"
        ))
    })?;
    Timestamp::from_millisecond(instant.as_millisecond())
        .map_err(|error| invalid(format!("out of range: {error}")))
}

/// Reads a delivery type: `ATLEAST_ONCE` (canonical) or `AT_LEAST_ONCE`, `ATMOST_ONCE` or
/// `AT_MOST_ONCE`.
pub(crate) fn parse_delivery(text: &str, field: &str) -> Result<DeliveryType, ApiError> {
    match text {
        "ATLEAST_ONCE" | "AT_LEAST_ONCE" => Ok(DeliveryType::AtLeastOnce),
        "ATMOST_ONCE" | "AT_MOST_ONCE" => Ok(DeliveryType::AtMostOnce),
        other => Err(ApiError::invalid(
            field,
            format!("unknown delivery type {other:?} (expected ATLEAST_ONCE or ATMOST_ONCE)"),
        )),
    }
}

/// Reads an execution status filter (case-insensitive).
pub(crate) fn parse_status(text: &str, field: &str) -> Result<ExecutionStatus, ApiError> {
    text.to_ascii_uppercase().parse::<ExecutionStatus>().map_err(|_| {
        ApiError::invalid(
            field,
            format!(
                "unknown status {text:?} (expected PENDING, RUNNING, SUCCEEDED, FAILED, ABANDONED or SKIPPED)"
            ),
        )
    })
}

pub(crate) fn parse_time_zone(name: &str, field: &str) -> Result<TimeZone, ApiError> {
    if name.is_empty() {
        return Err(ApiError::invalid(field, "empty time zone name"));
    }
    TimeZone::get(name).map_err(|_| {
        ApiError::invalid(
            field,
            format!(
                "unknown time zone {name:?} (expected an IANA name such as Europe/Berlin or UTC)"
            ),
        )
    })
}

/// A target (or a job's alert webhook, named `field`) must be an absolute `http` or `https`
/// URL with a host; the target (`api`) may also be a message-queue target (`nats://`,
/// `amqp://`).
fn check_target_url(url: &str, field: &str) -> Result<(), ApiError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(ApiError::invalid(field, "empty URL"));
    }
    if url.len() > MAX_URL_LENGTH {
        return Err(ApiError::invalid(
            field,
            format!("the URL is longer than {MAX_URL_LENGTH} characters"),
        ));
    }
    // `nats://` and `amqp://`: a message-queue target, read by core.
    if field == "api"
        && let Some(target) = scheduler_core::QueueTarget::parse(url)
    {
        return target
            .map(|_| ())
            .map_err(|reason| ApiError::invalid("api", reason));
    }
    let uri: Uri = url
        .parse()
        .map_err(|error| ApiError::invalid(field, format!("not a valid URL {url:?}: {error}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(ApiError::invalid(
                field,
                if field == "api" {
                    format!("unsupported URL scheme {other:?} (expected http, https, nats or amqp)")
                } else {
                    format!("unsupported URL scheme {other:?} (expected http or https)")
                },
            ));
        }
        None => {
            return Err(ApiError::invalid(
                field,
                format!("{url:?} is not an absolute URL (expected http:// or https:// and a host)"),
            ));
        }
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(()),
        _ => Err(ApiError::invalid(
            field,
            format!("the URL {url:?} has no host"),
        )),
    }
}

/// Reads the header object; core's [`JobSpec::validate`] checks the names and values.
fn parse_headers(value: &Value) -> Result<Vec<(String, String)>, ApiError> {
    let object = value.as_object().ok_or_else(|| {
        ApiError::invalid(
            "headers",
            format!(
                "expected an object of header names to values, found {}",
                json_type(value)
            ),
        )
    })?;
    let mut headers = Vec::with_capacity(object.len());
    for (name, value) in object {
        let text = value.as_str().ok_or_else(|| {
            ApiError::invalid(
                format!("headers.{name}"),
                format!("expected a string, found {}", json_type(value)),
            )
        })?;
        headers.push((name.clone(), text.to_owned()));
    }
    Ok(headers)
}

/// Reads `secretHeaders`: names of headers in `headers`, each taken in the spelling `headers`
/// has (so the stored list matches what the job sends).
fn parse_secret_headers(
    value: &Value,
    headers: &[(String, String)],
) -> Result<Vec<String>, ApiError> {
    let items = value.as_array().ok_or_else(|| {
        ApiError::invalid(
            "secretHeaders",
            format!(
                "expected an array of header names, found {}",
                json_type(value)
            ),
        )
    })?;
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let name = item.as_str().ok_or_else(|| {
            ApiError::invalid(
                format!("secretHeaders[{index}]"),
                format!("expected a header name, found {}", json_type(item)),
            )
        })?;
        let header = headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                ApiError::invalid(
                    format!("secretHeaders[{index}]"),
                    format!("{name:?} names no header in headers"),
                )
            })?;
        if !names
            .iter()
            .any(|known| known.eq_ignore_ascii_case(&header.0))
        {
            names.push(header.0.clone());
        }
    }
    Ok(names)
}

fn parse_retry(value: &Value, defaults: &RetryPolicy) -> Result<RetryPolicy, ApiError> {
    let fields = Fields::nested(value, "retry", RETRY_FIELDS)?;
    let mut retry = defaults.clone();
    if let Some(max_attempts) = fields.optional_u64("maxAttempts", 1, MAX_ATTEMPTS)? {
        retry.max_attempts = max_attempts as u32;
    }
    if let Some(initial) = fields.optional_u64("initialBackoffMs", 0, MAX_TIMEOUT_MS)? {
        retry.initial_backoff = Duration::from_millis(initial);
    }
    if let Some(max) = fields.optional_u64("maxBackoffMs", 0, MAX_TIMEOUT_MS)? {
        retry.max_backoff = Duration::from_millis(max);
    }
    if let Some(multiplier) = fields.optional_f64("multiplier")? {
        if !(1.0..=100.0).contains(&multiplier) {
            return Err(ApiError::invalid(
                "retry.multiplier",
                "must be between 1 and 100",
            ));
        }
        retry.multiplier = multiplier;
    }
    if let Some(jitter) = fields.optional_f64("jitter")? {
        if !(0.0..=1.0).contains(&jitter) {
            return Err(ApiError::invalid("retry.jitter", "must be between 0 and 1"));
        }
        retry.jitter = jitter;
    }
    if retry.initial_backoff > retry.max_backoff {
        return Err(ApiError::invalid(
            "retry.initialBackoffMs",
            "must not be greater than retry.maxBackoffMs",
        ));
    }
    Ok(retry)
}

/// Reads `alert`: `webhookUrl` (required), `afterFailures` (default 1), `onRecovery` (default
/// false).
fn parse_alert(value: &Value) -> Result<JobAlertSettings, ApiError> {
    let fields = Fields::nested(value, "alert", ALERT_FIELDS)?;
    let url = fields.required_str("webhookUrl")?;
    check_target_url(url, "alert.webhookUrl")?;
    let mut alert = JobAlertSettings::new(url.trim());
    if let Some(after) =
        fields.optional_u64("afterFailures", 1, u64::from(MAX_ALERT_AFTER_FAILURES))?
    {
        alert.after_failures = after as u32;
    }
    if let Some(on_recovery) = fields.optional_bool("onRecovery")? {
        alert.on_recovery = on_recovery;
    }
    Ok(alert)
}

fn parse_misfire(value: &Value) -> Result<MisfirePolicy, ApiError> {
    let fields = Fields::nested(value, "misfire", MISFIRE_FIELDS)?;
    let policy = fields.required_str("policy")?;
    let max = fields.optional_u64("max", 1, MAX_CATCH_UP)?;
    match (policy, max) {
        ("FIRE_ONCE_NOW", None) => Ok(MisfirePolicy::FireOnceNow),
        ("SKIP_TO_NEXT", None) => Ok(MisfirePolicy::SkipToNext),
        ("CATCH_UP", Some(max)) => Ok(MisfirePolicy::CatchUp { max: max as u32 }),
        ("CATCH_UP", None) => Err(ApiError::invalid(
            "misfire.max",
            "required with policy CATCH_UP",
        )),
        ("FIRE_ONCE_NOW" | "SKIP_TO_NEXT", Some(_)) => Err(ApiError::invalid(
            "misfire.max",
            "only allowed with policy CATCH_UP",
        )),
        (other, _) => Err(ApiError::invalid(
            "misfire.policy",
            format!(
                "unknown misfire policy {other:?} (expected FIRE_ONCE_NOW, SKIP_TO_NEXT or CATCH_UP)"
            ),
        )),
    }
}

/// Typed access to the fields of one JSON object, with errors that name `prefix.field`.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    prefix: &'static str,
}

impl<'a> Fields<'a> {
    /// The object at `name`, which may only have `known` fields.
    fn nested(
        value: &'a Value,
        name: &'static str,
        known: &[&str],
    ) -> Result<Fields<'a>, ApiError> {
        let object = value.as_object().ok_or_else(|| {
            ApiError::invalid(
                name,
                format!("expected an object, found {}", json_type(value)),
            )
        })?;
        if let Some(unknown) = object.keys().find(|key| !known.contains(&key.as_str())) {
            return Err(ApiError::invalid(
                format!("{name}.{unknown}"),
                format!("unknown field (expected one of {})", known.join(", ")),
            ));
        }
        Ok(Fields {
            object,
            prefix: name,
        })
    }

    fn name(&self, field: &str) -> String {
        if self.prefix.is_empty() {
            field.to_owned()
        } else {
            format!("{}.{field}", self.prefix)
        }
    }

    /// The field's value; a JSON `null` counts as absent.
    fn optional(&self, field: &str) -> Option<&'a Value> {
        self.object.get(field).filter(|value| !value.is_null())
    }

    fn required_str(&self, field: &str) -> Result<&'a str, ApiError> {
        self.optional_str(field)?
            .ok_or_else(|| ApiError::invalid(self.name(field), "required"))
    }

    fn optional_str(&self, field: &str) -> Result<Option<&'a str>, ApiError> {
        match self.optional(field) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(ApiError::invalid(
                self.name(field),
                format!("expected a string, found {}", json_type(other)),
            )),
        }
    }

    fn optional_bool(&self, field: &str) -> Result<Option<bool>, ApiError> {
        match self.optional(field) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(other) => Err(ApiError::invalid(
                self.name(field),
                format!("expected true or false, found {}", json_type(other)),
            )),
        }
    }

    fn optional_u64(&self, field: &str, min: u64, max: u64) -> Result<Option<u64>, ApiError> {
        let Some(value) = self.optional(field) else {
            return Ok(None);
        };
        let number = whole_number(value).ok_or_else(|| {
            ApiError::invalid(
                self.name(field),
                format!("expected a whole number, found {}", json_type(value)),
            )
        })?;
        if !(min..=max).contains(&number) {
            return Err(ApiError::invalid(
                self.name(field),
                format!("must be between {min} and {max}, found {number}"),
            ));
        }
        Ok(Some(number))
    }

    fn optional_f64(&self, field: &str) -> Result<Option<f64>, ApiError> {
        match self.optional(field) {
            None => Ok(None),
            Some(value) => value.as_f64().map(Some).ok_or_else(|| {
                ApiError::invalid(
                    self.name(field),
                    format!("expected a number, found {}", json_type(value)),
                )
            }),
        }
    }
}

/// The value as a whole number: an integer, or a number with no fraction (`5.0`), which JSON
/// Schema counts as an integer too, up to 2^53 (beyond it a float is not exact).
fn whole_number(value: &Value) -> Option<u64> {
    const LARGEST_EXACT: f64 = 9_007_199_254_740_992.0;
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|number| number.fract() == 0.0 && (0.0..=LARGEST_EXACT).contains(number))
            .map(|number| number as u64)
    })
}

/// How a JSON value is named in messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(number) if number.is_u64() || number.is_i64() => "a whole number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
