//! The control task: claims due ticks, creates jobs, and applies hot changes.
//!
//! Three kinds of work run side by side, none waiting for another:
//!
//! - **Claim passes**, one at a time, on a grid between whole seconds.
//! - **Changes** to existing jobs (update, pause, resume, delete, trigger), one at a time.
//!   A pass under way may have read a job before a change to it was stored, and hand its ticks
//!   over after the change has reached the dispatcher. So every pass is numbered, a change
//!   tells the dispatcher how many passes had started when it was stored, and each pass says
//!   when its last ticks are sent; until then the dispatcher applies the change to the ticks
//!   that arrive (a deleted job's are dropped, a changed job's are checked against the new
//!   spec). An API call that changes a job waits for its own write, not for a claim pass.
//! - **Creations**, in batches of their own: a new job's first ticks are claimed in the same
//!   write that stores it, and no other claim or change can concern a job before its
//!   creation is answered, so a creation neither waits for a claim pass nor holds one up.
//!
//! Claims are where the engine pushes back when it is overloaded. Every execution claimed or
//! triggered here is counted into the backlog before it goes to the dispatcher, and a claim
//! takes at most the room left under `max_backlog`; with no room the pass claims nothing, and
//! the due ticks wait in the store. They are claimed later, late, and the misfire policies
//! apply to those older than `misfire_threshold`: overload shows as drift, not as memory.
//! Manual triggers are counted but never refused (they are few, and their caller waits).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
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
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    /// Claim passes deferred in a row (0 when the last pass claimed everything due): the
    /// warning is logged when this leaves 0, not on every deferred pass.
    deferred_passes: u64,
    /// Whether the next claim pass is a periodic one on the grid (which waits for a burst to
    /// end), rather than the first one or the retry of a deferred one (which do not wait).
    next_on_grid: bool,
    /// Whether the dispatcher has executions waiting for an attempt slot: `true` during a burst.
    busy: watch::Receiver<bool>,
    /// The creation batches under way, at most [`CREATE_BATCHES_IN_FLIGHT`].
    creating: JoinSet<()>,
}

/// What the control task shares with the claim passes and the creation batches it runs
/// concurrently with its commands.
struct Shared {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    config: EngineConfig,
    dispatch: mpsc::UnboundedSender<DispatchMsg>,
    /// Periodic claim passes started so far; the number of the one under way, if any.
    passes_started: AtomicU64,
}

/// A creation and where its answer goes.
type Creation = (JobSpec, oneshot::Sender<Result<Job>>);

/// A periodic claim pass under way.
type Pass = Pin<Box<dyn Future<Output = PassOutcome> + Send>>;

/// A periodic claim pass under way, with the instant it started and its number.
type PassUnderWay = (Pass, cron_expr::Timestamp, u64);

/// A change to an existing job under way; it ends with the outcome of the claim pass it ran
/// for a rescheduled job, if it ran one.
type Change = Pin<Box<dyn Future<Output = Option<PassOutcome>> + Send>>;

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
/// it from competing with a burst of dispatches for the CPU. A burst that lasts longer than
/// half a second still has executions waiting for an attempt slot then, and the pass waits
/// for them (see [`quiet_wait`]). Ticks are still claimed at least
/// `look_ahead - claim_interval` before they are due, less that wait.
fn claim_phase(interval: Duration) -> Duration {
    if interval.subsec_nanos() == 0 {
        Duration::from_millis(500)
    } else {
        interval / 2
    }
}

/// How long a periodic claim pass may wait for the dispatcher's burst to end: a fifth of the
/// claim interval (200 ms of the default second), so that the pass, half-way between whole
/// seconds, still ends before the next second's burst. Two fifths (up to 900 ms past the
/// second) pushed the passes into the start of the next burst whenever a burst outlasted the
/// wait, which made that burst end later still: at 45,000 every-second jobs, two of three
/// runs fell seconds behind. The first pass (at start-up) and the quick retries of deferred
/// passes do not wait: the first has nothing claimed ahead of it yet, and a deferred pass
/// left ticks in the store that are due or nearly so.
fn quiet_wait(interval: Duration) -> Duration {
    interval / 5
}

