//! The store boundary: where jobs and executions live.
//!
//! The engine talks to storage through [`Store`], the union of capability traits split by what
//! a caller needs: [`JobStore`] (the definitions), [`ClaimStore`] (claiming ticks and recording
//! results: the hot path), [`HistoryStore`] (reading executions), [`RetentionStore`]
//! (pruning), [`RecoveryStore`] (what a node left unfinished) and [`MembershipStore`] (which
//! nodes share the store). A program that only reads history, or a tool that only prunes, can
//! name the one trait it needs. The methods are async and return
//! boxed futures so that `Arc<dyn Store>` works: a blocking store (SQLite behind a pool) runs
//! its work on its own threads and completes the future from there.
//!
//! Failures are [`Error::Store`](crate::Error::Store) with a
//! [`StoreErrorKind`](crate::StoreErrorKind), so the engine can retry what is transient
//! (busy, unavailable, conflict) and report the rest.
//!
//! The schedule arithmetic of a claim (which ticks are due, the misfire policy, the new
//! watermark) is not the store's business: every implementation calls [`plan_claim`] inside
//! its transaction, so all stores agree on it, and only the atomicity is theirs.

mod plan;

pub use plan::{ClaimPlan, plan_claim, plan_new_job_claim};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cron_expr::Timestamp;

use crate::domain::{
    DeliveryType, Execution, ExecutionId, ExecutionStatus, ExecutionUpdate, Job, JobId,
};
use crate::error::Result;

/// A boxed, sendable future: what the boundary traits return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Job definitions: create, read, update, delete, list.
pub trait JobStore: Send + Sync + 'static {
    /// Stores a new job as given. Fails with [`Error::JobExists`](crate::Error::JobExists) if
    /// the id is taken.
    fn insert_job(&self, job: Job) -> BoxFuture<'_, Result<()>>;

    /// The job with this id, if any.
    fn get_job(&self, id: JobId) -> BoxFuture<'_, Result<Option<Job>>>;

    /// Replaces the job's spec and `updated_at` if its stored version is `expected_version`,
    /// sets its version to `expected_version + 1`, applies `next_fire`, and returns the job as
    /// stored. Fails with [`Error::JobNotFound`](crate::Error::JobNotFound) or
    /// [`Error::VersionConflict`](crate::Error::VersionConflict). Executions are not touched.
    /// `job.done_at` is not taken: a job with a tick after the change (a `next_fire_at`) is not
    /// done any more, any other keeps its stored `done_at`.
    fn update_job(
        &self,
        job: Job,
        expected_version: u64,
        next_fire: NextFire,
    ) -> BoxFuture<'_, Result<Job>>;

    /// Deletes the job and all its executions; `false` if there was no such job.
    fn delete_job(&self, id: JobId) -> BoxFuture<'_, Result<bool>>;

    /// The jobs that match `query`, in id order, starting after `query.after`, at most
    /// `query.limit`.
    fn find_jobs(&self, query: JobQuery) -> BoxFuture<'_, Result<Vec<Job>>>;

    /// How many jobs are active and how many paused. The default pages through
    /// [`JobStore::find_jobs`]; stores override it with a count query.
    fn count_jobs(&self) -> BoxFuture<'_, Result<JobCounts>> {
        Box::pin(async move {
            let mut counts = JobCounts::default();
            each_page_of_jobs(self, None, |page| {
                for job in page {
                    if job.spec.paused {
                        counts.paused += 1;
                    } else {
                        counts.active += 1;
                    }
                }
            })
            .await?;
            Ok(counts)
        })
    }

    /// The unpaused jobs whose `next_fire_at` is at or before `query.due_before`, in
    /// (`next_fire_at`, id) order, starting after `query.after`, at most `query.limit`. A read:
    /// nothing is claimed.
    ///
    /// The engine reads due jobs this way while the store cannot be written (outage mode): it
    /// then claims their ticks in memory. The default pages through [`JobStore::find_jobs`] and
    /// reads every job; stores override it with an indexed query.
    fn due_jobs(&self, query: DueJobsQuery) -> BoxFuture<'_, Result<Vec<Job>>> {
        Box::pin(async move {
            let mut due = Vec::new();
            each_page_of_jobs(self, Some(false), |page| {
                due.extend(page.into_iter().filter(|job| query.takes(job)));
            })
            .await?;
            due.sort_unstable_by_key(|job| (job.next_fire_at, job.id));
            due.truncate(query.limit);
            Ok(due)
        })
    }

    /// Up to `limit` jobs in id order, starting after `after`.
    fn list_jobs(&self, after: Option<JobId>, limit: usize) -> BoxFuture<'_, Result<Vec<Job>>> {
        self.find_jobs(JobQuery {
            after,
            limit,
            ..JobQuery::default()
        })
    }
}

