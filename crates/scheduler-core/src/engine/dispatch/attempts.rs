//! Attempts: starting what the in-flight and fresh limits allow, and concluding each attempt by
//! its verdict (success, retry, retry left to the next start, final failure).

use std::sync::Arc;
use std::sync::atomic;
use std::time::Duration;

use cron_expr::Timestamp;
use tokio::sync::oneshot;
use tokio::task::{Id as TaskId, JoinError};

use crate::alert::Alert;
use crate::domain::{DeliveryType, Execution, ExecutionStatus, Job, JobId};
use crate::engine::dispatch::hosts::HostKey;
use crate::engine::dispatch::{Dispatcher, Phase, Stage};
use crate::engine::retry::{Verdict, classify, retry_delay};
use crate::engine::writer::WriteOp;
use crate::metrics::Metrics;
use crate::time;
use crate::transport::{AttemptError, AttemptOutcome, AttemptRequest};

/// What an attempt task ends with.
pub(super) struct AttemptDone {
    execution: Execution,
    result: AttemptResult,
}

enum AttemptResult {
    /// The attempt was never sent: the store did not record its start (at-most-once).
    NotSent,
    Sent {
        result: Result<AttemptOutcome, AttemptError>,
        elapsed: Duration,
    },
}

/// A failed attempt, with what its verdict said.
struct Failure {
    http_status: Option<u16>,
    error: String,
    retry_after: Option<Duration>,
}

impl Dispatcher {
    /// Starts ready executions, in round robin between target hosts with room under their
    /// limit, while the in-flight and fresh limits allow, and publishes the gauges and whether
    /// executions wait for a slot.
    pub(super) fn start_ready(&mut self) {
        let startable = self.ready.has_startable();
        if startable {
            self.fresh.age(self.clock.now());
        }
        // A node whose lease lapsed sends nothing: what is ready waits for the membership
        // task's `Rejoin`, or is dropped by it.
        let may_send = !startable || self.lease.holds(self.clock.now());
        while may_send && self.attempts.len() < self.config.max_in_flight && self.fresh.has_room() {
            let Some((host, execution)) = self.ready.pop() else {
                break;
            };
            if !self.start_attempt(&host, execution) {
                self.ready.finished(&host);
            }
        }
        let gauges = &self.metrics;
        let store = |gauge: &atomic::AtomicU64, value: usize| {
            gauge.store(value as u64, atomic::Ordering::Relaxed);
        };
        store(&gauges.in_flight, self.attempts.len());
        store(&gauges.waiting, self.ready.waiting());
        store(&gauges.waiting_on_host, self.ready.waiting_on_host());
        // Executions waiting only on their own slow host are no burst.
        self.set_busy(self.ready.has_startable());
    }

    /// When the oldest fresh attempt ages, if executions are waiting for the fresh limit.
    pub(super) fn next_aging(&self) -> Option<Timestamp> {
        if !self.ready.has_startable() || !self.lease.holds(self.clock.now()) {
            return None;
        }
        self.fresh.next_aging()
    }

    /// Starts an attempt of `execution` to `host`; `false` when the execution was dropped
    /// instead (its job is gone), so that the host's slot is given back.
    fn start_attempt(&mut self, host: &HostKey, mut execution: Execution) -> bool {
        let job_id = execution.job_id;
        let Some(job) = self.running_job(&execution) else {
            return false;
        };
        let now = self.clock.now();
        if !self.resends.is_empty() && self.resends.remove(&execution.id) {
            execution.redeliveries += 1;
        }
        execution.attempts += 1;
        execution.status = ExecutionStatus::Running;
        if execution.executed_at.is_none() {
            execution.executed_at = Some(now);
            Metrics::add(&self.metrics.fired, 1);
            let due = self.fire_at(&job, &execution);
            self.metrics.drift.record(time::since(now, due));
        }
        // At-most-once: the start must be durable before the request leaves, or a crash could
        // make recovery send it a second time. At-least-once rides the next batch.
        let (stored, stored_rx) = match job.spec.delivery {
            DeliveryType::AtMostOnce => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            DeliveryType::AtLeastOnce => (None, None),
        };
        let _ = self.writer.send(WriteOp {
            update: execution.to_update(),
            stored,
            last: false,
        });
        let handle = self.attempts.spawn(self.attempt(job, execution, stored_rx));
        self.fresh.started(now, handle.id());
        self.attempt_jobs
            .insert(handle.id(), (job_id, Arc::clone(host)));
        true
    }

