//! The document's component schemas: the job a client sends (create, replace) with every
//! rule the server checks that JSON Schema can state, and the bodies the API answers with.

use scheduler_core::{
    ALWAYS_SECRET_HEADERS, FORBIDDEN_JOB_HEADERS, JobAlertSettings, JobSpec,
    MAX_ALERT_AFTER_FAILURES, MAX_JOB_SIGNING_SECRETS, MAX_NAME_CHARS, MAX_SIGNING_SECRET_BYTES,
    RESERVED_HEADER_PREFIX, RetryPolicy,
};
use serde_json::{Value, json};

use crate::dto::{
    MAX_ATTEMPTS, MAX_CATCH_UP, MAX_TIMEOUT_MS, MAX_URL_LENGTH, NEXT_FIRE_TIMES, REDACTED, millis,
};

/// An RFC 9110 token: what a header name may be.
const HEADER_NAME_PATTERN: &str = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
/// A header value: no control characters but tab.
const HEADER_VALUE_PATTERN: &str = "^[^\\x00-\\x08\\x0a-\\x1f\\x7f]*$";
/// Text without control characters (Unicode's Cc: what `char::is_control` finds).
const NO_CONTROL_PATTERN: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*$";

/// The host of a target URL: an IPv6 address in brackets (eight groups, or at most three on
/// each side of `::`), or a name or IPv4 address, without user info or percent-encoding.
const URL_HOST: &str = "(\\[([0-9A-Fa-f]{1,4}(:[0-9A-Fa-f]{1,4}){7}|([0-9A-Fa-f]{1,4}(:[0-9A-Fa-f]{1,4}){0,2})?::([0-9A-Fa-f]{1,4}(:[0-9A-Fa-f]{1,4}){0,2})?)\\]|[A-Za-z0-9._~!$&'()*+,;=-]+)";
/// A port from 1 to 65535, written without leading zeros.
const URL_PORT: &str =
    "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";
/// The path and query of an `http(s)` URL: the characters a request target may hold unescaped.
const URL_PATH_AND_QUERY: &str = "(/[\\x21\\x24-\\x3b\\x3d\\x40-\\x5b\\x5d\\x5f\\x61-\\x7a\\x7e]*)?(\\?[\\x21\\x24-\\x3b\\x3d\\x3f-\\x5b\\x5d\\x5f\\x61-\\x7a\\x7e]*)?";
/// A queue URL's user, and its password as a create takes it: not `***`, which stands for a
/// stored password.
const QUEUE_USER: &str = "[A-Za-z0-9._~-]+";
/// A queue URL's password as a replace takes it: also `***`, which keeps the stored password.
const QUEUE_PASSWORD_OR_PLACEHOLDER: &str = "([A-Za-z0-9._~-]+|\\*\\*\\*)";
/// A NATS subject token: not a wildcard (`*` or `>` alone), and short enough that a subject of
/// four tokens stays within the broker name limit (255 bytes).
const NATS_TOKEN: &str = "[A-Za-z0-9_~-][A-Za-z0-9_~*>-]{0,62}";
/// An AMQP virtual host, exchange or routing key: at most the broker name limit (255 bytes).
const AMQP_NAME: &str = "[A-Za-z0-9._~*-]{1,255}";

/// An `http://` or `https://` URL with a host, no user info, and if it has a port, one from 1
/// to 65535.
pub(super) fn http_url_pattern() -> String {
    format!("^https?://{URL_HOST}(:{URL_PORT})?{URL_PATH_AND_QUERY}$")
}

/// What `api` takes in a create: an `http(s)` URL as [`http_url_pattern`], or a NATS or AMQP
/// target.
pub(super) fn target_url_pattern() -> String {
    target_url_pattern_with_password(QUEUE_USER)
}

/// What `api` takes in a replace: as [`target_url_pattern`], and a queue password may be `***`.
pub(super) fn replace_target_url_pattern() -> String {
    target_url_pattern_with_password(QUEUE_PASSWORD_OR_PLACEHOLDER)
}

fn target_url_pattern_with_password(password: &str) -> String {
    let http = format!("https?://{URL_HOST}(:{URL_PORT})?{URL_PATH_AND_QUERY}");
    let server = format!("({QUEUE_USER}(:{password})?@)?{URL_HOST}(:{URL_PORT})?");
    let nats = format!("nats://{server}/{NATS_TOKEN}(\\.{NATS_TOKEN}){{0,3}}");
    let amqp = format!(
        "amqp://{server}(/{AMQP_NAME})?\\?(exchange={AMQP_NAME}(&routingKey={AMQP_NAME})?|routingKey={AMQP_NAME})"
    );
    format!("^({http}|{nats}|{amqp})$")
}