/// Reads every job (only the paused or the active ones, with `paused`) through
/// [`JobStore::find_jobs`], a page at a time, and hands each page to `visit`: what the default
/// methods that need every job build on.
async fn each_page_of_jobs<S: JobStore + ?Sized>(
    store: &S,
    paused: Option<bool>,
    mut visit: impl FnMut(Vec<Job>) + Send,
) -> Result<()> {
    const PAGE: usize = 1_000;
    let mut after = None;
    loop {
        let page = store
            .find_jobs(JobQuery {
                after,
                limit: PAGE,
                paused,
                ..JobQuery::default()
            })
            .await?;
        let full = page.len() == PAGE;
        after = page.last().map(|job| job.id);
        visit(page);
        if !full {
            return Ok(());
        }
    }
}

/// The number of jobs by state, from [`JobStore::count_jobs`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Jobs that fire.
    pub active: u64,
    /// Paused jobs.
    pub paused: u64,
}

/// Which jobs [`JobStore::find_jobs`] returns. `None` filters match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobQuery {
    /// Start after this id (the cursor of the previous page).
    pub after: Option<JobId>,
    /// The most jobs to return.
    pub limit: usize,
    /// Only paused (`Some(true)`) or only active (`Some(false)`) jobs.
    pub paused: Option<bool>,
    /// Only jobs with this delivery type.
    pub delivery: Option<DeliveryType>,
}

/// Which jobs [`JobStore::due_jobs`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueJobsQuery {
    /// Jobs whose watermark is at or before this instant.
    pub due_before: Timestamp,
    /// Start after this (`next_fire_at`, id): the last job of the previous page.
    pub after: Option<(Timestamp, JobId)>,
    /// The most jobs to return.
    pub limit: usize,
}

impl DueJobsQuery {
    /// Whether `job` belongs in the answer, wherever its page begins.
    pub fn takes(&self, job: &Job) -> bool {
        !job.spec.paused
            && job.next_fire_at.is_some_and(|at| {
                at <= self.due_before && self.after.is_none_or(|after| (at, job.id) > after)
            })
    }
}

/// Which executions [`HistoryStore::find_executions`] returns, newest tick first. `None`
/// filters match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutionQuery {
    /// Only this job's executions.
    pub job_id: Option<JobId>,
    /// Only executions in this state.
    pub status: Option<ExecutionStatus>,
    /// The most executions to return.
    pub limit: usize,
}

