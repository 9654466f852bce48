//! The backlog bound (claims stop when the engine holds `max_backlog` executions), its
//! bookkeeping on every path an execution leaves the engine, and the coalescing writer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use scheduler_core::testing::{FakeReply, ManualClock};
use scheduler_core::{
    AttemptError, AttemptOutcome, AttemptRequest, BoxFuture, BufferedClaims, ClaimBatch,
    ClaimRequest, ClaimStore, ClaimedTick, DeliveryType, Engine, EngineConfig, Error, Execution,
    ExecutionId, ExecutionQuery, ExecutionStatus, ExecutionUpdate, HistoryStore, Job, JobCounts,
    JobId, JobQuery, JobStore, MembershipStore, MemoryStore, NextFire, NodeHeartbeat,
    RecoveryStore, Result, RetentionPolicy, RetentionStore, StoreErrorKind, TakeOverRequest,
    Timestamp, Transport,
};
use tokio::sync::{Semaphore, watch};

use crate::support::{Harness, at, at_millis, config, eventually, spec, t0, within};

const OK: &str = "http://target.test/ok";
const SLOW: &str = "http://target.test/slow";

fn bounded(max_backlog: usize, claim_batch_size: usize) -> EngineConfig {
    EngineConfig {
        max_backlog,
        claim_batch_size,
        ..config()
    }
}

fn count_status(harness: &Harness, status: ExecutionStatus) -> usize {
    harness
        .store
        .all_executions()
        .iter()
        .filter(|e| e.status == status)
        .count()
}

fn status_of(harness: &Harness, job: &Job) -> Vec<ExecutionStatus> {
    harness
        .executions_of(job)
        .iter()
        .map(|e| e.status)
        .collect()
}

/// Waits until the store shows each job's executions in these states.
async fn stored_states(harness: &Harness, expected: &[(&Job, &[ExecutionStatus])]) {
    eventually("results stored", || {
        expected
            .iter()
            .all(|(job, states)| status_of(harness, job) == *states)
    })
    .await;
}

#[tokio::test]
async fn claims_stop_at_the_limit_and_resume_as_executions_finish() {
    let harness = Harness::start_with(bounded(10, 4), Arc::new(MemoryStore::new())).await;
    harness
        .transport
        .script(SLOW, vec![FakeReply::Delayed(200, Duration::from_secs(5))]);
    let mut jobs = Vec::new();
    for _ in 0..30 {
        jobs.push(
            harness
                .create(spec("0 * * * * *", SLOW, DeliveryType::AtLeastOnce))
                .await,
        );
    }
    // One pass at 58.5 s: batches of 4, 4, then 2 (the room left), then no room.
    harness.clock.advance_to(at_millis(58_500));
    harness
        .metrics_until("ten claimed, the rest deferred", |m| {
            m.claimed == 10 && m.claims_deferred == 1
        })
        .await;
    let metrics = harness.engine.metrics();
    assert_eq!(metrics.backlog, 10);
    assert_eq!(harness.store.execution_count(), 10);
    assert_eq!(count_status(&harness, ExecutionStatus::Pending), 10);

    // The ten fire on time and stay in flight; the pass at 60 s finds no room.
    harness.advance_to_and_expect_sent(at(60), 10).await;
    harness
        .metrics_until("the pass at 60 s is deferred", |m| m.claims_deferred == 2)
        .await;
    let metrics = harness.engine.metrics();
    assert_eq!(
        (metrics.claimed, metrics.in_flight, metrics.backlog),
        (10, 10, 10)
    );
    assert_eq!(harness.store.execution_count(), 10);

    // Each wave finishes 5 s after it was sent; the pass that runs once its results are
    // written (at that instant, or a second later) claims the next wave.
    for (finished, next_pass, claimed) in [(65, 66, 20), (71, 72, 30)] {
        harness.clock.advance_to(at(finished));
        harness
            .metrics_until("a wave written and released", |m| {
                m.succeeded == claimed - 10 && (m.backlog == 0 || m.claimed == claimed)
            })
            .await;
        harness.clock.advance_to(at(next_pass));
        harness
            .metrics_until("the next wave claimed and sent", |m| {
                m.claimed == claimed && m.fired == claimed
            })
            .await;
        let metrics = harness.engine.metrics();
        assert_eq!(metrics.backlog, 10);
        assert_eq!(harness.store.execution_count() as u64, claimed);
    }
    harness.clock.advance_to(at(77));
    harness
        .metrics_until("all written, nothing held", |m| {
            m.succeeded == 30 && m.backlog == 0
        })
        .await;
    // Every job fired its 60 s tick once: the late ones late, none lost.
    for job in &jobs {
        let sent = harness.sent_for(job);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].scheduled_at, at(60));
    }
    let drift = harness.engine.metrics().drift;
    assert_eq!(drift.count, 30);
    assert!(drift.max >= Duration::from_secs(11), "{drift:?}");
    harness.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn after_a_deferred_pass_the_next_claim_comes_a_tenth_of_the_interval_later() {
    // Claim interval 1 s: a deferred pass is retried after 100 ms, not after 1 s.
    let harness = Harness::start_with(bounded(4, 4), Arc::new(MemoryStore::new())).await;
    harness.transport.script(
        SLOW,
        vec![FakeReply::Delayed(200, Duration::from_millis(500))],
    );
    for _ in 0..8 {
        harness
            .create(spec("0 * * * * *", SLOW, DeliveryType::AtLeastOnce))
            .await;
    }
    harness.clock.advance_to(at_millis(58_500));
    harness
        .metrics_until("four claimed, the pass deferred", |m| {
            m.claimed == 4 && m.claims_deferred == 1
        })
        .await;
    // The four fire at 60 s and answer at 60.5 s; until then every pass finds no room.
    harness.advance_to_and_expect_sent(at(60), 4).await;
    harness
        .metrics_until("a pass at 60 s deferred", |m| m.claims_deferred >= 2)
        .await;
    harness.clock.advance_to(at_millis(60_500));
    harness
        .metrics_until("the first four written and released", |m| {
            m.succeeded == 4 && (m.backlog == 0 || m.claimed == 8)
        })
        .await;
    // Within 100 ms of the room freeing up, not at the next whole-second pass (61 s).
    harness
        .advance_to_and_expect_sent(at_millis(60_600), 8)
        .await;
    let late: Vec<_> = harness
        .transport
        .sent()
        .iter()
        .skip(4)
        .map(|attempt| attempt.sent_at)
        .collect();
    assert!(
        late.iter().all(|&sent| sent <= at_millis(60_600)),
        "{late:?}"
    );
    harness.engine.shutdown(Duration::ZERO).await;
}

