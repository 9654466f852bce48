//! [`MemoryStore`]: a complete store in process memory.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use cron_expr::Timestamp;
use tokio::sync::mpsc;

use crate::domain::{Execution, ExecutionId, ExecutionTrigger, ExecutionUpdate, Job, JobId};
use crate::error::{Error, Result};
use crate::store::{
    BoxFuture, BufferedClaims, ClaimBatch, ClaimRequest, ClaimStore, ClaimedTick, DueJobsQuery,
    ExecutionQuery, HistoryStore, JobCounts, JobNotice, JobQuery, JobStore, MembershipStore,
    NextFire, NodeHeartbeat, RecoveryStore, RetentionPolicy, RetentionStore, TakeOverRequest,
    plan_claim, plan_new_job_claim,
};
use crate::time;

/// A store that keeps everything in memory, behind one mutex.
///
/// It is the reference implementation of the store contract (it passes the conformance suite
/// in `testing::conformance`) and the store of the engine's own tests. Programs that need no
/// durability can embed it; nothing survives the process. Every operation is atomic because it
/// runs under the one lock, and no lock is held across an `.await`.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Whether it says it is shared ([`MembershipStore::is_shared`]): engines in one process
    /// may share one store to act as several nodes.
    shared: bool,
}

#[derive(Debug, Default)]
struct State {
    jobs: HashMap<JobId, Arc<Job>>,
    /// Unpaused jobs with a watermark, by watermark: the claim index.
    due: BTreeSet<(Timestamp, JobId)>,
    executions: HashMap<ExecutionId, Execution>,
    /// Per job, its executions by tick: enforces one execution per (job, tick).
    by_job: HashMap<JobId, BTreeMap<Timestamp, ExecutionId>>,
    /// All executions by tick, for the recent list and age-based pruning.
    by_tick: BTreeSet<(Timestamp, ExecutionId)>,
    unfinished: BTreeSet<(Timestamp, ExecutionId)>,
    /// Each node's latest heartbeat.
    heartbeats: BTreeMap<String, Timestamp>,
    /// The feeds of job changes handed out ([`MembershipStore::job_changes`], shared only).
    subscribers: Vec<mpsc::UnboundedSender<JobNotice>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// An empty store that says it is shared by several nodes, for engines in one process
    /// acting as several nodes: they fence themselves and take over from each other as on a
    /// shared database.
    pub fn shared() -> MemoryStore {
        MemoryStore {
            shared: true,
            ..MemoryStore::default()
        }
    }

    /// How many executions the store holds (for tests and diagnostics).
    pub fn execution_count(&self) -> usize {
        self.lock().executions.len()
    }

