//! The engine: claiming, timing, dispatch, retries, result writing, and its public handle.
//!
//! Four tasks, connected by channels:
//! - the *control* task claims due ticks from the store every `claim_interval`, applies hot
//!   changes (update, pause, resume, delete, trigger) one at a time, and creates jobs in
//!   batches, the three side by side: a change or a creation never waits for a claim pass.
//!   Each new job is stored with its first ticks claimed in the same write. Claim passes are
//!   numbered, and a change tells the dispatcher how many had started when it was stored, so
//!   the dispatcher applies it to the ticks those passes hand over after it (see
//!   `control.rs`). A periodic pass falls half-way between whole seconds, and if the
//!   dispatcher still has executions waiting for an attempt slot then (a burst of ticks is
//!   under way), it waits for them, for a fifth of the interval at most;
//! - the *dispatcher* owns the timer (ticks and retries, one queue per instant), the per-job state
//!   (overlap, in-flight counts) and the attempts in flight (a `JoinSet`); every decision about
//!   an execution is made there, so there are no races between them;
//! - the *writer* groups result updates into batches (group commit), keeping only the newest
//!   state of each execution while the store is busy;
//! - the *alert* task feeds the alert sink.
//!
//! The executions between claim and last write are bounded: the *backlog* counts every
//! execution the engine holds (claimed, triggered or recovered, until its last update is
//! written or it is dropped), and the control task claims only as many as
//! [`EngineConfig::max_backlog`] leaves room for. When the store or the targets cannot keep
//! up, ticks stay unclaimed in the store and fire late, so overload costs drift rather than
//! memory, and what the engine holds can always be written within a shutdown's grace period.

mod control;
mod dispatch;
mod retry;
mod timer;
mod writer;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::alert::{AlertSink, LogAlertSink};
use crate::clock::{Clock, SystemClock};
use crate::domain::{Execution, ExecutionId, Job, JobId, JobSpec};
use crate::error::{Error, Result};
use crate::metrics::{JobStats, Metrics, MetricsSnapshot};
use crate::store::{ExecutionQuery, JobCounts, JobQuery, RetentionPolicy, Store};
use crate::time;
use crate::transport::Transport;

use control::{Command, Control};
use dispatch::{DispatchMsg, Dispatcher};