/// A memory store whose `record_results` waits for the test to let it through, one call at a
/// time or for good, and which keeps every call's updates (and can be told to fail them).
struct GatedStore {
    inner: Arc<MemoryStore>,
    gate: Semaphore,
    /// The failure of the calls let through, if they fail.
    failing: Mutex<Option<StoreErrorKind>>,
    calls: Mutex<Vec<Vec<ExecutionUpdate>>>,
    started: watch::Sender<usize>,
    claims: Hold,
    /// Where a claim that took ticks waits after the store has written it, before it returns.
    claimed: Hold,
    inserts: Hold,
}

/// A point where calls of one kind can be made to wait, counting the calls that reach it.
#[derive(Default)]
struct Hold {
    /// While `true`, calls wait at [`Hold::pass`].
    held: watch::Sender<bool>,
    started: watch::Sender<usize>,
}

impl Hold {
    /// Makes calls wait (`true`) until called with `false`.
    fn hold(&self, held: bool) {
        self.held.send_replace(held);
    }

    /// How many calls have reached the hold.
    fn started(&self) -> usize {
        *self.started.borrow()
    }

    /// Completes once at least `n` calls have reached the hold.
    async fn wait_for(&self, n: usize) {
        let mut started = self.started.subscribe();
        let _ = started.wait_for(|&calls| calls >= n).await;
    }

    /// Counts a call, then waits while calls are held.
    async fn pass(&self) {
        self.started.send_modify(|calls| *calls += 1);
        let mut held = self.held.subscribe();
        let _ = held.wait_for(|&held| !held).await;
    }
}

impl GatedStore {
    fn new(inner: Arc<MemoryStore>) -> GatedStore {
        GatedStore {
            inner,
            gate: Semaphore::new(0),
            failing: Mutex::new(None),
            calls: Mutex::default(),
            started: watch::Sender::new(0),
            claims: Hold::default(),
            claimed: Hold::default(),
            inserts: Hold::default(),
        }
    }

    /// Lets `n` more calls through.
    fn allow(&self, n: usize) {
        self.gate.add_permits(n);
    }

    /// Lets every call through from now on.
    fn open(&self) {
        self.gate.close();
    }

    /// Makes the calls let through fail with this kind of error (`Some`) or succeed.
    fn fail_writes(&self, failing: Option<StoreErrorKind>) {
        *self
            .failing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = failing;
    }

    /// The updates of every call so far, blocked ones included.
    fn calls(&self) -> Vec<Vec<ExecutionUpdate>> {
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Completes once at least `n` calls have started.
    async fn wait_for_calls(&self, n: usize) {
        let mut started = self.started.subscribe();
        let _ = started.wait_for(|&calls| calls >= n).await;
    }
}

impl JobStore for GatedStore {
    fn insert_job(&self, job: Job) -> BoxFuture<'_, Result<()>> {
        self.inner.insert_job(job)
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
        self.inner.update_job(job, expected_version, next_fire)
    }

    fn delete_job(&self, id: JobId) -> BoxFuture<'_, Result<bool>> {
        self.inner.delete_job(id)
    }

    fn find_jobs(&self, query: JobQuery) -> BoxFuture<'_, Result<Vec<Job>>> {
        self.inner.find_jobs(query)
    }

    fn count_jobs(&self) -> BoxFuture<'_, Result<JobCounts>> {
        self.inner.count_jobs()
    }
}