    /// The attempt task: waits for the start to be stored if asked, then sends with a timeout
    /// on the engine's clock.
    fn attempt(
        &self,
        job: Arc<Job>,
        execution: Execution,
        stored: Option<oneshot::Receiver<bool>>,
    ) -> impl Future<Output = AttemptDone> + Send + 'static {
        let request = AttemptRequest {
            job,
            execution_id: execution.id,
            scheduled_at: execution.scheduled_at,
            attempt: execution.attempts,
            redelivery: execution.redeliveries > 0,
        };
        let transport = Arc::clone(&self.transport);
        let clock = Arc::clone(&self.clock);
        async move {
            if let Some(stored) = stored
                && stored.await != Ok(true)
            {
                return AttemptDone {
                    execution,
                    result: AttemptResult::NotSent,
                };
            }
            let started = clock.now();
            let deadline = time::add(started, request.timeout());
            let result = tokio::select! {
                result = transport.send(request) => result,
                () = clock.sleep_until(deadline) => Err(AttemptError::Timeout),
            };
            let elapsed = time::since(clock.now(), started);
            AttemptDone {
                execution,
                result: AttemptResult::Sent { result, elapsed },
            }
        }
    }

    /// Forgets a finished attempt task, giving its host's slot back; its job, if the
    /// dispatcher still knew the task.
    fn forget_attempt(&mut self, task_id: TaskId) -> Option<JobId> {
        self.fresh.finished(task_id);
        let (job_id, host) = self.attempt_jobs.remove(&task_id)?;
        self.ready.finished(&host);
        Some(job_id)
    }

    pub(super) fn attempt_finished(&mut self, done: Result<(TaskId, AttemptDone), JoinError>) {
        match done {
            Ok((task_id, done)) => {
                self.forget_attempt(task_id);
                self.conclude(done);
            }
            Err(error) => {
                // A panicking transport: the execution stays unfinished in the store, and the
                // next start recovers it.
                log::error!("an attempt task failed: {error}");
                if let Some(job_id) = self.forget_attempt(error.id()) {
                    self.release(job_id, Phase::Running);
                }
                self.leave_backlog(1);
            }
        }
        self.start_ready();
    }

    /// Books an attempt's result by its verdict.
    fn conclude(&mut self, AttemptDone { execution, result }: AttemptDone) {
        let job_id = execution.job_id;
        let Some(job) = self.running_job(&execution) else {
            return;
        };
        let (result, elapsed) = match result {
            AttemptResult::Sent { result, elapsed } => (result, elapsed),
            AttemptResult::NotSent => {
                let error = "not sent: the store did not record the start of the attempt";
                log::error!("job {job_id} execution {}: {error}", execution.id);
                (
                    Err(AttemptError::InvalidRequest(error.to_owned())),
                    Duration::ZERO,
                )
            }
        };
        let duration = result.as_ref().map_or(elapsed, |outcome| outcome.duration);
        let mut execution = execution;
        execution.duration = Some(duration);
        match classify(&result) {
            Verdict::Success { http_status } => self.succeeded(&job, execution, http_status),
            Verdict::Failure {
                retryable,
                http_status,
                error,
                retry_after,
            } => {
                let failure = Failure {
                    http_status,
                    error,
                    retry_after,
                };
                let may_retry = retryable
                    && job.spec.delivery == DeliveryType::AtLeastOnce
                    && execution.attempts < job.spec.retry.max_attempts;
                match (may_retry, self.draining) {
                    (true, false) => self.retry_later(&job, execution, failure),
                    (true, true) => self.leave_retry_to_next_start(execution, failure),
                    (false, _) => self.failed_for_good(&job, execution, failure),
                }
            }
        }
    }

    fn succeeded(&mut self, job: &Job, mut execution: Execution, http_status: Option<u16>) {
        let job_id = execution.job_id;
        execution.status = ExecutionStatus::Succeeded;
        execution.http_status = http_status;
        execution.error = None;
        execution.finished_at = Some(self.clock.now());
        Metrics::add(&self.metrics.succeeded, 1);
        let duration = execution.duration.unwrap_or_default();
        self.metrics.record_finish(job_id, true, duration);
        self.write_last_and_check_alert(job, &execution);
        if self.failing.remove(&job_id) {
            self.alert(Alert::Recovered {
                job_id,
                execution_id: execution.id,
            });
        }
        self.release(job_id, Phase::Running);
    }

    /// Schedules the next attempt after the backoff (or the `Retry-After` asked, if longer, up
    /// to the job's max backoff).
    fn retry_later(&mut self, job: &Job, mut execution: Execution, failure: Failure) {
        let delay = retry_delay(
            &job.spec.retry,
            execution.attempts,
            failure.retry_after,
            self.config.max_retry_after,
            &mut self.rng,
        );
        log::info!(
            "job {} execution {} attempt {} failed ({}); retry in {delay:?}",
            execution.job_id,
            execution.id,
            execution.attempts,
            failure.error
        );
        execution.http_status = failure.http_status;
        execution.error = Some(failure.error);
        Metrics::add(&self.metrics.retried, 1);
        self.write(&execution);
        let at = time::add(self.clock.now(), delay);
        self.schedule(at, Stage::Continue, execution);
    }

    /// Shutting down: the retry is left to the next start, which recovers the execution.
    fn leave_retry_to_next_start(&mut self, mut execution: Execution, failure: Failure) {
        execution.http_status = failure.http_status;
        execution.error = Some(failure.error);
        self.write_last(&execution);
        self.release(execution.job_id, Phase::Running);
    }

    fn failed_for_good(&mut self, job: &Job, mut execution: Execution, failure: Failure) {
        let job_id = execution.job_id;
        log::warn!(
            "job {job_id} execution {} failed for good after {} attempts: {}",
            execution.id,
            execution.attempts,
            failure.error
        );
        execution.status = ExecutionStatus::Failed;
        execution.finished_at = Some(self.clock.now());
        execution.http_status = failure.http_status;
        execution.error = Some(failure.error.clone());
        Metrics::add(&self.metrics.failed, 1);
        let duration = execution.duration.unwrap_or_default();
        self.metrics.record_finish(job_id, false, duration);
        self.write_last_and_check_alert(job, &execution);
        self.failing.insert(job_id);
        self.alert(Alert::FinalFailure {
            job_id,
            execution_id: execution.id,
            scheduled_at: execution.scheduled_at,
            attempts: execution.attempts,
            http_status: failure.http_status,
            error: failure.error,
        });
        self.release(job_id, Phase::Running);
    }
}