/// The engine's settings. Start from `EngineConfig::default()` and change fields.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// This node's name: the lease owner written into claimed executions. A restarted node
    /// recovers the unfinished executions claimed under its name, so keep it stable.
    pub node_id: String,
    /// How far ahead ticks are claimed.
    pub look_ahead: Duration,
    /// How often the store is asked for due ticks; must be shorter than `look_ahead`, so that
    /// every tick is claimed before its instant.
    pub claim_interval: Duration,
    /// The most ticks one claim takes; a claim pass repeats until fewer come back.
    pub claim_batch_size: usize,
    /// The most attempts in flight at once, across all jobs. This bounds the memory of
    /// attempts (a connection and its buffers each); [`EngineConfig::max_fresh_attempts`]
    /// bounds how many of them compete for CPU.
    pub max_in_flight: usize,
    /// The most attempts in flight that started less than `fresh_window` ago.
    ///
    /// Against fast targets, an attempt is CPU work from start to answer, and starting more of
    /// them at once than the cores can run only makes each wait longer and costs more per
    /// attempt: at 30,000 executions/s, a burst with up to 1,024 attempts at once instead of
    /// 128 cost the dispatch threads and the target 10-25% more CPU (docs/PERFORMANCE.md). An
    /// attempt still unanswered after `fresh_window` is waiting on its target, which costs no
    /// CPU, so it stops counting here and counts only against `max_in_flight`: slow or hung
    /// targets never hold this limit. So starts are capped at `max_fresh_attempts /
    /// fresh_window` per second while every target is slow (25,600/s by default on two cores),
    /// and not at all otherwise; and when the cores cannot answer this many attempts within
    /// the window, attempts age before their answer and the limit loosens, up to
    /// `max_in_flight`. It must be at least 1. The default is 64 per core the machine offers
    /// ([`std::thread::available_parallelism`]), 128 on two cores, where it was measured.
    pub max_fresh_attempts: usize,
    /// How long an attempt counts as fresh (see [`EngineConfig::max_fresh_attempts`]); zero
    /// turns that limit off.
    pub fresh_window: Duration,
    /// The most executions the engine holds at once: claimed (or triggered, or recovered)
    /// and not yet finally written, whether on the timer, waiting for an in-flight slot, in
    /// flight, waiting for a retry, or with their last update queued for the store.
    ///
    /// A claim takes at most the room left, and none when there is none: due ticks then wait
    /// in the store, are claimed when executions finish, and fire late; those later than
    /// `misfire_threshold` by then follow their job's misfire policy. So an engine that gets
    /// more ticks than its store or its targets can handle falls behind in time (drift,
    /// [`MetricsSnapshot::claims_deferred`]) instead of growing in memory, and a shutdown
    /// never has more than this many results to write. Manual triggers and the executions
    /// recovered at start are counted but never refused, so the count can briefly exceed the
    /// limit. It must be at least 1; if it is smaller than `claim_batch_size`, it also caps
    /// each claim (that is allowed: the room left is what limits a claim anyway).
    ///
    /// It should exceed what steady operation holds: about `look_ahead` times the executions
    /// per second to sustain, plus `max_in_flight`, plus the retries waiting and the results
    /// the store lags behind. The default, 100,000, covers
    /// about 30,000 executions per second (roughly the measured ceiling of the SQLite store,
    /// 2 s look-ahead: ~60,000 on the timer, 1,024 in flight, the rest for a writer a second
    /// behind) and bounds the memory of held executions to roughly 100 MB (an estimate from
    /// the sizes of the structures, not a measurement: up to about a kilobyte per execution for
    /// its timer entry and its queued update, with the collections' spare capacity; attempts
    /// in flight cost more, and are bounded by `max_in_flight`).
    pub max_backlog: usize,
    /// Ticks later than this are misfires and follow the job's misfire policy.
    pub misfire_threshold: Duration,
    /// The most result updates written in one store call. The writer makes one call at a
    /// time, and a call can wait behind a claim in the store, so this caps the results written
    /// per round trip: at 1,024, 30,000 executions/s left the writer seconds behind (docs/
    /// PERFORMANCE.md); the default is 8,192.
    pub result_batch_size: usize,
    /// How long a result may wait for others before the writer stores it: a store call is made
    /// once its oldest result has waited this long, or `result_batch_size` results are queued,
    /// or an at-most-once attempt waits for its `RUNNING` state to be stored (that never
    /// waits). An execution whose answer comes within the wait costs one row write instead of
    /// two (`RUNNING`, then its final state), and a burst is written in fewer, larger
    /// transactions: at 20,000 executions/s, 100 ms took the SQLite writer's CPU down by a
    /// fifth (docs/PERFORMANCE.md). Results reach the store (and the API) up to this much later,
    /// and a crash loses nothing more than before: an execution whose state was not stored is
    /// recovered and re-sent (at-least-once) or abandoned (at-most-once) as ever. Zero writes
    /// as soon as the previous call returns.
    pub result_linger: Duration,
    /// The longest `Retry-After` honoured; longer requests are cut to this.
    pub max_retry_after: Duration,
    /// Alerts waiting for the sink beyond this many are dropped (and counted).
    pub alert_queue_capacity: usize,
    /// History retention, applied every `prune_interval`; `None` keeps everything.
    pub retention: Option<RetentionPolicy>,
    /// How often retention is applied.
    pub prune_interval: Duration,
    /// Seed of the retry jitter; `None` seeds from entropy.
    pub jitter_seed: Option<u64>,
}

