//! The dispatcher task: the timer, the per-job state and the attempts in flight.
//!
//! Every execution the dispatcher receives was counted into the engine's backlog by whoever
//! sent it (the control task for claims and triggers, the start-up for recovery). It leaves the
//! backlog exactly once: either the dispatcher sends its last update with
//! [`Dispatcher::write_last`] (the writer releases it once that update is written), or the
//! dispatcher drops it without a last update and releases it with
//! [`Dispatcher::leave_backlog`] (its job was deleted, its attempt task failed, or the engine
//! stops and leaves it for the next start).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic;
use std::time::Duration;

use cron_expr::Timestamp;
use foldhash::{HashMap, HashSet};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{Id as TaskId, JoinError, JoinSet};

use crate::alert::Alert;
use crate::clock::Clock;
use crate::domain::{
    DeliveryType, Execution, ExecutionStatus, ExecutionTrigger, Job, JobId, OverlapPolicy,
};
use crate::engine::retry::{Verdict, backoff, classify};
use crate::engine::timer::Timer;
use crate::engine::writer::WriteOp;
use crate::engine::{EngineConfig, ShutdownReport};
use crate::metrics::Metrics;
use crate::store::{BoxFuture, ClaimedTick};
use crate::time;
use crate::transport::{AttemptError, AttemptOutcome, AttemptRequest, Transport};

/// What the control task and the handle tell the dispatcher.
pub(crate) enum DispatchMsg {
    /// Newly claimed (or triggered) pending executions.
    Ticks(Vec<ClaimedTick>),
    /// Unfinished executions found at start-up.
    Recovered(Vec<ClaimedTick>),
    /// A job's spec changed (stored version given). `passes` is how many periodic claim
    /// passes had started when the change was stored: their ticks may still carry the job as
    /// it was.
    JobChanged { job: Arc<Job>, passes: u64 },
    /// A job and its executions were deleted; `passes` as for [`DispatchMsg::JobChanged`].
    JobDeleted { id: JobId, passes: u64 },
    /// Every tick of periodic claim pass number `n` (counting from 1) has been sent.
    PassDone(u64),
    /// Drain and stop.
    Shutdown {
        deadline: Timestamp,
        done: oneshot::Sender<ShutdownReport>,
    },
}

/// Whether a timer entry is a tick's first dispatch (checked against the job's current spec
/// and overlap policy) or an execution already under way (a retry or a recovered send).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Tick,
    Continue,
}

/// A change to a job that ticks of a claim pass already under way may not reflect.
///
/// Changes and periodic claim passes run concurrently, so a pass that read a job before it
/// was changed or deleted can hand its ticks over after the change has reached the
/// dispatcher. Until every such pass is done, the dispatcher remembers the change and applies
/// it to the ticks that arrive.
enum RecentChange {
    /// The job's newest stored version.
    Changed(Arc<Job>),
    /// The job is gone (with the executions the pass claimed for it).
    Deleted,
}

/// The dispatcher's view of a job with executions under way.
struct JobEntry {
    job: Arc<Job>,
    /// Executions of this job anywhere in the dispatcher (timer, ready queue, in flight).
    refs: usize,
    /// Executions dispatched and unfinished (in flight, ready, or waiting for a retry).
    running: usize,
    deleted: bool,
}

enum AttemptResult {
    /// The attempt was never sent: the store did not record its start (at-most-once).
    NotSent,
    Sent {
        result: Result<AttemptOutcome, AttemptError>,
        elapsed: Duration,
    },
}

struct AttemptDone {
    execution: Execution,
    result: AttemptResult,
}

/// What the dispatcher keeps about one attempt task.
struct AttemptSlot {
    job_id: JobId,
    /// Started less than [`EngineConfig::fresh_window`] ago (as of the last
    /// [`Dispatcher::age_attempts`]): counted in [`Dispatcher::fresh`].
    fresh: bool,
}