impl ClaimStore for GatedStore {
    fn claim_due(&self, request: ClaimRequest) -> BoxFuture<'_, Result<ClaimBatch>> {
        Box::pin(async move {
            self.claims.pass().await;
            let batch = self.inner.claim_due(request).await?;
            if !batch.ticks.is_empty() {
                self.claimed.pass().await;
            }
            Ok(batch)
        })
    }

    fn insert_job_and_claim(
        &self,
        job: Job,
        request: ClaimRequest,
    ) -> BoxFuture<'_, Result<ClaimBatch>> {
        Box::pin(async move {
            self.inserts.pass().await;
            self.inner.insert_job_and_claim(job, request).await
        })
    }

    fn insert_execution(&self, execution: Execution) -> BoxFuture<'_, Result<()>> {
        self.inner.insert_execution(execution)
    }

    fn record_results(&self, updates: Vec<ExecutionUpdate>) -> BoxFuture<'_, Result<()>> {
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(updates.clone());
        self.started.send_modify(|calls| *calls += 1);
        Box::pin(async move {
            // A closed gate is open for good.
            if let Ok(permit) = self.gate.acquire().await {
                permit.forget();
            }
            let failing = *self
                .failing
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(kind) = failing {
                return Err(Error::Store {
                    kind,
                    message: "recording results: disk full (a test failure)".to_owned(),
                    source: None,
                });
            }
            self.inner.record_results(updates).await
        })
    }

    fn record_buffered_claims(&self, claims: BufferedClaims) -> BoxFuture<'_, Result<usize>> {
        self.inner.record_buffered_claims(claims)
    }
}

impl HistoryStore for GatedStore {
    fn get_execution(&self, id: ExecutionId) -> BoxFuture<'_, Result<Option<Execution>>> {
        self.inner.get_execution(id)
    }

    fn find_executions(&self, query: ExecutionQuery) -> BoxFuture<'_, Result<Vec<Execution>>> {
        self.inner.find_executions(query)
    }
}

impl RetentionStore for GatedStore {
    fn prune(&self, policy: RetentionPolicy, now: Timestamp) -> BoxFuture<'_, Result<u64>> {
        self.inner.prune(policy, now)
    }
}

impl RecoveryStore for GatedStore {
    fn unfinished_executions(&self, owner: &str) -> BoxFuture<'_, Result<Vec<ClaimedTick>>> {
        self.inner.unfinished_executions(owner)
    }

    fn renew_leases(
        &self,
        owner: &str,
        ids: Vec<ExecutionId>,
        lease_until: Timestamp,
    ) -> BoxFuture<'_, Result<Vec<ExecutionId>>> {
        self.inner.renew_leases(owner, ids, lease_until)
    }

    fn take_over(&self, request: TakeOverRequest) -> BoxFuture<'_, Result<Vec<ClaimedTick>>> {
        self.inner.take_over(request)
    }
}

impl MembershipStore for GatedStore {
    fn heartbeat(&self, node: &str, at: Timestamp) -> BoxFuture<'_, Result<()>> {
        self.inner.heartbeat(node, at)
    }

    fn nodes(&self) -> BoxFuture<'_, Result<Vec<NodeHeartbeat>>> {
        self.inner.nodes()
    }
}

async fn gated_harness(config: EngineConfig) -> (Harness, Arc<GatedStore>) {
    let memory = Arc::new(MemoryStore::new());
    let gated = Arc::new(GatedStore::new(memory.clone()));
    let harness = Harness::start_on(config, memory, gated.clone()).await;
    (harness, gated)
}

#[tokio::test]
async fn a_store_that_falls_behind_stops_the_claims_at_the_limit() {
    let (harness, gated) = gated_harness(bounded(10, 4)).await;
    for _ in 0..30 {
        harness
            .create(spec("* * * * * *", OK, DeliveryType::AtLeastOnce))
            .await;
    }
    // Each creation claims its job's ticks at 1 s and 2 s while there is room: five jobs. The
    // other jobs are stored with nothing claimed, for the claim passes to take when there is
    // room again.
    let metrics = harness.engine.metrics();
    assert_eq!((metrics.claimed, metrics.backlog), (10, 10));
    assert_eq!(harness.store.execution_count(), 10);

    // The first result write never returns: nothing leaves the engine, so nothing more is
    // claimed, however many seconds pass, and the store holds only the ten executions.
    harness.advance_to_and_expect_sent(at(1), 5).await;
    within("the first write starts", gated.wait_for_calls(1)).await;
    harness.advance_to_and_expect_sent(at(2), 10).await;
    for second in 3..=8 {
        let deferred = harness.engine.metrics().claims_deferred;
        harness.clock.advance_to(at(second));
        harness
            .metrics_until("another deferred pass", |m| m.claims_deferred > deferred)
            .await;
    }
    let metrics = harness.engine.metrics();
    assert_eq!((metrics.claimed, metrics.backlog), (10, 10));
    assert_eq!((metrics.fired, metrics.succeeded), (10, 10));
    assert_eq!(harness.transport.sent_count(), 10);
    assert_eq!(harness.store.execution_count(), 10);
    assert_eq!(gated.calls().len(), 1, "the writer waits on its first call");

    // Let the writes through: the twenty states queued meanwhile take one row each.
    gated.open();
    harness
        .metrics_until("everything written and released", |m| m.backlog == 0)
        .await;
    let calls = gated.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let mut ids: Vec<ExecutionId> = calls[1].iter().map(|update| update.id).collect();
    assert!(
        calls[1]
            .iter()
            .all(|update| update.status == ExecutionStatus::Succeeded)
    );
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10);
    assert_eq!(calls[1].len(), 10);

    // Claiming resumes with the oldest ticks, which fire late, ten at a time at most.
    harness.clock.advance_to(at(9));
    harness
        .metrics_until("the next ten claimed", |m| m.claimed >= 20)
        .await;
    assert!(harness.engine.metrics().backlog <= 10);
    harness.engine.shutdown(Duration::ZERO).await;
    assert_eq!(harness.engine.metrics().backlog, 0);
    let late = harness
        .transport
        .sent()
        .iter()
        .filter(|sent| sent.sent_at > sent.scheduled_at)
        .count();
    assert!(late > 0, "the ticks claimed after the stall fire late");
}

