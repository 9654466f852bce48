//! The engine's own cost per execution: claims, the timer, dispatch, the attempt task and the
//! result writer, with the clock, the store and the transport taken out of the measurement.
//!
//! The engine runs on a [`ManualClock`], a store that keeps jobs in memory and no executions,
//! and a transport that answers `200` at once. Each iteration moves the clock on by a second
//! and waits until every job's tick of that second was sent: what an every-second burst costs
//! the engine before any byte reaches a socket or a database. The end-to-end harness
//! (`benches/`, docs/PERFORMANCE.md) measures the whole system; this isolates the engine's part
//! of it, which is too small a share of a loopback run to compare there.
//!
//! Run with `cargo bench -p scheduler-core --bench engine`.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scheduler_core::testing::ManualClock;
use scheduler_core::{
    AttemptError, AttemptOutcome, AttemptRequest, BoxFuture, ClaimBatch, ClaimRequest, ClaimStore,
    ClaimedTick, DeliveryType, Engine, EngineConfig, Error, Execution, ExecutionId, ExecutionQuery,
    ExecutionTrigger, ExecutionUpdate, HistoryStore, Job, JobId, JobQuery, JobSpec, JobStore,
    MembershipStore, NextFire, NodeHeartbeat, RecoveryStore, RetentionPolicy, RetentionStore,
    TakeOverRequest, Timestamp, Transport, plan_claim, plan_new_job_claim,
};
use tokio::sync::Notify;

/// The binary's allocator: an attempt's cost is largely its allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Every-second jobs in the engine: the ticks of one burst.
const JOBS: usize = 10_000;

/// Jobs in memory, due in watermark order; executions are claimed and forgotten, so the
/// store's cost stays the same however long the benchmark runs. It implements what the
/// benchmark uses (creating jobs, claiming ticks) and refuses job updates, deletions and
/// listings.
#[derive(Default)]
struct JobsOnlyStore {
    state: Mutex<JobsState>,
}

#[derive(Default)]
struct JobsState {
    jobs: HashMap<JobId, Arc<Job>>,
    due: BTreeSet<(Timestamp, JobId)>,
}

impl JobsOnlyStore {
    fn lock(&self) -> MutexGuard<'_, JobsState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl JobsState {
    fn put(&mut self, job: Job) {
        if let Some(at) = self.jobs.get(&job.id).and_then(|old| old.next_fire_at) {
            self.due.remove(&(at, job.id));
        }
        if let (Some(at), false) = (job.next_fire_at, job.spec.paused) {
            self.due.insert((at, job.id));
        }
        self.jobs.insert(job.id, Arc::new(job));
    }

    fn claimed(
        job: &Arc<Job>,
        ticks: Vec<Timestamp>,
        request: &ClaimRequest,
        batch: &mut ClaimBatch,
    ) {
        batch
            .ticks
            .extend(ticks.into_iter().map(|tick| ClaimedTick {
                execution: Execution::pending(
                    job.id,
                    tick,
                    ExecutionTrigger::Schedule,
                    &request.owner,
                    request.lease_until,
                ),
                job: Arc::clone(job),
            }));
    }
}

fn done<T: Send + 'static>(value: T) -> BoxFuture<'static, T> {
    Box::pin(std::future::ready(value))
}

impl JobStore for JobsOnlyStore {
    fn insert_job(&self, job: Job) -> BoxFuture<'_, scheduler_core::Result<()>> {
        let mut state = self.lock();
        if state.jobs.contains_key(&job.id) {
            return done(Err(Error::JobExists(job.id)));
        }
        state.put(job);
        done(Ok(()))
    }

    fn get_job(&self, id: JobId) -> BoxFuture<'_, scheduler_core::Result<Option<Job>>> {
        done(Ok(self.lock().jobs.get(&id).map(|job| Job::clone(job))))
    }

    fn update_job(
        &self,
        _job: Job,
        _expected_version: u64,
        _next_fire: NextFire,
    ) -> BoxFuture<'_, scheduler_core::Result<Job>> {
        done(Err(not_benchmarked("updating a job")))
    }

    fn delete_job(&self, _id: JobId) -> BoxFuture<'_, scheduler_core::Result<bool>> {
        done(Err(not_benchmarked("deleting a job")))
    }

    fn find_jobs(&self, _query: JobQuery) -> BoxFuture<'_, scheduler_core::Result<Vec<Job>>> {
        done(Err(not_benchmarked("listing jobs")))
    }
}