/// How many later milliseconds a manual trigger tries when its instant is taken.
const TRIGGER_SLOTS: u32 = 1_000;

/// The most creations taken from the queue together. Their inserts reach the store at once, so
/// they share its group commit; one at a time, every creation paid a commit of its own, and
/// creations were capped by the store's latency.
const CREATE_BATCH: usize = 256;

/// The most creation batches under way at once. While that many wait for the store, the
/// control task takes no more commands (claim passes go on), and the creations queued behind
/// them form the next, larger batch.
const CREATE_BATCHES_IN_FLIGHT: usize = 4;

impl Control {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        config: EngineConfig,
        commands: mpsc::Receiver<Command>,
        dispatch: mpsc::UnboundedSender<DispatchMsg>,
        busy: watch::Receiver<bool>,
    ) -> Control {
        Control {
            shared: Arc::new(Shared {
                store,
                clock,
                metrics,
                config,
                dispatch,
                passes_started: AtomicU64::new(0),
            }),
            commands,
            deferred_passes: 0,
            next_on_grid: false,
            busy,
            creating: JoinSet::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        let mut next_claim = self.shared.clock.now();
        let mut pass: Option<PassUnderWay> = None;
        let mut change: Option<Change> = None;
        // A periodic pass that fell due while the dispatcher was busy waits for it until this
        // instant (see `quiet_wait`).
        let mut quiet_deadline: Option<cron_expr::Timestamp> = None;
        let mut busy = self.busy.clone();
        loop {
            let wake = quiet_deadline.unwrap_or(next_claim);
            let room_to_create = self.creating.len() < CREATE_BATCHES_IN_FLIGHT;
            let clock = Arc::clone(&self.shared.clock);
            tokio::select! {
                biased;
                (outcome, started, number) = finish(&mut pass), if pass.is_some() => {
                    pass = None;
                    next_claim = self.pass_finished(started, outcome, number);
                }
                // A due claim pass goes before commands: a flood of them must not hold up ticks.
                () = clock.sleep_until(wake), if pass.is_none() => {
                    let now = self.shared.clock.now();
                    if now < wake {
                        continue;
                    }
                    if quiet_deadline.is_none() && self.next_on_grid && *self.busy.borrow() {
                        quiet_deadline = Some(time::add(
                            now,
                            quiet_wait(self.shared.config.claim_interval),
                        ));
                    } else {
                        quiet_deadline = None;
                        pass = Some(self.start_pass(now));
                    }
                }
                _ = busy.wait_for(|&busy| !busy), if quiet_deadline.is_some() && pass.is_none() => {
                    quiet_deadline = None;
                    pass = Some(self.start_pass(self.shared.clock.now()));
                }
                outcome = finish_change(&mut change), if change.is_some() => {
                    change = None;
                    if let Some(outcome) = outcome {
                        self.count_pass(outcome);
                    }
                }
                // Changes are taken one at a time: the next command waits for the one under way.
                command = self.commands.recv(), if room_to_create && change.is_none() => {
                    let command = match command {
                        Some(Command::Create { spec, reply }) => {
                            match self.start_creations((spec, reply)) {
                                Some(next) => Some(next),
                                None => continue,
                            }
                        }
                        command => command,
                    };
                    match command {
                        None | Some(Command::Stop) => break,
                        Some(Command::Ping { reply }) => {
                            let _ = reply.send(Ok(()));
                        }
                        Some(Command::Create { spec, reply }) => {
                            // `start_creations` hands back only other commands; one that got
                            // here anyway is a batch of one.
                            self.creating
                                .spawn(Arc::clone(&self.shared).create(vec![(spec, reply)]));
                        }
                        Some(command) => {
                            change = Some(Box::pin(Arc::clone(&self.shared).change(command)));
                        }
                    }
                }
                Some(done) = self.creating.join_next(), if !self.creating.is_empty() => {
                    log_if_failed(done);
                }
            }
        }
        // The claim under way and every creation's ticks reach the dispatcher before the
        // engine's shutdown does. (No change is under way: commands, the stop among them, are
        // taken only between changes.)
        if let Some((pass, started, number)) = pass {
            let outcome = pass.await;
            self.pass_finished(started, outcome, number);
        }
        while let Some(done) = self.creating.join_next().await {
            log_if_failed(done);
        }
    }

    /// Starts periodic claim pass number `passes_started + 1` at `now`.
    fn start_pass(&self, now: cron_expr::Timestamp) -> PassUnderWay {
        let number = self.shared.passes_started.fetch_add(1, Ordering::Relaxed) + 1;
        (Box::pin(Arc::clone(&self.shared).claim_pass()), now, number)
    }

    /// Books a finished periodic claim pass that started at `started`; returns when the next
    /// one is due.
    fn pass_finished(
        &mut self,
        started: cron_expr::Timestamp,
        outcome: PassOutcome,
        number: u64,
    ) -> cron_expr::Timestamp {
        let _ = self.shared.dispatch.send(DispatchMsg::PassDone(number));
        self.count_pass(outcome);
        let interval = self.shared.config.claim_interval;
        self.next_on_grid = outcome != PassOutcome::Deferred;
        match outcome {
            // A deferred pass left due ticks in the store: look again soon rather than a whole
            // interval later, so that room freed by finished executions is used within a tenth
            // of the interval.
            PassOutcome::Deferred => time::add(started, interval / DEFERRED_RETRY_DIVISOR),
            PassOutcome::Complete | PassOutcome::Failed => {
                time::next_on_grid(started, interval, claim_phase(interval))
            }
        }
    }

    /// Takes `first` and the creations queued behind it (up to [`CREATE_BATCH`]) and starts
    /// them as one batch in a task of its own. Returns the first queued command that is not a
    /// creation, taken from the queue and still to be handled.
    fn start_creations(&mut self, first: Creation) -> Option<Command> {
        let mut creations = vec![first];
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
        self.creating
            .spawn(Arc::clone(&self.shared).create(creations));
        next
    }

    /// Counts a claim pass's outcome and logs when claims start or stop being deferred.
    fn count_pass(&mut self, outcome: PassOutcome) {
        let metrics = &self.shared.metrics;
        match outcome {
            PassOutcome::Complete => {
                if self.deferred_passes > 0 {
                    log::info!(
                        "claims caught up after {} deferred passes; {} executions held",
                        self.deferred_passes,
                        metrics.backlog()
                    );
                    self.deferred_passes = 0;
                }
            }
            PassOutcome::Deferred => {
                Metrics::add(&metrics.claims_deferred, 1);
                if self.deferred_passes == 0 {
                    let config = &self.shared.config;
                    log::warn!(
                        "claims deferred: the engine holds {} executions, its backlog limit is {}; \
                         due ticks wait in the store and fire late (those later than {:?} follow \
                         their job's misfire policy)",
                        metrics.backlog(),
                        config.max_backlog,
                        config.misfire_threshold
                    );
                }
                self.deferred_passes += 1;
            }
            PassOutcome::Failed => {}
        }
    }
}