/// A gated harness that lets every write through, whose writer lingers 100 ms.
async fn lingering_harness(result_batch_size: usize) -> (Harness, Arc<GatedStore>) {
    let config = EngineConfig {
        result_linger: Duration::from_millis(100),
        result_batch_size,
        ..config()
    };
    let (harness, gated) = gated_harness(config).await;
    gated.open();
    (harness, gated)
}

#[tokio::test]
async fn results_linger_so_that_an_execution_answered_within_the_wait_costs_one_row() {
    let (harness, gated) = lingering_harness(100).await;
    let mut jobs = Vec::new();
    for _ in 0..3 {
        jobs.push(
            harness
                .create(spec("1 * * * * *", OK, DeliveryType::AtLeastOnce))
                .await,
        );
    }
    harness.advance_to_and_expect_sent(at(1), 3).await;
    harness
        .metrics_until("all answered", |m| m.succeeded == 3)
        .await;
    // The clock has not moved: every state waits in the writer.
    assert_eq!(gated.calls(), Vec::<Vec<ExecutionUpdate>>::new());
    assert_eq!(count_status(&harness, ExecutionStatus::Pending), 3);

    harness.clock.advance_to(at_millis(1_100));
    within("the lingering write", gated.wait_for_calls(1)).await;
    let succeeded = [ExecutionStatus::Succeeded];
    let expected: Vec<(&Job, &[ExecutionStatus])> =
        jobs.iter().map(|job| (job, &succeeded[..])).collect();
    stored_states(&harness, &expected).await;
    harness
        .metrics_until("nothing held", |m| m.backlog == 0)
        .await;
    // One call, one row per execution: its final state.
    let calls = gated.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].len(), 3);
    assert!(
        calls[0]
            .iter()
            .all(|update| update.status == ExecutionStatus::Succeeded)
    );
}

#[tokio::test]
async fn a_full_batch_or_an_at_most_once_start_is_written_without_lingering() {
    let (harness, gated) = lingering_harness(2).await;
    let at_most_once = harness
        .create(spec("1 * * * * *", OK, DeliveryType::AtMostOnce))
        .await;
    // The attempt is sent only once its start is stored, and the clock stays at the tick.
    harness.advance_to_and_expect_sent(at(1), 1).await;
    assert_eq!(gated.calls()[0][0].status, ExecutionStatus::Running);
    harness
        .metrics_until("answered", |m| m.succeeded == 1)
        .await;
    harness.clock.advance_to(at_millis(1_100));
    stored_states(
        &harness,
        &[(&at_most_once, &[ExecutionStatus::Succeeded][..])],
    )
    .await;
    let calls_before = gated.calls().len();

    // Three at-least-once attempts at 2 s that are never answered: a batch is full at two
    // states and goes at once; the third state waits for the linger.
    let hung = "http://target.test/hung";
    harness.transport.script(hung, vec![FakeReply::Hang]);
    for _ in 0..3 {
        harness
            .create(spec("2 * * * * *", hung, DeliveryType::AtLeastOnce))
            .await;
    }
    harness.advance_to_and_expect_sent(at(2), 4).await;
    within("a full batch", gated.wait_for_calls(calls_before + 1)).await;
    harness
        .metrics_until("three in flight", |m| m.in_flight == 3)
        .await;
    let calls = gated.calls();
    assert_eq!(calls.len(), calls_before + 1, "{calls:?}");
    assert_eq!(calls[calls_before].len(), 2);
    harness.clock.advance_to(at_millis(2_100));
    within(
        "the lingering write",
        gated.wait_for_calls(calls_before + 2),
    )
    .await;
    eventually("every start stored", || {
        count_status(&harness, ExecutionStatus::Running) == 3
    })
    .await;
    assert_eq!(gated.calls()[calls_before + 1].len(), 1);
}

#[tokio::test]
async fn states_queued_during_a_write_cost_one_row_per_execution() {
    // Batches of two updates: without coalescing, the seven states queued below would take
    // four more calls, and the three executions at 2 s would be written twice each.
    let config = EngineConfig {
        result_batch_size: 2,
        ..config()
    };
    let (harness, gated) = gated_harness(config).await;
    let blocker = harness
        .create(spec("1 * * * * *", OK, DeliveryType::AtLeastOnce))
        .await;
    let mut jobs = Vec::new();
    for _ in 0..3 {
        jobs.push(
            harness
                .create(spec("2 * * * * *", OK, DeliveryType::AtLeastOnce))
                .await,
        );
    }
    // The blocker's start is being written (blocked) while the three others start and succeed.
    harness.advance_to_and_expect_sent(at(1), 1).await;
    within("the first write starts", gated.wait_for_calls(1)).await;
    harness.advance_to_and_expect_sent(at(2), 4).await;
    harness
        .metrics_until("all succeeded", |m| m.succeeded == 4)
        .await;
    gated.open();
    let succeeded = [ExecutionStatus::Succeeded];
    let expected: Vec<(&Job, &[ExecutionStatus])> = std::iter::once(&blocker)
        .chain(&jobs)
        .map(|job| (job, &succeeded[..]))
        .collect();
    stored_states(&harness, &expected).await;
    harness
        .metrics_until("nothing held", |m| m.backlog == 0)
        .await;

    let calls = gated.calls();
    let execution = |job: &Job| harness.executions_of(job)[0].id;
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(
        (calls[0].len(), calls[0][0].id, calls[0][0].status),
        (1, execution(&blocker), ExecutionStatus::Running)
    );
    // Then the newest state of each execution, once, oldest execution first.
    let written: Vec<(ExecutionId, ExecutionStatus)> = calls[1..]
        .iter()
        .flatten()
        .map(|update| (update.id, update.status))
        .collect();
    let expected: Vec<(ExecutionId, ExecutionStatus)> = std::iter::once(&blocker)
        .chain(&jobs)
        .map(|job| (execution(job), ExecutionStatus::Succeeded))
        .collect();
    assert_eq!(written[0], expected[0]);
    let mut written = written;
    let mut expected = expected;
    written.sort_by_key(|(id, _)| *id);
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(written, expected);
}