    /// Every execution, in tick order (for tests; copies everything).
    pub fn all_executions(&self) -> Vec<Execution> {
        let state = self.lock();
        state
            .by_tick
            .iter()
            .map(|(_, id)| state.executions[id].clone())
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (each operation mutates after
        // its checks), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Tells every feed that the job changed, and forgets the feeds whose engines are gone.
    fn notify(&mut self, id: JobId) {
        self.subscribers
            .retain(|feed| feed.send(JobNotice::Changed(id)).is_ok());
    }

    /// Deletes the job and its executions; `false` if there was no such job.
    fn remove_job(&mut self, id: JobId) -> bool {
        let Some(job) = self.jobs.remove(&id) else {
            return false;
        };
        self.unindex_job(&job);
        let ids: Vec<ExecutionId> = self
            .by_job
            .remove(&id)
            .map(|ticks| ticks.into_values().collect())
            .unwrap_or_default();
        for execution_id in ids {
            self.remove_execution(execution_id);
        }
        self.notify(id);
        true
    }

    /// Marks the job done at `at` (or deletes it, with `delete_after_run`) if its schedule has
    /// no tick left and none of its executions is unfinished.
    fn finish_job(&mut self, id: JobId, at: Timestamp) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        if job.next_fire_at.is_some() || job.done_at.is_some() {
            return;
        }
        let unfinished = self.by_job.get(&id).is_some_and(|ticks| {
            ticks
                .values()
                .any(|execution| !self.executions[execution].status.is_finished())
        });
        if unfinished {
            return;
        }
        if job.spec.delete_after_run {
            self.remove_job(id);
        } else {
            let mut done = Job::clone(job);
            done.done_at = Some(at);
            self.jobs.insert(id, Arc::new(done));
        }
    }

    fn index_job(&mut self, job: &Job) {
        if let (false, Some(at)) = (job.spec.paused, job.next_fire_at) {
            self.due.insert((at, job.id));
        }
    }

    fn unindex_job(&mut self, job: &Job) {
        if let Some(at) = job.next_fire_at {
            self.due.remove(&(at, job.id));
        }
    }

    /// Inserts a pending execution of `job` for each of `ticks`, held under `request`'s lease, and adds
    /// each inserted one to `batch`; a tick with an execution already is claimed already, and
    /// skipped.
    fn insert_claimed(
        &mut self,
        job: &Arc<Job>,
        ticks: Vec<Timestamp>,
        request: &ClaimRequest,
        batch: &mut ClaimBatch,
    ) {
        for tick in ticks {
            let execution = Execution::pending(
                job.id,
                tick,
                ExecutionTrigger::Schedule,
                &request.owner,
                request.lease_until,
            );
            if self.insert_execution(execution.clone()).is_ok() {
                batch.ticks.push(ClaimedTick {
                    execution,
                    job: Arc::clone(job),
                });
            }
        }
    }

    fn insert_execution(&mut self, execution: Execution) -> Result<()> {
        let ticks = self.by_job.entry(execution.job_id).or_default();
        if ticks.contains_key(&execution.scheduled_at) {
            return Err(Error::DuplicateExecution {
                job_id: execution.job_id,
                scheduled_at: execution.scheduled_at,
            });
        }
        ticks.insert(execution.scheduled_at, execution.id);
        let key = (execution.scheduled_at, execution.id);
        self.by_tick.insert(key);
        if !execution.status.is_finished() {
            self.unfinished.insert(key);
        }
        self.executions.insert(execution.id, execution);
        Ok(())
    }

    fn remove_execution(&mut self, id: ExecutionId) {
        if let Some(execution) = self.executions.remove(&id) {
            let key = (execution.scheduled_at, id);
            self.by_tick.remove(&key);
            self.unfinished.remove(&key);
            if let Some(ticks) = self.by_job.get_mut(&execution.job_id) {
                ticks.remove(&execution.scheduled_at);
            }
        }
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl JobStore for MemoryStore {
    fn insert_job(&self, job: Job) -> BoxFuture<'_, Result<()>> {
        let mut state = self.lock();
        let result = if state.jobs.contains_key(&job.id) {
            Err(Error::JobExists(job.id))
        } else {
            state.index_job(&job);
            state.jobs.insert(job.id, Arc::new(job));
            Ok(())
        };
        ready(result)
    }

    fn get_job(&self, id: JobId) -> BoxFuture<'_, Result<Option<Job>>> {
        ready(Ok(self.lock().jobs.get(&id).map(|job| Job::clone(job))))
    }

    fn update_job(
        &self,
        mut job: Job,
        expected_version: u64,
        next_fire: NextFire,
    ) -> BoxFuture<'_, Result<Job>> {
        let mut state = self.lock();
        let result = match state.jobs.get(&job.id).cloned() {
            None => Err(Error::JobNotFound(job.id)),
            Some(stored) if stored.version != expected_version => Err(Error::VersionConflict {
                job_id: job.id,
                expected: expected_version,
                actual: stored.version,
            }),
            Some(stored) => {
                state.unindex_job(&stored);
                job.version = expected_version + 1;
                job.created_at = stored.created_at;
                job.next_fire_at = match next_fire {
                    NextFire::Keep => stored.next_fire_at,
                    NextFire::Set(at) => at,
                };
                job.done_at = match job.next_fire_at {
                    Some(_) => None,
                    None => stored.done_at,
                };
                state.index_job(&job);
                state.jobs.insert(job.id, Arc::new(job.clone()));
                state.notify(job.id);
                Ok(job)
            }
        };
        ready(result)
    }

