//! The engine's public handle ([`Engine`], [`EngineBuilder`]) and the start-up that wires its
//! tasks together: the control task (claims, changes, creations), the dispatcher (timer and
//! attempts), the writer (results in batches), the alert task, the heartbeat, and the pruner
//! when retention is set. How they cooperate is told in docs/ARCHITECTURE.md.

mod config;
mod control;
mod dispatch;
mod job_alerts;
mod lease;
mod membership;
mod misfire;
mod notices;
mod outage;
mod panics;
mod retry;
mod timer;
mod writer;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::alert::{AlertSink, JobAlertSink, LogAlertSink};
use crate::clock::{Clock, SystemClock};
use crate::domain::{Execution, ExecutionId, Job, JobId, JobSpec};
use crate::error::{Error, Result};
use crate::metrics::{JobStats, Metrics, MetricsSnapshot};
use crate::store::{ExecutionQuery, JobCounts, JobQuery, RetentionPolicy, Store};
use crate::time;
use crate::transport::Transport;

pub use config::EngineConfig;
use control::{Command, Control, JobChange};
use dispatch::{DispatchMsg, Dispatcher};
use lease::Lease;
use membership::Membership;
use misfire::MisfireCut;
use outage::Outage;
pub use outage::{StoreFailure, StoreStatus};
use panics::Reported;

/// Which version of a job an update applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionCheck {
    /// Whatever version is stored (last writer wins).
    Any,
    /// Only this version; otherwise [`Error::VersionConflict`].
    Exactly(u64),
}