/// The dispatcher's channels.
pub(crate) struct Channels {
    /// What the control task and the handle tell it.
    pub(crate) inbox: mpsc::UnboundedReceiver<DispatchMsg>,
    /// Execution states to store.
    pub(crate) writer: mpsc::UnboundedSender<WriteOp>,
    /// Alerts to raise.
    pub(crate) alerts: mpsc::Sender<Alert>,
    /// Whether executions wait for an attempt slot; see [`Dispatcher::busy`].
    pub(crate) busy: watch::Sender<bool>,
}

pub(crate) struct Dispatcher {
    clock: Arc<dyn Clock>,
    transport: Arc<dyn Transport>,
    metrics: Arc<Metrics>,
    config: EngineConfig,
    inbox: mpsc::UnboundedReceiver<DispatchMsg>,
    writer: mpsc::UnboundedSender<WriteOp>,
    alerts: mpsc::Sender<Alert>,
    timer: Timer<(Stage, Execution)>,
    /// Executions due and admitted, waiting for an in-flight slot.
    ready: VecDeque<Execution>,
    jobs: HashMap<JobId, JobEntry>,
    attempts: JoinSet<AttemptDone>,
    attempt_slots: HashMap<TaskId, AttemptSlot>,
    /// Attempts in flight that are still fresh: at most [`EngineConfig::max_fresh_attempts`].
    fresh: usize,
    /// The start of every attempt not yet aged, oldest first (finished ones included: their
    /// slot is gone, and aging skips them).
    starts: VecDeque<(Timestamp, TaskId)>,
    /// Jobs whose last execution failed for good, for the recovery alert.
    failing: HashSet<JobId>,
    /// Changes stored while claim passes were under way, each with the number of the last
    /// pass that may not reflect it.
    recent: HashMap<JobId, (RecentChange, u64)>,
    /// The number of the last periodic claim pass whose ticks have all arrived.
    passes_done: u64,
    rng: fastrand::Rng,
    draining: bool,
    /// Whether executions are due and waiting for an attempt slot (a burst is under way):
    /// periodic claim passes wait for it to clear, so that the store's largest writes do not
    /// compete with a burst for the CPU.
    busy: watch::Sender<bool>,
}

impl Dispatcher {
    pub(crate) fn new(
        clock: Arc<dyn Clock>,
        transport: Arc<dyn Transport>,
        metrics: Arc<Metrics>,
        config: EngineConfig,
        Channels {
            inbox,
            writer,
            alerts,
            busy,
        }: Channels,
    ) -> Dispatcher {
        let rng = match config.jitter_seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        Dispatcher {
            clock,
            transport,
            metrics,
            config,
            inbox,
            writer,
            alerts,
            timer: Timer::default(),
            ready: VecDeque::new(),
            jobs: HashMap::default(),
            attempts: JoinSet::new(),
            attempt_slots: HashMap::default(),
            fresh: 0,
            starts: VecDeque::new(),
            failing: HashSet::default(),
            recent: HashMap::default(),
            passes_done: 0,
            rng,
            draining: false,
            busy,
        }
    }