/// The default of [`EngineConfig::max_fresh_attempts`] per core.
const FRESH_ATTEMPTS_PER_CORE: usize = 64;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            node_id: "local".to_owned(),
            look_ahead: Duration::from_secs(2),
            claim_interval: Duration::from_secs(1),
            claim_batch_size: 10_000,
            max_in_flight: 1_024,
            max_fresh_attempts: FRESH_ATTEMPTS_PER_CORE
                * std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            fresh_window: Duration::from_millis(5),
            max_backlog: 100_000,
            misfire_threshold: Duration::from_secs(10),
            result_batch_size: 8_192,
            result_linger: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(3_600),
            alert_queue_capacity: 1_024,
            retention: None,
            prune_interval: Duration::from_secs(60),
            jitter_seed: None,
        }
    }
}

impl EngineConfig {
    fn validate(&self) -> Result<()> {
        if self.claim_interval.is_zero() || self.claim_interval >= self.look_ahead {
            return Err(Error::invalid_config(
                "claim_interval",
                "must be greater than zero and shorter than look_ahead",
            ));
        }
        let positive = [
            ("claim_batch_size", self.claim_batch_size),
            ("max_in_flight", self.max_in_flight),
            ("max_fresh_attempts", self.max_fresh_attempts),
            ("max_backlog", self.max_backlog),
            ("result_batch_size", self.result_batch_size),
            ("alert_queue_capacity", self.alert_queue_capacity),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(Error::invalid_config(field, "must be at least 1"));
            }
        }
        Ok(())
    }
}

/// Which version of a job an update applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionCheck {
    /// Whatever version is stored (last writer wins).
    Any,
    /// Only this version; otherwise [`Error::VersionConflict`].
    Exactly(u64),
}

/// What a graceful shutdown did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Attempts in flight at shutdown that finished before the deadline.
    pub drained: usize,
    /// Attempts still in flight at the deadline, cut off; they stay unfinished in the store
    /// and are recovered by the next start.
    pub interrupted: usize,
    /// Claimed ticks and waiting retries not yet due, left for the next start.
    pub left_for_recovery: usize,
}

