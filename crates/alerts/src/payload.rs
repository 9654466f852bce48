//! The JSON the webhook receives.

use scheduler_core::{Alert, JobAlert, JobAlertKind, Timestamp};
use serde::Serialize;

/// The version of the JSON the webhooks receive (`version` in every POST): raised when a field
/// changes meaning or goes away; new fields may appear within a version.
pub(crate) const PAYLOAD_VERSION: u32 = 1;

/// One POST: an envelope around a batch of alerts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Batch<'a> {
    /// Always [`PAYLOAD_VERSION`].
    pub(crate) version: u32,
    /// Always `"scheduler"`.
    pub(crate) source: &'static str,
    /// When the batch was closed (RFC 3339, UTC, milliseconds).
    pub(crate) batch_time: String,
    /// Alerts dropped because the queue was full since the previous batch was closed.
    pub(crate) dropped_alerts: u64,
    /// The alerts, oldest first.
    pub(crate) alerts: &'a [AlertRecord],
}

/// One alert as the webhook sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AlertRecord {
    /// `FINAL_FAILURE` or `RECOVERED` (server-wide), `JOB_FAILING` or `JOB_RECOVERED` (a job's
    /// own alert).
    pub(crate) kind: &'static str,
    pub(crate) job_id: String,
    /// The job's name, in job alerts of named jobs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) job_name: Option<String>,
    pub(crate) execution_id: String,
    /// The tick of the failed execution; `null` for a recovery.
    pub(crate) scheduled_time: Option<String>,
    /// Attempts made; `null` for a recovery.
    pub(crate) attempts: Option<u32>,
    /// The last HTTP status, if the target answered.
    pub(crate) http_status: Option<u16>,
    /// The last error; `null` for a recovery.
    pub(crate) error_message: Option<String>,
    /// Failed executions in a row, in job alerts only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) consecutive_failures: Option<u32>,
    /// When the sink received the alert.
    pub(crate) alert_time: String,
}

impl AlertRecord {
    pub(crate) fn new(alert: Alert, now: Timestamp) -> AlertRecord {
        let alert_time = format_time(now);
        match alert {
            Alert::FinalFailure {
                job_id,
                execution_id,
                scheduled_at,
                attempts,
                http_status,
                error,
            } => AlertRecord {
                kind: "FINAL_FAILURE",
                job_id: job_id.to_string(),
                job_name: None,
                execution_id: execution_id.to_string(),
                scheduled_time: Some(format_time(scheduled_at)),
                attempts: Some(attempts),
                http_status,
                error_message: Some(error),
                consecutive_failures: None,
                alert_time,
            },
            Alert::Recovered {
                job_id,
                execution_id,
            } => AlertRecord {
                kind: "RECOVERED",
                job_id: job_id.to_string(),
                job_name: None,
                execution_id: execution_id.to_string(),
                scheduled_time: None,
                attempts: None,
                http_status: None,
                error_message: None,
                consecutive_failures: None,
                alert_time,
            },
        }
    }

    /// The record of a job's own alert: every field filled from the execution that raised it.
    pub(crate) fn from_job_alert(alert: JobAlert, now: Timestamp) -> AlertRecord {
        AlertRecord {
            kind: match alert.kind {
                JobAlertKind::Failing => "JOB_FAILING",
                JobAlertKind::Recovered => "JOB_RECOVERED",
            },
            job_id: alert.job_id.to_string(),
            job_name: alert.job_name,
            execution_id: alert.execution_id.to_string(),
            scheduled_time: Some(format_time(alert.scheduled_at)),
            attempts: Some(alert.attempts),
            http_status: alert.http_status,
            error_message: alert.error,
            consecutive_failures: Some(alert.consecutive_failures),
            alert_time: format_time(now),
        }
    }
}

/// RFC 3339 in UTC with milliseconds, as the REST API writes times.
pub(crate) fn format_time(t: Timestamp) -> String {
    format!("{t:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_milliseconds() {
        let check = |input: &str, expected: &str| {
            assert_eq!(format_time(input.parse().unwrap()), expected);
        };
        check("2026-11-30T01:10:31Z", "2026-11-30T01:10:31.000Z");
        check("2026-11-30T01:10:31.123456Z", "2026-11-30T01:10:31.123Z");
    }
}