/// Claiming ticks and recording what became of them: the engine's hot path.
///
/// Every execution comes into being through this trait (a claimed tick, a new job's first
/// ticks, a manual trigger) carrying its lease: the node that holds it and until when. A
/// store shared by several nodes makes claims exclusive, so that two nodes never hold one tick.
pub trait ClaimStore: Send + Sync + 'static {
    /// In one transaction: for the unpaused jobs whose `next_fire_at` is at or before
    /// `request.due_before`, in `next_fire_at` order, apply [`plan_claim`], insert one
    /// pending execution per planned tick (skipping a tick that already has an execution:
    /// it is claimed already), advance `next_fire_at`, and return the inserted executions,
    /// at most `request.limit` of them. It returns fewer than `limit` only when no due tick is
    /// left, so the engine repeats the claim while batches come back full.
    ///
    /// A job whose plan ends its schedule without a tick
    /// ([`ClaimPlan::ends_without_a_tick`]) is ended as by a last tick's result in
    /// [`ClaimStore::record_results`], at `request.now`.
    ///
    /// A store shared by several nodes must make this exclusive (PostgreSQL: `SELECT ... FOR
    /// UPDATE SKIP LOCKED` on the due jobs), so that two nodes never claim one tick.
    fn claim_due(&self, request: ClaimRequest) -> BoxFuture<'_, Result<ClaimBatch>>;

    /// Stores a new job and claims its own due ticks, in one transaction: applies
    /// [`plan_claim`] to `job` under `request` (at most `request.limit` ticks), inserts the
    /// job with `next_fire_at` advanced past the planned ticks, inserts one pending execution
    /// per planned tick, and returns them. No other job is claimed, and a paused job is
    /// stored as given, with nothing claimed. Fails like
    /// [`JobStore::insert_job`] (nothing is stored then).
    ///
    /// This is how the engine creates a job: its first ticks are claimed as it is stored, so
    /// a creation costs one write and does not wait for a claim pass over every job.
    fn insert_job_and_claim(
        &self,
        job: Job,
        request: ClaimRequest,
    ) -> BoxFuture<'_, Result<ClaimBatch>>;

    /// Stores many new jobs and claims their own due ticks, all or nothing: what
    /// [`ClaimStore::insert_job_and_claim`] does for one job, for each of `jobs` in order
    /// (`request.limit` bounds each job's ticks, not the batch's), in one transaction. If any
    /// job fails (a taken id: [`Error::JobExists`](crate::Error::JobExists)), nothing of the
    /// batch is stored and that error is returned.
    ///
    /// This is how the engine creates a batch of jobs (`Engine::create_jobs`): one write for
    /// thousands of jobs. The default refuses every batch (a permanent store error), for stores
    /// that cannot make it atomic; the stores of this project implement it.
    fn insert_jobs_and_claim(
        &self,
        jobs: Vec<Job>,
        request: ClaimRequest,
    ) -> BoxFuture<'_, Result<ClaimBatch>> {
        let _ = (jobs, request);
        Box::pin(std::future::ready(Err(crate::Error::Store {
            kind: crate::StoreErrorKind::Permanent,
            message: "this store cannot create jobs in batches".to_owned(),
            source: None,
        })))
    }

    /// Inserts one execution (a manual trigger). Fails with
    /// [`Error::DuplicateExecution`](crate::Error::DuplicateExecution) if the job already has
    /// one at that instant, and [`Error::JobNotFound`](crate::Error::JobNotFound) without job.
    fn insert_execution(&self, execution: Execution) -> BoxFuture<'_, Result<()>>;

    /// Applies a batch of updates, in order, in one transaction (group commit). Updates of
    /// executions that no longer exist (their job was deleted, or they were pruned) are ignored.
    ///
    /// A final update (a finished status, with `finished_at`) that names its job in
    /// [`ExecutionUpdate::last_tick_of`] ends that job, in the same transaction, if the job has
    /// no `next_fire_at`, is not done yet, and none of its executions is unfinished: the job
    /// is deleted with its executions if it has `delete_after_run`, else its `done_at` is set
    /// to the update's `finished_at`. A store shared by several nodes serialises this per job,
    /// so that of two nodes finishing a job's last executions at once, one ends the job.
    fn record_results(&self, updates: Vec<ExecutionUpdate>) -> BoxFuture<'_, Result<()>>;

    /// Records, in one transaction, what the engine claimed in memory while the store could not
    /// be written (outage mode): inserts each execution as given (its state included) unless
    /// its job no longer exists or the job already has an execution at that tick, and moves
    /// each job's watermark forward to the one given, if the job is still at that version and
    /// its stored watermark is earlier. A watermark of `None` (no further tick) ends the
    /// schedule. Returns how many executions were inserted.
    fn record_buffered_claims(&self, claims: BufferedClaims) -> BoxFuture<'_, Result<usize>>;
}

/// The arguments of [`ClaimStore::record_buffered_claims`]: executions claimed in memory during
/// a store outage, oldest first, and the watermarks of their jobs.
#[derive(Clone, Debug, Default)]
pub struct BufferedClaims {
    /// The executions, each in its latest state.
    pub executions: Vec<Execution>,
    /// Each job's watermark after the claims, with the job version it was planned at.
    pub watermarks: Vec<BufferedWatermark>,
}

/// A job's watermark after claims made in memory, from [`BufferedClaims`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferedWatermark {
    /// The job.
    pub job_id: JobId,
    /// The job's version the claims were planned at: a job changed since keeps its own.
    pub version: u64,
    /// The next tick not yet claimed; `None` when the schedule has no further tick.
    pub next_fire_at: Option<Timestamp>,
}