/// Assembles an engine; see [`Engine::builder`].
pub struct EngineBuilder {
    store: Arc<dyn Store>,
    transport: Arc<dyn Transport>,
    alert_sink: Arc<dyn AlertSink>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    control_runtime: Option<tokio::runtime::Handle>,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl EngineBuilder {
    /// Where alerts go; the default logs them ([`LogAlertSink`]).
    pub fn alert_sink(mut self, alert_sink: Arc<dyn AlertSink>) -> Self {
        self.alert_sink = alert_sink;
        self
    }

    /// The clock; the default is the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The settings; the default is [`EngineConfig::default`].
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs the control task (claims, job changes and creations: everything an API call waits
    /// for) on `runtime` instead of the current one.
    ///
    /// The attempts in flight are tasks of the current runtime; during a burst of ticks
    /// thousands of them are queued there, and a control task among them waits its turn
    /// behind them. On a runtime of its own (one worker thread is plenty: it mostly waits for
    /// the store), an API call waits only for the store and the CPU.
    pub fn control_runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.control_runtime = Some(runtime);
        self
    }

    /// Recovers what a previous run of this node left unfinished, then starts the engine's
    /// tasks on the current tokio runtime.
    ///
    /// Recovery: pending executions (claimed, never sent) fire as scheduled (at once if late);
    /// running at-least-once executions are sent again at once; running at-most-once
    /// executions are marked abandoned.
    pub async fn start(self) -> Result<Engine> {
        self.config.validate()?;
        let recovered = self
            .store
            .unfinished_executions(&self.config.node_id)
            .await?;
        if !recovered.is_empty() {
            log::info!(
                "node {}: recovering {} unfinished executions",
                self.config.node_id,
                recovered.len()
            );
        }
        let metrics = Arc::new(Metrics::default());
        // Recovered executions count against the backlog (they must be finished), but are
        // never refused: they are in the store already, and only this node will finish them.
        metrics.hold(recovered.len());
        let (write_tx, write_rx) = mpsc::unbounded_channel();
        let (alert_tx, alert_rx) = mpsc::channel(self.config.alert_queue_capacity);
        let (dispatch_tx, dispatch_rx) = mpsc::unbounded_channel();
        let (command_tx, command_rx) = mpsc::channel(1_024);
        let (busy_tx, busy_rx) = watch::channel(false);

        let writer = tokio::spawn(writer::run(
            Arc::clone(&self.store),
            Arc::clone(&self.clock),
            write_rx,
            writer::Limits {
                max_batch: self.config.result_batch_size,
                linger: self.config.result_linger,
            },
            Arc::clone(&metrics),
        ));
        let alerts = tokio::spawn(run_alerts(self.alert_sink, alert_rx));
        // Retention runs on its own, so a long prune never delays a claim.
        let pruner = self.config.retention.map(|policy| {
            let first = time::add(self.clock.now(), self.config.prune_interval);
            tokio::spawn(run_pruner(
                Arc::clone(&self.store),
                Arc::clone(&self.clock),
                Arc::clone(&metrics),
                policy,
                (first, self.config.prune_interval),
            ))
        });
        // The recovered executions are the dispatcher's first message.
        let _ = dispatch_tx.send(DispatchMsg::Recovered(recovered));
        let dispatcher = tokio::spawn(
            Dispatcher::new(
                Arc::clone(&self.clock),
                self.transport,
                Arc::clone(&metrics),
                self.config.clone(),
                dispatch::Channels {
                    inbox: dispatch_rx,
                    writer: write_tx,
                    alerts: alert_tx,
                    busy: busy_tx,
                },
            )
            .run(),
        );
        let control = Control::new(
            Arc::clone(&self.store),
            Arc::clone(&self.clock),
            Arc::clone(&metrics),
            self.config.clone(),
            command_rx,
            dispatch_tx.clone(),
            busy_rx,
        )
        .run();
        let control = match &self.control_runtime {
            Some(runtime) => runtime.spawn(control),
            None => tokio::spawn(control),
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                store: self.store,
                clock: self.clock,
                metrics,
                commands: command_tx,
                dispatch: dispatch_tx,
                tasks: Mutex::new(Some(Tasks {
                    control,
                    dispatcher,
                    writer,
                    alerts,
                    pruner,
                })),
            }),
        })
    }
}

/// A running engine. Cheap to clone; every clone is the same engine.
///
/// Stop it with [`Engine::shutdown`]. When the last clone is dropped without a shutdown, the
/// engine's tasks are aborted as by [`Engine::abort`]: nothing is lost, the next start on the
/// same store recovers.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    commands: mpsc::Sender<Command>,
    dispatch: mpsc::UnboundedSender<DispatchMsg>,
    tasks: Mutex<Option<Tasks>>,
}

struct Tasks {
    control: JoinHandle<()>,
    dispatcher: JoinHandle<()>,
    writer: JoinHandle<()>,
    alerts: JoinHandle<()>,
    /// Present when a retention policy is set.
    pruner: Option<JoinHandle<()>>,
}

impl Tasks {
    fn all_running(&self) -> bool {
        let core = [&self.control, &self.dispatcher, &self.writer, &self.alerts];
        core.iter().all(|task| !task.is_finished())
            && self
                .pruner
                .as_ref()
                .is_none_or(|pruner| !pruner.is_finished())
    }

