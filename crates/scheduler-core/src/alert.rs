//! The alert boundary: who hears about final failures.

use cron_expr::Timestamp;

use crate::domain::{ExecutionId, JobId};
use crate::store::BoxFuture;

/// Receives alerts. The engine hands alerts to one background task through a bounded queue,
/// so a slow sink (a webhook) never blocks scheduling; when the queue is full, alerts are
/// dropped and counted in the metrics (`alerts_dropped`).
pub trait AlertSink: Send + Sync + 'static {
    /// Delivers one alert. Failures are the sink's to log; the engine does not retry.
    fn deliver(&self, alert: Alert) -> BoxFuture<'static, ()>;
}

/// Something an operator should know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Alert {
    /// An execution failed for good: retries exhausted, or a permanent error.
    FinalFailure {
        /// The job.
        job_id: JobId,
        /// The execution.
        execution_id: ExecutionId,
        /// Its tick.
        scheduled_at: Timestamp,
        /// Attempts made.
        attempts: u32,
        /// The last HTTP status, if the target answered.
        http_status: Option<u16>,
        /// The last error.
        error: String,
    },
    /// A job whose last execution failed for good has succeeded again.
    Recovered {
        /// The job.
        job_id: JobId,
        /// The execution that succeeded.
        execution_id: ExecutionId,
    },
}

/// Receives the alerts of jobs' own alert settings ([`JobSpec::alert`](crate::JobSpec::alert)),
/// each addressed to its job's webhook.
///
/// A trait of its own rather than more [`Alert`] variants: a server-wide sink (one webhook for
/// everything) and a per-job sink (one webhook per job's URL) are wired separately, and
/// neither has to ignore the other's alerts. The engine decides *when* (from the stored
/// history); the sink only delivers, without waiting: the engine's alert task runs it.
pub trait JobAlertSink: Send + Sync + 'static {
    /// Delivers one job alert. Failures are the sink's to log; the engine does not retry.
    fn deliver_job_alert(&self, alert: JobAlert) -> BoxFuture<'static, ()>;
}

/// What a job alert reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobAlertKind {
    /// The job's finished executions have just failed
    /// [`after_failures`](crate::JobAlertSettings::after_failures) times in a row; raised
    /// once per streak, by the execution that made it that long.
    Failing,
    /// The job succeeded after an alerted streak (only with
    /// [`on_recovery`](crate::JobAlertSettings::on_recovery)).
    Recovered,
}

/// One alert of a job's own alert settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobAlert {
    /// Failing or recovered.
    pub kind: JobAlertKind,
    /// Where to deliver it: the job's [`webhook_url`](crate::JobAlertSettings::webhook_url).
    pub webhook_url: String,
    /// The job.
    pub job_id: JobId,
    /// The job's name, if it has one.
    pub job_name: Option<String>,
    /// The job's own signing secrets ([`JobSpec::signing_secrets`](crate::JobSpec::signing_secrets)),
    /// which sign the webhook's POST; empty for a job that signs with the server's secrets.
    pub signing_secrets: Vec<crate::Secret>,
    /// The execution that raised the alert: the streak's last failure, or the success.
    pub execution_id: ExecutionId,
    /// That execution's tick.
    pub scheduled_at: Timestamp,
    /// Attempts that execution made.
    pub attempts: u32,
    /// Its last HTTP status, if the target answered.
    pub http_status: Option<u16>,
    /// Its last error (`None` for a recovery).
    pub error: Option<String>,
    /// Failed executions in a row: the streak's length for [`JobAlertKind::Failing`]; for
    /// [`JobAlertKind::Recovered`], the failures read before the success (at least the
    /// job's `after_failures`; the streak may have been longer).
    pub consecutive_failures: u32,
}

/// Writes alerts to the `log` crate, at warn level for failures and info for recoveries.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogAlertSink;

impl AlertSink for LogAlertSink {
    fn deliver(&self, alert: Alert) -> BoxFuture<'static, ()> {
        match &alert {
            Alert::FinalFailure {
                job_id,
                execution_id,
                scheduled_at,
                attempts,
                http_status,
                error,
            } => {
                log::warn!(
                    "alert: job {job_id} execution {execution_id} (tick {scheduled_at}) failed after {attempts} attempts, http status {http_status:?}: {error}"
                );
            }
            Alert::Recovered {
                job_id,
                execution_id,
            } => {
                log::info!("alert: job {job_id} recovered with execution {execution_id}");
            }
        }
        Box::pin(std::future::ready(()))
    }
}

impl JobAlertSink for LogAlertSink {
    fn deliver_job_alert(&self, alert: JobAlert) -> BoxFuture<'static, ()> {
        let JobAlert {
            kind,
            job_id,
            execution_id,
            consecutive_failures,
            http_status,
            error,
            ..
        } = &alert;
        match kind {
            JobAlertKind::Failing => log::warn!(
                "job alert: job {job_id} failed {consecutive_failures} times in a row, last execution {execution_id}, http status {http_status:?}: {}",
                error.as_deref().unwrap_or_default()
            ),
            JobAlertKind::Recovered => log::info!(
                "job alert: job {job_id} recovered with execution {execution_id} after {consecutive_failures} or more failures"
            ),
        }
        Box::pin(std::future::ready(()))
    }
}
