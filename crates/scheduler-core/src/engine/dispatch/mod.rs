//! The dispatcher task: the timer, the per-job state, the queues of executions ready to send,
//! one per target host ([`hosts`]), and the attempts in flight ([`attempts`]), with every
//! decision about an execution made here, in one task.
//!
//! Every execution it receives was counted into the backlog by its sender, and leaves it
//! exactly once: with its last update ([`Dispatcher::write_last`], released by the writer once
//! written) or dropped without one ([`Dispatcher::leave_backlog`]).

mod attempts;
mod fresh;
mod hosts;
mod recovery;

use std::sync::Arc;
use std::sync::atomic;

use cron_expr::Timestamp;
use foldhash::{HashMap, HashSet};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{Id as TaskId, JoinSet};

use crate::alert::Alert;
use crate::clock::Clock;
use crate::domain::{
    Execution, ExecutionId, ExecutionStatus, ExecutionTrigger, Job, JobId, OverlapPolicy,
};
use crate::engine::job_alerts::{AlertWork, JobAlertCheck};
use crate::engine::lease::Lease;
use crate::engine::misfire::MisfireCut;
use crate::engine::timer::Timer;
use crate::engine::writer::WriteOp;
use crate::engine::{EngineConfig, ShutdownReport};
use crate::jitter::tick_fire_instant;
use crate::metrics::Metrics;
use crate::store::{BoxFuture, ClaimedTick};
use crate::transport::Transport;

use attempts::AttemptDone;
use fresh::FreshLimiter;
use hosts::{HostKey, HostQueues, host_of};

/// What the control task and the handle tell the dispatcher.
pub(crate) enum DispatchMsg {
    /// Newly claimed (or triggered) pending executions.
    Ticks(Vec<ClaimedTick>),
    /// Unfinished executions found at start-up, or taken over from a stopped node.
    Recovered(Vec<ClaimedTick>),
    /// A job's spec changed (stored version given). `passes` is how many periodic claim
    /// passes had started when the change was stored: their ticks may still carry the job as
    /// it was.
    JobChanged { job: Arc<Job>, passes: u64 },
    /// A job and its executions were deleted; `passes` as for [`DispatchMsg::JobChanged`].
    JobDeleted { id: JobId, passes: u64 },
    /// Every tick of periodic claim pass number `n` (counting from 1) has been sent.
    PassDone(u64),
    /// The ids of the executions held and not in flight (on the timer, waiting for a retry,
    /// or ready), for the membership task to check after the lease lapsed.
    Held {
        reply: oneshot::Sender<Vec<ExecutionId>>,
    },
    /// The jobs the dispatcher holds executions of, for a resync of job changes.
    HeldJobs { reply: oneshot::Sender<Vec<JobId>> },
    /// The lease is renewed after a lapse: drop `lost` (another node took them over), lift
    /// the fence and resume sending; then answer `done`.
    Rejoin {
        lost: HashSet<ExecutionId>,
        done: oneshot::Sender<()>,
    },
    /// The control task has stopped: no more ticks will come (sent during a drain).
    ControlStopped,
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
    /// The host of the job's target URL, whose queue its executions wait in.
    host: HostKey,
    /// Executions of this job anywhere in the dispatcher (timer, ready queue, in flight).
    refs: usize,
    /// Executions dispatched and unfinished (in flight, ready, or waiting for a retry).
    running: usize,
    /// A due tick held back by [`OverlapPolicy::BufferOne`] until `running` is back to zero;
    /// it counts in `refs` but not in `running`.
    waiting: Option<Execution>,
    deleted: bool,
}

impl JobEntry {
    /// Takes a newer version of the job; its executions queue under its new target's host
    /// from now on (those queued already stay where they are).
    fn set_job(&mut self, job: Arc<Job>) {
        if job.spec.target_url != self.job.spec.target_url {
            self.host = host_of(&job.spec.target_url);
        }
        self.job = job;
    }
}

