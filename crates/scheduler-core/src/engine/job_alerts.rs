//! Jobs' own alerts: deciding, from the stored history, whether a finished execution starts an
//! alert (the streak of failures just reached the job's `after_failures`) or a recovery.
//!
//! No counter is kept in memory. When an execution of a job with
//! [`alert`](crate::JobSpec::alert) finishes, the dispatcher sends the engine's alert task a
//! [`JobAlertCheck`] with a receiver that hears when the execution's last update is stored.
//! The task then reads the job's finished executions (`SUCCEEDED` or `FAILED`) before it,
//! newest tick first, at most `after_failures` of them, and [`decide`]s. So every node counts
//! the same streak in the same order (ticks), a restart loses nothing, and only the execution
//! that makes the streak `after_failures` long raises the alert: once per streak, whichever
//! node finished it. Only jobs with an alert pay the read.

use std::sync::Arc;

use cron_expr::Timestamp;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::alert::{Alert, AlertSink, JobAlert, JobAlertKind, JobAlertSink};
use crate::domain::{Execution, ExecutionId, ExecutionStatus, Job, JobAlertSettings, JobId};
use crate::error::error_chain;
use crate::metrics::Metrics;
use crate::store::Store;

/// How many job alert checks (each a read of the store) run at once; more wait in the alert
/// queue, which is bounded.
const MAX_CONCURRENT_CHECKS: usize = 16;

/// What the engine's alert task is given.
pub(crate) enum AlertWork {
    /// A server-wide alert, for the [`AlertSink`].
    Alert(Alert),
    /// A finished execution of a job with its own alert settings, to check.
    Check(JobAlertCheck),
}

/// A finished execution of a job with its own alert, and what the check needs of its job.
pub(crate) struct JobAlertCheck {
    settings: JobAlertSettings,
    job_name: Option<String>,
    signing_secrets: Vec<crate::Secret>,
    job_id: JobId,
    execution_id: ExecutionId,
    scheduled_at: Timestamp,
    attempts: u32,
    http_status: Option<u16>,
    error: Option<String>,
    succeeded: bool,
    /// Hears whether the execution's last update reached the store.
    stored: oneshot::Receiver<bool>,
}

impl JobAlertCheck {
    /// The check of `execution` (finished: succeeded or failed) of `job`; `None` when the job
    /// has no alert, or has no recovery alert and the execution succeeded.
    pub(crate) fn new(
        job: &Job,
        execution: &Execution,
        stored: oneshot::Receiver<bool>,
    ) -> Option<JobAlertCheck> {
        let settings = job.spec.alert.as_ref()?;
        let succeeded = execution.status == ExecutionStatus::Succeeded;
        if succeeded && !settings.on_recovery {
            return None;
        }
        Some(JobAlertCheck {
            settings: settings.clone(),
            job_name: job.spec.name.clone(),
            signing_secrets: job.spec.signing_secrets.clone(),
            job_id: job.id,
            execution_id: execution.id,
            scheduled_at: execution.scheduled_at,
            attempts: execution.attempts,
            http_status: execution.http_status,
            error: execution.error.clone(),
            succeeded,
            stored,
        })
    }

    /// Whether a check is wanted for `execution` of `job`, before a receiver is made for it.
    pub(crate) fn wanted(job: &Job, execution: &Execution) -> bool {
        job.spec.alert.as_ref().is_some_and(|settings| {
            settings.on_recovery || execution.status != ExecutionStatus::Succeeded
        })
    }
}

/// Decides a job alert for a finished execution, from `previous`: the statuses of the job's
/// finished executions before it, newest first, at most `after_failures` of them.
///
/// - A failure raises [`JobAlertKind::Failing`] when it makes the streak exactly
///   `after_failures` long: the `after_failures - 1` executions before it failed, and the one
///   before those (if any) did not.
/// - A success raises [`JobAlertKind::Recovered`] (if asked) when the `after_failures`
///   executions before it all failed: that streak was alerted.
pub(crate) fn decide(
    after_failures: u32,
    succeeded: bool,
    previous: &[ExecutionStatus],
) -> Option<JobAlertKind> {
    let needed = after_failures.max(1) as usize;
    let failures_before = previous
        .iter()
        .take_while(|status| **status == ExecutionStatus::Failed)
        .count();
    if succeeded {
        (failures_before >= needed).then_some(JobAlertKind::Recovered)
    } else {
        (failures_before == needed - 1).then_some(JobAlertKind::Failing)
    }
}