    fn delete_job(&self, id: JobId) -> BoxFuture<'_, Result<bool>> {
        ready(Ok(self.lock().remove_job(id)))
    }

    fn count_jobs(&self) -> BoxFuture<'_, Result<JobCounts>> {
        let state = self.lock();
        let paused = state.jobs.values().filter(|job| job.spec.paused).count() as u64;
        ready(Ok(JobCounts {
            active: state.jobs.len() as u64 - paused,
            paused,
        }))
    }

    fn find_jobs(&self, query: JobQuery) -> BoxFuture<'_, Result<Vec<Job>>> {
        let state = self.lock();
        let mut jobs: Vec<&Arc<Job>> = state
            .jobs
            .values()
            .filter(|job| query.after.is_none_or(|after| job.id > after))
            .filter(|job| query.paused.is_none_or(|paused| job.spec.paused == paused))
            .filter(|job| {
                query
                    .delivery
                    .is_none_or(|delivery| job.spec.delivery == delivery)
            })
            .collect();
        jobs.sort_unstable_by_key(|job| job.id);
        ready(Ok(jobs
            .into_iter()
            .take(query.limit)
            .map(|job| Job::clone(job))
            .collect()))
    }

    fn due_jobs(&self, query: DueJobsQuery) -> BoxFuture<'_, Result<Vec<Job>>> {
        let state = self.lock();
        let due = state
            .due
            .iter()
            .take_while(|&&(at, _)| at <= query.due_before)
            .filter(|&&key| query.after.is_none_or(|after| key > after))
            .take(query.limit)
            .map(|(_, id)| Job::clone(&state.jobs[id]))
            .collect();
        ready(Ok(due))
    }
}