#[tokio::test]
async fn an_at_most_once_attempt_waits_for_the_write_of_its_own_start() {
    let (harness, gated) = gated_harness(config()).await;
    let at_least_once = harness
        .create(spec("1 * * * * *", OK, DeliveryType::AtLeastOnce))
        .await;
    let at_most_once = harness
        .create(spec("2 * * * * *", OK, DeliveryType::AtMostOnce))
        .await;
    harness.advance_to_and_expect_sent(at(1), 1).await;
    within("the first write starts", gated.wait_for_calls(1)).await;
    // The at-most-once start is queued behind the blocked write.
    harness.clock.advance_to(at(2));
    harness
        .metrics_until("both started", |m| m.fired == 2)
        .await;
    // The first write returns; the second, with the at-most-once start, blocks.
    gated.allow(1);
    within("the second write starts", gated.wait_for_calls(2)).await;
    let at_most_once_execution = harness
        .store
        .all_executions()
        .into_iter()
        .find(|e| e.job_id == at_most_once.id)
        .expect("claimed")
        .id;
    assert!(
        gated.calls()[1]
            .iter()
            .any(|update| update.id == at_most_once_execution
                && update.status == ExecutionStatus::Running)
    );
    // A manual trigger makes a round trip through the control task, the dispatcher and an
    // attempt task: an attempt released by the first write's return would have gone out first.
    harness
        .engine
        .trigger_now(at_least_once.id)
        .await
        .expect("trigger");
    within("the trigger is sent", harness.transport.wait_for_sent(2)).await;
    assert!(
        harness.sent_for(&at_most_once).is_empty(),
        "sent before its start was stored"
    );
    gated.open();
    within(
        "the at-most-once attempt is sent",
        harness.transport.wait_for_sent(3),
    )
    .await;
    stored_states(&harness, &[(&at_most_once, &[ExecutionStatus::Succeeded])]).await;
    harness
        .metrics_until("nothing held", |m| m.backlog == 0)
        .await;
}

#[tokio::test]
async fn a_failed_write_is_tried_again_with_a_growing_backoff_until_the_store_takes_it() {
    let (harness, gated) = gated_harness(bounded(2, 2)).await;
    gated.open();
    gated.fail_writes(Some(StoreErrorKind::Corrupt));
    let job = harness
        .create(spec("0 * * * * *", OK, DeliveryType::AtLeastOnce))
        .await;
    harness.advance_to_and_expect_sent(at(60), 1).await;
    harness
        .metrics_until("the result failed to be written", |m| {
            m.succeeded == 1 && m.store_errors >= 1 && m.results_unwritten == 1
        })
        .await;
    let failure = harness.engine.store_status();
    assert!(
        failure
            .results
            .as_ref()
            .is_some_and(|failure| failure.cause.contains("disk full")),
        "{failure:?}"
    );
    // Tried again after 50 ms, 100 ms, 200 ms...: at most one call per backoff.
    let calls_before = gated.calls().len();
    for _ in 0..4 {
        harness.clock.advance(Duration::from_millis(400));
        let calls = gated.calls().len();
        eventually("another try", || gated.calls().len() > calls).await;
    }
    let tries = gated.calls().len() - calls_before;
    assert!((4..=8).contains(&tries), "{tries} tries in 1.6 s");
    // Still held: the execution is not released before its result is written.
    assert_eq!(harness.engine.metrics().backlog, 1);
    assert_eq!(count_status(&harness, ExecutionStatus::Pending), 1);

    gated.fail_writes(None);
    harness.clock.advance(Duration::from_secs(5));
    stored_states(&harness, &[(&job, &[ExecutionStatus::Succeeded])]).await;
    harness
        .metrics_until("released once written", |m| {
            m.backlog == 0 && m.results_unwritten == 0
        })
        .await;
    assert_eq!(harness.engine.store_status().failure(), None);
    // The queued state was merged with the newer one: the last call wrote the final state.
    let calls = gated.calls();
    let last = calls.last().expect("calls");
    assert_eq!(
        last.iter().map(|u| u.status).collect::<Vec<_>>(),
        [ExecutionStatus::Succeeded]
    );
}