/// The alert task: delivers server-wide alerts in order, and runs job alert checks, at most
/// [`MAX_CONCURRENT_CHECKS`] at a time, until the queue ends and the checks are done.
pub(crate) async fn run(
    sink: Arc<dyn AlertSink>,
    job_sink: Arc<dyn JobAlertSink>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    mut work: mpsc::Receiver<AlertWork>,
) {
    let mut checks = JoinSet::new();
    loop {
        // At the limit, finish a check before taking more work: the queue (bounded, and
        // dropping when full) holds the rest.
        if checks.len() >= MAX_CONCURRENT_CHECKS {
            let _ = checks.join_next().await;
            continue;
        }
        tokio::select! {
            next = work.recv() => match next {
                Some(AlertWork::Alert(alert)) => sink.deliver(alert).await,
                Some(AlertWork::Check(check)) => {
                    checks.spawn(run_check(
                        check,
                        Arc::clone(&job_sink),
                        Arc::clone(&store),
                        Arc::clone(&metrics),
                    ));
                }
                None => break,
            },
            Some(_) = checks.join_next(), if !checks.is_empty() => {}
        }
    }
    while checks.join_next().await.is_some() {}
}

/// Waits for the execution to be stored, reads the history before it, and delivers the alert
/// [`decide`] asks for.
async fn run_check(
    check: JobAlertCheck,
    sink: Arc<dyn JobAlertSink>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
) {
    let job_id = check.job_id;
    let execution_id = check.execution_id;
    // Stored means every earlier update of this node is stored too (the writer keeps their
    // order), so the read below sees this node's previous executions of the job.
    if check.stored.await != Ok(true) {
        Metrics::add(&metrics.job_alert_checks_failed, 1);
        log::warn!(
            "job {job_id} execution {execution_id}: its result was not stored; its job alert is not checked"
        );
        return;
    }
    let after_failures = check.settings.after_failures.max(1);
    let previous = match store
        .finished_executions_before(job_id, check.scheduled_at, after_failures as usize)
        .await
    {
        Ok(previous) => previous,
        Err(error) => {
            Metrics::add(&metrics.job_alert_checks_failed, 1);
            log::warn!(
                "job {job_id} execution {execution_id}: reading its history for its job alert failed: {}",
                error_chain(&error)
            );
            return;
        }
    };
    let statuses: Vec<ExecutionStatus> = previous.iter().map(|e| e.status).collect();
    let decided = decide(after_failures, check.succeeded, &statuses);
    let Some(kind) = decided else {
        Metrics::add(&metrics.job_alert_checks, 1);
        return;
    };
    let consecutive_failures = match kind {
        JobAlertKind::Failing => after_failures,
        JobAlertKind::Recovered => statuses.len() as u32,
    };
    Metrics::add(&metrics.job_alerts, 1);
    let alert = JobAlert {
        kind,
        webhook_url: check.settings.webhook_url,
        job_id,
        job_name: check.job_name,
        signing_secrets: check.signing_secrets,
        execution_id,
        scheduled_at: check.scheduled_at,
        attempts: check.attempts,
        http_status: check.http_status,
        error: if check.succeeded { None } else { check.error },
        consecutive_failures,
    };
    sink.deliver_job_alert(alert).await;
    Metrics::add(&metrics.job_alert_checks, 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `previous` spelled newest first: `F` failed, `S` succeeded.
    fn check(after: u32, succeeded: bool, previous: &str, expected: Option<JobAlertKind>) {
        let statuses: Vec<ExecutionStatus> = previous
            .chars()
            .map(|c| match c {
                'F' => ExecutionStatus::Failed,
                _ => ExecutionStatus::Succeeded,
            })
            .collect();
        assert_eq!(
            decide(after, succeeded, &statuses),
            expected,
            "after {after}, succeeded {succeeded}, previous {previous}"
        );
    }

    #[test]
    fn failures_alert_once_when_the_streak_reaches_the_threshold() {
        use JobAlertKind::Failing;
        check(1, false, "", Some(Failing));
        check(1, false, "S", Some(Failing));
        check(1, false, "F", None);
        check(3, false, "", None);
        check(3, false, "F", None);
        check(3, false, "FF", Some(Failing));
        check(3, false, "FFS", Some(Failing));
        check(3, false, "FFF", None);
        check(3, false, "SFF", None);
        check(3, false, "FSF", None);
    }

    #[test]
    fn successes_recover_only_after_an_alerted_streak() {
        use JobAlertKind::Recovered;
        check(1, true, "", None);
        check(1, true, "F", Some(Recovered));
        check(1, true, "S", None);
        check(3, true, "FF", None);
        check(3, true, "FFS", None);
        check(3, true, "FFF", Some(Recovered));
        check(3, true, "SFF", None);
    }
}