impl ClaimStore for MemoryStore {
    fn claim_due(&self, request: ClaimRequest) -> BoxFuture<'_, Result<ClaimBatch>> {
        let mut state = self.lock();
        let mut batch = ClaimBatch::default();
        while batch.ticks.len() < request.limit {
            let Some(&(at, job_id)) = state.due.first() else {
                break;
            };
            if at > request.due_before {
                break;
            }
            state.due.pop_first();
            let job = Arc::clone(&state.jobs[&job_id]);
            let plan = plan_claim(&job, &request, request.limit - batch.ticks.len());
            batch.misfired += plan.misfired;
            let ended_without_a_tick = plan.ends_without_a_tick();
            state.insert_claimed(&job, plan.ticks, &request, &mut batch);
            let mut advanced = Job::clone(&job);
            advanced.next_fire_at = plan.next_fire_at;
            state.index_job(&advanced);
            state.jobs.insert(job_id, Arc::new(advanced));
            if ended_without_a_tick {
                state.finish_job(job_id, request.now);
            }
        }
        ready(Ok(batch))
    }

    fn insert_job_and_claim(
        &self,
        job: Job,
        request: ClaimRequest,
    ) -> BoxFuture<'_, Result<ClaimBatch>> {
        let mut state = self.lock();
        if state.jobs.contains_key(&job.id) {
            return ready(Err(Error::JobExists(job.id)));
        }
        let plan = plan_new_job_claim(&job, &request);
        let job = Arc::new(Job {
            next_fire_at: plan.next_fire_at,
            ..job
        });
        state.index_job(&job);
        state.jobs.insert(job.id, Arc::clone(&job));
        let mut batch = ClaimBatch {
            misfired: plan.misfired,
            ..ClaimBatch::default()
        };
        state.insert_claimed(&job, plan.ticks, &request, &mut batch);
        ready(Ok(batch))
    }

    fn insert_jobs_and_claim(
        &self,
        jobs: Vec<Job>,
        request: ClaimRequest,
    ) -> BoxFuture<'_, Result<ClaimBatch>> {
        let mut state = self.lock();
        // Every id is checked before anything is stored: the batch is all or nothing.
        let mut ids = HashSet::with_capacity(jobs.len());
        for job in &jobs {
            if state.jobs.contains_key(&job.id) || !ids.insert(job.id) {
                return ready(Err(Error::JobExists(job.id)));
            }
        }
        let mut batch = ClaimBatch::default();
        for job in jobs {
            let plan = plan_new_job_claim(&job, &request);
            let job = Arc::new(Job {
                next_fire_at: plan.next_fire_at,
                ..job
            });
            state.index_job(&job);
            state.jobs.insert(job.id, Arc::clone(&job));
            batch.misfired += plan.misfired;
            state.insert_claimed(&job, plan.ticks, &request, &mut batch);
        }
        ready(Ok(batch))
    }

    fn insert_execution(&self, execution: Execution) -> BoxFuture<'_, Result<()>> {
        let mut state = self.lock();
        let result = if state.jobs.contains_key(&execution.job_id) {
            state.insert_execution(execution)
        } else {
            Err(Error::JobNotFound(execution.job_id))
        };
        ready(result)
    }

    fn record_buffered_claims(&self, claims: BufferedClaims) -> BoxFuture<'_, Result<usize>> {
        let mut state = self.lock();
        let mut inserted = 0;
        for execution in claims.executions {
            if state.jobs.contains_key(&execution.job_id)
                && state.insert_execution(execution).is_ok()
            {
                inserted += 1;
            }
        }
        for watermark in claims.watermarks {
            let Some(stored) = state.jobs.get(&watermark.job_id).cloned() else {
                continue;
            };
            let earlier = match (stored.next_fire_at, watermark.next_fire_at) {
                (Some(stored_at), Some(at)) => stored_at < at,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if stored.version == watermark.version && earlier {
                state.unindex_job(&stored);
                let advanced = Job {
                    next_fire_at: watermark.next_fire_at,
                    ..Job::clone(&stored)
                };
                state.index_job(&advanced);
                state.jobs.insert(advanced.id, Arc::new(advanced));
            }
        }
        ready(Ok(inserted))
    }

    fn record_results(&self, updates: Vec<ExecutionUpdate>) -> BoxFuture<'_, Result<()>> {
        let mut state = self.lock();
        for update in &updates {
            let Some(execution) = state.executions.get_mut(&update.id) else {
                continue;
            };
            execution.apply(update);
            let key = (execution.scheduled_at, execution.id);
            if update.status.is_finished() {
                state.unfinished.remove(&key);
            } else {
                state.unfinished.insert(key);
            }
        }
        for update in &updates {
            if let (Some(job_id), Some(finished_at), true) = (
                update.last_tick_of,
                update.finished_at,
                update.status.is_finished(),
            ) {
                state.finish_job(job_id, finished_at);
            }
        }
        ready(Ok(()))
    }
}

impl HistoryStore for MemoryStore {
    fn get_execution(&self, id: ExecutionId) -> BoxFuture<'_, Result<Option<Execution>>> {
        ready(Ok(self.lock().executions.get(&id).cloned()))
    }

    fn find_executions(&self, query: ExecutionQuery) -> BoxFuture<'_, Result<Vec<Execution>>> {
        let state = self.lock();
        let matches = |id: &ExecutionId| {
            query
                .status
                .is_none_or(|status| state.executions[id].status == status)
        };
        let ids: Vec<ExecutionId> = match query.job_id {
            Some(job_id) => match state.by_job.get(&job_id) {
                None => Vec::new(),
                Some(ticks) => ticks
                    .values()
                    .rev()
                    .filter(|id| matches(id))
                    .take(query.limit)
                    .copied()
                    .collect(),
            },
            None => state
                .by_tick
                .iter()
                .rev()
                .map(|(_, id)| id)
                .filter(|id| matches(id))
                .take(query.limit)
                .copied()
                .collect(),
        };
        ready(Ok(ids
            .iter()
            .map(|id| state.executions[id].clone())
            .collect()))
    }
}