#[tokio::test]
async fn while_writes_fail_an_at_most_once_attempt_is_not_sent_and_both_results_land_later() {
    let (harness, gated) = gated_harness(bounded(2, 2)).await;
    gated.open();
    gated.fail_writes(Some(StoreErrorKind::Unavailable));
    let at_least_once = harness
        .create(spec("0 * * * * *", OK, DeliveryType::AtLeastOnce))
        .await;
    let at_most_once = harness
        .create(spec("0 * * * * *", OK, DeliveryType::AtMostOnce))
        .await;
    // The at-least-once attempt goes out; the at-most-once one does not, because its start
    // could not be stored.
    harness.advance_to_and_expect_sent(at(60), 1).await;
    harness
        .metrics_until("both finished, neither written", |m| {
            m.succeeded == 1 && m.failed == 1 && m.results_unwritten == 2
        })
        .await;
    assert!(harness.sent_for(&at_most_once).is_empty());
    assert_eq!(count_status(&harness, ExecutionStatus::Pending), 2);

    // The store recovers: both results land at the writer's next try, and the next ticks are
    // claimed and recorded.
    gated.fail_writes(None);
    harness.clock.advance_to(at(66));
    harness
        .metrics_until("both results written", |m| m.backlog == 0)
        .await;
    harness.advance_to_and_expect_sent(at(120), 3).await;
    stored_states(
        &harness,
        &[
            (
                &at_least_once,
                &[ExecutionStatus::Succeeded, ExecutionStatus::Succeeded],
            ),
            (
                &at_most_once,
                &[ExecutionStatus::Failed, ExecutionStatus::Succeeded],
            ),
        ],
    )
    .await;
    let not_sent = &harness.executions_of(&at_most_once)[0];
    assert!(
        not_sent
            .error
            .as_deref()
            .is_some_and(|error| error.contains("not sent")),
        "{not_sent:?}"
    );
    harness
        .metrics_until("nothing held", |m| m.backlog == 0)
        .await;
}