/// A node that shares the store, from [`Engine::nodes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node's name.
    pub node_id: String,
    /// Its latest heartbeat, by its own clock.
    pub last_heartbeat: cron_expr::Timestamp,
    /// Whether that heartbeat is within the lease of now, by this node's clock.
    pub live: bool,
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
    job_alert_sink: Arc<dyn JobAlertSink>,
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

    /// Where jobs' own alerts go ([`JobSpec::alert`](crate::JobSpec::alert)); the default logs
    /// them ([`LogAlertSink`]).
    pub fn job_alert_sink(mut self, job_alert_sink: Arc<dyn JobAlertSink>) -> Self {
        self.job_alert_sink = job_alert_sink;
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

    /// Records this node's first heartbeat, recovers what a previous run of this node left
    /// unfinished, then starts the engine's tasks on the current tokio runtime.
    ///
    /// Recovery: pending executions fire as scheduled (at once if late); running at-least-once
    /// executions are sent again at once; running at-most-once executions are marked
    /// abandoned. At-least-once executions that the node may have sent before it stopped
    /// (running ones, and pending ones whose tick has come) are sent as re-sends: their
    /// attempt number follows the attempts recorded, the request carries
    /// [`HEADER_REDELIVERY`](crate::HEADER_REDELIVERY), and
    /// [`Execution::redeliveries`] counts it. Pending ticks that are missed follow their job's
    /// misfire policy, and those it drops are recorded skipped: on a store that is not shared,
    /// those whose tick came before the start (this node was down); on a shared one, those
    /// later than [`EngineConfig::misfire_threshold`]. On a shared store, only the executions whose leases the
    /// node renews are recovered: another node may have taken the rest over while this one
    /// was down.
    pub async fn start(self) -> Result<Engine> {
        self.config.validate()?;
        let node_id = &self.config.node_id;
        let started = self.clock.now();
        let shared = self.store.is_shared();
        if shared {
            warn_if_name_in_use(self.store.as_ref(), node_id, started, self.config.lease).await?;
        }
        self.store.heartbeat(node_id, started).await?;
        let misfire = MisfireCut::new(&self.config, started, shared);
        let lease = Arc::new(Lease::new(
            shared,
            time::add(started, self.config.fence_after()),
        ));
        let mut recovered = self.store.unfinished_executions(node_id).await?;
        if shared && !recovered.is_empty() {
            let ids = recovered.iter().map(|tick| tick.execution.id).collect();
            let kept: foldhash::HashSet<ExecutionId> = self
                .store
                .renew_leases(node_id, ids, self.config.lease_until(self.clock.now()))
                .await?
                .into_iter()
                .collect();
            recovered.retain(|tick| kept.contains(&tick.execution.id));
        }
        if !recovered.is_empty() {
            log::info!(
                "node {node_id}: recovering {} unfinished executions",
                recovered.len()
            );
        }
        let metrics = Arc::new(Metrics::default());
        // Recovered executions count against the backlog (they must be finished), but are
        // never refused: they are in the store already, and only this node will finish them.
        metrics.hold(recovered.len());
        // Unbounded: the backlog bounds what waits for the writer, and the dispatcher, which
        // runs the timer, must never wait on a send.
        let (write_tx, write_rx) = mpsc::unbounded_channel();
        let (alert_tx, alert_rx) = mpsc::channel(self.config.alert_queue_capacity);
        let (dispatch_tx, dispatch_rx) = mpsc::unbounded_channel();
        let (command_tx, command_rx) = mpsc::channel(1_024);
        let (busy_tx, busy_rx) = watch::channel(false);

        let outage = Arc::new(Outage::new(
            !shared,
            self.config.outage_buffer_bytes,
            Arc::clone(&metrics),
        ));
        let (stop_by_tx, stop_by) = watch::channel(None);
        let writer = tokio::spawn(Reported::new(
            "writer",
            writer::run(
                writer::Parts {
                    store: Arc::clone(&self.store),
                    clock: Arc::clone(&self.clock),
                    limits: writer::Limits {
                        max_batch: self.config.result_batch_size,
                        linger: self.config.result_linger,
                    },
                    metrics: Arc::clone(&metrics),
                    outage: Arc::clone(&outage),
                    stop_by,
                },
                write_rx,
            ),
        ));
        let alerts = tokio::spawn(Reported::new(
            "alerts",
            job_alerts::run(
                self.alert_sink,
                self.job_alert_sink,
                Arc::clone(&self.store),
                Arc::clone(&metrics),
                alert_rx,
            ),
        ));
        // Retention runs on its own, so a long prune never delays a claim.
        let pruner = self.config.retention.map(|policy| {
            let first = time::add(self.clock.now(), self.config.prune_interval);
            tokio::spawn(Reported::new(
                "pruner",
                run_pruner(
                    Arc::clone(&self.store),
                    Arc::clone(&self.clock),
                    Arc::clone(&metrics),
                    policy,
                    (first, self.config.prune_interval),
                ),
            ))
        });
        // Changes made through other nodes, and a resync after this node's lease lapsed.
        let (resync_tx, resync_rx) = mpsc::unbounded_channel();
        let notices = self
            .store
            .job_changes()
            .map(|feed| tokio::spawn(notices::run(feed, resync_rx, command_tx.clone())));
        let membership = tokio::spawn(Reported::new(
            "membership",
            Membership {
                store: Arc::clone(&self.store),
                clock: Arc::clone(&self.clock),
                metrics: Arc::clone(&metrics),
                config: self.config.clone(),
                lease: Arc::clone(&lease),
                outage: Arc::clone(&outage),
                dispatch: dispatch_tx.clone(),
                resync: notices.is_some().then_some(resync_tx),
                failing: false,
            }
            .run(started),
        ));
        // The recovered executions are the dispatcher's first message.
        let _ = dispatch_tx.send(DispatchMsg::Recovered(recovered));
        let dispatcher = tokio::spawn(Reported::new(
            "dispatcher",
            Dispatcher::new(
                Arc::clone(&self.clock),
                self.transport,
                Arc::clone(&metrics),
                self.config.clone(),
                misfire,
                Arc::clone(&lease),
                dispatch::Channels {
                    inbox: dispatch_rx,
                    writer: write_tx,
                    alerts: alert_tx,
                    busy: busy_tx,
                },
            )
            .run(),
        ));
        let control = Control::new(
            control::Parts {
                store: Arc::clone(&self.store),
                clock: Arc::clone(&self.clock),
                metrics: Arc::clone(&metrics),
                config: self.config.clone(),
                misfire,
                lease: Arc::clone(&lease),
                outage: Arc::clone(&outage),
            },
            command_rx,
            dispatch_tx.clone(),
            busy_rx,
        )
        .run();
        let control = Reported::new("control", control);
        let control = match &self.control_runtime {
            Some(runtime) => runtime.spawn(control),
            None => tokio::spawn(control),
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                node_id: self.config.node_id.clone(),
                lease_duration: self.config.lease,
                default_tick_jitter: self.config.default_tick_jitter,
                lease,
                outage,
                stop_by: stop_by_tx,
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
                    membership,
                    notices,
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
    /// `EngineConfig::node_id`.
    node_id: String,
    /// `EngineConfig::lease`: how recent a heartbeat keeps a node live.
    lease_duration: Duration,
    /// `EngineConfig::default_tick_jitter`.
    default_tick_jitter: Duration,
    /// This node's lease on a shared store.
    lease: Arc<Lease>,
    /// Outage mode, and the store's health as the claims and the writer see it.
    outage: Arc<Outage>,
    /// The shutdown's deadline, for the writer.
    stop_by: watch::Sender<Option<cron_expr::Timestamp>>,
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
    membership: JoinHandle<()>,
    /// Present when the store has a feed of job changes (a shared store).
    notices: Option<JoinHandle<()>>,
    /// Present when a retention policy is set.
    pruner: Option<JoinHandle<()>>,
}

impl Tasks {
    fn all_running(&self) -> bool {
        let core = [
            &self.control,
            &self.dispatcher,
            &self.writer,
            &self.alerts,
            &self.membership,
        ];
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
        self.membership.abort();
        if let Some(notices) = &self.notices {
            notices.abort();
        }
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
            job_alert_sink: Arc::new(LogAlertSink),
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

    /// Registers many jobs at once, all or nothing: either every spec is valid and every job
    /// is stored (in one store transaction, with their first ticks claimed as
    /// [`Engine::create_job`] claims them), or nothing is stored. Invalid specs fail the batch
    /// with [`Error::InvalidBatch`], which lists each by its index; a store failure fails it
    /// whole. Returns the stored jobs in the order of `specs`.
    pub async fn create_jobs(&self, specs: Vec<JobSpec>) -> Result<Vec<Job>> {
        self.call(|reply| Command::CreateBatch { specs, reply })
            .await
    }

    /// Replaces a job's spec. A schedule change takes effect at once, also for ticks already
    /// claimed: those that the new schedule does not have are skipped.
    pub async fn update_job(&self, id: JobId, spec: JobSpec, check: VersionCheck) -> Result<Job> {
        self.call(|reply| {
            Command::Change(JobChange::Update {
                id,
                spec,
                check,
                reply,
            })
        })
        .await
    }

    /// Pauses a job: its claimed ticks are skipped and no new ones are claimed.
    pub async fn pause_job(&self, id: JobId) -> Result<Job> {
        self.pause_job_if(id, VersionCheck::Any).await
    }

    /// [`Engine::pause_job`] if the job is at the version `check` names; otherwise
    /// [`Error::VersionConflict`] and nothing changes.
    pub async fn pause_job_if(&self, id: JobId, check: VersionCheck) -> Result<Job> {
        self.call(|reply| {
            Command::Change(JobChange::SetPaused {
                id,
                paused: true,
                check,
                reply,
            })
        })
        .await
    }

    /// Resumes a paused job from its next tick after now (ticks during the pause are not owed).
    pub async fn resume_job(&self, id: JobId) -> Result<Job> {
        self.resume_job_if(id, VersionCheck::Any).await
    }

    /// [`Engine::resume_job`] if the job is at the version `check` names; otherwise
    /// [`Error::VersionConflict`] and nothing changes.
    pub async fn resume_job_if(&self, id: JobId, check: VersionCheck) -> Result<Job> {
        self.call(|reply| {
            Command::Change(JobChange::SetPaused {
                id,
                paused: false,
                check,
                reply,
            })
        })
        .await
    }

    /// Deletes a job and its history; `false` if there was no such job. Attempts in flight
    /// finish, but nothing is retried or recorded.
    pub async fn delete_job(&self, id: JobId) -> Result<bool> {
        self.delete_job_if(id, VersionCheck::Any).await
    }

    /// [`Engine::delete_job`] if the job is at the version `check` names; otherwise
    /// [`Error::VersionConflict`] and nothing changes. The version is compared on this node's
    /// control loop, which applies its changes one at a time; a change through another node
    /// between the comparison and the delete is not seen.
    pub async fn delete_job_if(&self, id: JobId, check: VersionCheck) -> Result<bool> {
        self.call(|reply| Command::Change(JobChange::Delete { id, check, reply }))
            .await
    }

    /// Fires the job now, outside its schedule (also when paused). Returns the execution's id.
    pub async fn trigger_now(&self, id: JobId) -> Result<ExecutionId> {
        self.trigger_now_if(id, VersionCheck::Any)
            .await
            .map(|execution| execution.id)
    }

    /// [`Engine::trigger_now`] if the job is at the version `check` names (otherwise
    /// [`Error::VersionConflict`] and nothing fires). Returns the execution as it was stored,
    /// so the caller needs no read that a delete of the job could answer with nothing.
    pub async fn trigger_now_if(&self, id: JobId, check: VersionCheck) -> Result<Execution> {
        self.call(|reply| Command::Change(JobChange::Trigger { id, check, reply }))
            .await
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

    /// This node's name ([`EngineConfig::node_id`]).
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// The instant this engine fires the scheduled tick `tick` of `job`: the tick moved by the
    /// job's tick jitter, or by [`EngineConfig::default_tick_jitter`] when the job sets none
    /// ([`tick_fire_instant`](crate::tick_fire_instant)). The tick itself stays the execution's
    /// scheduled time.
    pub fn tick_fire_instant(&self, job: &Job, tick: cron_expr::Timestamp) -> cron_expr::Timestamp {
        crate::jitter::tick_fire_instant(job.id, &job.spec, tick, self.inner.default_tick_jitter)
    }

    /// Whether this node is fenced: on a shared store, it could not renew its heartbeat for
    /// [`EngineConfig::fence_after`], so it sends and claims nothing until a heartbeat
    /// succeeds again (other nodes may be taking over what it holds). Always `false` on a
    /// store of one node.
    pub fn is_fenced(&self) -> bool {
        let lease = &self.inner.lease;
        lease.is_shared() && !lease.holds(self.inner.clock.now())
    }

    /// Whether [`Engine::shutdown`] has begun: the engine fires nothing more, and is draining
    /// or done.
    pub fn is_stopping(&self) -> bool {
        self.inner.stop_by.borrow().is_some()
    }

    /// Whether the store takes the engine's writes: the failures of claims and of result writes
    /// under way, if any. While claims fail on a store of one node, ticks are claimed in memory
    /// (outage mode); failed result writes are kept and tried again.
    pub fn store_status(&self) -> StoreStatus {
        self.inner.outage.status()
    }

    /// Whether other nodes may share the engine's store ([`MembershipStore::is_shared`]).
    ///
    /// [`MembershipStore::is_shared`]: crate::MembershipStore::is_shared
    pub fn store_is_shared(&self) -> bool {
        self.inner.lease.is_shared()
    }

    /// The nodes that share the store, in name order, each with its latest heartbeat and
    /// whether it is live: heard from within [`EngineConfig::lease`] of now, by this node's
    /// clock.
    pub async fn nodes(&self) -> Result<Vec<NodeStatus>> {
        let now = self.inner.clock.now();
        let nodes = self.inner.store.nodes().await?;
        Ok(nodes
            .into_iter()
            .map(|node| NodeStatus {
                live: time::since(now, node.last_heartbeat) <= self.inner.lease_duration,
                node_id: node.node_id,
                last_heartbeat: node.last_heartbeat,
            })
            .collect())
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

    /// Stops gracefully: stops firing at once and claiming after the pass under way, lets
    /// attempts in flight finish until `grace` has passed on the engine's clock, writes every
    /// result, and leaves claimed ticks, waiting retries and cut-off attempts in the store for
    /// the next start to recover. Calling it again does nothing.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let Some(mut tasks) = self.inner.take_tasks() else {
            return ShutdownReport::default();
        };
        let deadline = time::add(self.inner.clock.now(), grace);
        self.inner.stop_by.send_replace(Some(deadline));
        // Neither membership nor pruning hold anything that needs finishing: a node's last
        // heartbeat simply ages, and a cut-off round is redone later. (Executions a takeover
        // handed over are in the dispatcher's hands, or still this node's in the store.)
        tasks.membership.abort();
        if let Some(notices) = &tasks.notices {
            notices.abort();
        }
        if let Some(pruner) = &tasks.pruner {
            pruner.abort();
        }
        // The dispatcher stops firing at once: ticks due from now on, and those a claim pass
        // still under way hands over, are left in the store for the next start.
        let (done, report) = oneshot::channel();
        let _ = self
            .inner
            .dispatch
            .send(DispatchMsg::Shutdown { deadline, done });
        let _ = self.inner.commands.send(Command::Stop).await;
        let _ = (&mut tasks.control).await;
        let _ = self.inner.dispatch.send(DispatchMsg::ControlStopped);
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

/// Warns when a node named `node_id` was heard from within the lease before `now`: either this
/// node restarted that quickly, or another process runs under the same name, and two nodes
/// with one name would each take the other's executions for their own.
async fn warn_if_name_in_use(
    store: &dyn Store,
    node_id: &str,
    now: cron_expr::Timestamp,
    lease: Duration,
) -> Result<()> {
    let nodes = store.nodes().await?;
    if let Some(node) = nodes.iter().find(|node| node.node_id == node_id)
        && time::since(now, node.last_heartbeat) < lease
    {
        log::warn!(
            "node {node_id} was heard from {:?} ago: unless this is the same node restarting, \
             another process runs under this name; give every node a name of its own",
            time::since(now, node.last_heartbeat)
        );
    }
    Ok(())
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
                log::error!(
                    "retention pruning failed: {}",
                    crate::error::error_chain(&error)
                );
            }
        }
    }
}