/// `name` matched without regard to ASCII case, for a JSON Schema pattern (ECMA 262 has no
/// case-insensitive flag inside a pattern): `Host` becomes `[Hh][Oo][Ss][Tt]`.
fn any_case(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
            } else if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// One of `names`, in any case, as a whole-string pattern.
pub(super) fn any_case_choice(names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|name| any_case(name)).collect();
    format!("^({})$", names.join("|"))
}

/// The header names a job may not set: [`FORBIDDEN_JOB_HEADERS`] and every name that starts
/// with [`RESERVED_HEADER_PREFIX`], in any case.
pub(super) fn forbidden_header_pattern() -> String {
    let names: Vec<String> = FORBIDDEN_JOB_HEADERS
        .iter()
        .map(|name| any_case(name))
        .collect();
    format!(
        "^(({})$|{})",
        names.join("|"),
        any_case(RESERVED_HEADER_PREFIX)
    )
}

/// The names of [`ALWAYS_SECRET_HEADERS`], in any case.
fn always_secret_header_pattern() -> String {
    any_case_choice(ALWAYS_SECRET_HEADERS)
}

/// `jitterMs`, as requests and jobs describe it.
const JITTER_DESCRIPTION: &str = "Spreads the job's ticks: each fires at a deterministic offset in [0, jitterMs) after its nominal tick, and before the job's next tick (docs/API.md gives the function). X-Scheduler-Scheduled-Time and scheduledTime keep the nominal tick. null or absent takes the server's --default-jitter-ms (applied when ticks are planned); 0 turns jitter off.";

/// The largest `jitterMs`.
const MAX_TICK_JITTER_MS: u64 = scheduler_core::MAX_TICK_JITTER.as_secs() * 1_000;