    fn abort(&self) {
        self.control.abort();
        self.dispatcher.abort();
        self.writer.abort();
        self.alerts.abort();
        if let Some(pruner) = &self.pruner {
            pruner.abort();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(tasks) = self.take_tasks() {
            tasks.abort();
        }
    }
}

impl Inner {
    fn take_tasks(&self) -> Option<Tasks> {
        self.tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// Starts assembling an engine over a store and a transport.
    pub fn builder(store: Arc<dyn Store>, transport: Arc<dyn Transport>) -> EngineBuilder {
        EngineBuilder {
            store,
            transport,
            alert_sink: Arc::new(LogAlertSink),
            clock: Arc::new(SystemClock),
            config: EngineConfig::default(),
            control_runtime: None,
        }
    }

    async fn call<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T>>) -> Command,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(command(reply))
            .await
            .map_err(|_| Error::ShutDown)?;
        answer.await.map_err(|_| Error::ShutDown)?
    }

    /// Registers a job; its first tick is the first after now. Returns the stored job.
    pub async fn create_job(&self, spec: JobSpec) -> Result<Job> {
        self.call(|reply| Command::Create { spec, reply }).await
    }

    /// Replaces a job's spec. A schedule change takes effect at once, also for ticks already
    /// claimed: those that the new schedule does not have are skipped.
    pub async fn update_job(&self, id: JobId, spec: JobSpec, check: VersionCheck) -> Result<Job> {
        self.call(|reply| Command::Update {
            id,
            spec,
            check,
            reply,
        })
        .await
    }

    /// Pauses a job: its claimed ticks are skipped and no new ones are claimed.
    pub async fn pause_job(&self, id: JobId) -> Result<Job> {
        self.call(|reply| Command::SetPaused {
            id,
            paused: true,
            reply,
        })
        .await
    }

    /// Resumes a paused job from its next tick after now (ticks during the pause are not owed).
    pub async fn resume_job(&self, id: JobId) -> Result<Job> {
        self.call(|reply| Command::SetPaused {
            id,
            paused: false,
            reply,
        })
        .await
    }

    /// Deletes a job and its history; `false` if there was no such job. Attempts in flight
    /// finish, but nothing is retried or recorded.
    pub async fn delete_job(&self, id: JobId) -> Result<bool> {
        self.call(|reply| Command::Delete { id, reply }).await
    }

    /// Fires the job now, outside its schedule (also when paused). Returns the execution.
    pub async fn trigger_now(&self, id: JobId) -> Result<ExecutionId> {
        self.call(|reply| Command::Trigger { id, reply }).await
    }

    /// Whether the engine is alive: every one of its tasks is running and the control loop
    /// answers a command. For health checks; it changes nothing.
    pub async fn ping(&self) -> Result<()> {
        let running = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .is_some_and(Tasks::all_running);
        if !running {
            return Err(Error::ShutDown);
        }
        self.call(|reply| Command::Ping { reply }).await
    }

    /// A job by id.
    pub async fn get_job(&self, id: JobId) -> Result<Option<Job>> {
        self.inner.store.get_job(id).await
    }

    /// Up to `limit` jobs in id order after `after`.
    pub async fn list_jobs(&self, after: Option<JobId>, limit: usize) -> Result<Vec<Job>> {
        self.inner.store.list_jobs(after, limit).await
    }

    /// An execution by id (results reach the store in batches, so the newest state can lag
    /// by one batch).
    pub async fn get_execution(&self, id: ExecutionId) -> Result<Option<Execution>> {
        self.inner.store.get_execution(id).await
    }

    /// How many jobs are active and how many paused.
    pub async fn count_jobs(&self) -> Result<JobCounts> {
        self.inner.store.count_jobs().await
    }

    /// The jobs that match `query`, in id order (filters and a cursor).
    pub async fn find_jobs(&self, query: JobQuery) -> Result<Vec<Job>> {
        self.inner.store.find_jobs(query).await
    }

    /// The executions that match `query`, newest first (results reach the store in batches, so
    /// the newest states can lag by one batch).
    pub async fn find_executions(&self, query: ExecutionQuery) -> Result<Vec<Execution>> {
        self.inner.store.find_executions(query).await
    }