/// Reading the history of executions: what the API lists.
pub trait HistoryStore: Send + Sync + 'static {
    /// One execution.
    fn get_execution(&self, id: ExecutionId) -> BoxFuture<'_, Result<Option<Execution>>>;

    /// The job's executions, newest tick first, at most `limit`.
    fn job_executions(&self, job_id: JobId, limit: usize) -> BoxFuture<'_, Result<Vec<Execution>>> {
        self.find_executions(ExecutionQuery {
            job_id: Some(job_id),
            status: None,
            limit,
        })
    }

    /// The most recent executions across jobs, newest tick first, at most `limit`.
    fn recent_executions(&self, limit: usize) -> BoxFuture<'_, Result<Vec<Execution>>> {
        self.find_executions(ExecutionQuery {
            job_id: None,
            status: None,
            limit,
        })
    }

    /// The executions that match `query`, newest tick first (ties by id, newest first), at
    /// most `query.limit`.
    fn find_executions(&self, query: ExecutionQuery) -> BoxFuture<'_, Result<Vec<Execution>>>;

    /// The job's finished executions, `SUCCEEDED` or `FAILED` (the outcomes a failure streak
    /// is counted in), whose tick is strictly before `before`, newest tick first, at most
    /// `limit`: what the engine reads to decide a job's own alert.
    ///
    /// The default reads the job's newest executions through
    /// [`HistoryStore::find_executions`], more at each round, until it has `limit` of them or
    /// the whole history; the stores override it with one indexed query.
    fn finished_executions_before(
        &self,
        job_id: JobId,
        before: Timestamp,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Execution>>> {
        Box::pin(async move {
            let mut read = limit.saturating_mul(2).max(16);
            loop {
                let page = self
                    .find_executions(ExecutionQuery {
                        job_id: Some(job_id),
                        status: None,
                        limit: read,
                    })
                    .await?;
                let whole_history = page.len() < read;
                let found: Vec<Execution> = page
                    .into_iter()
                    .filter(|execution| {
                        execution.scheduled_at < before && execution.status.is_outcome()
                    })
                    .take(limit)
                    .collect();
                if found.len() == limit || whole_history {
                    return Ok(found);
                }
                read = read.saturating_mul(4);
            }
        })
    }
}

/// Bounding the history.
pub trait RetentionStore: Send + Sync + 'static {
    /// Deletes finished executions beyond the policy: older than `max_age` before `now`, or
    /// beyond the newest `max_per_job` of their job. Returns how many were deleted. Pending
    /// and running executions are never pruned.
    fn prune(&self, policy: RetentionPolicy, now: Timestamp) -> BoxFuture<'_, Result<u64>>;
}

/// Taking back what a node left unfinished when it stopped or crashed.
pub trait RecoveryStore: Send + Sync + 'static {
    /// The pending and running executions claimed by `owner`, each with its job, oldest tick
    /// first: what a node restarting under the same name must finish.
    fn unfinished_executions(&self, owner: &str) -> BoxFuture<'_, Result<Vec<ClaimedTick>>>;

    /// Of the executions `ids`, those still unfinished and held by `owner`, with their leases
    /// renewed to `lease_until`, in any order. An execution another node took over, one that
    /// finished, and one that no longer exists are left out (and left alone).
    ///
    /// A node calls it for what it holds in memory after it could not renew its membership for
    /// a while (and at start, for what it recovers): what is left out is no longer its to send.
    /// A shared store makes it atomic with [`RecoveryStore::take_over`], so that an execution is
    /// either renewed for `owner` or taken over, never both.
    fn renew_leases(
        &self,
        owner: &str,
        ids: Vec<ExecutionId>,
        lease_until: Timestamp,
    ) -> BoxFuture<'_, Result<Vec<ExecutionId>>>;

    /// Takes over what stopped nodes left unfinished: the pending and running executions held
    /// by a node other than `request.owner` whose latest heartbeat is before
    /// `request.stale_before` and whose lease expired before `request.now`. Each becomes
    /// `request.owner`'s, with its lease until `request.lease_until`, and is returned with its
    /// job, oldest tick first, at most `request.limit` of them.
    ///
    /// A store shared by several nodes makes this exclusive (PostgreSQL: `FOR UPDATE SKIP
    /// LOCKED`), so that two nodes taking over at once split the executions between them.
    fn take_over(&self, request: TakeOverRequest) -> BoxFuture<'_, Result<Vec<ClaimedTick>>>;
}

/// The arguments of [`RecoveryStore::take_over`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakeOverRequest {
    /// The node taking over.
    pub owner: String,
    /// The taking node's clock.
    pub now: Timestamp,
    /// Nodes whose latest heartbeat is before this instant have stopped.
    pub stale_before: Timestamp,
    /// The lease the taking node holds the executions under.
    pub lease_until: Timestamp,
    /// The most executions to take.
    pub limit: usize,
}

