//! The control task: claims due ticks and applies hot changes, in one sequence.
//!
//! Claims are where the engine pushes back when it is overloaded. Every execution claimed or
//! triggered here is counted into the backlog before it goes to the dispatcher, and a claim
//! takes at most the room left under `max_backlog`; with no room the pass claims nothing, and
//! the due ticks wait in the store. They are claimed later, late, and the misfire policies
//! apply to those older than `misfire_threshold`: overload shows as drift, not as memory.
//! Manual triggers are counted but never refused (they are few, and their caller waits).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::domain::{Execution, ExecutionId, ExecutionTrigger, Job, JobId, JobSpec};
use crate::engine::dispatch::DispatchMsg;
use crate::engine::{EngineConfig, VersionCheck};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::store::{ClaimRequest, ClaimedTick, NextFire, Store};
use crate::time;

/// A request to the control task, with where to send the answer.
pub(crate) enum Command {
    Create {
        spec: JobSpec,
        reply: oneshot::Sender<Result<Job>>,
    },
    Update {
        id: JobId,
        spec: JobSpec,
        check: VersionCheck,
        reply: oneshot::Sender<Result<Job>>,
    },
    SetPaused {
        id: JobId,
        paused: bool,
        reply: oneshot::Sender<Result<Job>>,
    },
    Delete {
        id: JobId,
        reply: oneshot::Sender<Result<bool>>,
    },
    Trigger {
        id: JobId,
        reply: oneshot::Sender<Result<ExecutionId>>,
    },
    /// Answered at once: the loop is alive and taking commands.
    Ping {
        reply: oneshot::Sender<Result<()>>,
    },
    Stop,
}

pub(crate) struct Control {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    config: EngineConfig,
    commands: mpsc::Receiver<Command>,
    dispatch: mpsc::UnboundedSender<DispatchMsg>,
    /// Claim passes deferred in a row (0 when the last pass claimed everything due): the
    /// warning is logged when this leaves 0, not on every deferred pass.
    deferred_passes: u64,
}

/// How a claim pass ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PassOutcome {
    /// Every due tick was claimed.
    Complete,
    /// The backlog was full before the first claim, or after a full batch: there may be due
    /// ticks left in the store (a full batch that took the last of them cannot be told apart).
    Deferred,
    /// A claim failed; the next pass tries again.
    Failed,
}

/// After a deferred claim pass, the next one comes after `claim_interval` divided by this.
const DEFERRED_RETRY_DIVISOR: u32 = 10;

/// Where on the claim interval's grid the periodic claim passes fall: half a second past a
/// whole second when the interval is whole seconds, else half an interval past the grid.
///
/// Cron ticks fall on whole seconds, and every job due at a second fires at that instant, so
/// the dispatcher's busiest moments are just after whole seconds. A claim pass is the
/// store's largest write (one row per tick claimed); placing it half-way between ticks keeps
/// it from competing with a burst of dispatches for the CPU. Ticks are still claimed at least
/// `look_ahead - claim_interval` before they are due.
fn claim_phase(interval: Duration) -> Duration {
    if interval.subsec_nanos() == 0 {
        Duration::from_millis(500)
    } else {
        interval / 2
    }
}

/// How many later milliseconds a manual trigger tries when its instant is taken.
const TRIGGER_SLOTS: u32 = 1_000;

/// The most creations taken from the queue together. Their inserts reach the store at once, so
/// they share its group commit, and they share one claim pass; one at a time, every creation
/// paid a commit and a claim of its own, and creations were capped by the store's latency.
const CREATE_BATCH: usize = 256;