impl RetentionStore for MemoryStore {
    fn prune(&self, policy: RetentionPolicy, now: Timestamp) -> BoxFuture<'_, Result<u64>> {
        let mut state = self.lock();
        let mut doomed: Vec<ExecutionId> = Vec::new();
        if let Some(max_age) = policy.max_age {
            let cutoff = time::sub(now, max_age);
            doomed.extend(
                state
                    .by_tick
                    .iter()
                    .take_while(|(at, _)| *at < cutoff)
                    .map(|(_, id)| *id)
                    .filter(|id| state.executions[id].status.is_finished()),
            );
        }
        if let Some(max_per_job) = policy.max_per_job {
            for ticks in state.by_job.values() {
                doomed.extend(
                    ticks
                        .values()
                        .rev()
                        .filter(|id| state.executions[id].status.is_finished())
                        .skip(max_per_job),
                );
            }
        }
        doomed.sort_unstable();
        doomed.dedup();
        for id in &doomed {
            state.remove_execution(*id);
        }
        ready(Ok(doomed.len() as u64))
    }
}

impl RecoveryStore for MemoryStore {
    fn unfinished_executions(&self, owner: &str) -> BoxFuture<'_, Result<Vec<ClaimedTick>>> {
        let state = self.lock();
        let found = state
            .unfinished
            .iter()
            .map(|(_, id)| &state.executions[id])
            .filter(|execution| execution.claimed_by == owner)
            .map(|execution| ClaimedTick {
                execution: execution.clone(),
                job: Arc::clone(&state.jobs[&execution.job_id]),
            })
            .collect();
        ready(Ok(found))
    }

    fn renew_leases(
        &self,
        owner: &str,
        ids: Vec<ExecutionId>,
        lease_until: Timestamp,
    ) -> BoxFuture<'_, Result<Vec<ExecutionId>>> {
        let mut state = self.lock();
        let held = ids
            .into_iter()
            .filter(|id| match state.executions.get_mut(id) {
                Some(execution)
                    if execution.claimed_by == owner && !execution.status.is_finished() =>
                {
                    execution.lease_expires_at = Some(lease_until);
                    true
                }
                _ => false,
            })
            .collect();
        ready(Ok(held))
    }

    fn take_over(&self, request: TakeOverRequest) -> BoxFuture<'_, Result<Vec<ClaimedTick>>> {
        let mut state = self.lock();
        let stopped: BTreeSet<String> = state
            .heartbeats
            .iter()
            .filter(|(node, at)| **node != request.owner && **at < request.stale_before)
            .map(|(node, _)| node.clone())
            .collect();
        let taken: Vec<ExecutionId> = state
            .unfinished
            .iter()
            .map(|(_, id)| &state.executions[id])
            .filter(|execution| {
                stopped.contains(&execution.claimed_by)
                    && execution
                        .lease_expires_at
                        .is_none_or(|expiry| expiry < request.now)
            })
            .take(request.limit)
            .map(|execution| execution.id)
            .collect();
        let mut ticks = Vec::with_capacity(taken.len());
        for id in taken {
            let Some(execution) = state.executions.get_mut(&id) else {
                continue;
            };
            execution.claimed_by.clone_from(&request.owner);
            execution.lease_expires_at = Some(request.lease_until);
            let execution = execution.clone();
            ticks.push(ClaimedTick {
                job: Arc::clone(&state.jobs[&execution.job_id]),
                execution,
            });
        }
        ready(Ok(ticks))
    }
}

impl MembershipStore for MemoryStore {
    fn heartbeat(&self, node: &str, at: Timestamp) -> BoxFuture<'_, Result<()>> {
        self.lock().heartbeats.insert(node.to_owned(), at);
        ready(Ok(()))
    }

    fn nodes(&self) -> BoxFuture<'_, Result<Vec<NodeHeartbeat>>> {
        let nodes = self
            .lock()
            .heartbeats
            .iter()
            .map(|(node_id, at)| NodeHeartbeat {
                node_id: node_id.clone(),
                last_heartbeat: *at,
            })
            .collect();
        ready(Ok(nodes))
    }

    fn job_changes(&self) -> Option<mpsc::UnboundedReceiver<JobNotice>> {
        if !self.shared {
            return None;
        }
        let (feed, notices) = mpsc::unbounded_channel();
        self.lock().subscribers.push(feed);
        Some(notices)
    }

    fn is_shared(&self) -> bool {
        self.shared
    }
}
