//! A memory store whose writes can be made to fail: all of them, as on a full disk or a
//! read-only remount (reads keep working), or only the heartbeats, as when a node is cut off
//! from a shared database while its other calls still get through (which makes the fence the
//! only guard). Its heartbeats can also be held (a write stuck in the store), and its result
//! writes and heartbeats made to panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::watch;

use scheduler_core::{
    BoxFuture, BufferedClaims, ClaimBatch, ClaimRequest, ClaimStore, ClaimedTick, DueJobsQuery,
    Error, Execution, ExecutionId, ExecutionQuery, ExecutionUpdate, HistoryStore, Job, JobCounts,
    JobId, JobNotice, JobQuery, JobStore, MembershipStore, MemoryStore, NextFire, NodeHeartbeat,
    RecoveryStore, Result, RetentionPolicy, RetentionStore, StoreErrorKind, TakeOverRequest,
    Timestamp,
};

/// See the module documentation. Everything else passes through to the memory store, which
/// also says whether the store is shared.
pub(crate) struct FaultyStore {
    inner: Arc<MemoryStore>,
    writes_fail: AtomicBool,
    heartbeats_fail: AtomicBool,
    /// While `true`, heartbeats wait.
    heartbeats_held: watch::Sender<bool>,
    /// How many of the next `record_results` calls panic.
    results_panics: AtomicUsize,
    heartbeats_panic: AtomicBool,
}

impl FaultyStore {
    pub(crate) fn new(inner: Arc<MemoryStore>) -> FaultyStore {
        FaultyStore {
            inner,
            writes_fail: AtomicBool::new(false),
            heartbeats_fail: AtomicBool::new(false),
            heartbeats_held: watch::Sender::new(false),
            results_panics: AtomicUsize::new(0),
            heartbeats_panic: AtomicBool::new(false),
        }
    }

    /// Makes the heartbeats panic (`true`), or succeed again.
    pub(crate) fn panic_in_heartbeats(&self, panic: bool) {
        self.heartbeats_panic.store(panic, Ordering::SeqCst);
    }

    /// Makes the heartbeats wait (`true`) until released (`false`), as a write stuck in the
    /// store does.
    pub(crate) fn hold_heartbeats(&self, hold: bool) {
        self.heartbeats_held.send_replace(hold);
    }

    /// Makes the next `count` calls of `record_results` panic: alternately as the call is
    /// made and when its future is polled, the last one when polled.
    pub(crate) fn panic_in_results(&self, count: usize) {
        self.results_panics.store(count, Ordering::SeqCst);
    }

    /// Makes every write fail (`true`), heartbeats included, or succeed again.
    pub(crate) fn fail_writes(&self, fail: bool) {
        self.writes_fail.store(fail, Ordering::SeqCst);
    }

    /// Makes only the heartbeats fail (`true`), or succeed again.
    pub(crate) fn fail_heartbeats(&self, fail: bool) {
        self.heartbeats_fail.store(fail, Ordering::SeqCst);
    }

    /// `write`, unless writes fail.
    fn write<'a, T: Send + 'a>(
        &'a self,
        write: impl FnOnce() -> BoxFuture<'a, Result<T>> + Send + 'a,
    ) -> BoxFuture<'a, Result<T>> {
        if self.writes_fail.load(Ordering::SeqCst) {
            return Box::pin(std::future::ready(Err(Error::Store {
                kind: StoreErrorKind::Unavailable,
                message: "database or disk is full (a test failure)".to_owned(),
                source: None,
            })));
        }
        write()
    }
}

impl JobStore for FaultyStore {
    fn insert_job(&self, job: Job) -> BoxFuture<'_, Result<()>> {
        self.write(|| self.inner.insert_job(job))
    }

    fn get_job(&self, id: JobId) -> BoxFuture<'_, Result<Option<Job>>> {
        self.inner.get_job(id)
    }

    fn update_job(
        &self,
        job: Job,
        expected_version: u64,
        next_fire: NextFire,
    ) -> BoxFuture<'_, Result<Job>> {
        self.write(move || self.inner.update_job(job, expected_version, next_fire))
    }

    fn delete_job(&self, id: JobId) -> BoxFuture<'_, Result<bool>> {
        self.write(move || self.inner.delete_job(id))
    }

    fn find_jobs(&self, query: JobQuery) -> BoxFuture<'_, Result<Vec<Job>>> {
        self.inner.find_jobs(query)
    }

    fn count_jobs(&self) -> BoxFuture<'_, Result<JobCounts>> {
        self.inner.count_jobs()
    }

    fn due_jobs(&self, query: DueJobsQuery) -> BoxFuture<'_, Result<Vec<Job>>> {
        self.inner.due_jobs(query)
    }
}