/// How far an execution had got when it leaves the dispatcher (see [`Dispatcher::release`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// A tick not yet admitted: it never counted as running.
    Scheduled,
    /// Admitted (ready, in flight, or waiting for a retry): it counts as running.
    Running,
}

/// The dispatcher's channels.
pub(crate) struct Channels {
    /// What the control task and the handle tell it.
    pub(crate) inbox: mpsc::UnboundedReceiver<DispatchMsg>,
    /// Execution states to store.
    pub(crate) writer: mpsc::UnboundedSender<WriteOp>,
    /// Alerts to raise.
    pub(crate) alerts: mpsc::Sender<AlertWork>,
    /// Whether executions wait for an attempt slot; see [`Dispatcher::busy`].
    pub(crate) busy: watch::Sender<bool>,
}

pub(crate) struct Dispatcher {
    clock: Arc<dyn Clock>,
    transport: Arc<dyn Transport>,
    metrics: Arc<Metrics>,
    config: EngineConfig,
    /// Where a recovered execution's tick counts as missed.
    misfire: MisfireCut,
    /// Checked before every send: a node whose lease lapsed sends nothing.
    lease: Arc<Lease>,
    inbox: mpsc::UnboundedReceiver<DispatchMsg>,
    writer: mpsc::UnboundedSender<WriteOp>,
    alerts: mpsc::Sender<AlertWork>,
    timer: Timer<(Stage, Execution)>,
    /// Executions due and admitted, waiting for an in-flight slot, one queue per target host.
    ready: HostQueues,
    jobs: HashMap<JobId, JobEntry>,
    attempts: JoinSet<AttemptDone>,
    /// The job and target host of every attempt task in flight.
    attempt_jobs: HashMap<TaskId, (JobId, HostKey)>,
    /// At most [`EngineConfig::max_fresh_attempts`] attempts in flight that just started.
    fresh: FreshLimiter,
    /// Jobs whose last execution failed for good, for the recovery alert.
    failing: HashSet<JobId>,
    /// Recovered executions whose next attempt is a re-send after their node stopped (see
    /// `recovery`): it carries the redelivery header and counts in `redeliveries`.
    resends: HashSet<ExecutionId>,
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
        misfire: MisfireCut,
        lease: Arc<Lease>,
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
        let fresh = FreshLimiter::new(config.fresh_window, config.max_fresh_attempts);
        let ready = HostQueues::new(config.max_in_flight_per_host);
        Dispatcher {
            clock,
            transport,
            metrics,
            config,
            misfire,
            lease,
            inbox,
            writer,
            alerts,
            timer: Timer::default(),
            ready,
            jobs: HashMap::default(),
            attempts: JoinSet::new(),
            attempt_jobs: HashMap::default(),
            fresh,
            failing: HashSet::default(),
            resends: HashSet::default(),
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
                    let at = self.fire_at(&job, &execution);
                    self.hold(job);
                    self.schedule(at, Stage::Tick, execution);
                }
            }
            DispatchMsg::Recovered(ticks) => self.recover(ticks),
            DispatchMsg::JobChanged { job, passes } => {
                if let Some(entry) = self.jobs.get_mut(&job.id)
                    && job.version >= entry.job.version
                {
                    entry.set_job(Arc::clone(&job));
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
            DispatchMsg::Held { reply } => {
                let held = self
                    .timer
                    .iter()
                    .map(|(_, execution)| execution)
                    .chain(self.ready.iter())
                    .chain(
                        self.jobs
                            .values()
                            .filter_map(|entry| entry.waiting.as_ref()),
                    )
                    .map(|execution| execution.id)
                    .collect();
                let _ = reply.send(held);
            }
            DispatchMsg::HeldJobs { reply } => {
                let _ = reply.send(self.jobs.keys().copied().collect());
            }
            DispatchMsg::Rejoin { lost, done } => {
                self.drop_lost(&lost);
                self.lease.unfence();
                let _ = done.send(());
                self.start_ready();
            }
            // `run` takes shutdowns before they get here, and the drain the control's stop.
            DispatchMsg::Shutdown { .. } | DispatchMsg::ControlStopped => {}
        }
    }

    /// Drops the held executions in `lost`: another node took them over while this node's
    /// lease had lapsed, and sends them now. They leave the backlog without an update.
    fn drop_lost(&mut self, lost: &HashSet<ExecutionId>) {
        if lost.is_empty() {
            return;
        }
        let timed = self
            .timer
            .remove_if(|(_, execution)| lost.contains(&execution.id));
        let ready = self
            .ready
            .remove_if(|execution| lost.contains(&execution.id));
        self.resends.retain(|id| !lost.contains(id));
        let mut waited = Vec::new();
        for entry in self.jobs.values_mut() {
            if entry
                .waiting
                .as_ref()
                .is_some_and(|execution| lost.contains(&execution.id))
                && let Some(execution) = entry.waiting.take()
            {
                waited.push(execution.job_id);
            }
        }
        let dropped = timed.len() + ready.len() + waited.len();
        // A waiting tick was never admitted: it does not count as running.
        for job_id in waited {
            self.release(job_id, Phase::Scheduled);
        }
        for (stage, execution) in timed {
            let phase = match stage {
                Stage::Tick => Phase::Scheduled,
                Stage::Continue => Phase::Running,
            };
            self.release(execution.job_id, phase);
        }
        // Everything ready was admitted: it counts as running.
        for execution in &ready {
            self.release(execution.job_id, Phase::Running);
        }
        self.leave_backlog(dropped);
    }

    /// Takes a reference on the job's entry, creating it or refreshing its spec.
    fn hold(&mut self, job: Arc<Job>) -> &mut JobEntry {
        let entry = self.jobs.entry(job.id).or_insert_with(|| JobEntry {
            host: host_of(&job.spec.target_url),
            job: Arc::clone(&job),
            refs: 0,
            running: 0,
            waiting: None,
            deleted: false,
        });
        if job.version > entry.job.version {
            entry.set_job(job);
        }
        entry.refs += 1;
        entry
    }

    /// Drops a reference taken by [`Dispatcher::hold`]; an execution in [`Phase::Running`]
    /// also ends its share of the overlap count.
    fn release(&mut self, job_id: JobId, phase: Phase) {
        let Some(entry) = self.jobs.get_mut(&job_id) else {
            log::error!("dispatcher bookkeeping: job {job_id} released with no job entry");
            return;
        };
        decrement(&mut entry.refs, "references", job_id);
        if phase == Phase::Running {
            decrement(&mut entry.running, "running executions", job_id);
            // The tick held back by `BufferOne` is due again: `admit` checks it afresh.
            if entry.running == 0
                && let Some(waiting) = entry.waiting.take()
            {
                self.timer
                    .push(waiting.scheduled_at, (Stage::Tick, waiting));
            }
        }
        if entry.refs == 0 {
            self.jobs.remove(&job_id);
        }
    }

    /// Drops an execution whose job was deleted: it leaves the backlog without a last update
    /// (the deletion took it from the store).
    fn drop_deleted(&mut self, job_id: JobId, phase: Phase) {
        self.release(job_id, phase);
        self.leave_backlog(1);
    }

    /// The job of an execution whose attempt starts or ends, or `None` when the execution was
    /// dropped: its job was deleted (released from the running phase) or, a bookkeeping bug,
    /// has no entry.
    fn running_job(&mut self, execution: &Execution) -> Option<Arc<Job>> {
        let Some(entry) = self.jobs.get(&execution.job_id) else {
            self.forget_resend(execution.id);
            self.drop_orphan(execution);
            return None;
        };
        if entry.deleted {
            self.forget_resend(execution.id);
            self.drop_deleted(execution.job_id, Phase::Running);
            return None;
        }
        Some(Arc::clone(&entry.job))
    }

    /// Drops an execution whose job entry is missing, a bookkeeping bug: it is logged, and the
    /// execution stays unfinished in the store for the next start to recover.
    fn drop_orphan(&self, execution: &Execution) {
        log::error!(
            "dispatcher bookkeeping: job {} execution {} has no job entry; left for the next start",
            execution.job_id,
            execution.id
        );
        self.leave_backlog(1);
    }

    fn schedule(&mut self, at: Timestamp, stage: Stage, execution: Execution) {
        self.timer.push(at, (stage, execution));
    }

    /// The instant `execution` of `job` fires: a scheduled tick moved by the job's tick jitter
    /// (see [`tick_fire_instant`]), a manual trigger at its instant. Its drift is measured from
    /// here, so jitter is not drift. A job without jitter pays two comparisons.
    fn fire_at(&self, job: &Job, execution: &Execution) -> Timestamp {
        if execution.trigger != ExecutionTrigger::Schedule {
            return execution.scheduled_at;
        }
        tick_fire_instant(
            job.id,
            &job.spec,
            execution.scheduled_at,
            self.config.default_tick_jitter,
        )
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
        let mut update = execution.to_update();
        if execution.status.is_finished() && self.is_last_tick(execution) {
            update.last_tick_of = Some(execution.job_id);
        }
        let _ = self.writer.send(WriteOp {
            update,
            stored: None,
            last: true,
        });
    }

    /// Whether `execution` is of its job's last tick: a scheduled tick of a job that may end
    /// (one-off, or windowed) after which its schedule has none. The store marks the job done
    /// when such an execution finishes and no other is unfinished.
    fn is_last_tick(&self, execution: &Execution) -> bool {
        if execution.trigger != ExecutionTrigger::Schedule {
            return false;
        }
        self.jobs.get(&execution.job_id).is_some_and(|entry| {
            let spec = &entry.job.spec;
            spec.may_end() && spec.next_fire_after(execution.scheduled_at).is_none()
        })
    }

    /// Releases `n` executions dropped without a last update.
    fn leave_backlog(&self, n: usize) {
        if n > 0 {
            self.metrics.release(n);
        }
    }

    fn alert(&self, alert: Alert) {
        if self.alerts.try_send(AlertWork::Alert(alert)).is_err() {
            Metrics::add(&self.metrics.alerts_dropped, 1);
            log::warn!("alert queue full: alert dropped");
        }
    }

    /// Queues the last update of a finished `execution`, and, if its job has its own alert
    /// that this outcome may raise, the check of that alert (which waits for the update to be
    /// stored). Only such jobs' updates are acknowledged, which makes the writer call the
    /// store without lingering.
    fn write_last_and_check_alert(&self, job: &Job, execution: &Execution) {
        if !JobAlertCheck::wanted(job, execution) {
            self.write_last(execution);
            return;
        }
        let (stored, stored_rx) = oneshot::channel();
        let _ = self.writer.send(WriteOp {
            update: execution.to_update(),
            stored: Some(stored),
            last: true,
        });
        if let Some(check) = JobAlertCheck::new(job, execution, stored_rx)
            && self.alerts.try_send(AlertWork::Check(check)).is_err()
        {
            Metrics::add(&self.metrics.alerts_dropped, 1);
            log::warn!(
                "alert queue full: job {} execution {}: job alert check dropped",
                execution.job_id,
                execution.id
            );
        }
    }

    /// Pops every entry that is due and starts what the in-flight limit allows.
    fn fire_due(&mut self) {
        let now = self.clock.now();
        while let Some((stage, execution)) = self.timer.pop_due(now) {
            match stage {
                Stage::Tick => self.admit(execution, now),
                Stage::Continue => self.make_ready(execution),
            }
        }
        self.start_ready();
    }

    /// Decides whether a due tick is sent: its job must still exist, still have this tick
    /// (it may have been paused or rescheduled since the claim), and allow the overlap.
    fn admit(&mut self, mut execution: Execution, now: Timestamp) {
        let job_id = execution.job_id;
        let Some(entry) = self.jobs.get(&job_id) else {
            self.forget_resend(execution.id);
            self.drop_orphan(&execution);
            return;
        };
        if entry.deleted {
            self.forget_resend(execution.id);
            self.drop_deleted(job_id, Phase::Scheduled);
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
        } else if spec.overlap == OverlapPolicy::BufferOne && entry.running > 0 {
            if entry.waiting.is_some() {
                Some("previous execution still running and an earlier tick already waits")
            } else {
                log::debug!(
                    "job {job_id} execution {} waits for the running one",
                    execution.id
                );
                if let Some(entry) = self.jobs.get_mut(&job_id) {
                    entry.waiting = Some(execution);
                }
                return;
            }
        } else {
            None
        };
        match skip_reason {
            Some(reason) => {
                log::info!("job {job_id} execution {} skipped: {reason}", execution.id);
                self.forget_resend(execution.id);
                execution.status = ExecutionStatus::Skipped;
                execution.finished_at = Some(now);
                execution.error = Some(reason.to_owned());
                Metrics::add(&self.metrics.skipped, 1);
                self.write_last(&execution);
                self.release(job_id, Phase::Scheduled);
            }
            None => {
                if let Some(entry) = self.jobs.get_mut(&job_id) {
                    entry.running += 1;
                }
                self.make_ready(execution);
            }
        }
    }

    /// Queues an admitted execution for an attempt slot, in its job's host's queue.
    fn make_ready(&mut self, execution: Execution) {
        // An execution with no job entry (a bookkeeping bug) is dropped when its turn comes.
        let host = match self.jobs.get(&execution.job_id) {
            Some(entry) => Arc::clone(&entry.host),
            None => host_of(""),
        };
        self.ready.push(&host, execution);
    }

    fn set_busy(&self, busy: bool) {
        self.busy.send_if_modified(|was| {
            let changed = *was != busy;
            *was = busy;
            changed
        });
    }

    /// Stops dispatching and waits for the attempts in flight until `deadline`, and for the
    /// control task to stop: ticks it still hands over are left in the store, counted.
    async fn drain(&mut self, deadline: Timestamp) -> ShutdownReport {
        self.draining = true;
        // Claimed ticks (due, or waiting for a running execution) and waiting retries are
        // unfinished in the store: the next start has them.
        let waiting = self
            .jobs
            .values_mut()
            .filter_map(|entry| entry.waiting.take())
            .count();
        let mut report = ShutdownReport {
            left_for_recovery: self.timer.len() + self.ready.waiting() + waiting,
            ..ShutdownReport::default()
        };
        self.timer.clear();
        self.ready.clear();
        self.resends.clear();
        self.set_busy(false);
        self.leave_backlog(report.left_for_recovery);
        let mut control_running = true;
        while control_running || !self.attempts.is_empty() {
            tokio::select! {
                biased;
                message = self.inbox.recv(), if control_running => match message {
                    None | Some(DispatchMsg::ControlStopped) => control_running = false,
                    Some(DispatchMsg::Ticks(ticks) | DispatchMsg::Recovered(ticks)) => {
                        report.left_for_recovery += ticks.len();
                        self.leave_backlog(ticks.len());
                    }
                    // Changes no longer matter; a question's asker hears nothing.
                    Some(_) => {}
                },
                Some(done) = self.attempts.join_next_with_id(), if !self.attempts.is_empty() => {
                    report.drained += 1;
                    self.attempt_finished(done);
                }
                () = self.clock.sleep_until(deadline), if !self.attempts.is_empty() => {
                    report.interrupted = self.attempts.len();
                    self.attempts.abort_all();
                    while self.attempts.join_next().await.is_some() {}
                    self.leave_backlog(report.interrupted);
                }
            }
        }
        self.metrics.in_flight.store(0, atomic::Ordering::Relaxed);
        self.metrics.waiting.store(0, atomic::Ordering::Relaxed);
        self.metrics
            .waiting_on_host
            .store(0, atomic::Ordering::Relaxed);
        report
    }
}

/// Takes one from a count of the dispatcher's bookkeeping; one already at zero is a bug, logged
/// with the job and left at zero rather than stopping the engine.
fn decrement(count: &mut usize, what: &str, job_id: JobId) {
    match count.checked_sub(1) {
        Some(less) => *count = less,
        None => log::error!("dispatcher bookkeeping: job {job_id} has no {what} left to release"),
    }
}