/// What the benchmark's store refuses: the benchmark creates jobs and claims their ticks, and
/// nothing else reaches the store.
fn not_benchmarked(what: &str) -> Error {
    Error::Store {
        kind: scheduler_core::StoreErrorKind::Permanent,
        message: format!("{what}: the engine benchmark's store only creates jobs and claims ticks"),
        source: None,
    }
}

impl ClaimStore for JobsOnlyStore {
    fn claim_due(
        &self,
        request: ClaimRequest,
    ) -> BoxFuture<'_, scheduler_core::Result<ClaimBatch>> {
        let mut state = self.lock();
        let mut batch = ClaimBatch::default();
        while batch.ticks.len() < request.limit {
            let Some(&(at, id)) = state.due.first() else {
                break;
            };
            if at > request.due_before {
                break;
            }
            let job = Arc::clone(&state.jobs[&id]);
            let plan = plan_claim(&job, &request, request.limit - batch.ticks.len());
            batch.misfired += plan.misfired;
            JobsState::claimed(&job, plan.ticks, &request, &mut batch);
            state.put(Job {
                next_fire_at: plan.next_fire_at,
                ..Job::clone(&job)
            });
        }
        done(Ok(batch))
    }

    fn insert_job_and_claim(
        &self,
        job: Job,
        request: ClaimRequest,
    ) -> BoxFuture<'_, scheduler_core::Result<ClaimBatch>> {
        let mut state = self.lock();
        if state.jobs.contains_key(&job.id) {
            return done(Err(Error::JobExists(job.id)));
        }
        let plan = plan_new_job_claim(&job, &request);
        let job = Job {
            next_fire_at: plan.next_fire_at,
            ..job
        };
        let id = job.id;
        state.put(job);
        let mut batch = ClaimBatch {
            misfired: plan.misfired,
            ..ClaimBatch::default()
        };
        let job = Arc::clone(&state.jobs[&id]);
        JobsState::claimed(&job, plan.ticks, &request, &mut batch);
        done(Ok(batch))
    }

    fn insert_execution(&self, _execution: Execution) -> BoxFuture<'_, scheduler_core::Result<()>> {
        done(Ok(()))
    }

    fn record_results(
        &self,
        _updates: Vec<ExecutionUpdate>,
    ) -> BoxFuture<'_, scheduler_core::Result<()>> {
        done(Ok(()))
    }

    fn record_buffered_claims(
        &self,
        _claims: scheduler_core::BufferedClaims,
    ) -> BoxFuture<'_, scheduler_core::Result<usize>> {
        done(Err(not_benchmarked("recording buffered claims")))
    }
}

impl HistoryStore for JobsOnlyStore {
    fn get_execution(
        &self,
        _id: ExecutionId,
    ) -> BoxFuture<'_, scheduler_core::Result<Option<Execution>>> {
        done(Ok(None))
    }

    fn find_executions(
        &self,
        _query: ExecutionQuery,
    ) -> BoxFuture<'_, scheduler_core::Result<Vec<Execution>>> {
        done(Ok(Vec::new()))
    }
}

impl RetentionStore for JobsOnlyStore {
    fn prune(
        &self,
        _policy: RetentionPolicy,
        _now: Timestamp,
    ) -> BoxFuture<'_, scheduler_core::Result<u64>> {
        done(Ok(0))
    }
}