/// The settings a client sends, shared by create and replace.
fn job_settings() -> serde_json::Map<String, Value> {
    let timeout = format!(
        "Timeout of one attempt (default {}).",
        JobSpec::DEFAULT_ATTEMPT_TIMEOUT.as_millis()
    );
    let forbidden_headers_description = format!(
        "Extra request headers, name to value (their order is not kept). A job may not set {} nor any {RESERVED_HEADER_PREFIX}* header (in any case): the scheduler sets those. The values of {} and of the headers named in secretHeaders are write-only: answers show them as \"{REDACTED}\", and a create that sends \"{REDACTED}\" as such a value is refused (a PUT keeps the stored value).",
        FORBIDDEN_JOB_HEADERS.join(", "),
        ALWAYS_SECRET_HEADERS.join(", ")
    );
    let settings = json!({
        "schedule": {"type": ["string", "null"], "minLength": 1, "pattern": "\\S", "description": "A cron expression with a seconds field: second minute hour day-of-month month day-of-week [year], e.g. \"31 10-15 1 * * MON-FRI\"; 5 fields mean second 0. Exactly one of schedule and runAt. The server parses it (GET /api/cron/explain shows how) and refuses, naming the cron field and column, an expression that is not valid or has no fire time after now (and before endAt)."},
        "runAt": {"type": ["string", "null"], "format": "date-time", "description": "A one-off job: the RFC 3339 instant it fires at, once (kept to the millisecond). Exactly one of schedule and runAt. Refused if more than the misfire threshold (10 s) in the past."},
        "startAt": {"type": ["string", "null"], "format": "date-time", "description": "Recurring jobs only (absent or null with runAt): no tick before this instant."},
        "endAt": {"type": ["string", "null"], "format": "date-time", "description": "Recurring jobs only (absent or null with runAt): no tick after this instant; later than startAt, and the schedule must have a fire time between now (or startAt) and endAt. A job past it is marked done."},
        "deleteAfterRun": {"type": ["boolean", "null"], "description": "Delete the job, history included, once it is done, instead of keeping it marked done (default false)."},
        "api": {"type": "string", "minLength": 1, "maxLength": MAX_URL_LENGTH, "pattern": target_url_pattern(), "description": "The target: an absolute http:// or https:// URL with a host, without user info (send credentials in a header), with a port from 1 to 65535 if any; or a message queue: nats://host:port/<subject> (NATS), amqp://user:password@host:port/vhost?exchange=X&routingKey=Y (RabbitMQ; an exchange, a routing key or both). The pattern states the common form; the server also takes percent-encoded queue names and user info. A password in a queue URL is shown back as ***; sending *** back in a PUT keeps the stored one, and a create with *** is refused. The server's target policy (--deny-target, --allow-target, --deny-private-targets; link-local and metadata addresses by default) and its own API address are refused too (400)."},
        "type": {"$ref": "#/components/schemas/DeliveryTypeInput"},
        "timezone": {"type": ["string", "null"], "minLength": 1, "description": "The IANA zone whose wall-clock time the schedule matches (default UTC)."},
        "method": {"anyOf": [{"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", null]}, {"type": "string", "pattern": any_case_choice(&["GET", "POST", "PUT", "PATCH", "DELETE"])}], "description": "GET, POST, PUT, PATCH or DELETE, in any case (default POST)."},
        "headers": {"type": ["object", "null"], "propertyNames": {"pattern": HEADER_NAME_PATTERN, "not": {"pattern": forbidden_header_pattern()}}, "additionalProperties": {"type": "string", "pattern": HEADER_VALUE_PATTERN}, "description": forbidden_headers_description},
        "secretHeaders": {"type": ["array", "null"], "items": {"type": "string", "pattern": HEADER_NAME_PATTERN}, "description": "Names of further headers whose values are write-only, as those of Authorization, Cookie, Proxy-Authorization and X-Api-Key. Each must name a header of headers (in any case); another name is refused (400, field secretHeaders[i])."},
        "body": {"type": ["string", "null"], "description": "The request body (default empty)."},
        "timeoutMs": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TIMEOUT_MS, "description": timeout},
        "retry": {"$ref": "#/components/schemas/RetryInput"},
        "misfire": {"$ref": "#/components/schemas/Misfire"},
        "overlap": {"oneOf": [{"$ref": "#/components/schemas/Overlap"}, {"type": "null"}]},
        "paused": {"type": ["boolean", "null"], "description": "Default false."},
        "name": {"type": ["string", "null"], "maxLength": MAX_NAME_CHARS, "pattern": NO_CONTROL_PATTERN, "description": "A label for people (not unique; no control characters)."},
        "jitterMs": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_TICK_JITTER_MS, "description": JITTER_DESCRIPTION},
        "alert": {"$ref": "#/components/schemas/AlertInput"}
    });
    match settings {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// The component schemas.
pub(super) fn schemas() -> Value {
    let retry = RetryPolicy::default();
    let mut create = job_settings();
    let mut replace = job_settings();
    for settings in [&mut create, &mut replace] {
        let secret = json!({"type": "string", "minLength": 1, "maxLength": MAX_SIGNING_SECRET_BYTES, "pattern": NO_CONTROL_PATTERN});
        settings.insert("signingSecret".to_owned(), json!({"oneOf": [secret, {"type": "array", "items": secret, "minItems": 1, "maxItems": MAX_JOB_SIGNING_SECRETS}, {"type": "null"}], "writeOnly": true, "description": format!("The job's own secret for X-Scheduler-Signature, in place of the server's --signing-secret: 1 to {MAX_SIGNING_SECRET_BYTES} bytes of UTF-8 (maxLength counts characters; the server counts bytes), no control characters; or, while it is rotated, [current, previous]: each signs, the current one first. Never returned: the job shows hasSigningSecret and signingSecretCount. A PUT without it keeps the secrets; in a PUT, \"{REDACTED}\" stands for the stored secret at the same position; null removes them. A create with \"{REDACTED}\" is refused.")}));
    }
    create["signingSecret"]["not"] =
        json!({"anyOf": [{"const": REDACTED}, {"type": "array", "contains": {"const": REDACTED}}]});
    replace["api"]["pattern"] = json!(replace_target_url_pattern());
    // A create has no stored value for a secret header to keep.
    let secret_value =
        json!({"type": "string", "pattern": HEADER_VALUE_PATTERN, "not": {"const": REDACTED}});
    create["headers"]["patternProperties"] =
        json!({ always_secret_header_pattern(): secret_value });
    replace.insert("version".to_owned(), json!({"type": ["integer", "null"], "minimum": 1, "maximum": u64::MAX, "description": "The expected version (as If-Match); when both name a version, they must name the same one (400 otherwise)."}));
    replace.insert("jobId".to_owned(), json!({"type": ["string", "null"], "format": "uuid", "description": "Ignored if it matches the path; 400 otherwise."}));
    for read_only in [
        "createdAt",
        "updatedAt",
        "nextFireTimes",
        "stats",
        "hasSigningSecret",
        "signingSecretCount",
        "done",
        "doneAt",
    ] {
        replace.insert(read_only.to_owned(), json!({"description": "Read-only; accepted and ignored, so that a job read with GET can be sent back."}));
    }
    json!({
        "DeliveryType": {"type": "string", "enum": ["ATLEAST_ONCE", "ATMOST_ONCE"]},
        "DeliveryTypeInput": {"type": "string", "enum": ["ATLEAST_ONCE", "ATMOST_ONCE", "AT_LEAST_ONCE", "AT_MOST_ONCE"], "description": "AT_LEAST_ONCE and AT_MOST_ONCE are accepted spellings; responses use ATLEAST_ONCE and ATMOST_ONCE."},
        "ExecutionStatus": {"type": "string", "enum": ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "ABANDONED", "SKIPPED"]},
        "Overlap": {"type": "string", "enum": ["ALLOW", "SKIP_WHILE_RUNNING", "BUFFER_ONE"], "description": "Whether a tick may fire while an earlier execution is unfinished (default ALLOW). SKIP_WHILE_RUNNING records such a tick as SKIPPED; BUFFER_ONE holds the first such tick and fires it when the running execution finishes, and records any further one as SKIPPED."},
        "JobCreate": {"type": "object", "required": ["api", "type"], "oneOf": timing_choice(), "if": one_off(), "then": no_window(), "additionalProperties": false, "properties": create, "examples": [{"schedule": "0 0 * * * *", "api": "https://example.com/hook", "type": "ATLEAST_ONCE", "paused": true}, {"runAt": "2030-01-01T09:00:00Z", "api": "https://example.com/hook", "type": "ATLEAST_ONCE"}]},
        "JobReplace": {"type": "object", "required": ["api", "type"], "oneOf": timing_choice(), "if": one_off(), "then": no_window(), "additionalProperties": false, "properties": replace, "examples": [{"schedule": "30 0 * * * *", "api": "https://example.com/hook", "type": "ATMOST_ONCE", "paused": true}]},
        "RetryInput": {
            "type": ["object", "null"], "additionalProperties": false,
            "description": "Retries of at-least-once jobs; absent (or null) fields take the defaults shown.",
            "properties": {
                "maxAttempts": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ATTEMPTS, "default": retry.max_attempts},
                "initialBackoffMs": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_TIMEOUT_MS, "default": millis(retry.initial_backoff), "description": "At most maxBackoffMs (the one given, or its default): a greater one is refused (400, field retry.initialBackoffMs)."},
                "maxBackoffMs": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_TIMEOUT_MS, "default": millis(retry.max_backoff), "description": "At least initialBackoffMs (the one given, or its default). Also caps a target's Retry-After."},
                "multiplier": {"type": ["number", "null"], "minimum": 1, "maximum": 100, "default": retry.multiplier},
                "jitter": {"type": ["number", "null"], "minimum": 0, "maximum": 1, "default": retry.jitter}
            }
        },
        "Retry": {
            "type": "object", "additionalProperties": false,
            "required": ["maxAttempts", "initialBackoffMs", "maxBackoffMs", "multiplier", "jitter"],
            "properties": {
                "maxAttempts": {"type": "integer", "description": "Attempts in total, the first included."},
                "initialBackoffMs": {"type": "integer"},
                "maxBackoffMs": {"type": "integer"},
                "multiplier": {"type": "number"},
                "jitter": {"type": "number", "description": "Relative spread of each delay, 0-1."}
            }
        },
        "Misfire": {
            "type": ["object", "null"], "additionalProperties": false, "required": ["policy"],
            "description": "What happens to ticks missed while the scheduler was down (default FIRE_ONCE_NOW). max is required with CATCH_UP and absent (or null) otherwise.",
            "properties": {
                "policy": {"type": "string", "enum": ["FIRE_ONCE_NOW", "SKIP_TO_NEXT", "CATCH_UP"]},
                "max": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_CATCH_UP, "description": "CATCH_UP only: the most missed ticks fired."}
            },
            "if": {"type": "object", "required": ["policy"], "properties": {"policy": {"const": "CATCH_UP"}}},
            "then": {"required": ["max"], "properties": {"max": {"type": "integer"}}},
            "else": {"properties": {"max": {"type": "null"}}}
        },
        "AlertInput": {
            "type": ["object", "null"], "additionalProperties": false, "required": ["webhookUrl"],
            "description": "The job's own alert: a webhook POSTed to (docs/ALERTS.md) when afterFailures finished executions in a row have failed, once per streak, and with onRecovery again when the job next succeeds. null or absent: none.",
            "properties": {
                "webhookUrl": {"type": "string", "minLength": 1, "maxLength": MAX_URL_LENGTH, "pattern": http_url_pattern(), "description": "An absolute http:// or https:// URL with a host, no user info, a port from 1 to 65535 if any; refused as the target (api) would be by the server's target policy."},
                "afterFailures": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ALERT_AFTER_FAILURES, "default": JobAlertSettings::DEFAULT_AFTER_FAILURES, "description": "Consecutive failed executions that raise the alert."},
                "onRecovery": {"type": ["boolean", "null"], "default": false, "description": "Also alert when the job succeeds after an alerted streak."}
            }
        },
        "Alert": {
            "type": ["object", "null"], "additionalProperties": false,
            "required": ["webhookUrl", "afterFailures", "onRecovery"],
            "description": "The job's own alert; null when it has none.",
            "properties": {
                "webhookUrl": {"type": "string"},
                "afterFailures": {"type": "integer"},
                "onRecovery": {"type": "boolean"}
            }
        },
        "Stats": {
            "type": ["object", "null"], "additionalProperties": false,
            "required": ["succeeded", "failed", "successRate", "meanDurationMs", "lastStatus"],
            "description": "Results on this node since its engine started; null before the first finished execution.",
            "properties": {
                "succeeded": {"type": "integer"},
                "failed": {"type": "integer"},
                "successRate": {"type": "number"},
                "meanDurationMs": {"type": "integer"},
                "lastStatus": {"type": "string", "enum": ["SUCCEEDED", "FAILED"], "description": "How the execution that finished last ended."}
            }
        },
        "Job": {
            "type": "object", "additionalProperties": false,
            "required": ["jobId", "schedule", "runAt", "startAt", "endAt", "deleteAfterRun", "api", "type", "timezone", "method", "headers", "secretHeaders", "body", "timeoutMs", "retry", "misfire", "overlap", "paused", "name", "hasSigningSecret", "signingSecretCount", "jitterMs", "alert", "createdAt", "updatedAt", "version", "nextFireTimes", "done", "doneAt", "stats"],
            "properties": {
                "jobId": {"type": "string", "format": "uuid"},
                "schedule": {"type": ["string", "null"], "description": "The canonical text of the schedule; null for a one-off job."},
                "runAt": {"type": ["string", "null"], "format": "date-time", "description": "A one-off job's instant; null for a recurring job."},
                "startAt": {"type": ["string", "null"], "format": "date-time", "description": "No tick before this instant; null when unbounded."},
                "endAt": {"type": ["string", "null"], "format": "date-time", "description": "No tick after this instant; null when unbounded."},
                "deleteAfterRun": {"type": "boolean", "description": "Whether the job is deleted once done."},
                "api": {"type": "string"},
                "type": {"$ref": "#/components/schemas/DeliveryType"},
                "timezone": {"type": "string"},
                "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Secret header values show as \"***\"."},
                "secretHeaders": {"type": "array", "items": {"type": "string"}, "description": "The further headers whose values are write-only."},
                "body": nullable("string"),
                "timeoutMs": {"type": "integer"},
                "retry": {"$ref": "#/components/schemas/Retry"},
                "misfire": {"$ref": "#/components/schemas/Misfire"},
                "overlap": {"$ref": "#/components/schemas/Overlap"},
                "paused": {"type": "boolean"},
                "name": nullable("string"),
                "hasSigningSecret": {"type": "boolean", "description": "Whether the job signs with a secret of its own (signingSecret); the secret is never shown."},
                "signingSecretCount": {"type": "integer", "minimum": 0, "maximum": MAX_JOB_SIGNING_SECRETS, "description": "How many secrets of its own the job signs with: 2 while one is rotated."},
                "jitterMs": {"type": ["integer", "null"], "description": JITTER_DESCRIPTION},
                "alert": {"$ref": "#/components/schemas/Alert"},
                "createdAt": {"type": "string", "format": "date-time"},
                "updatedAt": {"type": "string", "format": "date-time"},
                "version": {"type": "integer", "description": "Starts at 1, grows with every change; the ETag."},
                "nextFireTimes": {"type": "array", "maxItems": NEXT_FIRE_TIMES, "items": {"type": "string", "format": "date-time"}, "description": "The instants the next five unclaimed ticks fire (their tick jitter applied: jitterMs, or the server's default), from the job's watermark; ticks within the engine's look-ahead (about 2 s) are already claimed and show as pending executions. Empty while paused or when the schedule has ended."},
                "done": {"type": "boolean", "description": "Whether the job is done: its schedule has no tick left (a one-off job that fired, a window that ended) and its last execution finished. A done job keeps its history and fires no more; a manual trigger still runs it, and a PUT that gives it a tick again (a new runAt or endAt) makes it not done."},
                "doneAt": {"type": ["string", "null"], "format": "date-time", "description": "When the job was marked done (its last execution's finish); null while not done."},
                "stats": {"$ref": "#/components/schemas/Stats"}
            }
        },
        "JobBatchCreated": {
            "type": "object", "additionalProperties": false, "required": ["created", "jobIds"],
            "properties": {
                "created": {"type": "integer", "description": "How many jobs were created: all of the batch."},
                "jobIds": {"type": "array", "items": {"type": "string", "format": "uuid"}, "description": "The new jobs' ids, in the order of the batch."}
            }
        },
        "JobPage": {
            "type": "object", "additionalProperties": false, "required": ["jobs", "nextCursor"],
            "properties": {
                "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
                "nextCursor": {"type": ["string", "null"], "description": "Pass as after= for the next page; null on the last page."}
            }
        },
        "Execution": {
            "type": "object", "additionalProperties": false,
            "required": ["executionId", "jobId", "scheduledTime", "executedTime", "finishedTime", "status", "trigger", "httpStatus", "durationMs", "errorMessage", "attempts", "retryCount", "redeliveries"],
            "properties": {
                "executionId": {"type": "string", "format": "uuid"},
                "jobId": {"type": "string", "format": "uuid"},
                "scheduledTime": {"type": "string", "format": "date-time", "description": "The tick."},
                "executedTime": {"type": ["string", "null"], "format": "date-time", "description": "When the first attempt was sent."},
                "finishedTime": {"type": ["string", "null"], "format": "date-time"},
                "status": {"$ref": "#/components/schemas/ExecutionStatus"},
                "trigger": {"type": "string", "enum": ["SCHEDULE", "MANUAL"]},
                "httpStatus": {"type": ["integer", "null"], "description": "Status of the last answer."},
                "durationMs": {"type": ["integer", "null"], "description": "Duration of the last attempt."},
                "errorMessage": {"type": ["string", "null"]},
                "attempts": {"type": "integer", "description": "Attempts started."},
                "retryCount": {"type": "integer", "description": "attempts - 1 (0 when never retried or never sent)."},
                "redeliveries": {"type": "integer", "description": "Times the execution was sent again after its node stopped (a crash, or a takeover by another node); each such re-send carried X-Scheduler-Redelivery: true."}
            }
        },
        "ExecutionList": {
            "type": "object", "additionalProperties": false, "required": ["executions"],
            "properties": {"executions": {"type": "array", "items": {"$ref": "#/components/schemas/Execution"}}}
        },
        "JobExecutionList": {
            "type": "object", "additionalProperties": false, "required": ["jobId", "executions"],
            "properties": {
                "jobId": {"type": "string", "format": "uuid"},
                "executions": {"type": "array", "items": {"$ref": "#/components/schemas/Execution"}}
            }
        },
        "CronExplanation": {
            "type": "object", "additionalProperties": false,
            "required": ["schedule", "timezone", "explanation", "nextFireTimes"],
            "properties": {
                "schedule": {"type": "string", "description": "The expression as given."},
                "timezone": {"type": "string", "description": "The time zone of the fire times."},
                "explanation": {"type": "string", "description": "When the expression fires, in plain English."},
                "nextFireTimes": {"type": "array", "items": {"type": "string", "format": "date-time"}, "description": "The next fire times from now (fewer when the expression has no more)."}
            }
        },
        "Error": {
            "type": "object", "additionalProperties": false, "required": ["error"],
            "properties": {
                "error": {
                    "type": "object", "additionalProperties": false, "required": ["code", "field", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": ["invalid", "malformed_json", "not_found", "method_not_allowed", "version_conflict", "conflict", "request_timeout", "too_many_connections", "payload_too_large", "unsupported_media_type", "unauthorized", "forbidden", "host_not_allowed", "unavailable", "internal"]},
                        "field": {"type": ["string", "null"], "description": "The body field (retry.maxAttempts), query parameter, header (Content-Type, If-Match) or path parameter (jobId) at fault."},
                        "message": {"type": "string"},
                        "items": {
                            "type": "array", "description": "POST /api/jobs:batch only: every bad item of the batch, by its index (from 0), each with its own code, field and message.",
                            "items": {
                                "type": "object", "additionalProperties": false, "required": ["index", "code", "field", "message"],
                                "properties": {
                                    "index": {"type": "integer", "minimum": 0},
                                    "code": {"type": "string"},
                                    "field": {"type": ["string", "null"]},
                                    "message": {"type": "string"}
                                }
                            }
                        }
                    }
                }
            }
        },
        "Latency": {
            "type": "object", "additionalProperties": false,
            "required": ["count", "p50Ms", "p90Ms", "p99Ms", "maxMs", "meanMs"],
            "description": "A distribution in fractional milliseconds; percentiles are within 6.25 %.",
            "properties": {
                "count": {"type": "integer"}, "p50Ms": {"type": "number"}, "p90Ms": {"type": "number"},
                "p99Ms": {"type": "number"}, "maxMs": {"type": "number"}, "meanMs": {"type": "number"}
            }
        },
        "Metrics": {
            "type": "object", "additionalProperties": false,
            "required": ["startedAt", "uptimeSeconds", "nodeId", "fenced", "degraded", "nodes", "brokers", "engine", "drift", "claimDuration", "jobs", "api", "store"],
            "properties": {
                "startedAt": {"type": "string", "format": "date-time"},
                "uptimeSeconds": {"type": "integer"},
                "nodeId": {"type": "string", "description": "This node's name (--node-id)."},
                "fenced": {"type": "boolean", "description": "Whether this node could not renew its heartbeat in a shared store for the lease less one heartbeat interval: it sends and claims nothing until it can."},
                "degraded": {"type": "boolean", "description": "Whether the store fails the engine's writes (claims, results or the heartbeat); see /api/health."},
                "nodes": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}, "description": "The nodes sharing the store (empty when they could not be read)."},
                "brokers": {
                    "type": "array", "description": "The connections to message brokers (queue targets), one per server.",
                    "items": {
                        "type": "object", "additionalProperties": false, "required": ["kind", "server", "state", "connected", "lastError"],
                        "properties": {
                            "kind": {"type": "string", "enum": ["nats", "amqp"]},
                            "server": {"type": "string", "description": "host:port (AMQP: host:port/vhost), without credentials."},
                            "state": {"type": "string", "enum": ["connected", "connecting", "disconnected"]},
                            "connected": {"type": "boolean"},
                            "lastError": nullable("string")
                        }
                    }
                },
                "engine": {
                    "type": "object", "additionalProperties": false,
                    "required": ["fired", "succeeded", "failed", "retried", "skipped", "abandoned", "misfired", "claimed", "inFlight", "waiting", "waitingOnHost", "backlog", "claimsDeferred", "alertsDropped", "storeErrors", "leasesHeld", "takenOver", "leasesLost", "jobChangesReceived", "outageClaimed", "outageDropped", "outageWithheld", "outageBuffered", "resultsUnwritten"],
                    "properties": {
                        "fired": {"type": "integer"}, "succeeded": {"type": "integer"}, "failed": {"type": "integer"},
                        "retried": {"type": "integer"}, "skipped": {"type": "integer"}, "abandoned": {"type": "integer"},
                        "misfired": {"type": "integer"}, "claimed": {"type": "integer"},
                        "inFlight": {"type": "integer", "description": "Attempts in flight now (a gauge)."},
                        "waiting": {"type": "integer", "description": "Executions due now that wait for an attempt slot (a gauge): above zero during a burst; above zero for long, ticks go out late."},
                        "waitingOnHost": {"type": "integer", "description": "Of `waiting`, the executions whose target host already has its per-host limit of attempts in flight (--max-in-flight-per-host; a gauge): they wait for their own host and delay no other. Above zero for long, a target answers more slowly than its jobs fire."},
                        "backlog": {"type": "integer", "description": "Executions the engine holds now, claimed and not yet finally written (a gauge); claims stop at the engine's backlog limit."},
                        "claimsDeferred": {"type": "integer", "description": "Claim passes skipped or cut short because the backlog was full; due ticks left in the store fire late."},
                        "alertsDropped": {"type": "integer"}, "storeErrors": {"type": "integer"},
                        "leasesHeld": {"type": "integer", "description": "Unfinished executions this node holds under its lease (a gauge; the backlog)."},
                        "takenOver": {"type": "integer", "description": "Unfinished executions this node took over from stopped nodes."},
                        "leasesLost": {"type": "integer", "description": "Executions this node held when its lease lapsed that another node had taken over: dropped here, sent there."},
                        "jobChangesReceived": {"type": "integer", "description": "Jobs read again after a change notice from a shared store (changes made through any node), and applied to the ticks held here."},
                        "outageClaimed": {"type": "integer", "description": "Ticks claimed in memory while the store could not be written (outage mode, SQLite)."},
                        "outageDropped": {"type": "integer", "description": "Due ticks not fired during an outage because the outage buffer was full; they follow their jobs' misfire policies once the store is back."},
                        "outageWithheld": {"type": "integer", "description": "At-most-once ticks not fired during an outage, since their start could not be recorded; recorded SKIPPED."},
                        "outageBuffered": {"type": "integer", "description": "Executions claimed in memory during an outage and not yet recorded in the store."},
                        "resultsUnwritten": {"type": "integer", "description": "Execution results waiting to be written to the store."}
                    }
                },
                "drift": latency(),
                "claimDuration": latency(),
                "jobs": {
                    "type": "object", "additionalProperties": false, "required": ["active", "paused", "total"],
                    "properties": {"active": {"type": "integer"}, "paused": {"type": "integer"}, "total": {"type": "integer"}}
                },
                "api": {
                    "type": "object", "additionalProperties": false, "required": ["requests", "routes"],
                    "properties": {
                        "requests": {"type": "integer"},
                        "routes": {"type": "array", "items": {
                            "type": "object", "additionalProperties": false,
                            "required": ["method", "route", "requests", "statuses", "latency"],
                            "properties": {
                                "method": {"type": "string"}, "route": {"type": "string", "description": "The route pattern, or unmatched."},
                                "requests": {"type": "integer"},
                                "statuses": {"type": "object", "additionalProperties": {"type": "integer"}},
                                "latency": latency()
                            }
                        }}
                    }
                },
                "store": {
                    "type": "object", "additionalProperties": false, "required": ["operations"],
                    "properties": {"operations": {"type": "array", "items": {
                        "type": "object", "additionalProperties": false, "required": ["operation", "latency"],
                        "properties": {"operation": {"type": "string"}, "latency": latency()}
                    }}}
                }
            }
        },
        "Node": {
            "type": "object", "additionalProperties": false, "required": ["nodeId", "lastHeartbeat", "live"],
            "properties": {
                "nodeId": {"type": "string"},
                "lastHeartbeat": {"type": "string", "format": "date-time", "description": "The node's latest heartbeat, by its own clock."},
                "live": {"type": "boolean", "description": "Whether that heartbeat is within the lease of now (10 s by default), by this node's clock."}
            }
        },
        "Check": {
            "type": "object", "additionalProperties": false, "required": ["ok", "latencyMs", "error"],
            "properties": {"ok": {"type": "boolean"}, "latencyMs": {"type": "number"}, "error": nullable("string")}
        },
        "Health": {
            "type": "object", "additionalProperties": false,
            "required": ["status", "live", "ready", "uptimeSeconds", "nodeId", "fenced", "degraded", "nodes", "checks"],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "degraded", "unavailable"], "description": "ok: ready. degraded: the engine runs but the store fails its writes (see checks.writes); answered with 503. unavailable: another check fails."},
                "live": {"type": "boolean", "description": "Whether the engine's tasks run and its control loop answers (checks.engine), whatever the store says: a node that is live but not ready (a store outage, a lost database file) keeps firing what it can, and a restart would not help. What a supervisor's liveness check should look at (scheduler health --live)."},
                "ready": {"type": "boolean", "description": "Whether every check passes: answered with 200."},
                "uptimeSeconds": {"type": "integer"},
                "nodeId": {"type": "string", "description": "This node's name (--node-id)."},
                "fenced": {"type": "boolean", "description": "Whether this node is fenced: it sends and claims nothing (see checks.lease)."},
                "degraded": {"type": "boolean", "description": "Whether the store fails the engine's writes (see checks.writes)."},
                "nodes": {"type": ["array", "null"], "items": {"$ref": "#/components/schemas/Node"}, "description": "The nodes sharing the store; null when the store does not answer."},
                "checks": {
                    "type": "object", "additionalProperties": false, "required": ["store", "engine", "lease", "writes", "brokers"],
                    "properties": {
                        "store": {"$ref": "#/components/schemas/Check"},
                        "engine": {"$ref": "#/components/schemas/Check"},
                        "lease": {
                            "type": "object", "additionalProperties": false, "required": ["ok", "error"],
                            "description": "Fails while this node cannot renew its heartbeat in a shared store; always ok on SQLite.",
                            "properties": {"ok": {"type": "boolean"}, "error": nullable("string")}
                        },
                        "writes": {
                            "type": "object", "additionalProperties": false, "required": ["ok", "error", "since"],
                            "description": "Fails while the store fails the engine's claims, result writes or heartbeat (a write made every heartbeat interval even when nothing is due, so an idle node shows it too; a heartbeat still under way after two intervals counts as failing). On SQLite the engine then fires due ticks from memory (outage mode) and records them once the store takes writes again.",
                            "properties": {"ok": {"type": "boolean"}, "error": nullable("string"), "since": nullable("string")}
                        },
                        "brokers": {
                            "type": "array",
                            "description": "One entry per message-broker connection (queue targets). Informational: a broker that is down fails the attempts of the jobs that publish to it, not readiness.",
                            "items": {
                                "type": "object", "additionalProperties": false, "required": ["kind", "server", "ok", "state", "error"],
                                "properties": {
                                    "kind": {"type": "string", "enum": ["nats", "amqp"]},
                                    "server": {"type": "string"},
                                    "ok": {"type": "boolean"},
                                    "state": {"type": "string", "enum": ["connected", "connecting", "disconnected"]},
                                    "error": nullable("string")
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

fn nullable(kind: &str) -> Value {
    json!({"type": [kind, "null"]})
}

fn latency() -> Value {
    json!({"$ref": "#/components/schemas/Latency"})
}

/// Exactly one of `schedule` and `runAt` is a string (`null` counts as absent).
fn timing_choice() -> Value {
    json!([
        {"required": ["schedule"], "properties": {"schedule": {"type": "string"}}},
        {"required": ["runAt"], "properties": {"runAt": {"type": "string"}}}
    ])
}

/// A one-off job: `runAt` is a string.
fn one_off() -> Value {
    json!({"required": ["runAt"], "properties": {"runAt": {"type": "string"}}})
}

/// No window: `startAt` and `endAt` bound recurring jobs only.
fn no_window() -> Value {
    json!({"properties": {"startAt": {"type": "null"}, "endAt": {"type": "null"}}})
}