    pub(crate) async fn run(mut self) {
        // The wait for the earliest entry, kept while that instant stays the same: the loop
        // turns once per finished attempt, and a new wait would register a timer each time.
        let mut wait: Option<(Timestamp, BoxFuture<'static, ()>)> = None;
        loop {
            let next_due = match (self.timer.next_at(), self.next_aging()) {
                (Some(at), Some(aging)) => Some(at.min(aging)),
                (at, aging) => at.or(aging),
            };
            if wait.as_ref().map(|(at, _)| *at) != next_due {
                wait = next_due.map(|at| (at, self.clock.sleep_until(at)));
            }
            let timer = async {
                match &mut wait {
                    Some((_, sleep)) => sleep.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                message = self.inbox.recv() => match message {
                    // Every handle is gone without a shutdown: stop; attempts are dropped.
                    None => return,
                    Some(DispatchMsg::Shutdown { deadline, done }) => {
                        // The timer is done with: its wait must not wake the drain.
                        drop(wait.take());
                        let report = self.drain(deadline).await;
                        let _ = done.send(report);
                        return;
                    }
                    Some(message) => self.handle(message),
                },
                Some(done) = self.attempts.join_next_with_id(), if !self.attempts.is_empty() => {
                    self.attempt_finished(done);
                }
                () = timer => {
                    // A finished wait is never polled again.
                    wait = None;
                    self.fire_due();
                }
            }
        }
    }

    fn handle(&mut self, message: DispatchMsg) {
        match message {
            DispatchMsg::Ticks(ticks) => {
                Metrics::add(&self.metrics.claimed, ticks.len() as u64);
                for ClaimedTick { execution, mut job } in ticks {
                    match self.recent.get(&job.id) {
                        Some((RecentChange::Deleted, _)) => {
                            // Claimed before the deletion, which took the execution with it.
                            self.leave_backlog(1);
                            continue;
                        }
                        Some((RecentChange::Changed(newer), _)) if newer.version > job.version => {
                            job = Arc::clone(newer);
                        }
                        Some(_) | None => {}
                    }
                    self.hold(job);
                    self.schedule(execution.scheduled_at, Stage::Tick, execution);
                }
            }
            DispatchMsg::Recovered(ticks) => self.recover(ticks),
            DispatchMsg::JobChanged { job, passes } => {
                if let Some(entry) = self.jobs.get_mut(&job.id)
                    && job.version >= entry.job.version
                {
                    entry.job = Arc::clone(&job);
                }
                // Changes are stored one at a time and sent in that order: this is the newest.
                if passes > self.passes_done {
                    self.recent
                        .insert(job.id, (RecentChange::Changed(job), passes));
                }
            }
            DispatchMsg::JobDeleted { id, passes } => {
                if let Some(entry) = self.jobs.get_mut(&id) {
                    entry.deleted = true;
                }
                self.failing.remove(&id);
                if passes > self.passes_done {
                    self.recent.insert(id, (RecentChange::Deleted, passes));
                }
            }
            DispatchMsg::PassDone(pass) => {
                self.passes_done = self.passes_done.max(pass);
                let done = self.passes_done;
                self.recent.retain(|_, (_, last_pass)| *last_pass > done);
            }
            // `run` takes shutdowns before they get here.
            DispatchMsg::Shutdown { .. } => {}
        }
    }

    fn recover(&mut self, ticks: Vec<ClaimedTick>) {
        let now = self.clock.now();
        Metrics::add(&self.metrics.claimed, ticks.len() as u64);
        for ClaimedTick { mut execution, job } in ticks {
            match (execution.status, job.spec.delivery) {
                (ExecutionStatus::Running, DeliveryType::AtMostOnce) => {
                    log::warn!(
                        "job {} execution {} was in flight when the node stopped; at-most-once: abandoned",
                        job.id,
                        execution.id
                    );
                    execution.status = ExecutionStatus::Abandoned;
                    execution.finished_at = Some(now);
                    execution.error = Some(
                        "in flight when the node stopped; at-most-once, not re-sent".to_owned(),
                    );
                    Metrics::add(&self.metrics.abandoned, 1);
                    self.write_last(&execution);
                }
                (ExecutionStatus::Running, DeliveryType::AtLeastOnce) => {
                    log::info!(
                        "job {} execution {}: re-sending after restart",
                        job.id,
                        execution.id
                    );
                    self.hold(job).running += 1;
                    self.schedule(now, Stage::Continue, execution);
                }
                _ => {
                    self.hold(job);
                    self.schedule(execution.scheduled_at, Stage::Tick, execution);
                }
            }
        }
    }

    /// Takes a reference on the job's entry, creating it or refreshing its spec.
    fn hold(&mut self, job: Arc<Job>) -> &mut JobEntry {
        let entry = self.jobs.entry(job.id).or_insert_with(|| JobEntry {
            job: Arc::clone(&job),
            refs: 0,
            running: 0,
            deleted: false,
        });
        if job.version > entry.job.version {
            entry.job = job;
        }
        entry.refs += 1;
        entry
    }

    /// Drops a reference taken by [`Dispatcher::hold`]; `was_running` also ends the execution's
    /// share of the overlap count.
    fn release(&mut self, job_id: JobId, was_running: bool) {
        if let Some(entry) = self.jobs.get_mut(&job_id) {
            entry.refs -= 1;
            if was_running {
                entry.running -= 1;
            }
            if entry.refs == 0 {
                self.jobs.remove(&job_id);
            }
        }
    }

    fn schedule(&mut self, at: Timestamp, stage: Stage, execution: Execution) {
        self.timer.push(at, (stage, execution));
    }

    /// Queues an intermediate state of an execution that stays in the engine (a retry).
    fn write(&self, execution: &Execution) {
        let _ = self.writer.send(WriteOp {
            update: execution.to_update(),
            stored: None,
            last: false,
        });
    }

    /// Queues the engine's last update of an execution that leaves it (finished, skipped,
    /// abandoned, or left to the next start); the writer releases it from the backlog once the
    /// update is written.
    fn write_last(&self, execution: &Execution) {
        let _ = self.writer.send(WriteOp {
            update: execution.to_update(),
            stored: None,
            last: true,
        });
    }

    /// Releases `n` executions dropped without a last update.
    fn leave_backlog(&self, n: usize) {
        if n > 0 {
            self.metrics.release(n);
        }
    }

    fn alert(&self, alert: Alert) {
        if self.alerts.try_send(alert).is_err() {
            Metrics::add(&self.metrics.alerts_dropped, 1);
            log::warn!("alert queue full: alert dropped");
        }
    }

    /// Pops every entry that is due and starts what the in-flight limit allows.
    fn fire_due(&mut self) {
        let now = self.clock.now();
        while let Some((stage, execution)) = self.timer.pop_due(now) {
            match stage {
                Stage::Tick => self.admit(execution, now),
                Stage::Continue => self.ready.push_back(execution),
            }
        }
        self.start_ready();
    }

    /// Decides whether a due tick is sent: its job must still exist, still have this tick
    /// (it may have been paused or rescheduled since the claim), and allow the overlap.
    fn admit(&mut self, mut execution: Execution, now: Timestamp) {
        let job_id = execution.job_id;
        let entry = &self.jobs[&job_id];
        if entry.deleted {
            self.release(job_id, false);
            self.leave_backlog(1);
            return;
        }
        let spec = &entry.job.spec;
        let scheduled = execution.trigger == ExecutionTrigger::Schedule;
        let skip_reason = if scheduled && spec.paused {
            Some("job paused")
        } else if scheduled && !spec.fires_at(execution.scheduled_at) {
            Some("job rescheduled: the new schedule has no such tick")
        } else if spec.overlap == OverlapPolicy::SkipWhileRunning && entry.running > 0 {
            Some("previous execution still running")
        } else {
            None
        };
        match skip_reason {
            Some(reason) => {
                log::info!("job {job_id} execution {} skipped: {reason}", execution.id);
                execution.status = ExecutionStatus::Skipped;
                execution.finished_at = Some(now);
                execution.error = Some(reason.to_owned());
                Metrics::add(&self.metrics.skipped, 1);
                self.write_last(&execution);
                self.release(job_id, false);
            }
            None => {
                if let Some(entry) = self.jobs.get_mut(&job_id) {
                    entry.running += 1;
                }
                self.ready.push_back(execution);
            }
        }
    }

    fn start_ready(&mut self) {
        if !self.ready.is_empty() {
            self.age_attempts(self.clock.now());
        }
        while self.attempts.len() < self.config.max_in_flight
            && self.fresh < self.config.max_fresh_attempts
        {
            let Some(execution) = self.ready.pop_front() else {
                break;
            };
            self.start_attempt(execution);
        }
        self.metrics
            .in_flight
            .store(self.attempts.len() as u64, atomic::Ordering::Relaxed);
        self.metrics
            .waiting
            .store(self.ready.len() as u64, atomic::Ordering::Relaxed);
        self.set_busy(!self.ready.is_empty());
    }

    fn set_busy(&self, busy: bool) {
        self.busy.send_if_modified(|was| {
            let changed = *was != busy;
            *was = busy;
            changed
        });
    }

    fn start_attempt(&mut self, mut execution: Execution) {
        let job_id = execution.job_id;
        let entry = &self.jobs[&job_id];
        if entry.deleted {
            self.release(job_id, true);
            self.leave_backlog(1);
            return;
        }
        let job = Arc::clone(&entry.job);
        let now = self.clock.now();
        execution.attempts += 1;
        execution.status = ExecutionStatus::Running;
        if execution.executed_at.is_none() {
            execution.executed_at = Some(now);
            Metrics::add(&self.metrics.fired, 1);
            self.metrics
                .drift
                .record(time::since(now, execution.scheduled_at));
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
        let request = AttemptRequest {
            job,
            execution_id: execution.id,
            scheduled_at: execution.scheduled_at,
            attempt: execution.attempts,
        };
        let transport = Arc::clone(&self.transport);
        let clock = Arc::clone(&self.clock);
        let handle = self.attempts.spawn(async move {
            if let Some(stored) = stored_rx
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
        });
        // With no window, no attempt is ever fresh.
        let fresh = !self.config.fresh_window.is_zero();
        if fresh {
            self.fresh += 1;
            self.starts.push_back((now, handle.id()));
        }
        self.attempt_slots
            .insert(handle.id(), AttemptSlot { job_id, fresh });
    }

    /// Attempts started `fresh_window` or longer before `now` stop counting as fresh: they
    /// wait on their targets, which costs memory (bounded by `max_in_flight`) but no CPU.
    fn age_attempts(&mut self, now: Timestamp) {
        while let Some(&(started, task_id)) = self.starts.front() {
            if time::add(started, self.config.fresh_window) > now {
                break;
            }
            self.starts.pop_front();
            if let Some(slot) = self.attempt_slots.get_mut(&task_id)
                && slot.fresh
            {
                slot.fresh = false;
                self.fresh -= 1;
            }
        }
    }

    /// When the oldest fresh attempt ages, if executions are waiting for the fresh limit.
    fn next_aging(&self) -> Option<Timestamp> {
        if self.ready.is_empty() || self.fresh < self.config.max_fresh_attempts {
            return None;
        }
        self.starts
            .front()
            .map(|&(started, _)| time::add(started, self.config.fresh_window))
    }

    /// Forgets a finished attempt task; its job, if the dispatcher still knew the task.
    fn forget_attempt(&mut self, task_id: TaskId) -> Option<JobId> {
        let slot = self.attempt_slots.remove(&task_id)?;
        if slot.fresh {
            self.fresh -= 1;
        }
        if self.attempt_slots.is_empty() {
            // Every start left is of a finished attempt.
            self.starts.clear();
        }
        Some(slot.job_id)
    }

    fn attempt_finished(&mut self, done: Result<(TaskId, AttemptDone), JoinError>) {
        let (task_id, done) = match done {
            Ok(done) => done,
            Err(error) => {
                // A panicking transport: the execution stays unfinished in the store, and the
                // next start recovers it.
                log::error!("an attempt task failed: {error}");
                if let Some(job_id) = self.forget_attempt(error.id()) {
                    self.release(job_id, true);
                }
                self.leave_backlog(1);
                self.start_ready();
                return;
            }
        };
        self.forget_attempt(task_id);
        self.conclude(done);
        self.start_ready();
    }

    fn conclude(
        &mut self,
        AttemptDone {
            mut execution,
            result,
        }: AttemptDone,
    ) {
        let job_id = execution.job_id;
        let now = self.clock.now();
        let Some(entry) = self.jobs.get(&job_id) else {
            self.leave_backlog(1);
            return;
        };
        if entry.deleted {
            self.release(job_id, true);
            self.leave_backlog(1);
            return;
        }
        let job = Arc::clone(&entry.job);
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
        execution.duration = Some(duration);
        match classify(&result) {
            Verdict::Success { http_status } => {
                execution.status = ExecutionStatus::Succeeded;
                execution.http_status = Some(http_status);
                execution.error = None;
                execution.finished_at = Some(now);
                Metrics::add(&self.metrics.succeeded, 1);
                self.metrics.record_finish(job_id, true, duration);
                self.write_last(&execution);
                if self.failing.remove(&job_id) {
                    self.alert(Alert::Recovered {
                        job_id,
                        execution_id: execution.id,
                    });
                }
                self.release(job_id, true);
            }
            Verdict::Failure {
                retryable,
                http_status,
                error,
                retry_after,
            } => {
                execution.http_status = http_status;
                let may_retry = retryable
                    && job.spec.delivery == DeliveryType::AtLeastOnce
                    && execution.attempts < job.spec.retry.max_attempts;
                if may_retry && !self.draining {
                    let mut delay = backoff(&job.spec.retry, execution.attempts, &mut self.rng);
                    if let Some(asked) = retry_after {
                        delay = delay.max(asked.min(self.config.max_retry_after));
                    }
                    log::info!(
                        "job {job_id} execution {} attempt {} failed ({error}); retry in {delay:?}",
                        execution.id,
                        execution.attempts
                    );
                    execution.error = Some(error);
                    Metrics::add(&self.metrics.retried, 1);
                    self.write(&execution);
                    self.schedule(time::add(now, delay), Stage::Continue, execution);
                } else if may_retry {
                    // Shutting down: the retry is left to the next start.
                    execution.error = Some(error);
                    self.write_last(&execution);
                    self.release(job_id, true);
                } else {
                    log::warn!(
                        "job {job_id} execution {} failed for good after {} attempts: {error}",
                        execution.id,
                        execution.attempts
                    );
                    execution.status = ExecutionStatus::Failed;
                    execution.finished_at = Some(now);
                    execution.error = Some(error.clone());
                    Metrics::add(&self.metrics.failed, 1);
                    self.metrics.record_finish(job_id, false, duration);
                    self.write_last(&execution);
                    self.failing.insert(job_id);
                    self.alert(Alert::FinalFailure {
                        job_id,
                        execution_id: execution.id,
                        scheduled_at: execution.scheduled_at,
                        attempts: execution.attempts,
                        http_status,
                        error,
                    });
                    self.release(job_id, true);
                }
            }
        }
    }

    /// Stops dispatching and waits for the attempts in flight until `deadline`.
    async fn drain(&mut self, deadline: Timestamp) -> ShutdownReport {
        self.draining = true;
        // Claimed ticks and waiting retries are unfinished in the store: the next start has them.
        let mut report = ShutdownReport {
            left_for_recovery: self.timer.len() + self.ready.len(),
            ..ShutdownReport::default()
        };
        self.timer.clear();
        self.ready.clear();
        self.set_busy(false);
        self.leave_backlog(report.left_for_recovery);
        while !self.attempts.is_empty() {
            tokio::select! {
                biased;
                Some(done) = self.attempts.join_next_with_id() => {
                    report.drained += 1;
                    self.attempt_finished(done);
                }
                () = self.clock.sleep_until(deadline) => {
                    report.interrupted = self.attempts.len();
                    self.attempts.abort_all();
                    while self.attempts.join_next().await.is_some() {}
                    self.leave_backlog(report.interrupted);
                    break;
                }
            }
        }
        self.metrics.in_flight.store(0, atomic::Ordering::Relaxed);
        self.metrics.waiting.store(0, atomic::Ordering::Relaxed);
        report
    }
}