impl RecoveryStore for JobsOnlyStore {
    fn unfinished_executions(
        &self,
        _owner: &str,
    ) -> BoxFuture<'_, scheduler_core::Result<Vec<ClaimedTick>>> {
        done(Ok(Vec::new()))
    }

    fn renew_leases(
        &self,
        _owner: &str,
        ids: Vec<ExecutionId>,
        _lease_until: Timestamp,
    ) -> BoxFuture<'_, scheduler_core::Result<Vec<ExecutionId>>> {
        done(Ok(ids))
    }

    fn take_over(
        &self,
        _request: TakeOverRequest,
    ) -> BoxFuture<'_, scheduler_core::Result<Vec<ClaimedTick>>> {
        done(Ok(Vec::new()))
    }
}

impl MembershipStore for JobsOnlyStore {
    fn heartbeat(&self, _node: &str, _at: Timestamp) -> BoxFuture<'_, scheduler_core::Result<()>> {
        done(Ok(()))
    }

    fn nodes(&self) -> BoxFuture<'_, scheduler_core::Result<Vec<NodeHeartbeat>>> {
        done(Ok(Vec::new()))
    }
}

/// Answers `200` at once and wakes the benchmark when `target` attempts have been sent.
#[derive(Default)]
struct InstantTransport {
    sent: AtomicUsize,
    target: AtomicUsize,
    reached: Notify,
}

impl Transport for InstantTransport {
    fn send(
        &self,
        _request: AttemptRequest,
    ) -> BoxFuture<'static, Result<AttemptOutcome, AttemptError>> {
        let sent = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        if sent == self.target.load(Ordering::Relaxed) {
            self.reached.notify_one();
        }
        done(Ok(AttemptOutcome {
            status: 200,
            duration: Duration::ZERO,
            retry_after: None,
        }))
    }
}

fn every_second_tick(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let start: Timestamp = "2026-03-01T00:00:00Z".parse().expect("a timestamp");
    let clock = Arc::new(ManualClock::new(start));
    let transport = Arc::new(InstantTransport::default());
    let engine = runtime.block_on(async {
        let engine = Engine::builder(Arc::new(JobsOnlyStore::default()), transport.clone())
            .clock(clock.clone())
            .config(EngineConfig::default())
            .start()
            .await
            .expect("the engine starts");
        for _ in 0..JOBS {
            let spec = JobSpec::new(
                "* * * * * *".parse().expect("a valid schedule"),
                "http://127.0.0.1:9/hook",
                DeliveryType::AtLeastOnce,
            );
            engine.create_job(spec).await.expect("a job");
        }
        engine
    });

    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(JOBS as u64));
    group.sample_size(20);
    // Wall time: how long a burst takes with two worker threads. CPU time: what it costs the
    // process, which decides the ceiling when every core is busy. Neither is steady on a
    // shared machine, so compare builds in alternating pairs (docs/perf-log/round-10.md).
    for (name, measure) in [
        (
            "fire 10,000 every-second ticks (wall time)",
            wall_time as fn() -> Duration,
        ),
        ("fire 10,000 every-second ticks (CPU time)", cpu_time),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|seconds| {
                runtime.block_on(async {
                    let mut took = Duration::ZERO;
                    for _ in 0..seconds {
                        let target = transport.sent.load(Ordering::Relaxed) + JOBS;
                        transport.target.store(target, Ordering::Relaxed);
                        let began = measure();
                        clock.advance(Duration::from_secs(1));
                        transport.reached.notified().await;
                        took += measure().saturating_sub(began);
                    }
                    took
                })
            });
        });
    }
    group.finish();
    runtime.block_on(engine.shutdown(Duration::from_secs(10)));
}

/// Time since the first call.
fn wall_time() -> Duration {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// CPU time of the process's live threads so far: the sum of the first field of each
/// `/proc/self/task/*/schedstat`, in nanoseconds (Linux; the engine's threads live as long as
/// the benchmark).
fn cpu_time() -> Duration {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task (Linux only)");
    let nanos: u64 = tasks
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum();
    Duration::from_nanos(nanos)
}

criterion_group!(benches, every_second_tick);
criterion_main!(benches);