#[tokio::test]
async fn every_way_out_of_the_engine_releases_its_execution_once() {
    // Room for exactly the seven ticks: a single leaked execution would show in the exact
    // counts below, and a leak of the whole room would stop the last claim.
    let harness = Harness::start_with(bounded(7, 100), Arc::new(MemoryStore::new())).await;
    let daily = "0 1 0 * * *";
    let flaky = "http://target.test/flaky";
    let missing = "http://target.test/missing";
    harness
        .transport
        .script(SLOW, vec![FakeReply::Delayed(200, Duration::from_secs(5))]);
    harness
        .transport
        .script(flaky, vec![FakeReply::Status(503)]);
    harness
        .transport
        .script(missing, vec![FakeReply::Status(404)]);
    let ok = harness
        .create(spec(daily, OK, DeliveryType::AtLeastOnce))
        .await;
    let at_most_once = harness
        .create(spec(daily, OK, DeliveryType::AtMostOnce))
        .await;
    let failing = harness
        .create(spec(daily, missing, DeliveryType::AtLeastOnce))
        .await;
    let paused = harness
        .create(spec(daily, OK, DeliveryType::AtLeastOnce))
        .await;
    let deleted_waiting = harness
        .create(spec(daily, OK, DeliveryType::AtLeastOnce))
        .await;
    let deleted_in_flight = harness
        .create(spec(daily, SLOW, DeliveryType::AtLeastOnce))
        .await;
    let deleted_retrying = harness
        .create(spec(daily, flaky, DeliveryType::AtLeastOnce))
        .await;

    harness.clock.advance_to(at_millis(58_500));
    harness
        .metrics_until("all seven claimed", |m| m.claimed == 7)
        .await;
    assert_eq!(harness.engine.metrics().backlog, 7);
    harness.engine.pause_job(paused.id).await.expect("pause");
    assert!(
        harness
            .engine
            .delete_job(deleted_waiting.id)
            .await
            .expect("delete")
    );

    // At 60 s: two successes, a final failure, a skip (paused) and a drop (deleted) leave;
    // one attempt stays in flight and one waits for its retry.
    harness.advance_to_and_expect_sent(at(60), 5).await;
    harness
        .metrics_until("the outcomes at 60 s", |m| {
            (m.succeeded, m.failed, m.skipped, m.retried) == (2, 1, 1, 1)
        })
        .await;
    stored_states(
        &harness,
        &[
            (&ok, &[ExecutionStatus::Succeeded]),
            (&at_most_once, &[ExecutionStatus::Succeeded]),
            (&failing, &[ExecutionStatus::Failed]),
            (&paused, &[ExecutionStatus::Skipped]),
        ],
    )
    .await;
    assert_eq!(harness.engine.metrics().backlog, 2);

    // A manual trigger counts while it runs, then leaves (60 s is taken by the job's tick, so
    // the trigger fires at the next free millisecond).
    harness.engine.trigger_now(ok.id).await.expect("trigger");
    harness
        .advance_to_and_expect_sent(at_millis(60_001), 6)
        .await;
    stored_states(
        &harness,
        &[(
            &ok,
            &[ExecutionStatus::Succeeded, ExecutionStatus::Succeeded],
        )],
    )
    .await;
    assert_eq!(harness.engine.metrics().backlog, 2);

    // Deleted while waiting for a retry: dropped when the retry comes due. Deleted while in
    // flight: dropped when the attempt ends.
    for job in [&deleted_in_flight, &deleted_retrying] {
        assert!(harness.engine.delete_job(job.id).await.expect("delete"));
    }
    harness.clock.advance_to(at(61));
    harness
        .metrics_until("the retry dropped", |m| m.backlog == 1)
        .await;
    harness.clock.advance_to(at(65));
    harness
        .metrics_until("the attempt dropped", |m| {
            m.backlog == 0 && m.in_flight == 0
        })
        .await;
    assert_eq!(harness.transport.sent_count(), 6);

    // All the room is free again: a new job's tick is claimed and fires on time.
    let deferred = harness.engine.metrics().claims_deferred;
    let later = harness
        .create(spec("0 2 0 * * *", OK, DeliveryType::AtLeastOnce))
        .await;
    harness.advance_to_and_expect_sent(at(120), 7).await;
    assert_eq!(harness.sent_for(&later)[0].sent_at, at(120));
    stored_states(&harness, &[(&later, &[ExecutionStatus::Succeeded])]).await;
    let metrics = harness.engine.metrics();
    assert_eq!((metrics.backlog, metrics.claims_deferred), (0, deferred));
    harness.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn recovered_executions_count_until_finished_and_a_shutdown_releases_the_rest() {
    let mut harness = Harness::start().await;
    let hang = "http://target.test/hang";
    harness.transport.script(hang, vec![FakeReply::Hang]);
    harness.clock.advance_to(at(10));
    let at_least_once = harness
        .create(spec("0 0 * * * *", hang, DeliveryType::AtLeastOnce))
        .await;
    let at_most_once = harness
        .create(spec("0 0 * * * *", hang, DeliveryType::AtMostOnce))
        .await;
    let pending = harness
        .create(spec("1 0 * * * *", OK, DeliveryType::AtLeastOnce))
        .await;
    harness.advance_to_and_expect_sent(at(3_600), 2).await;
    harness
        .metrics_until("three held", |m| m.claimed == 3 && m.backlog == 3)
        .await;

    // A crash: the new engine recovers all three and counts them.
    harness.engine.abort();
    harness.transport.script(hang, vec![FakeReply::Status(200)]);
    harness.restart().await;
    harness.advance_to_and_expect_sent(at(3_600), 3).await;
    stored_states(
        &harness,
        &[
            (&at_least_once, &[ExecutionStatus::Succeeded]),
            (&at_most_once, &[ExecutionStatus::Abandoned]),
        ],
    )
    .await;
    assert_eq!(harness.engine.metrics().backlog, 1, "the pending tick");
    harness.advance_to_and_expect_sent(at(3_601), 4).await;
    stored_states(&harness, &[(&pending, &[ExecutionStatus::Succeeded])]).await;
    assert_eq!(harness.engine.metrics().backlog, 0);

    // A shutdown releases what it leaves for the next start: an attempt cut off in flight and
    // ticks still on the timer.
    harness.transport.script(hang, vec![FakeReply::Hang]);
    harness.advance_to_and_expect_sent(at(7_200), 6).await;
    harness
        .metrics_until("two in flight, one tick waiting", |m| {
            m.in_flight == 2 && m.backlog == 3
        })
        .await;
    let report = harness.engine.shutdown(Duration::ZERO).await;
    assert_eq!((report.interrupted, report.left_for_recovery), (2, 1));
    assert_eq!(harness.engine.metrics().backlog, 0);
}

/// A transport whose attempts panic (a bug in a transport), counting them.
struct PanickingTransport {
    attempts: watch::Sender<usize>,
}

impl Transport for PanickingTransport {
    fn send(
        &self,
        _request: AttemptRequest,
    ) -> BoxFuture<'static, std::result::Result<AttemptOutcome, AttemptError>> {
        self.attempts.send_modify(|attempts| *attempts += 1);
        Box::pin(async { panic!("the transport failed (a test panic)") })
    }
}