/// Completes when the claim pass under way does, with its outcome, the instant it started and
/// its number; never completes when there is none.
async fn finish(pass: &mut Option<PassUnderWay>) -> (PassOutcome, cron_expr::Timestamp, u64) {
    match pass {
        Some((pass, started, number)) => (pass.as_mut().await, *started, *number),
        None => std::future::pending().await,
    }
}

/// Completes when the change under way does; never completes when there is none.
async fn finish_change(change: &mut Option<Change>) -> Option<PassOutcome> {
    match change {
        Some(change) => change.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Logs a creation batch that failed. A batch task cannot panic short of a bug in the store;
/// its callers then hear that the engine is gone, and their jobs may or may not exist.
fn log_if_failed(done: std::result::Result<(), tokio::task::JoinError>) {
    if let Err(error) = done {
        log::error!("a job creation task failed: {error}");
    }
}

impl Shared {
    fn within_look_ahead(
        &self,
        now: cron_expr::Timestamp,
        next: Option<cron_expr::Timestamp>,
    ) -> bool {
        next.is_some_and(|at| at <= time::add(now, self.config.look_ahead))
    }

    /// Applies one change to an existing job and answers its caller. Returns the outcome of
    /// the claim pass it ran for a rescheduled job, if it ran one.
    async fn change(self: Arc<Self>, command: Command) -> Option<PassOutcome> {
        match command {
            Command::Update {
                id,
                spec,
                check,
                reply,
            } => {
                let (result, pass) = self.update(id, |_| Ok(spec), check).await;
                let _ = reply.send(result);
                pass
            }
            Command::SetPaused { id, paused, reply } => {
                let (result, pass) = self
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
                pass
            }
            Command::Delete { id, reply } => {
                let result = self.store.delete_job(id).await;
                if let Ok(true) = result {
                    self.metrics.forget_job(id);
                    let passes = self.passes_started.load(Ordering::Relaxed);
                    let _ = self.dispatch.send(DispatchMsg::JobDeleted { id, passes });
                    log::info!("job {id} deleted");
                }
                let _ = reply.send(result);
                None
            }
            Command::Trigger { id, reply } => {
                let _ = reply.send(self.trigger(id).await);
                None
            }
            // The control loop answers these itself.
            Command::Create { .. } | Command::Ping { .. } | Command::Stop => None,
        }
    }

    /// Stores a job's new spec (from `new_spec` of the current one) and tells the dispatcher;
    /// claims a rescheduled job's ticks due within the look-ahead at once. Returns the result
    /// and the outcome of that claim pass, if one ran.
    async fn update(
        self: &Arc<Self>,
        id: JobId,
        new_spec: impl FnOnce(&Job) -> Result<JobSpec>,
        check: VersionCheck,
    ) -> (Result<Job>, Option<PassOutcome>) {
        match self.try_update(id, new_spec, check).await {
            Ok((job, pass)) => (Ok(job), pass),
            Err(error) => (Err(error), None),
        }
    }

    async fn try_update(
        self: &Arc<Self>,
        id: JobId,
        new_spec: impl FnOnce(&Job) -> Result<JobSpec>,
        check: VersionCheck,
    ) -> Result<(Job, Option<PassOutcome>)> {
        let shared = self;
        let current = shared
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
        let now = shared.clock.now();
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
        let stored = shared.store.update_job(job, expected, next_fire).await?;
        log::info!("job {id} updated to version {}", stored.version);
        // Claimed ticks are checked against the new spec when they come due.
        let passes = shared.passes_started.load(Ordering::Relaxed);
        let _ = shared.dispatch.send(DispatchMsg::JobChanged {
            job: Arc::new(stored.clone()),
            passes,
        });
        let mut pass = None;
        if reschedule && !stored.spec.paused && shared.within_look_ahead(now, stored.next_fire_at) {
            pass = Some(Arc::clone(shared).claim_pass().await);
        }
        Ok((stored, pass))
    }

    async fn trigger(&self, id: JobId) -> Result<ExecutionId> {
        let shared = self;
        let job = Arc::new(
            shared
                .store
                .get_job(id)
                .await?
                .ok_or(Error::JobNotFound(id))?,
        );
        let mut at = shared.clock.now();
        for _ in 0..TRIGGER_SLOTS {
            let execution =
                Execution::pending(id, at, ExecutionTrigger::Manual, &shared.config.node_id);
            match shared.store.insert_execution(execution.clone()).await {
                Ok(()) => {
                    let execution_id = execution.id;
                    log::info!("job {id} triggered: execution {execution_id}");
                    shared.metrics.hold(1);
                    shared.hand_over(vec![ClaimedTick { execution, job }]);
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

    /// Gives `ticks`, already counted into the backlog, to the dispatcher.
    fn hand_over(&self, ticks: Vec<ClaimedTick>) {
        let count = ticks.len();
        if count > 0 && self.dispatch.send(DispatchMsg::Ticks(ticks)).is_err() {
            // The dispatcher is gone (the engine is being torn down): nobody will release them.
            self.metrics.release(count);
        }
    }

    /// Claims the ticks due within the look-ahead window, batch after batch, as far as the
    /// backlog has room.
    async fn claim_pass(self: Arc<Self>) -> PassOutcome {
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
            // Reserved before the claim, as creations do, so that claims running at the same
            // time (a rescheduling update's beside the periodic pass) cannot overshoot the
            // limit together; what the claim does not take is given back.
            self.metrics.hold(request.limit);
            match self.store.claim_due(request.clone()).await {
                Ok(batch) => {
                    let claimed = batch.ticks.len();
                    self.metrics.release(request.limit.saturating_sub(claimed));
                    if batch.misfired > 0 {
                        Metrics::add(&self.metrics.misfired, batch.misfired);
                        log::warn!(
                            "{} missed ticks dropped by misfire policies",
                            batch.misfired
                        );
                    }
                    self.hand_over(batch.ticks);
                    if claimed < request.limit {
                        return PassOutcome::Complete;
                    }
                }
                Err(error) => {
                    self.metrics.release(request.limit);
                    Metrics::add(&self.metrics.store_errors, 1);
                    log::error!("claiming due ticks failed: {error}");
                    return PassOutcome::Failed;
                }
            }
        }
    }

    /// The job `spec` becomes, or why it cannot be created.
    fn new_job(spec: JobSpec, now: cron_expr::Timestamp) -> Result<Job> {
        spec.validate()?;
        let next_fire_at = spec.next_fire_after(now);
        if next_fire_at.is_none() {
            return Err(Error::invalid(
                crate::JobField::Schedule,
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

    /// Creates the jobs of `creations` together: each is inserted with its ticks due within
    /// the look-ahead claimed in the same write, concurrently (so the inserts share the
    /// store's group commit); the claimed ticks go to the dispatcher, and then each caller
    /// hears its result, so that a created job's first tick is already on the timer.
    ///
    /// The claims are bounded by the backlog like any other: the room left under
    /// `max_backlog` is shared equally between the batch's jobs and reserved before the
    /// inserts (so that concurrent batches and claim passes cannot overshoot it together); a
    /// job that gets no room is claimed by a later claim pass.
    async fn create(self: Arc<Self>, creations: Vec<Creation>) {
        let now = self.clock.now();
        let mut replies = Vec::with_capacity(creations.len());
        let mut jobs = Vec::with_capacity(creations.len());
        for (index, (spec, reply)) in creations.into_iter().enumerate() {
            match Self::new_job(spec, now) {
                Ok(job) => {
                    jobs.push((index, job));
                    replies.push((reply, None));
                }
                Err(error) => replies.push((reply, Some(Err(error)))),
            }
        }
        let held = usize::try_from(self.metrics.backlog()).unwrap_or(usize::MAX);
        let room = self.config.max_backlog.saturating_sub(held);
        // Cron ticks are at least a second apart: no job has more in the window than this.
        let most_in_window = usize::try_from(self.config.look_ahead.as_secs())
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let per_job = (room / jobs.len().max(1))
            .min(self.config.claim_batch_size)
            .min(most_in_window);
        let reserved = per_job * jobs.len();
        self.metrics.hold(reserved);
        let request = ClaimRequest {
            now,
            due_before: time::add(now, self.config.look_ahead),
            limit: per_job,
            owner: self.config.node_id.clone(),
            misfire_threshold: self.config.misfire_threshold,
        };
        let mut inserts = JoinSet::new();
        for (index, job) in jobs {
            let store = Arc::clone(&self.store);
            let request = request.clone();
            inserts.spawn(async move {
                let result = store.insert_job_and_claim(job.clone(), request).await;
                (index, result.map(|batch| (job, batch)))
            });
        }
        let mut claimed = Vec::new();
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
            replies[index].1 = Some(result.map(|(job, batch)| {
                log::info!(
                    "job {} created, first tick {:?}, {} ticks claimed",
                    job.id,
                    job.next_fire_at,
                    batch.ticks.len()
                );
                claimed.extend(batch.ticks);
                job
            }));
        }
        // Give back the room reserved and not used; the claimed ticks keep theirs.
        self.metrics.release(reserved.saturating_sub(claimed.len()));
        self.hand_over(claimed);
        for (reply, result) in replies {
            if let Some(result) = result {
                let _ = reply.send(result);
            }
        }
    }
}