impl ClaimStore for FaultyStore {
    fn claim_due(&self, request: ClaimRequest) -> BoxFuture<'_, Result<ClaimBatch>> {
        self.write(|| self.inner.claim_due(request))
    }

    fn insert_job_and_claim(
        &self,
        job: Job,
        request: ClaimRequest,
    ) -> BoxFuture<'_, Result<ClaimBatch>> {
        self.write(|| self.inner.insert_job_and_claim(job, request))
    }

    fn insert_execution(&self, execution: Execution) -> BoxFuture<'_, Result<()>> {
        self.write(|| self.inner.insert_execution(execution))
    }

    fn record_results(&self, updates: Vec<ExecutionUpdate>) -> BoxFuture<'_, Result<()>> {
        let left = self
            .results_panics
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .unwrap_or(0);
        match left {
            0 => self.write(|| self.inner.record_results(updates)),
            left if left % 2 == 0 => panic!("a test panic as results are written"),
            _ => Box::pin(async {
                tokio::task::yield_now().await;
                panic!("a test panic while results are written")
            }),
        }
    }

    fn record_buffered_claims(&self, claims: BufferedClaims) -> BoxFuture<'_, Result<usize>> {
        self.write(|| self.inner.record_buffered_claims(claims))
    }
}

impl HistoryStore for FaultyStore {
    fn get_execution(&self, id: ExecutionId) -> BoxFuture<'_, Result<Option<Execution>>> {
        self.inner.get_execution(id)
    }

    fn find_executions(&self, query: ExecutionQuery) -> BoxFuture<'_, Result<Vec<Execution>>> {
        self.inner.find_executions(query)
    }
}

impl RetentionStore for FaultyStore {
    fn prune(&self, policy: RetentionPolicy, now: Timestamp) -> BoxFuture<'_, Result<u64>> {
        self.write(move || self.inner.prune(policy, now))
    }
}

impl RecoveryStore for FaultyStore {
    fn unfinished_executions(&self, owner: &str) -> BoxFuture<'_, Result<Vec<ClaimedTick>>> {
        self.inner.unfinished_executions(owner)
    }

    fn renew_leases(
        &self,
        owner: &str,
        ids: Vec<ExecutionId>,
        lease_until: Timestamp,
    ) -> BoxFuture<'_, Result<Vec<ExecutionId>>> {
        let owner = owner.to_owned();
        self.write(move || self.inner.renew_leases(&owner, ids, lease_until))
    }

    fn take_over(&self, request: TakeOverRequest) -> BoxFuture<'_, Result<Vec<ClaimedTick>>> {
        self.write(|| self.inner.take_over(request))
    }
}

impl MembershipStore for FaultyStore {
    fn heartbeat(&self, node: &str, at: Timestamp) -> BoxFuture<'_, Result<()>> {
        if self.heartbeats_panic.load(Ordering::SeqCst) {
            panic!("a test panic as a heartbeat is written");
        }
        if self.heartbeats_fail.load(Ordering::SeqCst) {
            return Box::pin(std::future::ready(Err(Error::store(
                StoreErrorKind::Unavailable,
                "recording a heartbeat",
                "the database cannot be reached (test)",
            ))));
        }
        let node = node.to_owned();
        let mut held = self.heartbeats_held.subscribe();
        self.write(move || {
            Box::pin(async move {
                // Only an error when the store is dropped, which ends the wait as well.
                let _ = held.wait_for(|held| !held).await;
                self.inner.heartbeat(&node, at).await
            })
        })
    }

    fn nodes(&self) -> BoxFuture<'_, Result<Vec<NodeHeartbeat>>> {
        self.inner.nodes()
    }

    fn job_changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<JobNotice>> {
        self.inner.job_changes()
    }

    fn is_shared(&self) -> bool {
        self.inner.is_shared()
    }
}