/// Membership: which nodes share the store, by their heartbeats. A heartbeat is one small
/// write per node, however many executions the node holds.
pub trait MembershipStore: Send + Sync + 'static {
    /// Records that `node` was alive at `at`.
    fn heartbeat(&self, node: &str, at: Timestamp) -> BoxFuture<'_, Result<()>>;

    /// Every node that has sent a heartbeat, with its latest, in node order.
    fn nodes(&self) -> BoxFuture<'_, Result<Vec<NodeHeartbeat>>>;

    /// The feed of changes to jobs made through any node sharing the store, this one
    /// included: each update, pause, resume and delete, once committed. The engine takes it
    /// once, at start, and applies each change to the ticks it holds. `None` (the default)
    /// for a store of one node, whose changes all pass through its own engine.
    ///
    /// A feed that may have missed notices (it was just connected, or reconnected after its
    /// connection was lost) says [`JobNotice::Resync`].
    fn job_changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<JobNotice>> {
        None
    }

    /// Whether other nodes may share this store. On a shared store a node that cannot renew
    /// its membership stops sending (its executions may be taken over), and live nodes take
    /// over what stopped ones left; a store of one node needs neither. The default is `false`.
    fn is_shared(&self) -> bool {
        false
    }
}

/// A change to jobs, from [`MembershipStore::job_changes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobNotice {
    /// The job was updated, paused, resumed or deleted: read it again.
    Changed(JobId),
    /// Notices may have been missed: read again every job whose executions are held.
    Resync,
}

/// A node's latest heartbeat, from [`MembershipStore::nodes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeHeartbeat {
    /// The node's name (`EngineConfig::node_id`).
    pub node_id: String,
    /// When it last said it was alive, by its own clock.
    pub last_heartbeat: Timestamp,
}

/// A complete store: every capability the engine uses. Implemented for every type that has
/// them all.
pub trait Store:
    JobStore + ClaimStore + HistoryStore + RetentionStore + RecoveryStore + MembershipStore
{
}

impl<T> Store for T where
    T: JobStore + ClaimStore + HistoryStore + RetentionStore + RecoveryStore + MembershipStore
{
}

/// What [`JobStore::update_job`] does with the job's `next_fire_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextFire {
    /// Leave the stored watermark alone (the change does not move ticks).
    Keep,
    /// Set it (the schedule changed, or the job was resumed).
    Set(Option<Timestamp>),
}

/// The arguments of [`ClaimStore::claim_due`].
#[derive(Clone, Debug)]
pub struct ClaimRequest {
    /// The claiming node's clock.
    pub now: Timestamp,
    /// Claim ticks at or before this instant (`now` plus the look-ahead window).
    pub due_before: Timestamp,
    /// The most executions to return.
    pub limit: usize,
    /// The claiming node (lease owner), written into each execution.
    pub owner: String,
    /// Until when the claiming node holds the executions it inserts: written into each as
    /// [`Execution::lease_expires_at`]. After it, another node may take them over.
    pub lease_until: Timestamp,
    /// Where missed ticks end: the job's ticks due before this instant are missed and follow
    /// its misfire policy ([`plan_claim`]); later ticks, late or not, all fire. The engine sets
    /// it to `now` less [`EngineConfig::misfire_threshold`](crate::EngineConfig::misfire_threshold),
    /// or, on a store that is not shared, to the instant the engine started if that is later
    /// (ticks due before it were due while no scheduler ran); it is never after `now`.
    pub missed_before: Timestamp,
}

/// What one claim returned.
#[derive(Clone, Debug, Default)]
pub struct ClaimBatch {
    /// The new pending executions, each with the job as it was when claimed.
    pub ticks: Vec<ClaimedTick>,
    /// Missed ticks that the misfire policies dropped.
    pub misfired: u64,
}

/// An execution together with its job.
#[derive(Clone, Debug)]
pub struct ClaimedTick {
    /// The execution.
    pub execution: Execution,
    /// Its job, as stored when the execution was read.
    pub job: Arc<Job>,
}

/// How much history to keep. `None` means no limit of that kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep at most this many finished executions per job (the newest).
    pub max_per_job: Option<usize>,
    /// Delete finished executions whose tick is older than this.
    pub max_age: Option<Duration>,
}