#[tokio::test]
async fn an_attempt_task_that_panics_leaves_the_backlog() {
    let clock = Arc::new(ManualClock::new(t0()));
    let transport = Arc::new(PanickingTransport {
        attempts: watch::Sender::new(0),
    });
    let engine = Engine::builder(Arc::new(MemoryStore::new()), transport.clone())
        .clock(clock.clone())
        .config(bounded(1, 1))
        .start()
        .await
        .expect("the engine starts");
    engine
        .create_job(spec("0 * * * * *", OK, DeliveryType::AtLeastOnce))
        .await
        .expect("create");
    let mut attempts = transport.attempts.subscribe();
    // Room for one execution: the second minute's tick is claimed only if the first, whose
    // attempt task panicked, left the backlog.
    for minute in 1..=2 {
        clock.advance_to(at(60 * minute));
        within("an attempt", attempts.wait_for(|&n| n >= minute as usize))
            .await
            .expect("the transport is alive");
        eventually("the panicked attempt released", || {
            engine.metrics().backlog == 0
        })
        .await;
    }
    engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_creation_does_not_wait_for_a_claim_pass() {
    // A creation claims its job's first ticks as it stores the job: while a claim pass waits
    // for a slow store, jobs are still created, answered, and fire on time.
    let (harness, gated) = gated_harness(config()).await;
    gated.open();
    within("the first claim pass", gated.claims.wait_for(1)).await;
    gated.claims.hold(true);
    harness.clock.advance_to(at_millis(500));
    within("the claim pass at 0.5 s", gated.claims.wait_for(2)).await;

    let job = within(
        "a creation while the claim pass waits",
        harness.create(spec("* * * * * *", OK, DeliveryType::AtLeastOnce)),
    )
    .await;
    assert_eq!(job.next_fire_at, Some(at(1)));
    harness.advance_to_and_expect_sent(at(1), 1).await;
    let sent = harness.sent_for(&job);
    assert_eq!((sent[0].scheduled_at, sent[0].sent_at), (at(1), at(1)));
    assert_eq!(gated.claims.started(), 2, "no claim since");

    gated.claims.hold(false);
    harness.advance_to_and_expect_sent(at(2), 2).await;
    harness.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_creation_under_way_at_shutdown_is_answered_and_its_ticks_recovered() {
    // Shutdown waits for the creations under way: the caller hears that the job exists, and
    // the ticks claimed with it reach the dispatcher before the shutdown does, so they are
    // left in the store for the next start, which fires them.
    let (mut harness, gated) = gated_harness(config()).await;
    gated.open();
    gated.inserts.hold(true);
    let engine = harness.engine.clone();
    let creation = tokio::spawn(async move {
        engine
            .create_job(spec("* * * * * *", OK, DeliveryType::AtLeastOnce))
            .await
    });
    within("the insert starts", gated.inserts.wait_for(1)).await;
    let engine = harness.engine.clone();
    let shutdown = tokio::spawn(async move { engine.shutdown(Duration::ZERO).await });
    // The shutdown has begun (the engine stops answering) while the insert still waits.
    let engine = harness.engine.clone();
    within("the shutdown begins", async move {
        while engine.ping().await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // Let the control task take the stop before the insert returns (the outcome is the same
    // either way; this order is the one that needs the control task to wait for creations).
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    gated.inserts.hold(false);

    let job = within("the creation's answer", creation)
        .await
        .expect("the creation task")
        .expect("the job is created");
    let report = within("the shutdown", shutdown)
        .await
        .expect("the shutdown task");
    assert_eq!(report.left_for_recovery, 2, "{report:?}");
    assert_eq!(
        status_of(&harness, &job),
        [ExecutionStatus::Pending, ExecutionStatus::Pending]
    );
    assert_eq!(harness.transport.sent_count(), 0);

    harness.restart().await;
    harness.advance_to_and_expect_sent(at(2), 2).await;
    let sent: Vec<Timestamp> = harness
        .sent_for(&job)
        .iter()
        .map(|attempt| attempt.scheduled_at)
        .collect();
    assert_eq!(sent, [at(1), at(2)]);
    harness.engine.shutdown(Duration::ZERO).await;
}

/// Two jobs firing every 10 s (a watcher and the one the test changes), and the claim pass
/// that took their ticks at 10 s held after its store write, before it hands them over.
async fn a_claim_pass_held_after_its_write() -> (Harness, Arc<GatedStore>, Job, Job) {
    let (harness, gated) = gated_harness(config()).await;
    gated.open();
    let watcher = harness
        .create(spec("0/10 * * * * *", OK, DeliveryType::AtLeastOnce))
        .await;
    let job = harness
        .create(spec("0/10 * * * * *", OK, DeliveryType::AtLeastOnce))
        .await;
    gated.claimed.hold(true);
    harness.clock.advance_to(at(9));
    within(
        "a claim pass with the ticks at 10 s",
        gated.claimed.wait_for(1),
    )
    .await;
    (harness, gated, watcher, job)
}

#[tokio::test]
async fn a_deletion_does_not_wait_for_a_claim_pass_and_the_ticks_that_pass_took_never_fire() {
    // A claim pass reads a job, then the job is deleted while the pass has yet to hand its
    // ticks over: the deletion is answered at once, and the ticks arrive after it and are
    // dropped.
    let (harness, gated, watcher, job) = a_claim_pass_held_after_its_write().await;
    let deleted = within(
        "the deletion while that pass is held",
        harness.engine.delete_job(job.id),
    )
    .await
    .expect("the deletion");
    assert!(deleted);

    gated.claimed.hold(false);
    harness.advance_to_and_expect_sent(at(20), 2).await;
    harness
        .metrics_until("every execution finished and written", |m| m.backlog == 0)
        .await;
    harness.engine.shutdown(Duration::ZERO).await;
    assert_eq!(harness.sent_for(&watcher).len(), 2);
    assert!(
        harness.sent_for(&job).is_empty(),
        "{:?}",
        harness.sent_for(&job)
    );
    assert!(harness.executions_of(&job).is_empty());
}

#[tokio::test]
async fn a_pause_does_not_wait_for_a_claim_pass_and_applies_to_the_ticks_that_pass_took() {
    // As above, with a pause: the ticks the pass took with the job unpaused arrive after the
    // pause, and are skipped.
    let (harness, gated, watcher, job) = a_claim_pass_held_after_its_write().await;
    let paused = within(
        "the pause while that pass is held",
        harness.engine.pause_job(job.id),
    )
    .await
    .expect("the pause");
    assert!(paused.spec.paused);

    gated.claimed.hold(false);
    harness.advance_to_and_expect_sent(at(10), 1).await;
    stored_states(&harness, &[(&job, &[ExecutionStatus::Skipped])]).await;
    harness.engine.shutdown(Duration::ZERO).await;
    assert_eq!(harness.sent_for(&watcher).len(), 1);
    assert!(
        harness.sent_for(&job).is_empty(),
        "{:?}",
        harness.sent_for(&job)
    );
}