impl Control {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        config: EngineConfig,
        commands: mpsc::Receiver<Command>,
        dispatch: mpsc::UnboundedSender<DispatchMsg>,
    ) -> Control {
        Control {
            store,
            clock,
            metrics,
            config,
            commands,
            dispatch,
            deferred_passes: 0,
        }
    }

    pub(crate) async fn run(mut self) {
        let mut next_claim = self.clock.now();
        loop {
            let wake = next_claim;
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    None | Some(Command::Stop) => return,
                    Some(Command::Create { spec, reply }) => {
                        match self.create_batch(spec, reply).await {
                            None => {}
                            Some(Command::Stop) => return,
                            Some(command) => self.handle(command).await,
                        }
                    }
                    Some(command) => self.handle(command).await,
                },
                () = self.clock.sleep_until(wake) => {
                    let now = self.clock.now();
                    if now >= next_claim {
                        // A deferred pass left due ticks in the store: look again soon rather
                        // than a whole interval later, so that room freed by finished
                        // executions is used within a tenth of the interval.
                        next_claim = match self.claim_pass().await {
                            PassOutcome::Deferred => time::add(
                                now,
                                self.config.claim_interval / DEFERRED_RETRY_DIVISOR,
                            ),
                            PassOutcome::Complete | PassOutcome::Failed => time::next_on_grid(
                                now,
                                self.config.claim_interval,
                                claim_phase(self.config.claim_interval),
                            ),
                        };
                    }
                }
            }
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Ping { reply } => {
                let _ = reply.send(Ok(()));
            }
            Command::Create { spec, reply } => {
                // `run` takes creations in batches; one that gets here is a batch of one.
                if let Some(next) = self.create_batch(spec, reply).await {
                    Box::pin(self.handle(next)).await;
                }
            }
            Command::Update {
                id,
                spec,
                check,
                reply,
            } => {
                let _ = reply.send(self.update(id, |_| Ok(spec), check).await);
            }
            Command::SetPaused { id, paused, reply } => {
                let result = self
                    .update(
                        id,
                        |current| {
                            Ok(JobSpec {
                                paused,
                                ..current.spec.clone()
                            })
                        },
                        VersionCheck::Any,
                    )
                    .await;
                let _ = reply.send(result);
            }
            Command::Delete { id, reply } => {
                let result = self.store.delete_job(id).await;
                if let Ok(true) = result {
                    self.metrics.forget_job(id);
                    let _ = self.dispatch.send(DispatchMsg::JobDeleted(id));
                    log::info!("job {id} deleted");
                }
                let _ = reply.send(result);
            }
            Command::Trigger { id, reply } => {
                let _ = reply.send(self.trigger(id).await);
            }
            Command::Stop => {}
        }
    }

    fn within_look_ahead(
        &self,
        now: cron_expr::Timestamp,
        next: Option<cron_expr::Timestamp>,
    ) -> bool {
        next.is_some_and(|at| at <= time::add(now, self.config.look_ahead))
    }

    /// The job `spec` becomes, or why it cannot be created.
    fn new_job(&self, spec: JobSpec, now: cron_expr::Timestamp) -> Result<Job> {
        spec.validate()?;
        let next_fire_at = spec.next_fire_after(now);
        if next_fire_at.is_none() {
            return Err(Error::invalid(
                "schedule",
                "the schedule has no fire time after now",
            ));
        }
        Ok(Job {
            id: JobId::new_random(),
            spec,
            created_at: now,
            updated_at: now,
            next_fire_at,
            version: 1,
        })
    }

    /// Creates the job of `first` and of every creation queued behind it (up to
    /// [`CREATE_BATCH`]): the inserts run concurrently, then one claim pass covers every new job
    /// due within the look-ahead, then each caller hears its result. Returns the first queued
    /// command that is not a creation, taken from the queue and still to be handled.
    async fn create_batch(
        &mut self,
        spec: JobSpec,
        reply: oneshot::Sender<Result<Job>>,
    ) -> Option<Command> {
        let mut creations = vec![(spec, reply)];
        let mut next = None;
        while creations.len() < CREATE_BATCH {
            match self.commands.try_recv() {
                Ok(Command::Create { spec, reply }) => creations.push((spec, reply)),
                Ok(command) => {
                    next = Some(command);
                    break;
                }
                Err(_) => break,
            }
        }
        let now = self.clock.now();
        let mut replies = Vec::with_capacity(creations.len());
        let mut inserts = JoinSet::new();
        for (index, (spec, reply)) in creations.into_iter().enumerate() {
            match self.new_job(spec, now) {
                Ok(job) => {
                    let store = Arc::clone(&self.store);
                    inserts.spawn(async move {
                        let result = store.insert_job(job.clone()).await;
                        (index, result.map(|()| job))
                    });
                    replies.push((reply, None));
                }
                Err(error) => replies.push((reply, Some(Err(error)))),
            }
        }
        let mut claim = false;
        while let Some(done) = inserts.join_next().await {
            let (index, result) = match done {
                Ok(done) => done,
                // An insert task cannot panic short of a bug in the store; its caller then
                // hears that the engine is gone, and the job may or may not exist.
                Err(error) => {
                    log::error!("a job insert task failed: {error}");
                    continue;
                }
            };
            if let Ok(job) = &result {
                log::info!("job {} created, first tick {:?}", job.id, job.next_fire_at);
                claim |= !job.spec.paused && self.within_look_ahead(now, job.next_fire_at);
            }
            replies[index].1 = Some(result);
        }
        // Claim before answering, so that a created job's first tick is already on the timer.
        if claim {
            self.claim_pass().await;
        }
        for (reply, result) in replies {
            if let Some(result) = result {
                let _ = reply.send(result);
            }
        }
        next
    }

    async fn update(
        &mut self,
        id: JobId,
        new_spec: impl FnOnce(&Job) -> Result<JobSpec>,
        check: VersionCheck,
    ) -> Result<Job> {
        let current = self
            .store
            .get_job(id)
            .await?
            .ok_or(Error::JobNotFound(id))?;
        let spec = new_spec(&current)?;
        spec.validate()?;
        let expected = match check {
            VersionCheck::Any => current.version,
            VersionCheck::Exactly(version) => version,
        };
        let now = self.clock.now();
        let resumed = current.spec.paused && !spec.paused;
        let reschedule = resumed || !current.spec.same_ticks_as(&spec);
        let next_fire = if reschedule {
            NextFire::Set(spec.next_fire_after(now))
        } else {
            NextFire::Keep
        };
        let job = Job {
            spec,
            updated_at: now,
            ..current
        };
        let stored = self.store.update_job(job, expected, next_fire).await?;
        log::info!("job {id} updated to version {}", stored.version);
        // Claimed ticks are checked against the new spec when they come due.
        let _ = self
            .dispatch
            .send(DispatchMsg::JobChanged(Arc::new(stored.clone())));
        if reschedule && !stored.spec.paused && self.within_look_ahead(now, stored.next_fire_at) {
            self.claim_pass().await;
        }
        Ok(stored)
    }

    async fn trigger(&mut self, id: JobId) -> Result<ExecutionId> {
        let job = Arc::new(
            self.store
                .get_job(id)
                .await?
                .ok_or(Error::JobNotFound(id))?,
        );
        let mut at = self.clock.now();
        for _ in 0..TRIGGER_SLOTS {
            let execution =
                Execution::pending(id, at, ExecutionTrigger::Manual, &self.config.node_id);
            match self.store.insert_execution(execution.clone()).await {
                Ok(()) => {
                    let execution_id = execution.id;
                    log::info!("job {id} triggered: execution {execution_id}");
                    self.hand_over(vec![ClaimedTick { execution, job }]);
                    return Ok(execution_id);
                }
                // One execution per (job, instant): take the next free millisecond.
                Err(Error::DuplicateExecution { .. }) => {
                    at = time::add(at, Duration::from_millis(1))
                }
                Err(error) => return Err(error),
            }
        }
        Err(Error::DuplicateExecution {
            job_id: id,
            scheduled_at: at,
        })
    }

    /// Counts `ticks` into the backlog and gives them to the dispatcher.
    fn hand_over(&self, ticks: Vec<ClaimedTick>) {
        let count = ticks.len();
        self.metrics.hold(count);
        if self.dispatch.send(DispatchMsg::Ticks(ticks)).is_err() {
            // The dispatcher is gone (the engine is being torn down): nobody will release them.
            self.metrics.release(count);
        }
    }

    /// Claims the ticks due within the look-ahead window, batch after batch, as far as the
    /// backlog has room.
    async fn claim_pass(&mut self) -> PassOutcome {
        let outcome = self.claim_within_room().await;
        match outcome {
            PassOutcome::Complete => {
                if self.deferred_passes > 0 {
                    log::info!(
                        "claims caught up after {} deferred passes; {} executions held",
                        self.deferred_passes,
                        self.metrics.backlog()
                    );
                    self.deferred_passes = 0;
                }
            }
            PassOutcome::Deferred => {
                Metrics::add(&self.metrics.claims_deferred, 1);
                if self.deferred_passes == 0 {
                    log::warn!(
                        "claims deferred: the engine holds {} executions, its backlog limit is {}; \
                         due ticks wait in the store and fire late (those later than {:?} follow \
                         their job's misfire policy)",
                        self.metrics.backlog(),
                        self.config.max_backlog,
                        self.config.misfire_threshold
                    );
                }
                self.deferred_passes += 1;
            }
            PassOutcome::Failed => {}
        }
        outcome
    }

    async fn claim_within_room(&mut self) -> PassOutcome {
        let now = self.clock.now();
        let mut request = ClaimRequest {
            now,
            due_before: time::add(now, self.config.look_ahead),
            limit: self.config.claim_batch_size,
            owner: self.config.node_id.clone(),
            misfire_threshold: self.config.misfire_threshold,
        };
        loop {
            let held = usize::try_from(self.metrics.backlog()).unwrap_or(usize::MAX);
            let room = self.config.max_backlog.saturating_sub(held);
            if room == 0 {
                return PassOutcome::Deferred;
            }
            request.limit = room.min(self.config.claim_batch_size);
            match self.store.claim_due(request.clone()).await {
                Ok(batch) => {
                    let claimed = batch.ticks.len();
                    if batch.misfired > 0 {
                        Metrics::add(&self.metrics.misfired, batch.misfired);
                        log::warn!(
                            "{} missed ticks dropped by misfire policies",
                            batch.misfired
                        );
                    }
                    if claimed > 0 {
                        self.hand_over(batch.ticks);
                    }
                    if claimed < request.limit {
                        return PassOutcome::Complete;
                    }
                }
                Err(error) => {
                    Metrics::add(&self.metrics.store_errors, 1);
                    log::error!("claiming due ticks failed: {error}");
                    return PassOutcome::Failed;
                }
            }
        }
    }
}
