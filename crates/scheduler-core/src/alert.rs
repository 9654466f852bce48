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