    /// A job's executions, newest first.
    pub async fn job_executions(&self, id: JobId, limit: usize) -> Result<Vec<Execution>> {
        self.inner.store.job_executions(id, limit).await
    }

    /// Recent executions across jobs, newest first.
    pub async fn recent_executions(&self, limit: usize) -> Result<Vec<Execution>> {
        self.inner.store.recent_executions(limit).await
    }

    /// The engine's counters, gauges and drift summary.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// A job's success rate and mean duration since the engine started.
    pub fn job_stats(&self, id: JobId) -> Option<JobStats> {
        self.inner.metrics.job_stats(id)
    }

    /// Stops gracefully: stops claiming, lets attempts in flight finish until `grace` has
    /// passed on the engine's clock, writes every result, and leaves claimed ticks, waiting
    /// retries and cut-off attempts in the store for the next start to recover. Calling it
    /// again does nothing.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let Some(mut tasks) = self.inner.take_tasks() else {
            return ShutdownReport::default();
        };
        let deadline = time::add(self.inner.clock.now(), grace);
        // Pruning holds nothing that needs finishing: a cut-off round is simply redone later.
        if let Some(pruner) = &tasks.pruner {
            pruner.abort();
        }
        let _ = self.inner.commands.send(Command::Stop).await;
        let _ = (&mut tasks.control).await;
        let (done, report) = oneshot::channel();
        let _ = self
            .inner
            .dispatch
            .send(DispatchMsg::Shutdown { deadline, done });
        let report = report.await.unwrap_or_default();
        let _ = (&mut tasks.dispatcher).await;
        // The dispatcher held the only sender of results and alerts: both queues now end.
        let _ = (&mut tasks.writer).await;
        tokio::select! {
            _ = &mut tasks.alerts => {}
            () = self.inner.clock.sleep_until(deadline) => tasks.alerts.abort(),
        }
        log::info!(
            "engine stopped: {} attempts drained, {} interrupted, {} left for recovery",
            report.drained,
            report.interrupted,
            report.left_for_recovery
        );
        report
    }

    /// Stops at once, as a crash would: attempts in flight are dropped and results not yet
    /// written are lost. The store stays consistent and the next start recovers.
    pub fn abort(&self) {
        if let Some(tasks) = self.inner.take_tasks() {
            tasks.abort();
        }
    }
}

/// Applies the retention policy at `first`, then every `interval` after the previous round
/// ended, in its own task.
async fn run_pruner(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    policy: RetentionPolicy,
    (first, interval): (cron_expr::Timestamp, Duration),
) {
    let mut next = first;
    loop {
        clock.sleep_until(next).await;
        let now = clock.now();
        next = time::add(now, interval);
        match store.prune(policy, now).await {
            Ok(0) => {}
            Ok(n) => log::info!("retention pruned {n} executions"),
            Err(error) => {
                Metrics::add(&metrics.store_errors, 1);
                log::error!("retention pruning failed: {error}");
            }
        }
    }
}

async fn run_alerts(sink: Arc<dyn AlertSink>, mut alerts: mpsc::Receiver<crate::alert::Alert>) {
    while let Some(alert) = alerts.recv().await {
        sink.deliver(alert).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_must_be_at_least_one() {
        assert!(EngineConfig::default().validate().is_ok());
        let zero_fresh = EngineConfig {
            max_fresh_attempts: 0,
            ..EngineConfig::default()
        };
        assert!(matches!(
            zero_fresh.validate(),
            Err(Error::InvalidConfig {
                setting: "max_fresh_attempts",
                ..
            })
        ));
        // A zero window is allowed: it turns the fresh limit off.
        let no_window = EngineConfig {
            fresh_window: Duration::ZERO,
            ..EngineConfig::default()
        };
        assert!(no_window.validate().is_ok());
    }
}
