//! The shared harness: an engine on a manual clock, a fake transport, the memory store and a
//! recording alert sink, plus waiting helpers that wait on conditions, never on time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use scheduler_core::testing::{FakeTransport, ManualClock, RecordingAlertSink, SentAttempt};
use scheduler_core::{
    DeliveryType, Engine, EngineConfig, Execution, Job, JobSpec, MemoryStore, MetricsSnapshot,
    RetryPolicy, Store, Timestamp,
};

/// How long (real time) a test waits for a condition before failing: a safety net, not a
/// synchronisation; every wait ends as soon as its condition holds.
const PATIENCE: Duration = Duration::from_secs(20);

/// 2026-03-01T00:00:00Z.
pub(crate) fn t0() -> Timestamp {
    "2026-03-01T00:00:00Z".parse().expect("a timestamp")
}

/// `t0() + seconds`.
pub(crate) fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(t0().as_second() + seconds).expect("a timestamp")
}

/// A timestamp from whole and fractional seconds after `t0()`.
pub(crate) fn at_millis(millis: i64) -> Timestamp {
    Timestamp::from_millisecond(t0().as_millisecond() + millis).expect("a timestamp")
}

/// The defaults, with a fixed jitter seed, and results written without lingering: the clock
/// moves only when a test moves it (the writer's lingering has tests of its own).
pub(crate) fn config() -> EngineConfig {
    EngineConfig {
        jitter_seed: Some(1),
        result_linger: Duration::ZERO,
        // One heartbeat, at start: the tests that look for the claim passes' sleepers on the
        // clock then find no heartbeat's beside them (membership has tests of its own).
        lease: DAY,
        heartbeat_interval: DAY / 2,
        ..EngineConfig::default()
    }
}

const DAY: Duration = Duration::from_secs(86_400);

pub(crate) struct Harness {
    pub(crate) clock: Arc<ManualClock>,
    /// The store the test reads directly.
    pub(crate) store: Arc<MemoryStore>,
    /// The store the engine uses: `store` itself, or a wrapper of it.
    engine_store: Arc<dyn Store>,
    pub(crate) transport: Arc<FakeTransport>,
    pub(crate) alerts: Arc<RecordingAlertSink>,
    pub(crate) engine: Engine,
    pub(crate) config: EngineConfig,
    /// Where the engine's control task runs, when not on the test's runtime.
    control_runtime: Option<tokio::runtime::Handle>,
}

impl Harness {
    pub(crate) async fn start() -> Harness {
        Harness::start_with(config(), Arc::new(MemoryStore::new())).await
    }

    pub(crate) async fn start_with(config: EngineConfig, store: Arc<MemoryStore>) -> Harness {
        let engine_store: Arc<dyn Store> = store.clone();
        Harness::start_on(config, store, engine_store).await
    }

    /// An engine on `engine_store`, a wrapper of `store` (which the test reads directly).
    pub(crate) async fn start_on(
        config: EngineConfig,
        store: Arc<MemoryStore>,
        engine_store: Arc<dyn Store>,
    ) -> Harness {
        Harness::start_on_runtimes(config, store, engine_store, None).await
    }

    /// An engine whose control task runs on `control_runtime`.
    pub(crate) async fn start_with_control_on(control_runtime: tokio::runtime::Handle) -> Harness {
        let store = Arc::new(MemoryStore::new());
        let engine_store: Arc<dyn Store> = store.clone();
        Harness::start_on_runtimes(config(), store, engine_store, Some(control_runtime)).await
    }

    async fn start_on_runtimes(
        config: EngineConfig,
        store: Arc<MemoryStore>,
        engine_store: Arc<dyn Store>,
        control_runtime: Option<tokio::runtime::Handle>,
    ) -> Harness {
        let clock = Arc::new(ManualClock::new(t0()));
        let transport = Arc::new(FakeTransport::new(clock.clone()));
        let alerts = Arc::new(RecordingAlertSink::default());
        let parts = (&clock, &engine_store, &transport, &alerts);
        let engine = engine(parts, &config, control_runtime.as_ref()).await;
        Harness {
            clock,
            store,
            engine_store,
            transport,
            alerts,
            engine,
            config,
            control_runtime,
        }
    }

    /// A new engine on the same store, clock, transport and alert sink (the old one must be
    /// shut down or aborted first).
    pub(crate) async fn restart(&mut self) {
        let parts = (
            &self.clock,
            &self.engine_store,
            &self.transport,
            &self.alerts,
        );
        self.engine = engine(parts, &self.config, self.control_runtime.as_ref()).await;
    }

    pub(crate) async fn create(&self, spec: JobSpec) -> Job {
        self.engine.create_job(spec).await.expect("create_job")
    }

    /// Moves the clock to `t` and waits until `sent` attempts in total were received.
    pub(crate) async fn advance_to_and_expect_sent(&self, t: Timestamp, sent: usize) {
        self.clock.advance_to(t);
        within(
            &format!("{sent} attempts sent by {t}"),
            self.transport.wait_for_sent(sent),
        )
        .await;
    }

    pub(crate) fn sent_for(&self, job: &Job) -> Vec<SentAttempt> {
        self.transport
            .sent()
            .into_iter()
            .filter(|sent| sent.job_id == job.id)
            .collect()
    }

    pub(crate) fn executions_of(&self, job: &Job) -> Vec<Execution> {
        let mut executions: Vec<Execution> = self
            .store
            .all_executions()
            .into_iter()
            .filter(|e| e.job_id == job.id)
            .collect();
        executions.sort_by_key(|e| e.scheduled_at);
        executions
    }

    /// Waits until the engine's metrics satisfy `condition`.
    pub(crate) async fn metrics_until(
        &self,
        what: &str,
        condition: impl Fn(&MetricsSnapshot) -> bool,
    ) {
        let engine = self.engine.clone();
        eventually(what, move || condition(&engine.metrics())).await;
    }
}

/// The clock, store, transport and alert sink an engine is built on.
type Parts<'a> = (
    &'a Arc<ManualClock>,
    &'a Arc<dyn Store>,
    &'a Arc<FakeTransport>,
    &'a Arc<RecordingAlertSink>,
);

async fn engine(
    (clock, store, transport, alerts): Parts<'_>,
    config: &EngineConfig,
    control_runtime: Option<&tokio::runtime::Handle>,
) -> Engine {
    let mut builder = Engine::builder(store.clone(), transport.clone())
        .clock(clock.clone())
        .alert_sink(alerts.clone())
        .job_alert_sink(alerts.clone())
        .config(config.clone());
    if let Some(runtime) = control_runtime {
        builder = builder.control_runtime(runtime.clone());
    }
    builder.start().await.expect("the engine starts")
}

/// A spec with `schedule` and `url`, no jitter, short fixed retries.
pub(crate) fn spec(schedule: &str, url: &str, delivery: DeliveryType) -> JobSpec {
    let mut spec = JobSpec::new(schedule.parse().expect("a valid schedule"), url, delivery);
    spec.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(10),
        multiplier: 2.0,
        jitter: 0.0,
    };
    spec
}

/// Awaits `future`, failing the test if it takes longer than the patience limit.
pub(crate) async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(output) => output,
        Err(_) => panic!("gave up waiting for: {what}"),
    }
}

/// Lets the other tasks run until `condition` holds.
pub(crate) async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    within(what, async {
        while !condition() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}
